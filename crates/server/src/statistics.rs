//! The service's counters: queries by transport and by type, responses by
//! response code (RFC 1035 §4.1.1, RFC 6891 §6.1.3 for the extended codes,
//! RFC 6895 §2.3 for the registry), answers from the hot path and the slow
//! path, answer-cache hits and misses, dropped queries by reason, policy hits
//! by (feed, profile, action), NOTIFY messages, and a histogram of the time
//! slow-path answers took.
//!
//! Each worker thread owns one [`WorkerCounters`], on cache lines of its
//! own; a snapshot adds the workers up. A worker is the only thread that
//! writes its counters, so an increment is a relaxed load and store, not a
//! locked read-modify-write: on the hot path a counter costs one memory add.
//! Policy hits are counted in a small map per worker behind a mutex that only
//! the worker and snapshots take, on the slow path (a rewritten answer always
//! takes it).
//!
//! # Limitations
//! - Queries whose question cannot be read count in no type.
//! - On the hot path the response code is read from the stored answer's
//!   header (4 bits): cached answers never carry extended response codes.
//! - At most [`MAX_POLICY_HIT_KEYS`] (feed, profile) pairs per worker are
//!   counted one by one; further pairs count under feed and profile
//!   `(other)`. Hits whose verdict passes the answer through (PASSTHRU)
//!   change nothing and are not counted.

use hanse_resolve::{HistogramSnapshot, LatencyHistogram};
use hanse_wire::{RType, Rcode};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where a query came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// DNS over UDP (RFC 1035 §4.2.1).
    Udp,
    /// DNS over TCP (RFC 1035 §4.2.2, RFC 7766).
    Tcp,
    /// DNS over TLS (RFC 7858).
    Tls,
    /// DNS over HTTPS (RFC 8484), over TLS or cleartext behind a reverse proxy.
    Https,
    /// DNS over QUIC (RFC 9250).
    Quic,
}

impl Transport {
    /// Every transport, in the order of [`ServiceSnapshot::queries_by_transport`].
    pub const ALL: [Transport; 5] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Https,
        Transport::Quic,
    ];

    /// The transport in lower case, for labels: `udp`, `tcp`, `tls`, `https`, `quic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Https => "https",
            Transport::Quic => "quic",
        }
    }

    /// Whether answers over this transport are limited to the client's UDP size.
    pub(crate) fn is_datagram(self) -> bool {
        self == Transport::Udp
    }
}

/// The query types counted one by one; all others count as `other`.
pub const COUNTED_TYPES: [RType; 14] = [
    RType::A,
    RType::AAAA,
    RType::CNAME,
    RType::MX,
    RType::TXT,
    RType::NS,
    RType::SOA,
    RType::PTR,
    RType::SRV,
    RType::HTTPS,
    RType::SVCB,
    RType::DS,
    RType::DNSKEY,
    RType::ANY,
];
/// The slots of the by-type counters: the counted types and `other`.
const TYPE_SLOTS: usize = COUNTED_TYPES.len() + 1;
/// The response codes counted one by one (0 to 23, RFC 6895 §2.3); all
/// others count as `other`.
pub const COUNTED_RCODES: usize = 24;
/// The most (feed, profile) pairs one worker counts policy hits for.
pub const MAX_POLICY_HIT_KEYS: usize = 4096;
/// The policy actions counted, in the order of [`PolicyHitCount::action`]'s values.
pub const POLICY_ACTIONS: [&str; 9] = [
    "nxdomain",
    "nodata",
    "drop",
    "tcp-only",
    "local-data",
    "cname",
    "block",
    "passthru",
    "safe-search",
];

/// The slot of a query type in the by-type counters.
fn type_slot(rtype: RType) -> usize {
    match rtype {
        RType::A => 0,
        RType::AAAA => 1,
        RType::CNAME => 2,
        RType::MX => 3,
        RType::TXT => 4,
        RType::NS => 5,
        RType::SOA => 6,
        RType::PTR => 7,
        RType::SRV => 8,
        RType::HTTPS => 9,
        RType::SVCB => 10,
        RType::DS => 11,
        RType::DNSKEY => 12,
        RType::ANY => 13,
        _ => COUNTED_TYPES.len(),
    }
}

