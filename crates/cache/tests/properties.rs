//! Property tests of the caches: the trust rule of RFC 2181 §5.4.1 holds
//! for any sequence of insertions, and no input makes the caches or
//! `StoredAnswer::write_to` panic.

use hanse_cache::{AnswerCache, CacheConfig, RrsetCache, StoredAnswer, Trust};
use hanse_wire::{Class, Name, RType, Record};
use proptest::prelude::*;

fn trust_strategy() -> impl Strategy<Value = Trust> {
    prop_oneof![
        Just(Trust::Additional),
        Just(Trust::AuthorityReferral),
        Just(Trust::AnswerNonAuthoritative),
        Just(Trust::AuthorityAuthoritative),
        Just(Trust::AnswerAuthoritative),
    ]
}

proptest! {
    /// After any sequence of insertions at increasing times, the cached RRset
    /// is the last insertion that was allowed to replace its predecessor, and
    /// `insert` reports exactly those.
    #[test]
    fn trust_rule_holds(steps in prop::collection::vec((trust_strategy(), 0u32..100, 0u32..50, any::<u32>()), 1..40),
                        min_ttl in 0u32..20, max_ttl in 0u32..200) {
        let cache = RrsetCache::new(CacheConfig { min_ttl, max_ttl, ..CacheConfig::default() });
        let owner = Name::from_ascii("prop.example.").unwrap();
        let mut now = 0u32;
        // The model: (trust, expires_at, data) of the cached RRset.
        let mut model: Option<(Trust, u32, u32)> = None;
        for (trust, ttl, advance, data) in steps {
            now += advance;
            let record = Record { name: owner.clone(), rtype: RType::TXT, class: Class::IN, ttl, data: data.to_be_bytes().into() };
            let effective = ttl.max(min_ttl).min(max_ttl);
            let live = model.filter(|&(_, expires_at, _)| now < expires_at);
            let expected = effective > 0 && live.is_none_or(|(cached, _, _)| trust >= cached);
            prop_assert_eq!(cache.insert(&[record], trust, now), expected);
            if expected {
                model = Some((trust, now + effective, data));
            }
            let found = cache.get(&owner, RType::TXT, now);
            match model.filter(|&(_, expires_at, _)| now < expires_at) {
                Some((trust, expires_at, data)) => {
                    let found = found.expect("a live RRset is found");
                    prop_assert_eq!(found.trust, trust);
                    prop_assert_eq!(found.ttl, expires_at - now);
                    prop_assert_eq!(&*found.records[0].data, &data.to_be_bytes()[..]);
                }
                None => prop_assert!(found.is_none()),
            }
        }
    }

    /// Arbitrary answers, question names and buffers never panic `write_to`,
    /// and a returned response is the stored length.
    #[test]
    fn write_to_never_panics(wire in prop::collection::vec(any::<u8>(), 0..80),
                             offsets in prop::collection::vec(any::<u16>(), 0..8),
                             question in prop::collection::vec(any::<u8>(), 0..40),
                             buffer_length in 0usize..100, stored_at: u32, now: u32, id: u16) {
        let answer = StoredAnswer::new(&wire, &offsets, stored_at, stored_at.saturating_add(1));
        let mut buffer = vec![0u8; buffer_length];
        if let Some(response) = answer.write_to(&mut buffer, id, &question, now) {
            prop_assert_eq!(response.len(), wire.len());
            prop_assert_eq!(&response[..2], &id.to_be_bytes()[..]);
        }
        let cache = AnswerCache::new(4096);
        cache.insert(&question, answer);
        let _ = cache.get(&question, now);
    }

    /// Negative entries with arbitrary SOA data never panic and never report
    /// a TTL above the configured maximum.
    #[test]
    fn negative_ttls_stay_bounded(soa_data in prop::collection::vec(any::<u8>(), 0..40), soa_ttl: u32,
                                  nxdomain: bool, negative_max_ttl in 0u32..5000) {
        let cache = RrsetCache::new(CacheConfig { negative_max_ttl, ..CacheConfig::default() });
        let owner = Name::from_ascii("neg.example.").unwrap();
        let soa = Record { name: owner.clone(), rtype: RType::SOA, class: Class::IN, ttl: soa_ttl, data: soa_data.into() };
        cache.insert_negative(&owner, Some(RType::A), Some(soa), nxdomain, 7);
        if let Some(entry) = cache.get_negative(&owner, RType::A, 7) {
            prop_assert!(entry.ttl > 0 && entry.ttl <= negative_max_ttl);
            prop_assert_eq!(entry.nxdomain, nxdomain);
        }
    }
}
