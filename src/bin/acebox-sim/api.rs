//! The engine's HTTP API as a proxy meets it: starts (`/ace/getstream`, `/ace/manifest.m3u8`),
//! playlists, segments, the MPEG-TS redirect and stream (`/ace/r/`, `/content/`), stat, command
//! and the version probe; search (`/search`, `/server/api`) goes to `search`.
//!
//! This module owns turning one request into one answer, including the waits the real engine
//! makes (the fail delay, a playlist or TS redirect blocking while its content prebuffers). It
//! never keeps state of its own (that is `engine`), never paces a stream (that is `stream`) and
//! never holds the engine lock across a wait.
//!
//! Over 400 lines: the last 40 are its tests; the engine's URLs stay one table in one place.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use acebox::http::{Body, query_param, respond};
use async_io::Timer;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Response, StatusCode};

use crate::engine::{Fault, Playlist, Started, Starter, TsOpen, TsStart};
use crate::json::{self, StartUrls};
use crate::playlist::{self, Shape};
use crate::{Call, Sim, ids, search, stream};

/// The redirect-mode answer for no or an unloadable selector.
const COULD_NOT_FIND: &str = "Internal Server Error, couldn't find resource";
const MPEGURL: &str = "application/vnd.apple.mpegurl";
pub const MPEG_TS: &str = "video/mp2t";
/// The length of the broken answer a second reader of one session gets: not whole packets.
const CORRUPT_BYTES: usize = 1000;
/// What a start or playlist fault of `Fault::Garbage` answers: neither JSON nor a playlist.
const GARBAGE: &str = "<html><body>\u{0}}{ not what you asked for</body></html>\n";

/// Which start endpoint was called: it decides the playback URL.
#[derive(Clone, Copy)]
enum Output {
    Hls,
    Ts,
}

/// Answers one request outside `/sim/`.
pub async fn handle(sim: &Arc<Sim>, call: &Call) -> Response<Body> {
    match call.path.as_str() {
        "/ace/manifest.m3u8" => start(sim, call, Output::Hls).await,
        "/ace/getstream" => start(sim, call, Output::Ts).await,
        "/webui/api/service" => version(&call.query),
        "/search" => search::current(sim, call).await,
        "/server/api" => search::server_api(sim, call).await,
        path => match path.strip_prefix("/content/") {
            Some(rest) => content(sim, rest),
            None => session_path(sim, call, path).await,
        },
    }
}

/// The content- and session-scoped URLs under `/ace/`.
async fn session_path(sim: &Sim, call: &Call, path: &str) -> Response<Body> {
    let parts: Option<Vec<&str>> = path.strip_prefix("/ace/").map(|p| p.split('/').collect());
    match parts.as_deref() {
        Some(["m", infohash, file]) => match file.strip_suffix(".m3u8") {
            Some(token) => playlist(sim, call, infohash, token).await,
            None => not_found(),
        },
        Some(["c", infohash, file]) => match file.strip_suffix(".ts").map(str::parse::<u64>) {
            Some(Ok(n)) => segment(sim, infohash, n).await,
            _ => not_found(),
        },
        Some(["stat", infohash, token]) => stat(sim, &call.query, infohash, token),
        Some(["cmd", infohash, token]) => command(sim, &call.query, infohash, token),
        Some(["r", infohash, token]) => ts_redirect(sim, call, infohash, token).await,
        _ => not_found(),
    }
}

/// `/ace/getstream` and `/ace/manifest.m3u8`.
async fn start(sim: &Sim, call: &Call, output: Output) -> Response<Body> {
    let fault = sim.engine().begin_start(&call.query);
    if let Some(fault) = fault {
        eprintln!("acebox-sim: start answered with the fault {fault:?}");
        return faulty(fault, "application/json");
    }
    let json = query_param(&call.query, "format").as_deref() == Some("json");
    if json && !sim.json {
        return text(StatusCode::FORBIDDEN, "Forbidden");
    }
    let Some((selector, hex)) = selector(&call.query) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, COULD_NOT_FIND);
    };
    let content = ids::content_key(&selector);
    let well_formed = !selector.is_empty() && (!hex || ids::is_hex40(&selector));
    let failing = sim.engine().is_failing(&content);
    if !well_formed || failing {
        Timer::after(sim.fail_delay).await;
        eprintln!("acebox-sim: start of {content:?} failed to load");
        return if json {
            json_ok(json::LOAD_FAILED)
        } else {
            text(StatusCode::INTERNAL_SERVER_ERROR, COULD_NOT_FIND)
        };
    }
    Timer::after(sim.start_delay).await;
    let pid = player_id(&call.query, call.peer);
    let starter = if json {
        Starter::Json
    } else {
        Starter::Redirect
    };
    let started = sim.engine().start(&pid, &content, starter, Instant::now());
    log_start(&pid, &content, &started);
    let urls = start_urls(&call.host, &started, output);
    if json {
        json_ok(json::started(&urls, &started))
    } else {
        redirect(&urls.playback)
    }
}

