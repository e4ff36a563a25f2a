//! acebox's HLS behaviour, end to end: the real binary in front of the engine simulator, over
//! real sockets. How players are told apart is tests/players.rs.

mod common;

use std::time::{Duration, Instant};

use acebox::board::{MAX_CLIENTS_PER_CHANNEL, PLAYLIST_WINDOW, RING_SLOTS};
use common::{
    Player, acebox, assert_contiguous, at_once, content, get, get_as, get_from, next_device, sim,
    sim_at, user_agent, wait_for,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn the_seed_scenario_a_second_client_joins_and_the_first_session_expires_without_a_403() {
    // Every start rotates the session's URLs; the old ones answer 403 from then on.
    let engine = sim(&["--rotate-tokens"]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(1);
    let mut first = Player::connect(proxy.addr, &id);
    first.play(PATIENCE, POLL, |p| p.segments.len() >= 4);
    // Keep playing past the 2 s in which a connect shares the last start.
    let began = std::time::Instant::now();
    first.play(PATIENCE, POLL, |_| {
        began.elapsed() > Duration::from_millis(2100)
    });
    let mut second = Player::connect(proxy.addr, &id);
    assert_eq!(
        engine.stat("starts"),
        2,
        "the second connect refreshed the session"
    );
    engine.json(&format!("/sim/expire?id={id}"));
    let goal = first.segments.keys().last().unwrap() + 8;
    for player in [&mut first, &mut second] {
        player.play(PATIENCE, POLL, |p| {
            p.segments.keys().last().is_some_and(|s| *s >= goal)
        });
    }
    assert!(
        first
            .statuses
            .iter()
            .chain(&second.statuses)
            .all(|s| *s == 200),
        "{:?} {:?}",
        first.statuses,
        second.statuses
    );
    assert_contiguous(&first);
    assert_eq!(
        proxy.json("/status")["channels"].as_array().unwrap().len(),
        1,
        "one channel for both"
    );
}

#[test]
fn playback_heals_itself_after_a_supersede_with_no_new_client() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(2);
    let mut player = Player::connect(proxy.addr, &id);
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    let starts = engine.stat("starts");
    engine.json(&format!("/sim/supersede?id={id}"));
    let goal = player.segments.keys().last().unwrap() + 10;
    player.play(PATIENCE, POLL, |p| {
        p.segments.keys().last().is_some_and(|s| *s >= goal)
    });
    assert!(engine.stat("playlist_403") >= 1, "acebox met the 403");
    assert_eq!(
        engine.stat("starts"),
        starts + 1,
        "and restarted its session once"
    );
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    assert_contiguous(&player);
}

#[test]
fn playback_heals_itself_after_an_engine_restart() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(3);
    let mut player = Player::connect(proxy.addr, &id);
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    let addr = engine.kill();
    // While the engine is down, the player still gets its playlist from the ring.
    for _ in 0..3 {
        player.poll();
    }
    let engine = sim_at(addr, &[]);
    let goal = player.segments.keys().last().unwrap() + 5;
    player.play(PATIENCE, POLL, |p| {
        p.segments.keys().last().is_some_and(|s| *s >= goal)
    });
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    assert!(
        engine.stat("starts") >= 1,
        "a new session on the restarted engine"
    );
    assert!(
        !player.breaks.is_empty(),
        "the restart is marked as a discontinuity"
    );
    let seqs: Vec<u64> = player.segments.keys().copied().collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "media sequence continuous: {seqs:?}"
    );
}

