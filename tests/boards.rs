//! Board profiles: every shipped profile is valid, each rule names the field it is about, and
//! the binary reports the profile it was built with.

mod common;
#[path = "../build/profile.rs"]
mod profile;

use std::collections::BTreeMap;

fn load(board: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!(
        "{}/boards/{board}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("boards/{board}.toml: {e}"));
    profile::parse(&text).unwrap_or_else(|e| panic!("boards/{board}.toml: {e}"))
}

const BOARDS: [&str; 7] = [
    "host",
    "rpi-aarch64",
    "rpi-armv7",
    "openwrt-aarch64",
    "openwrt-armv7",
    "openwrt-mipsel",
    "openwrt-mips",
];

#[test]
fn every_shipped_profile_is_valid_and_fits_its_ram() {
    for board in BOARDS {
        let profile = load(board);
        let n = profile::check(&profile).unwrap_or_else(|e| panic!("{board}: {e}"));
        let allowed = n["ram_mb"] * 1024 * 1024 * n["memory_share_percent"] / 100;
        assert!(n["memory_budget"] <= allowed, "{board}");
        // Routers have little flash: 1 MiB for OpenWrt, 1.5 MiB for the Pi and host.
        let limit = if board.starts_with("openwrt-") {
            1 << 20
        } else {
            3 << 19
        };
        assert_eq!(n["max_binary_bytes"], limit, "{board}");
        let code = profile::constants(board, &profile, &n);
        assert!(
            code.contains(&format!("pub const BOARD: &str = {board:?};")),
            "{code}"
        );
        assert!(code.contains("pub const MEMORY_BUDGET: usize = "), "{code}");
    }
}

/// Each broken profile fails, and the message names the field to fix.
#[test]
fn an_inconsistent_profile_is_refused_naming_the_field() {
    let cases: [(&str, &str, &str); 12] = [
        ("ring_slots", "0", "`ring_slots` must be more than zero"),
        (
            "ring_slots",
            "7",
            "`ring_slots` (7) must be at least twice `playlist_window`",
        ),
        (
            "max_segment_bytes",
            "99999999",
            "`max_segment_bytes` must be at most `ring_bytes`",
        ),
        (
            "ts_chunk_bytes",
            "65425",
            "`ts_chunk_bytes` must be a multiple of 188",
        ),
        (
            "ts_ring_bytes",
            "188",
            "`ts_ring_bytes` must be at least `ts_chunk_bytes`",
        ),
        ("max_channels", "64", "more than 40% of ram_mb"),
        (
            "max_connections",
            "8",
            "`max_connections` must be at least `max_clients_per_channel`",
        ),
        ("ram_mb", "lots", "`ram_mb`: \"lots\" is not a whole number"),
        ("target", "riscv64gc-unknown-linux-gnu", "field `target`"),
        (
            "memory_share_percent",
            "95",
            "`memory_share_percent` must be at most 90",
        ),
        ("link", "both", "field `link`"),
        ("link", "dynamic", "is only built static"),
    ];
    for (field, value, says) in cases {
        let mut profile = load("openwrt-aarch64");
        profile.insert(field.into(), value.into());
        let err = profile::check(&profile).expect_err(field);
        assert!(err.contains(says), "{field}={value}: {err}");
    }
    let mut profile = load("host");
    profile.remove("ts_chunks");
    assert!(
        profile::check(&profile)
            .unwrap_err()
            .contains("`ts_chunks` is missing")
    );
    profile.insert("frobs".into(), "1".into());
    assert!(
        profile::check(&profile)
            .unwrap_err()
            .contains("unknown field `frobs`")
    );
    assert!(
        profile::parse("a = 1\na = 2")
            .unwrap_err()
            .contains("set twice")
    );
    assert!(profile::parse("just words").unwrap_err().contains("line 1"));
}

#[test]
fn the_binary_reports_the_profile_it_was_built_with() {
    let board = option_env!("ACEBOX_BOARD").unwrap_or("host");
    let mut exe = common::command(env!("CARGO_BIN_EXE_acebox"));
    let out = exe.arg("--board").output().expect("acebox runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let profile = load(board);
    let n = profile::check(&profile).unwrap();
    assert!(text.starts_with(&format!("board: {board} (")), "{text}");
    assert!(
        text.contains(&format!("channels: {}\n", n["max_channels"])),
        "{text}"
    );
    assert!(
        text.contains(&format!("({} bytes)", n["memory_budget"])),
        "{text}"
    );
    assert!(
        text.contains(&format!("binary at most {} bytes", n["max_binary_bytes"])),
        "{text}"
    );
}
