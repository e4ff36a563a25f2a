//! Engine search, served as channel lists: the engine's own search turned into a playlist of
//! named channels with logos and groups (`/search.m3u`), the same as JSON (`/search.json`), and
//! a guide of their programmes (`/epg.xml`).
//!
//! This folder owns asking the engine (one search at a time), what is kept of its answers and
//! for how long, and those views. A search's results are cached within the board's
//! `search_cache_bytes`, asked again after ten minutes, and served stale when the engine cannot
//! answer; while the engine says its search limit is reached, it is not asked for a minute. It
//! never starts a channel: [`Search::describe`] only tells, from the cache, what the results
//! say of a content id.
//!
//! - `ask`: one search's pages from the engine, in the form it speaks (I/O);
//! - `answer`: the engine's answers as [`Station`]s (pure, fuzzed);
//! - `json`: the small JSON reader `answer` uses;
//! - `station`: what is kept of a channel found, and what it costs;
//! - `cache`: the kept searches within the budget;
//! - `view`: the M3U and JSON texts;
//! - `guide`: the XMLTV text;
//! - this file: [`Search`], which puts them together.
//!
//! It imports `engine` (the calls), `channel` (the content id), `http` (the transport's errors
//! and JSON strings) and `board` (the budgets); never the router or the channel list.

mod answer;
mod ask;
mod cache;
mod guide;
mod json;
mod station;
mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::Event;

use crate::AtomicU64;
use crate::board;
use crate::channel::ContentId;
use crate::engine::Engine;

pub use answer::{AnswerError, Page, parse_page, parse_token};
pub use ask::{PAGE_SIZE, SearchError};
pub use cache::{Entry, FRESH_MS, Key};
pub use guide::xmltv;
pub use station::{Programme, Station, Stream};
pub use view::{GUIDE_PATH, Render, json, m3u};

/// How long the engine is left alone after it said its search limit was reached.
const LIMITED_MS: u64 = 60 * 1000;

/// What the search results say of a content id: the name of the channel it is a stream of, and
/// every stream of that channel, best availability first (the id asked about among them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    pub name: String,
    pub ids: Vec<ContentId>,
}

/// The engine's search and its cache.
pub struct Search {
    asker: ask::Asker,
    cache: cache::Cache,
    /// One search is asked of the engine at a time; the others wait their turn, and find the
    /// results in the cache when they asked for the same.
    turn: Turn,
    /// Until when (`clock::now_ms`) the engine is not asked, having said its limit was reached.
    limited_until: AtomicU64,
}

impl Search {
    /// The search of `engine`, within the board's budgets.
    pub fn new(engine: Engine) -> Search {
        Search {
            asker: ask::Asker::new(engine, board::SEARCH_ANSWER_BYTES),
            cache: cache::Cache::new(board::SEARCH_CACHE_BYTES),
            turn: Turn::default(),
            limited_until: AtomicU64::new(0),
        }
    }

    /// The results of `key`: kept ones while fresh, else the engine's, else (when the engine
    /// cannot answer) kept ones however old, else why there are none.
    pub async fn find(&self, key: Key) -> Result<Arc<Entry>, SearchError> {
        if let Some(entry) = self.fresh(&key) {
            return Ok(entry);
        }
        let _turn = self.turn.take().await;
        // Whoever had the turn may have asked for the same.
        if let Some(entry) = self.fresh(&key) {
            return Ok(entry);
        }
        let asked = if crate::clock::now_ms() < self.limited_until.load(Ordering::Relaxed) {
            Err(SearchError::Limited)
        } else {
            self.asker.all(&key, self.cache.budget()).await
        };
        self.settle(key, asked, crate::clock::now_ms())
    }

    /// The kept results of `key` if they are fresh.
    fn fresh(&self, key: &Key) -> Option<Arc<Entry>> {
        let now = crate::clock::now_ms();
        self.cache.get(key).filter(|e| e.is_fresh(now))
    }

    /// What a search the engine was asked at `now` gives: its results, kept; or, when it gave
    /// none, the results kept before however old; or why there are none.
    fn settle(
        &self,
        key: Key,
        asked: Result<ask::Found, SearchError>,
        now: u64,
    ) -> Result<Arc<Entry>, SearchError> {
        let found = match asked {
            Ok(found) => found,
            Err(e) => {
                if e == SearchError::Limited {
                    self.limited_until
                        .store(now + LIMITED_MS, Ordering::Relaxed);
                }
                return match self.cache.get(&key) {
                    Some(kept) => {
                        log::warn!("search {:?}: {e}; serving the results kept", key.query);
                        Ok(kept)
                    }
                    None => Err(e),
                };
            }
        };
        let cut = if found.cut {
            " (more left out: the board's search budget is full)"
        } else {
            ""
        };
        log::info!(
            "search {:?} (category {:?}): {} channels, {} kB kept{cut}",
            key.query,
            key.category,
            found.stations.len(),
            found.cost / 1000
        );
        Ok(self.cache.put(Entry {
            key,
            fetched_ms: now,
            stations: found.stations,
            cost: found.cost,
            cut: found.cut,
        }))
    }