#[test]
fn twenty_clients_share_one_fetch_per_segment_and_get_the_same_bytes() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(4);
    let addr = proxy.addr;
    // Twenty, or as many as the board takes on one channel.
    let clients = MAX_CLIENTS_PER_CHANNEL.min(20);
    let players = at_once(clients, move |_| {
        let mut player = Player::connect(addr, &id);
        player.play(PATIENCE, POLL, |p| p.segments.len() >= 8);
        player
    });
    for player in &players {
        assert_contiguous(player);
        for (seq, bytes) in &player.segments {
            for other in &players {
                if let Some(theirs) = other.segments.get(seq) {
                    assert_eq!(bytes, theirs, "segment {seq} differs between clients");
                }
            }
        }
    }
    let stats = engine.json("/sim/stats");
    assert_eq!(
        stats["max_fetches_per_segment"],
        1,
        "{stats}\n{}",
        proxy.logs()
    );
    assert_eq!(
        stats["segment_requests"], stats["distinct_segments"],
        "{stats}"
    );
    assert_eq!(
        engine.stat("starts"),
        1,
        "connects within moments share one start"
    );
    let status = proxy.json("/status");
    assert_eq!(status["channels"][0]["clients"], clients);
}

/// Plays `players` in turn, each polling every [`POLL`], until each has got `more` segments past
/// the newest it had.
fn play_together(players: &mut [Player], more: u64) {
    let goals: Vec<u64> = players
        .iter()
        .map(|p| p.segments.keys().last().map_or(more, |s| s + more))
        .collect();
    let reached = |p: &Player, goal: u64| p.segments.keys().last().is_some_and(|s| *s >= goal);
    let deadline = Instant::now() + PATIENCE;
    while !players.iter().zip(&goals).all(|(p, g)| reached(p, *g)) {
        assert!(Instant::now() < deadline, "players gave up");
        for player in players.iter_mut() {
            player.poll();
        }
        std::thread::sleep(POLL);
    }
}

/// Real engines publish several segments at once after a stall. Bursts longer than the board's
/// playlist (one more segment, then twice as many, which the ring still holds): neither a
/// player that follows the redirect nor one that reloads the entry URL skips a segment.
#[test]
fn bursts_longer_than_the_playlist_cost_no_player_a_segment() {
    let (short, long) = (PLAYLIST_WINDOW as u64 + 1, 2 * PLAYLIST_WINDOW as u64);
    // The engine lists three of the longer bursts: acebox sees every segment it publishes.
    let window = (3 * long).to_string();
    let engine = sim(&["--window", &window]);
    engine.json(&format!("/sim/config?burst={short}"));
    let proxy = acebox(engine.addr, &[]);
    let id = content(5);
    let mut players = [
        Player::connect(proxy.addr, &id),
        Player::reloading_entry(proxy.addr, &id),
    ];
    play_together(&mut players, 3 * short);
    engine.json(&format!("/sim/config?burst={long}"));
    play_together(&mut players, 3 * long);
    for player in &players {
        assert!(
            player.statuses.iter().all(|s| *s == 200),
            "{:?}",
            player.statuses
        );
        assert_contiguous(player);
    }
    assert_eq!(engine.stat("max_fetches_per_segment"), 1);
    let channel = &proxy.json("/status")["channels"][0];
    assert_eq!(channel["counters"]["client_skips"], 0, "{channel}");
}

/// A player away for longer than the ring holds (a paused app) starts again at the newest
/// segments, as a new player would, and `/status` counts the skip.
#[test]
fn a_player_further_behind_than_the_ring_skips_to_the_newest_and_is_counted() {
    // The newest segments are listed with the ring's other slots to spare before the first of
    // them is taken back: at least 2 s of them, for a player under emulation on a small ring.
    let spare = (RING_SLOTS - PLAYLIST_WINDOW) as u64;
    let segment_ms = (2000 / spare).max(200).to_string();
    let engine = sim(&["--segment-ms", &segment_ms]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(10));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 2);
    let last = *player.segments.keys().last().unwrap();
    // Every segment acebox fetches goes into the ring: once it has fetched a ring's worth and
    // one more, the segment after the player's last is gone.
    let fetched = engine.stat("distinct_segments");
    wait_for(PATIENCE, "the ring to turn over", || {
        (engine.stat("distinct_segments") > fetched + RING_SLOTS as u64).then_some(())
    });
    player.poll();
    let first = *player.segments.range(last + 1..).next().unwrap().0;
    assert!(first > last + 1, "skipped ahead: {last} then {first}");
    assert_eq!(
        player.segments.range(first..).count(),
        PLAYLIST_WINDOW,
        "the newest segments, as for a new player"
    );
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    let channel = &proxy.json("/status")["channels"][0];
    assert_eq!(channel["counters"]["client_skips"], 1, "{channel}");
}

