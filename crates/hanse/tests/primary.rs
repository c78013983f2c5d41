//! End-to-end tests of a Hanse node as a zone-transfer primary for its feeds
//! (issue 8, item 1): a real `hanse serve` serves an RPZ file feed and a
//! hosts list as policy zones; `kdig` transfers them by AXFR and IXFR with
//! TSIG; a second `hanse serve` follows both by zone transfer, gets every
//! change by NOTIFY and IXFR, catches up by the AXFR-style answer when the
//! journal no longer reaches its serial, and a wrong key is refused and
//! reported on both sides; Knot DNS follows a Hanse primary too.
//!
//! Addresses: 127.81.0.0/16 only, ports chosen free by the system. Test 1
//! uses 127.81.1.1 (primary) and 127.81.1.2 (secondary), test 2 127.81.2.x,
//! test 3 127.81.3.x. The resolvers' root hints point at 127.81.0.250,
//! where nothing listens: only names the policy answers are asked. Knot
//! DNS as a secondary of Hanse uses 127.81.4.1 and .4.2. A missing `kdig`
//! or `knotd` fails the test.

mod support;

use hanse_testnet::Transport;
use hanse_testnet::client::query;
use hanse_wire::{Name, RType, Rcode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch};

const KEY_NAME: &str = "fleet-key.";
const SECRET: &str = "aGFuc2UtcHJpbWFyeS10ZXN0LXNlY3JldC0yMDI2LWtleQ==";
const WRONG_SECRET: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZy0xMjM=";
/// How long a change may take to reach the secondary.
const PROPAGATION: Duration = Duration::from_secs(8);

/// A port free on `address` for both UDP and TCP.
fn free_port(address: &str) -> u16 {
    for _ in 0..50 {
        let port = UdpSocket::bind(format!("{address}:0"))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if TcpListener::bind(format!("{address}:{port}")).is_ok() {
            return port;
        }
    }
    panic!("no free port on {address}");
}

fn address(ip: &str) -> SocketAddr {
    format!("{ip}:{}", free_port(ip)).parse().unwrap()
}

/// The policy zone file at `serial`: `blocked.example` and
/// `n1`..`n<serial-1>`; a refresh of an hour, so only NOTIFY brings changes.
fn policy_zone(serial: u32) -> String {
    let mut text = format!(
        "$ORIGIN rpz.test.\n$TTL 60\n@ SOA ns.rpz.test. hostmaster.rpz.test. {serial} 3600 600 86400 60\n\
         @ NS ns.rpz.test.\nns A 127.0.0.1\nblocked.example CNAME .\n"
    );
    for index in 1..serial {
        text.push_str(&format!("n{index}.example CNAME .\n"));
    }
    text
}

/// Starts Hanse in `directory` on `dns` with its API on `api` and `policy`.
fn start(directory: &Path, dns: SocketAddr, api: SocketAddr, policy: &str) -> HanseProcess {
    std::fs::write(
        directory.join("named.root"),
        ". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.81.0.250\n",
    )
    .unwrap();
    HanseProcess::start_at(directory, dns, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nmax_resolution_time = \"2s\"\n[api]\nlisten = \"{api}\"\n{policy}"
        )
    })
}

fn key_section(secret: &str) -> String {
    format!(
        "[[policy.tsig_key]]\nname = \"{KEY_NAME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n"
    )
}

/// The primary's policy: an RPZ file served as `rpz.test.` and a hosts
/// list served as `ads.rpz.hanse.`, both to `secondary`.
fn primary_policy(directory: &Path, secondary: SocketAddr, journal: usize) -> String {
    format!(
        "[policy]\nstate_directory = \"{state}\"\n{keys}\
         [[policy.feed]]\nname = \"malware\"\nformat = \"rpz\"\nfile = \"malware.rpz\"\n\
         [[policy.feed]]\nname = \"ads\"\nformat = \"hosts\"\nfile = \"ads.hosts\"\n\
         [[policy.serve]]\nfeed = \"malware\"\nzone = \"rpz.test.\"\nnotify = [\"{secondary}\"]\n\
         allow_transfer = [\"127.0.0.0/8\"]\ntsig_key = \"{KEY_NAME}\"\njournal = {journal}\n\
         [[policy.serve]]\nfeed = \"ads\"\nnotify = [\"{secondary}\"]\n\
         allow_transfer = [\"127.0.0.0/8\"]\ntsig_key = \"{KEY_NAME}\"\njournal = {journal}\n",
        state = directory.join("state").display(),
        keys = key_section(SECRET),
    )
}

