//! The image test's players: acebox in the aarch64 VM that scripts/image-test.sh boots, played
//! from the host with the suite's own players (the HLS [`Player`], [`TsClient`], [`Ffmpeg`]),
//! against the engine simulator this test starts on the host port the guest's acebox was told
//! to use (the guest reaches the host's loopback at 10.0.2.2).
//!
//! Ignored by a plain `cargo test`, which has no VM: scripts/image-test.sh runs it with
//! `--ignored`, `ACEBOX_IMAGE_ACEBOX` (the host address forwarded to acebox in the guest) and
//! `ACEBOX_IMAGE_ENGINE` (the host address the simulator must listen on).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{
    Codecs, Ffmpeg, Player, Process, TempDir, TsClient, content, get, have, make_media, sim_at,
    whole_packets,
};

/// How long the HLS players play, in 1 s segments.
const PLAY: Duration = Duration::from_secs(10);

#[test]
#[ignore = "needs acebox in the aarch64 VM: scripts/image-test.sh boots it and runs this"]
fn acebox_in_the_vm_plays_hls_and_ts_to_the_host() {
    let acebox = address("ACEBOX_IMAGE_ACEBOX");
    let media = TempDir::new("acebox-image");
    let mut args = vec!["--segment-ms", "1000"];
    // Real video, so ffmpeg can decode what acebox serves; CI has ffmpeg (scripts/setup.sh).
    let decode = have("ffmpeg");
    if decode {
        make_media(media.path(), 30, Codecs::Mpeg2);
        args.extend(["--media-dir", media.arg()]);
    }
    let engine = sim_at(address("ACEBOX_IMAGE_ENGINE"), &args);
    let (hls_id, ts_id) = (content(0x01), content(0x02));
    plays_hls(acebox, &engine, &hls_id, decode);
    plays_ts(acebox, &ts_id);

    let status = get(acebox, "/status").json();
    let channels = status["channels"].as_array().expect("a channel list");
    for (id, mode) in [(&hls_id, "hls"), (&ts_id, "ts")] {
        assert!(
            channels
                .iter()
                .any(|c| c["content_id"] == id.as_str() && c["mode"] == mode),
            "/status lacks the {mode} channel: {status}"
        );
    }
    eprintln!("image-test: acebox /status lists both channels (hls and ts)");
}

/// Two players on one channel for [`PLAY`] through the redirect: the HLS [`Player`], checking
/// every answer and segment, and ffmpeg decoding alongside (when `decode`); the engine serves
/// each segment once.
fn plays_hls(acebox: SocketAddr, engine: &Process, id: &str, decode: bool) {
    let url = format!("http://{acebox}/ace/manifest.m3u8?id={id}");
    let mut ffmpeg = decode.then(|| Ffmpeg::play(&url, PLAY.as_secs() as u32));
    let mut player = Player::connect(acebox, id);
    let own = &player.playlist;
    assert!(
        own.starts_with(&format!("/ace/m/{id}/")) && own.ends_with(".m3u8"),
        "connect redirected to {own}, expected /ace/m/{id}/<client>.m3u8"
    );
    eprintln!("image-test: connect: 302 to {own}");
    let started = Instant::now();
    player.play(PLAY * 3, Duration::from_secs(1), |_| {
        started.elapsed() >= PLAY
    });
    assert!(
        player.statuses.iter().all(|s| *s == 200),
        "playlist polls answered {:?}",
        player.statuses
    );
    let bytes: usize = player.segments.values().map(|s| s.len()).sum();
    for (seq, segment) in &player.segments {
        assert!(whole_packets(segment) > 0, "segment {seq} is empty");
    }
    let segments = player.segments.len() as u64;
    eprintln!(
        "image-test: HLS player: {} playlist polls (all 200), {segments} segments ({bytes} bytes of whole 0x47 packets)",
        player.statuses.len()
    );
    assert!(
        segments >= PLAY.as_secs() / 2,
        "only {segments} segments in {PLAY:?} of 1 s segments"
    );

    if let Some(ffmpeg) = &mut ffmpeg {
        let played = ffmpeg.finish();
        assert!(played.status.success(), "ffmpeg failed: {}", played.said);
        assert!(
            played.decoded >= PLAY - Duration::from_secs(1),
            "ffmpeg decoded only {:?}",
            played.decoded
        );
        if !played.said.trim().is_empty() {
            eprintln!("image-test: ffmpeg said: {}", played.said.trim());
        }
        eprintln!(
            "image-test: ffmpeg player: decoded {:?}, exit 0",
            played.decoded
        );
    }

    let (requests, max_fetches) = (
        engine.stat("segment_requests"),
        engine.stat("max_fetches_per_segment"),
    );
    eprintln!(
        "image-test: engine (sim): starts {}, segment_requests {requests}, max_fetches_per_segment {max_fetches}",
        engine.stat("starts")
    );
    assert_eq!(max_fetches, 1, "each segment is fetched once");
    assert!(
        requests >= segments,
        "the engine served {requests} segments but the player got {segments}"
    );
}

/// An MPEG-TS client of `/ace/getstream` for 2 s: whole packets from a PAT on, still streaming.
fn plays_ts(acebox: SocketAddr, id: &str) {
    let mut tv = TsClient::open(acebox, &format!("/ace/getstream?id={id}"));
    assert_eq!(tv.status, 200, "/ace/getstream answered {}", tv.status);
    let mut bytes = tv.read(188);
    assert!(!bytes.is_empty(), "no bytes from /ace/getstream");
    bytes.extend(tv.read_for(Duration::from_secs(2)));
    assert!(!tv.read(188).is_empty(), "the TS stream ended within 2 s");
    let packets = whole_packets(&bytes[..bytes.len() / 188 * 188]);
    // A client starts at a PAT (PID 0) so a player can decode from its first packet.
    let pid = (u16::from(bytes[1] & 0x1f) << 8) | u16::from(bytes[2]);
    assert_eq!(pid, 0, "the TS stream starts with PID {pid}, not a PAT");
    eprintln!(
        "image-test: TS player: 200, {} bytes in ~2 s, {packets} whole packets with 0x47 sync, PAT first",
        bytes.len()
    );
}

/// The socket address in environment variable `var`.
fn address(var: &str) -> SocketAddr {
    let value = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: scripts/image-test.sh boots the VM and runs this test")
    });
    value
        .parse()
        .unwrap_or_else(|e| panic!("{var}={value}: {e}"))
}
