//! The MPEG-TS side of a session: `/ace/r/` hands out a fresh `/content/` path once the content
//! has packets, and `/content/` opens the one stream a session may have, which sends the burst
//! and then keeps pace with the content's packet clock.
//!
//! This module owns the paths handed out, the open streams (a session with one never idles out)
//! and which packets each stream sends next. It never produces packet bytes (that is
//! `crate::media`), never waits between steps (that is `crate::stream`) and never reads a clock.

use std::ops::Range;
use std::time::Instant;

use super::Engine;
use super::sessions::{Owner, Refusal, is_current};
use crate::config::TS_PACKET;
use crate::ids;

/// The most packets one step of a TS stream hands out, so that a burst is sent in pieces and a
/// stream notices its session's end between them.
const TS_STEP_PACKETS: u64 = 256;

/// What `/ace/r/<infohash>/<token>` gets.
#[derive(Debug, PartialEq, Eq)]
pub enum TsStart {
    /// No such session, or it was stopped: 500.
    Unknown,
    /// Superseded, expired or an old rotated token: 403.
    Forbidden,
    /// The content has no packet yet; ask again at this instant.
    Prebuffering { until: Instant },
    /// Redirect to `/content/<infohash>/<path>`.
    Ready { path: String },
}

/// What `/content/<infohash>/<path>` gets.
#[derive(Debug, PartialEq, Eq)]
pub enum TsOpen {
    /// An unknown path, or its session has ended: 404.
    NotFound,
    /// Another stream of the same session is open: a broken answer.
    Corrupt,
    Stream(TsReader),
}

/// One open TS stream: whose it is and the next packet it sends. Hand it back to
/// [`Engine::close_ts`] when the stream ends.
#[derive(Debug, PartialEq, Eq)]
pub struct TsReader {
    owner: Owner,
    pub path: String,
    next: u64,
}

/// What a TS stream does next.
#[derive(Debug, PartialEq, Eq)]
pub enum TsStep {
    /// Its session has ended: end the body.
    End,
    /// Nothing to send now (no new packet yet, or stalled on purpose): look again shortly.
    Idle,
    /// Send these packets.
    Send(Range<u64>),
}

impl Engine {
    /// Counts a `/ace/r/` request.
    pub fn begin_ts(&mut self) {
        self.counters.ts_requests += 1;
    }

    /// A `/ace/r/` request for the session at `infohash`/`token`; counts as player activity.
    /// Once the content has packets, hands out a fresh `/content/` path of that session.
    pub fn start_ts(&mut self, infohash: &str, token: &str, now: Instant) -> TsStart {
        let owner = match self.admit(infohash, token, now) {
            Ok(owner) => owner,
            Err(refusal) => return refusal.into(),
        };
        let Some(clock) = self.clocks.get(infohash) else {
            return TsStart::Unknown;
        };
        if clock.ts_packets(self.settings.ts_bitrate, now) == 0 {
            return TsStart::Prebuffering {
                until: clock.live_at(),
            };
        }
        self.serial += 1;
        let path = ids::content_path(self.seed, self.serial);
        let sessions = &self.sessions;
        self.ts_paths.retain(|_, o| is_current(sessions, o));
        self.ts_paths.insert(path.clone(), owner);
        TsStart::Ready { path }
    }

    /// A `/content/<infohash>/<path>` request: a stream from the burst's first packet moved by
    /// `align`, unless the path is unknown, its session has ended, or the session already has a
    /// stream open.
    pub fn open_ts(
        &mut self,
        infohash: &str,
        path: &str,
        align: impl FnOnce(u64) -> u64,
        now: Instant,
    ) -> TsOpen {
        self.expire_idle(now);
        let owner = self.ts_paths.get(path).filter(|o| o.infohash == infohash);
        let Some(owner) = owner.filter(|o| is_current(&self.sessions, o)).cloned() else {
            return TsOpen::NotFound;
        };
        let Some(clock) = self.clocks.get(infohash) else {
            return TsOpen::NotFound;
        };
        let live = clock.ts_packets(self.settings.ts_bitrate, now);
        let open = self
            .open_streams
            .entry(owner.session_id.clone())
            .or_default();
        *open += 1;
        let c = &mut self.counters;
        c.ts_max_concurrent_per_session = c.ts_max_concurrent_per_session.max(*open);
        if *open > 1 {
            *open -= 1;
            c.ts_corrupt += 1;
            return TsOpen::Corrupt;
        }
        c.ts_streams += 1;
        self.touch(&owner, now);
        let burst = self.settings.ts_burst_packets;
        TsOpen::Stream(TsReader {
            owner,
            path: path.to_owned(),
            next: align(live.saturating_sub(1).saturating_sub(burst)),
        })
    }

