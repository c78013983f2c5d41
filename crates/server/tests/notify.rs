//! NOTIFY (RFC 1996) and the EXTRA-TEXT switch (RFC 8914) through a running
//! server: real UDP and TCP sockets on 127.55.0.0/16 (this file's own
//! range), a test receiver, and Knot DNS as a real primary that sends the
//! NOTIFY (`knotc zone-notify`; knotd missing is a failure, not a skip).
//!
//! Addresses: the server listens on 127.55.0.1 to 127.55.0.5 (one per
//! test); clients send from 127.55.1.1 (the primary) and 127.55.1.2 (not a
//! primary); Knot listens on 127.55.2.1. The resolver's root hint
//! 127.55.0.254 has nothing listening: no test needs resolution.

use hanse_cache::{AnswerCache, CacheConfig, RrsetCache};
use hanse_policy::{Feed, PolicySet, ProfileSpec};
use hanse_resolve::{MonotonicClock, NetworkTransport, Resolver, ResolverConfig};
use hanse_server::{AccessList, NotifyOutcome, NotifyReceiver, Server, ServerConfig, Settings};
use hanse_testnet::knot::KnotPrimary;
use hanse_wire::{Edns, Message, Name, Opcode, RType, Rcode, compose_query};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(3);
const ZONE: &str = "rpz.example.";
const PRIMARY: [u8; 4] = [127, 55, 1, 1];
const STRANGER: [u8; 4] = [127, 55, 1, 2];

/// What the receiver saw: zone, serial, source.
type Seen = Vec<(Name, Option<u32>, IpAddr)>;

/// Follows `rpz.example.` with primary 127.55.1.1 and records every call.
#[derive(Default)]
struct TestReceiver {
    seen: Mutex<Seen>,
}

impl NotifyReceiver for TestReceiver {
    fn notify(&self, zone: &Name, serial: Option<u32>, source: IpAddr) -> NotifyOutcome {
        self.seen
            .lock()
            .expect("not poisoned")
            .push((zone.clone(), serial, source));
        if *zone != Name::from_ascii(ZONE).expect("name") {
            NotifyOutcome::UnknownZone
        } else if source == IpAddr::from(PRIMARY) {
            NotifyOutcome::Accepted
        } else {
            NotifyOutcome::NotPrimary
        }
    }
}

impl TestReceiver {
    fn seen(&self) -> Seen {
        self.seen.lock().expect("not poisoned").clone()
    }
}

/// A running server, shut down when dropped.
struct Running {
    server: Option<Server>,
    address: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown(Duration::from_secs(1));
        }
    }
}

fn settings(notify: Option<Arc<dyn NotifyReceiver>>) -> Settings {
    Settings {
        // Recursion for one address only: NOTIFY must not depend on it.
        access: AccessList::new(vec![(IpAddr::from([127, 55, 9, 9]), 32)]),
        edns_buffer_size: 1232,
        servfail_ttl: 5,
        policy: None,
        extra_text: true,
        notify,
        observer: None,
        proxy_protocol_from: AccessList::default(),
        rate_limit: Default::default(),
        transfer: None,
        cookies: Default::default(),
    }
}

fn start(listen: [u8; 4], settings: Settings) -> Running {
    let hints = vec![(
        Name::from_ascii("a.root.test.").expect("name"),
        vec![IpAddr::from([127, 55, 0, 254])],
    )];
    let resolver = Arc::new(Resolver::new(
        ResolverConfig::recursive(hints),
        Arc::new(RrsetCache::new(CacheConfig::default())),
        NetworkTransport::new(),
        Arc::new(MonotonicClock::new()),
    ));
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
        resolver,
        Arc::new(AnswerCache::new(1 << 20)),
    )
    .expect("the server starts");
    let address = server.local_addresses()[0];
    Running {
        server: Some(server),
        address,
    }
}

