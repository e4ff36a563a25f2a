//! Engine failover, measured: three engines, an HLS player and an MPEG-TS reader on each of a
//! few channels, and one engine failed again and again (killed, or hung: stopped, accepting
//! connections and answering nothing), then brought back. For each failure, the longest wait
//! each player of a channel that had to move saw for new media; and, apart, what the health
//! checks cost acebox when nothing plays.
//!
//! Owns the failure schedule, the players' clocks and the figures; `main` only picks the mode.
//! Uses the test suite's blocking players (`common`), one thread each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Player, Process, TsClient, acebox_engines, content, sim, sim_at, wait_for};

/// Short segments, so that a gap is measured to a fraction of a second.
const SEGMENT_MS: &str = "500";
const WAIT: Duration = Duration::from_secs(90);
/// After a failure, the players play this long before the engine comes back.
const AFTER: Duration = Duration::from_secs(15);

/// How an engine fails.
#[derive(Clone, Copy, Debug)]
enum How {
    Killed,
    Hung,
}

/// One player's clock: when it last got new media.
struct Clock {
    last: Mutex<Instant>,
    longest: Mutex<Duration>,
}

impl Clock {
    fn new() -> Arc<Clock> {
        Arc::new(Clock {
            last: Mutex::new(Instant::now()),
            longest: Mutex::new(Duration::ZERO),
        })
    }

    /// New media came now.
    fn tick(&self) {
        let mut last = self.last.lock().unwrap();
        let mut longest = self.longest.lock().unwrap();
        *longest = (*longest).max(last.elapsed());
        *last = Instant::now();
    }

    /// The longest wait since the last reset, and a fresh start.
    fn take(&self) -> Duration {
        std::mem::take(&mut *self.longest.lock().unwrap())
    }
}

fn engines(n: usize) -> Vec<Process> {
    (0..n)
        .map(|_| sim(&["--segment-ms", SEGMENT_MS, "--segment-bytes", "100000"]))
        .collect()
}

fn proxy(engines: &[Process]) -> Process {
    let proxy = acebox_engines(engines, "");
    proxy.json("/status");
    proxy
}

/// Which engine (an index of `engines`) channel `id` plays from.
fn engine_of(proxy: &Process, engines: &[Process], id: &str) -> usize {
    let status = proxy.json("/status");
    let url = status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_id"] == id)
        .map(|c| c["engine_url"].as_str().unwrap().to_owned())
        .expect("the channel is open");
    engines
        .iter()
        .position(|e| url == format!("http://{}", e.addr))
        .expect("one of the engines")
}

/// The median and the largest of `gaps`, in milliseconds.
fn spread(mut gaps: Vec<Duration>) -> Value {
    gaps.sort();
    let ms = |d: Duration| d.as_millis() as u64;
    json!({
        "samples": gaps.len(),
        "median_ms": gaps.get(gaps.len() / 2).copied().map(ms),
        "worst_ms": gaps.last().copied().map(ms),
    })
}

/// `failures` failures of each kind over `channels` channels; their gaps.
pub fn run(channels: usize, failures: usize) -> Value {
    let mut engines = engines(3);
    let proxy = proxy(&engines);
    let ids: Vec<String> = (0..channels as u8).map(|n| content(n + 1)).collect();
    let done = Arc::new(AtomicBool::new(false));
    let mut clocks = Vec::new();
    let mut threads = Vec::new();
    for channel in &ids {
        let (hls, ts) = (Clock::new(), Clock::new());
        clocks.push((hls.clone(), ts.clone()));
        let (addr, id, stop) = (proxy.addr, channel.clone(), done.clone());
        threads.push(std::thread::spawn(move || {
            let mut player = Player::connect(addr, &id);
            while !stop.load(Ordering::Relaxed) {
                let before = player.segments.len();
                player.poll();
                if player.segments.len() > before {
                    hls.tick();
                }
                // Keep only the newest segments: a player does not hold the past.
                while player.segments.len() > 8 {
                    player.segments.pop_first();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            player.statuses.iter().filter(|s| **s != 200).count()
        }));
        let (addr, id, stop) = (proxy.addr, channel.clone(), done.clone());
        threads.push(std::thread::spawn(move || {
            let mut client = TsClient::open(addr, &format!("/ace/getstream?id={id}"));
            while !stop.load(Ordering::Relaxed) {
                if client.read(188 * 64).is_empty() {
                    return 1;
                }
                ts.tick();
            }
            0
        }));
    }
    // Every player plays before the first failure.
    std::thread::sleep(Duration::from_secs(3));
    let mut figures = json!({});
    for how in [How::Killed, How::Hung] {
        let (mut hls_gaps, mut ts_gaps) = (Vec::new(), Vec::new());
        for n in 0..failures {
            let victim = engine_of(&proxy, &engines, &ids[n % ids.len()]);
            let moving: Vec<bool> = ids
                .iter()
                .map(|id| engine_of(&proxy, &engines, id) == victim)
                .collect();
            for (hls, ts) in &clocks {
                hls.take();
                ts.take();
            }
            match how {
                How::Killed => {
                    let addr = engines[victim].addr;
                    engines[victim].signal("KILL");
                    std::thread::sleep(AFTER);
                    engines[victim] = sim_at(
                        addr,
                        &["--segment-ms", SEGMENT_MS, "--segment-bytes", "100000"],
                    );
                }
                How::Hung => {
                    engines[victim].signal("STOP");
                    std::thread::sleep(AFTER);
                    engines[victim].signal("CONT");
                }
            }
            for ((hls, ts), moved) in clocks.iter().zip(&moving) {
                if *moved {
                    hls_gaps.push(hls.take());
                    ts_gaps.push(ts.take());
                }
            }
            wait_for(WAIT, "the engine to be up again", || {
                let status = proxy.json("/status");
                (status["engines"][victim]["healthy"] == true).then_some(())
            });
        }
        figures[format!("{how:?}").to_lowercase()] = json!({
            "hls_gap": spread(hls_gaps),
            "ts_gap": spread(ts_gaps),
        });
    }
    done.store(true, Ordering::Relaxed);
    let errors: usize = threads.into_iter().map(|t| t.join().unwrap_or(1)).sum();
    figures["player_errors"] = json!(errors);
    figures["segment_ms"] = json!(SEGMENT_MS.parse::<u64>().unwrap_or(0));
    figures
}

/// What the health checks of three engines cost acebox over `secs` when nothing plays.
pub fn checks(secs: u64) -> Value {
    let engines = engines(3);
    let proxy = proxy(&engines);
    let checks = |p: &Process| -> u64 {
        let status = p.json("/status");
        status["engines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["checks"].as_u64().unwrap_or(0))
            .sum()
    };
    let (cpu, made) = (proxy.cpu_seconds(), checks(&proxy));
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = proxy.cpu_seconds() - cpu;
    let made = checks(&proxy) - made;
    json!({
        "engines": engines.len(),
        "checks": made,
        "cpu_seconds": cpu,
        "cpu_seconds_per_hour": cpu * 3600.0 / secs as f64,
        "cpu_ms_per_check": if made > 0 { cpu * 1000.0 / made as f64 } else { 0.0 },
        "rss_kib": proxy.memory_kib("VmRSS"),
    })
}
