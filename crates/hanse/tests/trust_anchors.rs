//! End-to-end tests of trust points that change while `hanse serve` runs
//! (issue 5): negative trust anchors through `hanse nta` and the API
//! (RFC 7646), and RFC 5011 automated updates of a trust anchor with the
//! state on disk.
//!
//! Zones are signed at test time with ldns-keygen and ldns-signzone
//! (Debian ldnsutils; a missing tool fails the test), ECDSA P-256
//! (algorithm 13), and served by in-process authoritative servers.
//!
//! Addresses (port 53): the negative-anchor test uses 127.91.0.1 (root),
//! 127.91.0.2 (`secure.`) and 127.91.0.3 (`bogus-key.`, whose DS in the
//! root matches none of its keys); the rollover test uses 127.91.0.11
//! (root) and 127.91.0.12 (`secure.`). Hanse listens on free ports of
//! 127.0.0.1 (DNS and API). Every wait polls with a deadline.

mod support;

use hanse_testnet::client::{DnssecFlags, query_dnssec};
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Message, Name, RType, Rcode};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, ds_of, free_tcp_port, keygen, run_ldns};

const DO: DnssecFlags = DnssecFlags {
    dnssec_ok: true,
    authentic_data: false,
    checking_disabled: false,
};

/// The public key (base64) of a key made by [`keygen`].
fn public_key_of(directory: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(directory.join(format!("{key}.key"))).expect("key file");
    let data = text.split(';').next().unwrap_or_default();
    data.split_whitespace().last().expect("a key").to_owned()
}

/// Signs `text` for `origin` with `keys`; returns the signed zone.
fn sign(directory: &Path, origin: &str, text: &str, keys: &[&str]) -> Zone {
    let file = format!("{origin}zone");
    std::fs::write(directory.join(&file), text).unwrap();
    let signed = format!("{file}.signed");
    let mut arguments: Vec<&str> = vec!["-o", origin, "-f", &signed, &file];
    arguments.extend(keys);
    run_ldns(directory, "ldns-signzone", &arguments);
    let signed = std::fs::read_to_string(directory.join(&signed)).unwrap();
    Zone::parse(origin, &signed)
        .unwrap_or_else(|error| panic!("zone {origin} does not load: {error}\n{signed}"))
}

fn child_text(origin: &str, address: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\n\
         ns A {address}\nwww A 192.0.2.1\nmail A 192.0.2.2\nftp A 192.0.2.3\n"
    )
}

/// A signed child zone and the DS the root should hold for it (`wrong_ds`:
/// the DS of a key the zone does not publish).
fn signed_child(directory: &Path, origin: &str, address: &str, wrong_ds: bool) -> (Zone, String) {
    let ksk = keygen(directory, origin, true);
    let zsk = keygen(directory, origin, false);
    let zone = sign(
        directory,
        origin,
        &child_text(origin, address),
        &[&ksk, &zsk],
    );
    let ds = if wrong_ds {
        ds_of(directory, &keygen(directory, origin, true))
    } else {
        ds_of(directory, &ksk)
    };
    (zone, ds)
}

fn server(address: &str, zone: Zone) -> ServerSpec {
    ServerSpec::new(format!("{address}:53").parse().unwrap(), vec![zone])
}

