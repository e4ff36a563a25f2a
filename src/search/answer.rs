//! The engine's search answers as data: a page of results grouped by channel, or the access
//! token the older form asks for first, both in the `{"result": ..., "error": ...}` envelope.
//!
//! This module owns what is kept of an answer and how loosely it is read, as real engines
//! differ: a channel's `name` may be a number, `epg` a list or one object, a logo an `icon`
//! string or `icons` objects (`type` 0 preferred), times numbers or strings, and results may
//! come ungrouped (each a stream of its own). Text is cut to a bounded length with control
//! characters made spaces, a logo is kept only as an `http(s)://` URL, and a stream only with
//! a 40-hex infohash; a channel with no stream left is dropped. It never performs I/O and never
//! panics on any input: the fuzz target `search_answer` feeds it arbitrary bytes.
//!
//! Over 400 lines: the last 177 are its tests, answers in every shape engines send.

use std::borrow::Cow;
use std::fmt;

use super::json::{self, Malformed, Reader, Scalar};
use super::station::{Programme, Station, Stream, best_first, order};
use crate::channel::ContentId;

/// Characters kept of a name, a programme title or a category list.
const NAME_CHARS: usize = 120;
/// Characters kept of a programme's description.
const DESCRIPTION_CHARS: usize = 400;
/// Characters kept of a logo URL; a longer one is dropped.
const URL_CHARS: usize = 400;
/// Characters kept of a channel id; a longer one is dropped.
const ID_CHARS: usize = 64;
/// What a channel's guide id is its engine id followed by: XMLTV ids are names with a dot, and
/// this one says where they come from.
pub const ID_SUFFIX: &str = ".acestream";
/// Streams kept per channel and programmes per channel: more are passed over.
const STREAMS: usize = 16;
const PROGRAMMES: usize = 32;

/// One page of a search.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    /// The channels that can be played, in order (see `station::order`).
    pub stations: Vec<Station>,
    /// How many results the page held, kept or not: fewer than asked for ends the search.
    pub results: usize,
    /// How many results the whole search has, when the engine says.
    pub total: Option<u64>,
}

