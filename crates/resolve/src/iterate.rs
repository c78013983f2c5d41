//! The iterative resolution algorithm (RFC 1034 §5.3.3) with QNAME
//! minimisation (RFC 9156), forwarding and stub zones.
//!
//! One client question becomes a [`Task`] that carries the limits: upstream
//! queries sent, the deadline, and the nesting of nameserver-address look-ups.
//! A task resolves the question step by step: each step answers one name
//! from the cache or from the closest known zone cut downwards, and a
//! CNAME or DNAME moves the task to the alias target.
//!
//! Data from a response is trusted only inside the bailiwick of the zone the
//! server was asked about: records whose owner is outside that zone are
//! dropped, glue is taken only for the nameservers of the referral, and a
//! referral must lead downwards, towards the query name.
//!
//! Serve-stale (RFC 8767): when a resolution fails, or outlasts the client
//! response timeout, and the cache still holds the expired answer (see
//! [`hanse_cache::CacheConfig::max_stale`]), the client gets that answer with
//! the stale answer TTL and Extended DNS Error 3 (RFC 8914); a slow
//! resolution goes on in the background and refreshes the cache. Failures
//! are cached briefly (RFC 8767's failure recheck), so a dead server is
//! asked again only after that.
//!
//! Prefetch: a cache hit on an RRset with less than the configured share of
//! its original TTL left, seen at least twice while that near expiry,
//! starts one background refresh of the question; refreshes of one question
//! are coalesced, and the hit is answered from the cache without waiting.

use crate::clock::Clock;
use crate::coalesce::InFlight;
use crate::config::{QnameMinimisation, ResolverConfig, ResolverMode, StaleConfig};
use crate::outcome::{ExtendedError, Resolution};
use crate::outstanding::{Busy, Outstanding};
use crate::selection::ServerSelection;
use crate::sentinel::apply_sentinel;
use crate::statistics::{FailureReason, UpstreamCounters, UpstreamStatistics};
use crate::transport::{
    Protocol, Transport, TransportError, UpstreamQuery, compose_upstream_query, family_usable,
};
use crate::upstream_tls::{EncryptedProtocol, EncryptedUpstream};
use crate::validate::{
    Verdict, ZoneKeys, is_proof_record, negative_records, proof_zone_of, signatures_of,
};
use arc_swap::ArcSwap;
use hanse_cache::{CachedRrset, RrsetCache, Security, Trust};
use hanse_dnssec::Budget;
use hanse_wire::{Message, Name, RType, Rcode, Record};
use rand::seq::SliceRandom;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// How many minimised queries one step may send before it asks the full name
/// (RFC 9156 §2.3, MAX_MINIMISE_COUNT).
const MAX_MINIMISE_COUNT: u32 = 10;
/// How many other servers of a zone are asked after one gave an answer
/// that failed validation (the "bogus" server is avoided for the task).
pub(crate) const MAX_BOGUS_RETRIES: usize = 3;
/// How many servers one task remembers as having given bogus answers.
const MAX_AVOIDED_SERVERS: usize = 8;
/// TTL given to root hints placed in the cache before priming.
const HINTS_TTL: u32 = 3_600_000;

/// How many questions may wait for their second hit near expiry before
/// the list of prefetch candidates is started afresh.
const MAX_PREFETCH_CANDIDATES: usize = 4096;

/// YXDOMAIN (RFC 2136 §2.2), the answer to a DNAME substitution that would be too long.
const YXDOMAIN: Rcode = Rcode(6);

/// A recursive resolver: shared by all workers.
pub struct Resolver<T: Transport> {
    config: ArcSwap<ResolverConfig>,
    cache: Arc<RrsetCache>,
    transport: T,
    pub(crate) clock: Arc<dyn Clock>,
    selection: ServerSelection,
    in_flight: InFlight,
    upstream: UpstreamCounters,
    ipv4_usable: bool,
    ipv6_usable: bool,
    /// The resolver itself, for background work; empty unless made by
    /// [`Resolver::new_shared`].
    this: Weak<Resolver<T>>,
    /// Background refreshes (prefetch) in flight, coalesced per question;
    /// apart from client resolutions so that a refresh never holds up a hit.
    refreshing: InFlight,
    /// Questions hit once near expiry: the next hit starts a prefetch.
    prefetch_candidates: parking_lot::Mutex<HashSet<(Name, RType)>>,
    /// Upstream queries outstanding per zone and per server, for the caps
    /// of [`crate::Limits`].
    outstanding: Outstanding,
    /// Negative trust anchors and managed trust anchors set at run time.
    pub(crate) trust: crate::trust::RuntimeTrust,
}

/// The outcome of one step: resolving one name without following aliases.
#[derive(Debug)]
enum Step {
    /// The RRset asked for (and any chain records the response carried),
    /// with their RRSIGs and any wildcard proof.
    Answer(Vec<Record>),
    /// The name is an alias: these records lead to `target`.
    Alias { records: Vec<Record>, target: Name },
    /// The name does not exist: the SOA and the proof, if any.
    NxDomain(Vec<Record>),
    /// The name exists but has no data of the type: the SOA and the proof, if any.
    NoData(Vec<Record>),
    /// A DNAME applies but the substituted name would be too long.
    YxDomain(Vec<Record>),
    /// No answer could be had.
    Failure(ExtendedError),
}

/// What a response says about a question, after the bailiwick checks.
#[derive(Debug)]
enum Classified {
    /// The chain from the query name to the final RRset (RRsets in order).
    Answer(Vec<Vec<Record>>),
    /// The chain ends at `target` without data for it.
    Alias {
        rrsets: Vec<Vec<Record>>,
        target: Name,
    },
    /// A delegation to a zone below the one asked.
    Referral {
        zone: Name,
        nameservers: Vec<Record>,
        glue: Vec<Vec<Record>>,
    },
    /// NXDOMAIN, with the SOA if the server gave one.
    NxDomain(Option<Record>),
    /// NODATA, with the SOA if the server gave one.
    NoData(Option<Record>),
    /// YXDOMAIN: the DNAME (and chain) whose substitution is too long.
    YxDomain(Vec<Vec<Record>>),
}

/// Where a zone's servers come from.
#[derive(Debug)]
enum ServerSource {
    /// Nameserver names from an NS RRset.
    Names(Vec<Nameserver>),
    /// Addresses given in the configuration (stub zones), best first.
    Fixed(Vec<SocketAddr>),
    /// Forwarders, asked in the configured order.
    Ordered(Vec<SocketAddr>),
}

impl ServerSource {
    /// Nameservers whose addresses are still to be read from the cache.
    fn names(names: impl IntoIterator<Item = Name>) -> ServerSource {
        ServerSource::Names(
            names
                .into_iter()
                .map(|name| Nameserver {
                    name,
                    addresses: None,
                })
                .collect(),
        )
    }
}

/// A nameserver name and, when they have just been read from the cache
/// (with nothing run since that could change them), its usable addresses.
/// The first use of the source takes them; later uses read the cache again.
#[derive(Debug)]
struct Nameserver {
    name: Name,
    addresses: Option<Vec<SocketAddr>>,
}

/// Why a step stopped early.
enum Abort {
    Limit,
    Timeout,
    /// The zone has its most upstream queries outstanding.
    ZoneBusy,
    /// The server has its most upstream queries outstanding: try another.
    ServerBusy,
}

impl<T: Transport> Resolver<T> {
    /// Makes a resolver over `cache` that sends queries through `transport`.
    pub fn new(
        config: ResolverConfig,
        cache: Arc<RrsetCache>,
        transport: T,
        clock: Arc<dyn Clock>,
    ) -> Resolver<T> {
        let ipv4_usable = family_reachable(&config, "192.0.2.1:53".parse().expect("literal"));
        let ipv6_usable = family_reachable(&config, "[2001:db8::1]:53".parse().expect("literal"));
        Resolver {
            config: ArcSwap::from_pointee(config),
            cache,
            transport,
            clock,
            selection: ServerSelection::default(),
            in_flight: InFlight::default(),
            upstream: UpstreamCounters::default(),
            ipv4_usable,
            ipv6_usable,
            this: Weak::new(),
            refreshing: InFlight::default(),
            prefetch_candidates: parking_lot::Mutex::new(HashSet::new()),
            outstanding: Outstanding::new(),
            trust: crate::trust::RuntimeTrust::default(),
        }
    }

    /// Makes a shared resolver, as [`Resolver::new`], that can work in the
    /// background: prefetch, and resolutions that go on after a stale
    /// answer was sent. Background work is spawned on the Tokio runtime of
    /// the query that caused it.
    pub fn new_shared(
        config: ResolverConfig,
        cache: Arc<RrsetCache>,
        transport: T,
        clock: Arc<dyn Clock>,
    ) -> Arc<Resolver<T>> {
        Arc::new_cyclic(|this| {
            let mut resolver = Resolver::new(config, cache, transport, clock);
            resolver.this = this.clone();
            resolver
        })
    }

    /// Replaces the configuration; resolutions under way keep the old one.
    pub fn reconfigure(&self, config: ResolverConfig) {
        self.config.store(Arc::new(config));
    }

