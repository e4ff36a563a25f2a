//! acebox-sim: a stand-in AceStream engine for acebox's tests. It speaks the engine's HTTP API
//! as described in `engine-api.md` (starts, HLS playlists on a live clock, segments, the paced
//! one-reader MPEG-TS stream, stat, command) plus a `/sim/` control API that lets a test
//! supersede, expire, restart and misbehave on purpose.
//!
//! This file owns the command line, binding, the one "listening on" line on stdout and sending
//! each request to `api` or `control`. It never answers a request itself and never sleeps a
//! thread.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod catalog;
mod config;
mod control;
mod engine;
mod ids;
mod json;
mod media;
mod playlist;
mod search;
mod stream;
mod ts;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use acebox::http::{AllowList, Body, Gate, bind, serve};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::config::{Command, Config, USAGE};
use crate::engine::{Engine, Settings, Wall};
use crate::media::Media;

/// Everything a request handler reaches: the engine state behind its lock, the segment and
/// stream bytes and the fixed options.
pub struct Sim {
    engine: Mutex<Engine>,
    pub media: Media,
    pub start_timeout: Duration,
    pub fail_delay: Duration,
    pub start_delay: Duration,
    /// Whether `format=json` is allowed (`--no-json` turns it off).
    pub json: bool,
    pub segment_ms: u64,
    /// The engine's search, apart from playback.
    pub search: search::Search,
}

impl Sim {
    fn new(config: &Config, media: Media) -> Sim {
        let settings = Settings {
            segment_ms: config.segment_ms,
            segment_bytes: config.segment_bytes as u64,
            window: config.window,
            prebuffer_ms: config.prebuffer_ms,
            idle_ms: config.idle_ms,
            rotate_tokens: config.rotate_tokens,
            ts_bitrate: config.ts_bitrate,
            ts_burst_packets: config.ts_burst_bytes / config::TS_PACKET as u64,
        };
        // The one read of the system clock: it seeds session ids and dates the stat timestamps.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let wall = Wall {
            at: Instant::now(),
            unix_secs: since_epoch.as_secs(),
        };
        Sim {
            engine: Mutex::new(Engine::new(settings, seed(since_epoch), wall)),
            media,
            start_timeout: Duration::from_millis(config.start_timeout_ms),
            fail_delay: Duration::from_millis(config.fail_delay_ms),
            start_delay: Duration::from_millis(config.start_delay_ms),
            json: config.json,
            segment_ms: config.segment_ms,
            search: search::Search::new(config.legacy_search, config.search_extra),
        }
    }

    /// The engine, locked; hold the guard only within a statement, never across an `.await`.
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        acebox::lock(&self.engine)
    }
}

/// The parts of a request the handlers read.
pub struct Call {
    pub path: String,
    pub query: String,
    /// The `Host` the caller used (the listening address if it sent none): returned URLs use it.
    pub host: String,
    pub peer: SocketAddr,
}

fn main() -> ExitCode {
    let config = match config::parse(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("acebox-sim: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let media = match &config.media_dir {
        None => Media::synthetic(config.segment_bytes),
        Some(dir) => match Media::load(dir) {
            Ok(media) => media,
            Err(message) => {
                eprintln!("acebox-sim: {message}");
                return ExitCode::from(2);
            }
        },
    };
    smol::block_on(run(config, media))
}

async fn run(config: Config, media: Media) -> ExitCode {
    let listener = match bind(config.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("acebox-sim: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.get_ref().local_addr().unwrap_or(config.listen);
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "acebox-sim listening on http://{local}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("acebox-sim: cannot write to stdout");
        return ExitCode::FAILURE;
    }
    let sim = Arc::new(Sim::new(&config, media));
    // The simulator admits everyone and runs until killed.
    let gate = Arc::new(Gate::new(AllowList::default(), usize::MAX, usize::MAX));
    let handler = move |req, peer| route(sim.clone(), req, peer, local);
    serve(listener, gate, handler, futures_lite::future::pending()).await;
    ExitCode::SUCCESS
}

async fn route(
    sim: Arc<Sim>,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<Body> {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map_or_else(|| local.to_string(), str::to_owned);
    let call = Call {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or("").to_owned(),
        host,
        peer,
    };
    drop(req);
    match call.path.strip_prefix("/sim/") {
        Some(name) => control::handle(&sim, name, &call.query),
        None => api::handle(&sim, &call).await,
    }
}

/// Differs between runs so that playback session ids do: the time since the Unix epoch, mixed
/// with the process id.
fn seed(since_epoch: Duration) -> u64 {
    (since_epoch.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}
