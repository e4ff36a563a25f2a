//! Storage: what a channel holds of its stream, once, for every client.
//!
//! - [`ring`]: [`Ring`], the bounded queue of items under a byte budget that every store is;
//! - [`segments`]: [`Segments`], HLS segments (fetched from the engine, or cut from a TS stream);
//! - [`chunks`]: [`Chunks`], the packet-aligned pieces of an MPEG-TS stream;
//! - [`Store`], here: what one channel's engine session feeds, by mode.
//!
//! The rule of this folder: storage imports nothing of acebox but the `board` constants and the
//! crate's lock helper and atomic type. It never fetches, parses, reads a clock or serves; the
//! feeds (`hls`, `ts`) push into it and the clients read from it.

pub mod chunks;
pub mod ring;
pub mod segments;

pub use chunks::{ChunkMeta, Chunks};
pub use ring::{Item, PushError, Ring};
pub use segments::{CUT_RING_BYTES, SegmentMeta, Segments};

use std::sync::Arc;

use bytes::Bytes;

use crate::board::{RING_BYTES, RING_SLOTS, TS_CHUNKS, TS_RING_BYTES};

/// Where an MPEG-TS client goes on ([`Store::resume_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// At the item it was about to read.
    Here,
    /// At this item and offset, a clean start of the stream after a break.
    At(u64, usize),
    /// Nowhere yet: the stream after a break has no start point yet.
    Wait,
}

/// What a channel's engine session feeds: segments for HLS, chunks for MPEG-TS. Shared: a feed
/// derived from the chunks (the segmenter) holds them while it runs.
pub enum Store {
    Hls(Arc<Segments>),
    Ts(Arc<Chunks>),
}

impl Store {
    /// Segments or chunks held.
    pub fn held(&self) -> usize {
        match self {
            Store::Hls(s) => s.ring.len(),
            Store::Ts(c) => c.ring.len(),
        }
    }

    /// Slots and bytes the ring holds at most.
    pub fn capacity(&self) -> (usize, usize) {
        match self {
            Store::Hls(_) => (RING_SLOTS, RING_BYTES),
            Store::Ts(_) => (TS_CHUNKS, TS_RING_BYTES),
        }
    }

    /// Bytes alive: held, or still being sent.
    pub fn bytes(&self) -> usize {
        match self {
            Store::Hls(s) => s.ring.alive(),
            Store::Ts(c) => c.ring.alive(),
        }
    }

    /// Drops everything held (items still being sent live until their sends end).
    pub fn clear(&self) {
        match self {
            Store::Hls(s) => s.ring.clear(),
            Store::Ts(c) => c.ring.clear(),
        }
    }

    /// Where a new MPEG-TS client starts, as an item and an offset in it: the newest start
    /// point of a TS channel's chunks, or the newest segment of an HLS channel (segments are
    /// MPEG-TS that starts where a player can decode, sent back to back). `None` while empty.
    pub fn stream_start(&self) -> Option<(u64, usize)> {
        match self {
            Store::Hls(s) => s.ring.newest(|_| Some(0)),
            Store::Ts(c) => c.start_point(),
        }
    }

    /// Where an MPEG-TS client about to read item `seq` goes on: at that item, unless it starts a
    /// new upstream connection of a TS channel's stream, which the client joins at its first
    /// start point ([`Chunks::rejoin_point`]), or waits for one.
    pub fn resume_at(&self, seq: u64) -> Resume {
        let Store::Ts(chunks) = self else {
            return Resume::Here;
        };
        match chunks.ring.get(seq) {
            Some(item) if item.meta.fresh => match chunks.rejoin_point(seq) {
                Some((seq, offset)) => Resume::At(seq, offset),
                None => Resume::Wait,
            },
            _ => Resume::Here,
        }
    }

    /// The bytes of item `seq` for an MPEG-TS client, if still held, and its cut (see
    /// [`ring::Item::cut`]).
    pub fn stream_item(&self, seq: u64) -> Option<(Bytes, Arc<crate::Cut>)> {
        match self {
            Store::Hls(s) => s.ring.get(seq).map(|item| (item.data, item.cut)),
            Store::Ts(c) => c.ring.get(seq).map(|item| (item.data, item.cut)),
        }
    }

    /// The sequence numbers of the oldest item held and of the next to come.
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            Store::Hls(s) => s.ring.bounds(),
            Store::Ts(c) => c.ring.bounds(),
        }
    }
}
