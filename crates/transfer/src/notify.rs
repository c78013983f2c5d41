//! NOTIFY (RFC 1996): composing and reading a primary's notification,
//! composing the answer, and the outcomes a secondary can give. The
//! listener that receives them lives elsewhere.
//!
//! # Limitations
//! NOTIFY messages signed with TSIG are read, but the signature is not
//! checked here; the caller should only use a NOTIFY as a hint to start a
//! (verified) transfer, as RFC 1996 §3.11 suggests.

use hanse_wire::{Class, Header, Message, MessageBuilder, Name, Opcode, Question, RType, Record};

/// A NOTIFY request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The message ID, echoed in the response.
    pub id: u16,
    /// The zone that changed.
    pub zone: Name,
    /// The new serial, if the primary included the SOA (RFC 1996 §3.7).
    pub serial: Option<u32>,
}

/// What a secondary made of a NOTIFY; it decides the response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// The zone is followed and the source is one of its primaries: a
    /// refresh is scheduled. Answered NOERROR.
    Accepted,
    /// No followed zone has this name. Answered NOTAUTH.
    UnknownZone,
    /// The zone is followed, but the source is not one of its primaries.
    /// Answered REFUSED.
    NotPrimary,
}

/// A NOTIFY request for `zone` (RFC 1996 §3.7): opcode NOTIFY, AA set, the
/// zone's SOA as the question, and with `serial` an SOA record in the
/// answer section carrying it (the other SOA fields zero, as only the
/// serial is a hint).
pub fn compose_notify(id: u16, zone: &Name, serial: Option<u32>) -> Vec<u8> {
    let mut builder = MessageBuilder::new(
        Header {
            id,
            opcode: Opcode::NOTIFY.0,
            authoritative: true,
            ..Header::default()
        },
        512,
    );
    // One question and one SOA with two root names always fit in 512.
    let _ = builder.push_question(&Question {
        name: zone.clone(),
        rtype: RType::SOA,
        class: Class::IN,
    });
    if let Some(serial) = serial {
        let mut data = vec![0, 0];
        data.extend_from_slice(&serial.to_be_bytes());
        data.extend_from_slice(&[0; 16]);
        let _ = builder.push_answer(&Record {
            name: zone.clone(),
            rtype: RType::SOA,
            class: Class::IN,
            ttl: 0,
            data: data.into(),
        });
    }
    builder.finish()
}

/// Signs a NOTIFY composed by [`compose_notify`] with `key` (RFC 8945
/// §5.1), at the local clock's time.
pub fn sign_notify(message: &mut Vec<u8>, key: &crate::TsigKey) {
    let _ = crate::tsig::sign_request(key, message, crate::tsig::now());
}

/// Reads a NOTIFY request for an SOA: `None` for anything else (a
/// response, another opcode or type, no or several questions, a malformed
/// packet).
pub fn read_notify(packet: &[u8]) -> Option<Notify> {
    let message = Message::parse(packet).ok()?;
    let header = &message.header;
    if header.response || header.opcode != Opcode::NOTIFY.0 {
        return None;
    }
    let [question] = message.questions.as_slice() else {
        return None;
    };
    if question.rtype != RType::SOA || question.class != Class::IN {
        return None;
    }
    let serial = message
        .answers
        .iter()
        .find(|record| record.rtype == RType::SOA && record.name == question.name)
        .and_then(|record| record.soa_serial());
    Some(Notify {
        id: header.id,
        zone: question.name.clone(),
        serial,
    })
}

/// The answer to a NOTIFY: same ID, opcode and question, QR and AA set,
/// NOERROR (RFC 1996 §4.7).
pub fn notify_response(notify: &Notify) -> Vec<u8> {
    let mut builder = MessageBuilder::new(
        Header {
            id: notify.id,
            response: true,
            opcode: Opcode::NOTIFY.0,
            authoritative: true,
            ..Header::default()
        },
        512,
    );
    // One question of at most 255 + 4 octets always fits in 512.
    let _ = builder.push_question(&Question {
        name: notify.zone.clone(),
        rtype: RType::SOA,
        class: Class::IN,
    });
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify_packet(id: u16, serial: Option<u32>) -> Vec<u8> {
        compose_notify(id, &Name::from_ascii("rpz.example.").unwrap(), serial)
    }

    #[test]
    fn reads_a_notify_and_answers_it() {
        let notify = read_notify(&notify_packet(4711, Some(42))).unwrap();
        assert_eq!(notify.id, 4711);
        assert_eq!(notify.zone, Name::from_ascii("rpz.example.").unwrap());
        assert_eq!(notify.serial, Some(42));
        assert_eq!(read_notify(&notify_packet(1, None)).unwrap().serial, None);

        let response = Message::parse(&notify_response(&notify)).unwrap();
        assert_eq!(response.header.id, 4711);
        assert!(response.header.response && response.header.authoritative);
        assert_eq!(response.header.opcode, Opcode::NOTIFY.0);
        assert_eq!(response.header.rcode, 0);
        assert_eq!(response.questions[0].name, notify.zone);
        assert_eq!(response.questions[0].rtype, RType::SOA);
        // A response is not a notify.
        assert_eq!(read_notify(&notify_response(&notify)), None);
    }

    #[test]
    fn ignores_other_messages() {
        let query = hanse_wire::compose_query(
            1,
            &Name::from_ascii("rpz.example.").unwrap(),
            RType::SOA,
            false,
            None,
        );
        assert_eq!(read_notify(&query), None);
        let packet = notify_packet(1, Some(1));
        for length in 0..packet.len() {
            let _ = read_notify(&packet[..length]);
        }
        assert_eq!(read_notify(&[]), None);
    }
}
