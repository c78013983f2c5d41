//! The name set behind QNAME and NSDNAME triggers, list feeds, allowlists and
//! safe search: a hash table keyed by a label-chained 64-bit hash.
//!
//! The hash of a name is computed right to left, one label at a time, over the
//! lower-cased wire form: `hash(label.parent) = chain(hash(parent), label)`.
//! One pass over a query name therefore yields the hash of every suffix
//! ([`PreparedName`]), and every table of every feed in a profile is probed
//! with those same hashes, so a query name is hashed once per evaluation.
//!
//! Three kinds of entry share one table (draft-ietf-dnsop-dns-rpz §6.1):
//! - an *exact* entry `example.com` matches that name only;
//! - a *wildcard* entry `*.example.com` matches names strictly below
//!   `example.com`; it is stored under the hash of the name `*.example.com`,
//!   which is `chain(hash(example.com), "*")`;
//! - a *subtree* entry (the meaning of list feeds) matches `example.com` and
//!   every name below it; it is an exact entry with a flag.
//!
//! Collisions: every probe compares the stored 64-bit hash and then the stored
//! name with the query's suffix, byte for byte (ASCII case ignored). A hash
//! collision therefore costs one extra comparison and never returns a wrong
//! rule. The name has to be stored anyway, because explanations and logs name
//! the trigger as written.
//!
//! Layout: entries are 16-byte slots (hash, offset of the name in one byte
//! arena, value) in one vector; the hash table holds 4-byte slot indices.
//! Incremental updates (IXFR) go into an *overlay* that shadows the base: the
//! base is shared between generations through an [`Arc`], and only the
//! overlay, whose size is the number of changed names, is copied per update.
//! [`NameTable::compacted`] folds the overlay back into a new base.
//!
//! Lookups allocate nothing: the prepared name lives on the stack.
//!
//! # Limitations
//! - Names are compared as bytes with ASCII case folding (RFC 4343); no IDNA
//!   mapping is done, so list entries must already be in A-label form.
//! - Values are 31 bits; the top bit holds the subtree flag.

use hashbrown::HashTable;
use std::sync::Arc;

/// The most labels a wire name can have (255 octets, one-octet labels).
const MAX_LABELS: usize = 128;
/// The hash of the root name.
const ROOT_HASH: u64 = 0x243f_6a88_85a3_08d3;
/// The flag bit in a slot value that marks a subtree entry.
const SUBTREE_FLAG: u32 = 1 << 31;
/// The largest value a slot can hold.
pub(crate) const MAX_VALUE: u32 = SUBTREE_FLAG - 1;

/// Folds one label into the hash of its parent.
fn chain(parent: u64, label: &[u8]) -> u64 {
    let mut state = parent ^ (label.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut word = 0u64;
    let mut shift = 0;
    for &byte in label {
        word |= u64::from(byte.to_ascii_lowercase()) << shift;
        shift += 8;
        if shift == 64 {
            state = (state ^ word)
                .wrapping_mul(0xff51_afd7_ed55_8ccd)
                .rotate_left(29);
            word = 0;
            shift = 0;
        }
    }
    state = (state ^ word).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    finish(state)
}

/// A strong 64-bit finaliser (the splitmix64 output function).
fn finish(mut value: u64) -> u64 {
    value ^= value >> 30;
    value = value.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value ^= value >> 27;
    value = value.wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// A query name taken apart once: where each label starts and the hash of
/// every suffix. Lives on the stack; building it allocates nothing.
pub struct PreparedName<'a> {
    wire: &'a [u8],
    /// `starts[i]` is the offset of the i-th label from the left.
    starts: [u8; MAX_LABELS],
    /// `hashes[k]` is the hash of the suffix made of the rightmost `k` labels.
    hashes: [u64; MAX_LABELS + 1],
    count: usize,
}

impl<'a> PreparedName<'a> {
    /// Takes an uncompressed wire name apart. `None` if it is malformed.
    pub fn new(wire: &'a [u8]) -> Option<PreparedName<'a>> {
        let mut starts = [0u8; MAX_LABELS];
        let mut count = 0;
        let mut position = 0usize;
        loop {
            let length = usize::from(*wire.get(position)?);
            if length == 0 {
                if position + 1 != wire.len() {
                    return None;
                }
                break;
            }
            if length > 63 || count == MAX_LABELS || position > 254 {
                return None;
            }
            starts[count] = position as u8;
            count += 1;
            position += length + 1;
        }
        let mut hashes = [0u64; MAX_LABELS + 1];
        hashes[0] = ROOT_HASH;
        for k in 1..=count {
            let start = usize::from(starts[count - k]);
            let length = usize::from(wire[start]);
            hashes[k] = chain(hashes[k - 1], &wire[start + 1..start + 1 + length]);
        }
        Some(PreparedName {
            wire,
            starts,
            hashes,
            count,
        })
    }

    /// The number of labels, the root not counted.
    pub fn label_count(&self) -> usize {
        self.count
    }

    /// The wire name as given.
    pub fn wire(&self) -> &'a [u8] {
        self.wire
    }

    /// The wire form of the suffix made of the rightmost `k` labels.
    fn suffix(&self, k: usize) -> &'a [u8] {
        if k == 0 {
            return &self.wire[self.wire.len() - 1..];
        }
        &self.wire[usize::from(self.starts[self.count - k])..]
    }

    /// The hash of the whole name.
    fn hash(&self) -> u64 {
        self.hashes[self.count]
    }
}

