//! acebox as an appliance: log levels, shutdown on SIGTERM and SIGINT, and the connection limits
//! (`max_connections`, `--allow`, idle and slow clients). What it reports (status, metrics, the
//! page) is tests/report.rs.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use acebox::board::{ADDRESS_CONNECTIONS, MAX_CHANNELS, MAX_CONNECTIONS};
use common::{
    Player, acebox, connect_from, content, get, live_channels, next_device, sim, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);
/// How long a connection goes without a request before the gate may close it to make room
/// (`IDLE_GRACE_MS` in src/http/gate.rs), and a little more.
const IDLE_GRACE: Duration = Duration::from_millis(1100);

#[test]
fn the_log_level_is_set_by_flag_or_environment() {
    let engine = sim(&[]);
    let quiet = acebox(engine.addr, &["--log-level", "warn"]);
    let loud = acebox(engine.addr, &["--log-level=debug"]);
    for proxy in [&quiet, &loud] {
        let mut player = Player::connect(proxy.addr, &content(4));
        player.play(WAIT, Duration::from_millis(100), |p| !p.segments.is_empty());
    }
    assert!(!quiet.logs().contains("[info]"), "{}", quiet.logs());
    assert!(loud.logs().contains("[info] channel"), "{}", loud.logs());
    assert!(
        loud.logs().contains("[debug] client 127."),
        "{}",
        loud.logs()
    );
    // Each event once: one start line per channel, however many segments were played.
    assert_eq!(
        loud.logs().matches("engine session").count(),
        1,
        "{}",
        loud.logs()
    );
    let bad = common::command(env!("CARGO_BIN_EXE_acebox"))
        .env("ACEBOX_LOG_LEVEL", "chatty")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ACEBOX_LOG_LEVEL \"chatty\""));
}

/// SIGTERM and SIGINT stop every engine session, end the clients' streams and exit 0.
fn shuts_down_cleanly_on(signal: &str) {
    let engine = sim(&[]);
    let mut proxy = acebox(engine.addr, &[]);
    let mut live = live_channels(&proxy);
    // A third channel where the board plays more than two (openwrt-mipsel plays two at most).
    let third = (MAX_CHANNELS >= 3).then(|| {
        let mut third = Player::connect(proxy.addr, &content(5));
        third.play(WAIT, Duration::from_millis(100), |p| !p.segments.is_empty());
        third
    });
    let channels = live.channels + usize::from(third.is_some());
    assert_eq!(engine.json("/sim/stats")["starts"], channels);
    proxy.signal(signal);
    let status = proxy.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}: {}", proxy.logs());
    let stats = engine.json("/sim/stats");
    assert_eq!(stats["stops"], channels, "every session stopped: {stats}");
    let running = stats["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] != "stopped")
        .count();
    assert_eq!(running, 0, "{stats}");
    // The TS client's stream ended: reading runs out instead of blocking.
    let rest = live.ts.read(64 * 1024 * 1024);
    assert!(rest.len() < 64 * 1024 * 1024);
    assert!(
        proxy.logs().contains(&format!("SIG{signal} received")),
        "{}",
        proxy.logs()
    );
}

#[test]
fn sigterm_stops_every_engine_session_and_exits_0() {
    shuts_down_cleanly_on("TERM");
}

#[test]
fn sigint_stops_every_engine_session_and_exits_0() {
    shuts_down_cleanly_on("INT");
}

