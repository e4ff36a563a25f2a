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

/// Puts `stations` and each one's streams in order, best availability first; ties keep the
/// engine's order.
pub fn order(stations: &mut [Station]) {
    for station in stations.iter_mut() {
        station
            .streams
            .sort_by_key(|s| std::cmp::Reverse(s.availability));
    }
    stations.sort_by_key(|s| std::cmp::Reverse(s.best().availability));
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
    fn streams_and_stations_go_best_first_keeping_ties_in_order() {
        let mut all = vec![
            station("low", vec![stream(1, 100)]),
            station("tie a", vec![stream(2, 500), stream(3, 900)]),
            station("tie b", vec![stream(4, 900)]),
        ];
        order(&mut all);
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["tie a", "tie b", "low"]);
        assert_eq!(all[0].best(), &stream(3, 900));
        assert_eq!(all[0].streams[1], stream(2, 500));
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
