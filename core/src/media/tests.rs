//! Calls between engines over an in-memory network with a fixed latency:
//! the oracle is the latency and the drops the test chooses.

use super::*;

/// Runs engines over a lossless network with a fixed one-way `latency`
/// (optionally dropping datagrams `drop` says to), until nothing is left.
fn run(
    engines: &mut [MediaEngine],
    latency: Duration,
    drop: impl FnMut(&Transmit) -> bool,
) -> Vec<MediaEvent> {
    run_net(engines, |_, _| latency, drop, None)
}

/// Runs engines over a network whose one-way delay per link is
/// `latency(src, dst)`; `dead` names an engine that dies at an instant: from
/// then on it neither receives (datagrams arriving at or after the instant
/// are lost) nor runs its timers. Datagrams `drop` says to are lost on send.
/// At equal times, deliveries come before timers.
fn run_net(
    engines: &mut [MediaEngine],
    latency: impl Fn(Addr, Addr) -> Duration,
    mut drop: impl FnMut(&Transmit) -> bool,
    dead: Option<(Addr, Instant)>,
) -> Vec<MediaEvent> {
    let is_dead = |a: Addr, now: Instant| dead.is_some_and(|(d, at)| d == a && now >= at);
    let mut now = Instant::ZERO;
    // (arrival, order) -> (dst index, from, msg)
    let mut wire: BTreeMap<(Instant, u64), (usize, Addr, Message)> = BTreeMap::new();
    let mut order = 0u64;
    let mut events = Vec::new();
    for _ in 0..1_000_000 {
        for e in engines.iter_mut() {
            while let Some(t) = e.poll_transmit() {
                if drop(&t) {
                    continue;
                }
                let dst = engines_ix(t.dst);
                order += 1;
                wire.insert((now + latency(t.src, t.dst), order), (dst, t.src, t.msg));
            }
        }
        for e in engines.iter_mut() {
            while let Some(ev) = e.poll_event() {
                events.push(ev);
            }
        }
        let next_timer = engines
            .iter()
            .enumerate()
            .filter(|(i, _)| dead.is_none_or(|(d, _)| d != addr(*i)))
            .filter_map(|(_, e)| e.poll_timeout())
            .chain(
                // A dead engine's timers run only until it dies.
                dead.and_then(|(d, at)| engines[engines_ix(d)].poll_timeout().filter(|t| *t < at)),
            )
            .min();
        let next_wire = wire.keys().next().map(|k| k.0);
        let Some(next) = [next_timer, next_wire].into_iter().flatten().min() else {
            break;
        };
        now = next;
        if next_wire == Some(next) {
            let (_, (dst, from, msg)) = wire.pop_first().unwrap();
            if !is_dead(addr(dst), now) {
                engines[dst].handle_message(now, from, msg);
            }
        } else {
            for (i, e) in engines.iter_mut().enumerate() {
                if !is_dead(addr(i), now) && e.poll_timeout().is_some_and(|t| t <= now) {
                    e.handle_timeout(now);
                }
            }
        }
    }
    events
}

fn addr(i: usize) -> Addr {
    Addr::new([127, 0, 0, 1], 5000 + i as u16)
}

fn engines_ix(a: Addr) -> usize {
    usize::from(a.port - 5000)
}

fn engines() -> Vec<MediaEngine> {
    (0..3)
        .map(|i| {
            let id = NodeId([i as u8 + 1; crate::id::ID_BYTES]);
            MediaEngine::new(id, addr(i), 1_000_000, i == 2)
        })
        .collect()
}

fn summary(events: &[MediaEvent]) -> CallSummary {
    match events {
        [MediaEvent::CallDone { outcome: Ok(s), .. }] => s.clone(),
        other => panic!("expected one finished call, got {other:?}"),
    }
}

