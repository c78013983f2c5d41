//! End-to-end tests of the operations side of `hanse serve` (issue 6): the
//! HTTP listener's health endpoints, statistics and Prometheus metrics that
//! follow real queries, the query log, explain, cache flush, and a client
//! mapping added through the API that changes how that client is filtered
//! (and a refused one that changes nothing).
//!
//! Addresses: 127.62.0.0/16 (the hierarchy of in-process authoritative
//! servers on 127.62.1.10 and .11; a filtered client on 127.62.1.77).
//! Hanse's DNS and API ports are free ports on 127.0.0.1.

mod support;

use hanse_testnet::client::query_from;
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Name, RType, Rcode};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch, free_tcp_port};

fn hierarchy() -> (TestNet, String) {
    let root = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
                a.root. A 127.62.1.10\nexample. NS ns.example.\nns.example. A 127.62.1.11\n";
    let example = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.62.1.11\n\
                   www A 192.0.2.1\nblocked A 192.0.2.2\n";
    let net = TestNet::start(vec![
        ServerSpec::new(
            "127.62.1.10:53".parse().unwrap(),
            vec![Zone::parse(".", root).unwrap()],
        ),
        ServerSpec::new(
            "127.62.1.11:53".parse().unwrap(),
            vec![Zone::parse("example.", example).unwrap()],
        ),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&["127.62.1.10"]);
    (net, hints)
}

/// The process under test, its API address and its directory.
struct Hanse {
    process: HanseProcess,
    dns: SocketAddr,
    api: SocketAddr,
    directory: Scratch,
}

impl Hanse {
    fn log(&self) -> String {
        self.process.log()
    }
}

fn start(hints: &str) -> Hanse {
    let directory = Scratch::new("api-test");
    std::fs::write(directory.0.join("named.root"), hints).unwrap();
    std::fs::write(directory.0.join("kids.hosts"), "0.0.0.0 blocked.example\n").unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let process = HanseProcess::start(&directory.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 2\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [api]\nlisten = \"{api}\"\n\
             [query_log]\nenabled = true\nprivacy_level = 0\npath = \"querylog.sqlite\"\n\
             [policy]\nstate_directory = \"state\"\n\
             [[policy.feed]]\nname = \"kids-block\"\nformat = \"hosts\"\nfile = \"kids.hosts\"\n\
             [[policy.profile]]\nname = \"default\"\n\
             [[policy.profile]]\nname = \"kids\"\nfeeds = [\"kids-block\"]\n"
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(api).is_err() {
        assert!(
            Instant::now() < deadline,
            "the API did not listen within 10 s; log:\n{}",
            process.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Hanse {
        dns: process.dns,
        process,
        api,
        directory,
    }
}

/// One HTTP/1.1 request; returns the status and the body.
fn http(address: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("the API accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a response");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    // Chunked bodies: join the chunks.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut joined = String::new();
        let mut rest = rest;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || after.len() < size {
                break;
            }
            joined.push_str(&after[..size]);
            rest = after[size..].trim_start_matches("\r\n");
        }
        joined
    } else {
        rest.to_owned()
    };
    (status, body)
}

fn ask(hanse: &Hanse, source: &str, name: &str) -> Rcode {
    query_from(
        hanse.dns,
        Some(source.parse::<IpAddr>().unwrap()),
        &Name::from_ascii(name).unwrap(),
        RType::A,
        Transport::Udp,
        Duration::from_secs(5),
    )
    .expect("an answer")
    .rcode()
}

/// The value of a metric line such as `hanse_queries_total{transport="udp"}`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_api_reports_queries_and_a_client_mapping_added_through_it_filters_that_client() {
    let (_net, hints) = hierarchy();
    let hanse = start(&hints);
    let api = hanse.api;
    assert_eq!(http(api, "GET", "/healthz/live", None).0, 200);
    let (status, body) = http(api, "GET", "/healthz/ready", None);
    assert_eq!(status, 200, "{body}");

    // Queries show in the metrics and the statistics.
    let (_, before) = http(api, "GET", "/metrics", None);
    let udp_before = metric(&before, "hanse_queries_total{transport=\"udp\"}").unwrap();
    for _ in 0..3 {
        assert_eq!(ask(&hanse, "127.62.1.5", "www.example."), Rcode::NOERROR);
    }
    let (status, after) = http(api, "GET", "/metrics", None);
    assert_eq!(status, 200);
    let udp_after = metric(&after, "hanse_queries_total{transport=\"udp\"}").unwrap();
    assert!(udp_after >= udp_before + 3.0, "{udp_before} -> {udp_after}");
    assert!(
        metric(&after, "hanse_answers_total{path=\"cache\"}").unwrap() >= 2.0,
        "the second and third answers come from the cache:\n{after}"
    );
    // The private root has no trust anchor: its answers are not validated.
    assert!(
        metric(
            &after,
            "hanse_dnssec_outcomes_total{outcome=\"indeterminate\"}"
        )
        .unwrap()
            >= 1.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, "hanse_dnssec_outcomes_total{outcome=\"bogus\"}"),
        Some(0.0)
    );
    let (_, statistics) = http(api, "GET", "/api/v1/stats", None);
    assert!(statistics.contains("\"queries_total\":"), "{statistics}");

    // The default profile lets blocked.example through; kids does not.
    assert_eq!(
        ask(&hanse, "127.62.1.77", "blocked.example."),
        Rcode::NOERROR
    );
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/clients",
        Some(r#"{"cidr":"127.62.1.77/32","profile":"kids"}"#),
    );
    assert_eq!(status, 201, "{body}\n{}", hanse.log());
    assert_eq!(
        ask(&hanse, "127.62.1.77", "blocked.example."),
        Rcode::NXDOMAIN,
        "the mapping added through the API did not apply; log:\n{}",
        hanse.log()
    );
    assert_eq!(
        ask(&hanse, "127.62.1.5", "blocked.example."),
        Rcode::NOERROR
    );
    let saved = std::fs::read_to_string(hanse.directory.0.join("hanse.api.toml")).unwrap();
    assert!(saved.contains("127.62.1.77/32"), "{saved}");

    // A mapping to a profile that does not exist is refused; nothing changes.
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/clients",
        Some(r#"{"cidr":"127.62.1.78/32","profile":"nobody"}"#),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        std::fs::read_to_string(hanse.directory.0.join("hanse.api.toml")).unwrap(),
        saved
    );

    // Explain names the rule, the feed and the profile.
    let (status, body) = http(
        api,
        "GET",
        "/api/v1/explain?name=blocked.example&type=A&client=127.62.1.77",
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"profile\":\"kids\"")
            && body.contains("\"feed\":\"kids-block\"")
            && body.contains("blocked.example line 1"),
        "{body}"
    );

    // The query log has the blocked query, with its feed.
    let logged = wait_until(Duration::from_secs(5), || {
        let (_, body) = http(
            api,
            "GET",
            "/api/v1/querylog?client=127.62.1.77&blocked_only=true",
            None,
        );
        // Each entry says how many identical queries it stands for.
        body.contains("\"feed\":\"kids-block\"") && body.contains("\"count\":")
    });
    assert!(logged, "the blocked query is not in the query log");

    // A flush sends the next question upstream again.
    let (status, body) = http(
        api,
        "DELETE",
        "/api/v1/cache?name=example.&subtree=true",
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("\"removed\":0"), "{body}");
    let (_, entries) = http(api, "GET", "/api/v1/cache?name=www.example.", None);
    assert_eq!(entries.trim(), "[]", "{entries}");
    assert_eq!(ask(&hanse, "127.62.1.5", "www.example."), Rcode::NOERROR);

    // The command line over the API.
    let cli = |arguments: &[&str]| {
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
    };
    let (ok, out, err) = cli(&["stats"]);
    assert!(ok && out.contains("\"queries_total\""), "{out}{err}");
    let (ok, out, err) = cli(&["cache", "flush", "www.example.", "--subtree"]);
    assert!(ok && out.contains("\"removed\""), "{out}{err}");
    let (ok, out, err) = cli(&["feeds", "list"]);
    assert!(ok && out.contains("kids-block"), "{out}{err}");
    let (ok, out, err) = cli(&["reload"]);
    assert!(ok && out.contains("reloaded"), "{out}{err}");
    let (ok, _, err) = cli(&["feeds", "refresh", "no-such-feed"]);
    assert!(!ok && err.contains("404"), "{err}");

    // Everything needs no token from loopback; the dashboard is served.
    let (status, page) = http(api, "GET", "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");
}