#[test]
fn ten_simultaneous_first_requests_make_one_channel_and_one_engine_start() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(6);
    let (addr, connect) = (proxy.addr, format!("/ace/manifest.m3u8?id={id}"));
    // Ten players (or as many as the board takes on one channel: 8 on the small routers),
    // each on a device of its own, with a User-Agent of its own.
    let players = MAX_CLIENTS_PER_CHANNEL.min(10);
    let devices: Vec<_> = (0..players).map(|_| next_device()).collect();
    let replies = at_once(players, move |n| {
        get_from(devices[n], addr, &connect, &user_agent(n))
    });
    assert!(replies.iter().all(|r| r.status == 302), "{replies:?}");
    let mut locations: Vec<_> = replies
        .iter()
        .map(|r| r.header("location").unwrap().to_owned())
        .collect();
    locations.sort();
    locations.dedup();
    assert_eq!(locations.len(), players, "a playlist URL per client");
    assert_eq!(engine.stat("starts"), 1);
    let status = proxy.json("/status");
    assert_eq!(status["channels"].as_array().unwrap().len(), 1);
    assert_eq!(status["channels"][0]["clients"], players);
    assert_eq!(status["channels"][0]["counters"]["engine_starts"], 1);
}

#[test]
fn a_player_polling_its_playlist_never_starts_a_session() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(7));
    player.play(PATIENCE, POLL, |p| p.statuses.len() >= 15);
    assert_eq!(engine.stat("starts"), 1, "polls are polls, not connects");
    let ms = &player.media_sequences;
    assert!(
        ms.windows(2).all(|w| w[0] <= w[1]),
        "media sequence never goes back: {ms:?}"
    );
}

#[test]
fn an_idle_channel_is_stopped_once_and_a_client_back_within_grace_keeps_it() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "2"]);
    let id = content(8);
    let mut player = Player::connect(proxy.addr, &id);
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 2);
    // Away for half the idle timeout, then back: the channel is still there. (On a board whose
    // ring holds less than a second of these 200 ms segments and two more, away for that long:
    // the ring still holds where the player left off.)
    let away = 1000.min(200 * (RING_SLOTS as u64 - 2));
    std::thread::sleep(Duration::from_millis(away));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 6);
    assert_eq!(engine.stat("stops"), 0);
    assert_eq!(engine.stat("starts"), 1);
    assert_contiguous(&player);
    // Gone for good: one stop, and the channel is forgotten (once the engine has answered the
    // stop, a moment after it counts it).
    wait_for(PATIENCE, "the idle stop", || {
        let forgotten = proxy.json("/status")["channels"]
            .as_array()
            .is_some_and(Vec::is_empty);
        (engine.stat("stops") == 1 && forgotten).then_some(())
    });
    assert_eq!(
        get(proxy.addr, &format!("/ace/c/{id}/0000000000000001/1.ts")).status,
        404
    );
    assert_eq!(engine.stat("stops"), 1, "stopped once");
}