/// A signal during an engine start: acebox waits for the start to land and stops the session
/// it made, instead of exiting and leaving it to the engine's timeout.
#[test]
fn shutdown_stops_the_session_of_a_start_still_under_way() {
    let engine = sim(&["--start-delay-ms", "1500"]);
    let mut proxy = acebox(engine.addr, &[]);
    let addr = proxy.addr;
    let connect = std::thread::spawn(move || {
        // Its answer does not matter: acebox may exit before it is written.
        let mut conn = TcpStream::connect(addr).unwrap();
        let _ = write!(
            conn,
            "GET /ace/manifest.m3u8?id={} HTTP/1.1\r\nHost: a\r\n\r\n",
            content(7)
        );
        read_to_close(&mut conn)
    });
    wait_for(WAIT, "the engine to get the start request", || {
        let queries = engine.json("/sim/stats")["start_queries"].clone();
        (queries.as_array().is_some_and(|q| !q.is_empty())).then_some(())
    });
    proxy.signal("TERM");
    let status = proxy.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}: {}", proxy.logs());
    let stats = engine.json("/sim/stats");
    assert_eq!(
        (stats["starts"].as_u64(), stats["stops"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    let _ = connect.join();
}

/// Opens `n` connections that send nothing.
fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut devices = Devices::default();
    (0..n)
        .map(|_| connect_from(devices.next(), addr, Duration::from_secs(60)))
        .collect()
}

/// Loopback addresses for connections that fill acebox's table: one address holds at most
/// its share (`ADDRESS_CONNECTIONS`), so each gets that many, then the next takes over.
#[derive(Default)]
struct Devices {
    current: Option<std::net::IpAddr>,
    used: usize,
}

impl Devices {
    fn next(&mut self) -> std::net::IpAddr {
        if self.used % ADDRESS_CONNECTIONS == 0 {
            self.current = Some(next_device());
        }
        self.used += 1;
        self.current.expect("set above")
    }
}

/// Reads until the server closes `conn`; what it sent.
fn read_to_close(conn: &mut TcpStream) -> Vec<u8> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut bytes = Vec::new();
    let _ = conn.read_to_end(&mut bytes);
    bytes
}

/// Every place taken by connections that never send a request, and a slowloris: a player is
/// let in all the same (the longest idle connection makes room) and plays.
#[test]
fn idle_and_slowloris_connections_cannot_lock_a_player_out() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    // The slowloris first, so it is the oldest; with the others, every place is taken.
    let mut slow = connect_from(next_device(), proxy.addr, Duration::from_secs(60));
    slow.write_all(b"GET /status HTTP/1.1\r\nX-Slow: ").unwrap();
    let mut idle = idle_connections(proxy.addr, MAX_CONNECTIONS - 1);
    // What makes them idle: no request for the gate's grace of 1 s (younger, a connection may
    // be about to send one).
    std::thread::sleep(IDLE_GRACE);
    let mut player = Player::connect(proxy.addr, &content(9));
    player.play(WAIT, Duration::from_millis(100), |p| p.segments.len() >= 3);
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    let status = proxy.json("/status");
    let connections = &status["connections"];
    assert!(connections["open"].as_u64().unwrap() <= MAX_CONNECTIONS as u64);
    assert!(
        connections["evicted"].as_u64().unwrap() >= 1,
        "{connections}"
    );
    assert_eq!(connections["refused_full"], 0, "{connections}");
    // The slowloris, the oldest, was closed for room first: without a word, long before the
    // header timeout.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let closed = slow.read_to_end(&mut got);
    assert!(
        matches!(closed, Ok(0)) && got.is_empty(),
        "{closed:?} {got:?}"
    );
    let closed = idle
        .iter_mut()
        .map(read_to_close)
        .filter(Vec::is_empty)
        .count();
    assert_eq!(
        closed,
        MAX_CONNECTIONS - 1,
        "every idle connection closed, none answered"
    );
}

/// Only when every connection has a request under way (here, players waiting for a channel
/// that prebuffers) is a new one turned away: 503, with `Retry-After` and a JSON error.
#[test]
fn when_every_connection_has_a_request_under_way_a_new_one_gets_503() {
    let engine = sim(&["--prebuffer-ms", "60000", "--start-timeout-ms", "120000"]);
    let proxy = acebox(engine.addr, &[]);
    let connect = get(
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={}", content(10)),
    );
    let playlist = connect
        .header("location")
        .expect("a playlist URL")
        .to_owned();
    let request = format!("GET {playlist} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut devices = Devices::default();
    let mut waiting = || -> Option<TcpStream> {
        let mut conn = connect_from(devices.next(), proxy.addr, Duration::from_secs(60));
        conn.write_all(request.as_bytes()).ok()?;
        Some(conn)
    };
    let mut held: Vec<TcpStream> = (0..MAX_CONNECTIONS).filter_map(|_| waiting()).collect();
    // One let in took the place of a connection whose head was not read yet, and waits too.
    let mut refusal = wait_for(WAIT, "a refused connection", || {
        let mut conn = waiting()?;
        conn.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        let mut head = [0u8; 12];
        if conn.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 503") {
            let mut answer = head.to_vec();
            answer.extend(read_to_close(&mut conn));
            return Some(answer);
        }
        held.push(conn);
        None
    });
    let text = String::from_utf8_lossy(&refusal);
    assert!(text.contains("\r\nRetry-After: 5\r\n"), "{text}");
    assert!(
        text.contains("\r\nAccess-Control-Allow-Origin: *\r\n"),
        "a web player can read the refusal too: {text}"
    );
    let body = &refusal[refusal.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    let error: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("maximum"),
        "{error}"
    );
    refusal.clear();
    // Room again once they leave.
    drop(held);
    let status = wait_for(WAIT, "the gate to reopen", || {
        let reply = get(proxy.addr, "/status");
        (reply.status == 200).then(|| reply.json())
    });
    assert!(status["connections"]["refused_full"].as_u64().unwrap() >= 1);
}

