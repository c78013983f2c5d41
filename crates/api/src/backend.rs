//! The [`Backend`] trait: everything the API needs from the running resolver.
//!
//! The binary implements it over its server, caches, feed supply, policy,
//! configuration and query log; this crate only calls it. Every method takes
//! and returns plain data from [`crate::model`] and [`crate::metrics`], so
//! the API crate depends on no other Hanse crate but `hanse-wire` (for names
//! and record types, which the API checks before calling).
//!
//! Methods are synchronous. The API calls each one on tokio's blocking pool
//! of its own runtime, so a slow call (a query-log search on disk, a config
//! write) delays only that HTTP request, never a DNS worker. Writes that
//! change the configuration are expected to be validated by the backend and
//! saved atomically (temporary file, then rename); a refused write returns
//! [`BackendError::Invalid`] with the fields at fault and changes nothing.

use std::net::IpAddr;

use hanse_wire::{Name, RType};

use crate::metrics::MetricFamily;
use crate::model::{
    CacheEntry, ClientMapping, ExplanationDocument, FeedState, FieldProblem, NegativeTrustAnchor,
    ProfileDocument, QueryLogEntry, QueryLogFilter, Readiness, Setting, Statistics,
};

/// Why the backend could not do what a request asked. Each maps to an HTTP
/// status and an RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The named thing (feed, profile, client mapping) does not exist: 404.
    #[error("{0} not found")]
    NotFound(String),
    /// The thing to create exists already: 409.
    #[error("{0} exists already")]
    Exists(String),
    /// The request, or the configuration it would make, is not valid: 422
    /// with the fields at fault.
    #[error("the request is not valid")]
    Invalid(Vec<FieldProblem>),
    /// The query log is off, so there is nothing to search, export or erase: 409.
    #[error("query log is off")]
    QueryLogOff,
    /// The backend cannot serve this now (such as while draining): 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Something failed inside the backend (such as writing the
    /// configuration file): 500, with this text as the detail.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the API needs from the running resolver.
pub trait Backend: Send + Sync + 'static {
    /// The metric families for `/metrics`, rendered by
    /// [`crate::metrics::render`].
    fn metrics(&self) -> Vec<MetricFamily>;

    /// Whether the resolver can take traffic, and why not.
    fn readiness(&self) -> Readiness;

    /// Counters for the overview.
    fn statistics(&self) -> Statistics;

    /// The settings in force, for the dashboard's read-only settings page.
    /// Secrets (TSIG keys, API tokens) must not be included.
    fn settings(&self) -> Vec<Setting>;

    /// The cache entries of `name`, of one type or all types.
    fn cache_lookup(&self, name: &Name, rtype: Option<RType>) -> Vec<CacheEntry>;

    /// Removes the cache entries of `name` (and of every name below it when
    /// `subtree`); returns how many were removed.
    fn cache_flush(&self, name: &Name, subtree: bool) -> u64;

    /// The state of every configured feed, in configuration order.
    fn feeds(&self) -> Vec<FeedState>;

    /// Starts a refresh of the feed now (it runs in the background).
    fn refresh_feed(&self, name: &str) -> Result<(), BackendError>;

    /// The configured profiles.
    fn profiles(&self) -> Vec<ProfileDocument>;

    /// Adds a profile ([`BackendError::Exists`] if the name is taken).
    fn create_profile(&self, profile: ProfileDocument) -> Result<(), BackendError>;

    /// Replaces the profile `name` (the document's name equals `name`).
    fn update_profile(&self, name: &str, profile: ProfileDocument) -> Result<(), BackendError>;

    /// Removes the profile `name`; refused while a client mapping uses it.
    fn delete_profile(&self, name: &str) -> Result<(), BackendError>;

    /// The client mappings.
    fn clients(&self) -> Vec<ClientMapping>;

    /// Adds a client mapping ([`BackendError::Exists`] if the network is mapped).
    fn create_client(&self, mapping: ClientMapping) -> Result<(), BackendError>;

    /// Replaces the mapping of network `cidr` (the document's `cidr` equals it).
    fn update_client(&self, cidr: &str, mapping: ClientMapping) -> Result<(), BackendError>;

    /// Removes the mapping of network `cidr`.
    fn delete_client(&self, cidr: &str) -> Result<(), BackendError>;

    /// Why the policy answers `name`/`rtype` for `client` (the default
    /// profile when absent) at time `at` (Unix seconds; now when absent).
    fn explain(
        &self,
        name: &Name,
        rtype: RType,
        client: Option<IpAddr>,
        at: Option<i64>,
    ) -> Result<ExplanationDocument, BackendError>;

    /// Query-log entries matching `filter`, newest first, at most `filter.limit`.
    fn query_log_search(&self, filter: &QueryLogFilter)
    -> Result<Vec<QueryLogEntry>, BackendError>;

    /// Every query-log entry of one client (the right of access).
    fn query_log_export(&self, client: IpAddr) -> Result<Vec<QueryLogEntry>, BackendError>;

    /// Erases every query-log entry of one client; returns how many.
    fn query_log_erase(&self, client: IpAddr) -> Result<u64, BackendError>;

    /// Reads the configuration again and applies it (as SIGHUP does).
    fn reload(&self) -> Result<(), BackendError>;

    /// The negative trust anchors in force: configured ones first, then
    /// those added at run time that have not expired.
    fn negative_trust_anchors(&self) -> Vec<NegativeTrustAnchor>;

    /// Adds (or renews) a negative trust anchor for `lifetime_seconds`
    /// (already checked: 1 to 7 days); it applies at once, cached answers
    /// below the name are flushed, and it is kept until it expires, across
    /// restarts. Returns it as listed.
    fn add_negative_trust_anchor(
        &self,
        name: &Name,
        lifetime_seconds: u64,
    ) -> Result<NegativeTrustAnchor, BackendError>;

    /// Removes a negative trust anchor added at run time
    /// ([`BackendError::NotFound`] if there is none; a configured one is
    /// refused with [`BackendError::Invalid`]); cached answers below the
    /// name are flushed.
    fn remove_negative_trust_anchor(&self, name: &Name) -> Result<(), BackendError>;
}
