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
channels: {MAX_CHANNELS}
clients per channel: {MAX_CLIENTS_PER_CHANNEL}
HLS ring per channel: {RING_SLOTS} segments, {:.1} MiB; segments up to {:.1} MiB; {PLAYLIST_WINDOW} listed
TS ring per channel: {TS_CHUNKS} chunks of up to {TS_CHUNK_BYTES} bytes, {:.1} MiB
worst-case memory budget for stream data and connection buffers: {:.1} MiB ({MEMORY_BUDGET} bytes)
stripped binary at most {MAX_BINARY_BYTES} bytes (scripts/build-board.sh)
",
        mib(RING_BYTES),
        mib(MAX_SEGMENT_BYTES),
        mib(TS_RING_BYTES),
        mib(MEMORY_BUDGET),
    )
}
