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

/// A response of `data` that answers one byte range (`Range: bytes=A-B`, `A-` or `-N`) with
/// 206 and the part, a range that starts past the end with 416, and anything else (no range,
/// several ranges, a malformed one) with the whole, 200. The part shares `data`: no copy.
pub fn respond_ranged(
    content_type: &str,
    data: Bytes,
    range: Option<&hyper::header::HeaderValue>,
) -> Response<Body> {
    use hyper::header::{ACCEPT_RANGES, CONTENT_RANGE, HeaderValue};
    let len = data.len();
    let (mut response, content_range) = match range.and_then(|r| byte_range(r.as_bytes(), len)) {
        Some(Ok(part)) => {
            let bytes = format!("bytes {}-{}/{len}", part.start, part.end - 1);
            let part = data.slice(part);
            (
                respond(StatusCode::PARTIAL_CONTENT, content_type, part),
                Some(bytes),
            )
        }
        Some(Err(())) => (
            respond(StatusCode::RANGE_NOT_SATISFIABLE, content_type, ""),
            Some(format!("bytes */{len}")),
        ),
        None => (respond(StatusCode::OK, content_type, data), None),
    };
    let headers = response.headers_mut();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(CONTENT_RANGE, value);
    }
    response
}

/// The one byte range `range` asks of `len` bytes: `None` to send them all (no single
/// `bytes` range, or a malformed one: RFC 9110 says to ignore it), `Err` when it starts past
/// the end.
fn byte_range(range: &[u8], len: usize) -> Option<Result<std::ops::Range<usize>, ()>> {
    let spec = std::str::from_utf8(range).ok()?.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let number = |text: &str| text.trim().parse::<usize>().ok();
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n = number(suffix)?;
            (len.saturating_sub(n), if n == 0 { 0 } else { len })
        }
        (first, "") => (number(first)?, len),
        (first, last) => {
            let (first, last) = (number(first)?, number(last)?);
            if last < first {
                return None;
            }
            (first, last.saturating_add(1).min(len))
        }
    };
    Some(if start < end { Ok(start..end) } else { Err(()) })
}

/// 429 with the JSON error `message`, to be tried again in `secs` seconds (`Retry-After`).
pub fn too_many(message: &str, secs: u64) -> Response<Body> {
    let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, message);
    let retry = hyper::header::HeaderValue::from(secs);
    response
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, retry);
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
    fn one_byte_range_is_read_and_anything_else_means_the_whole() {
        let range = |text: &str, len| byte_range(text.as_bytes(), len);
        assert_eq!(range("bytes=0-9", 100), Some(Ok(0..10)));
        assert_eq!(range("bytes= 90 - ", 100), Some(Ok(90..100)));
        assert_eq!(range("bytes=-10", 100), Some(Ok(90..100)));
        assert_eq!(range("bytes=-500", 100), Some(Ok(0..100)));
        assert_eq!(range("bytes=50-5000", 100), Some(Ok(50..100)));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("bytes=-0", 100), Some(Err(())));
        assert_eq!(range("bytes=0-0", 0), Some(Err(())));
        for whole in [
            "",
            "bytes=",
            "bytes=9-1",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "lines=0-1",
        ] {
            assert_eq!(range(whole, 100), None, "{whole}");
        }
        assert_eq!(byte_range(b"bytes=\xff-1", 100), None);
    }

    #[test]
    fn json_error_escapes_the_message() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }
}
