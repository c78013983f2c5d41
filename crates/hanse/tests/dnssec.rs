//! End-to-end tests of DNSSEC validation in `hanse serve` (issue 5, item 5a):
//! a hierarchy signed at test time with ldns-keygen and ldns-signzone
//! (Debian ldnsutils; a missing tool fails the test), served by in-process
//! authoritative servers that add RRSIGs, DS records and NSEC/NSEC3 proofs
//! when asked with DO, and a trust-anchor file with the test root's DS.
//!
//! The hierarchy: the root (NSEC, so the absence of a DS is provable),
//! `secure.` (signed, DS in the root), `insecure.` (unsigned, no DS),
//! `bogus-expired.` (signatures expired), `bogus-key.` (the DS in the root
//! matches no key of the zone), `wild.` (a wildcard) and `nsec3.` (NSEC3).
//! All keys are ECDSA P-256 with SHA-256 (algorithm 13), a key-signing and
//! a zone-signing key per zone.
//!
//! Addresses: 127.68.0.1 (root) to 127.68.0.7 (one per zone), port 53.
//! Hanse listens on a free port of 127.0.0.1. The hierarchy is one set of
//! fixed addresses, so everything runs in one test, sub-step by sub-step;
//! every failed expectation is collected and reported at the end.

mod support;

use hanse_testnet::client::{DnssecFlags, query_dnssec};
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Message, Name, RType, Rcode};
use std::path::Path;
use std::time::Duration;
use support::{HanseProcess, Scratch, ds_of, keygen, run_ldns};

/// The child zones: origin, server address, extra records, signing.
const CHILDREN: &[(&str, &str, &str, Signing)] = &[
    ("secure.", "127.68.0.2", "", Signing::Nsec),
    ("insecure.", "127.68.0.3", "", Signing::Unsigned),
    ("bogus-expired.", "127.68.0.4", "", Signing::Expired),
    ("bogus-key.", "127.68.0.5", "", Signing::WrongDs),
    ("wild.", "127.68.0.6", "* A 192.0.2.7\n", Signing::Nsec),
    ("nsec3.", "127.68.0.7", "", Signing::Nsec3),
];

const ROOT_ADDRESS: &str = "127.68.0.1";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signing {
    Unsigned,
    Nsec,
    Nsec3,
    /// Signed with validity in the past.
    Expired,
    /// Signed, but the root's DS is that of another key.
    WrongDs,
}

/// Signs `text` for `origin` with a new KSK and ZSK; returns the signed
/// zone text and the DS of the KSK.
fn sign(directory: &Path, origin: &str, text: &str, signing: Signing) -> (String, String) {
    let file = format!("{origin}zone");
    std::fs::write(directory.join(&file), text).unwrap();
    let ksk = keygen(directory, origin, true);
    let zsk = keygen(directory, origin, false);
    let mut arguments: Vec<&str> = vec!["-o", origin];
    match signing {
        Signing::Nsec3 => arguments.extend(["-n", "-a", "1", "-t", "0"]),
        // Valid from 2020-01-01 to 2021-01-01: long expired.
        Signing::Expired => arguments.extend(["-i", "1577836800", "-e", "1609459200"]),
        _ => {}
    }
    let signed = format!("{file}.signed");
    arguments.extend(["-f", &signed, &file, &ksk, &zsk]);
    run_ldns(directory, "ldns-signzone", &arguments);
    let ds = if signing == Signing::WrongDs {
        // The DS of a key the zone does not publish.
        let other = keygen(directory, origin, true);
        ds_of(directory, &other)
    } else {
        ds_of(directory, &ksk)
    };
    (
        std::fs::read_to_string(directory.join(&signed)).unwrap(),
        ds,
    )
}

fn child_text(origin: &str, address: &str, extra: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\n\
         ns A {address}\nwww A 192.0.2.1\n{extra}"
    )
}

/// The signed hierarchy and the trust-anchor text (the root KSK's DS).
struct Hierarchy {
    net: TestNet,
    hints: String,
    anchor: String,
}

fn hierarchy(scratch: &Scratch) -> Hierarchy {
    let directory = &scratch.0;
    let mut root = format!(
        "$ORIGIN .\n$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A {ROOT_ADDRESS}\n"
    );
    let mut specs = Vec::new();
    for (origin, address, extra, signing) in CHILDREN {
        let text = child_text(origin, address, extra);
        root.push_str(&format!(
            "{origin} NS ns.{origin}\nns.{origin} A {address}\n"
        ));
        let served = if *signing == Signing::Unsigned {
            text
        } else {
            let (signed, ds) = sign(directory, origin, &text, *signing);
            root.push_str(&ds);
            root.push('\n');
            signed
        };
        let zone = Zone::parse(origin, &served)
            .unwrap_or_else(|error| panic!("zone {origin} does not load: {error}\n{served}"));
        specs.push(ServerSpec::new(
            format!("{address}:53").parse().unwrap(),
            vec![zone],
        ));
    }
    let (signed_root, anchor) = sign(directory, ".", &root, Signing::Nsec);
    let root_zone = Zone::parse(".", &signed_root)
        .unwrap_or_else(|error| panic!("the root does not load: {error}\n{signed_root}"));
    specs.push(ServerSpec::new(
        format!("{ROOT_ADDRESS}:53").parse().unwrap(),
        vec![root_zone],
    ));
    let net = TestNet::start(specs).expect("test servers start");
    let hints = net.root_hints(&[ROOT_ADDRESS]);
    Hierarchy { net, hints, anchor }
}

