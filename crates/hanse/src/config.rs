//! The configuration file of the `hanse` binary.
//!
//! The file is TOML (TOML 1.0/1.1 as implemented by the `toml` crate). This
//! module parses it into a spanned document and walks that document itself,
//! so that one pass reports *every* problem, each with its file, line and
//! column, instead of stopping at the first. `docs/configuration.md` is the
//! reference for every key; `examples/hanse.toml` shows all of them.
//!
//! Rules enforced here:
//! - Unknown sections and keys are problems, at every level, including the
//!   entries of `[[resolver.forward_zone]]` and `[[resolver.stub_zone]]`.
//! - Every value is checked for its type and range; addresses, networks
//!   (CIDR, RFC 4632 / RFC 4291 §2.3), domain names (RFC 1035 §2.3.1
//!   presentation format), durations and sizes are parsed here.
//! - Cross-field rules: `resolver.mode = "forward"` needs forwarders,
//!   forwarders need forward mode, `cache.min_ttl <= cache.max_ttl`,
//!   `resolver.limits.upstream_timeout <= resolver.limits.max_resolution_time`,
//!   `server.max_tcp_connections_per_client <= server.max_tcp_connections`,
//!   and a zone name appears at most once among forward and stub zones.
//! - `[policy]`: feed, profile, client and TSIG key names are unique;
//!   profiles name configured feeds, schedules and overrides name feeds of
//!   their profile, clients name configured profiles, feeds name configured
//!   TSIG keys; with profiles, one is named `default`; feed files exist;
//!   time zones are known to the engine's time-zone database.
//! - A feed has exactly one source: `file`, `url` (`http://` or `https://`,
//!   with `refresh`) or `zone` (a zone transfer, RFC 5936 / RFC 1995, from
//!   `primaries`, optionally signed with a TSIG key, RFC 8945). TSIG secrets
//!   are base64 (RFC 4648 §4), inline or in a `secret_file`, and are decoded
//!   here, so a bad secret is a configuration problem. A client entry maps
//!   exactly one of a network (`cidr`), a DoH path (`doh_path`,
//!   `/dns-query/TOKEN`) or a TLS server name (`server_name`) to a profile;
//!   the last two only in the configuration file, not in the API's policy
//!   file. Feed files are read by `feeds.rs`; remote feeds are fetched
//!   elsewhere.
//! - `[server]` encrypted listeners (`tls_listen`, `https_listen`,
//!   `doh_cleartext_listen`, `quic_listen`): DoT, DoH over TLS and DoQ need
//!   `certificate` and `private_key` (files that exist; their contents are
//!   read by the server), and no address is bound twice across the
//!   TCP-based listeners, nor across the UDP ones (`listen`, `quic_listen`).
//! - Upstream servers (`resolver.forwarders`, a zone's `servers`) are
//!   address strings (UDP and TCP) or inline tables `{ address, transport,
//!   tls_name, ca_file, path }` for DNS over TLS (RFC 7858) and DNS over
//!   HTTPS (RFC 8484); an address is either cleartext or encrypted, with one
//!   set of TLS settings, across all lists.
//! - `cache.servfail_ttl` is capped at 300 seconds (RFC 2308 §7.1).
//! - `[api]`: bearer tokens (RFC 6750) inline or in a `token_file`, at least
//!   16 visible ASCII characters, never quoted in a problem; a listen
//!   address that is not loopback needs a token. `[query_log]`: privacy
//!   level, retention and exclusions, checked here and used by the binary.
//! - The API's policy file (`api.policy_file`, by default `STEM.api.toml`
//!   beside the configuration file) holds `[[profile]]` and `[[client]]`
//!   entries shaped like `[[policy.profile]]` and `[[policy.client]]`. It is
//!   read after the configuration file, checked by the same code against the
//!   configuration file's names, its problems labelled with its own path; its
//!   entries are also kept as written (`PolicySection::api_profiles`,
//!   `api_clients`) for the API, and `render_policy_file` writes them back.
//!
//! # Limitations
//! - After a TOML syntax error only the syntax errors are reported: the
//!   recovered document is not validated, to avoid follow-on noise.
//! - Columns count Unicode scalar values, not display width; a tab is one
//!   column.
//! - `resolver.root_hints` is only checked for existence here; its contents
//!   are parsed by whoever loads the hints.
//! - Host names are not accepted where addresses are expected (listen
//!   addresses, forwarders, zone servers, transfer primaries); the resolver
//!   must not depend on itself to start. Feed URLs do name hosts: they are
//!   resolved when fetched, not here.
//! - The configuration file's clients may name only its own profiles, not
//!   those of the API's policy file; rendering the policy file drops comments.
//! - Feed URLs are checked for their form only (scheme, host, port, visible
//!   ASCII); user names and passwords in URLs are refused, and
//!   internationalised host names must be written in their `xn--` form.

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hanse_policy::{
    BlockAnswer, BuildError, ClientRule, ClientSelector, EdeCode, FeedFormat, FeedUse,
    PolicyOverride, PolicySet, Prefix, ProfileSpec, SafeSearch, TimeWindow, Weekdays,
    YoutubeRestriction,
};
use hanse_transfer::{TsigAlgorithm, TsigKey};
use hanse_wire::Name;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The port used when an upstream or listen address has none.
const DNS_PORT: u16 = 53;
/// The largest TTL a resolver should honour (RFC 2181 §8).
const MAX_TTL_VALUE: u32 = 0x7fff_ffff;
/// The longest a SERVFAIL may be cached (RFC 2308 §7.1).
const MAX_SERVFAIL_TTL: u32 = 300;
/// The most worker threads `server.threads` accepts.
const MAX_THREADS: usize = 1024;

/// One problem in a configuration file, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file name as given to [`load`] or [`parse`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in Unicode scalar values.
    pub column: usize,
    /// What is wrong, starting with the key path (`server.listen[1]: ...`).
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ConfigProblem {}

/// The whole configuration of the resolver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `[server]`: sockets, clients and threads.
    pub server: ServerSection,
    /// `[resolver]`: how answers are found.
    pub resolver: ResolverSection,
    /// `[cache]`: memory and TTL bounds.
    pub cache: CacheSection,
    /// `[log]`: logging.
    pub log: LogSection,
    /// `[policy]`: filtering feeds, profiles and client mappings.
    pub policy: PolicySection,
    /// `[api]`: the HTTP API and dashboard listener.
    pub api: ApiSection,
    /// `[query_log]`: the query log (off by default).
    pub query_log: QueryLogSection,
    /// `[dnssec]`: DNSSEC validation.
    pub dnssec: DnssecSection,
    /// `[rate_limit]`: per-client query limits and response-rate limiting.
    pub rate_limit: RateLimitSection,
}

/// What a query over its client network's limit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitAction {
    /// No answer.
    Drop,
    /// REFUSED.
    Refuse,
}

/// The `[rate_limit]` section: a token bucket per client network and
/// response-rate limiting (RRL) over UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSection {
    /// Queries per second one client network may send; 0 is no limit.
    pub queries_per_second: u32,
    /// Queries a client network may send at once above the rate; by default
    /// twice `queries_per_second`.
    pub burst: u32,
    /// Bits of an IPv4 address that make a client network.
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 address that make a client network.
    pub ipv6_prefix: u8,
    /// Clients never limited.
    pub exempt: Vec<IpNetwork>,
    /// What a query over the limit gets.
    pub action: RateLimitAction,
    /// Identical UDP responses per second to one client network; 0 is off.
    pub responses_per_second: u32,
    /// Every `slip`-th response over the RRL rate is sent truncated; 0
    /// never, 1 always.
    pub slip: u32,
    /// Resolutions in progress at once in the whole server; 0 is no bound.
    pub max_resolutions: u32,
    /// Resolutions in progress at once for one client network; 0 is no bound.
    pub max_resolutions_per_client: u32,
    /// What a cache miss gets when no resolution slot is free.
    pub overload_action: OverloadAction,
}

/// What a cache miss gets when no resolution slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverloadAction {
    /// SERVFAIL at once.
    Servfail,
    /// No answer.
    Drop,
}

/// The default of `rate_limit.queries_per_second`.
const DEFAULT_QUERIES_PER_SECOND: u32 = 1000;
/// The most `rate_limit.queries_per_second`, `burst` and
/// `responses_per_second` accept.
const MAX_RATE: u32 = 10_000_000;

impl Default for RateLimitSection {
    fn default() -> RateLimitSection {
        RateLimitSection {
            queries_per_second: DEFAULT_QUERIES_PER_SECOND,
            burst: 2 * DEFAULT_QUERIES_PER_SECOND,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: vec![
                IpNetwork {
                    address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                    prefix_length: 8,
                },
                IpNetwork {
                    address: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix_length: 128,
                },
            ],
            action: RateLimitAction::Drop,
            responses_per_second: 0,
            slip: 2,
            max_resolutions: 10_000,
            max_resolutions_per_client: 2_000,
            overload_action: OverloadAction::Servfail,
        }
    }
}

/// The `[dnssec]` section: DNSSEC validation (RFC 4033–4035).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnssecSection {
    /// `validation`: whether answers are validated (on by default).
    pub validation: bool,
    /// `trust_anchor_file`: DS or DNSKEY records in master-file format,
    /// replacing the built-in root anchors. Without it the built-in root
    /// anchors apply, unless `resolver.root_hints` names a root of one's
    /// own (a private namespace the IANA keys do not sign): then no anchor
    /// is configured and nothing validates as secure or bogus.
    pub trust_anchor_file: Option<PathBuf>,
    /// `negative_trust_anchors`: names whose subtrees are treated as
    /// insecure (RFC 7646).
    pub negative_trust_anchors: Vec<Name>,
    /// `auto_update`: RFC 5011 automated updates of the trust anchors,
    /// with their state in `policy.state_directory`. Absent: on for the
    /// built-in root anchors, off for a `trust_anchor_file`.
    pub auto_update: Option<bool>,
    /// `add_hold_down`: how long a new key waits before it is trusted
    /// (RFC 5011: 30 days). Shorter only for tests.
    pub add_hold_down: Duration,
    /// `refresh_interval`: a fixed time between refreshes of the managed
    /// zones' keys instead of RFC 5011's active refresh interval. For tests.
    pub refresh_interval: Option<Duration>,
    /// `aggressive_nsec`: answer NXDOMAIN and NODATA from cached validated
    /// NSEC records without asking upstream (RFC 8198; on by default).
    pub aggressive_nsec: bool,
}

impl DnssecSection {
    /// Whether RFC 5011 automated updates apply, given whether the root
    /// hints name a root of one's own.
    pub fn auto_update_in_force(&self, own_root: bool) -> bool {
        self.validation
            && self
                .auto_update
                .unwrap_or(self.trust_anchor_file.is_none() && !own_root)
    }
}

impl Default for DnssecSection {
    fn default() -> DnssecSection {
        DnssecSection {
            validation: true,
            trust_anchor_file: None,
            negative_trust_anchors: Vec::new(),
            auto_update: None,
            add_hold_down: Duration::from_secs(30 * 86_400),
            refresh_interval: None,
            aggressive_nsec: true,
        }
    }
}

/// The `[api]` section: the HTTP listener of the API, metrics and dashboard.
///
/// Its `Debug` form hides the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSection {
    /// Whether the listener runs.
    pub enabled: bool,
    /// Whether the file has an `[api]` table: without one, a listener that
    /// cannot bind its default address is skipped with an error in the log
    /// instead of stopping the start.
    pub configured: bool,
    /// The address and port it listens on.
    pub listen: SocketAddr,
    /// `[[api.token]]`: bearer tokens with their scopes. Empty: only loopback
    /// peers are served, as admin.
    pub tokens: Vec<(String, ApiScope)>,
    /// The file the API writes its profiles and client mappings to, and that
    /// [`load`] reads back. `None` without a configuration file: API writes
    /// are refused then.
    pub policy_file: Option<PathBuf>,
}

impl Default for ApiSection {
    fn default() -> ApiSection {
        ApiSection {
            enabled: true,
            configured: false,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_API_PORT),
            tokens: Vec::new(),
            policy_file: None,
        }
    }
}

impl fmt::Debug for ApiSection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes: Vec<ApiScope> = self.tokens.iter().map(|(_, scope)| *scope).collect();
        formatter
            .debug_struct("ApiSection")
            .field("enabled", &self.enabled)
            .field("configured", &self.configured)
            .field("listen", &self.listen)
            .field("token_scopes", &scopes)
            .field("policy_file", &self.policy_file)
            .finish()
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiScope {
    /// Reading only (`GET`, `HEAD`).
    Read,
    /// Everything, including changes.
    Admin,
}

/// The `[query_log]` section: what the query log keeps, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLogSection {
    /// Whether queries are logged at all.
    pub enabled: bool,
    /// The SQLite database; by default `querylog.sqlite` in
    /// `policy.state_directory`.
    pub path: PathBuf,
    /// 0 full, 1 pseudonymised clients, 2 no clients, 3 aggregates only.
    pub privacy_level: u8,
    /// How many days entries are kept.
    pub retention_days: u32,
    /// Client networks never logged, as (address, prefix length), host bits
    /// cleared.
    pub exclude_clients: Vec<(IpAddr, u8)>,
    /// Names never logged, with everything below them.
    pub exclude_names: Vec<Name>,
    /// Queries waiting for the writer at most; more are dropped and counted.
    pub queue_capacity: usize,
    /// `[query_log.dnstap]`: the dnstap export (independent of `enabled`).
    pub dnstap: Option<DnstapSection>,
}

/// Where the dnstap collector listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnstapTarget {
    /// `socket = "/run/dnstap.sock"`: a Unix stream socket.
    Unix(PathBuf),
    /// `address = "127.0.0.1:6000"`: TCP.
    Tcp(SocketAddr),
}

/// The `[query_log.dnstap]` table: dnstap over Frame Streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnstapSection {
    pub target: DnstapTarget,
    /// `Dnstap.identity`; empty: left out.
    pub identity: String,
    /// `Dnstap.version`; by default "hanse VERSION".
    pub version: String,
    /// Send CLIENT_QUERY messages.
    pub client_queries: bool,
    /// Send CLIENT_RESPONSE messages.
    pub client_responses: bool,
    /// Queries waiting for the sender at most; more are dropped and counted.
    pub queue_capacity: usize,
}

impl Default for QueryLogSection {
    fn default() -> QueryLogSection {
        QueryLogSection {
            enabled: false,
            path: Path::new(DEFAULT_STATE_DIRECTORY).join(QUERY_LOG_FILE),
            privacy_level: 1,
            retention_days: 7,
            exclude_clients: Vec::new(),
            exclude_names: Vec::new(),
            queue_capacity: 65_536,
            dnstap: None,
        }
    }
}

/// The `[server]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSection {
    /// Addresses to serve on, each with UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// Client networks that get answers; every other client gets REFUSED.
    pub allow_from: Vec<IpNetwork>,
    /// Worker threads.
    pub threads: usize,
    /// How long an idle TCP connection is kept open.
    pub tcp_idle_timeout: Duration,
    /// Open TCP connections in total.
    pub max_tcp_connections: usize,
    /// Open TCP connections from one client address.
    pub max_tcp_connections_per_client: usize,
    /// After SIGTERM: how long the node keeps answering DNS while it
    /// reports not-ready, before it stops accepting (0 to 25 s).
    pub lame_duck: Duration,
    /// Addresses to serve DNS over TLS on (RFC 7858); port 853 if none is given.
    pub tls_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over HTTPS on (RFC 8484); port 443 if none is given.
    pub https_listen: Vec<SocketAddr>,
    /// Addresses to serve DoH in cleartext HTTP on, behind a reverse proxy;
    /// port 80 if none is given.
    pub doh_cleartext_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over QUIC on (RFC 9250); UDP port 853 if none is given.
    pub quic_listen: Vec<SocketAddr>,
    /// How long an idle DoQ connection is kept open.
    pub quic_idle_timeout: Duration,
    /// Open DoQ connections in total.
    pub max_quic_connections: usize,
    /// Open DoQ connections from one client address.
    pub max_quic_connections_per_client: usize,
    /// Queries (streams) one DoQ connection may have open at once.
    pub max_quic_streams: u32,
    /// PEM file with the certificate chain of the DoT, DoH and DoQ listeners.
    pub certificate: Option<PathBuf>,
    /// PEM file with the private key of that certificate.
    pub private_key: Option<PathBuf>,
    /// Proxies whose UDP datagrams and TCP, DoT and DoH connections start
    /// with a PROXY protocol v2 header naming the client; empty by default.
    pub proxy_protocol_from: Vec<IpNetwork>,
    /// Whether UDP queries must carry a valid DNS server cookie (RFC 7873
    /// §5.2.3); false by default.
    pub require_cookies: bool,
    /// The 128-bit secret of server cookies (RFC 9018), for a fleet that
    /// answers from one anycast address; random at start when absent.
    pub cookie_secret: Option<[u8; 16]>,
}

impl Default for ServerSection {
    fn default() -> ServerSection {
        let threads = std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_THREADS);
        ServerSection {
            listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DNS_PORT),
            ],
            allow_from: default_allow_from(),
            threads,
            tcp_idle_timeout: Duration::from_secs(10),
            max_tcp_connections: 1024,
            max_tcp_connections_per_client: 64,
            lame_duck: Duration::from_secs(5),
            tls_listen: Vec::new(),
            https_listen: Vec::new(),
            doh_cleartext_listen: Vec::new(),
            quic_listen: Vec::new(),
            quic_idle_timeout: Duration::from_secs(30),
            max_quic_connections: 1024,
            max_quic_connections_per_client: 64,
            max_quic_streams: 100,
            certificate: None,
            private_key: None,
            proxy_protocol_from: Vec::new(),
            require_cookies: false,
            cookie_secret: None,
        }
    }
}

/// Loopback and private ranges: RFC 1122 §3.2.1.3, RFC 4291 §2.5.3,
/// RFC 1918, RFC 4193, RFC 4291 §2.5.6, RFC 6598.
fn default_allow_from() -> Vec<IpNetwork> {
    [
        (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
        (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
        (IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12),
        (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
        (IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7),
        (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
        (IpAddr::V4(Ipv4Addr::new(100, 64, 0, 0)), 10),
    ]
    .into_iter()
    .map(|(address, prefix_length)| IpNetwork {
        address,
        prefix_length,
    })
    .collect()
}

/// An IP network: an address and a prefix length (CIDR notation).
///
/// Parsed from `"10.0.0.0/8"` or `"2001:db8::/32"`; a bare address is a
/// host route (`/32` or `/128`). Host bits set in the address are cleared,
/// so `"10.1.2.3/8"` is `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    /// The network address, host bits clear.
    pub address: IpAddr,
    /// The number of leading bits that belong to the network.
    pub prefix_length: u8,
}

impl IpNetwork {
    /// Builds a network, clearing host bits in `address`. Fails if
    /// `prefix_length` exceeds the address width (32 or 128).
    pub fn new(address: IpAddr, prefix_length: u8) -> Result<IpNetwork, IpNetworkError> {
        let maximum = address_width(address);
        if prefix_length > maximum {
            return Err(IpNetworkError::PrefixTooLong {
                prefix_length,
                maximum,
            });
        }
        Ok(IpNetwork {
            address: mask_address(address, prefix_length),
            prefix_length,
        })
    }

    /// Whether `address` lies in this network. An IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.1`, RFC 4291 §2.5.5.2) matches IPv4 networks, and an
    /// IPv4 address matches IPv6 networks through its mapped form.
    #[allow(
        dead_code,
        reason = "API for callers that filter clients; main.rs passes the raw networks on"
    )]
    pub fn contains(&self, address: IpAddr) -> bool {
        let prefix_length = self.prefix_length.min(address_width(self.address));
        let candidate = match (self.address, address) {
            (IpAddr::V4(_), IpAddr::V6(address)) => match address.to_ipv4_mapped() {
                Some(mapped) => IpAddr::V4(mapped),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(address)) => IpAddr::V6(address.to_ipv6_mapped()),
            (_, address) => address,
        };
        mask_address(candidate, prefix_length) == mask_address(self.address, prefix_length)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.address, self.prefix_length)
    }
}

impl FromStr for IpNetwork {
    type Err = IpNetworkError;

    fn from_str(text: &str) -> Result<IpNetwork, IpNetworkError> {
        let (address_text, prefix_text) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address_text).map_err(|_| IpNetworkError::Address)?;
        let prefix_length = match prefix_text {
            None => address_width(address),
            Some(prefix) => {
                if prefix.is_empty()
                    || prefix.len() > 3
                    || !prefix.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(IpNetworkError::PrefixLength);
                }
                let prefix_length =
                    u16::from_str(prefix).map_err(|_| IpNetworkError::PrefixLength)?;
                u8::try_from(prefix_length).map_err(|_| IpNetworkError::PrefixTooLong {
                    prefix_length: u8::MAX,
                    maximum: address_width(address),
                })?
            }
        };
        IpNetwork::new(address, prefix_length)
    }
}

/// Why a text is not an [`IpNetwork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpNetworkError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    Address,
    /// The part after `/` is not a decimal number.
    PrefixLength,
    /// The prefix length exceeds the address width.
    PrefixTooLong {
        /// The prefix length given (saturated at 255).
        prefix_length: u8,
        /// 32 for IPv4, 128 for IPv6.
        maximum: u8,
    },
}

impl fmt::Display for IpNetworkError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpNetworkError::Address => formatter.write_str("not an IP address"),
            IpNetworkError::PrefixLength => {
                formatter.write_str("the prefix length is not a number")
            }
            IpNetworkError::PrefixTooLong { maximum, .. } => {
                write!(formatter, "the prefix length is longer than {maximum}")
            }
        }
    }
}

impl std::error::Error for IpNetworkError {}

fn address_width(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Clears every bit after the first `prefix_length` bits.
fn mask_address(address: IpAddr, prefix_length: u8) -> IpAddr {
    match address {
        IpAddr::V4(address) => {
            let bits = u32::from(address);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_length.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(address) => {
            let bits = u128::from(address);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_length.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// The `[resolver]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSection {
    /// Iterate from the root, or send everything to forwarders.
    pub mode: ResolverMode,
    /// A root hints file replacing the built-in IANA hints. The file exists
    /// at load time; a relative path is resolved against the directory of the
    /// configuration file.
    pub root_hints: Option<PathBuf>,
    /// Upstream recursive resolvers for forward mode, in order of preference.
    pub forwarders: Vec<SocketAddr>,
    /// The upstream servers (forwarders, zone servers) reached over TLS or
    /// HTTPS, by address; every other server is asked over UDP and TCP.
    pub encrypted_servers: Vec<EncryptedServer>,
    /// Whether delegations may lead to private, loopback or link-local
    /// nameserver addresses.
    pub query_private_upstreams: bool,
    /// QNAME minimisation (RFC 9156).
    pub qname_minimisation: QnameMinimisation,
    /// The EDNS UDP payload size advertised upstream and to clients
    /// (RFC 6891 §6.2.5).
    pub edns_buffer_size: u16,
    /// Zones whose queries go to these recursive servers (RD=1).
    pub forward_zones: Vec<ZoneServers>,
    /// Zones whose authoritative servers are these (RD=0).
    pub stub_zones: Vec<ZoneServers>,
    /// `[resolver.limits]`: work bounds per client query.
    pub limits: LimitsSection,
}

impl Default for ResolverSection {
    fn default() -> ResolverSection {
        ResolverSection {
            mode: ResolverMode::Recursive,
            root_hints: None,
            forwarders: Vec::new(),
            encrypted_servers: Vec::new(),
            query_private_upstreams: false,
            qname_minimisation: QnameMinimisation::Relaxed,
            edns_buffer_size: 1232,
            forward_zones: Vec::new(),
            stub_zones: Vec::new(),
            limits: LimitsSection::default(),
        }
    }
}

/// How the resolver finds answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolverMode {
    /// Iterative resolution from the root.
    #[default]
    Recursive,
    /// Every query goes to `resolver.forwarders`.
    Forward,
}

/// QNAME minimisation (RFC 9156).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QnameMinimisation {
    /// Send the full query name to every server.
    Off,
    /// Minimise, falling back to the full name when a server misbehaves.
    #[default]
    Relaxed,
    /// Minimise without fallback.
    Strict,
}

/// An upstream server reached over an encrypted transport: an inline table
/// in `resolver.forwarders` or a zone's `servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedServer {
    /// The address and port (853 for TLS and 443 for HTTPS unless given).
    pub address: SocketAddr,
    /// TLS or HTTPS.
    pub transport: UpstreamTransport,
    /// The name the server's certificate must be valid for.
    pub tls_name: String,
    /// PEM file of the certificate authorities to trust instead of the
    /// system's trust store; the file exists at load time.
    pub ca_file: Option<PathBuf>,
}

/// How an encrypted upstream server is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// DNS over TLS (RFC 7858).
    Tls,
    /// DNS over HTTPS (RFC 8484), POST to `path` over HTTP/2.
    Https {
        /// The URI path, `/dns-query` unless given.
        path: String,
    },
}

/// A zone and the servers to ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneServers {
    /// The zone apex.
    pub name: Name,
    /// The servers, in configuration order; never empty.
    pub servers: Vec<SocketAddr>,
}

/// The `[resolver.limits]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsSection {
    /// Upstream queries sent for one client query.
    pub max_upstream_queries: u32,
    /// Nameserver names per delegation whose addresses are looked up.
    pub max_nameserver_names: u32,
    /// CNAME records followed for one query.
    pub max_cname_chain: u32,
    /// The longest time spent on one client query.
    pub max_resolution_time: Duration,
    /// The longest wait for one upstream response.
    pub upstream_timeout: Duration,
    /// Nested look-ups of nameserver addresses.
    pub max_delegation_depth: u32,
    /// Upstream queries outstanding at once to one zone's servers; 0 is no cap.
    pub max_outstanding_per_zone: u32,
    /// Upstream queries outstanding at once to one server; 0 is no cap.
    pub max_outstanding_per_server: u32,
}

impl Default for LimitsSection {
    fn default() -> LimitsSection {
        LimitsSection {
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

/// The `[cache]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSection {
    /// The memory budget of the cache, in bytes.
    pub max_memory: u64,
    /// TTLs below this are raised to it, in seconds.
    pub min_ttl: u32,
    /// TTLs above this are lowered to it, in seconds.
    pub max_ttl: u32,
    /// The longest a negative answer is cached (RFC 2308 §5), in seconds.
    pub negative_max_ttl: u32,
    /// How long a failed resolution is cached (RFC 2308 §7.1), in seconds.
    pub servfail_ttl: u32,
    /// Whether stale data answers when resolution fails or is slow (RFC 8767).
    pub serve_stale: bool,
    /// The TTL of stale records in an answer (RFC 8767 §4), in seconds.
    pub stale_answer_ttl: u32,
    /// How long expired RRsets are kept for serve-stale (RFC 8767 §5).
    pub max_stale: Duration,
    /// How long a client waits before it gets stale data (RFC 8767 §5);
    /// zero: only after a failure.
    pub client_response_timeout: Duration,
    /// Whether hits near expiry refresh RRsets in the background.
    pub prefetch: bool,
    /// The share of the original TTL, in percent, below which a hit is near expiry.
    pub prefetch_threshold: u8,
}

impl Default for CacheSection {
    fn default() -> CacheSection {
        CacheSection {
            max_memory: 256 * MEBIBYTE,
            min_ttl: 0,
            max_ttl: 86_400,
            negative_max_ttl: 3600,
            servfail_ttl: 5,
            serve_stale: true,
            stale_answer_ttl: 30,
            max_stale: Duration::from_secs(86_400),
            client_response_timeout: Duration::from_millis(1800),
            prefetch: true,
            prefetch_threshold: 10,
        }
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSection {
    /// One of `error`, `warn`, `info`, `debug`, `trace`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            level: "info".to_owned(),
        }
    }
}

/// The `[policy]` section: what is filtered for whom.
///
/// Empty (no feeds and no profiles, the default) means no filtering. With
/// feeds but no `[[policy.profile]]`, one implicit profile named `default`
/// uses every feed in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySection {
    /// `[[policy.feed]]`: the feeds, in configuration order.
    pub feeds: Vec<FeedSource>,
    /// `[[policy.profile]]`: the profiles, ready for the engine; the feed
    /// uses carry the feed's EDE, schedules and overrides.
    pub profiles: Vec<ProfileSpec>,
    /// `[[policy.client]]`: which clients get which profile.
    pub clients: Vec<ClientRule>,
    /// Where the last good copies of remote feeds are kept (in `feeds/`
    /// below it). Resolved against the configuration file's directory; it
    /// need not exist yet.
    pub state_directory: PathBuf,
    /// Whether filtered answers carry an EDE EXTRA-TEXT naming the rule's
    /// source (RFC 8914 §2).
    pub extra_text: bool,
    /// The profiles read from the API's policy file (`api.policy_file`), as
    /// written there; they are also in `profiles`, after the configuration
    /// file's. Only these can be changed through the API.
    pub api_profiles: Vec<ProfileEntry>,
    /// The client mappings read from the API's policy file; they are also in
    /// `clients`, after the configuration file's.
    pub api_clients: Vec<ClientEntry>,
    /// The profiles of the configuration file, as written (read-only
    /// through the API).
    pub file_profiles: Vec<ProfileEntry>,
    /// The client mappings of the configuration file, as written.
    pub file_clients: Vec<ClientEntry>,
    /// `[[policy.serve]]`: feeds this node serves as a primary, one entry
    /// per served zone (an entry with `feed = "*"` expanded to every feed).
    pub serve: Vec<ServedFeed>,
}

/// One zone this node serves as a primary (`[[policy.serve]]`): a loaded
/// feed rendered as a response policy zone, transferred by AXFR and IXFR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFeed {
    /// The feed's name.
    pub feed: String,
    /// The zone it is served as: `zone` if given, else `<feed>.<suffix>`.
    pub zone: Name,
    /// Where NOTIFY goes on every change.
    pub notify: Vec<SocketAddr>,
    /// Who may transfer the zone; default: the addresses of `notify`.
    pub allow_transfer: Vec<IpNetwork>,
    /// The key transfers must be signed with, and NOTIFY is signed with.
    pub tsig_key: Option<TsigKey>,
    /// How many versions of changes the journal keeps for IXFR.
    pub journal: usize,
}

impl Default for PolicySection {
    fn default() -> PolicySection {
        PolicySection {
            feeds: Vec::new(),
            profiles: Vec::new(),
            clients: Vec::new(),
            state_directory: PathBuf::from(DEFAULT_STATE_DIRECTORY),
            extra_text: true,
            api_profiles: Vec::new(),
            api_clients: Vec::new(),
            file_profiles: Vec::new(),
            file_clients: Vec::new(),
            serve: Vec::new(),
        }
    }
}

impl PolicySection {
    /// Whether filtering is off: no feeds and no profiles.
    pub fn is_empty(&self) -> bool {
        self.feeds.is_empty() && self.profiles.is_empty()
    }
}

/// A profile as written in TOML (`[[profile]]` of the API's policy file,
/// shaped like `[[policy.profile]]`). Mirrors `hanse_api::model::ProfileDocument`
/// field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// 1 to 63 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// Feed names in precedence order.
    #[serde(default)]
    pub feeds: Vec<String>,
    /// The answer for blocked names; `None` means the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_answer: Option<BlockAnswerEntry>,
    /// Names never filtered, with everything below them.
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// Engines whose safe search is enforced.
    #[serde(default)]
    pub safe_search: Vec<String>,
    /// The IANA time zone of the schedules.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Time windows of feeds.
    #[serde(default)]
    pub schedule: Vec<ScheduleEntry>,
    /// Per-feed switches.
    #[serde(default, rename = "override")]
    pub overrides: Vec<OverrideEntry>,
}

/// A profile's `block_answer` as written: a mode or block-page addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockAnswerEntry {
    /// `nxdomain`, `null` or `refused`.
    Mode(String),
    /// The addresses of a block page.
    Addresses(Vec<String>),
}

/// A `[[profile.schedule]]` entry as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// A feed of the profile.
    pub feed: String,
    /// `mon` … `sun` or ranges such as `mon-fri`; empty means every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Start, local `HH:MM`.
    pub from: String,
    /// End, local `HH:MM`.
    pub to: String,
}

/// A `[[profile.override]]` entry as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideEntry {
    /// A feed of the profile.
    pub feed: String,
    /// Replaces the action of every rule of the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `false` skips the feed for this profile.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Whether the feed's hits are logged.
    #[serde(default = "default_true")]
    pub log: bool,
    /// `blocked`, `censored` or `filtered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ede: Option<String>,
}

/// A client mapping as written (`[[client]]` of the API's policy file).
/// Mirrors `hanse_api::model::ClientMapping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// The network, `ADDRESS/LENGTH`; [`load`] writes it canonically (host
    /// bits cleared).
    pub cidr: String,
    /// A configured profile.
    pub profile: String,
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_true() -> bool {
    true
}

/// The API's policy file as a whole.
#[derive(Serialize, Deserialize)]
struct PolicyFileDocument {
    #[serde(default)]
    profile: Vec<ProfileEntry>,
    #[serde(default)]
    client: Vec<ClientEntry>,
}

/// The API-managed entries as TOML text (exactly what [`load`] reads back):
/// a `[[profile]]` array and a `[[client]]` array, after a comment saying
/// who writes the file.
// The API backend of the binary calls it; until it is wired only the tests do.
pub fn render_policy_file(
    profiles: &[ProfileEntry],
    clients: &[ClientEntry],
) -> Result<String, toml::ser::Error> {
    let document = PolicyFileDocument {
        profile: profiles.to_vec(),
        client: clients.to_vec(),
    };
    let body = toml::to_string(&document)?;
    Ok(format!(
        "# Profiles and client mappings managed through the Hanse API.\n\
         # Hanse rewrites this file on every change; the configuration file is never written.\n\n\
         {body}"
    ))
}

/// One `[[policy.feed]]` entry: what a feed is and where its text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    /// The name profiles refer to.
    pub name: String,
    /// How the feed's text is read.
    pub format: FeedFormat,
    /// Where the feed's text comes from.
    pub location: FeedLocation,
    /// For policy zones read from a file or a URL: the zone's origin; `None`
    /// means the owner of the zone's SOA record. Always `None` for zone
    /// transfers, whose zone name is the origin.
    pub origin: Option<Name>,
    /// The Extended DNS Error of the feed's blocking answers.
    pub ede: EdeCode,
}

/// Where a feed's text comes from: exactly one of `file`, `url` or `zone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedLocation {
    /// A local file, resolved against the configuration file's directory;
    /// it existed when the configuration was read.
    File(PathBuf),
    /// An `http://` or `https://` URL, fetched again every `refresh`.
    Url {
        /// The URL as written in the configuration.
        url: String,
        /// How often the URL is fetched again.
        refresh: Duration,
    },
    /// A policy zone fetched by zone transfer (AXFR, IXFR).
    Transfer {
        /// The zone's name, which is also the policy zone's origin.
        zone: Name,
        /// The primaries, in failover order; never empty.
        primaries: Vec<SocketAddr>,
        /// The TSIG key that signs the transfers, if any.
        tsig_key: Option<TsigKey>,
    },
}

