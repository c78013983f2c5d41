//! Keys of the RRset cache: the owner name in lower case (RFC 4343: names
//! compare without regard to ASCII case), the record type and the kind of
//! entry.
//!
//! [`EntryKey`] owns its lower-cased name; [`EntryKeyView`] borrows a name in
//! any case and finds the same entry, so lookups allocate nothing. Both hash
//! through [`hash_parts`], which folds case while hashing.
//!
//! # Limitations
//! - Only ASCII letters fold (RFC 4343 §3); other octets compare exactly.

use hanse_wire::{Name, RType};
use quick_cache::Equivalent;
use std::hash::{Hash, Hasher};

/// What an entry records about its owner name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A positive RRset.
    Rrset,
    /// NODATA: the name exists but has no RRset of the type (RFC 2308 §2.2).
    NoData,
    /// NXDOMAIN: the name does not exist, whatever the type (RFC 2308 §2.1).
    /// Stored with type 0.
    NameError,
    /// Resolution failed recently (RFC 2308 §7.1, RFC 9520).
    Failure,
}

/// The owned key of an entry, with the name folded to lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryKey {
    name: Box<[u8]>,
    rtype: RType,
    kind: EntryKind,
}

impl EntryKey {
    /// The key of `kind` for `name` and `rtype`.
    pub(crate) fn new(name: &Name, rtype: RType, kind: EntryKind) -> EntryKey {
        EntryKey {
            name: name.as_wire().to_ascii_lowercase().into_boxed_slice(),
            rtype,
            kind,
        }
    }

    /// The bytes of the lower-cased name held on the heap.
    pub(crate) fn name_length(&self) -> usize {
        self.name.len()
    }
}

impl Hash for EntryKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(&self.name, self.rtype, self.kind, state);
    }
}

/// A borrowed key: the name keeps whatever case it has.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryKeyView<'a> {
    name: &'a [u8],
    rtype: RType,
    kind: EntryKind,
}

impl<'a> EntryKeyView<'a> {
    /// The key of `kind` for `name` and `rtype`, borrowing the name.
    pub(crate) fn new(name: &'a Name, rtype: RType, kind: EntryKind) -> EntryKeyView<'a> {
        EntryKeyView {
            name: name.as_wire(),
            rtype,
            kind,
        }
    }
}

impl Hash for EntryKeyView<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(self.name, self.rtype, self.kind, state);
    }
}

impl Equivalent<EntryKey> for EntryKeyView<'_> {
    fn equivalent(&self, key: &EntryKey) -> bool {
        self.rtype == key.rtype
            && self.kind == key.kind
            && self.name.eq_ignore_ascii_case(&key.name)
    }
}

/// Hashes a key's parts, folding the name to lower case on a stack buffer.
/// Owned and borrowed keys must both hash through here to agree.
fn hash_parts<H: Hasher>(name: &[u8], rtype: RType, kind: EntryKind, state: &mut H) {
    let mut buffer = [0u8; 256];
    state.write_usize(name.len());
    for chunk in name.chunks(buffer.len()) {
        let folded = &mut buffer[..chunk.len()];
        folded.copy_from_slice(chunk);
        folded.make_ascii_lowercase();
        state.write(folded);
    }
    state.write_u16(rtype.0);
    state.write_u8(kind as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of(value: &impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn views_in_any_case_match_the_owned_key() {
        let lower = Name::from_ascii("www.example.com.").unwrap();
        let mixed = Name::from_ascii("WwW.ExAmple.COM.").unwrap();
        let key = EntryKey::new(&mixed, RType::A, EntryKind::Rrset);
        assert_eq!(key, EntryKey::new(&lower, RType::A, EntryKind::Rrset));
        for name in [&lower, &mixed] {
            let view = EntryKeyView::new(name, RType::A, EntryKind::Rrset);
            assert!(view.equivalent(&key));
            assert_eq!(hash_of(&view), hash_of(&key));
        }
        assert!(!EntryKeyView::new(&lower, RType::AAAA, EntryKind::Rrset).equivalent(&key));
        assert!(!EntryKeyView::new(&lower, RType::A, EntryKind::NoData).equivalent(&key));
    }
}
