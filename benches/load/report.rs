//! `report RESULTS.jsonl SVG`: the runs' JSON lines as the Markdown tables of BENCHMARKS.md (on
//! stdout) and a plot of throughput and peak RSS against clients, written as a self-made SVG.
//! `soak-report RESULTS.jsonl SVG`: the newest soak's figures as a Markdown table and its
//! samples (memory, connections, channels, engine sessions) plotted against time.

use std::fmt::Write;

use serde_json::Value;

/// The runs of a results file, one JSON line each.
fn read(results: &str) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(results).map_err(|e| format!("{results}: {e}"))?;
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{results}: {e}")))
        .collect()
}

/// Reads the results, prints the tables, writes the plot.
pub fn write(args: &[String]) -> Result<(), String> {
    let [results, svg] = args else {
        return Err("usage: report RESULTS.jsonl PLOT.svg".into());
    };
    let runs = read(results)?;
    print!("{}", live_table(&runs));
    println!();
    print!("{}", saturate_table(&runs));
    println!();
    print!("{}", wrk_table(&runs));
    println!();
    print!("{}", fanout_table(&runs));
    println!();
    print!("{}", targets_table(&runs));
    std::fs::write(svg, plot(&runs)).map_err(|e| format!("{svg}: {e}"))
}

fn of<'a>(runs: &'a [Value], mode: &'a str) -> impl Iterator<Item = &'a Value> {
    runs.iter().filter(move |r| r["mode"] == mode)
}

fn live_table(runs: &[Value]) -> String {
    let mut out = String::from(
        "| run | clients | served | delivered | upstream fetches per segment | engine starts / clients counted | stalls / skips | \
         corrupt / errors | first playlist p50 / p99 | first segment p50 / p99 | acebox CPU | \
         peak RSS (ring held) | load |\n\
         | --- | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | ---: | --- | --- |\n",
    );
    for r in of(runs, "hls") {
        let fetches = r["upstream_fetches"].as_f64().unwrap_or(0.0)
            / r["distinct_segments"].as_f64().unwrap_or(1.0).max(1.0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} segments, {} | {fetches:.2} (max {}) | {} / {} | {} / {} | {} / {} | {} | {} | {} | {} | {} |",
            label(r),
            clients(r),
            r["served"],
            r["segments"],
            megabytes(&r["bytes"]),
            r["max_fetches_per_segment"],
            r["engine_starts"],
            r.get("acebox_clients").map_or("–".into(), Value::to_string),
            r["stalls"],
            r["skips"],
            r["corrupt"],
            r["errors"],
            millis(&r["first_playlist_ms"]),
            millis(&r["first_segment_ms"]),
            seconds(&r["acebox"]["cpu_s"]),
            rss(&r["acebox"]),
            r["loadavg"].as_str().unwrap_or(""),
        );
    }
    for r in of(runs, "ts") {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} stream(s), {} reader(s) at most | – | {} gaps / {} skips | {} misaligned / {} | – | first byte {} | {} | {} | {} |",
            label(r),
            clients(r),
            r["served"],
            megabytes(&r["bytes"]),
            r["engine_ts_streams"],
            r["engine_ts_max_readers"],
            r["gaps"],
            r["acebox_skips"],
            r["misaligned"],
            r["errors"],
            millis(&r["first_byte_ms"]),
            seconds(&r["acebox"]["cpu_s"]),
            rss(&r["acebox"]),
            r["loadavg"].as_str().unwrap_or(""),
        );
    }
    out
}

