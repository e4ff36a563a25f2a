//! A small pull reader of JSON text, for the engine's search answers: they are large (up to 200
//! channels a page, each with its streams and programmes), loosely typed (a name may be a
//! number, a time a string) and mostly made of fields acebox does not keep.
//!
//! This module owns walking the text: objects and arrays handed to the caller one key or
//! element at a time, strings unescaped (surrogate pairs joined, a lone one replaced), numbers
//! and literals given as their text, and any value skipped. It never allocates for a key or a
//! string without escapes, never recurses deeper than [`MAX_DEPTH`] and never panics on any
//! input: what is not JSON is a [`Malformed`] error with the byte offset.

use std::borrow::Cow;

/// How deep objects and arrays may nest; deeper input is refused rather than walked.
const MAX_DEPTH: u8 = 16;

/// Why the text is not the JSON it should be: what was wrong and at which byte.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed {
    pub at: usize,
    pub what: &'static str,
}

pub type Result<T> = std::result::Result<T, Malformed>;

/// A scalar as text: a string unescaped, a number as written; `None` for null, true, false or
/// a container.
pub type Scalar<'a> = Option<Cow<'a, str>>;

/// A reader over one JSON text.
pub struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    depth: u8,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a [u8]) -> Reader<'a> {
        Reader {
            text,
            at: 0,
            depth: 0,
        }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T> {
        Err(Malformed { at: self.at, what })
    }

    /// The next byte that is not white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b) = self.text.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(*b);
            }
            self.at += 1;
        }
        None
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    /// Whether only white space is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Whether the next value is an object (not consumed).
    pub fn is_object(&mut self) -> bool {
        self.peek() == Some(b'{')
    }

    /// Walks an object, calling `field` with each key; `field` must read or skip its value.
    /// Anything but an object (null included) is skipped and reads as an empty object.
    pub fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Result<()>) -> Result<()> {
        self.walk_object(&mut field)
    }

    /// [`object`](Self::object), compiled once for every caller.
    fn walk_object(&mut self, field: &mut dyn FnMut(&mut Self, &str) -> Result<()>) -> Result<()> {
        if !self.is_object() {
            return self.skip();
        }
        self.enter()?;
        if !self.eat(b'}') {
            loop {
                if self.peek() != Some(b'"') {
                    return self.fail("an object key must be a string");
                }
                let key = self.string()?;
                if !self.eat(b':') {
                    return self.fail("expected ':' after an object key");
                }
                field(self, &key)?;
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return self.fail("expected ',' or '}' in an object");
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Walks an array, calling `element` for each element, which it must read or skip.
    /// Anything but an array is handed to `element` once, as the only element: the engine sends
    /// a single programme where it could send a list.
    pub fn array(&mut self, mut element: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.walk_array(&mut element)
    }

    /// [`array`](Self::array), compiled once for every caller.
    fn walk_array(&mut self, element: &mut dyn FnMut(&mut Self) -> Result<()>) -> Result<()> {
        match self.peek() {
            Some(b'[') => {}
            Some(b'n') => return self.skip(),
            _ => return element(self),
        }
        self.enter()?;
        if !self.eat(b']') {
            loop {
                element(self)?;
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return self.fail("expected ',' or ']' in an array");
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Consumes the opening bracket of a container, refusing too deep a nesting.
    fn enter(&mut self) -> Result<()> {
        if self.depth == MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.depth += 1;
        self.at += 1;
        Ok(())
    }

    /// Reads a scalar as text (see [`Scalar`]); a container is skipped and reads as `None`.
    pub fn scalar(&mut self) -> Result<Scalar<'a>> {
        match self.peek() {
            Some(b'"') => self.string().map(Some),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    self.at += 1;
                }
                // Only ASCII digits and signs were taken: always UTF-8.
                Ok(std::str::from_utf8(&self.text[start..self.at])
                    .ok()
                    .map(Cow::Borrowed))
            }
            _ => self.skip().map(|()| None),
        }
    }

    /// Skips one value of any kind.
    pub fn skip(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'{') => self.object(|r, _| r.skip()),
            Some(b'[') => self.array(Self::skip),
            Some(b'"' | b'-' | b'0'..=b'9') => self.scalar().map(drop),
            Some(_) => {
                for word in ["null", "true", "false"] {
                    if self.text[self.at..].starts_with(word.as_bytes()) {
                        self.at += word.len();
                        return Ok(());
                    }
                }
                self.fail("expected a JSON value")
            }
            None => self.fail("the text ends where a value should be"),
        }
    }

    /// Reads a string (the next byte is its opening quote), unescaped.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.at += 1;
        let start = self.at;
        let mut escaped = false;
        loop {
            match self.text.get(self.at) {
                None => return self.fail("a string is not closed"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.at += 2;
                }
                Some(_) => self.at += 1,
            }
        }
        let raw = self.text.get(start..self.at).unwrap_or_default();
        self.at += 1;
        let Ok(raw) = std::str::from_utf8(raw) else {
            return self.fail("a string is not UTF-8");
        };
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        unescape(raw).map(Cow::Owned).ok_or(Malformed {
            at: start,
            what: "a string has a bad escape",
        })
    }
}

