//! The bytes of live segments: synthetic MPEG-TS packets, or real files read from a directory.
//!
//! This module owns what segment `n` of a content contains, which is the same on every fetch. It
//! never decides whether a segment is available yet (that is `engine`) and reads files only once,
//! at start-up.

use std::io;
use std::path::Path;

use bytes::Bytes;

use crate::config::TS_PACKET;

/// The MPEG-TS sync byte every packet starts with.
const SYNC: u8 = 0x47;

/// Where segment bytes come from.
pub enum Media {
    /// Generated packets of this many bytes (a multiple of 188) per segment.
    Synthetic { size: usize },
    /// The files `seg0.ts, seg1.ts, ...`, served in a loop.
    Files(Vec<Bytes>),
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
        Ok(Media::Files(files))
    }

    /// The bytes of segment `n` of the content with `infohash`.
    pub fn segment(&self, infohash: &str, n: u64) -> Bytes {
        match self {
            Media::Synthetic { size } => Bytes::from(synthetic_segment(*size, infohash, n)),
            Media::Files(files) => {
                let count = files.len() as u64;
                files[(n % count) as usize].clone()
            }
        }
    }
}

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
        let files = Media::Files(vec![
            Bytes::from_static(b"\x47a"),
            Bytes::from_static(b"\x47b"),
        ]);
        assert_eq!(files.segment(HASH, 3), Bytes::from_static(b"\x47b"));
        assert_eq!(files.segment(HASH, 4), Bytes::from_static(b"\x47a"));
    }

    #[test]
    fn loading_reads_files_in_order_and_refuses_an_empty_dir() {
        let dir = std::env::temp_dir().join(format!("acebox-sim-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Media::load(&dir).is_err(), "no segments");
        std::fs::write(dir.join("seg0.ts"), b"\x47zero").unwrap();
        std::fs::write(dir.join("seg1.ts"), b"\x47one").unwrap();
        std::fs::write(dir.join("seg3.ts"), b"\x47gap").unwrap();
        let Ok(Media::Files(files)) = Media::load(&dir) else {
            panic!("two files")
        };
        assert_eq!(
            files,
            vec![
                Bytes::from_static(b"\x47zero"),
                Bytes::from_static(b"\x47one")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Media::load(&dir).is_err(), "missing dir");
    }
}
