//! Blocking work off the executor: resolving a name, reading a file.
//!
//! [`off_executor`] is the one way acebox runs a blocking call: on smol's blocking pool, while
//! the executor serves everyone else. Its callers' closures are boxed into one type, so the
//! pool's machinery is built into the binary once, not once per caller (about 3.5 KB each on
//! MIPS). It never blocks the executor and never runs anything but what it is handed.

use std::any::Any;

/// What the pool runs: every caller's work, as one type.
type Work = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// Runs `work` on the blocking pool and waits for its result without blocking the executor.
pub async fn off_executor<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let work: Work = Box::new(move || Box::new(work()));
    match smol::unblock(work).await.downcast::<T>() {
        Ok(done) => *done,
        // The box holds what `work` returned, a `T`, whatever the pool did with it.
        Err(_) => unreachable!("the blocking pool returned another type"),
    }
}
