//! Contact records (live ones and tombstones): every record round-trips, and no byte string makes the
//! decoder panic. 300,000 inputs: 100,000 round trips, 100,000 mutations of
//! valid records (bit flips, byte overwrites, truncation, extension) and
//! 100,000 random byte strings. A mutated record either fails to decode with
//! an error or decodes to a record that re-encodes to exactly those bytes
//! (the format has one encoding per record).

use peerlab_core::nat::NatType;
use peerlab_core::registration::{ContactRecord, RECORD_MAX_LEN, RecordError, read_contacts};
use peerlab_core::{Addr, Instant, NodeId};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn addr() -> impl Strategy<Value = Addr> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Addr { ip, port })
}

fn record() -> impl Strategy<Value = ContactRecord> {
    (
        any::<[u8; 20]>(),
        any::<u32>(),
        any::<u64>(),
        0..NatType::ALL.len(),
        addr(),
        prop::option::of(addr()),
        prop::option::of(addr()),
        any::<bool>(),
    )
        .prop_map(
            |(id, seq, exp, nat, host, reflexive, super_node, removed)| ContactRecord {
                node_id: NodeId(id),
                seq,
                expires_at: Instant::from_micros(exp),
                nat: NatType::ALL[nat],
                host,
                reflexive,
                super_node,
                removed,
            },
        )
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Overwrite(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Overwrite(i, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Extend),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = b.len();
    match m {
        Mutation::Flip(i, bit) => b[i % n] ^= 1 << bit,
        Mutation::Overwrite(i, v) => b[i % n] = *v,
        Mutation::Truncate(i) => b.truncate(i % n),
        Mutation::Extend(x) => b.extend_from_slice(x),
    }
    b
}

proptest! {
    #![proptest_config(config(100_000))]

    #[test]
    fn every_record_round_trips(r in record()) {
        let b = r.encode();
        prop_assert!(b.len() <= RECORD_MAX_LEN);
        prop_assert_eq!(ContactRecord::decode(&b), Ok(r));
    }

    #[test]
    fn mutated_records_decode_or_fail_cleanly(r in record(), ms in prop::collection::vec(mutation(), 1..4)) {
        let mut b = r.encode();
        for m in &ms {
            b = apply(b, m);
            if b.is_empty() {
                break;
            }
        }
        match ContactRecord::decode(&b) {
            Ok(d) => prop_assert_eq!(&d.encode(), &b),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        // The reader counts what it cannot decode instead of failing.
        let c = read_contacts(&[b.clone()], Instant::ZERO);
        prop_assert_eq!(c.records.len() + c.malformed + c.expired + c.removed, 1);
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(d) = ContactRecord::decode(&b) {
            prop_assert_eq!(d.encode(), b);
        } else if b.is_empty() {
            prop_assert_eq!(ContactRecord::decode(&b), Err(RecordError::Empty));
        }
    }
}
