//! The ring: one channel's newest stream data (HLS segments or TS chunks), held once and served
//! to every client.
//!
//! A [`Ring`] owns at most `N` items and a byte budget. The budget counts every item still
//! alive: those in the ring and those evicted while a client was still being sent one (an item
//! handed to a response stays valid until that send ends). The ring itself holds at most the
//! budget, oldest out first; when items evicted but still being sent take it over the budget,
//! the ring cuts the oldest of them ([`Item::cut`]: their clients are the slowest), whose
//! connections the transport then closes, which frees them. So slow clients never make the
//! ring smaller for everyone. Each item carries the caller's metadata `M` (a segment's
//! duration, a chunk's join point). The ring never fetches, never closes a connection itself
//! and never decides what an item means; the feeds push, the clients read.
//!
//! Over 400 lines: the last 90 are its tests, which hold items as slow sends do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;

use crate::Cut;

/// One stored item. `data` is shared: cloning it for a response copies no bytes.
#[derive(Clone, Debug)]
pub struct Item<M> {
    /// The channel's own sequence number, continuous for the life of the channel.
    pub seq: u64,
    pub meta: M,
    pub data: Bytes,
    /// Set when the ring takes the item back from whoever is still being sent it: the
    /// connection sending it must close (it watches this; holding it keeps no bytes alive).
    pub cut: Arc<Cut>,
    /// The bytes' owner, for the ring to tell when nobody holds them any more.
    charged: Weak<Charged>,
}

/// Why an item was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// Larger than the whole budget.
    TooLarge { bytes: usize, budget: usize },
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::TooLarge { bytes, budget } => {
                write!(
                    f,
                    "{bytes} bytes is more than the ring's whole budget of {budget} bytes"
                )
            }
        }
    }
}

impl std::error::Error for PushError {}

/// Bytes alive for one ring, decremented when the last holder of an item lets go.
#[derive(Default)]
struct Budget {
    alive: AtomicUsize,
}

/// An item's bytes, charged to its ring's budget until dropped.
struct Charged {
    bytes: Bytes,
    budget: Arc<Budget>,
}

/// The owner of an item's `data`: the ring keeps a weak reference, to tell an evicted item
/// still being sent from one let go.
struct Share(Arc<Charged>);

impl AsRef<[u8]> for Share {
    fn as_ref(&self) -> &[u8] {
        &self.0.bytes
    }
}

impl Drop for Charged {
    fn drop(&mut self) {
        self.budget
            .alive
            .fetch_sub(self.bytes.len(), Ordering::AcqRel);
    }
}

struct Slots<M, const N: usize> {
    items: heapless::Deque<Item<M>, N>,
    next_seq: u64,
    /// Bytes of the items in the ring.
    held: usize,
    lent: Lending,
}

/// An item evicted from the ring: alive while a send still holds it.
struct Lent {
    charged: Weak<Charged>,
    len: usize,
    cut: Arc<Cut>,
}

/// Evicted items tracked while a send may still hold them.
const LENT: usize = 16;

/// The items evicted from a ring while perhaps still being sent, oldest first, at most
/// [`LENT`]. The same for every ring, whatever its items' metadata.
#[derive(Default)]
struct Lending(heapless::Vec<Lent, LENT>);

impl Lending {
    /// `lent` was evicted: tracked while a send still holds it. Past [`LENT`] of them, the
    /// oldest (its client the slowest) is cut at once.
    fn lend(&mut self, lent: Lent) {
        self.0.retain(|l| l.charged.strong_count() > 0);
        if lent.charged.strong_count() == 0 {
            return;
        }
        if self.0.is_full() {
            self.0.remove(0).cut.cut();
        }
        // Cannot fail: there is room now.
        let _ = self.0.push(lent);
    }

    /// Cuts the oldest items still being sent until `over` bytes are taken back (items cut
    /// before count as gone: their connections are closing). Returns how many it cut.
    fn cut(&mut self, mut over: usize) -> usize {
        self.0.retain(|l| l.charged.strong_count() > 0);
        let mut cut = 0;
        for lent in self.0.iter() {
            if over == 0 {
                break;
            }
            over = over.saturating_sub(lent.len);
            if !lent.cut.is_cut() {
                lent.cut.cut();
                cut += 1;
            }
        }
        cut
    }
}

/// `bytes` charged to `budget` until the last holder lets go: the item's data, and the weak
/// reference the ring keeps to tell when that is.
fn charge(bytes: Bytes, budget: &Arc<Budget>) -> (Bytes, Weak<Charged>) {
    budget.alive.fetch_add(bytes.len(), Ordering::AcqRel);
    let charged = Arc::new(Charged {
        bytes,
        budget: budget.clone(),
    });
    (
        Bytes::from_owner(Share(charged.clone())),
        Arc::downgrade(&charged),
    )
}

fn warn_cut(cut: usize) {
    log::warn!("ring budget: cut off {cut} slow client(s) still being sent items the ring let go");
}

