//! The runtime knobs `/sim/config` turns: the burst, off-host playlist lines, start, playlist
//! and segment faults (each for a number of answers), failing content ids, the prebuffer, TS and
//! segment stalls and one oversized segment; and the start queries kept for `/sim/stats`.
//!
//! This module owns arming and using up those knobs. It never reads a query string (that is
//! `crate::control`), never answers a request and never reads a clock.

use std::time::{Duration, Instant};

use super::Engine;

/// How many start queries `/sim/stats` shows, newest last.
const START_QUERIES_KEPT: usize = 64;

/// How a start or playlist request misbehaves on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status with a short text body.
    Status(u16),
    /// 200 with a body that is neither JSON nor a playlist.
    Garbage,
}

/// A change of runtime knobs from `/sim/config`; `None` leaves a knob as it is.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KnobChange {
    pub burst: Option<u64>,
    /// Slip a segment line naming this `host:port` into playlists; `Some(None)` stops it.
    pub off_host: Option<Option<String>>,
    /// The next `count` playlist requests misbehave so.
    pub playlist_fault: Option<(Fault, u64)>,
    /// The next `count` start requests (either format) misbehave so.
    pub start_fault: Option<(Fault, u64)>,
    /// The next `count` segment requests misbehave so.
    pub segment_fault: Option<(Fault, u64)>,
    pub fail_ids: Vec<String>,
    pub prebuffer_ms: Option<u64>,
    /// TS streams, open or opened in this window, send nothing for this many ms from now.
    pub ts_stall_ms: Option<u64>,
    /// Segment requests made in this window are answered only at its end, this many ms from now.
    pub segment_stall_ms: Option<u64>,
    /// The next segment served has this many bytes instead of its own.
    pub oversize_segment: Option<usize>,
}

impl Engine {
    /// Whether starting `content` fails (`/sim/config?fail_id=`).
    pub fn is_failing(&self, content: &str) -> bool {
        self.failing.contains(content)
    }

    /// Records a start request's raw query and, if a start fault is pending, consumes one of
    /// its answers.
    pub fn begin_start(&mut self, query: &str) -> Option<Fault> {
        if self.start_queries.len() == START_QUERIES_KEPT {
            self.start_queries.pop_front();
        }
        self.start_queries.push_back(query.to_owned());
        take_fault(&mut self.start_fault)
    }

    /// Consumes one answer of a pending segment fault, if any.
    pub fn take_segment_fault(&mut self) -> Option<Fault> {
        take_fault(&mut self.segment_fault)
    }

    /// Until when a segment request made at `now` is held, if segments are stalled.
    pub fn segment_stall(&self, now: Instant) -> Option<Instant> {
        self.segment_stall_until.filter(|until| now < *until)
    }

    /// The size the next segment served must have instead of its own, once.
    pub fn take_oversize_segment(&mut self) -> Option<usize> {
        self.oversize_segment.take()
    }

    /// Applies `/sim/config` knobs at `now`.
    pub fn configure(&mut self, change: KnobChange, now: Instant) {
        if let Some(burst) = change.burst {
            self.burst = burst.max(1);
        }
        if let Some(off_host) = change.off_host {
            self.off_host = off_host;
        }
        if let Some(pending) = change.playlist_fault {
            self.playlist_fault = Some(pending).filter(|(_, count)| *count > 0);
        }
        if let Some(pending) = change.start_fault {
            self.start_fault = Some(pending).filter(|(_, count)| *count > 0);
        }
        if let Some(pending) = change.segment_fault {
            self.segment_fault = Some(pending).filter(|(_, count)| *count > 0);
        }
        self.failing.extend(change.fail_ids);
        if let Some(ms) = change.prebuffer_ms {
            self.settings.prebuffer_ms = ms;
        }
        if let Some(ms) = change.ts_stall_ms {
            self.ts_stall_until = Some(now + Duration::from_millis(ms));
        }
        if let Some(ms) = change.segment_stall_ms {
            self.segment_stall_until = Some(now + Duration::from_millis(ms));
        }
        if let Some(bytes) = change.oversize_segment {
            self.oversize_segment = Some(bytes);
        }
    }
}

/// Consumes one answer of a pending fault: the fault, or `None` when none is pending.
pub(super) fn take_fault(pending: &mut Option<(Fault, u64)>) -> Option<Fault> {
    let (fault, left) = (*pending)?;
    *pending = (left > 1).then_some((fault, left - 1));
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::engine::{Playlist, Starter};
    use crate::playlist::Window;

    #[test]
    fn knobs_change_what_playlists_show() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        e.configure(
            KnobChange {
                burst: Some(2),
                off_host: Some(Some("127.0.0.2:9".to_owned())),
                playlist_fault: Some((Fault::Status(503), 2)),
                fail_ids: vec![A.to_owned()],
                prebuffer_ms: Some(500),
                ..KnobChange::default()
            },
            t0,
        );
        assert!(e.is_failing(A));
        assert_eq!(e.begin_playlist(), Some(Fault::Status(503)));
        assert_eq!(e.begin_playlist(), Some(Fault::Status(503)));
        assert_eq!(e.begin_playlist(), None);
        let s = e.start("p1", "other", Starter::Json, t0);
        assert_eq!(
            e.playlist(&s.infohash, &s.token, ms(t0, 1600)),
            Playlist::Prebuffering {
                until: ms(t0, 2500)
            }
        );
        let Playlist::Ready {
            window, off_host, ..
        } = e.playlist(&s.infohash, &s.token, ms(t0, 3600))
        else {
            panic!("ready")
        };
        assert_eq!(
            (window, off_host.as_deref()),
            (Window { first: 0, count: 2 }, Some("127.0.0.2:9"))
        );
    }

    #[test]
    fn start_faults_are_used_up_and_every_start_query_is_kept() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        e.configure(
            KnobChange {
                start_fault: Some((Fault::Garbage, 2)),
                ..KnobChange::default()
            },
            t0,
        );
        assert_eq!(e.begin_start("id=1"), Some(Fault::Garbage));
        assert_eq!(e.begin_start("id=2"), Some(Fault::Garbage));
        assert_eq!(e.begin_start("id=3"), None);
        for n in 4..=START_QUERIES_KEPT + 3 {
            e.begin_start(&format!("id={n}"));
        }
        let queries = e.snapshot(t0).start_queries;
        assert_eq!(queries.len(), START_QUERIES_KEPT);
        assert_eq!(queries[0], "id=4", "the oldest are dropped");
        assert_eq!(
            queries.last().unwrap(),
            &format!("id={}", START_QUERIES_KEPT + 3)
        );
    }

    #[test]
    fn segment_faults_stalls_and_oversize_are_used_up() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        assert_eq!(e.segment_stall(t0), None);
        e.configure(
            KnobChange {
                segment_stall_ms: Some(500),
                oversize_segment: Some(1000),
                ..KnobChange::default()
            },
            t0,
        );
        assert_eq!(e.take_segment_fault(), None);
        e.configure(
            KnobChange {
                segment_fault: Some((Fault::Status(500), 1)),
                ..KnobChange::default()
            },
            t0,
        );
        assert_eq!(e.take_segment_fault(), Some(Fault::Status(500)));
        assert_eq!(e.take_segment_fault(), None);
        assert_eq!(e.segment_stall(ms(t0, 499)), Some(ms(t0, 500)));
        assert_eq!(e.segment_stall(ms(t0, 500)), None);
        assert_eq!(e.take_oversize_segment(), Some(1000));
        assert_eq!(e.take_oversize_segment(), None);
    }
}
