//! Build-time capacities: how many channels, clients and stream bytes acebox will ever hold.
//!
//! The constants come from the board profile the binary was built for (`boards/<name>.toml`,
//! picked by `ACEBOX_BOARD`, default `host`; `build.rs` validates it and writes them). Every
//! fixed-capacity collection in the proxy is sized from them, so the worst-case memory of a build
//! is known before it boots. This module only states numbers; it never allocates or enforces.

include!(concat!(env!("OUT_DIR"), "/board.rs"));

/// A TS chunk is handed to clients once it holds this much (32 packets) and its first byte
/// came [`TS_FLUSH_MS`] ago, or once it is full. Not board knobs: they are about latency. The
/// time bounds what acebox adds at the live edge while the engine sends (100 ms; players of
/// MPEG-TS buffer a second or more; what waits when the engine pauses goes with its next bytes,
/// or as a last chunk when the stream ends) and makes each client woken and written to at most about ten times a second,
/// however finely the engine writes: 200 readers cost about 30% less CPU per GB than with a
/// chunk per read (BENCHMARKS.md, "MPEG-TS fan-out").
pub const TS_FLUSH_BYTES: usize = 188 * 32;
pub const TS_FLUSH_MS: u64 = 100;

/// What one address (one device on the network, as acebox tells them apart) may hold, sized by
/// the board so that a household's devices never meet it and one device cannot take what the
/// others need: a quarter of the connections (at least 4), a quarter of a channel's clients (at
/// least 2), a quarter of the channels as new channels starting at once (at least 1: its next
/// start waits for one to land), and new channels asked for a minute (twice the channels, at
/// least 6).
pub const ADDRESS_CONNECTIONS: usize = at_most(MAX_CONNECTIONS, at_least(4, MAX_CONNECTIONS / 4));
pub const ADDRESS_CLIENTS: usize = at_most(
    MAX_CLIENTS_PER_CHANNEL,
    at_least(2, MAX_CLIENTS_PER_CHANNEL / 4),
);
pub const ADDRESS_STARTING: usize = at_least(1, MAX_CHANNELS / 4);
pub const ADDRESS_OPENS_PER_MINUTE: usize = at_least(6, 2 * MAX_CHANNELS);

const fn at_least(floor: usize, n: usize) -> usize {
    if n < floor { floor } else { n }
}

const fn at_most(ceiling: usize, n: usize) -> usize {
    if n > ceiling { ceiling } else { n }
}

const _: () = assert!(TS_FLUSH_BYTES <= TS_CHUNK_BYTES && TS_CHUNK_BYTES <= TS_RING_BYTES);
const _: () = assert!(PLAYLIST_WINDOW > 0 && PLAYLIST_WINDOW * 2 <= RING_SLOTS);
const _: () = assert!(MAX_SEGMENT_BYTES <= RING_BYTES);

/// What `acebox --board` prints: the profile and its worst-case memory budget.
pub fn describe() -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = |bytes: usize| bytes as f64 / MIB;
    format!(
        "board: {BOARD} ({DESCRIPTION})
target: {TARGET}, linked {LINK}
features: {FEATURES}
RAM of the smallest board: {RAM_MB} MiB, of which stream buffers may use {MEMORY_SHARE_PERCENT}%
connections: {MAX_CONNECTIONS}
engines: {MAX_ENGINES}
channels: {MAX_CHANNELS}
clients per channel: {MAX_CLIENTS_PER_CHANNEL}
per address: {ADDRESS_CONNECTIONS} connections, {ADDRESS_CLIENTS} clients per channel, {ADDRESS_STARTING} channel(s) starting at once, {ADDRESS_OPENS_PER_MINUTE} channels opened a minute
HLS ring per channel: {RING_SLOTS} segments, {:.1} MiB; segments up to {:.1} MiB; {PLAYLIST_WINDOW} listed
TS ring per channel: {TS_CHUNKS} chunks of up to {TS_CHUNK_BYTES} bytes, {:.1} MiB
search: {:.1} MiB of cached results, engine answers up to {:.1} MiB
worst-case memory budget for stream data, connection buffers and search: {:.1} MiB ({MEMORY_BUDGET} bytes)
stripped binary at most {MAX_BINARY_BYTES} bytes (scripts/build-board.sh)
",
        mib(RING_BYTES),
        mib(MAX_SEGMENT_BYTES),
        mib(TS_RING_BYTES),
        mib(SEARCH_CACHE_BYTES),
        mib(SEARCH_ANSWER_BYTES),
        mib(MEMORY_BUDGET),
    )
}
