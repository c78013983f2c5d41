//! The DNS wire format (RFC 1035 §4, RFC 3597, RFC 6891), with no I/O.
//!
//! Two layers:
//! - owned values for the resolution path: [`Name`], [`Record`], [`Message`]
//!   (parsed from a packet with every compression pointer followed and checked)
//!   and [`MessageBuilder`] (composes with name compression and truncation);
//! - borrowed views for the hot path: [`QueryView`] reads a client query in
//!   place and computes its cache key without allocating, and
//!   [`answer`] patches the ID, question case and TTLs of a stored answer.
//!
//! [`cookie`] reads, makes and checks DNS cookies (RFC 7873, RFC 9018).
//!
//! Beside DNS messages, [`proxy`] reads the PROXY protocol version 2 header
//! that a proxy puts before a client's connection or datagram.
//!
//! # Limitations
//! - Record data is kept as bytes; only the names inside the RFC 3597 §4
//!   well-known types (and SRV, DNAME, RP, AFSDB, RT, KX, PX) are decompressed on parse.
//! - Only class IN is interpreted; other classes pass through as numbers.

#![warn(missing_docs)]

pub mod answer;
mod builder;
pub mod cookie;
mod error;
mod header;
mod message;
mod name;
pub mod proxy;
pub mod types;
mod view;

pub use builder::{MessageBuilder, compose_query};
pub use error::WireError;
pub use header::{Header, Opcode};
pub use message::{Edns, EdnsOption, Message, Question, Record};
pub use name::{MAX_NAME_LENGTH, Name, NameError};
pub use types::{Class, RType, Rcode, RdataField, canonical_layout, compressible_layout};
pub use view::{CacheKey, KeyFlags, MAX_KEY_LENGTH, QueryView};
