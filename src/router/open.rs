//! Opening a channel for a client: the engine options a client may pass on, the form a channel
//! plays in, what one address may open, the query that starts a channel again, and the answers
//! for a full table or an engine that said no.
//!
//! Owns which of a client's query parameters reach the engine (a fixed list, each
//! percent-encoded and bounded) and the per-address quotas on opening channels and joining
//! them (sized by the board: `board::ADDRESS_*`); never reads a path or builds a playlist.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use std::net::IpAddr;
use std::time::Instant;

use crate::app::App;
use crate::board::{ADDRESS_OPENS_PER_MINUTE, ADDRESS_STARTING};
use crate::channel::{Activity, Channel, ContentId, Full, Open, Source};
use crate::channel_list::Listing;
use crate::clock;
use crate::engine::{EngineError, Mode, Selector};
use crate::http::{Body, Turn, json_error, push_percent_encoded, query_param, too_many};

/// Engine options a client may pass on; anything else in the query is ignored.
const PASSED_OPTIONS: [&str; 4] = [
    "transcode_audio",
    "transcode_mp3",
    "transcode_ac3",
    "preferred_audio_language",
];
/// A passed option longer than this is dropped: none of the engine's is.
const OPTION_MAX: usize = 32;
/// The engine options to pass on, as an encoded query fragment, each known option once (its
/// first value) and in the order of [`PASSED_OPTIONS`]: the same options asked in any order
/// are the same fragment, and so the same form of a channel.
pub(super) fn passed_options(query: &str) -> String {
    let mut out = String::new();
    for option in PASSED_OPTIONS {
        if let Some(value) = query_param(query, option).filter(|v| v.len() <= OPTION_MAX) {
            out.push('&');
            out.push_str(option);
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
pub(super) async fn wanted(app: &App, id: ContentId, selector: Selector) -> Wanted {
    let source = Source { id, selector };
    let (name, mut sources) = match listed(app, &source).await {
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
async fn listed(app: &App, source: &Source) -> Option<(String, Vec<Source>)> {
    let listing = match app.channel_list.as_ref() {
        Some(list) => list.find(source, Instant::now()).await,
        None => None,
    };
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

/// The 409 for a client asking by `selector` with the engine options `extra`, if `channel`
/// may not serve it. The engine plays one session per content, so a channel plays in one form: the
/// selector and options its first client asked for. A client that asks no option gets it as it
/// plays, one that asks the same gets it too; one that asks other options, or names the 40
/// digits as the other kind of id (a content id and an infohash name different content), is
/// refused with 409 until the channel stops, and changes nothing for the others.
pub(super) fn other_form(
    channel: &Channel,
    selector: Selector,
    extra: &str,
) -> Option<Response<Body>> {
    let (plays_as, plays_with) = channel.form();
    let message = if selector != plays_as {
        format!(
            "this id is playing as {} for other clients; as {} it names other content, which \
             can play once that channel has stopped",
            named(plays_as),
            named(selector)
        )
    } else if !extra.is_empty() && extra != plays_with {
        let with = plays_with.strip_prefix('&').unwrap_or("no options");
        format!(
            "this channel is playing with other engine options ({with}) for other clients, and \
             the engine plays one form of a content at a time: ask with none, or the same"
        )
    } else {
        return None;
    };
    Some(json_error(StatusCode::CONFLICT, &message))
}

fn named(selector: Selector) -> &'static str {
    match selector {
        Selector::ContentId => "a content id",
        Selector::Infohash => "an infohash",
    }
}

/// The channel `wanted`, opened and connected (its session refreshed), for a client at `by`.
/// A channel not playing yet is opened only in `by`'s turn ([`turn_to_start`]), and a
/// client joins only within its address's share of the channel's clients, checked before the
/// refresh: made-up players refresh nothing.
pub(super) async fn open(
    app: &App,
    wanted: &Wanted,
    mode: Mode,
    query: &str,
    by: IpAddr,
) -> Result<Activity, Response<Body>> {
    let (id, selector) = (wanted.id(), wanted.source.selector);
    let now = clock::now_ms();
    let _starting = match app.registry.find(id, now) {
        Some(_) => None,
        None => Some(turn_to_start(app, by, now).await?),
    };
    let request = Open {
        id,
        selector,
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
    if let Some(refused) = other_form(&channel, selector, request.extra) {
        return Err(refused);
    }
    if !channel.room_for(by, now) {
        return Err(busy(&Full::AddressClients));
    }
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

/// `by`'s turn to start a new channel at `now`, held until its first engine start lands (or
/// fails, within the engine's start timeout): an address asks for at most
/// `ADDRESS_OPENS_PER_MINUTE` new channels a minute (429 past it), and starts at most
/// `ADDRESS_STARTING` at once, its next start waiting for one to land. So random ids, each an
/// engine start, can neither churn the engine nor hold the channel table while the engine
/// resolves them; a device that zaps, or opens two channels at once, only waits.
async fn turn_to_start(app: &App, by: IpAddr, now: u64) -> Result<Turn<'_>, Response<Body>> {
    if let Err(retry_secs) = app.opens.hit(by, now, ADDRESS_OPENS_PER_MINUTE) {
        let message = format!(
            "this address asked for {ADDRESS_OPENS_PER_MINUTE} new channels this minute, its \
             maximum; try again in {retry_secs} s"
        );
        return Err(too_many(&message, retry_secs));
    }
    Ok(app.opens.turn(by, ADDRESS_STARTING).await)
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
            "&transcode_audio=1%262&preferred_audio_language=rus",
            "in one order, whatever the query's"
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
