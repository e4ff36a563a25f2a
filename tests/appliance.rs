//! acebox as an appliance: the status JSON, the status page in a real headless browser, the
//! Prometheus metrics, log levels, shutdown on SIGTERM and SIGINT, and the connection limits
//! (`max_connections`, `--allow`, idle and slow clients).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use acebox::board::{MAX_CHANNELS, MAX_CONNECTIONS};
use common::{Player, Process, TsClient, acebox, content, get, have, sim, wait_for};

const WAIT: Duration = Duration::from_secs(30);
/// How long a connection goes without a request before the gate may close it to make room
/// (`IDLE_GRACE_MS` in src/http.rs), and a little more.
const IDLE_GRACE: Duration = Duration::from_millis(1100);

/// One HLS player on content 1 that has played a few segments, and one TS client on content 2
/// that has read some packets.
fn two_channels(proxy: &Process) -> (Player, TsClient) {
    let mut player = Player::connect(proxy.addr, &content(1));
    player.play(WAIT, Duration::from_millis(100), |p| p.segments.len() >= 3);
    let mut ts = TsClient::open(proxy.addr, &format!("/ace/getstream?id={}", content(2)));
    assert_eq!(ts.status, 200);
    assert_eq!(ts.read(188 * 100).len(), 188 * 100);
    (player, ts)
}

fn channel<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_id"] == id)
        .unwrap_or_else(|| panic!("no channel {id} in {status}"))
}

#[test]
fn status_tells_the_whole_picture() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let _clients = two_channels(&proxy);
    // The engine's stat is polled in the background: wait for its first answer.
    let status = wait_for(WAIT, "the engine's stat in /status", || {
        let status = proxy.json("/status");
        let polled = status["channels"]
            .as_array()
            .is_some_and(|cs| cs.len() == 2 && cs.iter().all(|c| c["engine"]["status"] == "dl"));
        polled.then_some(status)
    });
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["uptime_secs"].is_u64());
    assert_eq!(
        status["board"]["name"],
        option_env!("ACEBOX_BOARD").unwrap_or("host")
    );
    assert_eq!(status["board"]["max_connections"], MAX_CONNECTIONS);
    assert_eq!(
        status["memory"]["budget_bytes"],
        acebox::board::MEMORY_BUDGET
    );
    assert!(status["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(status["connections"]["open"].as_u64().unwrap() >= 2);

    let hls = channel(&status, &content(1));
    assert_eq!(hls["mode"], "hls");
    assert_eq!(hls["clients"], 1);
    let client = &hls["client_list"][0];
    assert!(
        client["address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{client}"
    );
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let since = client["connected_since"].as_u64().unwrap();
    let ago = client["connected_secs"].as_u64().unwrap();
    assert!(since <= unix_now && since + ago + 5 >= unix_now, "{client}");
    let session = engine.json("/sim/stats")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["content"] == content(1).as_str())
        .map(|s| s["playback_session_id"].clone())
        .unwrap();
    assert_eq!(hls["playback_session_id"], session);
    assert_eq!(hls["engine"]["peers"], 7, "the simulator's stat");
    assert!(hls["ring"]["held"].as_u64().unwrap() >= 3);
    assert!(hls["ring"]["bytes"].as_u64().unwrap() > 0);
    assert!(hls["counters"]["bytes_in"].as_u64().unwrap() > 0);
    assert!(hls["counters"]["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(hls["counters"]["engine_starts"], 1);
    assert_eq!(hls["healthy"], true);
    assert!(hls["last_error"].is_null());

    let ts = channel(&status, &content(2));
    assert_eq!(
        (ts["mode"].as_str(), ts["clients"].as_u64()),
        (Some("ts"), Some(1))
    );
    assert!(ts["counters"]["bytes_out"].as_u64().unwrap() >= 188 * 100);
}

#[test]
fn an_engine_error_shows_as_the_channels_last_error() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(3));
    player.play(WAIT, Duration::from_millis(100), |p| !p.segments.is_empty());
    engine.get(&format!("/sim/supersede?id={}", content(3)));
    let status = wait_for(WAIT, "the 403 in the channel's last error", || {
        let status = proxy.json("/status");
        let said = channel(&status, &content(3))["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("403"));
        said.then_some(status)
    });
    let c = channel(&status, &content(3));
    assert!(c["counters"]["engine_errors"].as_u64().unwrap() >= 1);
    assert!(c["last_error"]["secs_ago"].is_u64());
}

/// Parses the Prometheus text format strictly: every sample belongs to a family declared with
/// `# TYPE` before it, names and labels are well formed, values are numbers. Returns the samples
/// by `name{labels}`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(name_ok(name), "{line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("closed labels");
                for pair in labels.split(',') {
                    let (key, quoted) = pair.split_once('=').expect("key=value");
                    assert!(name_ok(key), "{line}");
                    assert!(
                        quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                        "{line}"
                    );
                }
                name
            }
            None => series,
        };
        let kind = types
            .get(name)
            .unwrap_or_else(|| panic!("no # TYPE for {line}"));
        assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

