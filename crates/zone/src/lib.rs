//! DNS master files (RFC 1035 §5) and root hints in the `named.root` format.
//!
//! - [`parse_zone`] reads a master file into [`Record`](hanse_wire::Record)s
//!   with uncompressed wire-form data: `$ORIGIN`, `$TTL` (RFC 2308 §4), `@`,
//!   relative and absolute names, blank owners, TTL and class in either order,
//!   BIND-style TTL units (`1h30m`), parentheses, comments, quoted strings and
//!   escapes, and the generic record form of RFC 3597 §5 for any type.
//! - [`parse_rdata`] and [`format_rdata`] convert record data alone;
//!   [`format_record`] writes one line that [`parse_zone`] reads back.
//! - [`parse_root_hints`] and [`builtin_root_hints`] give the root servers.
//!
//! Every error carries the 1-based line and column of the offending token.
//! The parser works in one pass over the text, in time linear in its length,
//! and never panics on bad input; record data is capped at 65535 octets.
//!
//! # Limitations
//! - Class IN only; `$INCLUDE` and `$GENERATE` are rejected.
//! - Types without a dedicated presentation format here (LOC, SVCB, HTTPS,
//!   ...) are accepted in the RFC 3597 generic form only.

mod hints;
mod lexer;
mod rdata;
mod text;
mod zone;

#[cfg(test)]
mod tests;

pub use hints::{RootHints, RootServer, builtin_root_hints, parse_root_hints};
pub use rdata::{MAX_RECORD_DATA_LENGTH, format_rdata, parse_rdata};
pub use zone::{format_record, parse_zone};

/// Why a master file could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ZoneError {
    /// The line of the offending token, from 1.
    pub line: usize,
    /// The column of the offending token, from 1, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}
