//! The load generator: many HLS players, MPEG-TS readers or saturating clients on a few threads
//! (smol), against the release `acebox` in front of the release `acebox-sim`, and nginx as the
//! reference for the limit. Each run prints its figures as one JSON line on stdout;
//! `report` turns those lines into BENCHMARKS.md's tables and an SVG plot.
//!
//! `cargo bench --bench load -- <hls|ts|fanout|saturate|flood|soak|wrk|failover|checks> [--clients N] [--channels C] [--stagger-ms MS]
//! [--secs S] [--poll-ms MS] [--reload followed|entry|mixed] [--segment-bytes B] [--threads T]
//! [--nginx PATH] [--label TEXT]`, or
//! `cargo bench --bench load -- report RESULTS.jsonl SVG` (`soak-report` for soak runs,
//! `board-report RESULTS.jsonl` for a router board's set).
//! `scripts/bench.sh` runs the standard set (or, with `ACEBOX_BOARD`, one sized for that
//! board), `scripts/soak.sh` the soak.

#[path = "../../tests/common/mod.rs"]
mod common;
mod failover;
mod fanout;
mod flood;
mod hls;
mod net;
mod refs;
mod report;
mod saturate;
mod soak;
mod ts;
mod wrk;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smol::Executor;

use crate::common::{Process, acebox, content, sim};
use crate::net::Conn;
use crate::refs::Refs;
use crate::saturate::{Flow, Nginx, Route};

/// Realistic live segments: 4 s of 4 Mbit/s.
const SEGMENT_MS: &str = "4000";
const SEGMENT_BYTES: &str = "2000000";
const TS_BITRATE: &str = "4000000";

/// What a run is told on the command line.
struct Options {
    mode: String,
    clients: usize,
    channels: usize,
    stagger: Duration,
    secs: u64,
    poll: Duration,
    threads: usize,
    nginx: Option<std::path::PathBuf>,
    label: String,
    /// How HLS players reload: `followed`, `entry`, or `mixed` (every other player each way).
    reload: String,
    /// The simulator's segment size, for `wrk`.
    segment_bytes: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let report = match args.first().map(String::as_str) {
        Some("report") => Some(report::write as fn(&[String]) -> Result<(), String>),
        Some("soak-report") => Some(report::soak as fn(&[String]) -> Result<(), String>),
        Some("board-report") => Some(report::board as fn(&[String]) -> Result<(), String>),
        _ => None,
    };
    if let Some(report) = report {
        return match report(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("load report: {e}");
                ExitCode::from(2)
            }
        };
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("load: {e}\nusage: see the top of benches/load/main.rs");
            return ExitCode::from(2);
        }
    };
    let ex = net::executor(options.threads);
    let figures = match options.mode.as_str() {
        "hls" => run_hls(ex, &options),
        "ts" => run_ts(ex, &options),
        "flood" => run_flood(ex, &options),
        "soak" => run_soak(ex, &options),
        "wrk" => run_wrk(ex, &options),
        "fanout" => run_fanout(ex, &options),
        // Engine failover: --clients failures of each kind over --channels channels.
        "failover" => failover::run(options.channels, options.clients),
        "checks" => failover::checks(options.secs),
        _ => run_saturate(ex, &options),
    };
    let mut line = json!({
        "mode": options.mode,
        "label": options.label,
        "clients": options.clients,
        "channels": options.channels,
        "stagger_ms": options.stagger.as_millis() as u64,
        "secs": options.secs,
        "loadavg": loadavg(),
    });
    merge(&mut line, figures);
    println!("{line}");
    ExitCode::SUCCESS
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mode = args.first().cloned().unwrap_or_default();
    if !matches!(
        mode.as_str(),
        "hls" | "ts" | "fanout" | "saturate" | "flood" | "soak" | "wrk" | "failover" | "checks"
    ) {
        return Err(format!(
            "the first argument is hls, ts, fanout, saturate, flood, soak, wrk, failover, \
             checks, report or soak-report, not {mode:?}"
        ));
    }
    let mut options = Options {
        label: mode.clone(),
        mode,
        clients: 1,
        channels: 1,
        stagger: Duration::ZERO,
        secs: 20,
        poll: Duration::from_secs(1),
        threads: 2,
        nginx: None,
        reload: "followed".into(),
        segment_bytes: 2_000_000,
    };
    for pair in args[1..].chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("{} needs a value", pair[0]));
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--clients" => options.clients = number()?.max(1) as usize,
            "--channels" => options.channels = number()?.max(1) as usize,
            "--stagger-ms" => options.stagger = Duration::from_millis(number()?),
            "--secs" => options.secs = number()?.max(1),
            "--poll-ms" => options.poll = Duration::from_millis(number()?.max(1)),
            "--threads" => options.threads = number()?.max(1) as usize,
            "--nginx" => options.nginx = Some(value.into()),
            "--label" => options.label = value.clone(),
            "--segment-bytes" => options.segment_bytes = number()?.max(188),
            "--reload" if ["followed", "entry", "mixed"].contains(&value.as_str()) => {
                options.reload = value.clone()
            }
            "--reload" => return Err(format!("--reload: followed, entry or mixed, not {value}")),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

