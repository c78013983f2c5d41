//! The operators' side of both caches: counters, look-up of one name, and
//! flushing a name or a subtree (with answers that only mention the name in
//! a CNAME chain), plus the flush generation that keeps answers composed
//! before a flush out of the cache.

use hanse_cache::{AnswerCache, CacheConfig, ListingKind, RrsetCache, StoredAnswer, Trust};
use hanse_wire::{
    CacheKey, Class, Header, KeyFlags, MessageBuilder, Name, Question, RType, Rcode, Record,
};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn a_record(owner: &str, ttl: u32, last: u8) -> Record {
    Record {
        name: name(owner),
        rtype: RType::A,
        class: Class::IN,
        ttl,
        data: vec![192, 0, 2, last].into(),
    }
}

fn cname(owner: &str, target: &str, ttl: u32) -> Record {
    Record {
        name: name(owner),
        rtype: RType::CNAME,
        class: Class::IN,
        ttl,
        data: name(target).as_wire().to_vec().into(),
    }
}

fn soa(owner: &str) -> Record {
    let mut data = Vec::new();
    data.extend_from_slice(name("ns.example.").as_wire());
    data.extend_from_slice(name("admin.example.").as_wire());
    for field in [1u32, 3600, 600, 86_400, 60] {
        data.extend_from_slice(&field.to_be_bytes());
    }
    Record {
        name: name(owner),
        rtype: RType::SOA,
        class: Class::IN,
        ttl: 60,
        data: data.into(),
    }
}

fn rrset_cache() -> RrsetCache {
    RrsetCache::new(CacheConfig {
        max_bytes: 1 << 20,
        ..CacheConfig::default()
    })
}

/// The answer the server would store for `question`/`rtype` with `answers`,
/// and its key.
fn answer(question: &str, rtype: RType, answers: &[Record], now: u32) -> (CacheKey, StoredAnswer) {
    let header = Header {
        response: true,
        recursion_desired: true,
        recursion_available: true,
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 65535);
    builder
        .push_question(&Question {
            name: name(question),
            rtype,
            class: Class::IN,
        })
        .unwrap();
    for record in answers {
        builder.push_answer(record).unwrap();
    }
    let offsets = builder.ttl_offsets().to_vec();
    let key = CacheKey::new(
        name(question).as_wire(),
        rtype,
        Class::IN,
        KeyFlags::new(false, false, false, true),
    )
    .unwrap();
    let stored = StoredAnswer::new(builder.finish(), offsets, now, now + 300);
    (key, stored)
}

#[test]
fn rrset_counters_follow_lookups_insertions_and_evictions() {
    let cache = rrset_cache();
    let www = name("www.example.");
    assert!(cache.get(&www, RType::A, 0).is_none());
    assert!(cache.insert(
        &[a_record("www.example.", 300, 1)],
        Trust::AnswerAuthoritative,
        0
    ));
    assert!(cache.get(&www, RType::A, 10).is_some());
    assert!(cache.get(&www, RType::A, 20).is_some());
    cache.insert_negative(&name("gone.example."), None, Some(soa("example.")), true, 0);
    assert!(
        cache
            .get_negative(&name("gone.example."), RType::A, 1)
            .is_some()
    );
    assert!(
        cache
            .get_negative(&name("other.example."), RType::A, 1)
            .is_none()
    );
    cache.insert_failure(&name("bad.example."), RType::A, 0);
    assert!(cache.get_failure(&name("bad.example."), RType::A, 1));
    let statistics = cache.statistics();
    assert_eq!(statistics.hits, 2);
    assert_eq!(statistics.misses, 1);
    assert_eq!(statistics.negative_hits, 1);
    assert_eq!(statistics.failure_hits, 1);
    assert_eq!(statistics.insertions, 3);
    assert_eq!(statistics.entries, 3);
    assert_eq!(statistics.evictions, 0);
    assert!(statistics.bytes > 0 && statistics.bytes <= statistics.capacity_bytes);

    // A small cache filled far past its budget evicts, and says so.
    let small = RrsetCache::new(CacheConfig {
        max_bytes: 64 << 10,
        ..CacheConfig::default()
    });
    for index in 0..5000u32 {
        small.insert(
            &[a_record(&format!("host{index}.example."), 300, 1)],
            Trust::AnswerAuthoritative,
            0,
        );
    }
    let statistics = small.statistics();
    assert_eq!(statistics.insertions, 5000);
    assert!(statistics.evictions > 0, "{statistics:?}");
    assert!(
        statistics.entries + statistics.evictions >= 5000 - 10,
        "{statistics:?}"
    );
}

