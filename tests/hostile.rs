//! Hostile input, sent over raw sockets where a client library would tidy it up: each request
//! gets a clear status (acebox's JSON error where acebox answers, hyper's own where the request
//! never parses), costs no engine start, reaches nothing but the engine (with everything taken
//! from the client percent-encoded), and leaves acebox serving with no session left behind.
//! `errors.rs` has the plainer cases (missing ids, `..` under `/ace/`, unknown methods).
//!
//! One file of a little over 400 lines on purpose: its eight cases are one theme and all lean on
//! the harness at the top (`setup`, `refused`, `assert_unharmed`), which no other test uses.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{
    Player, Process, Reply, Trap, TsClient, acebox, content, get, request, request_bytes,
    room_for_a_channel, sim, video_indices, wait_for, wait_sessions_stopped,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

/// The engine simulator and acebox in front of it, with a short idle timeout so that the
/// sessions a test starts are stopped within seconds of their clients leaving.
fn setup() -> (Process, Process) {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    (engine, proxy)
}

/// The query strings of the engine starts acebox made, oldest first.
fn start_queries(engine: &Process) -> Vec<String> {
    let stats = engine.json("/sim/stats");
    let queries = stats["start_queries"].as_array().expect("start_queries");
    queries
        .iter()
        .map(|q| q.as_str().unwrap().to_owned())
        .collect()
}

/// Bad input so far reached the engine not even as a failed start.
fn assert_no_engine_call(engine: &Process) {
    let queries = start_queries(engine);
    assert!(
        queries.is_empty(),
        "bad input reached the engine: {queries:?}"
    );
}

/// The start query acebox sends for content `id` with the encoded engine options `extra`.
fn start_query(id: &str, extra: &str) -> String {
    format!("content_id={id}&pid=acebox-{id}&format=json{extra}")
}

/// `GET target` as sent, byte for byte.
fn raw_get(proxy: &Process, target: &[u8]) -> Reply {
    let mut raw = b"GET ".to_vec();
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: acebox\r\nConnection: close\r\n\r\n");
    request_bytes(proxy.addr, &raw)
}

/// Refused with `status`, by acebox with a JSON error (returned) or, for a request that never
/// parses, by hyper with no body (`None`).
fn refused(reply: &Reply, status: u16, what: &str) -> Option<String> {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    (!reply.body.is_empty()).then(|| reply.error())
}

/// After the hostile input: the engine got exactly `started` start requests, all of which
/// started a session, a good client still plays, and once every client has gone each engine
/// session is stopped, once.
fn assert_unharmed(engine: &Process, proxy: &Process, started: u64) {
    assert_eq!(
        start_queries(engine).len() as u64,
        started,
        "engine start requests\n{}",
        proxy.logs()
    );
    assert_eq!(engine.stat("starts"), started);
    room_for_a_channel(proxy);
    let mut player = Player::connect(proxy.addr, &content(99));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 2);
    drop(player);
    let stats = wait_sessions_stopped(engine);
    assert_eq!(stats["starts"], started + 1);
}

#[test]
fn dot_segments_raw_or_percent_encoded_are_never_resolved() {
    let (engine, proxy) = setup();
    let id = content(1);
    for target in [
        format!("/x/../ace/manifest.m3u8?id={id}"),
        format!("/ace/x/../getstream?id={id}"),
        format!("/ace/manifest.m3u8/..?id={id}"),
        format!("/ace/%2e%2e/ace/manifest.m3u8?id={id}"),
        format!("/ace/%2E%2E%2Fmanifest.m3u8?id={id}"),
        "/ace/m/..%2f..%2fstatus/0000000000000001.m3u8".to_owned(),
        format!("/ace/m/{id}/..%2f0000000000000001.m3u8"),
        format!("/ace/c/{id}/0000000000000001/..%2f..%2f1.ts"),
        "/%2e%2e/%2e%2e/etc/passwd".to_owned(),
    ] {
        let error = refused(&raw_get(&proxy, target.as_bytes()), 404, &target);
        assert!(error.is_some(), "{target}: acebox answers, in JSON");
    }
    // Not origin-form at all: hyper refuses it before acebox sees it.
    let target = format!("../ace/manifest.m3u8?id={id}");
    refused(&raw_get(&proxy, target.as_bytes()), 400, &target);
    assert_no_engine_call(&engine);
    // In an engine option, dot segments are only text, and reach the engine encoded.
    let reply = get(
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={id}&preferred_audio_language=..%2F..%2Fx"),
    );
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert_eq!(
        start_queries(&engine),
        [start_query(&id, "&preferred_audio_language=..%2F..%2Fx")]
    );
    assert_unharmed(&engine, &proxy, 1);
}