    /// The trust points set at run time (negative trust anchors, the
    /// trust anchors of automated updates), which validation reads along
    /// with the configuration.
    pub fn runtime_trust(&self) -> &crate::trust::RuntimeTrust {
        &self.trust
    }

    /// The RRset cache.
    pub fn cache(&self) -> &RrsetCache {
        &self.cache
    }

    /// The counters of the traffic with upstream servers and of SERVFAIL
    /// resolutions by reason, now.
    pub fn upstream_statistics(&self) -> UpstreamStatistics {
        let mut statistics = self.upstream.snapshot();
        statistics.cookies = self.transport.cookie_statistics();
        statistics
    }

    /// The clock the resolver reads.
    pub fn now(&self) -> u32 {
        self.clock.now()
    }

    /// The nameservers of the closest zone cut above `name` that the cache
    /// knows, with their cached addresses: what served (or would serve) an
    /// answer for `name`. Used for RPZ's NSDNAME and NSIP triggers. Reads the
    /// cache only; empty if no cut below the root is cached.
    pub fn nameservers_of(&self, name: &Name) -> (Vec<Name>, Vec<IpAddr>) {
        let now = self.now();
        let mut candidate = Some(name.clone());
        while let Some(zone) = candidate {
            if zone.is_root() {
                break;
            }
            if let Some(cached) = self.cache.get(&zone, RType::NS, now) {
                let names: Vec<Name> = cached
                    .records
                    .iter()
                    .filter_map(Record::target_name)
                    .collect();
                let mut addresses = Vec::new();
                for nameserver in &names {
                    for rtype in [RType::A, RType::AAAA] {
                        if let Some(cached) = self.cache.get(nameserver, rtype, now) {
                            addresses.extend(cached.records.iter().filter_map(Record::address));
                        }
                    }
                }
                return (names, addresses);
            }
            candidate = zone.parent();
        }
        (Vec::new(), Vec::new())
    }

    /// How long a composed answer with `ttl` seconds left may stay in an
    /// answer cache: with prefetch on, it leaves the answer cache before its
    /// RRsets reach the prefetch threshold, so that hits near expiry reach
    /// the resolver and can start a prefetch. Never more than `ttl`.
    pub fn answer_cache_lifetime(&self, ttl: u32) -> u32 {
        let config = self.config.load();
        if !config.stale.prefetch || self.this.strong_count() == 0 {
            return ttl;
        }
        let threshold = u64::from(config.stale.prefetch_threshold.min(100));
        let kept = u64::from(ttl) * (100 - threshold) / 100;
        u32::try_from(kept).unwrap_or(ttl).min(ttl)
    }

    /// Resolves `name`/`rtype` (class IN). Identical questions in flight are
    /// coalesced into one resolution. With serve-stale on, a failed or slow
    /// resolution is answered from stale data if the cache still has it.
    /// A secure A or AAAA answer for an RFC 8509 sentinel name whose claim
    /// is false is given the bogus status (SERVFAIL unless CD).
    pub async fn resolve(&self, name: &Name, rtype: RType) -> Resolution {
        // Names are resolved in lower case; most arrive that way already.
        let lowered;
        let name = if name.as_wire().iter().any(u8::is_ascii_uppercase) {
            lowered = name.to_lowercase();
            &lowered
        } else {
            name
        };
        let resolution = self.resolve_lowered(name, rtype).await;
        let anchors = || {
            self.trust
                .trust_anchors()
                .unwrap_or_else(|| Arc::new(self.config.load().dnssec.trust_anchors.clone()))
        };
        apply_sentinel(name, rtype, anchors, resolution)
    }

    /// [`Resolver::resolve`] for a name in lower case, before the sentinel.
    async fn resolve_lowered(&self, name: &Name, rtype: RType) -> Resolution {
        let stale = self.config.load().stale.clone();
        if !stale.serve_stale {
            return self.resolve_fresh(name, rtype).await;
        }
        if !stale.client_response_timeout.is_zero()
            && let Some(this) = self.this.upgrade()
            && let Some(stale_answer) = self.stale_answer(name, rtype, &stale)
        {
            // The resolution runs on its own so that it goes on, and
            // refreshes the cache, after the client got the stale answer.
            let owned = name.clone();
            let mut running = tokio::spawn(async move { this.resolve_fresh(&owned, rtype).await });
            return match tokio::time::timeout(stale.client_response_timeout, &mut running).await {
                Ok(Ok(resolution)) if !stale_on_failure(&resolution) => resolution,
                _ => stale_answer,
            };
        }
        let resolution = self.resolve_fresh(name, rtype).await;
        if stale_on_failure(&resolution)
            && let Some(stale_answer) = self.stale_answer(name, rtype, &stale)
        {
            return stale_answer;
        }
        resolution
    }

    /// The answer from stale data (RFC 8767 §4): the CNAME chain and the
    /// RRset of `name`/`rtype` as far as the cache holds them, live or
    /// stale, if at least one part is stale. Stale records get the stale
    /// answer TTL; the answer carries Extended DNS Error 3. Bogus data and
    /// referral or glue data never answer.
    fn stale_answer(&self, name: &Name, rtype: RType, stale: &StaleConfig) -> Option<Resolution> {
        let now = self.now();
        let usable = |cached: &CachedRrset| {
            cached.trust >= Trust::AnswerNonAuthoritative && cached.security != Security::Bogus
        };
        let ttl_of = |cached: &CachedRrset| {
            if cached.ttl == 0 {
                stale.stale_answer_ttl
            } else {
                cached.ttl
            }
        };
        let mut answers = Vec::new();
        let mut expired = false;
        let mut secure = true;
        let mut current = name.clone();
        let chain_limit = self.config.load().limits.max_cname_chain;
        for _ in 0..=chain_limit {
            let (cached, last) = match self.cache.get_stale(&current, rtype, now).filter(usable) {
                Some(cached) => (cached, true),
                None if rtype != RType::CNAME => (
                    self.cache
                        .get_stale(&current, RType::CNAME, now)
                        .filter(usable)?,
                    false,
                ),
                None => return None,
            };
            expired |= cached.ttl == 0;
            secure &= cached.security == Security::Secure;
            let ttl = ttl_of(&cached);
            answers.extend(with_ttl(&cached.records, ttl));
            answers.extend(with_ttl(&cached.signatures, ttl));
            if last {
                if !expired {
                    return None;
                }
                return Some(Resolution {
                    rcode: Rcode::NOERROR,
                    answers,
                    authorities: Vec::new(),
                    extended_error: Some(ExtendedError::STALE_ANSWER),
                    security: if secure {
                        Security::Secure
                    } else {
                        Security::Indeterminate
                    },
                });
            }
            current = cached.records.first()?.target_name()?;
        }
        None
    }

    /// Notes a cache hit on the RRset of `name`/`rtype` for prefetch: the
    /// second hit with less than `threshold` percent of the original TTL
    /// left starts a background refresh, unless one is in flight.
    fn consider_prefetch(&self, name: &Name, rtype: RType, cached: &CachedRrset, threshold: u8) {
        let original = cached.records.first().map_or(0, |record| record.ttl);
        if u64::from(cached.ttl) * 100 >= u64::from(original) * u64::from(threshold) {
            return;
        }
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut candidates = self.prefetch_candidates.lock();
            let question = (name.clone(), rtype);
            if !candidates.remove(&question) {
                if candidates.len() >= MAX_PREFETCH_CANDIDATES {
                    candidates.clear();
                }
                candidates.insert(question);
                return;
            }
        }
        let name = name.clone();
        runtime.spawn(async move { this.refresh(&name, rtype).await });
    }

    /// Resolves `name`/`rtype` again without its cached answer, and caches
    /// the result; refreshes of one question are coalesced.
    async fn refresh(&self, name: &Name, rtype: RType) -> Resolution {
        let work = Box::pin(async {
            let mut task = self.task(Some((name.clone(), rtype)));
            task.lookup(name, rtype).await
        });
        self.refreshing.run(name, rtype, work).await
    }

    /// A task for one question; `refresh` names a question whose cached
    /// answer is skipped.
    fn task(&self, refresh: Option<(Name, RType)>) -> Task<'_, T> {
        let config = self.config.load_full();
        let deadline = Instant::now() + config.limits.max_resolution_time;
        let budget = Budget::new(config.dnssec.limits);
        Task {
            resolver: self,
            config,
            queries_sent: 0,
            deadline,
            depth: 0,
            resolving: Vec::new(),
            budget,
            verdict: Verdict::secure(),
            validating: Vec::new(),
            zone_keys_found: Vec::new(),
            refresh,
            responder: None,
            avoided_servers: Vec::new(),
        }
    }

    /// Resolves `name` (already in lower case) without serve-stale,
    /// coalescing identical questions in flight.
    async fn resolve_fresh(&self, name: &Name, rtype: RType) -> Resolution {
        // The resolution's state lives on the heap: the future handed to the
        // caller stays small, so spawning and polling it copies little.
        let work = Box::pin(async {
            let mut task = self.task(None);
            task.lookup(name, rtype).await
        });
        let resolution = self.in_flight.run(name, rtype, work).await;
        if resolution.rcode == Rcode::SERVFAIL {
            self.upstream
                .record_failure(FailureReason::of(resolution.extended_error.as_ref()));
        }
        resolution
    }
}