/// The secondary's policy: both zones followed from `primary`.
fn secondary_policy(directory: &Path, primary: SocketAddr, secret: &str) -> String {
    format!(
        "[policy]\nstate_directory = \"{state}\"\n{keys}\
         [[policy.feed]]\nname = \"malware\"\nformat = \"rpz\"\nzone = \"rpz.test.\"\n\
         primaries = [\"{primary}\"]\ntsig_key = \"{KEY_NAME}\"\n\
         [[policy.feed]]\nname = \"ads\"\nformat = \"rpz\"\nzone = \"ads.rpz.hanse.\"\n\
         primaries = [\"{primary}\"]\ntsig_key = \"{KEY_NAME}\"\n",
        state = directory.join("state").display(),
        keys = key_section(secret),
    )
}

fn rcode(address: SocketAddr, name: &str) -> Rcode {
    query(
        address,
        &Name::from_ascii(name).unwrap(),
        RType::A,
        Transport::Udp,
        Duration::from_secs(3),
    )
    .expect("an answer")
    .rcode()
}

/// Waits up to `limit` until `name` gets `expected` from `node`.
fn wait_for(node: &HanseProcess, name: &str, expected: Rcode, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        let got = rcode(node.dns, name);
        if got == expected {
            return;
        }
        last = Some(got);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{name}: {last:?} instead of {expected} after {limit:?}; log:\n{}",
        node.log()
    );
}

