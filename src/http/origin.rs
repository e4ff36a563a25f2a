//! Where the engine-facing client may go: an [`Origin`] is a host and port fixed at start-up
//! (`--engine`), and the one place an `http://host:port` text is read.
//!
//! This module owns parsing an origin, comparing an absolute URL's authority with it, and
//! opening a TCP connection to it. It never takes a host from a request, never sends a byte
//! (that is `client`) and never reads a path: an origin names a host and port only.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};

use async_io::Async;

/// Where a client request goes: a host and port fixed at start-up, never taken from a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    host: String,
    port: u16,
}

/// Why an `http://host:port` origin could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum OriginError {
    /// Only plain `http://` is spoken to the engine.
    Scheme,
    /// The host part is empty or holds characters no host name has.
    Host,
    /// The port is not a number from 1 to 65535.
    Port,
    /// Something follows the authority other than an optional `/`.
    Path,
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginError::Scheme => "it must start with http:// (the engine speaks plain HTTP)",
            OriginError::Host => "the host is empty or not a valid host name or address",
            OriginError::Port => "the port must be a number from 1 to 65535",
            OriginError::Path => "it must name only a host and port, like http://127.0.0.1:6878",
        })
    }
}

impl std::error::Error for OriginError {}

impl Origin {
    /// Reads `http://host[:port][/]`; the port defaults to 80.
    pub fn parse(text: &str) -> Result<Origin, OriginError> {
        let rest = text.strip_prefix("http://").ok_or(OriginError::Scheme)?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(OriginError::Path);
        }
        let (host, port) = split_host_port(authority)?;
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
        if host.is_empty() || !host.chars().all(valid) {
            return Err(OriginError::Host);
        }
        Ok(Origin {
            host: host.to_owned(),
            port,
        })
    }

    /// Whether `authority` (`host[:port]`, as in an absolute URL) names this origin: the same
    /// port (80 when none is given) and the same host, where every loopback name counts as one
    /// (the engine names itself 127.0.0.1 when called from this machine).
    pub fn is(&self, authority: &str) -> bool {
        let Ok((host, port)) = split_host_port(authority) else {
            return false;
        };
        let loopback = |h: &str| {
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        port == self.port
            && (host.eq_ignore_ascii_case(&self.host) || (loopback(host) && loopback(&self.host)))
    }

    /// The value of the `Host` header for requests to this origin.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A TCP connection to the first of the origin's addresses that answers.
    pub(super) async fn connect(&self) -> io::Result<Async<TcpStream>> {
        let (host, port) = (self.host.clone(), self.port);
        let addrs: Vec<SocketAddr> =
            super::off_executor(move || (host.as_str(), port).to_socket_addrs())
                .await?
                .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
        for addr in addrs {
            match Async::<TcpStream>::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), OriginError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(OriginError::Host)?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(OriginError::Port)?,
    };
    Ok((host, port))
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_accepts_host_port_and_default_port() {
        let o = Origin::parse("http://127.0.0.1:6878").unwrap();
        assert_eq!(o.authority(), "127.0.0.1:6878");
        assert_eq!(
            Origin::parse("http://engine/").unwrap().authority(),
            "engine:80"
        );
        assert_eq!(
            Origin::parse("http://[::1]:6878").unwrap().authority(),
            "[::1]:6878"
        );
        let local = Origin::parse("http://localhost:6878").unwrap();
        assert!(local.is("127.0.0.1:6878") && local.is("LOCALHOST:6878") && local.is("[::1]:6878"));
        assert!(!local.is("127.0.0.1:6879") && !local.is("10.0.0.2:6878") && !local.is("evil"));
        let remote = Origin::parse("http://engine.lan").unwrap();
        assert!(remote.is("engine.lan") && remote.is("Engine.LAN:80"));
        assert!(
            !remote.is("127.0.0.1:80"),
            "loopback is not a remote engine"
        );
    }

    #[test]
    fn origin_refuses_what_is_not_an_origin() {
        assert_eq!(Origin::parse("https://a:1"), Err(OriginError::Scheme));
        assert_eq!(Origin::parse("127.0.0.1:6878"), Err(OriginError::Scheme));
        assert_eq!(Origin::parse("http://a:0"), Err(OriginError::Port));
        assert_eq!(Origin::parse("http://a:99999"), Err(OriginError::Port));
        assert_eq!(Origin::parse("http://:80"), Err(OriginError::Host));
        assert_eq!(Origin::parse("http://a b:80"), Err(OriginError::Host));
        assert_eq!(Origin::parse("http://a:80/ace"), Err(OriginError::Path));
        assert_eq!(Origin::parse("http://u@evil:80"), Err(OriginError::Path));
    }
}
