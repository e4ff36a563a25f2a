//! The program's shared state: what every request handler and report reads.
//!
//! [`App`] owns the channel registry, the connection gate, the start time, the channel list and
//! the names acebox is reached by, and the per-address tallies;
//! `main` builds it once and the router and the reports borrow it. It holds no logic of its
//! own and never imports the router or a report.

use std::sync::Arc;
use std::time::Instant;

use crate::channel::Registry;
use crate::channel_list::ChannelList;
use crate::http::{Gate, HostNames, Tally, Tokens};

/// What the server shares between requests.
pub struct App {
    pub registry: Registry,
    pub started: Instant,
    pub gate: Arc<Gate>,
    /// `--channels`, served at `/playlist.m3u` (read and rendered off the executor).
    pub channel_list: Option<Arc<ChannelList>>,
    /// The names the report and list routes answer to (`router::own_host`).
    pub names: HostNames,
    /// The channels each address asked to open this minute.
    pub opens: Tally,
    /// `--token`: what lets a client in from outside `--allow`.
    pub tokens: Tokens,
}