/// A NOTIFY for `zone`, with the SOA (and its serial) if `serial` is given.
fn notify_packet(id: u16, zone: &str, serial: Option<u32>) -> Vec<u8> {
    hanse_transfer::compose_notify(id, &Name::from_ascii(zone).expect("name"), serial)
}

/// Sends `packet` from `source` over UDP and returns the response.
fn exchange_udp(server: SocketAddr, source: [u8; 4], packet: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind(SocketAddr::new(IpAddr::from(source), 0)).expect("bind");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    socket.send_to(packet, server).expect("send");
    let mut buffer = [0u8; 65535];
    let (length, from) = socket.recv_from(&mut buffer).expect("a response in time");
    assert_eq!(from, server);
    buffer[..length].to_vec()
}

/// Sends `packet` from `source` over TCP and returns the response.
fn exchange_tcp(server: SocketAddr, source: [u8; 4], packet: &[u8]) -> Vec<u8> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    socket
        .bind(&SocketAddr::new(IpAddr::from(source), 0).into())
        .expect("bind");
    socket
        .connect_timeout(&server.into(), TIMEOUT)
        .expect("connect");
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut framed = u16::try_from(packet.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).expect("write");
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).expect("a response in time");
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream
        .read_exact(&mut response)
        .expect("the whole response");
    response
}

fn check_response(response: &[u8], id: u16, rcode: Rcode, zone: &str) -> Message {
    let message = Message::parse(response).expect("a well-formed response");
    assert_eq!(message.header.id, id);
    assert!(message.header.response);
    assert_eq!(message.header.opcode, Opcode::NOTIFY.0);
    assert_eq!(message.rcode(), rcode);
    assert_eq!(message.questions.len(), 1, "the question is echoed");
    assert_eq!(
        message.questions[0].name,
        Name::from_ascii(zone).expect("name")
    );
    assert_eq!(message.questions[0].rtype, RType::SOA);
    message
}

#[test]
fn notify_over_udp_and_tcp_reaches_the_receiver() {
    let receiver = Arc::new(TestReceiver::default());
    let running = start([127, 55, 0, 1], settings(Some(receiver.clone())));
    let zone = Name::from_ascii(ZONE).expect("name");

    let response = exchange_udp(
        running.address,
        PRIMARY,
        &notify_packet(4711, ZONE, Some(42)),
    );
    let message = check_response(&response, 4711, Rcode::NOERROR, ZONE);
    assert!(message.header.authoritative, "RFC 1996 §4.7: AA set");

    let response = exchange_tcp(running.address, PRIMARY, &notify_packet(4712, ZONE, None));
    let message = check_response(&response, 4712, Rcode::NOERROR, ZONE);
    assert!(message.header.authoritative);

    assert_eq!(
        receiver.seen(),
        vec![
            (zone.clone(), Some(42), IpAddr::from(PRIMARY)),
            (zone, None, IpAddr::from(PRIMARY)),
        ]
    );
    let totals = running
        .server
        .as_ref()
        .expect("running")
        .statistics()
        .total();
    assert_eq!(totals.notify_received, 2);
    assert_eq!(totals.notify_refused, 0);
    assert_eq!(totals.refused, 0, "the access list does not apply");
    assert_eq!(totals.cache_misses, 0, "NOTIFY never reaches the resolver");
}

