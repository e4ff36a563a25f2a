//! The `acebox` binary: reads the configuration, binds the listener, serves until SIGTERM or
//! SIGINT, then stops every engine session and exits.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use futures_lite::StreamExt;

use acebox::app::App;
use acebox::channel::Registry;
use acebox::channel_list::ChannelList;
use acebox::config::{self, Command, Config, EngineSpec};
use acebox::engine::{Engine, Engines};
use acebox::http::{self, Gate, HostNames, Tally};
use acebox::search::Search;
use acebox::{board, logger};
use acebox::{lan, router};

/// How long shutdown waits for engine starts and stops under way before it exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let config = match config::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Board) => {
            print!("{}", board::describe());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("acebox {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e),
    };
    logger::init(config.log_level);
    run(*config)
}

/// The engines of `specs`, the first the default; `None` when there is none.
fn engines(specs: Vec<EngineSpec>) -> Option<Arc<Engines>> {
    let mut given = specs
        .into_iter()
        .map(|spec| (Engine::new(spec.origin), spec.max_channels));
    let first = given.next()?;
    Some(Arc::new(Engines::new(
        first,
        given,
        acebox::clock::now_ms(),
    )))
}

/// `engine http://...` or `engines http://... (2 channels at most), http://...`, for the log.
fn described(engines: &Engines) -> String {
    let list: Vec<String> = engines
        .iter()
        .map(|m| match m.limit {
            limit if limit < board::MAX_CHANNELS => {
                format!("{} ({limit} channels at most)", m.engine.origin())
            }
            _ => m.engine.origin().to_string(),
        })
        .collect();
    let noun = if list.len() == 1 { "engine" } else { "engines" };
    format!("{noun} {}", list.join(", "))
}

/// A configuration acebox cannot run with: the reason on stderr, exit code 2.
fn usage_error(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("acebox: {e}\nRun `acebox --help` for the options.");
    ExitCode::from(2)
}

fn run(config: Config) -> ExitCode {
    let channel_list = match config
        .channels
        .as_deref()
        .map(|path| ChannelList::open(path, Instant::now()).map(Arc::new))
        .transpose()
    {
        Ok(list) => list,
        Err(e) => return usage_error(&e),
    };
    // Installed before serving, so a signal that comes early is not lost.
    let signals = match Signals::new([Signal::Term, Signal::Int]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("acebox: cannot handle SIGTERM and SIGINT: {e}");
            return ExitCode::from(1);
        }
    };
    let listener = match http::bind(config.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("acebox: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    let local = listener.get_ref().local_addr().unwrap_or(config.listen);
    // Announcing makes sense where acebox listens on a LAN address: not on the loopback, and
    // (SSDP and HDHomeRun discovery being IPv4) not on one IPv6 address.
    let lan_address = match local.ip() {
        std::net::IpAddr::V4(v4) => !v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.is_unspecified(),
    };
    let device = lan::device(local, config.announce && lan_address);
    let announcer = device
        .announce
        .then(|| lan::Announcer::start(&device, local, config.allow.clone()));
    // The one line on stdout: scripts and tests read the bound port from it; by then the
    // LAN services listen too.
    println!("acebox listening on http://{local}");
    let Some(engines) = engines(config.engines) else {
        return usage_error(&"name at least one engine with --engine");
    };
    log::info!(
        "{}, idle timeout {} s, board {}, allowed: {}",
        described(&engines),
        config.idle_timeout.as_secs(),
        board::BOARD,
        config.allow
    );
    if !config.tokens.is_empty() && config.allow.is_empty() {
        log::warn!("--token without --allow: everyone is let in anyway; set --allow to your LAN");
    }
    let gate = Gate::new(
        config.allow,
        board::MAX_CONNECTIONS,
        board::ADDRESS_CONNECTIONS,
    );
    let gate = Arc::new(gate.with_outsiders(!config.tokens.is_empty()));
    // The machine's host name, which the status page and lists answer to.
    let machine = std::fs::File::open("/proc/sys/kernel/hostname")
        .and_then(|file| {
            let mut name = Vec::new();
            file.take(255).read_to_end(&mut name).map(|_| name)
        })
        .ok()
        .and_then(|name| String::from_utf8(name).ok());
    let app = Arc::new(App {
        search: Search::new(engines.get(0).engine.clone()),
        registry: Registry::new(engines, config.idle_timeout),
        started: Instant::now(),
        gate: gate.clone(),
        channel_list,
        device,
        names: HostNames::new(machine.as_deref(), &config.hosts),
        opens: Tally::default(),
        tokens: config.tokens,
    });
    let reaper = app.clone();
    acebox::spawn(async move { reaper.registry.reap_idle().await }).detach();
    // One engine is played from whatever happens; several are checked, so that channels
    // leave one that fails.
    let count = app.registry.engines().count();
    for index in (0..count).filter(|_| count > 1) {
        let watcher = app.clone();
        acebox::spawn(async move { watcher.registry.watch_engine(index).await }).detach();
    }
    let handler = {
        let app = app.clone();
        move |req, peer| router::handle(app.clone(), req, peer)
    };
    smol::block_on(async {
        let mut signals = signals;
        let stop = async {
            loop {
                match signals.next().await {
                    Some(Ok(signal)) => {
                        let name = if signal == Signal::Int {
                            "SIGINT"
                        } else {
                            "SIGTERM"
                        };
                        log::info!("{name} received: stopping every engine session and exiting");
                        return;
                    }
                    Some(Err(e)) => log::warn!("reading a signal failed: {e}"),
                    // The stream has ended: no signal will come; serve until killed.
                    None => futures_lite::future::pending::<()>().await,
                }
            }
        };
        http::serve(listener, gate, handler, stop).await;
        if let Some(announcer) = announcer {
            announcer.stop().await;
        }
        app.registry.stop_all(SHUTDOWN_GRACE).await;
    });
    log::info!("stopped");
    ExitCode::SUCCESS
}
