//! DNS over TCP (RFC 7766): length-prefixed messages, several queries per
//! connection answered out of order, an idle timeout, a deadline for each
//! message against slow senders, and caps on connections in total and per
//! client. Every connection first passes [`crate::proxy_protocol`]: the
//! PROXY header of a configured proxy, or the check that there is none.
//! The same message handling serves DNS over TLS ([`crate::tls`]) once the
//! handshake is done; there, responses are padded (RFC 7830, RFC 8467) when
//! the query asked for it.

use crate::handler::{Action, ClientNames, Handler, Transport};
use crate::padding::{pad_response, wants_padding};
use crate::proxy_protocol::{Admission, open_connection};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Queries one connection may have in resolution at once.
const MAX_QUERIES_PER_CONNECTION: usize = 128;
/// The buffer a connection's cached answers are patched in.
const TCP_SEND_BUFFER: usize = 16 * 1024;
/// Time allowed to receive one message once its first byte has arrived.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed to hand one message of a zone transfer to the connection's
/// writer (the client reading slowly).
const TRANSFER_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection counts shared by all workers.
#[derive(Default)]
pub(crate) struct ConnectionLimits {
    pub(crate) total: AtomicUsize,
    pub(crate) per_client: Mutex<HashMap<IpAddr, usize>>,
    pub(crate) max_total: usize,
    pub(crate) max_per_client: usize,
}

impl ConnectionLimits {
    /// Takes a place in the total; false if it is full.
    pub(crate) fn admit_total(&self) -> bool {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Takes a place in `client`'s share; false if it is full.
    pub(crate) fn admit_client(&self, client: IpAddr) -> bool {
        let mut per_client = self.per_client.lock();
        let count = per_client.entry(client).or_insert(0);
        if *count >= self.max_per_client {
            return false;
        }
        *count += 1;
        true
    }

    /// Takes a place in the total and in `client`'s share; false (and no
    /// place taken) if either is full. For listeners whose client address
    /// is known at once (DoQ).
    pub(crate) fn admit(&self, client: IpAddr) -> bool {
        if !self.admit_total() {
            return false;
        }
        if !self.admit_client(client) {
            self.release_total();
            return false;
        }
        true
    }

    /// Gives back the places [`ConnectionLimits::admit`] took.
    pub(crate) fn release(&self, client: IpAddr) {
        self.release_client(client);
        self.release_total();
    }

    pub(crate) fn release_total(&self) {
        self.total.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn release_client(&self, client: IpAddr) {
        let mut per_client = self.per_client.lock();
        if let Some(count) = per_client.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&client);
            }
        }
    }
}

/// The next connection of `listener` that `limits` admit, with its peer's
/// address, its places in the limits and whether the peer is a configured
/// proxy (whose connections start with a PROXY header, see
/// [`crate::proxy_protocol`]); `None` once `shutdown` changes. A proxy's
/// connection takes a place in the total only, until its header names the
/// client. Accept errors (out of file descriptors or similar) back off
/// briefly; connections over the limits are closed at once.
pub(crate) async fn accept_admitted(
    listener: &TcpListener,
    limits: &Arc<ConnectionLimits>,
    handler: &Handler,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(tokio::net::TcpStream, SocketAddr, Admission, bool)> {
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.changed() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let from_proxy = handler.is_proxy(peer.ip());
        if !limits.admit_total() {
            drop(stream);
            continue;
        }
        if from_proxy {
            return Some((
                stream,
                peer,
                Admission::total_only(Arc::clone(limits)),
                true,
            ));
        }
        if limits.admit_client(peer.ip()) {
            return Some((
                stream,
                peer,
                Admission::with_client(Arc::clone(limits), peer.ip()),
                false,
            ));
        }
        limits.release_total();
        drop(stream);
    }
}

