//! End-to-end test of aggressive negative caching (RFC 8198) in
//! `hanse serve`: NXDOMAIN and NODATA answered from validated NSEC records
//! in the cache, without asking the authoritative server again.
//!
//! A root and `example.`, both signed at test time with ldns-keygen and
//! ldns-signzone (Debian ldnsutils; a missing tool fails the test) with
//! NSEC, served by in-process authoritative servers that count the queries
//! they receive. `example.` holds, in canonical order, the apex, `c`, `m`,
//! `ns`, `www` and `x`: the NSEC record of the apex covers `a.example.`,
//! `b.example.` and the wildcard `*.example.`; `d.example.` is covered by
//! another NSEC record (from `c` to `m`).
//!
//! Addresses: 127.95.0.1 (root) and 127.95.0.2 (`example.`), port 53.
//! Hanse listens on a free port of 127.0.0.1. One test, as the hierarchy
//! has fixed addresses; it runs in a few seconds.

mod support;

use hanse_testnet::client::{DnssecFlags, query_dnssec};
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Message, Name, RType, Rcode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;
use std::time::Instant;
use support::{HanseProcess, Scratch, ds_of, free_tcp_port, keygen, run_ldns};

const ROOT_ADDRESS: &str = "127.95.0.1";
const EXAMPLE_ADDRESS: &str = "127.95.0.2";

/// Signs `text` for `origin` with NSEC and a new ECDSA P-256 KSK and ZSK;
/// returns the signed zone text and the DS record of the KSK.
fn sign(directory: &Path, origin: &str, text: &str) -> (String, String) {
    let file = format!("{origin}zone");
    std::fs::write(directory.join(&file), text).unwrap();
    let ksk = keygen(directory, origin, true);
    let zsk = keygen(directory, origin, false);
    let signed = format!("{file}.signed");
    run_ldns(
        directory,
        "ldns-signzone",
        &["-o", origin, "-f", &signed, &file, &ksk, &zsk],
    );
    let ds = ds_of(directory, &ksk);
    (
        std::fs::read_to_string(directory.join(&signed)).unwrap(),
        ds,
    )
}

/// The signed root and `example.`; the hints and the trust anchor text.
fn hierarchy(directory: &Path) -> (TestNet, String, String) {
    let example = format!(
        "$ORIGIN example.\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 300\n@ NS ns\n\
         ns A {EXAMPLE_ADDRESS}\nc A 192.0.2.3\nm A 192.0.2.13\nwww A 192.0.2.1\n\
         x A 192.0.2.24\n"
    );
    let (signed_example, ds) = sign(directory, "example.", &example);
    let root = format!(
        "$ORIGIN .\n$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A {ROOT_ADDRESS}\nexample. NS ns.example.\nns.example. A {EXAMPLE_ADDRESS}\n\
         {ds}\n"
    );
    let (signed_root, anchor) = sign(directory, ".", &root);
    let zone = |origin: &str, text: &str| {
        Zone::parse(origin, text)
            .unwrap_or_else(|error| panic!("zone {origin} does not load: {error}\n{text}"))
    };
    let specs = vec![
        ServerSpec::new(
            format!("{ROOT_ADDRESS}:53").parse().unwrap(),
            vec![zone(".", &signed_root)],
        ),
        ServerSpec::new(
            format!("{EXAMPLE_ADDRESS}:53").parse().unwrap(),
            vec![zone("example.", &signed_example)],
        ),
    ];
    let net = TestNet::start(specs).expect("test servers start");
    let hints = net.root_hints(&[ROOT_ADDRESS]);
    (net, hints, anchor)
}

/// Starts hanse validating from `anchor`, with `aggressive_nsec` as given
/// and the HTTP API on `api` (none: off).
fn start(
    hints: &str,
    anchor: &str,
    aggressive: bool,
    api: Option<SocketAddr>,
) -> (HanseProcess, Scratch) {
    let directory = Scratch::new(&format!("aggressive-nsec-{aggressive}"));
    std::fs::write(directory.0.join("named.root"), hints).unwrap();
    std::fs::write(directory.0.join("root.anchor"), anchor).unwrap();
    let api = match api {
        Some(address) => format!("[api]\nlisten = \"{address}\"\n"),
        None => "[api]\nenabled = false\n".to_owned(),
    };
    let process = HanseProcess::start(&directory.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nmax_resolution_time = \"4s\"\n\
             {api}\
             [dnssec]\nvalidation = true\ntrust_anchor_file = \"root.anchor\"\n\
             aggressive_nsec = {aggressive}\n"
        )
    });
    (process, directory)
}

const DO: DnssecFlags = DnssecFlags {
    dnssec_ok: true,
    authentic_data: false,
    checking_disabled: false,
};

fn ask(hanse: &HanseProcess, name: &str, rtype: RType) -> Message {
    let name = Name::from_ascii(name).unwrap();
    query_dnssec(
        hanse.dns,
        &name,
        rtype,
        DO,
        Transport::Udp,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|error| panic!("no answer for {name}: {error}; log:\n{}", hanse.log()))
}

/// How many queries about `name` the authoritative servers received.
fn queries_about(net: &TestNet, name: &str) -> usize {
    let name = Name::from_ascii(name).unwrap();
    net.servers()
        .iter()
        .flat_map(|server| server.queries())
        .filter(|query| query.name == name)
        .count()
}

