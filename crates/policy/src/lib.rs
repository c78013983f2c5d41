//! The filtering policy engine of Hanse: response policy zones
//! (draft-ietf-dnsop-dns-rpz-00, BIND 9 as the reference), hosts files,
//! domain lists and adblock-style lists compiled into one representation;
//! profiles with allowlists, safe search and time windows; clients mapped to
//! profiles; verdicts with Extended DNS Errors (RFC 8914); explanations.
//!
//! - [`Feed`]: one policy zone or list, from records ([`Feed::from_rpz`]) or
//!   text ([`Feed::from_hosts`], [`Feed::from_domains`],
//!   [`Feed::from_adblock`]), with incremental updates
//!   ([`Feed::apply_changes`]).
//! - [`PolicySet`]: profiles, client mappings and feeds, built once and then
//!   read concurrently; [`PolicySet::check_query`] and
//!   [`PolicySet::check_response`] give a [`Verdict`];
//!   [`synthesize`] turns it into an answer; [`PolicySet::explain`] says why.
//!
//! Architecture invariant: this crate knows no sockets, no files (it takes
//! text or records), no clock of its own (the caller passes the time), and
//! no JSON. Lookups on the query path allocate nothing. Nothing here panics
//! on input.
//!
//! The model, the precedence rules, the accepted formats, the EDE mapping and
//! the limitations are written down in `docs/policy.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod answer;
mod explain;
mod feed;
mod lists;
mod name_table;
mod policy;
mod prefix;
mod render;
mod safe_search;
mod schedule;

pub use answer::{Synthesis, synthesize};
pub use explain::{Decision, Explanation, FeedState};
pub use feed::{
    Feed, FeedCounts, FeedError, FeedFormat, LocalRecord, Location, PolicyAction, Problem,
    ProblemReason, Rule, Trigger, TriggerKind, encode_address,
};
pub use lists::LIST_TTL;
pub use name_table::PreparedName;
pub use policy::{
    Action, BlockAnswer, BuildError, ClientInfo, ClientRule, ClientSelector, EdeCode, FeedUse, Hit,
    PolicyOverride, PolicySet, ProfileId, ProfileSpec, ResponseFacts, SafeSearchRewrite,
    SelectionReason, Verdict,
};
pub use prefix::{Prefix, PrefixError};
pub use safe_search::{
    BING_SAFE_HOST, DUCKDUCKGO_SAFE_HOST, GOOGLE_SAFE_HOST, SafeSearch, SearchEngine,
    YOUTUBE_MODERATE_HOST, YOUTUBE_STRICT_HOST, YoutubeRestriction, safe_search_hosts,
};
pub use schedule::{LocalMoment, ScheduleError, TimeWindow, UnixTime, Weekdays};
