//! A connection flood, as a buggy TV app, a port scanner or a hostile guest makes one:
//! connections that never finish a request head (half send nothing, half are slowloris: a head
//! begun and never ended), held open while a player joins a warm channel again and again.
//!
//! Owns the flood's sockets and the player's timing; never decides what a response means
//! beyond its status.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use smol::Executor;

use crate::hls;
use crate::net::Conn;

/// Opens `n` connections to `acebox` that never finish a request head; every other one sends
/// the start of one. Connections that cannot be opened (out of descriptors) are counted out.
pub fn open(acebox: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|i| {
            let mut conn = TcpStream::connect(acebox).ok()?;
            if i % 2 == 1 {
                conn.write_all(b"GET /status HTTP/1.1\r\nX-Slow: ").ok()?;
            }
            Some(conn)
        })
        .collect()
}

/// One player joining: connect, first playlist, first segment; how long it took, or `None`
/// when any of them failed.
pub async fn join(
    ex: &'static Executor<'static>,
    acebox: SocketAddr,
    content: &str,
) -> Option<Duration> {
    let started = Instant::now();
    let mut conn = Conn::new(ex, acebox);
    let playlist = hls::connect(&mut conn, content).await.ok()?;
    let reply = conn.get_all(&playlist).await.ok()?;
    let list = hls::parse(&reply.body).filter(|_| reply.status == 200)?;
    let segment = conn.get_all(&list.segments.last()?.uri).await.ok()?;
    (segment.status == 200).then(|| started.elapsed())
}