/// Adds one to a counter only this thread writes: a load and a store.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Counters of one worker thread, on cache lines of their own so that
/// workers never write to a shared line on the query path. Only the worker
/// writes them; anyone may read.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerCounters {
    /// Queries received over UDP.
    pub udp_queries: AtomicU64,
    /// Queries received over TCP.
    pub tcp_queries: AtomicU64,
    /// Queries received over TLS (DoT).
    pub tls_queries: AtomicU64,
    /// Queries received over HTTPS (DoH).
    pub https_queries: AtomicU64,
    /// Queries received over QUIC (DoQ).
    pub quic_queries: AtomicU64,
    /// Answers served from the answer cache on the hot path.
    pub cache_hits: AtomicU64,
    /// Queries that needed a resolution.
    pub cache_misses: AtomicU64,
    /// Queries refused by the access list.
    pub refused: AtomicU64,
    /// Packets dropped without an answer because they are not a readable
    /// query (too short for a header, or a response).
    pub dropped: AtomicU64,
    /// Error responses for malformed or unsupported queries.
    pub malformed: AtomicU64,
    /// Answers rewritten by the filtering policy.
    pub policy_hits: AtomicU64,
    /// NOTIFY messages received (RFC 1996), whatever became of them.
    pub notify_received: AtomicU64,
    /// NOTIFY messages not accepted: no receiver, unknown zone, a source
    /// that is not a primary, or malformed.
    pub notify_refused: AtomicU64,
    /// Queries by type, in the order of [`COUNTED_TYPES`], then `other`.
    queries_by_type: [AtomicU64; TYPE_SLOTS],
    /// Responses sent by response code, 0 to 23, then `other`.
    responses_by_rcode: [AtomicU64; COUNTED_RCODES + 1],
    /// Answers sent after a resolution or a policy rewrite.
    slow_path_answers: AtomicU64,
    /// Look-ups in the answer cache that found nothing.
    answer_cache_misses: AtomicU64,
    /// Look-ups that found an answer the hot path could not serve (policy,
    /// size): it took the slow path.
    answer_cache_bypassed: AtomicU64,
    /// Queries dropped by a policy action (DROP).
    dropped_by_policy: AtomicU64,
    /// UDP queries dropped because the worker had too many resolutions under way.
    dropped_overload: AtomicU64,
    /// Resolutions given up under overload to make room for a newer query.
    overload_given_up: AtomicU64,
    /// Connections closed and datagrams dropped for their PROXY header:
    /// missing or invalid from a configured proxy, or sent by another peer.
    rejected_proxy_headers: AtomicU64,
    /// Resolutions by DNSSEC outcome, in the order of [`DNSSEC_OUTCOMES`].
    dnssec_outcomes: [AtomicU64; 4],
    /// Queries and responses held back by the rate limits, in the order of
    /// [`RATE_LIMIT_OUTCOMES`].
    rate_limited: [AtomicU64; RATE_LIMIT_OUTCOMES.len()],
    /// The time from receiving a query to its slow-path answer.
    resolution_time: LatencyHistogram,
    /// Policy hits by feed, then profile, then action.
    policy_hit_table: Mutex<PolicyHitTable>,
}

/// Policy hits of one worker: feed → profile → counts per action.
#[derive(Debug, Default)]
struct PolicyHitTable {
    hits: HashMap<Box<str>, HashMap<Box<str>, [u64; POLICY_ACTIONS.len()]>>,
    keys: usize,
}

/// The label of the pairs past [`MAX_POLICY_HIT_KEYS`].
const OTHER: &str = "(other)";

impl WorkerCounters {
    /// Counts a query received over `transport`.
    #[inline]
    pub fn count_query(&self, transport: Transport) {
        bump(match transport {
            Transport::Udp => &self.udp_queries,
            Transport::Tcp => &self.tcp_queries,
            Transport::Tls => &self.tls_queries,
            Transport::Https => &self.https_queries,
            Transport::Quic => &self.quic_queries,
        });
    }

    /// Counts a response sent for a question of type `rtype` with the
    /// response code `rcode`.
    #[inline]
    pub fn count_response(&self, rtype: RType, rcode: Rcode) {
        bump(&self.queries_by_type[type_slot(rtype)]);
        self.count_rcode(rcode);
    }

    /// Counts a response sent with `rcode` to a query whose question could
    /// not be read.
    #[inline]
    pub fn count_rcode(&self, rcode: Rcode) {
        let slot = usize::from(rcode.0).min(COUNTED_RCODES);
        bump(&self.responses_by_rcode[slot]);
    }

