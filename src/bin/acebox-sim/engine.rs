//! The simulated engine's state: one live clock per content, one session per player id, the
//! MPEG-TS paths and open streams of those sessions, the runtime knobs tests turn, and the
//! counters they read back.
//!
//! This module owns what every request means at a given instant, which callers pass in. It never
//! touches sockets, never waits and never formats an HTTP answer: it says "wait until then" and
//! the caller does the waiting.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::TS_PACKET;
use crate::playlist::{self, Window};
use crate::{ids, ts};

/// The player id `/sim/supersede` starts under.
pub const INTRUDER: &str = "sim-intruder";
/// The most packets one step of a TS stream hands out, so that a burst is sent in pieces and a
/// stream notices its session's end between them.
const TS_STEP_PACKETS: u64 = 256;
/// How many start queries `/sim/stats` shows, newest last.
const START_QUERIES_KEPT: usize = 64;

/// What the command line fixes about the engine.
#[derive(Clone, Debug)]
pub struct Settings {
    pub segment_ms: u64,
    pub segment_bytes: u64,
    pub window: u64,
    pub prebuffer_ms: u64,
    pub idle_ms: u64,
    pub rotate_tokens: bool,
    /// The pace of a content's TS stream.
    pub ts_bitrate: u64,
    /// How many packets before the live one a new TS reader gets at once.
    pub ts_burst_packets: u64,
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Live,
    /// Another player started the same content (playlist 403).
    Superseded,
    /// No player activity for the idle time, or `/sim/expire` (playlist 403).
    Expired,
    /// Stopped through its command URL (playlist 500).
    Stopped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Superseded => "superseded",
            State::Expired => "expired",
            State::Stopped => "stopped",
        }
    }
}

/// Who started a session, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Starter {
    Json,
    Redirect,
    /// `/sim/supersede`: not counted as a start.
    Intruder,
}

/// One player's session.
#[derive(Clone, Debug)]
pub struct Session {
    pub pid: String,
    pub content: String,
    pub infohash: String,
    pub token: String,
    pub session_id: String,
    pub state: State,
    last_activity: Instant,
}

/// The session a `/content/` path or stream belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    pid: String,
    session_id: String,
    infohash: String,
}

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

/// Why a session-scoped URL is refused.
enum Refusal {
    /// 500: no such session, or stopped.
    Unknown,
    /// 403: superseded, expired or an old rotated token.
    Forbidden,
}

/// What a start produced.
#[derive(Debug)]
pub struct Started {
    pub infohash: String,
    pub token: String,
    pub session_id: String,
    /// How many other players' sessions this start superseded.
    pub superseded: usize,
}

/// A content's live clock: segment n exists from `start + prebuffer + (n + 1) * segment`.
struct Clock {
    start: Instant,
    unix_start: u64,
    prebuffer: Duration,
}

/// The counters `/sim/stats` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub starts: u64,
    pub json_starts: u64,
    pub redirect_starts: u64,
    pub stops: u64,
    pub playlist_requests: u64,
    pub playlist_403: u64,
    pub playlist_500: u64,
    pub segment_requests: u64,
    /// `/ace/r/` requests.
    pub ts_requests: u64,
    /// `/content/` streams started (200 with a live body).
    pub ts_streams: u64,
    /// The most `/content/` streams one session had at once, the corrupt one included.
    pub ts_max_concurrent_per_session: u64,
    /// `/content/` requests answered with a broken body because the session had a reader.
    pub ts_corrupt: u64,
    /// Bytes handed to TS streams.
    pub ts_bytes: u64,
}

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
    /// Percent done while prebuffering; `None` once playing.
    pub prebuffer_progress: Option<u64>,
    pub downloaded: u64,
    pub first_ts: u64,
    pub last_ts: u64,
}

/// Everything `/sim/stats` shows, sessions sorted by player id.
#[derive(Debug)]
pub struct Snapshot {
    pub counters: Counters,
    pub distinct_segments: usize,
    pub max_fetches_per_segment: u64,
    /// TS streams open now.
    pub ts_open: u64,
    pub sessions: Vec<Session>,
    /// The raw query strings of the latest start requests, oldest first.
    pub start_queries: Vec<String>,
}

