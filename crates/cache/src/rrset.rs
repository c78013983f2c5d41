//! The RRset cache: RRsets ranked by credibility (RFC 2181 §5.4.1), negative
//! answers (RFC 2308) and resolution failures (RFC 2308 §7.1, RFC 9520).
//!
//! One bounded concurrent map holds four kinds of entries, each identified
//! by the owner name (compared without regard to ASCII case), a type and the
//! kind of entry:
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
//! Memory: the map is keyed by a 64-bit hash of the identity (see
//! [`crate::key`]) and each entry is one compact heap block (see
//! [`StoredEntry`]): expiry, TTL, type, class, kind, trust, the owner name
//! once and the data of each record. [`RrsetCache::get`] rebuilds the
//! records from it, so a lookup allocates; the answer cache is the hot path.
//!
//! # Limitations
//! - Duplicate records are recognised by identical record data; names inside
//!   record data that differ only in case count as different.
//! - The owner name is stored once, as spelled in the first record: records
//!   of one RRset whose owner names differ only in case come back all
//!   spelled like the first.
//! - A negative entry does not remove a cached positive RRset: the positive
//!   data stays valid for its own TTL, and the resolver is expected to look
//!   for positive data first.
//! - Serve-stale (RFC 8767): with [`CacheConfig::max_stale`] above zero an
//!   expired RRset is kept that many seconds past its expiry and
//!   [`RrsetCache::get_stale`] still finds it; [`RrsetCache::get`] never
//!   returns it. Negative and failure entries are never kept stale.
//! - No NXDOMAIN cut (RFC 8020) here. Aggressive use of NSEC (RFC 8198)
//!   is the resolver's, from [`RrsetCache::nsec_index`] (`crate::denial`),
//!   which holds validated NSEC records only, no NSEC3.
//! - `now` must not go backwards; if it does, remaining TTLs are capped at
//!   the stored TTL but entries live longer than they should.
//! - An RRset whose records' data add up to more than about 16 MiB is not
//!   stored (a DNS message cannot carry one anyway).

use crate::denial::NsecIndex;
use crate::key::{EntryKind, KeyHasher};
use crate::memory::{PrehashedKeys, bounded_map, heap_block, table_slot, weight_of};
use crate::statistics::{
    EvictionCounter, ListingKind, RrsetCacheStatistics, RrsetListing, StripedCounter, name_matches,
};
use crate::trust::{Security, Trust, Validation};
use hanse_wire::{Class, Name, RType, Record};
use quick_cache::Weighter;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The TTL of a negative entry stored without an SOA record (RFC 2308 §5
/// advises not to cache those at all; a few seconds still absorb repeated
/// queries without letting a pair of servers loop for long, as Unbound and
/// Knot Resolver keep them). Clamped to `[min_ttl, negative_max_ttl]` like
/// any negative TTL.
pub const NEGATIVE_TTL_WITHOUT_SOA: u32 = 5;

/// A guess at the average entry's weight, to size the number of ghost keys.
const TYPICAL_ENTRY_BYTES: usize = 128;

/// The cache bytes per NSEC record the index of validated NSEC records
/// may hold (the index is bounded by count, outside the byte budget).
const NSEC_INDEX_BYTES_PER_ENTRY: usize = 2048;

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
    /// How long an expired RRset is kept for serve-stale (RFC 8767 §5,
    /// max-stale-ttl); 0 forgets it at expiry.
    pub max_stale: u32,
}

impl Default for CacheConfig {
    /// 256 MiB, TTLs in [0, 86400], negative TTLs up to 3600, failures for
    /// 5 seconds, nothing kept stale.
    fn default() -> CacheConfig {
        CacheConfig {
            max_bytes: 256 << 20,
            min_ttl: 0,
            max_ttl: 86_400,
            negative_max_ttl: 3_600,
            servfail_ttl: 5,
            max_stale: 0,
        }
    }
}

/// An RRset found in the cache.
///
/// Invariants: `records` is not empty, its records share owner name, type
/// and class, no two have the same data, and each record's `ttl` is the TTL
/// the RRset was stored with (after clamping). `ttl` is the time left,
/// `0 < ttl <= records[i].ttl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRrset {
    /// The records, rebuilt from the cache for this lookup.
    pub records: Arc<[Record]>,
    /// Seconds left before the RRset expires; always above zero, except
    /// from [`RrsetCache::get_stale`], where 0 means expired (stale).
    pub ttl: u32,
    /// Where the RRset came from.
    pub trust: Trust,
    /// What DNSSEC validation said of it.
    pub security: Security,
    /// For bogus data, the Extended DNS Error INFO-CODE validation gave
    /// (see [`Validation`]).
    pub extended_error: Option<u16>,
    /// The RRSIG records stored with it (each with the RRset's stored TTL);
    /// empty when none were stored.
    pub signatures: Vec<Record>,
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
    /// What DNSSEC validation said of the proof of nonexistence.
    pub security: Security,
    /// For a bogus proof, the Extended DNS Error INFO-CODE validation gave
    /// (see [`Validation`]).
    pub extended_error: Option<u16>,
    /// The records of the proof stored with it (NSEC, NSEC3 and RRSIG
    /// records, each with the entry's stored TTL); empty when none were stored.
    pub proof: Vec<Record>,
}

