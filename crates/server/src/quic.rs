//! DNS over QUIC (RFC 9250), served with quinn on the workers' runtimes.
//!
//! A DoQ connection is a QUIC connection (RFC 9000, TLS 1.3 per RFC 9001)
//! with the ALPN token "doq" (RFC 9250 §4.1). Each query travels on its own
//! client-initiated bidirectional stream: a two-octet length, the DNS
//! message with ID 0, then the stream's FIN; the answer goes back on the
//! same stream, length-prefixed, followed by FIN (§4.2). Answers come from
//! the same [`Handler`] as on the other transports (access list, caches,
//! policy and profiles), counted as [`Transport::Quic`]; the TLS server
//! name (SNI) takes part in the choice of the profile as on DoT, and
//! responses are padded (RFC 7830, RFC 8467) when the query asks for it.
//!
//! Protocol errors close the connection with DOQ_PROTOCOL_ERROR (§4.3.3):
//! a message ID other than 0, a stream that ends before the length said,
//! or more than one message on a stream. A stream whose query has not
//! arrived whole (with its FIN) within [`STREAM_TIMEOUT`] is abandoned on
//! its own (a "dangling" stream, §4.2), without harm to the others.
//!
//! The TLS configuration is derived from the DoT configuration of
//! [`CertificateStore`] (same certificate, key, ticket keys and session
//! cache; ALPN "doq"; QUIC itself only ever negotiates TLS 1.3), and is
//! derived again whenever that configuration is swapped, so DoQ follows
//! every certificate reload of DoT and DoH. 0-RTT is off: early data could
//! be replayed. Unidirectional streams and QUIC datagrams are refused.
//!
//! Resource limits: connections in total and per client address (counted
//! apart from TCP, DoT and DoH), concurrent streams per connection, the
//! QUIC idle timeout, flow-control windows sized for one message per
//! stream, and a deadline for each stream. While half of the connection
//! places or more are taken, a client whose address is not yet validated
//! gets a Retry first (RFC 9000 §8.1.2).
//!
//! # Limitations
//! - One UDP socket (one quinn endpoint) per listen address, served by one
//!   worker; the addresses are spread over the workers, but one address
//!   does not scale past one thread.
//! - No 0-RTT; no server-side session resumption beyond TLS 1.3 tickets.
//! - The connection cap is checked on the first packet of a connection;
//!   before the handshake finishes an address may be spoofed (the Retry
//!   under load limits that).

use crate::handler::{Action, ClientNames, Handler, Transport};
use crate::padding::{pad_response, wants_padding};
use crate::tcp::ConnectionLimits;
use crate::tls::CertificateStore;
use parking_lot::Mutex;
use quinn::crypto::rustls::{HandshakeData, QuicServerConfig};
use quinn::{Connection, RecvStream, SendStream, VarInt};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The ALPN token of DNS over QUIC (RFC 9250 §4.1).
const ALPN_DOQ: &[u8] = b"doq";
/// DOQ_NO_ERROR (RFC 9250 §4.3).
const DOQ_NO_ERROR: VarInt = VarInt::from_u32(0x0);
/// DOQ_PROTOCOL_ERROR (RFC 9250 §4.3).
const DOQ_PROTOCOL_ERROR: VarInt = VarInt::from_u32(0x2);
/// DOQ_REQUEST_CANCELLED (RFC 9250 §4.3): used when the server gives up
/// on a stream (its query did not arrive in time, or the server stops).
const DOQ_REQUEST_CANCELLED: VarInt = VarInt::from_u32(0x3);
/// The largest DNS message, plus its two-octet length.
const MAX_STREAM_BYTES: usize = 2 + 65_535;
/// Time allowed for a query to arrive whole (with FIN) once its stream is
/// open, and for its answer to be written and acknowledged.
pub(crate) const STREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// The buffer a stream's cached answer is patched in.
const SEND_BUFFER: usize = 16 * 1024;
/// Bytes of stream data a connection may have unread at once.
const CONNECTION_RECEIVE_WINDOW: u32 = 1 << 20;
/// Bytes of response data a connection may have unacknowledged at once.
const CONNECTION_SEND_WINDOW: u64 = 1 << 20;
/// How long a stopping listener waits for its connections' close to be sent.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The settings of the DoQ listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicSettings {
    /// How long a connection without traffic stays open (the QUIC idle
    /// timeout, RFC 9000 §10.1); also the time a handshake may take.
    pub idle_timeout: Duration,
    /// Streams (queries) a client may have open at once on one connection.
    pub max_streams_per_connection: u32,
    /// Open DoQ connections in total.
    pub max_connections: usize,
    /// Open DoQ connections per client address.
    pub max_connections_per_client: usize,
}

