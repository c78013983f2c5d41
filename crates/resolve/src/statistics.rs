//! Counters of the resolver's traffic with upstream servers (queries sent
//! per protocol, timeouts, network errors, malformed responses, fallbacks
//! to TCP and to plain DNS), a round-trip-time histogram per server, and
//! SERVFAIL answers by reason (RFC 8914 Extended DNS Error of the failure).
//!
//! [`LatencyHistogram`] is the fixed-bucket histogram of times in
//! milliseconds used here and by the server for resolution times: buckets
//! at [`LATENCY_BOUNDS_MS`] and one above, plus the sum, as Prometheus
//! histograms have them.
//!
//! # Limitations
//! - At most [`MAX_TRACKED_SERVERS`] servers are tracked one by one; when a
//!   new server arrives at a full table, the least-used one is folded into
//!   the "other servers" row (its counts move there, so the rows always add
//!   up to the totals) and the newcomer takes its place. A server tracked
//!   again after that starts from zero.
//! - The counters are shared by all workers (relaxed atomics, one mutex for
//!   the server table): they are touched once per upstream exchange, never
//!   on the cache-hit path.

use crate::outcome::ExtendedError;
use crate::transport::{Protocol, TransportError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the histogram buckets, in milliseconds; one more
/// bucket holds everything above the last.
pub const LATENCY_BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/// The number of buckets: one per bound and one above them all.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;
/// The most upstream servers with a row of their own.
pub const MAX_TRACKED_SERVERS: usize = 256;

/// The bucket of `elapsed`: the first whose bound it does not exceed.
fn bucket_of(elapsed: Duration) -> usize {
    let micros = elapsed.as_micros();
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&bound| micros <= u128::from(bound) * 1000)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// A histogram of durations with fixed buckets, safe to update from any thread.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_microseconds: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one duration.
    pub fn record(&self, elapsed: Duration) {
        self.buckets[bucket_of(elapsed)].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_microseconds.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|index| self.buckets[index].load(Ordering::Relaxed)),
            sum_microseconds: self.sum_microseconds.load(Ordering::Relaxed),
        }
    }
}

/// The counts of a histogram at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// How many durations fell in each bucket (not cumulative): bucket `i`
    /// holds those above bound `i - 1` and at most [`LATENCY_BOUNDS_MS`]`[i]`;
    /// the last bucket holds those above 5000 ms.
    pub counts: [u64; LATENCY_BUCKETS],
    /// The sum of all durations, in microseconds.
    pub sum_microseconds: u64,
}

impl HistogramSnapshot {
    /// The number of durations counted.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(0, |sum, count| sum.wrapping_add(*count))
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &HistogramSnapshot) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.wrapping_add(theirs);
        }
        self.sum_microseconds = self.sum_microseconds.wrapping_add(other.sum_microseconds);
    }

    /// Counts one duration (for histograms kept behind a lock).
    fn record(&mut self, elapsed: Duration) {
        self.counts[bucket_of(elapsed)] += 1;
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_microseconds = self.sum_microseconds.wrapping_add(micros);
    }
}

/// Why a resolution ended in SERVFAIL, from its Extended DNS Error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FailureReason {
    /// No server of a zone answered (EDE 22).
    NoReachableAuthority,
    /// The network refused (EDE 23).
    NetworkError,
    /// A limit on queries, CNAME links or delegations was reached.
    LimitReached,
    /// A CNAME or delegation loop.
    Loop,
    /// The time for the resolution ran out.
    Timeout,
    /// The servers' answers could not be used.
    InvalidData,
    /// Answered from the failure cache (RFC 9520).
    CachedFailure,
    /// Too many upstream queries outstanding for the zone or its servers.
    UpstreamBusy,
    /// Anything else.
    #[default]
    Other,
}

impl FailureReason {
    /// Every reason, in the order of [`UpstreamStatistics::failures`].
    pub const ALL: [FailureReason; 9] = [
        FailureReason::NoReachableAuthority,
        FailureReason::NetworkError,
        FailureReason::LimitReached,
        FailureReason::Loop,
        FailureReason::Timeout,
        FailureReason::InvalidData,
        FailureReason::CachedFailure,
        FailureReason::UpstreamBusy,
        FailureReason::Other,
    ];

    /// The reason of a failure with `error`.
    pub fn of(error: Option<&ExtendedError>) -> FailureReason {
        match error {
            Some(error) if *error == ExtendedError::NO_REACHABLE_AUTHORITY => {
                FailureReason::NoReachableAuthority
            }
            Some(error) if *error == ExtendedError::NETWORK_ERROR => FailureReason::NetworkError,
            Some(error) if *error == ExtendedError::LIMIT_REACHED => FailureReason::LimitReached,
            Some(error) if *error == ExtendedError::LOOP => FailureReason::Loop,
            Some(error) if *error == ExtendedError::TIMEOUT => FailureReason::Timeout,
            Some(error) if *error == ExtendedError::INVALID_DATA => FailureReason::InvalidData,
            Some(error) if *error == ExtendedError::CACHED_FAILURE => FailureReason::CachedFailure,
            Some(error) if *error == ExtendedError::UPSTREAM_BUSY => FailureReason::UpstreamBusy,
            _ => FailureReason::Other,
        }
    }

