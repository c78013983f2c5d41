//! Turning a client's packet into a response: access control, the answer
//! cache (the hot path), the slow path for unusual queries, error responses
//! (FORMERR, NOTIMP, REFUSED, BADVERS) and composing an answer from a
//! resolution, with truncation to the client's UDP size (RFC 1035 §4.1.1,
//! RFC 2181 §9, RFC 6891 §6.2.5, RFC 8482 for ANY, RFC 8914 for EDE).
//! NOTIFY messages (RFC 1996) go to the configured receiver
//! ([`crate::notify`]), never to the resolver.

use crate::access::AccessList;
use crate::notify::{NotifyReceiver, NotifyReply, answer_notify};
use hanse_cache::{AnswerCache, StoredAnswer};
use hanse_policy::{ClientInfo, PolicySet, ProfileId, ResponseFacts, Synthesis, UnixTime, Verdict};
use hanse_resolve::{NetworkTransport, Resolution, Resolver};
use hanse_wire::{
    CacheKey, Class, Edns, EdnsOption, Header, KeyFlags, Message, MessageBuilder, Name, Opcode,
    QueryView, Question, RType, Rcode, Record,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The EDNS option code of an Extended DNS Error (RFC 8914).
const EXTENDED_ERROR_OPTION: u16 = 15;
/// TTL of the synthesised answer to ANY queries (RFC 8482 §4.2).
const ANY_TTL: u32 = 3600;

/// Settings that can change while running.
#[derive(Clone)]
pub struct Settings {
    /// Clients allowed to query; others get REFUSED.
    pub access: AccessList,
    /// The largest UDP response sent, and the size advertised in EDNS.
    pub edns_buffer_size: u16,
    /// Seconds a SERVFAIL answer stays in the answer cache.
    pub servfail_ttl: u32,
    /// The filtering policy, if any feed or profile is configured.
    pub policy: Option<Arc<PolicySet>>,
    /// Whether the Extended DNS Error (RFC 8914) of a filtered answer names
    /// the rule's source (feed, serial or version, rule) in its EXTRA-TEXT.
    /// When false the option still carries its INFO-CODE, with an empty
    /// EXTRA-TEXT. The usual value is true.
    pub extra_text: bool,
    /// Where NOTIFY messages (RFC 1996) go; `None` answers them NOTIMP.
    pub notify: Option<Arc<dyn NotifyReceiver>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("access", &self.access)
            .field("edns_buffer_size", &self.edns_buffer_size)
            .field("servfail_ttl", &self.servfail_ttl)
            .field("policy", &self.policy)
            .field("extra_text", &self.extra_text)
            .field("notify", &self.notify.as_ref().map(|_| "receiver"))
            .finish()
    }
}

/// Counters of one worker thread, on a cache line of their own so that
/// workers never write to a shared line on the query path.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerCounters {
    /// Queries received over UDP.
    pub udp_queries: AtomicU64,
    /// Queries received over TCP.
    pub tcp_queries: AtomicU64,
    /// Answers served from the answer cache.
    pub cache_hits: AtomicU64,
    /// Queries that needed a resolution.
    pub cache_misses: AtomicU64,
    /// Queries refused by the access list.
    pub refused: AtomicU64,
    /// Packets dropped without an answer (not a query, unreadable).
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

    /// The counters of the calling worker thread.
    pub(crate) fn current(&self) -> &WorkerCounters {
        let index = WORKER_INDEX.with(std::cell::Cell::get);
        &self.workers[index % self.workers.len()]
    }

    /// The sum over all workers.
    pub fn total(&self) -> CounterTotals {
        let sum = |field: fn(&WorkerCounters) -> &AtomicU64| {
            self.workers
                .iter()
                .map(|worker| field(worker).load(Ordering::Relaxed))
                .sum()
        };
        CounterTotals {
            udp_queries: sum(|worker| &worker.udp_queries),
            tcp_queries: sum(|worker| &worker.tcp_queries),
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
}

/// The counters of all workers added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterTotals {
    /// Queries received over UDP.
    pub udp_queries: u64,
    /// Queries received over TCP.
    pub tcp_queries: u64,
    /// Answers served from the answer cache.
    pub cache_hits: u64,
    /// Queries that needed a resolution.
    pub cache_misses: u64,
    /// Queries refused by the access list.
    pub refused: u64,
    /// Packets dropped without an answer.
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

/// Where a query came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// A query that needs a resolution.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    id: u16,
    client: IpAddr,
    profile: Option<ProfileId>,
    question: Question,
    client_name: Box<[u8]>,
    recursion_desired: bool,
    checking_disabled: bool,
    edns: Option<ClientEdns>,
    key: CacheKey,
}

