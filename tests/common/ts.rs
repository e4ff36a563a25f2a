//! The MPEG-TS client model: [`TsClient`] reads one streaming `GET` (chunked) as the test asks,
//! and the simulator's packet indices are read back to find a lost or repeated packet. Never
//! plays HLS (`hls`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::http::{connect_from, next_device, parse_reply};

/// An MPEG-TS client: one streaming GET, read as the test asks.
pub struct TsClient {
    /// The client's own address (a device of its own).
    pub from: IpAddr,
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

    /// Sends the raw request `raw` from a device of its own (see `next_device`) and reads the
    /// head; the body is read later, as needed.
    pub fn send(addr: SocketAddr, raw: &str) -> TsClient {
        TsClient::send_from(next_device(), addr, raw)
    }

    /// [`TsClient::send`] from the local address `from`.
    pub fn send_from(from: IpAddr, addr: SocketAddr, raw: &str) -> TsClient {
        let mut stream = connect_from(from, addr, Duration::from_secs(30));
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
            from,
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
    whole_packets(bytes);
    bytes.chunks(188).filter_map(video_index).collect()
}

/// Checks that `bytes` are whole, aligned MPEG-TS packets, each starting with the 0x47 sync
/// byte; how many there are.
pub fn whole_packets(bytes: &[u8]) -> usize {
    assert_eq!(
        bytes.len() % 188,
        0,
        "not whole packets: {} bytes",
        bytes.len()
    );
    for packet in bytes.chunks(188) {
        assert_eq!(packet[0], 0x47, "lost packet alignment");
    }
    bytes.len() / 188
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
