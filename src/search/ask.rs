//! Asking the engine for one search, all its pages: which of the engine's two search APIs to
//! use, the access token the older one needs, and what each failure means for the client.
//!
//! This module owns that conversation. `/search` is tried first; an engine that answers it 404
//! is an older one, and from then on the token form (`/server/api`) is used, with one token
//! kept and asked again when the engine refuses it. Pages are asked for until one comes back
//! short, the engine's total is reached, [`MAX_PAGES`] were asked or the results fill the
//! cache's budget (the rest is left out, and said so). It never retries a failed page and never
//! holds a lock across a call.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::StatusCode;

use super::answer::{AnswerError, Page, parse_page, parse_token};
use super::cache::Key;
use super::station::{Station, order};
use crate::engine::{Engine, EngineError, SEARCH_PAGE_MAX, SearchCall, SearchPage};
use crate::http::{FetchError, Fetched};

/// Pages asked for in one search at most (with 200 a page, 4,000 channels).
const MAX_PAGES: u32 = 20;
/// What a result is allowed in an answer when sizing pages for the board: with its streams and
/// a day of guide, a channel is a few kB of JSON.
const RESULT_BYTES: usize = 8 * 1024;

/// Channels a page asks for on this board: what its largest answer holds well within it, from
/// 10 to the engine's most.
pub const PAGE_SIZE: u32 = page_size(crate::board::SEARCH_ANSWER_BYTES);

const fn page_size(answer_limit: usize) -> u32 {
    let fits = answer_limit / RESULT_BYTES;
    if fits < 10 {
        10
    } else if fits > SEARCH_PAGE_MAX as usize {
        SEARCH_PAGE_MAX
    } else {
        fits as u32
    }
}

/// Why a search gave nothing to serve.
#[derive(Debug, PartialEq)]
pub enum SearchError {
    /// The engine could not be reached, was too slow, or answered with a status or text that is
    /// not a search.
    Engine(EngineError),
    /// An answer was larger than this board reads.
    TooLarge(usize),
    /// The engine's own error.
    Refused(String),
    /// The engine limits how often it may be searched, and that limit was reached.
    Limited,
    /// The engine has neither search API.
    NoSearch,
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::Engine(e) => e.fmt(f),
            SearchError::TooLarge(limit) => write!(
                f,
                "the AceStream engine's search answer is larger than the {limit} bytes this \
                 board reads"
            ),
            SearchError::Refused(e) => write!(f, "the AceStream engine's search failed: {e}"),
            SearchError::Limited => f.write_str(
                "the AceStream engine limits how often it may be searched; try again in a minute",
            ),
            SearchError::NoSearch => f.write_str(
                "this AceStream engine has no search API (neither /search nor /server/api)",
            ),
        }
    }
}

impl std::error::Error for SearchError {}