#[derive(Debug, Clone, Copy)]
struct ClientEdns {
    udp_size: u16,
    dnssec_ok: bool,
}

/// Who asked: the address and the policy profile it maps to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    address: IpAddr,
    profile: Option<ProfileId>,
}

/// What to do with a packet.
pub(crate) enum Action<'b> {
    /// Send these bytes (in the caller's buffer).
    Reply(&'b [u8]),
    /// Send these bytes.
    Owned(Vec<u8>),
    /// Send nothing.
    Drop,
    /// Resolve, then send.
    Resolve(Box<Pending>),
}

/// The query logic shared by all listeners.
pub(crate) struct Handler {
    resolver: Arc<Resolver<NetworkTransport>>,
    answers: Arc<AnswerCache>,
    settings: arc_swap::ArcSwap<Settings>,
    pub(crate) statistics: Arc<ServiceStatistics>,
}

impl Handler {
    pub(crate) fn new(
        resolver: Arc<Resolver<NetworkTransport>>,
        answers: Arc<AnswerCache>,
        settings: Settings,
        statistics: Arc<ServiceStatistics>,
    ) -> Handler {
        Handler {
            resolver,
            answers,
            settings: arc_swap::ArcSwap::from_pointee(settings),
            statistics,
        }
    }

    pub(crate) fn reload(&self, settings: Settings) {
        self.settings.store(Arc::new(settings));
    }

