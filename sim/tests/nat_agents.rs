//! The core's NAT agent over simulated middleboxes, beyond the pair matrix:
//! keepalives hold a binding open and their absence loses it (the
//! middlebox's 30 s binding timeout is the oracle), a changed mapping is
//! noticed and re-classified, and the keepalive overhead is what the
//! interval predicts.

use peerlab_core::nat::{
    ConnectOutcome, ConnectRequest, NatCommand, NatConfig, NatEvent, NatType, RelayCause,
};
use peerlab_core::wire::{Body, Change, Message};
use peerlab_core::{Duration, Instant, NodeId};
use peerlab_sim::nat::{AgentNet, pair_net, place_servers};

const CALLER: NodeId = NodeId([0xCA; 20]);
const CALLEE: NodeId = NodeId([0xCE; 20]);

/// A restricted-cone caller calls a port-restricted-cone callee `wait`
/// after both attached to the rendezvous; the callee sends keepalives every
/// `keepalive`. Returns the caller's outcome and the callee's keepalives.
fn call_after(wait: Duration, keepalive: Option<Duration>) -> (ConnectOutcome, u64) {
    let (mut net, a, b, servers) =
        pair_net(NatType::RestrictedCone, NatType::PortRestrictedCone, 3).expect("net");
    let mut run = AgentNet::new(&mut net, Instant::ZERO, Duration::from_millis(20), 0.0, 3);
    let (_, _, stun) = place_servers(&mut run, servers, 3).expect("servers");
    let caller = run
        .add_agent(a, NatConfig::default(), CALLER, 1)
        .expect("caller");
    let callee_cfg = NatConfig {
        keepalive,
        ..NatConfig::default()
    };
    let callee = run.add_agent(b, callee_cfg, CALLEE, 2).expect("callee");
    for x in [caller, callee] {
        run.command(x, NatCommand::Classify(stun));
        run.command(
            x,
            NatCommand::Attach {
                rendezvous: stun.primary,
            },
        );
    }
    run.run_until(Instant::ZERO + wait, |_, _| false);
    let reflexive = run.agent(callee).and_then(|x| x.reflexive());
    run.command(
        caller,
        NatCommand::Connect(ConnectRequest {
            target: CALLEE,
            reflexive,
            nat: Some(NatType::PortRestrictedCone),
            rendezvous: stun.primary,
        }),
    );
    let mut outcome = None;
    run.run_until(Instant::ZERO + wait + Duration::from_secs(30), |i, e| {
        if let NatEvent::Connected { outcome: o, .. } = e
            && i == caller
        {
            outcome = Some(*o);
        }
        outcome.is_some()
    });
    let keepalives = run.agent(callee).map_or(0, |x| x.traffic().keepalives);
    (outcome.expect("the attempt ends"), keepalives)
}

#[test]
fn keepalives_hold_the_binding_and_without_them_it_expires() {
    // Within the binding timeout, both versions connect.
    let (early, _) = call_after(Duration::from_secs(10), None);
    assert!(matches!(early, ConnectOutcome::Punched { .. }), "{early:?}");
    // 60 s later: the keepalives kept the callee's binding (30 s timeout)
    // open; without them the rendezvous's invitation is dropped at its NAT.
    let (kept, sent) = call_after(Duration::from_secs(60), Some(Duration::from_secs(25)));
    assert!(matches!(kept, ConnectOutcome::Punched { .. }), "{kept:?}");
    // At 0, 25 and 50 s (the call ends before the one at 75 s).
    assert_eq!(sent, 3);
    let (lost, sent) = call_after(Duration::from_secs(60), None);
    assert_eq!(sent, 1, "only the attach request");
    assert_eq!(
        lost,
        ConnectOutcome::NeedsRelay {
            kind: peerlab_core::nat::RelayKind::Udp,
            reason: RelayCause::ProbesUnanswered
        }
    );
}

#[test]
fn a_new_mapping_is_noticed_and_reclassified() {
    // A symmetric NAT with random ports: keepalives every 40 s let the 30 s
    // binding lapse, so each keepalive gets a fresh external port.
    let (mut net, a, _, servers) = pair_net(NatType::Symmetric, NatType::Open, 5).expect("net");
    let mut run = AgentNet::new(&mut net, Instant::ZERO, Duration::from_millis(20), 0.0, 5);
    let (_, _, stun) = place_servers(&mut run, servers, 5).expect("servers");
    let cfg = NatConfig {
        keepalive: Some(Duration::from_secs(40)),
        ..NatConfig::default()
    };
    let x = run.add_agent(a, cfg, CALLER, 1).expect("agent");
    run.command(x, NatCommand::Classify(stun));
    run.command(
        x,
        NatCommand::Attach {
            rendezvous: stun.primary,
        },
    );
    run.run_until(Instant::from_secs(100), |_, _| false);
    let events: Vec<NatEvent> = run.take_events().into_iter().map(|(_, _, e)| e).collect();
    let changes = events
        .iter()
        .filter(|e| matches!(e, NatEvent::ReflexiveChanged { .. }))
        .count();
    let classified = events
        .iter()
        .filter(|e| matches!(e, NatEvent::Classified(c) if c.nat_type == NatType::Symmetric))
        .count();
    // Keepalives at 40 and 80 s each find a new port; each change starts a
    // new classification, which again finds a symmetric NAT.
    assert_eq!(changes, 2, "{events:?}");
    assert_eq!(classified, 3, "{events:?}");
}

#[test]
fn keepalive_overhead_matches_the_interval() {
    // One binding request and its answer every interval: the analytic rate.
    let req = Message::new(
        0,
        CALLER,
        Body::Binding {
            change: Change::None,
        },
    );
    let per_keepalive = req.encoded_len() as f64;
    let (_, sent) = call_after(Duration::from_secs(600), Some(Duration::from_secs(25)));
    let expected = (600.0_f64 / 25.0).floor() + 1.0;
    assert_eq!(sent as f64, expected);
    println!(
        "keepalive requests: {:.2} B/s per NATed node (25 s interval, {per_keepalive} B each; answers as many again plus 6 B)",
        per_keepalive / 25.0
    );
}
