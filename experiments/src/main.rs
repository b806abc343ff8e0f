//! The peerlab command line (in progress).
fn main() {}
