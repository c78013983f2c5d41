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
//!
//! DNS cookies (RFC 7873 §5.1, §5.3): a query with EDNS carries a client
//! cookie derived from a secret of this transport, our address and the
//! server's address, and the server cookie last learned from that server. A
//! response whose COOKIE option carries another client cookie is ignored as
//! spoofed (the wait goes on); so is a response without one from a server
//! that sent us a server cookie before. BADCOOKIE (RFC 7873 §5.3) is retried
//! once with the new server cookie. Servers that never send a COOKIE option
//! back keep working as before.
//!
//! Limitation: server cookies are remembered for at most
//! [`MAX_REMEMBERED_SERVERS`] server addresses; beyond that an arbitrary one
//! is forgotten, and its server hands out a new cookie on the next query.

use crate::upstream_tls::{ConnectionPool, EncryptedUpstream};
use hanse_wire::cookie::{COOKIE_OPTION, Cookie, find_cookie, find_opt};
use hanse_wire::{Header, Name, Question, RType, Rcode};
use parking_lot::Mutex;
use socket2::{Domain, Protocol as SocketProtocol, Socket, Type};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

    /// What the DNS cookies towards upstream servers did so far; zeros for
    /// a transport that sends none.
    fn cookie_statistics(&self) -> CookieStatistics {
        CookieStatistics::default()
    }
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

/// Server addresses whose server cookies are remembered.
pub const MAX_REMEMBERED_SERVERS: usize = 4096;

/// The real transport: UDP with a fresh random-port socket per query, TCP,
/// and shared TLS and HTTPS connections to encrypted upstreams; DNS cookies
/// towards every server over UDP and TCP (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct NetworkTransport {
    connections: Arc<ConnectionPool>,
    cookies: Arc<CookieJar>,
}

impl NetworkTransport {
    /// Makes a transport with a random client cookie secret.
    pub fn new() -> NetworkTransport {
        NetworkTransport::default()
    }

    /// What the cookies towards upstream servers did so far.
    pub fn cookie_statistics(&self) -> CookieStatistics {
        let jar = &self.cookies;
        CookieStatistics {
            queries_with_cookie: jar.queries_with_cookie.load(Ordering::Relaxed),
            servers_with_cookie: jar.servers.lock().len() as u64,
            server_cookies_learned: jar.server_cookies_learned.load(Ordering::Relaxed),
            spoofed_responses: jar.spoofed_responses.load(Ordering::Relaxed),
            bad_cookie_retries: jar.bad_cookie_retries.load(Ordering::Relaxed),
        }
    }
}

/// Counters of the DNS cookies sent to upstream servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CookieStatistics {
    /// Queries sent with a client cookie.
    pub queries_with_cookie: u64,
    /// Servers whose server cookie is remembered now.
    pub servers_with_cookie: u64,
    /// Server cookies learned: the first from a server, or one that differs
    /// from the cookie remembered for it.
    pub server_cookies_learned: u64,
    /// Responses ignored because their cookie was not ours (or missing from
    /// a server that sends cookies).
    pub spoofed_responses: u64,
    /// Queries sent again after a BADCOOKIE response.
    pub bad_cookie_retries: u64,
}

/// A server cookie learned from one server (8 to 32 octets).
#[derive(Debug, Clone, Copy)]
struct ServerCookie {
    octets: [u8; 32],
    length: u8,
}

impl ServerCookie {
    fn as_bytes(&self) -> &[u8] {
        &self.octets[..usize::from(self.length)]
    }
}

/// The client side of DNS cookies: the secret of our client cookies and the
/// server cookies learned, keyed by server address.
#[derive(Debug)]
struct CookieJar {
    secret: [u8; 16],
    servers: Mutex<HashMap<IpAddr, ServerCookie>>,
    queries_with_cookie: AtomicU64,
    server_cookies_learned: AtomicU64,
    spoofed_responses: AtomicU64,
    bad_cookie_retries: AtomicU64,
}

impl Default for CookieJar {
    fn default() -> CookieJar {
        CookieJar {
            secret: rand::random(),
            servers: Mutex::new(HashMap::new()),
            queries_with_cookie: AtomicU64::new(0),
            server_cookies_learned: AtomicU64::new(0),
            spoofed_responses: AtomicU64::new(0),
            bad_cookie_retries: AtomicU64::new(0),
        }
    }
}

