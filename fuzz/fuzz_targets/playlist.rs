//! The HLS path from the engine's playlist to the one a client gets, fed arbitrary playlists.
//!
//! An input is one or more engine playlists, one per poll, separated by NUL bytes (which no
//! playlist holds). Each goes through `hls::parse_upstream` as the fetch loop reads it, then
//! `hls::plan` against the upstream number of the last segment stored, then the planned segments
//! go into a channel's `storage::Segments` ring: one the playlist names on the engine is stored
//! (empty: no engine is asked), one it names elsewhere is passed over and the next stored one
//! follows a break, as the fetch loop does. After each poll `hls::render` writes a client's
//! playlist from its window of the ring, from the segment after the last it was listed, as the
//! router does.
//!
//! Nothing may panic, and:
//! - every listed segment is numbered on from the media sequence, lasts a sane number of seconds,
//!   and names an engine path that is its own rebase (never a host);
//! - the plan starts inside the list, and unless it reports a break it continues right after the
//!   last stored segment: nothing still listed is skipped or stored twice;
//! - the client's window never starts past the segment after the last it was listed while the
//!   ring holds that one;
//! - the rendered playlist parses, lists the ring's window in order with every URI on acebox,
//!   states a target duration of at most an hour that no EXTINF exceeds, and its media
//!   sequence, discontinuity sequence and target duration never go back from one poll to the
//!   next.

#![no_main]

use acebox::board::{PLAYLIST_WINDOW, RING_BYTES};
use acebox::engine::rebase;
use acebox::hls::{Upstream, parse_upstream, plan, render};
use acebox::http::Origin;
use acebox::storage::{SegmentMeta, Segments};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// The configured engine, and the playlist a session plays from (as the engine names them).
const ENGINE: &str = "http://127.0.0.1:6878";
const PLAYLIST: &str =
    "/ace/m/0123456789abcdef0123456789abcdef01234567/d41d8cd98f00b204e9800998ecf8427e.m3u8";
/// The channel and client the rendered playlist is for.
const ID: &str = "89abcdef0123456789abcdef0123456789abcdef";
const CLIENT: u64 = 0xfe;
/// The longest a segment may sensibly last, in seconds (the engine's last about 4 to 6).
const MAX_SECS: u64 = 3600;

/// What a client was last shown: media sequence, discontinuity sequence, target duration.
type Shown = (u64, u64, u64);

fuzz_target!(|data: &[u8]| {
    let engine = Origin::parse(ENGINE).expect("a valid origin");
    let segments = Segments::new(RING_BYTES, 0);
    let mut last = None;
    let mut shown = None;
    // The client's next segment: the one after the last it was listed.
    let mut next = None;
    for body in data.split(|&b| b == 0) {
        let Ok((listed, target)) = parse_upstream(body, &engine, PLAYLIST) else {
            continue;
        };
        check_listed(&listed);
        segments.raise_target_duration(u32::try_from(target).unwrap_or(u32::MAX));
        let (start, mut discontinuity) = plan(last, &listed);
        check_plan(last, &listed, start, discontinuity);
        for segment in &listed[start..] {
            if segment.path.is_some() {
                let stored = segments.push(
                    Bytes::new(),
                    segment.duration,
                    discontinuity || segment.discontinuity,
                );
                stored.expect("an empty segment fits");
                discontinuity = false;
            } else {
                discontinuity = true;
            }
            last = Some(segment.seq);
        }
        let (oldest, _) = segments.ring.bounds();
        let window = segments.ring.window::<PLAYLIST_WINDOW>(next);
        if let (Some(next), Some((first, _))) = (next, window.first()) {
            assert!(next < oldest || *first <= next, "{next} held, skipped to {first}");
        }
        if let Some((listed, _)) = window.last() {
            next = Some(listed.saturating_add(1));
        }
        let text = render(&window, segments.target_duration(), ID, CLIENT);
        check_render(&text, &window, &mut shown);
    }
});

fn check_listed(listed: &[Upstream]) {
    for pair in listed.windows(2) {
        assert_eq!(pair[0].seq.checked_add(1), Some(pair[1].seq), "{listed:?}");
    }
    for s in listed {
        assert!(s.duration > 0.0 && s.duration <= MAX_SECS as f32, "{s:?}");
        if let Some(path) = &s.path {
            assert_eq!(rebase(path).as_deref(), Some(path.as_str()), "{s:?}");
        }
    }
}

fn check_plan(last: Option<u64>, listed: &[Upstream], start: usize, discontinuity: bool) {
    assert!(start <= listed.len(), "{start} > {}", listed.len());
    let (Some(last), false) = (last, discontinuity) else {
        return;
    };
    assert!(
        listed[..start].iter().all(|s| s.seq <= last),
        "a segment after {last} left behind: {start} of {listed:?}"
    );
    if let Some(next) = listed.get(start) {
        assert_eq!(Some(next.seq), last.checked_add(1), "skipped or repeated");
    }
}

fn check_render(text: &str, window: &[(u64, SegmentMeta)], shown: &mut Option<Shown>) {
    let prefix = format!("/ace/c/{ID}/");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with(&prefix), "a URI off acebox: {line:?}");
    }
    let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes())
        .unwrap_or_else(|e| panic!("rendered playlist does not parse ({e:?}):\n{text}"));
    assert!(window.len() <= PLAYLIST_WINDOW);
    assert!(
        (1..=MAX_SECS).contains(&parsed.target_duration),
        "not a target duration:\n{text}"
    );
    assert_eq!(parsed.segments.len(), window.len(), "{text}");
    for pair in window.windows(2) {
        assert_eq!(pair[0].0 + 1, pair[1].0, "the window has a gap");
    }
    if let Some((first, _)) = window.first() {
        assert_eq!(parsed.media_sequence, *first, "{text}");
    }
    for (segment, (seq, _)) in parsed.segments.iter().zip(window) {
        assert_eq!(segment.uri, format!("{prefix}{CLIENT:016x}/{seq}.ts"));
        assert!(
            (segment.duration.round() as u64) <= parsed.target_duration,
            "an EXTINF over the target duration:\n{text}"
        );
    }
    if window.is_empty() {
        return;
    }
    let now = (
        parsed.media_sequence,
        parsed.discontinuity_sequence,
        parsed.target_duration,
    );
    if let Some(before) = shown.replace(now) {
        assert!(
            now.0 >= before.0 && now.1 >= before.1 && now.2 >= before.2,
            "went back from {before:?} to {now:?}:\n{text}"
        );
    }
}
