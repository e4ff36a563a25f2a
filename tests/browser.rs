//! A web player: hls.js in Debian's headless Chromium, on a page from another origin than
//! acebox's, plays H.264/AAC HLS through acebox from real segments the engine simulator serves,
//! while the same page cannot read what acebox reports (`/status`, `/metrics`, the page).
//! The page and the script that drives the browser are `tests/browser/play.mjs`; its npm
//! packages are pinned in `tests/browser/package-lock.json` and installed by
//! `scripts/browser-setup.sh`.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use common::{Codecs, TempDir, acebox, content, have, have_or, make_media, sim, wait_for};

/// How long the browser plays, and how much of that must have played.
const RUN_SECS: u64 = 20;
const MIN_PLAYED_SECS: f64 = 10.0;
/// The picture `make_media` makes: its width and frame rate.
const WIDTH: u64 = 320;
const FPS: f64 = 25.0;

#[test]
fn hls_js_in_chromium_plays_h264_through_acebox_from_another_origin_which_cannot_read_status() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("acebox-browser");
    let media = dir.make("media");
    make_media(&media, 2 * RUN_SECS as u32, Codecs::H264);
    let media = media.to_str().unwrap();
    let engine = sim(&["--segment-ms", "1000", "--media-dir", media]);
    let proxy = acebox(engine.addr, &[]);
    let url = format!("http://{}/ace/manifest.m3u8?id={}", proxy.addr, content(1));

    let report = play(&url, &dir);

    assert_played(&report);
    assert_cross_origin(&report, &format!("http://{}", proxy.addr));
    assert_reports_unread(&report);
    assert_eq!(engine.stat("starts"), 1, "one engine session for the page");
}

/// Whether node, the npm packages, chromium and ffmpeg are all here. CI installs them
/// (scripts/setup.sh, scripts/browser-setup.sh); there, their absence is a failure.
fn have_browser() -> bool {
    let driver = browser_dir().join("node_modules/.bin/playwright-core");
    let driver = driver.to_str().expect("a UTF-8 path");
    let found = have("ffmpeg")
        && have("chromium")
        && have_or("node", "install Node.js 20 or later with npm")
        && have_or(
            driver,
            "install it: scripts/browser-setup.sh (npm ci in tests/browser)",
        );
    if !found {
        eprintln!("(Node 20's npm packages for this test: scripts/browser-setup.sh)");
    }
    found
}

/// The page came from another origin than `acebox` (on loopback), the browser reached nothing
/// beyond loopback, and hls.js reloaded the playlist acebox redirected it to.
fn assert_cross_origin(report: &serde_json::Value, acebox: &str) {
    let origin = report["origin"].as_str().expect("the page's origin");
    assert!(origin.starts_with("http://127.0.0.1:"), "{report}");
    assert_ne!(origin, acebox, "the page is on acebox's own origin");
    assert_eq!(report["outside"], serde_json::json!([]), "left loopback");
    let playlist = report["playlist"].as_str().unwrap_or_default();
    assert!(
        playlist.starts_with(&format!("{acebox}/ace/m/")),
        "hls.js reloads its own playlist: {report}"
    );
}

/// The page's reads of acebox's reports each failed: the browser let it read none of them.
fn assert_reports_unread(report: &serde_json::Value) {
    for path in ["/status", "/metrics", "/"] {
        let read = report["reads"][path].as_str().unwrap_or("never settled");
        assert!(read.starts_with("blocked"), "{path}: {read}: {report}");
    }
}

/// hls.js had no fatal error and played at least `MIN_PLAYED_SECS` of both tracks, not audio
/// alone: it buffered H.264 and AAC, and the browser showed that many seconds of frames.
fn assert_played(report: &serde_json::Value) {
    let errors = report["errors"].as_array().expect("a list of errors");
    assert!(
        errors.iter().all(|e| e["fatal"] == false),
        "hls.js failed: {report}"
    );
    let codec = |track: &str| {
        report["codecs"][track]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(codec("video").starts_with("avc1."), "{report}");
    assert!(codec("audio").starts_with("mp4a."), "{report}");
    assert_eq!(report["width"], WIDTH, "{report}");
    let shown = report["shown"].as_f64().expect("frames shown");
    let played = report["played"].as_f64().expect("seconds played");
    let names: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["details"].as_str())
        .collect();
    println!(
        "played {played:.1} s of a {RUN_SECS} s run, {shown} frames shown; \
         hls.js errors, none fatal: {names:?}"
    );
    assert!(shown >= MIN_PLAYED_SECS * FPS, "{shown} frames: {report}");
    assert!(played >= MIN_PLAYED_SECS, "played {played:.1} s: {report}");
}

/// `tests/browser`: the page's driver script and its npm packages.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs `play.mjs` on `url` for `RUN_SECS` with a fresh Chromium profile in `dir`; the JSON
/// report it prints.
fn play(url: &str, dir: &TempDir) -> serde_json::Value {
    let profile = dir.make("chromium");
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let child = Command::new("node")
        .arg("play.mjs")
        .args([url, &RUN_SECS.to_string(), profile.to_str().unwrap()])
        .current_dir(browser_dir())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .expect("node runs");
    let status = Node(child).wait(Duration::from_secs(RUN_SECS + 60));
    let out = std::fs::read_to_string(stdout).unwrap();
    let err = std::fs::read_to_string(stderr).unwrap();
    assert!(status.success(), "play.mjs failed ({status}): {err}");
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("no report ({e}): {out}{err}"))
}

/// The node process that drives Chromium. When dropped it gets SIGTERM first, which
/// playwright-core handles by closing the browser, and SIGKILL if it lingers.
struct Node(Child);

impl Node {
    /// Waits at most `limit` for the run to end; its exit status.
    fn wait(mut self, limit: Duration) -> ExitStatus {
        let child = &mut self.0;
        wait_for(limit, "the browser run to end", || {
            child.try_wait().ok().flatten()
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.0.try_wait().is_ok_and(|s| s.is_none()) {
            let _ = Command::new("kill").arg(self.0.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.0.try_wait().is_ok_and(|s| s.is_none()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
