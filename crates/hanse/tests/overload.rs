//! End-to-end test of overload shedding (`[rate_limit] max_resolutions`,
//! `max_resolutions_per_client`, `overload_action`): when a cache miss
//! finds no free slot, the oldest pending resolution of the heaviest
//! client network is given up and answered SERVFAIL with an Extended DNS
//! Error (RFC 8914), over UDP and TCP; cache hits keep being answered; a
//! client coalesced on a resolution that is given up still gets its answer.
//!
//! Addresses: authoritative servers on 127.89.30.1 (root), 127.89.30.2
//! (`good.`) and 127.89.30.3 (`slow.`, answers after 3 s); clients on
//! 127.89.31.0/24 (A), 127.89.32.0/24 (B), 127.89.33.0/24 (C); for the
//! second test the servers on 127.89.40.1 to .3 and the client on
//! 127.89.41.1. Hanse listens on 127.0.0.1 on a free port. The tests take
//! about 8 s and 5 s.

mod support;

use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Edns, Message, Name, RType, Rcode, compose_query};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, free_tcp_port, metric};

/// How long the `slow.` server waits before it answers.
const SLOW: Duration = Duration::from_millis(3000);

/// What a client saw of one query: response code, milliseconds after
/// sending, and the Extended DNS Error (INFO-CODE, EXTRA-TEXT) if any.
type Seen = (Rcode, u64, Option<(u16, String)>);

/// The Extended DNS Error of a response.
fn extended_error(message: &Message) -> Option<(u16, String)> {
    let option = message
        .edns
        .as_ref()?
        .options
        .iter()
        .find(|option| option.code == 15)?;
    let code = u16::from_be_bytes([*option.data.first()?, *option.data.get(1)?]);
    Some((
        code,
        String::from_utf8_lossy(&option.data[2..]).into_owned(),
    ))
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let edns = Edns {
        udp_size: 1232,
        ..Edns::default()
    };
    compose_query(
        id,
        &Name::from_ascii(name).unwrap(),
        RType::A,
        true,
        Some(edns),
    )
}

/// One client socket, and what it saw by query ID.
struct Client {
    socket: UdpSocket,
    sent_at: Vec<Option<Instant>>,
    seen: Vec<Option<Seen>>,
}

impl Client {
    fn new(source: &str, server: SocketAddr) -> Client {
        let source: IpAddr = source.parse().unwrap();
        let socket = UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind");
        socket.connect(server).unwrap();
        socket.set_nonblocking(true).unwrap();
        Client {
            socket,
            sent_at: vec![None; 256],
            seen: vec![None; 256],
        }
    }

    fn send(&mut self, id: u16, name: &str) {
        let _ = self.socket.send(&query(id, name));
        self.sent_at[usize::from(id)] = Some(Instant::now());
        std::thread::sleep(Duration::from_millis(1));
    }

    fn receive(&mut self) {
        let mut buffer = [0u8; 4096];
        while let Ok(length) = self.socket.recv(&mut buffer) {
            let Ok(message) = Message::parse(&buffer[..length]) else {
                continue;
            };
            let id = usize::from(message.header.id);
            if let Some(Some(sent)) = self.sent_at.get(id) {
                let elapsed = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.seen[id].get_or_insert((message.rcode(), elapsed, extended_error(&message)));
            }
        }
    }

    /// The IDs among `ids` answered SERVFAIL so far.
    fn failed(&self, ids: std::ops::Range<usize>) -> Vec<usize> {
        ids.filter(|&id| matches!(self.seen[id], Some((Rcode::SERVFAIL, ..))))
            .collect()
    }

    /// The IDs among `ids` answered NOERROR or NXDOMAIN so far.
    fn answered(&self, ids: std::ops::Range<usize>) -> Vec<usize> {
        ids.filter(|&id| {
            matches!(
                self.seen[id],
                Some((Rcode::NOERROR, ..)) | Some((Rcode::NXDOMAIN, ..))
            )
        })
        .collect()
    }
}

/// Receives on every client until `done` says so or `limit` has passed.
fn receive_until(
    clients: &mut [&mut Client],
    limit: Duration,
    done: impl Fn(&[&mut Client]) -> bool,
) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        for client in clients.iter_mut() {
            client.receive();
        }
        if done(clients) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The servers of one test and Hanse in front of them.
struct Setup {
    hanse: HanseProcess,
    api: SocketAddr,
    _net: TestNet,
    _scratch: Scratch,
}

