//! End-to-end tests of the API listener over real TCP on 127.56.0.0/16.
//!
//! Each test binds `serve` to its own address 127.56.0.N, port 0 (N is
//! listed at the test), and talks raw HTTP/1.1 over `std::net::TcpStream`,
//! so what is checked is what a client sees on the wire. The backend is a
//! small in-test implementation with counters and lists. Every read has a
//! timeout and every loop a bound.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hanse_api::{ApiConfig, ApiHandle, Scope};

#[path = "support/memory.rs"]
mod memory;
use memory::TestBackend;

// ------------------------------------------------------------------ HTTP client

struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.text()))
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect::<BTreeMap<_, _>>();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|value| value == "chunked")
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(end) = data.windows(2).position(|window| window == b"\r\n") else {
            break;
        };
        let size_text = std::str::from_utf8(&data[..end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Sends one request with `Connection: close` and reads the whole reply.
fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut stream = connect(address);
    stream.write_all(head.as_bytes()).unwrap();
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).unwrap();
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read reply");
    parse_reply(&raw)
}

fn get(address: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    request(address, "GET", path, token, None)
}

fn start(host: [u8; 4], config: ApiConfig, backend: Arc<TestBackend>) -> ApiHandle {
    let listener = TcpListener::bind(SocketAddr::from((host, 0))).expect("bind 127.56.0.x");
    hanse_api::serve(listener, config, backend).expect("serve")
}

fn tokens() -> ApiConfig {
    ApiConfig {
        tokens: vec![
            ("read-token".to_owned(), Scope::Read),
            ("admin-token".to_owned(), Scope::Admin),
        ],
        open_on_loopback_without_tokens: false,
        ..ApiConfig::default()
    }
}

fn assert_problem(reply: &Reply, status: u16) -> serde_json::Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/problem+json");
    let problem = reply.json();
    assert_eq!(problem["status"], status);
    assert!(
        problem["title"].is_string() && problem["detail"].is_string(),
        "{problem}"
    );
    problem
}

// ------------------------------------------------------------------ tests

/// 127.56.0.1
#[test]
fn auth_matrix_with_tokens() {
    let backend = TestBackend::new();
    let handle = start([127, 56, 0, 1], tokens(), Arc::clone(&backend));
    let address = handle.local_addr();

    let missing = get(address, "/api/v1/stats", None);
    assert_problem(&missing, 401);
    assert_eq!(missing.header("www-authenticate"), "Bearer realm=\"hanse\"");

    let wrong = get(address, "/api/v1/stats", Some("admin-tokem"));
    assert_problem(&wrong, 401);
    assert!(wrong.header("www-authenticate").contains("invalid_token"));
    assert_problem(&get(address, "/metrics", Some("nope")), 401);

    assert_eq!(
        get(address, "/api/v1/stats", Some("read-token")).status,
        200
    );
    assert_eq!(
        get(address, "/api/v1/stats", Some("admin-token")).status,
        200
    );

    let forbidden = request(address, "POST", "/api/v1/reload", Some("read-token"), None);
    assert_problem(&forbidden, 403);
    assert!(
        forbidden
            .header("www-authenticate")
            .contains("insufficient_scope")
    );
    assert_eq!(backend.reloads.load(Ordering::SeqCst), 0);
    let flush = request(
        address,
        "DELETE",
        "/api/v1/cache?name=example.com",
        Some("read-token"),
        None,
    );
    assert_problem(&flush, 403);
    assert!(backend.flushes.lock().unwrap().is_empty());

    let reload = request(address, "POST", "/api/v1/reload", Some("admin-token"), None);
    assert_eq!(reload.status, 204);
    assert_eq!(backend.reloads.load(Ordering::SeqCst), 1);

    // Public: health, the OpenAPI document, the dashboard shell.
    for path in [
        "/healthz/live",
        "/healthz/ready",
        "/api/v1/openapi.json",
        "/",
        "/assets/app.js",
    ] {
        assert_eq!(get(address, path, None).status, 200, "{path}");
    }
    // Tokens configured: loopback is no exemption.
    assert_eq!(
        request(address, "POST", "/api/v1/reload", None, None).status,
        401
    );
    handle.stop();
}

