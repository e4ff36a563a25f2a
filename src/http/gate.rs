//! The gate: who may connect (the `--allow` list) and how many at once, decided for each
//! accepted connection before hyper reads a byte of it.
//!
//! This module owns the table of admitted connections, which of them is busy with a request,
//! closing the longest-idle one to make room, the share of the table one address may hold, the
//! cap on refusals being written, and the counts `/status` and `/metrics` show. It never reads or writes a socket (the server does, and asks
//! the gate first) and reads the clock only at its edges ([`Gate::admit`], a request's end):
//! every decision takes the time as an argument ([`Gate::admit_at`]).
//!
//! Over 400 lines: the last 100 are its tests, which fill the table by hand and move time.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;

use super::{AllowList, Body};
use crate::AtomicU64;

/// Refusals (403, 503) being written at once; past this, a refused connection is just closed.
const MAX_REFUSING: usize = 64;
/// A connection without a request under way for less than this may be about to send one (a
/// client that has just connected, or one fetching back to back): it is not closed to make
/// room. Closing those would churn through the clients of a busy server, each new connection
/// closing another that was about to be served.
const IDLE_GRACE_MS: u64 = 1000;

/// Who may connect, and how many at once: the door every connection passes before hyper reads a
/// byte of it. Counts what it lets in and what it turns away, for `/status` and `/metrics`.
///
/// The gate holds one `Standing` per admitted connection (at most `max_connections`). When
/// every place is taken, the connection that has waited longest without a request under way,
/// if that is `IDLE_GRACE_MS` or more (it has not finished sending a request head, or it is
/// a keep-alive connection idle between requests), is closed to make room, so idle or slowloris
/// connections, however many, cannot lock a player out; one with a request under way (a
/// player's stream, a playlist waiting for its first segments) is never closed for room. Only
/// when every connection has a request under way is a new one refused.
///
/// One address (one device) holds at most `per_address` places: past that, its own
/// longest-idle connection makes room, or it is refused. So however long its requests stay
/// under way, one device never holds the places the others need.
pub struct Gate {
    allow: AllowList,
    /// Whether addresses outside `allow` are let in too, to show a token (`--token`).
    outsiders: bool,
    max_connections: usize,
    per_address: usize,
    places: Mutex<Vec<Arc<Standing>>>,
    refusing: AtomicUsize,
    accepted: AtomicU64,
    refused_full: AtomicU64,
    refused_address: AtomicU64,
    refused_forbidden: AtomicU64,
    evicted: AtomicU64,
}

/// Why the gate turned a connection away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The peer is not in `--allow`.
    Forbidden,
    /// All `max` places are open, each with a request under way.
    Full { max: usize },
    /// The peer's address holds its `max` places, each with a request under way.
    AddressFull { max: usize },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Forbidden => {
                f.write_str("this address may not use acebox (see its --allow option)")
            }
            Refusal::Full { max } => write!(
                f,
                "acebox already serves its maximum of {max} connections; try again shortly"
            ),
            Refusal::AddressFull { max } => write!(
                f,
                "this address already has its maximum of {max} connections open, each with a \
                 request under way; try again once one ends"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// What the gate has seen, copied out (the `connections` of `/status`).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct GateCounts {
    /// Connections admitted and open now, of `max`.
    pub open: usize,
    pub max: usize,
    pub accepted: u64,
    /// Turned away because `max` were open, each with a request under way, because the
    /// address held its share, each with a request under way, or because `--allow` does not
    /// list the address.
    pub refused_full: u64,
    pub refused_address: u64,
    pub refused_forbidden: u64,
    /// Connections with no request under way closed to make room for a new one.
    pub evicted: u64,
}

/// Where one admitted connection stands, shared by its task and the gate.
struct Standing {
    /// The peer's address (IPv4-mapped addresses as IPv4).
    ip: IpAddr,
    /// Requests being answered on it now: 0 while it waits for a request head.
    busy: AtomicUsize,
    /// When it last had no request under way, in milliseconds of the gate's clock.
    idle_since: AtomicU64,
    /// Set, and `closing` fired, when the gate closes it to make room.
    evicted: AtomicBool,
    closing: event_listener::Event,
}

/// An admitted connection's place in the gate's table, kept until the connection closes (or
/// the gate closes it to make room).
pub(super) struct Place {
    gate: Arc<Gate>,
    standing: Arc<Standing>,
}

impl Place {
    /// Marks a request under way on this connection until the returned guard drops.
    pub(super) fn request(&self) -> Busy {
        self.standing.busy.fetch_add(1, Ordering::AcqRel);
        Busy {
            standing: self.standing.clone(),
        }
    }

