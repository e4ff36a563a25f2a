//! Several engines: which engines acebox plays from, how many channels each holds, whether each
//! is up, and the choice of one for a channel.
//!
//! [`Engines`] owns the fixed table of at most [`MAX_ENGINES`] engines given on the command
//! line, each with its limit of channels, the channels placed on it (claimed with a
//! compare-and-swap, so simultaneous opens never overfill one) and its [`Health`]. A [`Claim`]
//! is one channel's place on one engine, given back when dropped. Health is judged from checks
//! of the engine's version endpoint and from what channels saw:
//! - an engine that does not accept a connection is down at once (its process is gone);
//! - one that fails a check otherwise (a timeout: hung, or a broken answer) is checked again
//!   half a second later, and is down after [`DOWN_AFTER`] failures in a row;
//! - a channel that saw an engine fail asks for a check at once ([`Engines::suspect`]);
//! - a down engine is out of placement and probed with a backoff ([`PROBE_FIRST`] doubling to
//!   [`PROBE_LAST`]) until it answers again.
//!
//! It never calls an engine, never moves a channel (the registry does, when an engine goes
//! down) and never reads the clock: callers pass `now`.
//!
//! Over 400 lines: the last 110 are its tests, which claim from threads and move time.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Engine, EngineError};
use crate::board::{MAX_CHANNELS, MAX_ENGINES};
use crate::counters::Counter;
use crate::session::Session;

/// How often an engine that is up is checked: a request for a few bytes, answered by the
/// engine's own web server.
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// After a check that failed, the next comes this soon.
const CONFIRM_AFTER: Duration = Duration::from_millis(500);
/// Failed checks in a row that take an engine out of placement.
const DOWN_AFTER: u32 = 2;
/// A down engine is probed after this, then twice as long each time, up to [`PROBE_LAST`].
const PROBE_FIRST: Duration = Duration::from_secs(1);
const PROBE_LAST: Duration = Duration::from_secs(60);
/// Characters of an engine's last error kept for the views.
const ERROR_BYTES: usize = 160;
/// Sessions left on an engine that could not be stopped, kept to stop once it answers again.
const ORPHANS: usize = 8;

/// The sessions an engine did not answer the stop of ([`Member::orphan`]).
pub type Orphans = heapless::Vec<Session, ORPHANS>;

/// The engines acebox plays from, in the order given; the first is the default.
pub struct Engines {
    members: heapless::Vec<Member, MAX_ENGINES>,
}

/// One engine of the table.
pub struct Member {
    pub engine: Engine,
    /// The most channels placed on it at once.
    pub limit: usize,
    placed: AtomicUsize,
    health: Mutex<Health>,
    /// Sessions of channels that moved off the engine while it did not answer their stop: they
    /// are stopped when it answers again, so that no channel plays from two engines for long.
    orphans: Mutex<Orphans>,
    /// Fired when a channel asks for a check at once.
    doubt: event_listener::Event,
    /// Health checks made, checks failed, and channels moved off it.
    pub checks: Counter,
    pub failures: Counter,
    pub failovers: Counter,
}

/// What acebox knows of an engine's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub up: bool,
    /// Failed checks in a row.
    pub failing: u32,
    /// When the next check is due (milliseconds of the caller's clock).
    pub due: u64,
    /// The wait before the next probe while down.
    backoff: u64,
    /// The version the engine last said it runs (empty until a check answered).
    pub version: heapless::String<16>,
    /// The latest failure, and when (milliseconds of the caller's clock).
    pub last_error: Option<(heapless::String<ERROR_BYTES>, u64)>,
}

/// What a check or a failure changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    /// The engine is out of placement: its channels move away.
    Down,
    /// The engine answers again.
    Up,
}

/// Why no engine was found for a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEngine {
    /// Every engine that is up plays its limit of channels.
    Full,
    /// No engine is up.
    Down,
}

impl fmt::Display for NoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoEngine::Full => "every AceStream engine already plays its limit of channels",
            NoEngine::Down => {
                "no AceStream engine answers; acebox keeps checking them and plays again \
                 once one does"
            }
        })
    }
}

