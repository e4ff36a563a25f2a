//! The channel list: `--channels FILE` served at `/playlist.m3u` with every AceStream entry on
//! the host the client used, re-read when the file changes.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Reply, acebox, content, request, wait_for};

/// Serving the list never calls the engine: nothing needs to listen there.
fn no_engine() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// A fresh directory for test `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acebox-channels-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `GET path` with `Host: host`.
fn get_as(addr: SocketAddr, host: &str, path: &str) -> Reply {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn the_list_is_served_rewritten_for_the_host_the_client_used() {
    let dir = scratch("serve");
    let (one, two) = (content(1), content(2));
    let list = dir.join("list.m3u");
    std::fs::write(
        &list,
        format!(
            "#EXTM3U x-tvg-url=\"http://epg.example/e.xml\"\r\n\
             #EXTINF:-1 tvg-logo=\"http://logo.example/1.png\" group-title=\"Sport\",One\r\n\
             acestream://{one}\r\n\
             #EXTINF:-1,Two\r\n\
             http://127.0.0.1:6878/ace/getstream?id={two}\r\n\
             #EXTINF:-1,Radio\r\n\
             http://radio.example/r.mp3\r\n\
             #EXTINF:-1,Broken\r\n\
             acestream://not-an-id\r\n"
        ),
    )
    .unwrap();
    let names = ["--host", "tv.lan", "--host", "192.168.1.10"];
    let mut args = vec!["--channels", list.to_str().unwrap()];
    args.extend(names);
    let proxy = acebox(no_engine(), &args);
    let expected = |host: &str, path: &str| {
        format!(
            "#EXTM3U x-tvg-url=\"http://epg.example/e.xml\"\n\
             #EXTINF:-1 tvg-logo=\"http://logo.example/1.png\" group-title=\"Sport\",One\n\
             http://{host}{path}?id={one}\n\
             #EXTINF:-1,Two\n\
             http://{host}{path}?id={two}\n\
             #EXTINF:-1,Radio\n\
             http://radio.example/r.mp3\n"
        )
    };
    for host in ["tv.lan:6880", "192.168.1.10:8080"] {
        let reply = get_as(proxy.addr, host, "/playlist.m3u");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("content-type"), Some("audio/x-mpegurl"));
        assert_eq!(reply.header("cache-control"), Some("no-cache"));
        assert_eq!(reply.text(), expected(host, "/ace/getstream"));
    }
    let hls = get_as(proxy.addr, "tv.lan", "/playlist.m3u?hls=1");
    assert_eq!(hls.text(), expected("tv.lan", "/ace/manifest.m3u8"));

    // A Host that names something else is refused, never echoed (tests/web.rs has more); with
    // none, the connection's address is used.
    let own = proxy.addr.to_string();
    let forged = get_as(proxy.addr, "evil.example/x?\"", "/playlist.m3u");
    assert_eq!(forged.status, 421, "{}", forged.text());
    let no_host = request(proxy.addr, "GET /playlist.m3u HTTP/1.0\r\n\r\n");
    assert_eq!(no_host.text(), expected(&own, "/ace/getstream"));

    let head = common::send(proxy.addr, "HEAD", "/playlist.m3u");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("audio/x-mpegurl"));
    assert!(head.body.is_empty());
    let bad = get_as(proxy.addr, "tv.lan", "/playlist.m3u?hls=yes");
    assert_eq!(bad.status, 400, "{}", bad.text());

    let dropped = "line 9 dropped (\"acestream://not-an-id\")";
    wait_for(Duration::from_secs(5), "the dropped line's warning", || {
        proxy.logs().contains(dropped).then_some(())
    });
    assert_eq!(proxy.logs().matches(dropped).count(), 1, "{}", proxy.logs());
    let _ = std::fs::remove_dir_all(dir);
}

