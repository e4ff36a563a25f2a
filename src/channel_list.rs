//! The channel list: an M3U of AceStream channels read from `--channels FILE` and served at
//! `GET /playlist.m3u` with every AceStream entry pointing at acebox, so a TV app needs one URL.
//!
//! Owns reading the file (bounded in size, re-read when its modification time or length
//! changes), parsing it, and rendering it for the host a client used. It never starts a channel
//! or talks to the engine, never writes the file, and never copies a client's bytes into the
//! playlist other than a `Host` that is a plain `host[:port]`.

use std::fmt::{self, Write};
use std::fs::File;
use std::io::{self, Read};
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::channel::ContentId;
use crate::engine::{Mode, Selector};
use crate::http::{Body, LocalAddr, json_error, query_param, respond};

/// The largest channel list read (about 1,200 channels with names, logos and groups; 6,000
/// bare ids). With [`MAX_HOST_LEN`] it bounds a rendered list to about 1 MB.
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// The longest `Host` header put into the playlist (a bracketed IPv6 address with a port is 47).
const MAX_HOST_LEN: usize = 100;
/// How often, at most, the file is checked for changes.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Dropped entries warned about one by one in a load; the rest are counted in one line.
const DROPPED_WARNINGS: usize = 10;
/// Characters of a dropped line quoted in its warning.
const QUOTED_CHARS: usize = 60;
const CONTENT_TYPE: &str = "audio/x-mpegurl";

/// A parsed channel list: the header, the AceStream entries with the lines before each kept as
/// written, and the lines after the last entry.
#[derive(Debug)]
struct Playlist {
    header: String,
    entries: Vec<Entry>,
    tail: String,
    /// Every entry served: the rewritten ones and the URLs kept unchanged.
    channels: usize,
}

/// One AceStream entry: what comes before it (each line ending in `\n`) and what it plays.
#[derive(Debug)]
struct Entry {
    before: String,
    id: ContentId,
    selector: Selector,
}

/// A line of the file that was left out because it names no valid content.
#[derive(Debug, PartialEq)]
struct Dropped {
    /// 1-based, as an editor shows it.
    line: usize,
    text: String,
    reason: String,
}

/// What one line of the file is.
enum Line {
    /// `#EXTINF`, `#EXTGRP`, `#EXTVLCOPT` or any other `#` line: describes the next entry.
    Directive,
    /// A URL acebox does not rewrite (not AceStream): served as written.
    Other,
    /// An AceStream entry, to be pointed at acebox.
    Stream(ContentId, Selector),
    /// Looks like an AceStream entry but names no valid content; why.
    Malformed(String),
}

impl Playlist {
    /// The list with every AceStream entry as an acebox URL on `authority` (`host[:port]`, already
    /// checked), for MPEG-TS (`/ace/getstream`) or HLS (`/ace/manifest.m3u8`).
    fn render(&self, authority: &str, mode: Mode) -> String {
        let path = match mode {
            Mode::Ts => "/ace/getstream",
            Mode::Hls => "/ace/manifest.m3u8",
        };
        let mut out = String::new();
        push_line(&mut out, &self.header);
        for entry in &self.entries {
            let param = match entry.selector {
                Selector::ContentId => "id",
                Selector::Infohash => "infohash",
            };
            out.push_str(&entry.before);
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "http://{authority}{path}?{param}={}",
                entry.id.as_str()
            );
        }
        out.push_str(&self.tail);
        out
    }
}

