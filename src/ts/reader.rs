//! The TS reader: the one connection the engine allows to a session's MPEG-TS playback URL,
//! read into the channel's chunk store.
//!
//! [`Packetizer`] owns the bytes read but not yet stored: it cuts them into chunks of whole
//! 188-byte packets (resynchronising after garbage) and marks where a player can start decoding
//! (the newest PAT followed by a video keyframe). [`Reader`] is the feed step: one upstream
//! connection, read until it ends or stalls. Neither serves a client nor heals the session (the
//! channel's supervisor does, after an error), and neither parses beyond packet headers.
//!
//! Over 400 lines: more than a third of it is the packetizer's tests, which build packets and
//! move time by hand.

use std::time::Duration;

use async_io::Timer;
use bytes::{Bytes, BytesMut};
use futures_lite::FutureExt;
use http_body_util::BodyExt;

use crate::board::{TS_CHUNK_BYTES, TS_FLUSH_BYTES, TS_FLUSH_MS};
use crate::engine::EngineError;
use crate::feed::{Context, Feeder};
use crate::session::Session;
use crate::storage::{ChunkMeta, Chunks};
use crate::ts::packet::{PACKET, Packet, SYNC};

/// No byte from the engine for this long: the stream is stalled; reconnect.
pub const READ_STALL: Duration = Duration::from_secs(10);

/// Whether `buf` holds a sync byte at `at`.
fn synced(buf: &[u8], at: usize) -> bool {
    buf.get(at) == Some(&SYNC)
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
    /// When the oldest byte of `pending` came, in milliseconds of the caller's clock.
    since: Option<u64>,
    /// Bytes moved within `pending` over the gaps garbage left: the work garbage costs.
    moved: usize,
}

impl Packetizer {
    /// Takes bytes as they came from the engine at `now` (milliseconds); returns the chunks
    /// ready for the ring (see [`TS_FLUSH_MS`]). Empty `data` hands over what has become due.
    pub fn feed(&mut self, mut data: &[u8], now: u64) -> Vec<(Bytes, ChunkMeta)> {
        let mut ready = Vec::new();
        if let Some(chunk) = self.cut(now) {
            ready.push(chunk);
        }
        while !data.is_empty() {
            if self.pending.is_empty() {
                // Resynchronise: a chunk always starts on a sync byte.
                let skip = data.iter().position(|b| *b == SYNC).unwrap_or(data.len());
                data = data.split_at(skip).1;
            }
            let room = TS_CHUNK_BYTES.saturating_sub(self.pending.len());
            let (taken, rest) = data.split_at(room.min(data.len()));
            self.pending.extend_from_slice(taken);
            data = rest;
            self.scan();
            if !self.pending.is_empty() {
                self.since.get_or_insert(now);
            }
            if let Some(chunk) = self.cut(now) {
                ready.push(chunk);
            }
        }
        ready
    }

    /// Checks each whole packet not yet scanned. A packet counts once the next packet's sync
    /// byte is seen too: a torn packet may start with a sync byte, but is not followed by one.
    /// Garbage is passed over to the next sync byte that a sync byte follows a packet later,
    /// and the packets after it are moved down over it as they are checked, so each byte
    /// moves once however many sync bytes were lost (hostile bytes cost no more than others).
    fn scan(&mut self) {
        let (mut read, mut write, mut moved) = (self.scanned, self.scanned, 0);
        let buf = &mut self.pending[..];
        while read + PACKET < buf.len() {
            if !(synced(buf, read) && synced(buf, read + PACKET)) {
                read = (read + 1..buf.len())
                    .find(|&i| {
                        synced(buf, i) && (i + PACKET >= buf.len() || synced(buf, i + PACKET))
                    })
                    .unwrap_or(buf.len());
                continue;
            }
            if read != write {
                buf.copy_within(read..read + PACKET, write);
                moved += PACKET;
            }
            if let Some(packet) = buf.get(write..write + PACKET).and_then(Packet::new) {
                if packet.is_pat_start() {
                    self.candidate = Some(write);
                    self.meta.pat = Some(write as u32);
                } else if packet.is_video_keyframe() {
                    if let Some(pat) = self.candidate.take() {
                        self.meta.join = Some(pat as u32);
                    }
                }
            }
            read += PACKET;
            write += PACKET;
        }
        if read != write {
            let len = buf.len();
            buf.copy_within(read..len, write);
            moved += len - read;
            self.pending.truncate(len - (read - write));
        }
        self.scanned = write;
        self.moved += moved;
    }