#[test]
fn rrset_lookup_lists_every_entry_of_a_name() {
    let cache = rrset_cache();
    cache.insert(
        &[
            a_record("www.example.", 300, 1),
            a_record("www.example.", 300, 2),
        ],
        Trust::AnswerAuthoritative,
        100,
    );
    cache.insert_negative(
        &name("www.example."),
        Some(RType::AAAA),
        Some(soa("example.")),
        false,
        100,
    );
    cache.insert_failure(&name("www.example."), RType::MX, 100);
    cache.insert(
        &[a_record("mail.example.", 300, 3)],
        Trust::AnswerAuthoritative,
        100,
    );

    // The failure lives for five seconds (the default servfail_ttl).
    let mut all = cache.lookup(&name("WWW.example."), None, 103);
    all.sort_by_key(|listing| listing.rtype.0);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[0].kind, ListingKind::Rrset);
    assert_eq!(all[0].records.len(), 2);
    assert_eq!(all[0].ttl, 297);
    assert!(all[0].records.iter().all(|record| record.ttl == 297));
    assert_eq!(all[0].trust, Trust::AnswerAuthoritative);
    assert_eq!(all[1].kind, ListingKind::Failure);
    assert_eq!(all[1].rtype, RType::MX);
    assert_eq!(all[2].kind, ListingKind::NoData);
    assert_eq!(all[2].records[0].rtype, RType::SOA);
    assert_eq!(all[2].ttl, 57);

    let only_a = cache.lookup(&name("www.example."), Some(RType::A), 150);
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].kind, ListingKind::Rrset);
    assert!(
        cache
            .lookup(&name("nothing.example."), None, 150)
            .is_empty()
    );
    // Expired entries are not listed.
    assert!(
        cache
            .lookup(&name("www.example."), Some(RType::A), 400)
            .is_empty()
    );
    // Looking does not count as hits or misses.
    assert_eq!(cache.statistics().hits + cache.statistics().misses, 0);
}

#[test]
fn rrset_flush_removes_a_name_or_its_subtree() {
    let cache = rrset_cache();
    for owner in [
        "example.",
        "www.example.",
        "a.b.example.",
        "example.net.",
        "notexample.",
    ] {
        cache.insert(&[a_record(owner, 300, 1)], Trust::AnswerAuthoritative, 0);
    }
    cache.insert_negative(&name("gone.example."), None, None, true, 0);
    assert_eq!(cache.flush(&name("WWW.example."), false), 1);
    assert!(cache.get(&name("www.example."), RType::A, 1).is_none());
    assert!(cache.get(&name("example."), RType::A, 1).is_some());
    assert_eq!(cache.flush(&name("example."), true), 3);
    for gone in ["example.", "a.b.example."] {
        assert!(cache.get(&name(gone), RType::A, 1).is_none(), "{gone}");
    }
    assert!(
        cache
            .get_negative(&name("gone.example."), RType::A, 1)
            .is_none()
    );
    for kept in ["example.net.", "notexample."] {
        assert!(cache.get(&name(kept), RType::A, 1).is_some(), "{kept}");
    }
    assert_eq!(cache.statistics().flushed, 4);
    assert_eq!(cache.len(), 2);
}

#[test]
fn answer_lookup_and_flush_cover_questions_and_chains() {
    let cache = AnswerCache::new(1 << 20);
    let (www_key, www) = answer(
        "www.example.",
        RType::A,
        &[a_record("www.example.", 300, 1)],
        0,
    );
    let (alias_key, alias) = answer(
        "alias.example.net.",
        RType::A,
        &[
            cname("alias.example.net.", "cdn.example.", 300),
            a_record("cdn.example.", 300, 2),
        ],
        0,
    );
    let (other_key, other) = answer(
        "www.example.org.",
        RType::A,
        &[a_record("www.example.org.", 300, 3)],
        0,
    );
    for (key, stored) in [(&www_key, &www), (&alias_key, &alias), (&other_key, &other)] {
        cache.insert(key.as_bytes(), stored.clone());
    }
    assert_eq!(cache.statistics().insertions, 3);
    assert_eq!(cache.statistics().entries, 3);

    let found = cache.lookup(&name("WWW.Example."), None, 100);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, name("www.example."));
    assert_eq!(found[0].rtype, RType::A);
    assert_eq!(found[0].rcode, Rcode::NOERROR);
    assert_eq!(found[0].ttl, 200);
    assert_eq!(found[0].answers[0].ttl, 200);
    assert_eq!(
        found[0].key_flags,
        KeyFlags::new(false, false, false, true).0
    );
    assert!(
        cache
            .lookup(&name("www.example."), Some(RType::AAAA), 100)
            .is_empty()
    );

    // Flushing cdn.example. removes the alias's answer, which carries its data.
    assert_eq!(cache.flush(&name("cdn.example."), false), 1);
    assert!(cache.get(alias_key.as_bytes(), 1).is_none());
    assert!(cache.get(www_key.as_bytes(), 1).is_some());
    // A subtree flush of example. takes www.example. but not example.org.
    assert_eq!(cache.flush(&name("example."), true), 1);
    assert!(cache.get(www_key.as_bytes(), 1).is_none());
    assert!(cache.get(other_key.as_bytes(), 1).is_some());
    assert_eq!(cache.statistics().flushed, 2);
}

#[test]
fn answers_composed_before_a_flush_do_not_stay() {
    let cache = AnswerCache::new(1 << 20);
    let (key, stored) = answer(
        "www.example.",
        RType::A,
        &[a_record("www.example.", 300, 1)],
        0,
    );
    let generation = cache.generation();
    assert!(cache.insert_unless_flushed(key.as_bytes(), stored.clone(), generation));
    assert!(cache.get(key.as_bytes(), 1).is_some());
    let before = cache.generation();
    // A flush of an unrelated name still raises the generation.
    cache.flush(&name("elsewhere."), true);
    assert!(!cache.insert_unless_flushed(key.as_bytes(), stored, before));
    assert!(cache.get(key.as_bytes(), 1).is_none());
}