    /// Handles a packet from `client`; a cache hit is written into `buffer`.
    pub(crate) fn handle<'b>(
        &self,
        packet: &[u8],
        client: IpAddr,
        transport: Transport,
        buffer: &'b mut [u8],
    ) -> Action<'b> {
        let counters = self.statistics.current();
        let counter = match transport {
            Transport::Udp => &counters.udp_queries,
            Transport::Tcp => &counters.tcp_queries,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let Ok(header) = Header::parse(packet) else {
            self.statistics
                .current()
                .dropped
                .fetch_add(1, Ordering::Relaxed);
            return Action::Drop;
        };
        if header.response {
            self.statistics
                .current()
                .dropped
                .fetch_add(1, Ordering::Relaxed);
            return Action::Drop;
        }
        let settings = self.settings.load();
        if header.opcode == Opcode::NOTIFY.0 {
            // Before the access list: the receiver checks the source.
            return Action::Owned(self.notify(packet, client, &settings));
        }
        if !settings.access.allows(client) {
            self.statistics
                .current()
                .refused
                .fetch_add(1, Ordering::Relaxed);
            return Action::Owned(error_response(packet, Rcode::REFUSED, &settings));
        }
        let profile = settings.policy.as_deref().map(|policy| {
            let client_info = ClientInfo {
                address: Some(client),
                ..ClientInfo::default()
            };
            policy.select_profile(&client_info).0
        });
        let client = Client {
            address: client,
            profile,
        };
        if let Some(reply) =
            self.answer_from_cache(packet, &header, transport, &settings, client, buffer)
        {
            return Action::Reply(reply);
        }
        self.slow_path(packet, &settings, client)
    }

    /// Answers a NOTIFY message and counts it.
    fn notify(&self, packet: &[u8], source: IpAddr, settings: &Settings) -> Vec<u8> {
        let counters = self.statistics.current();
        counters.notify_received.fetch_add(1, Ordering::Relaxed);
        match answer_notify(packet, settings.notify.as_deref(), source) {
            NotifyReply::Accepted(response) => response,
            NotifyReply::Error(rcode) => {
                counters.notify_refused.fetch_add(1, Ordering::Relaxed);
                error_response(packet, rcode, settings)
            }
        }
    }

    /// The hot path: a query of the common shape whose answer is cached and
    /// fits the client. Allocates nothing.
    fn answer_from_cache<'b>(
        &self,
        packet: &[u8],
        header: &Header,
        transport: Transport,
        settings: &Settings,
        client: Client,
        buffer: &'b mut [u8],
    ) -> Option<&'b [u8]> {
        let view = QueryView::parse(packet)?;
        if header.opcode != 0 || view.class != Class::IN || view.edns_version != 0 {
            return None;
        }
        let now = self.resolver.now();
        let stored = self.answers.get(view.cache_key().as_bytes(), now)?;
        if let (Some(policy), Some(profile)) = (settings.policy.as_deref(), client.profile) {
            // Anything but a plain pass takes the slow path, which applies it;
            // so do answers whose CNAME chain or addresses need the response
            // phase. A plain answer to an allowed name is served from here.
            let verdict =
                policy.check_query(profile, view.name_wire(), Some(client.address), unix_now());
            if !matches!(verdict, Verdict::Pass | Verdict::Allowed(_))
                || policy.needs_response_phase(profile)
                || starts_with_alias(stored.wire(), view.name_wire().len())
            {
                return None;
            }
        }
        let limit = match transport {
            Transport::Udp => udp_limit(view.edns_udp_size, settings),
            Transport::Tcp => usize::MAX,
        };
        if stored.wire().len() > limit {
            return None;
        }
        let reply = stored.write_to(buffer, header.id, view.name_wire(), now)?;
        self.statistics
            .current()
            .cache_hits
            .fetch_add(1, Ordering::Relaxed);
        Some(reply)
    }

    /// Full parsing, checks, and either an error response or a resolution.
    fn slow_path<'b>(&self, packet: &[u8], settings: &Settings, client: Client) -> Action<'b> {
        let Ok(message) = Message::parse(packet) else {
            self.statistics
                .current()
                .malformed
                .fetch_add(1, Ordering::Relaxed);
            return Action::Owned(error_response(packet, Rcode::FORMERR, settings));
        };
        let header = message.header;
        if header.opcode != 0 {
            self.statistics
                .current()
                .malformed
                .fetch_add(1, Ordering::Relaxed);
            return Action::Owned(error_response(packet, Rcode::NOTIMP, settings));
        }
        if message.questions.len() != 1
            || !message.answers.is_empty()
            || !message.authorities.is_empty()
        {
            self.statistics
                .current()
                .malformed
                .fetch_add(1, Ordering::Relaxed);
            return Action::Owned(error_response(packet, Rcode::FORMERR, settings));
        }
        if message.edns.as_ref().is_some_and(|edns| edns.version != 0) {
            return Action::Owned(error_response(packet, Rcode::BADVERS, settings));
        }
        let question = message.questions[0].clone();
        if question.class != Class::IN {
            return Action::Owned(error_response(packet, Rcode::REFUSED, settings));
        }
        match question.rtype {
            RType::OPT | RType::TSIG | RType::TKEY => {
                return Action::Owned(error_response(packet, Rcode::FORMERR, settings));
            }
            RType::AXFR | RType::IXFR => {
                return Action::Owned(error_response(packet, Rcode::REFUSED, settings));
            }
            RType::MAILA | RType::MAILB => {
                return Action::Owned(error_response(packet, Rcode::NOTIMP, settings));
            }
            _ => {}
        }
        let edns = message.edns.as_ref().map(|edns| ClientEdns {
            udp_size: edns.udp_size,
            dnssec_ok: edns.dnssec_ok,
        });
        let flags = KeyFlags::new(
            edns.is_some(),
            edns.is_some_and(|edns| edns.dnssec_ok),
            header.checking_disabled,
            header.recursion_desired,
        );
        let Some(key) = CacheKey::new(
            question.name.as_wire(),
            question.rtype,
            question.class,
            flags,
        ) else {
            return Action::Owned(error_response(packet, Rcode::FORMERR, settings));
        };
        self.statistics
            .current()
            .cache_misses
            .fetch_add(1, Ordering::Relaxed);
        Action::Resolve(Box::new(Pending {
            id: header.id,
            client: client.address,
            profile: client.profile,
            client_name: question.name.as_wire().into(),
            question: Question {
                name: question.name.to_lowercase(),
                ..question
            },
            recursion_desired: header.recursion_desired,
            checking_disabled: header.checking_disabled,
            edns,
            key,
        }))
    }

    /// Resolves a pending query and returns the response for the client,
    /// storing the answer in the answer cache.
    /// Resolves a pending query and returns the response for the client
    /// (`None`: send nothing), storing the real answer in the answer cache.
    /// Policy applies on the way out: a rewritten answer is never stored.
    pub(crate) async fn resolve(&self, pending: &Pending, transport: Transport) -> Option<Vec<u8>> {
        let settings = self.settings.load_full();
        let policy = settings.policy.as_deref().zip(pending.profile);
        let time = unix_now();
        if let Some((policy, profile)) = policy {
            let verdict = policy.check_query(
                profile,
                pending.question.name.as_wire(),
                Some(pending.client),
                time,
            );
            if !verdict.passes() && !policy.needs_response_phase(profile) {
                return self
                    .rewrite(
                        pending,
                        &verdict,
                        &pending.question.name,
                        &[],
                        transport,
                        &settings,
                    )
                    .await;
            }
            // Otherwise a query-phase hit waits for the response facts: the
            // draft's precedence may let a RESPONSE-IP rule of an earlier
            // zone win, and check_response finds the query-phase hit again.
        }
        let resolution = if pending.question.rtype == RType::ANY {
            any_answer(&pending.question.name)
        } else {
            self.resolver
                .resolve(&pending.question.name, pending.question.rtype)
                .await
        };
        let now = self.resolver.now();
        let (wire, ttl_offsets) = compose(pending, &resolution, &settings);
        let ttl = if resolution.rcode == Rcode::SERVFAIL {
            settings.servfail_ttl
        } else {
            resolution.ttl()
        };
        if ttl > 0 {
            let stored = StoredAnswer::new(&wire, &ttl_offsets, now, now.saturating_add(ttl));
            self.answers.insert(pending.key.as_bytes(), stored);
        }
        if let Some((policy, profile)) = policy {
            let mut facts = ResolutionFacts::of(&pending.question.name, &resolution);
            if policy.needs_response_phase(profile) {
                // NSDNAME and NSIP: the nameservers of the zone that holds the
                // end of the chain.
                let last = facts.chain.last().unwrap_or(&pending.question.name);
                (facts.nameserver_names, facts.nameserver_addresses) =
                    self.resolver.nameservers_of(last);
            }
            let verdict = policy.check_response(
                profile,
                pending.question.name.as_wire(),
                Some(pending.client),
                &facts.as_response(),
                time,
            );
            if !verdict.passes() {
                let (replaced, kept) =
                    facts.split_at_hit(&pending.question.name, &verdict, &resolution);
                return self
                    .rewrite(pending, &verdict, &replaced, &kept, transport, &settings)
                    .await;
            }
        }
        let mut response = wire;
        hanse_wire::answer::patch(&mut response, pending.id, &pending.client_name, &[], 0);
        Some(fit(response, pending, transport, &settings))
    }

    /// The answer a policy verdict gives: `replaced` is the name whose answer
    /// is replaced, `kept` the chain records that lead to it.
    async fn rewrite(
        &self,
        pending: &Pending,
        verdict: &Verdict<'_>,
        replaced: &Name,
        kept: &[Record],
        transport: Transport,
        settings: &Settings,
    ) -> Option<Vec<u8>> {
        self.statistics
            .current()
            .policy_hits
            .fetch_add(1, Ordering::Relaxed);
        match hanse_policy::synthesize(verdict, replaced, pending.question.rtype) {
            Synthesis::Resolve => None,
            Synthesis::Drop => None,
            Synthesis::Truncate if transport == Transport::Udp => {
                Some(truncated(pending, settings))
            }
            Synthesis::Truncate => {
                let resolution = self
                    .resolver
                    .resolve(&pending.question.name, pending.question.rtype)
                    .await;
                let (mut wire, _) = compose(pending, &resolution, settings);
                hanse_wire::answer::patch(&mut wire, pending.id, &pending.client_name, &[], 0);
                Some(wire)
            }
            Synthesis::Answer {
                rcode,
                answers,
                authority,
                ede,
                follow,
            } => {
                let mut records = kept.to_vec();
                records.extend(answers);
                let mut rcode = rcode;
                let mut authorities = authority;
                if let Some(target) = follow {
                    // A CNAME rewrite (walled garden, safe search): the target
                    // is resolved normally and its data follows the CNAME.
                    let followed = self.resolver.resolve(&target, pending.question.rtype).await;
                    rcode = followed.rcode;
                    records.extend(followed.answers);
                    authorities = followed.authorities;
                }
                let resolution = Resolution {
                    rcode,
                    answers: records,
                    authorities,
                    extended_error: None,
                };
                let (mut wire, _) = compose_with_error(
                    pending,
                    &resolution,
                    settings,
                    ede.map(|(code, text)| {
                        let text = if settings.extra_text {
                            text
                        } else {
                            String::new()
                        };
                        (code.info_code(), text)
                    }),
                );
                hanse_wire::answer::patch(&mut wire, pending.id, &pending.client_name, &[], 0);
                Some(fit(wire, pending, transport, settings))
            }
        }
    }
}

