//! Silicondust's HDHomeRun discovery packets (UDP 65001): reading a discover request and
//! writing the reply that makes `hdhomerun_config discover`, Plex and Jellyfin list acebox as
//! a tuner; and the device id's check digit, which those tools verify.
//!
//! A packet is `type (u16 BE) | length (u16 BE) | length bytes of tag-length-value fields |
//! CRC-32 (IEEE, little-endian) of everything before it`. A field's length is one byte below
//! 128, else two (low 7 bits with the top bit set, then the rest). This module owns that
//! layout: [`Packet`] is a checked view over received bytes (lengths and CRC checked once,
//! then fields read in place, nothing allocated) and [`Reply::emit`] writes into a fixed
//! buffer. It never touches a socket (`announce` does).
//!
//! Over 400 lines: the last 140 are its tests, with packets built byte by byte.

use core::fmt;

/// The UDP port devices answer discovery on.
pub const PORT: u16 = 65001;
/// The largest packet read or written (libhdhomerun's own limit).
pub const MAX_PACKET: usize = 1460;

const DISCOVER_REQUEST: u16 = 0x0002;
const DISCOVER_REPLY: u16 = 0x0003;
const TAG_DEVICE_TYPE: u8 = 0x01;
const TAG_DEVICE_ID: u8 = 0x02;
const TAG_TUNER_COUNT: u8 = 0x10;
const TAG_LINEUP_URL: u8 = 0x27;
const TAG_BASE_URL: u8 = 0x2A;
const TAG_DEVICE_AUTH: u8 = 0x2B;
const TAG_MULTI_TYPE: u8 = 0x2D;
const TYPE_TUNER: u32 = 0x0000_0001;
const WILDCARD: u32 = 0xFFFF_FFFF;

/// Why received bytes are not a packet acebox answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header, its stated length and its CRC.
    Truncated,
    /// The CRC does not match the bytes.
    Checksum,
    /// A well-formed packet of another kind (a reply, a get/set request...).
    NotDiscover,
    /// A field runs past the end of the payload, or a known field has the wrong length.
    Field,
    /// The reply does not fit in [`MAX_PACKET`].
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "HDHomeRun packet shorter than its header says",
            Error::Checksum => "HDHomeRun packet with a bad CRC",
            Error::NotDiscover => "HDHomeRun packet that is not a discover request",
            Error::Field => "HDHomeRun packet with a malformed field",
            Error::TooLong => "HDHomeRun reply longer than a packet",
        })
    }
}

impl std::error::Error for Error {}

/// A received packet whose header, length and CRC were checked.
pub struct Packet<'a> {
    kind: u16,
    payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Checks `bytes` once: the header, the stated length and the CRC after it. Bytes after the
    /// CRC are ignored, as Silicondust's library does.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Packet<'a>, Error> {
        let header = bytes.get(..4).ok_or(Error::Truncated)?;
        let kind = u16::from_be_bytes([header[0], header[1]]);
        let end = 4 + usize::from(u16::from_be_bytes([header[2], header[3]]));
        let crc = bytes.get(end..end + 4).ok_or(Error::Truncated)?;
        if crc32(&bytes[..end]).to_le_bytes() != crc {
            return Err(Error::Checksum);
        }
        Ok(Packet {
            kind,
            payload: &bytes[4..end],
        })
    }

    /// The packet's fields in order: `(tag, value)`; an error for a field that runs past the
    /// payload ends them.
    fn fields(&self) -> impl Iterator<Item = Result<(u8, &'a [u8]), Error>> {
        let mut rest = self.payload;
        core::iter::from_fn(move || {
            let (&tag, after) = rest.split_first()?;
            let field = read_length(after).and_then(|(len, after)| {
                let value = after.get(..len).ok_or(Error::Field)?;
                rest = &after[len..];
                Ok((tag, value))
            });
            if field.is_err() {
                rest = &[];
            }
            Some(field)
        })
    }
}

/// A field's length and what follows it.
fn read_length(bytes: &[u8]) -> Result<(usize, &[u8]), Error> {
    match bytes {
        [low, high, rest @ ..] if low & 0x80 != 0 => {
            Ok((usize::from(low & 0x7F) | usize::from(*high) << 7, rest))
        }
        [len, rest @ ..] if len & 0x80 == 0 => Ok((usize::from(*len), rest)),
        _ => Err(Error::Field),
    }
}

/// A discover request: which device types and which device id it looks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Discover {
    /// Whether a tuner (or any device) is asked for.
    pub wants_tuner: bool,
    /// The device id asked for; [`WILDCARD`] (also when absent) for any.
    pub device_id: u32,
}

