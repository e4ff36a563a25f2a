//! Sources: one way of playing a channel, a content id or an infohash.
//!
//! [`Source`] owns the pair a start needs (the 40-hex id and which parameter names it), so a
//! channel with backup ids is a list of sources. It never talks to the engine.

use super::ContentId;
use crate::engine::Selector;

/// A content id or an infohash, as the engine is asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub id: ContentId,
    pub selector: Selector,
}

impl Source {
    /// The query parameter of acebox's own start URLs that names this source
    /// (`id=<content id>` or `infohash=<infohash>`).
    pub fn param(&self) -> &'static str {
        match self.selector {
            Selector::ContentId => "id",
            Selector::Infohash => "infohash",
        }
    }
}
