//! What acebox keeps of one channel the engine's search found: a [`Station`], its streams
//! (the content ids it can be played from, best availability first) and its programmes.
//!
//! This module owns those types, the order of streams and stations, and what a station costs in
//! memory, which the cache counts against the board's budget. It never parses (that is
//! `answer`) and never renders (that is `view` and `guide`).

use std::mem::size_of;

use crate::channel::ContentId;

/// What a heap allocation costs beyond its bytes (the allocator's header and rounding), as
/// the cache counts it.
const ALLOCATION: usize = 16;

/// One channel of a search: a name, the guide id and logo the playlists give it, its group,
/// the streams it plays from and what it shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Station {
    pub name: String,
    /// The `tvg-id` of its playlist entry and the `id` of its guide channel: the engine's
    /// `channel_id`, or the best stream's infohash when it gives none, then `.acestream`.
    pub id: String,
    /// An `http(s)://` logo URL, or empty.
    pub logo: String,
    /// Its categories joined by `;`, as `group-title` takes several; empty when none.
    pub group: String,
    /// Never empty; best availability first.
    pub streams: Vec<Stream>,
    /// Programmes as the engine lists them.
    pub guide: Vec<Programme>,
}

/// A stream of a station: an infohash the engine plays, and how available the engine says it
/// is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub id: ContentId,
    /// Availability from 0 to 1000 (the engine's 0..1, in thousandths).
    pub availability: u16,
}

/// One programme of a station's guide: Unix times in seconds, `start` before `stop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programme {
    pub start: u64,
    pub stop: u64,
    pub title: String,
    pub description: String,
}

impl Station {
    /// The stream to play: the most available.
    pub fn best(&self) -> &Stream {
        // `streams` is never empty: `answer` keeps no station without one.
        &self.streams[0]
    }

    /// Bytes this station holds on the heap and in place, as the cache counts them.
    pub fn cost(&self) -> usize {
        let text = |s: &String| s.capacity() + ALLOCATION;
        let guide: usize = self
            .guide
            .iter()
            .map(|p| text(&p.title) + text(&p.description))
            .sum();
        size_of::<Station>()
            + text(&self.name)
            + text(&self.id)
            + text(&self.logo)
            + text(&self.group)
            + self.streams.capacity() * size_of::<Stream>()
            + self.guide.capacity() * size_of::<Programme>()
            + 2 * ALLOCATION
            + guide
    }
}

/// Puts `stations` in order, best (their best stream's) availability first; ties keep the
/// engine's order. Each station's streams are in that order already (`answer` put them so).
pub fn order(stations: &mut Vec<Station>) {
    best_first(stations, |s| s.best().availability);
}

/// Sorts `items` by `availability` (0 to 1000), highest first, keeping ties in order: a
/// counting sort, linear in the items (a search may find thousands), and small in code.
pub fn best_first<T>(items: &mut Vec<T>, availability: impl Fn(&T) -> u16) {
    let keys: Vec<u16> = items.iter().map(availability).collect();
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(placing(&keys).into_iter().filter_map(|at| slots[at].take()));
}

/// Where each place of the sorted order is taken from: the indices of `keys`, highest key
/// first, ties in order.
fn placing(keys: &[u16]) -> Vec<usize> {
    const KEYS: usize = 1001;
    let rank = |key: u16| KEYS - 1 - usize::from(key.min(1000));
    let mut next = vec![0usize; KEYS + 1];
    for &key in keys {
        next[rank(key) + 1] += 1;
    }
    for rank in 1..=KEYS {
        next[rank] += next[rank - 1];
    }
    let mut order = vec![0; keys.len()];
    for (at, &key) in keys.iter().enumerate() {
        let place = &mut next[rank(key)];
        order[*place] = at;
        *place += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(n: u8, availability: u16) -> Stream {
        Stream {
            id: ContentId::parse(&format!("{n:02x}").repeat(20)).unwrap(),
            availability,
        }
    }

    fn station(name: &str, streams: Vec<Stream>) -> Station {
        Station {
            name: name.into(),
            streams,
            ..Station::default()
        }
    }

    #[test]
    fn stations_go_best_first_keeping_ties_in_order() {
        let mut all = vec![
            station("low", vec![stream(1, 100)]),
            station("tie a", vec![stream(3, 900), stream(2, 500)]),
            station("top", vec![stream(5, 1000)]),
            station("tie b", vec![stream(4, 900)]),
            station("none", vec![stream(6, 0)]),
        ];
        order(&mut all);
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["top", "tie a", "tie b", "low", "none"]);
        let mut streams = vec![stream(1, 5), stream(2, 700), stream(3, 5), stream(4, 999)];
        best_first(&mut streams, |s| s.availability);
        let ids: Vec<u16> = streams.iter().map(|s| s.availability).collect();
        assert_eq!(ids, [999, 700, 5, 5]);
        assert_eq!(streams[2], stream(1, 5), "a tie keeps its order");
    }

    #[test]
    fn cost_counts_text_and_tables() {
        let bare = station("", vec![stream(1, 1)]);
        let mut rich = bare.clone();
        rich.name = "x".repeat(100);
        rich.guide.push(Programme {
            start: 1,
            stop: 2,
            title: "t".repeat(50),
            description: "d".repeat(200),
        });
        assert!(rich.cost() >= bare.cost() + 350 + size_of::<Programme>());
        assert!(bare.cost() > size_of::<Station>() + size_of::<Stream>());
    }
}
