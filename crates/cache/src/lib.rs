//! The caches of the Hanse resolver (RFC 1035 §7.4, RFC 2181 §5.4.1 and §8,
//! RFC 2308, RFC 9520).
//!
//! - [`RrsetCache`]: RRsets keyed by owner name and type, ranked by
//!   [`Trust`] (RFC 2181 §5.4.1), plus negative entries (NXDOMAIN and NODATA,
//!   RFC 2308) and resolution failures (SERVFAIL, RFC 2308 §7.1, RFC 9520).
//! - [`AnswerCache`]: complete wire responses keyed by the bytes of a
//!   [`hanse_wire::CacheKey`], served on the hot path without allocating.
//! - [`NsecIndex`]: validated NSEC records per zone in canonical order, to
//!   prove NXDOMAIN and NODATA from the cache (RFC 8198).
//! - Operators' views ([`statistics`](RrsetCacheStatistics)): counters and
//!   sizes of both caches, look-up of one name's entries, and flushing a
//!   name or a subtree from either cache.
//!
//! Both caches are `Send + Sync`, used through `&self`, and bounded in memory:
//! every entry is weighed by an estimate of the bytes it holds (heap data,
//! reference-count headers, allocator and hash-table overhead) and the
//! least useful entries are evicted (quick_cache's CLOCK-Pro policy) so that
//! the total weight stays at or below the configured number of bytes.
//!
//! Time: neither cache reads a clock. Every call takes `now`, seconds on a
//! monotonic clock of the caller's choice, and entries store absolute expiry
//! times on that clock.
//!
//! # Limitations
//! - The weight is an estimate, not a measurement of the allocator's use.
//! - An entry heavier than about 1/N of the budget (N = number of internal
//!   shards, four per CPU, at most 256) is not stored.
//! - No NXDOMAIN cut (RFC 8020) here. Serve-stale (RFC 8767) keeps expired
//!   RRsets for the resolver. For aggressive use of NSEC (RFC 8198) the
//!   [`NsecIndex`] holds validated NSEC records; NSEC3 is not indexed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod answer;
mod denial;
mod key;
mod memory;
mod rrset;
mod statistics;
mod trust;

pub use answer::{AnswerCache, StoredAnswer};
pub use denial::{AggressiveDenial, CachedNsec, NsecIndex, closest_encloser};
pub use rrset::{CacheConfig, CachedRrset, NEGATIVE_TTL_WITHOUT_SOA, NegativeEntry, RrsetCache};
pub use statistics::{
    AnswerCacheStatistics, AnswerListing, ListingKind, RrsetCacheStatistics, RrsetListing,
};
pub use trust::{Security, Trust, Validation};
