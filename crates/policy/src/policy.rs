//! Profiles, clients and evaluation: which rules apply to a query, and the
//! [`Verdict`] (draft-ietf-dnsop-dns-rpz-00 §5.4 precedence; RFC 8914
//! Extended DNS Errors for the reason).
//!
//! A [`PolicySet`] is an immutable snapshot built from profiles, client
//! mappings and feeds; the server swaps whole snapshots. Evaluation:
//! 1. safe search: a query for a search engine host of an enabled engine is
//!    rewritten to the engine's safe-search host;
//! 2. the allowlist: a name at or below an allowlist entry passes;
//! 3. the feeds in the profile's order; the first feed with a hit decides
//!    ("earlier zone wins"). Within a feed: CLIENT-IP, then QNAME (exact,
//!    then the longest wildcard), then RESPONSE-IP (longest prefix, then the
//!    smallest address), then NSDNAME, then NSIP. A PASSTHRU hit stops the
//!    evaluation and the answer passes.
//!
//! Two phases: [`PolicySet::check_query`] before resolution (CLIENT-IP and
//! QNAME for the query name only) and [`PolicySet::check_response`] after
//! (everything, with the CNAME chain, answer addresses and the nameservers
//! that served the answer). A hit before resolution may be applied at once;
//! that corresponds to BIND's `qname-wait-recurse no`, and differs from the
//! full precedence only when an earlier feed has response triggers
//! ([`PolicySet::needs_response_phase`] tells).
//!
//! Verdicts borrow from the snapshot and allocate nothing.
//!
//! With a CNAME chain, the names are checked hop by hop as BIND does: the
//! first name of the chain with a hit in any feed decides (a later feed's
//! hit on an earlier name beats an earlier feed's hit on a later name), and
//! the response triggers belong to the last name.
//!
//! # Limitations
//! - NSDNAME and NSIP are checked for the nameservers of the zone at the end
//!   of the chain only (BIND checks the zone of every name of the chain).
//! - A feed's override never turns a PASSTHRU rule (or an adblock exception)
//!   into a block.

use crate::feed::{Feed, LocalRecord, PolicyAction, Rule, TriggerKind};
use crate::name_table::{NameTable, NameTableBuilder, PreparedName};
use crate::prefix::{Prefix, PrefixMap};
use crate::safe_search::{SafeSearch, SearchEngine, safe_search_table};
use crate::schedule::{LocalMoment, TimeWindow, UnixTime, local_moment};
use hanse_wire::Name;
use jiff::tz::TimeZone;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// An Extended DNS Error code for filtered answers (RFC 8914 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdeCode {
    /// 4: the answer was forged by policy (safe search, local data by choice).
    ForgedAnswer,
    /// 15: blocked by the operator's policy.
    Blocked,
    /// 16: blocked because of an external requirement (law, court order).
    Censored,
    /// 17: blocked because the client asked for it (a subscriber's filter).
    Filtered,
    /// 18: the client is not allowed to ask (REFUSED).
    Prohibited,
}

impl EdeCode {
    /// The INFO-CODE on the wire.
    pub fn info_code(self) -> u16 {
        match self {
            EdeCode::ForgedAnswer => 4,
            EdeCode::Blocked => 15,
            EdeCode::Censored => 16,
            EdeCode::Filtered => 17,
            EdeCode::Prohibited => 18,
        }
    }
}

impl fmt::Display for EdeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            EdeCode::ForgedAnswer => "Forged Answer",
            EdeCode::Blocked => "Blocked",
            EdeCode::Censored => "Censored",
            EdeCode::Filtered => "Filtered",
            EdeCode::Prohibited => "Prohibited",
        };
        write!(f, "{} ({name})", self.info_code())
    }
}

/// How a profile answers a blocked name from a list feed (and from a policy
/// zone whose override says so).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlockAnswer {
    /// NXDOMAIN.
    #[default]
    Nxdomain,
    /// `0.0.0.0` for A, `::` for AAAA, no data for other types.
    NullAddress,
    /// The addresses of a block page: those of the asked family, no data for
    /// other types.
    Addresses(Vec<IpAddr>),
    /// REFUSED.
    Refused,
}

