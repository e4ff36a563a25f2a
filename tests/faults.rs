//! Engine faults, each provoked through the simulator: while the engine misbehaves acebox keeps
//! its clients served (or tells a new one clearly why it cannot be), playback resumes afterwards
//! with new, contiguous segments, and once the channel has been idle no engine session is left
//! running. `hls.rs` and `ts.rs` cover a supersede, an expired session and an engine killed and
//! started again on its port; `errors.rs` covers the 502s of an unreachable or refusing engine.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use acebox::board::MAX_SEGMENT_BYTES;
use acebox::engine::SEGMENT_TIMEOUT;
use acebox::ts::READ_STALL;
use common::{
    Player, Process, Trap, TsClient, acebox, assert_contiguous, assert_contiguous_between_breaks,
    content, gap_free_runs, get, room_for_a_channel, sim, sim_at, upstream_seq, video_indices,
    wait_sessions_stopped,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);
/// For faults acebox heals with new sessions: a live window of 25 s, far longer than acebox's
/// backoff while it heals, so no segment goes by unfetched (and the player, which gets the
/// ones that pile up meanwhile a playlist at a time, misses none either).
const HEAL_ARGS: [&str; 4] = ["--segment-ms", "500", "--window", "50"];
/// Fast enough for many packets in a second, with a start-up burst of about 500 packets.
const TS_ARGS: [&str; 4] = ["--ts-bitrate", "2000000", "--ts-burst-bytes", "100000"];

/// acebox in front of `engine`, with a short idle timeout so that a channel is stopped within
/// seconds of its clients leaving.
fn proxy_for(engine: std::net::SocketAddr) -> Process {
    acebox(engine, &["--idle-timeout", "1"])
}

fn setup(sim_args: &[&str]) -> (Process, Process) {
    let engine = sim(sim_args);
    let proxy = proxy_for(engine.addr);
    (engine, proxy)
}

/// Plays until `more` segments newer than the newest got so far have arrived.
fn play_on(player: &mut Player, more: u64) {
    let goal = player.segments.keys().last().map_or(more, |s| s + more);
    player.play(PATIENCE, POLL, |p| {
        p.segments.keys().last().is_some_and(|s| *s >= goal)
    });
}

/// Plays until acebox has logged `line`, however long the fault takes to show (at most `limit`).
fn play_until_logged(player: &mut Player, proxy: &Process, line: &str, limit: Duration) {
    player.play(limit, POLL, |_| proxy.logs().contains(line));
}

/// Every playlist poll was answered 200: the fault never reached the player.
fn assert_all_served(player: &Player) {
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
}

/// The client leaves; once the channel is idle every engine session acebox started is stopped,
/// each once.
fn assert_no_session_left(engine: &Process, client: impl Sized) {
    drop(client);
    wait_sessions_stopped(engine);
}

fn no_channels(proxy: &Process) -> bool {
    proxy.json("/status")["channels"]
        .as_array()
        .unwrap()
        .is_empty()
}

/// Reads the TS client's stream into `indices` (its video indices) until they satisfy `done`.
fn read_until(client: &mut TsClient, indices: &mut Vec<u64>, done: impl Fn(&[u64]) -> bool) {
    let deadline = Instant::now() + PATIENCE + READ_STALL;
    while !done(indices) {
        assert!(Instant::now() < deadline, "the stream did not go on");
        let got = client.read(188 * 64);
        assert!(!got.is_empty(), "acebox ended the client's stream");
        indices.extend(video_indices(&got));
    }
}

/// Whether the stream broke once and has gone on for a good while since.
fn went_on_after_a_break(indices: &[u64]) -> bool {
    let runs = gap_free_runs(indices);
    runs.len() >= 2 && runs.last().unwrap().len() >= 500
}

