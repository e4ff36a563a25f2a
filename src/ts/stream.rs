//! A TS client's body: a cursor into its channel's store, pulled by hyper as fast as the client
//! reads, so nobody ever waits for anybody else.
//!
//! [`TsStream`] owns one client's place in the stream: a new client starts at the newest point a
//! player can start decoding ([`Store::stream_start`]); one that reaches a break in the engine's
//! stream (a reconnect, a move to a backup) goes on at the new stream's first such point
//! ([`Store::resume_at`]); one that falls off the end of the ring skips to the newest such
//! point, and one that has to skip too often ([`Skips`]) is dropped.
//! A TS client of a channel played as HLS reads its segments back to back. The stream reads
//! its channel through a [`Source`] the channel lends (and which keeps the client counted while
//! it lives); it never imports the channel, never writes to a socket itself and never reads a
//! clock but in `poll_frame`, its async edge.

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use event_listener::EventListener;
use hyper::body::{Body, Frame, SizeHint};

use crate::counters::Counters;
use crate::feed::Events;
use crate::http::Stalled;
use crate::storage::{Resume, Store};

/// A client that had to skip this many times within `SKIP_WINDOW` is dropped: it cannot keep up.
const MAX_SKIPS: usize = 3;
const SKIP_WINDOW: Duration = Duration::from_secs(60);

/// What a TS client reads, lent by its channel. The client is one of the channel's until the
/// source is dropped.
pub trait Source: Send + Sync + Unpin + 'static {
    fn lent(&self) -> Lent<'_>;
}

/// What a TS client uses of its channel: the store it reads, the counters it adds to and the
/// events it waits on (never the engine, nor the right to stop the channel).
#[derive(Clone, Copy)]
pub struct Lent<'a> {
    /// The channel's content id, for the log.
    pub id: &'a str,
    pub store: &'a Store,
    pub counters: &'a Counters,
    pub events: &'a Events,
}

/// When a client last had to skip: the rule that drops one that cannot keep up.
#[derive(Default)]
pub struct Skips(heapless::Deque<u64, MAX_SKIPS>);

impl Skips {
    /// The client skips at `now` (milliseconds): false if that makes more than `MAX_SKIPS`
    /// within `SKIP_WINDOW`, and it is to be dropped.
    pub fn allow(&mut self, now: u64) -> bool {
        if self.0.is_full() {
            let oldest = self.0.pop_front().unwrap_or(now);
            if now.saturating_sub(oldest) < SKIP_WINDOW.as_millis() as u64 {
                return false;
            }
        }
        // Cannot fail: one was taken off a full queue.
        let _ = self.0.push_back(now);
        true
    }
}

/// One client's stream: a cursor into its channel's store. Holding it keeps the channel busy
/// (not idle) and the client counted.
pub struct TsStream<S: Source> {
    source: S,
    /// The next chunk to send, once joined.
    cursor: Option<u64>,
    /// Where in the cursor's chunk to start (a start point), for the first chunk after a join.
    offset: usize,
    /// The cursor is at a start point (a join or rejoin): its chunk is sent from `offset`
    /// without looking for a break before it.
    placed: bool,
    listener: Option<EventListener>,
    skips: Skips,
    /// The connection's flag, set if the transport cut the client off for not reading.
    stalled: Stalled,
    ended: bool,
}

impl<S: Source> TsStream<S> {
    /// A stream of what `source` holds, for a client whose connection sets `stalled`.
    pub fn new(source: S, stalled: Stalled) -> TsStream<S> {
        TsStream {
            source,
            cursor: None,
            offset: 0,
            placed: false,
            listener: None,
            skips: Skips::default(),
            stalled,
            ended: false,
        }
    }

    /// Moves to the newest start point after falling off the ring. Returns false when the
    /// client has skipped too often to keep it.
    fn skip(&mut self, now: u64) -> bool {
        let cx = self.source.lent();
        cx.counters.client_skips.add(1);
        if !self.skips.allow(now) {
            cx.counters.client_drops.add(1);
            log::info!("channel {}: dropped a TS client that cannot keep up", cx.id);
            return false;
        }
        self.cursor = None;
        true
    }