impl Default for QuicSettings {
    fn default() -> QuicSettings {
        QuicSettings {
            idle_timeout: Duration::from_secs(30),
            max_streams_per_connection: 100,
            max_connections: 1024,
            max_connections_per_client: 64,
        }
    }
}

/// The quinn server configuration, derived from the DoT TLS configuration
/// of a [`CertificateStore`] and derived again when that one is swapped.
pub(crate) struct QuicCertificates {
    certificates: Arc<CertificateStore>,
    transport: Arc<quinn::TransportConfig>,
    /// The TLS configuration last derived from, and what came of it.
    derived: Mutex<Option<(Arc<rustls::ServerConfig>, Arc<quinn::ServerConfig>)>>,
}

impl QuicCertificates {
    pub(crate) fn new(certificates: Arc<CertificateStore>, settings: &QuicSettings) -> Self {
        let mut transport = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(settings.idle_timeout)
            .unwrap_or_else(|_| quinn::IdleTimeout::from(VarInt::from_u32(30_000)));
        transport
            .max_idle_timeout(Some(idle))
            .max_concurrent_bidi_streams(VarInt::from_u32(settings.max_streams_per_connection))
            // RFC 9250 §4.2: DoQ uses bidirectional streams only.
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .datagram_receive_buffer_size(None)
            .stream_receive_window(VarInt::from_u32(MAX_STREAM_BYTES as u32))
            .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW))
            .send_window(CONNECTION_SEND_WINDOW)
            .keep_alive_interval(None);
        QuicCertificates {
            certificates,
            transport: Arc::new(transport),
            derived: Mutex::new(None),
        }
    }

    /// The quinn configuration for a new connection, from the TLS
    /// configuration in force; `None` if it cannot serve QUIC.
    pub(crate) fn server_config(&self) -> Option<Arc<quinn::ServerConfig>> {
        let source = self.certificates.dot_config();
        let mut derived = self.derived.lock();
        if let Some((from, config)) = derived.as_ref()
            && Arc::ptr_eq(from, &source)
        {
            return Some(Arc::clone(config));
        }
        let mut tls = (*source).clone();
        tls.alpn_protocols = vec![ALPN_DOQ.to_vec()];
        // No 0-RTT: early data could be replayed (RFC 9250 §4.5).
        tls.max_early_data_size = 0;
        let crypto = match QuicServerConfig::try_from(tls) {
            Ok(crypto) => crypto,
            Err(error) => {
                tracing::error!(%error, "the TLS configuration cannot serve DNS over QUIC");
                return None;
            }
        };
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(Arc::clone(&self.transport));
        let config = Arc::new(config);
        *derived = Some((source, Arc::clone(&config)));
        Some(config)
    }
}

