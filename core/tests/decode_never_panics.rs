//! The decoder never panics, and everything the encoder writes decodes back.
//!
//! 1,000,000+ inputs in total: 400,000 purely random byte strings, 400,000
//! mutations of valid datagrams (bit flips, byte overwrites, truncation,
//! extension, splices of length fields), and 200,000 round trips of arbitrary
//! messages. Run in release (`cargo test --release`), this takes seconds.

use peerlab_core::protocol::RoutingMode;
use peerlab_core::wire::{
    Body, Change, ClientOp, Contact, HEADER_LEN, MAX_CONTACTS, MAX_PATH, MAX_SWITCH_RELAYS,
    MAX_VALUE_LEN, MAX_VALUES, Message,
};
use peerlab_core::{Addr, NodeId};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn addr() -> impl Strategy<Value = Addr> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Addr { ip, port })
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=64).prop_union(prop::collection::vec(
        any::<u8>(),
        MAX_VALUE_LEN..=MAX_VALUE_LEN,
    ))
}

fn contact() -> impl Strategy<Value = Contact> {
    (id(), addr()).prop_map(|(id, addr)| Contact { id, addr })
}

fn contacts() -> impl Strategy<Value = Vec<Contact>> {
    prop::collection::vec(contact(), 0..=MAX_CONTACTS)
}

/// The bodies added for Chord and recursive routing.
fn routing_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        id().prop_map(|key| Body::NextHop { key }),
        (any::<bool>(), contacts())
            .prop_map(|(done, contacts)| Body::NextHopReply { done, contacts }),
        Just(Body::GetNeighbours),
        (prop::option::of(contact()), contacts()).prop_map(|(predecessor, successors)| {
            Body::Neighbours {
                predecessor,
                successors,
            }
        }),
        Just(Body::Notify),
        (prop::option::of(contact()), contacts()).prop_map(|(predecessor, successors)| {
            Body::Leaving {
                predecessor,
                successors,
            }
        }),
        (
            any::<u64>(),
            contact(),
            id(),
            any::<u16>(),
            prop::collection::vec(any::<u32>(), 0..=MAX_PATH)
        )
            .prop_map(|(route_id, origin, key, sent, path)| Body::Route {
                route_id,
                origin,
                key,
                sent,
                path
            }),
        Just(Body::RouteAck),
        contact().prop_map(|successor| Body::SuccessorHint { successor }),
        (any::<u8>(), any::<u16>(), any::<bool>(), contacts()).prop_map(
            |(hops, sent, loop_detected, contacts)| Body::RouteResult {
                hops,
                sent,
                loop_detected,
                contacts
            }
        ),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        1 => Just(Body::Ping),
        1 => addr().prop_map(|observed| Body::Pong { observed }),
        1 => id().prop_map(|target| Body::FindNode { target }),
        1 => contacts().prop_map(|contacts| Body::Nodes { contacts }),
        1 => id().prop_map(|key| Body::FindValue { key }),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..=MAX_VALUES)
            .prop_map(|values| Body::Values { values }),
        1 => (id(), value(), any::<u32>()).prop_map(|(key, value, ttl_secs)| Body::Store {
            key,
            value,
            ttl_secs
        }),
        1 => any::<bool>().prop_map(|stored| Body::StoreAck { stored }),
        // Weighted so the ten routing bodies are drawn about as often as the
        // eight Kademlia ones together.
        8 => routing_body(),
        // The seven NAT-traversal bodies.
        6 => nat_body(),
        // The four hierarchy bodies.
        4 => hierarchy_body(),
        // The nine media bodies.
        9 => media_body(),
    ]
}

