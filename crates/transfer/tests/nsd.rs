//! Zone transfers from a real primary: NSD (Debian package `nsd`), started
//! by each test on a free port of a 127.0.0.0/8 address with a generated
//! configuration, and stopped by PID when the test ends.
//!
//! These tests fail (they do not skip) when NSD cannot be run.

use hanse_transfer::{Transfer, TransferError, TsigAlgorithm, TsigError, TsigKey, transfer};
use hanse_wire::{Name, RType, Rcode, Record};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "aGFuc2UtdHJhbnNmZXItdGVzdC1zZWNyZXQtMjAyNg==";
const OTHER_SECRET: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==";
const TIMEOUT: Duration = Duration::from_secs(20);

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A running NSD, stopped (SIGTERM, then SIGKILL) and cleaned up on drop.
struct Nsd {
    child: Child,
    directory: PathBuf,
    address: SocketAddr,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        // SIGTERM lets NSD stop its own server and xfrd processes.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.directory);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn nsd_binary() -> PathBuf {
    for candidate in ["nsd", "/usr/sbin/nsd"] {
        if Command::new(candidate)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "NSD is required for these tests but `nsd` was found neither on PATH nor \
         in /usr/sbin: install the Debian package `nsd`"
    );
}

/// A free TCP and UDP port on `address`.
fn free_port(address: Ipv4Addr) -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind((address, 0)).expect("bind a TCP port on 127.0.0.0/8");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((address, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {address}");
}

fn zone_text(origin: &str, serial: u32, body: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 300\n\
         @ IN SOA ns.{origin} hostmaster.{origin} {serial} 3600 600 86400 60\n\
         @ IN NS ns.{origin}\n\
         ns IN A 127.0.0.1\n{body}"
    )
}

const RPZ_BODY: &str = "\
bad.example.com CNAME .
*.bad.example.com CNAME .
nodata.example.com CNAME *.
ok.example.com CNAME rpz-passthru.
walled.example.net A 10.0.0.1
32.1.0.0.10.rpz-ip CNAME .
";