/// The engine simulator with realistic segments and acebox in front of it.
fn start() -> (Process, Process, u64) {
    let engine = sim(&[
        "--segment-ms",
        SEGMENT_MS,
        "--segment-bytes",
        SEGMENT_BYTES,
        "--ts-bitrate",
        TS_BITRATE,
    ]);
    let proxy = acebox(engine.addr, &[]);
    proxy.json("/status");
    let idle_rss = proxy.memory_kib("VmRSS");
    (engine, proxy, idle_rss)
}

/// The content client `i` plays, spread over `channels`.
fn content_of(i: usize, channels: usize) -> String {
    content((i % channels) as u8 + 1)
}

/// When client `i` of `n` joins: all at `start`, or spread evenly over `stagger`.
fn join_at(start: Instant, stagger: Duration, i: usize, n: usize) -> Instant {
    start + stagger.mul_f64(i as f64 / n as f64)
}

/// Opens each channel as a first viewer would and waits until its playlist lists `segments`
/// segments; the playlist of that first viewer of each channel.
async fn warm(
    ex: &'static Executor<'static>,
    proxy: &Process,
    channels: usize,
    segments: usize,
) -> Vec<String> {
    let tasks: Vec<_> = (0..channels)
        .map(|c| {
            let (addr, content) = (proxy.addr, content_of(c, channels));
            ex.spawn(async move {
                let mut conn = Conn::new(ex, addr);
                let playlist = hls::connect(&mut conn, &content).await.expect("a connect");
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    let reply = conn.get_all(&playlist).await.expect("a playlist");
                    let listed = hls::parse(&reply.body).map_or(0, |l| l.segments.len());
                    if reply.status == 200 && listed >= segments {
                        return playlist;
                    }
                    async_io::Timer::after(Duration::from_millis(200)).await;
                }
                panic!("channel {content} never listed {segments} segments")
            })
        })
        .collect();
    let mut playlists = Vec::new();
    for task in tasks {
        playlists.push(task.await);
    }
    playlists
}

