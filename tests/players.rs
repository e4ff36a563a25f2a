//! Who an HLS player is: players that reload the entry URL (ExoPlayer) and players that follow
//! the redirect share one channel and one engine session, each one client, known by address,
//! `User-Agent` and `X-Playback-Session-Id`. The rest of the HLS behaviour is tests/hls.rs.

mod common;

use std::time::Duration;

use acebox::board::MAX_CLIENTS_PER_CHANNEL;
use common::{
    Player, Reload, acebox, assert_contiguous, at_once, content, get, get_from, next_device, sim,
    user_agent,
};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

/// ExoPlayer (and so most Android TV apps) reloads a live playlist from the entry URL, not from
/// where the 302 led. Such players, and players that follow the redirect, all on one channel:
/// one engine session, each player one client, no refused request.
#[test]
fn players_that_reload_the_entry_url_are_one_client_each_and_start_one_session() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(13);
    let addr = proxy.addr;
    // 32 players, or as many as the board takes on one channel (4 on openwrt-mips), two of
    // them following the redirect.
    let following = 2;
    let reloading = MAX_CLIENTS_PER_CHANNEL.min(32) - following;
    let players = at_once(reloading + following, move |n| {
        let reload = if n < reloading {
            Reload::Entry
        } else {
            Reload::Followed
        };
        let mut player = Player::with(addr, &format!("id={id}"), reload, user_agent(100 + n));
        // 4 s of 200 ms segments: past the 2 s in which a connect shares the last start, so a
        // reload taken for a connect would start the session again.
        player.play(PATIENCE, POLL, |p| p.segments.len() >= 20);
        player
    });
    for player in &players {
        assert!(
            player.statuses.iter().all(|s| *s == 200),
            "{:?}: {:?}",
            player.reload,
            player.statuses
        );
        assert_contiguous(player);
    }
    let status = proxy.json("/status");
    let channel = &status["channels"][0];
    assert_eq!(
        channel["clients"],
        reloading + following,
        "{}",
        channel["client_list"]
    );
    assert_eq!(engine.stat("starts"), 1, "{}", proxy.logs());
    assert_eq!(channel["counters"]["engine_starts"], 1);
    let metrics = get(proxy.addr, "/metrics").text();
    let clients = format!(
        "acebox_clients{{channel=\"{}\",name=\"\",mode=\"hls\"}} {}",
        content(13),
        reloading + following
    );
    assert!(metrics.contains(&clients), "{clients} not in\n{metrics}");
}

/// A player that reloads the entry URL is known by its address and User-Agent, and by Apple's
/// X-Playback-Session-Id where it sends one: two such players on one device are two clients.
#[test]
fn a_playback_session_id_tells_players_on_one_device_apart() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(14);
    let apple = |session: &str| {
        format!("User-Agent: AppleCoreMedia/1.0.0.21A329\r\nX-Playback-Session-Id: {session}\r\n")
    };
    let device = next_device();
    let mut players: Vec<Player> = ["A1B2C3", "D4E5F6"]
        .iter()
        .map(|session| {
            Player::on(
                device,
                proxy.addr,
                &format!("id={id}"),
                Reload::Entry,
                apple(session),
            )
        })
        .collect();
    for player in &mut players {
        player.play(PATIENCE, POLL, |p| p.segments.len() >= 4);
    }
    assert_ne!(players[0].playlist, players[1].playlist);
    // The same session id again is the first player reloading, not a third player.
    let again = get_from(device, proxy.addr, &players[0].entry, &apple("A1B2C3"));
    assert_eq!(again.header("location"), Some(players[0].playlist.as_str()));
    assert_eq!(proxy.json("/status")["channels"][0]["clients"], 2);
}
