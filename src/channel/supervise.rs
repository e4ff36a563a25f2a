//! Session supervision: a channel's one engine session, from its start to its stop.
//!
//! Owns when the session is started again (a new player, a failed feed step: 403, expiry, an
//! engine restart), the single-flight start that makes concurrent refreshes share one engine
//! call, the feed loop that reads the session slot before every step and heals after failures,
//! the engine's stat poll, and the stop. It never reads or stores stream data itself: the
//! feed's step does, through the context the channel lends it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt;

use super::Channel;
use super::failover::{Newest, STARVE_CHECK, Starving};
use crate::clock;
use crate::engine::{EngineError, Engines, StartRequest};
use crate::feed::Feeder;
use crate::hls::fetch::Fetcher;
use crate::session::Session;
use crate::storage::Store;
use crate::ts::reader::Reader;

/// A connect within this time of the last successful start shares that start: ten players
/// opening a channel together cause one engine start, not ten.
const CONNECT_FRESH: Duration = Duration::from_secs(2);
/// How often a channel asks the engine for its session's stat.
const STAT_EVERY: Duration = Duration::from_secs(5);
/// Waits between failed reads of the engine grow from the first to the last.
const BACKOFF: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Stops `session`, left behind by a move; if its engine does not answer, the engine stops it
/// once it answers again.
async fn stop_left(engines: &Engines, session: Session) {
    let member = engines.get(usize::from(session.engine));
    if let Err(e @ (EngineError::Unreachable(_) | EngineError::Timeout)) =
        member.engine.stop(&session).await
    {
        log::debug!(
            "a session left on engine {} is stopped later: {e}",
            member.engine.origin()
        );
        member.orphan(session);
    }
}

impl Channel {
    /// A client connects: refresh the session, unless a start is under way (share it), one
    /// landed a moment ago (it is fresh), or, for TS, the reader is streaming from it: a new
    /// start would make the engine replace the session and cut the one stream every client
    /// shares, and a live stream proves the session is alive.
    pub async fn connect(&self, now: u64) -> Result<(), EngineError> {
        if self.slot.load().is_none() {
            return self.refresh().await;
        }
        let since_start = now.saturating_sub(self.started_ms.load(Ordering::Acquire));
        let streaming =
            matches!(self.store, Store::Ts(_)) && self.store.held() > 0 && self.health().is_none();
        if since_start < CONNECT_FRESH.as_millis() as u64 || streaming {
            Ok(())
        } else {
            self.refresh().await
        }
    }

    /// Starts the engine session again under the channel's player id and stores it in the slot;
    /// concurrent calls share one start. The start asks for the active source on the channel's
    /// engine. When the engine refuses the source (it cannot load that content), each other
    /// source in turn, and the first that starts becomes the active one; when the engine does
    /// not answer, the channel moves to another engine that is up, if one has room.
    pub(super) async fn refresh(&self) -> Result<(), EngineError> {
        let start = || async {
            let mut first = self.active.load(Ordering::Acquire);
            let (mut refused, mut left) = (0, 0);
            loop {
                let index = (first + refused) % self.sources.len();
                // A start on a source or engine the channel moved away from meanwhile (an
                // engine found down while it hangs) is given up for one where it moved to.
                let moves = self.moves.load(Ordering::Acquire);
                let attempt = async { Some(self.start_source(index).await) };
                let moved = async {
                    self.moved_since(moves).await;
                    None
                };
                let Some(outcome) = attempt.or(moved).await else {
                    (first, refused) = (self.active.load(Ordering::Acquire), 0);
                    continue;
                };
                match &outcome {
                    Err(EngineError::Refused(_)) if refused + 1 < self.sources.len() => {
                        refused += 1
                    }
                    Err(e @ (EngineError::Unreachable(_) | EngineError::Timeout))
                        if left + 1 < self.engines.count() && self.leave_engine(e) =>
                    {
                        left += 1
                    }
                    Ok(_) if index != first => {
                        self.moved_to(index);
                        return outcome;
                    }
                    _ => return outcome,
                }
            }
        };
        let outcome = self.flight.refresh(&self.slot, start).await;
        if outcome.is_ok() {
            self.started_ms.store(clock::now_ms(), Ordering::Release);
            // Stopped while the start ran: nobody will play or stop this session but us.
            if self.is_stopped() {
                self.stop_session("stopped during a start").await;
            }
        }
        self.events.notify();
        outcome.map(drop)
    }

