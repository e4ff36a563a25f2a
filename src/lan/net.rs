//! The sockets and tables of LAN discovery: UDP sockets that share their port with the other
//! programs of the box (OpenWrt's miniupnpd listens on 1900 too), the interfaces to announce
//! on with their IPv4 addresses, which local address a peer reaches acebox by, and the budget
//! of answers.
//!
//! This module owns every option of the sockets that reach the LAN and the fixed capacities
//! of its tables ([`MAX_INTERFACES`], [`MAX_PEERS`]). It reads `/sys/class/net` for the
//! interfaces' flags, takes their addresses from `addrs`, and never parses a datagram
//! (`hdhomerun` and `ssdp` do).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use async_io::Async;
use rustix::net::{AddressFamily, SocketType, sockopt};

use super::{addrs, ssdp};

/// Interfaces announced on at most: a router has a LAN bridge and a few more.
pub const MAX_INTERFACES: usize = 8;
/// Peers whose answers are counted one by one; past these, the longest-quiet one is forgotten.
pub const MAX_PEERS: usize = 32;
/// Searches answered per peer in one [`WINDOW_MS`]; control points search a few times each.
const PER_PEER: u16 = 10;
/// Searches answered in one [`WINDOW_MS`] from all peers together.
const ALL_PEERS: u16 = 100;
const WINDOW_MS: u64 = 10_000;

/// A UDP socket bound to `0.0.0.0:port` that shares the port with other sockets that allow it
/// (`SO_REUSEADDR`, and `SO_REUSEPORT` for those of the same user), as discovery services do:
/// each gets its own copy of every multicast and broadcast datagram.
pub fn shared_socket(port: u16) -> io::Result<Async<UdpSocket>> {
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    rustix::net::bind(&fd, &addr)?;
    Async::new(UdpSocket::from(fd))
}

/// The local address `peer` reaches this machine by: the source address the kernel picks
/// for a datagram to it (a connected UDP socket sends nothing).
pub fn local_toward(peer: SocketAddrV4) -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(peer).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    }
}

/// One interface announced on: its index, its IPv4 address, and a socket that sends to the
/// SSDP group through it.
pub struct Interface {
    pub index: u32,
    pub addr: Ipv4Addr,
    sender: UdpSocket,
}

impl Interface {
    /// Sends `datagram` to the SSDP group on this interface; a failure is the network's (the
    /// interface went down) and is left for the next announcement.
    pub fn multicast(&self, datagram: &[u8]) {
        let _ = self.sender.send(datagram);
    }
}

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_MULTICAST: u32 = 0x1000;

/// The interfaces that are up, take multicast and are not the loopback, each with an IPv4
/// address (`only`, when given and the interface has it; else its primary one), at most
/// [`MAX_INTERFACES`]: the flags from `/sys/class/net`, the addresses from the kernel
/// ([`addrs::ipv4`]).
pub fn interfaces(only: Option<Ipv4Addr>) -> heapless::Vec<Interface, MAX_INTERFACES> {
    let mut found = heapless::Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return found;
    };
    let addresses = addrs::ipv4();
    for entry in dir.flatten() {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
        let flags = read("flags")
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok());
        let index = read("ifindex").and_then(|i| i.trim().parse::<u32>().ok());
        let (Some(flags), Some(index)) = (flags, index) else {
            continue;
        };
        if flags & (IFF_UP | IFF_MULTICAST) != IFF_UP | IFF_MULTICAST || flags & IFF_LOOPBACK != 0 {
            continue;
        }
        let mut own = addresses
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, a)| *a);
        let addr = match only {
            Some(only) => own.find(|a| *a == only),
            None => own.next(),
        };
        let Some(interface) = addr.and_then(|addr| sender(index, addr)) else {
            continue;
        };
        // An address on two interfaces is announced once; a full table takes no more.
        let seen = found.iter().any(|i: &Interface| i.addr == interface.addr);
        if !seen && found.push(interface).is_err() {
            break;
        }
    }
    found
}

