//! The one-shot HTTP/1.1 client acebox uses toward the engine: one connection per request, the
//! answer's head and body together within a time limit, the body within a size limit.
//!
//! This module owns the request and reading its answer. It never builds a URL from client input
//! (a request names only a path on an [`Origin`] the caller already holds, so it cannot be
//! steered to another host), never retries and never keeps an idle socket.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_io::Timer;
use bytes::{Bytes, BytesMut};
use futures_lite::FutureExt;
use http_body::Body as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use smol_hyper::rt::FuturesIo;

use super::Origin;

/// Why a request to an origin produced no usable answer.
#[derive(Debug)]
pub enum FetchError {
    /// No TCP connection could be made (nothing listens, or the host is unknown).
    Connect(std::io::Error),
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

impl std::error::Error for FetchError {}

/// A complete answer from an origin: status, `Location` (for redirects) and the body.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Bytes,
}

/// `GET path_and_query` on `origin`: the answer's head and its whole body within `timeout`
/// together, and at most `limit` bytes of body. One connection per request: the engine is local
/// and this keeps no idle sockets.
pub async fn get(
    origin: &Origin,
    path_and_query: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Fetched, FetchError> {
    with_timeout(timeout, async {
        let response = request_head(origin, path_and_query).await?;
        let status = response.status();
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(response.into_body(), limit).await?;
        Ok(Fetched {
            status,
            location,
            body,
        })
    })
    .await
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
    crate::spawn(async move {
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

/// A peer on loopback for tests: it answers each request in turn with `(head_ms, head,
/// body_ms, body)`: its head after `head_ms`, its body `body_ms` later.
#[cfg(test)]
pub(crate) fn slow_peer(answers: Vec<(u64, &'static str, u64, &'static str)>) -> Origin {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = Origin::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    std::thread::spawn(move || {
        for (head_ms, head, body_ms, body) in answers {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 2048];
            let _ = conn.read(&mut request);
            std::thread::sleep(Duration::from_millis(head_ms));
            let _ = conn.write_all(head.as_bytes());
            std::thread::sleep(Duration::from_millis(body_ms));
            let _ = conn.write_all(body.as_bytes());
        }
    });
    origin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_and_the_body_share_one_time_limit() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        let origin = slow_peer(vec![(300, head, 300, "ok"), (0, head, 100, "ok")]);
        let limit = Duration::from_millis(450);
        let slow = smol::block_on(get(&origin, "/", limit, 16));
        assert!(matches!(slow, Err(FetchError::Timeout)), "{slow:?}");
        let quick = smol::block_on(get(&origin, "/", limit, 16)).unwrap();
        assert_eq!(&quick.body[..], b"ok");
    }
}
