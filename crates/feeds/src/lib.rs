//! The feed supply of Hanse's filtering policy: where the compiled
//! [`Feed`]s come from and how they stay current (issue 3, items 2 and 8).
//!
//! - File feeds are read and compiled once by [`FeedSupply::load`].
//! - HTTP(S) lists (hosts, domains, adblock, and policy zones as text) are
//!   fetched with conditional requests (RFC 9110 §13: `If-None-Match`,
//!   `If-Modified-Since`) every `refresh` ([`http`]).
//! - Policy zones from primaries: AXFR (RFC 5936), then IXFR (RFC 1995) on
//!   the SOA refresh timer and on NOTIFY (RFC 1996), optionally signed with
//!   TSIG (RFC 8945), with failover between several primaries. SOA serials
//!   are compared in RFC 1982 arithmetic; an older serial is never applied.
//! - The last good copy of every remote feed is saved on disk atomically
//!   and served at start-up before the first fetch completes ([`saved`]).
//!
//! One background thread per remote feed does the fetching; it sleeps on a
//! condition variable, so [`FeedSupply::notify`], [`FeedSupply::refresh`]
//! and [`FeedSupply::stop`] wake it at once. Transfers run on a small
//! current-thread tokio runtime inside that thread.
//!
//! Bad input: a new copy whose policy zone has a syntax error is refused
//! whole (the old copy stays, the feed is reported stale); lines and records
//! that cannot be compiled are skipped and reported (at most
//! [`compile::MAX_PROBLEMS_LISTED`] a feed and update, the rest counted).
//!
//! Architecture: this crate opens client connections only (TCP to primaries,
//! HTTP(S)); it knows no DNS server sockets. NOTIFY messages arrive through
//! [`FeedSupply::notify`] from whoever listens.
//!
//! # Limitations
//! - NOTIFY is matched by the source address only (no TSIG on NOTIFY); it
//!   only triggers a transfer that is itself checked (RFC 1996 §3.11).
//! - The SOA expire timer is not applied: a copy is served however old,
//!   and reported stale.
//! - A list's version is the Unix time of its Last-Modified header, else of
//!   the fetch; a file list's version is its modification time.
//! - An HTTP fetch in progress cannot be interrupted: [`FeedSupply::stop`]
//!   waits a bounded time and then leaves the thread to finish on its own.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compile;
mod error;
pub mod http;
pub mod saved;
mod supply;

pub use error::{CompileError, FetchError, MetadataError, SavedCopyError};
pub use supply::FeedSupply;

use hanse_policy::{FeedCounts, FeedFormat};
use hanse_transfer::TsigKey;
use hanse_wire::Name;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// One configured feed.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    /// The feed's name, as profiles refer to it.
    pub name: String,
    /// How its text or records are read.
    pub format: FeedFormat,
    /// The origin of a policy zone; `None`: the owner of its SOA (for
    /// [`Source::Transfer`] the zone is the origin).
    pub origin: Option<Name>,
    /// Where it comes from.
    pub source: Source,
}

/// Where a feed comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local file, read at load.
    File(PathBuf),
    /// An `http://` or `https://` URL, fetched every `refresh`.
    Url {
        /// The URL.
        url: String,
        /// How often to fetch it (clamped to the supply's bounds).
        refresh: Duration,
    },
    /// A policy zone transferred from primaries (format RPZ only).
    Transfer {
        /// The zone, which is also the policy zone's origin.
        zone: Name,
        /// The primaries, tried in order.
        primaries: Vec<SocketAddr>,
        /// The TSIG key to sign requests with, if any.
        key: Option<TsigKey>,
    },
}

impl FeedSpec {
    /// The source in one line: `file PATH`, `url URL` or
    /// `zone ZONE primaries A,B`. Saved copies record it; a copy made for
    /// another source is not used.
    pub fn source_text(&self) -> String {
        match &self.source {
            Source::File(path) => format!("file {}", path.display()),
            Source::Url { url, .. } => format!("url {url}"),
            Source::Transfer {
                zone, primaries, ..
            } => {
                let primaries: Vec<String> = primaries.iter().map(ToString::to_string).collect();
                format!("zone {zone} primaries {}", primaries.join(","))
            }
        }
    }

    fn is_remote(&self) -> bool {
        !matches!(self.source, Source::File(_))
    }
}

/// Settings of a [`FeedSupply`].
#[derive(Debug, Clone)]
pub struct SupplyOptions {
    /// Where saved copies live (`DIR/feeds/`); `None`: no copies.
    pub state_directory: Option<PathBuf>,
    /// The most one zone transfer from one primary may take.
    pub transfer_timeout: Duration,
    /// The most one HTTP(S) fetch may take.
    pub http_timeout: Duration,
    /// The shortest refresh or retry interval (SOA timers and list
    /// refreshes are clamped to it). Default 5 s.
    pub min_refresh: Duration,
    /// The longest refresh or retry interval. Default one day.
    pub max_refresh: Duration,
    /// The retry interval after a failed attempt when no SOA says
    /// otherwise (lists, zones never transferred). Default 60 s.
    pub failure_retry: Duration,
    /// The largest list body accepted. Default 256 MiB.
    pub max_list_bytes: u64,
}

impl Default for SupplyOptions {
    fn default() -> SupplyOptions {
        SupplyOptions {
            state_directory: None,
            transfer_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(60),
            min_refresh: Duration::from_secs(5),
            max_refresh: Duration::from_secs(86_400),
            failure_retry: Duration::from_secs(60),
            max_list_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Lines to log, gathered since the last [`FeedSupply::take_messages`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages {
    /// Skipped lines and records, failed fetches, saved copies ignored or
    /// not written: one a line.
    pub warnings: Vec<String>,
    /// One line per feed loaded or updated: rules, serial or version,
    /// skipped entries.
    pub summaries: Vec<String>,
}

/// The answer to [`FeedSupply::notify`].
pub use hanse_transfer::NotifyOutcome;

/// Where a feed's current copy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOrigin {
    /// No copy yet: the feed is empty.
    None,
    /// A local file feed.
    File(PathBuf),
    /// The saved copy read at load.
    SavedCopy(PathBuf),
    /// A zone transfer from this primary.
    Primary(SocketAddr),
    /// A fetch of this URL.
    Url(String),
}

/// The state of one feed, for the API and the command line.
#[derive(Debug, Clone)]
pub struct FeedStatus {
    /// The feed's name.
    pub name: String,
    /// Its format.
    pub format: FeedFormat,
    /// [`FeedSpec::source_text`].
    pub source: String,
    /// The SOA serial of a policy zone.
    pub serial: Option<u32>,
    /// The feed's version ([`hanse_policy::Feed::version`]).
    pub version: u64,
    /// Where the current copy came from.
    pub copy_origin: CopyOrigin,
    /// The last successful check (changed or not).
    pub last_success: Option<SystemTime>,
    /// The last time the copy changed.
    pub last_change: Option<SystemTime>,
    /// The error of the last attempt, if it failed.
    pub last_error: Option<String>,
    /// The error of the last attempt to save the copy, if it failed.
    pub save_error: Option<String>,
    /// The last attempt failed, or none succeeded yet (remote feeds only).
    pub stale: bool,
    /// The rules of the current copy.
    pub counts: FeedCounts,
    /// Full loads from the network (AXFR, full IXFR answers, list bodies).
    pub full_updates: u64,
    /// Incremental updates applied (IXFR).
    pub incremental_updates: u64,
}