#[test]
fn metrics_parse_and_describe_the_live_channels() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let _clients = two_channels(&proxy);
    let reply = proxy.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = parse_metrics(&reply.text());
    let (hls, ts) = (content(1), content(2));
    let label = |id: &str, mode: &str| format!("{{channel=\"{id}\",mode=\"{mode}\"}}");
    assert_eq!(m["acebox_channels"], 2.0);
    assert_eq!(m[&format!("acebox_clients{}", label(&hls, "hls"))], 1.0);
    assert_eq!(m[&format!("acebox_clients{}", label(&ts, "ts"))], 1.0);
    assert_eq!(
        m[&format!("acebox_engine_starts_total{}", label(&hls, "hls"))],
        1.0
    );
    assert!(m[&format!("acebox_bytes_in_total{}", label(&hls, "hls"))] > 0.0);
    assert!(m[&format!("acebox_bytes_out_total{}", label(&ts, "ts"))] >= 18800.0);
    assert!(m[&format!("acebox_ring_bytes{}", label(&hls, "hls"))] > 0.0);
    assert_eq!(m["acebox_connections_max"], MAX_CONNECTIONS as f64);
    assert!(m["acebox_connections"] >= 2.0);
    assert!(m["acebox_resident_memory_bytes"] > 0.0);
    assert_eq!(
        m[&format!(
            "acebox_info{{version=\"{}\",board=\"{}\"}}",
            env!("CARGO_PKG_VERSION"),
            option_env!("ACEBOX_BOARD").unwrap_or("host")
        )],
        1.0
    );
    for family in [
        "acebox_engine_errors_total",
        "acebox_segments_skipped_total",
        "acebox_client_skips_total",
        "acebox_client_drops_total",
    ] {
        assert_eq!(
            m[&format!("{family}{}", label(&hls, "hls"))],
            0.0,
            "{family}"
        );
    }
    assert_eq!(
        m["acebox_engine_starts_total{channel=\"closed\",mode=\"\"}"],
        0.0
    );
}

#[test]
fn the_status_page_renders_the_channels_in_a_real_browser() {
    // CI installs chromium (scripts/setup.sh); there, its absence is a failure.
    if !have("chromium") {
        return;
    }
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let _clients = two_channels(&proxy);
    let page = proxy.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let profile = std::env::temp_dir().join(format!("acebox-chromium-{}", std::process::id()));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=412,915",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{}/", proxy.addr))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The browser parsed the page into a document with a section per channel.
    for (id, mode) in [(content(1), "HLS"), (content(2), "MPEG-TS")] {
        let start = dom
            .find(&format!("<section class=\"channel\" id=\"c-{id}\">"))
            .unwrap_or_else(|| panic!("no section for {id} in {dom}"));
        let section = &dom[start..];
        let section = &section[..section.find("</section>").expect("a closed section")];
        assert!(section.contains(&format!("<dd>{mode}</dd>")), "{section}");
        assert!(
            section.contains("127.0.0.1:"),
            "the client's address: {section}"
        );
    }
    assert!(dom.contains("<title>acebox</title>"));
    assert!(
        dom.contains("http-equiv=\"refresh\""),
        "the page refreshes itself"
    );
    assert!(!dom.contains("No channel is playing"));
}

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
        loud.logs().contains("[debug] client 127.0.0.1:"),
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
    let (_player, mut ts) = two_channels(&proxy);
    // A third channel where the board plays more than two (openwrt-mipsel plays two at most).
    let third = (MAX_CHANNELS >= 3).then(|| {
        let mut third = Player::connect(proxy.addr, &content(5));
        third.play(WAIT, Duration::from_millis(100), |p| !p.segments.is_empty());
        third
    });
    let channels = if third.is_some() { 3 } else { 2 };
    assert_eq!(engine.json("/sim/stats")["starts"], channels);
    proxy.signal(signal);
    let status = proxy.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}: {}", proxy.logs());
    let stats = engine.json("/sim/stats");
    assert_eq!(stats["stops"], channels, "every session stopped: {stats}");
    let live = stats["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] != "stopped")
        .count();
    assert_eq!(live, 0, "{stats}");
    // The TS client's stream ended: reading runs out instead of blocking.
    let rest = ts.read(64 * 1024 * 1024);
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

#[test]
fn the_counters_of_a_channel_that_is_gone_stay_in_the_totals() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    let mut player = Player::connect(proxy.addr, &content(8));
    player.play(WAIT, Duration::from_millis(100), |p| p.segments.len() >= 3);
    let playing = proxy.json("/status");
    let served = channel(&playing, &content(8))["counters"]["bytes_out"]
        .as_u64()
        .unwrap();
    assert!(served > 0);
    drop(player);
    let status = wait_for(WAIT, "the idle channel to go", || {
        let status = proxy.json("/status");
        status["channels"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(status)
    });
    let closed = &status["closed"];
    assert_eq!(closed["engine_starts"], 1, "{status}");
    assert!(closed["bytes_out"].as_u64().unwrap() >= served, "{status}");
    assert_eq!(status["totals"], status["closed"], "nothing is live");
    let m = parse_metrics(&proxy.get("/metrics").text());
    let series = |family: &str| m[&format!("{family}{{channel=\"closed\",mode=\"\"}}")];
    assert_eq!(
        series("acebox_bytes_out_total"),
        closed["bytes_out"].as_f64().unwrap()
    );
    assert_eq!(
        series("acebox_bytes_in_total"),
        closed["bytes_in"].as_f64().unwrap()
    );
    assert_eq!(series("acebox_engine_starts_total"), 1.0);
    assert_eq!(m["acebox_channels"], 0.0);
}

/// Opens `n` connections that send nothing.
fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect()
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
    let mut slow = TcpStream::connect(proxy.addr).unwrap();
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
    let waiting = || -> Option<TcpStream> {
        let mut conn = TcpStream::connect(proxy.addr).ok()?;
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
