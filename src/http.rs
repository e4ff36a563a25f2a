//! HTTP/1.1 transport on smol: the server accept loop, the one-shot client toward a fixed origin,
//! and the small response helpers every handler uses.
//!
//! This module owns sockets, timeouts and the gate (who may connect, how many at once). It never decides what a request means (that is
//! `router`) and it never builds a URL from client input: a client request names only a path on
//! an [`Origin`] that the caller already holds, so it cannot be steered to another host.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use http_body::Body as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use crate::AtomicU64;
use crate::allow::AllowList;

/// The body of every response acebox sends: whole buffers (playlists, segments, JSON) or, for
/// streams, chunks produced as they arrive.
pub type Body = BoxBody<Bytes, io::Error>;

/// A request head must arrive within this time, or the connection is closed (slow clients).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer that accepts no byte of a pending write for this long is cut off, which frees whatever
/// its response was holding (see `ring`).
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

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

    async fn connect(&self) -> io::Result<Async<TcpStream>> {
        let (host, port) = (self.host.clone(), self.port);
        let addrs: Vec<SocketAddr> = smol::unblock(move || (host.as_str(), port).to_socket_addrs())
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

/// Why a request to an origin produced no usable answer.
#[derive(Debug)]
pub enum FetchError {
    /// No TCP connection could be made (nothing listens, or the host is unknown).
    Connect(io::Error),
    /// The peer took longer than the allowed time to answer or to send the body.
    Timeout,
    /// The connection broke or the peer spoke something other than HTTP/1.
    Protocol(String),
    /// The body was larger than the caller allows.
    TooLarge,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect(e) => write!(f, "cannot connect: {e}"),
            FetchError::Timeout => f.write_str("no answer in time"),
            FetchError::Protocol(e) => write!(f, "broken HTTP exchange: {e}"),
            FetchError::TooLarge => f.write_str("the answer is larger than allowed"),
        }
    }
}

/// A complete answer from an origin: status, `Location` (for redirects) and the body.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Bytes,
}

/// `GET path_and_query` on `origin`, answer head within `timeout`, whole body within `timeout`
/// again and at most `limit` bytes. One connection per request: the engine is local and this
/// keeps no idle sockets.
pub async fn get(
    origin: &Origin,
    path_and_query: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Fetched, FetchError> {
    let response = with_timeout(timeout, request_head(origin, path_and_query)).await?;
    let status = response.status();
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = with_timeout(timeout, read_body(response.into_body(), limit)).await?;
    Ok(Fetched {
        status,
        location,
        body,
    })
}

/// `GET path_and_query` on `origin`, returning the response as soon as its head has arrived, so
/// that the caller can stream the body.
pub async fn request_head(
    origin: &Origin,
    path_and_query: &str,
) -> Result<Response<Incoming>, FetchError> {
    let stream = origin.connect().await.map_err(FetchError::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(stream))
        .await
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    smol::spawn(async move {
        if let Err(e) = conn.await {
            log::debug!("engine connection ended: {e}");
        }
    })
    .detach();
    let request = Request::get(path_and_query)
        .header(hyper::header::HOST, origin.authority())
        .header(hyper::header::CONNECTION, "close")
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    sender
        .send_request(request)
        .await
        .map_err(|e| FetchError::Protocol(e.to_string()))
}

/// Reads a whole body, refusing more than `limit` bytes. With a `Content-Length`, each frame
/// is copied into one buffer of that size as it arrives and then let go, so a segment is held
/// once while it downloads, not as all its frames plus their joined copy.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, FetchError> {
    let mut body = Limited::new(body, limit);
    let Some(length) = body
        .size_hint()
        .exact()
        .and_then(|n| usize::try_from(n).ok())
    else {
        return body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(body_error);
    };
    let mut out = BytesMut::with_capacity(length.min(limit));
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.map_err(body_error)?.data_ref() {
            out.extend_from_slice(data);
        }
    }
    Ok(out.freeze())
}

fn body_error(e: Box<dyn std::error::Error + Send + Sync>) -> FetchError {
    if e.is::<http_body_util::LengthLimitError>() {
        FetchError::TooLarge
    } else {
        FetchError::Protocol(e.to_string())
    }
}

/// Runs `fut` for at most `limit`.
pub async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, FetchError>>,
) -> Result<T, FetchError> {
    fut.or(async {
        Timer::after(limit).await;
        Err(FetchError::Timeout)
    })
    .await
}

