//! Settings of the resolution engine.

use hanse_dnssec::{AlgorithmPolicy, TrustAnchor};
use hanse_wire::Name;
use std::net::SocketAddr;
use std::time::Duration;

/// How queries leave the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverMode {
    /// Iterate from the root servers.
    Recursive,
    /// Send every query with RD set to these recursive servers, in order of
    /// preference: the first one not backed off after a failure is asked.
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
    /// Upstream queries outstanding at once to the servers of one zone
    /// (iterative resolution only); above it a resolution that needs the
    /// zone fails at once. 0: no cap.
    pub max_outstanding_per_zone: u32,
    /// Upstream queries outstanding at once to one server address (also
    /// forwarders); above it the server is skipped. 0: no cap.
    pub max_outstanding_per_server: u32,
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
            max_outstanding_per_zone: 200,
            max_outstanding_per_server: 400,
        }
    }
}

/// DNSSEC validation settings (RFC 4033–4035, 5155, 6840, 7646).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnssecConfig {
    /// Whether answers are validated. Off: queries still carry DO and the
    /// signatures are kept, but nothing is marked secure or bogus.
    pub validation: bool,
    /// The trust anchors (DS or DNSKEY of a zone); names below no anchor
    /// are indeterminate.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Negative trust anchors (RFC 7646): a name and everything below it is
    /// treated as insecure.
    pub negative_trust_anchors: Vec<Name>,
    /// The work allowed per client query (KeyTrap caps): signature
    /// verifications, keys tried per key tag, NSEC3 hashes. Running out
    /// makes the answer bogus.
    pub limits: hanse_dnssec::Limits,
    /// Which optional algorithms are verified (RSA/SHA-1 off by default).
    pub algorithms: AlgorithmPolicy,
    /// The longest time bogus data is kept, so that CD queries find it
    /// (RFC 4035 §4.7; RFC 9520 §3.2 asks for at most 5 minutes).
    pub bogus_ttl: u32,
    /// Whether NXDOMAIN and NODATA are answered from cached NSEC records
    /// that validation found secure, without asking upstream (aggressive
    /// negative caching, RFC 8198). Takes effect only with validation on.
    pub aggressive_nsec: bool,
}

impl DnssecConfig {
    /// Validation off.
    pub fn disabled() -> DnssecConfig {
        DnssecConfig {
            validation: false,
            trust_anchors: Vec::new(),
            negative_trust_anchors: Vec::new(),
            limits: DnssecConfig::default_limits(),
            algorithms: AlgorithmPolicy::default(),
            bogus_ttl: 60,
            aggressive_nsec: true,
        }
    }

    /// Validation on, from these trust anchors.
    pub fn with_anchors(trust_anchors: Vec<TrustAnchor>) -> DnssecConfig {
        DnssecConfig {
            validation: true,
            trust_anchors,
            ..DnssecConfig::disabled()
        }
    }

    /// The allowance of one client query: enough for a chain of trust of
    /// several zones from a cold cache with NSEC3 proofs, far below what a
    /// KeyTrap zone asks for.
    pub fn default_limits() -> hanse_dnssec::Limits {
        hanse_dnssec::Limits {
            max_verifications: 48,
            max_keys_per_tag: 4,
            max_nsec3_hashes: 96,
        }
    }

    /// Whether `name` is at or below a negative trust anchor.
    pub fn is_negative_anchor(&self, name: &Name) -> bool {
        self.negative_trust_anchors
            .iter()
            .any(|anchor| name.is_subdomain_of(anchor))
    }
}

impl Default for DnssecConfig {
    /// Validation on from the built-in root trust anchors.
    fn default() -> DnssecConfig {
        DnssecConfig::with_anchors(hanse_dnssec::builtin_root_anchors())
    }
}

/// Serve-stale (RFC 8767) and prefetch. How long expired data is kept is
/// the cache's [`hanse_cache::CacheConfig::max_stale`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleConfig {
    /// Whether stale data answers when resolution fails or is slow
    /// (RFC 8767 §5, serve-stale).
    pub serve_stale: bool,
    /// The TTL of records in a stale answer (RFC 8767 §4 and §5,
    /// stale-answer-ttl; 30 seconds recommended).
    pub stale_answer_ttl: u32,
    /// How long a client waits for a resolution before it gets stale data
    /// while the resolution goes on (RFC 8767 §5, client-response-timer;
    /// 1.8 seconds recommended). Zero: stale data only after a failure.
    pub client_response_timeout: Duration,
    /// Whether a cache hit near expiry refreshes the RRset in the background.
    pub prefetch: bool,
    /// The share of its original TTL, in percent, below which a hit counts
    /// as near expiry.
    pub prefetch_threshold: u8,
}

impl Default for StaleConfig {
    /// Serve-stale with the values RFC 8767 §5 recommends; prefetch in the
    /// last 10% of a TTL.
    fn default() -> StaleConfig {
        StaleConfig {
            serve_stale: true,
            stale_answer_ttl: 30,
            client_response_timeout: Duration::from_millis(1800),
            prefetch: true,
            prefetch_threshold: 10,
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
    /// DNSSEC validation.
    pub dnssec: DnssecConfig,
    /// Serve-stale and prefetch.
    pub stale: StaleConfig,
    /// Servers (forwarders, servers of forward and stub zones) reached over
    /// TLS or HTTPS instead of UDP and TCP, by address and port.
    pub encrypted_upstreams: Vec<crate::EncryptedUpstream>,
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
            dnssec: DnssecConfig::default(),
            stale: StaleConfig::default(),
            encrypted_upstreams: Vec::new(),
        }
    }
}
