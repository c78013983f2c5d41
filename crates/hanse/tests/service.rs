//! End-to-end tests of the `hanse serve` process: access list, SIGHUP
//! reload, SIGTERM drain, error responses to malformed and unsupported
//! queries, TCP pipelining, truncation, coalescing of identical questions,
//! and survival of a flood of random packets.
//!
//! A small hierarchy of in-process authoritative servers (hanse-testnet)
//! runs on 127.40.0.0/16; each test uses its own third octet so tests can
//! run in parallel. Everything stays on 127.0.0.0/8.

use hanse_testnet::client::{exchange, query};
use hanse_testnet::{Behaviour, ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Edns, Header, Message, Name, RType, Rcode, compose_query};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hierarchy: a root on .1, `example.` on .2.
fn hierarchy(octet: u8, example_behaviour: Behaviour) -> (TestNet, String) {
    let root_address = format!("127.40.{octet}.1");
    let example_address = format!("127.40.{octet}.2");
    let root = format!(
        "$TTL 3600\n\
         . SOA a.root. admin. 1 3600 600 86400 300\n\
         . NS a.root.\n\
         a.root. A {root_address}\n\
         example. NS ns.example.\n\
         ns.example. A {example_address}\n"
    );
    let mut big_txt = String::new();
    for index in 0..12 {
        big_txt.push_str(&format!("big TXT \"{index:02}-{}\"\n", "x".repeat(60)));
    }
    let example = format!(
        "$TTL 300\n\
         @ SOA ns admin 1 3600 600 86400 60\n\
         @ NS ns\n\
         ns A {example_address}\n\
         www A 192.0.2.1\n\
         slow A 192.0.2.2\n\
         {big_txt}"
    );
    let net = TestNet::start(vec![
        ServerSpec::new(
            format!("{root_address}:53").parse().unwrap(),
            vec![Zone::parse(".", &root).unwrap()],
        ),
        ServerSpec::new(
            format!("{example_address}:53").parse().unwrap(),
            vec![Zone::parse("example.", &example).unwrap()],
        )
        .with_behaviour(example_behaviour),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&[&root_address]);
    (net, hints)
}

/// A running `hanse serve` process, stopped by PID when dropped.
struct Hanse {
    child: Child,
    address: SocketAddr,
    config_path: PathBuf,
    directory: PathBuf,
}

impl Drop for Hanse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn config_text(port: u16, hints_path: &str, allow_from: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:{port}\"]\nallow_from = [{allow_from}]\nthreads = 2\n\
         [resolver]\nroot_hints = \"{hints_path}\"\nquery_private_upstreams = true\n{extra}\n\
         [resolver.limits]\nmax_resolution_time = \"4s\"\n[api]\nenabled = false\n"
    )
}

