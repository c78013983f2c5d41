//! The plain data the API serves and accepts (data transfer objects).
//!
//! Every type here is a value the binary fills in from the running resolver
//! (or reads from a request) and this crate turns into JSON; none of them
//! refers to the resolver's own types. Their JSON shape is the contract of
//! `/api/v1` and is described, field by field, in the generated OpenAPI
//! document (`/api/v1/openapi.json`) and in `docs/api.md`.
//!
//! Terms follow RFC 9499 (owner name, RRset, record type). Times are Unix
//! seconds (UTC), durations seconds. Limitation: domain names travel as
//! presentation-format strings; the API checks the names it receives itself
//! (`hanse_wire::Name`) but trusts the names the backend returns.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Whether the resolver can take traffic (`/healthz/ready`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// True when the listeners are bound and every configured feed is loaded.
    pub ready: bool,
    /// Why the resolver is not ready (empty when it is).
    pub reasons: Vec<String>,
    /// True while the resolver drains before shutting down (never ready then).
    pub draining: bool,
}

/// A count under a key: a transport, a domain name or a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyCount {
    /// The transport, name or client address.
    pub key: String,
    /// How many queries.
    pub count: u64,
}

/// Counters for the dashboard's overview and `GET /api/v1/stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Statistics {
    /// Queries answered since start-up.
    pub queries_total: u64,
    /// Queries by transport (`udp`, `tcp`, …).
    pub queries_by_transport: Vec<KeyCount>,
    /// Queries the policy filtered (blocked or rewritten).
    pub blocked_total: u64,
    /// Queries and UDP responses held back by the rate limits (dropped,
    /// refused or sent truncated).
    #[serde(default)]
    pub rate_limited_total: u64,
    /// Answers found in a cache.
    pub cache_hits: u64,
    /// Questions that needed resolution.
    pub cache_misses: u64,
    /// Entries in the caches now.
    pub cache_entries: u64,
    /// Bytes held by the caches now.
    pub cache_bytes: u64,
    /// Seconds since start-up.
    pub uptime_seconds: u64,
    /// Queries per second over the last minute, if the backend measures it.
    pub queries_per_second: Option<f64>,
    /// The most asked names (may be empty, such as when the query log is off).
    pub top_names: Vec<KeyCount>,
    /// The most blocked names (may be empty).
    pub top_blocked: Vec<KeyCount>,
    /// The most active clients (empty when the privacy level hides clients).
    pub top_clients: Vec<KeyCount>,
}

/// The kind of a cache entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheEntryKind {
    /// An RRset.
    Positive,
    /// The name does not exist (RFC 2308).
    Nxdomain,
    /// The name exists but has no records of this type (RFC 2308).
    Nodata,
    /// A resolution failure kept briefly (RFC 9520).
    Failure,
}

/// One entry of the resolver's caches (`GET /api/v1/cache`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CacheEntry {
    /// The owner name, in presentation format.
    pub name: String,
    /// The record type mnemonic (`A`, `TYPE65280`, …).
    pub record_type: String,
    /// Positive, negative or failure.
    pub kind: CacheEntryKind,
    /// Seconds until the entry expires.
    pub ttl_remaining: u32,
    /// The records' data in presentation format (empty for negative entries).
    pub records: Vec<String>,
    /// The RFC 2181 trust rank of the data, if the backend reports it.
    pub trust: Option<String>,
}

/// The result of a cache flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlushOutcome {
    /// How many entries were removed.
    pub removed: u64,
}

/// The state of one feed (`GET /api/v1/feeds`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeedState {
    /// The feed's configured name.
    pub name: String,
    /// `rpz`, `hosts`, `domains` or `adblock`.
    pub format: String,
    /// Where it comes from: a file path, a URL or `zone NAME from PRIMARIES`.
    pub source: String,
    /// The policy zone's SOA serial, for RPZ feeds.
    pub serial: Option<u32>,
    /// The version of a list (ETag, Last-Modified or a content hash).
    pub version: Option<String>,
    /// True when the last refresh failed and an older copy is in force.
    pub stale: bool,
    /// When the feed was last fetched or checked successfully (Unix seconds).
    pub last_success: Option<i64>,
    /// When its content last changed (Unix seconds).
    pub last_change: Option<i64>,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// Rules in force.
    pub rules: u64,
    /// Lines or records that could not be compiled and were skipped.
    pub skipped: u64,
    /// Where the copy in force came from: `file`, `fetched`, `saved copy`.
    pub copy_origin: Option<String>,
}