/// One client question under way, with its budget.
pub(crate) struct Task<'r, T: Transport> {
    pub(crate) resolver: &'r Resolver<T>,
    pub(crate) config: Arc<ResolverConfig>,
    queries_sent: u32,
    deadline: Instant,
    depth: u32,
    /// Nameserver names whose addresses are being looked up, to break cycles.
    resolving: Vec<Name>,
    /// The DNSSEC work allowance of the whole client query.
    pub(crate) budget: Budget,
    /// The DNSSEC status of the answer being put together by `lookup`.
    verdict: Verdict,
    /// Zones whose keys are being found, innermost last (breaks cycles).
    pub(crate) validating: Vec<Name>,
    /// Zones whose keys were found during this task.
    pub(crate) zone_keys_found: Vec<(Name, ZoneKeys)>,
    /// A question whose cached answer the task skips once (a refresh).
    pub(crate) refresh: Option<(Name, RType)>,
    /// The server whose response was used last.
    pub(crate) responder: Option<SocketAddr>,
    /// Servers that gave answers failing validation; not asked again by
    /// this task while another server of the zone can be.
    avoided_servers: Vec<SocketAddr>,
}

impl<T: Transport> Task<'_, T> {
    pub(crate) fn now(&self) -> u32 {
        self.resolver.clock.now()
    }

    pub(crate) fn cache(&self) -> &RrsetCache {
        &self.resolver.cache
    }

    /// Stops asking `server` during this task: its answer failed
    /// validation, and another server of the zone may hold the right data
    /// (a server with stale signatures or a forged answer).
    pub(crate) fn avoid_server(&mut self, server: SocketAddr) {
        if !self.avoided_servers.contains(&server)
            && self.avoided_servers.len() < MAX_AVOIDED_SERVERS
        {
            self.avoided_servers.push(server);
        }
    }

    /// Adds a part of the answer under way to its DNSSEC status.
    fn note(&mut self, verdict: &Verdict) {
        self.verdict.merge(verdict);
    }

    /// Resolves a question, following CNAME and DNAME links, and gives the
    /// answer its DNSSEC status. Look-ups nest (nameserver addresses, DS and
    /// DNSKEY RRsets); each has its own status.
    pub(crate) async fn lookup(&mut self, name: &Name, rtype: RType) -> Resolution {
        let outer = std::mem::replace(&mut self.verdict, Verdict::secure());
        let mut resolution = self.lookup_chain(name, rtype).await;
        let verdict = std::mem::replace(&mut self.verdict, outer);
        if resolution.rcode == Rcode::SERVFAIL && resolution.answers.is_empty() {
            resolution.security = Security::Indeterminate;
            return resolution;
        }
        resolution.security = verdict.security;
        if verdict.security == Security::Bogus {
            resolution.extended_error = verdict.error.or(Some(ExtendedError::DNSSEC_BOGUS));
        }
        // A wildcard proof travels with the answer, in the authority section.
        if resolution.rcode == Rcode::NOERROR
            && !matches!(rtype, RType::NSEC | RType::NSEC3 | RType::RRSIG)
            && resolution.answers.iter().any(is_proof_record)
        {
            let (proof, answers): (Vec<Record>, Vec<Record>) =
                resolution.answers.drain(..).partition(is_proof_record);
            resolution.answers = answers;
            extend_unique(&mut resolution.authorities, proof);
        }
        resolution
    }

    /// Resolves a question, following CNAME and DNAME links.
    async fn lookup_chain(&mut self, name: &Name, rtype: RType) -> Resolution {
        let mut chain: Vec<Record> = Vec::new();
        // The alias targets followed so far, in order; the last one is the
        // name asked next. A short list: the chain length is limited.
        let mut targets: Vec<Name> = Vec::new();
        for _ in 0..=self.config.limits.max_cname_chain {
            let current = targets.last().unwrap_or(name);
            let step = self.step(current, rtype).await;
            match step {
                Step::Answer(records) => {
                    extend_unique(&mut chain, records);
                    return Resolution {
                        rcode: Rcode::NOERROR,
                        answers: chain,
                        authorities: Vec::new(),
                        extended_error: None,
                        security: Security::Indeterminate,
                    };
                }
                Step::Alias { records, target } => {
                    extend_unique(&mut chain, records);
                    if target == *name || targets.contains(&target) {
                        // SERVFAIL (RFC 1034 §3.6.2), with the chain that
                        // shows the loop to whoever debugs it.
                        let mut resolution = self.fail(name, rtype, ExtendedError::LOOP);
                        resolution.answers = chain;
                        return resolution;
                    }
                    targets.push(target);
                }
                Step::NxDomain(authorities) => {
                    return Resolution {
                        rcode: Rcode::NXDOMAIN,
                        answers: chain,
                        authorities,
                        extended_error: None,
                        security: Security::Indeterminate,
                    };
                }
                Step::NoData(authorities) => {
                    return Resolution {
                        rcode: Rcode::NOERROR,
                        answers: chain,
                        authorities,
                        extended_error: None,
                        security: Security::Indeterminate,
                    };
                }
                Step::YxDomain(records) => {
                    extend_unique(&mut chain, records);
                    return Resolution {
                        rcode: YXDOMAIN,
                        answers: chain,
                        authorities: Vec::new(),
                        extended_error: None,
                        security: Security::Indeterminate,
                    };
                }
                Step::Failure(error) => return self.fail(name, rtype, error),
            }
        }
        self.fail(name, rtype, ExtendedError::LIMIT_REACHED)
    }

    fn fail(&self, name: &Name, rtype: RType, error: ExtendedError) -> Resolution {
        if error != ExtendedError::CACHED_FAILURE {
            self.cache().insert_failure(name, rtype, self.now());
        }
        Resolution::failure(error)
    }

    /// Resolves one name without following aliases: cache first, then the network.
    async fn step(&mut self, name: &Name, rtype: RType) -> Step {
        let refreshing = self
            .refresh
            .as_ref()
            .is_some_and(|(refreshed, refreshed_type)| {
                refreshed == name && *refreshed_type == rtype
            });
        if refreshing {
            self.refresh = None;
        } else if let Some((step, verdict)) = self.answer_from_cache(name, rtype) {
            if !matches!(step, Step::Failure(_)) {
                self.note(&verdict);
            }
            return step;
        }
        if let Some(servers) = self.forwarders_for(name) {
            return self.forward(name, rtype, servers).await;
        }
        self.iterate(name, rtype).await
    }

    /// Answers from the RRset cache if it can, with the DNSSEC status of
    /// what it used (for bogus data, the reason validation gave when it was
    /// stored).
    fn answer_from_cache(&self, name: &Name, rtype: RType) -> Option<(Step, Verdict)> {
        let step = self.cached_step(name, rtype)?;
        Some(step)
    }

    fn cached_step(&self, name: &Name, rtype: RType) -> Option<(Step, Verdict)> {
        let now = self.now();
        let cache = self.cache();
        // Glue and referral NS RRsets guide iteration but are never answers
        // (RFC 2181 §5.4.1).
        let answerable = |trust: Trust| trust >= Trust::AnswerNonAuthoritative;
        if let Some(cached) = cache
            .get(name, rtype, now)
            .filter(|cached| answerable(cached.trust))
        {
            let stale = &self.config.stale;
            if stale.prefetch && self.depth == 0 {
                self.resolver
                    .consider_prefetch(name, rtype, &cached, stale.prefetch_threshold);
            }
            let mut records = with_ttl(&cached.records, cached.ttl);
            records.extend(with_ttl(&cached.signatures, cached.ttl));
            let verdict = Verdict::of_cached(cached.security, cached.extended_error);
            return Some((Step::Answer(records), verdict));
        }
        if rtype != RType::CNAME
            && let Some(cached) = cache
                .get(name, RType::CNAME, now)
                .filter(|cached| answerable(cached.trust))
        {
            let mut records = with_ttl(&cached.records, cached.ttl);
            let target = records.first()?.target_name()?;
            records.extend(with_ttl(&cached.signatures, cached.ttl));
            let verdict = Verdict::of_cached(cached.security, cached.extended_error);
            return Some((Step::Alias { records, target }, verdict));
        }
        if let Some(negative) = cache.get_negative(name, rtype, now) {
            let verdict = Verdict::of_cached(negative.security, negative.extended_error);
            let nxdomain = negative.nxdomain;
            let authorities = negative_authorities(negative);
            let step = if nxdomain {
                Step::NxDomain(authorities)
            } else {
                Step::NoData(authorities)
            };
            return Some((step, verdict));
        }
        if cache.get_failure(name, rtype, now) {
            return Some((
                Step::Failure(ExtendedError::CACHED_FAILURE),
                Verdict::of(Security::Indeterminate),
            ));
        }
        // A cached DNAME or NXDOMAIN at an ancestor decides for the whole subtree
        // (RFC 6672, RFC 8020).
        let mut ancestor = name.parent();
        while let Some(owner) = ancestor {
            if let Some(cached) = cache.get(&owner, RType::DNAME, now) {
                let records = with_ttl(&cached.records, cached.ttl);
                let signatures = with_ttl(&cached.signatures, cached.ttl);
                let security = Verdict::of_cached(cached.security, cached.extended_error);
                let dname = records.first()?;
                let replacement = dname.target_name()?;
                let target = match name.replace_suffix(&owner, &replacement) {
                    Some(Ok(target)) => target,
                    Some(Err(_)) => {
                        let mut records = vec![dname.clone()];
                        records.extend(signatures);
                        return Some((Step::YxDomain(records), security));
                    }
                    None => {
                        return Some((
                            Step::Failure(ExtendedError::INVALID_DATA),
                            Verdict::of(Security::Indeterminate),
                        ));
                    }
                };
                let synthesised = synthesise_cname(name, &target, dname.ttl);
                let mut records = vec![dname.clone()];
                records.extend(signatures);
                records.push(synthesised);
                return Some((Step::Alias { records, target }, security));
            }
            // The root always exists: an NXDOMAIN for it came from a broken
            // or intercepting upstream and must not deny every name.
            if !owner.is_root()
                && let Some(negative) = cache.get_negative(&owner, rtype, now)
                && negative.nxdomain
            {
                let verdict = Verdict::of_cached(negative.security, negative.extended_error);
                return Some((Step::NxDomain(negative_authorities(negative)), verdict));
            }
            ancestor = owner.parent();
        }
        self.aggressive_denial(name, rtype)
    }

    /// NXDOMAIN or NODATA proven by cached validated NSEC records
    /// (aggressive negative caching, RFC 8198), when validation and
    /// `aggressive_nsec` are on and no negative trust anchor covers `name`.
    fn aggressive_denial(&self, name: &Name, rtype: RType) -> Option<(Step, Verdict)> {
        let dnssec = &self.config.dnssec;
        if !dnssec.validation || !dnssec.aggressive_nsec || self.is_negative_anchor(name) {
            return None;
        }
        let denial = self.cache().nsec_index().deny(name, rtype, self.now())?;
        self.resolver.upstream.record_aggressive_answer();
        let mut authorities = vec![denial.soa];
        authorities.extend(denial.proof);
        let step = if denial.nxdomain {
            Step::NxDomain(authorities)
        } else {
            Step::NoData(authorities)
        };
        Some((step, Verdict::of(Security::Secure)))
    }

    /// Puts the NSEC records of a proof that validation found secure, with
    /// their RRSIGs and the SOA of `zone`, into the cache's NSEC index
    /// (RFC 8198): only records of `zone`, the zone whose keys verified them.
    fn index_secure_proof(&self, zone: &Name, records: &[Record]) {
        if !self.config.dnssec.aggressive_nsec {
            return;
        }
        let now = self.now();
        let index = self.cache().nsec_index();
        for nsec in records
            .iter()
            .filter(|record| record.rtype == RType::NSEC && record.name.is_subdomain_of(zone))
        {
            let signatures: Vec<Record> = signatures_of(records, &nsec.name, RType::NSEC)
                .into_iter()
                .filter(|signature| {
                    hanse_dnssec::Rrsig::from_record(signature)
                        .is_ok_and(|rrsig| rrsig.signer_name == *zone)
                })
                .collect();
            // Kept no longer than a signature stays valid, nor beyond its
            // original TTL (RFC 4035 §5.3.3).
            let unix_now = self.resolver.clock.unix_time();
            let signed_ttl = signatures
                .iter()
                .filter_map(|signature| hanse_dnssec::Rrsig::from_record(signature).ok())
                .map(|rrsig| {
                    let left = rrsig.expiration.wrapping_sub(unix_now);
                    let left = if left > i32::MAX as u32 { 0 } else { left };
                    left.min(rrsig.original_ttl)
                })
                .max();
            if let Some(signed_ttl) = signed_ttl {
                let capped = Record {
                    ttl: nsec.ttl.min(signed_ttl),
                    ..nsec.clone()
                };
                index.insert_nsec(zone, &capped, &signatures, now);
            }
        }
        if let Some(soa) = records
            .iter()
            .find(|record| record.rtype == RType::SOA && record.name == *zone)
        {
            index.insert_soa(zone, soa, &signatures_of(records, zone, RType::SOA), now);
        }
    }

    /// The forwarders for `name`: the longest matching forward zone, or all
    /// names in forward mode.
    fn forwarders_for(&self, name: &Name) -> Option<Vec<SocketAddr>> {
        let zone = self
            .config
            .forward_zones
            .iter()
            .filter(|zone| name.is_subdomain_of(&zone.name))
            .max_by_key(|zone| zone.name.label_count());
        let stub_is_closer = |depth: usize| {
            self.config
                .stub_zones
                .iter()
                .any(|stub| name.is_subdomain_of(&stub.name) && stub.name.label_count() > depth)
        };
        if let Some(zone) = zone {
            if !stub_is_closer(zone.name.label_count()) {
                return Some(zone.servers.clone());
            }
            return None;
        }
        match &self.config.mode {
            ResolverMode::Forward(servers) if !stub_is_closer(0) => Some(servers.clone()),
            _ => None,
        }
    }

    /// Asks forwarders (RD set) and accepts their answer without bailiwick
    /// restriction: they are trusted recursive resolvers.
    async fn forward(&mut self, name: &Name, rtype: RType, servers: Vec<SocketAddr>) -> Step {
        let root = Name::root();
        let response = match self
            .query_servers(
                &root,
                &mut ServerSource::Ordered(servers),
                name,
                rtype,
                true,
            )
            .await
        {
            Ok(response) => response,
            Err(error) => return Step::Failure(error),
        };
        match classify(&response, &root, name, rtype) {
            Classified::Referral { .. } => Step::Failure(ExtendedError::INVALID_DATA),
            classified => {
                self.conclude(
                    classified,
                    name,
                    rtype,
                    Trust::AnswerNonAuthoritative,
                    &root,
                    &response,
                )
                .await
            }
        }
    }

    /// Validates and caches a final classification of a response from
    /// `zone`'s servers and turns it into a step.
    async fn conclude(
        &mut self,
        classified: Classified,
        name: &Name,
        rtype: RType,
        trust: Trust,
        zone: &Name,
        response: &Message,
    ) -> Step {
        match classified {
            Classified::Answer(rrsets) => {
                Step::Answer(self.store_all(rrsets, trust, zone, response).await)
            }
            Classified::Alias { rrsets, target } => Step::Alias {
                records: self.store_all(rrsets, trust, zone, response).await,
                target,
            },
            Classified::NxDomain(soa) => {
                let authorities = self
                    .store_negative(name, None, soa, true, zone, response)
                    .await;
                Step::NxDomain(authorities)
            }
            Classified::NoData(soa) => {
                let authorities = self
                    .store_negative(name, Some(rtype), soa, false, zone, response)
                    .await;
                Step::NoData(authorities)
            }
            Classified::YxDomain(rrsets) => {
                Step::YxDomain(self.store_all(rrsets, trust, zone, response).await)
            }
            Classified::Referral { .. } => Step::Failure(ExtendedError::INVALID_DATA),
        }
    }

    /// Validates and stores RRsets from a response of `zone`'s servers and
    /// returns their records (with RRSIGs and wildcard proofs) with the TTLs
    /// the cache gives.
    async fn store_all(
        &mut self,
        rrsets: Vec<Vec<Record>>,
        trust: Trust,
        zone: &Name,
        response: &Message,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        // The status of the last DNAME stored, for the CNAMEs synthesised from it.
        let mut dname_security = None;
        for rrset in rrsets {
            let Some(first) = rrset.first() else { continue };
            // Synthesised CNAMEs (from a DNAME) are not cached on their own,
            // nor validated: the DNAME is.
            let synthesised = first.rtype == RType::CNAME && first.ttl == u32::MAX;
            if synthesised
                && dname_security == Some(Security::Secure)
                && contradicts_synthesis(first, &response.answers)
            {
                // The server's own CNAME for a name under a secure DNAME
                // points elsewhere: the answer was tampered with.
                self.note(&Verdict::bogus(ExtendedError::DNSSEC_BOGUS));
            }
            if !synthesised {
                let (owner, rtype) = (first.name.clone(), first.rtype);
                let signatures = signatures_of(&response.answers, &owner, rtype);
                let checked = self
                    .check_rrset(&rrset, &signatures, zone, &response.authorities)
                    .await;
                self.note(&checked.verdict);
                if rtype == RType::DNAME {
                    dname_security = Some(checked.verdict.security);
                }
                let mut ttl_cap = checked.ttl_cap.unwrap_or(u32::MAX);
                if checked.verdict.security == Security::Bogus {
                    ttl_cap = ttl_cap.min(self.config.dnssec.bogus_ttl);
                }
                let capped: Vec<Record> = rrset
                    .iter()
                    .map(|record| Record {
                        ttl: record.ttl.min(ttl_cap),
                        ..record.clone()
                    })
                    .collect();
                if checked.verdict.security == Security::Secure && !checked.proof.is_empty() {
                    // A wildcard answer's proof, verified with the keys of
                    // the zone that signed the answer.
                    let signer = signatures
                        .iter()
                        .filter_map(|record| hanse_dnssec::Rrsig::from_record(record).ok())
                        .map(|rrsig| rrsig.signer_name)
                        .find(|signer| owner.is_subdomain_of(signer));
                    if let Some(signer) = signer {
                        self.index_secure_proof(&signer, &checked.proof);
                    }
                }
                let mut extras = signatures;
                extras.extend(checked.proof);
                let now = self.now();
                self.cache().insert_signed(
                    &capped,
                    &extras,
                    trust,
                    checked.verdict.validation(),
                    now,
                );
                if let Some(cached) = self.cache().get(&owner, rtype, now)
                    && cached.security == checked.verdict.security
                {
                    records.extend(with_ttl(&cached.records, cached.ttl));
                    records.extend(with_ttl(&cached.signatures, cached.ttl));
                    continue;
                }
                records.extend(capped);
                records.extend(extras);
                continue;
            }
            records.extend(rrset);
        }
        // The synthesised CNAME takes the TTL of its DNAME (RFC 6672 §3.1).
        let mut dname_ttl = None;
        for record in &mut records {
            if record.rtype == RType::DNAME {
                dname_ttl = Some(record.ttl);
            } else if record.ttl == u32::MAX {
                record.ttl = dname_ttl.unwrap_or(0);
            }
        }
        records
    }

    /// Keeps what a referral from `zone` to `child` says about the child's
    /// DS RRset (RFC 4035 §3.1.4): the DS RRset with its RRSIGs, or the
    /// NSEC/NSEC3 proof that there is none. Bogus data is not kept.
    async fn store_referral_ds(&mut self, child: &Name, zone: &Name, response: &Message) {
        if !self.config.dnssec.validation {
            return;
        }
        let ds: Vec<Record> = response
            .authorities
            .iter()
            .filter(|record| record.rtype == RType::DS && record.name == *child)
            .cloned()
            .collect();
        if !ds.is_empty() {
            let signatures = signatures_of(&response.authorities, child, RType::DS);
            let checked = self.check_rrset(&ds, &signatures, zone, &[]).await;
            if checked.verdict.security == Security::Bogus {
                return;
            }
            let ttl_cap = checked.ttl_cap.unwrap_or(u32::MAX);
            let capped: Vec<Record> = ds
                .iter()
                .map(|record| Record {
                    ttl: record.ttl.min(ttl_cap),
                    ..record.clone()
                })
                .collect();
            let now = self.now();
            self.cache().insert_signed(
                &capped,
                &signatures,
                Trust::AuthorityAuthoritative,
                checked.verdict.security,
                now,
            );
            return;
        }
        let records = negative_records(&response.authorities, zone);
        if !records
            .iter()
            .any(|record| matches!(record.rtype, RType::NSEC | RType::NSEC3))
        {
            return;
        }
        let verdict = self
            .check_denial(child, RType::DS, false, zone, &records)
            .await;
        if verdict.security == Security::Bogus {
            return;
        }
        if verdict.security == Security::Secure {
            let proof_zone = proof_zone_of(child, RType::DS, zone, &records);
            self.index_secure_proof(&proof_zone, &records);
        }
        let proof: Vec<Record> = records
            .into_iter()
            .filter(|record| record.rtype != RType::SOA)
            .collect();
        let now = self.now();
        self.cache().insert_negative_signed(
            child,
            Some(RType::DS),
            None,
            false,
            &proof,
            verdict.security,
            now,
        );
    }

    /// Validates and stores a negative answer from `zone`'s servers;
    /// returns its authority section (SOA and proof) with the negative TTL.
    async fn store_negative(
        &mut self,
        name: &Name,
        rtype: Option<RType>,
        soa: Option<Record>,
        nxdomain: bool,
        zone: &Name,
        response: &Message,
    ) -> Vec<Record> {
        let records = negative_records(&response.authorities, zone);
        let verdict = self
            .check_denial(name, rtype.unwrap_or(RType::A), nxdomain, zone, &records)
            .await;
        self.note(&verdict);
        if verdict.security == Security::Secure {
            let proof_zone = proof_zone_of(name, rtype.unwrap_or(RType::A), zone, &records);
            self.index_secure_proof(&proof_zone, &records);
        }
        let now = self.now();
        let proof: Vec<Record> = records
            .iter()
            .filter(|record| record.rtype != RType::SOA)
            .cloned()
            .collect();
        // Without an SOA there is no negative TTL: cached for a few seconds
        // only (`NEGATIVE_TTL_WITHOUT_SOA`, RFC 2308 §5); the proof still
        // goes with the answer (an insecure delegation is proven by it).
        let Some(soa) = soa else {
            self.cache().insert_negative_signed(
                name,
                rtype,
                None,
                nxdomain,
                &proof,
                verdict.security,
                now,
            );
            return proof;
        };
        let mut stored_soa = soa.clone();
        if verdict.security == Security::Bogus {
            stored_soa.ttl = stored_soa.ttl.min(self.config.dnssec.bogus_ttl);
        }
        self.cache().insert_negative_signed(
            name,
            rtype,
            Some(stored_soa),
            nxdomain,
            &proof,
            verdict.validation(),
            now,
        );
        let lookup_type = rtype.unwrap_or(RType::A);
        match self.cache().get_negative(name, lookup_type, now) {
            Some(negative) if negative.security == verdict.security => {
                negative_authorities(negative)
            }
            _ => {
                let mut soa = soa;
                soa.ttl = soa.ttl.min(soa.soa_minimum().unwrap_or(soa.ttl));
                let ttl = soa.ttl;
                let mut authorities = vec![soa];
                authorities.extend(proof.into_iter().map(|record| Record { ttl, ..record }));
                authorities
            }
        }
    }

    /// Resolves from the closest known zone cut downwards.
    async fn iterate(&mut self, name: &Name, rtype: RType) -> Step {
        // DS lives in the parent zone (RFC 4035 §3.1.4.1).
        let cut_for = if rtype == RType::DS && !name.is_root() {
            name.parent().unwrap_or_else(Name::root)
        } else {
            name.clone()
        };
        let (mut zone, mut source) = match self.closest_delegation(&cut_for).await {
            Ok(found) => found,
            Err(error) => return Step::Failure(error),
        };
        let mode = self.config.qname_minimisation;
        let mut minimise = mode != QnameMinimisation::Off;
        let mut known_labels = zone.label_count();
        let mut minimised_queries = 0;
        let target_labels = cut_for.label_count();
        // A bogus outcome kept while other servers of the zone are asked,
        // with its status, and how many were asked so.
        let mut bogus_outcome: Option<(Step, Verdict)> = None;
        let mut bogus_retries = 0;
        loop {
            if Instant::now() >= self.deadline {
                return Step::Failure(ExtendedError::TIMEOUT);
            }
            // The last label is never minimised: that query asks the real type.
            let minimised = minimise
                && known_labels + 1 < target_labels
                && minimised_queries < MAX_MINIMISE_COUNT;
            let (query_name, query_type) = if minimised {
                minimised_queries += 1;
                (name.suffix(known_labels + 1), RType::A)
            } else {
                (name.clone(), rtype)
            };
            let result = self
                .query_servers(&zone, &mut source, &query_name, query_type, false)
                .await;
            let response = match result {
                Ok(response) => response,
                Err(error) => {
                    if let Some((step, verdict)) = bogus_outcome.take() {
                        // No other server answered: the bogus answer stands.
                        self.verdict = verdict;
                        return step;
                    }
                    if minimised && mode == QnameMinimisation::Relaxed && self.budget_left() {
                        minimise = false;
                        continue;
                    }
                    return Step::Failure(error);
                }
            };
            let classified = classify(&response, &zone, &query_name, query_type);
            let trust = if response.header.authoritative {
                Trust::AnswerAuthoritative
            } else {
                Trust::AnswerNonAuthoritative
            };
            match classified {
                Classified::Referral {
                    zone: child,
                    nameservers,
                    glue,
                } => {
                    let now = self.now();
                    self.cache()
                        .insert(&nameservers, Trust::AuthorityReferral, now);
                    for rrset in &glue {
                        self.cache().insert(rrset, Trust::Additional, now);
                    }
                    self.store_referral_ds(&child, &zone, &response).await;
                    source =
                        ServerSource::names(nameservers.iter().filter_map(Record::target_name));
                    known_labels = child.label_count();
                    zone = child;
                }
                Classified::Answer(_) | Classified::NoData(_) if minimised => {
                    // The minimised name exists inside this zone: one label more.
                    known_labels += 1;
                }
                Classified::NxDomain(soa) if minimised => {
                    if mode == QnameMinimisation::Relaxed {
                        minimise = false;
                        continue;
                    }
                    // RFC 8020: nothing exists below a name that does not exist.
                    let authorities = self
                        .store_negative(&query_name, None, soa, true, &zone, &response)
                        .await;
                    return Step::NxDomain(authorities);
                }
                Classified::Alias { .. } | Classified::YxDomain(_) if minimised => {
                    // An alias above the query name: ask the full name.
                    minimise = false;
                }
                classified => {
                    let responder = self.responder;
                    let before = self.verdict.clone();
                    let step = self
                        .conclude(classified, name, rtype, trust, &zone, &response)
                        .await;
                    let turned_bogus = self.verdict.security == Security::Bogus
                        && before.security != Security::Bogus;
                    if let Some(server) = responder
                        && turned_bogus
                        && bogus_retries < MAX_BOGUS_RETRIES
                        && self.budget_left()
                    {
                        // Ask another server of the zone: one server may
                        // hold stale signatures or have been spoofed.
                        bogus_retries += 1;
                        self.avoid_server(server);
                        let verdict = std::mem::replace(&mut self.verdict, before);
                        bogus_outcome = Some((step, verdict));
                        continue;
                    }
                    return step;
                }
            }
        }
    }

    fn budget_left(&self) -> bool {
        self.queries_sent < self.config.limits.max_upstream_queries
            && Instant::now() < self.deadline
    }

    /// Finds the deepest zone cut known for `name`: a stub zone, a cached NS
    /// RRset, or the root (priming it if needed).
    async fn closest_delegation(
        &mut self,
        name: &Name,
    ) -> Result<(Name, ServerSource), ExtendedError> {
        let now = self.now();
        let mut candidate = Some(name.clone());
        while let Some(zone) = candidate {
            if let Some(stub) = self.config.stub_zones.iter().find(|stub| stub.name == zone) {
                return Ok((zone, ServerSource::Fixed(stub.servers.clone())));
            }
            if zone.is_root() {
                break;
            }
            if let Some(cached) = self.cache().get(&zone, RType::NS, now) {
                let mut nameservers: Vec<Nameserver> = cached
                    .records
                    .iter()
                    .filter_map(Record::target_name)
                    .map(|name| Nameserver {
                        name,
                        addresses: None,
                    })
                    .collect();
                // A cut whose nameservers all live inside the zone and whose
                // glue has expired cannot be reached from here: go up, and the
                // parent's referral brings the glue again. The addresses read
                // for this are kept for the query that follows at once.
                let mut reachable = false;
                for nameserver in &mut nameservers {
                    if !nameserver.name.is_subdomain_of(&zone) {
                        reachable = true;
                        break;
                    }
                    let addresses = self.cached_addresses(&nameserver.name);
                    let usable = !addresses.is_empty();
                    nameserver.addresses = Some(addresses);
                    if usable {
                        reachable = true;
                        break;
                    }
                }
                if reachable {
                    return Ok((zone, ServerSource::Names(nameservers)));
                }
            }
            candidate = zone.parent();
        }
        Ok((Name::root(), self.root_servers().await))
    }

    /// The root's nameservers from the cache, priming them from the hints first.
    async fn root_servers(&mut self) -> ServerSource {
        let root = Name::root();
        let now = self.now();
        if let Some(cached) = self.cache().get(&root, RType::NS, now)
            && cached.trust >= Trust::AnswerNonAuthoritative
        {
            return ServerSource::names(cached.records.iter().filter_map(Record::target_name));
        }
        // Put the hints in the cache with the lowest trust, then prime (RFC 8109).
        let hints = self.config.root_hints.clone();
        let mut nameservers = Vec::new();
        for (server, addresses) in &hints {
            nameservers.push(Record {
                name: root.clone(),
                rtype: RType::NS,
                class: hanse_wire::Class::IN,
                ttl: HINTS_TTL,
                data: server.as_wire().into(),
            });
            let a: Vec<Record> = addresses
                .iter()
                .filter(|address| address.is_ipv4())
                .map(|address| address_record(server, *address))
                .collect();
            let aaaa: Vec<Record> = addresses
                .iter()
                .filter(|address| address.is_ipv6())
                .map(|address| address_record(server, *address))
                .collect();
            self.cache().insert(&a, Trust::Additional, now);
            self.cache().insert(&aaaa, Trust::Additional, now);
        }
        self.cache().insert(&nameservers, Trust::Additional, now);
        let names: Vec<Name> = hints.iter().map(|(server, _)| server.clone()).collect();
        let mut source = ServerSource::names(names);
        if let Ok(response) = self
            .query_servers(&root, &mut source, &root, RType::NS, false)
            .await
            && let Classified::Answer(rrsets) = classify(&response, &root, &root, RType::NS)
        {
            {
                let now = self.now();
                let mut primed = Vec::new();
                for rrset in rrsets {
                    self.cache().insert(&rrset, Trust::AnswerAuthoritative, now);
                    primed.extend(rrset.iter().filter_map(Record::target_name));
                }
                let primed_set: HashSet<&Name> = primed.iter().collect();
                for rrset in group_rrsets(&response.additionals) {
                    let owner = &rrset[0].name;
                    if matches!(rrset[0].rtype, RType::A | RType::AAAA)
                        && primed_set.contains(owner)
                    {
                        self.cache().insert(&rrset, Trust::Additional, now);
                    }
                }
                if !primed.is_empty() {
                    return ServerSource::names(primed);
                }
            }
        }
        source
    }

    /// The usable addresses of `nameserver` from the cache.
    fn cached_addresses(&self, nameserver: &Name) -> Vec<SocketAddr> {
        let now = self.now();
        let mut addresses = Vec::new();
        let families = [
            (RType::A, self.resolver.ipv4_usable),
            (RType::AAAA, self.resolver.ipv6_usable),
        ];
        for (rtype, usable) in families {
            // Addresses of a family without a route would be dropped below.
            if !usable {
                continue;
            }
            if let Some(cached) = self.cache().get(nameserver, rtype, now) {
                addresses.extend(
                    cached
                        .records
                        .iter()
                        .filter_map(Record::address)
                        .map(|address| SocketAddr::new(address, 53)),
                );
            }
        }
        addresses.retain(|address| self.address_allowed(address.ip()));
        addresses
    }

    fn address_allowed(&self, address: IpAddr) -> bool {
        let family = match address {
            IpAddr::V4(_) => self.resolver.ipv4_usable,
            IpAddr::V6(_) => self.resolver.ipv6_usable,
        };
        family && (self.config.query_private_upstreams || is_public(address))
    }

    /// Looks up the addresses of a nameserver that came without glue.
    async fn resolve_nameserver(&mut self, nameserver: &Name) -> Vec<SocketAddr> {
        if self.depth >= self.config.limits.max_delegation_depth
            || self.resolving.contains(nameserver)
        {
            return Vec::new();
        }
        self.depth += 1;
        self.resolving.push(nameserver.clone());
        let mut addresses = Vec::new();
        let families: &[RType] = if self.resolver.ipv6_usable {
            &[RType::A, RType::AAAA]
        } else {
            &[RType::A]
        };
        for &rtype in families {
            let resolution = Box::pin(self.lookup(nameserver, rtype)).await;
            addresses.extend(
                resolution
                    .answers
                    .iter()
                    .filter(|record| record.rtype == rtype)
                    .filter_map(Record::address)
                    .map(|address| SocketAddr::new(address, 53)),
            );
            if !addresses.is_empty() || !self.budget_left() {
                break;
            }
        }
        self.resolving.pop();
        self.depth -= 1;
        addresses.retain(|address| self.address_allowed(address.ip()));
        addresses
    }

    /// Asks the servers of `zone` until one gives a usable response.
    async fn query_servers(
        &mut self,
        zone: &Name,
        source: &mut ServerSource,
        name: &Name,
        rtype: RType,
        recursion_desired: bool,
    ) -> Result<Message, ExtendedError> {
        let mut candidates: Vec<SocketAddr> = Vec::new();
        let mut unresolved: Vec<&Name> = Vec::new();
        let ordered = matches!(source, ServerSource::Ordered(_));
        match source {
            ServerSource::Fixed(servers) | ServerSource::Ordered(servers) => {
                candidates.clone_from(servers);
            }
            ServerSource::Names(nameservers) => {
                let mut nameservers: Vec<&mut Nameserver> = nameservers.iter_mut().collect();
                nameservers.shuffle(&mut rand::rng());
                for nameserver in nameservers {
                    let addresses = match nameserver.addresses.take() {
                        Some(addresses) => addresses,
                        None => self.cached_addresses(&nameserver.name),
                    };
                    let nameserver: &Nameserver = nameserver;
                    if addresses.is_empty() {
                        // A nameserver inside the zone without glue cannot be reached
                        // through this zone (it would loop); skip it.
                        if !nameserver.name.is_subdomain_of(zone) {
                            unresolved.push(&nameserver.name);
                        }
                    } else {
                        candidates.extend(addresses);
                    }
                }
                unresolved.truncate(self.config.limits.max_nameserver_names as usize);
            }
        }
        if ordered {
            let mut seen: Vec<SocketAddr> = Vec::with_capacity(candidates.len());
            candidates.retain(|server| {
                let new = !seen.contains(server);
                seen.push(*server);
                new
            });
        } else {
            candidates.sort();
            candidates.dedup();
        }
        // Few servers per zone: lists searched in order beat hash sets.
        let mut tried: Vec<SocketAddr> = Vec::new();
        let mut untried: Vec<SocketAddr> = Vec::new();
        let mut timed_out: Vec<SocketAddr> = Vec::new();
        let mut last_error = ExtendedError::NO_REACHABLE_AUTHORITY;
        loop {
            untried.clear();
            let avoided = &self.avoided_servers;
            untried.extend(
                candidates
                    .iter()
                    .copied()
                    .filter(|server| !tried.contains(server) && !avoided.contains(server)),
            );
            let chosen = if ordered {
                self.resolver.selection.first_available(&untried)
            } else {
                self.resolver.selection.best(&untried)
            };
            let Some(server) = chosen else {
                match unresolved.pop() {
                    Some(nameserver) => {
                        let addresses = self.resolve_nameserver(nameserver).await;
                        candidates.extend(addresses);
                        candidates.sort();
                        candidates.dedup();
                        continue;
                    }
                    None => break,
                }
            };
            tried.push(server);
            match self
                .exchange(zone, server, name, rtype, recursion_desired, None)
                .await
            {
                Ok(response) => {
                    if usable(&response, zone, name, recursion_desired) {
                        self.responder = Some(server);
                        return Ok(response);
                    }
                    last_error = ExtendedError::INVALID_DATA;
                }
                Err(Ok(TransportError::Timeout)) => timed_out.push(server),
                Err(Err(Abort::ServerBusy)) => last_error = ExtendedError::UPSTREAM_BUSY,
                Err(Ok(_)) => {}
                Err(Err(Abort::Limit)) => return Err(ExtendedError::LIMIT_REACHED),
                Err(Err(Abort::Timeout)) => return Err(ExtendedError::TIMEOUT),
                Err(Err(Abort::ZoneBusy)) => return Err(ExtendedError::UPSTREAM_BUSY),
            }
        }
        // A second round for the servers that stayed silent: a server known to
        // speak EDNS is asked again as before (the datagram may have been
        // lost); any other may be dropping EDNS queries and is asked without.
        for server in timed_out {
            let selection = &self.resolver.selection;
            // An encrypted transport loses no datagrams and has no EDNS
            // trouble to work around.
            let encrypted = self
                .config
                .encrypted_upstreams
                .iter()
                .any(|upstream| upstream.address() == server);
            if selection.edns_disabled(server) || encrypted {
                continue;
            }
            let edns = selection.edns_confirmed(server);
            match self
                .exchange(zone, server, name, rtype, recursion_desired, Some(edns))
                .await
            {
                Ok(response) => {
                    if usable(&response, zone, name, recursion_desired) {
                        if !edns {
                            self.resolver.selection.disable_edns(server);
                        }
                        self.responder = Some(server);
                        return Ok(response);
                    }
                }
                Err(Err(Abort::Limit)) => return Err(ExtendedError::LIMIT_REACHED),
                Err(Err(Abort::Timeout)) => return Err(ExtendedError::TIMEOUT),
                Err(Err(Abort::ZoneBusy)) => return Err(ExtendedError::UPSTREAM_BUSY),
                Err(Err(Abort::ServerBusy)) | Err(Ok(_)) => {}
            }
        }
        Err(last_error)
    }

    /// One exchange with one server of `zone`: EDNS fallback on
    /// FORMERR/NOTIMP, TCP on TC. `edns` forces EDNS on or off; `None` uses
    /// what is known of the server. A zone or server with its most queries
    /// outstanding is not asked (the zone's cap applies to iterative queries
    /// only, not to forwarding).
    async fn exchange(
        &mut self,
        zone: &Name,
        server: SocketAddr,
        name: &Name,
        rtype: RType,
        recursion_desired: bool,
        edns: Option<bool>,
    ) -> Result<Message, Result<TransportError, Abort>> {
        // Decided at the first attempt, from what is known of the server.
        let mut edns_choice = edns;
        let config = Arc::clone(&self.config);
        let encryption = config
            .encrypted_upstreams
            .iter()
            .find(|upstream| upstream.address() == server);
        let mut protocol = match encryption.map(EncryptedUpstream::protocol) {
            None => Protocol::Udp,
            Some(EncryptedProtocol::Tls) => Protocol::Tls,
            Some(EncryptedProtocol::Https { .. }) => Protocol::Https,
        };
        for _ in 0..3 {
            if self.queries_sent >= self.config.limits.max_upstream_queries {
                return Err(Err(Abort::Limit));
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(Err(Abort::Timeout));
            }
            let limits = &self.config.limits;
            let zone_cap = if recursion_desired {
                0
            } else {
                limits.max_outstanding_per_zone
            };
            let resolver = self.resolver;
            let _permit = match resolver.outstanding.acquire(
                zone,
                server,
                zone_cap,
                limits.max_outstanding_per_server,
            ) {
                Ok(permit) => permit,
                Err(Busy::Zone) => return Err(Err(Abort::ZoneBusy)),
                Err(Busy::Server) => return Err(Err(Abort::ServerBusy)),
            };
            self.queries_sent += 1;
            let ceiling = self.config.limits.upstream_timeout.min(self.deadline - now);
            // One look at the server's statistics for both settings.
            let (edns_disabled, udp_timeout) = self.resolver.selection.settings(server, ceiling);
            let use_edns = *edns_choice.get_or_insert(!edns_disabled);
            let timeout = match protocol {
                Protocol::Udp => udp_timeout,
                Protocol::Tcp | Protocol::Tls | Protocol::Https => ceiling,
            };
            let id = rand::random::<u16>();
            let edns_udp_size = use_edns.then_some(self.config.edns_buffer_size);
            // DO is always set: the signatures are kept with the data.
            // Encrypted queries are padded (RFC 8467).
            let message = compose_upstream_query(
                id,
                name,
                rtype,
                recursion_desired,
                edns_udp_size,
                true,
                encryption.is_some(),
            );
            let query = UpstreamQuery {
                server,
                message: &message,
                id,
                name,
                rtype,
                protocol,
                timeout,
                encryption,
            };
            let started = Instant::now();
            let upstream = &self.resolver.upstream;
            let bytes = match self.resolver.transport.exchange(query).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    let waited = started.elapsed();
                    self.resolver.selection.record_timeout(server, waited);
                    upstream.record_exchange(server, protocol, Err(error));
                    return Err(Ok(error));
                }
            };
            let rtt = started.elapsed();
            self.resolver
                .selection
                .record_response(server, rtt, use_edns);
            upstream.record_exchange(server, protocol, Ok(rtt));
            let Ok(response) = Message::parse(&bytes) else {
                upstream.record_malformed();
                return Err(Ok(TransportError::Malformed));
            };
            let rcode = response.rcode();
            if use_edns
                && response.edns.is_none()
                && matches!(rcode, Rcode::FORMERR | Rcode::NOTIMP)
            {
                // RFC 6891 §7: a server that does not know EDNS; ask again without.
                self.resolver.selection.disable_edns(server);
                upstream.record_edns_fallback();
                edns_choice = Some(false);
                continue;
            }
            if response.header.truncated && protocol == Protocol::Udp {
                upstream.record_tcp_fallback();
                protocol = Protocol::Tcp;
                continue;
            }
            return Ok(response);
        }
        Err(Ok(TransportError::Malformed))
    }
}