/// What to do with a response that matches the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CookieVerdict {
    /// Take it.
    Accept,
    /// Not from the server we asked: keep waiting.
    Ignore,
    /// BADCOOKIE with a new server cookie: send the query again.
    Retry,
}

/// The cookie state of one exchange.
struct CookieExchange {
    /// Our client cookie for this server.
    client: [u8; 8],
    /// Whether the query carries a COOKIE option at all.
    sent: bool,
}

impl CookieJar {
    /// `message` with a COOKIE option for `server`, sent from `local`;
    /// `None` when the query has no OPT record to carry it.
    fn prepare(
        &self,
        message: &[u8],
        local: IpAddr,
        server: IpAddr,
    ) -> (Option<Vec<u8>>, CookieExchange) {
        let client = hanse_wire::cookie::client_cookie(&self.secret, local, server);
        let mut data = [0u8; 40];
        data[..8].copy_from_slice(&client);
        let mut length = 8;
        if let Some(cookie) = self.servers.lock().get(&server) {
            let octets = cookie.as_bytes();
            data[8..8 + octets.len()].copy_from_slice(octets);
            length += octets.len();
        }
        let mut with_cookie = message.to_vec();
        let sent =
            hanse_wire::cookie::push_option(&mut with_cookie, COOKIE_OPTION, &data[..length]);
        if sent {
            self.queries_with_cookie.fetch_add(1, Ordering::Relaxed);
        }
        (sent.then_some(with_cookie), CookieExchange { client, sent })
    }

    /// Judges a response from `server` to a query of `exchange`, and
    /// remembers the server cookie it carries.
    fn judge(&self, response: &[u8], server: IpAddr, exchange: &CookieExchange) -> CookieVerdict {
        if !exchange.sent {
            return CookieVerdict::Accept;
        }
        match find_cookie(response) {
            Some(Ok(Cookie {
                client,
                server: server_cookie,
            })) if client == exchange.client => {
                if !server_cookie.is_empty() {
                    self.remember(server, server_cookie);
                }
                let extended = find_opt(response).map_or(0, |opt| opt.extended_rcode(response));
                let rcode = (u16::from(extended) << 4) | u16::from(response[3] & 0x0f);
                if rcode == Rcode::BADCOOKIE.0 && !server_cookie.is_empty() {
                    CookieVerdict::Retry
                } else {
                    CookieVerdict::Accept
                }
            }
            Some(_) => {
                self.spoofed_responses.fetch_add(1, Ordering::Relaxed);
                CookieVerdict::Ignore
            }
            // A server that sent us cookies before must send one now.
            None if self.servers.lock().contains_key(&server) => {
                self.spoofed_responses.fetch_add(1, Ordering::Relaxed);
                CookieVerdict::Ignore
            }
            None => CookieVerdict::Accept,
        }
    }

