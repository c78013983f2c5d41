//! End-to-end tests of forwarding over encrypted transports: Hanse A
//! forwards over DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484) to
//! Hanse B's DoT and DoH listeners and to Unbound's `tls-port` and
//! `https-port`, with the certificates of a test CA (made with openssl),
//! checked against the configured `tls_name`.
//!
//! Checked: answers come through; concurrent queries share one connection
//! (counted in /proc/net/tcp); a certificate that does not match `tls_name`
//! is refused (SERVFAIL when it is the only forwarder, the next forwarder in
//! order otherwise, the handshake failure logged); a first forwarder that
//! accepts TCP and never speaks TLS is left for the second within the
//! upstream timeout.
//!
//! openssl and unbound must be installed: a missing tool fails the test.
//!
//! Addresses: 127.84.0.0/16. The authoritative hierarchy of B on
//! 127.84.N.10 and .11 (N = 1, 2, 3 per test), Hanse A and B and Unbound on
//! 127.0.0.1 (A and B through the support module) and 127.84.N.1 (B's and
//! Unbound's encrypted listeners), a silent TCP listener on 127.84.3.20.
//! Ports are chosen by the kernel.

mod support;

use hanse_testnet::client::exchange;
use hanse_testnet::{TestNet, Transport};
use hanse_wire::{Message, Name, RType, Rcode, compose_query};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch};

/// The hierarchy Hanse B resolves from: `example.` with `www` and a wildcard.
fn hierarchy(octet: u8) -> (TestNet, String) {
    support::example_hierarchy(
        &format!("127.84.{octet}"),
        "www A 192.0.2.1\n* A 192.0.2.7\n",
    )
}

/// `ca.pem`, and `server.pem`/`server.key` for `dns.test` signed by it.
fn make_certificates(directory: &Path) {
    std::fs::write(
        directory.join("ext.cnf"),
        "subjectAltName=DNS:dns.test\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let curve = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(curve);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Hanse upstream test CA",
    ]);
    support::openssl(directory, &ca);
    let mut request = vec!["req"];
    request.extend(curve);
    request.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=dns.test",
    ]);
    support::openssl(directory, &request);
    support::openssl(
        directory,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn free_port(host: &str) -> u16 {
    TcpListener::bind(format!("{host}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Hanse B: recursive from the hierarchy, with DoT listeners on `tls` and
/// DoH on `https`.
fn start_peer(
    directory: &Path,
    hints: &str,
    tls: &[SocketAddr],
    https: SocketAddr,
) -> HanseProcess {
    make_certificates(directory);
    std::fs::write(directory.join("named.root"), hints).unwrap();
    let tls_list: Vec<String> = tls.iter().map(|address| format!("\"{address}\"")).collect();
    let tls_list = tls_list.join(", ");
    HanseProcess::start(directory, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             tls_listen = [{tls_list}]\nhttps_listen = [\"{https}\"]\n\
             certificate = \"server.pem\"\nprivate_key = \"server.key\"\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [api]\nenabled = false\n"
        )
    })
}

/// Hanse A: forwards everything to `forwarders` (TOML array elements),
/// without validation (the test zones are unsigned, the built-in root
/// trust anchor would make every answer bogus).
fn start_forwarder(directory: &Path, forwarders: &str) -> HanseProcess {
    HanseProcess::start(directory, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nmode = \"forward\"\nquery_private_upstreams = true\n\
             forwarders = [{forwarders}]\n\
             [resolver.limits]\nupstream_timeout = \"1s\"\nmax_resolution_time = \"4s\"\n\
             [dnssec]\nvalidation = false\n[api]\nenabled = false\n"
        )
    })
}

fn ask(server: SocketAddr, name: &str) -> Message {
    let query = compose_query(
        rand::random(),
        &Name::from_ascii(name).unwrap(),
        RType::A,
        true,
        None,
    );
    let bytes = exchange(server, &query, Transport::Udp, Duration::from_secs(6))
        .unwrap_or_else(|error| panic!("no answer from {server} for {name}: {error:?}"));
    Message::parse(&bytes).expect("a well-formed response")
}

fn first_address(response: &Message) -> Option<IpAddr> {
    response.answers.iter().find_map(|record| record.address())
}

/// Established TCP connections whose remote end is `peer`, seen from the
/// client side in /proc/net/tcp (addresses in the kernel's hex notation).
fn established_to(peer: SocketAddr) -> usize {
    let SocketAddr::V4(peer) = peer else {
        unreachable!("the tests use IPv4")
    };
    let wanted = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(peer.ip().octets()),
        peer.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2] == wanted && fields[3] == "01"
        })
        .count()
}