#[test]
fn an_engine_down_at_the_first_connect_is_played_once_it_is_up() {
    // A port nothing listens on, until the engine starts there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = proxy_for(addr);
    let id = content(1);
    for start in ["manifest.m3u8", "getstream"] {
        let reply = get(proxy.addr, &format!("/ace/{start}?id={id}"));
        assert_eq!(reply.status, 502, "{start}: {}", reply.text());
        assert!(reply.error().contains("unreachable"), "{}", reply.text());
    }
    assert!(no_channels(&proxy), "no channel left behind");
    let engine = sim_at(addr, &[]);
    let mut player = Player::connect(proxy.addr, &id);
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 4);
    assert_all_served(&player);
    assert_contiguous(&player);
    assert_eq!(engine.stat("starts"), 1);
    assert_no_session_left(&engine, player);
}

#[test]
fn hls_heals_after_an_engine_restart_that_forgets_every_session() {
    let (engine, proxy) = setup(&[]);
    let mut player = Player::connect(proxy.addr, &content(2));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    // The engine restarts in place: its port stays open, the session is unknown (500).
    engine.json("/sim/restart");
    play_on(&mut player, 5);
    assert_all_served(&player);
    assert!(engine.stat("playlist_500") >= 1, "acebox met the 500");
    assert_eq!(engine.stat("starts"), 2, "and started one new session");
    assert!(!player.breaks.is_empty(), "the restart is a discontinuity");
    assert_contiguous_between_breaks(&player);
    assert_no_session_left(&engine, player);
}

#[test]
fn ts_clients_ride_through_an_engine_restart_that_forgets_every_session() {
    let (engine, proxy) = setup(&TS_ARGS);
    let mut client = TsClient::open(proxy.addr, &format!("/ace/getstream?id={}", content(3)));
    assert_eq!(client.status, 200);
    let mut indices = Vec::new();
    read_until(&mut client, &mut indices, |i| i.len() >= 500);
    engine.json("/sim/restart");
    read_until(&mut client, &mut indices, went_on_after_a_break);
    let runs = gap_free_runs(&indices);
    assert_eq!(runs.len(), 2, "one break, at the restart");
    assert!(
        runs[1][0] < *runs[0].last().unwrap(),
        "the restarted engine's clock starts again"
    );
    assert_eq!(
        engine.stat("starts"),
        2,
        "one new session after the restart"
    );
    assert!(proxy.logs().contains("TS stream interrupted"));
    assert_no_session_left(&engine, client);
}

#[test]
fn a_segment_that_fails_for_a_moment_is_fetched_again_without_a_gap() {
    let (engine, proxy) = setup(&[]);
    let mut player = Player::connect(proxy.addr, &content(13));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    engine.json("/sim/config?segment_status=500&count=2");
    play_until_logged(&mut player, &proxy, "not fetched yet", PATIENCE);
    play_on(&mut player, 5);
    assert_all_served(&player);
    assert_contiguous(&player);
    assert_eq!(engine.stat("starts"), 1, "no new session for it");
    assert_eq!(engine.stat("max_fetches_per_segment"), 1);
    assert_no_session_left(&engine, player);
}

#[test]
fn a_segment_stalled_past_the_read_timeout_costs_a_break_not_the_session() {
    // A short live window: the stalled segment is no longer listed when acebox tries again.
    // (With the engine's minute-long window it would still be listed, and fetched, at the next
    // poll.) The four acebox then catches up with at once reach the player in full, after a
    // break, whatever the board's playlist.
    let (engine, proxy) = setup(&["--window", "4"]);
    let mut player = Player::connect(proxy.addr, &content(4));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    let stall = SEGMENT_TIMEOUT + Duration::from_millis(1500);
    engine.json(&format!(
        "/sim/config?segment_stall_ms={}",
        stall.as_millis()
    ));
    // Through the stall the player is served what the ring holds.
    play_until_logged(
        &mut player,
        &proxy,
        "did not answer in time",
        stall + PATIENCE,
    );
    play_on(&mut player, 5);
    assert_all_served(&player);
    assert!(!player.breaks.is_empty(), "the lost segments are a break");
    assert_contiguous_between_breaks(&player);
    assert_eq!(
        engine.stat("starts"),
        1,
        "a slow segment is no reason for a new session"
    );
    assert_no_session_left(&engine, player);
}