/// A running `hanse serve` and its directory.
struct Hanse {
    process: HanseProcess,
    _directory: Scratch,
}

impl Hanse {
    fn log(&self) -> String {
        self.process.log()
    }

    fn ask(&self, name: &str, rtype: RType, flags: DnssecFlags) -> Message {
        let name = Name::from_ascii(name).unwrap();
        query_dnssec(
            self.process.dns,
            &name,
            rtype,
            flags,
            Transport::Udp,
            Duration::from_secs(10),
        )
        .unwrap_or_else(|error| panic!("no answer for {name}: {error}; log:\n{}", self.log()))
    }
}

/// Starts hanse with validation on, the test root's DS as trust anchor and
/// `negative_trust_anchors`.
fn start(label: &str, hierarchy: &Hierarchy, negative_trust_anchors: &str) -> Hanse {
    let directory = Scratch::new(&format!("dnssec-{label}"));
    std::fs::write(directory.0.join("named.root"), &hierarchy.hints).unwrap();
    std::fs::write(directory.0.join("root.anchor"), &hierarchy.anchor).unwrap();
    let process = HanseProcess::start(&directory.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nmax_resolution_time = \"4s\"\n\
             [api]\nenabled = false\n\
             [dnssec]\nvalidation = true\ntrust_anchor_file = \"root.anchor\"\n\
             negative_trust_anchors = [{negative_trust_anchors}]\n"
        )
    });
    Hanse {
        process,
        _directory: directory,
    }
}

const DO: DnssecFlags = DnssecFlags {
    dnssec_ok: true,
    authentic_data: false,
    checking_disabled: false,
};

const AD_ONLY: DnssecFlags = DnssecFlags {
    dnssec_ok: false,
    authentic_data: true,
    checking_disabled: false,
};

const DO_CD: DnssecFlags = DnssecFlags {
    dnssec_ok: true,
    authentic_data: false,
    checking_disabled: true,
};

/// The Extended DNS Error codes (RFC 8914) of a response.
fn ede_codes(message: &Message) -> Vec<u16> {
    message
        .edns
        .iter()
        .flat_map(|edns| edns.options.iter())
        .filter(|option| option.code == 15 && option.data.len() >= 2)
        .map(|option| u16::from_be_bytes([option.data[0], option.data[1]]))
        .collect()
}

fn has_type(records: &[hanse_wire::Record], rtype: RType) -> bool {
    records.iter().any(|record| record.rtype == rtype)
}

fn addresses(message: &Message) -> Vec<[u8; 4]> {
    message
        .answers
        .iter()
        .filter(|record| record.rtype == RType::A && record.data.len() == 4)
        .map(|record| {
            [
                record.data[0],
                record.data[1],
                record.data[2],
                record.data[3],
            ]
        })
        .collect()
}

/// Collects failed expectations so that one run reports all of them.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, step: &str, ok: bool, what: &str, message: &Message) {
        if !ok {
            self.0.push(format!(
                "{step}: expected {what}; got rcode {:?}, AD {}, EDE {:?}, answers {:?}, authorities {:?}",
                message.rcode(),
                message.header.authentic_data,
                ede_codes(message),
                message.answers,
                message.authorities
            ));
        }
    }
}

