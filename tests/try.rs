//! The one-command tryout, `scripts/try.sh`, run as a newcomer runs it (but with the binaries
//! this test build made): its HLS URL plays in ffmpeg, its MPEG-TS URL streams, `/status`
//! answers, and SIGINT stops everything it started, removes its files and exits 0.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Ffmpeg, TsClient, drain, get, have, wait_for};

/// What the script's ready line, `try: ready key=value ...`, says.
type Ready = HashMap<String, String>;

/// The running script; sent SIGTERM when dropped, so a failed test leaves nothing running.
struct Script {
    child: Child,
    /// What the script (and acebox, whose log it passes on) wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl Script {
    /// Starts the script with acebox on a free port.
    fn start() -> Script {
        let mut child = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/try.sh"))
            .env("ACEBOX_LISTEN", "127.0.0.1:0")
            .env("TRY_ACEBOX_BIN", env!("CARGO_BIN_EXE_acebox"))
            .env("TRY_SIM_BIN", env!("CARGO_BIN_EXE_acebox-sim"))
            .env("TRY_RUNNER", common::runner().unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("scripts/try.sh starts");
        let stderr = drain(child.stderr.take().expect("stderr is piped"));
        Script { child, stderr }
    }

    fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Reads stdout up to the ready line; the line's fields.
    fn ready(&mut self) -> Ready {
        let stdout = BufReader::new(self.child.stdout.take().expect("stdout is piped"));
        for line in stdout.lines() {
            let line = line.expect("the script's stdout reads");
            if let Some(fields) = line.strip_prefix("try: ready ") {
                return fields
                    .split_whitespace()
                    .filter_map(|f| f.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
            }
        }
        panic!("scripts/try.sh ended with no ready line: {}", self.logs());
    }

    /// Sends `signal` (`INT`, `TERM`) with kill(1).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} failed");
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal("TERM");
            let _ = self.child.wait();
        }
    }
}

/// The `ADDR` of an `http://ADDR` URL the script printed.
fn addr(ready: &Ready, key: &str) -> SocketAddr {
    ready[key]
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{key} is not http://ADDR: {ready:?}"))
}

/// The path of a URL the script printed on acebox.
fn path<'a>(ready: &'a Ready, key: &str) -> &'a str {
    ready[key]
        .strip_prefix(ready["acebox"].as_str())
        .unwrap_or_else(|| panic!("{key} is not on acebox: {ready:?}"))
}

#[test]
fn try_sh_plays_hls_and_ts_and_ctrl_c_stops_everything_it_started() {
    // CI installs ffmpeg (scripts/setup.sh); there, its absence is a failure.
    if !have("ffmpeg") {
        return;
    }
    let mut script = Script::start();
    let ready = script.ready();
    let (proxy, engine) = (addr(&ready, "acebox"), addr(&ready, "engine"));

    let played = Ffmpeg::play(&ready["hls"], 5).finish();
    let said = played.said;
    assert!(played.status.success(), "ffmpeg failed: {said}");
    assert!(said.trim().is_empty(), "ffmpeg reported: {said}");

    let mut ts = TsClient::open(proxy, path(&ready, "ts"));
    assert_eq!(ts.status, 200);
    let bytes = ts.read(188 * 100);
    assert_eq!(bytes.len(), 188 * 100, "the MPEG-TS stream ended early");
    assert!(bytes.chunks(188).all(|p| p[0] == 0x47), "not MPEG-TS");

    let status = get(proxy, "/status");
    assert_eq!(status.status, 200, "{}", status.text());
    let id = ready["hls"].rsplit("id=").next().unwrap();
    assert_eq!(ready["ts"].rsplit("id=").next(), Some(id), "one channel");
    let channels = &status.json()["channels"];
    assert!(
        channels
            .as_array()
            .is_some_and(|c| c.len() == 1 && c[0]["content_id"] == id),
        "not one channel {id} in /status, for HLS and MPEG-TS: {channels}"
    );

    // Ctrl-C, with the MPEG-TS client still connected.
    script.signal("INT");
    let exit = wait_for(Duration::from_secs(30), "scripts/try.sh to exit", || {
        script
            .child
            .try_wait()
            .expect("the script can be waited for")
    });
    let logs = script.logs();
    assert!(exit.success(), "scripts/try.sh exited with {exit}: {logs}");
    for gone in [proxy, engine] {
        assert!(
            TcpStream::connect(gone).is_err(),
            "{gone} still answers after the script stopped: {logs}"
        );
    }
    let dir = &ready["dir"];
    assert!(!std::path::Path::new(dir).exists(), "{dir} is left behind");
}
