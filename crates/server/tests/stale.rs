//! Serve-stale (RFC 8767) through a running server: the client gets the
//! stale answer with TTL 30 and Extended DNS Error 3, and the answer cache
//! never keeps it.
//!
//! Addresses (127.69.10.0/24 of the serve-stale range 127.69.0.0/16): the
//! root server on 127.69.10.1:53, the server of `example.` on
//! 127.69.10.2:53, the server under test on 127.69.10.3 on a port the
//! kernel picks.

use hanse_cache::{AnswerCache, CacheConfig, RrsetCache};
use hanse_resolve::{ManualClock, NetworkTransport, Resolver, ResolverConfig};
use hanse_server::{AccessList, Server, ServerConfig, Settings};
use hanse_testnet::client::query;
use hanse_testnet::{AuthServer, Behaviour, ServerSpec, Transport, Zone};
use hanse_wire::{Message, Name, RType, Rcode};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);
/// The EDNS option code of an Extended DNS Error (RFC 8914).
const EDE_OPTION: u16 = 15;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn leaf(behaviour: Behaviour) -> AuthServer {
    let zone = Zone::parse(
        "example.",
        "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.69.10.2\n\
         www A 192.0.2.1\n",
    )
    .expect("the example zone");
    AuthServer::start(
        ServerSpec::new(SocketAddr::from(([127, 69, 10, 2], 53)), vec![zone])
            .with_behaviour(behaviour),
    )
    .expect("the example server starts")
}

/// The INFO-CODE of the response's Extended DNS Error, if any.
fn extended_error(message: &Message) -> Option<u16> {
    let option = message
        .edns
        .as_ref()?
        .options
        .iter()
        .find(|option| option.code == EDE_OPTION)?;
    Some(u16::from_be_bytes([option.data[0], option.data[1]]))
}

#[test]
fn stale_answers_reach_the_client_and_skip_the_answer_cache() {
    let root_zone = Zone::parse(
        ".",
        "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A 127.69.10.1\nexample. NS ns.example.\nns.example. A 127.69.10.2\n",
    )
    .expect("the root zone");
    let _root = AuthServer::start(ServerSpec::new(
        SocketAddr::from(([127, 69, 10, 1], 53)),
        vec![root_zone],
    ))
    .expect("the root server starts");
    let mut example = leaf(Behaviour::Normal);

    let mut config = ResolverConfig::recursive(vec![(
        name("a.root."),
        vec![IpAddr::from([127, 69, 10, 1])],
    )]);
    config.query_private_upstreams = true;
    config.dnssec = hanse_resolve::DnssecConfig::with_anchors(Vec::new());
    config.limits.upstream_timeout = Duration::from_millis(200);
    config.limits.max_resolution_time = Duration::from_secs(2);
    config.stale.client_response_timeout = Duration::ZERO;
    let clock = ManualClock::default();
    clock.0.store(1, Ordering::Relaxed);
    let resolver = Resolver::new_shared(
        config,
        Arc::new(RrsetCache::new(CacheConfig {
            max_stale: 3600,
            ..CacheConfig::default()
        })),
        NetworkTransport::new(),
        Arc::new(clock.clone()),
    );
    let settings = Settings {
        access: AccessList::new(vec![(IpAddr::from([127, 0, 0, 0]), 8)]),
        edns_buffer_size: 1232,
        servfail_ttl: 5,
        policy: None,
        extra_text: true,
        notify: None,
        transfer: None,
        observer: None,
        proxy_protocol_from: AccessList::default(),
        rate_limit: Default::default(),
        cookies: Default::default(),
    };
    let server_config = ServerConfig {
        listen: vec![SocketAddr::from(([127, 69, 10, 3], 0))],
        threads: 1,
        tcp_idle_timeout: Duration::from_secs(2),
        max_tcp_connections: 16,
        max_tcp_connections_per_client: 4,
    };
    let server = Server::start(
        &server_config,
        settings,
        Arc::clone(&resolver),
        Arc::new(AnswerCache::new(1 << 20)),
    )
    .expect("the server starts");
    let address = server.local_addresses()[0];
    let ask = || {
        query(
            address,
            &name("www.example."),
            RType::A,
            Transport::Udp,
            TIMEOUT,
        )
    };

    let fresh = ask().expect("an answer");
    assert_eq!(fresh.rcode(), Rcode::NOERROR);
    assert_eq!(fresh.answers[0].ttl, 300);
    assert_eq!(extended_error(&fresh), None);

    // Expired, and the server of example. is dead.
    clock.0.fetch_add(400, Ordering::Relaxed);
    drop(example);
    example = leaf(Behaviour::Silent);
    let stale = ask().expect("an answer");
    assert_eq!(stale.rcode(), Rcode::NOERROR);
    assert_eq!(stale.answers.len(), 1);
    assert_eq!(stale.answers[0].ttl, 30);
    assert_eq!(extended_error(&stale), Some(3));
    assert!(!example.queries().is_empty(), "the dead server was asked");

    // The server is back; once the failure is no longer cached (5 s), the
    // next query is resolved afresh: the stale answer was not kept in the
    // answer cache, where it would still be live.
    drop(example);
    example = leaf(Behaviour::Normal);
    clock.0.fetch_add(10, Ordering::Relaxed);
    let again = ask().expect("an answer");
    assert_eq!(again.rcode(), Rcode::NOERROR);
    assert_eq!(again.answers[0].ttl, 300, "{again:?}");
    assert_eq!(extended_error(&again), None);
    assert!(!example.queries().is_empty());
    server.shutdown(Duration::from_secs(1));
}
