//! Calls and synthetic media: a caller, a callee and a relay as one sans-IO
//! state machine ([`MediaEngine`]).
//!
//! A call goes:
//!
//! 1. **Relay allocation** (relayed calls only): the caller sends
//!    [`Body::RelayAllocate`] naming the callee's address; the relay answers
//!    [`Body::RelayAnswer`] and from then on forwards the call's
//!    [`Body::Media`] datagrams between the two legs (the caller's source
//!    address and the callee's address), unchanged.
//! 2. **Offer**: the caller sends [`Body::CallOffer`] to the callee with the
//!    frame count, the frame interval and payload size, and where the callee
//!    must send its media (the relay, or the caller itself). The callee answers
//!    [`Body::CallAnswer`] and starts sending at once.
//! 3. **Media**: both sides send `frames` synthetic frames, one every
//!    `frame_ms`, each with the call id, a sequence number from 0 and the send
//!    time in the sender's *media clock*. If a timer fires late, every frame
//!    that is due goes out at once, so the count never depends on timer jitter.
//!    The receiver of each direction counts frames and bytes, loss (by
//!    sequence number, against the sender's count), the longest gap between
//!    consecutive frames (the interruption) and the mean one-way delay.
//! 4. **Hangup**: [`LINGER`] after its last frame, the caller sends
//!    [`Body::Hangup`] with its frame count to the callee (and the relays
//!    still carrying the call); each answers [`Body::CallReport`]. The caller
//!    then emits [`MediaEvent::CallDone`] with both directions and the
//!    relays' counts.
//!
//! Signalling requests are retried every [`RETRY`] up to [`MAX_TRIES`] times.
//!
//! # Passive relay failover
//!
//! A relayed call names its relay candidates in order ([`CallSpec::relays`]).
//! Setup allocates the first that accepts. While the caller streams, it
//! watches the media coming back through the current relay: when none has
//! arrived for [`CallSpec::detect`] (default [`DEFAULT_DETECT`]), the relay is
//! taken as lost. The caller then allocates the next candidate (a refusal or
//! no answer moves on to the one after), sends its own frames through it,
//! and tells the callee with [`Body::RelaySwitch`] (retried like the other
//! requests, numbered by an epoch so a stale copy changes nothing), after
//! which the callee sends through the new relay too. With no candidate left
//! the caller stops and hangs up: the call ends [`CallEnd::RelayLost`].
//!
//! An *interruption* runs from the last frame the caller received through
//! the lost relay to the first it receives through its replacement (or to
//! the hangup, if none comes); [`CallSummary`] records the relays used, the
//! switches, the interruptions and their total length, and what each relay
//! carried; frames lost are in each direction's report. Frames sent towards
//! a dead relay are lost, so the analytic loss is the frames each side sends
//! between the relay's death and the moment it learns of the switch (see the
//! tests in `media/tests.rs`).
//!
//! # Active failover
//!
//! With [`CallSpec::redundancy`] k > 1, setup allocates the first k
//! candidates that accept; both sides send every frame through each of them
//! (the callee learns the set from a [`Body::RelaySwitch`] right after it
//! answers), and each receiver keeps the first copy of a sequence number.
//! Each relay is watched on its own: a lost one is replaced by the next
//! candidate, or, with none left, dropped from the set. The call goes on
//! while any relay carries it; an interruption is counted only when every
//! relay of the set is lost at once, and the call ends `relay-lost` only
//! when the set is empty.
//!
//! # Time and one-way delay
//!
//! Timers run on the injected [`Instant`]. Frame timestamps use the media
//! clock: `now + clock_offset`, where the driver chooses the offset so that
//! all engines that measure delay against each other share one clock. The
//! live node uses microseconds since the Unix epoch, anchored once per
//! process: nodes in one process share the process clock exactly; nodes in
//! separate processes on one host share the host's clock, up to the few
//! microseconds between each process reading its anchor (and any clock step
//! in between). Across hosts the delay would include the hosts' clock offset.
//!
//! # Sizes
//!
//! A voice frame at 64 kb/s every 20 ms carries 160 bytes of payload
//! ([`MediaProfile::VOICE_64K`]); its datagram is the 30-byte message header,
//! then call id (8), sequence number (4), send time (8), payload length (2) and
//! the payload: 212 bytes ([`MediaProfile::datagram_len`]).

use crate::addr::Addr;
use crate::id::NodeId;
use crate::protocol::Transmit;
use crate::time::{Duration, Instant};
use crate::wire::{Body, HEADER_LEN, MAX_VALUE_LEN, Message, MsgKind};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How long the caller waits after its last frame before hanging up, so
/// frames in flight arrive before the reports are made.
pub const LINGER: Duration = Duration::from_millis(250);
/// Wait between tries of a signalling request.
pub const RETRY: Duration = Duration::from_millis(300);
/// Tries of a signalling request before giving up.
pub const MAX_TRIES: u32 = 4;
/// How long a callee or relay keeps a call's state after the hangup (to
/// answer a retried hangup), or after its last frame if no hangup comes.
pub const KEEP: Duration = Duration::from_secs(30);
/// Longest call a callee accepts, in milliseconds of media (an hour): an
/// offer is a request to stream, so it must not commit the node to stream
/// forever to whatever `send_to` says.
pub const MAX_CALL_MS: u64 = 3_600_000;
/// Most frames the receiver tracks sequence numbers for, per call direction.
pub const MAX_TRACKED_FRAMES: usize = 1 << 20;
/// How long the caller waits without media from its relay before it fails
/// over to the next candidate (see [`CallSpec::detect`]): one second is 50
/// voice frames, far beyond ordinary jitter or a short loss burst, yet short
/// enough that a listener hears a dropout rather than a dead call.
pub const DEFAULT_DETECT: Duration = Duration::from_secs(1);
/// Relays a callee accepts media from for one call (the offer's plus those
/// of later switches; the oldest is forgotten beyond this).
pub const MAX_CALL_RELAYS: usize = 16;

