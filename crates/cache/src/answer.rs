//! The answer cache: complete wire responses, ready to be sent again, keyed
//! by the bytes of a [`hanse_wire::CacheKey`] (lower-cased question name,
//! type, class and the query flags that change the answer).
//!
//! This is the hot path. [`AnswerCache::get`] hashes the borrowed key bytes,
//! checks the stored key and hands out a [`StoredAnswer`], a reference-counted
//! handle; [`StoredAnswer::write_to`] copies the answer into the caller's
//! buffer and patches it in place with [`hanse_wire::answer::patch`] (ID,
//! question case per RFC 4343) and ages its TTLs by the time spent in the
//! cache (RFC 1035 §7.4), so serving a cached answer allocates nothing.
//!
//! Memory: the map is keyed by a 64-bit hash of the key bytes (see
//! [`crate::key`]); each answer is one heap block holding its times, TTL
//! offsets, key and wire form. When the key is the answer's own question
//! (lower-cased) and a flags byte, as a [`hanse_wire::CacheKey`] is, only the
//! flags byte is stored and the rest is compared against the question.
//!
//! # Limitations
//! - One answer per key: the answer does not vary with the client's address
//!   (no EDNS Client Subnet, RFC 7871) or its UDP payload size; the caller
//!   checks the stored answer fits the client's limit.
//! - Aging relies on the caller's list of TTL offsets; TTLs not listed stay
//!   as stored. At most 65535 offsets are kept.
//! - Keys longer than 32767 bytes are not stored.

use crate::key::KeyHasher;
use crate::memory::{ARC_HEADER, PrehashedKeys, bounded_map, heap_block, table_slot, weight_of};
use crate::statistics::{
    AnswerCacheStatistics, AnswerListing, EvictionCounter, StripedCounter, name_matches,
};
use hanse_wire::answer::patch;
use hanse_wire::{Message, Name, RType, Record};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The length of a DNS message header (RFC 1035 §4.1.1).
const HEADER_LENGTH: usize = 12;
/// A guess at the average entry's weight, to size the number of ghost keys.
const TYPICAL_ENTRY_BYTES: usize = 192;
/// The length of the fixed part of a [`StoredAnswer`]'s block.
const FIXED_LENGTH: usize = 12;
/// The bit of the key field set when the key is derived from the question.
const KEY_FROM_QUESTION: u16 = 0x8000;
/// The longest key stored.
const MAX_KEY_LENGTH: usize = 0x7fff;
/// The bytes of a key after the question name: type, class and flags.
const KEY_TAIL_LENGTH: usize = 5;

/// A complete response in wire form, as stored in the [`AnswerCache`]: a
/// cheap handle (cloning it clones an `Arc`) on one block of memory.
///
/// The block holds, in order: `stored_at` and `expires_at` (little-endian
/// `u32`), the number of TTL offsets and the key field (`u16` each), the TTL
/// offsets, the key (its bytes, or one flags byte when the key field has
/// `KEY_FROM_QUESTION`: the key is then the lower-cased question of the
/// wire form, its type and class, and that byte), and the wire form.
///
/// Invariants expected from the producer: the wire form is a whole DNS
/// message whose question starts at byte 12 in uncompressed form; the TTL
/// offsets are those of the 4-byte TTL fields to age; `stored_at <
/// expires_at` (otherwise the cache does not keep the answer), both in the
/// caller's seconds, and `expires_at - stored_at` is at most the smallest
/// TTL in the answer.
#[derive(Clone)]
pub struct StoredAnswer {
    block: Arc<[u8]>,
}

impl StoredAnswer {
    /// An answer of `wire`, aging the TTL fields at `ttl_offsets`, stored at
    /// `stored_at` and served until `expires_at`. Offsets beyond the first
    /// 65535 are dropped.
    pub fn new(
        wire: impl AsRef<[u8]>,
        ttl_offsets: impl AsRef<[u16]>,
        stored_at: u32,
        expires_at: u32,
    ) -> StoredAnswer {
        let offsets = ttl_offsets.as_ref();
        let offsets = &offsets[..offsets.len().min(usize::from(u16::MAX))];
        StoredAnswer::encode(wire.as_ref(), offsets, stored_at, expires_at, 0, &[])
    }