/// A per-feed replacement for the actions a feed's rules give (BIND's
/// `policy` option of `response-policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOverride {
    /// Answer NXDOMAIN.
    Nxdomain,
    /// Answer with no data.
    Nodata,
    /// Let the answer pass (log only, with the log switch).
    Passthru,
    /// Send no answer.
    Drop,
    /// Force TCP.
    TcpOnly,
    /// Answer with a CNAME to this name (a walled garden).
    Cname(Name),
    /// Use the profile's block answer.
    BlockAnswer,
}

/// How a profile uses one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedUse {
    /// The feed's name.
    pub feed: String,
    /// Off means the feed is skipped entirely.
    pub enabled: bool,
    /// Whether hits should be logged (carried in the verdict).
    pub log: bool,
    /// Replaces the actions of the feed's rules.
    pub policy_override: Option<PolicyOverride>,
    /// When non-empty, the feed applies only inside one of these windows.
    pub schedule: Vec<TimeWindow>,
    /// The EDE for blocking actions of this feed.
    pub ede: EdeCode,
}

impl FeedUse {
    /// The feed enabled, logged, as written, always, with EDE Blocked.
    pub fn new(feed: &str) -> FeedUse {
        FeedUse {
            feed: feed.to_owned(),
            enabled: true,
            log: true,
            policy_override: None,
            schedule: Vec::new(),
            ede: EdeCode::Blocked,
        }
    }
}

/// A profile as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    /// The name clients and explanations refer to.
    pub name: String,
    /// The feeds in precedence order, the first wins.
    pub feeds: Vec<FeedUse>,
    /// The answer for blocked list entries.
    pub block_answer: BlockAnswer,
    /// Names that pass, with everything below them.
    pub allowlist: Vec<Name>,
    /// Safe-search enforcement.
    pub safe_search: SafeSearch,
    /// The IANA time zone of the schedules, `UTC` if empty.
    pub time_zone: String,
}

impl ProfileSpec {
    /// A profile with these feeds and defaults for everything else.
    pub fn new(name: &str, feeds: &[&str]) -> ProfileSpec {
        ProfileSpec {
            name: name.to_owned(),
            feeds: feeds.iter().map(|feed| FeedUse::new(feed)).collect(),
            block_answer: BlockAnswer::default(),
            allowlist: Vec::new(),
            safe_search: SafeSearch::default(),
            time_zone: String::new(),
        }
    }
}

/// What picks a profile for a client. Open for more selectors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientSelector {
    /// The client's address is in this prefix (longest prefix wins).
    Network(Prefix),
    /// The client used this DoH path (for example a per-subscriber token).
    DohPath(String),
    /// The client asked for this TLS server name (DoT/DoH SNI).
    ServerName(String),
}

impl fmt::Display for ClientSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientSelector::Network(prefix) => write!(f, "network {prefix}"),
            ClientSelector::DohPath(path) => write!(f, "DoH path {path}"),
            ClientSelector::ServerName(name) => write!(f, "TLS server name {name}"),
        }
    }
}

/// A client mapping as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRule {
    /// What the client must match.
    pub selector: ClientSelector,
    /// The profile's name.
    pub profile: String,
}

/// What is known about a client when its profile is chosen.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientInfo<'a> {
    /// The source address.
    pub address: Option<IpAddr>,
    /// The DoH request path.
    pub doh_path: Option<&'a str>,
    /// The TLS server name the client sent.
    pub server_name: Option<&'a str>,
}

/// A profile's index in its [`PolicySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileId(pub u32);

/// Why a profile was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionReason {
    /// This client rule (index into the configured rules) matched.
    Rule(usize),
    /// No rule matched.
    Default,
}

/// Why a policy set could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No profiles at all.
    #[error("no profiles")]
    NoProfiles,
    /// Two profiles or two feeds with one name.
    #[error("duplicate name {0:?}")]
    Duplicate(String),
    /// A profile names a feed that is not there.
    #[error("profile {profile:?} uses unknown feed {feed:?}")]
    UnknownFeed {
        /// The profile.
        profile: String,
        /// The feed it names.
        feed: String,
    },
    /// A client rule names a profile that is not there.
    #[error("client rule for {0:?} names an unknown profile")]
    UnknownProfile(String),
    /// A time zone the database does not know.
    #[error("profile {profile:?}: unknown time zone {zone:?}")]
    UnknownTimeZone {
        /// The profile.
        profile: String,
        /// The zone's name.
        zone: String,
    },
    /// An allowlist entry that is not a name.
    #[error("profile {0:?}: allowlist too large")]
    AllowlistTooLarge(String),
}