impl Discover {
    /// Reads a discover request. A request naming no type asks for any device.
    pub fn parse(packet: &Packet<'_>) -> Result<Discover, Error> {
        if packet.kind != DISCOVER_REQUEST {
            return Err(Error::NotDiscover);
        }
        let mut found = Discover {
            wants_tuner: true,
            device_id: WILDCARD,
        };
        let mut typed = false;
        for field in packet.fields() {
            match field? {
                (TAG_DEVICE_TYPE | TAG_MULTI_TYPE, types) => {
                    if types.is_empty() || types.len() % 4 != 0 {
                        return Err(Error::Field);
                    }
                    let any = types
                        .chunks_exact(4)
                        .map(|t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
                        .any(|t| t == TYPE_TUNER || t == WILDCARD);
                    found.wants_tuner = any || (typed && found.wants_tuner);
                    typed = true;
                }
                (TAG_DEVICE_ID, id) => {
                    let id: [u8; 4] = id.try_into().map_err(|_| Error::Field)?;
                    found.device_id = u32::from_be_bytes(id);
                }
                _ => {}
            }
        }
        Ok(found)
    }

    /// Whether device `id`, a tuner, should answer.
    pub fn matches(&self, id: u32) -> bool {
        self.wants_tuner && (self.device_id == WILDCARD || self.device_id == id)
    }
}

/// What a tuner says of itself in its discover reply.
pub struct Reply<'a> {
    pub device_id: u32,
    pub tuner_count: u8,
    pub device_auth: &'a str,
    /// `http://ADDRESS:PORT`, where `/discover.json` is.
    pub base_url: &'a str,
    pub lineup_url: &'a str,
}

impl Reply<'_> {
    /// Writes the reply packet into `out`; its length.
    pub fn emit(&self, out: &mut [u8; MAX_PACKET]) -> Result<usize, Error> {
        let mut w = Writer { out, at: 4 };
        w.field(TAG_DEVICE_TYPE, &TYPE_TUNER.to_be_bytes())?;
        w.field(TAG_DEVICE_ID, &self.device_id.to_be_bytes())?;
        w.field(TAG_TUNER_COUNT, &[self.tuner_count])?;
        w.field(TAG_DEVICE_AUTH, self.device_auth.as_bytes())?;
        w.field(TAG_BASE_URL, self.base_url.as_bytes())?;
        w.field(TAG_LINEUP_URL, self.lineup_url.as_bytes())?;
        let end = w.at;
        let len = u16::try_from(end - 4).map_err(|_| Error::TooLong)?;
        w.out[..2].copy_from_slice(&DISCOVER_REPLY.to_be_bytes());
        w.out[2..4].copy_from_slice(&len.to_be_bytes());
        let crc = crc32(&w.out[..end]).to_le_bytes();
        w.out
            .get_mut(end..end + 4)
            .ok_or(Error::TooLong)?
            .copy_from_slice(&crc);
        Ok(end + 4)
    }
}

/// Appends fields to a packet buffer, refusing what does not fit (with room for the CRC).
struct Writer<'a> {
    out: &'a mut [u8; MAX_PACKET],
    at: usize,
}

impl Writer<'_> {
    fn field(&mut self, tag: u8, value: &[u8]) -> Result<(), Error> {
        let len = value.len();
        let head: &[u8] = if len < 0x80 {
            &[tag, len as u8]
        } else {
            &[tag, (len & 0x7F) as u8 | 0x80, (len >> 7) as u8]
        };
        let end = self.at + head.len() + len;
        if len >> 14 != 0 || end + 4 > MAX_PACKET {
            return Err(Error::TooLong);
        }
        self.out[self.at..self.at + head.len()].copy_from_slice(head);
        self.out[self.at + head.len()..end].copy_from_slice(value);
        self.at = end;
        Ok(())
    }
}

/// CRC-32 (IEEE 802.3, reflected), bit by bit: packets are small and rare, a table would
/// cost a kilobyte of binary.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The nibble permutation of Silicondust's device id check.
const CHECK: [u8; 16] = [
    0xA, 0x5, 0xF, 0x6, 0x7, 0xC, 0x1, 0xB, 0x9, 0x2, 0x8, 0xD, 0x4, 0x3, 0xE, 0x0,
];

/// The XOR of the check over the id's seven high nibbles (nibble 0 is the lowest): the odd ones
/// through [`CHECK`], the even ones as they are. A valid id's low nibble equals it.
fn check_nibble(id: u32) -> u8 {
    (1..8).fold(0, |sum, n| {
        let nibble = (id >> (4 * n)) as u8 & 0xF;
        sum ^ if n % 2 == 1 {
            CHECK[usize::from(nibble)]
        } else {
            nibble
        }
    })
}

/// Whether `id` carries a valid check digit, as `hdhomerun_config` and Plex require.
pub fn valid_device_id(id: u32) -> bool {
    check_nibble(id) == id as u8 & 0xF
}

