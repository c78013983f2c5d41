//! The running resolver as the HTTP API sees it: the implementation of
//! [`hanse_api::Backend`] over the server's and resolver's statistics, the
//! caches, the feed supply, the policy, the query log and the main loop
//! (reloads and policy edits go through it, so one thread changes what is
//! in force).
//!
//! Profiles and client mappings created through the API live in the
//! configuration's API policy file (`[api] policy_file`): each write
//! replaces that file atomically and reloads; if the reload refuses the
//! result, the previous file is put back and the problems are returned.
//! Entries of the main configuration file are read-only here.
//!
//! # Limitations
//! - Queries per second are measured between two calls of `statistics`
//!   (the dashboard polls), over at most the last minute.
//! - Top names, blocked names and clients come from the query log; with
//!   the log off they are empty.

use crate::config::PolicySection;
use crate::feeds::PolicyLoad;
use crate::metrics;
use hanse_api::model::{
    CacheEntry, CacheEntryKind, ClientMapping, ExplanationDocument, FeedState, KeyCount,
    ProfileDocument, QueryLogEntry, QueryLogFilter, Readiness, Setting, Statistics,
};
use hanse_api::{Backend, BackendError, MetricFamily};
use hanse_cache::{AnswerCache, ListingKind};
use hanse_feeds::CopyOrigin;
use hanse_policy::{ClientInfo, Decision, PolicySet, ProfileSpec, UnixTime};
use hanse_querylog::QueryLog;
use hanse_resolve::{Clock, MonotonicClock, NetworkTransport, Resolver};
use hanse_server::{QueryEvent, QueryObserver, Server, ServiceStatistics};
use hanse_wire::{Name, RType};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long an API request waits for the main loop to apply a change.
const MAIN_LOOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the main loop is asked to do for the API.
pub enum Request {
    /// Reload the configuration file, as on SIGHUP; the result is sent
    /// back.
    Reload(std::sync::mpsc::Sender<Result<(), Vec<String>>>),
}

/// The policy in force, as the API reads it; replaced by the main loop.
#[derive(Default)]
pub struct PolicyView {
    /// The `[policy]` section it was built from.
    pub section: PolicySection,
    /// The feeds and the compiled policy.
    pub load: PolicyLoadView,
    /// The settings page: every configured value, read-only.
    pub settings: Vec<Setting>,
    /// The API policy file, if there is a configuration file.
    pub policy_file: Option<std::path::PathBuf>,
    /// The configuration file, if there is one.
    pub config_path: Option<std::path::PathBuf>,
}

/// The parts of a [`PolicyLoad`] the API needs.
#[derive(Default, Clone)]
pub struct PolicyLoadView {
    /// The feed supply.
    pub supply: Option<Arc<hanse_feeds::FeedSupply>>,
    /// The policy.
    pub policy: Option<Arc<PolicySet>>,
}

impl From<&PolicyLoad> for PolicyLoadView {
    fn from(load: &PolicyLoad) -> PolicyLoadView {
        PolicyLoadView {
            supply: load.supply.clone(),
            policy: load.policy.clone(),
        }
    }
}

/// The API's view of the running resolver.
pub struct Operations {
    pub(crate) started: Instant,
    pub(crate) statistics: Arc<ServiceStatistics>,
    pub(crate) resolver: Arc<Resolver<NetworkTransport>>,
    pub(crate) answers: Arc<AnswerCache>,
    pub(crate) server: Arc<Server>,
    pub(crate) clock: Arc<MonotonicClock>,
    pub(crate) query_log: Option<Arc<QueryLog>>,
    pub(crate) dnstap: Option<Arc<hanse_querylog::DnstapExporter>>,
    pub(crate) policy: arc_swap::ArcSwap<PolicyView>,
    pub(crate) draining: Arc<AtomicBool>,
    pub(crate) requests: tokio::sync::mpsc::UnboundedSender<Request>,
    /// `(when, queries so far)`, oldest first, at most a minute back.
    pub(crate) samples: Mutex<VecDeque<(Instant, u64)>>,
    /// Serialises edits of the API policy file.
    pub(crate) edit_lock: Mutex<()>,
    /// The zones served as a primary.
    pub(crate) primary: Arc<crate::primary::Primary>,
    /// Negative trust anchors set at run time and RFC 5011 updates.
    pub(crate) trust: Arc<crate::trust_anchors::TrustKeeper>,
}

fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn key_counts(ranked: &[hanse_querylog::Ranked]) -> Vec<KeyCount> {
    ranked
        .iter()
        .map(|entry| KeyCount {
            key: entry.key.clone(),
            count: entry.queries,
        })
        .collect()
}

fn query_log_entry(entry: hanse_querylog::Entry) -> QueryLogEntry {
    QueryLogEntry {
        id: u64::try_from(entry.id).unwrap_or(0),
        time: unix_seconds(entry.time),
        count: entry.count,
        client: entry.client,
        name: entry.qname,
        record_type: RType(entry.qtype).to_string(),
        rcode: if entry.dropped {
            "dropped".to_owned()
        } else {
            hanse_wire::Rcode(entry.rcode).to_string()
        },
        blocked: entry.blocked,
        profile: entry.profile,
        feed: entry.feed,
        action: entry.action,
        transport: entry.transport,
        duration_ms: Some(f64::from(entry.elapsed_micros) / 1000.0),
    }
}

fn query_log_error(error: hanse_querylog::QueryLogError) -> BackendError {
    match error {
        hanse_querylog::QueryLogError::InvalidFilter(text) => {
            BackendError::Invalid(vec![hanse_api::model::FieldProblem {
                field: text.split(':').next().unwrap_or("filter").to_owned(),
                message: text,
            }])
        }
        other => BackendError::Internal(other.to_string()),
    }
}

impl Operations {
    fn query_log(&self) -> Result<&QueryLog, BackendError> {
        self.query_log.as_deref().ok_or(BackendError::QueryLogOff)
    }

    /// Asks the main loop to reload and waits for its answer.
    pub(crate) fn reload_through_main_loop(&self) -> Result<(), Vec<String>> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.requests
            .send(Request::Reload(reply))
            .map_err(|_| vec!["the resolver is shutting down".to_owned()])?;
        answer
            .recv_timeout(MAIN_LOOP_TIMEOUT)
            .map_err(|_| vec!["the reload did not finish in time".to_owned()])?
    }

    fn queries_per_second(&self, total: u64) -> Option<f64> {
        let now = Instant::now();
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        while samples
            .front()
            .is_some_and(|(when, _)| now.duration_since(*when) > Duration::from_secs(60))
        {
            samples.pop_front();
        }
        let rate = samples.front().and_then(|(when, count)| {
            let seconds = now.duration_since(*when).as_secs_f64();
            (seconds >= 0.5).then(|| total.saturating_sub(*count) as f64 / seconds)
        });
        if samples.len() < 120 {
            samples.push_back((now, total));
        }
        rate
    }
}

