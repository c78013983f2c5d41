//! The SQLite side of the query log: schema, batch writes, the retention
//! job, and the read queries (search, export, erasure, aggregates).
//!
//! Tables: `queries` (one row per distinct query of a flush interval, with
//! the `count` of identical queries it stands for, levels 0 to 2, indexed
//! by time only; the writer gives the ids), `name_ranges` and `client_ranges` (per
//! bucket of 2^20 row ids, the first and last id of each reversed name and
//! each client: what searches by name, subtree and client go through; the
//! rows after the last closed bucket, from `meta.indexed_below` on, are
//! scanned), `hourly`, `hourly_qtype`, `hourly_rcode` and `hourly_name`
//! (per-hour counters at every level, gathered in the writer's memory and
//! written every 10 seconds; `hourly_name` keeps at most
//! `top_names_per_hour` names per hour and blocked flag once pruned, the
//! rest is added to `hourly.other_names`), and `meta` (schema version, the
//! privacy level the rows were written with, `indexed_below`). Times are
//! microseconds since 1970 UTC; hours are hours since 1970 UTC. Schema
//! version 1 (per-row indexes on client and reversed name) and version 2
//! (no `count`: one row per query) are migrated at open; their rows get a
//! count of 1.
//!
//! The writer's connection runs in WAL mode with `synchronous = NORMAL`:
//! a crash of the process loses nothing committed, a power cut may lose the
//! last transactions, never the file's consistency.
//!
//! Limitations: the per-hour top names are approximate once pruned (a name
//! that becomes frequent late in an hour after being pruned starts again
//! from zero); a crash loses up to 10 seconds of hourly counters; every
//! search by name or client reads the tail (up to 2^20 rows and what was
//! written since the last closed bucket).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OpenFlags, params, params_from_iter};

use crate::batcher::Record;
use crate::config::{Clock, PrivacyLevel, QueryLogConfig};
use crate::gather::Gathered;
use crate::pseudonym::{PseudonymCache, is_pseudonym};
use crate::{
    AGGREGATE_TOP, Aggregates, EXPORT_LIMIT, Entry, NameMatch, PeriodCount, QueryLogError, Ranked,
    SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SearchFilter, Shared, names,
};

const SCHEMA_VERSION: i64 = 3;
/// Rows per bucket of the name and client ranges: ids `bucket << 20` up
/// to `(bucket + 1) << 20`, about 10 seconds at 100,000 queries a second.
const BUCKET_SHIFT: u32 = 20;
/// Rows deleted per statement by the retention job and per step of scrubbing.
const CHUNK: i64 = 10_000;
const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_HOUR: i64 = 3_600;
/// The most minutes `aggregates` lists: the latest day's worth.
const MINUTES_MAX: i64 = 1_440;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    client TEXT,
    transport TEXT NOT NULL,
    qname TEXT NOT NULL,
    qtype INTEGER NOT NULL,
    rcode INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    from_cache INTEGER NOT NULL,
    elapsed_micros INTEGER NOT NULL,
    profile TEXT,
    blocked INTEGER NOT NULL,
    feed TEXT,
    action TEXT,
    rule TEXT,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS queries_time ON queries (time);
CREATE TABLE IF NOT EXISTS name_ranges (
    bucket INTEGER NOT NULL,
    reversed_name TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (bucket, reversed_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS client_ranges (
    bucket INTEGER NOT NULL,
    client TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (bucket, client)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly (
    hour INTEGER PRIMARY KEY,
    queries INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    from_cache INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    other_names INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hourly_qtype (
    hour INTEGER NOT NULL,
    qtype INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, qtype)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly_rcode (
    hour INTEGER NOT NULL,
    rcode INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, rcode)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly_name (
    hour INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, blocked, name)
) WITHOUT ROWID;
";

const INSERT_QUERY: &str = "INSERT INTO queries (id, time, client, transport, qname, \
     qtype, rcode, dropped, from_cache, elapsed_micros, profile, blocked, feed, action, rule, \
     count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// Columns of one row of `INSERT_QUERY`.
const INSERT_COLUMNS: usize = 16;

/// An INSERT of `rows` rows at once (one statement, fewer steps per row).
fn insert_statement(rows: usize) -> String {
    let mut statement = INSERT_QUERY[..INSERT_QUERY.find("VALUES").unwrap_or(0)].to_owned();
    statement.push_str("VALUES ");
    for row in 0..rows {
        if row > 0 {
            statement.push_str(", ");
        }
        statement.push('(');
        for column in 0..INSERT_COLUMNS {
            if column > 0 {
                statement.push_str(", ");
            }
            statement.push('?');
        }
        statement.push(')');
    }
    statement
}

const ENTRY_COLUMNS: &str = "id, time, client, transport, qname, qtype, rcode, dropped, \
     from_cache, elapsed_micros, profile, blocked, feed, action, rule, count";

pub(crate) fn to_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_micros(micros: i64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
        .unwrap_or(UNIX_EPOCH)
}

fn hour_of(micros: i64) -> i64 {
    micros / MICROS_PER_SECOND / SECONDS_PER_HOUR
}

fn hour_start(hour: i64) -> SystemTime {
    from_micros(hour.saturating_mul(SECONDS_PER_HOUR * MICROS_PER_SECOND))
}

/// An open-time error: corruption gets its own variant naming the file.
fn open_error(path: &Path, source: rusqlite::Error) -> QueryLogError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => QueryLogError::Corrupt {
            path: path.to_owned(),
            source,
        },
        _ => QueryLogError::Open {
            path: path.to_owned(),
            source,
        },
    }
}

fn database_error(shared: &Shared) -> impl Fn(rusqlite::Error) -> QueryLogError + '_ {
    move |source| QueryLogError::Database {
        path: shared.path.clone(),
        source,
    }
}

/// The writer's maps: foldhash with a random seed per map (names and
/// clients come from the network), cheaper than SipHash per lookup.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Counters of one hour gathered in the writer's memory since they were
/// last written.
#[derive(Default)]
struct HourCounts {
    queries: i64,
    blocked: i64,
    from_cache: i64,
    dropped: i64,
    qtypes: HashMap<u16, i64>,
    rcodes: HashMap<u16, i64>,
    /// Per name, allowed (index 0) and blocked (index 1) queries.
    names: [HashMap<String, i64>; 2],
    /// Queries of names pruned from `names`.
    other_names: i64,
}

