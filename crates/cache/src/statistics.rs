//! Counters of both caches and what the operator sees of them: hits, misses,
//! insertions, evictions, and the entries found by a look-up of one name.
//!
//! Counters are striped: each thread adds to one of [`STRIPES`] counters on
//! cache lines of their own, picked once per thread, so that workers looking
//! up the RRset cache at once do not write to one shared line. A snapshot
//! adds the stripes up. Evictions are counted by the maps' eviction hook
//! (a quick_cache `Lifecycle`).
//!
//! # Limitations
//! - Counts are read without a lock: a snapshot taken while other threads
//!   count may be a few increments behind, never ahead.
//! - Evictions include entries refused because they were heavier than a
//!   shard of the cache (quick_cache reports both through one hook).
//! - The answer cache does not count its own hits and misses: its caller
//!   (the server's per-worker counters) does, to keep the hot path free of
//!   shared writes.

use crate::trust::Trust;
use hanse_wire::{Class, Name, RType, Rcode, Record};
use quick_cache::Lifecycle;
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The number of stripes of a [`StripedCounter`].
const STRIPES: usize = 16;

/// One stripe, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A counter spread over [`STRIPES`] cache lines, summed when read. The
/// stripes live on the heap, so the caches that hold counters stay small.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: Box<[Stripe]>,
}

impl Default for StripedCounter {
    fn default() -> StripedCounter {
        StripedCounter {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

/// The next stripe handed to a thread that counts for the first time.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The stripe of this thread, `usize::MAX` until it is picked.
    static THREAD_STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The stripe of the calling thread, picked round-robin at its first count.
fn thread_stripe() -> usize {
    THREAD_STRIPE
        .try_with(|cell| {
            let stripe = cell.get();
            if stripe != usize::MAX {
                return stripe;
            }
            let stripe = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
            cell.set(stripe);
            stripe
        })
        .unwrap_or(0)
}

impl StripedCounter {
    /// Adds one.
    pub(crate) fn increment(&self) {
        if let Some(stripe) = self.stripes.get(thread_stripe()) {
            stripe.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sum of all stripes.
    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| stripe.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// The eviction hook of both maps: counts what the map evicts.
#[derive(Debug, Clone, Default)]
pub(crate) struct EvictionCounter {
    evictions: Arc<StripedCounter>,
}

impl EvictionCounter {
    /// The evictions so far.
    pub(crate) fn count(&self) -> u64 {
        self.evictions.sum()
    }
}

impl<Key, Value> Lifecycle<Key, Value> for EvictionCounter {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: Key, _value: Value) {
        self.evictions.increment();
    }
}

/// The counters of an [`crate::RrsetCache`] and its size, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RrsetCacheStatistics {
    /// Look-ups of a positive RRset that found a live one.
    pub hits: u64,
    /// Look-ups of a positive RRset that found none.
    pub misses: u64,
    /// Look-ups of a negative entry (NXDOMAIN or NODATA) that found one.
    pub negative_hits: u64,
    /// Look-ups of a remembered failure that found one.
    pub failure_hits: u64,
    /// Entries stored (RRsets, negative entries, failures).
    pub insertions: u64,
    /// Entries evicted to stay within the byte budget.
    pub evictions: u64,
    /// Entries removed by [`crate::RrsetCache::flush`].
    pub flushed: u64,
    /// Entries held now, expired ones not yet removed included.
    pub entries: u64,
    /// Estimated bytes held now.
    pub bytes: u64,
    /// The byte budget.
    pub capacity_bytes: u64,
}

/// The counters of an [`crate::AnswerCache`] and its size, at one moment.
/// Hits and misses are counted by the caller (see the module's limitations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerCacheStatistics {
    /// Answers stored.
    pub insertions: u64,
    /// Answers evicted to stay within the byte budget.
    pub evictions: u64,
    /// Answers removed by [`crate::AnswerCache::flush`].
    pub flushed: u64,
    /// Answers held now, expired ones not yet removed included.
    pub entries: u64,
    /// Estimated bytes held now.
    pub bytes: u64,
    /// The byte budget.
    pub capacity_bytes: u64,
}

/// What an entry of the RRset cache says about its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingKind {
    /// A positive RRset.
    Rrset,
    /// NODATA: the name has no RRset of the type (RFC 2308 §2.2).
    NoData,
    /// NXDOMAIN: the name does not exist (RFC 2308 §2.1); its type is 0.
    NxDomain,
    /// Resolving the name and type failed recently (RFC 9520).
    Failure,
}

impl ListingKind {
    /// The kind in lower case, for people and labels: `rrset`, `nodata`,
    /// `nxdomain`, `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingKind::Rrset => "rrset",
            ListingKind::NoData => "nodata",
            ListingKind::NxDomain => "nxdomain",
            ListingKind::Failure => "failure",
        }
    }
}

