//! Which `host[:port]` a rendered channel list points at: the client's `Host` header when it
//! is a plain authority, else the address the connection came in on.
//!
//! This module owns the check that keeps a client's bytes out of the playlist: only a name or
//! address with an optional port passes. It never resolves a name and never renders anything.

use std::net::{Ipv6Addr, SocketAddr};

use hyper::header::HeaderValue;

/// The longest `Host` header put into the playlist (a bracketed IPv6 address with a port is 47).
/// With the file's size limit (`watch`) it bounds a rendered list to about 1 MB.
const MAX_HOST_LEN: usize = 100;

/// The `host[:port]` for the playlist's URLs: the client's `Host` when it is a plain authority,
/// else the address the connection came in on.
pub fn authority(host: Option<&HeaderValue>, local: Option<SocketAddr>) -> Option<String> {
    host.and_then(|h| h.to_str().ok())
        .filter(|h| is_plain_authority(h))
        .map(str::to_owned)
        .or_else(|| local.map(|a| a.to_string()))
}

/// Whether `text` is `host[:port]` and nothing else: a name or IPv4 address of ASCII letters,
/// digits, `.` and `-`, or a bracketed IPv6 address, then an optional port from 1 to 65535.
fn is_plain_authority(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (text, None),
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    text.len() <= MAX_HOST_LEN && host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_host_headers_are_used() {
        for good in [
            "tv.lan",
            "tv.lan:6880",
            "192.168.1.10:6880",
            "[::1]:6880",
            "[fe80::1]",
            "LOCALHOST:1",
        ] {
            assert!(is_plain_authority(good), "{good}");
        }
        let long = format!("{}:80", "a".repeat(MAX_HOST_LEN));
        for bad in [
            "",
            ":80",
            "tv.lan:",
            "tv.lan:0",
            "tv.lan:65536",
            "tv.lan:80:80",
            "::1",
            "[::1",
            "[::1]x",
            "[not-v6]:80",
            "evil.example/x?y=",
            "a b",
            "user@host",
            "tv_lan",
            "tv.lan\"><script>",
            long.as_str(),
        ] {
            assert!(!is_plain_authority(bad), "{bad}");
        }
    }

    #[test]
    fn a_bad_host_header_falls_back_to_the_local_address() {
        let local: SocketAddr = "10.0.0.5:6880".parse().unwrap();
        let host = |v: &'static str| HeaderValue::from_static(v);
        assert_eq!(
            authority(Some(&host("tv.lan:1")), Some(local)).as_deref(),
            Some("tv.lan:1")
        );
        assert_eq!(
            authority(Some(&host("x/../y")), Some(local)).as_deref(),
            Some("10.0.0.5:6880")
        );
        assert_eq!(
            authority(None, Some(local)).as_deref(),
            Some("10.0.0.5:6880")
        );
        assert_eq!(authority(Some(&host("x y")), None), None);
    }
}
