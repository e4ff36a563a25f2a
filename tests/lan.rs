//! Being found on the LAN, with the real clients people have, between two network namespaces
//! (real multicast and broadcast; see `common::netns`): Silicondust's `hdhomerun_config`,
//! `gssdp-discover` (GUPnP), `upnp-client` (async-upnp-client, Home Assistant's UPnP library)
//! and VLC's UPnP discovery find acebox, Browse lists its channels by name, and ffmpeg plays
//! an item's URL; minidlna, side by side, is seen by the same clients the same way. Also: the
//! `--allow` list and `--no-announce` keep acebox quiet, and it says goodbye when it stops.
//! These need root (CI runs as root) and the tools of `scripts/lan-setup.sh`.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use acebox::lan::hdhomerun::valid_device_id;
use common::netns::{BOX_ADDR, Lan, TV_ADDR, TV_IF, can_make_namespaces};
use common::{Codecs, Process, TempDir, content, drain, have, have_on_path, make_media, wait_for};

const MEDIA_SERVER: &str = "urn:schemas-upnp-org:device:MediaServer:1";
const SETUP: &str = "run scripts/lan-setup.sh";

/// The venv `scripts/lan-setup.sh` puts async-upnp-client in.
fn upnp_bin() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("acebox/async-upnp-client-0.49.0/bin")
}

/// Whether everything these tests run is here (on CI a missing tool fails them).
fn ready(tools: &[&str]) -> bool {
    if !can_make_namespaces() {
        return false;
    }
    let client = upnp_bin().join("upnp-client");
    tools.iter().all(|t| have_on_path(t, SETUP))
        && (client.is_file() || !common_missing(&client.display().to_string()))
}

/// `tool` is missing: fails on CI, skips by hand.
fn common_missing(tool: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is not installed on CI; {SETUP}"
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\nSKIPPED: needs {tool}; {SETUP}\n").as_bytes(),
    );
    true
}

