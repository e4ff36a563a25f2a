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
/// A token answer is a few dozen bytes.
const TOKEN_BODY: usize = 4096;
/// The most results the engine gives in one page.
pub const SEARCH_PAGE_MAX: u32 = 200;

/// Which of the engine's two search APIs a call uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchForm {
    /// `GET /search?...`, no token.
    Current,
    /// `GET /server/api?method=search&token=...`.
    Token,
}

/// One page of a search: what to look for, which page (from 0) and how many results a page
/// holds (at most [`SEARCH_PAGE_MAX`]).
#[derive(Clone, Copy, Debug)]
pub struct SearchPage<'a> {
    pub query: &'a str,
    pub category: &'a str,
    pub page: u32,
    pub size: u32,
}

impl Engine {
    /// Asks for one page of results grouped by channel, with their guide. `token` is used by
    /// [`SearchForm::Token`] only. The answer is handed back whatever its status, at most
    /// `limit` bytes; the transport's error as it is, so that the caller can say which limit
    /// an answer broke.
    pub async fn search(
        &self,
        form: SearchForm,
        token: &str,
        page: &SearchPage<'_>,
        limit: usize,
    ) -> Result<Fetched, FetchError> {
        let path = search_path(form, token, page);
        http::get(self.origin(), &path, SEARCH_TIMEOUT, limit).await
    }

    /// Asks for an access token for [`SearchForm::Token`].
    pub async fn search_token(&self) -> Result<Fetched, FetchError> {
        let path = "/server/api?method=get_api_access_token";
        http::get(self.origin(), path, SEARCH_TIMEOUT, TOKEN_BODY).await
    }
}

fn search_path(form: SearchForm, token: &str, page: &SearchPage<'_>) -> String {
    let mut path = String::with_capacity(160 + page.query.len() * 3);
    match form {
        SearchForm::Current => path.push_str("/search?"),
        SearchForm::Token => {
            path.push_str("/server/api?method=search&token=");
            push_percent_encoded(&mut path, token);
            path.push('&');
        }
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
            search_path(SearchForm::Current, "", &page),
            "/search?query=sport%20%26%20news&category=tv%2F1&page=2&page_size=200\
             &group_by_channels=1&show_epg=1"
        );
        assert_eq!(
            search_path(SearchForm::Token, "ab12", &page),
            "/server/api?method=search&token=ab12&query=sport%20%26%20news&category=tv%2F1\
             &page=2&page_size=200&group_by_channels=1&show_epg=1"
        );
    }
}
