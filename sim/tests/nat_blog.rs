//! The blog's NAT table: under the blog-2009 mix (P 10%, G 30%, B 30%,
//! F 30%) and the blog's assumptions, 40% of calls are end to end, 9% need a
//! UDP relay and 51% a TCP relay. The same mix under the RFC 4787 oracle
//! (G as a port-restricted cone) is printed beside it.

use peerlab_churn::{NatMix, NatPreset};
use peerlab_core::nat::{Connectivity, RelayKind, blog_connectivity, connectivity};

const PAIRS: u32 = 100_000;
const SEED: u64 = 2009;

#[derive(Default, Debug)]
struct Shares {
    direct: u32,
    punched: u32,
    udp: u32,
    tcp: u32,
}

impl Shares {
    fn add(&mut self, c: Connectivity) {
        match c {
            Connectivity::Direct => self.direct += 1,
            Connectivity::Punched => self.punched += 1,
            Connectivity::Relay(RelayKind::Udp, _) => self.udp += 1,
            Connectivity::Relay(RelayKind::Tcp, _) => self.tcp += 1,
        }
    }
    fn pct(n: u32) -> f64 {
        100.0 * f64::from(n) / f64::from(PAIRS)
    }
    fn e2e(&self) -> f64 {
        Self::pct(self.direct + self.punched)
    }
    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.2}% | {:.2}% | {:.2}% | {:.2}% | {:.2}% |",
            self.e2e(),
            Self::pct(self.direct),
            Self::pct(self.punched),
            Self::pct(self.udp),
            Self::pct(self.tcp)
        )
    }
}

fn shares(preset: NatPreset) -> (Shares, Shares) {
    let mix = NatMix::preset(preset);
    let (mut blog, mut rfc) = (Shares::default(), Shares::default());
    for i in 0..PAIRS {
        let a = mix.class_of(SEED, 2 * i);
        let b = mix.class_of(SEED, 2 * i + 1);
        blog.add(blog_connectivity(
            a.blog_class().into(),
            b.blog_class().into(),
        ));
        rfc.add(connectivity(a.into(), b.into()));
    }
    (blog, rfc)
}

#[test]
fn blog_2009_table_reproduced() {
    let header = "| rules | end to end | direct | punched | UDP relay | TCP relay |\n|---|---|---|---|---|---|";
    let (blog, rfc) = shares(NatPreset::Blog2009);
    println!("\nblog-2009 mix, {PAIRS} random caller/callee pairs (seed {SEED}):\n\n{header}");
    println!("{}", blog.row("blog"));
    println!("{}", rfc.row("RFC 4787 (G = port-restricted cone)"));
    for p in [NatPreset::Consumer, NatPreset::HalkesPouwelse] {
        let (b, r) = shares(p);
        println!(
            "\n{p:?} mix:\n\n{header}\n{}\n{}",
            b.row("blog"),
            r.row("RFC 4787")
        );
    }

    let near = |got: f64, want: f64| (got - want).abs() <= 1.0;
    assert!(near(blog.e2e(), 40.0), "{blog:?}");
    assert!(near(Shares::pct(blog.udp), 9.0), "{blog:?}");
    assert!(near(Shares::pct(blog.tcp), 51.0), "{blog:?}");
    // Under RFC 4787, G-B pairs cannot punch: 18% more calls need a UDP
    // relay (expected 13% direct, 9% punched, 27% UDP relay, 51% TCP).
    assert!(near(Shares::pct(rfc.direct), 13.0), "{rfc:?}");
    assert!(near(Shares::pct(rfc.punched), 9.0), "{rfc:?}");
    assert!(near(Shares::pct(rfc.udp), 27.0), "{rfc:?}");
    assert!(near(Shares::pct(rfc.tcp), 51.0), "{rfc:?}");
}
