//! The search cache: the results of recent searches, each kept whole, within the board's
//! `search_cache_bytes`.
//!
//! This module owns which searches are kept and for how long they count as fresh: a result is
//! asked of the engine again once it is [`FRESH_MS`] old, and until then, or while the engine
//! cannot answer, it is served as it is. Entries stay past that, for the guide and for
//! [`describe`](super::Search::describe), until newer ones need their room (oldest fetched
//! first). The table is fixed-size and its lock guards a copy of `Arc`s in or out: an entry is
//! built, and one let go is dropped, outside it. It never talks to the engine and never reads
//! the clock (callers pass `now`).

use std::sync::{Arc, Mutex};

use super::station::Station;

/// How long a search's results are served before the engine is asked again: availability
/// changes over minutes, and the engine limits how often it may be asked.
pub const FRESH_MS: u64 = 10 * 60 * 1000;
/// Searches kept at most, whatever their size.
pub const ENTRIES: usize = 16;

/// What a search asked for: the same words and category are the same search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub query: String,
    pub category: String,
}

/// One search's results, as they were when fetched.
#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    /// When the engine answered (`clock::now_ms`).
    pub fetched_ms: u64,
    /// Best availability first.
    pub stations: Vec<Station>,
    /// What the stations cost (`Station::cost`), counted against the budget.
    pub cost: usize,
    /// Whether more results were left out than the budget holds.
    pub cut: bool,
}

impl Entry {
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.fetched_ms) < FRESH_MS
    }
}

/// The kept searches, oldest fetched first.
pub struct Cache {
    entries: Mutex<heapless::Vec<Arc<Entry>, ENTRIES>>,
    budget: usize,
}

impl Cache {
    pub fn new(budget: usize) -> Cache {
        Cache {
            entries: Mutex::new(heapless::Vec::new()),
            budget,
        }
    }

    /// The bytes of stations the cache may hold.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// The kept results of `key`, fresh or not.
    pub fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        crate::lock(&self.entries)
            .iter()
            .find(|e| e.key == *key)
            .cloned()
    }

    /// Every kept search, newest first.
    pub fn all(&self) -> heapless::Vec<Arc<Entry>, ENTRIES> {
        crate::lock(&self.entries).iter().rev().cloned().collect()
    }

    /// Keeps `entry` in place of the same search's older results, letting go of the oldest
    /// others until it fits; an entry larger than the whole budget is not kept. Returns it.
    pub fn put(&self, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        if entry.cost > self.budget {
            return entry;
        }
        let mut gone = heapless::Vec::<Arc<Entry>, ENTRIES>::new();
        {
            let mut entries = crate::lock(&self.entries);
            if let Some(at) = entries.iter().position(|e| e.key == entry.key) {
                let _ = gone.push(entries.remove(at));
            }
            while entries.is_full()
                || entries.iter().map(|e| e.cost).sum::<usize>() + entry.cost > self.budget
            {
                let _ = gone.push(entries.remove(0));
            }
            // Room was made above.
            let _ = entries.push(Arc::clone(&entry));
        }
        drop(gone);
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(query: &str, cost: usize, fetched_ms: u64) -> Entry {
        Entry {
            key: Key {
                query: query.into(),
                category: String::new(),
            },
            fetched_ms,
            stations: Vec::new(),
            cost,
            cut: false,
        }
    }

    fn queries(cache: &Cache) -> Vec<String> {
        cache.all().iter().map(|e| e.key.query.clone()).collect()
    }

    #[test]
    fn the_oldest_go_to_make_room_and_a_search_replaces_its_own() {
        let cache = Cache::new(100);
        cache.put(entry("a", 40, 0));
        cache.put(entry("b", 40, 1));
        assert_eq!(queries(&cache), ["b", "a"], "newest first");
        cache.put(entry("a", 30, 2));
        assert_eq!(queries(&cache), ["a", "b"], "replaced, not added");
        assert_eq!(cache.get(&entry("a", 0, 0).key).unwrap().fetched_ms, 2);
        cache.put(entry("c", 50, 3));
        assert_eq!(queries(&cache), ["c", "a"], "b, the oldest, made room");
        let huge = cache.put(entry("d", 101, 4));
        assert_eq!(huge.key.query, "d", "handed back to be served");
        assert_eq!(queries(&cache), ["c", "a"], "but not kept");
        assert!(cache.get(&huge.key).is_none());
    }

    #[test]
    fn the_table_holds_a_fixed_number_of_searches() {
        let cache = Cache::new(usize::MAX);
        for n in 0..ENTRIES + 3 {
            cache.put(entry(&n.to_string(), 1, n as u64));
        }
        let kept = queries(&cache);
        assert_eq!(kept.len(), ENTRIES);
        assert_eq!(kept[0], (ENTRIES + 2).to_string());
        assert_eq!(kept[ENTRIES - 1], "3");
    }

    #[test]
    fn results_are_fresh_for_ten_minutes() {
        let e = entry("a", 1, 1000);
        assert!(e.is_fresh(1000));
        assert!(e.is_fresh(1000 + FRESH_MS - 1));
        assert!(!e.is_fresh(1000 + FRESH_MS));
        assert!(e.is_fresh(0), "a clock behind is not a reason to ask again");
    }
}
