//! The MPEG-TS URL, `/ace/getstream`: a client's stream from the channel's chunk store.
//!
//! Owns the stream response's headers and its HEAD probe; the stream itself (where a client
//! starts, when it skips) is `ts::stream`'s.

use std::net::SocketAddr;

use http_body_util::BodyExt;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::open::{busy, open, wanted};
use crate::app::App;
use crate::channel::clients::PlayerKey;
use crate::channel_list::selector;
use crate::clock;
use crate::engine::Mode;
use crate::http::{Body, Stalled, json_error};

/// `GET /ace/getstream?id=...`: an MPEG-TS client. Opens the channel (one upstream reader for
/// all its clients) and streams from the newest point a player can start decoding.
pub(super) async fn stream(
    app: &App,
    query: &str,
    head: bool,
    stalled: Stalled,
    (player, peer): (PlayerKey, SocketAddr),
) -> Response<Body> {
    let wanted = match selector(query) {
        Ok((id, selector)) => wanted(app, id, selector).await,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let body = if head {
        // TVs probe with HEAD: the headers of the stream, without starting a session.
        http_body_util::StreamBody::new(futures_lite::stream::empty()).boxed()
    } else {
        match open(app, &wanted, Mode::Ts, query, peer.ip()).await {
            Ok(channel) => match channel.into_stream(player, peer, stalled, clock::now_ms()) {
                Ok(stream) => stream.boxed(),
                Err(full) => return busy(&full),
            },
            Err(response) => return response,
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // What DLNA TVs look for before they play (the media browser's items are these URLs).
    const TRANSFER_MODE: HeaderName = HeaderName::from_static("transfermode.dlna.org");
    const FEATURES: HeaderName = HeaderName::from_static("contentfeatures.dlna.org");
    headers.insert(TRANSFER_MODE, HeaderValue::from_static("Streaming"));
    let features = HeaderValue::from_static(crate::lan::dlna::CONTENT_FEATURES);
    headers.insert(FEATURES, features);
    response
}