/// The list's file is looked at and read off the executor: a file that blocks when read (here a
/// FIFO whose writer sends nothing yet) holds up the list's answer alone, while everything else
/// is served.
#[test]
fn a_list_file_that_blocks_holds_up_only_the_list() {
    let dir = scratch("fifo");
    let list = dir.join("list.m3u");
    std::fs::write(&list, format!("acestream://{}\n", content(1))).unwrap();
    let proxy = acebox(no_engine(), &["--channels", list.to_str().unwrap()]);
    let addr = proxy.addr;
    assert!(
        common::get(addr, "/playlist.m3u")
            .text()
            .contains(&content(1))
    );
    std::fs::remove_file(&list).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&list).status();
    assert!(made.unwrap().success(), "mkfifo");
    // Opening the FIFO to write waits for acebox to open it to read: its next look at the file
    // (at most once a second, when the list is asked for).
    let (opened, reading) = std::sync::mpsc::channel();
    let fifo = list.clone();
    let writer = std::thread::spawn(move || {
        let file = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        opened.send(()).unwrap();
        file
    });
    let asking = std::thread::spawn(move || {
        wait_for(
            Duration::from_secs(30),
            "the list written to the FIFO",
            || {
                let text = common::get(addr, "/playlist.m3u").text();
                text.contains(&content(2)).then_some(text)
            },
        )
    });
    reading
        .recv_timeout(Duration::from_secs(30))
        .expect("acebox opens the FIFO");
    // acebox now waits for the list's bytes. Everything else is served meanwhile.
    let mut status = std::net::TcpStream::connect(addr).unwrap();
    status
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(
        &mut status,
        format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut answer = Vec::new();
    let read = std::io::Read::read_to_end(&mut status, &mut answer);
    assert!(read.is_ok(), "/status waited for the list's file: {read:?}");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let mut file = writer.join().unwrap();
    std::io::Write::write_all(
        &mut file,
        format!("acestream://{}\n", content(2)).as_bytes(),
    )
    .unwrap();
    drop(file);
    assert!(asking.join().unwrap().contains(&content(2)));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_list_is_re_read_when_the_file_changes_and_kept_when_it_goes() {
    let dir = scratch("reread");
    let list = dir.join("list.m3u");
    let bad_line = "acestream://0123\n";
    std::fs::write(&list, format!("acestream://{}\n{bad_line}", content(1))).unwrap();
    let proxy = acebox(no_engine(), &["--channels", list.to_str().unwrap()]);
    let served = || common::get(proxy.addr, "/playlist.m3u").text();
    assert!(served().contains(&content(1)));

    // Another length as well as another time: mtime alone may not tick on a coarse filesystem.
    std::fs::write(
        &list,
        format!("#EXTINF:-1,Two\nacestream://{}\n{bad_line}", content(2)),
    )
    .unwrap();
    wait_for(Duration::from_secs(10), "the new list", || {
        served().contains(&content(2)).then_some(())
    });
    // One warning per load of the file, none per request.
    let warned = |what: &str| proxy.logs().matches(what).count();
    wait_for(Duration::from_secs(5), "the second load's warning", || {
        (warned("line 3 dropped") > 0).then_some(())
    });
    assert_eq!(warned("line 2 dropped"), 1, "{}", proxy.logs());
    assert_eq!(warned("line 3 dropped"), 1, "{}", proxy.logs());

    std::fs::remove_file(&list).unwrap();
    // The file is looked at when the list is asked for.
    wait_for(
        Duration::from_secs(10),
        "a warning that the file is gone",
        || {
            let text = served();
            assert!(text.contains(&content(2)), "{text}");
            (warned("cannot be read") > 0).then_some(())
        },
    );
    // Requests over several checks: the last good list each time, the warning once.
    let noticed = Instant::now();
    while noticed.elapsed() < Duration::from_millis(2500) {
        let text = served();
        assert!(text.contains(&content(2)), "{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(warned("cannot be read"), 1, "{}", proxy.logs());

    std::fs::write(&list, format!("acestream://{}\n", content(3))).unwrap();
    wait_for(Duration::from_secs(10), "the list written again", || {
        served().contains(&content(3)).then_some(())
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs acebox with `args` and `env`, expecting it to exit within seconds: its exit code and
/// stderr.
fn exit_of(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = common::command(env!("CARGO_BIN_EXE_acebox"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("acebox {args:?} {env:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_list_that_cannot_be_read_at_start_exits_2_naming_the_file() {
    let dir = scratch("start");
    let missing = dir.join("missing.m3u");
    let missing = missing.to_str().unwrap();
    let (code, stderr) = exit_of(&["--channels", missing], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("acebox: ")
            && stderr.contains(missing)
            && stderr.contains("cannot be read")
            && stderr.contains("--help"),
        "{stderr}"
    );

    let empty = dir.join("empty.m3u");
    std::fs::write(&empty, "#EXTM3U\n#EXTINF:-1,Nothing\n").unwrap();
    let empty = empty.to_str().unwrap();
    let (code, stderr) = exit_of(&[], &[("ACEBOX_CHANNELS", empty)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(empty) && stderr.contains("holds no channels"),
        "{stderr}"
    );

    let help = common::command(env!("CARGO_BIN_EXE_acebox"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--channels FILE") && help.contains("ACEBOX_CHANNELS"),
        "{help}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_a_list_the_playlist_is_404_saying_how_to_get_one() {
    let proxy = acebox(no_engine(), &[]);
    let reply = proxy.get("/playlist.m3u");
    assert_eq!(reply.status, 404);
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("--channels FILE"), "{error}");
}

/// A channel opened from the list is named by the list in every view, with its id beside the
/// name; whatever the name holds, no view breaks.
#[test]
fn every_view_names_a_channel_from_the_list() {
    let dir = scratch("names");
    let (one, two) = (content(21), content(22));
    let list = dir.join("list.m3u");
    let name = "Sport \"1\" & <Co>\\";
    std::fs::write(
        &list,
        format!("#EXTM3U\n#EXTINF:-1 tvg-id=\"s1\",{name}\nacestream://{one}\n"),
    )
    .unwrap();
    let engine = common::sim(&[]);
    let args = ["--channels", list.to_str().unwrap(), "--idle-timeout", "1"];
    let proxy = acebox(engine.addr, &args);
    // The status of the one channel playing `id`, once it is listed.
    let play = |id: &str| {
        let mut stream = common::TsClient::open(proxy.addr, &format!("/ace/getstream?id={id}"));
        assert_eq!(stream.read(188 * 10).len(), 188 * 10, "the stream plays");
        let channel = wait_for(Duration::from_secs(20), "the channel in /status", || {
            let status = proxy.json("/status");
            let channels = status["channels"].as_array()?;
            channels.iter().find(|c| c["content_id"] == id).cloned()
        });
        (stream, channel)
    };
    let (stream, channel) = play(&one);
    assert_eq!(channel["name"], name);
    let metrics = proxy.get("/metrics").text();
    assert!(
        metrics.contains(&format!(
            "acebox_clients{{channel=\"{one}\",name=\"Sport \\\"1\\\" & <Co>\\\\\",mode=\"ts\"}} 1"
        )),
        "{metrics}"
    );
    let page = proxy.get("/").text();
    assert!(
        page.contains("<h2>Sport &quot;1&quot; &amp; &lt;Co&gt;\\</h2>"),
        "{page}"
    );
    assert!(
        page.contains(&format!("<dd>{one}</dd>")),
        "the id beside the name"
    );
    // One at a time: the smallest board plays one channel.
    drop(stream);
    common::room_for_a_channel(&proxy);
    let (_stream, channel) = play(&two);
    assert_eq!(channel["name"], "", "a channel the list does not name");
}
