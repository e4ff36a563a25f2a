//! The engine's search answers, fed arbitrary bytes: `search::parse_page` and
//! `search::parse_token` read the same input, and what a page gives is rendered as the
//! playlist, the JSON and the guide acebox serves from it.
//!
//! Nothing may panic, and a page that reads:
//! - has only channels with a stream, their streams and the channels best availability first;
//! - has guide ids of letters, digits, `-` and `.` ending `.acestream`, logos that are
//!   `http(s)://` URLs with no quote, space or angle bracket, and no control character in any
//!   name, group or programme;
//! - renders to a playlist of exactly one `#EXTINF` line and one URL per channel (nothing the
//!   engine says can add a line), and to a guide with no `<` but the guide's own tags.

#![no_main]

use std::sync::Arc;

use acebox::engine::Mode;
use acebox::http::Admission;
use acebox::search::{Entry, Key, Render, Station, m3u, parse_page, parse_token, xmltv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(token) = parse_token(body) {
        assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let Ok(page) = parse_page(body) else {
        return;
    };
    assert!(page.stations.len() <= page.results);
    let best: Vec<u16> = page.stations.iter().map(|s| s.best().availability).collect();
    assert!(best.windows(2).all(|w| w[0] >= w[1]), "{best:?}");
    for station in &page.stations {
        check(station);
    }
    let entry = Entry {
        key: Key {
            query: String::new(),
            category: String::new(),
        },
        fetched_ms: 0,
        cost: 0,
        cut: false,
        stations: page.stations,
    };
    let how = Render {
        authority: "tv.lan:6880",
        mode: Mode::Ts,
        min_availability: 0,
        admission: &Admission::default(),
    };
    let playlist = m3u(&entry, &how);
    assert_eq!(playlist.lines().count(), 1 + 2 * entry.stations.len(), "{playlist}");
    let guide = xmltv(&[Arc::new(entry)], 0);
    let tags = ["<?xml", "<!DOCTYPE", "<tv", "</tv", "<channel", "</channel", "<display-name",
        "</display-name", "<icon", "<programme", "</programme", "<title", "</title", "<desc",
        "</desc"];
    for (at, _) in guide.match_indices('<') {
        assert!(tags.iter().any(|t| guide[at..].starts_with(t)), "{guide}");
    }
});

fn check(station: &Station) {
    assert!(!station.streams.is_empty());
    let availability: Vec<u16> = station.streams.iter().map(|s| s.availability).collect();
    assert!(availability.windows(2).all(|w| w[0] >= w[1]));
    assert!(availability.iter().all(|a| *a <= 1000));
    let id = station.id.strip_suffix(".acestream").expect("a guide id");
    assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !station.logo.is_empty() {
        let logo = &station.logo;
        assert!(logo.starts_with("http://") || logo.starts_with("https://"), "{logo}");
        assert!(logo.bytes().all(|b| b.is_ascii_graphic() && !b"\"<>".contains(&b)));
    }
    let texts = [&station.name, &station.group];
    let programmes = station.guide.iter().flat_map(|p| [&p.title, &p.description]);
    for text in texts.into_iter().chain(programmes) {
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
    for p in &station.guide {
        assert!(p.start < p.stop && !p.title.is_empty());
    }
}
