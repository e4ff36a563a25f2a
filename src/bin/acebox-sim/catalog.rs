//! What the simulator's search finds: a fixed catalog of channels shaped like the engine's
//! search results (names in several scripts, one that is a number, categories, logos, one to
//! three streams each of differing availability) and an hourly guide around the time asked.
//!
//! This module owns that data and matching a search against it. It never writes JSON (that is
//! `search`) and never reads the clock: the time is handed in.

use crate::ids;

/// A channel of the catalog: its name, categories, logo name (empty: no logo) and the
/// availability of each stream in thousandths.
struct Fixed {
    name: &'static str,
    categories: &'static [&'static str],
    logo: &'static str,
    streams: &'static [u16],
}

const fn fixed(
    name: &'static str,
    categories: &'static [&'static str],
    logo: &'static str,
    streams: &'static [u16],
) -> Fixed {
    Fixed {
        name,
        categories,
        logo,
        streams,
    }
}

const SPORT: &[&str] = &["sport"];
const NEWS: &[&str] = &["news", "informational"];
const MOVIES: &[&str] = &["movies"];
const MUSIC: &[&str] = &["music", "entertaining"];
const KIDS: &[&str] = &["kids"];
const DOCS: &[&str] = &["documentaries", "educational"];
const TV: &[&str] = &["tv", "entertaining"];

const CATALOG: &[Fixed] = &[
    fixed("Sport 1", SPORT, "sport-1", &[950, 400, 120]),
    fixed("Eurosport 1", SPORT, "eurosport-1", &[870, 610]),
    fixed("Eurosport 2", SPORT, "eurosport-2", &[540]),
    fixed(
        "Sky Sports Main Event",
        SPORT,
        "sky-sports-main-event",
        &[990, 300],
    ),
    fixed("Sky Sports Football", SPORT, "sky-sports-football", &[720]),
    fixed("beIN Sports 1", SPORT, "bein-sports-1", &[660, 650]),
    fixed("Setanta Sports 1", SPORT, "", &[210]),
    fixed("Матч! Футбол 1", SPORT, "match-futbol-1", &[930, 880, 100]),
    fixed("Fox Sports & Action", SPORT, "fox-sports-action", &[150]),
    fixed("DAZN 1", SPORT, "dazn-1", &[810]),
    fixed("CNN International", NEWS, "cnn", &[1000]),
    fixed("BBC World News", NEWS, "bbc-world-news", &[900, 350]),
    fixed("Euronews", NEWS, "euronews", &[770]),
    fixed("France 24", NEWS, "france-24", &[480]),
    fixed("24", NEWS, "24", &[560]),
    fixed("Россия 24", NEWS, "rossiya-24", &[840, 200]),
    fixed("HBO", MOVIES, "hbo", &[690, 690]),
    fixed("Cinemax", MOVIES, "cinemax", &[330]),
    fixed("Кино ТВ", MOVIES, "kino-tv", &[500]),
    fixed("TV1000", MOVIES, "", &[620]),
    fixed("MTV Hits", MUSIC, "mtv-hits", &[450]),
    fixed("VH1 Classic", MUSIC, "vh1-classic", &[90]),
    fixed("Муз ТВ", MUSIC, "muz-tv", &[710]),
    fixed("Cartoon Network", KIDS, "cartoon-network", &[880]),
    fixed("Disney Channel", KIDS, "disney-channel", &[600, 580]),
    fixed("Nickelodeon", KIDS, "nickelodeon", &[400]),
    fixed("Discovery Channel", DOCS, "discovery", &[760, 120]),
    fixed("National Geographic", DOCS, "nat-geo", &[830]),
    fixed("History", DOCS, "history", &[270]),
    fixed("Первый канал", TV, "perviy-kanal", &[970, 940]),
    fixed("НТВ", TV, "ntv", &[650]),
    fixed("ТНТ", TV, "tnt", &[590]),
    fixed("Comedy Central", TV, "comedy-central", &[380]),
];

/// Programmes of a category's channels, one an hour in turn.
fn titles(category: &str) -> &'static [&'static str] {
    match category {
        "sport" => &[
            "Matchday Live",
            "Highlights",
            "Pre-match & Analysis",
            "Classic Matches",
        ],
        "news" => &["World News", "Business <Today>", "Weather", "Новости"],
        "movies" => &[
            "Premiere: \"The Long Night\"",
            "Late Movie",
            "Kids' Matinée",
        ],
        "music" => &["Top 40", "Unplugged", "Клипы"],
        "kids" => &["Cartoons", "Adventure Time", "Story & Songs"],
        "documentaries" => &["Wild Planet", "Engineering Marvels", "Ancient Worlds"],
        _ => &["Morning Show", "Series", "Comedy Club", "Talk Show"],
    }
}

