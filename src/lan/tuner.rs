//! The HDHomeRun HTTP API that media servers (Plex, Jellyfin, Emby, Channels DVR) read once
//! they know of a tuner: `/discover.json` (what the tuner is, how many streams at once, where
//! its lineup is), `/lineup.json` (each channel's number, name and MPEG-TS URL) and
//! `/lineup_status.json` (no channel scan is ever under way: the lineup is the channel list).
//!
//! This module owns those documents' fields, as Jellyfin's HdHomerun tuner host reads them
//! (`DiscoverResponse`, `Channels`). It writes JSON with the transport's one string escaper
//! and never starts a channel: a lineup URL is acebox's own `/ace/getstream` URL.

use core::fmt::Write;

use super::Links;
use crate::app::Device;
use crate::channel_list::Listing;
use crate::http::push_json_string;

/// `/discover.json`. `TunerCount` is the board's channel capacity: acebox plays that many
/// channels at once, each to any number of players.
pub fn discover(device: &Device, links: &Links<'_>, tuners: usize) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"FriendlyName\":");
    push_json_string(&mut out, &device.name);
    let _ = writeln!(
        out,
        ",\"Manufacturer\":\"acebox\",\"ModelNumber\":\"acebox\",\"FirmwareName\":\"acebox\",\
         \"FirmwareVersion\":\"{}\",\"TunerCount\":{tuners},\"DeviceID\":\"{:08X}\",\
         \"DeviceAuth\":\"acebox\",\"BaseURL\":\"{}\",\"LineupURL\":\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        device.id,
        links.base(),
        links.url("/lineup.json"),
    );
    out
}

/// `/lineup.json`: every channel of the list, in its order.
pub fn lineup(list: &[&Listing], links: &Links<'_>) -> String {
    let mut out = String::with_capacity(list.len() * 160 + 2);
    out.push('[');
    for (n, l) in list.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"GuideNumber\":");
        push_json_string(&mut out, &super::number(l, n));
        out.push_str(",\"GuideName\":");
        push_json_string(&mut out, &super::title(l, n));
        out.push_str(",\"URL\":");
        push_json_string(&mut out, &links.stream(l));
        out.push('}');
    }
    out.push_str("]\n");
    out
}

/// `/lineup_status.json`: the lineup is always there, never being scanned.
pub const LINEUP_STATUS: &str = "{\"ScanInProgress\":0,\"ScanPossible\":1,\"Source\":\"Cable\",\
     \"SourceList\":[\"Cable\"]}\n";

#[cfg(test)]
mod tests {
    use super::super::tests::listing;
    use super::*;

    #[test]
    fn discover_names_the_tuner_and_where_its_lineup_is() {
        let device = Device {
            announce: false,
            id: 0xA123_4567,
            uuid: String::new(),
            name: "acebox \"den\"".into(),
        };
        let json = discover(
            &device,
            &Links::new("10.0.0.2:6880", &crate::http::Admission::default()),
            4,
        );
        assert!(
            json.starts_with("{\"FriendlyName\":\"acebox \\\"den\\\"\","),
            "{json}"
        );
        assert!(json.contains("\"TunerCount\":4,\"DeviceID\":\"A1234567\""));
        assert!(json.contains("\"BaseURL\":\"http://10.0.0.2:6880\""));
        assert!(json.contains("\"LineupURL\":\"http://10.0.0.2:6880/lineup.json\""));
    }

    #[test]
    fn the_lineup_numbers_by_tvg_chno_or_by_place() {
        let list = [
            listing("One", "", "", ""),
            listing("", "", "101", ""),
            listing("T\"3", "", "", ""),
        ];
        let json = lineup(
            &list.iter().collect::<Vec<_>>(),
            &Links::new("tv.lan", &crate::http::Admission::default()),
        );
        let id = "01".repeat(20);
        assert_eq!(
            json,
            format!(
                "[{{\"GuideNumber\":\"1\",\"GuideName\":\"One\",\"URL\":\"http://tv.lan/ace/getstream?id={id}\"}},\
                 {{\"GuideNumber\":\"101\",\"GuideName\":\"Channel 101\",\"URL\":\"http://tv.lan/ace/getstream?id={id}\"}},\
                 {{\"GuideNumber\":\"3\",\"GuideName\":\"T\\\"3\",\"URL\":\"http://tv.lan/ace/getstream?id={id}\"}}]\n"
            )
        );
        assert_eq!(
            lineup(
                &[],
                &Links::new("tv.lan", &crate::http::Admission::default())
            ),
            "[]\n"
        );
    }
}
