//! A get over several holders survives a stale one (issue #6, read_holders).
//!
//! On a small static overlay, a key gets a value `old`, then `new`, from
//! one writer. One holder is then made stale, deterministically: it is sent
//! the removal of `new` directly, as if it had missed the put (it keeps only
//! `old`). Which nodes hold the key is read from every node's store (the
//! global view), and the reader is a node that holds nothing.
//!
//! - With `read_holders = 2`, whichever holder is stale, the get returns
//!   `new`, merged from 2 holders.
//! - With `read_holders = 1` (the first holder only), for some choice of the
//!   stale holder the get returns its stale set, without `new`.
//! - The union cannot undo a missed remove: a holder that still has a value
//!   the others removed brings it back (why registration writes tombstones).
//!
//! Run for Kademlia and for Chord.

mod common;

use common::{Net, addr};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::{Body, Command, Duration, Event, HashAlg, Message, NodeId, Protocol};
use std::sync::Arc;

const N: usize = 16;
const WRITER: usize = 3;

trait Dht: Protocol + Sized {
    /// A node whose gets read `q` holders; each value on 4 nodes.
    fn build(q: usize, i: usize) -> Self;
    fn held(&self, key: &NodeId) -> Vec<Vec<u8>>;
}

fn node_id(i: usize) -> NodeId {
    NodeId::from_name(HashAlg::Sha1, &format!("stale-holder-node-{i}"))
}

impl Dht for Kademlia {
    fn build(q: usize, i: usize) -> Self {
        let cfg = KademliaConfig {
            k: 4,
            read_holders: q,
            ..KademliaConfig::default()
        };
        Kademlia::new(Arc::new(cfg), node_id(i), addr(i), i as u64)
    }
    fn held(&self, key: &NodeId) -> Vec<Vec<u8>> {
        self.stored(key)
    }
}

impl Dht for Chord {
    fn build(q: usize, i: usize) -> Self {
        let cfg = ChordConfig {
            replicas: 4,
            read_holders: q,
            ..ChordConfig::default()
        };
        Chord::new(Arc::new(cfg), node_id(i), addr(i), i as u64)
    }
    fn held(&self, key: &NodeId) -> Vec<Vec<u8>> {
        self.stored(key)
    }
}

fn key() -> NodeId {
    NodeId::from_name(HashAlg::Sha1, "alice@example.com")
}

const OLD: &[u8] = b"old";
const NEW: &[u8] = b"new";

/// Delivers a STORE to `to` (a removal when `ttl_secs` is 0) as if from
/// another node, outside any request of that node's.
fn store_at<D: Dht>(net: &mut Net<D>, to: usize, value: &[u8], ttl_secs: u32) {
    let from = (to + 1) % N;
    let body = Body::Store {
        key: key(),
        value: value.to_vec(),
        ttl_secs,
    };
    net.inject(addr(from), to, Message::new(0x5eed, node_id(from), body));
    net.settle();
}

/// The overlay with `old` and `new` put under the key.
fn overlay<D: Dht>(q: usize) -> Net<D> {
    let mut net = Net::new((0..N).map(|i| D::build(q, i)).collect());
    net.join_all(Duration::from_secs(1));
    net.after(Duration::from_secs(150));
    for v in [OLD, NEW] {
        let put = Command::Put {
            key: key(),
            value: v.to_vec(),
            ttl_secs: 3600,
        };
        match net.request(WRITER, put, Duration::from_secs(30)) {
            Event::StoreDone { replicas: 4, .. } => {}
            e => panic!("put of {v:?}: {e:?}"),
        }
    }
    net
}

/// The nodes holding the key (global view).
fn holders<D: Dht>(net: &Net<D>) -> Vec<usize> {
    (0..N)
        .filter(|&i| !net.nodes[i].held(&key()).is_empty())
        .collect()
}

/// A get from the first node that holds nothing: values and holders merged.
fn get<D: Dht>(net: &mut Net<D>) -> (Vec<Vec<u8>>, u32) {
    let reader = (0..N)
        .find(|&i| net.nodes[i].held(&key()).is_empty())
        .expect("a node without the key");
    match net.request(reader, Command::Get { key: key() }, Duration::from_secs(30)) {
        Event::GetDone {
            values, holders, ..
        } => (values, holders),
        e => panic!("get: {e:?}"),
    }
}

fn has(values: &[Vec<u8>], v: &[u8]) -> bool {
    values.iter().any(|x| x == v)
}

fn a_get_over_two_holders_outvotes_a_stale_one<D: Dht>() {
    let both = vec![OLD.to_vec(), NEW.to_vec()];
    let base = overlay::<D>(2);
    let hs = holders(&base);
    assert_eq!(hs.len(), 4, "each value on 4 nodes: {hs:?}");
    for &h in &hs {
        assert_eq!(base.nodes[h].held(&key()), both, "holder {h}");
    }
    let mut stale_won = Vec::new();
    for &s in &hs {
        // Two holders merged: `new` is read whichever holder missed it.
        let mut net = overlay::<D>(2);
        store_at(&mut net, s, NEW, 0);
        assert_eq!(net.nodes[s].held(&key()), vec![OLD.to_vec()], "stale {s}");
        let (values, merged) = get(&mut net);
        assert_eq!(merged, 2, "stale holder {s}: holders merged");
        assert!(
            has(&values, NEW) && has(&values, OLD),
            "stale {s}: {values:?}"
        );
        // The first holder only.
        let mut net = overlay::<D>(1);
        store_at(&mut net, s, NEW, 0);
        let (values, merged) = get(&mut net);
        assert_eq!(merged, 1);
        assert!(
            values == both || values == vec![OLD.to_vec()],
            "a holder's own set: {values:?}"
        );
        if !has(&values, NEW) {
            stale_won.push(s);
        }
    }
    assert!(
        !stale_won.is_empty(),
        "with read_holders = 1 some stale holder is read first and wins"
    );
    assert!(stale_won.len() < hs.len(), "and not every one");

    // A holder that missed the removal of `old` brings it back in the union.
    let mut resurrected = 0;
    for &s in &hs {
        let mut net = overlay::<D>(2);
        let remove = Command::Remove {
            key: key(),
            value: OLD.to_vec(),
        };
        net.request(WRITER, remove, Duration::from_secs(30));
        store_at(&mut net, s, OLD, 3600);
        let (values, _) = get(&mut net);
        assert!(has(&values, NEW));
        resurrected += usize::from(has(&values, OLD));
    }
    assert!(resurrected > 0, "a missed remove survives the union");
}

#[test]
fn kademlia_a_get_over_two_holders_outvotes_a_stale_one() {
    a_get_over_two_holders_outvotes_a_stale_one::<Kademlia>();
}

#[test]
fn chord_a_get_over_two_holders_outvotes_a_stale_one() {
    a_get_over_two_holders_outvotes_a_stale_one::<Chord>();
}
