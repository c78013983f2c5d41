//! Instruction counts of the cache-hit hot path, measured with callgrind
//! through gungraun: one cached answer as the server serves it —
//! [`QueryView::parse`], the cache key, [`AnswerCache::get`] and
//! [`StoredAnswer::write_to`] (copy, then patch ID, question case and TTLs,
//! RFC 1035 §4.1.1, RFC 4343, RFC 1035 §7.4).
//!
//! Run with `bench/callgrind.sh` (or `cargo bench -p hanse-server --bench
//! hot_path`), which needs valgrind and `gungraun-runner` of the same
//! version as the `gungraun` dev-dependency. Instruction counts do not
//! depend on the machine's load, so a change in review shows as a change in
//! the count.
//!
//! # Limitations
//! - Counts instructions of the user-space code only: the system calls that
//!   receive and send the packet (most of the cost of a hit, see the floor
//!   row of `bench/run.sh`) are not in it.
//! - The handler's own steps around the hot path (header parse, access list)
//!   are not included; the fixture holds one cached answer. The
//!   `counted_answer` rows add what the handler counts per hit (the
//!   per-worker counters of transport, type and response code) and its check
//!   for a query observer (none configured).

// gungraun's attribute macros expand to fully qualified paths.
#![allow(unused_qualifications)]

use gungraun::{library_benchmark, library_benchmark_group, main};
use hanse_cache::{AnswerCache, StoredAnswer};
use hanse_server::{QueryObserver, Transport, WorkerCounters};
use hanse_wire::QueryView;
use std::hint::black_box;
use std::sync::Arc;

/// Seconds since the answer was stored when it is served.
const AGE: u32 = 10;

/// The question the fixture answers, in wire form.
const NAME: &[u8] = b"\x05h0042\x04z017\x05bench\x00";

/// The cache, the query and the output buffer of one measurement.
struct Fixture {
    cache: AnswerCache,
    query: Vec<u8>,
    buffer: Vec<u8>,
}

/// A query for `NAME` type A as `dnsperf` sends it (RD set), with an OPT
/// record (DO clear, 1232 bytes) if `edns`.
fn query(edns: bool) -> Vec<u8> {
    let mut packet = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    // The client spells the name in mixed case: the answer must copy it.
    packet.extend(NAME.iter().map(|byte| {
        if byte.is_ascii_lowercase() && byte % 2 == 0 {
            byte.to_ascii_uppercase()
        } else {
            *byte
        }
    }));
    packet.extend_from_slice(&[0, 1, 0, 1]);
    if edns {
        packet.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    packet
}

/// A cache holding the answer to `query(edns)`: one A record, TTL 86400
/// (plus an OPT record when the query had one).
fn fixture(edns: bool) -> Fixture {
    let query = query(edns);
    let view = QueryView::parse(&query).expect("a well-formed query");
    let key = view.cache_key();
    let mut wire = vec![0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, u8::from(edns)];
    wire.extend_from_slice(NAME);
    wire.extend_from_slice(&[0, 1, 0, 1]);
    let ttl_offset = wire.len() + 6;
    wire.extend_from_slice(&[
        0xc0, 0x0c, 0, 1, 0, 1, 0, 1, 0x51, 0x80, 0, 4, 127, 100, 17, 43,
    ]);
    if edns {
        wire.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    let cache = AnswerCache::new(64 << 20);
    cache.insert(
        key.as_bytes(),
        StoredAnswer::new(
            wire,
            [u16::try_from(ttl_offset).expect("a short answer")],
            0,
            86_400,
        ),
    );
    assert!(
        cache.get(key.as_bytes(), AGE).is_some(),
        "the fixture is cached"
    );
    Fixture {
        cache,
        query,
        buffer: vec![0; 65_535],
    }
}

/// The hot path of `answer_from_cache`: parse, key, look up, write.
fn serve_cached(fixture: &mut Fixture) -> usize {
    let Some(view) = QueryView::parse(&fixture.query) else {
        return 0;
    };
    let Some(stored) = fixture.cache.get(view.cache_key().as_bytes(), AGE) else {
        return 0;
    };
    stored
        .write_to(&mut fixture.buffer, view.header.id, view.name_wire(), AGE)
        .map_or(0, <[u8]>::len)
}

// The fixture is returned so that dropping it is not counted.
#[library_benchmark]
#[bench::dnsperf_query(fixture(false))]
#[bench::edns_query(fixture(true))]
fn cached_answer(mut fixture: Fixture) -> (usize, Fixture) {
    let length = serve_cached(black_box(&mut fixture));
    assert!(length > 0, "the answer was served from the cache");
    (black_box(length), fixture)
}

/// The hot path as [`serve_cached`], with the handler's counting and its
/// observer check.
fn serve_counted(
    fixture: &mut Fixture,
    counters: &WorkerCounters,
    observer: Option<&Arc<dyn QueryObserver>>,
) -> usize {
    counters.count_query(Transport::Udp);
    let Some(view) = QueryView::parse(&fixture.query) else {
        return 0;
    };
    let Some(stored) = fixture.cache.get(view.cache_key().as_bytes(), AGE) else {
        return 0;
    };
    let Some(reply) = stored.write_to(&mut fixture.buffer, view.header.id, view.name_wire(), AGE)
    else {
        return 0;
    };
    counters.count_hot_path_answer(view.rtype, reply[3] & 0x0f);
    if observer.is_some() {
        return 0;
    }
    reply.len()
}

/// The fixture and the counters of one worker (boxed: moving them is not
/// what is measured).
fn counted_fixture(edns: bool) -> (Fixture, Box<WorkerCounters>) {
    (fixture(edns), Box::default())
}

#[library_benchmark]
#[bench::dnsperf_query(counted_fixture(false))]
#[bench::edns_query(counted_fixture(true))]
fn counted_answer(
    (mut fixture, counters): (Fixture, Box<WorkerCounters>),
) -> (usize, Fixture, Box<WorkerCounters>) {
    let length = serve_counted(
        black_box(&mut fixture),
        black_box(&counters),
        black_box(None),
    );
    assert!(length > 0, "the answer was served from the cache");
    (black_box(length), fixture, counters)
}

library_benchmark_group!(
    name = hot_path,
    benchmarks = [cached_answer, counted_answer]
);
main!(library_benchmark_groups = hot_path);