#[test]
fn absolute_form_urls_are_acebox_own_and_nothing_else_is_contacted() {
    let (engine, proxy) = setup();
    let mut trap = Trap::new();
    let off = trap.addr();
    let (hls, ts, by_host) = (content(2), content(3), content(4));
    let connect = request(
        proxy.addr,
        &format!(
            "GET http://evil.example/ace/manifest.m3u8?id={hls} HTTP/1.1\r\n\
             Host: evil.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(connect.status, 302, "{}", connect.text());
    let location = connect.header("location").unwrap().to_owned();
    assert!(location.starts_with("/ace/m/"), "{location}");
    // The player polls its playlist through the off-host authority too: the playlist it gets
    // names only acebox's own paths.
    let playlist = wait_for(PATIENCE, "a playlist", || {
        let reply = request(
            proxy.addr,
            &format!(
                "GET http://{off}{location} HTTP/1.1\r\nHost: {off}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        text.contains(".ts").then_some(text)
    });
    let uris: Vec<&str> = playlist.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(uris.iter().all(|u| u.starts_with("/ace/c/")), "{playlist}");
    // Each channel after the last has gone idle, on a board that plays fewer than three.
    room_for_a_channel(&proxy);
    let mut stream = TsClient::send(
        proxy.addr,
        &format!("GET http://{off}/ace/getstream?id={ts} HTTP/1.1\r\nHost: {off}\r\n\r\n"),
    );
    assert_eq!(stream.status, 200);
    assert!(!video_indices(&stream.read(188 * 50)).is_empty());
    drop(stream);
    room_for_a_channel(&proxy);
    let host_only = request(
        proxy.addr,
        &format!(
            "GET /ace/manifest.m3u8?id={by_host} HTTP/1.1\r\nHost: {off}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(host_only.status, 302, "{}", host_only.text());
    // A proxy tunnel is no GET.
    let tunnel = request(
        proxy.addr,
        &format!("CONNECT {off} HTTP/1.1\r\nHost: {off}\r\nConnection: close\r\n\r\n"),
    );
    assert!(refused(&tunnel, 405, "CONNECT").is_some());
    assert_eq!(
        trap.caught(),
        0,
        "acebox connected to the address a client named"
    );
    let mut queries = start_queries(&engine);
    queries.sort();
    let mut expected: Vec<String> = [&hls, &ts, &by_host]
        .iter()
        .map(|id| start_query(id, ""))
        .collect();
    expected.sort();
    assert_eq!(queries, expected, "the engine got every start");
    assert_unharmed(&engine, &proxy, 3);
    assert_eq!(trap.caught(), 0);
}

#[test]
fn nul_bytes_in_path_or_query_are_refused_or_reach_the_engine_encoded() {
    let (engine, proxy) = setup();
    let id = content(5);
    for target in [
        format!("/ace/manifest.m3u8%00?id={id}"),
        format!("/ace/getstream%00?id={id}"),
        format!("/ace/m/{id}%00/0000000000000001.m3u8"),
        format!("/ace/c/{id}/0000000000000001/1.ts%00"),
    ] {
        assert!(refused(&raw_get(&proxy, target.as_bytes()), 404, &target).is_some());
    }
    for (target, says) in [
        (format!("/ace/manifest.m3u8?id={id}%00"), "40 hexadecimal"),
        (
            format!("/ace/manifest.m3u8?id=%00{}", &id[1..]),
            "40 hexadecimal",
        ),
        (format!("/ace/getstream?infohash={id}%00"), "40 hexadecimal"),
        (format!("/ace/manifest.m3u8?%00={id}"), "missing"),
    ] {
        let error = refused(&raw_get(&proxy, target.as_bytes()), 400, &target);
        assert!(error.unwrap().contains(says), "{target}");
    }
    // A raw NUL never makes a request line.
    for target in [
        format!("/ace/manifest.m3u8\0?id={id}"),
        format!("/ace/manifest.m3u8?id={id}\0"),
    ] {
        refused(&raw_get(&proxy, target.as_bytes()), 400, "a raw NUL");
    }
    assert_no_engine_call(&engine);
    let reply = get(
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={id}&transcode_audio=%00"),
    );
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert_eq!(
        start_queries(&engine),
        [start_query(&id, "&transcode_audio=%00")]
    );
    assert_unharmed(&engine, &proxy, 1);
}

#[test]
fn huge_queries_and_headers_are_refused_without_harm() {
    let (engine, proxy) = setup();
    let id = content(6);
    // A request head over acebox's limit (16 KiB): hyper's 431, before acebox sees it.
    let huge = format!("/ace/manifest.m3u8?id={}", "a".repeat(100 * 1024));
    refused(&raw_get(&proxy, huge.as_bytes()), 431, "100 KB query");
    // Just short enough: acebox's 400.
    let long = format!("/ace/getstream?id={}", "a".repeat(15 * 1000));
    let error = refused(&raw_get(&proxy, long.as_bytes()), 400, "15 KB id").unwrap();
    assert!(error.contains("40 hexadecimal"), "{error}");
    let mut raw = b"GET /status HTTP/1.1\r\nHost: acebox\r\nCookie: ".to_vec();
    raw.extend(std::iter::repeat_n(b'c', 500 * 1024));
    raw.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    refused(&request_bytes(proxy.addr, &raw), 431, "500 KB header");
    assert_no_engine_call(&engine);
    // A good id among 2,000 junk parameters and an oversized option: played, and the engine
    // gets only what acebox means to send.
    let junk = "a=1&".repeat(2_000);
    let target = format!(
        "/ace/manifest.m3u8?{junk}transcode_mp3={}&id={id}&transcode_audio=1",
        "1".repeat(4_000)
    );
    let reply = raw_get(&proxy, target.as_bytes());
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert_eq!(
        start_queries(&engine),
        [start_query(&id, "&transcode_audio=1")]
    );
    assert_unharmed(&engine, &proxy, 1);
}

#[test]
fn non_utf8_bytes_in_path_or_query_are_a_clear_refusal() {
    let (engine, proxy) = setup();
    let id = content(7);
    // Raw, they never make a request line.
    for target in [
        b"/ace/manifest.m3u8?id=\xff\xfe".to_vec(),
        [b"/ace/\xc3\x28/manifest.m3u8?id=", id.as_bytes()].concat(),
        [
            b"/ace/getstream?id=",
            id.as_bytes(),
            b"&transcode_audio=\xff",
        ]
        .concat(),
        [b"/ace/m/", id.as_bytes(), b"/\x80.m3u8"].concat(),
    ] {
        let what = String::from_utf8_lossy(&target).into_owned();
        refused(&raw_get(&proxy, &target), 400, &what);
    }
    // Percent-encoded, they are not ids, paths or options.
    for target in [
        "/ace/m/%ff%fe/0000000000000001.m3u8".to_owned(),
        format!("/ace/m/{id}/%c0%af0000000000000001.m3u8"),
        "/ace/%c0%ae%c0%ae/status".to_owned(),
    ] {
        assert!(refused(&raw_get(&proxy, target.as_bytes()), 404, &target).is_some());
    }
    for target in [
        format!("/ace/getstream?id=%c0%af{}", &id[2..]),
        format!("/ace/manifest.m3u8?id%ff={id}"),
    ] {
        assert!(refused(&raw_get(&proxy, target.as_bytes()), 400, &target).is_some());
    }
    assert_no_engine_call(&engine);
    let reply = get(
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={id}&transcode_audio=%ff&transcode_ac3=1"),
    );
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert_eq!(
        start_queries(&engine),
        [start_query(&id, "&transcode_ac3=1")],
        "an option that is not UTF-8 is left out"
    );
    assert_unharmed(&engine, &proxy, 1);
}

#[test]
fn repeated_parameters_take_the_first_and_the_engine_gets_one_of_each() {
    let (engine, proxy) = setup();
    let [a, b, c, d, e, f] = [10, 11, 12, 13, 14, 15].map(content);
    for (query, played) in [
        (format!("id={a}&id={b}"), &a),
        (format!("content_id={c}&infohash={d}"), &c),
        (format!("infohash={d}&id={e}"), &e),
        (
            format!(
                "id={f}&transcode_audio=1&transcode_audio=2&pid=evil&format=redirect&format=json&id={a}"
            ),
            &f,
        ),
    ] {
        room_for_a_channel(&proxy);
        let reply = get(proxy.addr, &format!("/ace/manifest.m3u8?{query}"));
        assert_eq!(reply.status, 302, "{query}: {}", reply.text());
        let location = reply.header("location").unwrap();
        assert!(
            location.starts_with(&format!("/ace/m/{played}/")),
            "{query}: {location}"
        );
    }
    // The first id is the id, even when a good one follows.
    let reply = get(proxy.addr, &format!("/ace/getstream?id=nothex&id={b}"));
    assert!(refused(&reply, 400, "a bad first id").is_some());
    assert_eq!(
        start_queries(&engine),
        [
            start_query(&a, ""),
            start_query(&c, ""),
            start_query(&e, ""),
            start_query(&f, "&transcode_audio=1"),
        ]
    );
    assert_unharmed(&engine, &proxy, 4);
}

#[test]
fn ids_that_are_not_40_hex_digits_are_refused_everywhere() {
    let (engine, proxy) = setup();
    let id = content(16);
    let bad = [
        id[1..].to_owned(),
        format!("{id}0"),
        format!("0x{}", &id[2..]),
        format!("{}g", &id[1..]),
        format!("{}+", &id[1..]),
        format!("%20{}", &id[1..]),
        format!("-{}", &id[1..]),
        "%C3%A9".repeat(20),
        "%EF%BC%90".repeat(40),
    ];
    for bad in &bad {
        for start in ["manifest.m3u8", "getstream"] {
            for name in ["id", "content_id", "infohash"] {
                let target = format!("/ace/{start}?{name}={bad}");
                let error = refused(&raw_get(&proxy, target.as_bytes()), 400, &target).unwrap();
                assert!(error.contains("40 hexadecimal"), "{target}: {error}");
            }
        }
        for target in [
            format!("/ace/m/{bad}/0000000000000001.m3u8"),
            format!("/ace/c/{bad}/0000000000000001/1.ts"),
        ] {
            assert!(refused(&raw_get(&proxy, target.as_bytes()), 404, &target).is_some());
        }
    }
    assert_no_engine_call(&engine);
    // Upper case is a good id, and the engine gets it in lower case.
    let reply = get(
        proxy.addr,
        &format!("/ace/manifest.m3u8?id={}", id.to_ascii_uppercase()),
    );
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert_eq!(start_queries(&engine), [start_query(&id, "")]);
    assert_unharmed(&engine, &proxy, 1);
}

#[test]
fn five_hundred_connections_dropped_half_way_leave_nothing_behind() {
    let (engine, proxy) = setup();
    assert_eq!(get(proxy.addr, "/status").status, 200);
    let before = proxy.open_fds();
    let id = content(17);
    let halves = [
        String::new(),
        format!("GET /ace/getstream?id={id} HTTP/1.1\r\nHo"),
        "GET /ace/manifest.m3u8?id=".to_owned(),
        format!("GET /ace/manifest.m3u8?id={id} HTTP/1.1\r\nHost: acebox\r\n"),
    ];
    for half in halves.iter().cycle().take(500) {
        let mut stream = TcpStream::connect(proxy.addr).unwrap();
        if !half.is_empty() {
            stream.write_all(half.as_bytes()).unwrap();
        }
    }
    // Connections still in the listen queue hold no descriptor yet, and while acebox works
    // through them it may be at its connection limit (503, or a plain close when too many
    // refusals are under way): wait until it holds none but the one asking.
    let status = wait_for(Duration::from_secs(30), "acebox to close them all", || {
        let mut conn = TcpStream::connect(proxy.addr).ok()?;
        let status = format!(
            "GET /status HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            proxy.addr
        );
        conn.write_all(status.as_bytes()).ok()?;
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
        let body = answer
            .strip_prefix(b"HTTP/1.1 200 OK\r\n".as_slice())
            .and_then(|rest| {
                rest.windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|at| &rest[at + 4..])
            })?;
        let status: serde_json::Value = serde_json::from_slice(body).ok()?;
        (status["connections"]["open"] == 1 && proxy.open_fds() <= before).then_some(status)
    });
    assert!(status["channels"].as_array().unwrap().is_empty());
    assert_unharmed(&engine, &proxy, 0);
}
