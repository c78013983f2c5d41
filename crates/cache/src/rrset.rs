//! The RRset cache: RRsets ranked by credibility (RFC 2181 §5.4.1), negative
//! answers (RFC 2308) and resolution failures (RFC 2308 §7.1, RFC 9520).
//!
//! One bounded concurrent map holds four kinds of entries, each keyed by the
//! lower-cased owner name and a type:
//! - positive RRsets, with the [`Trust`] of their source;
//! - NODATA entries for one name and type (RFC 2308 §2.2);
//! - NXDOMAIN entries for a name, which cover every type (RFC 2308 §2.1);
//! - failure entries for a name and type, kept for a few seconds.
//!
//! TTLs (RFC 2181 §5.2, §8; RFC 2308 §5): an RRset lives for the smallest
//! TTL of its records, where a TTL with the top bit set counts as zero,
//! clamped to `[min_ttl, max_ttl]`. A negative entry lives for the smaller of
//! the SOA record's TTL and its MINIMUM field, clamped to
//! `[min_ttl, negative_max_ttl]`. Whatever ends up at zero is not cached.
//!
//! # Limitations
//! - Duplicate records are recognised by identical record data; names inside
//!   record data that differ only in case count as different.
//! - A negative entry does not remove a cached positive RRset: the positive
//!   data stays valid for its own TTL, and the resolver is expected to look
//!   for positive data first.
//! - No NXDOMAIN cut (RFC 8020), no serve-stale (RFC 8767), no aggressive
//!   use of NSEC/NSEC3 (RFC 8198).
//! - `now` must not go backwards; if it does, remaining TTLs are capped at
//!   the stored TTL but entries live longer than they should.

use crate::key::{EntryKey, EntryKeyView, EntryKind};
use crate::memory::{ARC_HEADER, bounded_map, heap_block, table_slot, weight_of};
use crate::trust::Trust;
use hanse_wire::{Name, RType, Record};
use quick_cache::Weighter;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use std::sync::Arc;

/// The TTL of a negative entry stored without an SOA record (RFC 2308 §5
/// advises not to cache those at all; a short time still absorbs repeated
/// queries). Clamped to `[min_ttl, negative_max_ttl]` like any negative TTL.
pub const NEGATIVE_TTL_WITHOUT_SOA: u32 = 30;

/// A guess at the average entry, to size the map's table.
const TYPICAL_ENTRY_BYTES: usize = 256;

/// The limits of an [`RrsetCache`]. All times are in seconds.
///
/// If a minimum is above its maximum, the maximum wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most memory the cache may hold, as estimated by its weighing.
    pub max_bytes: usize,
    /// The shortest time any entry is kept (TTLs below are raised to it).
    pub min_ttl: u32,
    /// The longest time an RRset is kept (RFC 8767 §4 suggests 604800 at most).
    pub max_ttl: u32,
    /// The longest time a negative entry is kept (RFC 2308 §5: 1 to 3 hours).
    pub negative_max_ttl: u32,
    /// How long a resolution failure is remembered (RFC 9520 §3.2: at least
    /// 1 second, at most 5 minutes).
    pub servfail_ttl: u32,
}

impl Default for CacheConfig {
    /// 256 MiB, TTLs in [0, 86400], negative TTLs up to 3600, failures for 5 seconds.
    fn default() -> CacheConfig {
        CacheConfig {
            max_bytes: 256 << 20,
            min_ttl: 0,
            max_ttl: 86_400,
            negative_max_ttl: 3_600,
            servfail_ttl: 5,
        }
    }
}

/// An RRset found in the cache.
///
/// Invariants: `records` is not empty, its records share owner name (up to
/// case), type and class, no two have the same data, and each record's `ttl`
/// is the TTL the RRset was stored with (after clamping). `ttl` is the time
/// left, `0 < ttl <= records[i].ttl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRrset {
    /// The records, shared with the cache.
    pub records: Arc<[Record]>,
    /// Seconds left before the RRset expires; always above zero.
    pub ttl: u32,
    /// Where the RRset came from.
    pub trust: Trust,
}