    /// The reason in snake case, for labels: `no_reachable_authority`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::NoReachableAuthority => "no_reachable_authority",
            FailureReason::NetworkError => "network_error",
            FailureReason::LimitReached => "limit_reached",
            FailureReason::Loop => "loop",
            FailureReason::Timeout => "timeout",
            FailureReason::InvalidData => "invalid_data",
            FailureReason::CachedFailure => "cached_failure",
            FailureReason::UpstreamBusy => "upstream_busy",
            FailureReason::Other => "other",
        }
    }

    fn index(self) -> usize {
        FailureReason::ALL
            .iter()
            .position(|reason| *reason == self)
            .unwrap_or(FailureReason::ALL.len() - 1)
    }
}

/// The traffic with one upstream server (or with all untracked ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStatistics {
    /// Queries sent.
    pub queries: u64,
    /// Queries that got no matching response in time.
    pub timeouts: u64,
    /// Round-trip times of the responses.
    pub rtt: HistogramSnapshot,
}

impl ServerStatistics {
    fn add(&mut self, other: &ServerStatistics) {
        self.queries = self.queries.wrapping_add(other.queries);
        self.timeouts = self.timeouts.wrapping_add(other.timeouts);
        self.rtt.add(&other.rtt);
    }
}

/// The resolver's upstream counters at one moment
/// ([`crate::Resolver::upstream_statistics`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStatistics {
    /// Queries sent over UDP.
    pub udp_queries: u64,
    /// Queries sent over TCP.
    pub tcp_queries: u64,
    /// Queries sent over TLS (DoT).
    pub tls_queries: u64,
    /// Queries sent over HTTPS (DoH).
    pub https_queries: u64,
    /// Exchanges without a matching response before the deadline.
    pub timeouts: u64,
    /// Exchanges the network refused (unreachable, refused, reset).
    pub network_errors: u64,
    /// Responses that could not be read.
    pub malformed: u64,
    /// Truncated UDP responses asked again over TCP.
    pub tcp_fallbacks: u64,
    /// Queries asked again without EDNS (RFC 6891 §7).
    pub edns_fallbacks: u64,
    /// SERVFAIL resolutions by reason, in the order of [`FailureReason::ALL`].
    pub failures: [(FailureReason, u64); FailureReason::ALL.len()],
    /// The tracked servers, in no particular order.
    pub servers: Vec<(SocketAddr, ServerStatistics)>,
    /// Every server without a row of its own, added up.
    pub other_servers: ServerStatistics,
    /// The DNS cookies of upstream queries (RFC 7873), from the transport.
    pub cookies: crate::CookieStatistics,
    /// NXDOMAIN and NODATA steps answered from cached validated NSEC
    /// records instead of asking upstream (RFC 8198).
    pub aggressive_answers: u64,
}

/// The bounded table of per-server rows.
#[derive(Debug, Default)]
struct ServerTable {
    rows: HashMap<SocketAddr, ServerStatistics, foldhash::fast::RandomState>,
    other: ServerStatistics,
}

impl ServerTable {
    /// The row of `server`, made (folding the least-used row into "other"
    /// when the table is full) if there is none.
    fn row(&mut self, server: SocketAddr) -> &mut ServerStatistics {
        if !self.rows.contains_key(&server) && self.rows.len() >= MAX_TRACKED_SERVERS {
            let least_used = self
                .rows
                .iter()
                .min_by_key(|(_, row)| row.queries)
                .map(|(address, _)| *address);
            if let Some(row) = least_used.and_then(|address| self.rows.remove(&address)) {
                self.other.add(&row);
            }
        }
        self.rows.entry(server).or_default()
    }
}

/// The live counters; see [`UpstreamStatistics`] for their meaning.
#[derive(Debug, Default)]
pub(crate) struct UpstreamCounters {
    udp_queries: AtomicU64,
    tcp_queries: AtomicU64,
    tls_queries: AtomicU64,
    https_queries: AtomicU64,
    timeouts: AtomicU64,
    network_errors: AtomicU64,
    malformed: AtomicU64,
    tcp_fallbacks: AtomicU64,
    edns_fallbacks: AtomicU64,
    failures: [AtomicU64; FailureReason::ALL.len()],
    servers: Mutex<ServerTable>,
    aggressive_answers: AtomicU64,
}

