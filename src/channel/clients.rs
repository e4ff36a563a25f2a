//! A channel's clients: who is watching now, and whether a request for a channel's entry URL
//! comes from a new player or from one already watching.
//!
//! [`Clients`] owns one channel's table of at most [`MAX_CLIENTS_PER_CHANNEL`] entries, the
//! rule that tells players apart, and each HLS player's next segment (the one after the last
//! it was listed), where its next playlist starts. An HLS player is known by the token in its
//! playlist and segment URLs, and also by its [`PlayerKey`] (its address, `User-Agent` and,
//! where it sends one, `X-Playback-Session-Id`), so a player that reloads the entry URL on
//! every poll (ExoPlayer, and so most Android TV apps) finds its own entry again instead of
//! adding one. An HLS player is a client while it was heard from within the lease the caller
//! passes; an MPEG-TS client is one while its stream is open. One address (one device) has at
//! most [`ADDRESS_CLIENTS`] of them, so made-up `User-Agent`s cannot fill a channel's table.
//! This module never reads a clock (callers pass `now`, in milliseconds), never starts an
//! engine session and allocates only the list it hands the status page: the table is
//! fixed-size.
//!
//! Over 400 lines: more than half of it is the tests of the rule, which move time by hand.

use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::AtomicU64;
use crate::board::{ADDRESS_CLIENTS, MAX_CLIENTS_PER_CHANNEL};

/// Who a player is, as far as its requests tell: a keyed hash of its address, its
/// `User-Agent` and its `X-Playback-Session-Id` (Apple's players send one, the same on every
/// request of one playback; others send none), and the number of the token it came with, if
/// any (`http::Admission::via`, shown on `/status`). Two players of one make on one address
/// are one player unless they send a playback session id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlayerKey {
    hash: u64,
    via: u8,
}

impl PlayerKey {
    pub fn new(ip: IpAddr, user_agent: &[u8], playback_session: &[u8]) -> PlayerKey {
        // An IPv4 player reaching a dual-stack socket shows as ::ffff:a.b.c.d: one address.
        let hash = keyed_hash((ip.to_canonical(), user_agent, playback_session));
        PlayerKey { hash, via: 0 }
    }

    /// The same player, come with token number `via` (0 for none).
    pub fn via(self, via: u8) -> PlayerKey {
        PlayerKey { via, ..self }
    }
}

/// How a client is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Polls a playlist; a client while heard from within the lease.
    Hls,
    /// Reads one open stream; a client until it ends.
    Ts,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Hls => "hls",
            Protocol::Ts => "ts",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Client {
    token: u64,
    player: PlayerKey,
    addr: SocketAddr,
    protocol: Protocol,
    since_ms: u64,
    seen_ms: u64,
    /// An HLS player's next segment: the one after the last it was listed. Its playlists start
    /// there while the ring holds it. `None` before its first playlist.
    next: Option<u64>,
}

impl Client {
    /// A TS stream, or an HLS player heard from within `lease` of `now`.
    fn is_live(&self, now: u64, lease: u64) -> bool {
        self.protocol == Protocol::Ts || now.saturating_sub(self.seen_ms) < lease
    }

    fn is_player(&self, player: PlayerKey, now: u64, lease: u64) -> bool {
        self.protocol == Protocol::Hls && self.player == player && self.is_live(now, lease)
    }
}

/// A client as `/status` shows it.
#[derive(Clone, Copy, Debug)]
pub struct ClientInfo {
    pub addr: SocketAddr,
    /// The number of the token it came with, 0 for none (`http::Tokens::name`).
    pub via: u8,
    pub protocol: Protocol,
    /// Milliseconds since the client connected.
    pub connected_ms: u64,
}

/// The table is full: [`MAX_CLIENTS_PER_CHANNEL`] clients are live, or [`ADDRESS_CLIENTS`] of
/// the address asking.
#[derive(Debug, PartialEq, Eq)]
pub enum TableFull {
    Channel,
    Address,
}

impl std::fmt::Display for TableFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableFull::Channel => write!(
                f,
                "this channel already has its maximum of {MAX_CLIENTS_PER_CHANNEL} clients"
            ),
            TableFull::Address => write!(
                f,
                "this address already has its maximum of {ADDRESS_CLIENTS} clients on this \
                 channel; other devices may still join"
            ),
        }
    }
}

