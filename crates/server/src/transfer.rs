//! Zone transfers served by this node as a primary (RFC 5936 AXFR, RFC 1995
//! IXFR): AXFR and IXFR queries are handed to the configured
//! [`TransferProvider`] (the binary's served feeds), which answers with
//! the response messages (`hanse_transfer::answer_transfer`).
//!
//! Over TCP, the messages of the answer are sent in order on the
//! connection; the connection's other queries wait meanwhile. Over UDP,
//! only the first message is sent (the provider answers IXFR with the
//! single current SOA, RFC 1995 §2, and refuses AXFR, RFC 5936 §4.2).
//! Transfers bypass the recursion access list: the provider checks the
//! client against the zone's own list and key. Without a provider, AXFR
//! and IXFR are REFUSED as before.
//!
//! SOA queries go to the provider first too, since secondaries ask a
//! primary for the SOA before they transfer (RFC 1034 §4.3.5, RFC 1996
//! §3.11): for a served zone and an allowed client it answers
//! authoritatively; otherwise the query is resolved as usual.
//!
//! # Limitations
//! - No zone transfer over TLS (RFC 9103): over DoT and DoH they are REFUSED.
//! - A TCP connection carrying a transfer answers nothing else until the
//!   transfer is sent.

use hanse_transfer::ResponseStream;
use hanse_wire::RType;
use std::net::IpAddr;

/// Answers the zone transfer requests of served zones.
pub trait TransferProvider: Send + Sync {
    /// Answers `packet`, an AXFR, IXFR or SOA query from `client`,
    /// received over TCP or (with `over_tcp` false) UDP. `None` (only for
    /// SOA) leaves the query to the resolver: the zone is not served or the
    /// client may not transfer it. Called on a worker thread: it must only
    /// look up the zone and return; the messages are made as the
    /// connection takes them.
    fn answer(&self, packet: &[u8], client: IpAddr, over_tcp: bool) -> Option<ResponseStream>;
}

/// Whether `packet` is a query (QR clear, opcode QUERY) with one question
/// of type AXFR or IXFR. Walks only the question name.
pub(crate) fn is_transfer_query(packet: &[u8]) -> bool {
    matches!(question_type(packet), Some(RType::AXFR | RType::IXFR))
}

/// The question type of `packet` if it is a query (QR clear, opcode QUERY)
/// with one question. Walks only the question name.
pub(crate) fn question_type(packet: &[u8]) -> Option<RType> {
    if packet.len() < 12 || packet[2] & 0xf8 != 0 || packet[4..6] != [0, 1] {
        return None;
    }
    let mut position = 12;
    loop {
        let &length = packet.get(position)?;
        if length == 0 {
            position += 1;
            break;
        }
        if length & 0xc0 != 0 {
            return None;
        }
        position += usize::from(length) + 1;
    }
    let rtype = packet.get(position..position + 4)?;
    Some(RType(u16::from_be_bytes([rtype[0], rtype[1]])))
}

#[cfg(test)]
mod tests {
    use super::is_transfer_query;
    use hanse_wire::{Name, RType, compose_query};

    #[test]
    fn recognises_transfer_queries_only() {
        let zone = Name::from_ascii("rpz.example.").unwrap();
        assert!(is_transfer_query(&compose_query(
            1,
            &zone,
            RType::AXFR,
            false,
            None
        )));
        assert!(is_transfer_query(&compose_query(
            1,
            &zone,
            RType::IXFR,
            false,
            None
        )));
        assert!(!is_transfer_query(&compose_query(
            1,
            &zone,
            RType::SOA,
            false,
            None
        )));
        let packet = compose_query(1, &zone, RType::AXFR, false, None);
        for length in 0..packet.len() {
            assert!(!is_transfer_query(&packet[..length]));
        }
        let mut response = packet;
        response[2] |= 0x80;
        assert!(!is_transfer_query(&response));
    }
}