impl UpstreamCounters {
    /// A query sent to `server` over `protocol`, answered after `rtt` or failed.
    pub(crate) fn record_exchange(
        &self,
        server: SocketAddr,
        protocol: Protocol,
        outcome: Result<Duration, TransportError>,
    ) {
        match protocol {
            Protocol::Udp => &self.udp_queries,
            Protocol::Tcp => &self.tcp_queries,
            Protocol::Tls => &self.tls_queries,
            Protocol::Https => &self.https_queries,
        }
        .fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(_) => {}
            Err(TransportError::Timeout) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(TransportError::Network) => {
                self.network_errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(TransportError::Malformed) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut table = self.servers.lock();
        let row = table.row(server);
        row.queries += 1;
        match outcome {
            Ok(rtt) => row.rtt.record(rtt),
            Err(TransportError::Timeout) => row.timeouts += 1,
            Err(_) => {}
        }
    }

    /// A response that arrived but could not be parsed.
    pub(crate) fn record_malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// A truncated UDP response, asked again over TCP.
    pub(crate) fn record_tcp_fallback(&self) {
        self.tcp_fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// A negative step answered from validated NSEC records (RFC 8198).
    pub(crate) fn record_aggressive_answer(&self) {
        self.aggressive_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// A query asked again without EDNS.
    pub(crate) fn record_edns_fallback(&self) {
        self.edns_fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// A resolution that ended in SERVFAIL for `reason`.
    pub(crate) fn record_failure(&self, reason: FailureReason) {
        self.failures[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> UpstreamStatistics {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (servers, other_servers) = {
            let table = self.servers.lock();
            (
                table
                    .rows
                    .iter()
                    .map(|(address, row)| (*address, *row))
                    .collect(),
                table.other,
            )
        };
        UpstreamStatistics {
            udp_queries: load(&self.udp_queries),
            tcp_queries: load(&self.tcp_queries),
            tls_queries: load(&self.tls_queries),
            https_queries: load(&self.https_queries),
            timeouts: load(&self.timeouts),
            network_errors: load(&self.network_errors),
            malformed: load(&self.malformed),
            tcp_fallbacks: load(&self.tcp_fallbacks),
            edns_fallbacks: load(&self.edns_fallbacks),
            failures: std::array::from_fn(|index| {
                (FailureReason::ALL[index], load(&self.failures[index]))
            }),
            servers,
            other_servers,
            cookies: crate::CookieStatistics::default(),
            aggressive_answers: load(&self.aggressive_answers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_in_their_buckets() {
        let histogram = LatencyHistogram::default();
        for millis in [0, 1, 2, 3, 5000, 5001, 60_000] {
            histogram.record(Duration::from_millis(millis));
        }
        histogram.record(Duration::from_micros(1001));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts[0], 2, "0 and 1 ms");
        assert_eq!(snapshot.counts[1], 2, "1.001 and 2 ms");
        assert_eq!(snapshot.counts[2], 1, "3 ms");
        assert_eq!(snapshot.counts[11], 1, "5000 ms");
        assert_eq!(snapshot.counts[12], 2, "above 5000 ms");
        assert_eq!(snapshot.count(), 8);
        assert_eq!(snapshot.sum_microseconds, 70_008_001);
    }

    #[test]
    fn the_server_table_stays_bounded_and_adds_up() {
        let counters = UpstreamCounters::default();
        let busy: SocketAddr = "127.0.0.1:53".parse().unwrap();
        for _ in 0..10 {
            counters.record_exchange(busy, Protocol::Udp, Ok(Duration::from_millis(3)));
        }
        for index in 0..2000u32 {
            let octets = (10_000 + index).to_be_bytes();
            let server = SocketAddr::from(([127, octets[1], octets[2], octets[3]], 53));
            let outcome = if index % 2 == 0 {
                Ok(Duration::from_millis(40))
            } else {
                Err(TransportError::Timeout)
            };
            counters.record_exchange(server, Protocol::Udp, outcome);
        }
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.servers.len(), MAX_TRACKED_SERVERS);
        assert_eq!(snapshot.udp_queries, 2010);
        assert_eq!(snapshot.timeouts, 1000);
        // The busiest server keeps its row.
        let row = snapshot
            .servers
            .iter()
            .find(|(address, _)| *address == busy)
            .map(|(_, row)| *row)
            .expect("the busy server is tracked");
        assert_eq!(row.queries, 10);
        assert_eq!(row.rtt.counts[2], 10);
        // Rows and "other" add up to the totals.
        let mut total = snapshot.other_servers;
        for (_, row) in &snapshot.servers {
            total.add(row);
        }
        assert_eq!(total.queries, 2010);
        assert_eq!(total.timeouts, 1000);
        assert_eq!(total.rtt.count(), 1010);
    }

    #[test]
    fn failure_reasons_come_from_the_extended_error() {
        assert_eq!(
            FailureReason::of(Some(&ExtendedError::LOOP)),
            FailureReason::Loop
        );
        assert_eq!(FailureReason::of(None), FailureReason::Other);
        for (index, reason) in FailureReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index);
        }
    }
}