    /// Counts an answer served from the answer cache on the hot path: its
    /// question type and the response-code bits of its header.
    #[inline]
    pub fn count_hot_path_answer(&self, rtype: RType, rcode_bits: u8) {
        bump(&self.cache_hits);
        self.count_response(rtype, Rcode(u16::from(rcode_bits & 0x0f)));
    }

    /// Counts the type of a query dropped without an answer.
    pub(crate) fn count_dropped_type(&self, rtype: RType) {
        bump(&self.queries_by_type[type_slot(rtype)]);
    }

    /// Counts a look-up in the answer cache that found nothing.
    pub(crate) fn count_answer_cache_miss(&self) {
        bump(&self.answer_cache_misses);
    }

    /// Counts a cached answer the hot path could not serve.
    pub(crate) fn count_answer_cache_bypass(&self) {
        bump(&self.answer_cache_bypassed);
    }

    /// Counts a slow-path answer that took `elapsed` since the query arrived.
    pub(crate) fn count_slow_path_answer(&self, elapsed: Duration) {
        bump(&self.slow_path_answers);
        self.resolution_time.record(elapsed);
    }

    /// Counts a query dropped by the policy.
    pub(crate) fn count_policy_drop(&self) {
        bump(&self.dropped_by_policy);
    }

    /// Counts a query or response held back by a rate limit.
    pub(crate) fn count_rate_limited(&self, outcome: RateLimitOutcome) {
        bump(&self.rate_limited[outcome as usize]);
    }

    /// Counts a query dropped because the worker is overloaded.
    pub(crate) fn count_overload_drop(&self) {
        bump(&self.dropped_overload);
    }

    /// Counts a resolution given up under overload for a newer query.
    pub(crate) fn count_overload_given_up(&self) {
        bump(&self.overload_given_up);
    }

    /// Counts a connection closed for its PROXY header.
    pub(crate) fn count_rejected_proxy_header(&self) {
        bump(&self.rejected_proxy_headers);
    }

    /// Counts the DNSSEC outcome of one resolution (before CD and DO shape
    /// the client's view of it).
    pub(crate) fn count_dnssec_outcome(&self, security: hanse_cache::Security) {
        let slot = match security {
            hanse_cache::Security::Secure => 0,
            hanse_cache::Security::Insecure => 1,
            hanse_cache::Security::Bogus => 2,
            hanse_cache::Security::Indeterminate => 3,
        };
        bump(&self.dnssec_outcomes[slot]);
    }

    /// Counts one of the plain counters.
    pub(crate) fn count(counter: &AtomicU64) {
        bump(counter);
    }

    /// Counts a policy hit of `feed` (empty for safe search) for `profile`
    /// with `action` (one of [`POLICY_ACTIONS`]). Allocates only the first
    /// time a (feed, profile) pair is seen.
    pub(crate) fn count_policy_hit(&self, feed: &str, profile: &str, action: &'static str) {
        bump(&self.policy_hits);
        let slot = POLICY_ACTIONS
            .iter()
            .position(|known| *known == action)
            .unwrap_or(0);
        let mut table = self.policy_hit_table.lock();
        let known = table
            .hits
            .get(feed)
            .is_some_and(|profiles| profiles.contains_key(profile));
        let (feed, profile) = if known || table.keys < MAX_POLICY_HIT_KEYS {
            (feed, profile)
        } else {
            (OTHER, OTHER)
        };
        if !table
            .hits
            .get(feed)
            .is_some_and(|profiles| profiles.contains_key(profile))
        {
            table.keys += 1;
        }
        let counts = table
            .hits
            .entry(feed.into())
            .or_default()
            .entry(profile.into())
            .or_default();
        counts[slot] += 1;
    }
}

/// Counters of the service: one [`WorkerCounters`] per worker thread,
/// summed when read.
#[derive(Debug)]
pub struct ServiceStatistics {
    workers: Box<[WorkerCounters]>,
}

