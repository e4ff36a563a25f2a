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

/// MPEG-TS chunks in one channel's ring: with [`TS_RING_BYTES`], about 30 s of a 4 Mbit/s
/// stream, so the engine's start-up burst is absorbed and a briefly slow client catches up.
pub const TS_CHUNKS: usize = 256;
/// Bytes of MPEG-TS one channel may hold, counting chunks still being sent.
pub const TS_RING_BYTES: usize = 16 * 1024 * 1024;
/// The largest chunk: 348 TS packets (64 KiB less 112 bytes).
pub const TS_CHUNK_BYTES: usize = 188 * 348;
/// A chunk is handed to clients once this much is read (32 packets, about 25 ms at 2 Mbit/s),
/// which bounds the latency acebox adds.
pub const TS_FLUSH_BYTES: usize = 188 * 32;

const _: () = assert!(TS_FLUSH_BYTES <= TS_CHUNK_BYTES && TS_CHUNK_BYTES <= TS_RING_BYTES);
const _: () = assert!(PLAYLIST_WINDOW > 0 && PLAYLIST_WINDOW * 2 <= RING_SLOTS);
const _: () = assert!(MAX_SEGMENT_BYTES <= RING_BYTES);
