//! Remote access by token: a client from outside `--allow` gets in when its URL carries one of
//! the `--token` secrets, and every URL acebox hands it carries the secret on (the 302, its
//! playlists' segments, the channel list); one without, or with a wrong one, gets 403, and an
//! address that keeps trying gets 429. `/status` and the page name the token each client came
//! with, never the secret, and the log never holds it. The tests' "outside" is a loopback
//! address that `--allow` does not list.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use acebox::board::MAX_CHANNELS;
use common::{
    Player, Process, Reload, TsClient, acebox, content, get_from, next_device, sim, user_agent,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);
const PHONE: &str = "Zq3-kP9_x7.wL2~mN4vB";
const TV: &str = "0123456789abcdef0123";

/// Where the tests' players are (`next_device`): acebox's LAN.
const LAN: &str = "127.1.0.0/16";

fn outside(n: u8) -> IpAddr {
    IpAddr::from([127, 200, 0, n])
}

/// A channel list of two AceStream entries and a radio stream, in a directory of its own.
fn channel_list(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acebox-tokens-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("list.m3u");
    std::fs::write(
        &list,
        format!(
            "#EXTM3U\n#EXTINF:-1,One\nacestream://{}\n#EXTINF:-1,Radio\nhttp://radio.example/r.mp3\n\
             #EXTINF:-1,Two\nacestream://{}\n",
            content(1),
            content(2)
        ),
    )
    .unwrap();
    list
}

fn proxy(engine: &Process, list: &std::path::Path) -> Process {
    let phone = format!("phone={PHONE}");
    let tv = format!("tv={TV}");
    let list = list.to_str().unwrap();
    acebox(
        engine.addr,
        &[
            "--allow",
            LAN,
            "--token",
            &phone,
            "--token",
            &tv,
            "--channels",
            list,
        ],
    )
}

