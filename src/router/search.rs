//! `GET /search.m3u`, `/search.json` and `/epg.xml`: the engine's search as a playlist, as JSON,
//! and the guide of what was found.
//!
//! This module owns those URLs' parameters (`query`, `category`, `min_availability` from 0 to
//! 1, `hls=1`), their checks and statuses: a bad parameter is a 400, an engine that cannot
//! search is the status `SearchError` names, 429 with `Retry-After` when the engine's limit is
//! reached. It never talks to the engine itself (that is `search`).

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::channel_list::{no_authority, request_authority};
use crate::engine::Mode;
use crate::http::{Admission, Body, json_error, query_pairs, respond};
use crate::search::{self, Key, Render, SearchError};

/// The longest search words and category taken: longer is a client's mistake.
const MAX_QUERY: usize = 200;
const MAX_CATEGORY: usize = 64;

/// What a search URL asks for.
#[derive(Debug, PartialEq)]
struct Asked {
    key: Key,
    mode: Mode,
    min_availability: u16,
}

/// `GET /search.m3u` (`json` false) or `/search.json`, for a client let in by `admission`.
pub async fn results<B>(
    app: &App,
    req: &Request<B>,
    json: bool,
    admission: &Admission,
) -> Response<Body> {
    let asked = match asked(req.uri().query().unwrap_or("")) {
        Ok(asked) => asked,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    let Some(authority) = request_authority(req) else {
        return no_authority();
    };
    let entry = match app.search.find(asked.key).await {
        Ok(entry) => entry,
        Err(e) => return refused(&e),
    };
    let how = Render {
        authority: &authority,
        mode: asked.mode,
        min_availability: asked.min_availability,
        admission,
    };
    if json {
        fresh(respond(
            StatusCode::OK,
            "application/json",
            search::json(&entry, &how),
        ))
    } else {
        fresh(respond(
            StatusCode::OK,
            "audio/x-mpegurl",
            search::m3u(&entry, &how),
        ))
    }
}

/// `GET /epg.xml`: the guide of every kept search.
pub fn guide(app: &App) -> Response<Body> {
    let now = crate::clock::unix_ms() / 1000;
    let xml = search::xmltv(&app.search.kept(), now);
    fresh(respond(
        StatusCode::OK,
        "application/xml; charset=utf-8",
        xml,
    ))
}

/// Reads a search URL's query.
fn asked(query: &str) -> Result<Asked, &'static str> {
    let mut asked = Asked {
        key: Key {
            query: String::new(),
            category: String::new(),
        },
        mode: Mode::Ts,
        min_availability: 0,
    };
    for (name, value) in query_pairs(query) {
        let value = value.trim();
        match name.as_ref() {
            "query" if value.len() <= MAX_QUERY => asked.key.query = value.to_owned(),
            "query" => return Err("query= may be at most 200 bytes"),
            "category" if value.len() <= MAX_CATEGORY => {
                asked.key.category = value.to_ascii_lowercase();
            }
            "category" => return Err("category= may be at most 64 bytes"),
            "min_availability" => {
                asked.min_availability = value
                    .parse::<f32>()
                    .ok()
                    .filter(|a| (0.0..=1.0).contains(a))
                    .map(|a| (a * 1000.0).round() as u16)
                    .ok_or("min_availability= takes a number from 0 to 1, like 0.5")?;
            }
            "hls" => {
                asked.mode = match value {
                    "0" => Mode::Ts,
                    "1" => Mode::Hls,
                    _ => return Err("hls= takes 1 (HLS URLs) or 0 (MPEG-TS URLs, the default)"),
                };
            }
            _ => {}
        }
    }
    Ok(asked)
}

/// The answer for a search that gave nothing to serve.
fn refused(e: &SearchError) -> Response<Body> {
    let mut response = json_error(e.client_status(), &e.to_string());
    if *e == SearchError::Limited {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    response
}

/// `response`, never kept by a cache between acebox and the app.
fn fresh(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_urls_are_read_and_checked() {
        let got = asked("query=Sport+1&category=Sport&min_availability=0.75&hls=1&x=y").unwrap();
        assert_eq!(got.key.query, "Sport 1");
        assert_eq!(got.key.category, "sport");
        assert_eq!(got.min_availability, 750);
        assert_eq!(got.mode, Mode::Hls);
        let all = asked("").unwrap();
        assert_eq!((all.key.query.as_str(), all.mode), ("", Mode::Ts));
        assert_eq!(asked("query=%20news%20").unwrap().key.query, "news");
        let long = format!("query={}", "x".repeat(201));
        for bad in [
            long.as_str(),
            "min_availability=1.5",
            "min_availability=-1",
            "min_availability=half",
            "hls=yes",
        ] {
            assert!(asked(bad).is_err(), "{bad}");
        }
    }
}
