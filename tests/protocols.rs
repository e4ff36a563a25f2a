//! One channel, both protocols, one engine session: MPEG-TS clients of a channel whose session
//! plays HLS get its segments back to back, and HLS players of a channel whose session plays
//! MPEG-TS get segments cut from its stream. Both heal when the engine restarts.

mod common;

use std::time::{Duration, Instant};

use acebox::board::{MAX_CHANNELS, PLAYLIST_WINDOW};
use common::{
    Codecs, Ffmpeg, Player, TempDir, TsClient, acebox, banner_seq, content, follows, have,
    make_media, room_for_a_channel, sim, sim_at, video_indices,
};

const PACKET: usize = 188;
const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(30);
/// A fast synthetic TS stream: its timestamps assume 2 Mbit/s, so at 8 Mbit/s its media time
/// runs four times faster than the clock and 2 s segments are cut every half second.
const FAST_TS: [&str; 4] = ["--ts-bitrate", "8000000", "--ts-burst-bytes", "1000000"];

fn getstream(id: &str) -> String {
    format!("/ace/getstream?id={id}")
}

/// The simulator's numbers of the HLS segments in a TS stream made of them, in order: each
/// starts with a packet that starts a unit and carries the segment's banner.
fn segment_numbers(stream: &[u8]) -> Vec<u64> {
    stream
        .chunks(PACKET)
        .filter(|p| p[1] & 0x40 != 0)
        .filter_map(banner_seq)
        .collect()
}

fn consecutive(numbers: &[u64]) -> bool {
    numbers.windows(2).all(|w| w[1] == w[0] + 1)
}

fn is_pat(packet: &[u8]) -> bool {
    packet[0] == 0x47 && packet[1] & 0x1f == 0 && packet[2] == 0 && packet[1] & 0x40 != 0
}

/// Where two segments the player got follow each other with no break between them, the
/// second's first video packet follows the first's last: nothing was lost or repeated at a cut.
fn assert_cut_seamlessly(player: &Player) {
    let segments: Vec<(u64, Vec<u64>)> = player
        .segments
        .iter()
        .map(|(seq, bytes)| (*seq, video_indices(bytes)))
        .collect();
    for w in segments.windows(2) {
        let ((a_seq, a), (b_seq, b)) = (&w[0], &w[1]);
        assert_eq!(*b_seq, a_seq + 1, "the media sequence has a gap");
        if player.breaks.contains(b_seq) {
            continue;
        }
        let (last, first) = (*a.last().unwrap(), b[0]);
        assert!(
            follows(last, first),
            "segment {a_seq} ends at packet {last}, {b_seq} starts at {first}"
        );
    }
}

/// The durations a player's playlist states.
fn durations(player: &Player) -> Vec<f32> {
    let reply = common::get(player.acebox, &player.playlist);
    let playlist = m3u8_rs::parse_media_playlist_res(&reply.body).expect("a media playlist");
    playlist.segments.iter().map(|s| s.duration).collect()
}

fn protocols(status: &serde_json::Value) -> Vec<String> {
    let mut list: Vec<String> = status["channels"][0]["client_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["protocol"].as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

#[test]
fn a_ts_client_of_an_hls_channel_gets_its_segments_back_to_back() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(1);
    let mut phone = Player::connect(proxy.addr, &id);
    let mut tv = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(
        tv.status, 200,
        "no 409: the TV is served from the HLS channel"
    );
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= 4);
    let stream = tv.read_for(Duration::from_secs(3));
    let numbers = segment_numbers(&stream);
    assert!(numbers.len() >= 5, "{numbers:?}");
    assert!(
        consecutive(&numbers),
        "segments skipped or repeated: {numbers:?}"
    );
    assert_eq!(banner_seq(&stream), Some(numbers[0]), "starts at a segment");
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= 8);
    assert!(phone.statuses.iter().all(|s| *s == 200));
    let status = proxy.json("/status");
    assert_eq!(status["channels"].as_array().unwrap().len(), 1);
    assert_eq!(status["channels"][0]["mode"], "hls");
    assert_eq!(protocols(&status), ["hls", "ts"]);
    assert_eq!(engine.stat("starts"), 1, "one engine session for both");
    assert_eq!(
        engine.stat("ts_streams"),
        0,
        "the TV reads no TS stream of its own"
    );
    assert_eq!(engine.stat("max_fetches_per_segment"), 1);
}

