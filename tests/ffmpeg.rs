//! A real player: ffmpeg plays 10 s of HLS through acebox, from real MPEG-TS segments that the
//! engine simulator serves, and must report no error.

mod common;

use std::path::Path;
use std::process::Command;

use common::{acebox, content};

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes `seg0.ts, seg1.ts, ...`: 20 one-second MPEG-TS segments of test picture and tone.
fn make_media(dir: &Path) {
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "20",
        ])
        .args([
            "-c:v",
            "mpeg2video",
            "-g",
            "25",
            "-b:v",
            "400k",
            "-c:a",
            "mp2",
            "-b:a",
            "64k",
        ])
        .args([
            "-f",
            "segment",
            "-segment_time",
            "1",
            "-segment_format",
            "mpegts",
        ])
        .arg(dir.join("seg%d.ts"))
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make the test media");
}

#[test]
fn ffmpeg_plays_ten_seconds_of_hls_through_acebox_without_an_error() {
    if !have_ffmpeg() {
        // CI installs ffmpeg (scripts/setup.sh); there, its absence is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "ffmpeg is not installed on CI"
        );
        eprintln!("skipped: ffmpeg is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("acebox-ffmpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    make_media(&dir);
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
