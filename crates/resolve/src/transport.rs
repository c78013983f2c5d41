//! Sending a query to one upstream server and waiting for its matching
//! response (RFC 1035 §4.2, RFC 7766 for TCP, RFC 5452 for spoofing resistance).
//!
//! A response is accepted only if it comes from the address and port the
//! query went to (the UDP socket is connected, so the kernel drops others),
//! carries the query's ID and repeats its question (names compared without
//! regard to case). Anything else is ignored and the wait goes on until the
//! deadline. Every UDP query uses a new socket on a random source port.
//! Queries to encrypted upstreams (DoT, DoH) go through the shared
//! connections of `upstream_tls`.

use crate::upstream_tls::{ConnectionPool, EncryptedUpstream};
use hanse_wire::{Header, Name, Question, RType};
use socket2::{Domain, Protocol as SocketProtocol, Socket, Type};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The largest UDP response read from an upstream: above any EDNS size we advertise.
const MAX_UDP_RESPONSE: usize = 4096;

/// How a query travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A datagram.
    Udp,
    /// A length-prefixed message over a TCP connection.
    Tcp,
    /// DNS over TLS (RFC 7858) on a shared connection.
    Tls,
    /// DNS over HTTPS (RFC 8484) on a shared HTTP/2 connection.
    Https,
}

/// One exchange with one server.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamQuery<'a> {
    /// Where to send it.
    pub server: SocketAddr,
    /// The composed query.
    pub message: &'a [u8],
    /// The query's ID, which the response must repeat.
    pub id: u16,
    /// The question the response must repeat.
    pub name: &'a Name,
    /// The question's type.
    pub rtype: RType,
    /// UDP, TCP, TLS or HTTPS.
    pub protocol: Protocol,
    /// How long to wait.
    pub timeout: Duration,
    /// For [`Protocol::Tls`] and [`Protocol::Https`]: the upstream's TLS
    /// settings; `None` otherwise.
    pub encryption: Option<&'a EncryptedUpstream>,
}

/// Why no response came back. The upstream or the network is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No matching response before the deadline.
    #[error("timed out")]
    Timeout,
    /// The network refused (unreachable, connection refused, reset).
    #[error("network error")]
    Network,
    /// The server sent a message that cannot be a DNS response.
    #[error("malformed response")]
    Malformed,
}

