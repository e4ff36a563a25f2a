//! What the integration tests share: the real `acebox` and `acebox-sim` binaries started on
//! free loopback ports, a small blocking HTTP client, and a player that polls like an HLS client.
#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// A running binary, killed when dropped.
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    /// What the process wrote to stderr so far, drained by a thread so the process never
    /// blocks on a full pipe.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Reads `pipe` on a thread until it closes, so the process writing it never blocks on a full
/// pipe; what was read so far.
pub fn drain(mut pipe: impl Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<String>> {
    let text = std::sync::Arc::<std::sync::Mutex<String>>::default();
    let sink = std::sync::Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            let mut text = sink
                .lock()
                .unwrap_or_else(|e: PoisonError<_>| e.into_inner());
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts `exe` with `args` and reads the address from its first stdout line,
    /// `... listening on http://ADDR`.
    fn start(exe: &str, args: &[&str]) -> Process {
        let mut child = command(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                let via = runner().map_or(String::new(), |r| {
                    format!(" through {r} (ACEBOX_TEST_RUNNER; scripts/cross-setup.sh installs it)")
                });
                panic!("cannot start {exe}{via}: {e}")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{exe} did not say where it listens: {line:?}"));
        let stderr = drain(child.stderr.take().expect("stderr is piped"));
        Process {
            child,
            addr,
            stderr,
        }
    }

    /// What the process has logged to stderr so far.
    pub fn logs(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`...).
    pub fn memory_kib(&self, field: &str) -> u64 {
        memory_kib(self.pid(), field)
    }

    /// User plus system CPU seconds the process has used.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// Sends the process `signal` (`TERM`, `INT`...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits at most `limit` for the process to exit; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let child = &mut self.child;
        wait_for(limit, "the process to exit", || {
            child.try_wait().ok().flatten()
        })
    }

    pub fn kill(mut self) -> SocketAddr {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.addr
    }

    pub fn get(&self, path: &str) -> Reply {
        get(self.addr, path)
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let reply = self.get(path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        serde_json::from_slice(&reply.body)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", reply.text()))
    }

    /// A counter of the simulator's `/sim/stats`.
    pub fn stat(&self, key: &str) -> u64 {
        self.json("/sim/stats")[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} in stats"))
    }

    /// How many file descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("a live process")
            .count()
    }
}

/// Waits until every engine session the simulator `engine` knows of acebox's player ids is
/// stopped (none live, none expired behind acebox's back), checks each was stopped once (for a
/// test that opens each channel once) and returns the stats; panics if none was ever started.
/// Run acebox with a short `--idle-timeout` and let its clients go first.
pub fn wait_sessions_stopped(engine: &Process) -> serde_json::Value {
    let (stats, ours) = wait_for(
        Duration::from_secs(30),
        "every engine session stopped",
        || {
            let stats = engine.json("/sim/stats");
            let ours = stats["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["pid"].as_str().unwrap().starts_with("acebox-"))
                .map(|s| s["state"] == "stopped")
                .collect::<Vec<bool>>();
            let stopped = !ours.is_empty() && ours.iter().all(|s| *s);
            stopped.then_some((stats, ours.len() as u64))
        },
    );
    assert_eq!(stats["stops"], ours, "each session stopped once: {stats}");
    stats
}

/// A listener on an address that is not the engine's (127.0.0.2): acebox must never connect
/// to it, whatever a client or the engine names.
pub struct Trap {
    listener: TcpListener,
    caught: usize,
}

impl Trap {
    pub fn new() -> Trap {
        let listener = TcpListener::bind("127.0.0.2:0").expect("127.0.0.2 is on loopback");
        listener.set_nonblocking(true).unwrap();
        Trap {
            listener,
            caught: 0,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Connections made to the trap so far.
    pub fn caught(&mut self) -> usize {
        while self.listener.accept().is_ok() {
            self.caught += 1;
        }
        self.caught
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`...).
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a live process");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc status"))
}

/// User plus system CPU seconds process `pid` has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("a live process");
    // Fields after the command name, which ends with the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A command for one of the project's binaries: under cross tests the binaries are for another
