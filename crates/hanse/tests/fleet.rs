//! End-to-end tests of fleet operations (issue 8): the lame-duck period on
//! SIGTERM (not ready at once, DNS still answered, exit within the grace
//! period) and `hanse fleet status` over two real `hanse serve` processes
//! whose RPZ file feeds differ in serial.
//!
//! Addresses: 127.67.0.0/16 only. The authoritative hierarchy of the
//! lame-duck test is on 127.67.1.10 (root) and 127.67.1.11 (example.), port
//! 53; the nodes serve DNS and their API on 127.67.2.1, .2.2 and .2.3 with
//! free ports chosen by the system. (`hanse-api`'s client tests use
//! 127.67.9.1 and .9.2.)

use hanse_testnet::client::{exchange, query};
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Name, RType, Rcode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A running `hanse serve`, killed by PID when dropped.
struct Hanse {
    child: Child,
    dns: SocketAddr,
    api: SocketAddr,
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

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits at most `limit` for the process to exit.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A port free on `address` for both UDP and TCP (by asking the system).
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

/// Starts `hanse serve` on `address` with `sections` appended to the
/// server and API settings; `files` are written beside the configuration.
fn start(name: &str, address: &str, sections: &str, files: &[(&str, &str)]) -> Hanse {
    let directory =
        std::env::temp_dir().join(format!("hanse-fleet-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    for (file, text) in files {
        std::fs::write(directory.join(file), text).unwrap();
    }
    let dns: SocketAddr = format!("{address}:{}", free_port(address)).parse().unwrap();
    let api: SocketAddr = format!("{address}:{}", free_port(address)).parse().unwrap();
    let config = format!(
        "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\n{sections}\n\
         [api]\nlisten = \"{api}\"\n"
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
        api,
        directory,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    // A query without a question: FORMERR at once, no upstream asked.
    let probe = vec![0u8, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    while Instant::now() < deadline {
        if exchange(dns, &probe, Transport::Udp, Duration::from_millis(200)).is_ok()
            && http_status(api, "/healthz/ready") == Some(200)
        {
            return hanse;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("hanse did not start within 15 s; log:\n{}", hanse.log());
}

/// The status of one `GET`, or `None` when the API does not answer.
fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn hierarchy() -> (TestNet, String) {
    let root = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
                a.root. A 127.67.1.10\nexample. NS ns.example.\nns.example. A 127.67.1.11\n";
    let example = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.67.1.11\n\
                   www A 192.0.2.1\n";
    let net = TestNet::start(vec![
        ServerSpec::new(
            "127.67.1.10:53".parse().unwrap(),
            vec![Zone::parse(".", root).unwrap()],
        ),
        ServerSpec::new(
            "127.67.1.11:53".parse().unwrap(),
            vec![Zone::parse("example.", example).unwrap()],
        ),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&["127.67.1.10"]);
    (net, hints)
}

/// A fresh name each time, so that every answer needs the resolver (not
/// only the answer cache) to be running.
fn ask(hanse: &Hanse, name: &str) -> Option<Rcode> {
    query(
        hanse.dns,
        &Name::from_ascii(name).unwrap(),
        RType::A,
        Transport::Udp,
        Duration::from_millis(800),
    )
    .ok()
    .map(|answer| answer.rcode())
}

#[test]
fn sigterm_makes_the_node_not_ready_at_once_and_it_answers_through_the_lame_duck_period() {
    let (_net, hints) = hierarchy();
    let lame_duck = Duration::from_secs(4);
    let mut hanse = start(
        "lame-duck",
        "127.67.2.1",
        "lame_duck = \"4s\"\n[resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n",
        &[("named.root", &hints)],
    );
    assert_eq!(ask(&hanse, "www.example."), Some(Rcode::NOERROR));
    let signalled = Instant::now();
    hanse.signal("TERM");
    // Not ready within 1 s.
    let mut not_ready_after = None;
    while signalled.elapsed() < Duration::from_secs(1) {
        if http_status(hanse.api, "/healthz/ready") == Some(503) {
            not_ready_after = Some(signalled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let not_ready_after = not_ready_after.unwrap_or_else(|| {
        panic!(
            "/healthz/ready did not answer 503 within 1 s of SIGTERM; log:\n{}",
            hanse.log()
        )
    });
    // Still answering DNS, from the cache and by resolution, until shortly
    // before the period ends.
    let mut answered = 0;
    let mut round = 0;
    while signalled.elapsed() + Duration::from_millis(800) < lame_duck {
        round += 1;
        assert_eq!(
            ask(&hanse, "www.example."),
            Some(Rcode::NOERROR),
            "a cached answer {:?} after SIGTERM",
            signalled.elapsed()
        );
        assert_eq!(
            ask(&hanse, &format!("nothing-{round}.example.")),
            Some(Rcode::NXDOMAIN),
            "a resolution {:?} after SIGTERM",
            signalled.elapsed()
        );
        answered += 2;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        answered >= 8,
        "only {answered} answers in the lame-duck period"
    );
    let status = hanse
        .wait_for_exit(lame_duck + Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no exit within lame_duck + 10 s; log:\n{}", hanse.log()));
    let exited_after = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        exited_after >= lame_duck - Duration::from_millis(200),
        "exited after {exited_after:?}, before the lame-duck period ended"
    );
    eprintln!(
        "not ready after {not_ready_after:?}, {answered} answers in the lame-duck period, \
         exit after {exited_after:?}"
    );
}

fn policy_zone(serial: u32) -> String {
    format!(
        "$ORIGIN rpz.test.\n$TTL 60\n@ SOA ns.rpz.test. hostmaster.rpz.test. {serial} 3600 600 86400 60\n\
         @ NS ns.rpz.test.\nblocked.example CNAME .\n"
    )
}

const FEED_SECTIONS: &str = "[policy]\nstate_directory = \"state\"\n\
    [[policy.feed]]\nname = \"malware\"\nformat = \"rpz\"\nfile = \"malware.rpz\"\n\
    [[policy.profile]]\nname = \"default\"\nfeeds = [\"malware\"]\n";

/// Runs `hanse fleet status` on the nodes; returns the exit code and stdout.
fn fleet_status(arguments: &[String]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hanse"))
        .args(["fleet", "status", "--timeout", "5"])
        .args(arguments)
        .output()
        .expect("hanse fleet status runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (
        output.status.code().unwrap_or(-1),
        format!("{stdout}{stderr}"),
    )
}

fn line_of(table: &str, node: SocketAddr) -> &str {
    let node = node.to_string();
    table
        .lines()
        .find(|line| line.starts_with(&format!("{node} ")))
        .unwrap_or_else(|| panic!("no line for {node} in:\n{table}"))
}

#[test]
fn fleet_status_marks_the_node_with_the_older_serial_and_passes_once_in_step() {
    let primary = start(
        "serial-2",
        "127.67.2.2",
        FEED_SECTIONS,
        &[("malware.rpz", &policy_zone(2))],
    );
    let secondary = start(
        "serial-1",
        "127.67.2.3",
        FEED_SECTIONS,
        &[("malware.rpz", &policy_zone(1))],
    );
    let nodes = [primary.api.to_string(), secondary.api.to_string()];
    let (code, table) = fleet_status(&nodes);
    eprintln!("{table}");
    assert_eq!(code, 1, "{table}");
    let behind = line_of(&table, secondary.api);
    assert!(behind.contains("malware"), "{table}");
    assert!(behind.contains("LAGGING (newest 2)"), "{table}");
    let ahead = line_of(&table, primary.api);
    assert!(ahead.contains(" 2 ") && ahead.ends_with(" ok"), "{table}");
    assert!(table.contains("1 of 2 node(s) ready and in step; FLEET OUT OF STEP"));

    // The secondary gets serial 2 and reloads: the fleet is in step.
    std::fs::write(secondary.directory.join("malware.rpz"), policy_zone(2)).unwrap();
    secondary.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut code, mut table) = fleet_status(&nodes);
    while code != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        (code, table) = fleet_status(&nodes);
    }
    assert_eq!(code, 0, "not in step 10 s after the reload:\n{table}");
    assert!(!table.contains("LAGGING"), "{table}");
    assert!(
        table.contains("2 of 2 node(s) ready and in step\n"),
        "{table}"
    );

    // A node that does not answer makes the fleet out of step.
    let silent = TcpListener::bind("127.67.2.3:0").unwrap();
    let closed = silent.local_addr().unwrap();
    drop(silent);
    let (code, table) = fleet_status(&[nodes[0].clone(), closed.to_string()]);
    assert_eq!(code, 1, "{table}");
    assert!(line_of(&table, closed).contains("UNREACHABLE"), "{table}");
}

#[test]
fn fleet_status_needs_a_node() {
    let (code, output) = fleet_status(&[]);
    assert_eq!(code, 2, "{output}");
}
