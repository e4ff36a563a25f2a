//! The engine's search served as channel lists: `/search.m3u`, `/search.json` and `/epg.xml`
//! against the simulator's search in both of the engine's forms and its faults, with the real
//! clients a household has: ffmpeg playing an entry, Debian's `tv_validate_file` on the guide,
//! and `acestream-search` from PyPI on the simulator's answers (the proof they have the shape
//! real engines give).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    ClosedPort, Codecs, Ffmpeg, Process, Reply, TempDir, acebox, have_or, make_media, request,
};

/// `GET path` with `Host: host`, as an IPTV app on the LAN sends it.
fn get_as(addr: SocketAddr, host: &str, path: &str) -> Reply {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// The simulator's search counts: `searches` (answered or spoilt) and `token_requests`.
fn searches(engine: &Process) -> (u64, u64) {
    let counts = engine.json("/sim/search");
    (
        counts["searches"].as_u64().unwrap(),
        counts["token_requests"].as_u64().unwrap(),
    )
}

/// A playlist's entries: each `#EXTINF` line with the URL after it.
fn entries(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("#EXTINF"))
        .map(|w| (w[0].to_owned(), w[1].to_owned()))
        .collect()
}

/// The value of `name="..."` in an `#EXTINF` line.
fn attribute(extinf: &str, name: &str) -> Option<String> {
    let start = extinf.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + extinf[start..].find('"')?;
    Some(extinf[start..end].to_owned())
}

/// The title after the attributes of an `#EXTINF` line.
fn title(extinf: &str) -> &str {
    extinf.rsplit("\",").next().unwrap()
}

