//! HLS: the per-channel fetch loop that copies the engine's live playlist into the ring, and the
//! playlist clients get back.
//!
//! The fetch loop reads the session slot on every poll (so it always plays the newest session),
//! fetches each new upstream segment exactly once and in order, never skipping one the engine
//! still lists; the channel heals the session when a poll fails (403, 500, no answer). This
//! module never serves a client and never fetches from anywhere but the configured engine: a
//! playlist line naming another host is dropped and logged.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::AtomicU64;
use crate::board::{MAX_SEGMENT_BYTES, RING_BYTES, RING_SLOTS};
use crate::channel::{Channel, Counters, Feed, Feeder};
use crate::engine::EngineError;
use crate::http::Origin;
use crate::ring::{PushError, Ring};
use crate::session::Session;

/// Segments a channel starts with, counted back from the live edge (what HLS players do).
const START_SEGMENTS: usize = 3;
/// Poll the engine's playlist at least this often, and not more than `MIN_POLL`.
const MAX_POLL: Duration = Duration::from_secs(2);
const MIN_POLL: Duration = Duration::from_millis(50);
/// After a segment could not be fetched, poll again this soon (and fetch it then).
const SEGMENT_RETRY: Duration = Duration::from_millis(250);
/// The longest EXTINF taken as true; the engine's are about 4 to 6 s.
const MAX_SEGMENT_SECS: f32 = 3600.0;

/// What a client's playlist says of a stored segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentMeta {
    /// EXTINF, in seconds, as the engine gave it.
    pub duration: f32,
    /// The upstream restarted before this segment (`#EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// Discontinuities from the start of the channel up to and including this segment.
    pub discontinuity_seq: u64,
}

/// A channel's HLS segments: [`RING_SLOTS`] slots and a byte budget ([`RING_BYTES`] for those
/// fetched from the engine), and the target duration, which may never shrink.
pub struct Segments {
    pub ring: Ring<SegmentMeta, RING_SLOTS>,
    target_duration: AtomicU32,
    discontinuity_seq: AtomicU64,
}

impl Default for Segments {
    /// The store of an HLS channel's fetch loop: [`RING_BYTES`].
    fn default() -> Self {
        Segments::new(RING_BYTES)
    }
}

/// Where a new channel's media sequence starts: tenths of a second since 1970. A channel that
/// is stopped when idle and started again for a player still polling the same URL thus numbers
/// on from where it was (segments come far less often than ten a second), never backwards,
/// which players do not follow.
fn first_media_sequence() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64 / 100)
}

impl Segments {
    /// An empty store of [`RING_SLOTS`] segments and `budget` bytes.
    pub fn new(budget: usize) -> Segments {
        Segments {
            ring: Ring::new(budget, first_media_sequence()),
            target_duration: AtomicU32::new(1),
            discontinuity_seq: AtomicU64::new(0),
        }
    }

    /// Stores a segment as the newest; only the channel's feed (the fetch loop, or the
    /// segmenter of a TS channel) calls this.
    pub fn push(&self, data: Bytes, duration: f32, discontinuity: bool) -> Result<u64, PushError> {
        // The first segment of a channel needs no discontinuity: nothing came before it.
        let discontinuity = discontinuity && !self.ring.is_empty();
        let seq = self.discontinuity_seq.load(Ordering::Acquire) + u64::from(discontinuity);
        let meta = SegmentMeta {
            duration,
            discontinuity,
            discontinuity_seq: seq,
        };
        let stored = self.ring.push(data, meta)?;
        self.discontinuity_seq.store(seq, Ordering::Release);
        self.target_duration
            .fetch_max(duration.ceil().max(1.0) as u32, Ordering::AcqRel);
        Ok(stored)
    }

    /// Makes the target duration at least the engine's own (it may never shrink).
    pub fn raise_target_duration(&self, seconds: u32) {
        self.target_duration
            .fetch_max(seconds.max(1), Ordering::AcqRel);
    }

    /// The largest EXTINF stored so far, rounded up.
    pub fn target_duration(&self) -> u32 {
        self.target_duration.load(Ordering::Acquire)
    }
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

/// The fetch loop of one channel; returns when the channel is stopped.
pub async fn run(channel: Arc<Channel>) {
    let fetcher = Fetcher {
        last: None,
        broken: false,
    };
    channel.feed_from_engine(fetcher).await;
}

/// Copies the engine's playlist into the ring, remembering the last upstream segment stored.
struct Fetcher {
    last: Option<u64>,
    /// The next segment stored follows a break (a segment passed over, or an upstream restart),
    /// however many polls later it comes.
    broken: bool,
}

impl Feeder for Fetcher {
    /// One poll: read the playlist, fetch every new segment in order. Returns how long to wait
    /// before the next poll.
    async fn step(
        &mut self,
        channel: &Channel,
        session: &Session,
    ) -> Result<Duration, EngineError> {
        let Feed::Hls(segments) = &channel.feed else {
            return Err(EngineError::BadAnswer("not an HLS channel".into()));
        };
        let engine = channel.engine();
        let body = engine.playlist(&session.playback).await?;
        let (listed, target) = parse_upstream(&body, engine.origin(), &session.playback)?;
        segments.raise_target_duration(u32::try_from(target).unwrap_or(u32::MAX));
        let (start, restarted) = plan(self.last, &listed);
        self.broken |= restarted;
        let id = channel.id.as_str();
        for segment in &listed[start..] {
            if channel.is_stopped() {
                break;
            }
            let fetched = match &segment.path {
                Some(path) => engine.segment(path, MAX_SEGMENT_BYTES).await,
                None => Err(EngineError::BadAnswer(
                    "the playlist line points off the engine".into(),
                )),
            };
            let stored = match fetched {
                Ok(data) => {
                    Counters::count(&channel.counters.bytes_in, data.len());
                    let discontinuity = self.broken || segment.discontinuity;
                    segments
                        .push(data, segment.duration, discontinuity)
                        .map(drop)
                        .map_err(|e| e.to_string())
                }
                // Never to be had: pass over it once (below), and mark the break.
                Err(e @ EngineError::BadAnswer(_)) => Err(e.to_string()),
                // Maybe a moment's trouble: try again at the next poll, without a new session.
                Err(e) => {
                    log::warn!("channel {id}: segment {} not fetched yet: {e}", segment.seq);
                    return Ok(SEGMENT_RETRY);
                }
            };
            if let Err(why) = &stored {
                Counters::count(&channel.counters.segments_skipped, 1);
                log::warn!("channel {id}: segment {} passed over: {why}", segment.seq);
            }
            self.broken = stored.is_err();
            self.last = Some(segment.seq);
            channel.notify();
        }
        let newest = listed.last().map_or(target as f32, |s| s.duration);
        Ok(Duration::from_secs_f32(newest / 2.0).clamp(MIN_POLL, MAX_POLL))
    }
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
    fn segments_number_discontinuities_and_never_shrink_the_target() {
        let segments = Segments::default();
        let one = || Bytes::from_static(b"x");
        segments.push(one(), 6.2, true).unwrap();
        segments.push(one(), 3.0, false).unwrap();
        segments.push(one(), 3.0, true).unwrap();
        assert_eq!(segments.target_duration(), 7);
        let w = segments.ring.window::<8>();
        assert!(!w[0].1.discontinuity, "nothing precedes the first segment");
        let numbers: Vec<u64> = w.iter().map(|(_, m)| m.discontinuity_seq).collect();
        assert_eq!(numbers, [0, 0, 1]);
        assert!(w[2].1.discontinuity);
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