#[test]
fn remote_players_with_a_token_watch_and_those_without_cannot() {
    let engine = sim(&[]);
    let list = channel_list("watch");
    let proxy = proxy(&engine, &list);
    let away = outside(1);
    let entry = format!("/ace/manifest.m3u8?id={}", content(1));
    let stream = format!("/ace/getstream?id={}", content(2));
    for path in [
        entry.as_str(),
        &stream,
        "/status",
        "/",
        "/playlist.m3u",
        "/metrics",
    ] {
        let reply = get_from(away, proxy.addr, path, "");
        assert_eq!(reply.status, 403, "{path}: {}", reply.text());
        assert!(reply.error().contains("token="), "{path}: {}", reply.text());
        let wrong = get_from(
            outside(2),
            proxy.addr,
            &format!("{path}?token=x{PHONE}"),
            "",
        );
        assert_eq!(wrong.status, 403, "{path}");
    }
    assert_eq!(engine.stat("starts"), 0, "nothing started for them");

    // With a token: HLS, following the 302 or reloading the entry URL, and MPEG-TS.
    let query = format!("id={}&token={PHONE}", content(1));
    for reload in [Reload::Followed, Reload::Entry] {
        let mut player = Player::on(
            away,
            proxy.addr,
            &query,
            reload,
            user_agent(1 + reload as usize),
        );
        player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
        assert!(
            player.statuses.iter().all(|s| *s == 200),
            "{:?}",
            player.statuses
        );
        assert!(
            player.playlist.ends_with(&format!("?token={PHONE}")),
            "{}",
            player.playlist
        );
        let playlist = player.get(&player.playlist).text();
        let uris: Vec<&str> = playlist.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(!uris.is_empty());
        assert!(
            uris.iter().all(|u| u.ends_with(&format!("?token={PHONE}"))),
            "{playlist}"
        );
    }
    // The TV, a remote device of its own, on content 2's channel (content 1's on a board of
    // one channel).
    let tv = outside(4);
    let ts_id = content(MAX_CHANNELS.min(2) as u8);
    let mut ts = TsClient::send_from(
        tv,
        proxy.addr,
        &format!(
            "GET /ace/getstream?id={ts_id}&token={TV} HTTP/1.1\r\nHost: {}\r\n\r\n",
            proxy.addr
        ),
    );
    assert_eq!(ts.status, 200);
    assert_eq!(ts.read(188 * 50).len(), 188 * 50);

    // The channel list: acebox's entries carry the token on, the radio stream's never does.
    let reply = get_from(
        away,
        proxy.addr,
        &format!("/playlist.m3u?token={PHONE}"),
        "",
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    let acebox_urls = text.lines().filter(|l| l.contains("/ace/getstream?id="));
    assert_eq!(acebox_urls.clone().count(), 2, "{text}");
    assert!(
        acebox_urls
            .into_iter()
            .all(|l| l.ends_with(&format!("&token={PHONE}"))),
        "{text}"
    );
    assert!(text.contains("\nhttp://radio.example/r.mp3\n"), "{text}");
    assert!(
        text.starts_with(&format!(
            "#EXTM3U url-tvg=\"http://{}/epg.xml?token={PHONE}\"\n",
            proxy.addr
        )),
        "acebox's own guide carries it: {text}"
    );

    // The search playlist, its guide and the tuner's lineup carry it too.
    let search = get_from(
        away,
        proxy.addr,
        &format!("/search.m3u?query=sport&token={PHONE}"),
        "",
    );
    assert_eq!(search.status, 200, "{}", search.text());
    let text = search.text();
    let entries: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!entries.is_empty(), "{text}");
    assert!(
        entries
            .iter()
            .all(|l| l.ends_with(&format!("&token={PHONE}"))),
        "{text}"
    );
    assert!(
        text.starts_with("#EXTM3U url-tvg=\"")
            && text
                .lines()
                .next()
                .unwrap()
                .contains(&format!("/epg.xml?token={PHONE}\"")),
        "{text}"
    );
    let guide = get_from(away, proxy.addr, &format!("/epg.xml?token={PHONE}"), "");
    assert_eq!(guide.status, 200);
    let lineup = get_from(away, proxy.addr, &format!("/lineup.json?token={PHONE}"), "");
    assert_eq!(lineup.status, 200, "{}", lineup.text());
    let urls: Vec<String> = lineup
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["URL"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(
        urls.iter().all(|u| u.ends_with(&format!("&token={PHONE}"))),
        "{urls:?}"
    );
    for path in [
        "/search.m3u?query=sport",
        "/epg.xml",
        "/lineup.json",
        "/discover.json",
    ] {
        // From another address: the first one's tries without a token are counted.
        let refused = get_from(outside(3), proxy.addr, path, "");
        assert_eq!(
            refused.status,
            403,
            "{path} without a token: {}",
            refused.text()
        );
    }

    // The LAN needs none.
    let mut home = Player::connect(proxy.addr, &content(1));
    home.play(PATIENCE, POLL, |p| !p.segments.is_empty());
    assert!(!home.playlist.contains("token"), "{}", home.playlist);

    // /status and the page name each client's token, never the secret.
    let status = get_from(away, proxy.addr, &format!("/status?token={PHONE}"), "");
    assert_eq!(status.status, 200);
    let json = status.json();
    let tokens: Vec<(String, String)> = json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["client_list"].as_array().unwrap().clone())
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_owned(),
                c["token"].to_string(),
            )
        })
        .collect();
    let named = |address: IpAddr, token: &str| {
        tokens
            .iter()
            .any(|(a, t)| a.starts_with(&format!("{address}:")) && t == token)
    };
    assert!(named(away, "\"phone\""), "{tokens:?}");
    assert!(named(tv, "\"tv\""), "{tokens:?}");
    assert!(named(home.from, "null"), "{tokens:?}");
    let page = get_from(away, proxy.addr, &format!("/?token={TV}"), "").text();
    assert!(
        page.contains("token phone") && page.contains("token tv"),
        "{page}"
    );
    for text in [status.text(), page, proxy.logs()] {
        assert!(
            !text.contains(PHONE) && !text.contains(TV),
            "a secret shown: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(list.parent().unwrap());
}

#[test]
fn wrong_tokens_are_refused_per_address_then_limited_and_logged() {
    let engine = sim(&[]);
    let list = channel_list("wrong");
    let proxy = proxy(&engine, &list);
    let guesser = outside(3);
    let entry = format!("/ace/manifest.m3u8?id={}", content(1));
    let mut statuses = Vec::new();
    for n in 0..12 {
        statuses.push(
            get_from(
                guesser,
                proxy.addr,
                &format!("{entry}&token=guess{n:012}"),
                "",
            )
            .status,
        );
    }
    assert_eq!(statuses[..10], [403; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 2], "{statuses:?}");
    // Even the good token is not looked at from there for the rest of the minute...
    let blocked = get_from(guesser, proxy.addr, &format!("{entry}&token={PHONE}"), "");
    assert_eq!(blocked.status, 429);
    let retry: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // ...while another address gets in with it, and the LAN without.
    let good = get_from(
        outside(4),
        proxy.addr,
        &format!("{entry}&token={PHONE}"),
        "",
    );
    assert_eq!(good.status, 302, "{}", good.text());
    let home = get_from(next_device(), proxy.addr, &entry, "");
    assert_eq!(home.status, 302);
    let logs = proxy.logs();
    assert!(
        logs.contains(&format!("client {guesser}: a wrong token")),
        "{logs}"
    );
    assert!(
        !logs.contains("guess0000"),
        "the guesses are not logged: {logs}"
    );
    let _ = std::fs::remove_dir_all(list.parent().unwrap());
}
