//! Query strings: reading a request's `name=value` pairs and writing a value into an engine URL.
//!
//! This module owns percent-decoding and percent-encoding. It never decides what a parameter
//! means (the router and the engine API do) and never allocates when nothing needs decoding.

use std::borrow::Cow;

/// The query parameter `name` of a request, percent-decoded; `None` when absent.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query_pairs(query).find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The `name=value` pairs of a query string, percent-decoded. A pair that does not decode to
/// UTF-8 is passed over.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
}

/// Decodes `%XX` escapes and `+`; `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Appends `text` to `out` with everything but unreserved characters percent-encoded, so that a
/// value taken from a client can sit in a query string and mean only itself.
pub fn push_percent_encoded(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_and_encoding_round_trip() {
        assert_eq!(query_param("a=1&id=x%20y", "id").as_deref(), Some("x y"));
        assert_eq!(query_param("a=1&id", "id").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "id"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        let mut out = String::new();
        push_percent_encoded(&mut out, "rus&x=1/é");
        assert_eq!(out, "rus%26x%3D1%2F%C3%A9");
        assert_eq!(percent_decode(&out).as_deref(), Some("rus&x=1/é"));
    }
}