/// A cached negative answer (RFC 2308).
///
/// Invariants: `ttl > 0` is the time left; `soa`, when present, is the SOA
/// record of the negative response with its `ttl` set to the negative TTL the
/// entry was stored with (RFC 2308 §3), so a response is built from `soa`
/// and `ttl` as for a positive RRset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeEntry {
    /// NXDOMAIN (the name does not exist) rather than NODATA (no RRset of the type).
    pub nxdomain: bool,
    /// The SOA record from the authority section, if there was one.
    pub soa: Option<Record>,
    /// Seconds left before the entry expires; always above zero.
    pub ttl: u32,
}

/// What an entry holds.
#[derive(Clone)]
enum EntryData {
    Rrset {
        records: Arc<[Record]>,
        trust: Trust,
    },
    Negative {
        soa: Option<Arc<Record>>,
    },
    Failure,
}

/// A value in the map: data, when it expires, and its precomputed weight.
#[derive(Clone)]
struct EntryValue {
    /// Absolute expiry, in the caller's seconds.
    expires_at: u32,
    /// The TTL the entry was stored with, which caps the time left.
    ttl: u32,
    /// Estimated bytes, key included.
    weight: u64,
    data: EntryData,
}

impl EntryValue {
    fn new(key: &EntryKey, now: u32, ttl: u32, data: EntryData) -> EntryValue {
        let data_bytes = match &data {
            EntryData::Rrset { records, .. } => {
                heap_block(ARC_HEADER + size_of_val::<[Record]>(&records[..]))
                    + records.iter().map(record_heap_bytes).sum::<usize>()
            }
            EntryData::Negative { soa: Some(soa) } => {
                heap_block(ARC_HEADER + size_of::<Record>()) + record_heap_bytes(soa)
            }
            EntryData::Negative { soa: None } | EntryData::Failure => 0,
        };
        let bytes =
            table_slot::<EntryKey, EntryValue>() + heap_block(key.name_length()) + data_bytes;
        EntryValue {
            expires_at: now.saturating_add(ttl),
            ttl,
            weight: weight_of(bytes),
            data,
        }
    }

    /// The seconds left at `now`, or `None` once expired.
    fn remaining(&self, now: u32) -> Option<u32> {
        let left = self.expires_at.checked_sub(now).filter(|&left| left > 0)?;
        Some(left.min(self.ttl))
    }
}

/// The heap bytes a record owns outside its own struct.
fn record_heap_bytes(record: &Record) -> usize {
    heap_block(record.name.as_wire().len()) + heap_block(record.data.len())
}

/// Weighs entries by their precomputed estimate.
#[derive(Clone)]
struct EntryWeighter;

impl Weighter<EntryKey, EntryValue> for EntryWeighter {
    fn weight(&self, _key: &EntryKey, value: &EntryValue) -> u64 {
        value.weight
    }
}

/// Drops records whose data repeats an earlier record's, keeping the order.
/// Sorts instead of comparing all pairs, so large RRsets stay cheap.
fn without_duplicates(records: Vec<&Record>) -> Vec<&Record> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_unstable_by(|&left, &right| {
        records[left]
            .data
            .cmp(&records[right].data)
            .then(left.cmp(&right))
    });
    let mut repeated = vec![false; records.len()];
    for pair in order.windows(2) {
        if records[pair[0]].data == records[pair[1]].data {
            repeated[pair[1]] = true;
        }
    }
    records
        .into_iter()
        .zip(repeated)
        .filter(|(_, repeated)| !repeated)
        .map(|(record, _)| record)
        .collect()
}

/// A TTL as received: RFC 2181 §8 says to read a TTL with the top bit set as zero.
fn received_ttl(ttl: u32) -> u32 {
    if ttl > i32::MAX as u32 { 0 } else { ttl }
}

/// Clamps without panicking when `minimum > maximum` (the maximum wins).
fn clamp_ttl(ttl: u32, minimum: u32, maximum: u32) -> u32 {
    ttl.max(minimum).min(maximum)
}

/// The shared cache of RRsets, negative answers and failures.
///
/// `Send + Sync`: share it by reference or `Arc`. Invariants: every entry
/// has an absolute expiry and is never returned at or after it; a live
/// RRset is only replaced by data of equal or higher [`Trust`]; the total
/// estimated weight stays at or below [`CacheConfig::max_bytes`].
pub struct RrsetCache {
    config: CacheConfig,
    entries: Cache<EntryKey, EntryValue, EntryWeighter>,
}

