//! The answer cache: complete wire responses, ready to be sent again, keyed
//! by the bytes of a [`hanse_wire::CacheKey`] (lower-cased question name,
//! type, class and the query flags that change the answer).
//!
//! This is the hot path. [`AnswerCache::get`] looks entries up by the
//! borrowed key bytes and hands out an `Arc`, and
//! [`StoredAnswer::write_to`] copies the answer into the caller's buffer
//! and patches it in place with [`hanse_wire::answer::patch`] (ID, question
//! case per RFC 4343, TTLs aged by the time spent in the cache, RFC 1035
//! §7.4), so serving a cached answer allocates nothing.
//!
//! # Limitations
//! - One answer per key: the answer does not vary with the client's address
//!   (no EDNS Client Subnet, RFC 7871) or its UDP payload size; the caller
//!   checks the stored answer fits the client's limit.
//! - Aging relies on the caller's list of TTL offsets; TTLs not listed stay
//!   as stored.

use crate::memory::{ARC_HEADER, bounded_map, heap_block, table_slot, weight_of};
use hanse_wire::answer::patch;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use std::sync::Arc;

/// The length of a DNS message header (RFC 1035 §4.1.1).
const HEADER_LENGTH: usize = 12;
/// A guess at the average entry, to size the map's table.
const TYPICAL_ENTRY_BYTES: usize = 512;

/// A complete response in wire form, as stored in the [`AnswerCache`].
///
/// Invariants expected from the producer: `wire` is a whole DNS message
/// whose question starts at byte 12 in uncompressed form; `ttl_offsets` are
/// the offsets of the 4-byte TTL fields to age; `stored_at < expires_at`
/// (otherwise the cache does not keep the answer), both in the caller's
/// seconds, and `expires_at - stored_at` is at most the smallest TTL in the
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The response as sent for the first query.
    pub wire: Box<[u8]>,
    /// Offsets in `wire` of the TTL fields to decrease with age.
    pub ttl_offsets: Box<[u16]>,
    /// When the answer was stored.
    pub stored_at: u32,
    /// When the answer stops being served.
    pub expires_at: u32,
}

impl StoredAnswer {
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
        let length = self.wire.len();
        if length < HEADER_LENGTH {
            return None;
        }
        let stored_name = self
            .wire
            .get(HEADER_LENGTH..HEADER_LENGTH + question_name.len())?;
        if !stored_name.eq_ignore_ascii_case(question_name) {
            return None;
        }
        let response = buffer.get_mut(..length)?;
        response.copy_from_slice(&self.wire);
        let elapsed = now.saturating_sub(self.stored_at);
        patch(response, id, question_name, &self.ttl_offsets, elapsed);
        Some(response)
    }

    /// The estimated bytes this answer holds under `key`.
    fn weight(&self, key: &[u8]) -> u64 {
        let bytes = table_slot::<Box<[u8]>, Arc<StoredAnswer>>()
            + heap_block(key.len())
            + heap_block(ARC_HEADER + size_of::<StoredAnswer>())
            + heap_block(self.wire.len())
            + heap_block(size_of_val::<[u16]>(&self.ttl_offsets));
        weight_of(bytes)
    }
}

/// Weighs answers by their estimated bytes.
#[derive(Clone)]
struct AnswerWeighter;

impl Weighter<Box<[u8]>, Arc<StoredAnswer>> for AnswerWeighter {
    fn weight(&self, key: &Box<[u8]>, answer: &Arc<StoredAnswer>) -> u64 {
        answer.weight(key)
    }
}

/// The cache of ready wire answers. `Send + Sync`, used through `&self`.
///
/// Invariants: an answer is never returned at or after its `expires_at`;
/// the total estimated weight stays at or below the `max_bytes` given to
/// [`AnswerCache::new`]; lookups allocate nothing.
pub struct AnswerCache {
    answers: Cache<Box<[u8]>, Arc<StoredAnswer>, AnswerWeighter>,
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
        AnswerCache {
            answers: bounded_map(max_bytes, TYPICAL_ENTRY_BYTES, AnswerWeighter),
        }
    }

    /// Stores `answer` under `key` (the bytes of a [`hanse_wire::CacheKey`]),
    /// replacing any answer stored under it. An answer that expires when it
    /// is stored (`expires_at <= stored_at`), or that is too large for the
    /// cache, is not kept.
    pub fn insert(&self, key: &[u8], answer: StoredAnswer) {
        if answer.expires_at <= answer.stored_at {
            return;
        }
        self.answers.insert(key.into(), Arc::new(answer));
    }

    /// The answer stored under `key` if it is still valid at `now`
    /// (`now < expires_at`). Allocates nothing on a hit or a miss; an expired
    /// answer is removed.
    pub fn get(&self, key: &[u8], now: u32) -> Option<Arc<StoredAnswer>> {
        let answer = self.answers.get(key)?;
        if now < answer.expires_at {
            return Some(answer);
        }
        drop(answer);
        self.answers
            .remove_if(key, |answer| now >= answer.expires_at);
        None
    }

    /// Forgets the answer stored under `key`.
    pub fn remove(&self, key: &[u8]) {
        self.answers.remove(key);
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
        let ttl_offsets = builder.ttl_offsets().into();
        let key = CacheKey::new(
            owner.as_wire(),
            RType::A,
            Class::IN,
            KeyFlags::new(false, false, false, true),
        )
        .unwrap();
        let answer = StoredAnswer {
            wire: builder.finish().into(),
            ttl_offsets,
            stored_at: now,
            expires_at: now + 300,
        };
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
        let truncated = StoredAnswer {
            wire: vec![0; 5].into(),
            ttl_offsets: Box::new([]),
            stored_at: 0,
            expires_at: 1,
        };
        assert!(truncated.write_to(&mut buffer, 1, &[], 0).is_none());
    }

    #[test]
    fn answers_expire() {
        let cache = AnswerCache::new(1 << 20);
        let (key, answer) = stored_answer("www.example.com.", 1000);
        cache.insert(key.as_bytes(), answer.clone());
        assert_eq!(cache.get(key.as_bytes(), 1000).as_deref(), Some(&answer));
        assert!(cache.get(key.as_bytes(), 1299).is_some());
        assert!(cache.get(key.as_bytes(), 1300).is_none());
        assert!(cache.is_empty(), "the expired answer is removed");
        // An answer with no lifetime is not kept.
        cache.insert(
            key.as_bytes(),
            StoredAnswer {
                expires_at: 1000,
                ..answer
            },
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
            StoredAnswer {
                expires_at: 50,
                ..answer
            },
        );
        assert_eq!(cache.get(key.as_bytes(), 0).unwrap().expires_at, 50);
        cache.remove(key.as_bytes());
        assert!(cache.get(key.as_bytes(), 0).is_none());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.weight(), 0);
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
