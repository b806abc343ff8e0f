//! The STOREs of one put or remove, until every holder answered or failed.
//!
//! Shared by every DHT, so a put or remove finishes and reports the same way
//! in each: the batch counts the holders that acknowledged (the local node
//! included, when it is one), and when the last STORE is answered or times
//! out, a reported batch (a user's put or remove, not a republish) becomes
//! [`Event::StoreDone`].

use crate::id::NodeId;
use crate::protocol::{Event, RequestId, RequestStats, TrafficClass};
use crate::time::Instant;
use std::collections::BTreeMap;

/// One put or remove (or republish) in progress.
#[derive(Clone, Debug)]
pub(crate) struct StoreBatch {
    /// The key stored under.
    pub key: NodeId,
    /// STOREs sent and not answered yet.
    pub outstanding: u32,
    /// Holders that stored the value so far (the local node included).
    pub acked: u32,
    /// The cost so far.
    pub stats: RequestStats,
    /// A user's put or remove (reported), not a republish.
    pub report: bool,
}

/// The batches in progress, by request.
#[derive(Clone, Debug, Default)]
pub(crate) struct StoreBatches {
    map: BTreeMap<RequestId, StoreBatch>,
}

impl StoreBatches {
    /// Starts a batch. With nothing outstanding it finishes at once: the
    /// returned event, if it reports.
    pub fn start(&mut self, now: Instant, id: RequestId, batch: StoreBatch) -> Option<Event> {
        let outstanding = batch.outstanding;
        self.map.insert(id, batch);
        if outstanding == 0 {
            return self.finish(now, id);
        }
        None
    }

    /// The traffic class of the batch's STOREs: `Store` for a user's put or
    /// remove, `DataMaintenance` for a republish.
    pub fn class(&self, id: RequestId) -> TrafficClass {
        match self.map.get(&id) {
            Some(b) if !b.report => TrafficClass::DataMaintenance,
            _ => TrafficClass::Store,
        }
    }

    /// The batch's cost so far, to count a message.
    pub fn stats_mut(&mut self, id: RequestId) -> Option<&mut RequestStats> {
        self.map.get_mut(&id).map(|b| &mut b.stats)
    }

    /// A holder answered (`Some(stored)`) or timed out (`None`). Returns the
    /// batch's event if that was the last STORE and the batch reports.
    pub fn answered(&mut self, now: Instant, id: RequestId, stored: Option<bool>) -> Option<Event> {
        let b = self.map.get_mut(&id)?;
        match stored {
            Some(s) => b.acked += u32::from(s),
            None => b.stats.timeouts += 1,
        }
        b.outstanding = b.outstanding.saturating_sub(1);
        if b.outstanding > 0 {
            return None;
        }
        self.finish(now, id)
    }

    fn finish(&mut self, now: Instant, id: RequestId) -> Option<Event> {
        let mut b = self.map.remove(&id).filter(|b| b.report)?;
        b.stats.finished = now;
        Some(Event::StoreDone {
            id,
            key: b.key,
            replicas: b.acked,
            stats: b.stats,
        })
    }

    /// Forgets every batch (the node left).
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reports_once_every_store_is_answered_or_timed_out() {
        let mut b = StoreBatches::default();
        let (key, t) = (NodeId([1; 20]), Instant::from_secs);
        let id = RequestId(7);
        let batch = StoreBatch {
            key,
            outstanding: 3,
            acked: 1,
            stats: RequestStats::default(),
            report: true,
        };
        assert_eq!(b.start(t(1), id, batch), None);
        assert_eq!(b.class(id), TrafficClass::Store);
        assert_eq!(b.answered(t(2), id, Some(true)), None);
        assert_eq!(b.answered(t(3), id, None), None);
        let Some(Event::StoreDone {
            replicas, stats, ..
        }) = b.answered(t(4), id, Some(false))
        else {
            panic!("the last answer finishes the batch");
        };
        // The local copy and one acknowledgement; one timeout.
        assert_eq!((replicas, stats.timeouts, stats.finished), (2, 1, t(4)));
        assert_eq!(b.answered(t(5), id, Some(true)), None, "finished");
    }

    #[test]
    fn a_republish_counts_as_maintenance_and_reports_nothing() {
        let mut b = StoreBatches::default();
        let id = RequestId(1);
        let batch = |outstanding, acked, report| StoreBatch {
            key: NodeId::ZERO,
            outstanding,
            acked,
            stats: RequestStats::default(),
            report,
        };
        assert_eq!(b.start(Instant::ZERO, id, batch(1, 0, false)), None);
        assert_eq!(b.class(id), TrafficClass::DataMaintenance);
        assert_eq!(b.answered(Instant::ZERO, id, Some(true)), None);
        // Nothing outstanding: a reported batch finishes at once.
        assert!(matches!(
            b.start(Instant::ZERO, id, batch(0, 1, true)),
            Some(Event::StoreDone { replicas: 1, .. })
        ));
    }
}
