//! The one clock of the stream path: milliseconds since the process started.
//!
//! Owns nothing but the epoch; it never sleeps, schedules or wakes anyone. Everything that decides by time (clients' leases, idleness, a TS
//! client's skips, the age of an error) takes `now` as an argument; only the async edges (a
//! request handler, a feed's loop, a guard's drop) call [`now_ms`], so unit tests move time by
//! passing another number instead of sleeping. Wall-clock time ([`unix_ms`]) is for what is
//! shown or numbered across restarts, never for measuring a span.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the process started: monotonic, cheap, fits an atomic.
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Milliseconds since 1970 (0 on a clock set before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