    /// The next frame if one is held, `None` to wait.
    fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        loop {
            let store = self.source.lent().store;
            let cursor = match self.cursor {
                Some(cursor) => cursor,
                None => {
                    let (seq, offset) = store.stream_start()?;
                    self.offset = offset;
                    self.placed = true;
                    seq
                }
            };
            if !self.placed {
                // After a break in the engine's stream, the client picks the new one up at a
                // point its player can start decoding from.
                match store.resume_at(cursor) {
                    Resume::Here => {}
                    Resume::At(seq, offset) => {
                        (self.cursor, self.offset, self.placed) = (Some(seq), offset, true);
                        continue;
                    }
                    Resume::Wait => {
                        self.cursor = Some(cursor);
                        return None;
                    }
                }
            }
            if let Some((data, cut)) = store.stream_item(cursor) {
                // Should the ring take it back from this client (the slowest), the connection
                // is cut off.
                self.stalled.watch(cut);
                let data = data.slice(self.offset.min(data.len())..);
                self.offset = 0;
                self.placed = false;
                self.cursor = Some(cursor + 1);
                return Some(Ok(data));
            }
            if cursor >= store.bounds().0 {
                // Caught up with the feed: wait for the next chunk.
                self.cursor = Some(cursor);
                return None;
            }
            if !self.skip(crate::clock::now_ms()) {
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client cannot keep up with the stream",
                );
                return Some(Err(e));
            }
        }
    }
}

impl<S: Source> Body for TsStream<S> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            if this.ended || this.source.lent().events.is_stopped() {
                this.ended = true;
                return Poll::Ready(None);
            }
            match this.next() {
                Some(Ok(data)) => {
                    this.listener = None;
                    this.source.lent().counters.bytes_out.add(data.len());
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
                    None => this.listener = Some(this.source.lent().events.listen()),
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

impl<S: Source> Drop for TsStream<S> {
    fn drop(&mut self) {
        if !self.ended && self.stalled.is_set() {
            let cx = self.source.lent();
            cx.counters.client_drops.add(1);
            log::info!(
                "channel {}: dropped a TS client that stopped reading or fell too far behind",
                cx.id
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ChunkMeta, Chunks};
    use http_body_util::BodyExt;
    use std::sync::Arc;

    /// A channel's parts, as a test holds them: no channel, no engine.
    struct Parts {
        store: Store,
        counters: Counters,
        events: Events,
    }

    impl Source for Arc<Parts> {
        fn lent(&self) -> Lent<'_> {
            Lent {
                id: "test",
                store: &self.store,
                counters: &self.counters,
                events: &self.events,
            }
        }
    }

    fn chunk(fill: u8, join: Option<u32>) -> (Bytes, ChunkMeta) {
        let meta = ChunkMeta {
            join,
            pat: join,
            fresh: false,
        };
        (Bytes::from(vec![fill; 4 * 188]), meta)
    }

    #[test]
    fn a_client_starts_at_the_newest_join_point_and_skips_when_it_falls_off() {
        let chunks = Arc::new(Chunks::default());
        let parts = Arc::new(Parts {
            store: Store::Ts(chunks.clone()),
            counters: Counters::default(),
            events: Events::new().0,
        });
        let push = |fill, join| {
            let (data, meta) = chunk(fill, join);
            chunks.ring.push(data, meta).unwrap()
        };
        push(0, Some(0));
        push(1, Some(188));
        push(2, None);
        let mut stream = TsStream::new(parts.clone(), Stalled::default());
        let mut next = || {
            let frame = futures_lite::future::block_on(stream.frame());
            frame.unwrap().unwrap().into_data().unwrap()
        };
        let first = next();
        assert_eq!(
            (first.len(), first[0]),
            (3 * 188, 1),
            "from the join point on"
        );
        assert_eq!(next()[0], 2);
        // The feed laps the client: it skips to the newest join point, once.
        for n in 0..crate::board::TS_CHUNKS {
            push(3 + (n % 200) as u8, None);
        }
        let newest = push(9, Some(376));
        let (seq, _) = parts.store.stream_start().unwrap();
        assert_eq!(seq, newest);
        assert_eq!(next()[..], [9; 2 * 188], "from its join point on");
        assert_eq!(parts.counters.client_skips.get(), 1);
        assert_eq!(parts.counters.client_drops.get(), 0);
        assert_eq!(parts.counters.bytes_out.get(), (3 + 4 + 2) * 188);
    }

    #[test]
    fn a_client_skipping_too_often_within_a_minute_is_dropped() {
        let mut skips = Skips::default();
        assert!(skips.allow(0) && skips.allow(10_000) && skips.allow(20_000));
        assert!(!skips.allow(59_999), "a fourth skip within the window");
        let mut spaced = Skips::default();
        for n in 0..10 {
            assert!(spaced.allow(n * 30_000), "one every 30 s is kept ({n})");
        }
    }
}
