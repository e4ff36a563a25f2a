//! SSDP (UPnP discovery over UDP 1900): reading an `M-SEARCH` and writing the answers and the
//! `NOTIFY` announcements of acebox's one root device, a MediaServer:1 with its two services.
//!
//! This module owns the text of these datagrams. [`Search::parse`] is a view over received
//! bytes: the request line and the headers it needs are found in place, nothing is allocated
//! and the caller bounds the datagram. [`Message::emit`] writes into a fixed-size buffer; every
//! value written is acebox's own (a URL, the device's uuid, a search target it matched), so no
//! client text is echoed except a target equal to one of ours. It never touches a socket.

use core::fmt::{self, Write};
use std::net::SocketAddrV4;

/// The SSDP multicast group and port.
pub const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 1900;
/// How long an announcement is good for; acebox announces again well before (see `announce`).
pub const MAX_AGE_SECS: u32 = 1800;
/// The longest datagram emitted (the longest, a NOTIFY with a 21-character address, is about
/// 350 bytes).
pub const MAX_MESSAGE: usize = 512;

const MEDIA_SERVER: &str = "urn:schemas-upnp-org:device:MediaServer:1";
const CONTENT_DIRECTORY: &str = "urn:schemas-upnp-org:service:ContentDirectory:1";
const CONNECTION_MANAGER: &str = "urn:schemas-upnp-org:service:ConnectionManager:1";
const ROOT: &str = "upnp:rootdevice";
const SERVER: &str = concat!("Linux UPnP/1.0 acebox/", env!("CARGO_PKG_VERSION"));

/// Why a datagram on port 1900 is not a search acebox answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// Not `M-SEARCH * HTTP/1.1` (a NOTIFY from another device, an answer, noise).
    NotSearch,
    /// `MAN` is not `"ssdp:discover"`, or `ST` is missing.
    Header,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::NotSearch => "not an SSDP M-SEARCH",
            Error::Header => "M-SEARCH without MAN: \"ssdp:discover\" and an ST",
        })
    }
}

impl std::error::Error for Error {}

/// What acebox's device announces itself as: the five notification types of a root device
/// with two services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Root,
    Uuid,
    MediaServer,
    ContentDirectory,
    ConnectionManager,
}

/// Every target, in the order announcements are sent.
pub const TARGETS: [Target; 5] = [
    Target::Root,
    Target::Uuid,
    Target::MediaServer,
    Target::ContentDirectory,
    Target::ConnectionManager,
];

impl Target {
    /// The `NT`/`ST` of this target (the device's uuid for [`Target::Uuid`], written apart).
    fn urn(self) -> &'static str {
        match self {
            Target::Root => ROOT,
            Target::Uuid => "",
            Target::MediaServer => MEDIA_SERVER,
            Target::ContentDirectory => CONTENT_DIRECTORY,
            Target::ConnectionManager => CONNECTION_MANAGER,
        }
    }
}

/// An `M-SEARCH`: what it searches for, borrowed from the datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Search<'a> {
    pub st: &'a str,
}

impl<'a> Search<'a> {
    /// Reads an `M-SEARCH` datagram: the request line, then `MAN` and `ST` among the headers
    /// (names in any case, lines ending in CRLF or LF).
    pub fn parse(bytes: &'a [u8]) -> Result<Search<'a>, Error> {
        let text = core::str::from_utf8(bytes).map_err(|_| Error::NotSearch)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        if lines.next() != Some("M-SEARCH * HTTP/1.1") {
            return Err(Error::NotSearch);
        }
        let (mut man, mut st) = (false, None);
        for line in lines.take_while(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.trim().eq_ignore_ascii_case("MAN") {
                man = value == "\"ssdp:discover\"";
            } else if name.trim().eq_ignore_ascii_case("ST") {
                st = Some(value);
            }
        }
        match st {
            Some(st) if man && !st.is_empty() => Ok(Search { st }),
            _ => Err(Error::Header),
        }
    }

    /// The targets of device `uuid` this search asks for: all of them for `ssdp:all`, the one
    /// it names otherwise, none when it names something else.
    pub fn targets(&self, uuid: &str) -> impl Iterator<Item = Target> + '_ {
        let all = self.st == "ssdp:all";
        let own_uuid = self.st.strip_prefix("uuid:") == Some(uuid);
        TARGETS.into_iter().filter(move |t| {
            all || match t {
                Target::Uuid => own_uuid,
                t => self.st == t.urn(),
            }
        })
    }
}

/// A datagram acebox sends.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// The answer to a search, unicast to the searcher.
    Answer,
    /// `ssdp:alive`, multicast.
    Alive,
    /// `ssdp:byebye`, multicast when acebox stops.
    Byebye,
}

/// One answer or announcement of one target.
pub struct Message<'a> {
    pub kind: Kind,
    pub target: Target,
    pub uuid: &'a str,
    /// Where acebox's HTTP server is reached from the network the datagram goes to.
    pub http: SocketAddrV4,
}

