//! The segmenter: HLS segments cut from an MPEG-TS channel's stream, for the HLS players of a
//! channel whose engine session plays MPEG-TS (a TV opened it with `/ace/getstream`, then a
//! phone asked for `/ace/manifest.m3u8`). One engine session cannot be both.
//!
//! [`Segmenter`] owns the segment being built (at most [`CUT_BYTES_MAX`] bytes) and the rule for
//! where to cut: at a join point (a PAT followed by a video keyframe in the same chunk; every
//! PAT, in a stream that has shown no flagged video keyframe, such as radio) once the segment
//! spans [`SEGMENT_SECS`] by the presentation times there, so every segment starts where a
//! player can decode and says how long it really is. Timestamps that go back or jump more than
//! 15 s, and a reconnect of the TS reader, end a segment and mark the next one after a
//! discontinuity. A stream without timestamps is cut by size. [`cut_while`] feeds it a
//! channel's chunk store and stores what it cuts in the channel's own fixed-capacity segment
//! store ([`store`]), which the HLS router serves like any other. This module never talks to
//! the engine or to a client, and never decides when to run: the channel starts it for its first
//! HLS player and tells it when none is left.
//!
//! Over 400 lines: half of it is the tests of the cutting rule, which need their packet makers.

use bytes::{Bytes, BytesMut};

use crate::board::MAX_SEGMENT_BYTES;
use crate::feed::Events;
use crate::storage::{CUT_RING_BYTES, Chunks, Segments};
use crate::ts::packet::{PACKET, packets};

/// How long a segment cut from a TS stream is, at least: a cut waits for the first join point
/// after this. Short, so a player joins near the live edge; most streams have a keyframe
/// every 0.5 to 2 s.
pub const SEGMENT_SECS: f32 = 2.0;
/// A segment is cut at most this long: half the store's budget, so the store always holds two.
/// Until it is cut it is slices of the chunk ring's chunks (counted in that ring's budget);
/// cutting copies it once into a buffer of its exact size.
pub const CUT_BYTES_MAX: usize = if MAX_SEGMENT_BYTES < CUT_RING_BYTES / 2 {
    MAX_SEGMENT_BYTES
} else {
    CUT_RING_BYTES / 2
};
/// A stream without timestamps is cut at the first join point after this many bytes.
const UNTIMED_BYTES: usize = if CUT_BYTES_MAX < 1 << 20 {
    CUT_BYTES_MAX
} else {
    1 << 20
};
/// Presentation times count 90,000 a second, in 33 bits.
const TICKS_PER_SEC: f32 = 90_000.0;
const PTS_MASK: u64 = (1 << 33) - 1;
/// A cut may come this much short of [`SEGMENT_SECS`]: a keyframe a frame early is on time.
const EARLY_TICKS: u64 = 9_000;
/// Timestamps moving on by more than this within a segment are a break (the engine lost part
/// of the stream, or restarted it), not a long picture group.
const MAX_STEP_TICKS: u64 = 15 * 90_000;

/// A segment cut from the stream.
#[derive(Debug, PartialEq)]
pub struct Cut {
    /// Whole packets, starting at a join point unless the stream had none for too long.
    pub data: Bytes,
    /// Seconds, from the keyframes' presentation times ([`SEGMENT_SECS`] when the stream has
    /// none).
    pub duration: f32,
    /// The stream broke before this segment (timestamps went back or jumped, or data was lost).
    pub discontinuity: bool,
}

/// The segment being built: slices of the chunks it spans, copied into one buffer of the
/// segment's exact size only when it is cut.
struct Building {
    parts: Vec<Bytes>,
    len: usize,
    /// Presentation times of the keyframe that starts it and of the newest join point in it.
    first: Option<u64>,
    newest: Option<u64>,
    discontinuity: bool,
}

impl Building {
    fn finish(self, duration: f32) -> Cut {
        let mut data = BytesMut::with_capacity(self.len);
        for part in &self.parts {
            data.extend_from_slice(part);
        }
        Cut {
            data: data.freeze(),
            duration,
            discontinuity: self.discontinuity,
        }
    }