/// The bit of [`StoredEntry`]'s flags byte set when the class is IN and not stored.
const CLASS_IN: u8 = 1 << 5;
/// The bit of [`StoredEntry`]'s flags byte set when a negative entry holds an SOA record.
const HAS_SOA: u8 = 1 << 6;
/// The bit of [`StoredEntry`]'s DNSSEC byte set when extra records (RRSIGs,
/// a proof of nonexistence) follow the payload.
const HAS_EXTRA: u8 = 1 << 2;
/// The length of the fixed part of a [`StoredEntry`].
const FIXED_LENGTH: usize = 12;

/// One entry of the map, encoded in a single heap block:
///
/// | bytes | content |
/// | --- | --- |
/// | 0..4 | absolute expiry, little-endian |
/// | 4..8 | the TTL stored with, which caps the time left |
/// | 8..10 | the type (0 for NXDOMAIN) |
/// | 10 | flags: kind (bits 0–1), trust (bits 2–4), [`CLASS_IN`], [`HAS_SOA`] |
/// | 11 | DNSSEC: the [`Security`] (bits 0–1), [`HAS_EXTRA`], the bogus reason (bits 3–7, [`Validation`]) |
/// | (4) | the payload's length, little-endian, if [`HAS_EXTRA`] |
/// | (2) | the class, unless [`CLASS_IN`] |
/// | 1 + n | the owner name's length and wire form, in its original case |
/// | payload | RRset: each record's data, prefixed by its length in 7-bit groups; negative with SOA: the SOA's owner name (length and wire form) and its data |
/// | extras | if [`HAS_EXTRA`]: per record its owner name (length and wire form), type (little-endian) and data prefixed by its length |
///
/// Invariant: produced by [`StoredEntry::encode`]; decoding still checks
/// every length and gives up on anything malformed instead of panicking.
#[derive(Clone)]
struct StoredEntry(Box<[u8]>);

/// What every entry stores besides its data, for [`StoredEntry::encode`].
struct EntryHead<'a> {
    /// When the entry is stored; it expires `ttl` seconds later.
    now: u32,
    ttl: u32,
    owner: &'a Name,
    rtype: RType,
    class: Class,
    kind: EntryKind,
    trust: Trust,
    validation: Validation,
    /// Records stored after the payload (RRSIGs, NSEC, NSEC3), of any owner and type.
    extras: &'a [Record],
}

/// The fields of a [`StoredEntry`], borrowed.
struct EntryFields<'a> {
    expires_at: u32,
    ttl: u32,
    rtype: RType,
    kind: EntryKind,
    trust: Trust,
    class: Class,
    has_soa: bool,
    security: Security,
    extended_error: Option<u16>,
    owner: &'a [u8],
    payload: &'a [u8],
    extras: &'a [u8],
}

/// The trust rank's number in a stored entry.
fn trust_code(trust: Trust) -> u8 {
    match trust {
        Trust::Additional => 0,
        Trust::AuthorityReferral => 1,
        Trust::AnswerNonAuthoritative => 2,
        Trust::AuthorityAuthoritative => 3,
        Trust::AnswerAuthoritative => 4,
    }
}

/// The trust rank of a number from [`trust_code`]; unknown numbers rank lowest.
fn trust_from_code(code: u8) -> Trust {
    match code {
        1 => Trust::AuthorityReferral,
        2 => Trust::AnswerNonAuthoritative,
        3 => Trust::AuthorityAuthoritative,
        4 => Trust::AnswerAuthoritative,
        _ => Trust::Additional,
    }
}

/// Appends `length` in 7-bit groups, least significant first, the top bit
/// of each byte telling that another follows.
fn push_length(blob: &mut Vec<u8>, mut length: usize) {
    while length >= 0x80 {
        blob.push((length & 0x7f) as u8 | 0x80);
        length >>= 7;
    }
    blob.push(length as u8);
}

/// The bytes [`push_length`] takes for `length`.
fn length_size(length: usize) -> usize {
    let mut size = 1;
    let mut rest = length >> 7;
    while rest > 0 {
        size += 1;
        rest >>= 7;
    }
    size
}

/// Reads a length written by [`push_length`] from the front of `bytes`,
/// returning it and the rest. At most three bytes (21 bits) are read.
fn take_length(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut length = 0usize;
    for (index, &byte) in bytes.iter().enumerate().take(3) {
        length |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((length, bytes.get(index + 1..)?));
        }
    }
    None
}

/// Appends a name's wire form prefixed by its length (names are at most 255 bytes).
fn push_name(blob: &mut Vec<u8>, name: &[u8]) -> Option<()> {
    blob.push(u8::try_from(name.len()).ok()?);
    blob.extend_from_slice(name);
    Some(())
}

/// Reads a name written by [`push_name`], returning it and the rest.
fn take_name(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&length, rest) = bytes.split_first()?;
    let length = usize::from(length);
    Some((rest.get(..length)?, rest.get(length..)?))
}

/// Reads a little-endian `u32` at `offset`.
fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

/// The largest record data [`push_length`] and [`take_length`] agree on.
const MAX_STORED_LENGTH: usize = (1 << 21) - 1;

