//! Feeds arbitrary bytes to the wire decoder: it must never panic, and any
//! datagram it accepts must re-encode to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerlab_core::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.to_bytes(), data, "decoded datagram is not canonical");
    }
});