    fn remember(&self, server: IpAddr, cookie: &[u8]) {
        let mut octets = [0u8; 32];
        let length = cookie.len().min(32);
        octets[..length].copy_from_slice(&cookie[..length]);
        let mut servers = self.servers.lock();
        if servers
            .get(&server)
            .is_some_and(|known| known.as_bytes() == &octets[..length])
        {
            return;
        }
        self.server_cookies_learned.fetch_add(1, Ordering::Relaxed);
        if servers.len() >= MAX_REMEMBERED_SERVERS
            && !servers.contains_key(&server)
            && let Some(forgotten) = servers.keys().next().copied()
        {
            servers.remove(&forgotten);
        }
        servers.insert(
            server,
            ServerCookie {
                octets,
                length: length as u8,
            },
        );
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

async fn exchange_udp(
    query: UpstreamQuery<'_>,
    cookies: &CookieJar,
) -> Result<Vec<u8>, TransportError> {
    let socket = open_udp(query.server).map_err(|_| TransportError::Network)?;
    let local = socket
        .local_addr()
        .ok()
        .and_then(|address| address.as_socket())
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |address| address.ip());
    let (with_cookie, mut exchange) = cookies.prepare(query.message, local, query.server.ip());
    let message = with_cookie.as_deref().unwrap_or(query.message);
    // Send before the socket joins the runtime: a fresh socket has room for
    // one datagram, so the send does not wait for a writability event (and a
    // response that arrives before the registration is reported by it).
    let sent = socket.send(message);
    let socket = UdpSocket::from_std(socket.into()).map_err(|_| TransportError::Network)?;
    match sent {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
            socket
                .send(message)
                .await
                .map_err(|_| TransportError::Network)?;
        }
        Err(_) => return Err(TransportError::Network),
    }
    let mut retried = false;
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
                if !response_matches(&buffer, query.id, query.name, query.rtype) {
                    // A forged or stale datagram: keep waiting for the real one.
                    continue;
                }
                match cookies.judge(&buffer, query.server.ip(), &exchange) {
                    CookieVerdict::Accept => return Ok(buffer),
                    CookieVerdict::Ignore => {}
                    CookieVerdict::Retry if retried => return Ok(buffer),
                    CookieVerdict::Retry => {
                        // BADCOOKIE: once more, with the server cookie just learned.
                        retried = true;
                        cookies.bad_cookie_retries.fetch_add(1, Ordering::Relaxed);
                        let (again, next) =
                            cookies.prepare(query.message, local, query.server.ip());
                        exchange = next;
                        let message = again.as_deref().unwrap_or(query.message);
                        socket
                            .send(message)
                            .await
                            .map_err(|_| TransportError::Network)?;
                    }
                }
            }
        }
    }
}

async fn exchange_tcp(
    query: UpstreamQuery<'_>,
    cookies: &CookieJar,
) -> Result<Vec<u8>, TransportError> {
    let work = async {
        let mut stream = TcpStream::connect(query.server)
            .await
            .map_err(|_| TransportError::Network)?;
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |address| address.ip());
        let (with_cookie, exchange) = cookies.prepare(query.message, local, query.server.ip());
        let message = with_cookie.as_deref().unwrap_or(query.message);
        let length = u16::try_from(message.len()).map_err(|_| TransportError::Malformed)?;
        let mut framed = Vec::with_capacity(message.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(message);
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
            // Over TCP a BADCOOKIE is taken as it is: the address is proven.
            if response_matches(&response, query.id, query.name, query.rtype)
                && cookies.judge(&response, query.server.ip(), &exchange) != CookieVerdict::Ignore
            {
                return Ok(response);
            }
        }
    };
    tokio::time::timeout(query.timeout, work)
        .await
        .unwrap_or(Err(TransportError::Timeout))
}

impl Transport for NetworkTransport {
    fn cookie_statistics(&self) -> CookieStatistics {
        NetworkTransport::cookie_statistics(self)
    }

