//! The server-bound figure: wrk (Debian's package, a C client that is not the bottleneck) asks
//! for one segment URL over many keep-alive connections as fast as it can, from acebox and then
//! from nginx serving the same bytes as a file, and each server's CPU seconds are read around
//! its run. The checking load generator is for correctness under load; this is the throughput
//! meter.
//!
//! Owns running wrk and reading its summary; never starts a server.

use std::process::Command;

use serde_json::{Value, json};

/// What one wrk run printed, with the server's CPU over it.
pub struct Run {
    pub requests_per_sec: f64,
    pub bytes: f64,
    pub secs: f64,
    pub errors: u64,
    pub cpu_s: f64,
}

impl Run {
    pub fn json(&self) -> Value {
        let gb = self.bytes / 1e9;
        json!({
            "requests_per_sec": self.requests_per_sec,
            "gbytes_per_sec": gb / self.secs.max(f64::EPSILON),
            "errors": self.errors,
            "cpu_s": self.cpu_s,
            "cpu_s_per_gb": self.cpu_s / gb.max(f64::EPSILON),
        })
    }
}

/// Runs `wrk -t1 -c<connections> -d<secs>s url`, reading the server's CPU seconds with `cpu`
/// before and after.
pub fn run(url: &str, connections: usize, secs: u64, cpu: impl Fn() -> f64) -> Result<Run, String> {
    let before = cpu();
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            url,
        ])
        .output()
        .map_err(|e| format!("wrk does not run ({e}); install it: apt-get install wrk"))?;
    let cpu_s = cpu() - before;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse(&text, cpu_s).ok_or_else(|| format!("wrk's summary is not as expected:\n{text}"))
}

/// Reads wrk's summary: `N requests in Xs, Y.YYGB read`, `Requests/sec: R`, and the error
/// lines (`Non-2xx or 3xx responses: N`, `Socket errors: connect A, read B, write C, timeout
/// D`).
fn parse(text: &str, cpu_s: f64) -> Option<Run> {
    let summary = text.lines().find(|l| l.contains(" requests in "))?;
    let (_, rest) = summary.split_once(" requests in ")?;
    let (secs, read) = rest.split_once(", ")?;
    let secs = secs.trim_end_matches('s').parse().ok()?;
    let bytes = size(read.trim().strip_suffix(" read")?)?;
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let errors = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("Non-2xx or 3xx responses:")
                .or_else(|| l.strip_prefix("Socket errors:"))
        })
        .flat_map(|rest| rest.split(|c: char| !c.is_ascii_digit()))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    Some(Run {
        requests_per_sec,
        bytes,
        secs,
        errors,
        cpu_s,
    })
}

/// wrk's sizes: `52.30GB`, `812.55MB`, `10.00KB`, `512.00B`.
fn size(text: &str) -> Option<f64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let scale = match unit {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(digits.parse::<f64>().ok()? * scale)
}
