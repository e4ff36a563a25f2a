//! What acebox is doing, gathered once per request into a [`Report`]: the one source of the
//! JSON at `GET /status` ([`json`]), the page at `GET /` ([`page`]) and the metrics at
//! `GET /metrics` ([`metrics`]).
//!
//! This module owns gathering: it reads the registry, each channel's slot, ring, clients and
//! counters, the gate and the process's memory, and copies them out. It changes nothing and
//! never calls the engine (the channels poll its stat themselves). The views render a
//! [`Report`] into text; they never see the [`App`] or the router, and never build a response.

use serde::Serialize;

use crate::app::App;
use crate::board;
use crate::channel::Channel;
use crate::clock;
use crate::counters::Counts;
use crate::engine::{EngineStat, Engines, Member, Mode};
use crate::http::{GateCounts, Tokens};

pub mod json;
pub mod metrics;
pub mod page;

/// Characters of the last engine error shown; 4 bytes each at most.
const ERROR_CHARS: usize = 200;

/// Everything the status outputs show, copied out so that nothing is locked while they are
/// written.
#[derive(Serialize)]
pub struct Report {
    pub version: &'static str,
    pub uptime_secs: u64,
    /// The default engine (the first given).
    pub engine: String,
    /// Every engine, in the order given.
    pub engines: Vec<EngineHealthReport>,
    pub board: Board,
    pub memory: Memory,
    pub connections: GateCounts,
    /// Every channel's counters since start, channels that are gone included.
    pub totals: Counts,
    /// The counters of the channels that are gone.
    pub closed: Counts,
    pub channels: Vec<ChannelReport>,
    /// What acebox is on the LAN, and whether it announces itself there.
    pub lan: Lan,
}

/// The `lan` of `/status`: whether acebox announces itself (HDHomeRun discovery and SSDP),
/// and the identity it is found by.
#[derive(Serialize)]
pub struct Lan {
    pub announce: bool,
    pub device_id: heapless::String<8>,
    pub name: String,
}

/// One engine: where it is, whether it is up, what it holds and what happened to it.
#[derive(Serialize)]
pub struct EngineHealthReport {
    pub url: String,
    /// Whether it is in placement (up), or out of it and probed until it answers.
    pub healthy: bool,
    /// The version it said it runs; empty until a check answered (or with one engine, which
    /// is never checked).
    pub version: heapless::String<16>,
    /// Channels playing from it, and the most it may hold.
    pub channels: usize,
    pub max_channels: usize,
    pub checks: u64,
    pub failures: u64,
    /// Channels moved off it because it failed.
    pub failovers: u64,
    /// Sessions of channels that moved off it while it did not answer their stop: stopped
    /// once it answers again.
    pub sessions_left: usize,
    pub last_error: Option<ErrorReport>,
}

/// The board profile's capacities.
#[derive(Serialize)]
pub struct Board {
    pub name: &'static str,
    pub description: &'static str,
    pub max_channels: usize,
    pub max_clients_per_channel: usize,
    pub max_connections: usize,
}

#[derive(Serialize)]
pub struct Memory {
    /// The most stream data and connection buffers this build can ever hold.
    pub budget_bytes: usize,
    /// Stream data held now, all channels.
    pub ring_bytes: usize,
    /// The process's resident memory, from /proc (absent where there is none).
    pub rss_bytes: Option<u64>,
}

#[derive(Serialize)]
pub struct ChannelReport {
    pub content_id: heapless::String<40>,
    /// What the channel is called (from the channel list or search results); empty when unknown.
    pub name: heapless::String<{ crate::channel::NAME_CAP }>,
    pub mode: &'static str,
    pub open_secs: u64,
    /// Clients now; `client_list` says who.
    pub clients: usize,
    pub client_list: Vec<ClientReport>,
    pub playback_session_id: heapless::String<40>,
    /// The engine the channel plays from.
    pub engine_url: String,
    /// What the engine last said of the session (`None` until it answered a stat poll).
    pub engine: Option<EngineReport>,
    /// Segments (HLS) or chunks (TS) held, of `slots`; bytes alive, of `budget_bytes`.
    pub ring: RingReport,
    /// HLS segments cut from a TS channel's stream for its HLS players; `None` when there are
    /// none (an HLS channel, or no HLS player yet).
    pub segments_cut: Option<RingReport>,
    pub counters: Counts,
    /// Whether the channel's latest read of the engine worked.
    pub healthy: bool,
    pub last_error: Option<ErrorReport>,
}

#[derive(Serialize)]
pub struct ClientReport {
    pub address: heapless::String<48>,
    /// The name of the token the client came with (`--token NAME=...`), never the secret;
    /// `None` for a client of `--allow`'s networks that showed none.
    pub token: Option<heapless::String<48>>,
    /// `hls` (a player polling playlists) or `ts` (an MPEG-TS stream).
    pub protocol: &'static str,
    /// How long ago the client connected, and when (Unix time, seconds).
    pub connected_secs: u64,
    pub connected_since: u64,
}

#[derive(Serialize)]
pub struct EngineReport {
    pub status: heapless::String<16>,
    pub peers: u32,
    pub speed_down_kbps: u32,
    pub speed_up_kbps: u32,
    pub progress: Option<u32>,
    pub error: Option<heapless::String<160>>,
}

#[derive(Serialize)]
pub struct RingReport {
    pub held: usize,
    pub slots: usize,
    pub bytes: usize,
    pub budget_bytes: usize,
}

#[derive(Serialize)]
pub struct ErrorReport {
    pub message: heapless::String<{ 4 * ERROR_CHARS }>,
    pub secs_ago: u64,
}

