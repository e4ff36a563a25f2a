//! A home network on one machine: two network namespaces joined by a veth pair, `box` (where
//! acebox runs, 10.222.0.1/24) and `tv` (where the clients run, 10.222.0.2/24), with multicast
//! routed on the link, so discovery is real multicast and broadcast between two hosts. Made
//! per test with names of its own and always removed ([`Lan`] is a drop guard). Needs root.
//! Never starts acebox itself (`process` does, given a command from here).

use std::process::{Command, Output};

/// acebox's address on the test LAN, and the clients'.
pub const BOX_ADDR: &str = "10.222.0.1";
pub const TV_ADDR: &str = "10.222.0.2";
/// The interface names inside each namespace.
pub const BOX_IF: &str = "vbox";
pub const TV_IF: &str = "vtv";

/// Two namespaces on one link, removed when dropped.
pub struct Lan {
    pub box_ns: String,
    pub tv_ns: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    /// Makes the namespaces of test `tag`.
    pub fn new(tag: &str) -> Lan {
        let id = format!("acebox-{}-{tag}", std::process::id());
        let lan = Lan {
            box_ns: format!("{id}-box"),
            tv_ns: format!("{id}-tv"),
        };
        for ns in [&lan.box_ns, &lan.tv_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
        }
        let (b, t) = (lan.box_ns.as_str(), lan.tv_ns.as_str());
        ip(&[
            "link", "add", BOX_IF, "netns", b, "type", "veth", "peer", "name", TV_IF, "netns", t,
        ]);
        for (ns, dev, addr) in [(b, BOX_IF, BOX_ADDR), (t, TV_IF, TV_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
        }
        lan
    }

    /// `program args...` to run in namespace `ns`: `ip netns exec` runs it itself, so a child's
    /// pid is the program's.
    fn command(ns: &str, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, program]).args(args);
        command
    }

    /// A command in acebox's namespace.
    pub fn in_box(&self, program: &str, args: &[&str]) -> Command {
        Lan::command(&self.box_ns, program, args)
    }

    /// A command in the clients' namespace.
    pub fn in_tv(&self, program: &str, args: &[&str]) -> Command {
        Lan::command(&self.tv_ns, program, args)
    }

    /// Runs `program args...` in the clients' namespace to its end; what it printed.
    pub fn run_in_tv(&self, program: &str, args: &[&str]) -> Output {
        self.in_tv(program, args)
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace takes its veth end along, and so the pair.
        for ns in [&self.box_ns, &self.tv_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Whether this test can make namespaces: root and `ip`. On CI (run as root) their absence
/// fails the test; by hand it is skipped, and says so.
pub fn can_make_namespaces() -> bool {
    // Root's effective uid is 0, as /proc/self/status says.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        == Some("0");
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the LAN tests need root (network namespaces) on CI"
        );
        // Straight to the terminal, as `have` does: the harness hides eprintln!.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\nSKIPPED: this test makes network namespaces, which needs root\n",
        );
        return false;
    }
    super::have_on_path(
        "ip",
        "install it: apt-get install iproute2, or scripts/lan-setup.sh",
    )
}