/// architecture, so they run through the runner in `ACEBOX_TEST_RUNNER` (qemu-aarch64...).
pub fn command(exe: &str) -> Command {
    match runner() {
        Some(runner) => {
            let mut command = Command::new(runner);
            command.arg(exe);
            command
        }
        None => Command::new(exe),
    }
}

/// The runner the binaries run through (`ACEBOX_TEST_RUNNER`), if any.
pub fn runner() -> Option<String> {
    std::env::var("ACEBOX_TEST_RUNNER")
        .ok()
        .filter(|r| !r.is_empty())
}

/// The engine simulator with short segments unless `args` says otherwise.
pub fn sim(args: &[&str]) -> Process {
    let mut all = vec!["--listen", "127.0.0.1:0", "--segment-ms", "200"];
    all.extend_from_slice(args);
    Process::start(env!("CARGO_BIN_EXE_acebox-sim"), &all)
}

/// The simulator restarted on the same address, as after an engine restart.
pub fn sim_at(addr: SocketAddr, args: &[&str]) -> Process {
    let listen = addr.to_string();
    let mut all = vec!["--listen", listen.as_str(), "--segment-ms", "200"];
    all.extend_from_slice(args);
    Process::start(env!("CARGO_BIN_EXE_acebox-sim"), &all)
}

/// acebox in front of `engine`.
pub fn acebox(engine: SocketAddr, args: &[&str]) -> Process {
    acebox_at(&format!("http://{engine}"), args)
}

/// acebox in front of the engine at `url` (`http://host:port`, a name or an address).
pub fn acebox_at(url: &str, args: &[&str]) -> Process {
    let mut all = vec!["--listen", "127.0.0.1:0", "--engine", url];
    all.extend_from_slice(args);
    Process::start(env!("CARGO_BIN_EXE_acebox"), &all)
}

/// A content id for test `n`.
pub fn content(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `error` of acebox's JSON error body; panics unless the body is one.
    pub fn error(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.text()
        );
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.text()))
            .to_owned()
    }
}

/// `GET path` over a fresh connection; the whole answer.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    get_as(addr, path, "")
}

/// `GET path` with `headers` (whole `Name: value\r\n` lines, such as a player's
/// `User-Agent`) over a fresh connection; the whole answer.
pub fn get_as(addr: SocketAddr, path: &str, headers: &str) -> Reply {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"),
    )
}

/// A `User-Agent` line of a player of its own: players on one address are told apart by what
/// they send (real ones are on different devices, or different apps).
pub fn user_agent(n: usize) -> String {
    format!("User-Agent: acebox-test-player/{n}\r\n")
}

/// A user agent not used before in this test process.
fn next_user_agent() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    user_agent(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `METHOD path` over a fresh connection; the whole answer.
pub fn send(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    request(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{length}Connection: close\r\n\r\n"),
    )
}

/// Sends raw request bytes and reads the answer until the server closes.
pub fn request(addr: SocketAddr, raw: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("read from {addr}: {e}"));
    parse_reply(&bytes)
}

/// Sends bytes that need not be a valid request (or UTF-8), and reads what comes back until
/// the server closes or resets: a server may answer and hang up before reading all of a
/// request it refuses, so neither a failed write nor a reset after the answer is an error here.
pub fn request_bytes(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let _ = stream.write_all(raw);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        bytes.extend_from_slice(&buf[..n]);
    }
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: bytes[split + 4..].to_vec(),
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The upstream segment number the simulator wrote into a synthetic segment.
pub fn upstream_seq(segment: &[u8]) -> u64 {
    banner_seq(segment).unwrap_or_else(|| {
        let start = String::from_utf8_lossy(&segment[..188.min(segment.len())]);
        panic!("not a numbered simulator segment: {start:?}")
    })
}

/// The number in a synthetic segment's banner, `acebox-sim <infohash> <n>` in the first
/// packet's payload; `None` when there is no such banner.
pub fn banner_seq(segment: &[u8]) -> Option<u64> {
    let payload = segment.get(4..188.min(segment.len()))?;
    let text = String::from_utf8_lossy(payload);
    let label = text.split('\n').next()?;
    label
        .strip_prefix("acebox-sim ")?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// How an HLS player reloads a live playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// From the URL the connect's 302 led to (ffmpeg, mpv, VLC, GStreamer, hls.js).
    Followed,
    /// From the entry URL it was given, following the 302 anew every time (ExoPlayer, and so
    /// most Android TV apps).
    Entry,
}

