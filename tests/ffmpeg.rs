//! A real player: ffmpeg plays 10 s of HLS through acebox, from real MPEG-TS segments that the
//! engine simulator serves, and must report no error.

mod common;

use std::process::Command;

use common::{Codecs, acebox, content, have, make_media};

#[test]
fn ffmpeg_plays_ten_seconds_of_hls_through_acebox_without_an_error() {
    // CI installs ffmpeg (scripts/setup.sh); there, its absence is a failure.
    if !have("ffmpeg") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("acebox-ffmpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    make_media(&dir, 20, Codecs::Mpeg2);
    let media = dir.to_str().unwrap();
    let engine = common::sim(&["--segment-ms", "1000", "--media-dir", media]);
    let proxy = acebox(engine.addr, &[]);
    let url = format!("http://{}/ace/manifest.m3u8?id={}", proxy.addr, content(1));
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-i", &url, "-t", "10", "-f", "null", "-",
        ])
        .output()
        .expect("ffmpeg runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported: {stderr}");
    let stats = engine.json("/sim/stats");
    assert_eq!(stats["starts"], 1);
    assert_eq!(stats["max_fetches_per_segment"], 1);
}
