//! A channel's MPEG-TS chunks: the ring of packet-aligned pieces of the engine's stream that the
//! TS reader fills, with where in each a player can start decoding.
//!
//! [`Chunks`] owns the chunk ring and the rule for where a new client starts
//! ([`Chunks::start_point`]). It never reads from the engine and never parses packets (the
//! reader marks each chunk's [`ChunkMeta`] as it cuts it).

use crate::board::{TS_CHUNKS, TS_RING_BYTES};
use crate::storage::ring::Ring;

/// Where a player can start decoding within a chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Offset of the newest PAT that is followed by a video keyframe.
    pub join: Option<u32>,
    /// Offset of the newest PAT, for streams that never mark keyframes.
    pub pat: Option<u32>,
    /// The first chunk of a new upstream connection: what came before may be lost, or come
    /// again.
    pub fresh: bool,
}

/// A channel's MPEG-TS chunks: [`TS_CHUNKS`] of them and [`TS_RING_BYTES`].
pub struct Chunks {
    pub ring: Ring<ChunkMeta, TS_CHUNKS>,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks {
            ring: Ring::new(TS_RING_BYTES, 0),
        }
    }
}

impl Chunks {
    /// Where a client should start: the newest keyframe start point, else the newest PAT, else
    /// the newest chunk. `None` while the ring is empty.
    pub fn start_point(&self) -> Option<(u64, usize)> {
        let ring = &self.ring;
        ring.newest(|m| m.join)
            .or_else(|| ring.newest(|m| m.pat))
            .or_else(|| ring.newest(|_| Some(0)))
            .map(|(seq, offset)| (seq, offset as usize))
    }
}

/// A client that waits for the new stream's first keyframe after a break gives up waiting once
/// this many chunks of it have come without one (a stream that marks no keyframes, radio), and
/// takes its first PAT instead, or else its first chunk.
const REJOIN_PATIENCE: u64 = 16;

impl Chunks {
    /// Where a client that reached chunk `seq`, the first of a new upstream connection (the
    /// engine's stream broke, or the channel moved to a backup), picks the stream up again: the
    /// first keyframe start point from there on, so its player starts the new stream cleanly.
    /// `None` while it should wait for one.
    pub fn rejoin_point(&self, seq: u64) -> Option<(u64, usize)> {
        let at = |(seq, offset): (u64, u32)| (seq, offset as usize);
        if let Some(join) = self.ring.oldest_from(seq, |m| m.join) {
            return Some(at(join));
        }
        let (_, next) = self.ring.bounds();
        if next.saturating_sub(seq) < REJOIN_PATIENCE {
            return None;
        }
        let pat = self.ring.oldest_from(seq, |m| m.pat).map(at);
        Some(pat.unwrap_or((seq, 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn start_point_prefers_keyframes_then_pats_then_the_newest_chunk() {
        let chunks = Chunks::default();
        let push = |join, pat| {
            let meta = ChunkMeta {
                join,
                pat,
                fresh: false,
            };
            chunks.ring.push(Bytes::from(vec![0x47; 188]), meta)
        };
        assert_eq!(chunks.start_point(), None);
        push(None, None).unwrap();
        assert_eq!(chunks.start_point(), Some((0, 0)));
        push(None, Some(188)).unwrap();
        push(None, None).unwrap();
        assert_eq!(chunks.start_point(), Some((1, 188)));
        push(Some(376), Some(376)).unwrap();
        push(None, Some(0)).unwrap();
        assert_eq!(
            chunks.start_point(),
            Some((3, 376)),
            "a keyframe beats a newer PAT"
        );
    }

    #[test]
    fn after_a_break_a_client_waits_for_the_new_streams_first_keyframe() {
        let chunks = Chunks::default();
        let push = |join, pat, fresh| {
            let meta = ChunkMeta { join, pat, fresh };
            chunks
                .ring
                .push(Bytes::from(vec![0x47; 188]), meta)
                .unwrap()
        };
        let fresh = push(None, None, true);
        assert_eq!(chunks.rejoin_point(fresh), None, "nothing to start at yet");
        push(None, Some(0), false);
        assert_eq!(
            chunks.rejoin_point(fresh),
            None,
            "a PAT, but no keyframe yet"
        );
        let keyframe = push(Some(188), Some(188), false);
        assert_eq!(chunks.rejoin_point(fresh), Some((keyframe, 188)));
        push(Some(0), Some(0), false);
        assert_eq!(
            chunks.rejoin_point(fresh),
            Some((keyframe, 188)),
            "the first one, not the newest: nothing more is lost than must be"
        );
    }

    #[test]
    fn a_stream_without_keyframes_is_rejoined_at_a_pat_or_where_it_starts() {
        let chunks = Chunks::default();
        let push = |pat, fresh| {
            let meta = ChunkMeta {
                join: None,
                pat,
                fresh,
            };
            chunks
                .ring
                .push(Bytes::from(vec![0x47; 188]), meta)
                .unwrap()
        };
        let fresh = push(None, true);
        let pat = push(Some(0), false);
        for _ in 2..REJOIN_PATIENCE - 1 {
            push(None, false);
            assert_eq!(chunks.rejoin_point(fresh), None);
        }
        push(None, false);
        assert_eq!(chunks.rejoin_point(fresh), Some((pat, 0)));
        let bare = Chunks::default();
        let first = bare
            .ring
            .push(
                Bytes::from_static(&[0x47]),
                ChunkMeta {
                    fresh: true,
                    ..ChunkMeta::default()
                },
            )
            .unwrap();
        for _ in 0..REJOIN_PATIENCE {
            bare.ring
                .push(Bytes::from_static(&[0x47]), ChunkMeta::default())
                .unwrap();
        }
        assert_eq!(bare.rejoin_point(first), Some((first, 0)));
    }
}