pub(crate) struct CompiledUse {
    pub feed: usize,
    pub spec: FeedUse,
}

pub(crate) struct Profile {
    pub name: String,
    pub uses: Vec<CompiledUse>,
    pub block_answer: BlockAnswer,
    pub allowlist: NameTable,
    pub allowlist_names: Vec<Name>,
    pub safe_search: NameTable,
    pub safe_search_targets: Vec<(SearchEngine, Name)>,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub needs_clock: bool,
}

/// The compiled policy: feeds, profiles, client mappings. Immutable.
pub struct PolicySet {
    pub(crate) feeds: Vec<Feed>,
    pub(crate) profiles: Vec<Profile>,
    pub(crate) default_profile: usize,
    pub(crate) clients: Vec<ClientRule>,
    networks: PrefixMap,
    doh_paths: HashMap<String, usize>,
    server_names: HashMap<String, usize>,
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field(
                "feeds",
                &self.feeds.iter().map(Feed::name).collect::<Vec<_>>(),
            )
            .field("profiles", &self.profiles.len())
            .field("clients", &self.clients.len())
            .finish()
    }
}

/// The answer replacement of a hit, after the feed's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'p> {
    /// NXDOMAIN.
    Nxdomain,
    /// No data.
    Nodata,
    /// Let the real answer through.
    Passthru,
    /// No answer at all.
    Drop,
    /// TC over UDP.
    TcpOnly,
    /// These records (a CNAME `*.target` prepends the query name).
    LocalData(&'p [LocalRecord]),
    /// A CNAME to this name (override).
    Cname(&'p Name),
    /// The profile's block answer.
    Block(&'p BlockAnswer),
}

/// A rule that decided, with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'p> {
    /// The feed of the rule.
    pub feed: &'p Feed,
    /// The rule.
    pub rule: Rule<'p>,
    /// What to answer.
    pub action: Action<'p>,
    /// The Extended DNS Error to attach, if any.
    pub ede: Option<EdeCode>,
    /// Whether the hit should be logged.
    pub log: bool,
    /// The name of the chain whose answer the hit replaces: 0 for the query
    /// name, `i` for the i-th CNAME target. RESPONSE-IP, NSDNAME and NSIP hits
    /// are at the end of the chain.
    pub chain_position: usize,
}

impl Hit<'_> {
    /// The EXTRA-TEXT for the EDE option: the feed, its serial or version,
    /// and the rule.
    pub fn extra_text(&self) -> String {
        let version = match self.feed.serial() {
            Some(serial) => format!("serial {serial}"),
            None => format!("version {}", self.feed.version()),
        };
        let place = match self.rule.line {
            Some(line) => format!(" line {line}"),
            None => String::new(),
        };
        format!(
            "policy {} {version}: {} {}{place}",
            self.feed.name(),
            self.rule.kind,
            self.rule.trigger_text()
        )
    }
}

