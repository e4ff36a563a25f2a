//! HLS playlists, both ways: reading the engine's (what it lists, and which of it to fetch) and
//! writing the one a client gets, with the URLs a client finds its playlist and segments at.
//!
//! Pure functions of their inputs: this module never fetches, never stores and never reads a
//! clock (`first_media_sequence` takes the time). It never lets a client be sent to another
//! host: a playlist line naming one is kept as `path: None`, never to be fetched.

use std::fmt::Write as _;

use crate::engine::EngineError;
use crate::http::Origin;
use crate::storage::SegmentMeta;

/// Segments a channel starts with, counted back from the live edge (what HLS players do).
const START_SEGMENTS: usize = 3;
/// The longest EXTINF taken as true; the engine's are about 4 to 6 s.
const MAX_SEGMENT_SECS: f32 = 3600.0;

/// Where a new channel's media sequence starts, given the time (`unix_ms`): tenths of a second
/// since 1970. A channel that is stopped when idle and started again for a player still polling
/// the same URL thus numbers on from where it was (segments come far less often than ten a
/// second), never backwards, which players do not follow.
pub fn first_media_sequence(unix_ms: u64) -> u64 {
    unix_ms / 100
}

/// One segment the engine lists, in the engine's numbering.
#[derive(Clone, Debug, PartialEq)]
pub struct Upstream {
    pub seq: u64,
    /// Path on the engine; `None` when the line named another host (never fetched).
    pub path: Option<String>,
    pub duration: f32,
    pub discontinuity: bool,
}

/// Reads the engine's media playlist. `authority` is the engine's `host:port`, the only host a
/// segment may be fetched from; `base` is the playlist's own path, for relative lines.
pub fn parse_upstream(
    body: &[u8],
    engine: &Origin,
    base: &str,
) -> Result<(Vec<Upstream>, u64), EngineError> {
    let playlist = m3u8_rs::parse_media_playlist_res(body)
        .map_err(|_| EngineError::BadAnswer("the playlist is not an HLS media playlist".into()))?;
    let bad = |what: &str| EngineError::BadAnswer(format!("the playlist has {what}"));
    // Clients get the largest target duration ever seen, so one absurd value would stay.
    if playlist.target_duration as f32 > MAX_SEGMENT_SECS {
        return Err(bad("a target duration that is not a number of seconds"));
    }
    let mut segments = Vec::with_capacity(playlist.segments.len());
    for (i, s) in (0u64..).zip(&playlist.segments) {
        if !(s.duration > 0.0 && s.duration <= MAX_SEGMENT_SECS) {
            return Err(bad("a segment duration that is not a number of seconds"));
        }
        segments.push(Upstream {
            seq: playlist
                .media_sequence
                .checked_add(i)
                .ok_or_else(|| bad("a media sequence past its end"))?,
            path: engine_path(&s.uri, engine, base),
            duration: s.duration,
            discontinuity: s.discontinuity,
        });
    }
    Ok((segments, playlist.target_duration))
}

/// The engine path of a playlist line, or `None` if it points at another host.
fn engine_path(uri: &str, engine: &Origin, base: &str) -> Option<String> {
    let path = if let Some(rest) = uri.strip_prefix("http://") {
        let (host, path) = rest.split_at(rest.find('/')?);
        if !engine.is(host) {
            return None;
        }
        path.to_owned()
    } else if uri.contains("://") || uri.starts_with("//") {
        return None;
    } else if uri.starts_with('/') {
        uri.to_owned()
    } else {
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{uri}")
    };
    crate::engine::rebase(&path).map(|p| p.as_str().to_owned())
}

/// Which of the listed segments to fetch, given the upstream number of the last one stored:
/// the index to start at, and whether the first of them follows a break.
pub fn plan(last: Option<u64>, listed: &[Upstream]) -> (usize, bool) {
    let (Some(first), Some(newest)) = (listed.first().map(|s| s.seq), listed.last().map(|s| s.seq))
    else {
        return (listed.len(), false);
    };
    let from_edge = listed.len().saturating_sub(START_SEGMENTS);
    match last {
        None => (from_edge, false),
        // The numbering went back: the engine restarted the stream.
        Some(last) if newest < last => (from_edge, true),
        // Segments went by unseen (a long outage): take all that are left, after a break.
        Some(last) if first > last.saturating_add(1) => (0, true),
        // The next one is listed: start right after the last stored.
        Some(last) if first > last => (0, false),
        Some(last) => {
            let stored = usize::try_from(last - first).map_or(listed.len(), |i| i + 1);
            (stored.min(listed.len()), false)
        }
    }
}

/// Writes the playlist a client gets: the ring's newest segments, with URIs on acebox.
pub fn render(
    entries: &[(u64, SegmentMeta)],
    target_duration: u32,
    id: &str,
    client: u64,
) -> String {
    let mut out = String::with_capacity(160 + entries.len() * 96);
    let first = entries.first();
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target_duration}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
        first.map_or(0, |(seq, _)| *seq)
    );
    if let Some((_, first)) = first.filter(|(_, m)| m.discontinuity_seq > 0) {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            first.discontinuity_seq
        );
    }
    for (i, (seq, meta)) in entries.iter().enumerate() {
        // The first entry's break is already counted by the discontinuity sequence.
        if meta.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = write!(
            out,
            "#EXTINF:{:.6},\n{}\n",
            meta.duration,
            segment_path(id, client, *seq)
        );
    }
    out
}