/// Sends `count` distinct questions at once from as many threads and checks
/// every answer; then counts the connections to `upstream`.
fn concurrent_queries_share_one_connection(
    hanse: &HanseProcess,
    upstream: SocketAddr,
    label: &str,
) {
    let count = 24;
    let dns = hanse.dns;
    let threads: Vec<_> = (0..count)
        .map(|index| {
            let name = format!("{label}-{index}.example.");
            std::thread::spawn(move || ask(dns, &name))
        })
        .collect();
    for thread in threads {
        let response = thread.join().expect("query thread");
        assert_eq!(response.rcode(), Rcode::NOERROR, "log:\n{}", hanse.log());
        assert_eq!(
            first_address(&response),
            Some("192.0.2.7".parse().unwrap()),
            "{response:?}"
        );
    }
    assert_eq!(
        established_to(upstream),
        1,
        "one connection to {upstream} for {count} concurrent queries"
    );
}

#[test]
fn forwarding_over_tls_and_https_to_hanse() {
    let (_net, hints) = hierarchy(1);
    let peer_directory = Scratch::new("upstream-tls-peer");
    let tls: SocketAddr = format!("127.84.1.1:{}", free_port("127.84.1.1"))
        .parse()
        .unwrap();
    let https: SocketAddr = format!("127.84.1.1:{}", free_port("127.84.1.1"))
        .parse()
        .unwrap();
    let peer = start_peer(peer_directory.0.as_path(), &hints, &[tls], https);
    let direct = ask(peer.dns, "www.example.");
    assert_eq!(direct.rcode(), Rcode::NOERROR, "{direct:?}\n{}", peer.log());
    let ca = peer_directory.0.as_path().join("ca.pem");
    let ca = ca.display();

    let dot_directory = Scratch::new("upstream-tls-dot");
    let dot = start_forwarder(
        dot_directory.0.as_path(),
        &format!(
            "{{ address = \"{tls}\", transport = \"tls\", tls_name = \"dns.test\", \
             ca_file = \"{ca}\" }}"
        ),
    );
    let response = ask(dot.dns, "www.example.");
    assert_eq!(
        response.rcode(),
        Rcode::NOERROR,
        "{response:?}\nlog:\n{}\npeer log:\n{}",
        dot.log(),
        peer.log()
    );
    assert_eq!(first_address(&response), Some("192.0.2.1".parse().unwrap()));
    concurrent_queries_share_one_connection(&dot, tls, "dot");

    let doh_directory = Scratch::new("upstream-tls-doh");
    let doh = start_forwarder(
        doh_directory.0.as_path(),
        &format!(
            "{{ address = \"{https}\", transport = \"https\", tls_name = \"dns.test\", \
             ca_file = \"{ca}\", path = \"/dns-query\" }}"
        ),
    );
    let response = ask(doh.dns, "www.example.");
    assert_eq!(response.rcode(), Rcode::NOERROR, "log:\n{}", doh.log());
    assert_eq!(first_address(&response), Some("192.0.2.1".parse().unwrap()));
    concurrent_queries_share_one_connection(&doh, https, "doh");
    drop(peer);
}

