//! Figures for BENCHMARKS.md: acebox's CPU seconds per GB delivered and peak RSS with one
//! MPEG-TS channel and N clients. Run with `cargo bench --bench ts_load` (N = 200, 20 s at
//! 4 Mbit/s; `ACEBOX_BENCH_CLIENTS`, `ACEBOX_BENCH_SECS` and `ACEBOX_BENCH_BITRATE` change
//! them). Prints figures; asserts nothing about speed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{TsClient, acebox, at_once, content, env_or, sim};

fn main() {
    let clients = env_or("ACEBOX_BENCH_CLIENTS", 200) as usize;
    let secs = env_or("ACEBOX_BENCH_SECS", 20);
    let bitrate = env_or("ACEBOX_BENCH_BITRATE", 4_000_000).to_string();
    let engine = sim(&["--ts-bitrate", &bitrate, "--ts-burst-bytes", "4000000"]);
    let proxy = acebox(engine.addr, &[]);
    let path = format!("/ace/getstream?id={}", content(1));
    let began = Instant::now();
    let addr = proxy.addr;
    let received = at_once(clients, move || {
        let mut client = TsClient::open(addr, &path);
        assert_eq!(client.status, 200);
        client.read_for(Duration::from_secs(secs)).len()
    });
    let wall = began.elapsed().as_secs_f64();
    let peak_rss = proxy.memory_kib("VmHWM");
    let cpu = proxy.cpu_seconds();
    let bytes: usize = received.iter().sum();
    let gb = bytes as f64 / 1e9;
    let status = proxy.json("/status");
    let stats = engine.json("/sim/stats");
    println!("clients: {clients}, {secs} s each at {bitrate} bit/s (wall {wall:.1} s)");
    println!(
        "delivered: {bytes} bytes ({gb:.2} GB), slowest client {} bytes",
        received.iter().min().unwrap()
    );
    println!(
        "acebox CPU: {cpu:.2} s user+system, {:.2} s per GB",
        cpu / gb
    );
    println!(
        "peak RSS: {peak_rss} KiB ({:.1} MiB)",
        peak_rss as f64 / 1024.0
    );
    println!(
        "skips: {}, drops: {}",
        status["channels"][0]["skips"], status["channels"][0]["drops"]
    );
    println!(
        "engine: {} TS streams opened, max concurrent readers per session {}",
        stats["ts_streams"], stats["ts_max_concurrent_per_session"]
    );
}
