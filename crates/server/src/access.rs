//! The access list: which client addresses may use the resolver.

use std::net::IpAddr;

/// A list of networks; a client inside any of them is allowed.
///
/// The networks are kept as given (for equality and display) and as masked
/// integers per address family, which is what [`AccessList::allows`] reads:
/// it runs for every query, so it does no per-network mask arithmetic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    networks: Vec<(IpAddr, u8)>,
    /// IPv4 networks as (masked address, mask).
    ipv4: Vec<(u32, u32)>,
    /// IPv6 networks as (masked address, mask).
    ipv6: Vec<(u128, u128)>,
}

impl AccessList {
    /// Builds a list from (network address, prefix length) pairs.
    pub fn new(networks: Vec<(IpAddr, u8)>) -> AccessList {
        let mut ipv4 = Vec::new();
        let mut ipv6 = Vec::new();
        for &(network, prefix) in &networks {
            match network {
                IpAddr::V4(network) => {
                    let mask = ipv4_mask(prefix);
                    ipv4.push((u32::from(network) & mask, mask));
                }
                IpAddr::V6(network) => {
                    let mask = ipv6_mask(prefix);
                    ipv6.push((u128::from(network) & mask, mask));
                }
            }
        }
        AccessList {
            networks,
            ipv4,
            ipv6,
        }
    }

    /// Whether `client` is inside one of the networks. IPv4-mapped IPv6
    /// addresses match IPv4 networks.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => {
                    let address = u128::from(v6);
                    return self
                        .ipv6
                        .iter()
                        .any(|&(network, mask)| address & mask == network);
                }
            },
            IpAddr::V4(v4) => v4,
        };
        let address = u32::from(client);
        self.ipv4
            .iter()
            .any(|&(network, mask)| address & mask == network)
    }
}

/// The mask of an IPv4 prefix of `prefix` bits (at most 32).
fn ipv4_mask(prefix: u8) -> u32 {
    let prefix = u32::from(prefix.min(32));
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// The mask of an IPv6 prefix of `prefix` bits (at most 128).
fn ipv6_mask(prefix: u8) -> u128 {
    let prefix = u32::from(prefix.min(128));
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix() {
        let list = AccessList::new(vec![
            ("127.0.0.0".parse().unwrap(), 8),
            ("::1".parse().unwrap(), 128),
            ("10.0.0.0".parse().unwrap(), 8),
        ]);
        assert!(list.allows("127.1.2.3".parse().unwrap()));
        assert!(list.allows("::ffff:10.9.9.9".parse().unwrap()));
        assert!(list.allows("::1".parse().unwrap()));
        assert!(!list.allows("192.0.2.1".parse().unwrap()));
        assert!(!list.allows("::2".parse().unwrap()));
        assert!(
            AccessList::new(vec![("0.0.0.0".parse().unwrap(), 0)])
                .allows("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn families_do_not_mix_and_host_bits_of_a_network_are_ignored() {
        let list = AccessList::new(vec![
            ("2001:db8::1".parse().unwrap(), 32),
            ("192.0.2.77".parse().unwrap(), 24),
        ]);
        assert!(list.allows("2001:db8:ffff::9".parse().unwrap()));
        assert!(!list.allows("2001:db9::".parse().unwrap()));
        assert!(list.allows("192.0.2.1".parse().unwrap()));
        assert!(list.allows("::ffff:192.0.2.200".parse().unwrap()));
        assert!(!list.allows("192.0.3.1".parse().unwrap()));
        // An IPv4-mapped client is an IPv4 client: IPv6 networks do not hold it.
        let mapped_network = AccessList::new(vec![("::ffff:0.0.0.0".parse().unwrap(), 96)]);
        assert!(!mapped_network.allows("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!mapped_network.allows("192.0.2.1".parse().unwrap()));
        assert!(!AccessList::default().allows("127.0.0.1".parse().unwrap()));
    }
}