impl StoredEntry {
    /// Encodes an entry; `payload` appends the kind's data, `payload_length`
    /// bytes, and tells whether it holds an SOA record. `None` if a name or a length does not fit the
    /// format.
    fn encode(
        head: &EntryHead<'_>,
        payload_length: usize,
        payload: impl FnOnce(&mut Vec<u8>) -> Option<bool>,
    ) -> Option<StoredEntry> {
        let owner = head.owner.as_wire();
        let class_length = if head.class == Class::IN { 0 } else { 2 };
        let has_extra = !head.extras.is_empty();
        let extras_length: usize = head
            .extras
            .iter()
            .map(|record| {
                1 + record.name.as_wire().len()
                    + 2
                    + length_size(record.data.len())
                    + record.data.len()
            })
            .sum();
        let extra_header = if has_extra { 4 } else { 0 };
        // The exact length: shrinking a block later may leave it in its
        // larger size class.
        let mut blob = Vec::with_capacity(
            FIXED_LENGTH
                + extra_header
                + class_length
                + 1
                + owner.len()
                + payload_length
                + extras_length,
        );
        blob.extend_from_slice(&head.now.saturating_add(head.ttl).to_le_bytes());
        blob.extend_from_slice(&head.ttl.to_le_bytes());
        blob.extend_from_slice(&head.rtype.0.to_le_bytes());
        let flags_at = blob.len();
        let mut flags = head.kind.code() | trust_code(head.trust) << 2;
        blob.push(0);
        let validation = head.validation;
        blob.push(
            validation.security.code()
                | if has_extra { HAS_EXTRA } else { 0 }
                | validation.error_bits(),
        );
        let payload_length_at = blob.len();
        if has_extra {
            blob.extend_from_slice(&[0; 4]);
        }
        if head.class == Class::IN {
            flags |= CLASS_IN;
        } else {
            blob.extend_from_slice(&head.class.0.to_le_bytes());
        }
        push_name(&mut blob, owner)?;
        let payload_start = blob.len();
        if payload(&mut blob)? {
            flags |= HAS_SOA;
        }
        if has_extra {
            let written = u32::try_from(blob.len() - payload_start).ok()?;
            blob[payload_length_at..payload_length_at + 4].copy_from_slice(&written.to_le_bytes());
            for record in head.extras {
                if record.data.len() > MAX_STORED_LENGTH {
                    return None;
                }
                push_name(&mut blob, record.name.as_wire())?;
                blob.extend_from_slice(&record.rtype.0.to_le_bytes());
                push_length(&mut blob, record.data.len());
                blob.extend_from_slice(&record.data);
            }
        }
        blob[flags_at] = flags;
        Some(StoredEntry(blob.into_boxed_slice()))
    }

    /// The fields, or `None` if the block is malformed.
    fn fields(&self) -> Option<EntryFields<'_>> {
        let bytes = &*self.0;
        let expires_at = read_u32(bytes, 0)?;
        let ttl = read_u32(bytes, 4)?;
        let rtype = RType(u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]));
        let flags = *bytes.get(10)?;
        let dnssec = *bytes.get(11)?;
        let mut offset = FIXED_LENGTH;
        let payload_length = if dnssec & HAS_EXTRA != 0 {
            let length = usize::try_from(read_u32(bytes, offset)?).ok()?;
            offset += 4;
            Some(length)
        } else {
            None
        };
        let (class, rest) = if flags & CLASS_IN != 0 {
            (Class::IN, bytes.get(offset..)?)
        } else {
            let field = bytes.get(offset..offset + 2)?;
            (
                Class(u16::from_le_bytes([field[0], field[1]])),
                bytes.get(offset + 2..)?,
            )
        };
        let (owner, rest) = take_name(rest)?;
        let (payload, extras) = match payload_length {
            Some(length) => (rest.get(..length)?, rest.get(length..)?),
            None => (rest, &[][..]),
        };
        Some(EntryFields {
            expires_at,
            ttl,
            rtype,
            kind: EntryKind::from_code(flags),
            trust: trust_from_code((flags >> 2) & 7),
            class,
            has_soa: flags & HAS_SOA != 0,
            security: Security::from_code(dnssec),
            extended_error: Validation::error_of_bits(dnssec),
            owner,
            payload,
            extras,
        })
    }

    /// The fields if the entry is the one of `name` (any case), `rtype` and
    /// `kind`, and not another whose key hashed alike.
    fn fields_of(&self, name: &[u8], rtype: RType, kind: EntryKind) -> Option<EntryFields<'_>> {
        self.fields().filter(|fields| {
            fields.kind == kind && fields.rtype == rtype && fields.owner.eq_ignore_ascii_case(name)
        })
    }

    /// The estimated bytes of the entry in the map.
    fn weight(&self) -> u64 {
        weight_of(table_slot::<u64, StoredEntry>() + heap_block(self.0.len()))
    }
}

