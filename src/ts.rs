//! MPEG-TS: one upstream reader per channel, fanned out to every client through a ring of
//! packet-aligned chunks.
//!
//! The reader owns the one connection the engine allows to a TS playback URL; it cuts what it
//! reads into chunks of whole 188-byte packets and marks where a player can start decoding (the
//! newest PAT followed by a keyframe). Each client is a cursor into the ring ([`TsStream`]): a
//! new client starts at the newest such point, a client that falls off the end of the ring skips
//! to the newest one, and nobody ever waits for anybody else. A TS client of a channel played
//! as HLS is a cursor into its segment ring instead, getting the segments back to back. This
//! module never parses beyond packet and PES headers and never writes to a socket itself (hyper
//! pulls from [`TsStream`]).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use event_listener::EventListener;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use crate::board::{TS_CHUNK_BYTES, TS_CHUNKS, TS_FLUSH_BYTES, TS_RING_BYTES};
use crate::channel::{Activity, Channel, Counters, Feed, Feeder, now_ms};
use crate::clients::PlayerKey;
use crate::engine::EngineError;
use crate::http::Stalled;
use crate::ring::Ring;
use crate::session::Session;

pub const PACKET: usize = 188;
const SYNC: u8 = 0x47;
/// No byte from the engine for this long: the stream is stalled; reconnect.
pub const READ_STALL: Duration = Duration::from_secs(10);
/// A client that had to skip this many times within `SKIP_WINDOW` is dropped: it cannot keep up.
const MAX_SKIPS: usize = 3;
const SKIP_WINDOW: Duration = Duration::from_secs(60);

/// Where a player can start decoding within a chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Offset of the newest PAT that is followed by a video keyframe.
    pub join: Option<u32>,
    /// Offset of the newest PAT, for streams that never mark keyframes.
    pub pat: Option<u32>,
    /// The first chunk of a new upstream connection: what came before may be lost, or come
    /// again.
    pub fresh: bool,
}

/// A channel's MPEG-TS chunks: [`TS_CHUNKS`] of them and [`TS_RING_BYTES`].
pub struct Chunks {
    pub ring: Ring<ChunkMeta, TS_CHUNKS>,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks {
            ring: Ring::new(TS_RING_BYTES, 0),
        }
    }
}

impl Chunks {
    /// Where a client should start: the newest keyframe start point, else the newest PAT, else
    /// the newest chunk. `None` while the ring is empty.
    pub fn start_point(&self) -> Option<(u64, usize)> {
        let ring = &self.ring;
        ring.newest(|m| m.join)
            .or_else(|| ring.newest(|m| m.pat))
            .or_else(|| ring.newest(|_| Some(0)))
            .map(|(seq, offset)| (seq, offset as usize))
    }
}

