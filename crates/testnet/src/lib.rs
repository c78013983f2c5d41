//! A simulated DNS hierarchy of in-process authoritative servers on
//! 127.0.0.0/8, for end-to-end tests of the resolver.
//!
//! - [`Zone`]: a zone loaded from master-file text (RFC 1035 §5).
//! - [`answer`]: the authoritative answer logic (RFC 1034 §4.3.2, RFC 2308,
//!   RFC 4592 wildcards, RFC 6672 DNAME), transport-free.
//! - [`AuthServer`]: one server on one address over UDP and TCP, with a
//!   [`Behaviour`] that simulates dead, lame, EDNS-intolerant, truncating,
//!   slow, spoofing or garbage-spewing servers; it records every query.
//! - [`TestNet`]: several servers at once, and root hints pointing at them.
//! - [`client`]: a stub client to query the resolver under test.
//! - [`knot`]: a real primary (Knot DNS) for zone-transfer and NOTIFY tests.
//! - [`Scratch`]: a test's own temporary directory.
//! - [`replay`]: resolver test scenarios in the `.rpl` format and a
//!   simulated transport that answers the resolver from them, without sockets.
//!
//! Plain threads and blocking sockets with short read timeouts: a dropped
//! server stops within about 100 ms. Only use 127.0.0.0/8 addresses.
//!
//! # Limitations
//! - The in-process servers serve DNSSEC records only from zones signed
//!   beforehand (they sign nothing); no zone transfers, no dynamic
//!   updates, class IN only ([`knot`] runs a real primary for transfers).
//! - Port 53 by default, which needs root (or CAP_NET_BIND_SERVICE); use
//!   another port in [`ServerSpec::address`] otherwise.

pub mod answer;
pub mod client;
mod dnssec;
pub mod knot;
mod net;
pub mod replay;
mod scratch;
mod server;
mod zone;

pub use answer::{Answer, answer_query, answer_question};
pub use net::TestNet;
pub use scratch::Scratch;
pub use server::{
    AuthServer, Behaviour, DEFAULT_PORT, ReceivedQuery, SERVER_UDP_SIZE, SPOOFED_ADDRESS,
    ServerSpec, Transport, compose_answer, socket_address,
};
pub use zone::{DEFAULT_TTL, Zone, ZoneLoadError};