    /// Resolves once the gate has closed this connection to make room.
    pub(super) async fn evicted(&self) {
        let standing = &self.standing;
        loop {
            let listener = standing.closing.listen();
            if standing.evicted.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.gate
            .places()
            .retain(|s| !Arc::ptr_eq(s, &self.standing));
    }
}

/// One of the refusals being written (at most [`MAX_REFUSING`]), given back when dropped.
pub(super) struct Refusing(Arc<Gate>);

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request under way on a connection: it is busy until this drops (with the response body,
/// once sent or abandoned).
pub(super) struct Busy {
    standing: Arc<Standing>,
}

impl Busy {
    /// `body`, keeping its connection busy until it is sent or dropped.
    pub(super) fn track(self, body: Body) -> Body {
        Tracked { body, busy: self }.boxed()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.standing
            .idle_since
            .store(crate::clock::now_ms(), Ordering::Release);
        self.standing.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its connection marked busy until it is sent or dropped.
    struct Tracked {
        #[pin]
        body: Body,
        busy: Busy,
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Gate {
    /// A gate of `max_connections` places, of which one address holds at most `per_address`.
    pub fn new(allow: AllowList, max_connections: usize, per_address: usize) -> Gate {
        Gate {
            allow,
            outsiders: false,
            max_connections,
            per_address,
            places: Mutex::new(Vec::new()),
            refusing: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused_full: AtomicU64::new(0),
            refused_address: AtomicU64::new(0),
            refused_forbidden: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    /// The gate, letting addresses outside `--allow` in too when `tokens` (they must show one,
    /// which the router checks on each request).
    pub fn with_outsiders(self, tokens: bool) -> Gate {
        Gate {
            outsiders: tokens,
            ..self
        }
    }

    /// Whether `--allow` lists `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.admits(ip)
    }

    /// Lets `peer` in (the place is kept until dropped), closing the longest-idle connection to
    /// make room if every place is taken, or says why not.
    pub(super) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Place, Refusal> {
        self.admit_at(peer, crate::clock::now_ms())
    }

    /// [`Gate::admit`] at `now`, milliseconds of the gate's clock.
    fn admit_at(self: &Arc<Self>, peer: SocketAddr, now: u64) -> Result<Place, Refusal> {
        if !self.outsiders && !self.allow.admits(peer.ip()) {
            self.refused_forbidden.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Forbidden);
        }
        let ip = peer.ip().to_canonical();
        let mut places = self.places();
        // Room is made from the address's own places when it holds its share, else from all.
        let (full, of, refusal, counter) =
            if places.iter().filter(|s| s.ip == ip).count() >= self.per_address {
                let max = self.per_address;
                (
                    true,
                    Some(ip),
                    Refusal::AddressFull { max },
                    &self.refused_address,
                )
            } else {
                let max = self.max_connections;
                let full = places.len() >= max;
                (full, None, Refusal::Full { max }, &self.refused_full)
            };
        if full {
            let Some(oldest) = longest_idle(&places, now, of) else {
                counter.fetch_add(1, Ordering::Relaxed);
                return Err(refusal);
            };
            let gone = places.swap_remove(oldest);
            gone.evicted.store(true, Ordering::Release);
            gone.closing.notify(usize::MAX);
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let standing = Arc::new(Standing {
            ip,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            evicted: AtomicBool::new(false),
            closing: event_listener::Event::new(),
        });
        if places.capacity() == 0 && self.max_connections < 1 << 16 {
            // Once, the whole table: admitting never allocates after the first connection.
            places.reserve_exact(self.max_connections);
        }
        places.push(standing.clone());
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(Place {
            gate: self.clone(),
            standing,
        })
    }

    /// Takes a place among the refusals being written, if fewer than [`MAX_REFUSING`] are.
    pub(super) fn refusing(self: &Arc<Self>) -> Option<Refusing> {
        self.refusing
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_REFUSING).then_some(n + 1)
            })
            .ok()
            .map(|_| Refusing(self.clone()))
    }

    pub fn counts(&self) -> GateCounts {
        GateCounts {
            open: self.places().len(),
            max: self.max_connections,
            accepted: self.accepted.load(Ordering::Relaxed),
            refused_full: self.refused_full.load(Ordering::Relaxed),
            refused_address: self.refused_address.load(Ordering::Relaxed),
            refused_forbidden: self.refused_forbidden.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }

    fn places(&self) -> MutexGuard<'_, Vec<Arc<Standing>>> {
        crate::lock(&self.places)
    }
}

/// The index of the connection idle for longest among those that may be closed to make room
/// at `now`, of the address `of` if given: no request under way for `IDLE_GRACE_MS` at least
/// (one that never finished a request head, a slowloris, or a keep-alive connection between
/// requests).
fn longest_idle(places: &[Arc<Standing>], now: u64, of: Option<IpAddr>) -> Option<usize> {
    let closable = |s: &Standing| {
        let idle_since = s.idle_since.load(Ordering::Acquire);
        of.is_none_or(|ip| s.ip == ip)
            && s.busy.load(Ordering::Acquire) == 0
            && now.saturating_sub(idle_since) >= IDLE_GRACE_MS
    };
    places
        .iter()
        .enumerate()
        .filter(|(_, s)| closable(s))
        .min_by_key(|(_, s)| s.idle_since.load(Ordering::Acquire))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 20)),
        50000,
    );
    const FULL: Refusal = Refusal::Full { max: 3 };
    /// One address may take every place: the tests of the whole table.
    const ANY_SHARE: usize = usize::MAX;