#[test]
fn voice_profile_is_64_kbps_in_212_byte_datagrams() {
    let p = MediaProfile::from_bitrate(64_000, 20).unwrap();
    assert_eq!(p, MediaProfile::VOICE_64K);
    assert_eq!(
        MediaProfile::from_bitrate(256_000, 20),
        Some(MediaProfile::VIDEO_256K)
    );
    assert_eq!(
        MediaProfile::from_bitrate(1_000_000, 20),
        None,
        "1250 > 1024 bytes"
    );
    // 30-byte header + 8 + 4 + 8 + 2 + 160, and the codec agrees.
    assert_eq!(p.datagram_len(), 212);
    let e = MediaEngine::new(NodeId::ZERO, addr(0), 0, false);
    assert_eq!(e.frame(Instant::ZERO, 1, 0, p).to_bytes().len(), 212);
    assert_eq!(p.frames_for(Duration::from_secs(1)), 50);
}

#[test]
fn a_relayed_call_delivers_every_frame_both_ways() {
    let mut es = engines();
    let latency = Duration::from_micros(1500);
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![addr(2)],
        detect: DEFAULT_DETECT,
        redundancy: 1,
        frames: 50,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    let s = summary(&run(&mut es, latency, |_| false));
    let fwd = s.forward.unwrap();
    let bwd = s.backward.unwrap();
    for d in [fwd, bwd] {
        assert_eq!((d.sent, d.received, d.lost), (50, 50, 0), "{d:?}");
        assert_eq!(d.bytes, 50 * 212);
        // Two hops of 1.5 ms each; frames are evenly spaced 20 ms.
        assert_eq!(d.mean_delay_us, 3000);
        assert_eq!(d.max_gap_us, 20_000);
    }
    assert_eq!(
        s.relayed,
        Some(RelayReport {
            frames: 100,
            bytes: 100 * 212
        })
    );
    // Allocation and offer round trips: 4 one-way latencies.
    assert_eq!(s.setup_us, 6000);
    let r = es[2].stats();
    assert_eq!(
        (r.relayed_calls, r.relayed_frames, r.relayed_bytes),
        (1, 100, 100 * 212)
    );
}

#[test]
fn a_direct_call_reports_loss_and_the_gap_it_leaves() {
    let mut es = engines();
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![],
        detect: DEFAULT_DETECT,
        redundancy: 1,
        frames: 20,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    // Drop caller frames 5, 6 and 7 and callee frame 19 (the last).
    let s = summary(&run(&mut es, Duration::from_millis(1), |t| {
        match t.msg.body {
            Body::Media { seq, .. } if t.src == addr(0) => (5..=7).contains(&seq),
            Body::Media { seq, .. } => seq == 19,
            _ => false,
        }
    }));
    let fwd = s.forward.unwrap();
    assert_eq!((fwd.sent, fwd.received, fwd.lost), (20, 17, 3));
    assert_eq!(
        fwd.max_gap_us, 80_000,
        "frames 4 and 8 are 4 intervals apart"
    );
    assert_eq!(fwd.mean_delay_us, 1000);
    let bwd = s.backward.unwrap();
    assert_eq!((bwd.sent, bwd.received, bwd.lost), (20, 19, 1));
    assert_eq!(s.relayed, None);
}

