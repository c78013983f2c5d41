//! Lists over HTTP: a small HTTP/1.1 server inside the test (std
//! `TcpListener`) serves a list with an ETag and a Last-Modified date,
//! answers 304 to a matching `If-None-Match`, counts requests, and can be
//! told to fail with 500, hang, or send a body above the size cap.
//!
//! Addresses: 127.53.2.0/24 (one address per test), ports chosen free at
//! run time. Also: file feeds and saved copies through `FeedSupply::load`.

use hanse_feeds::{CopyOrigin, FeedSpec, FeedStatus, FeedSupply, Source, SupplyOptions};
use hanse_policy::{Feed, FeedFormat, PreparedName};
use hanse_testnet::Scratch;
use hanse_wire::Name;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);
const MAX_LIST_BYTES: u64 = 4096;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    ServerError,
    Hang,
    Oversize,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

struct Content {
    body: String,
    etag: String,
    last_modified: String,
    mode: Mode,
    requests: Vec<Seen>,
}

/// The test's HTTP server, stopped on drop.
struct Server {
    address: SocketAddr,
    content: Arc<Mutex<Content>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(address: Ipv4Addr, body: &str, etag: &str, last_modified: &str) -> Server {
        let listener = TcpListener::bind((address, 0)).expect("bind on 127.53.2.0/24");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let content = Arc::new(Mutex::new(Content {
            body: body.to_owned(),
            etag: etag.to_owned(),
            last_modified: last_modified.to_owned(),
            mode: Mode::Normal,
            requests: Vec::new(),
        }));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let content = Arc::clone(&content);
            let stopping = Arc::clone(&stopping);
            std::thread::spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    match listener.accept() {
                        // A thread per connection, so a hanging answer
                        // does not hold up the next request.
                        Ok((stream, _)) => {
                            let content = Arc::clone(&content);
                            let stopping = Arc::clone(&stopping);
                            std::thread::spawn(move || serve(stream, &content, &stopping));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Server {
            address,
            content,
            stopping,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/list.txt", self.address)
    }

    fn set(&self, change: impl FnOnce(&mut Content)) {
        change(&mut self.content.lock().expect("content"));
    }

    fn requests(&self) -> Vec<Seen> {
        self.content.lock().expect("content").requests.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request and answers it as the content says.
fn serve(mut stream: TcpStream, content: &Mutex<Content>, stopping: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 65_536 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(length) => request.extend_from_slice(&buffer[..length]),
        }
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let header = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let seen = Seen {
        if_none_match: header("if-none-match"),
        if_modified_since: header("if-modified-since"),
    };
    let (mode, body, etag, last_modified) = {
        let mut content = content.lock().expect("content");
        content.requests.push(seen.clone());
        (
            content.mode,
            content.body.clone(),
            content.etag.clone(),
            content.last_modified.clone(),
        )
    };
    let response = match mode {
        Mode::ServerError => {
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned()
        }
        Mode::Hang => {
            // Say nothing for up to 10 s (the client gives up sooner).
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !stopping.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        Mode::Oversize => {
            let size = MAX_LIST_BYTES * 4;
            let mut response =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
            response.push_str(&"0.0.0.0 big.example\n".repeat(size as usize / 20));
            response
        }
        Mode::Normal if seen.if_none_match.as_deref() == Some(etag.as_str()) => {
            format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n")
        }
        Mode::Normal => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nETag: {etag}\r\n\
             Last-Modified: {last_modified}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    };
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn url_spec(name: &str, format: FeedFormat, url: &str) -> FeedSpec {
    FeedSpec {
        name: name.to_owned(),
        format,
        origin: None,
        source: Source::Url {
            url: url.to_owned(),
            refresh: Duration::from_secs(3600),
        },
    }
}

fn options(state: Option<&Scratch>) -> SupplyOptions {
    SupplyOptions {
        state_directory: state.map(|directory| directory.0.clone()),
        http_timeout: Duration::from_secs(2),
        max_list_bytes: MAX_LIST_BYTES,
        ..SupplyOptions::default()
    }
}

fn blocks(feed: &Feed, name: &str) -> bool {
    let name = Name::from_ascii(name).expect("name");
    let prepared = PreparedName::new(name.as_wire()).expect("prepared");
    feed.match_qname(&prepared).is_some()
}

fn status(supply: &FeedSupply) -> FeedStatus {
    supply.status().remove(0)
}

/// Asks for a refresh and waits until the server saw request `count` and
/// the supply recorded the outcome (a check time or error that changed).
fn refresh_and_wait(supply: &FeedSupply, server: &Server, count: usize) -> FeedStatus {
    let before = status(supply);
    assert!(supply.refresh("list"));
    assert!(
        wait_until(WAIT, || server.requests().len() >= count),
        "request {count} never came"
    );
    assert!(
        wait_until(WAIT, || {
            let now = status(supply);
            now.last_success != before.last_success || now.last_error != before.last_error
        }),
        "no outcome recorded"
    );
    status(supply)
}

const FIRST_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const SECOND_DATE: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

#[test]
fn a_list_is_fetched_conditionally_and_kept_when_the_server_fails() {
    let server = Server::start(
        Ipv4Addr::new(127, 53, 2, 1),
        "0.0.0.0 one.example\n",
        "\"v1\"",
        FIRST_DATE,
    );
    let state = Scratch::new("feeds-http-list");
    let spec = url_spec("list", FeedFormat::Hosts, &server.url());
    let supply = FeedSupply::load(vec![spec.clone()], options(Some(&state))).expect("loads");
    assert!(supply.feeds()[0].counts().total() == 0 && status(&supply).stale);
    supply.start(Arc::new(|| {}));
    assert!(wait_until(WAIT, || status(&supply).full_updates == 1));
    let first = status(&supply);
    assert_eq!(first.version, 784_111_777, "the version is Last-Modified");
    assert_eq!(first.copy_origin, CopyOrigin::Url(server.url()));
    assert!(!first.stale);
    assert!(blocks(&supply.feeds()[0], "one.example."));
    assert_eq!(server.requests()[0].if_none_match, None);

    // Unchanged: a conditional request and a 304.
    let second = refresh_and_wait(&supply, &server, 2);
    let seen = &server.requests()[1];
    assert_eq!(seen.if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(seen.if_modified_since.as_deref(), Some(FIRST_DATE));
    assert_eq!(second.full_updates, 1);
    assert_eq!(second.version, first.version);
    assert!(!second.stale && second.last_error.is_none());

    // Changed content.
    server.set(|content| {
        content.body = "0.0.0.0 two.example\n".to_owned();
        content.etag = "\"v2\"".to_owned();
        content.last_modified = SECOND_DATE.to_owned();
    });
    let third = refresh_and_wait(&supply, &server, 3);
    assert_eq!(third.full_updates, 2);
    assert_eq!(third.version, 784_198_177);
    assert!(blocks(&supply.feeds()[0], "two.example."));
    assert!(!blocks(&supply.feeds()[0], "one.example."));

    // 500, an over-size body, a hang: errors, the copy stays, stale.
    for (index, (mode, expected)) in [
        (Mode::ServerError, "500"),
        (Mode::Oversize, "exceeds"),
        (Mode::Hang, "GET"),
    ]
    .into_iter()
    .enumerate()
    {
        server.set(|content| content.mode = mode);
        let failed = refresh_and_wait(&supply, &server, 4 + index);
        assert!(failed.stale, "{mode:?}: {failed:?}");
        let error = failed.last_error.clone().unwrap_or_default();
        assert!(error.contains(expected), "{mode:?}: {error}");
        assert_eq!(failed.version, 784_198_177);
        assert!(blocks(&supply.feeds()[0], "two.example."));
        // Clear the error so the next outcome is visible.
        server.set(|content| content.mode = Mode::Normal);
        let recovered = refresh_and_wait(&supply, &server, 5 + index);
        assert!(!recovered.stale && recovered.last_error.is_none());
        server.set(|content| content.requests.truncate(4 + index));
    }
    let messages = supply.take_messages();
    assert!(
        messages.warnings.iter().any(|line| line.contains("stale")),
        "{messages:?}"
    );
    assert!(!supply.refresh("no-such-feed"));
    supply.stop();
    drop(supply);

    // The saved copy serves a restart, with its version.
    let supply = FeedSupply::load(vec![spec], options(Some(&state))).expect("loads");
    let restarted = status(&supply);
    assert!(
        matches!(restarted.copy_origin, CopyOrigin::SavedCopy(_)),
        "{restarted:?}"
    );
    assert_eq!(restarted.version, 784_198_177);
    assert!(blocks(&supply.feeds()[0], "two.example."));
    drop(supply);

    // A copy saved for another URL is not used.
    let other = url_spec("list", FeedFormat::Hosts, "http://127.53.2.1:1/other.txt");
    let supply = FeedSupply::load(vec![other], options(Some(&state))).expect("loads");
    assert_eq!(status(&supply).copy_origin, CopyOrigin::None);
    assert_eq!(supply.feeds()[0].counts().total(), 0);
    let messages = supply.take_messages();
    assert!(
        messages
            .warnings
            .iter()
            .any(|line| line.contains("ignored")),
        "{messages:?}"
    );
    drop(supply);

    // A corrupt copy is reported and ignored; start-up goes on.
    std::fs::write(state.0.join("feeds/list.meta"), b"\xff\xfe garbage\n").expect("corrupt");
    let spec = url_spec("list", FeedFormat::Hosts, &server.url());
    let supply = FeedSupply::load(vec![spec], options(Some(&state))).expect("loads");
    assert_eq!(status(&supply).copy_origin, CopyOrigin::None);
    let messages = supply.take_messages();
    assert!(
        messages
            .warnings
            .iter()
            .any(|line| line.contains("corrupt")),
        "{messages:?}"
    );
}

#[test]
fn a_policy_zone_with_a_syntax_error_is_refused_whole() {
    let good = "$ORIGIN rpz.web.\n@ SOA ns. host. 1 60 60 600 60\nevil.example CNAME .\n";
    let server = Server::start(Ipv4Addr::new(127, 53, 2, 2), good, "\"z1\"", FIRST_DATE);
    // The state directory is a file: saving fails, the feed still updates.
    let state = Scratch::new("feeds-http-unwritable");
    let blocker = Scratch(state.0.join("a-file"));
    std::fs::write(&blocker.0, b"").expect("file");
    let supply = FeedSupply::load(
        vec![url_spec("list", FeedFormat::Rpz, &server.url())],
        options(Some(&blocker)),
    )
    .expect("loads");
    supply.start(Arc::new(|| {}));
    assert!(wait_until(WAIT, || status(&supply).serial == Some(1)));
    let loaded = status(&supply);
    assert!(!loaded.stale);
    let save_error = loaded.save_error.unwrap_or_default();
    assert!(save_error.contains("cannot save the copy"), "{save_error}");
    server.set(|content| {
        content.body = "$ORIGIN rpz.web.\n@ SOA ns. host. 2 60 60 600 60\nworse CNAME\n".to_owned();
        content.etag = "\"z2\"".to_owned();
    });
    let failed = refresh_and_wait(&supply, &server, 2);
    assert!(failed.stale);
    let error = failed.last_error.unwrap_or_default();
    assert!(
        error.contains(":3:") && error.contains("syntax error"),
        "{error}"
    );
    assert_eq!(failed.serial, Some(1));
    assert!(blocks(&supply.feeds()[0], "evil.example."));
}

#[test]
fn file_feeds_load_as_before() {
    let directory = Scratch::new("feeds-http-files");
    let hosts = directory.0.join("block.hosts");
    std::fs::write(&hosts, "0.0.0.0 blocked.example\nbad line\n").expect("hosts");
    let zone = directory.0.join("bad.rpz");
    std::fs::write(
        &zone,
        "$ORIGIN rpz.test.\n@ SOA ns. host. 1 1 1 1 1\nevil CNAME\n",
    )
    .expect("zone");
    let file = |name: &str, format, path: &PathBuf| FeedSpec {
        name: name.to_owned(),
        format,
        origin: None,
        source: Source::File(path.clone()),
    };
    let supply = FeedSupply::load(
        vec![file("hosts", FeedFormat::Hosts, &hosts)],
        options(None),
    )
    .expect("loads");
    let loaded = status(&supply);
    assert!(!loaded.stale);
    assert_eq!(loaded.copy_origin, CopyOrigin::File(hosts));
    assert!(
        loaded.version > 1_600_000_000,
        "the version is the file time"
    );
    let messages = supply.take_messages();
    assert_eq!(messages.warnings.len(), 1, "{messages:?}");
    assert!(messages.warnings[0].contains("block.hosts:2: feed hosts:"));
    assert!(
        messages.summaries[0].contains("1 rules") && messages.summaries[0].contains("1 skipped")
    );
    assert!(!supply.refresh("hosts"), "a file feed is not refreshed");

    let errors = FeedSupply::load(
        vec![
            file("zone", FeedFormat::Rpz, &zone),
            file("gone", FeedFormat::Hosts, &directory.0.join("missing")),
        ],
        options(None),
    )
    .expect_err("both fail");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("bad.rpz:3:") && errors[0].contains("feed zone"),
        "{errors:?}"
    );
    assert!(errors[1].contains("feed gone: cannot read"), "{errors:?}");
    let errors = FeedSupply::load(
        vec![url_spec("ftp", FeedFormat::Hosts, "ftp://127.53.2.3/list")],
        options(None),
    )
    .expect_err("not http");
    assert!(errors[0].contains("http://"), "{errors:?}");
}

#[test]
fn https_goes_through_tls_and_a_plain_server_is_an_error() {
    // A server that answers in plain text where TLS is expected.
    let listener = TcpListener::bind((Ipv4Addr::new(127, 53, 2, 4), 0)).expect("bind");
    let address = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buffer = [0u8; 512];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let url = format!("https://{address}/list.txt");
    let supply = FeedSupply::load(
        vec![url_spec("list", FeedFormat::Hosts, &url)],
        options(None),
    )
    .expect("loads");
    supply.start(Arc::new(|| {}));
    assert!(wait_until(WAIT, || status(&supply).last_error.is_some()));
    let failed = status(&supply);
    assert!(failed.stale);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or("")
            .starts_with(&format!("GET {url}")),
        "{failed:?}"
    );
    let _ = server.join();
}
