//! A real primary for zone-transfer tests: Knot DNS (`knotd`, Debian
//! package `knot`), started on a 127.0.0.0/8 address with a generated
//! configuration, serving one zone by AXFR and IXFR (RFC 5936, RFC 1995)
//! from a journal of changes, optionally only to holders of a TSIG key
//! (RFC 8945), and sending NOTIFY (RFC 1996) to the given addresses on
//! every change, from its own address.
//!
//! [`KnotPrimary::update`] rewrites the zone file and asks Knot to reload
//! it (`knotc zone-reload`); Knot computes the difference to the previous
//! version, journals it for IXFR and notifies.
//!
//! # Limitations
//! - One zone per instance; the serial is the one in the zone text, so an
//!   update must raise it.
//! - Knot 3.2 sends NOTIFY over TCP first; a receiver must listen on TCP.
//! - A missing `knotd` is an error of [`KnotPrimary::start`], never a skip.

use crate::client::exchange;
use crate::server::Transport;
use hanse_wire::{Name, RType, compose_query};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the server and its control tool.
const KNOTD: &str = "/usr/sbin/knotd";
const KNOTC: &str = "/usr/sbin/knotc";

/// How long Knot may take to start serving or to apply a reload.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A TSIG key for the transfer ACL: its name and base64 secret
/// (hmac-sha256).
#[derive(Debug, Clone)]
pub struct KnotKey {
    /// The key name, a domain name such as `feed-key.`.
    pub name: String,
    /// The secret, base64.
    pub secret: String,
}

/// A running `knotd`, stopped by PID (SIGTERM, then SIGKILL) and its
/// directory removed on drop.
#[derive(Debug)]
pub struct KnotPrimary {
    child: Child,
    directory: PathBuf,
    address: SocketAddr,
    zone: String,
}

impl KnotPrimary {
    /// Starts Knot on `address` serving `zone` from `zone_text`, and waits
    /// until it answers. Transfers are allowed from 127.0.0.0/8, with `key`
    /// if given; NOTIFY goes to every address of `notify`.
    pub fn start(
        address: SocketAddr,
        zone: &str,
        zone_text: &str,
        key: Option<&KnotKey>,
        notify: &[SocketAddr],
    ) -> io::Result<KnotPrimary> {
        let directory = std::env::temp_dir().join(format!(
            "hanse-knot-{}-{}-{}",
            address.ip(),
            address.port(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory)?;
        std::fs::write(directory.join("zone"), zone_text)?;
        std::fs::write(
            directory.join("knot.conf"),
            configuration(&directory, address, zone, key, notify),
        )?;
        let log = std::fs::File::create(directory.join("knot.log"))?;
        let child = Command::new(KNOTD)
            .arg("-c")
            .arg(directory.join("knot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot run {KNOTD} (Debian package knot): {error}"),
                )
            })?;
        let primary = KnotPrimary {
            child,
            directory,
            address,
            zone: zone.to_owned(),
        };
        primary.wait_for_serial(None)?;
        Ok(primary)
    }

