//! The channel list file: reading it (bounded in size, UTF-8), noticing when it changes, and
//! keeping the last list that read well and the last rendering of it.
//!
//! This module owns the file, its stamp (modification time and length) and when it is read
//! again: at most once every [`CHECK_EVERY`] of the time it is handed, and only when the stamp
//! changed. It never writes the file, never reads the clock itself (callers pass the time in)
//! and never serves a bad file: the list read before stays until the file reads well again.
//!
//! Over 400 lines: the last 120 are its tests, which write the file and move time by hand.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::extinf::header_guide;
use super::m3u::{Listing, Playlist, parse};
use crate::channel::Source;
use crate::engine::Mode;
use crate::http::Admission;
use crate::http::off_executor;

/// The largest channel list read (about 1,200 channels with names, logos and groups; 6,000
/// bare ids). With the longest `Host` accepted (`host`) it bounds a rendered list to about 1 MB.
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// How often, at most, the file is checked for changes.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Dropped entries warned about one by one in a load; the rest are counted in one line.
const DROPPED_WARNINGS: usize = 10;

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

impl std::error::Error for LoadError {}

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

/// A list rendered for one authority and mode, and the token its URLs carry (by number).
struct Rendered {
    playlist: Arc<Playlist>,
    authority: String,
    mode: Mode,
    via: u8,
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
    /// Checks begun, and the number of the latest one swapped in: an earlier check that ends
    /// after a later one is not swapped in.
    looks: u64,
    settled: u64,
}

impl ChannelList {
    /// Reads the list at `path` at `now`; an unreadable or unusable file is an error, never an
    /// empty list.
    pub fn open(path: &Path, now: Instant) -> Result<ChannelList, LoadError> {
        let seen = Stamp::of(path);
        let playlist = load(path)?;
        log::info!("{}: {} channels", named(path), playlist.channels);
        Ok(ChannelList {
            path: path.to_owned(),
            state: Mutex::new(State {
                playlist: Arc::new(playlist),
                seen,
                checked: now,
                problem: None,
                looks: 0,
                settled: 0,
            }),
            rendered: Mutex::new(None),
        })
    }

    /// The list to serve at `now`: read again first if the file changed (checked at most once
    /// every [`CHECK_EVERY`], by its metadata only). The file is looked at and read outside
    /// the lock; two callers may both read it, and the later look wins.
    pub(super) fn current(&self, now: Instant) -> Arc<Playlist> {
        match self.due(now) {
            Ok(playlist) => playlist,
            Err(look) => {
                let read = self.look(look);
                self.settle(read)
            }
        }
    }

    /// Under the lock: the list to serve, or, when a check is due at `now`, a [`Look`] to make.
    fn due(&self, now: Instant) -> Result<Arc<Playlist>, Look> {
        let mut state = crate::lock(&self.state);
        if now.saturating_duration_since(state.checked) < CHECK_EVERY {
            return Ok(Arc::clone(&state.playlist));
        }
        state.checked = now;
        Err(Look { seen: state.seen })
    }

    /// Looks at the file and reads it if its stamp changed; no lock is held.
    fn look(&self, look: Look) -> Found {
        let stamp = Stamp::of(&self.path);
        // Numbered once the file was looked at: of two looks, the one that saw it later wins,
        // however long either took to get here.
        let number = {
            let mut state = crate::lock(&self.state);
            state.looks += 1;
            state.looks
        };
        // A file that cannot be looked at is tried every time: `load` says what is wrong.
        let loaded = if stamp.is_some() && stamp == look.seen {
            None
        } else {
            Some(load(&self.path).map(Arc::new).map_err(|e| e.to_string()))
        };
        Found {
            number,
            stamp,
            loaded,
        }
    }

    /// Swaps what `read` found in under the lock, unless a later look settled first; logs what
    /// changed after the lock is released. Returns the list to serve.
    fn settle(&self, read: Found) -> Arc<Playlist> {
        let Some(loaded) = read.loaded else {
            return Arc::clone(&crate::lock(&self.state).playlist);
        };
        // The warning's copy is made before the lock: none is made under it.
        let warning = loaded.as_ref().err().cloned();
        let mut state = crate::lock(&self.state);
        if read.number < state.settled {
            return Arc::clone(&state.playlist);
        }
        state.settled = read.number;
        state.seen = read.stamp;
        // What the lock swaps out is dropped, and what is news logged, once it is released.
        let (note, _old) = match loaded {
            Ok(playlist) => {
                let channels = playlist.channels;
                let old = std::mem::replace(&mut state.playlist, playlist);
                (
                    Some(Note::Changed(channels)),
                    (Some(old), state.problem.take()),
                )
            }
            Err(problem) if state.problem.as_ref() == Some(&problem) => {
                (None, (None, Some(problem)))
            }
            Err(problem) => {
                let old = state.problem.replace(problem);
                (warning.map(Note::Problem), (None, old))
            }
        };
        let playlist = Arc::clone(&state.playlist);
        drop(state);
        match note {
            Some(Note::Changed(channels)) => {
                log::info!("{} changed: {channels} channels", named(&self.path));
            }
            Some(Note::Problem(problem)) => log::warn!("{problem}; serving the list read before"),
            None => {}
        }
        playlist
    }

