//! The engine's search calls, in both forms engines answer: `GET /search?...` (current engines)
//! and the older `GET /server/api?method=search&token=...`, whose token comes from
//! `GET /server/api?method=get_api_access_token`.
//!
//! This module owns those requests: their paths, their timeout and how large an answer may be.
//! It never reads an answer (the search folder does), never picks a form (the caller does,
//! from what the engine answered) and never retries.

use std::time::Duration;

use super::Engine;
use crate::http::{self, FetchError, Fetched, push_percent_encoded};

/// A search goes to AceStream's servers through the engine, which takes a few seconds; the
/// answer's head and then its body each get this long.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(15);
/// The most results the engine gives in one page.
pub const SEARCH_PAGE_MAX: u32 = 200;

/// One page of a search: what to look for, which page (from 0) and how many results a page
/// holds (at most [`SEARCH_PAGE_MAX`]).
#[derive(Clone, Copy, Debug)]
pub struct SearchPage<'a> {
    pub query: &'a str,
    pub category: &'a str,
    pub page: u32,
    pub size: u32,
}

/// What a search call asks the engine for.
#[derive(Clone, Copy, Debug)]
pub enum SearchCall<'a> {
    /// A page of results, current form: `GET /search?...`.
    Page(&'a SearchPage<'a>),
    /// An access token for the older form: `GET /server/api?method=get_api_access_token`.
    Token,
    /// A page of results, older form, with its token: `GET /server/api?method=search&...`.
    TokenPage(&'a str, &'a SearchPage<'a>),
}

impl Engine {
    /// Makes `call`: pages come grouped by channel, with their guide. The answer is handed
    /// back whatever its status, at most `limit` bytes; the transport's error as it is, so that
    /// the caller can say which limit an answer broke.
    pub async fn search(&self, call: &SearchCall<'_>, limit: usize) -> Result<Fetched, FetchError> {
        http::get(self.origin(), &call.path(), SEARCH_TIMEOUT, limit).await
    }
}

impl SearchCall<'_> {
    fn path(&self) -> String {
        let page = match self {
            SearchCall::Token => return "/server/api?method=get_api_access_token".to_owned(),
            SearchCall::Page(page) | SearchCall::TokenPage(_, page) => page,
        };
        let mut path = String::with_capacity(160 + page.query.len() * 3);
        match self {
            SearchCall::TokenPage(token, _) => {
                path.push_str("/server/api?method=search&token=");
                push_percent_encoded(&mut path, token);
                path.push('&');
            }
            _ => path.push_str("/search?"),
        }
        path.push_str("query=");
        push_percent_encoded(&mut path, page.query);
        path.push_str("&category=");
        push_percent_encoded(&mut path, page.category);
        path.push_str(&format!(
            "&page={}&page_size={}&group_by_channels=1&show_epg=1",
            page.page,
            page.size.min(SEARCH_PAGE_MAX)
        ));
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_paths_encode_what_the_client_gave() {
        let page = SearchPage {
            query: "sport & news",
            category: "tv/1",
            page: 2,
            size: 500,
        };
        assert_eq!(
            SearchCall::Page(&page).path(),
            "/search?query=sport%20%26%20news&category=tv%2F1&page=2&page_size=200\
             &group_by_channels=1&show_epg=1"
        );
        assert_eq!(
            SearchCall::TokenPage("ab12", &page).path(),
            "/server/api?method=search&token=ab12&query=sport%20%26%20news&category=tv%2F1\
             &page=2&page_size=200&group_by_channels=1&show_epg=1"
        );
        assert_eq!(
            SearchCall::Token.path(),
            "/server/api?method=get_api_access_token"
        );
    }
}