/// The content selector in the engine's order, and whether it must be 40 hex (`url` and
/// `magnet` name contents by other means).
fn selector(query: &str) -> Option<(String, bool)> {
    let names = [
        ("content_id", true),
        ("id", true),
        ("infohash", true),
        ("url", false),
        ("magnet", false),
    ];
    names
        .iter()
        .find_map(|(name, hex)| query_param(query, name).map(|v| (v.into_owned(), *hex)))
}

/// `pid`, else `sid`, else the caller's IP.
fn player_id(query: &str, peer: SocketAddr) -> String {
    ["pid", "sid"]
        .iter()
        .filter_map(|name| query_param(query, name))
        .find(|v| !v.is_empty())
        .map_or_else(|| peer.ip().to_string(), |v| v.into_owned())
}

fn log_start(pid: &str, content: &str, started: &Started) {
    eprintln!(
        "acebox-sim: start pid={pid:?} content={content:?} infohash={} session={}",
        started.infohash, started.session_id
    );
    if started.superseded > 0 {
        eprintln!(
            "acebox-sim: supersede {} other session(s) on {content:?}",
            started.superseded
        );
    }
}

fn start_urls(host: &str, started: &Started, output: Output) -> StartUrls {
    let scope = format!("{}/{}", started.infohash, started.token);
    let playback = match output {
        Output::Hls => format!("http://{host}/ace/m/{scope}.m3u8"),
        Output::Ts => format!("http://{host}/ace/r/{scope}"),
    };
    StartUrls {
        playback,
        stat: format!("http://{host}/ace/stat/{scope}"),
        command: format!("http://{host}/ace/cmd/{scope}"),
    }
}

/// `/ace/m/<infohash>/<token>.m3u8`: blocks while the content prebuffers, at most the start
/// timeout.
async fn playlist(sim: &Sim, call: &Call, infohash: &str, token: &str) -> Response<Body> {
    let deadline = Instant::now() + sim.start_timeout;
    let fault = sim.engine().begin_playlist();
    let response = match fault {
        Some(fault) => faulty(fault, MPEGURL),
        None => wait_for_playlist(sim, call, infohash, token, deadline).await,
    };
    sim.engine().end_playlist(response.status().as_u16());
    response
}

async fn wait_for_playlist(
    sim: &Sim,
    call: &Call,
    infohash: &str,
    token: &str,
    deadline: Instant,
) -> Response<Body> {
    loop {
        let now = Instant::now();
        let answer = sim.engine().playlist(infohash, token, now);
        match answer {
            Playlist::Unknown => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unknown playback session",
                );
            }
            Playlist::Forbidden => return text(StatusCode::FORBIDDEN, "Forbidden"),
            Playlist::Prebuffering { .. } if now >= deadline => {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "start timeout");
            }
            Playlist::Prebuffering { until } => {
                Timer::at(until.min(deadline)).await;
            }
            Playlist::Ready {
                infohash,
                window,
                off_host,
            } => {
                let shape = Shape {
                    host: &call.host,
                    infohash: &infohash,
                    segment_ms: sim.segment_ms,
                    off_host: off_host.as_deref(),
                };
                return respond(StatusCode::OK, MPEGURL, playlist::render(&shape, window));
            }
        }
    }
}

/// `/ace/r/<infohash>/<token>`: like a playlist, blocks while the content prebuffers, then
/// redirects to a fresh `/content/` path of the session.
async fn ts_redirect(sim: &Sim, call: &Call, infohash: &str, token: &str) -> Response<Body> {
    let deadline = Instant::now() + sim.start_timeout;
    sim.engine().begin_ts();
    loop {
        let now = Instant::now();
        let answer = sim.engine().start_ts(infohash, token, now);
        match answer {
            TsStart::Unknown => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unknown playback session",
                );
            }
            TsStart::Forbidden => return text(StatusCode::FORBIDDEN, "Forbidden"),
            TsStart::Prebuffering { .. } if now >= deadline => {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "start timeout");
            }
            TsStart::Prebuffering { until } => {
                Timer::at(until.min(deadline)).await;
            }
            TsStart::Ready { path } => {
                return redirect(&format!("http://{}/content/{infohash}/{path}", call.host));
            }
        }
    }
}

/// `/content/<infohash>/<path>`: the live stream, a broken answer for a second reader of the
/// same session, or 404.
fn content(sim: &Arc<Sim>, rest: &str) -> Response<Body> {
    let Some((infohash, path)) = rest.split_once('/') else {
        return not_found();
    };
    let align = |p| sim.media.ts_align(p);
    let opened = sim.engine().open_ts(infohash, path, align, Instant::now());
    match opened {
        TsOpen::NotFound => not_found(),
        TsOpen::Corrupt => {
            eprintln!("acebox-sim: ts stream {path}: another reader is open, answering garbage");
            respond(StatusCode::OK, MPEG_TS, vec![0u8; CORRUPT_BYTES])
        }
        TsOpen::Stream(reader) => {
            eprintln!("acebox-sim: ts stream {path} of {infohash} opened");
            let mut response = Response::new(stream::body(sim.clone(), reader));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(MPEG_TS));
            response
        }
    }
}

