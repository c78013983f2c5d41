//! The service's counters, the query observer and the cache flush, through
//! a running server with real sockets and a simulated hierarchy of
//! authoritative servers (hanse-testnet).
//!
//! Addresses (this file's own range, 127.54.0.0/16): each test has its own
//! hierarchy, the root server on 127.54.N.1:53 and the server of `example.`
//! on 127.54.N.2:53 (N = 0 for the first test, 2 for the second); the server
//! under test listens on 127.54.1.1 (first test) and 127.54.1.2 (second
//! test), on ports the kernel picks.

use hanse_cache::{AnswerCache, CacheConfig, RrsetCache};
use hanse_policy::{Feed, PolicySet, ProfileSpec};
use hanse_resolve::{DnssecConfig, MonotonicClock, NetworkTransport, Resolver, ResolverConfig};
use hanse_server::{
    AccessList, QueryEvent, QueryObserver, Server, ServerConfig, Settings, Transport,
};
use hanse_testnet::client::{exchange, query};
use hanse_testnet::{ServerSpec, TestNet, Zone};
use hanse_wire::{Header, Name, RType, Rcode, compose_query};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(3);

/// What the test observer keeps of an event.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: Name,
    qtype: RType,
    rcode: Rcode,
    transport: Transport,
    dropped: bool,
    from_cache: bool,
    profile: Option<String>,
    policy: Option<(String, String, String)>,
    elapsed: Duration,
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

impl QueryObserver for Recorder {
    fn observe(&self, event: &QueryEvent<'_>) {
        let name = if event.qname_wire.is_empty() {
            Name::root()
        } else {
            Name::from_wire(event.qname_wire).expect("a name")
        };
        self.seen.lock().expect("not poisoned").push(Seen {
            name,
            qtype: event.qtype,
            rcode: event.rcode,
            transport: event.transport,
            dropped: event.dropped,
            from_cache: event.from_cache,
            profile: event.profile.map(str::to_owned),
            policy: event.policy.map(|note| {
                (
                    note.feed.to_owned(),
                    note.action.to_owned(),
                    note.rule.to_owned(),
                )
            }),
            elapsed: event.elapsed,
        });
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// Waits (bounded) until `count` events have arrived.
    fn wait_for(&self, count: usize) -> Vec<Seen> {
        let deadline = Instant::now() + TIMEOUT;
        while self.seen().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.seen()
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("a name")
}

/// The address of server `host` (1: root, 2: `example.`) of hierarchy `net`.
fn server_address(net: u8, host: u8) -> SocketAddr {
    SocketAddr::from(([127, 54, net, host], 53))
}

/// The root and `example.` on 127.54.`net`.1 and .2.
fn hierarchy(net: u8) -> TestNet {
    let root = Zone::parse(
        ".",
        &format!(
            "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
             a.root. A 127.54.{net}.1\nexample. NS ns.example.\nns.example. A 127.54.{net}.2\n"
        ),
    )
    .expect("the root zone");
    let example = Zone::parse(
        "example.",
        &format!(
            "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.54.{net}.2\n\
             www A 192.0.2.1\nalias CNAME www\nhost.sub A 192.0.2.2\n"
        ),
    )
    .expect("the example zone");
    TestNet::start(vec![
        ServerSpec::new(server_address(net, 1), vec![root]),
        ServerSpec::new(server_address(net, 2), vec![example]),
    ])
    .expect("the hierarchy starts")
}

/// A policy that answers `blocked.example.` NXDOMAIN and drops
/// `dropped.example.` (QNAME triggers, decided before resolution).
fn policy() -> Arc<PolicySet> {
    let origin = name("rpz.test.");
    let text = "$TTL 60\n@ SOA localhost. root.localhost. 5 3600 600 86400 60\n\
                @ NS localhost.\nblocked.example CNAME .\ndropped.example CNAME rpz-drop.\n";
    let records = hanse_zone::parse_zone(text, &origin, 60).expect("the zone parses");
    let (feed, problems) = Feed::from_rpz("test-feed", &origin, &records);
    assert!(problems.is_empty(), "{problems:?}");
    Arc::new(
        PolicySet::build(
            vec![ProfileSpec::new("home", &["test-feed"])],
            vec![],
            vec![feed],
        )
        .expect("the policy builds"),
    )
}

/// A running server, shut down when dropped.
struct Running {
    server: Option<Server>,
    address: SocketAddr,
    resolver: Arc<Resolver<NetworkTransport>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown(Duration::from_secs(1));
        }
    }
}

impl Running {
    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }
}

