//! The index of validated NSEC records for aggressive negative caching
//! (RFC 8198, with the NSEC rules of RFC 4034 §4 and RFC 4035 §5.4).
//!
//! The resolver puts here every NSEC record (with its RRSIGs) that DNSSEC
//! validation found secure, and the SOA record of its zone. Before asking
//! upstream, it asks [`NsecIndex::deny`] whether those records already
//! prove that the name does not exist (NXDOMAIN: an NSEC covers the name
//! and another, or the same, covers the wildcard at its closest encloser)
//! or that the name has no data of the type (NODATA: the NSEC of the name
//! lists neither the type nor CNAME).
//!
//! Per zone apex the records are kept in a map ordered by owner name in
//! canonical DNS order (RFC 4034 §6.1, the order of [`Name`]), so the NSEC
//! covering a name is the one with the greatest owner at or before it.
//!
//! # Limitations
//! - NSEC only; NSEC3 records (RFC 5155) are not indexed, so zones signed
//!   with NSEC3 get no aggressive answers.
//! - The number of NSEC records is bounded ([`NsecIndex::new`]); when full,
//!   the record stored first is evicted (first in, first out), whatever its
//!   use. Expired records are ignored but stay until evicted or replaced.
//!   The index's memory is not part of the RRset cache's byte budget.
//! - Wildcard answers are not synthesised: a name whose wildcard exists is
//!   left to the authoritative servers, and so is an empty non-terminal.
//! - One mutex guards the whole index: it is used on cache misses only.
//! - The records are trusted as the caller says (validated secure); the
//!   index checks only their form and that they lie inside their zone.

use hanse_wire::{Name, RType, Record};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// A proof, from cached NSEC records, that a name or an RRset does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggressiveDenial {
    /// NXDOMAIN (the name does not exist) rather than NODATA.
    pub nxdomain: bool,
    /// The apex of the zone whose NSEC chain gives the proof.
    pub zone: Name,
    /// The SOA record of the zone, its TTL set to [`AggressiveDenial::ttl`].
    pub soa: Record,
    /// The NSEC records of the proof with their RRSIGs, each with its TTL
    /// set to [`AggressiveDenial::ttl`].
    pub proof: Vec<Record>,
    /// The negative TTL left (RFC 8198 §5.4): the smallest of the SOA's TTL,
    /// its MINIMUM field and the TTLs of the NSEC records used, counted down;
    /// always above zero.
    pub ttl: u32,
}

/// A cached NSEC record found for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNsec {
    /// The NSEC record (owner, next owner and type bit map in its data).
    pub record: Record,
    /// The RRSIG records over it.
    pub signatures: Vec<Record>,
    /// The next owner name of the record.
    pub next: Name,
    /// Seconds left before the record expires; always above zero.
    pub ttl: u32,
}

impl CachedNsec {
    /// Whether the type bit map lists `rtype`.
    pub fn has_type(&self, rtype: RType) -> bool {
        read_next_name(&self.record.data).is_some_and(|(_, bitmap)| bitmap_contains(bitmap, rtype))
    }
}

/// The bounded index of validated NSEC records, per zone apex.
///
/// `Send + Sync`; every call takes `now` in seconds on the caller's clock,
/// like the rest of the cache.
#[derive(Debug)]
pub struct NsecIndex {
    inner: Mutex<IndexState>,
    max_entries: usize,
    max_ttl: u32,
}

#[derive(Debug, Default)]
struct IndexState {
    zones: HashMap<Name, ZoneChain>,
    /// The (zone, owner) of every stored NSEC record, oldest first: the
    /// eviction order. Same length as the number of stored records.
    order: VecDeque<(Name, Name)>,
}

#[derive(Debug, Default)]
struct ZoneChain {
    /// NSEC records by owner name, in canonical order.
    records: BTreeMap<Name, StoredNsec>,
    soa: Option<StoredSoa>,
}

#[derive(Debug)]
struct StoredNsec {
    record: Record,
    signatures: Vec<Record>,
    next: Name,
    expiry: u32,
}

