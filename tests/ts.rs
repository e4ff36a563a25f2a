//! acebox's MPEG-TS fan-out, end to end: the real binary in front of the engine simulator's TS
//! endpoint (which allows one reader per session), over real sockets.

mod common;

use std::time::{Duration, Instant};

use acebox::board::MAX_CLIENTS_PER_CHANNEL;
use common::{
    Codecs, TempDir, TsClient, acebox, at_once, content, gap_free, get, have, make_media, send,
    sim, sim_at, video_indices, wait_for,
};

const PACKET: usize = 188;

fn getstream(id: &str) -> String {
    format!("/ace/getstream?id={id}")
}

fn is_pat(packet: &[u8]) -> bool {
    packet[0] == 0x47 && packet[1] & 0x1f == 0 && packet[2] == 0 && packet[1] & 0x40 != 0
}

#[test]
fn fifty_clients_get_identical_aligned_streams_from_one_engine_reader() {
    let engine = sim(&["--ts-bitrate", "2000000", "--ts-burst-bytes", "200000"]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(1);
    let mut first = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(first.status, 200);
    assert!(!first.read(PACKET * 100).is_empty());
    let (addr, path) = (proxy.addr, getstream(&id));
    // Fifty more, or as many as the board takes on one channel besides the first.
    let streams = at_once((MAX_CLIENTS_PER_CHANNEL - 1).min(50), move |_| {
        let mut client = TsClient::open(addr, &path);
        assert_eq!(client.status, 200);
        client.read(PACKET * 1500)
    });
    let indexed: Vec<(Vec<u64>, &Vec<u8>)> =
        streams.iter().map(|s| (video_indices(s), s)).collect();
    for (indices, bytes) in &indexed {
        assert_eq!(bytes.len(), PACKET * 1500);
        assert!(is_pat(&bytes[..PACKET]), "each joiner starts at a PAT");
        assert!(gap_free(indices), "a client lost packets");
    }
    // Where two streams overlap, they are the same bytes.
    let (a_idx, a) = &indexed[0];
    for (b_idx, b) in &indexed[1..] {
        let common = a_idx
            .iter()
            .find(|i| b_idx.contains(i))
            .expect("streams overlap");
        let a_at = a
            .chunks(PACKET)
            .position(|p| p[180..] == common.to_be_bytes())
            .unwrap()
            * PACKET;
        let b_at = b
            .chunks(PACKET)
            .position(|p| p[180..] == common.to_be_bytes())
            .unwrap()
            * PACKET;
        let len = (a.len() - a_at).min(b.len() - b_at);
        assert!(
            a[a_at..a_at + len] == b[b_at..b_at + len],
            "streams differ where they overlap"
        );
    }
    assert_eq!(engine.stat("ts_streams"), 1, "one upstream reader for all");
    assert_eq!(engine.stat("ts_max_concurrent_per_session"), 1);
    assert_eq!(engine.stat("ts_corrupt"), 0);
    assert_eq!(
        engine.stat("starts"),
        1,
        "a streaming channel is not restarted by connects"
    );
}

#[test]
fn a_client_that_stops_reading_does_not_slow_the_others() {
    // 40 Mbit/s fills the stuck client's socket buffers and the ring within seconds.
    let engine = sim(&["--ts-bitrate", "40000000", "--ts-burst-bytes", "100000"]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(2);
    let mut stuck = TsClient::open(proxy.addr, &getstream(&id));
    assert_eq!(stuck.read(PACKET).len(), PACKET);
    let mut fast = TsClient::open(proxy.addr, &getstream(&id));
    // Long enough for the stuck client to fall off the end of the ring (16 MiB at 5 MB/s).
    let warm = fast.read_for(Duration::from_secs(5));
    let window = Duration::from_secs(3);
    let measured = fast.read_for(window);
    let all: Vec<u8> = warm.into_iter().chain(measured.iter().copied()).collect();
    assert!(
        gap_free(&video_indices(&all)),
        "the reading client lost packets"
    );
    // The live rate is 5,000,000 bytes a second; a proxy held up by the stuck client gives ~0.
    let rate = measured.len() as f64 / window.as_secs_f64();
    assert!(
        rate > 2_500_000.0,
        "the reading client got only {rate:.0} bytes/s"
    );
    let status = proxy.json("/status");
    assert_eq!(status["channels"][0]["mode"], "ts");
    // The stuck client is cut off, and counted, once the ring takes back the chunk it still
    // holds (how soon depends on the board's ring and the kernel's socket buffers, so it may
    // already be gone) or at the latest once the write-stall timeout passes with no byte taken.
    // The reading client stays.
    wait_for(Duration::from_secs(60), "the stuck client's drop", || {
        let channel = &proxy.json("/status")["channels"][0];
        (channel["counters"]["client_drops"].as_u64() == Some(1) && channel["clients"] == 1)
            .then_some(())
    });
    drop(stuck);
}

#[test]
fn a_late_joiner_starts_at_a_pat_followed_by_a_keyframe() {
    let engine = sim(&["--ts-bitrate", "2000000", "--ts-burst-bytes", "400000"]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(3);
    let mut first = TsClient::open(proxy.addr, &getstream(&id));
    first.read(PACKET * 2000);
    let mut late = TsClient::open(proxy.addr, &getstream(&id));
    let head = late.read(PACKET * 3);
    assert!(is_pat(&head[..PACKET]), "first packet is a PAT");
    assert_eq!(head[PACKET + 2], 0x00, "then the PMT (PID 0x1000)");
    assert_eq!(
        head[2 * PACKET + 5] & 0x40,
        0x40,
        "then a keyframe (random access)"
    );
}

#[test]
fn clients_stay_connected_through_an_engine_restart() {
    let engine = sim(&["--ts-bitrate", "2000000", "--ts-burst-bytes", "100000"]);
    let proxy = acebox(engine.addr, &[]);
    let id = content(4);
    let mut client = TsClient::open(proxy.addr, &getstream(&id));
    let before = video_indices(&client.read(PACKET * 500));
    let addr = engine.kill();
    let engine = sim_at(
        addr,
        &["--ts-bitrate", "2000000", "--ts-burst-bytes", "100000"],
    );
    // The restarted engine's clock starts again, so its packets carry smaller indices. How soon
    // they come depends on the healing backoff and on how fast the engine restarts (slow under
    // emulation): read until 100 packets of the new stream are in, or a minute passes.
    let mut all = before;
    let deadline = Instant::now() + Duration::from_secs(60);
    let restart = loop {
        all.extend(video_indices(&client.read(PACKET * 50)));
        let restart = all.windows(2).position(|w| w[1] < w[0]);
        if let Some(restart) = restart.filter(|r| all.len() - r > 100) {
            break restart;
        }
        assert!(
            Instant::now() < deadline,
            "no data from the restarted engine reached the client"
        );
    };
    assert!(gap_free(&all[restart + 1..]), "the new stream lost packets");
    assert!(engine.stat("ts_streams") >= 1);
}

#[test]
fn head_answers_headers_without_starting_a_session() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let reply = send(proxy.addr, "HEAD", &getstream(&content(5)));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("video/mp2t"));
    assert!(reply.body.is_empty());
    assert_eq!(engine.stat("starts"), 0);
}

#[test]
fn bad_ids_and_a_down_engine_are_clear_errors() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    for query in ["", "?id=123", "?infohash=nothex"] {
        let reply = get(proxy.addr, &format!("/ace/getstream{query}"));
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(engine.stat("starts"), 0);
    engine.kill();
    let reply = get(proxy.addr, &getstream(&content(6)));
    assert_eq!(reply.status, 502, "{}", reply.text());
}

#[test]
fn ffprobe_reads_a_stream_taken_through_acebox() {
    if !(have("ffmpeg") && have("ffprobe")) {
        return;
    }
    let dir = TempDir::new("acebox-ffprobe");
    make_media(dir.path(), 10, Codecs::Mpeg2);
    let engine = sim(&[
        "--media-dir",
        dir.arg(),
        "--ts-bitrate",
        "1000000",
        "--ts-burst-bytes",
        "300000",
    ]);
    let proxy = acebox(engine.addr, &[]);
    let mut client = TsClient::open(proxy.addr, &getstream(&content(8)));
    let taken = client.read_for(Duration::from_secs(3));
    let file = dir.path().join("taken.ts");
    std::fs::write(&file, &taken).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe: {stderr}"
    );
    let streams = String::from_utf8_lossy(&out.stdout);
    assert!(
        streams.contains("video") && streams.contains("audio"),
        "{streams}"
    );
}
