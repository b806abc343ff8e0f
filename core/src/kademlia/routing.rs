//! The k-bucket routing table.
//!
//! Buckets are indexed by the length of the common prefix between a contact's
//! id and the local id, so bucket `i` covers distances in `[2^(159-i), 2^(160-i))`.
//! Only buckets up to the deepest one in use exist: about log2(N) + 3 of them
//! in an N-node overlay, which keeps an idle table small at 10^6 nodes.
//! Within a bucket, entries are ordered least-recently seen first.

use crate::id::{ID_BITS, NodeId};
use crate::protocol::{RouteEntry, RouteRole};
use crate::time::Instant;
use crate::wire::Contact;

/// A routing entry: the contact and its consecutive failures (28 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub contact: Contact,
    pub failures: u8,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Bucket {
    /// At most k entries, least-recently seen first.
    pub entries: Vec<Entry>,
    /// Candidates waiting for a slot, most recently seen last.
    pub replacements: Vec<Contact>,
    /// Last time a lookup targeted this bucket's range.
    pub last_lookup: Instant,
    /// Whether a liveness check of the head entry is in flight.
    pub checking: bool,
}

/// What [`RoutingTable::seen`] did with a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The contact was already in the table and is now most recently seen.
    Refreshed,
    /// The contact took a free slot.
    Added,
    /// The bucket is full; the contact waits in the replacement cache. The
    /// least-recently-seen entry should be checked if no check is running.
    BucketFull {
        bucket: usize,
        head: Contact,
        check: bool,
    },
    /// The contact is the local node.
    Ignored,
}

/// A contact that left the table, and the one that took its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Evicted {
    pub removed: Contact,
    pub promoted: Option<Contact>,
}

#[derive(Clone, Debug)]
pub(crate) struct RoutingTable {
    local: NodeId,
    k: usize,
    replacement_cap: usize,
    buckets: Vec<Bucket>,
    len: usize,
}

impl RoutingTable {
    pub fn new(local: NodeId, k: usize, replacement_cap: usize) -> Self {
        RoutingTable {
            local,
            k,
            replacement_cap,
            buckets: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    pub fn bucket_of(&self, id: &NodeId) -> Option<usize> {
        let cpl = self.local.common_prefix_len(id);
        (cpl < ID_BITS).then_some(cpl)
    }

    fn bucket_mut(&mut self, i: usize) -> &mut Bucket {
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::default);
        }
        &mut self.buckets[i]
    }

    /// Records that `c` was heard from directly.
    pub fn seen(&mut self, c: Contact) -> Seen {
        let Some(b) = self.bucket_of(&c.id) else {
            return Seen::Ignored;
        };
        let k = self.k;
        let cap = self.replacement_cap;
        let bucket = self.bucket_mut(b);
        if let Some(pos) = bucket.entries.iter().position(|e| e.contact.id == c.id) {
            bucket.entries.remove(pos);
            bucket.entries.push(Entry {
                contact: c,
                failures: 0,
            });
            return Seen::Refreshed;
        }
        if bucket.entries.len() < k {
            bucket.replacements.retain(|r| r.id != c.id);
            // Grow 4, 8, 16, ..., k: never past k, so a full bucket wastes nothing.
            let len = bucket.entries.len();
            if len == bucket.entries.capacity() {
                bucket.entries.reserve_exact((len * 2).max(4).min(k) - len);
            }
            bucket.entries.push(Entry {
                contact: c,
                failures: 0,
            });
            self.len += 1;
            return Seen::Added;
        }
        if cap > 0 {
            bucket.replacements.retain(|r| r.id != c.id);
            if bucket.replacements.capacity() == 0 {
                bucket.replacements.reserve_exact(cap);
            }
            if bucket.replacements.len() == cap {
                bucket.replacements.remove(0);
            }
            bucket.replacements.push(c);
        }
        let check = !bucket.checking;
        bucket.checking = true;
        Seen::BucketFull {
            bucket: b,
            head: bucket.entries[0].contact,
            check,
        }
    }

    /// The liveness check of bucket `b`'s head finished.
    pub fn check_done(&mut self, b: usize) {
        if let Some(bucket) = self.buckets.get_mut(b) {
            bucket.checking = false;
        }
    }

