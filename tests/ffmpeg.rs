//! A real player: ffmpeg plays 10 s of HLS through acebox, from real MPEG-TS segments that the
//! engine simulator serves, and must report no error.

mod common;

use common::{Codecs, Ffmpeg, TempDir, acebox, content, have, make_media};

#[test]
fn ffmpeg_plays_ten_seconds_of_hls_through_acebox_without_an_error() {
    // CI installs ffmpeg (scripts/setup.sh); there, its absence is a failure.
    if !have("ffmpeg") {
        return;
    }
    let dir = TempDir::new("acebox-ffmpeg");
    make_media(dir.path(), 20, Codecs::Mpeg2);
    let engine = common::sim(&["--segment-ms", "1000", "--media-dir", dir.arg()]);
    let proxy = acebox(engine.addr, &[]);
    let url = format!("http://{}/ace/manifest.m3u8?id={}", proxy.addr, content(1));
    let played = Ffmpeg::play(&url, 10).finish();
    let stderr = played.said;
    assert!(played.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported: {stderr}");
    let stats = engine.json("/sim/stats");
    assert_eq!(stats["starts"], 1);
    assert_eq!(stats["max_fetches_per_segment"], 1);
}