/// 127.56.0.2 and 127.56.0.3
#[test]
fn without_tokens_loopback_is_admin_only_when_allowed() {
    let backend = TestBackend::new();
    let open = start(
        [127, 56, 0, 2],
        ApiConfig {
            open_on_loopback_without_tokens: true,
            ..ApiConfig::default()
        },
        Arc::clone(&backend),
    );
    assert_eq!(get(open.local_addr(), "/api/v1/stats", None).status, 200);
    assert_eq!(
        request(open.local_addr(), "POST", "/api/v1/reload", None, None).status,
        204
    );
    assert_eq!(backend.reloads.load(Ordering::SeqCst), 1);

    let closed = start(
        [127, 56, 0, 3],
        ApiConfig {
            open_on_loopback_without_tokens: false,
            ..ApiConfig::default()
        },
        Arc::clone(&backend),
    );
    assert_problem(&get(closed.local_addr(), "/api/v1/stats", None), 401);
    assert_eq!(get(closed.local_addr(), "/healthz/live", None).status, 200);
}

/// 127.56.0.4
#[test]
fn metrics_are_prometheus_text() {
    let handle = start([127, 56, 0, 4], tokens(), TestBackend::new());
    let reply = get(handle.local_addr(), "/metrics", Some("read-token"));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = reply.text();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "# HELP hanse_queries_total Queries received, by transport.",
        "# TYPE hanse_queries_total counter",
        "hanse_queries_total{transport=\"udp\"} 10",
        "hanse_queries_total{transport=\"tcp\"} 2",
        "# HELP hanse_upstream_rtt_seconds Round-trip time to \"upstream\" servers.",
        "# TYPE hanse_upstream_rtt_seconds histogram",
        "hanse_upstream_rtt_seconds_bucket{server=\"192.0.2.1\",le=\"0.01\"} 1",
        "hanse_upstream_rtt_seconds_bucket{server=\"192.0.2.1\",le=\"0.1\"} 3",
        "hanse_upstream_rtt_seconds_bucket{server=\"192.0.2.1\",le=\"+Inf\"} 4",
        "hanse_upstream_rtt_seconds_sum{server=\"192.0.2.1\"} 0.2",
        "hanse_upstream_rtt_seconds_count{server=\"192.0.2.1\"} 4",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
    }
    // Every sample line is NAME[{labels}] VALUE with a value that parses.
    for line in lines.iter().filter(|line| !line.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect("name and value");
        assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "{line}");
    }
}

/// 127.56.0.5
#[test]
fn health_endpoints() {
    let backend = TestBackend::new();
    let handle = start([127, 56, 0, 5], tokens(), Arc::clone(&backend));
    let address = handle.local_addr();
    assert_eq!(get(address, "/healthz/live", None).status, 200);
    let ready = get(address, "/healthz/ready", None);
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["ready"], true);

    backend.ready.store(false, Ordering::SeqCst);
    let not_ready = get(address, "/healthz/ready", None);
    assert_eq!(not_ready.status, 503);
    let body = not_ready.json();
    assert_eq!(body["ready"], false);
    assert_eq!(body["reasons"][0], "feed \"malware\" not loaded yet");
    // Liveness does not depend on readiness.
    assert_eq!(get(address, "/healthz/live", None).status, 200);
}

/// 127.56.0.6
#[test]
fn openapi_document_lists_the_routes() {
    let handle = start([127, 56, 0, 6], tokens(), TestBackend::new());
    let reply = get(handle.local_addr(), "/api/v1/openapi.json", None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/json");
    let document = reply.json();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    let paths = document["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/metrics", "get"),
        ("/healthz/ready", "get"),
        ("/api/v1/stats", "get"),
        ("/api/v1/settings", "get"),
        ("/api/v1/cache", "get"),
        ("/api/v1/cache", "delete"),
        ("/api/v1/feeds", "get"),
        ("/api/v1/feeds/{name}/refresh", "post"),
        ("/api/v1/profiles", "post"),
        ("/api/v1/profiles/{name}", "put"),
        ("/api/v1/profiles/{name}", "delete"),
        ("/api/v1/clients", "post"),
        ("/api/v1/clients/{cidr}", "delete"),
        ("/api/v1/explain", "get"),
        ("/api/v1/querylog", "get"),
        ("/api/v1/querylog", "delete"),
        ("/api/v1/querylog/export", "get"),
        ("/api/v1/reload", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|item| item.get(method)).is_some(),
            "{method} {path}"
        );
    }
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for schema in [
        "Statistics",
        "ProfileDocument",
        "ClientMapping",
        "QueryLogEntry",
        "ProblemDocument",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Operations that need a token document 401, writes also 403; public ones neither.
    assert!(
        paths["/api/v1/stats"]["get"]["responses"]
            .get("401")
            .is_some()
    );
    assert!(
        paths["/api/v1/reload"]["post"]["responses"]
            .get("403")
            .is_some()
    );
    assert!(
        paths["/healthz/ready"]["get"]["responses"]
            .get("401")
            .is_none()
    );
    // Every response of every operation has a description (OpenAPI 3.1 requires one).
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|text| !text.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
}

