//! The channel list as M3U text: parsing the file's text into entries, and rendering it with
//! every AceStream entry pointing at acebox.
//!
//! This module owns the list's shape: the header, the `#` lines kept as written with the entry
//! they describe, the other URLs kept unchanged, and the entries dropped with the line number
//! and reason. It never reads a file (that is `watch`) and never looks at a request: the
//! authority it renders for was checked by `host`.

use super::link::{Line, LinkError, classify};
use crate::channel::ContentId;
use crate::engine::{Mode, Selector};
use crate::http::Admission;

/// Characters of a dropped line quoted in its warning.
pub(super) const QUOTED_CHARS: usize = 60;

/// A parsed channel list: the header, the AceStream entries with the lines before each kept as
/// written, and the lines after the last entry.
#[derive(Debug)]
pub(super) struct Playlist {
    header: String,
    entries: Vec<Entry>,
    tail: String,
    /// Every entry served: the rewritten ones and the URLs kept unchanged.
    pub(super) channels: usize,
}

/// One AceStream entry: what comes before it (each line ending in `\n`) and what it plays.
#[derive(Debug)]
struct Entry {
    before: String,
    id: ContentId,
    selector: Selector,
}

/// A line of the file that was left out because it names no valid content.
#[derive(Debug, PartialEq)]
pub(super) struct Dropped {
    /// 1-based, as an editor shows it.
    pub(super) line: usize,
    pub(super) text: String,
    pub(super) reason: LinkError,
}

impl Playlist {
    /// The list with every AceStream entry as an acebox URL on `authority` (`host[:port]`, already
    /// checked), for MPEG-TS (`/ace/getstream`) or HLS (`/ace/manifest.m3u8`), carrying the
    /// token of the client's `admission` (the other URLs, not acebox's, never do).
    pub(super) fn render(&self, authority: &str, mode: Mode, admission: &Admission) -> String {
        let path = match mode {
            Mode::Ts => "/ace/getstream",
            Mode::Hls => "/ace/manifest.m3u8",
        };
        let mut out = String::new();
        push_line(&mut out, &self.header);
        for entry in &self.entries {
            let param = match entry.selector {
                Selector::ContentId => "id",
                Selector::Infohash => "infohash",
            };
            out.push_str(&entry.before);
            let mut url = format!("http://{authority}{path}?{param}={}", entry.id.as_str());
            admission.carry(&mut url);
            push_line(&mut out, &url);
        }
        out.push_str(&self.tail);
        out
    }
}