#[test]
fn a_certificate_for_another_name_is_refused_and_the_next_forwarder_used() {
    let (_net, hints) = hierarchy(2);
    let peer_directory = Scratch::new("upstream-tls-badname-peer");
    let wrong: SocketAddr = format!("127.84.2.1:{}", free_port("127.84.2.1"))
        .parse()
        .unwrap();
    let right: SocketAddr = format!("127.84.2.1:{}", free_port("127.84.2.1"))
        .parse()
        .unwrap();
    let https: SocketAddr = format!("127.84.2.1:{}", free_port("127.84.2.1"))
        .parse()
        .unwrap();
    let _peer = start_peer(peer_directory.0.as_path(), &hints, &[wrong, right], https);
    let ca = peer_directory.0.as_path().join("ca.pem");
    let ca = ca.display();
    let entry = |address: SocketAddr, name: &str| {
        format!(
            "{{ address = \"{address}\", transport = \"tls\", tls_name = \"{name}\", \
             ca_file = \"{ca}\" }}"
        )
    };

    // Only the mismatching forwarder: SERVFAIL, and the reason in the log.
    let alone_directory = Scratch::new("upstream-tls-badname-alone");
    let alone = start_forwarder(alone_directory.0.as_path(), &entry(wrong, "other.test"));
    let response = ask(alone.dns, "www.example.");
    assert_eq!(response.rcode(), Rcode::SERVFAIL, "{response:?}");
    let log = alone.log();
    assert!(
        log.contains("TLS handshake with upstream failed") && log.contains("other.test"),
        "log:\n{log}"
    );

    // Mismatching first, matching second: answered by the second.
    let both_directory = Scratch::new("upstream-tls-badname-both");
    let both = start_forwarder(
        both_directory.0.as_path(),
        &format!(
            "{}, {}",
            entry(wrong, "other.test"),
            entry(right, "dns.test")
        ),
    );
    for name in ["www.example.", "second.example."] {
        let response = ask(both.dns, name);
        assert_eq!(response.rcode(), Rcode::NOERROR, "log:\n{}", both.log());
    }
    assert!(both.log().contains("TLS handshake with upstream failed"));
    assert_eq!(established_to(right), 1);
}

#[test]
fn a_silent_first_forwarder_is_left_for_the_second_within_the_timeout() {
    let (_net, hints) = hierarchy(3);
    let peer_directory = Scratch::new("upstream-tls-dead-peer");
    let tls: SocketAddr = format!("127.84.3.1:{}", free_port("127.84.3.1"))
        .parse()
        .unwrap();
    let https: SocketAddr = format!("127.84.3.1:{}", free_port("127.84.3.1"))
        .parse()
        .unwrap();
    let _peer = start_peer(peer_directory.0.as_path(), &hints, &[tls], https);
    let ca = peer_directory.0.as_path().join("ca.pem");
    let ca = ca.display();
    // Accepts connections (the kernel completes the handshake from the
    // backlog) and never says a word.
    let silent = TcpListener::bind("127.84.3.20:0").unwrap();
    let silent_address = silent.local_addr().unwrap();
    let directory = Scratch::new("upstream-tls-dead");
    let hanse = start_forwarder(
        directory.0.as_path(),
        &format!(
            "{{ address = \"{silent_address}\", transport = \"tls\", tls_name = \"dns.test\", \
             ca_file = \"{ca}\" }}, \
             {{ address = \"{tls}\", transport = \"tls\", tls_name = \"dns.test\", \
             ca_file = \"{ca}\" }}"
        ),
    );
    let started = Instant::now();
    let response = ask(hanse.dns, "www.example.");
    let waited = started.elapsed();
    assert_eq!(response.rcode(), Rcode::NOERROR, "log:\n{}", hanse.log());
    assert_eq!(first_address(&response), Some("192.0.2.1".parse().unwrap()));
    // One upstream timeout (1 s) for the silent one, then the answer.
    assert!(waited < Duration::from_secs(3), "took {waited:?}");
    drop(silent);
}

/// Unbound with DoT on `tls` and DoH on `https`, answering `example.` from
/// a local zone; killed by PID when dropped.
struct Unbound {
    child: Child,
    directory: std::path::PathBuf,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Unbound {
    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("unbound.log")).unwrap_or_default()
    }
}