/// The text of a string's body with its escapes resolved; `None` for a bad escape.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                let unit = hex4(&mut chars)?;
                if (0xd800..0xdc00).contains(&unit) && chars.as_str().starts_with("\\u") {
                    let mut ahead = chars.clone();
                    ahead.nth(1);
                    let low = hex4(&mut ahead)?;
                    if (0xdc00..0xe000).contains(&low) {
                        chars = ahead;
                        let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        out.push(char::from_u32(code)?);
                        continue;
                    }
                }
                char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            c @ ('"' | '\\' | '/') => c,
            _ => return None,
        });
    }
    Some(out)
}

/// Four hex digits of a `\u` escape.
fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    (0..4).try_fold(0, |n, _| Some(n * 16 + chars.next()?.to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scalar of a flat array, as text (`-` for none).
    fn scalars(text: &str) -> Result<Vec<String>> {
        let mut r = Reader::new(text.as_bytes());
        let mut out = Vec::new();
        r.array(|r| {
            out.push(r.scalar()?.map_or("-".into(), Cow::into_owned));
            Ok(())
        })?;
        assert!(r.at_end(), "{text}");
        Ok(out)
    }

    #[test]
    fn scalars_read_as_text() {
        assert_eq!(
            scalars(r#" [ "a", 12, -1.5e3, null, true, false, {"x": [1]}, [2], "" ] "#).unwrap(),
            ["a", "12", "-1.5e3", "-", "-", "-", "-", "-", ""]
        );
        assert_eq!(scalars("[]").unwrap(), Vec::<String>::new());
        assert_eq!(scalars("7").unwrap(), ["7"], "a lone value is one element");
        assert_eq!(scalars("null").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn strings_are_unescaped() {
        assert_eq!(
            scalars(r#"["a\"b\\c\/d\n\t", "\u00e9\u041c", "\ud83d\ude00", "\ud83dx", "Матч"]"#)
                .unwrap(),
            ["a\"b\\c/d\n\t", "éМ", "😀", "\u{fffd}x", "Матч"]
        );
        let bad = scalars(r#"["\q"]"#).unwrap_err();
        assert_eq!(bad.what, "a string has a bad escape");
        assert!(scalars(r#"["\u12"]"#).is_err());
        assert!(scalars("[\"\\").is_err(), "an escape at the very end");
    }

    #[test]
    fn objects_hand_over_their_keys_and_skip_what_is_not_read() {
        let text = br#"{"a": 1, "skip": {"deep": [1, {"x": null}], "s": "}"}, "b\u0021": "two"}"#;
        let mut r = Reader::new(text);
        let mut seen = Vec::new();
        r.object(|r, key| {
            match key {
                "a" | "b!" => seen.push(format!("{key}={}", r.scalar()?.unwrap_or_default())),
                _ => r.skip()?,
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["a=1", "b!=two"]);
        assert!(r.at_end());
        // Not an object: read as an empty one.
        let mut r = Reader::new(b"[1, 2]");
        r.object(|_, _| panic!("no keys")).unwrap();
        assert!(r.at_end());
    }

    #[test]
    fn what_is_not_json_is_refused_with_its_place() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "{\"a\": 1 \"b\": 2}",
            "{1: 2}",
            "[1 2]",
            "[1,",
            "nul",
            "<html>",
            "\"open",
        ] {
            let mut r = Reader::new(bad.as_bytes());
            assert!(r.skip().is_err(), "{bad:?}");
        }
        let deep = "[".repeat(usize::from(MAX_DEPTH) + 1);
        let err = Reader::new(deep.as_bytes()).skip().unwrap_err();
        assert_eq!(
            (err.what, err.at),
            ("nested too deeply", usize::from(MAX_DEPTH))
        );
        let fine = format!("{}{}", "[".repeat(16), "]".repeat(16));
        assert!(Reader::new(fine.as_bytes()).skip().is_ok());
        let invalid_utf8 = b"[\"\xff\"]";
        assert!(Reader::new(invalid_utf8).skip().is_err());
    }
}
