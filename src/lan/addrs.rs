//! The IPv4 addresses of the machine's interfaces, asked of the kernel over rtnetlink
//! (`RTM_GETADDR`, the question `ip -4 addr` asks).
//!
//! This module owns the layout of that one request and of its answers, and a table of at most
//! [`MAX_ADDRESSES`]. It never looks at an interface's flags and never sends a datagram to the
//! network (`net` does both).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, sockopt};

/// Addresses kept at most; past these, the rest of the machine's are not announced on.
pub const MAX_ADDRESSES: usize = 32;

/// An interface's index and one of its IPv4 addresses, in the kernel's order (its primary
/// address first).
pub type Addresses = heapless::Vec<(u32, Ipv4Addr), MAX_ADDRESSES>;

/// The biggest answer datagram read: the kernel fills a dump's datagrams to at most a page
/// (or the largest buffer a reader offered); what does not fit is cut and the dump ends there.
const ANSWER_BYTES: usize = 8192;
/// The kernel answers at once; this only bounds a machine where it never does.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

const HEADER: usize = 16; // struct nlmsghdr
const IFADDRMSG: usize = 8; // struct ifaddrmsg
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const AF_INET: u8 = 2;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const SEQ: u32 = 1;

/// Every IPv4 address of every interface, or none when the kernel cannot be asked (a sandbox
/// without `AF_NETLINK`): then acebox announces nowhere, and says so once.
pub fn ipv4() -> Addresses {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let mut found = Addresses::new();
    if let Err(e) = ask(&mut found) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "LAN: cannot list the interfaces' addresses over netlink ({e}), so acebox is \
                 not announced; allow AF_NETLINK to the service"
            );
        }
    }
    found
}

fn ask(found: &mut Addresses) -> rustix::io::Result<()> {
    // `None` is NETLINK_ROUTE; an unconnected netlink socket sends to the kernel.
    let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(ANSWER_TIMEOUT))?;
    rustix::net::send(&fd, &request(), SendFlags::empty())?;
    let mut answer = [0u8; ANSWER_BYTES];
    loop {
        let (_, len) = rustix::net::recv(&fd, &mut answer[..], RecvFlags::empty())?;
        if len > ANSWER_BYTES || read(&answer[..len], found) == Read::Done {
            return Ok(());
        }
    }
}

