//! A stateful fuzz target of the resolution engine: the resolver iterates
//! from a root hint while a `Transport` double answers each upstream query
//! with the next response taken from the fuzz input. Whatever the
//! responses, a resolution must end (no panic, no hang), send no more
//! upstream queries than `Limits::max_upstream_queries` per client query,
//! and give an outcome the server can compose.
//!
//! Input: byte 0 picks the question type, byte 1 the settings (QNAME
//! minimisation, DNSSEC validation, a second resolution that may be answered
//! from the cache); then responses, each a 2-byte length and that many
//! bytes. A response's first byte says whether to overwrite its ID with
//! the query's (bit 0) and whether to put the query's question after its
//! 12-byte header (bit 1), so that the fuzzer gets past the ID and question
//! checks of `response_matches`, which the double applies as the network
//! transport does. When the responses run out, every query times out.

#![no_main]

use hanse_cache::{CacheConfig, RrsetCache};
use hanse_resolve::{
    DnssecConfig, ManualClock, QnameMinimisation, Resolver, ResolverConfig, Transport,
    TransportError, UpstreamQuery, response_matches,
};
use hanse_wire::{Name, RType};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

const TYPES: [RType; 8] = [
    RType::A,
    RType::AAAA,
    RType::NS,
    RType::CNAME,
    RType::MX,
    RType::TXT,
    RType::DS,
    RType::DNSKEY,
];

struct Scripted {
    responses: Mutex<VecDeque<Vec<u8>>>,
    sent: AtomicU32,
}

/// The handle the resolver owns; the target keeps another to count queries.
struct Shared(Arc<Scripted>);

impl Transport for Shared {
    async fn exchange(&self, query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
        let scripted = &self.0;
        scripted.sent.fetch_add(1, Ordering::Relaxed);
        let Some(mut response) = scripted.responses.lock().expect("not poisoned").pop_front()
        else {
            return Err(TransportError::Timeout);
        };
        let Some((&mode, _)) = response.split_first() else {
            return Err(TransportError::Malformed);
        };
        response.remove(0);
        if mode & 2 != 0 && response.len() >= 12 {
            // The query's question section: after its header, up to any OPT record.
            let question_end = 12 + query.name.as_wire().len() + 4;
            let question = &query.message[12..question_end];
            response[4..6].copy_from_slice(&1u16.to_be_bytes());
            response.splice(12..12, question.iter().copied());
        }
        if mode & 1 != 0 && response.len() >= 2 {
            response[..2].copy_from_slice(&query.id.to_be_bytes());
        }
        if !response_matches(&response, query.id, query.name, query.rtype) {
            // The network transport ignores it and waits until the deadline.
            return Err(TransportError::Timeout);
        }
        Ok(response)
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, settings, rest @ ..] = data else {
        return;
    };
    let mut responses = VecDeque::new();
    let mut input = rest;
    while let [high, low, tail @ ..] = input {
        let length = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        responses.push_back(tail[..length].to_vec());
        input = &tail[length..];
    }
    let transport = Arc::new(Scripted {
        responses: Mutex::new(responses),
        sent: AtomicU32::new(0),
    });
    let hints = vec![(
        Name::from_ascii("a.root.").expect("valid"),
        vec!["127.88.200.1".parse().expect("valid")],
    )];
    let mut config = ResolverConfig::recursive(hints);
    config.query_private_upstreams = true;
    config.qname_minimisation = match settings % 3 {
        0 => QnameMinimisation::Off,
        1 => QnameMinimisation::Relaxed,
        _ => QnameMinimisation::Strict,
    };
    config.dnssec = if settings & 4 != 0 {
        DnssecConfig::with_anchors(Vec::new())
    } else {
        DnssecConfig::disabled()
    };
    let limit = config.limits.max_upstream_queries;
    let clock = ManualClock::default();
    clock.0.store(1_700_000_000, Ordering::Relaxed);
    let resolver = Resolver::new(
        config,
        Arc::new(RrsetCache::new(CacheConfig::default())),
        Shared(Arc::clone(&transport)),
        Arc::new(clock),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let rtype = TYPES[usize::from(*selector) % TYPES.len()];
    let names = if settings & 8 != 0 {
        &["www.example.", "www.example."][..]
    } else {
        &["www.example."][..]
    };
    for text in names {
        let name = Name::from_ascii(text).expect("valid");
        let before = transport.sent.load(Ordering::Relaxed);
        let resolution = runtime.block_on(resolver.resolve(&name, rtype));
        let sent = transport.sent.load(Ordering::Relaxed) - before;
        assert!(
            sent <= limit,
            "{sent} upstream queries for one resolution, limit {limit}"
        );
        let _ = resolution.rcode;
    }
});
