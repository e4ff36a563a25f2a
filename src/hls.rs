//! HLS: the per-channel fetch loop that copies the engine's live playlist into the ring, and the
//! playlist clients get back.
//!
//! The fetch loop reads the session slot on every poll (so it always plays the newest session),
//! fetches each new upstream segment exactly once and in order, never skipping one the engine
//! still lists, and heals the session itself when the engine answers 403, 500 or nothing. This
//! module never serves a client and never fetches from anywhere but the configured engine: a
//! playlist line naming another host is dropped and logged.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt;

use crate::board::MAX_SEGMENT_BYTES;
use crate::channel::Channel;
use crate::engine::EngineError;
use crate::ring::Entry;
use crate::session::Session;

/// Segments a channel starts with, counted back from the live edge (what HLS players do).
const START_SEGMENTS: usize = 3;
/// Poll the engine's playlist at least this often, and not more than `MIN_POLL`.
const MAX_POLL: Duration = Duration::from_secs(2);
const MIN_POLL: Duration = Duration::from_millis(50);
/// The longest EXTINF taken as true; the engine's are about 4 to 6 s.
const MAX_SEGMENT_SECS: f32 = 3600.0;
/// Waits between failed polls grow from the first to the last.
const BACKOFF: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

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
    authority: &str,
    base: &str,
) -> Result<(Vec<Upstream>, u64), EngineError> {
    let playlist = m3u8_rs::parse_media_playlist_res(body)
        .map_err(|_| EngineError::BadAnswer("the playlist is not an HLS media playlist".into()))?;
    let bad = |what: &str| EngineError::BadAnswer(format!("the playlist has {what}"));
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
            path: engine_path(&s.uri, authority, base),
            duration: s.duration,
            discontinuity: s.discontinuity,
        });
    }
    Ok((segments, playlist.target_duration))
}

/// The engine path of a playlist line, or `None` if it points at another host.
fn engine_path(uri: &str, authority: &str, base: &str) -> Option<String> {
    let path = if let Some(rest) = uri.strip_prefix("http://") {
        let (host, path) = rest.split_at(rest.find('/')?);
        if !host.eq_ignore_ascii_case(authority) {
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
pub fn render(entries: &[Entry], target_duration: u32, id: &str, client: u64) -> String {
    let mut out = String::with_capacity(160 + entries.len() * 96);
    let first = entries.first();
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target_duration}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
        first.map_or(0, |e| e.seq)
    );
    if let Some(first) = first.filter(|e| e.discontinuity_seq > 0) {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            first.discontinuity_seq
        );
    }
    for (i, e) in entries.iter().enumerate() {
        // The first entry's break is already counted by the discontinuity sequence.
        if e.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = write!(
            out,
            "#EXTINF:{:.6},\n{}\n",
            e.duration,
            segment_path(id, client, e.seq)
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

/// The fetch loop of one channel; returns when the channel is stopped.
pub async fn run(channel: Arc<Channel>) {
    let mut last: Option<u64> = None;
    let mut failures = 0usize;
    while !channel.is_stopped() {
        let Some(session) = channel.slot.load() else {
            // No session yet: the first connect is starting one.
            let listener = channel.listen();
            if channel.slot.load().is_none() && !channel.is_stopped() {
                listener.await;
            }
            continue;
        };
        let pause = match poll(&channel, &session, &mut last).await {
            Ok(pause) => {
                if failures > 0 {
                    log::info!("channel {}: engine playlist back", channel.id.as_str());
                }
                failures = 0;
                channel.set_health(None);
                pause
            }
            Err(e) => {
                failures += 1;
                heal(&channel, e, failures).await
            }
        };
        sleep_unless_stopped(&channel, pause).await;
    }
    log::debug!("channel {}: fetch loop ended", channel.id.as_str());
}

/// After a failed poll: log it (once per run of failures), refresh the session if the failure
/// says it is gone, and return how long to wait before polling again.
async fn heal(channel: &Channel, error: EngineError, failures: usize) -> Duration {
    let id = channel.id.as_str();
    if failures == 1 {
        log::warn!("channel {id}: {error}; healing the session");
    }
    let still_starting =
        matches!(error, EngineError::Status(500)) && channel.ring.is_empty() && failures < 3;
    channel.set_health(Some(error));
    if !still_starting {
        if let Err(e) = channel.refresh().await {
            channel.set_health(Some(e));
        }
    }
    BACKOFF[(failures - 1).min(BACKOFF.len() - 1)]
}

/// One poll: read the playlist, fetch every new segment in order. Returns how long to wait
/// before the next poll.
async fn poll(
    channel: &Channel,
    session: &Session,
    last: &mut Option<u64>,
) -> Result<Duration, EngineError> {
    let engine = channel.engine();
    let body = engine.playlist(&session.playback).await?;
    let (listed, target) = parse_upstream(&body, &engine.origin().authority(), &session.playback)?;
    let (start, mut discontinuity) = plan(*last, &listed);
    for segment in &listed[start..] {
        if channel.is_stopped() {
            break;
        }
        let Some(path) = &segment.path else {
            log::warn!(
                "channel {}: playlist line for segment {} points off the engine; dropped",
                channel.id.as_str(),
                segment.seq
            );
            continue;
        };
        let data = engine.segment(path, MAX_SEGMENT_BYTES).await?;
        if let Err(e) = channel.ring.push(
            data,
            segment.duration,
            discontinuity || segment.discontinuity,
        ) {
            log::warn!(
                "channel {}: segment {} refused: {e:?}",
                channel.id.as_str(),
                segment.seq
            );
        }
        discontinuity = false;
        *last = Some(segment.seq);
        channel.notify();
    }
    let newest = listed.last().map_or(target as f32, |s| s.duration);
    Ok(Duration::from_secs_f32(newest.max(0.0) / 2.0).clamp(MIN_POLL, MAX_POLL))
}

async fn sleep_unless_stopped(channel: &Channel, pause: Duration) {
    let stopped = async {
        loop {
            let listener = channel.listen();
            if channel.is_stopped() {
                return;
            }
            listener.await;
        }
    };
    stopped
        .or(async {
            Timer::after(pause).await;
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (segs, target) = parse_upstream(body, "127.0.0.1:6878", "/ace/m/ab/tok.m3u8").unwrap();
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
        assert!(parse_upstream(b"<html>", "h:1", "/").is_err());
        for hostile in [
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:inf,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:NaN,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:-4,\n/a.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n\
#EXTINF:4,\n/a.ts\n#EXTINF:4,\n/b.ts\n",
        ] {
            assert!(
                parse_upstream(hostile.as_bytes(), "h:1", "/").is_err(),
                "{hostile}"
            );
        }
    }

    #[test]
    fn renders_a_continuous_truthful_playlist() {
        let e = |seq, duration, discontinuity, discontinuity_seq| Entry {
            seq,
            duration,
            discontinuity,
            discontinuity_seq,
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
