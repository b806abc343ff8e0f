//! Values: put, get and remove on the key's successor and its replicas,
//! replica upkeep, and handing keys to a new predecessor.

use super::maintenance::remaining_secs;
use super::ring::in_half_open;
use super::{Chord, Fetch, Purpose, RpcFor};
use crate::holder_read::HolderRead;
use crate::id::NodeId;
use crate::protocol::{Event, RequestId, RequestStats};
use crate::publisher;
use crate::store_batch::StoreBatch;
use crate::time::{Duration, Instant};
use crate::wire::{Body, Contact};

/// A get stops asking after this many replicas answered without values (a
/// missing key should not cost r requests; a replica that lags behind is
/// covered).
const EMPTY_ANSWERS_BEFORE_GIVING_UP: u8 = 2;

impl Chord {
    /// Stores (ttl > 0) or removes (ttl = 0) a value held for the overlay.
    pub(super) fn apply_store(
        &mut self,
        now: Instant,
        key: NodeId,
        value: Vec<u8>,
        ttl_secs: u32,
    ) -> bool {
        let ok = if ttl_secs == 0 {
            self.store.remove(&key, &value);
            true
        } else {
            let expires = now + Duration::from_secs(ttl_secs as u64);
            let republish = now + self.jittered(self.cfg.republish_interval);
            self.store
                .insert(key, value, expires, republish, self.cfg.max_stored_values)
        };
        self.update_store_deadline();
        ok
    }

    pub(super) fn update_store_deadline(&mut self) {
        self.store_deadline = publisher::store_deadline(&self.store, &self.published);
    }

    pub(super) fn publisher_period(&mut self, ttl_secs: u32) -> Duration {
        let d = publisher::publisher_period(self.cfg.publisher_republish, ttl_secs);
        self.jittered(d)
    }

