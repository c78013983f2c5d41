//! Proves that the answer cache's hot path allocates nothing: a lookup hit,
//! a lookup miss and `StoredAnswer::write_to` are run under a global
//! allocator that counts the allocations of the current thread.
//!
//! Implementing `GlobalAlloc` needs `unsafe`, which is why this crate's
//! lints deny `unsafe_code` instead of forbidding it (the library itself
//! forbids it in src/lib.rs); it is allowed in this file only.

#![allow(unsafe_code)]

use hanse_cache::{AnswerCache, StoredAnswer};
use hanse_wire::{
    Class, Header, KeyFlags, MessageBuilder, Name, QueryView, Question, RType, Record,
    compose_query,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Delegates to the system allocator and counts allocations per thread, so
/// that other test threads do not disturb the count.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: during thread teardown the counter may be gone.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter is a const-initialised thread-local
// `Cell` without a destructor, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract is passed on to `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, new_size) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn answer_cache_hits_and_misses_allocate_nothing() {
    let owner = Name::from_ascii("www.example.com.").unwrap();
    let header = Header {
        response: true,
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
    let answer = StoredAnswer::new(builder.finish(), ttl_offsets, 100, 400);

    let cache = AnswerCache::new(1 << 20);
    let stored_key = hanse_wire::CacheKey::new(
        owner.as_wire(),
        RType::A,
        Class::IN,
        KeyFlags::new(false, false, false, true),
    )
    .unwrap();
    cache.insert(stored_key.as_bytes(), answer);
    // Some unrelated entries, so the lookups walk a populated table.
    for index in 0..1000u32 {
        let key = format!("other{index}");
        cache.insert(
            key.as_bytes(),
            StoredAnswer::new([0; 12], [0u16; 0], 0, 1000),
        );
    }

    // The queries, as they arrive from clients, in another case.
    let hit_query = compose_query(
        0x4242,
        &Name::from_ascii("WWW.example.COM.").unwrap(),
        RType::A,
        true,
        None,
    );
    let miss_query = compose_query(
        0x4343,
        &Name::from_ascii("nothing.example.com.").unwrap(),
        RType::A,
        true,
        None,
    );
    let mut buffer = [0u8; 1232];

    // Warm up, so that nothing is allocated lazily on first use.
    for _ in 0..2 {
        let view = QueryView::parse(&hit_query).unwrap();
        let answer = cache.get(view.cache_key().as_bytes(), 150).unwrap();
        answer
            .write_to(&mut buffer, view.header.id, view.name_wire(), 150)
            .unwrap();
    }

    let before = allocations();
    let mut served = 0usize;
    for round in 0..10_000u32 {
        let view = QueryView::parse(&hit_query).unwrap();
        let key = view.cache_key();
        let answer = cache.get(key.as_bytes(), 150 + round % 200).unwrap();
        let response = answer
            .write_to(
                &mut buffer,
                view.header.id,
                view.name_wire(),
                150 + round % 200,
            )
            .unwrap();
        served += response.len();

        let view = QueryView::parse(&miss_query).unwrap();
        assert!(cache.get(view.cache_key().as_bytes(), 150).is_none());
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "the hot path allocated {} times",
        after - before
    );
    assert!(served > 0);

    // The counter itself works.
    let before = allocations();
    let boxed = std::hint::black_box(Box::new(7u64));
    drop(boxed);
    assert!(allocations() > before);
}
