//! The UDP loop of one worker: receive, answer hits at once, hand misses to
//! a task on the same runtime.
//!
//! A datagram from a configured proxy (`proxy_protocol_from`) must start
//! with a PROXY protocol v2 header (as dnsdist sends them); the client it
//! names is the query's client, the rest of the datagram the query, and
//! the response goes back to the proxy without a header. A datagram from a
//! proxy without a valid header, or from anyone else with one, is dropped
//! and counted.

use crate::handler::{Action, Handler, Transport};
use hanse_wire::proxy::{SIGNATURE, parse_proxy_header};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// How many resolutions one worker runs at once for UDP clients; past this,
/// new misses are dropped (the client retries) rather than queued without bound.
const MAX_PENDING_PER_WORKER: usize = 20_000;

/// How many datagrams the loop takes from a socket that is never empty
/// before it lets the worker's other tasks (resolutions, TCP) run.
pub(crate) const DATAGRAMS_BEFORE_YIELD: u32 = 64;

pub(crate) async fn serve_udp(
    socket: UdpSocket,
    handler: Arc<Handler>,
    in_flight: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let socket = Rc::new(socket);
    let mut receive_buffer = vec![0u8; 65535];
    let mut send_buffer = vec![0u8; 65535];
    let pending = Rc::new(std::cell::Cell::new(0usize));
    // The shutdown future is made once: polling a fresh one per datagram
    // would register a waker under a lock that all workers share. It is
    // polled only while the socket is empty; under load the flag, one
    // relaxed load, notices shutdown.
    let mut shutdown_signal = std::pin::pin!(shutdown.changed());
    let mut settings = handler.settings_cache();
    let mut received_in_a_row = 0u32;
    loop {
        if stopping.load(Ordering::Relaxed) {
            break;
        }
        // A queued datagram is taken at once, without a readiness future;
        // only an empty socket waits (and lets the other tasks run). A
        // socket that is never empty yields every `DATAGRAMS_BEFORE_YIELD`.
        let (length, client) = match socket.try_recv_from(&mut receive_buffer) {
            Ok(received) => {
                received_in_a_row += 1;
                if received_in_a_row >= DATAGRAMS_BEFORE_YIELD {
                    received_in_a_row = 0;
                    tokio::task::yield_now().await;
                }
                received
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                received_in_a_row = 0;
                tokio::select! {
                    biased;
                    _ = socket.readable() => continue,
                    _ = &mut shutdown_signal => break,
                }
            }
            Err(_) => continue,
        };
        let mut packet = &receive_buffer[..length];
        let mut client_address = client;
        let from_proxy = handler.is_proxy(client.ip());
        if from_proxy || packet.starts_with(&SIGNATURE) {
            match parse_proxy_header(packet) {
                Ok((header, header_length)) if from_proxy => {
                    packet = &packet[header_length..];
                    client_address = header.source.unwrap_or(client);
                }
                _ => {
                    handler.statistics.current().count_rejected_proxy_header();
                    continue;
                }
            }
        }
        // The handler has applied response-rate limiting already.
        match handler.handle_datagram(packet, client_address, &mut send_buffer, settings.load()) {
            Action::Reply(reply) => {
                let _ = socket.try_send_to(reply, client);
            }
            Action::Owned(reply) if reply.is_empty() => {}
            Action::Owned(reply) => {
                let _ = socket.send_to(&reply, client).await;
            }
            Action::Drop => {}
            Action::Resolve(query) => {
                if pending.get() >= MAX_PENDING_PER_WORKER {
                    handler.drop_overloaded(&query, Transport::Udp);
                    continue;
                }
                pending.set(pending.get() + 1);
                in_flight.fetch_add(1, Ordering::AcqRel);
                let socket = Rc::clone(&socket);
                let handler = Arc::clone(&handler);
                let in_flight = Arc::clone(&in_flight);
                let pending = Rc::clone(&pending);
                tokio::task::spawn_local(async move {
                    // Rate limited by the handler (RRL), perhaps to nothing.
                    let response = handler.resolve(&query, Transport::Udp).await;
                    if let Some(response) = response {
                        // Try at once; wait for the socket only if its buffer is full.
                        if socket.try_send_to(&response, client).is_err() {
                            let _ = socket.send_to(&response, client).await;
                        }
                    }
                    pending.set(pending.get() - 1);
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                });
            }
        }
    }
}
