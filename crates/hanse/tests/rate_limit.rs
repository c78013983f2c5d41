//! End-to-end tests of the rate limits of `hanse serve` (`[rate_limit]`):
//! the token bucket per client network, exempt networks, and
//! response-rate limiting (RRL) whose slipped, truncated answers send a
//! client to TCP, where it gets the answer. The counts show in `/metrics`.
//!
//! Addresses: the authoritative servers on 127.85.0.1 (root) and
//! 127.85.0.2 (`example.`) for the first test, 127.85.10.1 and 127.85.10.2
//! for the second; clients on 127.85.1.0/24 (limited), 127.85.2.0/24
//! (another network), 127.85.3.0/24 (exempt) and 127.85.4.0/24 (RRL).
//! The tests of RRL by zone and of the query log's record of limited
//! queries use 127.90.0.1 (root), 127.90.0.2 (`example.`), 127.90.0.3
//! (`other.`), 127.90.10.1 and 127.90.10.2, and clients 127.90.1.1 and
//! 127.90.2.1.
//! Hanse listens on 127.0.0.1 on a free port.

mod support;

use hanse_testnet::client::exchange_from;
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Edns, Header, Message, Name, RType, Rcode, compose_query};
use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, free_tcp_port, metric};

/// A root on `prefix.1` and `example.` on `prefix.2`.
fn hierarchy(prefix: &str) -> (TestNet, String) {
    support::example_hierarchy_at(
        &format!("{prefix}.1"),
        &format!("{prefix}.2"),
        "www A 192.0.2.1\n",
    )
}