#[test]
fn unreachable_and_refusing_peers_fail_the_call() {
    let mut es = engines();
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![addr(1)], // node 1 does not relay
        detect: DEFAULT_DETECT,
        redundancy: 1,
        frames: 5,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec.clone());
    let ev = run(&mut es, Duration::from_millis(1), |_| false);
    assert!(
        matches!(&ev[..], [MediaEvent::CallDone { outcome: Err(CallFailure::RelayRefused(a)), .. }] if *a == addr(1)),
        "{ev:?}"
    );
    let mut es = engines();
    es[0].start_call(
        Instant::ZERO,
        CallSpec {
            relays: vec![],
            ..spec.clone()
        },
    );
    let mut offers = 0;
    let ev = run(&mut es, Duration::from_millis(1), |t| {
        let offer = matches!(t.msg.body, Body::CallOffer { .. });
        offers += u32::from(offer);
        offer
    });
    assert_eq!(offers, MAX_TRIES);
    let mut es2 = engines();
    let long = CallSpec {
        relays: vec![],
        frames: (MAX_CALL_MS / 20) as u32 + 1,
        ..spec
    };
    es2[0].start_call(Instant::ZERO, long);
    let ev2 = run(&mut es2, Duration::from_millis(1), |_| false);
    assert!(
        matches!(
            &ev2[..],
            [MediaEvent::CallDone {
                outcome: Err(CallFailure::CalleeRefused(_)),
                ..
            }]
        ),
        "{ev2:?}"
    );
    assert!(
        matches!(&ev[..], [MediaEvent::CallDone { outcome: Err(CallFailure::CalleeUnreachable(a)), .. }] if *a == addr(1)),
        "{ev:?}"
    );
}

// ---- passive failover --------------------------------------------------------
//
// Five engines: 0 caller, 1 callee, 2 and 3 relays (R1, R2), 4 a node that
// refuses to relay. The oracle is the timeline computed below from the
// per-link delays, the frame interval and the detection time the test
// injects; nothing is read back from the engine to compute it.

/// Frame interval, µs (voice: 20 ms).
const F: u64 = 20_000;
/// Datagram bytes of one voice frame: 30 header + 22 media header + 160.
const FRAME: u64 = 212;
/// One-way delays per link, µs (symmetric).
const D_CE: u64 = 700;
const D_CR1: u64 = 1_100;
const D_R1E: u64 = 1_300;
const D_CR2: u64 = 2_300;
const D_R2E: u64 = 1_900;
const D_CX: u64 = 900;

fn link(a: Addr, b: Addr) -> Duration {
    let (x, y) = (engines_ix(a), engines_ix(b));
    let us = match (x.min(y), x.max(y)) {
        (0, 1) => D_CE,
        (0, 2) => D_CR1,
        (1, 2) => D_R1E,
        (0, 3) => D_CR2,
        (1, 3) => D_R2E,
        (0, 4) => D_CX,
        other => panic!("no link {other:?}"),
    };
    Duration::from_micros(us)
}

fn failover_engines() -> Vec<MediaEngine> {
    (0..5)
        .map(|i| {
            let id = NodeId([i as u8 + 1; crate::id::ID_BYTES]);
            MediaEngine::new(id, addr(i), 1_000_000, i == 2 || i == 3)
        })
        .collect()
}

/// Frames of a stream starting at `t0` (one every `F`) sent strictly before `t`.
fn frames_before(t0: u64, t: u64) -> u64 {
    assert!(t > t0);
    assert_ne!(
        (t - t0) % F,
        0,
        "the test avoids ties between a frame and an event"
    );
    (t - t0).div_ceil(F)
}

fn at(us: u64) -> Instant {
    Instant::ZERO + Duration::from_micros(us)
}

/// The call's timeline up to R1's death at `death` µs.
struct Before {
    /// The callee's first frame (the offer's arrival) and the caller's.
    t_e0: u64,
    t_c0: u64,
    /// Frames of each side that reached R1 alive.
    caller_via_r1: u64,
    callee_via_r1: u64,
    /// The last frame the caller received through R1.
    last_rx: u64,
}

fn before(death: u64) -> Before {
    // Allocation round trip to R1, then the offer reaches the callee (which
    // starts sending) and its answer the caller (which starts sending).
    let t_e0 = 2 * D_CR1 + D_CE;
    let t_c0 = t_e0 + D_CE;
    let caller_via_r1 = frames_before(t_c0 + D_CR1, death);
    let callee_via_r1 = frames_before(t_e0 + D_R1E, death);
    let last_rx = t_e0 + (callee_via_r1 - 1) * F + D_R1E + D_CR1;
    Before {
        t_e0,
        t_c0,
        caller_via_r1,
        callee_via_r1,
        last_rx,
    }
}

