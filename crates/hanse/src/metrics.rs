//! The Prometheus families of `/metrics`, gathered from the crates'
//! statistics snapshots (server, resolver, caches, feeds, query log) and
//! the process. The API crate renders them; this module only names and
//! labels them.
//!
//! Every family is a value read at scrape time; nothing here runs on the
//! query path.
//!
//! # Limitations
//! - No rate-limit drops yet: there is no rate limiter, so that family is
//!   absent rather than zero.
//! - DNSSEC outcomes are counted per resolution on the slow path; answers
//!   from the answer cache are not counted again.

use crate::primary::ZoneStatus;
use hanse_api::{HistogramValue, MetricFamily, MetricKind, MetricSample};
use hanse_feeds::FeedStatus;
use hanse_querylog::QueryLogStatistics;
use hanse_resolve::{HistogramSnapshot, LATENCY_BOUNDS_MS, UpstreamStatistics};
use hanse_server::ServiceSnapshot;
use std::time::SystemTime;

/// Everything a scrape reports.
pub struct Sources<'a> {
    /// The DNS service's counters.
    pub service: &'a ServiceSnapshot,
    /// The resolver's upstream counters.
    pub upstream: &'a UpstreamStatistics,
    /// The RRset cache.
    pub rrsets: &'a hanse_cache::RrsetCacheStatistics,
    /// The answer cache.
    pub answers: &'a hanse_cache::AnswerCacheStatistics,
    /// The feeds, if filtering is configured.
    pub feeds: &'a [FeedStatus],
    /// The zones served as a primary (`[[policy.serve]]`).
    pub served: &'a [ZoneStatus],
    /// The query log, if it is on.
    pub query_log: Option<&'a QueryLogStatistics>,
    /// The dnstap export, if it is on.
    pub dnstap: Option<&'a hanse_querylog::DnstapStatistics>,
    /// Seconds since the process started.
    pub uptime_seconds: f64,
}

fn family(name: &str, help: &str, kind: MetricKind, samples: Vec<MetricSample>) -> MetricFamily {
    MetricFamily {
        name: name.to_owned(),
        help: help.to_owned(),
        kind,
        samples,
    }
}

fn counter(name: &str, help: &str, value: u64) -> MetricFamily {
    family(
        name,
        help,
        MetricKind::Counter,
        vec![MetricSample::number(&[], value as f64)],
    )
}

fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    family(
        name,
        help,
        MetricKind::Gauge,
        vec![MetricSample::number(&[], value)],
    )
}

