//! The LAN discovery services, each a task: answering SSDP searches on UDP 1900, answering
//! HDHomeRun discovery on UDP 65001, and announcing acebox's device (`NOTIFY ssdp:alive` on
//! every interface it serves, again every [`NOTIFY_EVERY`] and as soon as an interface
//! appears; `ssdp:byebye` when acebox stops).
//!
//! This module owns those tasks and what they decide: who gets an answer (the `--allow` list,
//! then the answer budget), which address an answer points at (the one the asker reaches
//! acebox by) and when to announce. Every datagram is read into one fixed buffer per task and
//! parsed in place; a failed socket is logged and the rest of acebox goes on without it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_io::{Async, Timer};
use event_listener::Event;
use futures_lite::FutureExt;

use super::hdhomerun::{self, Discover, Packet, Reply};
use super::net::{self, Budget, Interface, MAX_INTERFACES};
use super::ssdp::{self, Kind, Message, Search, TARGETS};
use crate::app::Device;
use crate::clock;
use crate::http::AllowList;

/// How often the whole set of announcements is sent again (half the time they are good for,
/// as UPnP asks).
pub const NOTIFY_EVERY: Duration = Duration::from_secs(ssdp::MAX_AGE_SECS as u64 / 2);
/// How often the interfaces are looked at, so one that comes up (a DHCP lease after boot) is
/// announced on within this time.
const RESCAN: Duration = Duration::from_secs(10);
/// The largest datagram read; longer ones are cut here and then fail to parse.
const MAX_DATAGRAM: usize = 1536;

/// What the tasks share: who acebox is and where its HTTP server is.
struct Context {
    uuid: String,
    device_id: u32,
    tuners: u8,
    http_port: u16,
    /// The one address acebox listens on, when it listens on one; else every interface's.
    only: Option<Ipv4Addr>,
    allow: AllowList,
}

impl Context {
    /// Where `peer` reaches acebox's HTTP server, when it may ask at all.
    fn http_toward(&self, peer: SocketAddr) -> Option<SocketAddrV4> {
        let SocketAddr::V4(peer) = peer else {
            return None;
        };
        if !self.allow.admits(IpAddr::V4(*peer.ip())) {
            return None;
        }
        let addr = self.only.or_else(|| net::local_toward(peer))?;
        Some(SocketAddrV4::new(addr, self.http_port))
    }
}

/// The running discovery services; [`Announcer::stop`] says goodbye.
pub struct Announcer {
    stop: Arc<Stop>,
}

/// Stopping the announcements: asked by [`Announcer::stop`], done once the goodbyes are sent.
#[derive(Default)]
struct Stop {
    asked: AtomicBool,
    done: AtomicBool,
    changed: Event,
}

impl Stop {
    fn set(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        self.changed.notify(usize::MAX);
    }