#[test]
fn hls_players_of_a_ts_channel_get_segments_cut_from_its_stream() {
    let engine = sim(&FAST_TS);
    let proxy = acebox(engine.addr, &[]);
    let id = content(2);
    let mut tv = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(tv.status, 200);
    assert!(!tv.read(PACKET * 100).is_empty());
    let mut phone = Player::connect(proxy.addr, &id);
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= 6);
    assert!(
        phone.statuses.iter().all(|s| *s == 200),
        "{:?}",
        phone.statuses
    );
    assert!(phone.breaks.is_empty(), "{:?}", phone.breaks);
    for (seq, segment) in &phone.segments {
        assert!(is_pat(&segment[..PACKET]), "segment {seq} starts at a PAT");
        assert_eq!(segment[2 * PACKET + 5] & 0x40, 0x40, "then a keyframe");
    }
    assert_cut_seamlessly(&phone);
    let stated = durations(&phone);
    assert!(
        stated.iter().all(|d| (1.9..=2.1).contains(d)),
        "durations from the stream's timestamps: {stated:?}"
    );
    // The TV was never held up by the segmenter.
    let more = video_indices(&tv.read(PACKET * 2000));
    assert!(more.windows(2).all(|w| follows(w[0], w[1])));
    let status = proxy.json("/status");
    let channel = &status["channels"][0];
    assert_eq!(channel["mode"], "ts");
    assert_eq!(protocols(&status), ["hls", "ts"]);
    assert!(
        channel["segments_cut"]["held"].as_u64().unwrap() >= 6,
        "{channel}"
    );
    assert_eq!(engine.stat("starts"), 1, "one engine session for both");
    assert_eq!(engine.stat("ts_streams"), 1, "one TS reader for both");
}

/// The rule that a burst of segments costs an HLS player none holds for segments cut from an
/// MPEG-TS channel too: a player whose reload comes after more new segments than its playlist
/// lists (an engine's stream resuming after a stall makes such a burst) gets all of them.
#[test]
fn an_hls_player_of_a_ts_channel_reloading_late_skips_no_cut_segment() {
    let engine = sim(&FAST_TS);
    let proxy = acebox(engine.addr, &[]);
    let id = content(8);
    let tv = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(tv.status, 200);
    let mut phone = Player::connect(proxy.addr, &id);
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= 2);
    // Another player polling all along shows when more than a playlist's worth of segments
    // has been cut since the phone's last reload (no more than two beyond that: the ring,
    // at least twice the playlist, still holds the phone's next).
    let mut watcher = Player::connect(proxy.addr, &id);
    let seen = watcher.poll().expect("a playlist");
    watcher.play(PATIENCE, POLL, |w| {
        w.segments
            .keys()
            .last()
            .is_some_and(|s| *s > seen + PLAYLIST_WINDOW as u64)
    });
    phone.play(PATIENCE, POLL, |p| {
        p.segments.len() >= 2 * PLAYLIST_WINDOW + 4
    });
    assert!(
        phone.statuses.iter().all(|s| *s == 200),
        "{:?}",
        phone.statuses
    );
    assert!(phone.breaks.is_empty(), "{:?}", phone.breaks);
    assert_cut_seamlessly(&phone);
    let channel = &proxy.json("/status")["channels"][0];
    assert_eq!(channel["mode"], "ts");
    assert_eq!(channel["counters"]["client_skips"], 0, "{channel}");
    drop(tv);
}

/// The segmenter runs only while a TS channel has HLS players: when the last has been gone for
/// its lease, the cut segments are let go, and the next HLS player starts it again.
#[test]
fn segments_are_cut_only_while_a_ts_channel_has_hls_players() {
    let engine = sim(&FAST_TS);
    let proxy = acebox(engine.addr, &[]);
    let id = content(7);
    let mut tv = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(tv.status, 200);
    let held = || proxy.json("/status")["channels"][0]["segments_cut"]["held"].as_u64();
    let mut phone = Player::connect(proxy.addr, &id);
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    assert!(held().unwrap() > 0);
    // The phone leaves; the TV keeps watching (and keeps the channel's reader running).
    common::wait_for(Duration::from_secs(60), "the cut segments let go", || {
        assert!(!tv.read(PACKET * 100).is_empty());
        (held() == Some(0)).then_some(())
    });
    let mut laptop = Player::connect(proxy.addr, &id);
    laptop.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    assert!(
        laptop.statuses.iter().all(|s| *s == 200),
        "{:?}",
        laptop.statuses
    );
    assert!(held().unwrap() > 0, "cut again");
    assert!(
        proxy.logs().contains("no HLS player left"),
        "{}",
        proxy.logs()
    );
}

