//! A channel's HLS segments: the ring of those the fetch loop copied from the engine, or of those
//! the segmenter cut from an MPEG-TS stream, with what a playlist says of each.
//!
//! [`Segments`] owns the segment ring, the discontinuity numbering and the target duration,
//! which may never shrink (players do not follow it back). It never fetches, never cuts and
//! never renders a playlist (`hls::playlist` does); it reads no clock (the first sequence number
//! is passed in).

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use crate::AtomicU64;
use crate::board::{RING_SLOTS, TS_RING_BYTES};
use crate::storage::ring::{PushError, Ring};

/// The bytes the store of segments cut from a TS stream may hold: about as long a span as the
/// chunk ring it is cut from.
pub const CUT_RING_BYTES: usize = TS_RING_BYTES;

/// What a client's playlist says of a stored segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentMeta {
    /// EXTINF, in seconds, as the engine gave it (or as the segmenter measured it).
    pub duration: f32,
    /// The upstream restarted before this segment (`#EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// Discontinuities from the start of the channel up to and including this segment.
    pub discontinuity_seq: u64,
}

/// A channel's HLS segments: [`RING_SLOTS`] slots and a byte budget, and the target duration.
pub struct Segments {
    pub ring: Ring<SegmentMeta, RING_SLOTS>,
    target_duration: AtomicU32,
    discontinuity_seq: AtomicU64,
}

impl Segments {
    /// An empty store of [`RING_SLOTS`] segments and `budget` bytes, whose first segment will be
    /// numbered `first_seq`.
    pub fn new(budget: usize, first_seq: u64) -> Segments {
        Segments {
            ring: Ring::new(budget, first_seq),
            target_duration: AtomicU32::new(1),
            discontinuity_seq: AtomicU64::new(0),
        }
    }

    /// Stores a segment as the newest; only the channel's feed (the fetch loop, or the
    /// segmenter of a TS channel) calls this.
    pub fn push(&self, data: Bytes, duration: f32, discontinuity: bool) -> Result<u64, PushError> {
        // The first segment of a channel needs no discontinuity: nothing came before it.
        let discontinuity = discontinuity && !self.ring.is_empty();
        let seq = self.discontinuity_seq.load(Ordering::Acquire) + u64::from(discontinuity);
        let meta = SegmentMeta {
            duration,
            discontinuity,
            discontinuity_seq: seq,
        };
        let stored = self.ring.push(data, meta)?;
        self.discontinuity_seq.store(seq, Ordering::Release);
        self.target_duration
            .fetch_max(duration.ceil().max(1.0) as u32, Ordering::AcqRel);
        Ok(stored)
    }

    /// Makes the target duration at least `seconds` (it may never shrink).
    pub fn raise_target_duration(&self, seconds: u32) {
        self.target_duration
            .fetch_max(seconds.max(1), Ordering::AcqRel);
    }

    /// The largest EXTINF stored so far (or target duration raised to), rounded up.
    pub fn target_duration(&self) -> u32 {
        self.target_duration.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::RING_BYTES;

    #[test]
    fn segments_number_discontinuities_and_never_shrink_the_target() {
        let segments = Segments::new(RING_BYTES, 0);
        let one = || Bytes::from_static(b"x");
        segments.push(one(), 6.2, true).unwrap();
        segments.push(one(), 3.0, false).unwrap();
        segments.push(one(), 3.0, true).unwrap();
        assert_eq!(segments.target_duration(), 7);
        segments.raise_target_duration(5);
        assert_eq!(segments.target_duration(), 7, "never shrinks");
        let w = segments.ring.window::<8>(None);
        assert!(!w[0].1.discontinuity, "nothing precedes the first segment");
        let numbers: Vec<u64> = w.iter().map(|(_, m)| m.discontinuity_seq).collect();
        assert_eq!(numbers, [0, 0, 1]);
        assert!(w[2].1.discontinuity);
    }
}
