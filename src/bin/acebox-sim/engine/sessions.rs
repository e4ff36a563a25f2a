//! Sessions: one per player id, started, superseded by another player's start of the same
//! content, expired when idle, stopped through the command URL, forgotten on a restart.
//!
//! This module owns the session table, tokens (rotated or not) and the rule that decides whether
//! a session-scoped URL is served, refused (403) or unknown (500). It never decides what a
//! playlist or stream holds (`hls`, `ts`) and never reads a clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Clock, Engine};
use crate::ids;

/// The player id `/sim/supersede` starts under.
pub const INTRUDER: &str = "sim-intruder";

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Live,
    /// Another player started the same content (playlist 403).
    Superseded,
    /// No player activity for the idle time, or `/sim/expire` (playlist 403).
    Expired,
    /// Stopped through its command URL (playlist 500).
    Stopped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Superseded => "superseded",
            State::Expired => "expired",
            State::Stopped => "stopped",
        }
    }
}

/// Who started a session, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Starter {
    Json,
    Redirect,
    /// `/sim/supersede`: not counted as a start.
    Intruder,
}

/// One player's session.
#[derive(Clone, Debug)]
pub struct Session {
    pub pid: String,
    pub content: String,
    pub infohash: String,
    pub token: String,
    pub session_id: String,
    pub state: State,
    pub(super) last_activity: Instant,
}

/// The session a `/content/` path or stream belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) pid: String,
    pub(super) session_id: String,
    pub(super) infohash: String,
}

/// Why a session-scoped URL is refused.
pub(super) enum Refusal {
    /// 500: no such session, or stopped.
    Unknown,
    /// 403: superseded, expired or an old rotated token.
    Forbidden,
}

/// What a start produced.
#[derive(Debug)]
pub struct Started {
    pub infohash: String,
    pub token: String,
    pub session_id: String,
    /// How many other players' sessions this start superseded.
    pub superseded: usize,
}

impl Engine {
    /// Starts `content` for `pid`: replaces that player's session and supersedes every other
    /// player's live session on the same content. Starts the content's clock if it has none.
    pub fn start(&mut self, pid: &str, content: &str, starter: Starter, now: Instant) -> Started {
        self.expire_idle(now);
        let infohash = ids::infohash(content);
        let prebuffer = Duration::from_millis(self.settings.prebuffer_ms);
        self.clocks
            .entry(infohash.clone())
            .or_insert_with(|| Clock::new(now, prebuffer, &self.wall));
        let superseded = self.supersede_others(pid, content);
        let token = self.next_token(pid);
        if let Some(old) = self.sessions.get(pid).filter(|old| old.token != token) {
            self.retired_tokens.insert(old.token.clone());
        }
        self.serial += 1;
        let session = Session {
            pid: pid.to_owned(),
            content: content.to_owned(),
            infohash: infohash.clone(),
            token: token.clone(),
            session_id: ids::session_id(self.seed, self.serial),
            state: State::Live,
            last_activity: now,
        };
        let session_id = session.session_id.clone();
        self.sessions.insert(pid.to_owned(), session);
        self.count_start(starter);
        Started {
            infohash,
            token,
            session_id,
            superseded,
        }
    }

    fn supersede_others(&mut self, pid: &str, content: &str) -> usize {
        let others = self
            .sessions
            .values_mut()
            .filter(|s| s.pid != pid && s.content == content && s.state == State::Live);
        others.map(|s| s.state = State::Superseded).count()
    }

    fn next_token(&mut self, pid: &str) -> String {
        if self.settings.rotate_tokens {
            self.rotation += 1;
            ids::token(pid, Some(self.rotation))
        } else {
            ids::token(pid, None)
        }
    }

    fn count_start(&mut self, starter: Starter) {
        let c = &mut self.counters;
        match starter {
            Starter::Json => c.json_starts += 1,
            Starter::Redirect => c.redirect_starts += 1,
            Starter::Intruder => return,
        }
        c.starts += 1;
    }

    /// Stops a live session; `false` when there is none at `infohash`/`token`.
    pub fn stop(&mut self, infohash: &str, token: &str, now: Instant) -> bool {
        self.expire_idle(now);
        let Some(session) = self.find_live_mut(infohash, token) else {
            return false;
        };
        session.state = State::Stopped;
        self.counters.stops += 1;
        true
    }

    /// Another player starts `content`, superseding everyone else on it.
    pub fn supersede(&mut self, content: &str, now: Instant) -> Started {
        self.start(INTRUDER, content, Starter::Intruder, now)
    }

    /// Expires every live session on `content`; returns how many.
    pub fn expire(&mut self, content: &str, now: Instant) -> usize {
        self.expire_idle(now);
        let live = self.sessions.values_mut().filter(|s| s.content == content);
        live.filter(|s| s.state == State::Live)
            .map(|s| s.state = State::Expired)
            .count()
    }

    /// The broadcast of `content` dies at `now`: its sessions stay, but no new media comes and
    /// nobody shares it (its stat says no peers), for sessions started later too. Returns
    /// whether the engine had a clock for it.
    pub fn kill(&mut self, content: &str, now: Instant) -> bool {
        let infohash = crate::ids::infohash(content);
        let prebuffer = Duration::from_millis(self.settings.prebuffer_ms);
        let wall = self.wall;
        let clock = self.clocks.entry(infohash);
        let known = matches!(clock, std::collections::hash_map::Entry::Occupied(_));
        clock
            .or_insert_with(|| Clock::new(now, prebuffer, &wall))
            .kill(now);
        known
    }

    /// Forgets every session, token and content clock, as an engine restart does; the fetch
    /// counters and knobs stay.
    pub fn restart(&mut self) {
        self.sessions.clear();
        self.clocks.clear();
        self.retired_tokens.clear();
        self.ts_paths.clear();
        self.rotation = 0;
    }

