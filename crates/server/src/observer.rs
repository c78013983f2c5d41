//! The query observer: a hook that hears of every query the service
//! answered or dropped, for the query log.
//!
//! The worker thread that handled the query calls
//! [`QueryObserver::observe`] once per query, after the response is composed
//! and before it is sent, with a borrowed [`QueryEvent`]. The observer copies
//! what it keeps and must not block (the query log queues). With no
//! observer configured ([`crate::Settings::observer`] `None`) the hot path
//! pays one predictable branch and reads no clock.
//!
//! Which messages make an event: every message with a readable header that
//! is a query (QR clear) and not a NOTIFY (RFC 1996): answered from the
//! cache, resolved, rewritten or dropped by the policy, refused by the access
//! list, answered with an error (FORMERR, NOTIMP, BADVERS), or dropped
//! because the worker was overloaded. Packets that are not queries make none.
//! A query that an abuse limit refused, dropped or truncated (the client's
//! query rate, response-rate limiting, overload shedding) says which in
//! [`QueryEvent::limit`]; over UDP the RRL verdict is taken before the
//! event, so the event describes what was sent.
//!
//! # Limitations
//! - The question name is the uncompressed wire form as the client spelled
//!   it ([`QueryEvent::qname_wire`]), not a `hanse_wire::Name`: making one
//!   on the hot path would allocate. It is empty, and the type 0, when the
//!   question could not be read.
//! - `elapsed` on the hot path starts once the header has been read and the
//!   settings loaded.
//! - With an observer, a query that needs a resolution keeps a copy of its
//!   message (for [`QueryEvent::query_message`], the dnstap export); cache
//!   hits lend theirs and copy nothing.

use crate::statistics::Transport;
use hanse_wire::{RType, Rcode};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// What the policy decided about a query, as `explain` would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyNote<'a> {
    /// The feed whose rule matched; empty for a safe-search rewrite.
    pub feed: &'a str,
    /// The action taken, one of [`crate::POLICY_ACTIONS`].
    pub action: &'a str,
    /// The rule: trigger kind, trigger in the feed's notation and line
    /// (`QNAME ads.example line 3`), or the search engine's host for a
    /// safe-search rewrite.
    pub rule: &'a str,
}

/// The abuse limit that refused, dropped or truncated a query
/// (docs/hardening.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbuseLimit {
    /// The client network was over its query rate: dropped or REFUSED.
    ClientRate,
    /// Response-rate limiting sent the response truncated (slip).
    ResponseSlip,
    /// Response-rate limiting dropped the response.
    ResponseDrop,
    /// No resolution slot was free: shed with SERVFAIL or dropped.
    Overload,
}

impl AbuseLimit {
    /// The name the query log stores in its action column: `rate_limited`,
    /// `rrl_slip`, `rrl_drop` or `overload`.
    pub fn as_str(self) -> &'static str {
        match self {
            AbuseLimit::ClientRate => "rate_limited",
            AbuseLimit::ResponseSlip => "rrl_slip",
            AbuseLimit::ResponseDrop => "rrl_drop",
            AbuseLimit::Overload => "overload",
        }
    }
}

/// One answered (or dropped) query, for the query log. Borrowed: the
/// observer copies what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryEvent<'a> {
    /// When the response was composed (or the query dropped).
    pub time: SystemTime,
    /// The client's address.
    pub client: IpAddr,
    /// The client's port.
    pub client_port: u16,
    /// Where the query came in.
    pub transport: Transport,
    /// The query as received (wire form); empty for a query that waited
    /// for a resolution when the observer was added by a reload meanwhile.
    pub query_message: &'a [u8],
    /// The response sent (wire form, before any TLS padding); empty when
    /// none was sent.
    pub response_message: &'a [u8],
    /// The question name in uncompressed wire form, as the client spelled
    /// it; empty if the question could not be read.
    pub qname_wire: &'a [u8],
    /// The question type; 0 if the question could not be read.
    pub qtype: RType,
    /// The response code of the answer sent; NOERROR when `dropped`.
    pub rcode: Rcode,
    /// Whether no answer was sent (policy DROP, rate limits, overload).
    pub dropped: bool,
    /// Whether the answer came from the answer cache on the hot path.
    pub from_cache: bool,
    /// Time from the query's arrival to its response.
    pub elapsed: Duration,
    /// The policy profile the client maps to, if a policy is configured.
    pub profile: Option<&'a str>,
    /// The policy rule that changed the answer, if any.
    pub policy: Option<PolicyNote<'a>>,
    /// The abuse limit that refused, dropped or truncated the query, if any.
    pub limit: Option<AbuseLimit>,
}

/// Hears of every query; see the module documentation.
pub trait QueryObserver: Send + Sync {
    /// Called on the worker thread once per query; must not block.
    fn observe(&self, event: &QueryEvent<'_>);
}