/// Binds the UDP socket of one DoQ listener. No `SO_REUSEPORT`: one
/// endpoint owns the address, so every packet of a connection reaches it.
pub(crate) fn bind_quic(address: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// What every connection of one listener shares.
#[derive(Clone)]
pub(crate) struct QuicContext {
    pub(crate) certificates: Arc<QuicCertificates>,
    pub(crate) handler: Arc<Handler>,
    pub(crate) limits: Arc<ConnectionLimits>,
    pub(crate) idle_timeout: Duration,
    pub(crate) in_flight: Arc<AtomicUsize>,
}

/// The accept loop of one DoQ listener; runs on a worker's `LocalSet`.
/// On shutdown it stops accepting, lets the connections answer the
/// queries they have, then closes them.
pub(crate) async fn serve_quic(
    socket: std::net::UdpSocket,
    context: QuicContext,
    mut shutdown: watch::Receiver<bool>,
) {
    // The endpoint needs a configuration to accept connections at all; each
    // connection then gets the one in force when it arrives.
    let Some(initial) = context.certificates.server_config() else {
        return;
    };
    let endpoint = match quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(Arc::unwrap_or_clone(initial)),
        socket,
        Arc::new(quinn::TokioRuntime),
    ) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            tracing::error!(%error, "cannot start a DNS over QUIC endpoint");
            return;
        }
    };
    let mut connections = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        let peer = incoming.remote_address();
        let client = peer.ip();
        let limits = &context.limits;
        let loaded = limits.total.load(Ordering::Acquire) * 2 >= limits.max_total;
        if loaded && !incoming.remote_address_validated() && incoming.may_retry() {
            // Under load, make the client prove its address first.
            let _ = incoming.retry();
            continue;
        }
        let Some(config) = context.certificates.server_config() else {
            incoming.refuse();
            continue;
        };
        if !limits.admit(client) {
            incoming.refuse();
            continue;
        }
        let Ok(connecting) = incoming.accept_with(config) else {
            limits.release(client);
            continue;
        };
        let context = context.clone();
        let mut shutdown = shutdown.clone();
        connections.spawn_local(async move {
            // A handshake may take the idle timeout, and no longer than
            // the server runs.
            let connection = tokio::select! {
                biased;
                _ = shutdown.changed() => None,
                handshake = tokio::time::timeout(context.idle_timeout, connecting) => {
                    handshake.ok().and_then(Result::ok)
                }
            };
            if let Some(connection) = connection {
                serve_connection(connection, peer, &context, shutdown).await;
            }
            context.limits.release(client);
        });
    }
    // Stopping: the connections finish the queries they have and close.
    while connections.join_next().await.is_some() {}
    endpoint.close(DOQ_NO_ERROR, b"");
    let _ = tokio::time::timeout(CLOSE_WAIT, endpoint.wait_idle()).await;
}

/// Serves the streams of one connection until it closes, fails or the
/// server stops.
async fn serve_connection(
    connection: Connection,
    client: SocketAddr,
    context: &QuicContext,
    mut shutdown: watch::Receiver<bool>,
) {
    let server_name: Option<Arc<str>> = connection
        .handshake_data()
        .and_then(|data| data.downcast::<HandshakeData>().ok())
        .and_then(|data| data.server_name)
        .map(Arc::from);
    let mut streams = JoinSet::new();
    let stopping = loop {
        let (send, receive) = tokio::select! {
            biased;
            _ = shutdown.changed() => break true,
            Some(_) = streams.join_next(), if !streams.is_empty() => continue,
            accepted = connection.accept_bi() => match accepted {
                Ok(stream) => stream,
                Err(_) => break false,
            },
        };
        let query = QueryStream {
            connection: connection.clone(),
            client,
            server_name: server_name.clone(),
            handler: Arc::clone(&context.handler),
            in_flight: Arc::clone(&context.in_flight),
        };
        let shutdown = shutdown.clone();
        streams.spawn_local(query.serve(send, receive, shutdown));
    };
    if stopping {
        // Answer what was asked, then say goodbye.
        while streams.join_next().await.is_some() {}
        connection.close(DOQ_NO_ERROR, b"");
    }
}

/// One query's stream and what answering it needs.
struct QueryStream {
    connection: Connection,
    client: SocketAddr,
    server_name: Option<Arc<str>>,
    handler: Arc<Handler>,
    in_flight: Arc<AtomicUsize>,
}

/// Why a stream's query cannot be served.
#[derive(Debug, PartialEq, Eq)]
enum StreamFault {
    /// A DoQ protocol error: the whole connection is closed (RFC 9250 §4.3.3).
    Protocol(&'static str),
    /// The query did not arrive in time or the server stops: the stream is
    /// abandoned, the connection stays.
    Abandoned,
}

impl QueryStream {
    async fn serve(
        self,
        mut send: SendStream,
        mut receive: RecvStream,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Counted as work in flight, so a stopping server lets it answer.
        let _in_flight = InFlight::enter(&self.in_flight);
        let query = tokio::select! {
            biased;
            _ = shutdown.changed() => Err(StreamFault::Abandoned),
            read = read_query(&mut receive) => read,
        };
        match query {
            Ok(query) => {
                if let Some(response) = self.answer(&query).await {
                    let written = tokio::time::timeout(STREAM_TIMEOUT, async {
                        send.write_all(&response).await.ok()?;
                        send.finish().ok()?;
                        // Until the client has the whole answer (or stops).
                        send.stopped().await.ok()
                    })
                    .await;
                    if written.is_err() {
                        let _ = send.reset(DOQ_REQUEST_CANCELLED);
                    }
                } else {
                    let _ = send.reset(DOQ_REQUEST_CANCELLED);
                }
            }
            Err(StreamFault::Protocol(reason)) => {
                self.connection.close(DOQ_PROTOCOL_ERROR, reason.as_bytes());
            }
            Err(StreamFault::Abandoned) => {
                let _ = receive.stop(DOQ_REQUEST_CANCELLED);
                let _ = send.reset(DOQ_REQUEST_CANCELLED);
            }
        }
    }