#[derive(Debug)]
struct StoredSoa {
    record: Record,
    signatures: Vec<Record>,
    expiry: u32,
}

impl StoredNsec {
    fn has_type(&self, rtype: RType) -> bool {
        read_next_name(&self.record.data).is_some_and(|(_, bitmap)| bitmap_contains(bitmap, rtype))
    }

    /// Whether the owner is a zone cut (NS without SOA) or a DNAME: names
    /// below it are not this zone's to deny (RFC 4035 §5.4, RFC 6672 §5.3.4).
    fn ends_authority(&self) -> bool {
        self.has_type(RType::DNAME) || (self.has_type(RType::NS) && !self.has_type(RType::SOA))
    }

    fn found(&self, now: u32) -> Option<CachedNsec> {
        (self.expiry > now).then(|| CachedNsec {
            record: self.record.clone(),
            signatures: self.signatures.clone(),
            next: self.next.clone(),
            ttl: self.expiry - now,
        })
    }
}

impl ZoneChain {
    /// The live NSEC whose owner is `name`.
    fn matching(&self, name: &Name, now: u32) -> Option<&StoredNsec> {
        self.records.get(name).filter(|entry| entry.expiry > now)
    }

    /// The live NSEC that covers `name` (owner < name < next, or the last
    /// record of the chain, whose next is the apex, with owner < name).
    fn covering(&self, apex: &Name, name: &Name, now: u32) -> Option<&StoredNsec> {
        let (owner, entry) = self.records.range(..=name.clone()).next_back()?;
        if owner == name || entry.expiry <= now {
            return None;
        }
        let wraps = entry.next <= *owner;
        let covers = if wraps {
            entry.next == *apex
        } else {
            *name < entry.next
        };
        covers.then_some(entry)
    }
}

impl NsecIndex {
    /// An empty index holding at most `max_entries` NSEC records, each for
    /// at most `max_ttl` seconds.
    pub fn new(max_entries: usize, max_ttl: u32) -> NsecIndex {
        NsecIndex {
            inner: Mutex::new(IndexState::default()),
            max_entries: max_entries.max(1),
            max_ttl,
        }
    }

    fn state(&self) -> MutexGuard<'_, IndexState> {
        // A panic while holding the lock leaves consistent maps behind.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a validated NSEC record of the zone `zone` with its RRSIGs.
    /// Returns whether it was stored: not for another type, malformed data,
    /// a TTL of zero, or an owner or next name outside the zone.
    pub fn insert_nsec(&self, zone: &Name, nsec: &Record, signatures: &[Record], now: u32) -> bool {
        if nsec.rtype != RType::NSEC || !nsec.name.is_subdomain_of(zone) {
            return false;
        }
        let Some((next, bitmap)) = read_next_name(&nsec.data) else {
            return false;
        };
        if !next.is_subdomain_of(zone) || !bitmap_is_well_formed(bitmap) {
            return false;
        }
        let ttl = nsec.ttl.min(self.max_ttl);
        if ttl == 0 || nsec.ttl & 0x8000_0000 != 0 {
            return false;
        }
        let stored = StoredNsec {
            record: nsec.clone(),
            signatures: signatures
                .iter()
                .filter(|record| record.rtype == RType::RRSIG && record.name == nsec.name)
                .cloned()
                .collect(),
            next,
            expiry: now.saturating_add(ttl),
        };
        let mut state = self.state();
        let chain = state.zones.entry(zone.clone()).or_default();
        if chain.records.insert(nsec.name.clone(), stored).is_some() {
            // Replaced in place: keeps its place in the eviction order.
            return true;
        }
        state.order.push_back((zone.clone(), nsec.name.clone()));
        while state.order.len() > self.max_entries {
            let Some((old_zone, old_owner)) = state.order.pop_front() else {
                break;
            };
            if let Some(chain) = state.zones.get_mut(&old_zone) {
                chain.records.remove(&old_owner);
                if chain.records.is_empty() {
                    state.zones.remove(&old_zone);
                }
            }
        }
        true
    }

