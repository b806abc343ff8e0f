//! Identifier-circle arithmetic.
//!
//! Chord places ids on a circle of 2^m positions. Here m (`id_bits`) is at
//! most 160, and a position is the top m bits of a 160-bit id with the rest
//! zeroed, so positions stay [`NodeId`]s: ordinary 160-bit arithmetic modulo
//! 2^160 on them is arithmetic modulo 2^m on the circle, and adding 2^i on
//! the m-bit circle adds 2^(160 − m + i) to the 160-bit number.

use crate::id::{ID_BITS, ID_BYTES, NodeId};

/// The circle of a given width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    bits: u16,
    mask: NodeId,
}

impl Ring {
    /// A circle of 2^bits positions (`bits` is clamped to 1..=160).
    pub fn new(bits: u16) -> Ring {
        let bits = bits.clamp(1, ID_BITS as u16);
        let mut mask = [0u8; ID_BYTES];
        for (i, b) in mask.iter_mut().enumerate() {
            let from = i * 8;
            let keep = (bits as usize).saturating_sub(from).min(8);
            *b = if keep == 0 { 0 } else { 0xFFu8 << (8 - keep) };
        }
        Ring {
            bits,
            mask: NodeId(mask),
        }
    }

    /// Width in bits: the number of fingers.
    pub fn bits(&self) -> u16 {
        self.bits
    }

    /// The position of an id or key: its top `bits` bits.
    pub fn position(&self, id: &NodeId) -> NodeId {
        let mut out = id.0;
        for (o, m) in out.iter_mut().zip(self.mask.0) {
            *o &= m;
        }
        NodeId(out)
    }

    /// The start of finger `i` of the node at `pos`: `pos + 2^i` on the circle.
    pub fn finger_start(&self, pos: &NodeId, i: u16) -> NodeId {
        let shift = ID_BITS as u16 - self.bits + i.min(self.bits - 1);
        add_pow2(pos, shift as usize)
    }
}

/// `a + 2^bit` modulo 2^160, with `bit` counted from the least significant bit.
pub(crate) fn add_pow2(a: &NodeId, bit: usize) -> NodeId {
    let mut out = a.0;
    if bit >= ID_BITS {
        return NodeId(out);
    }
    let mut i = ID_BYTES - 1 - bit / 8;
    let (sum, mut carry) = out[i].overflowing_add(1u8 << (bit % 8));
    out[i] = sum;
    while carry && i > 0 {
        i -= 1;
        let (s, c) = out[i].overflowing_add(1);
        out[i] = s;
        carry = c;
    }
    NodeId(out)
}

/// The clockwise distance from `from` to `to`: `to − from` modulo 2^160.
pub(crate) fn clockwise(from: &NodeId, to: &NodeId) -> NodeId {
    let mut out = [0u8; ID_BYTES];
    let mut borrow = 0i16;
    for i in (0..ID_BYTES).rev() {
        let mut d = to.0[i] as i16 - from.0[i] as i16 - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    NodeId(out)
}

/// Whether `x` lies in the open arc `(a, b)`, clockwise. With `a == b` the
/// arc is the whole circle except `a`.
pub(crate) fn in_open(x: &NodeId, a: &NodeId, b: &NodeId) -> bool {
    let dx = clockwise(a, x);
    let db = clockwise(a, b);
    dx != NodeId::ZERO && (db == NodeId::ZERO || dx < db)
}

/// Whether `x` lies in the half-open arc `(a, b]`, clockwise. With `a == b`
/// the arc is the whole circle.
pub(crate) fn in_half_open(x: &NodeId, a: &NodeId, b: &NodeId) -> bool {
    let dx = clockwise(a, x);
    let db = clockwise(a, b);
    db == NodeId::ZERO || (dx != NodeId::ZERO && dx <= db)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A position on a small ring given as an integer (top byte first).
    fn p(ring: &Ring, v: u64) -> NodeId {
        // Place v in the top `bits` bits.
        let shift = 64 - ring.bits() as u32;
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&(v << shift).to_be_bytes());
        NodeId(b)
    }

    #[test]
    fn positions_keep_the_top_bits_only() {
        let r = Ring::new(12);
        let id = NodeId([0xFF; 20]);
        let pos = r.position(&id);
        assert_eq!(pos.0[0], 0xFF);
        assert_eq!(pos.0[1], 0xF0);
        assert!(pos.0[2..].iter().all(|b| *b == 0));
        assert_eq!(Ring::new(160).position(&id), id);
        assert_eq!(Ring::new(0).bits(), 1, "clamped");
        assert_eq!(Ring::new(999).bits(), 160, "clamped");
    }

    #[test]
    fn finger_starts_are_n_plus_two_to_the_i_modulo_the_ring() {
        // m = 6, a 64-position ring: the classic figure of Stoica et al.
        let r = Ring::new(6);
        let n = p(&r, 8);
        let starts: Vec<NodeId> = (0..6).map(|i| r.finger_start(&n, i)).collect();
        let want: Vec<NodeId> = [9, 10, 12, 16, 24, 40].iter().map(|v| p(&r, *v)).collect();
        assert_eq!(starts, want);
        // Wrap-around: 54 + 32 = 86 ≡ 22 (mod 64).
        assert_eq!(r.finger_start(&p(&r, 54), 5), p(&r, 22));
        assert_eq!(r.finger_start(&p(&r, 63), 0), p(&r, 0));
        // Full width: the last finger is halfway round, carrying through bytes.
        let full = Ring::new(160);
        let mut ff = [0u8; 20];
        ff[19] = 0xFF;
        let start = full.finger_start(&NodeId(ff), 0);
        let mut want = [0u8; 20];
        want[18] = 1;
        assert_eq!(start, NodeId(want));
        assert_eq!(
            full.finger_start(&NodeId::ZERO, 159).0[0],
            0x80,
            "n + 2^159"
        );
        assert_eq!(
            full.finger_start(&NodeId([0x80; 20]), 159).0[0],
            0x00,
            "wraps"
        );
    }

    #[test]
    fn arcs_wrap_around_zero() {
        let r = Ring::new(6);
        let (a, b) = (p(&r, 60), p(&r, 4));
        assert!(in_open(&p(&r, 62), &a, &b));
        assert!(in_open(&p(&r, 0), &a, &b));
        assert!(!in_open(&b, &a, &b));
        assert!(in_half_open(&b, &a, &b));
        assert!(!in_half_open(&a, &a, &b));
        assert!(!in_open(&p(&r, 30), &a, &b));
        // a == b: the whole circle (except a for the open arc).
        assert!(in_open(&p(&r, 30), &a, &a));
        assert!(!in_open(&a, &a, &a));
        assert!(in_half_open(&a, &a, &a));
        assert_eq!(clockwise(&p(&r, 60), &p(&r, 4)), p(&r, 8));
        assert_eq!(clockwise(&p(&r, 4), &p(&r, 60)), p(&r, 56));
    }
}
