//! The channel list as M3U text: parsing the file's text into channels, and rendering it with
//! every AceStream entry pointing at acebox.
//!
//! This module owns the list's shape: the header, the `#` lines kept as written with the entry
//! they describe, the other URLs kept unchanged, entries of one channel merged into one with
//! backup ids, and the entries dropped with the line number and reason. It never reads a file
//! (that is `watch`) and never looks at a request: the authority it renders for was checked by
//! `host`.

use super::extinf::{self, Info};
use super::guide;
use super::link::{Line, LinkError, classify};
use crate::channel::Source;
use crate::engine::Mode;
use crate::http::Admission;

/// Characters of a dropped line quoted in its warning.
pub(super) const QUOTED_CHARS: usize = 60;

/// A parsed channel list: the header, the channels with the lines before each kept as written,
/// and the lines after the last channel.
#[derive(Debug)]
pub(super) struct Playlist {
    pub(super) header: String,
    entries: Vec<Entry>,
    tail: String,
    /// Every entry served: the channels and the URLs kept unchanged.
    pub(super) channels: usize,
}

/// One AceStream channel of the list: what comes before it (each line ending in `\n`) and the
/// channel.
#[derive(Debug)]
struct Entry {
    before: String,
    listing: Listing,
}

/// One channel of the list: what its `#EXTINF` says of it (every field empty when absent) and
/// the ways to play it, the one its URL names first, then its backup ids in list order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    pub tvg_id: String,
    /// `tvg-chno`: the number a TV app or tuner shows.
    pub chno: String,
    pub logo: String,
    pub group: String,
    pub sources: Vec<Source>,
}

impl Listing {
    /// Whether an entry described by `info` is this channel again: the same `tvg-id`, or, when
    /// neither has one, the same name in the same group. Unnamed entries are each their own.
    fn is(&self, info: &Info) -> bool {
        if !self.tvg_id.is_empty() || !info.tvg_id.is_empty() {
            return self.tvg_id == info.tvg_id;
        }
        !info.name.is_empty() && self.name == info.name && self.group == info.group
    }

    /// Whether `id` is one of the ways to play this channel.
    pub fn plays(&self, source: &Source) -> bool {
        self.sources.contains(source)
    }
}

impl Playlist {
    /// The list with every AceStream channel as an acebox URL on `authority` (`host[:port]`,
    /// already checked), for MPEG-TS (`/ace/getstream`) or HLS (`/ace/manifest.m3u8`): one URL
    /// per channel, naming its first id, carrying the token of the client's `admission` (the
    /// other URLs, not acebox's, never do).
    pub(super) fn render(&self, authority: &str, mode: Mode, admission: &Admission) -> String {
        let path = match mode {
            Mode::Ts => "/ace/getstream",
            Mode::Hls => "/ace/manifest.m3u8",
        };
        let mut out = String::new();
        guide::push_header(&mut out, &self.header, authority, admission);
        for entry in &self.entries {
            out.push_str(&entry.before);
            if let Some(first) = entry.listing.sources.first() {
                let (param, id) = (first.param(), first.id.as_str());
                let mut url = format!("http://{authority}{path}?{param}={id}");
                admission.carry(&mut url);
                push_line(&mut out, &url);
            }
        }
        out.push_str(&self.tail);
        out
    }

    /// The channels, in list order.
    pub(super) fn listings(&self) -> impl Iterator<Item = &Listing> {
        self.entries.iter().map(|e| &e.listing)
    }
}