    /// Stores the validated SOA record of `zone`, with its RRSIGs, for the
    /// negative answers made from the zone's NSEC records. Kept only while
    /// the zone has NSEC records in the index; its lifetime is the smaller
    /// of its TTL and its MINIMUM field (RFC 2308 §5).
    pub fn insert_soa(&self, zone: &Name, soa: &Record, signatures: &[Record], now: u32) -> bool {
        if soa.rtype != RType::SOA || soa.name != *zone {
            return false;
        }
        let ttl = soa
            .ttl
            .min(soa.soa_minimum().unwrap_or(0))
            .min(self.max_ttl);
        if ttl == 0 || soa.ttl & 0x8000_0000 != 0 {
            return false;
        }
        let mut state = self.state();
        let Some(chain) = state.zones.get_mut(zone) else {
            return false;
        };
        chain.soa = Some(StoredSoa {
            record: soa.clone(),
            signatures: signatures
                .iter()
                .filter(|record| record.rtype == RType::RRSIG && record.name == *zone)
                .cloned()
                .collect(),
            expiry: now.saturating_add(ttl),
        });
        true
    }

    /// The live NSEC record that covers `name` in the deepest zone of the
    /// index that holds it: owner < name < next in canonical order, or the
    /// last record of the chain (whose next name is the apex) with
    /// owner < name.
    pub fn covering(&self, name: &Name, now: u32) -> Option<CachedNsec> {
        let state = self.state();
        let (apex, chain) = state.zone_of(name, false)?;
        chain.covering(apex, name, now)?.found(now)
    }

    /// The live NSEC record whose owner is `name`, in the deepest zone of
    /// the index that holds it.
    pub fn matching(&self, name: &Name, now: u32) -> Option<CachedNsec> {
        let state = self.state();
        let (_, chain) = state.zone_of(name, false)?;
        chain.matching(name, now)?.found(now)
    }

    /// Whether the index proves that `name` does not exist or has no RRset
    /// of type `rtype`, and if so the proof (RFC 8198 §4 and §5).
    ///
    /// NODATA: the NSEC record of `name` lists neither `rtype` nor CNAME
    /// (and, at a zone cut, only the DS type is decided). NXDOMAIN: an NSEC
    /// record covers `name`, its owner is not a zone cut or DNAME above
    /// `name`, `name` is not an empty non-terminal (the next name is not
    /// below it), and the wildcard at the closest encloser (the longer of
    /// the names `name` shares with the covering record's owner and next
    /// name) is covered too. Needs the zone's SOA: without it, `None`.
    pub fn deny(&self, name: &Name, rtype: RType, now: u32) -> Option<AggressiveDenial> {
        if (128..=255).contains(&rtype.0) {
            // Meta and question types (ANY, AXFR, ...) are no RRset types.
            return None;
        }
        let state = self.state();
        let (apex, chain) = state.zone_of(name, rtype == RType::DS)?;
        let soa = chain.soa.as_ref().filter(|soa| soa.expiry > now)?;
        let mut used: Vec<&StoredNsec> = Vec::with_capacity(2);
        let nxdomain;
        if let Some(entry) = chain.matching(name, now) {
            let cut = entry.has_type(RType::NS) && !entry.has_type(RType::SOA);
            if entry.has_type(rtype) || entry.has_type(RType::CNAME) || (cut && rtype != RType::DS)
            {
                return None;
            }
            if matches!(rtype, RType::NSEC | RType::RRSIG) {
                return None;
            }
            used.push(entry);
            nxdomain = false;
        } else {
            let cover = chain.covering(apex, name, now)?;
            if name.is_subdomain_of(&cover.record.name) && cover.ends_authority() {
                return None;
            }
            if cover.next.is_subdomain_of(name) {
                // An empty non-terminal: the name exists.
                return None;
            }
            let encloser = closest_encloser(name, &cover.record.name, &cover.next, apex);
            let wildcard = encloser.prepend(b"*").ok()?;
            let wildcard_cover = chain.covering(apex, &wildcard, now)?;
            if wildcard.is_subdomain_of(&wildcard_cover.record.name)
                && wildcard_cover.ends_authority()
            {
                return None;
            }
            used.push(cover);
            if !std::ptr::eq(cover, wildcard_cover) {
                used.push(wildcard_cover);
            }
            nxdomain = true;
        }
        let soa_ttl = soa.expiry - now;
        let ttl = used
            .iter()
            .map(|entry| entry.expiry - now)
            .fold(soa_ttl, u32::min);
        let with_ttl = |record: &Record| Record {
            ttl,
            ..record.clone()
        };
        let mut proof = Vec::new();
        for entry in used {
            proof.push(with_ttl(&entry.record));
            proof.extend(entry.signatures.iter().map(with_ttl));
        }
        proof.extend(soa.signatures.iter().map(with_ttl));
        Some(AggressiveDenial {
            nxdomain,
            zone: apex.clone(),
            soa: with_ttl(&soa.record),
            proof,
            ttl,
        })
    }

