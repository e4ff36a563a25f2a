//! HLS: the feed that copies the engine's live playlist into a channel's segment store
//! ([`fetch`]), and the playlists both ways ([`playlist`]).
//!
//! A feed: it imports `storage`, `counters`, `feed` and the engine client, never `channel`.
//! It never serves a client (the router renders a client's playlist with [`render`]).

pub mod fetch;
pub mod playlist;

pub use playlist::{
    Upstream, first_media_sequence, parse_upstream, plan, playlist_path, render, segment_path,
};
