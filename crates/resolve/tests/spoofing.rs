//! Spoofing defences of the resolution engine over real sockets (RFC 5452):
//! while a resolution is in flight, forged answers flood the resolver's
//! upstream socket, and the genuine answer itself carries records the zone
//! asked has no authority for. None of it may enter the cache.
//!
//! The simulated hierarchy lives on 127.88.10.0/24, port 53 (tests run as
//! root): the root at .1, `example.` at .2 (this test's own server, which
//! forges), `victim.` at .3 (a normal `hanse_testnet` server), and a forger
//! with the wrong source address at .66.

use hanse_cache::{CacheConfig, RrsetCache};
use hanse_resolve::{
    MonotonicClock, NetworkTransport, Resolution, Resolver, ResolverConfig, Transport,
};
use hanse_testnet::{Answer, AuthServer, ServerSpec, Zone, answer_question, compose_answer};
use hanse_wire::{Class, Header, Message, Name, RType, Rcode, Record};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The address every forged record points to.
const FORGED: [u8; 4] = [6, 6, 6, 6];
/// How long the `example.` server holds each genuine answer back.
const ANSWER_DELAY: Duration = Duration::from_millis(300);
/// Queries that get the full flood of 65,535 wrong IDs (later ones get a sample).
const FULL_FLOODS: u32 = 2;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn address(text: &str) -> SocketAddr {
    format!("{text}:53").parse().unwrap()
}

fn forged_a(owner: &str) -> Record {
    Record {
        name: name(owner),
        rtype: RType::A,
        class: Class::IN,
        ttl: 86400,
        data: FORGED.into(),
    }
}

fn forged_ns(owner: &str, target: &str) -> Record {
    Record {
        name: name(owner),
        rtype: RType::NS,
        class: Class::IN,
        ttl: 86400,
        data: name(target).as_wire().to_vec().into(),
    }
}

const ROOT_ZONE: &str = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
    a.root. A 127.88.10.1\nexample. NS ns.example.\nns.example. A 127.88.10.2\n\
    victim. NS ns.victim.\nns.victim. A 127.88.10.3\n";
const EXAMPLE_ZONE: &str = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\n\
    ns A 127.88.10.2\nwww A 192.0.2.1\nunrelated A 192.0.2.2\n";
const VICTIM_ZONE: &str = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\n\
    ns A 127.88.10.3\nwww A 192.0.2.3\n";

/// The `example.` server: for every query it floods the asker with forged
/// answers, then sends the genuine answer late, with poison in its
/// authority and additional sections.
struct ForgingServer {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// Queries seen, and forged datagrams sent.
    counts: Arc<(AtomicU32, AtomicU32)>,
    /// The (port, ID) of every query seen: the forger knew them.
    seen: Arc<Mutex<Vec<(u16, u16)>>>,
}

impl ForgingServer {
    fn start() -> ForgingServer {
        let socket = UdpSocket::bind(address("127.88.10.2")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        // Same address, other port; and another address, same port.
        let other_port = UdpSocket::bind("127.88.10.2:0").unwrap();
        let other_address = UdpSocket::bind(address("127.88.10.66")).unwrap();
        let zone = Zone::parse("example.", EXAMPLE_ZONE).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, counts, seen) = (Arc::clone(&stop), Arc::clone(&counts), Arc::clone(&seen));
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                // Bounded: the test stops it, and it gives up after 60 s.
                let started = Instant::now();
                // Floods run beside the loop, so a retry is answered while
                // an earlier flood is still being sent (on a loaded machine
                // that takes seconds, longer than the resolver waits).
                let mut floods = Vec::new();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                    let Ok((length, client)) = socket.recv_from(&mut buffer) else {
                        continue;
                    };
                    let Ok(query) = Message::parse(&buffer[..length]) else {
                        continue;
                    };
                    let Some(question) = query.question().cloned() else {
                        continue;
                    };
                    let number = counts.0.fetch_add(1, Ordering::Relaxed);
                    seen.lock().unwrap().push((client.port(), query.header.id));
                    // The flood races the genuine answer, as in a real attack.
                    let flood = {
                        let sockets = (
                            socket.try_clone().unwrap(),
                            other_port.try_clone().unwrap(),
                            other_address.try_clone().unwrap(),
                        );
                        let (query, counts) = (query.clone(), Arc::clone(&counts));
                        thread::spawn(move || {
                            let forged =
                                forge(&sockets.0, &sockets.1, &sockets.2, &query, client, number);
                            counts.1.fetch_add(forged, Ordering::Relaxed);
                        })
                    };
                    thread::sleep(ANSWER_DELAY);
                    let mut answer = answer_question(
                        std::slice::from_ref(&zone),
                        &question.name,
                        question.rtype,
                    );
                    // Out of bailiwick: example.'s server has no say on victim.
                    answer.authorities.push(forged_ns("victim.", "ns.example."));
                    answer.additionals.push(forged_a("www.victim."));
                    answer.additionals.push(forged_a("ns.victim."));
                    // Unsolicited: an address for an in-zone name nobody asked for.
                    answer.additionals.push(forged_a("unrelated.example."));
                    let genuine = compose_answer(&query.header, &query, &answer, 4096);
                    let _ = socket.send_to(&genuine, client);
                    floods.push(flood);
                }
                for flood in floods {
                    let _ = flood.join();
                }
            })
        };
        ForgingServer {
            stop,
            thread: Some(thread),
            counts,
            seen,
        }
    }
}