/// Why an answer gave no page or token.
#[derive(Debug, PartialEq)]
pub enum AnswerError {
    /// Not JSON, or not the envelope.
    NotJson(Malformed),
    /// The engine's own error, or a null result.
    Refused(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::NotJson(e) => {
                write!(f, "not the engine's JSON ({} at byte {})", e.what, e.at)
            }
            AnswerError::Refused(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for AnswerError {}

/// Reads a page of results (public for the fuzz target).
pub fn parse_page(body: &[u8]) -> Result<Page, AnswerError> {
    let mut page = Page::default();
    envelope(body, |r| {
        r.object(|r, key| match key {
            "results" => r.array(|r| {
                page.results += 1;
                if let Some(station) = record(r, true)?.into_station() {
                    page.stations.push(station);
                }
                Ok(())
            }),
            "total" => {
                page.total = r.scalar()?.and_then(|t| whole(&t));
                Ok(())
            }
            _ => r.skip(),
        })
    })?;
    order(&mut page.stations);
    Ok(page)
}

/// Reads the answer of `method=get_api_access_token`: the token.
pub fn parse_token(body: &[u8]) -> Result<String, AnswerError> {
    let mut token = String::new();
    envelope(body, |r| {
        r.object(|r, key| {
            match key {
                "token" => token = r.scalar()?.map(Cow::into_owned).unwrap_or_default(),
                _ => r.skip()?,
            }
            Ok(())
        })
    })?;
    let usable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric());
    if !usable {
        return Err(AnswerError::Refused(
            "the engine gave no usable access token".into(),
        ));
    }
    Ok(token)
}

/// Reads the envelope, handing `result` to `read` when it is an object; the engine's `error`,
/// or a null result, is a refusal.
fn envelope(
    body: &[u8],
    mut read: impl FnMut(&mut Reader) -> json::Result<()>,
) -> Result<(), AnswerError> {
    let mut r = Reader::new(body);
    if !r.is_object() {
        return Err(AnswerError::NotJson(Malformed {
            at: 0,
            what: "the answer is not a JSON object",
        }));
    }
    let (mut result, mut error) = (false, None);
    r.object(|r, key| match key {
        "result" if r.is_object() => {
            result = true;
            read(r)
        }
        "error" => {
            error = r
                .scalar()?
                .map(|e| clip(&e, NAME_CHARS))
                .filter(|e| !e.is_empty());
            Ok(())
        }
        _ => r.skip(),
    })
    .map_err(AnswerError::NotJson)?;
    if !r.at_end() {
        return Err(AnswerError::NotJson(Malformed {
            at: body.len(),
            what: "text follows the answer",
        }));
    }
    match (error, result) {
        (Some(error), _) => Err(AnswerError::Refused(error)),
        (None, false) => Err(AnswerError::Refused("the engine returned no result".into())),
        (None, true) => Ok(()),
    }
}

/// A result or one of its `items`, as read: the fields of both, since an ungrouped result is a
/// stream with no items.
#[derive(Default)]
struct Record {
    name: String,
    hash: Option<ContentId>,
    availability: u16,
    categories: String,
    channel_id: String,
    logo: String,
    /// Whether `logo` came from an icon of `type` 0, which wins over the others.
    logo_preferred: bool,
    guide: Vec<Programme>,
    /// Its items' streams, as read.
    streams: Vec<Stream>,
    /// The name, categories and channel id of its first items that give them, for a result
    /// that gives none of its own.
    item_name: String,
    item_categories: String,
    item_channel_id: String,
}

/// Reads a result (`top`) or an item: the keys acebox keeps, the others skipped.
fn record(r: &mut Reader, top: bool) -> json::Result<Record> {
    let mut rec = Record::default();
    r.object(|r, key| {
        match key {
            "name" => {
                rec.name = r
                    .scalar()?
                    .map_or_else(String::new, |t| clip(&t, NAME_CHARS))
            }
            "infohash" => rec.hash = r.scalar()?.and_then(|t| ContentId::parse(&t).ok()),
            "availability" => rec.availability = thousandths(r.scalar()?),
            "channel_id" => rec.channel_id = token(r.scalar()?, ID_CHARS),
            "categories" => r.array(|r| {
                if let Some(category) = r.scalar()? {
                    let category = clip(&category, NAME_CHARS);
                    let room = rec.categories.len() + category.len() < NAME_CHARS;
                    if !category.is_empty() && room {
                        if !rec.categories.is_empty() {
                            rec.categories.push(';');
                        }
                        rec.categories.push_str(&category.replace(';', ","));
                    }
                }
                Ok(())
            })?,
            "icon" if top => rec.offer_logo(r.scalar()?, false),
            "icons" if top => r.array(|r| {
                let (mut url, mut preferred) = (None, false);
                r.object(|r, key| {
                    match key {
                        "url" => url = r.scalar()?,
                        "type" => preferred = r.scalar()?.as_deref() == Some("0"),
                        _ => r.skip()?,
                    }
                    Ok(())
                })?;
                rec.offer_logo(url, preferred);
                Ok(())
            })?,
            "epg" if top => r.array(|r| {
                let programme = programme(r)?;
                if rec.guide.len() < PROGRAMMES {
                    rec.guide.extend(programme);
                }
                Ok(())
            })?,
            "items" if top => r.array(|r| {
                let item = record(r, false)?;
                if let Some(id) = item.hash.filter(|_| rec.streams.len() < STREAMS) {
                    let availability = item.availability;
                    rec.streams.push(Stream { id, availability });
                    for (field, value) in [
                        (&mut rec.item_name, item.name),
                        (&mut rec.item_categories, item.categories),
                        (&mut rec.item_channel_id, item.channel_id),
                    ] {
                        if field.is_empty() {
                            *field = value;
                        }
                    }
                }
                Ok(())
            })?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(rec)
}

impl Record {
    /// Takes `url` as the logo if it is usable and better than the one held.
    fn offer_logo(&mut self, url: Scalar<'_>, preferred: bool) {
        let better = self.logo.is_empty() || (preferred && !self.logo_preferred);
        let Some(url) = url.filter(|u| better && is_logo_url(u)) else {
            return;
        };
        self.logo = url.into_owned();
        self.logo_preferred = preferred;
    }

    /// The station this result is, if it has a stream: its items, or, ungrouped, itself.
    fn into_station(mut self) -> Option<Station> {
        if self.streams.is_empty() {
            let id = self.hash.take()?;
            let availability = self.availability;
            self.streams.push(Stream { id, availability });
        }
        best_first(&mut self.streams, |s| s.availability);
        let own = |own: String, item: String| if own.is_empty() { item } else { own };
        let id = match own(self.channel_id, self.item_channel_id) {
            id if id.is_empty() => format!("{}{ID_SUFFIX}", self.streams[0].id.as_str()),
            id => id + ID_SUFFIX,
        };
        Some(Station {
            name: own(self.name, self.item_name),
            id,
            logo: self.logo,
            group: own(self.categories, self.item_categories),
            streams: self.streams,
            guide: self.guide,
        })
    }
}

/// Reads a programme; `None` unless it has a title and a start before its stop.
fn programme(r: &mut Reader) -> json::Result<Option<Programme>> {
    let mut p = Programme {
        start: 0,
        stop: 0,
        title: String::new(),
        description: String::new(),
    };
    r.object(|r, key| {
        let text = r.scalar()?;
        match key {
            "start" => p.start = text.and_then(|t| whole(&t)).unwrap_or(0),
            "stop" => p.stop = text.and_then(|t| whole(&t)).unwrap_or(0),
            "name" | "title" => p.title = text.map_or_else(String::new, |t| clip(&t, NAME_CHARS)),
            "description" | "desc" => {
                p.description = text.map_or_else(String::new, |t| clip(&t, DESCRIPTION_CHARS));
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok((p.start > 0 && p.start < p.stop && !p.title.is_empty()).then_some(p))
}

/// `text` with every control character made a space, trimmed, cut to `max` characters.
fn clip(text: &str, max: usize) -> String {
    text.trim()
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// A channel id as a guide id may hold it (XMLTV's validator takes letters, digits and `-`),
/// at most `max` long; empty otherwise.
fn token(text: Scalar<'_>, max: usize) -> String {
    let text = text.unwrap_or_default();
    let plain = text.len() <= max && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain {
        text.into_owned()
    } else {
        String::new()
    }
}

/// Whether `url` may stand as a logo in a playlist or guide: `http(s)://`, bounded, with no
/// white space, quote or angle bracket.
fn is_logo_url(url: &str) -> bool {
    let scheme = url.starts_with("http://") || url.starts_with("https://");
    scheme
        && url.len() <= URL_CHARS
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>'))
}

/// A whole number of seconds or a count, written as an integer, a decimal or a string of one.
fn whole(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().ok()
}

/// The engine's availability (0 to 1) in thousandths; anything unreadable is 0.
fn thousandths(text: Scalar<'_>) -> u16 {
    let value = text.and_then(|t| t.parse::<f32>().ok()).unwrap_or(0.0);
    // NaN compares false both ways and stays 0.
    if value > 0.0 {
        (value.min(1.0) * 1000.0 + 0.5) as u16
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";
    const C: &str = "fedcba9876543210fedcba9876543210fedcba98";

    /// A page as the current engines send it, grouped by channel with its guide.
    fn current() -> String {
        format!(
            r#"{{"result": {{"total": 3, "time": 0.02, "results": [
            {{"name": "Sport 1", "icons": [{{"url": "http://logo/s1-small.png", "type": 1}},
                {{"url": "http://logo/s1.png", "type": 0}}],
             "epg": [{{"start": 1700000000, "stop": 1700003600, "name": "Match \u0026 more",
                      "description": "Live"}},
                     {{"start": "1700003600", "stop": "1700007200.0", "name": "Studio"}}],
             "items": [{{"infohash": "{A}", "name": "Sport 1 SD", "channel_id": 101,
                         "categories": ["sport"], "languages": ["eng"], "countries": ["gb"],
                         "availability": 0.4, "availability_updated_at": 1700000000,
                         "status": 1, "bitrate": 250000}},
                       {{"infohash": "{B}", "name": "Sport 1 HD", "channel_id": 101,
                         "categories": ["sport", "tv"], "availability": 0.95, "status": 2}}]}},
            {{"name": 24, "items": [{{"infohash": "{C}", "availability": 1.0,
                                      "categories": []}}]}},
            {{"name": "No streams", "items": [{{"infohash": "not hex"}}]}}
        ]}}, "error": null}}"#
        )
    }

    #[test]
    fn a_current_page_reads_into_stations_best_first() {
        let page = parse_page(current().as_bytes()).unwrap();
        assert_eq!((page.results, page.total), (3, Some(3)));
        assert_eq!(
            page.stations.len(),
            2,
            "a channel without a playable stream is dropped"
        );
        let [numeric, sport] = &page.stations[..] else {
            panic!("{page:?}")
        };
        assert_eq!(numeric.name, "24", "a numeric name is a name");
        assert_eq!(
            numeric.id,
            format!("{C}.acestream"),
            "no channel id: the best infohash"
        );
        assert_eq!((numeric.logo.as_str(), numeric.group.as_str()), ("", ""));
        assert_eq!(sport.name, "Sport 1");
        assert_eq!(sport.id, "101.acestream");
        assert_eq!(sport.logo, "http://logo/s1.png", "an icon of type 0 wins");
        assert_eq!(sport.group, "sport", "the first item's categories");
        let streams: Vec<(&str, u16)> = sport
            .streams
            .iter()
            .map(|s| (s.id.as_str(), s.availability))
            .collect();
        assert_eq!(streams, [(B, 950), (A, 400)]);
        assert_eq!(sport.guide.len(), 2);
        assert_eq!(sport.guide[0].title, "Match & more");
        assert_eq!(sport.guide[0].description, "Live");
        assert_eq!(
            (sport.guide[1].start, sport.guide[1].stop),
            (1_700_003_600, 1_700_007_200),
            "times as strings and decimals"
        );
    }

    #[test]
    fn older_and_ungrouped_shapes_read_too() {
        // The token form: one programme as an object, the logo as a string.
        let legacy = format!(
            r#"{{"result": {{"results": [{{"name": "News", "icon": "https://logo/n.png",
              "epg": {{"start": 1700000000, "stop": 1700001800, "name": "Headlines"}},
              "items": [{{"infohash": "{A}", "channel_id": "7", "availability": "0.5"}}]}}]}},
              "error": null}}"#
        );
        let page = parse_page(legacy.as_bytes()).unwrap();
        let news = &page.stations[0];
        assert_eq!(
            (news.logo.as_str(), news.id.as_str()),
            ("https://logo/n.png", "7.acestream")
        );
        assert_eq!(news.guide[0].title, "Headlines");
        assert_eq!(news.best().availability, 500);
        assert_eq!(page.total, None);
        // Ungrouped: every result a stream.
        let flat = format!(
            r#"{{"result": {{"results": [{{"infohash": "{B}", "name": "Kids\nTV",
              "categories": ["kids", "a;b"], "availability": 2}}]}}}}"#
        );
        let page = parse_page(flat.as_bytes()).unwrap();
        let kids = &page.stations[0];
        assert_eq!(kids.name, "Kids TV", "control characters become spaces");
        assert_eq!(kids.group, "kids;a,b");
        assert_eq!(kids.best().id.as_str(), B);
        assert_eq!(kids.best().availability, 1000, "clamped to 1");
        assert_eq!(kids.id, format!("{B}.acestream"));
    }

    #[test]
    fn unsafe_text_is_cut_or_dropped() {
        let long = "x".repeat(1000);
        let body = format!(
            r#"{{"result": {{"results": [{{"name": "{long}", "icon": "javascript:alert(1)",
              "items": [{{"infohash": "{A}", "channel_id": "a\"b",
                          "categories": ["{long}"]}}],
              "epg": [{{"start": 5, "stop": 4, "name": "backwards"}},
                      {{"start": 5, "stop": 6}},
                      {{"start": 5, "stop": 6, "name": "ok", "description": "{long}"}}]}}]}}}}"#
        );
        let page = parse_page(body.as_bytes()).unwrap();
        let s = &page.stations[0];
        assert_eq!(s.name.chars().count(), NAME_CHARS);
        assert_eq!(s.logo, "", "only http(s) logos");
        assert_eq!(
            s.id,
            format!("{A}.acestream"),
            "an id with a quote is not used"
        );
        assert!(
            s.group.is_empty(),
            "a category longer than the room is left out"
        );
        assert_eq!(s.guide.len(), 1, "programmes need a title and a span");
        assert_eq!(s.guide[0].description.chars().count(), DESCRIPTION_CHARS);
        let many = format!(
            r#"{{"result": {{"results": [{{"items": [{}]}}]}}}}"#,
            vec![format!(r#"{{"infohash": "{A}"}}"#); 40].join(",")
        );
        let page = parse_page(many.as_bytes()).unwrap();
        assert_eq!(page.stations[0].streams.len(), STREAMS);
    }

    #[test]
    fn errors_and_garbage_are_told_apart() {
        let refused = parse_page(br#"{"result": null, "error": "search request failed"}"#);
        assert_eq!(
            refused,
            Err(AnswerError::Refused("search request failed".into()))
        );
        assert!(matches!(
            parse_page(br#"{"result": null, "error": null}"#),
            Err(AnswerError::Refused(_))
        ));
        for garbage in [&b"<html>"[..], b"", b"[]", br#"{"result": {"results": [}}"#] {
            assert!(
                matches!(parse_page(garbage), Err(AnswerError::NotJson(_))),
                "{garbage:?}"
            );
        }
        assert!(matches!(
            parse_page(br#"{"result": {"results": []}} trailing"#),
            Err(AnswerError::NotJson(_))
        ));
        let empty = parse_page(br#"{"result": {"results": [], "total": 0}, "error": null}"#);
        assert_eq!(
            empty.unwrap(),
            Page {
                total: Some(0),
                ..Page::default()
            }
        );
    }

    #[test]
    fn tokens_are_read_from_the_envelope() {
        let answer = br#"{ "result": { "token": "9d324ef909c50629ca3d" }, "error": null }"#;
        assert_eq!(parse_token(answer).unwrap(), "9d324ef909c50629ca3d");
        assert!(matches!(
            parse_token(br#"{"result": {"token": "a&b=c"}}"#),
            Err(AnswerError::Refused(_))
        ));
        assert!(matches!(parse_token(b"nope"), Err(AnswerError::NotJson(_))));
    }
}
