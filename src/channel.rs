//! Channels: one per content id, each with its session slot, segment ring and clients, and the
//! registry that creates them once and forgets them when idle.
//!
//! A [`Channel`] owns what one content id needs to be played by many clients through one engine
//! session. The [`Registry`] owns the set of channels (at most [`MAX_CHANNELS`]) and decides
//! idleness under its lock, so a request that found a channel can never see it reaped. Neither
//! fetches anything: `hls` runs the fetch loop, `engine` makes the calls.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use async_io::Timer;
use event_listener::{Event, EventListener};
use futures_lite::FutureExt;

use crate::AtomicU64;
use crate::board::{MAX_CHANNELS, MAX_CLIENTS_PER_CHANNEL};
use crate::clients::{ClientInfo, Clients, Joined, PlayerKey, Protocol, TableFull};
use crate::engine::{Engine, EngineError, EngineStat, Mode, Selector, StartRequest};
use crate::hls::Segments;
use crate::session::{Flight, Session, SessionSlot};
use crate::ts::Chunks;

/// A connect within this time of the last successful start shares that start: ten players
/// opening a channel together cause one engine start, not ten.
const CONNECT_FRESH: Duration = Duration::from_secs(2);
/// An HLS player that has not been heard from for this long (or three target durations, if
/// longer) is gone; back after that, it is a new player.
const CLIENT_TTL: Duration = Duration::from_secs(15);
/// How often a channel asks the engine for its session's stat.
const STAT_EVERY: Duration = Duration::from_secs(5);
/// The longest query fragment of engine options (`transcode_audio`...) a channel passes on.
pub const EXTRA_CAP: usize = 256;

/// Milliseconds since the process started: a cheap clock for atomics.
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Waits between failed reads of the engine grow from the first to the last.
const BACKOFF: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// One way of feeding a channel from its engine session: the HLS fetch loop or the TS reader.
pub trait Feeder {
    /// Reads what the session has for now; returns how long to wait before the next step. An
    /// error makes the channel heal its session before the next step.
    fn step(
        &mut self,
        channel: &Channel,
        session: &Session,
    ) -> impl Future<Output = Result<Duration, EngineError>> + Send;
}

/// A content id or infohash: 40 hex digits, kept in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentId(heapless::String<40>);

/// Why a content id was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum IdError {
    Missing,
    Malformed,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdError::Missing => {
                "missing content id: add ?id=<40 hex digits> (or content_id= or infohash=)"
            }
            IdError::Malformed => "the content id must be exactly 40 hexadecimal digits (0-9, a-f)",
        })
    }
}

impl ContentId {
    pub fn parse(text: &str) -> Result<ContentId, IdError> {
        if text.is_empty() {
            return Err(IdError::Missing);
        }
        if text.len() != 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::Malformed);
        }
        let mut id = heapless::String::new();
        for c in text.chars() {
            // Cannot fail: exactly 40 ASCII characters.
            let _ = id.push(c.to_ascii_lowercase());
        }
        Ok(ContentId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a channel has moved and met. Counters only grow; the registry keeps adding those of
/// channels that are gone, so totals never go backwards.
#[derive(Debug, Default)]
pub struct Counters {
    /// Media bytes read from the engine (segments, the TS stream).
    pub bytes_in: AtomicU64,
    /// Media bytes handed to clients.
    pub bytes_out: AtomicU64,
    /// Engine sessions started.
    pub engine_starts: AtomicU64,
    /// Failed engine starts and reads.
    pub engine_errors: AtomicU64,
    /// HLS segments the fetch loop had to pass over (refused, off-host, too large).
    pub segments_skipped: AtomicU64,
    /// Times a TS client fell off the ring and skipped to the newest start point.
    pub skips: AtomicU64,
    /// Clients dropped for being too slow or for not reading.
    pub drops: AtomicU64,
}

/// Written as an object of the counters by name.
impl serde::Serialize for Counters {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let values = self.values();
        let mut object = serializer.serialize_struct("Counters", values.len())?;
        for (name, value) in values {
            object.serialize_field(name, &value)?;
        }
        object.end()
    }
}

