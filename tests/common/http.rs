//! A small blocking HTTP/1.1 client: one request per fresh connection, the whole answer read
//! until the server closes (or raw bytes sent, for hostile requests), and [`Trap`], the address
//! acebox must never connect to. Never follows redirects or retries: what a player does with
//! the answers is `hls`'s and `ts`'s.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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
    request(addr, &get_request(addr, path, headers))
}

/// The whole `GET path` request to `addr`, with `headers`, asking the server to close after.
fn get_request(addr: SocketAddr, path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n")
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

/// A fresh connection to `addr` whose reads wait at most `timeout`.
pub(super) fn connect(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream
}

/// A loopback address not used before in this test process, standing for a device of its own:
/// all of 127.0.0.0/8 is this machine, and acebox tells devices apart by address (its
/// per-address quotas). 127.1.0.1 on; 127.0.0.1 is every other client, 127.0.0.2 the [`Trap`].
pub fn next_device() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let [_, a, b, c] = n.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 1 + a, b, c))
}

/// A fresh connection to `addr` from the local address `from` (see [`next_device`]), whose
/// reads wait at most `timeout`.
pub fn connect_from(from: IpAddr, addr: SocketAddr, timeout: Duration) -> TcpStream {
    try_connect_from(from, addr, timeout)
        .unwrap_or_else(|e| panic!("connect {addr} from {from}: {e}"))
}

/// [`connect_from`], or why not (the load generator goes on after a refused connection).
pub fn try_connect_from(
    from: IpAddr,
    addr: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    use rustix::net::{AddressFamily, SocketType, bind, connect, socket};
    let family = if from.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = socket(family, SocketType::STREAM, None)?;
    bind(&fd, &SocketAddr::new(from, 0))?;
    connect(&fd, &addr)?;
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(timeout))?;
    Ok(stream)
}

/// `GET path` with `headers` from the local address `from`, over a fresh connection; the
/// whole answer.
pub fn get_from(from: IpAddr, addr: SocketAddr, path: &str, headers: &str) -> Reply {
    let stream = connect_from(from, addr, Duration::from_secs(60));
    exchange(stream, addr, &get_request(addr, path, headers))
}

/// Sends raw request bytes and reads the answer until the server closes.
pub fn request(addr: SocketAddr, raw: &str) -> Reply {
    exchange(connect(addr, Duration::from_secs(60)), addr, raw)
}

/// Sends `raw` over `stream`, connected to `addr`, and reads the answer until the server closes.
fn exchange(mut stream: TcpStream, addr: SocketAddr, raw: &str) -> Reply {
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
    let mut stream = connect(addr, Duration::from_secs(60));
    let _ = stream.write_all(raw);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        bytes.extend_from_slice(&buf[..n]);
    }
    parse_reply(&bytes)
}

pub(super) fn parse_reply(bytes: &[u8]) -> Reply {
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

/// A `User-Agent` line of a player of its own: players on one address are told apart by what
/// they send (real ones are on different devices, or different apps).
pub fn user_agent(n: usize) -> String {
    format!("User-Agent: acebox-test-player/{n}\r\n")
}

/// A user agent not used before in this test process.
pub(super) fn next_user_agent() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    user_agent(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
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

/// A loopback port that refuses connections for as long as this lives, and that nothing else
/// can take meanwhile: the local port of a connection held open. A port bound and let go may be
/// taken by a listener of a test running beside this one, which then does not answer.
pub struct ClosedPort {
    pub addr: SocketAddr,
    _held: (TcpListener, TcpStream, TcpStream),
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let client = TcpStream::connect(listener.local_addr().expect("its address"))
            .expect("a loopback connection");
        let (server, _) = listener.accept().expect("the connection accepted");
        let addr = client.local_addr().expect("the client's address");
        ClosedPort {
            addr,
            _held: (listener, client, server),
        }
    }
}
