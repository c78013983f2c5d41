//! A small blocking client of another node's API, for `hanse fleet status`:
//! one `GET` per connection over HTTP/1.1 (RFC 9112) with `Connection:
//! close`, an optional bearer token (RFC 6750), and the JSON bodies read
//! into the types of [`crate::model`].
//!
//! It lives here because this crate is the only one that knows HTTP and
//! JSON. Every exchange is bounded: the address lookup and connection by
//! the timeout, the whole exchange by one deadline, the response by
//! [`MAX_RESPONSE_BYTES`].
//!
//! Limitations: plain HTTP only (no TLS, no proxies, no redirects); a node
//! is named `host:port` (an IPv6 address in brackets); bodies with
//! `Content-Length` or chunked transfer coding are understood, anything
//! else is read to the end of the connection.

use crate::model::{FeedState, Readiness};
use serde::de::DeserializeOwned;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The largest response accepted, head and body.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Why a node's API could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node is not written `host:port`.
    #[error("{0:?} is not host:port")]
    NodeSyntax(String),
    /// The host name gave no address.
    #[error("cannot find the address of {node}: {source}")]
    Lookup {
        /// The node as given.
        node: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// No address of the node accepted a connection.
    #[error("cannot connect to {node}: {source}")]
    Connect {
        /// The node as given.
        node: String,
        /// The last connection error.
        #[source]
        source: std::io::Error,
    },
    /// Sending the request or reading the response failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The exchange took longer than the timeout.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// The response exceeded [`MAX_RESPONSE_BYTES`].
    #[error("the response is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The response is not HTTP/1.x as expected.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    /// The node answered with an error status.
    #[error("HTTP {status}: {detail}")]
    Status {
        /// The status code.
        status: u16,
        /// The problem document's `detail` or `title`, or the body.
        detail: String,
    },
    /// The body is not the JSON expected.
    #[error("unexpected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// One response: status and body (transfer coding removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// A node's API, asked with blocking calls.
#[derive(Debug, Clone)]
pub struct NodeClient {
    node: String,
    token: Option<String>,
    timeout: Duration,
}

impl NodeClient {
    /// A client of the API at `node` (`host:port`, or `http://host:port`),
    /// sending `token` as a bearer token if given; `timeout` bounds each
    /// exchange from lookup to the last byte.
    pub fn new(node: &str, token: Option<&str>, timeout: Duration) -> NodeClient {
        let node = node.strip_prefix("http://").unwrap_or(node);
        NodeClient {
            node: node.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
            timeout,
        }
    }

    /// The node as written (`host:port`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// `GET /healthz/ready`: the readiness, whether ready (200) or not (503).
    pub fn readiness(&self) -> Result<Readiness, ClientError> {
        let response = self.get("/healthz/ready")?;
        match response.status {
            200 | 503 => Ok(serde_json::from_slice(&response.body)?),
            status => Err(status_error(status, &response.body)),
        }
    }

    /// `GET /api/v1/feeds`: the state of every feed of the node.
    pub fn feeds(&self) -> Result<Vec<FeedState>, ClientError> {
        self.get_json("/api/v1/feeds")
    }

    /// `GET path`, expecting 200 and a JSON body of type `T`.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.get(path)?;
        if response.status != 200 {
            return Err(status_error(response.status, &response.body));
        }
        Ok(serde_json::from_slice(&response.body)?)
    }

    /// `method path` with an optional JSON body, expecting a 2xx status:
    /// the body, a JSON document indented for people (empty for 204).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<String, ClientError> {
        let response = self.request(method, path, body)?;
        if !(200..300).contains(&response.status) {
            return Err(status_error(response.status, &response.body));
        }
        if response.body.is_empty() {
            return Ok(String::new());
        }
        let document: serde_json::Value = serde_json::from_slice(&response.body)?;
        Ok(serde_json::to_string_pretty(&document)?)
    }

    /// `GET path` (which starts with `/`): the status and body, whatever
    /// the status.
    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None)
    }

    /// `method path` with an optional JSON body: the status and body,
    /// whatever the status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Response, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect()?;
        let authorization = match &self.token {
            Some(token) => format!("Authorization: Bearer {token}\r\n"),
            None => String::new(),
        };
        let content = match body {
            Some(body) => format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            None if method == "GET" => "\r\n".to_owned(),
            None => "Content-Length: 0\r\n\r\n".to_owned(),
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
             User-Agent: hanse-cli\r\n{authorization}Connection: close\r\n{content}",
            self.node
        );
        stream.set_write_timeout(Some(self.remaining(deadline)?))?;
        stream.write_all(request.as_bytes())?;
        let mut received = Vec::new();
        let mut buffer = [0; 16 * 1024];
        loop {
            stream.set_read_timeout(Some(self.remaining(deadline)?))?;
            let count = match stream.read(&mut buffer) {
                Ok(count) => count,
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ClientError::Timeout(self.timeout));
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            };
            if count == 0 {
                break;
            }
            if received.len() + count > MAX_RESPONSE_BYTES {
                return Err(ClientError::TooLarge);
            }
            received.extend_from_slice(&buffer[..count]);
            if let Some(response) = complete_response(&received)? {
                return Ok(response);
            }
        }
        parse_response(&received, true)
    }

    fn remaining(&self, deadline: Instant) -> Result<Duration, ClientError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(ClientError::Timeout(self.timeout))
        } else {
            Ok(left)
        }
    }

    fn connect(&self) -> Result<TcpStream, ClientError> {
        let Some((host, port)) = self.node.rsplit_once(':') else {
            return Err(ClientError::NodeSyntax(self.node.clone()));
        };
        if host.is_empty() || port.parse::<u16>().is_err() || host.contains('/') {
            return Err(ClientError::NodeSyntax(self.node.clone()));
        }
        let addresses: Vec<SocketAddr> = self
            .node
            .to_socket_addrs()
            .map_err(|source| ClientError::Lookup {
                node: self.node.clone(),
                source,
            })?
            .collect();
        let mut last_error =
            std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
        for address in addresses {
            match TcpStream::connect_timeout(&address, self.timeout) {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = error,
            }
        }
        Err(ClientError::Connect {
            node: self.node.clone(),
            source: last_error,
        })
    }
}

