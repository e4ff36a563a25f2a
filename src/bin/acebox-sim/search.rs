//! The engine's search, both forms: `GET /search?...` as current engines answer it (no token,
//! logos as `icons`, the guide as a list, a numeric name as a number) and the older
//! `GET /server/api?method=get_api_access_token` then `?method=search&token=...` (logos as
//! `icon`, the current programme as one object). Both take `query`, `category`, `page` (from
//! 0), `page_size` (default 10, at most 200), `group_by_channels` and `show_epg`, and answer in
//! the `{"result": ..., "error": ...}` envelope. `--legacy-search` makes `/search` a 404, as
//! on older engines. `/sim/search` counts the searches and arms faults.
//!
//! This module owns those answers and the search's own state (its token, counters and
//! faults), apart from the engine's playback state. It never holds its lock across a wait.
//!
//! Over 400 lines: the last 74 are its tests; each answer's JSON is written by hand beside it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use acebox::http::{Body, json_error, push_json_string, query_param, respond};
use async_io::Timer;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};

use crate::catalog::{self, Channel};
use crate::{Call, Sim, ids};

/// The most results a page holds, whatever was asked.
const PAGE_MAX: usize = 200;
/// How long a `hang` fault holds its answer: longer than any client waits.
const HANG: Duration = Duration::from_secs(40);
/// How large a `huge` answer is: a valid answer of about 10 MB.
const HUGE_BYTES: usize = 10_000_000;

/// How the next searches misbehave, from `/sim/search?fault=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The engine's own error: `{"result": null, "error": "search request failed"}`.
    Error,
    /// The engine's limit reached: HTTP 429 with the error envelope.
    Limit,
    /// 200 with text that is not JSON.
    Garbage,
    /// 200 with a valid answer of about 10 MB.
    Huge,
    /// No answer for 40 s.
    Hang,
}

/// The search's state.
pub struct Search {
    legacy: bool,
    extra: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    searches: u64,
    token_requests: u64,
    /// The token the older form takes; a new one on every `expire_token`.
    token: String,
    tokens_made: u64,
    fault: Option<(Fault, u64)>,
}

impl Search {
    pub fn new(legacy: bool, extra: usize) -> Search {
        let search = Search {
            legacy,
            extra,
            state: Mutex::new(State::default()),
        };
        search.new_token();
        search
    }

    fn new_token(&self) {
        let mut state = acebox::lock(&self.state);
        state.tokens_made += 1;
        let serial = state.tokens_made;
        state.token = ids::session_id(serial, 0) + &ids::session_id(serial, 1)[..24];
    }
}

/// Which form a search came in, which decides the shape of its answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Current,
    Token,
}

/// `GET /search?...`.
pub async fn current(sim: &Sim, call: &Call) -> Response<Body> {
    if sim.search.legacy {
        return respond(StatusCode::NOT_FOUND, "text/plain", "Not Found");
    }
    answer(sim, &call.query, Form::Current).await
}

