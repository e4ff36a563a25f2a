//! The HLS player model: [`Player`] connects through the entry URL, polls its playlist and
//! fetches each new segment once, by media sequence number, reloading the way real players do
//! ([`Reload`]); and the checks on what it got, read from the simulator's numbered segments.
//! Never reads MPEG-TS streams (`ts`) and never starts a process.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::http::{Reply, get_from, next_device, next_user_agent};

/// How an HLS player reloads a live playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// From the URL the connect's 302 led to (ffmpeg, mpv, VLC, GStreamer, hls.js).
    Followed,
    /// From the entry URL it was given, following the 302 anew every time (ExoPlayer, and so
    /// most Android TV apps).
    Entry,
}

/// An HLS player: connects, then polls its playlist and fetches every new segment, knowing
/// segments by media sequence number as real players do. Each player is a device of its own
/// (its own loopback address) and sends a `User-Agent` of its own.
pub struct Player {
    pub acebox: SocketAddr,
    /// The player's own address, every request's source.
    pub from: IpAddr,
    /// The entry URL, `/ace/manifest.m3u8?...`.
    pub entry: String,
    pub reload: Reload,
    /// The `User-Agent` line (and any other header lines) the player sends.
    pub headers: String,
    pub playlist: String,
    /// Segments got, by media sequence number.
    pub segments: BTreeMap<u64, Vec<u8>>,
    /// Every playlist answer's status, in order.
    pub statuses: Vec<u16>,
    pub media_sequences: Vec<u64>,
    /// The sequence numbers of segments that follow a break: their discontinuity number (the
    /// playlist's `#EXT-X-DISCONTINUITY-SEQUENCE`, plus one for each `#EXT-X-DISCONTINUITY`
    /// before them in it) differs from that of the segment got before, as hls.js and ExoPlayer
    /// count them. (A playlist whose first segment follows a break says so by its discontinuity
    /// sequence alone.)
    pub breaks: BTreeSet<u64>,
    /// The discontinuity number of the newest segment got.
    discontinuity: Option<u64>,
}

impl Player {
    /// Connects through `/ace/manifest.m3u8?id=` and follows the redirect.
    pub fn connect(acebox: SocketAddr, id: &str) -> Player {
        Player::open(acebox, &format!("id={id}"))
    }

    /// Connects through `/ace/manifest.m3u8?<query>` and follows the redirect.
    pub fn open(acebox: SocketAddr, query: &str) -> Player {
        Player::with(acebox, query, Reload::Followed, next_user_agent())
    }

    /// A player that reloads the entry URL for `id` on every poll, as ExoPlayer does.
    pub fn reloading_entry(acebox: SocketAddr, id: &str) -> Player {
        Player::with(
            acebox,
            &format!("id={id}"),
            Reload::Entry,
            next_user_agent(),
        )
    }

    /// Connects through `/ace/manifest.m3u8?<query>`, sending `headers`.
    pub fn with(acebox: SocketAddr, query: &str, reload: Reload, headers: String) -> Player {
        Player::on(next_device(), acebox, query, reload, headers)
    }

    /// [`Player::with`] on the device at `from` (two players of one device share it).
    pub fn on(
        from: IpAddr,
        acebox: SocketAddr,
        query: &str,
        reload: Reload,
        headers: String,
    ) -> Player {
        let mut player = Player {
            acebox,
            from,
            entry: format!("/ace/manifest.m3u8?{query}"),
            reload,
            headers,
            playlist: String::new(),
            segments: BTreeMap::new(),
            statuses: Vec::new(),
            media_sequences: Vec::new(),
            breaks: BTreeSet::new(),
            discontinuity: None,
        };
        player.playlist = player.follow_entry();
        player
    }

    /// The entry URL's redirect: the player's own playlist URL.
    fn follow_entry(&self) -> String {
        let reply = self.get(&self.entry);
        assert_eq!(reply.status, 302, "connect: {}", reply.text());
        let playlist = reply.header("location").expect("a Location").to_owned();
        assert!(playlist.starts_with("/ace/m/"), "{playlist}");
        playlist
    }

    /// `GET path` as this player: from its address, with its headers.
    pub fn get(&self, path: &str) -> Reply {
        get_from(self.from, self.acebox, path, &self.headers)
    }