/// Whether a response is one to work with, rather than a lame or broken server's.
fn usable(response: &Message, zone: &Name, name: &Name, recursion_desired: bool) -> bool {
    let rcode = response.rcode();
    if rcode == YXDOMAIN {
        // A DNAME substitution that would be too long (RFC 6672 §2.2).
        return response
            .answers
            .iter()
            .any(|record| record.rtype == RType::DNAME);
    }
    if rcode != Rcode::NOERROR && rcode != Rcode::NXDOMAIN {
        return false;
    }
    if response.header.truncated {
        return false;
    }
    if recursion_desired || rcode == Rcode::NXDOMAIN || !response.answers.is_empty() {
        return true;
    }
    // NS records for a zone at or above the one asked, with no answer: an
    // upward referral from a lame server, whatever its AA flag says.
    let upward_referral = response.authorities.iter().any(|record| {
        record.rtype == RType::NS && !(record.name.is_subdomain_of(zone) && record.name != *zone)
    });
    let has_soa_at_all = response
        .authorities
        .iter()
        .any(|record| record.rtype == RType::SOA);
    if upward_referral && !has_soa_at_all {
        return false;
    }
    // An empty NOERROR: a referral must lead below the zone towards the name,
    // a NODATA must be authoritative or carry the zone's SOA.
    let downward_referral = response.authorities.iter().any(|record| {
        record.rtype == RType::NS
            && record.name != *zone
            && record.name.is_subdomain_of(zone)
            && name.is_subdomain_of(&record.name)
    });
    let has_soa = response
        .authorities
        .iter()
        .any(|record| record.rtype == RType::SOA && record.name.is_subdomain_of(zone));
    downward_referral || has_soa || response.header.authoritative
}