impl HourCounts {
    /// Counts `queries` queries for `name`; keeps at most `limit` names per
    /// flag, pruning to the `keep` most frequent when the limit is passed.
    fn count_name(&mut self, name: &str, queries: i64, blocked: bool, limit: usize, keep: usize) {
        let names = &mut self.names[usize::from(blocked)];
        if let Some(count) = names.get_mut(name) {
            *count += queries;
            return;
        }
        names.insert(name.to_owned(), queries);
        if names.len() > limit {
            let mut counts: Vec<(String, i64)> = names.drain().collect();
            let keep = keep.min(counts.len());
            counts.select_nth_unstable_by(keep.saturating_sub(1), |left, right| {
                right.1.cmp(&left.1).then_with(|| left.0.cmp(&right.0))
            });
            self.other_names += counts[keep..].iter().map(|(_, count)| count).sum::<i64>();
            counts.truncate(keep);
            names.extend(counts);
        }
    }
}

/// The name and client ranges of one bucket, waiting to be written.
struct ClosedBucket {
    bucket: i64,
    names: HashMap<String, (i64, i64)>,
    clients: HashMap<String, (i64, i64)>,
}

/// The query name of a record, normalised, into `output`.
fn name_of(query: &Record, output: &mut String) {
    match query.qname_text() {
        Some(text) => {
            output.clear();
            output.push_str(&names::normalise(text));
        }
        None => names::presentation_from_wire(query.qname_wire(), output),
    }
}

/// Adds `id` to the range of `key`.
fn extend_range(ranges: &mut HashMap<String, (i64, i64)>, key: &str, id: i64) {
    match ranges.get_mut(key) {
        Some(range) => {
            range.0 = range.0.min(id);
            range.1 = range.1.max(id);
        }
        None => {
            ranges.insert(key.to_owned(), (id, id));
        }
    }
}

/// The first row id not covered by `name_ranges` and `client_ranges`: rows
/// from it on (the tail) are searched by scanning them.
fn indexed_below(connection: &Connection) -> rusqlite::Result<i64> {
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_below'",
            [],
            |row| row.get(0),
        )
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(0),
            other => Err(other),
        })
}

