//! A search's results as clients take them: an M3U playlist for IPTV apps and JSON for
//! scripts, every entry pointing at acebox.
//!
//! This module owns those two texts. Each channel is one entry, played from its best stream
//! (`/ace/getstream?infohash=`, or `/ace/manifest.m3u8?infohash=` for HLS); the playlist names
//! acebox's guide in its header and gives each entry `tvg-id`, `tvg-name`, `tvg-logo` and
//! `group-title`. It never fetches anything and never checks the authority it is handed (the
//! router took it from `channel_list`, which did).

use std::fmt::Write;

use super::cache::Entry;
use super::station::Station;
use crate::engine::Mode;
use crate::http::{Admission, push_json_string};

/// Where acebox serves the guide.
pub const GUIDE_PATH: &str = "/epg.xml";

/// What to render: for which address, in which mode, and the least availability a channel's
/// best stream needs to be listed (thousandths).
pub struct Render<'a> {
    pub authority: &'a str,
    pub mode: Mode,
    pub min_availability: u16,
    /// What let the client in: its token goes on every URL of acebox's it is handed.
    pub admission: &'a Admission,
}

impl Render<'_> {
    fn listed<'e>(&self, entry: &'e Entry) -> impl Iterator<Item = &'e Station> {
        let min = self.min_availability;
        entry
            .stations
            .iter()
            .filter(move |s| s.best().availability >= min)
    }

    fn push_url(&self, out: &mut String, station: &Station) {
        let path = match self.mode {
            Mode::Ts => "/ace/getstream",
            Mode::Hls => "/ace/manifest.m3u8",
        };
        let id = station.best().id.as_str();
        self.push_own(out, &format!("{path}?infohash={id}"));
    }

    /// `http://<authority><path>` (a URL of acebox's), with the client's token if it has one.
    fn push_own(&self, out: &mut String, path: &str) {
        let mut url = format!("http://{}{path}", self.authority);
        self.admission.carry(&mut url);
        out.push_str(&url);
    }
}

/// The results as an M3U playlist.
pub fn m3u(entry: &Entry, how: &Render<'_>) -> String {
    let mut out = String::with_capacity(64 + entry.stations.len() * 256);
    out.push_str("#EXTM3U url-tvg=\"");
    how.push_own(&mut out, GUIDE_PATH);
    out.push_str("\"\n");
    for station in how.listed(entry) {
        out.push_str("#EXTINF:-1");
        push_attribute(&mut out, "tvg-id", &station.id);
        push_attribute(&mut out, "tvg-name", &station.name);
        push_attribute(&mut out, "tvg-logo", &station.logo);
        push_attribute(&mut out, "group-title", &station.group);
        out.push(',');
        out.push_str(&station.name);
        out.push('\n');
        how.push_url(&mut out, station);
        out.push('\n');
    }
    out
}

/// ` name="value"`, unless `value` is empty. M3U attributes have no escapes: a double quote
/// in the value becomes a single one.
fn push_attribute(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let _ = write!(out, " {name}=\"{}\"", value.replace('"', "'"));
}