/// A safe-search rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeSearchRewrite<'p> {
    /// The search engine.
    pub engine: SearchEngine,
    /// The engine's safe-search host.
    pub target: &'p Name,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'p> {
    /// No rule applies.
    Pass,
    /// The name is on the profile's allowlist (this entry).
    Allowed(&'p Name),
    /// Rewrite to the safe-search host.
    SafeSearch(SafeSearchRewrite<'p>),
    /// A rule applies.
    Match(Hit<'p>),
}

impl Verdict<'_> {
    /// Whether the real answer goes out unchanged (no rule, allowlist, or
    /// PASSTHRU).
    pub fn passes(&self) -> bool {
        match self {
            Verdict::Pass | Verdict::Allowed(_) => true,
            Verdict::SafeSearch(_) => false,
            Verdict::Match(hit) => hit.action == Action::Passthru,
        }
    }

    /// The Extended DNS Error to attach, if any.
    pub fn ede(&self) -> Option<EdeCode> {
        match self {
            Verdict::Pass | Verdict::Allowed(_) => None,
            Verdict::SafeSearch(_) => Some(EdeCode::ForgedAnswer),
            Verdict::Match(hit) => hit.ede,
        }
    }
}

/// What resolution found, for the triggers after resolution.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseFacts<'a> {
    /// The CNAME targets after the query name, in order.
    pub cname_chain: &'a [Name],
    /// The addresses of the A/AAAA records in the answer.
    pub addresses: &'a [IpAddr],
    /// The names of the nameservers that served the answer.
    pub nameserver_names: &'a [Name],
    /// The addresses of those nameservers.
    pub nameserver_addresses: &'a [IpAddr],
}

fn action_of<'p>(
    rule: &Rule<'p>,
    spec: &'p FeedUse,
    profile: &'p Profile,
) -> (Action<'p>, Option<EdeCode>) {
    let given = match rule.action {
        PolicyAction::Nxdomain => Action::Nxdomain,
        PolicyAction::Nodata => Action::Nodata,
        PolicyAction::Passthru => return (Action::Passthru, None),
        PolicyAction::Drop => Action::Drop,
        PolicyAction::TcpOnly => Action::TcpOnly,
        PolicyAction::LocalData(records) => Action::LocalData(records),
        PolicyAction::Block => Action::Block(&profile.block_answer),
    };
    let action = match &spec.policy_override {
        None => given,
        Some(PolicyOverride::Nxdomain) => Action::Nxdomain,
        Some(PolicyOverride::Nodata) => Action::Nodata,
        Some(PolicyOverride::Passthru) => Action::Passthru,
        Some(PolicyOverride::Drop) => Action::Drop,
        Some(PolicyOverride::TcpOnly) => Action::TcpOnly,
        Some(PolicyOverride::Cname(target)) => Action::Cname(target),
        Some(PolicyOverride::BlockAnswer) => Action::Block(&profile.block_answer),
    };
    let ede = match action {
        Action::Passthru | Action::Drop | Action::TcpOnly => None,
        Action::Block(BlockAnswer::Refused) => Some(EdeCode::Prohibited),
        _ => Some(spec.ede),
    };
    (action, ede)
}

/// The better of two RESPONSE-IP or NSIP hits: longer prefix, then smaller
/// address.
fn better_address_rule<'f>(current: Option<Rule<'f>>, candidate: Rule<'f>) -> Option<Rule<'f>> {
    use crate::feed::Trigger;
    let key = |rule: &Rule<'_>| match rule.trigger {
        Trigger::Address(prefix) => (std::cmp::Reverse(prefix.length()), prefix.address()),
        Trigger::Name(_) => (std::cmp::Reverse(0), IpAddr::from([0, 0, 0, 0])),
    };
    match current {
        Some(current) if key(&current) <= key(&candidate) => Some(current),
        _ => Some(candidate),
    }
}

impl PolicySet {
    /// Builds a snapshot. The default profile is the one named `default`,
    /// or the first.
    pub fn build(
        profiles: Vec<ProfileSpec>,
        clients: Vec<ClientRule>,
        feeds: Vec<Feed>,
    ) -> Result<PolicySet, BuildError> {
        if profiles.is_empty() {
            return Err(BuildError::NoProfiles);
        }
        let mut feed_index = HashMap::new();
        for (index, feed) in feeds.iter().enumerate() {
            if feed_index.insert(feed.name().to_owned(), index).is_some() {
                return Err(BuildError::Duplicate(feed.name().to_owned()));
            }
        }
        let mut profile_index = HashMap::new();
        let mut compiled = Vec::with_capacity(profiles.len());
        for (index, spec) in profiles.into_iter().enumerate() {
            if profile_index.insert(spec.name.clone(), index).is_some() {
                return Err(BuildError::Duplicate(spec.name));
            }
            compiled.push(compile_profile(spec, &feed_index)?);
        }
        let default_profile = profile_index.get("default").copied().unwrap_or(0);
        let mut networks = PrefixMap::default();
        let mut doh_paths = HashMap::new();
        let mut server_names = HashMap::new();
        for (index, rule) in clients.iter().enumerate() {
            if !profile_index.contains_key(&rule.profile) {
                return Err(BuildError::UnknownProfile(rule.profile.clone()));
            }
            match &rule.selector {
                ClientSelector::Network(prefix) => {
                    networks.insert(*prefix, index as u32);
                }
                ClientSelector::DohPath(path) => {
                    doh_paths.insert(path.clone(), index);
                }
                ClientSelector::ServerName(name) => {
                    let key = name.trim_end_matches('.').to_ascii_lowercase();
                    server_names.insert(key, index);
                }
            }
        }
        Ok(PolicySet {
            feeds,
            profiles: compiled,
            default_profile,
            clients,
            networks,
            doh_paths,
            server_names,
        })
    }

