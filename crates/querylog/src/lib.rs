//! The query log of Hanse: a privacy-first record of the queries the server
//! answered, kept in an embedded SQLite database, written away from the query
//! path.
//!
//! The server calls [`QueryLog::record_query`] (or [`QueryLog::record`])
//! for each answered query. Recording never blocks and, for a plain query,
//! allocates nothing: it checks the excluded clients, copies the query into
//! a fixed-size record in the calling thread's batch, and hands full
//! batches to a bounded queue (`batcher`); a full queue drops the batch and
//! counts its queries. A dedicated writer thread takes batches off the
//! queue, sweeps partial ones every `flush_interval`, gathers identical
//! queries of an interval into one row with a count (`gather`), and writes
//! one transaction per `flush_interval` (or per `batch_size` distinct
//! queries), in a database in WAL mode (so readers never wait for the
//! writer). Searches, exports, erasures and aggregates open their own
//! connections.
//!
//! What is stored depends on the [`PrivacyLevel`]: 0 the client's address,
//! 1 a pseudonym of it (a keyed hash whose key changes every UTC day, see
//! docs/querylog.md), 2 nothing about the client, 3 no rows at all, only per-hour
//! counters. At every level per-hour counters are kept (queries, blocked,
//! answered from the cache, by query type, by response code, and the most
//! asked names, capped per hour). Rows and counters older than the retention
//! period are deleted by a periodic job. When the database is opened at a
//! stricter level than it was written with, rows already stored are brought
//! down to the new level (addresses pseudonymised or removed, or rows
//! deleted) before anything else happens.
//!
//! Names follow RFC 9499 terms; address prefixes RFC 4632 and RFC 4291.
//!
//! Limitations: the pseudonymisation keys live only in memory, so after a
//! restart rows written before it cannot be found from a client's address
//! (only by their pseudonym). Corruption is detected when SQLite reads the
//! schema at open; damage deeper in the file shows up later as write or
//! read errors. See docs/querylog.md.
//!
//! The dnstap export (`dnstap`, `dnstap_encode`) is a separate handle,
//! [`DnstapExporter`], that applies the same privacy levels.

mod batcher;
mod config;
mod dnstap;
mod dnstap_encode;
mod gather;
mod names;
mod pseudonym;
mod store;
mod writer;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};

pub use config::{ClientNetwork, Clock, ManualClock, PrivacyLevel, QueryLogConfig, SystemClock};
pub use dnstap::{DnstapConfig, DnstapDestination, DnstapExporter, DnstapQuery, DnstapStatistics};
pub use dnstap_encode::{
    CONTENT_TYPE as DNSTAP_CONTENT_TYPE, DnstapMessage, DnstapMessageType, FrameError,
    SocketProtocol, encode_data_frame,
};

use crate::batcher::{Batcher, Details, Offered, Record};
use crate::pseudonym::KeyRing;
use crate::writer::Command;

/// How long `close` (and `Drop`) waits for the writer to write what is queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `erase_client` waits for queries queued before it to be written.
const ERASE_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// The most entries one search returns.
pub const SEARCH_LIMIT_MAX: usize = 1000;
/// The entries a search returns when its filter sets no limit.
pub const SEARCH_LIMIT_DEFAULT: usize = 100;
/// The most entries `export_client` returns; beyond it, page with `search`.
pub const EXPORT_LIMIT: usize = 1_000_000;
/// Names and clients in each top list of [`Aggregates`].
pub const AGGREGATE_TOP: usize = 20;