#[test]
fn a_relay_that_dies_mid_call_is_replaced_after_the_detection_time() {
    let n = 100u64;
    let detect = 200_000u64;
    let death = 700_123u64;
    let mut es = failover_engines();
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![addr(2), addr(3)],
        detect: Duration::from_micros(detect),
        redundancy: 1,
        frames: n as u32,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    let s = summary(&run_net(
        &mut es,
        link,
        |_| false,
        Some((addr(2), at(death))),
    ));

    let b = before(death);
    // Detection `detect` after the last frame through R1; R2's allocation
    // round trip; then the caller sends through R2 and the switch reaches
    // the callee D_CE later.
    let switched = b.last_rx + detect + 2 * D_CR2;
    let caller_to_r1 = frames_before(b.t_c0, switched);
    let callee_to_r1 = frames_before(b.t_e0, switched + D_CE);
    let lost_fwd = caller_to_r1 - b.caller_via_r1;
    let lost_bwd = callee_to_r1 - b.callee_via_r1;
    // The caller's interruption: last frame through R1 to first through R2.
    let resumed = b.t_e0 + callee_to_r1 * F + D_R2E + D_CR2;
    let interruption = resumed - b.last_rx;
    // The callee's longest gap, likewise.
    let callee_gap = (b.t_c0 + caller_to_r1 * F + D_CR2 + D_R2E)
        - (b.t_c0 + (b.caller_via_r1 - 1) * F + D_CR1 + D_R1E);
    assert!(
        caller_to_r1 < n && callee_to_r1 < n,
        "media resumes before the end"
    );
    assert!(lost_fwd > 0 && lost_bwd > 0);

    assert_eq!(s.end, CallEnd::Completed);
    assert_eq!((s.switches, s.interruptions), (1, 1));
    assert_eq!(s.relay, Some(addr(3)));
    assert_eq!(s.interrupted_us, interruption);
    let fwd = s.forward.expect("callee's report");
    let bwd = s.backward.expect("callee's report");
    assert_eq!(
        (
            u64::from(fwd.sent),
            u64::from(fwd.received),
            u64::from(fwd.lost)
        ),
        (n, n - lost_fwd, lost_fwd)
    );
    assert_eq!(
        (
            u64::from(bwd.sent),
            u64::from(bwd.received),
            u64::from(bwd.lost)
        ),
        (n, n - lost_bwd, lost_bwd)
    );
    assert_eq!(fwd.bytes, (n - lost_fwd) * FRAME);
    assert_eq!(bwd.bytes, (n - lost_bwd) * FRAME);
    assert_eq!(bwd.max_gap_us, interruption);
    assert_eq!(fwd.max_gap_us, callee_gap);
    // Per relay: what the caller sent and received through each, and R2's
    // own count of both legs; R1 is gone and never reports.
    let via_r2 = (n - caller_to_r1) + (n - callee_to_r1);
    assert_eq!(
        s.relays,
        vec![
            RelayUse {
                relay: addr(2),
                sent: caller_to_r1 as u32,
                received: b.callee_via_r1 as u32,
                report: None,
            },
            RelayUse {
                relay: addr(3),
                sent: (n - caller_to_r1) as u32,
                received: (n - callee_to_r1) as u32,
                report: Some(RelayReport {
                    frames: via_r2 as u32,
                    bytes: via_r2 * FRAME,
                }),
            },
        ]
    );
    let r1 = es[2].stats();
    assert_eq!(
        (r1.relayed_frames, r1.relayed_bytes),
        (
            b.caller_via_r1 + b.callee_via_r1,
            (b.caller_via_r1 + b.callee_via_r1) * FRAME
        )
    );
    assert_eq!(es[3].stats().relayed_frames, via_r2);
    assert_eq!(es[0].stats().switches, 1);
    assert_eq!(es[1].stats().dropped, 0, "the callee took every frame");
}

