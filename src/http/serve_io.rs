//! The served connection's socket as hyper sees it (`hyper::rt::Read` and `Write`), in place
//! of smol-hyper's `FuturesIo`, for two costs a profile showed on every request:
//!
//! - `FuturesIo` zeroes hyper's whole free read buffer (8 KiB and more) before every read,
//!   including the reads hyper makes while a response streams, to notice a hang-up: about
//!   22 KB of memset per segment request. Here a read goes into a small zeroed buffer on the
//!   stack and is copied into hyper's with its safe `put_slice`: what a client sends a server
//!   is request heads, a few hundred bytes, so a small buffer costs a copy of the bytes read
//!   and no `unsafe`. (Not for the engine client: it reads whole segments.)
//! - `FuturesIo` does not say that the socket takes vectored writes; this does, so hyper
//!   queues a response body (a segment shared with every client) instead of copying it.
//!
//! Owns only that translation; never reads or writes anything hyper did not ask for.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::{AsyncRead, AsyncWrite};
use hyper::rt::ReadBufCursor;

/// Bytes read at most per call: a request head usually fits; a longer one takes more calls.
const READ_CHUNK: usize = 2048;

pin_project_lite::pin_project! {
    /// A served connection's socket (`S`: the stall guard around the TCP stream).
    pub struct ServeIo<S> {
        #[pin]
        inner: S,
    }
}

impl<S> ServeIo<S> {
    pub fn new(inner: S) -> ServeIo<S> {
        ServeIo { inner }
    }
}

impl<S: AsyncRead> hyper::rt::Read for ServeIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; READ_CHUNK];
        let room = buf.remaining().min(READ_CHUNK);
        let n = ready!(self.project().inner.poll_read(cx, &mut chunk[..room]))?;
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> hyper::rt::Write for ServeIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    /// A request head longer than one read chunk arrives whole, and the response body (sent
    /// with vectored writes) comes back intact.
    #[test]
    fn serves_a_head_longer_than_one_read_and_a_large_body() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body = bytes::Bytes::from((0..300_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let served = body.clone();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let stream = async_io::Async::new(stream).unwrap();
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let long = req.headers()["x-long"].len();
                let body = http_body_util::Full::new(served.clone());
                async move {
                    assert_eq!(long, 3 * READ_CHUNK);
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(ServeIo::new(stream), service);
            smol::block_on(conn).unwrap();
        });
        smol::block_on(async {
            let stream = async_io::Async::<std::net::TcpStream>::connect(addr)
                .await
                .unwrap();
            let io = smol_hyper::rt::FuturesIo::new(stream);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            let driver = smol::spawn(conn);
            let request = hyper::Request::get("/")
                .header("x-long", "a".repeat(3 * READ_CHUNK))
                .header(hyper::header::CONNECTION, "close")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let got = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(got, body);
            drop(sender);
            let _ = driver.await;
        });
        server.join().unwrap();
    }
}
