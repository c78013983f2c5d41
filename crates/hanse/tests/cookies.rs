//! End-to-end tests of DNS cookies (RFC 7873, RFC 9018) in `hanse serve`:
//! `dig +cookie` sees a good cookie, a wrong server cookie still gets an
//! answer with a new one, a malformed COOKIE option gets FORMERR,
//! `require_cookies` answers BADCOOKIE over UDP and normally over TCP, a
//! cookie-verified client is not rate limited while another client is;
//! towards upstreams, BIND's query log shows Hanse sending a client cookie
//! first and a valid server cookie afterwards, and `/metrics` counts the
//! cookies sent and learned.
//!
//! Addresses: authoritative servers on 127.87.0.1 (root) and 127.87.0.2
//! (`example.`) for the first test, 127.87.10.1 and 127.87.10.2 for the
//! second; rate-limited clients on 127.87.5.1 (with cookies) and 127.87.6.1
//! (without); BIND `named` on 127.0.0.1 (a free port: named listens only on
//! interface addresses). Hanse listens on
//! 127.0.0.1 on a free port. `dig` and `named` are needed (dnsutils, bind9):
//! a missing tool fails the test.

mod support;

use hanse_testnet::TestNet;
use hanse_wire::cookie::{COOKIE_OPTION, find_cookie, push_option};
use hanse_wire::{Edns, Name, RType, compose_query};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, free_tcp_port, free_udp_port};

/// A root on `prefix.1` and `example.` on `prefix.2`.
fn hierarchy(prefix: &str) -> (TestNet, String) {
    support::example_hierarchy_at(
        &format!("{prefix}.1"),
        &format!("{prefix}.2"),
        "www A 192.0.2.1\n",
    )
}

/// Starts Hanse with the hierarchy's hints and `extra` appended to its
/// `[server]` section (then further sections).
fn start(scratch: &Scratch, hints: &str, extra: &str) -> HanseProcess {
    std::fs::write(scratch.0.join("named.root"), hints).unwrap();
    HanseProcess::start(&scratch.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n{extra}\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [dnssec]\nvalidation = false\n[api]\nenabled = false\n"
        )
    })
}