#[test]
fn validation_of_a_signed_hierarchy() {
    let scratch = Scratch::new("zones");
    let hierarchy = hierarchy(&scratch);
    let hanse = start("validating", &hierarchy, "");
    let mut findings = Findings::default();

    // Secure: AD with DO, RRSIGs only with DO; AD also for an AD query.
    let step = "secure www.secure. A with DO";
    let answer = hanse.ask("www.secure.", RType::A, DO);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(
        step,
        addresses(&answer) == [[192, 0, 2, 1]],
        "the address",
        &answer,
    );
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.check(
        step,
        has_type(&answer.answers, RType::RRSIG),
        "an RRSIG",
        &answer,
    );
    let step = "secure www.secure. A with AD, without DO";
    let answer = hanse.ask("www.secure.", RType::A, AD_ONLY);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    findings.check(
        step,
        !has_type(&answer.answers, RType::RRSIG),
        "no RRSIG",
        &answer,
    );

    // Insecure: provably unsigned (the root's NSEC denies a DS).
    let step = "insecure www.insecure. A with DO";
    let answer = hanse.ask("www.insecure.", RType::A, DO);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(
        step,
        addresses(&answer) == [[192, 0, 2, 1]],
        "the address",
        &answer,
    );
    findings.check(step, !answer.header.authentic_data, "no AD", &answer);

    // Bogus: SERVFAIL with the reason, the data with CD.
    for (zone, codes, reason) in [
        ("bogus-expired.", &[7u16][..], "EDE 7 (signature expired)"),
        (
            "bogus-key.",
            &[6u16, 9][..],
            "EDE 6 or 9 (DNSSEC bogus, DNSKEY missing)",
        ),
    ] {
        let name = format!("www.{zone}");
        let step = format!("bogus {name} A with DO");
        let answer = hanse.ask(&name, RType::A, DO);
        findings.check(
            &step,
            answer.rcode() == Rcode::SERVFAIL,
            "SERVFAIL",
            &answer,
        );
        findings.check(
            &step,
            ede_codes(&answer).iter().any(|code| codes.contains(code)),
            reason,
            &answer,
        );
        let answer_without_cd = answer;
        let step = format!("bogus {name} A with DO and CD");
        let answer = hanse.ask(&name, RType::A, DO_CD);
        findings.check(&step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
        findings.check(
            &step,
            addresses(&answer) == [[192, 0, 2, 1]],
            "the address",
            &answer,
        );
        findings.check(&step, !answer.header.authentic_data, "no AD", &answer);
        // Asked again, the bogus data comes from the RRset cache: the same
        // reason. The flags differ from the first query's (AD instead of
        // DO), so the answer cache, which keeps the first SERVFAIL for
        // `servfail_ttl`, cannot answer it.
        let first_codes = ede_codes(&answer_without_cd);
        let step = format!("bogus {name} A with AD, again (from the RRset cache)");
        let again = hanse.ask(&name, RType::A, AD_ONLY);
        findings.check(&step, again.rcode() == Rcode::SERVFAIL, "SERVFAIL", &again);
        findings.check(
            &step,
            ede_codes(&again) == first_codes,
            &format!("the EDE codes of the first answer, {first_codes:?}"),
            &again,
        );
    }

    // A wildcard answer, its expansion proved by NSEC.
    let step = "wildcard anything.wild. A with DO";
    let answer = hanse.ask("anything.wild.", RType::A, DO);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(
        step,
        addresses(&answer) == [[192, 0, 2, 7]],
        "the wildcard's address",
        &answer,
    );
    findings.check(step, answer.header.authentic_data, "AD", &answer);

    // Authenticated denial with NSEC and with NSEC3.
    for name in ["missing.secure.", "missing.nsec3."] {
        let step = format!("NXDOMAIN {name} A with DO");
        let answer = hanse.ask(name, RType::A, DO);
        findings.check(
            &step,
            answer.rcode() == Rcode::NXDOMAIN,
            "NXDOMAIN",
            &answer,
        );
        findings.check(&step, answer.header.authentic_data, "AD", &answer);
    }
    drop(hanse);

    // A negative trust anchor turns the bogus zone insecure, no more.
    let hanse = start("negative-anchor", &hierarchy, "\"bogus-key.\"");
    let step = "negative trust anchor www.bogus-key. A with DO";
    let answer = hanse.ask("www.bogus-key.", RType::A, DO);
    findings.check(step, answer.rcode() == Rcode::NOERROR, "NOERROR", &answer);
    findings.check(
        step,
        addresses(&answer) == [[192, 0, 2, 1]],
        "the address",
        &answer,
    );
    findings.check(step, !answer.header.authentic_data, "no AD", &answer);
    let step = "negative trust anchor leaves www.secure. secure";
    let answer = hanse.ask("www.secure.", RType::A, DO);
    findings.check(step, answer.header.authentic_data, "AD", &answer);
    let step = "negative trust anchor leaves www.bogus-expired. bogus";
    let answer = hanse.ask("www.bogus-expired.", RType::A, DO);
    findings.check(step, answer.rcode() == Rcode::SERVFAIL, "SERVFAIL", &answer);
    drop(hanse);

    // The resolver really fetched keys: the root server was asked for its DNSKEY.
    let root = hierarchy.net.server(ROOT_ADDRESS);
    assert!(
        root.queries()
            .iter()
            .any(|query| query.rtype == RType::DNSKEY && query.name.is_root()),
        "the root's DNSKEY was never asked for"
    );
    assert!(
        findings.0.is_empty(),
        "{} failed expectation(s):\n{}",
        findings.0.len(),
        findings.0.join("\n")
    );
}
