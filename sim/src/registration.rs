//! Registration in the simulator: the bridge from `peerlab-churn`'s
//! [`RegistrationWorkload`] (refresh every `t`, expire after `e`, in float
//! seconds, as a churn spec writes them) to the core's
//! [`RegistrarConfig`] (whole seconds, because the DHT's TTL is whole seconds).
//!
//! The workload generator ([`peerlab_churn::WorkloadDriver`]) says *when* a
//! device registers or refreshes and when a crashed device's binding expires;
//! the core's [`peerlab_core::registration::Registrar`] says *what* goes into
//! the DHT. `sim/tests/registration.rs` drives both over Kademlia and Chord
//! and checks every read against the simulator's global view; the churn
//! scenario does the same through [`crate::scenario::registrations`].
//!
//! [`DeviceLog`] is that global view for one device: every record it put,
//! when the put was first acknowledged, and when a refresh or a graceful
//! leave removed it. [`DeviceLog::judge`] says whether what a read returned
//! for the device is what the view allows.

use crate::config::{InvalidConfig, invalid};
use peerlab_churn::workload::RegistrationWorkload;
use peerlab_core::HashAlg;
use peerlab_core::registration::{ContactRecord, RegistrarConfig};
use peerlab_core::{Duration, Instant};

/// A put (or a removal) reaches its replicas within this: a record put, or
/// removed, less than `SLACK` before a read was issued may or may not be
/// seen by it. Reads in the simulator finish within a few hundred
/// milliseconds; the slack also covers the replicas a put reaches after its
/// first acknowledgement.
pub const SLACK: Duration = Duration::from_secs(10);

/// The registrar settings for a registration workload, hashing AoRs with
/// `hash` (the DHT's). Both intervals must be whole seconds in
/// `1..=u32::MAX`, because the DHT stores lifetimes in whole seconds; the
/// error names the field by its spec path, `prefix` + `.refresh_s` (for
/// example `churn_workload.registration.refresh_s`).
pub fn registrar_config(
    w: &RegistrationWorkload,
    hash: HashAlg,
    prefix: &str,
) -> Result<RegistrarConfig, InvalidConfig> {
    let whole = |path: &str, v: f64| -> Result<u32, InvalidConfig> {
        if v.is_finite() && v >= 1.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0 {
            Ok(v as u32)
        } else {
            Err(invalid(
                path,
                v,
                "a whole number of seconds, at least 1 (the DHT's TTL is in whole seconds)",
            ))
        }
    };
    let cfg = RegistrarConfig {
        refresh_s: whole(&format!("{prefix}.refresh_s"), w.refresh_s)?,
        expires_s: whole(&format!("{prefix}.expires_s"), w.expires_s)?,
        hash,
    };
    cfg.validate()
        .map_err(|e| invalid(&format!("{prefix}.{}", e.field), e.value, e.expected))?;
    Ok(cfg)
}

/// One record a device put, as the global view saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRecord {
    /// When the put was first issued.
    pub issued: Instant,
    /// The record.
    pub record: ContactRecord,
    /// Its encoding, as stored.
    pub bytes: Vec<u8>,
    /// A replica first acknowledged the put then.
    pub acked: Option<Instant>,
    /// A refresh confirmed its successor and issued its removal then.
    pub replaced: Option<Instant>,
    /// A graceful leave issued its removal then.
    pub unreg_issued: Option<Instant>,
    /// Every removal of that leave was acknowledged then.
    pub unreg_done: Option<Instant>,
}

/// Every record one device put, in the order it put them: the simulator's
/// global view of the device's registration. The view knows what each
/// device did and when the DHT acknowledged it; it does not look into the
/// stores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceLog {
    /// The live records, oldest first.
    pub entries: Vec<LoggedRecord>,
    /// The tombstones a graceful leave put (SIP's `Expires: 0`): their
    /// encoding and `expires_at`. They hide the device from merged reads and
    /// are never a record a read must return.
    pub tombstones: Vec<(Vec<u8>, Instant)>,
}

/// How a read's answer for one device compares with the global view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The view says the read must return a record of the device.
    pub expected: bool,
    /// The answer is allowed: the newest record the view requires (or a
    /// newer one still in flight), or nothing when nothing is required and
    /// nothing removed or expired came back.
    pub correct: bool,
    /// A record came back that the view does not allow: older than the
    /// required one, removed, or expired.
    pub stale: bool,
    /// Nothing came back although the view requires a record.
    pub missing: bool,
}

