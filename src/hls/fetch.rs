//! The HLS fetch loop's step: one poll of the engine's live playlist, copying each new upstream
//! segment into the channel's segment store exactly once and in order.
//!
//! [`Fetcher`] owns the upstream number of the last segment stored and whether the next follows
//! a break (the engine restarted the stream, or the channel moved to another source or engine).
//! It never skips a segment the engine still lists, never fetches from anywhere but the
//! session's engine (a line naming another host is passed over and logged), never serves a
//! client and never heals the session: an error goes back to the channel's supervisor, which
//! reads the session slot before every step, so the loop always plays the newest session.

use std::time::Duration;

use crate::board::MAX_SEGMENT_BYTES;
use crate::engine::EngineError;
use crate::feed::{Context, Feeder};
use crate::hls::playlist::{parse_upstream, plan};
use crate::session::Session;
use crate::storage::Segments;

/// Poll the engine's playlist at least this often, and not more than `MIN_POLL`.
const MAX_POLL: Duration = Duration::from_secs(2);
const MIN_POLL: Duration = Duration::from_millis(50);
/// After a segment could not be fetched, poll again this soon (and fetch it then).
const SEGMENT_RETRY: Duration = Duration::from_millis(250);

/// Copies the engine's playlist into `segments`, remembering the last upstream segment stored.
pub struct Fetcher<'a> {
    segments: &'a Segments,
    last: Option<u64>,
    /// The next segment stored follows a break (a segment passed over, or an upstream restart),
    /// however many polls later it comes.
    broken: bool,
    /// The source (of its channel's) and engine the last poll read: another one's numbering is
    /// unrelated.
    read: Option<(u8, u8)>,
}

impl Fetcher<'_> {
    /// A fetch loop that fills `segments`, starting near the live edge.
    pub fn new(segments: &Segments) -> Fetcher<'_> {
        Fetcher {
            segments,
            last: None,
            broken: false,
            read: None,
        }
    }
}

impl Feeder for Fetcher<'_> {
    /// One poll: read the playlist, fetch every new segment in order. Returns how long to wait
    /// before the next poll.
    async fn step(&mut self, cx: &Context<'_>, session: &Session) -> Result<Duration, EngineError> {
        let (engine, id) = (cx.engine, cx.id);
        let reads = (session.source, session.engine);
        if self.read.replace(reads).is_some_and(|read| read != reads) {
            // The channel moved to another source or engine: a new stream, joined near its
            // live edge.
            self.last = None;
            self.broken = true;
        }
        let body = engine.playlist(&session.playback).await?;
        let (listed, target) = parse_upstream(&body, engine.origin(), &session.playback)?;
        self.segments
            .raise_target_duration(u32::try_from(target).unwrap_or(u32::MAX));
        let (start, restarted) = plan(self.last, &listed);
        self.broken |= restarted;
        for segment in listed.get(start..).unwrap_or_default() {
            if cx.events.is_stopped() {
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
                    cx.counters.bytes_in.add(data.len());
                    let discontinuity = self.broken || segment.discontinuity;
                    self.segments
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
                cx.counters.segments_skipped.add(1);
                log::warn!("channel {id}: segment {} passed over: {why}", segment.seq);
            }
            self.broken = stored.is_err();
            self.last = Some(segment.seq);
            cx.events.notify();
        }
        let newest = listed.last().map_or(target as f32, |s| s.duration);
        Ok(Duration::from_secs_f32(newest / 2.0).clamp(MIN_POLL, MAX_POLL))
    }
}
