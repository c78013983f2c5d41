//! DNS service over UDP and TCP (RFC 1035 §4.2, RFC 7766, RFC 6891), TLS
//! (RFC 7858), HTTPS (RFC 8484) and QUIC (RFC 9250), with EDNS padding on the encrypted
//! transports (RFC 7830, RFC 8467):
//! listeners, worker threads, the access list, the hot path from the answer
//! cache, and composing answers from resolutions.
//!
//! Each worker thread runs its own single-threaded async runtime and owns one
//! `SO_REUSEPORT` UDP socket and one TCP listener per listen address, so the
//! kernel spreads clients over the workers and a cache hit never crosses a
//! thread. A cache hit is served in place: the query is read through
//! [`hanse_wire::QueryView`], the stored answer is copied into the worker's
//! buffer and patched (ID, question case, TTLs), and sent; nothing is
//! allocated. A miss becomes a task on the same runtime that asks the
//! [`hanse_resolve::Resolver`], composes the answer, stores it in the answer
//! cache and sends it.
//!
//! NOTIFY messages (RFC 1996) for zones this node follows as a secondary go
//! to a [`NotifyReceiver`] (see [`NotifyOutcome`] for the answers).
//!
//! AXFR and IXFR queries for zones this node serves as a primary go to a
//! [`TransferProvider`] (see `transfer.rs`).
//!
//! Instrumentation: per-worker counters summed by
//! [`ServiceStatistics::snapshot`] (queries by transport and type, responses
//! by code, hot and slow path, drops, policy hits, resolution times), and a
//! [`QueryObserver`] that hears of every query (the query log).
//! Rate limits ([`RateLimitSettings`]): a token bucket per client network
//! and response-rate limiting with slip over UDP; overload shedding bounds
//! the resolutions in progress, in total and per client network.
//! [`Server::flush`] removes a name or a subtree from both caches.
//!
//! # Limitations
//! - Sockets bound to a wildcard address answer from the host's primary
//!   address (no IP_PKTINFO yet): bind specific addresses on multi-homed hosts.
//! - Changing the listen addresses or the thread count needs a restart;
//!   everything else reloads.
//! - The PROXY protocol is read in version 2 only (UDP, TCP, DoT, DoH).

#![warn(missing_docs)]

mod access;
mod doh;
mod floor;
mod handler;
mod http2_records;
mod listener;
mod notify;
mod observer;
mod overload;
mod padding;
mod proxy_protocol;
mod quic;
mod rate_limit;
mod statistics;
mod tcp;
mod tls;
mod transfer;
mod udp;

pub use access::AccessList;
pub use floor::{canned_answer, serve_floor};
pub use handler::{CookieSettings, Settings};
pub use listener::{EncryptedConfig, FlushCounts, Server, ServerConfig, ServerError};
pub use notify::{NotifyOutcome, NotifyReceiver};
pub use observer::{AbuseLimit, PolicyNote, QueryEvent, QueryObserver};
pub use overload::OverloadAction;
pub use quic::QuicSettings;
pub use rate_limit::{LimitAction, RateLimitSettings};
pub use statistics::{
    COUNTED_RCODES, COUNTED_TYPES, CounterTotals, MAX_POLICY_HIT_KEYS, POLICY_ACTIONS,
    PolicyHitCount, RATE_LIMIT_OUTCOMES, ServiceSnapshot, ServiceStatistics, Transport,
    WorkerCounters,
};
pub use tls::{CertificateError, CertificateFiles};
pub use transfer::TransferProvider;