impl EntryFields<'_> {
    /// The seconds left at `now`, or `None` once expired.
    fn remaining(&self, now: u32) -> Option<u32> {
        let left = self.expires_at.checked_sub(now).filter(|&left| left > 0)?;
        Some(left.min(self.ttl))
    }

    /// Whether the entry is live at `now` or expired less than `max_stale`
    /// seconds ago.
    fn usable_stale(&self, now: u32, max_stale: u32) -> bool {
        now < self.expires_at.saturating_add(max_stale)
    }

    /// The records of a positive entry, each with the stored TTL.
    fn records(&self) -> Option<Arc<[Record]>> {
        let name = Name::from_wire(self.owner).ok()?;
        let mut records = Vec::new();
        let mut rest = self.payload;
        while !rest.is_empty() {
            let (length, after) = take_length(rest)?;
            let data = after.get(..length)?;
            rest = after.get(length..)?;
            records.push(Record {
                name: name.clone(),
                rtype: self.rtype,
                class: self.class,
                ttl: self.ttl,
                data: data.into(),
            });
        }
        Some(records.into())
    }

    /// The extra records (RRSIGs, proofs), each with the stored TTL.
    fn extras(&self) -> Option<Vec<Record>> {
        let mut records = Vec::new();
        let mut rest = self.extras;
        while !rest.is_empty() {
            let (owner, after) = take_name(rest)?;
            let rtype = RType(u16::from_le_bytes([*after.first()?, *after.get(1)?]));
            let (length, after) = take_length(after.get(2..)?)?;
            let data = after.get(..length)?;
            rest = after.get(length..)?;
            records.push(Record {
                name: Name::from_wire(owner).ok()?,
                rtype,
                class: self.class,
                ttl: self.ttl,
                data: data.into(),
            });
        }
        Some(records)
    }

    /// What [`RrsetCache::lookup`] shows of the entry at `now`, `None` once expired.
    fn listing(&self, now: u32) -> Option<RrsetListing> {
        let ttl = self.remaining(now)?;
        let records = match self.kind {
            EntryKind::Rrset => self.records()?.to_vec(),
            EntryKind::NoData | EntryKind::NameError => self.soa().into_iter().collect(),
            EntryKind::Failure => Vec::new(),
        };
        let kind = match self.kind {
            EntryKind::Rrset => ListingKind::Rrset,
            EntryKind::NoData => ListingKind::NoData,
            EntryKind::NameError => ListingKind::NxDomain,
            EntryKind::Failure => ListingKind::Failure,
        };
        Some(RrsetListing {
            name: Name::from_wire(self.owner).ok()?,
            rtype: self.rtype,
            kind,
            records: records
                .into_iter()
                .map(|record| Record { ttl, ..record })
                .collect(),
            ttl,
            trust: self.trust,
        })
    }

    /// The SOA record of a negative entry, if it holds one.
    fn soa(&self) -> Option<Record> {
        if !self.has_soa {
            return None;
        }
        let (owner, data) = take_name(self.payload)?;
        Some(Record {
            name: Name::from_wire(owner).ok()?,
            rtype: RType::SOA,
            class: self.class,
            ttl: self.ttl,
            data: data.into(),
        })
    }
}

/// Weighs entries by their estimated bytes.
#[derive(Clone)]
struct EntryWeighter;

impl Weighter<u64, StoredEntry> for EntryWeighter {
    fn weight(&self, _key: &u64, entry: &StoredEntry) -> u64 {
        entry.weight()
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
    hasher: KeyHasher,
    entries: Cache<u64, StoredEntry, EntryWeighter, PrehashedKeys, EvictionCounter>,
    counters: RrsetCounters,
    nsec_index: NsecIndex,
}

/// The counters of an [`RrsetCache`].
#[derive(Default)]
struct RrsetCounters {
    hits: StripedCounter,
    misses: StripedCounter,
    negative_hits: StripedCounter,
    failure_hits: StripedCounter,
    insertions: StripedCounter,
    evictions: EvictionCounter,
    flushed: AtomicU64,
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
        let counters = RrsetCounters::default();
        RrsetCache {
            config,
            hasher: KeyHasher::default(),
            entries: bounded_map(
                config.max_bytes,
                TYPICAL_ENTRY_BYTES,
                EntryWeighter,
                counters.evictions.clone(),
            ),
            counters,
            nsec_index: NsecIndex::new(
                (config.max_bytes / NSEC_INDEX_BYTES_PER_ENTRY).clamp(64, 1 << 20),
                config.negative_max_ttl,
            ),
        }
    }

