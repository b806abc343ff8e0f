//! Outstanding requests: transaction ids, timeouts and retransmissions.
//!
//! A request is remembered under its transaction id until its answer arrives
//! or its last retransmission times out. The wait adapts to measured round
//! trips ([`RttEstimator`]) unless adaptation is off; retransmitted requests
//! are not sampled (Karn's rule). The table only does bookkeeping: callers
//! send the datagrams it builds.
//!
//! It is also where a node accounts for its request traffic by
//! [`TrafficClass`] (the rule is in [`crate::protocol`]): every request and
//! retransmission it builds, and every answer it matches, is counted under
//! the class the request was started with; callers count their unsolicited
//! messages with [`Rpcs::count_sent`].

use crate::addr::Addr;
use crate::id::NodeId;
use crate::protocol::{ClassTraffic, TrafficClass};
use crate::rtt::RttEstimator;
use crate::time::{Duration, Instant};
use crate::timers::TimerQueue;
use crate::wire::{Body, Message};
use std::collections::BTreeMap;

/// One outstanding request.
#[derive(Clone, Debug)]
pub(crate) struct Pending<P> {
    /// Where it was sent.
    pub dst: Addr,
    /// The node it was meant for, if known.
    pub to: Option<NodeId>,
    /// What was sent (resent on retransmission).
    pub body: Body,
    /// What the caller needs to resume when it ends.
    pub purpose: P,
    /// The traffic class its messages count under.
    pub class: TrafficClass,
    retries_left: u8,
    sent: Instant,
    retransmitted: bool,
}

/// What a deadline meant.
#[derive(Clone, Debug)]
pub(crate) enum Expired<P> {
    /// The request should be sent again: call [`Rpcs::resend`].
    Retry(u64),
    /// The request failed: no answer to it or any retransmission.
    Failed(Pending<P>),
}

/// The outstanding requests of one node.
#[derive(Clone, Debug)]
pub(crate) struct Rpcs<P> {
    /// The local node, the sender of every request.
    sender: NodeId,
    pending: BTreeMap<u64, Pending<P>>,
    timers: TimerQueue<u64>,
    next_txid: u64,
    rtt: RttEstimator,
    adaptive: bool,
    max_timeout: Duration,
    retries: u8,
    traffic: [ClassTraffic; TrafficClass::COUNT],
    /// Of `traffic`, the answers received.
    received: [ClassTraffic; TrafficClass::COUNT],
}

impl<P: Clone> Rpcs<P> {
    /// The table of node `sender`, whose first transaction id is
    /// `first_txid`; waits adapt within `[min_timeout, max_timeout]` when
    /// `adaptive`, else are `max_timeout`.
    pub fn new(
        sender: NodeId,
        first_txid: u64,
        min_timeout: Duration,
        max_timeout: Duration,
        adaptive: bool,
        retries: u8,
    ) -> Self {
        Rpcs {
            sender,
            pending: BTreeMap::new(),
            timers: TimerQueue::default(),
            next_txid: first_txid,
            rtt: RttEstimator::new(min_timeout, max_timeout),
            adaptive,
            max_timeout,
            retries,
            traffic: [ClassTraffic::default(); TrafficClass::COUNT],
            received: [ClassTraffic::default(); TrafficClass::COUNT],
        }
    }

    /// A fresh transaction id (also used for ids that are not requests).
    pub fn fresh_txid(&mut self) -> u64 {
        let t = self.next_txid;
        self.next_txid = self.next_txid.wrapping_add(1);
        t
    }

    fn timeout(&self) -> Duration {
        if self.adaptive {
            self.rtt.timeout()
        } else {
            self.max_timeout
        }
    }