/// The hash of a whole wire name, or `None` if it is malformed.
pub(crate) fn hash_name(wire: &[u8]) -> Option<u64> {
    PreparedName::new(wire).map(|prepared| prepared.hash())
}

/// One change for [`NameTable::with_changes`]: a name (lower-case wire form)
/// and its new (value, subtree flag), or `None` to remove it.
pub(crate) type NameChange = (Box<[u8]>, Option<(u32, bool)>);

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameMatch<'t> {
    /// The value stored with the entry.
    pub value: u32,
    /// The stored name (lower case), `*.` included for a wildcard entry.
    pub name: &'t [u8],
    /// How the entry matched.
    pub kind: MatchKind,
}

/// How an entry matched a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MatchKind {
    /// The name itself, by an exact or subtree entry.
    Exact,
    /// A wildcard entry `*.suffix` with `suffix` of this many labels.
    Wildcard(usize),
    /// A subtree entry for an ancestor of this many labels.
    Subtree(usize),
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    name: u32,
    value: u32,
}

/// The shared, immutable part of a table.
#[derive(Debug, Clone, Default)]
struct Base {
    index: HashTable<u32>,
    slots: Vec<Slot>,
    names: Vec<u8>,
    /// Bit k: some exact or subtree entry has k labels.
    exact_depths: u128,
    /// Bit k: some wildcard entry covers a suffix of k labels.
    wildcard_depths: u128,
    /// Bit k: some subtree entry has k labels.
    subtree_depths: u128,
    /// Removed slots (their value is `u32::MAX`) still in `slots`.
    dead: usize,
}

/// One changed name in the overlay: a new value or a removal.
#[derive(Debug, Clone)]
struct OverlaySlot {
    hash: u64,
    name: Box<[u8]>,
    value: Option<u32>,
}

#[derive(Debug, Clone, Default)]
struct Overlay {
    index: HashTable<OverlaySlot>,
    exact_depths: u128,
    wildcard_depths: u128,
    subtree_depths: u128,
}

/// A set of names with a value each; see the module documentation.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameTable {
    base: Arc<Base>,
    overlay: Option<Arc<Overlay>>,
}

/// The number of labels of a well-formed lower-case wire name, whether its
/// first label is `*`, and its hash.
fn describe(wire: &[u8]) -> Option<(usize, bool, u64)> {
    let prepared = PreparedName::new(wire)?;
    let wildcard = prepared.count > 0 && wire.get(..2) == Some(b"\x01*");
    Some((prepared.count, wildcard, prepared.hash()))
}

fn depth_bit(depth: usize) -> u128 {
    if depth < 128 { 1u128 << depth } else { 0 }
}