/// Reads a response in the bailiwick of `zone` for the question `name`/`rtype`.
fn classify(response: &Message, zone: &Name, name: &Name, rtype: RType) -> Classified {
    let in_bailiwick = |record: &&Record| record.name.is_subdomain_of(zone);
    let answers: Vec<&Record> = response.answers.iter().filter(in_bailiwick).collect();
    let mut rrsets: Vec<Vec<Record>> = Vec::new();
    let mut current = name.clone();
    let mut found = false;
    let mut too_long = false;
    for _ in 0..=16 {
        let of_type = |wanted: RType, owner: &Name| -> Vec<Record> {
            answers
                .iter()
                .filter(|record| record.rtype == wanted && record.name == *owner)
                .map(|record| (*record).clone())
                .collect()
        };
        let exact = of_type(rtype, &current);
        if !exact.is_empty() {
            rrsets.push(exact);
            found = true;
            break;
        }
        // A DNAME above the name wins over any CNAME the server synthesised
        // (RFC 6672 §3.4): the resolver synthesises its own.
        if rtype != RType::DNAME {
            let dname = answers.iter().find(|record| {
                record.rtype == RType::DNAME
                    && current.is_subdomain_of(&record.name)
                    && current != record.name
            });
            if let Some(dname) = dname {
                let Some(replacement) = dname.target_name() else {
                    break;
                };
                let dname_rrset = vec![(*dname).clone()];
                if !rrsets.contains(&dname_rrset) {
                    rrsets.push(dname_rrset);
                }
                match current.replace_suffix(&dname.name, &replacement) {
                    Some(Ok(target)) => {
                        rrsets.push(vec![synthesise_cname(&current, &target, u32::MAX)]);
                        current = target;
                        continue;
                    }
                    Some(Err(_)) => {
                        too_long = true;
                        break;
                    }
                    None => break,
                }
            }
        }
        if rtype != RType::CNAME {
            let cname = of_type(RType::CNAME, &current);
            if let Some(target) = cname.first().and_then(Record::target_name) {
                rrsets.push(vec![cname[0].clone()]);
                current = target;
                continue;
            }
        }
        break;
    }
    if too_long {
        return Classified::YxDomain(rrsets);
    }
    if found {
        return Classified::Answer(rrsets);
    }
    if !rrsets.is_empty() {
        return Classified::Alias {
            rrsets,
            target: current,
        };
    }
    let soa = response
        .authorities
        .iter()
        .find(|record| {
            record.rtype == RType::SOA
                && record.name.is_subdomain_of(zone)
                && name.is_subdomain_of(&record.name)
        })
        .cloned();
    if response.rcode() == Rcode::NXDOMAIN {
        return Classified::NxDomain(soa);
    }
    let referral = response.authorities.iter().find(|record| {
        record.rtype == RType::NS
            && record.name != *zone
            && record.name.is_subdomain_of(zone)
            && name.is_subdomain_of(&record.name)
    });
    if let (Some(referral), None) = (referral, &soa) {
        let child = referral.name.clone();
        let nameservers: Vec<Record> = response
            .authorities
            .iter()
            .filter(|record| record.rtype == RType::NS && record.name == child)
            .cloned()
            .collect();
        let names: HashSet<Name> = nameservers.iter().filter_map(Record::target_name).collect();
        // Glue: addresses of the referral's nameservers, inside the zone asked.
        let glue_records: Vec<Record> = response
            .additionals
            .iter()
            .filter(|record| matches!(record.rtype, RType::A | RType::AAAA))
            .filter(|record| names.contains(&record.name) && record.name.is_subdomain_of(zone))
            .cloned()
            .collect();
        return Classified::Referral {
            zone: child,
            nameservers,
            glue: group_rrsets(&glue_records),
        };
    }
    Classified::NoData(soa)
}

