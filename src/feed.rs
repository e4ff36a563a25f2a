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
use std::sync::atomic::{AtomicBool, Ordering};
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
#[derive(Default)]
pub struct Events {
    stopped: AtomicBool,
    changed: Event,
}

/// The right to stop a channel: made only with its [`Events`] ([`Events::new`]) and kept by the
/// channel, never lent to a feed or a client.
pub struct Stop(());

impl Events {
    /// A channel's events, unstopped, and the right to stop it.
    pub fn new() -> (Events, Stop) {
        (Events::default(), Stop(()))
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
    /// once is notified by the caller.
    pub fn mark_stopped(&self, _: &Stop) {
        self.stopped.store(true, Ordering::Release);
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