impl Backend for Operations {
    fn metrics(&self) -> Vec<MetricFamily> {
        let service = self.statistics.snapshot();
        let upstream = self.resolver.upstream_statistics();
        let rrsets = self.resolver.cache().statistics();
        let answers = self.answers.statistics();
        let view = self.policy.load();
        let feeds = view
            .load
            .supply
            .as_ref()
            .map(|supply| supply.status())
            .unwrap_or_default();
        let log = self.query_log.as_ref().map(|log| log.statistics());
        let dnstap = self.dnstap.as_ref().map(|dnstap| dnstap.statistics());
        metrics::gather(&metrics::Sources {
            service: &service,
            upstream: &upstream,
            rrsets: &rrsets,
            answers: &answers,
            feeds: &feeds,
            served: &self.primary.status(),
            query_log: log.as_ref(),
            dnstap: dnstap.as_ref(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        })
    }

    fn readiness(&self) -> Readiness {
        let draining = self.draining.load(Ordering::Relaxed);
        let mut reasons = Vec::new();
        if draining {
            reasons.push("draining: shutting down".to_owned());
        }
        let view = self.policy.load();
        if let Some(supply) = &view.load.supply {
            for feed in supply.status() {
                if feed.copy_origin == CopyOrigin::None {
                    reasons.push(format!(
                        "feed {} has not been loaded yet (no saved copy, no fetch)",
                        feed.name
                    ));
                }
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
            draining,
        }
    }

    fn statistics(&self) -> Statistics {
        let service = self.statistics.snapshot();
        let rrsets = self.resolver.cache().statistics();
        let answers = self.answers.statistics();
        let total: u64 = service
            .queries_by_transport
            .iter()
            .map(|(_, count)| count)
            .sum();
        let aggregates = self.query_log.as_ref().and_then(|log| {
            log.aggregates(SystemTime::now() - Duration::from_secs(86_400))
                .ok()
        });
        let (top_names, top_blocked, top_clients) = match &aggregates {
            Some(aggregates) => (
                key_counts(&aggregates.top_names),
                key_counts(&aggregates.top_blocked_names),
                key_counts(&aggregates.top_clients),
            ),
            None => Default::default(),
        };
        Statistics {
            queries_total: total,
            queries_by_transport: service
                .queries_by_transport
                .iter()
                .map(|(transport, count)| KeyCount {
                    key: transport.as_str().to_owned(),
                    count: *count,
                })
                .collect(),
            blocked_total: service.policy_hits.iter().map(|hit| hit.count).sum::<u64>()
                + service.dropped_by_policy,
            rate_limited_total: service.rate_limited.iter().map(|(_, _, count)| count).sum(),
            cache_hits: service.answer_cache_hits,
            cache_misses: service.answer_cache_misses,
            cache_entries: rrsets.entries + answers.entries,
            cache_bytes: rrsets.bytes + answers.bytes,
            uptime_seconds: self.started.elapsed().as_secs(),
            queries_per_second: self.queries_per_second(total),
            top_names,
            top_blocked,
            top_clients,
        }
    }

    fn settings(&self) -> Vec<Setting> {
        self.policy.load().settings.clone()
    }

    fn cache_lookup(&self, name: &Name, rtype: Option<RType>) -> Vec<CacheEntry> {
        let now = self.clock.now();
        let mut entries: Vec<CacheEntry> = self
            .resolver
            .cache()
            .lookup(name, rtype, now)
            .into_iter()
            .map(|listing| CacheEntry {
                name: listing.name.to_string(),
                record_type: listing.rtype.to_string(),
                kind: match listing.kind {
                    ListingKind::Rrset => CacheEntryKind::Positive,
                    ListingKind::NoData => CacheEntryKind::Nodata,
                    ListingKind::NxDomain => CacheEntryKind::Nxdomain,
                    ListingKind::Failure => CacheEntryKind::Failure,
                },
                ttl_remaining: listing.ttl,
                records: listing
                    .records
                    .iter()
                    .map(hanse_zone::format_record)
                    .collect(),
                trust: Some(format!("{:?}", listing.trust)),
            })
            .collect();
        entries.sort_by(|a, b| (&a.name, &a.record_type).cmp(&(&b.name, &b.record_type)));
        entries
    }

    fn cache_flush(&self, name: &Name, subtree: bool) -> u64 {
        let removed = self.server.flush(name, subtree);
        (removed.rrsets + removed.answers) as u64
    }

    fn feeds(&self) -> Vec<FeedState> {
        let view = self.policy.load();
        let Some(supply) = &view.load.supply else {
            return Vec::new();
        };
        supply
            .status()
            .into_iter()
            .map(|feed| FeedState {
                format: feed.format.to_string(),
                source: feed.source.clone(),
                serial: feed.serial,
                version: Some(feed.version.to_string()),
                stale: feed.stale,
                last_success: feed.last_success.map(unix_seconds),
                last_change: feed.last_change.map(unix_seconds),
                last_error: feed.last_error.clone().or(feed.save_error.clone()),
                rules: feed.counts.total() as u64,
                skipped: 0,
                copy_origin: match &feed.copy_origin {
                    CopyOrigin::None => None,
                    CopyOrigin::File(path) => Some(format!("file {}", path.display())),
                    CopyOrigin::SavedCopy(path) => Some(format!("saved copy {}", path.display())),
                    CopyOrigin::Primary(address) => Some(format!("primary {address}")),
                    CopyOrigin::Url(url) => Some(format!("url {url}")),
                },
                name: feed.name,
            })
            .collect()
    }

    fn refresh_feed(&self, name: &str) -> Result<(), BackendError> {
        let view = self.policy.load();
        let supply = view
            .load
            .supply
            .as_ref()
            .ok_or_else(|| BackendError::NotFound(format!("feed {name}")))?;
        if supply.refresh(name) {
            return Ok(());
        }
        if supply.status().iter().any(|feed| feed.name == name) {
            // A file feed: reread with the configuration.
            return self
                .reload_through_main_loop()
                .map_err(|problems| BackendError::Unavailable(problems.join("; ")));
        }
        Err(BackendError::NotFound(format!("feed {name}")))
    }

    fn profiles(&self) -> Vec<ProfileDocument> {
        crate::api_policy::profiles(&self.policy.load().section)
    }

    fn create_profile(&self, profile: ProfileDocument) -> Result<(), BackendError> {
        crate::api_policy::edit(self, |entries| entries.create_profile(profile))
    }

    fn update_profile(&self, name: &str, profile: ProfileDocument) -> Result<(), BackendError> {
        crate::api_policy::edit(self, |entries| entries.update_profile(name, profile))
    }

    fn delete_profile(&self, name: &str) -> Result<(), BackendError> {
        crate::api_policy::edit(self, |entries| entries.delete_profile(name))
    }

    fn clients(&self) -> Vec<ClientMapping> {
        crate::api_policy::clients(&self.policy.load().section)
    }

    fn create_client(&self, mapping: ClientMapping) -> Result<(), BackendError> {
        crate::api_policy::edit(self, |entries| entries.create_client(mapping))
    }

    fn update_client(&self, cidr: &str, mapping: ClientMapping) -> Result<(), BackendError> {
        crate::api_policy::edit(self, |entries| entries.update_client(cidr, mapping))
    }

    fn delete_client(&self, cidr: &str) -> Result<(), BackendError> {
        crate::api_policy::edit(self, |entries| entries.delete_client(cidr))
    }

    fn explain(
        &self,
        name: &Name,
        rtype: RType,
        client: Option<IpAddr>,
        at: Option<i64>,
    ) -> Result<ExplanationDocument, BackendError> {
        let view = self.policy.load();
        let policy = match &view.load.policy {
            Some(policy) => Arc::clone(policy),
            None => Arc::new(
                PolicySet::build(
                    vec![ProfileSpec::new("default", &[])],
                    Vec::new(),
                    Vec::new(),
                )
                .map_err(|error| BackendError::Internal(error.to_string()))?,
            ),
        };
        let time = UnixTime(at.unwrap_or_else(|| unix_seconds(SystemTime::now())));
        let explanation = policy.explain(
            name,
            rtype,
            &ClientInfo {
                address: client,
                ..ClientInfo::default()
            },
            time,
        );
        let mut steps = vec![
            format!("profile {}: {}", explanation.profile, explanation.selection),
            format!("local time {}", explanation.local_time),
        ];
        steps.extend(explanation.feeds.iter().map(|feed| {
            if feed.active {
                format!("feed {}: active", feed.feed)
            } else {
                format!("feed {}: inactive ({})", feed.feed, feed.note)
            }
        }));
        if explanation.response_triggers_pending {
            steps.push(
                "RESPONSE-IP, NSDNAME or NSIP triggers could still apply after resolution"
                    .to_owned(),
            );
        }
        steps.push(format!("answer: {}", explanation.answer));
        let (verdict, action, feed, rule, serial, extended_error) = match &explanation.decision {
            Decision::Pass => ("allowed".to_owned(), None, None, None, None, None),
            Decision::Allowed(entry) => (
                "allowed".to_owned(),
                None,
                None,
                Some(format!("allowlist {entry}")),
                None,
                None,
            ),
            Decision::SafeSearch { engine, target } => (
                "rewritten".to_owned(),
                Some(format!("CNAME {target}")),
                None,
                Some(format!("safe search for {engine}")),
                None,
                Some(hanse_policy::EdeCode::ForgedAnswer.info_code()),
            ),
            Decision::Match {
                feed,
                serial,
                trigger_kind,
                trigger,
                line,
                action,
                ede,
                ..
            } => {
                // The configuration's words for the action taken.
                let action = match action.as_str() {
                    "TCPONLY" => "tcp-only".to_owned(),
                    "LOCALDATA" => "local-data".to_owned(),
                    "BLOCK" => "block-answer".to_owned(),
                    other => other.to_ascii_lowercase(),
                };
                let verdict = match action.as_str() {
                    "passthru" => "passthru",
                    "local-data" | "cname" => "rewritten",
                    _ => "blocked",
                };
                (
                    verdict.to_owned(),
                    Some(action),
                    Some(feed.clone()),
                    Some(match line {
                        Some(line) => format!("{trigger_kind} {trigger} line {line}"),
                        None => format!("{trigger_kind} {trigger}"),
                    }),
                    *serial,
                    ede.map(hanse_policy::EdeCode::info_code),
                )
            }
        };
        Ok(ExplanationDocument {
            name: explanation.name,
            record_type: explanation.rtype.to_string(),
            client: client.map(|address| address.to_string()),
            profile: explanation.profile,
            verdict,
            action,
            feed,
            rule,
            serial,
            extended_error,
            steps,
        })
    }

    fn query_log_search(
        &self,
        filter: &QueryLogFilter,
    ) -> Result<Vec<QueryLogEntry>, BackendError> {
        let log = self.query_log()?;
        let search = hanse_querylog::SearchFilter {
            client: filter.client.map(|address| address.to_string()),
            name: filter.name.clone(),
            name_match: match filter.name_match {
                hanse_api::model::NameMatch::Substring => hanse_querylog::NameMatch::Contains,
                hanse_api::model::NameMatch::Suffix => hanse_querylog::NameMatch::Subtree,
            },
            since: filter
                .since
                .map(|seconds| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64)),
            until: filter
                .until
                .map(|seconds| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64)),
            blocked_only: filter.blocked_only,
            limit: filter.limit as usize,
            before_id: filter
                .before_id
                .map(|id| i64::try_from(id).unwrap_or(i64::MAX)),
        };
        let entries = log.search(&search).map_err(query_log_error)?;
        Ok(entries.into_iter().map(query_log_entry).collect())
    }