fn start(name: &str, hints: &str, allow_from: &str, extra: &str) -> Hanse {
    let directory =
        std::env::temp_dir().join(format!("hanse-service-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let hints_path = directory.join("named.root");
    std::fs::write(&hints_path, hints).unwrap();
    let config_path = directory.join("hanse.toml");
    // A port that was free when picked may be taken before Hanse binds it
    // (tests run in parallel); then Hanse exits and another port is tried.
    for _attempt in 0..3 {
        let port = free_port();
        std::fs::write(
            &config_path,
            config_text(port, hints_path.to_str().unwrap(), allow_from, extra),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hanse"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hanse starts");
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut hanse = Hanse {
            child,
            address,
            config_path: config_path.clone(),
            directory: directory.clone(),
        };
        // Wait until it answers over UDP and accepts over TCP.
        let deadline = Instant::now() + Duration::from_secs(10);
        // A query without a question: FORMERR at once, no upstream asked.
        let probe = vec![0u8, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        while Instant::now() < deadline {
            if let Ok(Some(_)) = hanse.child.try_wait() {
                break;
            }
            if exchange(address, &probe, Transport::Udp, Duration::from_millis(200)).is_ok()
                && TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
            {
                return hanse;
            }
        }
        // Keep the directory for the next attempt.
        let _ = hanse.child.kill();
        let _ = hanse.child.wait();
        std::mem::forget(hanse);
    }
    panic!("hanse did not start answering over UDP and TCP within 3 attempts");
}

fn ask(hanse: &Hanse, name: &str, rtype: RType) -> Message {
    query(
        hanse.address,
        &Name::from_ascii(name).unwrap(),
        rtype,
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("an answer")
}

fn signal(hanse: &Hanse, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), hanse.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn refuses_clients_outside_the_access_list_until_a_sighup_reload_allows_them() {
    let (_net, hints) = hierarchy(1, Behaviour::Normal);
    let hanse = start("acl", &hints, "\"127.0.0.99/32\"", "");
    assert_eq!(
        ask(&hanse, "www.example.", RType::A).rcode(),
        Rcode::REFUSED
    );
    let text = std::fs::read_to_string(&hanse.config_path).unwrap();
    std::fs::write(
        &hanse.config_path,
        text.replace("\"127.0.0.99/32\"", "\"127.0.0.0/8\""),
    )
    .unwrap();
    signal(&hanse, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = ask(&hanse, "www.example.", RType::A);
        if answer.rcode() == Rcode::NOERROR {
            assert_eq!(answer.answers.len(), 1);
            assert_eq!(answer.answers[0].data.as_ref(), &[192, 0, 2, 1]);
            break;
        }
        assert!(Instant::now() < deadline, "the reload did not take effect");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_broken_config_on_sighup_keeps_the_old_one() {
    let (_net, hints) = hierarchy(2, Behaviour::Normal);
    let hanse = start("badreload", &hints, "\"127.0.0.0/8\"", "");
    std::fs::write(&hanse.config_path, "[server]\nlisten = 5\nbogus = true\n").unwrap();
    signal(&hanse, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        ask(&hanse, "www.example.", RType::A).rcode(),
        Rcode::NOERROR
    );
}

#[test]
fn sigterm_answers_queries_under_way_then_exits() {
    let (_net, hints) = hierarchy(3, Behaviour::Delay(Duration::from_millis(600)));
    let mut hanse = start(
        "drain",
        &hints,
        "\"127.0.0.0/8\"",
        "qname_minimisation = \"off\"",
    );
    let address = hanse.address;
    let asker = std::thread::spawn(move || {
        query(
            address,
            &Name::from_ascii("slow.example.").unwrap(),
            RType::A,
            Transport::Udp,
            Duration::from_secs(5),
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    signal(&hanse, "TERM");
    let answer = asker
        .join()
        .unwrap()
        .expect("the query under way is answered");
    assert_eq!(answer.rcode(), Rcode::NOERROR);
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        if let Some(status) = hanse.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hanse did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn raw(hanse: &Hanse, packet: &[u8]) -> Option<Vec<u8>> {
    exchange(
        hanse.address,
        packet,
        Transport::Udp,
        Duration::from_millis(1500),
    )
    .ok()
}

#[test]
fn malformed_and_unsupported_queries_get_the_right_error() {
    let (_net, hints) = hierarchy(4, Behaviour::Normal);
    let hanse = start("errors", &hints, "\"127.0.0.0/8\"", "");
    let name = Name::from_ascii("www.example.").unwrap();
    let rcode = |response: Option<Vec<u8>>| {
        Message::parse(&response.expect("a response"))
            .unwrap()
            .rcode()
    };

    // A header that announces a question it does not carry.
    let mut header = Header {
        id: 77,
        recursion_desired: true,
        question_count: 1,
        ..Header::default()
    }
    .to_bytes()
    .to_vec();
    assert_eq!(rcode(raw(&hanse, &header)), Rcode::FORMERR);
    // A compression loop in the question.
    header.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(rcode(raw(&hanse, &header)), Rcode::FORMERR);
    // Opcode STATUS.
    let mut status = compose_query(78, &name, RType::A, true, None);
    status[2] |= 2 << 3;
    assert_eq!(rcode(raw(&hanse, &status)), Rcode::NOTIMP);
    // EDNS version 1.
    let edns = Edns {
        version: 1,
        ..Edns::default()
    };
    let badvers = compose_query(79, &name, RType::A, true, Some(edns));
    assert_eq!(rcode(raw(&hanse, &badvers)), Rcode::BADVERS);
    // Class CH and zone transfers are refused.
    let mut chaos = compose_query(80, &name, RType::TXT, true, None);
    let class_offset = chaos.len() - 2;
    chaos[class_offset..].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(rcode(raw(&hanse, &chaos)), Rcode::REFUSED);
    assert_eq!(
        rcode(raw(
            &hanse,
            &compose_query(81, &name, RType::AXFR, true, None)
        )),
        Rcode::REFUSED
    );
    // A response is never answered, nor is a packet shorter than a header.
    let mut response = compose_query(82, &name, RType::A, true, None);
    response[2] |= 0x80;
    assert!(raw(&hanse, &response).is_none());
    assert!(raw(&hanse, &[1, 2, 3]).is_none());
    // Still serving.
    assert_eq!(
        ask(&hanse, "www.example.", RType::A).rcode(),
        Rcode::NOERROR
    );
}

#[test]
fn pipelined_tcp_queries_are_all_answered() {
    let (_net, hints) = hierarchy(5, Behaviour::Normal);
    let hanse = start("tcp", &hints, "\"127.0.0.0/8\"", "");
    let mut stream = TcpStream::connect(hanse.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut batch = Vec::new();
    let names = [
        "www.example.",
        "ns.example.",
        "missing.example.",
        "example.",
    ];
    for (index, name) in names.iter().enumerate() {
        let packet = compose_query(
            100 + index as u16,
            &Name::from_ascii(name).unwrap(),
            RType::A,
            true,
            None,
        );
        batch.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        batch.extend_from_slice(&packet);
    }
    stream.write_all(&batch).unwrap();
    let mut ids = Vec::new();
    for _ in names {
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).unwrap();
        let mut response = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut response).unwrap();
        let message = Message::parse(&response).unwrap();
        ids.push(message.header.id);
        let expected = if message.header.id == 102 {
            Rcode::NXDOMAIN
        } else {
            Rcode::NOERROR
        };
        assert_eq!(message.rcode(), expected, "query {}", message.header.id);
    }
    ids.sort();
    assert_eq!(ids, vec![100, 101, 102, 103]);
}

#[test]
fn answers_too_big_for_the_client_are_truncated_over_udp_and_whole_over_tcp() {
    let (_net, hints) = hierarchy(6, Behaviour::Normal);
    let hanse = start("truncation", &hints, "\"127.0.0.0/8\"", "");
    let name = Name::from_ascii("big.example.").unwrap();
    let plain = compose_query(200, &name, RType::TXT, true, None);
    for _ in 0..2 {
        // The second round is served from the answer cache.
        let udp = Message::parse(&raw(&hanse, &plain).unwrap()).unwrap();
        assert!(udp.header.truncated);
        assert!(udp.answers.is_empty());
        let tcp = Message::parse(
            &exchange(
                hanse.address,
                &plain,
                Transport::Tcp,
                Duration::from_secs(5),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(!tcp.header.truncated);
        assert_eq!(tcp.answers.len(), 12);
    }
    let large = compose_query(
        201,
        &name,
        RType::TXT,
        true,
        Some(Edns {
            udp_size: 4096,
            ..Edns::default()
        }),
    );
    let udp = Message::parse(&raw(&hanse, &large).unwrap()).unwrap();
    assert!(!udp.header.truncated);
    assert_eq!(udp.answers.len(), 12);
}

#[test]
fn identical_questions_in_flight_are_coalesced_into_one_upstream_query() {
    let (net, hints) = hierarchy(7, Behaviour::Delay(Duration::from_millis(400)));
    let hanse = start(
        "coalesce",
        &hints,
        "\"127.0.0.0/8\"",
        "qname_minimisation = \"off\"",
    );
    let address = hanse.address;
    let askers: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                query(
                    address,
                    &Name::from_ascii("slow.example.").unwrap(),
                    RType::A,
                    Transport::Udp,
                    Duration::from_secs(5),
                )
            })
        })
        .collect();
    for asker in askers {
        assert_eq!(
            asker.join().unwrap().expect("answered").rcode(),
            Rcode::NOERROR
        );
    }
    let upstream = net
        .server("127.40.7.2")
        .queries()
        .into_iter()
        .filter(|query| {
            query.name == Name::from_ascii("slow.example.").unwrap() && query.rtype == RType::A
        })
        .count();
    assert_eq!(
        upstream, 1,
        "the authoritative server saw {upstream} queries"
    );
}

#[test]
fn a_flood_of_random_and_mutated_packets_leaves_it_answering() {
    let (_net, hints) = hierarchy(8, Behaviour::Normal);
    let hanse = start("flood", &hints, "\"127.0.0.0/8\"", "");
    // Cached before the flood: a cache hit must be served whatever else
    // the flood left queued.
    assert_eq!(
        ask(&hanse, "www.example.", RType::A).rcode(),
        Rcode::NOERROR
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let valid = compose_query(
        300,
        &Name::from_ascii("www.example.").unwrap(),
        RType::A,
        true,
        Some(Edns::default()),
    );
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000u32 {
        let packet: Vec<u8> = if round % 2 == 0 {
            let length = (next() % 120) as usize;
            (0..length).map(|_| next() as u8).collect()
        } else {
            let mut packet = valid.clone();
            for _ in 0..(1 + next() % 4) {
                let index = (next() as usize) % packet.len();
                packet[index] = next() as u8;
            }
            packet.truncate(12 + (next() as usize) % (packet.len() - 11));
            packet
        };
        let _ = socket.send_to(&packet, hanse.address);
        if round % 500 == 0 {
            // Pace the flood a little so the socket buffers do not just overflow.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(
        ask(&hanse, "www.example.", RType::A).rcode(),
        Rcode::NOERROR
    );
    // A new resolution still works once the resolutions the mutated
    // queries started have run their course (bounded: each is limited by
    // max_resolution_time).
    let deadline = Instant::now() + Duration::from_secs(30);
    let name = Name::from_ascii("slow.example.").unwrap();
    loop {
        match query(
            hanse.address,
            &name,
            RType::A,
            Transport::Udp,
            Duration::from_secs(2),
        ) {
            Ok(answer) if answer.rcode() == Rcode::NOERROR => break,
            other => assert!(
                Instant::now() < deadline,
                "slow.example. not resolved 30 s after the flood: {other:?}"
            ),
        }
    }
}

#[test]
fn policy_reloads_under_load_lose_no_query() {
    let (_net, hints) = hierarchy(9, Behaviour::Normal);
    let feed =
        std::env::temp_dir().join(format!("hanse-service-feed-{}.hosts", std::process::id()));
    std::fs::write(&feed, "0.0.0.0 blocked.example\n").unwrap();
    let extra = format!(
        "[[policy.feed]]\nname = \"list\"\nformat = \"hosts\"\nfile = \"{}\"\n\
         [[policy.profile]]\nname = \"default\"\nfeeds = [\"list\"]\n",
        feed.display()
    );
    let hanse = start("reload-load", &hints, "\"127.0.0.0/8\"", &extra);
    let address = hanse.address;
    // Three clients, each a bounded number of queries; every one must be
    // answered, and answered right, whatever reload is under way.
    let clients: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut wrong = Vec::new();
                for round in 0..400 {
                    let (name, expected) = match round % 3 {
                        0 => ("www.example.", Some(Rcode::NOERROR)),
                        1 => ("blocked.example.", Some(Rcode::NXDOMAIN)),
                        // Listed in some generations of the feed, not in others.
                        _ => ("ns.example.", None),
                    };
                    let name = Name::from_ascii(name).unwrap();
                    match query(
                        address,
                        &name,
                        RType::A,
                        Transport::Udp,
                        Duration::from_secs(2),
                    ) {
                        Err(error) => wrong.push(format!("{name}: no answer: {error}")),
                        Ok(answer) => {
                            let rcode = answer.rcode();
                            let fine = match expected {
                                Some(expected) => rcode == expected,
                                None => rcode == Rcode::NOERROR || rcode == Rcode::NXDOMAIN,
                            };
                            if !fine {
                                wrong.push(format!("{name}: {rcode}"));
                            }
                        }
                    }
                }
                wrong
            })
        })
        .collect();
    for generation in 0..20 {
        let text = if generation % 2 == 0 {
            "0.0.0.0 blocked.example\n0.0.0.0 ns.example\n"
        } else {
            "0.0.0.0 blocked.example\n"
        };
        std::fs::write(&feed, text).unwrap();
        signal(&hanse, "HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut wrong = Vec::new();
    for client in clients {
        wrong.extend(client.join().unwrap());
    }
    let _ = std::fs::remove_file(&feed);
    assert!(
        wrong.is_empty(),
        "{} of 1200 queries failed: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}