    /// Records a failed request to `id`. The entry is evicted once it has
    /// failed `stale_after` times in a row, or `replace_after` times when a
    /// replacement is waiting.
    pub fn failed(&mut self, id: &NodeId, stale_after: u8, replace_after: u8) -> Option<Evicted> {
        let b = self.bucket_of(id)?;
        let bucket = self.buckets.get_mut(b)?;
        let pos = bucket.entries.iter().position(|e| e.contact.id == *id)?;
        let e = &mut bucket.entries[pos];
        e.failures = e.failures.saturating_add(1);
        let limit = if bucket.replacements.is_empty() {
            stale_after
        } else {
            replace_after
        };
        if e.failures >= limit {
            self.evict(id)
        } else {
            None
        }
    }

    /// Removes `id` and promotes the most recently seen replacement.
    pub fn evict(&mut self, id: &NodeId) -> Option<Evicted> {
        let b = self.bucket_of(id)?;
        let bucket = self.buckets.get_mut(b)?;
        let pos = bucket.entries.iter().position(|e| e.contact.id == *id)?;
        let removed = bucket.entries.remove(pos).contact;
        let promoted = bucket.replacements.pop();
        match promoted {
            // A promoted contact has not been heard from since it was cached:
            // it goes to the head, the first to be checked.
            Some(c) => bucket.entries.insert(
                0,
                Entry {
                    contact: c,
                    failures: 0,
                },
            ),
            None => self.len -= 1,
        }
        Some(Evicted { removed, promoted })
    }

    #[cfg(test)]
    pub fn contains(&self, id: &NodeId) -> bool {
        self.bucket_of(id)
            .and_then(|b| self.buckets.get(b))
            .is_some_and(|bk| bk.entries.iter().any(|e| e.contact.id == *id))
    }

    /// Marks the bucket covering `target` as looked up at `now`.
    pub fn touch(&mut self, target: &NodeId, now: Instant) {
        if let Some(b) = self.bucket_of(target)
            && let Some(bucket) = self.buckets.get_mut(b)
        {
            bucket.last_lookup = now;
        }
    }

    /// Buckets with contacts whose range has not been looked up since `before`.
    pub fn idle_buckets(&self, before: Instant) -> Vec<usize> {
        (0..self.buckets.len())
            .filter(|&i| {
                let b = &self.buckets[i];
                !b.entries.is_empty() && b.last_lookup < before
            })
            .collect()
    }

    /// Up to `n` contacts closest to `target` by XOR distance, closest first,
    /// leaving out `exclude`.
    ///
    /// Buckets are visited in distance order rather than sorting the whole
    /// table: with `b` the common-prefix length of `target` and the local id,
    /// bucket `b` holds the closest contacts, all deeper buckets come next, and
    /// then buckets `b-1, b-2, ...`, each strictly farther than the last.
    pub fn closest(&self, target: &NodeId, n: usize, exclude: Option<&NodeId>) -> Vec<Contact> {
        let mut out: Vec<Contact> = Vec::with_capacity(n);
        let b = self.local.common_prefix_len(target).min(self.buckets.len());
        let mut group: Vec<Contact> = Vec::new();
        let flush = |group: &mut Vec<Contact>, out: &mut Vec<Contact>| {
            group.sort_unstable_by_key(|c| c.id.distance(target));
            out.extend(group.drain(..).take(n - out.len()));
        };
        let take = |bucket: &Bucket, group: &mut Vec<Contact>| {
            group.extend(
                bucket
                    .entries
                    .iter()
                    .map(|e| e.contact)
                    .filter(|c| Some(&c.id) != exclude),
            );
        };
        if let Some(bucket) = self.buckets.get(b) {
            take(bucket, &mut group);
            flush(&mut group, &mut out);
        }
        if out.len() < n {
            for bucket in self.buckets.iter().skip(b + 1) {
                take(bucket, &mut group);
            }
            flush(&mut group, &mut out);
        }
        for i in (0..b).rev() {
            if out.len() >= n {
                break;
            }
            take(&self.buckets[i], &mut group);
            flush(&mut group, &mut out);
        }
        out
    }

