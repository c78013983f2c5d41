//! End-to-end tests of the DNS over QUIC listener (RFC 9250) of `hanse
//! serve`, with an independent client: `tests/tools/doq_client.py` on
//! Python's aioquic (Debian's kdig is built without QUIC). Answers and
//! several queries on one connection, EDNS padding (RFC 7830, RFC 8467),
//! the `quic` transport in the metrics, DOQ_PROTOCOL_ERROR for a message ID
//! other than 0, a wrong ALPN refused, a stream that never ends abandoned
//! without blocking the others, the connection cap with a Retry under
//! load, the profile chosen by the TLS server name, the certificate
//! reloaded on SIGHUP, and the shutdown on SIGTERM.
//!
//! The Python with aioquic is `$HANSE_DOQ_PYTHON`, else the venv that
//! `scripts/test.sh` makes (`~/.cache/hanse/doq-venv`), else `python3`;
//! without aioquic the tests fail. The test CA and certificates are made
//! with the openssl command, which must be installed too.
//!
//! Addresses: Hanse on 127.0.0.1 with ports chosen by the kernel (DNS and
//! DoQ over UDP, the API over TCP); the in-process authoritative servers on
//! 127.82.N.10 and 127.82.N.11 port 53, one N per test (1: answers, 2:
//! protocol errors, 3: profiles and reload).

mod support;

use hanse_wire::{Edns, EdnsOption, Message, Name, RType, Rcode, compose_query};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, free_tcp_port, free_udp_port};

use hanse_testnet::TestNet;

/// The Python interpreter that has aioquic.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("HANSE_DOQ_PYTHON") {
        return PathBuf::from(python);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".cache/hanse/doq-venv/bin/python3");
        if venv.exists() {
            return venv;
        }
    }
    PathBuf::from("python3")
}