/// Reads an M3U channel list. `#` lines are kept as written (the `#EXTM3U` header with its
/// attributes, `#EXTINF` with names, logos and groups); AceStream entries (`acestream://<id>`,
/// a bare 40-hex id, or an engine URL with `id=`, `content_id=` or `infohash=`) are kept to be
/// rewritten; other URLs are kept unchanged. An entry that is a channel already listed (see
/// [`Listing::is`]) adds a backup id to it and is not served again, with the lines that describe
/// it. An AceStream entry with no valid id is dropped with the lines that describe it. Blank
/// lines go; CRLF is read as LF.
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
    let (mut entries, mut channels, mut dropped) = (Vec::<Entry>::new(), 0, Vec::new());
    // Lines that will stand before the next channel, and the `#` lines since the last entry,
    // which describe the next one and go with it if it is dropped or merged.
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
                let info = extinf::describe(&pending);
                let source = Source { id, selector };
                if let Some(known) = entries.iter_mut().find(|e| e.listing.is(&info)) {
                    if !known.listing.plays(&source) {
                        known.listing.sources.push(source);
                    }
                    pending.clear();
                    continue;
                }
                settled.push_str(&std::mem::take(&mut pending));
                entries.push(Entry {
                    before: std::mem::take(&mut settled),
                    listing: listing(info, source),
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

fn listing(info: Info, source: Source) -> Listing {
    let Info {
        name,
        tvg_id,
        chno,
        logo,
        group,
    } = info;
    Listing {
        name,
        tvg_id,
        chno,
        logo,
        group,
        sources: vec![source],
    }
}

/// A line of the file that was left out because it names no valid content.
#[derive(Debug, PartialEq)]
pub(super) struct Dropped {
    /// 1-based, as an editor shows it.
    pub(super) line: usize,
    pub(super) text: String,
    pub(super) reason: LinkError,
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ContentId;
    use crate::engine::Selector;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";
    /// The header of a list that names no guide, rendered for `tv.lan:6880`: acebox's guide.
    const GUIDE: &str = "#EXTM3U url-tvg=\"http://tv.lan:6880/epg.xml\"\n";

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
            assert_eq!(rendered(&entry), format!("{GUIDE}{ts}"), "{entry}");
        }
        let hash = format!("http://127.0.0.1:6878/ace/getstream?infohash={B}");
        assert_eq!(
            rendered(&hash),
            format!("{GUIDE}http://tv.lan:6880/ace/getstream?infohash={B}\n"),
            "an infohash stays an infohash"
        );
    }

    #[test]
    fn hls_picks_the_manifest_url() {
        let (playlist, _) = parse(&format!("acestream://{A}"));
        assert_eq!(
            playlist.render("[::1]:9", Mode::Hls, &Admission::default()),
            format!(
                "#EXTM3U url-tvg=\"http://[::1]:9/epg.xml\"\nhttp://[::1]:9/ace/manifest.m3u8?id={A}\n"
            )
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
            format!(
                "#EXTM3U url-tvg=\"http://h/epg.xml\"\n#EXTINF:-1,Good\nhttp://h/ace/getstream?id={A}\n"
            )
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

    fn source(id: &str) -> Source {
        Source {
            id: ContentId::parse(id).unwrap(),
            selector: Selector::ContentId,
        }
    }

    const C: &str = "fedcba9876543210fedcba9876543210fedcba98";

    /// Entries sharing a tvg-id, or with none the same name in the same group, are one channel:
    /// served once, at its first id, with the others as its backups.
    #[test]
    fn entries_of_one_channel_are_one_with_backup_ids() {
        let text = format!(
            "#EXTM3U\n\
             #EXTINF:-1 tvg-id=\"s1\" tvg-chno=\"5\" tvg-logo=\"http://l/1.png\" group-title=\"Sport\",Sport 1\n\
             acestream://{A}\n\
             #EXTINF:-1,News\n\
             acestream://{C}\n\
             #EXTINF:-1 tvg-id=\"s1\",Sport 1 (backup)\n\
             #EXTVLCOPT:x=y\n\
             acestream://{B}\n\
             #EXTINF:-1 group-title=\"N\",News\n\
             http://radio.example/r.mp3\n\
             #EXTINF:-1,News\n\
             http://127.0.0.1:6878/ace/getstream?id={A}\n\
             #EXTINF:-1 tvg-id=\"s1\",again\n\
             {A}\n"
        );
        let (playlist, dropped) = parse(&text);
        assert_eq!(dropped, []);
        assert_eq!(
            playlist.render("h", Mode::Ts, &Admission::default()),
            format!(
                "#EXTM3U url-tvg=\"http://h/epg.xml\"\n\
                 #EXTINF:-1 tvg-id=\"s1\" tvg-chno=\"5\" tvg-logo=\"http://l/1.png\" group-title=\"Sport\",Sport 1\n\
                 http://h/ace/getstream?id={A}\n\
                 #EXTINF:-1,News\n\
                 http://h/ace/getstream?id={C}\n\
                 #EXTINF:-1 group-title=\"N\",News\n\
                 http://radio.example/r.mp3\n"
            )
        );
        let listings: Vec<&Listing> = playlist.listings().collect();
        assert_eq!(listings.len(), 2);
        assert_eq!(
            *listings[0],
            Listing {
                name: "Sport 1".into(),
                tvg_id: "s1".into(),
                chno: "5".into(),
                logo: "http://l/1.png".into(),
                group: "Sport".into(),
                sources: vec![source(A), source(B)],
            },
            "a repeated id is not a second backup"
        );
        assert_eq!(listings[1].sources, [source(C), source(A)]);
        assert_eq!(playlist.channels, 3, "two channels and the radio");
    }

    /// Entries without a name are never merged, whatever they play.
    #[test]
    fn unnamed_entries_stay_apart() {
        let (playlist, _) = parse(&format!("{A}\n{B}\n#EXTINF:-1,\n{C}\n"));
        assert_eq!(playlist.listings().count(), 3);
    }
}