impl Report {
    /// Gathers the report from what `app` holds now.
    pub fn gather(app: &App) -> Report {
        let (live, closed) = app.registry.snapshot_with_retired();
        let engines = app.registry.engines();
        let now = Now {
            ms: clock::now_ms(),
            unix_secs: clock::unix_ms() / 1000,
        };
        let channels: Vec<ChannelReport> = live
            .iter()
            .map(|c| channel_report(c, engines, now, &app.tokens))
            .collect();
        let mut totals = closed;
        for channel in &channels {
            totals += &channel.counters;
        }
        Report {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: app.started.elapsed().as_secs(),
            engine: engines.get(0).engine.origin().to_string(),
            engines: engines.iter().map(|m| engine_health(m, now.ms)).collect(),
            board: Board {
                name: board::BOARD,
                description: board::DESCRIPTION,
                max_channels: board::MAX_CHANNELS,
                max_clients_per_channel: board::MAX_CLIENTS_PER_CHANNEL,
                max_connections: board::MAX_CONNECTIONS,
            },
            memory: Memory {
                budget_bytes: board::MEMORY_BUDGET,
                ring_bytes: channels
                    .iter()
                    .map(|c| c.ring.bytes + c.segments_cut.as_ref().map_or(0, |r| r.bytes))
                    .sum(),
                rss_bytes: rss_bytes(),
            },
            connections: app.gate.counts(),
            lan: Lan {
                announce: app.device.announce,
                device_id: clipped(&format!("{:08X}", app.device.id)),
                name: app.device.name.clone(),
            },
            totals,
            closed,
            channels,
        }
    }
}

/// The moment a report is of, read once for all its channels.
#[derive(Clone, Copy)]
struct Now {
    /// Milliseconds of [`clock::now_ms`].
    ms: u64,
    /// Wall-clock seconds since 1970, for the times shown as dates.
    unix_secs: u64,
}

/// What engine `m` is and holds at `now` (milliseconds of [`clock`]).
fn engine_health(m: &Member, now: u64) -> EngineHealthReport {
    let health = m.health();
    EngineHealthReport {
        url: m.engine.origin().to_string(),
        healthy: health.up,
        version: health.version,
        channels: m.placed(),
        max_channels: m.limit,
        checks: m.checks.get(),
        failures: m.failures.get(),
        failovers: m.failovers.get(),
        sessions_left: m.orphans(),
        last_error: health.last_error.map(|(message, at)| ErrorReport {
            message: clipped(&message),
            secs_ago: now.saturating_sub(at) / 1000,
        }),
    }
}

/// The report of channel `c`, playing from one of `engines`, at `now`, its clients' tokens
/// named from `tokens`.
fn channel_report(
    c: &Channel,
    engines: &Engines,
    Now { ms: now, unix_secs }: Now,
    tokens: &Tokens,
) -> ChannelReport {
    let client_list: Vec<ClientReport> = c
        .client_list(now)
        .iter()
        .map(|client| ClientReport {
            address: clipped(&client.addr.to_string()),
            token: tokens.name(client.via).map(clipped),
            protocol: client.protocol.name(),
            connected_secs: client.connected_ms / 1000,
            connected_since: unix_secs.saturating_sub(client.connected_ms / 1000),
        })
        .collect();
    let (slots, budget_bytes) = c.store.capacity();
    ChannelReport {
        content_id: clipped(c.id.as_str()),
        name: c.name.clone(),
        mode: match c.mode {
            Mode::Hls => "hls",
            Mode::Ts => "ts",
        },
        open_secs: c.age_ms(now) / 1000,
        clients: client_list.len(),
        client_list,
        playback_session_id: c.session_id(),
        engine_url: engines.get(c.engine_index()).engine.origin().to_string(),
        engine: c.engine_stat().map(engine_report),
        ring: RingReport {
            held: c.store.held(),
            slots,
            bytes: c.store.bytes(),
            budget_bytes,
        },
        segments_cut: c
            .segments()
            .filter(|_| c.mode == Mode::Ts)
            .map(|cut| RingReport {
                held: cut.ring.len(),
                slots: crate::board::RING_SLOTS,
                bytes: cut.ring.alive(),
                budget_bytes: crate::storage::CUT_RING_BYTES,
            }),
        counters: c.counters.snapshot(),
        healthy: c.health().is_none(),
        last_error: c.last_error(now).map(|(e, ago_ms)| ErrorReport {
            message: clipped(&e.to_string()),
            secs_ago: ago_ms / 1000,
        }),
    }
}

fn engine_report(stat: EngineStat) -> EngineReport {
    EngineReport {
        status: stat.status,
        peers: stat.peers,
        speed_down_kbps: stat.speed_down,
        speed_up_kbps: stat.speed_up,
        progress: stat.progress,
        error: (!stat.error.is_empty()).then_some(stat.error),
    }
}

/// The first [`ERROR_CHARS`] characters of `text` that fit in `N` bytes.
fn clipped<const N: usize>(text: &str) -> heapless::String<N> {
    let end = text
        .char_indices()
        .nth(ERROR_CHARS)
        .map_or(text.len(), |(at, _)| at);
    crate::clip(&text[..end])
}

/// The process's resident set, from `/proc/self/status`.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_whole_characters() {
        let long = "é".repeat(300);
        let short: heapless::String<{ 4 * ERROR_CHARS }> = clipped(&long);
        assert_eq!(short.chars().count(), ERROR_CHARS);
        let tiny: heapless::String<5> = clipped("ééé");
        assert_eq!(tiny.as_str(), "éé");
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(rss_bytes().is_some_and(|b| b > 0));
    }
}