impl Message<'_> {
    /// The datagram's text.
    pub fn emit(&self) -> Result<heapless::String<MAX_MESSAGE>, fmt::Error> {
        let mut out = heapless::String::new();
        let uuid = self.uuid;
        let (nt, separator) = match self.target {
            Target::Uuid => ("", ""),
            t => (t.urn(), "::"),
        };
        let (line, nt_name) = match self.kind {
            Kind::Answer => ("HTTP/1.1 200 OK", "ST"),
            Kind::Alive | Kind::Byebye => ("NOTIFY * HTTP/1.1", "NT"),
        };
        write!(out, "{line}\r\n")?;
        if !matches!(self.kind, Kind::Answer) {
            write!(out, "HOST: {GROUP}:{PORT}\r\n")?;
        }
        if !matches!(self.kind, Kind::Byebye) {
            write!(
                out,
                "CACHE-CONTROL: max-age={MAX_AGE_SECS}\r\nLOCATION: http://{}/device.xml\r\n\
                 SERVER: {SERVER}\r\n",
                self.http
            )?;
        }
        match self.kind {
            Kind::Answer => out.push_str("EXT:\r\n").map_err(|_| fmt::Error)?,
            Kind::Alive => out
                .push_str("NTS: ssdp:alive\r\n")
                .map_err(|_| fmt::Error)?,
            Kind::Byebye => out
                .push_str("NTS: ssdp:byebye\r\n")
                .map_err(|_| fmt::Error)?,
        }
        if nt.is_empty() {
            write!(out, "{nt_name}: uuid:{uuid}\r\n")?;
        } else {
            write!(out, "{nt_name}: {nt}\r\n")?;
        }
        write!(out, "USN: uuid:{uuid}{separator}{nt}\r\n\r\n")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "4d696e69-444c-164e-9d41-b827eb000001";

    fn targets(datagram: &str) -> Vec<Target> {
        Search::parse(datagram.as_bytes())
            .map(|s| s.targets(UUID).collect())
            .unwrap_or_default()
    }

    #[test]
    fn searches_are_answered_for_what_they_name() {
        // As gssdp-discover sends it.
        let gssdp = "M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\nMan: \"ssdp:discover\"\r\n\
                     ST: urn:schemas-upnp-org:device:MediaServer:1\r\nMX: 3\r\n\r\n";
        assert_eq!(targets(gssdp), [Target::MediaServer]);
        let all = "M-SEARCH * HTTP/1.1\nHOST:239.255.255.250:1900\nMAN:\"ssdp:discover\"\nST:ssdp:all\nMX:1\n\n";
        assert_eq!(targets(all), TARGETS);
        let uuid =
            format!("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: uuid:{UUID}\r\n\r\n");
        assert_eq!(targets(&uuid), [Target::Uuid]);
        for other in [
            "urn:schemas-upnp-org:device:MediaServer:2",
            "urn:schemas-upnp-org:device:MediaRenderer:1",
            "uuid:00000000-0000-0000-0000-000000000000",
            "upnp:rootdevice2",
        ] {
            let d = format!("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: {other}\r\n\r\n");
            assert_eq!(targets(&d), [], "{other}");
        }
    }

    #[test]
    fn other_datagrams_are_not_searches() {
        let notify = "NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n";
        assert_eq!(Search::parse(notify.as_bytes()), Err(Error::NotSearch));
        assert_eq!(Search::parse(b"\xff\xfe"), Err(Error::NotSearch));
        assert_eq!(Search::parse(b""), Err(Error::NotSearch));
        let no_man = "M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n";
        assert_eq!(Search::parse(no_man.as_bytes()), Err(Error::Header));
        let no_st = "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n";
        assert_eq!(Search::parse(no_st.as_bytes()), Err(Error::Header));
        // Headers after the blank line are the body, not headers.
        let late = "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\nST: ssdp:all\r\n";
        assert_eq!(Search::parse(late.as_bytes()), Err(Error::Header));
    }

    #[test]
    fn answers_and_notifications_carry_what_control_points_read() {
        let http: SocketAddrV4 = "10.222.0.1:6880".parse().unwrap();
        let message = |kind, target| {
            Message {
                kind,
                target,
                uuid: UUID,
                http,
            }
            .emit()
            .unwrap()
            .to_string()
        };
        let answer = message(Kind::Answer, Target::MediaServer);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("\r\nLOCATION: http://10.222.0.1:6880/device.xml\r\n"));
        assert!(answer.contains("\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\n"));
        assert!(answer.contains(&format!(
            "\r\nUSN: uuid:{UUID}::urn:schemas-upnp-org:device:MediaServer:1\r\n"
        )));
        assert!(answer.contains("\r\nEXT:\r\n") && answer.ends_with("\r\n\r\n"));
        let alive = message(Kind::Alive, Target::Uuid);
        assert!(alive.starts_with("NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"));
        assert!(alive.contains(&format!("\r\nNT: uuid:{UUID}\r\nUSN: uuid:{UUID}\r\n")));
        assert!(alive.contains("\r\nNTS: ssdp:alive\r\n") && alive.contains("max-age=1800"));
        let bye = message(Kind::Byebye, Target::Root);
        assert!(
            bye.contains("\r\nNTS: ssdp:byebye\r\nNT: upnp:rootdevice\r\n"),
            "{bye}"
        );
        assert!(!bye.contains("LOCATION"));
        let widest: SocketAddrV4 = "255.255.255.255:65535".parse().unwrap();
        for kind in [Kind::Answer, Kind::Alive, Kind::Byebye] {
            for target in TARGETS {
                let m = Message {
                    kind,
                    target,
                    uuid: UUID,
                    http: widest,
                };
                assert!(m.emit().is_ok());
            }
        }
    }
}