impl SearchError {
    /// The status a client gets for this error.
    pub fn client_status(&self) -> StatusCode {
        match self {
            SearchError::Engine(e) => e.client_status(),
            SearchError::Limited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The results of one search, as gathered.
pub struct Found {
    pub stations: Vec<Station>,
    /// What they cost (`Station::cost`), within the budget given.
    pub cost: usize,
    /// Whether results were left out for the budget.
    pub cut: bool,
}

impl Found {
    /// Adds a page's `stations` while they fit in `budget` bytes; whether all of them did.
    fn add(&mut self, stations: Vec<Station>, budget: usize) -> bool {
        for station in stations {
            let cost = station.cost();
            if self.cost + cost > budget {
                self.cut = true;
                return false;
            }
            self.cost += cost;
            self.stations.push(station);
        }
        true
    }
}

/// The engine's search, with what acebox learnt of it.
pub struct Asker {
    engine: Engine,
    /// The largest answer read, and what a page asks for to stay well within it.
    answer_limit: usize,
    page_size: u32,
    /// Whether the engine answered `/search` 404: it has only the token form.
    older: AtomicBool,
    /// The token form's access token, once the engine gave one.
    token: Mutex<heapless::String<128>>,
}

impl Asker {
    pub fn new(engine: Engine, answer_limit: usize) -> Asker {
        Asker {
            engine,
            answer_limit,
            page_size: page_size(answer_limit),
            older: AtomicBool::new(false),
            token: Mutex::new(heapless::String::new()),
        }
    }

    /// Every page of the search `key`, within `budget` bytes of stations. A page that fails
    /// after the first ends the search with what came before it.
    pub async fn all(&self, key: &Key, budget: usize) -> Result<Found, SearchError> {
        let mut found = Found {
            stations: Vec::new(),
            cost: 0,
            cut: false,
        };
        let mut results = 0u64;
        for number in 0..MAX_PAGES {
            let page = match self.page(key, number).await {
                Ok(page) => page,
                Err(e) if number == 0 => return Err(e),
                Err(e) => {
                    log::warn!(
                        "search {:?}: page {number} failed ({e}); serving the pages before",
                        key.query
                    );
                    break;
                }
            };
            results += page.results as u64;
            let last = page.results < self.page_size as usize
                || page.total.is_some_and(|total| results >= total);
            if !found.add(page.stations, budget) || last {
                break;
            }
        }
        order(&mut found.stations);
        Ok(found)
    }

    /// One page, in the form the engine speaks: `/search` until it answers 404, then the token
    /// form, with a token asked for first and asked for again once when the engine refuses it.
    /// Every call to the engine is made at the one `await` below.
    async fn page(&self, key: &Key, number: u32) -> Result<Page, SearchError> {
        let page = SearchPage {
            query: &key.query,
            category: &key.category,
            page: number,
            size: self.page_size,
        };
        let mut renewed = false;
        loop {
            let older = self.older.load(Ordering::Relaxed);
            let token = crate::lock(&self.token).clone();
            let call = match (older, token.is_empty()) {
                (false, _) => SearchCall::Page(&page),
                (true, true) => SearchCall::Token,
                (true, false) => SearchCall::TokenPage(&token, &page),
            };
            let answer = self.fetch(self.engine.search(&call, self.answer_limit).await)?;
            match (call, answer.status) {
                (SearchCall::Page(_), StatusCode::NOT_FOUND) => {
                    log::info!("the engine has no /search (HTTP 404): searching with /server/api");
                    self.older.store(true, Ordering::Relaxed);
                }
                (_, StatusCode::NOT_FOUND) => {
                    // Neither form: perhaps the engine changed; look for /search next time.
                    self.older.store(false, Ordering::Relaxed);
                    return Err(SearchError::NoSearch);
                }
                (SearchCall::Token, _) => {
                    let token = read_token(&answer)?;
                    crate::lock(&self.token).clone_from(&token);
                }
                _ => match read_page(&answer) {
                    Err(SearchError::Refused(e)) if older && !renewed && mentions(&e, "token") => {
                        renewed = true;
                        crate::lock(&self.token).clear();
                    }
                    read => return read,
                },
            }
        }
    }

    /// A transport result as a search's: its own error for an answer too large.
    fn fetch(&self, fetched: Result<Fetched, FetchError>) -> Result<Fetched, SearchError> {
        fetched.map_err(|e| match e {
            FetchError::TooLarge => SearchError::TooLarge(self.answer_limit),
            e => SearchError::Engine(e.into()),
        })
    }
}

/// The access token from an answer of any status.
fn read_token(answer: &Fetched) -> Result<heapless::String<128>, SearchError> {
    let token = match answer.status {
        StatusCode::OK => parse_token(&answer.body).map_err(answer_error)?,
        StatusCode::TOO_MANY_REQUESTS => return Err(SearchError::Limited),
        status => return Err(SearchError::Engine(EngineError::Status(status.as_u16()))),
    };
    heapless::String::try_from(token.as_str())
        .map_err(|()| SearchError::Refused("the engine's access token is too long".into()))
}

/// A page from an answer of any status.
fn read_page(answer: &Fetched) -> Result<Page, SearchError> {
    match answer.status {
        StatusCode::OK => parse_page(&answer.body).map_err(answer_error),
        StatusCode::TOO_MANY_REQUESTS => Err(SearchError::Limited),
        status => Err(SearchError::Engine(EngineError::Status(status.as_u16()))),
    }
}

/// An answer's error as the search's: the engine's words about a limit mean it was reached.
fn answer_error(e: AnswerError) -> SearchError {
    match e {
        AnswerError::NotJson(_) => SearchError::Engine(EngineError::BadAnswer(e.to_string())),
        AnswerError::Refused(text) if mentions(&text, "limit") || mentions(&text, "too many") => {
            SearchError::Limited
        }
        AnswerError::Refused(text) => SearchError::Refused(text),
    }
}

/// Whether `text` holds `word`, in any ASCII case.
fn mentions(text: &str, word: &str) -> bool {
    text.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: u16, body: &'static str) -> Fetched {
        Fetched {
            status: StatusCode::from_u16(status).unwrap(),
            location: None,
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn answers_become_pages_or_errors_a_client_can_act_on() {
        let ok = read_page(&answer(
            200,
            r#"{"result": {"results": []}, "error": null}"#,
        ));
        assert_eq!(ok.unwrap(), Page::default());
        let limited = read_page(&answer(429, "Too Many Requests"));
        assert_eq!(limited, Err(SearchError::Limited));
        assert_eq!(
            SearchError::Limited.client_status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let said = read_page(&answer(
            200,
            r#"{"result": null, "error": "Rate LIMIT exceeded"}"#,
        ));
        assert_eq!(said, Err(SearchError::Limited), "the engine's words count");
        let failed = read_page(&answer(
            200,
            r#"{"result": null, "error": "search request failed"}"#,
        ));
        assert_eq!(
            failed,
            Err(SearchError::Refused("search request failed".into()))
        );
        let garbage = read_page(&answer(200, "<html>")).unwrap_err();
        assert!(matches!(
            garbage,
            SearchError::Engine(EngineError::BadAnswer(_))
        ));
        assert_eq!(garbage.client_status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            read_page(&answer(500, "")),
            Err(SearchError::Engine(EngineError::Status(500)))
        );
        let token = read_token(&answer(
            200,
            r#"{"result": {"token": "ab12"}, "error": null}"#,
        ));
        assert_eq!(token.unwrap(), "ab12");
        assert_eq!(read_token(&answer(429, "")), Err(SearchError::Limited));
        assert_eq!(
            read_token(&answer(500, "")),
            Err(SearchError::Engine(EngineError::Status(500)))
        );
        let slow = SearchError::Engine(EngineError::Timeout);
        assert_eq!(slow.client_status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(
            SearchError::TooLarge(1024)
                .to_string()
                .contains("1024 bytes")
        );
    }

    #[test]
    fn stations_are_gathered_while_they_fit_the_budget() {
        let station = |n: u8| Station {
            name: "x".repeat(usize::from(n)),
            streams: vec![crate::search::Stream {
                id: crate::channel::ContentId::parse(&format!("{n:02x}").repeat(20)).unwrap(),
                availability: 0,
            }],
            ..Station::default()
        };
        let cost = station(1).cost();
        let mut found = Found {
            stations: Vec::new(),
            cost: 0,
            cut: false,
        };
        assert!(found.add(vec![station(1), station(2)], 10 * cost));
        assert!(!found.cut);
        assert!(!found.add(vec![station(3), station(200), station(4)], 4 * cost));
        assert!(found.cut, "the page did not fit");
        assert_eq!(
            found.stations.len(),
            3,
            "what fitted before the first that did not"
        );
        assert!(found.cost <= 4 * cost);
        assert_eq!(
            found.cost,
            found.stations.iter().map(Station::cost).sum::<usize>()
        );
    }

    #[test]
    fn pages_are_sized_for_the_board() {
        let engine = Engine::new(crate::http::Origin::parse("http://127.0.0.1:1").unwrap());
        assert_eq!(Asker::new(engine.clone(), 8 << 20).page_size, 200);
        assert_eq!(Asker::new(engine.clone(), 1 << 20).page_size, 128);
        assert_eq!(Asker::new(engine, 1).page_size, 10);
    }
}