    /// Builds the block; `key_field` and `key_section` as described on the type.
    fn encode(
        wire: &[u8],
        offsets: &[u16],
        stored_at: u32,
        expires_at: u32,
        key_field: u16,
        key_section: &[u8],
    ) -> StoredAnswer {
        let count = u16::try_from(offsets.len()).unwrap_or(u16::MAX);
        let mut block =
            Vec::with_capacity(FIXED_LENGTH + 2 * offsets.len() + key_section.len() + wire.len());
        block.extend_from_slice(&stored_at.to_le_bytes());
        block.extend_from_slice(&expires_at.to_le_bytes());
        block.extend_from_slice(&count.to_le_bytes());
        block.extend_from_slice(&key_field.to_le_bytes());
        for offset in offsets.iter().take(usize::from(count)) {
            block.extend_from_slice(&offset.to_le_bytes());
        }
        block.extend_from_slice(key_section);
        block.extend_from_slice(wire);
        StoredAnswer {
            block: block.into(),
        }
    }

    /// A little-endian `u16` of the fixed part, 0 if the block is too short.
    fn field_u16(&self, offset: usize) -> u16 {
        match self.block.get(offset..offset + 2) {
            Some(field) => u16::from_le_bytes([field[0], field[1]]),
            None => 0,
        }
    }

    /// A little-endian `u32` of the fixed part, 0 if the block is too short.
    fn field_u32(&self, offset: usize) -> u32 {
        match self.block.get(offset..offset + 4) {
            Some(field) => u32::from_le_bytes([field[0], field[1], field[2], field[3]]),
            None => 0,
        }
    }

    /// When the answer was stored.
    pub fn stored_at(&self) -> u32 {
        self.field_u32(0)
    }

    /// When the answer stops being served.
    pub fn expires_at(&self) -> u32 {
        self.field_u32(4)
    }

    /// The offsets' bytes, the key section and the wire form.
    fn sections(&self) -> (&[u8], &[u8], &[u8]) {
        let count = usize::from(self.field_u16(8));
        let key_field = self.field_u16(10);
        let key_length = if key_field & KEY_FROM_QUESTION != 0 {
            1
        } else {
            usize::from(key_field)
        };
        let rest = self.block.get(FIXED_LENGTH..).unwrap_or_default();
        let (offsets, rest) = rest.split_at(rest.len().min(2 * count));
        let (key, wire) = rest.split_at(rest.len().min(key_length));
        (offsets, key, wire)
    }

    /// The response as sent for the first query.
    pub fn wire(&self) -> &[u8] {
        self.sections().2
    }

