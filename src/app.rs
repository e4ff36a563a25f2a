//! The program's shared state: what every request handler and report reads.
//!
//! [`App`] owns the channel registry, the connection gate, the start time, the channel list and
//! the engine's search; `main` builds it once and the router and the reports borrow it. It
//! holds no logic of its own and never imports the router or a report.

use std::sync::Arc;
use std::time::Instant;

use crate::channel::Registry;
use crate::channel_list::ChannelList;
use crate::http::Gate;
use crate::search::Search;

/// What the server shares between requests.
pub struct App {
    pub registry: Registry,
    pub started: Instant,
    pub gate: Arc<Gate>,
    /// `--channels`, served at `/playlist.m3u`.
    pub channel_list: Option<ChannelList>,
    /// The engine's search and its cache: `/search.m3u`, `/search.json`, `/epg.xml`.
    pub search: Search,
}