pub struct Engine {
    settings: Settings,
    burst: u64,
    off_host: Option<String>,
    playlist_fault: Option<(Fault, u64)>,
    start_fault: Option<(Fault, u64)>,
    segment_fault: Option<(Fault, u64)>,
    failing: HashSet<String>,
    clocks: HashMap<String, Clock>,
    sessions: HashMap<String, Session>,
    retired_tokens: HashSet<String>,
    rotation: u64,
    seed: u64,
    serial: u64,
    counters: Counters,
    fetches: HashMap<(String, u64), u64>,
    /// `/content/` paths handed out, by path.
    ts_paths: HashMap<String, Owner>,
    /// Open TS streams, by playback session id; a session with one never idles out.
    open_streams: HashMap<String, u64>,
    ts_stall_until: Option<Instant>,
    segment_stall_until: Option<Instant>,
    oversize_segment: Option<usize>,
    start_queries: VecDeque<String>,
}

impl Engine {
    /// A fresh engine; `seed` makes this process's session ids differ from another's.
    pub fn new(settings: Settings, seed: u64) -> Engine {
        Engine {
            settings,
            burst: 1,
            off_host: None,
            playlist_fault: None,
            start_fault: None,
            segment_fault: None,
            failing: HashSet::new(),
            clocks: HashMap::new(),
            sessions: HashMap::new(),
            retired_tokens: HashSet::new(),
            rotation: 0,
            seed,
            serial: 0,
            counters: Counters::default(),
            fetches: HashMap::new(),
            ts_paths: HashMap::new(),
            open_streams: HashMap::new(),
            ts_stall_until: None,
            segment_stall_until: None,
            oversize_segment: None,
            start_queries: VecDeque::new(),
        }
    }

    /// Whether starting `content` fails (`/sim/config?fail_id=`).
    pub fn is_failing(&self, content: &str) -> bool {
        self.failing.contains(content)
    }

    /// Starts `content` for `pid`: replaces that player's session and supersedes every other
    /// player's live session on the same content. Starts the content's clock if it has none.
    pub fn start(&mut self, pid: &str, content: &str, starter: Starter, now: Instant) -> Started {
        self.expire_idle(now);
        let infohash = ids::infohash(content);
        let prebuffer = Duration::from_millis(self.settings.prebuffer_ms);
        self.clocks
            .entry(infohash.clone())
            .or_insert_with(|| Clock::new(now, prebuffer));
        let superseded = self.supersede_others(pid, content);
        let token = self.next_token(pid);
        if let Some(old) = self.sessions.get(pid).filter(|old| old.token != token) {
            self.retired_tokens.insert(old.token.clone());
        }
        self.serial += 1;
        let session = Session {
            pid: pid.to_owned(),
            content: content.to_owned(),
            infohash: infohash.clone(),
            token: token.clone(),
            session_id: ids::session_id(self.seed, self.serial),
            state: State::Live,
            last_activity: now,
        };
        let session_id = session.session_id.clone();
        self.sessions.insert(pid.to_owned(), session);
        self.count_start(starter);
        Started {
            infohash,
            token,
            session_id,
            superseded,
        }
    }

    fn supersede_others(&mut self, pid: &str, content: &str) -> usize {
        let others = self
            .sessions
            .values_mut()
            .filter(|s| s.pid != pid && s.content == content && s.state == State::Live);
        others.map(|s| s.state = State::Superseded).count()
    }

    fn next_token(&mut self, pid: &str) -> String {
        if self.settings.rotate_tokens {
            self.rotation += 1;
            ids::token(pid, Some(self.rotation))
        } else {
            ids::token(pid, None)
        }
    }