    /// Every entry and cached replacement, for diagnostics.
    pub fn snapshot(&self) -> Vec<RouteEntry> {
        let mut out = Vec::with_capacity(self.len);
        for (i, b) in self.buckets.iter().enumerate() {
            for e in &b.entries {
                out.push(RouteEntry {
                    role: RouteRole::Bucket(i as u8),
                    contact: e.contact,
                    failures: e.failures,
                });
            }
            for c in &b.replacements {
                out.push(RouteEntry {
                    role: RouteRole::Replacement(i as u8),
                    contact: *c,
                    failures: 0,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Addr;
    use crate::rng::NodeRng;
    use rand::SeedableRng;

    fn contact(id: NodeId, n: u32) -> Contact {
        Contact {
            id,
            addr: Addr::from_u32(n, 1),
        }
    }

    #[test]
    fn closest_agrees_with_a_full_sort() {
        let mut rng = NodeRng::seed_from_u64(3);
        let local = NodeId::random(&mut rng);
        let mut t = RoutingTable::new(local, 20, 0);
        let mut all = Vec::new();
        for n in 0..2000u32 {
            let c = contact(NodeId::random(&mut rng), n);
            if t.seen(c) == Seen::Added {
                all.push(c);
            }
        }
        for _ in 0..200 {
            let target = NodeId::random(&mut rng);
            let mut want = all.clone();
            want.sort_by_key(|c| c.id.distance(&target));
            want.truncate(20);
            assert_eq!(t.closest(&target, 20, None), want);
        }
        // Looking up our own id returns the deepest buckets first.
        let mut want = all.clone();
        want.sort_by_key(|c| c.id.distance(&local));
        assert_eq!(t.closest(&local, 5, None), want[..5].to_vec());
    }

    #[test]
    fn full_bucket_caches_newcomers_and_evicts_only_on_failure() {
        let local = NodeId::ZERO;
        let mut t = RoutingTable::new(local, 2, 2);
        // Ids with the top bit set all fall in bucket 0.
        let id = |x: u8| {
            let mut b = [0u8; 20];
            b[0] = 0x80;
            b[19] = x;
            NodeId(b)
        };
        assert_eq!(t.seen(contact(id(1), 1)), Seen::Added);
        assert_eq!(t.seen(contact(id(2), 2)), Seen::Added);
        let full = t.seen(contact(id(3), 3));
        assert_eq!(
            full,
            Seen::BucketFull {
                bucket: 0,
                head: contact(id(1), 1),
                check: true
            }
        );
        // A second newcomer does not start a second check.
        assert!(matches!(
            t.seen(contact(id(4), 4)),
            Seen::BucketFull { check: false, .. }
        ));
        assert_eq!(t.len(), 2);
        // The head answered: it moves to the tail; nothing is evicted.
        t.check_done(0);
        assert_eq!(t.seen(contact(id(1), 1)), Seen::Refreshed);
        assert_eq!(t.closest(&local, 5, None).len(), 2);
        // Head (now id 2) fails its check: it goes, the newest replacement (4) comes in.
        let ev = t.evict(&id(2)).unwrap();
        assert_eq!(
            ev,
            Evicted {
                removed: contact(id(2), 2),
                promoted: Some(contact(id(4), 4))
            }
        );
        assert!(t.contains(&id(4)) && !t.contains(&id(2)));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn repeated_failures_make_an_entry_stale() {
        let mut t = RoutingTable::new(NodeId::ZERO, 20, 4);
        let c = contact(NodeId([0xFF; 20]), 9);
        t.seen(c);
        for _ in 0..4 {
            assert_eq!(t.failed(&c.id, 5, 1), None);
        }
        assert_eq!(
            t.failed(&c.id, 5, 1),
            Some(Evicted {
                removed: c,
                promoted: None
            })
        );
        assert_eq!(t.len(), 0);
        // Hearing from it again resets the count.
        t.seen(c);
        t.failed(&c.id, 5, 1);
        t.seen(c);
        assert_eq!(t.snapshot()[0].failures, 0);
    }
}
