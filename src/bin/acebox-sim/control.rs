//! The control API tests drive the simulator with: `/sim/stats`, `/sim/supersede`,
//! `/sim/expire`, `/sim/kill` (the content's broadcast dies), `/sim/restart`, `/sim/config`
//! (runtime knobs and one-off faults), `/sim/segment`, which hands the load generator the bytes
//! a segment must have without counting as a fetch, and `/sim/search` (the search's counts and
//! faults, in `search`).
//!
//! This module owns reading those requests and answering them in JSON. It never imitates the
//! engine's own API (that is `api`) and never waits.

use std::time::Instant;

use acebox::http::{Body, json_error, query_pairs, query_param, respond};
use hyper::{Response, StatusCode};

use crate::api::MPEG_TS;
use crate::engine::{Fault, INTRUDER, KnobChange};
use crate::json;
use crate::playlist::OFF_HOST;
use crate::{Sim, ids};

/// Answers `/sim/<name>?<query>`.
pub fn handle(sim: &Sim, name: &str, query: &str) -> Response<Body> {
    let now = Instant::now();
    match name {
        "stats" => stats(sim, now),
        "supersede" => with_content(query, |content| {
            let started = sim.engine().supersede(&content, now);
            eprintln!(
                "acebox-sim: supersede {content:?} by {INTRUDER} ({} session(s))",
                started.superseded
            );
            stats(sim, now)
        }),
        "expire" => with_content(query, |content| {
            let expired = sim.engine().expire(&content, now);
            eprintln!("acebox-sim: expire {content:?} ({expired} session(s))");
            json_ok(format!("{{\"ok\": true, \"expired\": {expired}}}"))
        }),
        "kill" => with_content(query, |content| {
            let known = sim.engine().kill(&content, now);
            eprintln!("acebox-sim: kill {content:?} (playing: {known})");
            json_ok(json::CONTROL_OK)
        }),
        "restart" => {
            sim.engine().restart();
            eprintln!("acebox-sim: restart");
            json_ok(json::CONTROL_OK)
        }
        "segment" => with_content(query, |content| match query_param(query, "n") {
            Some(n) => match n.parse::<u64>() {
                Ok(n) => reference_segment(sim, &content, n),
                Err(_) => json_error(StatusCode::BAD_REQUEST, "n wants a segment number"),
            },
            None => json_error(StatusCode::BAD_REQUEST, "n=<segment number> is required"),
        }),
        "search" => crate::search::control(sim, query),
        "config" => match knobs(query) {
            Ok(change) => {
                sim.engine().configure(change, now);
                json_ok(json::CONTROL_OK)
            }
            Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
        },
        _ => json_error(StatusCode::NOT_FOUND, "unknown control endpoint"),
    }
}

fn stats(sim: &Sim, now: Instant) -> Response<Body> {
    let snapshot = sim.engine().snapshot(now);
    json_ok(json::stats(&snapshot))
}

/// Segment `n` of `content` as `/ace/c/` serves it, whether or not it is live yet; neither a
/// fetch nor player activity, so `/sim/stats` still counts only the proxy's fetches.
fn reference_segment(sim: &Sim, content: &str, n: u64) -> Response<Body> {
    let infohash = ids::infohash(content);
    respond(StatusCode::OK, MPEG_TS, sim.media.segment(&infohash, n))
}

/// Runs `act` with the content named by `id`, or answers 400 without one.
fn with_content(query: &str, act: impl FnOnce(String) -> Response<Body>) -> Response<Body> {
    match query_param(query, "id").filter(|id| !id.is_empty()) {
        Some(id) => act(ids::content_key(&id)),
        None => json_error(StatusCode::BAD_REQUEST, "id=<content> is required"),
    }
}

/// Reads `/sim/config` knobs; an unknown knob or a bad value is an error, so a typo in a test
/// does not pass silently. `count` (default 1) says how many requests each fault named with it
/// spoils: `playlist_status=S` or `playlist_garbage=1` for playlists, `start_status=S` or
/// `start_garbage=1` for starts, `segment_status=S` for segments.
pub fn knobs(query: &str) -> Result<KnobChange, String> {
    let mut change = KnobChange::default();
    let (mut playlist, mut start, mut segment, mut count) = (None, None, None, None);
    for (name, value) in query_pairs(query) {
        match name.as_ref() {
            "burst" => change.burst = Some(whole(&name, &value, 1)?),
            "off_host" => change.off_host = Some(off_host(&value)?),
            "playlist_status" => set_fault(&mut playlist, Fault::Status(http_status(&value)?))?,
            "playlist_garbage" => set_fault(&mut playlist, garbage(&name, &value)?)?,
            "start_status" => set_fault(&mut start, Fault::Status(http_status(&value)?))?,
            "start_garbage" => set_fault(&mut start, garbage(&name, &value)?)?,
            "segment_status" => set_fault(&mut segment, Fault::Status(http_status(&value)?))?,
            "count" => count = Some(whole(&name, &value, 0)?),
            "fail_id" if !value.is_empty() => change.fail_ids.push(ids::content_key(&value)),
            "prebuffer_ms" => change.prebuffer_ms = Some(whole(&name, &value, 0)?),
            "ts_stall_ms" => change.ts_stall_ms = Some(whole(&name, &value, 0)?),
            "segment_stall_ms" => change.segment_stall_ms = Some(whole(&name, &value, 0)?),
            "oversize_segment" => {
                let bytes = whole(&name, &value, 1)?;
                let bytes = usize::try_from(bytes).map_err(|_| format!("{name} is too large"))?;
                change.oversize_segment = Some(bytes);
            }
            _ => return Err(format!("unknown knob or empty value: {name}={value}")),
        }
    }
    if playlist.is_none() && start.is_none() && segment.is_none() && count.is_some() {
        return Err("count goes with a playlist, start or segment fault".to_owned());
    }
    let count = count.unwrap_or(1);
    change.playlist_fault = playlist.map(|fault| (fault, count));
    change.start_fault = start.map(|fault| (fault, count));
    change.segment_fault = segment.map(|fault| (fault, count));
    Ok(change)
}