/// Frame size and rate of a synthetic stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaProfile {
    /// Milliseconds between frames (at least 1).
    pub frame_ms: u16,
    /// Payload bytes per frame (at most [`MAX_VALUE_LEN`]).
    pub payload_len: u16,
}

impl MediaProfile {
    /// Voice at 64 kb/s in 20 ms frames (G.711): 160-byte payloads.
    pub const VOICE_64K: MediaProfile = MediaProfile {
        frame_ms: 20,
        payload_len: 160,
    };
    /// Video at 256 kb/s in 20 ms frames: 640-byte payloads.
    pub const VIDEO_256K: MediaProfile = MediaProfile {
        frame_ms: 20,
        payload_len: 640,
    };

    /// The profile for `bitrate_bps` in `frame_ms` frames, if the payload
    /// fits one datagram's value limit.
    pub fn from_bitrate(bitrate_bps: u32, frame_ms: u16) -> Option<Self> {
        let bytes = u64::from(bitrate_bps) * u64::from(frame_ms) / 8000;
        let payload_len = u16::try_from(bytes).ok()?;
        (frame_ms > 0 && usize::from(payload_len) <= MAX_VALUE_LEN).then_some(MediaProfile {
            frame_ms,
            payload_len,
        })
    }

    /// Frames in a call of `length` (rounded down).
    pub fn frames_for(&self, length: Duration) -> u32 {
        let per = u64::from(self.frame_ms.max(1)) * 1000;
        u32::try_from(length.as_micros() / per).unwrap_or(u32::MAX)
    }

    /// Encoded size of one frame's datagram, in bytes.
    pub fn datagram_len(&self) -> usize {
        HEADER_LEN + 8 + 4 + 8 + 2 + usize::from(self.payload_len)
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.frame_ms.max(1)))
    }
}

/// Whether the engine, not the DHT, handles messages of this kind.
pub fn is_media(kind: MsgKind) -> bool {
    matches!(
        kind,
        MsgKind::RelayAllocate
            | MsgKind::RelayAnswer
            | MsgKind::CallOffer
            | MsgKind::CallAnswer
            | MsgKind::Media
            | MsgKind::Hangup
            | MsgKind::CallReport
            | MsgKind::RelaySwitch
            | MsgKind::RelaySwitchAck
    )
}

/// What the receiver of one direction of a call saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Distinct frames received.
    pub received: u32,
    /// Datagram bytes received (duplicates included).
    pub bytes: u64,
    /// Duplicate frames (same sequence number again).
    pub duplicates: u32,
    /// Longest time between consecutive frames, microseconds.
    pub max_gap_us: u64,
    delay_sum_us: u128,
    last_at: Option<Instant>,
    seen: BTreeSet<u32>,
}

impl FrameStats {
    /// Records a frame that arrived at `now` (media clock `now_media`).
    fn on_frame(&mut self, now: Instant, now_media: u64, seq: u32, sent_at: u64, bytes: usize) {
        self.bytes += bytes as u64;
        if self.seen.contains(&seq) {
            self.duplicates += 1;
            return;
        }
        if self.seen.len() < MAX_TRACKED_FRAMES {
            self.seen.insert(seq);
        }
        self.received += 1;
        self.delay_sum_us += u128::from(now_media.saturating_sub(sent_at));
        if let Some(last) = self.last_at {
            self.max_gap_us = self.max_gap_us.max(now.saturating_since(last).as_micros());
        }
        self.last_at = Some(now);
    }

    /// Frames missing out of the `sent` the sender sent (sequence numbers
    /// `0..sent` not received).
    pub fn lost(&self, sent: u32) -> u32 {
        let got = self.seen.range(..sent).count();
        sent.saturating_sub(u32::try_from(got).unwrap_or(u32::MAX))
    }

    /// Mean one-way delay in microseconds (0 with no frames).
    pub fn mean_delay_us(&self) -> u64 {
        if self.received == 0 {
            0
        } else {
            u64::try_from(self.delay_sum_us / u128::from(self.received)).unwrap_or(u64::MAX)
        }
    }
}

/// One direction of a finished call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectionReport {
    /// Frames the sender sent.
    pub sent: u32,
    /// Distinct frames the receiver got.
    pub received: u32,
    /// Datagram bytes the receiver got.
    pub bytes: u64,
    /// Frames missing by sequence number.
    pub lost: u32,
    /// Longest interruption: the longest time between consecutive frames, µs.
    pub max_gap_us: u64,
    /// Mean one-way delay, µs (media clocks; see the module docs).
    pub mean_delay_us: u64,
}

/// What a relay forwarded for one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Frames forwarded, both legs.
    pub frames: u32,
    /// Datagram bytes forwarded, both legs.
    pub bytes: u64,
}

/// What one relay carried for a call the engine placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayUse {
    /// The relay's address.
    pub relay: Addr,
    /// Frames the caller sent through it.
    pub sent: u32,
    /// Frames (duplicates included) the caller received through it.
    pub received: u32,
    /// Its own counts, if it answered the hangup (only the relays still
    /// carrying the call at the end are asked; one left behind by a switch
    /// is presumed gone).
    pub report: Option<RelayReport>,
}