/// 127.56.0.7
#[test]
fn unknown_paths_and_methods() {
    let handle = start([127, 56, 0, 7], tokens(), TestBackend::new());
    let address = handle.local_addr();
    assert_problem(&get(address, "/api/v1/nothing", Some("read-token")), 404);
    let wrong_method = request(
        address,
        "DELETE",
        "/api/v1/stats",
        Some("admin-token"),
        None,
    );
    assert_problem(&wrong_method, 405);
    assert!(
        wrong_method.header("allow").contains("GET"),
        "{:?}",
        wrong_method.headers
    );
    assert_problem(
        &request(
            address,
            "POST",
            "/api/v1/feeds/unknown/refresh",
            Some("admin-token"),
            None,
        ),
        404,
    );
}

/// 127.56.0.8
#[test]
fn oversize_body_is_refused() {
    let handle = start([127, 56, 0, 8], tokens(), TestBackend::new());
    let address = handle.local_addr();
    let size = 2 * 1024 * 1024;
    let head = format!(
        "POST /api/v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-token\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let mut stream = connect(address);
    let mut writer = stream.try_clone().unwrap();
    // Write from another thread: the server answers before it has read it all.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let mut raw = Vec::new();
    let mut buffer = [0; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(count) => raw.extend_from_slice(&buffer[..count]),
        }
    }
    sender.join().unwrap();
    assert_problem(&parse_reply(&raw), 413);
}

