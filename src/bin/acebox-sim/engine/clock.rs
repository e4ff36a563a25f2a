//! A content's live clock: from its start and prebuffer, which segments and which TS packets
//! exist at an instant, and what a stat says of them.
//!
//! This module owns the arithmetic of live time. It never reads a clock (every instant is passed
//! in, the wall-clock time too, through [`Wall`]) and never knows of sessions or players.

use std::time::{Duration, Instant};

use super::{Settings, Stat};

/// The peers a live broadcast's stat reports.
const PEERS: u32 = 7;
use crate::playlist;

/// The wall-clock time at one instant, so that a stat's Unix timestamps follow the instants
/// handed in instead of reading the system clock.
#[derive(Clone, Copy, Debug)]
pub struct Wall {
    pub at: Instant,
    pub unix_secs: u64,
}

impl Wall {
    /// Unix seconds at `now`.
    fn unix_secs_at(&self, now: Instant) -> u64 {
        self.unix_secs + now.saturating_duration_since(self.at).as_secs()
    }
}

/// A content's live clock: segment n exists from `start + prebuffer + (n + 1) * segment`, until
/// the broadcast dies (`/sim/kill`): from then on no new media exists and nobody shares it.
pub(super) struct Clock {
    start: Instant,
    unix_start: u64,
    prebuffer: Duration,
    dead_at: Option<Instant>,
    /// Segments its playlists have shown so far (they never show fewer).
    shown: u64,
}

impl Clock {
    /// A clock that starts at `now`, `wall` telling the Unix time then.
    pub(super) fn new(now: Instant, prebuffer: Duration, wall: &Wall) -> Clock {
        let unix_start = wall.unix_secs_at(now);
        Clock {
            start: now,
            unix_start,
            prebuffer,
            dead_at: None,
            shown: 0,
        }
    }

    /// The broadcast dies at `now`: nothing newer will ever exist.
    pub(super) fn kill(&mut self, now: Instant) {
        self.dead_at.get_or_insert(now);
    }

    /// `now`, or the instant the broadcast died if that came first: what exists is what existed
    /// then.
    fn live_until(&self, now: Instant) -> Instant {
        self.dead_at.map_or(now, |dead| dead.min(now))
    }

    /// How many segments a playlist shows at `now` with bursts of `burst`, counted as shown.
    pub(super) fn show(&mut self, segment_ms: u64, burst: u64, now: Instant) -> u64 {
        self.shown = playlist::visible(self.available(segment_ms, now), burst, self.shown);
        self.shown
    }

    /// How many segments exist at `now`.
    pub(super) fn available(&self, segment_ms: u64, now: Instant) -> u64 {
        let elapsed = self.live_until(now).saturating_duration_since(self.start);
        let live = elapsed.saturating_sub(self.prebuffer).as_millis();
        u64::try_from(live / u128::from(segment_ms)).unwrap_or(u64::MAX)
    }

    /// When the content's first media, and its TS packet 0, exist.
    pub(super) fn live_at(&self) -> Instant {
        self.start + self.prebuffer
    }

    /// How many TS packets exist at `now`.
    pub(super) fn ts_packets(&self, bitrate: u64, now: Instant) -> u64 {
        match self.live_until(now).checked_duration_since(self.live_at()) {
            Some(elapsed) => crate::ts::packets_by(elapsed, bitrate),
            None => 0,
        }
    }

    /// When `media_ms` of media exists.
    pub(super) fn ready_at(&self, media_ms: u64) -> Instant {
        self.start + self.prebuffer + Duration::from_millis(media_ms)
    }

    pub(super) fn stat(&self, settings: &Settings, burst: u64, now: Instant) -> Stat {
        let segment_ms = settings.segment_ms;
        let available = self.available(segment_ms, now);
        let prebuffer_progress = (playlist::visible(available, burst, self.shown) == 0)
            .then(|| self.progress(segment_ms * burst, now));
        let live_ms = self.prebuffer.as_millis() as u64 + available * segment_ms;
        let last_ts = self.unix_start + live_ms / 1000;
        Stat {
            peers: if self.dead_at.is_some() { 0 } else { PEERS },
            prebuffer_progress,
            downloaded: available * settings.segment_bytes,
            first_ts: last_ts - available.min(settings.window) * segment_ms / 1000,
            last_ts,
        }
    }

    /// Percent of the way to the first playable `media_ms`, below 100.
    fn progress(&self, media_ms: u64, now: Instant) -> u64 {
        let total = self.ready_at(media_ms) - self.start;
        let done = now.saturating_duration_since(self.start);
        let percent = done.as_millis() * 100 / total.as_millis().max(1);
        percent.min(99) as u64
    }
}