    /// The list at `now`, as [`ChannelList::current`] gives it, but with the file looked at
    /// and read on the blocking pool when a check is due, never on the executor.
    async fn latest(self: &Arc<Self>, now: Instant) -> Arc<Playlist> {
        match self.due(now) {
            Ok(playlist) => playlist,
            Err(look) => {
                let list = Arc::clone(self);
                off_executor(move || list.settle(list.look(look))).await
            }
        }
    }

    /// The channels of the list at `now`, in list order (see [`Listings`]).
    pub async fn listings(self: &Arc<Self>, now: Instant) -> Listings {
        Listings(self.latest(now).await)
    }

    /// The channel of the list at `now` that `source` plays, if any: a client may name any of
    /// a channel's ids.
    pub async fn find(self: &Arc<Self>, source: &Source, now: Instant) -> Option<Listing> {
        let playlist = self.latest(now).await;
        playlist.listings().find(|l| l.plays(source)).cloned()
    }

    /// The list at `now` rendered for `authority` and `mode`, carrying `admission`'s token:
    /// the one rendered last if it is the same, else rendered now, outside the lock, and kept
    /// in its place.
    pub(super) fn rendered(
        &self,
        (authority, mode): (&str, Mode),
        admission: &Admission,
        now: Instant,
    ) -> Bytes {
        let playlist = self.current(now);
        let via = admission.via();
        if let Some(r) = crate::lock(&self.rendered).as_ref().filter(|r| {
            Arc::ptr_eq(&r.playlist, &playlist)
                && r.authority == authority
                && r.mode == mode
                && r.via == via
        }) {
            return r.body.clone();
        }
        let body = Bytes::from(playlist.render(authority, mode, admission));
        let new = Rendered {
            playlist,
            authority: authority.to_owned(),
            mode,
            via,
            body: body.clone(),
        };
        // The rendering replaced is dropped after the lock is released.
        let _old = crate::lock(&self.rendered).replace(new);
        body
    }
}

/// The channels of the list as it was read: one entry per channel, backup ids merged, in
/// list order. Holds that reading, so a later change of the file does not change it.
pub struct Listings(Arc<Playlist>);

impl Listings {
    pub fn iter(&self) -> impl Iterator<Item = &Listing> {
        self.0.listings()
    }

    /// The guide the list's own header names (`url-tvg` or `x-tvg-url`), if any.
    pub fn guide(&self) -> Option<&str> {
        header_guide(&self.0.header)
    }
}

/// A check of the file that is due: the stamp seen before it.
struct Look {
    seen: Option<Stamp>,
}

/// What a [`Look`] found: its number (in the order the file was looked at), the file's stamp,
/// and what reading it gave if the stamp changed.
struct Found {
    number: u64,
    stamp: Option<Stamp>,
    loaded: Option<Result<Arc<Playlist>, String>>,
}