#[test]
fn a_search_is_a_playlist_of_named_channels_with_logos_best_first() {
    // The app asks by a name of acebox's (--host), as it must for a list.
    let engine = common::sim(&[]);
    let proxy = acebox(engine.addr, &["--host", "tv.lan"]);
    let reply = get_as(proxy.addr, "tv.lan:6880", "/search.m3u?query=sport");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("audio/x-mpegurl"));
    let text = reply.text();
    assert!(
        text.starts_with("#EXTM3U url-tvg=\"http://tv.lan:6880/epg.xml\"\n"),
        "{text}"
    );
    let found = entries(&text);
    let names: Vec<&str> = found.iter().map(|(e, _)| title(e)).collect();
    // The simulator's sport channels, most available first (its order is the catalog's).
    assert_eq!(
        names[..4],
        [
            "Sky Sports Main Event",
            "Sport 1",
            "Eurosport 1",
            "Sky Sports Football"
        ],
        "{text}"
    );
    assert!(names.contains(&"Fox Sports & Action"), "{names:?}");
    assert!(!names.contains(&"CNN International"));
    for (extinf, url) in &found {
        let name = title(extinf);
        assert_eq!(attribute(extinf, "tvg-name").as_deref(), Some(name));
        assert_eq!(attribute(extinf, "group-title").as_deref(), Some("sport"));
        let id = attribute(extinf, "tvg-id").unwrap();
        assert!(id.ends_with(".acestream"), "{extinf}");
        let logo = attribute(extinf, "tvg-logo");
        assert_eq!(logo.is_none(), name == "Setanta Sports 1", "{extinf}");
        let hash = url
            .strip_prefix("http://tv.lan:6880/ace/getstream?infohash=")
            .unwrap_or_else(|| panic!("{url}"));
        assert!(hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    // The same search as JSON: every stream of a channel, best first.
    let json = proxy.json("/search.json?query=sport");
    let channels = json["channels"].as_array().unwrap();
    assert_eq!(channels.len(), found.len());
    let sport1 = channels.iter().find(|c| c["name"] == "Sport 1").unwrap();
    let availability: Vec<f64> = sport1["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["availability"].as_f64().unwrap())
        .collect();
    assert_eq!(availability, [0.95, 0.4, 0.12]);
    assert_eq!(sport1["epg"].as_array().unwrap().len(), 5);
    let best = channels
        .iter()
        .map(|c| c["streams"][0]["availability"].as_f64().unwrap());
    let best: Vec<f64> = best.collect();
    assert!(best.windows(2).all(|w| w[0] >= w[1]), "{best:?}");

    // HLS URLs, a least availability, a category, everything.
    let hls = proxy.get("/search.m3u?query=sport&hls=1").text();
    assert!(
        entries(&hls)
            .iter()
            .all(|(_, url)| url.contains("/ace/manifest.m3u8?infohash="))
    );
    let strong = entries(
        &proxy
            .get("/search.m3u?query=sport&min_availability=0.9")
            .text(),
    )
    .len();
    assert_eq!(strong, 2, "two sport channels have a stream of 0.9 or more");
    let kids = proxy.get("/search.m3u?category=kids").text();
    let kids: Vec<String> = entries(&kids)
        .iter()
        .map(|(e, _)| title(e).to_owned())
        .collect();
    assert_eq!(kids, ["Cartoon Network", "Disney Channel", "Nickelodeon"]);
    let everything = entries(&proxy.get("/search.m3u").text()).len();
    assert_eq!(everything, 33, "the whole catalog");
    let numeric = proxy.json("/search.json?query=24");
    let names: Vec<&str> = numeric["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"24"),
        "a name the engine sent as a number: {names:?}"
    );
}

#[test]
fn a_search_is_asked_of_the_engine_once_while_its_results_are_fresh() {
    let engine = common::sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let first = proxy.get("/search.m3u?query=news").text();
    assert_eq!(proxy.get("/search.m3u?query=news").text(), first);
    assert_eq!(proxy.get("/search.json?query=news").status, 200);
    assert_eq!(searches(&engine), (1, 0), "one search, in the current form");
    assert_eq!(proxy.get("/search.m3u?query=movies").status, 200);
    assert_eq!(searches(&engine).0, 2);
    // Ten devices at once (one device's share of the connections may be smaller than ten on a
    // router board) for a search not yet kept: the engine is asked once.
    let addr = proxy.addr;
    let replies = common::at_once(10, move |_| {
        let device = common::next_device();
        common::get_from(device, addr, "/search.m3u?query=music", "").status
    });
    assert!(replies.iter().all(|s| *s == 200), "{replies:?}");
    assert_eq!(searches(&engine).0, 3);
}

#[test]
fn an_older_engine_is_searched_with_an_access_token_renewed_when_refused() {
    let engine = common::sim(&["--legacy-search"]);
    let proxy = acebox(engine.addr, &[]);
    let news = proxy.json("/search.json?query=news");
    let channels = news["channels"].as_array().unwrap();
    assert!(
        channels.iter().any(|c| c["name"] == "BBC World News"),
        "{news}"
    );
    assert!(
        channels
            .iter()
            .all(|c| c["epg"].as_array().unwrap().len() == 1),
        "older engines send the programme on now: {news}"
    );
    assert!(channels[0]["logo"].as_str().unwrap().starts_with("http://"));
    assert_eq!(searches(&engine), (1, 1), "one token, then one search");
    assert_eq!(proxy.get("/search.m3u?query=kids").status, 200);
    assert_eq!(searches(&engine), (2, 1), "the token is kept");
    engine.get("/sim/search?expire_token=1");
    assert_eq!(proxy.get("/search.m3u?query=tv").status, 200);
    assert_eq!(
        searches(&engine),
        (3, 2),
        "a refused token is asked for again, once"
    );
}

#[test]
fn every_page_of_a_large_search_is_gathered() {
    let engine = common::sim(&["--search-extra", "400"]);
    let proxy = acebox(engine.addr, &[]);
    let all = proxy.json("/search.json");
    assert_eq!(all["channels"].as_array().unwrap().len(), 433);
    assert_eq!(all["cut"], false);
    // 200 a page on the host, fewer on a board of smaller answers.
    let pages = u64::from(433_u32.div_ceil(acebox::search::PAGE_SIZE));
    assert_eq!(
        searches(&engine).0,
        pages,
        "every page of {}",
        acebox::search::PAGE_SIZE
    );
    let generated = proxy.json("/search.json?query=channel%200");
    assert_eq!(generated["channels"].as_array().unwrap().len(), 400);
}

#[test]
fn engine_search_failures_get_clear_answers_and_cost_nothing_else() {
    let engine = common::sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let failing = |fault: &str, query: &str| {
        engine.get(&format!("/sim/search?fault={fault}"));
        proxy.get(&format!("/search.m3u?query={query}"))
    };
    let refused = failing("error", "a");
    assert_eq!(refused.status, 502);
    assert!(
        refused.error().contains("search request failed"),
        "{}",
        refused.text()
    );
    let garbage = failing("garbage", "b");
    assert_eq!(garbage.status, 502);
    assert!(
        garbage.error().contains("cannot read"),
        "{}",
        garbage.text()
    );
    let huge = failing("huge", "c");
    assert_eq!(huge.status, 502);
    assert!(
        huge.error().contains("larger than the") && huge.error().contains("bytes this board reads"),
        "{}",
        huge.text()
    );
    // None of that was kept or broke anything: the same searches work now.
    for query in ["a", "b", "c", "sport"] {
        assert_eq!(
            proxy.get(&format!("/search.m3u?query={query}")).status,
            200,
            "{query}"
        );
    }
    assert_eq!(proxy.get("/status").status, 200);

    // The engine's limit: a 429 the app can wait out, and the engine is left alone meanwhile.
    let limited = failing("limit", "d");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert!(
        limited.error().contains("limits how often"),
        "{}",
        limited.text()
    );
    let asked = searches(&engine).0;
    let again = proxy.get("/search.m3u?query=e");
    assert_eq!(again.status, 429);
    assert_eq!(searches(&engine).0, asked, "not asked while limited");
    assert_eq!(
        proxy.get("/search.m3u?query=sport").status,
        200,
        "kept results are served"
    );

    // No engine at all.
    let closed = ClosedPort::new();
    let alone = acebox(closed.addr, &[]);
    let unreachable = alone.get("/search.m3u?query=sport");
    assert_eq!(unreachable.status, 502);
    assert!(
        unreachable.error().contains("unreachable"),
        "{}",
        unreachable.text()
    );
}

#[test]
fn a_search_the_engine_never_answers_is_a_504_in_seconds() {
    let engine = common::sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    engine.get("/sim/search?fault=hang");
    let asked = Instant::now();
    let reply = proxy.get("/search.m3u?query=sport");
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        reply.error().contains("did not answer in time"),
        "{}",
        reply.text()
    );
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(proxy.get("/search.m3u?query=sport").status, 200);
}

#[test]
fn bad_search_parameters_are_refused_without_asking_the_engine() {
    let engine = common::sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let long = format!("/search.m3u?query={}", "x".repeat(201));
    for path in [
        "/search.m3u?min_availability=2",
        "/search.json?min_availability=half",
        "/search.m3u?hls=yes",
        long.as_str(),
    ] {
        let reply = proxy.get(path);
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert!(!reply.error().is_empty());
    }
    assert_eq!(searches(&engine), (0, 0));
}

#[test]
fn ffmpeg_plays_a_channel_of_the_search_playlist() {
    if !common::have("ffmpeg") {
        return;
    }
    let dir = TempDir::new("acebox-search-ffmpeg");
    make_media(dir.path(), 20, Codecs::Mpeg2);
    let engine = common::sim(&["--segment-ms", "1000", "--media-dir", dir.arg()]);
    let proxy = acebox(engine.addr, &[]);
    let playlist = proxy.get("/search.m3u?query=sport").text();
    let (extinf, url) = entries(&playlist).into_iter().next().unwrap();
    assert_eq!(title(&extinf), "Sky Sports Main Event");
    let played = Ffmpeg::play(&url, 8).finish();
    assert!(played.status.success(), "ffmpeg failed: {}", played.said);
    assert!(
        played.said.trim().is_empty(),
        "ffmpeg reported: {}",
        played.said
    );
    assert!(
        played.decoded >= Duration::from_secs(7),
        "{:?}",
        played.decoded
    );
    let hash = url.rsplit('=').next().unwrap();
    let stats = engine.json("/sim/stats");
    let queries = stats["start_queries"].as_array().unwrap();
    assert!(
        queries
            .iter()
            .any(|q| q.as_str().unwrap().contains(&format!("infohash={hash}"))),
        "the engine was asked for the best stream: {stats}"
    );
}

#[test]
fn the_guide_is_valid_xmltv_for_the_channels_found_and_the_channel_list_points_at_it() {
    let validator = "tv_validate_file";
    if !have_or(
        validator,
        "install it: apt-get install xmltv-util, or scripts/setup.sh",
    ) {
        return;
    }
    let dir = TempDir::new("acebox-search-guide");
    let list = dir.path().join("list.m3u");
    std::fs::write(
        &list,
        format!(
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"1000.acestream\" tvg-chno=\"7\",My sport\nacestream://{}\n",
            common::content(1)
        ),
    )
    .unwrap();
    let engine = common::sim(&[]);
    let proxy = acebox(
        engine.addr,
        &["--channels", list.to_str().unwrap(), "--host", "tv.lan"],
    );
    let playlist = get_as(proxy.addr, "tv.lan:6880", "/playlist.m3u").text();
    assert!(
        playlist.starts_with("#EXTM3U url-tvg=\"http://tv.lan:6880/epg.xml\"\n"),
        "a list naming no guide gets acebox's: {playlist}"
    );
    assert!(playlist.contains("tvg-id=\"1000.acestream\" tvg-chno=\"7\",My sport\n"));

    let mut ids = Vec::new();
    for query in ["sport", "news"] {
        let text = proxy.get(&format!("/search.m3u?query={query}")).text();
        ids.extend(
            entries(&text)
                .iter()
                .filter_map(|(e, _)| attribute(e, "tvg-id")),
        );
    }
    let guide = proxy.get("/epg.xml");
    assert_eq!(guide.status, 200);
    assert_eq!(
        guide.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    let xml = guide.text();
    for id in &ids {
        assert!(
            xml.contains(&format!("<channel id=\"{id}\">")),
            "{id} in the guide"
        );
    }
    assert!(
        xml.contains("<channel id=\"1000.acestream\">"),
        "the list's channel too"
    );
    assert!(
        xml.contains("&amp;") && xml.contains("&lt;tonight&gt;"),
        "escaped text"
    );
    let last_channel = xml.rfind("<channel ").unwrap();
    assert!(
        last_channel < xml.find("<programme ").unwrap(),
        "channels first"
    );
    let file = dir.path().join("epg.xml");
    std::fs::write(&file, &xml).unwrap();
    let checked = Command::new(validator)
        .arg(&file)
        .env("XMLTV_SUPPLEMENT", "/usr/share/xmltv")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout).into_owned()
        + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "tv_validate_file: {said}");
}

