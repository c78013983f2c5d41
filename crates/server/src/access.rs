//! The access list: which client addresses may use the resolver.

use std::net::IpAddr;

/// A list of networks; a client inside any of them is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    networks: Vec<(IpAddr, u8)>,
}

impl AccessList {
    /// Builds a list from (network address, prefix length) pairs.
    pub fn new(networks: Vec<(IpAddr, u8)>) -> AccessList {
        AccessList { networks }
    }

    /// Whether `client` is inside one of the networks. IPv4-mapped IPv6
    /// addresses match IPv4 networks.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        self.networks
            .iter()
            .any(|&(network, prefix)| contains(network, prefix, client))
    }
}

fn contains(network: IpAddr, prefix: u8, address: IpAddr) -> bool {
    match (network, address) {
        (IpAddr::V4(network), IpAddr::V4(address)) => {
            let prefix = u32::from(prefix.min(32));
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            u32::from(network) & mask == u32::from(address) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(address)) => {
            let prefix = u32::from(prefix.min(128));
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            u128::from(network) & mask == u128::from(address) & mask
        }
        _ => false,
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
}