/// The largest UDP response for a client (RFC 6891 §6.2.5; 512 without EDNS).
fn udp_limit(client_size: Option<u16>, settings: &Settings) -> usize {
    match client_size {
        Some(size) => usize::from(size.clamp(512, settings.edns_buffer_size.max(512))),
        None => 512,
    }
}

fn response_header(pending: &Pending, rcode: Rcode) -> Header {
    Header {
        id: 0,
        response: true,
        recursion_desired: pending.recursion_desired,
        recursion_available: true,
        checking_disabled: pending.checking_disabled,
        rcode: rcode.header_bits(),
        ..Header::default()
    }
}

fn response_edns(pending: &Pending, rcode: Rcode, settings: &Settings) -> Option<Edns> {
    pending.edns.map(|client| Edns {
        udp_size: settings.edns_buffer_size,
        extended_rcode: rcode.extended_bits(),
        version: 0,
        dnssec_ok: client.dnssec_ok,
        options: Vec::new(),
    })
}

/// Composes the full answer with ID 0 and the lower-cased question name,
/// ready to be stored; returns it with the offsets of its TTLs.
fn compose(pending: &Pending, resolution: &Resolution, settings: &Settings) -> (Vec<u8>, Vec<u16>) {
    let error = resolution
        .extended_error
        .as_ref()
        .map(|error| (error.code, error.text.to_owned()));
    compose_with_error(pending, resolution, settings, error)
}