/// `GET /server/api?method=...`.
pub async fn server_api(sim: &Sim, call: &Call) -> Response<Body> {
    match query_param(&call.query, "method").as_deref() {
        Some("get_api_access_token") => {
            let token = {
                let mut state = acebox::lock(&sim.search.state);
                state.token_requests += 1;
                state.token.clone()
            };
            let mut body = String::from("{\"result\": {\"token\": ");
            push_json_string(&mut body, &token);
            body.push_str("}, \"error\": null}");
            json_ok(body)
        }
        Some("search") => {
            let token = acebox::lock(&sim.search.state).token.clone();
            if query_param(&call.query, "token").as_deref() != Some(token.as_str()) {
                return json_ok(r#"{"result": null, "error": "invalid token"}"#);
            }
            answer(sim, &call.query, Form::Token).await
        }
        _ => json_ok(r#"{"result": null, "error": "unknown method"}"#),
    }
}

/// A search's answer, or the fault armed for it.
async fn answer(sim: &Sim, query: &str, form: Form) -> Response<Body> {
    let fault = {
        let mut state = acebox::lock(&sim.search.state);
        state.searches += 1;
        let armed = state.fault;
        state.fault = armed
            .filter(|(_, left)| *left > 1)
            .map(|(f, left)| (f, left - 1));
        armed.map(|(fault, _)| fault)
    };
    if let Some(fault) = fault {
        eprintln!("acebox-sim: search answered with the fault {fault:?}");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match fault {
        None => json_ok(page(sim.search.extra, query, form, now)),
        Some(Fault::Error) => json_ok(r#"{"result": null, "error": "search request failed"}"#),
        Some(Fault::Limit) => {
            let mut response = respond(
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                r#"{"result": null, "error": "too many requests"}"#,
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
        Some(Fault::Garbage) => respond(StatusCode::OK, "text/html", "<html><body>Error</body>"),
        Some(Fault::Huge) => json_ok(huge(now)),
        Some(Fault::Hang) => {
            Timer::after(HANG).await;
            json_ok(page(sim.search.extra, query, form, now))
        }
    }
}

/// The page a query asks for.
fn page(extra: usize, query: &str, form: Form, now: u64) -> String {
    let param = |name| query_param(query, name).unwrap_or_default();
    let number = |name, default: usize| param(name).parse::<usize>().unwrap_or(default);
    let (words, category) = (param("query"), param("category"));
    let (page, size) = (
        number("page", 0),
        number("page_size", 10).clamp(1, PAGE_MAX),
    );
    let grouped = param("group_by_channels") == "1";
    let guide = grouped && param("show_epg") == "1";
    let found: Vec<Channel> = catalog::channels(extra, now)
        .into_iter()
        .filter(|c| catalog::matches(c, &words, &category))
        .collect();
    let shape = Shape { form, guide, now };
    let mut results: Vec<String> = if grouped {
        found.iter().map(|c| shape.channel(c)).collect()
    } else {
        found
            .iter()
            .flat_map(|c| c.streams.iter().map(move |s| (c, s)))
            .map(|(c, s)| shape.item(c, s))
            .collect()
    };
    let total = results.len();
    let results: Vec<String> = results.drain(..).skip(page * size).take(size).collect();
    format!(
        "{{\"result\": {{\"total\": {total}, \"time\": 0.012, \"results\": [{}]}}, \"error\": null}}",
        results.join(", ")
    )
}

/// How results are written: the form decides the logo and guide fields.
struct Shape {
    form: Form,
    guide: bool,
    now: u64,
}

impl Shape {
    fn channel(&self, c: &Channel) -> String {
        let mut out = String::from("{\"name\": ");
        if c.numeric_name && self.form == Form::Current {
            out.push_str(&c.name);
        } else {
            push_json_string(&mut out, &c.name);
        }
        if !c.logo.is_empty() {
            match self.form {
                Form::Current => {
                    out.push_str(", \"icons\": [{\"url\": ");
                    push_json_string(&mut out, &c.logo);
                    out.push_str(", \"type\": 0}]");
                }
                Form::Token => {
                    out.push_str(", \"icon\": ");
                    push_json_string(&mut out, &c.logo);
                }
            }
        }
        if self.guide {
            out.push_str(", \"epg\": ");
            let programmes: Vec<String> = c.guide.iter().map(programme).collect();
            match self.form {
                Form::Current => out.push_str(&format!("[{}]", programmes.join(", "))),
                Form::Token => {
                    let on = c
                        .guide
                        .iter()
                        .position(|p| p.start <= self.now && self.now < p.stop);
                    out.push_str(&programmes[on.unwrap_or(0)]);
                }
            }
        }
        let items: Vec<String> = c.streams.iter().map(|s| self.item(c, s)).collect();
        out.push_str(&format!(", \"items\": [{}]}}", items.join(", ")));
        out
    }

    fn item(&self, c: &Channel, s: &catalog::Stream) -> String {
        let categories: Vec<String> = c.categories.iter().map(|c| quoted(c)).collect();
        format!(
            "{{\"infohash\": \"{}\", \"name\": {}, \"channel_id\": {}, \"categories\": [{}], \
             \"languages\": [\"eng\"], \"countries\": [\"gb\"], \"availability\": {}, \
             \"availability_updated_at\": {}, \"status\": {}, \"bitrate\": 250000, \
             \"in_playlist\": false}}",
            s.infohash,
            quoted(&s.name),
            c.id,
            categories.join(", "),
            f64::from(s.availability) / 1000.0,
            self.now - 600,
            if s.availability >= 500 { 2 } else { 1 },
        )
    }
}

fn programme(p: &catalog::Programme) -> String {
    format!(
        "{{\"start\": {}, \"stop\": {}, \"name\": {}, \"description\": {}}}",
        p.start,
        p.stop,
        quoted(&p.title),
        quoted(&p.description)
    )
}

/// A valid answer of at least [`HUGE_BYTES`]: one channel with very long descriptions, many
/// times over.
fn huge(now: u64) -> String {
    let shape = Shape {
        form: Form::Current,
        guide: true,
        now,
    };
    let mut channels = catalog::channels(0, now);
    let mut channel = channels.swap_remove(0);
    for p in &mut channel.guide {
        p.description = "x".repeat(10_000);
    }
    let one = shape.channel(&channel);
    let results = vec![one; HUGE_BYTES / 50_000 + 1].join(", ");
    format!("{{\"result\": {{\"total\": 1, \"results\": [{results}]}}, \"error\": null}}")
}

fn quoted(text: &str) -> String {
    let mut out = String::new();
    push_json_string(&mut out, text);
    out
}

fn json_ok(body: impl Into<bytes::Bytes>) -> Response<Body> {
    respond(StatusCode::OK, "application/json", body)
}

/// `/sim/search`: the counts (`searches`, `token_requests`); `fault=` (`error`, `limit`,
/// `garbage`, `huge`, `hang`) with `count=` (default 1) arms a fault for the next searches,
/// `expire_token=1` makes the token form's token stale.
pub fn control(sim: &Sim, query: &str) -> Response<Body> {
    let fault = match query_param(query, "fault").as_deref() {
        None => None,
        Some("error") => Some(Fault::Error),
        Some("limit") => Some(Fault::Limit),
        Some("garbage") => Some(Fault::Garbage),
        Some("huge") => Some(Fault::Huge),
        Some("hang") => Some(Fault::Hang),
        Some(other) => {
            return json_error(StatusCode::BAD_REQUEST, &format!("unknown fault {other:?}"));
        }
    };
    let count = match query_param(query, "count").map(|c| c.parse::<u64>()) {
        None => 1,
        Some(Ok(count)) => count,
        Some(Err(_)) => return json_error(StatusCode::BAD_REQUEST, "count wants a number"),
    };
    if query_param(query, "expire_token").as_deref() == Some("1") {
        sim.search.new_token();
    }
    let mut state = acebox::lock(&sim.search.state);
    if let Some(fault) = fault {
        state.fault = Some((fault, count)).filter(|(_, n)| *n > 0);
    }
    json_ok(format!(
        "{{\"searches\": {}, \"token_requests\": {}}}",
        state.searches, state.token_requests
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn pages_of_both_forms_have_the_engine_shape() {
        let current = value(&page(
            0,
            "query=sport&page_size=3&group_by_channels=1&show_epg=1",
            Form::Current,
            NOW,
        ));
        assert!(current["error"].is_null());
        let result = &current["result"];
        assert!(result["total"].as_u64().unwrap() > 3);
        let first = &result["results"][0];
        assert_eq!(result["results"].as_array().unwrap().len(), 3);
        assert_eq!(first["name"], "Sport 1");
        assert_eq!(first["icons"][0]["type"], 0);
        assert!(first["epg"].is_array());
        assert!(first["epg"][0]["start"].is_u64());
        let item = &first["items"][0];
        assert_eq!(item["availability"], 0.95);
        assert_eq!(item["channel_id"], 1000);
        assert!(item["availability_updated_at"].is_u64());

        let numeric = value(&page(0, "query=24&group_by_channels=1", Form::Current, NOW));
        let names: Vec<&serde_json::Value> = numeric["result"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert!(names.contains(&&serde_json::json!(24)), "{names:?}");

        let legacy = value(&page(
            0,
            "query=sport&group_by_channels=1&show_epg=1",
            Form::Token,
            NOW,
        ));
        let first = &legacy["result"]["results"][0];
        assert!(
            first["icon"].is_string() && first["epg"].is_object(),
            "{first}"
        );
        assert!(first["epg"]["start"].as_u64().unwrap() <= NOW);

        let flat = value(&page(0, "query=sport&page_size=200", Form::Current, NOW));
        let first = &flat["result"]["results"][0];
        assert!(first["infohash"].is_string() && first.get("items").is_none());

        let beyond = value(&page(
            0,
            "query=sport&page=99&group_by_channels=1",
            Form::Current,
            NOW,
        ));
        assert_eq!(beyond["result"]["results"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn the_huge_answer_is_valid_and_over_ten_megabytes() {
        let text = huge(NOW);
        assert!(text.len() >= HUGE_BYTES);
        assert!(value(&text)["result"]["results"].is_array());
    }
}