/// Where scripts/search-setup.sh installs `acestream-search`.
fn acestream_search_bin() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("acebox/acestream-search/bin")
}

/// Runs an `acestream-search` client with `args`; its output, after checking it succeeded.
fn run(client: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(client).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?}: {}\n{stdout}",
        client.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn acestream_search_from_pypi_reads_both_forms_of_the_simulator() {
    let bin = acestream_search_bin();
    let (current, legacy) = (
        bin.join("acestream_search"),
        bin.join("acestream_search_legacy"),
    );
    let install = "install it with scripts/search-setup.sh";
    if !have_or(current.to_str().unwrap(), install) || !have_or(legacy.to_str().unwrap(), install) {
        return;
    }
    let engine = common::sim(&[]);
    let at = engine.addr.to_string();
    // Its playlist of every stream (ungrouped), grouped with guide ids, its guide and its JSON.
    let flat = run(&current, &["-p", &at, "-t", "tv.lan:6880", "sport"]);
    assert!(flat.starts_with("#EXTM3U\n"), "{flat}");
    assert!(
        flat.contains("Sport 1 HD [ sport ]") && flat.contains("a:0.95"),
        "{flat}"
    );
    assert!(
        flat.contains("http://tv.lan:6880/ace/getstream?infohash="),
        "{flat}"
    );
    let grouped = run(&current, &["-p", &at, "-e", "news"]);
    assert!(
        grouped.contains("tvg-id=\"1011\",1. BBC World News HD"),
        "{grouped}"
    );
    let guide = run(&current, &["-p", &at, "-x", "24"]);
    assert!(
        guide.contains("<display-name lang=\"ru\">24</display-name>"),
        "{guide}"
    );
    let json = run(&current, &["-p", &at, "-j", "-c", "kids", ""]);
    let pages: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = pages
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert!(names.contains(&"Cartoon Network HD"), "{json}");

    // The older release speaks the token form, which the simulator serves beside /search.
    let old_guide = run(&legacy, &["-p", &at, "-x", "news"]);
    assert!(old_guide.contains("<display-name lang=\"ru\">BBC World News</display-name>"));
    assert!(
        old_guide.contains("<icon src=\"http://logos.acebox-sim.invalid/"),
        "{old_guide}"
    );
    let old = run(&legacy, &["-p", &at, "-t", "tv.lan:6880", "sport"]);
    assert!(old.contains("Sport 1 HD [ sport ]"), "{old}");
    assert!(
        old.contains("http://tv.lan:6880/ace/manifest.m3u8?infohash="),
        "{old}"
    );
    let (_, tokens) = searches(&engine);
    assert!(tokens >= 2, "the older release asked for tokens: {tokens}");
}