    async fn exchange(&self, query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
        // The UDP exchange, by far the most common, is kept in the caller's
        // future; TCP and the encrypted transports (connection set-up, TLS,
        // HTTP/2) have much larger states and live on the heap, so that every
        // resolution does not carry (and move) room for them.
        match query.protocol {
            Protocol::Udp => exchange_udp(query, &self.cookies).await,
            Protocol::Tcp => Box::pin(exchange_tcp(query, &self.cookies)).await,
            Protocol::Tls | Protocol::Https => match query.encryption {
                Some(upstream) => Box::pin(self.connections.exchange(query, upstream)).await,
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

    /// A response to `query` with `cookie` as its COOKIE option data (none
    /// if empty) and the 12-bit `rcode`.
    fn cookie_response(query: &[u8], cookie: &[u8], rcode: u16) -> Vec<u8> {
        let mut response = query.to_vec();
        // Drop the query's options: keep the OPT record, with no data.
        let opt = find_opt(&response).unwrap();
        response.truncate(opt.data);
        response[opt.data - 2..opt.data].copy_from_slice(&[0, 0]);
        response[2] |= 0x80;
        response[3] = (response[3] & 0xf0) | (rcode & 0x0f) as u8;
        response[opt.record + 5] = (rcode >> 4) as u8;
        if !cookie.is_empty() {
            assert!(hanse_wire::cookie::push_option(
                &mut response,
                COOKIE_OPTION,
                cookie
            ));
        }
        response
    }

    #[test]
    fn upstream_cookies_are_sent_checked_learned_and_retried() {
        // A peer on 127.87.1.1 that answers the first query with BADCOOKIE
        // and a server cookie, the second first with a forged client cookie
        // and then with the right one, and checks what the queries carry.
        let peer = std::net::UdpSocket::bind("127.87.1.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let server = peer.local_addr().unwrap();
        let server_cookie = [9u8; 16];
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let mut seen = Vec::new();
            for round in 0..3 {
                let (length, from) = peer.recv_from(&mut buffer).unwrap();
                let query = buffer[..length].to_vec();
                let cookie = find_cookie(&query).unwrap().unwrap();
                seen.push((cookie.client, cookie.server.to_vec()));
                let mut good = cookie.client.to_vec();
                good.extend_from_slice(&server_cookie);
                if round == 0 {
                    let reply = cookie_response(&query, &good, Rcode::BADCOOKIE.0);
                    peer.send_to(&reply, from).unwrap();
                } else {
                    let mut forged = good.clone();
                    forged[0] ^= 0xff;
                    let spoofed = cookie_response(&query, &forged, 0);
                    peer.send_to(&spoofed, from).unwrap();
                    let mut reply = cookie_response(&query, &good, 0);
                    reply[3] |= 0x03; // NXDOMAIN, to tell it apart.
                    peer.send_to(&reply, from).unwrap();
                }
            }
            seen
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let transport = NetworkTransport::new();
        let name = Name::from_ascii("cookie.example.").unwrap();
        let exchange = |id: u16| {
            let message =
                compose_upstream_query(id, &name, RType::A, false, Some(1232), false, false);
            let transport = transport.clone();
            let name = name.clone();
            async move {
                transport
                    .exchange(UpstreamQuery {
                        server,
                        message: &message,
                        id,
                        name: &name,
                        rtype: RType::A,
                        protocol: Protocol::Udp,
                        timeout: Duration::from_secs(3),
                        encryption: None,
                    })
                    .await
            }
        };
        // BADCOOKIE, then the retry gets the forged and the real answer.
        let response = runtime.block_on(exchange(1)).unwrap();
        assert_eq!(response[3] & 0x0f, 3, "the real answer, not the forged one");
        // The next query sends the learned server cookie straight away.
        let response = runtime.block_on(exchange(2)).unwrap();
        assert_eq!(response[3] & 0x0f, 3);
        let seen = thread.join().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen[0].1.is_empty(), "no server cookie known at first");
        assert_eq!(
            seen[1].1, server_cookie,
            "the retry carries the server cookie"
        );
        assert_eq!(seen[2].1, server_cookie);
        assert!(seen.iter().all(|(client, _)| *client == seen[0].0));
        let statistics = transport.cookie_statistics();
        assert_eq!(statistics.bad_cookie_retries, 1);
        assert_eq!(statistics.spoofed_responses, 2);
        assert_eq!(statistics.servers_with_cookie, 1);
        assert_eq!(statistics.queries_with_cookie, 3);
        // The same server cookie three times: learned once.
        assert_eq!(statistics.server_cookies_learned, 1);

        // A server without cookies (no option back) keeps working.
        let plain_peer = std::net::UdpSocket::bind("127.87.1.2:0").unwrap();
        plain_peer
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let plain_server = plain_peer.local_addr().unwrap();
        let plain = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (length, from) = plain_peer.recv_from(&mut buffer).unwrap();
            let reply = cookie_response(&buffer[..length], &[], 0);
            plain_peer.send_to(&reply, from).unwrap();
        });
        let message = compose_upstream_query(3, &name, RType::A, false, Some(1232), false, false);
        let response = runtime
            .block_on(transport.exchange(UpstreamQuery {
                server: plain_server,
                message: &message,
                id: 3,
                name: &name,
                rtype: RType::A,
                protocol: Protocol::Udp,
                timeout: Duration::from_secs(3),
                encryption: None,
            }))
            .unwrap();
        assert!(find_cookie(&response).is_none());
        plain.join().unwrap();
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
