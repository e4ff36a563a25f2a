//! Who may connect: the `--allow CIDR` list.
//!
//! Owns parsing network prefixes and matching a peer address against them. It never touches a
//! socket; the gate asks it about each accepted connection before a byte is read.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The most prefixes `--allow` takes; a home network needs a handful.
pub const MAX_RULES: usize = 32;

/// One network prefix, e.g. `192.168.1.0/24` or `fd00::/8`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network, IPv4 kept as IPv4-mapped IPv6 so one comparison serves both families.
    net: u128,
    /// Leading bits that must match, counted on the IPv6 form.
    bits: u32,
}

/// Why a prefix could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum CidrError {
    /// Not an IPv4 or IPv6 address (with an optional `/LENGTH`).
    Address,
    /// The prefix length is not a number that fits the address family.
    Length,
    /// More than `MAX_RULES` prefixes.
    TooMany,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Address => {
                f.write_str("use ADDRESS/LENGTH, e.g. 192.168.1.0/24, 10.0.0.5 or fd00::/8")
            }
            CidrError::Length => {
                f.write_str("the prefix length must be 0 to 32 for IPv4, 0 to 128 for IPv6")
            }
            CidrError::TooMany => write!(f, "at most {MAX_RULES} prefixes may be allowed"),
        }
    }
}

impl std::error::Error for CidrError {}

fn mapped(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let ip: IpAddr = addr.trim().parse().map_err(|_| CidrError::Address)?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => len.trim().parse::<u32>().map_err(|_| CidrError::Length)?,
            None => max,
        };
        if len > max {
            return Err(CidrError::Length);
        }
        let bits = len + (128 - max);
        Ok(Cidr {
            net: mapped(ip) & mask(bits),
            bits,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // A v4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d: compare it as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        mapped(ip) & mask(self.bits) == self.net
    }
}

fn mask(bits: u32) -> u128 {
    u128::MAX.checked_shl(128 - bits).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v6 = Ipv6Addr::from(self.net);
        match v6.to_ipv4_mapped() {
            Some(v4) if self.bits >= 96 => write!(f, "{v4}/{}", self.bits - 96),
            _ => write!(f, "{v6}/{}", self.bits),
        }
    }
}

/// The prefixes allowed to connect; empty means everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(heapless::Vec<Cidr, MAX_RULES>);

impl AllowList {
    pub fn push(&mut self, cidr: Cidr) -> Result<(), CidrError> {
        self.0.push(cidr).map_err(|_| CidrError::TooMany)
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("everyone");
        }
        for (n, cidr) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{cidr}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_match_their_networks_in_both_families() {
        let lan = Cidr::parse("192.168.1.0/24").unwrap();
        assert!(lan.contains(ip("192.168.1.77")));
        assert!(lan.contains(ip("::ffff:192.168.1.77")), "v4 on a v6 socket");
        assert!(!lan.contains(ip("192.168.2.1")));
        assert!(!lan.contains(ip("fd00::1")));
        let ula = Cidr::parse("fd00::/8").unwrap();
        assert!(ula.contains(ip("fd12::9")) && !ula.contains(ip("fe80::1")));
        let one = Cidr::parse("10.0.0.5").unwrap();
        assert!(one.contains(ip("10.0.0.5")) && !one.contains(ip("10.0.0.6")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        assert_eq!(
            Cidr::parse("192.168.1.9/24").unwrap().to_string(),
            "192.168.1.0/24"
        );
        assert_eq!(Cidr::parse("fd00::1/8").unwrap().to_string(), "fd00::/8");
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert_eq!(Cidr::parse("192.168.1.0/33"), Err(CidrError::Length));
        assert_eq!(Cidr::parse("::/129"), Err(CidrError::Length));
        assert_eq!(Cidr::parse("lan"), Err(CidrError::Address));
        assert_eq!(Cidr::parse("10.0.0.0/x"), Err(CidrError::Length));
        assert_eq!(Cidr::parse(""), Err(CidrError::Address));
    }

    #[test]
    fn an_empty_list_admits_everyone() {
        let mut list = AllowList::default();
        assert!(list.admits(ip("203.0.113.1")));
        list.push(Cidr::parse("127.0.0.0/8").unwrap()).unwrap();
        assert!(list.admits(ip("127.0.0.1")) && !list.admits(ip("203.0.113.1")));
        for _ in 1..MAX_RULES {
            list.push(Cidr::parse("::1").unwrap()).unwrap();
        }
        assert_eq!(
            list.push(Cidr::parse("::1").unwrap()),
            Err(CidrError::TooMany)
        );
    }
}