/// Sends queries upstream. Implemented by [`NetworkTransport`] and by test doubles.
pub trait Transport: Send + Sync + 'static {
    /// Sends `query` and returns the bytes of the first matching response.
    fn exchange(
        &self,
        query: UpstreamQuery<'_>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}

/// The bytes of a query for `name`/`rtype` (class IN) with `id`, the RD flag
/// and, when `edns_udp_size` is given, an OPT record advertising that size
/// (EDNS version 0, no flags, no options; RFC 6891 §6.1.2). The same bytes as
/// `hanse_wire::compose_query`, written straight into one buffer of the right
/// size: a lone question has nothing to compress. With `padded` (and EDNS),
/// the OPT record carries a Padding option (RFC 7830) that brings the
/// message to a multiple of 128 bytes (RFC 8467 §4.1, for encrypted transports).
pub(crate) fn compose_upstream_query(
    id: u16,
    name: &Name,
    rtype: RType,
    recursion_desired: bool,
    edns_udp_size: Option<u16>,
    dnssec_ok: bool,
    padded: bool,
) -> Vec<u8> {
    let header = Header {
        id,
        recursion_desired,
        // A validating resolver checks for itself (RFC 4035 §3.2.2).
        checking_disabled: dnssec_ok && recursion_desired,
        question_count: 1,
        additional_count: u16::from(edns_udp_size.is_some()),
        ..Header::default()
    };
    let wire = name.as_wire();
    let mut message = Vec::with_capacity(12 + wire.len() + 4 + 11);
    message.extend_from_slice(&header.to_bytes());
    message.extend_from_slice(wire);
    message.extend_from_slice(&rtype.0.to_be_bytes());
    message.extend_from_slice(&hanse_wire::Class::IN.0.to_be_bytes());
    if let Some(udp_size) = edns_udp_size {
        // Owner: the root; type OPT; class: the payload size; TTL: extended
        // RCODE and version zero, flags (DO, RFC 3225); no data.
        message.push(0);
        message.extend_from_slice(&RType::OPT.0.to_be_bytes());
        message.extend_from_slice(&udp_size.to_be_bytes());
        let flags = if dnssec_ok { 0x80 } else { 0 };
        message.extend_from_slice(&[0, 0, flags, 0]);
        if padded {
            // The option's code and length, then zeros (RFC 7830 §3).
            let unpadded = message.len() + 2 + 4;
            let padding = (PADDING_BLOCK - unpadded % PADDING_BLOCK) % PADDING_BLOCK;
            let option_length = u16::try_from(padding).unwrap_or(0);
            message.extend_from_slice(&(4 + option_length).to_be_bytes());
            message.extend_from_slice(&PADDING_OPTION.to_be_bytes());
            message.extend_from_slice(&option_length.to_be_bytes());
            message.resize(message.len() + padding, 0);
        } else {
            message.extend_from_slice(&[0, 0]);
        }
    }
    message
}

/// The EDNS Padding option code (RFC 7830 §4).
const PADDING_OPTION: u16 = 12;
/// The block size queries are padded to (RFC 8467 §4.1).
const PADDING_BLOCK: usize = 128;

/// Whether `response` answers the query with `id` for `name`/`rtype`.
pub fn response_matches(response: &[u8], id: u16, name: &Name, rtype: RType) -> bool {
    let Ok(header) = Header::parse(response) else {
        return false;
    };
    if !header.response || header.id != id {
        return false;
    }
    if header.question_count != 1 {
        // Some servers omit the question in errors such as FORMERR and NOTIMP.
        return header.question_count == 0 && header.rcode != 0;
    }
    match Name::parse_compressed(response, 12) {
        Ok((question_name, next)) => {
            let Some(fixed) = response.get(next..next + 4) else {
                return false;
            };
            let question = Question {
                name: question_name,
                rtype: RType(u16::from_be_bytes([fixed[0], fixed[1]])),
                class: hanse_wire::Class(u16::from_be_bytes([fixed[2], fixed[3]])),
            };
            question.name == *name && question.rtype == rtype
        }
        Err(_) => false,
    }
}

/// The real transport: UDP with a fresh random-port socket per query, TCP,
/// and shared TLS and HTTPS connections to encrypted upstreams.
#[derive(Debug, Default, Clone)]
pub struct NetworkTransport {
    connections: Arc<ConnectionPool>,
}

impl NetworkTransport {
    /// Makes a transport.
    pub fn new() -> NetworkTransport {
        NetworkTransport::default()
    }
}

/// A non-blocking UDP socket of the address family of `server`, bound to a
/// random port and connected to `server`; nothing registered with the runtime yet.
///
/// System calls in the common case: `socket` (non-blocking and close-on-exec
/// from the start), one `bind`, `connect`.
fn open_udp(server: SocketAddr) -> std::io::Result<Socket> {
    let (domain, any): (Domain, IpAddr) = match server {
        SocketAddr::V4(_) => (Domain::IPV4, Ipv4Addr::UNSPECIFIED.into()),
        SocketAddr::V6(_) => (Domain::IPV6, Ipv6Addr::UNSPECIFIED.into()),
    };
    let socket = new_nonblocking_udp(domain)?;
    // Choose the port ourselves (RFC 5452 §9.2); a port in use costs one more
    // `bind` on the same socket, and after eight the kernel chooses.
    let mut bound = false;
    for _ in 0..8 {
        let port = rand::random_range(1024..=65535u16);
        if socket.bind(&SocketAddr::new(any, port).into()).is_ok() {
            bound = true;
            break;
        }
    }
    if !bound {
        socket.bind(&SocketAddr::new(any, 0).into())?;
    }
    socket.connect(&server.into())?;
    Ok(socket)
}

/// A UDP socket created non-blocking by the `socket` call itself.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn new_nonblocking_udp(domain: Domain) -> std::io::Result<Socket> {
    Socket::new(domain, Type::DGRAM.nonblocking(), Some(SocketProtocol::UDP))
}

/// A UDP socket switched to non-blocking mode after its creation.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn new_nonblocking_udp(domain: Domain) -> std::io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM, Some(SocketProtocol::UDP))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

async fn exchange_udp(query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
    let socket = open_udp(query.server).map_err(|_| TransportError::Network)?;
    // Send before the socket joins the runtime: a fresh socket has room for
    // one datagram, so the send does not wait for a writability event (and a
    // response that arrives before the registration is reported by it).
    let sent = socket.send(query.message);
    let socket = UdpSocket::from_std(socket.into()).map_err(|_| TransportError::Network)?;
    match sent {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
            socket
                .send(query.message)
                .await
                .map_err(|_| TransportError::Network)?;
        }
        Err(_) => return Err(TransportError::Network),
    }
    let deadline = tokio::time::Instant::now() + query.timeout;
    // Uninitialised capacity: a response larger than this is cut short and
    // then fails to parse, which is what a response larger than the size we
    // advertised deserves.
    let mut buffer = Vec::with_capacity(MAX_UDP_RESPONSE);
    loop {
        buffer.clear();
        let received = tokio::time::timeout_at(deadline, socket.recv_buf(&mut buffer)).await;
        match received {
            Err(_) => return Err(TransportError::Timeout),
            // ICMP port unreachable shows up as a receive error on a connected socket.
            Ok(Err(_)) => return Err(TransportError::Network),
            Ok(Ok(_)) => {
                if response_matches(&buffer, query.id, query.name, query.rtype) {
                    return Ok(buffer);
                }
                // A forged or stale datagram: keep waiting for the real one.
            }
        }
    }
}