fn stored_name(names: &[u8], offset: u32) -> &[u8] {
    let start = offset as usize;
    let mut position = start;
    while let Some(&length) = names.get(position) {
        position += usize::from(length) + 1;
        if length == 0 {
            break;
        }
    }
    &names[start..position.min(names.len())]
}

impl Base {
    fn find(&self, hash: u64, matches: impl Fn(&[u8]) -> bool) -> Option<(u32, &[u8])> {
        let index = self.index.find(hash, |&index| {
            let slot = &self.slots[index as usize];
            slot.hash == hash && matches(stored_name(&self.names, slot.name))
        })?;
        let slot = &self.slots[*index as usize];
        (slot.value != u32::MAX).then(|| (slot.value, stored_name(&self.names, slot.name)))
    }
}

impl Overlay {
    fn find(&self, hash: u64, matches: impl Fn(&[u8]) -> bool) -> Option<&OverlaySlot> {
        self.index
            .find(hash, |slot| slot.hash == hash && matches(&slot.name))
    }
}

/// A table under construction: the base is built in place, without overlay.
pub(crate) struct NameTableBuilder {
    base: Base,
}

impl NameTableBuilder {
    /// A builder with room for about `capacity` names.
    pub fn with_capacity(capacity: usize, average_name_length: usize) -> NameTableBuilder {
        NameTableBuilder {
            base: Base {
                index: HashTable::with_capacity(capacity),
                slots: Vec::with_capacity(capacity),
                names: Vec::with_capacity(capacity.saturating_mul(average_name_length)),
                ..Base::default()
            },
        }
    }

    /// Sets the value of `name` (lower-case wire form, `*.` first for a
    /// wildcard), returning the value it replaces. `false` if the name is
    /// malformed or the value too large.
    pub fn insert(&mut self, name: &[u8], value: u32, subtree: bool) -> Result<Option<u32>, ()> {
        let (depth, wildcard, hash) = describe(name).ok_or(())?;
        if value > MAX_VALUE {
            return Err(());
        }
        let stored_value = if subtree { value | SUBTREE_FLAG } else { value };
        let base = &mut self.base;
        if let Some(&index) = base.index.find(hash, |&index| {
            let slot = &base.slots[index as usize];
            slot.hash == hash && stored_name(&base.names, slot.name).eq_ignore_ascii_case(name)
        }) {
            let slot = &mut base.slots[index as usize];
            let old = slot.value;
            slot.value = stored_value;
            base.mark_depth(depth, wildcard, subtree);
            if old == u32::MAX {
                base.dead -= 1;
                return Ok(None);
            }
            return Ok(Some(old & MAX_VALUE));
        }
        let offset = u32::try_from(base.names.len()).map_err(|_| ())?;
        base.names.extend(name.iter().map(u8::to_ascii_lowercase));
        let index = u32::try_from(base.slots.len()).map_err(|_| ())?;
        base.slots.push(Slot {
            hash,
            name: offset,
            value: stored_value,
        });
        let slots = &base.slots;
        base.index
            .insert_unique(hash, index, |&index| slots[index as usize].hash);
        base.mark_depth(depth, wildcard, subtree);
        Ok(None)
    }

    /// The value of exactly `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        let hash = hash_name(name)?;
        self.base
            .find(hash, |stored| stored.eq_ignore_ascii_case(name))
            .map(|(value, _)| value & MAX_VALUE)
    }

    /// Removes `name`; its slot stays until the next compaction.
    #[cfg(test)]
    pub fn remove(&mut self, name: &[u8]) -> Option<u32> {
        let hash = hash_name(name)?;
        let base = &mut self.base;
        let index = *base.index.find(hash, |&index| {
            let slot = &base.slots[index as usize];
            slot.hash == hash && stored_name(&base.names, slot.name).eq_ignore_ascii_case(name)
        })?;
        let slot = &mut base.slots[index as usize];
        if slot.value == u32::MAX {
            return None;
        }
        let old = slot.value & MAX_VALUE;
        slot.value = u32::MAX;
        base.dead += 1;
        Some(old)
    }

    /// The finished table.
    pub fn finish(mut self) -> NameTable {
        self.base.slots.shrink_to_fit();
        self.base.names.shrink_to_fit();
        NameTable {
            base: Arc::new(self.base),
            overlay: None,
        }
    }
}

