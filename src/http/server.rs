//! The server: binding the listener, the accept loop, each admitted connection served by hyper
//! on its own task, and the short answer a refused connection gets.
//!
//! This module owns sockets toward clients and the transport's part of every response (the
//! write-stall guard, the head size and read timeout; CORS headers on refusals). It never decides what a
//! request means (the handler it is given does) and never decides who may connect (it asks the
//! gate).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use smol_hyper::rt::SmolTimer;

use super::gate::Place;
use super::response::json_error_body;
use super::serve_io::ServeIo;
use super::{
    Body, FetchError, Gate, Refusal, StallGuard, Stalled, WRITE_STALL_TIMEOUT, with_timeout,
};

/// A request head must arrive within this time, or the connection is closed (slow clients).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
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
/// How long a refused client gets to finish sending its request before the socket closes.
const REFUSE_LINGER: Duration = Duration::from_secs(1);

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
                Ok(place) => {
                    crate::spawn(serve_connection(stream, peer, place, handler.clone())).detach()
                }
                Err(refusal) => refuse(&gate, stream, peer, refusal),
            }
        }
    };
    accept.or(stop).await
}

async fn serve_connection<H, F>(
    stream: Async<TcpStream>,
    peer: SocketAddr,
    place: Place,
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    log::debug!("client {peer}: connected");
    let local = stream.get_ref().local_addr().ok().map(LocalAddr);
    let stalled = Stalled::default();
    let io = ServeIo::new(StallGuard::new(
        stream,
        WRITE_STALL_TIMEOUT,
        stalled.clone(),
    ));
    let place = Arc::new(place);
    let service = {
        let place = place.clone();
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let busy = place.request();
            // The last response is sent: what it watched is nothing to this one.
            stalled.unwatch();
            req.extensions_mut().insert(stalled.clone());
            if let Some(local) = local {
                req.extensions_mut().insert(local);
            }
            let handler = handler.clone();
            async move {
                let (head, body) = handler(req, peer).await.into_parts();
                Ok::<_, Infallible>(Response::from_parts(head, busy.track(body)))
            }
        })
    };
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
        place.evicted().await;
        log::debug!("client {peer}: closed to make room (no request under way)");
        Ok(())
    };
    if let Err(e) = conn.or(evicted).await {
        log::debug!("client {peer}: connection ended: {e}");
    }
}

/// Answers a refused connection with 403 or 503 and closes it, on a task of its own; when too
/// many refusals are under way already, closes it at once.
fn refuse(gate: &Arc<Gate>, stream: Async<TcpStream>, peer: SocketAddr, refusal: Refusal) {
    let Some(refusing) = gate.refusing() else {
        return;
    };
    let (status, retry) = match refusal {
        Refusal::Forbidden => (StatusCode::FORBIDDEN, ""),
        Refusal::Full { .. } | Refusal::AddressFull { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "Retry-After: 5\r\n")
        }
    };
    log::debug!("client {peer}: refused ({refusal:?})");
    let body = json_error_body(&refusal.to_string());
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    crate::spawn(async move {
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
        drop(refusing);
    })
    .detach();
}

/// The address a request's connection came in on (this server's side), in its extensions.
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// Headers a web player may read besides the CORS-safelisted ones: where a connect redirects,
/// and when to retry after a 503.
const EXPOSED_HEADERS: &str = "Location, Retry-After, Content-Length, Content-Range";

/// Lets a page on any origin read a response, as the engine itself does
/// (`Access-Control-Allow-Origin: *`): web players (hls.js in an IPTV web app) fetch from
/// acebox's origin, not their own. The router puts it on players' URLs only (and the server on
/// its refusals); who may connect at all is `--allow`'s to say.
pub fn allow_any_origin(headers: &mut hyper::HeaderMap) {
    use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue};
    // Checked once, at compile time: `from_static` checks every byte wherever it runs, and this
    // runs for every response.
    const ANY: HeaderValue = HeaderValue::from_static("*");
    const EXPOSED: HeaderValue = HeaderValue::from_static(EXPOSED_HEADERS);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
}