    /// Its span from its first to its newest join point, when both have times and it has one.
    fn span(&self) -> Option<f32> {
        match timing(self.first, self.newest) {
            Timing::Elapsed(ticks) if ticks > 0 => Some(ticks as f32 / TICKS_PER_SEC),
            _ => None,
        }
    }
}

/// How a join point's time relates to the start of the segment being built.
enum Timing {
    Elapsed(u64),
    /// Back in time, or far ahead: the stream broke.
    Broke,
    /// One of the two has no timestamp.
    Unknown,
}

fn timing(from: Option<u64>, to: Option<u64>) -> Timing {
    match (from, to) {
        (Some(from), Some(to)) => match to.wrapping_sub(from) & PTS_MASK {
            ticks if ticks <= MAX_STEP_TICKS => Timing::Elapsed(ticks),
            _ => Timing::Broke,
        },
        _ => Timing::Unknown,
    }
}

/// Cuts a stream of whole-packet chunks into segments.
#[derive(Default)]
pub struct Segmenter {
    building: Option<Building>,
    /// The next segment follows a break.
    broken: bool,
    /// A video keyframe has come: only a PAT followed by one is a join point from now on.
    /// Until then (audio only, or keyframes not flagged), every PAT is one.
    keyframes: bool,
}

impl Segmenter {
    /// Takes the next chunk of the stream (whole packets; `fresh` when it is the first of a new
    /// upstream connection) and hands each segment it ends to `emit`. Before the first join
    /// point nothing is kept: a segment starts where a player can decode.
    pub fn feed(&mut self, chunk: &Bytes, fresh: bool, emit: &mut impl FnMut(Cut)) {
        if fresh {
            self.reconnected(emit);
        }
        let mut from = 0;
        let mut pat = None;
        for (at, packet) in (0..).step_by(PACKET).zip(packets(chunk)) {
            let join = if packet.is_pat_start() {
                pat = Some(at);
                (!self.keyframes).then(|| (at, first_pts(chunk.get(at..).unwrap_or_default())))
            } else if packet.is_video_keyframe() {
                self.keyframes = true;
                pat.take().map(|join| (join, packet.video_pts()))
            } else {
                None
            };
            if let Some((join, time)) = join {
                self.append(chunk.slice(from..join), emit);
                self.join_point(time, emit);
                from = join;
            }
        }
        self.append(chunk.slice(from..), emit);
    }

    /// The reader reconnected: what came before may be lost or come again, so the segment
    /// being built ends here and the next one follows a break.
    fn reconnected(&mut self, emit: &mut impl FnMut(Cut)) {
        if let Some(building) = &self.building {
            let duration = building.span().unwrap_or(SEGMENT_SECS);
            self.finish(duration, emit);
        }
        self.broken = true;
    }

    /// Data was lost before the next chunk (the segmenter fell behind the chunk ring): what is
    /// being built is dropped, and the next segment follows a break.
    pub fn lost(&mut self) {
        self.building = None;
        self.broken = true;
    }

    /// A join point whose keyframe has presentation time `time`: cut here if the segment
    /// being built is long enough or the stream broke, else carry on.
    fn join_point(&mut self, time: Option<u64>, emit: &mut impl FnMut(Cut)) {
        let Some(building) = self.building.as_mut() else {
            self.start(time);
            return;
        };
        let duration = match timing(building.first, time) {
            Timing::Elapsed(ticks) if ticks + EARLY_TICKS < secs_to_ticks(SEGMENT_SECS) => None,
            Timing::Elapsed(ticks) => Some(ticks as f32 / TICKS_PER_SEC),
            Timing::Broke => {
                self.broken = true;
                Some(building.span().unwrap_or(SEGMENT_SECS))
            }
            // A segment begun without a time (after a size cut) ends at the first timed one.
            Timing::Unknown if building.first.is_none() && time.is_some() => Some(SEGMENT_SECS),
            Timing::Unknown if building.len >= UNTIMED_BYTES => Some(SEGMENT_SECS),
            Timing::Unknown => None,
        };
        match duration {
            None => building.newest = time.or(building.newest),
            Some(duration) => {
                self.finish(duration, emit);
                self.start(time);
            }
        }
    }