impl DeviceLog {
    /// The device issued a put of `record` at `now`; a retry of a put
    /// already logged is not a new record. Returns whether it is new. A
    /// tombstone (`record.removed`) goes to [`DeviceLog::tombstones`].
    pub fn put_issued(&mut self, now: Instant, record: ContactRecord, bytes: &[u8]) -> bool {
        if record.removed {
            if self.tombstones.iter().any(|(b, _)| b == bytes) {
                return false;
            }
            self.tombstones.push((bytes.to_vec(), record.expires_at));
            return true;
        }
        if self.entries.iter().any(|e| e.bytes == bytes) {
            return false;
        }
        self.entries.push(LoggedRecord {
            issued: now,
            record,
            bytes: bytes.to_vec(),
            acked: None,
            replaced: None,
            unreg_issued: None,
            unreg_done: None,
        });
        true
    }

    /// A replica acknowledged the put of `bytes` at `now`.
    pub fn put_acked(&mut self, now: Instant, bytes: &[u8]) {
        if let Some(e) = self.entries.iter_mut().rev().find(|e| e.bytes == bytes) {
            e.acked.get_or_insert(now);
        }
    }

    /// The device issued the removal of `bytes` at `now`: on a graceful
    /// leave (`leaving`), or because a refresh replaced it.
    pub fn remove_issued(&mut self, now: Instant, bytes: &[u8], leaving: bool) {
        if let Some(e) = self.entries.iter_mut().rev().find(|e| e.bytes == bytes) {
            if leaving {
                e.unreg_issued = Some(now);
            } else {
                e.replaced = Some(now);
            }
        }
    }

    /// Every removal of a graceful leave was acknowledged at `now`.
    pub fn leave_done(&mut self, now: Instant) {
        for e in self.entries.iter_mut().filter(|e| e.unreg_issued.is_some()) {
            e.unreg_done.get_or_insert(now);
        }
    }

    /// The oldest record a read issued at `g` and finished at `now` may
    /// return, which it must return unless it returns a newer one: the
    /// newest put at least `slack` before `g` and acknowledged by `g`,
    /// unless a leave issued its removal by `now` or it expired by `now`.
    /// None if the device must not be found. A record replaced by a refresh still
    /// counts: the refresh's put was acknowledged before the removal was
    /// issued, so the device stays visible throughout.
    pub fn expected(&self, g: Instant, now: Instant, slack: Duration) -> Option<&LoggedRecord> {
        let cutoff = Instant::from_micros(g.as_micros().saturating_sub(slack.as_micros()));
        self.entries
            .iter()
            .rev()
            .find(|e| e.issued <= cutoff && e.acked.is_some_and(|a| a <= g))
            .filter(|e| e.record.expires_at > now && e.unreg_issued.is_none_or(|u| u > now))
    }