fn run_hls(ex: &'static Executor<'static>, o: &Options) -> Value {
    let (engine, proxy, idle_rss) = start();
    let refs = Arc::new(Refs::new(ex, engine.addr));
    let (players, cpu) = smol::block_on(ex.run(async {
        warm(ex, &proxy, o.channels, 1).await;
        let cpu = proxy.cpu_seconds();
        let start = Instant::now();
        let end = start + o.stagger + Duration::from_secs(o.secs);
        let tasks: Vec<_> = (0..o.clients)
            .map(|i| {
                let (refs, content) = (refs.clone(), content_of(i, o.channels));
                let times = (join_at(start, o.stagger, i, o.clients), end, o.poll);
                let times = (times.0, times.1, times.2, reload_of(i, &o.reload));
                let addr = proxy.addr;
                ex.spawn(async move { hls::play(ex, addr, &refs, &content, times).await })
            })
            .collect();
        let mut players = Vec::new();
        for task in tasks {
            players.push(task.await);
        }
        (players, proxy.cpu_seconds() - cpu)
    }));
    let sum = |f: fn(&hls::Player) -> u64| players.iter().map(f).sum::<u64>();
    let stats = engine.json("/sim/stats");
    // Every player was heard from within its lease: each is one client, however it reloads.
    let clients: u64 = proxy.json("/status")["channels"]
        .as_array()
        .expect("channels in acebox's /status")
        .iter()
        .map(|c| c["clients"].as_u64().expect("clients in /status"))
        .sum();
    let bytes = sum(|p| p.bytes);
    json!({
        "served": players.iter().filter(|p| p.segments > 0).count(),
        "segments": sum(|p| p.segments),
        "bytes": bytes,
        "rate_mbyte_s": bytes as f64 / 1e6 / (o.secs as f64 + o.stagger.as_secs_f64()),
        "stalls": sum(|p| p.stalls),
        "skips": sum(|p| p.skips),
        "corrupt": sum(|p| p.corrupt),
        "errors": sum(|p| p.errors),
        "first_playlist_ms": percentiles(players.iter().filter_map(|p| p.first_playlist)),
        "first_segment_ms": percentiles(players.iter().filter_map(|p| p.first_segment)),
        "upstream_fetches": stats["segment_requests"],
        "distinct_segments": stats["distinct_segments"],
        "max_fetches_per_segment": stats["max_fetches_per_segment"],
        "engine_starts": stats["starts"],
        "reload": o.reload,
        "acebox_clients": clients,
        "acebox": usage(&proxy, idle_rss, cpu),
    })
}

/// How HLS player `i` reloads its playlist, for `--reload`.
fn reload_of(i: usize, reload: &str) -> hls::Reload {
    match reload {
        "entry" => hls::Reload::Entry,
        "mixed" if i % 2 == 1 => hls::Reload::Entry,
        _ => hls::Reload::Followed,
    }
}

fn run_ts(ex: &'static Executor<'static>, o: &Options) -> Value {
    let (engine, proxy, idle_rss) = start();
    let (readers, cpu) = smol::block_on(ex.run(async {
        warm_ts(ex, &proxy, o.channels).await;
        let cpu = proxy.cpu_seconds();
        let start = Instant::now();
        let end = start + o.stagger + Duration::from_secs(o.secs);
        let tasks: Vec<_> = (0..o.clients)
            .map(|i| {
                let times = (join_at(start, o.stagger, i, o.clients), end);
                let content = content_of(i, o.channels);
                let addr = proxy.addr;
                ex.spawn(async move { ts::read(ex, addr, &content, times).await })
            })
            .collect();
        let mut readers = Vec::new();
        for task in tasks {
            readers.push(task.await);
        }
        (readers, proxy.cpu_seconds() - cpu)
    }));
    let sum = |f: fn(&ts::Reader) -> u64| readers.iter().map(f).sum::<u64>();
    let stats = engine.json("/sim/stats");
    let status = proxy.json("/status");
    // Every channel's counters, those of channels already gone included.
    let total = |field: &str| {
        status["totals"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("no totals.{field} in acebox's /status"))
    };
    let bytes = sum(|r| r.bytes);
    json!({
        "served": readers.iter().filter(|r| r.bytes > 0).count(),
        "bytes": bytes,
        "slowest_bytes": readers.iter().map(|r| r.bytes).min(),
        "rate_mbyte_s": bytes as f64 / 1e6 / (o.secs as f64 + o.stagger.as_secs_f64()),
        "misaligned": sum(|r| r.misaligned),
        "gaps": sum(|r| r.gaps),
        "errors": sum(|r| r.errors),
        "first_byte_ms": percentiles(readers.iter().filter_map(|r| r.first_byte)),
        "acebox_skips": total("client_skips"),
        "acebox_drops": total("client_drops"),
        "engine_ts_streams": stats["ts_streams"],
        "engine_ts_max_readers": stats["ts_max_concurrent_per_session"],
        "acebox": usage(&proxy, idle_rss, cpu),
    })
}

