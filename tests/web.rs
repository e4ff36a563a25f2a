//! What a web page of another origin may do with acebox, and what it may not: players' URLs
//! (`/ace/...`) answer any origin, as the engine's do, so web players play; the status page,
//! `/status`, `/metrics` and the channel list carry no CORS header, so a page cannot read who
//! watches what, and answer only requests that name acebox in their `Host` (its address, its
//! host name, `localhost`, a `--host` name), so DNS rebinding cannot read them either.
//! `tests/browser.rs` shows both in a real browser.

mod common;

use std::net::SocketAddr;

use common::{Player, Reply, acebox, content, request, sim};

/// `METHOD path` with `Host: host` and an `Origin` of another site.
fn from_page(addr: SocketAddr, method: &str, host: &str, path: &str) -> Reply {
    request(
        addr,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://page.example\r\n\
             Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
        ),
    )
}

fn cors(reply: &Reply) -> Option<&str> {
    reply.header("access-control-allow-origin")
}

#[test]
fn only_players_urls_answer_other_origins() {
    let engine = sim(&[]);
    let dir = std::env::temp_dir().join(format!("acebox-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("list.m3u");
    std::fs::write(&list, format!("acestream://{}\n", content(2))).unwrap();
    let proxy = acebox(engine.addr, &["--channels", list.to_str().unwrap()]);
    let host = proxy.addr.to_string();
    let mut player = Player::connect(proxy.addr, &content(1));
    player.play(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(100),
        |p| !p.segments.is_empty(),
    );
    let playlist = common::get(proxy.addr, &player.playlist).text();
    let segment = playlist.lines().find(|l| l.ends_with(".ts")).unwrap();
    let entry = format!("/ace/manifest.m3u8?id={}", content(1));
    for path in [entry.as_str(), &player.playlist, segment, "/ace/nope"] {
        let reply = from_page(proxy.addr, "GET", &host, path);
        assert_eq!(cors(&reply), Some("*"), "{path}: {}", reply.status);
        let preflight = from_page(proxy.addr, "OPTIONS", &host, path);
        assert_eq!(preflight.status, 204);
        assert_eq!(cors(&preflight), Some("*"), "preflight {path}");
    }
    for path in ["/", "/status", "/metrics", "/playlist.m3u"] {
        let reply = from_page(proxy.addr, "GET", &host, path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(cors(&reply), None, "{path}");
        let preflight = from_page(proxy.addr, "OPTIONS", &host, path);
        assert_eq!(cors(&preflight), None, "preflight {path}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// What reports what acebox does or lists what it plays: the status views, the channel list,
/// the search playlists and guide, the tuner's and the media server's documents.
const REPORTS_AND_LISTS: [&str; 11] = [
    "/",
    "/status",
    "/metrics",
    "/playlist.m3u",
    "/search.m3u?query=sport",
    "/search.json?query=news",
    "/epg.xml",
    "/discover.json",
    "/lineup.json",
    "/lineup_status.json",
    "/device.xml",
];

#[test]
fn reports_and_lists_answer_only_acebox_own_names() {
    let engine = sim(&[]);
    let dir = std::env::temp_dir().join(format!("acebox-web-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("list.m3u");
    std::fs::write(&list, format!("acestream://{}\n", content(2))).unwrap();
    let proxy = acebox(
        engine.addr,
        &[
            "--channels",
            list.to_str().unwrap(),
            "--host",
            "tv.lan",
            "--host=box.example.org",
        ],
    );
    let port = proxy.addr.port();
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let machine = machine.trim();
    for host in [
        proxy.addr.to_string(),
        format!("localhost:{port}"),
        "LOCALHOST".to_owned(),
        format!("tv.lan:{port}"),
        "TV.LAN.".to_owned(),
        "box.example.org:443".to_owned(),
        format!("{machine}:{port}"),
        format!("{machine}.local:{port}"),
    ] {
        for path in REPORTS_AND_LISTS {
            let reply = from_page(proxy.addr, "GET", &host, path);
            assert_eq!(reply.status, 200, "{host}{path}: {}", reply.text());
        }
    }
    // A name acebox is not known by: what a page gets after DNS rebinding, or a Host made up.
    for host in [
        format!("rebind.example:{port}"),
        format!("{machine}.rebind.example:{port}"),
        format!("tv.lan.example:{port}"),
        format!("10.9.8.7:{port}"),
        "evil.example/x?\"".to_owned(),
    ] {
        for path in REPORTS_AND_LISTS {
            let reply = from_page(proxy.addr, "GET", &host, path);
            assert_eq!(reply.status, 421, "{host}{path}: {}", reply.text());
            assert!(reply.error().contains("--host"), "{}", reply.text());
        }
    }
    // No Host at all (HTTP/1.0): no browser sends that; the connection's address serves.
    let old = request(proxy.addr, "GET /status HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 200);
    // Players' URLs answer whatever the Host: a player names acebox however it was given it.
    let entry = format!("/ace/manifest.m3u8?id={}", content(1));
    let reply = from_page(proxy.addr, "GET", &format!("rebind.example:{port}"), &entry);
    assert_eq!(reply.status, 302, "{}", reply.text());
    let _ = std::fs::remove_dir_all(dir);
}