/// Whether `answers` hold a CNAME at the owner of the `synthesised` one
/// (made from a DNAME) that points to another target: a secure DNAME
/// decides the target (RFC 6672 §3.2), so a different one is forged.
fn contradicts_synthesis(synthesised: &Record, answers: &[Record]) -> bool {
    let target = synthesised.target_name();
    answers.iter().any(|record| {
        record.rtype == RType::CNAME
            && record.name == synthesised.name
            && record.target_name() != target
    })
}

/// Appends `records` to an answer chain, leaving out records already in it
/// (a DNAME applied twice appears once).
fn extend_unique(chain: &mut Vec<Record>, records: Vec<Record>) {
    for record in records {
        let present = chain.iter().any(|existing| {
            existing.name == record.name
                && existing.rtype == record.rtype
                && existing.data == record.data
        });
        if !present {
            chain.push(record);
        }
    }
}

/// Groups records into RRsets by owner and type, keeping first-seen order.
fn group_rrsets(records: &[Record]) -> Vec<Vec<Record>> {
    let mut rrsets: Vec<Vec<Record>> = Vec::new();
    for record in records {
        match rrsets
            .iter_mut()
            .find(|rrset| rrset[0].name == record.name && rrset[0].rtype == record.rtype)
        {
            Some(rrset) => rrset.push(record.clone()),
            None => rrsets.push(vec![record.clone()]),
        }
    }
    rrsets
}

