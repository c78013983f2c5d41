//! Turning a client's packet into a response: access control, the answer
//! cache (the hot path), the slow path for unusual queries, error responses
//! (FORMERR, NOTIMP, REFUSED, BADVERS) and composing an answer from a
//! resolution, with truncation to the client's UDP size (RFC 1035 §4.1.1,
//! RFC 2181 §9, RFC 6891 §6.2.5, RFC 8482 for ANY, RFC 8914 for EDE).
//! NOTIFY messages (RFC 1996) go to the configured receiver
//! ([`crate::notify`]), never to the resolver.

use crate::access::AccessList;
use crate::notify::{NotifyReceiver, NotifyReply, answer_notify};
use crate::observer::{AbuseLimit, PolicyNote, QueryEvent, QueryObserver};
use crate::overload::{Admission, GIVEN_UP, OverloadAction, ResolutionSlot, ResolutionTable};
use crate::rate_limit::{
    LimitAction, QueryVerdict, RateLimitSettings, RateLimiter, ResponseKey, ResponseVerdict,
    slip_in_place,
};
pub(crate) use crate::statistics::Transport;
use crate::statistics::{RateLimitOutcome, ServiceStatistics, WorkerCounters};
use crate::transfer::{TransferProvider, is_transfer_query, question_type};
use hanse_cache::{AnswerCache, StoredAnswer};
use hanse_policy::{
    Action as PolicyAction, ClientInfo, PolicySet, ProfileId, ResponseFacts, Synthesis, UnixTime,
    Verdict,
};
use hanse_resolve::{NetworkTransport, Resolution, Resolver, Security};
use hanse_wire::cookie::{COOKIE_DATA_LENGTH, COOKIE_OPTION, ServerSecrets};
use hanse_wire::{
    CacheKey, Class, Edns, EdnsOption, Header, KeyFlags, Message, MessageBuilder, Name, Opcode,
    QueryView, Question, RType, Rcode, Record,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

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
    /// Hears of every query answered or dropped (the query log); `None`
    /// costs the hot path one branch.
    pub observer: Option<Arc<dyn QueryObserver>>,
    /// Peers whose UDP datagrams and TCP, DoT and DoH connections must
    /// start with a PROXY protocol v2 header that names the client; empty
    /// by default. A header from any other peer closes its connection (or
    /// drops its datagram).
    pub proxy_protocol_from: AccessList,
    /// Per-client query limits and response-rate limiting (off by default).
    pub rate_limit: RateLimitSettings,
    /// Answers AXFR and IXFR for the zones served as a primary; `None`
    /// refuses them.
    pub transfer: Option<Arc<dyn TransferProvider>>,
    /// DNS cookies (RFC 7873, RFC 9018): the server secrets and whether UDP
    /// queries must carry a valid server cookie.
    pub cookies: CookieSettings,
}

/// The server side of DNS cookies (RFC 7873 §5.2, RFC 9018).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// The secrets server cookies are made and checked with. The default is
    /// a random secret; a fleet behind one anycast address shares one.
    pub secrets: ServerSecrets,
    /// When true, a UDP query without a valid server cookie gets no answer:
    /// BADCOOKIE with a new server cookie if it carried a client cookie, an
    /// empty truncated response (TC) if it carried no cookie at all. TCP and
    /// the encrypted transports are never held back.
    pub require: bool,
}

impl Default for CookieSettings {
    fn default() -> CookieSettings {
        use std::hash::{BuildHasher, Hasher};
        // RandomState keys come from the operating system's random source.
        let mut secret = [0u8; 16];
        for half in secret.chunks_mut(8) {
            let mut hasher = std::hash::RandomState::new().build_hasher();
            hasher.write(b"hanse cookie secret");
            half.copy_from_slice(&hasher.finish().to_le_bytes());
        }
        CookieSettings {
            secrets: ServerSecrets::new(secret),
            require: false,
        }
    }
}

/// What the COOKIE option of a query says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryCookie {
    /// No COOKIE option.
    Absent,
    /// A COOKIE option of a wrong length (RFC 7873 §5.2.2: FORMERR).
    Malformed,
    /// A well-formed one: the option data for the response, and whether the
    /// query carried a valid server cookie.
    Present {
        response: [u8; COOKIE_DATA_LENGTH],
        verified: bool,
    },
}

impl QueryCookie {
    /// The COOKIE option of `packet` from `client`, checked at `now`.
    fn of(packet: &[u8], client: IpAddr, secrets: &ServerSecrets, now: u32) -> QueryCookie {
        match hanse_wire::cookie::find_cookie(packet) {
            None => QueryCookie::Absent,
            Some(Err(_)) => QueryCookie::Malformed,
            Some(Ok(cookie)) => {
                let (response, check) = secrets.respond(&cookie, client, now);
                QueryCookie::Present {
                    response,
                    verified: check.is_valid(),
                }
            }
        }
    }

    fn verified(self) -> bool {
        matches!(self, QueryCookie::Present { verified: true, .. })
    }

    fn response(&self) -> Option<&[u8; COOKIE_DATA_LENGTH]> {
        match self {
            QueryCookie::Present { response, .. } => Some(response),
            _ => None,
        }
    }
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
            .field("observer", &self.observer.as_ref().map(|_| "observer"))
            .field("proxy_protocol_from", &self.proxy_protocol_from)
            .field("rate_limit", &self.rate_limit)
            .field("transfer", &self.transfer.as_ref().map(|_| "provider"))
            .field("cookies", &self.cookies)
            .finish()
    }
}