/// A per-bucket latency snapshot as a Prometheus histogram in seconds.
fn latency(snapshot: &HistogramSnapshot) -> HistogramValue {
    let mut cumulative = 0;
    let buckets = LATENCY_BOUNDS_MS
        .iter()
        .zip(snapshot.counts.iter())
        .map(|(bound, count)| {
            cumulative += count;
            (*bound as f64 / 1000.0, cumulative)
        })
        .collect();
    HistogramValue {
        buckets,
        sum: snapshot.sum_microseconds as f64 / 1_000_000.0,
        count: snapshot.count(),
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

/// The process's resident memory in bytes (Linux `/proc/self/statm`).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The families of one scrape.
pub fn gather(sources: &Sources<'_>) -> Vec<MetricFamily> {
    let service = sources.service;
    let mut families = vec![
        family(
            "hanse_queries_total",
            "DNS queries received, by transport.",
            MetricKind::Counter,
            service
                .queries_by_transport
                .iter()
                .map(|(transport, count)| {
                    MetricSample::number(&[("transport", transport.as_str())], *count as f64)
                })
                .collect(),
        ),
        family(
            "hanse_queries_by_type_total",
            "DNS queries answered or dropped, by question type.",
            MetricKind::Counter,
            service
                .queries_by_type
                .iter()
                .map(|(qtype, count)| MetricSample::number(&[("qtype", qtype)], *count as f64))
                .collect(),
        ),
        family(
            "hanse_responses_total",
            "DNS responses sent, by response code.",
            MetricKind::Counter,
            service
                .responses_by_rcode
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(code, count)| {
                    let rcode = hanse_wire::Rcode(code as u16).to_string();
                    MetricSample::number(&[("rcode", &rcode)], *count as f64)
                })
                .chain(std::iter::once(MetricSample::number(
                    &[("rcode", "other")],
                    service.responses_other_rcode as f64,
                )))
                .collect(),
        ),
        family(
            "hanse_answers_total",
            "Answers sent, by where they came from: the answer cache (hot path) or a resolution or policy rewrite.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("path", "cache")], service.hot_path_answers as f64),
                MetricSample::number(&[("path", "resolution")], service.slow_path_answers as f64),
            ],
        ),
        family(
            "hanse_dropped_total",
            "Queries not answered, by reason.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("reason", "malformed")], service.dropped_malformed as f64),
                MetricSample::number(&[("reason", "policy")], service.dropped_by_policy as f64),
                MetricSample::number(&[("reason", "overload")], service.dropped_overload as f64),
            ],
        ),
        counter(
            "hanse_overload_given_up_total",
            "Resolutions in progress given up under overload to make room for a newer query (the oldest of the client network holding the most); their queries are counted in hanse_rate_limited_total{kind=\"overload\"} too.",
            service.overload_given_up,
        ),
        counter(
            "hanse_refused_total",
            "Queries refused by the access list.",
            service.totals.refused,
        ),
        counter(
            "hanse_proxy_header_rejections_total",
            "Connections closed and UDP datagrams dropped for their PROXY protocol header: missing or invalid from a configured proxy, or sent by another peer.",
            service.rejected_proxy_headers,
        ),
        counter(
            "hanse_notify_received_total",
            "NOTIFY messages received.",
            service.totals.notify_received,
        ),
        counter(
            "hanse_notify_refused_total",
            "NOTIFY messages refused (unknown zone or not from a primary).",
            service.totals.notify_refused,
        ),
        family(
            "hanse_dnssec_outcomes_total",
            "Resolutions by DNSSEC outcome: secure, insecure, bogus, or indeterminate (not validated).",
            MetricKind::Counter,
            service
                .dnssec_outcomes
                .iter()
                .map(|(outcome, count)| {
                    MetricSample::number(&[("outcome", outcome)], *count as f64)
                })
                .collect(),
        ),
        family(
            "hanse_rate_limited_total",
            "Queries and UDP responses held back by the rate limits, by kind (client: the per-client query limit, rrl: response-rate limiting) and action (drop, refuse, slip: sent truncated).",
            MetricKind::Counter,
            service
                .rate_limited
                .iter()
                .map(|(kind, action, count)| {
                    MetricSample::number(&[("kind", kind), ("action", action)], *count as f64)
                })
                .collect(),
        ),
        family(
            "hanse_resolution_duration_seconds",
            "Time from a query's arrival to an answer that needed a resolution or a policy rewrite.",
            MetricKind::Histogram,
            vec![MetricSample::histogram(
                &[],
                latency(&service.resolution_time),
            )],
        ),
        family(
            "hanse_policy_hits_total",
            "Answers changed by the filtering policy, by feed, profile and action.",
            MetricKind::Counter,
            service
                .policy_hits
                .iter()
                .map(|hit| {
                    MetricSample::number(
                        &[
                            ("feed", &hit.feed),
                            ("profile", &hit.profile),
                            ("action", hit.action),
                        ],
                        hit.count as f64,
                    )
                })
                .collect(),
        ),
    ];
    families.extend(cache_families(sources, service));
    families.extend(upstream_families(sources.upstream));
    families.extend(feed_families(sources.feeds));
    families.extend(served_families(sources.served));
    if let Some(log) = sources.query_log {
        families.push(family(
            "hanse_query_log_events_total",
            "Query log events, by what became of them.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("outcome", "written")], log.written as f64),
                MetricSample::number(&[("outcome", "dropped")], log.dropped_full as f64),
                MetricSample::number(&[("outcome", "excluded")], log.excluded as f64),
                MetricSample::number(&[("outcome", "failed")], log.failed as f64),
            ],
        ));
        families.push(gauge(
            "hanse_query_log_queue_depth",
            "Query log events waiting to be written.",
            log.queue_depth as f64,
        ));
    }
    if let Some(dnstap) = sources.dnstap {
        families.push(family(
            "hanse_dnstap_queries_total",
            "Queries offered to the dnstap export, by what became of them.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("outcome", "dropped")], dnstap.dropped_full as f64),
                MetricSample::number(&[("outcome", "excluded")], dnstap.excluded as f64),
                MetricSample::number(&[("outcome", "lost")], dnstap.lost as f64),
            ],
        ));
        families.push(counter(
            "hanse_dnstap_dropped_total",
            "Queries the dnstap export dropped because its queue was full.",
            dnstap.dropped_full,
        ));
        families.push(counter(
            "hanse_dnstap_frames_total",
            "dnstap data frames written to the collector.",
            dnstap.frames,
        ));
        families.push(counter(
            "hanse_dnstap_connections_total",
            "Connections made to the dnstap collector.",
            dnstap.connections,
        ));
        families.push(gauge(
            "hanse_dnstap_connected",
            "1 while a dnstap collector is connected.",
            f64::from(u8::from(dnstap.connected)),
        ));
    }
    if let Some(bytes) = resident_bytes() {
        families.push(gauge(
            "hanse_process_resident_memory_bytes",
            "Resident memory of the process.",
            bytes as f64,
        ));
    }
    families.push(gauge(
        "hanse_uptime_seconds",
        "Seconds since the process started.",
        sources.uptime_seconds,
    ));
    families
}

