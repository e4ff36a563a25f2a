//! Requests to responses: which URL means what, and what a client gets for bad input.
//!
//! The router owns the URL scheme clients see (the engine's own `/ace/manifest.m3u8` for a
//! connect, then per-client playlist and segment URLs) and every status code. It never talks to
//! the engine directly and never puts client input into an engine URL unencoded: content ids are
//! checked to be 40 hex digits and engine options are percent-encoded.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::channel::clients::PlayerKey;
use crate::clock;
use crate::http::{
    Admission, Body, Refused, Stalled, allow_any_origin, json_error, misdirected, respond, too_many,
};
use crate::report::{self, Report};

mod hls;
mod open;
mod search;
mod ts;

/// Answers one request. A client from outside `--allow` needs a token in its URL (see
/// [`Tokens::admit`](crate::http::Tokens::admit)); what let the request in, its
/// [`Admission`], goes with it to each handler, which passes every URL it hands out through
/// [`Admission::carry`]. Players' URLs (`/ace/...`) answer pages of any origin, as the
/// engine's own do, so that web players work; nothing else does (see
/// [`HostNames::admits`](crate::http::HostNames::admits) for the reports and lists).
pub async fn handle(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let players = req.uri().path().starts_with("/ace/");
    let query = req.uri().query().unwrap_or("");
    let inside = app.gate.allows(peer.ip());
    let mut response = match app.tokens.admit(peer.ip(), inside, query, clock::now_ms()) {
        Ok(admission) => route(app, req, peer, admission).await,
        Err(refused) => refuse(&refused),
    };
    if players {
        allow_any_origin(response.headers_mut());
    }
    response
}

/// 403 for a client from outside `--allow` without a good token; 429 for one that tried too
/// often this minute.
fn refuse(refused: &Refused) -> Response<Body> {
    match refused {
        Refused::Blocked(secs) => too_many(&refused.to_string(), *secs),
        _ => json_error(StatusCode::FORBIDDEN, &refused.to_string()),
    }
}

async fn route(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    admission: Admission,
) -> Response<Body> {
    if req.method() == Method::OPTIONS {
        return preflight();
    }
    // The HDHomeRun and UPnP URLs, with their own methods (SOAP is POST).
    let req = match crate::lan::handle(&app, req, &admission).await {
        Ok(response) => return response,
        Err(req) => req,
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET, HEAD and OPTIONS are served",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(METHODS));
        return response;
    }
    let head = req.method() == Method::HEAD;
    let player = player_key(&req, peer).via(admission.via());
    let admission = &admission;
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let mut parts = heapless::Vec::<&str, 6>::new();
    for part in path.split('/').skip(1) {
        if parts.push(part).is_err() {
            return not_found();
        }
    }
    match parts.as_slice() {
        ["ace", "manifest.m3u8"] => {
            hls::connect(&app, query, (player, peer), head, admission).await
        }
        ["ace", "getstream"] => {
            let stalled = req
                .extensions()
                .get::<Stalled>()
                .cloned()
                .unwrap_or_default();
            ts::stream(&app, query, head, stalled, (player, peer)).await
        }
        ["ace", "m", id, file] => match file.strip_suffix(".m3u8").and_then(parse_token) {
            Some(_) if head => hls::probe(),
            Some(token) => hls::playlist(&app, (id, token), query, (player, peer), admission).await,
            None => not_found(),
        },
        ["ace", "c", id, token, file] => match (
            parse_token(token),
            file.strip_suffix(".ts").and_then(|s| s.parse().ok()),
        ) {
            (Some(token), Some(seq)) => {
                let send = (req.headers().get(header::RANGE), req.extensions().get());
                hls::segment(&app, (id, token, seq), (player, peer), head, send)
            }
            _ => not_found(),
        },
        ["" | "status" | "metrics" | "playlist.m3u" | "search.m3u" | "search.json" | "epg.xml"]
            if !app.names.admits(&req) =>
        {
            misdirected()
        }
        [""] => page(&Report::gather(&app)),
        ["status"] => status(&Report::gather(&app)),
        ["metrics"] => metrics(&Report::gather(&app)),
        ["playlist.m3u"] => {
            crate::channel_list::serve(app.channel_list.as_ref(), &req, admission).await
        }
        ["search.m3u"] => search::results(&app, &req, false, admission).await,
        ["search.json"] => search::results(&app, &req, true, admission).await,
        ["epg.xml"] => search::guide(&app),
        _ => not_found(),
    }
}

/// The methods acebox answers.
const METHODS: &str = "GET, HEAD, OPTIONS";
/// Request headers a web page may send: `Range` (players fetch parts of segments), Apple's
/// playback session id, and what browsers and players add to a GET.
const ALLOWED_HEADERS: &str = "Range, X-Playback-Session-Id, Accept, Accept-Language, \
     Cache-Control, Pragma, If-None-Match, If-Modified-Since, Content-Type";

/// `OPTIONS`: a browser's CORS preflight, for any path. 204 with what may be asked;
/// [`handle`] adds `Access-Control-Allow-Origin` for players' URLs only.
fn preflight() -> Response<Body> {
    let mut response = respond(StatusCode::NO_CONTENT, "text/plain", "");
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    headers.insert(header::ALLOW, HeaderValue::from_static(METHODS));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

/// `GET /`: the status page, never cached.
fn page(report: &Report) -> Response<Body> {
    let html = report::page::render(report);
    let mut response = respond(StatusCode::OK, "text/html; charset=utf-8", html);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /status`: the report as JSON.
fn status(report: &Report) -> Response<Body> {
    match report::json::render(report) {
        Ok(json) => respond(StatusCode::OK, "application/json", json),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("status too large to write: {e}"),
        ),
    }
}

/// `GET /metrics`: the report in Prometheus's text format.
fn metrics(report: &Report) -> Response<Body> {
    let text = report::metrics::render(report);
    respond(StatusCode::OK, report::metrics::CONTENT_TYPE, text)
}

pub(super) fn not_found() -> Response<Body> {
    json_error(StatusCode::NOT_FOUND, "no such resource on acebox")
}

/// Who sent `req`, as far as it tells (see [`PlayerKey`]).
fn player_key(req: &Request<Incoming>, peer: SocketAddr) -> PlayerKey {
    let header = |name| {
        req.headers()
            .get(name)
            .map_or(&b""[..], HeaderValue::as_bytes)
    };
    PlayerKey::new(
        peer.ip(),
        header(header::USER_AGENT.as_str()),
        header("x-playback-session-id"),
    )
}

fn parse_token(text: &str) -> Option<u64> {
    (text.len() == 16)
        .then(|| u64::from_str_radix(text, 16).ok())
        .flatten()
}
