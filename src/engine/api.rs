//! The calls to the engine: start (JSON first, redirect mode when the JSON API is gated),
//! playlist, segment, the MPEG-TS stream with its redirects, stat and stop, each with its
//! timeout and size limit.
//!
//! This module owns the requests: which path each asks for, how long it may take and how large
//! its answer may be. It never reads an answer's format itself (that is `wire`), never holds a
//! lock across a call and never retries.

use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::LOCATION;

use super::EngineError;
use super::wire::{
    EngineStat, StartAnswer, parse_start, parse_stat, parse_version, rebase, session_from_redirect,
};
use crate::http::{self, Origin, push_percent_encoded};
use crate::session::{EnginePath, Session};

/// A start may block while the engine resolves the content (about 4 s for a bad id, about 28 s
/// for an unknown infohash); headers-in-10-s is known to be too short. The whole start, the JSON
/// attempt and the redirect-mode one with their heads and bodies, gets this long once.
const START_TIMEOUT: Duration = Duration::from_secs(45);
/// The playlist request blocks while the session prebuffers, which may take a minute.
const PLAYLIST_TIMEOUT: Duration = Duration::from_secs(30);
/// A segment is a few seconds of video from a local engine.
pub const SEGMENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The engine may hang on stop; nobody waits for it. Stat polls get the same short leash.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// A health check: the engine's version, from an engine alive enough to play from.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
const VERSION_PATH: &str = "/webui/api/service?method=get_version";
/// The engine redirects a TS start once (to `/content/...`); more is a loop.
const MAX_REDIRECTS: usize = 3;
/// Start answers, playlists and stop answers are small.
const SMALL_BODY: usize = 256 * 1024;

/// How a session is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Hls,
    Ts,
}

impl Mode {
    fn start_path(self) -> &'static str {
        match self {
            Mode::Hls => "/ace/manifest.m3u8",
            Mode::Ts => "/ace/getstream",
        }
    }
}

/// What content a start asks for: the query parameter name and its 40-hex value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector {
    ContentId,
    Infohash,
}

impl Selector {
    pub fn param(self) -> &'static str {
        match self {
            Selector::ContentId => "content_id",
            Selector::Infohash => "infohash",
        }
    }
}

/// Everything a start needs; `extra` is a query fragment (`&name=value`...) already encoded.
pub struct StartRequest<'a> {
    pub mode: Mode,
    pub selector: Selector,
    pub id: &'a str,
    pub pid: &'a str,
    pub extra: &'a str,
}

/// One configured engine.
#[derive(Clone, Debug)]
pub struct Engine {
    origin: Origin,
}

impl Engine {
    pub fn new(origin: Origin) -> Engine {
        Engine { origin }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Starts (or restarts) the session of `req.pid`: the JSON API first, and when the engine
    /// gates it, redirect mode with the playback URL read from `Location`; both within
    /// [`START_TIMEOUT`] together.
    pub async fn start(&self, req: &StartRequest<'_>) -> Result<Session, EngineError> {
        self.start_within(req, START_TIMEOUT).await
    }

    /// [`Engine::start`] within `limit`.
    async fn start_within(
        &self,
        req: &StartRequest<'_>,
        limit: Duration,
    ) -> Result<Session, EngineError> {
        let start = async {
            let json = http::get(&self.origin, &start_path(req, "json"), limit, SMALL_BODY).await?;
            if json.status == StatusCode::OK {
                match parse_start(&json.body) {
                    Ok(session) => return Ok(session),
                    Err(StartAnswer::Refused(e)) => return Err(EngineError::Refused(e)),
                    Err(StartAnswer::NotJson) => {}
                }
            }
            log::info!(
                "engine JSON API unavailable (HTTP {}); starting in redirect mode",
                json.status.as_u16()
            );
            let redirect = http::get(
                &self.origin,
                &start_path(req, "redirect"),
                limit,
                SMALL_BODY,
            )
            .await?;
            session_from_redirect(&redirect)
        };
        start
            .or(async {
                Timer::after(limit).await;
                Err(EngineError::Timeout)
            })
            .await
    }

    /// The session's HLS playlist.
    pub async fn playlist(&self, path: &str) -> Result<Bytes, EngineError> {
        self.fetch_ok(path, PLAYLIST_TIMEOUT, SMALL_BODY).await
    }

    /// One segment, at most `limit` bytes.
    pub async fn segment(&self, path: &str, limit: usize) -> Result<Bytes, EngineError> {
        self.fetch_ok(path, SEGMENT_TIMEOUT, limit).await
    }

    /// Opens the session's MPEG-TS stream, following the engine's redirects to its content URL
    /// (each rebased onto the engine); the answer's body is the stream.
    pub async fn stream(&self, path: &str) -> Result<Incoming, EngineError> {
        let mut path = EnginePath::try_from(path)
            .map_err(|_| EngineError::BadAnswer("path too long".into()))?;
        for _ in 0..MAX_REDIRECTS {
            let response =
                http::with_timeout(PLAYLIST_TIMEOUT, http::request_head(&self.origin, &path))
                    .await?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                path = rebase(location).ok_or_else(|| {
                    EngineError::BadAnswer(format!("unusable redirect to {location:?}"))
                })?;
                continue;
            }
            if status != StatusCode::OK {
                return Err(EngineError::Status(status.as_u16()));
            }
            return Ok(response.into_body());
        }
        Err(EngineError::BadAnswer("too many redirects".into()))
    }