#[test]
fn notify_refusals_name_their_reason() {
    let receiver = Arc::new(TestReceiver::default());
    let running = start([127, 55, 0, 2], settings(Some(receiver.clone())));

    // A source that is not the zone's primary: REFUSED.
    let response = exchange_udp(running.address, STRANGER, &notify_packet(1, ZONE, Some(7)));
    check_response(&response, 1, Rcode::REFUSED, ZONE);
    let response = exchange_tcp(running.address, STRANGER, &notify_packet(2, ZONE, Some(7)));
    check_response(&response, 2, Rcode::REFUSED, ZONE);

    // A zone nobody follows: NOTAUTH, as BIND answers.
    let response = exchange_udp(
        running.address,
        PRIMARY,
        &notify_packet(3, "other.example.", Some(7)),
    );
    check_response(&response, 3, Rcode(9), "other.example.");

    // Malformed: no question, a truncated message.
    let mut no_question = notify_packet(4, ZONE, None);
    no_question.truncate(12);
    no_question[4..6].copy_from_slice(&[0, 0]);
    let message =
        Message::parse(&exchange_udp(running.address, PRIMARY, &no_question)).expect("parses");
    assert_eq!((message.header.id, message.rcode()), (4, Rcode::FORMERR));
    assert_eq!(message.header.opcode, Opcode::NOTIFY.0);
    let mut cut = notify_packet(5, ZONE, Some(9));
    cut.truncate(cut.len() - 5);
    let message = Message::parse(&exchange_tcp(running.address, PRIMARY, &cut)).expect("parses");
    assert_eq!((message.header.id, message.rcode()), (5, Rcode::FORMERR));

    assert_eq!(
        receiver.seen().len(),
        3,
        "malformed messages never reach the receiver"
    );
    let totals = running
        .server
        .as_ref()
        .expect("running")
        .statistics()
        .total();
    assert_eq!(totals.notify_received, 5);
    assert_eq!(totals.notify_refused, 5);
    assert_eq!(totals.cache_misses, 0);
}

#[test]
fn notify_without_a_receiver_is_not_implemented() {
    let running = start([127, 55, 0, 3], settings(None));
    let response = exchange_udp(running.address, PRIMARY, &notify_packet(9, ZONE, Some(1)));
    check_response(&response, 9, Rcode::NOTIMP, ZONE);
    let response = exchange_tcp(running.address, PRIMARY, &notify_packet(10, ZONE, None));
    check_response(&response, 10, Rcode::NOTIMP, ZONE);
    let totals = running
        .server
        .as_ref()
        .expect("running")
        .statistics()
        .total();
    assert_eq!((totals.notify_received, totals.notify_refused), (2, 2));
}

// ---------------------------------------------------------------------------
// EXTRA-TEXT on filtered answers.

/// A policy whose feed answers `blocked.example.` NXDOMAIN (a QNAME trigger:
/// decided before resolution, so no upstream is needed).
fn blocking_policy() -> Arc<PolicySet> {
    let origin = Name::from_ascii("rpz.test.").expect("name");
    let text = "$TTL 60\n@ SOA localhost. root.localhost. 5 3600 600 86400 60\n\
                @ NS localhost.\nblocked.example CNAME .\n";
    let records = hanse_zone::parse_zone(text, &origin, 60).expect("the zone parses");
    let (feed, problems) = Feed::from_rpz("test-feed", &origin, &records);
    assert!(problems.is_empty(), "{problems:?}");
    Arc::new(
        PolicySet::build(
            vec![ProfileSpec::new("default", &["test-feed"])],
            vec![],
            vec![feed],
        )
        .expect("the policy builds"),
    )
}

/// The Extended DNS Errors (INFO-CODE, EXTRA-TEXT) of a response.
fn extended_errors(message: &Message) -> Vec<(u16, String)> {
    message
        .edns
        .iter()
        .flat_map(|edns| &edns.options)
        .filter(|option| option.code == 15 && option.data.len() >= 2)
        .map(|option| {
            (
                u16::from_be_bytes([option.data[0], option.data[1]]),
                String::from_utf8_lossy(&option.data[2..]).into_owned(),
            )
        })
        .collect()
}

fn ask_blocked(server: SocketAddr) -> Message {
    let query = compose_query(
        77,
        &Name::from_ascii("blocked.example.").expect("name"),
        RType::A,
        true,
        Some(Edns {
            udp_size: 1232,
            ..Edns::default()
        }),
    );
    Message::parse(&exchange_udp(server, [127, 55, 9, 9], &query)).expect("parses")
}

