//! Encrypted upstream transports: DNS over TLS (RFC 7858, RFC 8310) and DNS
//! over HTTPS (RFC 8484) to forwarders and other configured servers.
//!
//! An [`EncryptedUpstream`] names a server by its address and says how to
//! reach it: TLS with the ALPN token "dot", or HTTPS over HTTP/2 (ALPN "h2")
//! with a path. The server's certificate must chain to the configured
//! [`UpstreamTrust`] (the system store, or a private CA) and be valid for the
//! configured TLS name (RFC 8310 §8, strict privacy profile: no fallback to
//! cleartext or to an unauthenticated connection).
//!
//! Connections are shared: one long-lived connection per upstream, opened by
//! the first query that needs it and used by every worker.
//! - DoT pipelines queries on the connection and matches responses by ID
//!   (RFC 7766 §6.2.1.1, §7); an ID already outstanding on the connection is
//!   replaced on the wire and put back in the response. Queries sent
//!   together are written in one TLS record flush.
//! - DoH sends each query as a POST of `application/dns-message` on its own
//!   HTTP/2 stream, with the DNS ID 0 (RFC 8484 §4.1); the caller's ID is put
//!   back in the response.
//!
//! At most [`MAX_OUTSTANDING`] queries wait on one DoT connection; more wait
//! in a bounded queue (and time out there). A connection that sits idle for
//! [`IDLE_TIMEOUT`], that fails, or whose server stopped answering (a query
//! given up on without any response since it was sent) is closed; the next
//! query opens a new one. A failure on a reused connection is retried once
//! on a fresh one. Queries are padded to a multiple of 128 bytes by the
//! caller (RFC 8467 §4.1, `transport::compose_upstream_query`).
//!
//! # Limitations
//! - One connection per upstream, not per worker: a busy upstream is limited
//!   by one TLS session's throughput.
//! - DoH: HTTP/2 only (no HTTP/1.1, no HTTP/3), POST only, and the response
//!   must be `200` with at most 65,535 bytes of body; its `cache-control`
//!   is ignored (the DNS TTLs rule).
//! - No TLS client certificates, no SPKI pinning (RFC 7858 §4.2), no
//!   opportunistic profile.

use crate::transport::{TransportError, UpstreamQuery, response_matches};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The DoT port (RFC 7858 §3.1).
pub const DEFAULT_TLS_PORT: u16 = 853;
/// The HTTPS port.
pub const DEFAULT_HTTPS_PORT: u16 = 443;
/// The DoH path used when none is configured (the common choice; RFC 8484
/// leaves it to the URI template).
pub const DEFAULT_HTTPS_PATH: &str = "/dns-query";
/// How long an unused connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Queries outstanding on one DoT connection at most.
pub const MAX_OUTSTANDING: usize = 128;
/// Requests waiting for a DoT connection's writer at most.
const QUEUE_CAPACITY: usize = 256;
/// The largest DoH response body accepted.
const MAX_HTTPS_RESPONSE: usize = 65_535;
/// How often a DoT connection looks for abandoned queries and idleness.
const HOUSEKEEPING_PERIOD: Duration = Duration::from_millis(500);
/// Connections remembered at most; the table is cleared beyond (only reloads
/// with ever new upstreams could get there).
const MAX_CONNECTIONS: usize = 1024;

/// Why an encrypted upstream cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamTlsError {
    /// The TLS name is neither a DNS name nor an IP address.
    #[error("\"{0}\" is not a valid TLS server name")]
    InvalidTlsName(String),
    /// The DoH path does not start with `/` or holds characters a URI path cannot.
    #[error("\"{0}\" is not a valid HTTPS path (it must start with \"/\")")]
    InvalidPath(String),
    /// The PEM text holds no certificate, or a broken one.
    #[error("no usable CA certificate: {0}")]
    CaCertificates(String),
    /// No trusted certificate authority at all.
    #[error("the system trust store holds no usable certificate; give a CA file")]
    NoTrustAnchors,
    /// rustls refused the settings.
    #[error("TLS settings refused: {0}")]
    Settings(String),
}

/// The certificate authorities an upstream's certificate must chain to.
#[derive(Clone)]
pub struct UpstreamTrust {
    roots: Arc<rustls::RootCertStore>,
}

impl fmt::Debug for UpstreamTrust {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "UpstreamTrust({} roots)", self.roots.len())
    }
}