    /// Forgets the NSEC records owned by `name` (and, with `subtree`, by
    /// names below it) and whole zones whose apex is such a name. Returns
    /// how many NSEC records were removed.
    pub fn flush(&self, name: &Name, subtree: bool) -> usize {
        let hit = |owner: &Name| owner == name || (subtree && owner.is_subdomain_of(name));
        let mut state = self.state();
        let before = state.order.len();
        state.zones.retain(|apex, chain| {
            if hit(apex) {
                return false;
            }
            chain.records.retain(|owner, _| !hit(owner));
            !chain.records.is_empty()
        });
        let IndexState { zones, order } = &mut *state;
        order.retain(|(zone, owner)| {
            zones
                .get(zone)
                .is_some_and(|chain| chain.records.contains_key(owner))
        });
        before - state.order.len()
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut state = self.state();
        state.zones.clear();
        state.order.clear();
    }

    /// The number of NSEC records held, expired ones included.
    pub fn len(&self) -> usize {
        self.state().order.len()
    }

    /// Whether the index holds no NSEC record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IndexState {
    /// The deepest zone of the index whose apex is `name` or above it; with
    /// `parent_side`, a zone whose apex is `name` itself is skipped (the DS
    /// RRset of a zone lives in its parent).
    fn zone_of(&self, name: &Name, parent_side: bool) -> Option<(&Name, &ZoneChain)> {
        let mut candidate = if parent_side {
            name.parent()?
        } else {
            name.clone()
        };
        loop {
            if let Some((apex, chain)) = self.zones.get_key_value(&candidate) {
                return Some((apex, chain));
            }
            candidate = candidate.parent()?;
        }
    }
}

/// The closest encloser of `name` (RFC 4035 §5.4, RFC 8198 §5.1) proven by
/// an NSEC record from `owner` to `next` that covers it: both exist, so the
/// longer of the ancestors `name` shares with each is the deepest existing
/// ancestor. Never above `apex`.
pub fn closest_encloser(name: &Name, owner: &Name, next: &Name, apex: &Name) -> Name {
    let shared = common_label_count(name, owner)
        .max(common_label_count(name, next))
        .max(apex.label_count())
        .min(name.label_count().saturating_sub(1));
    name.suffix(shared)
}

/// How many labels, counted from the right, two names share.
fn common_label_count(left: &Name, right: &Name) -> usize {
    let mine: Vec<&[u8]> = left.labels().collect();
    let theirs: Vec<&[u8]> = right.labels().collect();
    mine.iter()
        .rev()
        .zip(theirs.iter().rev())
        .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
        .count()
}

/// Splits NSEC record data into its next owner name (uncompressed,
/// RFC 4034 §4.1.1) and the type bit map that follows.
fn read_next_name(data: &[u8]) -> Option<(Name, &[u8])> {
    let mut position = 0;
    loop {
        let length = usize::from(*data.get(position)?);
        position += 1 + length;
        if length == 0 {
            break;
        }
        if length > 63 || position > 255 {
            return None;
        }
    }
    let name = Name::from_wire(data.get(..position)?).ok()?;
    Some((name, &data[position..]))
}