#[test]
fn garbage_instead_of_a_json_start_answer_falls_back_to_redirect_mode() {
    let (engine, proxy) = setup(&TS_ARGS);
    let id = content(5);
    // Garbage from both start formats: the connect fails clearly, and nothing is kept.
    engine.json("/sim/config?start_garbage=1&count=2");
    let reply = get(proxy.addr, &format!("/ace/manifest.m3u8?id={id}"));
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply.error().contains("neither the JSON nor the redirect"),
        "{}",
        reply.text()
    );
    assert!(no_channels(&proxy));
    let stats = engine.json("/sim/stats");
    assert_eq!(stats["starts"], 0);
    let formats: Vec<bool> = stats["start_queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap().contains("&format=json"))
        .collect();
    assert_eq!(formats, [true, false], "JSON first, then redirect mode");
    // Garbage from the JSON API only: acebox plays in redirect mode.
    engine.json("/sim/config?start_garbage=1");
    let mut player = Player::connect(proxy.addr, &id);
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 4);
    assert_all_served(&player);
    assert_contiguous(&player);
    // The same for MPEG-TS, whose redirect-mode playback URL redirects once more (on a board
    // that plays one channel, once the HLS one has gone idle).
    drop(player);
    room_for_a_channel(&proxy);
    engine.json("/sim/config?start_garbage=1");
    let ts = content(12);
    let mut client = TsClient::open(proxy.addr, &format!("/ace/getstream?id={ts}"));
    assert_eq!(client.status, 200);
    let mut indices = Vec::new();
    read_until(&mut client, &mut indices, |i| i.len() >= 500);
    assert_eq!(gap_free_runs(&indices).len(), 1, "no packet lost");
    assert_eq!(engine.stat("redirect_starts"), 2);
    assert_eq!(engine.stat("json_starts"), 0);
    assert_no_session_left(&engine, client);
}

#[test]
fn garbage_instead_of_a_playlist_heals_the_session_without_a_gap() {
    let (engine, proxy) = setup(&HEAL_ARGS);
    let mut player = Player::connect(proxy.addr, &content(6));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    let starts = engine.stat("starts");
    engine.json("/sim/config?playlist_garbage=1&count=3");
    play_until_logged(&mut player, &proxy, "not an HLS media playlist", PATIENCE);
    play_on(&mut player, 5);
    assert_all_served(&player);
    assert_contiguous(&player);
    let healed = engine.stat("starts") - starts;
    assert!((1..=3).contains(&healed), "{healed} new sessions");
    assert_no_session_left(&engine, player);
}

#[test]
fn start_500s_fail_a_connect_clearly_and_delay_a_heal_without_a_gap() {
    let (engine, proxy) = setup(&HEAL_ARGS);
    let id = content(7);
    // Both start formats answer 500: the client gets the engine's own words.
    engine.json("/sim/config?start_status=500&count=2");
    let reply = get(proxy.addr, &format!("/ace/manifest.m3u8?id={id}"));
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply.error().contains("Internal Server Error"),
        "{}",
        reply.text()
    );
    assert!(no_channels(&proxy));
    assert_eq!(engine.stat("starts"), 0);
    let mut player = Player::connect(proxy.addr, &id);
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    // Mid-stream, another player takes the content over (403) and the next two restarts
    // (two requests each) fail with 500: acebox tries again until it has a session.
    engine.json("/sim/config?start_status=500&count=4");
    engine.json(&format!("/sim/supersede?id={id}"));
    play_on(&mut player, 5);
    assert_all_served(&player);
    assert_contiguous(&player);
    assert_eq!(
        engine.stat("starts"),
        2,
        "one good restart after the failed ones"
    );
    let queries = engine.json("/sim/stats")["start_queries"].clone();
    assert_eq!(
        queries.as_array().unwrap().len(),
        2 + 1 + 4 + 1,
        "failed connect, connect, two failed restarts, restart: {queries}"
    );
    assert_no_session_left(&engine, player);
}