impl std::error::Error for NoEngine {}

/// A channel's place on one engine, given back when dropped (a channel drops it when it
/// leaves acebox's list, though its tasks may hold the channel a moment longer).
pub struct Claim {
    engines: Arc<Engines>,
    index: usize,
}

impl Claim {
    /// Which engine, as an index into the table.
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn engine(&self) -> &Engine {
        &self.engines.members[self.index].engine
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.engines.members[self.index]
            .placed
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl Engines {
    /// The engines `first` (the default) and `more` (at most [`MAX_ENGINES`] in all, the rest
    /// left out), each with its limit of channels or the board's; all up, first checked at
    /// `now`.
    pub fn new(
        first: (Engine, Option<usize>),
        more: impl IntoIterator<Item = (Engine, Option<usize>)>,
        now: u64,
    ) -> Engines {
        let mut members = heapless::Vec::new();
        for (engine, limit) in std::iter::once(first).chain(more) {
            let member = Member {
                engine,
                limit: limit.unwrap_or(MAX_CHANNELS),
                placed: AtomicUsize::new(0),
                health: Mutex::new(Health {
                    up: true,
                    failing: 0,
                    due: now,
                    backoff: 0,
                    version: heapless::String::new(),
                    last_error: None,
                }),
                orphans: Mutex::new(heapless::Vec::new()),
                doubt: event_listener::Event::new(),
                checks: Counter::default(),
                failures: Counter::default(),
                failovers: Counter::default(),
            };
            if members.push(member).is_err() {
                break;
            }
        }
        Engines { members }
    }

    /// How many engines there are: at least one.
    pub fn count(&self) -> usize {
        self.members.len()
    }

    /// Engine `index` of the table, or the default (the first) past its end.
    pub fn get(&self, index: usize) -> &Member {
        // Never empty: `new` takes a first engine, and the table holds at least one.
        self.members.get(index).unwrap_or(&self.members[0])
    }

    /// Every engine, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// A place for a channel on the engine that is up, is not `avoid` and has the most room;
    /// claimed atomically, so simultaneous claims never take more than an engine's limit.
    pub fn claim(self: &Arc<Self>, avoid: Option<usize>) -> Result<Claim, NoEngine> {
        loop {
            let (index, placed) = self.roomiest(avoid)?;
            let member = &self.members[index];
            let taken = member.placed.compare_exchange(
                placed,
                placed + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if taken.is_ok() {
                return Ok(Claim {
                    engines: self.clone(),
                    index,
                });
            }
            // Another claim took a place meanwhile: look again.
        }
    }

    /// Whether a claim would find a place now (it claims nothing).
    pub fn has_room(&self) -> Result<(), NoEngine> {
        self.roomiest(None).map(|_| ())
    }

    /// The engine that is up, is not `avoid` and has the most room, and how many channels it
    /// holds.
    fn roomiest(&self, avoid: Option<usize>) -> Result<(usize, usize), NoEngine> {
        let mut any_up = false;
        let mut best: Option<(usize, usize, usize)> = None;
        for (index, member) in self.members.iter().enumerate() {
            if Some(index) == avoid || !member.health().up {
                continue;
            }
            any_up = true;
            let placed = member.placed.load(Ordering::Acquire);
            let room = member.limit.saturating_sub(placed);
            if room > 0 && best.is_none_or(|(_, _, most)| room > most) {
                best = Some((index, placed, room));
            }
        }
        match best {
            Some((index, placed, _)) => Ok((index, placed)),
            None if any_up => Err(NoEngine::Full),
            None => Err(NoEngine::Down),
        }
    }
}

impl Member {
    /// A copy of what is known of the engine's health.
    pub fn health(&self) -> Health {
        crate::lock(&self.health).clone()
    }

    /// Channels placed on the engine now.
    pub fn placed(&self) -> usize {
        self.placed.load(Ordering::Acquire)
    }

    /// Whether a check is due at `now`.
    pub fn is_due(&self, now: u64) -> bool {
        now >= self.due()
    }

    /// When the next check is due (milliseconds of the caller's clock).
    pub fn due(&self) -> u64 {
        crate::lock(&self.health).due
    }

    /// A listener that fires when a channel asks for a check at once ([`Member::suspect`]);
    /// take it before looking at [`Member::due`].
    pub fn doubted(&self) -> event_listener::EventListener {
        self.doubt.listen()
    }

    /// A check at `now` answered with the engine's `version`, or failed with `error`.
    pub fn checked(&self, outcome: Result<&str, &EngineError>, now: u64) -> Change {
        self.checks.add(1);
        match outcome {
            Ok(version) => self.answered(version, now),
            Err(error) => self.saw(error, now),
        }
    }

    /// `session` could not be stopped (the engine did not answer): it is stopped once the engine
    /// answers again. When more than [`ORPHANS`] wait, the oldest is left to the engine's own
    /// idle timeout.
    pub fn orphan(&self, session: Session) {
        let mut orphans = crate::lock(&self.orphans);
        if orphans.is_full() {
            orphans.remove(0);
        }
        // Cannot fail: room was made.
        let _ = orphans.push(session);
    }

    /// How many sessions wait to be stopped once the engine answers again.
    pub fn orphans(&self) -> usize {
        crate::lock(&self.orphans).len()
    }

    /// The sessions waiting to be stopped, taken.
    pub fn take_orphans(&self) -> Orphans {
        std::mem::take(&mut *crate::lock(&self.orphans))
    }

    /// A channel saw the engine fail: check it at once.
    pub fn suspect(&self) {
        crate::lock(&self.health).due = 0;
        self.doubt.notify(usize::MAX);
    }

    /// When the engine answered a check at `now`: up, checked again in [`CHECK_EVERY`].
    fn answered(&self, version: &str, now: u64) -> Change {
        let mut health = crate::lock(&self.health);
        let was_up = health.up;
        health.up = true;
        health.failing = 0;
        health.backoff = 0;
        health.due = now + CHECK_EVERY.as_millis() as u64;
        health.version = crate::clip(version);
        if was_up {
            Change::Unchanged
        } else {
            Change::Up
        }
    }

    /// A check, or a channel's call, failed at `now` with `error`: the engine is down at once if
    /// it is not there at all, else after [`DOWN_AFTER`] failures in a row (the next check
    /// comes a second later to confirm); while down, it is probed with backoff.
    pub fn saw(&self, error: &EngineError, now: u64) -> Change {
        self.failures.add(1);
        let text: heapless::String<ERROR_BYTES> = crate::clip(&error.to_string());
        let mut health = crate::lock(&self.health);
        health.last_error = Some((text, now));
        health.failing = health.failing.saturating_add(1);
        let gone = matches!(error, EngineError::Unreachable(_));
        if health.up && !gone && health.failing < DOWN_AFTER {
            health.due = now + CONFIRM_AFTER.as_millis() as u64;
            return Change::Unchanged;
        }
        let went_down = health.up;
        health.up = false;
        health.backoff = match health.backoff {
            0 => PROBE_FIRST.as_millis() as u64,
            wait => (wait * 2).min(PROBE_LAST.as_millis() as u64),
        };
        health.due = now + health.backoff;
        if went_down {
            Change::Down
        } else {
            Change::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Origin;

    const S: u64 = 1000;

    fn engines(limits: &[Option<usize>]) -> Arc<Engines> {
        let mut given = limits.iter().enumerate().map(|(n, limit)| {
            let origin = Origin::parse(&format!("http://127.0.0.{}:6878", n + 1)).unwrap();
            (Engine::new(origin), *limit)
        });
        let first = given.next().unwrap();
        Arc::new(Engines::new(first, given, 0))
    }

    #[test]
    fn a_channel_goes_to_the_engine_with_the_most_room_and_none_overfills() {
        let pool = engines(&[Some(1), Some(3), None]);
        let board = MAX_CHANNELS;
        let first = pool.claim(None).unwrap();
        assert_eq!(first.index(), if board > 3 { 2 } else { 1 });
        let mut held = vec![first];
        while let Ok(claim) = pool.claim(None) {
            held.push(claim);
        }
        assert_eq!(held.len(), 1 + 3 + board);
        assert_eq!(pool.claim(None).err(), Some(NoEngine::Full));
        let placed: Vec<usize> = pool.iter().map(Member::placed).collect();
        assert_eq!(placed, [1, 3, board]);
        held.retain(|c| c.index() != 1);
        assert_eq!(pool.get(1).placed(), 0, "given back when dropped");
        assert_eq!(pool.claim(Some(1)).err(), Some(NoEngine::Full), "avoided");
        assert_eq!(pool.claim(None).unwrap().index(), 1);
    }

    /// Claims from many threads at once never take more than the limits.
    #[test]
    fn simultaneous_claims_never_overfill_an_engine() {
        let pool = engines(&[Some(2), Some(3)]);
        let claims: Vec<Claim> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| pool.claim(None).ok()))
                .collect();
            threads
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .collect()
        });
        assert_eq!(claims.len(), 5);
        let on = |i| claims.iter().filter(|c| c.index() == i).count();
        assert_eq!((on(0), on(1)), (2, 3));
    }

    #[test]
    fn an_engine_that_is_gone_is_down_at_once_and_probed_with_backoff() {
        let pool = engines(&[None, None]);
        let member = pool.get(0);
        let gone = EngineError::Unreachable("connection refused".into());
        assert_eq!(member.checked(Err(&gone), 10 * S), Change::Down);
        assert!(!member.health().up);
        assert_eq!(pool.claim(None).unwrap().index(), 1, "out of placement");
        let mut probes = Vec::new();
        let mut now = 10 * S;
        for _ in 0..9 {
            let due = member.health().due;
            probes.push((due - now) / S);
            now = due;
            assert_eq!(member.checked(Err(&gone), now), Change::Unchanged);
        }
        assert_eq!(probes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(member.checked(Ok("3.1.70"), now), Change::Up);
        let health = member.health();
        assert_eq!((health.up, health.version.as_str()), (true, "3.1.70"));
        assert_eq!(health.due, now + CHECK_EVERY.as_millis() as u64);
        assert!(health.last_error.unwrap().0.contains("connection refused"));
    }

    #[test]
    fn sessions_left_behind_wait_to_be_stopped_the_oldest_given_up_first() {
        let pool = engines(&[None]);
        let member = pool.get(0);
        let session = |n: u8| Session {
            source: n,
            ..Session::default()
        };
        for n in 0..=ORPHANS as u8 {
            member.orphan(session(n));
        }
        let left: Vec<u8> = member.take_orphans().iter().map(|s| s.source).collect();
        assert_eq!(left, (1..=ORPHANS as u8).collect::<Vec<_>>());
        assert!(member.take_orphans().is_empty(), "taken once");
    }

    #[test]
    fn a_hung_engine_is_down_after_a_confirmed_failure() {
        let pool = engines(&[None, None]);
        let member = pool.get(1);
        assert_eq!(
            member.checked(Err(&EngineError::Timeout), 5 * S),
            Change::Unchanged
        );
        assert!(member.health().up);
        assert_eq!(
            member.health().due,
            5 * S + 500,
            "checked again half a second later"
        );
        assert_eq!(
            member.checked(Ok("3.1"), 6 * S),
            Change::Unchanged,
            "a blip"
        );
        assert_eq!(
            member.checked(Err(&EngineError::Timeout), 11 * S),
            Change::Unchanged
        );
        assert_eq!(
            member.checked(Err(&EngineError::Timeout), 12 * S),
            Change::Down
        );
        assert_eq!((member.checks.get(), member.failures.get()), (4, 3));
        member.suspect();
        assert!(
            member.is_due(0),
            "a channel's doubt makes a check due at once"
        );
        let all_down = engines(&[None]);
        let only = all_down.get(0);
        only.checked(Err(&EngineError::Unreachable("x".into())), 0);
        assert_eq!(all_down.claim(None).err(), Some(NoEngine::Down));
    }
}