/// Whether a type bit map (RFC 4034 §4.1.2) has windows in increasing
/// order, each 1 to 32 octets long, filling the data exactly.
fn bitmap_is_well_formed(bitmap: &[u8]) -> bool {
    let mut position = 0;
    let mut previous: Option<u8> = None;
    while position < bitmap.len() {
        let Some(&length) = bitmap.get(position + 1) else {
            return false;
        };
        let window = bitmap[position];
        if length == 0 || length > 32 || previous.is_some_and(|before| window <= before) {
            return false;
        }
        previous = Some(window);
        position += 2 + usize::from(length);
    }
    position == bitmap.len()
}

/// Whether a type bit map lists `rtype`; a malformed map lists nothing more
/// than what was read before the fault.
fn bitmap_contains(bitmap: &[u8], rtype: RType) -> bool {
    let [window, low] = rtype.0.to_be_bytes();
    let mut position = 0;
    while let (Some(&block), Some(&length)) = (bitmap.get(position), bitmap.get(position + 1)) {
        if block == window {
            let octet = usize::from(low / 8);
            return octet < usize::from(length)
                && bitmap
                    .get(position + 2 + octet)
                    .is_some_and(|byte| byte & (0x80 >> (low % 8)) != 0);
        }
        position += 2 + usize::from(length);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Class;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// A type bit map of types below 256.
    fn bitmap(types: &[RType]) -> Vec<u8> {
        let mut octets = [0u8; 32];
        let mut used = 0;
        for rtype in types {
            let low = rtype.0 as u8;
            octets[usize::from(low / 8)] |= 0x80 >> (low % 8);
            used = used.max(usize::from(low / 8) + 1);
        }
        let mut map = vec![0, used as u8];
        map.extend_from_slice(&octets[..used]);
        map
    }

    fn nsec(owner: &str, next: &str, types: &[RType], ttl: u32) -> Record {
        let mut data = name(next).as_wire().to_vec();
        data.extend(bitmap(types));
        Record {
            name: name(owner),
            rtype: RType::NSEC,
            class: Class::IN,
            ttl,
            data: data.into(),
        }
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let mut data = name("ns.example.").as_wire().to_vec();
        data.extend(name("admin.example.").as_wire());
        for field in [1u32, 3600, 600, 86400, minimum] {
            data.extend(field.to_be_bytes());
        }
        Record {
            name: name(zone),
            rtype: RType::SOA,
            class: Class::IN,
            ttl,
            data: data.into(),
        }
    }

    /// The chain of `example.`: apex, c, m (a delegation), x; x wraps to the apex.
    fn example_index() -> NsecIndex {
        let index = NsecIndex::new(100, 3600);
        let zone = name("example.");
        let ns_soa = [RType::NS, RType::SOA, RType::RRSIG, RType::NSEC];
        let a = [RType::A, RType::RRSIG, RType::NSEC];
        for record in [
            nsec("example.", "c.example.", &ns_soa, 300),
            nsec("c.example.", "m.example.", &a, 300),
            nsec("m.example.", "x.example.", &[RType::NS, RType::NSEC], 300),
            nsec("x.example.", "example.", &a, 300),
        ] {
            assert!(index.insert_nsec(&zone, &record, &[], 1000));
        }
        assert!(index.insert_soa(&zone, &soa("example.", 600, 120), &[], 1000));
        index
    }

    #[test]
    fn names_sort_in_canonical_order() {
        // RFC 4034 §6.1's example, in order.
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let names: Vec<Name> = ordered.iter().map(|text| name(text)).collect();
        for pair in names.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn covering_finds_the_record_before_the_name() {
        let index = example_index();
        let found = index.covering(&name("d.example."), 1000).unwrap();
        assert_eq!(found.record.name, name("c.example."));
        assert_eq!(found.ttl, 300);
        assert!(index.covering(&name("c.example."), 1000).is_none());
        assert!(index.matching(&name("c.example."), 1000).is_some());
        // A name below an owner sorts right after it.
        let below = index.covering(&name("a.c.example."), 1000).unwrap();
        assert_eq!(below.record.name, name("c.example."));
    }

    #[test]
    fn the_last_record_wraps_around_to_the_apex() {
        let index = example_index();
        let found = index.covering(&name("zzz.example."), 1000).unwrap();
        assert_eq!(found.record.name, name("x.example."));
        assert!(found.has_type(RType::A));
        assert!(!found.has_type(RType::AAAA));
        // A name of another zone is not covered.
        assert!(index.covering(&name("zzz.other."), 1000).is_none());
    }

    #[test]
    fn expired_records_are_ignored() {
        let index = example_index();
        assert!(index.covering(&name("d.example."), 1299).is_some());
        assert!(index.covering(&name("d.example."), 1300).is_none());
        assert!(index.deny(&name("d.example."), RType::A, 1300).is_none());
    }

    #[test]
    fn the_closest_encloser_is_the_longest_shared_ancestor() {
        let apex = name("example.");
        assert_eq!(
            closest_encloser(
                &name("a.b.c.example."),
                &name("b.c.example."),
                &name("d.example."),
                &apex
            ),
            name("b.c.example.")
        );
        assert_eq!(
            closest_encloser(
                &name("q.example."),
                &name("c.example."),
                &name("x.example."),
                &apex
            ),
            apex
        );
        assert_eq!(
            closest_encloser(&name("zz.example."), &name("x.example."), &apex, &apex),
            apex
        );
    }

    #[test]
    fn nxdomain_needs_the_wildcard_covered() {
        let index = example_index();
        let denial = index.deny(&name("d.example."), RType::A, 1000).unwrap();
        assert!(denial.nxdomain);
        assert_eq!(denial.zone, name("example."));
        // d.example. is covered by c, *.example. by the apex record.
        let owners: Vec<Name> = denial.proof.iter().map(|r| r.name.clone()).collect();
        assert_eq!(owners, vec![name("c.example."), name("example.")]);
        // min(SOA TTL 600, MINIMUM 120, NSEC 300).
        assert_eq!(denial.ttl, 120);
        assert_eq!(denial.soa.ttl, 120);

        // With a wildcard in the zone, no NXDOMAIN.
        let index = example_index();
        let zone = name("example.");
        let record = nsec("example.", "*.example.", &[RType::SOA, RType::NS], 300);
        assert!(index.insert_nsec(&zone, &record, &[], 1000));
        let wildcard = nsec("*.example.", "c.example.", &[RType::A], 300);
        assert!(index.insert_nsec(&zone, &wildcard, &[], 1000));
        assert!(index.deny(&name("d.example."), RType::A, 1000).is_none());
    }

    #[test]
    fn nxdomain_is_not_claimed_without_the_wildcard_proof() {
        let index = NsecIndex::new(100, 3600);
        let zone = name("example.");
        let record = nsec("c.example.", "m.example.", &[RType::A], 300);
        assert!(index.insert_nsec(&zone, &record, &[], 1000));
        assert!(index.insert_soa(&zone, &soa("example.", 600, 600), &[], 1000));
        assert!(index.covering(&name("d.example."), 1000).is_some());
        assert!(index.deny(&name("d.example."), RType::A, 1000).is_none());
    }

    #[test]
    fn nodata_needs_the_type_and_cname_absent() {
        let index = example_index();
        let denial = index.deny(&name("c.example."), RType::AAAA, 1000).unwrap();
        assert!(!denial.nxdomain);
        assert!(index.deny(&name("c.example."), RType::A, 1000).is_none());
        assert!(index.deny(&name("c.example."), RType(255), 1000).is_none());
        let zone = name("example.");
        let alias = nsec("c.example.", "m.example.", &[RType::CNAME], 300);
        assert!(index.insert_nsec(&zone, &alias, &[], 1000));
        assert!(index.deny(&name("c.example."), RType::AAAA, 1000).is_none());
    }

    #[test]
    fn nothing_below_a_zone_cut_is_denied() {
        let index = example_index();
        // m.example. is a delegation: its children belong to another zone.
        assert!(index.deny(&name("a.m.example."), RType::A, 1000).is_none());
        assert!(index.deny(&name("m.example."), RType::A, 1000).is_none());
        // Its DS RRset is the parent's to deny.
        assert!(
            !index
                .deny(&name("m.example."), RType::DS, 1000)
                .unwrap()
                .nxdomain
        );
    }

    #[test]
    fn an_empty_non_terminal_is_not_denied() {
        let index = NsecIndex::new(100, 3600);
        let zone = name("example.");
        let ns_soa = [RType::NS, RType::SOA];
        for record in [
            nsec("example.", "a.b.example.", &ns_soa, 300),
            nsec("a.b.example.", "example.", &[RType::A], 300),
        ] {
            assert!(index.insert_nsec(&zone, &record, &[], 1000));
        }
        assert!(index.insert_soa(&zone, &soa("example.", 600, 600), &[], 1000));
        assert!(index.deny(&name("b.example."), RType::A, 1000).is_none());
        assert!(
            index
                .deny(&name("a.example."), RType::A, 1000)
                .unwrap()
                .nxdomain
        );
    }

    #[test]
    fn without_the_soa_there_is_no_answer() {
        let index = NsecIndex::new(100, 3600);
        let zone = name("example.");
        let record = nsec("example.", "example.", &[RType::SOA, RType::NS], 300);
        assert!(index.insert_nsec(&zone, &record, &[], 1000));
        assert!(index.deny(&name("a.example."), RType::A, 1000).is_none());
        assert!(index.insert_soa(&zone, &soa("example.", 600, 600), &[], 1000));
        assert!(index.deny(&name("a.example."), RType::A, 1000).is_some());
        // An SOA of a zone without records is not kept.
        assert!(!index.insert_soa(&name("other."), &soa("other.", 600, 600), &[], 1000));
    }

    #[test]
    fn the_index_is_bounded_first_in_first_out() {
        let index = NsecIndex::new(3, 3600);
        let zone = name("example.");
        for (owner, next) in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")] {
            let record = nsec(
                &format!("{owner}.example."),
                &format!("{next}.example."),
                &[RType::A],
                300,
            );
            assert!(index.insert_nsec(&zone, &record, &[], 1000));
        }
        assert_eq!(index.len(), 3);
        assert!(index.matching(&name("a.example."), 1000).is_none());
        assert!(index.matching(&name("d.example."), 1000).is_some());
        // Replacing keeps the count.
        let again = nsec("d.example.", "e.example.", &[RType::A], 300);
        assert!(index.insert_nsec(&zone, &again, &[], 1000));
        assert_eq!(index.len(), 3);
        assert_eq!(index.flush(&name("example."), true), 3);
        assert!(index.is_empty());
    }

    #[test]
    fn malformed_or_foreign_records_are_refused() {
        let index = NsecIndex::new(10, 3600);
        let zone = name("example.");
        let outside = nsec("a.other.", "b.other.", &[RType::A], 300);
        assert!(!index.insert_nsec(&zone, &outside, &[], 0));
        let mut broken = nsec("a.example.", "b.example.", &[RType::A], 300);
        broken.data = vec![3, b'a', b'b'].into();
        assert!(!index.insert_nsec(&zone, &broken, &[], 0));
        let mut bad_map = nsec("a.example.", "b.example.", &[RType::A], 300);
        let mut data = bad_map.data.to_vec();
        data.push(7);
        bad_map.data = data.into();
        assert!(!index.insert_nsec(&zone, &bad_map, &[], 0));
        assert!(!index.insert_nsec(&zone, &nsec("a.example.", "b.example.", &[], 0), &[], 0));
        assert!(index.is_empty());
    }
}
