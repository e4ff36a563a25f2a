//! The segment ring: one channel's newest HLS segments, held once and served to every client.
//!
//! A [`Ring`] owns at most [`RING_SLOTS`] segments. Its byte budget ([`RING_BYTES`]) counts every
//! segment still alive: those in the ring and those evicted while a client was still being sent
//! one (a segment handed to a response stays valid until that send ends; the transport cuts off
//! a client that stops reading, which releases it). Oldest out first. The ring never fetches
//! and never decides what a segment is; `hls` pushes, `router` reads.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use crate::board::{RING_BYTES, RING_SLOTS};

/// One stored segment. `data` is shared: cloning it for a response copies no segment bytes.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The channel's own media sequence number, continuous for the life of the channel.
    pub seq: u64,
    /// EXTINF, in seconds, as the engine gave it.
    pub duration: f32,
    /// The upstream restarted before this segment (`#EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// Discontinuities from the start of the channel up to and including this segment.
    pub discontinuity_seq: u64,
    pub data: Bytes,
}

/// What a playlist needs of a segment: everything but its bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub duration: f32,
    pub discontinuity: bool,
    pub discontinuity_seq: u64,
}

/// Why a segment was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// Larger than the whole budget.
    TooLarge { bytes: usize },
}

/// Bytes alive for one ring, decremented when the last holder of a segment lets go.
#[derive(Default)]
struct Budget {
    alive: AtomicUsize,
}

/// A segment's bytes, charged to its ring's budget until dropped.
struct Charged {
    bytes: Bytes,
    budget: Arc<Budget>,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Charged {
    fn drop(&mut self) {
        self.budget
            .alive
            .fetch_sub(self.bytes.len(), Ordering::AcqRel);
    }
}

struct Slots {
    segments: heapless::Deque<Segment, RING_SLOTS>,
    next_seq: u64,
    discontinuity_seq: u64,
    /// The largest EXTINF ever stored, rounded up: the target duration may never shrink.
    target_duration: u32,
}

/// A channel's ring of segments, shared between its fetch loop and its clients.
pub struct Ring {
    slots: Mutex<Slots>,
    budget: Arc<Budget>,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            slots: Mutex::new(Slots {
                segments: heapless::Deque::new(),
                next_seq: 0,
                discontinuity_seq: 0,
                target_duration: 1,
            }),
            budget: Arc::default(),
        }
    }
}

impl Ring {
    /// Stores a segment as the newest, evicting the oldest until it fits. Returns its sequence
    /// number. A segment that would not fit an empty ring is refused.
    pub fn push(&self, bytes: Bytes, duration: f32, discontinuity: bool) -> Result<u64, PushError> {
        let len = bytes.len();
        if len > RING_BYTES {
            return Err(PushError::TooLarge { bytes: len });
        }
        self.budget.alive.fetch_add(len, Ordering::AcqRel);
        let data = Bytes::from_owner(Charged {
            bytes,
            budget: self.budget.clone(),
        });
        let mut slots = self.lock();
        while slots.segments.is_full() || self.over_budget() {
            if slots.segments.pop_front().is_none() {
                // Only segments still being sent are over budget; they go when their sends end.
                log::warn!(
                    "ring budget exceeded by {} bytes still being sent to slow clients",
                    self.alive() - RING_BYTES
                );
                break;
            }
        }
        let seq = slots.next_seq;
        slots.next_seq += 1;
        // The first segment of a channel needs no discontinuity: nothing came before it.
        let discontinuity = discontinuity && seq > 0;
        slots.discontinuity_seq += u64::from(discontinuity);
        slots.target_duration = slots.target_duration.max(duration.ceil().max(1.0) as u32);
        let segment = Segment {
            seq,
            duration,
            discontinuity,
            discontinuity_seq: slots.discontinuity_seq,
            data,
        };
        // Cannot fail: the loop above made room.
        let _ = slots.segments.push_back(segment);
        Ok(seq)
    }

    /// The segment with channel sequence number `seq`, if still held.
    pub fn get(&self, seq: u64) -> Option<Segment> {
        let slots = self.lock();
        let first = slots.segments.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        slots.segments.iter().nth(index).cloned()
    }

