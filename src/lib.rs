//! acebox: one AceStream engine session per channel, fanned out to every client on the network.
//!
//! The binary (`src/main.rs`) parses the command line and wires these modules together; the
//! engine simulator (`src/bin/acebox-sim/`) reuses the transport.
//!
//! Data flows one way: each module imports only modules of a lower layer (ARCHITECTURE.md has
//! the picture; `tests/layout.rs` checks it).
//! 0. [`board`], [`clock`], [`logger`], [`lock`], [`xml`], [`Cut`]: constants, time, the log
//!    sink, the lock helper, XML escaping, the signal that takes a ring item back from a slow
//!    client;
//! 1. [`http`] (the transport), [`session`] (the slot), [`storage`] (the ring and the typed
//!    stores of segments and chunks), [`counters`];
//! 2. [`engine`]: the engine's API on the transport;
//! 3. [`feed`]: the small context every feed gets;
//! 4. the feeds, [`hls`] and [`ts`]: each fills its own store and never sees the channel;
//! 5. [`channel`]: content ids, clients, session supervision and the registry; it builds each
//!    feed's context and spawns the feed;
//! 6. [`channel_list`], [`config`] and [`search`] (the engine's search as playlists and a
//!    guide); 7. [`app`], the shared state; 8. [`report`], what acebox is doing and its views,
//!    and [`lan`], being found on the home network (HDHomeRun, SSDP, DLNA); 9. [`router`],
//!    requests to responses.
//!
//! Rules the compiler keeps: no `unsafe`, and no `unwrap`/`expect` outside tests (an error is a
//! value with a message, a lock goes through [`lock`]).

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod board;
pub mod channel;
pub mod channel_list;
pub mod clock;
pub mod config;
pub mod counters;
pub mod engine;
pub mod feed;
pub mod hls;
pub mod http;
pub mod lan;
pub mod logger;
pub mod report;
pub mod router;
pub mod search;
pub mod session;
pub mod storage;
pub mod ts;
pub mod xml;

/// The 64-bit atomic behind acebox's counters, timestamps and ids: std's wherever the target
/// has 64-bit atomics (x86_64, aarch64, armv7), and portable-atomic's on 32-bit MIPS, which has
/// none (no 64-bit LL/SC). There portable-atomic's `fallback` keeps a table of spinlocks hashed
/// by the atomic's address (loads are seqlock reads that take no lock), held for a few
/// instructions per update; acebox updates these once per segment, chunk, engine start or
/// connection, never per byte, so no hot path waits on them. See BENCHMARKS.md (MIPS).
#[cfg(not(target_has_atomic = "64"))]
pub use portable_atomic::AtomicU64;
#[cfg(target_has_atomic = "64")]
pub use std::sync::atomic::AtomicU64;

/// The longest start of `text` made of whole characters that fits in `N` bytes: how acebox
/// keeps a name or a message from outside in a fixed-size field.
pub fn clip<const N: usize>(text: &str) -> heapless::String<N> {
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // Cannot fail: at most N bytes.
    heapless::String::try_from(&text[..end]).unwrap_or_default()
}

/// Starts `task` on the executor: the one way acebox spawns. Every task is boxed to the one
/// type `Pin<Box<dyn Future>>`, so the executor's machinery for running a task is compiled
/// once instead of once per kind of task: tens of kilobytes on a router's flash, for an
/// allocation per task (a connection, a channel's feed) that is made anyway.
pub fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> smol::Task<()> {
    let task: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(task);
    smol::spawn(task)
}

/// A signal set once, for good, that a task can wait on. The ring sets an item's when it takes
/// the item back from a client still being sent it (`storage::ring`), and the connection
/// sending it watches it and is cut off (`http::stall`), which frees the item.
#[derive(Debug, Default)]
pub struct Cut {
    set: std::sync::atomic::AtomicBool,
    event: event_listener::Event,
}

impl Cut {
    pub fn cut(&self) {
        self.set.store(true, std::sync::atomic::Ordering::Release);
        self.event.notify(usize::MAX);
    }

    pub fn is_cut(&self) -> bool {
        self.set.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Resolves once [`Cut::cut`] is called after this (look at [`Cut::is_cut`] after
    /// listening, so that a cut in between is not missed).
    pub fn listen(&self) -> event_listener::EventListener {
        self.event.listen()
    }
}

/// Locks `mutex`, the one way acebox takes a std lock. Nothing under acebox's locks can panic
/// half-way through an update (they guard plain copies and pushes), so a lock poisoned by a
/// panic elsewhere still holds a consistent value and is used as it is.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
