//! User registration: SIP REGISTER semantics over the DHT's multi-valued keys.
//!
//! A user's address of record (AoR, `alice@example.com`) maps to one DHT key;
//! under it, each of the user's devices stores one [`ContactRecord`]: the
//! device's node id, its host and reflexive addresses, its NAT class and,
//! optionally, the super node it can be reached through.
//!
//! - **Key.** [`normalize_aor`] trims the AoR, strips a leading `sip:`
//!   (any case) and lowercases it; [`aor_key`] hashes the result with the
//!   DHT's [`HashAlg`]. `sip:Alice@Example.COM` and `alice@example.com` are
//!   the same user.
//! - **Lifetime.** A [`Registrar`] (one per device) registers with
//!   [`Command::Put`] whose TTL is the expiry `e`, and stamps the record with
//!   an absolute `expires_at = now + e`. It refreshes every `t <= e`: a new
//!   record is put, and the previous one is removed only once the put is
//!   acknowledged by a replica, so a reader never sees the device vanish
//!   mid-refresh and a failed put is retried. On graceful leave (SIP's
//!   REGISTER with `Expires: 0`) it writes a *tombstone*: a record with the
//!   next sequence number, marked removed, whose `expires_at` (and TTL) is
//!   that of the records it removes, and removes those records
//!   ([`Command::Remove`]). If the device crashes, nobody refreshes and every
//!   copy expires; a reader drops a record whose `expires_at` has passed even
//!   before the stores do.
//! - **Reading.** [`read_contacts`] turns the values of a
//!   [`crate::Event::GetDone`] into the user's contacts: undecodable and
//!   expired values are dropped and counted, the newest record per node id
//!   across all values is kept (a refresh in flight, or a device that crashed
//!   and came back, leaves two), and a device whose newest record is a
//!   tombstone is dropped.
//!
//! Why tombstones: a get merges the values of several holders
//! ([`crate::kademlia::KademliaConfig::read_holders`]), so a record that one
//! holder missed the removal of would come back in the union. The tombstone
//! outranks it wherever any merged holder has the tombstone, and it lives
//! exactly as long as the record it hides could.
//!
//! Sans-IO like the rest of the core: time comes in as [`Instant`], and the
//! registrar returns commands for the driver to issue.
//!
//! # Record format (versions 1 and 2, big-endian)
//!
//! Version 2 is version 1 plus flag bit 2, *removed* (a tombstone). A live
//! record is written as version 1, so readers of version 1 still read it; a
//! tombstone is written as version 2, which they reject as an unknown
//! version (and so keep the older record, as before tombstones). A version-2
//! record must have the removed flag, so every record has one encoding.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version: `1` live record, `2` tombstone |
//! | 1 | flags: bit 0 reflexive address present, bit 1 super node present, bit 2 removed (version 2 only, and set there); other bits zero |
//! | 20 | node id |
//! | 4 | sequence number (per registrar, increasing) |
//! | 8 | `expires_at`, microseconds on the driver's clock (the simulator's origin; in the live node, the Unix epoch, so records mean the same on every node) |
//! | 1 | NAT class, the index in [`NatType::ALL`] |
//! | 6 | host address (IPv4, port) |
//! | 6 | reflexive address, if flagged |
//! | 6 | super-node address, if flagged |

use crate::addr::Addr;
use crate::config::ConfigError;
use crate::id::{HashAlg, ID_BYTES, NodeId};
use crate::nat::NatType;
use crate::protocol::Command;
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;

/// The newest record format version this code writes and reads (2:
/// tombstones); live records are written as version 1.
pub const RECORD_VERSION: u8 = 2;
/// The version of a live record (no removed flag).
pub const RECORD_VERSION_LIVE: u8 = 1;
/// Encoded length of a record without optional addresses.
pub const RECORD_MIN_LEN: usize = 2 + ID_BYTES + 4 + 8 + 1 + Addr::WIRE_LEN;
/// Encoded length of a record with both optional addresses.
pub const RECORD_MAX_LEN: usize = RECORD_MIN_LEN + 2 * Addr::WIRE_LEN;

const FLAG_REFLEXIVE: u8 = 1;
const FLAG_SUPER_NODE: u8 = 2;
const FLAG_REMOVED: u8 = 4;