    /// Judges `got`, the device's record among a read's contacts (issued at
    /// `g`, finished at `now`). Allowed besides the expected record: a newer
    /// record still in flight, or one whose removal or replacement was
    /// issued within `slack` of `g` (a leave's removal counts once it was
    /// acknowledged before `g`), as long as it has not expired at `now`.
    pub fn judge(
        &self,
        got: Option<&ContactRecord>,
        g: Instant,
        now: Instant,
        slack: Duration,
    ) -> Verdict {
        let cutoff = Instant::from_micros(g.as_micros().saturating_sub(slack.as_micros()));
        let certain = self.expected(g, now, slack);
        let allowed = |r: &ContactRecord| {
            self.entries.iter().any(|e| {
                e.record == *r
                    && e.record.expires_at > now
                    && e.replaced.is_none_or(|t| t > cutoff)
                    && e.unreg_done.is_none_or(|t| t > g)
                    && certain.is_none_or(|c| e.issued >= c.issued)
            })
        };
        let correct = match (got, certain) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(r), _) => allowed(r),
        };
        Verdict {
            expected: certain.is_some(),
            correct,
            stale: got.is_some() && !correct,
            missing: got.is_none() && certain.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_pass_and_the_error_names_the_field() {
        let w = |refresh_s, expires_s| RegistrationWorkload {
            refresh_s,
            expires_s,
            read_interval_s: None,
        };
        let p = "workload.registration";
        let c = registrar_config(&w(300.0, 600.0), HashAlg::Sha1, p).unwrap();
        assert_eq!((c.refresh_s, c.expires_s), (300, 600));
        let e = registrar_config(&w(300.5, 600.0), HashAlg::Sha1, p).unwrap_err();
        assert_eq!(e.path, "workload.registration.refresh_s");
        let e = registrar_config(&w(300.0, f64::NAN), HashAlg::Sha1, p).unwrap_err();
        assert_eq!(e.path, "workload.registration.expires_s");
        let e = registrar_config(&w(700.0, 600.0), HashAlg::Sha1, p).unwrap_err();
        assert_eq!(e.path, "workload.registration.refresh_s");
        let p = "churn_workload.registration";
        let e = registrar_config(&w(300.0, 600.5), HashAlg::Sha1, p).unwrap_err();
        assert_eq!(e.path, "churn_workload.registration.expires_s");
    }

    fn record(seq: u32, expires_s: u64) -> ContactRecord {
        ContactRecord {
            node_id: peerlab_core::NodeId([7; 20]),
            seq,
            expires_at: Instant::from_secs(expires_s),
            nat: peerlab_core::nat::NatType::Open,
            host: peerlab_core::Addr::new([10, 0, 0, 7], 5060),
            reflexive: None,
            super_node: None,
            removed: false,
        }
    }

    /// A hand-written history: put at 100 (acked 101), refreshed at 400
    /// (acked 401, old one removed at 401), left at 600 (removal acked 601),
    /// with each record expiring 600 s after its put.
    /// A leave's tombstone is logged apart: it is never a record a read must
    /// return, and the device stays unrequired after the leave.
    #[test]
    fn a_tombstone_is_logged_apart_and_never_required() {
        let s = Instant::from_secs;
        let a = record(1, 700);
        let t = ContactRecord {
            seq: 2,
            removed: true,
            ..a
        };
        let mut log = DeviceLog::default();
        log.put_issued(s(100), a, &a.encode());
        log.put_acked(s(101), &a.encode());
        assert!(log.put_issued(s(300), t, &t.encode()));
        assert!(!log.put_issued(s(300), t, &t.encode()), "a retry");
        log.put_acked(s(301), &t.encode());
        log.remove_issued(s(300), &a.encode(), true);
        log.leave_done(s(302));
        assert_eq!(log.entries.len(), 1);
        assert_eq!(log.tombstones, vec![(t.encode(), s(700))]);
        let late = Duration::from_secs(10);
        assert_eq!(
            log.expected(s(250), s(251), late).map(|e| e.record),
            Some(a)
        );
        assert!(log.expected(s(400), s(401), late).is_none());
        let v = log.judge(None, s(400), s(401), late);
        assert!(v.correct && !v.expected && !v.missing);
    }

    #[test]
    fn the_view_requires_the_newest_settled_record_only() {
        let s = Instant::from_secs;
        let (a, b) = (record(1, 700), record(2, 1000));
        let mut log = DeviceLog::default();
        assert!(log.put_issued(s(100), a, &a.encode()));
        assert!(
            !log.put_issued(s(100), a, &a.encode()),
            "a retry is no new record"
        );
        log.put_acked(s(101), &a.encode());
        log.put_issued(s(400), b, &b.encode());
        log.put_acked(s(401), &b.encode());
        log.remove_issued(s(401), &a.encode(), false);
        log.remove_issued(s(600), &b.encode(), true);
        log.leave_done(s(601));
        let j = |got: Option<&ContactRecord>, g: u64| log.judge(got, s(g), s(g), SLACK);
        // Before the first put settles, nothing is required, and the record
        // in flight is allowed.
        assert_eq!(log.expected(s(105), s(105), SLACK), None);
        assert!(j(None, 105).correct && j(Some(&a), 105).correct);
        // Settled: required; a miss is a miss.
        let v = j(None, 200);
        assert!(v.expected && v.missing && !v.correct && !v.stale);
        assert!(j(Some(&a), 200).correct);
        // Within the slack of the refresh, old and new are both fine, but
        // the device must not vanish.
        assert!(j(Some(&a), 405).correct && j(Some(&b), 405).correct);
        assert!(j(None, 405).missing);
        // Past it, the old one is stale.
        let v = j(Some(&a), 500);
        assert!(v.stale && !v.correct);
        assert!(j(Some(&b), 500).correct);
        // After the leave: nothing is required, and the removed one is stale.
        assert!(j(None, 700).correct && !j(None, 700).expected);
        assert!(j(Some(&b), 700).stale);
        // Expired records are never allowed.
        assert!(!log.judge(Some(&a), s(300), s(701), SLACK).correct);
    }
}
