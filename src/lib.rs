//! acebox: one AceStream engine session per channel, fanned out to every client on the network.
//!
//! The binary (`src/main.rs`) parses the command line and wires these modules together; the
//! engine simulator (`src/bin/acebox-sim/`) reuses the transport.

pub mod allow;
pub mod board;
pub mod channel;
pub mod channel_list;
pub mod clients;
pub mod config;
pub mod engine;
pub mod hls;
pub mod http;
pub mod logger;
pub mod metrics;
pub mod page;
pub mod ring;
pub mod router;
pub mod segmenter;
pub mod serve_io;
pub mod session;
pub mod status;
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