/// Connections the kernel queues before acebox accepts them (capped by its `somaxconn`). The
/// standard library's 128 drops connection attempts when a hundred players join at once, and
/// each dropped SYN costs its player a retransmit a second later.
const LISTEN_BACKLOG: i32 = 1024;

/// Binds `addr` for serving.
pub fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    let listener = Async::<TcpListener>::bind(addr)?;
    // listen(2) on a socket that already listens only sets its backlog again.
    rustix::net::listen(listener.get_ref(), LISTEN_BACKLOG)?;
    Ok(listener)
}

/// A request head larger than this is refused (hyper answers 431), and a response is buffered
/// at most this much per connection.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Refusals (403, 503) being written at once; past this, a refused connection is just closed.
const MAX_REFUSING: usize = 64;
/// How long a refused client gets to finish sending its request before the socket closes.
const REFUSE_LINGER: Duration = Duration::from_secs(1);

/// Who may connect, and how many at once: the door every connection passes before hyper reads a
/// byte of it. Counts what it lets in and what it turns away, for `/status` and `/metrics`.
///
/// The gate holds one [`Standing`] per admitted connection (at most `max_connections`). When
/// every place is taken, the connection that has waited longest without a request under way,
/// if that is [`IDLE_GRACE_MS`] or more (it has not finished sending a request head, or it is
/// a keep-alive connection idle between requests), is closed to make room, so idle or slowloris connections, however many, cannot
/// lock a player out; one with a request under way (a player's stream, a playlist waiting for
/// its first segments) is never closed for room. Only when every connection has a request
/// under way is a new one refused.
pub struct Gate {
    allow: AllowList,
    max_connections: usize,
    places: std::sync::Mutex<Vec<Arc<Standing>>>,
    /// The gate's clock: connections' idle times are milliseconds since this.
    epoch: std::time::Instant,
    refusing: AtomicUsize,
    accepted: AtomicU64,
    refused_full: AtomicU64,
    refused_forbidden: AtomicU64,
    evicted: AtomicU64,
}

/// Why the gate turned a connection away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The peer is not in `--allow`.
    Forbidden,
    /// `max_connections` are open, each with a request under way.
    Full,
}

/// What the gate has seen, copied out.
#[derive(Clone, Copy, Debug, Default)]
pub struct GateCounts {
    pub open: usize,
    pub max: usize,
    pub accepted: u64,
    pub refused_full: u64,
    pub refused_forbidden: u64,
    /// Idle connections closed to make room for a new one.
    pub evicted: u64,
}

/// A connection without a request under way for less than this may be about to send one (a
/// client that has just connected, or one fetching back to back): it is not closed to make
/// room. Closing those would churn through the clients of a busy server, each new connection
/// closing another that was about to be served.
const IDLE_GRACE_MS: u64 = 1000;

/// Where one admitted connection stands, shared by its task and the gate.
struct Standing {
    /// Requests being answered on it now: 0 while it waits for a request head.
    busy: AtomicUsize,
    /// When it last had no request under way, in milliseconds of the gate's clock.
    idle_since: AtomicU64,
    /// Set, and `closing` fired, when the gate closes it to make room.
    evicted: AtomicBool,
    closing: event_listener::Event,
}

