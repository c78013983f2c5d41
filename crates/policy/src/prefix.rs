//! Longest-prefix matching for address triggers (CLIENT-IP, RESPONSE-IP,
//! NSIP; draft-ietf-dnsop-dns-rpz §6.2, §6.4, §6.6) and for the mapping of
//! clients to profiles by CIDR.
//!
//! One hash map per address family keyed by (masked address, prefix length),
//! plus the list of prefix lengths present, longest first. A lookup probes one
//! map entry per length present (at most 33 or 129, usually a handful) and
//! allocates nothing. Updates copy the table (address triggers are far fewer
//! than name triggers in real feeds).
//!
//! # Limitations
//! - IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are matched as IPv4.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address prefix: an address with its host bits clear and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    address: IpAddr,
    length: u8,
}

/// Why a prefix is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The length exceeds 32 (IPv4) or 128 (IPv6).
    #[error("prefix length {0} too long for the address family")]
    LengthTooLong(u8),
    /// Bits beyond the prefix length are set.
    #[error("address has bits set beyond the prefix length")]
    HostBitsSet,
    /// Not `address/length`.
    #[error("not an address prefix")]
    Syntax,
}

impl Prefix {
    /// A prefix; refuses host bits beyond `length`.
    pub fn new(address: IpAddr, length: u8) -> Result<Prefix, PrefixError> {
        let address = unmap(address);
        let maximum = if address.is_ipv4() { 32 } else { 128 };
        if length > maximum {
            return Err(PrefixError::LengthTooLong(length));
        }
        if mask(address, length) != address {
            return Err(PrefixError::HostBitsSet);
        }
        Ok(Prefix { address, length })
    }

    /// The prefix covering `address` with its host bits cleared.
    pub fn covering(address: IpAddr, length: u8) -> Prefix {
        let address = unmap(address);
        let maximum = if address.is_ipv4() { 32 } else { 128 };
        let length = length.min(maximum);
        Prefix {
            address: mask(address, length),
            length,
        }
    }

    /// The network address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The prefix length.
    pub fn length(&self) -> u8 {
        self.length
    }

    /// Whether `address` lies inside this prefix.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = unmap(address);
        address.is_ipv4() == self.address.is_ipv4() && mask(address, self.length) == self.address
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.length)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    /// Parses `address/length`, or a bare address as a host prefix.
    fn from_str(text: &str) -> Result<Prefix, PrefixError> {
        let (address, length) = match text.split_once('/') {
            Some((address, length)) => (address, Some(length)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| PrefixError::Syntax)?;
        let length = match length {
            Some(length) => length.trim().parse().map_err(|_| PrefixError::Syntax)?,
            None if address.is_ipv4() => 32,
            None => 128,
        };
        Prefix::new(address, length)
    }
}

/// `address` as IPv4 if it is an IPv4-mapped IPv6 address.
fn unmap(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn mask(address: IpAddr, length: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if length == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - u32::from(length.min(32))))
            };
            IpAddr::V4(Ipv4Addr::from(kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if length == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - u32::from(length.min(128))))
            };
            IpAddr::V6(Ipv6Addr::from(kept))
        }
    }
}

/// A map from prefixes to values with longest-prefix lookup.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixMap {
    entries: HashMap<Prefix, u32>,
    /// The IPv4 prefix lengths present, longest first.
    lengths_v4: Vec<u8>,
    /// The IPv6 prefix lengths present, longest first.
    lengths_v6: Vec<u8>,
}

impl PrefixMap {
    /// Sets the value of `prefix`, returning the value it replaces.
    pub fn insert(&mut self, prefix: Prefix, value: u32) -> Option<u32> {
        let lengths = if prefix.address.is_ipv4() {
            &mut self.lengths_v4
        } else {
            &mut self.lengths_v6
        };
        if let Err(position) = lengths.binary_search_by(|probe| prefix.length.cmp(probe)) {
            lengths.insert(position, prefix.length);
        }
        self.entries.insert(prefix, value)
    }

    /// Removes `prefix`, returning its value.
    pub fn remove(&mut self, prefix: &Prefix) -> Option<u32> {
        let old = self.entries.remove(prefix)?;
        let family_v4 = prefix.address.is_ipv4();
        let still_used = self
            .entries
            .keys()
            .any(|other| other.length == prefix.length && other.address.is_ipv4() == family_v4);
        if !still_used {
            let lengths = if family_v4 {
                &mut self.lengths_v4
            } else {
                &mut self.lengths_v6
            };
            lengths.retain(|&length| length != prefix.length);
        }
        Some(old)
    }

    /// The value of exactly `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<u32> {
        self.entries.get(prefix).copied()
    }

    /// The longest prefix containing `address`, with its value.
    pub fn longest_match(&self, address: IpAddr) -> Option<(Prefix, u32)> {
        let address = unmap(address);
        let lengths = if address.is_ipv4() {
            &self.lengths_v4
        } else {
            &self.lengths_v6
        };
        lengths.iter().find_map(|&length| {
            let prefix = Prefix::covering(address, length);
            self.entries.get(&prefix).map(|&value| (prefix, value))
        })
    }

    /// The number of prefixes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Prefix, &u32)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    #[test]
    fn longer_prefix_beats_shorter() {
        let mut map = PrefixMap::default();
        map.insert(prefix("192.168.4.0/24"), 1);
        map.insert(prefix("192.168.4.4/32"), 2);
        map.insert(prefix("0.0.0.0/0"), 3);
        map.insert(prefix("2001:2:3::/48"), 4);
        let lookup = |map: &PrefixMap, text: &str| {
            map.longest_match(text.parse().unwrap())
                .map(|found| found.1)
        };
        assert_eq!(lookup(&map, "192.168.4.4"), Some(2));
        assert_eq!(lookup(&map, "192.168.4.5"), Some(1));
        assert_eq!(lookup(&map, "10.0.0.1"), Some(3));
        assert_eq!(lookup(&map, "::ffff:192.168.4.4"), Some(2));
        assert_eq!(lookup(&map, "2001:2:3::1"), Some(4));
        assert_eq!(lookup(&map, "2001:2:4::1"), None);
        map.remove(&prefix("192.168.4.4/32"));
        assert_eq!(lookup(&map, "192.168.4.4"), Some(1));
    }

    #[test]
    fn host_bits_and_lengths_are_checked() {
        assert_eq!(
            "10.0.0.1/8".parse::<Prefix>(),
            Err(PrefixError::HostBitsSet)
        );
        assert_eq!(
            "10.0.0.0/33".parse::<Prefix>(),
            Err(PrefixError::LengthTooLong(33))
        );
        assert_eq!("nonsense".parse::<Prefix>(), Err(PrefixError::Syntax));
        assert_eq!(prefix("2001:db8::1").length(), 128);
    }
}