/// `playlist_garbage=1` or `start_garbage=1`: no other value means anything.
fn garbage(name: &str, value: &str) -> Result<Fault, String> {
    match value {
        "1" => Ok(Fault::Garbage),
        _ => Err(format!("{name} wants 1, not {value:?}")),
    }
}

/// Sets the one fault of a kind a request may name.
fn set_fault(slot: &mut Option<Fault>, fault: Fault) -> Result<(), String> {
    match slot.replace(fault) {
        None => Ok(()),
        Some(_) => Err("one fault of each kind at a time".to_owned()),
    }
}

/// `off_host=1` names the default off-host address, `off_host=HOST:PORT` another, `0` none.
fn off_host(value: &str) -> Result<Option<String>, String> {
    match value {
        "1" => Ok(Some(OFF_HOST.to_owned())),
        "0" => Ok(None),
        addr => match addr.parse::<std::net::SocketAddr>() {
            Ok(addr) => Ok(Some(addr.to_string())),
            Err(_) => Err(format!("off_host wants 0, 1 or ADDR:PORT, not {value:?}")),
        },
    }
}

fn whole(name: &str, value: &str, min: u64) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("{name} wants a whole number of at least {min}, not {value:?}"))
}

fn http_status(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .ok_or_else(|| format!("a fault status wants an HTTP status 200-599, not {value:?}"))
}

fn json_ok(body: impl Into<bytes::Bytes>) -> Response<Body> {
    respond(StatusCode::OK, "application/json", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_read_every_setting() {
        let change = knobs(
            "burst=3&off_host=1&playlist_status=503&count=2&fail_id=ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD&prebuffer_ms=900&ts_stall_ms=3000&segment_stall_ms=21000&oversize_segment=5000&start_garbage=1",
        )
        .unwrap();
        assert_eq!(
            change,
            KnobChange {
                burst: Some(3),
                off_host: Some(Some(OFF_HOST.to_owned())),
                playlist_fault: Some((Fault::Status(503), 2)),
                start_fault: Some((Fault::Garbage, 2)),
                segment_fault: None,
                fail_ids: vec!["abcdefabcdefabcdefabcdefabcdefabcdefabcd".to_owned()],
                prebuffer_ms: Some(900),
                ts_stall_ms: Some(3000),
                segment_stall_ms: Some(21000),
                oversize_segment: Some(5000),
            }
        );
        assert_eq!(
            knobs("playlist_status=404").unwrap().playlist_fault,
            Some((Fault::Status(404), 1))
        );
        let other = knobs(
            "playlist_garbage=1&start_status=500&segment_status=404&count=3&off_host=127.0.0.2:80",
        )
        .unwrap();
        assert_eq!(other.playlist_fault, Some((Fault::Garbage, 3)));
        assert_eq!(other.start_fault, Some((Fault::Status(500), 3)));
        assert_eq!(other.segment_fault, Some((Fault::Status(404), 3)));
        assert_eq!(other.off_host, Some(Some("127.0.0.2:80".to_owned())));
        assert_eq!(knobs("off_host=0").unwrap().off_host, Some(None));
        assert_eq!(knobs("").unwrap(), KnobChange::default());
    }

    #[test]
    fn knobs_refuse_typos_and_bad_values() {
        for bad in [
            "brust=2",
            "burst=0",
            "off_host=yes",
            "off_host=127.0.0.2",
            "playlist_status=99",
            "playlist_status=abc",
            "playlist_status=500&playlist_garbage=1",
            "start_garbage=2",
            "playlist_garbage=0",
            "start_status=600",
            "segment_status=500&segment_status=404",
            "segment_status=",
            "count=2",
            "fail_id=",
            "prebuffer_ms=-1",
            "ts_stall_ms=",
            "segment_stall_ms=soon",
            "oversize_segment=0",
        ] {
            assert!(knobs(bad).is_err(), "{bad} must be refused");
        }
    }
}
