//! The write-stall guard: a socket whose writes fail once the peer has taken no byte for a
//! while, and the flag that tells a response its client was cut off that way.
//!
//! This module owns the stall timer around a socket's writes. It never reads or parses what
//! passes through, never closes the socket itself (the failed write ends the connection) and
//! never times reads (hyper's header timeout does that).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncWrite};

/// A peer that accepts no byte of a pending write for this long is cut off, which frees whatever
/// its response was holding (see `ring`).
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

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
