//! The HLS side of a session: playlist polls on the content's live window, segment fetches
//! (counted per segment, player activity for the content), and the stat URL.
//!
//! This module owns what a poll, a fetch or a stat gets at an instant and the counters of each.
//! It never renders a playlist (that is `crate::playlist`), never holds segment bytes (that is
//! `crate::media`) and never reads a clock.

use std::time::Instant;

use super::faults::take_fault;
use super::sessions::Refusal;
use super::{Engine, Fault, State};
use crate::playlist::{self, Window};

/// What a playlist poll gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Playlist {
    /// No such session, or it was stopped: 500.
    Unknown,
    /// Superseded, expired or an old rotated token: 403.
    Forbidden,
    /// No segment yet; ask again at this instant.
    Prebuffering { until: Instant },
    Ready {
        infohash: String,
        window: Window,
        /// The `host:port` of an off-host line to slip in, if any.
        off_host: Option<String>,
    },
}

/// What a live session's stat URL reports.
#[derive(Debug, PartialEq, Eq)]
pub struct Stat {
    /// Peers sharing the content: none once its broadcast died.
    pub peers: u32,
    /// Percent done while prebuffering; `None` once playing.
    pub prebuffer_progress: Option<u64>,
    pub downloaded: u64,
    pub first_ts: u64,
    pub last_ts: u64,
}

impl Engine {
    /// Counts a playlist request and, if a playlist fault is pending, consumes one of its
    /// answers.
    pub fn begin_playlist(&mut self) -> Option<Fault> {
        self.counters.playlist_requests += 1;
        take_fault(&mut self.playlist_fault)
    }

    /// Counts the status a playlist request was answered with.
    pub fn end_playlist(&mut self, status: u16) {
        match status {
            403 => self.counters.playlist_403 += 1,
            500 => self.counters.playlist_500 += 1,
            _ => {}
        }
    }

    /// A playlist poll for the session at `infohash`/`token`; counts as player activity.
    pub fn playlist(&mut self, infohash: &str, token: &str, now: Instant) -> Playlist {
        if let Err(refusal) = self.admit(infohash, token, now) {
            return refusal.into();
        }
        let Some(clock) = self.clocks.get_mut(infohash) else {
            return Playlist::Unknown;
        };
        let visible = clock.show(self.settings.segment_ms, self.burst, now);
        match playlist::window(visible, self.settings.window) {
            Some(window) => Playlist::Ready {
                infohash: infohash.to_owned(),
                window,
                off_host: self.off_host.clone(),
            },
            None => Playlist::Prebuffering {
                until: clock.ready_at(self.settings.segment_ms * self.burst),
            },
        }
    }

    /// A fetch of segment `n` of `infohash`: `true` (and counted, and player activity for every
    /// live session on that content) when it exists.
    pub fn segment(&mut self, infohash: &str, n: u64, now: Instant) -> bool {
        self.expire_idle(now);
        self.counters.segment_requests += 1;
        let Some(clock) = self.clocks.get(infohash) else {
            return false;
        };
        if n >= clock.available(self.settings.segment_ms, now) {
            return false;
        }
        *self.fetches.entry((infohash.to_owned(), n)).or_default() += 1;
        let live = self
            .sessions
            .values_mut()
            .filter(|s| s.infohash == infohash);
        for session in live.filter(|s| s.state == State::Live) {
            session.last_activity = now;
        }
        true
    }

    /// The stat of a live session; `None` for a dead or unknown one. Counts as player activity
    /// unless `touch` is false.
    pub fn stat(&mut self, infohash: &str, token: &str, touch: bool, now: Instant) -> Option<Stat> {
        self.expire_idle(now);
        let session = self.find_live_mut(infohash, token)?;
        if touch {
            session.last_activity = now;
        }
        let clock = self.clocks.get(infohash)?;
        Some(clock.stat(&self.settings, self.burst, now))
    }
}

impl From<Refusal> for Playlist {
    fn from(refusal: Refusal) -> Playlist {
        match refusal {
            Refusal::Unknown => Playlist::Unknown,
            Refusal::Forbidden => Playlist::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::engine::{Settings, Starter};

    #[test]
    fn playlist_prebuffers_then_slides() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let s = e.start("p1", A, Starter::Json, t0);
        assert_eq!(
            e.playlist(&s.infohash, &s.token, ms(t0, 500)),
            Playlist::Prebuffering {
                until: ms(t0, 1000)
            }
        );
        let Playlist::Ready { window, .. } = e.playlist(&s.infohash, &s.token, ms(t0, 5500)) else {
            panic!("ready")
        };
        assert_eq!(window, Window { first: 2, count: 3 });
    }

    #[test]
    fn segments_exist_on_the_clock_and_are_counted() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        assert!(!e.segment(&a.infohash, 0, ms(t0, 999)));
        assert!(e.segment(&a.infohash, 0, ms(t0, 1000)));
        assert!(e.segment(&a.infohash, 0, ms(t0, 1100)));
        assert!(e.segment(&a.infohash, 1, ms(t0, 2000)));
        assert!(!e.segment("unknown", 0, ms(t0, 2000)));
        let snap = e.snapshot(ms(t0, 2000));
        assert_eq!(snap.counters.segment_requests, 5);
        assert_eq!(
            (snap.distinct_segments, snap.max_fetches_per_segment),
            (2, 2)
        );
    }

    #[test]
    fn stat_reports_prebuffering_then_playing() {
        let mut e = engine(Settings {
            prebuffer_ms: 1000,
            ..settings()
        });
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        let early = e.stat(&a.infohash, &a.token, true, ms(t0, 1000)).unwrap();
        assert_eq!(early.prebuffer_progress, Some(50));
        let late = e.stat(&a.infohash, &a.token, true, ms(t0, 4000)).unwrap();
        assert_eq!(late.prebuffer_progress, None);
        assert_eq!(late.downloaded, 3 * 188);
        assert_eq!(late.last_ts - late.first_ts, 3);
    }

    #[test]
    fn a_killed_broadcast_stops_growing_and_has_no_peers() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        assert_eq!(
            e.stat(&a.infohash, &a.token, false, ms(t0, 2500))
                .unwrap()
                .peers,
            7
        );
        assert!(e.kill(A, ms(t0, 2500)));
        assert!(
            !e.segment(&a.infohash, 2, ms(t0, 9000)),
            "nothing new after death"
        );
        assert!(
            e.segment(&a.infohash, 1, ms(t0, 9000)),
            "what existed stays"
        );
        let stat = e.stat(&a.infohash, &a.token, false, ms(t0, 9000)).unwrap();
        assert_eq!((stat.peers, stat.downloaded), (0, 2 * 188));
        let later = e.start("p2", A, Starter::Json, ms(t0, 9000));
        let Playlist::Ready { window, .. } =
            e.playlist(&later.infohash, &later.token, ms(t0, 12_000))
        else {
            panic!("the old window is still listed")
        };
        assert_eq!(window.first + window.count, 2);
        assert!(!e.kill("b".repeat(40).as_str(), t0), "never played");
    }
}