    /// The profile for a client: a DoH path rule, then a TLS server name
    /// rule, then the longest matching network, then the default.
    pub fn select_profile(&self, client: &ClientInfo<'_>) -> (ProfileId, SelectionReason) {
        let rule = client
            .doh_path
            .and_then(|path| self.doh_paths.get(path).copied())
            .or_else(|| {
                client.server_name.and_then(|name| {
                    let name = name.trim_end_matches('.');
                    self.server_names
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                        .map(|(_, &index)| index)
                })
            })
            .or_else(|| {
                client
                    .address
                    .and_then(|address| self.networks.longest_match(address))
                    .map(|(_, index)| index as usize)
            });
        match rule {
            Some(index) => {
                let profile = &self.clients[index].profile;
                let position = self
                    .profiles
                    .iter()
                    .position(|candidate| &candidate.name == profile)
                    .unwrap_or(self.default_profile);
                (ProfileId(position as u32), SelectionReason::Rule(index))
            }
            None => (
                ProfileId(self.default_profile as u32),
                SelectionReason::Default,
            ),
        }
    }

    /// The name of a profile.
    pub fn profile_name(&self, profile: ProfileId) -> &str {
        self.profile(profile).name.as_str()
    }

    /// The profile with this id, the default one for an unknown id.
    pub(crate) fn profile(&self, profile: ProfileId) -> &Profile {
        self.profiles
            .get(profile.0 as usize)
            .unwrap_or(&self.profiles[self.default_profile])
    }

    /// The id of the profile with this name.
    pub fn profile_id(&self, name: &str) -> Option<ProfileId> {
        self.profiles
            .iter()
            .position(|profile| profile.name == name)
            .map(|index| ProfileId(index as u32))
    }

    /// The configured client rules.
    pub fn client_rules(&self) -> &[ClientRule] {
        &self.clients
    }

    /// The feeds of the snapshot.
    pub fn feeds(&self) -> &[Feed] {
        &self.feeds
    }

    /// Whether a profile has feeds with RESPONSE-IP, NSDNAME or NSIP
    /// triggers, so that answers must be checked after resolution.
    pub fn needs_response_phase(&self, profile: ProfileId) -> bool {
        self.profile(profile).uses.iter().any(|compiled| {
            compiled.spec.enabled && self.feeds[compiled.feed].has_response_triggers()
        })
    }