impl Base {
    fn mark_depth(&mut self, depth: usize, wildcard: bool, subtree: bool) {
        if wildcard {
            self.wildcard_depths |= depth_bit(depth - 1);
        } else {
            self.exact_depths |= depth_bit(depth);
        }
        if subtree {
            self.subtree_depths |= depth_bit(depth);
        }
    }
}

impl NameTable {
    /// The number of names with a value.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the table holds no names at all.
    pub fn is_empty(&self) -> bool {
        self.base.slots.len() == self.base.dead && self.overlay.is_none()
    }

    /// Looks `name` up: the exact entry first, then the longest wildcard or
    /// subtree entry above it (a wildcard before a subtree entry of the same
    /// length). Allocates nothing.
    pub fn lookup<'t>(&'t self, name: &PreparedName<'_>) -> Option<NameMatch<'t>> {
        let overlay = self.overlay.as_deref();
        let (exact_depths, wildcard_depths, subtree_depths) = match overlay {
            Some(overlay) => (
                self.base.exact_depths | overlay.exact_depths,
                self.base.wildcard_depths | overlay.wildcard_depths,
                self.base.subtree_depths | overlay.subtree_depths,
            ),
            None => (
                self.base.exact_depths,
                self.base.wildcard_depths,
                self.base.subtree_depths,
            ),
        };
        let count = name.count;
        if exact_depths & depth_bit(count) != 0 {
            let suffix = name.suffix(count);
            if let Some((value, stored)) =
                self.probe(name.hash(), |stored| stored.eq_ignore_ascii_case(suffix))
            {
                return Some(NameMatch {
                    value: value & MAX_VALUE,
                    name: stored,
                    kind: MatchKind::Exact,
                });
            }
        }
        for k in (0..count).rev() {
            let bit = depth_bit(k);
            if wildcard_depths & bit != 0 {
                let suffix = name.suffix(k);
                let hash = chain(name.hashes[k], b"*");
                if let Some((value, stored)) = self.probe(hash, |stored| {
                    stored.get(..2) == Some(b"\x01*") && stored[2..].eq_ignore_ascii_case(suffix)
                }) {
                    return Some(NameMatch {
                        value: value & MAX_VALUE,
                        name: stored,
                        kind: MatchKind::Wildcard(k),
                    });
                }
            }
            if subtree_depths & bit != 0 {
                let suffix = name.suffix(k);
                if let Some((value, stored)) =
                    self.probe(name.hashes[k], |stored| stored.eq_ignore_ascii_case(suffix))
                    && value & SUBTREE_FLAG != 0
                {
                    return Some(NameMatch {
                        value: value & MAX_VALUE,
                        name: stored,
                        kind: MatchKind::Subtree(k),
                    });
                }
            }
        }
        None
    }

    /// The value of exactly `name` (lower-case wire form, `*.` for a
    /// wildcard entry), without wildcard or subtree matching.
    pub fn get(&self, name: &[u8]) -> Option<(u32, bool)> {
        let hash = hash_name(name)?;
        self.probe(hash, |stored| stored.eq_ignore_ascii_case(name))
            .map(|(value, _)| (value & MAX_VALUE, value & SUBTREE_FLAG != 0))
    }

    /// The raw value (flag included) of the entry with `hash` whose stored name
    /// satisfies `matches`, the overlay first.
    fn probe(&self, hash: u64, matches: impl Fn(&[u8]) -> bool) -> Option<(u32, &[u8])> {
        if let Some(overlay) = self.overlay.as_deref()
            && let Some(slot) = overlay.find(hash, &matches)
        {
            return slot.value.map(|value| (value, &slot.name[..]));
        }
        self.base.find(hash, matches)
    }

