//! The JSON bodies the simulator answers with, written by hand in the engine's own field order.
//!
//! This module owns the text of every JSON answer. It never decides which answer a request gets
//! and never reads state beyond the values it is handed.

use acebox::http::push_json_string;

use crate::engine::{Snapshot, Started, Stat};

/// A dead or unknown session's stat or command answer.
pub const UNKNOWN_SESSION: &str = r#"{"response": null, "error": "unknown playback session id"}"#;
/// A start whose content cannot be loaded, in JSON mode.
pub const LOAD_FAILED: &str = r#"{"response": null, "error": "failed to load content"}"#;
/// A command that worked.
pub const COMMAND_OK: &str = r#"{"response": "ok", "error": null}"#;
/// `/webui/api/service?method=get_version`.
pub const VERSION: &str =
    r#"{"result": {"code": 3017000, "platform": "linux", "version": "3.1.70"}, "error": null}"#;
/// A control request that worked.
pub const CONTROL_OK: &str = r#"{"ok": true}"#;

/// The absolute URLs a start hands out.
pub struct StartUrls {
    pub playback: String,
    pub stat: String,
    pub command: String,
}

/// The JSON answer to a successful start.
pub fn started(urls: &StartUrls, started: &Started) -> String {
    format!(
        "{{\"response\": {{\"playback_url\": {}, \"stat_url\": {}, \"command_url\": {}, \
         \"infohash\": {}, \"playback_session_id\": {}, \"is_live\": 1, \"is_encrypted\": 0, \
         \"client_session_id\": -1}}, \"error\": null}}",
        quoted(&urls.playback),
        quoted(&urls.stat),
        quoted(&urls.command),
        quoted(&started.infohash),
        quoted(&started.session_id),
    )
}

/// A live session's stat answer.
pub fn stat(stat: &Stat) -> String {
    let status = match stat.prebuffer_progress {
        Some(percent) => format!("\"status\": \"prebuf\", \"progress\": {percent}"),
        None => "\"status\": \"dl\"".to_owned(),
    };
    format!(
        "{{\"response\": {{{status}, \"peers\": {}, \"speed_down\": 512, \"speed_up\": 64, \
         \"downloaded\": {}, \"uploaded\": {}, \"total_progress\": 0, \"livepos\": \
         {{\"first_ts\": \"{}\", \"last_ts\": \"{}\", \"pos\": \"{}\"}}}}, \"error\": null}}",
        stat.peers,
        stat.downloaded,
        stat.downloaded / 8,
        stat.first_ts,
        stat.last_ts,
        stat.last_ts,
    )
}

/// The `/sim/stats` answer.
pub fn stats(snapshot: &Snapshot) -> String {
    let c = &snapshot.counters;
    let sessions: Vec<String> = snapshot
        .sessions
        .iter()
        .map(|s| {
            format!(
                "{{\"pid\": {}, \"content\": {}, \"infohash\": {}, \"playback_session_id\": {}, \
                 \"state\": \"{}\"}}",
                quoted(&s.pid),
                quoted(&s.content),
                quoted(&s.infohash),
                quoted(&s.session_id),
                s.state.name(),
            )
        })
        .collect();
    let queries: Vec<String> = snapshot.start_queries.iter().map(|q| quoted(q)).collect();
    format!(
        "{{\"starts\": {}, \"json_starts\": {}, \"redirect_starts\": {}, \"stops\": {}, \
         \"playlist_requests\": {}, \"playlist_403\": {}, \"playlist_500\": {}, \
         \"segment_requests\": {}, \"distinct_segments\": {}, \"max_fetches_per_segment\": {}, \
         \"ts_requests\": {}, \"ts_streams\": {}, \"ts_open\": {}, \
         \"ts_max_concurrent_per_session\": {}, \"ts_corrupt\": {}, \"ts_bytes\": {}, \
         \"sessions\": [{}], \"start_queries\": [{}]}}",
        c.starts,
        c.json_starts,
        c.redirect_starts,
        c.stops,
        c.playlist_requests,
        c.playlist_403,
        c.playlist_500,
        c.segment_requests,
        snapshot.distinct_segments,
        snapshot.max_fetches_per_segment,
        c.ts_requests,
        c.ts_streams,
        snapshot.ts_open,
        c.ts_max_concurrent_per_session,
        c.ts_corrupt,
        c.ts_bytes,
        sessions.join(", "),
        queries.join(", "),
    )
}

fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_json_string(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Counters, Engine, Session, Settings, Starter, Wall};
    use std::time::Instant;

    #[test]
    fn start_answer_has_the_engine_fields() {
        let urls = StartUrls {
            playback: "http://h/ace/m/ab/cd.m3u8".to_owned(),
            stat: "http://h/ace/stat/ab/cd".to_owned(),
            command: "http://h/ace/cmd/ab/cd".to_owned(),
        };
        let s = Started {
            infohash: "ab".to_owned(),
            token: "cd".to_owned(),
            session_id: "ef".to_owned(),
            superseded: 0,
        };
        assert_eq!(
            started(&urls, &s),
            "{\"response\": {\"playback_url\": \"http://h/ace/m/ab/cd.m3u8\", \
             \"stat_url\": \"http://h/ace/stat/ab/cd\", \"command_url\": \"http://h/ace/cmd/ab/cd\", \
             \"infohash\": \"ab\", \"playback_session_id\": \"ef\", \"is_live\": 1, \
             \"is_encrypted\": 0, \"client_session_id\": -1}, \"error\": null}"
        );
    }

    #[test]
    fn stat_answer_switches_on_prebuffering() {
        let mut st = Stat {
            peers: 7,
            prebuffer_progress: Some(40),
            downloaded: 800,
            first_ts: 10,
            last_ts: 20,
        };
        let text = stat(&st);
        assert!(text.starts_with("{\"response\": {\"status\": \"prebuf\", \"progress\": 40, "));
        assert!(text.contains("\"uploaded\": 100"));
        assert!(text.contains("{\"first_ts\": \"10\", \"last_ts\": \"20\", \"pos\": \"20\"}"));
        st.prebuffer_progress = None;
        let text = stat(&st);
        assert!(text.contains("\"status\": \"dl\", \"peers\": 7"));
        assert!(!text.contains("progress\": 40"));
        assert!(text.ends_with("}}, \"error\": null}"));
        st.peers = 0;
        assert!(stat(&st).contains("\"status\": \"dl\", \"peers\": 0,"));
    }

    #[test]
    fn stats_answer_lists_sessions_escaped() {
        let settings = Settings {
            segment_ms: 1000,
            segment_bytes: 188,
            window: 3,
            prebuffer_ms: 0,
            idle_ms: 1000,
            rotate_tokens: false,
            ts_bitrate: 1504,
            ts_burst_packets: 0,
        };
        let wall = Wall {
            at: Instant::now(),
            unix_secs: 0,
        };
        let mut engine = Engine::new(settings, 1, wall);
        let now = Instant::now();
        engine.start("a\"b", "c", Starter::Json, now);
        engine.begin_start("id=c&pid=a%22b");
        let snapshot = engine.snapshot(now);
        let text = stats(&snapshot);
        assert!(text.starts_with("{\"starts\": 1, \"json_starts\": 1, \"redirect_starts\": 0, "));
        assert!(text.contains("\"sessions\": [{\"pid\": \"a\\\"b\", \"content\": \"c\", "));
        assert!(text.contains("\"state\": \"live\"}], \"start_queries\": [\"id=c&pid=a%22b\"]}"));
        let empty = Snapshot {
            counters: Counters::default(),
            distinct_segments: 0,
            max_fetches_per_segment: 0,
            ts_open: 3,
            sessions: Vec::<Session>::new(),
            start_queries: Vec::new(),
        };
        assert!(stats(&empty).ends_with(
            "\"max_fetches_per_segment\": 0, \"ts_requests\": 0, \"ts_streams\": 0, \
             \"ts_open\": 3, \"ts_max_concurrent_per_session\": 0, \"ts_corrupt\": 0, \
             \"ts_bytes\": 0, \"sessions\": [], \"start_queries\": []}"
        ));
    }
}