/// A channel's ring of at most `N` items and `limit` bytes, shared between its fetch loop and
/// its clients.
pub struct Ring<M, const N: usize> {
    slots: Mutex<Slots<M, N>>,
    budget: Arc<Budget>,
    limit: usize,
}

impl<M: Clone, const N: usize> Ring<M, N> {
    /// An empty ring whose first item will be numbered `first_seq`.
    pub fn new(limit: usize, first_seq: u64) -> Self {
        Ring {
            slots: Mutex::new(Slots {
                items: heapless::Deque::new(),
                next_seq: first_seq,
                held: 0,
                lent: Lending::default(),
            }),
            budget: Arc::default(),
            limit,
        }
    }

    /// Stores an item as the newest, evicting the oldest until the ring holds at most the
    /// budget, then cutting the oldest evicted items still being sent until what is alive fits
    /// too. Returns its sequence number. An item larger than the whole budget is refused.
    pub fn push(&self, bytes: Bytes, meta: M) -> Result<u64, PushError> {
        let len = bytes.len();
        if len > self.limit {
            return Err(PushError::TooLarge {
                bytes: len,
                budget: self.limit,
            });
        }
        let (data, charged) = charge(bytes, &self.budget);
        let mut slots = self.lock();
        while slots.items.is_full() || slots.held + len > self.limit {
            let Some(old) = slots.items.pop_front() else {
                break;
            };
            let len = old.data.len();
            slots.held -= len;
            // The ring's own reference goes here; a send may still hold the bytes.
            drop(old.data);
            slots.lent.lend(Lent {
                charged: old.charged,
                len,
                cut: old.cut,
            });
        }
        let cut = slots.lent.cut(self.alive().saturating_sub(self.limit));
        let seq = slots.next_seq;
        slots.next_seq += 1;
        slots.held += len;
        let item = Item {
            seq,
            meta,
            data,
            cut: Arc::default(),
            charged,
        };
        // Cannot fail: the loop above made room.
        let _ = slots.items.push_back(item);
        drop(slots);
        if cut > 0 {
            warn_cut(cut);
        }
        Ok(seq)
    }

    /// The item with sequence number `seq`, if still held. Indexes the deque's two slices
    /// directly: its iterator's `nth` walks item by item, and a TS client reading at the
    /// newest end of 256 chunks asks for one every frame.
    pub fn get(&self, seq: u64) -> Option<Item<M>> {
        let slots = self.lock();
        let first = slots.items.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        let (older, newer) = slots.items.as_slices();
        match index.checked_sub(older.len()) {
            None => older.get(index),
            Some(index) => newer.get(index),
        }
        .cloned()
    }

    /// The sequence number of the oldest item held and of the next item to come.
    pub fn bounds(&self) -> (u64, u64) {
        let slots = self.lock();
        (
            slots.items.front().map_or(slots.next_seq, |i| i.seq),
            slots.next_seq,
        )
    }

    /// At most `K` items' sequence numbers and metadata, oldest first: those from `from` on
    /// while the ring still holds `from` and the newest `K` would start past it, else the newest
    /// `K`. So a reader that asks from the item after the last it was given catches up `K` at a
    /// time and misses nothing the ring holds, however many items came at once; one that fell
    /// further behind than the ring (or asks from nowhere, `None`) gets the newest.
    pub fn window<const K: usize>(&self, from: Option<u64>) -> heapless::Vec<(u64, M), K> {
        let slots = self.lock();
        let newest = slots.items.len().saturating_sub(K);
        let held = |from: u64| {
            let index = from.checked_sub(slots.items.front()?.seq)?;
            usize::try_from(index).ok()
        };
        let skip = from
            .and_then(held)
            .map_or(newest, |index| index.min(newest));
        let mut out = heapless::Vec::new();
        for item in slots.items.iter().skip(skip) {
            // Cannot fail: at most K are taken.
            let _ = out.push((item.seq, item.meta.clone()));
        }
        out
    }

    /// The newest item whose metadata satisfies `pick`, with what `pick` found in it.
    pub fn newest<T>(&self, pick: impl Fn(&M) -> Option<T>) -> Option<(u64, T)> {
        let slots = self.lock();
        slots
            .items
            .iter()
            .rev()
            .find_map(|i| pick(&i.meta).map(|t| (i.seq, t)))
    }

    /// The oldest item from `seq` on whose metadata satisfies `pick`, with what `pick` found.
    pub fn oldest_from<T>(&self, seq: u64, pick: impl Fn(&M) -> Option<T>) -> Option<(u64, T)> {
        let slots = self.lock();
        slots
            .items
            .iter()
            .filter(|i| i.seq >= seq)
            .find_map(|i| pick(&i.meta).map(|t| (i.seq, t)))
    }

    /// Items held in the ring now.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes alive: in the ring or still being sent.
    pub fn alive(&self) -> usize {
        self.budget.alive.load(Ordering::Acquire)
    }

    /// Drops every item the ring holds (items still being sent live until their sends end).
    pub fn clear(&self) {
        let mut slots = self.lock();
        slots.items.clear();
        slots.held = 0;
    }