#[test]
fn with_no_candidate_left_the_call_ends_relay_lost() {
    let n = 100u64;
    let detect = 150_000u64;
    let death = 500_321u64;
    let mut es = failover_engines();
    // The second candidate (node 4) refuses, so nothing replaces R1.
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![addr(2), addr(4)],
        detect: Duration::from_micros(detect),
        redundancy: 1,
        frames: n as u32,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    let s = summary(&run_net(
        &mut es,
        link,
        |_| false,
        Some((addr(2), at(death))),
    ));

    let b = before(death);
    // Detection, then node 4's refusal: the caller stops and hangs up, and
    // the callee stops when the hangup arrives.
    let gave_up = b.last_rx + detect + 2 * D_CX;
    let caller_sent = frames_before(b.t_c0, gave_up);
    let callee_sent = frames_before(b.t_e0, gave_up + D_CE);

    assert_eq!(s.end, CallEnd::RelayLost);
    assert_eq!(CallEnd::RelayLost.name(), "relay-lost");
    assert_eq!((s.switches, s.interruptions), (0, 1));
    assert_eq!(s.interrupted_us, gave_up - b.last_rx);
    assert_eq!(u64::from(s.caller_sent), caller_sent);
    let fwd = s.forward.expect("callee's report");
    let bwd = s.backward.expect("callee's report");
    assert_eq!(
        (
            u64::from(fwd.sent),
            u64::from(fwd.received),
            u64::from(fwd.lost)
        ),
        (caller_sent, b.caller_via_r1, caller_sent - b.caller_via_r1)
    );
    assert_eq!(
        (
            u64::from(bwd.sent),
            u64::from(bwd.received),
            u64::from(bwd.lost)
        ),
        (callee_sent, b.callee_via_r1, callee_sent - b.callee_via_r1)
    );
    assert_eq!(
        s.relays,
        vec![RelayUse {
            relay: addr(2),
            sent: caller_sent as u32,
            received: b.callee_via_r1 as u32,
            report: None,
        }]
    );
    assert_eq!(s.relayed, None);
}

#[test]
fn setup_skips_a_refusing_candidate() {
    let mut es = failover_engines();
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![addr(4), addr(3)],
        detect: DEFAULT_DETECT,
        redundancy: 1,
        frames: 10,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    let s = summary(&run_net(&mut es, link, |_| false, None));
    // Refusal round trip, R2's allocation round trip, offer round trip.
    assert_eq!(s.setup_us, 2 * D_CX + 2 * D_CR2 + 2 * D_CE);
    assert_eq!(
        (s.end, s.switches, s.interruptions),
        (CallEnd::Completed, 0, 0)
    );
    assert_eq!(s.relay, Some(addr(3)));
    let fwd = s.forward.unwrap();
    assert_eq!((fwd.sent, fwd.received, fwd.lost), (10, 10, 0));
    assert_eq!(s.relays.len(), 1);
    assert_eq!(
        s.relayed,
        Some(RelayReport {
            frames: 20,
            bytes: 20 * FRAME
        })
    );
}

