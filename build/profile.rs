//! Board profiles: reading, checking and turning into constants. Shared by `build.rs`, which
//! fails the build on a bad profile, and `tests/boards.rs`, which tests these rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;

const MIB: u64 = 1024 * 1024;
const TS_PACKET: u64 = 188;
/// src/ts/reader.rs hands a chunk to clients once this much is read; a chunk must hold at least that.
const TS_FLUSH_BYTES: u64 = TS_PACKET * 32;
/// src/http/server.rs caps a connection's read and write buffers at 16 KiB each.
const CONNECTION_BYTES: u64 = 32 * 1024;
/// The targets scripts/build-board.sh can build: glibc ones with Debian's std and gcc cross
/// linkers, musl ones (always static) with -Zbuild-std and zig (scripts/musl-cargo.sh).
const TARGETS: [&str; 7] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "armv7-unknown-linux-gnueabihf",
    "aarch64-unknown-linux-musl",
    "armv7-unknown-linux-musleabihf",
    "mipsel-unknown-linux-musl",
    "mips-unknown-linux-musl",
];
/// The numeric fields, in the order they are written out, with the constant each becomes.
const NUMBERS: [(&str, &str); 16] = [
    ("ram_mb", "RAM_MB"),
    ("memory_share_percent", "MEMORY_SHARE_PERCENT"),
    ("max_connections", "MAX_CONNECTIONS"),
    ("max_channels", "MAX_CHANNELS"),
    ("max_clients_per_channel", "MAX_CLIENTS_PER_CHANNEL"),
    ("ring_slots", "RING_SLOTS"),
    ("ring_bytes", "RING_BYTES"),
    ("max_segment_bytes", "MAX_SEGMENT_BYTES"),
    ("playlist_window", "PLAYLIST_WINDOW"),
    ("ts_chunks", "TS_CHUNKS"),
    ("ts_chunk_bytes", "TS_CHUNK_BYTES"),
    ("ts_ring_bytes", "TS_RING_BYTES"),
    ("search_cache_bytes", "SEARCH_CACHE_BYTES"),
    ("search_answer_bytes", "SEARCH_ANSWER_BYTES"),
    ("max_engines", "MAX_ENGINES"),
    ("max_binary_bytes", "MAX_BINARY_BYTES"),
];

/// Reads flat TOML: `key = value` lines, `#` comments; values are integers (with optional `_`),
/// "strings" or ["lists", "of strings"]. Returns each value as written, strings unquoted.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut fields = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected `key = value`", n + 1))?;
        let (key, value) = (key.trim(), value.trim());
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(string) => string.to_owned(),
            None => value.replace('_', ""),
        };
        if fields.insert(key.to_owned(), value).is_some() {
            return Err(format!("line {}: `{key}` is set twice", n + 1));
        }
    }
    Ok(fields)
}

