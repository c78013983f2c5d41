//! Fault tests of the `hanse serve` process (issue 9, item 5): a full disk
//! while a feed's saved copy or the API's policy file is written (the old
//! file stays, the error is reported), and `kill -9` at spread-out moments
//! while feed updates are fetched, saved and reloaded (the restarted
//! process serves the last whole copy).
//!
//! The disk is a small tmpfs mounted for the test (tests run as root; if
//! `mount` fails the test fails, it does not skip) and unmounted on drop.
//! Addresses: per test one of 127.88.21.0/24, 127.88.22.0/24 and
//! 127.88.23.0/24 (the root server at .1, `example.` at .2); in
//! 127.88.20.0/24 the HTTP feed servers on .20 and .21 and the clients .77
//! and .78. Hanse listens on 127.0.0.1 and a free port.

mod support;

use hanse_testnet::client::query;
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Name, RType, Rcode};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch};

/// A root server and `example.` with a wildcard: every name under it
/// exists, so that a blocked name (NXDOMAIN) differs from an allowed one.
/// Each test gets its own network `127.88.<network>.0/24` (root at .1,
/// `example.` at .2), so that tests running at once in separate processes
/// (nextest) never bind the same address.
fn hierarchy(network: u8) -> (TestNet, String) {
    let root_address = format!("127.88.{network}.1");
    let example_address = format!("127.88.{network}.2");
    let root = format!(
        "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
         a.root. A {root_address}\nexample. NS ns.example.\nns.example. A {example_address}\n"
    );
    let example = format!(
        "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\n\
         ns A {example_address}\n* A 192.0.2.9\n"
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
    .expect("the test servers start");
    let hints = net.root_hints(&[root_address.as_str()]);
    (net, hints)
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&path).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("mount runs");
        assert!(
            output.status.success(),
            "mounting a tmpfs failed (the test needs root): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Tmpfs(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A hosts list over HTTP/1.1: `body` with an ETag of its length, or 503
/// while `failing` is set. Counts requests; stops when `stop` is set.
struct HttpFeed {
    body: Arc<Mutex<String>>,
    failing: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    url: String,
}

impl HttpFeed {
    fn start(address: &str, body: String) -> HttpFeed {
        let listener = TcpListener::bind(address).unwrap();
        let url = format!("http://{}/hosts.txt", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(body));
        let failing = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (body, failing, requests, stop) = (
                Arc::clone(&body),
                Arc::clone(&failing),
                Arc::clone(&requests),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || serve(&listener, &body, &failing, &requests, &stop))
        };
        HttpFeed {
            body,
            failing,
            requests,
            stop,
            thread: Some(thread),
            url,
        }
    }
}

impl Drop for HttpFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: &TcpListener,
    body: &Mutex<String>,
    failing: &AtomicBool,
    requests: &AtomicUsize,
    stop: &AtomicBool,
) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let response = if failing.load(Ordering::Relaxed) {
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned()
        } else {
            let text = body.lock().unwrap().clone();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"{}\"\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len(),
                text.len()
            )
        };
        let mut stream = stream;
        let _ = stream.write_all(response.as_bytes());
    }
}

fn start(directory: &Path, hints: &str, url: &str, state: &Path) -> HanseProcess {
    std::fs::write(directory.join("named.root"), hints).unwrap();
    HanseProcess::start(directory, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [api]\nenabled = false\n\
             [policy]\nstate_directory = \"{}\"\n\
             [[policy.feed]]\nname = \"ads\"\nformat = \"hosts\"\nurl = \"{url}\"\nrefresh = \"1h\"\n\
             [[policy.profile]]\nname = \"default\"\nfeeds = [\"ads\"]\nblock_answer = \"nxdomain\"\n",
            state.display()
        )
    })
}

fn rcode(hanse: &HanseProcess, name: &str) -> Option<Rcode> {
    query(
        hanse.dns,
        &Name::from_ascii(name).unwrap(),
        RType::A,
        Transport::Udp,
        Duration::from_secs(3),
    )
    .ok()
    .map(|message| message.rcode())
}

/// Waits up to `limit` until `name` is answered with `expected`.
fn wait_for(hanse: &HanseProcess, name: &str, expected: Rcode, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        last = rcode(hanse, name);
        if last == Some(expected) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{name}: {last:?} instead of {expected} after {limit:?}; log:\n{}",
        hanse.log()
    );
}

/// Waits up to `limit` until `condition` holds.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The saved copy of the feed `ads` (a hosts list) under `state`.
fn saved_copy(state: &Path) -> PathBuf {
    state.join("feeds").join("ads.hosts")
}

