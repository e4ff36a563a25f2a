//! The simulated engine's state: one live clock per content, one session per player id, the
//! MPEG-TS paths and open streams of those sessions, the runtime knobs tests turn, and the
//! counters they read back.
//!
//! This folder owns what every request means at a given instant, which callers pass in. It never
//! touches sockets, never waits, never reads a clock and never formats an HTTP answer: it says
//! "wait until then" and the caller does the waiting.
//!
//! - `clock`: a content's live clock (which segments and TS packets exist when);
//! - `sessions`: starting, superseding, expiring, stopping and restarting sessions;
//! - `hls`: playlist polls, segment fetches and the stat URL;
//! - `ts`: the `/ace/r/` redirect and the paced one-reader `/content/` stream;
//! - `faults`: the `/sim/config` knobs and the faults they arm;
//! - this file: the [`Engine`] that holds it all, its settings, counters and snapshot.
//!
//! Each file adds its own `impl Engine` block; they share the fields below and nothing else.

mod clock;
mod faults;
mod hls;
mod sessions;
mod ts;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use clock::Clock;
use sessions::Owner;

pub use clock::Wall;
pub use faults::{Fault, KnobChange};
pub use hls::{Playlist, Stat};
pub use sessions::{INTRUDER, Session, Started, Starter, State};
pub use ts::{TsOpen, TsReader, TsStart, TsStep};

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

/// The whole simulated engine: its settings and knobs, content clocks, sessions, TS paths and
/// streams, and counters. The request handlers hold it behind one lock.
pub struct Engine {
    settings: Settings,
    /// The Unix time at one instant, from which each content clock's timestamps are told.
    wall: Wall,
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
    /// A fresh engine; `seed` makes this process's session ids differ from another's, and `wall`
    /// dates the stat timestamps.
    pub fn new(settings: Settings, seed: u64, wall: Wall) -> Engine {
        Engine {
            settings,
            wall,
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
}

/// What the tests of every part of the engine share.
#[cfg(test)]
mod testing {
    use std::time::{Duration, Instant};

    use super::{Engine, Settings, Wall};

    /// An engine whose stat timestamps count from 0 at the time it is made.
    pub fn engine(settings: Settings) -> Engine {
        let wall = Wall {
            at: Instant::now(),
            unix_secs: 0,
        };
        Engine::new(settings, 1, wall)
    }

    pub const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    pub fn settings() -> Settings {
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

    pub fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }
}
