//! The channel list: an M3U of AceStream channels read from `--channels FILE` and served at
//! `GET /playlist.m3u` with every AceStream entry pointing at acebox, so a TV app needs one URL.
//!
//! This folder owns the file and what is served from it. It never starts a channel or talks to
//! the engine, never writes the file, and never copies a client's bytes into the playlist other
//! than a `Host` that is a plain `host[:port]`.
//!
//! - `link`: what content a link or a start URL's query names (the router reads its own start
//!   URLs with it too);
//! - `extinf`: what the `#` lines say of a channel (name, guide id, number, logo, group) and
//!   the guide the header names;
//! - `guide`: the guide the served list's header names, its own or acebox's `/epg.xml`;
//! - `m3u`: parsing the list's text into channels (one per channel, with its backup ids) and
//!   rendering it for acebox;
//! - `watch`: the file, its stamp, reading it again when it changes, and the channels of the
//!   list as last read ([`Listings`], [`ChannelList::find`]);
//! - `host`: which `host[:port]` the rendered list points at;
//! - this file: the `/playlist.m3u` answer.
//!
//! It imports `channel` (the content id), `engine` (the mode and selector words) and `http` (the
//! request helpers); never the router or the views.

mod extinf;
mod guide;
mod host;
mod link;
mod m3u;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::engine::Mode;
use crate::http::{Admission, Body, LocalAddr, json_error, off_executor, query_param, respond};

pub use host::authority;
pub use link::{LinkError, selector};
pub use m3u::Listing;
pub use watch::{ChannelList, Listings, LoadError};

const CONTENT_TYPE: &str = "audio/x-mpegurl";

/// `GET /playlist.m3u[?hls=1]`: the channel list for the host the client used. `list` is
/// `None` when acebox runs without `--channels`. The file is looked at, read and rendered on
/// the blocking pool, never on the executor: a slow disk (or a file that blocks) holds up only
/// this answer.
///
/// Every entry's URL carries the token of the client's `admission` on.
pub async fn serve<B>(
    list: Option<&Arc<ChannelList>>,
    req: &Request<B>,
    admission: &Admission,
) -> Response<Body> {
    let Some(list) = list else {
        return json_error(
            StatusCode::NOT_FOUND,
            "no channel list: start acebox with --channels FILE (an M3U of acestream:// links)",
        );
    };
    let mode = match query_param(req.uri().query().unwrap_or(""), "hls").as_deref() {
        None | Some("0") => Mode::Ts,
        Some("1") => Mode::Hls,
        Some(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "hls= takes 1 (HLS URLs) or 0 (MPEG-TS URLs, the default)",
            );
        }
    };
    let Some(authority) = request_authority(req) else {
        return no_authority();
    };
    let list = Arc::clone(list);
    let now = Instant::now();
    let admission = admission.clone();
    let body = off_executor(move || list.rendered((&authority, mode), &admission, now)).await;
    let mut response = respond(StatusCode::OK, CONTENT_TYPE, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The `host[:port]` a playlist served for `req` points at: its `Host` header when that is a
/// plain authority, else the address it came in on ([`authority`]).
pub fn request_authority<B>(req: &Request<B>) -> Option<String> {
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
    authority(req.headers().get(header::HOST), local)
}

/// The answer when a request gives no [`request_authority`] to point a playlist at.
pub fn no_authority() -> Response<Body> {
    json_error(
        StatusCode::BAD_REQUEST,
        "send a Host header naming this server, like Host: 192.168.1.10:6880",
    )
}