impl UpstreamTrust {
    /// The operating system's trust store (via `rustls-native-certs`).
    pub fn system() -> Result<UpstreamTrust, UpstreamTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            return Err(UpstreamTlsError::NoTrustAnchors);
        }
        Ok(UpstreamTrust {
            roots: Arc::new(roots),
        })
    }

    /// Only the certificates in `pem` (a private CA): the system store is not used.
    pub fn from_pem(pem: &[u8]) -> Result<UpstreamTrust, UpstreamTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate =
                certificate.map_err(|error| UpstreamTlsError::CaCertificates(error.to_string()))?;
            roots
                .add(certificate)
                .map_err(|error| UpstreamTlsError::CaCertificates(error.to_string()))?;
        }
        if roots.is_empty() {
            return Err(UpstreamTlsError::CaCertificates(
                "no CERTIFICATE block found".to_owned(),
            ));
        }
        Ok(UpstreamTrust {
            roots: Arc::new(roots),
        })
    }
}

/// How an encrypted upstream is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptedProtocol {
    /// DNS over TLS (RFC 7858).
    Tls,
    /// DNS over HTTPS (RFC 8484) with POST to this path over HTTP/2.
    Https {
        /// The path of the URI template, starting with `/`.
        path: String,
    },
}

/// A server reached over TLS or HTTPS instead of UDP and TCP.
#[derive(Clone)]
pub struct EncryptedUpstream {
    address: SocketAddr,
    tls_name: String,
    server_name: ServerName<'static>,
    protocol: EncryptedProtocol,
    connector: TlsConnector,
}