/// The results as JSON: the search, then each channel with its acebox URL, streams (best
/// first, availability from 0 to 1) and programmes (Unix times).
pub fn json(entry: &Entry, how: &Render<'_>) -> String {
    let mut out = String::with_capacity(64 + entry.stations.len() * 512);
    out.push_str("{\"query\":");
    push_json_string(&mut out, &entry.key.query);
    out.push_str(",\"category\":");
    push_json_string(&mut out, &entry.key.category);
    let _ = write!(out, ",\"cut\":{},\"channels\":[", entry.cut);
    for (n, station) in how.listed(entry).enumerate() {
        if n > 0 {
            out.push(',');
        }
        for (key, value) in [
            ("{\"name\":", &station.name),
            (",\"tvg_id\":", &station.id),
            (",\"logo\":", &station.logo),
            (",\"group\":", &station.group),
        ] {
            out.push_str(key);
            push_json_string(&mut out, value);
        }
        out.push_str(",\"url\":\"");
        how.push_url(&mut out, station);
        out.push_str("\",\"streams\":[");
        for (n, stream) in station.streams.iter().enumerate() {
            let a = stream.availability;
            let _ = write!(
                out,
                "{}{{\"infohash\":\"{}\",\"availability\":{}.{:03}}}",
                if n > 0 { "," } else { "" },
                stream.id.as_str(),
                a / 1000,
                a % 1000
            );
        }
        out.push_str("],\"epg\":[");
        for (n, p) in station.guide.iter().enumerate() {
            let _ = write!(
                out,
                "{}{{\"start\":{},\"stop\":{},\"title\":",
                if n > 0 { "," } else { "" },
                p.start,
                p.stop
            );
            push_json_string(&mut out, &p.title);
            out.push_str(",\"description\":");
            push_json_string(&mut out, &p.description);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ContentId;
    use crate::search::cache::Key;
    use crate::search::station::{Programme, Stream};

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn entry() -> Entry {
        let stream = |id: &str, availability| Stream {
            id: ContentId::parse(id).unwrap(),
            availability,
        };
        Entry {
            key: Key {
                query: "sport".into(),
                category: String::new(),
            },
            fetched_ms: 0,
            stations: vec![
                Station {
                    name: "Sport \"1\"".into(),
                    id: "101".into(),
                    logo: "http://logo/s1.png".into(),
                    group: "sport;tv".into(),
                    streams: vec![stream(B, 950), stream(A, 400)],
                    guide: vec![Programme {
                        start: 1,
                        stop: 2,
                        title: "Match".into(),
                        description: "a \"big\" one".into(),
                    }],
                },
                Station {
                    name: "Faint".into(),
                    id: A.into(),
                    streams: vec![stream(A, 80)],
                    ..Station::default()
                },
            ],
            cost: 0,
            cut: false,
        }
    }

    fn render(mode: Mode, min_availability: u16) -> Render<'static> {
        Render {
            authority: "tv.lan:6880",
            mode,
            min_availability,
            // A client from inside `--allow`: no token to carry.
            admission: Box::leak(Box::default()),
        }
    }

    #[test]
    fn the_playlist_names_the_guide_and_each_channel() {
        assert_eq!(
            m3u(&entry(), &render(Mode::Ts, 0)),
            format!(
                "#EXTM3U url-tvg=\"http://tv.lan:6880/epg.xml\"\n\
                 #EXTINF:-1 tvg-id=\"101\" tvg-name=\"Sport '1'\" tvg-logo=\"http://logo/s1.png\" \
                 group-title=\"sport;tv\",Sport \"1\"\n\
                 http://tv.lan:6880/ace/getstream?infohash={B}\n\
                 #EXTINF:-1 tvg-id=\"{A}\" tvg-name=\"Faint\",Faint\n\
                 http://tv.lan:6880/ace/getstream?infohash={A}\n"
            )
        );
        let hls = m3u(&entry(), &render(Mode::Hls, 500));
        assert!(
            hls.contains(&format!("/ace/manifest.m3u8?infohash={B}\n")),
            "{hls}"
        );
        assert!(
            !hls.contains("Faint"),
            "below the least availability asked for"
        );
    }

    #[test]
    fn the_json_lists_streams_and_programmes() {
        let text = json(&entry(), &render(Mode::Ts, 0));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["query"], "sport");
        let sport = &value["channels"][0];
        assert_eq!(sport["name"], "Sport \"1\"");
        assert_eq!(sport["tvg_id"], "101");
        assert_eq!(
            sport["url"],
            format!("http://tv.lan:6880/ace/getstream?infohash={B}")
        );
        assert_eq!(sport["streams"][0]["infohash"], B);
        assert_eq!(sport["streams"][0]["availability"], 0.95);
        assert_eq!(sport["streams"][1]["availability"], 0.4);
        assert_eq!(sport["epg"][0]["description"], "a \"big\" one");
        assert_eq!(value["channels"][1]["streams"][0]["availability"], 0.08);
        let strict = json(&entry(), &render(Mode::Ts, 100));
        let value: serde_json::Value = serde_json::from_str(&strict).unwrap();
        assert_eq!(value["channels"].as_array().unwrap().len(), 1);
    }
}