/// 127.56.0.9
#[test]
fn malformed_and_invalid_bodies() {
    let backend = TestBackend::new();
    let handle = start([127, 56, 0, 9], tokens(), Arc::clone(&backend));
    let address = handle.local_addr();
    let admin = Some("admin-token");

    let broken = request(
        address,
        "POST",
        "/api/v1/clients",
        admin,
        Some("{\"cidr\": "),
    );
    let problem = assert_problem(&broken, 400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{problem}"
    );

    let unknown_field = request(
        address,
        "POST",
        "/api/v1/clients",
        admin,
        Some(r#"{"cidr":"10.1.0.0/16","profile":"default","bogus":1}"#),
    );
    assert_eq!(
        assert_problem(&unknown_field, 400)["errors"][0]["field"],
        "bogus"
    );

    let missing = request(
        address,
        "POST",
        "/api/v1/clients",
        admin,
        Some(r#"{"cidr":"10.1.0.0/16"}"#),
    );
    assert_eq!(
        assert_problem(&missing, 400)["errors"][0]["field"],
        "profile"
    );

    let bad_network = request(
        address,
        "POST",
        "/api/v1/clients",
        admin,
        Some(r#"{"cidr":"10.1.0.0/40","profile":"default"}"#),
    );
    assert_eq!(
        assert_problem(&bad_network, 400)["errors"][0]["field"],
        "cidr"
    );

    // The backend's validation: 422 naming the field.
    let no_profile = request(
        address,
        "POST",
        "/api/v1/clients",
        admin,
        Some(r#"{"cidr":"10.1.0.0/16","profile":"kids"}"#),
    );
    assert_eq!(
        assert_problem(&no_profile, 422)["errors"][0]["field"],
        "profile"
    );

    let bad_name = get(
        address,
        &format!("/api/v1/cache?name={}.com", "a".repeat(70)),
        admin,
    );
    assert_eq!(assert_problem(&bad_name, 400)["errors"][0]["field"], "name");
    let bad_type = get(address, "/api/v1/cache?name=example.com&type=BOGUS", admin);
    assert_eq!(assert_problem(&bad_type, 400)["errors"][0]["field"], "type");
    let no_name = get(address, "/api/v1/cache", admin);
    assert_eq!(assert_problem(&no_name, 400)["errors"][0]["field"], "name");
    assert_problem(
        &request(
            address,
            "DELETE",
            "/api/v1/cache?name=example.com&subtree=maybe",
            admin,
            None,
        ),
        400,
    );
    let bad_limit = get(address, "/api/v1/querylog?limit=5000", admin);
    assert_eq!(
        assert_problem(&bad_limit, 400)["errors"][0]["field"],
        "limit"
    );
    let bad_client = get(
        address,
        "/api/v1/explain?name=example.com&client=nobody",
        admin,
    );
    assert_eq!(
        assert_problem(&bad_client, 400)["errors"][0]["field"],
        "client"
    );
    assert!(backend.clients.lock().unwrap().is_empty());
}

/// 127.56.0.10
#[test]
fn profiles_and_clients_round_trip() {
    let backend = TestBackend::new();
    let handle = start([127, 56, 0, 10], tokens(), Arc::clone(&backend));
    let address = handle.local_addr();
    let admin = Some("admin-token");

    let created = request(
        address,
        "POST",
        "/api/v1/profiles",
        admin,
        Some(
            r#"{"name":"kids","feeds":["malware"],"block_answer":["192.0.2.10"],"override":[{"feed":"malware","action":"nxdomain"}]}"#,
        ),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let kids = get(address, "/api/v1/profiles/kids", admin).json();
    assert_eq!(kids["block_answer"][0], "192.0.2.10");
    assert_eq!(kids["override"][0]["enabled"], true);
    assert_eq!(kids["time_zone"], "UTC");
    assert_problem(
        &request(
            address,
            "POST",
            "/api/v1/profiles",
            admin,
            Some(r#"{"name":"kids"}"#),
        ),
        409,
    );
    let unknown_feed = request(
        address,
        "POST",
        "/api/v1/profiles",
        admin,
        Some(r#"{"name":"x","feeds":["ads"]}"#),
    );
    assert_eq!(
        assert_problem(&unknown_feed, 422)["errors"][0]["field"],
        "feeds"
    );
    let renamed = request(
        address,
        "PUT",
        "/api/v1/profiles/kids",
        admin,
        Some(r#"{"name":"teens"}"#),
    );
    assert_eq!(assert_problem(&renamed, 400)["errors"][0]["field"], "name");

    let mapping = request(
        address,
        "POST",
        "/api/v1/clients",
        admin,
        Some(r#"{"cidr":"10.1.0.0/16","profile":"kids"}"#),
    );
    assert_eq!(mapping.status, 201, "{}", mapping.text());
    assert_eq!(
        get(address, "/api/v1/clients/10.1.0.0_16", admin).json()["profile"],
        "kids"
    );
    let updated = request(
        address,
        "PUT",
        "/api/v1/clients/10.1.0.0_16",
        admin,
        Some(r#"{"cidr":"10.1.0.0/16","profile":"default"}"#),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    let list = get(address, "/api/v1/clients", Some("read-token")).json();
    assert_eq!(
        list,
        serde_json::json!([{"cidr": "10.1.0.0/16", "profile": "default"}])
    );
    assert_eq!(
        request(
            address,
            "DELETE",
            "/api/v1/clients/10.1.0.0%2F16",
            admin,
            None
        )
        .status,
        204
    );
    assert_problem(
        &request(
            address,
            "DELETE",
            "/api/v1/clients/10.1.0.0_16",
            admin,
            None,
        ),
        404,
    );
    assert_problem(
        &request(address, "DELETE", "/api/v1/clients/garbage", admin, None),
        400,
    );
    assert_eq!(
        request(address, "DELETE", "/api/v1/profiles/kids", admin, None).status,
        204
    );
    assert_problem(&get(address, "/api/v1/profiles/kids", admin), 404);
}

/// 127.56.0.11
#[test]
fn cache_feeds_explain_and_query_log() {
    let backend = TestBackend::new();
    let handle = start([127, 56, 0, 11], tokens(), Arc::clone(&backend));
    let address = handle.local_addr();
    let admin = Some("admin-token");

    let entries = get(address, "/api/v1/cache?name=Example.COM&type=aaaa", admin).json();
    assert_eq!(entries[0]["record_type"], "AAAA");
    assert_eq!(entries[0]["kind"], "positive");
    let flushed = request(
        address,
        "DELETE",
        "/api/v1/cache?name=example.com&subtree=true",
        admin,
        None,
    );
    assert_eq!(flushed.json()["removed"], 5);
    assert_eq!(
        backend.flushes.lock().unwrap().as_slice(),
        &[("example.com.".to_owned(), true)]
    );

    assert_eq!(
        get(address, "/api/v1/feeds", admin).json()[0]["serial"],
        2026112201
    );
    assert_eq!(
        request(
            address,
            "POST",
            "/api/v1/feeds/malware/refresh",
            admin,
            None
        )
        .status,
        202
    );
    assert_eq!(
        backend.refreshes.lock().unwrap().as_slice(),
        &["malware".to_owned()]
    );

    let explanation = get(
        address,
        "/api/v1/explain?name=ads.example&type=AAAA&client=10.1.2.3&at=1790000000",
        admin,
    )
    .json();
    assert_eq!(explanation["verdict"], "blocked");
    assert_eq!(explanation["client"], "10.1.2.3");
    assert_eq!(explanation["record_type"], "AAAA");

    let log = get(
        address,
        "/api/v1/querylog?name=ADS&name_match=suffix&blocked_only=true&limit=10&before_id=99&client=127.0.0.1",
        admin,
    );
    assert_eq!(log.status, 200, "{}", log.text());
    assert_eq!(log.json()[0]["id"], 7);
    let filter = backend.last_filter.lock().unwrap().clone().unwrap();
    assert_eq!(filter.name.as_deref(), Some("ads"));
    assert_eq!(filter.limit, 10);
    assert_eq!(filter.before_id, Some(99));
    assert!(filter.blocked_only);
    assert_eq!(filter.client, Some("127.0.0.1".parse().unwrap()));

    let export = get(address, "/api/v1/querylog/export?client=192.0.2.1", admin);
    assert_eq!(export.json()[0]["client"], "192.0.2.1");
    assert!(
        export
            .header("content-disposition")
            .starts_with("attachment")
    );
    let erased = request(
        address,
        "DELETE",
        "/api/v1/querylog?client=192.0.2.1",
        admin,
        None,
    );
    assert_eq!(erased.json()["erased"], 3);

    backend.query_log_on.store(false, Ordering::SeqCst);
    let off = assert_problem(&get(address, "/api/v1/querylog", admin), 409);
    assert_eq!(off["detail"], "query log is off");
    assert_eq!(off["type"], "urn:hanse:problem:query-log-off");
    assert_problem(
        &request(
            address,
            "DELETE",
            "/api/v1/querylog?client=192.0.2.1",
            admin,
            None,
        ),
        409,
    );

    // A panicking backend call is a 500, and the listener goes on.
    assert_problem(
        &get(address, "/api/v1/explain?name=panic.example", admin),
        500,
    );
    assert_eq!(
        get(address, "/api/v1/stats", admin).json()["queries_total"],
        12
    );
}

/// 127.56.0.12
#[test]
fn slow_client_is_dropped_without_blocking_others() {
    let config = ApiConfig {
        header_read_timeout: Duration::from_millis(500),
        ..tokens()
    };
    let handle = start([127, 56, 0, 12], config, TestBackend::new());
    let address = handle.local_addr();
    let mut slow = connect(address);
    let connected = Instant::now();
    slow.write_all(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Others are served while the slow client dawdles.
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(address, "/healthz/live", None).status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // The slow client is cut off after the timeout, without an answer to its request.
    let mut rest = Vec::new();
    let waited = Instant::now();
    let outcome = slow.read_to_end(&mut rest);
    let elapsed = waited.elapsed();
    assert!(outcome.is_ok() || rest.is_empty(), "{outcome:?}");
    assert!(elapsed < Duration::from_secs(3), "closed after {elapsed:?}");
    // It was the header timeout (500 ms) that ended it, not an early close.
    assert!(
        connected.elapsed() >= Duration::from_millis(450),
        "closed after {:?}",
        connected.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "{rest:?}"
    );
}

/// 127.56.0.13
#[test]
fn connection_cap_closes_extra_connections() {
    let config = ApiConfig {
        max_connections: 2,
        ..tokens()
    };
    let handle = start([127, 56, 0, 13], config, TestBackend::new());
    let address = handle.local_addr();
    let first = connect(address);
    let second = connect(address);
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect(address);
    let _ = third.write_all(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    let _ = third.read_to_end(&mut raw);
    assert!(
        raw.is_empty(),
        "a connection over the cap was served: {:?}",
        String::from_utf8_lossy(&raw)
    );
    drop((first, second));
    // Bounded retry: the slots come back once the idle connections are closed.
    let mut served = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(50));
        let mut stream = connect(address);
        let _ =
            stream.write_all(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut raw = Vec::new();
        if stream.read_to_end(&mut raw).is_ok() && raw.starts_with(b"HTTP/1.1 200") {
            served = true;
            break;
        }
    }
    assert!(served, "no slot came back");
}

/// 127.56.0.14
#[test]
fn dashboard_is_served_with_its_ids() {
    let handle = start([127, 56, 0, 14], tokens(), TestBackend::new());
    let address = handle.local_addr();
    let page = get(address, "/", None);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(
        page.header("content-security-policy")
            .contains("default-src 'none'")
    );
    let html = page.text();
    for id in [
        "qps",
        "blocked-share",
        "cache-hit-rate",
        "queries-total",
        "top-names",
        "top-blocked",
        "top-clients",
        "token",
        "client-form",
        "client-cidr",
        "client-profile",
        "client-submit",
        "client-list",
        "profile-form",
        "profile-list",
        "querylog-form",
        "querylog-table",
        "explanation",
        "feeds-table",
        "settings-table",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external asset in the page"
    );
    let script = get(address, "/assets/app.js", None);
    assert_eq!(
        script.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().contains("sessionStorage"));
    assert!(script.text().contains("\"why?\""));
    let style = get(address, "/assets/app.css", None);
    assert_eq!(style.header("content-type"), "text/css; charset=utf-8");
    assert!(style.text().contains("@media"));
}

/// 127.56.0.15
#[test]
fn stop_is_bounded_with_open_connections() {
    let handle = start([127, 56, 0, 15], tokens(), TestBackend::new());
    let address = handle.local_addr();
    let idle = connect(address);
    let mut half = connect(address);
    half.write_all(b"GET /healthz/live HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    handle.stop();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stop took {:?}",
        started.elapsed()
    );
    // The listener is gone.
    assert!(TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err());
    drop((idle, half));
}

/// Address 127.91.1.1 (the trust-anchor work's range).
#[test]
fn negative_trust_anchors_are_checked_listed_and_removed() {
    let backend = TestBackend::new();
    let handle = start([127, 91, 1, 1], tokens(), Arc::clone(&backend));
    let address = handle.local_addr();
    let admin = Some("admin-token");
    let path = "/api/v1/dnssec/negative-trust-anchors";

    let added = request(
        address,
        "POST",
        path,
        admin,
        Some(r#"{"name":"broken.example","expires_in":3600}"#),
    );
    assert_eq!(added.status, 201, "{}", added.text());
    assert_eq!(added.json()["name"], "broken.example.");
    assert_eq!(added.json()["expires_in"], 3600);
    let defaulted = request(
        address,
        "POST",
        path,
        admin,
        Some(r#"{"name":"other.example."}"#),
    );
    assert_eq!(defaulted.status, 201, "{}", defaulted.text());
    assert_eq!(defaulted.json()["expires_in"], 86_400);

    let read = request(
        address,
        "POST",
        path,
        Some("read-token"),
        Some(r#"{"name":"x."}"#),
    );
    assert_problem(&read, 403);
    let bad_name = request(address, "POST", path, admin, Some(r#"{"name":"a..b"}"#));
    assert_eq!(assert_problem(&bad_name, 400)["errors"][0]["field"], "name");
    for lifetime in ["0", "604801"] {
        let body = format!(r#"{{"name":"x.example.","expires_in":{lifetime}}}"#);
        let too_long = request(address, "POST", path, admin, Some(&body));
        assert_eq!(
            assert_problem(&too_long, 422)["errors"][0]["field"],
            "expires_in"
        );
    }
    let unknown = request(
        address,
        "POST",
        path,
        admin,
        Some(r#"{"name":"x.","for":1}"#),
    );
    assert_problem(&unknown, 400);

    let listed = get(address, path, Some("read-token"));
    assert_eq!(listed.status, 200);
    let names: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|anchor| anchor["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["configured.example.", "broken.example.", "other.example."]
    );

    let removed = request(
        address,
        "DELETE",
        &format!("{path}/broken.example."),
        admin,
        None,
    );
    assert_eq!(removed.status, 204, "{}", removed.text());
    let again = request(
        address,
        "DELETE",
        &format!("{path}/broken.example."),
        admin,
        None,
    );
    assert_problem(&again, 404);
    let configured = request(
        address,
        "DELETE",
        &format!("{path}/configured.example."),
        admin,
        None,
    );
    assert_problem(&configured, 422);
    let read_delete = request(
        address,
        "DELETE",
        &format!("{path}/other.example."),
        Some("read-token"),
        None,
    );
    assert_problem(&read_delete, 403);
    assert_eq!(backend.negative_anchors.lock().unwrap().len(), 1);
}