impl fmt::Debug for EncryptedUpstream {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("EncryptedUpstream")
            .field("address", &self.address)
            .field("tls_name", &self.tls_name)
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl EncryptedUpstream {
    /// An upstream at `address` whose certificate must be valid for
    /// `tls_name` and chain to `trust`.
    pub fn new(
        address: SocketAddr,
        tls_name: &str,
        protocol: EncryptedProtocol,
        trust: &UpstreamTrust,
    ) -> Result<EncryptedUpstream, UpstreamTlsError> {
        let server_name = ServerName::try_from(tls_name.to_owned())
            .map_err(|_| UpstreamTlsError::InvalidTlsName(tls_name.to_owned()))?;
        if let EncryptedProtocol::Https { path } = &protocol
            && (!path.starts_with('/')
                || path
                    .bytes()
                    .any(|byte| byte <= b' ' || byte >= 0x7f || byte == b'#'))
        {
            return Err(UpstreamTlsError::InvalidPath(path.clone()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| UpstreamTlsError::Settings(error.to_string()))?
            .with_root_certificates(Arc::clone(&trust.roots))
            .with_no_client_auth();
        config.alpn_protocols = match protocol {
            EncryptedProtocol::Tls => vec![b"dot".to_vec()],
            EncryptedProtocol::Https { .. } => vec![b"h2".to_vec()],
        };
        Ok(EncryptedUpstream {
            address,
            tls_name: tls_name.to_owned(),
            server_name,
            protocol,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The server's address and port.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The name the certificate is checked against.
    pub fn tls_name(&self) -> &str {
        &self.tls_name
    }

    /// TLS or HTTPS.
    pub fn protocol(&self) -> &EncryptedProtocol {
        &self.protocol
    }

    /// What identifies a connection to this upstream in the pool.
    fn key(&self) -> ConnectionKey {
        let path = match &self.protocol {
            EncryptedProtocol::Tls => None,
            EncryptedProtocol::Https { path } => Some(path.clone()),
        };
        (self.address, self.tls_name.clone(), path)
    }

    /// The `:authority` of DoH requests: the TLS name, with the port unless 443.
    fn authority(&self) -> String {
        let host = if self.tls_name.contains(':') {
            format!("[{}]", self.tls_name)
        } else {
            self.tls_name.clone()
        };
        if self.address.port() == DEFAULT_HTTPS_PORT {
            host
        } else {
            format!("{host}:{}", self.address.port())
        }
    }
}

type ConnectionKey = (SocketAddr, String, Option<String>);

/// One query waiting for a DoT connection's writer.
struct DotRequest {
    message: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
}

/// A live connection, cheap to clone.
#[derive(Clone)]
enum Connection {
    Tls(mpsc::Sender<DotRequest>),
    Https(SendRequest<Full<Bytes>>),
}

impl Connection {
    fn is_closed(&self) -> bool {
        match self {
            Connection::Tls(requests) => requests.is_closed(),
            Connection::Https(sender) => sender.is_closed(),
        }
    }
}

/// The connection of one upstream, if open, and when it was last used.
#[derive(Default)]
struct Slot {
    connection: tokio::sync::Mutex<Option<(Connection, Instant)>>,
}

/// The shared connections of a [`crate::NetworkTransport`].
#[derive(Default)]
pub(crate) struct ConnectionPool {
    slots: parking_lot::Mutex<HashMap<ConnectionKey, Arc<Slot>>>,
}

impl fmt::Debug for ConnectionPool {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "ConnectionPool({} upstreams)",
            self.slots.lock().len()
        )
    }
}

impl ConnectionPool {
    fn slot(&self, upstream: &EncryptedUpstream) -> Arc<Slot> {
        let mut slots = self.slots.lock();
        let key = upstream.key();
        if slots.len() >= MAX_CONNECTIONS && !slots.contains_key(&key) {
            slots.clear();
        }
        Arc::clone(slots.entry(key).or_default())
    }

    /// The open connection of `upstream`, or a new one; whether it is new.
    async fn connection(
        &self,
        slot: &Slot,
        upstream: &EncryptedUpstream,
        fresh: bool,
    ) -> Result<(Connection, bool), TransportError> {
        let mut guard = slot.connection.lock().await;
        let now = Instant::now();
        if !fresh
            && let Some((connection, last_used)) = guard.as_mut()
            && !connection.is_closed()
            && now.duration_since(*last_used) < IDLE_TIMEOUT
        {
            *last_used = now;
            return Ok((connection.clone(), false));
        }
        *guard = None;
        let connection = connect(upstream).await?;
        *guard = Some((connection.clone(), now));
        Ok((connection, true))
    }

    /// Sends `query` to `upstream` and waits for the matching response.
    pub(crate) async fn exchange(
        &self,
        query: UpstreamQuery<'_>,
        upstream: &EncryptedUpstream,
    ) -> Result<Vec<u8>, TransportError> {
        let work = async {
            let slot = self.slot(upstream);
            let mut fresh = false;
            loop {
                let (connection, new) = self.connection(&slot, upstream, fresh).await?;
                let outcome = match connection {
                    Connection::Tls(requests) => exchange_tls(&requests, query.message).await,
                    Connection::Https(sender) => {
                        exchange_https(sender, upstream, query.message).await
                    }
                };
                match outcome {
                    Ok(response) => {
                        if response_matches(&response, query.id, query.name, query.rtype) {
                            return Ok(response);
                        }
                        tracing::debug!(server = %upstream.address, ?response, "encrypted response does not match");
                        return Err(TransportError::Malformed);
                    }
                    // A reused connection may have been closed by the server
                    // meanwhile: one more try on a fresh one.
                    Err(TransportError::Network) if !new => fresh = true,
                    Err(error) => {
                        tracing::debug!(server = %upstream.address, %error, "encrypted exchange failed");
                        return Err(error);
                    }
                }
            }
        };
        tokio::time::timeout(query.timeout, work)
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

/// A TCP connection with TLS to `upstream`, certificate checked.
async fn connect_tls(upstream: &EncryptedUpstream) -> Result<TlsStream<TcpStream>, TransportError> {
    let tcp = TcpStream::connect(upstream.address)
        .await
        .map_err(|_| TransportError::Network)?;
    let _ = tcp.set_nodelay(true);
    upstream
        .connector
        .connect(upstream.server_name.clone(), tcp)
        .await
        .map_err(|error| {
            tracing::warn!(
                server = %upstream.address,
                tls_name = %upstream.tls_name,
                %error,
                "TLS handshake with upstream failed"
            );
            TransportError::Network
        })
}

/// Opens a connection to `upstream` and starts its task on this runtime.
async fn connect(upstream: &EncryptedUpstream) -> Result<Connection, TransportError> {
    let stream = connect_tls(upstream).await?;
    match upstream.protocol {
        EncryptedProtocol::Tls => {
            let (requests, receiver) = mpsc::channel(QUEUE_CAPACITY);
            tokio::spawn(drive_tls(stream, receiver, upstream.address));
            Ok(Connection::Tls(requests))
        }
        EncryptedProtocol::Https { .. } => {
            if stream.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
                tracing::warn!(
                    server = %upstream.address,
                    tls_name = %upstream.tls_name,
                    "HTTPS upstream did not agree to HTTP/2 (ALPN h2)"
                );
                return Err(TransportError::Network);
            }
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .map_err(|_| TransportError::Network)?;
            let address = upstream.address;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(server = %address, %error, "HTTPS upstream connection ended");
                }
            });
            Ok(Connection::Https(sender))
        }
    }
}

/// One DoT exchange through the connection's task.
async fn exchange_tls(
    requests: &mpsc::Sender<DotRequest>,
    message: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let (reply, response) = oneshot::channel();
    requests
        .send(DotRequest {
            message: message.to_vec(),
            reply,
        })
        .await
        .map_err(|_| TransportError::Network)?;
    // A dropped reply means the connection failed or closed.
    response.await.map_err(|_| TransportError::Network)
}

/// A query sent on a DoT connection and not yet answered.
struct Pending {
    /// The ID the caller chose, put back in the response.
    original_id: u16,
    reply: oneshot::Sender<Vec<u8>>,
    sent: Instant,
}

/// The task of one DoT connection: writes queued queries (several per
/// flush), reads responses and hands each to its query by ID; ends on
/// failure, idleness or an unresponsive server.
async fn drive_tls(
    mut stream: TlsStream<TcpStream>,
    mut requests: mpsc::Receiver<DotRequest>,
    server: SocketAddr,
) {
    let mut pending: HashMap<u16, Pending> = HashMap::new();
    let mut received: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut outgoing: Vec<u8> = Vec::with_capacity(4096);
    let mut last_response = Instant::now();
    let mut last_activity = Instant::now();
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_PERIOD);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let room = pending.len() < MAX_OUTSTANDING;
        tokio::select! {
            request = requests.recv(), if room => {
                let Some(request) = request else {
                    // Every handle is gone: the pool forgot this connection.
                    break;
                };
                outgoing.clear();
                queue_query(&mut pending, &mut outgoing, request);
                while pending.len() < MAX_OUTSTANDING {
                    match requests.try_recv() {
                        Ok(request) => queue_query(&mut pending, &mut outgoing, request),
                        Err(_) => break,
                    }
                }
                if stream.write_all(&outgoing).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
                last_activity = Instant::now();
            }
            read = stream.read(&mut chunk) => {
                let count = match read {
                    Ok(0) | Err(_) => break,
                    Ok(count) => count,
                };
                received.extend_from_slice(&chunk[..count]);
                let mut start = 0;
                while let Some(prefix) = received.get(start..start + 2) {
                    let length = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
                    let Some(message) = received.get(start + 2..start + 2 + length) else {
                        break;
                    };
                    deliver(&mut pending, message);
                    start += 2 + length;
                }
                received.drain(..start);
                last_response = Instant::now();
                last_activity = last_response;
            }
            _ = housekeeping.tick() => {
                // Queries whose callers gave up: a server that has sent
                // nothing since one of them was sent is not answering.
                let mut stalled = false;
                pending.retain(|_, query| {
                    if query.reply.is_closed() {
                        stalled |= query.sent >= last_response;
                        false
                    } else {
                        true
                    }
                });
                if stalled {
                    tracing::debug!(server = %server, "DoT upstream stopped answering; closing");
                    break;
                }
                if pending.is_empty() && last_activity.elapsed() >= IDLE_TIMEOUT {
                    break;
                }
            }
        }
    }
    // Dropping the pending replies tells their callers the connection is gone.
    requests.close();
    let _ = stream.shutdown().await;
}

