//! Channels: one per content id, each with its session slot, its store and its clients.
//!
//! - [`id`]: [`ContentId`], the checked id a client names a channel by;
//! - [`source`]: [`Source`], one way to play a channel (a content id or an infohash);
//! - [`clients`]: who is watching a channel, and whether a request is a new player;
//! - [`supervise`]: a channel's engine session: starting and refreshing it, healing it when the
//!   feed fails, the engine's stat poll, stopping it;
//! - [`derived`]: the HLS segments a TS channel cuts for its HLS players;
//! - [`failover`]: when a channel's session moves to a backup id, and the move;
//! - [`registry`]: every channel, created once and forgotten when idle.
//!
//! A [`Channel`] owns what one content id needs to be played by many clients through one engine
//! session, and is the one place that knows every part: it builds each feed's [`Context`] and
//! spawns the feed with its store. The rule of this layer: `channel` imports the layers below it
//! (the feeds `hls`, `ts` and `feed`, the `engine`, `http`, `session`, `storage`, `counters`
//! and `clock`); none of those imports `channel`. Decisions
//! by time take `now` (milliseconds of [`crate::clock`]); only async code and guards read the
//! clock.

pub mod clients;
pub mod derived;
pub mod failover;
pub mod id;
pub mod registry;
pub mod source;
pub mod supervise;

pub use id::{ContentId, IdError};
pub use registry::{Activity, Full, Open, Registry};
pub use source::Source;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::AtomicU64;
use crate::counters::Counters;
use crate::engine::{Claim, Engine, EngineError, EngineStat, Engines, Mode, Selector};
use crate::feed::{Context, Events, Stop};
use crate::http::Stalled;
use crate::session::{Flight, Session, SessionSlot};
use crate::storage::{Chunks, SegmentMeta, Segments, Store};
use crate::ts::stream::{self, Lent, TsStream};
use clients::{ClientInfo, Clients, Joined, PlayerKey};

/// An HLS player that has not been heard from for this long (or three target durations, if
/// longer) is gone; back after that, it is a new player.
const CLIENT_TTL: Duration = Duration::from_secs(15);
/// The longest query fragment of engine options (`transcode_audio`...) a channel passes on.
pub const EXTRA_CAP: usize = 256;
/// The longest channel name kept, in bytes (longer names are cut at a character).
pub const NAME_CAP: usize = 96;
/// The most ways to play one channel: its id and its backups (more are left out).
pub const MAX_SOURCES: usize = 8;

/// What one HLS playlist lists: sequence numbers and what the playlist says of each.
pub type Listing = heapless::Vec<(u64, SegmentMeta), { crate::board::PLAYLIST_WINDOW }>;

/// One content id played through one engine session.
pub struct Channel {
    pub id: ContentId,
    /// What the channel is called, for the views; empty when acebox knows no name.
    pub name: heapless::String<NAME_CAP>,
    pub mode: Mode,
    /// The ways to play the channel: its own id first, then its backups, in order.
    sources: heapless::Vec<Source, MAX_SOURCES>,
    /// Which of `sources` the next start asks for: the one playing, or the one to move to.
    active: AtomicUsize,
    /// Moves to another source or engine so far: a feed step under way when it changes is
    /// given up.
    moves: AtomicU64,
    pid: heapless::String<48>,
    /// Engine options from the first client, encoded (`&transcode_audio=1`...).
    extra: heapless::String<EXTRA_CAP>,
    /// Every engine, and the channel's place on the one it plays from (moved when that one
    /// fails): taken as the registry lists the channel, given back as it unlists it.
    engines: Arc<Engines>,
    claim: Mutex<Option<Claim>>,
    pub slot: SessionSlot,
    flight: Flight<EngineError>,
    /// What the engine session feeds: segments for HLS, chunks for MPEG-TS.
    pub store: Store,
    /// HLS segments cut from a TS channel's stream, for its HLS players: made, and the
    /// segmenter started, by the first of them ([`Channel::hls_segments`]).
    cut: OnceLock<Arc<Segments>>,
    /// The segmenter runs: from the first HLS player of a TS channel until none is left.
    cutting: AtomicBool,
    clients: Clients,
    pub counters: Counters,
    events: Events,
    /// The right to stop the channel, which no feed or client has.
    stop: Stop,
    /// The feed's latest error, cleared by its next success.
    health: Mutex<Option<EngineError>>,
    /// The engine's latest stat of the session, and the error of the last engine call that
    /// failed, with when (kept after recovery, for the status page).
    engine_stat: Mutex<Option<EngineStat>>,
    last_error: Mutex<Option<(EngineError, u64)>>,
    opened_ms: u64,
    /// Requests under way, and when the last one ended: the registry's idleness.
    in_flight: AtomicUsize,
    active_ms: AtomicU64,
    /// Engine stops being answered now.
    stopping: AtomicUsize,
    /// When the last engine start landed.
    started_ms: AtomicU64,
}

