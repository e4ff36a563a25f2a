//! `GET /status`: the [`Report`] as JSON.
//!
//! Owns the JSON's size bound: serde-json-core writes into one buffer sized for the report it
//! holds (its channels and clients), so the text never grows past what was reserved. Never
//! gathers anything itself (that is [`Report::gather`]).

use super::Report;

/// Bytes of JSON for the report without channels, for one channel without clients (ids,
/// counters, the engine's stat, an error message of up to 200 characters, which escaping may
/// lengthen), and for one client.
const BASE_JSON: usize = 2048;
const CHANNEL_JSON: usize = 4096;
const CLIENT_JSON: usize = 256;

/// The report as JSON, with a final newline; an error only if the report outgrew its bound.
pub fn render(report: &Report) -> Result<Vec<u8>, serde_json_core::ser::Error> {
    let mut buf = vec![0u8; capacity(report)];
    let len = serde_json_core::to_slice(report, &mut buf)?;
    buf.truncate(len);
    buf.push(b'\n');
    Ok(buf)
}

/// Bytes the JSON of `report` can take at most.
fn capacity(report: &Report) -> usize {
    let clients: usize = report.channels.iter().map(|c| c.client_list.len()).sum();
    BASE_JSON + report.channels.len() * CHANNEL_JSON + clients * CLIENT_JSON
}