fn wrk_table(runs: &[Value]) -> String {
    let mut out = String::from(
        "| segment | connections | acebox req/s | nginx req/s | acebox / nginx | acebox GB/s | \
         nginx GB/s | acebox CPU per GB | nginx CPU per GB | errors | load |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for r in of(runs, "wrk") {
        let (ours, theirs) = (&r["acebox_wrk"], &r["nginx_wrk"]);
        let _ = writeln!(
            out,
            "| {} kB | {} | {} | {} | **{:.2}** | {} | {} | {} | {} | {} / {} | {} |",
            r["segment_bytes"].as_u64().unwrap_or(0) / 1000,
            r["clients"],
            fixed(&ours["requests_per_sec"], 0),
            fixed(&theirs["requests_per_sec"], 0),
            r["ratio"].as_f64().unwrap_or(f64::NAN),
            fixed(&ours["gbytes_per_sec"], 2),
            fixed(&theirs["gbytes_per_sec"], 2),
            seconds(&ours["cpu_s_per_gb"]),
            seconds(&theirs["cpu_s_per_gb"]),
            ours["errors"],
            theirs["errors"],
            r["loadavg"].as_str().unwrap_or(""),
        );
    }
    out
}

/// TS fan-out with count-only readers, next to what the HLS path spends per GB: paced players
/// (the same kind of load) and wrk (the server-bound path).
fn fanout_table(runs: &[Value]) -> String {
    let mut out = String::from(
        "| readers | delivered | slowest reader, of the stream's rate | errors | acebox CPU | \
         acebox CPU per GB | HLS players' CPU per GB | wrk's CPU per GB | load |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    let hls = hls_cpu_per_gb(runs);
    let wrk = wrk_cpu_per_gb(runs);
    for r in of(runs, "fanout") {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1}% | {} | {} | {} | {} | {} | {} |",
            clients(r),
            megabytes(&r["bytes"]),
            r["slowest_of_line_rate"].as_f64().unwrap_or(0.0) * 100.0,
            r["errors"],
            seconds(&r["acebox"]["cpu_s"]),
            seconds(&r["cpu_s_per_gb"]),
            hls.map_or("–".into(), |v| format!("{v:.2} s")),
            wrk.map_or("–".into(), |v| format!("{v:.2} s")),
            r["loadavg"].as_str().unwrap_or(""),
        );
    }
    out
}

/// acebox's CPU per GB for the paced run of 100 HLS players on one channel.
fn hls_cpu_per_gb(runs: &[Value]) -> Option<f64> {
    let r = hundred_players(runs)?;
    Some(r["acebox"]["cpu_s"].as_f64()? / (r["bytes"].as_f64()? / 1e9))
}

/// The paced run of 100 HLS players joining at once on one channel.
fn hundred_players(runs: &[Value]) -> Option<&Value> {
    of(runs, "hls").find(|r| {
        r["clients"] == 100 && r["channels"] == 1 && r["stagger_ms"] == 0 && r["label"] == "hls"
    })
}

/// acebox's CPU per GB under wrk: 2 MB segments, 200 connections.
fn wrk_cpu_per_gb(runs: &[Value]) -> Option<f64> {
    of(runs, "wrk").find(|r| r["segment_bytes"] == 2_000_000 && r["clients"] == 200)?["acebox_wrk"]
        ["cpu_s_per_gb"]
        .as_f64()
}