#[test]
fn the_callee_ignores_unknown_stale_and_foreign_switches() {
    let caller = addr(0);
    let mut e = MediaEngine::new(NodeId([2; crate::id::ID_BYTES]), addr(1), 0, false);
    let msg = |txid: u64, body| Message::new(txid, NodeId([1; crate::id::ID_BYTES]), body);
    let t0 = Instant::ZERO;
    let drain = |e: &mut MediaEngine| std::iter::from_fn(|| e.poll_transmit()).collect::<Vec<_>>();
    let offer = Body::CallOffer {
        call: 9,
        frames: 10,
        frame_ms: 20,
        payload_len: 160,
        send_to: addr(2),
    };
    e.handle_message(t0, caller, msg(1, offer));
    let out = drain(&mut e);
    assert_eq!(out.len(), 2, "answer and frame 0: {out:?}");
    assert_eq!(out[1].dst, addr(2));
    let sw = |call, epoch, relay| Body::RelaySwitch {
        call,
        epoch,
        relays: vec![relay],
    };
    // An unknown call, a sender that is not the caller, epoch 0, no relay.
    e.handle_message(t0, caller, msg(2, sw(10, 1, addr(3))));
    e.handle_message(t0, addr(4), msg(3, sw(9, 1, addr(4))));
    e.handle_message(t0, caller, msg(4, sw(9, 0, addr(3))));
    let empty = Body::RelaySwitch {
        call: 9,
        epoch: 1,
        relays: vec![],
    };
    e.handle_message(t0, caller, msg(4, empty));
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.stats().dropped, 4);
    // A switch (epochs may skip when a notice was lost) applies and is acknowledged.
    e.handle_message(t0, caller, msg(5, sw(9, 2, addr(3))));
    let ack = |txid| {
        vec![Transmit {
            src: addr(1),
            dst: caller,
            msg: Message::new(
                txid,
                NodeId([2; crate::id::ID_BYTES]),
                Body::RelaySwitchAck { call: 9, epoch: 2 },
            ),
        }]
    };
    assert_eq!(drain(&mut e), ack(5));
    // A late copy of an older switch, or the same epoch naming another
    // relay, changes nothing and gets no answer; a retry is answered again.
    e.handle_message(t0, caller, msg(6, sw(9, 1, addr(2))));
    e.handle_message(t0, caller, msg(7, sw(9, 2, addr(4))));
    assert!(drain(&mut e).is_empty());
    e.handle_message(t0, caller, msg(8, sw(9, 2, addr(3))));
    assert_eq!(drain(&mut e), ack(8));
    assert_eq!(e.stats().dropped, 6);
    // The next frame goes to the new relay.
    e.handle_timeout(at(F));
    let out = drain(&mut e);
    assert!(
        matches!(&out[..], [t] if t.dst == addr(3) && matches!(t.msg.body, Body::Media { seq: 1, .. })),
        "{out:?}"
    );
    // Frames still in flight through the old relay count; a stranger's do not.
    let frame = |seq| {
        msg(
            100 + u64::from(seq),
            Body::Media {
                call: 9,
                seq,
                sent_at: 0,
                payload: vec![0; 160],
            },
        )
    };
    e.handle_message(at(F), addr(2), frame(0));
    e.handle_message(at(F), addr(3), frame(1));
    e.handle_message(at(F), addr(4), frame(2));
    assert_eq!(e.stats().dropped, 7);
    // The switch's acknowledgement to a caller that has no such call is dropped.
    let mut c = MediaEngine::new(NodeId([1; crate::id::ID_BYTES]), caller, 0, false);
    c.handle_message(
        t0,
        addr(1),
        msg(9, Body::RelaySwitchAck { call: 9, epoch: 2 }),
    );
    assert_eq!(c.stats().dropped, 1);
}

