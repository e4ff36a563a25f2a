//! A channel with backup ids (entries of the channel list that share a `tvg-id`): when its id
//! fails to start, or its broadcast dies mid-stream, the channel's session moves to the next id
//! while its players stay connected, with at most a discontinuity and a short gap.

mod common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Player, Process, TempDir, TsClient, acebox, banner_infohash, content, sim, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// A channel list with one channel, "Sport 1", played by `ids` in order.
fn list(dir: &TempDir, ids: &[&str]) -> PathBuf {
    let mut text = String::from("#EXTM3U\n");
    for id in ids {
        text.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"sport1\" group-title=\"Sport\",Sport 1\nacestream://{id}\n"
        ));
    }
    let path = dir.path().join("list.m3u");
    std::fs::write(&path, text).unwrap();
    path
}

/// The infohash the simulator plays `content` under (the session acebox started for it).
fn infohash_of(engine: &Process, content: &str) -> String {
    wait_for(WAIT, "the simulator's session of the content", || {
        engine.json("/sim/stats")["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["content"] == content)
            .map(|s| s["infohash"].as_str().unwrap().to_owned())
    })
}

/// The channel `id` of `/status`.
fn channel(proxy: &Process, id: &str) -> serde_json::Value {
    proxy.json("/status")["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no channel {id}"))
}

#[test]
fn an_id_the_engine_cannot_load_is_played_on_its_backup() {
    let (first, backup) = (content(40), content(41));
    let dir = TempDir::new("failover-refused");
    let engine = sim(&[]);
    engine.get(&format!("/sim/config?fail_id={first}"));
    let proxy = acebox(
        engine.addr,
        &[
            "--channels",
            list(&dir, &[&first, &backup]).to_str().unwrap(),
        ],
    );
    let mut player = Player::connect(proxy.addr, &first);
    player.play(WAIT, POLL, |p| p.segments.len() >= 3);
    let played = infohash_of(&engine, &backup);
    for segment in player.segments.values() {
        assert_eq!(banner_infohash(segment).as_deref(), Some(played.as_str()));
    }
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    let c = channel(&proxy, &first);
    assert_eq!(c["name"], "Sport 1");
    assert_eq!(c["counters"]["failovers"], 1, "{c}");
    // A client that names the backup id directly joins the same channel.
    let mut other = Player::connect(proxy.addr, &backup);
    other.play(WAIT, POLL, |p| !p.segments.is_empty());
    assert_eq!(
        proxy.json("/status")["channels"].as_array().unwrap().len(),
        1
    );
}

/// What a TS client read, with when each read ended.
struct Reads(Vec<(Instant, Vec<u8>)>);

impl Reads {
    /// The longest wait between two reads that brought bytes.
    fn longest_gap(&self) -> Duration {
        self.0
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .max()
            .unwrap_or_default()
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|(_, b)| b.iter().copied()).collect()
    }
}

/// The infohashes in the banners of the segments in `bytes` (segments of an HLS channel read
/// back to back by a TS client), in order, without repeats.
fn banners(bytes: &[u8]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for packet in bytes.chunks(188) {
        if let Some(hash) = banner_infohash(packet) {
            if seen.last() != Some(&hash) {
                seen.push(hash);
            }
        }
    }
    seen
}

/// Where the stream of a TS channel in `bytes` breaks (a packet whose video index does not
/// follow the one before), with the PID of the packet the client resumed at.
fn ts_breaks(bytes: &[u8]) -> Vec<(usize, u16)> {
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let indices: Vec<(usize, u64)> = bytes
        .chunks(188)
        .enumerate()
        .filter_map(|(at, p)| common::video_index(p).map(|i| (at, i)))
        .collect();
    indices
        .windows(2)
        .filter(|w| !common::follows(w[0].1, w[1].1))
        .map(|w| {
            // The first packet after the last one that followed: the new stream's first.
            let at = w[0].0 + 1;
            (at, pid(&bytes[at * 188..]))
        })
        .collect()
}