/// An HLS player: connects, then polls its playlist and fetches every new segment, knowing
/// segments by media sequence number as real players do. Each player sends a `User-Agent` of
/// its own.
pub struct Player {
    pub acebox: SocketAddr,
    /// The entry URL, `/ace/manifest.m3u8?...`.
    pub entry: String,
    pub reload: Reload,
    /// The `User-Agent` line (and any other header lines) the player sends.
    pub headers: String,
    pub playlist: String,
    /// Segments got, by media sequence number.
    pub segments: BTreeMap<u64, Vec<u8>>,
    /// Every playlist answer's status, in order.
    pub statuses: Vec<u16>,
    pub media_sequences: Vec<u64>,
    /// The sequence numbers of segments listed after an `#EXT-X-DISCONTINUITY`.
    pub breaks: BTreeSet<u64>,
}

impl Player {
    /// Connects through `/ace/manifest.m3u8?id=` and follows the redirect.
    pub fn connect(acebox: SocketAddr, id: &str) -> Player {
        Player::open(acebox, &format!("id={id}"))
    }

    /// Connects through `/ace/manifest.m3u8?<query>` and follows the redirect.
    pub fn open(acebox: SocketAddr, query: &str) -> Player {
        Player::with(acebox, query, Reload::Followed, next_user_agent())
    }

    /// A player that reloads the entry URL for `id` on every poll, as ExoPlayer does.
    pub fn reloading_entry(acebox: SocketAddr, id: &str) -> Player {
        Player::with(
            acebox,
            &format!("id={id}"),
            Reload::Entry,
            next_user_agent(),
        )
    }

    /// Connects through `/ace/manifest.m3u8?<query>`, sending `headers`.
    pub fn with(acebox: SocketAddr, query: &str, reload: Reload, headers: String) -> Player {
        let mut player = Player {
            acebox,
            entry: format!("/ace/manifest.m3u8?{query}"),
            reload,
            headers,
            playlist: String::new(),
            segments: BTreeMap::new(),
            statuses: Vec::new(),
            media_sequences: Vec::new(),
            breaks: BTreeSet::new(),
        };
        player.playlist = player.follow_entry();
        player
    }

    /// The entry URL's redirect: the player's own playlist URL.
    fn follow_entry(&self) -> String {
        let reply = self.get(&self.entry);
        assert_eq!(reply.status, 302, "connect: {}", reply.text());
        let playlist = reply.header("location").expect("a Location").to_owned();
        assert!(playlist.starts_with("/ace/m/"), "{playlist}");
        playlist
    }

    fn get(&self, path: &str) -> Reply {
        get_as(self.acebox, path, &self.headers)
    }

    /// One poll: the playlist (through the entry URL first, for a player that reloads it),
    /// then every listed segment not yet got. Returns the newest sequence number listed.
    pub fn poll(&mut self) -> Option<u64> {
        if self.reload == Reload::Entry {
            self.playlist = self.follow_entry();
        }
        let reply = self.get(&self.playlist);
        self.statuses.push(reply.status);
        if reply.status != 200 {
            return None;
        }
        let playlist = m3u8_rs::parse_media_playlist_res(&reply.body)
            .unwrap_or_else(|e| panic!("not a media playlist ({e:?}): {}", reply.text()));
        self.media_sequences.push(playlist.media_sequence);
        let mut newest = None;
        for (segment, seq) in playlist.segments.iter().zip(playlist.media_sequence..) {
            newest = Some(seq);
            if self.segments.contains_key(&seq) {
                continue;
            }
            if segment.discontinuity {
                self.breaks.insert(seq);
            }
            let got = self.get(&segment.uri);
            assert_eq!(got.status, 200, "segment {}: {}", segment.uri, got.text());
            self.segments.insert(seq, got.body);
        }
        newest
    }