impl Drop for ForgingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The forged answer to `query` claiming `owner` A 6.6.6.6, with `id`.
fn forged_answer(query: &Message, id: u16, question_name: &Name) -> Vec<u8> {
    let question = query.question().unwrap();
    let header = Header { id, ..query.header };
    let mut forged_query = query.clone();
    forged_query.header.id = id;
    if let Some(first) = forged_query.questions.first_mut() {
        first.name = question_name.clone();
    }
    let answer = Answer {
        rcode: Rcode::NOERROR,
        authoritative: true,
        answers: vec![Record {
            name: question_name.clone(),
            rtype: question.rtype,
            class: Class::IN,
            ttl: 86400,
            data: FORGED.into(),
        }],
        authorities: vec![forged_ns("victim.", "ns.example.")],
        additionals: vec![forged_a("www.victim."), forged_a("unrelated.example.")],
    };
    compose_answer(&header, &forged_query, &answer, 4096)
}

/// Sends the forgeries for one query; returns how many.
fn forge(
    socket: &UdpSocket,
    other_port: &UdpSocket,
    other_address: &UdpSocket,
    query: &Message,
    client: SocketAddr,
    number: u32,
) -> u32 {
    let id = query.header.id;
    let question = query.question().unwrap().name.clone();
    let mut sent = 0;
    // Kaminsky: every other ID, from the right address and port. One
    // forged answer, its ID rewritten per datagram.
    let step = if number < FULL_FLOODS { 1 } else { 257 };
    let mut forged = forged_answer(query, id, &question);
    for offset in (1..=u16::MAX).step_by(step) {
        forged[..2].copy_from_slice(&id.wrapping_add(offset).to_be_bytes());
        let _ = socket.send_to(&forged, client);
        sent += 1;
    }
    // The right ID, another question.
    let _ = socket.send_to(&forged_answer(query, id, &name("www.victim.")), client);
    // The right ID and question, from another port and from another address.
    let right = forged_answer(query, id, &question);
    let _ = other_port.send_to(&right, client);
    let _ = other_address.send_to(&right, client);
    sent + 3
}

fn addresses(resolution: &Resolution) -> Vec<Vec<u8>> {
    resolution
        .answers
        .iter()
        .filter(|record| record.rtype == RType::A)
        .map(|record| record.data.to_vec())
        .collect()
}

#[test]
fn issue_9_forged_flood_and_out_of_bailiwick_records_never_enter_the_cache() {
    let _root = AuthServer::start(ServerSpec::new(
        address("127.88.10.1"),
        vec![Zone::parse(".", ROOT_ZONE).unwrap()],
    ))
    .unwrap();
    let victim = AuthServer::start(ServerSpec::new(
        address("127.88.10.3"),
        vec![Zone::parse("victim.", VICTIM_ZONE).unwrap()],
    ))
    .unwrap();
    let forger = ForgingServer::start();

    let hints = vec![(name("a.root."), vec!["127.88.10.1".parse().unwrap()])];
    let mut config = ResolverConfig::recursive(hints);
    config.query_private_upstreams = true;
    config.dnssec = hanse_resolve::DnssecConfig::disabled();
    let resolver = Resolver::new(
        config,
        Arc::new(RrsetCache::new(CacheConfig::default())),
        NetworkTransport::new(),
        Arc::new(MonotonicClock::new()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resolve = |text: &str| runtime.block_on(resolve_with(&resolver, text));

    let started = Instant::now();
    let www = resolve("www.example.");
    let elapsed = started.elapsed();
    assert_eq!(www.rcode, Rcode::NOERROR, "{www:?}");
    assert_eq!(addresses(&www), vec![vec![192, 0, 2, 1]], "{www:?}");
    // The flood may still be under way when the genuine answer got through.
    let deadline = Instant::now() + Duration::from_secs(20);
    while forger.counts.1.load(Ordering::Relaxed) < 65_535 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let queries = forger.counts.0.load(Ordering::Relaxed);
    let forged = forger.counts.1.load(Ordering::Relaxed);
    assert!(queries >= 1, "the example. server was never asked");
    assert!(forged >= 65_535, "the flood was sent ({forged} forgeries)");
    eprintln!(
        "www.example. resolved in {elapsed:?} through {queries} queries and {forged} forged datagrams; \
         (port, ID) seen: {:?}",
        forger.seen.lock().unwrap()
    );

    // The names the forgeries and the poisoned sections claimed.
    let victim_before = victim.queries().len();
    let www_victim = resolve("www.victim.");
    assert_eq!(www_victim.rcode, Rcode::NOERROR, "{www_victim:?}");
    assert_eq!(
        addresses(&www_victim),
        vec![vec![192, 0, 2, 3]],
        "{www_victim:?}"
    );
    assert!(
        victim.queries().len() > victim_before,
        "www.victim. came from a cache the forger filled, not from victim.'s server"
    );
    let ns_victim = resolve("ns.victim.");
    assert_eq!(
        addresses(&ns_victim),
        vec![vec![127, 88, 10, 3]],
        "{ns_victim:?}"
    );
    let unrelated = resolve("unrelated.example.");
    assert_eq!(
        addresses(&unrelated),
        vec![vec![192, 0, 2, 2]],
        "{unrelated:?}"
    );
    // And again, from the cache: still the genuine data.
    assert_eq!(
        addresses(&resolve("www.example.")),
        vec![vec![192, 0, 2, 1]]
    );
    assert_eq!(addresses(&resolve("www.victim.")), vec![vec![192, 0, 2, 3]]);
}

async fn resolve_with<T: Transport>(resolver: &Resolver<T>, text: &str) -> Resolution {
    resolver.resolve(&name(text), RType::A).await
}