    /// The index of validated NSEC records (RFC 8198), bounded by
    /// `max_bytes / 2048` records (at least 64, at most 2^20); cleared and
    /// flushed with the cache.
    pub fn nsec_index(&self) -> &NsecIndex {
        &self.nsec_index
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
    ///
    /// The RRset is stored with [`Security::Indeterminate`] and no RRSIGs;
    /// see [`RrsetCache::insert_signed`].
    pub fn insert(&self, records: &[Record], trust: Trust, now: u32) -> bool {
        self.insert_signed(records, &[], trust, Security::Indeterminate, now)
    }

    /// [`RrsetCache::insert`] with the RRSIG records of the RRset and its
    /// DNSSEC status (a [`Security`], or a [`Validation`] that also keeps the
    /// reason of a bogus status). A live [`Security::Secure`] RRset is not
    /// replaced by data of the same trust that is not secure.
    pub fn insert_signed(
        &self,
        records: &[Record],
        signatures: &[Record],
        trust: Trust,
        validation: impl Into<Validation>,
        now: u32,
    ) -> bool {
        let validation = validation.into();
        let security = validation.security;
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
        let payload_length = members
            .iter()
            .map(|record| length_size(record.data.len()) + record.data.len())
            .sum::<usize>();
        let head = EntryHead {
            now,
            ttl,
            owner: &first.name,
            rtype: first.rtype,
            class: first.class,
            kind: EntryKind::Rrset,
            trust,
            validation,
            extras: signatures,
        };
        let stored = StoredEntry::encode(&head, payload_length, |blob| {
            for record in &members {
                if record.data.len() > MAX_STORED_LENGTH {
                    return None;
                }
                push_length(blob, record.data.len());
                blob.extend_from_slice(&record.data);
            }
            Some(false)
        });
        let Some(stored) = stored else {
            return false;
        };

        if trust >= Trust::AnswerNonAuthoritative {
            self.remove_kind(&first.name, RType(0), EntryKind::NameError);
            self.remove_kind(&first.name, first.rtype, EntryKind::NoData);
            self.remove_kind(&first.name, first.rtype, EntryKind::Failure);
        }

        let owner = first.name.as_wire();
        let key = self.hasher.entry(owner, first.rtype, EntryKind::Rrset);
        let admitted = match self
            .entries
            .entry(&key, None, |_, cached: &mut StoredEntry| {
                // An entry of another identity with the same hash is replaced.
                let outranks = cached
                    .fields_of(owner, first.rtype, EntryKind::Rrset)
                    .is_some_and(|fields| {
                        let better = fields.trust > trust
                            || (fields.trust == trust
                                && fields.security == Security::Secure
                                && security != Security::Secure);
                        better && fields.remaining(now).is_some()
                    });
                if outranks {
                    EntryAction::Retain(())
                } else {
                    EntryAction::ReplaceWithGuard
                }
            }) {
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                guard.insert(stored).is_ok()
            }
            EntryResult::Retained(()) | EntryResult::Removed(..) | EntryResult::Timeout => false,
        };
        // The map silently drops an entry too heavy for its shard.
        let stored = admitted && self.entries.contains_key(&key);
        if stored {
            self.counters.insertions.increment();
        }
        stored
    }

    /// The live RRset of `name` and `rtype`, if cached. Expired entries are
    /// removed on the way.
    pub fn get(&self, name: &Name, rtype: RType, now: u32) -> Option<CachedRrset> {
        let found = self
            .get_live(name, rtype, EntryKind::Rrset, now)
            .and_then(|entry| {
                let fields = entry.fields()?;
                Some(CachedRrset {
                    records: fields.records()?,
                    ttl: fields.remaining(now)?,
                    trust: fields.trust,
                    security: fields.security,
                    extended_error: fields.extended_error,
                    signatures: fields.extras()?,
                })
            });
        match found {
            Some(_) => self.counters.hits.increment(),
            None => self.counters.misses.increment(),
        }
        found
    }

    /// The RRset of `name` and `rtype`, live or stale: expired less than
    /// [`CacheConfig::max_stale`] seconds ago (RFC 8767). `ttl` is the time
    /// left, 0 for a stale RRset. Counts nothing; for answering when
    /// resolution fails, never for fresh answers.
    pub fn get_stale(&self, name: &Name, rtype: RType, now: u32) -> Option<CachedRrset> {
        let wire = name.as_wire();
        let key = self.hasher.entry(wire, rtype, EntryKind::Rrset);
        let entry = self.entries.get(&key)?;
        let fields = entry.fields_of(wire, rtype, EntryKind::Rrset)?;
        if !fields.usable_stale(now, self.config.max_stale) {
            return None;
        }
        Some(CachedRrset {
            records: fields.records()?,
            ttl: fields.remaining(now).unwrap_or(0),
            trust: fields.trust,
            security: fields.security,
            extended_error: fields.extended_error,
            signatures: fields.extras()?,
        })
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
    /// The entry is stored with [`Security::Indeterminate`] and no proof; see
    /// [`RrsetCache::insert_negative_signed`].
    pub fn insert_negative(
        &self,
        name: &Name,
        rtype: Option<RType>,
        soa: Option<Record>,
        rcode_nxdomain: bool,
        now: u32,
    ) {
        self.insert_negative_signed(
            name,
            rtype,
            soa,
            rcode_nxdomain,
            &[],
            Security::Indeterminate,
            now,
        );
    }

    /// [`RrsetCache::insert_negative`] with the records of the proof of
    /// nonexistence (NSEC, NSEC3, RRSIGs, the SOA's RRSIG) and its DNSSEC
    /// status (a [`Security`], or a [`Validation`] with a bogus reason).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_negative_signed(
        &self,
        name: &Name,
        rtype: Option<RType>,
        soa: Option<Record>,
        rcode_nxdomain: bool,
        proof: &[Record],
        validation: impl Into<Validation>,
        now: u32,
    ) {
        let validation = validation.into();
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
        // The class field holds the SOA record's class; a negative entry
        // without one has no class of its own.
        let class = soa.as_ref().map_or(Class::IN, |record| record.class);
        let payload_length = soa.as_ref().map_or(0, |record| {
            record.name.as_wire().len() + 1 + record.data.len()
        });
        let head = EntryHead {
            now,
            ttl,
            owner: name,
            rtype,
            class,
            kind,
            trust: Trust::Additional,
            validation,
            extras: proof,
        };
        let stored = StoredEntry::encode(&head, payload_length, |blob| match &soa {
            Some(record) => {
                push_name(blob, record.name.as_wire())?;
                blob.extend_from_slice(&record.data);
                Some(true)
            }
            None => Some(false),
        });
        if let Some(stored) = stored {
            let key = self.hasher.entry(name.as_wire(), rtype, kind);
            self.entries.insert(key, stored);
            self.counters.insertions.increment();
        }
    }