/// Starts servers, retrying a little while an address is still being let go.
fn start_net(specs: impl Fn() -> Vec<ServerSpec>) -> TestNet {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TestNet::start(specs()) {
            Ok(net) => return net,
            Err(error) if Instant::now() < deadline => {
                eprintln!("retrying the test servers: {error}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("test servers do not start: {error}"),
        }
    }
}

fn ask(dns: SocketAddr, name: &str, log: &dyn Fn() -> String) -> Message {
    let name = Name::from_ascii(name).unwrap();
    query_dnssec(
        dns,
        &name,
        RType::A,
        DO,
        Transport::Udp,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|error| panic!("no answer for {name}: {error}; log:\n{}", log()))
}

fn describe(message: &Message) -> String {
    format!(
        "rcode {:?}, AD {}, answers {:?}",
        message.rcode(),
        message.header.authentic_data,
        message.answers
    )
}

/// Polls `condition` every 100 ms for at most `limit`.
fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts hanse with `extra` in `[dnssec]`, its state in `state/` and, with
/// `api`, the API (open on loopback) on that address.
fn start_hanse(directory: &Path, api: Option<SocketAddr>, extra: &str) -> HanseProcess {
    let api_section = match api {
        Some(api) => format!("[api]\nlisten = \"{api}\"\n"),
        None => "[api]\nenabled = false\n".to_owned(),
    };
    let process = HanseProcess::start(directory, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [resolver.limits]\nmax_resolution_time = \"4s\"\n\
             {api_section}\
             [policy]\nstate_directory = \"state\"\n\
             [dnssec]\nvalidation = true\ntrust_anchor_file = \"root.anchor\"\n{extra}"
        )
    });
    if let Some(api) = api {
        let listening = wait_for(Duration::from_secs(10), || TcpStream::connect(api).is_ok());
        assert!(listening, "the API did not listen; log:\n{}", process.log());
    }
    process
}