/// The PID of a packet.
pub fn pid(packet: &[u8]) -> u16 {
    (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
}

/// A PAT that starts a section: where a decoder can learn the programs.
pub fn is_pat_start(packet: &[u8]) -> bool {
    pid(packet) == 0 && packet[1] & 0x40 != 0
}

/// A packet where a video keyframe starts: the random access indicator is set and the payload
/// starts a video PES (stream id 0xE0 to 0xEF). Encoders set the indicator on audio frames too,
/// and a player joining there would wait for a picture.
pub fn is_video_keyframe(packet: &[u8]) -> bool {
    let starts_unit = packet[1] & 0x40 != 0;
    let (has_adaptation, has_payload) = (packet[3] & 0x20 != 0, packet[3] & 0x10 != 0);
    if !(starts_unit && has_adaptation && has_payload && packet[4] > 0 && packet[5] & 0x40 != 0) {
        return false;
    }
    video_pes(packet).is_some()
}

/// The PES a packet starts, if it starts a video PES (stream id 0xE0 to 0xEF).
fn video_pes(packet: &[u8]) -> Option<&[u8]> {
    pes(packet).filter(|pes| pes[3] & 0xf0 == 0xe0)
}

/// The PES a packet starts, if it starts an audio or video PES (stream id 0xC0 to 0xEF).
fn pes(packet: &[u8]) -> Option<&[u8]> {
    if packet[1] & 0x40 == 0 || packet[3] & 0x10 == 0 {
        return None;
    }
    let payload = if packet[3] & 0x20 != 0 {
        5 + usize::from(packet[4])
    } else {
        4
    };
    packet
        .get(payload..)
        .filter(|pes| pes.len() >= 4 && pes[..3] == [0, 0, 1] && (0xc0..=0xef).contains(&pes[3]))
}

/// The presentation time (90 kHz, 33 bits) of the video PES `packet` starts, if it has one.
pub fn video_pts(packet: &[u8]) -> Option<u64> {
    video_pes(packet).and_then(pes_pts)
}

/// The presentation time of the audio or video PES `packet` starts, if it has one.
pub fn pts(packet: &[u8]) -> Option<u64> {
    pes(packet).and_then(pes_pts)
}

/// The PTS field of a PES header.
fn pes_pts(pes: &[u8]) -> Option<u64> {
    // PES header: start code and id (4), length (2), flags (2), header length (1), then the PTS.
    if pes.get(7)? & 0x80 == 0 {
        return None;
    }
    let b = pes.get(9..14)?;
    Some(
        (u64::from(b[0] >> 1 & 0x07) << 30)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] >> 1) << 15)
            | (u64::from(b[3]) << 7)
            | u64::from(b[4] >> 1),
    )
}

/// Cuts an upstream byte stream into chunks of whole packets and finds their start points.
/// Owns the bytes read but not yet handed to the ring.
#[derive(Default)]
pub struct Packetizer {
    pending: BytesMut,
    /// Bytes of `pending` already checked packet by packet.
    scanned: usize,
    /// The newest PAT not yet followed by a keyframe, as an offset in `pending`.
    candidate: Option<usize>,
    meta: ChunkMeta,
}

impl Packetizer {
    /// Takes bytes as they came from the engine; returns the chunks ready for the ring.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<(Bytes, ChunkMeta)> {
        let mut ready = Vec::new();
        while !data.is_empty() {
            if self.pending.is_empty() {
                // Resynchronise: a chunk always starts on a sync byte.
                let skip = data.iter().position(|b| *b == SYNC).unwrap_or(data.len());
                data = &data[skip..];
            }
            let room = TS_CHUNK_BYTES - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.scan();
            if let Some(chunk) = self.cut() {
                ready.push(chunk);
            }
        }
        ready
    }

    /// Checks each whole packet not yet scanned. A packet counts once the next packet's sync
    /// byte is seen too: a torn packet may start with a sync byte, but is not followed by one.
    fn scan(&mut self) {
        while self.scanned + PACKET < self.pending.len() {
            let at = self.scanned;
            if self.pending[at] != SYNC || self.pending[at + PACKET] != SYNC {
                self.resync(at);
                continue;
            }
            let packet = &self.pending[at..at + PACKET];
            if is_pat_start(packet) {
                self.candidate = Some(at);
                self.meta.pat = Some(at as u32);
            } else if is_video_keyframe(packet) {
                if let Some(pat) = self.candidate.take() {
                    self.meta.join = Some(pat as u32);
                }
            }
            self.scanned += PACKET;
        }
    }

    /// Drops bytes from `at` up to the next sync byte that a sync byte follows a packet later.
    fn resync(&mut self, at: usize) {
        let rest = self.pending.split_off(at);
        let good = (1..rest.len())
            .find(|&i| rest[i] == SYNC && rest.get(i + PACKET).is_none_or(|b| *b == SYNC))
            .unwrap_or(rest.len());
        self.pending.extend_from_slice(&rest[good..]);
    }

    /// A chunk, if enough whole packets are pending. A PAT still waiting for its keyframe stays
    /// pending (it will start the next chunk) unless the buffer is full.
    fn cut(&mut self) -> Option<(Bytes, ChunkMeta)> {
        let whole = self.scanned;
        let full = self.pending.len() >= TS_CHUNK_BYTES;
        let end = match self.candidate {
            Some(pat) if pat > 0 && !full => pat,
            Some(_) if !full => return None,
            _ => whole,
        };
        if end == 0 || (end < TS_FLUSH_BYTES && !full) {
            return None;
        }
        let chunk = self.pending.split_to(end).freeze();
        let meta = ChunkMeta {
            join: self.meta.join.filter(|o| (*o as usize) < end),
            pat: self.meta.pat.filter(|o| (*o as usize) < end),
            fresh: false,
        };
        self.scanned -= end;
        self.candidate = self.candidate.and_then(|c| c.checked_sub(end));
        self.meta = ChunkMeta {
            join: None,
            pat: self.candidate.map(|c| c as u32),
            fresh: false,
        };
        Some((chunk, meta))
    }
}

