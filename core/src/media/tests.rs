//! Calls between engines over an in-memory network with a fixed latency:
//! the oracle is the latency and the drops the test chooses.

use super::*;

/// Runs engines over a lossless network with a fixed one-way `latency`
/// (optionally dropping datagrams `drop` says to), until nothing is left.
fn run(
    engines: &mut [MediaEngine],
    latency: Duration,
    mut drop: impl FnMut(&Transmit) -> bool,
) -> Vec<MediaEvent> {
    let mut now = Instant::ZERO;
    // (arrival, order, dst index, from, msg)
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
                wire.insert((now + latency, order), (dst, t.src, t.msg));
            }
        }
        for e in engines.iter_mut() {
            while let Some(ev) = e.poll_event() {
                events.push(ev);
            }
        }
        let next_timer = engines.iter().filter_map(|e| e.poll_timeout()).min();
        let next_wire = wire.keys().next().map(|k| k.0);
        let Some(next) = [next_timer, next_wire].into_iter().flatten().min() else {
            break;
        };
        now = next;
        if next_wire == Some(next) {
            let (k, (dst, from, msg)) = wire.pop_first().unwrap();
            let _ = k;
            engines[dst].handle_message(now, from, msg);
        } else {
            for e in engines.iter_mut() {
                if e.poll_timeout().is_some_and(|t| t <= now) {
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
        relay: Some(addr(2)),
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
        relay: None,
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
        relay: Some(addr(1)), // node 1 does not relay
        frames: 5,
        profile: MediaProfile::VOICE_64K,
        started: Instant::ZERO,
    };
    es[0].start_call(Instant::ZERO, spec);
    let ev = run(&mut es, Duration::from_millis(1), |_| false);
    assert!(
        matches!(&ev[..], [MediaEvent::CallDone { outcome: Err(CallFailure::RelayRefused(a)), .. }] if *a == addr(1)),
        "{ev:?}"
    );
    let mut es = engines();
    es[0].start_call(
        Instant::ZERO,
        CallSpec {
            relay: None,
            ..spec
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
        relay: None,
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