    /// The length-prefixed answer to `query`, or `None` if there is none
    /// to send (a dropped query).
    async fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let names = ClientNames {
            server_name: self.server_name.as_deref(),
            doh_path: None,
        };
        let pad = wants_padding(query);
        let mut buffer = vec![0u8; SEND_BUFFER];
        let action =
            self.handler
                .handle_named(query, self.client, names, Transport::Quic, &mut buffer);
        let mut response = match action {
            Action::Reply(reply) => reply.to_vec(),
            Action::Owned(reply) if !reply.is_empty() => reply,
            Action::Owned(_) | Action::Drop => return None,
            Action::Resolve(pending) => {
                drop(buffer);
                self.handler.resolve(&pending, Transport::Quic).await?
            }
        };
        if pad {
            pad_response(&mut response);
        }
        let length = u16::try_from(response.len()).ok()?;
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(&response);
        Some(framed)
    }
}

/// Reads one query from its stream: a two-octet length, the message, FIN.
async fn read_query(receive: &mut RecvStream) -> Result<Vec<u8>, StreamFault> {
    let read = tokio::time::timeout(STREAM_TIMEOUT, receive.read_to_end(MAX_STREAM_BYTES)).await;
    let data = match read {
        Err(_) => return Err(StreamFault::Abandoned),
        Ok(Err(quinn::ReadToEndError::TooLong)) => {
            return Err(StreamFault::Protocol("more than one message on a stream"));
        }
        Ok(Err(quinn::ReadToEndError::Read(_))) => return Err(StreamFault::Abandoned),
        Ok(Ok(data)) => data,
    };
    unframe_query(data)
}

/// The query in a stream's whole data (a two-octet length, then exactly
/// that many octets), checked as RFC 9250 §4.2 and §4.3.3 require.
fn unframe_query(data: Vec<u8>) -> Result<Vec<u8>, StreamFault> {
    let Some((prefix, message)) = data.split_first_chunk::<2>() else {
        return Err(StreamFault::Protocol(
            "stream ended before the message length",
        ));
    };
    let length = usize::from(u16::from_be_bytes(*prefix));
    if message.len() < length {
        return Err(StreamFault::Protocol("stream ended inside the message"));
    }
    if message.len() > length {
        return Err(StreamFault::Protocol("more than one message on a stream"));
    }
    // RFC 9250 §4.2.1: the message ID must be 0.
    if message.len() >= 2 && message[..2] != [0, 0] {
        return Err(StreamFault::Protocol("message ID is not 0"));
    }
    let mut data = data;
    data.drain(..2);
    Ok(data)
}

/// Counts a stream as work in flight while it lives, also when its task
/// is cancelled with its connection.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::{StreamFault, unframe_query};

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut data = u16::try_from(message.len()).unwrap().to_be_bytes().to_vec();
        data.extend_from_slice(message);
        data
    }

    #[test]
    fn a_stream_carries_exactly_one_message_with_id_zero() {
        let query = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(unframe_query(framed(&query)), Ok(query.to_vec()));
        let protocol = |data: Vec<u8>| match unframe_query(data) {
            Err(StreamFault::Protocol(reason)) => reason,
            other => panic!("not a protocol error: {other:?}"),
        };
        let mut with_id = query;
        with_id[1] = 7;
        assert_eq!(protocol(framed(&with_id)), "message ID is not 0");
        assert_eq!(
            protocol(Vec::new()),
            "stream ended before the message length"
        );
        assert_eq!(protocol(vec![0]), "stream ended before the message length");
        let mut short = framed(&query);
        short.pop();
        assert_eq!(protocol(short), "stream ended inside the message");
        let mut two = framed(&query);
        two.extend(framed(&query));
        assert_eq!(protocol(two), "more than one message on a stream");
        // An empty message is the handler's to answer (it drops it).
        assert_eq!(unframe_query(vec![0, 0]), Ok(Vec::new()));
    }
}