    /// Every kept search, newest first: what the guide is made of.
    pub fn kept(&self) -> heapless::Vec<Arc<Entry>, { cache::ENTRIES }> {
        self.cache.all()
    }

    /// What the kept results say of `id`: the channel it is a stream of (in the newest search
    /// that found it) and all that channel's streams, best first. A lookup in the cache only.
    pub fn describe(&self, id: &ContentId) -> Option<Described> {
        let kept = self.cache.all();
        let station = kept
            .iter()
            .flat_map(|e| e.stations.iter())
            .find(|s| s.streams.iter().any(|stream| stream.id == *id))?;
        Some(Described {
            name: station.name.clone(),
            ids: station.streams.iter().map(|s| s.id.clone()).collect(),
        })
    }
}

/// Whose turn it is to ask the engine: one search at a time, the others woken when it ends.
#[derive(Default)]
struct Turn {
    taken: AtomicBool,
    given_back: Event,
}

impl Turn {
    /// Waits for the turn; it is given back when the guard is dropped (the search ended, or
    /// the request that waited went away).
    async fn take(&self) -> TurnGuard<'_> {
        loop {
            if !self.taken.swap(true, Ordering::Acquire) {
                return TurnGuard(self);
            }
            let given_back = self.given_back.listen();
            if self.taken.load(Ordering::Acquire) {
                given_back.await;
            }
        }
    }
}

struct TurnGuard<'a>(&'a Turn);

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        self.0.taken.store(false, Ordering::Release);
        self.0.given_back.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ContentId {
        ContentId::parse(&format!("{n:02x}").repeat(20)).unwrap()
    }

    fn station(name: &str, streams: &[(u8, u16)]) -> Station {
        Station {
            name: name.into(),
            id: name.into(),
            streams: streams
                .iter()
                .map(|&(n, availability)| Stream {
                    id: id(n),
                    availability,
                })
                .collect(),
            ..Station::default()
        }
    }

    fn put(search: &Search, query: &str, stations: Vec<Station>) {
        search.cache.put(Entry {
            key: Key {
                query: query.into(),
                category: String::new(),
            },
            fetched_ms: 0,
            stations,
            cost: 1,
            cut: false,
        });
    }

    #[test]
    fn describe_names_the_channel_of_an_id_and_its_streams_best_first() {
        let engine = Engine::new(crate::http::Origin::parse("http://127.0.0.1:1").unwrap());
        let search = Search::new(engine);
        assert_eq!(search.describe(&id(1)), None, "nothing kept yet");
        put(&search, "old", vec![station("Sport 1 (old)", &[(1, 900)])]);
        put(
            &search,
            "sport",
            vec![
                station("News", &[(7, 1000)]),
                station("Sport 1", &[(2, 950), (1, 400), (3, 100)]),
            ],
        );
        let described = search.describe(&id(1)).unwrap();
        assert_eq!(described.name, "Sport 1", "the newest search that found it");
        assert_eq!(described.ids, [id(2), id(1), id(3)]);
        assert_eq!(search.describe(&id(7)).unwrap().ids, [id(7)]);
        assert_eq!(search.describe(&id(9)), None);
    }

    #[test]
    fn one_search_asks_the_engine_at_a_time_and_the_next_is_woken() {
        use futures_lite::future::poll_once;
        let turn = Turn::default();
        smol::block_on(async {
            let first = turn.take().await;
            let mut second = Box::pin(turn.take());
            assert!(poll_once(&mut second).await.is_none(), "waits its turn");
            let mut third = Box::pin(turn.take());
            assert!(poll_once(&mut third).await.is_none());
            drop(third);
            drop(first);
            let second = second.await;
            let mut fourth = Box::pin(turn.take());
            assert!(
                poll_once(&mut fourth).await.is_none(),
                "taken by the second"
            );
            drop(second);
            let _fourth = fourth.await;
        });
    }

    #[test]
    fn a_failed_search_serves_the_results_kept_and_a_limit_holds_the_engine_off() {
        let engine = Engine::new(crate::http::Origin::parse("http://127.0.0.1:1").unwrap());
        let search = Search::new(engine);
        let key = |query: &str| Key {
            query: query.into(),
            category: String::new(),
        };
        let failed = search.settle(key("news"), Err(SearchError::Refused("x".into())), 5);
        assert_eq!(failed.unwrap_err(), SearchError::Refused("x".into()));
        assert_eq!(search.limited_until.load(Ordering::Relaxed), 0);
        let found = ask::Found {
            stations: vec![station("News", &[(7, 1000)])],
            cost: 10,
            cut: false,
        };
        let kept = search.settle(key("news"), Ok(found), 1000).unwrap();
        assert_eq!((kept.fetched_ms, kept.stations.len()), (1000, 1));
        let later = 1000 + FRESH_MS;
        assert!(!kept.is_fresh(later));
        let stale = search
            .settle(key("news"), Err(SearchError::Limited), later)
            .unwrap();
        assert!(Arc::ptr_eq(&stale, &kept), "the results kept, however old");
        assert_eq!(
            search.limited_until.load(Ordering::Relaxed),
            later + LIMITED_MS
        );
        let none = search.settle(key("sport"), Err(SearchError::Limited), later);
        assert_eq!(none.unwrap_err(), SearchError::Limited);
    }
}
