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
use super::open::{busy, engine_error, open, other_form, passed_options, restart_query, wanted};
use crate::app::App;
use crate::channel::clients::{Joined, PlayerKey};
use crate::channel::{Activity, ContentId};
use crate::channel_list::selector;
use crate::clock;
use crate::engine::{EngineError, Mode, Selector};
use crate::hls;
use crate::http::{Admission, Body, Stalled, json_error, query_param, respond, respond_ranged};
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
    (player, peer): (PlayerKey, SocketAddr),
    head: bool,
    admission: &Admission,
) -> Response<Body> {
    let wanted = match selector(query) {
        Ok((id, selector)) => wanted(app, id, selector).await,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if head {
        return probe();
    }
    let (id, selector) = (wanted.id(), wanted.source.selector);
    let now = clock::now_ms();
    if let Some(channel) = app.registry.find(id, now) {
        if let Some(refused) = other_form(&channel, selector, &passed_options(query)) {
            return refused;
        }
        if let Some(token) = channel.known_player(player, peer, now) {
            return to_playlist(id, token, (selector, query), admission);
        }
    }
    let channel = match open(app, &wanted, Mode::Hls, query, peer.ip()).await {
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
    to_playlist(id, joined.token(), (selector, query), admission)
}

/// `HEAD` of a playlist URL: players probe with it. What a GET would answer, without starting
/// (or waiting for) anything.
pub(super) fn probe() -> Response<Body> {
    respond(StatusCode::OK, MPEGURL, "")
}

/// 302 to the player's own playlist URL, which also says how to start the channel again if it
/// went idle meanwhile (and carries the player's token on).
fn to_playlist(
    id: &ContentId,
    token: u64,
    (selector, query): (Selector, &str),
    admission: &Admission,
) -> Response<Body> {
    let mut location = hls::playlist_path(id.as_str(), token);
    location.push_str(&restart_query(selector, query));
    admission.carry(&mut location);
    let mut response = respond(StatusCode::FOUND, "text/plain", format!("see {location}\n"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `GET /ace/m/<id>/<client>.m3u8`: a player polls. Waits for the channel's first segments.
pub(super) async fn playlist(
    app: &App,
    (id, token): (&str, u64),
    query: &str,
    (player, peer): (PlayerKey, SocketAddr),
    admission: &Admission,
) -> Response<Body> {
    let Ok(id) = ContentId::parse(id) else {
        return not_found();
    };
    let selector = match query_param(query, "by").as_deref() {
        Some("infohash") => Selector::Infohash,
        _ => Selector::ContentId,
    };
    let channel = match app.registry.find(&id, clock::now_ms()) {
        Some(channel) => match other_form(&channel, selector, &passed_options(query)) {
            None => channel,
            Some(refused) => return refused,
        },
        // The channel went idle and was stopped; the player is back: start it again.
        None => match open(
            app,
            &wanted(app, id.clone(), selector).await,
            Mode::Hls,
            query,
            peer.ip(),
        )
        .await
        {
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
    let mut response = respond(StatusCode::OK, MPEGURL, carried(text, admission));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `playlist` with each of its URIs carrying the player's token, if it came with one.
fn carried(playlist: String, admission: &Admission) -> String {
    if admission.via() == 0 {
        return playlist;
    }
    let mut out = String::with_capacity(playlist.len() * 2);
    for line in playlist.lines() {
        let mut line = line.to_owned();
        if !line.starts_with('#') {
            admission.carry(&mut line);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
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

/// `GET /ace/c/<id>/<client>/<seq>.ts`: a segment from the ring, or the byte `range` of it
/// asked for.
pub(super) fn segment(
    app: &App,
    (id, token, seq): (&str, u64, u64),
    (player, peer): (PlayerKey, SocketAddr),
    head: bool,
    (range, stalled): (Option<&HeaderValue>, Option<&Stalled>),
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
            if let Some(stalled) = stalled {
                // Should the ring take it back from this client (the slowest), the connection
                // is cut off.
                stalled.watch(segment.cut);
            }
            let response = respond_ranged("video/mp2t", segment.data, range);
            if !head {
                let sent = http_body::Body::size_hint(response.body()).exact();
                channel.counters.bytes_out.add(sent.unwrap_or(0) as usize);
            }
            response
        }
        None => json_error(
            StatusCode::NOT_FOUND,
            "this segment is not held (too old, or not yet fetched)",
        ),
    }
}