/// A first viewer makes each TS channel warm: its reader runs, its ring holds a join point.
async fn warm_ts(ex: &'static Executor<'static>, proxy: &Process, channels: usize) {
    let warm = Instant::now();
    let warm = (warm, warm + Duration::from_secs(2));
    let viewers: Vec<_> = (0..channels)
        .map(|c| {
            let (addr, content) = (proxy.addr, content_of(c, channels));
            ex.spawn(async move { ts::read(ex, addr, &content, warm).await })
        })
        .collect();
    for viewer in viewers {
        viewer.await;
    }
}

/// MPEG-TS fan-out to `--clients` readers that only count bytes (see `fanout`): whether each
/// gets the stream at its rate, and acebox's CPU per GB sent.
fn run_fanout(ex: &'static Executor<'static>, o: &Options) -> Value {
    let (_engine, proxy, idle_rss) = start();
    let (counts, cpu) = smol::block_on(ex.run(async {
        warm_ts(ex, &proxy, o.channels).await;
        let cpu = proxy.cpu_seconds();
        let start = Instant::now();
        let times = (start, start + Duration::from_secs(o.secs));
        let tasks: Vec<_> = (0..o.clients)
            .map(|i| {
                let (addr, content) = (proxy.addr, content_of(i, o.channels));
                ex.spawn(async move { fanout::read(addr, &content, times).await })
            })
            .collect();
        let mut counts = Vec::new();
        for task in tasks {
            counts.push(task.await);
        }
        (counts, proxy.cpu_seconds() - cpu)
    }));
    let bytes: u64 = counts.iter().map(|c| c.bytes).sum();
    let line_rate = TS_BITRATE.parse::<f64>().expect("a bit rate") / 8.0;
    let slowest = counts.iter().map(|c| c.bytes).min().unwrap_or(0);
    json!({
        "served": counts.iter().filter(|c| c.bytes > 0).count(),
        "bytes": bytes,
        "rate_mbyte_s": bytes as f64 / 1e6 / o.secs as f64,
        "slowest_of_line_rate": slowest as f64 / o.secs as f64 / line_rate,
        "errors": counts.iter().map(|c| c.errors).sum::<u64>(),
        "cpu_s_per_gb": cpu / (bytes as f64 / 1e9).max(f64::EPSILON),
        "acebox": usage(&proxy, idle_rss, cpu),
    })
}

/// Players joined one after the other while `--clients` idle and slowloris connections
/// are held open (see `flood`).
const FLOOD_JOINS: usize = 10;

fn run_flood(ex: &'static Executor<'static>, o: &Options) -> Value {
    let (engine, proxy, idle_rss) = start();
    smol::block_on(ex.run(warm(ex, &proxy, 1, 1)));
    let content = content_of(0, 1);
    let held = flood::open(proxy.addr, o.clients);
    // The flood is open, not opening: past the gate's 1 s grace, its connections are idle.
    std::thread::sleep(Duration::from_millis(1100));
    let cpu = proxy.cpu_seconds();
    let joins: Vec<Option<Duration>> = (0..FLOOD_JOINS)
        .map(|_| smol::block_on(ex.run(flood::join(ex, proxy.addr, &content))))
        .collect();
    let cpu = proxy.cpu_seconds() - cpu;
    let status = proxy.json("/status");
    let figures = json!({
        "flood_opened": held.len(),
        "joins": FLOOD_JOINS,
        "errors": joins.iter().filter(|j| j.is_none()).count(),
        "join_ms": percentiles(joins.iter().flatten().copied()),
        "slowest_join_ms": joins.iter().flatten().max().map(|d| d.as_secs_f64() * 1000.0),
        "connections": status["connections"],
        "engine_starts": engine.json("/sim/stats")["starts"],
        "acebox": usage(&proxy, idle_rss, cpu),
    });
    drop(held);
    figures
}