/// Why a string is not an address of record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid address of record `{input}`: {reason} (expected user@domain, e.g. sip:alice@example.com)"
)]
pub struct AorError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The canonical form of an AoR: trimmed, a leading `sip:` (any case)
/// stripped, lowercased. It must be `user@domain` with both parts non-empty,
/// one `@`, and no whitespace or control characters.
pub fn normalize_aor(aor: &str) -> Result<String, AorError> {
    let err = |reason| AorError {
        input: aor.to_string(),
        reason,
    };
    let t = aor.trim();
    let body = match t.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("sip:") => &t[4..],
        _ => t,
    };
    if body.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("contains whitespace or control characters"));
    }
    let (user, domain) = body.split_once('@').ok_or_else(|| err("missing `@`"))?;
    if user.is_empty() {
        return Err(err("empty user part"));
    }
    if domain.is_empty() {
        return Err(err("empty domain part"));
    }
    if domain.contains('@') {
        return Err(err("more than one `@`"));
    }
    Ok(body.to_lowercase())
}

/// The DHT key of an AoR: `alg` applied to [`normalize_aor`]'s output.
pub fn aor_key(alg: HashAlg, aor: &str) -> Result<NodeId, AorError> {
    Ok(alg.hash(normalize_aor(aor)?.as_bytes()))
}

/// One device's registration under an AoR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactRecord {
    /// The device's overlay node id.
    pub node_id: NodeId,
    /// Increases with every registration by the same registrar.
    pub seq: u32,
    /// When the registration lapses unless refreshed.
    pub expires_at: Instant,
    /// The device's NAT class.
    pub nat: NatType,
    /// The device's own (host) address.
    pub host: Addr,
    /// The address a reflexive probe saw, if the device knows it.
    pub reflexive: Option<Addr>,
    /// The super node the device can be reached through, if any.
    pub super_node: Option<Addr>,
    /// A tombstone: the device removed its binding; it hides the device's
    /// older records until `expires_at`.
    pub removed: bool,
}

/// Why bytes are not a contact record. Decoding never panics.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// No bytes at all.
    #[error("contact record is empty")]
    Empty,
    /// A version this code does not read.
    #[error(
        "contact record version {0} is not supported (this reader knows versions 1 to {RECORD_VERSION})"
    )]
    UnknownVersion(u8),
    /// Flag bits that the record's version does not define.
    #[error(
        "contact record flags {0:#04x} set undefined bits (0x01 and 0x02 are defined, and 0x04 in version 2)"
    )]
    UnknownFlags(u8),
    /// A version-2 record without the removed flag (live records are
    /// version 1).
    #[error("contact record version 2 without the removed flag 0x04 (live records are version 1)")]
    LiveVersion2,
    /// The bytes end inside a field.
    #[error("contact record truncated in field `{field}`: needs {need} more bytes, {have} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A NAT class index outside [`NatType::ALL`].
    #[error("contact record NAT class {0} is unknown (expected 0..=5)")]
    UnknownNatClass(u8),
    /// Bytes after the last field.
    #[error("contact record has {0} trailing bytes")]
    TrailingBytes(usize),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < n {
            return Err(RecordError::Truncated {
                field,
                need: n,
                have: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.take(field, 1)?[0])
    }
    fn addr(&mut self, field: &'static str) -> Result<Addr, RecordError> {
        let b = self.take(field, Addr::WIRE_LEN)?;
        Ok(Addr::new(
            [b[0], b[1], b[2], b[3]],
            u16::from_be_bytes([b[4], b[5]]),
        ))
    }
}

fn put_addr(out: &mut Vec<u8>, a: Addr) {
    out.extend_from_slice(&a.ip);
    out.extend_from_slice(&a.port.to_be_bytes());
}