/// What [`ChannelList::settle`] logs once the lock is released.
enum Note {
    /// The file read well: its channels.
    Changed(usize),
    /// What is newly wrong with the file.
    Problem(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";
    const C: &str = "fedcba9876543210fedcba9876543210fedcba98";

    /// A path in a directory of `test`'s own, so that tests running at once never share one.
    fn scratch(test: &str, name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("acebox-channel-list-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn files_that_cannot_be_served_are_errors_naming_the_file() {
        let t0 = Instant::now();
        let missing = scratch("errors", "missing.m3u");
        let err = ChannelList::open(&missing, t0).err().unwrap().to_string();
        assert!(
            err.contains("missing.m3u") && err.contains("cannot be read"),
            "{err}"
        );

        let large = scratch("errors", "large.m3u");
        let line = format!("acestream://{A}\n");
        let lines = MAX_FILE_BYTES as usize / line.len() + 1;
        std::fs::write(&large, line.repeat(lines)).unwrap();
        let err = ChannelList::open(&large, t0).err().unwrap().to_string();
        assert!(err.contains("too large"), "{err}");

        let binary = scratch("errors", "binary.m3u");
        std::fs::write(&binary, b"#EXTM3U\n\n#EXTINF:-1,\xff\n").unwrap();
        let err = ChannelList::open(&binary, t0).err().unwrap().to_string();
        assert!(err.contains("not UTF-8 text (line 3)"), "{err}");

        let empty = scratch("errors", "empty.m3u");
        std::fs::write(&empty, "#EXTM3U\n#EXTINF:-1,Bad\nacestream://x\n").unwrap();
        let err = ChannelList::open(&empty, t0).err().unwrap().to_string();
        assert!(err.contains("holds no channels"), "{err}");

        let good = scratch("errors", "good.m3u");
        std::fs::write(&good, &line[..line.len() - 1]).unwrap();
        let list = ChannelList::open(&good, t0).unwrap();
        assert_eq!(list.current(t0).channels, 1);

        // One rendering is shared while the address and mode stay the same.
        let first = list.rendered(("tv.lan:6880", Mode::Ts), &Admission::default(), t0);
        let again = list.rendered(("tv.lan:6880", Mode::Ts), &Admission::default(), t0);
        assert_eq!(first.as_ptr(), again.as_ptr(), "not rendered again");
        let other = list.rendered(("10.0.0.2:6880", Mode::Ts), &Admission::default(), t0);
        assert!(
            std::str::from_utf8(&other)
                .unwrap()
                .contains("http://10.0.0.2:6880/ace/getstream?id=")
        );
        let hls = list.rendered(("10.0.0.2:6880", Mode::Hls), &Admission::default(), t0);
        assert!(
            std::str::from_utf8(&hls)
                .unwrap()
                .contains("/ace/manifest.m3u8?id=")
        );
        let _ = std::fs::remove_dir_all(good.parent().unwrap());
    }

    #[test]
    fn the_file_is_looked_at_again_once_a_second_of_the_time_handed_in() {
        let path = scratch("reload", "reload.m3u");
        std::fs::write(&path, format!("acestream://{A}\n")).unwrap();
        let t0 = Instant::now();
        let list = ChannelList::open(&path, t0).unwrap();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        std::fs::write(&path, format!("acestream://{A}\nacestream://{B}\n")).unwrap();
        assert_eq!(list.current(at(999)).channels, 1, "not looked at yet");
        assert_eq!(list.current(at(1000)).channels, 2, "read again");
        std::fs::write(&path, "#EXTM3U\n").unwrap();
        assert_eq!(list.current(at(1500)).channels, 2, "not looked at yet");
        assert_eq!(
            list.current(at(2000)).channels,
            2,
            "a list with no channels is not served: the one read before stays"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(list.current(at(3000)).channels, 2, "nor is a missing file");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_file_is_read_outside_the_lock_and_the_later_look_wins() {
        let path = scratch("race", "race.m3u");
        std::fs::write(&path, format!("acestream://{A}\n")).unwrap();
        let t0 = Instant::now();
        let list = ChannelList::open(&path, t0).unwrap();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        std::fs::write(&path, format!("acestream://{A}\nacestream://{B}\n")).unwrap();
        let Err(earlier) = list.due(at(1000)) else {
            panic!("a check is due")
        };
        // While a look is under way the lock is free: other callers are served at once.
        assert_eq!(list.current(at(1500)).channels, 1, "not due again yet");
        let Err(later) = list.due(at(2000)) else {
            panic!("a check is due")
        };
        let earlier = list.look(earlier);
        std::fs::write(&path, format!("acestream://{B}\n")).unwrap();
        let later = list.look(later);
        assert_eq!(list.settle(later).channels, 1, "the later look's list");
        assert_eq!(
            list.settle(earlier).channels,
            1,
            "an earlier look ending last is not swapped in"
        );
        assert_eq!(list.current(at(2500)).channels, 1);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// A check that became due first but looked at the file last saw the newer file: it wins,
    /// whatever order the checks became due in.
    #[test]
    fn the_look_that_saw_the_file_last_wins() {
        let path = scratch("order", "order.m3u");
        std::fs::write(&path, format!("acestream://{A}\n")).unwrap();
        let t0 = Instant::now();
        let list = ChannelList::open(&path, t0).unwrap();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let Err(slow) = list.due(at(1000)) else {
            panic!("a check is due")
        };
        let Err(quick) = list.due(at(2000)) else {
            panic!("a check is due")
        };
        std::fs::write(&path, format!("acestream://{A}\nacestream://{B}\n")).unwrap();
        let quick = list.look(quick);
        std::fs::write(
            &path,
            format!("acestream://{B}\nacestream://{A}\nacestream://{C}\n"),
        )
        .unwrap();
        let slow = list.look(slow);
        assert_eq!(list.settle(slow).channels, 3, "the newest file");
        assert_eq!(
            list.settle(quick).channels,
            3,
            "an older look does not go back"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
