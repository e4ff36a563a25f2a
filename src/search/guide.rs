//! The guide, `/epg.xml`: XMLTV built from the programmes the engine's search results carry.
//!
//! This module owns the XMLTV text: every `<channel>` before the first `<programme>` (as the
//! DTD wants), channel ids equal to the playlists' `tvg-id`, times as `YYYYMMDDhhmmss +0000`,
//! and each channel once however many kept searches found it (the newest wins); text escaped
//! by `crate::xml`. Programmes that ended before `now` are left out, and so are channels with
//! none left (XMLTV's validator wants a programme for every channel). It never reads the clock
//! and never fetches anything.

use std::fmt::Write;
use std::sync::Arc;

use super::cache::Entry;
use super::station::Station;
use crate::xml::push_escaped;

/// The guide of every station in `entries` (newest first) at `now` (Unix seconds).
pub fn xmltv(entries: &[Arc<Entry>], now: u64) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut stations: Vec<&Station> = Vec::new();
    let on_air = |s: &&Station| s.guide.iter().any(|p| p.stop > now);
    for station in entries
        .iter()
        .flat_map(|e| e.stations.iter())
        .filter(on_air)
    {
        if let Err(at) = seen.binary_search(&station.id.as_str()) {
            seen.insert(at, &station.id);
            stations.push(station);
        }
    }
    let mut out = String::with_capacity(256 + stations.len() * 512);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n\
         <tv generator-info-name=\"acebox\">\n",
    );
    for station in &stations {
        out.push_str("  <channel id=\"");
        push_escaped(&mut out, &station.id);
        out.push_str("\">\n    <display-name>");
        push_escaped(&mut out, &station.name);
        out.push_str("</display-name>\n");
        if !station.logo.is_empty() {
            out.push_str("    <icon src=\"");
            push_escaped(&mut out, &station.logo);
            out.push_str("\"/>\n");
        }
        out.push_str("  </channel>\n");
    }
    for station in &stations {
        for p in station.guide.iter().filter(|p| p.stop > now) {
            out.push_str("  <programme start=\"");
            push_time(&mut out, p.start);
            out.push_str("\" stop=\"");
            push_time(&mut out, p.stop);
            out.push_str("\" channel=\"");
            push_escaped(&mut out, &station.id);
            out.push_str("\">\n    <title>");
            push_escaped(&mut out, &p.title);
            out.push_str("</title>\n");
            if !p.description.is_empty() {
                out.push_str("    <desc>");
                push_escaped(&mut out, &p.description);
                out.push_str("</desc>\n");
            }
            out.push_str("  </programme>\n");
        }
    }
    out.push_str("</tv>\n");
    out
}

/// A Unix time in XMLTV's form, `YYYYMMDDhhmmss +0000`. Reckoned in 32 bits, which 32-bit
/// routers divide cheaply: a time past 2106 is shown as then.
fn push_time(out: &mut String, unix: u64) {
    let unix = u32::try_from(unix).unwrap_or(u32::MAX);
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil(days);
    let _ = write!(
        out,
        "{year:04}{month:02}{day:02}{:02}{:02}{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: u32) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u32::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ContentId;
    use crate::search::cache::Key;
    use crate::search::station::{Programme, Stream};

    fn time(unix: u64) -> String {
        let mut out = String::new();
        push_time(&mut out, unix);
        out
    }

    #[test]
    fn times_are_utc_in_xmltv_form() {
        assert_eq!(time(0), "19700101000000 +0000");
        assert_eq!(time(951_782_400), "20000229000000 +0000", "a leap day");
        assert_eq!(time(1_700_000_000), "20231114221320 +0000");
        assert_eq!(time(4_102_444_799), "20991231235959 +0000");
        assert_eq!(
            time(u64::MAX),
            "21060207062815 +0000",
            "past 32 bits: as late as they go"
        );
    }

    fn station(id: &str, name: &str, guide: Vec<Programme>) -> Station {
        Station {
            name: name.into(),
            id: id.into(),
            logo: "http://logo/x.png?a=1&b=2".into(),
            streams: vec![Stream {
                id: ContentId::parse(&"ab".repeat(20)).unwrap(),
                availability: 1,
            }],
            guide,
            ..Station::default()
        }
    }

    fn programme(start: u64, stop: u64, title: &str) -> Programme {
        Programme {
            start,
            stop,
            title: title.into(),
            description: String::new(),
        }
    }

    fn entry(stations: Vec<Station>) -> Arc<Entry> {
        Arc::new(Entry {
            key: Key {
                query: String::new(),
                category: String::new(),
            },
            fetched_ms: 0,
            stations,
            cost: 0,
            cut: false,
        })
    }

    #[test]
    fn channels_come_first_once_each_and_ended_programmes_go() {
        let newer = entry(vec![station(
            "1",
            "One & <Only>",
            vec![programme(100, 200, "A \"b\"")],
        )]);
        let older = entry(vec![
            station("1", "One (old)", vec![programme(100, 200, "old")]),
            station(
                "2",
                "Two",
                vec![programme(10, 50, "ended"), programme(50, 300, "on")],
            ),
            station("3", "Off air", vec![programme(10, 60, "ended")]),
            station("4", "No guide", vec![]),
        ]);
        let xml = xmltv(&[newer, older], 60);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n\
             <tv generator-info-name=\"acebox\">\n  \
             <channel id=\"1\">\n    <display-name>One &amp; &lt;Only&gt;</display-name>\n    \
             <icon src=\"http://logo/x.png?a=1&amp;b=2\"/>\n  </channel>\n  \
             <channel id=\"2\">\n    <display-name>Two</display-name>\n    \
             <icon src=\"http://logo/x.png?a=1&amp;b=2\"/>\n  </channel>\n  \
             <programme start=\"19700101000140 +0000\" stop=\"19700101000320 +0000\" \
             channel=\"1\">\n    <title>A &quot;b&quot;</title>\n  </programme>\n  \
             <programme start=\"19700101000050 +0000\" stop=\"19700101000500 +0000\" \
             channel=\"2\">\n    <title>on</title>\n  </programme>\n\
             </tv>\n"
        );
    }
}
