//! What the tests need from the machine: whether an outside tool runs (`have`: a failure on CI,
//! a loud skip by hand), real media made by ffmpeg, ffmpeg as a player ([`Ffmpeg`]), and
//! temporary directories. Never starts acebox or the simulator (`process`).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use super::wait_for;

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

/// ffmpeg as a player: decodes a URL into the null muxer in the background, reporting its
/// progress; killed when dropped.
pub struct Ffmpeg {
    child: Child,
    /// The length it was asked to play.
    secs: u32,
    /// The progress reports (`key=value` lines) and the errors it writes, read to their end.
    progress: Option<JoinHandle<String>>,
    errors: Option<JoinHandle<String>>,
}

/// How an [`Ffmpeg`] play ended.
pub struct Played {
    pub status: ExitStatus,
    /// What ffmpeg reported on stderr (errors only: `-v error`).
    pub said: String,
    /// How much media it decoded: the last `out_time_us` it reported.
    pub decoded: Duration,
}

impl Ffmpeg {
    /// Starts decoding `secs` s of `url`.
    pub fn play(url: &str, secs: u32) -> Ffmpeg {
        let mut child = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-i",
                url,
                "-t",
                &secs.to_string(),
            ])
            .args(["-f", "null", "-", "-progress", "pipe:1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg runs");
        let progress = read_to_end(child.stdout.take().expect("stdout is piped"));
        let errors = read_to_end(child.stderr.take().expect("stderr is piped"));
        Ffmpeg {
            child,
            secs,
            progress: Some(progress),
            errors: Some(errors),
        }
    }

    /// Waits for ffmpeg to end, for at most a minute longer than it was asked to play; how it
    /// ended.
    pub fn finish(&mut self) -> Played {
        let limit = Duration::from_secs(u64::from(self.secs) + 60);
        let child = &mut self.child;
        let status = wait_for(limit, "ffmpeg to end", || child.try_wait().ok().flatten());
        let joined = |pipe: &mut Option<JoinHandle<String>>| {
            pipe.take()
                .map(|t| t.join().expect("the pipe reader ends"))
                .unwrap_or_default()
        };
        let progress = joined(&mut self.progress);
        let decoded = progress
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("out_time_us=")?.parse().ok())
            .map_or(Duration::ZERO, Duration::from_micros);
        Played {
            status,
            said: joined(&mut self.errors),
            decoded,
        }
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` to its end on a thread (so the writer never blocks on a full pipe); the text.
fn read_to_end(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
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
    runs("-version") || runs("--version") || missing(tool, install)
}

/// Whether program `tool` is on `PATH` (for tools without a version flag), as [`have`] says.
pub fn have_on_path(tool: &str, install: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()) || missing(tool, install)
}

/// `tool` is missing: a failure on CI, a loud skip by hand (false).
fn missing(tool: &str, install: &str) -> bool {
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