impl std::fmt::Debug for RrsetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RrsetCache")
            .field("config", &self.config)
            .field("len", &self.len())
            .field("weight", &self.weight())
            .finish()
    }
}

impl RrsetCache {
    /// An empty cache with the given limits.
    pub fn new(config: CacheConfig) -> RrsetCache {
        RrsetCache {
            config,
            entries: bounded_map(config.max_bytes, TYPICAL_ENTRY_BYTES, EntryWeighter),
        }
    }

    /// The limits the cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Stores `records` as one RRset with the credibility `trust`.
    ///
    /// The RRset is the first record's owner name, type and class; records
    /// that differ from it are ignored, and records with the same data are
    /// kept once. Its TTL is the smallest TTL (RFC 2181 §5.2), clamped to
    /// `[min_ttl, max_ttl]`, and is written into every stored record.
    ///
    /// A live cached RRset is replaced only by data of equal or higher trust
    /// (RFC 2181 §5.4.1); an expired one always is. Returns whether the RRset
    /// is now in the cache: `false` for an empty slice, a meta type (OPT, ANY,
    /// ...), a TTL of zero, data less trusted than the cached RRset, or an
    /// RRset too large for the cache.
    ///
    /// From trust [`Trust::AnswerNonAuthoritative`] up, storing an RRset also
    /// removes the NXDOMAIN entry of its name and the NODATA and failure
    /// entries of its name and type: the data proves them wrong.
    pub fn insert(&self, records: &[Record], trust: Trust, now: u32) -> bool {
        let Some(first) = records.first() else {
            return false;
        };
        if first.rtype.is_meta() {
            return false;
        }
        let members: Vec<&Record> = records
            .iter()
            .filter(|record| {
                record.rtype == first.rtype
                    && record.class == first.class
                    && record.name == first.name
            })
            .collect();
        let members = without_duplicates(members);
        let smallest = members
            .iter()
            .map(|record| received_ttl(record.ttl))
            .min()
            .unwrap_or(0);
        let ttl = clamp_ttl(smallest, self.config.min_ttl, self.config.max_ttl);
        if ttl == 0 {
            return false;
        }
        let stored: Arc<[Record]> = members
            .iter()
            .map(|record| Record {
                name: record.name.clone(),
                rtype: record.rtype,
                class: record.class,
                ttl,
                data: record.data.clone(),
            })
            .collect();

        if trust >= Trust::AnswerNonAuthoritative {
            self.remove_kind(&first.name, RType(0), EntryKind::NameError);
            self.remove_kind(&first.name, first.rtype, EntryKind::NoData);
            self.remove_kind(&first.name, first.rtype, EntryKind::Failure);
        }

        let key = EntryKey::new(&first.name, first.rtype, EntryKind::Rrset);
        let value = EntryValue::new(
            &key,
            now,
            ttl,
            EntryData::Rrset {
                records: stored,
                trust,
            },
        );
        let admitted = match self
            .entries
            .entry(&key, None, |_, cached: &mut EntryValue| {
                let outranks = match &cached.data {
                    EntryData::Rrset {
                        trust: cached_trust,
                        ..
                    } => *cached_trust > trust,
                    EntryData::Negative { .. } | EntryData::Failure => false,
                };
                if outranks && cached.remaining(now).is_some() {
                    EntryAction::Retain(())
                } else {
                    EntryAction::ReplaceWithGuard
                }
            }) {
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                guard.insert(value).is_ok()
            }
            EntryResult::Retained(()) | EntryResult::Removed(..) | EntryResult::Timeout => false,
        };
        // The map silently drops an entry too heavy for its shard.
        admitted
            && self.entries.contains_key(&EntryKeyView::new(
                &first.name,
                first.rtype,
                EntryKind::Rrset,
            ))
    }

    /// The live RRset of `name` and `rtype`, if cached. Expired entries are
    /// removed on the way.
    pub fn get(&self, name: &Name, rtype: RType, now: u32) -> Option<CachedRrset> {
        let value = self.get_live(name, rtype, EntryKind::Rrset, now)?;
        let ttl = value.remaining(now)?;
        match value.data {
            EntryData::Rrset { records, trust } => Some(CachedRrset {
                records,
                ttl,
                trust,
            }),
            EntryData::Negative { .. } | EntryData::Failure => None,
        }
    }

    /// Records a negative answer (RFC 2308).
    ///
    /// `rcode_nxdomain` stores NXDOMAIN for `name`, which then answers for
    /// every type; `rtype` is not needed for it. Otherwise `rtype` is the type
    /// with no data (NODATA); a NODATA answer without a type is ignored.
    ///
    /// The TTL is the smaller of `soa`'s TTL and its MINIMUM field (RFC 2308
    /// §5), clamped to `[min_ttl, negative_max_ttl]`; without a usable SOA
    /// record it is [`NEGATIVE_TTL_WITHOUT_SOA`], clamped the same way.
    /// The stored SOA record gets that TTL. A TTL of zero stores nothing.
    pub fn insert_negative(
        &self,
        name: &Name,
        rtype: Option<RType>,
        soa: Option<Record>,
        rcode_nxdomain: bool,
        now: u32,
    ) {
        let (rtype, kind) = match (rcode_nxdomain, rtype) {
            (true, _) => (RType(0), EntryKind::NameError),
            (false, Some(rtype)) => (rtype, EntryKind::NoData),
            (false, None) => return,
        };
        let soa = soa.filter(|record| record.rtype == RType::SOA);
        let unclamped = match soa
            .as_ref()
            .and_then(|record| Some((record, record.soa_minimum()?)))
        {
            Some((record, minimum)) => received_ttl(record.ttl).min(received_ttl(minimum)),
            None => NEGATIVE_TTL_WITHOUT_SOA,
        };
        let ttl = clamp_ttl(unclamped, self.config.min_ttl, self.config.negative_max_ttl);
        if ttl == 0 {
            return;
        }
        let soa = soa.map(|record| Arc::new(Record { ttl, ..record }));
        let key = EntryKey::new(name, rtype, kind);
        let value = EntryValue::new(&key, now, ttl, EntryData::Negative { soa });
        self.entries.insert(key, value);
    }

    /// The live negative entry for `name` and `rtype`: NXDOMAIN for the name,
    /// whatever `rtype` is, or else NODATA for the type.
    pub fn get_negative(&self, name: &Name, rtype: RType, now: u32) -> Option<NegativeEntry> {
        let (value, nxdomain) = match self.get_live(name, RType(0), EntryKind::NameError, now) {
            Some(value) => (value, true),
            None => (self.get_live(name, rtype, EntryKind::NoData, now)?, false),
        };
        let ttl = value.remaining(now)?;
        match value.data {
            EntryData::Negative { soa } => Some(NegativeEntry {
                nxdomain,
                soa: soa.as_deref().cloned(),
                ttl,
            }),
            EntryData::Rrset { .. } | EntryData::Failure => None,
        }
    }

    /// Remembers that resolving `name` and `rtype` failed, for
    /// `servfail_ttl` seconds (RFC 2308 §7.1, RFC 9520). A `servfail_ttl` of
    /// zero disables this.
    pub fn insert_failure(&self, name: &Name, rtype: RType, now: u32) {
        let ttl = self.config.servfail_ttl;
        if ttl == 0 {
            return;
        }
        let key = EntryKey::new(name, rtype, EntryKind::Failure);
        let value = EntryValue::new(&key, now, ttl, EntryData::Failure);
        self.entries.insert(key, value);
    }

    /// Whether resolving `name` and `rtype` failed less than `servfail_ttl`
    /// seconds ago.
    pub fn get_failure(&self, name: &Name, rtype: RType, now: u32) -> bool {
        self.get_live(name, rtype, EntryKind::Failure, now)
            .is_some()
    }

    /// Forgets the RRset, the NODATA entry and the failure entry of `name`
    /// and `rtype`. An NXDOMAIN entry of the name stays.
    pub fn remove(&self, name: &Name, rtype: RType) {
        for kind in [EntryKind::Rrset, EntryKind::NoData, EntryKind::Failure] {
            self.remove_kind(name, rtype, kind);
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// The number of entries of all kinds, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The estimated bytes held, at most [`CacheConfig::max_bytes`].
    pub fn weight(&self) -> u64 {
        self.entries.weight()
    }

    /// The entry of `kind` for `name` and `rtype` if it is live at `now`;
    /// removes it if it has expired.
    fn get_live(&self, name: &Name, rtype: RType, kind: EntryKind, now: u32) -> Option<EntryValue> {
        let view = EntryKeyView::new(name, rtype, kind);
        let value = self.entries.get(&view)?;
        if value.remaining(now).is_some() {
            return Some(value);
        }
        drop(value);
        self.entries
            .remove_if(&view, |value| value.remaining(now).is_none());
        None
    }

    fn remove_kind(&self, name: &Name, rtype: RType, kind: EntryKind) {
        self.entries.remove(&EntryKeyView::new(name, rtype, kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Class;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn a_record(owner: &str, ttl: u32, last_octet: u8) -> Record {
        Record {
            name: name(owner),
            rtype: RType::A,
            class: Class::IN,
            ttl,
            data: vec![192, 0, 2, last_octet].into(),
        }
    }

    fn soa_record(owner: &str, ttl: u32, minimum: u32) -> Record {
        let mut data = Vec::new();
        data.extend_from_slice(name("ns.example.").as_wire());
        data.extend_from_slice(name("hostmaster.example.").as_wire());
        for field in [20_240_101, 7200, 3600, 1_209_600, minimum] {
            data.extend_from_slice(&u32::to_be_bytes(field));
        }
        Record {
            name: name(owner),
            rtype: RType::SOA,
            class: Class::IN,
            ttl,
            data: data.into(),
        }
    }

    fn cache() -> RrsetCache {
        RrsetCache::new(CacheConfig {
            max_bytes: 1 << 20,
            ..CacheConfig::default()
        })
    }

    #[test]
    fn stores_and_finds_an_rrset_in_any_case() {
        let cache = cache();
        let records = [
            a_record("www.example.", 300, 1),
            a_record("www.example.", 200, 2),
        ];
        assert!(cache.insert(&records, Trust::AnswerAuthoritative, 1000));
        let found = cache.get(&name("WWW.Example."), RType::A, 1000).unwrap();
        assert_eq!(found.records.len(), 2);
        assert_eq!(found.ttl, 200);
        assert_eq!(found.trust, Trust::AnswerAuthoritative);
        assert!(found.records.iter().all(|record| record.ttl == 200));
        assert!(
            cache
                .get(&name("www.example."), RType::AAAA, 1000)
                .is_none()
        );
        assert_eq!(cache.len(), 1);
        assert!(cache.weight() > 0);
    }

    #[test]
    fn keeps_duplicates_once_and_ignores_foreign_records() {
        let cache = cache();
        let mut other_type = a_record("www.example.", 300, 9);
        other_type.rtype = RType::AAAA;
        let records = [
            a_record("www.example.", 300, 1),
            a_record("www.example.", 300, 1),
            a_record("mail.example.", 300, 2),
            other_type,
            a_record("www.example.", 300, 3),
            a_record("WWW.example.", 300, 3),
        ];
        assert!(cache.insert(&records, Trust::AnswerAuthoritative, 0));
        let found = cache.get(&name("www.example."), RType::A, 0).unwrap();
        let data: Vec<&[u8]> = found.records.iter().map(|record| &*record.data).collect();
        assert_eq!(data, [&[192, 0, 2, 1][..], &[192, 0, 2, 3][..]]);
        assert!(cache.get(&name("mail.example."), RType::A, 0).is_none());
    }

    #[test]
    fn replacement_follows_trust_ranking() {
        let cache = cache();
        let owner = name("ns1.example.");
        let glue = [a_record("ns1.example.", 3600, 1)];
        let answer = [a_record("ns1.example.", 300, 2)];
        let later_glue = [a_record("ns1.example.", 3600, 3)];

        assert!(cache.insert(&glue, Trust::Additional, 0));
        // Higher trust replaces lower trust.
        assert!(cache.insert(&answer, Trust::AnswerAuthoritative, 10));
        // Lower trust does not replace a live higher-trust RRset.
        assert!(!cache.insert(&later_glue, Trust::Additional, 20));
        let found = cache.get(&owner, RType::A, 20).unwrap();
        assert_eq!(found.trust, Trust::AnswerAuthoritative);
        assert_eq!(&*found.records[0].data, &[192, 0, 2, 2]);
        // Equal trust replaces.
        assert!(cache.insert(
            &[a_record("ns1.example.", 300, 4)],
            Trust::AnswerAuthoritative,
            30
        ));
        assert_eq!(
            &*cache.get(&owner, RType::A, 30).unwrap().records[0].data,
            &[192, 0, 2, 4]
        );
        // Once expired, anything replaces.
        assert!(cache.get(&owner, RType::A, 330).is_none());
        assert!(cache.insert(&later_glue, Trust::Additional, 330));
        assert_eq!(
            cache.get(&owner, RType::A, 330).unwrap().trust,
            Trust::Additional
        );
    }

    #[test]
    fn ttls_are_clamped_and_entries_expire() {
        let cache = RrsetCache::new(CacheConfig {
            min_ttl: 60,
            max_ttl: 600,
            ..CacheConfig::default()
        });
        assert!(cache.insert(
            &[a_record("low.example.", 5, 1)],
            Trust::AnswerAuthoritative,
            100
        ));
        assert!(cache.insert(
            &[a_record("high.example.", 86_400, 1)],
            Trust::AnswerAuthoritative,
            100
        ));
        // A TTL with the top bit set counts as zero (RFC 2181 §8), then is raised to min_ttl.
        assert!(cache.insert(
            &[a_record("odd.example.", 0x8000_0000, 1)],
            Trust::AnswerAuthoritative,
            100
        ));
        let low = cache.get(&name("low.example."), RType::A, 100).unwrap();
        assert_eq!((low.ttl, low.records[0].ttl), (60, 60));
        let high = cache.get(&name("high.example."), RType::A, 100).unwrap();
        assert_eq!((high.ttl, high.records[0].ttl), (600, 600));
        assert_eq!(
            cache.get(&name("odd.example."), RType::A, 100).unwrap().ttl,
            60
        );

        assert_eq!(
            cache.get(&name("low.example."), RType::A, 159).unwrap().ttl,
            1
        );
        assert!(cache.get(&name("low.example."), RType::A, 160).is_none());
        assert_eq!(
            cache
                .get(&name("high.example."), RType::A, 160)
                .unwrap()
                .ttl,
            540
        );
        assert!(cache.get(&name("high.example."), RType::A, 700).is_none());
    }

    #[test]
    fn refuses_what_cannot_be_cached() {
        let cache = cache();
        assert!(!cache.insert(&[], Trust::AnswerAuthoritative, 0));
        assert!(!cache.insert(
            &[a_record("zero.example.", 0, 1)],
            Trust::AnswerAuthoritative,
            0
        ));
        let mut opt = a_record("zero.example.", 300, 1);
        opt.rtype = RType::OPT;
        assert!(!cache.insert(&[opt], Trust::AnswerAuthoritative, 0));
        assert!(cache.is_empty());
        // A minimum above the maximum does not panic: the maximum wins.
        let odd = RrsetCache::new(CacheConfig {
            min_ttl: 900,
            max_ttl: 100,
            ..CacheConfig::default()
        });
        assert!(odd.insert(
            &[a_record("x.example.", 5, 1)],
            Trust::AnswerAuthoritative,
            0
        ));
        assert_eq!(odd.get(&name("x.example."), RType::A, 0).unwrap().ttl, 100);
        // An RRset heavier than the cache's budget is reported as not stored.
        let tiny = RrsetCache::new(CacheConfig {
            max_bytes: 4096,
            ..CacheConfig::default()
        });
        let large: Vec<Record> = (0..=255)
            .map(|octet| a_record("big.example.", 300, octet))
            .collect();
        assert!(!tiny.insert(&large, Trust::AnswerAuthoritative, 0));
        assert!(tiny.get(&name("big.example."), RType::A, 0).is_none());
        assert!(tiny.insert(&large[..1], Trust::AnswerAuthoritative, 0));
        assert!(tiny.weight() <= 4096);
    }

    #[test]
    fn negative_ttl_comes_from_the_soa_minimum() {
        let cache = cache();
        let owner = name("missing.example.");
        // MINIMUM below the SOA TTL.
        cache.insert_negative(
            &owner,
            Some(RType::AAAA),
            Some(soa_record("example.", 3600, 120)),
            false,
            0,
        );
        let entry = cache.get_negative(&owner, RType::AAAA, 0).unwrap();
        assert!(!entry.nxdomain);
        assert_eq!(entry.ttl, 120);
        assert_eq!(entry.soa.as_ref().map(|soa| soa.ttl), Some(120));
        assert_eq!(
            cache.get_negative(&owner, RType::AAAA, 100).unwrap().ttl,
            20
        );
        assert!(cache.get_negative(&owner, RType::AAAA, 120).is_none());
        // SOA TTL below MINIMUM.
        cache.insert_negative(
            &owner,
            Some(RType::MX),
            Some(soa_record("example.", 30, 900)),
            false,
            0,
        );
        assert_eq!(cache.get_negative(&owner, RType::MX, 0).unwrap().ttl, 30);
        // Clamped to negative_max_ttl.
        cache.insert_negative(
            &owner,
            Some(RType::TXT),
            Some(soa_record("example.", 86_400, 86_400)),
            false,
            0,
        );
        assert_eq!(cache.get_negative(&owner, RType::TXT, 0).unwrap().ttl, 3600);
        // Without an SOA record.
        cache.insert_negative(&owner, Some(RType::SRV), None, false, 0);
        let entry = cache.get_negative(&owner, RType::SRV, 0).unwrap();
        assert_eq!((entry.ttl, entry.soa), (NEGATIVE_TTL_WITHOUT_SOA, None));
        // NODATA covers only its type; NODATA without a type is ignored.
        assert!(cache.get_negative(&owner, RType::A, 0).is_none());
        cache.insert_negative(&name("other.example."), None, None, false, 0);
        assert!(
            cache
                .get_negative(&name("other.example."), RType::A, 0)
                .is_none()
        );
        // A zero TTL stores nothing.
        cache.insert_negative(
            &owner,
            Some(RType::NS),
            Some(soa_record("example.", 0, 300)),
            false,
            0,
        );
        assert!(cache.get_negative(&owner, RType::NS, 0).is_none());
    }

    #[test]
    fn nxdomain_covers_every_type() {
        let cache = cache();
        let owner = name("nowhere.example.");
        cache.insert_negative(
            &owner,
            None,
            Some(soa_record("example.", 600, 300)),
            true,
            0,
        );
        for rtype in [RType::A, RType::AAAA, RType::MX, RType(65_000)] {
            let entry = cache
                .get_negative(&name("NOWHERE.example."), rtype, 10)
                .unwrap();
            assert!(entry.nxdomain);
            assert_eq!(entry.ttl, 290);
        }
        assert!(
            cache
                .get_negative(&name("elsewhere.example."), RType::A, 10)
                .is_none()
        );
        // A type given with NXDOMAIN still covers the name.
        cache.insert_negative(&name("gone.example."), Some(RType::A), None, true, 0);
        assert!(
            cache
                .get_negative(&name("gone.example."), RType::TXT, 0)
                .unwrap()
                .nxdomain
        );
    }

    #[test]
    fn positive_data_clears_negative_entries() {
        let cache = cache();
        let owner = name("www.example.");
        let soa = soa_record("example.", 600, 600);
        cache.insert_negative(&owner, None, Some(soa.clone()), true, 0);
        cache.insert_negative(&owner, Some(RType::A), Some(soa.clone()), false, 0);
        cache.insert_failure(&owner, RType::A, 0);
        // Glue does not disprove an authoritative negative answer.
        assert!(cache.insert(&[a_record("www.example.", 300, 1)], Trust::Additional, 1));
        assert!(cache.get_negative(&owner, RType::A, 1).is_some());
        // An answer does.
        assert!(cache.insert(
            &[a_record("www.example.", 300, 1)],
            Trust::AnswerNonAuthoritative,
            2
        ));
        assert!(cache.get_negative(&owner, RType::A, 2).is_none());
        assert!(cache.get_negative(&owner, RType::MX, 2).is_none());
        assert!(!cache.get_failure(&owner, RType::A, 2));

        // NODATA of one type is cleared by data of that type only.
        cache.insert_negative(&owner, Some(RType::MX), Some(soa.clone()), false, 3);
        cache.insert_negative(&owner, Some(RType::AAAA), Some(soa), false, 3);
        let mut aaaa = a_record("www.example.", 300, 1);
        aaaa.rtype = RType::AAAA;
        aaaa.data = vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1].into();
        assert!(cache.insert(&[aaaa], Trust::AnswerAuthoritative, 4));
        assert!(cache.get_negative(&owner, RType::AAAA, 4).is_none());
        assert!(cache.get_negative(&owner, RType::MX, 4).is_some());
    }

    #[test]
    fn failures_are_remembered_briefly() {
        let cache = cache();
        let owner = name("broken.example.");
        assert!(!cache.get_failure(&owner, RType::A, 0));
        cache.insert_failure(&owner, RType::A, 100);
        assert!(cache.get_failure(&name("BROKEN.example."), RType::A, 104));
        assert!(!cache.get_failure(&owner, RType::AAAA, 104));
        assert!(!cache.get_failure(&owner, RType::A, 105));
        let silent = RrsetCache::new(CacheConfig {
            servfail_ttl: 0,
            ..CacheConfig::default()
        });
        silent.insert_failure(&owner, RType::A, 0);
        assert!(!silent.get_failure(&owner, RType::A, 0));
    }

    #[test]
    fn remove_and_clear_forget_entries() {
        let cache = cache();
        let owner = name("www.example.");
        assert!(cache.insert(
            &[a_record("www.example.", 300, 1)],
            Trust::AnswerAuthoritative,
            0
        ));
        cache.insert_failure(&owner, RType::A, 0);
        cache.insert_negative(&owner, None, None, true, 0);
        cache.remove(&name("WWW.EXAMPLE."), RType::A);
        assert!(cache.get(&owner, RType::A, 0).is_none());
        assert!(!cache.get_failure(&owner, RType::A, 0));
        assert!(cache.get_negative(&owner, RType::A, 0).is_some());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.weight(), 0);
    }

    #[test]
    fn eviction_keeps_the_weight_under_the_budget() {
        let max_bytes = 1 << 20;
        let cache = RrsetCache::new(CacheConfig {
            max_bytes,
            ..CacheConfig::default()
        });
        for index in 0..100_000u32 {
            let owner = format!("host{index}.example.");
            let record = Record {
                name: name(&owner),
                rtype: RType::A,
                class: Class::IN,
                ttl: 3600,
                data: index.to_be_bytes().into(),
            };
            cache.insert(&[record], Trust::AnswerAuthoritative, 0);
            if index % 1000 == 0 {
                assert!(
                    cache.weight() <= max_bytes as u64,
                    "weight {} at {index}",
                    cache.weight()
                );
            }
        }
        assert!(cache.weight() <= max_bytes as u64);
        assert!(cache.len() > 1000, "only {} entries", cache.len());
        assert!(cache.len() < 100_000);
        // Recent entries are found.
        assert!(
            cache
                .get(&name("host99999.example."), RType::A, 0)
                .is_some()
        );
    }

    #[test]
    fn cache_is_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RrsetCache>();
        let cache = cache();
        std::thread::scope(|scope| {
            for thread in 0..4u8 {
                let cache = &cache;
                scope.spawn(move || {
                    for index in 0..200u8 {
                        let owner = format!("h{index}.example.");
                        let trust = if thread % 2 == 0 {
                            Trust::Additional
                        } else {
                            Trust::AnswerAuthoritative
                        };
                        cache.insert(&[a_record(&owner, 300, thread)], trust, 0);
                        cache.get(&name(&owner), RType::A, 0);
                    }
                });
            }
        });
        for index in 0..200u8 {
            let found = cache
                .get(&name(&format!("h{index}.example.")), RType::A, 0)
                .unwrap();
            assert_eq!(found.trust, Trust::AnswerAuthoritative);
        }
    }
}
