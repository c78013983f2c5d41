//! NOTIFY (RFC 1996) on the DNS listener: a primary announces that a zone
//! this node follows as a secondary (an RPZ feed) has changed.
//!
//! The listener reads the message with [`hanse_transfer::read_notify`],
//! hands the zone, the serial (if the NOTIFY carried an SOA, RFC 1996 §3.7)
//! and the source address to the configured [`NotifyReceiver`], and answers
//! by what the receiver says:
//!
//! | outcome                       | response                                  |
//! |-------------------------------|-------------------------------------------|
//! | [`NotifyOutcome::Accepted`]   | NOERROR, AA, question echoed (RFC 1996 §4.7) |
//! | [`NotifyOutcome::UnknownZone`]| NOTAUTH (9), as BIND answers for a zone it does not serve |
//! | [`NotifyOutcome::NotPrimary`] | REFUSED, as BIND answers a source that is not a primary |
//! | no receiver configured        | NOTIMP                                    |
//! | unreadable, not one question  | FORMERR                                   |
//! | a question other than SOA/IN  | NOTIMP (RFC 1996 defines NOTIFY for SOA only) |
//!
//! NOTIFY is accepted from any address, whatever the recursion access list
//! says: the receiver checks the source against the zone's primaries. It
//! never reaches the resolver and never touches the caches.
//!
//! # Limitations
//! - TSIG on a NOTIFY is not verified: a NOTIFY is only a hint to check the
//!   primary's SOA now (RFC 1996 §3.11), and that transfer is verified.
//! - The receiver is called on the worker thread that read the message: it
//!   must only record the request (wake a task, set a flag), never block.

use hanse_transfer::{notify_response, read_notify};
use hanse_wire::{Class, Message, Name, RType, Rcode};
use std::net::IpAddr;

/// The response code NOTAUTH (RFC 2136 §2.2): the server is not
/// authoritative for the zone named in the message.
pub(crate) const NOTAUTH: Rcode = Rcode(9);

/// Receives NOTIFY messages for zones this node follows as a secondary (e.g. RPZ feeds).
pub trait NotifyReceiver: Send + Sync {
    /// `zone` was announced changed by `source` (serial if the NOTIFY carried a SOA).
    ///
    /// Called on a worker thread: record the request and return at once.
    fn notify(&self, zone: &Name, serial: Option<u32>, source: IpAddr) -> NotifyOutcome;
}

pub use hanse_transfer::NotifyOutcome;

/// The listener's answer to a NOTIFY message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotifyReply {
    /// The receiver accepted it: send this RFC 1996 response.
    Accepted(Vec<u8>),
    /// Answer with this error code (the question echoed).
    Error(Rcode),
}

/// Answers a NOTIFY message (`packet` has opcode NOTIFY and QR clear) from
/// `source`, asking `receiver` if there is one.
pub(crate) fn answer_notify(
    packet: &[u8],
    receiver: Option<&dyn NotifyReceiver>,
    source: IpAddr,
) -> NotifyReply {
    let Ok(message) = Message::parse(packet) else {
        return NotifyReply::Error(Rcode::FORMERR);
    };
    let [question] = message.questions.as_slice() else {
        return NotifyReply::Error(Rcode::FORMERR);
    };
    if question.rtype != RType::SOA || question.class != Class::IN {
        return NotifyReply::Error(Rcode::NOTIMP);
    }
    let Some(receiver) = receiver else {
        return NotifyReply::Error(Rcode::NOTIMP);
    };
    let Some(notify) = read_notify(packet) else {
        return NotifyReply::Error(Rcode::FORMERR);
    };
    match receiver.notify(&notify.zone, notify.serial, source) {
        NotifyOutcome::Accepted => NotifyReply::Accepted(notify_response(&notify)),
        NotifyOutcome::UnknownZone => NotifyReply::Error(NOTAUTH),
        NotifyOutcome::NotPrimary => NotifyReply::Error(Rcode::REFUSED),
    }
}