    /// A new generation with `changes` applied: `Some(value, subtree)` sets a
    /// name, `None` removes it. Shares the base with `self`.
    pub fn with_changes(&self, changes: &[NameChange]) -> NameTable {
        let mut overlay = self.overlay.as_deref().cloned().unwrap_or_default();
        for (name, change) in changes {
            let Some((depth, wildcard, hash)) = describe(name) else {
                continue;
            };
            let value = change.map(|(value, subtree)| {
                if subtree {
                    (value & MAX_VALUE) | SUBTREE_FLAG
                } else {
                    value & MAX_VALUE
                }
            });
            if let Some((_, subtree)) = change {
                if wildcard {
                    overlay.wildcard_depths |= depth_bit(depth - 1);
                } else {
                    overlay.exact_depths |= depth_bit(depth);
                }
                if *subtree {
                    overlay.subtree_depths |= depth_bit(depth);
                }
            }
            let lower: Box<[u8]> = name.to_ascii_lowercase().into();
            match overlay.index.entry(
                hash,
                |slot| slot.hash == hash && slot.name == lower,
                |slot| slot.hash,
            ) {
                hashbrown::hash_table::Entry::Occupied(mut entry) => entry.get_mut().value = value,
                hashbrown::hash_table::Entry::Vacant(entry) => {
                    entry.insert(OverlaySlot {
                        hash,
                        name: lower,
                        value,
                    });
                }
            }
        }
        NameTable {
            base: Arc::clone(&self.base),
            overlay: Some(Arc::new(overlay)),
        }
    }

    /// The number of names in the overlay.
    pub fn overlay_len(&self) -> usize {
        self.overlay
            .as_ref()
            .map_or(0, |overlay| overlay.index.len())
    }

    /// The number of live names in the base.
    pub fn base_len(&self) -> usize {
        self.base.slots.len() - self.base.dead
    }