/// A valid device id made from `seed`: its high 28 bits (the top nibble set to 0xA, which no
/// Silicondust model uses for the legacy id ranges), then the check digit.
pub fn device_id(seed: u32) -> u32 {
    let high = 0xA000_0000 | (seed & 0x0FFF_FFF0);
    high | u32::from(check_nibble(high))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jellyfin's own discover request, byte for byte (HdHomerunHost.cs): wildcard type and id.
    const JELLYFIN: [u8; 20] = [
        0, 2, 0, 12, 1, 4, 255, 255, 255, 255, 2, 4, 255, 255, 255, 255, 115, 204, 125, 143,
    ];

    fn sealed(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = kind.to_be_bytes().to_vec();
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(payload);
        let crc = crc32(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn the_crc_is_the_one_silicondust_tools_send() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let packet = Packet::new_checked(&JELLYFIN).unwrap();
        let asked = Discover::parse(&packet).unwrap();
        assert!(asked.matches(device_id(7)));
        let mut bad = JELLYFIN;
        bad[19] ^= 1;
        assert_eq!(Packet::new_checked(&bad).err(), Some(Error::Checksum));
        assert_eq!(
            Packet::new_checked(&JELLYFIN[..10]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(Packet::new_checked(&[]).err(), Some(Error::Truncated));
    }

    #[test]
    fn requests_for_other_devices_or_types_are_not_ours() {
        let ours = device_id(0x1234_5678);
        let other = sealed(2, &[2, 4, 0x10, 0x40, 0, 0]);
        assert!(
            !Discover::parse(&Packet::new_checked(&other).unwrap())
                .unwrap()
                .matches(ours)
        );
        let mut by_id = vec![1, 4, 0, 0, 0, 1, 2, 4];
        by_id.extend_from_slice(&ours.to_be_bytes());
        let by_id = sealed(2, &by_id);
        assert!(
            Discover::parse(&Packet::new_checked(&by_id).unwrap())
                .unwrap()
                .matches(ours)
        );
        // A storage-only search (type 5), and the newer tools' multi-type search.
        let storage = sealed(2, &[1, 4, 0, 0, 0, 5]);
        assert!(
            !Discover::parse(&Packet::new_checked(&storage).unwrap())
                .unwrap()
                .matches(ours)
        );
        let multi = sealed(2, &[0x2D, 8, 0, 0, 0, 5, 0, 0, 0, 1]);
        assert!(
            Discover::parse(&Packet::new_checked(&multi).unwrap())
                .unwrap()
                .matches(ours)
        );
        let reply = sealed(3, &[]);
        assert_eq!(
            Discover::parse(&Packet::new_checked(&reply).unwrap()),
            Err(Error::NotDiscover)
        );
        for broken in [&[1, 3, 0, 0, 0][..], &[2, 9, 1], &[1, 0x85], &[1, 0]] {
            let p = sealed(2, broken);
            assert_eq!(
                Discover::parse(&Packet::new_checked(&p).unwrap()),
                Err(Error::Field),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn a_reply_reads_back_field_by_field() {
        let long_url = format!("http://10.0.0.1:6880/{}", "x".repeat(150));
        let reply = Reply {
            device_id: device_id(99),
            tuner_count: 4,
            device_auth: "acebox",
            base_url: "http://10.0.0.1:6880",
            lineup_url: &long_url,
        };
        let mut buf = [0u8; MAX_PACKET];
        let len = reply.emit(&mut buf).unwrap();
        let packet = Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!(packet.kind, DISCOVER_REPLY);
        let fields: Vec<(u8, Vec<u8>)> = packet
            .fields()
            .map(|f| f.map(|(t, v)| (t, v.to_vec())).unwrap())
            .collect();
        assert_eq!(fields[0], (TAG_DEVICE_TYPE, vec![0, 0, 0, 1]));
        assert_eq!(
            fields[1],
            (TAG_DEVICE_ID, reply.device_id.to_be_bytes().to_vec())
        );
        assert_eq!(fields[2], (TAG_TUNER_COUNT, vec![4]));
        assert_eq!(fields[4], (TAG_BASE_URL, b"http://10.0.0.1:6880".to_vec()));
        assert_eq!(
            fields[5],
            (TAG_LINEUP_URL, long_url.as_bytes().to_vec()),
            "two-byte length"
        );
        let huge = "x".repeat(MAX_PACKET);
        let too_long = Reply {
            lineup_url: &huge,
            ..reply
        };
        assert_eq!(too_long.emit(&mut buf), Err(Error::TooLong));
    }

    #[test]
    fn device_ids_carry_the_check_digit_real_ones_do() {
        // Silicondust's check written out nibble by nibble, against the fold above.
        let literal = |id: u32| {
            let n = |shift: u32| (id >> shift) as u8 & 0xF;
            let t = |shift: u32| CHECK[usize::from(n(shift))];
            t(28) ^ n(24) ^ t(20) ^ n(16) ^ t(12) ^ n(8) ^ t(4) ^ n(0) == 0
        };
        for id in (0..2000u32).map(|i| i.wrapping_mul(0x9E37_79B9)) {
            assert_eq!(valid_device_id(id), literal(id), "{id:08X}");
        }
        for seed in [0, 1, 0xFFFF_FFFF, 0x1234_5678, 0xDEAD_BEEF] {
            let id = device_id(seed);
            assert!(valid_device_id(id), "{id:08X}");
            assert!(
                !valid_device_id(id ^ 1) && !valid_device_id(id ^ 0x100),
                "{id:08X}"
            );
            assert_eq!(id >> 28, 0xA);
        }
        assert_ne!(device_id(0x10), device_id(0x20));
    }
}
