//! MPEG-TS fan-out with readers that only count bytes: each opens `/ace/getstream` on a raw
//! socket and reads into one 64 KiB buffer until the run ends, parsing nothing past the answer
//! head, so the readers are never what limits the stream (the checking readers of `ts` parse
//! and check every packet). What acebox spends per GB here is comparable with the HLS path's.
//!
//! Owns the readers' sockets and byte counts; never checks what the bytes are.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};

/// What one reader got.
#[derive(Debug, Default)]
pub struct Count {
    /// Bytes after the answer head (chunked framing included: about 0.1%).
    pub bytes: u64,
    /// A status other than 200, or a stream that failed or ended before the run did.
    pub errors: u64,
}

/// One reader: opens the stream at `join_at`, counts what comes until `end`.
pub async fn read(acebox: SocketAddr, content: &str, (join_at, end): (Instant, Instant)) -> Count {
    Timer::at(join_at).await;
    let mut count = Count::default();
    let ended = async {
        Timer::at(end).await;
        Ok(())
    };
    // The end of the run stops the reader wherever it is; what it counted so far stays.
    if stream(acebox, content, &mut count).or(ended).await.is_err() {
        count.errors += 1;
    }
    count
}

async fn stream(acebox: SocketAddr, content: &str, count: &mut Count) -> io::Result<()> {
    let mut conn = Async::<TcpStream>::connect(acebox).await?;
    let head = format!(
        "GET /ace/getstream?id={content} HTTP/1.1\r\nHost: {acebox}\r\nUser-Agent: acebox-fanout\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = 0;
    // The answer head: up to its blank line.
    let body_start = loop {
        let n = conn.read(&mut buf[seen..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        seen += n;
        if let Some(end) = buf[..seen].windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if seen == buf.len() {
            return Err(io::Error::other("an answer head over 64 KiB"));
        }
    };
    if !buf.starts_with(b"HTTP/1.1 200") {
        count.errors += 1;
        return Ok(());
    }
    count.bytes += (seen - body_start) as u64;
    loop {
        match conn.read(&mut buf).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => count.bytes += n as u64,
        }
    }
}
