//! The errors of a zone transfer.

use hanse_wire::{Name, Rcode, WireError};

/// Why a transfer failed. Nothing of a failed transfer may be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// Connecting, sending or receiving failed.
    #[error("connection to the primary failed: {0}")]
    Io(#[from] std::io::Error),
    /// The transfer did not complete within the time allowed.
    #[error("the transfer did not complete in time")]
    Timeout,
    /// The request could not be composed (a name too long with the key).
    #[error("the request could not be composed: {0}")]
    Request(WireError),
    /// A response message could not be parsed.
    #[error("malformed response message: {0}")]
    Wire(#[from] WireError),
    /// A response message is not an answer to the request (ID, QR bit,
    /// opcode or question differ).
    #[error("response does not match the request: {0}")]
    Mismatch(&'static str),
    /// The primary answered with an error response code.
    #[error("the primary answered {0}")]
    Rcode(Rcode),
    /// A response message had the TC bit set, which has no meaning over TCP.
    #[error("truncated response over TCP")]
    Truncated,
    /// The records do not form a valid transfer (missing or misplaced SOA,
    /// records after the closing SOA, serials out of sequence).
    #[error("malformed transfer: {0}")]
    Malformed(&'static str),
    /// A record's owner name is outside the zone being transferred.
    #[error("record {0} is outside the zone")]
    OutOfZone(Name),
    /// A record's class is not IN.
    #[error("record {0} has a class other than IN")]
    WrongClass(Name),
    /// The connection closed before the closing SOA.
    #[error("the primary closed the connection before the transfer completed")]
    Incomplete,
    /// The primary sent more bytes than [`Limits::max_bytes`](crate::Limits).
    #[error("the transfer exceeds {0} bytes")]
    TooLarge(u64),
    /// The primary sent more records than [`Limits::max_records`](crate::Limits).
    #[error("the transfer exceeds {0} records")]
    TooManyRecords(usize),
    /// TSIG verification failed, or the primary refused our signature.
    #[error("TSIG: {0}")]
    Tsig(#[from] TsigError),
}

/// Why the TSIG check of a transfer failed (RFC 8945 §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TsigError {
    /// A key is configured but a message that must be signed is not
    /// (the first, the last, or one after 99 unsigned messages).
    #[error("a response message that must be signed is unsigned")]
    Missing,
    /// The TSIG record is malformed or not the last record of the message.
    #[error("malformed TSIG record")]
    Malformed,
    /// The response is signed with another key name or algorithm.
    #[error("response signed with another key or algorithm")]
    WrongKey,
    /// The MAC does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The signing time is outside the fudge window of the local clock.
    #[error("signing time outside the allowed window")]
    BadTime,
    /// The primary refused the request's signature with this TSIG error
    /// (16 BADSIG, 17 BADKEY, 18 BADTIME, 22 BADTRUNC).
    #[error("the primary refused the signature (TSIG error {0})")]
    Refused(u16),
}
