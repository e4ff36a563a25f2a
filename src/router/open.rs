//! Opening a channel for a client: the engine options a client may pass on, the query that
//! starts a channel again, and the answers for a full table or an engine that said no.
//!
//! Owns which of a client's query parameters reach the engine (a fixed list, each
//! percent-encoded and bounded); never reads a path or builds a playlist.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use std::time::Instant;

use crate::app::App;
use crate::channel::{Activity, ContentId, Full, Open, Source};
use crate::channel_list::Listing;
use crate::clock;
use crate::engine::{EngineError, Mode, Selector};
use crate::http::{Body, json_error, push_percent_encoded, query_pairs};

/// Engine options a client may pass on; anything else in the query is ignored.
const PASSED_OPTIONS: [&str; 4] = [
    "transcode_audio",
    "transcode_mp3",
    "transcode_ac3",
    "preferred_audio_language",
];
/// A passed option longer than this is dropped: none of the engine's is.
const OPTION_MAX: usize = 32;
/// The engine options to pass on, as an encoded query fragment.
fn passed_options(query: &str) -> String {
    let mut out = String::new();
    let mut seen = [false; PASSED_OPTIONS.len()];
    for (key, value) in query_pairs(query) {
        let Some(known) = PASSED_OPTIONS.iter().position(|o| *o == key) else {
            continue;
        };
        if value.len() <= OPTION_MAX && !std::mem::replace(&mut seen[known], true) {
            out.push('&');
            out.push_str(&key);
            out.push('=');
            push_percent_encoded(&mut out, &value);
        }
    }
    out
}

/// What a client asks to play, as acebox knows it: the channel's own source (a client that
/// names one of a channel's backup ids gets that channel), its name and its backups.
pub(super) struct Wanted {
    pub source: Source,
    pub name: String,
    pub backups: Vec<Source>,
}

impl Wanted {
    pub fn id(&self) -> &ContentId {
        &self.source.id
    }
}

/// What playing `id` named by `selector` means: the channel of the channel list that plays it,
/// or else the channel of the search results it is a stream of (infohashes, best first), or
/// else just that content. A channel already open for one of its ids keeps playing under its
/// own id, so that one channel never becomes two (the engine would play neither).
pub(super) fn wanted(app: &App, id: ContentId, selector: Selector) -> Wanted {
    let source = Source { id, selector };
    let (name, mut sources) = match listed(app, &source) {
        Some(found) => found,
        None => (String::new(), vec![source]),
    };
    if let Some(open) = sources.iter().position(|s| app.registry.is_open(&s.id)) {
        sources.swap(0, open);
    }
    let source = sources.remove(0);
    Wanted {
        source,
        name,
        backups: sources,
    }
}

/// The name and the ids (never empty) of the channel that `source` plays, as the channel list
/// or the kept search results know it.
fn listed(app: &App, source: &Source) -> Option<(String, Vec<Source>)> {
    let listing = app
        .channel_list
        .as_ref()
        .and_then(|list| list.find(source, Instant::now()));
    if let Some(Listing { name, sources, .. }) = listing.filter(|l| !l.sources.is_empty()) {
        return Some((name, sources));
    }
    // Search results name their streams by infohash.
    if source.selector != Selector::Infohash {
        return None;
    }
    let described = app.search.describe(&source.id)?;
    let selector = Selector::Infohash;
    let ids: Vec<Source> = described
        .ids
        .into_iter()
        .map(|id| Source { id, selector })
        .collect();
    Some((described.name, ids)).filter(|(_, ids)| !ids.is_empty())
}

/// The channel `wanted`, opened and connected (its session refreshed).
pub(super) async fn open(
    app: &App,
    wanted: &Wanted,
    mode: Mode,
    query: &str,
) -> Result<Activity, Response<Body>> {
    let id = wanted.id();
    let request = Open {
        id,
        selector: wanted.source.selector,
        mode,
        extra: &passed_options(query),
        name: &wanted.name,
        backups: &wanted.backups,
    };
    let channel = app
        .registry
        .open(&request)
        .await
        .map_err(|full| busy(&full))?;
    if let Err(e) = channel.connect(clock::now_ms()).await {
        if channel.store.held() == 0 {
            app.registry.discard_unstarted(&channel);
            return Err(engine_error(&e));
        }
        // The channel is playing: serve what it holds; its feed heals the session if needed.
        log::warn!(
            "channel {}: session refresh for a new client failed ({e}); serving the ring",
            id.as_str()
        );
    }
    Ok(channel)
}

/// The query of a player's own playlist URL: what it takes to start its channel again (the
/// selector, when not a content id, and the engine options).
pub(super) fn restart_query(selector: Selector, query: &str) -> String {
    let mut tail = String::new();
    if selector == Selector::Infohash {
        tail.push_str("&by=infohash");
    }
    tail.push_str(&passed_options(query));
    match tail.strip_prefix('&') {
        Some(rest) => format!("?{rest}"),
        None => String::new(),
    }
}

pub(super) fn busy(full: &Full) -> Response<Body> {
    let mut response = json_error(StatusCode::SERVICE_UNAVAILABLE, &full.to_string());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

pub(super) fn engine_error(e: &EngineError) -> Response<Body> {
    json_error(e.client_status(), &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_options_pass_and_are_encoded() {
        assert_eq!(
            passed_options(
                "id=x&preferred_audio_language=rus&pid=evil&transcode_audio=1%262&transcode_audio=9"
            ),
            "&preferred_audio_language=rus&transcode_audio=1%262"
        );
        assert_eq!(
            passed_options(&format!("transcode_ac3={}", "1".repeat(33))),
            ""
        );
        assert_eq!(
            passed_options("transcode_mp3=transcode_ac3&transcode_ac3=1"),
            "&transcode_mp3=transcode_ac3&transcode_ac3=1",
            "an option named inside another's value still passes"
        );
    }
}
