//! 160-bit overlay identifiers, XOR distance, and the hash that maps names to ids.

use core::fmt;
use core::str::FromStr;
use sha1::Digest;

/// Width of an identifier in bytes (160 bits).
pub const ID_BYTES: usize = 20;
/// Width of an identifier in bits.
pub const ID_BITS: usize = ID_BYTES * 8;

/// A node id or key: 160 bits, most significant byte first.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; ID_BYTES]);

/// The hash that maps names (such as `alice@example.com`) and addresses to ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1, 160 bits: the id width used by Kademlia, Chord and P2PP.
    #[default]
    Sha1,
    /// SHA-256, truncated to its first 160 bits.
    Sha256,
}

impl HashAlg {
    /// The config spelling of each algorithm.
    pub const NAMES: [&'static str; 2] = ["sha1", "sha256"];

    /// Parses `sha1` or `sha256`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(HashAlg::Sha1),
            "sha256" => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    /// Hashes arbitrary bytes to an id.
    pub fn hash(self, data: &[u8]) -> NodeId {
        let mut out = [0u8; ID_BYTES];
        match self {
            HashAlg::Sha1 => out.copy_from_slice(&sha1::Sha1::digest(data)),
            HashAlg::Sha256 => out.copy_from_slice(&sha2::Sha256::digest(data)[..ID_BYTES]),
        }
        NodeId(out)
    }
}

impl NodeId {
    /// The all-zero id.
    pub const ZERO: NodeId = NodeId([0; ID_BYTES]);

    /// Hashes a name, such as a SIP address of record, to an id.
    pub fn from_name(alg: HashAlg, name: &str) -> Self {
        alg.hash(name.as_bytes())
    }

    /// A uniformly random id drawn from `rng`.
    pub fn random(rng: &mut impl rand::Rng) -> Self {
        let mut b = [0u8; ID_BYTES];
        rng.fill_bytes(&mut b);
        NodeId(b)
    }

    /// The XOR distance to `other` (Kademlia's metric).
    pub fn distance(&self, other: &NodeId) -> NodeId {
        let mut d = [0u8; ID_BYTES];
        for (i, x) in d.iter_mut().enumerate() {
            *x = self.0[i] ^ other.0[i];
        }
        NodeId(d)
    }

    /// Number of leading zero bits (160 for the zero id).
    pub fn leading_zeros(&self) -> usize {
        for (i, b) in self.0.iter().enumerate() {
            if *b != 0 {
                return i * 8 + b.leading_zeros() as usize;
            }
        }
        ID_BITS
    }

    /// Length of the common prefix with `other`, in bits.
    pub fn common_prefix_len(&self, other: &NodeId) -> usize {
        self.distance(other).leading_zeros()
    }

    /// Bit `i`, counting from the most significant bit (bit 0).
    pub fn bit(&self, i: usize) -> bool {
        self.0[i / 8] & (0x80 >> (i % 8)) != 0
    }

    /// A random id that shares exactly `prefix_len` leading bits with `self`:
    /// the first `prefix_len` bits equal, the next bit flipped, the rest random.
    /// This is the target of a Kademlia bucket refresh.
    pub fn random_at_prefix(&self, prefix_len: usize, rng: &mut impl rand::Rng) -> NodeId {
        let mut out = NodeId::random(rng).0;
        for i in 0..prefix_len.min(ID_BITS) {
            set_bit(&mut out, i, self.bit(i));
        }
        if prefix_len < ID_BITS {
            set_bit(&mut out, prefix_len, !self.bit(prefix_len));
        }
        NodeId(out)
    }

    /// Lowercase hexadecimal, 40 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(ID_BYTES * 2);
        for b in self.0 {
            s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
            s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
        }
        s
    }

    /// The first 8 bytes as a big-endian number (a short, ordered summary).
    pub fn prefix_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }
}

fn set_bit(b: &mut [u8; ID_BYTES], i: usize, v: bool) {
    let mask = 0x80u8 >> (i % 8);
    if v {
        b[i / 8] |= mask;
    } else {
        b[i / 8] &= !mask;
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a string is not a 40-digit hexadecimal id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node id `{0}`: expected 40 hexadecimal digits")]
pub struct IdParseError(pub String);

impl FromStr for NodeId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != ID_BYTES * 2 {
            return Err(IdParseError(s.to_string()));
        }
        let mut out = [0u8; ID_BYTES];
        for (i, o) in out.iter_mut().enumerate() {
            let hi = (bytes[2 * i] as char).to_digit(16);
            let lo = (bytes[2 * i + 1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => *o = (h * 16 + l) as u8,
                _ => return Err(IdParseError(s.to_string())),
            }
        }
        Ok(NodeId(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::NodeRng;
    use rand::SeedableRng;

    #[test]
    fn sha1_matches_the_published_test_vector() {
        // FIPS 180-1 appendix A: SHA-1("abc").
        assert_eq!(
            NodeId::from_name(HashAlg::Sha1, "abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        // FIPS 180-2: SHA-256("abc"), first 160 bits.
        assert_eq!(
            NodeId::from_name(HashAlg::Sha256, "abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a3"
        );
    }

    #[test]
    fn xor_distance_is_a_metric_with_prefix_structure() {
        let mut rng = NodeRng::seed_from_u64(7);
        for _ in 0..200 {
            let a = NodeId::random(&mut rng);
            let b = NodeId::random(&mut rng);
            assert_eq!(a.distance(&b), b.distance(&a));
            assert_eq!(a.distance(&a), NodeId::ZERO);
            assert_eq!(a.common_prefix_len(&a), ID_BITS);
            let p = (b.prefix_u64() % 160) as usize;
            let c = a.random_at_prefix(p, &mut rng);
            assert_eq!(a.common_prefix_len(&c), p);
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let id = NodeId::from_name(HashAlg::Sha1, "alice@example.com");
        assert_eq!(id.to_hex().parse::<NodeId>().unwrap(), id);
        assert!("xyz".parse::<NodeId>().is_err());
        assert!("g".repeat(40).parse::<NodeId>().is_err());
    }
}
