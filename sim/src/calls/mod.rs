//! Calls over a churning, NATed population, with relays chosen by a
//! [`RelayStrategy`](peerlab_core::relay::RelayStrategy) (issue 6).
//!
//! **The model.** A [`ChurnSpec`](peerlab_churn::ChurnSpec) gives every
//! node's up periods; a [`NatMix`](peerlab_churn::NatMix) its NAT class; the
//! [`topology`](crate::topology) its AS, address and delays. Calls arrive as
//! the churn crate's [`CallWorkload`](peerlab_churn::workload::CallWorkload)
//! says (Poisson per online node, a duration distribution, a uniform or
//! buddy-list callee). All of that is a function of the seed alone, so every
//! strategy sees the same churn, classes, topology and calls (common random
//! numbers); candidate samples and strategy draws come from per-call streams.
//!
//! **Each call.**
//! 1. Callee offline, or (with `lookup`) the DHT read of the callee found
//!    no contact: *user not found*.
//! 2. The connectivity oracle (`peerlab_core::nat::connectivity`, or the
//!    blog's rules) says direct, punched, UDP relay or TCP relay.
//!    `always_relay` relays every call (Baset's setup).
//! 3. A relayed call samples candidates among online nodes that can relay
//!    it: for TCP, public nodes; for UDP, nodes that reach both ends end to
//!    end under the oracle. Candidates are a local-random sample or the
//!    caller's routing-table contacts. The strategy chooses `k` (active
//!    failover) or 1 (passive); each chosen relay admits the call against
//!    its [`RelayCapacity`](peerlab_core::relay::RelayCapacity) (slots and
//!    uplink). No candidate: *no connectivity*; none admitted: *relay
//!    refused*. With `per_direction`, the caller picks the forward relay and
//!    the callee the reverse one, each costing half the codec's rate.
//! 4. A relay leaving mid-call: under active failover the call carries on
//!    while another of its relays lives, else it is *relay lost*; under
//!    passive failover media stops, the loss is detected after `detect_s`,
//!    and a new relay is chosen (no relay or too many switches: *relay
//!    lost*). With `end_on_endpoint_departure`, a call also ends when its
//!    caller or callee goes offline (not a failure).
//!
//! **Media** is counted, not simulated packet by packet: frames of
//! `frame_ms` at the codec's rate over the time the path works, in both
//! directions. The one-way delay is the topology's path delay (through the
//! best relay of each direction); the added delay is that minus the direct
//! one-way delay. The topology has no loss, so none is reported.
//!
//! **Setup latency** is the caller–callee RTT (the offer/answer exchange),
//! plus one more RTT for hole punching, plus for relayed calls
//! the probing (the slowest candidate's RTT when the strategy measures all
//! candidates in parallel; the number of probes times the set's mean RTT
//! when it tries them in order) and the allocation RTT to the relay, plus
//! the first frame's one-way delay. Without `lookup`, the callee's contact
//! is taken as known. With `lookup = { dht = "kademlia" }` (or `"chord"`),
//! setup starts with the caller's DHT read of the callee's registration
//! ([`lookup`]): a read that finds no live record of the callee (or that
//! could not be issued because the caller had not joined the overlay, or
//! did not finish because the caller left) fails the call *user not found*;
//! otherwise the read's latency is added to the setup latency and recorded
//! as `lookup_ms`.
//!
//! Relay departures are known in advance from the up periods, so the run is
//! a merge of the churn/workload stream with a heap of call ends, relay
//! losses and reselections: O(log n) per event plus O(candidates) per
//! selection.

mod config;
pub mod lookup;
mod population;
mod records;
mod run;

pub use config::{
    AnnoyanceFormSpec, AnnoyanceModel, CallScenarioConfig, CandidateSource, CodecSpec,
    ConnectivityRules, ConstraintsSpec, FailoverSpec, NatSource, RelayConfig, StrategySpec,
};
pub use lookup::{LookupDht, LookupSpec};
pub use records::{
    CallRecord, CallReport, CallSummary, Direction, FailureReason, NodeStats, PathType, RelayUse,
    SelectionRecord, jain, quantile,
};
pub use run::{CallRun, run_calls};
