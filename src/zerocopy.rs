//! Zero-copy sends: a client socket that, when hyper hands it bytes lying in a segment's memory
//! file (see `memseg`), sends that range with `sendfile` from the file instead of copying it
//! into the socket, as nginx sends a file. The kernel then queues references to the file's
//! pages; the file is sealed, so they cannot change while it still sends them, and they stay
//! alive after acebox lets go of the segment (evicted from the ring mid-send) until sent.
//!
//! Bytes anywhere else (response heads, playlists, TS chunks) go out as before, with
//! `writev`. Owns the choice between the two for each write; never decides what is sent or
//! when a stalled client is cut off (that is the stall guard around it).

use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use rustix::net::SendFlags;

use crate::memseg;

/// A served connection's socket.
pub struct Sendfile {
    inner: Async<TcpStream>,
}

impl Sendfile {
    pub fn new(inner: Async<TcpStream>) -> Sendfile {
        Sendfile { inner }
    }
}

impl AsyncRead for Sendfile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Sendfile {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let found = bufs
            .iter()
            .enumerate()
            .find_map(|(i, buf)| memseg::find(buf).map(|(file, offset)| (i, file, offset)));
        let Some((at, file, offset)) = found else {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        };
        loop {
            match send(
                self.inner.get_ref(),
                &bufs[..at],
                (&file, offset, bufs[at].len()),
            ) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.inner.poll_writable(cx))?;
                }
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Writes `before` (a response head, say), then `len` bytes of `file` from `offset`, as far as
/// the socket takes them without blocking: the bytes written, or `WouldBlock` if none were.
/// `before` goes with `MSG_MORE`, so the head and the start of the body share a packet.
fn send(
    socket: &TcpStream,
    before: &[IoSlice<'_>],
    (file, offset, len): (&std::fs::File, u64, usize),
) -> io::Result<usize> {
    let head: usize = before.iter().map(|b| b.len()).sum();
    let mut sent = 0;
    if head > 0 {
        let flags = SendFlags::MORE | SendFlags::NOSIGNAL;
        sent = rustix::net::sendmsg(socket, before, &mut Default::default(), flags)?;
        if sent < head {
            return Ok(sent);
        }
    }
    let mut from = offset;
    match rustix::fs::sendfile(socket, file, Some(&mut from), len) {
        Ok(n) => Ok(sent + n),
        Err(rustix::io::Errno::AGAIN) if sent > 0 => Ok(sent),
        Err(e) => Err(e.into()),
    }
}
