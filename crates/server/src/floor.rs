//! The benchmark floor: a UDP responder that answers every query with one
//! canned A record, using the same socket strategy as the real service.
//!
//! Each worker thread runs a single-threaded tokio runtime with its own
//! `SO_REUSEPORT` UDP socket, bound by the same function as the service's
//! listeners, and the same receive/answer/send loop shape as `udp.rs`. The
//! answer copies the query's ID, RD bit and question (RFC 1035 §4.1.1,
//! §4.1.2) and adds one A record for 192.0.2.1 (RFC 5737 documentation
//! address) with a name pointer to the question. Its CPU cost per query is
//! the system calls and little else, which makes it the lower bound against
//! which `bench/run.sh` compares the cost of a cache hit.
//!
//! Started by the hidden command `hanse floor --listen ADDR:PORT --threads N`.
//!
//! # Limitations
//! - Benchmarking only: no access list, no TCP, no EDNS (an OPT record in
//!   the query is dropped from the answer), and the answer is the same for
//!   every name and type.
//! - Runs until the process is ended by a signal.

use crate::listener::bind_udp;
use crate::udp::DATAGRAMS_BEFORE_YIELD;
use std::net::SocketAddr;

/// The length of a DNS message header (RFC 1035 §4.1.1).
const HEADER_LENGTH: usize = 12;

/// The answer record appended after the question: a pointer to the name at
/// offset 12, type A, class IN, TTL 3600, 4 bytes of data, 192.0.2.1.
const CANNED_RECORD: [u8; 16] = [
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 192, 0, 2, 1,
];

/// Writes the canned response to `query` into `buffer` and returns it.
///
/// `None` if the packet is shorter than a header, is a response, has no
/// question, if the question name is compressed or runs past the packet,
/// or if `buffer` is too short.
pub fn canned_answer<'b>(query: &[u8], buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    let header = query.get(..HEADER_LENGTH)?;
    let is_response = header[2] & 0x80 != 0;
    let question_count = u16::from_be_bytes([header[4], header[5]]);
    if is_response || question_count == 0 {
        return None;
    }
    let mut position = HEADER_LENGTH;
    loop {
        let label_length = usize::from(*query.get(position)?);
        if label_length == 0 {
            break;
        }
        if label_length & 0xc0 != 0 {
            return None;
        }
        position += label_length + 1;
    }
    // The root label, QTYPE and QCLASS.
    let question_end = position + 5;
    let question = query.get(..question_end)?;
    let total = question_end + CANNED_RECORD.len();
    let response = buffer.get_mut(..total)?;
    response[..question_end].copy_from_slice(question);
    // QR, the query's RD bit, RA; opcode 0, rcode NOERROR.
    response[2] = 0x80 | (question[2] & 0x01);
    response[3] = 0x80;
    // QDCOUNT 1, ANCOUNT 1, NSCOUNT 0, ARCOUNT 0.
    response[4..12].copy_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
    response[question_end..].copy_from_slice(&CANNED_RECORD);
    Some(response)
}

/// Serves canned answers on `listen` with `threads` worker threads (each
/// with its own socket and runtime) until the process ends.
///
/// Returns an error if a socket, a runtime or a thread cannot be created.
pub fn serve_floor(listen: SocketAddr, threads: usize) -> std::io::Result<()> {
    let threads = threads.max(1);
    let mut address = listen;
    let mut sockets = Vec::with_capacity(threads);
    for _ in 0..threads {
        let socket = bind_udp(address)?;
        if address.port() == 0 {
            // Port 0: the kernel chose one; the other sockets share it.
            address = socket.local_addr()?;
        }
        sockets.push(socket);
    }
    let mut workers = Vec::with_capacity(threads);
    for (index, socket) in sockets.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = std::thread::Builder::new()
            .name(format!("hanse-floor-{index}"))
            .spawn(move || runtime.block_on(answer_loop(socket)))?;
        workers.push(worker);
    }
    for worker in workers {
        if let Ok(Err(error)) = worker.join() {
            return Err(error);
        }
    }
    Ok(())
}

/// The loop of one worker, shaped like the service's UDP loop: take a
/// queued datagram at once (waiting for readiness only when the socket is
/// empty, yielding every [`DATAGRAMS_BEFORE_YIELD`] datagrams), write the
/// answer into a buffer owned by the loop, try to send it at once.
async fn answer_loop(socket: std::net::UdpSocket) -> std::io::Result<()> {
    let socket = tokio::net::UdpSocket::from_std(socket)?;
    let mut receive_buffer = vec![0u8; 65535];
    let mut send_buffer = vec![0u8; 65535];
    let mut received_in_a_row = 0u32;
    loop {
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
                // A readiness error is the socket's: the next receive reports it.
                let _ = socket.readable().await;
                continue;
            }
            Err(_) => continue,
        };
        if let Some(reply) = canned_answer(&receive_buffer[..length], &mut send_buffer) {
            let _ = socket.try_send_to(reply, client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for "a.example." type A with ID 0x1234, RD set, and an OPT record.
    fn query() -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        packet.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        packet.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        packet
    }

    #[test]
    fn answer_copies_id_and_question_and_adds_one_record() {
        let query = query();
        let mut buffer = [0u8; 512];
        let answer = canned_answer(&query, &mut buffer).expect("an answer");
        let question_end = 12 + 11 + 4;
        assert_eq!(answer.len(), question_end + 16);
        assert_eq!(&answer[..2], &[0x12, 0x34]);
        assert_eq!(answer[2], 0x81, "QR and RD");
        assert_eq!(answer[3], 0x80, "RA, NOERROR");
        assert_eq!(&answer[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&answer[12..question_end], &query[12..question_end]);
        assert_eq!(&answer[question_end..], &CANNED_RECORD);
    }

    #[test]
    fn refuses_responses_short_packets_and_compressed_names() {
        let mut buffer = [0u8; 512];
        let mut response = query();
        response[2] |= 0x80;
        assert!(canned_answer(&response, &mut buffer).is_none());
        assert!(canned_answer(&query()[..20], &mut buffer).is_none());
        let mut compressed = query()[..12].to_vec();
        compressed.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert!(canned_answer(&compressed, &mut buffer).is_none());
        assert!(canned_answer(&query(), &mut [0u8; 20]).is_none());
    }

    #[test]
    fn serves_over_udp() {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port");
        let address = probe.local_addr().expect("an address");
        drop(probe);
        std::thread::spawn(move || serve_floor(address, 1));
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("a client socket");
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .expect("a timeout");
        let mut buffer = [0u8; 512];
        for _ in 0..50 {
            client.send_to(&query(), address).expect("sent");
            if let Ok((length, _)) = client.recv_from(&mut buffer) {
                assert_eq!(length, 12 + 15 + 16);
                assert_eq!(&buffer[..2], &[0x12, 0x34]);
                return;
            }
        }
        panic!("no answer from the floor");
    }
}
