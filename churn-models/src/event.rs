//! Churn events, and the up intervals and population curve they imply.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What happens to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnEvent {
    /// The node comes online.
    Join,
    /// The node leaves gracefully (it may tell its neighbours).
    Leave,
    /// The node crashes or is cut off without warning.
    Fail,
}

impl ChurnEvent {
    /// True for [`Leave`](ChurnEvent::Leave) and [`Fail`](ChurnEvent::Fail).
    pub fn is_departure(self) -> bool {
        !matches!(self, ChurnEvent::Join)
    }
}

/// One churn event at a time, for a node.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnRecord {
    /// Simulated time, in seconds.
    pub time_s: f64,
    /// The node.
    pub node: u32,
    /// What happens.
    pub event: ChurnEvent,
}

/// One period during which a node is online.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpInterval {
    /// The node.
    pub node: u32,
    /// When it joined.
    pub start_s: f64,
    /// When it left or failed; `None` if still online at the end.
    pub end_s: Option<f64>,
    /// How the interval ended; `None` if still online at the end.
    pub end: Option<ChurnEvent>,
}

impl UpInterval {
    /// Length of a closed interval.
    pub fn length_s(&self) -> Option<f64> {
        self.end_s.map(|e| e - self.start_s)
    }
}

/// The up intervals of a time-ordered event sequence, ordered by node and
/// then by start. Events that do not change a node's state (a join while
/// online, a departure while offline) are ignored.
pub fn up_intervals<'a>(events: impl IntoIterator<Item = &'a ChurnRecord>) -> Vec<UpInterval> {
    let mut open: BTreeMap<u32, f64> = BTreeMap::new();
    let mut done: Vec<UpInterval> = Vec::new();
    for r in events {
        match r.event {
            ChurnEvent::Join => {
                open.entry(r.node).or_insert(r.time_s);
            }
            ChurnEvent::Leave | ChurnEvent::Fail => {
                if let Some(start_s) = open.remove(&r.node) {
                    done.push(UpInterval {
                        node: r.node,
                        start_s,
                        end_s: Some(r.time_s),
                        end: Some(r.event),
                    });
                }
            }
        }
    }
    done.extend(open.into_iter().map(|(node, start_s)| UpInterval {
        node,
        start_s,
        end_s: None,
        end: None,
    }));
    done.sort_by(|a, b| a.node.cmp(&b.node).then(a.start_s.total_cmp(&b.start_s)));
    done
}

/// The number of online nodes just after each of `times_s` (which must be
/// sorted), counting every event at or before the time.
pub fn online_counts<'a>(
    events: impl IntoIterator<Item = &'a ChurnRecord>,
    times_s: &[f64],
) -> Vec<usize> {
    let mut online: BTreeMap<u32, ()> = BTreeMap::new();
    let mut out = Vec::with_capacity(times_s.len());
    let mut it = events.into_iter().peekable();
    for &t in times_s {
        while let Some(r) = it.next_if(|r| r.time_s <= t) {
            match r.event {
                ChurnEvent::Join => {
                    online.insert(r.node, ());
                }
                ChurnEvent::Leave | ChurnEvent::Fail => {
                    online.remove(&r.node);
                }
            }
        }
        out.push(online.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time_s: f64, node: u32, event: ChurnEvent) -> ChurnRecord {
        ChurnRecord {
            time_s,
            node,
            event,
        }
    }

    #[test]
    fn intervals_and_counts() {
        use ChurnEvent::*;
        let ev = [
            rec(0.0, 1, Join),
            rec(1.0, 2, Join),
            rec(2.0, 1, Fail),
            rec(3.0, 1, Join),
            rec(4.0, 2, Leave),
        ];
        let iv = up_intervals(&ev);
        assert_eq!(iv.len(), 3);
        assert_eq!(
            iv[0],
            UpInterval {
                node: 1,
                start_s: 0.0,
                end_s: Some(2.0),
                end: Some(Fail)
            }
        );
        assert_eq!(
            iv[1],
            UpInterval {
                node: 1,
                start_s: 3.0,
                end_s: None,
                end: None
            }
        );
        assert_eq!(iv[2].length_s(), Some(3.0));
        assert_eq!(
            online_counts(&ev, &[-1.0, 0.0, 1.5, 2.0, 3.5, 10.0]),
            vec![0, 1, 2, 1, 2, 1]
        );
    }
}