/// Issue 12's targets against this run's figures.
fn targets_table(runs: &[Value]) -> String {
    let mut out = String::from("| target | figure | met |\n| --- | --- | --- |\n");
    let met = |ok: bool| if ok { "**met**" } else { "**missed**" };
    let mut row = |target: &str, figure: String, verdict: String| {
        let _ = writeln!(out, "| {target} | {figure} | {verdict} |");
    };
    for r in of(runs, "wrk") {
        let ratio = r["ratio"].as_f64().unwrap_or(0.0);
        let (ours, theirs) = (
            r["acebox_wrk"]["cpu_s_per_gb"].as_f64().unwrap_or(f64::NAN),
            r["nginx_wrk"]["cpu_s_per_gb"].as_f64().unwrap_or(f64::NAN),
        );
        row(
            &format!(
                "{} kB segments, {} connections: at least 1.0x nginx, CPU per GB at most nginx's",
                r["segment_bytes"].as_u64().unwrap_or(0) / 1000,
                r["clients"]
            ),
            format!("{ratio:.2}x; {ours:.2} s against {theirs:.2} s per GB"),
            format!(
                "throughput {}; CPU {}",
                met(ratio >= 1.0),
                met(ours <= theirs)
            ),
        );
    }
    if let (Some(r), Some(hls)) = (of(runs, "fanout").next(), hls_cpu_per_gb(runs)) {
        let rate = r["slowest_of_line_rate"].as_f64().unwrap_or(0.0);
        let cpu = r["cpu_s_per_gb"].as_f64().unwrap_or(f64::NAN);
        row(
            &format!(
                "TS fan-out to {} readers at the stream's rate, CPU per GB within 1.5x of HLS players'",
                r["clients"]
            ),
            format!(
                "slowest reader {:.1}% of the rate; {cpu:.2} s per GB, {:.2}x the HLS players' {hls:.2} s",
                rate * 100.0,
                cpu / hls
            ),
            format!("rate {}; CPU {}", met(rate >= 0.99), met(cpu <= 1.5 * hls)),
        );
    }
    if let Some(r) = hundred_players(runs) {
        let per_10s = r["acebox"]["cpu_s"].as_f64().unwrap_or(f64::NAN) * 10.0
            / r["secs"].as_f64().unwrap_or(f64::NAN);
        row(
            "100 HLS players on one channel: under 0.2 CPU-s per 10 s",
            format!("{per_10s:.3} CPU-s per 10 s"),
            met(per_10s < 0.2).into(),
        );
        let (peak, ring) = (
            r["acebox"]["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            r["acebox"]["ring_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        );
        row(
            "peak RSS (100 players, one channel) at most the ring's bytes + 4 MiB",
            format!(
                "{peak:.1} MiB against {ring:.1} MiB held + 4 MiB ({:+.1} MiB)",
                peak - ring - 4.0
            ),
            met(peak <= ring + 4.0).into(),
        );
    }
    out
}

fn saturate_table(runs: &[Value]) -> String {
    let mut out = String::from(
        "| clients | channels | acebox | nginx | acebox / nginx | acebox CPU per GB | \
         nginx CPU per GB | corrupt / errors | acebox peak RSS | load |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |\n",
    );
    for r in of(runs, "saturate") {
        let (ours, theirs) = (&r["acebox_flow"], &r["nginx_flow"]);
        let _ = writeln!(
            out,
            "| {} | {} | {} MB/s | {} MB/s | **{:.2}** | {} | {} | {} / {} | {} | {} |",
            r["clients"],
            r["channels"],
            fixed(&ours["rate_mbyte_s"], 0),
            fixed(&theirs["rate_mbyte_s"], 0),
            r["ratio"].as_f64().unwrap_or(f64::NAN),
            seconds(&ours["cpu_s_per_gb"]),
            seconds(&theirs["cpu_s_per_gb"]),
            ours["corrupt"].as_u64().unwrap_or(0) + theirs["corrupt"].as_u64().unwrap_or(0),
            ours["errors"].as_u64().unwrap_or(0) + theirs["errors"].as_u64().unwrap_or(0),
            mib(&r["acebox"]["peak_rss_kib"]),
            r["loadavg"].as_str().unwrap_or(""),
        );
    }
    out
}

fn label(r: &Value) -> String {
    let base = r["label"].as_str().unwrap_or("").to_owned();
    match r["stagger_ms"].as_u64() {
        Some(ms) if ms > 0 => format!("{base} (joining over {ms} ms)"),
        _ => base,
    }
}

/// The client count, with the channels they were spread over when more than one.
fn clients(r: &Value) -> String {
    match r["channels"].as_u64() {
        Some(channels) if channels > 1 => format!("{} on {channels} channels", r["clients"]),
        _ => r["clients"].to_string(),
    }
}

fn fixed(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.decimals$}"))
}

fn millis(v: &Value) -> String {
    format!("{} / {} ms", fixed(&v["p50"], 1), fixed(&v["p99"], 1))
}

fn seconds(v: &Value) -> String {
    format!("{} s", fixed(v, 2))
}

fn megabytes(v: &Value) -> String {
    format!(
        "{} MB",
        fixed(&Value::from(v.as_f64().unwrap_or(0.0) / 1e6), 0)
    )
}

