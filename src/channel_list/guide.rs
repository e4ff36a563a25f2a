//! The guide a served channel list names in its header: its own, when it names one (`url-tvg`
//! or `x-tvg-url`), else acebox's, `/epg.xml` on the address the app used (made from the
//! engine's search results; see the search folder).
//!
//! This module owns that one header line. It never reads the guide and never changes an entry.

use super::extinf::header_guide;
use crate::http::Admission;

/// Appends `header` (which starts `#EXTM3U`) as served for `authority`, with a newline; the
/// guide of acebox's it names carries the token of the client's `admission` (a guide of the
/// list's own, elsewhere, never does).
pub(super) fn push_header(out: &mut String, header: &str, authority: &str, admission: &Admission) {
    if header_guide(header).is_some() {
        out.push_str(header);
        out.push('\n');
        return;
    }
    let rest = header.get("#EXTM3U".len()..).unwrap_or_default();
    let mut guide = format!("http://{authority}/epg.xml");
    admission.carry(&mut guide);
    out.push_str("#EXTM3U url-tvg=\"");
    out.push_str(&guide);
    out.push('"');
    out.push_str(rest);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(header: &str) -> String {
        let mut out = String::new();
        push_header(&mut out, header, "h:1", &Admission::default());
        out
    }

    #[test]
    fn a_list_naming_no_guide_names_acebox_guide_before_its_own_attributes() {
        assert_eq!(
            served("#EXTM3U"),
            "#EXTM3U url-tvg=\"http://h:1/epg.xml\"\n"
        );
        assert_eq!(
            served("#EXTM3U tvg-shift=\"1\""),
            "#EXTM3U url-tvg=\"http://h:1/epg.xml\" tvg-shift=\"1\"\n"
        );
        for own in [
            "#EXTM3U url-tvg=\"http://e/g.xml\"",
            "#EXTM3U X-TVG-URL=http://e/g.xml tvg-shift=1",
        ] {
            assert_eq!(served(own), format!("{own}\n"), "its own guide is kept");
        }
    }
}