impl ContactRecord {
    /// The record's bytes, as stored in the DHT (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_MAX_LEN);
        let flags = u8::from(self.reflexive.is_some()) * FLAG_REFLEXIVE
            + u8::from(self.super_node.is_some()) * FLAG_SUPER_NODE
            + u8::from(self.removed) * FLAG_REMOVED;
        out.push(if self.removed {
            RECORD_VERSION
        } else {
            RECORD_VERSION_LIVE
        });
        out.push(flags);
        out.extend_from_slice(&self.node_id.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.expires_at.as_micros().to_be_bytes());
        let nat = NatType::ALL
            .iter()
            .position(|n| *n == self.nat)
            .unwrap_or(0);
        out.push(nat as u8);
        put_addr(&mut out, self.host);
        if let Some(a) = self.reflexive {
            put_addr(&mut out, a);
        }
        if let Some(a) = self.super_node {
            put_addr(&mut out, a);
        }
        out
    }

    /// Parses a record; every malformation is an error naming the problem.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { buf: bytes };
        if bytes.is_empty() {
            return Err(RecordError::Empty);
        }
        let version = r.u8("version")?;
        let defined = match version {
            RECORD_VERSION_LIVE => FLAG_REFLEXIVE | FLAG_SUPER_NODE,
            RECORD_VERSION => FLAG_REFLEXIVE | FLAG_SUPER_NODE | FLAG_REMOVED,
            v => return Err(RecordError::UnknownVersion(v)),
        };
        let flags = r.u8("flags")?;
        if flags & !defined != 0 {
            return Err(RecordError::UnknownFlags(flags));
        }
        let removed = flags & FLAG_REMOVED != 0;
        if version == RECORD_VERSION && !removed {
            return Err(RecordError::LiveVersion2);
        }
        let mut id = [0u8; ID_BYTES];
        id.copy_from_slice(r.take("node_id", ID_BYTES)?);
        let mut seq = [0u8; 4];
        seq.copy_from_slice(r.take("seq", 4)?);
        let mut exp = [0u8; 8];
        exp.copy_from_slice(r.take("expires_at", 8)?);
        let nat_ix = r.u8("nat")?;
        let nat = *NatType::ALL
            .get(usize::from(nat_ix))
            .ok_or(RecordError::UnknownNatClass(nat_ix))?;
        let host = r.addr("host")?;
        let reflexive = (flags & FLAG_REFLEXIVE != 0)
            .then(|| r.addr("reflexive"))
            .transpose()?;
        let super_node = (flags & FLAG_SUPER_NODE != 0)
            .then(|| r.addr("super_node"))
            .transpose()?;
        if !r.buf.is_empty() {
            return Err(RecordError::TrailingBytes(r.buf.len()));
        }
        Ok(ContactRecord {
            node_id: NodeId(id),
            seq: u32::from_be_bytes(seq),
            expires_at: Instant::from_micros(u64::from_be_bytes(exp)),
            nat,
            host,
            reflexive,
            super_node,
            removed,
        })
    }
}

/// What a device registers: everything in a [`ContactRecord`] except the
/// sequence number and expiry, which the [`Registrar`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device's overlay node id.
    pub node_id: NodeId,
    /// Its NAT class.
    pub nat: NatType,
    /// Its host address.
    pub host: Addr,
    /// Its reflexive address, if known.
    pub reflexive: Option<Addr>,
    /// Its super node, if any.
    pub super_node: Option<Addr>,
}

/// Registration timing: refresh every `refresh_s`, expire `expires_s` after
/// the last registration (SIP's `Expires`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Refresh period `t`, in seconds (`1..=expires_s`).
    pub refresh_s: u32,
    /// Binding lifetime `e`, in seconds (at least 1); also the DHT TTL.
    pub expires_s: u32,
    /// The DHT's hash, for [`aor_key`].
    pub hash: HashAlg,
}