fn start_unbound(directory: &Path, tls: SocketAddr, https: SocketAddr) -> Unbound {
    make_certificates(directory);
    let config = format!(
        "server:\n  interface: {tls_ip}@{tls_port}\n  interface: {https_ip}@{https_port}\n\
         \x20 tls-port: {tls_port}\n  https-port: {https_port}\n\
         \x20 tls-service-key: \"{dir}/server.key\"\n  tls-service-pem: \"{dir}/server.pem\"\n\
         \x20 http-endpoint: \"/dns-query\"\n\
         \x20 do-ip6: no\n  num-threads: 1\n  username: \"\"\n  chroot: \"\"\n\
         \x20 directory: \"{dir}\"\n  pidfile: \"\"\n  use-syslog: no\n\
         \x20 logfile: \"{dir}/unbound.log\"\n  verbosity: 1\n\
         \x20 access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n\
         \x20 local-zone: \"example.\" static\n\
         \x20 local-data: \"www.example. 300 IN A 192.0.2.1\"\n\
         \x20 local-zone: \"wild.example.\" redirect\n\
         \x20 local-data: \"wild.example. 300 IN A 192.0.2.7\"\n\
         remote-control:\n  control-enable: no\n",
        tls_ip = tls.ip(),
        tls_port = tls.port(),
        https_ip = https.ip(),
        https_port = https.port(),
        dir = directory.display(),
    );
    std::fs::write(directory.join("unbound.conf"), config).unwrap();
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    let program = if Path::new("/usr/sbin/unbound").exists() {
        "/usr/sbin/unbound"
    } else {
        "unbound"
    };
    let child = Command::new(program)
        .args(["-d", "-c"])
        .arg(directory.join("unbound.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run unbound (is it installed?): {error}"));
    let mut unbound = Unbound {
        child,
        directory: directory.to_owned(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = unbound.child.try_wait() {
            panic!("unbound exited with {status}; log:\n{}", unbound.log());
        }
        if std::net::TcpStream::connect(tls).is_ok() && std::net::TcpStream::connect(https).is_ok()
        {
            return unbound;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "unbound did not listen within 10 s; log:\n{}",
        unbound.log()
    );
}

#[test]
fn forwarding_over_tls_and_https_to_unbound() {
    let unbound_directory = Scratch::new("upstream-tls-unbound");
    let tls: SocketAddr = format!("127.84.4.1:{}", free_port("127.84.4.1"))
        .parse()
        .unwrap();
    let https: SocketAddr = format!("127.84.4.1:{}", free_port("127.84.4.1"))
        .parse()
        .unwrap();
    let unbound = start_unbound(unbound_directory.0.as_path(), tls, https);
    let ca = unbound_directory.0.as_path().join("ca.pem");
    let ca = ca.display();
    for (address, transport) in [(tls, "tls"), (https, "https")] {
        let directory = Scratch::new(&format!("upstream-tls-unbound-{transport}"));
        let hanse = start_forwarder(
            directory.0.as_path(),
            &format!(
                "{{ address = \"{address}\", transport = \"{transport}\", \
                 tls_name = \"dns.test\", ca_file = \"{ca}\" }}"
            ),
        );
        let response = ask(hanse.dns, "www.example.");
        assert_eq!(
            response.rcode(),
            Rcode::NOERROR,
            "{transport}; hanse log:\n{}\nunbound log:\n{}",
            hanse.log(),
            unbound.log()
        );
        assert_eq!(first_address(&response), Some("192.0.2.1".parse().unwrap()));
        let threads: Vec<_> = (0..16)
            .map(|index| {
                let dns = hanse.dns;
                std::thread::spawn(move || ask(dns, &format!("n{index}.wild.example.")))
            })
            .collect();
        for thread in threads {
            let response = thread.join().expect("query thread");
            assert_eq!(first_address(&response), Some("192.0.2.7".parse().unwrap()));
        }
        assert_eq!(established_to(address), 1, "{transport}");
        let response = ask(hanse.dns, "missing.example.");
        assert_eq!(response.rcode(), Rcode::NXDOMAIN);
    }
}