#[test]
fn a_client_waiting_for_its_first_segments_is_not_idle() {
    let engine = sim(&["--prebuffer-ms", "3000", "--start-timeout-ms", "10000"]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    let mut player = Player::connect(proxy.addr, &content(9));
    // The first poll blocks through 3 s of prebuffering, three times the idle timeout.
    player.poll();
    assert_eq!(player.statuses, [200]);
    assert!(!player.segments.is_empty());
    assert_eq!(engine.stat("stops"), 0);
}

#[test]
fn the_playlist_is_rewritten_onto_acebox_and_off_host_lines_are_dropped() {
    let engine = sim(&[]);
    engine.json("/sim/config?off_host=1");
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(10));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 5);
    let playlist = get(proxy.addr, &player.playlist).text();
    assert!(
        !playlist.contains("127.0.0.2") && !playlist.contains(&engine.addr.to_string()),
        "{playlist}"
    );
    assert!(playlist.contains("#EXT-X-TARGETDURATION:1\n"), "{playlist}");
    assert!(playlist.contains("#EXTINF:0.200000,\n"), "{playlist}");
    drop(proxy);
}

#[test]
fn engine_options_pass_through_to_the_engine_encoded() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(11);
    let reply = get(
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={id}&preferred_audio_language=rus&transcode_audio=1&pid=x"),
    );
    assert_eq!(reply.status, 302);
    let sessions = engine.json("/sim/stats")["sessions"].clone();
    assert_eq!(
        sessions[0]["pid"],
        format!("acebox-{id}"),
        "acebox's own player id, not the client's"
    );
}

#[test]
fn a_player_back_after_an_idle_stop_resumes_by_infohash_with_a_forward_media_sequence() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    let hash = content(12);
    let mut player = Player::open(proxy.addr, &format!("infohash={hash}&transcode_audio=1"));
    assert!(
        player.playlist.ends_with("?by=infohash&transcode_audio=1"),
        "{}",
        player.playlist
    );
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    let before = *player.media_sequences.last().unwrap();
    // The player pauses past the idle timeout: the channel is stopped and forgotten.
    wait_for(PATIENCE, "the idle stop", || {
        (engine.stat("stops") == 1).then_some(())
    });
    let resumed = player.segments.len() + 3;
    player.play(PATIENCE, POLL, |p| p.segments.len() >= resumed);
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    assert!(
        *player.media_sequences.last().unwrap() > before,
        "the media sequence went back"
    );
    assert_eq!(engine.stat("starts"), 2, "started again, by infohash");
    let sessions = engine.json("/sim/stats")["sessions"].clone();
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["content"] == hash.as_str())
    );
}

/// Segments answer byte ranges (web players may ask for parts): one range gets 206 with its
/// `Content-Range`, a range past the end 416, several ranges or none the whole segment.
#[test]
fn a_segment_is_served_in_byte_ranges() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(13));
    player.play(PATIENCE, POLL, |p| !p.segments.is_empty());
    let playlist = get(proxy.addr, &player.playlist).text();
    let uri = playlist
        .lines()
        .find(|l| l.ends_with(".ts"))
        .expect("a segment");
    let whole = get(proxy.addr, uri);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let len = whole.body.len();
    for (range, part, bytes) in [
        ("bytes=0-99", 0..100, format!("bytes 0-99/{len}")),
        (
            "bytes=100-",
            100..len,
            format!("bytes 100-{}/{len}", len - 1),
        ),
        (
            "bytes=-50",
            len - 50..len,
            format!("bytes {}-{}/{len}", len - 50, len - 1),
        ),
        (
            &format!("bytes=10-{}", len + 5) as &str,
            10..len,
            format!("bytes 10-{}/{len}", len - 1),
        ),
    ] {
        let reply = get_as(proxy.addr, uri, &format!("Range: {range}\r\n"));
        assert_eq!(reply.status, 206, "{range}: {}", reply.text());
        assert_eq!(
            reply.header("content-range"),
            Some(bytes.as_str()),
            "{range}"
        );
        assert_eq!(reply.body, whole.body[part], "{range}");
    }
    let past = get_as(proxy.addr, uri, &format!("Range: bytes={len}-\r\n"));
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=5-2"] {
        let reply = get_as(proxy.addr, uri, &format!("Range: {ignored}\r\n"));
        assert_eq!((reply.status, reply.body.len()), (200, len), "{ignored}");
    }
}