/// The numbers of a profile, validated against each other.
pub fn check(profile: &BTreeMap<String, String>) -> Result<BTreeMap<&'static str, u64>, String> {
    for key in profile.keys() {
        let known = NUMBERS.iter().any(|(k, _)| k == key)
            || ["description", "target", "link", "features"].contains(&key.as_str());
        if !known {
            return Err(format!(
                "unknown field `{key}` (boards/README.md lists them)"
            ));
        }
    }
    for key in ["description", "target", "link", "features"] {
        if !profile.contains_key(key) {
            return Err(format!("field `{key}` is missing"));
        }
    }
    if !TARGETS.contains(&profile["target"].as_str()) {
        return Err(format!(
            "field `target`: {:?} is not one of {TARGETS:?}",
            profile["target"]
        ));
    }
    if !["static", "dynamic"].contains(&profile["link"].as_str()) {
        return Err(format!(
            "field `link`: {:?} is not \"static\" or \"dynamic\"",
            profile["link"]
        ));
    }
    if profile["target"].contains("-musl") && profile["link"] != "static" {
        return Err(format!(
            "field `link`: {} is only built static (scripts/musl-cargo.sh)",
            profile["target"]
        ));
    }
    let features = &profile["features"];
    if !(features.starts_with('[') && features.ends_with(']')) {
        return Err("field `features` must be a list of strings, e.g. []".into());
    }
    let mut n = BTreeMap::new();
    for (key, _) in NUMBERS {
        let text = profile
            .get(key)
            .ok_or_else(|| format!("field `{key}` is missing"))?;
        let value: u64 = text
            .parse()
            .map_err(|_| format!("field `{key}`: {text:?} is not a whole number"))?;
        if value == 0 {
            return Err(format!("field `{key}` must be more than zero"));
        }
        n.insert(key, value);
    }
    let rule = |ok: bool, message: String| if ok { Ok(()) } else { Err(message) };
    rule(
        n["memory_share_percent"] <= 90,
        "field `memory_share_percent` must be at most 90".into(),
    )?;
    rule(
        n["ring_slots"] >= 2 * n["playlist_window"],
        format!(
            "field `ring_slots` ({}) must be at least twice `playlist_window` ({})",
            n["ring_slots"], n["playlist_window"]
        ),
    )?;
    rule(
        n["max_segment_bytes"] <= n["ring_bytes"],
        "field `max_segment_bytes` must be at most `ring_bytes`".into(),
    )?;
    rule(
        n["ts_chunk_bytes"] % TS_PACKET == 0 && n["ts_chunk_bytes"] >= TS_FLUSH_BYTES,
        format!(
            "field `ts_chunk_bytes` must be a multiple of {TS_PACKET} and at least {TS_FLUSH_BYTES}"
        ),
    )?;
    rule(
        n["ts_chunk_bytes"] <= n["ts_ring_bytes"],
        "field `ts_ring_bytes` must be at least `ts_chunk_bytes`".into(),
    )?;
    rule(
        n["max_connections"] >= n["max_clients_per_channel"],
        "field `max_connections` must be at least `max_clients_per_channel`".into(),
    )?;
    rule(
        n["ts_chunks"] >= 2,
        "field `ts_chunks` must be at least 2".into(),
    )?;
    // An HLS channel: its ring and the segment it is fetching. A TS channel: its chunk ring and
    // the chunk it is reading, plus, for its HLS players, the store of segments cut from its
    // stream (src/ts/segmenter.rs: ts_ring_bytes) and the one being copied out
    // (min(max_segment_bytes, ts_ring_bytes / 2)).
    let hls = n["ring_bytes"] + n["max_segment_bytes"];
    let cut = n["ts_ring_bytes"] + n["max_segment_bytes"].min(n["ts_ring_bytes"] / 2);
    let ts = n["ts_ring_bytes"] + n["ts_chunk_bytes"] + cut;
    // Search (src/search/): the cache, a search's results being gathered and one view rendered
    // from them, each at most search_cache_bytes, and the engine's answer being read.
    let search = 3 * n["search_cache_bytes"] + n["search_answer_bytes"];
    let budget = n["max_channels"] * hls.max(ts) + n["max_connections"] * CONNECTION_BYTES + search;
    let allowed = n["ram_mb"] * MIB * n["memory_share_percent"] / 100;
    rule(
        budget <= allowed,
        format!(
            "the worst-case memory budget, max_channels x max(ring_bytes + max_segment_bytes, 2 x ts_ring_bytes + ts_chunk_bytes + min(max_segment_bytes, ts_ring_bytes / 2)) + max_connections x 32 KiB + 3 x search_cache_bytes + search_answer_bytes = {} MiB, is more than {}% of ram_mb ({} MiB): lower `max_channels` or the ring sizes",
            budget / MIB,
            n["memory_share_percent"],
            allowed / MIB
        ),
    )?;
    n.insert("memory_budget", budget);
    Ok(n)
}

pub fn constants(
    board: &str,
    profile: &BTreeMap<String, String>,
    n: &BTreeMap<&str, u64>,
) -> String {
    let mut out = String::from("// Written by build.rs from the board profile; do not edit.\n");
    let _ = writeln!(
        out,
        "/// The board profile this binary was built with.\npub const BOARD: &str = {board:?};"
    );
    let _ = writeln!(
        out,
        "pub const DESCRIPTION: &str = {:?};",
        profile["description"]
    );
    let _ = writeln!(out, "pub const TARGET: &str = {:?};", profile["target"]);
    let _ = writeln!(out, "pub const LINK: &str = {:?};", profile["link"]);
    let _ = writeln!(out, "pub const FEATURES: &str = {:?};", profile["features"]);
    for (key, name) in NUMBERS {
        let _ = writeln!(out, "pub const {name}: usize = {};", n[key]);
    }
    let _ = writeln!(
        out,
        "/// Worst-case bytes of stream data, connection buffers and search: every channel's ring\n/// full, plus the segment or chunk each is reading (and a TS channel's segments cut for HLS\n/// players), plus every connection's buffers, plus the search cache and a search under way.\npub const MEMORY_BUDGET: usize = {};",
        n["memory_budget"]
    );
    out
}
