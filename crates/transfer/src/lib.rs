//! Zone transfers: the client side (the feed transport for RPZ) and the
//! serving side of a primary.
//!
//! - [`transfer`] fetches a zone from a primary over TCP: AXFR (RFC 5936)
//!   when no copy is held, IXFR (RFC 1995) otherwise, accepting the three
//!   answer forms of IXFR (up to date, incremental, full zone).
//! - [`TsigKey`] signs the request and verifies every signed response
//!   message of a transfer with TSIG (RFC 8945), hmac-sha256 or hmac-sha512.
//! - [`answer_transfer`] answers AXFR and IXFR requests for a
//!   [`ServedZone`] (with its bounded journal) as a primary, TSIG-signed,
//!   without sockets (module `serve`).
//! - [`serial_newer`] compares SOA serials (RFC 1982 serial arithmetic).
//! - [`compose_notify`], [`read_notify`] and [`notify_response`] write and
//!   read a NOTIFY (RFC 1996) and compose its answer, for a listener that
//!   lives elsewhere; [`NotifyOutcome`] is what a secondary made of one.
//!
//! A primary is not trusted: every message is checked (ID, question, rcode,
//! zone membership of every record, the SOA framing of the transfer), the
//! whole transfer runs under one deadline, and [`Limits`] caps the bytes and
//! records a primary may send.
//!
//! # Limitations
//! - Client: TCP only; no IXFR over UDP, no zone transfer over TLS (RFC 9103).
//! - TSIG: hmac-sha256 and hmac-sha512 only; truncated MACs (RFC 8945 §5.2.2.1)
//!   are refused; NOTIFY messages are not authenticated here.
//! - Class IN only.
//! - The records of a transfer are held in memory until it completes
//!   (bounded by [`Limits`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod base64;
mod error;
mod notify;
mod serial;
mod serve;
mod transfer;
mod tsig;

pub use error::{TransferError, TsigError};
pub use notify::{
    Notify, NotifyOutcome, compose_notify, notify_response, read_notify, sign_notify,
};
pub use serial::serial_newer;
pub use serve::{
    JournalEntry, Refusal, ResponseStream, ServedZone, TransferAccess, TransferAnswer,
    TransferKind, TransferOutcome, TransferRequest, answer_transfer, diff_records,
    read_transfer_request,
};
pub use transfer::{Change, Limits, Transfer, transfer, transfer_with_limits};
pub use tsig::{TsigAlgorithm, TsigKey, TsigKeyError};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod serve_tests;
#[cfg(test)]
mod test_records;