    /// One poll: the playlist (through the entry URL first, for a player that reloads it),
    /// then every listed segment not yet got. Returns the newest sequence number listed.
    pub fn poll(&mut self) -> Option<u64> {
        if self.reload == Reload::Entry {
            self.playlist = self.follow_entry();
        }
        let reply = self.get(&self.playlist);
        self.statuses.push(reply.status);
        if reply.status != 200 {
            return None;
        }
        let playlist = m3u8_rs::parse_media_playlist_res(&reply.body)
            .unwrap_or_else(|e| panic!("not a media playlist ({e:?}): {}", reply.text()));
        self.media_sequences.push(playlist.media_sequence);
        let mut newest = None;
        let mut discontinuity = playlist.discontinuity_sequence;
        for (segment, seq) in playlist.segments.iter().zip(playlist.media_sequence..) {
            newest = Some(seq);
            discontinuity += u64::from(segment.discontinuity);
            if self.segments.contains_key(&seq) {
                continue;
            }
            if self.discontinuity.is_some_and(|d| d != discontinuity) {
                self.breaks.insert(seq);
            }
            self.discontinuity = Some(discontinuity);
            let got = self.get(&segment.uri);
            assert_eq!(got.status, 200, "segment {}: {}", segment.uri, got.text());
            self.segments.insert(seq, got.body);
        }
        newest
    }

    /// Polls until `until` holds or `limit` passes, waiting `every` between polls as a player
    /// waits between playlist reloads.
    pub fn play(
        &mut self,
        limit: Duration,
        every: Duration,
        mut until: impl FnMut(&Player) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !until(self) {
            assert!(
                Instant::now() < deadline,
                "player gave up; statuses {:?}",
                self.statuses
            );
            self.poll();
            std::thread::sleep(every);
        }
    }
}

/// Segments the player got, in order, map to consecutive upstream segments: no skip, no
/// repeat, no discontinuity.
pub fn assert_contiguous(player: &Player) {
    assert!(
        player.breaks.is_empty(),
        "discontinuities at {:?}",
        player.breaks
    );
    assert_contiguous_between_breaks(player);
}

/// The player's media sequence has no gap, and the segments it got map to consecutive upstream
/// segments wherever no `#EXT-X-DISCONTINUITY` separates them: after a fault, acebox may lose
/// upstream segments, but only where it says so.
pub fn assert_contiguous_between_breaks(player: &Player) {
    let seqs: Vec<u64> = player.segments.keys().copied().collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "local sequence has gaps: {seqs:?}"
    );
    let pairs: Vec<(u64, u64)> = player
        .segments
        .iter()
        .map(|(seq, s)| (*seq, upstream_seq(s)))
        .collect();
    for w in pairs.windows(2) {
        let ((_, a), (seq, b)) = (w[0], w[1]);
        assert!(
            b == a + 1 || player.breaks.contains(&seq),
            "upstream segment {a} then {b} with no discontinuity: {pairs:?}"
        );
    }
}

/// The upstream segment number the simulator wrote into a synthetic segment.
pub fn upstream_seq(segment: &[u8]) -> u64 {
    banner_seq(segment).unwrap_or_else(|| {
        let start = String::from_utf8_lossy(&segment[..188.min(segment.len())]);
        panic!("not a numbered simulator segment: {start:?}")
    })
}

/// The number in a synthetic segment's banner, `acebox-sim <infohash> <n>` in the first
/// packet's payload; `None` when there is no such banner.
pub fn banner_seq(segment: &[u8]) -> Option<u64> {
    let payload = segment.get(4..188.min(segment.len()))?;
    let text = String::from_utf8_lossy(payload);
    let label = text.split('\n').next()?;
    label
        .strip_prefix("acebox-sim ")?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// The infohash in a synthetic segment's banner, `acebox-sim <infohash> <n>`: which content the
/// segment came from; `None` when there is no such banner.
pub fn banner_infohash(segment: &[u8]) -> Option<String> {
    let payload = segment.get(4..188.min(segment.len()))?;
    let text = String::from_utf8_lossy(payload);
    let label = text.split('\n').next()?;
    let mut words = label.strip_prefix("acebox-sim ")?.split(' ');
    words.next().map(str::to_owned)
}
