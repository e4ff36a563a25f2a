//! acebox: one AceStream engine session per channel, fanned out to every client on the network.
//!
//! The binary (`src/main.rs`) parses the command line and wires these modules together; the
//! engine simulator (`src/bin/acebox-sim/`) reuses the transport.

pub mod allow;
pub mod board;
pub mod channel;
pub mod channel_list;
pub mod clients;
pub mod config;
pub mod engine;
pub mod hls;
pub mod http;
pub mod logger;
pub mod metrics;
pub mod page;
pub mod ring;
pub mod router;
pub mod segmenter;
pub mod session;
pub mod status;
pub mod ts;