    #[test]
    fn when_full_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let gate = Arc::new(Gate::new(AllowList::default(), 3, ANY_SHARE));
        let places: Vec<Place> = (0..3).map(|_| gate.admit_at(PEER, 0).unwrap()).collect();
        let [a, b, c] = [0, 1, 2].map(|i| places[i].standing.clone());
        // a streams to a player; b finished a request at 20 ms; c never sent a head.
        let streaming = places[0].request();
        drop(places[1].request());
        b.idle_since.store(20, Ordering::Release);
        assert_eq!(
            gate.admit_at(PEER, 500).err(),
            Some(FULL),
            "just connected, or just served: each may send a request at once"
        );
        assert_eq!(gate.counts().refused_full, 1);
        let fourth = gate.admit_at(PEER, IDLE_GRACE_MS).unwrap();
        assert!(c.evicted.load(Ordering::Acquire), "the longest idle goes");
        assert!(!a.evicted.load(Ordering::Acquire) && !b.evicted.load(Ordering::Acquire));
        assert_eq!(gate.counts().open, 3);
        assert_eq!(gate.counts().evicted, 1);
        let _busy = fourth.request();
        // Past the grace, b is a keep-alive connection idle between requests: it makes room.
        let fifth = gate.admit_at(PEER, 20 + IDLE_GRACE_MS).unwrap();
        assert!(b.evicted.load(Ordering::Acquire));
        // Requests under way never make room, however old.
        let _fetching = fifth.request();
        assert_eq!(gate.admit_at(PEER, 1_000_000).err(), Some(FULL));
        drop(streaming);
    }

    /// One address holds at most its share, however long its requests stay under way: past
    /// it, its own longest-idle connection makes room, or it is refused; others still get in.
    #[test]
    fn one_address_holds_at_most_its_share() {
        let gate = Arc::new(Gate::new(AllowList::default(), 4, 2));
        let other = SocketAddr::new([192, 168, 1, 21].into(), 50000);
        let held: Vec<Place> = (0..2).map(|_| gate.admit_at(PEER, 0).unwrap()).collect();
        let busy = held[0].request();
        let at_share = Refusal::AddressFull { max: 2 };
        assert_eq!(
            gate.admit_at(PEER, 500).err(),
            Some(at_share),
            "too new to close"
        );
        // Past the grace, its own idle connection makes room, not another address's.
        let mapped = SocketAddr::new("::ffff:192.168.1.20".parse().unwrap(), 1);
        let third = gate.admit_at(mapped, IDLE_GRACE_MS).unwrap();
        assert!(
            held[1].standing.evicted.load(Ordering::Acquire),
            "an IPv4-mapped peer is one"
        );
        let _also_busy = third.request();
        assert_eq!(gate.admit_at(PEER, 1_000_000).err(), Some(at_share));
        assert_eq!(gate.counts().refused_address, 2);
        assert_eq!(gate.counts().refused_full, 0);
        let _others: Vec<Place> = (0..2).map(|_| gate.admit_at(other, 0).unwrap()).collect();
        assert_eq!(gate.counts().open, 4);
        drop(busy);
    }

    #[test]
    fn a_closed_connection_gives_its_place_back() {
        let gate = Arc::new(Gate::new(AllowList::default(), 1, ANY_SHARE));
        let first = gate.admit(PEER).unwrap();
        let busy = first.request();
        assert_eq!(gate.admit(PEER).err(), Some(Refusal::Full { max: 1 }));
        drop(busy);
        drop(first);
        assert_eq!(gate.counts().open, 0);
        assert!(gate.admit(PEER).is_ok());
        assert_eq!(gate.counts().evicted, 0, "nothing closed for room");
    }

    #[test]
    fn forbidden_peers_are_counted_and_refusals_being_written_are_capped() {
        let mut allow = AllowList::default();
        allow
            .push(crate::http::Cidr::parse("10.0.0.0/8").unwrap())
            .unwrap();
        let gate = Arc::new(Gate::new(allow, 1, ANY_SHARE));
        assert_eq!(gate.admit(PEER).err(), Some(Refusal::Forbidden));
        assert_eq!(gate.counts().refused_forbidden, 1);
        let writing: Vec<Refusing> = (0..MAX_REFUSING).map_while(|_| gate.refusing()).collect();
        assert_eq!(writing.len(), MAX_REFUSING);
        assert!(
            gate.refusing().is_none(),
            "past the cap, refused connections just close"
        );
        drop(writing);
        assert!(gate.refusing().is_some(), "the places come back");
    }
}
