//! End-to-end tests of the encrypted listeners of `hanse serve` with real
//! clients: DNS over TLS (RFC 7858) with kdig and dig, DNS over HTTPS
//! (RFC 8484) with kdig and dig (HTTP/2), curl (HTTP/1.1 and HTTP/2) and
//! dnsperf (HTTP/2 on nghttp2, many queries on one connection),
//! the cleartext DoH listener, TLS session resumption (openssl s_client),
//! EDNS padding (RFC 7830, RFC 8467), profile
//! selection by TLS server name and by DoH path, the idle timeout against a
//! client that opens TLS and sends nothing, a flood of half-open connections,
//! the certificate reloaded on SIGHUP and when its files change (a bad file
//! keeps the old one), and the PROXY protocol v2 on UDP and TCP (kdig
//! +proxy), DoT
//! and DoH (kdig and curl through a relay that adds the header, as a load
//! balancer does), against slow and half-open clients too.
//!
//! The test CA and the server certificates are made by the tests with the
//! openssl command. kdig, dig, curl, dnsperf and openssl must be installed: a missing
//! tool fails the test.
//!
//! Addresses: 127.66.0.0/16, one third octet per test (1: clients, 2:
//! profiles, 3: slow clients and the flood, 4: certificate reload on
//! SIGHUP, 83: PROXY protocol, 84: certificate reload on file change, 85:
//! slow clients of the PROXY protocol, 86: dnsperf over DoH); the
//! hierarchy of in-process authoritative servers on .10 and .11 of it, Hanse
//! on .1, the flood from .50 and the other clients from .60. The PROXY
//! protocol tests bind clients in 127.83.0.0/24: the proxy (and the relay)
//! is 127.83.0.1, a peer that is no proxy .2, slow clients .3, a flood .4,
//! other clients .5 to .20. Ports are chosen by the kernel. Everything
//! stays on 127.0.0.0/8.

mod support;

use hanse_testnet::client::exchange;
use hanse_testnet::{TestNet, Transport};
use hanse_wire::{Edns, EdnsOption, Message, Name, RType, Rcode, compose_query};
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The idle timeout the tests configure.
const IDLE: Duration = Duration::from_secs(2);

fn hierarchy(octet: u8) -> (TestNet, String) {
    support::example_hierarchy(
        &format!("127.66.{octet}"),
        "www A 192.0.2.1\nblocked A 192.0.2.66\n",
    )
}

/// Runs a tool; a tool that cannot be started fails the test.
fn run(program: &str, arguments: &[String]) -> Output {
    Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program} (is it installed?): {error}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A test CA and a server certificate for `dns.test` and `*.dns.test`
/// signed by it, in `directory` under `prefix`.
struct Certificates {
    ca: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
}

fn make_certificates(directory: &Path, prefix: &str) -> Certificates {
    let name = |suffix: &str| format!("{prefix}{suffix}");
    std::fs::write(
        directory.join(name("ext.cnf")),
        "subjectAltName=DNS:dns.test,DNS:*.dns.test\nbasicConstraints=CA:FALSE\n\
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
    let (ca_key, ca_pem) = (name("ca.key"), name("ca.pem"));
    let subject = format!("/CN=Hanse test CA {prefix}");
    ca.extend([
        "-keyout", &ca_key, "-out", &ca_pem, "-days", "2", "-subj", &subject,
    ]);
    support::openssl(directory, &ca);
    let mut request = vec!["req"];
    request.extend(curve);
    let (key, csr, pem, ext) = (
        name("server.key"),
        name("server.csr"),
        name("server.pem"),
        name("ext.cnf"),
    );
    request.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=dns.test"]);
    support::openssl(directory, &request);
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
    Certificates {
        ca: directory.join(ca_pem),
        certificate: directory.join(pem),
        key: directory.join(key),
    }
}

/// A running `hanse serve`, stopped by PID when dropped.
struct Hanse {
    child: Child,
    dns: SocketAddr,
    tls: SocketAddr,
    https: SocketAddr,
    http: SocketAddr,
    directory: PathBuf,
}

impl Drop for Hanse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

impl Hanse {
    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("hanse.log")).unwrap_or_default()
    }

    fn certificates(&self) -> Certificates {
        Certificates {
            ca: self.directory.join("ca.pem"),
            certificate: self.directory.join("server.pem"),
            key: self.directory.join("server.key"),
        }
    }

    fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-HUP".to_owned(), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

