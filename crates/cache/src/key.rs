//! Keys of both caches: a 64-bit keyed hash of what identifies an entry.
//!
//! The maps store only the hash; the value keeps the identity itself (owner
//! name, type and kind for the RRset cache, the key bytes or what they are
//! derived from for the answer cache), and every lookup compares it exactly
//! before using the value. Two identities with one hash therefore never
//! return each other's data: they only compete for one slot, the later
//! insertion replacing the earlier one.
//!
//! The hash is seeded at random per cache (quick_cache's default hasher,
//! foldhash), so outsiders cannot aim for collisions. RRset keys fold the
//! owner name to lower case while hashing (RFC 4343: names compare without
//! regard to ASCII case), so lookups in any case allocate nothing.
//!
//! # Limitations
//! - Only ASCII letters fold (RFC 4343 §3); other octets compare exactly.
//! - Colliding identities evict each other; at 64 bits with a random seed
//!   that is expected about once in 2^64 / n² pairs of n entries.

use hanse_wire::RType;
use quick_cache::DefaultHashBuilder;
use std::hash::{BuildHasher, Hasher};

/// What an entry of the RRset cache records about its owner name and type.
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

impl EntryKind {
    /// The kind's number in a stored entry.
    pub(crate) fn code(self) -> u8 {
        match self {
            EntryKind::Rrset => 0,
            EntryKind::NoData => 1,
            EntryKind::NameError => 2,
            EntryKind::Failure => 3,
        }
    }

    /// The kind of a number from [`EntryKind::code`]; only the low two bits count.
    pub(crate) fn from_code(code: u8) -> EntryKind {
        match code & 3 {
            0 => EntryKind::Rrset,
            1 => EntryKind::NoData,
            2 => EntryKind::NameError,
            _ => EntryKind::Failure,
        }
    }
}

/// The seeded hash function of one cache.
#[derive(Clone, Default)]
pub(crate) struct KeyHasher {
    seed: DefaultHashBuilder,
}

impl KeyHasher {
    /// The hash of an RRset-cache entry; `name` in any case.
    pub(crate) fn entry(&self, name: &[u8], rtype: RType, kind: EntryKind) -> u64 {
        let mut state = self.seed.build_hasher();
        state.write_usize(name.len());
        // Eight lower-cased bytes at a time: no buffer to clear or copy.
        for chunk in name.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            word.make_ascii_lowercase();
            state.write_u64(u64::from_le_bytes(word));
        }
        state.write_u16(rtype.0);
        state.write_u8(kind.code());
        state.finish()
    }

    /// The hash of an answer-cache key, taken byte for byte.
    pub(crate) fn bytes(&self, key: &[u8]) -> u64 {
        let mut state = self.seed.build_hasher();
        state.write_usize(key.len());
        state.write(key);
        state.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Name;

    #[test]
    fn names_hash_alike_in_any_case() {
        let hasher = KeyHasher::default();
        let lower = Name::from_ascii("www.example.com.").unwrap();
        let mixed = Name::from_ascii("WwW.ExAmple.COM.").unwrap();
        let key = hasher.entry(lower.as_wire(), RType::A, EntryKind::Rrset);
        assert_eq!(
            key,
            hasher.entry(mixed.as_wire(), RType::A, EntryKind::Rrset)
        );
        assert_ne!(
            key,
            hasher.entry(lower.as_wire(), RType::AAAA, EntryKind::Rrset)
        );
        assert_ne!(
            key,
            hasher.entry(lower.as_wire(), RType::A, EntryKind::NoData)
        );
        // Another cache hashes differently.
        assert_ne!(
            key,
            KeyHasher::default().entry(lower.as_wire(), RType::A, EntryKind::Rrset)
        );
    }

    #[test]
    fn kinds_survive_their_codes() {
        for kind in [
            EntryKind::Rrset,
            EntryKind::NoData,
            EntryKind::NameError,
            EntryKind::Failure,
        ] {
            assert_eq!(EntryKind::from_code(kind.code()), kind);
        }
    }
}
