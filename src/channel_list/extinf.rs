//! The attributes of a channel list's `#` lines: a channel's name, its guide id, number, logo
//! and group from `#EXTINF`, its group from `#EXTGRP`, and the list's own guide from the
//! `#EXTM3U` header.
//!
//! Owns reading `key="value"` attributes and the title after the comma, as IPTV apps read them
//! (quoted or bare values, keys in any case). It never changes a line: the list is served with
//! its lines as written.

/// What the `#` lines before an entry say of it; every field is empty when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The title after the comma of `#EXTINF`, or else its `tvg-name`.
    pub name: String,
    pub tvg_id: String,
    /// `tvg-chno`: the channel number a TV app or tuner shows.
    pub chno: String,
    pub logo: String,
    /// `group-title`, or else the `#EXTGRP:` line.
    pub group: String,
}

/// Reads the `#` lines that describe one entry (each ending in `\n`).
pub fn describe(lines: &str) -> Info {
    let mut info = Info::default();
    let mut extgrp = "";
    for line in lines.lines() {
        if let Some(rest) = strip_tag(line, "#EXTINF:") {
            info = extinf(rest);
        } else if let Some(group) = strip_tag(line, "#EXTGRP:") {
            extgrp = group.trim();
        }
    }
    if info.group.is_empty() {
        info.group = extgrp.to_owned();
    }
    info
}

/// The guide a list's `#EXTM3U` header names (`url-tvg` or `x-tvg-url`), if any.
pub fn header_guide(header: &str) -> Option<&str> {
    let rest = strip_tag(header, "#EXTM3U")?;
    Attributes { rest }
        .find(|(key, value)| {
            !value.is_empty()
                && (key.eq_ignore_ascii_case("url-tvg") || key.eq_ignore_ascii_case("x-tvg-url"))
        })
        .map(|(_, value)| value)
}

/// `#EXTINF:<duration> key="value"...,<title>` after its tag.
fn extinf(rest: &str) -> Info {
    // The duration runs to the first space or comma.
    let start = rest.find([' ', ',']).unwrap_or(rest.len());
    let mut attributes = Attributes {
        rest: &rest[start..],
    };
    let mut info = Info::default();
    let mut tvg_name = "";
    for (key, value) in attributes.by_ref() {
        let field = match key.to_ascii_lowercase().as_str() {
            "tvg-id" => &mut info.tvg_id,
            "tvg-chno" => &mut info.chno,
            "tvg-logo" => &mut info.logo,
            "group-title" => &mut info.group,
            "tvg-name" => {
                tvg_name = value;
                continue;
            }
            _ => continue,
        };
        *field = value.trim().to_owned();
    }
    let title = attributes.rest.strip_prefix(',').unwrap_or_default().trim();
    info.name = if title.is_empty() {
        tvg_name.trim()
    } else {
        title
    }
    .to_owned();
    info
}

/// `line` after `tag`, which it starts with in any case.
fn strip_tag<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    let head = line.get(..tag.len())?;
    head.eq_ignore_ascii_case(tag).then(|| &line[tag.len()..])
}

/// The `key="value"` (or `key=value`) pairs at the start of `rest`, up to the comma that starts
/// the title; `rest` is what follows the last pair read.
struct Attributes<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let text = self.rest.trim_start();
        let (key, after) = text.split_once('=')?;
        if key.is_empty() || key.contains([',', ' ', '"']) {
            self.rest = text;
            return None;
        }
        let (value, rest) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some(split) => split,
                None => (quoted, ""),
            },
            None => after.split_at(after.find([' ', ',']).unwrap_or(after.len())),
        };
        self.rest = rest;
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extinf_attributes_and_title() {
        let info = describe(
            "#EXTINF:-1 tvg-id=\"sport1.es\" tvg-name=\"Sport One\" tvg-chno=\"7\" \
             tvg-logo=\"http://l/s1.png\" group-title=\"Sport, live\",Sport 1 HD\n",
        );
        assert_eq!(
            info,
            Info {
                name: "Sport 1 HD".into(),
                tvg_id: "sport1.es".into(),
                chno: "7".into(),
                logo: "http://l/s1.png".into(),
                group: "Sport, live".into(),
            }
        );
    }

    #[test]
    fn bare_values_any_case_tvg_name_and_extgrp_fill_gaps() {
        let info = describe("#EXTINF:0 TVG-ID=x1 tvg-name=\"Named\",\n#EXTGRP:News\n");
        assert_eq!(info.tvg_id, "x1");
        assert_eq!(info.name, "Named", "no title: tvg-name names it");
        assert_eq!(info.group, "News");
        let info = describe("#EXTGRP:News\n#extinf:-1 group-title=\"Sport\",Two\n");
        assert_eq!((info.name.as_str(), info.group.as_str()), ("Two", "Sport"));
        assert_eq!(describe("#EXTINF:-1,Plain\n").name, "Plain");
        assert_eq!(describe("#EXTVLCOPT:x=y\n"), Info::default());
        let broken = describe("#EXTINF:-1 tvg-logo=\"http://unterminated\n");
        assert_eq!(broken.logo, "http://unterminated");
        assert_eq!(broken.name, "");
    }

    #[test]
    fn the_header_names_its_guide() {
        assert_eq!(
            header_guide("#EXTM3U url-tvg=\"http://epg/g.xml\" refresh=\"3600\""),
            Some("http://epg/g.xml")
        );
        assert_eq!(
            header_guide("#EXTM3U x-tvg-url=\"http://epg/x.xml.gz\""),
            Some("http://epg/x.xml.gz")
        );
        assert_eq!(header_guide("#EXTM3U"), None);
        assert_eq!(header_guide("#EXTM3U url-tvg=\"\""), None);
    }
}
