//! Root hints: the names and addresses of the root servers that a resolver
//! primes from (RFC 9609), read from the `named.root` master-file format that
//! IANA publishes: NS records at the root and A/AAAA records for the server
//! names.
//!
//! # Limitations
//! - Only NS, A and AAAA records are allowed; NS records must be owned by the
//!   root and every address must belong to a server that an NS record names.
//! - A server without any address is kept (with no addresses): the resolver
//!   may still learn them from priming.

use crate::ZoneError;
use crate::lexer::Lexer;
use crate::zone::parse_with_positions;
use hanse_wire::{Name, RType};
use std::net::IpAddr;

/// One root server: its name and addresses, IPv4 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootServer {
    /// The server's name, such as `a.root-servers.net.`.
    pub name: Name,
    /// Its addresses in the order of the hints.
    pub addresses: Vec<IpAddr>,
}

/// The root servers from a hints file, in the order of their NS records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHints {
    /// The servers.
    pub servers: Vec<RootServer>,
}

impl RootHints {
    /// All addresses of all servers.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.servers
            .iter()
            .flat_map(|server| server.addresses.iter().copied())
    }
}

/// Reads root hints in the `named.root` format. Fails if the text is not a
/// valid master file, holds other records than root NS and A/AAAA records of
/// the servers, has no NS record, or gives no server an address.
pub fn parse_root_hints(text: &str) -> Result<RootHints, ZoneError> {
    let records = parse_with_positions(text, &Name::root(), 3_600_000)?;
    let mut servers: Vec<RootServer> = Vec::new();
    for (record, position) in &records {
        if record.rtype != RType::NS {
            continue;
        }
        if !record.name.is_root() {
            return Err(position.error(format!("NS record for {}, not for the root", record.name)));
        }
        let Some(target) = record.target_name() else {
            return Err(position.error("NS record without a valid server name"));
        };
        if !servers.iter().any(|server| server.name == target) {
            servers.push(RootServer {
                name: target,
                addresses: Vec::new(),
            });
        }
    }
    if servers.is_empty() {
        return Err(
            Lexer::end_position(text).error("root hints without any NS record for the root")
        );
    }
    for (record, position) in &records {
        match record.rtype {
            RType::NS => {}
            RType::A | RType::AAAA => {
                let server = servers
                    .iter_mut()
                    .find(|server| server.name == record.name)
                    .ok_or_else(|| {
                        position.error(format!(
                            "address for {}, which no root NS record names",
                            record.name
                        ))
                    })?;
                let address = record
                    .address()
                    .ok_or_else(|| position.error("malformed address record"))?;
                if !server.addresses.contains(&address) {
                    server.addresses.push(address);
                }
            }
            other => {
                return Err(position.error(format!("unexpected {other} record in root hints")));
            }
        }
    }
    if servers.iter().all(|server| server.addresses.is_empty()) {
        return Err(Lexer::end_position(text).error("root hints without any server address"));
    }
    Ok(RootHints { servers })
}

/// The root servers a.root-servers.net to m.root-servers.net with their IPv4
/// and IPv6 addresses as IANA lists them (B moved to new addresses in 2023).
const BUILTIN_ROOT_HINTS: &str = "\
; The root servers (IANA root hints).
$TTL 3600000
.                        NS    a.root-servers.net.
.                        NS    b.root-servers.net.
.                        NS    c.root-servers.net.
.                        NS    d.root-servers.net.
.                        NS    e.root-servers.net.
.                        NS    f.root-servers.net.
.                        NS    g.root-servers.net.
.                        NS    h.root-servers.net.
.                        NS    i.root-servers.net.
.                        NS    j.root-servers.net.
.                        NS    k.root-servers.net.
.                        NS    l.root-servers.net.
.                        NS    m.root-servers.net.
a.root-servers.net.      A     198.41.0.4
a.root-servers.net.      AAAA  2001:503:ba3e::2:30
b.root-servers.net.      A     170.247.170.2
b.root-servers.net.      AAAA  2801:1b8:10::b
c.root-servers.net.      A     192.33.4.12
c.root-servers.net.      AAAA  2001:500:2::c
d.root-servers.net.      A     199.7.91.13
d.root-servers.net.      AAAA  2001:500:2d::d
e.root-servers.net.      A     192.203.230.10
e.root-servers.net.      AAAA  2001:500:a8::e
f.root-servers.net.      A     192.5.5.241
f.root-servers.net.      AAAA  2001:500:2f::f
g.root-servers.net.      A     192.112.36.4
g.root-servers.net.      AAAA  2001:500:12::d0d
h.root-servers.net.      A     198.97.190.53
h.root-servers.net.      AAAA  2001:500:1::53
i.root-servers.net.      A     192.36.148.17
i.root-servers.net.      AAAA  2001:7fe::53
j.root-servers.net.      A     192.58.128.30
j.root-servers.net.      AAAA  2001:503:c27::2:30
k.root-servers.net.      A     193.0.14.129
k.root-servers.net.      AAAA  2001:7fd::1
l.root-servers.net.      A     199.7.83.42
l.root-servers.net.      AAAA  2001:500:9f::42
m.root-servers.net.      A     202.12.27.33
m.root-servers.net.      AAAA  2001:dc3::35
";

/// The built-in root hints: the 13 root servers with 26 addresses.
pub fn builtin_root_hints() -> RootHints {
    parse_root_hints(BUILTIN_ROOT_HINTS).unwrap_or_else(|error| {
        // The text is a constant that the tests parse; this cannot happen.
        unreachable!("built-in root hints do not parse: {error}")
    })
}