/// Reads an M3U channel list. `#` lines are kept as written (the `#EXTM3U` header with its
/// attributes, `#EXTINF` with names, logos and groups); AceStream entries (`acestream://<id>`,
/// a bare 40-hex id, or an engine URL with `id=`, `content_id=` or `infohash=`) are kept to be
/// rewritten; other URLs are kept unchanged. An AceStream entry with no valid id is dropped
/// with the lines that describe it. Blank lines go; CRLF is read as LF.
fn parse(text: &str) -> (Playlist, Vec<Dropped>) {
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .zip(1..)
        .map(|(line, number)| (number, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .peekable();
    let header = match lines.next_if(|(_, line)| line.starts_with("#EXTM3U")) {
        Some((_, header)) => header.to_owned(),
        None => "#EXTM3U".to_owned(),
    };
    let (mut entries, mut channels, mut dropped) = (Vec::new(), 0, Vec::new());
    // Lines that will stand before the next AceStream entry, and the `#` lines since the last
    // entry, which describe the next one and go with it if it is dropped.
    let (mut settled, mut pending) = (String::new(), String::new());
    for (number, line) in lines {
        match classify(line) {
            Line::Directive => push_line(&mut pending, line),
            Line::Other => {
                settled.push_str(&std::mem::take(&mut pending));
                push_line(&mut settled, line);
                channels += 1;
            }
            Line::Stream(id, selector) => {
                settled.push_str(&std::mem::take(&mut pending));
                let before = std::mem::take(&mut settled);
                entries.push(Entry {
                    before,
                    id,
                    selector,
                });
                channels += 1;
            }
            Line::Malformed(reason) => {
                pending.clear();
                dropped.push(Dropped {
                    line: number,
                    text: line.chars().take(QUOTED_CHARS).collect(),
                    reason,
                });
            }
        }
    }
    settled.push_str(&pending);
    let playlist = Playlist {
        header,
        entries,
        tail: settled,
        channels,
    };
    (playlist, dropped)
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

fn classify(line: &str) -> Line {
    if line.starts_with('#') {
        return Line::Directive;
    }
    if let Some(rest) = strip_prefix_ignore_case(line, "acestream://") {
        // Tolerate `acestream://<id>/` and `acestream://<id>?...`.
        let id = rest.split(['/', '?', '#']).next().unwrap_or_default();
        return content(id);
    }
    if line.bytes().all(|b| b.is_ascii_hexdigit()) {
        return content(line);
    }
    match engine_query(line) {
        Some(query) => match crate::router::selector(query) {
            Ok((id, selector)) => Line::Stream(id, selector),
            Err(reason) => Line::Malformed(reason),
        },
        None => Line::Other,
    }
}

fn content(id: &str) -> Line {
    match ContentId::parse(id) {
        Ok(id) => Line::Stream(id, Selector::ContentId),
        Err(e) => Line::Malformed(e.to_string()),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The query of an engine start URL, `http://HOST/ace/getstream?...` or
/// `http://HOST/ace/manifest.m3u8?...` (empty when it has none); `None` for any other line.
fn engine_query(line: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(line, "http://")
        .or_else(|| strip_prefix_ignore_case(line, "https://"))?;
    let (_authority, target) = rest.split_once('/')?;
    let target = target.split('#').next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    matches!(path, "ace/getstream" | "ace/manifest.m3u8").then_some(query)
}

/// Why a channel list could not be used.
#[derive(Debug)]
pub struct LoadError {
    path: PathBuf,
    problem: Problem,
}

#[derive(Debug)]
enum Problem {
    Read(io::Error),
    TooLarge(u64),
    /// Not UTF-8 from this line on.
    NotText(usize),
    NoChannels,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", named(&self.path))?;
        match &self.problem {
            Problem::Read(e) => write!(f, "cannot be read: {e}"),
            Problem::TooLarge(len) => write!(
                f,
                "is too large ({len} bytes); a channel list may be at most {MAX_FILE_BYTES} bytes"
            ),
            Problem::NotText(line) => {
                write!(f, "is not UTF-8 text (line {line}); save it as UTF-8")
            }
            Problem::NoChannels => f.write_str(
                "holds no channels: list acestream://<content id> links, 40-hex content ids or \
                 engine URLs, one per line",
            ),
        }
    }
}

/// How logs and errors name the list: `channel list "/etc/acebox/channels.m3u"`.
fn named(path: &Path) -> String {
    format!("channel list {:?}", path.display().to_string())
}

/// The file's modification time and length: when either differs, the file is read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Stamp {
    /// The stamp of the file at `path` now; `None` when it cannot be looked at.
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// Reads and parses the list at `path`, warning about each dropped entry (the first
/// [`DROPPED_WARNINGS`]; the rest are counted).
fn load(path: &Path) -> Result<Playlist, LoadError> {
    let fail = |problem| LoadError {
        path: path.to_owned(),
        problem,
    };
    let file = File::open(path).map_err(|e| fail(Problem::Read(e)))?;
    let len = file.metadata().map_err(|e| fail(Problem::Read(e)))?.len();
    if len > MAX_FILE_BYTES {
        return Err(fail(Problem::TooLarge(len)));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // One byte more than allowed tells a file that grew since its length was read.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(Problem::Read(e)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(Problem::TooLarge(bytes.len() as u64)));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        fail(Problem::NotText(
            1 + valid.iter().filter(|b| **b == b'\n').count(),
        ))
    })?;
    let (playlist, dropped) = parse(&text);
    let name = named(path);
    for d in dropped.iter().take(DROPPED_WARNINGS) {
        log::warn!(
            "{name}: line {} dropped ({:?}): {}",
            d.line,
            d.text,
            d.reason
        );
    }
    if dropped.len() > DROPPED_WARNINGS {
        let more = dropped.len() - DROPPED_WARNINGS;
        log::warn!("{name}: {more} more malformed entries dropped");
    }
    if playlist.channels == 0 {
        return Err(fail(Problem::NoChannels));
    }
    Ok(playlist)
}

/// The list served at `/playlist.m3u`, re-read when its file changes.
pub struct ChannelList {
    path: PathBuf,
    state: Mutex<State>,
    /// The last list rendered, shared by every response that asks for the same one: a TV
    /// app's polls cost no copy of the list.
    rendered: Mutex<Option<Rendered>>,
}

/// A list rendered for one authority and mode.
struct Rendered {
    playlist: Arc<Playlist>,
    authority: String,
    mode: Mode,
    body: Bytes,
}

struct State {
    /// The last list read well: served while the file is missing or bad.
    playlist: Arc<Playlist>,
    /// The file as last looked at, read well or not: a bad file is read once, not every check.
    seen: Option<Stamp>,
    checked: Instant,
    /// What is wrong with the file now, already warned about; `None` while it is fine.
    problem: Option<String>,
}

impl ChannelList {
    /// Reads the list at `path`; an unreadable or unusable file is an error, never an empty list.
    pub fn open(path: &Path) -> Result<ChannelList, LoadError> {
        let seen = Stamp::of(path);
        let playlist = load(path)?;
        log::info!("{}: {} channels", named(path), playlist.channels);
        Ok(ChannelList {
            path: path.to_owned(),
            state: Mutex::new(State {
                playlist: Arc::new(playlist),
                seen,
                checked: Instant::now(),
                problem: None,
            }),
            rendered: Mutex::new(None),
        })
    }

    /// The list to serve now: read again first if the file changed (checked at most once
    /// every [`CHECK_EVERY`], by its metadata only).
    fn current(&self) -> Arc<Playlist> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            self.refresh(&mut state);
        }
        Arc::clone(&state.playlist)
    }

    /// The current list rendered for `authority` and `mode`: the one rendered last if it is
    /// the same, else rendered now (and kept in its place).
    fn rendered(&self, authority: &str, mode: Mode) -> Bytes {
        let playlist = self.current();
        let mut last = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = last.as_ref().filter(|r| {
            Arc::ptr_eq(&r.playlist, &playlist) && r.authority == authority && r.mode == mode
        }) {
            return r.body.clone();
        }
        let body = Bytes::from(playlist.render(authority, mode));
        *last = Some(Rendered {
            playlist,
            authority: authority.to_owned(),
            mode,
            body: body.clone(),
        });
        body
    }

    fn refresh(&self, state: &mut State) {
        let now = Stamp::of(&self.path);
        // A file that cannot be looked at is tried every time: `load` says what is wrong.
        if now.is_some() && now == state.seen {
            return;
        }
        state.seen = now;
        match load(&self.path) {
            Ok(playlist) => {
                let name = named(&self.path);
                log::info!("{name} changed: {} channels", playlist.channels);
                state.playlist = Arc::new(playlist);
                state.problem = None;
            }
            Err(e) => {
                let problem = e.to_string();
                if state.problem.as_ref() != Some(&problem) {
                    log::warn!("{problem}; serving the list read before");
                    state.problem = Some(problem);
                }
            }
        }
    }
}

