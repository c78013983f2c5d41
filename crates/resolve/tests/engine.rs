//! Tests of the resolution engine without sockets: a simulated transport
//! answers from in-memory zones (hanse-testnet's authoritative logic) or
//! from scripted closures, and records every query. Time is a manual clock.

use hanse_cache::{CacheConfig, RrsetCache};
use hanse_resolve::{
    ExtendedError, ManualClock, Protocol, QnameMinimisation, Resolution, Resolver, ResolverConfig,
    ResolverMode, Transport, TransportError, UpstreamQuery, ZoneServers,
};
use hanse_testnet::{Answer, Zone, answer_question};
use hanse_wire::{Class, Header, Message, MessageBuilder, Name, RType, Rcode, Record};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

type Script = Box<dyn Fn(&Message) -> Option<Answer> + Send + Sync>;

/// A query as the simulated network saw it.
#[derive(Debug, Clone)]
struct Sent {
    server: SocketAddr,
    name: Name,
    recursion_desired: bool,
}

#[derive(Default)]
struct SimulatedTransport {
    servers: HashMap<SocketAddr, Script>,
    sent: Mutex<Vec<Sent>>,
}

impl SimulatedTransport {
    fn zone_server(self, server: &str, zones: Vec<Zone>) -> Self {
        self.scripted(
            server,
            Box::new(move |query: &Message| {
                let question = query.question()?;
                Some(answer_question(&zones, &question.name, question.rtype))
            }),
        )
    }

    fn scripted(mut self, server: &str, script: Script) -> Self {
        self.servers.insert(address(server), script);
        self
    }
}

fn address(text: &str) -> SocketAddr {
    format!("{text}:53").parse().unwrap()
}

/// The wrapper the resolver owns; the test keeps another handle to read `sent`.
struct Shared(Arc<SimulatedTransport>);

impl Transport for Shared {
    async fn exchange(&self, query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
        let network = &self.0;
        let message = Message::parse(query.message).map_err(|_| TransportError::Malformed)?;
        network.sent.lock().unwrap().push(Sent {
            server: query.server,
            name: query.name.clone(),
            recursion_desired: message.header.recursion_desired,
        });
        let script = network
            .servers
            .get(&query.server)
            .ok_or(TransportError::Network)?;
        let Some(answer) = script(&message) else {
            return Err(TransportError::Timeout);
        };
        assert_eq!(query.protocol, Protocol::Udp);
        let header = Header {
            id: query.id,
            response: true,
            authoritative: answer.authoritative,
            recursion_desired: message.header.recursion_desired,
            rcode: answer.rcode.header_bits(),
            ..Header::default()
        };
        let mut builder = MessageBuilder::new(header, 65535);
        builder.push_question(message.question().unwrap()).unwrap();
        for record in &answer.answers {
            builder.push_answer(record).unwrap();
        }
        for record in &answer.authorities {
            builder.push_authority(record).unwrap();
        }
        for record in &answer.additionals {
            builder.push_additional(record).unwrap();
        }
        Ok(builder.finish())
    }
}

fn zone(origin: &str, text: &str) -> Zone {
    Zone::parse(origin, text).unwrap()
}

const ROOT_HEAD: &str = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
                         a.root. A 127.50.0.1\n";

fn root_zone() -> Zone {
    let text = format!(
        "{ROOT_HEAD}example. NS ns.example.\nns.example. A 127.50.0.2\n\
         victim. NS ns.victim.\nns.victim. A 127.50.0.3\n"
    );
    zone(".", &text)
}

fn leaf_zone(origin: &str, server: &str, address: &str) -> Zone {
    let text = format!(
        "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A {server}\nwww A {address}\n"
    );
    zone(origin, &text)
}

fn example_zone() -> Zone {
    leaf_zone("example.", "127.50.0.2", "192.0.2.1")
}

fn a_record(owner: &Name, address: [u8; 4], ttl: u32) -> Record {
    Record {
        name: owner.clone(),
        rtype: RType::A,
        class: Class::IN,
        ttl,
        data: address.into(),
    }
}

