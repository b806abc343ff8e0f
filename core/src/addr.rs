//! Transport addresses as plain data.
//!
//! The core never touches a socket, so it has its own compact address type
//! (6 bytes: IPv4 and port) rather than `std::net`'s. The live node converts
//! at its edge. IPv6 is not supported yet; the live node rejects it with a
//! clear error.

use core::fmt;
use core::str::FromStr;

/// An IPv4 address and UDP port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    /// The four octets of the IPv4 address, most significant first.
    pub ip: [u8; 4],
    /// The UDP port.
    pub port: u16,
}

impl Addr {
    /// Wire size of an address.
    pub const WIRE_LEN: usize = 6;

    /// An address from its octets and port.
    pub const fn new(ip: [u8; 4], port: u16) -> Self {
        Addr { ip, port }
    }
    /// An address from a 32-bit host-order IP and a port.
    pub const fn from_u32(ip: u32, port: u16) -> Self {
        Addr {
            ip: ip.to_be_bytes(),
            port,
        }
    }
    /// The IP as a 32-bit host-order number.
    pub const fn ip_u32(&self) -> u32 {
        u32::from_be_bytes(self.ip)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// Why a string is not an `IPv4:port` address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{input}`: {reason} (expected IPv4:port, e.g. 127.0.0.1:4000)")]
pub struct AddrParseError {
    /// The text that failed to parse.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl FromStr for Addr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddrParseError {
            input: s.to_string(),
            reason,
        };
        if s.starts_with('[') {
            return Err(err("IPv6 is not supported yet"));
        }
        let (ip, port) = s.rsplit_once(':').ok_or_else(|| err("missing `:port`"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| err("port is not a number in 0..=65535"))?;
        let mut octets = [0u8; 4];
        let mut parts = ip.split('.');
        for o in octets.iter_mut() {
            let part = parts
                .next()
                .ok_or_else(|| err("IPv4 address needs four octets"))?;
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("octet is not a number in 0..=255"));
            }
            *o = part
                .parse()
                .map_err(|_| err("octet is not a number in 0..=255"))?;
        }
        if parts.next().is_some() {
            return Err(err("IPv4 address has more than four octets"));
        }
        Ok(Addr { ip: octets, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let a: Addr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(a, Addr::new([127, 0, 0, 1], 4000));
        assert_eq!(a.to_string(), "127.0.0.1:4000");
        assert_eq!(Addr::from_u32(a.ip_u32(), 4000), a);
    }

    #[test]
    fn rejects_bad_addresses_with_a_reason() {
        for bad in [
            "127.0.0.1",
            "127.0.0:80",
            "1.2.3.4.5:1",
            "256.0.0.1:1",
            "1.2.3.4:70000",
            "[::1]:5",
            "a.b.c.d:1",
        ] {
            let e = bad.parse::<Addr>().unwrap_err();
            assert_eq!(e.input, bad);
            assert!(e.to_string().contains(bad));
        }
    }
}