/// The reader loop of one channel; returns when the channel is stopped.
pub async fn run(channel: Arc<Channel>) {
    channel.feed_from_engine(Reader).await;
}

/// Reads the session's TS stream into the ring, one connection per step.
struct Reader;

impl Feeder for Reader {
    /// One upstream connection, read until it ends or stalls. Ok when it delivered anything
    /// (the next step reconnects at once), an error when it delivered nothing.
    async fn step(
        &mut self,
        channel: &Channel,
        session: &Session,
    ) -> Result<Duration, EngineError> {
        let Feed::Ts(chunks) = &channel.feed else {
            return Err(EngineError::BadAnswer("not a TS channel".into()));
        };
        let mut body = channel.engine().stream(&session.playback).await?;
        let mut packets = Packetizer::default();
        let mut delivered = false;
        let ended = loop {
            if channel.is_stopped() {
                return Ok(Duration::ZERO);
            }
            let frame = crate::http::with_timeout(READ_STALL, async {
                body.frame()
                    .await
                    .transpose()
                    .map_err(|e| crate::http::FetchError::Protocol(e.to_string()))
            });
            match frame.await {
                Ok(Some(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    Counters::count(&channel.counters.bytes_in, data.len());
                    for (chunk, meta) in packets.feed(&data) {
                        let meta = ChunkMeta {
                            fresh: !delivered,
                            ..meta
                        };
                        // Cannot fail: a chunk is far smaller than the ring's budget.
                        let _ = chunks.ring.push(chunk, meta);
                        delivered = true;
                    }
                    channel.notify();
                }
                Ok(None) => break EngineError::BadAnswer("the engine ended the stream".into()),
                Err(e) => break EngineError::from(e),
            }
        };
        if delivered {
            log::warn!(
                "channel {}: TS stream interrupted ({ended}); reconnecting",
                channel.id.as_str()
            );
            Ok(Duration::ZERO)
        } else {
            Err(ended)
        }
    }
}

/// One client's stream: a cursor into its channel's ring, pulled by hyper as fast as the client
/// reads. Holding it keeps the channel busy (not idle).
pub struct TsStream {
    channel: Activity,
    /// The client's place in the channel's client table.
    token: u64,
    /// The next chunk to send, once joined.
    cursor: Option<u64>,
    /// Where in the cursor's chunk to start (a start point), for the first chunk after a join.
    offset: usize,
    listener: Option<EventListener>,
    /// When this client last had to skip, for the drop rule.
    skips: heapless::Deque<u64, MAX_SKIPS>,
    /// The connection's flag, set if the transport cut the client off for not reading.
    stalled: Stalled,
    ended: bool,
}

impl TsStream {
    /// A stream for a new client of `channel` at `peer`; `None` when the channel already has
    /// its maximum of clients.
    pub fn new(
        channel: Activity,
        stalled: Stalled,
        player: PlayerKey,
        peer: SocketAddr,
    ) -> Option<TsStream> {
        let token = channel.open_stream(player, peer).ok()?;
        Some(TsStream {
            channel,
            token,
            cursor: None,
            offset: 0,
            listener: None,
            skips: heapless::Deque::new(),
            stalled,
            ended: false,
        })
    }

