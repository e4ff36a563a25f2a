//! The DLNA media server's actions: ContentDirectory:1 (Browse, GetSearchCapabilities,
//! GetSortCapabilities, GetSystemUpdateID) and ConnectionManager:1 (GetProtocolInfo), so a
//! TV's media browser lists the channels by group and plays one through acebox's MPEG-TS URL.
//!
//! This module owns the object tree and its DIDL-Lite: the root (`0`) holds a container per
//! group (`g<n>`, in the order groups first appear, at most [`MAX_GROUPS`]) and the channels
//! with no group; a container holds its group's channels (`c<n>`, `n` the channel's place in
//! the list). It reads a SOAP request that the router already bounded in size and answers at
//! most [`MAX_RESULTS`] objects per Browse, so a request costs bounded work whatever it asks.
//! Text is escaped by the crate's one XML function (the DIDL-Lite, then the DIDL-Lite inside
//! the SOAP envelope). It never opens a channel and never reads the channel list itself.
//!
//! Over 400 lines: the last 200 are its tests, a Browse of each kind of object and each fault.

use core::fmt::Write;

use super::Links;
use super::upnp::{CONNECTION_MANAGER, CONTENT_DIRECTORY};
use crate::channel_list::Listing;
use crate::xml::push_escaped;

/// Objects returned by one Browse at most; a client pages through the rest with
/// `StartingIndex` (`TotalMatches` says how many there are).
pub const MAX_RESULTS: usize = 100;
/// Groups shown as containers; the channels of any group past these are listed in the root.
pub const MAX_GROUPS: usize = 64;

/// What a channel's stream is to DLNA: live (no seeking, DLNA.ORG_OP=00), not transcoded,
/// streaming transfer mode with background and stall allowed, DLNA 1.5.
macro_rules! features {
    () => {
        "DLNA.ORG_OP=00;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000"
    };
}

/// The `contentFeatures.dlna.org` header of a stream (TVs ask for it with
/// `getcontentFeatures.dlna.org`, some refuse a stream without it).
pub const CONTENT_FEATURES: &str = features!();

/// What TVs are told a channel's `res` is: MPEG-TS (`video/mpeg`, as minidlna says of TS
/// files) over HTTP, with [`CONTENT_FEATURES`].
pub const PROTOCOL_INFO: &str = concat!("http-get:*:video/mpeg:", features!());

/// A UPnP action's failure: its error code and description, sent as a SOAP fault with HTTP
/// 500.
#[derive(Debug, PartialEq, Eq)]
pub struct Fault(pub u16, pub &'static str);

const INVALID_ACTION: Fault = Fault(401, "Invalid Action");
const INVALID_ARGS: Fault = Fault(402, "Invalid Args");
const NO_SUCH_OBJECT: Fault = Fault(701, "No such object");

/// An object of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Object {
    Root,
    Group(usize),
    Channel(usize),
}

impl Object {
    fn parse(id: &str) -> Option<Object> {
        let number = |n: &str| n.parse().ok().filter(|_| !n.starts_with('+'));
        match id.split_at_checked(1)? {
            ("0", "") => Some(Object::Root),
            ("g", n) => number(n).map(Object::Group),
            ("c", n) => number(n).map(Object::Channel),
            _ => None,
        }
    }
}

/// The groups of a list, in the order they first appear.
struct Groups<'a>(heapless::Vec<&'a str, MAX_GROUPS>);