    /// A chunk, if enough whole packets are pending and the oldest came [`TS_FLUSH_MS`] before
    /// `now`, or the buffer is full.
    fn cut(&mut self, now: u64) -> Option<(Bytes, ChunkMeta)> {
        let end = self.cuttable()?;
        let full = self.pending.len() >= TS_CHUNK_BYTES;
        let aged = self.since.is_some_and(|since| now >= since + TS_FLUSH_MS);
        (full || aged).then(|| self.split(end, now))
    }

    /// Where a chunk would end if it were due: after every whole packet, or before a PAT still
    /// waiting for its keyframe (it will start the next chunk) unless the buffer is full; `None`
    /// while that is less than [`TS_FLUSH_BYTES`] of a buffer not yet full.
    fn cuttable(&self) -> Option<usize> {
        let full = self.pending.len() >= TS_CHUNK_BYTES;
        let end = match self.candidate {
            Some(pat) if pat > 0 && !full => pat,
            Some(_) if !full => return None,
            _ => self.scanned,
        };
        (end > 0 && (end >= TS_FLUSH_BYTES || full)).then_some(end)
    }

    /// When what is pending becomes a chunk if no byte comes before (milliseconds of the
    /// caller's clock); `None` while nothing pending can become one by waiting.
    pub fn due_at(&self) -> Option<u64> {
        self.cuttable()
            .and(self.since)
            .map(|since| since + TS_FLUSH_MS)
    }

    /// Every whole packet pending, as a last chunk, however few or young: the stream ended or
    /// broke, and the next connection starts with a new packetizer.
    pub fn finish(&mut self, now: u64) -> Option<(Bytes, ChunkMeta)> {
        let whole = self.scanned;
        (whole > 0).then(|| self.split(whole, now))
    }

    /// The first `end` bytes of `pending` as a chunk, with the start points in them.
    fn split(&mut self, end: usize, now: u64) -> (Bytes, ChunkMeta) {
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
        // What stays pending came just now, as far as the next cut is concerned.
        self.since = (!self.pending.is_empty()).then_some(now);
        (chunk, meta)
    }
}

/// Reads a session's TS stream into `chunks`, one connection per step.
pub struct Reader<'a> {
    chunks: &'a Chunks,
}

impl Reader<'_> {
    pub fn new(chunks: &Chunks) -> Reader<'_> {
        Reader { chunks }
    }

    /// Puts `chunks` in the ring and wakes the channel's readers, if there are any: a read
    /// that completed no chunk wakes nobody. The first chunk of a connection is marked fresh
    /// (a break before it).
    fn store_all(
        &self,
        cx: &Context<'_>,
        chunks: impl IntoIterator<Item = (Bytes, ChunkMeta)>,
        delivered: &mut bool,
    ) {
        let mut stored = false;
        for (chunk, meta) in chunks {
            let fresh = !*delivered;
            // Cannot fail: a chunk is far smaller than the ring's budget.
            let _ = self.chunks.ring.push(chunk, ChunkMeta { fresh, ..meta });
            *delivered = true;
            stored = true;
        }
        if stored {
            cx.events.notify();
        }
    }
}