/// A query that needs a resolution.
#[derive(Debug)]
pub(crate) struct Pending {
    id: u16,
    client: IpAddr,
    client_port: u16,
    /// The query as received, kept only when an observer wants it.
    query_message: Box<[u8]>,
    profile: Option<ProfileId>,
    question: Question,
    client_name: Box<[u8]>,
    recursion_desired: bool,
    checking_disabled: bool,
    /// The query's AD bit (RFC 6840 §5.7).
    authentic_data: bool,
    edns: Option<ClientEdns>,
    key: CacheKey,
    /// When the query arrived.
    received: Instant,
    /// The COOKIE option data of the response, if the query had a cookie.
    cookie: Option<[u8; COOKIE_DATA_LENGTH]>,
    /// Whether the query carried a valid server cookie.
    cookie_verified: bool,
    /// Its place among the resolutions in progress (`None`: no overload
    /// cap applies), given back when the pending query is dropped.
    slot: Option<ResolutionSlot>,
}

#[derive(Debug, Clone, Copy)]
struct ClientEdns {
    udp_size: u16,
    dnssec_ok: bool,
}

/// Who asked: the address, the policy profile it maps to, and whether the
/// query carried a valid server cookie.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    address: IpAddr,
    port: u16,
    profile: Option<ProfileId>,
    /// A valid server cookie (RFC 7873) exempts the UDP response from RRL.
    verified: bool,
}