impl<'a> Groups<'a> {
    fn of(list: &'a [&'a Listing]) -> Groups<'a> {
        let mut groups = heapless::Vec::new();
        for l in list {
            if !l.group.is_empty() && !groups.contains(&l.group.as_str()) {
                // Past MAX_GROUPS, a group's channels stay in the root.
                let _ = groups.push(l.group.as_str());
            }
        }
        Groups(groups)
    }

    /// The container channel `l` is in: `None` for the root.
    fn of_channel(&self, l: &Listing) -> Option<usize> {
        self.0.iter().position(|g| *g == l.group)
    }

    /// The children of `parent`, in order.
    fn children<'b>(
        &'b self,
        list: &'b [&'b Listing],
        parent: Object,
    ) -> impl Iterator<Item = Object> + 'b {
        let groups = match parent {
            Object::Root => 0..self.0.len(),
            _ => 0..0,
        };
        let wanted = match parent {
            Object::Root => Some(None),
            Object::Group(g) => Some(Some(g)),
            Object::Channel(_) => None,
        };
        groups.map(Object::Group).chain(
            list.iter()
                .enumerate()
                .filter(move |(_, l)| wanted == Some(self.of_channel(l)))
                .map(|(n, _)| Object::Channel(n)),
        )
    }

    /// The container holding `object`, and whether `object` exists.
    fn parent(&self, list: &[&Listing], object: Object) -> Option<Option<Object>> {
        match object {
            Object::Root => Some(None),
            Object::Group(g) => (g < self.0.len()).then_some(Some(Object::Root)),
            Object::Channel(n) => list
                .get(n)
                .map(|l| Some(self.of_channel(l).map_or(Object::Root, Object::Group))),
        }
    }
}

/// Answers a ContentDirectory or ConnectionManager action: the SOAP response body, or a fault.
/// `action` is the SOAPACTION header (`"urn:...:ContentDirectory:1#Browse"`), `body` the
/// request's text; `name` titles the root container.
pub fn answer(
    action: &str,
    body: &str,
    list: &[&Listing],
    links: &Links<'_>,
    name: &str,
) -> Result<String, Fault> {
    let (service, action) = action
        .trim()
        .trim_matches('"')
        .split_once('#')
        .ok_or(INVALID_ACTION)?;
    let mut out = String::new();
    let args = match (service, action) {
        (CONTENT_DIRECTORY, "Browse") => browse(body, list, links, name)?,
        (CONTENT_DIRECTORY, "GetSearchCapabilities") => "<SearchCaps></SearchCaps>".into(),
        (CONTENT_DIRECTORY, "GetSortCapabilities") => "<SortCaps></SortCaps>".into(),
        (CONTENT_DIRECTORY, "GetSystemUpdateID") => "<Id>1</Id>".into(),
        (CONNECTION_MANAGER, "GetProtocolInfo") => {
            format!("<Source>{PROTOCOL_INFO}</Source><Sink></Sink>")
        }
        _ => return Err(INVALID_ACTION),
    };
    let _ = write!(
        out,
        "{ENVELOPE}<u:{action}Response xmlns:u=\"{service}\">{args}</u:{action}Response>{END}"
    );
    Ok(out)
}

/// The SOAP fault for `fault`.
pub fn fault_body(Fault(code, text): &Fault) -> String {
    format!(
        "{ENVELOPE}<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>\
         <detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}\
         </errorCode><errorDescription>{text}</errorDescription></UPnPError></detail></s:Fault>{END}"
    )
}

const ENVELOPE: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<s:Envelope \
     xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
     s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>";
const END: &str = "</s:Body></s:Envelope>\n";

/// The text of argument `name` in a SOAP body: `<name>text</name>` (or `<name/>`, empty),
/// wherever it is and whatever prefix its action element has.
fn arg<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = body;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let Some(after) = rest.strip_prefix(name) else {
            continue;
        };
        if after.starts_with("/>") {
            return Some("");
        }
        if !after.starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
            continue;
        }
        let value = &after[after.find('>')? + 1..];
        return value.find("</").map(|end| value[..end].trim());
    }
    None
}