    /// The newest `N` entries (oldest first) and the target duration, for a playlist.
    pub fn window<const N: usize>(&self) -> (heapless::Vec<Entry, N>, u32) {
        let slots = self.lock();
        let skip = slots.segments.len().saturating_sub(N);
        let mut out = heapless::Vec::new();
        for s in slots.segments.iter().skip(skip) {
            // Cannot fail: at most N are taken.
            let _ = out.push(Entry {
                seq: s.seq,
                duration: s.duration,
                discontinuity: s.discontinuity,
                discontinuity_seq: s.discontinuity_seq,
            });
        }
        (out, slots.target_duration)
    }

    /// Segments held in the ring now.
    pub fn len(&self) -> usize {
        self.lock().segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of segment data alive: in the ring or still being sent.
    pub fn alive(&self) -> usize {
        self.budget.alive.load(Ordering::Acquire)
    }

    /// Drops every segment the ring holds (segments still being sent live until their sends end).
    pub fn clear(&self) {
        self.lock().segments.clear();
    }

    fn over_budget(&self) -> bool {
        self.alive() > RING_BYTES
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // Nothing under this lock can panic half-way through an update.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{MAX_SEGMENT_BYTES, RING_SLOTS};

    #[test]
    fn keeps_the_newest_slots_oldest_out_first() {
        let ring = Ring::default();
        for n in 0..(RING_SLOTS as u64 + 5) {
            assert_eq!(ring.push(Bytes::from(vec![n as u8; 10]), 2.0, false), Ok(n));
        }
        assert_eq!(ring.len(), RING_SLOTS);
        assert!(ring.get(4).is_none(), "evicted");
        assert_eq!(ring.get(5).unwrap().data[0], 5);
        let last = RING_SLOTS as u64 + 4;
        assert_eq!(ring.get(last).unwrap().data[..], [last as u8; 10]);
        assert!(ring.get(last + 1).is_none());
        let (window, target) = ring.window::<3>();
        let seqs: Vec<u64> = window.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [last - 2, last - 1, last]);
        assert_eq!(target, 2);
    }

    #[test]
    fn byte_budget_evicts_and_counts_segments_still_being_sent() {
        let ring = Ring::default();
        let big = MAX_SEGMENT_BYTES;
        let per_ring = RING_BYTES / big;
        for _ in 0..per_ring {
            ring.push(Bytes::from(vec![0; big]), 4.0, false).unwrap();
        }
        assert_eq!(ring.alive(), per_ring * big);
        // A client is still being sent the oldest segment.
        let in_flight = ring.get(0).unwrap().data;
        ring.push(Bytes::from(vec![1; big]), 4.0, false).unwrap();
        assert!(ring.get(0).is_none(), "oldest out first");
        // The evicted one is still counted, so a second, unpinned segment had to go too.
        assert!(ring.get(1).is_none());
        assert!(
            ring.alive() <= RING_BYTES,
            "{} > {}",
            ring.alive(),
            RING_BYTES
        );
        assert_eq!(in_flight.len(), big, "a segment being sent stays valid");
        drop(in_flight);
        assert_eq!(ring.alive(), (per_ring - 1) * big);
        ring.clear();
        assert_eq!(ring.alive(), 0);
        assert!(ring.is_empty());
    }

    #[test]
    fn refuses_a_segment_larger_than_the_budget() {
        let ring = Ring::default();
        assert_eq!(
            ring.push(Bytes::from(vec![0; RING_BYTES + 1]), 4.0, false),
            Err(PushError::TooLarge {
                bytes: RING_BYTES + 1
            })
        );
        assert_eq!(ring.alive(), 0);
    }

    #[test]
    fn discontinuities_are_numbered_and_target_never_shrinks() {
        let ring = Ring::default();
        ring.push(Bytes::from(vec![0]), 6.2, true).unwrap();
        ring.push(Bytes::from(vec![0]), 3.0, false).unwrap();
        ring.push(Bytes::from(vec![0]), 3.0, true).unwrap();
        let (w, target) = ring.window::<8>();
        assert_eq!(target, 7);
        assert!(!w[0].discontinuity, "nothing precedes the first segment");
        assert_eq!(
            w.iter().map(|e| e.discontinuity_seq).collect::<Vec<_>>(),
            [0, 0, 1]
        );
        assert!(w[2].discontinuity);
    }
}