    /// Every live entry: (stored name, value, subtree flag).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u32, bool)> + '_ {
        let overlay = self.overlay.as_deref();
        let base = self.base.slots.iter().filter_map(move |slot| {
            if slot.value == u32::MAX {
                return None;
            }
            let name = stored_name(&self.base.names, slot.name);
            if let Some(overlay) = overlay
                && overlay.find(slot.hash, |stored| stored == name).is_some()
            {
                return None;
            }
            Some((name, slot.value & MAX_VALUE, slot.value & SUBTREE_FLAG != 0))
        });
        let changed = overlay.into_iter().flat_map(|overlay| {
            overlay.index.iter().filter_map(|slot| {
                slot.value
                    .map(|value| (&slot.name[..], value & MAX_VALUE, value & SUBTREE_FLAG != 0))
            })
        });
        base.chain(changed)
    }

    /// The same entries in a fresh base without overlay; `remap` may change
    /// each value (for example to renumber actions).
    pub fn compacted(&self, mut remap: impl FnMut(u32) -> u32) -> NameTable {
        let count = self.base_len() + self.overlay_len();
        let bytes = self.base.names.len() / self.base.slots.len().max(1);
        let mut builder = NameTableBuilder::with_capacity(count, bytes.max(8));
        for (name, value, subtree) in self.iter() {
            // The names come from a table, so they are well formed.
            let _ = builder.insert(name, remap(value), subtree);
        }
        builder.finish()
    }

    /// Heap bytes held by the base (for measurements and metrics).
    pub fn base_heap_bytes(&self) -> usize {
        let buckets = self.base.index.capacity().next_power_of_two() * 8 / 7;
        self.base.slots.capacity() * size_of::<Slot>()
            + self.base.names.capacity()
            + buckets * (size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Name;

    fn wire(text: &str) -> Box<[u8]> {
        Name::from_ascii(text).unwrap().as_wire().into()
    }

    fn lookup(table: &NameTable, text: &str) -> Option<(u32, MatchKind)> {
        let name = wire(text);
        let prepared = PreparedName::new(&name).unwrap();
        table
            .lookup(&prepared)
            .map(|found| (found.value, found.kind))
    }

    fn table(entries: &[(&str, u32, bool)]) -> NameTable {
        let mut builder = NameTableBuilder::with_capacity(entries.len(), 16);
        for &(name, value, subtree) in entries {
            builder.insert(&wire(name), value, subtree).unwrap();
        }
        builder.finish()
    }

    #[test]
    fn hash_ignores_case_and_chains_labels() {
        let lower = PreparedName::new(b"\x03www\x07example\x03com\x00").unwrap();
        let upper = PreparedName::new(b"\x03WWW\x07ExAmPle\x03COM\x00").unwrap();
        assert_eq!(lower.hashes, upper.hashes);
        assert_eq!(
            lower.hashes[2],
            hash_name(b"\x07example\x03com\x00").unwrap()
        );
        assert_ne!(lower.hashes[1], lower.hashes[2]);
    }

    #[test]
    fn malformed_names_are_refused() {
        assert!(PreparedName::new(b"").is_none());
        assert!(PreparedName::new(b"\x05abc").is_none());
        assert!(PreparedName::new(b"\x03abc\x00extra").is_none());
        assert!(PreparedName::new(b"\xc0\x0c").is_none());
        assert_eq!(PreparedName::new(b"\x00").unwrap().label_count(), 0);
    }

    #[test]
    fn exact_beats_wildcard_and_longer_wildcard_beats_shorter() {
        let table = table(&[
            ("example.com", 1, false),
            ("*.example.com", 2, false),
            ("*.sub.example.com", 3, false),
        ]);
        assert_eq!(lookup(&table, "example.com"), Some((1, MatchKind::Exact)));
        assert_eq!(
            lookup(&table, "a.example.com"),
            Some((2, MatchKind::Wildcard(2)))
        );
        assert_eq!(
            lookup(&table, "a.sub.example.com"),
            Some((3, MatchKind::Wildcard(3)))
        );
        assert_eq!(
            lookup(&table, "sub.example.com"),
            Some((2, MatchKind::Wildcard(2)))
        );
        assert_eq!(lookup(&table, "example.org"), None);
        assert_eq!(lookup(&table, "com"), None);
    }

    #[test]
    fn subtree_entries_cover_the_name_and_below() {
        let table = table(&[("ads.example", 7, true), ("example", 9, false)]);
        assert_eq!(lookup(&table, "ads.example"), Some((7, MatchKind::Exact)));
        assert_eq!(
            lookup(&table, "x.y.ads.example"),
            Some((7, MatchKind::Subtree(2)))
        );
        assert_eq!(lookup(&table, "other.example"), None);
    }

    #[test]
    fn root_wildcard_matches_everything_below_the_root() {
        let table = table(&[("*", 4, false)]);
        assert_eq!(
            lookup(&table, "anything.example"),
            Some((4, MatchKind::Wildcard(0)))
        );
    }

    #[test]
    fn overlay_shadows_base_and_compaction_keeps_the_result() {
        let base = table(&[("a.example", 1, false), ("b.example", 2, false)]);
        let changed = base.with_changes(&[
            (wire("a.example"), None),
            (wire("c.example"), Some((3, false))),
            (wire("b.example"), Some((5, true))),
        ]);
        assert_eq!(lookup(&changed, "a.example"), None);
        assert_eq!(lookup(&changed, "c.example"), Some((3, MatchKind::Exact)));
        assert_eq!(
            lookup(&changed, "x.b.example"),
            Some((5, MatchKind::Subtree(2)))
        );
        assert_eq!(lookup(&base, "a.example"), Some((1, MatchKind::Exact)));
        assert_eq!(changed.len(), 2);
        let compact = changed.compacted(|value| value);
        assert_eq!(compact.overlay_len(), 0);
        assert_eq!(
            lookup(&compact, "x.b.example"),
            Some((5, MatchKind::Subtree(2)))
        );
        assert_eq!(lookup(&compact, "a.example"), None);
    }

    #[test]
    fn builder_replaces_and_removes() {
        let mut builder = NameTableBuilder::with_capacity(2, 16);
        assert_eq!(builder.insert(&wire("x.example"), 1, false), Ok(None));
        assert_eq!(builder.insert(&wire("X.EXAMPLE"), 2, false), Ok(Some(1)));
        assert_eq!(builder.get(&wire("x.example")), Some(2));
        assert_eq!(builder.remove(&wire("x.example")), Some(2));
        let table = builder.finish();
        assert!(table.is_empty());
        assert_eq!(lookup(&table, "x.example"), None);
    }
}