/// `Browse`: the metadata of one object or a page of its children, as DIDL-Lite in `Result`.
fn browse(body: &str, list: &[&Listing], links: &Links<'_>, name: &str) -> Result<String, Fault> {
    let object = arg(body, "ObjectID").ok_or(INVALID_ARGS)?;
    let object = Object::parse(object).ok_or(NO_SUCH_OBJECT)?;
    let number = |name| match arg(body, name) {
        None | Some("") => Ok(0),
        Some(n) => n.parse::<usize>().map_err(|_| INVALID_ARGS),
    };
    let (start, count) = (number("StartingIndex")?, number("RequestedCount")?);
    let count = if count == 0 {
        MAX_RESULTS
    } else {
        count.min(MAX_RESULTS)
    };
    let groups = Groups::of(list);
    let parent = groups.parent(list, object).ok_or(NO_SUCH_OBJECT)?;
    let mut didl = String::from(
        "<DIDL-Lite xmlns=\"urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:upnp=\"urn:schemas-upnp-org:metadata-1-0/upnp/\" \
         xmlns:dlna=\"urn:schemas-dlna-org:metadata-1-0/\">",
    );
    let (returned, total) = match arg(body, "BrowseFlag") {
        Some("BrowseMetadata") => {
            object_didl(&mut didl, &groups, list, links, object, parent, name);
            (1, 1)
        }
        Some("BrowseDirectChildren") => {
            let mut returned = 0;
            let mut total = 0;
            for child in groups.children(list, object) {
                if total >= start && returned < count {
                    object_didl(&mut didl, &groups, list, links, child, Some(object), name);
                    returned += 1;
                }
                total += 1;
            }
            (returned, total)
        }
        _ => return Err(INVALID_ARGS),
    };
    didl.push_str("</DIDL-Lite>");
    let mut out = String::with_capacity(didl.len() + didl.len() / 4 + 128);
    out.push_str("<Result>");
    push_escaped(&mut out, &didl);
    let _ = write!(
        out,
        "</Result><NumberReturned>{returned}</NumberReturned><TotalMatches>{total}\
         </TotalMatches><UpdateID>1</UpdateID>"
    );
    Ok(out)
}

/// Appends one object's DIDL-Lite element.
fn object_didl(
    out: &mut String,
    groups: &Groups<'_>,
    list: &[&Listing],
    links: &Links<'_>,
    object: Object,
    parent: Option<Object>,
    root_name: &str,
) {
    out.push('<');
    out.push_str(if matches!(object, Object::Channel(_)) {
        "item"
    } else {
        "container"
    });
    push_id(out, " id=\"", Some(object));
    push_id(out, "\" parentID=\"", parent);
    out.push_str("\" restricted=\"1\"");
    let title = match object {
        Object::Root | Object::Group(_) => {
            let children = groups.children(list, object).count();
            let _ = write!(
                out,
                " childCount=\"{children}\" searchable=\"0\"><dc:title>"
            );
            match object {
                Object::Group(g) => groups.0.get(g).copied().unwrap_or(""),
                _ => root_name,
            }
        }
        Object::Channel(_) => {
            out.push_str("><dc:title>");
            ""
        }
    };
    let Object::Channel(n) = object else {
        push_escaped(out, title);
        out.push_str(
            // `storageUsed` is required of a storageFolder (-1: unknown); strict parsers check.
            "</dc:title><upnp:class>object.container.storageFolder</upnp:class>\
             <upnp:storageUsed>-1</upnp:storageUsed></container>",
        );
        return;
    };
    let Some(l) = list.get(n) else { return };
    let number = super::number(l, n);
    push_escaped(out, &super::title(l, n));
    out.push_str("</dc:title><upnp:class>object.item.videoItem.videoBroadcast</upnp:class>");
    if number.parse::<u32>().is_ok() {
        let _ = write!(out, "<upnp:channelNr>{number}</upnp:channelNr>");
    }
    if !l.logo.is_empty() {
        out.push_str("<upnp:albumArtURI>");
        push_escaped(out, &l.logo);
        out.push_str("</upnp:albumArtURI>");
    }
    let _ = write!(out, "<res protocolInfo=\"{PROTOCOL_INFO}\">");
    push_escaped(out, &links.stream(l));
    out.push_str("</res></item>");
}

/// Appends `prefix` and the DIDL id of `object` (`-1` for none: the root's parent).
fn push_id(out: &mut String, prefix: &str, object: Option<Object>) {
    out.push_str(prefix);
    let _ = match object {
        None => write!(out, "-1"),
        Some(Object::Root) => write!(out, "0"),
        Some(Object::Group(g)) => write!(out, "g{g}"),
        Some(Object::Channel(n)) => write!(out, "c{n}"),
    };
}

