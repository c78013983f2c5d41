//! The binary header of the PROXY protocol, version 2 (HAProxy's
//! "proxy-protocol.txt", section 2.2), with no I/O.
//!
//! A proxy in front of a server opens each connection (or prefixes each
//! datagram) with this header to pass on the address of the client it
//! serves. The header is sixteen fixed octets — a twelve-octet signature,
//! the version and command, the address family and transport, and the
//! length of what follows — then the addresses and optional
//! type-length-value fields (TLVs).
//!
//! [`read_fixed_part`] reads the sixteen fixed octets and says how long
//! the whole header is, so a reader of a stream knows how much more to
//! read; [`parse_proxy_header`] reads a whole header from the start of a
//! buffer and says how many octets it took.
//!
//! Commands: `PROXY` carries the client's and the server's addresses;
//! `LOCAL` (health checks of the proxy itself) carries none that counts,
//! and the receiver uses the connection's own endpoints.
//!
//! # Limitations
//! - Version 1 (the text header starting with `PROXY `) is recognised and
//!   refused ([`ProxyHeaderError::VersionOne`]), not parsed.
//! - TLVs are skipped unread (no `PP2_TYPE_CRC32C` check, no SSL or
//!   authority fields).
//! - `AF_UNIX` addresses and `AF_UNSPEC` are accepted but give no client
//!   address ([`ProxyHeader::source`] is `None`).
//! - The whole header is capped at [`MAX_HEADER_LENGTH`] octets, far below
//!   the 65,551 the format allows.

/// The twelve octets every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The octets of the signature, version and command, family and length.
pub const FIXED_LENGTH: usize = 16;
/// The longest header accepted: the fixed part, IPv6 addresses and TLVs.
pub const MAX_HEADER_LENGTH: usize = 1024;
/// How a version 1 header starts.
const VERSION_ONE_START: &[u8] = b"PROXY ";
/// Octets of the IPv4 address block: two addresses and two ports.
const INET_LENGTH: usize = 12;
/// Octets of the IPv6 address block.
const INET6_LENGTH: usize = 36;
/// Octets of the UNIX address block: two 108-octet paths.
const UNIX_LENGTH: usize = 216;

/// What the proxy says the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyCommand {
    /// The proxy opened the connection on its own behalf (a health check):
    /// the connection's own endpoints count.
    Local,
    /// The connection is relayed for a client: the header's addresses count.
    Proxy,
}

/// The transport protocol the proxy received the client's traffic over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyTransport {
    /// Not given (`UNSPEC`, with `LOCAL` or an unknown protocol).
    Unspecified,
    /// A stream (TCP).
    Stream,
    /// Datagrams (UDP).
    Datagram,
}

/// A parsed version 2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// `LOCAL` or `PROXY`.
    pub command: ProxyCommand,
    /// The transport the proxy received the client's traffic over.
    pub transport: ProxyTransport,
    /// The client's address and port, for `PROXY` with an IPv4 or IPv6
    /// family; `None` for `LOCAL`, `AF_UNSPEC` and `AF_UNIX`.
    pub source: Option<std::net::SocketAddr>,
    /// The address and port the client connected to at the proxy, under
    /// the same conditions as `source`.
    pub destination: Option<std::net::SocketAddr>,
}

impl ProxyHeader {
    /// The client's address: the header's source when it gives one, else
    /// `peer` (the proxy's own address, for `LOCAL` and unknown families).
    pub fn client_or(&self, peer: std::net::IpAddr) -> std::net::IpAddr {
        self.source.map_or(peer, |source| source.ip())
    }
}