/// 2,000 connections that never send a byte: acebox serves a request while they are open
/// (closing the longest idle to make room), closes every one of them (for room, or by the
/// header timeout, without a word; or, past the limit while the others were too new to be
/// idle, with a 503), and its memory stays bounded.
#[test]
fn two_thousand_idle_connections_are_shed_and_acebox_keeps_serving() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let rss_before = proxy.memory_kib("VmRSS");
    let mut idle = idle_connections(proxy.addr, 2000);
    std::thread::sleep(IDLE_GRACE);
    let served = get(proxy.addr, "/status");
    assert_eq!(served.status, 200, "{}", served.text());
    for conn in &mut idle {
        let answer = read_to_close(conn);
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 503"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // acebox serves again, and holds no connection but the one asking.
    wait_for(WAIT, "every idle connection to be let go", || {
        let reply = get(proxy.addr, "/status");
        (reply.status == 200 && reply.json()["connections"]["open"] == 1).then_some(())
    });
    let rss_after = proxy.memory_kib("VmRSS");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

/// A client that sends its request head a byte at a time (slowloris) is cut off by the header
/// timeout; a head larger than the limit is refused with 431.
#[test]
fn slow_and_oversized_request_heads_are_refused() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let mut slow = TcpStream::connect(proxy.addr).unwrap();
    slow.write_all(b"GET /status HTTP/1.1\r\nX-Slow: ").unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    wait_for(WAIT, "acebox to close the slow client", || {
        // A byte every half second keeps the connection from ever looking idle.
        if slow.write_all(b"a").is_err() {
            return Some(());
        }
        let mut buf = [0u8; 512];
        match slow.read(&mut buf) {
            Ok(0) => Some(()),
            // hyper may say why before it closes.
            Ok(n) if buf[..n].starts_with(b"HTTP/1.1 408") => Some(()),
            Ok(n) => panic!("answered a request that never ended: {:?}", &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => None,
            Err(_) => Some(()),
        }
    });
    // Just over the limit, sent in full before the answer is read.
    let mut big = TcpStream::connect(proxy.addr).unwrap();
    let huge = "x".repeat(acebox::http::MAX_HEAD_BYTES);
    write!(
        big,
        "GET /status HTTP/1.1\r\nHost: a\r\nX-Big: {huge}\r\n\r\n"
    )
    .unwrap();
    let answer = read_to_close(&mut big);
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(get(proxy.addr, "/status").status, 200);
}

#[test]
fn allow_lets_only_listed_networks_in() {
    let engine = sim(&[]);
    let closed = acebox(
        engine.addr,
        &["--allow", "10.0.0.0/8", "--allow", "fd00::/8"],
    );
    let reply = get(
        closed.addr,
        &format!("/ace/manifest.m3u8?id={}", content(6)),
    );
    assert_eq!(reply.status, 403);
    assert!(reply.json()["error"].as_str().unwrap().contains("--allow"));
    assert_eq!(
        engine.json("/sim/stats")["starts"],
        0,
        "a refused client starts nothing"
    );
    let open = acebox(engine.addr, &["--allow", "127.0.0.0/8"]);
    assert_eq!(get(open.addr, "/status").status, 200);
    let status = open.json("/status");
    assert_eq!(status["connections"]["refused_forbidden"], 0);
    let bad = common::command(env!("CARGO_BIN_EXE_acebox"))
        .args(["--allow", "my-lan"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--allow \"my-lan\""));
}
