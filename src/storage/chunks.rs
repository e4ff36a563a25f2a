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
}