/// A profile's answer for blocked names: a mode or block-page addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BlockAnswer {
    /// `nxdomain`, `null` or `refused`.
    Mode(String),
    /// The addresses of a block page.
    Addresses(Vec<String>),
}

/// A time window of one feed in a profile (`[[policy.profile.schedule]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWindow {
    /// A feed of the profile.
    pub feed: String,
    /// `mon` … `sun` or ranges such as `mon-fri`; empty means every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Start, local `HH:MM`.
    pub from: String,
    /// End, local `HH:MM`.
    pub to: String,
}

/// A per-feed switch of a profile (`[[policy.profile.override]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedOverride {
    /// A feed of the profile.
    pub feed: String,
    /// Replaces the action of every rule of the feed, such as `nxdomain` or `cname:NAME`.
    #[serde(default)]
    pub action: Option<String>,
    /// `false` skips the feed for this profile.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Whether the feed's hits are logged.
    #[serde(default = "default_true")]
    pub log: bool,
    /// `blocked`, `censored` or `filtered`.
    #[serde(default)]
    pub ede: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

/// A filtering profile, shaped like `[[policy.profile]]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileDocument {
    /// 1 to 63 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// Feed names in precedence order.
    #[serde(default)]
    pub feeds: Vec<String>,
    /// The answer for blocked names; the backend's default when absent.
    #[serde(default)]
    pub block_answer: Option<BlockAnswer>,
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
    pub schedule: Vec<ScheduleWindow>,
    /// Per-feed switches (`override` in the configuration file).
    #[serde(default, rename = "override")]
    pub overrides: Vec<FeedOverride>,
}

/// A client network mapped to a profile (`[[policy.client]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientMapping {
    /// The network, `ADDRESS/LENGTH`, such as `10.1.0.0/16` or `2001:db8::/48`.
    pub cidr: String,
    /// A configured profile.
    pub profile: String,
}

/// Why the policy answers a question the way it does (`GET /api/v1/explain`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExplanationDocument {
    /// The name asked.
    pub name: String,
    /// The record type asked.
    pub record_type: String,
    /// The client the explanation is for, if one was given.
    pub client: Option<String>,
    /// The profile that applies.
    pub profile: String,
    /// `allowed`, `blocked`, `rewritten` or `passthru`.
    pub verdict: String,
    /// The action taken, such as `nxdomain` or `cname:walled.example.`.
    pub action: Option<String>,
    /// The feed whose rule matched.
    pub feed: Option<String>,
    /// The rule that matched, as written in the feed.
    pub rule: Option<String>,
    /// The feed's serial when the rule matched (RPZ feeds).
    pub serial: Option<u32>,
    /// The Extended DNS Error code (RFC 8914) of the answer.
    pub extended_error: Option<u16>,
    /// The steps of the decision, in order, for people.
    pub steps: Vec<String>,
}

/// How a query-log search matches names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NameMatch {
    /// The text occurs anywhere in the name.
    #[default]
    Substring,
    /// The name is the text or below it.
    Suffix,
}

/// The most entries one query-log search returns.
pub const QUERY_LOG_LIMIT_MAX: u32 = 1000;

/// A query-log search, as parsed from `GET /api/v1/querylog`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueryLogFilter {
    /// Only this client.
    #[schema(value_type = Option<String>)]
    pub client: Option<std::net::IpAddr>,
    /// Only names matching this text (lower case).
    pub name: Option<String>,
    /// How `name` matches.
    pub name_match: NameMatch,
    /// Only entries at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only entries before this time (Unix seconds).
    pub until: Option<i64>,
    /// Only filtered queries.
    pub blocked_only: bool,
    /// At most this many entries, 1 to 1000, newest first.
    pub limit: u32,
    /// Only entries with an id below this one (the cursor of the next page).
    pub before_id: Option<u64>,
}