/// Reads an M3U channel list. `#` lines are kept as written (the `#EXTM3U` header with its
/// attributes, `#EXTINF` with names, logos and groups); AceStream entries (`acestream://<id>`,
/// a bare 40-hex id, or an engine URL with `id=`, `content_id=` or `infohash=`) are kept to be
/// rewritten; other URLs are kept unchanged. An AceStream entry with no valid id is dropped
/// with the lines that describe it. Blank lines go; CRLF is read as LF.
pub(super) fn parse(text: &str) -> (Playlist, Vec<Dropped>) {
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .zip(1..)
        .map(|(line, number)| (number, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .peekable();
    let header = match lines.next_if(|(_, line)| line.starts_with("#EXTM3U")) {
        Some((_, header)) => header.to_owned(),
        None => "#EXTM3U".to_owned(),
    };
    let (mut entries, mut channels, mut dropped) = (Vec::new(), 0, Vec::new());
    // Lines that will stand before the next AceStream entry, and the `#` lines since the last
    // entry, which describe the next one and go with it if it is dropped.
    let (mut settled, mut pending) = (String::new(), String::new());
    for (number, line) in lines {
        match classify(line) {
            Line::Directive => push_line(&mut pending, line),
            Line::Other => {
                settled.push_str(&std::mem::take(&mut pending));
                push_line(&mut settled, line);
                channels += 1;
            }
            Line::Stream(id, selector) => {
                settled.push_str(&std::mem::take(&mut pending));
                let before = std::mem::take(&mut settled);
                entries.push(Entry {
                    before,
                    id,
                    selector,
                });
                channels += 1;
            }
            Line::Malformed(reason) => {
                pending.clear();
                dropped.push(Dropped {
                    line: number,
                    text: line.chars().take(QUOTED_CHARS).collect(),
                    reason,
                });
            }
        }
    }
    settled.push_str(&pending);
    let playlist = Playlist {
        header,
        entries,
        tail: settled,
        channels,
    };
    (playlist, dropped)
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn rendered(text: &str) -> String {
        let (playlist, dropped) = parse(text);
        assert_eq!(dropped, [], "{text}");
        playlist.render("tv.lan:6880", Mode::Ts, &Admission::default())
    }

    #[test]
    fn every_entry_form_points_at_acebox() {
        let ts = format!("http://tv.lan:6880/ace/getstream?id={A}\n");
        for entry in [
            format!("acestream://{A}"),
            format!("AceStream://{A}/"),
            format!("acestream://{A}?from=site"),
            A.to_owned(),
            A.to_uppercase(),
            format!("http://127.0.0.1:6878/ace/getstream?id={A}"),
            format!("http://192.168.1.2:6878/ace/manifest.m3u8?content_id={A}&pid=1"),
            format!("https://engine/ace/getstream?pid=x&id={A}#x"),
        ] {
            assert_eq!(rendered(&entry), format!("#EXTM3U\n{ts}"), "{entry}");
        }
        let hash = format!("http://127.0.0.1:6878/ace/getstream?infohash={B}");
        assert_eq!(
            rendered(&hash),
            format!("#EXTM3U\nhttp://tv.lan:6880/ace/getstream?infohash={B}\n"),
            "an infohash stays an infohash"
        );
    }

    #[test]
    fn hls_picks_the_manifest_url() {
        let (playlist, _) = parse(&format!("acestream://{A}"));
        assert_eq!(
            playlist.render("[::1]:9", Mode::Hls, &Admission::default()),
            format!("#EXTM3U\nhttp://[::1]:9/ace/manifest.m3u8?id={A}\n")
        );
    }

    #[test]
    fn header_attributes_names_logos_groups_and_other_urls_are_kept() {
        let text = format!(
            "\u{feff}#EXTM3U url-tvg=\"http://epg/x.xml\"\r\n\
             \r\n\
             #EXTINF:-1 tvg-logo=\"http://logo/a.png\" group-title=\"Sport\",Sport 1\r\n\
             #EXTGRP:Sport\r\n\
             #EXTVLCOPT:network-caching=1000\r\n\
             acestream://{A}\r\n\
             #EXTINF:-1,Radio\r\n\
             http://radio.example/stream.mp3\r\n\
             #EXTINF:-1 group-title=\"News\",News\r\n\
             {B}\r\n\
             # the end\r\n"
        );
        assert_eq!(
            rendered(&text),
            format!(
                "#EXTM3U url-tvg=\"http://epg/x.xml\"\n\
                 #EXTINF:-1 tvg-logo=\"http://logo/a.png\" group-title=\"Sport\",Sport 1\n\
                 #EXTGRP:Sport\n\
                 #EXTVLCOPT:network-caching=1000\n\
                 http://tv.lan:6880/ace/getstream?id={A}\n\
                 #EXTINF:-1,Radio\n\
                 http://radio.example/stream.mp3\n\
                 #EXTINF:-1 group-title=\"News\",News\n\
                 http://tv.lan:6880/ace/getstream?id={B}\n\
                 # the end\n"
            )
        );
        assert_eq!(parse(&text).0.channels, 3);
    }

    #[test]
    fn malformed_entries_are_dropped_with_their_description_and_line_number() {
        let text = format!(
            "#EXTM3U\n\
             #EXTINF:-1,Bad\n\
             acestream://0123\n\
             #EXTINF:-1,Good\n\
             acestream://{A}\n\
             {short}\n\
             #EXTINF:-1,No id\n\
             http://127.0.0.1:6878/ace/getstream\n\
             http://127.0.0.1:6878/ace/manifest.m3u8?url=http://x/y.acelive\n\
             acestream://\n",
            short = &A[1..]
        );
        let (playlist, dropped) = parse(&text);
        assert_eq!(
            playlist.render("h", Mode::Ts, &Admission::default()),
            format!("#EXTM3U\n#EXTINF:-1,Good\nhttp://h/ace/getstream?id={A}\n")
        );
        let lines: Vec<usize> = dropped.iter().map(|d| d.line).collect();
        assert_eq!(lines, [3, 6, 8, 9, 10]);
        assert_eq!(dropped[0].text, "acestream://0123");
        assert!(
            dropped[0].reason.to_string().contains("40 hexadecimal"),
            "{dropped:?}"
        );
        assert_eq!(dropped[3].reason, LinkError::NotAnId, "{dropped:?}");
    }

    #[test]
    fn a_long_dropped_line_is_quoted_clipped() {
        let line = format!("acestream://{}", "z".repeat(500));
        let (_, dropped) = parse(&line);
        assert_eq!(dropped[0].text.chars().count(), QUOTED_CHARS);
    }
}