/// Adds `request` to the bytes to write, under an ID not outstanding yet.
fn queue_query(pending: &mut HashMap<u16, Pending>, outgoing: &mut Vec<u8>, request: DotRequest) {
    let DotRequest { mut message, reply } = request;
    let (Some(id_bytes), Ok(length)) = (message.get(..2), u16::try_from(message.len())) else {
        // Nothing a resolver composes; the caller sees a network error.
        return;
    };
    let original_id = u16::from_be_bytes([id_bytes[0], id_bytes[1]]);
    let mut wire_id = original_id;
    while pending.contains_key(&wire_id) {
        wire_id = rand::random();
    }
    message[..2].copy_from_slice(&wire_id.to_be_bytes());
    outgoing.extend_from_slice(&length.to_be_bytes());
    outgoing.extend_from_slice(&message);
    pending.insert(
        wire_id,
        Pending {
            original_id,
            reply,
            sent: Instant::now(),
        },
    );
}

/// Hands a response to the query with its ID, if any, with the caller's ID.
fn deliver(pending: &mut HashMap<u16, Pending>, message: &[u8]) {
    let Some(id_bytes) = message.get(..2) else {
        return;
    };
    let wire_id = u16::from_be_bytes([id_bytes[0], id_bytes[1]]);
    let Some(query) = pending.remove(&wire_id) else {
        // A response to nothing we asked (or asked and gave up on).
        return;
    };
    let mut response = message.to_vec();
    response[..2].copy_from_slice(&query.original_id.to_be_bytes());
    let _ = query.reply.send(response);
}

