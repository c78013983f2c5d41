//! End-to-end tests of remote feeds in the `hanse serve` process (issue 3,
//! item 2): an RPZ feed followed from a real primary (Knot DNS) by AXFR,
//! then IXFR on every NOTIFY, authenticated with TSIG, with failover
//! between primaries, no query lost while updates arrive, and the last good
//! copy served after a `kill -9` while the primary is down; and a hosts list
//! fetched over HTTP.
//!
//! Addresses: 127.61.0.0/16 (Knot on 127.61.<test>.1, the hierarchy of
//! in-process authoritative servers on 127.61.<test>.10 and .11, an HTTP
//! server on 127.61.<test>.20). Everything stays on 127.0.0.0/8. A missing
//! `knotd` fails the test.

mod support;

use hanse_testnet::client::query;
use hanse_testnet::knot::{KnotKey, KnotPrimary};
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Message, Name, RType, Rcode};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, free_udp_port as free_port};

const KEY_NAME: &str = "feed-key.";
const SECRET: &str = "aGFuc2UtZmVlZC1zb3VyY2VzLXRlc3Qtc2VjcmV0LTIwMjY=";
const WRONG_SECRET: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZy0xMjM=";

/// The hierarchy: a root and `example.` with a name per test case.
fn hierarchy(octet: u8) -> (TestNet, String) {
    let root_address = format!("127.61.{octet}.10");
    let example_address = format!("127.61.{octet}.11");
    let root = format!(
        "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A {root_address}\nexample. NS ns.example.\nns.example. A {example_address}\n"
    );
    let mut example = format!(
        "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A {example_address}\n\
         www A 192.0.2.1\nblocked A 192.0.2.2\nads A 192.0.2.3\n"
    );
    for index in 1..=9 {
        example.push_str(&format!("n{index} A 192.0.2.{}\n", 10 + index));
    }
    let net = TestNet::start(vec![
        ServerSpec::new(
            format!("{root_address}:53").parse().unwrap(),
            vec![Zone::parse(".", &root).unwrap()],
        ),
        ServerSpec::new(
            format!("{example_address}:53").parse().unwrap(),
            vec![Zone::parse("example.", &example).unwrap()],
        ),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&[&root_address]);
    (net, hints)
}

/// The policy zone at `serial`: `blocked.example` and `n1`..`n<serial-1>`.
fn policy_zone(serial: u32) -> String {
    // A refresh of an hour: within a test only NOTIFY can bring a change.
    let mut text = format!(
        "$TTL 60\n@ SOA ns.rpz.test. hostmaster.rpz.test. {serial} 3600 600 86400 60\n\
         @ NS ns.rpz.test.\nns A 127.0.0.1\nblocked.example CNAME .\n"
    );
    for index in 1..serial {
        text.push_str(&format!("n{index}.example CNAME .\n"));
    }
    text
}

/// Writes the configuration and starts Hanse on `port`; waits until it
/// answers. A fixed port: Knot must know where to send NOTIFY.
fn start(directory: &Path, port: u16, hints: &str, policy: &str) -> HanseProcess {
    std::fs::write(directory.join("named.root"), hints).unwrap();
    let dns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    HanseProcess::start_at(directory, dns, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nmax_resolution_time = \"4s\"\n[api]\nenabled = false\n{policy}"
        )
    })
}

fn ask(address: SocketAddr, name: &str) -> Message {
    query(
        address,
        &Name::from_ascii(name).unwrap(),
        RType::A,
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("an answer")
}

/// Waits up to `limit` until `name` gets `rcode`; panics with the log.
fn wait_for(address: SocketAddr, name: &str, rcode: Rcode, limit: Duration, directory: &Path) {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        let answer = ask(address, name);
        if answer.rcode() == rcode {
            return;
        }
        last = Some(answer.rcode());
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{name}: {last:?} instead of {rcode} after {limit:?}; log:\n{}",
        std::fs::read_to_string(directory.join("hanse.log")).unwrap_or_default()
    );
}