/// The query-string form of a query-log search.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueryLogParameters {
    /// Only this client address.
    pub client: Option<String>,
    /// Only names matching this text.
    pub name: Option<String>,
    /// `substring` (default) or `suffix`.
    #[param(inline)]
    pub name_match: Option<NameMatch>,
    /// Only entries at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only entries before this time (Unix seconds).
    pub until: Option<i64>,
    /// Only filtered queries.
    pub blocked_only: Option<bool>,
    /// At most this many entries, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only entries with an id below this one.
    pub before_id: Option<u64>,
}

/// One logged query, or identical queries of one flush interval of the
/// log gathered into one entry (`count`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueryLogEntry {
    /// Increasing id; the cursor for paging.
    pub id: u64,
    /// When the (first) query arrived (Unix seconds).
    pub time: i64,
    /// How many identical queries the entry stands for (at least 1).
    #[serde(default = "one")]
    pub count: u64,
    /// The client address, its pseudonym, or nothing (by privacy level).
    pub client: Option<String>,
    /// The name asked.
    pub name: String,
    /// The record type asked.
    pub record_type: String,
    /// The response code sent, such as `NOERROR`.
    pub rcode: String,
    /// Whether the policy filtered the answer.
    pub blocked: bool,
    /// The client's profile.
    pub profile: Option<String>,
    /// The feed whose rule applied.
    pub feed: Option<String>,
    /// What was done: the policy action (`nxdomain`, `drop`, ...) or the
    /// abuse limit that refused, dropped or truncated the query
    /// (`rate_limited`, `rrl_slip`, `rrl_drop`, `overload`).
    pub action: Option<String>,
    /// `udp`, `tcp`, …
    pub transport: String,
    /// How long the answer took, in milliseconds (the longest of the
    /// entry's queries).
    pub duration_ms: Option<f64>,
}

/// The count of an entry that does not say it: one query.
fn one() -> u64 {
    1
}

/// The result of erasing one client's query-log entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EraseOutcome {
    /// How many queries were erased (an entry of gathered queries counts
    /// each of them).
    pub erased: u64,
}

/// One setting in force, shown read-only on the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Setting {
    /// The configuration section, such as `server` or `cache`.
    pub section: String,
    /// The key.
    pub key: String,
    /// The value in force, as text.
    pub value: String,
}

/// A problem with one field of a request, or of the configuration it would make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    /// The field, such as `cidr` or `feeds[2]`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error response (RFC 9457 problem details).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemDocument {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// The fields at fault, for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// The longest lifetime of a negative trust anchor added through the API:
/// 7 days (RFC 7646 §6 asks that they expire).
pub const NEGATIVE_TRUST_ANCHOR_LIFETIME_MAX: u64 = 7 * 86_400;
/// The lifetime of a negative trust anchor added without `expires_in`: 1 day.
pub const NEGATIVE_TRUST_ANCHOR_LIFETIME_DEFAULT: u64 = 86_400;

/// A negative trust anchor (RFC 7646): the name and everything below it are
/// treated as insecure, so answers that fail validation there are served
/// without the AD bit instead of SERVFAIL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NegativeTrustAnchor {
    /// The name at the top of the subtree (presentation format, absolute).
    pub name: String,
    /// `config` (from `[dnssec] negative_trust_anchors`, changed only there)
    /// or `api` (added at run time; it expires and can be removed).
    pub source: String,
    /// When it expires (Unix seconds); absent for configured ones.
    pub expires: Option<i64>,
    /// Seconds until it expires; absent for configured ones.
    pub expires_in: Option<u64>,
}

/// The body of `POST /api/v1/dnssec/negative-trust-anchors`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NegativeTrustAnchorRequest {
    /// The name (presentation format; relative names are taken as absolute).
    pub name: String,
    /// Its lifetime in seconds, 1 to 604800 (7 days); 86400 (1 day) when absent.
    #[serde(default)]
    pub expires_in: Option<u64>,
}