impl std::error::Error for TableFull {}

/// What a request for the entry URL turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// A player not seen within the lease: a connect, with its new token.
    New(u64),
    /// A player already watching, reloading the entry URL: a poll, with its token.
    Known(u64),
}

impl Joined {
    pub fn token(self) -> u64 {
        match self {
            Joined::New(token) | Joined::Known(token) => token,
        }
    }
}

/// The table of one channel's clients: [`MAX_CLIENTS_PER_CHANNEL`] entries.
type Table = heapless::Vec<Client, MAX_CLIENTS_PER_CHANNEL>;

/// One channel's clients.
#[derive(Default)]
pub struct Clients {
    table: Mutex<Table>,
}

impl Clients {
    /// The token of `player` if it is an HLS player of this channel heard from within `lease`;
    /// it counts as heard from now, at `addr`.
    pub fn known(&self, player: PlayerKey, addr: SocketAddr, now: u64, lease: u64) -> Option<u64> {
        seen_again(&mut self.lock(), player, addr, (now, lease))
    }

    /// An HLS player asks for the entry URL: [`Joined::Known`] if it is already watching
    /// (see [`Clients::known`]), else a new entry. Players gone for longer than `lease` make
    /// room first.
    pub fn join(
        &self,
        player: PlayerKey,
        addr: SocketAddr,
        now: u64,
        lease: u64,
    ) -> Result<Joined, TableFull> {
        // One lock for the look-up and the addition: two requests of one player at the same
        // instant make one client.
        let mut table = self.lock();
        if let Some(token) = seen_again(&mut table, player, addr, (now, lease)) {
            return Ok(Joined::Known(token));
        }
        add(&mut table, player, addr, Protocol::Hls, (now, lease)).map(Joined::New)
    }

    /// An MPEG-TS stream opens: a client until [`Clients::remove`].
    pub fn open_stream(
        &self,
        player: PlayerKey,
        addr: SocketAddr,
        now: u64,
        lease: u64,
    ) -> Result<u64, TableFull> {
        add(&mut self.lock(), player, addr, Protocol::Ts, (now, lease))
    }

    /// A TS stream ended.
    pub fn remove(&self, token: u64) {
        self.lock().retain(|c| c.token != token);
    }

    /// An HLS player polled its playlist or fetched a segment: mark it seen, adding it back if
    /// it had expired, unless the same player is already a client under a newer token (it came
    /// back through the entry URL; a request with its old token was still under way). Only
    /// tokens this process issued are added, so made-up tokens cannot fill the table and lock
    /// out real connects; a poll is served either way (a player survives an acebox restart).
    pub fn touch(&self, token: u64, player: PlayerKey, addr: SocketAddr, (now, lease): (u64, u64)) {
        let mut table = self.lock();
        if let Some(c) = table.iter_mut().find(|c| c.token == token) {
            c.seen_ms = now;
            c.addr = addr;
        } else if token_is_ours(token)
            && !table.iter().any(|c| c.is_player(player, now, lease))
            && from_address(&table, addr.ip(), now, lease) < ADDRESS_CLIENTS
        {
            table.retain(|c| c.is_live(now, lease));
            // A full table keeps whom it has: the poll is served, the client just isn't counted.
            let _ = table.push(Client {
                token,
                player,
                addr,
                protocol: Protocol::Hls,
                since_ms: now,
                seen_ms: now,
                next: None,
            });
        }
    }

    /// Whether `ip` may add a client now: it has fewer than [`ADDRESS_CLIENTS`].
    pub fn room_for(&self, ip: IpAddr, now: u64, lease: u64) -> bool {
        from_address(&self.lock(), ip, now, lease) < ADDRESS_CLIENTS
    }

    /// The segment after the last one HLS player `token` was listed, if it was listed any.
    pub fn next_segment(&self, token: u64) -> Option<u64> {
        self.lock().iter().find(|c| c.token == token)?.next
    }