pub(crate) async fn serve_tcp(
    listener: TcpListener,
    handler: Arc<Handler>,
    limits: Arc<ConnectionLimits>,
    idle_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    while let Some((stream, peer, mut admission, from_proxy)) =
        accept_admitted(&listener, &limits, &handler, &mut shutdown).await
    {
        let handler = Arc::clone(&handler);
        let in_flight = Arc::clone(&in_flight);
        let shutdown = shutdown.clone();
        tokio::task::spawn_local(async move {
            let _ = stream.set_nodelay(true);
            let Some((stream, client)) = open_connection(
                stream,
                peer,
                from_proxy,
                &mut admission,
                &handler.statistics,
                idle_timeout,
            )
            .await
            else {
                return;
            };
            serve_stream(
                stream,
                client,
                None,
                Transport::Tcp,
                handler,
                idle_timeout,
                in_flight,
                shutdown,
            )
            .await;
            drop(admission);
        });
    }
}

/// Serves length-prefixed DNS messages on one connection (TCP, or TLS after
/// the handshake, with the TLS server name the client sent).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_stream<S>(
    stream: S,
    client: SocketAddr,
    server_name: Option<String>,
    transport: Transport,
    handler: Arc<Handler>,
    idle_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + 'static,
{
    let encrypted = transport != Transport::Tcp;
    let names = ClientNames {
        server_name: server_name.as_deref(),
        doh_path: None,
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(MAX_QUERIES_PER_CONNECTION);
    let writer_task = tokio::task::spawn_local(async move {
        while let Some(response) = receiver.recv().await {
            let Ok(length) = u16::try_from(response.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(response.len() + 2);
            framed.extend_from_slice(&length.to_be_bytes());
            framed.extend_from_slice(&response);
            if writer.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let outstanding = Arc::new(tokio::sync::Semaphore::new(MAX_QUERIES_PER_CONNECTION));
    // Sized for common answers: a cached answer larger than this is composed
    // again from the RRset cache instead. Keeps idle connections cheap.
    let mut send_buffer = vec![0u8; TCP_SEND_BUFFER];
    loop {
        let mut prefix = [0u8; 2];
        let first = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            read = tokio::time::timeout(idle_timeout, reader.read_u8()) => read,
        };
        let Ok(Ok(first)) = first else { break };
        prefix[0] = first;
        let body = async {
            prefix[1] = reader.read_u8().await?;
            let mut packet = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            reader.read_exact(&mut packet).await?;
            Ok::<Vec<u8>, std::io::Error>(packet)
        };
        let Ok(Ok(packet)) = tokio::time::timeout(MESSAGE_TIMEOUT, body).await else {
            break;
        };
        if transport == Transport::Tcp
            && let Some(messages) = handler.transfer(&packet, client.ip())
        {
            // A zone transfer: its messages in order, each bounded in time
            // so a client that stops reading cannot hold the connection.
            let mut sent = true;
            for message in messages {
                let send = tokio::time::timeout(TRANSFER_SEND_TIMEOUT, sender.send(message));
                if !matches!(send.await, Ok(Ok(()))) {
                    sent = false;
                    break;
                }
            }
            if !sent {
                break;
            }
            continue;
        }
        let pad = encrypted && wants_padding(&packet);
        let packet = packet.as_slice();
        match handler.handle_named(packet, client, names, transport, &mut send_buffer) {
            Action::Reply(reply) => {
                let mut reply = reply.to_vec();
                if pad {
                    pad_response(&mut reply);
                }
                if sender.send(reply).await.is_err() {
                    break;
                }
            }
            Action::Owned(mut reply) => {
                if pad {
                    pad_response(&mut reply);
                }
                if !reply.is_empty() && sender.send(reply).await.is_err() {
                    break;
                }
            }
            Action::Drop => {}
            Action::Resolve(query) => {
                let Ok(permit) = Arc::clone(&outstanding).acquire_owned().await else {
                    break;
                };
                let handler = Arc::clone(&handler);
                let sender = sender.clone();
                let in_flight = Arc::clone(&in_flight);
                in_flight.fetch_add(1, Ordering::AcqRel);
                tokio::task::spawn_local(async move {
                    let response = handler.resolve(&query, transport).await;
                    if let Some(mut response) = response {
                        if pad {
                            pad_response(&mut response);
                        }
                        let _ = sender.send(response).await;
                    }
                    drop(permit);
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                });
            }
        }
    }
    drop(sender);
    let _ = writer_task.await;
}