    /// The live negative entry for `name` and `rtype`: NXDOMAIN for the name,
    /// whatever `rtype` is, or else NODATA for the type.
    pub fn get_negative(&self, name: &Name, rtype: RType, now: u32) -> Option<NegativeEntry> {
        let (entry, nxdomain) = match self.get_live(name, RType(0), EntryKind::NameError, now) {
            Some(entry) => (entry, true),
            None => (self.get_live(name, rtype, EntryKind::NoData, now)?, false),
        };
        let fields = entry.fields()?;
        let found = NegativeEntry {
            nxdomain,
            soa: fields.soa(),
            ttl: fields.remaining(now)?,
            security: fields.security,
            extended_error: fields.extended_error,
            proof: fields.extras()?,
        };
        self.counters.negative_hits.increment();
        Some(found)
    }

    /// Remembers that resolving `name` and `rtype` failed, for
    /// `servfail_ttl` seconds (RFC 2308 §7.1, RFC 9520). A `servfail_ttl` of
    /// zero disables this.
    pub fn insert_failure(&self, name: &Name, rtype: RType, now: u32) {
        let ttl = self.config.servfail_ttl;
        if ttl == 0 {
            return;
        }
        let head = EntryHead {
            now,
            ttl,
            owner: name,
            rtype,
            class: Class::IN,
            kind: EntryKind::Failure,
            trust: Trust::Additional,
            validation: Validation::default(),
            extras: &[],
        };
        let stored = StoredEntry::encode(&head, 0, |_| Some(false));
        if let Some(stored) = stored {
            let key = self.hasher.entry(name.as_wire(), rtype, EntryKind::Failure);
            self.entries.insert(key, stored);
            self.counters.insertions.increment();
        }
    }

