//! Serve-stale (RFC 8767) and prefetch, against real authoritative servers
//! (hanse-testnet) over real sockets, with a manual clock for the TTLs.
//!
//! Addresses (this file's own range, 127.69.0.0/16): test N has the root
//! server on 127.69.N.1:53 and the server of `example.` on 127.69.N.2:53;
//! N is 1 to 6, one per harness, so the tests run in parallel without sharing
//! a server.

use hanse_cache::{CacheConfig, RrsetCache};
use hanse_resolve::{
    ExtendedError, ManualClock, NetworkTransport, Resolution, Resolver, ResolverConfig,
};
use hanse_testnet::{AuthServer, Behaviour, ServerSpec, Zone};
use hanse_wire::{Name, RType, Rcode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long expired RRsets are kept in these tests, in seconds.
const MAX_STALE: u32 = 1000;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn address(net: u8, host: u8) -> SocketAddr {
    SocketAddr::from(([127, 69, net, host], 53))
}

fn root_zone(net: u8) -> Zone {
    Zone::parse(
        ".",
        &format!(
            "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
             a.root. A 127.69.{net}.1\nexample. NS ns.example.\nns.example. A 127.69.{net}.2\n"
        ),
    )
    .expect("the root zone")
}

fn example_zone(net: u8) -> Zone {
    Zone::parse(
        "example.",
        &format!(
            "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.69.{net}.2\n\
             www A 192.0.2.1\nalias CNAME www\n"
        ),
    )
    .expect("the example zone")
}

/// A resolver over a two-server hierarchy, its clock and a runtime that
/// stays up between queries, so that background work goes on.
struct Harness {
    net: u8,
    root: AuthServer,
    leaf: Option<AuthServer>,
    resolver: Arc<Resolver<NetworkTransport>>,
    clock: ManualClock,
    runtime: tokio::runtime::Runtime,
}

fn harness(net: u8, configure: impl FnOnce(&mut ResolverConfig)) -> Harness {
    let root = AuthServer::start(ServerSpec::new(address(net, 1), vec![root_zone(net)]))
        .expect("the root server starts");
    let leaf = AuthServer::start(ServerSpec::new(address(net, 2), vec![example_zone(net)]))
        .expect("the example server starts");
    let mut config = ResolverConfig::recursive(vec![(name("a.root."), vec![address(net, 1).ip()])]);
    config.query_private_upstreams = true;
    config.dnssec = hanse_resolve::DnssecConfig::with_anchors(Vec::new());
    config.limits.upstream_timeout = Duration::from_millis(200);
    config.limits.max_resolution_time = Duration::from_secs(3);
    configure(&mut config);
    let clock = ManualClock::default();
    clock.0.store(1, Ordering::Relaxed);
    let cache = RrsetCache::new(CacheConfig {
        max_stale: MAX_STALE,
        ..CacheConfig::default()
    });
    let resolver = Resolver::new_shared(
        config,
        Arc::new(cache),
        NetworkTransport::new(),
        Arc::new(clock.clone()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    Harness {
        net,
        root,
        leaf: Some(leaf),
        resolver,
        clock,
        runtime,
    }
}

impl Harness {
    fn resolve(&self, text: &str, rtype: RType) -> Resolution {
        self.runtime
            .block_on(self.resolver.resolve(&name(text), rtype))
    }

    fn advance(&self, seconds: u32) {
        self.clock.0.fetch_add(seconds, Ordering::Relaxed);
    }

    /// Replaces the server of `example.` by one on the same address that
    /// behaves as told.
    fn replace_leaf(&mut self, behaviour: Behaviour) {
        drop(self.leaf.take());
        let spec = ServerSpec::new(address(self.net, 2), vec![example_zone(self.net)])
            .with_behaviour(behaviour);
        self.leaf = Some(AuthServer::start(spec).expect("the replacement server starts"));
    }

    fn leaf(&self) -> &AuthServer {
        self.leaf.as_ref().expect("a leaf server")
    }

    /// The queries for `www.example.` A the server of `example.` received.
    fn www_queries(&self) -> usize {
        self.leaf()
            .queries()
            .iter()
            .filter(|query| query.name == name("www.example.") && query.rtype == RType::A)
            .count()
    }

    /// Drives the runtime (background work) for up to `limit`, until
    /// `done` holds; returns whether it did.
    fn wait_for(&self, limit: Duration, done: impl Fn(&Harness) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done(self) {
                return true;
            }
            self.runtime
                .block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
        }
        done(self)
    }
}

fn assert_stale(resolution: &Resolution) {
    assert_eq!(resolution.rcode, Rcode::NOERROR, "{resolution:?}");
    assert_eq!(
        resolution.extended_error,
        Some(ExtendedError::STALE_ANSWER),
        "{resolution:?}"
    );
    assert_eq!(resolution.extended_error.as_ref().unwrap().code, 3);
    assert!(!resolution.answers.is_empty());
    assert!(
        resolution.answers.iter().all(|record| record.ttl == 30),
        "{resolution:?}"
    );
    assert!(resolution.is_stale());
}

#[test]
fn a_dead_server_gets_stale_answers_until_max_stale() {
    let mut harness = harness(1, |config| {
        config.stale.client_response_timeout = Duration::ZERO;
    });
    let fresh = harness.resolve("www.example.", RType::A);
    assert_eq!(fresh.rcode, Rcode::NOERROR);
    assert_eq!(fresh.answers[0].ttl, 300);
    assert_eq!(fresh.extended_error, None);
    let alias = harness.resolve("alias.example.", RType::A);
    assert_eq!(alias.answers.len(), 2, "{alias:?}");

    harness.advance(400);
    harness.replace_leaf(Behaviour::Silent);
    let stale = harness.resolve("www.example.", RType::A);
    assert_stale(&stale);
    assert_eq!(stale.answers, {
        let mut expected = fresh.answers;
        expected.iter_mut().for_each(|record| record.ttl = 30);
        expected
    });
    assert!(harness.www_queries() > 0, "the dead server was asked first");
    // The CNAME chain is served stale as a whole.
    let stale_alias = harness.resolve("alias.example.", RType::A);
    assert_stale(&stale_alias);
    assert_eq!(stale_alias.answers.len(), 2);
    assert_eq!(stale_alias.answers[0].rtype, RType::CNAME);
    // Again, from the cached failure: still stale.
    assert_stale(&harness.resolve("www.example.", RType::A));

    // Past max_stale the data is gone: SERVFAIL.
    harness.advance(MAX_STALE);
    let gone = harness.resolve("www.example.", RType::A);
    assert_eq!(gone.rcode, Rcode::SERVFAIL, "{gone:?}");
    assert!(!gone.is_stale());
    assert!(gone.answers.is_empty());
}

#[test]
fn without_serve_stale_a_dead_server_means_servfail() {
    let mut harness = harness(2, |config| config.stale.serve_stale = false);
    assert_eq!(
        harness.resolve("www.example.", RType::A).rcode,
        Rcode::NOERROR
    );
    harness.advance(400);
    harness.replace_leaf(Behaviour::Silent);
    let failed = harness.resolve("www.example.", RType::A);
    assert_eq!(failed.rcode, Rcode::SERVFAIL, "{failed:?}");
    assert!(failed.answers.is_empty());
    assert!(harness.www_queries() > 0);
}

#[test]
fn a_slow_server_gets_a_stale_answer_and_the_cache_is_refreshed() {
    let mut harness = harness(3, |config| {
        config.stale.client_response_timeout = Duration::from_millis(100);
        config.limits.upstream_timeout = Duration::from_millis(1500);
    });
    assert_eq!(
        harness.resolve("www.example.", RType::A).rcode,
        Rcode::NOERROR
    );
    harness.advance(400);
    harness.replace_leaf(Behaviour::Delay(Duration::from_millis(600)));
    let started = Instant::now();
    let stale = harness.resolve("www.example.", RType::A);
    assert_stale(&stale);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the stale answer did not wait for the server: {:?}",
        started.elapsed()
    );
    // The resolution went on in the background and refreshed the cache.
    let refreshed = harness.wait_for(Duration::from_secs(5), |harness| {
        harness
            .resolver
            .cache()
            .get(&name("www.example."), RType::A, harness.resolver.now())
            .is_some()
    });
    assert!(refreshed, "the background resolution refreshed the cache");
    let fresh = harness.resolve("www.example.", RType::A);
    assert_eq!(fresh.rcode, Rcode::NOERROR);
    assert_eq!(fresh.extended_error, None);
    assert_eq!(fresh.answers[0].ttl, 300);
}

#[test]
fn hits_near_expiry_prefetch_once_and_keep_the_answer_cached() {
    let harness = harness(4, |config| {
        config.stale.client_response_timeout = Duration::ZERO;
    });
    assert_eq!(
        harness.resolve("www.example.", RType::A).answers[0].ttl,
        300
    );
    assert_eq!(harness.www_queries(), 1);
    // Far from expiry, hits do nothing.
    harness.resolve("www.example.", RType::A);
    harness.resolve("www.example.", RType::A);
    // 25 seconds left of 300: below 10%. The first hit near expiry only
    // notes the question.
    harness.advance(275);
    let first = harness.resolve("www.example.", RType::A);
    assert_eq!(first.answers[0].ttl, 25);
    assert!(!harness.wait_for(Duration::from_millis(300), |harness| {
        harness.www_queries() > 1
    }));
    // The second starts a refresh in the background; the hit does not wait.
    let second = harness.resolve("www.example.", RType::A);
    assert_eq!(second.answers[0].ttl, 25);
    assert!(
        harness.wait_for(Duration::from_secs(5), |harness| harness.www_queries() > 1),
        "the server saw the prefetch before the expiry"
    );
    assert!(harness.wait_for(Duration::from_secs(5), |harness| {
        harness
            .resolver
            .cache()
            .get(&name("www.example."), RType::A, harness.resolver.now())
            .is_some_and(|cached| cached.ttl == 300)
    }));
    assert_eq!(harness.www_queries(), 2, "one refresh only");
    // After the old expiry the answer is still a cache hit.
    harness.advance(35);
    let later = harness.resolve("www.example.", RType::A);
    assert_eq!(later.rcode, Rcode::NOERROR);
    assert_eq!(later.extended_error, None);
    assert_eq!(later.answers[0].ttl, 265);
    assert_eq!(harness.www_queries(), 2, "answered from the cache");
    assert!(harness.root.queries().len() < 10);
}

#[test]
fn the_answer_cache_lifetime_leaves_room_for_prefetch() {
    let prefetching = harness(5, |_| {});
    assert_eq!(prefetching.resolver.answer_cache_lifetime(300), 270);
    assert_eq!(prefetching.resolver.answer_cache_lifetime(0), 0);
    let plain = harness(6, |config| config.stale.prefetch = false);
    assert_eq!(plain.resolver.answer_cache_lifetime(300), 300);
}
