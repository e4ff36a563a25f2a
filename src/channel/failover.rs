//! Failover: when a channel's session moves from the source it plays (its id) to the next one
//! (a backup id), or from its engine to another, and the move itself.
//!
//! Owns the rule that takes a source for dead ([`Starving`]: the engine says `err`, or nothing
//! new came for [`STARVED`] while nobody shares the content) and the moves: the next source
//! becomes the active one, or the channel takes a place on another engine that is up and gives
//! back its old one; the session is started there, and a feed step still reading the old one
//! is given up. Moves on a failed start are made by the start itself (`supervise::refresh`);
//! moves off an engine found down, by the registry ([`Channel::move_engine`]). It never reads
//! or stores stream data.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Channel;
use crate::clock;
use crate::engine::{Change, Claim, EngineError, EngineStat};
use crate::session::Session;

/// How often a channel looks whether its session starves.
pub(super) const STARVE_CHECK: Duration = Duration::from_secs(1);
/// A source that has fed the channel nothing for this long while the engine reports no peers
/// for it (or gives no stat) is starved: the channel moves to its next source, or with none, to
/// another engine.
const STARVED: Duration = Duration::from_secs(10);

/// Whether the active source starves: what its newest media was when it last changed, and
/// what the engine says of it.
pub(super) struct Starving {
    newest: Newest,
    since: u64,
}

/// How far the active source has got: the engine's live position when its stat tells it (a
/// reconnect's replay of cached bytes is not news), else the bytes the channel has read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Newest {
    LivePos(u64),
    Bytes(u64),
}

impl Newest {
    pub(super) fn of(bytes: u64, stat: Option<&EngineStat>) -> Newest {
        stat.and_then(|s| s.live_pos)
            .map_or(Newest::Bytes(bytes), Newest::LivePos)
    }
}

impl Starving {
    /// Watching from `now`, when the source had got as far as `newest`.
    pub(super) fn new(newest: Newest, since: u64) -> Starving {
        Starving { newest, since }
    }

    /// Why the source is taken for dead at `now`, when it has got as far as `newest` and the
    /// engine's latest stat is `stat`: the engine says so (`err`), or nothing new came for
    /// [`STARVED`] and nobody shares the content (no peers, or no stat at all).
    pub(super) fn check(
        &mut self,
        newest: Newest,
        stat: Option<&EngineStat>,
        now: u64,
    ) -> Option<&'static str> {
        if newest != self.newest {
            *self = Starving::new(newest, now);
            return None;
        }
        if stat.is_some_and(|s| s.status == "err") {
            return Some("is dead, the engine says");
        }
        let quiet = now.saturating_sub(self.since) >= STARVED.as_millis() as u64;
        (quiet && stat.is_none_or(|s| s.peers == 0))
            .then_some("brought nothing new for 10 s and has no peers")
    }
}

impl Channel {
    /// The channel's session moves: counted, and any feed step under way on the session left
    /// behind is given up.
    fn moved(&self) {
        // The stat was of the session left behind.
        *crate::lock(&self.engine_stat) = None;
        self.moves.fetch_add(1, Ordering::AcqRel);
        self.counters.failovers.add(1);
        self.events.notify();
    }

    /// Source `index` is the channel's from now on.
    pub(super) fn moved_to(&self, index: usize) {
        self.active.store(index, Ordering::Release);
        self.moved();
    }

    /// The session starved or died (`why`): it counts against the engine, which is checked at
    /// once, and the session moves to the next source if the channel has one, else to another
    /// engine if there is one; with neither, the feed heals it where it is.
    pub(super) async fn starved(&self, why: &str) {
        let engine = self.engines.get(self.engine_index());
        engine.failures.add(1);
        engine.suspect();
        if self.sources.len() > 1 {
            self.move_on(why).await;
        } else if self.engines.count() > 1 {
            self.move_engine(self.engine_index(), why).await;
        }
    }

    /// The active source starved or died: the session moves to the next source (or, if the
    /// engine refuses that one, the ones after it).
    async fn move_on(&self, why: &str) {
        let from = self.active.load(Ordering::Acquire);
        let next = (from + 1) % self.sources.len();
        log::warn!(
            "channel {}: {} {why}; moving to backup id {}",
            self.id.as_str(),
            self.sources[from].id.as_str(),
            self.sources[next].id.as_str()
        );
        self.moved_to(next);
        self.restart_moved().await;
    }

    /// The engine the channel plays from is down: the session moves to another engine that is
    /// up and has room, if there is one (else it stays and heals where it is).
    pub async fn move_engine(&self, from: usize, why: &str) {
        if !self.switch_engine(from) {
            if self.engine_index() != from {
                // It moved already (a start there failed first): nothing more to do.
                return;
            }
            log::warn!(
                "channel {}: engine {} {why}, and no other engine has room; staying",
                self.id.as_str(),
                self.engines.get(from).engine.origin()
            );
            return;
        }
        log::warn!(
            "channel {}: engine {} {why}; moving to engine {}",
            self.id.as_str(),
            self.engines.get(from).engine.origin(),
            self.engines.get(self.engine_index()).engine.origin()
        );
        self.restart_moved().await;
    }

    /// A start failed on the channel's engine with `error` (it did not answer): the engines
    /// hear of it, and the channel takes a place on another that is up; false when none has
    /// room.
    pub(super) fn leave_engine(&self, error: &EngineError) -> bool {
        let from = self.engine_index();
        if self.engines.get(from).saw(error, clock::now_ms()) == Change::Down {
            log::warn!(
                "engine {} is down: {error}",
                self.engines.get(from).engine.origin()
            );
        }
        self.switch_engine(from)
    }

