//! A minimal stub client for tests: sends one query to a server over UDP
//! or TCP (RFC 1035 §4.2) and waits, bounded in time, for the answer.
//!
//! The client's source address is the loopback address of the server's
//! family unless the caller chooses one (any address of 127.0.0.0/8 is
//! local on Linux), so tests can act as different clients.
//!
//! # Limitations
//! - No retries and no fallback from UDP to TCP: the caller picks the
//!   transport and sees a truncated answer as it is.

use crate::server::Transport;
use hanse_wire::{Edns, Header, Message, Name, RType, compose_query};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The UDP payload size the client advertises.
pub const CLIENT_UDP_SIZE: u16 = 4096;

/// Sends `query` to `server` and returns the first response with the same
/// ID from that server, within `timeout`.
pub fn exchange(
    server: SocketAddr,
    query: &[u8],
    transport: Transport,
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    exchange_from(server, None, query, transport, timeout)
}

/// [`exchange`] from the source address `source` (the loopback address of
/// the server's family if `None`).
pub fn exchange_from(
    server: SocketAddr,
    source: Option<IpAddr>,
    query: &[u8],
    transport: Transport,
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let id = Header::parse(query)
        .map_err(|error| io::Error::new(ErrorKind::InvalidInput, error))?
        .id;
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::new(ErrorKind::TimedOut, "no answer in time"))
    };
    match transport {
        Transport::Udp => {
            let socket = UdpSocket::bind(local_address(server, source))?;
            socket.connect(server)?;
            socket.send(query)?;
            let mut buffer = [0u8; 65535];
            loop {
                socket.set_read_timeout(Some(remaining()?))?;
                let length = match socket.recv(&mut buffer) {
                    Ok(length) => length,
                    Err(error)
                        if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                    {
                        return Err(io::Error::new(ErrorKind::TimedOut, "no answer in time"));
                    }
                    Err(error) => return Err(error),
                };
                if length >= 2 && u16::from_be_bytes([buffer[0], buffer[1]]) == id {
                    return Ok(buffer[..length].to_vec());
                }
            }
        }
        Transport::Tcp => {
            let mut stream = match source {
                None => TcpStream::connect_timeout(&server, remaining()?)?,
                Some(_) => {
                    let socket = Socket::new(
                        Domain::for_address(server),
                        Type::STREAM,
                        Some(Protocol::TCP),
                    )?;
                    socket.bind(&local_address(server, source).into())?;
                    socket.connect_timeout(&server.into(), remaining()?)?;
                    TcpStream::from(socket)
                }
            };
            stream.set_write_timeout(Some(remaining()?))?;
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(query);
            stream.write_all(&framed)?;
            stream.set_read_timeout(Some(remaining()?))?;
            let mut length = [0u8; 2];
            stream.read_exact(&mut length)?;
            let mut response = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.set_read_timeout(Some(remaining()?))?;
            stream.read_exact(&mut response)?;
            Ok(response)
        }
    }
}

/// The address a client socket binds: `source` or the loopback address of
/// `server`'s family, any port.
fn local_address(server: SocketAddr, source: Option<IpAddr>) -> SocketAddr {
    let ip = source.unwrap_or(if server.is_ipv4() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
    });
    SocketAddr::new(ip, 0)
}

/// Asks `server` for `name`/`rtype` with RD set and EDNS, and parses the answer.
pub fn query(
    server: SocketAddr,
    name: &Name,
    rtype: RType,
    transport: Transport,
    timeout: Duration,
) -> io::Result<Message> {
    query_from(server, None, name, rtype, transport, timeout)
}

/// [`query`] from the source address `source` (the loopback address of the
/// server's family if `None`).
pub fn query_from(
    server: SocketAddr,
    source: Option<IpAddr>,
    name: &Name,
    rtype: RType,
    transport: Transport,
    timeout: Duration,
) -> io::Result<Message> {
    let id = next_id();
    let edns = Edns {
        udp_size: CLIENT_UDP_SIZE,
        ..Edns::default()
    };
    let packet = compose_query(id, name, rtype, true, Some(edns));
    let response = exchange_from(server, source, &packet, transport, timeout)?;
    Message::parse(&response).map_err(|error| io::Error::new(ErrorKind::InvalidData, error))
}

/// A query ID that differs from the previous one.
fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x1234);
    NEXT.fetch_add(0x2f1b, Ordering::Relaxed)
}

/// The DNSSEC bits a query can set: DO in the OPT record (RFC 3225), AD
/// and CD in the header (RFC 4035 §3.2, RFC 6840 §5.7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnssecFlags {
    /// DO: the client wants RRSIG, NSEC and NSEC3 records.
    pub dnssec_ok: bool,
    /// AD: the client understands the AD bit in the answer.
    pub authentic_data: bool,
    /// CD: the resolver is not to withhold data that fails validation.
    pub checking_disabled: bool,
}

/// [`query`] with the DNSSEC bits of `flags`.
pub fn query_dnssec(
    server: SocketAddr,
    name: &Name,
    rtype: RType,
    flags: DnssecFlags,
    transport: Transport,
    timeout: Duration,
) -> io::Result<Message> {
    let edns = Edns {
        udp_size: CLIENT_UDP_SIZE,
        dnssec_ok: flags.dnssec_ok,
        ..Edns::default()
    };
    let mut packet = compose_query(next_id(), name, rtype, true, Some(edns));
    let mut header =
        Header::parse(&packet).map_err(|error| io::Error::new(ErrorKind::InvalidData, error))?;
    header.authentic_data = flags.authentic_data;
    header.checking_disabled = flags.checking_disabled;
    packet[..12].copy_from_slice(&header.to_bytes());
    let response = exchange(server, &packet, transport, timeout)?;
    Message::parse(&response).map_err(|error| io::Error::new(ErrorKind::InvalidData, error))
}