impl fmt::Display for FeedLocation {
    /// The file's path, the URL, or `zone NAME from PRIMARY, ...`, each with
    /// what else matters for reading a log line.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedLocation::File(path) => write!(formatter, "{}", path.display()),
            FeedLocation::Url { url, refresh } => {
                write!(
                    formatter,
                    "{url}, refreshed every {}",
                    describe_duration(*refresh)
                )
            }
            FeedLocation::Transfer {
                zone,
                primaries,
                tsig_key,
            } => {
                write!(formatter, "zone {zone} from ")?;
                for (index, primary) in primaries.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    write!(formatter, "{primary}")?;
                }
                if let Some(key) = tsig_key {
                    write!(formatter, " with TSIG key {}", key.name)?;
                }
                Ok(())
            }
        }
    }
}

const KIBIBYTE: u64 = 1024;
const MEBIBYTE: u64 = 1024 * KIBIBYTE;
const GIBIBYTE: u64 = 1024 * MEBIBYTE;
const TEBIBYTE: u64 = 1024 * GIBIBYTE;

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

const SECTION_KEYS: &[&str] = &[
    "server",
    "resolver",
    "cache",
    "log",
    "policy",
    "api",
    "query_log",
    "dnssec",
    "rate_limit",
];
const RATE_LIMIT_KEYS: &[&str] = &[
    "queries_per_second",
    "burst",
    "ipv4_prefix",
    "ipv6_prefix",
    "exempt",
    "action",
    "responses_per_second",
    "slip",
    "max_resolutions",
    "max_resolutions_per_client",
    "overload_action",
];
const DNSSEC_KEYS: &[&str] = &[
    "validation",
    "trust_anchor_file",
    "negative_trust_anchors",
    "auto_update",
    "add_hold_down",
    "refresh_interval",
    "aggressive_nsec",
];
const API_KEYS: &[&str] = &["enabled", "listen", "policy_file", "token"];
const API_TOKEN_KEYS: &[&str] = &["scope", "token", "token_file"];
const API_SCOPES: [(&str, ApiScope); 2] = [("read", ApiScope::Read), ("admin", ApiScope::Admin)];
/// The default port of `api.listen`.
const DEFAULT_API_PORT: u16 = 8053;
/// The shortest API token accepted, in characters.
const MIN_TOKEN_LENGTH: usize = 16;
/// The sections of the API's policy file.
const POLICY_FILE_KEYS: &[&str] = &["profile", "client"];
const QUERY_LOG_KEYS: &[&str] = &[
    "enabled",
    "path",
    "privacy_level",
    "retention_days",
    "exclude_clients",
    "exclude_names",
    "queue_capacity",
    "dnstap",
];
const DNSTAP_KEYS: &[&str] = &[
    "enabled",
    "socket",
    "address",
    "identity",
    "version",
    "messages",
    "queue_capacity",
];
const DNSTAP_MESSAGES: [(&str, u8); 2] = [("client_query", 1), ("client_response", 2)];
/// The query log's file name in `policy.state_directory` by default.
const QUERY_LOG_FILE: &str = "querylog.sqlite";
/// The largest `query_log.queue_capacity`.
const MAX_QUERY_LOG_QUEUE: usize = 10_000_000;
/// The longest `server.lame_duck`, in seconds.
const MAX_LAME_DUCK_SECONDS: u64 = 25;
const SERVER_KEYS: &[&str] = &[
    "listen",
    "allow_from",
    "threads",
    "tcp_idle_timeout",
    "max_tcp_connections",
    "max_tcp_connections_per_client",
    "lame_duck",
    "tls_listen",
    "https_listen",
    "doh_cleartext_listen",
    "quic_listen",
    "quic_idle_timeout",
    "max_quic_connections",
    "max_quic_connections_per_client",
    "max_quic_streams",
    "certificate",
    "private_key",
    "proxy_protocol_from",
    "require_cookies",
    "cookie_secret",
];
/// A 128-bit cookie secret written as 32 hexadecimal digits.
fn parse_cookie_secret(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut secret = [0u8; 16];
    for (index, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).ok()?;
    }
    Some(secret)
}

/// The default port of DNS over TLS (RFC 7858 §3.1).
const DOT_PORT: u16 = 853;
/// The default port of DNS over QUIC (UDP, RFC 9250 §4.1.1).
const DOQ_PORT: u16 = 853;
/// The default port of DNS over HTTPS (HTTPS, RFC 9110 §4.2.2).
const DOH_PORT: u16 = 443;
/// The default port of cleartext DoH behind a proxy (HTTP, RFC 9110 §4.2.1).
const DOH_CLEARTEXT_PORT: u16 = 80;
/// The DoH endpoint that `doh_path` tokens extend (RFC 8484 §6).
const DOH_ENDPOINT: &str = "/dns-query/";
/// The longest DoH path token.
const MAX_DOH_TOKEN: usize = 128;
const RESOLVER_KEYS: &[&str] = &[
    "mode",
    "root_hints",
    "forwarders",
    "query_private_upstreams",
    "qname_minimisation",
    "edns_buffer_size",
    "forward_zone",
    "stub_zone",
    "limits",
];
const ZONE_KEYS: &[&str] = &["name", "servers"];
const UPSTREAM_KEYS: &[&str] = &["address", "transport", "tls_name", "ca_file", "path"];
const LIMITS_KEYS: &[&str] = &[
    "max_upstream_queries",
    "max_nameserver_names",
    "max_cname_chain",
    "max_resolution_time",
    "upstream_timeout",
    "max_delegation_depth",
    "max_outstanding_per_zone",
    "max_outstanding_per_server",
];
const CACHE_KEYS: &[&str] = &[
    "max_memory",
    "min_ttl",
    "max_ttl",
    "negative_max_ttl",
    "servfail_ttl",
    "serve_stale",
    "stale_answer_ttl",
    "max_stale",
    "client_response_timeout",
    "prefetch",
    "prefetch_threshold",
];
const LOG_KEYS: &[&str] = &["level"];
const POLICY_KEYS: &[&str] = &[
    "state_directory",
    "extra_text",
    "tsig_key",
    "feed",
    "profile",
    "client",
    "serve",
];
const SERVE_KEYS: &[&str] = &[
    "feed",
    "zone",
    "suffix",
    "notify",
    "allow_transfer",
    "tsig_key",
    "journal",
];
/// The default of a served feed's `suffix`: zones `<feed>.rpz.hanse.`.
const DEFAULT_SERVE_SUFFIX: &str = "rpz.hanse.";
/// The default of a served feed's `journal`.
const DEFAULT_JOURNAL: usize = 10;
/// The largest `journal`.
const MAX_JOURNAL: usize = 1000;
const FEED_KEYS: &[&str] = &[
    "name",
    "format",
    "file",
    "url",
    "refresh",
    "zone",
    "primaries",
    "tsig_key",
    "origin",
    "ede",
];
/// The keys that say where a feed comes from; a feed has exactly one.
const FEED_SOURCE_KEYS: [&str; 3] = ["file", "url", "zone"];
/// Feed keys of sources that come later: reported as not supported yet.
/// None at present; the mechanism stays for the next source.
const LATER_FEED_KEYS: &[&str] = &[];
const TSIG_KEY_KEYS: &[&str] = &["name", "algorithm", "secret", "secret_file"];
const TSIG_ALGORITHMS: [(&str, TsigAlgorithm); 2] = [
    ("hmac-sha256", TsigAlgorithm::HmacSha256),
    ("hmac-sha512", TsigAlgorithm::HmacSha512),
];
/// The default of `policy.state_directory`.
const DEFAULT_STATE_DIRECTORY: &str = "/var/lib/hanse";
/// The default of a URL feed's `refresh`: once a day.
const DEFAULT_REFRESH: Duration = Duration::from_secs(86_400);
/// The shortest `refresh`: one minute.
const MIN_REFRESH: Duration = Duration::from_secs(60);
/// The longest `refresh`: seven days.
const MAX_REFRESH: Duration = Duration::from_secs(7 * 86_400);
/// The longest feed URL accepted.
const MAX_URL_LENGTH: usize = 2048;
/// The largest `secret_file` read; a base64 secret is far shorter.
const MAX_SECRET_FILE_SIZE: u64 = 4096;
const PROFILE_KEYS: &[&str] = &[
    "name",
    "feeds",
    "block_answer",
    "allowlist",
    "safe_search",
    "time_zone",
    "schedule",
    "override",
];
const SCHEDULE_KEYS: &[&str] = &["feed", "days", "from", "to"];
const OVERRIDE_KEYS: &[&str] = &["feed", "action", "enabled", "log", "ede"];
const CLIENT_KEYS: &[&str] = &["cidr", "doh_path", "server_name", "profile"];
/// Client selectors of transports that come later.
/// The name of the profile for clients that no mapping names.
const DEFAULT_PROFILE: &str = "default";
const EDE_CHOICES: [(&str, EdeCode); 3] = [
    ("blocked", EdeCode::Blocked),
    ("censored", EdeCode::Censored),
    ("filtered", EdeCode::Filtered),
];

/// Reads and checks the configuration file at `path`, and the API's policy
/// file it names (see [`parse`]). A file that cannot be read is one problem
/// at line 1, column 1.
pub fn load(path: &Path) -> Result<Config, Vec<ConfigProblem>> {
    load_with(path, None)
}

/// Like [`load`], but checks `policy_text` as the API's policy file instead
/// of the file on disk: how the API checks a change before saving it with
/// [`save_policy_file`]. Problems of `policy_text` carry the policy file's
/// path.
// The API backend of the binary calls it; until it is wired only the tests do.
pub fn load_with_policy_text(path: &Path, policy_text: &str) -> Result<Config, Vec<ConfigProblem>> {
    load_with(path, Some(policy_text))
}

fn load_with(path: &Path, policy_text: Option<&str>) -> Result<Config, Vec<ConfigProblem>> {
    let file_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => match policy_text {
            None => parse(&file_name, &text),
            Some(_) => parse_with(&file_name, &text, policy_text),
        },
        Err(error) => Err(vec![ConfigProblem {
            file: file_name,
            line: 1,
            column: 1,
            message: format!("cannot read the configuration file: {error}"),
        }]),
    }
}

/// Writes the API's policy file `text` (from [`render_policy_file`]) to
/// `path` atomically: into a temporary file beside it, flushed to disk, then
/// renamed over it, so that readers see the old or the new file, never a
/// part.
// The API backend of the binary calls it; until it is wired only the tests do.
pub fn save_policy_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the policy file path has no file name"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(file_name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

/// Checks the configuration `text`. `file_name` labels the problems, and its
/// directory is the base of relative paths (`resolver.root_hints`, feed
/// files, `api.policy_file`, …). Then reads the API's policy file
/// (`api.policy_file`, by default `STEM.api.toml` beside `file_name`) if it
/// exists, and appends its profiles and client mappings; its problems are
/// labelled with its own path. Returns every problem found, in file order,
/// the configuration file's first.
pub fn parse(file_name: &str, text: &str) -> Result<Config, Vec<ConfigProblem>> {
    parse_with(file_name, text, None)
}

/// [`parse`], with the API's policy file given as text instead of read from
/// disk when `policy_text` is `Some`.
fn parse_with(
    file_name: &str,
    text: &str,
    policy_text: Option<&str>,
) -> Result<Config, Vec<ConfigProblem>> {
    let document = parse_document(file_name, text)?;
    let base_directory = Path::new(file_name).parent().unwrap_or(Path::new(""));
    let mut config = Config::default();
    let mut checker = Checker {
        base_directory,
        problems: Vec::new(),
        policy_names: PolicyNames::new(),
        query_log_path_given: false,
        policy_file_given: false,
    };
    checker.read_document(document.get_ref(), &mut config);
    if !checker.policy_file_given {
        let stem = Path::new(file_name)
            .file_stem()
            .map_or_else(|| "hanse".into(), |stem| stem.to_string_lossy());
        config.api.policy_file = Some(base_directory.join(format!("{stem}.api.toml")));
    }
    if !checker.query_log_path_given {
        config.query_log.path = config.policy.state_directory.join(QUERY_LOG_FILE);
    }
    let mut main_found = std::mem::take(&mut checker.problems);
    if main_found.is_empty() {
        read_main_file_entries(text, &mut config.policy, &mut main_found);
    }
    let mut names = std::mem::replace(&mut checker.policy_names, PolicyNames::new());
    names.mention_file(file_name);
    let main_profiles_at = names.profiles_at.take();

    // The API's policy file: (its name, its text, its problems) once read.
    let mut policy_file: Option<(String, String, Found)> = None;
    let mut policy_problems = Vec::new();
    if let Some(policy_path) = &config.api.policy_file {
        let policy_name = policy_path.display().to_string();
        let read = match policy_text {
            Some(given) => Ok(given.to_owned()),
            None => std::fs::read_to_string(policy_path),
        };
        match read {
            Ok(policy_text) => match parse_document(&policy_name, &policy_text) {
                Ok(policy_document) => {
                    let mut policy_checker = Checker {
                        base_directory,
                        problems: Vec::new(),
                        policy_names: names,
                        query_log_path_given: false,
                        policy_file_given: false,
                    };
                    policy_checker.read_policy_file(policy_document.get_ref(), &mut config.policy);
                    names = policy_checker.policy_names;
                    let mut found = policy_checker.problems;
                    if found.is_empty() {
                        read_policy_file_entries(&policy_text, &mut config.policy, &mut found);
                    }
                    policy_file = Some((policy_name, policy_text, found));
                }
                Err(syntax_problems) => {
                    names.profiles.complete = false;
                    policy_problems = syntax_problems;
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                names.profiles.complete = false;
                policy_problems.push(ConfigProblem {
                    file: policy_name,
                    line: 1,
                    column: 1,
                    message: format!("cannot read the API policy file: {error}"),
                });
            }
        }
    }
    // With explicit profiles, one of the two files names one `default`.
    if names.profiles.complete && !names.profiles.contains(DEFAULT_PROFILE) {
        let message = "no profile is named \"default\"; add one for the clients that no";
        match (main_profiles_at, &mut policy_file, names.profiles_at) {
            (Some(offset), _, _) => main_found.push((
                offset,
                format!("policy.profile: {message} [[policy.client]] entry names"),
            )),
            (None, Some((_, _, found)), Some(offset)) => {
                found.push((offset, format!("profile: {message} client mapping names")));
            }
            _ => {}
        }
    }
    let mut problems = problems_at(file_name, text, main_found);
    if let Some((policy_name, policy_text, found)) = policy_file {
        problems.extend(problems_at(&policy_name, &policy_text, found));
    }
    problems.extend(policy_problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// Problems of one file as (byte offset, message) pairs.
type Found = Vec<(usize, String)>;

/// Parses TOML text into a spanned document; its syntax errors are the
/// problems otherwise (the recovered document is not checked).
fn parse_document<'i>(
    file_name: &str,
    text: &'i str,
) -> Result<Spanned<DeTable<'i>>, Vec<ConfigProblem>> {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if syntax_errors.is_empty() {
        return Ok(document);
    }
    let found = syntax_errors
        .iter()
        .map(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            (offset, format!("TOML syntax error: {}", error.message()))
        })
        .collect();
    Err(problems_at(file_name, text, found))
}

/// Turns (byte offset, message) pairs into problems of one file, sorted by
/// position without repeats.
fn problems_at(file_name: &str, text: &str, mut found: Vec<(usize, String)>) -> Vec<ConfigProblem> {
    found.sort_by_key(|(offset, _)| *offset);
    found.dedup();
    found
        .into_iter()
        .map(|(offset, message)| {
            let (line, column) = line_and_column(text, offset);
            ConfigProblem {
                file: file_name.to_owned(),
                line,
                column,
                message,
            }
        })
        .collect()
}

/// The DoH paths and TLS server names mapped so far, with the key path of each.
#[derive(Default)]
struct NamedSelectors {
    doh_paths: Vec<(String, String)>,
    server_names: Vec<(String, String)>,
}

/// A client entry of the main file as written: one of the selectors and a
/// profile. Only network entries are listed by the API.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MainFileClient {
    cidr: Option<String>,
    #[allow(dead_code)]
    doh_path: Option<String>,
    #[allow(dead_code)]
    server_name: Option<String>,
    profile: String,
}

/// The `[policy]` part of the main file, for [`read_main_file_entries`].
#[derive(Deserialize)]
struct MainFileDocument {
    #[serde(default)]
    policy: MainFilePolicy,
}

#[derive(Deserialize, Default)]
struct MainFilePolicy {
    #[serde(default)]
    profile: Vec<ProfileEntry>,
    #[serde(default)]
    client: Vec<MainFileClient>,
}

/// Keeps the profiles and client mappings of a checked main file as
/// written (client networks canonical), for the API to list (read-only).
fn read_main_file_entries(text: &str, policy: &mut PolicySection, found: &mut Found) {
    match toml::from_str::<MainFileDocument>(text) {
        Ok(document) => {
            policy.file_profiles = document.policy.profile;
            let networks = document
                .policy
                .client
                .into_iter()
                .filter_map(|client| {
                    Some(ClientEntry {
                        cidr: client.cidr?,
                        profile: client.profile,
                    })
                })
                .collect();
            policy.file_clients = canonical_clients(networks);
        }
        // The checker accepts nothing that this reading refuses; this is a
        // guard, not an expected path.
        Err(error) => found.push((
            error.span().map_or(0, |span| span.start),
            format!("cannot read the entries: {}", error.message()),
        )),
    }
}

fn canonical_clients(clients: Vec<ClientEntry>) -> Vec<ClientEntry> {
    clients
        .into_iter()
        .map(|mut client| {
            if let Ok(network) = IpNetwork::from_str(&client.cidr) {
                client.cidr = network.to_string();
            }
            client
        })
        .collect()
}

/// Keeps the entries of a checked policy file as written (client networks
/// canonical), for the API to list and rewrite.
fn read_policy_file_entries(
    text: &str,
    policy: &mut PolicySection,
    found: &mut Vec<(usize, String)>,
) {
    match toml::from_str::<PolicyFileDocument>(text) {
        Ok(document) => {
            policy.api_profiles = document.profile;
            policy.api_clients = canonical_clients(document.client);
        }
        // The checker accepts nothing that this reading refuses; this is a
        // guard, not an expected path.
        Err(error) => found.push((
            error.span().map_or(0, |span| span.start),
            format!("cannot read the entries: {}", error.message()),
        )),
    }
}

/// Converts a byte offset into a 1-based line and column (in Unicode scalar
/// values). Offsets past the end point just after the last character.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let line = 1 + before.iter().filter(|&&byte| byte == b'\n').count();
    // Count bytes that start a UTF-8 sequence: one per scalar value.
    let column = 1 + before[line_start..]
        .iter()
        .filter(|&&byte| byte & 0xc0 != 0x80)
        .count();
    (line, column)
}

/// Where a checked value came from, for cross-field rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Not in the file: the default applies.
    Default,
    /// In the file and valid, at this byte offset.
    Given(usize),
    /// In the file but invalid: already reported.
    Invalid,
}

impl Origin {
    fn of<T>(result: &Option<T>, offset: usize) -> Origin {
        if result.is_some() {
            Origin::Given(offset)
        } else {
            Origin::Invalid
        }
    }

