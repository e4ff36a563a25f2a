//! HTTP/1.1 transport on smol: the server that clients reach, the one-shot client toward the
//! engine, and the small helpers every handler uses.
//!
//! This folder owns sockets, timeouts and the gate (who may connect, how many at once). It
//! never decides what a request means (that is `router`) and it never builds a URL from client
//! input: a client request names only a path on an [`Origin`] that the caller already holds, so
//! it cannot be steered to another host.
//!
//! A file per job, each importing only its siblings and the crate root's `AtomicU64`, `lock`
//! and `clock` (nothing else of acebox):
//! - `allow`: the `--allow` prefixes and matching a peer against them;
//! - `blocking`: running blocking work (a name to resolve, a file to read) off the executor;
//! - `gate`: who may connect and how many at once, built on `allow`;
//! - `names`: the names acebox is reached by, and whether a request's `Host` is one;
//! - `server`: binding, the accept loop, serving a connection, refusing one;
//! - `serve_io`: a served connection's socket as hyper reads and writes it;
//! - `stall`: the write-stall guard around a client's socket;
//! - `tally`: per-address counts over a minute (channels opened, wrong tokens);
//! - `token`: remote access by token: which one a request carries, carrying it on in URLs;
//! - `origin`: the engine's fixed host and port;
//! - `client`: a request to an origin and reading its answer;
//! - `query`: query-string decoding and encoding;
//! - `response`: the [`Body`] type and response builders.
//!
//! Everything is re-exported here, so callers name `crate::http::X`, never a file.

mod allow;
mod blocking;
mod client;
mod gate;
mod names;
mod origin;
mod query;
mod response;
mod serve_io;
mod server;
mod stall;
mod tally;
mod token;

pub use allow::{AllowList, Cidr, CidrError};
pub use blocking::off_executor;
#[cfg(test)]
pub(crate) use client::slow_peer;
pub use client::{FetchError, Fetched, get, read_body, request_head, with_timeout};
pub use gate::{Gate, GateCounts, Refusal};
pub use names::{HostNames, misdirected};
pub use origin::{Origin, OriginError};
pub use query::{percent_decode, push_percent_encoded, query_pairs, query_param};
pub use response::{Body, full, json_error, push_json_string, respond, respond_ranged, too_many};
pub use server::{LocalAddr, MAX_HEAD_BYTES, allow_any_origin, bind, serve};
pub use stall::{StallGuard, Stalled, WRITE_STALL_TIMEOUT};
pub use tally::{MINUTE_MS, Tally, Turn};
pub use token::{Admission, Refused, TokenError, Tokens};
