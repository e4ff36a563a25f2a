//! What a segment must contain: the simulator's own bytes for upstream segment `n` of a content
//! (`/sim/segment`, which is not counted as a fetch), got once and shared by every client, and
//! the check of a segment body against them as its frames arrive.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use smol::Executor;
use smol::lock::Mutex;

use crate::common::banner_seq;
use crate::net::Conn;

/// Bytes of one MPEG-TS packet; the banner naming the segment sits in the first.
const PACKET: usize = 188;

/// Segments got so far, by content and upstream number.
type Cache = HashMap<(String, u64), Bytes>;

/// The simulator's segments, fetched on first use over one connection.
pub struct Refs {
    held: Mutex<(Conn, Cache)>,
}

impl Refs {
    pub fn new(ex: &'static Executor<'static>, sim: SocketAddr) -> Refs {
        Refs {
            held: Mutex::new((Conn::new(ex, sim), HashMap::new())),
        }
    }

    /// Upstream segment `n` of `content`.
    pub async fn get(&self, content: &str, n: u64) -> io::Result<Bytes> {
        let mut held = self.held.lock().await;
        let (conn, cache) = &mut *held;
        if let Some(bytes) = cache.get(&(content.to_owned(), n)) {
            return Ok(bytes.clone());
        }
        let reply = conn
            .get_all(&format!("/sim/segment?id={content}&n={n}"))
            .await?;
        if reply.status != 200 {
            return Err(io::Error::other(format!("/sim/segment: {}", reply.status)));
        }
        cache.insert((content.to_owned(), n), reply.body.clone());
        Ok(reply.body)
    }
}

/// One segment as a client got it.
pub struct Got {
    pub status: u16,
    pub bytes: u64,
    /// The upstream segment it claims to be, from its banner.
    pub upstream: Option<u64>,
    /// Whether it is exactly the simulator's segment `upstream`. A segment with no banner (an
    /// HLS player of a channel played as MPEG-TS gets segments cut from its stream) cannot be
    /// checked and counts as intact; `upstream` is `None` for it.
    pub intact: bool,
}

/// `GET path` on `conn`, the body checked against the simulator's bytes as it arrives (never
/// kept whole).
pub async fn fetch_segment(
    conn: &mut Conn,
    path: &str,
    refs: &Refs,
    content: &str,
) -> io::Result<Got> {
    let response = conn.get(path).await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut head = Vec::with_capacity(PACKET);
    let mut against: Option<(Bytes, usize)> = None;
    let (mut bytes, mut intact, mut upstream) = (0, status == 200, None);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        bytes += data.len() as u64;
        if let Some((reference, at)) = &mut against {
            intact &= reference.get(*at..*at + data.len()) == Some(&data[..]);
            *at += data.len();
            continue;
        }
        head.extend_from_slice(data);
        if head.len() >= PACKET && status == 200 {
            upstream = banner_seq(&head);
            let Some(n) = upstream else {
                // Cut from a TS stream: nothing to compare against; read the rest.
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(io::Error::other)?;
                    bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                return Ok(Got {
                    status,
                    bytes,
                    upstream,
                    intact,
                });
            };
            let reference = refs.get(content, n).await?;
            intact &= reference.get(..head.len()) == Some(&head[..]);
            against = Some((reference, head.len()));
        }
    }
    intact &= against.is_some_and(|(reference, at)| at == reference.len());
    Ok(Got {
        status,
        bytes,
        upstream,
        intact,
    })
}