#[cfg(test)]
mod tests {
    use super::super::tests::listing;
    use super::*;

    const CD: &str = "\"urn:schemas-upnp-org:service:ContentDirectory:1#Browse\"";

    fn browse_body(object: &str, flag: &str, start: usize, count: usize) -> String {
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
             <s:Body><u:Browse xmlns:u=\"urn:schemas-upnp-org:service:ContentDirectory:1\">\
             <ObjectID>{object}</ObjectID><BrowseFlag>{flag}</BrowseFlag><Filter>*</Filter>\
             <StartingIndex>{start}</StartingIndex><RequestedCount>{count}</RequestedCount>\
             <SortCriteria/></u:Browse></s:Body></s:Envelope>"
        )
    }

    fn list() -> Vec<Listing> {
        vec![
            listing("Sport 1", "Sport", "", "http://logo.example/s1.png?a=1&b=2"),
            listing("News <24>", "", "7", ""),
            listing("Sport 2", "Sport", "12", ""),
            listing("Film", "Movies", "", ""),
        ]
    }

    fn run(object: &str, flag: &str, start: usize, count: usize) -> Result<String, Fault> {
        let inside = crate::http::Admission::default();
        let links = Links::new("tv.lan:6880", &inside);
        answer(
            CD,
            &browse_body(object, flag, start, count),
            &list().iter().collect::<Vec<_>>(),
            &links,
            "acebox",
        )
    }

    /// The DIDL-Lite inside `Result`, unescaped.
    fn didl(answer: &str) -> String {
        let start = answer.find("<Result>").unwrap() + 8;
        let end = answer.find("</Result>").unwrap();
        answer[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }

    #[test]
    fn the_root_holds_the_groups_then_the_channels_without_one() {
        let root = run("0", "BrowseDirectChildren", 0, 0).unwrap();
        assert!(root.contains("<NumberReturned>3</NumberReturned><TotalMatches>3</TotalMatches>"));
        let d = didl(&root);
        let sport = d
            .find("<container id=\"g0\" parentID=\"0\" restricted=\"1\" childCount=\"2\"")
            .unwrap();
        let movies = d.find("<container id=\"g1\" parentID=\"0\"").unwrap();
        let news = d.find("<item id=\"c1\" parentID=\"0\"").unwrap();
        assert!(sport < movies && movies < news, "{d}");
        assert!(d.contains("<dc:title>News &lt;24&gt;</dc:title>"), "{d}");
        assert!(d.contains("<upnp:channelNr>7</upnp:channelNr>"));
        assert!(d.contains(&format!(
            "<res protocolInfo=\"{PROTOCOL_INFO}\">http://tv.lan:6880/ace/getstream?id={}</res>",
            "01".repeat(20)
        )));
    }

    #[test]
    fn a_group_lists_its_channels_and_pages() {
        let sport = didl(&run("g0", "BrowseDirectChildren", 0, 0).unwrap());
        assert!(sport.contains("<item id=\"c0\" parentID=\"g0\""), "{sport}");
        assert!(sport.contains("<item id=\"c2\" parentID=\"g0\""));
        assert!(sport.contains(
            "<upnp:albumArtURI>http://logo.example/s1.png?a=1&amp;b=2</upnp:albumArtURI>"
        ));
        assert!(!sport.contains("c1") && !sport.contains("c3"));
        let second = run("g0", "BrowseDirectChildren", 1, 1).unwrap();
        assert!(
            second.contains("<NumberReturned>1</NumberReturned><TotalMatches>2</TotalMatches>")
        );
        assert!(didl(&second).contains("id=\"c2\"") && !didl(&second).contains("id=\"c0\""));
        let past = run("g0", "BrowseDirectChildren", 5, 10).unwrap();
        assert!(past.contains("<NumberReturned>0</NumberReturned><TotalMatches>2</TotalMatches>"));
    }

    #[test]
    fn metadata_of_each_kind_of_object() {
        let root = didl(&run("0", "BrowseMetadata", 0, 0).unwrap());
        assert!(
            root.contains("<container id=\"0\" parentID=\"-1\" restricted=\"1\" childCount=\"3\""),
            "{root}"
        );
        assert!(root.contains("<dc:title>acebox</dc:title>"));
        let film = didl(&run("c3", "BrowseMetadata", 0, 0).unwrap());
        assert!(film.contains("<item id=\"c3\" parentID=\"g1\""), "{film}");
        assert!(
            film.contains("<upnp:channelNr>4</upnp:channelNr>"),
            "numbered by place"
        );
        for missing in ["c4", "g2", "x", "", "c", "c+1", "00"] {
            assert_eq!(
                run(missing, "BrowseMetadata", 0, 0),
                Err(NO_SUCH_OBJECT),
                "{missing}"
            );
        }
        assert_eq!(run("0", "BrowseEverything", 0, 0), Err(INVALID_ARGS));
    }

    #[test]
    fn a_browse_answers_at_most_max_results() {
        let many: Vec<Listing> = (0..250)
            .map(|n| listing(&format!("C{n}"), "", "", ""))
            .collect();
        let inside = crate::http::Admission::default();
        let links = Links::new("tv.lan", &inside);
        let all = answer(
            CD,
            &browse_body("0", "BrowseDirectChildren", 0, 0),
            &many.iter().collect::<Vec<_>>(),
            &links,
            "a",
        )
        .unwrap();
        assert!(all.contains(&format!(
            "<NumberReturned>{MAX_RESULTS}</NumberReturned><TotalMatches>250</TotalMatches>"
        )));
        let tail = answer(
            CD,
            &browse_body("0", "BrowseDirectChildren", 200, 500),
            &many.iter().collect::<Vec<_>>(),
            &links,
            "a",
        )
        .unwrap();
        assert!(tail.contains("<NumberReturned>50</NumberReturned>"));
    }

    #[test]
    fn other_actions_and_bad_requests() {
        let inside = crate::http::Admission::default();
        let links = Links::new("tv.lan", &inside);
        let ask = |action: &str, body: &str| {
            answer(
                action,
                body,
                &list().iter().collect::<Vec<_>>(),
                &links,
                "a",
            )
        };
        let caps = ask(
            "\"urn:schemas-upnp-org:service:ContentDirectory:1#GetSortCapabilities\"",
            "",
        )
        .unwrap();
        assert!(caps.contains("<u:GetSortCapabilitiesResponse xmlns:u=\"urn:schemas-upnp-org:service:ContentDirectory:1\"><SortCaps></SortCaps>"));
        let id = ask(
            "urn:schemas-upnp-org:service:ContentDirectory:1#GetSystemUpdateID",
            "",
        )
        .unwrap();
        assert!(id.contains("<Id>1</Id>"));
        let info = ask(
            "\"urn:schemas-upnp-org:service:ConnectionManager:1#GetProtocolInfo\"",
            "",
        )
        .unwrap();
        assert!(info.contains(&format!("<Source>{PROTOCOL_INFO}</Source>")));
        assert_eq!(ask("\"urn:x#Browse\"", ""), Err(INVALID_ACTION));
        assert_eq!(ask("Browse", ""), Err(INVALID_ACTION));
        assert_eq!(ask(CD, "<ObjectIDs>0</ObjectIDs>"), Err(INVALID_ARGS));
        let bad_count = browse_body("0", "BrowseDirectChildren", 0, 0)
            .replace(">0</RequestedCount", ">-1</RequestedCount");
        assert_eq!(ask(CD, &bad_count), Err(INVALID_ARGS));
        let fault = fault_body(&NO_SUCH_OBJECT);
        assert!(fault.contains("<errorCode>701</errorCode>"));
    }

    #[test]
    fn arguments_are_found_by_their_whole_name() {
        let body = "<u:Browse><ObjectIDx>9</ObjectIDx><ObjectID >0</ObjectID><Filter/></u:Browse>";
        assert_eq!(arg(body, "ObjectID"), Some("0"));
        assert_eq!(arg(body, "Filter"), Some(""));
        assert_eq!(arg(body, "Missing"), None);
        assert_eq!(arg("<ObjectID>0", "ObjectID"), None);
    }
}