/// Where a client finds segment `seq` of channel `id`.
pub fn segment_path(id: &str, client: u64, seq: u64) -> String {
    format!("/ace/c/{id}/{client:016x}/{seq}.ts")
}

/// Where a client polls its playlist of channel `id`.
pub fn playlist_path(id: &str, client: u64) -> String {
    format!("/ace/m/{id}/{client:016x}.m3u8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Origin {
        Origin::parse(text).unwrap()
    }

    fn listed(first: u64, n: u64) -> Vec<Upstream> {
        (0..n)
            .map(|i| first + i)
            .map(|seq| Upstream {
                seq,
                path: Some(format!("/ace/c/x/{seq}.ts")),
                duration: 1.0,
                discontinuity: false,
            })
            .collect()
    }

    #[test]
    fn plan_starts_near_the_live_edge_and_never_skips() {
        assert_eq!(plan(None, &listed(10, 15)), (12, false));
        assert_eq!(plan(None, &listed(0, 2)), (0, false));
        // Continuing: everything after the last stored, however many appeared.
        assert_eq!(plan(Some(20), &listed(10, 15)), (11, false));
        assert_eq!(plan(Some(24), &listed(10, 15)), (15, false), "nothing new");
        assert_eq!(
            plan(Some(9), &listed(10, 15)),
            (0, false),
            "the next is the first listed"
        );
        // A gap: all that is left, after a break.
        assert_eq!(plan(Some(5), &listed(10, 15)), (0, true));
        // Numbering went back: the engine restarted.
        assert_eq!(plan(Some(500), &listed(0, 4)), (1, true));
        assert_eq!(plan(Some(3), &[]), (0, false));
        assert_eq!(plan(Some(u64::MAX), &listed(u64::MAX - 1, 2)), (2, false));
        assert_eq!(
            plan(Some(u64::MAX - 1), &listed(u64::MAX - 1, 2)),
            (1, false),
            "no overflow"
        );
    }

    #[test]
    fn parses_engine_playlists_and_drops_foreign_hosts() {
        let body =
            b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:41\n\
#EXTINF:5.005000,\nhttp://127.0.0.1:6878/ace/c/ab/41.ts\n\
#EXTINF:4.200000,\nhttp://198.51.100.7:6878/ace/c/ab/42.ts\n\
#EXT-X-DISCONTINUITY\n#EXTINF:6.300000,\n43.ts\n#EXTINF:6.0,\nhttps://127.0.0.1:6878/x.ts\n";
        let (segs, target) =
            parse_upstream(body, &origin("http://127.0.0.1:6878"), "/ace/m/ab/tok.m3u8").unwrap();
        assert_eq!(target, 7);
        assert_eq!(
            segs.iter().map(|s| s.seq).collect::<Vec<_>>(),
            [41, 42, 43, 44]
        );
        assert_eq!(segs[0].path.as_deref(), Some("/ace/c/ab/41.ts"));
        assert_eq!(segs[1].path, None, "another host");
        assert_eq!(
            segs[2].path.as_deref(),
            Some("/ace/m/ab/43.ts"),
            "relative to the playlist"
        );
        assert!(segs[2].discontinuity);
        assert_eq!(segs[3].path, None, "another scheme");
        assert!(parse_upstream(b"<html>", &origin("http://h:1"), "/").is_err());
        for hostile in [
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:inf,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:NaN,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:-4,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:18446744073709551615\n#EXTINF:4,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n\
#EXTINF:4,\n/a.ts\n#EXTINF:4,\n/b.ts\n",
        ] {
            assert!(
                parse_upstream(hostile.as_bytes(), &origin("http://h:1"), "/").is_err(),
                "{hostile}"
            );
        }
    }

    #[test]
    fn renders_a_continuous_truthful_playlist() {
        let e = |seq, duration, discontinuity, discontinuity_seq| {
            let meta = SegmentMeta {
                duration,
                discontinuity,
                discontinuity_seq,
            };
            (seq, meta)
        };
        let text = render(
            &[e(7, 4.5, true, 2), e(8, 5.25, false, 2), e(9, 3.0, true, 3)],
            6,
            "ab",
            0xfe,
        );
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:7\n\
#EXT-X-DISCONTINUITY-SEQUENCE:2\n#EXTINF:4.500000,\n/ace/c/ab/00000000000000fe/7.ts\n\
#EXTINF:5.250000,\n/ace/c/ab/00000000000000fe/8.ts\n#EXT-X-DISCONTINUITY\n\
#EXTINF:3.000000,\n/ace/c/ab/00000000000000fe/9.ts\n"
        );
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.media_sequence, 7);
        assert_eq!(parsed.segments.len(), 3);
    }
}