/// The content of soak channel `i`.
fn soak_channel(i: usize) -> String {
    content(i as u8 + 1)
}

/// A soak of `--secs` with `--clients` viewers, a third of each kind (see `soak`).
fn run_soak(ex: &'static Executor<'static>, o: &Options) -> Value {
    let sim_args: Vec<String> = [
        "--segment-ms",
        "2000",
        "--segment-bytes",
        "500000",
        "--ts-bitrate",
        "2000000",
    ]
    .map(String::from)
    .into();
    let args: Vec<&str> = sim_args.iter().map(String::as_str).collect();
    let (engine, second) = (sim(&args), sim(&args));
    // A short idle timeout: zapping and viewers leaving stop and start channels often. Two
    // engines: the second dies now and then (soak::deaths).
    let second_url = format!("http://{}", second.addr);
    let proxy = acebox(
        engine.addr,
        &["--idle-timeout", "5", "--engine", &second_url],
    );
    proxy.json("/status");
    let idle_rss = proxy.memory_kib("VmRSS");
    let refs = Arc::new(Refs::new(ex, engine.addr));
    let (start, secs) = (Instant::now(), o.secs);
    let end = start + Duration::from_secs(secs);
    let every = Duration::from_secs((secs / 12).clamp(10, 60));
    let kinds = [
        soak::Kind::Hls(hls::Reload::Followed),
        soak::Kind::Hls(hls::Reload::Entry),
        soak::Kind::Ts,
    ];
    let cpu = proxy.cpu_seconds();
    let deaths = std::thread::spawn(move || {
        let pace = (every * 2, (every / 2).max(Duration::from_secs(8)));
        soak::deaths(second, &sim_args, pace, (start, end))
    });
    let (seen, (zaps, zap_errors), faults, samples) = smol::block_on(ex.run(async {
        let viewers: Vec<_> = (0..o.clients)
            .map(|i| {
                let (refs, addr) = (refs.clone(), proxy.addr);
                let who = (
                    kinds[i % kinds.len()],
                    i as u64 + 1,
                    soak_channel as fn(usize) -> String,
                );
                ex.spawn(async move { soak::viewer(ex, (addr, &refs), who, end).await })
            })
            .collect();
        let zapper = ex.spawn(soak::zapper(ex, proxy.addr, soak_channel, end));
        let faults = ex.spawn(soak::faults(
            ex,
            engine.addr,
            (every, soak_channel(0)),
            (start, end),
        ));
        let watch = (proxy.addr, proxy.pid(), engine.addr);
        let sampler = ex.spawn(soak::sampler(ex, watch, (start, end)));
        let mut seen = soak::Seen::default();
        for viewer in viewers {
            seen.absorb(&viewer.await);
        }
        (seen, zapper.await, faults.await, sampler.await)
    }));
    let cpu = proxy.cpu_seconds() - cpu;
    // With every viewer gone, every channel stops, and its engine session with it.
    let settle = Instant::now() + Duration::from_secs(60);
    while Instant::now() < settle
        && !proxy.json("/status")["channels"]
            .as_array()
            .is_some_and(Vec::is_empty)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    let (second, deaths) = deaths.join().expect("the engine deaths ran");
    let status = proxy.json("/status");
    let stats = engine.json("/sim/stats");
    let leaked = [&stats, &second.json("/sim/stats")]
        .map(soak::live_sessions)
        .into_iter()
        .sum::<Option<usize>>();
    json!({
        "viewer_sessions": seen.sessions,
        "segments": seen.segments,
        "ts_bytes": seen.ts_bytes,
        "errors": seen.errors + zap_errors,
        "stalls": seen.stalls,
        "skips": seen.skips,
        "corrupt": seen.corrupt,
        "unchecked": seen.unchecked,
        "ts_gaps": seen.ts_gaps,
        "ts_misaligned": seen.ts_misaligned,
        "zaps": zaps,
        "zap_errors": zap_errors,
        "faults": faults,
        "engine_deaths": deaths,
        "failovers": status["totals"]["failovers"],
        "channels_left": status["channels"].as_array().map(Vec::len),
        "leaked_sessions": leaked,
        "engine_starts": stats["starts"],
        "engine_stops": stats["stops"],
        "rss_kib": {
            "idle": idle_rss,
            "early_mean": soak::mean_rss(&samples, secs / 6, secs / 3),
            "late_mean": soak::mean_rss(&samples, secs * 5 / 6, secs + 1),
            "peak": proxy.memory_kib("VmHWM"),
        },
        "acebox": usage(&proxy, idle_rss, cpu),
        "samples": samples,
    })
}