/// A root on `prefix.1` that delegates `good.` to `prefix.2` and `slow.` to
/// `prefix.3`, which answers after [`SLOW`]; Hanse with `overload` as the
/// overload keys of `[rate_limit]`, the delegations primed and
/// www.good. cached.
fn start(prefix: &str, overload: &str) -> Setup {
    let root = format!(
        "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A {prefix}.1\ngood. NS ns.good.\nns.good. A {prefix}.2\n\
         slow. NS ns.slow.\nns.slow. A {prefix}.3\n"
    );
    let good = format!(
        "$TTL 3600\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A {prefix}.2\n\
         www A 192.0.2.7\n"
    );
    let slow = format!("$TTL 3600\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A {prefix}.3\n");
    let net = TestNet::start(vec![
        ServerSpec::new(
            format!("{prefix}.1:53").parse().unwrap(),
            vec![Zone::parse(".", &root).unwrap()],
        ),
        ServerSpec::new(
            format!("{prefix}.2:53").parse().unwrap(),
            vec![Zone::parse("good.", &good).unwrap()],
        ),
        ServerSpec::new(
            format!("{prefix}.3:53").parse().unwrap(),
            vec![Zone::parse("slow.", &slow).unwrap()],
        )
        .with_behaviour(hanse_testnet::Behaviour::Delay(SLOW)),
    ])
    .expect("test servers start");
    let scratch = Scratch::new(&format!("overload-{prefix}"));
    let root_address = format!("{prefix}.1");
    std::fs::write(
        scratch.0.join("named.root"),
        net.root_hints(&[root_address.as_str()]),
    )
    .unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let hanse = HanseProcess::start(&scratch.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nupstream_timeout = \"8s\"\nmax_resolution_time = \"12s\"\n\
             [cache]\nserve_stale = false\n[dnssec]\nvalidation = false\n\
             [api]\nlisten = \"{api}\"\n\
             [rate_limit]\nqueries_per_second = 0\nexempt = []\n{overload}\n"
        )
    });
    for name in ["www.good.", "primer.slow."] {
        let name = Name::from_ascii(name).unwrap();
        hanse_testnet::client::query(
            hanse.dns,
            &name,
            RType::A,
            Transport::Udp,
            Duration::from_secs(8),
        )
        .expect("an answer while nothing floods");
    }
    Setup {
        hanse,
        api,
        _net: net,
        _scratch: scratch,
    }
}