fn transfer_policy(primaries: &[SocketAddr], secret: &str, state: &Path) -> String {
    let primaries: Vec<String> = primaries
        .iter()
        .map(|address| format!("\"{address}\""))
        .collect();
    format!(
        "[policy]\nstate_directory = \"{}\"\n\
         [[policy.tsig_key]]\nname = \"{KEY_NAME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
         [[policy.feed]]\nname = \"malware\"\nformat = \"rpz\"\nzone = \"rpz.test.\"\n\
         primaries = [{}]\ntsig_key = \"{KEY_NAME}\"\n\
         [[policy.profile]]\nname = \"default\"\nfeeds = [\"malware\"]\n",
        state.display(),
        primaries.join(", ")
    )
}

#[test]
fn rpz_feed_follows_a_real_primary_by_ixfr_on_notify_and_survives_kill_9() {
    let (_net, hints) = hierarchy(1);
    let scratch = Scratch::new("feeds-transfer");
    let directory = scratch.0.clone();
    let state = directory.join("state");
    let port = free_port();
    let hanse_address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let key = KnotKey {
        name: KEY_NAME.to_owned(),
        secret: SECRET.to_owned(),
    };
    let knot = KnotPrimary::start(
        "127.61.1.1:53061".parse().unwrap(),
        "rpz.test.",
        &policy_zone(1),
        Some(&key),
        &[hanse_address],
    )
    .expect("knotd starts");
    // The first primary is dead: the feed fails over to Knot.
    let dead: SocketAddr = "127.61.1.2:53061".parse().unwrap();
    let policy = transfer_policy(&[dead, knot.address()], SECRET, &state);
    let hanse = start(&directory, port, &hints, &policy);
    wait_for(
        hanse.dns,
        "blocked.example.",
        Rcode::NXDOMAIN,
        Duration::from_secs(15),
        &directory,
    );
    assert_eq!(ask(hanse.dns, "www.example.").rcode(), Rcode::NOERROR);

    // Clients keep asking while the primary changes the zone five times;
    // every answer must come, and be right.
    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let asked = Arc::clone(&asked);
            let address = hanse.dns;
            std::thread::spawn(move || {
                let mut wrong = Vec::new();
                for round in 0..5_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (name, expected) = if round % 2 == 0 {
                        ("www.example.", Rcode::NOERROR)
                    } else {
                        ("blocked.example.", Rcode::NXDOMAIN)
                    };
                    asked.fetch_add(1, Ordering::Relaxed);
                    match query(
                        address,
                        &Name::from_ascii(name).unwrap(),
                        RType::A,
                        Transport::Udp,
                        Duration::from_secs(2),
                    ) {
                        Err(error) => wrong.push(format!("{name}: no answer: {error}")),
                        Ok(answer) if answer.rcode() != expected => {
                            wrong.push(format!("{name}: {}", answer.rcode()));
                        }
                        Ok(_) => {}
                    }
                }
                wrong
            })
        })
        .collect();
    for serial in 2..=6 {
        knot.update(&policy_zone(serial), serial)
            .expect("knot reloads");
        wait_for(
            hanse.dns,
            &format!("n{}.example.", serial - 1),
            Rcode::NXDOMAIN,
            Duration::from_secs(10),
            &directory,
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut wrong = Vec::new();
    for client in clients {
        wrong.extend(client.join().unwrap());
    }
    let asked = asked.load(Ordering::Relaxed);
    assert!(
        wrong.is_empty(),
        "{} of {asked} queries failed across the updates: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert!(asked > 100, "only {asked} queries were asked");
    // The updates came incrementally.
    let log = knot.log();
    assert!(
        log.matches("IXFR, outgoing").count() >= 5,
        "Knot did not serve five IXFRs; log:\n{log}"
    );
    // A name the feed never listed still resolves.
    assert_eq!(ask(hanse.dns, "n9.example.").rcode(), Rcode::NOERROR);

    // kill -9 and no primary: the last good copy is served from the start.
    drop(hanse);
    drop(knot);
    let hanse = start(&directory, port, &hints, &policy);
    let answer = ask(hanse.dns, "n5.example.");
    assert_eq!(
        answer.rcode(),
        Rcode::NXDOMAIN,
        "the saved copy was not served; log:\n{}",
        std::fs::read_to_string(directory.join("hanse.log")).unwrap_or_default()
    );
    assert_eq!(ask(hanse.dns, "n9.example.").rcode(), Rcode::NOERROR);
    drop(hanse);
}

#[test]
fn a_transfer_signed_with_the_wrong_key_is_not_loaded() {
    let (_net, hints) = hierarchy(2);
    let scratch = Scratch::new("feeds-wrong-key");
    let directory = scratch.0.clone();
    let port = free_port();
    let key = KnotKey {
        name: KEY_NAME.to_owned(),
        secret: SECRET.to_owned(),
    };
    let knot = KnotPrimary::start(
        "127.61.2.1:53061".parse().unwrap(),
        "rpz.test.",
        &policy_zone(1),
        Some(&key),
        &[],
    )
    .expect("knotd starts");
    let policy = transfer_policy(&[knot.address()], WRONG_SECRET, &directory.join("state"));
    let hanse = start(&directory, port, &hints, &policy);
    // Give the feed time to try (and fail) its first transfer.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        assert_eq!(ask(hanse.dns, "blocked.example.").rcode(), Rcode::NOERROR);
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(directory.join("hanse.log")).unwrap_or_default();
    assert!(
        log.contains("feed malware") && log.contains("TSIG") && log.contains("stale"),
        "the failed transfer of feed malware is not reported; log:\n{log}"
    );
    drop(hanse);
}

/// A one-file HTTP/1.1 server: answers every GET with `body` and an ETag,
/// or 304 when the request carries that ETag; counts the requests and the
/// conditional ones. Stops when `stop` is set (checked between requests,
/// with a short accept timeout).
fn serve_http(
    listener: TcpListener,
    body: Arc<std::sync::Mutex<String>>,
    requests: Arc<AtomicUsize>,
    conditional: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut if_none_match = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((header, value)) = line.split_once(':')
                && header.eq_ignore_ascii_case("if-none-match")
            {
                if_none_match = Some(value.trim().to_owned());
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let text = body.lock().unwrap().clone();
        let etag = format!("\"{}\"", text.len());
        let mut stream = stream;
        let response = if if_none_match.as_deref() == Some(etag.as_str()) {
            conditional.fetch_add(1, Ordering::Relaxed);
            format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n")
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: {etag}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
        };
        let _ = stream.write_all(response.as_bytes());
    }
}

#[test]
fn a_hosts_list_is_fetched_over_http_and_refreshed_with_conditional_requests() {
    let (_net, hints) = hierarchy(3);
    let scratch = Scratch::new("feeds-http");
    let directory = scratch.0.clone();
    let port = free_port();
    let listener = TcpListener::bind("127.61.3.20:0").unwrap();
    let url = format!("http://{}/hosts.txt", listener.local_addr().unwrap());
    let body = Arc::new(std::sync::Mutex::new("0.0.0.0 ads.example\n".to_owned()));
    let requests = Arc::new(AtomicUsize::new(0));
    let conditional = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (body, requests, conditional, stop) = (
            Arc::clone(&body),
            Arc::clone(&requests),
            Arc::clone(&conditional),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || serve_http(listener, body, requests, conditional, stop))
    };
    let policy = format!(
        "[policy]\nstate_directory = \"{}\"\n\
         [[policy.feed]]\nname = \"ads\"\nformat = \"hosts\"\nurl = \"{url}\"\nrefresh = \"1m\"\n\
         [[policy.profile]]\nname = \"default\"\nfeeds = [\"ads\"]\nblock_answer = \"nxdomain\"\n",
        directory.join("state").display()
    );
    let hanse = start(&directory, port, &hints, &policy);
    wait_for(
        hanse.dns,
        "ads.example.",
        Rcode::NXDOMAIN,
        Duration::from_secs(10),
        &directory,
    );
    assert_eq!(ask(hanse.dns, "www.example.").rcode(), Rcode::NOERROR);
    // A SIGHUP reload starts the supply again: the list is asked for with
    // its ETag and comes back unchanged.
    let before = requests.load(Ordering::Relaxed);
    let status = Command::new("kill")
        .args(["-HUP", &hanse.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while requests.load(Ordering::Relaxed) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        conditional.load(Ordering::Relaxed) >= 1,
        "no conditional request after the reload ({} requests)",
        requests.load(Ordering::Relaxed)
    );
    assert_eq!(ask(hanse.dns, "ads.example.").rcode(), Rcode::NXDOMAIN);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    drop(hanse);
}