    /// HLS player `token` was listed segments up to `last` (its next never goes back).
    pub fn listed(&self, token: u64, last: u64) {
        if let Some(c) = self.lock().iter_mut().find(|c| c.token == token) {
            let next = last.saturating_add(1);
            c.next = Some(c.next.map_or(next, |n| n.max(next)));
        }
    }

    /// Clients now.
    pub fn count(&self, now: u64, lease: u64) -> usize {
        self.lock().iter().filter(|c| c.is_live(now, lease)).count()
    }

    /// Whether any client served by `protocol` is one now.
    pub fn any(&self, protocol: Protocol, now: u64, lease: u64) -> bool {
        self.lock()
            .iter()
            .any(|c| c.protocol == protocol && c.is_live(now, lease))
    }

    /// The clients now, oldest first, for the status page.
    pub fn list(&self, now: u64, lease: u64) -> Vec<ClientInfo> {
        // The table is copied out under the lock; the list is made after it is released.
        let table = self.lock().clone();
        table
            .iter()
            .filter(|c| c.is_live(now, lease))
            .map(|c| ClientInfo {
                addr: c.addr,
                via: c.player.via,
                protocol: c.protocol,
                connected_ms: now.saturating_sub(c.since_ms),
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        crate::lock(&self.table)
    }
}

/// The token of `player` if it is an HLS player heard from within the lease; it counts as heard
/// from now, at `addr`.
fn seen_again(
    table: &mut Table,
    player: PlayerKey,
    addr: SocketAddr,
    (now, lease): (u64, u64),
) -> Option<u64> {
    let client = table.iter_mut().find(|c| c.is_player(player, now, lease))?;
    client.seen_ms = now;
    client.addr = addr;
    Some(client.token)
}

/// The live clients in `table` at `ip`.
fn from_address(table: &Table, ip: IpAddr, now: u64, lease: u64) -> usize {
    let ip = ip.to_canonical();
    table
        .iter()
        .filter(|c| c.addr.ip().to_canonical() == ip && c.is_live(now, lease))
        .count()
}

/// Adds a new client to `table`, making room from clients gone for longer than the lease;
/// refused when the channel, or the client's address, has its maximum.
fn add(
    table: &mut Table,
    player: PlayerKey,
    addr: SocketAddr,
    protocol: Protocol,
    (now, lease): (u64, u64),
) -> Result<u64, TableFull> {
    table.retain(|c| c.is_live(now, lease));
    if from_address(table, addr.ip(), now, lease) >= ADDRESS_CLIENTS {
        return Err(TableFull::Address);
    }
    let token = issue_token();
    let client = Client {
        token,
        player,
        addr,
        protocol,
        since_ms: now,
        seen_ms: now,
        next: None,
    };
    table.push(client).map_err(|_| TableFull::Channel)?;
    Ok(token)
}

/// A new client token: a counter in the high half, a keyed hash of it in the low half.
fn issue_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
    (n << 32) | token_tag(n)
}

/// Whether this process issued `token`.
pub fn token_is_ours(token: u64) -> bool {
    token_tag(token >> 32) == token & 0xffff_ffff
}

fn token_tag(n: u64) -> u64 {
    keyed_hash(n) & 0xffff_ffff
}

/// SipHash with keys drawn at start-up: its values cannot be guessed from outside.
fn keyed_hash(value: impl Hash) -> u64 {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    KEY.get_or_init(Default::default).hash_one(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: u64 = 15_000;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([192, 168, 1, last], 40000 + u16::from(last)))
    }

    fn player(last: u8, agent: &str) -> PlayerKey {
        PlayerKey::new(addr(last).ip(), agent.as_bytes(), b"")
    }

    #[test]
    fn a_player_reloading_the_entry_url_is_one_client_however_often() {
        let clients = Clients::default();
        let tv = player(10, "ExoPlayerLib/2.19.1");
        let first = clients.join(tv, addr(10), 0, LEASE).unwrap();
        assert!(matches!(first, Joined::New(_)));
        for reload in 1..(4 * MAX_CLIENTS_PER_CHANNEL as u64) {
            let again = clients.join(tv, addr(10), reload * 2_000 % LEASE, LEASE);
            assert_eq!(again, Ok(Joined::Known(first.token())), "reload {reload}");
        }
        assert_eq!(clients.count(0, LEASE), 1);
    }

