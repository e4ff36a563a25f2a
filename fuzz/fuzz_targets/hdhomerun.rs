//! HDHomeRun discovery datagrams (UDP 65001), fed arbitrary bytes, as anyone on the LAN may send
//! them: `hdhomerun::Packet::new_checked` then `Discover::parse`.
//!
//! Nothing may panic, and:
//! - a packet that passes the check is answered only when it asks for a tuner (or any device)
//!   and for acebox's id or any;
//! - the reply acebox would send reads back as a valid packet.

#![no_main]

use acebox::lan::hdhomerun::{Discover, MAX_PACKET, Packet, Reply, device_id, valid_device_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    let ours = device_id(0x5EED);
    assert!(valid_device_id(ours));
    let Ok(packet) = Packet::new_checked(datagram) else {
        return;
    };
    let Ok(asked) = Discover::parse(&packet) else {
        return;
    };
    if !asked.matches(ours) {
        return;
    }
    let reply = Reply {
        device_id: ours,
        tuner_count: 4,
        device_auth: "acebox",
        base_url: "http://10.0.0.1:6880",
        lineup_url: "http://10.0.0.1:6880/lineup.json",
    };
    let mut out = [0u8; MAX_PACKET];
    let len = reply.emit(&mut out).expect("the reply fits");
    assert!(Packet::new_checked(&out[..len]).is_ok());
});
