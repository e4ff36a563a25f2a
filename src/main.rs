//! The `acebox` binary: reads the configuration, binds the listener, serves until killed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use acebox::channel::Registry;
use acebox::channel_list::ChannelList;
use acebox::config::{self, Command};
use acebox::engine::Engine;
use acebox::router::{self, App};
use acebox::{http, logger};

fn main() -> ExitCode {
    let config = match config::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Board) => {
            print!("{}", acebox::board::describe());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("acebox {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("acebox: {e}\nRun `acebox --help` for the options.");
            return ExitCode::from(2);
        }
    };
    logger::init(log::LevelFilter::Info);
    let channel_list = match config
        .channels
        .as_deref()
        .map(ChannelList::open)
        .transpose()
    {
        Ok(list) => list,
        Err(e) => {
            eprintln!("acebox: {e}\nRun `acebox --help` for the options.");
            return ExitCode::from(2);
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
    // The one line on stdout: scripts and tests read the bound port from it.
    println!("acebox listening on http://{local}");
    log::info!(
        "engine {}, idle timeout {} s",
        config.engine,
        config.idle_timeout.as_secs()
    );
    let app = Arc::new(App {
        registry: Registry::new(Engine::new(config.engine), config.idle_timeout),
        started: Instant::now(),
        channel_list,
    });
    let reaper = app.clone();
    smol::spawn(async move { reaper.registry.reap_idle().await }).detach();
    smol::block_on(http::serve(listener, move |req, peer| {
        router::handle(app.clone(), req, peer)
    }));
    ExitCode::SUCCESS
}
