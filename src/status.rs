//! `GET /status`: what acebox is playing, as JSON.
//!
//! Reads the registry and each channel's slot, ring and clients; changes nothing. The JSON is
//! written by serde-json-core into a buffer sized for the largest registry a build can hold.

use hyper::{Response, StatusCode};
use serde::Serialize;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::board::MAX_CHANNELS;
use crate::channel::Feed;
use crate::engine::Mode;
use crate::http::{Body, json_error};
use crate::router::App;
use crate::ts::Chunks;

/// Bytes of JSON per channel at most (ids, counters, and an error message of up to 200
/// characters, which escaping may lengthen).
const PER_CHANNEL: usize = 1024;

/// Characters of the last engine error shown; 4 bytes each at most.
const ERROR_CHARS: usize = 200;

#[derive(Serialize)]
struct Status<'a> {
    version: &'a str,
    uptime_secs: u64,
    engine: &'a str,
    channels: &'a [ChannelStatus],
}

/// One channel's entry, copied out so nothing is locked while the JSON is written.
#[derive(Serialize)]
struct ChannelStatus {
    content_id: heapless::String<40>,
    mode: &'static str,
    clients: usize,
    playback_session_id: heapless::String<40>,
    engine_starts: u64,
    /// Segments (HLS) or chunks (TS) held.
    segments: usize,
    ring_bytes: usize,
    /// TS clients that fell behind and skipped ahead, and that were dropped.
    skips: u64,
    drops: u64,
    last_error: Option<heapless::String<{ 4 * ERROR_CHARS }>>,
}

fn ts_count(feed: &Feed, counter: impl Fn(&Chunks) -> &AtomicU64) -> u64 {
    match feed {
        Feed::Ts(chunks) => counter(chunks).load(Ordering::Relaxed),
        Feed::Hls(_) => 0,
    }
}

/// The first [`ERROR_CHARS`] characters of `text`.
fn clipped<const N: usize>(text: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in text.chars().take(ERROR_CHARS) {
        // Cannot fail: N holds ERROR_CHARS characters of 4 bytes.
        let _ = out.push(c);
    }
    out
}

pub fn respond(app: &App) -> Response<Body> {
    let channels: heapless::Vec<ChannelStatus, MAX_CHANNELS> = app
        .registry
        .snapshot()
        .iter()
        .map(|c| ChannelStatus {
            content_id: heapless::String::try_from(c.id.as_str()).unwrap_or_default(),
            mode: match c.mode {
                Mode::Hls => "hls",
                Mode::Ts => "ts",
            },
            clients: c.client_count(),
            playback_session_id: c.session_id(),
            engine_starts: c.engine_starts(),
            segments: c.feed.held(),
            ring_bytes: c.feed.bytes(),
            skips: ts_count(&c.feed, |t| &t.skips),
            drops: ts_count(&c.feed, |t| &t.drops),
            last_error: c.health().map(|e| clipped(&e.to_string())),
        })
        .collect();
    let engine = app.registry.engine().origin().to_string();
    let status = Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: app.started.elapsed().as_secs(),
        engine: &engine,
        channels: &channels,
    };
    let mut buf = vec![0u8; 512 + MAX_CHANNELS * PER_CHANNEL];
    match serde_json_core::to_slice(&status, &mut buf) {
        Ok(len) => {
            buf.truncate(len);
            buf.push(b'\n');
            crate::http::respond(StatusCode::OK, "application/json", buf)
        }
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("status too large to write: {e}"),
        ),
    }
}