#[test]
fn overload_gives_up_the_oldest_resolutions_of_the_heaviest_network() {
    let setup = start(
        "127.89.30",
        "max_resolutions = 30\nmax_resolutions_per_client = 20\noverload_action = \"servfail\"",
    );
    let (dns, api) = (setup.hanse.dns, setup.api);
    let mut a = Client::new("127.89.31.1", dns);
    let mut b = Client::new("127.89.32.1", dns);
    let mut c = Client::new("127.89.33.1", dns);
    let started = Instant::now();

    // Phase 1: A asks 30 new names under slow., the first over TCP (from
    // A's network too). A's cap is 20: each of the last 10 takes the slot
    // of A's oldest, so queries 0 to 9 are given up, at once.
    let tcp = std::thread::spawn(move || {
        let sent = Instant::now();
        let response = hanse_testnet::client::exchange_from(
            dns,
            Some("127.89.31.2".parse().unwrap()),
            &query(0, "a0.slow."),
            Transport::Tcp,
            Duration::from_secs(8),
        );
        (response, sent.elapsed())
    });
    // The TCP query arrives before the UDP ones (only its being older than
    // query 10 matters).
    std::thread::sleep(Duration::from_millis(300));
    for id in 1..30u16 {
        // Query 10 asks the name B will ask too (coalesced).
        let name = if id == 10 {
            "shared.slow.".to_owned()
        } else {
            format!("a{id}.slow.")
        };
        a.send(id, &name);
    }
    let (response, tcp_elapsed) = tcp.join().expect("the TCP client");
    let response = response.expect("the TCP query is answered");
    let tcp_response = Message::parse(&response).expect("a well-formed response");
    receive_until(&mut [&mut a], Duration::from_secs(2), |clients| {
        clients[0].failed(1..30).len() >= 9
    });
    assert_eq!(
        tcp_response.rcode(),
        Rcode::SERVFAIL,
        "A's oldest, over TCP"
    );
    assert!(
        tcp_elapsed < SLOW,
        "given up at once, not after the slow answer: {tcp_elapsed:?}"
    );
    assert_eq!(a.failed(1..30), (1..10).collect::<Vec<_>>(), "phase 1");

    // Phase 2: B asks 15; query 3 is the name of A's query 10. B's first 10
    // fill the server (A 20 + B 10 = 30); each of the next 5 gives up the
    // oldest of A, the heavier network: A's 10 to 14. A's query 10 led the
    // resolution B's query 3 waits for; B's query 3 takes it over.
    for id in 0..15u16 {
        let name = if id == 3 {
            "shared.slow.".to_owned()
        } else {
            format!("b{id}.slow.")
        };
        b.send(id, &name);
    }
    receive_until(&mut [&mut a, &mut b], Duration::from_secs(2), |clients| {
        clients[0].failed(1..30).len() >= 14
    });
    assert_eq!(a.failed(1..30), (1..15).collect::<Vec<_>>(), "phase 2");
    assert_eq!(b.failed(0..15), Vec::<usize>::new(), "phase 2");

    // Phase 3: C asks 6 names and the cached one. A and B hold 15 each: C's
    // queries take, in turn, the oldest of A (older than B's oldest on a
    // tie), B, A, B, A, B.
    for id in 0..6u16 {
        c.send(id, &format!("c{id}.slow."));
    }
    c.send(200, "www.good.");
    receive_until(
        &mut [&mut a, &mut b, &mut c],
        Duration::from_secs(2),
        |clients| clients[0].failed(1..30).len() >= 17 && clients[1].failed(0..15).len() >= 3,
    );
    let phases = started.elapsed();
    assert!(
        phases < SLOW,
        "the phases took {phases:?}, longer than the slow server waits"
    );

    // Then every resolution left ends: the slow answers after 3 s, B's
    // query 3 after its own new resolution (up to 6 s).
    receive_until(
        &mut [&mut a, &mut b, &mut c],
        Duration::from_secs(12),
        |clients| {
            clients[0].answered(1..30).len() + clients[0].failed(1..30).len() == 29
                && clients[1].answered(0..15).len() + clients[1].failed(0..15).len() == 15
                && clients[2].answered(0..6).len() + clients[2].failed(0..6).len() == 6
        },
    );
    eprintln!(
        "A failed {:?}, B failed {:?}, C failed {:?}; the hit: {:?}",
        a.failed(1..30),
        b.failed(0..15),
        c.failed(0..6),
        c.seen[200]
    );
    assert_eq!(a.failed(1..30), (1..18).collect::<Vec<_>>());
    assert_eq!(a.answered(1..30), (18..30).collect::<Vec<_>>());
    assert_eq!(b.failed(0..15), vec![0, 1, 2]);
    assert_eq!(b.answered(0..15), (3..15).collect::<Vec<_>>());
    assert_eq!(
        b.seen[3].as_ref().map(|seen| seen.0),
        Some(Rcode::NXDOMAIN),
        "the coalesced query got the real answer"
    );
    assert_eq!(c.answered(0..6), (0..6).collect::<Vec<_>>());
    // Every query given up was answered before the slow server answered,
    // with the Extended DNS Error of overload.
    let given_up = a.seen[1..30].iter().chain(&b.seen[0..15]).flatten();
    for (rcode, elapsed, error) in given_up.filter(|seen| seen.0 == Rcode::SERVFAIL) {
        assert_eq!(*rcode, Rcode::SERVFAIL);
        assert!(*elapsed < 2500, "a query given up waited {elapsed} ms");
        let (code, text) = error.as_ref().expect("an Extended DNS Error");
        assert_eq!(*code, 0, "EDE 0, Other");
        assert!(text.contains("overloaded"), "EXTRA-TEXT {text:?}");
    }
    assert_eq!(
        extended_error(&tcp_response).map(|(code, _)| code),
        Some(0),
        "the TCP SERVFAIL has the EDE too"
    );
    // A cache hit is answered during the overload, at once.
    let (rcode, elapsed, _) = c.seen[200].clone().expect("the cache hit is answered");
    assert_eq!(rcode, Rcode::NOERROR);
    assert!(elapsed < 1000, "the cache hit took {elapsed} ms");
    // A's 18 and B's 3.
    assert_eq!(
        metric(
            api,
            "hanse_rate_limited_total{kind=\"overload\",action=\"servfail\"}"
        ),
        21.0
    );
    // All of them were given up for newer queries, none shed on arrival.
    assert_eq!(metric(api, "hanse_overload_given_up_total"), 21.0);
}

#[test]
fn overload_action_drop_sends_nothing_for_a_resolution_given_up() {
    let setup = start(
        "127.89.40",
        "max_resolutions = 30\nmax_resolutions_per_client = 2\noverload_action = \"drop\"",
    );
    let (dns, api) = (setup.hanse.dns, setup.api);
    // Three misses from one network whose cap is 2: the oldest is given up
    // and gets no answer, the other two are resolved.
    let mut a = Client::new("127.89.41.1", dns);
    for id in 0..3u16 {
        a.send(id, &format!("d{id}.slow."));
    }
    receive_until(&mut [&mut a], Duration::from_secs(12), |clients| {
        clients[0].answered(0..3).len() >= 2
    });
    // A late answer to query 0 would have come by now too.
    std::thread::sleep(Duration::from_millis(200));
    a.receive();
    assert_eq!(a.answered(0..3), vec![1, 2]);
    assert!(a.seen[0].is_none(), "query 0 got {:?}", a.seen[0]);
    assert_eq!(
        metric(
            api,
            "hanse_rate_limited_total{kind=\"overload\",action=\"drop\"}"
        ),
        1.0
    );
    assert_eq!(metric(api, "hanse_overload_given_up_total"), 1.0);
}