/// Starts Hanse with the hierarchy's hints, its API on a free port, and
/// `rate_limit` as the `[rate_limit]` section.
fn start(scratch: &Scratch, hints: &str, rate_limit: &str) -> (HanseProcess, SocketAddr) {
    std::fs::write(scratch.0.join("named.root"), hints).unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let process = HanseProcess::start(&scratch.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [dnssec]\nvalidation = false\n\
             [api]\nlisten = \"{api}\"\n[rate_limit]\n{rate_limit}\n"
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(api).is_err() {
        assert!(
            Instant::now() < deadline,
            "the API did not listen; log:\n{}",
            process.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, api)
}

fn www() -> Name {
    Name::from_ascii("www.example.").unwrap()
}

fn packet(id: u16) -> Vec<u8> {
    let edns = Edns {
        udp_size: 1232,
        ..Edns::default()
    };
    compose_query(id, &www(), RType::A, true, Some(edns))
}

/// What one client saw: queries sent, full answers, truncated answers,
/// and how long the sending took.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: u32,
    answered: u32,
    truncated: u32,
    seconds: f64,
}

/// Sends `count` queries for www.example/A from `source` to `server`, one
/// every `interval`, and counts the answers (until 1 s after the last).
fn send_paced(server: SocketAddr, source: IpAddr, count: u16, interval: Duration) -> Tally {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind the client");
    socket.connect(server).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    let mut buffer = [0u8; 4096];
    let mut receive = |tally: &mut Tally| {
        loop {
            match socket.recv(&mut buffer) {
                Ok(length) => {
                    let Ok(message) = Message::parse(&buffer[..length]) else {
                        continue;
                    };
                    if !seen.insert(message.header.id) {
                        continue;
                    }
                    if message.header.truncated {
                        tally.truncated += 1;
                    } else if message.header.rcode == Rcode::NOERROR.header_bits()
                        && !message.answers.is_empty()
                    {
                        tally.answered += 1;
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    };
    let started = Instant::now();
    for index in 0..count {
        let _ = socket.send(&packet(index));
        tally.sent += 1;
        receive(&mut tally);
        let next = started + interval * (u32::from(index) + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        receive(&mut tally);
        std::thread::sleep(Duration::from_millis(10));
    }
    tally
}

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_client_over_its_limit_gets_its_rate_while_other_networks_get_everything() {
    let (_net, hints) = hierarchy("127.85.0");
    let scratch = Scratch::new("rate-limit-clients");
    let (hanse, api) = start(
        &scratch,
        &hints,
        "queries_per_second = 50\nburst = 50\nexempt = [\"127.85.3.0/24\"]",
    );
    // Fill the cache (from 127.0.0.1, its own network).
    let warm = exchange_from(
        hanse.dns,
        None,
        &packet(1),
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("www.example answers");
    assert_eq!(Header::parse(&warm).unwrap().rcode, 0);
    let dns = hanse.dns;
    // 100 queries per second for 3 s: twice the limit, from two addresses
    // of one /24.
    let flood = [
        std::thread::spawn(move || {
            send_paced(dns, address("127.85.1.1"), 150, Duration::from_millis(20))
        }),
        std::thread::spawn(move || {
            send_paced(dns, address("127.85.1.2"), 150, Duration::from_millis(20))
        }),
    ];
    // Meanwhile 20 per second from another /24, and 200 per second from an
    // exempt one.
    let other = std::thread::spawn(move || {
        send_paced(dns, address("127.85.2.1"), 60, Duration::from_millis(50))
    });
    let exempt = std::thread::spawn(move || {
        send_paced(dns, address("127.85.3.1"), 600, Duration::from_millis(5))
    });
    let flood: Vec<Tally> = flood.map(|thread| thread.join().unwrap()).into();
    let other = other.join().unwrap();
    let exempt = exempt.join().unwrap();
    let sent: u32 = flood.iter().map(|tally| tally.sent).sum();
    let answered: u32 = flood.iter().map(|tally| tally.answered).sum();
    let seconds = flood
        .iter()
        .map(|tally| tally.seconds)
        .fold(0.0_f64, f64::max);
    // The bucket: 50 at once, then 50 per second.
    let allowed = 50.0 + 50.0 * seconds;
    eprintln!(
        "limited network: {answered} of {sent} answered in {seconds:.2} s (allowed {allowed:.0}); \
         other: {other:?}; exempt: {exempt:?}"
    );
    assert!(
        f64::from(answered) <= allowed + 5.0,
        "{answered} answered, more than the {allowed:.0} allowed"
    );
    assert!(
        f64::from(answered) >= 0.85 * allowed.min(f64::from(sent)),
        "{answered} answered, far fewer than the {allowed:.0} allowed"
    );
    assert_eq!(other.answered, other.sent, "another network: {other:?}");
    assert_eq!(
        exempt.answered, exempt.sent,
        "the exempt network: {exempt:?}"
    );
    let dropped = metric(
        api,
        "hanse_rate_limited_total{kind=\"client\",action=\"drop\"}",
    );
    assert_eq!(dropped, f64::from(sent - answered), "drops counted");
    assert_eq!(
        metric(
            api,
            "hanse_rate_limited_total{kind=\"rrl\",action=\"slip\"}"
        ),
        0.0
    );
}

#[test]
fn rrl_slips_truncated_answers_and_tcp_gets_the_answer() {
    let (_net, hints) = hierarchy("127.85.10");
    let scratch = Scratch::new("rate-limit-rrl");
    let (hanse, api) = start(
        &scratch,
        &hints,
        "queries_per_second = 0\nresponses_per_second = 5\nslip = 2\nexempt = []",
    );
    let client = address("127.85.4.1");
    let answer = exchange_from(
        hanse.dns,
        Some(client),
        &packet(1),
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("www.example answers");
    assert_eq!(Message::parse(&answer).unwrap().answers.len(), 1);
    // 40 identical questions in 0.4 s: about 5 answers (the bucket, less the
    // one above, plus the refill), then every second one slips.
    let tally = send_paced(hanse.dns, client, 40, Duration::from_millis(10));
    eprintln!("identical responses: {tally:?}");
    let full_allowed = 5.0 + 5.0 * tally.seconds;
    assert!(
        f64::from(tally.answered) <= full_allowed + 1.0,
        "{tally:?}: more full answers than allowed"
    );
    assert!(tally.answered >= 3, "{tally:?}: too few full answers");
    let limited = tally.sent - tally.answered;
    assert!(
        tally.truncated + 1 >= limited / 2 && tally.truncated <= limited / 2 + 1,
        "{tally:?}: every second limited response slips"
    );
    // A truncated answer has no records and sends the client to TCP,
    // where RRL does not apply.
    for attempt in 0..5u16 {
        let over_tcp = exchange_from(
            hanse.dns,
            Some(client),
            &packet(1000 + attempt),
            Transport::Tcp,
            Duration::from_secs(5),
        )
        .expect("an answer over TCP");
        let message = Message::parse(&over_tcp).unwrap();
        assert!(!message.header.truncated);
        assert_eq!(message.answers.len(), 1, "the answer over TCP");
    }
    let slipped = metric(
        api,
        "hanse_rate_limited_total{kind=\"rrl\",action=\"slip\"}",
    );
    let dropped = metric(
        api,
        "hanse_rate_limited_total{kind=\"rrl\",action=\"drop\"}",
    );
    assert_eq!(slipped, f64::from(tally.truncated));
    assert_eq!(slipped + dropped, f64::from(limited));
}

/// `GET path` on the API; the body.
fn get(api: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(api).expect("the API accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_owned())
}

/// The query log's entries for `client` (JSON), once `done` holds for them
/// or after 10 s.
fn query_log_of(api: SocketAddr, client: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = get(api, &format!("/api/v1/querylog?client={client}&limit=1000"));
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What one client saw of a run of distinct names: full answers (NOERROR
/// or NXDOMAIN), truncated ones, and the sending time.
#[derive(Debug, Default, Clone, Copy)]
struct NameTally {
    sent: u32,
    full: u32,
    truncated: u32,
    seconds: f64,
}

/// Asks `{prefix}{index}.{zone}` A for `count` indexes from `source`, one
/// every `interval`, and counts the responses (until 2 s after the last).
fn ask_distinct(
    server: SocketAddr,
    source: IpAddr,
    prefix: &str,
    zone: &str,
    count: u16,
    interval: Duration,
) -> NameTally {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind the client");
    socket.connect(server).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut tally = NameTally::default();
    let mut seen = HashSet::new();
    let mut buffer = [0u8; 4096];
    let mut receive = |tally: &mut NameTally| {
        while let Ok(length) = socket.recv(&mut buffer) {
            let Ok(message) = Message::parse(&buffer[..length]) else {
                continue;
            };
            if !seen.insert(message.header.id) {
                continue;
            }
            if message.header.truncated {
                tally.truncated += 1;
            } else {
                tally.full += 1;
            }
        }
    };
    let edns = Edns {
        udp_size: 1232,
        ..Edns::default()
    };
    let started = Instant::now();
    for index in 0..count {
        let name = Name::from_ascii(&format!("{prefix}{index}.{zone}")).unwrap();
        let _ = socket.send(&compose_query(
            index,
            &name,
            RType::A,
            true,
            Some(edns.clone()),
        ));
        tally.sent += 1;
        receive(&mut tally);
        let next = started + interval * (u32::from(index) + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && tally.full + tally.truncated < tally.sent {
        receive(&mut tally);
        std::thread::sleep(Duration::from_millis(10));
    }
    tally
}

/// Starts Hanse with the query log on (privacy level 0) and `rate_limit`
/// as the `[rate_limit]` section.
fn start_with_query_log(
    scratch: &Scratch,
    hints: &str,
    rate_limit: &str,
) -> (HanseProcess, SocketAddr) {
    start(
        scratch,
        hints,
        &format!(
            "{rate_limit}\n[query_log]\nenabled = true\nprivacy_level = 0\n\
             path = \"querylog.sqlite\"\n"
        ),
    )
}

#[test]
fn rrl_limits_a_random_subdomain_flood_per_zone_and_the_query_log_says_so() {
    // The root on .1, example. on .2, other. on .3; no name below them
    // but their nameservers exists.
    let root = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
                a.root. A 127.90.0.1\nexample. NS ns.example.\nns.example. A 127.90.0.2\n\
                other. NS ns.other.\nns.other. A 127.90.0.3\n";
    let example = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.90.0.2\n";
    let other = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.90.0.3\n";
    let net = TestNet::start(vec![
        ServerSpec::new(
            "127.90.0.1:53".parse().unwrap(),
            vec![Zone::parse(".", root).unwrap()],
        ),
        ServerSpec::new(
            "127.90.0.2:53".parse().unwrap(),
            vec![Zone::parse("example.", example).unwrap()],
        ),
        ServerSpec::new(
            "127.90.0.3:53".parse().unwrap(),
            vec![Zone::parse("other.", other).unwrap()],
        ),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&["127.90.0.1"]);
    let scratch = Scratch::new("rate-limit-rrl-zones");
    let (hanse, api) = start_with_query_log(
        &scratch,
        &hints,
        "queries_per_second = 0\nresponses_per_second = 10\nslip = 2\nexempt = []",
    );
    let client = address("127.90.1.1");
    // A denial names its zone in the SOA of the authority section.
    let first = exchange_from(
        hanse.dns,
        Some(client),
        &compose_query(
            1,
            &Name::from_ascii("probe.example.").unwrap(),
            RType::A,
            true,
            Some(Edns::default()),
        ),
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("an NXDOMAIN");
    let first = Message::parse(&first).unwrap();
    assert_eq!(first.rcode(), Rcode::NXDOMAIN);
    assert!(
        first
            .authorities
            .iter()
            .any(|record| record.rtype == RType::SOA
                && record.name == Name::from_ascii("example.").unwrap()),
        "{first:?}"
    );
    // 200 distinct nonexistent names in example. in about 1 s: one bucket
    // of 10 per second, so most are limited, every second one slipping.
    // Meanwhile, once that bucket is empty, the same client asks for 8
    // nonexistent names in other.: a bucket of their own, not limited.
    let dns = hanse.dns;
    let other_zone = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        ask_distinct(
            dns,
            client,
            "random",
            "other.",
            8,
            Duration::from_millis(80),
        )
    });
    let flood = ask_distinct(
        hanse.dns,
        client,
        "random",
        "example.",
        200,
        Duration::from_millis(5),
    );
    let other_zone = other_zone.join().unwrap();
    eprintln!("flood of example.: {flood:?}; other. meanwhile: {other_zone:?}");
    let allowed = 10.0 + 10.0 * (flood.seconds + 2.0);
    assert!(
        f64::from(flood.full) <= allowed,
        "{flood:?}: more full answers than the bucket allows"
    );
    let limited = flood.sent - flood.full;
    assert!(limited >= 150, "{flood:?}: the flood was not limited");
    assert!(
        flood.truncated + 2 >= limited / 2 && flood.truncated <= limited / 2 + 2,
        "{flood:?}: every second limited response slips"
    );
    assert_eq!(other_zone.full, other_zone.sent, "{other_zone:?}");
    // Meanwhile example. is still limited for this client.
    let again = ask_distinct(
        hanse.dns,
        client,
        "again",
        "example.",
        40,
        Duration::from_millis(1),
    );
    assert!(again.full < again.sent, "{again:?}");
    let slipped = metric(
        api,
        "hanse_rate_limited_total{kind=\"rrl\",action=\"slip\"}",
    );
    let dropped = metric(
        api,
        "hanse_rate_limited_total{kind=\"rrl\",action=\"drop\"}",
    );
    assert_eq!(
        slipped,
        f64::from(flood.truncated + again.truncated),
        "slips counted"
    );
    assert!(dropped >= f64::from(limited / 2) - 2.0, "drops counted");
    // The query log has the limited queries, with what happened to them.
    let log = query_log_of(api, "127.90.1.1", |body| {
        body.contains("\"action\":\"rrl_slip\"") && body.contains("\"action\":\"rrl_drop\"")
    });
    assert!(
        log.contains("\"action\":\"rrl_slip\"") && log.contains("\"action\":\"rrl_drop\""),
        "no RRL outcome in the query log: {}",
        &log[..log.len().min(2000)]
    );
    assert!(
        log.contains("random7.example"),
        "{}",
        &log[..log.len().min(2000)]
    );
}

#[test]
fn queries_over_the_client_limit_are_in_the_query_log() {
    let (_net, hints) = hierarchy("127.90.10");
    let scratch = Scratch::new("rate-limit-query-log");
    let (hanse, api) = start_with_query_log(
        &scratch,
        &hints,
        "queries_per_second = 5\nburst = 5\nexempt = []",
    );
    // 30 queries in 0.3 s: the burst and a token or two answered, the
    // rest dropped.
    let tally = send_paced(
        hanse.dns,
        address("127.90.2.1"),
        30,
        Duration::from_millis(10),
    );
    eprintln!("limited client: {tally:?}");
    assert!(tally.answered >= 4 && tally.answered <= 8, "{tally:?}");
    let dropped = tally.sent - tally.answered;
    // Identical queries within a flush interval are one entry with a count.
    let log = query_log_of(api, "127.90.2.1", |body| {
        rate_limited_count(body) >= u64::from(dropped)
    });
    assert_eq!(
        rate_limited_count(&log),
        u64::from(dropped),
        "every dropped query is logged as rate limited: {log}"
    );
    assert!(log.contains("\"rcode\":\"dropped\""), "{log}");
    assert_eq!(
        metric(
            api,
            "hanse_rate_limited_total{kind=\"client\",action=\"drop\"}"
        ),
        f64::from(dropped)
    );
}

/// The queries of the query-log entries (a JSON array) whose action is
/// `rate_limited`, each entry counting its `count`.
fn rate_limited_count(body: &str) -> u64 {
    body.split("{\"id\":")
        .filter(|entry| entry.contains("\"action\":\"rate_limited\""))
        .map(|entry| {
            entry
                .split("\"count\":")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(|count| count.trim().parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// What the clients of the flood test saw.
#[derive(Debug, Default, Clone)]
struct Outcomes {
    sent: u32,
    /// NOERROR or NXDOMAIN answers.
    answered: u32,
    /// SERVFAIL answers that name the outstanding-query cap.
    busy: u32,
    /// Other SERVFAIL answers.
    servfail: u32,
    /// Answer times in milliseconds, in order of arrival.
    latencies: Vec<u64>,
}

/// Sends `count` queries for `{prefix}{index}.{zone}` from `source`, one
/// every `interval`, and sorts the responses (until 3 s after the last).
/// Responses are read every millisecond, so latencies are accurate to a
/// few milliseconds.
fn ask_unique_names(
    server: SocketAddr,
    source: IpAddr,
    prefix: &str,
    zone: &str,
    count: u16,
    interval: Duration,
) -> Outcomes {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind the client");
    socket.connect(server).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut outcomes = Outcomes::default();
    let mut sent_at: Vec<Option<Instant>> = vec![None; usize::from(count)];
    let mut buffer = [0u8; 4096];
    let mut receive = |outcomes: &mut Outcomes, sent_at: &mut Vec<Option<Instant>>| {
        while let Ok(length) = socket.recv(&mut buffer) {
            let Ok(message) = Message::parse(&buffer[..length]) else {
                continue;
            };
            let Some(started) = sent_at
                .get_mut(usize::from(message.header.id))
                .and_then(Option::take)
            else {
                continue;
            };
            outcomes
                .latencies
                .push(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
            let rcode = message.rcode();
            if rcode == Rcode::SERVFAIL {
                let busy = message.edns.as_ref().is_some_and(|edns| {
                    edns.options.iter().any(|option| {
                        option.code == 15
                            && option.data.starts_with(&[0, 0])
                            && option.data[2..].starts_with(b"too many upstream queries")
                    })
                });
                if busy {
                    outcomes.busy += 1;
                } else {
                    outcomes.servfail += 1;
                }
            } else if rcode == Rcode::NOERROR || rcode == Rcode::NXDOMAIN {
                outcomes.answered += 1;
            }
        }
    };
    let edns = Edns {
        udp_size: 1232,
        ..Edns::default()
    };
    let started = Instant::now();
    for index in 0..count {
        let name = Name::from_ascii(&format!("{prefix}{index}.{zone}")).unwrap();
        let _ = socket.send(&compose_query(
            index,
            &name,
            RType::A,
            true,
            Some(edns.clone()),
        ));
        sent_at[usize::from(index)] = Some(Instant::now());
        outcomes.sent += 1;
        let next = started + interval * (u32::from(index) + 1);
        loop {
            receive(&mut outcomes, &mut sent_at);
            match next.checked_duration_since(Instant::now()) {
                Some(wait) => std::thread::sleep(wait.min(Duration::from_millis(1))),
                None => break,
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && sent_at.iter().any(Option::is_some) {
        receive(&mut outcomes, &mut sent_at);
        std::thread::sleep(Duration::from_millis(1));
    }
    outcomes
}

#[test]
fn a_random_subdomain_flood_against_a_slow_zone_leaves_other_zones_answering() {
    // The root on .1 delegates good. to .2 (a wildcard: every name exists)
    // and victim. to .3, which answers only after 800 ms.
    let root = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
                a.root. A 127.85.20.1\ngood. NS ns.good.\nns.good. A 127.85.20.2\n\
                victim. NS ns.victim.\nns.victim. A 127.85.20.3\n";
    let good = "$TTL 3600\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.85.20.2\n\
                * A 192.0.2.7\n";
    let victim = "$TTL 3600\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.85.20.3\n";
    let net = TestNet::start(vec![
        ServerSpec::new(
            "127.85.20.1:53".parse().unwrap(),
            vec![Zone::parse(".", root).unwrap()],
        ),
        ServerSpec::new(
            "127.85.20.2:53".parse().unwrap(),
            vec![Zone::parse("good.", good).unwrap()],
        ),
        ServerSpec::new(
            "127.85.20.3:53".parse().unwrap(),
            vec![Zone::parse("victim.", victim).unwrap()],
        )
        .with_behaviour(hanse_testnet::Behaviour::Delay(Duration::from_millis(800))),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&["127.85.20.1"]);
    let scratch = Scratch::new("rate-limit-flood");
    std::fs::write(scratch.0.join("named.root"), &hints).unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let cap = 20;
    let hanse = HanseProcess::start(&scratch.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nmax_outstanding_per_zone = {cap}\nupstream_timeout = \"2s\"\n\
             max_resolution_time = \"4s\"\n\
             [cache]\nserve_stale = false\n[dnssec]\nvalidation = false\n\
             [api]\nlisten = \"{api}\"\n[rate_limit]\nqueries_per_second = 0\n"
        )
    });
    let dns = hanse.dns;
    // Prime the root and both delegations.
    for name in ["www.good.", "primer.victim."] {
        let name = Name::from_ascii(name).unwrap();
        hanse_testnet::client::query(dns, &name, RType::A, Transport::Udp, Duration::from_secs(5))
            .expect("an answer while nothing floods");
    }
    net.clear_queries();
    // The flood: 2 × 150 random names per second under victim. for 3 s;
    // meanwhile a legitimate client asks 20 new names per second under good.
    let flood: Vec<_> = (1..=2u8)
        .map(|thread| {
            std::thread::spawn(move || {
                let source = IpAddr::from([127, 85, 21, thread]);
                let prefix = format!("r{thread}x");
                ask_unique_names(
                    dns,
                    source,
                    &prefix,
                    "victim.",
                    450,
                    Duration::from_nanos(6_666_667),
                )
            })
        })
        .collect();
    let legitimate = std::thread::spawn(move || {
        ask_unique_names(
            dns,
            address("127.85.22.1"),
            "n",
            "good.",
            60,
            Duration::from_millis(50),
        )
    });
    let flood: Vec<Outcomes> = flood
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    let legitimate = legitimate.join().unwrap();
    let mut latencies = legitimate.latencies.clone();
    latencies.sort_unstable();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or(u64::MAX);
    let slowest = latencies.last().copied().unwrap_or(u64::MAX);
    let flood_sent: u32 = flood.iter().map(|outcomes| outcomes.sent).sum();
    let flood_busy: u32 = flood.iter().map(|outcomes| outcomes.busy).sum();
    let flood_answered: u32 = flood.iter().map(|outcomes| outcomes.answered).sum();
    let victim_queries = net.server("127.85.20.3:53").queries().len();
    eprintln!(
        "legitimate: {} of {} answered, median {median} ms, slowest {slowest} ms; \
         flood: {flood_sent} sent, {flood_answered} answered, {flood_busy} busy; \
         the victim's server got {victim_queries} queries",
        legitimate.answered, legitimate.sent
    );
    assert_eq!(legitimate.answered, legitimate.sent, "{legitimate:?}");
    assert!(median < 200, "legitimate answers took {median} ms (median)");
    assert!(flood_busy > flood_sent / 2, "most of the flood fails fast");
    // At most `cap` queries wait at once, each about 800 ms: over about 3 s
    // of flood that is at most cap × 5 queries (a margin for the end).
    assert!(
        victim_queries <= cap * 6,
        "the victim's server got {victim_queries} queries"
    );
    let busy = metric(
        api,
        "hanse_resolution_failures_total{reason=\"upstream_busy\"}",
    );
    assert!(
        busy >= f64::from(flood_busy),
        "busy failures counted: {busy}"
    );
}
