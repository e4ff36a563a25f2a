//! One device cannot keep the others from watching. A device (one address; the tests give
//! each player a loopback address of its own) holds at most its share of what acebox has, sized
//! by the board (`board::ADDRESS_*`): connections with requests under way, a channel's
//! clients (however many `User-Agent`s it makes up), and new channels it starts (however many
//! random ids it asks for at once, and however often). Each test has one device take all it can, then
//! shows another device still watches.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use acebox::board::{
    ADDRESS_CLIENTS, ADDRESS_CONNECTIONS, ADDRESS_OPENS_PER_MINUTE, ADDRESS_STARTING, MAX_CHANNELS,
    MAX_CLIENTS_PER_CHANNEL, MAX_CONNECTIONS,
};
use common::{
    Player, Process, TsClient, acebox, at_once, connect_from, content, get_from, next_device, sim,
    user_agent, wait_for,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(30);

/// Another device plays content `n` over HLS and reads it over MPEG-TS.
fn another_device_watches(proxy: &Process, n: u8) {
    let mut player = Player::connect(proxy.addr, &content(n));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    let mut ts = TsClient::open(proxy.addr, &format!("/ace/getstream?id={}", content(n)));
    assert_eq!(ts.status, 200);
    assert_eq!(ts.read(188 * 50).len(), 188 * 50);
}

/// The device asks for as many connections as acebox has places, each with a request that
/// stays under way (its channel prebuffers for a minute): it gets its share, the others are
/// turned away, and another device plays.
#[test]
fn one_device_cannot_take_the_connections() {
    let engine = sim(&["--start-timeout-ms", "120000"]);
    let proxy = acebox(engine.addr, &[]);
    let greedy = next_device();
    engine.json("/sim/config?prebuffer_ms=60000");
    let entry = format!("/ace/manifest.m3u8?id={}", content(1));
    let connect = get_from(greedy, proxy.addr, &entry, "");
    assert_eq!(connect.status, 302, "{}", connect.text());
    engine.json("/sim/config?prebuffer_ms=0");
    let playlist = connect.header("location").unwrap();
    let request = format!("GET {playlist} HTTP/1.1\r\nHost: {}\r\n\r\n", proxy.addr);
    let held: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut conn = connect_from(greedy, proxy.addr, PATIENCE);
            let _ = conn.write_all(request.as_bytes());
            conn
        })
        .collect();
    let status = wait_for(
        PATIENCE,
        "every connection past the share turned away",
        || {
            let status = proxy.json("/status");
            let refused = status["connections"]["refused_address"].as_u64()? as usize;
            (refused >= MAX_CONNECTIONS - ADDRESS_CONNECTIONS).then_some(status)
        },
    );
    let open = status["connections"]["open"].as_u64().unwrap() as usize;
    assert!(open <= ADDRESS_CONNECTIONS + 1, "{}", status["connections"]);
    if MAX_CHANNELS >= 2 {
        another_device_watches(&proxy, 2);
    }
    drop(held);
}

/// The device makes up `User-Agent`s on a channel, as if it were a room full of players, and
/// opens MPEG-TS streams: it gets its share of the channel's clients, each past it refused
/// before it refreshes the engine session, and another device joins the same channel.
#[test]
fn one_device_cannot_take_a_channel_s_clients() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let greedy = next_device();
    let entry = format!("/ace/manifest.m3u8?id={}", content(3));
    let answers: Vec<u16> = (0..MAX_CLIENTS_PER_CHANNEL)
        .map(|n| get_from(greedy, proxy.addr, &entry, &user_agent(700 + n)).status)
        .collect();
    let joined = answers.iter().filter(|s| **s == 302).count();
    assert_eq!(joined, ADDRESS_CLIENTS, "{answers:?}");
    let refused = get_from(greedy, proxy.addr, &entry, &user_agent(699));
    assert_eq!(refused.status, 503);
    assert!(
        refused.error().contains("this address"),
        "{}",
        refused.text()
    );
    let stream = format!("/ace/getstream?id={}", content(3));
    let ts = get_from(greedy, proxy.addr, &stream, "");
    assert_eq!(ts.status, 503, "its streams count too");
    // Each made-up player that was let in refreshed the session at most once; none refused did.
    let starts = engine.stat("starts") as usize;
    assert!(starts <= ADDRESS_CLIENTS, "{starts} engine starts");
    another_device_watches(&proxy, 3);
}

/// The device asks for random ids the engine takes seconds to refuse, all at once, then again
/// and again: it starts at most its share of new channels at once (the rest wait their turn)
/// and asks for so many a minute; another device opens a channel of its own meanwhile.
#[test]
fn one_device_cannot_take_the_channels() {
    let engine = sim(&["--fail-delay-ms", "1500"]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    let greedy = next_device();
    let random: Vec<String> = (0..ADDRESS_OPENS_PER_MINUTE + MAX_CHANNELS)
        .map(|n| format!("{:040x}", 0xdead_0000_u64 + n as u64))
        .collect();
    let fail: Vec<String> = random.iter().map(|id| format!("fail_id={id}")).collect();
    engine.json(&format!("/sim/config?{}", fail.join("&")));
    let addr = proxy.addr;
    let ask =
        move |id: &str| get_from(greedy, addr, &format!("/ace/manifest.m3u8?id={id}"), "").status;
    // As many as acebox has channels, all at once: they start in turns, its share at a time.
    let first: Vec<String> = random[..MAX_CHANNELS].to_vec();
    let burst = std::thread::spawn(move || at_once(MAX_CHANNELS, move |i| ask(&first[i])));
    let greedy_ids = random.clone();
    let most = std::thread::spawn(move || {
        let mut most = 0;
        while most < MAX_CHANNELS {
            let status = common::get(addr, "/status").json();
            let listed = status["channels"].as_array().unwrap().iter();
            let starting = listed
                .filter(|c| greedy_ids.iter().any(|id| c["content_id"] == id.as_str()))
                .count();
            most = most.max(starting);
            if engine_done(&status, MAX_CHANNELS) {
                return most;
            }
            std::thread::sleep(POLL / 5);
        }
        most
    });
    if MAX_CHANNELS >= 2 {
        another_device_watches(&proxy, 4);
    }
    let answers = burst.join().unwrap();
    assert_eq!(
        answers,
        vec![502; MAX_CHANNELS],
        "each refused by the engine in its turn"
    );
    let most = most.join().unwrap();
    assert!(most <= ADDRESS_STARTING, "{most} of its channels at once");
    // Again and again: so many new channels a minute (asked for, opened or not), then 429
    // with when to come back.
    let mut rest = random[MAX_CHANNELS..].to_vec();
    let mut answers = Vec::new();
    while !answers.contains(&429) {
        let batch: Vec<String> = rest.drain(..ADDRESS_STARTING.min(rest.len())).collect();
        assert!(!batch.is_empty(), "never refused: {answers:?}");
        answers.extend(at_once(batch.len(), move |i| ask(&batch[i])));
    }
    assert_eq!(
        answers.iter().filter(|s| **s == 502).count(),
        ADDRESS_OPENS_PER_MINUTE - MAX_CHANNELS,
        "{answers:?}"
    );
    let over = get_from(
        greedy,
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={}", random[0]),
        "",
    );
    assert_eq!(over.status, 429, "{}", over.text());
    let retry: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    if MAX_CHANNELS >= 2 {
        another_device_watches(&proxy, 5);
    }
}

/// Whether the engine has answered `n` starts of the random ids (each refused).
fn engine_done(status: &serde_json::Value, n: usize) -> bool {
    status["closed"]["engine_errors"].as_u64().unwrap_or(0) as usize >= n
}