    /// The next step of an open stream; packets it is told to send count as sent.
    pub fn step_ts(&mut self, reader: &mut TsReader, now: Instant) -> TsStep {
        if !is_current(&self.sessions, &reader.owner) {
            return TsStep::End;
        }
        if self.ts_stall_until.is_some_and(|until| now < until) {
            return TsStep::Idle;
        }
        let Some(clock) = self.clocks.get(&reader.owner.infohash) else {
            return TsStep::End;
        };
        let live = clock.ts_packets(self.settings.ts_bitrate, now);
        if reader.next >= live {
            return TsStep::Idle;
        }
        let packets = reader.next..live.min(reader.next + TS_STEP_PACKETS);
        reader.next = packets.end;
        self.counters.ts_bytes += (packets.end - packets.start) * TS_PACKET as u64;
        TsStep::Send(packets)
    }

    /// A stream has ended; its session's idle time starts now.
    pub fn close_ts(&mut self, reader: &TsReader, now: Instant) {
        let id = &reader.owner.session_id;
        if let Some(open) = self.open_streams.get_mut(id) {
            *open -= 1;
            if *open == 0 {
                self.open_streams.remove(id);
            }
        }
        self.touch(&reader.owner, now);
    }
}

impl From<Refusal> for TsStart {
    fn from(refusal: Refusal) -> TsStart {
        match refusal {
            Refusal::Unknown => TsStart::Unknown,
            Refusal::Forbidden => TsStart::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::engine::{KnobChange, Settings, Started, Starter, State};

    /// Leaves a stream's first packet where the burst puts it.
    fn same(p: u64) -> u64 {
        p
    }

    /// Starts `A` for `pid` at `t0` and opens its TS stream `at` ms later.
    fn open(e: &mut Engine, pid: &str, t0: Instant, at: u64) -> (Started, TsReader) {
        let s = e.start(pid, A, Starter::Json, t0);
        let TsStart::Ready { path } = e.start_ts(&s.infohash, &s.token, ms(t0, at)) else {
            panic!("ready")
        };
        let TsOpen::Stream(reader) = e.open_ts(&s.infohash, &path, same, ms(t0, at)) else {
            panic!("a stream")
        };
        (s, reader)
    }

    #[test]
    fn ts_start_waits_for_the_prebuffer_and_hands_out_fresh_paths() {
        let mut e = engine(Settings {
            prebuffer_ms: 1000,
            ..settings()
        });
        let t0 = Instant::now();
        let s = e.start("p1", A, Starter::Json, t0);
        assert_eq!(
            e.start_ts(&s.infohash, &s.token, ms(t0, 400)),
            TsStart::Prebuffering {
                until: ms(t0, 1000)
            }
        );
        let TsStart::Ready { path: a } = e.start_ts(&s.infohash, &s.token, ms(t0, 1000)) else {
            panic!("ready")
        };
        let TsStart::Ready { path: b } = e.start_ts(&s.infohash, &s.token, ms(t0, 1000)) else {
            panic!("ready")
        };
        assert_ne!(a, b);
        assert_eq!(e.open_ts("other", &a, same, ms(t0, 1000)), TsOpen::NotFound);
        assert_eq!(
            e.open_ts(&s.infohash, "nope", same, ms(t0, 1000)),
            TsOpen::NotFound
        );
        assert_eq!(
            e.start_ts(&s.infohash, "nope", ms(t0, 1000)),
            TsStart::Unknown
        );
        e.supersede(A, ms(t0, 1000));
        assert_eq!(
            e.start_ts(&s.infohash, &s.token, ms(t0, 1000)),
            TsStart::Forbidden
        );
        assert_eq!(
            e.open_ts(&s.infohash, &a, same, ms(t0, 1000)),
            TsOpen::NotFound
        );
    }

    #[test]
    fn a_stream_sends_the_burst_then_keeps_pace() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let (_, mut reader) = open(&mut e, "p1", t0, 5000);
        // 1000 packets a second: packets 0..=5000 exist, the burst is the 100 before the live one.
        assert_eq!(
            e.step_ts(&mut reader, ms(t0, 5000)),
            TsStep::Send(4900..5001)
        );
        assert_eq!(e.step_ts(&mut reader, ms(t0, 5000)), TsStep::Idle);
        assert_eq!(
            e.step_ts(&mut reader, ms(t0, 5050)),
            TsStep::Send(5001..5051)
        );
        assert_eq!(
            e.step_ts(&mut reader, ms(t0, 6000)),
            TsStep::Send(5051..5307)
        );
        let snap = e.snapshot(ms(t0, 6000));
        assert_eq!(snap.counters.ts_bytes, (5307 - 4900) * 188);
        assert_eq!((snap.counters.ts_streams, snap.ts_open), (1, 1));
    }

    #[test]
    fn the_media_may_move_the_first_packet() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let s = e.start("p1", A, Starter::Json, t0);
        let TsStart::Ready { path } = e.start_ts(&s.infohash, &s.token, ms(t0, 5000)) else {
            panic!("ready")
        };
        let to_thousands = |p| p / 1000 * 1000;
        let TsOpen::Stream(mut reader) = e.open_ts(&s.infohash, &path, to_thousands, ms(t0, 5000))
        else {
            panic!("a stream")
        };
        assert_eq!(
            e.step_ts(&mut reader, ms(t0, 5000)),
            TsStep::Send(4000..4256)
        );
    }