/// The authority section of a cached negative answer: the SOA and the
/// proof, with the time left as TTL.
fn negative_authorities(negative: hanse_cache::NegativeEntry) -> Vec<Record> {
    let ttl = negative.ttl;
    let mut records: Vec<Record> = negative.soa.into_iter().collect();
    records.extend(negative.proof);
    for record in &mut records {
        record.ttl = ttl;
    }
    records
}

/// Whether `resolution` is a failure that stale data may answer instead
/// (RFC 8767): SERVFAIL without data, except for DNSSEC failures.
fn stale_on_failure(resolution: &Resolution) -> bool {
    resolution.rcode == Rcode::SERVFAIL
        && resolution.answers.is_empty()
        && !resolution
            .extended_error
            .as_ref()
            .is_some_and(|error| (6..=12).contains(&error.code))
}

fn with_ttl(records: &[Record], ttl: u32) -> Vec<Record> {
    records
        .iter()
        .map(|record| Record {
            ttl,
            ..record.clone()
        })
        .collect()
}

fn synthesise_cname(owner: &Name, target: &Name, ttl: u32) -> Record {
    Record {
        name: owner.clone(),
        rtype: RType::CNAME,
        class: hanse_wire::Class::IN,
        ttl,
        data: target.as_wire().into(),
    }
}