fn mib(kib: &Value) -> String {
    format!(
        "{} MiB",
        fixed(&Value::from(kib.as_f64().unwrap_or(0.0) / 1024.0), 1)
    )
}

fn rss(acebox: &Value) -> String {
    format!(
        "{} ({})",
        mib(&acebox["peak_rss_kib"]),
        mib(&acebox["ring_kib"])
    )
}

/// `board-report RESULTS.jsonl`: a router board's set as one table: what each run delivered,
/// acebox's CPU per GB, and its peak RSS against the board's memory budget.
pub fn board(args: &[String]) -> Result<(), String> {
    let [results] = args else {
        return Err("usage: board-report RESULTS.jsonl".into());
    };
    let mut out = String::from(
        "| run | clients | served | delivered | skips / errors | acebox CPU | acebox CPU per GB | \
         peak RSS (ring held) | of the board's budget | load |\n\
         | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- |\n",
    );
    for r in read(results)? {
        let skips = match r["mode"].as_str() {
            Some("hls") => r["skips"].to_string(),
            Some("ts") => r["acebox_skips"].to_string(),
            _ => "–".into(),
        };
        let (cpu, bytes) = (r["acebox"]["cpu_s"].as_f64(), r["bytes"].as_f64());
        let per_gb = cpu
            .zip(bytes)
            .map(|(cpu, bytes)| cpu / (bytes / 1e9).max(f64::EPSILON));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {skips} / {} | {} | {} | {} | {} | {} |",
            label(&r),
            clients(&r),
            r["served"],
            megabytes(&r["bytes"]),
            r["errors"],
            seconds(&r["acebox"]["cpu_s"]),
            seconds(&per_gb.into()),
            rss(&r["acebox"]),
            of_budget(&r["acebox"], &r["acebox"]["peak_rss_kib"]),
            r["loadavg"].as_str().unwrap_or(""),
        );
    }
    print!("{out}");
    Ok(())
}

/// `kib` as a share of the board's memory budget in `acebox` (a run's usage).
fn of_budget(acebox: &Value, kib: &Value) -> String {
    match (kib.as_f64(), acebox["budget_kib"].as_f64()) {
        (Some(kib), Some(budget)) if budget > 0.0 => {
            format!("{:.0}% of {}", kib / budget * 100.0, mib(&budget.into()))
        }
        _ => "–".into(),
    }
}

/// The newest soak in the results: its table on stdout, its samples plotted into `svg`.
pub fn soak(args: &[String]) -> Result<(), String> {
    let [results, svg] = args else {
        return Err("usage: soak-report RESULTS.jsonl PLOT.svg".into());
    };
    let text = std::fs::read_to_string(results).map_err(|e| format!("{results}: {e}"))?;
    let run: Value = text
        .lines()
        .rev()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).map_err(|e| format!("{results}: {e}")))
        .find(|r| r.as_ref().map_or(true, |r| r["mode"] == "soak"))
        .ok_or_else(|| format!("{results} holds no soak run"))??;
    print!("{}", soak_table(&run));
    std::fs::write(svg, soak_plot(&run)).map_err(|e| format!("{svg}: {e}"))
}