#[test]
fn extra_text_names_the_rule_and_can_be_turned_off() {
    let mut with_text = settings(None);
    with_text.policy = Some(blocking_policy());
    let running = start([127, 55, 0, 4], with_text.clone());
    let message = ask_blocked(running.address);
    assert_eq!(message.rcode(), Rcode::NXDOMAIN);
    let errors = extended_errors(&message);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 15);
    assert!(
        errors[0].1.contains("test-feed") && errors[0].1.contains("serial 5"),
        "EXTRA-TEXT names the feed and its serial: {:?}",
        errors[0].1
    );

    // Reloaded with the switch off: same code, empty text.
    let mut without_text = with_text;
    without_text.extra_text = false;
    running
        .server
        .as_ref()
        .expect("running")
        .reload(without_text);
    let message = ask_blocked(running.address);
    assert_eq!(message.rcode(), Rcode::NXDOMAIN);
    assert_eq!(extended_errors(&message), vec![(15, String::new())]);
}

// ---------------------------------------------------------------------------
// A real primary: Knot DNS sends the NOTIFY.

/// A free port on `ip` for both UDP and TCP.
fn free_port(ip: [u8; 4]) -> u16 {
    for _ in 0..50 {
        let Ok(udp) = UdpSocket::bind(SocketAddr::new(IpAddr::from(ip), 0)) else {
            continue;
        };
        let Ok(address) = udp.local_addr() else {
            continue;
        };
        if std::net::TcpListener::bind(address).is_ok() {
            return address.port();
        }
    }
    panic!("no free port on {ip:?}");
}

/// Waits, bounded in time, until `check` holds.
fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

#[test]
fn knot_as_primary_sends_a_notify_that_is_accepted() {
    let receiver = Arc::new(TestReceiver::default());
    let running = start([127, 55, 0, 5], settings(Some(receiver.clone())));
    // Knot sends NOTIFY from its own address, the primary's.
    let knot_address = SocketAddr::new(IpAddr::from(PRIMARY), free_port(PRIMARY));
    let knot = KnotPrimary::start(
        knot_address,
        ZONE,
        "$ORIGIN rpz.example.\n$TTL 60\n@ SOA localhost. root.localhost. 2024 3600 600 86400 60\n\
         @ NS localhost.\nblocked.example.com CNAME .\n",
        None,
        &[running.address],
    )
    .expect("knotd (Debian package knot) starts");
    let zone = Name::from_ascii(ZONE).expect("name");
    let expected = (zone, Some(2024), IpAddr::from(PRIMARY));
    // knotd notifies once the zone is loaded; `knotc zone-notify` again.
    let before = receiver.seen().len();
    knot.notify_now().expect("knotc zone-notify");
    let arrived = wait_until(Duration::from_secs(10), || receiver.seen().len() > before);
    assert!(
        arrived,
        "no NOTIFY from knotd reached the receiver:\n{}",
        knot.log()
    );
    let seen = receiver.seen();
    assert!(
        seen.iter().all(|entry| *entry == expected),
        "knotd's NOTIFY: {seen:?}"
    );
    // Knot logs each NOTIFY it sends, and a failure if the answer is not
    // the RFC 1996 response (wrong ID, question or rcode).
    let sent = wait_until(Duration::from_secs(5), || {
        knot.log()
            .matches("notify, outgoing, remote 127.55.0.5")
            .count()
            >= 2
    });
    assert!(
        sent,
        "knotd did not log its NOTIFY messages:\n{}",
        knot.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = knot.log();
    assert!(
        !log.contains("failed") && !log.contains("error"),
        "knotd saw a failure:\n{log}"
    );
    let totals = running
        .server
        .as_ref()
        .expect("running")
        .statistics()
        .total();
    assert_eq!(totals.notify_refused, 0);
}
