//! Fuzzes `QueryView::parse`: it must never panic, and when `Message::parse`
//! accepts the same packet, both must agree on the question, the EDNS fields
//! and the cache key.
//!
//! Known difference, not asserted here: the view does not check the option
//! list inside the OPT record, so it accepts some queries that
//! `Message::parse` rejects as `BadOpt`.

#![no_main]

use hanse_wire::{CacheKey, KeyFlags, Message, QueryView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|packet: &[u8]| {
    let Some(view) = QueryView::parse(packet) else {
        return;
    };
    let key = view.cache_key();
    assert!(view.udp_limit() >= 512);
    assert_eq!(view.question_bytes().len(), view.name_wire().len() + 4);
    let Ok(message) = Message::parse(packet) else {
        return;
    };
    assert_eq!(message.questions.len(), 1);
    assert_eq!(view.header, message.header);
    let question = &message.questions[0];
    assert_eq!(view.name_wire(), question.name.as_wire());
    assert_eq!((view.rtype, view.class), (question.rtype, question.class));
    let edns = message.edns.as_ref();
    assert_eq!(view.edns_udp_size, edns.map(|edns| edns.udp_size));
    assert_eq!(view.edns_version, edns.map_or(0, |edns| edns.version));
    assert_eq!(view.dnssec_ok, edns.is_some_and(|edns| edns.dnssec_ok));
    let flags = KeyFlags::new(
        edns.is_some(),
        edns.is_some_and(|edns| edns.dnssec_ok),
        message.header.checking_disabled,
        message.header.recursion_desired,
    )
    .with_authentic_data(message.header.authentic_data);
    let expected = CacheKey::new(question.name.as_wire(), question.rtype, question.class, flags)
        .expect("a parsed name fits a key");
    assert_eq!(key.as_bytes(), expected.as_bytes());
});