/// `RTM_GETADDR` with `NLM_F_DUMP` for the IPv4 family: a header and an `ifaddrmsg`.
fn request() -> [u8; HEADER + IFADDRMSG] {
    let mut out = [0u8; HEADER + IFADDRMSG];
    out[0..4].copy_from_slice(&((HEADER + IFADDRMSG) as u32).to_ne_bytes());
    out[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    out[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    out[8..12].copy_from_slice(&SEQ.to_ne_bytes());
    out[HEADER] = AF_INET;
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// The dump goes on in the next datagram.
    More,
    /// The dump ended, failed, or said something that cannot be read: stop with what was found.
    Done,
}

/// Reads one answer datagram of messages into `found`.
fn read(mut datagram: &[u8], found: &mut Addresses) -> Read {
    while datagram.len() >= HEADER {
        let len = u32_at(datagram, 0) as usize;
        if len < HEADER || len > datagram.len() {
            return Read::Done;
        }
        let (kind, seq) = (u16_at(datagram, 4), u32_at(datagram, 8));
        match kind {
            NLMSG_DONE | NLMSG_ERROR => return Read::Done,
            RTM_NEWADDR if seq == SEQ => {
                if let Some(address) = address(&datagram[HEADER..len]) {
                    // A full table keeps the first addresses: the dump lists primaries first.
                    let _ = found.push(address);
                }
            }
            _ => {}
        }
        datagram = &datagram[align(len).min(datagram.len())..];
    }
    Read::More
}

/// The interface index and local address an `RTM_NEWADDR` body gives (an `ifaddrmsg`, then
/// attributes): `IFA_LOCAL`, else `IFA_ADDRESS` (they differ only on point-to-point links,
/// where `IFA_ADDRESS` is the peer's).
fn address(body: &[u8]) -> Option<(u32, Ipv4Addr)> {
    if body.len() < IFADDRMSG || body[0] != AF_INET {
        return None;
    }
    let index = u32_at(body, 4);
    let (mut local, mut address) = (None, None);
    let mut attributes = &body[IFADDRMSG..];
    while attributes.len() >= 4 {
        let len = usize::from(u16_at(attributes, 0));
        if len < 4 || len > attributes.len() {
            break;
        }
        if let Ok(octets) = <[u8; 4]>::try_from(&attributes[4..len]) {
            match u16_at(attributes, 2) {
                IFA_LOCAL => local = Some(Ipv4Addr::from(octets)),
                IFA_ADDRESS => address = Some(Ipv4Addr::from(octets)),
                _ => {}
            }
        }
        attributes = &attributes[align(len).min(attributes.len())..];
    }
    Some((index, local.or(address)?))
}

/// Netlink pads messages and attributes to 4 bytes.
fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(align(out.len()), 0);
        out
    }

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut out = ((HEADER + body.len()) as u32).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(0x2u16.to_ne_bytes()); // NLM_F_MULTI
        out.extend(seq.to_ne_bytes());
        out.extend(0u32.to_ne_bytes());
        out.extend(body);
        out
    }

    fn new_addr(family: u8, index: u32, attributes: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![family, 24, 0x80, 0];
        body.extend(index.to_ne_bytes());
        for a in attributes {
            body.extend(a);
        }
        message(RTM_NEWADDR, SEQ, &body)
    }

    #[test]
    fn a_dump_gives_each_interfaces_local_address_in_order() {
        let lo = new_addr(AF_INET, 1, &[attribute(IFA_LOCAL, &[127, 0, 0, 1])]);
        // A point-to-point link: IFA_ADDRESS is the peer's, IFA_LOCAL ours.
        let ptp = new_addr(
            AF_INET,
            4,
            &[
                attribute(IFA_ADDRESS, &[10, 0, 0, 2]),
                attribute(8, b"ppp0\0"), // IFA_LABEL, a length that needs padding
                attribute(IFA_LOCAL, &[10, 0, 0, 1]),
            ],
        );
        let only_address = new_addr(AF_INET, 3, &[attribute(IFA_ADDRESS, &[192, 168, 1, 2])]);
        let v6 = new_addr(10, 3, &[attribute(IFA_ADDRESS, &[0xfe; 16])]);
        let other_question = message(RTM_NEWADDR, SEQ + 1, &new_addr(AF_INET, 9, &[])[HEADER..]);
        let mut found = Addresses::new();
        let first = [lo, ptp, only_address, v6, other_question].concat();
        assert_eq!(read(&first, &mut found), Read::More);
        assert_eq!(
            read(&message(NLMSG_DONE, SEQ, &[0; 4]), &mut found),
            Read::Done
        );
        let want = [
            (1, Ipv4Addr::new(127, 0, 0, 1)),
            (4, Ipv4Addr::new(10, 0, 0, 1)),
            (3, Ipv4Addr::new(192, 168, 1, 2)),
        ];
        assert_eq!(found.as_slice(), &want);
    }

    #[test]
    fn errors_and_broken_answers_end_the_dump_with_what_was_found() {
        let one = new_addr(AF_INET, 2, &[attribute(IFA_LOCAL, &[192, 168, 1, 1])]);
        let mut found = Addresses::new();
        assert_eq!(
            read(&message(NLMSG_ERROR, SEQ, &[0; 20]), &mut found),
            Read::Done
        );
        let mut too_long = one.clone();
        too_long[0] = 200;
        assert_eq!(read(&too_long, &mut found), Read::Done);
        let mut cut_attribute = one.clone();
        cut_attribute[HEADER + IFADDRMSG] = 40; // longer than the message
        assert_eq!(read(&cut_attribute, &mut found), Read::More);
        assert!(found.is_empty());
        let full: Vec<u8> = (0..MAX_ADDRESSES + 5).flat_map(|_| one.clone()).collect();
        assert_eq!(read(&full, &mut found), Read::More);
        assert_eq!(found.len(), MAX_ADDRESSES);
    }

    #[test]
    fn this_machine_has_its_loopback_address() {
        assert!(ipv4().iter().any(|(_, a)| a.is_loopback()), "{:?}", ipv4());
    }
}
