//! The session slot: the one engine session a channel plays from, and the single-flight refresh
//! that replaces it.
//!
//! [`SessionSlot`] owns a fixed-size [`Session`] record behind a spinlock whose critical section
//! is a copy in or out: no I/O, no allocation, no await under it, so the fetch loop can read it on
//! every poll and a refresh can replace it at any moment. [`Flight`] makes concurrent refresh
//! requests share one engine start. This module never talks to the engine itself: the caller
//! passes the start as a future.

use std::future::Future;
use std::sync::Mutex;

use event_listener::Event;

/// Longest engine path (with query) a session keeps; the engine's are under 100 bytes.
pub const PATH_CAP: usize = 256;
/// A `playback_session_id` is 40 hex characters.
pub const ID_CAP: usize = 40;

/// A path and query on the engine, already rebased (it never names a host).
pub type EnginePath = heapless::String<PATH_CAP>;

/// One engine session, as started for a channel. Fixed size: copying it allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// Where the stream is read: the HLS playlist (or the TS stream).
    pub playback: EnginePath,
    /// Session statistics; empty when the engine only answered a redirect.
    pub stat: EnginePath,
    /// Session commands (`method=stop`); empty when the engine only answered a redirect.
    pub command: EnginePath,
    /// The engine's id for this start; empty when the engine only answered a redirect.
    pub playback_session_id: heapless::String<ID_CAP>,
    /// Which of its channel's sources (the id, then its backups) this session plays, and on
    /// which engine (an index into acebox's engines): a feed that sees either change knows the
    /// stream before it is another one.
    pub source: u8,
    pub engine: u8,
}

/// The channel's current session, replaced atomically as a whole.
#[derive(Default)]
pub struct SessionSlot {
    current: spin::Mutex<Option<Session>>,
}

impl SessionSlot {
    /// A copy of the current session, if one was ever stored.
    pub fn load(&self) -> Option<Session> {
        self.current.lock().clone()
    }

    /// Replaces the session.
    pub fn store(&self, session: Session) {
        *self.current.lock() = Some(session);
    }

    /// Empties the slot and hands back what it held, so the caller can stop it.
    pub fn take(&self) -> Option<Session> {
        self.current.lock().take()
    }
}

/// Makes concurrent refreshes share one run: whoever asks while a run is under way waits for it
/// and gets its outcome instead of starting another.
pub struct Flight<E> {
    state: Mutex<FlightState<E>>,
    landed: Event,
}

struct FlightState<E> {
    /// Runs begun and runs finished; `begun > finished` while one is under way.
    begun: u64,
    finished: u64,
    last: Option<Result<(), E>>,
}

impl<E: Clone> Default for Flight<E> {
    fn default() -> Self {
        Flight {
            state: Mutex::new(FlightState {
                begun: 0,
                finished: 0,
                last: None,
            }),
            landed: Event::new(),
        }
    }
}

impl<E: Clone> Flight<E> {
    /// Runs `start` and stores its session in `slot`, unless a run is already under way, in which
    /// case this waits for that one. Either way, returns the outcome of the run (the session
    /// stored, or the error). A run whose caller went away before it finished (a client hung up
    /// during a start) lands as abandoned, and whoever was waiting for it runs the start itself.
    pub async fn refresh<F, S>(&self, slot: &SessionSlot, start: S) -> Result<(), E>
    where
        S: FnOnce() -> F,
        F: Future<Output = Result<Session, E>>,
    {
        loop {
            let ticket = {
                let mut state = self.lock();
                if state.begun > state.finished {
                    Some(state.begun)
                } else {
                    state.begun += 1;
                    None
                }
            };
            let Some(ticket) = ticket else {
                let landing = Landing {
                    flight: self,
                    landed: false,
                };
                let outcome = start().await.map(|session| slot.store(session));
                landing.land(Some(outcome.clone()));
                return outcome;
            };
            if let Some(outcome) = self.wait_for(ticket).await {
                return outcome;
            }
        }
    }

    /// Waits until no run is under way (returns at once when none is).
    pub async fn idle(&self) {
        loop {
            let listener = self.landed.listen();
            {
                let state = self.lock();
                if state.begun == state.finished {
                    return;
                }
            }
            listener.await;
        }
    }

    /// Runs begun so far: a test can tell how many engine starts there were.
    #[cfg(test)]
    fn runs(&self) -> u64 {
        self.lock().begun
    }

    /// The outcome of run `ticket`; `None` if it was abandoned.
    async fn wait_for(&self, ticket: u64) -> Option<Result<(), E>> {
        loop {
            let listener = self.landed.listen();
            {
                let state = self.lock();
                if state.finished >= ticket {
                    return state.last.clone();
                }
            }
            listener.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FlightState<E>> {
        crate::lock(&self.state)
    }
}

/// Lands a run when it finishes, or as abandoned if its future is dropped first.
struct Landing<'a, E: Clone> {
    flight: &'a Flight<E>,
    landed: bool,
}

impl<E: Clone> Landing<'_, E> {
    fn land(mut self, outcome: Option<Result<(), E>>) {
        self.landed = true;
        let mut state = self.flight.lock();
        state.finished = state.begun;
        state.last = outcome;
        drop(state);
        self.flight.landed.notify(usize::MAX);
    }
}