fn set_indexed_below(connection: &Connection, id: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('indexed_below', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute([id])?;
    Ok(())
}

/// Writes the ranges of one bucket (merged with any already stored). A
/// client's range is written only while its first or last row is still
/// there, so that a client erased meanwhile does not come back.
fn write_ranges(
    connection: &Connection,
    bucket: i64,
    names: &HashMap<String, (i64, i64)>,
    clients: &HashMap<String, (i64, i64)>,
) -> rusqlite::Result<()> {
    let mut name = connection.prepare_cached(
        "INSERT INTO name_ranges (bucket, reversed_name, first_id, last_id) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (bucket, reversed_name) DO UPDATE SET \
         first_id = MIN(first_id, excluded.first_id), last_id = MAX(last_id, excluded.last_id)",
    )?;
    let mut sorted: Vec<(&String, &(i64, i64))> = names.iter().collect();
    sorted.sort_unstable();
    for (reversed, (first, last)) in sorted {
        name.execute(params![bucket, reversed, first, last])?;
    }
    let mut client = connection.prepare_cached(
        "INSERT INTO client_ranges (bucket, client, first_id, last_id) \
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS \
         (SELECT 1 FROM queries WHERE id IN (?3, ?4) AND client = ?2) \
         ON CONFLICT (bucket, client) DO UPDATE SET \
         first_id = MIN(first_id, excluded.first_id), last_id = MAX(last_id, excluded.last_id)",
    )?;
    for (key, (first, last)) in clients {
        client.execute(params![bucket, key, first, last])?;
    }
    Ok(())
}

/// The writer's connection and what it needs to write.
pub(crate) struct Store {
    connection: Connection,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    retention_days: u32,
    top_names_per_hour: i64,
    /// Whether the last write failed (to log only the first of a run).
    failing: bool,
    pseudonyms: PseudonymCache,
    /// Reused buffers for one row's name and reversed name.
    name: String,
    reversed: String,
    /// The id of the next row (ids are given by the writer, so it knows
    /// each row's bucket).
    next_id: i64,
    /// The bucket of the rows being written and, per reversed name and
    /// per client, the first and last id of its rows in that bucket.
    open_bucket: i64,
    open_names: HashMap<String, (i64, i64)>,
    open_clients: HashMap<String, (i64, i64)>,
    /// Buckets whose rows are all written but whose ranges are not yet.
    closing: Vec<ClosedBucket>,
    /// Hourly counters not yet written (`write_counters`).
    hours: BTreeMap<i64, HourCounts>,
    /// The most names per hour and flag kept in memory between writes.
    names_in_memory: usize,
}

/// Clients whose pseudonym the writer keeps at hand.
const PSEUDONYM_CACHE: usize = 65_536;
/// Names per hour and flag the writer counts in memory before pruning to
/// `top_names_per_hour`, at least (more when twice `top_names_per_hour`
/// is more): about 2 MB for names of 100 bytes.
const NAMES_IN_MEMORY_MIN: usize = 16_384;
/// Distinct names (or clients) in the open bucket beyond which it is closed
/// early: about 10 MB of names of 100 bytes.
const RANGES_IN_MEMORY: usize = 65_536;
/// Rows per multi-row INSERT statement.
const ROWS_PER_INSERT: usize = 32;

impl Store {
    pub(crate) fn open(
        config: &QueryLogConfig,
        shared: Arc<Shared>,
    ) -> Result<Store, QueryLogError> {
        let path = config.path.as_path();
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| open_error(path, error))?;
        connection
            .busy_timeout(config.busy_timeout)
            .map_err(|error| open_error(path, error))?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|error| open_error(path, error))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(QueryLogError::NoWal {
                path: path.to_owned(),
                mode,
            });
        }
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|error| open_error(path, error))?;
        let mut store = Store {
            connection,
            shared,
            clock: Arc::clone(&config.clock),
            retention_days: config.retention_days,
            top_names_per_hour: i64::try_from(config.top_names_per_hour).unwrap_or(i64::MAX),
            failing: false,
            pseudonyms: PseudonymCache::new(PSEUDONYM_CACHE),
            name: String::new(),
            reversed: String::new(),
            next_id: 1,
            open_bucket: 0,
            open_names: HashMap::default(),
            open_clients: HashMap::default(),
            closing: Vec::new(),
            hours: BTreeMap::new(),
            names_in_memory: config
                .top_names_per_hour
                .saturating_mul(2)
                .max(NAMES_IN_MEMORY_MIN),
        };
        store
            .set_up(config.privacy_level)
            .map_err(|error| open_error(path, error))?
            .map_or(Ok(()), Err)?;
        store
            .index_tail()
            .map_err(|error| open_error(path, error))?;
        store
            .delete_expired()
            .map_err(|error| open_error(path, error))?;
        Ok(store)
    }

    /// Creates the schema, checks its version and brings stored rows down to
    /// `level`. The outer error is SQLite's; the inner one a version mismatch.
    fn set_up(&mut self, level: PrivacyLevel) -> rusqlite::Result<Option<QueryLogError>> {
        let transaction = self.connection.transaction()?;
        transaction.execute_batch(SCHEMA)?;
        let version: Option<i64> = transaction
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })?;
        match version {
            Some(found) if found > SCHEMA_VERSION => {
                return Ok(Some(QueryLogError::SchemaVersion {
                    path: self.shared.path.clone(),
                    found,
                    known: SCHEMA_VERSION,
                }));
            }
            Some(found @ (1 | 2)) => {
                if found == 1 {
                    // Version 1 indexed every row by client and reversed name;
                    // version 2 keeps ranges per bucket instead (built from the
                    // rows by `index_tail`, since `indexed_below` starts at 0).
                    transaction.execute_batch(
                        "DROP INDEX IF EXISTS queries_client;
                         DROP INDEX IF EXISTS queries_reversed_name;
                         ALTER TABLE queries DROP COLUMN reversed_name;
                         DELETE FROM meta WHERE key = 'indexed_below';",
                    )?;
                }
                // Version 3 gathers identical queries into one row with a
                // count; every row written before stands for one query.
                transaction.execute_batch(
                    "ALTER TABLE queries ADD COLUMN count INTEGER NOT NULL DEFAULT 1;",
                )?;
                transaction.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(_) => {}
            None => {
                transaction.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
        }
        let stored_level: Option<i64> = transaction
            .query_row(
                "SELECT value FROM meta WHERE key = 'privacy_level'",
                [],
                |row| row.get(0),
            )
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })?;
        let target = i64::from(level.number());
        // The rows hold at most what the strictest level since then allows;
        // a database of unknown history is treated as level 0.
        let stored_level = stored_level.unwrap_or(0);
        if target > stored_level {
            match level {
                PrivacyLevel::Full => {}
                PrivacyLevel::Pseudonymous => {
                    let mut last_id = 0i64;
                    loop {
                        let rows: Vec<(i64, i64, String)> = transaction
                            .prepare(
                                "SELECT id, time, client FROM queries \
                                 WHERE id > ?1 AND client IS NOT NULL ORDER BY id LIMIT ?2",
                            )?
                            .query_map(params![last_id, CHUNK], |row| {
                                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                            })?
                            .collect::<rusqlite::Result<_>>()?;
                        let Some(last) = rows.last() else { break };
                        last_id = last.0;
                        let mut key_ring = self.shared.key_ring();
                        for (id, time, client) in rows {
                            if is_pseudonym(&client) {
                                continue;
                            }
                            let pseudonym = client
                                .parse::<IpAddr>()
                                .ok()
                                .map(|address| key_ring.pseudonym(address, from_micros(time)));
                            transaction.execute(
                                "UPDATE queries SET client = ?1 WHERE id = ?2",
                                params![pseudonym, id],
                            )?;
                        }
                    }
                }
                PrivacyLevel::Anonymous => {
                    transaction.execute(
                        "UPDATE queries SET client = NULL WHERE client IS NOT NULL",
                        [],
                    )?;
                }
                PrivacyLevel::AggregatesOnly => {
                    transaction.execute("DELETE FROM queries", [])?;
                    transaction.execute("DELETE FROM name_ranges", [])?;
                }
            }
            // The clients changed: their ranges are built again from the
            // rows (`index_tail` scans them all).
            transaction.execute_batch(
                "DELETE FROM client_ranges; DELETE FROM meta WHERE key = 'indexed_below';",
            )?;
        }
        // Remember the strictest level the rows now satisfy: going back to a
        // laxer level does not make old rows laxer.
        transaction.execute(
            "INSERT INTO meta (key, value) VALUES ('privacy_level', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [target],
        )?;
        transaction.commit()?;
        Ok(None)
    }

    /// Builds the ranges of the rows not covered yet (those written after
    /// the last closed bucket, or all rows of a database migrated or
    /// scrubbed), and sets the id of the next row. Reads the rows in chunks.
    fn index_tail(&mut self) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        let start = indexed_below(&transaction)?;
        let mut after = start.saturating_sub(1);
        let mut reversed = String::new();
        // Chunks of rows ordered by id; each chunk's ranges are merged into
        // the stored ones, so memory stays bounded by one chunk.
        loop {
            let rows: Vec<(i64, String, Option<String>)> = transaction
                .prepare_cached(
                    "SELECT id, qname, client FROM queries WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?
                .query_map(params![after, CHUNK], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let mut buckets: BTreeMap<i64, ClosedBucket> = BTreeMap::new();
            for (id, qname, client) in &rows {
                let bucket = id >> BUCKET_SHIFT;
                let ranges = buckets.entry(bucket).or_insert_with(|| ClosedBucket {
                    bucket,
                    names: HashMap::default(),
                    clients: HashMap::default(),
                });
                names::reverse_into(qname, &mut reversed);
                extend_range(&mut ranges.names, &reversed, *id);
                if let Some(client) = client {
                    extend_range(&mut ranges.clients, client, *id);
                }
            }
            for ranges in buckets.values() {
                write_ranges(&transaction, ranges.bucket, &ranges.names, &ranges.clients)?;
            }
        }
        let next: i64 = transaction.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM queries), 0), \
             COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'queries'), 0)) + 1",
            [],
            |row| row.get(0),
        )?;
        set_indexed_below(&transaction, next)?;
        transaction.commit()?;
        self.next_id = next;
        self.open_bucket = next >> BUCKET_SHIFT;
        Ok(())
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Writes the gathered queries (`queries` in all) in one transaction;
    /// failures are counted, not returned.
    pub(crate) fn write_batch(&mut self, entries: &[Gathered], queries: usize) {
        let count = queries as u64;
        match self.try_write_batch(entries) {
            Ok(()) => {
                let counters = &self.shared.counters;
                counters.written.fetch_add(count, Ordering::Relaxed);
                counters.transactions.fetch_add(1, Ordering::Relaxed);
                if self.failing {
                    tracing::info!(path = %self.shared.path.display(), "query log writes work again");
                }
                self.failing = false;
            }
            Err(error) => {
                self.uncount(entries);
                self.count_failure(count, &error);
            }
        }
    }

    /// Takes the queries of a batch that could not be written back out of
    /// the hourly counters in memory (a name pruned meanwhile is taken out
    /// of the other names).
    fn uncount(&mut self, entries: &[Gathered]) {
        for entry in entries {
            let query = &entry.record;
            let queries = i64::from(entry.count);
            let Some(counts) = self.hours.get_mut(&hour_of(to_micros(query.time))) else {
                continue;
            };
            name_of(query, &mut self.name);
            counts.queries -= queries;
            counts.blocked -= i64::from(query.blocked) * queries;
            counts.from_cache -= i64::from(query.from_cache) * queries;
            counts.dropped -= i64::from(query.dropped) * queries;
            if let Some(count) = counts.qtypes.get_mut(&query.qtype) {
                *count -= queries;
            }
            if let Some(count) = counts.rcodes.get_mut(&query.rcode) {
                *count -= queries;
            }
            let names = &mut counts.names[usize::from(query.blocked)];
            match names.get_mut(self.name.as_str()) {
                Some(count) if *count > queries => *count -= queries,
                Some(_) => {
                    names.remove(self.name.as_str());
                }
                None => counts.other_names = (counts.other_names - queries).max(0),
            }
        }
    }

    fn count_failure(&mut self, queries: u64, error: &rusqlite::Error) {
        let counters = &self.shared.counters;
        counters.failed.fetch_add(queries, Ordering::Relaxed);
        counters.write_errors.fetch_add(1, Ordering::Relaxed);
        *counters
            .last_write_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error.to_string());
        if !self.failing {
            tracing::warn!(
                path = %self.shared.path.display(),
                %error,
                "query log write failed; queries are dropped and counted until writes work again"
            );
        }
        self.failing = true;
    }

    /// Writes the rows and counters.
    fn try_write_batch(&mut self, entries: &[Gathered]) -> rusqlite::Result<()> {
        let level = self.shared.level;
        let transaction = self.connection.transaction()?;
        {
            let many = insert_statement(ROWS_PER_INSERT);
            let mut insert_many = transaction.prepare_cached(&many)?;
            let mut insert_one = transaction.prepare_cached(INSERT_QUERY)?;
            let mut rows: Vec<Value> = Vec::with_capacity(ROWS_PER_INSERT * INSERT_COLUMNS);
            for entry in entries {
                let query = &entry.record;
                let queries = i64::from(entry.count);
                name_of(query, &mut self.name);
                let time = to_micros(query.time);
                let counts = self.hours.entry(hour_of(time)).or_default();
                counts.queries += queries;
                counts.blocked += i64::from(query.blocked) * queries;
                counts.from_cache += i64::from(query.from_cache) * queries;
                counts.dropped += i64::from(query.dropped) * queries;
                *counts.qtypes.entry(query.qtype).or_default() += queries;
                *counts.rcodes.entry(query.rcode).or_default() += queries;
                counts.count_name(
                    &self.name,
                    queries,
                    query.blocked,
                    self.names_in_memory,
                    usize::try_from(self.top_names_per_hour).unwrap_or(usize::MAX),
                );
                if !level.stores_rows() {
                    continue;
                }
                let client = match level {
                    PrivacyLevel::Full => Some(query.client.to_canonical().to_string()),
                    PrivacyLevel::Pseudonymous => Some(
                        self.pseudonyms
                            .pseudonym(&self.shared.key_ring, query.client, query.time)
                            .to_owned(),
                    ),
                    PrivacyLevel::Anonymous | PrivacyLevel::AggregatesOnly => None,
                };
                // Many distinct names or clients close the bucket early (the
                // ids up to the next bucket are skipped), bounding memory.
                if self.open_names.len() >= RANGES_IN_MEMORY
                    || self.open_clients.len() >= RANGES_IN_MEMORY
                {
                    self.next_id = (self.open_bucket + 1) << BUCKET_SHIFT;
                }
                let id = self.next_id;
                self.next_id += 1;
                let bucket = id >> BUCKET_SHIFT;
                if bucket != self.open_bucket {
                    self.closing.push(ClosedBucket {
                        bucket: self.open_bucket,
                        names: std::mem::take(&mut self.open_names),
                        clients: std::mem::take(&mut self.open_clients),
                    });
                    self.open_bucket = bucket;
                }
                names::reverse_into(&self.name, &mut self.reversed);
                extend_range(&mut self.open_names, &self.reversed, id);
                if let Some(client) = &client {
                    extend_range(&mut self.open_clients, client, id);
                }
                let client = client.map_or(Value::Null, Value::Text);
                let text = |value: Option<&String>| {
                    value.map_or(Value::Null, |text| Value::Text(text.clone()))
                };
                let details = query.details();
                rows.extend([
                    Value::Integer(id),
                    Value::Integer(time),
                    client,
                    Value::Text(query.transport.to_owned()),
                    Value::Text(self.name.clone()),
                    Value::Integer(i64::from(query.qtype)),
                    Value::Integer(i64::from(query.rcode)),
                    Value::Integer(i64::from(query.dropped)),
                    Value::Integer(i64::from(query.from_cache)),
                    Value::Integer(i64::from(query.elapsed_micros)),
                    text(details.and_then(|details| details.profile.as_ref())),
                    Value::Integer(i64::from(query.blocked)),
                    text(details.and_then(|details| details.feed.as_ref())),
                    text(details.and_then(|details| details.action.as_ref())),
                    text(details.and_then(|details| details.rule.as_ref())),
                    Value::Integer(queries),
                ]);
                if rows.len() == ROWS_PER_INSERT * INSERT_COLUMNS {
                    insert_many.execute(params_from_iter(rows.drain(..)))?;
                }
            }
            for row in rows.chunks(INSERT_COLUMNS) {
                insert_one.execute(params_from_iter(row.iter()))?;
            }
        }
        // Buckets whose rows are all written get their ranges in the same
        // transaction; after a failure they are tried again with the next.
        if !self.closing.is_empty() {
            for ranges in &self.closing {
                write_ranges(&transaction, ranges.bucket, &ranges.names, &ranges.clients)?;
            }
            set_indexed_below(&transaction, self.open_bucket << BUCKET_SHIFT)?;
        }
        transaction.commit()?;
        self.closing.clear();
        Ok(())
    }

    /// Writes the hourly counters gathered in memory, in one transaction,
    /// then prunes each hour's name lists in the database. On failure the
    /// counters stay in memory for the next attempt (and the failure is
    /// counted as a write error).
    pub(crate) fn write_counters(&mut self) {
        if self.hours.is_empty() {
            return;
        }
        match self.try_write_counters() {
            Ok(()) => self.hours.clear(),
            Err(error) => self.count_failure(0, &error),
        }
    }

    fn try_write_counters(&mut self) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        for (hour, counts) in &self.hours {
            // Only queries taken back out (`uncount`): nothing to write.
            if counts.queries == 0 {
                continue;
            }
            transaction.execute(
                "INSERT INTO hourly (hour, queries, blocked, from_cache, dropped, other_names) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (hour) DO UPDATE SET \
                 queries = queries + excluded.queries, blocked = blocked + excluded.blocked, \
                 from_cache = from_cache + excluded.from_cache, dropped = dropped + excluded.dropped, \
                 other_names = other_names + excluded.other_names",
                params![
                    hour,
                    counts.queries,
                    counts.blocked,
                    counts.from_cache,
                    counts.dropped,
                    counts.other_names
                ],
            )?;
            let mut qtype = transaction.prepare_cached(
                "INSERT INTO hourly_qtype (hour, qtype, count) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (hour, qtype) DO UPDATE SET count = count + excluded.count",
            )?;
            for (code, count) in counts.qtypes.iter().filter(|(_, count)| **count > 0) {
                qtype.execute(params![hour, code, count])?;
            }
            let mut rcode = transaction.prepare_cached(
                "INSERT INTO hourly_rcode (hour, rcode, count) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (hour, rcode) DO UPDATE SET count = count + excluded.count",
            )?;
            for (code, count) in counts.rcodes.iter().filter(|(_, count)| **count > 0) {
                rcode.execute(params![hour, code, count])?;
            }
            let mut name = transaction.prepare_cached(
                "INSERT INTO hourly_name (hour, blocked, name, count) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (hour, blocked, name) DO UPDATE SET count = count + excluded.count",
            )?;
            for (blocked, names) in counts.names.iter().enumerate() {
                for (qname, count) in names {
                    name.execute(params![hour, blocked == 1, qname, count])?;
                }
            }
            for blocked in [false, true] {
                prune_names(&transaction, *hour, blocked, self.top_names_per_hour)?;
            }
        }
        transaction.commit()
    }

    /// The periodic job: forgets expired pseudonymisation keys and deletes
    /// rows and counters past the retention period.
    pub(crate) fn maintain(&mut self) {
        if let Err(error) = self.delete_expired() {
            self.count_failure(0, &error);
        }
    }

    fn delete_expired(&mut self) -> rusqlite::Result<()> {
        let now = self.clock.now();
        self.shared.key_ring().discard_before(now);
        self.pseudonyms.clear();
        let retention = Duration::from_secs(u64::from(self.retention_days) * 86_400);
        let cutoff = to_micros(now.checked_sub(retention).unwrap_or(UNIX_EPOCH));
        // Each statement deletes a bounded chunk; the loop ends when a chunk
        // comes back short, so it runs at most rows / CHUNK + 1 times.
        loop {
            let deleted = self.connection.execute(
                "DELETE FROM queries WHERE id IN \
                 (SELECT id FROM queries WHERE time < ?1 ORDER BY time LIMIT ?2)",
                params![cutoff, CHUNK],
            )?;
            if (deleted as i64) < CHUNK {
                break;
            }
        }
        // Ranges of buckets older than the oldest row left.
        for table in ["name_ranges", "client_ranges"] {
            self.connection.execute(
                &format!(
                    "DELETE FROM {table} WHERE bucket < \
                     (COALESCE((SELECT MIN(id) FROM queries), ?1) >> {BUCKET_SHIFT})"
                ),
                [self.next_id],
            )?;
        }
        let cutoff_hour = hour_of(cutoff);
        for table in ["hourly", "hourly_qtype", "hourly_rcode", "hourly_name"] {
            self.connection.execute(
                &format!("DELETE FROM {table} WHERE hour < ?1"),
                [cutoff_hour],
            )?;
        }
        Ok(())
    }
}