/// One entry of the RRset cache, as [`crate::RrsetCache::lookup`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrsetListing {
    /// The owner name, as first stored.
    pub name: Name,
    /// The type (0 for NXDOMAIN).
    pub rtype: RType,
    /// What the entry records.
    pub kind: ListingKind,
    /// The records, TTLs set to the time left: the RRset, or the SOA record
    /// of a negative entry; empty for a failure.
    pub records: Vec<Record>,
    /// Seconds left before the entry expires.
    pub ttl: u32,
    /// The credibility of an RRset (RFC 2181 §5.4.1); negative entries and
    /// failures rank lowest.
    pub trust: Trust,
}

/// One answer of the answer cache, as [`crate::AnswerCache::lookup`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerListing {
    /// The question name, lower-cased.
    pub name: Name,
    /// The question type.
    pub rtype: RType,
    /// The question class.
    pub class: Class,
    /// The query flags the answer is stored for: bit 0 EDNS, bit 1 DO,
    /// bit 2 CD, bit 3 RD (`hanse_wire::KeyFlags`).
    pub key_flags: u8,
    /// The response code of the answer.
    pub rcode: Rcode,
    /// The answer section, TTLs aged to now.
    pub answers: Vec<Record>,
    /// The authority section, TTLs aged to now.
    pub authorities: Vec<Record>,
    /// Seconds left before the answer expires.
    pub ttl: u32,
}

/// Whether the uncompressed wire name `candidate` is `target` (any case),
/// or, with `subtree`, also a name below it.
pub(crate) fn name_matches(candidate: &[u8], target: &[u8], subtree: bool) -> bool {
    if !subtree {
        return candidate.eq_ignore_ascii_case(target);
    }
    let mut offset = 0;
    // One label per round; a name has at most 128 labels.
    for _ in 0..=128 {
        let Some(rest) = candidate.get(offset..) else {
            return false;
        };
        if rest.len() < target.len() {
            return false;
        }
        if rest.len() == target.len() {
            return rest.eq_ignore_ascii_case(target);
        }
        match rest.first() {
            Some(&length) if length != 0 && length < 64 => offset += 1 + usize::from(length),
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        Name::from_ascii(text).unwrap().as_wire().to_vec()
    }

    #[test]
    fn names_match_exactly_or_by_subtree() {
        let target = wire("Example.com.");
        assert!(name_matches(&wire("example.COM."), &target, false));
        assert!(!name_matches(&wire("www.example.com."), &target, false));
        assert!(name_matches(&wire("www.example.com."), &target, true));
        assert!(name_matches(&wire("a.b.EXAMPLE.com."), &target, true));
        assert!(name_matches(&wire("example.com."), &target, true));
        // A suffix that is not on a label boundary does not count.
        assert!(!name_matches(&wire("notexample.com."), &target, true));
        assert!(!name_matches(&wire("com."), &target, true));
        // The root covers everything.
        assert!(name_matches(&wire("www.example.com."), &wire("."), true));
        // Malformed input is no match, and no panic.
        assert!(!name_matches(&[200, 1, 2], &target, true));
        assert!(!name_matches(&[], &target, true));
    }

    #[test]
    fn striped_counters_add_up_across_threads() {
        let counter = Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.increment();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.sum(), 4000);
    }
}