struct Harness {
    resolver: Resolver<Shared>,
    network: Arc<SimulatedTransport>,
    clock: ManualClock,
}

fn harness(network: SimulatedTransport, configure: impl FnOnce(&mut ResolverConfig)) -> Harness {
    let hints = vec![(name("a.root."), vec!["127.50.0.1".parse().unwrap()])];
    let mut config = ResolverConfig::recursive(hints);
    config.query_private_upstreams = true;
    // A private, unsigned root: the IANA root anchors do not apply to it.
    config.dnssec = hanse_resolve::DnssecConfig::with_anchors(Vec::new());
    configure(&mut config);
    let clock = ManualClock::default();
    clock.0.store(1, Ordering::Relaxed);
    let network = Arc::new(network);
    let resolver = Resolver::new(
        config,
        Arc::new(RrsetCache::new(CacheConfig::default())),
        Shared(Arc::clone(&network)),
        Arc::new(clock.clone()),
    );
    Harness {
        resolver,
        network,
        clock,
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

impl Harness {
    fn resolve(&self, text: &str, rtype: RType) -> Resolution {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(self.resolver.resolve(&name(text), rtype))
    }

    fn sent(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.network.sent.lock().unwrap())
    }
}

#[test]
fn cached_answers_expire_with_their_ttl() {
    let network = SimulatedTransport::default()
        .zone_server("127.50.0.1", vec![root_zone()])
        .zone_server("127.50.0.2", vec![example_zone()]);
    let harness = harness(network, |_| {});
    let first = harness.resolve("www.example.", RType::A);
    assert_eq!(first.rcode, Rcode::NOERROR);
    assert_eq!(first.answers[0].ttl, 300);
    assert!(!harness.sent().is_empty());
    harness.clock.0.fetch_add(100, Ordering::Relaxed);
    let second = harness.resolve("www.example.", RType::A);
    assert_eq!(second.answers[0].ttl, 200);
    assert!(harness.sent().is_empty(), "answered from the cache");
    harness.clock.0.fetch_add(201, Ordering::Relaxed);
    let third = harness.resolve("www.example.", RType::A);
    assert_eq!(third.answers[0].ttl, 300);
    let sent = harness.sent();
    assert_eq!(
        sent.len(),
        1,
        "only the expired RRset is asked again: {sent:?}"
    );
    assert_eq!(sent[0].server, address("127.50.0.2"));
}

#[test]
fn forward_mode_asks_the_next_forwarder_when_one_is_dead() {
    let forwarder = |query: &Message| -> Option<Answer> {
        let question = query.question()?;
        let mut answer = Answer::with_rcode(Rcode::NOERROR);
        answer
            .answers
            .push(a_record(&question.name, [198, 51, 100, 7], 60));
        Some(answer)
    };
    let network = SimulatedTransport::default()
        .scripted("127.50.0.8", Box::new(|_| None))
        .scripted("127.50.0.9", Box::new(forwarder));
    let harness = harness(network, |config| {
        config.mode = ResolverMode::Forward(vec![address("127.50.0.8"), address("127.50.0.9")]);
    });
    let resolution = harness.resolve("anything.test.", RType::A);
    assert_eq!(resolution.rcode, Rcode::NOERROR);
    assert_eq!(resolution.answers[0].data.as_ref(), &[198, 51, 100, 7]);
    let sent = harness.sent();
    assert!(sent.iter().all(|query| query.recursion_desired), "{sent:?}");
    assert!(
        sent.iter()
            .any(|query| query.server == address("127.50.0.9"))
    );
}

#[test]
fn forward_and_stub_zones_take_precedence_over_iteration() {
    let corp = |query: &Message| -> Option<Answer> {
        let question = query.question()?;
        let mut answer = Answer::with_rcode(Rcode::NOERROR);
        answer
            .answers
            .push(a_record(&question.name, [10, 0, 0, 1], 60));
        Some(answer)
    };
    let network = SimulatedTransport::default()
        .zone_server("127.50.0.1", vec![root_zone()])
        .scripted("127.50.0.20", Box::new(corp))
        .zone_server(
            "127.50.0.21",
            vec![leaf_zone("internal.", "127.50.0.21", "10.9.9.9")],
        );
    let harness = harness(network, |config| {
        config.forward_zones = vec![ZoneServers {
            name: name("corp."),
            servers: vec![address("127.50.0.20")],
        }];
        config.stub_zones = vec![ZoneServers {
            name: name("internal."),
            servers: vec![address("127.50.0.21")],
        }];
    });
    let forwarded = harness.resolve("wiki.corp.", RType::A);
    assert_eq!(forwarded.answers[0].data.as_ref(), &[10, 0, 0, 1]);
    let sent = harness.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].recursion_desired);
    let stub = harness.resolve("www.internal.", RType::A);
    assert_eq!(stub.answers[0].data.as_ref(), &[10, 9, 9, 9]);
    let sent = harness.sent();
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|query| query.server == address("127.50.0.21") && !query.recursion_desired),
        "{sent:?}"
    );
}