/// Keeps the most frequent names of one hour once they exceed twice the cap,
/// adding the counts of the others to `hourly.other_names`.
fn prune_names(
    transaction: &rusqlite::Transaction<'_>,
    hour: i64,
    blocked: bool,
    cap: i64,
) -> rusqlite::Result<()> {
    let (names, total): (i64, i64) = transaction
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(count), 0) FROM hourly_name \
             WHERE hour = ?1 AND blocked = ?2",
        )?
        .query_row(params![hour, blocked], |row| Ok((row.get(0)?, row.get(1)?)))?;
    if names <= cap.saturating_mul(2) {
        return Ok(());
    }
    transaction.execute(
        "DELETE FROM hourly_name WHERE hour = ?1 AND blocked = ?2 AND name NOT IN \
         (SELECT name FROM hourly_name WHERE hour = ?1 AND blocked = ?2 \
          ORDER BY count DESC, name LIMIT ?3)",
        params![hour, blocked, cap],
    )?;
    let kept: i64 = transaction.query_row(
        "SELECT COALESCE(SUM(count), 0) FROM hourly_name WHERE hour = ?1 AND blocked = ?2",
        params![hour, blocked],
        |row| row.get(0),
    )?;
    transaction.execute(
        "UPDATE hourly SET other_names = other_names + ?2 WHERE hour = ?1",
        params![hour, total - kept],
    )?;
    Ok(())
}