/// Runs `dig` against `server` with `arguments`; its output. A missing
/// `dig` fails the test.
fn dig(server: SocketAddr, arguments: &[&str]) -> String {
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=3", "+tries=1"])
        .args(arguments)
        .output()
        .expect("dig runs (Debian package dnsutils)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The COOKIE dig printed (hex) and its verdict ("good", "bad", ...).
fn dig_cookie(output: &str) -> (String, String) {
    let line = output
        .lines()
        .find(|line| line.starts_with("; COOKIE: "))
        .unwrap_or_else(|| panic!("no COOKIE in:\n{output}"));
    let mut words = line["; COOKIE: ".len()..].split_whitespace();
    let cookie = words.next().unwrap_or_default().to_owned();
    let verdict = words
        .next()
        .unwrap_or_default()
        .trim_matches(|c| c == '(' || c == ')')
        .to_owned();
    (cookie, verdict)
}

fn status(output: &str) -> &str {
    output
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no status in:\n{output}"))
}

/// A query for www.example/A with EDNS and, when given, a COOKIE option.
fn query(id: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    let edns = Edns {
        udp_size: 1232,
        ..Edns::default()
    };
    let name = Name::from_ascii("www.example.").unwrap();
    let mut packet = compose_query(id, &name, RType::A, true, Some(edns));
    if let Some(cookie) = cookie {
        assert!(push_option(&mut packet, COOKIE_OPTION, cookie));
    }
    packet
}

/// Sends `packet` from `socket` and waits up to `wait` for the response.
fn ask(socket: &UdpSocket, server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(packet, server).unwrap();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match socket.recv_from(&mut buffer) {
            Ok((length, _)) if buffer[..2] == packet[..2] => {
                return Some(buffer[..length].to_vec());
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Sends `count` queries one after the other from `socket` (waiting up to
/// 50 ms for each) and counts the full answers (TC clear, NOERROR).
fn answered(socket: &UdpSocket, server: SocketAddr, cookie: Option<&[u8]>, count: u16) -> u16 {
    let mut full = 0;
    for id in 0..count {
        let packet = query(1000 + id, cookie);
        if let Some(response) = ask(socket, server, &packet, Duration::from_millis(50))
            && response[2] & 0x02 == 0
            && response[3] & 0x0f == 0
        {
            full += 1;
        }
    }
    full
}

#[test]
fn cookies_as_a_server_with_dig_and_rate_limits() {
    let (_net, hints) = hierarchy("127.87.0");
    let scratch = Scratch::new("cookies-server");
    let hanse = start(
        &scratch,
        &hints,
        "[rate_limit]\nqueries_per_second = 5\nburst = 5\nresponses_per_second = 5\nslip = 2\nexempt = []",
    );
    let dns = hanse.dns;

    // A client cookie only: the answer carries it with a server cookie.
    let first = dig(dns, &["+cookie", "www.example", "A"]);
    assert_eq!(status(&first), "NOERROR", "{first}");
    assert!(first.contains("192.0.2.1"), "{first}");
    let (cookie, verdict) = dig_cookie(&first);
    assert_eq!(verdict, "good", "{first}");
    assert_eq!(cookie.len(), 48, "8 + 16 octets: {first}");
    assert!(
        cookie[16..].starts_with("01000000"),
        "RFC 9018 version 1: {cookie}"
    );

    // Sent back, the server cookie is good and is echoed (it is fresh),
    // also on the answer-cache path.
    let again = dig(dns, &[&format!("+cookie={cookie}"), "www.example", "A"]);
    assert_eq!(status(&again), "NOERROR", "{again}");
    let (echoed, verdict) = dig_cookie(&again);
    assert_eq!(verdict, "good", "{again}");
    assert_eq!(echoed, cookie, "a young valid server cookie is kept");

    // A wrong server cookie: a normal answer with a new server cookie.
    let wrong = format!("{}{}", &cookie[..16], "01000000ffffffff0011223344556677");
    let corrected = dig(dns, &[&format!("+cookie={wrong}"), "www.example", "A"]);
    assert_eq!(status(&corrected), "NOERROR", "{corrected}");
    assert!(corrected.contains("192.0.2.1"), "{corrected}");
    let (fresh, _) = dig_cookie(&corrected);
    assert_eq!(&fresh[..16], &cookie[..16], "the client cookie is echoed");
    assert_ne!(fresh, wrong, "a new server cookie");

    // A COOKIE option of a wrong length (10 octets): FORMERR.
    let socket = UdpSocket::bind("127.87.0.100:0").unwrap();
    let malformed = query(7, Some(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    let response = ask(&socket, dns, &malformed, Duration::from_secs(3)).expect("an answer");
    assert_eq!(response[3] & 0x0f, 1, "FORMERR");

    // Rate limits: a client with a valid server cookie is exempt from the
    // per-client limit and RRL; another at the same rate is limited.
    let verified = UdpSocket::bind("127.87.5.1:0").unwrap();
    let client_cookie = [0x42u8; 8];
    let learned = ask(
        &verified,
        dns,
        &query(1, Some(&client_cookie)),
        Duration::from_secs(3),
    )
    .expect("an answer with a server cookie");
    let full_cookie = find_cookie(&learned).unwrap().unwrap();
    assert_eq!(full_cookie.client, client_cookie);
    let mut sent_back = client_cookie.to_vec();
    sent_back.extend_from_slice(full_cookie.server);
    let unverified = UdpSocket::bind("127.87.6.1:0").unwrap();
    let with_cookie = answered(&verified, dns, Some(&sent_back), 40);
    let without_cookie = answered(&unverified, dns, None, 40);
    assert_eq!(
        with_cookie, 40,
        "the cookie-verified client is never limited"
    );
    assert!(
        without_cookie < 30,
        "the client without a cookie is limited: {without_cookie} of 40 answered"
    );
    drop(hanse);
}

#[test]
fn require_cookies_answers_badcookie_over_udp_only() {
    let (_net, hints) = hierarchy("127.87.10");
    let scratch = Scratch::new("cookies-required");
    let hanse = start(&scratch, &hints, "require_cookies = true");
    let dns = hanse.dns;

    // UDP with a client cookie only: BADCOOKIE with a server cookie.
    let bad = dig(dns, &["+cookie", "+nobadcookie", "www.example", "A"]);
    assert_eq!(status(&bad), "BADCOOKIE", "{bad}");
    assert!(!bad.contains("192.0.2.1"), "{bad}");
    let (cookie, verdict) = dig_cookie(&bad);
    assert_eq!(verdict, "good", "{bad}");
    // With the server cookie it learned, the client gets its answer.
    let good = dig(dns, &[&format!("+cookie={cookie}"), "www.example", "A"]);
    assert_eq!(status(&good), "NOERROR", "{good}");
    assert!(good.contains("192.0.2.1"), "{good}");
    // TCP is never held back.
    let tcp = dig(dns, &["+tcp", "+cookie", "www.example", "A"]);
    assert_eq!(status(&tcp), "NOERROR", "{tcp}");
    assert!(tcp.contains("192.0.2.1"), "{tcp}");
    // UDP without any cookie: an empty truncated answer.
    let plain = dig(dns, &["+nocookie", "+ignore", "www.example", "A"]);
    assert!(plain.contains("flags: qr tc"), "{plain}");
    assert!(!plain.contains("192.0.2.1"), "{plain}");
    drop(hanse);
}

/// BIND `named`, killed by PID when dropped.
struct Named {
    child: Child,
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `named` authoritative for `example.` on `address`, logging
/// queries to `directory/named.log`, and waits until it answers.
fn start_named(directory: &Path, address: SocketAddr) -> Named {
    let dir = directory.display();
    std::fs::write(
        directory.join("example.zone"),
        "$TTL 3600\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.87.20.1\n\
         www A 192.0.2.1\nmail A 192.0.2.25\n",
    )
    .unwrap();
    std::fs::write(
        directory.join("named.conf"),
        format!(
            "options {{\n  directory \"{dir}\";\n  pid-file \"{dir}/named.pid\";\n\
             session-keyfile \"{dir}/session.key\";\n  listen-on port {port} {{ {ip}; }};\n\
             listen-on-v6 {{ none; }};\n  recursion no;\n  querylog yes;\n\
             dnssec-validation no;\n  answer-cookie yes;\n}};\n\
             controls {{ }};\n\
             zone \"example.\" {{ type primary; file \"{dir}/example.zone\"; }};\n",
            port = address.port(),
            ip = address.ip(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(directory.join("named.log")).unwrap();
    let child = Command::new("named")
        .args(["-g", "-4", "-c"])
        .arg(directory.join("named.conf"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("named runs (Debian package bind9)");
    let named = Named { child };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let probe = dig(address, &["+norecurse", "+nocookie", "www.example", "A"]);
        if status_of(&probe) == Some("NOERROR") {
            return named;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "named did not answer; log:\n{}",
        std::fs::read_to_string(directory.join("named.log")).unwrap_or_default()
    );
}

fn status_of(output: &str) -> Option<&str> {
    output.split("status: ").nth(1)?.split(',').next()
}

/// The flags of the queries with a COOKIE option that named logged, in
/// order: `K` a cookie without a valid server cookie, `V` a valid server
/// cookie (for example `-E(0)K`). The probe of [`start_named`] sends none.
fn named_cookie_flags(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(" query: "))
        .filter_map(|line| {
            let after = line.split(" query: ").nth(1)?;
            after
                .split_whitespace()
                .find(|word| word.starts_with('-') || word.starts_with('+'))
                .map(str::to_owned)
        })
        .filter(|flags| flags.contains('K') || flags.contains('V'))
        .collect()
}

#[test]
fn upstream_cookies_with_bind() {
    let scratch = Scratch::new("cookies-upstream");
    // named listens only on addresses of interfaces: 127.0.0.1.
    let named_address: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let named = start_named(&scratch.0, named_address);
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let hanse = HanseProcess::start(&scratch.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\n\
             [resolver]\nquery_private_upstreams = true\nqname_minimisation = \"off\"\n\
             [[resolver.stub_zone]]\nname = \"example.\"\nservers = [\"{named_address}\"]\n\
             [dnssec]\nvalidation = false\n[api]\nlisten = \"{api}\"\n"
        )
    });
    for name in ["www.example", "mail.example", "ns.example"] {
        let output = dig(hanse.dns, &[name, "A"]);
        assert_eq!(status(&output), "NOERROR", "{output}\n{}", hanse.log());
    }
    let log = std::fs::read_to_string(scratch.0.join("named.log")).unwrap();
    let flags = named_cookie_flags(&log);
    assert!(flags.len() >= 3, "named logged {flags:?}:\n{log}");
    assert!(
        flags[0].ends_with('K'),
        "the first query carries a client cookie only: {flags:?}"
    );
    assert!(
        flags[1..].iter().all(|flag| flag.ends_with('V')),
        "later queries carry the learned server cookie: {flags:?}"
    );
    // /metrics counts what the cookies did: every query named saw with a
    // cookie was sent with one, a server cookie was learned (BIND may
    // hand out a fresh one per response), nothing was dropped or retried.
    let metrics = scrape(api);
    let cookies = |event: &str| {
        metric_value(
            &metrics,
            &format!("hanse_upstream_cookies_total{{event=\"{event}\"}}"),
        )
    };
    assert!(
        cookies("sent") >= flags.len() as f64,
        "sent {} < {} seen by named:\n{metrics}",
        cookies("sent"),
        flags.len()
    );
    let learned = cookies("server_cookie_learned");
    assert!(
        learned >= 1.0 && learned <= cookies("sent"),
        "learned {learned}:\n{metrics}"
    );
    assert_eq!(cookies("mismatch_dropped"), 0.0, "{metrics}");
    assert_eq!(cookies("badcookie_retried"), 0.0, "{metrics}");
    assert_eq!(metric_value(&metrics, "hanse_upstream_cookie_servers"), 1.0);
    drop(hanse);
    drop(named);
}

/// The text of `/metrics` on `api`, once the API listens (10 s at most).
fn scrape(api: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(api) {
            Ok(stream) => break stream,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "the API does not listen: {error}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
}

/// The value of one series in a `/metrics` text.
fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{metrics}"))
}
