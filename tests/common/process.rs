//! The project's binaries as processes: `acebox` and `acebox-sim` started on free loopback
//! ports (through `ACEBOX_TEST_RUNNER` under cross tests), read for the address they print,
//! their stderr drained, their memory and CPU read from `/proc`, killed when dropped.
//! Never speaks HTTP itself beyond the simulator's stats it reads (`http` does).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::PoisonError;
use std::time::Duration;

use super::http::{Reply, get};
use super::wait_for;

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
        let mut command = command(exe);
        command.args(args);
        Process::spawn(command, exe)
    }

    /// Starts `command` (program `exe`, for messages) and reads the address from its first
    /// stdout line, `... listening on http://ADDR`.
    pub fn spawn(mut command: Command, exe: &str) -> Process {
        let mut child = command
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

/// acebox in front of every one of `engines` (the first the default), each given with `suffix`
/// (`?channels=N`, or nothing).
pub fn acebox_engines(engines: &[Process], suffix: &str) -> Process {
    let urls: Vec<String> = engines
        .iter()
        .map(|e| format!("http://{}{suffix}", e.addr))
        .collect();
    let mut args = Vec::new();
    for url in &urls[1..] {
        args.extend(["--engine", url.as_str()]);
    }
    acebox_at(&urls[0], &args)
}

/// acebox in front of the engine at `url` (`http://host:port`, a name or an address).
pub fn acebox_at(url: &str, args: &[&str]) -> Process {
    let mut all = vec!["--listen", "127.0.0.1:0", "--engine", url];
    all.extend_from_slice(args);
    Process::start(env!("CARGO_BIN_EXE_acebox"), &all)
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