impl Nsd {
    /// Starts NSD serving `rpz.example.` (transfer only with the TSIG key,
    /// IXFR kept) and `open.example.` (transfer without key).
    fn start(rpz_zone: &str) -> Nsd {
        let binary = nsd_binary();
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let address = Ipv4Addr::new(
            127,
            53,
            (std::process::id() % 200) as u8 + 1,
            instance as u8 + 1,
        );
        let port = free_port(address);
        let directory = std::env::temp_dir().join(format!(
            "hanse-transfer-nsd-{}-{instance}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let dir = directory.display();
        std::fs::write(directory.join("rpz.example.zone"), rpz_zone).unwrap();
        std::fs::write(
            directory.join("open.example.zone"),
            zone_text("open.example.", 7, RPZ_BODY),
        )
        .unwrap();
        let config = format!(
            "server:\n\
             \tip-address: {address}\n\
             \tport: {port}\n\
             \tdo-ip6: no\n\
             \tserver-count: 1\n\
             \tzonesdir: \"{dir}\"\n\
             \txfrdir: \"{dir}\"\n\
             \tpidfile: \"{dir}/nsd.pid\"\n\
             \txfrdfile: \"{dir}/xfrd.state\"\n\
             \tzonelistfile: \"{dir}/zone.list\"\n\
             \tdatabase: \"\"\n\
             \tlogfile: \"{dir}/nsd.log\"\n\
             \tusername: \"\"\n\
             \tchroot: \"\"\n\
             \tverbosity: 2\n\
             remote-control:\n\
             \tcontrol-enable: no\n\
             key:\n\
             \tname: \"transfer-key.\"\n\
             \talgorithm: hmac-sha256\n\
             \tsecret: \"{SECRET}\"\n\
             zone:\n\
             \tname: \"rpz.example.\"\n\
             \tzonefile: \"{dir}/rpz.example.zone\"\n\
             \tprovide-xfr: 127.0.0.0/8 transfer-key.\n\
             \tstore-ixfr: yes\n\
             \tcreate-ixfr: yes\n\
             zone:\n\
             \tname: \"open.example.\"\n\
             \tzonefile: \"{dir}/open.example.zone\"\n\
             \tprovide-xfr: 127.0.0.0/8 NOKEY\n"
        );
        let config_path = directory.join("nsd.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(&binary)
            .arg("-d")
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start NSD ({}): {error}", binary.display()));
        Nsd {
            child,
            directory,
            address: SocketAddr::from((address, port)),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("nsd.log")).unwrap_or_default()
    }

    /// Waits until NSD serves `open.example.` by AXFR.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let result = transfer(self.address, &name("open.example."), None, None, TIMEOUT).await;
            if result.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("NSD exited with {status}; log:\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!("NSD did not answer: {result:?}; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Rewrites the `rpz.example.` zone file and makes NSD reload it.
    fn reload(&self, rpz_zone: &str) {
        std::fs::write(self.directory.join("rpz.example.zone"), rpz_zone).unwrap();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn key(secret: &str) -> TsigKey {
    TsigKey::from_base64(name("transfer-key."), TsigAlgorithm::HmacSha256, secret).unwrap()
}

fn soa_serial(transfer: &Transfer) -> Option<u32> {
    match transfer {
        Transfer::Full { soa, .. } | Transfer::Incremental { soa, .. } => soa.soa_serial(),
        Transfer::UpToDate => None,
    }
}

fn has(records: &[Record], owner: &str, rtype: RType) -> bool {
    records
        .iter()
        .any(|record| record.name == name(owner) && record.rtype == rtype)
}

#[tokio::test]
async fn axfr_without_tsig() {
    let mut nsd = Nsd::start(&zone_text("rpz.example.", 1, RPZ_BODY));
    nsd.wait_ready().await;
    let result = transfer(nsd.address, &name("open.example."), None, None, TIMEOUT)
        .await
        .unwrap();
    let Transfer::Full { soa, records } = result else {
        panic!("expected a full zone, got {result:?}");
    };
    assert_eq!(soa.soa_serial(), Some(7));
    assert_eq!(records.len(), 8, "{records:?}");
    assert!(has(
        &records,
        "*.bad.example.com.open.example.",
        RType::CNAME
    ));
    assert!(has(&records, "walled.example.net.open.example.", RType::A));
    assert!(!records.iter().any(|record| record.rtype == RType::SOA));

    // The same records as the zone file, read by hanse-zone.
    let origin = name("open.example.");
    let mut expected =
        hanse_zone::parse_zone(&zone_text("open.example.", 7, RPZ_BODY), &origin, 300).unwrap();
    expected.retain(|record| record.rtype != RType::SOA);
    let mut received = records;
    expected.sort_by(|left, right| (&left.name, left.rtype).cmp(&(&right.name, right.rtype)));
    received.sort_by(|left, right| (&left.name, left.rtype).cmp(&(&right.name, right.rtype)));
    assert_eq!(received, expected);
}

#[tokio::test]
async fn axfr_with_tsig_over_many_messages() {
    // Large enough for NSD to send many messages, not all of them signed.
    let mut body = String::from(RPZ_BODY);
    for index in 0..30_000 {
        writeln!(body, "host-{index}.blocked.example.org CNAME .").unwrap();
    }
    let mut nsd = Nsd::start(&zone_text("rpz.example.", 1, &body));
    nsd.wait_ready().await;
    let result = transfer(
        nsd.address,
        &name("rpz.example."),
        None,
        Some(&key(SECRET)),
        TIMEOUT,
    )
    .await
    .unwrap();
    let Transfer::Full { soa, records } = result else {
        panic!("expected a full zone, got {result:?}");
    };
    assert_eq!(soa.soa_serial(), Some(1));
    assert_eq!(records.len(), 30_008);
    assert!(has(
        &records,
        "host-29999.blocked.example.org.rpz.example.",
        RType::CNAME
    ));
}

#[tokio::test]
async fn transfer_refused_without_key_or_with_a_wrong_one() {
    let mut nsd = Nsd::start(&zone_text("rpz.example.", 1, RPZ_BODY));
    nsd.wait_ready().await;
    let zone = name("rpz.example.");

    let unsigned = transfer(nsd.address, &zone, None, None, TIMEOUT).await;
    assert!(
        matches!(unsigned, Err(TransferError::Rcode(rcode)) if rcode == Rcode::REFUSED || rcode == Rcode(9)),
        "{unsigned:?}"
    );

    let wrong_secret = transfer(nsd.address, &zone, None, Some(&key(OTHER_SECRET)), TIMEOUT).await;
    assert!(
        matches!(
            wrong_secret,
            Err(TransferError::Tsig(TsigError::Refused(16)))
        ),
        "{wrong_secret:?}"
    );

    let other_name =
        TsigKey::from_base64(name("other-key."), TsigAlgorithm::HmacSha256, SECRET).unwrap();
    let unknown_key = transfer(nsd.address, &zone, None, Some(&other_name), TIMEOUT).await;
    assert!(
        matches!(
            unknown_key,
            Err(TransferError::Tsig(TsigError::Refused(17)))
        ),
        "{unknown_key:?}"
    );
}

#[tokio::test]
async fn ixfr_up_to_date_incremental_and_full_fallback() {
    let mut nsd = Nsd::start(&zone_text("rpz.example.", 1, RPZ_BODY));
    nsd.wait_ready().await;
    let zone = name("rpz.example.");
    let key = key(SECRET);

    let current = transfer(nsd.address, &zone, Some(1), Some(&key), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(current, Transfer::UpToDate);

    // Serial 2: one rule removed, one added.
    let body =
        RPZ_BODY.replace("ok.example.com CNAME rpz-passthru.\n", "") + "new.example.com CNAME .\n";
    nsd.reload(&zone_text("rpz.example.", 2, &body));
    let deadline = Instant::now() + Duration::from_secs(15);
    let result = loop {
        let result = transfer(nsd.address, &zone, Some(1), Some(&key), TIMEOUT)
            .await
            .unwrap();
        if result != Transfer::UpToDate {
            break result;
        }
        assert!(
            Instant::now() < deadline,
            "NSD did not reload; log:\n{}",
            nsd.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(soa_serial(&result), Some(2));
    let Transfer::Incremental { changes, .. } = result else {
        panic!(
            "expected an incremental transfer, got {result:?}; log:\n{}",
            nsd.log()
        );
    };
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].from_serial, changes[0].to_serial), (1, 2));
    assert_eq!(changes[0].removed.len(), 1, "{changes:?}");
    assert!(has(
        &changes[0].removed,
        "ok.example.com.rpz.example.",
        RType::CNAME
    ));
    assert_eq!(changes[0].added.len(), 1, "{changes:?}");
    assert!(has(
        &changes[0].added,
        "new.example.com.rpz.example.",
        RType::CNAME
    ));

    // A serial the primary has no history for: the whole zone.
    let fallback = transfer(nsd.address, &zone, Some(0), Some(&key), TIMEOUT)
        .await
        .unwrap();
    let Transfer::Full { soa, records } = fallback else {
        panic!("expected a full zone, got {fallback:?}");
    };
    assert_eq!(soa.soa_serial(), Some(2));
    assert!(has(&records, "new.example.com.rpz.example.", RType::CNAME));
    assert!(!has(&records, "ok.example.com.rpz.example.", RType::CNAME));
}