    fn query_log_export(&self, client: IpAddr) -> Result<Vec<QueryLogEntry>, BackendError> {
        let entries = self
            .query_log()?
            .export_client(&client.to_string())
            .map_err(query_log_error)?;
        Ok(entries.into_iter().map(query_log_entry).collect())
    }

    fn query_log_erase(&self, client: IpAddr) -> Result<u64, BackendError> {
        self.query_log()?
            .erase_client(&client.to_string())
            .map_err(query_log_error)
    }

    fn reload(&self) -> Result<(), BackendError> {
        self.reload_through_main_loop().map_err(|problems| {
            BackendError::Invalid(
                problems
                    .into_iter()
                    .map(|message| hanse_api::model::FieldProblem {
                        field: "configuration".to_owned(),
                        message,
                    })
                    .collect(),
            )
        })
    }

    fn negative_trust_anchors(&self) -> Vec<hanse_api::model::NegativeTrustAnchor> {
        self.trust.negative_trust_anchors()
    }

    fn add_negative_trust_anchor(
        &self,
        name: &Name,
        lifetime_seconds: u64,
    ) -> Result<hanse_api::model::NegativeTrustAnchor, BackendError> {
        self.trust.add_negative(name, lifetime_seconds)
    }

    fn remove_negative_trust_anchor(&self, name: &Name) -> Result<(), BackendError> {
        self.trust.remove_negative(name)
    }
}