/// What an encrypted transport knows about the client besides its address:
/// the TLS server name it asked for (SNI) and the DoH request path. Both
/// select a profile (`hanse_policy::ClientSelector`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientNames<'a> {
    /// The TLS server name indication, as the client sent it.
    pub(crate) server_name: Option<&'a str>,
    /// The DoH request path, without the query string.
    pub(crate) doh_path: Option<&'a str>,
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
    /// Whether `proxy_protocol_from` is not empty: one relaxed load per
    /// datagram when it is.
    any_proxies: std::sync::atomic::AtomicBool,
    /// Whether response-rate limiting is on: one relaxed load per UDP reply
    /// when it is off, instead of a settings load.
    rrl_on: std::sync::atomic::AtomicBool,
    pub(crate) statistics: Arc<ServiceStatistics>,
    /// The buckets of the rate limits; their settings are in `settings`.
    limiter: RateLimiter,
    /// The start of the rate limits' millisecond clock.
    epoch: Instant,
    /// Resolutions in progress, for overload shedding.
    resolutions: Arc<ResolutionTable>,
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
            any_proxies: (settings.proxy_protocol_from != AccessList::default()).into(),
            rrl_on: (settings.rate_limit.responses_per_second != 0).into(),
            settings: arc_swap::ArcSwap::from_pointee(settings),
            statistics,
            limiter: RateLimiter::new(),
            epoch: Instant::now(),
            resolutions: Arc::new(ResolutionTable::new()),
        }
    }

    /// Milliseconds since the handler was made: the rate limits' clock.
    fn milliseconds(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Response-rate limiting (RRL) of a response about to be sent to
    /// `client` over `transport`: whether to send it as it is, truncated,
    /// or not at all. Counts what it holds back. Only UDP responses to
    /// queries without a valid server cookie are limited; a response whose
    /// question cannot be read is sent. One relaxed load when RRL is off.
    fn limit_response(
        &self,
        transport: Transport,
        verified: bool,
        client: IpAddr,
        response: &[u8],
    ) -> ResponseVerdict {
        if transport != Transport::Udp
            || verified
            || !self.rrl_on.load(std::sync::atomic::Ordering::Relaxed)
        {
            return ResponseVerdict::Send;
        }
        let settings = self.settings.load();
        if settings.rate_limit.responses_per_second == 0 {
            return ResponseVerdict::Send;
        }
        let Some(key) = ResponseKey::of_response(response) else {
            return ResponseVerdict::Send;
        };
        let verdict =
            self.limiter
                .check_response(&settings.rate_limit, client, &key, self.milliseconds());
        let counters = self.statistics.current();
        match verdict {
            ResponseVerdict::Send => {}
            ResponseVerdict::Slip => counters.count_rate_limited(RateLimitOutcome::ResponseSlip),
            ResponseVerdict::Drop => counters.count_rate_limited(RateLimitOutcome::ResponseDrop),
        }
        verdict
    }

    /// [`Handler::limit_response`] applied to an owned response: left as
    /// it is, truncated in place, or emptied (send nothing); the limit it
    /// met, if any.
    fn limit_owned(
        &self,
        transport: Transport,
        verified: bool,
        client: IpAddr,
        response: &mut Vec<u8>,
    ) -> Option<AbuseLimit> {
        match self.limit_response(transport, verified, client, response) {
            ResponseVerdict::Send => None,
            ResponseVerdict::Slip => {
                match slip_in_place(response) {
                    Some(length) => response.truncate(length),
                    None => response.clear(),
                }
                Some(AbuseLimit::ResponseSlip)
            }
            ResponseVerdict::Drop => {
                response.clear();
                Some(AbuseLimit::ResponseDrop)
            }
        }
    }

    pub(crate) fn reload(&self, settings: Settings) {
        let any_proxies = settings.proxy_protocol_from != AccessList::default();
        let rrl_on = settings.rate_limit.responses_per_second != 0;
        self.settings.store(Arc::new(settings));
        self.any_proxies
            .store(any_proxies, std::sync::atomic::Ordering::Relaxed);
        self.rrl_on
            .store(rrl_on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether `peer` is a proxy whose connections and datagrams start with
    /// a PROXY header.
    pub(crate) fn is_proxy(&self, peer: IpAddr) -> bool {
        self.any_proxies.load(std::sync::atomic::Ordering::Relaxed)
            && self.settings.load().proxy_protocol_from.allows(peer)
    }

    /// Removes `name` (and with `subtree` the names below) from both caches;
    /// see [`crate::Server::flush`].
    pub(crate) fn flush(&self, name: &Name, subtree: bool) -> crate::listener::FlushCounts {
        let rrsets = self.resolver.cache().flush(name, subtree);
        let answers = self.answers.flush(name, subtree);
        crate::listener::FlushCounts { rrsets, answers }
    }

    /// A per-worker view of the settings in force: its `load` is one
    /// atomic load while they are unchanged, and picks up a swap on the
    /// next call after it (cheaper per datagram than a guarded load).
    pub(crate) fn settings_cache(
        &self,
    ) -> arc_swap::Cache<&arc_swap::ArcSwap<Settings>, Arc<Settings>> {
        arc_swap::Cache::new(&self.settings)
    }

    /// Handles a UDP datagram from `client` under `settings` (from
    /// [`Handler::settings_cache`]; a cache hit is written into
    /// `buffer`). The response has passed response-rate limiting: it may
    /// be truncated, or the action `Drop` or an empty `Owned`.
    pub(crate) fn handle_datagram<'b>(
        &self,
        packet: &[u8],
        client: SocketAddr,
        buffer: &'b mut [u8],
        settings: &Settings,
    ) -> Action<'b> {
        self.handle_checked(
            packet,
            client,
            ClientNames::default(),
            Transport::Udp,
            buffer,
            settings,
        )
    }

    /// Handles a packet from a client that also named a TLS server name
    /// or a DoH path, which take part in the choice of its profile.
    pub(crate) fn handle_named<'b>(
        &self,
        packet: &[u8],
        client: SocketAddr,
        names: ClientNames<'_>,
        transport: Transport,
        buffer: &'b mut [u8],
    ) -> Action<'b> {
        let settings = self.settings.load();
        self.handle_checked(packet, client, names, transport, buffer, &settings)
    }

    /// The work of [`Handler::handle_datagram`] and [`Handler::handle_named`].
    fn handle_checked<'b>(
        &self,
        packet: &[u8],
        client: SocketAddr,
        names: ClientNames<'_>,
        transport: Transport,
        buffer: &'b mut [u8],
        settings: &Settings,
    ) -> Action<'b> {
        let client_port = client.port();
        let client = client.ip();
        let counters = self.statistics.current();
        counters.count_query(transport);
        let Ok(header) = Header::parse(packet) else {
            WorkerCounters::count(&counters.dropped);
            return Action::Drop;
        };
        if header.response {
            WorkerCounters::count(&counters.dropped);
            return Action::Drop;
        }
        if header.opcode == Opcode::NOTIFY.0 {
            // Before the access list: the receiver checks the source.
            let mut reply = self.notify(packet, client, settings);
            self.limit_owned(transport, false, client, &mut reply);
            return Action::Owned(reply);
        }
        // A primary answers the SOA of its served zones itself (a
        // secondary asks before it transfers); one branch when not serving.
        if let Some(provider) = settings.transfer.as_deref()
            && question_type(packet) == Some(RType::SOA)
            && let Some(mut answer) = provider.answer(packet, client, transport == Transport::Tcp)
            && let Some(mut reply) = answer.next_message()
        {
            self.limit_owned(transport, false, client, &mut reply);
            return Action::Owned(reply);
        }
        // The one branch the hot path pays for the observer.
        let started = settings.observer.is_some().then(Instant::now);
        let cookie = if header.additional_count == 0 {
            QueryCookie::Absent
        } else {
            QueryCookie::of(packet, client, &settings.cookies.secrets, unix_seconds())
        };
        let verified = cookie.verified();
        // A client that proved its address with a server cookie is not
        // rate limited (RFC 7873 §5.2.3). The exempt networks are checked
        // before the clock is read: most queries of a loopback or LAN set-up
        // never need it.
        if !verified
            && settings.rate_limit.queries_per_second != 0
            && !settings.rate_limit.exempt.allows(client)
            && self
                .limiter
                .check_query(&settings.rate_limit, client, self.milliseconds())
                == QueryVerdict::Limit
        {
            let limited = Client {
                address: client,
                port: client_port,
                profile: None,
                verified: false,
            };
            return match settings.rate_limit.action {
                LimitAction::Drop => {
                    counters.count_rate_limited(RateLimitOutcome::ClientDrop);
                    self.observe_dropped(
                        packet,
                        limited,
                        transport,
                        settings,
                        started,
                        AbuseLimit::ClientRate,
                    );
                    Action::Drop
                }
                LimitAction::Refuse => {
                    counters.count_rate_limited(RateLimitOutcome::ClientRefuse);
                    let mut response = error_response(packet, Rcode::REFUSED, settings);
                    self.finish_error(
                        packet,
                        &mut response,
                        limited,
                        transport,
                        Rcode::REFUSED,
                        settings,
                        started,
                        Some(AbuseLimit::ClientRate),
                    );
                    Action::Owned(response)
                }
            };
        }
        if !settings.access.allows(client) {
            // Transfers have their own access list.
            if transport == Transport::Udp
                && let Some(mut reply) = self.transfer_over_udp(packet, client, settings)
            {
                self.limit_owned(transport, verified, client, &mut reply);
                return Action::Owned(reply);
            }
            WorkerCounters::count(&counters.refused);
            let mut response = error_response(packet, Rcode::REFUSED, settings);
            self.finish_error(
                packet,
                &mut response,
                Client {
                    address: client,
                    port: client_port,
                    profile: None,
                    verified,
                },
                transport,
                Rcode::REFUSED,
                settings,
                started,
                None,
            );
            return Action::Owned(response);
        }
        let profile = settings.policy.as_deref().map(|policy| {
            let client_info = ClientInfo {
                address: Some(client),
                doh_path: names.doh_path,
                server_name: names.server_name,
            };
            policy.select_profile(&client_info).0
        });
        let client = Client {
            address: client,
            port: client_port,
            profile,
            verified,
        };
        match cookie {
            QueryCookie::Malformed => {
                WorkerCounters::count(&counters.malformed);
                return self.error_action(
                    packet,
                    Rcode::FORMERR,
                    settings,
                    client,
                    transport,
                    started,
                );
            }
            QueryCookie::Present {
                response,
                verified: false,
            } if settings.cookies.require && transport.is_datagram() => {
                let mut reply = error_response(packet, Rcode::BADCOOKIE, settings);
                hanse_wire::cookie::push_option(&mut reply, COOKIE_OPTION, &response);
                self.finish_error(
                    packet,
                    &mut reply,
                    client,
                    transport,
                    Rcode::BADCOOKIE,
                    settings,
                    started,
                    None,
                );
                return Action::Owned(reply);
            }
            QueryCookie::Absent if settings.cookies.require && transport.is_datagram() => {
                // Nothing to send a cookie back with: an empty truncated
                // response sends the client to TCP.
                let mut reply = error_response(packet, Rcode::NOERROR, settings);
                if let Some(flags) = reply.get_mut(2) {
                    *flags |= 0x02;
                }
                self.finish_error(
                    packet,
                    &mut reply,
                    client,
                    transport,
                    Rcode::NOERROR,
                    settings,
                    started,
                    None,
                );
                return Action::Owned(reply);
            }
            _ => {}
        }
        if let Some(action) = self.answer_from_cache(
            packet,
            &header,
            transport,
            settings,
            client,
            cookie.response(),
            started,
            buffer,
        ) {
            return action;
        }
        self.slow_path(packet, settings, client, cookie, transport, started)
    }

    /// The answer of the transfer provider to an AXFR or IXFR query over
    /// TCP: `None` if `packet` is not one or no provider is configured.
    pub(crate) fn transfer(
        &self,
        packet: &[u8],
        client: IpAddr,
    ) -> Option<hanse_transfer::ResponseStream> {
        let settings = self.settings.load();
        let provider = settings.transfer.as_deref()?;
        if !is_transfer_query(packet) {
            return None;
        }
        provider.answer(packet, client, true)
    }

    /// The first message of the provider's answer to a transfer query over
    /// UDP (IXFR: the current SOA; AXFR: refused).
    fn transfer_over_udp(
        &self,
        packet: &[u8],
        client: IpAddr,
        settings: &Settings,
    ) -> Option<Vec<u8>> {
        let provider = settings.transfer.as_deref()?;
        if !is_transfer_query(packet) {
            return None;
        }
        provider.answer(packet, client, false)?.next_message()
    }

    /// Answers a NOTIFY message and counts it.
    fn notify(&self, packet: &[u8], source: IpAddr, settings: &Settings) -> Vec<u8> {
        let counters = self.statistics.current();
        WorkerCounters::count(&counters.notify_received);
        match answer_notify(packet, settings.notify.as_deref(), source) {
            NotifyReply::Accepted(response) => response,
            NotifyReply::Error(rcode) => {
                WorkerCounters::count(&counters.notify_refused);
                error_response(packet, rcode, settings)
            }
        }
    }

    /// The hot path: a query of the common shape whose answer is cached and
    /// fits the client; the reply after response-rate limiting (`Reply`,
    /// perhaps truncated, or `Drop`). Allocates nothing (the observer, if
    /// any, is handed a borrowed event).
    #[allow(clippy::too_many_arguments)]
    fn answer_from_cache<'b>(
        &self,
        packet: &[u8],
        header: &Header,
        transport: Transport,
        settings: &Settings,
        client: Client,
        cookie: Option<&[u8; COOKIE_DATA_LENGTH]>,
        started: Option<Instant>,
        buffer: &'b mut [u8],
    ) -> Option<Action<'b>> {
        let view = QueryView::parse(packet)?;
        if header.opcode != 0 || view.class != Class::IN || view.edns_version != 0 {
            return None;
        }
        let now = self.resolver.now();
        let counters = self.statistics.current();
        let Some(stored) = self.answers.get(view.cache_key().as_bytes(), now) else {
            counters.count_answer_cache_miss();
            return None;
        };
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
                counters.count_answer_cache_bypass();
                return None;
            }
        }
        let limit = if transport.is_datagram() {
            udp_limit(view.edns_udp_size, settings)
        } else {
            usize::MAX
        };
        let cookie_length = cookie.map_or(0, |data| 4 + data.len());
        if stored.wire().len() + cookie_length > limit {
            counters.count_answer_cache_bypass();
            return None;
        }
        let mut length = stored
            .write_to(&mut *buffer, header.id, view.name_wire(), now)?
            .len();
        if let Some(data) = cookie {
            // The stored answer has an OPT record (a query with a cookie has
            // EDNS, and EDNS is part of the key); the cookie goes at its end.
            length = hanse_wire::cookie::append_option(buffer, length, COOKIE_OPTION, data)
                .unwrap_or(length);
        }
        let rcode_bits = buffer[3] & 0x0f;
        counters.count_hot_path_answer(view.rtype, rcode_bits);
        let limit = match self.limit_response(
            transport,
            client.verified,
            client.address,
            &buffer[..length],
        ) {
            ResponseVerdict::Send => None,
            ResponseVerdict::Slip => {
                // An unreadable question (never in a stored answer): nothing.
                length = slip_in_place(&mut buffer[..length]).unwrap_or(0);
                Some(AbuseLimit::ResponseSlip)
            }
            ResponseVerdict::Drop => {
                length = 0;
                Some(AbuseLimit::ResponseDrop)
            }
        };
        let reply = &buffer[..length];
        if let (Some(observer), Some(started)) = (settings.observer.as_deref(), started) {
            observer.observe(&QueryEvent {
                time: SystemTime::now(),
                client: client.address,
                client_port: client.port,
                transport,
                query_message: packet,
                response_message: reply,
                qname_wire: view.name_wire(),
                qtype: view.rtype,
                rcode: if reply.is_empty() {
                    Rcode::NOERROR
                } else {
                    Rcode(u16::from(rcode_bits))
                },
                dropped: reply.is_empty(),
                from_cache: true,
                elapsed: started.elapsed(),
                profile: profile_name(settings, client.profile),
                policy: None,
                limit,
            });
        }
        Some(if reply.is_empty() {
            Action::Drop
        } else {
            Action::Reply(reply)
        })
    }

    /// Counts an error response to `packet`, applies response-rate
    /// limiting to it (truncated in place, or emptied: send nothing) and
    /// tells the observer, with `limit` if a limit caused it.
    #[allow(clippy::too_many_arguments)]
    fn finish_error(
        &self,
        packet: &[u8],
        response: &mut Vec<u8>,
        client: Client,
        transport: Transport,
        rcode: Rcode,
        settings: &Settings,
        started: Option<Instant>,
        limit: Option<AbuseLimit>,
    ) {
        // The question, if it can be read: the view first, the parser for
        // the unusual shapes (error path only).
        let parsed;
        let (name, rtype): (&[u8], Option<RType>) = match QueryView::parse(packet) {
            Some(view) => (view.name_wire(), Some(view.rtype)),
            None => {
                parsed = Message::parse(packet).ok();
                match parsed.as_ref().and_then(Message::question) {
                    Some(question) => (question.name.as_wire(), Some(question.rtype)),
                    None => (&[], None),
                }
            }
        };
        let counters = self.statistics.current();
        match rtype {
            Some(rtype) => counters.count_response(rtype, rcode),
            None => counters.count_rcode(rcode),
        }
        let limit = self
            .limit_owned(transport, client.verified, client.address, response)
            .or(limit);
        if let (Some(observer), Some(started)) = (settings.observer.as_deref(), started) {
            observer.observe(&QueryEvent {
                time: SystemTime::now(),
                client: client.address,
                client_port: client.port,
                transport,
                query_message: packet,
                response_message: response,
                qname_wire: name,
                qtype: rtype.unwrap_or(RType(0)),
                rcode: if response.is_empty() {
                    Rcode::NOERROR
                } else {
                    rcode
                },
                dropped: response.is_empty(),
                from_cache: false,
                elapsed: started.elapsed(),
                profile: None,
                policy: None,
                limit,
            });
        }
    }

    /// Tells the observer of a query dropped by `limit` without an answer.
    /// Reads the question only when there is an observer.
    fn observe_dropped(
        &self,
        packet: &[u8],
        client: Client,
        transport: Transport,
        settings: &Settings,
        started: Option<Instant>,
        limit: AbuseLimit,
    ) {
        let (Some(observer), Some(started)) = (settings.observer.as_deref(), started) else {
            return;
        };
        let parsed;
        let (name, rtype): (&[u8], RType) = match QueryView::parse(packet) {
            Some(view) => (view.name_wire(), view.rtype),
            None => {
                parsed = Message::parse(packet).ok();
                match parsed.as_ref().and_then(Message::question) {
                    Some(question) => (question.name.as_wire(), question.rtype),
                    None => (&[], RType(0)),
                }
            }
        };
        observer.observe(&QueryEvent {
            time: SystemTime::now(),
            client: client.address,
            client_port: client.port,
            transport,
            query_message: packet,
            response_message: &[],
            qname_wire: name,
            qtype: rtype,
            rcode: Rcode::NOERROR,
            dropped: true,
            from_cache: false,
            elapsed: started.elapsed(),
            profile: profile_name(settings, client.profile),
            policy: None,
            limit: Some(limit),
        });
    }

    /// An error response to `packet`, counted and observed.
    fn error_action<'b>(
        &self,
        packet: &[u8],
        rcode: Rcode,
        settings: &Settings,
        client: Client,
        transport: Transport,
        started: Option<Instant>,
    ) -> Action<'b> {
        let mut response = error_response(packet, rcode, settings);
        self.finish_error(
            packet,
            &mut response,
            client,
            transport,
            rcode,
            settings,
            started,
            None,
        );
        Action::Owned(response)
    }

    /// Full parsing, checks, and either an error response or a resolution.
    fn slow_path<'b>(
        &self,
        packet: &[u8],
        settings: &Settings,
        client: Client,
        cookie: QueryCookie,
        transport: Transport,
        started: Option<Instant>,
    ) -> Action<'b> {
        let received = started.unwrap_or_else(Instant::now);
        let started = Some(received);
        let counters = self.statistics.current();
        let Ok(message) = Message::parse(packet) else {
            WorkerCounters::count(&counters.malformed);
            return self.error_action(packet, Rcode::FORMERR, settings, client, transport, started);
        };
        let header = message.header;
        if header.opcode != 0 {
            WorkerCounters::count(&counters.malformed);
            return self.error_action(packet, Rcode::NOTIMP, settings, client, transport, started);
        }
        if message.questions.len() != 1
            || !message.answers.is_empty()
            || !message.authorities.is_empty()
        {
            WorkerCounters::count(&counters.malformed);
            return self.error_action(packet, Rcode::FORMERR, settings, client, transport, started);
        }
        let error = |rcode| self.error_action(packet, rcode, settings, client, transport, started);
        if message.edns.as_ref().is_some_and(|edns| edns.version != 0) {
            return error(Rcode::BADVERS);
        }
        let question = message.questions[0].clone();
        if question.class != Class::IN {
            return error(Rcode::REFUSED);
        }
        match question.rtype {
            RType::OPT | RType::TSIG | RType::TKEY => return error(Rcode::FORMERR),
            RType::AXFR | RType::IXFR => {
                if transport == Transport::Udp
                    && let Some(mut reply) =
                        self.transfer_over_udp(packet, client.address, settings)
                {
                    self.limit_owned(transport, client.verified, client.address, &mut reply);
                    return Action::Owned(reply);
                }
                return error(Rcode::REFUSED);
            }
            RType::MAILA | RType::MAILB => return error(Rcode::NOTIMP),
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
        )
        .with_authentic_data(header.authentic_data);
        let Some(key) = CacheKey::new(
            question.name.as_wire(),
            question.rtype,
            question.class,
            flags,
        ) else {
            return error(Rcode::FORMERR);
        };
        let limits = &settings.rate_limit;
        // A slot for this miss, maybe taken from an older resolution, which
        // is given up (hits never need one).
        let slot = match ResolutionTable::acquire(
            &self.resolutions,
            limits,
            client.address,
            limits.max_resolutions,
            limits.max_resolutions_per_client,
        ) {
            Admission::Unbounded => None,
            Admission::Admitted(slot) => Some(slot),
            // Only exempt networks' resolutions hold the slots.
            Admission::Shed => {
                return match limits.overload_action {
                    OverloadAction::Servfail => {
                        counters.count_rate_limited(RateLimitOutcome::OverloadServfail);
                        let mut response = error_response(packet, Rcode::SERVFAIL, settings);
                        hanse_wire::cookie::push_option(
                            &mut response,
                            EXTENDED_ERROR_OPTION,
                            &extended_error_data(&GIVEN_UP),
                        );
                        self.finish_error(
                            packet,
                            &mut response,
                            client,
                            transport,
                            Rcode::SERVFAIL,
                            settings,
                            started,
                            Some(AbuseLimit::Overload),
                        );
                        Action::Owned(response)
                    }
                    OverloadAction::Drop => {
                        counters.count_rate_limited(RateLimitOutcome::OverloadDrop);
                        self.observe_dropped(
                            packet,
                            client,
                            transport,
                            settings,
                            started,
                            AbuseLimit::Overload,
                        );
                        Action::Drop
                    }
                };
            }
        };
        WorkerCounters::count(&counters.cache_misses);
        Action::Resolve(Box::new(Pending {
            id: header.id,
            client: client.address,
            client_port: client.port,
            query_message: if settings.observer.is_some() {
                packet.into()
            } else {
                Box::default()
            },
            profile: client.profile,
            client_name: question.name.as_wire().into(),
            question: Question {
                name: question.name.to_lowercase(),
                ..question
            },
            recursion_desired: header.recursion_desired,
            checking_disabled: header.checking_disabled,
            authentic_data: header.authentic_data,
            edns,
            key,
            received,
            cookie: cookie.response().copied(),
            cookie_verified: cookie.verified(),
            slot,
        }))
    }

    /// Tells the observer that `pending`, given up or dropped under
    /// overload, got no answer.
    fn observe_pending_dropped(
        &self,
        pending: &Pending,
        transport: Transport,
        settings: &Settings,
    ) {
        if let Some(observer) = settings.observer.as_deref() {
            observer.observe(&QueryEvent {
                time: SystemTime::now(),
                client: pending.client,
                client_port: pending.client_port,
                transport,
                query_message: &pending.query_message,
                response_message: &[],
                qname_wire: &pending.client_name,
                qtype: pending.question.rtype,
                rcode: Rcode::NOERROR,
                dropped: true,
                from_cache: false,
                elapsed: pending.received.elapsed(),
                profile: profile_name(settings, pending.profile),
                policy: None,
                limit: Some(AbuseLimit::Overload),
            });
        }
    }

    /// Counts a query dropped because the worker has too many resolutions
    /// under way, and tells the observer.
    pub(crate) fn drop_overloaded(&self, pending: &Pending, transport: Transport) {
        let counters = self.statistics.current();
        counters.count_overload_drop();
        counters.count_dropped_type(pending.question.rtype);
        self.observe_pending_dropped(pending, transport, &self.settings.load());
    }

    /// Resolves a pending query and returns the response for the client
    /// (`None`: send nothing), storing the real answer in the answer cache.
    /// Policy applies on the way out: a rewritten answer is never stored.
    /// Counts the answer and tells the observer.
    pub(crate) async fn resolve(&self, pending: &Pending, transport: Transport) -> Option<Vec<u8>> {
        let settings = self.settings.load_full();
        let (mut outcome, given_up) = match &pending.slot {
            None => (
                self.answer_pending(pending, transport, &settings).await,
                false,
            ),
            Some(slot) => {
                // Given up for a newer query under overload: the resolution
                // future is dropped (coalesced askers take it over).
                tokio::select! {
                    biased;
                    () = slot.given_up() => {
                        match self.give_up(pending, transport, &settings) {
                            Some(outcome) => (outcome, true),
                            None => return None,
                        }
                    }
                    outcome = self.answer_pending(pending, transport, &settings) => (outcome, false),
                }
            }
        };
        let limit = match outcome.response.as_mut() {
            Some(response) => {
                let limit =
                    self.limit_owned(transport, pending.cookie_verified, pending.client, response);
                if response.is_empty() {
                    outcome.response = None;
                }
                limit
            }
            None => None,
        }
        .or(given_up.then_some(AbuseLimit::Overload));
        let elapsed = pending.received.elapsed();
        let counters = self.statistics.current();
        // A response that RRL held back was still resolved and composed.
        if outcome.response.is_some() || limit.is_some() {
            counters.count_slow_path_answer(elapsed);
            counters.count_response(pending.question.rtype, outcome.rcode);
        } else {
            counters.count_policy_drop();
            counters.count_dropped_type(pending.question.rtype);
        }
        if let Some(observer) = settings.observer.as_deref() {
            observer.observe(&QueryEvent {
                time: SystemTime::now(),
                client: pending.client,
                client_port: pending.client_port,
                transport,
                query_message: &pending.query_message,
                response_message: outcome.response.as_deref().unwrap_or_default(),
                qname_wire: &pending.client_name,
                qtype: pending.question.rtype,
                rcode: if outcome.response.is_some() {
                    outcome.rcode
                } else {
                    Rcode::NOERROR
                },
                dropped: outcome.response.is_none(),
                from_cache: false,
                elapsed,
                profile: profile_name(&settings, pending.profile),
                policy: outcome.policy.as_ref().map(|note| PolicyNote {
                    feed: &note.feed,
                    action: note.action,
                    rule: &note.rule,
                }),
                limit,
            });
        }
        outcome.response
    }

    /// The answer to a query whose resolution was given up under overload:
    /// SERVFAIL with an Extended DNS Error, or `None` (counted and observed
    /// here) when the overload action drops it.
    fn give_up(
        &self,
        pending: &Pending,
        transport: Transport,
        settings: &Settings,
    ) -> Option<Outcome> {
        let counters = self.statistics.current();
        counters.count_overload_given_up();
        match settings.rate_limit.overload_action {
            OverloadAction::Servfail => {
                counters.count_rate_limited(RateLimitOutcome::OverloadServfail);
                let failure = Resolution::failure(GIVEN_UP);
                let (mut response, _) = compose(pending, &failure, settings);
                hanse_wire::answer::patch(&mut response, pending.id, &pending.client_name, &[], 0);
                add_cookie(&mut response, pending);
                let (response, rcode) =
                    fit(response, Rcode::SERVFAIL, pending, transport, settings);
                Some(Outcome {
                    response: Some(response),
                    rcode,
                    policy: None,
                })
            }
            OverloadAction::Drop => {
                counters.count_rate_limited(RateLimitOutcome::OverloadDrop);
                counters.count_dropped_type(pending.question.rtype);
                self.observe_pending_dropped(pending, transport, settings);
                None
            }
        }
    }

    /// The work of [`Handler::resolve`].
    async fn answer_pending(
        &self,
        pending: &Pending,
        transport: Transport,
        settings: &Settings,
    ) -> Outcome {
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
                        settings,
                    )
                    .await;
            }
            // Otherwise a query-phase hit waits for the response facts: the
            // draft's precedence may let a RESPONSE-IP rule of an earlier
            // zone win, and check_response finds the query-phase hit again.
        }
        // Read before the resolution reads any cache: an answer composed from
        // data a flush removed meanwhile must not stay.
        let generation = self.answers.generation();
        let resolution = if pending.question.rtype == RType::ANY {
            any_answer(&pending.question.name)
        } else {
            self.resolver
                .resolve(&pending.question.name, pending.question.rtype)
                .await
        };
        let now = self.resolver.now();
        self.statistics
            .current()
            .count_dnssec_outcome(resolution.security);
        // DNSSEC: bogus becomes SERVFAIL unless CD, AD when all is secure,
        // signatures only for DO (RFC 4035 §3.2, RFC 6840 §5.7–5.9).
        let resolution = client_view(pending, &resolution);
        let (wire, ttl_offsets) = compose(pending, &resolution, settings);
        let ttl = if resolution.rcode == Rcode::SERVFAIL {
            settings.servfail_ttl
        } else {
            self.resolver.answer_cache_lifetime(resolution.ttl())
        };
        // A stale answer (RFC 8767) never goes into the answer cache: the
        // next query asks the resolver again.
        if ttl > 0 && !resolution.is_stale() {
            let stored = StoredAnswer::new(&wire, &ttl_offsets, now, now.saturating_add(ttl));
            self.answers
                .insert_unless_flushed(pending.key.as_bytes(), stored, generation);
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
                    .rewrite(pending, &verdict, &replaced, &kept, transport, settings)
                    .await;
            }
        }
        let mut response = wire;
        hanse_wire::answer::patch(&mut response, pending.id, &pending.client_name, &[], 0);
        add_cookie(&mut response, pending);
        let (response, rcode) = fit(response, resolution.rcode, pending, transport, settings);
        Outcome {
            response: Some(response),
            rcode,
            policy: None,
        }
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
    ) -> Outcome {
        let note = OwnedNote::of(verdict);
        if let (Some(policy), Some(profile)) = (settings.policy.as_deref(), pending.profile) {
            self.statistics.current().count_policy_hit(
                &note.feed,
                policy.profile_name(profile),
                note.action,
            );
        }
        let (response, rcode) =
            match hanse_policy::synthesize(verdict, replaced, pending.question.rtype) {
                Synthesis::Resolve => (None, Rcode::NOERROR),
                Synthesis::Drop => (None, Rcode::NOERROR),
                Synthesis::Truncate if transport == Transport::Udp => {
                    (Some(truncated(pending, settings)), Rcode::NOERROR)
                }
                Synthesis::Truncate => {
                    let resolution = self
                        .resolver
                        .resolve(&pending.question.name, pending.question.rtype)
                        .await;
                    let resolution = client_view(pending, &resolution);
                    let (mut wire, _) = compose(pending, &resolution, settings);
                    hanse_wire::answer::patch(&mut wire, pending.id, &pending.client_name, &[], 0);
                    add_cookie(&mut wire, pending);
                    (Some(wire), resolution.rcode)
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
                        let followed = client_view(pending, &followed);
                        rcode = followed.rcode;
                        records.extend(followed.answers);
                        authorities = followed.authorities;
                    }
                    let resolution = Resolution {
                        rcode,
                        answers: records,
                        authorities,
                        extended_error: None,
                        // A rewritten answer is never authentic.
                        security: Security::Indeterminate,
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
                    add_cookie(&mut wire, pending);
                    let (wire, rcode) = fit(wire, rcode, pending, transport, settings);
                    (Some(wire), rcode)
                }
            };
        Outcome {
            response,
            rcode,
            policy: Some(note),
        }
    }
}