fn start(
    listen: [u8; 4],
    net: u8,
    observer: Option<Arc<dyn QueryObserver>>,
    with_policy: bool,
) -> Running {
    let hints = vec![(name("a.root."), vec![server_address(net, 1).ip()])];
    let mut config = ResolverConfig::recursive(hints);
    // The simulated hierarchy lives on loopback addresses; its root is
    // unsigned, so no trust anchor applies.
    config.query_private_upstreams = true;
    config.dnssec = DnssecConfig::with_anchors(Vec::new());
    let resolver = Arc::new(Resolver::new(
        config,
        Arc::new(RrsetCache::new(CacheConfig::default())),
        NetworkTransport::new(),
        Arc::new(MonotonicClock::new()),
    ));
    let settings = Settings {
        access: AccessList::new(vec![(IpAddr::from([127, 0, 0, 0]), 8)]),
        edns_buffer_size: 1232,
        servfail_ttl: 5,
        policy: with_policy.then(policy),
        extra_text: true,
        notify: None,
        transfer: None,
        observer,
        proxy_protocol_from: AccessList::default(),
        rate_limit: Default::default(),
        cookies: Default::default(),
    };
    let config = ServerConfig {
        listen: vec![SocketAddr::new(IpAddr::from(listen), 0)],
        threads: 1,
        tcp_idle_timeout: Duration::from_secs(2),
        max_tcp_connections: 16,
        max_tcp_connections_per_client: 4,
    };
    let server = Server::start(
        &config,
        settings,
        Arc::clone(&resolver),
        Arc::new(AnswerCache::new(1 << 20)),
    )
    .expect("the server starts");
    let address = server.local_addresses()[0];
    Running {
        server: Some(server),
        address,
        resolver,
    }
}

fn ask(server: SocketAddr, text: &str, rtype: RType, transport: hanse_testnet::Transport) -> Rcode {
    query(server, &name(text), rtype, transport, TIMEOUT)
        .expect("an answer")
        .rcode()
}

#[test]
fn counters_and_the_observer_see_every_query() {
    let net = hierarchy(0);
    let recorder = Arc::new(Recorder::default());
    let running = start(
        [127, 54, 1, 1],
        0,
        Some(Arc::clone(&recorder) as Arc<dyn QueryObserver>),
        true,
    );
    let udp = hanse_testnet::Transport::Udp;
    let tcp = hanse_testnet::Transport::Tcp;

    // 1: a miss, resolved upstream; 2: the same again, from the answer cache.
    assert_eq!(
        ask(running.address, "www.example.", RType::A, udp),
        Rcode::NOERROR
    );
    assert_eq!(
        ask(running.address, "WWW.example.", RType::A, udp),
        Rcode::NOERROR
    );
    // 3: blocked by the policy.
    assert_eq!(
        ask(running.address, "blocked.example.", RType::A, udp),
        Rcode::NXDOMAIN
    );
    // 4: dropped by the policy: no answer comes.
    let dropped = compose_query(4242, &name("dropped.example."), RType::A, true, None);
    assert!(exchange(running.address, &dropped, udp, Duration::from_millis(500)).is_err());
    // 5: malformed: a question cut short.
    let mut malformed = compose_query(4343, &name("www.example."), RType::A, true, None);
    malformed.truncate(malformed.len() - 3);
    let response = exchange(running.address, &malformed, udp, TIMEOUT).expect("an answer");
    assert_eq!(Header::parse(&response).expect("a header").rcode, 1);
    // 6: NODATA over TCP.
    assert_eq!(
        ask(running.address, "www.example.", RType::AAAA, tcp),
        Rcode::NOERROR
    );
    // 7: a packet that is not a query (QR set) makes no event.
    let mut response_packet = compose_query(4444, &name("www.example."), RType::A, true, None);
    response_packet[2] |= 0x80;
    assert!(
        exchange(
            running.address,
            &response_packet,
            udp,
            Duration::from_millis(200)
        )
        .is_err()
    );

    let seen = recorder.wait_for(6);
    assert_eq!(seen.len(), 6, "one event per query: {seen:#?}");
    let home = Some("home".to_owned());
    assert_eq!(
        (seen[0].name.clone(), seen[0].qtype),
        (name("www.example."), RType::A)
    );
    assert!(!seen[0].from_cache && !seen[0].dropped);
    assert_eq!(seen[0].rcode, Rcode::NOERROR);
    assert_eq!(seen[0].transport, Transport::Udp);
    assert_eq!(seen[0].profile, home);
    assert!(seen[0].elapsed > Duration::ZERO);
    // The hot path hands over the name as the client spelled it.
    assert_eq!(seen[1].name.as_wire(), name("WWW.example.").as_wire());
    assert!(seen[1].from_cache && !seen[1].dropped);
    assert_eq!(seen[1].profile, home);
    assert_eq!(seen[2].rcode, Rcode::NXDOMAIN);
    let (feed, action, rule) = seen[2].policy.clone().expect("a policy note");
    assert_eq!((feed.as_str(), action.as_str()), ("test-feed", "nxdomain"));
    assert!(
        rule.contains("QNAME") && rule.contains("blocked.example"),
        "{rule}"
    );
    assert_eq!(seen[3].name, name("dropped.example."));
    assert!(seen[3].dropped);
    assert_eq!(
        seen[3].policy.as_ref().map(|note| note.1.as_str()),
        Some("drop")
    );
    assert_eq!(seen[4].rcode, Rcode::FORMERR);
    assert_eq!(seen[4].qtype, RType(0), "the question could not be read");
    assert_eq!(seen[5].transport, Transport::Tcp);
    assert_eq!(
        (seen[5].qtype, seen[5].rcode),
        (RType::AAAA, Rcode::NOERROR)
    );

    let snapshot = running.server().statistics().snapshot();
    assert_eq!(
        snapshot.queries_by_transport,
        vec![
            (Transport::Udp, 6),
            (Transport::Tcp, 1),
            (Transport::Tls, 0),
            (Transport::Https, 0),
            (Transport::Quic, 0)
        ]
    );
    assert_eq!(snapshot.hot_path_answers, 1);
    assert_eq!(snapshot.slow_path_answers, 3, "www A, blocked, www AAAA");
    assert_eq!(snapshot.answer_cache_hits, 1);
    // www A (first), blocked, dropped, www AAAA: the malformed query never
    // reached the cache.
    assert_eq!(snapshot.answer_cache_misses, 4);
    assert_eq!(snapshot.responses_by_rcode[0], 3);
    assert_eq!(snapshot.responses_by_rcode[1], 1);
    assert_eq!(snapshot.responses_by_rcode[3], 1);
    assert_eq!(snapshot.responses_other_rcode, 0);
    assert_eq!(
        snapshot.queries_by_type[0],
        ("A", 4),
        "www twice, blocked, dropped"
    );
    assert_eq!(snapshot.queries_by_type[1], ("AAAA", 1));
    assert_eq!(snapshot.dropped_by_policy, 1);
    assert_eq!(snapshot.dropped_malformed, 1, "the packet with QR set");
    assert_eq!(snapshot.dropped_overload, 0);
    assert_eq!(snapshot.totals.malformed, 1);
    assert_eq!(snapshot.resolution_time.count(), 3);
    assert!(snapshot.resolution_time.sum_microseconds > 0);
    let hits: Vec<(&str, &str, &str, u64)> = snapshot
        .policy_hits
        .iter()
        .map(|hit| {
            (
                hit.feed.as_str(),
                hit.profile.as_str(),
                hit.action,
                hit.count,
            )
        })
        .collect();
    // Sorted by feed, profile, action.
    assert_eq!(
        hits,
        vec![
            ("test-feed", "home", "drop", 1),
            ("test-feed", "home", "nxdomain", 1)
        ]
    );

    // The resolver counted its upstream queries, per server.
    let upstream = running.resolver.upstream_statistics();
    assert!(upstream.udp_queries >= 2, "{upstream:?}");
    assert_eq!(upstream.timeouts, 0);
    let example = server_address(0, 2);
    let row = upstream
        .servers
        .iter()
        .find(|(address, _)| *address == example)
        .map(|(_, row)| *row)
        .expect("the example server has a row");
    assert!(
        row.queries >= 1 && row.rtt.count() == row.queries,
        "{row:?}"
    );
    let received = net.server(&example.to_string()).queries().len() as u64;
    assert_eq!(
        row.queries, received,
        "every query the server saw was counted"
    );
}