thread_local! {
    /// The index of the worker running on this thread.
    static WORKER_INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ServiceStatistics {
    /// Counters for `workers` worker threads.
    pub fn new(workers: usize) -> ServiceStatistics {
        ServiceStatistics {
            workers: (0..workers.max(1))
                .map(|_| WorkerCounters::default())
                .collect(),
        }
    }

    /// Marks the calling thread as worker `index`.
    pub(crate) fn enter_worker(index: usize) {
        WORKER_INDEX.with(|cell| cell.set(index));
    }

    /// The counters of worker `index` (modulo the number of workers), for
    /// benchmarks and tests that count outside a worker thread.
    pub fn worker(&self, index: usize) -> &WorkerCounters {
        &self.workers[index % self.workers.len()]
    }

    /// The counters of the calling worker thread.
    pub(crate) fn current(&self) -> &WorkerCounters {
        let index = WORKER_INDEX.with(std::cell::Cell::get);
        &self.workers[index % self.workers.len()]
    }

    /// The sum over all workers of the plain counters.
    pub fn total(&self) -> CounterTotals {
        let sum = |field: fn(&WorkerCounters) -> &AtomicU64| self.sum(field);
        CounterTotals {
            udp_queries: sum(|worker| &worker.udp_queries),
            tcp_queries: sum(|worker| &worker.tcp_queries),
            tls_queries: sum(|worker| &worker.tls_queries),
            https_queries: sum(|worker| &worker.https_queries),
            quic_queries: sum(|worker| &worker.quic_queries),
            cache_hits: sum(|worker| &worker.cache_hits),
            cache_misses: sum(|worker| &worker.cache_misses),
            refused: sum(|worker| &worker.refused),
            dropped: sum(|worker| &worker.dropped),
            malformed: sum(|worker| &worker.malformed),
            policy_hits: sum(|worker| &worker.policy_hits),
            notify_received: sum(|worker| &worker.notify_received),
            notify_refused: sum(|worker| &worker.notify_refused),
        }
    }

    fn sum(&self, field: impl Fn(&WorkerCounters) -> &AtomicU64) -> u64 {
        self.workers
            .iter()
            .map(|worker| field(worker).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Everything counted, summed over the workers.
    pub fn snapshot(&self) -> ServiceSnapshot {
        let totals = self.total();
        let mut resolution_time = HistogramSnapshot::default();
        let mut hits: HashMap<(String, String, &'static str), u64> = HashMap::new();
        for worker in &self.workers {
            resolution_time.add(&worker.resolution_time.snapshot());
            let table = worker.policy_hit_table.lock();
            for (feed, profiles) in &table.hits {
                for (profile, counts) in profiles {
                    for (action, count) in POLICY_ACTIONS.iter().zip(counts) {
                        if *count > 0 {
                            *hits
                                .entry((feed.to_string(), profile.to_string(), action))
                                .or_default() += count;
                        }
                    }
                }
            }
        }
        let mut policy_hits: Vec<PolicyHitCount> = hits
            .into_iter()
            .map(|((feed, profile, action), count)| PolicyHitCount {
                feed,
                profile,
                action,
                count,
            })
            .collect();
        policy_hits.sort_by(|left, right| {
            (&left.feed, &left.profile, left.action).cmp(&(
                &right.feed,
                &right.profile,
                right.action,
            ))
        });
        let rcodes: [u64; COUNTED_RCODES + 1] =
            std::array::from_fn(|slot| self.sum(|worker| &worker.responses_by_rcode[slot]));
        ServiceSnapshot {
            totals,
            queries_by_transport: Transport::ALL
                .iter()
                .map(|transport| {
                    let count = match transport {
                        Transport::Udp => totals.udp_queries,
                        Transport::Tcp => totals.tcp_queries,
                        Transport::Tls => totals.tls_queries,
                        Transport::Https => totals.https_queries,
                        Transport::Quic => totals.quic_queries,
                    };
                    (*transport, count)
                })
                .collect(),
            queries_by_type: std::array::from_fn(|slot| {
                let label = COUNTED_TYPES
                    .get(slot)
                    .map_or("other", |rtype| type_label(*rtype));
                (label, self.sum(|worker| &worker.queries_by_type[slot]))
            }),
            responses_by_rcode: std::array::from_fn(|slot| rcodes[slot]),
            responses_other_rcode: rcodes[COUNTED_RCODES],
            hot_path_answers: totals.cache_hits,
            slow_path_answers: self.sum(|worker| &worker.slow_path_answers),
            answer_cache_hits: totals.cache_hits + self.sum(|worker| &worker.answer_cache_bypassed),
            answer_cache_misses: self.sum(|worker| &worker.answer_cache_misses),
            dropped_malformed: totals.dropped,
            dropped_by_policy: self.sum(|worker| &worker.dropped_by_policy),
            dropped_overload: self.sum(|worker| &worker.dropped_overload),
            overload_given_up: self.sum(|worker| &worker.overload_given_up),
            rejected_proxy_headers: self.sum(|worker| &worker.rejected_proxy_headers),
            dnssec_outcomes: std::array::from_fn(|slot| {
                (
                    DNSSEC_OUTCOMES[slot],
                    self.sum(|worker| &worker.dnssec_outcomes[slot]),
                )
            }),
            rate_limited: std::array::from_fn(|slot| {
                let (kind, action) = RATE_LIMIT_OUTCOMES[slot];
                (kind, action, self.sum(|worker| &worker.rate_limited[slot]))
            }),
            resolution_time,
            policy_hits,
        }
    }
}

/// What a rate limit did, in the order of [`RATE_LIMIT_OUTCOMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateLimitOutcome {
    /// A query over its client network's limit, dropped.
    ClientDrop = 0,
    /// A query over its client network's limit, answered REFUSED.
    ClientRefuse = 1,
    /// A UDP response over its RRL bucket's rate, dropped.
    ResponseDrop = 2,
    /// A UDP response over its RRL bucket's rate, sent truncated (slip).
    ResponseSlip = 3,
    /// A cache miss shed for overload, answered SERVFAIL.
    OverloadServfail = 4,
    /// A cache miss shed for overload, dropped.
    OverloadDrop = 5,
}

/// The rate-limit outcomes counted: (kind, action), `client` for the
/// per-client query limit, `rrl` for response-rate limiting and `overload`
/// for cache misses shed because no resolution slot was free.
pub const RATE_LIMIT_OUTCOMES: [(&str, &str); 6] = [
    ("client", "drop"),
    ("client", "refuse"),
    ("rrl", "drop"),
    ("rrl", "slip"),
    ("overload", "servfail"),
    ("overload", "drop"),
];

/// The labels of the DNSSEC outcomes counted per resolution.
pub const DNSSEC_OUTCOMES: [&str; 4] = ["secure", "insecure", "bogus", "indeterminate"];

/// The mnemonic of a counted type.
fn type_label(rtype: RType) -> &'static str {
    match rtype {
        RType::A => "A",
        RType::AAAA => "AAAA",
        RType::CNAME => "CNAME",
        RType::MX => "MX",
        RType::TXT => "TXT",
        RType::NS => "NS",
        RType::SOA => "SOA",
        RType::PTR => "PTR",
        RType::SRV => "SRV",
        RType::HTTPS => "HTTPS",
        RType::SVCB => "SVCB",
        RType::DS => "DS",
        RType::DNSKEY => "DNSKEY",
        RType::ANY => "ANY",
        _ => "other",
    }
}

/// The plain counters of all workers added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterTotals {
    /// Queries received over UDP.
    pub udp_queries: u64,
    /// Queries received over TCP.
    pub tcp_queries: u64,
    /// Queries received over TLS (DoT).
    pub tls_queries: u64,
    /// Queries received over HTTPS (DoH).
    pub https_queries: u64,
    /// Queries received over QUIC (DoQ).
    pub quic_queries: u64,
    /// Answers served from the answer cache on the hot path.
    pub cache_hits: u64,
    /// Queries that needed a resolution.
    pub cache_misses: u64,
    /// Queries refused by the access list.
    pub refused: u64,
    /// Packets dropped because they are not a readable query.
    pub dropped: u64,
    /// Error responses for malformed or unsupported queries.
    pub malformed: u64,
    /// Answers rewritten by the filtering policy.
    pub policy_hits: u64,
    /// NOTIFY messages received.
    pub notify_received: u64,
    /// NOTIFY messages not accepted.
    pub notify_refused: u64,
}

/// Policy hits of one (feed, profile, action), over all workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyHitCount {
    /// The feed's name; empty for a safe-search rewrite.
    pub feed: String,
    /// The profile's name.
    pub profile: String,
    /// One of [`POLICY_ACTIONS`].
    pub action: &'static str,
    /// The hits.
    pub count: u64,
}

