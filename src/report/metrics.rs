//! `GET /metrics`: the status [`Report`] in the Prometheus text format (version 0.0.4).
//!
//! Owns metric names, types and labels; never gathers anything itself (that is [`Report::gather`]).
//! Per-channel series carry `channel="<content id>"` and `name="<its name>"` (empty when
//! unknown); the counters of channels that are gone stay in one `channel="closed"` series so
//! that sums over channels never go backwards. Content ids are checked to be hex and modes are
//! fixed words; a name comes from outside and is escaped.

use std::fmt::Write as _;

use super::{ChannelReport, EngineHealthReport, Report};
use crate::counters::TABLE;

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its `# HELP` and `# TYPE` lines, then a sample per call of `sample`.
struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'a str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out, name }
    }

    /// A sample; `labels` is `key="value",...` or empty.
    fn sample(&mut self, labels: &str, value: impl std::fmt::Display) -> &mut Self {
        let name = self.name;
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
        self
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    Family::new(out, name, "gauge", help).sample("", value);
}

/// A gauge with one sample per channel.
fn per_channel(
    out: &mut String,
    report: &Report,
    name: &str,
    help: &str,
    value: impl Fn(&ChannelReport) -> u64,
) {
    let mut family = Family::new(out, name, "gauge", help);
    for c in &report.channels {
        family.sample(&channel_labels(c), value(c));
    }
}

/// A channel's labels: its content id, its name and its mode.
fn channel_labels(c: &ChannelReport) -> String {
    let mut labels = format!("channel=\"{}\",name=\"", c.content_id);
    push_label_value(&mut labels, &c.name);
    let _ = write!(labels, "\",mode=\"{}\"", c.mode);
    labels
}

/// Appends `value` as the text format escapes a label value: `\\`, `\"` and `\n`.
fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The report as Prometheus text.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(4096 + report.channels.len() * 2048);
    let info = format!(
        "version=\"{}\",board=\"{}\"",
        report.version, report.board.name
    );
    Family::new(
        &mut out,
        "acebox_info",
        "gauge",
        "The running acebox: version and board profile.",
    )
    .sample(&info, 1);
    gauge(
        &mut out,
        "acebox_uptime_seconds",
        "Seconds since acebox started.",
        report.uptime_secs,
    );
    gauge(
        &mut out,
        "acebox_channels",
        "Channels playing now.",
        report.channels.len(),
    );
    gauge(
        &mut out,
        "acebox_channels_max",
        "Channels the board profile allows at once.",
        report.board.max_channels,
    );
    gauge(
        &mut out,
        "acebox_connections",
        "Client connections open now.",
        report.connections.open,
    );
    gauge(
        &mut out,
        "acebox_connections_max",
        "Client connections the board profile allows at once.",
        report.connections.max,
    );
    Family::new(
        &mut out,
        "acebox_connections_accepted_total",
        "counter",
        "Client connections let in.",
    )
    .sample("", report.connections.accepted);
    Family::new(&mut out, "acebox_connections_refused_total", "counter", "Client connections turned away: at the connection limit (full), at the address's share of it (address) or not in --allow (forbidden).")
        .sample("reason=\"full\"", report.connections.refused_full)
        .sample("reason=\"address\"", report.connections.refused_address)
        .sample("reason=\"forbidden\"", report.connections.refused_forbidden);
    Family::new(
        &mut out,
        "acebox_connections_evicted_total",
        "counter",
        "Client connections with no request under way closed to make room for a new one.",
    )
    .sample("", report.connections.evicted);
    gauge(
        &mut out,
        "acebox_memory_budget_bytes",
        "The most stream data and connection buffers this build can hold.",
        report.memory.budget_bytes,
    );
    if let Some(rss) = report.memory.rss_bytes {
        gauge(
            &mut out,
            "acebox_resident_memory_bytes",
            "Resident memory of the acebox process.",
            rss,
        );
    }
    per_engine(&mut out, report);
    per_channel(
        &mut out,
        report,
        "acebox_clients",
        "Clients of a channel now.",
        |c| c.clients as u64,
    );
    per_channel(
        &mut out,
        report,
        "acebox_ring_bytes",
        "Stream bytes a channel holds, counting those still being sent and the HLS segments cut from an MPEG-TS channel's stream.",
        |c| (c.ring.bytes + c.segments_cut.as_ref().map_or(0, |r| r.bytes)) as u64,
    );
    per_channel(
        &mut out,
        report,
        "acebox_ring_items",
        "Segments (HLS) or chunks (TS) a channel holds.",
        |c| c.ring.held as u64,
    );
    per_channel(
        &mut out,
        report,
        "acebox_channel_healthy",
        "1 while a channel's latest read of the engine worked.",
        |c| u64::from(c.healthy),
    );
    per_channel(
        &mut out,
        report,
        "acebox_engine_peers",
        "Peers of a channel's engine session, as the engine last said.",
        |c| c.engine.as_ref().map_or(0, |e| u64::from(e.peers)),
    );
    per_channel(
        &mut out,
        report,
        "acebox_engine_download_bytes_per_second",
        "Download speed of a channel's engine session, as the engine last said.",
        |c| {
            c.engine
                .as_ref()
                .map_or(0, |e| u64::from(e.speed_down_kbps) * 1024)
        },
    );
    counters(&mut out, report);
    out
}

/// Every engine's health, channels and counters, labelled `engine="<url>"`.
fn per_engine(out: &mut String, report: &Report) {
    type Read = fn(&EngineHealthReport) -> u64;
    let families: [(&str, &str, &str, Read); 6] = [
        (
            "acebox_engine_up",
            "gauge",
            "1 while an engine is in placement (it answers its checks).",
            |e| u64::from(e.healthy),
        ),
        (
            "acebox_engine_channels",
            "gauge",
            "Channels playing from an engine now.",
            |e| e.channels as u64,
        ),
        (
            "acebox_engine_channels_max",
            "gauge",
            "Channels an engine may play at once.",
            |e| e.max_channels as u64,
        ),
        (
            "acebox_engine_checks_total",
            "counter",
            "Health checks of an engine.",
            |e| e.checks,
        ),
        (
            "acebox_engine_failures_total",
            "counter",
            "Failed health checks and calls of an engine.",
            |e| e.failures,
        ),
        (
            "acebox_engine_failovers_total",
            "counter",
            "Channels moved off an engine because it failed.",
            |e| e.failovers,
        ),
    ];
    for (name, kind, help, read) in families {
        let mut family = Family::new(out, name, kind, help);
        for e in &report.engines {
            let mut label = String::from("engine=\"");
            push_label_value(&mut label, &e.url);
            label.push('"');
            family.sample(&label, read(e));
        }
    }
}

/// Every counter, per live channel and for the channels that are gone.
fn counters(out: &mut String, report: &Report) {
    let live: Vec<_> = report
        .channels
        .iter()
        .map(|c| (channel_labels(c), &c.counters))
        .collect();
    for counter in TABLE {
        let name = format!("acebox_{}_total", counter.name);
        let mut family = Family::new(out, &name, "counter", counter.help);
        for (labels, counts) in &live {
            family.sample(labels, (counter.value)(counts));
        }
        family.sample(
            "channel=\"closed\",name=\"\",mode=\"\"",
            (counter.value)(&report.closed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_from_outside_cannot_break_out_of_its_label() {
        let mut out = String::new();
        push_label_value(&mut out, "Sport \"1\" \\ HD\nx} 9");
        assert_eq!(out, "Sport \\\"1\\\" \\\\ HD\\nx} 9");
    }
}
