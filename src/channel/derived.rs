//! Derived feeds: the HLS segments a channel whose session plays MPEG-TS cuts for its HLS
//! players (a TV opened it with `/ace/getstream`, then a phone asked for
//! `/ace/manifest.m3u8`; one engine session cannot be both).
//!
//! Owns when the segmenter runs: from the first HLS player of a TS channel until none is left,
//! then its segments are let go and the next HLS player starts it again. The cutting itself is
//! `ts::segmenter`'s; this never parses a packet.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Channel;
use super::clients::Protocol;
use crate::clock;
use crate::storage::{Chunks, Segments, Store};
use crate::ts::segmenter;

impl Channel {
    /// The HLS segments this channel's HLS players get: the fetch loop's, or for a TS channel
    /// those cut from its stream, starting the segmenter for the first such player.
    pub fn hls_segments(self: &Arc<Self>) -> &Segments {
        let chunks = match &self.store {
            Store::Hls(segments) => return segments,
            Store::Ts(chunks) => chunks,
        };
        let cut = self.cut.get_or_init(|| {
            let first = crate::hls::first_media_sequence(clock::unix_ms());
            Arc::new(segmenter::store(first))
        });
        if self.start_cutting() {
            log::info!(
                "channel {}: cutting HLS segments from its MPEG-TS stream",
                self.id.as_str()
            );
            let (channel, chunks, segments) = (self.clone(), chunks.clone(), cut.clone());
            crate::spawn(async move { channel.cut(&chunks, &segments).await }).detach();
        }
        cut
    }

    /// Cuts `chunks` into `segments` while the channel has HLS players; when the last has gone,
    /// lets the segments go and returns.
    async fn cut(&self, chunks: &Chunks, segments: &Segments) {
        loop {
            let watched = || self.has_hls_players(clock::now_ms());
            segmenter::cut_while(chunks, segments, &self.events, watched).await;
            segments.ring.clear();
            if self.stop_cutting(clock::now_ms()) {
                break;
            }
        }
        log::info!(
            "channel {}: no HLS player left; HLS segments no longer cut",
            self.id.as_str()
        );
    }

    /// Marks the segmenter running; false if it already was.
    fn start_cutting(&self) -> bool {
        self.cutting
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the segmenter has work at `now`: the channel plays and has an HLS player.
    fn has_hls_players(&self, now: u64) -> bool {
        !self.is_stopped() && self.clients.any(Protocol::Hls, now, self.client_ttl_ms())
    }

    /// The segmenter stops, its segments let go. False when an HLS player came meanwhile (it
    /// found the segmenter running and started none): then it goes on.
    fn stop_cutting(&self, now: u64) -> bool {
        self.cutting.store(false, Ordering::Release);
        !(self.has_hls_players(now) && self.start_cutting())
    }
}
