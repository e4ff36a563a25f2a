//! AceStream links: what content a line of a channel list, or the query of a start URL, names.
//!
//! This module owns the forms a link takes (`acestream://<id>`, a bare 40-hex id, an engine
//! start URL `http://HOST/ace/getstream?id=...` or `.../ace/manifest.m3u8?...`) and the
//! selector of a start URL's query (`content_id`, its alias `id`, or `infohash`), which the
//! router reads for acebox's own start URLs too. It never checks anything beyond the content
//! id itself and never builds a URL.

use std::fmt;

use crate::channel::{ContentId, IdError};
use crate::engine::Selector;
use crate::http::query_pairs;

/// Why a link or a start URL's query names no content acebox plays.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// `url=` or `magnet=`: content named by other means than an id.
    NotAnId,
    /// The id is missing or is not 40 hex digits.
    Id(IdError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::NotAnId => {
                f.write_str("only content ids and infohashes are played; url= and magnet= are not")
            }
            LinkError::Id(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LinkError {}

/// What one line of a channel list is.
pub(super) enum Line {
    /// `#EXTINF`, `#EXTGRP`, `#EXTVLCOPT` or any other `#` line: describes the next entry.
    Directive,
    /// A URL acebox does not rewrite (not AceStream): served as written.
    Other,
    /// An AceStream entry, to be pointed at acebox.
    Stream(ContentId, Selector),
    /// Looks like an AceStream entry but names no valid content; why.
    Malformed(LinkError),
}

/// Reads the content selector of a start URL's query: `content_id`, its alias `id`, or
/// `infohash`; the first of a repeated parameter counts.
pub fn selector(query: &str) -> Result<(ContentId, Selector), LinkError> {
    let mut found: [Option<String>; 3] = Default::default();
    for (key, value) in query_pairs(query) {
        let slot = match key.as_ref() {
            "content_id" => 0,
            "id" => 1,
            "infohash" => 2,
            "url" | "magnet" => return Err(LinkError::NotAnId),
            _ => continue,
        };
        found[slot].get_or_insert_with(|| value.into_owned());
    }
    let [content_id, id, infohash] = found;
    let (text, selector) = match (content_id.or(id), infohash) {
        (Some(id), _) => (id, Selector::ContentId),
        (None, Some(hash)) => (hash, Selector::Infohash),
        (None, None) => (String::new(), Selector::ContentId),
    };
    ContentId::parse(&text)
        .map(|id| (id, selector))
        .map_err(LinkError::Id)
}

/// Which kind of line `line` (trimmed, not empty) is.
pub(super) fn classify(line: &str) -> Line {
    if line.starts_with('#') {
        return Line::Directive;
    }
    if let Some(rest) = strip_prefix_ignore_case(line, "acestream://") {
        // Tolerate `acestream://<id>/` and `acestream://<id>?...`.
        let id = rest.split(['/', '?', '#']).next().unwrap_or_default();
        return content(id);
    }
    if line.bytes().all(|b| b.is_ascii_hexdigit()) {
        return content(line);
    }
    match engine_query(line).map(selector) {
        Some(Ok((id, selector))) => Line::Stream(id, selector),
        Some(Err(e)) => Line::Malformed(e),
        None => Line::Other,
    }
}

fn content(id: &str) -> Line {
    match ContentId::parse(id) {
        Ok(id) => Line::Stream(id, Selector::ContentId),
        Err(e) => Line::Malformed(LinkError::Id(e)),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The query of an engine start URL, `http://HOST/ace/getstream?...` or
/// `http://HOST/ace/manifest.m3u8?...` (empty when it has none); `None` for any other line.
fn engine_query(line: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(line, "http://")
        .or_else(|| strip_prefix_ignore_case(line, "https://"))?;
    let (_authority, target) = rest.split_once('/')?;
    let target = target.split('#').next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    matches!(path, "ace/getstream" | "ace/manifest.m3u8").then_some(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn selector_precedence_and_errors() {
        let (id, sel) = selector(&format!("infohash={}&id={ID}", "f".repeat(40))).unwrap();
        assert_eq!((id.as_str(), sel), (ID, Selector::ContentId));
        let (id, sel) = selector(&format!("infohash={}", "F".repeat(40))).unwrap();
        assert_eq!(
            (id.as_str(), sel),
            ("f".repeat(40).as_str(), Selector::Infohash)
        );
        assert_eq!(selector(""), Err(LinkError::Id(IdError::Missing)));
        assert_eq!(selector("id=xyz"), Err(LinkError::Id(IdError::Malformed)));
        let not_an_id = selector("url=http://x/y.acelive").unwrap_err();
        assert_eq!(not_an_id, LinkError::NotAnId);
        assert!(not_an_id.to_string().contains("url="), "{not_an_id}");
        // The first of repeated parameters counts.
        assert_eq!(selector(&format!("id={ID}&id=zz")).unwrap().0.as_str(), ID);
    }
}