/// How a call that was set up ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// Every frame was sent and the caller hung up.
    Completed,
    /// The relay was lost and no candidate was left to replace it; the
    /// caller stopped sending and hung up early.
    RelayLost,
}

impl CallEnd {
    /// `completed` or `relay-lost` (the simulator's failure name).
    pub fn name(self) -> &'static str {
        match self {
            CallEnd::Completed => "completed",
            CallEnd::RelayLost => "relay-lost",
        }
    }
}

/// The outcome of a call this engine placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSummary {
    /// The call id.
    pub call: u64,
    /// The callee's address.
    pub callee: Addr,
    /// The (first) relay carrying the call at its end, or the last one lost;
    /// `None` for a direct call.
    pub relay: Option<Addr>,
    /// How the call ended.
    pub end: CallEnd,
    /// Every relay that carried the call, in order of use.
    pub relays: Vec<RelayUse>,
    /// Relay switches (passive failovers that found a replacement).
    pub switches: u32,
    /// Interruptions: losses of the relay's media (see the module docs).
    pub interruptions: u32,
    /// Their total length, µs.
    pub interrupted_us: u64,
    /// From `started` (given to [`MediaEngine::start_call`]) to the first frame sent, µs.
    pub setup_us: u64,
    /// Caller to callee, from the callee's report (`None` if it never came).
    pub forward: Option<DirectionReport>,
    /// Callee to caller, as the caller received it (`sent` from the callee's
    /// report; `None` if it never came).
    pub backward: Option<DirectionReport>,
    /// Frames the caller sent.
    pub caller_sent: u32,
    /// Frames the caller received from the callee.
    pub caller_received: u32,
    /// The counts of the relays that answered the hangup, summed (`None`
    /// for a direct call, or if none answered).
    pub relayed: Option<RelayReport>,
}

/// Why a call could not be placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    /// The relay did not answer the allocation.
    #[error("relay {0} did not answer the allocation request")]
    RelayUnreachable(Addr),
    /// The relay refused the allocation.
    #[error("relay {0} refused to relay the call")]
    RelayRefused(Addr),
    /// The callee did not answer the offer.
    #[error("callee {0} did not answer the call offer")]
    CalleeUnreachable(Addr),
    /// The callee refused the call.
    #[error("callee {0} refused the call")]
    CalleeRefused(Addr),
}

/// What the engine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// A call this engine placed finished or failed.
    CallDone {
        /// The call id.
        call: u64,
        /// The summary, or why the call failed.
        outcome: Result<CallSummary, CallFailure>,
    },
}

/// A call to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpec {
    /// The callee's address (from its contact record).
    pub callee: Addr,
    /// Relay candidates in failover order; empty for a direct call. Setup
    /// uses the first that accepts, each failover the next.
    pub relays: Vec<Addr>,
    /// How long without media from a relay before it counts as lost (raised
    /// to two frame intervals if shorter); [`DEFAULT_DETECT`] is a good value.
    pub detect: Duration,
    /// Relays carrying the media at once (active failover: every frame goes
    /// through each, the receiver keeps the first copy). 1 (or 0) is a
    /// single relay with passive failover only; more than there are
    /// candidates uses every candidate that accepts.
    pub redundancy: u8,
    /// Frames each side sends.
    pub frames: u32,
    /// Frame size and rate.
    pub profile: MediaProfile,
    /// When call setup started (e.g. the callee lookup), for the setup latency.
    pub started: Instant,
}

/// The engine's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Calls placed.
    pub calls_placed: u64,
    /// Calls answered.
    pub calls_answered: u64,
    /// Calls accepted for relaying.
    pub relayed_calls: u64,
    /// Frames forwarded as a relay.
    pub relayed_frames: u64,
    /// Bytes forwarded as a relay.
    pub relayed_bytes: u64,
    /// Media-kind messages dropped (unknown call, wrong source, stale switch).
    pub dropped: u64,
    /// Relay switches made as a caller (passive failover).
    pub switches: u64,
}

/// A signalling request awaiting its answer.
#[derive(Clone, Debug)]
struct Pending {
    dst: Addr,
    msg: Message,
    tries: u32,
    next_at: Instant,
}

#[derive(Clone, Debug)]
enum Phase {
    Allocating(Pending),
    Offering(Pending),
    Streaming {
        next_at: Instant,
    },
    Lingering {
        until: Instant,
    },
    Ending {
        callee: Option<Pending>,
        relays: Vec<Pending>,
    },
}

/// One relay of a placed call's current set.
#[derive(Clone, Copy, Debug)]
struct Hop {
    relay: Addr,
    /// The last frame received through it, or when it took over.
    last_rx: Instant,
    /// Silent for the detection time: being replaced (the caller still
    /// sends through it until then; the callee no longer does once told).
    lost: bool,
}

/// A placed call's relays and its failover state.
#[derive(Clone, Debug)]
struct Failover {
    /// Index in `spec.relays` of the next candidate to try.
    next: usize,
    /// The relays carrying the media now, in order.
    set: Vec<Hop>,
    /// Every relay that accepted, in order of use.
    legs: Vec<RelayUse>,
    /// Switches sent to the callee (the last one's epoch).
    epoch: u32,
    /// Allocating a relay (a replacement once streaming).
    alloc: Option<Pending>,
    /// Telling the callee about the last switch.
    notify: Option<Pending>,
    /// An interruption in progress, since the last frame before it.
    outage: Option<Instant>,
    switches: u32,
    interruptions: u32,
    interrupted_us: u64,
    end: CallEnd,
}

