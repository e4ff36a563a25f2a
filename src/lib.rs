//! acebox: one AceStream engine session per channel, fanned out to every client on the network.
//!
//! The binary (`src/main.rs`) parses the command line and wires these modules together; the
//! engine simulator (`src/bin/acebox-sim/`) reuses the transport.
//!
//! The stream path is layered, each layer importing only those below it:
//! 1. [`storage`]: the ring and the typed stores of segments and chunks;
//! 2. [`counters`] and [`clock`]: a channel's counters, and the one clock the async edges read;
//! 3. the feeds, [`hls`] and [`ts`], sharing [`feed`]: each fills its own store through a small
//!    context and never sees the channel;
//! 4. [`channel`]: content ids, clients, session supervision and the registry; it builds each
//!    feed's context and spawns the feed.

pub mod app;
pub mod board;
pub mod channel;
pub mod channel_list;
pub mod clock;
pub mod config;
pub mod counters;
pub mod engine;
pub mod feed;
pub mod hls;
pub mod http;
pub mod logger;
pub mod report;
pub mod router;
pub mod session;
pub mod storage;
pub mod ts;

/// The 64-bit atomic behind acebox's counters, timestamps and ids: std's wherever the target
/// has 64-bit atomics (x86_64, aarch64, armv7), and portable-atomic's on 32-bit MIPS, which has
/// none (no 64-bit LL/SC). There portable-atomic's `fallback` keeps a table of spinlocks hashed
/// by the atomic's address (loads are seqlock reads that take no lock), held for a few
/// instructions per update; acebox updates these once per segment, chunk, engine start or
/// connection, never per byte, so no hot path waits on them. See BENCHMARKS.md (MIPS).
#[cfg(not(target_has_atomic = "64"))]
pub use portable_atomic::AtomicU64;
#[cfg(target_has_atomic = "64")]
pub use std::sync::atomic::AtomicU64;

/// Locks `mutex`, the one way acebox takes a std lock. Nothing under acebox's locks can panic
/// half-way through an update (they guard plain copies and pushes), so a lock poisoned by a
/// panic elsewhere still holds a consistent value and is used as it is.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