    /// Turns live sessions without player activity for the idle time into expired ones; a
    /// session with an open TS stream is active.
    pub(super) fn expire_idle(&mut self, now: Instant) {
        let idle = Duration::from_millis(self.settings.idle_ms);
        let open = &self.open_streams;
        let live = self
            .sessions
            .values_mut()
            .filter(|s| s.state == State::Live && !open.contains_key(&s.session_id));
        for session in live.filter(|s| now.saturating_duration_since(s.last_activity) >= idle) {
            session.state = State::Expired;
        }
    }

    /// The live session at `infohash`/`token`, touched as player activity.
    pub(super) fn admit(
        &mut self,
        infohash: &str,
        token: &str,
        now: Instant,
    ) -> Result<Owner, Refusal> {
        self.expire_idle(now);
        let retired = self.retired_tokens.contains(token);
        let Some(session) = self.find_mut(infohash, token) else {
            return Err(if retired {
                Refusal::Forbidden
            } else {
                Refusal::Unknown
            });
        };
        match session.state {
            State::Stopped => Err(Refusal::Unknown),
            State::Superseded | State::Expired => Err(Refusal::Forbidden),
            State::Live => {
                session.last_activity = now;
                Ok(Owner {
                    pid: session.pid.clone(),
                    session_id: session.session_id.clone(),
                    infohash: session.infohash.clone(),
                })
            }
        }
    }

    /// Player activity for `owner`'s session, if it is still the live one.
    pub(super) fn touch(&mut self, owner: &Owner, now: Instant) {
        if is_current(&self.sessions, owner) {
            if let Some(session) = self.sessions.get_mut(&owner.pid) {
                session.last_activity = now;
            }
        }
    }

    fn find_mut(&mut self, infohash: &str, token: &str) -> Option<&mut Session> {
        self.sessions
            .values_mut()
            .find(|s| s.infohash == infohash && s.token == token)
    }

    pub(super) fn find_live_mut(&mut self, infohash: &str, token: &str) -> Option<&mut Session> {
        self.find_mut(infohash, token)
            .filter(|s| s.state == State::Live)
    }
}

/// Whether `owner`'s session is still its player's live session (not replaced, not ended).
pub(super) fn is_current(sessions: &HashMap<String, Session>, owner: &Owner) -> bool {
    sessions
        .get(&owner.pid)
        .is_some_and(|s| s.session_id == owner.session_id && s.state == State::Live)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::engine::{Playlist, Settings};

    #[test]
    fn same_pid_replaces_other_pid_supersedes() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        let again = e.start("p1", A, Starter::Redirect, t0);
        assert_eq!(a.token, again.token);
        assert_ne!(a.session_id, again.session_id);
        assert_eq!(again.superseded, 0);
        let b = e.start("p2", A, Starter::Json, ms(t0, 1500));
        assert_eq!(b.superseded, 1);
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 1500)),
            Playlist::Forbidden
        );
        assert!(matches!(
            e.playlist(&b.infohash, &b.token, ms(t0, 1500)),
            Playlist::Ready { .. }
        ));
        let c = e.snapshot(ms(t0, 1500)).counters;
        assert_eq!((c.starts, c.json_starts, c.redirect_starts), (3, 2, 1));
    }

    #[test]
    fn rotated_tokens_retire_the_old_one() {
        let mut e = engine(Settings {
            rotate_tokens: true,
            ..settings()
        });
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        let b = e.start("p1", A, Starter::Json, t0);
        assert_ne!(a.token, b.token);
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 2000)),
            Playlist::Forbidden
        );
    }

    #[test]
    fn stop_expire_and_idle_end_sessions() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        assert!(e.stat(&a.infohash, &a.token, true, ms(t0, 100)).is_some());
        assert!(e.stop(&a.infohash, &a.token, ms(t0, 200)));
        assert!(!e.stop(&a.infohash, &a.token, ms(t0, 200)));
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 2000)),
            Playlist::Unknown
        );

        let b = e.start("p1", A, Starter::Json, ms(t0, 2000));
        assert_eq!(e.expire(A, ms(t0, 2000)), 1);
        assert_eq!(
            e.playlist(&b.infohash, &b.token, ms(t0, 2000)),
            Playlist::Forbidden
        );
        assert!(e.stat(&b.infohash, &b.token, true, ms(t0, 2000)).is_none());

        let c = e.start("p1", A, Starter::Json, ms(t0, 3000));
        assert!(
            e.stat(&c.infohash, &c.token, false, ms(t0, 12_000))
                .is_some()
        );
        let state = e.snapshot(ms(t0, 13_000)).sessions[0].state;
        assert_eq!(
            state,
            State::Expired,
            "a stat without activity does not keep it alive"
        );
    }

    #[test]
    fn restart_forgets_sessions_and_clocks_but_keeps_counters() {
        let mut e = engine(settings());
        let t0 = Instant::now();
        let a = e.start("p1", A, Starter::Json, t0);
        assert!(e.segment(&a.infohash, 0, ms(t0, 5000)));
        e.restart();
        assert_eq!(
            e.playlist(&a.infohash, &a.token, ms(t0, 5000)),
            Playlist::Unknown
        );
        let b = e.start("p1", A, Starter::Json, ms(t0, 5000));
        let Playlist::Ready { window, .. } = e.playlist(&b.infohash, &b.token, ms(t0, 6000)) else {
            panic!("ready")
        };
        assert_eq!(window.first, 0, "the clock started again");
        let snap = e.snapshot(ms(t0, 6000));
        assert_eq!((snap.counters.starts, snap.distinct_segments), (2, 1));
    }
}
