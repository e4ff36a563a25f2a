//! The registry: every channel acebox plays, created once per content id and forgotten when
//! idle.
//!
//! [`Registry`] owns the list of at most [`MAX_CHANNELS`] channels and decides idleness under its
//! lock, so a request that found a channel (and holds its [`Activity`]) can never see it
//! reaped. It keeps the counters of channels that are gone, so totals never go backwards. It
//! never fetches and never serves. A channel is built outside the lock and started (its feed
//! and stat poll spawned) only once it is listed, after the lock is released.
//!
//! Over 400 lines: the last 160 are its tests, which race for one id and stop channels by hand.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_io::Timer;
use event_listener::Event;
use futures_lite::FutureExt;

use super::clients::TableFull;
use super::{Channel, ContentId, Source};
use crate::board::MAX_CHANNELS;
use crate::clock;
use crate::counters::{Counters, Counts};
use crate::engine::{Change, Engine, Engines, Mode, NoEngine, Orphans, Selector};

/// Why a client or channel could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Channels,
    Clients,
    /// No engine that is up has room for another channel.
    Engines(NoEngine),
    /// The client's address has its share of the channel's clients (`ADDRESS_CLIENTS`).
    AddressClients,
    /// acebox is shutting down and opens no channel.
    ShuttingDown,
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::Channels => write!(
                f,
                "acebox is already playing its maximum of {MAX_CHANNELS} channels"
            ),
            Full::Engines(none) => none.fmt(f),
            Full::Clients => TableFull::Channel.fmt(f),
            Full::AddressClients => TableFull::Address.fmt(f),
            Full::ShuttingDown => f.write_str("acebox is shutting down; try again in a moment"),
        }
    }
}

impl std::error::Error for Full {}

impl From<TableFull> for Full {
    fn from(full: TableFull) -> Full {
        match full {
            TableFull::Channel => Full::Clients,
            TableFull::Address => Full::AddressClients,
        }
    }
}

/// What a client asks to play.
pub struct Open<'a> {
    pub id: &'a ContentId,
    pub selector: Selector,
    pub mode: Mode,
    /// Engine options to pass on, an encoded query fragment (`&transcode_audio=1`...).
    pub extra: &'a str,
    /// What the channel is called, from the channel list or the search results it was found
    /// in; empty when acebox knows no name for it.
    pub name: &'a str,
    /// The channel's other ids, tried in order when the one it plays fails or starves.
    pub backups: &'a [Source],
}

/// What the registry's list says of a content id.
enum Listed {
    /// The list decides: its channel (`Some(Ok)`), a refusal, or `None` to wait while it is
    /// being stopped.
    Decided(Option<Result<Activity, Full>>),
    /// No channel for the id.
    Absent,
    /// From [`Registry::list`]: the new channel is listed, with a request under way on it
    /// from before the lock was let go, so it cannot be found idle before its caller uses it.
    Added(Activity),
}

/// A request under way for a channel: while one exists, the channel is not idle.
pub struct Activity(pub(super) Arc<Channel>);