    /// Waits until `flag` is set.
    async fn until(&self, flag: &AtomicBool) {
        loop {
            if flag.load(Ordering::Acquire) {
                return;
            }
            let listener = self.changed.listen();
            if flag.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}

/// How long stopping waits for the goodbyes to be sent.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl Announcer {
    /// Starts the services for `device`, whose HTTP server listens on `listen`, answering
    /// only peers that `allow` admits.
    pub fn start(device: &Device, listen: SocketAddr, allow: AllowList) -> Announcer {
        let only = match listen.ip() {
            IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        };
        let context = Arc::new(Context {
            uuid: device.uuid.clone(),
            device_id: device.id,
            tuners: u8::try_from(crate::board::MAX_CHANNELS).unwrap_or(u8::MAX),
            http_port: listen.port(),
            only,
            allow,
        });
        let stop = Arc::new(Stop::default());
        let ssdp_socket = bound(ssdp::PORT, "SSDP: TVs and control points");
        let hdhomerun_socket = bound(hdhomerun::PORT, "HDHomeRun discovery: media servers");
        // One task for the three services (a task per service costs binary size, not speed:
        // each waits on its own socket or timer). The announcements end the task.
        let searches = answer_searches(ssdp_socket.clone(), context.clone());
        let discovery = answer_discovery(hdhomerun_socket, context.clone());
        let announcing = announce(ssdp_socket, context, stop.clone());
        crate::spawn(announcing.or(searches).or(discovery)).detach();
        log::info!(
            "announcing on the LAN: HDHomeRun tuner {:08X} and DLNA media server {:?} (uuid:{})",
            device.id,
            device.name,
            device.uuid
        );
        Announcer { stop }
    }

    /// Sends `ssdp:byebye` on every interface announced on and stops announcing.
    pub async fn stop(self) {
        let stop = &self.stop;
        stop.set(&stop.asked);
        let grace = async {
            Timer::after(STOP_GRACE).await;
        };
        stop.until(&stop.done).or(grace).await;
    }
}

/// A shared socket on `port`, or `None` (logged) when it cannot be had.
fn bound(port: u16, who: &str) -> Option<Arc<Async<UdpSocket>>> {
    match net::shared_socket(port) {
        Ok(socket) => Some(Arc::new(socket)),
        Err(e) => {
            log::warn!(
                "LAN: cannot listen on UDP port {port} ({e}); {who} will not find acebox by it"
            );
            None
        }
    }
}

/// Reads datagrams from `socket` into one buffer, handing each with its sender to `answer`.
async fn receive(
    socket: &Async<UdpSocket>,
    mut answer: impl FnMut(&[u8], SocketAddr) -> io::Result<()>,
) {
    let mut buf = [0u8; MAX_DATAGRAM];
    loop {
        let outcome = match socket.recv_from(&mut buf).await {
            Ok((len, peer)) => answer(&buf[..len], peer),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            log::debug!(
                "LAN: UDP port {}: {e}",
                socket.get_ref().local_addr().map_or(0, |a| a.port())
            );
            Timer::after(Duration::from_millis(100)).await;
        }
    }
}

/// Answers `M-SEARCH`es for acebox's device with one datagram per target asked for.
async fn answer_searches(socket: Option<Arc<Async<UdpSocket>>>, context: Arc<Context>) {
    let Some(socket) = socket else {
        return futures_lite::future::pending().await;
    };
    let mut budget = Budget::default();
    receive(&socket, &mut |datagram: &[u8], peer: SocketAddr| {
        let Ok(search) = Search::parse(datagram) else {
            return Ok(());
        };
        let targets: heapless::Vec<ssdp::Target, 5> = search.targets(&context.uuid).collect();
        if targets.is_empty() || !budget.allow(peer.ip(), clock::now_ms()) {
            return Ok(());
        }
        let Some(http) = context.http_toward(peer) else {
            return Ok(());
        };
        for target in targets {
            let message = Message {
                kind: Kind::Answer,
                target,
                uuid: &context.uuid,
                http,
            };
            if let Ok(text) = message.emit() {
                // The socket is non-blocking; a full send buffer drops the answer, as UDP may.
                socket.get_ref().send_to(text.as_bytes(), peer)?;
            }
        }
        Ok(())
    })
    .await;
}

/// Answers HDHomeRun discover requests that ask for a tuner or for acebox's device id.
async fn answer_discovery(socket: Option<Arc<Async<UdpSocket>>>, context: Arc<Context>) {
    let Some(socket) = socket else {
        return futures_lite::future::pending().await;
    };
    let mut budget = Budget::default();
    let mut out = [0u8; hdhomerun::MAX_PACKET];
    receive(&socket, &mut |datagram: &[u8], peer: SocketAddr| {
        let asked = Packet::new_checked(datagram).and_then(|p| Discover::parse(&p));
        if !asked.is_ok_and(|d| d.matches(context.device_id))
            || !budget.allow(peer.ip(), clock::now_ms())
        {
            return Ok(());
        }
        let Some(http) = context.http_toward(peer) else {
            return Ok(());
        };
        let base_url = format!("http://{http}");
        let reply = Reply {
            device_id: context.device_id,
            tuner_count: context.tuners,
            device_auth: "acebox",
            base_url: &base_url,
            lineup_url: &format!("{base_url}/lineup.json"),
        };
        if let Ok(len) = reply.emit(&mut out) {
            socket.get_ref().send_to(&out[..len], peer)?;
        }
        Ok(())
    })
    .await;
}

/// Sends every announcement of `kind` through `interface`.
fn notify(interface: &Interface, context: &Context, kind: Kind) {
    let http = SocketAddrV4::new(interface.addr, context.http_port);
    for target in TARGETS {
        let message = Message {
            kind,
            target,
            uuid: &context.uuid,
            http,
        };
        if let Ok(text) = message.emit() {
            interface.multicast(text.as_bytes());
        }
    }
}

/// Looks at the interfaces every [`RESCAN`]: joins the SSDP group on each (so searches
/// arrive), announces on one that is new or has a new address (twice, as datagrams get
/// lost) and on all every [`NOTIFY_EVERY`]; says goodbye on all when told to stop.
async fn announce(socket: Option<Arc<Async<UdpSocket>>>, context: Arc<Context>, stop: Arc<Stop>) {
    let mut current: heapless::Vec<Interface, MAX_INTERFACES> = heapless::Vec::new();
    let mut next_all = 0;
    loop {
        let now = clock::now_ms();
        let found = net::interfaces(context.only);
        let all = now >= next_all;
        let mut fresh: heapless::Vec<usize, MAX_INTERFACES> = heapless::Vec::new();
        for (n, interface) in found.iter().enumerate() {
            if let Some(socket) = &socket {
                net::join(socket.get_ref(), interface.index);
            }
            let known = current
                .iter()
                .any(|c| c.index == interface.index && c.addr == interface.addr);
            if all || !known {
                notify(interface, &context, Kind::Alive);
                let _ = fresh.push(n);
            }
        }
        if all {
            next_all = now + NOTIFY_EVERY.as_millis() as u64;
        }
        if !fresh.is_empty() {
            Timer::after(Duration::from_millis(300)).await;
            for n in fresh {
                notify(&found[n], &context, Kind::Alive);
            }
        }
        current = found;
        let wait = async {
            Timer::after(RESCAN).await;
            false
        };
        let asked = async {
            stop.until(&stop.asked).await;
            true
        };
        if asked.or(wait).await {
            for interface in &current {
                notify(interface, &context, Kind::Byebye);
            }
            stop.set(&stop.done);
            return;
        }
    }
}