    #[test]
    fn a_second_reader_of_a_session_is_refused_until_the_first_closes() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let (s, reader) = open(&mut e, "p1", t0, 0);
        let TsStart::Ready { path } = e.start_ts(&s.infohash, &s.token, t0) else {
            panic!("ready")
        };
        assert_eq!(e.open_ts(&s.infohash, &path, same, t0), TsOpen::Corrupt);
        assert_eq!(e.snapshot(t0).ts_open, 1);
        e.close_ts(&reader, t0);
        assert_eq!(e.snapshot(t0).ts_open, 0);
        assert!(matches!(
            e.open_ts(&s.infohash, &path, same, t0),
            TsOpen::Stream(_)
        ));
        let c = e.snapshot(t0).counters;
        assert_eq!((c.ts_streams, c.ts_corrupt), (2, 1));
        assert_eq!(c.ts_max_concurrent_per_session, 2);
    }

    #[test]
    fn a_stream_ends_with_its_session() {
        let t0 = Instant::now();
        let ended = |act: &dyn Fn(&mut Engine, &Started)| {
            let mut e = engine(settings());
            let (s, mut reader) = open(&mut e, "p1", t0, 0);
            act(&mut e, &s);
            e.step_ts(&mut reader, ms(t0, 1)) == TsStep::End
        };
        assert!(!ended(&|_, _| {}));
        assert!(ended(&|e, s| assert!(e.stop(&s.infohash, &s.token, t0))));
        assert!(ended(&|e, _| {
            e.supersede(A, t0);
        }));
        assert!(ended(&|e, _| assert_eq!(e.expire(A, t0), 1)));
        assert!(ended(&|e, _| e.restart()));
        assert!(ended(&|e, _| {
            e.start("p1", A, Starter::Json, t0);
        }));
    }

    #[test]
    fn an_open_stream_keeps_its_session_alive() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let (_, reader) = open(&mut e, "p1", t0, 0);
        assert_eq!(e.snapshot(ms(t0, 60_000)).sessions[0].state, State::Live);
        e.close_ts(&reader, ms(t0, 60_000));
        assert_eq!(e.snapshot(ms(t0, 69_000)).sessions[0].state, State::Live);
        assert_eq!(e.snapshot(ms(t0, 70_000)).sessions[0].state, State::Expired);
    }

    #[test]
    fn a_stall_holds_streams_back_once_without_skipping() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let (_, mut reader) = open(&mut e, "p1", t0, 0);
        assert_eq!(e.step_ts(&mut reader, t0), TsStep::Send(0..1));
        e.configure(
            KnobChange {
                ts_stall_ms: Some(500),
                ..KnobChange::default()
            },
            t0,
        );
        assert_eq!(e.step_ts(&mut reader, ms(t0, 499)), TsStep::Idle);
        assert_eq!(e.step_ts(&mut reader, ms(t0, 500)), TsStep::Send(1..257));
    }
}
