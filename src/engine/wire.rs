//! The engine's answers as data: a `format=json` start, a stat, a redirect-mode start, and the
//! rule that keeps only the path of every URL the engine hands out.
//!
//! This module owns reading what the engine sent into acebox's types, with fixed-size buffers
//! (serde-json-core, heapless). It never performs I/O, never reads the clock and never panics
//! on any input: the fuzz targets in `fuzz/` feed it arbitrary bytes.

use serde::Deserialize;

use super::EngineError;
use crate::http::Fetched;
use crate::session::{EnginePath, Session};

/// What a `format=json` start answered, when it gave no session.
#[derive(Debug, PartialEq, Eq)]
pub enum StartAnswer {
    /// The engine's own error (or a null response with no error).
    Refused(String),
    /// Not the JSON envelope at all: the JSON API is gated.
    NotJson,
}

impl std::fmt::Display for StartAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartAnswer::Refused(e) => write!(f, "the engine refused the start: {e}"),
            StartAnswer::NotJson => f.write_str(
                "the start answer is not the engine's JSON (its JSON API may be turned off)",
            ),
        }
    }
}

impl std::error::Error for StartAnswer {}

#[derive(Deserialize)]
struct StartEnvelope {
    response: Option<StartResponse>,
    error: Option<heapless::String<256>>,
}

#[derive(Deserialize)]
struct StartResponse {
    playback_url: heapless::String<512>,
    stat_url: Option<heapless::String<512>>,
    command_url: Option<heapless::String<512>>,
    playback_session_id: Option<heapless::String<64>>,
}

/// Reads a `format=json` start answer (public for the fuzz targets in `fuzz/`).
pub fn parse_start(body: &[u8]) -> Result<Session, StartAnswer> {
    let mut scratch = [0u8; 1024];
    let (envelope, _) = serde_json_core::from_slice_escaped::<StartEnvelope>(body, &mut scratch)
        .map_err(|_| StartAnswer::NotJson)?;
    let response = match (envelope.response, envelope.error) {
        (_, Some(error)) => return Err(StartAnswer::Refused(error.as_str().to_owned())),
        (None, None) => {
            return Err(StartAnswer::Refused(
                "the engine returned no session".into(),
            ));
        }
        (Some(response), None) => response,
    };
    let refused =
        |what: &str| StartAnswer::Refused(format!("the engine returned an unusable {what}"));
    let mut session = Session {
        playback: rebase(&response.playback_url).ok_or_else(|| refused("playback_url"))?,
        ..Session::default()
    };
    if let Some(stat) = response.stat_url {
        session.stat = rebase(&stat).ok_or_else(|| refused("stat_url"))?;
    }
    if let Some(command) = response.command_url {
        session.command = rebase(&command).ok_or_else(|| refused("command_url"))?;
    }
    if let Some(id) = response.playback_session_id {
        session.playback_session_id =
            heapless::String::try_from(id.as_str()).map_err(|_| refused("playback_session_id"))?;
    }
    Ok(session)
}

/// What the engine says of a session: its state and swarm, from the stat URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStat {
    /// `prebuf`, `buf`, `dl` (playing), `check`, `idle` or `err`.
    pub status: heapless::String<16>,
    pub peers: u32,
    /// KB/s from and to the swarm.
    pub speed_down: u32,
    pub speed_up: u32,
    /// Prebuffering progress, 0 to 100, while `status` is `prebuf`.
    pub progress: Option<u32>,
    /// The engine's message when `status` is `err`.
    pub error: heapless::String<{ STAT_TEXT }>,
    /// The newest moment of a live stream the engine has (`livepos.last_ts`, Unix seconds):
    /// it stops moving when the broadcast does.
    pub live_pos: Option<u64>,
}

/// Bytes of the engine's error message kept from a stat answer.
const STAT_TEXT: usize = 160;

#[derive(Deserialize)]
struct StatEnvelope {
    response: Option<StatResponse>,
    error: Option<heapless::String<256>>,
}