impl std::ops::Deref for Activity {
    type Target = Arc<Channel>;
    fn deref(&self) -> &Arc<Channel> {
        &self.0
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        // A guard's drop is an edge: it reads the clock.
        self.0.active_ms.store(clock::now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Stops, in the background, `sessions` that `engine` did not answer the stop of while it was
/// down.
fn stop_orphans(engine: Engine, sessions: Orphans) {
    if sessions.is_empty() {
        return;
    }
    crate::spawn(async move {
        for session in &sessions {
            match engine.stop(session).await {
                Ok(()) => log::info!("engine {}: a session left behind stopped", engine.origin()),
                Err(e) => log::warn!("engine {}: a session left behind: {e}", engine.origin()),
            }
        }
    })
    .detach();
}

/// Every channel acebox plays.
pub struct Registry {
    channels: Mutex<heapless::Vec<Arc<Channel>, MAX_CHANNELS>>,
    engines: Arc<Engines>,
    idle_timeout: Duration,
    /// Fires when a stopped channel leaves the list.
    removed: Event,
    /// The counters of channels that are gone.
    retired: Counters,
    /// Set by [`Registry::stop_all`]: no channel is opened any more.
    closing: AtomicBool,
}

impl Registry {
    pub fn new(engines: Arc<Engines>, idle_timeout: Duration) -> Registry {
        Registry {
            channels: Mutex::new(heapless::Vec::new()),
            engines,
            idle_timeout,
            removed: Event::new(),
            retired: Counters::default(),
            closing: AtomicBool::new(false),
        }
    }

    /// The channel for `id`, created (and its fetch loop started) if there is none. A channel
    /// being stopped stays listed until its engine session is stopped; opening it again waits
    /// for that, because the new channel's session has the same player id, which a late stop
    /// would kill.
    pub async fn open(&self, request: &Open<'_>) -> Result<Activity, Full> {
        loop {
            let listener = self.removed.listen();
            // Read once here, the async edge: the channel's clock and the wall clock (an HLS
            // channel's first media sequence).
            let now = clock::now_ms();
            match self.find_or_create(request, now, clock::unix_ms()) {
                Some(outcome) => return outcome,
                None => listener.await,
            }
        }
    }

    /// The channel for the request, created if there is none; `None` while one is stopping.
    /// A new channel is built outside the lock (it starts nothing until listed) and listed,
    /// with its place on an engine, only if no other request listed one for the id meanwhile.
    fn find_or_create(
        &self,
        request: &Open<'_>,
        now: u64,
        wall_ms: u64,
    ) -> Option<Result<Activity, Full>> {
        if let Listed::Decided(outcome) = self.look_up(&self.channels(), request.id, now) {
            return outcome;
        }
        // Nothing is built for a request that cannot be placed.
        if let Err(full) = self.room() {
            return Some(Err(full));
        }
        let engines = self.engines.clone();
        let channel = Arc::new(Channel::new(request, engines, now, wall_ms));
        let activity = match self.list(&channel, now) {
            Listed::Added(activity) => activity,
            // Another request listed its channel first: this one is dropped unstarted.
            Listed::Decided(outcome) => return outcome,
            Listed::Absent => return None,
        };
        log::info!(
            "channel {}: opened ({:?})",
            request.id.as_str(),
            request.mode
        );
        let watched = channel.clone();
        crate::spawn(async move { watched.watch_engine().await }).detach();
        crate::spawn(async move { channel.feed().await }).detach();
        Some(Ok(activity))
    }

    /// What the locked list `channels` says of `id` at `now`.
    fn look_up(&self, channels: &[Arc<Channel>], id: &ContentId, now: u64) -> Listed {
        if self.closing.load(Ordering::Acquire) {
            return Listed::Decided(Some(Err(Full::ShuttingDown)));
        }
        match channels.iter().find(|c| c.id == *id) {
            Some(found) if found.is_stopped() => Listed::Decided(None),
            // Whatever mode its session plays in: clients of the other mode are served from it.
            Some(found) => Listed::Decided(Some(Ok(found.activity(now)))),
            None => Listed::Absent,
        }
    }

    /// Lists `channel`, built outside the lock, unless the list has decided otherwise
    /// meanwhile (another request listed a channel for its id, or shutdown began): one id, one
    /// channel. It takes its place on an engine under the same lock, so a request for its id
    /// never finds the engines full of the very channel it would have got. [`Listed::Added`]
    /// means it was listed, and the caller starts it.
    fn list(&self, channel: &Arc<Channel>, now: u64) -> Listed {
        let mut channels = self.channels();
        if let decided @ Listed::Decided(_) = self.look_up(&channels, &channel.id, now) {
            return decided;
        }
        let claim = match self.engines.claim(None) {
            Ok(claim) => claim,
            // The engines are full because acebox is: say so.
            Err(NoEngine::Full) if channels.is_full() => {
                return Listed::Decided(Some(Err(Full::Channels)));
            }
            Err(none) => return Listed::Decided(Some(Err(Full::Engines(none)))),
        };
        channel.place(claim);
        // Full with engines to spare (their limits add up to more than the board's): the
        // place goes back with the channel, dropped unstarted.
        if channels.push(channel.clone()).is_err() {
            return Listed::Decided(Some(Err(Full::Channels)));
        }
        Listed::Added(channel.activity(now))
    }

    /// Whether a new channel would find room in the list and on an engine now.
    fn room(&self) -> Result<(), Full> {
        if self.channels().is_full() {
            return Err(Full::Channels);
        }
        self.engines.has_room().map_err(Full::Engines)
    }

    /// The channel for `id`, if it exists and is not being stopped; a request for it is under
    /// way from `now`.
    pub fn find(&self, id: &ContentId, now: u64) -> Option<Activity> {
        self.channels()
            .iter()
            .find(|c| c.id == *id && !c.is_stopped())
            .map(|c| c.activity(now))
    }

    /// Whether a channel for `id` is open (and not being stopped).
    pub fn is_open(&self, id: &ContentId) -> bool {
        self.channels()
            .iter()
            .any(|c| c.id == *id && !c.is_stopped())
    }

    /// Forgets a channel whose first start failed, unless another client has since got it going.
    pub fn discard_unstarted(&self, channel: &Arc<Channel>) {
        let mut channels = self.channels();
        if channel.slot.load().is_none() {
            self.unlist(&mut channels, channel);
            channel.mark_stopped();
            channel.events.notify();
        }
    }

    /// The engines channels are played from.
    pub fn engines(&self) -> &Arc<Engines> {
        &self.engines
    }

    /// Checks engine `index` whenever a check is due (see [`Engines`]), for ever; when it goes
    /// down, every channel playing from it moves to another engine.
    pub async fn watch_engine(&self, index: usize) {
        let member = self.engines.get(index);
        let origin = member.engine.origin();
        loop {
            // Asleep until the next check is due, or a channel doubts the engine.
            let doubted = member.doubted();
            let wait = member.due().saturating_sub(clock::now_ms());
            if wait > 0 {
                let due = async {
                    Timer::after(Duration::from_millis(wait)).await;
                };
                due.or(doubted).await;
            }
            if member.is_due(clock::now_ms()) {
                let outcome = member.engine.version().await;
                let version = outcome.as_ref().map(|v| v.as_str());
                match member.checked(version, clock::now_ms()) {
                    Change::Down => {
                        let why = outcome.err().map(|e| e.to_string()).unwrap_or_default();
                        log::warn!("engine {origin} is down ({why}); moving its channels");
                        self.move_off(index);
                    }
                    Change::Up => {
                        log::info!("engine {origin} answers again");
                        stop_orphans(member.engine.clone(), member.take_orphans());
                    }
                    Change::Unchanged => {}
                }
            }
        }
    }

    /// Moves every channel playing from engine `index` to another, all at once.
    fn move_off(&self, index: usize) {
        let channels = self.channels().clone();
        for channel in channels
            .iter()
            .filter(|c| !c.is_stopped() && c.engine_index() == index)
        {
            let channel = channel.clone();
            crate::spawn(async move { channel.move_engine(index, "is down").await }).detach();
        }
    }

    /// Every channel, and a copy of the counters of those that are gone (for the status page),
    /// taken under the one lock that moves a channel from the first to the second, so no
    /// channel is counted in both.
    pub fn snapshot_with_retired(&self) -> (heapless::Vec<Arc<Channel>, MAX_CHANNELS>, Counts) {
        let channels = self.channels();
        (channels.clone(), self.retired.snapshot())
    }

    /// Stops and forgets the channels idle for the idle timeout. Runs forever.
    pub async fn reap_idle(&self) {
        let tick =
            (self.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            async_io::Timer::after(tick).await;
            for channel in self.take_idle(clock::now_ms()) {
                channel.stop("idle").await;
                self.forget(&channel);
            }
        }
    }

    /// Takes a stopped channel off the list (its counters go to the retired totals) and wakes
    /// whoever waits to open it again.
    fn forget(&self, channel: &Arc<Channel>) {
        self.unlist(&mut self.channels(), channel);
        self.removed.notify(usize::MAX);
    }

    /// Takes `channel` off the locked list `channels`, its counters going to the retired
    /// totals; a channel already off the list is not counted again.
    fn unlist(
        &self,
        channels: &mut heapless::Vec<Arc<Channel>, MAX_CHANNELS>,
        channel: &Arc<Channel>,
    ) {
        let before = channels.len();
        channels.retain(|c| !Arc::ptr_eq(c, channel));
        if channels.len() < before {
            self.retired.absorb(&channel.counters.snapshot());
            // Its tasks may hold it a moment longer; its place on the engine goes with the list's.
            channel.give_back_engine();
        }
    }

    /// Stops every channel and its engine session, all at once; for shutdown. Opens no channel
    /// from then on. Waits, for at most `grace`, for engine starts under way to land (and stops
    /// what they started) and for idle stops under way to be answered; says what it could not
    /// wait for.
    pub async fn stop_all(&self, grace: Duration) {
        self.closing.store(true, Ordering::Release);
        // Marked at once, under the lock, so the reaper and late starts see it before the
        // stops run; spawned after it is released.
        let stopping = self.mark_all_stopped();
        let stops: Vec<_> = stopping
            .iter()
            .map(|channel| {
                let channel = channel.clone();
                crate::spawn(async move {
                    channel.stop("shutting down").await;
                    // A start under way lands in a stopped channel, whose start then stops what
                    // it started (or this does); wait for that stop too.
                    channel.flight.idle().await;
                    channel.stop_session("shutting down").await;
                    channel.settled().await;
                })
            })
            .collect();
        let settle = async {
            for (stop, channel) in stops.into_iter().zip(stopping.iter()) {
                stop.await;
                self.forget(channel);
            }
            // Channels the reaper is stopping leave the list when their stop is answered.
            loop {
                let listener = self.removed.listen();
                if self.channels().is_empty() {
                    return;
                }
                listener.await;
            }
        };
        let late = async {
            Timer::after(grace).await;
            let left = self.channels().clone();
            for channel in left.iter() {
                log::warn!(
                    "channel {}: its engine start or stop was still under way at exit; the \
                     engine ends that session by its own timeout",
                    channel.id.as_str()
                );
            }
        };
        settle.or(late).await;
    }

    /// Marks every listed channel stopped and returns them.
    fn mark_all_stopped(&self) -> heapless::Vec<Arc<Channel>, MAX_CHANNELS> {
        let channels = self.channels();
        for channel in channels.iter() {
            channel.mark_stopped();
        }
        channels.clone()
    }

    /// Marks the channels idle for the idle timeout as stopped (they stay listed until their
    /// stop is done) and returns them.
    fn take_idle(&self, now: u64) -> heapless::Vec<Arc<Channel>, MAX_CHANNELS> {
        let channels = self.channels();
        let idle = |c: &&Arc<Channel>| {
            !c.is_stopped() && c.idle_for(now).is_some_and(|d| d >= self.idle_timeout)
        };
        let mut taken = heapless::Vec::new();
        for channel in channels.iter().filter(idle) {
            channel.mark_stopped();
            // Cannot fail: at most as many as the registry holds.
            let _ = taken.push(channel.clone());
        }
        taken
    }

    fn channels(&self) -> MutexGuard<'_, heapless::Vec<Arc<Channel>, MAX_CHANNELS>> {
        crate::lock(&self.channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::MAX_CLIENTS_PER_CHANNEL;
    use crate::channel::clients::{Joined, PlayerKey};
    use std::net::SocketAddr;

    const PEER: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);
    const IDLE: Duration = Duration::from_secs(60);
    const IDLE_MS: u64 = IDLE.as_millis() as u64;

    fn hls(id: &ContentId) -> Open<'_> {
        Open {
            id,
            selector: Selector::ContentId,
            mode: Mode::Hls,
            extra: "",
            name: "",
            backups: &[],
        }
    }

    fn registry() -> Registry {
        let engine = Engine::new(crate::http::Origin::parse("http://127.0.0.1:9").unwrap());
        Registry::new(Arc::new(Engines::new((engine, None), [], 0)), IDLE)
    }

    /// A moment when every channel opened so far has been idle for the idle timeout.
    fn later() -> u64 {
        clock::now_ms() + IDLE_MS
    }

    #[test]
    fn one_channel_per_id_and_busy_channels_are_not_reaped() {
        let reg = registry();
        let id = ContentId::parse(&"a".repeat(40)).unwrap();
        let first = smol::block_on(reg.open(&hls(&id))).unwrap();
        let second = smol::block_on(reg.open(&hls(&id))).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        let ts = Open {
            mode: Mode::Ts,
            ..hls(&id)
        };
        let third = smol::block_on(reg.open(&ts)).unwrap();
        assert!(Arc::ptr_eq(&first, &third), "a TS client of an HLS channel");
        assert_eq!(third.mode, Mode::Hls, "the session plays as it was started");
        assert_eq!(reg.snapshot_with_retired().0.len(), 1);
        assert!(reg.take_idle(later()).is_empty(), "requests are under way");
        // The last drop notes the time it reads itself: at `before` or later, `after` or
        // earlier (the clock may tick between the reads).
        let before = clock::now_ms();
        drop((first, second, third));
        let after = clock::now_ms();
        assert!(
            reg.take_idle(before + IDLE_MS - 1).is_empty(),
            "not idle for the whole timeout yet"
        );
        assert_eq!(reg.take_idle(after + IDLE_MS).len(), 1);
        assert!(reg.find(&id, later()).is_none());
    }

    /// A channel being stopped is not reused, and opening it again waits until it is gone:
    /// the new session shares the old one's player id, which a late stop would kill.
    #[test]
    fn opening_a_channel_being_stopped_waits_for_the_stop() {
        let reg = registry();
        let id = ContentId::parse(&"c".repeat(40)).unwrap();
        let old = smol::block_on(reg.open(&hls(&id))).unwrap();
        let old_channel = Arc::clone(&old);
        drop(old);
        let stopping = reg.take_idle(later());
        assert_eq!(stopping.len(), 1);
        assert!(
            reg.find(&id, later()).is_none(),
            "not handed to new requests"
        );
        smol::block_on(async {
            let request = hls(&id);
            let mut reopen = Box::pin(reg.open(&request));
            assert!(
                futures_lite::future::poll_once(&mut reopen).await.is_none(),
                "waits"
            );
            reg.forget(&stopping[0]);
            assert_eq!(
                reg.engines.get(0).placed(),
                0,
                "its place on the engine goes with the list's, though the channel lives on"
            );
            let new = reopen.await.unwrap();
            assert!(!Arc::ptr_eq(&new, &old_channel), "a fresh channel");
            assert_eq!(reg.engines.get(0).placed(), 1);
            drop((stopping, old_channel));
            assert_eq!(reg.engines.get(0).placed(), 1, "given back once");
        });
    }

    #[test]
    fn channels_and_clients_are_bounded() {
        let reg = registry();
        let held: Vec<_> = (0..MAX_CHANNELS)
            .map(|n| {
                let id = ContentId::parse(&format!("{n:040x}")).unwrap();
                smol::block_on(reg.open(&hls(&id))).unwrap()
            })
            .collect();
        let one_more = ContentId::parse(&"f".repeat(40)).unwrap();
        assert_eq!(
            smol::block_on(reg.open(&hls(&one_more))).err(),
            Some(Full::Channels)
        );
        let now = clock::now_ms();
        for n in 0..MAX_CLIENTS_PER_CHANNEL {
            // Each a device of its own: one address has at most its share.
            let device = SocketAddr::new([10, 0, (n >> 8) as u8, n as u8].into(), 5000);
            let player = PlayerKey::new(device.ip(), b"player", b"");
            assert!(matches!(
                held[0].join(player, device, now),
                Ok(Joined::New(_))
            ));
        }
        let one_more = PlayerKey::new(PEER.ip(), b"one more", b"");
        assert_eq!(held[0].join(one_more, PEER, now), Err(Full::Clients));
        let first = reg.find(&held[0].id, now).unwrap();
        let stream = first.into_stream(one_more, PEER, Default::default(), now);
        assert!(matches!(stream, Err(Full::Clients)));
        assert_eq!(held[0].client_count(now), MAX_CLIENTS_PER_CHANNEL);
    }

    /// A channel is built outside the lock; if another request listed one for the same id
    /// meanwhile, that one is handed out and the one built is dropped, never started.
    #[test]
    fn a_channel_built_outside_the_lock_loses_to_one_listed_meanwhile() {
        let reg = registry();
        let id = ContentId::parse(&"d".repeat(40)).unwrap();
        let now = clock::now_ms();
        let build = || {
            let engines = reg.engines.clone();
            Arc::new(Channel::new(&hls(&id), engines, now, 0))
        };
        let (first, second) = (build(), build());
        assert!(matches!(reg.list(&first, now), Listed::Added(_)), "listed");
        let Listed::Decided(Some(Ok(found))) = reg.list(&second, now) else {
            panic!("the channel listed first is handed out")
        };
        assert!(Arc::ptr_eq(&found, &first));
        assert_eq!(Arc::strong_count(&second), 1, "nothing holds the loser");
        assert_eq!(reg.snapshot_with_retired().0.len(), 1);
    }

    /// The wall time is read at the edge and handed in: the first media sequence of an HLS
    /// channel comes from it.
    #[test]
    fn a_channel_takes_the_wall_time_it_is_given() {
        let reg = registry();
        let id = ContentId::parse(&"e".repeat(40)).unwrap();
        let wall_ms = 1_700_000_000_000;
        let channel = Channel::new(&hls(&id), reg.engines.clone(), 0, wall_ms);
        let first = crate::hls::first_media_sequence(wall_ms);
        assert_eq!(channel.segments().unwrap().ring.bounds(), (first, first));
    }

    #[test]
    fn shutdown_marks_every_channel_stopped_and_hands_them_out() {
        let reg = registry();
        // Two channels, or the one a board plays.
        let ids: Vec<_> = ["1", "2"]
            .iter()
            .take(crate::board::MAX_CHANNELS)
            .map(|c| ContentId::parse(&c.repeat(40)).unwrap())
            .collect();
        let held: Vec<_> = ids
            .iter()
            .map(|id| smol::block_on(reg.open(&hls(id))).unwrap())
            .collect();
        let stopping = reg.mark_all_stopped();
        assert_eq!(stopping.len(), ids.len());
        assert!(held.iter().all(|c| c.is_stopped()));
        assert!(reg.find(&ids[0], clock::now_ms()).is_none());
    }
}