/// Everything the service counts, over all workers, at one moment
/// ([`ServiceStatistics::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    /// The plain counters (also NOTIFY and access-list refusals).
    pub totals: CounterTotals,
    /// Queries received, by transport, in the order of [`Transport::ALL`].
    pub queries_by_transport: Vec<(Transport, u64)>,
    /// Queries answered or dropped, by type (`A`, `AAAA`, ..., `other`),
    /// when the question could be read.
    pub queries_by_type: [(&'static str, u64); TYPE_SLOTS],
    /// Responses sent by response code 0 to 23 (index = code).
    pub responses_by_rcode: [u64; COUNTED_RCODES],
    /// Responses sent with a response code above 23.
    pub responses_other_rcode: u64,
    /// Answers served from the answer cache on the hot path.
    pub hot_path_answers: u64,
    /// Answers sent after a resolution or a policy rewrite.
    pub slow_path_answers: u64,
    /// Answer-cache look-ups that found an answer (served on the hot path or
    /// not usable there).
    pub answer_cache_hits: u64,
    /// Answer-cache look-ups that found nothing.
    pub answer_cache_misses: u64,
    /// Packets dropped because they are not a readable query.
    pub dropped_malformed: u64,
    /// Queries dropped by a policy action.
    pub dropped_by_policy: u64,
    /// UDP queries dropped because a worker had too many resolutions under way.
    pub dropped_overload: u64,
    /// Resolutions in progress given up under overload to make room for a
    /// newer query (the oldest of the heaviest client network); their
    /// queries are counted in `rate_limited` too.
    pub overload_given_up: u64,
    /// Connections closed and datagrams dropped for their PROXY protocol
    /// header: missing or invalid from a configured proxy, or sent by any
    /// other peer.
    pub rejected_proxy_headers: u64,
    /// Resolutions by DNSSEC outcome (`secure`, `insecure`, `bogus`,
    /// `indeterminate`: not validated, e.g. no trust anchor above it).
    pub dnssec_outcomes: [(&'static str, u64); 4],
    /// Queries and responses held back by the rate limits: (kind, action,
    /// count) in the order of [`RATE_LIMIT_OUTCOMES`].
    pub rate_limited: [(&'static str, &'static str, u64); RATE_LIMIT_OUTCOMES.len()],
    /// Time from a query's arrival to its slow-path answer.
    pub resolution_time: HistogramSnapshot,
    /// Policy hits by (feed, profile, action), sorted.
    pub policy_hits: Vec<PolicyHitCount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_rcodes_have_their_slots() {
        for (slot, rtype) in COUNTED_TYPES.iter().enumerate() {
            assert_eq!(type_slot(*rtype), slot);
            assert_ne!(type_label(*rtype), "other");
        }
        assert_eq!(type_slot(RType(65_000)), COUNTED_TYPES.len());
        let statistics = ServiceStatistics::new(1);
        let counters = statistics.current();
        counters.count_response(RType::A, Rcode::NXDOMAIN);
        counters.count_response(RType(99), Rcode(4000));
        counters.count_hot_path_answer(RType::AAAA, 0x83);
        let snapshot = statistics.snapshot();
        assert_eq!(snapshot.responses_by_rcode[3], 2);
        assert_eq!(snapshot.responses_other_rcode, 1);
        assert_eq!(snapshot.queries_by_type[0], ("A", 1));
        assert_eq!(snapshot.queries_by_type[1], ("AAAA", 1));
        assert_eq!(snapshot.queries_by_type[14], ("other", 1));
        assert_eq!(snapshot.hot_path_answers, 1);
    }

    #[test]
    fn policy_hit_pairs_are_bounded() {
        let statistics = ServiceStatistics::new(1);
        let counters = statistics.current();
        for index in 0..MAX_POLICY_HIT_KEYS + 10 {
            counters.count_policy_hit(&format!("feed{index}"), "home", "nxdomain");
        }
        counters.count_policy_hit("feed0", "home", "nxdomain");
        let snapshot = statistics.snapshot();
        assert_eq!(snapshot.policy_hits.len(), MAX_POLICY_HIT_KEYS + 1);
        let other = snapshot
            .policy_hits
            .iter()
            .find(|hit| hit.feed == OTHER)
            .unwrap();
        assert_eq!(other.count, 10);
        let first = snapshot
            .policy_hits
            .iter()
            .find(|hit| hit.feed == "feed0")
            .unwrap();
        assert_eq!(first.count, 2);
        assert_eq!(snapshot.totals.policy_hits, MAX_POLICY_HIT_KEYS as u64 + 11);
    }
}