fn cache_families(sources: &Sources<'_>, service: &ServiceSnapshot) -> Vec<MetricFamily> {
    let (rrsets, answers) = (sources.rrsets, sources.answers);
    let pair = |rrset: u64, answer: u64| {
        vec![
            MetricSample::number(&[("cache", "rrset")], rrset as f64),
            MetricSample::number(&[("cache", "answer")], answer as f64),
        ]
    };
    vec![
        family(
            "hanse_cache_hits_total",
            "Cache look-ups that found an entry.",
            MetricKind::Counter,
            pair(
                rrsets.hits + rrsets.negative_hits + rrsets.failure_hits,
                service.answer_cache_hits,
            ),
        ),
        family(
            "hanse_cache_misses_total",
            "Cache look-ups that found nothing.",
            MetricKind::Counter,
            pair(rrsets.misses, service.answer_cache_misses),
        ),
        family(
            "hanse_cache_entries",
            "Entries held.",
            MetricKind::Gauge,
            pair(rrsets.entries, answers.entries),
        ),
        family(
            "hanse_cache_bytes",
            "Bytes held, by the caches' own count.",
            MetricKind::Gauge,
            pair(rrsets.bytes, answers.bytes),
        ),
        family(
            "hanse_cache_capacity_bytes",
            "The most bytes each cache may hold.",
            MetricKind::Gauge,
            pair(rrsets.capacity_bytes, answers.capacity_bytes),
        ),
        family(
            "hanse_cache_evictions_total",
            "Entries evicted to make room.",
            MetricKind::Counter,
            pair(rrsets.evictions, answers.evictions),
        ),
        family(
            "hanse_cache_flushed_total",
            "Entries removed by flushes through the API.",
            MetricKind::Counter,
            pair(rrsets.flushed, answers.flushed),
        ),
    ]
}