/// Errors of the query log. Queries that are dropped or excluded are not
/// errors; they are counted in [`QueryLogStatistics`].
#[derive(Debug, thiserror::Error)]
pub enum QueryLogError {
    /// A setting is out of range or malformed.
    #[error("query log configuration: {0}")]
    InvalidConfig(String),
    /// The database file could not be opened or set up.
    #[error("cannot open the query log database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The file exists but is not a usable SQLite database; it is left as it is.
    #[error(
        "the query log database {path} is corrupt or not a database (it was left untouched; move it away to start afresh): {source}"
    )]
    Corrupt {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The database was written by a newer version of Hanse.
    #[error("the query log database {path} has schema version {found}; this build knows {known}")]
    SchemaVersion {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The database does not accept WAL mode.
    #[error("the query log database {path} cannot use WAL mode (journal mode is {mode})")]
    NoWal { path: PathBuf, mode: String },
    /// A search, export, erasure or aggregate query failed.
    #[error("query log database {path}: {source}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A search filter is invalid; the text names the field.
    #[error("invalid query log filter: {0}")]
    InvalidFilter(String),
    /// An export would return more than [`EXPORT_LIMIT`] entries.
    #[error(
        "the client has {rows} entries, more than the export limit of {limit}; page with search"
    )]
    ExportTooLarge { rows: u64, limit: usize },
    /// The writer did not answer in time.
    #[error("the query log writer did not answer within {0:?}")]
    Timeout(Duration),
    /// The writer thread is gone.
    #[error("the query log writer has stopped")]
    WriterStopped,
    /// The writer thread could not be started.
    #[error("cannot start the query log writer thread: {0}")]
    Thread(std::io::Error),
}

/// One answered query, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedQuery {
    /// When the query arrived.
    pub time: SystemTime,
    /// The client's address.
    pub client: IpAddr,
    /// "udp", "tcp", ...
    pub transport: &'static str,
    /// The query name in presentation form, lowercased.
    pub qname: String,
    /// The query type (QTYPE).
    pub qtype: u16,
    /// The response code sent (RCODE, extended RCODEs included).
    pub rcode: u16,
    /// No answer was sent.
    pub dropped: bool,
    /// The answer came from a cache.
    pub from_cache: bool,
    /// Time from arrival to answer.
    pub elapsed_micros: u32,
    /// The filtering profile applied.
    pub profile: Option<String>,
    /// The policy blocked or rewrote the answer.
    pub blocked: bool,
    /// The feed whose rule matched.
    pub feed: Option<String>,
    /// The policy action taken.
    pub action: Option<String>,
    /// The rule that matched.
    pub rule: Option<String>,
}

/// One answered query, borrowed: the allocation-free form of
/// [`LoggedQuery`] that [`QueryLog::record_query`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryRecord<'a> {
    /// When the query arrived.
    pub time: SystemTime,
    /// The client's address.
    pub client: IpAddr,
    /// "udp", "tcp", ...
    pub transport: &'static str,
    /// The query name in uncompressed wire form (RFC 1035 §3.1), any case.
    pub qname_wire: &'a [u8],
    pub qtype: u16,
    pub rcode: u16,
    pub dropped: bool,
    pub from_cache: bool,
    pub elapsed_micros: u32,
    pub profile: Option<&'a str>,
    pub blocked: bool,
    pub feed: Option<&'a str>,
    pub action: Option<&'a str>,
    pub rule: Option<&'a str>,
}

/// One stored entry: a query, or identical queries of one flush interval
/// (same minute, client, transport, name, type, response code, flags and
/// policy details) gathered into one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The row id: grows with every stored entry; the cursor of searches.
    pub id: i64,
    /// When the (first) query arrived (microsecond precision).
    pub time: SystemTime,
    /// The address (level 0), the pseudonym (level 1) or nothing (level 2).
    pub client: Option<String>,
    pub transport: String,
    /// Lowercased, without the trailing dot; the root is `.`.
    pub qname: String,
    pub qtype: u16,
    pub rcode: u16,
    pub dropped: bool,
    pub from_cache: bool,
    /// The longest time from arrival to answer of the entry's queries.
    pub elapsed_micros: u32,
    pub profile: Option<String>,
    pub blocked: bool,
    pub feed: Option<String>,
    pub action: Option<String>,
    pub rule: Option<String>,
    /// How many identical queries the entry stands for (at least 1).
    pub count: u64,
}

/// How [`SearchFilter::name`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameMatch {
    /// Only the name itself.
    #[default]
    Exact,
    /// The name and every name below it.
    Subtree,
    /// Names containing the text anywhere (`LIKE`, `%` and `_` taken
    /// literally).
    Contains,
}