/// `/ace/c/<infohash>/<n>.ts`; held while segments are stalled, spoilt by a segment fault.
async fn segment(sim: &Sim, infohash: &str, n: u64) -> Response<Body> {
    let stall = sim.engine().segment_stall(Instant::now());
    if let Some(until) = stall {
        eprintln!("acebox-sim: segment {n} of {infohash} stalled");
        Timer::at(until).await;
    }
    let fault = sim.engine().take_segment_fault();
    if let Some(fault) = fault {
        eprintln!("acebox-sim: segment {n} of {infohash} answered with the fault {fault:?}");
        return faulty(fault, MPEG_TS);
    }
    let available = sim.engine().segment(infohash, n, Instant::now());
    if !available {
        return not_found();
    }
    let oversize = sim.engine().take_oversize_segment();
    match oversize {
        Some(bytes) => {
            eprintln!("acebox-sim: segment {n} of {infohash} served as {bytes} bytes");
            respond(
                StatusCode::OK,
                MPEG_TS,
                sim.media.oversized(infohash, n, bytes),
            )
        }
        None => respond(StatusCode::OK, MPEG_TS, sim.media.segment(infohash, n)),
    }
}

/// `/ace/stat/<infohash>/<token>`.
fn stat(sim: &Sim, query: &str, infohash: &str, token: &str) -> Response<Body> {
    let touch = query_param(query, "skip_player_activity").as_deref() != Some("1");
    let stat = sim.engine().stat(infohash, token, touch, Instant::now());
    match stat {
        Some(stat) => json_ok(json::stat(&stat)),
        None => json_ok(json::UNKNOWN_SESSION),
    }
}

/// `/ace/cmd/<infohash>/<token>?method=...`: `stop` ends the session, other methods are
/// accepted and ignored.
fn command(sim: &Sim, query: &str, infohash: &str, token: &str) -> Response<Body> {
    if query_param(query, "method").as_deref() != Some("stop") {
        return json_ok(json::COMMAND_OK);
    }
    let stopped = sim.engine().stop(infohash, token, Instant::now());
    if !stopped {
        return json_ok(json::UNKNOWN_SESSION);
    }
    eprintln!("acebox-sim: stop {infohash}/{token}");
    json_ok(json::COMMAND_OK)
}

/// `/webui/api/service?method=get_version`.
fn version(query: &str) -> Response<Body> {
    match query_param(query, "method").as_deref() {
        Some("get_version") => json_ok(json::VERSION),
        _ => not_found(),
    }
}

/// The answer of a start, playlist or segment fault; `content_type` is what the request
/// expected.
fn faulty(fault: Fault, content_type: &str) -> Response<Body> {
    match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text(status, "Internal Server Error")
        }
        Fault::Garbage => respond(StatusCode::OK, content_type, GARBAGE),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain", body)
}

fn json_ok(body: impl Into<bytes::Bytes>) -> Response<Body> {
    respond(StatusCode::OK, "application/json", body)
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "Not Found")
}

fn redirect(location: &str) -> Response<Body> {
    let Ok(value) = HeaderValue::from_str(location) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, COULD_NOT_FIND);
    };
    let mut response = respond(StatusCode::FOUND, "text/plain", "");
    response.headers_mut().insert(LOCATION, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_follows_the_engine_order() {
        assert_eq!(selector("pid=1"), None);
        assert_eq!(selector("id=b&content_id=a"), Some(("a".to_owned(), true)));
        assert_eq!(selector("infohash=c&id=b"), Some(("b".to_owned(), true)));
        assert_eq!(selector("magnet=m&url=u"), Some(("u".to_owned(), false)));
        assert_eq!(selector("magnet=m%3Fx"), Some(("m?x".to_owned(), false)));
    }

    #[test]
    fn player_id_falls_back_to_sid_then_the_caller() {
        let peer: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        assert_eq!(player_id("pid=a&sid=b", peer), "a");
        assert_eq!(player_id("sid=b", peer), "b");
        assert_eq!(player_id("pid=", peer), "192.0.2.9");
    }

    #[test]
    fn start_urls_use_the_host_and_the_output() {
        let started = Started {
            infohash: "ih".to_owned(),
            token: "tk".to_owned(),
            session_id: "s".to_owned(),
            superseded: 0,
        };
        let hls = start_urls("h:1", &started, Output::Hls);
        assert_eq!(hls.playback, "http://h:1/ace/m/ih/tk.m3u8");
        assert_eq!(hls.stat, "http://h:1/ace/stat/ih/tk");
        assert_eq!(hls.command, "http://h:1/ace/cmd/ih/tk");
        assert_eq!(
            start_urls("h:1", &started, Output::Ts).playback,
            "http://h:1/ace/r/ih/tk"
        );
    }
}