/// Why octets are not a usable version 2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyHeaderError {
    /// More octets are needed; `needed` is the length of the whole header
    /// if known, else of its fixed part.
    #[error("PROXY header incomplete: {needed} octets needed")]
    Incomplete {
        /// The octets needed from the start of the buffer.
        needed: usize,
    },
    /// A version 1 (text) header, which is not accepted.
    #[error("PROXY protocol version 1 header; only version 2 is accepted")]
    VersionOne,
    /// The octets do not start with the version 2 signature.
    #[error("no PROXY protocol version 2 signature")]
    Signature,
    /// A version other than 2.
    #[error("PROXY protocol version {0} is not supported")]
    Version(u8),
    /// A command other than `LOCAL` (0) and `PROXY` (1).
    #[error("unknown PROXY command {0}")]
    Command(u8),
    /// An address family other than 0 to 3.
    #[error("unknown PROXY address family {0}")]
    Family(u8),
    /// A transport protocol other than 0 to 2.
    #[error("unknown PROXY transport protocol {0}")]
    Transport(u8),
    /// The declared length is too short for the family's addresses.
    #[error("PROXY header of {length} octets is too short for its addresses ({needed})")]
    AddressesTruncated {
        /// The length the header declares after its fixed part.
        length: usize,
        /// The length the family's addresses take.
        needed: usize,
    },
    /// The whole header would be longer than [`MAX_HEADER_LENGTH`].
    #[error("PROXY header of {0} octets is longer than {MAX_HEADER_LENGTH}")]
    TooLong(usize),
}

/// The parts of the fixed header needed to read the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedPart {
    /// `LOCAL` or `PROXY`.
    pub command: ProxyCommand,
    /// The address family nibble (0 unspecified, 1 IPv4, 2 IPv6, 3 UNIX).
    pub family: u8,
    /// The transport.
    pub transport: ProxyTransport,
    /// The length of the whole header, fixed part included.
    pub header_length: usize,
}

/// Whether `bytes` could be the start of a version 2 signature: every
/// octet present matches it (an empty slice could).
pub fn could_be_signature(bytes: &[u8]) -> bool {
    let length = bytes.len().min(SIGNATURE.len());
    bytes[..length] == SIGNATURE[..length]
}

/// Reads the sixteen fixed octets at the start of `bytes`: signature,
/// version, command, family, transport and length, all checked.
pub fn read_fixed_part(bytes: &[u8]) -> Result<FixedPart, ProxyHeaderError> {
    if bytes.len() >= VERSION_ONE_START.len() && bytes.starts_with(VERSION_ONE_START) {
        return Err(ProxyHeaderError::VersionOne);
    }
    if !could_be_signature(bytes) {
        return Err(ProxyHeaderError::Signature);
    }
    let Some(fixed) = bytes.get(..FIXED_LENGTH) else {
        return Err(ProxyHeaderError::Incomplete {
            needed: FIXED_LENGTH,
        });
    };
    let version = fixed[12] >> 4;
    if version != 2 {
        return Err(ProxyHeaderError::Version(version));
    }
    let command = match fixed[12] & 0x0f {
        0 => ProxyCommand::Local,
        1 => ProxyCommand::Proxy,
        other => return Err(ProxyHeaderError::Command(other)),
    };
    let family = fixed[13] >> 4;
    if family > 3 {
        return Err(ProxyHeaderError::Family(family));
    }
    let transport = match fixed[13] & 0x0f {
        0 => ProxyTransport::Unspecified,
        1 => ProxyTransport::Stream,
        2 => ProxyTransport::Datagram,
        other => return Err(ProxyHeaderError::Transport(other)),
    };
    let length = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let needed = match family {
        1 => INET_LENGTH,
        2 => INET6_LENGTH,
        3 => UNIX_LENGTH,
        _ => 0,
    };
    // A LOCAL header's addresses are ignored, so they need not be there.
    if command == ProxyCommand::Proxy && length < needed {
        return Err(ProxyHeaderError::AddressesTruncated { length, needed });
    }
    let header_length = FIXED_LENGTH + length;
    if header_length > MAX_HEADER_LENGTH {
        return Err(ProxyHeaderError::TooLong(header_length));
    }
    Ok(FixedPart {
        command,
        family,
        transport,
        header_length,
    })
}