/// The error for a status other than the one expected: the problem
/// document's `detail` (or `title`) when there is one, else the body.
fn status_error(status: u16, body: &[u8]) -> ClientError {
    let problem: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let detail = problem
        .as_ref()
        .and_then(|value| value.get("detail").or_else(|| value.get("title")))
        .and_then(serde_json::Value::as_str)
        .map_or_else(
            || {
                let text = String::from_utf8_lossy(body);
                text.chars().take(200).collect::<String>()
            },
            str::to_owned,
        );
    ClientError::Status { status, detail }
}

/// The response if `received` already holds all of it (by its
/// `Content-Length` or the last chunk), `None` if more is to come.
fn complete_response(received: &[u8]) -> Result<Option<Response>, ClientError> {
    match parse_response(received, false) {
        Ok(response) => Ok(Some(response)),
        Err(ClientError::Malformed(INCOMPLETE)) => Ok(None),
        Err(error) => Err(error),
    }
}

const INCOMPLETE: &str = "the response ends early";

/// Parses a whole HTTP/1.x response. With `at_end`, the connection is
/// closed, so a body without length runs to the end.
pub fn parse_response(received: &[u8], at_end: bool) -> Result<Response, ClientError> {
    let Some(head_end) = received.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Err(ClientError::Malformed(INCOMPLETE));
    };
    let head = std::str::from_utf8(&received[..head_end])
        .map_err(|_| ClientError::Malformed("the head is not text"))?;
    let rest = &received[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ClientError::Malformed("not an HTTP/1.x status line"));
    }
    let status = parts
        .next()
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..600).contains(code))
        .ok_or(ClientError::Malformed("no status code"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ClientError::Malformed("a header line without a colon"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse::<usize>()
                .map_err(|_| ClientError::Malformed("a bad Content-Length"))?;
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = content_length {
        if rest.len() < length {
            return Err(ClientError::Malformed(INCOMPLETE));
        }
        rest[..length].to_vec()
    } else if at_end || status == 204 || status == 304 {
        rest.to_vec()
    } else {
        return Err(ClientError::Malformed(INCOMPLETE));
    };
    Ok(Response { status, body })
}

/// Removes the chunked transfer coding (RFC 9112 §7.1); extensions and
/// trailers are ignored.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|window| window == b"\r\n") else {
            return Err(ClientError::Malformed(INCOMPLETE));
        };
        let line = std::str::from_utf8(&data[..line_end])
            .map_err(|_| ClientError::Malformed("a chunk size is not text"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ClientError::Malformed("a bad chunk size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if data.len() < size.saturating_add(2) {
            return Err(ClientError::Malformed(INCOMPLETE));
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err(ClientError::Malformed("a chunk does not end with CRLF"));
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_by_length_chunks_and_end_of_connection() {
        let response =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"[]");
        let chunked = b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n\
                        3\r\n{\"a\r\n2;x=y\r\n\":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n";
        let response = parse_response(chunked, false).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.body, b"{\"a\":1}");
        let response = parse_response(b"HTTP/1.0 200 OK\r\n\r\nrest", true).unwrap();
        assert_eq!(response.body, b"rest");
    }

    #[test]
    fn incomplete_and_malformed_responses() {
        for partial in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\n\r\nno length yet",
        ] {
            assert!(matches!(complete_response(partial), Ok(None)));
        }
        for bad in [
            &b"SMTP 220 hello\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
        ] {
            assert!(
                matches!(parse_response(bad, true), Err(ClientError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A chunk size near usize::MAX neither overflows nor allocates.
        assert!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
                true
            )
            .is_err()
        );
    }

    #[test]
    fn problem_details_become_the_error_text() {
        let error = status_error(
            401,
            br#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"a bearer token is required"}"#,
        );
        assert_eq!(error.to_string(), "HTTP 401: a bearer token is required");
        assert_eq!(
            status_error(502, b"bad gateway").to_string(),
            "HTTP 502: bad gateway"
        );
    }

    #[test]
    fn nodes_must_be_host_and_port() {
        for node in ["nohost", ":8053", "host:port", "host:8053/path"] {
            let client = NodeClient::new(node, None, Duration::from_millis(200));
            assert!(
                matches!(client.get("/"), Err(ClientError::NodeSyntax(_))),
                "{node}"
            );
        }
        let client = NodeClient::new("http://127.0.0.1:8053/", None, Duration::from_secs(1));
        assert_eq!(client.node(), "127.0.0.1:8053");
    }

    #[test]
    fn a_refused_connection_is_reported() {
        // A port just released on 127.67.9.1: nothing listens there.
        let listener = std::net::TcpListener::bind("127.67.9.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client = NodeClient::new(&address.to_string(), None, Duration::from_secs(2));
        assert!(matches!(client.feeds(), Err(ClientError::Connect { .. })));
    }

    #[test]
    fn a_silent_node_times_out() {
        let listener = std::net::TcpListener::bind("127.67.9.2:0").unwrap();
        let address = listener.local_addr().unwrap();
        let client = NodeClient::new(&address.to_string(), None, Duration::from_millis(300));
        let started = Instant::now();
        assert!(matches!(client.readiness(), Err(ClientError::Timeout(_))));
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }
}