    /// Where to report a rule that relates two keys: at the first key if it
    /// was given, else at the second; `None` if either value was already
    /// reported as invalid (no follow-on noise).
    fn of_pair(first: Origin, second: Origin) -> Option<usize> {
        match (first, second) {
            (Origin::Invalid, _) | (_, Origin::Invalid) => None,
            (Origin::Given(offset), _) | (Origin::Default, Origin::Given(offset)) => Some(offset),
            (Origin::Default, Origin::Default) => Some(0),
        }
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Walks the spanned document and collects problems as (byte offset,
/// message) pairs.
struct Checker<'a> {
    base_directory: &'a Path,
    problems: Vec<(usize, String)>,
    /// The policy's names so far, carried from the configuration file to the
    /// API's policy file.
    policy_names: PolicyNames,
    /// Whether `query_log.path` was given (else it follows the state directory).
    query_log_path_given: bool,
    /// Whether `api.policy_file` was given (else it is beside the file).
    policy_file_given: bool,
}

impl Checker<'_> {
    fn report(&mut self, offset: usize, path: &str, message: impl fmt::Display) {
        self.problems.push((offset, format!("{path}: {message}")));
    }

    fn report_unknown_key(
        &mut self,
        key: &Spanned<toml::de::DeString<'_>>,
        path: &str,
        known: &[&str],
    ) {
        let name: &str = key.get_ref();
        let full_path = join_path(path, name);
        let closest = known
            .iter()
            .map(|candidate| (edit_distance(name, candidate), *candidate))
            .filter(|(distance, candidate)| {
                *distance <= 2.max(candidate.len() / 4)
                    || (name.len() >= 3 && candidate.starts_with(name))
            })
            .min_by_key(|(distance, _)| *distance);
        let what = if path.is_empty() { "section" } else { "key" };
        let message = match closest {
            Some((_, candidate)) => format!("unknown {what}; did you mean \"{candidate}\"?"),
            None => format!("unknown {what}; expected one of: {}", known.join(", ")),
        };
        self.report(key.span().start, &full_path, message);
    }

    fn report_type(&mut self, value: &Value<'_>, path: &str, expected: &str) {
        let found = value.get_ref().type_str();
        self.report(
            value.span().start,
            path,
            format!("expected {expected}, found {} {found}", article(found)),
        );
    }

    fn expect_table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.report_type(value, path, "a table");
                None
            }
        }
    }

    fn expect_array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: &str,
    ) -> Option<&'v [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(array) => Some(array),
            _ => {
                self.report_type(value, path, "an array");
                None
            }
        }
    }

    fn expect_string<'v>(&mut self, value: &'v Value<'_>, path: &str) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(text) => Some(text),
            _ => {
                self.report_type(value, path, "a string");
                None
            }
        }
    }

    fn read_boolean(&mut self, value: &Value<'_>, path: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.report_type(value, path, "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer in `minimum..=maximum`.
    fn read_integer<T>(
        &mut self,
        value: &Value<'_>,
        path: &str,
        minimum: T,
        maximum: T,
    ) -> Option<T>
    where
        T: TryFrom<i128> + PartialOrd + fmt::Display + Copy,
    {
        let DeValue::Integer(integer) = value.get_ref() else {
            self.report_type(value, path, "an integer");
            return None;
        };
        let number = i128::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .and_then(|number| T::try_from(number).ok())
            .filter(|number| *number >= minimum && *number <= maximum);
        if number.is_none() {
            self.report(
                value.span().start,
                path,
                format!("{integer} is out of range {minimum}..={maximum}"),
            );
        }
        number
    }

    /// A string that is one of `choices`.
    fn read_choice<T: Copy>(
        &mut self,
        value: &Value<'_>,
        path: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let text = self.expect_string(value, path)?;
        let choice = choices
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, choice)| *choice);
        if choice.is_none() {
            let names: Vec<String> = choices
                .iter()
                .map(|(name, _)| format!("\"{name}\""))
                .collect();
            self.report(
                value.span().start,
                path,
                format!("{text:?} is not one of {}", names.join(", ")),
            );
        }
        choice
    }

    /// A duration: a string such as `"500ms"` or an integer of seconds.
    fn read_duration(
        &mut self,
        value: &Value<'_>,
        path: &str,
        minimum: Duration,
        maximum: Duration,
    ) -> Option<Duration> {
        let duration = match value.get_ref() {
            DeValue::Integer(integer) => {
                let seconds = i128::from_str_radix(integer.as_str(), integer.radix())
                    .ok()
                    .and_then(|seconds| u64::try_from(seconds).ok());
                match seconds {
                    Some(seconds) => Duration::from_secs(seconds),
                    None => {
                        self.report(
                            value.span().start,
                            path,
                            format!("{integer} is not a duration"),
                        );
                        return None;
                    }
                }
            }
            DeValue::String(text) => match parse_duration(text) {
                Some(duration) => duration,
                None => {
                    self.report(
                        value.span().start,
                        path,
                        format!(
                            "{text:?} is not a duration; write a whole number with ms, s, m, h or d, \
                            as in \"500ms\" or \"10s\""
                        ),
                    );
                    return None;
                }
            },
            _ => {
                self.report_type(
                    value,
                    path,
                    "a duration (a string such as \"10s\" or an integer of seconds)",
                );
                return None;
            }
        };
        if duration < minimum || duration > maximum {
            self.report(
                value.span().start,
                path,
                format!(
                    "{} is out of range {}..={}",
                    describe_duration(duration),
                    describe_duration(minimum),
                    describe_duration(maximum)
                ),
            );
            return None;
        }
        Some(duration)
    }

    /// A size in bytes: a string such as `"256MiB"` or an integer of bytes.
    fn read_size(&mut self, value: &Value<'_>, path: &str, minimum: u64) -> Option<u64> {
        let size = match value.get_ref() {
            DeValue::Integer(integer) => {
                let bytes = i128::from_str_radix(integer.as_str(), integer.radix())
                    .ok()
                    .and_then(|bytes| u64::try_from(bytes).ok());
                match bytes {
                    Some(bytes) => bytes,
                    None => {
                        self.report(value.span().start, path, format!("{integer} is not a size"));
                        return None;
                    }
                }
            }
            DeValue::String(text) => match parse_size(text) {
                Some(bytes) => bytes,
                None => {
                    self.report(
                        value.span().start,
                        path,
                        format!(
                            "{text:?} is not a size; write a whole number with an optional unit \
                            B, K, KiB, M, MiB, G, GiB, T or TiB, as in \"256MiB\""
                        ),
                    );
                    return None;
                }
            },
            _ => {
                self.report_type(
                    value,
                    path,
                    "a size (a string such as \"256MiB\" or an integer of bytes)",
                );
                return None;
            }
        };
        if size < minimum {
            self.report(
                value.span().start,
                path,
                format!(
                    "{} is less than the minimum {}",
                    describe_size(size),
                    describe_size(minimum)
                ),
            );
            return None;
        }
        Some(size)
    }

    /// A list of strings, each turned into a value by `parse` (whose error
    /// is the message to report after the quoted text). Returns `None` if any
    /// element is invalid. Each value comes with its offset.
    fn read_parsed_strings<T>(
        &mut self,
        value: &Value<'_>,
        path: &str,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Option<Vec<(T, usize)>> {
        let elements = self.expect_array(value, path)?;
        let mut parsed = Vec::with_capacity(elements.len());
        let mut valid = true;
        for (index, element) in elements.iter().enumerate() {
            let element_path = format!("{path}[{index}]");
            let Some(text) = self.expect_string(element, &element_path) else {
                valid = false;
                continue;
            };
            match parse(text) {
                Ok(item) => parsed.push((item, element.span().start)),
                Err(reason) => {
                    self.report(
                        element.span().start,
                        &element_path,
                        format!("{text:?} {reason}"),
                    );
                    valid = false;
                }
            }
        }
        valid.then_some(parsed)
    }

    /// A list of socket addresses; a bare address gets port 53. Returns
    /// `None` if any element is invalid. Each address comes with its offset.
    fn read_socket_addresses(
        &mut self,
        value: &Value<'_>,
        path: &str,
    ) -> Option<Vec<(SocketAddr, usize)>> {
        self.read_parsed_strings(value, path, parse_socket_address)
    }

    /// A list of upstream servers: address strings (UDP and TCP; port 53
    /// unless given) or inline tables for encrypted transports, which are
    /// added to `upstreams`. Returns `None` if any element is invalid. Each
    /// address comes with its offset.
    fn read_upstreams(
        &mut self,
        value: &Value<'_>,
        path: &str,
        upstreams: &mut UpstreamList,
    ) -> Option<Vec<(SocketAddr, usize)>> {
        let elements = self.expect_array(value, path)?;
        let mut addresses = Vec::with_capacity(elements.len());
        let mut valid = true;
        for (index, element) in elements.iter().enumerate() {
            let element_path = format!("{path}[{index}]");
            let offset = element.span().start;
            let parsed = match element.get_ref() {
                DeValue::String(text) => match parse_socket_address(text) {
                    Ok(address) => Some((address, None)),
                    Err(reason) => {
                        self.report(offset, &element_path, format!("{text:?} {reason}"));
                        None
                    }
                },
                DeValue::Table(table) => self.read_encrypted_server(table, offset, &element_path),
                _ => {
                    self.report_type(
                        element,
                        &element_path,
                        "an address string or a table { address, transport, tls_name }",
                    );
                    None
                }
            };
            let Some((address, encrypted)) = parsed else {
                valid = false;
                continue;
            };
            if let Some(conflict) = upstreams.add(address, encrypted, &element_path) {
                self.report(offset, &element_path, conflict);
                valid = false;
                continue;
            }
            addresses.push((address, offset));
        }
        valid.then_some(addresses)
    }

    /// An inline table `{ address, transport, tls_name, ca_file, path }`;
    /// `transport = "udp"` (the default) gives a cleartext server.
    fn read_encrypted_server(
        &mut self,
        table: &DeTable<'_>,
        offset: usize,
        path: &str,
    ) -> Option<(SocketAddr, Option<EncryptedServer>)> {
        let mut address_text: Option<(String, usize)> = None;
        let mut transport: Option<&str> = None;
        let mut tls_name: Option<(String, usize)> = None;
        let mut ca_file: Option<Option<PathBuf>> = None;
        let mut https_path: Option<(String, usize)> = None;
        let mut valid = true;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let key_path = join_path(path, name);
            match name {
                "address" => match self.expect_string(value, &key_path) {
                    Some(text) => address_text = Some((text.to_owned(), value.span().start)),
                    None => valid = false,
                },
                "transport" => {
                    let choices = [("udp", "udp"), ("tls", "tls"), ("https", "https")];
                    match self.read_choice(value, &key_path, &choices) {
                        Some(choice) => transport = Some(choice),
                        None => valid = false,
                    }
                }
                "tls_name" => match self.expect_string(value, &key_path) {
                    Some(text) => tls_name = Some((text.to_owned(), value.span().start)),
                    None => valid = false,
                },
                "ca_file" => {
                    let file = self.read_existing_file(value, &key_path, "is empty");
                    valid &= file.is_some();
                    ca_file = Some(file);
                }
                "path" => match self.expect_string(value, &key_path) {
                    Some(text) => https_path = Some((text.to_owned(), value.span().start)),
                    None => valid = false,
                },
                _ => {
                    self.report_unknown_key(key, path, UPSTREAM_KEYS);
                    valid = false;
                }
            }
        }
        let Some((address_text, address_offset)) = address_text else {
            if valid {
                self.report(offset, path, "missing key \"address\"");
            }
            return None;
        };
        let transport = transport.unwrap_or("udp");
        let port = match transport {
            "tls" => DOT_PORT,
            "https" => DOH_PORT,
            _ => DNS_PORT,
        };
        let address = match parse_socket_address_on(&address_text, port) {
            Ok(address) => address,
            Err(reason) => {
                self.report(
                    address_offset,
                    &join_path(path, "address"),
                    format!("{address_text:?} {reason}"),
                );
                return None;
            }
        };
        if !valid {
            return None;
        }
        let extra = |key: &str| format!("only used with transport = \"tls\" or \"https\"; {key}");
        if transport == "udp" {
            if tls_name.is_some() || ca_file.is_some() || https_path.is_some() {
                self.report(
                    offset,
                    path,
                    extra("remove tls_name, ca_file and path, or set the transport"),
                );
                return None;
            }
            // A cleartext server written as a table.
            return Some((address, None));
        }
        let Some((tls_name, name_offset)) = tls_name else {
            self.report(
                offset,
                path,
                format!(
                    "missing key \"tls_name\" (the name the server's certificate is                      checked against) for transport = \"{transport}\""
                ),
            );
            return None;
        };
        if !is_tls_name(&tls_name) {
            self.report(
                name_offset,
                &join_path(path, "tls_name"),
                format!("{tls_name:?} is not a host name or an IP address"),
            );
            return None;
        }
        let transport = if transport == "https" {
            let https_path = match https_path {
                None => "/dns-query".to_owned(),
                Some((text, path_offset)) => {
                    if !text.starts_with('/')
                        || text
                            .bytes()
                            .any(|byte| !byte.is_ascii_graphic() || byte == b'#')
                    {
                        self.report(
                            path_offset,
                            &join_path(path, "path"),
                            format!("{text:?} is not a URI path such as \"/dns-query\""),
                        );
                        return None;
                    }
                    text
                }
            };
            UpstreamTransport::Https { path: https_path }
        } else {
            if let Some((_, path_offset)) = https_path {
                self.report(
                    path_offset,
                    &join_path(path, "path"),
                    "only used with transport = \"https\"",
                );
                return None;
            }
            UpstreamTransport::Tls
        };
        let server = EncryptedServer {
            address,
            transport,
            tls_name,
            ca_file: ca_file.flatten(),
        };
        Some((address, Some(server)))
    }

    fn read_document(&mut self, document: &DeTable<'_>, config: &mut Config) {
        for (key, value) in document.iter() {
            let name: &str = key.get_ref();
            match name {
                "server" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_server(table, &mut config.server);
                    }
                }
                "resolver" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_resolver(table, &mut config.resolver);
                    }
                }
                "cache" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_cache(table, &mut config.cache);
                    }
                }
                "log" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_log(table, &mut config.log);
                    }
                }
                "policy" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_policy(table, &mut config.policy);
                    }
                }
                "api" => {
                    config.api.configured = true;
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_api(table, &mut config.api);
                    }
                }
                "query_log" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_query_log(table, &mut config.query_log);
                    }
                }
                "dnssec" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_dnssec(table, &mut config.dnssec);
                    }
                }
                "rate_limit" => {
                    if let Some(table) = self.expect_table(value, name) {
                        self.read_rate_limit(table, &mut config.rate_limit);
                    }
                }
                _ => self.report_unknown_key(key, "", SECTION_KEYS),
            }
        }
    }

    fn read_server(&mut self, table: &DeTable<'_>, server: &mut ServerSection) {
        let mut total_origin = Origin::Default;
        let mut per_client_origin = Origin::Default;
        // Every address a TCP socket is bound on, with its key path.
        let mut stream_addresses: Vec<(SocketAddr, usize, String)> = Vec::new();
        // Every address a UDP socket is bound on, with its key path.
        let mut datagram_addresses: Vec<(SocketAddr, usize, String)> = Vec::new();
        let mut quic_total_origin = Origin::Default;
        let mut quic_per_client_origin = Origin::Default;
        let mut encrypted_at: Option<usize> = None;
        let mut certificate_at: Option<usize> = None;
        let mut key_at: Option<usize> = None;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("server", name);
            let offset = value.span().start;
            match name {
                "listen" => {
                    if let Some(addresses) = self.read_socket_addresses(value, &path) {
                        self.check_listen(&addresses, value, &path);
                        for (index, (address, offset)) in addresses.iter().enumerate() {
                            stream_addresses.push((*address, *offset, format!("{path}[{index}]")));
                            datagram_addresses.push((
                                *address,
                                *offset,
                                format!("{path}[{index}]"),
                            ));
                        }
                        server.listen = addresses.into_iter().map(|(address, _)| address).collect();
                    }
                }
                "tls_listen" | "https_listen" | "doh_cleartext_listen" => {
                    let port = match name {
                        "tls_listen" => DOT_PORT,
                        "https_listen" => DOH_PORT,
                        _ => DOH_CLEARTEXT_PORT,
                    };
                    let read = self.read_parsed_strings(value, &path, |text| {
                        parse_socket_address_on(text, port)
                    });
                    if let Some(addresses) = read {
                        for (index, (address, offset)) in addresses.iter().enumerate() {
                            stream_addresses.push((*address, *offset, format!("{path}[{index}]")));
                        }
                        let addresses = addresses.into_iter().map(|(address, _)| address).collect();
                        match name {
                            "tls_listen" => server.tls_listen = addresses,
                            "https_listen" => server.https_listen = addresses,
                            _ => server.doh_cleartext_listen = addresses,
                        }
                        if name != "doh_cleartext_listen" {
                            encrypted_at.get_or_insert(offset);
                        }
                    }
                }
                "quic_listen" => {
                    let read = self.read_parsed_strings(value, &path, |text| {
                        parse_socket_address_on(text, DOQ_PORT)
                    });
                    if let Some(addresses) = read {
                        for (index, (address, offset)) in addresses.iter().enumerate() {
                            datagram_addresses.push((
                                *address,
                                *offset,
                                format!("{path}[{index}]"),
                            ));
                        }
                        server.quic_listen =
                            addresses.into_iter().map(|(address, _)| address).collect();
                        encrypted_at.get_or_insert(offset);
                    }
                }
                "quic_idle_timeout" => {
                    let minimum = Duration::from_millis(100);
                    let maximum = Duration::from_secs(3600);
                    if let Some(timeout) = self.read_duration(value, &path, minimum, maximum) {
                        server.quic_idle_timeout = timeout;
                    }
                }
                "max_quic_connections" => {
                    let result = self.read_integer(value, &path, 1, 1_048_576);
                    quic_total_origin = Origin::of(&result, offset);
                    if let Some(count) = result {
                        server.max_quic_connections = count;
                    }
                }
                "max_quic_connections_per_client" => {
                    let result = self.read_integer(value, &path, 1, 1_048_576);
                    quic_per_client_origin = Origin::of(&result, offset);
                    if let Some(count) = result {
                        server.max_quic_connections_per_client = count;
                    }
                }
                "max_quic_streams" => {
                    if let Some(count) = self.read_integer(value, &path, 1, 65_536) {
                        server.max_quic_streams = count;
                    }
                }
                "certificate" => {
                    certificate_at = Some(offset);
                    server.certificate =
                        self.read_existing_file(value, &path, "needs the path of a PEM file");
                }
                "private_key" => {
                    key_at = Some(offset);
                    server.private_key =
                        self.read_existing_file(value, &path, "needs the path of a PEM file");
                }
                "allow_from" => {
                    if let Some(networks) = self.read_networks(value, &path) {
                        server.allow_from = networks;
                    }
                }
                "proxy_protocol_from" => {
                    if let Some(networks) = self.read_networks(value, &path) {
                        server.proxy_protocol_from = networks;
                    }
                }
                "require_cookies" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        server.require_cookies = flag;
                    }
                }
                "cookie_secret" => {
                    if let Some(text) = self.expect_string(value, &path) {
                        match parse_cookie_secret(text) {
                            Some(secret) => server.cookie_secret = Some(secret),
                            None => self.report(
                                value.span().start,
                                &path,
                                "needs 32 hexadecimal digits (a 128-bit secret)",
                            ),
                        }
                    }
                }
                "threads" => {
                    if let Some(threads) = self.read_integer(value, &path, 1, MAX_THREADS) {
                        server.threads = threads;
                    }
                }
                "tcp_idle_timeout" => {
                    let minimum = Duration::from_millis(100);
                    let maximum = Duration::from_secs(3600);
                    if let Some(timeout) = self.read_duration(value, &path, minimum, maximum) {
                        server.tcp_idle_timeout = timeout;
                    }
                }
                "max_tcp_connections" => {
                    let result = self.read_integer(value, &path, 1, 1_048_576);
                    total_origin = Origin::of(&result, offset);
                    if let Some(count) = result {
                        server.max_tcp_connections = count;
                    }
                }
                "max_tcp_connections_per_client" => {
                    let result = self.read_integer(value, &path, 1, 1_048_576);
                    per_client_origin = Origin::of(&result, offset);
                    if let Some(count) = result {
                        server.max_tcp_connections_per_client = count;
                    }
                }
                "lame_duck" => {
                    // Lame duck plus the drain of work in flight must fit in
                    // Kubernetes' default grace period of 30 s.
                    let maximum = Duration::from_secs(MAX_LAME_DUCK_SECONDS);
                    if let Some(period) = self.read_duration(value, &path, Duration::ZERO, maximum)
                    {
                        server.lame_duck = period;
                    }
                }
                _ => self.report_unknown_key(key, "server", SERVER_KEYS),
            }
        }
        for (index, (address, offset, path)) in datagram_addresses.iter().enumerate() {
            if let Some((_, _, first)) = datagram_addresses[..index]
                .iter()
                .find(|(other, _, first)| other == address && !same_list(first, path))
            {
                self.report(
                    *offset,
                    path,
                    format!("{address} is already listed at {first} (UDP)"),
                );
            }
        }
        for (index, (address, offset, path)) in stream_addresses.iter().enumerate() {
            if let Some((_, _, first)) = stream_addresses[..index]
                .iter()
                .find(|(other, _, first)| other == address && !same_list(first, path))
            {
                self.report(
                    *offset,
                    path,
                    format!("{address} is already listed at {first}"),
                );
            }
        }
        let has_encrypted = !server.tls_listen.is_empty()
            || !server.https_listen.is_empty()
            || !server.quic_listen.is_empty();
        if let Some(offset) = encrypted_at.filter(|_| has_encrypted) {
            let needed =
                "is needed by server.tls_listen, server.https_listen and server.quic_listen";
            if certificate_at.is_none() {
                self.report(offset, "server.certificate", needed);
            }
            if key_at.is_none() {
                self.report(offset, "server.private_key", needed);
            }
        }
        if server.max_quic_connections_per_client > server.max_quic_connections
            && let Some(offset) = Origin::of_pair(quic_per_client_origin, quic_total_origin)
        {
            self.report(
                offset,
                "server.max_quic_connections_per_client",
                format!(
                    "{} is greater than server.max_quic_connections ({})",
                    server.max_quic_connections_per_client, server.max_quic_connections
                ),
            );
        }
        if let (Some(offset), None) = (certificate_at, key_at) {
            self.report(
                offset,
                "server.private_key",
                "is needed with server.certificate",
            );
        }
        if let (None, Some(offset)) = (certificate_at, key_at) {
            self.report(
                offset,
                "server.certificate",
                "is needed with server.private_key",
            );
        }
        if server.max_tcp_connections_per_client > server.max_tcp_connections {
            let Some(offset) = Origin::of_pair(per_client_origin, total_origin) else {
                return;
            };
            self.report(
                offset,
                "server.max_tcp_connections_per_client",
                format!(
                    "{} is greater than server.max_tcp_connections ({})",
                    server.max_tcp_connections_per_client, server.max_tcp_connections
                ),
            );
        }
    }

    fn check_listen(&mut self, addresses: &[(SocketAddr, usize)], value: &Value<'_>, path: &str) {
        if addresses.is_empty() {
            self.report(value.span().start, path, "needs at least one address");
        }
        for (index, (address, offset)) in addresses.iter().enumerate() {
            if let Some(first) = addresses[..index]
                .iter()
                .position(|(other, _)| other == address)
            {
                self.report(
                    *offset,
                    &format!("{path}[{index}]"),
                    format!("{address} is already listed at {path}[{first}]"),
                );
            }
        }
    }

    fn read_networks(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<IpNetwork>> {
        let networks = self.read_parsed_strings(value, path, |text| {
            IpNetwork::from_str(text)
                .map_err(|error| format!("is not a network such as \"10.0.0.0/8\": {error}"))
        })?;
        Some(networks.into_iter().map(|(network, _)| network).collect())
    }

    fn read_resolver(&mut self, table: &DeTable<'_>, resolver: &mut ResolverSection) {
        let mut mode_origin = Origin::Default;
        let mut forwarders_origin = Origin::Default;
        let mut zone_names: Vec<(Name, String)> = Vec::new();
        let mut upstreams = UpstreamList::default();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("resolver", name);
            let offset = value.span().start;
            match name {
                "mode" => {
                    let choices = [
                        ("recursive", ResolverMode::Recursive),
                        ("forward", ResolverMode::Forward),
                    ];
                    let result = self.read_choice(value, &path, &choices);
                    mode_origin = Origin::of(&result, offset);
                    if let Some(mode) = result {
                        resolver.mode = mode;
                    }
                }
                "root_hints" => {
                    if let Some(hints) = self.read_root_hints(value, &path) {
                        resolver.root_hints = Some(hints);
                    }
                }
                "forwarders" => {
                    let result = self.read_upstreams(value, &path, &mut upstreams);
                    forwarders_origin = Origin::of(&result, offset);
                    if let Some(addresses) = result {
                        resolver.forwarders =
                            addresses.into_iter().map(|(address, _)| address).collect();
                    }
                }
                "query_private_upstreams" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        resolver.query_private_upstreams = flag;
                    }
                }
                "qname_minimisation" => {
                    let choices = [
                        ("off", QnameMinimisation::Off),
                        ("relaxed", QnameMinimisation::Relaxed),
                        ("strict", QnameMinimisation::Strict),
                    ];
                    if let Some(minimisation) = self.read_choice(value, &path, &choices) {
                        resolver.qname_minimisation = minimisation;
                    }
                }
                "edns_buffer_size" => {
                    if let Some(size) = self.read_integer(value, &path, 512, 4096) {
                        resolver.edns_buffer_size = size;
                    }
                }
                "forward_zone" => {
                    resolver.forward_zones =
                        self.read_zones(value, &path, &mut zone_names, &mut upstreams);
                }
                "stub_zone" => {
                    resolver.stub_zones =
                        self.read_zones(value, &path, &mut zone_names, &mut upstreams);
                }
                "limits" => {
                    if let Some(limits) = self.expect_table(value, &path) {
                        self.read_limits(limits, &mut resolver.limits);
                    }
                }
                _ => self.report_unknown_key(key, "resolver", RESOLVER_KEYS),
            }
        }
        resolver.encrypted_servers = upstreams
            .encrypted
            .into_iter()
            .map(|(server, _)| server)
            .collect();
        if mode_origin == Origin::Invalid || forwarders_origin == Origin::Invalid {
            return;
        }
        match (resolver.mode, resolver.forwarders.is_empty()) {
            (ResolverMode::Forward, true) => {
                let offset = match (forwarders_origin, mode_origin) {
                    (Origin::Given(offset), _) | (_, Origin::Given(offset)) => offset,
                    _ => 0,
                };
                self.report(
                    offset,
                    "resolver.forwarders",
                    "needs at least one address when resolver.mode = \"forward\"",
                );
            }
            (ResolverMode::Recursive, false) => {
                let offset = match forwarders_origin {
                    Origin::Given(offset) => offset,
                    _ => 0,
                };
                self.report(
                    offset,
                    "resolver.forwarders",
                    "only used when resolver.mode = \"forward\"; \
                     set the mode or remove the forwarders",
                );
            }
            _ => {}
        }
    }

    fn read_root_hints(&mut self, value: &Value<'_>, path: &str) -> Option<PathBuf> {
        self.read_existing_file(
            value,
            path,
            "is empty; remove the key to use the built-in hints",
        )
    }

    /// A path (relative to the configuration file) to a regular file that exists.
    fn read_existing_file(
        &mut self,
        value: &Value<'_>,
        path: &str,
        when_empty: &str,
    ) -> Option<PathBuf> {
        let text = self.expect_string(value, path)?;
        if text.is_empty() {
            self.report(value.span().start, path, when_empty);
            return None;
        }
        let file = self.base_directory.join(text);
        match std::fs::metadata(&file) {
            Ok(metadata) if metadata.is_file() => Some(file),
            Ok(_) => {
                self.report(
                    value.span().start,
                    path,
                    format!("{} is not a regular file", file.display()),
                );
                None
            }
            Err(error) => {
                self.report(
                    value.span().start,
                    path,
                    format!("cannot use {}: {error}", file.display()),
                );
                None
            }
        }
    }

    /// An array of `{ name, servers }` tables. `zone_names` holds the names
    /// seen so far, with the path of each, to find duplicates across both
    /// zone lists.
    fn read_zones(
        &mut self,
        value: &Value<'_>,
        path: &str,
        zone_names: &mut Vec<(Name, String)>,
        upstreams: &mut UpstreamList,
    ) -> Vec<ZoneServers> {
        let array_of_tables = format!("an array of tables ([[{path}]] entries)");
        let DeValue::Array(entries) = value.get_ref() else {
            self.report_type(value, path, &array_of_tables);
            return Vec::new();
        };
        let mut zones = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let entry_path = format!("{path}[{index}]");
            let Some(table) = self.expect_table(entry, &entry_path) else {
                continue;
            };
            if let Some(zone) = self.read_zone(entry, table, &entry_path, zone_names, upstreams) {
                zones.push(zone);
            }
        }
        zones
    }

    fn read_zone(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
        zone_names: &mut Vec<(Name, String)>,
        upstreams: &mut UpstreamList,
    ) -> Option<ZoneServers> {
        let mut zone_name: Option<Option<Name>> = None;
        let mut servers: Option<Option<Vec<SocketAddr>>> = None;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let key_path = join_path(path, name);
            match name {
                "name" => {
                    let parsed = self.read_zone_name(value, &key_path);
                    if let Some(parsed) = &parsed {
                        match zone_names.iter().find(|(seen, _)| seen == parsed) {
                            Some((_, first_path)) => self.report(
                                value.span().start,
                                &key_path,
                                format!("zone {parsed} is already configured at {first_path}"),
                            ),
                            None => zone_names.push((parsed.clone(), key_path.clone())),
                        }
                    }
                    zone_name = Some(parsed);
                }
                "servers" => {
                    let addresses = self.read_upstreams(value, &key_path, upstreams);
                    if let Some(addresses) = &addresses
                        && addresses.is_empty()
                    {
                        self.report(value.span().start, &key_path, "needs at least one address");
                    }
                    servers = Some(
                        addresses
                            .map(|list| list.into_iter().map(|(address, _)| address).collect()),
                    );
                }
                _ => self.report_unknown_key(key, path, ZONE_KEYS),
            }
        }
        if zone_name.is_none() {
            self.report(entry.span().start, path, "missing key \"name\"");
        }
        if servers.is_none() {
            self.report(entry.span().start, path, "missing key \"servers\"");
        }
        let name = zone_name.flatten()?;
        let servers = servers.flatten().filter(|list| !list.is_empty())?;
        Some(ZoneServers { name, servers })
    }

    fn read_zone_name(&mut self, value: &Value<'_>, path: &str) -> Option<Name> {
        let text = self.expect_string(value, path)?;
        let result = if text.is_empty() {
            Err("it is empty; write \".\" for the root".to_owned())
        } else if text
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        {
            Err("it contains white space or a control character".to_owned())
        } else {
            Name::from_ascii(text).map_err(|error| error.to_string())
        };
        match result {
            Ok(name) => Some(name),
            Err(reason) => {
                self.report(
                    value.span().start,
                    path,
                    format!("{text:?} is not a domain name: {reason}"),
                );
                None
            }
        }
    }

    fn read_limits(&mut self, table: &DeTable<'_>, limits: &mut LimitsSection) {
        let mut resolution_origin = Origin::Default;
        let mut timeout_origin = Origin::Default;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("resolver.limits", name);
            let offset = value.span().start;
            match name {
                "max_upstream_queries" => {
                    if let Some(count) = self.read_integer(value, &path, 1, 1000) {
                        limits.max_upstream_queries = count;
                    }
                }
                "max_nameserver_names" => {
                    if let Some(count) = self.read_integer(value, &path, 1, 64) {
                        limits.max_nameserver_names = count;
                    }
                }
                "max_cname_chain" => {
                    if let Some(count) = self.read_integer(value, &path, 1, 64) {
                        limits.max_cname_chain = count;
                    }
                }
                "max_resolution_time" => {
                    let minimum = Duration::from_millis(100);
                    let maximum = Duration::from_secs(300);
                    let result = self.read_duration(value, &path, minimum, maximum);
                    resolution_origin = Origin::of(&result, offset);
                    if let Some(time) = result {
                        limits.max_resolution_time = time;
                    }
                }
                "upstream_timeout" => {
                    let minimum = Duration::from_millis(10);
                    let maximum = Duration::from_secs(60);
                    let result = self.read_duration(value, &path, minimum, maximum);
                    timeout_origin = Origin::of(&result, offset);
                    if let Some(timeout) = result {
                        limits.upstream_timeout = timeout;
                    }
                }
                "max_delegation_depth" => {
                    if let Some(depth) = self.read_integer(value, &path, 1, 32) {
                        limits.max_delegation_depth = depth;
                    }
                }
                "max_outstanding_per_zone" => {
                    if let Some(count) = self.read_integer(value, &path, 0, 1_000_000) {
                        limits.max_outstanding_per_zone = count;
                    }
                }
                "max_outstanding_per_server" => {
                    if let Some(count) = self.read_integer(value, &path, 0, 1_000_000) {
                        limits.max_outstanding_per_server = count;
                    }
                }
                _ => self.report_unknown_key(key, "resolver.limits", LIMITS_KEYS),
            }
        }
        if limits.upstream_timeout > limits.max_resolution_time {
            let Some(offset) = Origin::of_pair(timeout_origin, resolution_origin) else {
                return;
            };
            self.report(
                offset,
                "resolver.limits.upstream_timeout",
                format!(
                    "{} is longer than resolver.limits.max_resolution_time ({})",
                    describe_duration(limits.upstream_timeout),
                    describe_duration(limits.max_resolution_time)
                ),
            );
        }
    }

    fn read_rate_limit(&mut self, table: &DeTable<'_>, rate_limit: &mut RateLimitSection) {
        let mut burst_given = false;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("rate_limit", name);
            match name {
                "queries_per_second" => {
                    if let Some(rate) = self.read_integer(value, &path, 0, MAX_RATE) {
                        rate_limit.queries_per_second = rate;
                    }
                }
                "burst" => {
                    burst_given = true;
                    if let Some(burst) = self.read_integer(value, &path, 1, MAX_RATE) {
                        rate_limit.burst = burst;
                    }
                }
                "ipv4_prefix" => {
                    if let Some(bits) = self.read_integer(value, &path, 8, 32) {
                        rate_limit.ipv4_prefix = bits;
                    }
                }
                "ipv6_prefix" => {
                    if let Some(bits) = self.read_integer(value, &path, 16, 128) {
                        rate_limit.ipv6_prefix = bits;
                    }
                }
                "exempt" => {
                    if let Some(networks) = self.read_networks(value, &path) {
                        rate_limit.exempt = networks;
                    }
                }
                "action" => {
                    let choices = [
                        ("drop", RateLimitAction::Drop),
                        ("refuse", RateLimitAction::Refuse),
                    ];
                    if let Some(action) = self.read_choice(value, &path, &choices) {
                        rate_limit.action = action;
                    }
                }
                "responses_per_second" => {
                    if let Some(rate) = self.read_integer(value, &path, 0, MAX_RATE) {
                        rate_limit.responses_per_second = rate;
                    }
                }
                "slip" => {
                    if let Some(slip) = self.read_integer(value, &path, 0, 10) {
                        rate_limit.slip = slip;
                    }
                }
                "max_resolutions" => {
                    if let Some(count) = self.read_integer(value, &path, 0, 10_000_000) {
                        rate_limit.max_resolutions = count;
                    }
                }
                "max_resolutions_per_client" => {
                    if let Some(count) = self.read_integer(value, &path, 0, 10_000_000) {
                        rate_limit.max_resolutions_per_client = count;
                    }
                }
                "overload_action" => {
                    let choices = [
                        ("servfail", OverloadAction::Servfail),
                        ("drop", OverloadAction::Drop),
                    ];
                    if let Some(action) = self.read_choice(value, &path, &choices) {
                        rate_limit.overload_action = action;
                    }
                }
                _ => self.report_unknown_key(key, "rate_limit", RATE_LIMIT_KEYS),
            }
        }
        if !burst_given {
            rate_limit.burst = rate_limit.queries_per_second.saturating_mul(2).max(1);
        }
    }

    fn read_dnssec(&mut self, table: &DeTable<'_>, dnssec: &mut DnssecSection) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("dnssec", name);
            match name {
                "validation" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        dnssec.validation = flag;
                    }
                }
                "trust_anchor_file" => {
                    if let Some(file) = self.read_existing_file(
                        value,
                        &path,
                        "is empty; remove the key to use the built-in root anchors",
                    ) {
                        dnssec.trust_anchor_file = Some(file);
                    }
                }
                "negative_trust_anchors" => {
                    let names = self.read_parsed_strings(value, &path, |text| {
                        Name::from_ascii(text).map_err(|error| error.to_string())
                    });
                    if let Some(names) = names {
                        dnssec.negative_trust_anchors =
                            names.into_iter().map(|(name, _)| name).collect();
                    }
                }
                "auto_update" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        dnssec.auto_update = Some(flag);
                    }
                }
                "add_hold_down" => {
                    let maximum = Duration::from_secs(365 * 86_400);
                    if let Some(time) = self.read_duration(value, &path, Duration::ZERO, maximum) {
                        dnssec.add_hold_down = time;
                    }
                }
                "refresh_interval" => {
                    let (minimum, maximum) =
                        (Duration::from_secs(1), Duration::from_secs(15 * 86_400));
                    if let Some(time) = self.read_duration(value, &path, minimum, maximum) {
                        dnssec.refresh_interval = Some(time);
                    }
                }
                "aggressive_nsec" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        dnssec.aggressive_nsec = flag;
                    }
                }
                _ => self.report_unknown_key(key, "dnssec", DNSSEC_KEYS),
            }
        }
    }

    fn read_cache(&mut self, table: &DeTable<'_>, cache: &mut CacheSection) {
        let mut min_origin = Origin::Default;
        let mut max_origin = Origin::Default;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("cache", name);
            let offset = value.span().start;
            match name {
                "max_memory" => {
                    if let Some(bytes) = self.read_size(value, &path, MEBIBYTE) {
                        cache.max_memory = bytes;
                    }
                }
                "min_ttl" => {
                    let result = self.read_integer(value, &path, 0, MAX_TTL_VALUE);
                    min_origin = Origin::of(&result, offset);
                    if let Some(ttl) = result {
                        cache.min_ttl = ttl;
                    }
                }
                "max_ttl" => {
                    let result = self.read_integer(value, &path, 1, MAX_TTL_VALUE);
                    max_origin = Origin::of(&result, offset);
                    if let Some(ttl) = result {
                        cache.max_ttl = ttl;
                    }
                }
                "negative_max_ttl" => {
                    if let Some(ttl) = self.read_integer(value, &path, 0, MAX_TTL_VALUE) {
                        cache.negative_max_ttl = ttl;
                    }
                }
                "servfail_ttl" => {
                    if let Some(ttl) = self.read_integer(value, &path, 0, MAX_SERVFAIL_TTL) {
                        cache.servfail_ttl = ttl;
                    }
                }
                "serve_stale" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        cache.serve_stale = flag;
                    }
                }
                "stale_answer_ttl" => {
                    if let Some(ttl) = self.read_integer(value, &path, 1, 3600) {
                        cache.stale_answer_ttl = ttl;
                    }
                }
                "max_stale" => {
                    let maximum = Duration::from_secs(7 * 86_400);
                    if let Some(duration) =
                        self.read_duration(value, &path, Duration::ZERO, maximum)
                    {
                        cache.max_stale = duration;
                    }
                }
                "client_response_timeout" => {
                    let maximum = Duration::from_secs(60);
                    if let Some(duration) =
                        self.read_duration(value, &path, Duration::ZERO, maximum)
                    {
                        cache.client_response_timeout = duration;
                    }
                }
                "prefetch" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        cache.prefetch = flag;
                    }
                }
                "prefetch_threshold" => {
                    if let Some(percent) = self.read_integer(value, &path, 1, 99) {
                        cache.prefetch_threshold = percent;
                    }
                }
                _ => self.report_unknown_key(key, "cache", CACHE_KEYS),
            }
        }
        if cache.min_ttl > cache.max_ttl {
            let Some(offset) = Origin::of_pair(min_origin, max_origin) else {
                return;
            };
            self.report(
                offset,
                "cache.min_ttl",
                format!(
                    "{} is greater than cache.max_ttl ({})",
                    cache.min_ttl, cache.max_ttl
                ),
            );
        }
    }

    fn read_log(&mut self, table: &DeTable<'_>, log: &mut LogSection) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("log", name);
            match name {
                "level" => {
                    let choices = LOG_LEVELS.map(|level| (level, level));
                    if let Some(level) = self.read_choice(value, &path, &choices) {
                        level.clone_into(&mut log.level);
                    }
                }
                _ => self.report_unknown_key(key, "log", LOG_KEYS),
            }
        }
    }
}

impl Checker<'_> {
    fn read_api(&mut self, table: &DeTable<'_>, api: &mut ApiSection) {
        let mut listen_offset = None;
        let mut token_entries = None;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("api", name);
            match name {
                "enabled" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        api.enabled = flag;
                    }
                }
                "listen" => {
                    let Some(text) = self.expect_string(value, &path) else {
                        continue;
                    };
                    match SocketAddr::from_str(text) {
                        Ok(address) => {
                            api.listen = address;
                            listen_offset = Some(value.span().start);
                        }
                        Err(_) => self.report(
                            value.span().start,
                            &path,
                            format!(
                                "{text:?} is not an address with a port, such as \
                                 \"127.0.0.1:8053\" or \"[::1]:8053\""
                            ),
                        ),
                    }
                }
                "policy_file" => {
                    self.policy_file_given = true;
                    if let Some(file) = self.read_file_to_write(
                        value,
                        &path,
                        "remove the key for the default beside the configuration file",
                        "",
                    ) {
                        api.policy_file = Some(file);
                    }
                }
                "token" => token_entries = Some(value),
                _ => self.report_unknown_key(key, "api", API_KEYS),
            }
        }
        let mut valid_tokens = true;
        if let Some(value) = token_entries {
            // The key path of each token kept, by its index in `api.tokens`.
            let mut token_paths: Vec<String> = Vec::new();
            for (path, entry, table) in self.expect_entries(value, "api.token") {
                match self.read_api_token(entry, table, &path) {
                    Some((token, scope, offset)) => {
                        if let Some(index) =
                            api.tokens.iter().position(|(other, _)| *other == token)
                        {
                            let message = format!(
                                "the same token is already configured at {}",
                                token_paths[index]
                            );
                            self.report(offset, &path, message);
                        } else {
                            api.tokens.push((token, scope));
                            token_paths.push(path);
                        }
                    }
                    None => valid_tokens = false,
                }
            }
        }
        if api.enabled && valid_tokens && api.tokens.is_empty() && !api.listen.ip().is_loopback() {
            let offset = listen_offset.unwrap_or(0);
            self.report(
                offset,
                "api.listen",
                format!(
                    "{} is not a loopback address and no [[api.token]] is configured: the API \
                     would be open to the network; add a token or listen on 127.0.0.1 or [::1]",
                    api.listen.ip()
                ),
            );
        }
    }

    /// One `[[api.token]]`: its token, scope and the offset of the entry.
    fn read_api_token(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
    ) -> Option<(String, ApiScope, usize)> {
        let mut scope: Option<Option<ApiScope>> = None;
        let mut tokens: Vec<(Option<String>, &str, usize)> = Vec::new();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let key_path = join_path(path, name);
            match name {
                "scope" => scope = Some(self.read_choice(value, &key_path, &API_SCOPES)),
                "token" => {
                    let token = self.expect_string(value, &key_path).map(str::to_owned);
                    tokens.push((token, "token", value.span().start));
                }
                "token_file" => {
                    let token = self.read_secret_file(value, &key_path, "the token");
                    tokens.push((token, "token_file", value.span().start));
                }
                _ => self.report_unknown_key(key, path, API_TOKEN_KEYS),
            }
        }
        if scope.is_none() {
            self.report(
                entry.span().start,
                path,
                "missing key \"scope\" (\"read\" or \"admin\")",
            );
        }
        let (token, key, offset) = match tokens.as_slice() {
            [] => {
                self.report(
                    entry.span().start,
                    path,
                    "missing key \"token\" or \"token_file\"",
                );
                return None;
            }
            [one] => one.clone(),
            [_, second, ..] => {
                self.report(
                    second.2,
                    path,
                    "give either \"token\" or \"token_file\", not both",
                );
                return None;
            }
        };
        let token = token?;
        // The token itself is never echoed: problems end up in logs.
        let length = token.chars().count();
        if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            self.report(
                offset,
                &join_path(path, key),
                "a token may hold only visible ASCII characters (no spaces or control characters)",
            );
            return None;
        }
        if length < MIN_TOKEN_LENGTH {
            self.report(
                offset,
                &join_path(path, key),
                format!("the token has {length} characters; it needs at least {MIN_TOKEN_LENGTH}"),
            );
            return None;
        }
        Some((token, scope.flatten()?, offset))
    }

    fn read_query_log(&mut self, table: &DeTable<'_>, query_log: &mut QueryLogSection) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("query_log", name);
            match name {
                "enabled" => {
                    if let Some(flag) = self.read_boolean(value, &path) {
                        query_log.enabled = flag;
                    }
                }
                "path" => {
                    self.query_log_path_given = true;
                    if let Some(file) = self.read_file_to_write(
                        value,
                        &path,
                        "remove the key for querylog.sqlite in the state directory",
                        "; name the database file",
                    ) {
                        query_log.path = file;
                    }
                }
                "privacy_level" => {
                    if let Some(level) = self.read_integer(value, &path, 0_u8, 3) {
                        query_log.privacy_level = level;
                    }
                }
                "retention_days" => {
                    if let Some(days) = self.read_integer(value, &path, 1_u32, 3650) {
                        query_log.retention_days = days;
                    }
                }
                "exclude_clients" => {
                    if let Some(networks) = self.read_networks(value, &path) {
                        query_log.exclude_clients = networks
                            .into_iter()
                            .map(|network| (network.address, network.prefix_length))
                            .collect();
                    }
                }
                "exclude_names" => {
                    let Some(elements) = self.expect_array(value, &path) else {
                        continue;
                    };
                    let mut names = Vec::with_capacity(elements.len());
                    for (index, element) in elements.iter().enumerate() {
                        let element_path = format!("{path}[{index}]");
                        if let Some(name) = self.read_zone_name(element, &element_path) {
                            names.push(name);
                        }
                    }
                    if names.len() == elements.len() {
                        query_log.exclude_names = names;
                    }
                }
                "queue_capacity" => {
                    if let Some(capacity) =
                        self.read_integer(value, &path, 1_usize, MAX_QUERY_LOG_QUEUE)
                    {
                        query_log.queue_capacity = capacity;
                    }
                }
                "dnstap" => {
                    if let Some(dnstap) = self.expect_table(value, &path) {
                        query_log.dnstap = self.read_dnstap(dnstap, value.span().start);
                    }
                }
                _ => self.report_unknown_key(key, "query_log", QUERY_LOG_KEYS),
            }
        }
        if query_log.dnstap.is_some() && query_log.privacy_level == 3 {
            let offset = table.get("dnstap").map_or(0, |value| value.span().start);
            self.report(
                offset,
                "query_log.dnstap",
                "dnstap sends every query, but privacy_level 3 keeps aggregates only; \
                 lower the level or remove the table",
            );
        }
    }

    /// `[query_log.dnstap]`; `None` when `enabled = false` or on a problem.
    fn read_dnstap(&mut self, table: &DeTable<'_>, offset: usize) -> Option<DnstapSection> {
        let mut enabled = true;
        let mut targets = Vec::new();
        let mut section = DnstapSection {
            target: DnstapTarget::Unix(PathBuf::new()),
            identity: String::new(),
            version: format!("hanse {}", env!("CARGO_PKG_VERSION")),
            client_queries: true,
            client_responses: true,
            queue_capacity: 65_536,
        };
        let mut valid = true;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join_path("query_log.dnstap", name);
            match name {
                "enabled" => match self.read_boolean(value, &path) {
                    Some(flag) => enabled = flag,
                    None => valid = false,
                },
                "socket" => match self.expect_string(value, &path) {
                    Some("") => {
                        self.report(
                            value.span().start,
                            &path,
                            "is empty; name the collector's Unix socket",
                        );
                        valid = false;
                    }
                    Some(text) => targets.push(DnstapTarget::Unix(self.base_directory.join(text))),
                    None => valid = false,
                },
                "address" => match self
                    .expect_string(value, &path)
                    .map(|text| (text, parse_socket_address_on(text, 0)))
                {
                    Some((_, Ok(address))) if address.port() != 0 => {
                        targets.push(DnstapTarget::Tcp(address))
                    }
                    Some((text, _)) => {
                        self.report(value.span().start, &path, format!("{text:?} is not an address with a port (\"127.0.0.1:6000\", \"[::1]:6000\")"));
                        valid = false;
                    }
                    None => valid = false,
                },
                "identity" => match self.expect_string(value, &path) {
                    Some(text) => section.identity = text.to_owned(),
                    None => valid = false,
                },
                "version" => match self.expect_string(value, &path) {
                    Some(text) => section.version = text.to_owned(),
                    None => valid = false,
                },
                "messages" => {
                    let Some(elements) = self.expect_array(value, &path) else {
                        valid = false;
                        continue;
                    };
                    let mut chosen = 0u8;
                    for (index, element) in elements.iter().enumerate() {
                        let element_path = format!("{path}[{index}]");
                        match self.read_choice(element, &element_path, &DNSTAP_MESSAGES) {
                            Some(bit) => chosen |= bit,
                            None => valid = false,
                        }
                    }
                    if chosen == 0 && valid {
                        self.report(
                            value.span().start,
                            &path,
                            "is empty; list \"client_query\", \"client_response\" or both",
                        );
                        valid = false;
                    }
                    section.client_queries = chosen & 1 != 0;
                    section.client_responses = chosen & 2 != 0;
                }
                "queue_capacity" => match self.read_integer(value, &path, 1_usize, 1 << 20) {
                    Some(capacity) => section.queue_capacity = capacity,
                    None => valid = false,
                },
                _ => self.report_unknown_key(key, "query_log.dnstap", DNSTAP_KEYS),
            }
        }
        match targets.len() {
            1 => section.target = targets.remove(0),
            0 => {
                self.report(offset, "query_log.dnstap", "needs the collector: socket = \"/path\" (Unix) or address = \"host:port\" (TCP)");
                valid = false;
            }
            _ => {
                self.report(
                    offset,
                    "query_log.dnstap",
                    "has both socket and address; give one",
                );
                valid = false;
            }
        }
        (valid && enabled).then_some(section)
    }
}

/// A `[[policy.profile.override]]` entry as read.
struct FeedOverride {
    feed: String,
    offset: usize,
    action: Option<PolicyOverride>,
    enabled: Option<bool>,
    log: Option<bool>,
    ede: Option<EdeCode>,
}