/// A socket that multicasts to the SSDP group through interface `index`, from its address
/// `addr`. Bound to that address, the socket sends multicast through the interface that owns
/// it (Linux routes a multicast from a bound local address so, for just this use), which
/// asks nothing of `IP_MULTICAST_IF`: qemu-user, which the router boards' tests run under,
/// refuses that option in the form that names an interface by index.
fn sender(index: u32, addr: Ipv4Addr) -> Option<Interface> {
    if addr.is_loopback() || addr.is_unspecified() {
        return None;
    }
    let socket = UdpSocket::bind((addr, 0)).ok()?;
    // UPnP's TTL for SSDP: the datagrams stay on the link and one router hop at most.
    sockopt::set_ip_multicast_ttl(&socket, 2).ok()?;
    socket.connect((ssdp::GROUP, ssdp::PORT)).ok()?;
    socket.set_nonblocking(true).ok()?;
    Some(Interface {
        index,
        addr,
        sender: socket,
    })
}

/// Joins the SSDP group on interface `index` with `socket`; joining twice is no error.
pub fn join(socket: &UdpSocket, index: u32) {
    let any = Ipv4Addr::UNSPECIFIED;
    match sockopt::set_ip_add_membership_with_ifindex(socket, &ssdp::GROUP, &any, index) {
        Ok(()) | Err(rustix::io::Errno::ADDRINUSE) => {}
        Err(e) => log::debug!("LAN: cannot join the SSDP group on interface {index}: {e}"),
    }
}

/// How many searches acebox answers: [`PER_PEER`] per peer and [`ALL_PEERS`] in all per
/// [`WINDOW_MS`], whatever floods in, counted in a table of [`MAX_PEERS`] peers.
#[derive(Default)]
pub struct Budget {
    peers: heapless::Vec<(IpAddr, u64, u16), MAX_PEERS>,
    window: u64,
    all: u16,
}

impl Budget {
    /// Whether a search from `peer` at `now` (milliseconds) is answered; counts it if so.
    pub fn allow(&mut self, peer: IpAddr, now: u64) -> bool {
        if now.saturating_sub(self.window) >= WINDOW_MS {
            self.window = now;
            self.all = 0;
        }
        if self.all >= ALL_PEERS {
            return false;
        }
        let at = match self.peers.iter().position(|(ip, _, _)| *ip == peer) {
            Some(at) => at,
            None => {
                let entry = (peer, now, 0);
                if self.peers.push(entry).is_err() {
                    // Forget the peer whose window began longest ago.
                    let oldest = (0..self.peers.len())
                        .min_by_key(|&i| self.peers[i].1)
                        .unwrap_or(0);
                    self.peers[oldest] = entry;
                    oldest
                } else {
                    self.peers.len() - 1
                }
            }
        };
        let (_, since, count) = &mut self.peers[at];
        if now.saturating_sub(*since) >= WINDOW_MS {
            *since = now;
            *count = 0;
        }
        if *count >= PER_PEER {
            return false;
        }
        *count += 1;
        self.all += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + n))
    }

    #[test]
    fn a_flooding_peer_is_cut_off_and_others_still_answered() {
        let mut budget = Budget::default();
        let answered = (0..50).filter(|_| budget.allow(ip(1), 1000)).count();
        assert_eq!(answered, usize::from(PER_PEER));
        assert!(budget.allow(ip(2), 1001));
        assert!(!budget.allow(ip(1), 1000 + WINDOW_MS - 1));
        assert!(budget.allow(ip(1), 1000 + WINDOW_MS), "a new window");
    }

    #[test]
    fn all_peers_together_are_bounded_and_the_table_stays_fixed() {
        let mut budget = Budget::default();
        let answered = (0..1000).filter(|n| budget.allow(ip(*n), 5)).count();
        assert_eq!(answered, usize::from(ALL_PEERS));
        assert_eq!(budget.peers.len(), MAX_PEERS);
        assert!(budget.allow(ip(7), 5 + WINDOW_MS));
    }

    #[test]
    fn the_local_address_toward_a_peer_is_a_real_one() {
        assert_eq!(
            local_toward("127.0.0.1:9".parse().unwrap()),
            Some(Ipv4Addr::LOCALHOST)
        );
    }
}
