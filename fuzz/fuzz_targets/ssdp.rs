//! SSDP datagrams (UDP 1900), fed arbitrary bytes, as anyone on the LAN may send them:
//! `ssdp::Search::parse`, the targets it asks for, and the answers acebox would send.
//!
//! Nothing may panic, and:
//! - a search is answered with at most one datagram per target, each fitting its buffer;
//! - an answer names only acebox's own targets: its `ST` is one of them or acebox's uuid.

#![no_main]

use acebox::lan::ssdp::{Kind, Message, Search};
use libfuzzer_sys::fuzz_target;

const UUID: &str = "a56bbc5e-4886-5e2a-bb52-d55edc0a97b5";

fuzz_target!(|datagram: &[u8]| {
    let Ok(search) = Search::parse(datagram) else {
        return;
    };
    let http = "10.0.0.1:6880".parse().unwrap();
    let mut answers = 0;
    for target in search.targets(UUID) {
        answers += 1;
        let message = Message { kind: Kind::Answer, target, uuid: UUID, http };
        let text = message.emit().expect("an answer fits");
        let st = text.lines().find_map(|l| l.strip_prefix("ST: ")).expect("an ST line");
        assert!(st == format!("uuid:{UUID}") || st.starts_with("urn:schemas-upnp-org:") || st == "upnp:rootdevice", "{st}");
    }
    assert!(answers <= 5);
});