fn free_port(address: &str) -> u16 {
    TcpListener::bind(format!("{address}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("hanse-encrypted-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

fn start(name: &str, octet: u8, hints: &str) -> Hanse {
    start_with(
        name,
        octet,
        hints,
        "allow_from = [\"127.0.0.0/8\"]",
        "[api]\nenabled = false\n",
    )
}

/// [`start`] with other `[server]` keys than its access list, and `tail`
/// (policy entries, the `[api]` section) at the end of the configuration.
fn start_with(name: &str, octet: u8, hints: &str, server: &str, tail: &str) -> Hanse {
    let directory = scratch(name);
    make_certificates(&directory, "");
    std::fs::write(directory.join("named.root"), hints).unwrap();
    std::fs::write(directory.join("kids.domains"), "blocked.example\n").unwrap();
    let host = format!("127.66.{octet}.1");
    let address = |port: u16| -> SocketAddr { format!("{host}:{port}").parse().unwrap() };
    let (dns, tls, https, http) = (
        address(free_port(&host)),
        address(free_port(&host)),
        address(free_port(&host)),
        address(free_port(&host)),
    );
    let config = format!(
        "[server]\nlisten = [\"{dns}\"]\nthreads = 2\n{server}\n\
         tcp_idle_timeout = \"{}ms\"\n\
         tls_listen = [\"{tls}\"]\nhttps_listen = [\"{https}\"]\ndoh_cleartext_listen = [\"{http}\"]\n\
         certificate = \"server.pem\"\nprivate_key = \"server.key\"\n\
         [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
         [policy]\nstate_directory = \"state\"\n\
         [[policy.feed]]\nname = \"kids-block\"\nformat = \"domains\"\nfile = \"kids.domains\"\n\
         [[policy.profile]]\nname = \"default\"\n\
         [[policy.profile]]\nname = \"kids\"\nfeeds = [\"kids-block\"]\n\
         [[policy.client]]\nserver_name = \"kid.dns.test\"\nprofile = \"kids\"\n\
         [[policy.client]]\ndoh_path = \"/dns-query/kid1\"\nprofile = \"kids\"\n{tail}",
        IDLE.as_millis()
    );
    std::fs::write(directory.join("hanse.toml"), config).unwrap();
    let log = std::fs::File::create(directory.join("hanse.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hanse"))
        .args(["serve", "--config"])
        .arg(directory.join("hanse.toml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("hanse starts");
    let hanse = Hanse {
        child,
        dns,
        tls,
        https,
        http,
        directory,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let probe = support::liveness_probe();
    let mut hanse = hanse;
    while Instant::now() < deadline {
        if hanse.child.try_wait().ok().flatten().is_some() {
            break;
        }
        if exchange(dns, &probe, Transport::Udp, Duration::from_millis(200)).is_ok()
            && TcpStream::connect(tls).is_ok()
            && TcpStream::connect(https).is_ok()
        {
            return hanse;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("hanse did not start within 10 s; log:\n{}", hanse.log());
}

/// The response code in kdig's or dig's output (`status: NOERROR`).
fn status_of(output: &str) -> Option<&str> {
    let header = &output[output.find("->>HEADER<<-")?..];
    let rest = &header[header.find("status: ")? + "status: ".len()..];
    rest.split([',', ';', '\n']).next()
}

/// The address the clients query from: .60 of Hanse's /24.
fn client_address(hanse: &Hanse) -> String {
    match hanse.dns.ip() {
        IpAddr::V4(address) => {
            let [first, second, third, _] = address.octets();
            format!("{first}.{second}.{third}.60")
        }
        IpAddr::V6(_) => unreachable!("the tests use IPv4"),
    }
}

/// kdig over TLS or HTTPS, verifying the certificate against the test CA.
fn kdig(hanse: &Hanse, ca: &Path, options: &[&str], name: &str) -> String {
    let mut arguments = vec![
        "-b".to_owned(),
        client_address(hanse),
        format!("@{}", hanse.dns.ip()),
        format!("+tls-ca={}", ca.display()),
        "+tls-hostname=dns.test".to_owned(),
        "+time=3".to_owned(),
        "+retry=0".to_owned(),
    ];
    arguments.extend(options.iter().map(|&option| option.to_owned()));
    arguments.push(name.to_owned());
    arguments.push("A".to_owned());
    let output = run("kdig", &arguments);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "kdig {arguments:?} failed:\n{stdout}\n{}\nlog:\n{}",
        text(&output.stderr),
        hanse.log()
    );
    stdout
}

fn dig(hanse: &Hanse, ca: &Path, options: &[&str], name: &str) -> String {
    let mut arguments = vec![
        format!("@{}", hanse.dns.ip()),
        format!("+tls-ca={}", ca.display()),
        "+tls-hostname=dns.test".to_owned(),
        "+time=3".to_owned(),
        "+tries=1".to_owned(),
    ];
    arguments.extend(options.iter().map(|&option| option.to_owned()));
    arguments.push(name.to_owned());
    arguments.push("A".to_owned());
    let output = run("dig", &arguments);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "dig {arguments:?} failed:\n{stdout}\n{}\nlog:\n{}",
        text(&output.stderr),
        hanse.log()
    );
    stdout
}

/// What curl got: status, HTTP version, headers and body.
struct CurlResponse {
    status: u16,
    version: String,
    headers: String,
    body: Vec<u8>,
}

/// One DoH request with curl: POST of `message`, or GET with it in `?dns=`.
fn curl(
    hanse: &Hanse,
    url: &str,
    http_version: &str,
    body: Option<(&str, &[u8])>,
    extra: &[&str],
) -> CurlResponse {
    let directory = &hanse.directory;
    let stamp = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let headers_file = directory.join(format!("headers-{stamp}"));
    let body_file = directory.join(format!("body-{stamp}"));
    let mut arguments: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "5".into(),
        http_version.into(),
        "--cacert".into(),
        hanse.certificates().ca.display().to_string(),
        "--resolve".into(),
        format!("dns.test:{}:{}", hanse.https.port(), hanse.https.ip()),
        "-D".into(),
        headers_file.display().to_string(),
        "-o".into(),
        body_file.display().to_string(),
        "-w".into(),
        "%{http_code} %{http_version}".into(),
    ];
    if let Some((content_type, bytes)) = body {
        let request_file = directory.join(format!("request-{stamp}"));
        std::fs::write(&request_file, bytes).unwrap();
        arguments.extend([
            "-H".into(),
            format!("content-type: {content_type}"),
            "--data-binary".into(),
            format!("@{}", request_file.display()),
        ]);
    }
    arguments.extend(extra.iter().map(|&argument| argument.to_owned()));
    arguments.push(url.to_owned());
    let output = run("curl", &arguments);
    let written = text(&output.stdout);
    assert!(
        output.status.success(),
        "curl {arguments:?}: {written} {}",
        text(&output.stderr)
    );
    let (status, version) = written.split_once(' ').expect("status and version");
    CurlResponse {
        status: status.parse().expect("a status"),
        version: version.to_owned(),
        headers: std::fs::read_to_string(&headers_file).unwrap_or_default(),
        body: std::fs::read(&body_file).unwrap_or_default(),
    }
}

fn query(name: &str, padding: bool) -> Vec<u8> {
    let options = if padding {
        vec![EdnsOption {
            code: 12,
            data: Vec::new().into(),
        }]
    } else {
        Vec::new()
    };
    compose_query(
        0,
        &Name::from_ascii(name).unwrap(),
        RType::A,
        true,
        Some(Edns {
            options,
            ..Edns::default()
        }),
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut encoded = String::new();
    for chunk in bytes.chunks(3) {
        let block = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for index in 0..=chunk.len() {
            encoded.push(ALPHABET[((block >> (18 - 6 * index)) & 63) as usize] as char);
        }
    }
    encoded
}

fn answer_address(body: &[u8]) -> Option<String> {
    let message = Message::parse(body).ok()?;
    message
        .answers
        .iter()
        .find_map(|record| record.address())
        .map(|address| address.to_string())
}

#[test]
fn dot_and_doh_are_answered_for_kdig_dig_and_curl() {
    let (_net, hints) = hierarchy(1);
    let hanse = start("clients", 1, &hints);
    let ca = hanse.certificates().ca;
    let tls_port = format!("-p{}", hanse.tls.port());
    let https_port = format!("-p{}", hanse.https.port());

    // DoT.
    let output = kdig(&hanse, &ca, &[&tls_port, "+tls"], "www.example.");
    assert_eq!(status_of(&output), Some("NOERROR"), "{output}");
    assert!(output.contains("192.0.2.1"), "{output}");
    let output = dig(&hanse, &ca, &[&tls_port, "+tls"], "www.example.");
    assert_eq!(status_of(&output), Some("NOERROR"), "{output}");
    assert!(output.contains("192.0.2.1"), "{output}");

    // DoH over HTTP/2: POST and GET, kdig and dig.
    for options in [&["+https"][..], &["+https", "+https-get"]] {
        let mut kdig_options = vec![https_port.as_str()];
        kdig_options.extend(options);
        let output = kdig(&hanse, &ca, &kdig_options, "www.example.");
        assert_eq!(status_of(&output), Some("NOERROR"), "{output}");
        assert!(output.contains("192.0.2.1"), "{output}");
        let output = dig(&hanse, &ca, &kdig_options, "www.example.");
        assert_eq!(status_of(&output), Some("NOERROR"), "{output}");
        assert!(output.contains("192.0.2.1"), "{output}");
    }

    // DoH with curl over HTTP/1.1 and HTTP/2, GET and POST.
    let url = format!("https://dns.test:{}/dns-query", hanse.https.port());
    let plain = query("www.example.", false);
    for version in ["--http1.1", "--http2"] {
        let posted = curl(
            &hanse,
            &url,
            version,
            Some(("application/dns-message", &plain)),
            &[],
        );
        let fetched = curl(
            &hanse,
            &format!("{url}?dns={}", base64url(&plain)),
            version,
            None,
            &[],
        );
        for response in [posted, fetched] {
            assert_eq!(response.status, 200, "{}", response.headers);
            let expected = if version == "--http1.1" { "1.1" } else { "2" };
            assert_eq!(response.version, expected);
            let headers = response.headers.to_ascii_lowercase();
            assert!(
                headers.contains("content-type: application/dns-message"),
                "{headers}"
            );
            // The answer's TTL is 300 s; a cached copy counts down from there.
            let max_age: u32 = headers
                .split("cache-control: max-age=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("no max-age in {headers}"));
            assert!((250..=300).contains(&max_age), "{headers}");
            assert_eq!(answer_address(&response.body).as_deref(), Some("192.0.2.1"));
        }
    }

    // Bad requests.
    let bad_type = curl(&hanse, &url, "--http1.1", Some(("text/plain", &plain)), &[]);
    assert_eq!(bad_type.status, 415);
    let not_dns = curl(
        &hanse,
        &url,
        "--http2",
        Some(("application/dns-message", b"hello")),
        &[],
    );
    assert_eq!(not_dns.status, 400);
    let bad_base64 = curl(&hanse, &format!("{url}?dns=%%%"), "--http1.1", None, &[]);
    assert_eq!(bad_base64.status, 400);
    let missing = curl(&hanse, &format!("{url}?other=1"), "--http2", None, &[]);
    assert_eq!(missing.status, 400);
    let too_long = vec![0u8; 70_000];
    let large = curl(
        &hanse,
        &url,
        "--http1.1",
        Some(("application/dns-message", &too_long)),
        &[],
    );
    assert_eq!(large.status, 413);
    let elsewhere = curl(
        &hanse,
        &format!("https://dns.test:{}/other", hanse.https.port()),
        "--http2",
        None,
        &[],
    );
    assert_eq!(elsewhere.status, 404);
    let deleted = curl(&hanse, &url, "--http1.1", None, &["-X", "DELETE"]);
    assert_eq!(deleted.status, 405);

    // Padding: a query with a Padding option gets a response padded to a
    // multiple of 468 octets; one without gets none.
    let padded = curl(
        &hanse,
        &url,
        "--http2",
        Some(("application/dns-message", &query("www.example.", true))),
        &[],
    );
    assert_eq!(padded.status, 200);
    assert_eq!(padded.body.len() % 468, 0, "{} octets", padded.body.len());
    let message = Message::parse(&padded.body).expect("a padded message parses");
    assert!(
        message
            .edns
            .unwrap()
            .options
            .iter()
            .any(|option| option.code == 12)
    );
    let unpadded = curl(
        &hanse,
        &url,
        "--http2",
        Some(("application/dns-message", &plain)),
        &[],
    );
    assert_ne!(unpadded.body.len() % 468, 0);
    let output = kdig(
        &hanse,
        &ca,
        &[&tls_port, "+tls", "+padding"],
        "www.example.",
    );
    assert!(output.contains("PADDING"), "{output}");

    // Session resumption: a second connection resumes the first one's
    // session with its ticket (openssl waits for the server to close at the
    // idle timeout, having read the tickets).
    let session = hanse.directory.join("session.pem");
    let s_client = |extra: [&str; 2]| {
        let mut arguments: Vec<String> = [
            "s_client",
            "-connect",
            &hanse.tls.to_string(),
            "-alpn",
            "dot",
            "-servername",
            "dns.test",
            "-CAfile",
            &ca.display().to_string(),
            "-verify_return_error",
            "-ign_eof",
        ]
        .iter()
        .map(|&argument| argument.to_owned())
        .collect();
        arguments.extend(extra.iter().map(|&argument| argument.to_owned()));
        text(&run("openssl", &arguments).stdout)
    };
    let first = s_client(["-sess_out", &session.display().to_string()]);
    assert!(first.contains("New, TLSv1.3"), "{first}");
    let second = s_client(["-sess_in", &session.display().to_string()]);
    assert!(second.contains("Reused, TLSv1.3"), "{second}");

    // The cleartext listener for a reverse proxy.
    let cleartext = format!("http://{}/dns-query", hanse.http);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let response = curl(
            &hanse,
            &cleartext,
            version,
            Some(("application/dns-message", &plain)),
            &[],
        );
        assert_eq!(response.status, 200);
        assert_eq!(answer_address(&response.body).as_deref(), Some("192.0.2.1"));
    }
}

#[test]
fn the_server_name_and_the_doh_path_select_the_profile() {
    let (_net, hints) = hierarchy(2);
    let hanse = start("profiles", 2, &hints);
    let ca = hanse.certificates().ca;
    let tls_port = format!("-p{}", hanse.tls.port());
    let https_port = format!("-p{}", hanse.https.port());
    let rcode = |options: &[&str]| {
        let output = kdig(&hanse, &ca, options, "blocked.example.");
        status_of(&output).unwrap_or("none").to_owned()
    };
    // DoT: the kids' server name blocks; another name, or none, does not.
    assert_eq!(rcode(&[&tls_port, "+tls-sni=kid.dns.test"]), "NXDOMAIN");
    assert_eq!(rcode(&[&tls_port, "+tls-sni=KID.dns.test"]), "NXDOMAIN");
    assert_eq!(rcode(&[&tls_port, "+tls-sni=other.dns.test"]), "NOERROR");
    assert_eq!(rcode(&[&tls_port, "+tls"]), "NOERROR");
    // DoH: the kids' path blocks; the plain endpoint and other tokens do not.
    assert_eq!(rcode(&[&https_port, "+https=/dns-query/kid1"]), "NXDOMAIN");
    assert_eq!(
        rcode(&[&https_port, "+https=/dns-query/kid1", "+https-get"]),
        "NXDOMAIN"
    );
    assert_eq!(rcode(&[&https_port, "+https=/dns-query"]), "NOERROR");
    assert_eq!(rcode(&[&https_port, "+https=/dns-query/kid2"]), "NOERROR");
    // DoH over TLS with the kids' server name blocks too.
    assert_eq!(
        rcode(&[&https_port, "+https", "+tls-sni=kid.dns.test"]),
        "NXDOMAIN"
    );
    // Plain UDP from the same address: the default profile.
    let answer = exchange(
        hanse.dns,
        &query("blocked.example.", false),
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("an answer over UDP");
    assert_eq!(Message::parse(&answer).unwrap().rcode(), Rcode::NOERROR);
}

/// Opens a TCP connection from `source` to `target`.
fn connect_from(source: &str, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into())?;
    socket.connect_timeout(&target.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// Whether the server closes `stream` within `limit` (reads end or fail).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 64];
    let started = Instant::now();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
        if started.elapsed() > limit {
            return false;
        }
    }
}

#[test]
fn slow_and_half_open_clients_do_not_stop_others() {
    let (_net, hints) = hierarchy(3);
    let hanse = start("slow", 3, &hints);
    let ca = hanse.certificates().ca;
    let tls_port = format!("-p{}", hanse.tls.port());
    let https_port = format!("-p{}", hanse.https.port());

    // A flood of connections that never start TLS, from one address.
    let mut flood = Vec::new();
    for _ in 0..200 {
        match connect_from("127.66.3.50", hanse.tls) {
            Ok(stream) => flood.push(stream),
            Err(_) => break,
        }
    }
    assert!(flood.len() >= 64, "only {} connections opened", flood.len());
    // A slow client on the DoH port: connects and sends nothing.
    let mut slow = connect_from("127.66.3.51", hanse.https).expect("connects");
    let opened = Instant::now();

    // Others are answered meanwhile, over DoT and DoH.
    let output = kdig(&hanse, &ca, &[&tls_port, "+tls"], "www.example.");
    assert_eq!(status_of(&output), Some("NOERROR"), "{output}");
    let output = kdig(&hanse, &ca, &[&https_port, "+https"], "www.example.");
    assert_eq!(status_of(&output), Some("NOERROR"), "{output}");

    // The idle ones are closed at the idle timeout, not long after.
    assert!(
        closed_within(&mut slow, IDLE * 3),
        "the slow client was not closed"
    );
    assert!(opened.elapsed() >= IDLE - Duration::from_millis(200));
    let mut closed = 0;
    for stream in &mut flood {
        if closed_within(
            stream,
            Duration::from_millis(100) + IDLE.saturating_sub(opened.elapsed()),
        ) {
            closed += 1;
        }
    }
    assert_eq!(closed, flood.len(), "every flood connection is closed");
    // A client that completed TLS and then went quiet is closed too.
    let quiet = Command::new("openssl")
        .args([
            "s_client".to_owned(),
            "-connect".to_owned(),
            hanse.tls.to_string(),
            "-alpn".to_owned(),
            "dot".to_owned(),
            "-quiet".to_owned(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client runs");
    let mut quiet = KillOnDrop(quiet);
    let deadline = Instant::now() + IDLE * 4;
    let mut ended = false;
    while Instant::now() < deadline {
        if quiet.0.try_wait().expect("status").is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ended,
        "a quiet TLS client was not closed at the idle timeout"
    );
    // And the service still answers.
    let output = kdig(&hanse, &ca, &[&tls_port, "+tls"], "www.example.");
    assert_eq!(status_of(&output), Some("NOERROR"), "{output}");
}

/// A child process killed (by its PID) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_certificate_is_reloaded_on_sighup_and_a_bad_file_keeps_the_old_one() {
    let (_net, hints) = hierarchy(4);
    let hanse = start("reload", 4, &hints);
    let first = hanse.certificates();
    let tls_port = format!("-p{}", hanse.tls.port());
    let works_with = |ca: &Path| {
        let arguments = vec![
            "-b".to_owned(),
            "127.66.4.60".to_owned(),
            format!("@{}", hanse.dns.ip()),
            tls_port.clone(),
            format!("+tls-ca={}", ca.display()),
            "+tls-hostname=dns.test".to_owned(),
            "+time=3".to_owned(),
            "+retry=0".to_owned(),
            "www.example.".to_owned(),
        ];
        let output = run("kdig", &arguments);
        output.status.success() && status_of(&text(&output.stdout)) == Some("NOERROR")
    };
    assert!(works_with(&first.ca));
    // A certificate from another CA replaces the first on SIGHUP.
    let second = make_certificates(&hanse.directory, "second-");
    std::fs::copy(&second.certificate, &first.certificate).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    hanse.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !works_with(&second.ca) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(works_with(&second.ca), "log:\n{}", hanse.log());
    assert!(
        !works_with(&first.ca),
        "the old certificate is still served"
    );
    // A broken file on the next SIGHUP keeps the second certificate.
    std::fs::write(&first.certificate, "not a certificate\n").unwrap();
    hanse.hangup();
    std::thread::sleep(Duration::from_millis(500));
    assert!(works_with(&second.ca), "log:\n{}", hanse.log());
    assert!(
        hanse.log().contains("certificate not reloaded"),
        "log:\n{}",
        hanse.log()
    );
}

/// The address of the PROXY protocol tests' proxy (and relay).
const PROXY: &str = "127.83.0.1";

/// A PROXY protocol v2 header for a TCP connection from `client` to `server`.
fn proxy_header(client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    let (IpAddr::V4(client_ip), IpAddr::V4(server_ip)) = (client.ip(), server.ip()) else {
        panic!("the tests use IPv4");
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    // Version 2 and PROXY, IPv4 and stream, 12 octets of addresses.
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&client_ip.octets());
    header.extend_from_slice(&server_ip.octets());
    header.extend_from_slice(&client.port().to_be_bytes());
    header.extend_from_slice(&server.port().to_be_bytes());
    header
}

/// A PROXY protocol v2 header with the LOCAL command (a proxy's health check).
const LOCAL_HEADER: [u8; 16] = *b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

/// A relay that does what a load balancer with the PROXY protocol does: it
/// accepts on 127.83.0.1, connects from there to `target`, sends a header
/// that names the accepted connection's peer, then copies both ways. Its
/// threads end when it is dropped, or after two minutes.
struct Relay {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind(format!("{PROXY}:0")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((client, peer)) => {
                            std::thread::spawn(move || relay(client, peer, target));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Relay {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Relays one connection (bounded by ten-second read timeouts).
fn relay(client: TcpStream, peer: SocketAddr, target: SocketAddr) {
    let _ = client.set_nonblocking(false);
    let Ok(mut upstream) = connect_from(PROXY, target) else {
        return;
    };
    if upstream.write_all(&proxy_header(peer, target)).is_err() {
        return;
    }
    for stream in [&client, &upstream] {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    }
    let (Ok(mut from_client), Ok(mut to_upstream)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let mut to_client = client;
    let _ = std::io::copy(&mut upstream, &mut to_client);
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = forward.join();
}

/// kdig from `source` to `server` with `options`; the response code, or
/// `None` if kdig got no answer.
fn kdig_from(
    source: &str,
    server: SocketAddr,
    ca: &Path,
    options: &[&str],
    name: &str,
) -> Option<String> {
    let mut arguments = vec![
        "-b".to_owned(),
        source.to_owned(),
        format!("@{}", server.ip()),
        format!("-p{}", server.port()),
        format!("+tls-ca={}", ca.display()),
        "+tls-hostname=dns.test".to_owned(),
        "+time=3".to_owned(),
        "+retry=0".to_owned(),
    ];
    arguments.extend(options.iter().map(|&option| option.to_owned()));
    arguments.extend([name.to_owned(), "A".to_owned()]);
    let output = run("kdig", &arguments);
    let stdout = text(&output.stdout);
    if !output.status.success() {
        eprintln!("kdig {arguments:?}: {stdout}{}", text(&output.stderr));
        return None;
    }
    status_of(&stdout).map(str::to_owned)
}

/// kdig over plain TCP with a PROXY header naming `client`, sent from the proxy.
fn kdig_tcp_proxied(hanse: &Hanse, client: &str, name: &str) -> Option<String> {
    let header = format!("+proxy={client}-{}", hanse.dns.ip());
    let ca = hanse.certificates().ca;
    kdig_from(PROXY, hanse.dns, &ca, &["+tcp", "+notls", &header], name)
}

/// Sends `start` and then a framed query for `name` on `stream`; the
/// response code, or `None` if the server closed the connection unanswered.
fn query_after(mut stream: TcpStream, start: &[u8], name: &str) -> Option<Rcode> {
    let message = query(name, false);
    let mut bytes = start.to_vec();
    bytes.extend_from_slice(&u16::try_from(message.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(&message);
    // The server may close before all is written: that is an answer too.
    let _ = stream.write_all(&bytes);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut response).ok()?;
    Some(Message::parse(&response).ok()?.rcode())
}

/// A cleartext DoH GET for `name` with curl from `source` to `target`; the
/// response code of the DNS answer, or `None` without one.
fn curl_cleartext_from(
    hanse: &Hanse,
    source: &str,
    target: SocketAddr,
    name: &str,
) -> Option<Rcode> {
    let body = hanse.directory.join(format!("cleartext-{source}"));
    let arguments: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "5".into(),
        "--interface".into(),
        source.into(),
        "-o".into(),
        body.display().to_string(),
        format!(
            "http://{target}/dns-query?dns={}",
            base64url(&query(name, false))
        ),
    ];
    let output = run("curl", &arguments);
    if !output.status.success() {
        return None;
    }
    let body = std::fs::read(&body).ok()?;
    Some(Message::parse(&body).ok()?.rcode())
}

/// Whether the server closes `stream` within `limit` without sending anything.
fn closed_unanswered(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The value of a counter without labels in Hanse's `/metrics`.
fn metric(api: SocketAddr, name: &str) -> Option<f64> {
    let output = run(
        "curl",
        &[
            "-sS".into(),
            "--max-time".into(),
            "5".into(),
            format!("http://{api}/metrics"),
        ],
    );
    text(&output.stdout).lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn a_proxy_header_from_a_configured_proxy_names_the_client() {
    let (_net, hints) = hierarchy(83);
    let api: SocketAddr = format!("127.66.83.1:{}", free_port("127.66.83.1"))
        .parse()
        .unwrap();
    // Clients .0 to .15 of 127.83.0.0/24 are allowed, .20 is not; .7 has
    // the kids' profile.
    let hanse = start_with(
        "proxy",
        83,
        &hints,
        "allow_from = [\"127.66.0.0/16\", \"127.83.0.0/28\"]\n\
         proxy_protocol_from = [\"127.83.0.1\"]",
        &format!(
            "[[policy.client]]\ncidr = \"127.83.0.7/32\"\nprofile = \"kids\"\n\
             [api]\nlisten = \"{api}\"\n"
        ),
    );
    let ca = hanse.certificates().ca;
    let blocked = "blocked.example.";

    // TCP, with kdig's own PROXY header: the header's client counts.
    assert_eq!(
        kdig_tcp_proxied(&hanse, "127.83.0.7", blocked).as_deref(),
        Some("NXDOMAIN"),
        "log:\n{}",
        hanse.log()
    );
    assert_eq!(
        kdig_tcp_proxied(&hanse, "127.83.0.8", blocked).as_deref(),
        Some("NOERROR")
    );
    assert_eq!(
        kdig_tcp_proxied(&hanse, "127.83.0.20", blocked).as_deref(),
        Some("REFUSED")
    );
    // UDP, with kdig's header on each datagram.
    let udp = |client: &str| {
        let header = format!("+proxy={client}-{}", hanse.dns.ip());
        kdig_from(
            PROXY,
            hanse.dns,
            &ca,
            &["+notcp", "+notls", &header],
            blocked,
        )
    };
    assert_eq!(udp("127.83.0.7").as_deref(), Some("NXDOMAIN"));
    assert_eq!(udp("127.83.0.8").as_deref(), Some("NOERROR"));
    assert_eq!(udp("127.83.0.20").as_deref(), Some("REFUSED"));
    // LOCAL: the proxy's own address (allowed, default profile).
    let local = connect_from(PROXY, hanse.dns).expect("connects");
    assert_eq!(
        query_after(local, &LOCAL_HEADER, blocked),
        Some(Rcode::NOERROR)
    );

    // DoT and DoH over TLS through the relay: the relay's header counts.
    let tls_relay = Relay::start(hanse.tls);
    let https_relay = Relay::start(hanse.https);
    let http_relay = Relay::start(hanse.http);
    let through = |relay: &Relay, client: &str, option: &str| {
        kdig_from(client, relay.address, &ca, &[option], blocked)
    };
    assert_eq!(
        through(&tls_relay, "127.83.0.7", "+tls").as_deref(),
        Some("NXDOMAIN"),
        "log:\n{}",
        hanse.log()
    );
    assert_eq!(
        through(&tls_relay, "127.83.0.8", "+tls").as_deref(),
        Some("NOERROR")
    );
    assert_eq!(
        through(&tls_relay, "127.83.0.20", "+tls").as_deref(),
        Some("REFUSED")
    );
    assert_eq!(
        through(&https_relay, "127.83.0.7", "+https").as_deref(),
        Some("NXDOMAIN")
    );
    assert_eq!(
        through(&https_relay, "127.83.0.8", "+https").as_deref(),
        Some("NOERROR")
    );
    assert_eq!(
        through(&https_relay, "127.83.0.20", "+https").as_deref(),
        Some("REFUSED")
    );
    // Cleartext DoH through the relay, with curl.
    let cleartext = |client: &str| curl_cleartext_from(&hanse, client, http_relay.address, blocked);
    assert_eq!(cleartext("127.83.0.7"), Some(Rcode::NXDOMAIN));
    assert_eq!(cleartext("127.83.0.8"), Some(Rcode::NOERROR));
    assert_eq!(cleartext("127.83.0.20"), Some(Rcode::REFUSED));

    // A header from a peer that is no proxy: closed, on every listener.
    let rejections_before = metric(api, "hanse_proxy_header_rejections_total").expect("the metric");
    let header = |target: SocketAddr| proxy_header("127.83.0.7:4000".parse().unwrap(), target);
    assert_eq!(
        kdig_from(
            "127.83.0.2",
            hanse.dns,
            &ca,
            &["+tcp", "+notls", "+proxy=127.83.0.7-127.66.83.1"],
            blocked
        ),
        None
    );
    let unanswered = ["+notcp", "+notls", "+time=1"];
    let with_header = [&unanswered[..], &["+proxy=127.83.0.7-127.66.83.1"]].concat();
    assert_eq!(
        kdig_from("127.83.0.2", hanse.dns, &ca, &with_header, blocked),
        None
    );
    for target in [hanse.tls, hanse.https, hanse.http] {
        let mut stream = connect_from("127.83.0.2", target).expect("connects");
        stream.write_all(&header(target)).unwrap();
        assert!(
            closed_unanswered(&mut stream, IDLE),
            "a header from a non-proxy to {target}"
        );
    }
    // A proxy without a header: closed, on every listener.
    let plain = connect_from(PROXY, hanse.dns).expect("connects");
    assert_eq!(query_after(plain, &[], blocked), None);
    assert_eq!(kdig_from(PROXY, hanse.dns, &ca, &unanswered, blocked), None);
    assert_eq!(kdig_from(PROXY, hanse.tls, &ca, &["+tls"], blocked), None);
    assert_eq!(
        kdig_from(PROXY, hanse.https, &ca, &["+https"], blocked),
        None
    );
    let mut http = connect_from(PROXY, hanse.http).expect("connects");
    http.write_all(b"GET /dns-query?dns=AAAB HTTP/1.1\r\nhost: dns.test\r\n\r\n")
        .unwrap();
    assert!(closed_unanswered(&mut http, IDLE));
    // Counted: eight connections closed and two datagrams dropped.
    let rejections = metric(api, "hanse_proxy_header_rejections_total").expect("the metric");
    assert_eq!(
        rejections - rejections_before,
        10.0,
        "log:\n{}",
        hanse.log()
    );
    // The service still answers the proxy's clients.
    assert_eq!(
        kdig_tcp_proxied(&hanse, "127.83.0.8", "www.example.").as_deref(),
        Some("NOERROR")
    );
}

/// Replaces `path` with `contents` the way deployment tools do: a new file
/// renamed into place.
fn replace_file(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, contents).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[test]
fn the_certificate_is_reloaded_when_its_files_change() {
    let (_net, hints) = hierarchy(84);
    let hanse = start("watch", 84, &hints);
    let first = hanse.certificates();
    let client = "127.66.84.60";
    let works_with = |ca: &Path| {
        kdig_from(client, hanse.tls, ca, &["+tls"], "www.example.").as_deref() == Some("NOERROR")
    };
    assert!(works_with(&first.ca), "log:\n{}", hanse.log());
    // A certificate from another CA, written over the first: no SIGHUP.
    let second = make_certificates(&hanse.directory, "second-");
    let changed = Instant::now();
    replace_file(
        &first.certificate,
        &std::fs::read(&second.certificate).unwrap(),
    );
    replace_file(&first.key, &std::fs::read(&second.key).unwrap());
    let deadline = changed + Duration::from_secs(10);
    while !works_with(&second.ca) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        works_with(&second.ca),
        "not reloaded in 10 s; log:\n{}",
        hanse.log()
    );
    assert!(
        !works_with(&first.ca),
        "the old certificate is still served"
    );
    assert!(
        hanse.log().contains("certificate reloaded"),
        "log:\n{}",
        hanse.log()
    );
    // A broken replacement keeps the second certificate, and says so.
    replace_file(
        &first.certificate,
        b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hanse
        .log()
        .contains("certificate not reloaded after a file change")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        hanse
            .log()
            .contains("certificate not reloaded after a file change"),
        "log:\n{}",
        hanse.log()
    );
    assert!(works_with(&second.ca), "log:\n{}", hanse.log());
}

/// Writes `bytes` to `stream` one octet a second, until the stream fails,
/// all are written or `stop` is set.
fn trickle(
    mut stream: TcpStream,
    bytes: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for byte in bytes {
            if stop.load(Ordering::Relaxed) || stream.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

#[test]
fn slow_proxy_headers_and_hellos_and_half_open_connections_do_not_stop_others() {
    let (_net, hints) = hierarchy(85);
    let hanse = start_with(
        "proxy-slow",
        85,
        &hints,
        "allow_from = [\"127.0.0.0/8\"]\nproxy_protocol_from = [\"127.83.0.1\"]",
        "[api]\nenabled = false\n",
    );
    let ca = hanse.certificates().ca;
    // 200 half-open connections from the proxy and from another address.
    let mut flood = Vec::new();
    for source in [PROXY, "127.83.0.4"] {
        for _ in 0..200 {
            match connect_from(source, hanse.tls) {
                Ok(stream) => flood.push(stream),
                Err(_) => break,
            }
        }
    }
    assert!(
        flood.len() >= 264,
        "only {} connections opened",
        flood.len()
    );
    // A proxy that sends its header one octet a second, and a client that
    // sends its TLS hello so.
    let stop = Arc::new(AtomicBool::new(false));
    let slow_header = connect_from(PROXY, hanse.tls).expect("connects");
    let slow_hello = connect_from("127.83.0.3", hanse.tls).expect("connects");
    let opened = Instant::now();
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    hello.extend_from_slice(&[0x42; 20]);
    let mut slow = Vec::new();
    for (stream, bytes) in [
        (
            &slow_header,
            proxy_header("127.83.0.9:4000".parse().unwrap(), hanse.tls),
        ),
        (&slow_hello, hello),
    ] {
        slow.push(trickle(
            stream.try_clone().unwrap(),
            bytes,
            Arc::clone(&stop),
        ));
    }
    // Another client's DoT query is answered, and quickly.
    let asked = Instant::now();
    let status = kdig_from("127.83.0.5", hanse.tls, &ca, &["+tls"], "www.example.");
    assert_eq!(status.as_deref(), Some("NOERROR"), "log:\n{}", hanse.log());
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "took {:?}",
        asked.elapsed()
    );
    // The slow ones are closed at the idle timeout (shorter than the
    // header's five seconds), not long after.
    for (mut stream, what) in [
        (slow_header, "slow PROXY header"),
        (slow_hello, "slow TLS hello"),
    ] {
        let limit = (IDLE * 2).saturating_sub(opened.elapsed()) + Duration::from_millis(500);
        assert!(
            closed_within(&mut stream, limit),
            "the {what} was not closed"
        );
    }
    assert!(opened.elapsed() < IDLE * 3);
    let mut closed = 0;
    for stream in &mut flood {
        if closed_within(
            stream,
            Duration::from_millis(100) + IDLE.saturating_sub(opened.elapsed()),
        ) {
            closed += 1;
        }
    }
    assert_eq!(closed, flood.len(), "every flood connection is closed");
    stop.store(true, Ordering::Relaxed);
    for thread in slow {
        let _ = thread.join();
    }
    let status = kdig_from("127.83.0.5", hanse.tls, &ca, &["+tls"], "www.example.");
    assert_eq!(status.as_deref(), Some("NOERROR"));
}

/// A number after `label` in dnsperf's statistics (`Queries sent: 200`).
fn dnsperf_count(output: &str, label: &str) -> Option<u64> {
    let line = output
        .lines()
        .find(|line| line.trim_start().starts_with(label))?;
    line[line.find(label)? + label.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// dnsperf's DoH mode (on nghttp2) with ten queries outstanding on one
/// HTTP/2 connection. It reads one DNS answer per TLS record, so it lost
/// every answer that shared a record with another (hyper writes the
/// responses that are ready together) and then waited out its timeouts:
/// one or two answers per connection. Every answer must arrive, by GET and
/// by POST.
#[test]
fn issue_7_doh_serves_many_queries_on_one_http2_connection_to_nghttp2_clients() {
    let (_net, hints) = hierarchy(86);
    let hanse = start("dnsperf", 86, &hints);
    let queries = hanse.directory.join("queries.txt");
    std::fs::write(
        &queries,
        "www.example A\nns.example A\nexample SOA\nmissing.example A\nwww.example AAAA\n\
         example NS\nblocked.example A\nwww.example A\nexample NS\nns.example AAAA\n",
    )
    .unwrap();
    let port = hanse.https.port().to_string();
    for method in ["GET", "POST"] {
        let arguments: Vec<String> = [
            "-m",
            "doh",
            "-a",
            &client_address(&hanse),
            "-s",
            &hanse.https.ip().to_string(),
            "-p",
            &port,
            "-d",
            &queries.display().to_string(),
            "-c",
            "1",
            "-q",
            "10",
            "-n",
            "30",
            "-l",
            "20",
            "-t",
            "2",
            "-O",
            &format!("doh-method={method}"),
            "-O",
            &format!("doh-uri=https://dns.test:{port}/dns-query"),
        ]
        .iter()
        .map(|&argument| argument.to_owned())
        .collect();
        let started = Instant::now();
        let output = run("dnsperf", &arguments);
        let stdout = text(&output.stdout);
        let report = format!(
            "dnsperf {arguments:?}:\n{stdout}\n{}\nlog:\n{}",
            text(&output.stderr),
            hanse.log()
        );
        assert!(output.status.success(), "{report}");
        assert_eq!(
            dnsperf_count(&stdout, "Queries sent:"),
            Some(300),
            "{report}"
        );
        assert_eq!(
            dnsperf_count(&stdout, "Queries completed:"),
            Some(300),
            "{report}"
        );
        assert_eq!(dnsperf_count(&stdout, "Queries lost:"), Some(0), "{report}");
        assert_eq!(
            dnsperf_count(&stdout, "Reconnections:"),
            Some(0),
            "{report}"
        );
        // Lost answers would cost two seconds each.
        assert!(started.elapsed() < Duration::from_secs(10), "{report}");
    }
}