#[test]
fn answer_records_outside_the_bailiwick_are_not_trusted() {
    let example = example_zone();
    let poisoner = move |query: &Message| -> Option<Answer> {
        let question = query.question()?;
        let mut answer = answer_question(
            std::slice::from_ref(&example),
            &question.name,
            question.rtype,
        );
        // Out-of-bailiwick data riding along in every section.
        let poison = a_record(&name("www.victim."), [203, 0, 113, 66], 86400);
        answer.answers.push(poison.clone());
        answer.authorities.push(poison.clone());
        answer.additionals.push(poison);
        Some(answer)
    };
    let network = SimulatedTransport::default()
        .zone_server("127.50.0.1", vec![root_zone()])
        .scripted("127.50.0.2", Box::new(poisoner))
        .zone_server(
            "127.50.0.3",
            vec![leaf_zone("victim.", "127.50.0.3", "192.0.2.9")],
        );
    let harness = harness(network, |_| {});
    assert_eq!(
        harness.resolve("www.example.", RType::A).rcode,
        Rcode::NOERROR
    );
    let victim = harness.resolve("www.victim.", RType::A);
    assert_eq!(victim.answers.len(), 1);
    assert_eq!(victim.answers[0].data.as_ref(), &[192, 0, 2, 9]);
}

#[test]
fn an_upward_referral_is_lame_and_the_next_server_is_asked() {
    let upward = |query: &Message| -> Option<Answer> {
        let _ = query.question()?;
        let mut answer = Answer::with_rcode(Rcode::NOERROR);
        answer.authorities.push(Record {
            name: Name::root(),
            rtype: RType::NS,
            class: Class::IN,
            ttl: 3600,
            data: name("a.root.").as_wire().into(),
        });
        Some(answer)
    };
    let root = format!(
        "{ROOT_HEAD}example. NS ns1.example.\nexample. NS ns2.example.\n\
         ns1.example. A 127.50.0.30\nns2.example. A 127.50.0.2\n"
    );
    let network = SimulatedTransport::default()
        .zone_server("127.50.0.1", vec![zone(".", &root)])
        .scripted("127.50.0.30", Box::new(upward))
        .zone_server("127.50.0.2", vec![example_zone()]);
    let harness = harness(network, |config| {
        config.qname_minimisation = QnameMinimisation::Off
    });
    for _ in 0..3 {
        let resolution = harness.resolve("www.example.", RType::A);
        assert_eq!(resolution.rcode, Rcode::NOERROR);
        assert_eq!(resolution.answers[0].data.as_ref(), &[192, 0, 2, 1]);
    }
}

