//! Build-time capacities: how many channels, clients and segment bytes acebox will ever hold.
//!
//! Every fixed-capacity collection in the proxy is sized from these constants, so the worst-case
//! memory of a build is known before it boots. This module only states numbers; it never
//! allocates or enforces anything itself.

/// Channels held at once; a request for one more answers 503.
pub const MAX_CHANNELS: usize = 16;
/// HLS clients tracked per channel; a connect past this answers 503.
pub const MAX_CLIENTS_PER_CHANNEL: usize = 128;
/// Segment slots in one channel's ring.
pub const RING_SLOTS: usize = 24;
/// Bytes of segment data one channel may hold, counting segments that were evicted from the
/// ring but are still being sent to a client.
pub const RING_BYTES: usize = 64 * 1024 * 1024;
/// The largest single segment accepted from the engine; a larger one is refused with a log line.
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;
/// Segments listed in the playlist served to clients: the newest ones in the ring. Kept well
/// below `RING_SLOTS`, so a listed segment is still held when a slow player asks for it.
pub const PLAYLIST_WINDOW: usize = 8;

const _: () = assert!(PLAYLIST_WINDOW > 0 && PLAYLIST_WINDOW * 2 <= RING_SLOTS);
const _: () = assert!(MAX_SEGMENT_BYTES <= RING_BYTES);

/// Worst-case bytes of segment data for the whole proxy: every channel's ring full, plus the
/// one segment each channel may be downloading.
pub const fn segment_memory_budget() -> usize {
    MAX_CHANNELS * (RING_BYTES + MAX_SEGMENT_BYTES)
}