    /// Polls until `until` holds or `limit` passes, waiting `every` between polls as a player
    /// waits between playlist reloads.
    pub fn play(
        &mut self,
        limit: Duration,
        every: Duration,
        mut until: impl FnMut(&Player) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !until(self) {
            assert!(
                Instant::now() < deadline,
                "player gave up; statuses {:?}",
                self.statuses
            );
            self.poll();
            std::thread::sleep(every);
        }
    }
}

/// Segments the player got, in order, map to consecutive upstream segments: no skip, no
/// repeat, no discontinuity.
pub fn assert_contiguous(player: &Player) {
    assert!(
        player.breaks.is_empty(),
        "discontinuities at {:?}",
        player.breaks
    );
    assert_contiguous_between_breaks(player);
}

/// The player's media sequence has no gap, and the segments it got map to consecutive upstream
/// segments wherever no `#EXT-X-DISCONTINUITY` separates them: after a fault, acebox may lose
/// upstream segments, but only where it says so.
pub fn assert_contiguous_between_breaks(player: &Player) {
    let seqs: Vec<u64> = player.segments.keys().copied().collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "local sequence has gaps: {seqs:?}"
    );
    let pairs: Vec<(u64, u64)> = player
        .segments
        .iter()
        .map(|(seq, s)| (*seq, upstream_seq(s)))
        .collect();
    for w in pairs.windows(2) {
        let ((_, a), (seq, b)) = (w[0], w[1]);
        assert!(
            b == a + 1 || player.breaks.contains(&seq),
            "upstream segment {a} then {b} with no discontinuity: {pairs:?}"
        );
    }
}

/// An MPEG-TS client: one streaming GET, read as the test asks.
pub struct TsClient {
    reader: BufReader<TcpStream>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Bytes left in the current chunk of the chunked body.
    left: usize,
}

impl TsClient {
    /// `GET path` and read the head; the body is read later, as needed.
    pub fn open(addr: SocketAddr, path: &str) -> TsClient {
        TsClient::send(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        )
    }

    /// Sends the raw request `raw` and reads the head; the body is read later, as needed.
    pub fn send(addr: SocketAddr, raw: &str) -> TsClient {
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut line = Vec::new();
            assert!(
                reader.read_until(b'\n', &mut line).unwrap() > 0,
                "connection closed in the head"
            );
            head.extend(line);
        }
        let reply = parse_reply(&head);
        TsClient {
            reader,
            status: reply.status,
            headers: reply.headers,
            left: 0,
        }
    }

    /// Reads body bytes until `n` are read or the stream ends; returns what was read.
    pub fn read(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.left == 0 && !self.next_chunk() {
                break;
            }
            let want = (n - out.len()).min(self.left);
            let mut buf = vec![0; want];
            self.reader.read_exact(&mut buf).unwrap();
            self.left -= want;
            out.extend(buf);
            if self.left == 0 {
                let mut crlf = [0; 2];
                self.reader.read_exact(&mut crlf).unwrap();
            }
        }
        out
    }

    /// Reads body bytes for `time`; returns them.
    pub fn read_for(&mut self, time: Duration) -> Vec<u8> {
        let end = Instant::now() + time;
        let mut out = Vec::new();
        while Instant::now() < end {
            let got = self.read(188 * 64);
            if got.is_empty() {
                break;
            }
            out.extend(got);
        }
        out
    }

    /// Reads the next chunk-size line; false at the end of the body.
    fn next_chunk(&mut self) -> bool {
        let mut line = String::new();
        if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        self.left = usize::from_str_radix(line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
        self.left > 0
    }
}

/// The simulator's index of each video packet (PID 0x100) in `bytes`, which must be whole,
/// aligned packets.
pub fn video_indices(bytes: &[u8]) -> Vec<u64> {
    assert_eq!(
        bytes.len() % 188,
        0,
        "not whole packets: {} bytes",
        bytes.len()
    );
    bytes
        .chunks(188)
        .inspect(|p| assert_eq!(p[0], 0x47, "lost packet alignment"))
        .filter_map(video_index)
        .collect()
}

