//! The engine's MPEG-TS output as numbers: the synthetic packet with a given global index and
//! the pace at which a content's packets come into existence.
//!
//! This module owns the bytes of synthetic packets (PAT, PMT, a "keyframe" packet and payload
//! packets, all with consistent continuity counters) and the packet clock arithmetic. It never
//! reads a clock, never touches a session and never sends a byte: callers pass the elapsed time
//! and the packet index.

use std::time::Duration;

use crate::config::TS_PACKET;

/// The MPEG-TS sync byte every packet starts with.
pub const SYNC: u8 = 0x47;
/// Synthetic packets repeat in groups of this many: PAT, PMT, keyframe, then payload packets.
pub const GROUP: u64 = 50;
/// The PID of the program map table the PAT points at.
pub const PMT_PID: u16 = 0x1000;
/// The PID of the one H.264 video stream.
pub const VIDEO_PID: u16 = 0x100;

/// Bits in one packet.
const PACKET_BITS: u128 = TS_PACKET as u128 * 8;
/// The adaptation-field flag that marks a random access point.
const RANDOM_ACCESS: u8 = 0x40;
/// The pace the synthetic keyframes' timestamps assume, the simulator's default: at another
/// `--ts-bitrate` the stream's media time runs faster or slower than the clock.
const NOMINAL_BITRATE: u128 = 2_000_000;

/// The 90 kHz presentation time of packet `p` at the nominal bitrate, in 33 bits.
pub fn pts_of(p: u64) -> u64 {
    let ticks = u128::from(p) * PACKET_BITS * 90_000 / NOMINAL_BITRATE;
    (ticks % (1 << 33)) as u64
}

/// The start of a video PES packet without length, with a presentation time stamp, then an
/// H.264 IDR NAL unit start.
fn keyframe_payload(pts: u64) -> [u8; 19] {
    [
        0x00,
        0x00,
        0x01,
        0xe0,
        0x00,
        0x00,
        0x80,
        0x80, // a PTS follows
        0x05,
        0x21 | ((pts >> 29) & 0x0e) as u8,
        (pts >> 22) as u8,
        0x01 | ((pts >> 14) & 0xfe) as u8,
        (pts >> 7) as u8,
        0x01 | ((pts << 1) & 0xfe) as u8,
        0x00,
        0x00,
        0x00,
        0x01,
        0x65,
    ]
}

/// How many packets exist `elapsed` after the packet clock started: packet `p` exists from
/// `p * 188 * 8 / bitrate` seconds on, so packet 0 exists at once.
pub fn packets_by(elapsed: Duration, bitrate: u64) -> u64 {
    let bits = elapsed.as_nanos() * u128::from(bitrate) / 1_000_000_000;
    u64::try_from(bits / PACKET_BITS + 1).unwrap_or(u64::MAX)
}

/// The synthetic packet with global index `p`.
pub fn ts_packet(p: u64) -> [u8; TS_PACKET] {
    let round = p / GROUP;
    match p % GROUP {
        0 => psi_packet(0, round, &pat_section()),
        1 => psi_packet(PMT_PID, round, &pmt_section()),
        slot => video_packet(p, round * (GROUP - 2) + slot - 2, slot == 2),
    }
}

/// A PSI packet on `pid` carrying `section` after a zero pointer field; the rest is stuffing.
fn psi_packet(pid: u16, count: u64, section: &[u8]) -> [u8; TS_PACKET] {
    let mut packet = [0xff; TS_PACKET];
    packet[..4].copy_from_slice(&header(pid, true, false, count));
    packet[4] = 0;
    packet[5..5 + section.len()].copy_from_slice(section);
    packet
}

/// A packet on the video PID: the `count`th of that PID, a keyframe (adaptation field with the
/// random access indicator, PES start) or plain payload, ending in `p` big-endian.
fn video_packet(p: u64, count: u64, keyframe: bool) -> [u8; TS_PACKET] {
    let mut packet = [(p & 0xff) as u8; TS_PACKET];
    packet[..4].copy_from_slice(&header(VIDEO_PID, keyframe, keyframe, count));
    if keyframe {
        packet[4] = 1;
        packet[5] = RANDOM_ACCESS;
        let payload = keyframe_payload(pts_of(p));
        packet[6..6 + payload.len()].copy_from_slice(&payload);
    }
    packet[TS_PACKET - 8..].copy_from_slice(&p.to_be_bytes());
    packet
}

/// The 4-byte packet header; every packet carries payload, so the continuity counter is the
/// packet's `count` on its PID.
fn header(pid: u16, unit_start: bool, adaptation: bool, count: u64) -> [u8; 4] {
    let start = if unit_start { 0x40 } else { 0x00 };
    let control = if adaptation { 0x30 } else { 0x10 };
    [
        SYNC,
        start | ((pid >> 8) as u8 & 0x1f),
        (pid & 0xff) as u8,
        control | (count & 0x0f) as u8,
    ]
}

/// The PAT: program 1 on the PMT PID.
fn pat_section() -> Vec<u8> {
    let pmt = 0xe000 | PMT_PID;
    let body = [0x00, 0x01, (pmt >> 8) as u8, (pmt & 0xff) as u8];
    section(0x00, &body)
}

/// The PMT of program 1: no PCR, one H.264 stream on the video PID.
fn pmt_section() -> Vec<u8> {
    let video = 0xe000 | VIDEO_PID;
    let body = [
        0xff,
        0xff, // PCR PID 0x1FFF: none
        0xf0,
        0x00, // no program descriptors
        0x1b, // H.264
        (video >> 8) as u8,
        (video & 0xff) as u8,
        0xf0,
        0x00, // no stream descriptors
    ];
    section(0x02, &body)
}

