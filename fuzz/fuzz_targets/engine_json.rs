//! The engine's JSON answers, fed arbitrary bytes: every parser in `acebox::engine` reads the same
//! input, as any of them may be handed anything the engine (or whatever answers at its address)
//! sends.
//!
//! Nothing may panic, and:
//! - a start answer that gives a session (`engine::parse_start`) holds only engine paths that are
//!   their own rebase (a path and query, never a host), with a playback path always present and
//!   the stat and command paths present or empty;
//! - a stat answer (`engine::parse_stat`) that reads keeps the engine's words within their
//!   fixed-size fields, which its types guarantee: what is checked is that reading never panics.

#![no_main]

use acebox::engine::{StartAnswer, parse_start, parse_stat, rebase};
use acebox::session::Session;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    check_start(parse_start(body));
    // Ok or a refusal, whatever the bytes: both are for the status page only.
    let _ = parse_stat(body);
});

fn check_start(answer: Result<Session, StartAnswer>) {
    let Ok(session) = answer else {
        return;
    };
    assert!(is_engine_path(&session.playback), "{session:?}");
    for path in [&session.stat, &session.command] {
        assert!(path.is_empty() || is_engine_path(path), "{session:?}");
    }
}

/// A path and query on the engine: what `rebase` keeps of it is all of it.
fn is_engine_path(path: &str) -> bool {
    rebase(path).as_deref() == Some(path)
}