    /// Starts source `index` on the channel's engine; logged by the one caller that runs the
    /// start, not by those sharing it. A session of another source or engine than the slot
    /// holds is a move: the one it replaces is stopped (in the background: its engine may hang)
    /// unless the engine already replaced it under the channel's player id.
    async fn start_source(&self, index: usize) -> Result<Session, EngineError> {
        let id = self.id.as_str();
        let Some(source) = self.sources.get(index) else {
            return Err(EngineError::Refused("no such source".into()));
        };
        let request = StartRequest {
            mode: self.mode,
            selector: source.selector,
            id: source.id.as_str(),
            pid: &self.pid,
            extra: &self.extra,
        };
        let on = self.engine_index();
        let outcome = self
            .engine(on)
            .start(&request)
            .await
            .map(|session| Session {
                source: index as u8,
                engine: on as u8,
                ..session
            });
        match &outcome {
            Ok(s) => {
                self.counters.engine_starts.add(1);
                log::info!(
                    "channel {id}: engine session {} started{}",
                    s.playback_session_id,
                    match index {
                        0 => String::new(),
                        _ => format!(" on backup id {}", source.id.as_str()),
                    }
                );
                let old = self
                    .slot
                    .load()
                    .filter(|o| (o.source, o.engine) != (s.source, s.engine));
                if let Some(old) = old.filter(|o| o.engine != s.engine || o.command != s.command) {
                    let engines = self.engines.clone();
                    crate::spawn(async move { stop_left(&engines, old).await }).detach();
                }
            }
            Err(e) => {
                self.note_error(e, clock::now_ms());
                log::warn!(
                    "channel {id}: engine start of {} failed: {e}",
                    source.id.as_str()
                );
            }
        }
        outcome
    }

    /// Feeds the channel's store from its session until the channel is stopped: the HLS fetch
    /// loop or the TS reader, by the mode the channel was opened in.
    pub(super) async fn feed(&self) {
        match &self.store {
            Store::Hls(segments) => self.supervise(Fetcher::new(segments)).await,
            Store::Ts(chunks) => self.supervise(Reader::new(chunks)).await,
        }
    }

    /// Feeds the channel from its session with `feeder` until the channel is stopped: reads the
    /// slot before every step (so the newest session is always used) and heals after failures.
    async fn supervise(&self, mut feeder: impl Feeder) {
        let id = self.id.as_str();
        let mut failures = 0usize;
        while !self.is_stopped() {
            let Some(session) = self.slot.load() else {
                // No session yet: the first connect is starting one.
                let listener = self.events.listen();
                if self.slot.load().is_none() && !self.is_stopped() {
                    listener.await;
                }
                continue;
            };
            if !self.is_placed(&session) {
                // The channel moved and the session where it moved to has not landed: start
                // it (sharing the move's own start), never play the one left behind.
                if let Err(e) = self.refresh().await {
                    failures += 1;
                    let pause = self.heal(e, failures).await;
                    self.pause(pause).await;
                }
                continue;
            }
            // A step on a source the channel has moved away from is given up at once.
            let moves = self.moves.load(Ordering::Acquire);
            let cx = self.context(&session);
            let step = async { Some(feeder.step(&cx, &session).await) };
            let moved = async {
                self.moved_since(moves).await;
                None
            };
            let Some(outcome) = step.or(moved).await else {
                continue;
            };
            let pause = match outcome {
                Ok(pause) => {
                    if failures > 0 {
                        log::info!("channel {id}: engine stream back");
                    }
                    failures = 0;
                    self.set_health(None);
                    pause
                }
                // Stopped while the step ran: the error is the stop's doing; starting a
                // session again would leave one nobody stops.
                Err(_) if self.is_stopped() => break,
                Err(e) => {
                    failures += 1;
                    self.heal(e, failures).await
                }
            };
            self.pause(pause).await;
        }
        log::debug!("channel {id}: feed ended");
    }

