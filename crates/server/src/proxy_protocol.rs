//! The PROXY protocol, version 2 (HAProxy's "proxy-protocol.txt"), on the
//! stream listeners: DNS over TCP, DNS over TLS (the header comes before
//! the TLS handshake) and DNS over HTTPS, over TLS and in cleartext.
//!
//! A connection from an address in `proxy_protocol_from`
//! ([`crate::Settings::proxy_protocol_from`]) must open with a version 2
//! header, complete within [`HEADER_TIMEOUT`] (or the idle timeout, if
//! shorter) and at most [`hanse_wire::proxy::MAX_HEADER_LENGTH`] octets; the
//! client address it carries then stands for the connection's peer
//! everywhere: the access list, the per-client connection limit, the choice
//! of the profile, the query log and the statistics. A `LOCAL` header (or
//! one without an IP address) leaves the proxy's own address. A connection
//! from such an address without a valid header is closed and counted
//! ([`crate::ServiceSnapshot::rejected_proxy_headers`]).
//!
//! Any other peer is never trusted: the first octets of its connection are
//! read, and if they are a version 2 signature the connection is closed
//! (and counted); otherwise they are put back in front of the stream
//! ([`Replayed`]) for the DNS, TLS or HTTP code to read.
//!
//! The per-client connection limit of a proxied connection applies to the
//! header's client once the header is read; until then it counts only
//! towards the total, so a proxy relaying many clients is not held to one
//! client's share.
//!
//! # Limitations
//! - Version 1 (text) headers are refused.
//! - TLVs are skipped (no CRC32C check, no use of the SSL or authority fields).
//! - Datagrams are read for a header by the UDP loop ([`crate::udp`]), not here.

use crate::statistics::ServiceStatistics;
use crate::tcp::ConnectionLimits;
use hanse_wire::proxy::{FIXED_LENGTH, SIGNATURE, could_be_signature, parse_proxy_header};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The longest a proxy may take to send its whole header.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection's places in the connection limits, given back when dropped:
/// the total always, the per-client count once the client is known.
pub(crate) struct Admission {
    limits: Arc<ConnectionLimits>,
    client: Option<IpAddr>,
}

impl Admission {
    /// A place in the total only (a proxy's connection before its header).
    pub(crate) fn total_only(limits: Arc<ConnectionLimits>) -> Admission {
        Admission {
            limits,
            client: None,
        }
    }

    /// A place in the total and in `client`'s share.
    pub(crate) fn with_client(limits: Arc<ConnectionLimits>, client: IpAddr) -> Admission {
        Admission {
            limits,
            client: Some(client),
        }
    }

    /// Takes a place in `client`'s share; false if it is full.
    fn admit_client(&mut self, client: IpAddr) -> bool {
        if self.client.is_some() {
            return true;
        }
        if !self.limits.admit_client(client) {
            return false;
        }
        self.client = Some(client);
        true
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(client) = self.client {
            self.limits.release_client(client);
        }
        self.limits.release_total();
    }
}

/// Reads the start of a new connection from `peer`: the PROXY header if
/// `peer` is a configured proxy, else a check that none is there. Returns
/// the stream (with any octets read but not part of a header put back) and
/// the client's address; `None` if the connection is to be closed.
pub(crate) async fn open_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    from_proxy: bool,
    admission: &mut Admission,
    statistics: &ServiceStatistics,
    idle_timeout: Duration,
) -> Option<(Replayed<TcpStream>, SocketAddr)> {
    let reject = || {
        statistics.current().count_rejected_proxy_header();
        None
    };
    if from_proxy {
        let read = tokio::time::timeout(
            HEADER_TIMEOUT.min(idle_timeout),
            read_header(&mut stream, peer),
        )
        .await;
        let Ok(Some(client)) = read else {
            tracing::debug!("connection from proxy {peer} closed: no valid PROXY v2 header");
            return reject();
        };
        if !admission.admit_client(client.ip()) {
            return None;
        }
        return Some((Replayed::new(stream, &[]), client));
    }
    let mut start = [0u8; SIGNATURE.len()];
    let read = tokio::time::timeout(idle_timeout, read_start(&mut stream, &mut start)).await;
    let Ok(Ok(filled)) = read else {
        return None;
    };
    if start == SIGNATURE {
        tracing::debug!("connection from {peer} closed: PROXY header from an address not trusted");
        return reject();
    }
    Some((Replayed::new(stream, &start[..filled]), peer))
}

/// Reads octets into `start` (as long as the signature) while they could be
/// the signature; returns how many were read: all of `start` if they are
/// the signature, maybe all of it if they are not. The end of the stream is
/// an error.
async fn read_start(stream: &mut TcpStream, start: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < start.len() {
        let read = stream.read(&mut start[filled..]).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += read;
        if !could_be_signature(&start[..filled]) {
            break;
        }
    }
    Ok(filled)
}

