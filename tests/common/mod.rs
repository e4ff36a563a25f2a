//! What the integration tests share (benches/load includes this folder too, by path): the real
//! binaries started as processes, a blocking HTTP client, the player models of both protocols,
//! and the machine's tools. One module per job:
//! - `process`: `acebox` and `acebox-sim` on free loopback ports, killed when dropped;
//! - `http`: one request per connection, the whole answer ([`Reply`]), and the [`Trap`];
//! - `hls`: the HLS [`Player`] and the checks on the segments it got;
//! - `ts`: the MPEG-TS [`TsClient`] and the simulator's packet indices;
//! - `netns`: two network namespaces on one link, a LAN for the discovery tests;
//! - `tools`: `have` (outside tools), ffmpeg's test media and the [`Ffmpeg`] player, [`TempDir`];
//! - here: content ids, the live channels the report tests look at, room for a channel,
//!   waiting on a condition, threads released together.
//!
//! Everything is re-exported here, so a test names `common::X`. The helpers check only what
//! they need to go on (a binary that says where it listens, an answer that is HTTP, a redirect
//! to follow); what acebox must do is asserted by the tests.
#![allow(dead_code)] // Each test binary uses its own part of this module.

mod hls;
mod http;
pub mod netns;
mod process;
mod tools;
mod ts;

// The flat names the tests and benches/load use; each binary uses some of them.
#[allow(unused_imports)]
pub use hls::{
    Player, Reload, assert_contiguous, assert_contiguous_between_breaks, banner_infohash,
    banner_seq, upstream_seq,
};
#[allow(unused_imports)]
pub use http::{
    ClosedPort, Reply, Trap, connect_from, get, get_as, get_from, next_device, request,
    request_bytes, send, try_connect_from, user_agent,
};
#[allow(unused_imports)]
pub use process::{
    Process, acebox, acebox_at, acebox_engines, command, cpu_seconds, drain, memory_kib, runner,
    sim, sim_at, wait_sessions_stopped,
};
#[allow(unused_imports)]
pub use tools::{Codecs, Ffmpeg, Played, TempDir, have, have_on_path, have_or, make_media};
#[allow(unused_imports)]
pub use ts::{
    TsClient, follows, gap_free, gap_free_runs, video_index, video_indices, whole_packets,
};

use std::time::{Duration, Instant};

use acebox::board::MAX_CHANNELS;

/// A content id for test `n`.
pub fn content(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

/// Live channels for the tests of what acebox reports: an HLS player on content 1 that has
/// played a few segments, and a TS client that has read some packets, on content 2 (two
/// channels, one of each mode) or, on a board that plays one channel, on content 1 too.
pub struct Live {
    pub player: Player,
    pub ts: TsClient,
    /// The TS client's content id.
    pub ts_id: String,
    /// Channels open: 2, or 1 where both clients share content 1's.
    pub channels: usize,
}

impl Live {
    /// The clients of content 1's HLS channel: its player, and the TS client if it is there too.
    pub fn hls_clients(&self) -> u64 {
        if self.channels == 2 { 1 } else { 2 }
    }

    /// The mode of the TS client's channel and its clients: its own MPEG-TS channel's one, or
    /// both on content 1's HLS channel.
    pub fn ts_channel(&self) -> (&'static str, u64) {
        if self.channels == 2 {
            ("ts", 1)
        } else {
            ("hls", 2)
        }
    }
}

/// Opens the [`Live`] channels.
pub fn live_channels(proxy: &Process) -> Live {
    let mut player = Player::connect(proxy.addr, &content(1));
    player.play(Duration::from_secs(30), Duration::from_millis(100), |p| {
        p.segments.len() >= 3
    });
    let channels = MAX_CHANNELS.min(2);
    let ts_id = content(channels as u8);
    let mut ts = TsClient::open(proxy.addr, &format!("/ace/getstream?id={ts_id}"));
    assert_eq!(ts.status, 200);
    assert_eq!(ts.read(188 * 100).len(), 188 * 100);
    Live {
        player,
        ts,
        ts_id,
        channels,
    }
}

/// Waits until acebox plays fewer channels than the board allows, so that the next connect can
/// open one: at once on a board with room to spare, else once an idle channel has been stopped
/// (run acebox with a short `--idle-timeout`, and let that channel's clients go first).
pub fn room_for_a_channel(proxy: &Process) {
    wait_for(Duration::from_secs(30), "room for a channel", || {
        let channels = proxy.json("/status")["channels"].as_array()?.len();
        (channels < MAX_CHANNELS).then_some(())
    });
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `f(i)` for `i` in `0..n` on `n` threads released at the same instant; their results,
/// in order.
pub fn at_once<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let f = std::sync::Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (start, f) = (start.clone(), f.clone());
            std::thread::spawn(move || {
                start.wait();
                f(i)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a thread failed"))
        .collect()
}

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