    /// Records a request about to be sent and counts it under `class`;
    /// returns the message to send (its txid is the request's).
    pub fn start(
        &mut self,
        now: Instant,
        dst: Addr,
        to: Option<NodeId>,
        body: Body,
        purpose: P,
        class: TrafficClass,
    ) -> Message {
        let txid = self.fresh_txid();
        let msg = Message::new(txid, self.sender, body.clone());
        self.count_sent(class, &msg);
        self.pending.insert(
            txid,
            Pending {
                dst,
                to,
                body,
                purpose,
                class,
                retries_left: self.retries,
                sent: now,
                retransmitted: false,
            },
        );
        self.timers.schedule(now + self.timeout(), txid);
        msg
    }

    /// Counts a message this node sends under `class`: the table's own
    /// requests count themselves; callers count the unsolicited ones.
    pub fn count_sent(&mut self, class: TrafficClass, msg: &Message) {
        self.traffic[class.index()].add(msg.encoded_len());
    }

    /// The traffic counted so far, by [`TrafficClass::index`].
    pub fn traffic(&self) -> [ClassTraffic; TrafficClass::COUNT] {
        self.traffic
    }

    /// Of [`Rpcs::traffic`], the answers received, by [`TrafficClass::index`].
    pub fn received(&self) -> [ClassTraffic; TrafficClass::COUNT] {
        self.received
    }

    /// The request an answer belongs to, if it is outstanding and the answer
    /// comes from the node or address it was sent to. Removes it, and counts
    /// the answer under the request's class.
    pub fn take_answer(&mut self, now: Instant, from: Addr, msg: &Message) -> Option<Pending<P>> {
        let p = self.pending.get(&msg.txid)?;
        if p.dst != from && p.to != Some(msg.sender) {
            return None;
        }
        let p = self.pending.remove(&msg.txid)?;
        self.traffic[p.class.index()].add(msg.encoded_len());
        self.received[p.class.index()].add(msg.encoded_len());
        if !p.retransmitted {
            self.rtt.sample(now - p.sent);
        }
        self.prune();
        Some(p)
    }

    /// The next request whose wait ended at or before `now`.
    pub fn poll_expired(&mut self, now: Instant) -> Option<Expired<P>> {
        while let Some(txid) = self.timers.pop_due(now) {
            let Some(p) = self.pending.get(&txid) else {
                continue;
            };
            if p.retries_left > 0 {
                return Some(Expired::Retry(txid));
            }
            let p = self.pending.remove(&txid)?;
            self.prune();
            return Some(Expired::Failed(p));
        }
        None
    }

    /// Retransmits `txid` after `adjust` has updated its body, counting it
    /// under the request's class: returns where to send it and the message.
    pub fn resend(
        &mut self,
        now: Instant,
        txid: u64,
        adjust: impl FnOnce(&mut Body),
    ) -> Option<(Addr, Message)> {
        let timeout = self.timeout();
        let p = self.pending.get_mut(&txid)?;
        p.retries_left = p.retries_left.saturating_sub(1);
        p.retransmitted = true;
        adjust(&mut p.body);
        let msg = Message::new(txid, self.sender, p.body.clone());
        self.traffic[p.class.index()].add(msg.encoded_len());
        let out = (p.dst, msg);
        self.timers.schedule(now + timeout, txid);
        Some(out)
    }

    /// An outstanding request.
    pub fn pending(&self, txid: u64) -> Option<&Pending<P>> {
        self.pending.get(&txid)
    }

    /// The purpose of an outstanding request.
    pub fn purpose(&self, txid: u64) -> Option<&P> {
        self.pending.get(&txid).map(|p| &p.purpose)
    }