fn upstream_families(upstream: &UpstreamStatistics) -> Vec<MetricFamily> {
    let mut rtt: Vec<MetricSample> = upstream
        .servers
        .iter()
        .map(|(address, server)| {
            MetricSample::histogram(&[("server", &address.to_string())], latency(&server.rtt))
        })
        .collect();
    rtt.push(MetricSample::histogram(
        &[("server", "other")],
        latency(&upstream.other_servers.rtt),
    ));
    let mut per_server_queries: Vec<MetricSample> = upstream
        .servers
        .iter()
        .map(|(address, server)| {
            MetricSample::number(&[("server", &address.to_string())], server.queries as f64)
        })
        .collect();
    per_server_queries.push(MetricSample::number(
        &[("server", "other")],
        upstream.other_servers.queries as f64,
    ));
    vec![
        family(
            "hanse_upstream_queries_total",
            "Queries sent to authoritative servers or forwarders, by transport.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("transport", "udp")], upstream.udp_queries as f64),
                MetricSample::number(&[("transport", "tcp")], upstream.tcp_queries as f64),
                MetricSample::number(&[("transport", "tls")], upstream.tls_queries as f64),
                MetricSample::number(&[("transport", "https")], upstream.https_queries as f64),
            ],
        ),
        family(
            "hanse_upstream_server_queries_total",
            "Queries sent, by server (the 256 most used; the rest as other).",
            MetricKind::Counter,
            per_server_queries,
        ),
        counter(
            "hanse_upstream_timeouts_total",
            "Upstream queries that got no answer in time.",
            upstream.timeouts,
        ),
        counter(
            "hanse_dnssec_aggressive_answers_total",
            "NXDOMAIN and NODATA answered from cached validated NSEC records instead of asking upstream (RFC 8198).",
            upstream.aggressive_answers,
        ),
        family(
            "hanse_upstream_errors_total",
            "Upstream exchanges that failed, by kind.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("kind", "network")], upstream.network_errors as f64),
                MetricSample::number(&[("kind", "malformed")], upstream.malformed as f64),
            ],
        ),
        family(
            "hanse_upstream_fallbacks_total",
            "Retries over TCP after truncation, and without EDNS.",
            MetricKind::Counter,
            vec![
                MetricSample::number(&[("kind", "tcp")], upstream.tcp_fallbacks as f64),
                MetricSample::number(&[("kind", "edns")], upstream.edns_fallbacks as f64),
            ],
        ),
        family(
            "hanse_upstream_rtt_seconds",
            "Round-trip time of answered upstream queries, by server.",
            MetricKind::Histogram,
            rtt,
        ),
        family(
            "hanse_upstream_cookies_total",
            "DNS cookies of upstream queries (RFC 7873), by event: queries sent with a cookie, server cookies learned, responses dropped for a wrong or missing cookie, queries retried after BADCOOKIE.",
            MetricKind::Counter,
            vec![
                MetricSample::number(
                    &[("event", "sent")],
                    upstream.cookies.queries_with_cookie as f64,
                ),
                MetricSample::number(
                    &[("event", "server_cookie_learned")],
                    upstream.cookies.server_cookies_learned as f64,
                ),
                MetricSample::number(
                    &[("event", "mismatch_dropped")],
                    upstream.cookies.spoofed_responses as f64,
                ),
                MetricSample::number(
                    &[("event", "badcookie_retried")],
                    upstream.cookies.bad_cookie_retries as f64,
                ),
            ],
        ),
        gauge(
            "hanse_upstream_cookie_servers",
            "Upstream servers whose server cookie is remembered now.",
            upstream.cookies.servers_with_cookie as f64,
        ),
        family(
            "hanse_resolution_failures_total",
            "Resolutions that ended in SERVFAIL, by reason.",
            MetricKind::Counter,
            upstream
                .failures
                .iter()
                .map(|(reason, count)| {
                    MetricSample::number(&[("reason", reason.as_str())], *count as f64)
                })
                .collect(),
        ),
    ]
}