/// What to search for; unset fields match everything. Results are newest
/// first; to page, pass the `id` of the last entry of a page as `before_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// A client address (matches its address and its pseudonyms under the
    /// keys still held) or a pseudonym (`c-…`).
    pub client: Option<String>,
    pub name: Option<String>,
    pub name_match: NameMatch,
    /// Queries at or after this time.
    pub since: Option<SystemTime>,
    /// Queries before this time.
    pub until: Option<SystemTime>,
    pub blocked_only: bool,
    /// At most this many entries (1 to 1000; 0 means 100).
    pub limit: usize,
    /// Only entries with an id below this one.
    pub before_id: Option<i64>,
}

/// Counters of one hour or minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodCount {
    /// The start of the period.
    pub start: SystemTime,
    pub queries: u64,
    pub blocked: u64,
}

/// A name (or a client) and how many queries it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub key: String,
    pub queries: u64,
}

/// Summary counters since a point in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregates {
    /// The start of the first hour counted (the hour holding `since`).
    pub since: SystemTime,
    pub queries: u64,
    pub blocked: u64,
    pub from_cache: u64,
    pub dropped: u64,
    /// Per hour, oldest first; hours without queries are left out.
    pub per_hour: Vec<PeriodCount>,
    /// Per minute, oldest first, from the stored rows: the latest 1440
    /// minutes that had queries at most; empty at level 3.
    pub per_minute: Vec<PeriodCount>,
    /// Query types and their counts, most frequent first.
    pub by_qtype: Vec<(u16, u64)>,
    /// Response codes and their counts, most frequent first.
    pub by_rcode: Vec<(u16, u64)>,
    /// The most asked names (from the capped per-hour lists).
    pub top_names: Vec<Ranked>,
    /// The most asked names that were blocked.
    pub top_blocked_names: Vec<Ranked>,
    /// Queries for names that fell out of the capped per-hour lists.
    pub other_names: u64,
    /// The busiest clients (addresses or pseudonyms): empty at levels 2 and 3.
    pub top_clients: Vec<Ranked>,
}

/// Counters of the query log since it was opened.
/// `recorded == written + excluded + dropped_full + failed + queue_depth`
/// (plus the queries in the batch being written).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryLogStatistics {
    /// Calls to `record`.
    pub recorded: u64,
    /// Queries written (in rows, identical ones gathered, or into the
    /// counters at level 3).
    pub written: u64,
    /// Queries dropped because the queue was full.
    pub dropped_full: u64,
    /// Queries not stored because of an excluded client or name.
    pub excluded: u64,
    /// Queries lost because their batch could not be written.
    pub failed: u64,
    /// Batches (transactions) that could not be written.
    pub write_errors: u64,
    /// Transactions of query rows written.
    pub transactions: u64,
    /// Queries waiting in the queue.
    pub queue_depth: u64,
    /// The last write error, if any.
    pub last_write_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) recorded: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) excluded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) transactions: AtomicU64,
    pub(crate) last_write_error: Mutex<Option<String>>,
}

/// What the handle and the writer share.
pub(crate) struct Shared {
    pub(crate) path: PathBuf,
    pub(crate) level: PrivacyLevel,
    pub(crate) busy_timeout: Duration,
    pub(crate) counters: Counters,
    pub(crate) key_ring: Mutex<KeyRing>,
    pub(crate) batcher: Batcher,
    /// Excluded names, normalised.
    pub(crate) excluded_names: Vec<String>,
}