/// Hands every answered query to the query log and the dnstap export, off
/// the query path: both queue it (dropping and counting when full); the
/// query log's record is allocation-free for a query without policy details.
pub struct QueryLogObserver {
    pub log: Option<Arc<QueryLog>>,
    pub dnstap: Option<Arc<hanse_querylog::DnstapExporter>>,
}

impl QueryObserver for QueryLogObserver {
    fn observe(&self, event: &QueryEvent<'_>) {
        if let Some(dnstap) = &self.dnstap {
            dnstap.offer(&hanse_querylog::DnstapQuery {
                query_time: event.time.checked_sub(event.elapsed).unwrap_or(event.time),
                response_time: event.time,
                client: std::net::SocketAddr::new(event.client, event.client_port),
                transport: event.transport.as_str(),
                query_message: event.query_message,
                response_message: event.response_message,
            });
        }
        let Some(log) = &self.log else {
            return;
        };
        let policy = event.policy.as_ref();
        // An abuse limit names itself in the action column (it is never a
        // policy block).
        let action = match event.limit {
            Some(limit) => Some(limit.as_str()),
            None => policy.map(|note| note.action),
        };
        log.record_query(&hanse_querylog::QueryRecord {
            time: event.time,
            client: event.client,
            transport: event.transport.as_str(),
            qname_wire: event.qname_wire,
            qtype: event.qtype.0,
            rcode: event.rcode.0,
            dropped: event.dropped,
            from_cache: event.from_cache,
            elapsed_micros: u32::try_from(event.elapsed.as_micros()).unwrap_or(u32::MAX),
            profile: event.profile,
            blocked: policy.is_some_and(|note| note.action != "passthru"),
            feed: policy.map(|note| note.feed).filter(|feed| !feed.is_empty()),
            action,
            rule: policy.map(|note| note.rule),
        });
    }
}