#[test]
fn playlist_500s_are_waited_out_while_starting_and_healed_while_playing() {
    let (engine, proxy) = setup(&HEAL_ARGS);
    // The engine answers a new session's first polls with 500, as it does while it
    // prebuffers ("start timeout"): acebox waits instead of starting the session again.
    engine.json("/sim/config?playlist_status=500&count=2");
    let mut player = Player::connect(proxy.addr, &content(8));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    assert_eq!(engine.stat("playlist_500"), 2);
    assert_eq!(engine.stat("starts"), 1, "no restart while starting");
    // While playing, 500s mean the session is gone: acebox starts a new one.
    engine.json("/sim/config?playlist_status=500&count=3");
    play_until_logged(&mut player, &proxy, "answered HTTP 500", PATIENCE);
    play_on(&mut player, 5);
    assert_eq!(engine.stat("playlist_500"), 5);
    assert_all_served(&player);
    assert_contiguous(&player);
    assert!(engine.stat("starts") >= 2, "the session was restarted");
    assert_no_session_left(&engine, player);
}

#[test]
fn playlist_lines_naming_another_host_are_never_fetched() {
    let (engine, proxy) = setup(&[]);
    let mut trap = Trap::new();
    engine.json(&format!("/sim/config?off_host={}", trap.addr()));
    let mut player = Player::connect(proxy.addr, &content(9));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 6);
    assert_all_served(&player);
    assert_contiguous_between_breaks(&player);
    assert!(
        proxy.logs().contains("points off the engine"),
        "{}",
        proxy.logs()
    );
    assert_eq!(trap.caught(), 0, "acebox fetched an off-host segment");
    assert_no_session_left(&engine, player);
    assert_eq!(trap.caught(), 0);
}

#[test]
fn a_segment_larger_than_a_ring_slot_is_refused_once_and_play_goes_on() {
    let (engine, proxy) = setup(&[]);
    let mut player = Player::connect(proxy.addr, &content(10));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    engine.json(&format!(
        "/sim/config?oversize_segment={}",
        MAX_SEGMENT_BYTES + 188
    ));
    play_until_logged(&mut player, &proxy, "passed over", PATIENCE);
    play_on(&mut player, 5);
    let logs = proxy.logs();
    let refusals: Vec<&str> = logs.lines().filter(|l| l.contains("passed over")).collect();
    assert_eq!(refusals.len(), 1, "{logs}");
    assert!(refusals[0].contains("too large"), "{}", refusals[0]);
    assert_all_served(&player);
    assert_contiguous_between_breaks(&player);
    let upstream: Vec<u64> = player.segments.values().map(|s| upstream_seq(s)).collect();
    let lost: u64 = upstream.windows(2).map(|w| w[1] - w[0] - 1).sum();
    assert_eq!(
        lost, 1,
        "exactly the oversized segment is missing: {upstream:?}"
    );
    assert_eq!(engine.stat("starts"), 1);
    assert_no_session_left(&engine, player);
}

#[test]
fn a_ts_stream_stalled_past_the_read_timeout_is_reconnected_for_its_clients() {
    let (engine, proxy) = setup(&TS_ARGS);
    let mut client = TsClient::open(proxy.addr, &format!("/ace/getstream?id={}", content(11)));
    assert_eq!(client.status, 200);
    let mut indices = Vec::new();
    read_until(&mut client, &mut indices, |i| i.len() >= 500);
    let stall = READ_STALL + Duration::from_secs(2);
    engine.json(&format!("/sim/config?ts_stall_ms={}", stall.as_millis()));
    read_until(&mut client, &mut indices, went_on_after_a_break);
    let runs = gap_free_runs(&indices);
    assert_eq!(runs.len(), 2, "one jump, over the stall");
    assert!(
        runs[1][0] > *runs[0].last().unwrap(),
        "the stream goes on from the live edge"
    );
    assert!(proxy.logs().contains("TS stream interrupted"));
    assert_no_session_left(&engine, client);
}