    /// Adds bytes with no join point in them to the segment being built, if any. A segment
    /// that would grow past [`CUT_BYTES_MAX`] (no keyframe for that long) is cut first.
    fn append(&mut self, data: Bytes, emit: &mut impl FnMut(Cut)) {
        let Some(building) = self.building.as_ref() else {
            return;
        };
        if data.is_empty() {
            return;
        }
        if building.len + data.len() > CUT_BYTES_MAX {
            let duration = building.span().unwrap_or(SEGMENT_SECS);
            self.finish(duration, emit);
            self.start(None);
        }
        if let Some(building) = self.building.as_mut() {
            building.len += data.len();
            building.parts.push(data);
        }
    }

    fn finish(&mut self, duration: f32, emit: &mut impl FnMut(Cut)) {
        if let Some(done) = self.building.take() {
            emit(done.finish(duration));
        }
    }

    fn start(&mut self, time: Option<u64>) {
        self.building = Some(Building {
            parts: Vec::new(),
            len: 0,
            first: time,
            newest: time,
            discontinuity: std::mem::take(&mut self.broken),
        });
    }
}

fn secs_to_ticks(secs: f32) -> u64 {
    (secs * TICKS_PER_SEC) as u64
}

/// The presentation time of the first audio or video PES that starts in `data`.
fn first_pts(data: &[u8]) -> Option<u64> {
    packets(data).find_map(|packet| packet.pts())
}

/// The store of the segments cut for a channel's HLS players, whose first will be numbered
/// `first_seq`. Its target duration is stated once and kept (a playlist's may not change): the
/// cuts' length, rounded up, and a second for long picture groups.
pub fn store(first_seq: u64) -> Segments {
    let cut = Segments::new(CUT_RING_BYTES, first_seq);
    cut.raise_target_duration(SEGMENT_SECS.ceil() as u32 + 1);
    cut
}