/// A long-form PSI section for program/stream id 1, version 0, with `body` and its CRC.
fn section(table_id: u8, body: &[u8]) -> Vec<u8> {
    let length = 5 + body.len() + 4;
    let mut out = vec![
        table_id,
        0xb0 | (length >> 8) as u8,
        (length & 0xff) as u8,
        0x00,
        0x01,
        0xc1,
        0x00,
        0x00,
    ];
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32_mpeg2(&out).to_be_bytes());
    out
}

/// CRC-32/MPEG-2: polynomial 0x04C11DB7, initial value all ones, no reflection, no final xor.
pub fn crc32_mpeg2(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0xffff_ffff, |crc, b| {
        (0..8).fold(crc ^ (u32::from(*b) << 24), |c, _| {
            if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(packet: &[u8]) -> u16 {
        (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
    }

    fn unit_start(packet: &[u8]) -> bool {
        packet[1] & 0x40 != 0
    }

    /// The section a PSI packet carries, up to and including its CRC.
    fn section_of(packet: &[u8]) -> &[u8] {
        let start = 5 + usize::from(packet[4]);
        let length = (usize::from(packet[start + 1] & 0x0f) << 8) | usize::from(packet[start + 2]);
        &packet[start..start + 3 + length]
    }

    #[test]
    fn crc_matches_the_mpeg2_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn every_packet_is_synced_and_on_the_right_pid() {
        for p in 0..3 * GROUP {
            let packet = ts_packet(p);
            assert_eq!(packet[0], SYNC, "packet {p}");
            let expected = match p % GROUP {
                0 => 0,
                1 => PMT_PID,
                _ => VIDEO_PID,
            };
            assert_eq!(pid(&packet), expected, "packet {p}");
            assert_eq!(packet[1] & 0x80, 0, "no transport error");
        }
    }

    #[test]
    fn pat_and_pmt_carry_valid_sections() {
        let pat = ts_packet(GROUP * 7);
        assert!(unit_start(&pat));
        let section = section_of(&pat);
        assert_eq!(crc32_mpeg2(section), 0, "the CRC covers the whole section");
        assert_eq!(section[0], 0x00);
        assert_eq!(
            &section[8..12],
            &[0x00, 0x01, 0xf0, 0x00],
            "program 1 -> PID 0x1000"
        );

        let pmt = ts_packet(GROUP * 7 + 1);
        assert!(unit_start(&pmt));
        let section = section_of(&pmt);
        assert_eq!(crc32_mpeg2(section), 0);
        assert_eq!(section[0], 0x02);
        assert_eq!(&section[12..15], &[0x1b, 0xe1, 0x00], "H.264 on PID 0x100");
    }

    #[test]
    fn only_the_third_packet_of_a_group_is_a_keyframe() {
        for p in 2..2 * GROUP {
            let packet = ts_packet(p);
            let keyframe = p % GROUP == 2;
            let adaptation = packet[3] & 0x20 != 0;
            assert_eq!(adaptation, keyframe, "packet {p}");
            assert_eq!(unit_start(&packet), p % GROUP < 3, "packet {p}");
            if keyframe {
                assert_eq!(packet[5] & RANDOM_ACCESS, RANDOM_ACCESS);
                assert_eq!(&packet[6..10], &[0, 0, 1, 0xe0], "a PES starts");
                assert_eq!(packet[13] & 0x80, 0x80, "with a PTS");
            }
        }
    }

    #[test]
    fn video_packets_end_in_their_index() {
        for p in [2, 3, 49, 52, 1_000_003, u64::MAX - 1] {
            let packet = ts_packet(p);
            assert_eq!(packet[180..], p.to_be_bytes(), "packet {p}");
        }
    }

    #[test]
    fn continuity_counters_count_up_per_pid_from_any_start() {
        let mut last: [Option<u8>; 3] = [None; 3];
        for p in 1_000..1_000 + 5 * GROUP {
            let packet = ts_packet(p);
            let slot = match pid(&packet) {
                0 => 0,
                PMT_PID => 1,
                _ => 2,
            };
            let cc = packet[3] & 0x0f;
            if let Some(previous) = last[slot] {
                assert_eq!(cc, (previous + 1) & 0x0f, "packet {p}");
            }
            last[slot] = Some(cc);
        }
    }

    #[test]
    fn keyframe_timestamps_count_90_khz_at_the_nominal_bitrate() {
        // 2 Mbit/s: a group of 50 packets lasts 37.6 ms, 3384 ticks.
        assert_eq!(pts_of(GROUP) - pts_of(0), 3384);
        let packet = ts_packet(GROUP * 1_000 + 2);
        let b = &packet[15..20];
        let pts = (u64::from(b[0] >> 1 & 0x07) << 30)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] >> 1) << 15)
            | (u64::from(b[3]) << 7)
            | u64::from(b[4] >> 1);
        assert_eq!(pts, pts_of(GROUP * 1_000 + 2));
        assert!(pts_of(u64::MAX) < 1 << 33, "33 bits");
    }

    #[test]
    fn packets_come_at_the_bitrate() {
        let bitrate = 1504 * 100;
        assert_eq!(packets_by(Duration::ZERO, bitrate), 1);
        assert_eq!(packets_by(Duration::from_millis(9), bitrate), 1);
        assert_eq!(packets_by(Duration::from_millis(10), bitrate), 2);
        assert_eq!(packets_by(Duration::from_secs(2), bitrate), 201);
        assert_eq!(packets_by(Duration::from_secs(1), 1), 1);
    }
}