impl RegistrarConfig {
    /// Checks `1 <= refresh_s <= expires_s`; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.expires_s == 0 {
            return Err(ConfigError::new(
                "registration",
                "expires_s",
                &self.expires_s,
                "at least 1 second",
            ));
        }
        if self.refresh_s == 0 || self.refresh_s > self.expires_s {
            return Err(ConfigError::new(
                "registration",
                "refresh_s",
                &self.refresh_s,
                "between 1 and expires_s, or the binding lapses while the device is online",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Binding {
    key: NodeId,
    record: ContactRecord,
    next_refresh: Instant,
    /// The put of `record` has not been acknowledged yet.
    unconfirmed: bool,
    /// Retries of that put so far.
    retries: u32,
    /// Earlier records still in the DHT, removed once `record` is stored.
    superseded: Vec<ContactRecord>,
}

/// How often a put that reached no replica is retried at once before the
/// registrar waits for the next refresh.
pub const MAX_PUT_RETRIES: u32 = 3;

/// One device's registrations: turns register, refresh and unregister into
/// DHT commands. See the module docs.
///
/// A refresh is *put, confirm, then remove*: [`Registrar::register`] returns
/// only the put of the new record; when the driver reports its
/// [`crate::Event::StoreDone`] through [`Registrar::put_done`], the registrar
/// returns the removal of the record it replaces, or, if the put reached no
/// replica, the same put again (at most [`MAX_PUT_RETRIES`] times). So a
/// failed refresh never takes the device's last stored record with it.
#[derive(Clone, Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    device: Device,
    seq: u32,
    /// By normalized AoR.
    bindings: BTreeMap<String, Binding>,
}

fn put(key: NodeId, r: &ContactRecord, ttl_secs: u32) -> Command {
    Command::Put {
        key,
        value: r.encode(),
        ttl_secs,
    }
}

fn remove(key: NodeId, r: &ContactRecord) -> Command {
    Command::Remove {
        key,
        value: r.encode(),
    }
}

impl Registrar {
    /// A registrar for `device`; the config must pass [`RegistrarConfig::validate`].
    pub fn new(cfg: RegistrarConfig, device: Device) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Registrar {
            cfg,
            device,
            seq: 0,
            bindings: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// Registers (or re-registers) the device under `aor` at `now`: the put
    /// of a fresh record with TTL `expires_s`. The record it replaces is
    /// removed once [`Registrar::put_done`] confirms the put.
    pub fn register(&mut self, now: Instant, aor: &str) -> Result<Vec<Command>, AorError> {
        let name = normalize_aor(aor)?;
        let key = self.cfg.hash.hash(name.as_bytes());
        let record = self.next_record(now);
        let next_refresh = now + Duration::from_secs(u64::from(self.cfg.refresh_s));
        let b = self.bindings.entry(name).or_insert_with(|| Binding {
            key,
            record,
            next_refresh,
            unconfirmed: true,
            retries: 0,
            superseded: Vec::new(),
        });
        if b.record != record {
            let old = std::mem::replace(&mut b.record, record);
            b.superseded.push(old);
            b.next_refresh = next_refresh;
            b.unconfirmed = true;
            b.retries = 0;
        }
        Ok(vec![put(key, &record, self.cfg.expires_s)])
    }

    /// The driver saw the put under `key` finish with `replicas`
    /// acknowledgements: returns the removals of the records it replaces, or
    /// a retry of the put if no replica took it. Nothing if no put under
    /// `key` is waiting.
    pub fn put_done(&mut self, key: NodeId, replicas: u32) -> Vec<Command> {
        let ttl = self.cfg.expires_s;
        let Some(b) = self
            .bindings
            .values_mut()
            .find(|b| b.key == key && b.unconfirmed)
        else {
            return Vec::new();
        };
        if replicas == 0 && b.retries < MAX_PUT_RETRIES {
            b.retries += 1;
            return vec![put(key, &b.record, ttl)];
        }
        b.unconfirmed = false;
        if replicas == 0 {
            return Vec::new(); // keep the old records until the next refresh
        }
        std::mem::take(&mut b.superseded)
            .iter()
            .map(|r| remove(key, r))
            .collect()
    }

    fn next_record(&mut self, now: Instant) -> ContactRecord {
        self.seq = self.seq.wrapping_add(1);
        let d = self.device;
        ContactRecord {
            node_id: d.node_id,
            seq: self.seq,
            expires_at: now + Duration::from_secs(u64::from(self.cfg.expires_s)),
            nat: d.nat,
            host: d.host,
            reflexive: d.reflexive,
            super_node: d.super_node,
            removed: false,
        }
    }

    /// When the next refresh is due, if anything is registered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.values().map(|b| b.next_refresh).min()
    }

    /// Refreshes every binding due at `now`, in AoR order.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Command> {
        let due: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, b)| b.next_refresh <= now)
            .map(|(a, _)| a.clone())
            .collect();
        let mut cmds = Vec::new();
        for aor in due {
            // The name is already normalized, so this cannot fail.
            cmds.extend(self.register(now, &aor).unwrap_or_default());
        }
        cmds
    }

    /// How many AoRs the device is registered under.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether the device is registered under no AoR.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// The record currently registered under `aor`, if any.
    pub fn current(&self, aor: &str) -> Option<ContactRecord> {
        let name = normalize_aor(aor).ok()?;
        self.bindings.get(&name).map(|b| b.record)
    }

    /// Removes the registration under `aor` at `now` (nothing if there is
    /// none): the put of a tombstone that outlives none of the records it
    /// hides, then the removals of those records (older ones still awaiting
    /// removal included). No tombstone if they have all expired.
    pub fn unregister(&mut self, now: Instant, aor: &str) -> Result<Vec<Command>, AorError> {
        let name = normalize_aor(aor)?;
        Ok(match self.bindings.remove(&name) {
            Some(b) => self.removals(now, b),
            None => Vec::new(),
        })
    }

    fn removals(&mut self, now: Instant, b: Binding) -> Vec<Command> {
        let mut cmds = Vec::new();
        let until = b
            .superseded
            .iter()
            .map(|r| r.expires_at)
            .fold(b.record.expires_at, Instant::max);
        let ttl_secs = until
            .as_micros()
            .saturating_sub(now.as_micros())
            .div_ceil(1_000_000);
        if ttl_secs > 0 {
            self.seq = self.seq.wrapping_add(1);
            let tombstone = ContactRecord {
                seq: self.seq,
                expires_at: until,
                removed: true,
                ..b.record
            };
            cmds.push(put(
                b.key,
                &tombstone,
                ttl_secs.min(u64::from(u32::MAX)) as u32,
            ));
        }
        cmds.extend(
            b.superseded
                .iter()
                .chain([&b.record])
                .map(|r| remove(b.key, r)),
        );
        cmds
    }

    /// Graceful leave at `now`: removes every registration as
    /// [`Registrar::unregister`] does, in AoR order. Issue these before
    /// [`Command::Leave`].
    pub fn unregister_all(&mut self, now: Instant) -> Vec<Command> {
        std::mem::take(&mut self.bindings)
            .into_values()
            .flat_map(|b| self.removals(now, b))
            .collect::<Vec<_>>()
    }
}