/// What [`Handler::answer_pending`] produced.
struct Outcome {
    /// The response, `None` to send nothing.
    response: Option<Vec<u8>>,
    /// Its response code.
    rcode: Rcode,
    /// The policy rule that changed it, if any.
    policy: Option<OwnedNote>,
}

/// A [`PolicyNote`] that owns its texts (a rewrite is on the slow path).
struct OwnedNote {
    feed: String,
    action: &'static str,
    rule: String,
}

impl OwnedNote {
    /// The note of a verdict that changes the answer.
    fn of(verdict: &Verdict<'_>) -> OwnedNote {
        match verdict {
            Verdict::Match(hit) => OwnedNote {
                feed: hit.feed.name().to_owned(),
                action: action_label(&hit.action),
                rule: hit.rule.to_string(),
            },
            Verdict::SafeSearch(rewrite) => OwnedNote {
                feed: String::new(),
                action: "safe-search",
                rule: rewrite.target.to_string(),
            },
            Verdict::Pass | Verdict::Allowed(_) => OwnedNote {
                feed: String::new(),
                action: "passthru",
                rule: String::new(),
            },
        }
    }
}

/// The label of a policy action, one of [`crate::POLICY_ACTIONS`].
fn action_label(action: &PolicyAction<'_>) -> &'static str {
    match action {
        PolicyAction::Nxdomain => "nxdomain",
        PolicyAction::Nodata => "nodata",
        PolicyAction::Passthru => "passthru",
        PolicyAction::Drop => "drop",
        PolicyAction::TcpOnly => "tcp-only",
        PolicyAction::LocalData(_) => "local-data",
        PolicyAction::Cname(_) => "cname",
        PolicyAction::Block(_) => "block",
    }
}

/// The name of the profile `profile` of the settings' policy.
fn profile_name(settings: &Settings, profile: Option<ProfileId>) -> Option<&str> {
    Some(settings.policy.as_deref()?.profile_name(profile?))
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

/// The data of an Extended DNS Error option (RFC 8914 §2): INFO-CODE, then
/// EXTRA-TEXT.
fn extended_error_data(error: &hanse_resolve::ExtendedError) -> Vec<u8> {
    let mut data = error.code.to_be_bytes().to_vec();
    data.extend_from_slice(error.text.as_bytes());
    data
}

/// Composes an answer with an optional Extended DNS Error (code, EXTRA-TEXT).
fn compose_with_error(
    pending: &Pending,
    resolution: &Resolution,
    settings: &Settings,
    extended_error: Option<(u16, String)>,
) -> (Vec<u8>, Vec<u16>) {
    let mut header = response_header(pending, resolution.rcode);
    header.authentic_data = resolution.security == Security::Secure;
    let mut builder = MessageBuilder::new(header, 65535);
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
    let mut response = builder.finish();
    add_cookie(&mut response, pending);
    response
}

/// Adds the query's COOKIE option, if it had one, to a response for it
/// (never to an answer that goes into the answer cache).
fn add_cookie(response: &mut Vec<u8>, pending: &Pending) {
    if let Some(data) = &pending.cookie {
        hanse_wire::cookie::push_option(response, COOKIE_OPTION, data);
    }
}

/// Seconds since 1970 modulo 2^32: the clock of RFC 9018 server cookies.
fn unix_seconds() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as u32)
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
        security: Security::Indeterminate,
    }
}

