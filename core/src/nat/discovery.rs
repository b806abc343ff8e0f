//! NAT type discovery against two peers, after RFC 5780's tests.
//!
//! A node asks a public peer (the *primary*) and the primary's *partner*, a
//! public peer at another IP address, for binding answers. The primary also
//! answers from an alternate port. The tests run in an order that keeps each
//! filtering test clean: the node sends to the partner and to the alternate
//! port only after the filtering tests, so no earlier packet of its own has
//! opened its filter for them.
//!
//! 1. To the primary: no answer → UDP blocked. The mapped address equals the
//!    local one → open (no NAT).
//! 2. To the primary, answered by the partner ([`Change::Address`]): an
//!    answer → endpoint-independent filtering.
//! 3. Else to the primary, answered from its alternate port
//!    ([`Change::Port`]): an answer → address-dependent filtering, none →
//!    address-and-port-dependent.
//! 4. To the partner: the same mapped address as in test 1 →
//!    endpoint-independent mapping.
//! 5. Else to the primary's alternate port: the same mapped address →
//!    address-dependent mapping, else address-and-port-dependent.
//!
//! Each test is one request, retried on timeout. A test whose every try goes
//! unanswered counts as "no answer", so packet loss can only make a NAT look
//! stricter than it is, never laxer; more retries make that rarer.

use super::{Filtering, Mapping, NatBehavior, NatType, PortAssignment};
use crate::Addr;
use crate::wire::Change;

/// The peers a classification asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscoveryServers {
    /// The primary peer's main address.
    pub primary: Addr,
    /// The primary's alternate port (same IP).
    pub alt_port: u16,
    /// The primary's partner, at another IP address.
    pub partner: Addr,
}

impl DiscoveryServers {
    /// The primary's alternate endpoint.
    pub fn primary_alt(&self) -> Addr {
        Addr::new(self.primary.ip, self.alt_port)
    }
}

/// What a classification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The preset the node falls in.
    pub nat_type: NatType,
    /// The node's reflexive address as the primary saw it (none without UDP).
    pub reflexive: Option<Addr>,
    /// The mapping behaviour (none for open and UDP-blocked nodes).
    pub mapping: Option<Mapping>,
    /// The filtering behaviour (none for open and UDP-blocked nodes).
    pub filtering: Option<Filtering>,
}

/// One request of the test sequence: where it goes and which endpoint should
/// answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Test {
    /// Where the request is sent.
    pub dst: Addr,
    /// Which endpoint should answer.
    pub change: Change,
}

/// The test sequence as a small state machine: [`Discovery::next_test`]
/// names the request to send, [`Discovery::record`] takes its result
/// (the mapped address, or `None` when every try went unanswered).
#[derive(Clone, Debug)]
pub struct Discovery {
    servers: DiscoveryServers,
    local: Addr,
    step: Step,
    reflexive: Option<Addr>,
    filtering: Option<Filtering>,
    result: Option<Classification>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Primary,
    ChangeAddress,
    ChangePort,
    Partner,
    AltPort,
    Done,
}

impl Discovery {
    /// A classification of the node at `local`.
    pub fn new(servers: DiscoveryServers, local: Addr) -> Self {
        Discovery {
            servers,
            local,
            step: Step::Primary,
            reflexive: None,
            filtering: None,
            result: None,
        }
    }

    /// The servers asked.
    pub fn servers(&self) -> DiscoveryServers {
        self.servers
    }

    /// The request to send next, or `None` when finished.
    pub fn next_test(&self) -> Option<Test> {
        let s = &self.servers;
        let (dst, change) = match self.step {
            Step::Primary => (s.primary, Change::None),
            Step::ChangeAddress => (s.primary, Change::Address),
            Step::ChangePort => (s.primary, Change::Port),
            Step::Partner => (s.partner, Change::None),
            Step::AltPort => (s.primary_alt(), Change::None),
            Step::Done => return None,
        };
        Some(Test { dst, change })
    }

