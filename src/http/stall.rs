//! The write-stall guard: a socket whose writes fail once the peer has taken no byte for a
//! while, or once what the response is sending is taken back (a [`Cut`]), and the flag that
//! tells a response its client was cut off for not reading.
//!
//! This module owns the stall timer around a socket's writes and the [`Cut`] a connection
//! watches. It never reads or parses what passes through, never closes the socket itself (the
//! failed write ends the connection) and never times reads (hyper's header timeout does that).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use event_listener::EventListener;
use futures_lite::{AsyncRead, AsyncWrite};

use crate::Cut;

/// A peer that accepts no byte of a pending write for this long is cut off, which frees whatever
/// its response was holding (see `ring`).
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's link with its write-stall guard: set when the guard cut the connection off
/// (it stopped reading, or what it was sending was cut), and the [`Cut`] of what its response
/// is sending now. Every request carries
/// its connection's link in its extensions, so a response can tell a dropped client from one
/// that left, and say what it sends ([`Stalled::watch`]).
#[derive(Clone, Debug, Default)]
pub struct Stalled(Arc<Link>);

#[derive(Debug, Default)]
struct Link {
    stalled: AtomicBool,
    watched: Mutex<Option<Arc<Cut>>>,
}

impl Stalled {
    pub fn is_set(&self) -> bool {
        self.0.stalled.load(Ordering::Acquire)
    }

    /// The response now sends what `cut` stands for: once it is cut, the connection is cut off
    /// (its next write fails, or its pending one), which lets go of it.
    pub fn watch(&self, cut: Arc<Cut>) {
        *crate::lock(&self.0.watched) = Some(cut);
    }

    /// A new request: its response sends nothing watched yet.
    pub fn unwatch(&self) {
        *crate::lock(&self.0.watched) = None;
    }

    fn watched(&self) -> Option<Arc<Cut>> {
        crate::lock(&self.0.watched).clone()
    }
}

pin_project_lite::pin_project! {
    /// A socket whose writes fail with `TimedOut` once the peer has accepted no byte for `limit`:
    /// a client that stops reading is dropped instead of holding buffers forever. They fail
    /// with `ConnectionAborted` once what the response sends is cut ([`Stalled::watch`]).
    pub struct StallGuard<S> {
        #[pin]
        inner: S,
        limit: Duration,
        timer: Option<Timer>,
        stalled: Stalled,
        cut: Option<EventListener>,
    }
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, limit: Duration, stalled: Stalled) -> Self {
        StallGuard {
            inner,
            limit,
            timer: None,
            stalled,
            cut: None,
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
    /// Turns a pending write into a stall timer, and an expired timer into an error; a write
    /// of what was cut fails at once. Only bytes written count as progress: a flush on TCP is
    /// always ready and proves nothing.
    fn guard(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        if this.stalled.watched().is_some_and(|c| c.is_cut()) {
            return Poll::Ready(Err(cut_off(this.stalled)));
        }
        match op(this.inner, cx) {
            Poll::Pending => wait(this.stalled, (this.timer, *this.limit), this.cut, cx),
            Poll::Ready(Ok(written)) if written > 0 => {
                *this.timer = None;
                Poll::Ready(Ok(written))
            }
            ready => ready,
        }
    }
}

/// A write would block: arms the stall timer (`limit`) and listens for a cut of what is being
/// sent; fails once either fires. One copy for every socket type and write.
#[inline(never)]
fn wait(
    stalled: &Stalled,
    (timer, limit): (&mut Option<Timer>, Duration),
    cut: &mut Option<EventListener>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if let Some(watched) = stalled.watched() {
        // Listen, then look: a cut in between is not missed.
        let listener = cut.insert(watched.listen());
        if watched.is_cut() || Pin::new(listener).poll(cx).is_ready() {
            return Poll::Ready(Err(cut_off(stalled)));
        }
    }
    let timer = timer.get_or_insert_with(|| Timer::after(limit));
    match Pin::new(timer).poll(cx) {
        Poll::Ready(_) => {
            stalled.0.stalled.store(true, Ordering::Release);
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer stopped reading",
            )))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// The connection is cut off: what it was sending was taken back from it, the slowest. Its
/// link says it was dropped, as for a stall.
fn cut_off(stalled: &Stalled) -> io::Error {
    stalled.0.stalled.store(true, Ordering::Release);
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "what the response was sending was taken back (a slow client)",
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use async_io::Async;
    use futures_lite::AsyncWriteExt;
    use futures_lite::future::poll_once;
    use std::net::{TcpListener, TcpStream};

    /// A connection whose peer reads nothing, guarded: `stalled` is its link.
    async fn unread(stalled: &Stalled) -> (StallGuard<Async<TcpStream>>, Async<TcpStream>) {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let peer = Async::<TcpStream>::connect(listener.get_ref().local_addr().unwrap())
            .await
            .unwrap();
        let (served, _) = listener.accept().await.unwrap();
        let limit = Duration::from_secs(600);
        (StallGuard::new(served, limit, stalled.clone()), peer)
    }

    #[test]
    fn a_cut_of_what_the_response_sends_cuts_the_connection_off() {
        smol::block_on(async {
            let stalled = Stalled::default();
            let (mut guard, _peer) = unread(&stalled).await;
            let cut = Arc::new(Cut::default());
            stalled.watch(cut.clone());
            let chunk = vec![0u8; 64 * 1024];
            // Fill the socket's buffers: the peer reads nothing.
            while let Some(written) = poll_once(guard.write(&chunk)).await {
                assert!(written.unwrap() > 0);
            }
            let mut write = guard.write(&chunk);
            assert!(poll_once(&mut write).await.is_none(), "the write waits");
            cut.cut();
            let waited = write.await.unwrap_err();
            assert_eq!(waited.kind(), io::ErrorKind::ConnectionAborted);
            assert!(stalled.is_set(), "a drop, as a stall is");
            // A new request watches nothing yet: its writes go on.
            stalled.unwatch();
            let unwatched = poll_once(guard.write(b"x")).await;
            assert!(!matches!(unwatched, Some(Err(_))), "{unwatched:?}");
            stalled.watch(cut);
            let at_once = poll_once(guard.write(b"x")).await;
            assert!(matches!(at_once, Some(Err(_))), "{at_once:?}");
        });
    }
}
