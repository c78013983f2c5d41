//! A simulated DNS hierarchy: several [`AuthServer`]s started together, and
//! the root hints (in the `named.root` master-file form) that point a
//! resolver at the simulated root servers.
//!
//! # Limitations
//! - The root hints name each root server after an NS record of the root
//!   zone whose address matches; a root server without one gets the made-up
//!   name `rootN.testnet.invalid.`.

use crate::server::{AuthServer, ServerSpec, socket_address};
use hanse_wire::{Name, RType};
use std::io;

/// The TTL written into root hints.
const HINT_TTL: u32 = 3_600_000;

/// Authoritative servers started together; dropping it stops them all.
#[derive(Debug)]
pub struct TestNet {
    servers: Vec<AuthServer>,
}

impl TestNet {
    /// Starts one server per spec; fails if any address cannot be bound.
    pub fn start(specs: Vec<ServerSpec>) -> io::Result<TestNet> {
        let mut servers = Vec::with_capacity(specs.len());
        for spec in specs {
            let address = spec.address;
            let server = AuthServer::start(spec).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot start a server on {address}: {error}"),
                )
            })?;
            servers.push(server);
        }
        Ok(TestNet { servers })
    }

    /// All servers, in the order of their specs.
    pub fn servers(&self) -> &[AuthServer] {
        &self.servers
    }

    /// The server on `address` (`"127.0.0.1"` means port 53).
    ///
    /// # Panics
    /// If no server listens there: a mistake in the test.
    pub fn server(&self, address: &str) -> &AuthServer {
        self.find(address)
            .unwrap_or_else(|| panic!("no test server on {address}"))
    }

    /// The server on `address`, if there is one.
    pub fn find(&self, address: &str) -> Option<&AuthServer> {
        let wanted = socket_address(address)?;
        self.servers
            .iter()
            .find(|server| server.address() == wanted)
    }

    /// Forgets the queries every server received so far.
    pub fn clear_queries(&self) {
        self.servers.iter().for_each(AuthServer::clear_queries);
    }

    /// Root hints in `named.root` form for the root servers on `root_addresses`.
    pub fn root_hints(&self, root_addresses: &[&str]) -> String {
        let mut text = String::from("; Root hints of a simulated DNS hierarchy\n");
        for (index, address) in root_addresses.iter().enumerate() {
            let ip = socket_address(address).map(|socket| socket.ip());
            let server_name = ip
                .and_then(|ip| self.root_server_name(ip))
                .unwrap_or_else(|| format!("root{}.testnet.invalid.", index + 1));
            let rtype = if ip.is_some_and(|ip| ip.is_ipv6()) {
                "AAAA"
            } else {
                "A"
            };
            let ip = ip.map_or_else(|| address.to_string(), |ip| ip.to_string());
            text.push_str(&format!(".\t{HINT_TTL}\tNS\t{server_name}\n"));
            text.push_str(&format!("{server_name}\t{HINT_TTL}\t{rtype}\t{ip}\n"));
        }
        text
    }

    /// The name of an NS record of a served root zone whose address is `ip`.
    fn root_server_name(&self, ip: std::net::IpAddr) -> Option<String> {
        let root = Name::root();
        let zones = self.servers.iter().flat_map(|server| server.zones());
        for zone in zones.clone().filter(|zone| zone.origin() == &root) {
            for ns in zone
                .records()
                .iter()
                .filter(|record| record.rtype == RType::NS)
            {
                let Some(target) = ns.target_name() else {
                    continue;
                };
                let has_address = zones
                    .clone()
                    .flat_map(|zone| zone.records())
                    .any(|record| record.name == target && record.address() == Some(ip));
                if has_address && ns.name.is_root() {
                    return Some(target.to_string());
                }
            }
        }
        None
    }
}