    /// Whether resolving `name` and `rtype` failed less than `servfail_ttl`
    /// seconds ago.
    pub fn get_failure(&self, name: &Name, rtype: RType, now: u32) -> bool {
        let failed = self
            .get_live(name, rtype, EntryKind::Failure, now)
            .is_some();
        if failed {
            self.counters.failure_hits.increment();
        }
        failed
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
        self.nsec_index.clear();
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

    /// The counters and the size now.
    pub fn statistics(&self) -> RrsetCacheStatistics {
        let counters = &self.counters;
        RrsetCacheStatistics {
            hits: counters.hits.sum(),
            misses: counters.misses.sum(),
            negative_hits: counters.negative_hits.sum(),
            failure_hits: counters.failure_hits.sum(),
            insertions: counters.insertions.sum(),
            evictions: counters.evictions.count(),
            flushed: counters.flushed.load(Ordering::Relaxed),
            entries: u64::try_from(self.entries.len()).unwrap_or(u64::MAX),
            bytes: self.entries.weight(),
            capacity_bytes: u64::try_from(self.config.max_bytes).unwrap_or(u64::MAX),
        }
    }

    /// The live entries of `name` (any case): with `rtype`, those for that
    /// type and the NXDOMAIN entry of the name; without, every entry of the
    /// name. TTLs are the time left at `now`. Does not count as a hit or
    /// miss.
    ///
    /// Without a type the whole cache is scanned (entries are keyed by a hash
    /// of name and type), each shard locked for writing while it is scanned:
    /// an operator's tool, not for the query path.
    pub fn lookup(&self, name: &Name, rtype: Option<RType>, now: u32) -> Vec<RrsetListing> {
        let wire = name.as_wire();
        let Some(rtype) = rtype else {
            let found = RefCell::new(Vec::new());
            self.entries.retain(|_, entry| {
                if let Some(fields) = entry.fields()
                    && fields.owner.eq_ignore_ascii_case(wire)
                    && let Some(listing) = fields.listing(now)
                {
                    found.borrow_mut().push(listing);
                }
                true
            });
            return found.into_inner();
        };
        [
            (rtype, EntryKind::Rrset),
            (rtype, EntryKind::NoData),
            (RType(0), EntryKind::NameError),
            (rtype, EntryKind::Failure),
        ]
        .into_iter()
        .filter_map(|(rtype, kind)| {
            let entry = self.entries.peek(&self.hasher.entry(wire, rtype, kind))?;
            entry.fields_of(wire, rtype, kind)?.listing(now)
        })
        .collect()
    }

    /// Removes every entry of `name` (any case), or with `subtree` of `name`
    /// and the names below it, of every kind and type, and returns how many
    /// were removed.
    ///
    /// Scans the whole cache, each shard locked for writing while it is
    /// scanned: an operator's tool, not for the query path. An entry that
    /// cannot be read is removed too.
    pub fn flush(&self, name: &Name, subtree: bool) -> usize {
        self.nsec_index.flush(name, subtree);
        let target = name.as_wire();
        let removed = Cell::new(0usize);
        self.entries.retain(|_, entry| {
            let about = entry
                .fields()
                .is_none_or(|fields| name_matches(fields.owner, target, subtree));
            if about {
                removed.set(removed.get() + 1);
            }
            !about
        });
        let removed = removed.get();
        self.counters.flushed.fetch_add(
            u64::try_from(removed).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        removed
    }

    /// The entry of `kind` for `name` and `rtype` if it is live at `now`;
    /// removes it if it has expired.
    fn get_live(
        &self,
        name: &Name,
        rtype: RType,
        kind: EntryKind,
        now: u32,
    ) -> Option<StoredEntry> {
        let name = name.as_wire();
        let key = self.hasher.entry(name, rtype, kind);
        let entry = self.entries.get(&key)?;
        let live = entry
            .fields_of(name, rtype, kind)
            .map(|fields| fields.remaining(now).is_some())?;
        if live {
            return Some(entry);
        }
        drop(entry);
        let max_stale = if kind == EntryKind::Rrset {
            self.config.max_stale
        } else {
            0
        };
        self.entries.remove_if(&key, |entry| {
            entry
                .fields_of(name, rtype, kind)
                .is_some_and(|fields| !fields.usable_stale(now, max_stale))
        });
        None
    }

    /// Forgets the entry of `kind` for `name` and `rtype`, and no other that
    /// happens to share its hash.
    fn remove_kind(&self, name: &Name, rtype: RType, kind: EntryKind) {
        let name = name.as_wire();
        let key = self.hasher.entry(name, rtype, kind);
        self.entries
            .remove_if(&key, |entry| entry.fields_of(name, rtype, kind).is_some());
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
    fn the_reason_of_a_bogus_status_is_kept() {
        let cache = cache();
        let expired = Validation {
            security: Security::Bogus,
            extended_error: Some(7),
        };
        let rrset = [a_record("www.example.", 300, 1)];
        assert!(cache.insert_signed(&rrset, &[], Trust::AnswerAuthoritative, expired, 10));
        let cached = cache.get(&name("www.example."), RType::A, 11).unwrap();
        assert_eq!(cached.security, Security::Bogus);
        assert_eq!(cached.extended_error, Some(7));
        // INFO-CODE 0 (Other) is a code too; one above the stored range is dropped.
        for (code, kept) in [(0, Some(0)), (30, Some(30)), (31, None), (u16::MAX, None)] {
            let validation = Validation {
                security: Security::Bogus,
                extended_error: Some(code),
            };
            cache.insert_negative_signed(
                &name("gone.example."),
                Some(RType::A),
                Some(soa_record("example.", 300, 60)),
                false,
                &[],
                validation,
                10,
            );
            let negative = cache
                .get_negative(&name("gone.example."), RType::A, 11)
                .unwrap();
            assert_eq!(negative.security, Security::Bogus, "code {code}");
            assert_eq!(negative.extended_error, kept, "code {code}");
        }
        // A status without a reason reads back without one.
        let rrset = [a_record("plain.example.", 300, 1)];
        cache.insert_signed(
            &rrset,
            &[],
            Trust::AnswerAuthoritative,
            Security::Secure,
            10,
        );
        let plain = cache.get(&name("plain.example."), RType::A, 11).unwrap();
        assert_eq!(
            (plain.security, plain.extended_error),
            (Security::Secure, None)
        );
    }

    #[test]
    fn signatures_proofs_and_security_are_kept() {
        let cache = RrsetCache::new(CacheConfig::default());
        let signature = Record {
            name: name("www.example."),
            rtype: RType::RRSIG,
            class: Class::IN,
            ttl: 300,
            data: vec![0, 1, 8, 2, 0, 0, 1, 44, 9, 9, 9, 9].into(),
        };
        let rrset = [
            a_record("www.example.", 300, 1),
            a_record("www.example.", 300, 2),
        ];
        assert!(cache.insert_signed(
            &rrset,
            std::slice::from_ref(&signature),
            Trust::AnswerAuthoritative,
            Security::Secure,
            10
        ));
        let cached = cache.get(&name("www.example."), RType::A, 20).unwrap();
        assert_eq!(cached.security, Security::Secure);
        assert_eq!(cached.records.len(), 2);
        assert_eq!(cached.signatures.len(), 1);
        assert_eq!(cached.signatures[0].data, signature.data);
        assert_eq!(cached.signatures[0].rtype, RType::RRSIG);
        // Data of the same trust that is not secure does not replace it.
        assert!(!cache.insert(&rrset[..1], Trust::AnswerAuthoritative, 20));
        assert_eq!(
            cache
                .get(&name("www.example."), RType::A, 20)
                .unwrap()
                .records
                .len(),
            2
        );
        // A plain insert stores no signatures and an indeterminate status.
        cache.insert(
            &[a_record("other.example.", 300, 3)],
            Trust::AnswerAuthoritative,
            10,
        );
        let plain = cache.get(&name("other.example."), RType::A, 10).unwrap();
        assert_eq!(plain.security, Security::Indeterminate);
        assert!(plain.signatures.is_empty());

        let nsec = Record {
            name: name("a.example."),
            rtype: RType::NSEC,
            class: Class::IN,
            ttl: 300,
            data: vec![
                1, b'z', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0x40,
            ]
            .into(),
        };
        cache.insert_negative_signed(
            &name("b.example."),
            None,
            Some(soa_record("example.", 300, 60)),
            true,
            std::slice::from_ref(&nsec),
            Security::Bogus,
            10,
        );
        let negative = cache
            .get_negative(&name("b.example."), RType::A, 11)
            .unwrap();
        assert!(negative.nxdomain);
        assert_eq!(negative.security, Security::Bogus);
        assert_eq!(
            negative.soa.unwrap().data,
            soa_record("example.", 300, 60).data
        );
        assert_eq!(negative.proof.len(), 1);
        assert_eq!(negative.proof[0].name, nsec.name);
        assert_eq!(negative.proof[0].data, nsec.data);
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
        // 256 records of 20 bytes of data each: over 5000 bytes stored.
        let large: Vec<Record> = (0..=255)
            .map(|octet| Record {
                data: vec![octet; 20].into(),
                ..a_record("big.example.", 300, octet)
            })
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
    fn expired_rrsets_are_kept_stale_for_max_stale() {
        let cache = RrsetCache::new(CacheConfig {
            max_stale: 100,
            ..CacheConfig::default()
        });
        let owner = name("www.example.");
        assert!(cache.insert(
            &[a_record("www.example.", 60, 1)],
            Trust::AnswerAuthoritative,
            10
        ));
        let live = cache.get_stale(&owner, RType::A, 20).unwrap();
        assert_eq!(live.ttl, 50);
        // Expired: never fresh, but stale until 100 seconds past expiry.
        assert!(cache.get(&owner, RType::A, 70).is_none());
        let stale = cache.get_stale(&owner, RType::A, 70).unwrap();
        assert_eq!(stale.ttl, 0);
        assert_eq!(stale.records.len(), 1);
        assert!(cache.get(&owner, RType::A, 169).is_none());
        assert!(cache.get_stale(&owner, RType::A, 169).is_some());
        assert!(cache.get_stale(&owner, RType::A, 170).is_none());
        // Fresh data of any trust replaces stale data.
        assert!(cache.insert(&[a_record("www.example.", 60, 2)], Trust::Additional, 80));
        assert_eq!(cache.get(&owner, RType::A, 80).unwrap().ttl, 60);
        // Without max_stale nothing is kept.
        let plain = RrsetCache::new(CacheConfig::default());
        assert!(plain.insert(
            &[a_record("www.example.", 60, 1)],
            Trust::AnswerAuthoritative,
            10
        ));
        assert!(plain.get(&owner, RType::A, 70).is_none());
        assert!(plain.get_stale(&owner, RType::A, 70).is_none());
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
    fn entries_of_other_names_are_never_returned() {
        let cache = cache();
        let owner = name("www.example.");
        let other = name("mail.example.");
        assert!(cache.insert(
            &[a_record("mail.example.", 300, 7)],
            Trust::AnswerAuthoritative,
            0
        ));
        // Simulate a collision: the entry of `other` under the hash of `owner`.
        let stored = cache
            .entries
            .get(
                &cache
                    .hasher
                    .entry(other.as_wire(), RType::A, EntryKind::Rrset),
            )
            .unwrap();
        let owner_key = cache
            .hasher
            .entry(owner.as_wire(), RType::A, EntryKind::Rrset);
        cache.entries.insert(owner_key, stored);
        assert!(cache.get(&owner, RType::A, 0).is_none());
        cache.remove(&owner, RType::A);
        assert_eq!(cache.len(), 2, "removal checks the name too");
        // Less trusted data of `owner` replaces the colliding entry.
        assert!(cache.insert(&[a_record("www.example.", 300, 1)], Trust::Additional, 0));
        assert_eq!(
            &*cache.get(&owner, RType::A, 0).unwrap().records[0].data,
            &[192, 0, 2, 1]
        );
        assert!(cache.get(&other, RType::A, 0).is_some());
    }

    #[test]
    fn other_classes_and_long_data_survive_encoding() {
        let cache = cache();
        let mut chaos = a_record("version.bind.", 300, 0);
        chaos.class = Class(3);
        chaos.rtype = RType::TXT;
        chaos.data = vec![b'x'; 300].into();
        let mut short = chaos.clone();
        short.data = vec![5, b'h', b'a', b'n', b's', b'e'].into();
        assert!(cache.insert(
            &[chaos.clone(), short.clone()],
            Trust::AnswerAuthoritative,
            0
        ));
        let found = cache.get(&name("VERSION.bind."), RType::TXT, 0).unwrap();
        assert_eq!(&*found.records, &[chaos, short]);
        // Malformed blocks decode to nothing instead of panicking.
        for blob in [&[][..], &[0; 10], &[0xff; 40]] {
            let entry = StoredEntry(blob.into());
            if let Some(fields) = entry.fields() {
                let _ = (fields.records(), fields.soa());
            }
        }
        assert_eq!(take_length(&[0x80, 0x80, 0x80, 0x01]), None);
        let mut blob = Vec::new();
        push_length(&mut blob, MAX_STORED_LENGTH);
        assert_eq!(blob.len(), length_size(MAX_STORED_LENGTH));
        assert_eq!(take_length(&blob), Some((MAX_STORED_LENGTH, &[][..])));
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
