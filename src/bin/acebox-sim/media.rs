//! The bytes of live segments and of the live MPEG-TS stream: synthetic packets, or real files
//! read from a directory.
//!
//! This module owns what segment `n` and TS packet `p` of a content contain, which is the same on
//! every fetch. It never decides whether a segment or packet is available yet (that is `engine`)
//! and reads files only once, at start-up.

use std::io;
use std::ops::Range;
use std::path::Path;

use bytes::Bytes;

use crate::config::TS_PACKET;
use crate::ts::{self, SYNC};

/// Where segment and stream bytes come from.
pub enum Media {
    /// Generated packets of this many bytes (a multiple of 188) per segment; the stream is
    /// [`ts::ts_packet`].
    Synthetic { size: usize },
    /// The files `seg0.ts, seg1.ts, ...`, served in a loop.
    Files {
        segments: Vec<Bytes>,
        /// The whole packets of every segment, one after the other: the stream loops over them.
        stream: Bytes,
        /// The packet of `stream` each segment starts at.
        starts: Vec<u64>,
    },
}

impl Media {
    /// Synthetic segments of `segment_bytes` rounded down to whole packets.
    pub fn synthetic(segment_bytes: usize) -> Media {
        Media::Synthetic {
            size: segment_bytes / TS_PACKET * TS_PACKET,
        }
    }

