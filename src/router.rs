//! Requests to responses: which URL means what, and what a client gets for bad input.
//!
//! The router owns the URL scheme clients see (the engine's own `/ace/manifest.m3u8` for a
//! connect, then per-client playlist and segment URLs) and every status code. It never talks to
//! the engine directly and never puts client input into an engine URL unencoded: content ids are
//! checked to be 40 hex digits and engine options are percent-encoded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::FutureExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::channel::clients::{Joined, PlayerKey};
use crate::channel::{Activity, ContentId, Full, Open, Registry};
use crate::channel_list::selector;
use crate::clock;
use crate::engine::{EngineError, Mode, Selector};
use crate::hls;
use crate::http::{
    Body, Gate, Stalled, json_error, push_percent_encoded, query_pairs, query_param, respond,
};
use crate::storage::Segments;

/// How long a player's first playlist request may wait for the channel's first segments; the
/// engine often prebuffers for 20 to 60 s.
const FIRST_SEGMENTS_WAIT: Duration = Duration::from_secs(90);
/// Engine options a client may pass on; anything else in the query is ignored.
const PASSED_OPTIONS: [&str; 4] = [
    "transcode_audio",
    "transcode_mp3",
    "transcode_ac3",
    "preferred_audio_language",
];
/// A passed option longer than this is dropped: none of the engine's is.
const OPTION_MAX: usize = 32;
const MPEGURL: &str = "application/vnd.apple.mpegurl";

/// What the server shares between requests.
pub struct App {
    pub registry: Registry,
    pub started: Instant,
    pub gate: Arc<Gate>,
    /// `--channels`, served at `/playlist.m3u`.
    pub channel_list: Option<crate::channel_list::ChannelList>,
}

/// Answers one request.
pub async fn handle(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    if req.method() == Method::OPTIONS {
        return preflight();
    }
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
    let player = player_key(&req, peer);
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let mut parts = heapless::Vec::<&str, 6>::new();
    for part in path.split('/').skip(1) {
        if parts.push(part).is_err() {
            return not_found();
        }
    }
    match parts.as_slice() {
        ["ace", "manifest.m3u8"] => connect(&app, query, peer, player, head).await,
        ["ace", "getstream"] => {
            let stalled = req
                .extensions()
                .get::<Stalled>()
                .cloned()
                .unwrap_or_default();
            stream(&app, query, head, stalled, (player, peer)).await
        }
        ["ace", "m", id, file] => match file.strip_suffix(".m3u8").and_then(parse_token) {
            Some(token) => playlist(&app, id, token, query, (player, peer)).await,
            None => not_found(),
        },
        ["ace", "c", id, token, file] => match (
            parse_token(token),
            file.strip_suffix(".ts").and_then(|s| s.parse().ok()),
        ) {
            (Some(token), Some(seq)) => segment(&app, id, token, seq, (player, peer), head),
            _ => not_found(),
        },
        [""] => crate::page::respond_to(&app),
        ["status"] => crate::status::respond_to(&app),
        ["metrics"] => crate::metrics::respond_to(&app),
        ["playlist.m3u"] => crate::channel_list::serve(app.channel_list.as_ref(), &req),
        _ => not_found(),
    }
}

/// The methods acebox answers.
const METHODS: &str = "GET, HEAD, OPTIONS";
/// Request headers a web page may send: `Range` (players fetch parts of segments), Apple's
/// playback session id, and what browsers and players add to a GET.
const ALLOWED_HEADERS: &str = "Range, X-Playback-Session-Id, Accept, Accept-Language, \
     Cache-Control, Pragma, If-None-Match, If-Modified-Since, Content-Type";

/// `OPTIONS`: a browser's CORS preflight, for any path. 204 with what may be asked; the
/// transport adds `Access-Control-Allow-Origin` to this as to every response.
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

