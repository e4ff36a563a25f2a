//! The soak: a long run with players of every kind coming and going on a few channels (HLS
//! players that follow the redirect, HLS players that reload the entry URL, MPEG-TS readers), a
//! zapper flicking through the channels, an engine fault every minute (a restart, a stall, a
//! supersede, 500s, garbage) on the first of two engines, and the death of the second every two
//! minutes (killed, started again a while later), while acebox's memory and connections, its
//! channels and the engines' sessions are sampled. It looks for what users of the peers report most: a proxy
//! that goes bad over hours, streams that stop after minutes, hangs when zapping.
//!
//! Owns the actors' schedules, the faults and the samples; `main` starts the processes and
//! turns what this returns into figures. Moves are pseudo-random from fixed seeds, so two
//! soaks make the same moves.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use acebox::board::MAX_CHANNELS;
use async_io::Timer;
use serde_json::{Value, json};
use smol::Executor;

use crate::common::{Process, sim_at};
use crate::hls::{self, Reload};
use crate::net::Conn;
use crate::refs::Refs;
use crate::ts;

/// Channels the players spread over: six, or as many as the board plays.
pub const CHANNELS: usize = if MAX_CHANNELS < 6 { MAX_CHANNELS } else { 6 };
/// How often acebox and the engine are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How long the zapper stays on a channel: its first playlist and segment, then on.
const ZAP_EVERY: Duration = Duration::from_secs(3);
/// The faults, one a minute (or one every twelfth of a shorter run), in turn. `{id}` is a
/// channel being watched.
const FAULTS: [(&str, &str); 6] = [
    ("engine restart", "/sim/restart"),
    (
        "playlist 500, 3 times",
        "/sim/config?playlist_status=500&count=3",
    ),
    ("supersede", "/sim/supersede?id={id}"),
    ("segment stall, 12 s", "/sim/config?segment_stall_ms=12000"),
    (
        "garbage playlist, twice",
        "/sim/config?playlist_garbage=1&count=2",
    ),
    ("TS stall, 12 s", "/sim/config?ts_stall_ms=12000"),
];

/// What kind of player a viewer is.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Hls(Reload),
    Ts,
}

/// A small deterministic dice (xorshift).
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A number in `from..to` (seconds, here).
    fn roll(&mut self, from: u64, to: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from + self.0 % (to - from).max(1)
    }
}

/// What every viewer of a run saw, added up.
#[derive(Debug, Default)]
pub struct Seen {
    pub sessions: u64,
    pub segments: u64,
    pub ts_bytes: u64,
    pub errors: u64,
    pub stalls: u64,
    pub skips: u64,
    pub corrupt: u64,
    pub unchecked: u64,
    pub ts_gaps: u64,
    pub ts_misaligned: u64,
}

impl Seen {
    fn add_hls(&mut self, p: &hls::Player) {
        self.sessions += 1;
        self.segments += p.segments;
        self.errors += p.errors;
        self.stalls += p.stalls;
        self.skips += p.skips;
        self.corrupt += p.corrupt;
        self.unchecked += p.unchecked;
    }

    fn add_ts(&mut self, r: &ts::Reader) {
        self.sessions += 1;
        self.ts_bytes += r.bytes;
        self.errors += r.errors;
        self.ts_gaps += r.gaps;
        self.ts_misaligned += r.misaligned;
    }
}

/// One viewer: watches a channel for 20 to 90 s, leaves for 1 to 5 s, comes back to another,
/// until `end`.
pub async fn viewer(
    ex: &'static Executor<'static>,
    (acebox, refs): (SocketAddr, &Refs),
    (kind, seed, channel_of): (Kind, u64, fn(usize) -> String),
    end: Instant,
) -> Seen {
    let mut dice = Dice::new(seed);
    let mut seen = Seen::default();
    while Instant::now() + Duration::from_secs(5) < end {
        let content = channel_of(dice.roll(0, CHANNELS as u64) as usize);
        let leave = (Instant::now() + Duration::from_secs(dice.roll(20, 90))).min(end);
        match kind {
            Kind::Hls(reload) => {
                let times = (Instant::now(), leave, Duration::from_secs(1), reload);
                seen.add_hls(&hls::play(ex, acebox, refs, &content, times).await);
            }
            Kind::Ts => seen.add_ts(&ts::read(ex, acebox, &content, (Instant::now(), leave)).await),
        }
        Timer::after(Duration::from_secs(dice.roll(1, 5))).await;
    }
    seen
}

/// The zapper: every few seconds the next channel's first playlist and first segment.
/// Returns the zaps made and those that failed.
pub async fn zapper(
    ex: &'static Executor<'static>,
    acebox: SocketAddr,
    channel_of: fn(usize) -> String,
    end: Instant,
) -> (u64, u64) {
    let (mut zaps, mut failed) = (0, 0);
    let mut conn = Conn::new(ex, acebox);
    while Instant::now() + ZAP_EVERY < end {
        let content = channel_of(zaps as usize % CHANNELS);
        let started = Instant::now();
        zaps += 1;
        failed += u64::from(!zap(&mut conn, &content).await);
        Timer::at(started + ZAP_EVERY).await;
    }
    (zaps, failed)
}