/// Composes an answer with an optional Extended DNS Error (code, EXTRA-TEXT).
fn compose_with_error(
    pending: &Pending,
    resolution: &Resolution,
    settings: &Settings,
    extended_error: Option<(u16, String)>,
) -> (Vec<u8>, Vec<u16>) {
    let mut builder = MessageBuilder::new(response_header(pending, resolution.rcode), 65535);
    if let Some(mut edns) = response_edns(pending, resolution.rcode, settings) {
        if let Some((code, text)) = &extended_error {
            let mut data = code.to_be_bytes().to_vec();
            data.extend_from_slice(text.as_bytes());
            edns.options.push(EdnsOption {
                code: EXTENDED_ERROR_OPTION,
                data: data.into(),
            });
        }
        builder.set_edns(edns);
    }
    let mut complete = builder.push_question(&pending.question).is_ok();
    for record in &resolution.answers {
        complete &= builder.push_answer(record).is_ok();
    }
    for record in &resolution.authorities {
        complete &= builder.push_authority(record).is_ok();
    }
    if !complete {
        builder.header_mut().truncated = true;
    }
    let offsets = builder.ttl_offsets().to_vec();
    (builder.finish(), offsets)
}

/// An empty answer with TC set, so the client retries over TCP.
fn truncated(pending: &Pending, settings: &Settings) -> Vec<u8> {
    let mut header = response_header(pending, Rcode::NOERROR);
    header.id = pending.id;
    header.truncated = true;
    let mut builder = MessageBuilder::new(header, 65535);
    if let Some(edns) = response_edns(pending, Rcode::NOERROR, settings) {
        builder.set_edns(edns);
    }
    let question = Question {
        name: Name::from_wire(&pending.client_name)
            .unwrap_or_else(|_| pending.question.name.clone()),
        ..pending.question.clone()
    };
    let _ = builder.push_question(&question);
    builder.finish()
}

/// The minimal answer to ANY (RFC 8482 §4.2): a synthesised HINFO.
fn any_answer(name: &Name) -> Resolution {
    let text = b"RFC8482";
    let mut data = vec![text.len() as u8];
    data.extend_from_slice(text);
    data.push(0);
    Resolution {
        rcode: Rcode::NOERROR,
        answers: vec![Record {
            name: name.clone(),
            rtype: RType::HINFO,
            class: Class::IN,
            ttl: ANY_TTL,
            data: data.into(),
        }],
        authorities: Vec::new(),
        extended_error: None,
    }
}