#[derive(Deserialize)]
struct StatResponse {
    status: Option<heapless::String<16>>,
    peers: Option<u32>,
    speed_down: Option<u32>,
    speed_up: Option<u32>,
    progress: Option<u32>,
    error_message: Option<heapless::String<{ STAT_TEXT }>>,
    livepos: Option<LivePos>,
}

/// A live stream's position in a stat; the engine sends its numbers as strings.
#[derive(Deserialize)]
struct LivePos {
    last_ts: Option<heapless::String<24>>,
}

/// Reads a stat answer. The first poll of a session may answer an empty object: that is a
/// stat with an empty status, not an error.
pub fn parse_stat(body: &[u8]) -> Result<EngineStat, EngineError> {
    let mut scratch = [0u8; 512];
    let (envelope, _) = serde_json_core::from_slice_escaped::<StatEnvelope>(body, &mut scratch)
        .map_err(|e| EngineError::BadAnswer(format!("stat is not the engine's JSON ({e})")))?;
    let response = match (envelope.response, envelope.error) {
        (_, Some(error)) => return Err(EngineError::Refused(error.as_str().to_owned())),
        (None, None) => return Err(EngineError::BadAnswer("an empty stat".into())),
        (Some(response), None) => response,
    };
    Ok(EngineStat {
        status: response.status.unwrap_or_default(),
        peers: response.peers.unwrap_or(0),
        speed_down: response.speed_down.unwrap_or(0),
        speed_up: response.speed_up.unwrap_or(0),
        progress: response.progress,
        error: response.error_message.unwrap_or_default(),
        live_pos: response
            .livepos
            .and_then(|p| p.last_ts)
            .and_then(|t| t.parse().ok()),
    })
}

#[derive(Deserialize)]
struct VersionEnvelope {
    result: Option<VersionResult>,
}

#[derive(Deserialize)]
struct VersionResult {
    version: Option<heapless::String<32>>,
}

/// Reads the engine's `get_version` answer, `{"result": {"version": "3.1.70", ...}}`: the
/// version it runs (the answer of an engine alive enough to be played from).
pub fn parse_version(body: &[u8]) -> Result<heapless::String<16>, EngineError> {
    let mut scratch = [0u8; 128];
    let (envelope, _) = serde_json_core::from_slice_escaped::<VersionEnvelope>(body, &mut scratch)
        .map_err(|e| EngineError::BadAnswer(format!("version is not the engine's JSON ({e})")))?;
    let version = envelope
        .result
        .and_then(|r| r.version)
        .ok_or_else(|| EngineError::BadAnswer("the version answer has no version".into()))?;
    Ok(crate::clip(&version))
}

/// Reads a redirect-mode start answer: the playback path from `Location`, with the stat and command
/// paths derived from it where the engine's naming allows.
pub(super) fn session_from_redirect(answer: &Fetched) -> Result<Session, EngineError> {
    if answer.status.is_redirection() {
        let location = answer.location.as_deref().unwrap_or_default();
        let playback = rebase(location)
            .ok_or_else(|| EngineError::BadAnswer(format!("unusable redirect to {location:?}")))?;
        return Ok(Session {
            stat: sibling(&playback, "stat").unwrap_or_default(),
            command: sibling(&playback, "cmd").unwrap_or_default(),
            playback,
            ..Session::default()
        });
    }
    let text = String::from_utf8_lossy(&answer.body);
    let text = text.trim();
    if answer.status.is_server_error() && !text.is_empty() {
        // Redirect-mode errors are text: "Internal Server Error, couldn't find resource".
        return Err(EngineError::Refused(text.chars().take(200).collect()));
    }
    if answer.status.is_success() {
        // "Answered HTTP 200" would read as no error at all: say what was wrong with it.
        return Err(EngineError::BadAnswer(format!(
            "a start answered HTTP {} with neither the JSON nor the redirect asked for",
            answer.status.as_u16()
        )));
    }
    Err(EngineError::Status(answer.status.as_u16()))
}

