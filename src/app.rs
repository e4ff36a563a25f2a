//! The program's shared state: what every request handler and report reads.
//!
//! [`App`] owns the channel registry, the connection gate, the start time, the channel list,
//! the engine's search, the device acebox is on the LAN, the names acebox is reached by, the
//! per-address tallies and the tokens; `main` builds it once and the router and the reports
//! borrow it. It holds no logic of its own and never imports the router or a report.

use std::sync::Arc;
use std::time::Instant;

use crate::channel::Registry;
use crate::channel_list::ChannelList;
use crate::http::{Gate, HostNames, Tally, Tokens};
use crate::search::Search;

/// What the server shares between requests.
pub struct App {
    pub registry: Registry,
    pub started: Instant,
    pub gate: Arc<Gate>,
    /// `--channels`, served at `/playlist.m3u` (read and rendered off the executor).
    pub channel_list: Option<Arc<ChannelList>>,
    /// The engine's search and its cache: `/search.m3u`, `/search.json`, `/epg.xml`.
    pub search: Search,
    /// What acebox is on the LAN (`lan` makes it and serves it).
    pub device: Device,
    /// The names the report and list routes answer to (`HostNames::admits`).
    pub names: HostNames,
    /// The channels each address asked to open this minute.
    pub opens: Tally,
    /// `--token`: what lets a client in from outside `--allow`.
    pub tokens: Tokens,
}

/// How acebox shows itself to TVs and media servers: the identity the HDHomeRun and UPnP
/// documents give, and whether it announces itself on the LAN.
pub struct Device {
    pub announce: bool,
    /// The HDHomeRun device id, with its check digit.
    pub id: u32,
    /// The UPnP device's uuid, without `uuid:`.
    pub uuid: String,
    /// The name TVs and media servers show.
    pub name: String,
}