    fn prune(&mut self) {
        let pending = &self.pending;
        self.timers.prune(|t| pending.contains_key(t));
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|(at, _)| at)
    }

    /// Forgets every outstanding request (the traffic counted stays).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpcs() -> Rpcs<u8> {
        Rpcs::new(
            NodeId::ZERO,
            100,
            Duration::from_secs(2),
            Duration::from_secs(2),
            false,
            1,
        )
    }

    #[test]
    fn answers_match_by_txid_and_peer_and_expire_after_retries() {
        let mut r = rpcs();
        let a = Addr::new([1, 1, 1, 1], 1);
        let t0 = Instant::ZERO;
        let tx = r
            .start(
                t0,
                a,
                Some(NodeId([1; 20])),
                Body::Ping,
                7,
                TrafficClass::Join,
            )
            .txid;
        assert_eq!(tx, 100);
        let pong = |txid, sender| Message::new(txid, sender, Body::RouteAck);
        // Wrong txid, or neither the address nor the id match: ignored.
        assert!(
            r.take_answer(t0, a, &pong(tx + 1, NodeId([1; 20])))
                .is_none()
        );
        let b = Addr::new([2, 2, 2, 2], 2);
        assert!(r.take_answer(t0, b, &pong(tx, NodeId([9; 20]))).is_none());
        // No deadline before 2 s; at 2 s one retry, then failure at 4 s.
        assert!(r.poll_expired(Instant::from_millis(1999)).is_none());
        let Some(Expired::Retry(t)) = r.poll_expired(Instant::from_secs(2)) else {
            panic!("retry expected");
        };
        let (dst, m) = r.resend(Instant::from_secs(2), t, |_| {}).unwrap();
        assert_eq!((dst, m.txid), (a, tx));
        assert_eq!(r.next_deadline(), Some(Instant::from_secs(4)));
        let Some(Expired::Failed(p)) = r.poll_expired(Instant::from_secs(4)) else {
            panic!("failure expected");
        };
        assert_eq!(p.purpose, 7);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn requests_retransmissions_and_taken_answers_count_under_their_class() {
        let mut r = rpcs();
        let a = Addr::new([1, 1, 1, 1], 1);
        let ping = r.start(Instant::ZERO, a, None, Body::Ping, 1, TrafficClass::Join);
        let len = ping.encoded_len() as u64;
        let join = |r: &Rpcs<u8>| r.traffic()[TrafficClass::Join.index()];
        assert_eq!(
            join(&r),
            ClassTraffic {
                messages: 1,
                bytes: len
            }
        );
        let Some(Expired::Retry(t)) = r.poll_expired(Instant::from_secs(2)) else {
            panic!("retry expected");
        };
        r.resend(Instant::from_secs(2), t, |_| {});
        assert_eq!(join(&r).messages, 2, "the retransmission counts");
        let pong = Message::new(ping.txid, NodeId::ZERO, Body::Pong { observed: a });
        let pong_len = pong.encoded_len() as u64;
        assert!(r.take_answer(Instant::from_secs(3), a, &pong).is_some());
        assert_eq!(
            join(&r),
            ClassTraffic {
                messages: 3,
                bytes: 2 * len + pong_len
            }
        );
        // A duplicate answer matches nothing and is not counted; nor are
        // other classes touched.
        assert!(r.take_answer(Instant::from_secs(3), a, &pong).is_none());
        assert_eq!(join(&r).messages, 3);
        let others: u64 = r.traffic().iter().map(|t| t.messages).sum();
        assert_eq!(others, 3);
        // Callers count unsolicited messages; clearing keeps the counts.
        r.count_sent(TrafficClass::RoutingMaintenance, &pong);
        r.clear();
        assert_eq!(
            r.traffic()[TrafficClass::RoutingMaintenance.index()].messages,
            1
        );
        assert_eq!(join(&r).messages, 3);
    }

    #[test]
    fn an_answered_request_never_expires() {
        let mut r = rpcs();
        let a = Addr::new([1, 1, 1, 1], 1);
        let tx = r
            .start(Instant::ZERO, a, None, Body::Ping, 1, TrafficClass::Store)
            .txid;
        let got = r.take_answer(
            Instant::from_millis(5),
            a,
            &Message::new(tx, NodeId::ZERO, Body::RouteAck),
        );
        assert_eq!(got.map(|p| p.purpose), Some(1));
        assert!(r.poll_expired(Instant::from_secs(100)).is_none());
        assert_eq!(r.next_deadline(), None);
    }
}