    /// Moves to the newest start point after falling off the ring. Returns false when the
    /// client has skipped too often to keep it.
    fn skip(&mut self) -> bool {
        let now = now_ms();
        let counters = &self.channel.counters;
        Counters::count(&counters.skips, 1);
        if self.skips.is_full() {
            let oldest = self.skips.pop_front().unwrap_or(now);
            if now.saturating_sub(oldest) < SKIP_WINDOW.as_millis() as u64 {
                Counters::count(&counters.drops, 1);
                log::info!(
                    "channel {}: dropped a TS client that cannot keep up",
                    self.channel.id.as_str()
                );
                return false;
            }
        }
        let _ = self.skips.push_back(now);
        self.cursor = None;
        true
    }

    /// The next frame if one is held, `None` to wait.
    fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        let channel = Arc::clone(&self.channel);
        let feed = &channel.feed;
        loop {
            let cursor = match self.cursor {
                Some(cursor) => cursor,
                None => {
                    let (seq, offset) = feed.stream_start()?;
                    self.offset = offset;
                    seq
                }
            };
            if let Some(data) = feed.stream_item(cursor) {
                let data = data.slice(self.offset.min(data.len())..);
                self.offset = 0;
                self.cursor = Some(cursor + 1);
                return Some(Ok(data));
            }
            if cursor >= feed.bounds().0 {
                // Caught up with the reader: wait for the next chunk.
                self.cursor = Some(cursor);
                return None;
            }
            if !self.skip() {
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client cannot keep up with the stream",
                );
                return Some(Err(e));
            }
        }
    }
}