/// A connection for one request of the API side.
fn connect(shared: &Shared, writable: bool) -> Result<Connection, QueryLogError> {
    let access = if writable {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let connection =
        Connection::open_with_flags(&shared.path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(database_error(shared))?;
    connection
        .busy_timeout(shared.busy_timeout)
        .map_err(database_error(shared))?;
    Ok(connection)
}

/// A client as a request names it.
pub(crate) enum ClientKey {
    Address(IpAddr),
    Pseudonym(String),
}

/// Reads a client given as an address or a pseudonym.
pub(crate) fn check_client(client: &str) -> Result<ClientKey, QueryLogError> {
    let client = client.trim();
    if let Ok(address) = client.parse::<IpAddr>() {
        return Ok(ClientKey::Address(address.to_canonical()));
    }
    let lowercase = client.to_ascii_lowercase();
    if is_pseudonym(&lowercase) {
        return Ok(ClientKey::Pseudonym(lowercase));
    }
    Err(QueryLogError::InvalidFilter(format!(
        "client: {:?} is neither an IP address nor a pseudonym (c- and 16 hex digits)",
        client.chars().take(64).collect::<String>()
    )))
}

/// The stored forms of a client: its address and its pseudonyms under the
/// keys still held, or the pseudonym itself.
fn client_forms(shared: &Shared, client: &str) -> Result<Vec<String>, QueryLogError> {
    Ok(match check_client(client)? {
        ClientKey::Address(address) => {
            let mut forms = vec![address.to_string()];
            forms.extend(shared.key_ring().pseudonyms(address));
            forms
        }
        ClientKey::Pseudonym(pseudonym) => vec![pseudonym],
    })
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: row.get(0)?,
        time: from_micros(row.get(1)?),
        client: row.get(2)?,
        transport: row.get(3)?,
        qname: row.get(4)?,
        qtype: row.get(5)?,
        rcode: row.get(6)?,
        dropped: row.get(7)?,
        from_cache: row.get(8)?,
        elapsed_micros: row.get(9)?,
        profile: row.get(10)?,
        blocked: row.get(11)?,
        feed: row.get(12)?,
        action: row.get(13)?,
        rule: row.get(14)?,
        count: row.get::<_, i64>(15)?.max(1) as u64,
    })
}