    fn count_start(&mut self, starter: Starter) {
        let c = &mut self.counters;
        match starter {
            Starter::Json => c.json_starts += 1,
            Starter::Redirect => c.redirect_starts += 1,
            Starter::Intruder => return,
        }
        c.starts += 1;
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

    /// Counts a playlist request and, if a playlist fault is pending, consumes one of its
    /// answers.
    pub fn begin_playlist(&mut self) -> Option<Fault> {
        self.counters.playlist_requests += 1;
        take_fault(&mut self.playlist_fault)
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
        let Some(clock) = self.clocks.get(infohash) else {
            return Playlist::Unknown;
        };
        let available = clock.available(self.settings.segment_ms, now);
        match playlist::window(available, self.burst, self.settings.window) {
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

    /// Stops a live session; `false` when there is none at `infohash`/`token`.
    pub fn stop(&mut self, infohash: &str, token: &str, now: Instant) -> bool {
        self.expire_idle(now);
        let Some(session) = self.find_live_mut(infohash, token) else {
            return false;
        };
        session.state = State::Stopped;
        self.counters.stops += 1;
        true
    }

    /// Another player starts `content`, superseding everyone else on it.
    pub fn supersede(&mut self, content: &str, now: Instant) -> Started {
        self.start(INTRUDER, content, Starter::Intruder, now)
    }

    /// Expires every live session on `content`; returns how many.
    pub fn expire(&mut self, content: &str, now: Instant) -> usize {
        self.expire_idle(now);
        let live = self.sessions.values_mut().filter(|s| s.content == content);
        live.filter(|s| s.state == State::Live)
            .map(|s| s.state = State::Expired)
            .count()
    }

    /// Forgets every session, token and content clock, as an engine restart does; the fetch
    /// counters and knobs stay.
    pub fn restart(&mut self) {
        self.sessions.clear();
        self.clocks.clear();
        self.retired_tokens.clear();
        self.ts_paths.clear();
        self.rotation = 0;
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

    /// What `/sim/stats` shows at `now`.
    pub fn snapshot(&mut self, now: Instant) -> Snapshot {
        self.expire_idle(now);
        let mut sessions: Vec<Session> = self.sessions.values().cloned().collect();
        sessions.sort_by(|a, b| a.pid.cmp(&b.pid));
        Snapshot {
            counters: self.counters.clone(),
            distinct_segments: self.fetches.len(),
            max_fetches_per_segment: self.fetches.values().copied().max().unwrap_or(0),
            ts_open: self.open_streams.values().sum(),
            sessions,
            start_queries: self.start_queries.iter().cloned().collect(),
        }
    }

    /// Turns live sessions without player activity for the idle time into expired ones; a
    /// session with an open TS stream is active.
    fn expire_idle(&mut self, now: Instant) {
        let idle = Duration::from_millis(self.settings.idle_ms);
        let open = &self.open_streams;
        let live = self
            .sessions
            .values_mut()
            .filter(|s| s.state == State::Live && !open.contains_key(&s.session_id));
        for session in live.filter(|s| now.saturating_duration_since(s.last_activity) >= idle) {
            session.state = State::Expired;
        }
    }

    /// The live session at `infohash`/`token`, touched as player activity.
    fn admit(&mut self, infohash: &str, token: &str, now: Instant) -> Result<Owner, Refusal> {
        self.expire_idle(now);
        let retired = self.retired_tokens.contains(token);
        let Some(session) = self.find_mut(infohash, token) else {
            return Err(if retired {
                Refusal::Forbidden
            } else {
                Refusal::Unknown
            });
        };
        match session.state {
            State::Stopped => Err(Refusal::Unknown),
            State::Superseded | State::Expired => Err(Refusal::Forbidden),
            State::Live => {
                session.last_activity = now;
                Ok(Owner {
                    pid: session.pid.clone(),
                    session_id: session.session_id.clone(),
                    infohash: session.infohash.clone(),
                })
            }
        }
    }

    /// Player activity for `owner`'s session, if it is still the live one.
    fn touch(&mut self, owner: &Owner, now: Instant) {
        if is_current(&self.sessions, owner) {
            if let Some(session) = self.sessions.get_mut(&owner.pid) {
                session.last_activity = now;
            }
        }
    }

    fn find_mut(&mut self, infohash: &str, token: &str) -> Option<&mut Session> {
        self.sessions
            .values_mut()
            .find(|s| s.infohash == infohash && s.token == token)
    }

    fn find_live_mut(&mut self, infohash: &str, token: &str) -> Option<&mut Session> {
        self.find_mut(infohash, token)
            .filter(|s| s.state == State::Live)
    }
}

/// Consumes one answer of a pending fault: the fault, or `None` when none is pending.
fn take_fault(pending: &mut Option<(Fault, u64)>) -> Option<Fault> {
    let (fault, left) = (*pending)?;
    *pending = (left > 1).then_some((fault, left - 1));
    Some(fault)
}

/// Whether `owner`'s session is still its player's live session (not replaced, not ended).
fn is_current(sessions: &HashMap<String, Session>, owner: &Owner) -> bool {
    sessions
        .get(&owner.pid)
        .is_some_and(|s| s.session_id == owner.session_id && s.state == State::Live)
}

impl From<Refusal> for Playlist {
    fn from(refusal: Refusal) -> Playlist {
        match refusal {
            Refusal::Unknown => Playlist::Unknown,
            Refusal::Forbidden => Playlist::Forbidden,
        }
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

impl Clock {
    fn new(now: Instant, prebuffer: Duration) -> Clock {
        let unix_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Clock {
            start: now,
            unix_start,
            prebuffer,
        }
    }

    /// How many segments exist at `now`.
    fn available(&self, segment_ms: u64, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start);
        let live = elapsed.saturating_sub(self.prebuffer).as_millis();
        u64::try_from(live / u128::from(segment_ms)).unwrap_or(u64::MAX)
    }

    /// When the content's first media, and its TS packet 0, exist.
    fn live_at(&self) -> Instant {
        self.start + self.prebuffer
    }

    /// How many TS packets exist at `now`.
    fn ts_packets(&self, bitrate: u64, now: Instant) -> u64 {
        match now.checked_duration_since(self.live_at()) {
            Some(elapsed) => ts::packets_by(elapsed, bitrate),
            None => 0,
        }
    }

    /// When `media_ms` of media exists.
    fn ready_at(&self, media_ms: u64) -> Instant {
        self.start + self.prebuffer + Duration::from_millis(media_ms)
    }

    fn stat(&self, settings: &Settings, burst: u64, now: Instant) -> Stat {
        let segment_ms = settings.segment_ms;
        let available = self.available(segment_ms, now);
        let prebuffer_progress = playlist::window(available, burst, settings.window)
            .is_none()
            .then(|| self.progress(segment_ms * burst, now));
        let live_ms = self.prebuffer.as_millis() as u64 + available * segment_ms;
        let last_ts = self.unix_start + live_ms / 1000;
        Stat {
            prebuffer_progress,
            downloaded: available * settings.segment_bytes,
            first_ts: last_ts - available.min(settings.window) * segment_ms / 1000,
            last_ts,
        }
    }

    /// Percent of the way to the first playable `media_ms`, below 100.
    fn progress(&self, media_ms: u64, now: Instant) -> u64 {
        let total = self.ready_at(media_ms) - self.start;
        let done = now.saturating_duration_since(self.start);
        let percent = done.as_millis() * 100 / total.as_millis().max(1);
        percent.min(99) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn settings() -> Settings {
        Settings {
            segment_ms: 1000,
            segment_bytes: 188,
            window: 3,
            prebuffer_ms: 0,
            idle_ms: 10_000,
            rotate_tokens: false,
            ts_bitrate: 1504 * 1000,
            ts_burst_packets: 100,
        }
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn playlist_prebuffers_then_slides() {
        let mut e = Engine::new(settings(), 1);
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
    fn same_pid_replaces_other_pid_supersedes() {
        let mut e = Engine::new(settings(), 1);
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        let again = e.start("p1", A, Starter::Redirect, t0);
        assert_eq!(a.token, again.token);
        assert_ne!(a.session_id, again.session_id);
        assert_eq!(again.superseded, 0);
        let b = e.start("p2", A, Starter::Json, ms(t0, 1500));
        assert_eq!(b.superseded, 1);
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 1500)),
            Playlist::Forbidden
        );
        assert!(matches!(
            e.playlist(&b.infohash, &b.token, ms(t0, 1500)),
            Playlist::Ready { .. }
        ));
        let c = e.snapshot(ms(t0, 1500)).counters;
        assert_eq!((c.starts, c.json_starts, c.redirect_starts), (3, 2, 1));
    }

    #[test]
    fn rotated_tokens_retire_the_old_one() {
        let mut e = Engine::new(
            Settings {
                rotate_tokens: true,
                ..settings()
            },
            1,
        );
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        let b = e.start("p1", A, Starter::Json, t0);
        assert_ne!(a.token, b.token);
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 2000)),
            Playlist::Forbidden
        );
    }

    #[test]
    fn stop_expire_and_idle_end_sessions() {
        let mut e = Engine::new(settings(), 1);
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        assert!(e.stat(&a.infohash, &a.token, true, ms(t0, 100)).is_some());
        assert!(e.stop(&a.infohash, &a.token, ms(t0, 200)));
        assert!(!e.stop(&a.infohash, &a.token, ms(t0, 200)));
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 2000)),
            Playlist::Unknown
        );