/// A hosts list that blocks `ads.example.` and `count` more names, padded to
/// at least `bytes` long.
fn hosts_list(tag: &str, count: usize, bytes: usize) -> String {
    let mut text = format!("# list {tag}\n0.0.0.0 ads.example\n");
    let mut index = 0;
    while index < count || text.len() < bytes {
        text.push_str(&format!("0.0.0.0 {tag}-{index}.example\n"));
        index += 1;
    }
    text
}

#[test]
fn issue_9_a_full_disk_keeps_the_old_feed_copy_and_reports_the_error() {
    let (_net, hints) = hierarchy(21);
    let scratch = Scratch::new("faults-disk-full");
    let directory = scratch.0.clone();
    let state = directory.join("state");
    let _disk = Tmpfs::mount(state.clone(), "256k");
    let old = hosts_list("old", 5, 0);
    let feed = HttpFeed::start("127.88.20.20:0", old.clone());
    let mut hanse = start(&directory, &hints, &feed.url, &state);
    wait_for(
        &hanse,
        "ads.example.",
        Rcode::NXDOMAIN,
        Duration::from_secs(10),
    );
    wait_for(
        &hanse,
        "old-1.example.",
        Rcode::NXDOMAIN,
        Duration::from_secs(2),
    );
    assert_eq!(rcode(&hanse, "www.example."), Some(Rcode::NOERROR));
    let copy = saved_copy(&state);
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(&copy)
            .is_ok_and(|text| text == old)),
        "the first list was not saved as {}; log:\n{}",
        copy.display(),
        hanse.log()
    );

    // The new list is larger than the whole disk.
    *feed.body.lock().unwrap() = hosts_list("new", 5, 400 * 1024);
    let before = feed.requests.load(Ordering::Relaxed);
    hanse.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || feed
            .requests
            .load(Ordering::Relaxed)
            > before),
        "no fetch after SIGHUP; log:\n{}",
        hanse.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            let log = hanse.log();
            log.contains("feed ads") && log.contains("No space left on device")
        }),
        "the failed save was not reported; log:\n{}",
        hanse.log()
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        old,
        "the saved copy changed"
    );
    // No temporary file is left to fill the disk.
    let leftovers: Vec<_> = std::fs::read_dir(state.join("feeds"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| !name.to_string_lossy().starts_with("ads."))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // After a kill -9, with the feed's server failing, the saved copy is served.
    feed.failing.store(true, Ordering::Relaxed);
    hanse.signal("KILL");
    assert!(hanse.wait_for_exit(Duration::from_secs(5)).is_some());
    drop(hanse);
    let hanse = start(&directory, &hints, &feed.url, &state);
    wait_for(
        &hanse,
        "ads.example.",
        Rcode::NXDOMAIN,
        Duration::from_secs(5),
    );
    assert_eq!(rcode(&hanse, "old-1.example."), Some(Rcode::NXDOMAIN));
}

/// The size of the lists of the kill -9 test.
const LIST_BYTES: usize = 256 * 1024;

#[test]
fn issue_9_kill_9_during_feed_updates_restarts_with_the_last_good_copy() {
    let (_net, hints) = hierarchy(22);
    let scratch = Scratch::new("faults-kill-9");
    let directory = scratch.0.clone();
    let state = directory.join("state");
    let feed = HttpFeed::start("127.88.20.21:0", hosts_list("v0", 5, 0));
    let mut hanse = start(&directory, &hints, &feed.url, &state);
    wait_for(
        &hanse,
        "v0-1.example.",
        Rcode::NXDOMAIN,
        Duration::from_secs(10),
    );
    // A deterministic spread of kill moments after the update starts: from
    // before the fetch to after the save (about 100 ms in a debug build).
    let delays = [0u64, 5, 10, 20, 30, 45, 60, 80, 150, 1000];
    let mut updated = 0;
    for (round, delay) in (1..).zip(delays) {
        // Lists of about 256 KB: fetching, compiling and saving take a while.
        *feed.body.lock().unwrap() = hosts_list(&format!("v{round}"), 5, LIST_BYTES);
        feed.failing.store(false, Ordering::Relaxed);
        hanse.signal("HUP");
        std::thread::sleep(Duration::from_millis(delay));
        hanse.signal("KILL");
        assert!(
            hanse.wait_for_exit(Duration::from_secs(5)).is_some(),
            "round {round}: no exit after kill -9"
        );
        drop(hanse);
        // Restart with the feed's server failing: only the saved copy can block.
        feed.failing.store(true, Ordering::Relaxed);
        hanse = start(&directory, &hints, &feed.url, &state);
        wait_for(
            &hanse,
            "ads.example.",
            Rcode::NXDOMAIN,
            Duration::from_secs(5),
        );
        // The copy is whole: one of the lists, complete (its last name is blocked).
        let copy = std::fs::read_to_string(saved_copy(&state)).unwrap();
        let tag = copy
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# list "))
            .unwrap_or_else(|| {
                panic!(
                    "round {round}: a torn copy starts {:?}",
                    &copy[..40.min(copy.len())]
                )
            })
            .to_owned();
        let expected = hosts_list(&tag, 5, if tag == "v0" { 0 } else { LIST_BYTES });
        assert!(
            copy == expected,
            "round {round}: the copy of {tag} is not whole"
        );
        eprintln!("round {round}: killed {delay} ms after SIGHUP, restarted with {tag}");
        if tag == format!("v{round}") {
            updated += 1;
        }
        let last = copy.lines().last().unwrap().trim_start_matches("0.0.0.0 ");
        assert_eq!(
            rcode(&hanse, &format!("{last}.")),
            Some(Rcode::NXDOMAIN),
            "round {round}: {last} of {tag} is not blocked; log:\n{}",
            hanse.log()
        );
    }
    assert!(updated >= 1, "no update was ever saved before its kill");
}

