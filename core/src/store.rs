//! Values held by a node: multi-valued keys with expiry and republish times.
//!
//! Shared by every DHT, so put, get and remove mean the same in each: a key
//! holds a set of values, each with its own expiry; storing an existing value
//! again refreshes it (the later expiry wins); a TTL of zero removes one value.

use crate::id::NodeId;
use crate::time::Instant;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    pub value: Vec<u8>,
    pub expires: Instant,
    pub republish_at: Instant,
}

/// Values stored under keys. Ordered maps only, so iteration is deterministic.
#[derive(Clone, Debug, Default)]
pub(crate) struct ValueStore {
    map: BTreeMap<NodeId, Vec<Stored>>,
    count: usize,
}

impl ValueStore {
    pub fn len(&self) -> usize {
        self.count
    }

    /// Adds or refreshes a value; the later expiry wins. Returns false if the
    /// store is full and the value is new.
    pub fn insert(
        &mut self,
        key: NodeId,
        value: Vec<u8>,
        expires: Instant,
        republish_at: Instant,
        cap: usize,
    ) -> bool {
        let full = self.count >= cap;
        let values = self.map.entry(key).or_default();
        if let Some(s) = values.iter_mut().find(|s| s.value == value) {
            s.expires = s.expires.max(expires);
            s.republish_at = republish_at;
            return true;
        }
        if full {
            if values.is_empty() {
                self.map.remove(&key);
            }
            return false;
        }
        values.push(Stored {
            value,
            expires,
            republish_at,
        });
        self.count += 1;
        true
    }

    pub fn remove(&mut self, key: &NodeId, value: &[u8]) -> bool {
        let Some(values) = self.map.get_mut(key) else {
            return false;
        };
        let before = values.len();
        values.retain(|s| s.value != value);
        let removed = before - values.len();
        if values.is_empty() {
            self.map.remove(key);
        }
        self.count -= removed;
        removed > 0
    }

    /// Every stored value with its key and expiry, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (NodeId, &Stored)> {
        self.map
            .iter()
            .flat_map(|(k, values)| values.iter().map(move |s| (*k, s)))
    }

    pub fn get(&self, key: &NodeId, max: usize) -> Vec<Vec<u8>> {
        self.map
            .get(key)
            .map(|v| v.iter().take(max).map(|s| s.value.clone()).collect())
            .unwrap_or_default()
    }

    /// Drops values whose expiry is at or before `now`.
    pub fn expire(&mut self, now: Instant) {
        let mut removed = 0;
        self.map.retain(|_, values| {
            let before = values.len();
            values.retain(|s| s.expires > now);
            removed += before - values.len();
            !values.is_empty()
        });
        self.count -= removed;
    }

    /// Values due for republishing at `now`, with their remaining lifetime; their
    /// next republish time is set to `next`.
    pub fn take_due(&mut self, now: Instant, next: Instant) -> Vec<(NodeId, Vec<u8>, Instant)> {
        let mut due = Vec::new();
        for (key, values) in self.map.iter_mut() {
            for s in values.iter_mut().filter(|s| s.republish_at <= now) {
                s.republish_at = next;
                due.push((*key, s.value.clone(), s.expires));
            }
        }
        due
    }

    /// The earliest expiry and the earliest republish time.
    pub fn next_deadlines(&self) -> (Option<Instant>, Option<Instant>) {
        let all = self.map.values().flatten();
        (
            all.clone().map(|s| s.expires).min(),
            all.map(|s| s.republish_at).min(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_valued_keys_add_refresh_and_remove_individually() {
        let mut s = ValueStore::default();
        let k = NodeId([1; 20]);
        let t = Instant::from_secs;
        assert!(s.insert(k, b"a".to_vec(), t(10), t(5), 10));
        assert!(s.insert(k, b"b".to_vec(), t(20), t(5), 10));
        assert!(
            s.insert(k, b"a".to_vec(), t(30), t(6), 10),
            "refresh extends expiry"
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(&k, 10), vec![b"a".to_vec(), b"b".to_vec()]);
        s.expire(t(25));
        assert_eq!(s.get(&k, 10), vec![b"a".to_vec()]);
        assert!(s.remove(&k, b"a"));
        assert_eq!(s.len(), 0);
        assert_eq!(s.next_deadlines(), (None, None));
    }

    #[test]
    fn a_full_store_refuses_new_values_but_refreshes_old_ones() {
        let mut s = ValueStore::default();
        let t = Instant::from_secs;
        assert!(s.insert(NodeId([1; 20]), vec![1], t(9), t(9), 1));
        assert!(!s.insert(NodeId([2; 20]), vec![2], t(9), t(9), 1));
        assert!(s.insert(NodeId([1; 20]), vec![1], t(99), t(9), 1));
        assert_eq!(s.len(), 1);
        let due = s.take_due(t(9), t(100));
        assert_eq!(due, vec![(NodeId([1; 20]), vec![1], t(99))]);
        assert_eq!(s.next_deadlines(), (Some(t(99)), Some(t(100))));
    }
}