/// What restricts a search to the buckets where a name or client occurs.
#[derive(Default)]
struct Ranges {
    /// A condition on `name_ranges.reversed_name` and its values.
    name: Option<(String, Vec<Value>)>,
    /// The stored forms of a client, for `client_ranges`.
    clients: Option<Vec<String>>,
}

pub(crate) fn search(shared: &Shared, filter: &SearchFilter) -> Result<Vec<Entry>, QueryLogError> {
    let limit = match filter.limit {
        0 => SEARCH_LIMIT_DEFAULT,
        limit if limit <= SEARCH_LIMIT_MAX => limit,
        limit => {
            return Err(QueryLogError::InvalidFilter(format!(
                "limit: {limit} is more than {SEARCH_LIMIT_MAX}"
            )));
        }
    };
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut ranges = Ranges::default();
    // Rows matched by the SQL conditions that must also pass this check.
    let mut below: Option<String> = None;
    if let Some(client) = &filter.client {
        let forms = client_forms(shared, client)?;
        conditions.push(format!("client IN ({})", placeholders(forms.len())));
        values.extend(forms.iter().cloned().map(Value::Text));
        ranges.clients = Some(forms);
    }
    if let Some(name) = &filter.name {
        if name.is_empty() || name.len() > 1024 {
            return Err(QueryLogError::InvalidFilter(
                "name: empty or longer than 1024 characters".to_owned(),
            ));
        }
        let normalised = names::normalise(name);
        let reversed = names::reverse(&normalised);
        let escaped = normalised
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        match filter.name_match {
            NameMatch::Exact => {
                conditions.push("qname = ?".to_owned());
                values.push(Value::Text(normalised));
                ranges.name = Some(("reversed_name = ?".to_owned(), vec![Value::Text(reversed)]));
            }
            NameMatch::Contains => {
                conditions.push("qname LIKE ? ESCAPE '\\'".to_owned());
                values.push(Value::Text(format!("%{escaped}%")));
            }
            // The root's subtree is every name.
            NameMatch::Subtree if reversed.is_empty() => {}
            NameMatch::Subtree => {
                // The text test finds every name below and a few that only
                // look so (escaped dots); `is_at_or_below` sorts those out.
                conditions.push("(qname = ? OR qname LIKE ? ESCAPE '\\')".to_owned());
                values.push(Value::Text(normalised.clone()));
                values.push(Value::Text(format!("%.{escaped}")));
                // Names below are `reversed.` followed by anything: the range
                // from `reversed.` up to `reversed/` ('/' follows '.').
                ranges.name = Some((
                    "(reversed_name = ? OR (reversed_name > ? AND reversed_name < ?))".to_owned(),
                    vec![
                        Value::Text(reversed.clone()),
                        Value::Text(format!("{reversed}.")),
                        Value::Text(format!("{reversed}/")),
                    ],
                ));
                below = Some(normalised);
            }
        }
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until < since
    {
        return Err(QueryLogError::InvalidFilter(
            "until: earlier than since".to_owned(),
        ));
    }
    if let Some(since) = filter.since {
        conditions.push("time >= ?".to_owned());
        values.push(Value::Integer(to_micros(since)));
    }
    if let Some(until) = filter.until {
        conditions.push("time < ?".to_owned());
        values.push(Value::Integer(to_micros(until)));
    }
    if filter.blocked_only {
        conditions.push("blocked = 1".to_owned());
    }
    let connection = connect(shared, false)?;
    let read = || {
        select_entries(
            &connection,
            &ranges,
            &conditions,
            &values,
            filter.before_id,
            limit,
            below.as_deref(),
        )
    };
    read().map_err(database_error(shared))
}

/// Entries matching `conditions`, newest first, at most `limit`, with ids
/// below `before_id`. With a name or client in `ranges`, only the buckets
/// where it occurs are read (and the tail, which has no ranges yet);
/// otherwise the rows are read newest first. `below`: a name the entries'
/// names must be at or below.
fn select_entries(
    connection: &Connection,
    ranges: &Ranges,
    conditions: &[String],
    values: &[Value],
    before_id: Option<i64>,
    limit: usize,
    below: Option<&str>,
) -> rusqlite::Result<Vec<Entry>> {
    let upper = before_id.unwrap_or(i64::MAX);
    let mut entries = Vec::new();
    if ranges.name.is_none() && ranges.clients.is_none() {
        select_span(
            connection,
            conditions,
            values,
            (0, upper),
            limit,
            below,
            &mut entries,
        )?;
        return Ok(entries);
    }
    let tail = indexed_below(connection)?;
    if upper > tail {
        select_span(
            connection,
            conditions,
            values,
            (tail, upper),
            limit,
            below,
            &mut entries,
        )?;
    }
    let Some(lowest) = connection.query_row("SELECT MIN(id) FROM queries", [], |row| {
        row.get::<_, Option<i64>>(0)
    })?
    else {
        return Ok(entries);
    };
    let top = upper.min(tail);
    if top <= lowest {
        return Ok(entries);
    }
    // One bucket at a time, newest first: a lookup in each range table,
    // then the rows between the first and last id found.
    let mut bucket = (top - 1) >> BUCKET_SHIFT;
    let mut name_lookup = match &ranges.name {
        Some((condition, _)) => Some(connection.prepare(&format!(
            "SELECT MIN(first_id), MAX(last_id) FROM name_ranges WHERE bucket = ? AND {condition}"
        ))?),
        None => None,
    };
    let mut client_lookup = match &ranges.clients {
        Some(forms) => Some(connection.prepare(&format!(
            "SELECT MIN(first_id), MAX(last_id) FROM client_ranges WHERE bucket = ? AND client IN ({})",
            placeholders(forms.len())
        ))?),
        None => None,
    };
    while bucket >= lowest >> BUCKET_SHIFT && entries.len() < limit {
        let mut span = (
            bucket << BUCKET_SHIFT,
            ((bucket + 1) << BUCKET_SHIFT).min(top),
        );
        if let (Some(lookup), Some((_, name_values))) = (&mut name_lookup, &ranges.name) {
            let mut parameters = vec![Value::Integer(bucket)];
            parameters.extend(name_values.iter().cloned());
            span = narrow(lookup, parameters, span)?;
        }
        if let (Some(lookup), Some(forms)) = (&mut client_lookup, &ranges.clients) {
            let mut parameters = vec![Value::Integer(bucket)];
            parameters.extend(forms.iter().cloned().map(Value::Text));
            span = narrow(lookup, parameters, span)?;
        }
        if span.0 < span.1 {
            select_span(
                connection,
                conditions,
                values,
                span,
                limit,
                below,
                &mut entries,
            )?;
        }
        bucket -= 1;
    }
    Ok(entries)
}

/// Narrows `span` (ids from `.0` to before `.1`) to the range a lookup finds;
/// an empty span when it finds none.
fn narrow(
    lookup: &mut rusqlite::Statement<'_>,
    parameters: Vec<Value>,
    span: (i64, i64),
) -> rusqlite::Result<(i64, i64)> {
    let (first, last): (Option<i64>, Option<i64>) = lookup
        .query_row(params_from_iter(parameters), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(match (first, last) {
        (Some(first), Some(last)) => (span.0.max(first), span.1.min(last.saturating_add(1))),
        _ => (0, 0),
    })
}

/// Appends the entries with ids in `span` matching `conditions`, newest
/// first, until `entries` holds `limit`.
fn select_span(
    connection: &Connection,
    conditions: &[String],
    values: &[Value],
    span: (i64, i64),
    limit: usize,
    below: Option<&str>,
    entries: &mut Vec<Entry>,
) -> rusqlite::Result<()> {
    let mut filter = String::from("WHERE id >= ? AND id < ?");
    for condition in conditions {
        filter.push_str(" AND ");
        filter.push_str(condition);
    }
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM queries {filter} ORDER BY id DESC LIMIT ?");
    let mut statement = connection.prepare_cached(&sql)?;
    let mut upper = span.1;
    // Each round either fills the page or reaches the end of the span; a
    // round that `below` thins out goes on below the last id it read.
    loop {
        let wanted = limit.saturating_sub(entries.len());
        if wanted == 0 {
            return Ok(());
        }
        let mut parameters = vec![Value::Integer(span.0), Value::Integer(upper)];
        parameters.extend(values.iter().cloned());
        parameters.push(Value::Integer(wanted as i64));
        let found = statement
            .query_map(params_from_iter(parameters), read_entry)?
            .collect::<rusqlite::Result<Vec<Entry>>>()?;
        let complete = found.len() < wanted;
        if let Some(last) = found.last() {
            upper = last.id;
        }
        entries.extend(
            found
                .into_iter()
                .filter(|entry| below.is_none_or(|name| names::is_at_or_below(&entry.qname, name))),
        );
        if complete {
            return Ok(());
        }
    }
}

pub(crate) fn export_client(shared: &Shared, client: &str) -> Result<Vec<Entry>, QueryLogError> {
    let forms = client_forms(shared, client)?;
    let condition = format!("client IN ({})", placeholders(forms.len()));
    let values: Vec<Value> = forms.iter().cloned().map(Value::Text).collect();
    let ranges = Ranges {
        name: None,
        clients: Some(forms),
    };
    let connection = connect(shared, false)?;
    let entries = select_entries(
        &connection,
        &ranges,
        std::slice::from_ref(&condition),
        &values,
        None,
        EXPORT_LIMIT + 1,
        None,
    )
    .map_err(database_error(shared))?;
    if entries.len() > EXPORT_LIMIT {
        // The rare case: counted by reading every row.
        let rows: i64 = connection
            .query_row(
                &format!("SELECT COUNT(*) FROM queries WHERE {condition}"),
                params_from_iter(values),
                |row| row.get(0),
            )
            .map_err(database_error(shared))?;
        return Err(QueryLogError::ExportTooLarge {
            rows: rows as u64,
            limit: EXPORT_LIMIT,
        });
    }
    Ok(entries)
}

pub(crate) fn erase_client(shared: &Shared, client: &str) -> Result<u64, QueryLogError> {
    let forms = client_forms(shared, client)?;
    let mut connection = connect(shared, true)?;
    let erase = |connection: &mut Connection| -> rusqlite::Result<u64> {
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let list = placeholders(forms.len());
        let form_values = || forms.iter().cloned().map(Value::Text);
        // The buckets where the client occurs, and the tail.
        let mut spans: Vec<(i64, i64)> = transaction
            .prepare(&format!(
                "SELECT MIN(first_id), MAX(last_id) + 1 FROM client_ranges \
                 WHERE client IN ({list}) GROUP BY bucket"
            ))?
            .query_map(params_from_iter(form_values()), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        spans.push((indexed_below(&transaction)?, i64::MAX));
        let mut deleted = 0u64;
        {
            // Each row stands for `count` identical queries.
            let mut delete = transaction.prepare(&format!(
                "DELETE FROM queries WHERE id >= ? AND id < ? AND client IN ({list}) \
                 RETURNING count"
            ))?;
            for (first, end) in spans {
                let mut parameters = vec![Value::Integer(first), Value::Integer(end)];
                parameters.extend(form_values());
                let mut rows = delete.query(params_from_iter(parameters))?;
                while let Some(row) = rows.next()? {
                    deleted += row.get::<_, i64>(0)?.max(1) as u64;
                }
            }
        }
        transaction.execute(
            &format!("DELETE FROM client_ranges WHERE client IN ({list})"),
            params_from_iter(form_values()),
        )?;
        transaction.commit()?;
        Ok(deleted)
    };
    erase(&mut connection).map_err(database_error(shared))
}

fn ranked(connection: &Connection, sql: &str, since: i64) -> rusqlite::Result<Vec<Ranked>> {
    connection
        .prepare(sql)?
        .query_map(params![since, AGGREGATE_TOP as i64], |row| {
            Ok(Ranked {
                key: row.get(0)?,
                queries: row.get::<_, i64>(1)? as u64,
            })
        })?
        .collect()
}

fn code_counts(connection: &Connection, sql: &str, hour: i64) -> rusqlite::Result<Vec<(u16, u64)>> {
    connection
        .prepare(sql)?
        .query_map([hour], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))
        })?
        .collect()
}