/// A `[[policy.profile.schedule]]` entry as read.
struct FeedSchedule {
    feed: String,
    offset: usize,
    window: Option<TimeWindow>,
}

/// A name (of a feed or profile) with the key path where it was defined.
struct Defined {
    name: String,
    path: String,
}

/// Which key says where a feed comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKey {
    File,
    Url,
    Zone,
}

impl SourceKey {
    fn key(self) -> &'static str {
        match self {
            SourceKey::File => FEED_SOURCE_KEYS[0],
            SourceKey::Url => FEED_SOURCE_KEYS[1],
            SourceKey::Zone => FEED_SOURCE_KEYS[2],
        }
    }
}

/// A `[[policy.tsig_key]]` with a valid, new name.
struct DefinedKey {
    name: Name,
    /// The key path of its `name`.
    path: String,
    /// The key; `None` if its algorithm or secret has a problem (reported).
    key: Option<TsigKey>,
}

/// The TSIG keys defined; `complete` is false when an entry had no valid
/// name, so that references to it are not reported as unknown.
struct TsigKeys {
    defined: Vec<DefinedKey>,
    complete: bool,
}

/// The names defined so far of one kind; `complete` is false when an entry
/// had no valid name, so that references to it are not reported twice.
struct Names {
    defined: Vec<Defined>,
    complete: bool,
}

impl Names {
    fn new() -> Names {
        Names {
            defined: Vec::new(),
            complete: true,
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.defined.iter().any(|defined| defined.name == name)
    }
}

/// What the configuration file defined that the API's policy file refers to
/// or must not define again.
struct PolicyNames {
    feeds: Names,
    profiles: Names,
    /// The client networks mapped so far, with the key path of each.
    networks: Vec<(Prefix, String)>,
    /// Where the current file's profile array starts, if it has one.
    profiles_at: Option<usize>,
}

impl PolicyNames {
    fn new() -> PolicyNames {
        PolicyNames {
            feeds: Names::new(),
            profiles: Names::new(),
            networks: Vec::new(),
            profiles_at: None,
        }
    }

    /// Adds the file's name to the key paths, for messages about another file.
    fn mention_file(&mut self, file_name: &str) {
        let paths = self
            .feeds
            .defined
            .iter_mut()
            .chain(self.profiles.defined.iter_mut())
            .map(|defined| &mut defined.path)
            .chain(self.networks.iter_mut().map(|(_, path)| path));
        for path in paths {
            *path = format!("{path} in {file_name}");
        }
    }
}

impl Checker<'_> {
    fn read_policy(&mut self, table: &DeTable<'_>, policy: &mut PolicySection) {
        let mut tsig_key_entries = None;
        let mut feed_entries = None;
        let mut profile_entries = None;
        let mut client_entries = None;
        let mut serve_entries = None;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let key_path = join_path("policy", name);
            match name {
                "state_directory" => {
                    if let Some(directory) = self.read_state_directory(value, &key_path) {
                        policy.state_directory = directory;
                    }
                }
                "extra_text" => {
                    if let Some(flag) = self.read_boolean(value, &key_path) {
                        policy.extra_text = flag;
                    }
                }
                "tsig_key" => tsig_key_entries = Some(value),
                "feed" => feed_entries = Some(value),
                "profile" => profile_entries = Some(value),
                "client" => client_entries = Some(value),
                "serve" => serve_entries = Some(value),
                _ => self.report_unknown_key(key, "policy", POLICY_KEYS),
            }
        }
        // TSIG keys first, then feeds, profiles and clients: references
        // point back.
        let mut tsig_keys = TsigKeys {
            defined: Vec::new(),
            complete: true,
        };
        if let Some(value) = tsig_key_entries {
            for (path, entry, table) in self.expect_entries(value, "policy.tsig_key") {
                self.read_tsig_key(entry, table, &path, &mut tsig_keys);
            }
        }
        let mut feed_names = Names::new();
        if let Some(value) = feed_entries {
            for (path, entry, table) in self.expect_entries(value, "policy.feed") {
                let feed = self.read_feed(entry, table, &path, &mut feed_names, &tsig_keys);
                if let Some(feed) = feed {
                    policy.feeds.push(feed);
                }
            }
        }
        if let Some(value) = serve_entries {
            let entries = self.expect_entries(value, "policy.serve");
            for (path, entry, table) in entries {
                self.read_serve(entry, table, &path, policy, &feed_names, &tsig_keys);
            }
        }
        self.policy_names.feeds = feed_names;
        match profile_entries {
            Some(value) => self.read_profile_entries(value, "policy.profile", policy),
            None if !policy.feeds.is_empty() => {
                let mut profile = ProfileSpec::new(DEFAULT_PROFILE, &[]);
                profile.feeds = policy
                    .feeds
                    .iter()
                    .map(|feed| FeedUse {
                        ede: feed.ede,
                        ..FeedUse::new(&feed.name)
                    })
                    .collect();
                policy.profiles.push(profile);
                self.policy_names.profiles.defined.push(Defined {
                    name: DEFAULT_PROFILE.to_owned(),
                    path: "the implicit default profile".to_owned(),
                });
            }
            None => {}
        }
        if let Some(value) = client_entries {
            self.read_client_entries(value, "policy.client", policy);
        }
    }

    /// The API's policy file: `[[profile]]` and `[[client]]` entries, checked
    /// like `[[policy.profile]]` and `[[policy.client]]` against the names
    /// of the configuration file, and appended to `policy`.
    fn read_policy_file(&mut self, document: &DeTable<'_>, policy: &mut PolicySection) {
        let mut profile_entries = None;
        let mut client_entries = None;
        for (key, value) in document.iter() {
            match &**key.get_ref() {
                "profile" => profile_entries = Some(value),
                "client" => client_entries = Some(value),
                _ => self.report_unknown_key(key, "", POLICY_FILE_KEYS),
            }
        }
        if let Some(value) = profile_entries {
            self.read_profile_entries(value, "profile", policy);
        }
        if let Some(value) = client_entries {
            self.read_client_entries(value, "client", policy);
        }
    }

    /// An array of profiles (at `path`), appended to `policy.profiles`.
    fn read_profile_entries(&mut self, value: &Value<'_>, path: &str, policy: &mut PolicySection) {
        self.policy_names.profiles_at = Some(value.span().start);
        let mut names = std::mem::replace(&mut self.policy_names.profiles, Names::new());
        let feed_names = std::mem::replace(&mut self.policy_names.feeds, Names::new());
        for (entry_path, entry, table) in self.expect_entries(value, path) {
            let profile = self.read_profile(
                entry,
                table,
                &entry_path,
                (&feed_names, &policy.feeds),
                &mut names,
            );
            policy.profiles.extend(profile);
        }
        self.policy_names.profiles = names;
        self.policy_names.feeds = feed_names;
    }

    /// An array of client mappings (at `path`), appended to `policy.clients`.
    fn read_client_entries(&mut self, value: &Value<'_>, path: &str, policy: &mut PolicySection) {
        let profile_names = std::mem::replace(&mut self.policy_names.profiles, Names::new());
        let mut networks = std::mem::take(&mut self.policy_names.networks);
        // DoH paths and TLS server names come only from the configuration file.
        let mut named = (path == "policy.client").then(NamedSelectors::default);
        for (entry_path, entry, table) in self.expect_entries(value, path) {
            let client = self.read_client(
                entry,
                table,
                &entry_path,
                &profile_names,
                &mut networks,
                named.as_mut(),
            );
            policy.clients.extend(client);
        }
        self.policy_names.profiles = profile_names;
        self.policy_names.networks = networks;
    }

    /// The tables of an array of tables, each with its key path.
    fn expect_entries<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: &str,
    ) -> Vec<(String, &'v Value<'i>, &'v DeTable<'i>)> {
        let DeValue::Array(entries) = value.get_ref() else {
            self.report_type(
                value,
                path,
                &format!("an array of tables ([[{path}]] entries)"),
            );
            return Vec::new();
        };
        let mut tables = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let entry_path = format!("{path}[{index}]");
            if let Some(table) = self.expect_table(entry, &entry_path) {
                tables.push((entry_path, entry, table));
            }
        }
        tables
    }

    /// A feed or profile name: 1 to 63 letters, digits, `-`, `_` or `.`,
    /// not defined before.
    fn read_defined_name(
        &mut self,
        value: &Value<'_>,
        path: &str,
        what: &str,
        names: &mut Names,
    ) -> Option<String> {
        let Some(text) = self.expect_string(value, path) else {
            names.complete = false;
            return None;
        };
        let valid = !text.is_empty()
            && text.len() <= 63
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
        if !valid {
            self.report(
                value.span().start,
                path,
                format!(
                    "{text:?} is not a {what} name; use 1 to 63 letters, digits, \"-\", \"_\" \
                     or \".\""
                ),
            );
            names.complete = false;
            return None;
        }
        if let Some(first) = names.defined.iter().find(|defined| defined.name == text) {
            self.report(
                value.span().start,
                path,
                format!("{what} {text:?} is already defined at {}", first.path),
            );
            return None;
        }
        names.defined.push(Defined {
            name: text.to_owned(),
            path: path.to_owned(),
        });
        Some(text.to_owned())
    }

    /// A string naming something defined in `names`; unknown names are
    /// reported unless an earlier problem made the list incomplete.
    fn read_reference(
        &mut self,
        value: &Value<'_>,
        path: &str,
        what: &str,
        names: &Names,
    ) -> Option<String> {
        let text = self.expect_string(value, path)?;
        if names.contains(text) {
            return Some(text.to_owned());
        }
        if names.complete {
            let known: Vec<String> = names
                .defined
                .iter()
                .map(|defined| format!("{:?}", defined.name))
                .collect();
            let known = if known.is_empty() {
                format!("no {what} is configured")
            } else {
                format!("configured: {}", known.join(", "))
            };
            self.report(
                value.span().start,
                path,
                format!("unknown {what} {text:?} ({known})"),
            );
        }
        None
    }

    /// A reserved key; `instead` says what this version offers.
    fn report_not_supported(
        &mut self,
        key: &Spanned<toml::de::DeString<'_>>,
        path: &str,
        instead: &str,
    ) {
        let name: &str = key.get_ref();
        self.report(
            key.span().start,
            &join_path(path, name),
            format!("not supported yet; {instead}"),
        );
    }

    fn read_feed(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
        names: &mut Names,
        tsig_keys: &TsigKeys,
    ) -> Option<FeedSource> {
        let mut name: Option<Option<String>> = None;
        let mut format: Option<Option<FeedFormat>> = None;
        // The source keys present, in file order, each with its key's offset.
        let mut sources: Vec<(SourceKey, usize)> = Vec::new();
        let mut file: Option<PathBuf> = None;
        let mut url: Option<String> = None;
        let mut zone: Option<Name> = None;
        // Keys that belong to one kind of source: the value read (`None`
        // if already reported) and the key's offset.
        let mut refresh: Option<(Option<Duration>, usize)> = None;
        let mut primaries: Option<(Option<Vec<SocketAddr>>, usize)> = None;
        // Looked up only for a zone transfer, after the loop.
        let mut tsig_key: Option<(&Value<'_>, String, usize)> = None;
        let mut origin: Option<(Option<Name>, usize)> = None;
        let mut ede = EdeCode::Blocked;
        let mut later_source = false;
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            let key_offset = key.span().start;
            match key_name {
                "name" => name = Some(self.read_defined_name(value, &key_path, "feed", names)),
                "format" => {
                    let choices = [
                        ("rpz", FeedFormat::Rpz),
                        ("hosts", FeedFormat::Hosts),
                        ("domains", FeedFormat::Domains),
                        ("adblock", FeedFormat::Adblock),
                    ];
                    format = Some(self.read_choice(value, &key_path, &choices));
                }
                "file" => {
                    sources.push((SourceKey::File, key_offset));
                    file = self.read_feed_file(value, &key_path);
                }
                "url" => {
                    sources.push((SourceKey::Url, key_offset));
                    url = self.read_feed_url(value, &key_path);
                }
                "zone" => {
                    sources.push((SourceKey::Zone, key_offset));
                    zone = self.read_zone_name(value, &key_path);
                }
                "refresh" => {
                    let read = self.read_duration(value, &key_path, MIN_REFRESH, MAX_REFRESH);
                    refresh = Some((read, key_offset));
                }
                "primaries" => {
                    primaries = Some((self.read_primaries(value, &key_path), key_offset));
                }
                "tsig_key" => tsig_key = Some((value, key_path, key_offset)),
                "origin" => {
                    origin = Some((self.read_zone_name(value, &key_path), value.span().start));
                }
                "ede" => {
                    if let Some(code) = self.read_choice(value, &key_path, &EDE_CHOICES) {
                        ede = code;
                    }
                }
                _ if LATER_FEED_KEYS.contains(&key_name) => {
                    later_source = true;
                    self.report_not_supported(
                        key,
                        path,
                        "this version reads feeds from a file, a URL or a zone transfer",
                    );
                }
                _ => self.report_unknown_key(key, path, FEED_KEYS),
            }
        }
        if name.is_none() {
            names.complete = false;
            self.report(entry.span().start, path, "missing key \"name\"");
        }
        if format.is_none() {
            self.report(entry.span().start, path, "missing key \"format\"");
        }
        let format = format.flatten();
        // Every rule between keys is checked, so that one pass reports them
        // all; `valid` remembers whether any failed.
        let mut valid = true;
        let source = match sources.as_slice() {
            [] => {
                if !later_source {
                    self.report(
                        entry.span().start,
                        path,
                        "missing key \"file\", \"url\" or \"zone\" (where the feed comes from)",
                    );
                }
                None
            }
            [(source, _)] => Some(*source),
            [(first, _), rest @ ..] => {
                for (other, offset) in rest {
                    self.report(
                        *offset,
                        &join_path(path, other.key()),
                        format!(
                            "conflicts with \"{}\"; a feed takes exactly one of \"file\", \"url\" \
                             or \"zone\"",
                            first.key()
                        ),
                    );
                }
                valid = false;
                None
            }
        };
        let has_zone = sources.iter().any(|(key, _)| *key == SourceKey::Zone);
        let has_url = sources.iter().any(|(key, _)| *key == SourceKey::Url);
        // `None`: no key; `Some(None)`: a problem, already reported.
        let tsig_key_read = match (has_zone, &tsig_key) {
            (true, Some((value, key_path, _))) => {
                Some(self.read_tsig_key_reference(value, key_path, tsig_keys))
            }
            _ => None,
        };
        if has_zone {
            if primaries.is_none() {
                self.report(
                    entry.span().start,
                    path,
                    "missing key \"primaries\" (the servers the zone is transferred from)",
                );
                valid = false;
            }
            if let Some((_, offset)) = origin {
                self.report(
                    offset,
                    &join_path(path, "origin"),
                    "not allowed with zone = \"...\": the zone's name is its origin",
                );
                valid = false;
            }
            if let Some(format) = format
                && format != FeedFormat::Rpz
                && let Some((_, offset)) = sources.iter().find(|(key, _)| *key == SourceKey::Zone)
            {
                self.report(
                    *offset,
                    &join_path(path, "zone"),
                    format!("only for format = \"rpz\", not \"{format}\""),
                );
                valid = false;
            }
        } else {
            for (key, offset) in [
                ("primaries", primaries.as_ref().map(|(_, offset)| *offset)),
                ("tsig_key", tsig_key.as_ref().map(|(_, _, offset)| *offset)),
            ] {
                if let Some(offset) = offset {
                    self.report(
                        offset,
                        &join_path(path, key),
                        "only with zone = \"...\" (a feed by zone transfer)",
                    );
                    valid = false;
                }
            }
        }
        if !has_url && let Some((_, offset)) = refresh {
            self.report(
                offset,
                &join_path(path, "refresh"),
                "only with url = \"...\" (a feed by HTTP or HTTPS)",
            );
            valid = false;
        }
        if !has_zone
            && let Some(format) = format
            && format != FeedFormat::Rpz
            && let Some((_, offset)) = origin
        {
            self.report(
                offset,
                &join_path(path, "origin"),
                format!("only for format = \"rpz\", not \"{format}\""),
            );
            valid = false;
        }
        let name = name.flatten()?;
        let format = format?;
        if !valid {
            return None;
        }
        let location = match source? {
            SourceKey::File => FeedLocation::File(file?),
            SourceKey::Url => FeedLocation::Url {
                url: url?,
                refresh: match refresh {
                    Some((read, _)) => read?,
                    None => DEFAULT_REFRESH,
                },
            },
            SourceKey::Zone => FeedLocation::Transfer {
                zone: zone?,
                primaries: primaries?.0?,
                tsig_key: match tsig_key_read {
                    Some(read) => Some(read?),
                    None => None,
                },
            },
        };
        let origin = match origin {
            Some((parsed, _)) => Some(parsed?),
            None => None,
        };
        Some(FeedSource {
            name,
            format,
            location,
            origin,
            ede,
        })
    }

    /// One `[[policy.serve]]` entry, appended to `policy.serve` (one
    /// [`ServedFeed`] per feed for `feed = "*"`).
    fn read_serve(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
        policy: &mut PolicySection,
        feed_names: &Names,
        tsig_keys: &TsigKeys,
    ) {
        let mut feed: Option<Option<String>> = None;
        let mut zone: Option<(Option<Name>, usize)> = None;
        let mut suffix: Option<Name> = Name::from_ascii(DEFAULT_SERVE_SUFFIX).ok();
        let mut notify: Vec<SocketAddr> = Vec::new();
        let mut allow_transfer: Option<Vec<IpNetwork>> = None;
        let mut tsig_key: Option<Option<TsigKey>> = None;
        let mut journal = DEFAULT_JOURNAL;
        let mut valid = true;
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            match key_name {
                "feed" => {
                    let Some(text) = self.expect_string(value, &key_path) else {
                        feed = Some(None);
                        continue;
                    };
                    if text != "*" && !feed_names.contains(text) && feed_names.complete {
                        let known: Vec<String> = feed_names
                            .defined
                            .iter()
                            .map(|defined| format!("\"{}\"", defined.name))
                            .collect();
                        self.report(
                            value.span().start,
                            &key_path,
                            format!(
                                "unknown feed \"{text}\" (configured: {}; \"*\" serves every feed)",
                                if known.is_empty() {
                                    "none".to_owned()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                        feed = Some(None);
                    } else {
                        feed = Some(Some(text.to_owned()));
                    }
                }
                "zone" => zone = Some((self.read_zone_name(value, &key_path), value.span().start)),
                "suffix" => suffix = self.read_zone_name(value, &key_path),
                "notify" => match self.read_socket_addresses(value, &key_path) {
                    Some(addresses) => {
                        notify = addresses.into_iter().map(|(address, _)| address).collect();
                    }
                    None => valid = false,
                },
                "allow_transfer" => {
                    allow_transfer = self.read_networks(value, &key_path);
                    valid &= allow_transfer.is_some();
                }
                "tsig_key" => {
                    tsig_key = Some(self.read_tsig_key_reference(value, &key_path, tsig_keys));
                }
                "journal" => match self.read_integer(value, &key_path, 0, MAX_JOURNAL) {
                    Some(read) => journal = read,
                    None => valid = false,
                },
                _ => self.report_unknown_key(key, path, SERVE_KEYS),
            }
        }
        let Some(feed) = feed else {
            self.report(
                entry.span().start,
                path,
                "missing key \"feed\" (a feed name, or \"*\" for every feed)",
            );
            return;
        };
        if feed.as_deref() == Some("*")
            && let Some((_, offset)) = zone
        {
            self.report(
                offset,
                &join_path(path, "zone"),
                "not allowed with feed = \"*\": each feed is served as <feed>.<suffix>",
            );
            return;
        }
        let tsig_key = match tsig_key {
            Some(Some(key)) => Some(key),
            Some(None) => return,
            None => None,
        };
        let (Some(feed), Some(suffix), true) = (feed, suffix, valid) else {
            return;
        };
        let allow_transfer = allow_transfer.unwrap_or_else(|| {
            notify
                .iter()
                .filter_map(|address| {
                    let prefix_length = if address.is_ipv4() { 32 } else { 128 };
                    IpNetwork::new(address.ip(), prefix_length).ok()
                })
                .collect()
        });
        let feeds: Vec<String> = if feed == "*" {
            policy
                .feeds
                .iter()
                .map(|source| source.name.clone())
                .collect()
        } else {
            vec![feed]
        };
        for feed in feeds {
            let zone = match &zone {
                Some((Some(zone), _)) => zone.clone(),
                Some((None, _)) => return,
                None => match Name::from_ascii(&format!("{feed}.{suffix}")) {
                    Ok(zone) => zone,
                    Err(error) => {
                        self.report(
                            entry.span().start,
                            path,
                            format!("the zone name \"{feed}.{suffix}\" is not valid: {error}"),
                        );
                        return;
                    }
                },
            };
            if let Some(other) = policy.serve.iter().find(|served| served.feed == feed) {
                self.report(
                    entry.span().start,
                    path,
                    format!("feed \"{feed}\" is already served as zone {}", other.zone),
                );
                continue;
            }
            if policy.serve.iter().any(|served| served.zone == zone) {
                self.report(
                    entry.span().start,
                    path,
                    format!("zone {zone} is already served"),
                );
                continue;
            }
            policy.serve.push(ServedFeed {
                feed,
                zone,
                notify: notify.clone(),
                allow_transfer: allow_transfer.clone(),
                tsig_key: tsig_key.clone(),
                journal,
            });
        }
    }

    /// A feed URL: checked by [`check_feed_url`], kept as written.
    fn read_feed_url(&mut self, value: &Value<'_>, path: &str) -> Option<String> {
        let text = self.expect_string(value, path)?;
        match check_feed_url(text) {
            Ok(()) => Some(text.to_owned()),
            Err(reason) => {
                self.report(
                    value.span().start,
                    path,
                    format!("{text:?} is not a feed URL: {reason}"),
                );
                None
            }
        }
    }

    /// The primaries of a zone transfer: at least one address, each once;
    /// a bare address gets port 53.
    fn read_primaries(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<SocketAddr>> {
        let addresses = self.read_socket_addresses(value, path)?;
        if addresses.is_empty() {
            self.report(value.span().start, path, "needs at least one address");
            return None;
        }
        let mut valid = true;
        for (index, (address, offset)) in addresses.iter().enumerate() {
            if let Some(first) = addresses[..index]
                .iter()
                .position(|(other, _)| other == address)
            {
                self.report(
                    *offset,
                    &format!("{path}[{index}]"),
                    format!("{address} is already listed at {path}[{first}]"),
                );
                valid = false;
            }
        }
        valid.then(|| addresses.into_iter().map(|(address, _)| address).collect())
    }

    /// A feed's `tsig_key`: the name of a `[[policy.tsig_key]]`. `None` if
    /// the name is invalid or unknown (reported) or names a key that has a
    /// problem of its own (reported there).
    fn read_tsig_key_reference(
        &mut self,
        value: &Value<'_>,
        path: &str,
        keys: &TsigKeys,
    ) -> Option<TsigKey> {
        let name = self.read_zone_name(value, path)?;
        if let Some(defined) = keys.defined.iter().find(|defined| defined.name == name) {
            return defined.key.clone();
        }
        if keys.complete {
            let known: Vec<String> = keys
                .defined
                .iter()
                .map(|defined| format!("\"{}\"", defined.name))
                .collect();
            let known = if known.is_empty() {
                "no [[policy.tsig_key]] is configured".to_owned()
            } else {
                format!("configured: {}", known.join(", "))
            };
            self.report(
                value.span().start,
                path,
                format!("unknown TSIG key \"{name}\" ({known})"),
            );
        }
        None
    }

    /// One `[[policy.tsig_key]]` entry, added to `keys` if its name is valid
    /// and new (with `key: None` if anything else about it is wrong).
    fn read_tsig_key(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
        keys: &mut TsigKeys,
    ) {
        let mut name: Option<(Option<Name>, String)> = None;
        let mut algorithm: Option<Option<TsigAlgorithm>> = None;
        // The secret in base64 (`None` if already reported), the offset of
        // its value, and the key it came from.
        let mut secret: Option<(Option<String>, usize, &'static str)> = None;
        let mut valid = true;
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            match key_name {
                "name" => {
                    let parsed = self.read_zone_name(value, &key_path);
                    if let Some(parsed) = &parsed
                        && let Some(first) =
                            keys.defined.iter().find(|defined| defined.name == *parsed)
                    {
                        self.report(
                            value.span().start,
                            &key_path,
                            format!("TSIG key \"{parsed}\" is already defined at {}", first.path),
                        );
                        // The first definition stands; this entry is dropped.
                        return;
                    }
                    name = Some((parsed, key_path));
                }
                "algorithm" => {
                    algorithm = Some(self.read_choice(value, &key_path, &TSIG_ALGORITHMS));
                }
                "secret" | "secret_file" => {
                    let which = if key_name == "secret" {
                        "secret"
                    } else {
                        "secret_file"
                    };
                    if let Some((_, _, first)) = &secret {
                        self.report(
                            key.span().start,
                            &key_path,
                            format!(
                                "conflicts with \"{first}\"; a TSIG key takes exactly one of \
                                 \"secret\" or \"secret_file\""
                            ),
                        );
                        valid = false;
                        continue;
                    }
                    let text = if which == "secret" {
                        self.expect_string(value, &key_path).map(str::to_owned)
                    } else {
                        self.read_secret_file(value, &key_path, "the base64 secret")
                    };
                    secret = Some((text, value.span().start, which));
                }
                _ => self.report_unknown_key(key, path, TSIG_KEY_KEYS),
            }
        }
        if name.is_none() {
            self.report(entry.span().start, path, "missing key \"name\"");
        }
        if secret.is_none() {
            self.report(
                entry.span().start,
                path,
                "missing key \"secret\" or \"secret_file\"",
            );
        }
        let key_name = name.as_ref().and_then(|(parsed, _)| parsed.clone());
        let algorithm = algorithm.unwrap_or(Some(TsigAlgorithm::HmacSha256));
        // The secret is checked even when the name or algorithm is not valid.
        let key = match secret {
            Some((Some(text), offset, which)) => {
                let checked = TsigKey::from_base64(
                    key_name.clone().unwrap_or_else(Name::root),
                    algorithm.unwrap_or(TsigAlgorithm::HmacSha256),
                    &text,
                );
                match checked {
                    Ok(key) => Some(key),
                    Err(error) => {
                        let message = if which == "secret" {
                            error.to_string()
                        } else {
                            format!("{error} (in the file)")
                        };
                        self.report(offset, &join_path(path, which), message);
                        None
                    }
                }
            }
            _ => None,
        };
        match (key_name, name) {
            (Some(key_name), Some((_, name_path))) => keys.defined.push(DefinedKey {
                name: key_name,
                path: name_path,
                key: key.filter(|_| valid && algorithm.is_some()),
            }),
            _ => keys.complete = false,
        }
    }

    /// A `secret_file` or `token_file`: relative to the configuration file's
    /// directory; it holds `holds` (a TSIG secret, an API token), with white
    /// space around it ignored.
    fn read_secret_file(&mut self, value: &Value<'_>, path: &str, holds: &str) -> Option<String> {
        let text = self.expect_string(value, path)?;
        if text.is_empty() {
            self.report(value.span().start, path, "is empty");
            return None;
        }
        let file = self.base_directory.join(text);
        let mut contents = Vec::new();
        let read = std::fs::File::open(&file).and_then(|opened| {
            if !opened.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            opened
                .take(MAX_SECRET_FILE_SIZE + 1)
                .read_to_end(&mut contents)
        });
        let problem = match read {
            Err(error) => format!("cannot use {}: {error}", file.display()),
            Ok(_) if contents.len() as u64 > MAX_SECRET_FILE_SIZE => format!(
                "{} is larger than {}; it should hold only {holds}",
                file.display(),
                describe_size(MAX_SECRET_FILE_SIZE)
            ),
            Ok(_) => match String::from_utf8(contents) {
                Ok(secret) => return Some(secret.trim().to_owned()),
                Err(_) => format!("{} is not text; it should hold {holds}", file.display()),
            },
        };
        self.report(value.span().start, path, problem);
        None
    }

    /// `policy.state_directory`: relative to the configuration file's
    /// directory. It need not exist, but if it does it is a directory.
    fn read_state_directory(&mut self, value: &Value<'_>, path: &str) -> Option<PathBuf> {
        let text = self.expect_string(value, path)?;
        if text.is_empty() {
            self.report(
                value.span().start,
                path,
                format!("is empty; remove the key for the default {DEFAULT_STATE_DIRECTORY:?}"),
            );
            return None;
        }
        let directory = self.base_directory.join(text);
        if let Ok(metadata) = std::fs::metadata(&directory)
            && !metadata.is_dir()
        {
            self.report(
                value.span().start,
                path,
                format!("{} exists and is not a directory", directory.display()),
            );
            return None;
        }
        Some(directory)
    }

    /// A file Hanse writes (it need not exist): relative to the
    /// configuration file's directory, not empty (`empty_hint` says what to
    /// do instead) and not a directory (`directory_hint` follows the
    /// message).
    fn read_file_to_write(
        &mut self,
        value: &Value<'_>,
        path: &str,
        empty_hint: &str,
        directory_hint: &str,
    ) -> Option<PathBuf> {
        let text = self.expect_string(value, path)?;
        let file = self.base_directory.join(text);
        if text.is_empty() {
            self.report(value.span().start, path, format!("is empty; {empty_hint}"));
            None
        } else if file.is_dir() {
            self.report(
                value.span().start,
                path,
                format!("{} is a directory{directory_hint}", file.display()),
            );
            None
        } else {
            Some(file)
        }
    }

    /// A feed file: it must exist when the configuration is read; relative
    /// to the configuration file's directory.
    fn read_feed_file(&mut self, value: &Value<'_>, path: &str) -> Option<PathBuf> {
        self.read_existing_file(value, path, "is empty")
    }

    fn read_profile(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
        (feed_names, feeds): (&Names, &[FeedSource]),
        names: &mut Names,
    ) -> Option<ProfileSpec> {
        let mut name: Option<Option<String>> = None;
        let mut profile = ProfileSpec::new("", &[]);
        profile.time_zone = "UTC".to_owned();
        // The feeds in order; `None` if the list had a problem.
        let mut feed_list: Option<Vec<String>> = Some(Vec::new());
        let mut schedules: Vec<FeedSchedule> = Vec::new();
        let mut overrides: Vec<FeedOverride> = Vec::new();
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            match key_name {
                "name" => {
                    name = Some(self.read_defined_name(value, &key_path, "profile", names));
                }
                "feeds" => feed_list = self.read_feed_list(value, &key_path, feed_names),
                "block_answer" => {
                    if let Some(answer) = self.read_block_answer(value, &key_path) {
                        profile.block_answer = answer;
                    }
                }
                "allowlist" => {
                    if let Some(elements) = self.expect_array(value, &key_path) {
                        for (index, element) in elements.iter().enumerate() {
                            let element_path = format!("{key_path}[{index}]");
                            if let Some(name) = self.read_zone_name(element, &element_path) {
                                profile.allowlist.push(name);
                            }
                        }
                    }
                }
                "safe_search" => {
                    if let Some(settings) = self.read_safe_search(value, &key_path) {
                        profile.safe_search = settings;
                    }
                }
                "time_zone" => {
                    if let Some(zone) = self.read_time_zone(value, &key_path) {
                        profile.time_zone = zone;
                    }
                }
                "schedule" => {
                    for (entry_path, entry, table) in self.expect_entries(value, &key_path) {
                        schedules.extend(self.read_schedule(entry, table, &entry_path));
                    }
                }
                "override" => {
                    for (entry_path, entry, table) in self.expect_entries(value, &key_path) {
                        if let Some(read) = self.read_override(entry, table, &entry_path) {
                            if overrides.iter().any(|other| other.feed == read.feed) {
                                self.report(
                                    read.offset,
                                    &join_path(&entry_path, "feed"),
                                    format!(
                                        "feed {:?} already has an override in this profile",
                                        read.feed
                                    ),
                                );
                            } else {
                                overrides.push(read);
                            }
                        }
                    }
                }
                _ => self.report_unknown_key(key, path, PROFILE_KEYS),
            }
        }
        if name.is_none() {
            names.complete = false;
            self.report(entry.span().start, path, "missing key \"name\"");
        }
        let feed_list = feed_list?;
        let mentioned = schedules
            .iter()
            .map(|schedule| (&schedule.feed, schedule.offset, "schedule"))
            .chain(
                overrides
                    .iter()
                    .map(|entry| (&entry.feed, entry.offset, "override")),
            );
        let mut strays = Vec::new();
        for (feed, offset, table_name) in mentioned {
            if !feed_list.contains(feed) {
                strays.push((
                    offset,
                    format!("{path}.{table_name}"),
                    format!(
                        "feed {feed:?} is not in this profile's feeds ({})",
                        feed_list.join(", ")
                    ),
                ));
            }
        }
        for (offset, stray_path, message) in strays {
            self.report(offset, &stray_path, message);
        }
        profile.feeds = feed_list
            .iter()
            .map(|feed| {
                let feed_ede = feeds
                    .iter()
                    .find(|source| &source.name == feed)
                    .map_or(EdeCode::Blocked, |source| source.ede);
                let feed_override = overrides.iter().find(|entry| &entry.feed == feed);
                FeedUse {
                    feed: feed.clone(),
                    enabled: feed_override
                        .and_then(|entry| entry.enabled)
                        .unwrap_or(true),
                    log: feed_override.and_then(|entry| entry.log).unwrap_or(true),
                    policy_override: feed_override.and_then(|entry| entry.action.clone()),
                    schedule: schedules
                        .iter()
                        .filter(|schedule| &schedule.feed == feed)
                        .filter_map(|schedule| schedule.window)
                        .collect(),
                    ede: feed_override
                        .and_then(|entry| entry.ede)
                        .unwrap_or(feed_ede),
                }
            })
            .collect();
        profile.name = name.flatten()?;
        Some(profile)
    }

    /// A profile's `feeds`: configured feeds, each once.
    fn read_feed_list(
        &mut self,
        value: &Value<'_>,
        path: &str,
        feed_names: &Names,
    ) -> Option<Vec<String>> {
        let elements = self.expect_array(value, path)?;
        let mut list: Vec<String> = Vec::with_capacity(elements.len());
        let mut valid = true;
        for (index, element) in elements.iter().enumerate() {
            let element_path = format!("{path}[{index}]");
            let Some(feed) = self.read_reference(element, &element_path, "feed", feed_names) else {
                valid = false;
                continue;
            };
            if let Some(first) = list.iter().position(|other| *other == feed) {
                self.report(
                    element.span().start,
                    &element_path,
                    format!("feed {feed:?} is already listed at {path}[{first}]"),
                );
                valid = false;
                continue;
            }
            list.push(feed);
        }
        valid.then_some(list)
    }

    fn read_block_answer(&mut self, value: &Value<'_>, path: &str) -> Option<BlockAnswer> {
        match value.get_ref() {
            DeValue::String(_) => {
                let choices = [("nxdomain", 0), ("null", 1), ("refused", 2)];
                match self.read_choice(value, path, &choices)? {
                    0 => Some(BlockAnswer::Nxdomain),
                    1 => Some(BlockAnswer::NullAddress),
                    _ => Some(BlockAnswer::Refused),
                }
            }
            DeValue::Array(elements) => {
                if elements.is_empty() {
                    self.report(value.span().start, path, "needs at least one address");
                    return None;
                }
                let mut addresses = Vec::with_capacity(elements.len());
                for (index, element) in elements.iter().enumerate() {
                    let element_path = format!("{path}[{index}]");
                    let text = self.expect_string(element, &element_path)?;
                    match IpAddr::from_str(text) {
                        Ok(address) => addresses.push(address),
                        Err(_) => {
                            self.report(
                                element.span().start,
                                &element_path,
                                format!("{text:?} is not an IPv4 or IPv6 address"),
                            );
                            return None;
                        }
                    }
                }
                Some(BlockAnswer::Addresses(addresses))
            }
            _ => {
                self.report_type(
                    value,
                    path,
                    "\"nxdomain\", \"null\", \"refused\" or a list of block page addresses",
                );
                None
            }
        }
    }

    fn read_safe_search(&mut self, value: &Value<'_>, path: &str) -> Option<SafeSearch> {
        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Engine {
            Google,
            Bing,
            DuckDuckGo,
            Youtube(YoutubeRestriction),
        }
        let elements = self.expect_array(value, path)?;
        let choices = [
            ("google", Engine::Google),
            ("bing", Engine::Bing),
            ("duckduckgo", Engine::DuckDuckGo),
            ("youtube", Engine::Youtube(YoutubeRestriction::Strict)),
            (
                "youtube-moderate",
                Engine::Youtube(YoutubeRestriction::Moderate),
            ),
        ];
        let mut settings = SafeSearch::default();
        let mut valid = true;
        for (index, element) in elements.iter().enumerate() {
            let element_path = format!("{path}[{index}]");
            match self.read_choice(element, &element_path, &choices) {
                Some(Engine::Google) => settings.google = true,
                Some(Engine::Bing) => settings.bing = true,
                Some(Engine::DuckDuckGo) => settings.duckduckgo = true,
                Some(Engine::Youtube(level)) => {
                    if settings.youtube.is_some_and(|other| other != level) {
                        self.report(
                            element.span().start,
                            &element_path,
                            "choose either \"youtube\" (strict) or \"youtube-moderate\", not both",
                        );
                        valid = false;
                    }
                    settings.youtube = Some(level);
                }
                None => valid = false,
            }
        }
        valid.then_some(settings)
    }

    /// An IANA time zone name that the policy engine's database knows.
    fn read_time_zone(&mut self, value: &Value<'_>, path: &str) -> Option<String> {
        let text = self.expect_string(value, path)?;
        let probe = ProfileSpec {
            time_zone: text.to_owned(),
            ..ProfileSpec::new("time zone check", &[])
        };
        let known = !text.is_empty()
            && !matches!(
                PolicySet::build(vec![probe], Vec::new(), Vec::new()),
                Err(BuildError::UnknownTimeZone { .. })
            );
        if !known {
            self.report(
                value.span().start,
                path,
                format!(
                    "{text:?} is not a time zone of the IANA database, such as \
                     \"Europe/Berlin\" or \"UTC\""
                ),
            );
            return None;
        }
        Some(text.to_owned())
    }

    fn read_schedule(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
    ) -> Option<FeedSchedule> {
        let mut feed: Option<(Option<String>, usize)> = None;
        let mut days: Option<Weekdays> = Some(Weekdays::ALL);
        let mut from: Option<Option<String>> = None;
        let mut to: Option<Option<String>> = None;
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            match key_name {
                "feed" => {
                    let text = self.expect_string(value, &key_path).map(str::to_owned);
                    feed = Some((text, value.span().start));
                }
                "days" => days = self.read_weekdays(value, &key_path),
                "from" => from = Some(self.read_clock_time(value, &key_path)),
                "to" => to = Some(self.read_clock_time(value, &key_path)),
                _ => self.report_unknown_key(key, path, SCHEDULE_KEYS),
            }
        }
        for (present, key) in [
            (feed.is_some(), "feed"),
            (from.is_some(), "from"),
            (to.is_some(), "to"),
        ] {
            if !present {
                self.report(entry.span().start, path, format!("missing key \"{key}\""));
            }
        }
        let (feed, offset) = feed?;
        let window = match (days, from.flatten(), to.flatten()) {
            (Some(days), Some(from), Some(to)) => {
                TimeWindow::parse(days, &format!("{from}-{to}")).ok()
            }
            _ => None,
        };
        Some(FeedSchedule {
            feed: feed?,
            offset,
            window,
        })
    }

    /// `["mon", "tue"]` or ranges such as `["mon-fri"]`.
    fn read_weekdays(&mut self, value: &Value<'_>, path: &str) -> Option<Weekdays> {
        let elements = self.expect_array(value, path)?;
        if elements.is_empty() {
            self.report(value.span().start, path, "needs at least one day");
            return None;
        }
        let mut parts = Vec::with_capacity(elements.len());
        let mut valid = true;
        for (index, element) in elements.iter().enumerate() {
            let element_path = format!("{path}[{index}]");
            let Some(text) = self.expect_string(element, &element_path) else {
                valid = false;
                continue;
            };
            if text.contains(',') || text.trim().is_empty() || Weekdays::parse(text).is_err() {
                self.report(
                    element.span().start,
                    &element_path,
                    format!(
                        "{text:?} is not a day: use \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \
                         \"sat\", \"sun\" or a range such as \"mon-fri\""
                    ),
                );
                valid = false;
                continue;
            }
            parts.push(text);
        }
        if !valid {
            return None;
        }
        Weekdays::parse(&parts.join(",")).ok()
    }

    /// A local time of day, `"HH:MM"` on a 24-hour clock.
    fn read_clock_time(&mut self, value: &Value<'_>, path: &str) -> Option<String> {
        let text = self.expect_string(value, path)?;
        let bytes = text.as_bytes();
        let valid = bytes.len() == 5
            && bytes[2] == b':'
            && [0, 1, 3, 4]
                .iter()
                .all(|&index| bytes[index].is_ascii_digit())
            && (bytes[0] - b'0') * 10 + (bytes[1] - b'0') < 24
            && bytes[3] < b'6';
        if !valid {
            self.report(
                value.span().start,
                path,
                format!("{text:?} is not a time of day such as \"07:00\" or \"21:30\""),
            );
            return None;
        }
        Some(text.to_owned())
    }

    fn read_override(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
    ) -> Option<FeedOverride> {
        let mut feed: Option<(Option<String>, usize)> = None;
        let mut read = FeedOverride {
            feed: String::new(),
            offset: 0,
            action: None,
            enabled: None,
            log: None,
            ede: None,
        };
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            match key_name {
                "feed" => {
                    let text = self.expect_string(value, &key_path).map(str::to_owned);
                    feed = Some((text, value.span().start));
                }
                "action" => read.action = self.read_override_action(value, &key_path),
                "enabled" => read.enabled = self.read_boolean(value, &key_path),
                "log" => read.log = self.read_boolean(value, &key_path),
                "ede" => read.ede = self.read_choice(value, &key_path, &EDE_CHOICES),
                _ => self.report_unknown_key(key, path, OVERRIDE_KEYS),
            }
        }
        let Some((feed, offset)) = feed else {
            self.report(entry.span().start, path, "missing key \"feed\"");
            return None;
        };
        read.feed = feed?;
        read.offset = offset;
        Some(read)
    }

    fn read_override_action(&mut self, value: &Value<'_>, path: &str) -> Option<PolicyOverride> {
        let text = self.expect_string(value, path)?;
        let action = match text {
            "nxdomain" => Ok(PolicyOverride::Nxdomain),
            "nodata" => Ok(PolicyOverride::Nodata),
            "passthru" => Ok(PolicyOverride::Passthru),
            "drop" => Ok(PolicyOverride::Drop),
            "tcp-only" => Ok(PolicyOverride::TcpOnly),
            "block-answer" => Ok(PolicyOverride::BlockAnswer),
            _ => match text.strip_prefix("cname:") {
                Some(target) if !target.is_empty() => Name::from_ascii(target)
                    .map(PolicyOverride::Cname)
                    .map_err(|error| format!("{target:?} is not a domain name: {error}")),
                _ => Err(format!(
                    "{text:?} is not one of \"nxdomain\", \"nodata\", \"passthru\", \"drop\", \
                     \"tcp-only\", \"block-answer\", \"cname:NAME\""
                )),
            },
        };
        match action {
            Ok(action) => Some(action),
            Err(message) => {
                self.report(value.span().start, path, message);
                None
            }
        }
    }

    fn read_client(
        &mut self,
        entry: &Value<'_>,
        table: &DeTable<'_>,
        path: &str,
        profile_names: &Names,
        networks: &mut Vec<(Prefix, String)>,
        mut named: Option<&mut NamedSelectors>,
    ) -> Option<ClientRule> {
        let mut profile: Option<Option<String>> = None;
        // The selectors given, each `None` if its value was refused.
        let mut selectors: Vec<Option<ClientSelector>> = Vec::new();
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let key_path = join_path(path, key_name);
            match key_name {
                "cidr" => {
                    let read = self.read_client_network(value, &key_path);
                    if let Some(network) = read {
                        if let Some((_, first)) =
                            networks.iter().find(|(other, _)| *other == network)
                        {
                            let message = format!("{network} is already mapped at {first}");
                            self.report(value.span().start, &key_path, message);
                        } else {
                            networks.push((network, key_path.clone()));
                        }
                    }
                    selectors.push(read.map(ClientSelector::Network));
                }
                "profile" => {
                    profile = Some(self.read_reference(value, &key_path, "profile", profile_names));
                }
                "doh_path" | "server_name" => match named.as_deref_mut() {
                    Some(named) => {
                        let read = if key_name == "doh_path" {
                            self.read_doh_path(value, &key_path, named)
                        } else {
                            self.read_server_name(value, &key_path, named)
                        };
                        selectors.push(read);
                    }
                    None => {
                        selectors.push(None);
                        self.report_not_supported(
                            key,
                            path,
                            "map DoH paths and TLS server names in the configuration file's \
                             [[policy.client]] entries",
                        );
                    }
                },
                _ => self.report_unknown_key(key, path, CLIENT_KEYS),
            }
        }
        match selectors.len() {
            0 => {
                let expected = if named.is_some() {
                    "missing key \"cidr\", \"doh_path\" or \"server_name\""
                } else {
                    "missing key \"cidr\""
                };
                self.report(entry.span().start, path, expected);
            }
            1 => {}
            _ => self.report(
                entry.span().start,
                path,
                "give only one of \"cidr\", \"doh_path\" and \"server_name\"; \
                 use one entry per selector",
            ),
        }
        if profile.is_none() {
            self.report(entry.span().start, path, "missing key \"profile\"");
        }
        let [selector] = <[Option<ClientSelector>; 1]>::try_from(selectors).ok()?;
        Some(ClientRule {
            selector: selector?,
            profile: profile.flatten()?,
        })
    }

    /// A client's DoH path: `/dns-query/TOKEN`, the token 1 to 128 unreserved
    /// URI characters (RFC 3986 §2.3), not mapped before.
    fn read_doh_path(
        &mut self,
        value: &Value<'_>,
        path: &str,
        named: &mut NamedSelectors,
    ) -> Option<ClientSelector> {
        let text = self.expect_string(value, path)?;
        let token = text.strip_prefix(DOH_ENDPOINT).unwrap_or_default();
        let valid = !token.is_empty()
            && token.len() <= MAX_DOH_TOKEN
            && token
                .bytes()
                .all(|octet| octet.is_ascii_alphanumeric() || b"-._~".contains(&octet));
        if !valid {
            self.report(
                value.span().start,
                path,
                format!(
                    "{text:?} is not a DoH path such as \"/dns-query/kid1\": \
                     \"/dns-query/\" and a token of 1 to {MAX_DOH_TOKEN} letters, digits, \
                     \"-\", \".\", \"_\" or \"~\""
                ),
            );
            return None;
        }
        if let Some((_, first)) = named.doh_paths.iter().find(|(other, _)| other == text) {
            let message = format!("{text:?} is already mapped at {first}");
            self.report(value.span().start, path, message);
            return None;
        }
        named.doh_paths.push((text.to_owned(), path.to_owned()));
        Some(ClientSelector::DohPath(text.to_owned()))
    }

    /// A client's TLS server name: a domain name (RFC 1035 §2.3.1), kept
    /// in lower case without the final dot, not mapped before.
    fn read_server_name(
        &mut self,
        value: &Value<'_>,
        path: &str,
        named: &mut NamedSelectors,
    ) -> Option<ClientSelector> {
        let text = self.expect_string(value, path)?;
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && Name::from_ascii(&name).is_ok()
            && name
                .bytes()
                .all(|octet| octet.is_ascii_alphanumeric() || octet == b'-' || octet == b'.');
        if !valid {
            self.report(
                value.span().start,
                path,
                format!("{text:?} is not a server name such as \"kid1.dns.example.net\""),
            );
            return None;
        }
        if let Some((_, first)) = named.server_names.iter().find(|(other, _)| *other == name) {
            let message = format!("{name:?} is already mapped at {first}");
            self.report(value.span().start, path, message);
            return None;
        }
        named.server_names.push((name.clone(), path.to_owned()));
        Some(ClientSelector::ServerName(name))
    }

    fn read_client_network(&mut self, value: &Value<'_>, path: &str) -> Option<Prefix> {
        let text = self.expect_string(value, path)?;
        let result = IpNetwork::from_str(text)
            .map_err(|error| error.to_string())
            .and_then(|network| {
                Prefix::new(network.address, network.prefix_length)
                    .map_err(|error| error.to_string())
            });
        match result {
            Ok(prefix) => Some(prefix),
            Err(reason) => {
                self.report(
                    value.span().start,
                    path,
                    format!("{text:?} is not a network such as \"10.1.0.0/16\": {reason}"),
                );
                None
            }
        }
    }
}