/// The zones served as a primary: serial, transfers, refusals, NOTIFY.
fn served_families(zones: &[ZoneStatus]) -> Vec<MetricFamily> {
    if zones.is_empty() {
        return Vec::new();
    }
    let by_label = |label: &str, values: &dyn Fn(&ZoneStatus) -> Vec<(&'static str, u64)>| {
        zones
            .iter()
            .flat_map(|zone| {
                values(zone).into_iter().map(move |(value, count)| {
                    MetricSample::number(&[("zone", &zone.zone), (label, value)], count as f64)
                })
            })
            .collect::<Vec<_>>()
    };
    vec![
        family(
            "hanse_served_zone_serial",
            "The SOA serial of each zone served as a primary.",
            MetricKind::Gauge,
            zones
                .iter()
                .map(|zone| {
                    MetricSample::number(
                        &[("zone", &zone.zone), ("feed", &zone.feed)],
                        f64::from(zone.serial),
                    )
                })
                .collect(),
        ),
        family(
            "hanse_served_transfers_total",
            "Transfers answered per served zone: axfr, ixfr (incremental), ixfr_full (the journal did not reach back), up_to_date; and soa, SOA queries answered.",
            MetricKind::Counter,
            by_label("kind", &|zone| zone.transfers.to_vec()),
        ),
        family(
            "hanse_served_transfers_refused_total",
            "Transfer requests refused per served zone, by reason.",
            MetricKind::Counter,
            by_label("reason", &|zone| zone.refused.clone()),
        ),
        family(
            "hanse_served_notify_total",
            "NOTIFY messages per served zone and secondary, answered or given up on.",
            MetricKind::Counter,
            by_label("outcome", &|zone| zone.notify.to_vec()),
        ),
    ]
}

fn feed_families(feeds: &[FeedStatus]) -> Vec<MetricFamily> {
    if feeds.is_empty() {
        return Vec::new();
    }
    let now = unix_seconds(SystemTime::now());
    let per_feed = |value: &dyn Fn(&FeedStatus) -> Option<f64>| -> Vec<MetricSample> {
        feeds
            .iter()
            .filter_map(|feed| {
                value(feed).map(|value| MetricSample::number(&[("feed", &feed.name)], value))
            })
            .collect()
    };
    vec![
        family(
            "hanse_feed_serial",
            "The SOA serial of each policy zone feed.",
            MetricKind::Gauge,
            per_feed(&|feed| feed.serial.map(f64::from)),
        ),
        family(
            "hanse_feed_version",
            "The version of each feed (serial, or Unix seconds of a list's copy).",
            MetricKind::Gauge,
            per_feed(&|feed| Some(feed.version as f64)),
        ),
        family(
            "hanse_feed_rules",
            "The rules of each feed's copy in force.",
            MetricKind::Gauge,
            per_feed(&|feed| Some(feed.counts.total() as f64)),
        ),
        family(
            "hanse_feed_age_seconds",
            "Seconds since each remote feed's copy last changed.",
            MetricKind::Gauge,
            per_feed(&|feed| feed.last_change.map(|time| now - unix_seconds(time))),
        ),
        family(
            "hanse_feed_last_success_timestamp_seconds",
            "When each remote feed was last checked successfully.",
            MetricKind::Gauge,
            per_feed(&|feed| feed.last_success.map(unix_seconds)),
        ),
        family(
            "hanse_feed_stale",
            "1 when a remote feed's last fetch failed or none succeeded yet.",
            MetricKind::Gauge,
            per_feed(&|feed| Some(if feed.stale { 1.0 } else { 0.0 })),
        ),
        family(
            "hanse_feed_updates_total",
            "Updates of each remote feed, full (AXFR, list body) or incremental (IXFR).",
            MetricKind::Counter,
            feeds
                .iter()
                .flat_map(|feed| {
                    [
                        MetricSample::number(
                            &[("feed", &feed.name), ("kind", "full")],
                            feed.full_updates as f64,
                        ),
                        MetricSample::number(
                            &[("feed", &feed.name), ("kind", "incremental")],
                            feed.incremental_updates as f64,
                        ),
                    ]
                })
                .collect(),
        ),
    ]
}
