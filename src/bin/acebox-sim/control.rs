//! The control API tests drive the simulator with: `/sim/stats`, `/sim/supersede`,
//! `/sim/expire`, `/sim/restart`, `/sim/config`, and `/sim/segment`, which hands the load
//! generator the bytes a segment must have without counting as a fetch.
//!
//! This module owns reading those requests and answering them in JSON. It never imitates the
//! engine's own API (that is `api`) and never waits.

use std::time::Instant;

use acebox::http::{Body, json_error, query_pairs, query_param, respond};
use hyper::{Response, StatusCode};

use crate::api::MPEG_TS;
use crate::engine::{INTRUDER, KnobChange};
use crate::json;
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
/// does not pass silently.
pub fn knobs(query: &str) -> Result<KnobChange, String> {
    let mut change = KnobChange::default();
    let (mut status, mut count) = (None, None);
    for (name, value) in query_pairs(query) {
        match name.as_ref() {
            "burst" => change.burst = Some(whole(&name, &value, 1)?),
            "off_host" => change.off_host = Some(switch(&name, &value)?),
            "playlist_status" => status = Some(http_status(&value)?),
            "count" => count = Some(whole(&name, &value, 0)?),
            "fail_id" if !value.is_empty() => change.fail_ids.push(ids::content_key(&value)),
            "prebuffer_ms" => change.prebuffer_ms = Some(whole(&name, &value, 0)?),
            "ts_stall_ms" => change.ts_stall_ms = Some(whole(&name, &value, 0)?),
            _ => return Err(format!("unknown knob or empty value: {name}={value}")),
        }
    }
    match (status, count) {
        (Some(status), count) => change.playlist_status = Some((status, count.unwrap_or(1))),
        (None, Some(_)) => return Err("count goes with playlist_status".to_owned()),
        (None, None) => {}
    }
    Ok(change)
}

fn whole(name: &str, value: &str, min: u64) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("{name} wants a whole number of at least {min}, not {value:?}"))
}

fn switch(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(format!("{name} wants 0 or 1, not {value:?}")),
    }
}

fn http_status(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .ok_or_else(|| format!("playlist_status wants an HTTP status 200-599, not {value:?}"))
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
            "burst=3&off_host=1&playlist_status=503&count=2&fail_id=ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD&prebuffer_ms=900&ts_stall_ms=3000",
        )
        .unwrap();
        assert_eq!(
            change,
            KnobChange {
                burst: Some(3),
                off_host: Some(true),
                playlist_status: Some((503, 2)),
                fail_ids: vec!["abcdefabcdefabcdefabcdefabcdefabcdefabcd".to_owned()],
                prebuffer_ms: Some(900),
                ts_stall_ms: Some(3000),
            }
        );
        assert_eq!(
            knobs("playlist_status=404").unwrap().playlist_status,
            Some((404, 1))
        );
        assert_eq!(knobs("").unwrap(), KnobChange::default());
    }

    #[test]
    fn knobs_refuse_typos_and_bad_values() {
        for bad in [
            "brust=2",
            "burst=0",
            "off_host=yes",
            "playlist_status=99",
            "playlist_status=abc",
            "count=2",
            "fail_id=",
            "prebuffer_ms=-1",
            "ts_stall_ms=",
        ] {
            assert!(knobs(bad).is_err(), "{bad} must be refused");
        }
    }
}
