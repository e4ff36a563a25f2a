//! Figures for BENCHMARKS.md: release binary size, idle RSS, and peak RSS and CPU with one
//! channel and N HLS clients. Run with `cargo bench --bench hls_load` (N = 100, 30 s of play;
//! `ACEBOX_BENCH_CLIENTS` and `ACEBOX_BENCH_SECS` change them). Prints figures; asserts nothing
//! about speed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Player, acebox, at_once, content, env_or, sim};

fn main() {
    let clients = env_or("ACEBOX_BENCH_CLIENTS", 100) as usize;
    let secs = env_or("ACEBOX_BENCH_SECS", 30);
    // Realistic segments: 4 s of 4 Mbit/s.
    let engine = sim(&["--segment-ms", "4000", "--segment-bytes", "2000000"]);
    let proxy = acebox(engine.addr, &[]);
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_acebox"))
        .unwrap()
        .len();
    assert_eq!(proxy.get("/status").status, 200);
    let idle_rss = proxy.memory_kib("VmRSS");

    let began = Instant::now();
    let addr = proxy.addr;
    let players = at_once(clients, move || {
        let mut player = Player::connect(addr, &content(1));
        let end = Instant::now() + Duration::from_secs(secs);
        let patience = Duration::from_secs(secs + 120);
        player.play(patience, Duration::from_millis(1000), |_| {
            Instant::now() >= end
        });
        player
    });
    let wall = began.elapsed().as_secs_f64();
    let peak_rss = proxy.memory_kib("VmHWM");
    let cpu = proxy.cpu_seconds();
    let stats = engine.json("/sim/stats");
    let segments: usize = players.iter().map(|p| p.segments.len()).sum();
    let bytes: usize = players
        .iter()
        .flat_map(|p| p.segments.values())
        .map(Vec::len)
        .sum();
    let errors = players
        .iter()
        .flat_map(|p| &p.statuses)
        .filter(|s| **s != 200)
        .count();

    println!(
        "acebox release binary: {} bytes ({:.0} KiB)",
        binary,
        binary as f64 / 1024.0
    );
    println!("idle RSS (one /status served): {idle_rss} KiB");
    println!(
        "clients: {clients}, play time: {secs} s (wall {wall:.1} s), segments of 4 s x 2,000,000 bytes"
    );
    println!(
        "peak RSS: {peak_rss} KiB ({:.1} MiB)",
        peak_rss as f64 / 1024.0
    );
    println!("acebox CPU: {cpu:.2} s user+system");
    println!(
        "segments delivered: {segments} ({:.1} MiB), playlist errors: {errors}",
        bytes as f64 / 1048576.0
    );
    println!(
        "engine: {} starts, {} segment fetches, {} distinct, max fetches per segment {}",
        stats["starts"],
        stats["segment_requests"],
        stats["distinct_segments"],
        stats["max_fetches_per_segment"]
    );
}