    /// The offsets in [`StoredAnswer::wire`] of the TTL fields to decrease with age.
    pub fn ttl_offsets(&self) -> impl Iterator<Item = u16> + '_ {
        self.sections()
            .0
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
    }

    /// The same answer, stored under `key`. `None` if the key is too long.
    fn with_key(&self, key: &[u8]) -> Option<StoredAnswer> {
        if key.len() > MAX_KEY_LENGTH {
            return None;
        }
        let wire = self.wire();
        let offsets: Vec<u16> = self.ttl_offsets().collect();
        let length = u16::try_from(key.len()).ok()?;
        let answer = match key_from_question(key, wire) {
            Some(flags) => StoredAnswer::encode(
                wire,
                &offsets,
                self.stored_at(),
                self.expires_at(),
                length | KEY_FROM_QUESTION,
                &[flags],
            ),
            None => StoredAnswer::encode(
                wire,
                &offsets,
                self.stored_at(),
                self.expires_at(),
                length,
                key,
            ),
        };
        Some(answer)
    }

    /// Whether the answer was stored under exactly `key`.
    fn has_key(&self, key: &[u8]) -> bool {
        let key_field = self.field_u16(10);
        let (_, stored, wire) = self.sections();
        if key_field & KEY_FROM_QUESTION == 0 {
            return stored == key;
        }
        usize::from(key_field & !KEY_FROM_QUESTION) == key.len()
            && key_from_question(key, wire).is_some_and(|flags| stored == [flags])
    }

    /// Copies the answer into `buffer` and patches it for a query with `id`
    /// and the question name `question_name` as the client spelled it,
    /// decreasing TTLs by the seconds since `stored_at`.
    ///
    /// Returns the response bytes, or `None` if `buffer` is too short, the
    /// stored answer is shorter than a header, or `question_name` is not the
    /// stored question name up to case. Allocates nothing.
    pub fn write_to<'b>(
        &self,
        buffer: &'b mut [u8],
        id: u16,
        question_name: &[u8],
        now: u32,
    ) -> Option<&'b [u8]> {
        let (offsets, _, wire) = self.sections();
        let length = wire.len();
        if length < HEADER_LENGTH {
            return None;
        }
        let stored_name = wire.get(HEADER_LENGTH..HEADER_LENGTH + question_name.len())?;
        if stored_name != question_name && !stored_name.eq_ignore_ascii_case(question_name) {
            return None;
        }
        let response = buffer.get_mut(..length)?;
        response.copy_from_slice(wire);
        patch(response, id, question_name, &[], 0);
        let elapsed = now.saturating_sub(self.stored_at());
        if elapsed > 0 {
            for pair in offsets.chunks_exact(2) {
                let offset = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
                let Some(field) = response.get_mut(offset..offset + 4) else {
                    continue;
                };
                let ttl = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
                field.copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
            }
        }
        Some(response)
    }

    /// The question name of the stored answer, uncompressed at byte 12.
    fn question_name(&self) -> Option<&[u8]> {
        let wire = self.wire();
        let question = wire.get(HEADER_LENGTH..)?;
        let mut offset = 0;
        for _ in 0..=128 {
            let length = usize::from(*question.get(offset)?);
            if length == 0 {
                return question.get(..=offset);
            }
            if length >= 64 {
                return None;
            }
            offset += 1 + length;
        }
        None
    }

    /// Whether `matches` accepts the question name, the name the answer was
    /// stored under, or the owner of a record in the answer or authority
    /// section. An answer that cannot be read counts as a match.
    fn mentions(&self, matches: &dyn Fn(&[u8]) -> bool) -> bool {
        let (_, key, wire) = self.sections();
        let Some(question) = self.question_name() else {
            return true;
        };
        if matches(question) {
            return true;
        }
        if self.field_u16(10) & KEY_FROM_QUESTION == 0 {
            // Stored under a key of its own: its name part, if it is one.
            match key.len().checked_sub(KEY_TAIL_LENGTH) {
                Some(length) if Name::from_wire(&key[..length]).is_ok() => {
                    if matches(&key[..length]) {
                        return true;
                    }
                }
                _ => return true,
            }
        }
        let count = |offset: usize| {
            wire.get(offset..offset + 2).map_or(0, |field| {
                usize::from(u16::from_be_bytes([field[0], field[1]]))
            })
        };
        let records = count(6) + count(8);
        let mut offset = HEADER_LENGTH + question.len() + 4;
        for _ in 0..records {
            // Owners written by this server point at the question, already checked.
            if wire.get(offset..offset + 2) == Some(&[0xc0, 0x0c]) {
                offset += 2;
            } else {
                let Ok((owner, next)) = Name::parse_compressed(wire, offset) else {
                    return true;
                };
                if matches(owner.as_wire()) {
                    return true;
                }
                offset = next;
            }
            let Some(data_length) = wire.get(offset + 8..offset + 10) else {
                return true;
            };
            offset += 10 + usize::from(u16::from_be_bytes([data_length[0], data_length[1]]));
        }
        offset > wire.len()
    }

    /// What [`AnswerCache::lookup`] shows of this answer at `now`.
    fn listing(&self, now: u32) -> Option<AnswerListing> {
        let (_, key, wire) = self.sections();
        let message = Message::parse(wire).ok()?;
        let question = message.question()?;
        let key_flags = if self.field_u16(10) & KEY_FROM_QUESTION != 0 {
            *key.first()?
        } else {
            *key.last()?
        };
        let age = now.saturating_sub(self.stored_at());
        let aged = |records: &[Record]| -> Vec<Record> {
            records
                .iter()
                .map(|record| Record {
                    ttl: record.ttl.saturating_sub(age),
                    ..record.clone()
                })
                .collect()
        };
        Some(AnswerListing {
            name: question.name.to_lowercase(),
            rtype: question.rtype,
            class: question.class,
            key_flags,
            rcode: message.rcode(),
            answers: aged(&message.answers),
            authorities: aged(&message.authorities),
            ttl: self.expires_at().saturating_sub(now),
        })
    }

    /// The estimated bytes this answer holds in the map.
    fn weight(&self) -> u64 {
        weight_of(table_slot::<u64, StoredAnswer>() + heap_block(ARC_HEADER + self.block.len()))
    }
}

