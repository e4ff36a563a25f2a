//! The bodies and small responses every handler builds: whole-buffer bodies, a response with a
//! content type, and the JSON error `{"error": message}` with its string escaping.
//!
//! This module owns the [`Body`] type and these builders. It never decides a status code (the
//! callers do) and never adds transport headers such as CORS (that is `server`).

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};

/// The body of every response acebox sends: whole buffers (playlists, segments, JSON) or, for
/// streams, chunks produced as they arrive.
pub type Body = BoxBody<Bytes, io::Error>;

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A response with `status`, a content type and a whole-buffer body.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// A JSON error `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    respond(status, "application/json", json_error_body(message))
}

/// The body of a JSON error: `{"error": message}` and a newline.
pub(super) fn json_error_body(message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 16);
    body.push_str("{\"error\":");
    push_json_string(&mut body, message);
    body.push_str("}\n");
    body
}

/// Appends `text` to `out` as a JSON string literal.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_escapes_the_message() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }
}