/// wrk against one segment of a warm channel, on acebox and on nginx (`--nginx`) serving the
/// same bytes, `--clients` connections for `--secs` each (see `wrk`).
fn run_wrk(ex: &'static Executor<'static>, o: &Options) -> Value {
    let bytes = o.segment_bytes.to_string();
    let engine = sim(&["--segment-ms", SEGMENT_MS, "--segment-bytes", &bytes]);
    let proxy = acebox(engine.addr, &[]);
    let refs = Arc::new(Refs::new(ex, engine.addr));
    let content = content_of(0, 1);
    let (path, files) = smol::block_on(ex.run(async {
        let playlist = warm(ex, &proxy, 1, 2).await.remove(0);
        let mut conn = Conn::new(ex, proxy.addr);
        let reply = conn.get_all(&playlist).await.expect("a playlist");
        let list = hls::parse(&reply.body).expect("a media playlist");
        let path = list.segments[0].uri.clone();
        let route = Route {
            content: content.clone(),
            paths: vec![path.clone()],
        };
        (path, segment_files(ex, &proxy, &refs, &[route]).await)
    }));
    let exe = o.nginx.as_ref().expect("wrk needs --nginx PATH");
    let nginx = Nginx::start(exe, &files).expect("nginx starts");
    let ours = wrk::run(
        &format!("http://{}{path}", proxy.addr),
        o.clients,
        o.secs,
        || proxy.cpu_seconds(),
    );
    let theirs_url = format!(
        "http://{}{}",
        nginx.addr,
        saturate::nginx_path(&content, &path)
    );
    let theirs = wrk::run(&theirs_url, o.clients, o.secs, || nginx.cpu_seconds());
    let (ours, theirs) = match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => (ours, theirs),
        (Err(e), _) | (_, Err(e)) => panic!("{e}"),
    };
    json!({
        "segment_bytes": o.segment_bytes,
        "acebox_wrk": ours.json(),
        "nginx_wrk": theirs.json(),
        "ratio": ours.requests_per_sec / theirs.requests_per_sec.max(f64::EPSILON),
        "cpu_per_gb_ratio": (ours.cpu_s / ours.bytes) / (theirs.cpu_s / theirs.bytes).max(f64::EPSILON),
        "acebox": usage(&proxy, 0, ours.cpu_s),
    })
}

fn run_saturate(ex: &'static Executor<'static>, o: &Options) -> Value {
    let (engine, proxy, idle_rss) = start();
    let refs = Arc::new(Refs::new(ex, engine.addr));
    let secs = Duration::from_secs(o.secs);
    let (ours, cpu, routes, files) = smol::block_on(ex.run(async {
        warm(ex, &proxy, o.channels, 2).await;
        let clients = connect_all(ex, &proxy, o).await;
        let routes: Vec<Route> = clients.iter().map(|(_, r)| r.clone()).collect();
        let files = segment_files(ex, &proxy, &refs, &routes[..o.channels.min(routes.len())]).await;
        let cpu = proxy.cpu_seconds();
        let flow = saturate::flood(ex, &refs, clients, secs).await;
        (flow, proxy.cpu_seconds() - cpu, routes, files)
    }));
    let mut figures = json!({
        "acebox": usage(&proxy, idle_rss, cpu),
        "acebox_flow": flow_json(&ours, cpu),
        "max_fetches_per_segment": engine.json("/sim/stats")["max_fetches_per_segment"],
    });
    if let Some(exe) = &o.nginx {
        let nginx = Nginx::start(exe, &files).expect("nginx starts");
        let (theirs, cpu) = smol::block_on(ex.run(async {
            let clients = routes
                .into_iter()
                .map(|route| {
                    let paths = route
                        .paths
                        .iter()
                        .map(|p| saturate::nginx_path(&route.content, p));
                    let route = Route {
                        paths: paths.collect(),
                        content: route.content,
                    };
                    (Conn::new(ex, nginx.addr), route)
                })
                .collect();
            let cpu = nginx.cpu_seconds();
            let flow = saturate::flood(ex, &refs, clients, secs).await;
            (flow, nginx.cpu_seconds() - cpu)
        }));
        merge(
            &mut figures,
            json!({"nginx_flow": flow_json(&theirs, cpu), "ratio": ours.rate() / theirs.rate()}),
        );
    }
    figures
}