impl Standing {
    /// Resolves once the gate has closed this connection to make room.
    async fn evicted(&self) {
        loop {
            let listener = self.closing.listen();
            if self.evicted.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}

/// A request under way on a connection: it is busy until this drops (with the response body,
/// once sent or abandoned).
struct Busy {
    standing: Arc<Standing>,
    gate: Arc<Gate>,
}

impl Busy {
    fn new(standing: Arc<Standing>, gate: Arc<Gate>) -> Busy {
        standing.busy.fetch_add(1, Ordering::AcqRel);
        Busy { standing, gate }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.standing
            .idle_since
            .store(self.gate.now_ms(), Ordering::Release);
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
    pub fn new(allow: AllowList, max_connections: usize) -> Gate {
        Gate {
            allow,
            max_connections,
            places: std::sync::Mutex::new(Vec::new()),
            epoch: std::time::Instant::now(),
            refusing: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused_full: AtomicU64::new(0),
            refused_forbidden: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Lets `peer` in (the ticket keeps its place until dropped), closing the longest-idle
    /// connection to make room if every place is taken, or says why not.
    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Ticket, Refusal> {
        self.admit_at(peer, self.now_ms())
    }

    /// [`Gate::admit`] at `now`, milliseconds of the gate's clock.
    fn admit_at(self: &Arc<Self>, peer: SocketAddr, now: u64) -> Result<Ticket, Refusal> {
        if !self.allow.admits(peer.ip()) {
            self.refused_forbidden.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Forbidden);
        }
        let mut places = self.places();
        if places.len() >= self.max_connections {
            let Some(oldest) = longest_idle(&places, now) else {
                self.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(Refusal::Full);
            };
            let gone = places.swap_remove(oldest);
            gone.evicted.store(true, Ordering::Release);
            gone.closing.notify(usize::MAX);
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let standing = Arc::new(Standing {
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
        Ok(Ticket::Connection(self.clone(), standing))
    }

    pub fn counts(&self) -> GateCounts {
        GateCounts {
            open: self.places().len(),
            max: self.max_connections,
            accepted: self.accepted.load(Ordering::Relaxed),
            refused_full: self.refused_full.load(Ordering::Relaxed),
            refused_forbidden: self.refused_forbidden.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }

    fn places(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Standing>>> {
        // Nothing under this lock can panic half-way through an update.
        self.places.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The index of the connection idle for longest among those that may be closed to make room
/// at `now`: no request under way for [`IDLE_GRACE_MS`] at least (one that never finished a
/// request head, a slowloris, or a keep-alive connection between requests).
fn longest_idle(places: &[Arc<Standing>], now: u64) -> Option<usize> {
    let closable = |s: &Standing| {
        let idle_since = s.idle_since.load(Ordering::Acquire);
        s.busy.load(Ordering::Acquire) == 0 && now.saturating_sub(idle_since) >= IDLE_GRACE_MS
    };
    places
        .iter()
        .enumerate()
        .filter(|(_, s)| closable(s))
        .min_by_key(|(_, s)| s.idle_since.load(Ordering::Acquire))
        .map(|(i, _)| i)
}

/// A place the gate gave: an admitted connection's (taken off the table when it closes, unless
/// the gate already closed it to make room), or one of the refusals being written.
enum Ticket {
    Connection(Arc<Gate>, Arc<Standing>),
    Refusal(Arc<Gate>),
}

impl Drop for Ticket {
    fn drop(&mut self) {
        match self {
            Ticket::Connection(gate, standing) => {
                gate.places().retain(|s| !Arc::ptr_eq(s, standing));
            }
            Ticket::Refusal(gate) => {
                gate.refusing.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Takes a place among the refusals being written, if fewer than [`MAX_REFUSING`] are.
fn take_refusal(gate: &Arc<Gate>) -> Option<Ticket> {
    gate.refusing
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_REFUSING).then_some(n + 1)
        })
        .ok()
        .map(|_| Ticket::Refusal(gate.clone()))
}

/// Accepts connections until `stop` resolves and serves each admitted one on its own task with
/// `handler`, which gets the request and the peer's address. Connections the gate refuses get a
/// short JSON answer and are closed without reaching hyper.
pub async fn serve<H, F>(
    listener: Async<TcpListener>,
    gate: Arc<Gate>,
    handler: H,
    stop: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let accept = async {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a moment, then go on.
                    log::warn!("accept failed: {e}");
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match gate.admit(peer) {
                Ok(ticket) => smol::spawn(serve_connection(
                    stream,
                    peer,
                    (gate.clone(), ticket),
                    handler.clone(),
                ))
                .detach(),
                Err(refusal) => refuse(&gate, stream, peer, refusal),
            }
        }
    };
    accept.or(stop).await
}

async fn serve_connection<H, F>(
    stream: Async<TcpStream>,
    peer: SocketAddr,
    (gate, ticket): (Arc<Gate>, Ticket),
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    log::debug!("client {peer}: connected");
    let local = stream.get_ref().local_addr().ok().map(LocalAddr);
    let stalled = Stalled::default();
    let io = crate::serve_io::ServeIo::new(StallGuard::new(
        stream,
        WRITE_STALL_TIMEOUT,
        stalled.clone(),
    ));
    let Ticket::Connection(_, standing) = &ticket else {
        return;
    };
    let standing = standing.clone();
    let busy = (standing.clone(), gate);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = Busy::new(busy.0.clone(), busy.1.clone());
        req.extensions_mut().insert(stalled.clone());
        if let Some(local) = local {
            req.extensions_mut().insert(local);
        }
        let handler = handler.clone();
        async move {
            let (mut head, body) = handler(req, peer).await.into_parts();
            allow_any_origin(&mut head.headers);
            let body = Tracked { body, busy }.boxed();
            Ok::<_, Infallible>(Response::from_parts(head, body))
        }
    });
    // Without vectored writes hyper copies every body (a whole segment) into its own buffer
    // for each client before writing it; `ServeIo` says the socket takes them, and `writev`
    // insists.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(SmolTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .writev(true)
        .serve_connection(io, service);
    let evicted = async {
        standing.evicted().await;
        log::debug!("client {peer}: closed to make room (no request under way)");
        Ok(())
    };
    if let Err(e) = conn.or(evicted).await {
        log::debug!("client {peer}: connection ended: {e}");
    }
    drop(ticket);
}

/// Answers a refused connection with 403 or 503 and closes it, on a task of its own; when too
/// many refusals are under way already, closes it at once.
fn refuse(gate: &Arc<Gate>, stream: Async<TcpStream>, peer: SocketAddr, refusal: Refusal) {
    let Some(place) = take_refusal(gate) else {
        return;
    };
    let (status, retry, message) = match refusal {
        Refusal::Forbidden => (
            StatusCode::FORBIDDEN,
            "",
            "this address may not use acebox (see its --allow option)".to_owned(),
        ),
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Retry-After: 5\r\n",
            format!(
                "acebox already serves its maximum of {} connections; try again shortly",
                gate.max_connections
            ),
        ),
    };
    log::debug!("client {peer}: refused ({refusal:?})");
    let body = json_error_body(&message);
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    smol::spawn(async move {
        let mut stream = stream;
        let linger = async {
            stream.write_all(answer.as_bytes()).await?;
            stream.get_ref().shutdown(std::net::Shutdown::Write)?;
            // Read what the client sends until it closes, so closing does not reset the
            // connection before the client has read the answer.
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok(())
        };
        let _ = with_timeout(REFUSE_LINGER, async {
            linger.await.map_err(FetchError::Connect)
        })
        .await;
        drop(place);
    })
    .detach();
}

/// The address a request's connection came in on (this server's side), in its extensions.
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// Set when the write-stall guard cut a connection off. Every request carries its
/// connection's flag in its extensions, so a response can tell a dropped client from one that
/// left.
#[derive(Clone, Debug, Default)]
pub struct Stalled(Arc<AtomicBool>);

impl Stalled {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

pin_project_lite::pin_project! {
    /// A socket whose writes fail with `TimedOut` once the peer has accepted no byte for `limit`:
    /// a client that stops reading is dropped instead of holding buffers forever.
    pub struct StallGuard<S> {
        #[pin]
        inner: S,
        limit: Duration,
        timer: Option<Timer>,
        stalled: Stalled,
    }
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, limit: Duration, stalled: Stalled) -> Self {
        StallGuard {
            inner,
            limit,
            timer: None,
            stalled,
        }
    }
}

impl<S: AsyncRead> AsyncRead for StallGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<S: AsyncWrite> StallGuard<S> {
    /// Turns a pending write into a stall timer, and an expired timer into an error. Only
    /// bytes written count as progress: a flush on TCP is always ready and proves nothing.
    fn guard(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        match op(this.inner, cx) {
            Poll::Pending => {
                let limit = *this.limit;
                let timer = this.timer.get_or_insert_with(|| Timer::after(limit));
                match Pin::new(timer).poll(cx) {
                    Poll::Ready(_) => {
                        this.stalled.0.store(true, Ordering::Release);
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the peer stopped reading",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Poll::Ready(Ok(written)) if written > 0 => {
                *this.timer = None;
                Poll::Ready(Ok(written))
            }
            ready => ready,
        }
    }
}

impl<S: AsyncWrite> AsyncWrite for StallGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

/// Headers a web player may read besides the CORS-safelisted ones: where a connect redirects,
/// and when to retry after a 503.
const EXPOSED_HEADERS: &str = "Location, Retry-After, Content-Length, Content-Range";

/// Lets a page on any origin read a response, as the engine itself does
/// (`Access-Control-Allow-Origin: *`): web players (hls.js in an IPTV web app, a dashboard)
/// fetch from acebox's origin, not their own. Who may connect at all is `--allow`'s to say.
pub fn allow_any_origin(headers: &mut hyper::HeaderMap) {
    use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue};
    // Checked once, at compile time: `from_static` checks every byte wherever it runs, and this
    // runs for every response.
    const ANY: HeaderValue = HeaderValue::from_static("*");
    const EXPOSED: HeaderValue = HeaderValue::from_static(EXPOSED_HEADERS);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
}

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A response with `status`, a content type and a whole-buffer body.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// A JSON error `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    respond(status, "application/json", json_error_body(message))
}

/// The body of a JSON error: `{"error": message}` and a newline.
fn json_error_body(message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 16);
    body.push_str("{\"error\":");
    push_json_string(&mut body, message);
    body.push_str("}\n");
    body
}

/// Appends `text` to `out` as a JSON string literal.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The query parameter `name` of a request, percent-decoded; `None` when absent.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    query_pairs(query).find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The `name=value` pairs of a query string, percent-decoded. A pair that does not decode to
/// UTF-8 is passed over.
pub fn query_pairs(
    query: &str,
) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
}

/// Decodes `%XX` escapes and `+`; `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(std::borrow::Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok().map(std::borrow::Cow::Owned)
}

/// Appends `text` to `out` with everything but unreserved characters percent-encoded, so that a
/// value taken from a client can sit in a query string and mean only itself.
pub fn push_percent_encoded(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 20)),
        50000,
    );

    fn standing(ticket: &Ticket) -> Arc<Standing> {
        match ticket {
            Ticket::Connection(_, standing) => standing.clone(),
            Ticket::Refusal(_) => panic!("a refusal"),
        }
    }

    #[test]
    fn when_full_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let gate = Arc::new(Gate::new(AllowList::default(), 3));
        let tickets: Vec<Ticket> = (0..3).map(|_| gate.admit_at(PEER, 0).unwrap()).collect();
        let [a, b, c] = [0, 1, 2].map(|i| standing(&tickets[i]));
        // a streams to a player; b finished a request at 20 ms; c never sent a head.
        let streaming = Busy::new(a.clone(), gate.clone());
        drop(Busy::new(b.clone(), gate.clone()));
        b.idle_since.store(20, Ordering::Release);
        assert_eq!(
            gate.admit_at(PEER, 500).err(),
            Some(Refusal::Full),
            "just connected, or just served: each may send a request at once"
        );
        assert_eq!(gate.counts().refused_full, 1);
        let fourth = gate.admit_at(PEER, IDLE_GRACE_MS).unwrap();
        assert!(c.evicted.load(Ordering::Acquire), "the longest idle goes");
        assert!(!a.evicted.load(Ordering::Acquire) && !b.evicted.load(Ordering::Acquire));
        assert_eq!(gate.counts().open, 3);
        assert_eq!(gate.counts().evicted, 1);
        let _busy = Busy::new(standing(&fourth), gate.clone());
        // Past the grace, b is a keep-alive connection idle between requests: it makes room.
        let fifth = gate.admit_at(PEER, 20 + IDLE_GRACE_MS).unwrap();
        assert!(b.evicted.load(Ordering::Acquire));
        // Requests under way never make room, however old.
        let _fetching = Busy::new(standing(&fifth), gate.clone());
        assert_eq!(gate.admit_at(PEER, 1_000_000).err(), Some(Refusal::Full));
        drop(streaming);
    }

    #[test]
    fn a_closed_connection_gives_its_place_back() {
        let gate = Arc::new(Gate::new(AllowList::default(), 1));
        let first = gate.admit(PEER).unwrap();
        let _busy = Busy::new(standing(&first), gate.clone());
        assert_eq!(gate.admit(PEER).err(), Some(Refusal::Full));
        drop(_busy);
        drop(first);
        assert_eq!(gate.counts().open, 0);
        assert!(gate.admit(PEER).is_ok());
        assert_eq!(gate.counts().evicted, 0, "nothing closed for room");
    }

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

    #[test]
    fn query_decoding_and_encoding_round_trip() {
        assert_eq!(query_param("a=1&id=x%20y", "id").as_deref(), Some("x y"));
        assert_eq!(query_param("a=1&id", "id").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "id"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        let mut out = String::new();
        push_percent_encoded(&mut out, "rus&x=1/é");
        assert_eq!(out, "rus%26x%3D1%2F%C3%A9");
        assert_eq!(percent_decode(&out).as_deref(), Some("rus&x=1/é"));
    }

    #[test]
    fn json_error_escapes_the_message() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }
}