async fn zap(conn: &mut Conn, content: &str) -> bool {
    let Ok(playlist) = hls::connect(conn, content).await else {
        return false;
    };
    let Some(list) = conn
        .get_all(&playlist)
        .await
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| hls::parse(&r.body))
    else {
        return false;
    };
    match list.segments.last() {
        Some(segment) => conn
            .get_all(&segment.uri)
            .await
            .is_ok_and(|r| r.status == 200),
        None => false,
    }
}

/// Injects one fault every `every`, in turn, until `end`; each with the second it came at.
pub async fn faults(
    ex: &'static Executor<'static>,
    engine: SocketAddr,
    (every, watched): (Duration, String),
    (start, end): (Instant, Instant),
) -> Vec<Value> {
    let mut conn = Conn::new(ex, engine);
    let mut injected = Vec::new();
    let mut at = start + every;
    for (name, path) in FAULTS.iter().cycle() {
        if at + Duration::from_secs(10) > end {
            break;
        }
        Timer::at(at).await;
        let path = path.replace("{id}", &watched);
        let ok = conn.get_all(&path).await.is_ok_and(|r| r.status == 200);
        injected.push(json!({"t_s": start.elapsed().as_secs(), "fault": name, "ok": ok}));
        at += every;
    }
    injected
}

/// Kills `engine` (acebox's second) every `every`, half-way between two faults, until `end`,
/// and starts it again on its address, with `args`, `down` later: a machine that dies and comes
/// back, while players watch channels it plays. On a thread of its own: processes are killed and
/// started blocking. Returns the engine as it is at the end, and each death with the second it
/// came at.
pub fn deaths(
    mut engine: Process,
    args: &[String],
    (every, down): (Duration, Duration),
    (start, end): (Instant, Instant),
) -> (Process, Vec<Value>) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut died = Vec::new();
    let mut at = start + every + every / 4;
    while at + down + Duration::from_secs(10) < end {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let addr = engine.addr;
        engine.signal("KILL");
        died.push(json!({"t_s": start.elapsed().as_secs(), "down_s": down.as_secs()}));
        std::thread::sleep(down);
        engine = sim_at(addr, &args);
        at += every;
    }
    (engine, died)
}

/// Samples every few seconds until `end`: acebox's resident memory, its open connections and
/// channels, and the engine's live sessions.
pub async fn sampler(
    ex: &'static Executor<'static>,
    (acebox, pid, engine): (SocketAddr, u32, SocketAddr),
    (start, end): (Instant, Instant),
) -> Vec<Value> {
    let (mut ours, mut theirs) = (Conn::new(ex, acebox), Conn::new(ex, engine));
    let mut samples = Vec::new();
    while Instant::now() < end {
        let status = json_of(&mut ours, "/status").await;
        let stats = json_of(&mut theirs, "/sim/stats").await;
        samples.push(json!({
            "t_s": start.elapsed().as_secs(),
            "rss_kib": crate::common::memory_kib(pid, "VmRSS"),
            "connections": status["connections"]["open"],
            "channels": status["channels"].as_array().map(Vec::len),
            "engine_sessions": live_sessions(&stats),
        }));
        Timer::after(SAMPLE_EVERY).await;
    }
    samples
}

/// A JSON answer, or `null` when there was none.
pub async fn json_of(conn: &mut Conn, path: &str) -> Value {
    match conn.get_all(path).await {
        Ok(reply) if reply.status == 200 => {
            serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// The engine sessions acebox started that are still live.
pub fn live_sessions(stats: &Value) -> Option<usize> {
    let sessions = stats["sessions"].as_array()?;
    Some(
        sessions
            .iter()
            .filter(|s| {
                s["state"] == "live" && s["pid"].as_str().is_some_and(|p| p.starts_with("acebox-"))
            })
            .count(),
    )
}

/// Mean resident memory over the samples from `from` to `to` seconds.
pub fn mean_rss(samples: &[Value], from: u64, to: u64) -> Option<f64> {
    let window: Vec<f64> = samples
        .iter()
        .filter(|s| (from..to).contains(&s["t_s"].as_u64().unwrap_or(0)))
        .filter_map(|s| s["rss_kib"].as_f64())
        .collect();
    (!window.is_empty()).then(|| window.iter().sum::<f64>() / window.len() as f64)
}

impl Seen {
    /// Adds another viewer's figures to these.
    pub fn absorb(&mut self, other: &Seen) {
        self.sessions += other.sessions;
        self.segments += other.segments;
        self.ts_bytes += other.ts_bytes;
        self.errors += other.errors;
        self.stalls += other.stalls;
        self.skips += other.skips;
        self.corrupt += other.corrupt;
        self.unchecked += other.unchecked;
        self.ts_gaps += other.ts_gaps;
        self.ts_misaligned += other.ts_misaligned;
    }
}