/// The generated channels `--search-extra` adds: `Channel 0001`... in `tv`.
const EXTRA_CATEGORIES: &[&str] = &["tv"];

/// A channel as the search answers it.
pub struct Channel {
    pub name: String,
    /// Whether the engine writes its name as a JSON number (the catalog's `24`).
    pub numeric_name: bool,
    pub id: u64,
    pub categories: &'static [&'static str],
    /// The logo URL, or empty.
    pub logo: String,
    pub streams: Vec<Stream>,
    pub guide: Vec<Programme>,
}

pub struct Stream {
    pub infohash: String,
    pub name: String,
    /// Thousandths of 1.
    pub availability: u16,
}

pub struct Programme {
    pub start: u64,
    pub stop: u64,
    pub title: String,
    pub description: String,
}

/// The catalog plus `extra` generated channels, with guides around `now` (Unix seconds).
pub fn channels(extra: usize, now: u64) -> Vec<Channel> {
    let generated = Fixed {
        name: "",
        categories: EXTRA_CATEGORIES,
        logo: "",
        streams: &[300],
    };
    CATALOG
        .iter()
        .map(|f| (f.name.to_owned(), f))
        .chain((1..=extra).map(|n| (format!("Channel {n:04}"), &generated)))
        .zip(1000..)
        .map(|((name, f), id)| channel(name, f, id, now))
        .collect()
}

fn channel(name: String, f: &Fixed, id: u64, now: u64) -> Channel {
    let suffixes = ["HD", "SD", "backup"];
    let streams = f
        .streams
        .iter()
        .zip(suffixes)
        .map(|(&availability, suffix)| Stream {
            infohash: ids::infohash(&format!("search/{name}/{suffix}")),
            name: format!("{name} {suffix}"),
            availability,
        })
        .collect();
    let hour = now / 3600 * 3600;
    let titles = titles(f.categories[0]);
    let guide = (0..5u64)
        .map(|n| {
            let start = hour - 3600 + n * 3600;
            let title = titles[(start / 3600) as usize % titles.len()];
            Programme {
                start,
                stop: start + 3600,
                title: title.to_owned(),
                description: format!("{title} on {name}: live & in HD <tonight>"),
            }
        })
        .collect();
    Channel {
        numeric_name: name.bytes().all(|b| b.is_ascii_digit()),
        logo: if f.logo.is_empty() {
            String::new()
        } else {
            format!("http://logos.acebox-sim.invalid/{}.png", f.logo)
        },
        name,
        id,
        categories: f.categories,
        streams,
        guide,
    }
}

/// Whether `channel` matches a search for `query` (any case, in its name or a stream's) in
/// `category` (empty: any).
pub fn matches(channel: &Channel, query: &str, category: &str) -> bool {
    let query = query.trim().to_lowercase();
    let named = |name: &str| name.to_lowercase().contains(&query);
    let in_category = category.is_empty() || channel.categories.contains(&category);
    in_category && (named(&channel.name) || channel.streams.iter().any(|s| named(&s.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_channels_of_every_kind_with_a_guide_around_now() {
        let now = 1_700_000_123;
        let all = channels(2, now);
        assert_eq!(all.len(), CATALOG.len() + 2);
        let sport: Vec<&str> = all
            .iter()
            .filter(|c| matches(c, "SPORT", ""))
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            sport.contains(&"Eurosport 2") && sport.contains(&"beIN Sports 1"),
            "{sport:?}"
        );
        assert!(!sport.contains(&"CNN International"));
        assert_eq!(all.iter().filter(|c| matches(c, "", "kids")).count(), 3);
        assert_eq!(all.iter().filter(|c| matches(c, "матч", "")).count(), 1);
        let numeric = all.iter().find(|c| c.name == "24").unwrap();
        assert!(numeric.numeric_name);
        let first = &all[0];
        assert_eq!(first.streams.len(), 3);
        assert_ne!(first.streams[0].infohash, first.streams[1].infohash);
        assert!(ids::is_hex40(&first.streams[0].infohash));
        let on_now = first
            .guide
            .iter()
            .filter(|p| p.start <= now && now < p.stop);
        assert_eq!(on_now.count(), 1);
        assert_eq!(all.last().unwrap().name, "Channel 0002");
    }
}
