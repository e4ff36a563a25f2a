//! What every feed shares: the narrow [`Context`] a channel lends it, the [`Feeder`] step its
//! supervisor drives, and the [`Events`] (stop flag and change event) feeds and clients wait on.
//!
//! A feed (the HLS fetch loop, the TS reader, the segmenter that derives HLS from TS) gets its
//! own store and this context, never the channel: it reads the engine, fills its store, counts
//! and wakes whoever waits. A TS client's stream gets less (`ts::stream::Lent`: no engine).
//! Neither may stop the channel: that takes the channel's [`Stop`]. Healing the session after a failed
//! step is the channel's (`channel::supervise`). This module imports the layers below it
//! (`counters`) and the engine client, never `channel`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use event_listener::{Event, EventListener};

use crate::counters::Counters;
use crate::engine::{Engine, EngineError};
use crate::session::Session;

/// What a feed may use of its channel.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The channel's content id, for the log.
    pub id: &'a str,
    pub engine: &'a Engine,
    pub counters: &'a Counters,
    pub events: &'a Events,
}

/// One way of feeding a channel's store from its engine session: the HLS fetch loop or the TS
/// reader.
pub trait Feeder {
    /// Reads what the session has for now; returns how long to wait before the next step. An
    /// error makes the channel heal its session before the next step.
    fn step(
        &mut self,
        cx: &Context<'_>,
        session: &Session,
    ) -> impl Future<Output = Result<Duration, EngineError>> + Send;
}

/// A channel's stop flag and change event: set once when the channel stops; fired on every
/// change (new data, an error, a session, a stop). Anyone lent them may wait; only the holder
/// of their [`Stop`] (the channel) may set the flag.
pub struct Events {
    stopped: AtomicBool,
    changed: Event,
    /// Which [`Stop`] may set `stopped`.
    key: u64,
}

/// The right to stop a channel: made only with its [`Events`] ([`Events::new`], which only the
/// channel calls) and kept by the channel, never lent to a feed or a client. It stops no other
/// channel's events.
pub struct Stop(u64);

impl Events {
    /// A channel's events, unstopped, and the right to stop it. Crate-visible for the channel
    /// (and unit tests that stand in for one); a feed or a client is only ever lent `&Events`.
    pub(crate) fn new() -> (Events, Stop) {
        static KEYS: AtomicUsize = AtomicUsize::new(0);
        let key = KEYS.fetch_add(1, Ordering::Relaxed) as u64;
        let events = Events {
            stopped: AtomicBool::new(false),
            changed: Event::new(),
            key,
        };
        (events, Stop(key))
    }

    /// Wakes whoever waits for the channel to change.
    pub fn notify(&self) {
        self.changed.notify(usize::MAX);
    }

    /// A listener for the next change; take it before checking the state it waits for.
    pub fn listen(&self) -> EventListener {
        self.changed.listen()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Marks the channel stopped (for good), by the holder of its [`Stop`]; whoever must know at
    /// once is notified by the caller. Another channel's `Stop` does nothing.
    pub(crate) fn mark_stopped(&self, stop: &Stop) {
        if stop.0 == self.key {
            self.stopped.store(true, Ordering::Release);
        }
    }

    /// Returns once the channel is stopped.
    pub async fn stopped(&self) {
        loop {
            let listener = self.listen();
            if self.is_stopped() {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_channels_own_stop_stops_it() {
        let (events, stop) = Events::new();
        let (_, other) = Events::new();
        events.mark_stopped(&other);
        assert!(!events.is_stopped(), "another channel's Stop");
        events.mark_stopped(&stop);
        assert!(events.is_stopped());
    }
}
