//! Paced HLS players, as a TV plays live: connect through `/ace/manifest.m3u8`, poll the playlist
//! every `poll` (from where the 302 led, or, as ExoPlayer does, through the entry URL every
//! time), fetch every new segment by media sequence number (checked against the simulator's
//! bytes), and keep a playback clock that counts the stalls the viewer would see.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_io::Timer;
use m3u8_rs::MediaPlaylist;
use smol::Executor;

use crate::net::Conn;
use crate::refs::{Refs, fetch_segment};

/// Segments behind the live edge a player starts at, as the HLS spec advises (three).
const START_SEGMENTS: u64 = 3;

/// How a player reloads a live playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// From the URL the connect's 302 led to (ffmpeg, mpv, VLC, GStreamer, hls.js).
    Followed,
    /// From the entry URL, following the 302 anew every time (ExoPlayer, Android TV apps).
    Entry,
}

/// What one player saw.
#[derive(Debug, Default)]
pub struct Player {
    /// From its connect request to its first whole playlist, and to its first whole segment.
    pub first_playlist: Option<Duration>,
    pub first_segment: Option<Duration>,
    pub segments: u64,
    pub bytes: u64,
    /// Segments whose bytes differ from the simulator's.
    pub corrupt: u64,
    /// Segments cut from a TS stream (no simulator banner): not byte-checked.
    pub unchecked: u64,
    /// Upstream segments never shown: the next segment got was not the one after the last.
    pub skips: u64,
    /// Times the playback clock ran out of segments.
    pub stalls: u64,
    /// Failed connects, playlists or segments (a status other than 200/302, or I/O).
    pub errors: u64,
}

/// A player's buffer: playback starts once [`START_SEGMENTS`] segments are in (the distance from
/// the live edge a player keeps), and each later segment has to arrive before the ones before it
/// have played out, or the picture stalls.
#[derive(Default)]
struct Playback {
    /// Segments and seconds buffered before playback started.
    before: (u64, Duration),
    /// When the buffer runs dry, once playing.
    until: Option<Instant>,
}

impl Playback {
    /// A segment of `secs` arrived at `now`; whether the viewer waited for it.
    fn arrived(&mut self, now: Instant, secs: f32) -> bool {
        let length = Duration::from_secs_f32(secs.max(0.0));
        let Some(until) = self.until else {
            self.before = (self.before.0 + 1, self.before.1 + length);
            if self.before.0 >= START_SEGMENTS {
                self.until = Some(now + self.before.1);
            }
            return false;
        };
        let stalled = now > until;
        self.until = Some(if stalled { now } else { until } + length);
        stalled
    }
}

/// Where a player is in the stream.
struct Position {
    joined: Instant,
    /// The next media sequence number to fetch, and the last upstream segment got.
    next: Option<u64>,
    upstream: Option<u64>,
    playback: Playback,
}

/// The connect request: acebox answers 302 with the player's own playlist URL.
pub async fn connect(conn: &mut Conn, content: &str) -> io::Result<String> {
    let reply = conn
        .get_all(&format!("/ace/manifest.m3u8?id={content}"))
        .await?;
    match reply.location {
        Some(location) if reply.status == 302 => Ok(location),
        _ => Err(io::Error::other(format!(
            "connect answered {}",
            reply.status
        ))),
    }
}

/// A media playlist; `None` when the body is not one.
pub fn parse(body: &[u8]) -> Option<MediaPlaylist> {
    m3u8_rs::parse_media_playlist_res(body).ok()
}

/// One player: joins at `join_at`, plays until `end`.
pub async fn play(
    ex: &'static Executor<'static>,
    acebox: SocketAddr,
    refs: &Refs,
    content: &str,
    (join_at, end, poll, reload): (Instant, Instant, Duration, Reload),
) -> Player {
    Timer::at(join_at).await;
    let mut player = Player::default();
    let mut conn = Conn::new(ex, acebox);
    let mut at = Position {
        joined: Instant::now(),
        next: None,
        upstream: None,
        playback: Playback::default(),
    };
    let Ok(mut playlist) = connect(&mut conn, content).await else {
        player.errors += 1;
        return player;
    };
    while Instant::now() < end {
        let polled = Instant::now();
        if reload == Reload::Entry {
            match connect(&mut conn, content).await {
                Ok(location) => playlist = location,
                Err(_) => player.errors += 1,
            }
        }
        match conn.get_all(&playlist).await {
            Ok(reply) if reply.status == 200 => match parse(&reply.body) {
                Some(list) => {
                    player
                        .first_playlist
                        .get_or_insert_with(|| at.joined.elapsed());
                    let fetch = (&mut conn, refs, content, end);
                    fetch_new(&mut player, &mut at, &list, fetch).await;
                }
                None => player.errors += 1,
            },
            _ => player.errors += 1,
        }
        Timer::at(polled + poll).await;
    }
    player
}

/// Fetches, in order, every listed segment from the player's position on.
async fn fetch_new(
    player: &mut Player,
    at: &mut Position,
    list: &MediaPlaylist,
    (conn, refs, content, end): (&mut Conn, &Refs, &str, Instant),
) {
    let first = list.media_sequence;
    let listed = list.segments.len() as u64;
    let from = match at.next {
        None => first + listed.saturating_sub(START_SEGMENTS),
        Some(next) => next.max(first),
    };
    for (segment, seq) in list
        .segments
        .iter()
        .zip(first..)
        .filter(|(_, s)| *s >= from)
    {
        if Instant::now() >= end {
            break;
        }
        at.next = Some(seq + 1);
        match fetch_segment(conn, &segment.uri, refs, content).await {
            Ok(got) if got.status == 200 => {
                player.segments += 1;
                player.bytes += got.bytes;
                player.corrupt += u64::from(!got.intact);
                player.unchecked += u64::from(got.upstream.is_none());
                if let (Some(last), Some(now)) = (at.upstream, got.upstream) {
                    player.skips += now.saturating_sub(last + 1);
                }
                at.upstream = got.upstream.or(at.upstream);
                player
                    .first_segment
                    .get_or_insert_with(|| at.joined.elapsed());
                player.stalls += u64::from(at.playback.arrived(Instant::now(), segment.duration));
            }
            _ => player.errors += 1,
        }
    }
}
