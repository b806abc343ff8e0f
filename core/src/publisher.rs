//! Values a node published itself and keeps alive.
//!
//! The original publisher re-puts each of its values periodically (Kademlia's
//! 24 h publisher republish; the same for Chord), at most at 80% of the
//! value's lifetime so it never lapses, until the application removes it.
//! Holders' own copies and their expiry live in [`ValueStore`]; together the
//! two give a node's next storage deadline.

use crate::id::NodeId;
use crate::protocol::{Deadline, TimerReason};
use crate::store::ValueStore;
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug)]
struct Publication {
    ttl_secs: u32,
    next: Instant,
}

/// The values a node published, with their lifetimes and next re-put times.
#[derive(Clone, Debug, Default)]
pub(crate) struct Publications {
    map: BTreeMap<(NodeId, Vec<u8>), Publication>,
}

impl Publications {
    /// Records (or refreshes) a publication, next re-put at `next`.
    pub fn publish(&mut self, key: NodeId, value: Vec<u8>, ttl_secs: u32, next: Instant) {
        self.map
            .insert((key, value), Publication { ttl_secs, next });
    }

    /// Forgets a publication: the node stops keeping it alive.
    pub fn withdraw(&mut self, key: NodeId, value: Vec<u8>) {
        self.map.remove(&(key, value));
    }

    /// Publications due for a re-put at `now`, with their lifetimes, in key order.
    pub fn due(&self, now: Instant) -> Vec<(NodeId, Vec<u8>, u32)> {
        self.map
            .iter()
            .filter(|(_, p)| p.next <= now)
            .map(|((k, v), p)| (*k, v.clone(), p.ttl_secs))
            .collect()
    }

    /// Sets the next re-put of a publication, if it is still there.
    pub fn reschedule(&mut self, key: NodeId, value: Vec<u8>, next: Instant) {
        if let Some(p) = self.map.get_mut(&(key, value)) {
            p.next = next;
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.map.values().map(|p| p.next).min()
    }
}

/// How long the publisher waits between re-puts of a value with lifetime
/// `ttl_secs`: `publisher_republish`, at most 80% of the lifetime, at least 1 s
/// (before the caller's jitter).
pub(crate) fn publisher_period(publisher_republish: Duration, ttl_secs: u32) -> Duration {
    let cap = Duration::from_secs(ttl_secs as u64).mul_f64(0.8);
    publisher_republish.min(cap).max(Duration::from_secs(1))
}

/// The next storage deadline: a held value's expiry, a holder's republish,
/// or the publisher's next re-put.
pub(crate) fn store_deadline(store: &ValueStore, published: &Publications) -> Option<Deadline> {
    let (expiry, republish) = store.next_deadlines();
    let at = |reason| move |at| Deadline { at, reason };
    [
        expiry.map(at(TimerReason::Expiry)),
        republish.map(at(TimerReason::Republish)),
        published.next_due().map(at(TimerReason::Republish)),
    ]
    .into_iter()
    .flatten()
    .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publisher_period_is_capped_by_the_lifetime() {
        let day = Duration::from_secs(86_400);
        assert_eq!(publisher_period(day, u32::MAX), day);
        assert_eq!(publisher_period(day, 3600), Duration::from_secs(2880));
        assert_eq!(publisher_period(day, 1), Duration::from_secs(1));
    }

    #[test]
    fn due_publications_and_the_earliest_deadline() {
        let t = Instant::from_secs;
        let mut p = Publications::default();
        let (a, b) = (NodeId([1; 20]), NodeId([2; 20]));
        p.publish(b, vec![2], 60, t(50));
        p.publish(a, vec![1], 60, t(10));
        assert_eq!(p.due(t(20)), vec![(a, vec![1], 60)]);
        p.reschedule(a, vec![1], t(70));
        let store = ValueStore::default();
        let d = store_deadline(&store, &p).unwrap();
        assert_eq!((d.at, d.reason), (t(50), TimerReason::Republish));
        p.withdraw(b, vec![2]);
        p.reschedule(b, vec![2], t(1));
        assert_eq!(store_deadline(&store, &p).unwrap().at, t(70));
    }
}