/// A user's contacts as read from the DHT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contacts {
    /// The newest live record per node id, in node-id order (never a
    /// tombstone).
    pub records: Vec<ContactRecord>,
    /// Values that did not decode.
    pub malformed: usize,
    /// Records (tombstones included) whose `expires_at` had passed.
    pub expired: usize,
    /// Older records superseded by a newer one (or a tombstone) for the
    /// same node id.
    pub superseded: usize,
    /// Devices dropped because their newest record is a tombstone.
    pub removed: usize,
}

/// Turns the values of a get (of one holder or the union of several) into
/// contacts at `now`: drops undecodable values and records with
/// `expires_at <= now`, takes the newest record (latest `expires_at`, then
/// highest `seq`) per node id, and drops the devices whose newest record is
/// a tombstone.
pub fn read_contacts(values: &[Vec<u8>], now: Instant) -> Contacts {
    let mut out = Contacts::default();
    let mut newest: BTreeMap<NodeId, ContactRecord> = BTreeMap::new();
    for v in values {
        let Ok(r) = ContactRecord::decode(v) else {
            out.malformed += 1;
            continue;
        };
        if r.expires_at <= now {
            out.expired += 1;
            continue;
        }
        match newest.get_mut(&r.node_id) {
            Some(cur) => {
                out.superseded += 1;
                if (r.expires_at, r.seq) > (cur.expires_at, cur.seq) {
                    *cur = r;
                }
            }
            None => {
                newest.insert(r.node_id, r);
            }
        }
    }
    out.records = newest
        .into_values()
        .filter(|r| {
            out.removed += usize::from(r.removed);
            !r.removed
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(b: u8) -> Device {
        Device {
            node_id: NodeId([b; ID_BYTES]),
            nat: NatType::Symmetric,
            host: Addr::new([10, 0, 0, b], 5060),
            reflexive: Some(Addr::new([1, 2, 3, b], 40000)),
            super_node: None,
        }
    }

    fn cfg() -> RegistrarConfig {
        RegistrarConfig {
            refresh_s: 600,
            expires_s: 1200,
            hash: HashAlg::Sha1,
        }
    }

    #[test]
    fn aors_are_normalized_before_hashing() {
        assert_eq!(
            normalize_aor("  sip:Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(
            aor_key(HashAlg::Sha1, "SIP:alice@example.com").unwrap(),
            NodeId::from_name(HashAlg::Sha1, "alice@example.com")
        );
        for (bad, why) in [
            ("alice", "missing `@`"),
            ("@example.com", "empty user part"),
            ("sip:alice@", "empty domain part"),
            ("a@b@c", "more than one `@`"),
            ("al ice@x", "contains whitespace or control characters"),
        ] {
            let e = normalize_aor(bad).unwrap_err();
            assert_eq!(e.reason, why, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn refresh_must_not_exceed_expiry_and_the_error_names_the_field() {
        let mut c = cfg();
        c.refresh_s = 1201;
        assert_eq!(c.validate().unwrap_err().field, "refresh_s");
        c.refresh_s = 0;
        assert_eq!(c.validate().unwrap_err().field, "refresh_s");
        c.expires_s = 0;
        assert_eq!(c.validate().unwrap_err().field, "expires_s");
        assert!(Registrar::new(c, device(1)).is_err());
        c.expires_s = 5;
        c.refresh_s = 5;
        assert!(c.validate().is_ok(), "t = e is allowed");
    }

    #[test]
    fn register_refresh_and_unregister_become_put_confirm_remove() {
        let mut r = Registrar::new(cfg(), device(7)).unwrap();
        let t0 = Instant::from_secs(100);
        let key = aor_key(HashAlg::Sha1, "alice@example.com").unwrap();
        let cmds = r.register(t0, "sip:Alice@example.com").unwrap();
        let [
            Command::Put {
                key: k,
                value: v1,
                ttl_secs: 1200,
            },
        ] = &cmds[..]
        else {
            panic!("expected one put with ttl 1200, got {cmds:?}");
        };
        assert_eq!(*k, key);
        let rec1 = ContactRecord::decode(v1).unwrap();
        assert_eq!(rec1.expires_at, Instant::from_secs(1300));
        assert!(r.put_done(key, 5).is_empty(), "nothing to replace");
        assert!(r.put_done(key, 5).is_empty(), "nothing waiting");
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(700)));
        assert!(r.handle_timeout(Instant::from_secs(699)).is_empty());
        let cmds = r.handle_timeout(Instant::from_secs(700));
        let [Command::Put { value: v2, .. }] = &cmds[..] else {
            panic!("expected one put, got {cmds:?}");
        };
        let rec2 = ContactRecord::decode(v2).unwrap();
        assert_eq!((rec2.seq, rec2.expires_at), (2, Instant::from_secs(1900)));
        // A put that reached no replica is retried, the old record kept.
        for _ in 0..MAX_PUT_RETRIES {
            assert_eq!(
                r.put_done(key, 0),
                vec![Command::Put {
                    key,
                    value: v2.clone(),
                    ttl_secs: 1200
                }]
            );
        }
        assert!(r.put_done(key, 0).is_empty(), "retries exhausted");
        assert!(r.put_done(key, 3).is_empty(), "no longer waiting");
        let cmds = r.handle_timeout(Instant::from_secs(1300));
        let [Command::Put { value: v3, .. }] = &cmds[..] else {
            panic!("expected one put, got {cmds:?}");
        };
        // Confirmed: both older records go.
        assert_eq!(
            r.put_done(key, 3),
            vec![
                Command::Remove {
                    key,
                    value: v1.clone()
                },
                Command::Remove {
                    key,
                    value: v2.clone()
                }
            ]
        );
        assert_eq!(r.current("alice@example.com").unwrap().seq, 3);
        // Leaving 100 s later: a tombstone outranking v3 (next seq, removed)
        // that lives exactly as long as v3 could (1300 + 1200 s), then v3's
        // removal.
        let rec3 = ContactRecord::decode(v3).unwrap();
        let tomb = ContactRecord {
            seq: 4,
            removed: true,
            ..rec3
        };
        assert_eq!(rec3.expires_at, Instant::from_secs(2500));
        assert_eq!(
            r.unregister_all(Instant::from_secs(1400)),
            vec![
                Command::Put {
                    key,
                    value: tomb.encode(),
                    ttl_secs: 1100
                },
                Command::Remove {
                    key,
                    value: v3.clone()
                }
            ]
        );
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(
            r.unregister(Instant::from_secs(1400), "alice@example.com")
                .unwrap(),
            vec![]
        );
    }

    #[test]
    fn unregistering_hides_every_pending_record_and_skips_a_lapsed_tombstone() {
        let mut r = Registrar::new(cfg(), device(3)).unwrap();
        let key = aor_key(HashAlg::Sha1, "bob@x").unwrap();
        let value = |c: &Command| match c {
            Command::Put { value, .. } | Command::Remove { value, .. } => value.clone(),
            c => panic!("{c:?}"),
        };
        let v1 = value(&r.register(Instant::from_secs(0), "bob@x").unwrap()[0]);
        // A refresh whose put is not confirmed yet: v1 still awaits removal.
        let v2 = value(&r.register(Instant::from_secs(600), "bob@x").unwrap()[0]);
        let cmds = r
            .unregister(Instant::from_micros(700_500_000), "bob@x")
            .unwrap();
        let [
            Command::Put {
                key: k,
                value: t,
                ttl_secs,
            },
            Command::Remove { value: r1, .. },
            Command::Remove { value: r2, .. },
        ] = &cmds[..]
        else {
            panic!("expected a tombstone and two removals, got {cmds:?}");
        };
        assert_eq!((*k, r1, r2), (key, &v1, &v2));
        let t = ContactRecord::decode(t).unwrap();
        // v2 expires at 1800 s: 1099.5 s left, rounded up.
        assert_eq!(*ttl_secs, 1100);
        assert_eq!(
            (t.seq, t.removed, t.expires_at, t.node_id),
            (3, true, Instant::from_secs(1800), device(3).node_id)
        );
        // Every record has lapsed: nothing to hide, no tombstone.
        r.register(Instant::from_secs(2000), "bob@x").unwrap();
        let cmds = r.unregister(Instant::from_secs(3200), "bob@x").unwrap();
        assert!(
            matches!(&cmds[..], [Command::Remove { .. }]),
            "no tombstone for lapsed records: {cmds:?}"
        );
    }

    /// A live record, a newer tombstone for device 1, and helpers.
    fn rec(dev: u8, seq: u32, expires_s: u64, removed: bool) -> Vec<u8> {
        ContactRecord {
            node_id: NodeId([dev; ID_BYTES]),
            seq,
            expires_at: Instant::from_secs(expires_s),
            nat: NatType::Open,
            host: Addr::new([10, 0, 0, dev], 5060),
            reflexive: None,
            super_node: None,
            removed,
        }
        .encode()
    }

    #[test]
    fn merged_reads_take_the_newest_record_and_tombstones_hide_devices() {
        let ids = |c: &Contacts| -> Vec<(u8, u32)> {
            c.records.iter().map(|r| (r.node_id.0[0], r.seq)).collect()
        };
        let t = Instant::from_secs;
        // Holder A missed device 1's removal; holder B has the tombstone.
        let a = vec![rec(1, 5, 900, false), rec(2, 1, 800, false)];
        let b = vec![rec(1, 6, 900, true), rec(2, 1, 800, false)];
        let stale = read_contacts(&a, t(100));
        assert_eq!(ids(&stale), vec![(1, 5), (2, 1)], "one stale holder");
        for merged in [
            [a.clone(), b.clone()].concat(),
            [b.clone(), a.clone()].concat(),
        ] {
            let c = read_contacts(&merged, t(100));
            assert_eq!(ids(&c), vec![(2, 1)], "the tombstone wins in any order");
            assert_eq!((c.removed, c.superseded, c.malformed), (1, 2, 0));
        }
        // A newer registration (later expiry, seq restarted after a crash)
        // outranks the tombstone; malformed values are skipped and counted.
        let back = rec(1, 1, 1000, false);
        let c = read_contacts(
            &[b.clone(), vec![back.clone()], vec![vec![2, 0]]].concat(),
            t(100),
        );
        assert_eq!(ids(&c), vec![(1, 1), (2, 1)]);
        assert_eq!((c.removed, c.malformed), (0, 1));
        // Past its expiry the tombstone is dropped like the record it hid.
        let c = read_contacts(&[a, b].concat(), t(900));
        assert_eq!(ids(&c), Vec::<(u8, u32)>::new());
        assert_eq!((c.expired, c.removed), (4, 0));
    }

    #[test]
    fn reading_keeps_the_newest_live_record_per_device() {
        let mut a = Registrar::new(cfg(), device(1)).unwrap();
        let mut b = Registrar::new(cfg(), device(2)).unwrap();
        let put = |cmds: Vec<Command>| match &cmds[0] {
            Command::Put { value, .. } => value.clone(),
            c => panic!("{c:?}"),
        };
        let a1 = put(a.register(Instant::from_secs(0), "u@x").unwrap());
        let a2 = put(a.register(Instant::from_secs(10), "u@x").unwrap());
        let b1 = put(b.register(Instant::from_secs(5), "u@x").unwrap());
        let values = vec![a2.clone(), b1.clone(), a1.clone(), vec![9, 9]];
        let c = read_contacts(&values, Instant::from_secs(1000));
        assert_eq!(
            c.records,
            vec![
                ContactRecord::decode(&a2).unwrap(),
                ContactRecord::decode(&b1).unwrap()
            ]
        );
        assert_eq!((c.malformed, c.expired, c.superseded), (1, 0, 1));
        // b1 expires at 1205 s, a1 at 1200 s, a2 at 1210 s.
        let c = read_contacts(&values, Instant::from_secs(1205));
        assert_eq!(c.records, vec![ContactRecord::decode(&a2).unwrap()]);
        assert_eq!(c.expired, 2);
    }

    #[test]
    fn live_records_keep_the_version_1_layout_and_tombstones_are_version_2() {
        // Built by hand from the table in the module docs.
        let mut v1 = vec![1, 0x01];
        v1.extend_from_slice(&[7; ID_BYTES]);
        v1.extend_from_slice(&[0, 0, 1, 2]); // seq 258
        v1.extend_from_slice(&5_000_000u64.to_be_bytes()); // 5 s
        v1.push(2); // NatType::ALL[2]
        v1.extend_from_slice(&[10, 0, 0, 7, 0x13, 0xc4]); // host :5060
        v1.extend_from_slice(&[1, 2, 3, 4, 0x9c, 0x40]); // reflexive :40000
        let live = ContactRecord {
            node_id: NodeId([7; ID_BYTES]),
            seq: 258,
            expires_at: Instant::from_secs(5),
            nat: NatType::ALL[2],
            host: Addr::new([10, 0, 0, 7], 5060),
            reflexive: Some(Addr::new([1, 2, 3, 4], 40000)),
            super_node: None,
            removed: false,
        };
        assert_eq!(live.encode(), v1);
        assert_eq!(ContactRecord::decode(&v1), Ok(live));
        let mut v2 = v1.clone();
        v2[0] = 2;
        v2[1] = 0x05;
        let tomb = ContactRecord {
            removed: true,
            ..live
        };
        assert_eq!(tomb.encode(), v2);
        assert_eq!(ContactRecord::decode(&v2), Ok(tomb));
        // The removed flag exists only in version 2, and only set.
        let mut bad = v1.clone();
        bad[1] = 0x05;
        assert_eq!(
            ContactRecord::decode(&bad),
            Err(RecordError::UnknownFlags(0x05))
        );
        let mut bad = v2.clone();
        bad[1] = 0x01;
        assert_eq!(ContactRecord::decode(&bad), Err(RecordError::LiveVersion2));
        assert!(
            RecordError::LiveVersion2
                .to_string()
                .contains("removed flag")
        );
    }

    #[test]
    fn decode_errors_name_the_problem() {
        let rec = ContactRecord {
            node_id: NodeId([3; ID_BYTES]),
            seq: 1,
            expires_at: Instant::from_secs(9),
            nat: NatType::Open,
            host: Addr::new([1, 1, 1, 1], 1),
            reflexive: None,
            super_node: Some(Addr::new([2, 2, 2, 2], 2)),
            removed: false,
        };
        let b = rec.encode();
        assert_eq!(b.len(), RECORD_MIN_LEN + Addr::WIRE_LEN);
        assert_eq!(ContactRecord::decode(&b), Ok(rec));
        assert_eq!(ContactRecord::decode(&[]), Err(RecordError::Empty));
        let mut v = b.clone();
        v[0] = 3;
        assert_eq!(
            ContactRecord::decode(&v),
            Err(RecordError::UnknownVersion(3))
        );
        let mut v = b.clone();
        v[1] |= 0x80;
        assert_eq!(
            ContactRecord::decode(&v),
            Err(RecordError::UnknownFlags(0x82))
        );
        let mut v = b.clone();
        v[2 + ID_BYTES + 12] = 6;
        assert_eq!(
            ContactRecord::decode(&v),
            Err(RecordError::UnknownNatClass(6))
        );
        assert_eq!(
            ContactRecord::decode(&b[..b.len() - 1]),
            Err(RecordError::Truncated {
                field: "super_node",
                need: 6,
                have: 5
            })
        );
        let mut v = b.clone();
        v.push(0);
        assert_eq!(
            ContactRecord::decode(&v),
            Err(RecordError::TrailingBytes(1))
        );
    }
}
