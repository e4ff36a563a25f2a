//! Content ids: which stream a channel plays, as a client names it.
//!
//! [`ContentId`] owns the one check a client's id goes through (exactly 40 hex digits, kept in
//! lower case), so an id is safe in an engine URL, a client URL, a log line and a label. It
//! never decides whether the id is a content id or an infohash (the request says).

use std::fmt;

/// A content id or infohash: 40 hex digits, kept in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentId(heapless::String<40>);

/// Why a content id was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum IdError {
    Missing,
    Malformed,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdError::Missing => {
                "missing content id: add ?id=<40 hex digits> (or content_id= or infohash=)"
            }
            IdError::Malformed => "the content id must be exactly 40 hexadecimal digits (0-9, a-f)",
        })
    }
}

impl std::error::Error for IdError {}

impl ContentId {
    pub fn parse(text: &str) -> Result<ContentId, IdError> {
        if text.is_empty() {
            return Err(IdError::Missing);
        }
        if text.len() != 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::Malformed);
        }
        let mut id = heapless::String::new();
        for c in text.chars() {
            // Cannot fail: exactly 40 ASCII characters.
            let _ = id.push(c.to_ascii_lowercase());
        }
        Ok(ContentId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_are_40_hex_in_lower_case() {
        let id = ContentId::parse("ABCDEF0123456789abcdef0123456789ABCDEF01").unwrap();
        assert_eq!(id.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        assert_eq!(ContentId::parse(""), Err(IdError::Missing));
        assert_eq!(ContentId::parse("abc"), Err(IdError::Malformed));
        assert_eq!(ContentId::parse(&"g".repeat(40)), Err(IdError::Malformed));
        assert_eq!(ContentId::parse(&"é".repeat(20)), Err(IdError::Malformed));
    }
}
