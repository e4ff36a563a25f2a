//! What acebox reports about itself: the status JSON (with an engine error as a channel's last
//! error), the Prometheus metrics, the status page in a real headless browser, and the counters
//! of a channel that is gone, kept in the totals.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use acebox::board::MAX_CONNECTIONS;
use common::{Player, acebox, content, have, live_channels, sim, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn channel<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_id"] == id)
        .unwrap_or_else(|| panic!("no channel {id} in {status}"))
}

#[test]
fn status_tells_the_whole_picture() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let live = live_channels(&proxy);
    // The engine's stat is polled in the background: wait for its first answer.
    let status = wait_for(WAIT, "the engine's stat in /status", || {
        let status = proxy.json("/status");
        let polled = status["channels"].as_array().is_some_and(|cs| {
            cs.len() == live.channels && cs.iter().all(|c| c["engine"]["status"] == "dl")
        });
        polled.then_some(status)
    });
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["uptime_secs"].is_u64());
    assert_eq!(
        status["board"]["name"],
        option_env!("ACEBOX_BOARD").unwrap_or("host")
    );
    assert_eq!(status["board"]["max_connections"], MAX_CONNECTIONS);
    assert_eq!(
        status["memory"]["budget_bytes"],
        acebox::board::MEMORY_BUDGET
    );
    assert!(status["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(status["connections"]["open"].as_u64().unwrap() >= 2);

    let hls = channel(&status, &content(1));
    assert_eq!(hls["mode"], "hls");
    assert_eq!(hls["clients"], live.hls_clients());
    let client = &hls["client_list"][0];
    assert!(
        client["address"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}:", live.player.from)),
        "the player's own address: {client}"
    );
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let since = client["connected_since"].as_u64().unwrap();
    let ago = client["connected_secs"].as_u64().unwrap();
    assert!(since <= unix_now && since + ago + 5 >= unix_now, "{client}");
    let session = engine.json("/sim/stats")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["content"] == content(1).as_str())
        .map(|s| s["playback_session_id"].clone())
        .unwrap();
    assert_eq!(hls["playback_session_id"], session);
    assert_eq!(hls["engine"]["peers"], 7, "the simulator's stat");
    assert!(hls["ring"]["held"].as_u64().unwrap() >= 3);
    assert!(hls["ring"]["bytes"].as_u64().unwrap() > 0);
    assert!(hls["counters"]["bytes_in"].as_u64().unwrap() > 0);
    assert!(hls["counters"]["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(hls["counters"]["engine_starts"], 1);
    assert_eq!(hls["healthy"], true);
    assert!(hls["last_error"].is_null());

    let ts = channel(&status, &live.ts_id);
    let (mode, clients) = live.ts_channel();
    assert_eq!(
        (ts["mode"].as_str(), ts["clients"].as_u64()),
        (Some(mode), Some(clients))
    );
    assert!(ts["counters"]["bytes_out"].as_u64().unwrap() >= 188 * 100);
}

#[test]
fn an_engine_error_shows_as_the_channels_last_error() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(3));
    player.play(WAIT, Duration::from_millis(100), |p| !p.segments.is_empty());
    engine.get(&format!("/sim/supersede?id={}", content(3)));
    let status = wait_for(WAIT, "the 403 in the channel's last error", || {
        let status = proxy.json("/status");
        let said = channel(&status, &content(3))["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("403"));
        said.then_some(status)
    });
    let c = channel(&status, &content(3));
    assert!(c["counters"]["engine_errors"].as_u64().unwrap() >= 1);
    assert!(c["last_error"]["secs_ago"].is_u64());
}

/// Parses the Prometheus text format strictly: every sample belongs to a family declared with
/// `# TYPE` before it, names and labels are well formed, values are numbers. Returns the samples
/// by `name{labels}`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(name_ok(name), "{line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let mut rest = labels.strip_suffix('}').expect("closed labels");
                while !rest.is_empty() {
                    let (key, value) = rest.split_once("=\"").expect("key=\"value\"");
                    assert!(name_ok(key), "{line}");
                    // The value runs to the first quote that no backslash escapes.
                    let mut end = None;
                    let mut escaped = false;
                    for (at, c) in value.char_indices() {
                        match c {
                            _ if escaped => escaped = false,
                            '\\' => escaped = true,
                            '"' => {
                                end = Some(at);
                                break;
                            }
                            '\n' => panic!("a raw newline in a label: {line}"),
                            _ => {}
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("an unclosed label: {line}"));
                    rest = &value[end + 1..];
                    rest = rest.strip_prefix(',').unwrap_or(rest);
                }
                name
            }
            None => series,
        };
        let kind = types
            .get(name)
            .unwrap_or_else(|| panic!("no # TYPE for {line}"));
        assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