    /// Before resolution: CLIENT-IP and QNAME triggers for the query name
    /// (uncompressed wire form, any case). A malformed name passes.
    pub fn check_query(
        &self,
        profile: ProfileId,
        qname: &[u8],
        client: Option<IpAddr>,
        time: UnixTime,
    ) -> Verdict<'_> {
        self.evaluate(profile, qname, client, None, time)
    }

    /// After resolution: every trigger, with the resolution's facts.
    pub fn check_response(
        &self,
        profile: ProfileId,
        qname: &[u8],
        client: Option<IpAddr>,
        response: &ResponseFacts<'_>,
        time: UnixTime,
    ) -> Verdict<'_> {
        self.evaluate(profile, qname, client, Some(response), time)
    }

    /// Whether a feed use applies at `moment` (computed once per evaluation).
    fn active(spec: &FeedUse, moment: Option<LocalMoment>) -> bool {
        spec.enabled
            && (spec.schedule.is_empty()
                || moment.is_some_and(|moment| {
                    spec.schedule.iter().any(|window| window.contains(moment))
                }))
    }

    /// RESPONSE-IP (longest prefix, then the smallest address), NSDNAME and
    /// NSIP triggers of one feed, in that order, for the end of the chain.
    fn match_response<'p>(feed: &'p Feed, response: &ResponseFacts<'_>) -> Option<Rule<'p>> {
        let mut best = None;
        for &address in response.addresses {
            if let Some(rule) = feed.match_address(TriggerKind::ResponseIp, address) {
                best = better_address_rule(best, rule);
            }
        }
        if best.is_some() {
            return best;
        }
        for server in response.nameserver_names {
            if let Some(prepared) = PreparedName::new(server.as_wire())
                && let Some(rule) = feed.match_nsdname(&prepared)
            {
                return Some(rule);
            }
        }
        let mut best = None;
        for &address in response.nameserver_addresses {
            if let Some(rule) = feed.match_address(TriggerKind::Nsip, address) {
                best = better_address_rule(best, rule);
            }
        }
        best
    }

    pub(crate) fn evaluate<'p>(
        &'p self,
        profile_id: ProfileId,
        qname: &[u8],
        client: Option<IpAddr>,
        response: Option<&ResponseFacts<'_>>,
        time: UnixTime,
    ) -> Verdict<'p> {
        let profile = self.profile(profile_id);
        let Some(name) = PreparedName::new(qname) else {
            return Verdict::Pass;
        };
        if !profile.safe_search.is_empty()
            && let Some(found) = profile.safe_search.lookup(&name)
            && let Some((engine, target)) = profile.safe_search_targets.get(found.value as usize)
        {
            return Verdict::SafeSearch(SafeSearchRewrite {
                engine: *engine,
                target,
            });
        }
        if !profile.allowlist.is_empty()
            && let Some(found) = profile.allowlist.lookup(&name)
            && let Some(entry) = profile.allowlist_names.get(found.value as usize)
        {
            return Verdict::Allowed(entry);
        }
        let moment = profile
            .needs_clock
            .then(|| local_moment(&profile.time_zone, time));
        let chain = response.map_or(&[][..], |response| response.cname_chain);
        // Hop by hop along the CNAME chain, as BIND does: the first name of
        // the chain that any feed has a hit for decides, and at each name the
        // feeds keep their order. The answer's addresses and nameservers
        // belong to the last name, so the response triggers are checked there.
        for position in 0..=chain.len() {
            let target;
            let here = match position.checked_sub(1) {
                None => &name,
                Some(index) => match PreparedName::new(chain[index].as_wire()) {
                    Some(prepared) => {
                        target = prepared;
                        &target
                    }
                    None => continue,
                },
            };
            let last = response.filter(|_| position == chain.len());
            for compiled in &profile.uses {
                if !Self::active(&compiled.spec, moment) {
                    continue;
                }
                let feed = &self.feeds[compiled.feed];
                let hit = |rule: Rule<'p>| -> Verdict<'p> {
                    let (action, ede) = action_of(&rule, &compiled.spec, profile);
                    Verdict::Match(Hit {
                        feed,
                        rule,
                        action,
                        ede,
                        log: compiled.spec.log,
                        chain_position: position,
                    })
                };
                if position == 0
                    && let Some(address) = client
                    && let Some(rule) = feed.match_address(TriggerKind::ClientIp, address)
                {
                    return hit(rule);
                }
                if let Some(rule) = feed.match_qname(here) {
                    return hit(rule);
                }
                let Some(response) = last else {
                    continue;
                };
                if let Some(rule) = Self::match_response(feed, response) {
                    return hit(rule);
                }
            }
        }
        Verdict::Pass
    }
}

fn compile_profile(
    spec: ProfileSpec,
    feed_index: &HashMap<String, usize>,
) -> Result<Profile, BuildError> {
    let zone_name = if spec.time_zone.is_empty() {
        "UTC".to_owned()
    } else {
        spec.time_zone.clone()
    };
    let time_zone = TimeZone::get(&zone_name).map_err(|_| BuildError::UnknownTimeZone {
        profile: spec.name.clone(),
        zone: zone_name.clone(),
    })?;
    let mut uses = Vec::with_capacity(spec.feeds.len());
    for feed_use in spec.feeds {
        let Some(&feed) = feed_index.get(&feed_use.feed) else {
            return Err(BuildError::UnknownFeed {
                profile: spec.name,
                feed: feed_use.feed,
            });
        };
        uses.push(CompiledUse {
            feed,
            spec: feed_use,
        });
    }
    let mut allowlist = NameTableBuilder::with_capacity(spec.allowlist.len(), 20);
    for (index, name) in spec.allowlist.iter().enumerate() {
        allowlist
            .insert(&name.as_wire().to_ascii_lowercase(), index as u32, true)
            .map_err(|()| BuildError::AllowlistTooLarge(spec.name.clone()))?;
    }
    let (safe_search, safe_search_targets) = safe_search_table(&spec.safe_search);
    let needs_clock = uses
        .iter()
        .any(|compiled| !compiled.spec.schedule.is_empty());
    Ok(Profile {
        name: spec.name,
        uses,
        block_answer: spec.block_answer,
        allowlist: allowlist.finish(),
        allowlist_names: spec.allowlist,
        safe_search,
        safe_search_targets,
        time_zone,
        time_zone_name: zone_name,
        needs_clock,
    })
}