        let b = e.start("p1", A, Starter::Json, ms(t0, 2000));
        assert_eq!(e.expire(A, ms(t0, 2000)), 1);
        assert_eq!(
            e.playlist(&b.infohash, &b.token, ms(t0, 2000)),
            Playlist::Forbidden
        );
        assert!(e.stat(&b.infohash, &b.token, true, ms(t0, 2000)).is_none());

        let c = e.start("p1", A, Starter::Json, ms(t0, 3000));
        assert!(
            e.stat(&c.infohash, &c.token, false, ms(t0, 12_000))
                .is_some()
        );
        let state = e.snapshot(ms(t0, 13_000)).sessions[0].state;
        assert_eq!(
            state,
            State::Expired,
            "a stat without activity does not keep it alive"
        );
    }

    #[test]
    fn segments_exist_on_the_clock_and_are_counted() {
        let mut e = Engine::new(settings(), 1);
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
    fn knobs_change_what_playlists_show() {
        let mut e = Engine::new(settings(), 1);
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
        let mut e = Engine::new(settings(), 1);
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
        let mut e = Engine::new(settings(), 1);
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

    #[test]
    fn restart_forgets_sessions_and_clocks_but_keeps_counters() {
        let mut e = Engine::new(settings(), 1);
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        assert!(e.segment(&a.infohash, 0, ms(t0, 5000)));
        e.restart();
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 5000)),
            Playlist::Unknown
        );
        let b = e.start("p1", A, Starter::Json, ms(t0, 5000));
        let Playlist::Ready { window, .. } = e.playlist(&b.infohash, &b.token, ms(t0, 6000)) else {
            panic!("ready")
        };
        assert_eq!(window.first, 0, "the clock started again");
        let snap = e.snapshot(ms(t0, 6000));
        assert_eq!((snap.counters.starts, snap.distinct_segments), (2, 1));
    }

    #[test]
    fn stat_reports_prebuffering_then_playing() {
        let mut e = Engine::new(
            Settings {
                prebuffer_ms: 1000,
                ..settings()
            },
            1,
        );
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        let early = e.stat(&a.infohash, &a.token, true, ms(t0, 1000)).unwrap();
        assert_eq!(early.prebuffer_progress, Some(50));
        let late = e.stat(&a.infohash, &a.token, true, ms(t0, 4000)).unwrap();
        assert_eq!(late.prebuffer_progress, None);
        assert_eq!(late.downloaded, 3 * 188);
        assert_eq!(late.last_ts - late.first_ts, 3);
    }

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
        let mut e = Engine::new(
            Settings {
                prebuffer_ms: 1000,
                ..settings()
            },
            1,
        );
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
        let mut e = Engine::new(settings(), 1);
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
        let mut e = Engine::new(settings(), 1);
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
        let mut e = Engine::new(settings(), 1);
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
            let mut e = Engine::new(settings(), 1);
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
        let mut e = Engine::new(settings(), 1);
        let t0 = Instant::now();
        let (_, reader) = open(&mut e, "p1", t0, 0);
        assert_eq!(e.snapshot(ms(t0, 60_000)).sessions[0].state, State::Live);
        e.close_ts(&reader, ms(t0, 60_000));
        assert_eq!(e.snapshot(ms(t0, 69_000)).sessions[0].state, State::Live);
        assert_eq!(e.snapshot(ms(t0, 70_000)).sessions[0].state, State::Expired);
    }

    #[test]
    fn a_stall_holds_streams_back_once_without_skipping() {
        let mut e = Engine::new(settings(), 1);
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
