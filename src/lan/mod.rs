//! Being found on the home network: acebox as an HDHomeRun tuner for media servers (Plex,
//! Jellyfin, Emby, Channels DVR) and as a DLNA media server for TVs' media browsers, announced
//! by SSDP and by Silicondust's own discovery protocol.
//!
//! This folder owns those protocols and the URLs they add. It never opens a channel: every
//! channel it hands out is acebox's own MPEG-TS URL (`/ace/getstream`), which the router
//! serves. It reads the channel list, the device's identity and the board; the router sends it
//! the requests for its URLs ([`handle`]) and `main` starts its UDP services ([`announce`]).
//! - `hdhomerun`: the discovery packets of UDP 65001 and the device id's check digit;
//! - `ssdp`: `M-SEARCH` and `NOTIFY` on 239.255.255.250:1900;
//! - `upnp`: the device and service descriptions;
//! - `dlna`: the ContentDirectory and ConnectionManager actions, DIDL-Lite;
//! - `tuner`: `/discover.json`, `/lineup.json`, `/lineup_status.json`;
//! - `net`: the UDP sockets, the interfaces to announce on, and the answer budget;
//! - `addrs`: the interfaces' IPv4 addresses, asked of the kernel (rtnetlink);
//! - `announce`: the tasks that answer searches and send announcements;
//! - this file: the identity, the URLs handed out and the HTTP answers.

mod addrs;
mod announce;
pub mod dlna;
pub mod hdhomerun;
mod net;
pub mod ssdp;
mod tuner;
mod upnp;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::app::{App, Device};
use crate::channel_list::{Listing, Listings};
use crate::http::{
    Admission, Body, FetchError, LocalAddr, json_error, misdirected, read_body, respond,
    with_timeout,
};

pub use announce::Announcer;

/// The channels of the list now, in list order; none without `--channels`.
async fn listings(app: &App) -> Option<Listings> {
    match app.channel_list.as_ref() {
        Some(list) => Some(list.listings(Instant::now()).await),
        None => None,
    }
}

/// The URLs one response hands out, all built here on one base: `http://<authority>`, each
/// carrying the token of the client's admission (`http::Admission::carry`), but the base that
/// clients add paths to.
pub struct Links<'a> {
    authority: &'a str,
    admission: &'a Admission,
}

impl<'a> Links<'a> {
    /// Links on `authority`, a `host[:port]` already checked to be plain, for a client let in
    /// by `admission`.
    pub fn new(authority: &'a str, admission: &'a Admission) -> Links<'a> {
        Links {
            authority,
            admission,
        }
    }

    /// `http://<authority>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// `http://<authority><path>`, with the client's token.
    pub fn url(&self, path: &str) -> String {
        let mut url = format!("http://{}{path}", self.authority);
        self.admission.carry(&mut url);
        url
    }

    /// A channel's MPEG-TS URL: its first source, as the channel list serves it.
    pub fn stream(&self, l: &Listing) -> String {
        match l.sources.first() {
            Some(source) => self.url(&format!(
                "/ace/getstream?{}={}",
                source.param(),
                source.id.as_str()
            )),
            None => self.base(),
        }
    }
}

/// Channel `l`'s number, the `n`-th of the list: its `tvg-chno`, or its place from 1.
fn number(l: &Listing, n: usize) -> String {
    if l.chno.is_empty() {
        (n + 1).to_string()
    } else {
        l.chno.clone()
    }
}

/// Channel `l`'s name, or `Channel <number>` when the list gives none.
fn title(l: &Listing, n: usize) -> String {
    if l.name.is_empty() {
        format!("Channel {}", number(l, n))
    } else {
        l.name.clone()
    }
}

/// The identity acebox announces, the same on every start on this machine and port: the
/// HDHomeRun device id (with its check digit) and the UPnP uuid come from a hash of the
/// machine id (`/etc/machine-id`, when there is one), the host name and the HTTP port; the
/// name shown on TVs and media servers is `acebox (<host name>)`.
pub fn device(listen: SocketAddr, announce: bool) -> Device {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let host = read("/proc/sys/kernel/hostname");
    let host = host.trim();
    let mut seed = Fnv::default();
    seed.add(read("/etc/machine-id").trim().as_bytes());
    seed.add(host.as_bytes());
    seed.add(&listen.port().to_be_bytes());
    let a = seed.0;
    seed.add(b"uuid");
    let b = seed.0;
    // A name-based uuid's layout: version 5, RFC 4122 variant.
    let hex = |v: u64| format!("{v:016x}");
    let (a_hex, b_hex) = (
        hex(a),
        hex(b & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000),
    );
    let uuid = format!(
        "{}-{}-5{}-{}-{}",
        &a_hex[..8],
        &a_hex[8..12],
        &a_hex[13..],
        &b_hex[..4],
        &b_hex[4..]
    );
    Device {
        announce,
        id: hdhomerun::device_id((a >> 32) as u32 ^ a as u32),
        uuid,
        name: if host.is_empty() {
            "acebox".into()
        } else {
            format!("acebox ({host})")
        },
    }
}