    /// After a failed step: log it (once per run of failures), refresh the session unless the
    /// engine is only still starting it, and return how long to wait before the next step: no
    /// wait when the refresh moved the session (another engine or id, nothing to wait for).
    async fn heal(&self, error: EngineError, failures: usize) -> Duration {
        if failures == 1 {
            log::warn!("channel {}: {error}; healing the session", self.id.as_str());
        }
        self.note_error(&error, clock::now_ms());
        if matches!(error, EngineError::Unreachable(_) | EngineError::Timeout) {
            // Is it the engine? Its watcher checks it now.
            self.engines.get(self.engine_index()).suspect();
        }
        // The engine answers 500 "start timeout" while it prebuffers: give it a few tries.
        let still_starting =
            matches!(error, EngineError::Status(500)) && self.store.held() == 0 && failures < 3;
        self.set_health(Some(error));
        let moves = self.moves.load(Ordering::Acquire);
        if !still_starting {
            match self.refresh().await {
                Ok(()) if self.moves.load(Ordering::Acquire) != moves => return Duration::ZERO,
                Ok(()) => {}
                Err(e) => self.set_health(Some(e)),
            }
        }
        // The failures-th wait, or the last one once they run out.
        BACKOFF
            .into_iter()
            .take(failures)
            .next_back()
            .unwrap_or_default()
    }

    /// Waits `pause`, or less if the channel is stopped meanwhile.
    async fn pause(&self, pause: Duration) {
        self.events
            .stopped()
            .or(async {
                Timer::after(pause).await;
            })
            .await;
    }

    /// Counts a failed engine call and keeps it as the channel's last error, made at `now`.
    fn note_error(&self, error: &EngineError, now: u64) {
        self.counters.engine_errors.add(1);
        *crate::lock(&self.last_error) = Some((error.clone(), now));
    }

    /// Asks the engine for the session's stat every `STAT_EVERY` until the channel stops (it
    /// notices within one period). A failed poll clears the stat; it is not an engine error (the
    /// feed judges the session). It also watches the session starve (see [`Starving`]) and
    /// moves it when it does.
    pub(super) async fn watch_engine(&self) {
        let newest = || Newest::of(self.counters.bytes_in.get(), self.engine_stat().as_ref());
        let mut starving = Starving::new(newest(), clock::now_ms());
        let mut polled = None::<u64>;
        while !self.is_stopped() {
            let session = self.slot.load();
            let now = clock::now_ms();
            let due = polled.is_none_or(|at| now >= at + STAT_EVERY.as_millis() as u64);
            if let Some(session) = session.as_ref().filter(|s| due && !s.stat.is_empty()) {
                polled = Some(now);
                let stat = self.engine(usize::from(session.engine)).stat(session).await;
                if let Err(e) = &stat {
                    log::debug!("channel {}: stat poll failed: {e}", self.id.as_str());
                }
                *crate::lock(&self.engine_stat) = stat.ok();
            }
            let stat = self.engine_stat();
            let why = starving.check(newest(), stat.as_ref(), clock::now_ms());
            if let Some(why) = why.filter(|_| session.is_some()) {
                self.starved(why).await;
                starving = Starving::new(newest(), clock::now_ms());
            }
            // A plain timer: the channel's change event fires on every TS frame.
            Timer::after(STARVE_CHECK).await;
        }
    }

    /// Stops the fetch loop, frees the ring and stops the engine session (once, short timeout).
    pub(super) async fn stop(&self, why: &str) {
        self.mark_stopped();
        self.store.clear();
        if let Some(cut) = self.cut.get() {
            cut.ring.clear();
        }
        self.events.notify();
        self.stop_session(why).await;
    }

    /// Stops the engine session the slot holds, if any, saying `why` in the log.
    pub(super) async fn stop_session(&self, why: &str) {
        let id = self.id.as_str();
        // Counted before the slot is taken, so whoever finds it empty can wait for this stop.
        self.stopping.fetch_add(1, Ordering::AcqRel);
        if let Some(session) = self.slot.take() {
            match self
                .engine(usize::from(session.engine))
                .stop(&session)
                .await
            {
                Ok(()) => log::info!("channel {id}: {why}, engine session stopped"),
                Err(e) => {
                    log::warn!("channel {id}: {why}; stopping the engine session failed: {e}")
                }
            }
        }
        self.stopping.fetch_sub(1, Ordering::AcqRel);
        self.events.notify();
    }

    /// Waits until no engine start is under way and no stop is being answered.
    pub(super) async fn settled(&self) {
        self.flight.idle().await;
        loop {
            let listener = self.events.listen();
            if self.stopping.load(Ordering::Acquire) == 0 {
                return;
            }
            listener.await;
        }
    }
}