    /// Reads `seg0.ts, seg1.ts, ...` from `dir` up to the first missing number.
    pub fn load(dir: &Path) -> Result<Media, String> {
        if !dir.is_dir() {
            return Err(format!("media dir {} is not a directory", dir.display()));
        }
        let mut files = Vec::new();
        loop {
            let path = dir.join(format!("seg{}.ts", files.len()));
            match std::fs::read(&path) {
                Ok(bytes) if bytes.first() == Some(&SYNC) => files.push(Bytes::from(bytes)),
                Ok(_) => return Err(format!("{} is not MPEG-TS", path.display())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        if files.is_empty() {
            return Err(format!("media dir {} holds no seg0.ts", dir.display()));
        }
        Ok(Media::files(files))
    }

    /// Segments given as bytes; the stream is their whole packets in order.
    pub fn files(segments: Vec<Bytes>) -> Media {
        let stream: Vec<u8> = segments
            .iter()
            .flat_map(|segment| segment.chunks_exact(TS_PACKET).flatten())
            .copied()
            .collect();
        let starts = segments
            .iter()
            .scan(0, |at, segment| {
                let start = *at;
                *at += (segment.len() / TS_PACKET) as u64;
                Some(start)
            })
            .collect();
        Media::Files {
            segments,
            stream: Bytes::from(stream),
            starts,
        }
    }

    /// The bytes of segment `n` of the content with `infohash`.
    pub fn segment(&self, infohash: &str, n: u64) -> Bytes {
        match self {
            Media::Synthetic { size } => Bytes::from(synthetic_segment(*size, infohash, n)),
            Media::Files { segments, .. } => {
                let count = segments.len() as u64;
                segments[(n % count) as usize].clone()
            }
        }
    }

    /// Segment `n` of `infohash` made `size` bytes long: its own bytes cut, or followed by null
    /// packets (PID 0x1FFF), for a test of a segment too large to hold.
    pub fn oversized(&self, infohash: &str, n: u64, size: usize) -> Bytes {
        let mut out = self.segment(infohash, n).to_vec();
        while out.len() < size {
            out.extend_from_slice(&NULL_PACKET);
        }
        out.truncate(size);
        Bytes::from(out)
    }

    /// Where a reader whose burst would start at packet `p` starts instead: `p` itself for
    /// synthetic packets, the start of the segment holding `p` for files, so that a decoder
    /// begins on the segment's PAT, PMT and keyframe rather than mid-picture.
    pub fn ts_align(&self, p: u64) -> u64 {
        let Media::Files { stream, starts, .. } = self else {
            return p;
        };
        let count = (stream.len() / TS_PACKET) as u64;
        if count == 0 {
            return p;
        }
        let within = p % count;
        let segment = starts.partition_point(|start| *start <= within);
        p - within + starts[segment.saturating_sub(1)]
    }

    /// The stream packets `packets` (global indices), one after the other; empty when the files
    /// hold no whole packet.
    pub fn ts_chunk(&self, packets: Range<u64>) -> Bytes {
        let mut out = Vec::with_capacity(packets.clone().count() * TS_PACKET);
        match self {
            Media::Synthetic { .. } => {
                packets.for_each(|p| out.extend_from_slice(&ts::ts_packet(p)));
            }
            Media::Files { stream, .. } => {
                let count = (stream.len() / TS_PACKET) as u64;
                let at = |p: u64| (p % count) as usize * TS_PACKET;
                for start in packets.filter(|_| count > 0).map(at) {
                    out.extend_from_slice(&stream[start..start + TS_PACKET]);
                }
            }
        }
        Bytes::from(out)
    }
}

/// A null packet: PID 0x1FFF, payload only, stuffing.
const NULL_PACKET: [u8; TS_PACKET] = {
    let mut packet = [0xff; TS_PACKET];
    packet[0] = SYNC;
    packet[1] = 0x1f;
    packet[3] = 0x10;
    packet
};

/// `size / 188` packets on PID 0x100: the first payload opens with `acebox-sim <infohash> <n>\n`,
/// every other payload byte follows a pattern of `n`.
pub fn synthetic_segment(size: usize, infohash: &str, n: u64) -> Vec<u8> {
    let len = size / TS_PACKET * TS_PACKET;
    let mut out: Vec<u8> = (0..len).map(|i| pattern(n, i)).collect();
    for (index, packet) in out.chunks_exact_mut(TS_PACKET).enumerate() {
        packet[..4].copy_from_slice(&packet_header(index));
    }
    if let Some(first) = out.chunks_exact_mut(TS_PACKET).next() {
        let banner = format!("acebox-sim {infohash} {n}\n");
        let payload = &mut first[4..];
        let take = banner.len().min(payload.len());
        payload[..take].copy_from_slice(&banner.as_bytes()[..take]);
    }
    out
}

/// Sync byte, payload-unit-start on the first packet, PID 0x100, payload only, continuity counter.
fn packet_header(index: usize) -> [u8; 4] {
    let start = if index == 0 { 0x40 } else { 0x00 };
    [SYNC, start | 0x01, 0x00, 0x10 | (index & 0x0f) as u8]
}

fn pattern(n: u64, i: usize) -> u8 {
    (n.wrapping_mul(0x9e37_79b9).wrapping_add(i as u64) & 0xff) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "00112233445566778899aabbccddeeff00112233";

    #[test]
    fn synthetic_segments_are_whole_packets_with_a_banner() {
        let seg = synthetic_segment(188 * 3 + 100, HASH, 42);
        assert_eq!(seg.len(), 188 * 3);
        assert!(seg.chunks(188).all(|p| p[0] == 0x47));
        let banner = format!("acebox-sim {HASH} 42\n");
        assert_eq!(&seg[4..4 + banner.len()], banner.as_bytes());
    }

    #[test]
    fn synthetic_segments_are_deterministic_and_differ_by_number() {
        let a = synthetic_segment(188 * 4, HASH, 1);
        assert_eq!(a, synthetic_segment(188 * 4, HASH, 1));
        let b = synthetic_segment(188 * 4, HASH, 2);
        assert_ne!(a[100..], b[100..], "the pattern depends on n");
    }

    #[test]
    fn media_rounds_and_loops() {
        let Media::Synthetic { size } = Media::synthetic(188 * 512 + 5) else {
            panic!("synthetic")
        };
        assert_eq!(size, 188 * 512);
        let files = Media::files(vec![
            Bytes::from_static(b"\x47a"),
            Bytes::from_static(b"\x47b"),
        ]);
        assert_eq!(files.segment(HASH, 3), Bytes::from_static(b"\x47b"));
        assert_eq!(files.segment(HASH, 4), Bytes::from_static(b"\x47a"));
    }

    #[test]
    fn oversized_segments_keep_their_start_and_grow_with_null_packets() {
        let media = Media::synthetic(188 * 2);
        let big = media.oversized(HASH, 5, 188 * 4 + 10);
        assert_eq!(big.len(), 188 * 4 + 10);
        assert_eq!(big[..188 * 2], media.segment(HASH, 5)[..]);
        assert_eq!(big[188 * 2..188 * 2 + 4], [SYNC, 0x1f, 0xff, 0x10]);
        assert_eq!(media.oversized(HASH, 5, 100).len(), 100);
    }

    #[test]
    fn synthetic_stream_chunks_are_consecutive_packets() {
        let chunk = Media::synthetic(188).ts_chunk(7..10);
        assert_eq!(chunk.len(), 3 * 188);
        assert_eq!(&chunk[188..376], &ts::ts_packet(8)[..]);
    }

    #[test]
    fn file_stream_loops_over_whole_packets() {
        let packet = |b: u8| {
            let mut p = vec![b; 188];
            p[0] = SYNC;
            p
        };
        let mut first = packet(1);
        first.extend(packet(2));
        first.extend([SYNC, 9, 9]);
        let media = Media::files(vec![Bytes::from(first), Bytes::from(packet(3))]);
        let chunk = media.ts_chunk(2..5);
        let marks: Vec<u8> = chunk.chunks(188).map(|p| p[1]).collect();
        assert_eq!(
            marks,
            [3, 1, 2],
            "the partial packet is left out, the stream loops"
        );
        let starts: Vec<u64> = (0..7).map(|p| media.ts_align(p)).collect();
        assert_eq!(
            starts,
            [0, 0, 2, 3, 3, 5, 6],
            "segments start at packets 0 and 2 of 3"
        );
        assert_eq!(Media::synthetic(188).ts_align(7), 7);
    }

    #[test]
    fn loading_reads_files_in_order_and_refuses_an_empty_dir() {
        let dir = std::env::temp_dir().join(format!("acebox-sim-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Media::load(&dir).is_err(), "no segments");
        std::fs::write(dir.join("seg0.ts"), b"\x47zero").unwrap();
        std::fs::write(dir.join("seg1.ts"), b"\x47one").unwrap();
        std::fs::write(dir.join("seg3.ts"), b"\x47gap").unwrap();
        let Ok(Media::Files { segments, .. }) = Media::load(&dir) else {
            panic!("two files")
        };
        assert_eq!(
            segments,
            vec![
                Bytes::from_static(b"\x47zero"),
                Bytes::from_static(b"\x47one")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Media::load(&dir).is_err(), "missing dir");
    }
}
