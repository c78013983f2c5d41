//! Signed test zones made with ldns-keygen and ldns-signzone (Debian
//! ldnsutils). A missing tool fails the test: nothing is skipped.

#![allow(dead_code)]

use hanse_wire::{Name, RType, Record};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The time the tests validate at: between the default inception and expiration.
pub const NOW: u32 = 1_750_000_000;
pub const INCEPTION: u32 = 1_700_000_000;
pub const EXPIRATION: u32 = 1_800_000_000;

/// The unsigned test zone: a wildcard, an empty non-terminal (`b.ent`), an
/// unsigned delegation (`sub`) with glue.
pub const ZONE: &str = "\
$ORIGIN example.
$TTL 3600
@ SOA ns1 hostmaster 1 3600 600 86400 300
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.2
www A 192.0.2.3
www AAAA 2001:db8::2
*.wild TXT \"wild\"
a.b.ent A 192.0.2.4
sub NS ns.sub
ns.sub A 192.0.2.9
";

/// A scratch directory removed on drop.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "hanse-dnssec-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create scratch directory");
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn run(directory: &Path, program: &str, arguments: &[&str]) -> String {
    let output = Command::new(program)
        .args(arguments)
        .current_dir(directory)
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is required (Debian package ldnsutils): {error}")
        });
    assert!(
        output.status.success(),
        "{program} {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A signed zone and where its keys are.
pub struct SignedZone {
    pub records: Vec<Record>,
    pub scratch: Scratch,
    /// Base names of the key files: key-signing key, then zone-signing key.
    pub keys: Vec<String>,
}

impl SignedZone {
    /// The records of one RRset.
    pub fn rrset(&self, owner: &str, rtype: RType) -> Vec<Record> {
        let owner = name(owner);
        self.records
            .iter()
            .filter(|record| record.name == owner && record.rtype == rtype)
            .cloned()
            .collect()
    }

    /// The RRSIG records covering one RRset.
    pub fn rrsigs(&self, owner: &str, rtype: RType) -> Vec<Record> {
        let owner = name(owner);
        self.records
            .iter()
            .filter(|record| {
                record.name == owner
                    && record.rtype == RType::RRSIG
                    && record.data[..2] == rtype.0.to_be_bytes()
            })
            .cloned()
            .collect()
    }

    /// All records of a type.
    pub fn of_type(&self, rtype: RType) -> Vec<Record> {
        self.records
            .iter()
            .filter(|record| record.rtype == rtype)
            .cloned()
            .collect()
    }

    /// Runs a tool in the zone's directory.
    pub fn run(&self, program: &str, arguments: &[&str]) -> String {
        run(&self.scratch.path, program, arguments)
    }
}

pub fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// Signs [`ZONE`] with a new key-signing and zone-signing key of `algorithm`
/// (an ldns-keygen name), valid from `inception` to `expiration`, with extra
/// ldns-signzone options (`-n` for NSEC3 and so on).
pub fn sign(algorithm: &str, options: &[&str], inception: u32, expiration: u32) -> SignedZone {
    sign_text(ZONE, algorithm, options, inception, expiration)
}

pub fn sign_text(
    zone: &str,
    algorithm: &str,
    options: &[&str],
    inception: u32,
    expiration: u32,
) -> SignedZone {
    let scratch = Scratch::new();
    let directory = scratch.path.clone();
    std::fs::write(directory.join("zone"), zone).unwrap();
    let rsa = algorithm.starts_with("RSA");
    let mut keys = Vec::new();
    for ksk in [true, false] {
        let mut arguments = vec!["-a", algorithm];
        if rsa {
            arguments.extend(["-b", if ksk { "2048" } else { "1024" }]);
        }
        if ksk {
            arguments.push("-k");
        }
        arguments.push("example.");
        keys.push(
            run(&directory, "ldns-keygen", &arguments)
                .trim()
                .to_string(),
        );
    }
    let inception = inception.to_string();
    let expiration = expiration.to_string();
    let mut arguments: Vec<&str> = options.to_vec();
    arguments.extend(["-i", &inception, "-e", &expiration, "-f", "signed", "zone"]);
    arguments.extend(keys.iter().map(String::as_str));
    run(&directory, "ldns-signzone", &arguments);
    let text = std::fs::read_to_string(directory.join("signed")).unwrap();
    let records = hanse_zone::parse_zone(&text, &name("example."), 3600)
        .unwrap_or_else(|error| panic!("signed zone does not parse: {error}\n{text}"));
    SignedZone {
        records,
        scratch,
        keys,
    }
}
