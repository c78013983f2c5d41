//! What the end-to-end tests of the `hanse` binary share: a `hanse serve`
//! process started on a free port of 127.0.0.1 with a configuration the
//! test writes, waited for until it answers over UDP and accepts TCP, and
//! killed by PID when dropped.

#![allow(dead_code)] // Each test binary uses its own part of this module.

#[allow(unused_imports)] // Not every test binary uses it.
pub use hanse_testnet::Scratch;
use hanse_testnet::Transport;
use hanse_testnet::client::exchange;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A query without a question: Hanse answers it at once with FORMERR,
/// without asking any upstream server. (A real question would send the
/// resolver to its root hints, which outside a test hierarchy are the
/// Internet's root servers.)
pub fn liveness_probe() -> Vec<u8> {
    // ID 1, RD set, every count zero (RFC 1035 §4.1.1).
    vec![0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// How long a start may take before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A port of 127.0.0.1 that was free for UDP when asked.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free UDP port")
        .port()
}

/// A port of 127.0.0.1 that was free for TCP when asked.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free TCP port")
        .port()
}

/// A running `hanse serve`; its output goes to `hanse.log` in its
/// directory.
pub struct HanseProcess {
    child: Child,
    /// Where it serves DNS (UDP and TCP).
    pub dns: SocketAddr,
    log: PathBuf,
}

impl Drop for HanseProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HanseProcess {
    /// Writes `config(dns)` to `directory/hanse.toml`, where `dns` is
    /// 127.0.0.1 and a free port, starts `hanse serve` with it, and waits
    /// until it answers over UDP and accepts over TCP. A port taken by
    /// another test in between makes Hanse exit; then another port is
    /// tried, three times at most.
    pub fn start(directory: &Path, config: impl Fn(SocketAddr) -> String) -> HanseProcess {
        let config_path = directory.join("hanse.toml");
        let log = directory.join("hanse.log");
        let probe = liveness_probe();
        for _attempt in 0..3 {
            let dns: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
            std::fs::write(&config_path, config(dns)).expect("write hanse.toml");
            let output = std::fs::File::create(&log).expect("create hanse.log");
            let child = Command::new(env!("CARGO_BIN_EXE_hanse"))
                .args(["serve", "--config"])
                .arg(&config_path)
                .stdout(output.try_clone().expect("clone hanse.log"))
                .stderr(output)
                .spawn()
                .expect("hanse starts");
            let mut hanse = HanseProcess {
                child,
                dns,
                log: log.clone(),
            };
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = hanse.child.try_wait() {
                    break;
                }
                if exchange(dns, &probe, Transport::Udp, Duration::from_millis(200)).is_ok()
                    && TcpStream::connect_timeout(&dns, Duration::from_millis(200)).is_ok()
                {
                    return hanse;
                }
            }
            let _ = hanse.child.kill();
            let _ = hanse.child.wait();
        }
        panic!(
            "hanse did not start answering within three attempts; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Like [`HanseProcess::start`] on a port the caller chose (a peer
    /// that must know it in advance): no retry.
    pub fn start_at(
        directory: &Path,
        dns: SocketAddr,
        config: impl Fn(SocketAddr) -> String,
    ) -> HanseProcess {
        let config_path = directory.join("hanse.toml");
        let log = directory.join("hanse.log");
        std::fs::write(&config_path, config(dns)).expect("write hanse.toml");
        let output = std::fs::File::create(&log).expect("create hanse.log");
        let child = Command::new(env!("CARGO_BIN_EXE_hanse"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdout(output.try_clone().expect("clone hanse.log"))
            .stderr(output)
            .spawn()
            .expect("hanse starts");
        let hanse = HanseProcess { child, dns, log };
        let probe = liveness_probe();
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if exchange(dns, &probe, Transport::Udp, Duration::from_millis(200)).is_ok()
                && TcpStream::connect_timeout(&dns, Duration::from_millis(200)).is_ok()
            {
                return hanse;
            }
        }
        panic!(
            "hanse did not start answering on {dns}; log:\n{}",
            hanse.log()
        );
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends it a signal (`"HUP"`, `"TERM"`, `"KILL"`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for it to exit; its exit status, or `None`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A root and an `example.` zone served by in-process authoritative servers
/// on `NETWORK.10` (root) and `NETWORK.11` (`example.`), port 53, where
/// `NETWORK` is the first three octets (`"127.82.1"`); `example_records`
/// are the zone's records after its SOA, NS and `ns` address. Returns the
/// servers (stopped when dropped) and root hints for them.
pub fn example_hierarchy(network: &str, example_records: &str) -> (hanse_testnet::TestNet, String) {
    example_hierarchy_at(
        &format!("{network}.10"),
        &format!("{network}.11"),
        example_records,
    )
}

/// [`example_hierarchy`] with the root on `root_address` and `example.` on
/// `example_address`.
pub fn example_hierarchy_at(
    root_address: &str,
    example_address: &str,
    example_records: &str,
) -> (hanse_testnet::TestNet, String) {
    use hanse_testnet::{ServerSpec, TestNet, Zone};
    let root = format!(
        "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A {root_address}\nexample. NS ns.example.\nns.example. A {example_address}\n"
    );
    let example = format!(
        "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A {example_address}\n\
         {example_records}"
    );
    let net = TestNet::start(vec![
        ServerSpec::new(
            format!("{root_address}:53").parse().unwrap(),
            vec![Zone::parse(".", &root).unwrap()],
        ),
        ServerSpec::new(
            format!("{example_address}:53").parse().unwrap(),
            vec![Zone::parse("example.", &example).unwrap()],
        ),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&[root_address]);
    (net, hints)
}

/// Runs `openssl` with `arguments` in `directory`; a failure (or a missing
/// openssl) fails the test.
pub fn openssl(directory: &Path, arguments: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(directory)
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run openssl (is it installed?): {error}"));
    assert!(
        output.status.success(),
        "openssl {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the ldns tool `program` (Debian package ldnsutils) in `directory`;
/// its standard output. A missing tool or a failure fails the test.
pub fn run_ldns(directory: &Path, program: &str, arguments: &[&str]) -> String {
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

/// A new ECDSA P-256 key for `origin` made by ldns-keygen (a key-signing
/// key with `ksk`) in `directory`; its base name.
pub fn keygen(directory: &Path, origin: &str, ksk: bool) -> String {
    let mut arguments = vec!["-a", "ECDSAP256SHA256"];
    if ksk {
        arguments.push("-k");
    }
    arguments.push(origin);
    run_ldns(directory, "ldns-keygen", &arguments)
        .trim()
        .to_string()
}

/// The DS record (SHA-256 digest) of a key made by [`keygen`].
pub fn ds_of(directory: &Path, key: &str) -> String {
    std::fs::read_to_string(directory.join(format!("{key}.ds"))).expect("ldns-keygen wrote a DS")
}

/// The value of one series (name and labels, as `/metrics` writes them)
/// in the `/metrics` of the API listening on `api`.
pub fn metric(api: SocketAddr, series: &str) -> f64 {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(api).expect("the API accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{response}"))
}