#[test]
fn the_upstream_query_limit_ends_a_long_glueless_chain_in_servfail() {
    // Each zone's nameserver lives in the next zone, without glue: z0 needs
    // z1's server, which needs z2's, and so on.
    let mut root = String::from(ROOT_HEAD);
    for index in 0..30 {
        root.push_str(&format!("z{index}. NS ns.z{}.\n", index + 1));
    }
    let network = SimulatedTransport::default().zone_server("127.50.0.1", vec![zone(".", &root)]);
    let harness = harness(network, |config| {
        config.limits.max_upstream_queries = 12;
        config.limits.max_delegation_depth = 32;
    });
    let resolution = harness.resolve("www.z0.", RType::A);
    assert_eq!(resolution.rcode, Rcode::SERVFAIL);
    let sent = harness.sent();
    assert!(sent.len() <= 12, "{} queries sent", sent.len());
    assert!(matches!(
        resolution.extended_error,
        Some(ExtendedError::LIMIT_REACHED) | Some(ExtendedError::NO_REACHABLE_AUTHORITY)
    ));
}

#[test]
fn strict_minimisation_reveals_one_label_at_a_time() {
    let network = SimulatedTransport::default()
        .zone_server("127.50.0.1", vec![root_zone()])
        .zone_server("127.50.0.2", vec![example_zone()]);
    let harness = harness(network, |config| {
        config.qname_minimisation = QnameMinimisation::Strict
    });
    let resolution = harness.resolve("a.b.www.example.", RType::TXT);
    assert_eq!(resolution.rcode, Rcode::NXDOMAIN);
    let sent = harness.sent();
    assert!(!sent.is_empty());
    for query in sent {
        if query.server == address("127.50.0.1") {
            assert!(
                query.name.label_count() <= 1,
                "the root saw {:?}",
                query.name
            );
        }
    }
}

#[test]
fn negative_answers_are_cached_and_cover_the_subtree() {
    let network = SimulatedTransport::default()
        .zone_server("127.50.0.1", vec![root_zone()])
        .zone_server("127.50.0.2", vec![example_zone()]);
    let harness = harness(network, |_| {});
    assert_eq!(
        harness.resolve("missing.example.", RType::A).rcode,
        Rcode::NXDOMAIN
    );
    harness.sent();
    let again = harness.resolve("missing.example.", RType::AAAA);
    assert_eq!(again.rcode, Rcode::NXDOMAIN);
    assert_eq!(again.authorities[0].rtype, RType::SOA);
    assert!(
        again.authorities[0].ttl <= 60,
        "negative TTL bounded by the SOA minimum"
    );
    // Below a name that does not exist, nothing exists (RFC 8020).
    assert_eq!(
        harness.resolve("deeper.missing.example.", RType::A).rcode,
        Rcode::NXDOMAIN
    );
    assert!(harness.sent().is_empty());
}

#[test]
fn issue_9_an_nxdomain_for_the_root_does_not_deny_every_name() {
    // An intercepting network answers NXDOMAIN, without SOA, for anything
    // asked of the root servers; a stub zone is served by a real server.
    let liar = |query: &Message| -> Option<Answer> {
        query.question()?;
        Some(Answer::with_rcode(Rcode::NXDOMAIN))
    };
    let network = SimulatedTransport::default()
        .scripted("127.50.0.1", Box::new(liar))
        .zone_server(
            "127.50.0.21",
            vec![leaf_zone("internal.", "127.50.0.21", "10.9.9.9")],
        );
    let harness = harness(network, |config| {
        config.stub_zones = vec![ZoneServers {
            name: name("internal."),
            servers: vec![address("127.50.0.21")],
        }];
    });
    let root = harness.resolve(".", RType::SOA);
    assert_eq!(root.rcode, Rcode::NXDOMAIN, "{root:?}");
    // The root's NXDOMAIN (kept for a few seconds) is not an NXDOMAIN cut
    // (RFC 8020) over the whole tree.
    let stub = harness.resolve("www.internal.", RType::A);
    assert_eq!(stub.rcode, Rcode::NOERROR, "{stub:?}");
    assert_eq!(stub.answers[0].data.as_ref(), &[10, 9, 9, 9]);
}
