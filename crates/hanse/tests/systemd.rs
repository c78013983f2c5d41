//! End-to-end tests of the systemd notifications of `hanse serve`
//! (`sd_notify(3)` protocol): the test binds the notification socket itself
//! (a path, or an abstract name), starts `hanse serve` with
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC`, and reads the datagrams in the
//! order they come: READY=1, WATCHDOG=1 keep-alives, RELOADING=1 with
//! MONOTONIC_USEC and READY=1 around SIGHUP, STOPPING=1 on SIGTERM; and
//! READY=1 only once a zone feed without a saved copy has its first copy
//! from a real Knot primary.
//!
//! Addresses: 127.76.0.0/16 only: Hanse on 127.76.1.1 and 127.76.2.1 (free
//! ports chosen by the system), Knot on 127.76.2.53.

use hanse_testnet::Scratch;
use hanse_testnet::knot::{KnotKey, KnotPrimary};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A `hanse serve` stopped by PID when dropped.
struct Hanse {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Hanse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hanse {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }
}

/// A port free on `address` for UDP and TCP.
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

/// Starts `hanse serve` with `config` and the environment `variables`.
fn start(directory: &Path, config: &str, variables: &[(&str, &str)]) -> Hanse {
    std::fs::write(directory.join("hanse.toml"), config).unwrap();
    let log = directory.join("hanse.log");
    let output = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hanse"));
    command
        .args(["serve", "--config"])
        .arg(directory.join("hanse.toml"))
        .env_remove("WATCHDOG_PID")
        .env_remove("WATCHDOG_USEC")
        .env_remove("NOTIFY_SOCKET")
        .stdout(output.try_clone().unwrap())
        .stderr(output);
    for (name, value) in variables {
        command.env(name, value);
    }
    Hanse {
        child: command.spawn().expect("hanse starts"),
        log,
    }
}

/// The next notification within `limit`, or `None`.
fn next(socket: &UnixDatagram, limit: Duration) -> Option<String> {
    socket.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 4096];
    let length = socket.recv(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..length]).into_owned())
}

/// Reads notifications until one has the line `wanted` (within `limit`),
/// returning it and every one before it.
fn wait_for(
    socket: &UnixDatagram,
    wanted: &str,
    limit: Duration,
    hanse: &Hanse,
) -> (String, Vec<String>) {
    let deadline = Instant::now() + limit;
    let mut before = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(message) = next(socket, left.max(Duration::from_millis(1))) else {
            break;
        };
        if message.lines().any(|line| line == wanted) {
            return (message, before);
        }
        before.push(message);
    }
    panic!(
        "no {wanted} within {limit:?}; got {before:?}; log:\n{}",
        hanse.log()
    );
}

const POLICY_ZONE: &str = "$ORIGIN rpz.test.\n@ 60 SOA ns. host. 1 5 5 100 60\n\
                           blocked.example 60 CNAME .\n";

#[test]
fn notifications_come_in_order_ready_watchdog_reload_stopping() {
    let scratch = Scratch::new("systemd-order");
    let directory = scratch.0.clone();
    let socket_path = directory.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    std::fs::write(directory.join("policy.rpz"), POLICY_ZONE).unwrap();
    let dns: SocketAddr = format!("127.76.1.1:{}", free_port("127.76.1.1"))
        .parse()
        .unwrap();
    let config = format!(
        "[server]\nlisten = [\"{dns}\"]\nthreads = 1\nlame_duck = \"300ms\"\n\
         [api]\nenabled = false\n\
         [policy]\nstate_directory = \"{state}\"\n\
         [[policy.feed]]\nname = \"local\"\nformat = \"rpz\"\nfile = \"policy.rpz\"\n\
         [[policy.profile]]\nname = \"default\"\nfeeds = [\"local\"]\n",
        state = directory.join("state").display()
    );
    let started = Instant::now();
    let mut hanse = start(
        &directory,
        &config,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // Keep-alives every 150 ms.
            ("WATCHDOG_USEC", "300000"),
        ],
    );
    // 1. READY=1, with the listener in its status line; nothing but
    // status lines and keep-alives before it.
    let (ready, before) = wait_for(&socket, "READY=1", Duration::from_secs(15), &hanse);
    assert!(
        ready.contains(&format!("STATUS=serving DNS on {dns}")),
        "{ready:?}"
    );
    for message in &before {
        assert!(
            message.starts_with("STATUS=") || message == "WATCHDOG=1",
            "before READY=1: {message:?}"
        );
    }
    // The listener is bound when READY=1 arrives.
    let probe = hanse_wire::compose_query(
        1,
        &hanse_wire::Name::from_ascii("blocked.example.").unwrap(),
        hanse_wire::RType::A,
        false,
        None,
    );
    let answer = hanse_testnet::client::exchange(
        dns,
        &probe,
        hanse_testnet::Transport::Udp,
        Duration::from_secs(2),
    )
    .expect("answers once READY=1 was sent");
    let answer = hanse_wire::Message::parse(&answer).unwrap();
    assert_eq!(
        answer.rcode(),
        hanse_wire::Rcode::NXDOMAIN,
        "the policy is in force"
    );
    // 2. Keep-alives: at least four in one second (every 150 ms).
    let since = Instant::now();
    let mut keep_alives = 0;
    while since.elapsed() < Duration::from_secs(1) {
        if let Some(message) = next(&socket, Duration::from_millis(100))
            && message == "WATCHDOG=1"
        {
            keep_alives += 1;
        }
    }
    assert!(
        (4..=9).contains(&keep_alives),
        "{keep_alives} keep-alives in 1 s"
    );
    // 3. SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1.
    hanse.signal("HUP");
    let (reloading, _) = wait_for(&socket, "RELOADING=1", Duration::from_secs(5), &hanse);
    let monotonic: u64 = reloading
        .lines()
        .find_map(|line| line.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
        .parse()
        .expect("MONOTONIC_USEC is a number");
    // CLOCK_MONOTONIC is at most CLOCK_BOOTTIME (/proc/uptime) and the
    // process has run since `started`.
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (monotonic as f64) <= uptime * 1e6 + 50_000.0,
        "{monotonic} µs"
    );
    assert!(
        monotonic as u128 >= started.elapsed().as_micros(),
        "{monotonic} µs"
    );
    let (reloaded, between) = wait_for(&socket, "READY=1", Duration::from_secs(10), &hanse);
    assert!(reloaded.contains("STATUS=reloaded"), "{reloaded:?}");
    assert!(
        between.iter().all(|message| message == "WATCHDOG=1"),
        "{between:?}"
    );
    // 4. A reload that fails still ends in READY=1, saying so.
    std::fs::write(
        directory.join("hanse.toml"),
        "[server]\nthreads = \"many\"\n",
    )
    .unwrap();
    hanse.signal("HUP");
    wait_for(&socket, "RELOADING=1", Duration::from_secs(5), &hanse);
    let (refused, _) = wait_for(&socket, "READY=1", Duration::from_secs(10), &hanse);
    assert!(refused.contains("STATUS=reload refused"), "{refused:?}");
    // 5. SIGTERM: STOPPING=1, keep-alives through the lame-duck period, exit 0.
    hanse.signal("TERM");
    let (stopping, _) = wait_for(&socket, "STOPPING=1", Duration::from_secs(5), &hanse);
    assert!(stopping.contains("STATUS=not ready"), "{stopping:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = hanse.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit; log:\n{}", hanse.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}; log:\n{}", hanse.log());
    let mut after = Vec::new();
    while let Some(message) = next(&socket, Duration::from_millis(50)) {
        after.push(message);
    }
    assert!(
        after.iter().all(|message| message == "WATCHDOG=1"),
        "after STOPPING=1: {after:?}"
    );
}

#[test]
fn ready_waits_for_the_first_transfer_over_an_abstract_socket() {
    let scratch = Scratch::new("systemd-first-copy");
    let directory = scratch.0.clone();
    let name = format!("hanse-test-notify-{}", std::process::id());
    let socket = {
        use std::os::linux::net::SocketAddrExt as _;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        UnixDatagram::bind_addr(&address).unwrap()
    };
    let dns: SocketAddr = format!("127.76.2.1:{}", free_port("127.76.2.1"))
        .parse()
        .unwrap();
    let primary: SocketAddr = format!("127.76.2.53:{}", free_port("127.76.2.53"))
        .parse()
        .unwrap();
    let secret = "c2VjcmV0IG9mIHRoZSBzeXN0ZW1kIHRlc3QgZmVlZA==";
    let config = format!(
        "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\nlame_duck = \"0s\"\n\
         [api]\nenabled = false\n\
         [policy]\nstate_directory = \"{state}\"\n\
         [[policy.tsig_key]]\nname = \"feed-key.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
         [[policy.feed]]\nname = \"remote\"\nformat = \"rpz\"\nzone = \"rpz.test.\"\n\
         primaries = [\"{primary}\"]\ntsig_key = \"feed-key.\"\n\
         [[policy.profile]]\nname = \"default\"\nfeeds = [\"remote\"]\n",
        state = directory.join("state").display()
    );
    let hanse = start(
        &directory,
        &config,
        &[
            ("NOTIFY_SOCKET", &format!("@{name}")),
            ("WATCHDOG_USEC", "200000"),
            // Meant for another process: no keep-alives from this one.
            ("WATCHDOG_PID", "1"),
        ],
    );
    // No primary yet: the feed has no copy, so no READY=1, only a status
    // line that names the feed.
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut waiting = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(message) = next(&socket, left.max(Duration::from_millis(1))) {
            waiting.push(message);
        }
    }
    assert!(
        waiting
            .iter()
            .all(|message| message
                .starts_with("STATUS=waiting for the first copy of feed(s) remote")),
        "{waiting:?}; log:\n{}",
        hanse.log()
    );
    assert!(!waiting.is_empty(), "no status while waiting");
    // The primary comes up and sends NOTIFY: the first transfer makes the
    // node ready.
    let knot = KnotPrimary::start(
        primary,
        "rpz.test.",
        POLICY_ZONE,
        Some(&KnotKey {
            name: "feed-key.".to_owned(),
            secret: secret.to_owned(),
        }),
        &[dns],
    )
    .expect("knotd starts (Debian package knot)");
    knot.notify_now().unwrap();
    let (ready, before) = wait_for(&socket, "READY=1", Duration::from_secs(15), &hanse);
    assert!(ready.contains("1 feed(s) loaded"), "{ready:?}");
    assert!(
        before.iter().all(|message| message.starts_with("STATUS=")),
        "{before:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    while let Some(message) = next(&socket, Duration::from_millis(10)) {
        assert_ne!(message, "WATCHDOG=1", "WATCHDOG_PID names another process");
    }
}