    /// The address Knot serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Knot's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("knot.log")).unwrap_or_default()
    }

    /// Replaces the zone with `zone_text` (whose SOA serial must be newer)
    /// and waits until Knot serves `serial`; Knot then sends NOTIFY.
    pub fn update(&self, zone_text: &str, serial: u32) -> io::Result<()> {
        std::fs::write(self.directory.join("zone"), zone_text)?;
        self.control(&["zone-reload", &self.zone])?;
        self.wait_for_serial(Some(serial))
    }

    /// Asks Knot to send NOTIFY to its notify targets again
    /// (`knotc zone-notify`).
    pub fn notify_now(&self) -> io::Result<()> {
        self.control(&["zone-notify", &self.zone])
    }

    fn control(&self, arguments: &[&str]) -> io::Result<()> {
        let output = Command::new(KNOTC)
            .arg("-s")
            .arg(self.directory.join("knot.sock"))
            .args(arguments)
            .output()?;
        if output.status.success() {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "knotc {} failed: {}{}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }

    /// Waits until Knot answers the zone's SOA (with `serial` if given).
    fn wait_for_serial(&self, serial: Option<u32>) -> io::Result<()> {
        let zone = Name::from_ascii(&self.zone)
            .map_err(|error| io::Error::other(format!("{}: {error}", self.zone)))?;
        let query = compose_query(7, &zone, RType::SOA, false, None);
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(answer) = exchange(
                self.address,
                &query,
                Transport::Udp,
                Duration::from_millis(200),
            ) && let Ok(answer) = hanse_wire::Message::parse(&answer)
                && let Some(served) = soa_serial(&answer)
                && serial.is_none_or(|wanted| wanted == served)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::other(format!(
            "knotd on {} did not serve {} serial {serial:?} within {READY_TIMEOUT:?}; log:\n{}",
            self.address,
            self.zone,
            self.log()
        )))
    }
}

impl Drop for KnotPrimary {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.directory);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The serial of the SOA record in an answer's answer section.
fn soa_serial(answer: &hanse_wire::Message) -> Option<u32> {
    answer
        .answers
        .iter()
        .find(|record| record.rtype == RType::SOA)
        .and_then(|record| {
            let rdata = &record.data[..];
            // MNAME and RNAME are uncompressed in a parsed record's rdata;
            // the serial follows them.
            let mut position = 0;
            for _ in 0..2 {
                position = skip_name(rdata, position)?;
            }
            let bytes = rdata.get(position..position + 4)?;
            Some(u32::from_be_bytes(bytes.try_into().ok()?))
        })
}

fn skip_name(wire: &[u8], mut position: usize) -> Option<usize> {
    loop {
        let length = usize::from(*wire.get(position)?);
        position += 1 + length;
        if length == 0 {
            return Some(position);
        }
    }
}

fn configuration(
    directory: &Path,
    address: SocketAddr,
    zone: &str,
    key: Option<&KnotKey>,
    notify: &[SocketAddr],
) -> String {
    let directory = directory.display();
    let mut text = format!(
        "server:\n    rundir: \"{directory}\"\n    listen: {}@{}\n    \
         background-workers: 1\n    udp-workers: 1\n    tcp-workers: 1\n\
         database:\n    storage: \"{directory}\"\n",
        address.ip(),
        address.port()
    );
    if let Some(key) = key {
        let _ = write!(
            text,
            "key:\n  - id: {}\n    algorithm: hmac-sha256\n    secret: {}\n",
            key.name, key.secret
        );
    }
    if !notify.is_empty() {
        text.push_str("remote:\n");
        for (index, target) in notify.iter().enumerate() {
            let _ = write!(
                text,
                "  - id: notify{index}\n    address: {}@{}\n    via: {}\n",
                target.ip(),
                target.port(),
                address.ip()
            );
        }
    }
    text.push_str("acl:\n  - id: transfer\n    address: 127.0.0.0/8\n    action: transfer\n");
    if let Some(key) = key {
        let _ = writeln!(text, "    key: {}", key.name);
    }
    let _ = write!(
        text,
        "template:\n  - id: default\n    storage: \"{directory}\"\n    zonefile-sync: -1\n    \
         zonefile-load: difference\n    journal-content: changes\n\
         zone:\n  - domain: {zone}\n    file: zone\n    acl: transfer\n"
    );
    if !notify.is_empty() {
        let targets: Vec<String> = (0..notify.len())
            .map(|index| format!("notify{index}"))
            .collect();
        let _ = writeln!(text, "    notify: [{}]", targets.join(", "));
    }
    let _ = write!(
        text,
        "control:\n    listen: \"{directory}/knot.sock\"\n\
         log:\n  - target: stderr\n    any: info\n"
    );
    text
}