/// An error response echoing the query's ID, opcode, RD and (if readable)
/// question; empty if not even the header can be read.
fn error_response(packet: &[u8], rcode: Rcode, settings: &Settings) -> Vec<u8> {
    let Ok(query) = Header::parse(packet) else {
        return Vec::new();
    };
    let header = Header {
        id: query.id,
        response: true,
        opcode: query.opcode,
        recursion_desired: query.recursion_desired,
        recursion_available: true,
        checking_disabled: query.checking_disabled,
        rcode: rcode.header_bits(),
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 512);
    let parsed = Message::parse(packet).ok();
    let has_edns = parsed
        .as_ref()
        .is_some_and(|message| message.edns.is_some());
    if has_edns || rcode.extended_bits() != 0 {
        builder.set_edns(Edns {
            udp_size: settings.edns_buffer_size,
            extended_rcode: rcode.extended_bits(),
            ..Edns::default()
        });
    }
    if let Some(message) = &parsed
        && let [question] = message.questions.as_slice()
    {
        let _ = builder.push_question(question);
    }
    builder.finish()
}

/// Fits a response to the client's UDP size, or sends TC.
fn fit(response: Vec<u8>, pending: &Pending, transport: Transport, settings: &Settings) -> Vec<u8> {
    let limit = match transport {
        Transport::Udp => udp_limit(pending.edns.map(|edns| edns.udp_size), settings),
        Transport::Tcp => usize::MAX,
    };
    if response.len() > limit {
        return truncated(pending, settings);
    }
    response
}

/// The current time for time windows.
fn unix_now() -> UnixTime {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    UnixTime(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// Whether a stored answer's first answer record is a CNAME or DNAME (its
/// chain needs the policy's response phase). Reads the type after the
/// question without parsing the message; an unexpected layout says yes.
fn starts_with_alias(wire: &[u8], question_name_length: usize) -> bool {
    let answer_count = wire
        .get(6..8)
        .map_or(0, |count| u16::from_be_bytes([count[0], count[1]]));
    if answer_count <= 1 {
        return false;
    }
    let owner = 12 + question_name_length + 4;
    // Answers written by this server start with a pointer to the question.
    let Some(&[high, _, type_high, type_low]) = wire
        .get(owner..owner + 4)
        .map(|bytes| <&[u8; 4]>::try_from(bytes).expect("four bytes"))
    else {
        return true;
    };
    if high & 0xc0 != 0xc0 {
        return true;
    }
    matches!(
        RType(u16::from_be_bytes([type_high, type_low])),
        RType::CNAME | RType::DNAME
    )
}

/// What the policy's response phase needs from a resolution.
struct ResolutionFacts {
    /// The CNAME targets after the query name, in order.
    chain: Vec<Name>,
    /// The addresses in the answer.
    addresses: Vec<IpAddr>,
    /// The nameservers of the zone that served the answer (NSDNAME).
    nameserver_names: Vec<Name>,
    /// Their addresses (NSIP).
    nameserver_addresses: Vec<IpAddr>,
}

impl ResolutionFacts {
    fn of(question: &Name, resolution: &Resolution) -> ResolutionFacts {
        let mut chain = Vec::new();
        let mut current = question.clone();
        for record in &resolution.answers {
            if record.rtype == RType::CNAME
                && record.name == current
                && let Some(target) = record.target_name()
            {
                chain.push(target.clone());
                current = target;
            }
        }
        let addresses = resolution
            .answers
            .iter()
            .filter_map(Record::address)
            .collect();
        ResolutionFacts {
            chain,
            addresses,
            nameserver_names: Vec::new(),
            nameserver_addresses: Vec::new(),
        }
    }

    fn as_response(&self) -> ResponseFacts<'_> {
        ResponseFacts {
            cname_chain: &self.chain,
            addresses: &self.addresses,
            nameserver_names: &self.nameserver_names,
            nameserver_addresses: &self.nameserver_addresses,
        }
    }

    /// The name whose answer a hit replaces, and the chain records kept
    /// before it (the CNAMEs that lead there).
    fn split_at_hit(
        &self,
        question: &Name,
        verdict: &Verdict<'_>,
        resolution: &Resolution,
    ) -> (Name, Vec<Record>) {
        let position = match verdict {
            Verdict::Match(hit) => hit.chain_position,
            _ => 0,
        };
        let Some(replaced) = position
            .checked_sub(1)
            .and_then(|index| self.chain.get(index))
        else {
            return (question.clone(), Vec::new());
        };
        let replaced = replaced.clone();
        let kept = resolution
            .answers
            .iter()
            .filter(|record| record.rtype == RType::CNAME)
            .take(position)
            .cloned()
            .collect();
        (replaced, kept)
    }
}