    /// The session's stat, asked so that the engine does not count it as player activity.
    pub async fn stat(&self, session: &Session) -> Result<EngineStat, EngineError> {
        if session.stat.is_empty() {
            return Err(EngineError::BadAnswer(
                "the session has no stat URL (redirect mode)".into(),
            ));
        }
        let path = with_query(&session.stat, "skip_player_activity=1");
        parse_stat(&self.fetch_ok(&path, STOP_TIMEOUT, SMALL_BODY).await?)
    }

    /// The version the engine runs: its health check, with a short timeout.
    pub async fn version(&self) -> Result<heapless::String<16>, EngineError> {
        parse_version(
            &self
                .fetch_ok(VERSION_PATH, CHECK_TIMEOUT, SMALL_BODY)
                .await?,
        )
    }

    /// `method=stop` on a session's command URL, with a short timeout.
    pub async fn stop(&self, session: &Session) -> Result<(), EngineError> {
        if session.command.is_empty() {
            return Err(EngineError::BadAnswer(
                "the session has no command URL (redirect mode)".into(),
            ));
        }
        let path = with_query(&session.command, "method=stop");
        self.fetch_ok(&path, STOP_TIMEOUT, SMALL_BODY)
            .await
            .map(drop)
    }

    async fn fetch_ok(
        &self,
        path: &str,
        timeout: Duration,
        limit: usize,
    ) -> Result<Bytes, EngineError> {
        let fetched = http::get(&self.origin, path, timeout, limit).await?;
        if fetched.status != StatusCode::OK {
            return Err(EngineError::Status(fetched.status.as_u16()));
        }
        Ok(fetched.body)
    }
}

/// `path` with `param` added to its query.
fn with_query(path: &str, param: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{param}")
}

fn start_path(req: &StartRequest<'_>, format: &str) -> String {
    let mut path = String::with_capacity(128 + req.extra.len());
    path.push_str(req.mode.start_path());
    path.push('?');
    path.push_str(req.selector.param());
    path.push('=');
    push_percent_encoded(&mut path, req.id);
    path.push_str("&pid=");
    push_percent_encoded(&mut path, req.pid);
    path.push_str("&format=");
    path.push_str(format);
    path.push_str(req.extra);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    /// An engine that gates its JSON API and answers both starts slowly, each within the
    /// limit: the start as a whole is not.
    #[test]
    fn a_start_takes_its_time_limit_once_for_both_attempts() {
        let gated = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let found =
            "HTTP/1.1 302 Found\r\nLocation: /ace/m/ab/cd.m3u8\r\nContent-Length: 0\r\n\r\n";
        let origin = crate::http::slow_peer(vec![(300, gated, 0, ""), (300, found, 0, "")]);
        let req = StartRequest {
            mode: Mode::Hls,
            selector: Selector::ContentId,
            id: ID,
            pid: "acebox-x",
            extra: "",
        };
        let started =
            smol::block_on(Engine::new(origin).start_within(&req, Duration::from_millis(450)));
        assert!(matches!(started, Err(EngineError::Timeout)), "{started:?}");
    }

    #[test]
    fn start_path_encodes_every_value() {
        let req = StartRequest {
            mode: Mode::Hls,
            selector: Selector::ContentId,
            id: ID,
            pid: "acebox 1&x",
            extra: "&transcode_audio=1",
        };
        assert_eq!(
            start_path(&req, "json"),
            format!(
                "/ace/manifest.m3u8?content_id={ID}&pid=acebox%201%26x&format=json&transcode_audio=1"
            )
        );
    }
}