/// `kdig` with `arguments`; its standard output and error together.
fn kdig(arguments: &[String]) -> String {
    let output = Command::new("kdig")
        .args(arguments)
        .output()
        .expect("kdig runs (package knot-dnsutils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn kdig_transfer(server: SocketAddr, kind: &str, zone: &str, secret: Option<&str>) -> String {
    let mut arguments = vec![
        format!("@{}", server.ip()),
        "-p".to_owned(),
        server.port().to_string(),
        "+tcp".to_owned(),
        "+time=3".to_owned(),
        "+retry=0".to_owned(),
        kind.to_owned(),
        zone.to_owned(),
    ];
    if let Some(secret) = secret {
        arguments.push("-y".to_owned());
        arguments.push(format!(
            "hmac-sha256:{}:{secret}",
            KEY_NAME.trim_end_matches('.')
        ));
    }
    kdig(&arguments)
}

/// The body of `GET path` from the API at `api`.
fn http_get(api: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&api, Duration::from_secs(2)) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// The value of the metric sample that starts with `prefix` (name and
/// labels), 0 if absent.
fn metric(api: SocketAddr, prefix: &str) -> f64 {
    http_get(api, "/metrics")
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the metric reaches `minimum`; panics with `log` otherwise.
fn wait_for_metric(api: SocketAddr, prefix: &str, minimum: f64, log: impl Fn() -> String) {
    let deadline = Instant::now() + PROPAGATION;
    while Instant::now() < deadline {
        if metric(api, prefix) >= minimum {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{prefix} did not reach {minimum}: {}\nlog:\n{}",
        metric(api, prefix),
        log()
    );
}

#[test]
fn issue_8_primary_serves_feeds_by_axfr_and_ixfr_to_kdig_and_a_hanse_secondary() {
    let scratch = Scratch::new("primary-serves");
    let primary_directory = scratch.0.join("primary");
    let secondary_directory = scratch.0.join("secondary");
    std::fs::create_dir_all(&primary_directory).unwrap();
    std::fs::create_dir_all(&secondary_directory).unwrap();
    let primary_dns = address("127.81.1.1");
    let primary_api = address("127.81.1.1");
    let secondary_dns = address("127.81.1.2");
    let secondary_api = address("127.81.1.2");
    std::fs::write(primary_directory.join("malware.rpz"), policy_zone(1)).unwrap();
    std::fs::write(primary_directory.join("ads.hosts"), "0.0.0.0 ads.example\n").unwrap();
    let primary = start(
        &primary_directory,
        primary_dns,
        primary_api,
        &primary_policy(&primary_directory, secondary_dns, 10),
    );

    // kdig: AXFR of both zones with the key; the records and serials.
    let axfr = kdig_transfer(primary_dns, "AXFR", "rpz.test.", Some(SECRET));
    assert!(
        axfr.contains("blocked.example.rpz.test.") && axfr.contains("CNAME\t."),
        "{axfr}"
    );
    assert!(axfr.contains("hostmaster.rpz.test. 1 3600"), "{axfr}");
    assert!(
        axfr.contains("rpz.test.           \t60\tIN\tNS\tns.rpz.test."),
        "{axfr}"
    );
    assert!(!axfr.contains(";; ERROR"), "{axfr}");
    let ads = kdig_transfer(primary_dns, "AXFR", "ads.rpz.hanse.", Some(SECRET));
    assert!(
        ads.contains("ads.example.ads.rpz.hanse.") && ads.contains("CNAME\t."),
        "{ads}"
    );
    // Without the key, and with a wrong one: refused.
    let unsigned = kdig_transfer(primary_dns, "AXFR", "rpz.test.", None);
    assert!(unsigned.contains("REFUSED"), "{unsigned}");
    let wrong = kdig_transfer(primary_dns, "AXFR", "rpz.test.", Some(WRONG_SECRET));
    assert!(
        wrong.contains("NOTAUTH") || wrong.contains("BADSIG"),
        "{wrong}"
    );
    assert!(!wrong.contains("blocked.example"), "{wrong}");

    // The secondary follows both zones.
    let secondary = start(
        &secondary_directory,
        secondary_dns,
        secondary_api,
        &secondary_policy(&secondary_directory, primary_dns, SECRET),
    );
    wait_for(&secondary, "blocked.example.", Rcode::NXDOMAIN, PROPAGATION);
    wait_for(&secondary, "ads.example.", Rcode::NXDOMAIN, PROPAGATION);
    assert_ne!(rcode(secondary.dns, "n1.example."), Rcode::NXDOMAIN);

    // A change of the RPZ file: SIGHUP, NOTIFY, IXFR.
    std::fs::write(primary_directory.join("malware.rpz"), policy_zone(2)).unwrap();
    primary.signal("HUP");
    wait_for(&secondary, "n1.example.", Rcode::NXDOMAIN, PROPAGATION);
    let primary_log = || primary.log();
    wait_for_metric(
        primary_api,
        "hanse_served_transfers_total{zone=\"rpz.test.\",kind=\"ixfr\"}",
        1.0,
        primary_log,
    );
    wait_for_metric(
        secondary_api,
        "hanse_feed_updates_total{feed=\"malware\",kind=\"incremental\"}",
        1.0,
        || secondary.log(),
    );
    // A change of the hosts list: a new serial of its own, and IXFR too.
    std::fs::write(
        primary_directory.join("ads.hosts"),
        "0.0.0.0 ads.example\n0.0.0.0 more-ads.example\n",
    )
    .unwrap();
    primary.signal("HUP");
    wait_for(
        &secondary,
        "more-ads.example.",
        Rcode::NXDOMAIN,
        PROPAGATION,
    );
    wait_for_metric(
        secondary_api,
        "hanse_feed_updates_total{feed=\"ads\",kind=\"incremental\"}",
        1.0,
        || secondary.log(),
    );
    assert_eq!(
        metric(
            primary_api,
            "hanse_served_notify_total{zone=\"rpz.test.\",outcome=\"unanswered\"}"
        ),
        0.0
    );
    assert_eq!(
        metric(primary_api, "hanse_served_zone_serial{zone=\"rpz.test.\""),
        2.0
    );

    // kdig IXFR from serial 1: the incremental answer.
    let ixfr = kdig_transfer(primary_dns, "IXFR=1", "rpz.test.", Some(SECRET));
    assert!(ixfr.contains("n1.example.rpz.test."), "{ixfr}");
    assert!(!ixfr.contains("blocked.example"), "not incremental: {ixfr}");
    // From the current serial: the single SOA.
    let current = kdig_transfer(primary_dns, "IXFR=2", "rpz.test.", Some(SECRET));
    assert!(
        current.contains("hostmaster.rpz.test. 2 3600") && !current.contains("n1.example"),
        "{current}"
    );
}

#[test]
fn issue_8_a_secondary_that_was_down_catches_up_by_axfr_when_the_journal_no_longer_reaches() {
    let scratch = Scratch::new("primary-journal");
    let primary_directory = scratch.0.join("primary");
    let secondary_directory = scratch.0.join("secondary");
    std::fs::create_dir_all(&primary_directory).unwrap();
    std::fs::create_dir_all(&secondary_directory).unwrap();
    let primary_dns = address("127.81.2.1");
    let primary_api = address("127.81.2.1");
    let secondary_dns = address("127.81.2.2");
    let secondary_api = address("127.81.2.2");
    std::fs::write(primary_directory.join("malware.rpz"), policy_zone(1)).unwrap();
    std::fs::write(primary_directory.join("ads.hosts"), "0.0.0.0 ads.example\n").unwrap();
    let primary = start(
        &primary_directory,
        primary_dns,
        primary_api,
        &primary_policy(&primary_directory, secondary_dns, 1),
    );
    let secondary_config = secondary_policy(&secondary_directory, primary_dns, SECRET);
    let secondary = start(
        &secondary_directory,
        secondary_dns,
        secondary_api,
        &secondary_config,
    );
    wait_for(&secondary, "blocked.example.", Rcode::NXDOMAIN, PROPAGATION);

    // The secondary goes down; the policy changes twice.
    drop(secondary);
    for serial in [2, 3] {
        std::fs::write(primary_directory.join("malware.rpz"), policy_zone(serial)).unwrap();
        primary.signal("HUP");
        wait_for_metric(
            primary_api,
            "hanse_served_zone_serial{zone=\"rpz.test.\"",
            f64::from(serial),
            || primary.log(),
        );
    }
    // A journal of one reaches back to serial 2 only: from serial 1 the
    // whole zone comes in AXFR form.
    let secondary = start(
        &secondary_directory,
        secondary_dns,
        secondary_api,
        &secondary_config,
    );
    wait_for(&secondary, "n2.example.", Rcode::NXDOMAIN, PROPAGATION);
    wait_for_metric(
        primary_api,
        "hanse_served_transfers_total{zone=\"rpz.test.\",kind=\"ixfr_full\"}",
        1.0,
        || primary.log(),
    );
    let ixfr = kdig_transfer(primary_dns, "IXFR=1", "rpz.test.", Some(SECRET));
    assert!(
        ixfr.contains("blocked.example.rpz.test."),
        "not the whole zone: {ixfr}"
    );
    let ixfr = kdig_transfer(primary_dns, "IXFR=2", "rpz.test.", Some(SECRET));
    assert!(
        ixfr.contains("n2.example.rpz.test.") && !ixfr.contains("blocked.example"),
        "not incremental: {ixfr}"
    );
}

#[test]
fn issue_8_a_secondary_with_a_wrong_tsig_key_is_refused_and_reports_it() {
    let scratch = Scratch::new("primary-wrong-key");
    let primary_directory = scratch.0.join("primary");
    let secondary_directory = scratch.0.join("secondary");
    std::fs::create_dir_all(&primary_directory).unwrap();
    std::fs::create_dir_all(&secondary_directory).unwrap();
    let primary_dns = address("127.81.3.1");
    let primary_api = address("127.81.3.1");
    let secondary_dns = address("127.81.3.2");
    let secondary_api = address("127.81.3.2");
    std::fs::write(primary_directory.join("malware.rpz"), policy_zone(1)).unwrap();
    std::fs::write(primary_directory.join("ads.hosts"), "0.0.0.0 ads.example\n").unwrap();
    let primary = start(
        &primary_directory,
        primary_dns,
        primary_api,
        &primary_policy(&primary_directory, secondary_dns, 10),
    );
    let secondary = start(
        &secondary_directory,
        secondary_dns,
        secondary_api,
        &secondary_policy(&secondary_directory, primary_dns, WRONG_SECRET),
    );
    wait_for_metric(
        primary_api,
        "hanse_served_transfers_refused_total{zone=\"rpz.test.\",reason=\"bad_signature\"}",
        1.0,
        || primary.log(),
    );
    // Nothing was loaded, and both sides say why.
    assert_ne!(rcode(secondary.dns, "blocked.example."), Rcode::NXDOMAIN);
    let deadline = Instant::now() + PROPAGATION;
    while !secondary.log().contains("TSIG") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = secondary.log();
    assert!(
        log.contains("feed malware") && log.contains("TSIG") && log.contains("stale"),
        "the refused transfer is not reported; log:\n{log}"
    );
    let log = primary.log();
    assert!(
        log.contains("transfer of zone rpz.test. refused") && log.contains("bad_signature"),
        "the primary does not report the refusal; log:\n{log}"
    );
}

/// A Knot DNS secondary (`knotd`) of `zone` from `primary` with the fleet
/// key, on `address`; stopped by PID on drop.
struct KnotSecondary {
    child: std::process::Child,
    address: SocketAddr,
    directory: std::path::PathBuf,
}

impl Drop for KnotSecondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl KnotSecondary {
    fn start(
        directory: &Path,
        address: SocketAddr,
        zone: &str,
        primary: SocketAddr,
    ) -> KnotSecondary {
        std::fs::create_dir_all(directory).unwrap();
        let dir = directory.display();
        let config = format!(
            "server:\n    rundir: \"{dir}\"\n    listen: {ip}@{port}\n    background-workers: 1\n    \
             udp-workers: 1\n    tcp-workers: 1\n\
             database:\n    storage: \"{dir}\"\n\
             key:\n  - id: {KEY_NAME}\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: primary\n    address: {pip}@{pport}\n    key: {KEY_NAME}\n    via: {ip}\n\
             acl:\n  - id: notify\n    address: 127.0.0.0/8\n    action: notify\n    key: {KEY_NAME}\n\
             template:\n  - id: default\n    storage: \"{dir}\"\n    zonefile-sync: -1\n    \
             journal-content: changes\n\
             zone:\n  - domain: {zone}\n    master: primary\n    acl: notify\n\
             control:\n    listen: \"{dir}/knot.sock\"\n\
             log:\n  - target: stderr\n    any: info\n",
            ip = address.ip(),
            port = address.port(),
            pip = primary.ip(),
            pport = primary.port(),
        );
        std::fs::write(directory.join("knot.conf"), config).unwrap();
        let log = std::fs::File::create(directory.join("knot.log")).unwrap();
        let child = Command::new("/usr/sbin/knotd")
            .arg("-c")
            .arg(directory.join("knot.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("knotd runs (Debian package knot)");
        KnotSecondary {
            child,
            address,
            directory: directory.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("knot.log")).unwrap_or_default()
    }

    /// The serial Knot serves for `zone`, if it serves it yet.
    fn serial(&self, zone: &str) -> Option<u32> {
        let answer = query(
            self.address,
            &Name::from_ascii(zone).unwrap(),
            RType::SOA,
            Transport::Udp,
            Duration::from_secs(1),
        )
        .ok()?;
        if answer.rcode() != Rcode::NOERROR {
            return None;
        }
        answer
            .answers
            .iter()
            .find(|record| record.rtype == RType::SOA)
            .and_then(|record| record.soa_serial())
    }

    /// Waits until Knot serves `serial` for `zone`.
    fn wait_for_serial(&self, zone: &str, serial: u32, primary: &HanseProcess) {
        let deadline = Instant::now() + PROPAGATION;
        while Instant::now() < deadline {
            if self.serial(zone) == Some(serial) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "Knot does not serve {zone} serial {serial} (has {:?}); Knot log:\n{}\nHanse log:\n{}",
            self.serial(zone),
            self.log(),
            primary.log()
        );
    }
}

#[test]
fn issue_8_knot_follows_a_hanse_primary_by_axfr_then_ixfr_on_notify() {
    let scratch = Scratch::new("primary-knot");
    let primary_directory = scratch.0.join("primary");
    std::fs::create_dir_all(&primary_directory).unwrap();
    let primary_dns = address("127.81.4.1");
    let primary_api = address("127.81.4.1");
    let knot_address = address("127.81.4.2");
    std::fs::write(primary_directory.join("malware.rpz"), policy_zone(1)).unwrap();
    std::fs::write(primary_directory.join("ads.hosts"), "0.0.0.0 ads.example\n").unwrap();
    let primary = start(
        &primary_directory,
        primary_dns,
        primary_api,
        &primary_policy(&primary_directory, knot_address, 10),
    );
    let knot = KnotSecondary::start(
        &scratch.0.join("knot"),
        knot_address,
        "rpz.test.",
        primary_dns,
    );
    knot.wait_for_serial("rpz.test.", 1, &primary);
    std::fs::write(primary_directory.join("malware.rpz"), policy_zone(2)).unwrap();
    primary.signal("HUP");
    knot.wait_for_serial("rpz.test.", 2, &primary);
    // Knot took the change by IXFR, signed; and it has the new rule.
    wait_for_metric(
        primary_api,
        "hanse_served_transfers_total{zone=\"rpz.test.\",kind=\"ixfr\"}",
        1.0,
        || format!("{}\nKnot:\n{}", primary.log(), knot.log()),
    );
    let rule = query(
        knot.address,
        &Name::from_ascii("n1.example.rpz.test.").unwrap(),
        RType::CNAME,
        Transport::Udp,
        Duration::from_secs(2),
    )
    .expect("Knot answers");
    assert_eq!(rule.answers.len(), 1, "{rule:?}\nKnot:\n{}", knot.log());
}
