//! The guide a served channel list names in its header: its own, when it names one (`url-tvg`
//! or `x-tvg-url`), else acebox's, `/epg.xml` on the address the app used (made from the
//! engine's search results; see the search folder).
//!
//! This module owns that one header line. It never reads the guide and never changes an entry.

use std::fmt::Write;

use super::extinf::header_guide;

/// Appends `header` (which starts `#EXTM3U`) as served for `authority`, with a newline.
pub(super) fn push_header(out: &mut String, header: &str, authority: &str) {
    if header_guide(header).is_some() {
        out.push_str(header);
        out.push('\n');
        return;
    }
    let rest = header.get("#EXTM3U".len()..).unwrap_or_default();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "#EXTM3U url-tvg=\"http://{authority}/epg.xml\"{rest}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(header: &str) -> String {
        let mut out = String::new();
        push_header(&mut out, header, "h:1");
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