impl Feeder for Reader<'_> {
    /// One upstream connection, read until it ends or stalls. Ok when it delivered anything
    /// (the next step reconnects at once), an error when it delivered nothing.
    async fn step(&mut self, cx: &Context<'_>, session: &Session) -> Result<Duration, EngineError> {
        let mut body = cx.engine.stream(&session.playback).await?;
        let mut packets = Packetizer::default();
        let mut delivered = false;
        let mut heard = crate::clock::now_ms();
        let ended = loop {
            if cx.events.is_stopped() {
                return Ok(Duration::ZERO);
            }
            // Wake for the next frame, for pending packets that have become a chunk, or when
            // the engine has sent nothing for READ_STALL.
            let now = crate::clock::now_ms();
            let stall_at = heard + READ_STALL.as_millis() as u64;
            if now >= stall_at {
                break EngineError::from(crate::http::FetchError::Timeout);
            }
            let wake_at = packets.due_at().map_or(stall_at, |due| due.min(stall_at));
            let next = async { Some(body.frame().await) }.or(async {
                Timer::after(Duration::from_millis(wake_at.saturating_sub(now))).await;
                None
            });
            match next.await {
                None => self.store_all(
                    cx,
                    packets.feed(&[], crate::clock::now_ms()),
                    &mut delivered,
                ),
                Some(Some(Ok(frame))) => {
                    heard = crate::clock::now_ms();
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    cx.counters.bytes_in.add(data.len());
                    self.store_all(cx, packets.feed(&data, heard), &mut delivered);
                }
                Some(Some(Err(e))) => {
                    break EngineError::from(crate::http::FetchError::Protocol(e.to_string()));
                }
                Some(None) => break EngineError::BadAnswer("the engine ended the stream".into()),
            }
        };
        // A stream that played keeps its last packets; one that delivered nothing stays an
        // error (healed, with backoff), however many packets it left.
        let last = packets.finish(crate::clock::now_ms()).filter(|_| delivered);
        self.store_all(cx, last, &mut delivered);
        if delivered {
            log::warn!(
                "channel {}: TS stream interrupted ({ended}); reconnecting",
                cx.id
            );
            Ok(Duration::ZERO)
        } else {
            Err(ended)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::packet::tests::packet;

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
        // Fed in awkward pieces, as a socket delivers, 10 ms apart.
        let chunks: Vec<_> = (0u64..)
            .zip(input.chunks(1000))
            .flat_map(|(n, piece)| p.feed(piece, n * 10))
            .collect();
        assert!(!chunks.is_empty());
        let all: Vec<u8> = chunks.iter().flat_map(|(c, _)| c.iter().copied()).collect();
        assert_eq!(all.len() % PACKET, 0);
        assert!(
            all.chunks(PACKET)
                .all(|pk| Packet::new(pk).is_some_and(|p| p.is_synced() && p.pid() == 0x100)),
            "every packet whole"
        );
        assert!(
            chunks
                .iter()
                .all(|(c, _)| c.len() <= TS_CHUNK_BYTES && c.len() % PACKET == 0)
        );
    }

    /// Hostile bytes: a whole packet, then one whose next sync byte is missing, and the next
    /// candidate one byte on, again and again. Each lost sync byte must not cost a copy of all
    /// that is pending: the work stays proportional to the bytes read.
    #[test]
    fn garbage_costs_work_in_proportion_to_its_bytes() {
        let mut p = Packetizer::default();
        let mut input = vec![0u8; TS_CHUNK_BYTES];
        for k in 1..TS_CHUNK_BYTES / (PACKET + 1) {
            input[k * (PACKET + 1)] = SYNC;
            input[k * (PACKET + 1) - 1] = SYNC;
        }
        input[0] = SYNC;
        let chunks = p.feed(&input, 0);
        assert!(
            chunks.iter().all(|(c, _)| c.len() % PACKET == 0),
            "still whole packets"
        );
        assert!(
            p.moved <= 2 * input.len(),
            "{} bytes moved for {} read",
            p.moved,
            input.len()
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
        assert!(
            p.feed(&input, 0).is_empty(),
            "nothing before the flush time"
        );
        let chunks = p.feed(&[], TS_FLUSH_MS);
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
        assert!(p.feed(&input, TS_FLUSH_MS + 1).is_empty());
        let chunks = p.feed(&[], 2 * TS_FLUSH_MS);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].1.join,
            Some(0),
            "the waiting PAT starts the next chunk"
        );
        assert!(Packet::new(&chunks[0].0[..PACKET]).is_some_and(Packet::is_pat_start));
        assert_eq!(
            chunks[0].0.len(),
            41 * PACKET,
            "the last packet waits for its successor"
        );
    }

    #[test]
    fn a_chunk_is_handed_over_once_its_oldest_byte_is_old_enough_or_it_is_full() {
        let mut p = Packetizer::default();
        let forty: Vec<u8> = (0..40).flat_map(video).collect();
        assert!(p.feed(&forty, 1_000).is_empty(), "just came");
        assert!(
            p.feed(&forty, 1_000 + TS_FLUSH_MS - 1).is_empty(),
            "1 ms short"
        );
        let chunks = p.feed(&[], 1_000 + TS_FLUSH_MS);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].0.len(),
            79 * PACKET,
            "all but the packet awaiting its successor"
        );
        // A few packets, however old, wait for more: a chunk is at least TS_FLUSH_BYTES.
        let few: Vec<u8> = (0..4).flat_map(video).collect();
        assert!(p.feed(&few, 5_000).is_empty());
        assert!(p.feed(&[], 10_000).is_empty());
        // A full buffer goes at once.
        let full: Vec<u8> = (0..TS_CHUNK_BYTES / PACKET)
            .flat_map(|n| video(n as u8))
            .collect();
        let chunks = p.feed(&full, 10_000);
        assert!(!chunks.is_empty());
        assert!(chunks.iter().all(|(c, _)| c.len() <= TS_CHUNK_BYTES));
    }

    #[test]
    fn pending_packets_say_when_they_become_a_chunk() {
        let mut p = Packetizer::default();
        assert_eq!(p.due_at(), None, "nothing pending");
        let few: Vec<u8> = (0..4).flat_map(video).collect();
        assert!(p.feed(&few, 1_000).is_empty());
        assert_eq!(
            p.due_at(),
            None,
            "too few packets to become a chunk by waiting"
        );
        let more: Vec<u8> = (0..40).flat_map(video).collect();
        assert!(p.feed(&more, 1_030).is_empty());
        assert_eq!(
            p.due_at(),
            Some(1_000 + TS_FLUSH_MS),
            "the oldest byte's time counts"
        );
        assert_eq!(p.feed(&[], 1_000 + TS_FLUSH_MS).len(), 1);
        assert_eq!(
            p.due_at(),
            None,
            "only the packet awaiting its successor is left"
        );
    }

    #[test]
    fn at_the_end_every_whole_packet_goes_however_few_or_young() {
        let mut p = Packetizer::default();
        let few: Vec<u8> = (0..4).flat_map(video).collect();
        assert!(p.feed(&few, 0).is_empty());
        let (last, _) = p.finish(0).expect("the whole packets");
        assert_eq!(
            last.len(),
            3 * PACKET,
            "the fourth awaits a successor that never came"
        );
        assert!(p.finish(0).is_none(), "nothing twice");
    }

    #[test]
    fn a_full_buffer_is_cut_even_while_a_pat_waits_for_its_keyframe() {
        let mut p = Packetizer::default();
        let mut input = pat();
        for n in 0..(2 * TS_CHUNK_BYTES / PACKET) {
            input.extend(video(n as u8));
        }
        let chunks = p.feed(&input, 0);
        assert!(!chunks.is_empty(), "no stall on a stream without keyframes");
        assert!(chunks.iter().all(|(c, _)| c.len() <= TS_CHUNK_BYTES));
        assert_eq!(chunks[0].1.pat, Some(0));
        assert_eq!(chunks[0].1.join, None);
    }
}