#[test]
fn hls_players_of_a_ts_channel_play_on_through_an_engine_restart() {
    let engine = sim(&FAST_TS);
    let proxy = acebox(engine.addr, &[]);
    let id = content(3);
    let tv = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(tv.status, 200);
    let mut phone = Player::connect(proxy.addr, &id);
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    let addr = engine.kill();
    let engine = sim_at(addr, &FAST_TS);
    let before = phone.segments.len();
    phone.play(PATIENCE, POLL, |p| p.segments.len() >= before + 6);
    assert!(
        phone.statuses.iter().all(|s| *s == 200),
        "{:?}",
        phone.statuses
    );
    assert!(
        !phone.breaks.is_empty(),
        "the restarted stream follows a discontinuity"
    );
    assert_cut_seamlessly(&phone);
    assert!(engine.stat("starts") >= 1, "the session was started again");
    drop(tv);
}

#[test]
fn a_ts_client_of_an_hls_channel_plays_on_through_an_engine_restart() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(4);
    let _phone = Player::connect(proxy.addr, &id);
    let mut tv = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(tv.status, 200);
    let mut numbers = segment_numbers(&tv.read_for(Duration::from_secs(1)));
    let addr = engine.kill();
    let _engine = sim_at(addr, &[]);
    // The restarted engine numbers its segments from where its clock starts again.
    let deadline = Instant::now() + PATIENCE;
    let restart = loop {
        numbers.extend(segment_numbers(&tv.read_for(Duration::from_millis(500))));
        let restart = numbers.windows(2).position(|w| w[1] < w[0]);
        if let Some(at) = restart.filter(|at| numbers.len() - at > 5) {
            break at;
        }
        assert!(Instant::now() < deadline, "no new segments: {numbers:?}");
    };
    assert!(consecutive(&numbers[..=restart]), "{numbers:?}");
    assert!(consecutive(&numbers[restart + 1..]), "{numbers:?}");
}

/// Real players: ffmpeg reads MPEG-TS and HLS of one channel at the same time, in both orders
/// (a channel opened by a TV, one opened by a phone), with one engine start each: both
/// channels at once, or one after the other on a board that plays one channel.
#[test]
fn ffmpeg_plays_ts_and_hls_of_one_channel_at_once() {
    if !have("ffmpeg") {
        return;
    }
    let dir = TempDir::new("acebox-protocols");
    make_media(dir.path(), 20, Codecs::H264);
    let engine = sim(&["--segment-ms", "1000", "--media-dir", dir.arg()]);
    // The channels of a first round go idle to make room for the next, but not before the
    // round's players have all finished (they start within a second or two of each other) and
    // the channels have been looked at.
    let proxy = acebox(engine.addr, &["--idle-timeout", "10"]);
    let play = |path: String| Ffmpeg::play(&format!("http://{}{path}", proxy.addr), 8);
    let hls = |id: &str| format!("/ace/manifest.m3u8?id={id}");
    // Each channel with the URL of its first player, then of its second.
    let (tv_first, phone_first) = (content(5), content(6));
    let channels = [
        (&tv_first, "ts", [getstream(&tv_first), hls(&tv_first)]),
        (
            &phone_first,
            "hls",
            [hls(&phone_first), getstream(&phone_first)],
        ),
    ];
    for round in channels.chunks(MAX_CHANNELS.min(2)) {
        room_for_a_channel(&proxy);
        let mut players: Vec<_> = round
            .iter()
            .map(|(_, _, urls)| play(urls[0].clone()))
            .collect();
        // Once the channels are open, each in the mode of its first player, the other players.
        common::wait_for(PATIENCE, "the channels to open", || {
            let channels = proxy.json("/status")["channels"].as_array()?.len();
            (channels == round.len()).then_some(())
        });
        players.extend(round.iter().map(|(_, _, urls)| play(urls[1].clone())));
        for mut player in players {
            let played = player.finish();
            let stderr = played.said;
            assert!(played.status.success(), "ffmpeg failed: {stderr}");
            assert!(stderr.trim().is_empty(), "ffmpeg reported: {stderr}");
        }
        let status = proxy.json("/status");
        for (id, mode, _) in round {
            let channel = status["channels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["content_id"] == id.as_str())
                .unwrap_or_else(|| panic!("no channel {id}: {status}"));
            assert_eq!(channel["mode"], *mode, "{channel}");
            assert_eq!(channel["counters"]["engine_starts"], 1, "{channel}");
        }
    }
    assert_eq!(engine.stat("starts"), 2, "one per channel");
}
