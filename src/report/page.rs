//! `GET /`: the status [`Report`] as a small HTML page for a phone or a TV browser.
//!
//! Owns the markup: one self-contained page (inline style, no script, no external asset) that
//! reloads itself every few seconds. Never gathers anything itself (that is
//! [`Report::gather`]); every text that did not come from acebox (engine messages) is escaped.
//! A channel's counters are listed from `counters::TABLE`, so a new counter shows by itself.

use std::fmt::Write as _;

use super::{ChannelReport, Report};
use crate::counters::{TABLE, Unit};
use crate::xml::escaped;

/// Seconds between the page's reloads.
const REFRESH_SECS: u32 = 5;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;padding:1em;background:#111;\
color:#eee;max-width:60em}h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:0;\
word-break:break-all}.muted{color:#999}section{background:#1c1c1c;border-radius:.5em;\
padding:.8em;margin:.8em 0}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;\
margin:.5em 0}dt{color:#999}dd{margin:0}.bad{color:#f77}.ok{color:#7d7}ul{margin:.3em 0;\
padding-left:1.2em}";

/// The page for `report`.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(4096 + report.channels.len() * 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>acebox</title><style>{STYLE}</style></head><body>\
         <h1>acebox {}</h1><p class=\"muted\">up {} &middot; engine {} &middot; board {}</p>",
        report.version,
        duration(report.uptime_secs),
        escaped(&report.engine),
        escaped(report.board.name),
    );
    overview(&mut out, report);
    if report.engines.len() > 1 {
        engines(&mut out, report);
    }
    if report.channels.is_empty() {
        out.push_str("<p id=\"idle\">No channel is playing.</p>");
    }
    for channel in &report.channels {
        channel_section(&mut out, channel);
    }
    out.push_str(
        "<p class=\"muted\">JSON: <a href=\"/status\">/status</a> &middot; Prometheus: \
         <a href=\"/metrics\">/metrics</a></p></body></html>\n",
    );
    out
}

fn overview(out: &mut String, report: &Report) {
    let rss = report.memory.rss_bytes.map_or("unknown".into(), bytes);
    let _ = write!(
        out,
        "<section><dl><dt>channels</dt><dd>{} of {}</dd><dt>connections</dt><dd>{} of {} \
         ({} turned away, {} idle closed for room)</dd><dt>memory</dt><dd>{rss} resident; stream data {} of {}</dd>\
         <dt>traffic</dt><dd>{} in, {} out</dd><dt>on the LAN</dt><dd>{}</dd></dl></section>",
        report.channels.len(),
        report.board.max_channels,
        report.connections.open,
        report.connections.max,
        report.connections.refused_full
            + report.connections.refused_address
            + report.connections.refused_forbidden,
        report.connections.evicted,
        bytes(report.memory.ring_bytes as u64),
        bytes(report.memory.budget_bytes as u64),
        bytes(report.totals.bytes_in),
        bytes(report.totals.bytes_out),
        if report.lan.announce {
            format!(
                "announced: HDHomeRun tuner {}, DLNA media server {}",
                report.lan.device_id,
                escaped(&report.lan.name)
            )
        } else {
            "not announced (--no-announce, or listening on the loopback only)".into()
        },
    );
}

/// Every engine, when there are several: up or down, what it plays, what happened to it.
fn engines(out: &mut String, report: &Report) {
    out.push_str("<section id=\"engines\"><h2>engines</h2><dl>");
    for e in &report.engines {
        let state = if e.healthy {
            "<span class=\"ok\">up</span>"
        } else {
            "<span class=\"bad\">down</span>"
        };
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{state} &middot; {} &middot; {} of {} channels &middot; {} checks, \
             {} failed &middot; {} channels moved off",
            escaped(&e.url),
            if e.version.is_empty() {
                "version unknown".into()
            } else {
                escaped(&e.version)
            },
            e.channels,
            e.max_channels,
            e.checks,
            e.failures,
            e.failovers,
        );
        if let Some(error) = &e.last_error {
            let _ = write!(
                out,
                " &middot; last error {} ago: {}",
                duration(error.secs_ago),
                escaped(&error.message)
            );
        }
        out.push_str("</dd>");
    }
    out.push_str("</dl></section>");
}

