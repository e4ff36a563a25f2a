//! The engine's HTTP API as acebox uses it: start a session, read a playlist or segment, open
//! a stream, read a stat, stop.
//!
//! This folder owns every exchange with the AceStream engine. Each URL the engine returns is
//! rebased onto the configured origin (only its path is kept), so nothing the engine or a client
//! says can send a request elsewhere. It never holds a lock across a call and never retries:
//! callers decide when to try again.
//!
//! - `api`: the calls, their timeouts and size limits, and the URLs they ask for (I/O);
//! - `search`: the search calls in both of the engine's forms (I/O; the search folder reads the
//!   answers);
//! - `pool`: several engines, their limits of channels, their health and the choice of one
//!   for a channel ([`Engines`]);
//! - `wire`: reading the engine's answers (start, stat, redirect) and rebasing its URLs, pure
//!   functions the fuzz targets in `fuzz/` feed;
//! - this file: [`EngineError`], what a caller is told when the engine gave nothing usable.
//!
//! It imports `http` (the client and `Origin`) and `session` (what a session is); nothing of the
//! channels, feeds or views. Everything is re-exported here: callers name `crate::engine::X`.

mod api;
mod pool;
mod search;
mod wire;

use std::fmt;

use hyper::StatusCode;

use crate::http::FetchError;

pub use api::{Engine, Mode, SEGMENT_TIMEOUT, Selector, StartRequest};
pub use pool::{Change, Claim, Engines, Health, Member, NoEngine, Orphans};
pub use search::{SEARCH_PAGE_MAX, SearchCall, SearchPage};
pub use wire::{EngineStat, StartAnswer, parse_start, parse_stat, rebase};

/// Why the engine gave no session or no data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// Nothing answered at the engine's address.
    Unreachable(String),
    /// The engine took longer than allowed.
    Timeout,
    /// The engine answered but refused: its own message (e.g. `failed to load content`).
    Refused(String),
    /// An HTTP status where a playlist or segment was expected (403 superseded, 500 stopped...).
    Status(u16),
    /// The answer could not be read as what was asked for.
    BadAnswer(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Unreachable(e) => write!(
                f,
                "the AceStream engine is unreachable ({e}); is it running?"
            ),
            EngineError::Timeout => f.write_str("the AceStream engine did not answer in time"),
            EngineError::Refused(e) => write!(f, "the AceStream engine refused the channel: {e}"),
            EngineError::Status(code) => write!(f, "the AceStream engine answered HTTP {code}"),
            EngineError::BadAnswer(e) => write!(
                f,
                "the AceStream engine gave an answer acebox cannot read: {e}"
            ),
        }
    }
}

impl EngineError {
    /// The status a client gets for this error.
    pub fn client_status(&self) -> StatusCode {
        match self {
            EngineError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

impl From<FetchError> for EngineError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Connect(e) => EngineError::Unreachable(e.to_string()),
            FetchError::Timeout => EngineError::Timeout,
            FetchError::Protocol(e) => EngineError::Unreachable(e),
            FetchError::TooLarge => EngineError::BadAnswer("the answer is too large".into()),
        }
    }
}

impl std::error::Error for EngineError {}