    /// The result of the current test: the mapped address the answer
    /// carried, or `None` if no try was answered.
    pub fn record(&mut self, mapped: Option<Addr>) {
        match self.step {
            Step::Primary => match mapped {
                None => self.finish(NatType::UdpBlocked, None, None),
                Some(m) if m == self.local => self.finish(NatType::Open, None, None),
                Some(m) => {
                    self.reflexive = Some(m);
                    self.step = Step::ChangeAddress;
                }
            },
            Step::ChangeAddress => {
                if mapped.is_some() {
                    self.filtering = Some(Filtering::EndpointIndependent);
                    self.step = Step::Partner;
                } else {
                    self.step = Step::ChangePort;
                }
            }
            Step::ChangePort => {
                self.filtering = Some(if mapped.is_some() {
                    Filtering::AddressDependent
                } else {
                    Filtering::AddressAndPortDependent
                });
                self.step = Step::Partner;
            }
            Step::Partner => {
                if mapped.is_some() && mapped == self.reflexive {
                    self.natted(Mapping::EndpointIndependent);
                } else {
                    self.step = Step::AltPort;
                }
            }
            Step::AltPort => {
                let m = if mapped.is_some() && mapped == self.reflexive {
                    Mapping::AddressDependent
                } else {
                    Mapping::AddressAndPortDependent
                };
                self.natted(m);
            }
            Step::Done => {}
        }
    }

    fn natted(&mut self, mapping: Mapping) {
        let filtering = self.filtering.unwrap_or(Filtering::AddressAndPortDependent);
        let nat_type = NatBehavior::new(mapping, filtering, PortAssignment::Preserving).nat_type();
        self.result = Some(Classification {
            nat_type,
            reflexive: self.reflexive,
            mapping: Some(mapping),
            filtering: Some(filtering),
        });
        self.step = Step::Done;
    }

    fn finish(
        &mut self,
        nat_type: NatType,
        mapping: Option<Mapping>,
        filtering: Option<Filtering>,
    ) {
        let reflexive = match nat_type {
            NatType::Open => Some(self.local),
            _ => None,
        };
        self.result = Some(Classification {
            nat_type,
            reflexive,
            mapping,
            filtering,
        });
        self.step = Step::Done;
    }

    /// The classification, once every needed test has run.
    pub fn result(&self) -> Option<Classification> {
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> DiscoveryServers {
        DiscoveryServers {
            primary: Addr::new([198, 51, 100, 1], 3478),
            alt_port: 3479,
            partner: Addr::new([198, 51, 100, 2], 3478),
        }
    }

    const LOCAL: Addr = Addr::new([10, 0, 0, 1], 5000);
    const R1: Addr = Addr::new([203, 0, 113, 1], 5000);
    const R2: Addr = Addr::new([203, 0, 113, 1], 6001);

    /// Runs the sequence with `answer` deciding each test's outcome.
    fn run(mut answer: impl FnMut(Test) -> Option<Addr>) -> (Classification, Vec<Test>) {
        let mut d = Discovery::new(servers(), LOCAL);
        let mut asked = Vec::new();
        while let Some(t) = d.next_test() {
            asked.push(t);
            d.record(answer(t));
        }
        (d.result().expect("finished"), asked)
    }

    #[test]
    fn no_answer_means_udp_blocked() {
        let (c, asked) = run(|_| None);
        assert_eq!(c.nat_type, NatType::UdpBlocked);
        assert_eq!(asked.len(), 1);
    }

    #[test]
    fn own_address_means_open() {
        let (c, _) = run(|_| Some(LOCAL));
        assert_eq!(c.nat_type, NatType::Open);
        assert_eq!(c.reflexive, Some(LOCAL));
    }

    #[test]
    fn full_cone_skips_the_port_test_and_never_touches_partner_first() {
        let (c, asked) = run(|_| Some(R1));
        assert_eq!(c.nat_type, NatType::FullCone);
        let s = servers();
        // The partner is contacted only after both filtering tests.
        let first_partner = asked.iter().position(|t| t.dst == s.partner);
        assert_eq!(first_partner, Some(2));
        assert!(asked.iter().all(|t| t.change != Change::Port));
    }

    #[test]
    fn symmetric_needs_all_five_tests() {
        let s = servers();
        let (c, asked) = run(|t| match (t.dst, t.change) {
            (d, Change::None) if d == s.primary => Some(R1),
            (_, Change::None) => Some(R2),
            _ => None,
        });
        assert_eq!(c.nat_type, NatType::Symmetric);
        assert_eq!(c.mapping, Some(Mapping::AddressAndPortDependent));
        assert_eq!(c.filtering, Some(Filtering::AddressAndPortDependent));
        assert_eq!(asked.len(), 5);
    }

    #[test]
    fn restricted_cone_answers_from_the_other_port_only() {
        let (c, _) = run(|t| (t.change != Change::Address).then_some(R1));
        assert_eq!(c.nat_type, NatType::RestrictedCone);
    }
}