/// Fails the test unless the client's Python has aioquic.
fn require_aioquic() {
    let python = python();
    let output = Command::new(&python)
        .args(["-c", "import aioquic; print(aioquic.__version__)"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {} : {error}", python.display()));
    assert!(
        output.status.success(),
        "{} has no aioquic (scripts/test.sh installs it into ~/.cache/hanse/doq-venv; \
         or set HANSE_DOQ_PYTHON): {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The authoritative hierarchy on 127.82.`octet`.10 (root) and .11 (example.).
fn hierarchy(octet: u8) -> (TestNet, String) {
    support::example_hierarchy(
        &format!("127.82.{octet}"),
        "www A 192.0.2.1\nwww AAAA 2001:db8::1\nmail A 192.0.2.25\nblocked A 192.0.2.66\n",
    )
}

/// A test CA (`PREFIXca.pem`) and a certificate for `dns.test` and
/// `*.dns.test` signed by it (`PREFIXserver.pem`, `PREFIXserver.key`).
fn make_certificates(directory: &Path, prefix: &str) {
    let name = |suffix: &str| format!("{prefix}{suffix}");
    std::fs::write(
        directory.join(name("ext.cnf")),
        "subjectAltName=DNS:dns.test,DNS:*.dns.test\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let curve = "ec_paramgen_curve:prime256v1";
    let (ca_key, ca_pem) = (name("ca.key"), name("ca.pem"));
    let subject = format!("/CN=Hanse DoQ test CA {prefix}");
    support::openssl(
        directory,
        &[
            "req", "-x509", "-newkey", "ec", "-pkeyopt", curve, "-nodes", "-keyout", &ca_key,
            "-out", &ca_pem, "-days", "2", "-subj", &subject,
        ],
    );
    let (key, csr, pem, ext) = (
        name("server.key"),
        name("server.csr"),
        name("server.pem"),
        name("ext.cnf"),
    );
    support::openssl(
        directory,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            curve,
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=dns.test",
        ],
    );
    support::openssl(
        directory,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

/// A `hanse serve` with a DoQ listener, and what it needs.
struct DoqServer {
    // Dropped first: Hanse stops before its hierarchy.
    hanse: HanseProcess,
    _net: TestNet,
    directory: Scratch,
    quic: SocketAddr,
    api: Option<SocketAddr>,
}

/// The DoQ idle timeout the tests configure.
const IDLE: Duration = Duration::from_secs(10);

/// Starts Hanse with a DoQ listener; `max_connections` caps the DoQ
/// connections in total and per client.
fn start(label: &str, octet: u8, with_api: bool, max_connections: usize) -> DoqServer {
    require_aioquic();
    let (net, hints) = hierarchy(octet);
    let directory = Scratch::new(label);
    make_certificates(&directory.0, "");
    std::fs::write(directory.0.join("named.root"), hints).unwrap();
    std::fs::write(directory.0.join("kids.domains"), "blocked.example\n").unwrap();
    let api: Option<SocketAddr> =
        with_api.then(|| format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap());
    let quic = Cell::new(0u16);
    let hanse = HanseProcess::start(&directory.0, |dns| {
        quic.set(free_udp_port());
        let api_section = match api {
            Some(address) => format!("[api]\nlisten = \"{address}\"\n"),
            None => "[api]\nenabled = false\n".to_owned(),
        };
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             quic_listen = [\"127.0.0.1:{}\"]\nquic_idle_timeout = \"{}s\"\n\
             max_quic_streams = 16\nlame_duck = \"1s\"\n\
             max_quic_connections = {max_connections}\n\
             max_quic_connections_per_client = {max_connections}\n\
             certificate = \"server.pem\"\nprivate_key = \"server.key\"\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             {api_section}\
             [policy]\nstate_directory = \"state\"\n\
             [[policy.feed]]\nname = \"kids-block\"\nformat = \"domains\"\nfile = \"kids.domains\"\n\
             [[policy.profile]]\nname = \"default\"\n\
             [[policy.profile]]\nname = \"kids\"\nfeeds = [\"kids-block\"]\n\
             [[policy.client]]\nserver_name = \"kid.dns.test\"\nprofile = \"kids\"\n",
            quic.get(),
            IDLE.as_secs()
        )
    });
    let quic: SocketAddr = format!("127.0.0.1:{}", quic.get()).parse().unwrap();
    if let Some(api) = api {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(api).is_err() {
            assert!(
                Instant::now() < deadline,
                "the API did not listen within 10 s; log:\n{}",
                hanse.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    DoqServer {
        hanse,
        _net: net,
        directory,
        quic,
        api,
    }
}

/// A query with message ID `id`, with or without an empty Padding option.
fn query(id: u16, name: &str, rtype: RType, padding: bool) -> Vec<u8> {
    let options = if padding {
        vec![EdnsOption {
            code: 12,
            data: Vec::new().into(),
        }]
    } else {
        Vec::new()
    };
    compose_query(
        id,
        &Name::from_ascii(name).unwrap(),
        rtype,
        true,
        Some(Edns {
            options,
            ..Edns::default()
        }),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).expect("hex"))
        .collect()
}

/// What one run of the client saw.
#[derive(Debug, Default)]
struct ClientRun {
    /// Answers by stream ID, in the order received.
    responses: Vec<(u64, Vec<u8>)>,
    /// Streams the server reset, with the error code.
    resets: Vec<(u64, u64)>,
    /// The connection's close, with the error code and the reason.
    closed: Option<(u64, String)>,
    handshake_failed: bool,
    /// The whole output, for messages.
    output: String,
    elapsed: Duration,
}

/// Runs the DoQ client against `server` with `options` and `queries`.
fn doq_client(server: &DoqServer, ca: &str, options: &[&str], queries: &[Vec<u8>]) -> ClientRun {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/doq_client.py");
    let mut arguments: Vec<String> = vec![
        script.display().to_string(),
        "--server".into(),
        server.quic.to_string(),
        "--ca".into(),
        server.directory.0.join(ca).display().to_string(),
    ];
    arguments.extend(options.iter().map(|&option| option.to_owned()));
    for query in queries {
        arguments.push("--query".into());
        arguments.push(hex(query));
    }
    let started = Instant::now();
    let output: Output = Command::new(python())
        .args(&arguments)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run the DoQ client: {error}"));
    let elapsed = started.elapsed();
    let stdout = text(&output.stdout);
    let mut run = ClientRun {
        output: format!("{stdout}\nstderr:\n{}", text(&output.stderr)),
        elapsed,
        ..ClientRun::default()
    };
    for line in stdout.lines() {
        let words: Vec<&str> = line.splitn(3, ' ').collect();
        match words.as_slice() {
            ["response", stream, data] => {
                run.responses
                    .push((stream.parse().expect("stream ID"), unhex(data)));
            }
            ["reset", stream, code] => run.resets.push((
                stream.parse().expect("stream ID"),
                code.parse().expect("code"),
            )),
            ["closed", code, reason] => {
                run.closed = Some((code.parse().expect("code"), (*reason).to_owned()));
            }
            ["closed", code] => run.closed = Some((code.parse().expect("code"), String::new())),
            ["handshake-failed", ..] => run.handshake_failed = true,
            _ => {}
        }
    }
    run
}

/// A DoQ client in the background that holds its connection open with a
/// stream that never ends (until the server gives up on it); killed by
/// PID when dropped.
struct HeldConnection {
    child: std::process::Child,
    output: std::io::BufReader<std::process::ChildStdout>,
    /// The client's `connected` line.
    connected: String,
}

impl HeldConnection {
    fn open(server: &DoqServer, ca: &str, options: &[&str]) -> HeldConnection {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/doq_client.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--server", &server.quic.to_string(), "--ca"])
            .arg(server.directory.0.join(ca))
            .args(["--hang", "--wait-reset", "--timeout", "8"])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the DoQ client starts");
        // The client prints `connected` (or fails) within its own timeout.
        let mut output = std::io::BufReader::new(child.stdout.take().expect("its output"));
        let mut connected = String::new();
        std::io::BufRead::read_line(&mut output, &mut connected).expect("a line");
        HeldConnection {
            child,
            output,
            connected: connected.trim().to_owned(),
        }
    }
}

impl HeldConnection {
    /// Waits for the server to give up on the client's stream and for the
    /// client to exit (it does so within its own timeouts: 8 s for the
    /// reset, then its linger); the rest of its output.
    fn finish(mut self) -> String {
        let mut rest = String::new();
        self.output.read_to_string(&mut rest).expect("its output");
        let status = self.child.wait().expect("the client exits");
        assert!(status.success(), "the held client failed: {status}: {rest}");
        rest
    }
}

impl Drop for HeldConnection {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The response's code and its first address.
fn summary(response: &[u8]) -> (Rcode, Option<String>) {
    let message = Message::parse(response).expect("a DNS message");
    let address = message
        .answers
        .iter()
        .find_map(|record| record.address())
        .map(|address| address.to_string());
    (message.rcode(), address)
}

fn http_get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the API accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a response");
    text(&response)
}

/// The value of `hanse_queries_total{transport="quic"}` in the metrics.
fn quic_queries(api: SocketAddr) -> u64 {
    let metrics = http_get(api, "/metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("hanse_queries_total{transport=\"quic\"} "))
        .unwrap_or_else(|| panic!("no quic transport in the metrics:\n{metrics}"))
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn doq_answers_queries_on_separate_streams_with_padding_and_metrics() {
    let server = start("doq-answers", 1, true, 64);
    let api = server.api.expect("the API");
    let before = quic_queries(api);

    // One query.
    let run = doq_client(
        &server,
        "ca.pem",
        &[],
        &[query(0, "www.example", RType::A, false)],
    );
    assert!(run.output.starts_with("connected doq"), "{}", run.output);
    assert_eq!(run.responses.len(), 1, "{}", run.output);
    let answer = &run.responses[0].1;
    assert_eq!(Message::parse(answer).unwrap().header.id, 0);
    assert_eq!(
        summary(answer),
        (Rcode::NOERROR, Some("192.0.2.1".to_owned()))
    );

    // Several queries at once on one connection, each on its own stream.
    let queries = vec![
        query(0, "www.example", RType::A, false),
        query(0, "www.example", RType::AAAA, false),
        query(0, "mail.example", RType::A, false),
        query(0, "blocked.example", RType::A, false),
        query(0, "nothing.example", RType::A, false),
    ];
    let run = doq_client(&server, "ca.pem", &[], &queries);
    assert_eq!(run.responses.len(), 5, "{}", run.output);
    let mut streams: Vec<u64> = run.responses.iter().map(|(stream, _)| *stream).collect();
    streams.sort_unstable();
    assert_eq!(streams, [0, 4, 8, 12, 16], "client-initiated bidirectional");
    let by_stream = |stream: u64| {
        let (_, answer) = run
            .responses
            .iter()
            .find(|(id, _)| *id == stream)
            .expect("an answer");
        summary(answer)
    };
    assert_eq!(by_stream(0), (Rcode::NOERROR, Some("192.0.2.1".into())));
    assert_eq!(by_stream(4), (Rcode::NOERROR, Some("2001:db8::1".into())));
    assert_eq!(by_stream(8), (Rcode::NOERROR, Some("192.0.2.25".into())));
    // The default profile does not block it; only the kids' profile does.
    assert_eq!(by_stream(12), (Rcode::NOERROR, Some("192.0.2.66".into())));
    assert_eq!(by_stream(16), (Rcode::NXDOMAIN, None));

    // Padding: a query with a Padding option gets a response padded to a
    // multiple of 468 octets (RFC 8467 §4.1); one without gets none.
    let run = doq_client(
        &server,
        "ca.pem",
        &[],
        &[
            query(0, "www.example", RType::A, true),
            query(0, "www.example", RType::A, false),
        ],
    );
    assert_eq!(run.responses.len(), 2, "{}", run.output);
    let padded = &run.responses.iter().find(|(id, _)| *id == 0).unwrap().1;
    let unpadded = &run.responses.iter().find(|(id, _)| *id == 4).unwrap().1;
    assert_eq!(padded.len() % 468, 0, "{} octets", padded.len());
    assert_eq!(
        summary(padded),
        (Rcode::NOERROR, Some("192.0.2.1".to_owned()))
    );
    let edns = Message::parse(padded).unwrap().edns.expect("an OPT record");
    assert!(edns.options.iter().any(|option| option.code == 12));
    assert_ne!(unpadded.len() % 468, 0);

    // Eight queries reached the handler over QUIC.
    let after = quic_queries(api);
    assert_eq!(after - before, 8, "{before} -> {after}");
}

#[test]
fn doq_protocol_errors_and_dangling_streams() {
    let server = start("doq-errors", 2, false, 2);

    // A message ID other than 0 closes the connection with
    // DOQ_PROTOCOL_ERROR (RFC 9250 §4.2.1).
    let run = doq_client(
        &server,
        "ca.pem",
        &["--linger", "2"],
        &[query(4660, "www.example", RType::A, false)],
    );
    assert!(run.responses.is_empty(), "{}", run.output);
    let (code, reason) = run.closed.clone().expect("the connection closed");
    assert_eq!(code, 2, "DOQ_PROTOCOL_ERROR; {}", run.output);
    assert!(reason.contains("message ID"), "{reason}");

    // A client that offers another ALPN token is refused in the handshake.
    let run = doq_client(
        &server,
        "ca.pem",
        &["--alpn", "dot"],
        &[query(0, "www.example", RType::A, false)],
    );
    assert!(run.handshake_failed, "{}", run.output);
    assert!(run.responses.is_empty(), "{}", run.output);

    // A certificate the client does not trust fails too (the server's
    // certificate is checked against the test CA).
    make_certificates(&server.directory.0, "other-");
    let run = doq_client(
        &server,
        "other-ca.pem",
        &[],
        &[query(0, "www.example", RType::A, false)],
    );
    assert!(run.handshake_failed, "{}", run.output);

    // A stream that never ends does not hold up the others, and the server
    // gives up on it (DOQ_REQUEST_CANCELLED) after its stream timeout.
    let run = doq_client(
        &server,
        "ca.pem",
        &["--hang", "--wait-reset", "--timeout", "8"],
        &[
            query(0, "www.example", RType::A, false),
            query(0, "mail.example", RType::A, false),
        ],
    );
    assert_eq!(run.responses.len(), 2, "{}", run.output);
    assert!(
        run.responses
            .iter()
            .all(|(stream, _)| *stream == 4 || *stream == 8),
        "{}",
        run.output
    );
    assert_eq!(run.resets, [(0, 3)], "{}", run.output);
    assert!(run.elapsed < Duration::from_secs(9), "{:?}", run.elapsed);

    // The cap of two connections: the second one, at half the cap, is
    // made to validate its address with a Retry first and is served; a
    // third is refused while the two are open.
    let first = HeldConnection::open(&server, "ca.pem", &[]);
    assert!(
        first.connected.ends_with("retries=0"),
        "{}",
        first.connected
    );
    let second = HeldConnection::open(&server, "ca.pem", &[]);
    assert!(
        second.connected.ends_with("retries=1"),
        "{}",
        second.connected
    );
    let run = doq_client(
        &server,
        "ca.pem",
        &[],
        &[query(0, "www.example", RType::A, false)],
    );
    assert!(run.handshake_failed, "{}", run.output);
    // They close their connections once the server has given up on their
    // streams; then the places are free again.
    for held in [first, second] {
        let rest = held.finish();
        assert!(rest.starts_with("reset 0 3"), "{rest}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = doq_client(
            &server,
            "ca.pem",
            &[],
            &[query(0, "www.example", RType::A, false)],
        );
        if run.responses.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", run.output);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !server.hanse.log().contains("panicked"),
        "{}",
        server.hanse.log()
    );
}

#[test]
fn doq_server_name_selects_the_profile_and_the_certificate_reloads() {
    let mut server = start("doq-profiles", 3, false, 64);
    let rcode = |sni: &str| {
        let run = doq_client(
            &server,
            "ca.pem",
            &["--sni", sni],
            &[query(0, "blocked.example", RType::A, false)],
        );
        assert_eq!(run.responses.len(), 1, "{}", run.output);
        summary(&run.responses[0].1).0
    };
    assert_eq!(rcode("kid.dns.test"), Rcode::NXDOMAIN);
    assert_eq!(rcode("KID.dns.test"), Rcode::NXDOMAIN);
    assert_eq!(rcode("other.dns.test"), Rcode::NOERROR);
    assert_eq!(rcode("dns.test"), Rcode::NOERROR);

    // A new certificate from another CA, swapped in on SIGHUP: new DoQ
    // connections get it.
    make_certificates(&server.directory.0, "new-");
    for (from, to) in [
        ("new-server.pem", "server.pem"),
        ("new-server.key", "server.key"),
    ] {
        std::fs::copy(server.directory.0.join(from), server.directory.0.join(to)).unwrap();
    }
    server.hanse.signal("HUP");
    let one = [query(0, "www.example", RType::A, false)];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = doq_client(&server, "new-ca.pem", &[], &one);
        if run.responses.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 10 s: {}\nlog:\n{}",
            run.output,
            server.hanse.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = doq_client(&server, "ca.pem", &[], &one);
    assert!(run.handshake_failed, "{}", run.output);

    // Shutdown (SIGTERM, lame duck of 1 s): the query still arriving is
    // abandoned, the connection is closed with DOQ_NO_ERROR (which ends
    // its streams too), Hanse exits.
    let held = HeldConnection::open(&server, "new-ca.pem", &["--linger", "5"]);
    assert!(
        held.connected.starts_with("connected doq"),
        "{}",
        held.connected
    );
    server.hanse.signal("TERM");
    let status = server.hanse.wait_for_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|status| status.success()),
        "{status:?}; log:\n{}",
        server.hanse.log()
    );
    let rest = held.finish();
    assert!(rest.contains("closed 0"), "{rest}");
}