/// If `key` is the lower-cased question name of `wire`, its type and class
/// and one more byte, that byte.
fn key_from_question(key: &[u8], wire: &[u8]) -> Option<u8> {
    let name_length = key.len().checked_sub(KEY_TAIL_LENGTH)?;
    let question = wire.get(HEADER_LENGTH..HEADER_LENGTH + name_length + 4)?;
    let (name, type_and_class) = question.split_at(name_length);
    let given = &key[..name_length];
    // Most names are stored in lower case already: one comparison of the
    // slices settles those; the byte-by-byte loop only runs for the rest.
    let same_name = name == given
        || name
            .iter()
            .zip(given)
            .all(|(stored, given)| stored.to_ascii_lowercase() == *given);
    (same_name && type_and_class == &key[name_length..name_length + 4])
        .then_some(key[name_length + 4])
}

impl PartialEq for StoredAnswer {
    /// Answers are equal when their wire forms, TTL offsets and times are;
    /// the key they are stored under does not count.
    fn eq(&self, other: &StoredAnswer) -> bool {
        self.stored_at() == other.stored_at()
            && self.expires_at() == other.expires_at()
            && self.sections().0 == other.sections().0
            && self.wire() == other.wire()
    }
}

impl Eq for StoredAnswer {}

impl std::fmt::Debug for StoredAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAnswer")
            .field("wire", &self.wire())
            .field("ttl_offsets", &self.ttl_offsets().collect::<Vec<_>>())
            .field("stored_at", &self.stored_at())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// Weighs answers by their estimated bytes.
#[derive(Clone)]
struct AnswerWeighter;

impl Weighter<u64, StoredAnswer> for AnswerWeighter {
    fn weight(&self, _key: &u64, answer: &StoredAnswer) -> u64 {
        answer.weight()
    }
}

/// The cache of ready wire answers. `Send + Sync`, used through `&self`.
///
/// Invariants: an answer is never returned at or after its `expires_at`, nor
/// under another key than it was stored under; the total estimated weight
/// stays at or below the `max_bytes` given to [`AnswerCache::new`]; lookups
/// allocate nothing.
pub struct AnswerCache {
    hasher: KeyHasher,
    answers: Cache<u64, StoredAnswer, AnswerWeighter, PrehashedKeys, EvictionCounter>,
    evictions: EvictionCounter,
    insertions: StripedCounter,
    flushed: AtomicU64,
    /// Raised by every flush; see [`AnswerCache::insert_unless_flushed`].
    generation: AtomicU64,
    capacity_bytes: u64,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache")
            .field("len", &self.len())
            .field("weight", &self.weight())
            .finish()
    }
}

impl AnswerCache {
    /// An empty cache holding at most about `max_bytes`.
    pub fn new(max_bytes: usize) -> AnswerCache {
        let evictions = EvictionCounter::default();
        AnswerCache {
            hasher: KeyHasher::default(),
            answers: bounded_map(
                max_bytes,
                TYPICAL_ENTRY_BYTES,
                AnswerWeighter,
                evictions.clone(),
            ),
            evictions,
            insertions: StripedCounter::default(),
            flushed: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            capacity_bytes: u64::try_from(max_bytes).unwrap_or(u64::MAX),
        }
    }