/// A program in a namespace that is not one of ours (minidlna, a listener), killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The simulator (with real media, if given), and acebox listening on `listen` in the box namespace with
/// a channel list of three channels (two in "Sport", one without a group) and `args`.
fn start_box(
    lan: &Lan,
    media: Option<&TempDir>,
    listen: &str,
    args: &[&str],
) -> (Process, Process, TempDir) {
    let mut sim_args = vec!["--listen", "127.0.0.1:0", "--segment-ms", "1000"];
    if let Some(media) = media {
        sim_args.extend(["--media-dir", media.arg()]);
    }
    let mut sim = ours(lan, env!("CARGO_BIN_EXE_acebox-sim"), &sim_args);
    sim.stdin(Stdio::null());
    let sim = Process::spawn(sim, "acebox-sim");
    let dir = TempDir::new(&format!("acebox-lan-list-{}", lan.box_ns));
    let list = dir.path().join("channels.m3u");
    std::fs::write(
        &list,
        format!(
            "#EXTM3U\n\
             #EXTINF:-1 tvg-chno=\"5\" tvg-logo=\"http://logo.example/s1.png\" group-title=\"Sport\",Sport & Co 1\n\
             acestream://{}\n\
             #EXTINF:-1 group-title=\"Sport\",Sport 2\n\
             acestream://{}\n\
             #EXTINF:-1,News <24>\n\
             acestream://{}\n",
            content(1),
            content(2),
            content(3)
        ),
    )
    .unwrap();
    let engine = format!("http://{}", sim.addr);
    let mut all = vec![
        "--listen",
        listen,
        "--engine",
        &engine,
        "--channels",
        list.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let proxy = Process::spawn(ours(lan, env!("CARGO_BIN_EXE_acebox"), &all), "acebox");
    (sim, proxy, dir)
}

/// One of the project's binaries in the box namespace, through the cross tests' runner
/// (qemu-user) when there is one.
fn ours(lan: &Lan, exe: &str, args: &[&str]) -> Command {
    match common::runner() {
        Some(runner) => {
            let mut all = vec![exe];
            all.extend_from_slice(args);
            lan.in_box(&runner, &all)
        }
        None => lan.in_box(exe, args),
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `hdhomerun_config discover` from the clients' side, as many times as it takes (up to 10 s)
/// for `done` to hold of what it printed.
fn hdhomerun_discover(lan: &Lan, done: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    wait_for(Duration::from_secs(10), "hdhomerun_config discover", || {
        last = text(&lan.run_in_tv("hdhomerun_config", &["discover"]));
        done(&last).then(|| last.clone())
    })
}

/// `gssdp-discover` on the clients' interface for `secs` s, searching for media servers.
fn gssdp_discover(lan: &Lan, secs: u32) -> String {
    let timeout = format!("--timeout={secs}");
    let target = format!("--target={MEDIA_SERVER}");
    text(&lan.run_in_tv("gssdp-discover", &["-i", TV_IF, &timeout, &target]))
}

/// `upnp-client` (async-upnp-client) with `args`, strict about what it reads.
fn upnp_client(lan: &Lan, args: &[&str]) -> String {
    let client = upnp_bin().join("upnp-client");
    let mut all = vec!["--strict"];
    all.extend_from_slice(args);
    let out = lan.run_in_tv(client.to_str().unwrap(), &all);
    assert!(out.status.success(), "upnp-client {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One object of a Browse answer, as python-didl-lite (async-upnp-client's DIDL-Lite parser)
/// reads it.
#[derive(Debug)]
struct Object {
    kind: String,
    id: String,
    title: String,
    res: Vec<(String, String)>,
}

/// `Browse` of `object`'s children on the media server described at `location`, through
/// `upnp-client call-action`, its `Result` read by python-didl-lite.
fn browse(lan: &Lan, location: &str, object: &str) -> Vec<Object> {
    let object = format!("ObjectID={object}");
    let answer = upnp_client(
        lan,
        &[
            "call-action",
            location,
            "ContentDirectory/Browse",
            &object,
            "BrowseFlag=BrowseDirectChildren",
            "Filter=*",
            "StartingIndex=0",
            "RequestedCount=0",
            "SortCriteria=",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("upnp-client prints JSON");
    let result = answer["out_parameters"]["Result"]
        .as_str()
        .expect("a Result")
        .to_owned();
    let script = "import sys, json\nfrom didl_lite import didl_lite\n\
        objs = didl_lite.from_xml_string(sys.stdin.read(), strict=True)\n\
        print(json.dumps([{'kind': type(o).__name__, 'id': o.id, 'title': o.title,\n\
        'res': [[r.uri, r.protocol_info] for r in getattr(o, 'res', [])]} for o in objs]))";
    let mut python = Command::new(upnp_bin().join("python3"))
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(python.stdin.as_mut().unwrap(), result.as_bytes()).unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python-didl-lite refused {result}: {}",
        text(&out)
    );
    let objects: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    objects
        .as_array()
        .unwrap()
        .iter()
        .map(|o| Object {
            kind: o["kind"].as_str().unwrap().to_owned(),
            id: o["id"].as_str().unwrap().to_owned(),
            title: o["title"].as_str().unwrap().to_owned(),
            res: o["res"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap().to_owned(),
                        r[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// minidlna in the box namespace serving `media`, named `minidlna-test`, on port 8200.
fn minidlna(lan: &Lan, media: &TempDir) -> (Daemon, TempDir) {
    let dir = TempDir::new(&format!("acebox-lan-minidlna-{}", lan.box_ns));
    let conf = dir.path().join("minidlna.conf");
    std::fs::write(
        &conf,
        format!(
            "media_dir=V,{}\ndb_dir={}\nlog_dir={}\nport=8200\nnetwork_interface=vbox\n\
             friendly_name=minidlna-test\ninotify=no\n",
            media.arg(),
            dir.arg(),
            dir.arg()
        ),
    )
    .unwrap();
    let pid = dir.path().join("pid");
    let child = lan
        .in_box(
            "minidlnad",
            &[
                "-d",
                "-f",
                conf.to_str().unwrap(),
                "-P",
                pid.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("minidlnad runs");
    (Daemon(child), dir)
}

#[test]
fn every_client_finds_acebox_as_it_finds_minidlna_and_an_item_plays() {
    let tools = [
        "hdhomerun_config",
        "gssdp-discover",
        "minidlnad",
        "cvlc",
        "runuser",
    ];
    if !have("ffmpeg") || !ready(&tools) {
        return;
    }
    let lan = Lan::new("find");
    let media = TempDir::new("acebox-lan-media");
    make_media(media.path(), 20, Codecs::Mpeg2);
    let (_sim, proxy, _list) = start_box(&lan, Some(&media), "0.0.0.0:0", &[]);
    let (_minidlna, _db) = minidlna(&lan, &media);
    let port = proxy.addr.port();
    let location = format!("http://{BOX_ADDR}:{port}/device.xml");

    // Silicondust's own tool: found at the box's address, with an id it accepts.
    let found = hdhomerun_discover(&lan, |out| out.contains("found at"));
    let line = found.lines().find(|l| l.contains("found at")).unwrap();
    assert!(line.ends_with(&format!("found at {BOX_ADDR}")), "{found}");
    let id = line.split_whitespace().nth(2).unwrap();
    assert!(
        valid_device_id(u32::from_str_radix(id, 16).unwrap()),
        "{found}"
    );

    // GUPnP: both media servers, each at its description.
    let seen = wait_for(
        Duration::from_secs(20),
        "gssdp-discover to see both",
        || {
            let seen = gssdp_discover(&lan, 3);
            (seen.contains(&format!("Location: {location}"))
                && seen.contains(&format!("Location: http://{BOX_ADDR}:8200/rootDesc.xml")))
            .then_some(seen)
        },
    );
    assert!(seen.contains(&format!("::{MEDIA_SERVER}")), "{seen}");

    // async-upnp-client: the search from the clients' address finds both.
    let searched = upnp_client(
        &lan,
        &["search", "--bind", TV_ADDR, "--search_target", MEDIA_SERVER],
    );
    assert!(
        searched.contains(&format!("\"location\": \"{location}\"")),
        "{searched}"
    );
    assert!(searched.contains(":8200/rootDesc.xml"), "{searched}");

    // Browse: acebox's root holds the group, then the channel without one, by name.
    let root = browse(&lan, &location, "0");
    let names: Vec<(&str, &str)> = root
        .iter()
        .map(|o| (o.kind.as_str(), o.title.as_str()))
        .collect();
    assert_eq!(
        names,
        [("StorageFolder", "Sport"), ("VideoBroadcast", "News <24>")],
        "{root:?}"
    );
    let sport = browse(&lan, &location, &root[0].id);
    let names: Vec<&str> = sport.iter().map(|o| o.title.as_str()).collect();
    assert_eq!(names, ["Sport & Co 1", "Sport 2"], "{sport:?}");
    let (url, info) = &sport[0].res[0];
    assert_eq!(
        url,
        &format!("http://{BOX_ADDR}:{port}/ace/getstream?id={}", content(1))
    );

    // minidlna's tree through the same client and parser: a video item's res is served the
    // same way (http-get, video/mpeg).
    let top = browse(&lan, &format!("http://{BOX_ADDR}:8200/rootDesc.xml"), "0");
    assert!(top.iter().all(|o| o.kind == "StorageFolder"), "{top:?}");
    let videos = browse(&lan, &format!("http://{BOX_ADDR}:8200/rootDesc.xml"), "2$8");
    let (_, theirs) = &videos.first().expect("minidlna lists the test video").res[0];
    let kind = |info: &str| info.split(':').take(3).collect::<Vec<_>>().join(":");
    assert_eq!(kind(info), "http-get:*:video/mpeg");
    assert_eq!(
        kind(info),
        kind(theirs),
        "{info} against minidlna's {theirs}"
    );

    // The item plays: ffmpeg on the clients' side reads 4 s of it through acebox.
    let played = lan.run_in_tv(
        "ffmpeg",
        &[
            "-nostdin", "-v", "error", "-i", url, "-t", "4", "-f", "null", "-",
        ],
    );
    assert!(
        played.status.success() && text(&played).trim().is_empty(),
        "ffmpeg: {}",
        text(&played)
    );

    // VLC's UPnP discovery (it will not run as root) lists both servers.
    let vlc = lan.run_in_tv(
        "runuser",
        &[
            "-u",
            "nobody",
            "--",
            "cvlc",
            "-I",
            "dummy",
            "-vv",
            "--no-video",
            "--aout=dummy",
            "--services-discovery",
            "upnp",
            "--run-time=5",
            "vlc://quit",
        ],
    );
    let said = text(&vlc);
    assert!(
        said.contains("Adding server 'acebox"),
        "VLC did not list acebox"
    );
    assert!(
        said.contains("Adding server 'minidlna-test'"),
        "VLC did not list minidlna"
    );
}

#[test]
fn allow_and_no_announce_keep_acebox_quiet_and_it_says_goodbye() {
    if !ready(&["hdhomerun_config", "gssdp-discover"]) {
        return;
    }
    let lan = Lan::new("quiet");
    // Only the box itself may ask: the box finds it, the TV gets no answer.
    let (sim, proxy, list) = start_box(&lan, None, "0.0.0.0:0", &["--allow", BOX_ADDR]);
    let own = text(
        &lan.in_box("hdhomerun_config", &["discover"])
            .output()
            .unwrap(),
    );
    assert!(own.contains(&format!("found at {BOX_ADDR}")), "{own}");
    assert!(hdhomerun_discover(&lan, |_| true).contains("no devices found"));
    let seen = gssdp_discover(&lan, 3);
    assert!(
        !seen.contains("/device.xml"),
        "a search was answered: {seen}"
    );
    drop((proxy, sim, list));

    let (sim, proxy, list) = start_box(&lan, None, "0.0.0.0:0", &["--no-announce"]);
    assert!(hdhomerun_discover(&lan, |_| true).contains("no devices found"));
    drop((proxy, sim, list));

    // Announcing again: a listener sees it come (alive) and go (byebye) when it stops.
    let mut listener = lan
        .in_tv(
            "gssdp-discover",
            &["-i", TV_IF, "--timeout=20", "--message-type=all"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let heard = drain(listener.stdout.take().unwrap());
    let said = |what: &str| heard.lock().unwrap().contains(what).then_some(());
    wait_for(Duration::from_secs(10), "gssdp-discover to listen", || {
        said("Showing")
    });
    let (_sim, mut proxy, _list) = start_box(&lan, None, "0.0.0.0:0", &[]);
    let usn = format!("::{MEDIA_SERVER}");
    wait_for(Duration::from_secs(10), "the announcement", || {
        said("resource available")
    });
    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(10)).success());
    wait_for(Duration::from_secs(10), "the goodbye", || {
        said("resource unavailable")
    });
    let _ = listener.kill();
    let _ = listener.wait();
    let heard = heard.lock().unwrap().clone();
    let went = heard.find("resource unavailable").unwrap();
    assert!(heard[went..].contains(&usn), "{heard}");
}
