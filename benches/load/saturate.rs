//! The limit: clients fetch the newest segments of a warm ring back-to-back, as fast as they can,
//! for a fixed time, first from acebox, then from nginx serving the same bytes from files
//! (sendfile, loopback, access log off). nginx's throughput, measured in the same run by the
//! same clients, is the reference acebox's is divided by.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smol::Executor;

use crate::common::cpu_seconds;
use crate::net::Conn;
use crate::refs::{Refs, fetch_segment};

/// What the clients of one phase got.
#[derive(Debug, Default)]
pub struct Flow {
    pub bytes: u64,
    pub requests: u64,
    pub corrupt: u64,
    pub errors: u64,
    pub secs: f64,
}

impl Flow {
    /// Bytes per second over the phase.
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.secs.max(f64::EPSILON)
    }
}

/// What one client cycles over: its content and segment paths.
#[derive(Clone)]
pub struct Route {
    pub content: String,
    pub paths: Vec<String>,
}

/// Every client fetches its route's segments in a loop, starting at its own offset, until `secs`
/// have passed; each over the connection it is handed.
pub async fn flood(
    ex: &'static Executor<'static>,
    refs: &Arc<Refs>,
    clients: Vec<(Conn, Route)>,
    secs: Duration,
) -> Flow {
    let start = Instant::now();
    let end = start + secs;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (conn, route))| ex.spawn(hammer(conn, refs.clone(), route, i, end)))
        .collect();
    let mut total = Flow::default();
    for task in tasks {
        let flow = task.await;
        total.bytes += flow.bytes;
        total.requests += flow.requests;
        total.corrupt += flow.corrupt;
        total.errors += flow.errors;
    }
    total.secs = start.elapsed().as_secs_f64();
    total
}

async fn hammer(
    mut conn: Conn,
    refs: Arc<Refs>,
    route: Route,
    offset: usize,
    end: Instant,
) -> Flow {
    let mut flow = Flow::default();
    for path in route.paths.iter().cycle().skip(offset) {
        if Instant::now() >= end {
            break;
        }
        match fetch_segment(&mut conn, path, &refs, &route.content).await {
            Ok(got) if got.status == 200 => {
                flow.requests += 1;
                flow.bytes += got.bytes;
                flow.corrupt += u64::from(!got.intact);
            }
            _ => flow.errors += 1,
        }
    }
    flow
}

/// Where nginx serves the file holding acebox's segment `path` of `content`.
pub fn nginx_path(content: &str, path: &str) -> String {
    format!("/{content}/{}", path.rsplit('/').next().unwrap_or_default())
}

/// nginx on a free loopback port, serving files from its own directory; stopped when dropped.
pub struct Nginx {
    exe: PathBuf,
    dir: PathBuf,
    child: Child,
    pub addr: SocketAddr,
}

impl Nginx {
    /// Writes `files` (path, bytes) under a fresh directory and starts `exe` on them.
    pub fn start(exe: &Path, files: &[(String, Bytes)]) -> io::Result<Nginx> {
        let dir = std::env::temp_dir().join(format!("acebox-load-nginx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, bytes) in files {
            let file = dir.join("www").join(path.trim_start_matches('/'));
            std::fs::create_dir_all(file.parent().expect("a file in a folder"))?;
            std::fs::write(&file, bytes)?;
        }
        open_to_workers(&dir)?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        std::fs::write(dir.join("nginx.conf"), config(&dir, addr))?;
        let child = Command::new(exe)
            .args(["-e", "stderr", "-g", "daemon off;", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .spawn()?;
        let nginx = Nginx {
            exe: exe.to_owned(),
            dir,
            child,
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other("nginx did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nginx)
    }

    /// CPU seconds of the master and its workers.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let workers = children.split_whitespace().filter_map(|p| p.parse().ok());
        std::iter::once(pid).chain(workers).map(cpu_seconds).sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s stop` reaches the workers too; killing the master alone could leave them.
        let _ = Command::new(&self.exe)
            .args(["-e", "stderr", "-s", "stop", "-p"])
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx's workers run as an unprivileged user when the master is root: let them read.
fn open_to_workers(dir: &Path) -> io::Result<()> {
    for entry in walk(dir)? {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut all = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            all.extend(walk(&path)?);
        } else {
            all.push(path);
        }
    }
    Ok(all)
}

/// A static file server tuned as its docs advise for large files: sendfile, no access log,
/// keep-alive without a request cap, one worker per core.
fn config(dir: &Path, addr: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        "worker_processes auto;\npid {dir}/nginx.pid;\nerror_log stderr error;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n\
         keepalive_requests 1000000;\n  keepalive_timeout 60s;\n\
         client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp;\n\
         fastcgi_temp_path {dir}/tmp; uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;\n\
         types {{ video/mp2t ts; }}\n\
         server {{ listen {addr}; root {dir}/www; }}\n}}\n"
    )
}