pub(crate) fn aggregates(shared: &Shared, since: SystemTime) -> Result<Aggregates, QueryLogError> {
    let connection = connect(shared, false)?;
    let first_hour = hour_of(to_micros(since));
    let start = hour_start(first_hour);
    let start_micros = to_micros(start);
    let read = || -> rusqlite::Result<Aggregates> {
        let mut aggregates = Aggregates {
            since: start,
            queries: 0,
            blocked: 0,
            from_cache: 0,
            dropped: 0,
            per_hour: Vec::new(),
            per_minute: Vec::new(),
            by_qtype: Vec::new(),
            by_rcode: Vec::new(),
            top_names: Vec::new(),
            top_blocked_names: Vec::new(),
            other_names: 0,
            top_clients: Vec::new(),
        };
        let mut statement = connection.prepare(
            "SELECT hour, queries, blocked, from_cache, dropped, other_names FROM hourly \
             WHERE hour >= ?1 ORDER BY hour",
        )?;
        let mut rows = statement.query([first_hour])?;
        while let Some(row) = rows.next()? {
            let queries = row.get::<_, i64>(1)? as u64;
            let blocked = row.get::<_, i64>(2)? as u64;
            aggregates.queries += queries;
            aggregates.blocked += blocked;
            aggregates.from_cache += row.get::<_, i64>(3)? as u64;
            aggregates.dropped += row.get::<_, i64>(4)? as u64;
            aggregates.other_names += row.get::<_, i64>(5)? as u64;
            aggregates.per_hour.push(PeriodCount {
                start: hour_start(row.get(0)?),
                queries,
                blocked,
            });
        }
        aggregates.by_qtype = code_counts(
            &connection,
            "SELECT qtype, SUM(count) FROM hourly_qtype WHERE hour >= ?1 \
             GROUP BY qtype ORDER BY 2 DESC, 1",
            first_hour,
        )?;
        aggregates.by_rcode = code_counts(
            &connection,
            "SELECT rcode, SUM(count) FROM hourly_rcode WHERE hour >= ?1 \
             GROUP BY rcode ORDER BY 2 DESC, 1",
            first_hour,
        )?;
        aggregates.top_names = ranked(
            &connection,
            "SELECT name, SUM(count) FROM hourly_name WHERE hour >= ?1 \
             GROUP BY name ORDER BY 2 DESC, 1 LIMIT ?2",
            first_hour,
        )?;
        aggregates.top_blocked_names = ranked(
            &connection,
            "SELECT name, SUM(count) FROM hourly_name WHERE hour >= ?1 AND blocked = 1 \
             GROUP BY name ORDER BY 2 DESC, 1 LIMIT ?2",
            first_hour,
        )?;
        if shared.level.stores_rows() {
            let mut statement = connection.prepare(
                "SELECT time / 60000000, SUM(count), SUM(blocked * count) FROM queries \
                 WHERE time >= ?1 GROUP BY 1 ORDER BY 1 DESC LIMIT ?2",
            )?;
            let mut rows = statement.query(params![start_micros, MINUTES_MAX])?;
            while let Some(row) = rows.next()? {
                aggregates.per_minute.push(PeriodCount {
                    start: from_micros(
                        row.get::<_, i64>(0)?.saturating_mul(60 * MICROS_PER_SECOND),
                    ),
                    queries: row.get::<_, i64>(1)? as u64,
                    blocked: row.get::<_, i64>(2)? as u64,
                });
            }
        }
        aggregates.per_minute.reverse();
        if shared.level.stores_clients() {
            aggregates.top_clients = ranked(
                &connection,
                "SELECT client, SUM(count) FROM queries WHERE time >= ?1 AND client IS NOT NULL \
                 GROUP BY client ORDER BY 2 DESC, 1 LIMIT ?2",
                start_micros,
            )?;
        }
        Ok(aggregates)
    };
    read().map_err(database_error(shared))
}
