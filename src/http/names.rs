//! The names acebox is reached by, and the check that a request's `Host` names one of them.
//!
//! [`HostNames`] owns that list: the machine's host name (bare and in the usual local domains:
//! `.local`, `.lan`, `.home.arpa`, `.localdomain`), `localhost`, the `--host` names, and the
//! address each connection came in on. The report and list routes answer only requests that
//! name acebox so (see [`HostNames::admits`]): a web page that rebinds its own name to acebox's
//! address sends its own name, and is refused. It never resolves a name and never reads a
//! request itself (the router hands it the header).

use std::net::{IpAddr, SocketAddr};

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::{Body, LocalAddr, json_error};

/// Local domains a host name is reached by on a home network (mDNS, OpenWrt's and RFC 8375's).
const LOCAL_DOMAINS: [&str; 5] = ["", ".local", ".lan", ".home.arpa", ".localdomain"];

/// The names acebox answers its reports and lists to, in lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostNames(Vec<String>);

impl HostNames {
    /// `machine` (the host name, in each local domain), `localhost` and `extra` (`--host`).
    pub fn new(machine: Option<&str>, extra: &[String]) -> HostNames {
        let mut names = vec!["localhost".to_owned()];
        if let Some(machine) = machine.map(str::trim).filter(|m| !m.is_empty()) {
            for domain in LOCAL_DOMAINS {
                names.push(format!("{}{domain}", machine.to_ascii_lowercase()));
            }
        }
        names.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
        HostNames(names)
    }

    /// Whether `host` (a request's `Host` header, port or not) names acebox: one of its names,
    /// or the address `local` the connection came in on. No `Host` at all is let through (an
    /// HTTP/1.0 client; no browser sends a request without one).
    /// Whether `req` names acebox in its `Host`: one of its names or the address it came in
    /// on. Every route that reports what acebox does or lists what it plays (the status page,
    /// `/status`, `/metrics`, `/playlist.m3u`, the search playlists and guide, the tuner's and
    /// media server's documents, and any such route to come) answers only such requests, and
    /// [`misdirected`] to others: a web page that rebinds its own name to acebox's address
    /// sends its own name, and cannot read them.
    pub fn admits<B>(&self, req: &Request<B>) -> bool {
        let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
        self.knows(req.headers().get(header::HOST), local)
    }

    pub fn knows(&self, host: Option<&HeaderValue>, local: Option<SocketAddr>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let Some(name) = host.to_str().ok().and_then(name_of) else {
            return false;
        };
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                local.is_some_and(|l| l.ip().to_canonical() == ip.to_canonical())
                    || self.0.iter().any(|n| n.parse() == Ok(ip))
            }
            Err(_) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                self.0.iter().any(|n| n.eq_ignore_ascii_case(name))
            }
        }
    }
}

/// The host of a `Host` header: without its port, an IPv6 address without its brackets.
fn name_of(host: &str) -> Option<&str> {
    if let Some(v6) = host.strip_prefix('[') {
        let (address, rest) = v6.split_once(']')?;
        let port_ok = rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port);
        return (port_ok && address.parse::<std::net::Ipv6Addr>().is_ok()).then_some(address);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => Some(name),
        Some(_) => None,
        None => Some(host),
    }
}

fn is_port(text: &str) -> bool {
    text.parse::<u16>().is_ok()
}

/// 421 for a request whose `Host` is not one of acebox's names (see [`HostNames::admits`]).
pub fn misdirected() -> Response<Body> {
    json_error(
        StatusCode::MISDIRECTED_REQUEST,
        "acebox does not answer to this name; it answers to its addresses, its host name, \
         localhost and the names given with --host NAME",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_names_acebox_by_its_names_or_the_address_it_came_in_on() {
        let names = HostNames::new(
            Some("Pi4\n"),
            &["tv.example.org".into(), "203.0.113.5".into()],
        );
        let local: SocketAddr = "192.168.1.10:6880".parse().unwrap();
        let knows =
            |host: &'static str| names.knows(Some(&HeaderValue::from_static(host)), Some(local));
        for good in [
            "192.168.1.10:6880",
            "192.168.1.10",
            "localhost:6880",
            "pi4",
            "PI4.local:6880",
            "pi4.lan",
            "pi4.home.arpa.",
            "tv.example.org:443",
            "203.0.113.5:6880",
        ] {
            assert!(knows(good), "{good}");
        }
        for bad in [
            "rebind.example:6880",
            "pi4.rebind.example",
            "tv.example.org.evil",
            "192.168.1.11:6880",
            "[::1]:6880",
            "pi4:port",
            "pi4:6880:1",
            "",
            "[192.168.1.10]",
        ] {
            assert!(!knows(bad), "{bad}");
        }
        assert!(names.knows(None, None), "no Host: an HTTP/1.0 client");
        let v6 = HostNames::default();
        let local: SocketAddr = "[fd00::5]:6880".parse().unwrap();
        assert!(v6.knows(
            Some(&HeaderValue::from_static("[fd00::5]:6880")),
            Some(local)
        ));
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:6880".parse().unwrap();
        assert!(v6.knows(
            Some(&HeaderValue::from_static("10.0.0.5:6880")),
            Some(mapped)
        ));
    }
}