impl Body for TsStream {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            if this.ended || this.channel.is_stopped() {
                this.ended = true;
                return Poll::Ready(None);
            }
            match this.next() {
                Some(Ok(data)) => {
                    this.listener = None;
                    Counters::count(&this.channel.counters.bytes_out, data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => match &mut this.listener {
                    Some(listener) => match Pin::new(listener).poll(cx) {
                        Poll::Ready(()) => this.listener = None,
                        Poll::Pending => return Poll::Pending,
                    },
                    // Listen, then look again: a chunk may have come in between.
                    None => this.listener = Some(this.channel.listen()),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for TsStream {
    fn drop(&mut self) {
        self.channel.remove_client(self.token);
        if !self.ended && self.stalled.is_set() {
            Counters::count(&self.channel.counters.drops, 1);
            log::info!(
                "channel {}: dropped a TS client that stopped reading",
                self.channel.id.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet on `pid`, optionally starting a unit; `keyframe` flags random access and, with
    /// `stream` (a PES stream id), starts a PES of that stream.
    fn packet(pid: u16, start: bool, keyframe: Option<u8>, fill: u8) -> Vec<u8> {
        let mut p = vec![fill; PACKET];
        p[0] = SYNC;
        p[1] = (pid >> 8) as u8 & 0x1f | if start { 0x40 } else { 0 };
        p[2] = pid as u8;
        p[3] = 0x10;
        if let Some(stream) = keyframe {
            p[3] = 0x30;
            p[4] = 1;
            p[5] = 0x40;
            p[6..10].copy_from_slice(&[0, 0, 1, stream]);
        }
        p
    }

    fn pat() -> Vec<u8> {
        packet(0, true, None, 0)
    }

    fn video(n: u8) -> Vec<u8> {
        packet(0x100, false, None, n)
    }

    fn keyframe() -> Vec<u8> {
        packet(0x100, true, Some(0xe0), 0xee)
    }

    #[test]
    fn recognises_pat_and_video_keyframes() {
        assert!(is_pat_start(&pat()));
        assert!(
            !is_pat_start(&packet(0, false, None, 0)),
            "a PAT continuation"
        );
        assert!(is_video_keyframe(&keyframe()));
        assert!(!is_video_keyframe(&video(1)));
        let audio = packet(0x101, true, Some(0xc0), 0);
        assert!(
            !is_video_keyframe(&audio),
            "an audio frame is no place to join"
        );
    }

    #[test]
    fn chunks_are_whole_packets_and_resync_after_garbage() {
        let mut p = Packetizer::default();
        let mut input = vec![0xffu8; 100]; // mid-packet start: no sync byte
        for n in 0..100 {
            input.extend(video(n));
        }
        input.extend(&[SYNC, 1, 2]); // a torn packet...
        for n in 0..100 {
            input.extend(video(n)); // ...then whole ones again
        }
        // Fed in awkward pieces, as a socket delivers.
        let chunks: Vec<_> = input.chunks(1000).flat_map(|piece| p.feed(piece)).collect();
        assert!(!chunks.is_empty());
        let all: Vec<u8> = chunks.iter().flat_map(|(c, _)| c.iter().copied()).collect();
        assert_eq!(all.len() % PACKET, 0);
        assert!(
            all.chunks(PACKET)
                .all(|pk| pk[0] == SYNC && pid(pk) == 0x100),
            "every packet whole"
        );
        assert!(
            chunks
                .iter()
                .all(|(c, _)| c.len() <= TS_CHUNK_BYTES && c.len() % PACKET == 0)
        );
    }

    #[test]
    fn a_pat_followed_by_a_keyframe_is_a_join_point_at_the_start_of_a_chunk() {
        let mut p = Packetizer::default();
        let mut input = Vec::new();
        for n in 0..40 {
            input.extend(video(n));
        }
        input.extend(pat());
        input.extend(packet(0x1000, true, None, 0)); // PMT
        input.extend(packet(0x101, true, Some(0xc0), 0)); // audio, flagged: not a join
        input.extend(keyframe());
        for n in 0..40 {
            input.extend(video(n));
        }
        input.extend(pat()); // no keyframe yet: stays pending
        let chunks = p.feed(&input);
        assert_eq!(
            chunks.len(),
            1,
            "cut before the PAT still waiting for a keyframe"
        );
        assert_eq!(chunks[0].0.len(), 84 * PACKET);
        assert_eq!(chunks[0].1.join, Some(40 * PACKET as u32));
        let mut input = keyframe();
        for n in 0..40 {
            input.extend(video(n));
        }
        let chunks = p.feed(&input);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].1.join,
            Some(0),
            "the waiting PAT starts the next chunk"
        );
        assert!(is_pat_start(&chunks[0].0[..PACKET]));
        assert_eq!(
            chunks[0].0.len(),
            41 * PACKET,
            "the last packet waits for its successor"
        );
    }

    #[test]
    fn a_full_buffer_is_cut_even_while_a_pat_waits_for_its_keyframe() {
        let mut p = Packetizer::default();
        let mut input = pat();
        for n in 0..(2 * TS_CHUNK_BYTES / PACKET) {
            input.extend(video(n as u8));
        }
        let chunks = p.feed(&input);
        assert!(!chunks.is_empty(), "no stall on a stream without keyframes");
        assert!(chunks.iter().all(|(c, _)| c.len() <= TS_CHUNK_BYTES));
        assert_eq!(chunks[0].1.pat, Some(0));
        assert_eq!(chunks[0].1.join, None);
    }

    #[test]
    fn start_point_prefers_keyframes_then_pats_then_the_newest_chunk() {
        let chunks = Chunks::default();
        let push = |join, pat| {
            chunks.ring.push(
                Bytes::from(video(0)),
                ChunkMeta {
                    join,
                    pat,
                    fresh: false,
                },
            )
        };
        assert_eq!(chunks.start_point(), None);
        push(None, None).unwrap();
        assert_eq!(chunks.start_point(), Some((0, 0)));
        push(None, Some(188)).unwrap();
        push(None, None).unwrap();
        assert_eq!(chunks.start_point(), Some((1, 188)));
        push(Some(376), Some(376)).unwrap();
        push(None, Some(0)).unwrap();
        assert_eq!(
            chunks.start_point(),
            Some((3, 376)),
            "a keyframe beats a newer PAT"
        );
    }
}
