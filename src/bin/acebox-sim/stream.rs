//! The body of a `/content/` answer: one reader's live MPEG-TS stream, paced by its content's
//! packet clock.
//!
//! This module owns the loop that asks the engine for the next packets, hands them to the socket,
//! waits between steps and tells the engine when the stream is gone, however it ends (session
//! over, reader left). It never decides which packets exist (that is `engine`) or what they
//! contain (that is `media`), and never sleeps a thread.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acebox::http::Body;
use async_io::Timer;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::Sim;
use crate::engine::{TsReader, TsStep};

/// How long a stream waits when it has nothing to send: live packets go out in chunks of about
/// this much media, and a stream notices its session's end within it.
const STEP: Duration = Duration::from_millis(50);

/// An open stream; dropping it, at the end or when the reader hangs up, closes it in the engine.
struct Open {
    sim: Arc<Sim>,
    reader: TsReader,
    sent: u64,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.sim.engine().close_ts(&self.reader, Instant::now());
        eprintln!(
            "acebox-sim: ts stream {} closed after {} bytes",
            self.reader.path, self.sent
        );
    }
}

/// The never-ending (until the session ends) body of the stream `reader`.
pub fn body(sim: Arc<Sim>, reader: TsReader) -> Body {
    let open = Open {
        sim,
        reader,
        sent: 0,
    };
    StreamBody::new(futures_lite::stream::unfold(open, next_chunk)).boxed()
}

/// Waits for the next packets and returns them, or `None` once the session has ended.
async fn next_chunk(mut open: Open) -> Option<(io::Result<Frame<Bytes>>, Open)> {
    loop {
        let step = open.sim.engine().step_ts(&mut open.reader, Instant::now());
        match step {
            TsStep::End => return None,
            TsStep::Idle => {
                Timer::after(STEP).await;
            }
            TsStep::Send(packets) => {
                let chunk = open.sim.media.ts_chunk(packets);
                open.sent += chunk.len() as u64;
                return Some((Ok(Frame::data(chunk)), open));
            }
        }
    }
}