/// One DoH exchange: a POST on a new stream of the connection.
async fn exchange_https(
    mut sender: SendRequest<Full<Bytes>>,
    upstream: &EncryptedUpstream,
    message: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let (Some(id_bytes), EncryptedProtocol::Https { path }) =
        (message.get(..2), &upstream.protocol)
    else {
        return Err(TransportError::Malformed);
    };
    let original_id = [id_bytes[0], id_bytes[1]];
    let mut body = message.to_vec();
    body[..2].copy_from_slice(&[0, 0]);
    let uri = format!("https://{}{path}", upstream.authority());
    let request = hyper::Request::post(uri)
        .header(hyper::header::CONTENT_TYPE, "application/dns-message")
        .header(hyper::header::ACCEPT, "application/dns-message")
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| TransportError::Malformed)?;
    sender.ready().await.map_err(|_| TransportError::Network)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| TransportError::Network)?;
    if response.status() != hyper::StatusCode::OK {
        tracing::debug!(
            server = %upstream.address,
            status = %response.status(),
            "HTTPS upstream answered with an error status"
        );
        return Err(TransportError::Malformed);
    }
    let body = Limited::new(response.into_body(), MAX_HTTPS_RESPONSE)
        .collect()
        .await
        .map_err(|_| TransportError::Malformed)?
        .to_bytes();
    if body.len() < 12 {
        return Err(TransportError::Malformed);
    }
    let mut answer = body.to_vec();
    answer[..2].copy_from_slice(&original_id);
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: u16) -> (DotRequest, oneshot::Receiver<Vec<u8>>) {
        let (reply, receiver) = oneshot::channel();
        let mut message = vec![0u8; 12];
        message[..2].copy_from_slice(&id.to_be_bytes());
        (DotRequest { message, reply }, receiver)
    }

    #[test]
    fn colliding_ids_are_renumbered_on_the_wire_and_restored() {
        let mut pending = HashMap::new();
        let mut outgoing = Vec::new();
        let (first, mut first_reply) = request(7);
        let (second, mut second_reply) = request(7);
        queue_query(&mut pending, &mut outgoing, first);
        queue_query(&mut pending, &mut outgoing, second);
        assert_eq!(pending.len(), 2);
        assert_eq!(outgoing.len(), 2 * (2 + 12));
        let first_wire = u16::from_be_bytes([outgoing[2], outgoing[3]]);
        let second_wire = u16::from_be_bytes([outgoing[16], outgoing[17]]);
        assert_eq!(first_wire, 7);
        assert_ne!(second_wire, 7);
        // Answered out of order.
        let mut response = vec![0u8; 12];
        response[..2].copy_from_slice(&second_wire.to_be_bytes());
        response[2] = 0x80;
        deliver(&mut pending, &response);
        assert_eq!(second_reply.try_recv().unwrap()[..2], [0, 7]);
        assert!(first_reply.try_recv().is_err());
        response[..2].copy_from_slice(&7u16.to_be_bytes());
        deliver(&mut pending, &response);
        assert_eq!(first_reply.try_recv().unwrap()[..2], [0, 7]);
        assert!(pending.is_empty());
        // An unknown ID is dropped.
        deliver(&mut pending, &response);
    }

    #[test]
    fn settings_are_checked() {
        let pem = b"not a certificate";
        assert!(matches!(
            UpstreamTrust::from_pem(pem),
            Err(UpstreamTlsError::CaCertificates(_))
        ));
        let trust = UpstreamTrust {
            roots: Arc::new(rustls::RootCertStore::empty()),
        };
        let address: SocketAddr = "127.0.0.1:853".parse().unwrap();
        assert!(matches!(
            EncryptedUpstream::new(address, "bad name!", EncryptedProtocol::Tls, &trust),
            Err(UpstreamTlsError::InvalidTlsName(_))
        ));
        let https = |path: &str| EncryptedProtocol::Https {
            path: path.to_owned(),
        };
        assert!(matches!(
            EncryptedUpstream::new(address, "dns.example", https("dns-query"), &trust),
            Err(UpstreamTlsError::InvalidPath(_))
        ));
        let upstream =
            EncryptedUpstream::new(address, "dns.example", https("/dns-query"), &trust).unwrap();
        assert_eq!(upstream.authority(), "dns.example:853");
        let upstream =
            EncryptedUpstream::new(address, "127.0.0.1", EncryptedProtocol::Tls, &trust).unwrap();
        assert_eq!(upstream.tls_name(), "127.0.0.1");
    }
}
