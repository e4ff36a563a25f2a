//! The HLS URLs: a player's connect (`/ace/manifest.m3u8`), its own playlist
//! (`/ace/m/<id>/<client>.m3u8`) and its segments (`/ace/c/<id>/<client>/<seq>.ts`).
//!
//! Owns the redirect to a player's own playlist, the wait for a channel's first segments and
//! the answers for segments not held. Never fetches from the engine: segments come from the
//! channel's store.

use std::net::SocketAddr;
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::not_found;
use super::open::{busy, engine_error, open, restart_query};
use crate::app::App;
use crate::channel::clients::{Joined, PlayerKey};
use crate::channel::{Activity, ContentId};
use crate::channel_list::selector;
use crate::clock;
use crate::engine::{EngineError, Mode, Selector};
use crate::hls;
use crate::http::{Body, json_error, query_param, respond};
use crate::storage::Segments;

/// How long a player's first playlist request may wait for the channel's first segments; the
/// engine often prebuffers for 20 to 60 s.
const FIRST_SEGMENTS_WAIT: Duration = Duration::from_secs(90);
const MPEGURL: &str = "application/vnd.apple.mpegurl";

/// `GET /ace/manifest.m3u8?id=...`: a player connects, or one already watching reloads the
/// entry URL (ExoPlayer and most Android TV apps do, on every poll). A new player refreshes the
/// channel's session; either is sent to the player's own playlist URL, which polls never start
/// anything from.
pub(super) async fn connect(
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

/// `GET /ace/m/<id>/<client>.m3u8`: a player polls. Waits for the channel's first segments.
pub(super) async fn playlist(
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
    let entries = channel.listing(token, segments);
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
pub(super) fn segment(
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