/// The resolution as this client gets it: bogus data becomes SERVFAIL with
/// its Extended DNS Error unless the client set CD; RRSIG, NSEC and NSEC3
/// records only with DO. The AD bit is carried in `security`: `Secure` only
/// when it is to be set.
fn client_view(pending: &Pending, resolution: &Resolution) -> Resolution {
    let answer = resolution.for_client(
        pending.question.rtype,
        pending.edns.is_some_and(|edns| edns.dnssec_ok),
        pending.authentic_data,
        pending.checking_disabled,
    );
    let mut view = answer.resolution;
    view.security = if answer.authentic_data {
        Security::Secure
    } else {
        Security::Indeterminate
    };
    view
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

/// Fits a response with `rcode` to the client's UDP size, or sends TC
/// (NOERROR); returns what is sent and its response code.
fn fit(
    response: Vec<u8>,
    rcode: Rcode,
    pending: &Pending,
    transport: Transport,
    settings: &Settings,
) -> (Vec<u8>, Rcode) {
    let limit = if transport.is_datagram() {
        udp_limit(pending.edns.map(|edns| edns.udp_size), settings)
    } else {
        usize::MAX
    };
    if response.len() > limit {
        return (truncated(pending, settings), Rcode::NOERROR);
    }
    (response, rcode)
}

/// The current time for time windows.
fn unix_now() -> UnixTime {
    let seconds = SystemTime::now()
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
