//! Engine faults, each provoked through the simulator: while the engine misbehaves acebox keeps
//! its clients served (or tells a new one clearly why it cannot be), playback resumes afterwards
//! with new, contiguous segments, and once the channel has been idle no engine session is left
//! running. `hls.rs` and `ts.rs` cover a supersede, an expired session and an engine killed and
//! started again on its port; `errors.rs` covers the 502s of an unreachable or refusing engine.

mod common;

use std::time::Duration;

use acebox::board::MAX_SEGMENT_BYTES;
use common::{
    Player, Process, acebox, assert_contiguous_between_breaks, content, sim, upstream_seq,
    wait_sessions_stopped,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

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
/// each once. Returns the simulator's stats.
fn assert_no_session_left(engine: &Process, client: impl Sized) -> serde_json::Value {
    drop(client);
    let stats = wait_sessions_stopped(engine);
    let ours = stats["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pid"].as_str().unwrap().starts_with("acebox-"))
        .count();
    assert_eq!(
        stats["stops"], ours as u64,
        "each session stopped once: {stats}"
    );
    stats
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
