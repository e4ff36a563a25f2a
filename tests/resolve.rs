//! acebox finds an engine given by host name, not only by address: `localhost`, and a name the
//! machine's /etc/hosts lists. The OpenWrt builds are static musl binaries, whose libc resolves
//! names by itself (the hosts file, then DNS; no NSS modules to load), so this runs in each
//! suite: on the host, and under qemu-user for every cross target scripts/test.sh runs.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use common::{Player, acebox_at, content, sim_at};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

/// Plays a channel through acebox whose engine, listening on `addr`, is given as
/// `http://{name}:{port}`.
fn plays_with_engine_named(name: &str, addr: IpAddr, n: u8) {
    let engine = sim_at(SocketAddr::new(addr, 0), &[]);
    let proxy = acebox_at(&format!("http://{name}:{}", engine.addr.port()), &[]);
    let mut player = Player::connect(proxy.addr, &content(n));
    player.play(PATIENCE, POLL, |p| p.segments.len() >= 3);
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "{:?}",
        player.statuses
    );
    assert_eq!(engine.stat("starts"), 1, "one engine start through {name}");
}

#[test]
fn an_engine_named_localhost_is_found() {
    plays_with_engine_named("localhost", IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
}

#[test]
fn an_engine_named_in_etc_hosts_is_found() {
    // The first name other than localhost that /etc/hosts gives an IPv4 address of this
    // machine (Debian lists the machine's own name; containers their own address).
    let hosts = std::fs::read_to_string("/etc/hosts").expect("/etc/hosts is readable");
    let named = hosts.lines().find_map(|line| {
        let mut fields = line.split('#').next()?.split_whitespace();
        let ip: Ipv4Addr = fields.next()?.parse().ok()?;
        TcpListener::bind((ip, 0)).ok()?;
        let name = fields.find(|n| !n.eq_ignore_ascii_case("localhost"))?;
        Some((name.to_owned(), ip))
    });
    let Some((name, ip)) = named else {
        eprintln!(
            "\nSKIPPED: an_engine_named_in_etc_hosts_is_found: /etc/hosts names no address of \
             this machine but localhost"
        );
        return;
    };
    plays_with_engine_named(&name, IpAddr::V4(ip), 2);
}
