//! Failover: when a channel's session moves from the source it plays (its id) to the next one
//! (a backup id), and the move itself.
//!
//! Owns the rule that takes a source for dead ([`Starving`]: the engine says `err`, or nothing
//! new came for [`STARVED`] while nobody shares the content) and the move: the next source
//! becomes the active one, the session is started on it, and a feed step still reading the old
//! one is given up. Moves on a refused start are made by the start itself
//! (`supervise::refresh`). It never reads or stores stream data; it reads the clock only
//! through the times it is handed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Channel;
use crate::engine::EngineStat;

/// How often a channel with backups looks whether its source starves.
pub(super) const STARVE_CHECK: Duration = Duration::from_secs(1);
/// A source that has fed the channel nothing for this long while the engine reports no peers
/// for it (or gives no stat) is starved: the channel moves to its next source.
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
    /// Source `index` is the channel's from now on: counted, and any feed step under way on
    /// the one before is given up.
    pub(super) fn moved_to(&self, index: usize) {
        self.active.store(index, Ordering::Release);
        // The stat was of the session left behind.
        *crate::lock(&self.engine_stat) = None;
        self.moves.fetch_add(1, Ordering::AcqRel);
        self.counters.failovers.add(1);
        self.events.notify();
    }

    /// The active source starved or died: the session moves to the next source (or, if the
    /// engine refuses that one, the ones after it).
    pub(super) async fn move_on(&self, why: &str) {
        let from = self.active.load(Ordering::Acquire);
        let next = (from + 1) % self.sources.len();
        log::warn!(
            "channel {}: {} {why}; moving to backup id {}",
            self.id.as_str(),
            self.sources[from].id.as_str(),
            self.sources[next].id.as_str()
        );
        self.moved_to(next);
        // A start under way for the old source is shared by this call: then once more.
        for _ in 0..2 {
            if self.refresh().await.is_err()
                || self
                    .slot
                    .load()
                    .is_some_and(|s| usize::from(s.source) == self.active.load(Ordering::Acquire))
            {
                break;
            }
        }
    }

    /// Returns once the channel's session has moved to another source since `moves` were made.
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
}