#[derive(Clone, Debug)]
struct OutCall {
    spec: CallSpec,
    phase: Phase,
    sent: u32,
    setup_us: Option<u64>,
    rx: FrameStats,
    forward: Option<DirectionReport>,
    callee_sent: Option<u32>,
    relayed: Option<RelayReport>,
    fo: Failover,
}

impl OutCall {
    /// Where the caller's frames go now.
    fn media_dsts(&self) -> Vec<Addr> {
        if self.spec.relays.is_empty() {
            vec![self.spec.callee]
        } else {
            self.fo.set.iter().map(|h| h.relay).collect()
        }
    }

    fn detect(&self) -> Duration {
        let twice = Duration::from_micros(self.spec.profile.interval().as_micros() * 2);
        self.spec.detect.max(twice)
    }

    /// When the first relay still carrying media counts as lost if no frame
    /// comes through it first.
    fn watch_at(&self) -> Option<Instant> {
        let detect = self.detect();
        self.fo
            .set
            .iter()
            .filter(|h| !h.lost)
            .map(|h| h.last_rx + detect)
            .min()
    }

    /// The next relay candidate, if any is left.
    fn next_candidate(&mut self) -> Option<Addr> {
        let r = self.spec.relays.get(self.fo.next).copied();
        self.fo.next += usize::from(r.is_some());
        r
    }

    /// Relays wanted at once.
    fn redundancy(&self) -> usize {
        usize::from(self.spec.redundancy.max(1))
    }

    /// Adds `relay`, which accepted, to the set (in place of a lost one).
    fn take_relay(&mut self, now: Instant, relay: Addr) {
        let hop = Hop {
            relay,
            last_rx: now,
            lost: false,
        };
        match self.fo.set.iter().position(|h| h.lost) {
            Some(i) => self.fo.set[i] = hop,
            None => self.fo.set.push(hop),
        }
        self.fo.legs.push(RelayUse {
            relay,
            sent: 0,
            received: 0,
            report: None,
        });
    }
}

#[derive(Clone, Debug)]
struct InCall {
    caller: Addr,
    /// Where each frame goes (the offer's `send_to`, then each switch's set).
    targets: Vec<Addr>,
    /// Every address media may come from: the offer's `send_to` and the
    /// relays of later switches (at most [`MAX_CALL_RELAYS`]).
    sources: Vec<Addr>,
    /// The last switch applied (0: none).
    epoch: u32,
    frames: u32,
    profile: MediaProfile,
    sent: u32,
    next_at: Instant,
    rx: FrameStats,
    expires: Instant,
}

#[derive(Clone, Debug)]
struct RelayLeg {
    a: Addr,
    b: Addr,
    report: RelayReport,
    expires: Instant,
}

/// Caller, callee and relay for one node. See the module docs.
#[derive(Clone, Debug)]
pub struct MediaEngine {
    id: NodeId,
    local: Addr,
    clock_offset_us: u64,
    relay_enabled: bool,
    next_txid: u64,
    next_call: u64,
    out: BTreeMap<u64, OutCall>,
    incoming: BTreeMap<u64, InCall>,
    relays: BTreeMap<u64, RelayLeg>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MediaEvent>,
    stats: MediaStats,
}