    /// Puts (or removes) `value` on the first `replicas` nodes of a lookup result.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_batch(
        &mut self,
        now: Instant,
        id: RequestId,
        key: NodeId,
        closest: &[Contact],
        value: Vec<u8>,
        ttl_secs: u32,
        report: bool,
        stats: RequestStats,
    ) {
        let mut acked = 0;
        let mut remote = Vec::new();
        for c in closest.iter().take(self.cfg.replicas) {
            if c.id == self.id {
                acked += u32::from(self.apply_store(now, key, value.clone(), ttl_secs));
            } else {
                remote.push(*c);
            }
        }
        let batch = StoreBatch {
            key,
            outstanding: remote.len() as u32,
            acked,
            stats,
            report,
        };
        if let Some(e) = self.batches.start(now, id, batch) {
            self.events.push(e);
        }
        for c in &remote {
            let body = Body::Store {
                key,
                value: value.clone(),
                ttl_secs,
            };
            self.request(now, *c, body, RpcFor::Store(id));
        }
    }

    /// A STORE of batch `id` was answered (`Some`) or timed out (`None`).
    pub(super) fn store_answered(&mut self, now: Instant, id: RequestId, stored: Option<bool>) {
        if let Some(e) = self.batches.answered(now, id, stored) {
            self.events.push(e);
        }
    }

    /// Reads `key` from the replicas of a lookup result, most responsible
    /// first: `read_holders` of them at once.
    pub(super) fn start_fetch(
        &mut self,
        now: Instant,
        id: RequestId,
        key: NodeId,
        closest: Vec<Contact>,
        hops: u32,
        stats: RequestStats,
    ) {
        let remaining = closest.into_iter().take(self.cfg.replicas).collect();
        self.fetches.insert(
            id,
            Fetch {
                key,
                remaining,
                empty: 0,
                in_flight: 0,
                read: HolderRead::new(self.cfg.read_holders),
                hops,
                stats,
            },
        );
        self.fetch_next(now, id);
    }

    /// Asks more replicas while fewer than `read_holders` have answered
    /// with values or are being asked, or ends the get: once enough
    /// answered, or when nothing is in flight and no replica is left (or
    /// [`EMPTY_ANSWERS_BEFORE_GIVING_UP`] answered without values).
    pub(super) fn fetch_next(&mut self, now: Instant, id: RequestId) {
        loop {
            let Some(f) = self.fetches.get_mut(&id) else {
                return;
            };
            let exhausted = f.empty >= EMPTY_ANSWERS_BEFORE_GIVING_UP || f.remaining.is_empty();
            if f.read.is_complete() || (exhausted && f.in_flight == 0) {
                return self.finish_fetch(now, id);
            }
            if exhausted || f.read.holders() + usize::from(f.in_flight) >= self.cfg.read_holders {
                return; // waiting for the replicas asked
            }
            let Some(c) = f.remaining.pop_front() else {
                return;
            };
            if c.id != self.id {
                f.in_flight += 1;
                let key = f.key;
                self.request(now, c, Body::FindValue { key }, RpcFor::Fetch(id));
                continue;
            }
            let values = self.store.get(&f.key, crate::wire::MAX_VALUES);
            if values.is_empty() {
                f.empty += 1;
            }
            f.read.add(values, 0);
        }
    }

    /// A replica answered (`Some`, possibly without values) or failed (`None`).
    pub(super) fn on_fetched(&mut self, now: Instant, id: RequestId, values: Option<Vec<Vec<u8>>>) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.in_flight = f.in_flight.saturating_sub(1);
        match values {
            Some(v) if v.is_empty() => f.empty += 1,
            Some(v) => f.read.add(v, 1),
            None => f.stats.timeouts += 1,
        }
        self.fetch_next(now, id);
    }

    /// Ends a get: one hop more than the lookup when a remote replica
    /// supplied values or none did, none when only the local store did.
    fn finish_fetch(&mut self, now: Instant, id: RequestId) {
        let Some(mut f) = self.fetches.remove(&id) else {
            return;
        };
        let (values, holders, extra_hops) = f.read.finish();
        f.stats.finished = now;
        f.stats.hops = f.hops + extra_hops.unwrap_or(1);
        self.events.push(Event::GetDone {
            id,
            key: f.key,
            values,
            holders,
            stats: f.stats,
        });
    }

    /// Sends `to` copies of the held values whose keys lie in (`from`, `upto`].
    pub(super) fn hand_over(&mut self, now: Instant, to: Contact, from: &NodeId, upto: &NodeId) {
        let ring = self.ring;
        let values: Vec<Body> = self
            .store
            .entries()
            .filter(|(key, _)| in_half_open(&ring.position(key), from, upto))
            .filter_map(|(key, s)| {
                Some(Body::Store {
                    key,
                    value: s.value.clone(),
                    ttl_secs: remaining_secs(s.expires, now)?,
                })
            })
            .collect();
        for body in values {
            self.request(now, to, body, RpcFor::Handoff);
        }
    }

    /// Expires values; pushes the ones this node is responsible for to its
    /// replicas; republishes the values this node published.
    pub(super) fn republish(&mut self, now: Instant) {
        self.store.expire(now);
        let next = now + self.jittered(self.cfg.republish_interval);
        let replicas: Vec<Contact> = self
            .successors
            .as_slice()
            .iter()
            .take(self.cfg.replicas.saturating_sub(1))
            .copied()
            .collect();
        for (key, value, expires) in self.store.take_due(now, next) {
            let Some(ttl_secs) = remaining_secs(expires, now) else {
                continue;
            };
            if !self.responsible(&self.ring.position(&key)) {
                continue;
            }
            for c in &replicas {
                let body = Body::Store {
                    key,
                    value: value.clone(),
                    ttl_secs,
                };
                self.request(now, *c, body, RpcFor::Handoff);
            }
        }
        for (key, value, ttl_secs) in self.published.due(now) {
            let next = now + self.publisher_period(ttl_secs);
            self.published.reschedule(key, value.clone(), next);
            let id = self.new_request();
            let purpose = Purpose::Store {
                value,
                ttl_secs,
                report: false,
            };
            self.start_lookup(now, purpose, key, id);
        }
        self.update_store_deadline();
    }
}