/// The simulator's index of one whole packet if it is a video packet (PID 0x100).
pub fn video_index(packet: &[u8]) -> Option<u64> {
    let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
    (pid == 0x100).then(|| u64::from_be_bytes(packet[180..188].try_into().unwrap()))
}

/// Whether the video indices follow each other with no packet lost.
pub fn gap_free(indices: &[u64]) -> bool {
    indices.windows(2).all(|w| follows(w[0], w[1]))
}

/// The video indices cut into runs with no packet lost, split wherever one does not follow
/// the one before (a lost stretch, or the engine's clock starting again).
pub fn gap_free_runs(indices: &[u64]) -> Vec<&[u64]> {
    indices.chunk_by(|a, b| follows(*a, *b)).collect()
}

/// Whether video index `b` comes right after `a`: the next, except across the PAT and PMT that
/// take the first two places of every group of 50.
pub fn follows(a: u64, b: u64) -> bool {
    b == if (a + 1) % 50 == 0 { a + 3 } else { a + 1 }
}

/// Runs `f(i)` for `i` in `0..n` on `n` threads released at the same instant; their results,
/// in order.
pub fn at_once<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let f = std::sync::Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (start, f) = (start.clone(), f.clone());
            std::thread::spawn(move || {
                start.wait();
                f(i)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a thread failed"))
        .collect()
}

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What test media is encoded as.
#[derive(Clone, Copy)]
pub enum Codecs {
    /// MPEG-2 video and MP2 audio: ffmpeg, mpv and VLC play it, browsers do not.
    Mpeg2,
    /// H.264 (baseline profile) and AAC: what browsers play through MSE, as hls.js does.
    H264,
}

impl Codecs {
    /// ffmpeg's encoder options for these codecs, a key frame every second.
    fn ffmpeg_args(self) -> &'static [&'static str] {
        match self {
            Codecs::Mpeg2 => &[
                "-c:v",
                "mpeg2video",
                "-g",
                "25",
                "-b:v",
                "400k",
                "-c:a",
                "mp2",
                "-b:a",
                "64k",
            ],
            Codecs::H264 => &[
                "-c:v",
                "libx264",
                "-profile:v",
                "baseline",
                "-pix_fmt",
                "yuv420p",
                "-preset",
                "veryfast",
                "-g",
                "25",
                "-keyint_min",
                "25",
                "-sc_threshold",
                "0",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
            ],
        }
    }
}

/// Writes `seg0.ts, seg1.ts, ...` into `dir`: `secs` one-second MPEG-TS segments of a test
/// picture and tone in `codecs`, made by ffmpeg.
pub fn make_media(dir: &std::path::Path, secs: u32, codecs: Codecs) {
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            &secs.to_string(),
        ])
        .args(codecs.ffmpeg_args())
        .args([
            "-f",
            "segment",
            "-segment_time",
            "1",
            "-segment_format",
            "mpegts",
        ])
        .arg(dir.join("seg%d.ts"))
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make the test media");
}

/// Whether `tool` runs here. On CI (`CI` set; CI installs every tool) its absence fails the
/// test; by hand the test is skipped, and says so where the harness cannot hide it.
pub fn have(tool: &str) -> bool {
    // ffprobe and ffplay come in Debian's ffmpeg package.
    let package = if tool.starts_with("ff") {
        "ffmpeg"
    } else {
        tool
    };
    have_or(
        tool,
        &format!("install it: apt-get install {package}, or scripts/setup.sh"),
    )
}

/// [`have`], for a tool that `install` says how to install.
pub fn have_or(tool: &str, install: &str) -> bool {
    let runs = |flag: &str| {
        Command::new(tool)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs("-version") || runs("--version") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is not installed on CI; {install}"
    );
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // The harness captures eprintln! and shows it only for failing tests; a write to the
    // stderr handle goes straight to the terminal.
    let _ = writeln!(
        std::io::stderr(),
        "\nSKIPPED: {test} needs {tool}, which is not installed; {install}"
    );
    false
}

/// A directory of its own under the system's temporary one, removed when dropped.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The path as text, for a command line.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary directory")
    }

    /// A new subdirectory `name`.
    pub fn make(&self, name: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir(&path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