/// One HTTP/1.1 request to the API; the status and the raw response.
fn http(address: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(address).expect("the API accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn ask_from(hanse: &HanseProcess, source: &str, name: &str) -> Option<Rcode> {
    hanse_testnet::client::query_from(
        hanse.dns,
        Some(source.parse().unwrap()),
        &Name::from_ascii(name).unwrap(),
        RType::A,
        Transport::Udp,
        Duration::from_secs(3),
    )
    .ok()
    .map(|message| message.rcode())
}

#[test]
fn issue_9_a_full_disk_keeps_the_old_api_policy_file_and_reports_the_error() {
    let (_net, hints) = hierarchy(23);
    let scratch = Scratch::new("faults-api-disk-full");
    let directory = scratch.0.clone();
    let disk = directory.join("disk");
    let _disk = Tmpfs::mount(disk.clone(), "64k");
    let policy_file = disk.join("hanse.api.toml");
    std::fs::write(directory.join("named.root"), &hints).unwrap();
    std::fs::write(directory.join("kids.hosts"), "0.0.0.0 blocked.example\n").unwrap();
    let api: std::net::SocketAddr = format!("127.0.0.1:{}", support::free_tcp_port())
        .parse()
        .unwrap();
    let hanse = HanseProcess::start(&directory, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [api]\nlisten = \"{api}\"\npolicy_file = \"{}\"\n\
             [[policy.feed]]\nname = \"kids-block\"\nformat = \"hosts\"\nfile = \"kids.hosts\"\n\
             [[policy.profile]]\nname = \"default\"\n\
             [[policy.profile]]\nname = \"kids\"\nfeeds = [\"kids-block\"]\n\
             block_answer = \"nxdomain\"\n",
            policy_file.display()
        )
    });
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(
            api
        )
        .is_ok()),
        "the API did not listen; log:\n{}",
        hanse.log()
    );
    let (status, response) = http(
        api,
        "POST",
        "/api/v1/clients",
        r#"{"cidr":"127.88.20.77/32","profile":"kids"}"#,
    );
    assert_eq!(status, 201, "{response}\n{}", hanse.log());
    let saved = std::fs::read_to_string(&policy_file).unwrap();
    assert!(saved.contains("127.88.20.77/32"), "{saved}");
    assert_eq!(
        ask_from(&hanse, "127.88.20.77", "blocked.example."),
        Some(Rcode::NXDOMAIN)
    );

    // Fill the disk to the last block.
    let mut filler = std::fs::File::create(disk.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    let mut written = 0usize;
    while written < (1 << 20) && filler.write_all(&block).is_ok() {
        written += block.len();
    }
    let _ = filler.sync_all();

    let (status, response) = http(
        api,
        "POST",
        "/api/v1/clients",
        r#"{"cidr":"127.88.20.78/32","profile":"kids"}"#,
    );
    assert!(
        status >= 500,
        "a write to a full disk was not reported as an error: {status}\n{response}"
    );
    assert!(
        response.contains("space"),
        "the error does not say why: {response}"
    );
    assert_eq!(std::fs::read_to_string(&policy_file).unwrap(), saved);
    // The policy in force is the old one: .77 is filtered, .78 is not.
    assert_eq!(
        ask_from(&hanse, "127.88.20.77", "blocked.example."),
        Some(Rcode::NXDOMAIN)
    );
    assert_eq!(
        ask_from(&hanse, "127.88.20.78", "blocked.example."),
        Some(Rcode::NOERROR),
        "the refused mapping applied"
    );
}
