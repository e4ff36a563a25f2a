//! One MPEG-TS packet, read through a checked type: [`Packet`] is exactly 188 bytes, so every
//! header field it reads is in bounds by construction, with no raw indexing anywhere else.
//!
//! Owns the reading of the packet header, the adaptation field's random access flag and the
//! start of a PES (stream id, presentation time). It never parses tables (PAT, PMT) beyond
//! knowing one starts, never holds bytes and never allocates.

/// Bytes in a transport packet.
pub const PACKET: usize = 188;
/// The first byte of every packet.
pub const SYNC: u8 = 0x47;

/// One transport packet, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a>(&'a [u8; PACKET]);

impl<'a> Packet<'a> {
    /// The packet `bytes` hold, if they are exactly [`PACKET`] long (synced or not: see
    /// [`Packet::is_synced`]).
    pub fn new(bytes: &'a [u8]) -> Option<Packet<'a>> {
        bytes.try_into().ok().map(Packet)
    }

    /// Starts with the sync byte.
    pub fn is_synced(self) -> bool {
        let &[sync, ..] = self.0;
        sync == SYNC
    }

    /// The packet identifier.
    pub fn pid(self) -> u16 {
        let &[_, high, low, ..] = self.0;
        (u16::from(high & 0x1f) << 8) | u16::from(low)
    }

    /// A unit (a table section or a PES) starts in this packet.
    fn starts_unit(self) -> bool {
        let &[_, flags, ..] = self.0;
        flags & 0x40 != 0
    }

    fn has_adaptation(self) -> bool {
        let &[_, _, _, control, ..] = self.0;
        control & 0x20 != 0
    }

    fn has_payload(self) -> bool {
        let &[_, _, _, control, ..] = self.0;
        control & 0x10 != 0
    }

    /// The adaptation field sets the random access indicator.
    fn random_access(self) -> bool {
        let &[_, _, _, _, length, flags, ..] = self.0;
        self.has_adaptation() && length > 0 && flags & 0x40 != 0
    }

    /// A PAT that starts a section: where a decoder can learn the programs.
    pub fn is_pat_start(self) -> bool {
        self.pid() == 0 && self.starts_unit()
    }

    /// A packet where a video keyframe starts: the random access indicator is set and the
    /// payload starts a video PES (stream id 0xE0 to 0xEF). Encoders set the indicator on audio
    /// frames too, and a player joining there would wait for a picture.
    pub fn is_video_keyframe(self) -> bool {
        self.has_payload() && self.random_access() && self.video_pes().is_some()
    }

    /// The presentation time (90 kHz, 33 bits) of the video PES this packet starts, if it has
    /// one.
    pub fn video_pts(self) -> Option<u64> {
        self.video_pes().and_then(pes_pts)
    }

    /// The presentation time of the audio or video PES this packet starts, if it has one.
    pub fn pts(self) -> Option<u64> {
        self.pes().and_then(pes_pts)
    }

    /// The PES this packet starts, if it starts a video PES (stream id 0xE0 to 0xEF).
    fn video_pes(self) -> Option<&'a [u8]> {
        self.pes()
            .filter(|pes| pes.get(3).is_some_and(|id| id & 0xf0 == 0xe0))
    }

    /// The PES this packet starts, if it starts an audio or video PES (stream id 0xC0 to
    /// 0xEF).
    fn pes(self) -> Option<&'a [u8]> {
        if !(self.starts_unit() && self.has_payload()) {
            return None;
        }
        let &[_, _, _, _, adaptation_length, ..] = self.0;
        let payload = if self.has_adaptation() {
            5 + usize::from(adaptation_length)
        } else {
            4
        };
        self.0
            .get(payload..)
            .filter(|pes| matches!(pes, [0, 0, 1, id, ..] if (0xc0..=0xef).contains(id)))
    }
}

/// The packets `data` holds, in order; a tail shorter than a packet is left out.
pub fn packets(data: &[u8]) -> impl Iterator<Item = Packet<'_>> {
    data.chunks_exact(PACKET).filter_map(Packet::new)
}

/// The PTS field of a PES header.
fn pes_pts(pes: &[u8]) -> Option<u64> {
    // PES header: start code and id (4), length (2), flags (2), header length (1), then the PTS.
    if pes.get(7)? & 0x80 == 0 {
        return None;
    }
    let &[b0, b1, b2, b3, b4] = pes.get(9..14)? else {
        return None;
    };
    Some(
        (u64::from(b0 >> 1 & 0x07) << 30)
            | (u64::from(b1) << 22)
            | (u64::from(b2 >> 1) << 15)
            | (u64::from(b3) << 7)
            | u64::from(b4 >> 1),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A packet on `pid`, optionally starting a unit; `keyframe` flags random access and, with
    /// `stream` (a PES stream id), starts a PES of that stream.
    pub(crate) fn packet(pid: u16, start: bool, keyframe: Option<u8>, fill: u8) -> Vec<u8> {
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

    fn read(bytes: &[u8]) -> Packet<'_> {
        Packet::new(bytes).unwrap()
    }

    #[test]
    fn recognises_pat_and_video_keyframes() {
        let pat = packet(0, true, None, 0);
        assert!(read(&pat).is_pat_start());
        assert!(
            !read(&packet(0, false, None, 0)).is_pat_start(),
            "a PAT continuation"
        );
        let keyframe = packet(0x100, true, Some(0xe0), 0xee);
        assert!(read(&keyframe).is_video_keyframe());
        assert!(!read(&packet(0x100, false, None, 1)).is_video_keyframe());
        let audio = packet(0x101, true, Some(0xc0), 0);
        assert!(
            !read(&audio).is_video_keyframe(),
            "an audio frame is no place to join"
        );
        assert_eq!(read(&audio).pid(), 0x101);
        assert!(read(&audio).is_synced());
    }

    #[test]
    fn only_whole_packets_are_read() {
        assert!(Packet::new(&[SYNC; PACKET - 1]).is_none());
        assert!(Packet::new(&[SYNC; PACKET + 1]).is_none());
        assert_eq!(packets(&[SYNC; 2 * PACKET + 7]).count(), 2);
        // A PES header cut short by the packet's end has no time.
        let mut p = packet(0x100, true, Some(0xe0), 0);
        p[4] = 170;
        p[175..179].copy_from_slice(&[0, 0, 1, 0xe0]);
        p[182] = 0x80;
        assert!(read(&p).is_video_keyframe());
        assert_eq!(read(&p).pts(), None);
    }
}