impl Counters {
    /// Each counter with its name (the stem of its metric): the one list every reader and
    /// [`Counters::absorb`] go by.
    fn fields(&self) -> [(&'static str, &AtomicU64); 7] {
        [
            ("bytes_in", &self.bytes_in),
            ("bytes_out", &self.bytes_out),
            ("engine_starts", &self.engine_starts),
            ("engine_errors", &self.engine_errors),
            ("segments_skipped", &self.segments_skipped),
            ("client_skips", &self.skips),
            ("client_drops", &self.drops),
        ]
    }

    /// Each counter's value with its name, in one order for every reader.
    pub fn values(&self) -> [(&'static str, u64); 7] {
        self.fields()
            .map(|(name, counter)| (name, counter.load(Ordering::Relaxed)))
    }

    /// The value of the counter named `name` (0 for a name that is none).
    pub fn value(&self, name: &str) -> u64 {
        self.values()
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    }

    pub fn count(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A copy, for a report.
    pub fn snapshot(&self) -> Counters {
        let copy = Counters::default();
        copy.absorb(self);
        copy
    }

    /// Adds every counter of `other` to this one.
    pub fn absorb(&self, other: &Counters) {
        for ((_, mine), (_, theirs)) in self.fields().into_iter().zip(other.fields()) {
            mine.fetch_add(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// Why a client or channel could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Channels,
    Clients,
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
            Full::Clients => write!(
                f,
                "this channel already has its maximum of {MAX_CLIENTS_PER_CHANNEL} clients"
            ),
            Full::ShuttingDown => f.write_str("acebox is shutting down; try again in a moment"),
        }
    }
}

/// What a channel holds for its clients, by mode.
pub enum Feed {
    Hls(Box<Segments>),
    Ts(Box<Chunks>),
}

impl Feed {
    fn new(mode: Mode) -> Feed {
        match mode {
            Mode::Hls => Feed::Hls(Box::default()),
            Mode::Ts => Feed::Ts(Box::default()),
        }
    }

    /// Segments or chunks held.
    pub fn held(&self) -> usize {
        match self {
            Feed::Hls(s) => s.ring.len(),
            Feed::Ts(c) => c.ring.len(),
        }
    }

    /// Slots and bytes the ring holds at most.
    pub fn capacity(&self) -> (usize, usize) {
        use crate::board::{RING_BYTES, RING_SLOTS, TS_CHUNKS, TS_RING_BYTES};
        match self {
            Feed::Hls(_) => (RING_SLOTS, RING_BYTES),
            Feed::Ts(_) => (TS_CHUNKS, TS_RING_BYTES),
        }
    }

    /// Bytes alive: held, or still being sent.
    pub fn bytes(&self) -> usize {
        match self {
            Feed::Hls(s) => s.ring.alive(),
            Feed::Ts(c) => c.ring.alive(),
        }
    }

    fn clear(&self) {
        match self {
            Feed::Hls(s) => s.ring.clear(),
            Feed::Ts(c) => c.ring.clear(),
        }
    }

    /// Where a new MPEG-TS client starts, as an item and an offset in it: the newest start
    /// point of a TS channel's chunks, or the newest segment of an HLS channel (segments are
    /// MPEG-TS that starts where a player can decode, sent back to back). `None` while empty.
    pub fn stream_start(&self) -> Option<(u64, usize)> {
        match self {
            Feed::Hls(s) => s.ring.newest(|_| Some(0)),
            Feed::Ts(c) => c.start_point(),
        }
    }

    /// The bytes of item `seq` for an MPEG-TS client, if still held.
    pub fn stream_item(&self, seq: u64) -> Option<bytes::Bytes> {
        match self {
            Feed::Hls(s) => s.ring.get(seq).map(|item| item.data),
            Feed::Ts(c) => c.ring.get(seq).map(|item| item.data),
        }
    }

    /// The sequence numbers of the oldest item held and of the next to come.
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            Feed::Hls(s) => s.ring.bounds(),
            Feed::Ts(c) => c.ring.bounds(),
        }
    }
}

/// One content id played through one engine session.
pub struct Channel {
    pub id: ContentId,
    pub mode: Mode,
    selector: Selector,
    pid: heapless::String<48>,
    /// Engine options from the first client, encoded (`&transcode_audio=1`...).
    extra: heapless::String<EXTRA_CAP>,
    engine: Engine,
    pub slot: SessionSlot,
    flight: Flight<EngineError>,
    /// What the engine session feeds: segments for HLS, chunks for MPEG-TS.
    pub feed: Feed,
    /// HLS segments cut from a TS channel's stream, for its HLS players: made, and the
    /// segmenter started, by the first of them ([`Channel::hls_segments`]).
    cut: OnceLock<Box<Segments>>,
    /// The segmenter runs: from the first HLS player of a TS channel until none is left.
    cutting: AtomicBool,
    clients: Clients,
    pub counters: Counters,
    /// The fetch loop's latest error, cleared by its next success.
    health: Mutex<Option<EngineError>>,
    /// The engine's latest stat of the session, and the error of the last engine call that
    /// failed (kept after recovery, for the status page).
    engine_stat: Mutex<Option<EngineStat>>,
    last_error: Mutex<Option<(EngineError, u64)>>,
    opened_ms: u64,
    in_flight: AtomicUsize,
    /// Engine stops being answered now.
    stopping: AtomicUsize,
    active_ms: AtomicU64,
    started_ms: AtomicU64,
    stopped: AtomicBool,
    changed: Event,
}

impl Channel {
    fn new(request: &Open<'_>, engine: Engine) -> Channel {
        let id = request.id.clone();
        let extra = heapless::String::try_from(request.extra).unwrap_or_default();
        let mut pid = heapless::String::new();
        // Cannot fail: 7 + 40 bytes. One player id per channel: all its clients share a session.
        let _ = pid.push_str("acebox-");
        let _ = pid.push_str(id.as_str());
        Channel {
            id,
            mode: request.mode,
            selector: request.selector,
            pid,
            extra,
            engine,
            slot: SessionSlot::default(),
            flight: Flight::default(),
            feed: Feed::new(request.mode),
            cut: OnceLock::new(),
            cutting: AtomicBool::new(false),
            clients: Clients::default(),
            counters: Counters::default(),
            health: Mutex::new(None),
            engine_stat: Mutex::new(None),
            last_error: Mutex::new(None),
            opened_ms: now_ms(),
            in_flight: AtomicUsize::new(0),
            stopping: AtomicUsize::new(0),
            active_ms: AtomicU64::new(now_ms()),
            started_ms: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            changed: Event::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A client connects: refresh the session, unless a start is under way (share it), one
    /// landed a moment ago (it is fresh), or, for TS, the reader is streaming from it: a new
    /// start would make the engine replace the session and cut the one stream every client
    /// shares, and a live stream proves the session is alive.
    pub async fn connect(&self) -> Result<(), EngineError> {
        if self.slot.load().is_none() {
            return self.refresh().await;
        }
        let since_start = now_ms().saturating_sub(self.started_ms.load(Ordering::Acquire));
        let streaming =
            matches!(self.feed, Feed::Ts(_)) && self.feed.held() > 0 && self.health().is_none();
        if since_start < CONNECT_FRESH.as_millis() as u64 || streaming {
            Ok(())
        } else {
            self.refresh().await
        }
    }

    /// Starts the engine session again under the channel's player id and stores it in the slot;
    /// concurrent calls share one start.
    pub async fn refresh(&self) -> Result<(), EngineError> {
        let request = StartRequest {
            mode: self.mode,
            selector: self.selector,
            id: self.id.as_str(),
            pid: &self.pid,
            extra: &self.extra,
        };
        let id = self.id.as_str();
        // Logged by the one caller that runs the start, not by those sharing it.
        let start = || async {
            let outcome = self.engine.start(&request).await;
            match &outcome {
                Ok(s) => {
                    Counters::count(&self.counters.engine_starts, 1);
                    log::info!(
                        "channel {id}: engine session {} started",
                        s.playback_session_id
                    )
                }
                Err(e) => {
                    self.note_error(e);
                    log::warn!("channel {id}: engine start failed: {e}")
                }
            }
            outcome
        };
        let outcome = self.flight.refresh(&self.slot, start).await;
        if outcome.is_ok() {
            self.started_ms.store(now_ms(), Ordering::Release);
            // Stopped while the start ran: nobody will play or stop this session but us.
            if self.is_stopped() {
                self.stop_session("stopped during a start").await;
            }
        }
        self.notify();
        outcome.map(drop)
    }

    /// Feeds the channel from its session with `feeder` until the channel is stopped: reads the
    /// slot before every step (so the newest session is always used) and heals after failures.
    pub async fn feed_from_engine(&self, mut feeder: impl Feeder) {
        let id = self.id.as_str();
        let mut failures = 0usize;
        while !self.is_stopped() {
            let Some(session) = self.slot.load() else {
                // No session yet: the first connect is starting one.
                let listener = self.listen();
                if self.slot.load().is_none() && !self.is_stopped() {
                    listener.await;
                }
                continue;
            };
            let pause = match feeder.step(self, &session).await {
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
    /// engine is only still starting it, and return how long to wait before the next step.
    async fn heal(&self, error: EngineError, failures: usize) -> Duration {
        if failures == 1 {
            log::warn!("channel {}: {error}; healing the session", self.id.as_str());
        }
        self.note_error(&error);
        // The engine answers 500 "start timeout" while it prebuffers: give it a few tries.
        let still_starting =
            matches!(error, EngineError::Status(500)) && self.feed.held() == 0 && failures < 3;
        self.set_health(Some(error));
        if !still_starting {
            if let Err(e) = self.refresh().await {
                self.set_health(Some(e));
            }
        }
        BACKOFF[(failures - 1).min(BACKOFF.len() - 1)]
    }

    /// Waits `pause`, or less if the channel is stopped meanwhile.
    async fn pause(&self, pause: Duration) {
        let stopped = async {
            loop {
                let listener = self.listen();
                if self.is_stopped() {
                    return;
                }
                listener.await;
            }
        };
        stopped
            .or(async {
                Timer::after(pause).await;
            })
            .await;
    }

    /// Counts a failed engine call and keeps it as the channel's last error.
    fn note_error(&self, error: &EngineError) {
        Counters::count(&self.counters.engine_errors, 1);
        *lock(&self.last_error) = Some((error.clone(), now_ms()));
    }

    /// The last engine error, and how many milliseconds ago it happened.
    pub fn last_error(&self) -> Option<(EngineError, u64)> {
        lock(&self.last_error)
            .clone()
            .map(|(e, at)| (e, now_ms().saturating_sub(at)))
    }

    /// The engine's latest stat of the session, if it gave one.
    pub fn engine_stat(&self) -> Option<EngineStat> {
        lock(&self.engine_stat).clone()
    }

    /// Milliseconds since the channel was opened.
    pub fn age_ms(&self) -> u64 {
        now_ms().saturating_sub(self.opened_ms)
    }

    /// Asks the engine for the session's stat every [`STAT_EVERY`] until the channel stops (it
    /// notices within one period). A failed poll clears the stat; it is not an engine error (the
    /// feed judges the session).
    pub async fn watch_engine(&self) {
        while !self.is_stopped() {
            if let Some(session) = self.slot.load().filter(|s| !s.stat.is_empty()) {
                let stat = self.engine.stat(&session).await;
                if let Err(e) = &stat {
                    log::debug!("channel {}: stat poll failed: {e}", self.id.as_str());
                }
                *lock(&self.engine_stat) = stat.ok();
            }
            // A plain timer: the channel's change event fires on every TS frame.
            Timer::after(STAT_EVERY).await;
        }
    }

    /// The current engine `playback_session_id` (empty before the first start).
    pub fn session_id(&self) -> heapless::String<40> {
        self.slot
            .load()
            .map(|s| s.playback_session_id)
            .unwrap_or_default()
    }

    /// An HLS player asks for the entry URL: a new client, or one already watching (a
    /// reload; see [`Clients::join`]).
    pub fn join(&self, player: PlayerKey, addr: SocketAddr) -> Result<Joined, Full> {
        let lease = self.client_ttl_ms();
        self.clients
            .join(player, addr, now_ms(), lease)
            .map_err(|TableFull| Full::Clients)
    }

    /// The token of `player` if it is an HLS player already watching this channel.
    pub fn known_player(&self, player: PlayerKey, addr: SocketAddr) -> Option<u64> {
        self.clients
            .known(player, addr, now_ms(), self.client_ttl_ms())
    }

    /// An MPEG-TS stream opens: a client until [`Channel::remove_client`].
    pub fn open_stream(&self, player: PlayerKey, addr: SocketAddr) -> Result<u64, Full> {
        let lease = self.client_ttl_ms();
        self.clients
            .open_stream(player, addr, now_ms(), lease)
            .map_err(|TableFull| Full::Clients)
    }

    /// A TS stream ended.
    pub fn remove_client(&self, token: u64) {
        self.clients.remove(token);
    }

    /// An HLS player polled its playlist or fetched a segment (see [`Clients::touch`]).
    pub fn touch_client(&self, token: u64, player: PlayerKey, addr: SocketAddr) {
        let lease = self.client_ttl_ms();
        self.clients.touch(token, player, addr, (now_ms(), lease));
    }

    /// Clients now: HLS players heard from within their lease, and open TS streams.
    pub fn client_count(&self) -> usize {
        self.clients.count(now_ms(), self.client_ttl_ms())
    }

    /// The clients now, oldest first, for the status page.
    pub fn client_list(&self) -> Vec<ClientInfo> {
        self.clients.list(now_ms(), self.client_ttl_ms())
    }

    /// How long an HLS player stays a client (and known by its [`PlayerKey`]) without a
    /// request: [`CLIENT_TTL`], or three target durations if longer.
    fn client_ttl_ms(&self) -> u64 {
        let target = self.segments().map_or(0, Segments::target_duration);
        (CLIENT_TTL.as_millis() as u64).max(3_000 * u64::from(target))
    }

    /// The HLS segments this channel's HLS players get: the fetch loop's, or for a TS channel
    /// those cut from its stream, starting the segmenter for the first such player.
    pub fn hls_segments(self: &Arc<Self>) -> &Segments {
        if let Feed::Hls(segments) = &self.feed {
            return segments;
        }
        let cut = self.cut.get_or_init(|| {
            let cut = Segments::new(crate::segmenter::CUT_RING_BYTES);
            // Stated once and kept (a playlist's target duration may not change): the cuts'
            // length, rounded up, and a second for long picture groups.
            cut.raise_target_duration(crate::segmenter::SEGMENT_SECS.ceil() as u32 + 1);
            Box::new(cut)
        });
        if self.start_cutting() {
            log::info!(
                "channel {}: cutting HLS segments from its MPEG-TS stream",
                self.id.as_str()
            );
            let channel = self.clone();
            smol::spawn(async move {
                if let Some(cut) = channel.cut.get() {
                    crate::segmenter::run(channel.clone(), cut).await;
                }
            })
            .detach();
        }
        cut
    }

    /// Marks the segmenter running; false if it already was.
    fn start_cutting(&self) -> bool {
        self.cutting
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the segmenter has work: the channel plays and has an HLS player.
    pub fn has_hls_players(&self) -> bool {
        !self.is_stopped()
            && self
                .clients
                .any(Protocol::Hls, now_ms(), self.client_ttl_ms())
    }

    /// The segmenter stops, its segments let go. False when an HLS player came meanwhile (it
    /// found the segmenter running and started none): then it goes on.
    pub fn stop_cutting(&self) -> bool {
        self.cutting.store(false, Ordering::Release);
        !(self.has_hls_players() && self.start_cutting())
    }

    /// The HLS segments this channel holds, if any: an HLS channel's, or those already cut
    /// from a TS channel's stream.
    pub fn segments(&self) -> Option<&Segments> {
        match &self.feed {
            Feed::Hls(segments) => Some(segments),
            Feed::Ts(_) => self.cut.get().map(|cut| &**cut),
        }
    }

    /// Marks a request under way for this channel until the guard drops.
    fn activity(self: &Arc<Self>) -> Activity {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.active_ms.store(now_ms(), Ordering::Release);
        Activity(self.clone())
    }

    fn idle_for(&self, now: u64) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(Duration::from_millis(
            now.saturating_sub(self.active_ms.load(Ordering::Acquire)),
        ))
    }

    /// The fetch loop's latest error, if its last poll failed.
    pub fn health(&self) -> Option<EngineError> {
        lock(&self.health).clone()
    }

    pub fn set_health(&self, error: Option<EngineError>) {
        *lock(&self.health) = error;
        self.notify();
    }

    /// Wakes whoever waits for this channel to change (new segments, an error, a stop).
    pub fn notify(&self) {
        self.changed.notify(usize::MAX);
    }

    /// A listener for the next change; take it before checking the state it waits for.
    pub fn listen(&self) -> EventListener {
        self.changed.listen()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Stops the fetch loop, frees the ring and stops the engine session (once, short timeout).
    async fn stop(&self, why: &str) {
        self.stopped.store(true, Ordering::Release);
        self.feed.clear();
        if let Some(cut) = self.cut.get() {
            cut.ring.clear();
        }
        self.notify();
        self.stop_session(why).await;
    }

    /// Stops the engine session the slot holds, if any, saying `why` in the log.
    async fn stop_session(&self, why: &str) {
        let id = self.id.as_str();
        // Counted before the slot is taken, so whoever finds it empty can wait for this stop.
        self.stopping.fetch_add(1, Ordering::AcqRel);
        if let Some(session) = self.slot.take() {
            match self.engine.stop(&session).await {
                Ok(()) => log::info!("channel {id}: {why}, engine session stopped"),
                Err(e) => {
                    log::warn!("channel {id}: {why}; stopping the engine session failed: {e}")
                }
            }
        }
        self.stopping.fetch_sub(1, Ordering::AcqRel);
        self.notify();
    }

    /// Waits until no engine start is under way and no stop is being answered.
    async fn settled(&self) {
        self.flight.idle().await;
        loop {
            let listener = self.listen();
            if self.stopping.load(Ordering::Acquire) == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// Locks `mutex`: nothing under the locks of this module can panic half-way through an update,
/// so a poisoned lock still holds a consistent value.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a client asks to play.
pub struct Open<'a> {
    pub id: &'a ContentId,
    pub selector: Selector,
    pub mode: Mode,
    /// Engine options to pass on, an encoded query fragment (`&transcode_audio=1`...).
    pub extra: &'a str,
}

/// A request under way for a channel: while one exists, the channel is not idle.
pub struct Activity(Arc<Channel>);

impl std::ops::Deref for Activity {
    type Target = Arc<Channel>;
    fn deref(&self) -> &Arc<Channel> {
        &self.0
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.0.active_ms.store(now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every channel acebox plays.
pub struct Registry {
    channels: Mutex<heapless::Vec<Arc<Channel>, MAX_CHANNELS>>,
    engine: Engine,
    idle_timeout: Duration,
    /// Fires when a stopped channel leaves the list.
    removed: Event,
    /// The counters of channels that are gone.
    retired: Counters,
    /// Set by [`Registry::stop_all`]: no channel is opened any more.
    closing: AtomicBool,
}

impl Registry {
    pub fn new(engine: Engine, idle_timeout: Duration) -> Registry {
        Registry {
            channels: Mutex::new(heapless::Vec::new()),
            engine,
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
            match self.find_or_create(request) {
                Some(outcome) => return outcome,
                None => listener.await,
            }
        }
    }

    /// The channel for the request, created if there is none; `None` while one is stopping.
    fn find_or_create(&self, request: &Open<'_>) -> Option<Result<Activity, Full>> {
        let mut channels = self.channels();
        if self.closing.load(Ordering::Acquire) {
            return Some(Err(Full::ShuttingDown));
        }
        match channels.iter().find(|c| c.id == *request.id) {
            Some(found) if found.is_stopped() => return None,
            // Whatever mode its session plays in: clients of the other mode are served from it.
            Some(found) => return Some(Ok(found.activity())),
            None => {}
        }
        let channel = Arc::new(Channel::new(request, self.engine.clone()));
        if channels.push(channel.clone()).is_err() {
            return Some(Err(Full::Channels));
        }
        let activity = channel.activity();
        drop(channels);
        log::info!(
            "channel {}: opened ({:?})",
            request.id.as_str(),
            request.mode
        );
        let watched = channel.clone();
        smol::spawn(async move { watched.watch_engine().await }).detach();
        match request.mode {
            Mode::Hls => smol::spawn(crate::hls::run(channel)).detach(),
            Mode::Ts => smol::spawn(crate::ts::run(channel)).detach(),
        }
        Some(Ok(activity))
    }

    /// The channel for `id`, if it exists and is not being stopped.
    pub fn find(&self, id: &ContentId) -> Option<Activity> {
        self.channels()
            .iter()
            .find(|c| c.id == *id && !c.is_stopped())
            .map(|c| c.activity())
    }

    /// Forgets a channel whose first start failed, unless another client has since got it going.
    pub fn discard_unstarted(&self, channel: &Arc<Channel>) {
        let mut channels = self.channels();
        if channel.slot.load().is_none() {
            self.unlist(&mut channels, channel);
            channel.stopped.store(true, Ordering::Release);
            channel.notify();
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Every channel, and a copy of the counters of those that are gone (for the status page),
    /// taken under the one lock that moves a channel from the first to the second, so no
    /// channel is counted in both.
    pub fn snapshot_with_retired(&self) -> (heapless::Vec<Arc<Channel>, MAX_CHANNELS>, Counters) {
        let channels = self.channels();
        (channels.clone(), self.retired.snapshot())
    }

    /// Stops and forgets the channels idle for the idle timeout. Runs forever.
    pub async fn reap_idle(&self) {
        let tick =
            (self.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            async_io::Timer::after(tick).await;
            for channel in self.take_idle() {
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
            self.retired.absorb(&channel.counters);
        }
    }

    /// Stops every channel and its engine session, all at once; for shutdown. Opens no channel
    /// from then on. Waits, for at most `grace`, for engine starts under way to land (and stops
    /// what they started) and for idle stops under way to be answered; says what it could not
    /// wait for.
    pub async fn stop_all(&self, grace: Duration) {
        self.closing.store(true, Ordering::Release);
        let stops: Vec<_> = self
            .channels()
            .iter()
            .map(|channel| {
                // Marked at once, so the reaper and late starts see it before the stops run.
                channel.stopped.store(true, Ordering::Release);
                let channel = channel.clone();
                smol::spawn(async move {
                    channel.stop("shutting down").await;
                    // A start under way lands in a stopped channel, whose start then stops what
                    // it started (or this does); wait for that stop too.
                    channel.flight.idle().await;
                    channel.stop_session("shutting down").await;
                    channel.settled().await;
                    channel
                })
            })
            .collect();
        let settle = async {
            for stop in stops {
                let channel = stop.await;
                self.forget(&channel);
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
            for channel in self.channels().iter() {
                log::warn!(
                    "channel {}: its engine start or stop was still under way at exit; the \
                     engine ends that session by its own timeout",
                    channel.id.as_str()
                );
            }
        };
        settle.or(late).await;
    }

    /// Marks the channels idle for the idle timeout as stopped (they stay listed until their
    /// stop is done) and returns them.
    fn take_idle(&self) -> heapless::Vec<Arc<Channel>, MAX_CHANNELS> {
        let now = now_ms();
        let channels = self.channels();
        let idle = |c: &&Arc<Channel>| {
            !c.is_stopped() && c.idle_for(now).is_some_and(|d| d >= self.idle_timeout)
        };
        let mut taken = heapless::Vec::new();
        for channel in channels.iter().filter(idle) {
            channel.stopped.store(true, Ordering::Release);
            // Cannot fail: at most as many as the registry holds.
            let _ = taken.push(channel.clone());
        }
        taken
    }

    fn channels(&self) -> MutexGuard<'_, heapless::Vec<Arc<Channel>, MAX_CHANNELS>> {
        lock(&self.channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_are_40_hex_in_lower_case() {
        let id = ContentId::parse("ABCDEF0123456789abcdef0123456789ABCDEF01").unwrap();
        assert_eq!(id.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        assert_eq!(ContentId::parse(""), Err(IdError::Missing));
        assert_eq!(ContentId::parse("abc"), Err(IdError::Malformed));
        assert_eq!(ContentId::parse(&"g".repeat(40)), Err(IdError::Malformed));
        assert_eq!(ContentId::parse(&"é".repeat(20)), Err(IdError::Malformed));
    }

    const PEER: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);

    fn hls(id: &ContentId) -> Open<'_> {
        Open {
            id,
            selector: Selector::ContentId,
            mode: Mode::Hls,
            extra: "",
        }
    }

    fn registry() -> Registry {
        let engine = Engine::new(crate::http::Origin::parse("http://127.0.0.1:9").unwrap());
        Registry::new(engine, Duration::from_millis(0))
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
        assert!(reg.take_idle().is_empty(), "requests are under way");
        drop((first, second, third));
        assert_eq!(reg.take_idle().len(), 1);
        assert!(reg.find(&id).is_none());
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
        let stopping = reg.take_idle();
        assert_eq!(stopping.len(), 1);
        assert!(reg.find(&id).is_none(), "not handed to new requests");
        smol::block_on(async {
            let request = hls(&id);
            let mut reopen = Box::pin(reg.open(&request));
            assert!(
                futures_lite::future::poll_once(&mut reopen).await.is_none(),
                "waits"
            );
            reg.forget(&stopping[0]);
            let new = reopen.await.unwrap();
            assert!(!Arc::ptr_eq(&new, &old_channel), "a fresh channel");
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
        for n in 0..MAX_CLIENTS_PER_CHANNEL {
            let player = PlayerKey::new(PEER.ip(), format!("player {n}").as_bytes(), b"");
            assert!(matches!(held[0].join(player, PEER), Ok(Joined::New(_))));
        }
        let one_more = PlayerKey::new(PEER.ip(), b"one more", b"");
        assert_eq!(held[0].join(one_more, PEER), Err(Full::Clients));
        assert_eq!(held[0].open_stream(one_more, PEER), Err(Full::Clients));
        assert_eq!(held[0].client_count(), MAX_CLIENTS_PER_CHANNEL);
    }
}