async fn exchange_tcp(query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
    let work = async {
        let mut stream = TcpStream::connect(query.server)
            .await
            .map_err(|_| TransportError::Network)?;
        let _ = stream.set_nodelay(true);
        let length = u16::try_from(query.message.len()).map_err(|_| TransportError::Malformed)?;
        let mut framed = Vec::with_capacity(query.message.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(query.message);
        stream
            .write_all(&framed)
            .await
            .map_err(|_| TransportError::Network)?;
        loop {
            let mut prefix = [0u8; 2];
            stream
                .read_exact(&mut prefix)
                .await
                .map_err(|_| TransportError::Network)?;
            let length = usize::from(u16::from_be_bytes(prefix));
            let mut response = vec![0u8; length];
            stream
                .read_exact(&mut response)
                .await
                .map_err(|_| TransportError::Network)?;
            if response_matches(&response, query.id, query.name, query.rtype) {
                return Ok(response);
            }
        }
    };
    tokio::time::timeout(query.timeout, work)
        .await
        .unwrap_or(Err(TransportError::Timeout))
}

impl Transport for NetworkTransport {
    async fn exchange(&self, query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
        match query.protocol {
            Protocol::Udp => exchange_udp(query).await,
            Protocol::Tcp => exchange_tcp(query).await,
            Protocol::Tls | Protocol::Https => match query.encryption {
                Some(upstream) => self.connections.exchange(query, upstream).await,
                None => Err(TransportError::Network),
            },
        }
    }
}

/// Whether the host has a route for the address family of `probe`; a
/// connected UDP socket finds out without sending anything.
pub(crate) fn family_usable(probe: SocketAddr) -> bool {
    let any: SocketAddr = match probe {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    std::net::UdpSocket::bind(any)
        .and_then(|socket| socket.connect(probe))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::{Edns, MessageBuilder, compose_query};

    #[test]
    fn upstream_queries_are_the_bytes_the_message_builder_writes() {
        let name = Name::from_ascii("Www.Example.com.").unwrap();
        for rtype in [RType::A, RType::NS, RType::DS] {
            for recursion_desired in [false, true] {
                let plain = compose_upstream_query(
                    513,
                    &name,
                    rtype,
                    recursion_desired,
                    None,
                    false,
                    false,
                );
                let expected = compose_query(513, &name, rtype, recursion_desired, None);
                assert_eq!(plain, expected);
                let edns = Edns {
                    udp_size: 1232,
                    ..Edns::default()
                };
                let with_edns = compose_upstream_query(
                    513,
                    &name,
                    rtype,
                    recursion_desired,
                    Some(1232),
                    false,
                    false,
                );
                let expected = compose_query(513, &name, rtype, recursion_desired, Some(edns));
                assert_eq!(with_edns, expected);
            }
        }
        let root =
            compose_upstream_query(1, &Name::root(), RType::NS, false, Some(4096), false, false);
        assert_eq!(
            root,
            compose_query(
                1,
                &Name::root(),
                RType::NS,
                false,
                Some(Edns {
                    udp_size: 4096,
                    ..Edns::default()
                })
            )
        );
    }

    #[test]
    fn padded_queries_are_multiples_of_128_bytes_with_a_padding_option() {
        for text in [
            "a.",
            "www.example.com.",
            &format!("{}.example.", "x".repeat(60)),
        ] {
            let name = Name::from_ascii(text).unwrap();
            let message =
                compose_upstream_query(9, &name, RType::AAAA, true, Some(1232), true, true);
            assert_eq!(message.len() % 128, 0, "{text}");
            let parsed = hanse_wire::Message::parse(&message).expect("well-formed");
            let edns = parsed.edns.expect("OPT");
            assert!(edns.dnssec_ok);
            assert!(
                edns.options.iter().any(|option| option.code == 12),
                "{:?}",
                edns.options
            );
        }
    }

    #[test]
    fn matching_checks_id_and_question_case_insensitively() {
        let name = Name::from_ascii("www.example.com.").unwrap();
        let mut response = compose_query(
            7,
            &Name::from_ascii("WWW.example.COM.").unwrap(),
            RType::A,
            false,
            None,
        );
        response[2] |= 0x80;
        assert!(response_matches(&response, 7, &name, RType::A));
        assert!(!response_matches(&response, 8, &name, RType::A));
        assert!(!response_matches(&response, 7, &name, RType::AAAA));
        let other = Name::from_ascii("www.example.net.").unwrap();
        assert!(!response_matches(&response, 7, &other, RType::A));
        // A query (QR clear) is never a response.
        let query = compose_query(7, &name, RType::A, false, None);
        assert!(!response_matches(&query, 7, &name, RType::A));
        let empty = MessageBuilder::new(
            Header {
                id: 7,
                response: true,
                rcode: 1,
                ..Header::default()
            },
            512,
        )
        .finish();
        assert!(response_matches(&empty, 7, &name, RType::A));
    }
}