/// Parses the version 2 header at the start of `bytes`; returns it and its
/// length in octets (what follows is the client's data).
pub fn parse_proxy_header(bytes: &[u8]) -> Result<(ProxyHeader, usize), ProxyHeaderError> {
    let fixed = read_fixed_part(bytes)?;
    let Some(header) = bytes.get(..fixed.header_length) else {
        return Err(ProxyHeaderError::Incomplete {
            needed: fixed.header_length,
        });
    };
    let addresses = &header[FIXED_LENGTH..];
    let (source, destination) = match (fixed.command, fixed.family) {
        (ProxyCommand::Proxy, 1) => {
            let address = |at: usize| {
                std::net::Ipv4Addr::new(
                    addresses[at],
                    addresses[at + 1],
                    addresses[at + 2],
                    addresses[at + 3],
                )
            };
            let port = |at: usize| u16::from_be_bytes([addresses[at], addresses[at + 1]]);
            (
                Some(std::net::SocketAddr::from((address(0), port(8)))),
                Some(std::net::SocketAddr::from((address(4), port(10)))),
            )
        }
        (ProxyCommand::Proxy, 2) => {
            let address = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&addresses[at..at + 16]);
                std::net::Ipv6Addr::from(octets)
            };
            let port = |at: usize| u16::from_be_bytes([addresses[at], addresses[at + 1]]);
            (
                Some(std::net::SocketAddr::from((address(0), port(32)))),
                Some(std::net::SocketAddr::from((address(16), port(34)))),
            )
        }
        _ => (None, None),
    };
    Ok((
        ProxyHeader {
            command: fixed.command,
            transport: fixed.transport,
            source,
            destination,
        },
        fixed.header_length,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, SocketAddr};

    /// A header as a proxy would send it, with `extra` octets of TLVs.
    fn header(command: u8, family_transport: u8, addresses: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family_transport);
        let length = u16::try_from(addresses.len() + extra.len()).unwrap();
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(addresses);
        bytes.extend_from_slice(extra);
        bytes
    }

    const INET: [u8; 12] = [192, 0, 2, 7, 198, 51, 100, 1, 0xc3, 0x50, 0, 53];

    #[test]
    fn a_proxied_ipv4_stream_gives_both_addresses_and_its_length() {
        let mut bytes = header(1, 0x11, &INET, &[]);
        bytes.extend_from_slice(b"dns message follows");
        let (parsed, length) = parse_proxy_header(&bytes).unwrap();
        assert_eq!(length, 28);
        assert_eq!(parsed.command, ProxyCommand::Proxy);
        assert_eq!(parsed.transport, ProxyTransport::Stream);
        assert_eq!(
            parsed.source,
            Some("192.0.2.7:50000".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(
            parsed.destination,
            Some("198.51.100.1:53".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(&bytes[length..], b"dns message follows");
    }

    #[test]
    fn a_proxied_ipv6_datagram_with_tlvs_skips_them() {
        let mut addresses = Vec::new();
        addresses.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        addresses.extend_from_slice(
            &"2001:db8::53"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        addresses.extend_from_slice(&[0x12, 0x34, 0, 53]);
        // PP2_TYPE_AUTHORITY "dns.test" and a NOOP.
        let tlvs = [&[0x02, 0, 8][..], b"dns.test", &[0x04, 0, 2, 0, 0]].concat();
        let bytes = header(1, 0x22, &addresses, &tlvs);
        let (parsed, length) = parse_proxy_header(&bytes).unwrap();
        assert_eq!(length, bytes.len());
        assert_eq!(parsed.transport, ProxyTransport::Datagram);
        assert_eq!(
            parsed.source,
            Some("[2001:db8::1]:4660".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(
            parsed.destination,
            Some("[2001:db8::53]:53".parse::<SocketAddr>().unwrap())
        );
    }

    #[test]
    fn local_and_unknown_families_leave_the_peer_as_the_client() {
        let peer: IpAddr = "127.83.0.1".parse().unwrap();
        // LOCAL with addresses (ignored) and without.
        for bytes in [header(0, 0x11, &INET, &[]), header(0, 0x00, &[], &[])] {
            let (parsed, length) = parse_proxy_header(&bytes).unwrap();
            assert_eq!(parsed.command, ProxyCommand::Local);
            assert_eq!(parsed.source, None);
            assert_eq!(parsed.client_or(peer), peer);
            assert_eq!(length, bytes.len());
        }
        // PROXY for AF_UNSPEC and AF_UNIX.
        let unix = header(1, 0x31, &[0u8; 216], &[]);
        for bytes in [header(1, 0x00, &[], &[]), unix] {
            let (parsed, _) = parse_proxy_header(&bytes).unwrap();
            assert_eq!(parsed.client_or(peer), peer);
        }
        let (proxied, _) = parse_proxy_header(&header(1, 0x11, &INET, &[])).unwrap();
        assert_eq!(
            proxied.client_or(peer),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn every_prefix_of_a_header_is_incomplete_with_the_length_needed() {
        let bytes = header(1, 0x11, &INET, &[1, 0, 0]);
        for end in 0..bytes.len() {
            let needed = if end < FIXED_LENGTH {
                FIXED_LENGTH
            } else {
                bytes.len()
            };
            assert_eq!(
                parse_proxy_header(&bytes[..end]),
                Err(ProxyHeaderError::Incomplete { needed }),
                "prefix of {end}"
            );
        }
        assert!(parse_proxy_header(&bytes).is_ok());
    }

    #[test]
    fn bad_headers_are_refused_with_their_reason() {
        assert_eq!(
            parse_proxy_header(b"PROXY TCP4 192.0.2.7 198.51.100.1 50000 53\r\n"),
            Err(ProxyHeaderError::VersionOne)
        );
        // A DNS over TCP message and a TLS ClientHello are not headers.
        assert_eq!(
            parse_proxy_header(&[0, 29, 0x12, 0x34, 1, 0]),
            Err(ProxyHeaderError::Signature)
        );
        assert_eq!(
            parse_proxy_header(&[0x16, 3, 1, 0, 200]),
            Err(ProxyHeaderError::Signature)
        );
        let mut bytes = header(1, 0x11, &INET, &[]);
        bytes[12] = 0x11;
        assert_eq!(
            parse_proxy_header(&bytes),
            Err(ProxyHeaderError::Version(1))
        );
        bytes[12] = 0x22;
        assert_eq!(
            parse_proxy_header(&bytes),
            Err(ProxyHeaderError::Command(2))
        );
        bytes[12] = 0x21;
        bytes[13] = 0x41;
        assert_eq!(parse_proxy_header(&bytes), Err(ProxyHeaderError::Family(4)));
        bytes[13] = 0x13;
        assert_eq!(
            parse_proxy_header(&bytes),
            Err(ProxyHeaderError::Transport(3))
        );
        // Too short for IPv6 addresses.
        let short = header(1, 0x21, &INET, &[]);
        assert_eq!(
            parse_proxy_header(&short),
            Err(ProxyHeaderError::AddressesTruncated {
                length: 12,
                needed: 36
            })
        );
        // Over the cap, refused from the fixed part alone.
        let mut long = header(1, 0x11, &INET, &[]);
        long[14..16].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(
            read_fixed_part(&long[..FIXED_LENGTH]),
            Err(ProxyHeaderError::TooLong(2016))
        );
    }

    #[test]
    fn the_signature_is_recognised_from_its_first_octets() {
        assert!(could_be_signature(&[]));
        assert!(could_be_signature(b"\r\n\r"));
        assert!(could_be_signature(&SIGNATURE));
        assert!(!could_be_signature(b"\r\n\n"));
        assert!(!could_be_signature(&[0x16]));
    }
}