#[test]
fn a_malformed_switch_is_rejected_by_the_decoder_with_the_field() {
    use crate::wire::DecodeError;
    let m = Message::new(
        3,
        NodeId::ZERO,
        Body::RelaySwitch {
            call: 9,
            epoch: 1,
            relays: vec![addr(3)],
        },
    );
    let bytes = m.to_bytes();
    // Header, call 8, epoch 4, relay count 1, one relay 6 (IPv4 and port).
    assert_eq!(bytes.len(), 30 + 8 + 4 + 1 + 6);
    assert_eq!(Message::decode(&bytes), Ok(m));
    assert!(matches!(
        Message::decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated {
            field: "relays.addr",
            offset: 47,
            needed: 2,
            available: 1
        })
    ));
    // A count above the limit is refused before any address is read.
    let mut many = bytes.clone();
    many[42] = 9;
    assert_eq!(
        Message::decode(&many),
        Err(DecodeError::OverLimit {
            field: "relays",
            offset: 42,
            value: 9,
            max: crate::wire::MAX_SWITCH_RELAYS
        })
    );
    assert!(matches!(
        Message::decode(&bytes[..33]),
        Err(DecodeError::Truncated {
            field: "call",
            offset: 30,
            ..
        })
    ));
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(Message::decode(&long), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn an_actively_redundant_call_survives_one_relay_dying_without_loss() {
    let n = 100u64;
    let detect = 200_000u64;
    let death = 700_123u64;
    let mut es = failover_engines();
    let spec = CallSpec {
        callee: addr(1),
        relays: vec![addr(2), addr(3)],
        detect: Duration::from_micros(detect),
        redundancy: 2,
        frames: n as u32,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    let s = summary(&run_net(
        &mut es,
        link,
        |_| false,
        Some((addr(2), at(death))),
    ));

    // Both allocations, then the offer (naming R1): the callee starts, and
    // the caller, on the answer, sends through both and tells the callee
    // the set, which reaches it D_CE later.
    let t_e0 = 2 * D_CR1 + 2 * D_CR2 + D_CE;
    let t_c0 = t_e0 + D_CE;
    let callee_r1_only = frames_before(t_e0, t_c0 + D_CE);
    // What reached R1 alive, and the caller's last frame through it.
    let caller_via_r1 = frames_before(t_c0 + D_CR1, death);
    let callee_via_r1 = frames_before(t_e0 + D_R1E, death);
    let last_r1 = t_e0 + (callee_via_r1 - 1) * F + D_R1E + D_CR1;
    // R1 is dropped from the set `detect` later; the caller stops sending to it.
    let caller_to_r1 = frames_before(t_c0, last_r1 + detect);
    let callee_via_r2 = n - callee_r1_only;

    assert_eq!(s.setup_us, t_c0);
    assert_eq!(s.end, CallEnd::Completed);
    assert_eq!(
        (s.switches, s.interruptions, s.interrupted_us),
        (0, 0, 0),
        "R2 carried the call throughout"
    );
    let fwd = s.forward.expect("callee's report");
    let bwd = s.backward.expect("callee's report");
    assert_eq!((fwd.sent, fwd.received, fwd.lost), (n as u32, n as u32, 0));
    assert_eq!((bwd.sent, bwd.received, bwd.lost), (n as u32, n as u32, 0));
    // Duplicates are kept once but their bytes count.
    assert_eq!(fwd.bytes, (n + caller_via_r1) * FRAME);
    assert_eq!(bwd.bytes, (callee_via_r1 + callee_via_r2) * FRAME);
    // No outage: first copies come through the faster R1 until it dies,
    // then through R2, so the longest gap is one frame plus the paths'
    // difference.
    let slower = (D_CR2 + D_R2E) - (D_CR1 + D_R1E);
    assert_eq!((fwd.max_gap_us, bwd.max_gap_us), (F + slower, F + slower));
    assert_eq!(
        s.relays,
        vec![
            RelayUse {
                relay: addr(2),
                sent: caller_to_r1 as u32,
                received: callee_via_r1 as u32,
                report: None,
            },
            RelayUse {
                relay: addr(3),
                sent: n as u32,
                received: callee_via_r2 as u32,
                report: Some(RelayReport {
                    frames: (n + callee_via_r2) as u32,
                    bytes: (n + callee_via_r2) * FRAME,
                }),
            },
        ]
    );
    assert_eq!(s.relay, Some(addr(3)));
    assert_eq!(es[2].stats().relayed_frames, caller_via_r1 + callee_via_r1);
    assert_eq!(es[1].stats().dropped, 0);
}