/// Cuts `chunks` into `segments` while `watched` says a player wants them, from the oldest chunk
/// held, so the first HLS player finds a playlist at once. Wakes `events` for every segment
/// stored, and waits on them for every chunk.
pub async fn cut_while(
    chunks: &Chunks,
    segments: &Segments,
    events: &Events,
    watched: impl Fn() -> bool,
) {
    let mut segmenter = Segmenter::default();
    let mut next = chunks.ring.bounds().0;
    while watched() {
        let listener = events.listen();
        let mut stored = false;
        loop {
            if let Some(item) = chunks.ring.get(next) {
                segmenter.feed(&item.data, item.meta.fresh, &mut |cut| {
                    // Cannot fail: a cut is at most half the store's budget.
                    let _ = segments.push(cut.data, cut.duration, cut.discontinuity);
                    stored = true;
                });
                next += 1;
                continue;
            }
            let (oldest, _) = chunks.ring.bounds();
            if next >= oldest {
                break;
            }
            segmenter.lost();
            next = oldest;
        }
        if stored {
            events.notify();
        }
        listener.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat() -> Vec<u8> {
        let mut p = vec![0xffu8; PACKET];
        p[..4].copy_from_slice(&[0x47, 0x40, 0x00, 0x10]);
        p
    }

    fn plain() -> Vec<u8> {
        let mut p = vec![0xffu8; PACKET];
        p[..4].copy_from_slice(&[0x47, 0x01, 0x00, 0x10]);
        p
    }

    /// An audio frame's first packet (stream id 0xC0) at `pts`, with no random access flag.
    fn audio(pts: u64) -> Vec<u8> {
        let mut p = keyframe(Some(pts));
        p[1] = 0x41;
        p[3] = 0x10; // payload only: no adaptation field
        let pes = p[6..20].to_vec();
        p[4..18].copy_from_slice(&pes);
        p[7] = 0xc0;
        p
    }

    /// A video keyframe packet, with a presentation time or without one.
    fn keyframe(pts: Option<u64>) -> Vec<u8> {
        let mut p = plain();
        p[1..6].copy_from_slice(&[0x41, 0x00, 0x30, 0x01, 0x40]);
        p[6..15].copy_from_slice(&[0, 0, 1, 0xe0, 0, 0, 0x80, 0x00, 0]);
        if let Some(pts) = pts {
            p[13..15].copy_from_slice(&[0x80, 5]);
            p[15..20].copy_from_slice(&[
                0x21 | ((pts >> 29) & 0x0e) as u8,
                (pts >> 22) as u8,
                0x01 | ((pts >> 14) & 0xfe) as u8,
                (pts >> 7) as u8,
                0x01 | ((pts << 1) & 0xfe) as u8,
            ]);
        }
        p
    }

    /// `filler + 2` packets that start with a join point at `ms` milliseconds (or one
    /// without a timestamp).
    fn gop(ms: Option<u64>, filler: usize) -> Vec<u8> {
        let mut chunk = pat();
        chunk.extend(keyframe(ms.map(|ms| ms * 90)));
        for _ in 0..filler {
            chunk.extend(plain());
        }
        chunk
    }

    fn feed(s: &mut Segmenter, chunk: &[u8]) -> Vec<Cut> {
        let mut cuts = Vec::new();
        s.feed(&Bytes::copy_from_slice(chunk), false, &mut |cut| {
            cuts.push(cut)
        });
        cuts
    }

    /// One chunk a GOP, each starting at the given times.
    fn feed_gops(s: &mut Segmenter, times_ms: &[u64]) -> Vec<Cut> {
        let chunks: Vec<Vec<u8>> = times_ms.iter().map(|ms| gop(Some(*ms), 3)).collect();
        chunks.iter().flat_map(|chunk| feed(s, chunk)).collect()
    }

    fn durations(cuts: &[Cut]) -> Vec<(f32, bool)> {
        cuts.iter()
            .map(|c| ((c.duration * 1000.0).round() / 1000.0, c.discontinuity))
            .collect()
    }

    #[test]
    fn cuts_at_the_first_join_point_past_the_target_with_true_durations() {
        let mut s = Segmenter::default();
        let times = [
            10_000, 10_500, 11_000, 11_500, 12_000, 12_500, 13_000, 14_200, 15_000, 16_400,
        ];
        let cuts = feed_gops(&mut s, &times);
        assert_eq!(durations(&cuts), [(2.0, false), (2.2, false), (2.2, false)]);
        for cut in &cuts {
            assert_eq!(cut.data.len() % PACKET, 0);
            assert!(
                crate::ts::packet::Packet::new(&cut.data[PACKET..2 * PACKET])
                    .is_some_and(|p| p.is_video_keyframe()),
                "starts at a join point"
            );
        }
        assert_eq!(
            cuts[0].data.len(),
            4 * 5 * PACKET,
            "four GOPs of five packets"
        );
    }

    #[test]
    fn nothing_before_the_first_join_point_is_kept() {
        let mut s = Segmenter::default();
        assert!(feed(&mut s, &plain().repeat(2)).is_empty());
        let cuts = feed_gops(&mut s, &[0, 1_000, 2_000]);
        assert_eq!(cuts.len(), 1);
        assert_eq!(cuts[0].data.len(), 2 * 5 * PACKET);
        assert_eq!(cuts[0].data[..PACKET], pat()[..], "starts at the PAT");
    }

    #[test]
    fn timestamps_going_back_or_jumping_are_a_break() {
        let mut s = Segmenter::default();
        let times = [
            100_000, 101_000, 102_000, 103_000, 5_000, 6_000, 7_000, 500_000, 501_000,
        ];
        let cuts = feed_gops(&mut s, &times);
        assert_eq!(
            durations(&cuts),
            // Cut where the engine restarted, the next segment marked; a segment with one join
            // point before a break is taken to be the target's length.
            [(2.0, false), (1.0, false), (2.0, true), (2.0, false)],
        );
        let tail = feed_gops(&mut s, &[502_000]);
        assert_eq!(tail.len(), 1);
        assert!(tail[0].discontinuity, "the jump ahead is a break too");
    }

    #[test]
    fn presentation_times_wrap_at_33_bits() {
        let mut s = Segmenter::default();
        let top = PTS_MASK / 90;
        let cuts = feed_gops(&mut s, &[top - 1_000, top, top + 1_000]);
        assert_eq!(durations(&cuts), [(2.0, false)]);
    }

    #[test]
    fn a_stream_without_timestamps_is_cut_by_size() {
        let mut s = Segmenter::default();
        let chunk = gop(None, UNTIMED_BYTES / PACKET);
        assert!(feed(&mut s, &chunk).is_empty());
        let cuts = feed(&mut s, &chunk);
        assert_eq!(cuts.len(), 1, "cut at the second join point");
        assert_eq!(cuts[0].duration, SEGMENT_SECS);
        assert_eq!(cuts[0].data.len(), chunk.len());
    }

    #[test]
    fn lost_data_drops_the_segment_being_built_and_marks_a_break() {
        let mut s = Segmenter::default();
        feed_gops(&mut s, &[0, 1_000]);
        s.lost();
        let cuts = feed_gops(&mut s, &[30_000, 31_000, 32_000]);
        assert_eq!(durations(&cuts), [(2.0, true)]);
    }

    #[test]
    fn a_segment_never_grows_past_its_cap() {
        let mut s = Segmenter::default();
        feed_gops(&mut s, &[0]);
        let plain: Vec<u8> = plain().repeat(1000);
        let mut cuts = Vec::new();
        for _ in 0..(3 * CUT_BYTES_MAX / plain.len() + 1) {
            cuts.extend(feed(&mut s, &plain));
        }
        assert!(cuts.len() >= 2, "{}", cuts.len());
        assert!(cuts.iter().all(|c| c.data.len() <= CUT_BYTES_MAX));
    }

    #[test]
    fn every_join_point_in_a_chunk_counts_and_a_pat_alone_is_none() {
        let mut s = Segmenter::default();
        // Ten GOPs of 500 ms in one chunk, a PAT without a keyframe among them.
        let mut chunk: Vec<u8> = (0..10).flat_map(|n| gop(Some(n * 500), 2)).collect();
        chunk.extend(pat());
        chunk.extend(plain());
        chunk.extend(gop(Some(5_000), 2));
        let cuts = feed(&mut s, &chunk);
        assert_eq!(durations(&cuts), [(2.0, false), (2.0, false)]);
        assert_eq!(cuts[0].data.len(), 4 * 4 * PACKET);
        assert_eq!(cuts[1].data.len(), 4 * 4 * PACKET);
    }

    #[test]
    fn a_stream_without_flagged_keyframes_is_cut_at_pats_by_its_audio_times() {
        let mut s = Segmenter::default();
        // Radio: a PAT and an audio frame every 500 ms, never a video keyframe.
        let chunks: Vec<Vec<u8>> = (0..9)
            .map(|n| [pat(), audio(n * 45_000), plain()].concat())
            .collect();
        let cuts: Vec<Cut> = chunks.iter().flat_map(|c| feed(&mut s, c)).collect();
        assert_eq!(durations(&cuts), [(2.0, false), (2.0, false)]);
        assert_eq!(cuts[0].data[..PACKET], pat()[..], "cut at a PAT");
    }

    #[test]
    fn a_jump_ahead_of_more_than_15_s_is_a_break() {
        let mut s = Segmenter::default();
        let cuts = feed_gops(&mut s, &[0, 1_000, 31_000, 32_000, 33_000]);
        assert_eq!(durations(&cuts), [(1.0, false), (2.0, true)]);
    }

    #[test]
    fn a_reconnect_ends_the_segment_and_marks_a_break() {
        let mut s = Segmenter::default();
        feed_gops(&mut s, &[0, 1_000]);
        let mut cuts = Vec::new();
        s.feed(&Bytes::from(gop(Some(1_500), 3)), true, &mut |c| {
            cuts.push(c)
        });
        assert_eq!(
            durations(&cuts),
            [(1.0, false)],
            "what was built, up to the reconnect"
        );
        let after = feed_gops(&mut s, &[2_500, 3_500]);
        assert_eq!(durations(&after), [(2.0, true)]);
    }

    #[test]
    fn after_a_size_cut_the_first_timed_join_point_cuts_at_once() {
        let mut s = Segmenter::default();
        feed_gops(&mut s, &[0]);
        let plain = plain().repeat(1000);
        let mut cuts = Vec::new();
        while cuts.is_empty() {
            cuts.extend(feed(&mut s, &plain));
        }
        let next = feed_gops(&mut s, &[500, 1_000, 3_000]);
        assert_eq!(
            durations(&next),
            [(2.0, false), (2.5, false)],
            "then by time again"
        );
    }

    #[test]
    fn the_store_holds_at_least_two_cuts() {
        const { assert!(2 * CUT_BYTES_MAX <= CUT_RING_BYTES) };
    }
}