    /// Takes a place on another engine that is up and has room, giving back the one held on
    /// engine `from`; false, and nothing changed, when there is none or the channel is no
    /// longer on `from` (another move came first) or has left the list.
    fn switch_engine(&self, from: usize) -> bool {
        let Ok(claim) = self.engines.claim(Some(from)) else {
            return false;
        };
        let mut held = crate::lock(&self.claim);
        if held.as_ref().map(Claim::index) != Some(from) {
            // The new place is given back once the lock is released.
            drop(held);
            return false;
        }
        // The place given back is dropped once the lock is released.
        let _left = held.replace(claim);
        drop(held);
        self.engines.get(from).failovers.add(1);
        self.moved();
        true
    }

    /// Starts the session where the channel moved to. A start under way from before the move
    /// is shared by the first refresh: then once more.
    async fn restart_moved(&self) {
        for _ in 0..2 {
            if self.refresh().await.is_err() || self.slot.load().is_some_and(|s| self.is_placed(&s))
            {
                break;
            }
        }
    }

    /// Whether `session` plays where the channel is placed now: its active source, on its
    /// engine.
    pub(super) fn is_placed(&self, session: &Session) -> bool {
        (usize::from(session.source), usize::from(session.engine))
            == (self.active.load(Ordering::Acquire), self.engine_index())
    }

    /// Returns once the channel's session has moved to another source or engine since
    /// `moves` were made.
    pub(super) async fn moved_since(&self, moves: u64) {
        loop {
            let listener = self.events.listen();
            if self.moves.load(Ordering::Acquire) != moves {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    fn stat(status: &str, peers: u32, live_pos: Option<u64>) -> EngineStat {
        EngineStat {
            status: heapless::String::try_from(status).unwrap(),
            peers,
            live_pos,
            ..EngineStat::default()
        }
    }

    #[test]
    fn a_source_starves_when_nothing_new_comes_and_nobody_shares_it() {
        let lonely = stat("dl", 0, None);
        let mut starving = Starving::new(Newest::Bytes(100), 0);
        assert_eq!(
            starving.check(Newest::Bytes(100), Some(&lonely), 9 * S),
            None
        );
        assert!(
            starving
                .check(Newest::Bytes(100), Some(&lonely), 10 * S)
                .is_some()
        );
        assert!(
            starving.check(Newest::Bytes(100), None, 10 * S).is_some(),
            "no stat"
        );
        let shared = stat("dl", 3, None);
        assert_eq!(
            starving.check(Newest::Bytes(100), Some(&shared), 60 * S),
            None,
            "peers may still bring it"
        );
        assert_eq!(
            starving.check(Newest::Bytes(200), Some(&lonely), 61 * S),
            None,
            "news"
        );
        assert_eq!(
            starving.check(Newest::Bytes(200), Some(&lonely), 70 * S),
            None
        );
        assert!(
            starving
                .check(Newest::Bytes(200), Some(&lonely), 71 * S)
                .is_some()
        );
    }

    #[test]
    fn the_engine_saying_err_is_death_at_once() {
        let mut starving = Starving::new(Newest::Bytes(1), 0);
        let dead = stat("err", 9, None);
        assert!(starving.check(Newest::Bytes(1), Some(&dead), 1).is_some());
    }

    /// A reconnect that replays the engine's cached bytes is no sign of life when the engine's
    /// live position stands still.
    #[test]
    fn the_live_position_wins_over_bytes_read_again() {
        let frozen = stat("dl", 0, Some(1_700_000_000));
        let newest = |bytes| Newest::of(bytes, Some(&frozen));
        let mut starving = Starving::new(newest(10), 0);
        assert_eq!(
            starving.check(newest(5_000_000), Some(&frozen), 5 * S),
            None
        );
        assert!(
            starving
                .check(newest(9_000_000), Some(&frozen), 10 * S)
                .is_some()
        );
    }

    /// Two moves off one engine (a start that failed there, and the watcher that found it
    /// down) move the channel once, and hold one place.
    #[test]
    fn a_channel_leaves_an_engine_once_however_many_see_it_fail() {
        use crate::channel::{ContentId, Open};
        use crate::engine::{Engine, Engines, Mode, Selector};
        use std::sync::Arc;
        let engine =
            |n| Engine::new(crate::http::Origin::parse(&format!("http://127.0.0.{n}:1")).unwrap());
        let engines = Arc::new(Engines::new(
            (engine(1), None),
            [(engine(2), None), (engine(3), None)],
            0,
        ));
        let id = ContentId::parse(&"a".repeat(40)).unwrap();
        let open = Open {
            id: &id,
            selector: Selector::ContentId,
            mode: Mode::Hls,
            extra: "",
            name: "",
            backups: &[],
        };
        let channel = Channel::new(&open, engines.clone(), 0, 0);
        let claim = engines.claim(None).unwrap();
        let from = claim.index();
        assert!(
            !channel.switch_engine(from),
            "a channel of no place is not moved"
        );
        channel.place(claim);
        assert!(channel.switch_engine(from));
        let to = channel.engine_index();
        assert_ne!(to, from);
        assert!(!channel.switch_engine(from), "it left that engine already");
        assert_eq!(channel.engine_index(), to);
        let placed: usize = engines.iter().map(|m| m.placed()).sum();
        assert_eq!(placed, 1, "one place held");
        assert_eq!(engines.get(from).failovers.get(), 1);
        assert_eq!(channel.counters.failovers.get(), 1);
    }
}