/// The bodies added for calls and media relaying.
fn media_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<u64>(), addr()).prop_map(|(call, peer)| Body::RelayAllocate { call, peer }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(call, accepted)| Body::RelayAnswer { call, accepted }),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            addr()
        )
            .prop_map(
                |(call, frames, frame_ms, payload_len, send_to)| Body::CallOffer {
                    call,
                    frames,
                    frame_ms,
                    payload_len,
                    send_to
                }
            ),
        (any::<u64>(), any::<bool>())
            .prop_map(|(call, accepted)| Body::CallAnswer { call, accepted }),
        (any::<u64>(), any::<u32>(), any::<u64>(), value()).prop_map(
            |(call, seq, sent_at, payload)| Body::Media {
                call,
                seq,
                sent_at,
                payload
            }
        ),
        (any::<u64>(), any::<u32>()).prop_map(|(call, sent)| Body::Hangup { call, sent }),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(
                |(call, received, bytes, sent, lost, max_gap_us, mean_delay_us)| {
                    Body::CallReport {
                        call,
                        received,
                        bytes,
                        sent,
                        lost,
                        max_gap_us,
                        mean_delay_us,
                    }
                }
            ),
        (
            any::<u64>(),
            any::<u32>(),
            prop::collection::vec(addr(), 0..=MAX_SWITCH_RELAYS)
        )
            .prop_map(|(call, epoch, relays)| Body::RelaySwitch {
                call,
                epoch,
                relays
            }),
        (any::<u64>(), any::<u32>()).prop_map(|(call, epoch)| Body::RelaySwitchAck { call, epoch }),
    ]
}

/// The bodies added for the super-node/client hierarchy.
fn hierarchy_body() -> impl Strategy<Value = Body> {
    let op = prop_oneof![
        (
            id(),
            prop_oneof![
                Just(RoutingMode::Iterative),
                Just(RoutingMode::ParallelIterative),
                Just(RoutingMode::Recursive)
            ]
        )
            .prop_map(|(target, mode)| ClientOp::Lookup { target, mode }),
        id().prop_map(|key| ClientOp::Get { key }),
        (id(), value(), any::<u32>()).prop_map(|(key, value, ttl_secs)| ClientOp::Put {
            key,
            value,
            ttl_secs
        }),
        (id(), value()).prop_map(|(key, value)| ClientOp::Remove { key, value }),
    ];
    prop_oneof![
        Just(Body::Keepalive),
        (addr(), any::<bool>(), contacts()).prop_map(|(mapped, accepted, backups)| {
            Body::KeepaliveAck {
                mapped,
                accepted,
                backups,
            }
        }),
        op.prop_map(|op| Body::ClientRequest { op }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u8>(),
            contacts(),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..=MAX_VALUES)
        )
            .prop_map(
                |(hops, sent, replicas, contacts, values)| Body::ClientAnswer {
                    hops,
                    sent,
                    replicas,
                    contacts,
                    values
                }
            ),
    ]
}

/// The bodies added for NAT traversal.
fn nat_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        prop_oneof![
            Just(Change::None),
            Just(Change::Address),
            Just(Change::Port)
        ]
        .prop_map(|change| Body::Binding { change }),
        addr().prop_map(|mapped| Body::BindingAnswer { mapped }),
        addr().prop_map(|reply_to| Body::BindingRelay { reply_to }),
        id().prop_map(|target| Body::Connect { target }),
        contact().prop_map(|peer| Body::PunchInvite { peer }),
        Just(Body::Probe),
        Just(Body::ProbeAck),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (any::<u64>(), id(), body()).prop_map(|(txid, sender, body)| Message { txid, sender, body })
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    Overwrite(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    /// Writes a (possibly huge) length or count at a position.
    Length(usize, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Overwrite(i, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Extend),
        (any::<usize>(), any::<u16>()).prop_map(|(i, v)| Mutation::Length(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, muts: &[Mutation]) {
    for m in muts {
        let n = bytes.len();
        match m {
            Mutation::FlipBit(i, b) if n > 0 => bytes[i % n] ^= 1 << b,
            Mutation::Overwrite(i, v) if n > 0 => bytes[i % n] = *v,
            Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
            Mutation::Extend(extra) => bytes.extend_from_slice(extra),
            Mutation::Length(i, v) if n >= 2 => {
                let at = i % (n - 1);
                bytes[at..at + 2].copy_from_slice(&v.to_be_bytes());
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(config(400_000))]
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&bytes);
    }
}

proptest! {
    #![proptest_config(config(400_000))]
    #[test]
    fn mutated_datagrams_never_panic_and_any_success_is_canonical(
        m in message(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = m.to_bytes();
        apply(&mut bytes, &muts);
        if let Ok(decoded) = Message::decode(&bytes) {
            // Whatever decodes is a valid message that re-encodes to the same bytes.
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }
}

proptest! {
    #![proptest_config(config(200_000))]
    #[test]
    fn every_message_round_trips(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        prop_assert!(bytes.len() >= HEADER_LEN);
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }
}
