//! Convex hulls for the cost-performance scatter.
//!
//! Li et al. (PVC, INFOCOM 2005) summarise a protocol's parameter sweep by
//! the convex hull of its (cost, latency) points: the part of the hull
//! facing the origin is the best latency the protocol reaches at each cost,
//! whatever the parameters. [`convex_hull`] is Andrew's monotone chain;
//! [`frontier`] is the lower-left part of the hull.

/// The vertices of the convex hull of `points`, counter-clockwise from the
/// lowest-leftmost point, without collinear or repeated points. Non-finite
/// points are ignored. Fewer than three distinct points give those points.
pub fn convex_hull(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut lower: Vec<(f64, f64)> = Vec::new();
    for &q in &p {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], q) <= 0.0 {
            lower.pop();
        }
        lower.push(q);
    }
    let mut upper: Vec<(f64, f64)> = Vec::new();
    for &q in p.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], q) <= 0.0 {
            upper.pop();
        }
        upper.push(q);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    if lower.len() == 2 && lower[0] == lower[1] {
        lower.pop();
    }
    lower
}

/// The cost-performance frontier: the hull vertices from the leftmost point
/// (lowest cost; the lower one on a tie) to the lowest point (lowest
/// latency; the leftmost on a tie), in increasing x. These are exactly the
/// points that minimise `x + t·y` for some t > 0.
pub fn frontier(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let hull = convex_hull(points);
    if hull.len() < 3 {
        // Two points: both if neither dominates, else the dominating one.
        return match hull.as_slice() {
            [a, b] if b.1 >= a.1 => vec![*a],
            _ => hull,
        };
    }
    // The hull starts at the leftmost-lowest point and runs counter-clockwise,
    // so along the bottom first: take vertices while y keeps falling.
    let mut out = vec![hull[0]];
    for &q in &hull[1..] {
        if q.1 < out[out.len() - 1].1 {
            out.push(q);
        } else {
            break;
        }
    }
    out
}

/// Twice the signed area of (o, a, b): positive for a left turn.
fn cross(o: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic points on a small integer grid (so duplicates and
    /// collinear triples occur).
    fn points(seed: u64, n: usize, grid: u64) -> Vec<(f64, f64)> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                let mut next = || {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((s >> 33) % grid) as f64
                };
                (next(), next())
            })
            .collect()
    }

    fn distinct(p: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let mut v = p.to_vec();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        v.dedup();
        v
    }

    /// Brute force: p is a hull vertex iff some pair (p, q) is a hull edge
    /// (every point on one closed side, the collinear ones between p and q)
    /// and p is not strictly between two other points of the edge line.
    fn brute_hull(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let p = distinct(pts);
        let mut out = Vec::new();
        for &a in &p {
            let mut vertex = false;
            for &b in &p {
                if a == b {
                    continue;
                }
                let all_left = p.iter().all(|&c| cross(a, b, c) >= 0.0);
                // On the edge line, nothing beyond a (away from b).
                let a_is_end = p.iter().all(|&c| {
                    cross(a, b, c) != 0.0
                        || (c.0 - a.0) * (b.0 - a.0) + (c.1 - a.1) * (b.1 - a.1) >= 0.0
                });
                if all_left && a_is_end {
                    vertex = true;
                }
            }
            if vertex {
                out.push(a);
            }
        }
        out
    }

    /// Brute force: p is on the frontier iff some t > 0 makes x + t·y
    /// smaller at p than at every other point. Each other point q bounds t
    /// to an interval; p qualifies iff the intervals meet in t > 0.
    fn brute_frontier(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let p = distinct(pts);
        let mut out = Vec::new();
        for &a in &p {
            let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
            let mut ok = true;
            for &q in &p {
                if q == a {
                    continue;
                }
                // (a.x − q.x) + t (a.y − q.y) < 0
                let (c, d) = (a.0 - q.0, a.1 - q.1);
                if d == 0.0 {
                    ok &= c < 0.0;
                } else if d > 0.0 {
                    hi = hi.min(-c / d);
                } else {
                    lo = lo.max(-c / d);
                }
            }
            if ok && lo < hi {
                out.push(a);
            }
        }
        out
    }

    #[test]
    fn hull_matches_brute_force() {
        for seed in 0..300 {
            let n = 1 + (seed as usize % 40);
            let pts = points(seed, n, if seed % 2 == 0 { 6 } else { 1000 });
            let mut fast = convex_hull(&pts);
            let brute = brute_hull(&pts);
            if distinct(&pts).len() >= 3 && brute.len() >= 3 {
                fast.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                assert_eq!(fast, brute, "seed {seed}: {pts:?}");
            }
        }
    }

    #[test]
    fn hull_is_counter_clockwise_and_encloses_every_point() {
        for seed in 0..100 {
            let pts = points(seed, 30, 50);
            let h = convex_hull(&pts);
            if h.len() < 3 {
                continue;
            }
            for i in 0..h.len() {
                let (a, b) = (h[i], h[(i + 1) % h.len()]);
                for &c in &pts {
                    assert!(
                        cross(a, b, c) >= 0.0,
                        "seed {seed}: {c:?} outside {a:?}-{b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn frontier_matches_brute_force() {
        for seed in 0..300 {
            let n = 1 + (seed as usize % 30);
            let pts = points(seed, n, if seed % 2 == 0 { 7 } else { 1000 });
            let fast = frontier(&pts);
            let brute = brute_frontier(&pts);
            assert_eq!(fast, brute, "seed {seed}: {pts:?}");
        }
    }

    #[test]
    fn small_cases() {
        assert!(convex_hull(&[]).is_empty());
        assert_eq!(convex_hull(&[(1.0, 1.0), (1.0, 1.0)]), vec![(1.0, 1.0)]);
        assert_eq!(
            convex_hull(&[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]),
            vec![(0.0, 0.0), (2.0, 2.0)]
        );
        // Li et al.'s shape: cheap-but-slow, balanced, fast-but-costly, and a
        // dominated point above the frontier.
        let pts = [(1.0, 10.0), (3.0, 4.0), (9.0, 2.0), (5.0, 8.0)];
        assert_eq!(frontier(&pts), vec![(1.0, 10.0), (3.0, 4.0), (9.0, 2.0)]);
    }
}