fn has_type(message: &Message, rtype: RType) -> bool {
    message
        .authorities
        .iter()
        .any(|record| record.rtype == rtype)
}

/// The value of `hanse_dnssec_aggressive_answers_total` from the API's
/// `/metrics`, waiting up to 10 seconds for the listener.
fn aggressive_answers_metric(api: SocketAddr) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect_timeout(&api, Duration::from_millis(500)) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() >= deadline => panic!("no API on {api}: {error}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: hanse\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a response");
    String::from_utf8_lossy(&response).lines().find_map(|line| {
        line.strip_prefix("hanse_dnssec_aggressive_answers_total ")?
            .trim()
            .parse()
            .ok()
    })
}

/// Collects failed expectations so that one run reports all of them.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, step: &str, ok: bool, what: &str, message: &Message) {
        if !ok {
            self.0.push(format!(
                "{step}: expected {what}; got rcode {:?}, AD {}, answers {:?}, authorities {:?}",
                message.rcode(),
                message.header.authentic_data,
                message.answers,
                message.authorities
            ));
        }
    }

    fn expect(&mut self, step: &str, ok: bool, what: &str) {
        if !ok {
            self.0.push(format!("{step}: expected {what}"));
        }
    }
}

#[test]
fn validated_nsec_records_answer_negative_questions_from_the_cache() {
    let scratch = Scratch::new("aggressive-zones");
    let (net, hints, anchor) = hierarchy(&scratch.0);
    let mut findings = Findings::default();

    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let (hanse, _directory) = start(&hints, &anchor, true, Some(api));
    let step = "a.example. A, first";
    let answer = ask(&hanse, "a.example.", RType::A);
    findings.check(step, answer.rcode() == Rcode::NXDOMAIN, "NXDOMAIN", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.expect(
        step,
        queries_about(&net, "a.example.") >= 1,
        "a query for a.example. upstream",
    );

    net.clear_queries();
    let step = "b.example. A, covered by the cached NSEC";
    let answer = ask(&hanse, "b.example.", RType::A);
    findings.check(step, answer.rcode() == Rcode::NXDOMAIN, "NXDOMAIN", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.check(step, has_type(&answer, RType::SOA), "the SOA", &answer);
    findings.check(
        step,
        has_type(&answer, RType::NSEC),
        "the NSEC proof",
        &answer,
    );
    findings.check(step, has_type(&answer, RType::RRSIG), "its RRSIGs", &answer);
    findings.expect(
        step,
        queries_about(&net, "b.example.") == 0,
        "no query for b.example. upstream",
    );
    let soa_ttl = answer
        .authorities
        .iter()
        .find(|record| record.rtype == RType::SOA)
        .map(|record| record.ttl);
    findings.expect(
        step,
        soa_ttl.is_some_and(|ttl| ttl > 0 && ttl <= 300),
        "a negative TTL of at most min(SOA TTL, MINIMUM, NSEC TTL) = 300",
    );

    let step = "d.example. A, outside the covered range";
    let answer = ask(&hanse, "d.example.", RType::A);
    findings.check(step, answer.rcode() == Rcode::NXDOMAIN, "NXDOMAIN", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.expect(
        step,
        queries_about(&net, "d.example.") >= 1,
        "a query for d.example. upstream",
    );

    // NODATA: the NSEC of c.example. lists A, RRSIG and NSEC only.
    let step = "c.example. AAAA, first";
    let answer = ask(&hanse, "c.example.", RType::AAAA);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(step, answer.answers.is_empty(), "no answer", &answer);
    net.clear_queries();
    let step = "c.example. TXT, from the NSEC of c.example.";
    let answer = ask(&hanse, "c.example.", RType::TXT);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(step, answer.answers.is_empty(), "no answer", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.expect(
        step,
        queries_about(&net, "c.example.") == 0,
        "no query for c.example. upstream",
    );
    let step = "c.example. A, listed in the NSEC";
    net.clear_queries();
    let answer = ask(&hanse, "c.example.", RType::A);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(step, !answer.answers.is_empty(), "the address", &answer);
    findings.expect(
        step,
        queries_about(&net, "c.example.") >= 1,
        "a query for c.example. upstream",
    );
    // b.example. A and c.example. TXT at least (steps of nested look-ups
    // may add to it).
    let counted = aggressive_answers_metric(api);
    findings.expect(
        "the metric",
        counted.is_some_and(|count| count >= 2.0),
        &format!("hanse_dnssec_aggressive_answers_total >= 2, got {counted:?}"),
    );
    drop(hanse);

    // Switched off: the same questions go upstream.
    let (hanse, _directory_off) = start(&hints, &anchor, false, None);
    let step = "aggressive_nsec = false: a.example. A";
    let answer = ask(&hanse, "a.example.", RType::A);
    findings.check(step, answer.rcode() == Rcode::NXDOMAIN, "NXDOMAIN", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    net.clear_queries();
    let step = "aggressive_nsec = false: b.example. A";
    let answer = ask(&hanse, "b.example.", RType::A);
    findings.check(step, answer.rcode() == Rcode::NXDOMAIN, "NXDOMAIN", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.expect(
        step,
        queries_about(&net, "b.example.") >= 1,
        "a query for b.example. upstream",
    );

    assert!(
        findings.0.is_empty(),
        "{} failed expectations:\n{}\nlog:\n{}",
        findings.0.len(),
        findings.0.join("\n"),
        hanse.log()
    );
}