/// `parent.key`, quoting `key` when it is not a bare TOML key.
fn join_path(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Levenshtein distance in Unicode scalar values, for key suggestions.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    let mut current = vec![0; right.len() + 1];
    for (row, left_character) in left.chars().enumerate() {
        current[0] = row + 1;
        for (column, right_character) in right.iter().enumerate() {
            let substitution = previous[column] + usize::from(left_character != *right_character);
            current[column + 1] = substitution
                .min(previous[column + 1] + 1)
                .min(current[column] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[right.len()]
}

/// Checks a feed URL: `http://` or `https://` (the scheme in any case), a
/// host (a name of letters, digits, `-` and `.`, an IPv4 address, or an
/// IPv6 address in brackets), an optional port from 1 to 65535, then an
/// optional path, query and fragment (RFC 3986 §3). Every character is
/// visible ASCII. The error is the rest of a sentence.
fn check_feed_url(text: &str) -> Result<(), String> {
    if text.len() > MAX_URL_LENGTH {
        return Err(format!("it is longer than {MAX_URL_LENGTH} characters"));
    }
    if let Some(character) = text.chars().find(|character| !character.is_ascii_graphic()) {
        return Err(if character.is_whitespace() {
            "it contains white space; percent-encode it as %20".to_owned()
        } else if character.is_control() {
            "it contains a control character".to_owned()
        } else {
            "it contains a character that is not ASCII; write the host in its xn-- form and \
             percent-encode the rest"
                .to_owned()
        });
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("it does not start with http:// or https://".to_owned());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("the scheme {scheme:?} is not http or https"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err("user names and passwords in the URL (user@host) are not supported".to_owned());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return Err("the IPv6 address has no closing \"]\"".to_owned());
        };
        if Ipv6Addr::from_str(address).is_err() {
            return Err(format!("{address:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(format!("{after:?} follows the IPv6 address")),
            },
        };
        (address, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("it has no host".to_owned());
        }
        let labels = host.strip_suffix('.').unwrap_or(host);
        let valid_host = host.len() <= 254
            && labels.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            });
        if !valid_host {
            return Err(format!(
                "{host:?} is not a host name; use letters, digits, \"-\" and \".\", an IPv4 \
                 address, or an IPv6 address in brackets"
            ));
        }
        (host, port)
    };
    if let Some(port) = port {
        let valid_port = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|byte| byte.is_ascii_digit())
            && u16::from_str(port).is_ok_and(|number| number != 0);
        if !valid_port {
            return Err(format!(
                "the port {port:?} of {host:?} is not a number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

/// `ADDRESS:PORT` with IPv6 in brackets, or a bare address (port 53).
/// The error is the rest of a sentence that starts with the quoted text.
fn parse_socket_address(text: &str) -> Result<SocketAddr, String> {
    parse_socket_address_on(text, DNS_PORT)
}

/// Whether two key paths are both entries of `server.listen`, whose
/// duplicates its own check reports.
fn same_list(first: &str, second: &str) -> bool {
    first.starts_with("server.listen[") && second.starts_with("server.listen[")
}

/// Whether `text` can be a TLS server name: an IP address or a host name
/// (letters, digits, hyphens, dots; no empty label).
fn is_tls_name(text: &str) -> bool {
    if IpAddr::from_str(text).is_ok() {
        return true;
    }
    let text = text.strip_suffix('.').unwrap_or(text);
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        })
}

/// The upstream servers seen in `[resolver]`, to keep each address either
/// cleartext or encrypted with one set of settings.
#[derive(Default)]
struct UpstreamList {
    /// Cleartext servers and where each was first given.
    plain: Vec<(SocketAddr, String)>,
    /// Encrypted servers and where each was first given.
    encrypted: Vec<(EncryptedServer, String)>,
}

impl UpstreamList {
    /// Adds a server given at `path`; a conflict with an earlier entry is returned.
    fn add(
        &mut self,
        address: SocketAddr,
        encrypted: Option<EncryptedServer>,
        path: &str,
    ) -> Option<String> {
        let earlier_encrypted = self
            .encrypted
            .iter()
            .find(|(server, _)| server.address == address);
        let earlier_plain = self.plain.iter().find(|(plain, _)| *plain == address);
        match (encrypted, earlier_encrypted, earlier_plain) {
            (None, Some((_, first)), _) => Some(format!(
                "{address} is an encrypted server at {first}; give the same table here"
            )),
            (None, None, Some(_)) => None,
            (None, None, None) => {
                self.plain.push((address, path.to_owned()));
                None
            }
            (Some(_), _, Some((_, first))) => Some(format!(
                "{address} is a cleartext server at {first}; an address is either \
                 cleartext or encrypted"
            )),
            (Some(server), Some((earlier, first)), None) => (server != *earlier)
                .then(|| format!("{address} is configured with other TLS settings at {first}")),
            (Some(server), None, None) => {
                self.encrypted.push((server, path.to_owned()));
                None
            }
        }
    }
}

/// An address with a port, or without one (then `default_port`).
fn parse_socket_address_on(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    let address = if let Ok(address) = SocketAddr::from_str(text) {
        address
    } else if let Ok(address) = IpAddr::from_str(text) {
        SocketAddr::new(address, default_port)
    } else if let Some(Ok(address)) = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .map(Ipv6Addr::from_str)
    {
        SocketAddr::new(IpAddr::V6(address), default_port)
    } else {
        let mut reason = "is not an address:port".to_owned();
        if text.matches(':').count() > 1 && !text.starts_with('[') {
            reason.push_str(
                "; write an IPv6 address with a port in brackets, as in \"[2001:db8::1]:53\"",
            );
        }
        return Err(reason);
    };
    if address.port() == 0 {
        return Err("has port 0".to_owned());
    }
    Ok(address)
}

/// Splits `text` into its leading decimal digits and the rest; the number
/// must not overflow.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits_end = text
        .bytes()
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return None;
    }
    let (digits, unit) = text.split_at(digits_end);
    Some((u64::from_str(digits).ok()?, unit))
}

/// `"500ms"`, `"10s"`, `"2m"`, `"1h"`, `"1d"`, or bare digits (seconds).
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = split_number(text)?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => Some(Duration::from_secs(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs),
        "h" => number.checked_mul(3600).map(Duration::from_secs),
        "d" => number.checked_mul(86_400).map(Duration::from_secs),
        _ => None,
    }
}

/// `"1000000"`, `"512KiB"`, `"256M"`, ... with binary units.
fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = split_number(text)?;
    let multiplier = match unit {
        "" | "B" => 1,
        "K" | "KiB" => KIBIBYTE,
        "M" | "MiB" => MEBIBYTE,
        "G" | "GiB" => GIBIBYTE,
        "T" | "TiB" => TEBIBYTE,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// The shortest exact form in the largest whole unit: `1500ms`, `10s`,
/// `2m`, `1d`.
fn describe_duration(duration: Duration) -> String {
    let milliseconds = duration.as_millis();
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{duration:?}");
    }
    if milliseconds == 0 {
        "0s".to_owned()
    } else if milliseconds.is_multiple_of(86_400_000) {
        format!("{}d", milliseconds / 86_400_000)
    } else if milliseconds.is_multiple_of(3_600_000) {
        format!("{}h", milliseconds / 3_600_000)
    } else if milliseconds.is_multiple_of(60_000) {
        format!("{}m", milliseconds / 60_000)
    } else if milliseconds.is_multiple_of(1000) {
        format!("{}s", milliseconds / 1000)
    } else {
        format!("{milliseconds}ms")
    }
}

/// The largest whole binary unit: `1MiB`, `1536KiB`, `100B`.
fn describe_size(bytes: u64) -> String {
    for (unit, multiplier) in [
        ("TiB", TEBIBYTE),
        ("GiB", GIBIBYTE),
        ("MiB", MEBIBYTE),
        ("KiB", KIBIBYTE),
    ] {
        if bytes >= multiplier && bytes.is_multiple_of(multiplier) {
            return format!("{}{unit}", bytes / multiplier);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<ConfigProblem> {
        match parse("test.toml", text) {
            Ok(config) => panic!("expected problems, got {config:?}"),
            Err(problems) => problems,
        }
    }

    /// The problems as `LINE:COLUMN: MESSAGE` strings.
    fn positions(text: &str) -> Vec<String> {
        problems(text)
            .iter()
            .map(|problem| format!("{}:{}: {}", problem.line, problem.column, problem.message))
            .collect()
    }

    /// Asserts exactly one problem, at `line`:`column`, containing `fragment`.
    fn assert_one_problem(text: &str, line: usize, column: usize, fragment: &str) {
        let found = problems(text);
        assert_eq!(found.len(), 1, "{text:?} gave {found:#?}");
        let problem = &found[0];
        assert_eq!((problem.line, problem.column), (line, column), "{problem}");
        assert!(
            problem.message.contains(fragment),
            "{:?} does not contain {fragment:?}",
            problem.message
        );
    }

    #[test]
    fn serve_stale_and_prefetch_keys() {
        let defaults = parse_ok("").cache;
        assert!(defaults.serve_stale && defaults.prefetch);
        assert_eq!(defaults.stale_answer_ttl, 30);
        assert_eq!(defaults.max_stale, Duration::from_secs(86_400));
        assert_eq!(
            defaults.client_response_timeout,
            Duration::from_millis(1800)
        );
        assert_eq!(defaults.prefetch_threshold, 10);
        let cache = parse_ok(
            "[cache]\nserve_stale = false\nstale_answer_ttl = 10\nmax_stale = \"2h\"\n\
             client_response_timeout = \"500ms\"\nprefetch = false\nprefetch_threshold = 20\n",
        )
        .cache;
        assert!(!cache.serve_stale && !cache.prefetch);
        assert_eq!(cache.stale_answer_ttl, 10);
        assert_eq!(cache.max_stale, Duration::from_secs(7200));
        assert_eq!(cache.client_response_timeout, Duration::from_millis(500));
        assert_eq!(cache.prefetch_threshold, 20);
        assert_one_problem("[cache]\nprefetch_threshold = 100\n", 2, 22, "out of range");
        assert_one_problem("[cache]\nmax_stale = \"8d\"\n", 2, 13, "out of range");
        assert_one_problem("[cache]\nserve_stale = 1\n", 2, 15, "boolean");
    }

    #[test]
    fn encrypted_upstreams_are_inline_tables_beside_address_strings() {
        let ca = TemporaryFile::new("upstream-ca");
        let ca_path = ca.0.display();
        let config = parse_ok(&format!(
            "[resolver]\nmode = \"forward\"\nforwarders = [\n\
             {{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"dns.example\" }},\n\
             {{ address = \"192.0.2.2:8443\", transport = \"https\", tls_name = \"doh.example\", \
             ca_file = \"{ca_path}\", path = \"/q\" }},\n\
             \"192.0.2.3\",\n{{ address = \"192.0.2.4\" }},\n]\n\
             [[resolver.forward_zone]]\nname = \"corp.\"\n\
             servers = [{{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"dns.example\" }}]\n"
        ));
        let resolver = &config.resolver;
        assert_eq!(
            resolver.forwarders,
            vec![
                address("192.0.2.1:853"),
                address("192.0.2.2:8443"),
                address("192.0.2.3:53"),
                address("192.0.2.4:53"),
            ]
        );
        assert_eq!(
            resolver.forward_zones[0].servers,
            vec![address("192.0.2.1:853")]
        );
        assert_eq!(
            resolver.encrypted_servers,
            vec![
                EncryptedServer {
                    address: address("192.0.2.1:853"),
                    transport: UpstreamTransport::Tls,
                    tls_name: "dns.example".to_owned(),
                    ca_file: None,
                },
                EncryptedServer {
                    address: address("192.0.2.2:8443"),
                    transport: UpstreamTransport::Https {
                        path: "/q".to_owned()
                    },
                    tls_name: "doh.example".to_owned(),
                    ca_file: Some(ca.0.clone()),
                },
            ]
        );
        let forward = "[resolver]\nmode = \"forward\"\nforwarders = [";
        assert_one_problem(
            &format!("{forward}{{ address = \"192.0.2.1\", transport = \"tls\" }}]\n"),
            3,
            15,
            "missing key \"tls_name\"",
        );
        assert_one_problem(
            &format!(
                "{forward}{{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"a b\" }}]\n"
            ),
            3,
            70,
            "is not a host name or an IP address",
        );
        assert_one_problem(
            &format!(
                "{forward}{{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"a\", \
                 path = \"/q\" }}]\n"
            ),
            3,
            82,
            "only used with transport = \"https\"",
        );
        assert_one_problem(
            &format!("{forward}{{ address = \"192.0.2.1\", transport = \"quic\" }}]\n"),
            3,
            52,
            "is not one of",
        );
        assert_one_problem(
            &format!("{forward}{{ address = \"192.0.2.1\", tls_name = \"a\" }}]\n"),
            3,
            15,
            "only used with transport",
        );
        assert_one_problem(
            &format!(
                "{forward}\"192.0.2.1:853\", \
                 {{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"a\" }}]\n"
            ),
            3,
            32,
            "is a cleartext server at resolver.forwarders[0]",
        );
        assert_one_problem(
            &format!(
                "{forward}{{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"a\" }}, \
                 {{ address = \"192.0.2.1\", transport = \"tls\", tls_name = \"b\" }}]\n"
            ),
            3,
            77,
            "other TLS settings",
        );
        assert_one_problem(
            &format!("{forward}{{ transport = \"tls\", tls_name = \"a\" }}]\n"),
            3,
            15,
            "missing key \"address\"",
        );
        assert_one_problem(
            &format!("{forward}{{ address = \"192.0.2.1\", colour = 1 }}]\n"),
            3,
            40,
            "unknown key",
        );
    }

    fn parse_ok(text: &str) -> Config {
        match parse("test.toml", text) {
            Ok(config) => config,
            Err(problems) => panic!("unexpected problems: {problems:#?}"),
        }
    }

    fn address(text: &str) -> SocketAddr {
        text.parse().expect("test address")
    }

    /// The configuration an empty `test.toml` gives: the defaults, with the
    /// API's policy file beside it.
    fn test_defaults() -> Config {
        let mut config = Config::default();
        config.api.policy_file = Some(PathBuf::from("test.api.toml"));
        config
    }

    fn network(text: &str) -> IpNetwork {
        text.parse().expect("test network")
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("test name")
    }

    /// A file that exists for the duration of a test.
    struct TemporaryFile(PathBuf);

    impl TemporaryFile {
        fn new(tag: &str) -> TemporaryFile {
            let path = std::env::temp_dir().join(format!(
                "hanse-config-test-{}-{tag}.root",
                std::process::id()
            ));
            std::fs::write(&path, ". 3600000 NS a.root-servers.net.\n").expect("temporary file");
            TemporaryFile(path)
        }
    }

    impl Drop for TemporaryFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(parse_ok(""), test_defaults());
        assert_eq!(parse_ok("# only a comment\n\n"), test_defaults());
        assert_eq!(
            parse_ok("[server]\n[resolver]\n[resolver.limits]\n[cache]\n[log]\n"),
            test_defaults()
        );
    }

    #[test]
    fn defaults_are_as_documented() {
        let config = Config::default();
        assert_eq!(
            config.server.listen,
            vec![address("127.0.0.1:53"), address("[::1]:53")]
        );
        let allow_from: Vec<String> = config
            .server
            .allow_from
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            allow_from,
            [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
                "fe80::/10",
                "100.64.0.0/10"
            ]
        );
        assert!((1..=1024).contains(&config.server.threads));
        assert_eq!(config.server.tcp_idle_timeout, Duration::from_secs(10));
        assert_eq!(config.server.max_tcp_connections, 1024);
        assert_eq!(config.server.max_tcp_connections_per_client, 64);
        assert_eq!(config.server.lame_duck, Duration::from_secs(5));
        assert!(config.server.proxy_protocol_from.is_empty());
        assert_eq!(config.resolver.mode, ResolverMode::Recursive);
        assert_eq!(config.resolver.root_hints, None);
        assert!(config.resolver.forwarders.is_empty());
        assert!(!config.resolver.query_private_upstreams);
        assert_eq!(
            config.resolver.qname_minimisation,
            QnameMinimisation::Relaxed
        );
        assert_eq!(config.resolver.edns_buffer_size, 1232);
        assert!(config.resolver.forward_zones.is_empty());
        assert!(config.resolver.stub_zones.is_empty());
        let limits = config.resolver.limits;
        assert_eq!(limits.max_upstream_queries, 64);
        assert_eq!(limits.max_nameserver_names, 6);
        assert_eq!(limits.max_cname_chain, 12);
        assert_eq!(limits.max_resolution_time, Duration::from_secs(10));
        assert_eq!(limits.upstream_timeout, Duration::from_millis(1500));
        assert_eq!(limits.max_delegation_depth, 6);
        assert_eq!(
            (
                limits.max_outstanding_per_zone,
                limits.max_outstanding_per_server
            ),
            (200, 400)
        );
        assert_eq!(config.cache.max_memory, 256 * 1024 * 1024);
        assert_eq!(config.cache.min_ttl, 0);
        assert_eq!(config.cache.max_ttl, 86_400);
        assert_eq!(config.cache.negative_max_ttl, 3600);
        assert_eq!(config.cache.servfail_ttl, 5);
        assert_eq!(config.log.level, "info");
    }

    #[test]
    fn every_key_set_parses_to_the_expected_struct() {
        let hints = TemporaryFile::new("full");
        let text = format!(
            r#"
[server]
listen = ["192.0.2.53:5353", "[2001:db8::53]", "198.51.100.1"]
allow_from = ["0.0.0.0/0", "2001:db8::/32", "192.0.2.7", "10.1.2.3/8"]
threads = 4
tcp_idle_timeout = "2m"
max_tcp_connections = 2000
max_tcp_connections_per_client = 2000
lame_duck = "12s"

[resolver]
mode = "forward"
root_hints = {hints:?}
forwarders = ["192.0.2.1", "[2001:db8::1]:5300"]
query_private_upstreams = true
qname_minimisation = "strict"
edns_buffer_size = 4096

[[resolver.forward_zone]]
name = "corp.example."
servers = ["10.1.1.1:53", "10.1.1.3"]

[[resolver.forward_zone]]
name = "lab.example"
servers = ["10.9.9.9"]

[[resolver.stub_zone]]
name = "internal.example."
servers = ["10.1.1.2"]

[resolver.limits]
max_upstream_queries = 100
max_nameserver_names = 3
max_cname_chain = 8
max_resolution_time = 20
upstream_timeout = "800ms"
max_delegation_depth = 4

[cache]
max_memory = "1G"
min_ttl = 30
max_ttl = 3600
negative_max_ttl = 900
servfail_ttl = 0

[log]
level = "debug"
"#,
            hints = hints.0.display().to_string()
        );
        let expected = Config {
            server: ServerSection {
                listen: vec![
                    address("192.0.2.53:5353"),
                    address("[2001:db8::53]:53"),
                    address("198.51.100.1:53"),
                ],
                allow_from: vec![
                    network("0.0.0.0/0"),
                    network("2001:db8::/32"),
                    network("192.0.2.7/32"),
                    network("10.0.0.0/8"),
                ],
                threads: 4,
                tcp_idle_timeout: Duration::from_secs(120),
                max_tcp_connections: 2000,
                max_tcp_connections_per_client: 2000,
                lame_duck: Duration::from_secs(12),
                ..ServerSection::default()
            },
            resolver: ResolverSection {
                mode: ResolverMode::Forward,
                root_hints: Some(hints.0.clone()),
                forwarders: vec![address("192.0.2.1:53"), address("[2001:db8::1]:5300")],
                encrypted_servers: Vec::new(),
                query_private_upstreams: true,
                qname_minimisation: QnameMinimisation::Strict,
                edns_buffer_size: 4096,
                forward_zones: vec![
                    ZoneServers {
                        name: name("corp.example."),
                        servers: vec![address("10.1.1.1:53"), address("10.1.1.3:53")],
                    },
                    ZoneServers {
                        name: name("lab.example."),
                        servers: vec![address("10.9.9.9:53")],
                    },
                ],
                stub_zones: vec![ZoneServers {
                    name: name("internal.example."),
                    servers: vec![address("10.1.1.2:53")],
                }],
                limits: LimitsSection {
                    max_upstream_queries: 100,
                    max_nameserver_names: 3,
                    max_cname_chain: 8,
                    max_resolution_time: Duration::from_secs(20),
                    upstream_timeout: Duration::from_millis(800),
                    max_delegation_depth: 4,
                    max_outstanding_per_zone: 200,
                    max_outstanding_per_server: 400,
                },
            },
            cache: CacheSection {
                max_memory: 1 << 30,
                min_ttl: 30,
                max_ttl: 3600,
                negative_max_ttl: 900,
                servfail_ttl: 0,
                ..CacheSection::default()
            },
            log: LogSection {
                level: "debug".to_owned(),
            },
            policy: PolicySection::default(),
            api: ApiSection {
                policy_file: Some(PathBuf::from("test.api.toml")),
                ..ApiSection::default()
            },
            query_log: QueryLogSection::default(),
            dnssec: DnssecSection::default(),
            rate_limit: RateLimitSection::default(),
        };
        assert_eq!(parse_ok(&text), expected);
    }

    #[test]
    fn full_example_parses_to_the_expected_struct() {
        let config = parse_ok(include_str!("../../../examples/hanse.toml"));
        let mut expected = test_defaults();
        expected.api.configured = true;
        expected.resolver.forward_zones = vec![ZoneServers {
            name: name("corp.example."),
            servers: vec![address("10.1.1.1:53"), address("10.1.1.3:53")],
        }];
        expected.resolver.stub_zones = vec![ZoneServers {
            name: name("internal.example."),
            servers: vec![address("10.1.1.2:53")],
        }];
        expected.query_log.exclude_clients = vec![(network("192.0.2.0/24").address, 24)];
        expected.query_log.exclude_names = vec![name("home.arpa.")];
        assert_eq!(config, expected);
    }

    #[test]
    fn minimal_example_parses() {
        let config = parse_ok(include_str!("../../../examples/minimal.toml"));
        let mut expected = test_defaults();
        expected.server.listen = vec![address("127.0.0.1:5300")];
        assert_eq!(config, expected);
    }

    #[test]
    fn several_problems_are_all_reported_in_file_order() {
        let text = "\
[server]
threads = 0
listen = [\"127.0.0.1:53\", \"10.0.0.1:99999\"]
colour = \"blue\"

[cache]
max_ttl = \"a day\"
min_ttl = -1

[bogus]
key = 1

[log]
level = \"loud\"
";
        assert_eq!(
            positions(text),
            [
                "2:11: server.threads: 0 is out of range 1..=1024",
                "3:27: server.listen[1]: \"10.0.0.1:99999\" is not an address:port",
                "4:1: server.colour: unknown key; expected one of: listen, allow_from, threads, tcp_idle_timeout, max_tcp_connections, max_tcp_connections_per_client, lame_duck, tls_listen, https_listen, doh_cleartext_listen, quic_listen, quic_idle_timeout, max_quic_connections, max_quic_connections_per_client, max_quic_streams, certificate, private_key, proxy_protocol_from, require_cookies, cookie_secret",
                "7:11: cache.max_ttl: expected an integer, found a string",
                "8:11: cache.min_ttl: -1 is out of range 0..=2147483647",
                "10:2: bogus: unknown section; expected one of: server, resolver, cache, log, policy, api, query_log, dnssec, rate_limit",
                "14:9: log.level: \"loud\" is not one of \"error\", \"warn\", \"info\", \"debug\", \"trace\"",
            ]
        );
        let first = &problems(text)[0];
        assert_eq!(first.file, "test.toml");
        assert_eq!(
            first.to_string(),
            "test.toml:2:11: server.threads: 0 is out of range 1..=1024"
        );
    }

    #[test]
    fn unknown_keys_are_reported_everywhere() {
        assert_one_problem("lisen = 1\n", 1, 1, "lisen: unknown section");
        assert_one_problem(
            "[server]\nlisten = []\n",
            2,
            10,
            "needs at least one address",
        );
        assert_one_problem(
            "[server]\nlistn = [\"::1\"]\n",
            2,
            1,
            "server.listn: unknown key; did you mean \"listen\"?",
        );
        assert_one_problem(
            "[resolver]\nforwarder = []\n",
            2,
            1,
            "did you mean \"forwarders\"?",
        );
        assert_one_problem(
            "[resolver.limits]\nmax_cname = 3\n",
            2,
            1,
            "resolver.limits.max_cname: unknown key",
        );
        assert_one_problem(
            "[resolver.lim]\n",
            1,
            11,
            "resolver.lim: unknown key; did you mean \"limits\"?",
        );
        assert_one_problem("[cache]\nsize = \"1G\"\n", 2, 1, "cache.size: unknown key");
        assert_one_problem("[log]\nfile = \"x\"\n", 2, 1, "log.file: unknown key");
        assert_one_problem(
            "[[resolver.forward_zone]]\nname = \"a.\"\nservers = [\"192.0.2.1\"]\nport = 53\n",
            4,
            1,
            "resolver.forward_zone[0].port: unknown key",
        );
        assert_eq!(
            positions(
                "[[resolver.stub_zone]]\nname = \"a.\"\nservers = [\"192.0.2.1\"]\n[[resolver.stub_zone]]\nname = \"b.\"\nserver = [\"192.0.2.1\"]\n"
            ),
            [
                "4:1: resolver.stub_zone[1]: missing key \"servers\"",
                "6:1: resolver.stub_zone[1].server: unknown key; did you mean \"servers\"?",
            ]
        );
        assert_one_problem(
            "server = { listen = [\"::1\"], extra = true }\n",
            1,
            30,
            "server.extra: unknown key",
        );
        assert_one_problem(
            "[server]\n\"odd key\" = 1\n",
            2,
            1,
            "server.\"odd key\": unknown key",
        );
        assert_one_problem(
            "server.threads = 2\nserver.thread = 2\n",
            2,
            8,
            "server.thread: unknown key; did you mean \"threads\"?",
        );
    }

    #[test]
    fn type_mismatches_are_reported() {
        assert_one_problem(
            "server = 1\n",
            1,
            10,
            "server: expected a table, found an integer",
        );
        assert_one_problem(
            "[server]\nthreads = \"4\"\n",
            2,
            11,
            "expected an integer, found a string",
        );
        assert_one_problem(
            "[server]\nthreads = 4.0\n",
            2,
            11,
            "expected an integer, found a float",
        );
        assert_one_problem(
            "[server]\nlisten = \"::1\"\n",
            2,
            10,
            "server.listen: expected an array, found a string",
        );
        assert_one_problem(
            "[server]\nlisten = [53]\n",
            2,
            11,
            "server.listen[0]: expected a string, found an integer",
        );
        assert_one_problem(
            "[server]\nallow_from = [true]\n",
            2,
            15,
            "server.allow_from[0]: expected a string, found a boolean",
        );
        assert_one_problem(
            "[resolver]\nquery_private_upstreams = \"yes\"\n",
            2,
            27,
            "expected a boolean",
        );
        assert_one_problem(
            "[resolver]\nmode = 1\n",
            2,
            8,
            "resolver.mode: expected a string",
        );
        assert_one_problem(
            "[resolver]\nlimits = 1\n",
            2,
            10,
            "resolver.limits: expected a table",
        );
        assert_one_problem(
            "[resolver.forward_zone]\nname = \"a.\"\n",
            1,
            1,
            "expected an array of tables ([[resolver.forward_zone]] entries), found a table",
        );
        assert_one_problem(
            "[resolver]\nstub_zone = [1]\n",
            2,
            14,
            "resolver.stub_zone[0]: expected a table, found an integer",
        );
        assert_one_problem("[cache]\nmax_memory = true\n", 2, 14, "expected a size");
        assert_one_problem(
            "[server]\ntcp_idle_timeout = 1979-05-27\n",
            2,
            20,
            "expected a duration",
        );
        assert_one_problem(
            "[log]\nlevel = [\"info\"]\n",
            2,
            9,
            "log.level: expected a string, found an array",
        );
    }

    #[test]
    fn cookie_keys_are_read_and_checked() {
        let config = parse_ok(
            "[server]\nrequire_cookies = true\ncookie_secret = \"e5e973e5a6b2a43f48e7dc849e37bfcf\"\n",
        );
        assert!(config.server.require_cookies);
        assert_eq!(
            config.server.cookie_secret.unwrap()[..4],
            [0xe5, 0xe9, 0x73, 0xe5]
        );
        assert!(!Config::default().server.require_cookies);
        for bad in ["\"e5e973\"", "\"zz\"", "12"] {
            let text = format!("[server]\ncookie_secret = {bad}\n");
            assert!(parse("hanse.toml", &text).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_protocol_from_is_a_list_of_networks() {
        let config =
            parse_ok("[server]\nproxy_protocol_from = [\"127.83.0.1\", \"10.1.0.0/16\"]\n");
        let networks: Vec<String> = config
            .server
            .proxy_protocol_from
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(networks, ["127.83.0.1/32", "10.1.0.0/16"]);
        assert_one_problem(
            "[server]\nproxy_protocol_from = [\"10.1.0.0/33\"]\n",
            2,
            24,
            "is not a network",
        );
    }

    #[test]
    fn integer_ranges_are_checked() {
        assert_one_problem(
            "[server]\nthreads = 1025\n",
            2,
            11,
            "1025 is out of range 1..=1024",
        );
        assert_eq!(parse_ok("[server]\nthreads = 1024\n").server.threads, 1024);
        assert_eq!(parse_ok("[server]\nthreads = 0x10\n").server.threads, 16);
        assert_one_problem("[server]\nmax_tcp_connections = 0\n", 2, 23, "out of range");
        assert_one_problem(
            "[resolver]\nedns_buffer_size = 511\n",
            2,
            20,
            "511 is out of range 512..=4096",
        );
        assert_one_problem(
            "[resolver]\nedns_buffer_size = 4097\n",
            2,
            20,
            "out of range",
        );
        assert_eq!(
            parse_ok("[resolver]\nedns_buffer_size = 512\n")
                .resolver
                .edns_buffer_size,
            512
        );
        assert_one_problem(
            "[resolver.limits]\nmax_upstream_queries = 0\n",
            2,
            24,
            "out of range",
        );
        assert_one_problem(
            "[resolver.limits]\nmax_nameserver_names = 65\n",
            2,
            24,
            "out of range",
        );
        assert_one_problem(
            "[resolver.limits]\nmax_cname_chain = 0\n",
            2,
            19,
            "out of range",
        );
        assert_one_problem(
            "[resolver.limits]\nmax_delegation_depth = 33\n",
            2,
            24,
            "out of range",
        );
        assert_one_problem("[cache]\nmax_ttl = 0\n", 2, 11, "out of range");
        assert_one_problem("[cache]\nmax_ttl = 2147483648\n", 2, 11, "out of range");
        assert_one_problem("[cache]\nnegative_max_ttl = -5\n", 2, 20, "out of range");
        assert_one_problem(
            "[cache]\nservfail_ttl = 301\n",
            2,
            16,
            "301 is out of range 0..=300",
        );
        assert_one_problem(
            "[cache]\nmin_ttl = 9223372036854775807\n",
            2,
            11,
            "out of range",
        );
    }

    #[test]
    fn lame_duck_is_zero_to_twenty_five_seconds() {
        let lame_duck = |text: &str| {
            parse_ok(&format!("[server]\nlame_duck = {text}\n"))
                .server
                .lame_duck
        };
        assert_eq!(lame_duck("0"), Duration::ZERO);
        assert_eq!(lame_duck("\"1500ms\""), Duration::from_millis(1500));
        assert_eq!(lame_duck("\"25s\""), Duration::from_secs(25));
        assert_one_problem(
            "[server]\nlame_duck = \"26s\"\n",
            2,
            13,
            "26s is out of range 0s..=25s",
        );
        assert_one_problem(
            "[server]\nlame_duck = \"soon\"\n",
            2,
            13,
            "is not a duration",
        );
    }

    #[test]
    fn durations_are_parsed_and_checked() {
        let timeout = |text: &str| {
            parse_ok(&format!("[server]\ntcp_idle_timeout = {text}\n"))
                .server
                .tcp_idle_timeout
        };
        assert_eq!(timeout("\"500ms\""), Duration::from_millis(500));
        assert_eq!(timeout("\"10s\""), Duration::from_secs(10));
        assert_eq!(timeout("\"2m\""), Duration::from_secs(120));
        assert_eq!(timeout("\"1h\""), Duration::from_secs(3600));
        assert_eq!(timeout("30"), Duration::from_secs(30));
        assert_eq!(timeout("\"30\""), Duration::from_secs(30));
        assert_one_problem(
            "[server]\ntcp_idle_timeout = \"10 s\"\n",
            2,
            20,
            "\"10 s\" is not a duration",
        );
        assert_one_problem(
            "[server]\ntcp_idle_timeout = \"1.5s\"\n",
            2,
            20,
            "is not a duration",
        );
        assert_one_problem(
            "[server]\ntcp_idle_timeout = \"s\"\n",
            2,
            20,
            "is not a duration",
        );
        assert_one_problem(
            "[server]\ntcp_idle_timeout = \"99999999999999999999h\"\n",
            2,
            20,
            "is not a duration",
        );
        assert_one_problem(
            "[server]\ntcp_idle_timeout = -1\n",
            2,
            20,
            "-1 is not a duration",
        );
        assert_one_problem(
            "[server]\ntcp_idle_timeout = \"2h\"\n",
            2,
            20,
            "2h is out of range 100ms..=1h",
        );
        assert_one_problem(
            "[server]\ntcp_idle_timeout = 0\n",
            2,
            20,
            "0s is out of range",
        );
        assert_one_problem(
            "[resolver.limits]\nupstream_timeout = \"5ms\"\n",
            2,
            20,
            "5ms is out of range 10ms..=1m",
        );
        assert_one_problem(
            "[resolver.limits]\nmax_resolution_time = \"6m\"\n",
            2,
            23,
            "6m is out of range 100ms..=5m",
        );
    }

    #[test]
    fn sizes_are_parsed_and_checked() {
        let memory = |text: &str| {
            parse_ok(&format!("[cache]\nmax_memory = {text}\n"))
                .cache
                .max_memory
        };
        assert_eq!(memory("\"1024KiB\""), 1 << 20);
        assert_eq!(memory("\"256MiB\""), 256 << 20);
        assert_eq!(memory("\"256M\""), 256 << 20);
        assert_eq!(memory("\"1GiB\""), 1 << 30);
        assert_eq!(memory("\"1G\""), 1 << 30);
        assert_eq!(memory("\"1T\""), 1 << 40);
        assert_eq!(memory("\"2000000\""), 2_000_000);
        assert_eq!(memory("\"2000000B\""), 2_000_000);
        assert_eq!(memory("2000000"), 2_000_000);
        assert_one_problem(
            "[cache]\nmax_memory = \"512KiB\"\n",
            2,
            14,
            "512KiB is less than the minimum 1MiB",
        );
        assert_one_problem(
            "[cache]\nmax_memory = 1000\n",
            2,
            14,
            "1000B is less than the minimum 1MiB",
        );
        assert_one_problem(
            "[cache]\nmax_memory = \"256MB\"\n",
            2,
            14,
            "\"256MB\" is not a size",
        );
        assert_one_problem("[cache]\nmax_memory = \"lots\"\n", 2, 14, "is not a size");
        assert_one_problem(
            "[cache]\nmax_memory = \"99999999999TiB\"\n",
            2,
            14,
            "is not a size",
        );
        assert_one_problem("[cache]\nmax_memory = -1\n", 2, 14, "-1 is not a size");
    }

    #[test]
    fn addresses_are_parsed_and_checked() {
        let listen = |text: &str| {
            parse_ok(&format!("[server]\nlisten = [{text}]\n"))
                .server
                .listen
        };
        assert_eq!(listen("\"127.0.0.1\""), vec![address("127.0.0.1:53")]);
        assert_eq!(listen("\"::1\""), vec![address("[::1]:53")]);
        assert_eq!(listen("\"[::1]\""), vec![address("[::1]:53")]);
        assert_eq!(listen("\"[::1]:5300\""), vec![address("[::1]:5300")]);
        assert_eq!(
            listen("\"0.0.0.0:53\", \"[::]:53\""),
            vec![address("0.0.0.0:53"), address("[::]:53")]
        );
        assert_one_problem(
            "[server]\nlisten = [\"localhost:53\"]\n",
            2,
            11,
            "\"localhost:53\" is not an address:port",
        );
        assert_one_problem(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n",
            2,
            11,
            "has port 0",
        );
        assert_one_problem(
            "[server]\nlisten = [\"2001:db8::1:99999\"]\n",
            2,
            11,
            "in brackets",
        );
        assert_one_problem(
            "[server]\nlisten = [\"1.2.3.4\", \"1.2.3.4:53\"]\n",
            2,
            22,
            "server.listen[1]: 1.2.3.4:53 is already listed at server.listen[0]",
        );
        assert_one_problem(
            "[resolver]\nmode = \"forward\"\nforwarders = [\"192.0.2.1:x\"]\n",
            3,
            15,
            "resolver.forwarders[0]",
        );
    }

    #[test]
    fn networks_are_parsed_and_checked() {
        assert_one_problem(
            "[server]\nallow_from = [\"10.0.0.0/33\"]\n",
            2,
            15,
            "\"10.0.0.0/33\" is not a network such as \"10.0.0.0/8\": the prefix length is longer than 32",
        );
        assert_one_problem(
            "[server]\nallow_from = [\"10.0.0.0/\"]\n",
            2,
            15,
            "the prefix length is not a number",
        );
        assert_one_problem(
            "[server]\nallow_from = [\"example.com/8\"]\n",
            2,
            15,
            "not an IP address",
        );
        assert_eq!(
            parse_ok("[server]\nallow_from = []\n").server.allow_from,
            Vec::new()
        );
    }

    #[test]
    fn ip_network_parsing_masks_host_bits() {
        assert_eq!(network("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(network("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(network("192.0.2.1").to_string(), "192.0.2.1/32");
        assert_eq!(network("::1").to_string(), "::1/128");
        assert_eq!(network("1.2.3.4/0").to_string(), "0.0.0.0/0");
        assert_eq!(network("1.2.3.4/32").to_string(), "1.2.3.4/32");
        assert_eq!(
            "1.2.3.4/+8".parse::<IpNetwork>(),
            Err(IpNetworkError::PrefixLength)
        );
        assert_eq!(
            "1.2.3.4/1000".parse::<IpNetwork>(),
            Err(IpNetworkError::PrefixLength)
        );
        assert_eq!(
            "1.2.3.4/300".parse::<IpNetwork>(),
            Err(IpNetworkError::PrefixTooLong {
                prefix_length: 255,
                maximum: 32
            })
        );
        assert_eq!(
            "::/129".parse::<IpNetwork>(),
            Err(IpNetworkError::PrefixTooLong {
                prefix_length: 129,
                maximum: 128
            })
        );
        assert_eq!(
            "fe80::1%eth0/64".parse::<IpNetwork>(),
            Err(IpNetworkError::Address)
        );
        assert_eq!("".parse::<IpNetwork>(), Err(IpNetworkError::Address));
    }

    #[test]
    fn ip_network_contains() {
        let ip = |text: &str| IpAddr::from_str(text).expect("test address");
        let private = network("10.0.0.0/8");
        assert!(private.contains(ip("10.255.0.1")));
        assert!(!private.contains(ip("11.0.0.1")));
        assert!(private.contains(ip("::ffff:10.1.2.3")));
        assert!(!private.contains(ip("::ffff:11.1.2.3")));
        assert!(!private.contains(ip("::10.1.2.3")));
        assert!(!private.contains(ip("2001:db8::1")));
        let everything = network("0.0.0.0/0");
        assert!(everything.contains(ip("203.0.113.9")));
        assert!(!everything.contains(ip("2001:db8::1")));
        let documentation = network("2001:db8::/32");
        assert!(documentation.contains(ip("2001:db8:ffff::1")));
        assert!(!documentation.contains(ip("2001:db9::1")));
        assert!(!documentation.contains(ip("192.0.2.1")));
        let mapped = network("::ffff:0:0/96");
        assert!(mapped.contains(ip("192.0.2.1")));
        let host = network("::1");
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
        // Fields are public: unmasked or oversized values still behave.
        let raw = IpNetwork {
            address: ip("10.9.9.9"),
            prefix_length: 200,
        };
        assert!(raw.contains(ip("10.9.9.9")));
        assert!(!raw.contains(ip("10.9.9.8")));
        let unmasked = IpNetwork {
            address: ip("10.9.9.9"),
            prefix_length: 8,
        };
        assert!(unmasked.contains(ip("10.0.0.1")));
        assert_eq!(IpNetwork::new(ip("10.9.9.9"), 8), Ok(network("10.0.0.0/8")));
    }

    #[test]
    fn forward_mode_needs_forwarders() {
        assert_one_problem(
            "[resolver]\nmode = \"forward\"\n",
            2,
            8,
            "resolver.forwarders: needs at least one address when resolver.mode = \"forward\"",
        );
        assert_one_problem(
            "[resolver]\nmode = \"forward\"\nforwarders = []\n",
            3,
            14,
            "needs at least one address",
        );
        assert_one_problem(
            "[resolver]\nforwarders = [\"192.0.2.1\"]\n",
            2,
            14,
            "only used when resolver.mode = \"forward\"",
        );
        assert_one_problem(
            "[resolver]\nmode = \"recursive\"\nforwarders = [\"192.0.2.1\"]\n",
            3,
            14,
            "only used when",
        );
        // Invalid parts are reported once, without follow-on problems.
        assert_one_problem(
            "[resolver]\nmode = \"forwarding\"\nforwarders = [\"192.0.2.1\"]\n",
            2,
            8,
            "\"forwarding\" is not one of \"recursive\", \"forward\"",
        );
        assert_one_problem(
            "[resolver]\nmode = \"forward\"\nforwarders = [\"x\"]\n",
            3,
            15,
            "\"x\" is not an address:port",
        );
        let config = parse_ok("[resolver]\nmode = \"forward\"\nforwarders = [\"192.0.2.1\"]\n");
        assert_eq!(config.resolver.forwarders, vec![address("192.0.2.1:53")]);
    }

    #[test]
    fn cross_field_rules_point_at_the_given_value() {
        assert_one_problem(
            "[cache]\nmin_ttl = 600\nmax_ttl = 300\n",
            2,
            11,
            "cache.min_ttl: 600 is greater than cache.max_ttl (300)",
        );
        assert_one_problem(
            "[cache]\nmin_ttl = 100000\n",
            2,
            11,
            "greater than cache.max_ttl (86400)",
        );
        assert_one_problem(
            "[cache]\nmax_ttl = 10\nmin_ttl = 20\n",
            3,
            11,
            "20 is greater",
        );
        assert_one_problem(
            "[cache]\nmax_ttl = 10\n\nmin_ttl = \"x\"\n",
            4,
            11,
            "expected an integer",
        );
        assert_eq!(
            parse_ok("[cache]\nmin_ttl = 300\nmax_ttl = 300\n")
                .cache
                .min_ttl,
            300
        );
        assert_one_problem(
            "[resolver.limits]\nmax_resolution_time = \"1s\"\n",
            2,
            23,
            "resolver.limits.upstream_timeout: 1500ms is longer than resolver.limits.max_resolution_time (1s)",
        );
        assert_one_problem(
            "[resolver.limits]\nupstream_timeout = \"11s\"\n",
            2,
            20,
            "11s is longer than",
        );
        assert_one_problem(
            "[server]\nmax_tcp_connections_per_client = 2000\n",
            2,
            34,
            "server.max_tcp_connections_per_client: 2000 is greater than server.max_tcp_connections (1024)",
        );
        assert_one_problem(
            "[server]\nmax_tcp_connections = 10\n",
            2,
            23,
            "64 is greater",
        );
    }

    #[test]
    fn zones_are_checked() {
        let text = "\
[[resolver.forward_zone]]
name = \"corp.example.\"
servers = [\"10.1.1.1\"]

[[resolver.forward_zone]]
name = \"CORP.example\"
servers = [\"10.1.1.9\"]

[[resolver.stub_zone]]
name = \"corp.example\"
servers = [\"10.1.1.2\"]
";
        assert_eq!(
            positions(text),
            [
                "6:8: resolver.forward_zone[1].name: zone CORP.example. is already configured at resolver.forward_zone[0].name",
                "10:8: resolver.stub_zone[0].name: zone corp.example. is already configured at resolver.forward_zone[0].name",
            ]
        );
        assert_one_problem(
            "[[resolver.stub_zone]]\nname = \"a..b\"\nservers = [\"192.0.2.1\"]\n",
            2,
            8,
            "\"a..b\" is not a domain name: empty label",
        );
        assert_one_problem(
            "[[resolver.stub_zone]]\nname = \"\"\nservers = [\"192.0.2.1\"]\n",
            2,
            8,
            "write \".\" for the root",
        );
        assert_one_problem(
            "[[resolver.stub_zone]]\nname = \"a b.\"\nservers = [\"192.0.2.1\"]\n",
            2,
            8,
            "white space",
        );
        let long_label = "a".repeat(64);
        assert_one_problem(
            &format!(
                "[[resolver.stub_zone]]\nname = \"{long_label}\"\nservers = [\"192.0.2.1\"]\n"
            ),
            2,
            8,
            "label longer than 63",
        );
        assert_one_problem(
            "[[resolver.stub_zone]]\nname = \"a.\"\nservers = []\n",
            3,
            11,
            "resolver.stub_zone[0].servers: needs at least one address",
        );
        assert_one_problem(
            "[[resolver.stub_zone]]\nservers = [\"192.0.2.1\"]\n",
            1,
            1,
            "resolver.stub_zone[0]: missing key \"name\"",
        );
        assert_one_problem(
            "[resolver]\nforward_zone = [{ name = \"a.\" }]\n",
            2,
            17,
            "resolver.forward_zone[0]: missing key \"servers\"",
        );
        let root = parse_ok(
            "[resolver]\nforward_zone = [{ name = \".\", servers = [\"192.0.2.1:853\"] }]\n",
        );
        assert_eq!(
            root.resolver.forward_zones,
            vec![ZoneServers {
                name: Name::root(),
                servers: vec![address("192.0.2.1:853")]
            }]
        );
    }

    #[test]
    fn dnssec_section() {
        let config = parse_ok("");
        assert!(config.dnssec.validation);
        assert_eq!(config.dnssec.trust_anchor_file, None);
        let file = TemporaryFile::new(
            ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
        );
        let anchors = file.0.clone();
        let text = format!(
            "[dnssec]\nvalidation = false\ntrust_anchor_file = {:?}\nnegative_trust_anchors = [\"example.\", \"test.org\"]\n",
            anchors.display().to_string()
        );
        let config = parse_ok(&text);
        assert!(!config.dnssec.validation);
        assert_eq!(
            config.dnssec.trust_anchor_file.as_deref(),
            Some(anchors.as_path())
        );
        assert_eq!(
            config.dnssec.negative_trust_anchors,
            vec![name("example."), name("test.org.")]
        );
        assert!(config.dnssec.aggressive_nsec);
        let off = parse_ok("[dnssec]\naggressive_nsec = false\n").dnssec;
        assert!(!off.aggressive_nsec);
        let found = problems("[dnssec]\nvalidation = 1\nunknown = true\n");
        assert_eq!(found.len(), 2, "{found:?}");

        let defaults = parse_ok("").dnssec;
        assert!(defaults.auto_update_in_force(false));
        assert!(!defaults.auto_update_in_force(true));
        assert_eq!(defaults.add_hold_down, Duration::from_secs(30 * 86_400));
        assert!(!config.dnssec.auto_update_in_force(false));
        let managed = parse_ok(
            "[dnssec]\nauto_update = true\nadd_hold_down = \"2s\"\nrefresh_interval = \"1s\"\n",
        )
        .dnssec;
        assert!(managed.auto_update_in_force(true));
        assert_eq!(managed.add_hold_down, Duration::from_secs(2));
        assert_eq!(managed.refresh_interval, Some(Duration::from_secs(1)));
        let found = problems("[dnssec]\nauto_update = \"yes\"\nrefresh_interval = \"0s\"\n");
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn rate_limit_section() {
        let defaults = parse_ok("").rate_limit;
        assert_eq!(defaults.queries_per_second, 1000);
        assert_eq!(defaults.burst, 2000);
        assert_eq!((defaults.ipv4_prefix, defaults.ipv6_prefix), (24, 56));
        assert_eq!(
            defaults.exempt,
            vec![network("127.0.0.0/8"), network("::1")]
        );
        assert_eq!(defaults.action, RateLimitAction::Drop);
        assert_eq!((defaults.responses_per_second, defaults.slip), (0, 2));
        assert_eq!(
            (
                defaults.max_resolutions,
                defaults.max_resolutions_per_client
            ),
            (10_000, 2_000)
        );
        assert_eq!(defaults.overload_action, OverloadAction::Servfail);
        let shedding = parse_ok(
            "[rate_limit]\nmax_resolutions = 0\nmax_resolutions_per_client = 5\n\
             overload_action = \"drop\"\n",
        )
        .rate_limit;
        assert_eq!(
            (
                shedding.max_resolutions,
                shedding.max_resolutions_per_client
            ),
            (0, 5)
        );
        assert_eq!(shedding.overload_action, OverloadAction::Drop);
        let config = parse_ok(
            "[rate_limit]\nqueries_per_second = 50\nipv4_prefix = 32\nipv6_prefix = 64\n\
             exempt = [\"192.0.2.0/24\"]\naction = \"refuse\"\nresponses_per_second = 5\nslip = 1\n",
        );
        let rate_limit = config.rate_limit;
        assert_eq!(rate_limit.queries_per_second, 50);
        assert_eq!(rate_limit.burst, 100, "twice the rate when not given");
        assert_eq!((rate_limit.ipv4_prefix, rate_limit.ipv6_prefix), (32, 64));
        assert_eq!(rate_limit.exempt, vec![network("192.0.2.0/24")]);
        assert_eq!(rate_limit.action, RateLimitAction::Refuse);
        assert_eq!((rate_limit.responses_per_second, rate_limit.slip), (5, 1));
        let off = parse_ok("[rate_limit]\nqueries_per_second = 0\nburst = 7\n").rate_limit;
        assert_eq!((off.queries_per_second, off.burst), (0, 7));
        assert_one_problem(
            "[rate_limit]\naction = \"slip\"\n",
            2,
            10,
            "rate_limit.action: \"slip\" is not one of \"drop\", \"refuse\"",
        );
        assert_one_problem(
            "[rate_limit]\nipv4_prefix = 33\n",
            2,
            15,
            "33 is out of range 8..=32",
        );
        assert_one_problem("[rate_limit]\nburst = 0\n", 2, 9, "out of range");
        assert_one_problem(
            "[rate_limit]\nexempt = [\"10.0.0.0/33\"]\n",
            2,
            11,
            "10.0.0.0/33",
        );
        assert_one_problem("[rate_limit]\nslips = 2\n", 2, 1, "did you mean \"slip\"");
        let limits = parse_ok(
            "[resolver.limits]\nmax_outstanding_per_zone = 0\nmax_outstanding_per_server = 10\n",
        )
        .resolver
        .limits;
        assert_eq!(
            (
                limits.max_outstanding_per_zone,
                limits.max_outstanding_per_server
            ),
            (0, 10)
        );
        assert_one_problem(
            "[resolver.limits]\nmax_outstanding_per_zone = -1\n",
            2,
            28,
            "out of range",
        );
    }

    #[test]
    fn root_hints_must_exist() {
        let hints = TemporaryFile::new("exists");
        let text = format!(
            "[resolver]\nroot_hints = {:?}\n",
            hints.0.display().to_string()
        );
        assert_eq!(parse_ok(&text).resolver.root_hints, Some(hints.0.clone()));
        assert_one_problem(
            "[resolver]\nroot_hints = \"/nonexistent/hanse/named.root\"\n",
            2,
            14,
            "cannot use /nonexistent/hanse/named.root",
        );
        assert_one_problem("[resolver]\nroot_hints = \"\"\n", 2, 14, "is empty");
        let directory = std::env::temp_dir();
        let text = format!(
            "[resolver]\nroot_hints = {:?}\n",
            directory.display().to_string()
        );
        assert_one_problem(&text, 2, 14, "is not a regular file");
    }

    #[test]
    fn relative_root_hints_resolve_against_the_config_directory() {
        let hints = TemporaryFile::new("relative");
        let (Some(directory), Some(file_name)) = (hints.0.parent(), hints.0.file_name()) else {
            panic!("temporary file has no parent");
        };
        let config_path = directory.join("hanse.toml");
        let text = format!(
            "[resolver]\nroot_hints = {:?}\n",
            file_name.to_string_lossy()
        );
        let config = parse(&config_path.display().to_string(), &text).expect("relative hints");
        assert_eq!(config.resolver.root_hints, Some(hints.0.clone()));
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert_one_problem("[server]\nthreads = \n", 2, 11, "TOML syntax error");
        assert_one_problem(
            "[server]\nthreads = 4\nthreads = 5\n",
            3,
            1,
            "TOML syntax error: duplicate key",
        );
        assert_one_problem("[server]\n[server]\n", 2, 2, "duplicate key");
        assert_one_problem("[server\n", 1, 8, "TOML syntax error");
        let found = problems("a = 1 2\n[server]\nthreads = 0\nb = 'x\n");
        assert!(
            found
                .iter()
                .all(|problem| problem.message.starts_with("TOML syntax error")),
            "{found:#?}"
        );
        assert_eq!((found[0].line, found[0].column), (1, 5));
        assert!(
            found
                .windows(2)
                .all(|pair| (pair[0].line, pair[0].column) <= (pair[1].line, pair[1].column))
        );
    }

    #[test]
    fn columns_count_characters_and_lines_survive_carriage_returns() {
        assert_one_problem(
            "# Grüße aus Lübeck\r\n[log]\r\nlevel = \"übel\"\r\n",
            3,
            9,
            "\"übel\" is not one of",
        );
        assert_one_problem("[log] # ÄÖÜ\nfile = 1\n", 2, 1, "log.file");
        assert_one_problem(
            "log = { level = \"info\", \"ä\" = 1 }\n",
            1,
            25,
            "log.\"ä\": unknown key",
        );
        assert_eq!(line_and_column("ab\ncd", 100), (2, 3));
        assert_eq!(line_and_column("", 0), (1, 1));
        assert_eq!(line_and_column("é", 1), (1, 2));
    }

    #[test]
    fn load_reports_unreadable_files() {
        let missing = Path::new("/nonexistent/hanse/hanse.toml");
        let Err(found) = load(missing) else {
            panic!("loading a missing file succeeded");
        };
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (1, 1));
        assert_eq!(found[0].file, "/nonexistent/hanse/hanse.toml");
        assert!(
            found[0]
                .message
                .starts_with("cannot read the configuration file")
        );
    }

    #[test]
    fn load_reads_a_file() {
        let path =
            std::env::temp_dir().join(format!("hanse-config-test-{}.toml", std::process::id()));
        std::fs::write(&path, "[server]\nthreads = 0\n").expect("write test config");
        let result = load(&path);
        let _ = std::fs::remove_file(&path);
        let Err(found) = result else {
            panic!("threads = 0 was accepted");
        };
        assert_eq!(
            found[0].to_string(),
            format!(
                "{}:2:11: server.threads: 0 is out of range 1..=1024",
                path.display()
            )
        );
    }

    /// A configuration directory with two feed files, removed on drop.
    struct PolicyFiles(PathBuf);

    impl PolicyFiles {
        fn new(tag: &str) -> PolicyFiles {
            let directory = std::env::temp_dir()
                .join(format!("hanse-config-policy-{}-{tag}", std::process::id()));
            std::fs::create_dir_all(&directory).expect("temporary directory");
            std::fs::write(directory.join("malware.rpz"), "").expect("feed file");
            std::fs::write(directory.join("social.domains"), "").expect("feed file");
            PolicyFiles(directory)
        }

        /// Writes a configuration file `file` into the directory and
        /// returns its path.
        fn write_config(&self, file: &str, text: &str) -> PathBuf {
            let path = self.0.join(file);
            std::fs::write(&path, text).expect("configuration file");
            path
        }

        /// Parses `text` as if it were `hanse.toml` in the directory.
        fn parse(&self, text: &str) -> Result<Config, Vec<ConfigProblem>> {
            parse(&self.0.join("hanse.toml").display().to_string(), text)
        }

        /// The problems as `LINE:COLUMN: MESSAGE` strings.
        fn positions(&self, text: &str) -> Vec<String> {
            match self.parse(text) {
                Ok(config) => panic!("expected problems, got {config:?}"),
                Err(problems) => problems
                    .iter()
                    .map(|problem| {
                        format!("{}:{}: {}", problem.line, problem.column, problem.message)
                    })
                    .collect(),
            }
        }
    }

    impl Drop for PolicyFiles {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const TWO_FEEDS: &str = r#"
[[policy.feed]]
name = "malware"
format = "rpz"
file = "malware.rpz"
origin = "rpz.example."
ede = "censored"

[[policy.feed]]
name = "social"
format = "domains"
file = "social.domains"
"#;

    #[test]
    fn every_policy_key_parses_to_the_expected_profiles() {
        let files = PolicyFiles::new("full");
        let text = format!(
            r#"{TWO_FEEDS}
[[policy.profile]]
name = "default"
feeds = ["malware"]

[[policy.profile]]
name = "kids"
feeds = ["malware", "social"]
block_answer = ["192.0.2.10", "2001:db8::10"]
allowlist = ["good.example.", "school.example"]
safe_search = ["google", "bing", "duckduckgo", "youtube-moderate"]
time_zone = "Europe/Berlin"

[[policy.profile.schedule]]
feed = "social"
days = ["mon-thu", "sun"]
from = "21:00"
to = "07:00"

[[policy.profile.schedule]]
feed = "social"
from = "12:00"
to = "13:00"

[[policy.profile.override]]
feed = "malware"
action = "cname:walled.example."
log = false
ede = "filtered"

[[policy.profile.override]]
feed = "social"
enabled = false

[[policy.client]]
cidr = "10.1.2.3/16"
profile = "kids"
"#
        );
        let config = files.parse(&text).expect("valid");
        let policy = &config.policy;
        assert_eq!(policy.feeds.len(), 2);
        assert_eq!(
            policy.feeds[0],
            FeedSource {
                name: "malware".to_owned(),
                format: FeedFormat::Rpz,
                location: FeedLocation::File(files.0.join("malware.rpz")),
                origin: Some(name("rpz.example.")),
                ede: EdeCode::Censored,
            }
        );
        assert_eq!(policy.feeds[1].origin, None);
        assert_eq!(policy.feeds[1].ede, EdeCode::Blocked);
        let mut default = ProfileSpec::new("default", &[]);
        default.time_zone = "UTC".to_owned();
        default.feeds = vec![FeedUse {
            ede: EdeCode::Censored,
            ..FeedUse::new("malware")
        }];
        assert_eq!(policy.profiles[0], default);
        let kids = &policy.profiles[1];
        assert_eq!(kids.name, "kids");
        assert_eq!(
            kids.block_answer,
            BlockAnswer::Addresses(vec![
                "192.0.2.10".parse().expect("address"),
                "2001:db8::10".parse().expect("address")
            ])
        );
        assert_eq!(
            kids.allowlist,
            vec![name("good.example."), name("school.example.")]
        );
        assert_eq!(
            kids.safe_search,
            SafeSearch {
                google: true,
                bing: true,
                duckduckgo: true,
                youtube: Some(YoutubeRestriction::Moderate),
            }
        );
        assert_eq!(kids.time_zone, "Europe/Berlin");
        assert_eq!(
            kids.feeds[0],
            FeedUse {
                feed: "malware".to_owned(),
                enabled: true,
                log: false,
                policy_override: Some(PolicyOverride::Cname(name("walled.example."))),
                schedule: Vec::new(),
                ede: EdeCode::Filtered,
            }
        );
        let social = &kids.feeds[1];
        assert!(!social.enabled && social.log);
        assert_eq!(social.ede, EdeCode::Blocked);
        let windows: Vec<String> = social.schedule.iter().map(ToString::to_string).collect();
        assert_eq!(
            windows,
            [
                "mon,tue,wed,thu,sun 21:00-07:00",
                "mon,tue,wed,thu,fri,sat,sun 12:00-13:00"
            ]
        );
        assert_eq!(
            policy.clients,
            vec![ClientRule {
                selector: ClientSelector::Network(
                    Prefix::new("10.1.0.0".parse().expect("address"), 16).expect("prefix")
                ),
                profile: "kids".to_owned(),
            }]
        );
    }

    #[test]
    fn feeds_without_profiles_get_an_implicit_default_profile() {
        let files = PolicyFiles::new("implicit");
        let config = files.parse(TWO_FEEDS).expect("valid");
        assert_eq!(config.policy.profiles.len(), 1);
        let profile = &config.policy.profiles[0];
        assert_eq!(profile.name, "default");
        let feeds: Vec<(&str, EdeCode)> = profile
            .feeds
            .iter()
            .map(|feed| (feed.feed.as_str(), feed.ede))
            .collect();
        assert_eq!(
            feeds,
            [("malware", EdeCode::Censored), ("social", EdeCode::Blocked)]
        );
        // A client may name the implicit profile.
        let text = format!(
            "{TWO_FEEDS}\n[[policy.client]]\ncidr = \"10.0.0.0/8\"\nprofile = \"default\"\n"
        );
        assert_eq!(files.parse(&text).expect("valid").policy.clients.len(), 1);
        assert!(parse_ok("").policy.is_empty());
    }

    #[test]
    fn policy_problems_are_reported_with_positions() {
        let files = PolicyFiles::new("problems");
        let text = r#"[[policy.feed]]
name = "malware"
format = "hosts"
file = "malware.rpz"
origin = "rpz.example."

[[policy.feed]]
name = "malware"
format = "rss"
file = "missing.list"
colour = 1

[[policy.feed]]
name = "bad name"
format = "hosts"
url = "ftp://lists.example/hosts"

[[policy.profile]]
name = "kids"
feeds = ["malware", "social", "malware"]
block_answer = "maybe"
safe_search = ["youtube", "youtube-moderate", "yahoo"]
time_zone = "Mars/Olympus"

[[policy.profile.schedule]]
feed = "malware"
days = ["mon", "someday"]
from = "7:00"
to = "24:00"

[[policy.profile.override]]
feed = "malware"
action = "explode"

[[policy.client]]
cidr = "10.1.0.0/33"
profile = "adults"
doh_path = "/dns-query/abc"
"#;
        assert_eq!(
            files.positions(text),
            [
                "5:10: policy.feed[0].origin: only for format = \"rpz\", not \"hosts\"",
                "8:8: policy.feed[1].name: feed \"malware\" is already defined at policy.feed[0].name",
                "9:10: policy.feed[1].format: \"rss\" is not one of \"rpz\", \"hosts\", \"domains\", \"adblock\"",
                &format!(
                    "10:8: policy.feed[1].file: cannot use {}: No such file or directory (os error 2)",
                    files.0.join("missing.list").display()
                ),
                "11:1: policy.feed[1].colour: unknown key; expected one of: name, format, file, url, refresh, zone, primaries, tsig_key, origin, ede",
                "14:8: policy.feed[2].name: \"bad name\" is not a feed name; use 1 to 63 letters, digits, \"-\", \"_\" or \".\"",
                "16:7: policy.feed[2].url: \"ftp://lists.example/hosts\" is not a feed URL: the scheme \"ftp\" is not http or https",
                "18:1: policy.profile: no profile is named \"default\"; add one for the clients that no [[policy.client]] entry names",
                "20:31: policy.profile[0].feeds[2]: feed \"malware\" is already listed at policy.profile[0].feeds[0]",
                "21:16: policy.profile[0].block_answer: \"maybe\" is not one of \"nxdomain\", \"null\", \"refused\"",
                "22:27: policy.profile[0].safe_search[1]: choose either \"youtube\" (strict) or \"youtube-moderate\", not both",
                "22:47: policy.profile[0].safe_search[2]: \"yahoo\" is not one of \"google\", \"bing\", \"duckduckgo\", \"youtube\", \"youtube-moderate\"",
                "23:13: policy.profile[0].time_zone: \"Mars/Olympus\" is not a time zone of the IANA database, such as \"Europe/Berlin\" or \"UTC\"",
                "27:16: policy.profile[0].schedule[0].days[1]: \"someday\" is not a day: use \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\" or a range such as \"mon-fri\"",
                "28:8: policy.profile[0].schedule[0].from: \"7:00\" is not a time of day such as \"07:00\" or \"21:30\"",
                "29:6: policy.profile[0].schedule[0].to: \"24:00\" is not a time of day such as \"07:00\" or \"21:30\"",
                "33:10: policy.profile[0].override[0].action: \"explode\" is not one of \"nxdomain\", \"nodata\", \"passthru\", \"drop\", \"tcp-only\", \"block-answer\", \"cname:NAME\"",
                "35:1: policy.client[0]: give only one of \"cidr\", \"doh_path\" and \"server_name\"; use one entry per selector",
                "36:8: policy.client[0].cidr: \"10.1.0.0/33\" is not a network such as \"10.1.0.0/16\": the prefix length is longer than 32",
                "37:11: policy.client[0].profile: unknown profile \"adults\" (configured: \"kids\")",
            ]
        );
    }

    #[test]
    fn policy_references_and_missing_keys_are_checked() {
        let files = PolicyFiles::new("references");
        let text = format!(
            r#"{TWO_FEEDS}
[[policy.profile]]
name = "default"
feeds = ["malware", "ads"]

[[policy.profile]]
name = "kids"
feeds = ["malware"]

[[policy.profile.schedule]]
feed = "social"
from = "21:00"
to = "07:00"

[[policy.profile.override]]
feed = "social"

[[policy.profile.override]]
feed = "malware"

[[policy.profile.override]]
feed = "malware"

[[policy.profile]]
name = "kids"

[[policy.client]]
cidr = "10.0.0.0/8"
profile = "kids"

[[policy.client]]
cidr = "10.1.2.3/8"

[[policy.feed]]
format = "hosts"
"#
        );
        // The feed without a name makes the feed names incomplete, so the
        // reference to "ads" is not reported: it might be that feed.
        assert_eq!(
            files.positions(&text),
            [
                "23:8: policy.profile[1].schedule: feed \"social\" is not in this profile's feeds (malware)",
                "28:8: policy.profile[1].override: feed \"social\" is not in this profile's feeds (malware)",
                "34:8: policy.profile[1].override[2].feed: feed \"malware\" already has an override in this profile",
                "37:8: policy.profile[2].name: profile \"kids\" is already defined at policy.profile[1].name",
                "43:1: policy.client[1]: missing key \"profile\"",
                "44:8: policy.client[1].cidr: 10.0.0.0/8 is already mapped at policy.client[0].cidr",
                "46:1: policy.feed[2]: missing key \"name\"",
                "46:1: policy.feed[2]: missing key \"file\", \"url\" or \"zone\" (where the feed comes from)",
            ]
        );
    }

    const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
    const OTHER_SECRET: &str =
        "YW5vdGhlciBzZWNyZXQsIHNpeHR5LWZvdXIgYnl0ZXMgbG9uZyB3b3VsZCBiZSBiZXR0ZXI7IGZpbmUu";

    fn tsig_key(key_name: &str, algorithm: TsigAlgorithm, secret: &str) -> TsigKey {
        TsigKey::from_base64(name(key_name), algorithm, secret).expect("test key")
    }

    #[test]
    fn remote_feeds_parse_to_their_locations() {
        let files = PolicyFiles::new("remote");
        std::fs::create_dir_all(files.0.join("keys")).expect("keys directory");
        std::fs::write(
            files.0.join("keys/other.key"),
            format!("  {OTHER_SECRET}\n\n"),
        )
        .expect("key file");
        let text = format!(
            r#"[policy]
state_directory = "state"
extra_text = false

[[policy.tsig_key]]
name = "feed-key."
secret = "{SECRET}"

[[policy.tsig_key]]
name = "other-key"
algorithm = "hmac-sha512"
secret_file = "keys/other.key"

[[policy.feed]]
name = "malware"
format = "rpz"
zone = "rpz.example."
primaries = ["192.0.2.53", "192.0.2.54:5353", "[2001:db8::53]:53", "2001:db8::54"]
tsig_key = "FEED-KEY"

[[policy.feed]]
name = "phishing"
format = "rpz"
zone = "phish.rpz.example"
primaries = ["[2001:db8::55]"]
tsig_key = "other-key."
ede = "filtered"

[[policy.feed]]
name = "plain"
format = "rpz"
zone = "plain.example."
primaries = ["127.0.0.1:5353"]

[[policy.feed]]
name = "ads"
format = "hosts"
url = "https://example.com/hosts.txt"

[[policy.feed]]
name = "remote-zone"
format = "rpz"
url = "http://192.0.2.80:8080/zone.rpz?token=abc"
refresh = "6h"
origin = "remote.rpz.example."

[[policy.feed]]
name = "local"
format = "domains"
file = "social.domains"
"#
        );
        let config = files.parse(&text).expect("valid");
        let policy = &config.policy;
        assert_eq!(policy.state_directory, files.0.join("state"));
        assert!(!policy.extra_text);
        let locations: Vec<&FeedLocation> =
            policy.feeds.iter().map(|feed| &feed.location).collect();
        assert_eq!(
            locations,
            [
                &FeedLocation::Transfer {
                    zone: name("rpz.example."),
                    primaries: vec![
                        address("192.0.2.53:53"),
                        address("192.0.2.54:5353"),
                        address("[2001:db8::53]:53"),
                        address("[2001:db8::54]:53"),
                    ],
                    tsig_key: Some(tsig_key("feed-key.", TsigAlgorithm::HmacSha256, SECRET)),
                },
                &FeedLocation::Transfer {
                    zone: name("phish.rpz.example."),
                    primaries: vec![address("[2001:db8::55]:53")],
                    tsig_key: Some(tsig_key(
                        "other-key.",
                        TsigAlgorithm::HmacSha512,
                        OTHER_SECRET
                    )),
                },
                &FeedLocation::Transfer {
                    zone: name("plain.example."),
                    primaries: vec![address("127.0.0.1:5353")],
                    tsig_key: None,
                },
                &FeedLocation::Url {
                    url: "https://example.com/hosts.txt".to_owned(),
                    refresh: Duration::from_secs(86_400),
                },
                &FeedLocation::Url {
                    url: "http://192.0.2.80:8080/zone.rpz?token=abc".to_owned(),
                    refresh: Duration::from_secs(6 * 3600),
                },
                &FeedLocation::File(files.0.join("social.domains")),
            ]
        );
        // The key read from the file differs from the inline one: the
        // secret (and algorithm) really came from the file.
        assert_ne!(
            tsig_key("other-key.", TsigAlgorithm::HmacSha512, OTHER_SECRET),
            tsig_key("other-key.", TsigAlgorithm::HmacSha512, SECRET)
        );
        assert_eq!(policy.feeds[0].origin, None);
        assert_eq!(policy.feeds[1].ede, EdeCode::Filtered);
        assert_eq!(policy.feeds[4].origin, Some(name("remote.rpz.example.")));
        assert_eq!(policy.feeds[5].format, FeedFormat::Domains);
        // Without profiles, the implicit default profile uses every feed.
        assert_eq!(policy.profiles.len(), 1);
        assert_eq!(policy.profiles[0].feeds.len(), 6);
        assert_eq!(
            policy.feeds[0].location.to_string(),
            "zone rpz.example. from 192.0.2.53:53, 192.0.2.54:5353, [2001:db8::53]:53, \
             [2001:db8::54]:53 with TSIG key feed-key."
        );
        assert_eq!(
            policy.feeds[3].location.to_string(),
            "https://example.com/hosts.txt, refreshed every 1d"
        );
    }

    #[test]
    fn policy_state_directory_and_extra_text_have_defaults() {
        let policy = parse_ok("").policy;
        assert_eq!(policy.state_directory, PathBuf::from("/var/lib/hanse"));
        assert!(policy.extra_text);
        assert!(policy.is_empty());
        // Settings alone do not turn filtering on.
        let policy =
            parse_ok("[policy]\nstate_directory = \"/srv/hanse\"\nextra_text = true\n").policy;
        assert_eq!(policy.state_directory, PathBuf::from("/srv/hanse"));
        assert!(policy.extra_text);
        assert!(policy.is_empty());

        let files = PolicyFiles::new("state");
        let relative = files
            .parse("[policy]\nstate_directory = \"../hanse-state\"\n")
            .expect("valid");
        assert_eq!(
            relative.policy.state_directory,
            files.0.join("../hanse-state")
        );
        assert_eq!(
            files.positions("[policy]\nstate_directory = \"malware.rpz\"\nextra_text = \"yes\"\n"),
            [
                format!(
                    "2:19: policy.state_directory: {} exists and is not a directory",
                    files.0.join("malware.rpz").display()
                ),
                "3:14: policy.extra_text: expected a boolean (true or false), found a string"
                    .to_owned(),
            ]
        );
        assert_one_problem(
            "[policy]\nstate_directory = \"\"\n",
            2,
            19,
            "policy.state_directory: is empty; remove the key for the default \"/var/lib/hanse\"",
        );
        assert_one_problem(
            "[policy]\nstate_directory = 1\n",
            2,
            19,
            "policy.state_directory: expected a string, found an integer",
        );
    }

    #[test]
    fn feed_source_rules_are_reported_at_their_keys() {
        let files = PolicyFiles::new("sources");
        let text = r#"[[policy.feed]]
name = "three"
format = "rpz"
file = "malware.rpz"
url = "https://example.com/zone"
zone = "rpz.example."
primaries = ["192.0.2.53"]

[[policy.feed]]
name = "none"
format = "hosts"

[[policy.feed]]
name = "url-with-transfer-keys"
format = "hosts"
url = "https://example.com/hosts"
primaries = ["192.0.2.53"]
tsig_key = "feed-key."

[[policy.feed]]
name = "zone-without-primaries"
format = "rpz"
zone = "rpz.example."

[[policy.feed]]
name = "zone-for-a-list"
format = "domains"
zone = "list.example."
primaries = ["192.0.2.53"]

[[policy.feed]]
name = "file-with-refresh"
format = "domains"
file = "social.domains"
refresh = "1h"

[[policy.feed]]
name = "zone-with-origin"
format = "rpz"
zone = "rpz.example."
origin = "other.example."
primaries = ["192.0.2.53"]

[[policy.feed]]
name = "zone-with-refresh"
refresh = "1h"
format = "rpz"
zone = "rpz.example."
primaries = ["192.0.2.53"]

[[policy.feed]]
name = "url-list-with-origin"
format = "hosts"
url = "https://example.com/hosts"
origin = "lists.example."
"#;
        assert_eq!(
            files.positions(text),
            [
                "5:1: policy.feed[0].url: conflicts with \"file\"; a feed takes exactly one of \"file\", \"url\" or \"zone\"",
                "6:1: policy.feed[0].zone: conflicts with \"file\"; a feed takes exactly one of \"file\", \"url\" or \"zone\"",
                "9:1: policy.feed[1]: missing key \"file\", \"url\" or \"zone\" (where the feed comes from)",
                "17:1: policy.feed[2].primaries: only with zone = \"...\" (a feed by zone transfer)",
                // Not looked up among the keys (none is configured): the
                // key is not allowed here in the first place.
                "18:1: policy.feed[2].tsig_key: only with zone = \"...\" (a feed by zone transfer)",
                "20:1: policy.feed[3]: missing key \"primaries\" (the servers the zone is transferred from)",
                "28:1: policy.feed[4].zone: only for format = \"rpz\", not \"domains\"",
                "35:1: policy.feed[5].refresh: only with url = \"...\" (a feed by HTTP or HTTPS)",
                "41:10: policy.feed[6].origin: not allowed with zone = \"...\": the zone's name is its origin",
                "46:1: policy.feed[7].refresh: only with url = \"...\" (a feed by HTTP or HTTPS)",
                "55:10: policy.feed[8].origin: only for format = \"rpz\", not \"hosts\"",
            ]
        );
    }

    #[test]
    fn issue_8_served_feeds_are_read_and_checked() {
        let files = PolicyFiles::new("serve");
        let text = format!(
            r#"[[policy.tsig_key]]
name = "fleet-key."
secret = "{SECRET}"

[[policy.feed]]
name = "malware"
format = "rpz"
file = "malware.rpz"
origin = "rpz.example."

[[policy.feed]]
name = "social"
format = "domains"
file = "social.domains"

[[policy.serve]]
feed = "malware"
zone = "rpz.example."
notify = ["192.0.2.10:5353", "192.0.2.11"]
tsig_key = "fleet-key."
journal = 3

[[policy.serve]]
feed = "social"
suffix = "feeds.example."
allow_transfer = ["198.51.100.0/24"]
"#
        );
        let config = files.parse(&text).expect("valid");
        let serve = &config.policy.serve;
        assert_eq!(serve.len(), 2);
        assert_eq!(serve[0].zone, Name::from_ascii("rpz.example.").unwrap());
        assert_eq!(serve[0].notify.len(), 2);
        assert_eq!(serve[0].notify[1].port(), 53);
        // allow_transfer defaults to the NOTIFY targets.
        assert_eq!(serve[0].allow_transfer.len(), 2);
        assert!(serve[0].allow_transfer[0].contains("192.0.2.10".parse().unwrap()));
        assert_eq!(
            serve[0].tsig_key.as_ref().map(|key| key.name.to_string()),
            Some("fleet-key.".to_owned())
        );
        assert_eq!(serve[0].journal, 3);
        assert_eq!(
            serve[1].zone,
            Name::from_ascii("social.feeds.example.").unwrap()
        );
        assert_eq!(serve[1].journal, DEFAULT_JOURNAL);
        assert!(serve[1].tsig_key.is_none());

        // "*" serves every feed under the suffix.
        let text = "[[policy.feed]]\nname = \"malware\"\nformat = \"rpz\"\nfile = \"malware.rpz\"\norigin = \"rpz.example.\"\n\
             [[policy.feed]]\nname = \"social\"\nformat = \"domains\"\nfile = \"social.domains\"\n\
             [[policy.serve]]\nfeed = \"*\"\n";
        let config = files.parse(text).expect("valid");
        let zones: Vec<String> = config
            .policy
            .serve
            .iter()
            .map(|served| served.zone.to_string())
            .collect();
        assert_eq!(zones, ["malware.rpz.hanse.", "social.rpz.hanse."]);

        let text = r#"[[policy.feed]]
name = "malware"
format = "rpz"
file = "malware.rpz"
origin = "rpz.example."

[[policy.serve]]
feed = "nothing"

[[policy.serve]]
feed = "*"
zone = "x.example."

[[policy.serve]]
feed = "malware"
journal = 5000
tsig_key = "nobody."
colour = "blue"

[[policy.serve]]
zone = "y.example."

[[policy.serve]]
feed = "malware"
allow_transfer = ["not a network"]

[[policy.serve]]
feed = "malware"

[[policy.serve]]
feed = "malware"
"#;
        assert_eq!(
            files.positions(text),
            [
                "8:8: policy.serve[0].feed: unknown feed \"nothing\" (configured: \"malware\"; \"*\" serves every feed)",
                "12:8: policy.serve[1].zone: not allowed with feed = \"*\": each feed is served as <feed>.<suffix>",
                "16:11: policy.serve[2].journal: 5000 is out of range 0..=1000",
                "17:12: policy.serve[2].tsig_key: unknown TSIG key \"nobody.\" (no [[policy.tsig_key]] is configured)",
                "18:1: policy.serve[2].colour: unknown key; expected one of: feed, zone, suffix, notify, allow_transfer, tsig_key, journal",
                "20:1: policy.serve[3]: missing key \"feed\" (a feed name, or \"*\" for every feed)",
                "25:19: policy.serve[4].allow_transfer[0]: \"not a network\" is not a network such as \"10.0.0.0/8\": not an IP address",
                "30:1: policy.serve[6]: feed \"malware\" is already served as zone malware.rpz.hanse.",
            ]
        );
    }

    #[test]
    fn tsig_keys_are_checked() {
        let files = PolicyFiles::new("tsig");
        std::fs::write(files.0.join("bad.key"), "not base64!\n").expect("key file");
        std::fs::write(files.0.join("empty.key"), " \n").expect("key file");
        std::fs::write(files.0.join("large.key"), "A".repeat(5000)).expect("key file");
        let missing_key = files.0.join("missing.key");
        let text = format!(
            r#"[[policy.tsig_key]]
name = "feed-key."
secret = "not base64!"

[[policy.tsig_key]]
name = "FEED-KEY"
secret = "{SECRET}"

[[policy.tsig_key]]
name = "empty."
secret = ""

[[policy.tsig_key]]
name = "both."
secret = "{SECRET}"
secret_file = "bad.key"

[[policy.tsig_key]]
name = "none."
algorithm = "hmac-sha256"

[[policy.tsig_key]]
name = "missing-file."
secret_file = "missing.key"

[[policy.tsig_key]]
name = "bad-file."
secret_file = "bad.key"

[[policy.tsig_key]]
name = "empty-file."
secret_file = "empty.key"

[[policy.tsig_key]]
name = "large-file."
secret_file = "large.key"

[[policy.tsig_key]]
name = "md5."
algorithm = "hmac-md5"
secret = "{SECRET}"
colour = "blue"

[[policy.feed]]
name = "broken-key"
format = "rpz"
zone = "rpz.example."
primaries = ["192.0.2.53"]
tsig_key = "feed-key."

[[policy.feed]]
name = "unknown-key"
format = "rpz"
zone = "rpz.example."
primaries = ["192.0.2.53"]
tsig_key = "nobody."
"#
        );
        assert_eq!(
            files.positions(&text),
            [
                "3:10: policy.tsig_key[0].secret: the secret is not valid base64".to_owned(),
                "6:8: policy.tsig_key[1].name: TSIG key \"FEED-KEY.\" is already defined at policy.tsig_key[0].name".to_owned(),
                "11:10: policy.tsig_key[2].secret: the secret is empty".to_owned(),
                "16:1: policy.tsig_key[3].secret_file: conflicts with \"secret\"; a TSIG key takes exactly one of \"secret\" or \"secret_file\"".to_owned(),
                "18:1: policy.tsig_key[4]: missing key \"secret\" or \"secret_file\"".to_owned(),
                format!(
                    "24:15: policy.tsig_key[5].secret_file: cannot use {}: No such file or directory (os error 2)",
                    missing_key.display()
                ),
                "28:15: policy.tsig_key[6].secret_file: the secret is not valid base64 (in the file)".to_owned(),
                "32:15: policy.tsig_key[7].secret_file: the secret is empty (in the file)".to_owned(),
                format!(
                    "36:15: policy.tsig_key[8].secret_file: {} is larger than 4KiB; it should hold only the base64 secret",
                    files.0.join("large.key").display()
                ),
                "40:13: policy.tsig_key[9].algorithm: \"hmac-md5\" is not one of \"hmac-sha256\", \"hmac-sha512\"".to_owned(),
                "42:1: policy.tsig_key[9].colour: unknown key; expected one of: name, algorithm, secret, secret_file".to_owned(),
                // feed[0] names a key with a problem of its own: not reported again.
                "56:12: policy.feed[1].tsig_key: unknown TSIG key \"nobody.\" (configured: \"feed-key.\", \"empty.\", \"both.\", \"none.\", \"missing-file.\", \"bad-file.\", \"empty-file.\", \"large-file.\", \"md5.\")".to_owned(),
            ]
        );
        // A key entry without a valid name: references are not checked
        // against the keys (the reference might be that key).
        let text = r#"[[policy.tsig_key]]
name = "bad name."
secret = "c2VjcmV0"

[[policy.tsig_key]]
secret = "c2VjcmV0"

[[policy.feed]]
name = "unknown-key"
format = "rpz"
zone = "rpz.example."
primaries = ["192.0.2.53"]
tsig_key = "nobody."
"#;
        assert_eq!(
            files.positions(text),
            [
                "2:8: policy.tsig_key[0].name: \"bad name.\" is not a domain name: it contains white space or a control character",
                "5:1: policy.tsig_key[1]: missing key \"name\"",
            ]
        );
        assert_eq!(
            files.positions(
                "[policy]\ntsig_key = \"feed-key.\"\n[[policy.feed]]\nname = \"x\"\nformat = \"rpz\"\nzone = \"rpz.example.\"\nprimaries = [\"192.0.2.53\"]\ntsig_key = 5\n"
            ),
            [
                "2:12: policy.tsig_key: expected an array of tables ([[policy.tsig_key]] entries), found a string",
                "8:12: policy.feed[0].tsig_key: expected a string, found an integer",
            ]
        );
    }

    #[test]
    fn primaries_are_parsed_and_checked() {
        let files = PolicyFiles::new("primaries");
        let primaries = |list: &str| {
            let text = format!(
                "[[policy.feed]]\nname = \"zone\"\nformat = \"rpz\"\nzone = \"rpz.example.\"\nprimaries = {list}\n"
            );
            match files.parse(&text) {
                Ok(config) => match &config.policy.feeds[0].location {
                    FeedLocation::Transfer { primaries, .. } => Ok(primaries.clone()),
                    other => panic!("not a transfer: {other:?}"),
                },
                Err(problems) => Err(problems
                    .iter()
                    .map(|problem| {
                        format!("{}:{}: {}", problem.line, problem.column, problem.message)
                    })
                    .collect::<Vec<_>>()),
            }
        };
        assert_eq!(
            primaries(r#"["192.0.2.1", "[2001:db8::1]", "2001:db8::2", "[2001:db8::3]:5353"]"#),
            Ok(vec![
                address("192.0.2.1:53"),
                address("[2001:db8::1]:53"),
                address("[2001:db8::2]:53"),
                address("[2001:db8::3]:5353"),
            ])
        );
        assert_eq!(
            primaries(r#"["primary.example", "192.0.2.1:0", "2001:db8::1:port", 53]"#),
            Err(vec![
                "5:14: policy.feed[0].primaries[0]: \"primary.example\" is not an address:port"
                    .to_owned(),
                "5:33: policy.feed[0].primaries[1]: \"192.0.2.1:0\" has port 0".to_owned(),
                "5:48: policy.feed[0].primaries[2]: \"2001:db8::1:port\" is not an address:port; write an IPv6 address with a port in brackets, as in \"[2001:db8::1]:53\"".to_owned(),
                "5:68: policy.feed[0].primaries[3]: expected a string, found an integer".to_owned(),
            ])
        );
        assert_eq!(
            primaries("[]"),
            Err(vec![
                "5:13: policy.feed[0].primaries: needs at least one address".to_owned()
            ])
        );
        assert_eq!(
            primaries(r#"["192.0.2.1", "192.0.2.1:53"]"#),
            Err(vec![
                "5:27: policy.feed[0].primaries[1]: 192.0.2.1:53 is already listed at policy.feed[0].primaries[0]".to_owned()
            ])
        );
        assert_eq!(
            primaries(r#""192.0.2.1""#),
            Err(vec![
                "5:13: policy.feed[0].primaries: expected an array, found a string".to_owned()
            ])
        );
    }

    #[test]
    fn refresh_is_a_duration_from_a_minute_to_a_week() {
        let files = PolicyFiles::new("refresh");
        let refresh = |value: &str| {
            let text = format!(
                "[[policy.feed]]\nname = \"ads\"\nformat = \"hosts\"\nurl = \"https://example.com/hosts\"\nrefresh = {value}\n"
            );
            match files.parse(&text) {
                Ok(config) => match &config.policy.feeds[0].location {
                    FeedLocation::Url { refresh, .. } => Ok(*refresh),
                    other => panic!("not a URL: {other:?}"),
                },
                Err(problems) => Err(problems
                    .iter()
                    .map(|problem| {
                        format!("{}:{}: {}", problem.line, problem.column, problem.message)
                    })
                    .collect::<Vec<_>>()),
            }
        };
        assert_eq!(refresh("\"1m\""), Ok(Duration::from_secs(60)));
        assert_eq!(refresh("\"7d\""), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(refresh("\"2d\""), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(refresh("\"12h\""), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(refresh("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(
            refresh("\"59s\""),
            Err(vec![
                "5:11: policy.feed[0].refresh: 59s is out of range 1m..=7d".to_owned()
            ])
        );
        assert_eq!(
            refresh("\"8d\""),
            Err(vec![
                "5:11: policy.feed[0].refresh: 8d is out of range 1m..=7d".to_owned()
            ])
        );
        assert_eq!(
            refresh("\"1 day\""),
            Err(vec![
                "5:11: policy.feed[0].refresh: \"1 day\" is not a duration; write a whole number with ms, s, m, h or d, as in \"500ms\" or \"10s\"".to_owned()
            ])
        );
        assert_eq!(
            refresh("true"),
            Err(vec![
                "5:11: policy.feed[0].refresh: expected a duration (a string such as \"10s\" or an integer of seconds), found a boolean".to_owned()
            ])
        );
    }

    #[test]
    fn feed_urls_are_checked() {
        for good in [
            "https://example.com/hosts.txt",
            "http://example.com",
            "HTTPS://Lists.Example.COM./a/b?c=d&e=f#g",
            "http://192.0.2.1:8080/list",
            "https://[2001:db8::1]/list",
            "https://[2001:db8::1]:8443",
            "https://xn--bcher-kva.example/list",
            "https://example.com/%20spaced",
        ] {
            assert_eq!(check_feed_url(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            (
                "ftp://example.com/hosts",
                "the scheme \"ftp\" is not http or https",
            ),
            (
                "example.com/hosts",
                "it does not start with http:// or https://",
            ),
            (
                "https:/example.com",
                "it does not start with http:// or https://",
            ),
            ("https://", "it has no host"),
            ("https:///hosts", "it has no host"),
            ("https://:443/hosts", "it has no host"),
            (
                "https://exa mple.com/",
                "it contains white space; percent-encode it as %20",
            ),
            (
                "https://example.com/a b",
                "it contains white space; percent-encode it as %20",
            ),
            (
                " https://example.com/",
                "it contains white space; percent-encode it as %20",
            ),
            (
                "https://example.com/\u{7f}",
                "it contains a control character",
            ),
            (
                "https://bücher.example/",
                "it contains a character that is not ASCII",
            ),
            (
                "https://user:secret@example.com/",
                "user names and passwords in the URL",
            ),
            (
                "https://example.com:0/",
                "the port \"0\" of \"example.com\" is not a number from 1 to 65535",
            ),
            (
                "https://example.com:65536/",
                "the port \"65536\" of \"example.com\" is not a number from 1 to 65535",
            ),
            (
                "https://example.com:/",
                "the port \"\" of \"example.com\" is not a number from 1 to 65535",
            ),
            (
                "https://example.com:80:80/",
                "the port \"80:80\" of \"example.com\"",
            ),
            (
                "https://[2001:db8::1/",
                "the IPv6 address has no closing \"]\"",
            ),
            (
                "https://[example.com]/",
                "\"example.com\" is not an IPv6 address",
            ),
            ("https://[2001:db8::1]x/", "\"x\" follows the IPv6 address"),
            (
                "https://-bad.example/",
                "\"-bad.example\" is not a host name",
            ),
            (
                "https://ex_ample.com/",
                "\"ex_ample.com\" is not a host name",
            ),
            (
                "https://example..com/",
                "\"example..com\" is not a host name",
            ),
        ] {
            match check_feed_url(bad) {
                Ok(()) => panic!("{bad:?} was accepted"),
                Err(message) => assert!(
                    message.contains(reason),
                    "{bad:?}: {message:?} does not contain {reason:?}"
                ),
            }
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert_eq!(
            check_feed_url(&long),
            Err("it is longer than 2048 characters".to_owned())
        );
        // Through the configuration: the position is the value's.
        let files = PolicyFiles::new("url");
        assert_eq!(
            files.positions(
                "[[policy.feed]]\nname = \"ads\"\nformat = \"hosts\"\nurl = \"https://exa mple.com/\"\n"
            ),
            ["4:7: policy.feed[0].url: \"https://exa mple.com/\" is not a feed URL: it contains white space; percent-encode it as %20"]
        );
    }

    #[test]
    fn the_filtering_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/filtering.toml");
        let config = load(&path).expect("examples/filtering.toml is valid");
        let names: Vec<&str> = config
            .policy
            .profiles
            .iter()
            .map(|profile| profile.name.as_str())
            .collect();
        assert_eq!(names, ["default", "kids"]);
        assert_eq!(config.policy.feeds.len(), 2);
        assert_eq!(config.policy.clients.len(), 1);
    }

    #[test]
    fn the_remote_feeds_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/feeds-remote.toml");
        let config = load(&path).expect("examples/feeds-remote.toml is valid");
        let policy = &config.policy;
        assert_eq!(policy.state_directory, PathBuf::from("/var/lib/hanse"));
        assert!(policy.extra_text);
        assert_eq!(policy.feeds.len(), 2);
        match &policy.feeds[0].location {
            FeedLocation::Transfer {
                zone,
                primaries,
                tsig_key: Some(key),
            } => {
                assert_eq!(*zone, name("rpz.example."));
                assert_eq!(
                    *primaries,
                    [
                        address("192.0.2.53:53"),
                        address("192.0.2.54:5353"),
                        address("[2001:db8::53]:53")
                    ]
                );
                assert_eq!(key.name, name("feed-key."));
                assert_eq!(key.algorithm, TsigAlgorithm::HmacSha256);
            }
            other => panic!("not a signed transfer: {other:?}"),
        }
        assert_eq!(
            policy.feeds[1].location,
            FeedLocation::Url {
                url: "https://lists.example/hosts.txt".to_owned(),
                refresh: Duration::from_secs(86_400),
            }
        );
    }

    #[test]
    fn helpers_describe_values_exactly() {
        assert_eq!(describe_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(describe_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(describe_duration(Duration::from_secs(90)), "90s");
        assert_eq!(describe_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(describe_duration(Duration::from_secs(90_000)), "25h");
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("99999999999999999d"), None);
        assert_eq!(describe_duration(Duration::from_nanos(1)), "1ns");
        assert_eq!(describe_size(1536 * 1024), "1536KiB");
        assert_eq!(describe_size(3), "3B");
        assert_eq!(edit_distance("listn", "listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(join_path("", "server"), "server");
        assert_eq!(join_path("server", "a.b"), "server.\"a.b\"");
    }

    /// All problems of a parse, as `FILE:LINE:COLUMN: MESSAGE` with the
    /// directory of `files` cut off.
    fn file_positions(
        files: &PolicyFiles,
        result: Result<Config, Vec<ConfigProblem>>,
    ) -> Vec<String> {
        let directory = format!("{}/", files.0.display());
        match result {
            Ok(config) => panic!("expected problems, got {config:?}"),
            Err(problems) => problems
                .iter()
                .map(|problem| problem.to_string().replace(&directory, ""))
                .collect(),
        }
    }

    #[test]
    fn api_and_query_log_defaults_are_as_documented() {
        let config = Config::default();
        assert!(config.api.enabled);
        assert_eq!(config.api.listen, address("127.0.0.1:8053"));
        assert!(config.api.tokens.is_empty());
        assert_eq!(config.api.policy_file, None);
        assert!(!config.query_log.enabled);
        assert_eq!(
            config.query_log.path,
            PathBuf::from("/var/lib/hanse/querylog.sqlite")
        );
        assert_eq!(config.query_log.privacy_level, 1);
        assert_eq!(config.query_log.retention_days, 7);
        assert!(config.query_log.exclude_clients.is_empty());
        assert!(config.query_log.exclude_names.is_empty());
        assert_eq!(config.query_log.queue_capacity, 65_536);
        // With a file: the policy file beside it, the query log in the state
        // directory.
        let files = PolicyFiles::new("api-defaults");
        let config = files
            .parse("[policy]\nstate_directory = \"state\"\n")
            .expect("valid");
        assert_eq!(config.api.policy_file, Some(files.0.join("hanse.api.toml")));
        assert_eq!(config.query_log.path, files.0.join("state/querylog.sqlite"));
        let config = parse_ok("[api]\n[query_log]\n");
        let mut expected = test_defaults();
        expected.api.configured = true;
        assert_eq!(config, expected);
    }

    #[test]
    fn every_api_and_query_log_key_parses() {
        let files = PolicyFiles::new("api-keys");
        std::fs::write(
            files.0.join("admin.token"),
            "\n  0123456789abcdef-admin  \n",
        )
        .expect("token file");
        let config = files
            .parse(
                r#"
[api]
enabled = false
listen = "[::]:9053"
policy_file = "managed/policy.toml"
[[api.token]]
scope = "read"
token = "read-only-token-0123"
[[api.token]]
scope = "admin"
token_file = "admin.token"

[query_log]
enabled = true
path = "log/queries.sqlite"
privacy_level = 0
retention_days = 3650
exclude_clients = ["10.1.2.3/8", "2001:db8::/32"]
exclude_names = ["example.com", "corp.example."]
queue_capacity = 10_000_000
"#,
            )
            .expect("valid");
        let expected_api = ApiSection {
            enabled: false,
            configured: true,
            listen: address("[::]:9053"),
            tokens: vec![
                ("read-only-token-0123".to_owned(), ApiScope::Read),
                ("0123456789abcdef-admin".to_owned(), ApiScope::Admin),
            ],
            policy_file: Some(files.0.join("managed/policy.toml")),
        };
        assert_eq!(config.api, expected_api);
        // Debug hides the tokens.
        let debug = format!("{:?}", config.api);
        assert!(!debug.contains("read-only-token"), "{debug}");
        assert!(debug.contains("Admin"), "{debug}");
        let expected_log = QueryLogSection {
            enabled: true,
            path: files.0.join("log/queries.sqlite"),
            privacy_level: 0,
            retention_days: 3650,
            exclude_clients: vec![
                ("10.0.0.0".parse().expect("address"), 8),
                ("2001:db8::".parse().expect("address"), 32),
            ],
            exclude_names: vec![name("example.com."), name("corp.example.")],
            queue_capacity: 10_000_000,
            dnstap: None,
        };
        assert_eq!(config.query_log, expected_log);
        // The lowest values of the ranges.
        let config =
            parse_ok("[query_log]\nprivacy_level = 3\nretention_days = 1\nqueue_capacity = 1\n");
        assert_eq!(
            (
                config.query_log.privacy_level,
                config.query_log.retention_days,
                config.query_log.queue_capacity
            ),
            (3, 1, 1)
        );
        // A listen address that is not loopback is fine with a token.
        let config = parse_ok(
            "[api]\nlisten = \"0.0.0.0:8053\"\n[[api.token]]\nscope = \"admin\"\n\
             token = \"0123456789abcdef\"\n",
        );
        assert_eq!(config.api.listen, address("0.0.0.0:8053"));
        // And without any, when the API is off.
        parse_ok("[api]\nenabled = false\nlisten = \"0.0.0.0:8053\"\n");
        parse_ok("[api]\nlisten = \"[::1]:1\"\n");
    }

    #[test]
    fn dnstap_tables_parse_and_their_problems_are_reported() {
        let config = parse_ok(
            "[query_log.dnstap]\naddress = \"127.0.0.1:6000\"\nidentity = \"node\"\n\
             messages = [\"client_response\"]\nqueue_capacity = 10\n",
        );
        assert!(!config.query_log.enabled);
        let dnstap = config.query_log.dnstap.expect("dnstap on");
        assert_eq!(
            dnstap.target,
            DnstapTarget::Tcp("127.0.0.1:6000".parse().expect("address"))
        );
        assert_eq!(dnstap.identity, "node");
        assert!(!dnstap.client_queries && dnstap.client_responses);
        assert_eq!(dnstap.queue_capacity, 10);
        assert!(dnstap.version.starts_with("hanse "));
        let config = parse_ok("[query_log.dnstap]\nsocket = \"/run/tap.sock\"\nenabled = false\n");
        assert_eq!(config.query_log.dnstap, None);
        for (text, fragment) in [
            (
                "[query_log.dnstap]\nidentity = \"x\"\n",
                "needs the collector",
            ),
            (
                "[query_log.dnstap]\nsocket = \"/a\"\naddress = \"127.0.0.1:1\"\n",
                "both socket and address",
            ),
            (
                "[query_log.dnstap]\naddress = \"127.0.0.1\"\n",
                "not an address with a port",
            ),
            (
                "[query_log.dnstap]\nsocket = \"/a\"\nmessages = []\n",
                "is empty",
            ),
            (
                "[query_log.dnstap]\nsocket = \"/a\"\nmessages = [\"auth_query\"]\n",
                "is not one of",
            ),
            (
                "[query_log.dnstap]\nsocket = \"/a\"\nbogus = 1\n",
                "unknown key",
            ),
            (
                "[query_log]\nprivacy_level = 3\n[query_log.dnstap]\nsocket = \"/a\"\n",
                "privacy_level 3",
            ),
        ] {
            let found = problems(text);
            assert!(
                found
                    .iter()
                    .any(|problem| problem.message.contains(fragment)),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn api_problems_are_reported_with_positions() {
        let text = r#"[api]
enabled = "yes"
listen = "127.0.0.1"
colour = 1
policy_file = ""
[[api.token]]
scope = "root"
token = "short"
[[api.token]]
token = "0123456789abcdef"
[[api.token]]
scope = "read"
[[api.token]]
scope = "read"
token = "0123456789abcdef"
token_file = "x"
[[api.token]]
scope = "read"
token = "0123456789 abcdef"
[[api.token]]
scope = "admin"
token = "0123456789abcdefXYZ"
[[api.token]]
scope = "read"
token = "0123456789abcdefXYZ"
[[api.token]]
scope = "read"
token_file = "no-such.token"
"#;
        let found = positions(text);
        assert_eq!(
            found,
            vec![
                "2:11: api.enabled: expected a boolean (true or false), found a string",
                "3:10: api.listen: \"127.0.0.1\" is not an address with a port, such as \
                 \"127.0.0.1:8053\" or \"[::1]:8053\"",
                "4:1: api.colour: unknown key; expected one of: enabled, listen, policy_file, token",
                "5:15: api.policy_file: is empty; remove the key for the default beside the \
                 configuration file",
                "7:9: api.token[0].scope: \"root\" is not one of \"read\", \"admin\"",
                "8:9: api.token[0].token: the token has 5 characters; it needs at least 16",
                "9:1: api.token[1]: missing key \"scope\" (\"read\" or \"admin\")",
                "11:1: api.token[2]: missing key \"token\" or \"token_file\"",
                "16:14: api.token[3].token_file: cannot use x: No such file or directory (os \
                 error 2)",
                "16:14: api.token[3]: give either \"token\" or \"token_file\", not both",
                "19:9: api.token[4].token: a token may hold only visible ASCII characters (no \
                 spaces or control characters)",
                "25:9: api.token[6]: the same token is already configured at api.token[5]",
                "28:14: api.token[7].token_file: cannot use no-such.token: No such file or \
                 directory (os error 2)",
            ]
        );
        // No token is ever echoed in a problem.
        for problem in &found {
            assert!(!problem.contains("0123456789"), "{problem}");
            assert!(!problem.contains("short\""), "{problem}");
        }
        // Open to the network: reported at listen, saying why.
        assert_one_problem(
            "[api]\nlisten = \"192.0.2.1:8053\"\n",
            2,
            10,
            "192.0.2.1 is not a loopback address and no [[api.token]] is configured: the API \
             would be open to the network",
        );
        assert_one_problem(
            "[api]\nlisten = \"[::]:8053\"\n",
            2,
            10,
            "would be open to the network",
        );
        assert_one_problem("[api]\nlisten = 8053\n", 2, 10, "expected a string");
        assert_one_problem("api = 1\n", 1, 7, "api: expected a table");
        assert_one_problem(
            "[api]\ntoken = \"0123456789abcdef\"\n",
            2,
            9,
            "api.token: expected an array of tables ([[api.token]] entries)",
        );
    }

    #[test]
    fn token_files_are_trimmed_and_checked() {
        let files = PolicyFiles::new("token-files");
        std::fs::write(files.0.join("short.token"), "abc\n").expect("token file");
        std::fs::write(files.0.join("big.token"), vec![b'a'; 5000]).expect("token file");
        std::fs::write(files.0.join("binary.token"), [0xff_u8; 20]).expect("token file");
        std::fs::create_dir_all(files.0.join("directory.token")).expect("directory");
        let found = files.positions(
            r#"[[api.token]]
scope = "read"
token_file = "short.token"
[[api.token]]
scope = "read"
token_file = "big.token"
[[api.token]]
scope = "read"
token_file = "binary.token"
[[api.token]]
scope = "read"
token_file = "directory.token"
"#,
        );
        let directory = files.0.display().to_string();
        let found: Vec<String> = found
            .iter()
            .map(|problem| problem.replace(&directory, "DIR"))
            .collect();
        assert_eq!(
            found,
            vec![
                "3:14: api.token[0].token_file: the token has 3 characters; it needs at least 16",
                "6:14: api.token[1].token_file: DIR/big.token is larger than 4KiB; it should \
                 hold only the token",
                "9:14: api.token[2].token_file: DIR/binary.token is not text; it should hold \
                 the token",
                "12:14: api.token[3].token_file: cannot use DIR/directory.token: not a regular \
                 file",
            ]
        );
    }

    #[test]
    fn query_log_problems_are_reported_with_positions() {
        let files = PolicyFiles::new("query-log-problems");
        let found = files.positions(
            r#"[query_log]
enabled = 1
path = "."
privacy_level = 4
retention_days = 0
exclude_clients = ["10.0.0.0/33", 7]
exclude_names = ["bad name", ""]
queue_capacity = 10_000_001
level = 1
"#,
        );
        let directory = files.0.display().to_string();
        let found: Vec<String> = found
            .iter()
            .map(|problem| problem.replace(&directory, "DIR"))
            .collect();
        assert_eq!(
            found,
            vec![
                "2:11: query_log.enabled: expected a boolean (true or false), found an integer",
                "3:8: query_log.path: DIR/. is a directory; name the database file",
                "4:17: query_log.privacy_level: 4 is out of range 0..=3",
                "5:18: query_log.retention_days: 0 is out of range 1..=3650",
                "6:20: query_log.exclude_clients[0]: \"10.0.0.0/33\" is not a network such as \
                 \"10.0.0.0/8\": the prefix length is longer than 32",
                "6:35: query_log.exclude_clients[1]: expected a string, found an integer",
                "7:18: query_log.exclude_names[0]: \"bad name\" is not a domain name: it \
                 contains white space or a control character",
                "7:30: query_log.exclude_names[1]: \"\" is not a domain name: it is empty; \
                 write \".\" for the root",
                "8:18: query_log.queue_capacity: 10000001 is out of range 1..=10000000",
                "9:1: query_log.level: unknown key; expected one of: enabled, path, \
                 privacy_level, retention_days, exclude_clients, exclude_names, queue_capacity, dnstap",
            ]
        );
        assert_one_problem(
            "[query_log]\nretention_days = 3651\n",
            2,
            18,
            "3651 is out of range 1..=3650",
        );
        assert_one_problem(
            "[query_log]\npath = \"\"\n",
            2,
            8,
            "query_log.path: is empty",
        );
        assert_one_problem(
            "[query_log]\nqueue_capacity = 0\n",
            2,
            18,
            "0 is out of range 1..=10000000",
        );
    }

    fn kids_profile() -> ProfileEntry {
        ProfileEntry {
            name: "kids".to_owned(),
            feeds: vec!["malware".to_owned(), "social".to_owned()],
            block_answer: Some(BlockAnswerEntry::Addresses(vec![
                "192.0.2.10".to_owned(),
                "2001:db8::10".to_owned(),
            ])),
            allowlist: vec!["school.example".to_owned()],
            safe_search: vec!["google".to_owned(), "youtube".to_owned()],
            time_zone: "Europe/Berlin".to_owned(),
            schedule: vec![ScheduleEntry {
                feed: "social".to_owned(),
                days: vec!["sun-thu".to_owned()],
                from: "21:00".to_owned(),
                to: "07:00".to_owned(),
            }],
            overrides: vec![OverrideEntry {
                feed: "malware".to_owned(),
                action: Some("cname:walled.example.".to_owned()),
                enabled: true,
                log: false,
                ede: Some("filtered".to_owned()),
            }],
        }
    }

    #[test]
    fn encrypted_listeners_take_default_ports_and_need_a_certificate() {
        let files = PolicyFiles::new("encrypted-listeners");
        std::fs::write(files.0.join("server.pem"), "").expect("certificate file");
        std::fs::write(files.0.join("server.key"), "").expect("key file");
        let config = files
            .parse(
                "[server]\nlisten = [\"127.0.0.1:53\"]\ntls_listen = [\"127.0.0.1\", \"[::1]:8853\"]\n\
                 https_listen = [\"127.0.0.1\"]\ndoh_cleartext_listen = [\"127.0.0.1\"]\n\
                 quic_listen = [\"127.0.0.1\", \"[::1]:8853\"]\n\
                 certificate = \"server.pem\"\nprivate_key = \"server.key\"\n",
            )
            .unwrap_or_else(|problems| panic!("{problems:#?}"));
        let server = &config.server;
        assert_eq!(
            server.tls_listen,
            [
                "127.0.0.1:853".parse::<SocketAddr>().unwrap(),
                "[::1]:8853".parse().unwrap()
            ]
        );
        assert_eq!(server.https_listen, ["127.0.0.1:443".parse().unwrap()]);
        assert_eq!(
            server.doh_cleartext_listen,
            ["127.0.0.1:80".parse().unwrap()]
        );
        // DoQ on UDP may share the addresses of DoT on TCP.
        assert_eq!(
            server.quic_listen,
            [
                "127.0.0.1:853".parse::<SocketAddr>().unwrap(),
                "[::1]:8853".parse().unwrap()
            ]
        );
        assert_eq!(server.quic_idle_timeout, Duration::from_secs(30));
        assert_eq!(server.max_quic_streams, 100);
        assert_eq!(server.certificate, Some(files.0.join("server.pem")));
        assert_eq!(server.private_key, Some(files.0.join("server.key")));
        // The cleartext listener alone needs no certificate.
        files
            .parse("[server]\ndoh_cleartext_listen = [\"127.0.0.1:8080\"]\n")
            .unwrap_or_else(|problems| panic!("{problems:#?}"));
        assert_eq!(
            files.positions("[server]\ntls_listen = [\"127.0.0.1\"]\n"),
            [
                "2:14: server.certificate: is needed by server.tls_listen, server.https_listen and server.quic_listen",
                "2:14: server.private_key: is needed by server.tls_listen, server.https_listen and server.quic_listen",
            ]
        );
        assert_eq!(
            files.positions("[server]\nquic_listen = [\"127.0.0.1\"]\n"),
            [
                "2:15: server.certificate: is needed by server.tls_listen, server.https_listen and server.quic_listen",
                "2:15: server.private_key: is needed by server.tls_listen, server.https_listen and server.quic_listen",
            ]
        );
        // DoQ binds UDP: not on an address `listen` serves UDP on; and its
        // own limits are checked.
        assert_eq!(
            files.positions(
                "[server]\nlisten = [\"127.0.0.1:853\"]\nquic_listen = [\"127.0.0.1\"]\n\
                 quic_idle_timeout = \"10ms\"\nmax_quic_connections = 4\n\
                 max_quic_connections_per_client = 5\nmax_quic_streams = 0\n\
                 certificate = \"server.pem\"\nprivate_key = \"server.key\"\n"
            ),
            [
                "3:16: server.quic_listen[0]: 127.0.0.1:853 is already listed at server.listen[0] (UDP)",
                "4:21: server.quic_idle_timeout: 10ms is out of range 100ms..=1h",
                "6:35: server.max_quic_connections_per_client: 5 is greater than server.max_quic_connections (4)",
                "7:20: server.max_quic_streams: 0 is out of range 1..=65536",
            ]
        );
        assert_eq!(
            files.positions("[server]\ncertificate = \"server.pem\"\n"),
            ["2:15: server.private_key: is needed with server.certificate"]
        );
        assert_eq!(
            files.positions(
                "[server]\nlisten = [\"127.0.0.1:853\"]\ntls_listen = [\"127.0.0.1\"]\n\
                 https_listen = [\"127.0.0.1:8443\", \"127.0.0.1:8443\"]\n\
                 certificate = \"missing.pem\"\nprivate_key = \"server.key\"\n"
            ),
            [
                "3:15: server.tls_listen[0]: 127.0.0.1:853 is already listed at server.listen[0]",
                "4:35: server.https_listen[1]: 127.0.0.1:8443 is already listed at server.https_listen[0]",
                &format!(
                    "5:15: server.certificate: cannot use {}: No such file or directory (os error 2)",
                    files.0.join("missing.pem").display()
                ),
            ]
        );
    }

    #[test]
    fn clients_map_by_doh_path_and_server_name_in_the_configuration_file_only() {
        let files = PolicyFiles::new("named-clients");
        let text = format!(
            "{TWO_FEEDS}\n[[policy.profile]]\nname = \"default\"\n\
             [[policy.profile]]\nname = \"kids\"\nfeeds = [\"malware\"]\n\
             [[policy.client]]\ndoh_path = \"/dns-query/kid1\"\nprofile = \"kids\"\n\
             [[policy.client]]\nserver_name = \"Kid1.DNS.example.net.\"\nprofile = \"kids\"\n\
             [[policy.client]]\ncidr = \"10.1.0.0/16\"\nprofile = \"kids\"\n"
        );
        let config = files
            .parse(&text)
            .unwrap_or_else(|problems| panic!("{problems:#?}"));
        let selectors: Vec<_> = config
            .policy
            .clients
            .iter()
            .map(|rule| rule.selector.clone())
            .collect();
        assert_eq!(
            selectors,
            [
                ClientSelector::DohPath("/dns-query/kid1".to_owned()),
                ClientSelector::ServerName("kid1.dns.example.net".to_owned()),
                ClientSelector::Network(Prefix::from_str("10.1.0.0/16").unwrap()),
            ]
        );
        // The API lists the network mappings of the file.
        let config_path = files.write_config("named.toml", &text);
        let loaded = load(&config_path).unwrap_or_else(|problems| panic!("{problems:#?}"));
        assert_eq!(loaded.policy.file_clients.len(), 1);
        assert_eq!(loaded.policy.file_clients[0].cidr, "10.1.0.0/16");

        let bad = format!(
            "{TWO_FEEDS}\n[[policy.profile]]\nname = \"default\"\n\
             [[policy.client]]\ndoh_path = \"/other/kid1\"\nprofile = \"default\"\n\
             [[policy.client]]\ndoh_path = \"/dns-query/a/b\"\nprofile = \"default\"\n\
             [[policy.client]]\nserver_name = \"not a name\"\nprofile = \"default\"\n\
             [[policy.client]]\nserver_name = \"a.example\"\nprofile = \"default\"\n\
             [[policy.client]]\nserver_name = \"A.example.\"\nprofile = \"default\"\n\
             [[policy.client]]\nprofile = \"default\"\n"
        );
        let problems = files.positions(&bad);
        let expected_fragments = [
            "policy.client[0].doh_path: \"/other/kid1\" is not a DoH path",
            "policy.client[1].doh_path: \"/dns-query/a/b\" is not a DoH path",
            "policy.client[2].server_name: \"not a name\" is not a server name",
            "policy.client[4].server_name: \"a.example\" is already mapped at policy.client[3].server_name",
            "policy.client[5]: missing key \"cidr\", \"doh_path\" or \"server_name\"",
        ];
        assert_eq!(problems.len(), expected_fragments.len(), "{problems:#?}");
        for (problem, fragment) in problems.iter().zip(expected_fragments) {
            assert!(problem.contains(fragment), "{problem} lacks {fragment}");
        }
    }

    #[test]
    fn the_api_policy_file_may_not_map_doh_paths() {
        let files = PolicyFiles::new("api-named-clients");
        let main = format!("{TWO_FEEDS}\n[[policy.profile]]\nname = \"default\"\n");
        let config_path = files.write_config("home.toml", &main);
        std::fs::write(
            files.0.join("home.api.toml"),
            "[[client]]\ndoh_path = \"/dns-query/x\"\nprofile = \"default\"\n",
        )
        .expect("policy file");
        let problems = load(&config_path).expect_err("refused");
        assert!(
            problems
                .iter()
                .any(|problem| problem.message.contains("not supported")
                    && problem.message.contains("configuration file")),
            "{problems:#?}"
        );
    }

    #[test]
    fn the_policy_file_round_trips_and_is_merged_after_the_configuration() {
        let files = PolicyFiles::new("policy-file-round-trip");
        let main = format!(
            "{TWO_FEEDS}\n[[policy.profile]]\nname = \"default\"\nfeeds = [\"malware\"]\n\n\
             [[policy.client]]\ncidr = \"10.1.0.0/16\"\nprofile = \"default\"\n"
        );
        let config_path = files.write_config("home.toml", &main);
        let profiles = vec![
            kids_profile(),
            ProfileEntry {
                name: "guests".to_owned(),
                feeds: Vec::new(),
                block_answer: Some(BlockAnswerEntry::Mode("refused".to_owned())),
                allowlist: Vec::new(),
                safe_search: Vec::new(),
                time_zone: "UTC".to_owned(),
                schedule: Vec::new(),
                overrides: Vec::new(),
            },
        ];
        let clients = vec![
            ClientEntry {
                cidr: "10.2.0.0/16".to_owned(),
                profile: "kids".to_owned(),
            },
            ClientEntry {
                cidr: "2001:db8:1::/48".to_owned(),
                profile: "guests".to_owned(),
            },
            ClientEntry {
                cidr: "192.0.2.7/32".to_owned(),
                profile: "default".to_owned(),
            },
        ];
        let text = render_policy_file(&profiles, &clients).expect("render");
        assert!(
            text.starts_with("# Profiles and client mappings managed"),
            "{text}"
        );
        std::fs::write(files.0.join("home.api.toml"), &text).expect("policy file");
        let config = load(&config_path).unwrap_or_else(|problems| panic!("{problems:#?}\n{text}"));
        assert_eq!(config.api.policy_file, Some(files.0.join("home.api.toml")));
        assert_eq!(config.policy.api_profiles, profiles);
        assert_eq!(config.policy.api_clients, clients);
        let names: Vec<&str> = config
            .policy
            .profiles
            .iter()
            .map(|profile| profile.name.as_str())
            .collect();
        assert_eq!(names, ["default", "kids", "guests"]);
        let kids = &config.policy.profiles[1];
        assert_eq!(kids.time_zone, "Europe/Berlin");
        assert_eq!(kids.feeds[0].ede, EdeCode::Filtered);
        assert!(!kids.feeds[0].log);
        assert_eq!(kids.feeds[1].schedule.len(), 1);
        assert_eq!(kids.allowlist, vec![name("school.example.")]);
        assert_eq!(config.policy.clients.len(), 4);
        assert_eq!(config.policy.clients[1].profile, "kids");
        // Rendering what was read gives the same text again.
        assert_eq!(
            render_policy_file(&config.policy.api_profiles, &config.policy.api_clients)
                .expect("render"),
            text
        );
        // Nothing rendered: an empty but valid file.
        let empty = render_policy_file(&[], &[]).expect("render");
        std::fs::write(files.0.join("home.api.toml"), &empty).expect("policy file");
        let config = load(&config_path).expect("empty policy file");
        assert!(config.policy.api_profiles.is_empty());
        assert_eq!(config.policy.profiles.len(), 1);
        // Client networks are kept canonically.
        std::fs::write(
            files.0.join("home.api.toml"),
            "[[client]]\ncidr = \"10.3.4.5/16\"\nprofile = \"default\"\n",
        )
        .expect("policy file");
        let config = load(&config_path).expect("valid");
        assert_eq!(config.policy.api_clients[0].cidr, "10.3.0.0/16");
    }

    #[test]
    fn policy_file_problems_name_the_policy_file_and_its_positions() {
        let files = PolicyFiles::new("policy-file-problems");
        let main = format!(
            "{TWO_FEEDS}\n[[policy.profile]]\nname = \"default\"\nfeeds = [\"malware\"]\n\n\
             [[policy.client]]\ncidr = \"10.1.0.0/16\"\nprofile = \"default\"\n\n\
             [api]\npolicy_file = \"api/policy.toml\"\n"
        );
        let config_path = files.write_config("hanse.toml", &main);
        std::fs::create_dir_all(files.0.join("api")).expect("directory");
        let policy = r#"[[profile]]
name = "default"
feeds = ["social"]

[[profile]]
name = "kids"
feeds = ["malware", "gambling"]
colour = "red"

[[client]]
cidr = "10.1.0.0/16"
profile = "kids"

[[client]]
cidr = "10.9.0.0/16"
profile = "adults"

[settings]
"#;
        std::fs::write(files.0.join("api/policy.toml"), policy).expect("policy file");
        assert_eq!(
            file_positions(&files, load(&config_path)),
            vec![
                "api/policy.toml:2:8: profile[0].name: profile \"default\" is already defined \
                 at policy.profile[0].name in hanse.toml",
                "api/policy.toml:7:21: profile[1].feeds[1]: unknown feed \"gambling\" \
                 (configured: \"malware\", \"social\")",
                "api/policy.toml:8:1: profile[1].colour: unknown key; expected one of: name, \
                 feeds, block_answer, allowlist, safe_search, time_zone, schedule, override",
                "api/policy.toml:11:8: client[0].cidr: 10.1.0.0/16 is already mapped at \
                 policy.client[0].cidr in hanse.toml",
                "api/policy.toml:16:11: client[1].profile: unknown profile \"adults\" \
                 (configured: \"default\", \"kids\")",
                "api/policy.toml:18:2: settings: unknown section; expected one of: profile, client",
            ]
        );
        // Problems of both files: the configuration file's first.
        let broken_main = main.replace("feeds = [\"malware\"]", "feeds = [\"nothing\"]");
        let config_path = files.write_config("hanse.toml", &broken_main);
        let found = file_positions(&files, load(&config_path));
        assert!(found[0].starts_with("hanse.toml:"), "{found:#?}");
        assert!(
            found
                .last()
                .expect("problems")
                .starts_with("api/policy.toml:"),
            "{found:#?}"
        );
        // A syntax error in the policy file.
        let config_path = files.write_config("hanse.toml", &main);
        std::fs::write(files.0.join("api/policy.toml"), "[[profile]\nname = 1\n")
            .expect("policy file");
        let found = file_positions(&files, load(&config_path));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("api/policy.toml:1:"), "{found:#?}");
        assert!(found[0].contains("TOML syntax error"), "{found:#?}");
        // A policy file that cannot be read.
        std::fs::remove_file(files.0.join("api/policy.toml")).expect("remove");
        std::fs::create_dir_all(files.0.join("api/policy.toml")).expect("directory");
        let found = file_positions(&files, load(&config_path));
        assert_eq!(
            found,
            vec!["hanse.toml:23:15: api.policy_file: api/policy.toml is a directory"]
        );
        std::fs::remove_dir(files.0.join("api/policy.toml")).expect("remove");
        // Missing: no entries, no problem.
        let config = load(&config_path).expect("no policy file");
        assert!(config.policy.api_profiles.is_empty());
        assert_eq!(config.policy.profiles.len(), 1);
    }

    #[test]
    fn the_default_profile_may_come_from_either_file() {
        let files = PolicyFiles::new("policy-file-default");
        // No profiles in the configuration file, none named default in the
        // policy file: reported in the policy file.
        let config_path = files.write_config("hanse.toml", "");
        std::fs::write(
            files.0.join("hanse.api.toml"),
            "# comment\n[[profile]]\nname = \"kids\"\n",
        )
        .expect("policy file");
        assert_eq!(
            file_positions(&files, load(&config_path)),
            vec![
                "hanse.api.toml:2:1: profile: no profile is named \"default\"; add one for the \
                 clients that no client mapping names"
            ]
        );
        // Profiles in the configuration file without a default, the default
        // in the policy file: fine.
        let config_path = files.write_config(
            "hanse.toml",
            &format!("{TWO_FEEDS}\n[[policy.profile]]\nname = \"kids\"\nfeeds = [\"social\"]\n"),
        );
        std::fs::write(
            files.0.join("hanse.api.toml"),
            "[[profile]]\nname = \"default\"\nfeeds = [\"malware\"]\n",
        )
        .expect("policy file");
        let config = load(&config_path).expect("default in the policy file");
        assert_eq!(config.policy.profiles[1].name, "default");
        // Feeds without profiles: the implicit default clashes with one in
        // the policy file.
        let config_path = files.write_config("hanse.toml", TWO_FEEDS);
        assert_eq!(
            file_positions(&files, load(&config_path)),
            vec![
                "hanse.api.toml:2:8: profile[0].name: profile \"default\" is already defined at \
                 the implicit default profile in hanse.toml"
            ]
        );
    }

    #[test]
    fn a_policy_text_is_checked_before_it_is_saved_atomically() {
        let files = PolicyFiles::new("policy-file-save");
        let config_path = files.write_config("hanse.toml", TWO_FEEDS);
        let policy_path = files.0.join("hanse.api.toml");
        let clients = vec![ClientEntry {
            cidr: "10.4.0.0/16".to_owned(),
            profile: "default".to_owned(),
        }];
        let good = render_policy_file(&[], &clients).expect("render");
        let config = load_with_policy_text(&config_path, &good).expect("valid change");
        assert_eq!(config.policy.api_clients, clients);
        // Checking writes nothing.
        assert!(!policy_path.exists());
        let bad_clients = vec![ClientEntry {
            cidr: "10.4.0.0/16".to_owned(),
            profile: "nobody".to_owned(),
        }];
        let bad = render_policy_file(&[], &bad_clients).expect("render");
        let problems = load_with_policy_text(&config_path, &bad).expect_err("refused");
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].file, policy_path.display().to_string());
        assert!(
            problems[0].message.contains("unknown profile \"nobody\""),
            "{problems:#?}"
        );
        // Saving replaces the file whole and leaves no temporary file.
        save_policy_file(&policy_path, &good).expect("save");
        save_policy_file(&policy_path, &good).expect("save again");
        assert_eq!(std::fs::read_to_string(&policy_path).expect("read"), good);
        let leftovers: Vec<_> = std::fs::read_dir(&files.0)
            .expect("directory")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(
            load(&config_path).expect("saved").policy.api_clients,
            clients
        );
        // A directory that does not exist: an error, nothing written.
        let missing = files.0.join("missing/hanse.api.toml");
        assert!(save_policy_file(&missing, &good).is_err());
        assert!(!missing.exists());
    }
}