/// FNV-1a, 64 bits: a stable hash for the identity (not for anything secret).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A SOAP request body larger than this is refused (a Browse is about 500 bytes).
const MAX_SOAP_BYTES: usize = 16 * 1024;
/// How long a SOAP request body may take to arrive.
const SOAP_BODY_TIMEOUT: Duration = Duration::from_secs(10);
const XML: &str = "text/xml; charset=\"utf-8\"";

/// What a LAN URL is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    Discover,
    Lineup,
    LineupStatus,
    LineupPost,
    Device,
    ContentDirectory,
    ConnectionManager,
    Control,
}

/// Answers a request for one of the LAN URLs; any other request is handed back.
pub async fn handle(
    app: &App,
    req: Request<Incoming>,
    admission: &Admission,
) -> Result<Response<Body>, Request<Incoming>> {
    let page = match req.uri().path() {
        "/discover.json" => Page::Discover,
        "/lineup.json" => Page::Lineup,
        "/lineup_status.json" => Page::LineupStatus,
        "/lineup.post" => Page::LineupPost,
        upnp::DEVICE_PATH => Page::Device,
        upnp::CONTENT_DIRECTORY_SCPD => Page::ContentDirectory,
        upnp::CONNECTION_MANAGER_SCPD => Page::ConnectionManager,
        upnp::CONTENT_DIRECTORY_CONTROL | upnp::CONNECTION_MANAGER_CONTROL => Page::Control,
        _ => return Err(req),
    };
    let methods = match page {
        Page::Control => "POST",
        Page::LineupPost => "GET, HEAD, POST",
        _ => "GET, HEAD",
    };
    if !methods.split(", ").any(|m| m == req.method().as_str()) {
        let mut response = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} takes {methods}", req.uri().path()),
        );
        if let Ok(allow) = HeaderValue::from_str(methods) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        return Ok(response);
    }
    if !app.names.admits(&req) {
        return Ok(misdirected());
    }
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
    let Some(authority) = crate::channel_list::authority(req.headers().get(header::HOST), local)
    else {
        return Ok(json_error(
            StatusCode::BAD_REQUEST,
            "send a Host header naming this server, like Host: 192.168.1.10:6880",
        ));
    };
    let links = Links::new(&authority, admission);
    let device = &app.device;
    Ok(match page {
        Page::Discover => json(tuner::discover(device, &links, crate::board::MAX_CHANNELS)),
        Page::Lineup => {
            let listings = listings(app).await;
            let list: Vec<&Listing> = listings.iter().flat_map(Listings::iter).collect();
            json(tuner::lineup(&list, &links))
        }
        Page::LineupStatus => json(tuner::LINEUP_STATUS.into()),
        // Plex asks for a channel scan; the lineup is the channel list, nothing to scan.
        Page::LineupPost => respond(StatusCode::OK, "text/plain", ""),
        Page::Device => respond(StatusCode::OK, XML, upnp::device_xml(device)),
        Page::ContentDirectory => respond(StatusCode::OK, XML, upnp::content_directory_scpd()),
        Page::ConnectionManager => respond(StatusCode::OK, XML, upnp::connection_manager_scpd()),
        Page::Control => control(app, req, &links).await,
    })
}

fn json(text: String) -> Response<Body> {
    let mut response = respond(StatusCode::OK, "application/json", text);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A SOAP action on the ContentDirectory or the ConnectionManager.
async fn control(app: &App, req: Request<Incoming>, links: &Links<'_>) -> Response<Body> {
    let action = req
        .headers()
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match with_timeout(
        SOAP_BODY_TIMEOUT,
        read_body(req.into_body(), MAX_SOAP_BYTES),
    )
    .await
    {
        Ok(body) => body,
        Err(FetchError::TooLarge) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "a SOAP request may be at most 16 KiB",
            );
        }
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("reading the request failed: {e}"),
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "a SOAP request must be UTF-8");
    };
    let listings = listings(app).await;
    let list: Vec<&Listing> = listings.iter().flat_map(Listings::iter).collect();
    match dlna::answer(&action, text, &list, links, &app.device.name) {
        Ok(xml) => respond(StatusCode::OK, XML, xml),
        Err(fault) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            XML,
            dlna::fault_body(&fault),
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A channel of test content 1 with these fields.
    pub(crate) fn listing(name: &str, group: &str, chno: &str, logo: &str) -> Listing {
        Listing {
            name: name.into(),
            tvg_id: String::new(),
            chno: chno.into(),
            logo: logo.into(),
            group: group.into(),
            sources: vec![crate::channel::Source {
                id: crate::channel::ContentId::parse(&"01".repeat(20)).unwrap(),
                selector: crate::engine::Selector::ContentId,
            }],
        }
    }

    #[test]
    fn the_identity_is_stable_and_well_formed() {
        let listen: SocketAddr = "0.0.0.0:6880".parse().unwrap();
        let (a, b) = (device(listen, true), device(listen, true));
        assert_eq!((a.id, &a.uuid, &a.name), (b.id, &b.uuid, &b.name));
        assert!(hdhomerun::valid_device_id(a.id));
        let other = device("0.0.0.0:6881".parse().unwrap(), true);
        assert_ne!(a.id, other.id);
        assert_ne!(a.uuid, other.uuid);
        let parts: Vec<&str> = a.uuid.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('5'));
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{}",
            a.uuid
        );
        assert!(a.name.starts_with("acebox"));
    }
}