#[test]
fn a_flush_sends_the_next_query_upstream() {
    let net = hierarchy(2);
    let running = start([127, 54, 1, 2], 2, None, false);
    let udp = hanse_testnet::Transport::Udp;
    let example = net.server(&server_address(2, 2).to_string());
    let asked = |text: &str| {
        example
            .queries()
            .iter()
            .filter(|query| query.name == name(text))
            .count()
    };
    for text in ["www.example.", "alias.example.", "host.sub.example."] {
        assert_eq!(ask(running.address, text, RType::A, udp), Rcode::NOERROR);
    }
    let before = asked("host.sub.example.");
    assert!(before >= 1);
    // Cached: asking again goes nowhere.
    assert_eq!(
        ask(running.address, "host.sub.example.", RType::A, udp),
        Rcode::NOERROR
    );
    assert_eq!(asked("host.sub.example."), before);

    // One name: its answer, and the alias's answer that carries its data, go.
    let www_before = asked("www.example.");
    let counts = running.server().flush(&name("www.example."), false);
    assert!(counts.rrsets >= 1 && counts.answers == 2, "{counts:?}");
    assert_eq!(
        ask(running.address, "alias.example.", RType::A, udp),
        Rcode::NOERROR
    );
    assert_eq!(
        asked("www.example."),
        www_before + 1,
        "www.example. asked again"
    );
    assert_eq!(asked("host.sub.example."), before, "the rest stays cached");

    // A subtree: everything under sub.example. goes, in both caches.
    let counts = running.server().flush(&name("sub.example."), true);
    assert!(counts.rrsets >= 1 && counts.answers >= 1, "{counts:?}");
    assert!(
        running
            .resolver
            .cache()
            .lookup(&name("host.sub.example."), None, running.resolver.now())
            .is_empty()
    );
    assert_eq!(
        ask(running.address, "host.sub.example.", RType::A, udp),
        Rcode::NOERROR
    );
    assert_eq!(asked("host.sub.example."), before + 1);
    let statistics = running.resolver.cache().statistics();
    assert!(
        statistics.flushed >= 2 && statistics.insertions > 0,
        "{statistics:?}"
    );
}