fn soak_table(r: &Value) -> String {
    let rss = &r["rss_kib"];
    let faults: Vec<String> = r["faults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| format!("{} s {}", f["t_s"], f["fault"].as_str().unwrap_or("")))
        .collect();
    let mut out = String::from("| figure | value |\n| --- | --- |\n");
    let rows = [
        (
            "run",
            format!(
                "{} s, {} viewers, {}",
                r["secs"],
                r["clients"],
                r["label"].as_str().unwrap_or("")
            ),
        ),
        (
            "viewer sessions (join, watch 20-90 s, leave)",
            r["viewer_sessions"].to_string(),
        ),
        (
            "HLS segments (cut from TS streams, not byte-checked), TS bytes delivered",
            format!(
                "{} ({}), {}",
                r["segments"],
                r["unchecked"],
                megabytes(&r["ts_bytes"])
            ),
        ),
        (
            "zaps (failed)",
            format!("{} ({})", r["zaps"], r["zap_errors"]),
        ),
        ("client-visible errors", r["errors"].to_string()),
        (
            "HLS stalls / skips / corrupt",
            format!("{} / {} / {}", r["stalls"], r["skips"], r["corrupt"]),
        ),
        (
            "TS gaps / misaligned",
            format!("{} / {}", r["ts_gaps"], r["ts_misaligned"]),
        ),
        (
            "engine faults",
            format!("{}: {}", faults.len(), faults.join(", ")),
        ),
        (
            "engine deaths (the second engine killed, and started again later), channel moves",
            format!(
                "{}, {}",
                r["engine_deaths"].as_array().map_or(0, Vec::len),
                r["failovers"]
            ),
        ),
        (
            "engine starts / stops",
            format!("{} / {}", r["engine_starts"], r["engine_stops"]),
        ),
        (
            "channels left, leaked engine sessions (after the last viewer)",
            format!("{}, {}", r["channels_left"], r["leaked_sessions"]),
        ),
        (
            "RSS idle / early mean / late mean / peak",
            format!(
                "{} / {} / {} / {}",
                mib(&rss["idle"]),
                mib(&rss["early_mean"]),
                mib(&rss["late_mean"]),
                mib(&rss["peak"])
            ),
        ),
        (
            "peak RSS against the board's memory budget",
            format!(
                "{}, board {}",
                of_budget(&r["acebox"], &rss["peak"]),
                r["acebox"]["board"].as_str().unwrap_or("–")
            ),
        ),
        ("acebox CPU", seconds(&r["acebox"]["cpu_s"])),
        (
            "load at the end",
            r["loadavg"].as_str().unwrap_or("").to_owned(),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out
}

fn soak_plot(r: &Value) -> String {
    let samples = r["samples"].as_array().cloned().unwrap_or_default();
    let line = |name, colour, value: fn(&Value) -> Option<f64>| Series {
        name,
        colour,
        points: samples
            .iter()
            .filter_map(|s| Some((s["t_s"].as_f64()? / 60.0, value(s)?)))
            .collect(),
    };
    let memory = [line("acebox RSS", "#d62728", |s| {
        Some(s["rss_kib"].as_f64()? / 1024.0)
    })];
    let counts = [
        line("open connections", "#1f77b4", |s| s["connections"].as_f64()),
        line("channels", "#2ca02c", |s| s["channels"].as_f64()),
        line("engine sessions", "#ff7f0e", |s| {
            s["engine_sessions"].as_f64()
        }),
    ];
    let mut svg = String::from(SVG_OPEN);
    panel(
        &mut svg,
        0.0,
        "acebox RSS (MiB) over the soak",
        &memory,
        Axis::Minutes,
    );
    panel(
        &mut svg,
        480.0,
        "Connections, channels, engine sessions",
        &counts,
        Axis::Minutes,
    );
    svg.push_str("</svg>\n");
    svg
}

/// The start of every plot: two panels side by side on white.
const SVG_OPEN: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"380\" \
     font-family=\"sans-serif\" font-size=\"12\">\n\
     <rect width=\"960\" height=\"380\" fill=\"white\"/>\n";

/// What a plot's horizontal axis shows.
#[derive(Clone, Copy)]
enum Axis {
    /// Clients, on a log scale.
    Clients,
    /// Minutes since the start, linear.
    Minutes,
}

/// One line of the plot: a name, a colour and (x, value) points.
struct Series {
    name: &'static str,
    colour: &'static str,
    points: Vec<(f64, f64)>,
}

/// Points of `mode` runs (joining at once) with `value`, by clients.
fn series(
    runs: &[Value],
    (mode, name, colour): (&str, &'static str, &'static str),
    value: impl Fn(&Value) -> Option<f64>,
) -> Series {
    let mut points: Vec<(f64, f64)> = of(runs, mode)
        .filter(|r| r["stagger_ms"].as_u64().unwrap_or(0) == 0)
        .filter_map(|r| Some((r["clients"].as_f64()?, value(r)?)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Series {
        name,
        colour,
        points,
    }
}

fn plot(runs: &[Value]) -> String {
    let rate = |flow: &'static str| move |r: &Value| r[flow]["rate_mbyte_s"].as_f64();
    let live_rate = |r: &Value| r["rate_mbyte_s"].as_f64();
    let peak = |r: &Value| Some(r["acebox"]["peak_rss_kib"].as_f64()? / 1024.0);
    let throughput = [
        series(
            runs,
            ("saturate", "nginx, saturating", "#999999"),
            rate("nginx_flow"),
        ),
        series(
            runs,
            ("saturate", "acebox, saturating", "#d62728"),
            rate("acebox_flow"),
        ),
        series(runs, ("hls", "acebox, HLS players", "#1f77b4"), live_rate),
        series(runs, ("ts", "acebox, TS readers", "#2ca02c"), live_rate),
    ];
    let memory = [
        series(runs, ("saturate", "saturating", "#d62728"), peak),
        series(runs, ("hls", "HLS players", "#1f77b4"), peak),
        series(runs, ("ts", "TS readers", "#2ca02c"), peak),
    ];
    let mut svg = String::from(SVG_OPEN);
    panel(
        &mut svg,
        0.0,
        "Throughput (MB/s) against clients",
        &throughput,
        Axis::Clients,
    );
    panel(
        &mut svg,
        480.0,
        "acebox peak RSS (MiB) against clients",
        &memory,
        Axis::Clients,
    );
    svg.push_str("</svg>\n");
    svg
}

/// One chart at `left`: `axis` across, a linear value up.
fn panel(svg: &mut String, left: f64, title: &str, lines: &[Series], axis: Axis) {
    let (x0, y0, width, height) = (left + 60.0, 40.0, 380.0, 250.0);
    let all = lines.iter().flat_map(|s| &s.points);
    let top = nice(all.clone().map(|p| p.1).fold(1.0, f64::max));
    let decades = all.clone().map(|p| p.0.log10()).fold(1.0, f64::max).ceil();
    let last = nice(all.map(|p| p.0).fold(1.0, f64::max));
    let x = |v: f64| match axis {
        Axis::Clients => x0 + v.log10() / decades * width,
        Axis::Minutes => x0 + v / last * width,
    };
    let y = |value: f64| y0 + height - value / top * height;
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"22\" font-weight=\"bold\">{title}</text>",
        x0
    );
    let _ = writeln!(
        svg,
        "<path d=\"M{x0} {y0} V{} H{}\" stroke=\"black\" fill=\"none\"/>",
        y0 + height,
        x0 + width
    );
    for tick in 0..=4 {
        let value = top * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{value:.0}</text>",
            x0 - 6.0,
            y(value) + 4.0
        );
    }
    let (ticks, name): (Vec<f64>, &str) = match axis {
        Axis::Clients => (
            (0..=decades as i32).map(|d| 10f64.powi(d)).collect(),
            "clients (log scale)",
        ),
        Axis::Minutes => (
            (0..=4).map(|t| last * f64::from(t) / 4.0).collect(),
            "minutes",
        ),
    };
    for tick in ticks {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{tick}</text>",
            x(tick),
            y0 + height + 16.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{name}</text>",
        x0 + width / 2.0,
        y0 + height + 34.0
    );
    for (i, line) in lines.iter().filter(|s| !s.points.is_empty()).enumerate() {
        let path: Vec<String> = line
            .points
            .iter()
            .map(|&(c, v)| format!("{:.1},{:.1}", x(c), y(v)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            path.join(" "),
            line.colour
        );
        for &(c, v) in &line.points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
                x(c),
                y(v),
                line.colour
            );
        }
        let ly = y0 + 12.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            x0 + 10.0,
            ly - 9.0,
            line.colour,
            x0 + 26.0,
            ly,
            line.name
        );
    }
}

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
fn nice(max: f64) -> f64 {
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|v| *v >= max)
        .unwrap_or(max)
}