/// The stat or command path of a session known only by its playback path: the engine names all
/// three `/ace/<kind>/<infohash>/<token>` (`/ace/m/<infohash>/<token>.m3u8` for HLS,
/// `/ace/r/<infohash>/<token>` for TS). Lets acebox stop sessions started in redirect mode.
fn sibling(playback: &str, kind: &str) -> Option<EnginePath> {
    let rest = playback
        .strip_prefix("/ace/m/")
        .or_else(|| playback.strip_prefix("/ace/r/"))?;
    let (infohash, token) = rest.split_once('/')?;
    let token = token.strip_suffix(".m3u8").unwrap_or(token);
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex(infohash) && hex(token)) {
        return None;
    }
    let mut path = EnginePath::new();
    for part in ["/ace/", kind, "/", infohash, "/", token] {
        path.push_str(part).ok()?;
    }
    Some(path)
}

/// The path and query of an engine URL, which is all acebox keeps of it: absolute URLs name the
/// host the engine was called on, which may not be the address acebox reaches it at. `None` for
/// anything that is not an `http://` URL or an absolute path, for a path starting `//` (which
/// reads as naming a host), and for one that holds spaces or controls.
pub fn rebase(url: &str) -> Option<EnginePath> {
    let path = match url.strip_prefix("http://") {
        Some(rest) => &rest[rest.find('/')?..],
        None => url,
    };
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        return None;
    }
    heapless::String::try_from(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hyper::StatusCode;

    #[test]
    fn rebase_keeps_only_the_path() {
        assert_eq!(
            rebase("http://127.0.0.1:6878/ace/m/ab/cd.m3u8").unwrap(),
            "/ace/m/ab/cd.m3u8"
        );
        assert_eq!(
            rebase("http://10.0.0.9/ace/r/ab/cd?x=1").unwrap(),
            "/ace/r/ab/cd?x=1"
        );
        assert_eq!(rebase("/ace/stat/ab/cd").unwrap(), "/ace/stat/ab/cd");
        assert_eq!(rebase("https://evil/ace"), None);
        assert_eq!(rebase("//evil/ace"), None);
        assert_eq!(
            rebase("http://127.0.0.1:6878//evil/ace"),
            None,
            "the path of an absolute URL may not name a host either"
        );
        assert_eq!(rebase("http://evil"), None);
        assert_eq!(rebase("http://e/a b"), None);
        assert_eq!(rebase("ace/m/x"), None);
    }

    #[test]
    fn version_answers_say_the_version_or_why_not() {
        let answer = br#"{"result": {"code": 3017000, "platform": "linux", "version": "3.1.70"}, "error": null}"#;
        assert_eq!(parse_version(answer).unwrap().as_str(), "3.1.70");
        assert!(matches!(
            parse_version(br#"{"result": null, "error": "x"}"#),
            Err(EngineError::BadAnswer(_))
        ));
        assert!(matches!(
            parse_version(b"<html>"),
            Err(EngineError::BadAnswer(_))
        ));
    }

    #[test]
    fn stat_answers_are_read_in_every_known_shape() {
        let playing = br#"{"response": {"status": "dl", "peers": 7, "speed_down": 512,
            "speed_up": 64, "downloaded": 1000, "livepos": {"first_ts": "1", "pos": "2"},
            "progress": 0}, "error": null}"#;
        let stat = parse_stat(playing).unwrap();
        assert_eq!(
            (
                stat.status.as_str(),
                stat.peers,
                stat.speed_down,
                stat.speed_up
            ),
            ("dl", 7, 512, 64)
        );
        assert_eq!(stat.live_pos, None, "no last_ts");
        let live = br#"{"response": {"status": "dl", "livepos": {"last_ts": "1700000123",
            "first_ts": "1700000000", "pos": "1700000123", "buffer_pieces": "15"}}, "error": null}"#;
        assert_eq!(parse_stat(live).unwrap().live_pos, Some(1_700_000_123));
        let failed = br#"{"response": {"status": "err", "error_message": "no peers \u00e9"}, "error": null}"#;
        assert_eq!(
            parse_stat(failed).unwrap().error.as_str(),
            "no peers \u{e9}"
        );
        assert_eq!(
            parse_stat(br#"{"response": {}, "error": null}"#).unwrap(),
            EngineStat::default(),
            "the first poll may answer an empty object"
        );
        let dead = br#"{"response": null, "error": "unknown playback session id"}"#;
        assert!(matches!(parse_stat(dead), Err(EngineError::Refused(_))));
        assert!(matches!(
            parse_stat(b"<html>"),
            Err(EngineError::BadAnswer(_))
        ));
    }

    #[test]
    fn parses_a_json_start_and_rebases_its_urls() {
        let body = br#"{"response": {"playback_url": "http://127.0.0.1:6878/ace/m/aa/bb.m3u8",
            "stat_url": "http:\/\/127.0.0.1:6878\/ace\/stat\/aa\/bb", "command_url": "http://127.0.0.1:6878/ace/cmd/aa/bb",
            "infohash": "aa", "playback_session_id": "cafe", "is_live": 1, "is_encrypted": 0,
            "client_session_id": -1, "is_direct": 0}, "error": null}"#;
        let s = parse_start(body).unwrap();
        assert_eq!(s.playback, "/ace/m/aa/bb.m3u8");
        assert_eq!(s.stat, "/ace/stat/aa/bb", "escaped slashes are unescaped");
        assert_eq!(s.command, "/ace/cmd/aa/bb");
        assert_eq!(s.playback_session_id, "cafe");
    }

    #[test]
    fn json_errors_and_gated_api_are_told_apart() {
        assert_eq!(
            parse_start(br#"{"response": null, "error": "failed to load content"}"#),
            Err(StartAnswer::Refused("failed to load content".into()))
        );
        assert!(matches!(
            parse_start(br#"{"response": null, "error": null}"#),
            Err(StartAnswer::Refused(_))
        ));
        assert_eq!(
            parse_start(b"<html>Forbidden</html>"),
            Err(StartAnswer::NotJson)
        );
        assert!(matches!(
            parse_start(br#"{"response": {"playback_url": "ftp://x/y"}, "error": null}"#),
            Err(StartAnswer::Refused(_))
        ));
    }

    #[test]
    fn redirect_answers_become_sessions_or_errors() {
        let fetched = |status: u16, location: Option<&str>, body: &'static [u8]| Fetched {
            status: StatusCode::from_u16(status).unwrap(),
            location: location.map(str::to_owned),
            body: Bytes::from_static(body),
        };
        let s = session_from_redirect(&fetched(
            302,
            Some("http://127.0.0.1:6878/ace/m/a/b.m3u8"),
            b"",
        ))
        .unwrap();
        assert_eq!(s.playback, "/ace/m/a/b.m3u8");
        assert_eq!(
            s.command, "/ace/cmd/a/b",
            "derived, so the session can be stopped"
        );
        assert_eq!(s.stat, "/ace/stat/a/b");
        let ts = session_from_redirect(&fetched(302, Some("/ace/r/ab12/cd34"), b"")).unwrap();
        assert_eq!(ts.command, "/ace/cmd/ab12/cd34");
        let odd = session_from_redirect(&fetched(302, Some("/content/x/y"), b"")).unwrap();
        assert!(odd.command.is_empty(), "no guess for an unknown shape");
        assert_eq!(
            session_from_redirect(&fetched(
                500,
                None,
                b"Internal Server Error, couldn't find resource"
            )),
            Err(EngineError::Refused(
                "Internal Server Error, couldn't find resource".into()
            ))
        );
        assert_eq!(
            session_from_redirect(&fetched(404, None, b"")),
            Err(EngineError::Status(404))
        );
        let garbage = session_from_redirect(&fetched(200, None, b"<html>")).unwrap_err();
        assert!(
            matches!(&garbage, EngineError::BadAnswer(e) if e.contains("neither")),
            "{garbage}"
        );
    }
}
