//! MPEG-TS: one upstream reader per channel, fanned out to every client through a store of
//! packet-aligned chunks, and the segmenter that derives HLS segments from it.
//!
//! - [`packet`]: the checked 188-byte [`packet::Packet`] every other part reads headers through;
//! - [`reader`]: the feed step that reads the engine's stream into the chunk store;
//! - [`stream`]: [`TsStream`], a client's body, a cursor into the store;
//! - [`segmenter`]: HLS segments cut from the chunks, for HLS players of a TS channel.
//!
//! A feed: it imports `storage`, `counters`, `feed`, `clock` and the transport, never `channel`.
//! It never parses beyond packet and PES headers.

pub mod packet;
pub mod reader;
pub mod segmenter;
pub mod stream;

pub use reader::READ_STALL;
pub use stream::TsStream;
