//! The load generator's HTTP side: a keep-alive HTTP/1.1 connection per client on smol, as a
//! player holds one, and the executor every client task runs on.
//!
//! Owns sockets and the executor; never decides what a response means.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::FutureExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::{Request, Response};
use smol::Executor;
use smol_hyper::rt::FuturesIo;

/// No answer head within this time is an error (a stuck server, not a slow one).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The executor every client runs on, driven by `threads` threads (the caller's included).
pub fn executor(threads: usize) -> &'static Executor<'static> {
    let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
    for _ in 1..threads {
        std::thread::spawn(|| smol::block_on(ex.run(smol::future::pending::<()>())));
    }
    ex
}

/// One client's connection; reopened when the server closes it. Each client is a device of
/// its own, as in a household: its own loopback address (`common::next_device`), from which
/// acebox's per-address shares count it, and a `User-Agent` of its own.
pub struct Conn {
    addr: SocketAddr,
    from: IpAddr,
    ex: &'static Executor<'static>,
    sender: Option<SendRequest<Empty<Bytes>>>,
    user_agent: String,
}

impl Conn {
    pub fn new(ex: &'static Executor<'static>, addr: SocketAddr) -> Conn {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        Conn {
            addr,
            from: crate::common::next_device(),
            ex,
            sender: None,
            user_agent: format!("acebox-load/{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// `GET path`; the response as soon as its head has arrived.
    pub async fn get(&mut self, path: &str) -> io::Result<Response<Incoming>> {
        let request = Request::get(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::USER_AGENT, &self.user_agent)
            .body(Empty::new())
            .map_err(io::Error::other)?;
        let sender = self.ready().await?;
        let answer = async { sender.send_request(request).await.map_err(io::Error::other) };
        let result = answer
            .or(async {
                Timer::after(HEAD_TIMEOUT).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "no answer head"))
            })
            .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    /// `GET path`, read whole.
    pub async fn get_all(&mut self, path: &str) -> io::Result<Reply> {
        let response = self.get(path).await?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?;
        Ok(Reply {
            status,
            location,
            body: body.to_bytes(),
        })
    }

    /// A sender ready for a request, over a new connection if the last one closed.
    async fn ready(&mut self) -> io::Result<&mut SendRequest<Empty<Bytes>>> {
        if let Some(sender) = &mut self.sender {
            if sender.ready().await.is_err() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            // A connection on the loopback is made at once: no need to wait for it.
            let stream = crate::common::try_connect_from(self.from, self.addr, HEAD_TIMEOUT)?;
            let stream = Async::new(stream)?;
            let (sender, conn) = handshake(FuturesIo::new(stream))
                .await
                .map_err(io::Error::other)?;
            self.ex
                .spawn(async move {
                    let _ = conn.await;
                })
                .detach();
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just opened"))
    }
}

/// A whole answer: status, `Location` and body.
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
}