    /// Stores `answer` under `key` (the bytes of a [`hanse_wire::CacheKey`]),
    /// replacing any answer stored under it. An answer that expires when it
    /// is stored (`expires_at <= stored_at`), that is too large for the
    /// cache, or whose key is longer than 32767 bytes, is not kept.
    pub fn insert(&self, key: &[u8], answer: StoredAnswer) {
        if answer.expires_at() <= answer.stored_at() {
            return;
        }
        if let Some(answer) = answer.with_key(key) {
            self.answers.insert(self.hasher.bytes(key), answer);
            self.insertions.increment();
        }
    }

    /// The flush generation: raised by every [`AnswerCache::flush`]. Read it
    /// before the work whose result goes to
    /// [`AnswerCache::insert_unless_flushed`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Like [`AnswerCache::insert`], but the answer does not stay if a flush
    /// began since `generation` was read: an answer composed from data read
    /// before a flush never outlives it. Returns whether the answer stayed.
    ///
    /// Either the flush's generation is seen here and the answer is removed
    /// again, or the insertion happened before the flush raised the
    /// generation, so the flush's scan, which follows, finds it.
    pub fn insert_unless_flushed(&self, key: &[u8], answer: StoredAnswer, generation: u64) -> bool {
        self.insert(key, answer);
        if self.generation() != generation {
            self.remove(key);
            return false;
        }
        true
    }

    /// The answer stored under `key` if it is still valid at `now`
    /// (`now < expires_at`). Allocates nothing on a hit or a miss; an expired
    /// answer is removed.
    pub fn get(&self, key: &[u8], now: u32) -> Option<StoredAnswer> {
        let hash = self.hasher.bytes(key);
        let answer = self.answers.get(&hash)?;
        if !answer.has_key(key) {
            return None;
        }
        if now < answer.expires_at() {
            return Some(answer);
        }
        drop(answer);
        self.answers.remove_if(&hash, |answer| {
            now >= answer.expires_at() && answer.has_key(key)
        });
        None
    }

    /// Forgets the answer stored under `key`.
    pub fn remove(&self, key: &[u8]) {
        self.answers
            .remove_if(&self.hasher.bytes(key), |answer| answer.has_key(key));
    }

    /// Forgets every answer.
    pub fn clear(&self) {
        self.answers.clear();
    }

    /// The number of answers held, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// The estimated bytes held.
    pub fn weight(&self) -> u64 {
        self.answers.weight()
    }

    /// The counters and the size now.
    pub fn statistics(&self) -> AnswerCacheStatistics {
        AnswerCacheStatistics {
            insertions: self.insertions.sum(),
            evictions: self.evictions.count(),
            flushed: self.flushed.load(Ordering::Relaxed),
            entries: u64::try_from(self.answers.len()).unwrap_or(u64::MAX),
            bytes: self.answers.weight(),
            capacity_bytes: self.capacity_bytes,
        }
    }

    /// The live answers whose question is `name` (any case) and, if given,
    /// `rtype`, one per set of query flags, TTLs aged to `now`.
    ///
    /// Scans the whole cache (answers are keyed by a hash of the question):
    /// an operator's tool, not for the query path. Each shard is locked for
    /// writing while it is scanned.
    pub fn lookup(&self, name: &Name, rtype: Option<RType>, now: u32) -> Vec<AnswerListing> {
        let found = RefCell::new(Vec::new());
        self.answers.retain(|_, answer| {
            if now < answer.expires_at()
                && let Some(listing) = answer.listing(now)
                && name_matches(listing.name.as_wire(), name.as_wire(), false)
                && rtype.is_none_or(|rtype| rtype == listing.rtype)
            {
                found.borrow_mut().push(listing);
            }
            true
        });
        found.into_inner()
    }