/// `GET /playlist.m3u[?hls=1]`: the channel list for the host the client used. `list` is
/// `None` when acebox runs without `--channels`.
pub fn serve<B>(list: Option<&ChannelList>, req: &Request<B>) -> Response<Body> {
    let Some(list) = list else {
        return json_error(
            StatusCode::NOT_FOUND,
            "no channel list: start acebox with --channels FILE (an M3U of acestream:// links)",
        );
    };
    let mode = match query_param(req.uri().query().unwrap_or(""), "hls").as_deref() {
        None | Some("0") => Mode::Ts,
        Some("1") => Mode::Hls,
        Some(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "hls= takes 1 (HLS URLs) or 0 (MPEG-TS URLs, the default)",
            );
        }
    };
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
    let Some(authority) = authority(req.headers().get(header::HOST), local) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "send a Host header naming this server, like Host: 192.168.1.10:6880",
        );
    };
    let mut response = respond(
        StatusCode::OK,
        CONTENT_TYPE,
        list.rendered(&authority, mode),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The `host[:port]` for the playlist's URLs: the client's `Host` when it is a plain authority,
/// else the address the connection came in on.
fn authority(host: Option<&HeaderValue>, local: Option<SocketAddr>) -> Option<String> {
    host.and_then(|h| h.to_str().ok())
        .filter(|h| is_plain_authority(h))
        .map(str::to_owned)
        .or_else(|| local.map(|a| a.to_string()))
}

/// Whether `text` is `host[:port]` and nothing else: a name or IPv4 address of ASCII letters,
/// digits, `.` and `-`, or a bracketed IPv6 address, then an optional port from 1 to 65535.
fn is_plain_authority(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (text, None),
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    text.len() <= MAX_HOST_LEN && host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn rendered(text: &str) -> String {
        let (playlist, dropped) = parse(text);
        assert_eq!(dropped, [], "{text}");
        playlist.render("tv.lan:6880", Mode::Ts)
    }

    #[test]
    fn every_entry_form_points_at_acebox() {
        let ts = format!("http://tv.lan:6880/ace/getstream?id={A}\n");
        for entry in [
            format!("acestream://{A}"),
            format!("AceStream://{A}/"),
            format!("acestream://{A}?from=site"),
            A.to_owned(),
            A.to_uppercase(),
            format!("http://127.0.0.1:6878/ace/getstream?id={A}"),
            format!("http://192.168.1.2:6878/ace/manifest.m3u8?content_id={A}&pid=1"),
            format!("https://engine/ace/getstream?pid=x&id={A}#x"),
        ] {
            assert_eq!(rendered(&entry), format!("#EXTM3U\n{ts}"), "{entry}");
        }
        let hash = format!("http://127.0.0.1:6878/ace/getstream?infohash={B}");
        assert_eq!(
            rendered(&hash),
            format!("#EXTM3U\nhttp://tv.lan:6880/ace/getstream?infohash={B}\n"),
            "an infohash stays an infohash"
        );
    }

    #[test]
    fn hls_picks_the_manifest_url() {
        let (playlist, _) = parse(&format!("acestream://{A}"));
        assert_eq!(
            playlist.render("[::1]:9", Mode::Hls),
            format!("#EXTM3U\nhttp://[::1]:9/ace/manifest.m3u8?id={A}\n")
        );
    }

    #[test]
    fn header_attributes_names_logos_groups_and_other_urls_are_kept() {
        let text = format!(
            "\u{feff}#EXTM3U url-tvg=\"http://epg/x.xml\"\r\n\
             \r\n\
             #EXTINF:-1 tvg-logo=\"http://logo/a.png\" group-title=\"Sport\",Sport 1\r\n\
             #EXTGRP:Sport\r\n\
             #EXTVLCOPT:network-caching=1000\r\n\
             acestream://{A}\r\n\
             #EXTINF:-1,Radio\r\n\
             http://radio.example/stream.mp3\r\n\
             #EXTINF:-1 group-title=\"News\",News\r\n\
             {B}\r\n\
             # the end\r\n"
        );
        assert_eq!(
            rendered(&text),
            format!(
                "#EXTM3U url-tvg=\"http://epg/x.xml\"\n\
                 #EXTINF:-1 tvg-logo=\"http://logo/a.png\" group-title=\"Sport\",Sport 1\n\
                 #EXTGRP:Sport\n\
                 #EXTVLCOPT:network-caching=1000\n\
                 http://tv.lan:6880/ace/getstream?id={A}\n\
                 #EXTINF:-1,Radio\n\
                 http://radio.example/stream.mp3\n\
                 #EXTINF:-1 group-title=\"News\",News\n\
                 http://tv.lan:6880/ace/getstream?id={B}\n\
                 # the end\n"
            )
        );
        assert_eq!(parse(&text).0.channels, 3);
    }

    #[test]
    fn malformed_entries_are_dropped_with_their_description_and_line_number() {
        let text = format!(
            "#EXTM3U\n\
             #EXTINF:-1,Bad\n\
             acestream://0123\n\
             #EXTINF:-1,Good\n\
             acestream://{A}\n\
             {short}\n\
             #EXTINF:-1,No id\n\
             http://127.0.0.1:6878/ace/getstream\n\
             http://127.0.0.1:6878/ace/manifest.m3u8?url=http://x/y.acelive\n\
             acestream://\n",
            short = &A[1..]
        );
        let (playlist, dropped) = parse(&text);
        assert_eq!(
            playlist.render("h", Mode::Ts),
            format!("#EXTM3U\n#EXTINF:-1,Good\nhttp://h/ace/getstream?id={A}\n")
        );
        let lines: Vec<usize> = dropped.iter().map(|d| d.line).collect();
        assert_eq!(lines, [3, 6, 8, 9, 10]);
        assert_eq!(dropped[0].text, "acestream://0123");
        assert!(dropped[0].reason.contains("40 hexadecimal"), "{dropped:?}");
        assert!(dropped[3].reason.contains("url="), "{dropped:?}");
    }

    #[test]
    fn a_long_dropped_line_is_quoted_clipped() {
        let line = format!("acestream://{}", "z".repeat(500));
        let (_, dropped) = parse(&line);
        assert_eq!(dropped[0].text.chars().count(), QUOTED_CHARS);
    }

    #[test]
    fn only_plain_host_headers_are_used() {
        for good in [
            "tv.lan",
            "tv.lan:6880",
            "192.168.1.10:6880",
            "[::1]:6880",
            "[fe80::1]",
            "LOCALHOST:1",
        ] {
            assert!(is_plain_authority(good), "{good}");
        }
        let long = format!("{}:80", "a".repeat(MAX_HOST_LEN));
        for bad in [
            "",
            ":80",
            "tv.lan:",
            "tv.lan:0",
            "tv.lan:65536",
            "tv.lan:80:80",
            "::1",
            "[::1",
            "[::1]x",
            "[not-v6]:80",
            "evil.example/x?y=",
            "a b",
            "user@host",
            "tv_lan",
            "tv.lan\"><script>",
            long.as_str(),
        ] {
            assert!(!is_plain_authority(bad), "{bad}");
        }
    }

    #[test]
    fn a_bad_host_header_falls_back_to_the_local_address() {
        let local: SocketAddr = "10.0.0.5:6880".parse().unwrap();
        let host = |v: &'static str| HeaderValue::from_static(v);
        assert_eq!(
            authority(Some(&host("tv.lan:1")), Some(local)).as_deref(),
            Some("tv.lan:1")
        );
        assert_eq!(
            authority(Some(&host("x/../y")), Some(local)).as_deref(),
            Some("10.0.0.5:6880")
        );
        assert_eq!(
            authority(None, Some(local)).as_deref(),
            Some("10.0.0.5:6880")
        );
        assert_eq!(authority(Some(&host("x y")), None), None);
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("acebox-channel-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn files_that_cannot_be_served_are_errors_naming_the_file() {
        let missing = scratch("missing.m3u");
        let err = ChannelList::open(&missing).err().unwrap().to_string();
        assert!(
            err.contains("missing.m3u") && err.contains("cannot be read"),
            "{err}"
        );

        let large = scratch("large.m3u");
        let line = format!("acestream://{A}\n");
        let lines = MAX_FILE_BYTES as usize / line.len() + 1;
        std::fs::write(&large, line.repeat(lines)).unwrap();
        let err = ChannelList::open(&large).err().unwrap().to_string();
        assert!(err.contains("too large"), "{err}");

        let binary = scratch("binary.m3u");
        std::fs::write(&binary, b"#EXTM3U\n\n#EXTINF:-1,\xff\n").unwrap();
        let err = ChannelList::open(&binary).err().unwrap().to_string();
        assert!(err.contains("not UTF-8 text (line 3)"), "{err}");

        let empty = scratch("empty.m3u");
        std::fs::write(&empty, "#EXTM3U\n#EXTINF:-1,Bad\nacestream://x\n").unwrap();
        let err = ChannelList::open(&empty).err().unwrap().to_string();
        assert!(err.contains("holds no channels"), "{err}");

        let good = scratch("good.m3u");
        std::fs::write(&good, &line[..line.len() - 1]).unwrap();
        let list = ChannelList::open(&good).unwrap();
        assert_eq!(list.current().channels, 1);

        // One rendering is shared while the address and mode stay the same.
        let first = list.rendered("tv.lan:6880", Mode::Ts);
        let again = list.rendered("tv.lan:6880", Mode::Ts);
        assert_eq!(first.as_ptr(), again.as_ptr(), "not rendered again");
        let other = list.rendered("10.0.0.2:6880", Mode::Ts);
        assert!(
            std::str::from_utf8(&other)
                .unwrap()
                .contains("http://10.0.0.2:6880/ace/getstream?id=")
        );
        let hls = list.rendered("10.0.0.2:6880", Mode::Hls);
        assert!(
            std::str::from_utf8(&hls)
                .unwrap()
                .contains("/ace/manifest.m3u8?id=")
        );
        let _ = std::fs::remove_dir_all(good.parent().unwrap());
    }
}