impl<E: Clone> Drop for Landing<'_, E> {
    fn drop(&mut self) {
        if !self.landed {
            let landing = Landing {
                flight: self.flight,
                landed: false,
            };
            self.landed = true;
            landing.land(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    fn session(n: u32) -> Session {
        let text = format!("{n:040}");
        let mut s = Session::default();
        s.playback
            .push_str(&format!("/ace/m/{text}/p.m3u8"))
            .unwrap();
        s.stat.push_str(&format!("/ace/stat/{text}/p")).unwrap();
        s.command.push_str(&format!("/ace/cmd/{text}/p")).unwrap();
        s.playback_session_id.push_str(&text).unwrap();
        s
    }

    /// Readers on other threads never see the URLs of one session with the id of another.
    #[test]
    fn updates_are_atomic_under_concurrent_reads() {
        let slot = Arc::new(SessionSlot::default());
        slot.store(session(0));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (slot, done) = (slot.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut seen = 0u32;
                    while !done.load(Ordering::Relaxed) {
                        let s = slot.load().expect("stored before the readers started");
                        let id = s.playback_session_id.as_str();
                        assert!(s.playback.contains(id), "torn read: {s:?}");
                        assert!(s.stat.contains(id) && s.command.contains(id), "torn: {s:?}");
                        seen += 1;
                    }
                    seen
                })
            })
            .collect();
        for n in 1..20_000 {
            slot.store(session(n));
        }
        done.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().expect("a reader saw a torn session") > 0);
        }
        assert_eq!(
            slot.load().unwrap().playback_session_id,
            session(19_999).playback_session_id
        );
    }

    #[test]
    fn each_store_replaces_the_session_and_take_empties() {
        let slot = SessionSlot::default();
        assert_eq!(slot.load(), None);
        slot.store(session(1));
        slot.store(session(2));
        assert_eq!(slot.load(), Some(session(2)));
        assert_eq!(
            slot.take().unwrap().playback_session_id,
            session(2).playback_session_id
        );
        assert_eq!(slot.load(), None);
    }

    /// Ten refreshes asked while one is under way share it: one start, one stored session.
    #[test]
    fn concurrent_refreshes_share_one_start() {
        let slot = SessionSlot::default();
        let flight = Flight::<String>::default();
        let starts = AtomicU32::new(0);
        let gate = Event::new();
        let open = AtomicBool::new(false);
        smol::block_on(async {
            let start = || async {
                starts.fetch_add(1, Ordering::SeqCst);
                // Hold the run open until every other caller has joined it.
                while !open.load(Ordering::SeqCst) {
                    let l = gate.listen();
                    if open.load(Ordering::SeqCst) {
                        break;
                    }
                    l.await;
                }
                Ok(session(7))
            };
            let callers: Vec<_> = (0..10).map(|_| flight.refresh(&slot, start)).collect();
            let release = async {
                // Every caller has polled once (entered or joined) before this runs.
                futures_lite::future::yield_now().await;
                open.store(true, Ordering::SeqCst);
                gate.notify(usize::MAX);
            };
            let all = futures_lite::future::zip(join_all(callers), release)
                .await
                .0;
            assert!(all.iter().all(|r| *r == Ok(())), "{all:?}");
        });
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert_eq!(flight.runs(), 1);
        assert_eq!(
            slot.load().unwrap().playback_session_id,
            session(7).playback_session_id
        );
    }

    /// A refresh after the first has landed is a new start: a second client's connect replaces
    /// the session in the same slot, so the channel keeps one slot and sees the newer session.
    #[test]
    fn a_later_refresh_replaces_the_session_in_place() {
        let slot = SessionSlot::default();
        let flight = Flight::<String>::default();
        smol::block_on(async {
            assert_eq!(
                flight.refresh(&slot, || async { Ok(session(1)) }).await,
                Ok(())
            );
            assert_eq!(
                flight.refresh(&slot, || async { Ok(session(2)) }).await,
                Ok(())
            );
            let failed = flight.refresh(&slot, || async { Err("engine down".to_owned()) });
            assert_eq!(failed.await, Err("engine down".to_owned()));
        });
        assert_eq!(flight.runs(), 3);
        let s = slot.load().unwrap();
        assert_eq!(
            s.playback_session_id,
            session(2).playback_session_id,
            "a failed run keeps the last session"
        );
    }

    /// A client that hangs up while its connect runs the engine start must not leave the
    /// channel waiting forever: the next refresh runs a start of its own.
    #[test]
    fn an_abandoned_start_does_not_wedge_later_refreshes() {
        let slot = SessionSlot::default();
        let flight = Flight::<String>::default();
        smol::block_on(async {
            // The leader's start never finishes; its caller gives up after one poll.
            let abandoned = flight.refresh(&slot, futures_lite::future::pending);
            let gave_up = futures_lite::future::poll_once(abandoned).await;
            assert!(gave_up.is_none(), "still starting when dropped");
            let next = flight.refresh(&slot, || async { Ok(session(3)) });
            let outcome = futures_lite::future::or(next, async {
                async_io::Timer::after(std::time::Duration::from_secs(5)).await;
                Err("wedged".to_owned())
            });
            assert_eq!(outcome.await, Ok(()));
        });
        assert_eq!(flight.runs(), 2);
    }

    async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut out = Vec::new();
        let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
        // Poll all together, collecting in order.
        let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
        futures_lite::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in pinned.iter_mut().enumerate() {
                if results[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => results[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        out.extend(results.into_iter().map(|r| r.expect("all ready")));
        out
    }
}