/// `hanse ARGUMENTS --api API`: success, stdout, stderr.
fn cli(api: SocketAddr, arguments: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hanse"))
        .args(arguments)
        .args([
            "--api",
            &api.to_string(),
            "--token-file",
            "/nonexistent/api-token",
        ])
        .output()
        .expect("hanse runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn negative_trust_anchors_through_the_command_line() {
    let zones = Scratch::new("nta-zones");
    let directory = &zones.0;
    let (secure, secure_ds) = signed_child(directory, "secure.", "127.91.0.2", false);
    let (bogus, bogus_ds) = signed_child(directory, "bogus-key.", "127.91.0.3", true);
    let root_ksk = keygen(directory, ".", true);
    let root_zsk = keygen(directory, ".", false);
    let root_text = format!(
        "$ORIGIN .\n$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A 127.91.0.1\nsecure. NS ns.secure.\nns.secure. A 127.91.0.2\n{secure_ds}\n\
         bogus-key. NS ns.bogus-key.\nns.bogus-key. A 127.91.0.3\n{bogus_ds}\n"
    );
    let root = sign(directory, ".", &root_text, &[&root_ksk, &root_zsk]);
    let net = start_net(|| {
        vec![
            server("127.91.0.1", root.clone()),
            server("127.91.0.2", secure.clone()),
            server("127.91.0.3", bogus.clone()),
        ]
    });
    let scratch = Scratch::new("nta-hanse");
    std::fs::write(
        scratch.0.join("named.root"),
        net.root_hints(&["127.91.0.1"]),
    )
    .unwrap();
    std::fs::write(scratch.0.join("root.anchor"), ds_of(directory, &root_ksk)).unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let hanse = start_hanse(&scratch.0, Some(api), "");
    let log = || hanse.log();

    let answer = ask(hanse.dns, "www.bogus-key.", &log);
    assert_eq!(answer.rcode(), Rcode::SERVFAIL, "{}", describe(&answer));
    let answer = ask(hanse.dns, "www.secure.", &log);
    assert!(answer.header.authentic_data, "{}", describe(&answer));

    // Added: at once, although the SERVFAIL above was cached.
    let (ok, out, err) = cli(api, &["nta", "add", "bogus-key.", "--for", "1h"]);
    assert!(ok, "nta add: {err}");
    assert!(
        out.contains("\"bogus-key.\"") && out.contains("\"api\""),
        "{out}"
    );
    let answer = ask(hanse.dns, "www.bogus-key.", &log);
    assert_eq!(answer.rcode(), Rcode::NOERROR, "{}", describe(&answer));
    assert!(!answer.header.authentic_data, "{}", describe(&answer));
    let answer = ask(hanse.dns, "mail.secure.", &log);
    assert!(
        answer.header.authentic_data,
        "only below the anchor: {}",
        describe(&answer)
    );
    let (ok, out, err) = cli(api, &["nta", "list"]);
    assert!(
        ok && out.contains("bogus-key.") && out.contains("expires_in"),
        "{out}{err}"
    );
    let saved = std::fs::read_to_string(scratch.0.join("state/negative-trust-anchors"))
        .expect("the anchors are saved");
    assert!(saved.contains("bogus-key. "), "{saved}");

    // Refused: a bad name, a lifetime past 7 days.
    let (ok, _, err) = cli(api, &["nta", "add", "a..b"]);
    assert!(!ok && err.contains("name"), "{err}");
    let (ok, _, err) = cli(api, &["nta", "add", "x.", "--for", "8d"]);
    assert!(!ok && err.contains("7 days"), "{err}");

    // Kept across a restart.
    drop(hanse);
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let hanse = start_hanse(&scratch.0, Some(api), "");
    let log = || hanse.log();
    let answer = ask(hanse.dns, "www.bogus-key.", &log);
    assert_eq!(
        answer.rcode(),
        Rcode::NOERROR,
        "after restart: {}",
        describe(&answer)
    );

    // Removed: bogus again at once.
    let (ok, out, err) = cli(api, &["nta", "remove", "bogus-key."]);
    assert!(ok && out.contains("removed"), "nta remove: {out}{err}");
    let answer = ask(hanse.dns, "www.bogus-key.", &log);
    assert_eq!(answer.rcode(), Rcode::SERVFAIL, "{}", describe(&answer));
    let (ok, _, err) = cli(api, &["nta", "remove", "bogus-key."]);
    assert!(!ok && err.contains("404"), "{err}");

    // Expires by itself.
    let (ok, _, err) = cli(api, &["nta", "add", "bogus-key.", "--for", "2s"]);
    assert!(ok, "{err}");
    let answer = ask(hanse.dns, "ftp.bogus-key.", &log);
    assert_eq!(answer.rcode(), Rcode::NOERROR, "{}", describe(&answer));
    let expired = wait_for(Duration::from_secs(10), || {
        ask(hanse.dns, "ftp.bogus-key.", &log).rcode() == Rcode::SERVFAIL
    });
    assert!(expired, "the anchor did not expire; log:\n{}", hanse.log());
    let (ok, out, _) = cli(api, &["nta", "list"]);
    assert!(ok && !out.contains("bogus-key."), "{out}");
}

/// The state of the key with public key `public_key` in the state file.
fn key_state(state_file: &Path, public_key: &str) -> Option<String> {
    let text = std::fs::read_to_string(state_file).ok()?;
    text.lines()
        .filter(|line| line.starts_with("key ") && line.ends_with(public_key))
        .find_map(|line| line.split_whitespace().nth(2).map(str::to_owned))
}

#[test]
fn rfc_5011_rollover_with_state_on_disk() {
    let zones = Scratch::new("rollover-zones");
    let directory = &zones.0;
    let (secure, secure_ds) = signed_child(directory, "secure.", "127.91.0.12", false);
    let k1 = keygen(directory, ".", true);
    let k2 = keygen(directory, ".", true);
    let zsk = keygen(directory, ".", false);
    let root_text = format!(
        "$ORIGIN .\n$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A 127.91.0.11\nsecure. NS ns.secure.\nns.secure. A 127.91.0.12\n{secure_ds}\n"
    );
    let (k1_key, k2_key) = (public_key_of(directory, &k1), public_key_of(directory, &k2));

    // Version 1: K1 alone; the anchor is K1's DS.
    let root = sign(directory, ".", &root_text, &[&k1, &zsk]);
    let child = start_net(|| vec![server("127.91.0.12", secure.clone())]);
    let mut root_net = Some(start_net(|| vec![server("127.91.0.11", root.clone())]));
    let scratch = Scratch::new("rollover-hanse");
    let hints = root_net.as_ref().unwrap().root_hints(&["127.91.0.11"]);
    std::fs::write(scratch.0.join("named.root"), hints).unwrap();
    std::fs::write(scratch.0.join("root.anchor"), ds_of(directory, &k1)).unwrap();
    let managed = "auto_update = true\nadd_hold_down = \"2s\"\nrefresh_interval = \"1s\"\n";
    let hanse = start_hanse(&scratch.0, None, managed);
    let log = || hanse.log();
    let state_file = scratch.0.join("state/trust-anchors.state");
    let answer = ask(hanse.dns, "www.secure.", &log);
    assert!(answer.header.authentic_data, "{}", describe(&answer));
    assert!(
        wait_for(Duration::from_secs(10), || key_state(&state_file, &k1_key)
            .as_deref()
            == Some("Valid")),
        "K1 is not Valid in the state file; log:\n{}",
        hanse.log()
    );

    // Version 2: K2 is published and signs too: AddPend, then Valid after
    // the hold-down.
    let root = sign(directory, ".", &root_text, &[&k1, &k2, &zsk]);
    drop(root_net.take());
    root_net = Some(start_net(|| vec![server("127.91.0.11", root.clone())]));
    let mut seen = Vec::new();
    let valid = wait_for(Duration::from_secs(15), || {
        let state = key_state(&state_file, &k2_key);
        if let Some(state) = &state
            && seen.last() != Some(state)
        {
            seen.push(state.clone());
        }
        state.as_deref() == Some("Valid")
    });
    assert!(valid, "K2 went through {seen:?}; log:\n{}", hanse.log());
    assert_eq!(
        seen.first().map(String::as_str),
        Some("AddPend"),
        "{seen:?}"
    );

    // Version 3: K1 revoked (REVOKE bit, signing the RRset itself), K2 signs.
    let k1_file = directory.join(format!("{k1}.key"));
    let text = std::fs::read_to_string(&k1_file).unwrap();
    std::fs::write(&k1_file, text.replace("\t257 3 13 ", "\t385 3 13 ")).unwrap();
    let root = sign(directory, ".", &root_text, &[&k1, &k2, &zsk]);
    assert!(
        root.records().iter().any(
            |record| record.rtype == RType::DNSKEY && record.data.starts_with(&[1, 129, 3, 13])
        ),
        "ldns-signzone did not publish the revoked key"
    );
    drop(root_net.take());
    root_net = Some(start_net(|| vec![server("127.91.0.11", root.clone())]));
    assert!(
        wait_for(Duration::from_secs(10), || key_state(&state_file, &k1_key)
            .as_deref()
            == Some("Revoked")),
        "K1 is not Revoked in the state file; log:\n{}",
        hanse.log()
    );
    let answer = ask(hanse.dns, "mail.secure.", &log);
    assert!(answer.header.authentic_data, "{}", describe(&answer));
    assert_eq!(key_state(&state_file, &k2_key).as_deref(), Some("Valid"));

    // A restart uses the state file: the configured anchor (K1's DS) alone
    // could no longer validate, since K1 is revoked.
    drop(hanse);
    let hanse = start_hanse(&scratch.0, None, managed);
    let log = || hanse.log();
    let answer = ask(hanse.dns, "ftp.secure.", &log);
    assert_eq!(answer.rcode(), Rcode::NOERROR, "{}", describe(&answer));
    assert!(answer.header.authentic_data, "{}", describe(&answer));
    assert!(
        hanse.log().contains("trust anchors from"),
        "{}",
        hanse.log()
    );

    // A corrupt state file: a warning and the configured anchor, no panic.
    drop(hanse);
    std::fs::write(&state_file, "zone . not-a-number 0\n").unwrap();
    let hanse = start_hanse(&scratch.0, None, "auto_update = true\n");
    let log = || hanse.log();
    let answer = ask(hanse.dns, "www.secure.", &log);
    assert_eq!(
        answer.rcode(),
        Rcode::SERVFAIL,
        "K1 alone is revoked: {}",
        describe(&answer)
    );
    assert!(hanse.log().contains("set aside"), "{}", hanse.log());
    assert!(scratch.0.join("state/trust-anchors.state.corrupt").exists());
    drop(hanse);
    drop(root_net);
    drop(child);
}