impl Channel {
    /// A channel for `request`, opened at `now` (milliseconds of [`crate::clock`]) and
    /// `wall_ms` (Unix time, for an HLS channel's first media sequence). Starts nothing and
    /// holds no place on an engine: the registry places it ([`Channel::place`]) as it lists
    /// it, then starts its feed.
    fn new(request: &Open<'_>, engines: Arc<Engines>, now: u64, wall_ms: u64) -> Channel {
        let id = request.id.clone();
        let mut sources = heapless::Vec::new();
        let own = Source {
            id: id.clone(),
            selector: request.selector,
        };
        for source in std::iter::once(&own).chain(request.backups) {
            if !sources.contains(source) && sources.push(source.clone()).is_err() {
                break;
            }
        }
        let extra = heapless::String::try_from(request.extra).unwrap_or_default();
        let mut pid = heapless::String::new();
        // Cannot fail: 7 + 40 bytes. One player id per channel: all its clients share a session.
        let _ = pid.push_str("acebox-");
        let _ = pid.push_str(id.as_str());
        let store = match request.mode {
            Mode::Hls => {
                let first = crate::hls::first_media_sequence(wall_ms);
                Store::Hls(Arc::new(Segments::new(crate::board::RING_BYTES, first)))
            }
            Mode::Ts => Store::Ts(Arc::new(Chunks::default())),
        };
        let (events, stop) = Events::new();
        Channel {
            id,
            name: crate::clip(request.name),
            mode: request.mode,
            sources,
            active: AtomicUsize::new(0),
            moves: AtomicU64::new(0),
            pid,
            extra,
            engines,
            claim: Mutex::new(None),
            slot: SessionSlot::default(),
            flight: Flight::default(),
            store,
            cut: OnceLock::new(),
            cutting: AtomicBool::new(false),
            clients: Clients::default(),
            counters: Counters::default(),
            events,
            stop,
            health: Mutex::new(None),
            engine_stat: Mutex::new(None),
            last_error: Mutex::new(None),
            opened_ms: now,
            in_flight: AtomicUsize::new(0),
            active_ms: AtomicU64::new(now),
            stopping: AtomicUsize::new(0),
            started_ms: AtomicU64::new(0),
        }
    }

