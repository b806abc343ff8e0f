//! What figure builders share: the result directory, whether it compares
//! protocols and grid points, legend labels and title fragments.

use crate::results::{Lookup, ResultDir};
use crate::spec::{DhtProtocol, Spec};

pub(super) fn protocol_title(name: &str) -> String {
    match name {
        "kademlia" => DhtProtocol::Kademlia.title().to_string(),
        "chord" => DhtProtocol::Chord.title().to_string(),
        other => other.to_string(),
    }
}

/// The last component of a parameter path (`dht.kademlia.k` → `k`).
pub(super) fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// What the figures of one result directory are built from.
pub(super) struct Ctx<'a> {
    pub(super) rd: &'a ResultDir,
    pub(super) multi_protocol: bool,
    pub(super) multi_point: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(rd: &'a ResultDir) -> Ctx<'a> {
        let mut protocols: Vec<&str> = rd.groups.iter().map(|g| g.protocol.as_str()).collect();
        protocols.dedup();
        let mut points: Vec<Option<&str>> = rd.groups.iter().map(|g| g.point.as_deref()).collect();
        points.sort();
        points.dedup();
        Ctx {
            rd,
            multi_protocol: protocols.len() > 1,
            multi_point: points.len() > 1,
        }
    }

    pub(super) fn point_label(&self, point: &str) -> String {
        let params = self.rd.point_params(point);
        if params.is_empty() {
            format!("point {point}")
        } else {
            params
                .iter()
                .map(|(p, v)| format!("{} = {v}", short(p)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Legend text of group `g`.
    pub(super) fn label(&self, g: usize) -> String {
        let group = &self.rd.groups[g];
        let mut parts = Vec::new();
        if self.multi_protocol || !self.multi_point {
            parts.push(group.protocol.clone());
        }
        if self.multi_point
            && let Some(p) = &group.point
        {
            parts.push(self.point_label(p));
        }
        parts.join(", ")
    }

    /// Groups that have lookups, in order.
    pub(super) fn lookup_groups(&self) -> Vec<usize> {
        (0..self.rd.groups.len())
            .filter(|&g| self.rd.lookups.iter().any(|l| l.group == g))
            .collect()
    }

    /// Measured lookups that finished, of group `g` (what the hop and
    /// latency figures show).
    pub(super) fn shown(&self, g: usize) -> impl Iterator<Item = &'a Lookup> {
        self.rd
            .lookups
            .iter()
            .filter(move |l| l.group == g && l.measured && l.latency_ms.is_finite())
    }

    pub(super) fn spec(&self) -> Option<&'a Spec> {
        self.rd.spec.as_ref()
    }

    /// The overlay size of group `g`: a swept `network.nodes`/`churn.nodes`,
    /// else the spec's, else the rows of `nodes.parquet` per run.
    pub(super) fn population(&self, g: usize) -> u64 {
        if let Some(point) = &self.rd.groups[g].point {
            for (p, v) in self.rd.point_params(point) {
                if (p == "network.nodes" || p == "churn.nodes")
                    && let Ok(n) = v.parse::<u64>()
                {
                    return n;
                }
            }
        }
        if let Some(spec) = self.spec() {
            match &spec.churn {
                None => return spec.network.nodes as u64,
                Some(c) if c.nodes > 0 => return c.nodes as u64,
                Some(_) => {}
            }
        }
        let counts: Vec<usize> = self
            .rd
            .node_counts
            .iter()
            .filter(|(x, _, _)| *x == g)
            .map(|c| c.2)
            .collect();
        if counts.is_empty() {
            0
        } else {
            (counts.iter().sum::<usize>() / counts.len()) as u64
        }
    }

    /// The parameters quoted in a single group's titles.
    pub(super) fn setup(&self, g: usize) -> String {
        let nodes = self.population(g);
        let mut s = format!("N = {nodes}");
        let Some(spec) = self.spec() else {
            return s;
        };
        match self.rd.groups[g].protocol.as_str() {
            "kademlia" => {
                let k = &spec.dht.kademlia;
                s += &format!(", k = {}, α = {}", k.k, k.alpha);
            }
            "chord" => s += &format!(", r = {}", spec.dht.chord.successors),
            _ => {}
        }
        if let Some(r) = spec.dht.routing {
            s += &format!(", {}", r.name());
        }
        if let Some(c) = &spec.churn {
            s += &format!(", {} churn", crate::run::churn_kind(&c.model));
        }
        if spec.nat.is_some() {
            s += ", behind NATs";
        }
        s
    }

    /// The scenario quoted in titles comparing groups.
    pub(super) fn scenario(&self, g: usize) -> String {
        let mut s = if self.multi_point {
            "sweep".to_string()
        } else {
            format!("N = {}", self.population(g))
        };
        if let Some(spec) = self.spec() {
            if let Some(r) = spec.dht.routing {
                s += &format!(", {}", r.name());
            }
            match &spec.churn {
                Some(c) => {
                    s += &format!(
                        ", {} churn, measured lookups",
                        crate::run::churn_kind(&c.model)
                    )
                }
                None => s += ", static",
            }
            if spec.nat.is_some() {
                s += ", behind NATs";
            }
        }
        s
    }
}