    #[test]
    fn players_differ_by_address_user_agent_or_playback_session() {
        let ip = addr(10).ip();
        let keys = [
            player(10, "VLC/3.0.18"),
            player(11, "VLC/3.0.18"),
            player(10, "mpv 0.35"),
            PlayerKey::new(ip, b"AppleCoreMedia/1.0", b"A1B2"),
            PlayerKey::new(ip, b"AppleCoreMedia/1.0", b"C3D4"),
        ];
        // Two at a time, every pair: every board takes two clients on a channel.
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                let clients = Clients::default();
                for key in [a, b] {
                    let joined = clients.join(*key, addr(10), 0, LEASE);
                    assert!(matches!(joined, Ok(Joined::New(_))), "{a:?} {b:?}");
                }
                assert_eq!(clients.count(0, LEASE), 2);
            }
        }
        let mapped = "::ffff:192.168.1.10".parse().unwrap();
        assert_eq!(
            PlayerKey::new(mapped, b"VLC/3.0.18", b""),
            keys[0],
            "an IPv4-mapped address is the same player"
        );
    }

    #[test]
    fn a_player_back_after_the_lease_is_a_new_connect() {
        let clients = Clients::default();
        let tv = player(10, "ExoPlayerLib/2.19.1");
        let first = clients.join(tv, addr(10), 0, LEASE).unwrap().token();
        // Polls through its own playlist URL keep it known.
        clients.touch(first, tv, addr(10), (LEASE - 1, LEASE));
        assert_eq!(
            clients.join(tv, addr(10), 2 * LEASE - 2, LEASE),
            Ok(Joined::Known(first))
        );
        let back = clients.join(tv, addr(10), 4 * LEASE, LEASE).unwrap();
        assert!(matches!(back, Joined::New(t) if t != first), "{back:?}");
        assert_eq!(
            clients.count(4 * LEASE, LEASE),
            1,
            "the old entry made room"
        );
    }

    #[test]
    fn an_old_token_of_a_player_back_under_a_new_one_is_not_a_second_client() {
        let clients = Clients::default();
        let tv = player(10, "ExoPlayerLib/2.19.1");
        let old = clients.join(tv, addr(10), 0, LEASE).unwrap().token();
        let new = clients
            .join(tv, addr(10), 2 * LEASE, LEASE)
            .unwrap()
            .token();
        assert_ne!(old, new);
        // A segment request with the old token, still under way, lands now.
        clients.touch(old, tv, addr(10), (2 * LEASE + 1, LEASE));
        assert_eq!(clients.count(2 * LEASE + 1, LEASE), 1);
        // Another player's expired token comes back: it is added, and the dead make room.
        let phone = player(11, "VLC/3.0.18");
        let gone = clients.join(phone, addr(11), 0, LEASE).unwrap().token();
        clients.touch(gone, phone, addr(11), (2 * LEASE + 2, LEASE));
        assert_eq!(clients.count(2 * LEASE + 2, LEASE), 2);
    }

    #[test]
    fn ts_streams_are_clients_until_removed_and_never_match_a_player() {
        let clients = Clients::default();
        let tv = player(10, "Lavf/59.27.100");
        let stream = clients.open_stream(tv, addr(10), 0, LEASE).unwrap();
        assert_eq!(clients.count(100 * LEASE, LEASE), 1);
        assert!(clients.known(tv, addr(10), 1, LEASE).is_none());
        let list = clients.list(5_000, LEASE);
        assert_eq!(
            (list[0].protocol, list[0].connected_ms),
            (Protocol::Ts, 5_000)
        );
        clients.remove(stream);
        assert_eq!(clients.count(0, LEASE), 0);
    }

    /// One device making up `User-Agent`s (or opening streams) gets at most its share of a
    /// channel's clients, and its polls with old tokens add none past it; others still join.
    #[test]
    fn one_address_has_at_most_its_share_of_the_clients() {
        let clients = Clients::default();
        let device = addr(10);
        let fake = |n: usize| PlayerKey::new(device.ip(), format!("fake/{n}").as_bytes(), b"");
        let tokens: Vec<u64> = (0..ADDRESS_CLIENTS)
            .map(|n| clients.join(fake(n), device, 0, LEASE).unwrap().token())
            .collect();
        let more = ADDRESS_CLIENTS;
        assert_eq!(
            clients.join(fake(more), device, 0, LEASE),
            Err(TableFull::Address)
        );
        let stream = clients.open_stream(fake(more), device, 0, LEASE);
        assert_eq!(stream, Err(TableFull::Address));
        assert!(!clients.room_for(device.ip(), 0, LEASE));
        let mapped = "::ffff:192.168.1.10".parse().unwrap();
        assert!(
            !clients.room_for(mapped, 0, LEASE),
            "one address, however written"
        );
        assert!(clients.room_for(addr(11).ip(), 0, LEASE));
        // Its players go quiet and come back with their old tokens, under new keys, while
        // others fill their places: no entry past its share.
        let later = 2 * LEASE;
        let fresh: Vec<u64> = (0..ADDRESS_CLIENTS)
            .map(|n| {
                clients
                    .join(fake(more + n), device, later, LEASE)
                    .unwrap()
                    .token()
            })
            .collect();
        for (n, token) in tokens.iter().enumerate() {
            clients.touch(*token, fake(2 * more + n), device, (later, LEASE));
        }
        assert_eq!(clients.count(later, LEASE), fresh.len());
        let other = player(11, "VLC/3.0.18");
        assert!(clients.join(other, addr(11), later, LEASE).is_ok());
    }

    #[test]
    fn each_player_has_its_own_next_segment_which_never_goes_back() {
        let clients = Clients::default();
        let (tv, phone) = (player(10, "VLC/3.0.18"), player(11, "VLC/3.0.18"));
        let tv = clients.join(tv, addr(10), 0, LEASE).unwrap().token();
        let phone = clients.join(phone, addr(11), 0, LEASE).unwrap().token();
        assert_eq!(clients.next_segment(tv), None, "not listed yet");
        clients.listed(tv, 41);
        clients.listed(phone, 7);
        assert_eq!(clients.next_segment(tv), Some(42));
        assert_eq!(clients.next_segment(phone), Some(8));
        clients.listed(tv, 30);
        assert_eq!(clients.next_segment(tv), Some(42), "never back");
        clients.listed(tv, u64::MAX);
        assert_eq!(clients.next_segment(tv), Some(u64::MAX));
        let stranger = issue_token();
        clients.listed(stranger, 3);
        assert_eq!(clients.next_segment(stranger), None, "not a client");
    }

    #[test]
    fn made_up_tokens_cannot_fill_the_table() {
        let clients = Clients::default();
        let tv = player(10, "x");
        for forged in 0..(2 * MAX_CLIENTS_PER_CHANNEL as u64) {
            clients.touch(forged, tv, addr(10), (0, LEASE));
        }
        assert_eq!(clients.count(0, LEASE), 0);
        let token = clients.join(tv, addr(10), 0, LEASE).unwrap().token();
        clients.touch(token, tv, addr(10), (1, LEASE));
        assert_eq!(
            clients.count(1, LEASE),
            1,
            "a known client is not added twice"
        );
    }

    #[test]
    fn the_table_is_bounded_and_tokens_are_unique_and_ours() {
        let clients = Clients::default();
        let tokens: Vec<u64> = (0..MAX_CLIENTS_PER_CHANNEL)
            .map(|n| {
                let device = addr(100 + n as u8);
                let key = PlayerKey::new(device.ip(), b"player", b"");
                clients.join(key, device, 0, LEASE).unwrap().token()
            })
            .collect();
        let one_more = player(2, "one more");
        assert_eq!(
            clients.join(one_more, addr(2), 0, LEASE),
            Err(TableFull::Channel)
        );
        assert_eq!(
            clients.open_stream(one_more, addr(2), 0, LEASE),
            Err(TableFull::Channel)
        );
        let mut unique = tokens.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len(), "tokens tell clients apart");
        assert!(tokens.iter().all(|t| token_is_ours(*t)));
        assert!(!token_is_ours(tokens[0] ^ 1), "a made-up token is not ours");
        // Once the players' lease runs out, there is room again.
        assert!(clients.join(one_more, addr(2), LEASE, LEASE).is_ok());
    }
}
