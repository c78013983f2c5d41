//! Iterative resolution from the root (RFC 1034 §5.3.3, RFC 1035 §7), with
//! forwarding and stub zones, caching through `hanse-cache`, and the limits
//! that keep a resolver from being turned into a weapon (NXNSAttack, TsuNAME).
//!
//! The [`Resolver`] answers one question at a time with a [`Resolution`]: an
//! outcome value (NOERROR with data, NXDOMAIN, NODATA, SERVFAIL with an
//! Extended DNS Error), never a Rust error. It reaches the network only through
//! the [`Transport`] trait, so tests and scenario replays drive it without
//! sockets; [`NetworkTransport`] is the real UDP/TCP implementation.
//! [`Resolver::upstream_statistics`] counts the traffic with upstream
//! servers (per server, bounded) and SERVFAIL answers by reason.
//! `Limits::max_outstanding_per_zone` and `max_outstanding_per_server` cap
//! the upstream queries waiting at once (module `outstanding`): a flood for
//! one zone fails fast instead of tying up the resolver.
//!
//! RFCs: 1034, 1035, 2181 (trust ranking, bailiwick), 2308 (negative
//! caching), 6672 (DNAME), 6891 (EDNS), 7766 (TCP), 8020 (NXDOMAIN below),
//! 8914 (Extended DNS Errors), 9156 (QNAME minimisation), and the DNSSEC
//! RFCs listed below.
//!
//! DNSSEC validation (module `validate`, RFC 4033–4035, 5155, 6840, 7646)
//! gives every answer a [`Security`] status; [`Resolution::for_client`]
//! turns bogus answers into SERVFAIL with an Extended DNS Error and decides
//! the AD bit. The trust-anchor sentinel (RFC 8509, module `sentinel`)
//! answers false claims about the root's keys with SERVFAIL.
//! [`RuntimeTrust`] holds what changes while it runs: negative
//! trust anchors set by the operator and the trust anchors of RFC 5011
//! automated updates.
//!
//! # Limitations
//! - No connection reuse for TCP upstreams; every TCP exchange opens a
//!   connection. Encrypted upstreams (DoT, DoH; module `upstream_tls`) keep
//!   one shared connection each.
//! - Serve-stale (RFC 8767) answers positive RRsets and CNAME chains only,
//!   never stale negative answers; background work (prefetch, resolutions
//!   that outlast the client response timeout) needs a resolver made with
//!   [`Resolver::new_shared`] and a Tokio runtime that keeps running.

#![warn(missing_docs)]

mod clock;
mod coalesce;
mod config;
mod iterate;
mod outcome;
mod outstanding;
mod selection;
mod sentinel;
mod statistics;
mod transport;
mod trust;
mod upstream_tls;
mod validate;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use coalesce::InFlight;
pub use config::{
    DnssecConfig, Limits, QnameMinimisation, ResolverConfig, ResolverMode, StaleConfig, ZoneServers,
};
pub use hanse_cache::Security;
/// The DNSSEC primitives, for trust anchors in [`DnssecConfig`].
pub use hanse_dnssec;
pub use iterate::Resolver;
pub use outcome::{ClientAnswer, ExtendedError, Resolution};
pub use statistics::{
    FailureReason, HistogramSnapshot, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, LatencyHistogram,
    MAX_TRACKED_SERVERS, ServerStatistics, UpstreamStatistics,
};
pub use transport::{
    CookieStatistics, NetworkTransport, Protocol, Transport, TransportError, UpstreamQuery,
    response_matches,
};
pub use trust::{NegativeTrustAnchor, RuntimeTrust};
pub use upstream_tls::{
    DEFAULT_HTTPS_PATH, DEFAULT_HTTPS_PORT, DEFAULT_TLS_PORT, EncryptedProtocol, EncryptedUpstream,
    IDLE_TIMEOUT, MAX_OUTSTANDING, UpstreamTlsError, UpstreamTrust,
};