fn not_found() -> Response<Body> {
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

/// The engine options to pass on, as an encoded query fragment.
fn passed_options(query: &str) -> String {
    let mut out = String::new();
    let mut seen = [false; PASSED_OPTIONS.len()];
    for (key, value) in query_pairs(query) {
        let Some(known) = PASSED_OPTIONS.iter().position(|o| *o == key) else {
            continue;
        };
        if value.len() <= OPTION_MAX && !std::mem::replace(&mut seen[known], true) {
            out.push('&');
            out.push_str(&key);
            out.push('=');
            push_percent_encoded(&mut out, &value);
        }
    }
    out
}

/// `GET /ace/manifest.m3u8?id=...`: a player connects, or one already watching reloads the
/// entry URL (ExoPlayer and most Android TV apps do, on every poll). A new player refreshes the
/// channel's session; either is sent to the player's own playlist URL, which polls never start
/// anything from.
async fn connect(
    app: &App,
    query: &str,
    peer: SocketAddr,
    player: PlayerKey,
    head: bool,
) -> Response<Body> {
    let (id, selector) = match selector(query) {
        Ok(found) => found,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if head {
        // Players probe with HEAD: answer what a GET would be, without starting a session.
        return respond(StatusCode::OK, MPEGURL, "");
    }
    let now = clock::now_ms();
    let known = app.registry.find(&id, now);
    if let Some(token) = known.and_then(|channel| channel.known_player(player, peer, now)) {
        return to_playlist(&id, token, selector, query);
    }
    let channel = match open(app, &id, selector, Mode::Hls, query).await {
        Ok(channel) => channel,
        Err(response) => return response,
    };
    let joined = match channel.join(player, peer, clock::now_ms()) {
        Ok(joined) => joined,
        Err(full) => return busy(&full),
    };
    if let Joined::New(_) = joined {
        log::info!("channel {}: client {peer} connected", id.as_str());
    }
    to_playlist(&id, joined.token(), selector, query)
}

/// 302 to the player's own playlist URL, which also says how to start the channel again if it
/// went idle meanwhile.
fn to_playlist(id: &ContentId, token: u64, selector: Selector, query: &str) -> Response<Body> {
    let mut location = hls::playlist_path(id.as_str(), token);
    location.push_str(&restart_query(selector, query));
    let mut response = respond(StatusCode::FOUND, "text/plain", format!("see {location}\n"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `GET /ace/getstream?id=...`: an MPEG-TS client. Opens the channel (one upstream reader for
/// all its clients) and streams from the newest point a player can start decoding.
async fn stream(
    app: &App,
    query: &str,
    head: bool,
    stalled: Stalled,
    (player, peer): (PlayerKey, SocketAddr),
) -> Response<Body> {
    let (id, selector) = match selector(query) {
        Ok(found) => found,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let body = if head {
        // TVs probe with HEAD: the headers of the stream, without starting a session.
        http_body_util::StreamBody::new(futures_lite::stream::empty()).boxed()
    } else {
        match open(app, &id, selector, Mode::Ts, query).await {
            Ok(channel) => match channel.into_stream(player, peer, stalled, clock::now_ms()) {
                Ok(stream) => stream.boxed(),
                Err(full) => return busy(&full),
            },
            Err(response) => return response,
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The channel for `id`, opened and connected (its session refreshed).
async fn open(
    app: &App,
    id: &ContentId,
    selector: Selector,
    mode: Mode,
    query: &str,
) -> Result<Activity, Response<Body>> {
    let request = Open {
        id,
        selector,
        mode,
        extra: &passed_options(query),
    };
    let channel = app
        .registry
        .open(&request)
        .await
        .map_err(|full| busy(&full))?;
    if let Err(e) = channel.connect(clock::now_ms()).await {
        if channel.store.held() == 0 {
            app.registry.discard_unstarted(&channel);
            return Err(engine_error(&e));
        }
        // The channel is playing: serve what it holds; its feed heals the session if needed.
        log::warn!(
            "channel {}: session refresh for a new client failed ({e}); serving the ring",
            id.as_str()
        );
    }
    Ok(channel)
}

/// The query of a player's own playlist URL: what it takes to start its channel again (the
/// selector, when not a content id, and the engine options).
fn restart_query(selector: Selector, query: &str) -> String {
    let mut tail = String::new();
    if selector == Selector::Infohash {
        tail.push_str("&by=infohash");
    }
    tail.push_str(&passed_options(query));
    match tail.strip_prefix('&') {
        Some(rest) => format!("?{rest}"),
        None => String::new(),
    }
}

fn busy(full: &Full) -> Response<Body> {
    let mut response = json_error(StatusCode::SERVICE_UNAVAILABLE, &full.to_string());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

fn engine_error(e: &EngineError) -> Response<Body> {
    json_error(e.client_status(), &e.to_string())
}

/// `GET /ace/m/<id>/<client>.m3u8`: a player polls. Waits for the channel's first segments.
async fn playlist(
    app: &App,
    id: &str,
    token: u64,
    query: &str,
    (player, peer): (PlayerKey, SocketAddr),
) -> Response<Body> {
    let Ok(id) = ContentId::parse(id) else {
        return not_found();
    };
    let selector = match query_param(query, "by").as_deref() {
        Some("infohash") => Selector::Infohash,
        _ => Selector::ContentId,
    };
    let channel = match app.registry.find(&id, clock::now_ms()) {
        Some(channel) => channel,
        // The channel went idle and was stopped; the player is back: start it again.
        None => match open(app, &id, selector, Mode::Hls, query).await {
            Ok(channel) => channel,
            Err(response) => return response,
        },
    };
    // Seen first: the segmenter of a TS channel runs only while it has HLS players.
    channel.touch_client(token, player, peer, clock::now_ms());
    let segments = channel.hls_segments();
    if let Err(response) = first_segments(&channel, segments).await {
        return response;
    }
    let entries = segments.ring.window::<{ crate::board::PLAYLIST_WINDOW }>();
    let text = hls::render(&entries, segments.target_duration(), id.as_str(), token);
    let mut response = respond(StatusCode::OK, MPEGURL, text);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Waits until `segments` holds one, the engine refuses the channel, or time runs out.
async fn first_segments(channel: &Activity, segments: &Segments) -> Result<(), Response<Body>> {
    let wait = async {
        loop {
            let listener = channel.events().listen();
            if !segments.ring.is_empty() {
                return Ok(());
            }
            match channel.health() {
                Some(e @ (EngineError::Refused(_) | EngineError::Unreachable(_))) => {
                    return Err(engine_error(&e));
                }
                _ if channel.is_stopped() => {
                    let message = "the channel was stopped while this player waited; connect again";
                    return Err(json_error(StatusCode::SERVICE_UNAVAILABLE, message));
                }
                _ => listener.await,
            }
        }
    };
    wait.or(async {
        Timer::after(FIRST_SEGMENTS_WAIT).await;
        Err(engine_error(&EngineError::Timeout))
    })
    .await
}

/// `GET /ace/c/<id>/<client>/<seq>.ts`: a segment from the ring.
fn segment(
    app: &App,
    id: &str,
    token: u64,
    seq: u64,
    (player, peer): (PlayerKey, SocketAddr),
    head: bool,
) -> Response<Body> {
    let now = clock::now_ms();
    let Some(channel) = ContentId::parse(id)
        .ok()
        .and_then(|id| app.registry.find(&id, now))
    else {
        return json_error(
            StatusCode::NOT_FOUND,
            "no such channel: it was never opened or has gone idle",
        );
    };
    let Some(segments) = channel.segments() else {
        return not_found();
    };
    channel.touch_client(token, player, peer, now);
    match segments.ring.get(seq) {
        Some(segment) => {
            if !head {
                channel.counters.bytes_out.add(segment.data.len());
            }
            respond(StatusCode::OK, "video/mp2t", segment.data)
        }
        None => json_error(
            StatusCode::NOT_FOUND,
            "this segment is not held (too old, or not yet fetched)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_options_pass_and_are_encoded() {
        assert_eq!(
            passed_options(
                "id=x&preferred_audio_language=rus&pid=evil&transcode_audio=1%262&transcode_audio=9"
            ),
            "&preferred_audio_language=rus&transcode_audio=1%262"
        );
        assert_eq!(
            passed_options(&format!("transcode_ac3={}", "1".repeat(33))),
            ""
        );
        assert_eq!(
            passed_options("transcode_mp3=transcode_ac3&transcode_ac3=1"),
            "&transcode_mp3=transcode_ac3&transcode_ac3=1",
            "an option named inside another's value still passes"
        );
    }
}