/// Reads exactly one header, no octet further, and returns the client's
/// address it names (`peer` for LOCAL); `None` if it is not a valid one.
async fn read_header(stream: &mut TcpStream, peer: SocketAddr) -> Option<SocketAddr> {
    let mut fixed = [0u8; FIXED_LENGTH];
    read_start(stream, &mut fixed[..SIGNATURE.len()])
        .await
        .ok()?;
    if fixed[..SIGNATURE.len()] != SIGNATURE {
        return None;
    }
    stream
        .read_exact(&mut fixed[SIGNATURE.len()..])
        .await
        .ok()?;
    let length = hanse_wire::proxy::read_fixed_part(&fixed)
        .ok()?
        .header_length;
    let mut header = vec![0u8; length];
    header[..FIXED_LENGTH].copy_from_slice(&fixed);
    stream.read_exact(&mut header[FIXED_LENGTH..]).await.ok()?;
    let (parsed, _) = parse_proxy_header(&header).ok()?;
    Some(parsed.source.unwrap_or(peer))
}

/// A stream with the octets already read from it put back in front.
pub(crate) struct Replayed<S> {
    start: [u8; SIGNATURE.len()],
    position: usize,
    end: usize,
    inner: S,
}

impl<S> Replayed<S> {
    fn new(inner: S, start: &[u8]) -> Replayed<S> {
        let mut buffer = [0u8; SIGNATURE.len()];
        buffer[..start.len()].copy_from_slice(start);
        Replayed {
            start: buffer,
            position: 0,
            end: start.len(),
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.position < self.end {
            let count = buffer.remaining().min(self.end - self.position);
            let position = self.position;
            buffer.put_slice(&self.start[position..position + count]);
            self.position += count;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Opens a loopback connection from `source`, writes `bytes` and closes
    /// its sending side; returns what [`open_connection`] made of it and the
    /// rest of the stream, and the rejections counted.
    fn open_with(source: &str, from_proxy: bool, bytes: &[u8]) -> (Option<(IpAddr, Vec<u8>)>, u64) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
            let mut client = socket
                .connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            client.write_all(bytes).await.unwrap();
            client.shutdown().await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let limits = Arc::new(ConnectionLimits {
                max_total: 10,
                max_per_client: 10,
                ..ConnectionLimits::default()
            });
            assert!(limits.admit_total());
            let mut admission = Admission::total_only(Arc::clone(&limits));
            let statistics = ServiceStatistics::new(1);
            let opened = open_connection(
                stream,
                peer,
                from_proxy,
                &mut admission,
                &statistics,
                Duration::from_secs(2),
            )
            .await;
            let opened = match opened {
                Some((mut stream, client)) => {
                    let mut rest = Vec::new();
                    stream.read_to_end(&mut rest).await.unwrap();
                    Some((client.ip(), rest))
                }
                None => None,
            };
            drop(admission);
            assert_eq!(limits.total.load(std::sync::atomic::Ordering::Relaxed), 0);
            assert!(limits.per_client.lock().is_empty());
            (opened, statistics.snapshot().rejected_proxy_headers)
        })
    }

    fn header(client: [u8; 4]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0x21, 0x11, 0, 12]);
        bytes.extend_from_slice(&client);
        bytes.extend_from_slice(&[127, 0, 0, 1, 0x10, 0x00, 0, 53]);
        bytes
    }

    #[test]
    fn a_proxy_header_names_the_client_and_the_rest_is_read_after_it() {
        let mut bytes = header([192, 0, 2, 7]);
        bytes.extend_from_slice(b"first query");
        let (opened, rejected) = open_with("127.83.0.1", true, &bytes);
        let (client, rest) = opened.expect("accepted");
        assert_eq!(client, IpAddr::from([192, 0, 2, 7]));
        assert_eq!(rest, b"first query");
        assert_eq!(rejected, 0);
    }

    #[test]
    fn other_peers_keep_every_octet_and_their_own_address() {
        // Longer and shorter than the signature; one that starts like it.
        for bytes in [
            &b"\x16\x03\x01\x00\xc8 a TLS hello"[..],
            b"\x00\x1d",
            b"\r\n\r\nGET",
        ] {
            let (opened, rejected) = open_with("127.83.0.2", false, bytes);
            let (client, rest) = opened.expect("accepted");
            assert_eq!(client, IpAddr::from([127, 83, 0, 2]));
            assert_eq!(rest, bytes);
            assert_eq!(rejected, 0);
        }
    }

    #[test]
    fn headers_from_other_peers_and_proxies_without_one_are_refused_and_counted() {
        let (opened, rejected) = open_with("127.83.0.2", false, &header([192, 0, 2, 7]));
        assert!(opened.is_none());
        assert_eq!(rejected, 1);
        for bytes in [
            &b"\x00\x1d plain DNS over TCP"[..],
            b"PROXY TCP4 192.0.2.7 127.0.0.1 1 53\r\n",
            b"",
        ] {
            let (opened, rejected) = open_with("127.83.0.1", true, bytes);
            assert!(opened.is_none());
            assert_eq!(rejected, 1);
        }
        // A header cut short by the end of the stream.
        let (opened, rejected) = open_with("127.83.0.1", true, &header([192, 0, 2, 7])[..20]);
        assert!(opened.is_none());
        assert_eq!(rejected, 1);
    }

    #[test]
    fn octets_put_back_are_read_first_then_the_stream() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (mut near, far) = tokio::io::duplex(64);
            near.write_all(b" world").await.unwrap();
            drop(near);
            let mut replayed = Replayed::new(far, b"hello");
            let mut text = String::new();
            replayed.read_to_string(&mut text).await.unwrap();
            assert_eq!(text, "hello world");
        });
    }
}