fn address_record(owner: &Name, address: IpAddr) -> Record {
    let (rtype, data): (RType, Box<[u8]>) = match address {
        IpAddr::V4(v4) => (RType::A, v4.octets().into()),
        IpAddr::V6(v6) => (RType::AAAA, v6.octets().into()),
    };
    Record {
        name: owner.clone(),
        rtype,
        class: hanse_wire::Class::IN,
        ttl: HINTS_TTL,
        data,
    }
}

/// Whether `address` is a global unicast address that a recursive resolver
/// may send queries to (no loopback, private, link-local, documentation or
/// otherwise special-purpose ranges, RFC 6890).
fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let octets = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || octets[0] == 0
                || octets[0] >= 240
                || (octets[0] == 100 && (octets[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(mapped) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(mapped));
            }
            let segments = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00
                || (segments[0] & 0xffc0) == 0xfe80
                || (segments[0] == 0x2001 && segments[1] == 0x0db8))
        }
    }
}

/// Whether the address family of `probe` can reach anything: a route to the
/// documentation address `probe` (a default route), or else a route to one
/// of the configured root hints, forwarders or stub servers of that family
/// (a network with only private routes to its own roots).
fn family_reachable(config: &ResolverConfig, probe: SocketAddr) -> bool {
    if family_usable(probe) {
        return true;
    }
    let same_family = |address: &SocketAddr| address.is_ipv4() == probe.is_ipv4();
    let hints = config.root_hints.iter().flat_map(|(_, addresses)| {
        addresses
            .iter()
            .map(|address| SocketAddr::new(*address, 53))
    });
    let zones = config
        .forward_zones
        .iter()
        .chain(&config.stub_zones)
        .flat_map(|zone| zone.servers.iter().copied());
    hints.chain(zones).filter(same_family).any(family_usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_cname_contradicting_the_dname_is_found() {
        let name = |text: &str| Name::from_ascii(text).unwrap();
        let synthesised = synthesise_cname(&name("a.x."), &name("a."), u32::MAX);
        let same = synthesise_cname(&name("a.x."), &name("A."), 300);
        let forged = synthesise_cname(&name("a.x."), &name("k.root-servers.net."), 300);
        let elsewhere = synthesise_cname(&name("b.x."), &name("k.root-servers.net."), 300);
        assert!(!contradicts_synthesis(&synthesised, &[]));
        assert!(!contradicts_synthesis(
            &synthesised,
            &[same.clone(), elsewhere]
        ));
        assert!(contradicts_synthesis(&synthesised, &[same, forged]));
    }

    #[test]
    fn private_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "100.64.0.1",
            "192.0.2.1",
        ] {
            assert!(!is_public(text.parse().unwrap()), "{text}");
        }
        for text in ["198.41.0.4", "2001:503:ba3e::2:30", "8.8.8.8"] {
            assert!(is_public(text.parse().unwrap()), "{text}");
        }
    }
}