    fn lock(&self) -> MutexGuard<'_, Slots<M, N>> {
        crate::lock(&self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: usize = 8;
    const LIMIT: usize = 4000;
    type TestRing = Ring<u32, SLOTS>;

    fn bytes(fill: u8, len: usize) -> Bytes {
        Bytes::from(vec![fill; len])
    }

    #[test]
    fn keeps_the_newest_slots_oldest_out_first() {
        let ring = TestRing::new(LIMIT, 0);
        for n in 0..(SLOTS as u64 + 5) {
            assert_eq!(ring.push(bytes(n as u8, 10), n as u32 * 10), Ok(n));
        }
        assert_eq!(ring.len(), SLOTS);
        assert_eq!(ring.bounds(), (5, SLOTS as u64 + 5));
        assert!(ring.get(4).is_none(), "evicted");
        assert_eq!(ring.get(5).unwrap().data[0], 5);
        let last = SLOTS as u64 + 4;
        assert_eq!(ring.get(last).unwrap().data[..], [last as u8; 10]);
        assert_eq!(ring.get(last).unwrap().meta, last as u32 * 10);
        assert!(ring.get(last + 1).is_none());
        let window = ring.window::<3>(None);
        let seqs: Vec<u64> = window.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [last - 2, last - 1, last]);
        assert_eq!(
            ring.newest(|m| (m % 20 == 0).then_some(*m)),
            Some((last, 120))
        );
        assert_eq!(
            ring.newest(|m| (*m < 100 && m % 30 == 0).then_some(*m)),
            Some((last - 3, 90))
        );
        assert_eq!(ring.newest(|m| (*m == 7).then_some(())), None);
    }

    #[test]
    fn a_window_from_an_item_still_held_starts_there() {
        let ring = TestRing::new(LIMIT, 100);
        let seqs = |from| -> Vec<u64> { ring.window::<3>(from).iter().map(|(s, _)| *s).collect() };
        assert_eq!(seqs(Some(100)), [] as [u64; 0], "empty");
        for n in 0..SLOTS as u64 + 2 {
            ring.push(bytes(1, 10), n as u32).unwrap();
        }
        // Held: 102..=109. A reader given up to 102 gets 103..=105, and so on to the newest.
        assert_eq!(seqs(Some(103)), [103, 104, 105]);
        assert_eq!(seqs(Some(106)), [106, 107, 108]);
        assert_eq!(
            seqs(Some(108)),
            [107, 108, 109],
            "never short of the newest K"
        );
        assert_eq!(seqs(Some(110)), [107, 108, 109], "nothing new: the newest");
        assert_eq!(seqs(Some(102)), [102, 103, 104], "the oldest held");
        assert_eq!(
            seqs(Some(101)),
            [107, 108, 109],
            "fell off the ring: the newest"
        );
        assert_eq!(seqs(None), [107, 108, 109]);
        assert_eq!(seqs(Some(u64::MAX)), [107, 108, 109]);
    }

    #[test]
    fn items_still_being_sent_count_and_their_slowest_holders_are_cut_not_the_ring_emptied() {
        let ring = TestRing::new(LIMIT, 0);
        for _ in 0..4 {
            ring.push(bytes(0, 1000), 0).unwrap();
        }
        assert_eq!(ring.alive(), 4000);
        // Slow clients are still being sent every item the ring holds.
        let held: Vec<Item<u32>> = (0..4).map(|seq| ring.get(seq).unwrap()).collect();
        ring.push(bytes(1, 1000), 0).unwrap();
        assert!(ring.get(0).is_none(), "oldest out first");
        assert_eq!(
            ring.bounds(),
            (1, 5),
            "the ring keeps the newest for everyone"
        );
        assert!(held[0].cut.is_cut(), "the slowest holder is cut off");
        assert!(held[1..].iter().all(|i| !i.cut.is_cut()), "and only it");
        assert_eq!(held[0].data.len(), 1000, "an item being sent stays valid");
        // Its send ends (the transport closes the connection): the budget holds again.
        let mut held = held.into_iter();
        drop(held.next());
        assert_eq!(ring.alive(), 4000);
        // Pushes go on, each cutting the slowest holder still counted: never an empty ring.
        for n in 0..3 {
            ring.push(bytes(2, 1000), 0).unwrap();
            assert_eq!(ring.len(), 4, "push {n}");
        }
        let rest: Vec<_> = held.collect();
        assert!(rest.iter().all(|i| i.cut.is_cut()));
        drop(rest);
        assert_eq!(ring.alive(), 4000);
        ring.clear();
        assert_eq!(ring.alive(), 0);
        assert!(ring.is_empty());
        assert_eq!(ring.bounds(), (8, 8), "numbering goes on after a clear");
    }

    #[test]
    fn refuses_an_item_larger_than_the_budget() {
        let ring = TestRing::new(LIMIT, 0);
        assert_eq!(
            ring.push(bytes(0, LIMIT + 1), 0),
            Err(PushError::TooLarge {
                bytes: LIMIT + 1,
                budget: LIMIT
            })
        );
        assert_eq!(ring.alive(), 0);
    }
}