impl MediaEngine {
    /// An engine for node `id` at `local`. Frame timestamps are
    /// `now + clock_offset_us` (see the module docs); `relay_enabled` says
    /// whether it accepts relay allocations.
    pub fn new(id: NodeId, local: Addr, clock_offset_us: u64, relay_enabled: bool) -> Self {
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&id.0[..8]);
        let base = u64::from_be_bytes(seed);
        MediaEngine {
            id,
            local,
            clock_offset_us,
            relay_enabled,
            next_txid: base.rotate_left(17) | 1,
            next_call: base,
            out: BTreeMap::new(),
            incoming: BTreeMap::new(),
            relays: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: MediaStats::default(),
        }
    }

    /// The media clock at `now`, µs.
    pub fn media_clock(&self, now: Instant) -> u64 {
        now.as_micros().saturating_add(self.clock_offset_us)
    }

    /// The counters.
    pub fn stats(&self) -> MediaStats {
        self.stats
    }

    fn txid(&mut self) -> u64 {
        self.next_txid = self.next_txid.wrapping_add(1);
        self.next_txid
    }

    fn send(&mut self, dst: Addr, msg: Message) {
        self.transmits.push_back(Transmit {
            src: self.local,
            dst,
            msg,
        });
    }

    fn request(&mut self, now: Instant, dst: Addr, body: Body) -> Pending {
        let msg = Message::new(self.txid(), self.id, body);
        self.send(dst, msg.clone());
        Pending {
            dst,
            msg,
            tries: 1,
            next_at: now + RETRY,
        }
    }

    /// Places a call; returns its id. The outcome comes as
    /// [`MediaEvent::CallDone`].
    pub fn start_call(&mut self, now: Instant, spec: CallSpec) -> u64 {
        let call = loop {
            self.next_call = self.next_call.wrapping_add(1);
            if !self.out.contains_key(&self.next_call) {
                break self.next_call;
            }
        };
        self.stats.calls_placed += 1;
        let mut c = OutCall {
            phase: Phase::Streaming { next_at: now },
            sent: 0,
            setup_us: None,
            rx: FrameStats::default(),
            forward: None,
            callee_sent: None,
            relayed: None,
            fo: Failover {
                next: 0,
                set: Vec::new(),
                legs: Vec::new(),
                epoch: 0,
                alloc: None,
                notify: None,
                outage: None,
                switches: 0,
                interruptions: 0,
                interrupted_us: 0,
                end: CallEnd::Completed,
            },
            spec,
        };
        c.phase = match c.next_candidate() {
            Some(relay) => Phase::Allocating(self.allocate(now, call, relay, c.spec.callee)),
            None => Phase::Offering(self.offer(now, call, &c.spec, self.local)),
        };
        self.out.insert(call, c);
        call
    }

    fn allocate(&mut self, now: Instant, call: u64, relay: Addr, callee: Addr) -> Pending {
        self.request(now, relay, Body::RelayAllocate { call, peer: callee })
    }

    fn offer(&mut self, now: Instant, call: u64, spec: &CallSpec, send_to: Addr) -> Pending {
        let body = Body::CallOffer {
            call,
            frames: spec.frames,
            frame_ms: spec.profile.frame_ms,
            payload_len: spec.profile.payload_len,
            send_to,
        };
        self.request(now, spec.callee, body)
    }

    fn frame(&self, now: Instant, call: u64, seq: u32, profile: MediaProfile) -> Message {
        let mut payload = vec![0u8; usize::from(profile.payload_len).min(MAX_VALUE_LEN)];
        // A recognisable, cheap pattern: the sequence number's low byte.
        payload.fill(seq as u8);
        Message::new(
            u64::from(seq),
            self.id,
            Body::Media {
                call,
                seq,
                sent_at: self.media_clock(now),
                payload,
            },
        )
    }

    /// Handles a media-kind message (see [`is_media`]) from `from`.
    pub fn handle_message(&mut self, now: Instant, from: Addr, msg: Message) {
        let txid = msg.txid;
        match msg.body {
            Body::Media {
                call, seq, sent_at, ..
            } => self.on_media(now, from, call, seq, sent_at, msg),
            Body::RelayAllocate { call, peer } => {
                let accepted = self.relay_enabled;
                if accepted {
                    let expires = now + KEEP;
                    let fresh = !self.relays.contains_key(&call);
                    let leg = self.relays.entry(call).or_insert(RelayLeg {
                        a: from,
                        b: peer,
                        report: RelayReport::default(),
                        expires,
                    });
                    if fresh {
                        self.stats.relayed_calls += 1;
                    } else if leg.a != from {
                        // Another caller claims this call id: refuse.
                        let body = Body::RelayAnswer {
                            call,
                            accepted: false,
                        };
                        self.send(from, Message::new(txid, self.id, body));
                        return;
                    }
                }
                let body = Body::RelayAnswer { call, accepted };
                self.send(from, Message::new(txid, self.id, body));
            }
            Body::RelayAnswer { call, accepted } => {
                self.on_relay_answer(now, from, txid, call, accepted)
            }
            Body::CallOffer {
                call,
                frames,
                frame_ms,
                payload_len,
                send_to,
            } => {
                let profile = MediaProfile {
                    frame_ms,
                    payload_len,
                };
                let accepted = frame_ms > 0
                    && u64::from(frames) * u64::from(frame_ms) <= MAX_CALL_MS
                    && usize::from(payload_len) <= MAX_VALUE_LEN
                    && self.incoming.get(&call).is_none_or(|c| c.caller == from);
                if accepted && !self.incoming.contains_key(&call) {
                    self.stats.calls_answered += 1;
                    self.incoming.insert(
                        call,
                        InCall {
                            caller: from,
                            targets: vec![send_to],
                            sources: vec![send_to],
                            epoch: 0,
                            frames,
                            profile,
                            sent: 0,
                            next_at: now,
                            rx: FrameStats::default(),
                            expires: now + KEEP,
                        },
                    );
                }
                let body = Body::CallAnswer { call, accepted };
                self.send(from, Message::new(txid, self.id, body));
                self.pump(now);
            }
            Body::CallAnswer { call, accepted } => {
                let Some(mut c) = self.out.remove(&call) else {
                    self.stats.dropped += 1;
                    return;
                };
                let matches = match &c.phase {
                    Phase::Offering(p) => Some(p.dst == from && p.msg.txid == txid),
                    _ => None, // a duplicate answer
                };
                if matches == Some(false) {
                    self.stats.dropped += 1;
                }
                if matches != Some(true) {
                    self.out.insert(call, c);
                    return;
                }
                if !accepted {
                    self.out.insert(call, c);
                    self.fail(call, CallFailure::CalleeRefused(from));
                    return;
                }
                c.phase = Phase::Streaming { next_at: now };
                for h in &mut c.fo.set {
                    h.last_rx = now;
                }
                if c.fo.set.len() > 1 {
                    // The offer named one relay; the callee learns the rest.
                    self.notify_set(now, call, &mut c);
                }
                self.out.insert(call, c);
                self.pump(now);
            }
            Body::RelaySwitch {
                call,
                epoch,
                relays,
            } => self.on_switch(from, txid, call, epoch, relays),
            Body::RelaySwitchAck { call, .. } => {
                let Some(c) = self.out.get_mut(&call) else {
                    self.stats.dropped += 1;
                    return;
                };
                if c.fo
                    .notify
                    .as_ref()
                    .is_some_and(|p| p.dst == from && p.msg.txid == txid)
                {
                    c.fo.notify = None;
                } else {
                    self.stats.dropped += 1;
                }
            }
            Body::Hangup { call, sent } => self.on_hangup(now, from, txid, call, sent),
            Body::CallReport {
                call,
                received,
                bytes,
                sent,
                lost,
                max_gap_us,
                mean_delay_us,
            } => {
                let Some(c) = self.out.get_mut(&call) else {
                    self.stats.dropped += 1;
                    return;
                };
                let Phase::Ending { callee, relays } = &mut c.phase else {
                    return;
                };
                let answers = |p: &Pending| p.dst == from && p.msg.txid == txid;
                if callee.as_ref().is_some_and(answers) {
                    *callee = None;
                    c.forward = Some(DirectionReport {
                        sent: c.sent,
                        received,
                        bytes,
                        lost,
                        max_gap_us,
                        mean_delay_us,
                    });
                    c.callee_sent = Some(sent);
                } else if let Some(i) = relays.iter().position(answers) {
                    relays.remove(i);
                    let report = RelayReport {
                        frames: received,
                        bytes,
                    };
                    let total = c.relayed.get_or_insert_with(RelayReport::default);
                    total.frames = total.frames.saturating_add(report.frames);
                    total.bytes = total.bytes.saturating_add(report.bytes);
                    if let Some(leg) = c.fo.legs.iter_mut().rev().find(|l| l.relay == from) {
                        leg.report = Some(report);
                    }
                } else {
                    self.stats.dropped += 1;
                    return;
                }
                if callee.is_none() && relays.is_empty() {
                    self.complete(call);
                }
            }
            _ => self.stats.dropped += 1,
        }
    }

    /// A relay's answer: to an allocation at setup, or to a replacement's.
    fn on_relay_answer(&mut self, now: Instant, from: Addr, txid: u64, call: u64, accepted: bool) {
        let Some(mut c) = self.out.remove(&call) else {
            self.stats.dropped += 1;
            return;
        };
        let answers = |p: &Pending| p.dst == from && p.msg.txid == txid;
        let mut failure = None;
        if let Phase::Allocating(p) = &c.phase {
            if !answers(p) {
                self.stats.dropped += 1;
            } else {
                if accepted {
                    c.take_relay(now, from);
                }
                let more = c.fo.set.len() < c.redundancy();
                match (more.then(|| c.next_candidate()).flatten(), c.fo.set.first()) {
                    (Some(next), _) => {
                        c.phase = Phase::Allocating(self.allocate(now, call, next, c.spec.callee))
                    }
                    (None, Some(first)) => {
                        let first = first.relay;
                        c.phase = Phase::Offering(self.offer(now, call, &c.spec, first));
                    }
                    (None, None) => failure = Some(CallFailure::RelayRefused(from)),
                }
            }
        } else if c.fo.alloc.as_ref().is_some_and(answers) {
            c.fo.alloc = None;
            if accepted {
                c.take_relay(now, from);
                c.fo.switches += 1;
                self.stats.switches += 1;
                self.notify_set(now, call, &mut c);
            }
            // Another lost relay to replace, or a refusal: the next candidate.
            self.refill(now, call, &mut c);
        }
        // Anything else is a duplicate answer: ignored.
        self.out.insert(call, c);
        if let Some(why) = failure {
            self.fail(call, why);
        }
    }

    /// Tells the callee the relays to send through: the set's live ones.
    fn notify_set(&mut self, now: Instant, call: u64, c: &mut OutCall) {
        c.fo.epoch += 1;
        let relays =
            c.fo.set
                .iter()
                .filter(|h| !h.lost)
                .map(|h| h.relay)
                .collect();
        let body = Body::RelaySwitch {
            call,
            epoch: c.fo.epoch,
            relays,
        };
        c.fo.notify = Some(self.request(now, c.spec.callee, body));
    }

    /// While a relay of the set is lost and none is being allocated: asks
    /// the next candidate, or, with none left, drops the lost relays; an
    /// empty set ends the call as [`CallEnd::RelayLost`].
    fn refill(&mut self, now: Instant, call: u64, c: &mut OutCall) {
        if c.fo.alloc.is_some() || !c.fo.set.iter().any(|h| h.lost) {
            return;
        }
        if let Some(next) = c.next_candidate() {
            c.fo.alloc = Some(self.allocate(now, call, next, c.spec.callee));
            return;
        }
        c.fo.set.retain(|h| !h.lost);
        if c.fo.set.is_empty() {
            c.fo.end = CallEnd::RelayLost;
            c.fo.notify = None;
            c.phase = Phase::Lingering { until: now };
        } else {
            self.notify_set(now, call, c);
        }
    }

    /// The callee's side of a [`Body::RelaySwitch`].
    fn on_switch(&mut self, from: Addr, txid: u64, call: u64, epoch: u32, relays: Vec<Addr>) {
        let Some(c) = self.incoming.get_mut(&call) else {
            self.stats.dropped += 1;
            return;
        };
        let retried = epoch == c.epoch && relays == c.targets;
        if c.caller != from || epoch == 0 || relays.is_empty() || (epoch <= c.epoch && !retried) {
            // Not the caller, no relay, or an older switch than the one applied.
            self.stats.dropped += 1;
            return;
        }
        if epoch > c.epoch {
            c.epoch = epoch;
            for &r in &relays {
                if !c.sources.contains(&r) {
                    if c.sources.len() >= MAX_CALL_RELAYS {
                        c.sources.remove(0);
                    }
                    c.sources.push(r);
                }
            }
            c.targets = relays;
        }
        let body = Body::RelaySwitchAck { call, epoch };
        self.send(from, Message::new(txid, self.id, body));
    }

    fn on_media(
        &mut self,
        now: Instant,
        from: Addr,
        call: u64,
        seq: u32,
        sent_at: u64,
        msg: Message,
    ) {
        let len = msg.encoded_len();
        if let Some(leg) = self.relays.get_mut(&call) {
            let dst = if from == leg.a {
                leg.b
            } else if from == leg.b {
                leg.a
            } else {
                self.stats.dropped += 1;
                return;
            };
            leg.report.frames = leg.report.frames.saturating_add(1);
            leg.report.bytes += len as u64;
            leg.expires = leg.expires.max(now + KEEP);
            self.stats.relayed_frames += 1;
            self.stats.relayed_bytes += len as u64;
            self.send(dst, msg);
            return;
        }
        let now_media = self.media_clock(now);
        if let Some(c) = self.out.get_mut(&call) {
            let direct = c.spec.relays.is_empty() && from == c.spec.callee;
            let hop = c.fo.set.iter_mut().find(|h| h.relay == from);
            let current = hop.is_some();
            if let Some(h) = hop {
                h.last_rx = now;
                h.lost = false;
            }
            let leg = c.fo.legs.iter().rposition(|l| l.relay == from);
            if direct || current || leg.is_some() {
                c.rx.on_frame(now, now_media, seq, sent_at, len);
                if let Some(i) = leg {
                    c.fo.legs[i].received = c.fo.legs[i].received.saturating_add(1);
                }
                if current && let Some(since) = c.fo.outage.take() {
                    c.fo.interrupted_us += now.saturating_since(since).as_micros();
                }
                return;
            }
        } else if let Some(c) = self.incoming.get_mut(&call)
            && c.sources.contains(&from)
        {
            c.rx.on_frame(now, now_media, seq, sent_at, len);
            return;
        }
        self.stats.dropped += 1;
    }

    fn on_hangup(&mut self, now: Instant, from: Addr, txid: u64, call: u64, sent: u32) {
        let report = if let Some(leg) = self.relays.get_mut(&call)
            && leg.a == from
        {
            leg.expires = now + KEEP;
            Body::CallReport {
                call,
                received: leg.report.frames,
                bytes: leg.report.bytes,
                sent: 0,
                lost: 0,
                max_gap_us: 0,
                mean_delay_us: 0,
            }
        } else if let Some(c) = self.incoming.get_mut(&call)
            && c.caller == from
        {
            // The caller is done; so is this side.
            c.frames = c.sent;
            c.expires = now + KEEP;
            Body::CallReport {
                call,
                received: c.rx.received,
                bytes: c.rx.bytes,
                sent: c.sent,
                lost: c.rx.lost(sent),
                max_gap_us: c.rx.max_gap_us,
                mean_delay_us: c.rx.mean_delay_us(),
            }
        } else {
            self.stats.dropped += 1;
            return;
        };
        self.send(from, Message::new(txid, self.id, report));
    }

    fn fail(&mut self, call: u64, why: CallFailure) {
        self.out.remove(&call);
        self.events.push_back(MediaEvent::CallDone {
            call,
            outcome: Err(why),
        });
    }

    fn complete(&mut self, call: u64) {
        let Some(c) = self.out.remove(&call) else {
            return;
        };
        let backward = c.callee_sent.map(|sent| DirectionReport {
            sent,
            received: c.rx.received,
            bytes: c.rx.bytes,
            lost: c.rx.lost(sent),
            max_gap_us: c.rx.max_gap_us,
            mean_delay_us: c.rx.mean_delay_us(),
        });
        let relay = c.fo.set.iter().find(|h| !h.lost).map(|h| h.relay).or(c
            .fo
            .legs
            .last()
            .map(|l| l.relay));
        let summary = CallSummary {
            call,
            callee: c.spec.callee,
            relay,
            end: c.fo.end,
            relays: c.fo.legs,
            switches: c.fo.switches,
            interruptions: c.fo.interruptions,
            interrupted_us: c.fo.interrupted_us,
            setup_us: c.setup_us.unwrap_or(0),
            forward: c.forward,
            backward,
            caller_sent: c.sent,
            caller_received: c.rx.received,
            relayed: c.relayed,
        };
        self.events.push_back(MediaEvent::CallDone {
            call,
            outcome: Ok(summary),
        });
    }

    /// Sends every frame that is due at `now`, on both sides of every call.
    fn pump(&mut self, now: Instant) {
        let mut frames = Vec::new();
        for (&call, c) in &mut self.out {
            if !matches!(c.phase, Phase::Streaming { .. }) {
                continue;
            }
            let dsts = c.media_dsts();
            let Phase::Streaming { next_at } = &mut c.phase else {
                continue;
            };
            let interval = c.spec.profile.interval();
            while c.sent < c.spec.frames && *next_at <= now {
                for &dst in &dsts {
                    frames.push((dst, call, c.sent, c.spec.profile));
                    if let Some(leg) = c.fo.legs.iter_mut().rev().find(|l| l.relay == dst) {
                        leg.sent = leg.sent.saturating_add(1);
                    }
                }
                if c.setup_us.is_none() {
                    c.setup_us = Some(now.saturating_since(c.spec.started).as_micros());
                }
                c.sent += 1;
                *next_at += interval;
            }
            if c.sent >= c.spec.frames {
                c.phase = Phase::Lingering {
                    until: now + LINGER,
                };
                // No failover once the caller has sent everything.
                c.fo.alloc = None;
                c.fo.notify = None;
            }
        }
        for (&call, c) in &mut self.incoming {
            let interval = c.profile.interval();
            while c.sent < c.frames && c.next_at <= now {
                for &dst in &c.targets {
                    frames.push((dst, call, c.sent, c.profile));
                }
                c.sent += 1;
                c.next_at += interval;
                c.expires = c.expires.max(now + KEEP);
            }
        }
        for (dst, call, seq, profile) in frames {
            let msg = self.frame(now, call, seq, profile);
            self.send(dst, msg);
        }
    }

    /// When [`MediaEngine::handle_timeout`] next needs calling.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let out = self.out.values().flat_map(|c| match &c.phase {
            Phase::Allocating(p) | Phase::Offering(p) => vec![p.next_at],
            Phase::Streaming { next_at } => {
                let mut at = vec![*next_at];
                at.extend(c.fo.alloc.iter().chain(&c.fo.notify).map(|p| p.next_at));
                at.extend(c.watch_at());
                at
            }
            Phase::Lingering { until } => vec![*until],
            Phase::Ending { callee, relays } => {
                callee.iter().chain(relays).map(|p| p.next_at).collect()
            }
        });
        let incoming = self.incoming.values().map(|c| {
            if c.sent < c.frames {
                c.next_at.min(c.expires)
            } else {
                c.expires
            }
        });
        let relays = self.relays.values().map(|r| r.expires);
        out.chain(incoming).chain(relays).min()
    }

    /// Sends due frames, retries requests, fails over, hangs up, and drops
    /// stale state.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pump(now);
        self.incoming.retain(|_, c| c.expires > now);
        self.relays.retain(|_, r| r.expires > now);
        let calls: Vec<u64> = self.out.keys().copied().collect();
        for call in calls {
            self.tick(now, call);
        }
    }

    fn retry(&mut self, now: Instant, p: &mut Pending) -> bool {
        if p.next_at > now {
            return true;
        }
        if p.tries >= MAX_TRIES {
            return false;
        }
        p.tries += 1;
        p.next_at = now + RETRY;
        self.send(p.dst, p.msg.clone());
        true
    }

    /// Failover while streaming: retries the replacement's allocation and
    /// the switch notice, and marks a relay lost when its media has stopped
    /// for the detection time.
    fn watch(&mut self, now: Instant, call: u64, c: &mut OutCall) {
        if let Some(mut p) = c.fo.alloc.take() {
            if self.retry(now, &mut p) {
                c.fo.alloc = Some(p);
            } else {
                self.refill(now, call, c);
            }
        }
        if let Some(mut p) = c.fo.notify.take()
            && self.retry(now, &mut p)
        {
            c.fo.notify = Some(p);
        }
        // (A callee that never heard of a switch sends no media through the
        // new relay, so the watch below fires again.)
        if !matches!(c.phase, Phase::Streaming { .. }) {
            return;
        }
        let detect = c.detect();
        let mut newly_lost = false;
        for h in &mut c.fo.set {
            if !h.lost && h.last_rx + detect <= now {
                h.lost = true;
                newly_lost = true;
            }
        }
        if !newly_lost {
            return;
        }
        if c.fo.outage.is_none() && c.fo.set.iter().all(|h| h.lost) {
            // Nothing carries the media any more: an interruption, from the
            // last frame through any relay of the set.
            c.fo.outage = c.fo.set.iter().map(|h| h.last_rx).max();
            c.fo.interruptions += 1;
        }
        self.refill(now, call, c);
    }

    fn tick(&mut self, now: Instant, call: u64) {
        let Some(mut c) = self.out.remove(&call) else {
            return;
        };
        let failure = match &mut c.phase {
            Phase::Allocating(p) => {
                let mut p2 = p.clone();
                let alive = self.retry(now, &mut p2);
                let dst = p2.dst;
                *p = p2;
                let more = c.fo.set.len() < c.redundancy();
                if alive {
                    None
                } else if let Some(next) = more.then(|| c.next_candidate()).flatten() {
                    c.phase = Phase::Allocating(self.allocate(now, call, next, c.spec.callee));
                    None
                } else if let Some(first) = c.fo.set.first() {
                    let first = first.relay;
                    c.phase = Phase::Offering(self.offer(now, call, &c.spec, first));
                    None
                } else {
                    Some(CallFailure::RelayUnreachable(dst))
                }
            }
            Phase::Offering(p) => {
                let mut p2 = p.clone();
                let alive = self.retry(now, &mut p2);
                *p = p2;
                (!alive).then_some(CallFailure::CalleeUnreachable(p.dst))
            }
            Phase::Streaming { .. } => {
                self.watch(now, call, &mut c);
                None
            }
            Phase::Lingering { until } => {
                if *until <= now {
                    if let Some(since) = c.fo.outage.take() {
                        c.fo.interrupted_us += now.saturating_since(since).as_micros();
                    }
                    let sent = c.sent;
                    let callee = self.request(now, c.spec.callee, Body::Hangup { call, sent });
                    // Lost relays are not asked for their reports.
                    let live: Vec<Addr> =
                        c.fo.set
                            .iter()
                            .filter(|h| !h.lost)
                            .map(|h| h.relay)
                            .collect();
                    let relays = live
                        .into_iter()
                        .map(|r| self.request(now, r, Body::Hangup { call, sent: 0 }))
                        .collect();
                    c.phase = Phase::Ending {
                        callee: Some(callee),
                        relays,
                    };
                }
                None
            }
            Phase::Ending { callee, relays } => {
                if let Some(p) = callee {
                    let mut p2 = p.clone();
                    if self.retry(now, &mut p2) {
                        *p = p2;
                    } else {
                        // Give up on this report; the summary shows it missing.
                        *callee = None;
                    }
                }
                let mut kept = Vec::with_capacity(relays.len());
                for mut p in std::mem::take(relays) {
                    if self.retry(now, &mut p) {
                        kept.push(p);
                    }
                }
                *relays = kept;
                None
            }
        };
        let done = matches!(
            &c.phase,
            Phase::Ending { callee: None, relays } if relays.is_empty()
        );
        self.out.insert(call, c);
        if let Some(why) = failure {
            self.fail(call, why);
        } else if done {
            self.complete(call);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