#[test]
fn metrics_parse_and_describe_the_live_channels() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let live = live_channels(&proxy);
    let reply = proxy.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = parse_metrics(&reply.text());
    let (hls, ts, (ts_mode, ts_clients)) = (content(1), &live.ts_id, live.ts_channel());
    let label = |id: &str, mode: &str| format!("{{channel=\"{id}\",name=\"\",mode=\"{mode}\"}}");
    assert_eq!(m["acebox_channels"], live.channels as f64);
    assert_eq!(
        m[&format!("acebox_clients{}", label(&hls, "hls"))],
        live.hls_clients() as f64
    );
    assert_eq!(
        m[&format!("acebox_clients{}", label(ts, ts_mode))],
        ts_clients as f64
    );
    assert_eq!(
        m[&format!("acebox_engine_starts_total{}", label(&hls, "hls"))],
        1.0
    );
    assert!(m[&format!("acebox_bytes_in_total{}", label(&hls, "hls"))] > 0.0);
    assert!(m[&format!("acebox_bytes_out_total{}", label(ts, ts_mode))] >= 18800.0);
    assert!(m[&format!("acebox_ring_bytes{}", label(&hls, "hls"))] > 0.0);
    assert_eq!(m["acebox_connections_max"], MAX_CONNECTIONS as f64);
    assert!(m["acebox_connections"] >= 2.0);
    assert!(m["acebox_resident_memory_bytes"] > 0.0);
    assert_eq!(
        m[&format!(
            "acebox_info{{version=\"{}\",board=\"{}\"}}",
            env!("CARGO_PKG_VERSION"),
            option_env!("ACEBOX_BOARD").unwrap_or("host")
        )],
        1.0
    );
    for family in [
        "acebox_engine_errors_total",
        "acebox_segments_skipped_total",
        "acebox_client_skips_total",
        "acebox_client_drops_total",
        "acebox_failovers_total",
    ] {
        assert_eq!(
            m[&format!("{family}{}", label(&hls, "hls"))],
            0.0,
            "{family}"
        );
    }
    assert_eq!(
        m["acebox_engine_starts_total{channel=\"closed\",name=\"\",mode=\"\"}"],
        0.0
    );
}

#[test]
fn the_status_page_renders_the_channels_in_a_real_browser() {
    // CI installs chromium (scripts/setup.sh); there, its absence is a failure.
    if !have("chromium") {
        return;
    }
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let live = live_channels(&proxy);
    let page = proxy.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let profile = std::env::temp_dir().join(format!("acebox-chromium-{}", std::process::id()));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=412,915",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{}/", proxy.addr))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The browser parsed the page into a document with a section per channel.
    let sections = [
        (content(1), "HLS", live.player.from),
        (content(2), "MPEG-TS", live.ts.from),
    ];
    for (id, mode, from) in sections.into_iter().take(live.channels) {
        let start = dom
            .find(&format!("<section class=\"channel\" id=\"c-{id}\">"))
            .unwrap_or_else(|| panic!("no section for {id} in {dom}"));
        let section = &dom[start..];
        let section = &section[..section.find("</section>").expect("a closed section")];
        assert!(section.contains(&format!("<dd>{mode}</dd>")), "{section}");
        assert!(
            section.contains(&format!("{from}:")),
            "the client's address: {section}"
        );
        // Every counter, by the label of acebox's one table of counters.
        for label in [
            "read from the engine",
            "sent to clients",
            "engine starts",
            "engine errors",
            "segments passed over",
            "client skips",
            "clients dropped",
            "moves to a backup",
        ] {
            assert!(section.contains(&format!("<dt>{label}</dt>")), "{section}");
        }
    }
    assert!(dom.contains("<title>acebox</title>"));
    assert!(
        dom.contains("http-equiv=\"refresh\""),
        "the page refreshes itself"
    );
    assert!(!dom.contains("No channel is playing"));
}

#[test]
fn the_counters_of_a_channel_that_is_gone_stay_in_the_totals() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    let mut player = Player::connect(proxy.addr, &content(8));
    player.play(WAIT, Duration::from_millis(100), |p| p.segments.len() >= 3);
    let playing = proxy.json("/status");
    let served = channel(&playing, &content(8))["counters"]["bytes_out"]
        .as_u64()
        .unwrap();
    assert!(served > 0);
    drop(player);
    let status = wait_for(WAIT, "the idle channel to go", || {
        let status = proxy.json("/status");
        status["channels"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(status)
    });
    let closed = &status["closed"];
    assert_eq!(closed["engine_starts"], 1, "{status}");
    assert!(closed["bytes_out"].as_u64().unwrap() >= served, "{status}");
    assert_eq!(status["totals"], status["closed"], "nothing is live");
    let m = parse_metrics(&proxy.get("/metrics").text());
    let series = |family: &str| m[&format!("{family}{{channel=\"closed\",name=\"\",mode=\"\"}}")];
    assert_eq!(
        series("acebox_bytes_out_total"),
        closed["bytes_out"].as_f64().unwrap()
    );
    assert_eq!(
        series("acebox_bytes_in_total"),
        closed["bytes_in"].as_f64().unwrap()
    );
    assert_eq!(series("acebox_engine_starts_total"), 1.0);
    assert_eq!(m["acebox_channels"], 0.0);
}
