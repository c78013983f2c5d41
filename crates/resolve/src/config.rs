//! Settings of the resolution engine.

use hanse_wire::Name;
use std::net::SocketAddr;
use std::time::Duration;

/// How queries leave the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverMode {
    /// Iterate from the root servers.
    Recursive,
    /// Send every query with RD set to these recursive servers, in order of preference.
    Forward(Vec<SocketAddr>),
}

/// QNAME minimisation (RFC 9156).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnameMinimisation {
    /// Always send the full query name.
    Off,
    /// Minimise, and fall back to the full name when a server answers a
    /// minimised query with an error or NXDOMAIN.
    Relaxed,
    /// Minimise, and never fall back.
    Strict,
}

/// A zone with the servers to ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneServers {
    /// The zone's apex.
    pub name: Name,
    /// The servers (port included).
    pub servers: Vec<SocketAddr>,
}

/// Bounds on the work one client query may cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Upstream queries sent for one client query, sub-resolutions included.
    pub max_upstream_queries: u32,
    /// Nameserver names whose addresses are looked up per delegation.
    pub max_nameserver_names: u32,
    /// CNAME and DNAME links followed.
    pub max_cname_chain: u32,
    /// Wall-clock time for one client query.
    pub max_resolution_time: Duration,
    /// The longest wait for one upstream response.
    pub upstream_timeout: Duration,
    /// Nesting of nameserver-address look-ups.
    pub max_delegation_depth: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_upstream_queries: 64,
            max_nameserver_names: 6,
            max_cname_chain: 12,
            max_resolution_time: Duration::from_secs(10),
            upstream_timeout: Duration::from_millis(1500),
            max_delegation_depth: 6,
        }
    }
}

/// Everything the resolver needs to know; replaced as a whole on reload.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Recursive or forwarding.
    pub mode: ResolverMode,
    /// The root servers to prime from: names and addresses.
    pub root_hints: Vec<(Name, Vec<std::net::IpAddr>)>,
    /// Zones sent to forwarders with RD set.
    pub forward_zones: Vec<ZoneServers>,
    /// Zones whose authoritative servers are given here.
    pub stub_zones: Vec<ZoneServers>,
    /// Whether nameservers on loopback, private and link-local addresses may be queried.
    pub query_private_upstreams: bool,
    /// QNAME minimisation mode.
    pub qname_minimisation: QnameMinimisation,
    /// The EDNS UDP payload size sent upstream (RFC 6891; 1232 by default).
    pub edns_buffer_size: u16,
    /// Work limits.
    pub limits: Limits,
}

impl ResolverConfig {
    /// Recursive resolution from `root_hints` with default settings.
    pub fn recursive(root_hints: Vec<(Name, Vec<std::net::IpAddr>)>) -> ResolverConfig {
        ResolverConfig {
            mode: ResolverMode::Recursive,
            root_hints,
            forward_zones: Vec::new(),
            stub_zones: Vec::new(),
            query_private_upstreams: false,
            qname_minimisation: QnameMinimisation::Relaxed,
            edns_buffer_size: 1232,
            limits: Limits::default(),
        }
    }
}