/// Every saturating client connects like a player and reads its playlist once: its route.
async fn connect_all(
    ex: &'static Executor<'static>,
    proxy: &Process,
    o: &Options,
) -> Vec<(Conn, Route)> {
    let mut clients = Vec::new();
    for i in 0..o.clients {
        let content = content_of(i, o.channels);
        let mut conn = Conn::new(ex, proxy.addr);
        let playlist = hls::connect(&mut conn, &content).await.expect("a connect");
        let reply = conn.get_all(&playlist).await.expect("a playlist");
        let list = hls::parse(&reply.body).expect("a media playlist");
        let paths = list.segments.iter().map(|s| s.uri.clone()).collect();
        clients.push((conn, Route { content, paths }));
    }
    clients
}

/// The files nginx serves: each channel's listed segments, as the simulator made them, at
/// [`saturate::nginx_path`].
async fn segment_files(
    ex: &'static Executor<'static>,
    proxy: &Process,
    refs: &Refs,
    routes: &[Route],
) -> Vec<(String, bytes::Bytes)> {
    let mut files = Vec::new();
    let mut conn = Conn::new(ex, proxy.addr);
    for route in routes {
        for path in &route.paths {
            let got = refs::fetch_segment(&mut conn, path, refs, &route.content)
                .await
                .expect("a segment");
            let n = got
                .upstream
                .filter(|_| got.intact)
                .expect("an intact segment");
            let bytes = refs.get(&route.content, n).await.expect("its bytes");
            files.push((saturate::nginx_path(&route.content, path), bytes));
        }
    }
    files
}

fn flow_json(flow: &Flow, cpu: f64) -> Value {
    json!({
        "bytes": flow.bytes,
        "requests": flow.requests,
        "secs": flow.secs,
        "rate_mbyte_s": flow.rate() / 1e6,
        "corrupt": flow.corrupt,
        "errors": flow.errors,
        "cpu_s": cpu,
        "cpu_s_per_gb": cpu / (flow.bytes as f64 / 1e9).max(f64::EPSILON),
    })
}

/// acebox's own CPU seconds over the run, peak RSS and what its rings hold at the end.
fn usage(proxy: &Process, idle_rss: u64, cpu: f64) -> Value {
    let status = proxy.json("/status");
    let memory = |field: &str| {
        status["memory"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("no memory.{field} in acebox's /status"))
    };
    json!({
        "cpu_s": cpu,
        "peak_rss_kib": proxy.memory_kib("VmHWM"),
        "idle_rss_kib": idle_rss,
        "ring_kib": memory("ring_bytes") / 1024,
        "board": status["board"]["name"],
        "budget_kib": memory("budget_bytes") / 1024,
    })
}

/// p50 and p99 in milliseconds (nearest rank), `null` without samples.
fn percentiles(samples: impl Iterator<Item = Duration>) -> Value {
    let mut ms: Vec<f64> = samples.map(|d| d.as_secs_f64() * 1000.0).collect();
    if ms.is_empty() {
        return Value::Null;
    }
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    json!({"p50": rank(0.50), "p99": rank(0.99), "n": ms.len()})
}

/// The machine's load averages when the run ended: the machine may be shared.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}