    /// Removes every answer about `name` (any case), or with `subtree` about
    /// `name` and the names below it, and returns how many were removed.
    ///
    /// An answer is about a name if its question is that name or if a record
    /// of its answer or authority section is owned by it: the answer for an
    /// alias that leads to a flushed name goes too. An answer that cannot be
    /// read is removed whatever the name (correctness over keeping it).
    /// Answers being composed while the flush runs are kept out by
    /// [`AnswerCache::insert_unless_flushed`].
    ///
    /// Scans the whole cache, each shard locked for writing while it is
    /// scanned: an operator's tool, not for the query path.
    pub fn flush(&self, name: &Name, subtree: bool) -> usize {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let target = name.as_wire();
        let removed = std::cell::Cell::new(0usize);
        self.answers.retain(|_, answer| {
            let about = answer.mentions(&|candidate| name_matches(candidate, target, subtree));
            if about {
                removed.set(removed.get() + 1);
            }
            !about
        });
        let removed = removed.get();
        self.flushed.fetch_add(
            u64::try_from(removed).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::{
        CacheKey, Class, Header, KeyFlags, Message, MessageBuilder, Name, Question, RType, Record,
    };

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// A response for `owner` A with one record of TTL 300, stored at `now`.
    fn stored_answer(owner: &str, now: u32) -> (CacheKey, StoredAnswer) {
        let owner = name(owner);
        let header = Header {
            response: true,
            authoritative: true,
            ..Header::default()
        };
        let mut builder = MessageBuilder::new(header, 512);
        builder
            .push_question(&Question {
                name: owner.clone(),
                rtype: RType::A,
                class: Class::IN,
            })
            .unwrap();
        let record = Record {
            name: owner.clone(),
            rtype: RType::A,
            class: Class::IN,
            ttl: 300,
            data: vec![192, 0, 2, 1].into(),
        };
        builder.push_answer(&record).unwrap();
        let ttl_offsets = builder.ttl_offsets().to_vec();
        let key = CacheKey::new(
            owner.as_wire(),
            RType::A,
            Class::IN,
            KeyFlags::new(false, false, false, true),
        )
        .unwrap();
        let answer = StoredAnswer::new(builder.finish(), ttl_offsets, now, now + 300);
        (key, answer)
    }

    #[test]
    fn write_to_patches_id_case_and_ttls() {
        let (_, answer) = stored_answer("www.example.com.", 1000);
        let client = name("WwW.ExAmPlE.cOm.");
        let mut buffer = [0u8; 512];
        let response = answer
            .write_to(&mut buffer, 0xbeef, client.as_wire(), 1100)
            .unwrap();
        let parsed = Message::parse(response).unwrap();
        assert_eq!(parsed.header.id, 0xbeef);
        assert_eq!(parsed.questions[0].name.as_wire(), client.as_wire());
        assert_eq!(parsed.answers[0].ttl, 200);
        // The stored copy is untouched.
        let again = answer
            .write_to(&mut buffer, 1, client.as_wire(), 1000)
            .unwrap();
        assert_eq!(Message::parse(again).unwrap().answers[0].ttl, 300);
    }

    #[test]
    fn answers_stored_in_mixed_case_are_found_by_their_lower_case_key() {
        let cache = AnswerCache::new(1 << 20);
        let (key, answer) = stored_answer("WwW.Example.COM.", 0);
        let (lower_key, lower_answer) = stored_answer("www.example.com.", 0);
        assert_eq!(key.as_bytes(), lower_key.as_bytes());
        cache.insert(key.as_bytes(), answer.clone());
        let found = cache
            .get(lower_key.as_bytes(), 1)
            .expect("found in any case");
        assert_eq!(found, answer);
        let mut buffer = [0u8; 512];
        let client = name("www.example.com.");
        let response = found.write_to(&mut buffer, 7, client.as_wire(), 1).unwrap();
        assert_eq!(
            Message::parse(response).unwrap().questions[0]
                .name
                .as_wire(),
            client.as_wire()
        );
        // Stored in lower case, found through the plain comparison.
        cache.insert(lower_key.as_bytes(), lower_answer.clone());
        assert_eq!(cache.get(key.as_bytes(), 1), Some(lower_answer));
        let (other_key, _) = stored_answer("www.example.org.", 0);
        assert!(cache.get(other_key.as_bytes(), 1).is_none());
    }

    #[test]
    fn write_to_refuses_what_does_not_fit() {
        let (_, answer) = stored_answer("www.example.com.", 0);
        let mut small = [0u8; 20];
        assert!(
            answer
                .write_to(&mut small, 1, name("www.example.com.").as_wire(), 0)
                .is_none()
        );
        let mut buffer = [0u8; 512];
        assert!(
            answer
                .write_to(&mut buffer, 1, name("www.example.net.").as_wire(), 0)
                .is_none()
        );
        let long = name("a-much-longer-name.example.com.");
        assert!(answer.write_to(&mut buffer, 1, long.as_wire(), 0).is_none());
        let truncated = StoredAnswer::new([0; 5], [0u16; 0], 0, 1);
        assert!(truncated.write_to(&mut buffer, 1, &[], 0).is_none());
    }

    #[test]
    fn answers_expire() {
        let cache = AnswerCache::new(1 << 20);
        let (key, answer) = stored_answer("www.example.com.", 1000);
        cache.insert(key.as_bytes(), answer.clone());
        assert_eq!(cache.get(key.as_bytes(), 1000), Some(answer.clone()));
        assert!(cache.get(key.as_bytes(), 1299).is_some());
        assert!(cache.get(key.as_bytes(), 1300).is_none());
        assert!(cache.is_empty(), "the expired answer is removed");
        // An answer with no lifetime is not kept.
        cache.insert(
            key.as_bytes(),
            StoredAnswer::new(
                answer.wire(),
                answer.ttl_offsets().collect::<Vec<_>>(),
                1000,
                1000,
            ),
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn remove_clear_and_replace() {
        let cache = AnswerCache::new(1 << 20);
        let (key, answer) = stored_answer("www.example.com.", 0);
        let (other_key, other) = stored_answer("mail.example.com.", 0);
        cache.insert(key.as_bytes(), answer.clone());
        cache.insert(other_key.as_bytes(), other);
        assert_eq!(cache.len(), 2);
        cache.insert(
            key.as_bytes(),
            StoredAnswer::new(
                answer.wire(),
                answer.ttl_offsets().collect::<Vec<_>>(),
                0,
                50,
            ),
        );
        assert_eq!(cache.get(key.as_bytes(), 0).unwrap().expires_at(), 50);
        cache.remove(key.as_bytes());
        assert!(cache.get(key.as_bytes(), 0).is_none());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.weight(), 0);
    }

    #[test]
    fn keys_are_checked_exactly() {
        let cache = AnswerCache::new(1 << 20);
        let (key, answer) = stored_answer("www.example.com.", 0);
        // A CacheKey is derived from the question: only its flags byte is stored.
        let stored = answer.with_key(key.as_bytes()).unwrap();
        assert_eq!(stored.block.len(), answer.block.len() + 1);
        assert_eq!(stored, answer);
        assert!(stored.has_key(key.as_bytes()));
        let mut other_flags = key.as_bytes().to_vec();
        if let Some(flags) = other_flags.last_mut() {
            *flags ^= 1;
        }
        assert!(!stored.has_key(&other_flags));
        assert!(!stored.has_key(&key.as_bytes()[1..]));
        assert!(!stored.has_key(b""));
        // Any other key is stored whole.
        cache.insert(b"arbitrary", answer.clone());
        assert_eq!(cache.get(b"arbitrary", 0), Some(answer));
        assert!(cache.get(b"arbitrarY", 0).is_none());
        // An answer found under another key's hash (a collision) is not served,
        // nor removed in that key's name.
        cache
            .answers
            .insert(cache.hasher.bytes(&other_flags), stored);
        assert!(cache.get(&other_flags, 0).is_none());
        cache.remove(&other_flags);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn eviction_keeps_the_weight_under_the_budget() {
        let max_bytes = 1 << 20;
        let cache = AnswerCache::new(max_bytes);
        for index in 0..100_000u32 {
            let (key, answer) = stored_answer(&format!("host{index}.example."), 0);
            cache.insert(key.as_bytes(), answer);
        }
        assert!(
            cache.weight() <= max_bytes as u64,
            "weight {}",
            cache.weight()
        );
        assert!(cache.len() > 1000, "only {} answers", cache.len());
    }
}