/// The channel's first id dies mid-stream with two HLS players (one following the redirect,
/// one reloading the entry URL) and a TS client connected, the channel opened by `opener`:
/// every one of them plays on, on the backup, without an error status.
fn the_id_dies_mid_stream(opened_as_ts: bool, ids: (u8, u8)) {
    let (first, backup) = (content(ids.0), content(ids.1));
    let dir = TempDir::new(&format!("failover-killed-{}", ids.0));
    let engine = sim(&[]);
    let proxy = acebox(
        engine.addr,
        &[
            "--channels",
            list(&dir, &[&first, &backup]).to_str().unwrap(),
        ],
    );
    let open_ts = || {
        let mut ts = TsClient::open(proxy.addr, &format!("/ace/getstream?id={first}"));
        assert_eq!(ts.status, 200);
        assert!(!ts.read(188).is_empty());
        ts
    };
    let early_ts = opened_as_ts.then(open_ts);
    let mut following = Player::connect(proxy.addr, &first);
    let mut reloading = Player::reloading_entry(proxy.addr, &first);
    let mut ts = early_ts.unwrap_or_else(open_ts);
    for player in [&mut following, &mut reloading] {
        player.play(WAIT, POLL, |p| p.segments.len() >= 3);
    }
    let before = infohash_of(&engine, &first);
    // The TS client reads on its own thread, noting when each read came.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut reads = Reads(Vec::new());
        while done_rx.try_recv().is_err() {
            let got = ts.read(188 * 16);
            assert!(!got.is_empty(), "the TS stream ended");
            reads.0.push((Instant::now(), got));
        }
        reads
    });

    engine.get(&format!("/sim/kill?id={first}"));
    let killed = Instant::now();
    // The HLS players play on, side by side, until each has three segments after a
    // discontinuity; a player's gap is its longest wait between two new segments.
    let mut players = [&mut following, &mut reloading];
    let mut last_new = players
        .each_ref()
        .map(|p| (Instant::now(), p.segments.len()));
    let mut gaps = [Duration::ZERO; 2];
    let done = |p: &Player| {
        let newest = p.segments.keys().next_back().copied().unwrap_or_default();
        p.breaks.iter().any(|b| b + 3 <= newest)
    };
    while !players.iter().all(|p| done(p)) {
        assert!(
            killed.elapsed() < WAIT,
            "the players did not go on with the backup"
        );
        for (n, player) in players.iter_mut().enumerate() {
            player.poll();
            if player.segments.len() > last_new[n].1 {
                gaps[n] = gaps[n].max(last_new[n].0.elapsed());
                last_new[n] = (Instant::now(), player.segments.len());
            }
        }
        std::thread::sleep(POLL);
    }
    let after = infohash_of(&engine, &backup);
    for player in [&following, &reloading] {
        assert!(
            player.statuses.iter().all(|s| *s == 200),
            "{:?}",
            player.statuses
        );
        let seqs: Vec<u64> = player.segments.keys().copied().collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "no skipped number: {seqs:?}"
        );
        assert_eq!(
            player.breaks.len(),
            1,
            "one discontinuity, where the backup starts"
        );
        if !opened_as_ts {
            let (_, newest) = player.segments.iter().next_back().unwrap();
            assert_eq!(
                banner_infohash(newest),
                Some(after.clone()),
                "the backup plays"
            );
        }
    }
    // The TS client read on through the move.
    let seen_by_ts = Instant::now();
    wait_for(WAIT, "the TS client to read on", || {
        (seen_by_ts.elapsed() > Duration::from_secs(2)).then_some(())
    });
    done_tx.send(()).unwrap();
    let reads = reader.join().expect("the TS client kept its connection");
    let bytes = reads.bytes();
    assert!(common::whole_packets(&bytes) > 0);
    if opened_as_ts {
        let breaks = ts_breaks(&bytes);
        assert!(!breaks.is_empty(), "the stream changed");
        for (at, pid) in breaks {
            assert_eq!(
                pid, 0,
                "packet {at}: the new stream starts at a PAT, a clean join point"
            );
        }
    } else {
        assert_eq!(
            banners(&bytes),
            [before, after],
            "the segments of one, then the other"
        );
    }
    let c = channel(&proxy, &first);
    assert_eq!(c["counters"]["failovers"], 1, "{c}");
    eprintln!("{}", proxy.logs());
    eprintln!(
        "failover after the id died ({}): HLS gaps {gaps:?}, TS gap {:?}, {:?} from the kill",
        if opened_as_ts {
            "MPEG-TS channel"
        } else {
            "HLS channel"
        },
        reads.longest_gap(),
        killed.elapsed()
    );
}

#[test]
fn when_the_id_of_an_hls_channel_dies_every_player_goes_on_with_the_backup() {
    the_id_dies_mid_stream(false, (42, 43));
}

#[test]
fn when_the_id_of_a_ts_channel_dies_every_player_goes_on_with_the_backup() {
    the_id_dies_mid_stream(true, (44, 45));
}

/// A channel opened from a search playlist is named by the search, and when its best stream
/// dies it plays the channel's next one: search results are backup ids too.
#[test]
fn a_channel_found_by_search_is_named_by_it_and_moves_to_its_next_stream() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let found = proxy.json("/search.json?query=sport");
    let sport1 = found["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Sport 1")
        .expect("the simulator's Sport 1")
        .clone();
    let streams: Vec<String> = sport1["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["infohash"].as_str().unwrap().to_owned())
        .collect();
    assert!(streams.len() >= 2, "{sport1}");
    let mut player = Player::open(proxy.addr, &format!("infohash={}", streams[0]));
    player.play(WAIT, POLL, |p| p.segments.len() >= 3);
    let c = channel(&proxy, &streams[0]);
    assert_eq!(c["name"], "Sport 1");
    // A client naming the channel's second stream joins the same channel.
    let mut other = Player::open(proxy.addr, &format!("infohash={}", streams[1]));
    other.play(WAIT, POLL, |p| !p.segments.is_empty());
    assert_eq!(
        proxy.json("/status")["channels"].as_array().unwrap().len(),
        1
    );

    engine.get(&format!("/sim/kill?id={}", streams[0]));
    player.play(WAIT, POLL, |p| {
        let newest = p.segments.keys().next_back().copied().unwrap_or_default();
        p.breaks.iter().any(|b| b + 3 <= newest)
    });
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    let playing = infohash_of(&engine, &streams[1]);
    let (_, newest) = player.segments.iter().next_back().unwrap();
    assert_eq!(
        banner_infohash(newest),
        Some(playing),
        "the next stream plays"
    );
    assert_eq!(channel(&proxy, &streams[0])["counters"]["failovers"], 1);
}