    /// What a feed of this channel may use of it while it plays `session`: the engine is the
    /// session's.
    fn context(&self, session: &Session) -> Context<'_> {
        Context {
            id: self.id.as_str(),
            engine: self.engine(usize::from(session.engine)),
            counters: &self.counters,
            events: &self.events,
        }
    }

    /// Engine `index` of acebox's engines (the first, should an index be out of the table).
    fn engine(&self, index: usize) -> &Engine {
        &self.engines.get(index).engine
    }

    /// Which engine the channel plays from (an index into acebox's engines; the first while
    /// it holds no place, before it is listed and after).
    pub fn engine_index(&self) -> usize {
        crate::lock(&self.claim).as_ref().map_or(0, Claim::index)
    }

    /// Gives the channel its place on an engine: the registry lists it.
    fn place(&self, claim: Claim) {
        *crate::lock(&self.claim) = Some(claim);
    }

    /// Gives back the channel's place on its engine: it has left the registry's list.
    fn give_back_engine(&self) {
        let left = crate::lock(&self.claim).take();
        drop(left);
    }

    /// How the channel's first client asked for it, which is how it plays: the selector of its
    /// own id and the engine options (an encoded query fragment, `&transcode_audio=1`...).
    pub fn form(&self) -> (Selector, &str) {
        (self.sources[0].selector, &self.extra)
    }

    /// The channel's stop flag and change event.
    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn is_stopped(&self) -> bool {
        self.events.is_stopped()
    }

    /// Marks the channel stopped (for good); whoever must know at once is notified by the
    /// caller.
    fn mark_stopped(&self) {
        self.events.mark_stopped(&self.stop);
    }

    /// The feed's latest error, if its last step failed.
    pub fn health(&self) -> Option<EngineError> {
        crate::lock(&self.health).clone()
    }

    fn set_health(&self, error: Option<EngineError>) {
        *crate::lock(&self.health) = error;
        self.events.notify();
    }

    /// The last engine error, and how many milliseconds before `now` it happened.
    pub fn last_error(&self, now: u64) -> Option<(EngineError, u64)> {
        crate::lock(&self.last_error)
            .clone()
            .map(|(e, at)| (e, now.saturating_sub(at)))
    }

    /// The engine's latest stat of the session, if it gave one.
    pub fn engine_stat(&self) -> Option<EngineStat> {
        crate::lock(&self.engine_stat).clone()
    }

    /// Milliseconds from the channel's opening to `now`.
    pub fn age_ms(&self, now: u64) -> u64 {
        now.saturating_sub(self.opened_ms)
    }

    /// The current engine `playback_session_id` (empty before the first start).
    pub fn session_id(&self) -> heapless::String<40> {
        self.slot
            .load()
            .map(|s| s.playback_session_id)
            .unwrap_or_default()
    }

    /// An HLS player asks for the entry URL at `now`: a new client, or one already watching
    /// (a reload; see [`Clients::join`]).
    pub fn join(&self, player: PlayerKey, addr: SocketAddr, now: u64) -> Result<Joined, Full> {
        self.clients
            .join(player, addr, now, self.client_ttl_ms())
            .map_err(Full::from)
    }

    /// The token of `player` if it is an HLS player already watching this channel.
    pub fn known_player(&self, player: PlayerKey, addr: SocketAddr, now: u64) -> Option<u64> {
        self.clients.known(player, addr, now, self.client_ttl_ms())
    }

    /// An HLS player polled its playlist or fetched a segment (see [`Clients::touch`]).
    pub fn touch_client(&self, token: u64, player: PlayerKey, addr: SocketAddr, now: u64) {
        let lease = self.client_ttl_ms();
        self.clients.touch(token, player, addr, (now, lease));
    }

    /// Whether a client at `ip` may join at `now` (see [`Clients::room_for`]): checked before a
    /// new player refreshes the session, so made-up players refresh nothing.
    pub fn room_for(&self, ip: IpAddr, now: u64) -> bool {
        self.clients.room_for(ip, now, self.client_ttl_ms())
    }

    /// The segments HLS player `token` is listed from `segments` (the channel's own, or those
    /// cut from its TS stream): from the one after the last it was listed while the ring holds
    /// it, so a burst of segments between two polls costs it none; else the newest (a new
    /// player, or one further behind than the ring, whose skip is counted). `PLAYLIST_WINDOW`
    /// at most, all held when listed: listing all the ring holds instead would list the very
    /// segments it evicts next, and buy nothing, since players start near the live edge of
    /// any list. Remembered: one number per client (see README.md, "How it works").
    pub fn listing(&self, token: u64, segments: &Segments) -> Listing {
        let next = self.clients.next_segment(token);
        let entries = segments.ring.window(next);
        if matches!((next, entries.first()), (Some(next), Some((first, _))) if *first > next) {
            self.counters.client_skips.add(1);
        }
        if let Some((last, _)) = entries.last() {
            self.clients.listed(token, *last);
        }
        entries
    }

    /// Clients at `now`: HLS players heard from within their lease, and open TS streams.
    pub fn client_count(&self, now: u64) -> usize {
        self.clients.count(now, self.client_ttl_ms())
    }

    /// The clients at `now`, oldest first, for the status page.
    pub fn client_list(&self, now: u64) -> Vec<ClientInfo> {
        self.clients.list(now, self.client_ttl_ms())
    }

    /// How long an HLS player stays a client (and known by its [`PlayerKey`]) without a
    /// request: [`CLIENT_TTL`], or three target durations if longer.
    fn client_ttl_ms(&self) -> u64 {
        let target = self.segments().map_or(0, Segments::target_duration);
        (CLIENT_TTL.as_millis() as u64).max(3_000 * u64::from(target))
    }

    /// The HLS segments this channel holds, if any: an HLS channel's, or those already cut
    /// from a TS channel's stream.
    pub fn segments(&self) -> Option<&Segments> {
        match &self.store {
            Store::Hls(segments) => Some(segments),
            Store::Ts(_) => self.cut.get().map(|cut| &**cut),
        }
    }

    /// Marks a request under way for this channel, from `now` until the guard drops.
    fn activity(self: &Arc<Self>, now: u64) -> Activity {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.active_ms.store(now, Ordering::Release);
        Activity(self.clone())
    }

    /// How long the channel has been idle at `now`; `None` while a request is under way.
    fn idle_for(&self, now: u64) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(Duration::from_millis(
            now.saturating_sub(self.active_ms.load(Ordering::Acquire)),
        ))
    }
}

impl Activity {
    /// An MPEG-TS client at `addr` opens a stream of this channel at `now`: it is one of the
    /// channel's clients until the stream is dropped. Fails when the channel already has its
    /// maximum of clients.
    pub fn into_stream(
        self,
        player: PlayerKey,
        addr: SocketAddr,
        stalled: Stalled,
        now: u64,
    ) -> Result<TsStream<StreamLease>, Full> {
        let lease = self.client_ttl_ms();
        let token = self
            .clients
            .open_stream(player, addr, now, lease)
            .map_err(Full::from)?;
        let lease = StreamLease {
            channel: self,
            token,
        };
        Ok(TsStream::new(lease, stalled))
    }
}

/// A TS client's hold on its channel: keeps the channel busy and the client in its table until
/// dropped.
pub struct StreamLease {
    channel: Activity,
    token: u64,
}

impl stream::Source for StreamLease {
    fn lent(&self) -> Lent<'_> {
        let channel = &self.channel;
        Lent {
            id: channel.id.as_str(),
            store: &channel.store,
            counters: &channel.counters,
            events: &channel.events,
        }
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.channel.clients.remove(self.token);
    }
}
