//! Bad input and engine faults: a clear error with the right status, and nothing else spent.

mod common;

use std::time::{Duration, Instant};

use common::{ClosedPort, acebox, content, get, send, sim};

#[test]
fn missing_or_malformed_ids_are_400_with_a_json_error_and_no_engine_call() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    for (query, says) in [
        ("", "missing"),
        ("?id=", "missing"),
        ("?id=abc", "40 hexadecimal"),
        (
            "?id=zz34567890123456789012345678901234567890",
            "40 hexadecimal",
        ),
        ("?content_id=%00%00", "40 hexadecimal"),
        ("?infohash=../../etc/passwd", "40 hexadecimal"),
        ("?url=http://evil.example/x.acelive", "url="),
        ("?id=%ff%fe", "missing"),
    ] {
        let reply = get(proxy.addr, &format!("/ace/manifest.m3u8{query}"));
        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(says), "{query}: {error}");
    }
    assert_eq!(engine.stat("starts"), 0);
}

#[test]
fn an_unreachable_engine_is_a_clear_502_within_seconds() {
    let closed = ClosedPort::new();
    let connect = std::net::TcpStream::connect(closed.addr).map(|_| ());
    assert_eq!(
        connect.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "the port refuses"
    );
    let proxy = acebox(closed.addr, &[]);
    let began = Instant::now();
    let reply = get(proxy.addr, &format!("/ace/manifest.m3u8?id={}", content(1)));
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{}",
        reply.text()
    );
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(
        proxy.json("/status")["channels"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no channel left behind"
    );
}

#[test]
fn an_engine_that_cannot_load_the_content_is_a_502_that_says_so() {
    let engine = sim(&[]);
    let id = content(2);
    engine.json(&format!("/sim/config?fail_id={id}"));
    let proxy = acebox(engine.addr, &[]);
    let reply = get(proxy.addr, &format!("/ace/manifest.m3u8?id={id}"));
    assert_eq!(reply.status, 502);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("failed to load content"),
        "{}",
        reply.text()
    );
    assert!(
        proxy.json("/status")["channels"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_engine_with_its_json_api_gated_is_played_in_redirect_mode() {
    let engine = sim(&["--no-json"]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = common::Player::connect(proxy.addr, &content(3));
    player.play(Duration::from_secs(20), Duration::from_millis(100), |p| {
        p.segments.len() >= 3
    });
    let stats = engine.json("/sim/stats");
    assert_eq!(stats["redirect_starts"], 1);
}

#[test]
fn unknown_paths_methods_and_segments_are_refused() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    for path in [
        "/nope",
        "/ace/m/x/y.m3u8",
        "/ace/c/x/y/z.ts",
        &format!("/ace/c/{}/0000000000000001/1.ts", content(4)),
        "/ace/../../etc/passwd",
        "/a/b/c/d/e/f/g/h/i/j/k",
        "/ace/c/%2e%2e/x/1.ts",
    ] {
        let reply = get(proxy.addr, path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.json()["error"].is_string());
    }
    let connect = format!("/ace/manifest.m3u8?id={}", content(4));
    let post = send(proxy.addr, "POST", &connect);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));
    let head = send(proxy.addr, "HEAD", &connect);
    assert_eq!(head.status, 200);
    // A player's own playlist URL starts its channel again when polled after an idle stop; a
    // HEAD of it starts nothing, as on the entry URLs.
    let own = format!("/ace/m/{}/0000000000000001.m3u8", content(4));
    let head = send(proxy.addr, "HEAD", &own);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(
        engine.stat("starts"),
        0,
        "HEAD and refused requests start nothing"
    );
    // acebox is still serving.
    assert_eq!(get(proxy.addr, "/status").status, 200);
}

#[test]
fn bad_command_lines_exit_2_with_a_message() {
    let exe = env!("CARGO_BIN_EXE_acebox");
    for args in [
        &["--idle-timeout", "0"][..],
        &["--idle-timeout", "soon"],
        &["--engine", "localhost:6878"],
        &["--listen", "6880"],
        &["--frobnicate"],
        &["--engine"],
    ] {
        let out = common::command(exe).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("acebox: ") && stderr.contains("--help"),
            "{args:?}: {stderr}"
        );
    }
    let out = common::command(exe)
        .env("ACEBOX_IDLE_TIMEOUT", "-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ACEBOX_IDLE_TIMEOUT"));
    let help = common::command(exe).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--engine",
        "--listen",
        "--idle-timeout",
        "ACEBOX_ENGINE",
        "ACEBOX_LISTEN",
        "ACEBOX_IDLE_TIMEOUT",
    ] {
        assert!(text.contains(flag), "--help explains {flag}");
    }
}

/// A web player on another origin can read every answer to a player's URL, errors included,
/// and its preflights pass; what acebox reports is not for other origins (tests/web.rs).
#[test]
fn players_answers_allow_any_origin_and_preflights_get_204() {
    let engine = sim(&["--segment-ms", "300"]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(5);
    let connect = get(proxy.addr, &format!("/ace/manifest.m3u8?id={id}"));
    assert_eq!(connect.status, 302);
    let playlist_url = connect.header("location").unwrap().to_owned();
    let playlist = get(proxy.addr, &playlist_url);
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let segment_url = playlist
        .text()
        .lines()
        .find(|l| l.starts_with("/ace/c/"))
        .unwrap()
        .to_owned();
    let answers = [
        ("connect (302)", connect),
        ("playlist", playlist),
        ("segment", get(proxy.addr, &segment_url)),
        ("bad id (400)", get(proxy.addr, "/ace/manifest.m3u8?id=x")),
        ("unknown path (404)", get(proxy.addr, "/ace/nope")),
        ("POST (405)", send(proxy.addr, "POST", "/ace/getstream")),
    ];
    for (what, reply) in &answers {
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("*"),
            "{what}: {}",
            reply.status
        );
        assert!(
            reply
                .header("access-control-expose-headers")
                .is_some_and(|h| h.contains("Location")),
            "{what}"
        );
    }
    let preflight = common::request(
        proxy.addr,
        &format!(
            "OPTIONS /ace/manifest.m3u8?id={id} HTTP/1.1\r\nHost: {}\r\nOrigin: http://other.example\r\n\
             Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n\
             Connection: close\r\n\r\n",
            proxy.addr
        ),
    );
    assert_eq!(preflight.status, 204, "{}", preflight.text());
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("GET") && methods.contains("HEAD"),
        "{methods}"
    );
    let headers = preflight.header("access-control-allow-headers").unwrap();
    assert!(headers.contains("Range"), "{headers}");
    assert_eq!(engine.stat("starts"), 1, "a preflight starts nothing");
}