impl Shared {
    pub(crate) fn key_ring(&self) -> std::sync::MutexGuard<'_, KeyRing> {
        self.key_ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The query log: a handle to the queue, the writer thread and the database.
pub struct QueryLog {
    shared: Arc<Shared>,
    excluded_clients: Vec<ClientNetwork>,
    /// The excluded names in wire form, for `record_query`.
    excluded_wire: Vec<Vec<u8>>,
    sender: Option<Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    finished: Receiver<()>,
}

impl QueryLog {
    /// Opens (or creates) the database, brings stored rows down to the
    /// configured privacy level, deletes rows past the retention period and
    /// starts the writer thread.
    pub fn open(config: QueryLogConfig) -> Result<QueryLog, QueryLogError> {
        config.validate()?;
        let batches = Batcher::batches_for(config.queue_capacity);
        let shared = Arc::new(Shared {
            path: config.path.clone(),
            level: config.privacy_level,
            busy_timeout: config.busy_timeout,
            counters: Counters::default(),
            key_ring: Mutex::new(KeyRing::new(config.retention_days)),
            batcher: Batcher::new(batches),
            excluded_names: config
                .excluded_names
                .iter()
                .map(|name| names::normalise(name))
                .collect(),
        });
        let store = store::Store::open(&config, Arc::clone(&shared))?;
        let (sender, receiver) = crossbeam_channel::bounded(batches);
        let (finished_sender, finished) = crossbeam_channel::bounded(1);
        let writer = writer::Writer::new(store, receiver, Arc::clone(&shared), &config);
        let handle = std::thread::Builder::new()
            .name("querylog-writer".to_owned())
            .spawn(move || {
                writer.run();
                let _ = finished_sender.send(());
            })
            .map_err(QueryLogError::Thread)?;
        Ok(QueryLog {
            shared,
            excluded_clients: config.excluded_clients,
            excluded_wire: config
                .excluded_names
                .iter()
                .filter_map(|name| names::wire_from_presentation(name))
                .collect(),
            sender: Some(sender),
            writer: Some(handle),
            finished,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The privacy level in force.
    pub fn privacy_level(&self) -> PrivacyLevel {
        self.shared.level
    }

    /// Whether a query from `client` for `qname` would be left out by the
    /// exclusions. A caller may use it to skip building a [`LoggedQuery`];
    /// such skipped queries are then not counted in `excluded`.
    /// Allocates nothing.
    pub fn excludes(&self, client: IpAddr, qname: &str) -> bool {
        self.excluded_clients
            .iter()
            .any(|network| network.contains(client))
            || self
                .shared
                .excluded_names
                .iter()
                .any(|suffix| names::is_at_or_below(qname, suffix))
    }

    /// Hands one answered query to the writer. Never blocks: an excluded
    /// query is counted and forgotten; when the queue is full the query is
    /// dropped and counted.
    pub fn record(&self, query: LoggedQuery) {
        if self
            .shared
            .excluded_names
            .iter()
            .any(|suffix| names::is_at_or_below(&query.qname, suffix))
        {
            let counters = &self.shared.counters;
            counters.recorded.fetch_add(1, Ordering::Relaxed);
            counters.excluded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let details = Details {
            // Normalised here, so that one name written two ways is one
            // name for the writer's gathering of identical queries.
            qname_text: Some(names::normalise(&query.qname)),
            profile: query.profile,
            feed: query.feed,
            action: query.action,
            rule: query.rule,
        };
        self.offer(Record::new(
            query.time,
            query.client,
            query.transport,
            &[],
            query.qtype,
            query.rcode,
            query.elapsed_micros,
            query.dropped,
            query.from_cache,
            query.blocked,
            Some(Box::new(details)),
        ));
    }

    /// Hands one answered query to the writer, like [`QueryLog::record`],
    /// without allocating for a query that has no profile and no policy
    /// note.
    pub fn record_query(&self, query: &QueryRecord<'_>) {
        if self
            .excluded_wire
            .iter()
            .any(|suffix| names::wire_is_at_or_below(query.qname_wire, suffix))
        {
            let counters = &self.shared.counters;
            counters.recorded.fetch_add(1, Ordering::Relaxed);
            counters.excluded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let details = (query.profile.is_some()
            || query.feed.is_some()
            || query.action.is_some()
            || query.rule.is_some())
        .then(|| {
            Box::new(Details {
                qname_text: None,
                profile: query.profile.map(str::to_owned),
                feed: query.feed.map(str::to_owned),
                action: query.action.map(str::to_owned),
                rule: query.rule.map(str::to_owned),
            })
        });
        self.offer(Record::new(
            query.time,
            query.client,
            query.transport,
            query.qname_wire,
            query.qtype,
            query.rcode,
            query.elapsed_micros,
            query.dropped,
            query.from_cache,
            query.blocked,
            details,
        ));
    }

    fn offer(&self, record: Record) {
        let counters = &self.shared.counters;
        counters.recorded.fetch_add(1, Ordering::Relaxed);
        if self
            .excluded_clients
            .iter()
            .any(|network| network.contains(record.client))
        {
            counters.excluded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(sender) = &self.sender else {
            counters.dropped_full.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Offered::Dropped(count) = self.shared.batcher.offer(record, sender, Command::Records)
        {
            counters.dropped_full.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Waits until every query recorded before this call is written (or
    /// failed) and the retention job has run if it was due.
    pub fn flush(&self, timeout: Duration) -> Result<(), QueryLogError> {
        let deadline = Instant::now() + timeout;
        let sender = self.sender.as_ref().ok_or(QueryLogError::WriterStopped)?;
        let (reply, done) = crossbeam_channel::bounded(1);
        sender
            .send_deadline(Command::Flush(reply), deadline)
            .map_err(|error| match error {
                crossbeam_channel::SendTimeoutError::Timeout(_) => QueryLogError::Timeout(timeout),
                crossbeam_channel::SendTimeoutError::Disconnected(_) => {
                    QueryLogError::WriterStopped
                }
            })?;
        done.recv_deadline(deadline).map_err(|error| match error {
            crossbeam_channel::RecvTimeoutError::Timeout => QueryLogError::Timeout(timeout),
            crossbeam_channel::RecvTimeoutError::Disconnected => QueryLogError::WriterStopped,
        })
    }

    /// Stored queries matching `filter`, newest first.
    pub fn search(&self, filter: &SearchFilter) -> Result<Vec<Entry>, QueryLogError> {
        store::search(&self.shared, filter)
    }

    /// Every stored query of one client (an address or a pseudonym), newest
    /// first; at most [`EXPORT_LIMIT`].
    pub fn export_client(&self, client: &str) -> Result<Vec<Entry>, QueryLogError> {
        store::export_client(&self.shared, client)
    }

    /// Deletes every stored query of one client (an address or a pseudonym)
    /// and returns how many queries were deleted (the sum of the entries'
    /// counts). Queries recorded before the call
    /// are written first, so they are erased too.
    pub fn erase_client(&self, client: &str) -> Result<u64, QueryLogError> {
        store::check_client(client)?;
        self.flush(ERASE_FLUSH_TIMEOUT)?;
        store::erase_client(&self.shared, client)
    }

    /// Counters since `since` (from the start of its hour).
    pub fn aggregates(&self, since: SystemTime) -> Result<Aggregates, QueryLogError> {
        store::aggregates(&self.shared, since)
    }

    /// The counters of this log since it was opened.
    pub fn statistics(&self) -> QueryLogStatistics {
        let counters = &self.shared.counters;
        QueryLogStatistics {
            recorded: counters.recorded.load(Ordering::Relaxed),
            written: counters.written.load(Ordering::Relaxed),
            dropped_full: counters.dropped_full.load(Ordering::Relaxed),
            excluded: counters.excluded.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            write_errors: counters.write_errors.load(Ordering::Relaxed),
            transactions: counters.transactions.load(Ordering::Relaxed),
            queue_depth: self.shared.batcher.depth(),
            last_write_error: counters
                .last_write_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }

    /// Writes what is queued and stops the writer, waiting at most 10 seconds.
    pub fn close(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        // Closing the queue lets the writer drain it and stop.
        self.sender = None;
        let Some(writer) = self.writer.take() else {
            return;
        };
        match self.finished.recv_timeout(CLOSE_TIMEOUT) {
            Ok(()) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                let _ = writer.join();
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    path = %self.shared.path.display(),
                    "the query log writer did not stop within {CLOSE_TIMEOUT:?}; leaving it behind"
                );
            }
        }
    }
}

impl Drop for QueryLog {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl std::fmt::Debug for QueryLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("QueryLog")
            .field("path", &self.shared.path)
            .field("level", &self.shared.level)
            .finish_non_exhaustive()
    }
}
