//! Errors of the wire format: a packet that cannot be read.

use crate::name::NameError;

/// Why a packet could not be parsed. The sender of the packet is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The packet ended in the middle of a field.
    #[error("packet too short")]
    ShortInput,
    /// A name in the packet is malformed.
    #[error("bad name: {0}")]
    Name(#[from] NameError),
    /// A record's data does not match its type's layout.
    #[error("malformed record data")]
    BadRecordData,
    /// More than one OPT record, or an OPT record outside the additional section.
    #[error("bad OPT record")]
    BadOpt,
    /// Bytes remain after the last record the header announced.
    #[error("trailing bytes after the last record")]
    TrailingBytes,
    /// The composed message would exceed 65535 bytes.
    #[error("message too long")]
    MessageTooLong,
}