fn channel_section(out: &mut String, c: &ChannelReport) {
    let _ = write!(
        out,
        "<section class=\"channel\" id=\"c-{id}\"><h2>{title}</h2><dl>\
         <dt>content id</dt><dd>{id}</dd><dt>mode</dt><dd>{mode}</dd><dt>playing for</dt><dd>{open}</dd>\
         <dt>engine</dt><dd>{engine}</dd><dt>played from</dt><dd>{from}</dd>\
         <dt>session</dt><dd>{session}</dd>\
         <dt>buffer</dt><dd>{held} of {slots} ({bytes} of {budget})</dd>",
        id = c.content_id,
        title = if c.name.is_empty() {
            c.content_id.to_string()
        } else {
            escaped(&c.name)
        },
        mode = if c.mode == "hls" { "HLS" } else { "MPEG-TS" },
        open = duration(c.open_secs),
        engine = engine_line(c),
        from = escaped(&c.engine_url),
        session = escaped(&c.playback_session_id),
        held = c.ring.held,
        slots = c.ring.slots,
        bytes = bytes(c.ring.bytes as u64),
        budget = bytes(c.ring.budget_bytes as u64),
    );
    for counter in TABLE {
        let value = (counter.value)(&c.counters);
        let _ = match counter.unit {
            Unit::Bytes => write!(out, "<dt>{}</dt><dd>{}</dd>", counter.label, bytes(value)),
            Unit::Events => write!(out, "<dt>{}</dt><dd>{value}</dd>", counter.label),
        };
    }
    match &c.last_error {
        Some(e) => {
            let _ = write!(
                out,
                "<dt>last error</dt><dd class=\"{}\">{} ({} ago)</dd>",
                if c.healthy { "muted" } else { "bad" },
                escaped(&e.message),
                duration(e.secs_ago),
            );
        }
        None => out.push_str("<dt>last error</dt><dd class=\"ok\">none</dd>"),
    }
    let _ = write!(out, "<dt>clients</dt><dd>{}<ul>", c.clients);
    for client in &c.client_list {
        let _ = write!(
            out,
            "<li>{} &middot; {} &middot; {}",
            escaped(&client.address),
            client.protocol,
            duration(client.connected_secs)
        );
        if let Some(token) = &client.token {
            let _ = write!(out, " &middot; token {}", escaped(token));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></dd></dl></section>");
}

fn engine_line(c: &ChannelReport) -> String {
    match &c.engine {
        None => "<span class=\"muted\">no stat yet</span>".into(),
        Some(e) => {
            let mut line = format!(
                "{} &middot; {} peers &middot; &darr; {} KB/s &uarr; {} KB/s",
                escaped(&e.status),
                e.peers,
                e.speed_down_kbps,
                e.speed_up_kbps
            );
            if let Some(progress) = e.progress.filter(|_| e.status == "prebuf") {
                let _ = write!(line, " &middot; prebuffering {progress}%");
            }
            if let Some(error) = &e.error {
                let _ = write!(
                    line,
                    " &middot; <span class=\"bad\">{}</span>",
                    escaped(error)
                );
            }
            line
        }
    }
}

/// `12 s`, `3 min 4 s`, `2 h 05 min`, `3 d 4 h`.
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        3600..86400 => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86400, secs % 86400 / 3600),
    }
}

/// `512 B`, `1.5 KiB`, `20.3 MiB`, `1.20 GiB`.
fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", f / K),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", f / K / K),
        _ => format!("{:.2} GiB", f / K / K / K),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(184), "3 min 4 s");
        assert_eq!(duration(7500), "2 h 05 min");
        assert_eq!(duration(90000), "1 d 1 h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(bytes(3 << 30), "3.00 GiB");
    }

    #[test]
    fn text_from_outside_cannot_become_markup() {
        assert_eq!(
            escaped("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
