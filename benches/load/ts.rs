//! MPEG-TS readers, as TVs read `/ace/getstream`: one streaming GET each, read as fast as it
//! comes until the end of the run, every packet checked for its sync byte and every video packet
//! for the simulator's running index (a gap is a skip the viewer sees).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::FutureExt;
use http_body_util::BodyExt;
use smol::Executor;

use crate::common::{follows, video_index};
use crate::net::Conn;

const PACKET: usize = 188;
const SYNC: u8 = 0x47;

/// What one reader saw.
#[derive(Debug, Default)]
pub struct Reader {
    /// From its request to the first body byte.
    pub first_byte: Option<Duration>,
    pub bytes: u64,
    /// Packets that did not start with the sync byte (lost alignment).
    pub misaligned: u64,
    /// Breaks in the video packets' running index.
    pub gaps: u64,
    /// A status other than 200, or a connection that failed or ended before the run did.
    pub errors: u64,
}

/// Whole packets out of a byte stream cut anywhere.
#[derive(Default)]
struct Packets {
    partial: Vec<u8>,
    last_index: Option<u64>,
    /// A PAT came: this is the simulator's TS stream, whose video packets carry a running
    /// index. A TS client of a channel played as HLS gets the simulator's HLS segments back to
    /// back instead, which carry none, and only their alignment is checked.
    indexed: bool,
}

impl Packets {
    /// Checks every packet `data` completes.
    fn feed(&mut self, reader: &mut Reader, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (PACKET - self.partial.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            data = rest;
            let packet = if self.partial.is_empty() && head.len() == PACKET {
                head
            } else {
                self.partial.extend_from_slice(head);
                if self.partial.len() < PACKET {
                    continue;
                }
                &self.partial
            };
            if packet[0] != SYNC {
                reader.misaligned += 1;
            } else if packet[1] & 0x1f == 0 && packet[2] == 0 {
                self.indexed = true;
            } else if let Some(index) = video_index(packet).filter(|_| self.indexed) {
                let lost = self.last_index.is_some_and(|last| !follows(last, index));
                reader.gaps += u64::from(lost);
                self.last_index = Some(index);
            }
            self.partial.clear();
        }
    }
}

/// One reader: opens the stream at `join_at`, reads until `end`.
pub async fn read(
    ex: &'static Executor<'static>,
    acebox: SocketAddr,
    content: &str,
    (join_at, end): (Instant, Instant),
) -> Reader {
    Timer::at(join_at).await;
    let mut reader = Reader::default();
    let opened = Instant::now();
    let mut conn = Conn::new(ex, acebox);
    let response = match conn.get(&format!("/ace/getstream?id={content}")).await {
        Ok(response) if response.status() == 200 => response,
        _ => {
            reader.errors += 1;
            return reader;
        }
    };
    let mut body = response.into_body();
    let mut packets = Packets::default();
    loop {
        let frame = body.frame().or(async {
            Timer::at(end).await;
            None
        });
        match frame.await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    reader.first_byte.get_or_insert_with(|| opened.elapsed());
                    reader.bytes += data.len() as u64;
                    packets.feed(&mut reader, data);
                }
            }
            None if Instant::now() >= end => break,
            _ => {
                reader.errors += 1;
                break;
            }
        }
    }
    reader
}
