//! Integration tests of the query log: real SQLite files in temporary
//! directories, the real writer thread, an injected clock. No network.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hanse_querylog::{
    LoggedQuery, ManualClock, NameMatch, PrivacyLevel, QueryLog, QueryLogConfig, QueryLogError,
    SearchFilter,
};

const DAY: Duration = Duration::from_secs(86_400);
const FLUSH: Duration = Duration::from_secs(30);

/// 2024-10-04 12:00:00 UTC: the middle of a day.
fn noon() -> SystemTime {
    UNIX_EPOCH + DAY * 20_000 + Duration::from_secs(12 * 3600)
}

fn address(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn query(time: SystemTime, client: &str, qname: &str) -> LoggedQuery {
    LoggedQuery {
        time,
        client: address(client),
        transport: "udp",
        qname: qname.to_owned(),
        qtype: 1,
        rcode: 0,
        dropped: false,
        from_cache: false,
        elapsed_micros: 1234,
        profile: Some("default".to_owned()),
        blocked: false,
        feed: None,
        action: None,
        rule: None,
    }
}

fn blocked(mut query: LoggedQuery) -> LoggedQuery {
    query.blocked = true;
    query.rcode = 3;
    query.feed = Some("ads".to_owned());
    query.action = Some("nxdomain".to_owned());
    query.rule = Some("ads.example".to_owned());
    query
}

fn config(directory: &Path, level: PrivacyLevel, clock: &Arc<ManualClock>) -> QueryLogConfig {
    let mut config = QueryLogConfig::new(directory.join("queries.sqlite"));
    config.privacy_level = level;
    config.clock = clock.clone();
    config
}

fn row_count(path: &Path, sql: &str) -> i64 {
    let connection = rusqlite_connection(path);
    connection
        .query_row(sql, [], |row| row.get(0))
        .expect("count query")
}

fn rusqlite_connection(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("test connection")
}

fn everything() -> SearchFilter {
    SearchFilter {
        limit: 1000,
        ..SearchFilter::default()
    }
}

#[test]
fn level_0_stores_the_address() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    log.record(query(noon(), "192.0.2.1", "www.example.com"));
    log.record(query(noon(), "::ffff:192.0.2.1", "WWW.Example.org."));
    log.record(blocked(query(noon(), "2001:db8::7", "ads.example")));
    log.flush(FLUSH).expect("flush");
    let entries = log.search(&everything()).expect("search");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].client.as_deref(), Some("2001:db8::7"));
    assert!(entries[0].blocked);
    assert_eq!(entries[0].feed.as_deref(), Some("ads"));
    // IPv4-mapped addresses are stored as IPv4; names normalised.
    assert_eq!(entries[1].client.as_deref(), Some("192.0.2.1"));
    assert_eq!(entries[1].qname, "www.example.org");
    assert_eq!(entries[2].qname, "www.example.com");
    assert_eq!(entries[2].time, noon());
    assert_eq!(entries[2].elapsed_micros, 1234);
    assert_eq!(entries[2].profile.as_deref(), Some("default"));
    let mine = log
        .search(&SearchFilter {
            client: Some("192.0.2.1".to_owned()),
            ..SearchFilter::default()
        })
        .expect("search by client");
    assert_eq!(mine.len(), 2);
    let aggregates = log.aggregates(noon() - DAY).expect("aggregates");
    assert_eq!(aggregates.queries, 3);
    assert_eq!(aggregates.blocked, 1);
    assert_eq!(aggregates.top_clients[0].key, "192.0.2.1");
    assert_eq!(aggregates.top_clients[0].queries, 2);
    assert_eq!(aggregates.per_minute.len(), 1);
    assert_eq!(aggregates.per_minute[0].queries, 3);
    assert_eq!(aggregates.top_blocked_names[0].key, "ads.example");
    assert_eq!(aggregates.by_rcode, vec![(0, 2), (3, 1)]);
    log.close();
}

#[test]
fn level_1_pseudonyms_change_with_the_day_and_erasure_finds_them() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log =
        QueryLog::open(config(directory.path(), PrivacyLevel::Pseudonymous, &clock)).expect("open");
    log.record(query(noon(), "192.0.2.1", "a.example"));
    log.record(query(
        noon() + Duration::from_secs(60),
        "192.0.2.1",
        "b.example",
    ));
    log.record(query(noon(), "192.0.2.2", "c.example"));
    // After the next UTC midnight the key is another one.
    clock.advance(DAY);
    log.record(query(noon() + DAY, "192.0.2.1", "d.example"));
    log.flush(FLUSH).expect("flush");

    let entries = log.search(&everything()).expect("search");
    assert_eq!(entries.len(), 4);
    let token = |name: &str| {
        entries
            .iter()
            .find(|entry| entry.qname == name)
            .and_then(|entry| entry.client.clone())
            .expect("a pseudonym")
    };
    for entry in &entries {
        let client = entry.client.as_deref().expect("a client");
        assert!(client.starts_with("c-") && client.len() == 18, "{client}");
        assert!(!client.contains("192.0.2"));
    }
    assert_eq!(
        token("a.example"),
        token("b.example"),
        "stable within a day"
    );
    assert_ne!(token("a.example"), token("c.example"), "per client");
    assert_ne!(
        token("a.example"),
        token("d.example"),
        "rotated at midnight"
    );
    // Nothing in the file holds the address.
    let raw = std::fs::read(directory.path().join("queries.sqlite")).expect("file");
    let wal = std::fs::read(directory.path().join("queries.sqlite-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(!bytes.windows(9).any(|window| window == b"192.0.2.1"));
    }

    // By address: both days (the keys of the retention period are held).
    let exported = log.export_client("192.0.2.1").expect("export");
    assert_eq!(exported.len(), 3);
    // By pseudonym: only that day's rows.
    let by_token = log
        .search(&SearchFilter {
            client: Some(token("d.example")),
            ..SearchFilter::default()
        })
        .expect("search by pseudonym");
    assert_eq!(by_token.len(), 1);
    assert_eq!(log.erase_client("192.0.2.1").expect("erase"), 3);
    let left = log.search(&everything()).expect("search");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].qname, "c.example");
    log.close();

    // After a restart the keys are gone: the address finds nothing, the
    // pseudonym still does.
    let other = token("c.example");
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Pseudonymous, &clock))
        .expect("reopen");
    assert!(log.export_client("192.0.2.2").expect("export").is_empty());
    assert_eq!(log.export_client(&other).expect("export").len(), 1);
    assert_eq!(log.erase_client(&other).expect("erase"), 1);
}

#[test]
fn level_2_stores_no_client() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log =
        QueryLog::open(config(directory.path(), PrivacyLevel::Anonymous, &clock)).expect("open");
    for client in ["192.0.2.1", "192.0.2.2", "2001:db8::1"] {
        log.record(query(noon(), client, "www.example"));
    }
    log.flush(FLUSH).expect("flush");
    let entries = log.search(&everything()).expect("search");
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|entry| entry.client.is_none()));
    let path = directory.path().join("queries.sqlite");
    assert_eq!(
        row_count(
            &path,
            "SELECT COUNT(*) FROM queries WHERE client IS NOT NULL"
        ),
        0
    );
    assert!(log.export_client("192.0.2.1").expect("export").is_empty());
    let aggregates = log.aggregates(noon()).expect("aggregates");
    assert!(aggregates.top_clients.is_empty());
    assert_eq!(aggregates.queries, 3);
}

#[test]
fn level_3_stores_only_hourly_counters() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::AggregatesOnly, &clock);
    settings.top_names_per_hour = 3;
    let log = QueryLog::open(settings).expect("open");
    let path = log.path().to_owned();
    // 10 queries for popular.example, 40 distinct others, 5 blocked.
    for _ in 0..10 {
        log.record(query(noon(), "192.0.2.1", "popular.example"));
    }
    for index in 0..40 {
        let mut one = query(noon(), "192.0.2.1", &format!("n{index}.example"));
        one.qtype = 28;
        log.record(one);
    }
    for _ in 0..5 {
        log.record(blocked(query(noon(), "192.0.2.1", "ads.example")));
    }
    log.record(query(
        noon() + Duration::from_secs(3600),
        "192.0.2.1",
        "popular.example",
    ));
    log.flush(FLUSH).expect("flush");
    assert!(log.search(&everything()).expect("search").is_empty());
    assert_eq!(row_count(&path, "SELECT COUNT(*) FROM queries"), 0);
    let aggregates = log.aggregates(noon()).expect("aggregates");
    assert_eq!(aggregates.queries, 56);
    assert_eq!(aggregates.blocked, 5);
    assert_eq!(aggregates.per_hour.len(), 2);
    assert_eq!(aggregates.per_hour[0].queries, 55);
    assert_eq!(aggregates.per_hour[1].queries, 1);
    assert!(aggregates.per_minute.is_empty());
    assert!(aggregates.top_clients.is_empty());
    assert_eq!(aggregates.by_qtype, vec![(28, 40), (1, 16)]);
    assert_eq!(aggregates.top_names[0].key, "popular.example");
    assert_eq!(aggregates.top_names[0].queries, 11);
    assert_eq!(aggregates.top_blocked_names[0].key, "ads.example");
    assert_eq!(aggregates.top_blocked_names[0].queries, 5);
    // The name list of the first hour was capped (3 kept, at most 6 while
    // the hour runs); the other queries are counted as others.
    let names_first_hour = row_count(
        &path,
        "SELECT COUNT(*) FROM hourly_name WHERE blocked = 0 AND hour = (SELECT MIN(hour) FROM hourly)",
    );
    assert!(names_first_hour <= 6, "{names_first_hour}");
    let listed: u64 = row_count(&path, "SELECT SUM(count) FROM hourly_name") as u64;
    assert_eq!(listed + aggregates.other_names, 56);
    // Nothing about clients anywhere in the file.
    let raw = std::fs::read(&path).expect("file");
    assert!(!raw.windows(9).any(|window| window == b"192.0.2.1"));
}

#[test]
fn raising_the_level_scrubs_stored_rows() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    let path = log.path().to_owned();
    log.record(query(noon(), "192.0.2.1", "a.example"));
    log.record(query(noon(), "192.0.2.2", "b.example"));
    log.close();

    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Pseudonymous, &clock))
        .expect("level 1");
    let entries = log.search(&everything()).expect("search");
    assert!(entries.iter().all(|entry| {
        entry
            .client
            .as_deref()
            .is_some_and(|client| client.starts_with("c-"))
    }));
    // The fresh key of that day was used: the address still finds its row.
    assert_eq!(log.export_client("192.0.2.1").expect("export").len(), 1);
    log.close();

    // Going back to level 0 does not bring addresses back.
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("0");
    assert_eq!(
        row_count(
            &path,
            "SELECT COUNT(*) FROM queries WHERE client LIKE '192.%'"
        ),
        0
    );
    log.close();
    let log =
        QueryLog::open(config(directory.path(), PrivacyLevel::Anonymous, &clock)).expect("level 2");
    assert_eq!(
        row_count(
            &path,
            "SELECT COUNT(*) FROM queries WHERE client IS NOT NULL"
        ),
        0
    );
    log.close();
    let log = QueryLog::open(config(
        directory.path(),
        PrivacyLevel::AggregatesOnly,
        &clock,
    ))
    .expect("level 3");
    assert_eq!(row_count(&path, "SELECT COUNT(*) FROM queries"), 0);
    assert_eq!(log.aggregates(noon()).expect("aggregates").queries, 2);
}

#[test]
fn retention_deletes_old_rows_and_counters() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.retention_days = 2;
    settings.maintenance_interval = Duration::from_secs(3600);
    let log = QueryLog::open(settings).expect("open");
    let path = log.path().to_owned();
    log.record(query(noon() - DAY * 5, "192.0.2.1", "old.example"));
    log.record(query(noon() - DAY, "192.0.2.1", "recent.example"));
    log.record(query(noon(), "192.0.2.1", "new.example"));
    // The job is not due yet: the old row is written and stays.
    log.flush(FLUSH).expect("flush");
    assert_eq!(log.search(&everything()).expect("search").len(), 3);
    clock.advance(Duration::from_secs(2 * 3600));
    log.flush(FLUSH).expect("flush runs the due job");
    let names: Vec<String> = log
        .search(&everything())
        .expect("search")
        .into_iter()
        .map(|entry| entry.qname)
        .collect();
    assert_eq!(names, ["new.example", "recent.example"]);
    assert_eq!(
        row_count(&path, "SELECT COUNT(*) FROM hourly"),
        2,
        "the counters of the old hour are gone too"
    );
    log.close();

    // Opening runs the job at once.
    clock.advance(DAY);
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.retention_days = 2;
    let log = QueryLog::open(settings).expect("reopen");
    let names: Vec<String> = log
        .search(&everything())
        .expect("search")
        .into_iter()
        .map(|entry| entry.qname)
        .collect();
    assert_eq!(names, ["new.example"]);
}

#[test]
fn excluded_clients_and_names_are_never_stored() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.excluded_clients = vec![
        "10.1.0.0/16".parse().expect("prefix"),
        "2001:db8:1::/48".parse().expect("prefix"),
    ];
    settings.excluded_names = vec!["Internal.Example.".to_owned(), "lan".to_owned()];
    let log = QueryLog::open(settings).expect("open");
    let path = log.path().to_owned();
    log.record(query(noon(), "10.1.2.3", "www.example"));
    log.record(query(noon(), "::ffff:10.1.9.9", "www.example"));
    log.record(query(noon(), "2001:db8:1::5", "www.example"));
    log.record(query(noon(), "192.0.2.1", "internal.example"));
    log.record(query(noon(), "192.0.2.1", "host.internal.example"));
    log.record(query(noon(), "192.0.2.1", "printer.lan"));
    log.record(query(noon(), "192.0.2.1", "notinternal.example"));
    log.record(query(noon(), "10.2.0.1", "plan"));
    assert!(log.excludes(address("10.1.0.1"), "x"));
    assert!(!log.excludes(address("10.2.0.1"), "x"));
    log.flush(FLUSH).expect("flush");
    let names: Vec<String> = log
        .search(&everything())
        .expect("search")
        .into_iter()
        .map(|entry| entry.qname)
        .collect();
    assert_eq!(names, ["plan", "notinternal.example"]);
    let statistics = log.statistics();
    assert_eq!(statistics.recorded, 8);
    assert_eq!(statistics.excluded, 6);
    assert_eq!(statistics.written, 2);
    // Not even the counters saw them.
    assert_eq!(row_count(&path, "SELECT SUM(queries) FROM hourly"), 2);
}

#[test]
fn a_full_queue_drops_and_counts_while_the_writer_is_blocked() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.queue_capacity = 8;
    settings.batch_size = 16;
    settings.busy_timeout = Duration::from_secs(20);
    let log = QueryLog::open(settings).expect("open");
    // Another connection holds the write lock: the writer's next transaction
    // waits for it.
    let blocker = rusqlite_connection(log.path());
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    const TOTAL: u64 = 1000;
    let started = std::time::Instant::now();
    for index in 0..TOTAL {
        log.record(query(noon(), "192.0.2.1", &format!("n{index}.example")));
    }
    // `record` never waited for the blocked writer.
    assert!(started.elapsed() < Duration::from_secs(5));
    let during = log.statistics();
    assert_eq!(during.recorded, TOTAL);
    // At most the writer's batch (one 64-query batch from the queue, which
    // reaches batch_size), a full queue (8 rounded up to one 64-query batch)
    // and this thread's partial batch (under 64) were accepted.
    assert!(
        during.dropped_full >= TOTAL - 64 - 64 - 63,
        "dropped {}",
        during.dropped_full
    );
    assert_eq!(during.written, 0);
    blocker.execute_batch("COMMIT").expect("release the lock");
    log.flush(FLUSH).expect("flush");
    let after = log.statistics();
    assert_eq!(after.written + after.dropped_full, TOTAL);
    assert_eq!(after.failed, 0);
    assert_eq!(
        log.search(&everything()).expect("search").len() as u64,
        after.written
    );
}

#[test]
fn many_queries_are_written_in_few_transactions() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.queue_capacity = 20_000;
    settings.batch_size = 1000;
    let log = QueryLog::open(settings).expect("open");
    for index in 0..10_000 {
        log.record(query(noon(), "192.0.2.1", &format!("n{index}.example")));
    }
    log.flush(FLUSH).expect("flush");
    let statistics = log.statistics();
    assert_eq!(statistics.written, 10_000);
    assert_eq!(statistics.dropped_full, 0);
    // 10 full batches, plus partial ones the 1 s timer may have cut.
    assert!(
        (10..=20).contains(&statistics.transactions),
        "{} transactions",
        statistics.transactions
    );
}

#[test]
fn search_filters_and_cursor() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    let names = [
        "example.com",
        "www.example.com",
        "a.b.example.com",
        "badexample.com",
        "example.comx",
        "example.org",
    ];
    for (index, name) in names.iter().enumerate() {
        let time = noon() + Duration::from_secs(index as u64 * 60);
        let one = query(time, "192.0.2.1", name);
        log.record(if index % 2 == 0 { blocked(one) } else { one });
    }
    log.record(query(noon(), "192.0.2.99", "www.example.com"));
    log.flush(FLUSH).expect("flush");
    let search = |filter: SearchFilter| -> Vec<String> {
        log.search(&filter)
            .expect("search")
            .into_iter()
            .map(|entry| entry.qname)
            .collect()
    };
    assert_eq!(
        search(SearchFilter {
            name: Some("EXAMPLE.com.".to_owned()),
            ..SearchFilter::default()
        }),
        ["example.com"]
    );
    assert_eq!(
        search(SearchFilter {
            name: Some("example.com".to_owned()),
            name_match: NameMatch::Subtree,
            ..SearchFilter::default()
        }),
        [
            "www.example.com",
            "a.b.example.com",
            "www.example.com",
            "example.com"
        ]
    );
    assert_eq!(
        search(SearchFilter {
            name: Some("example.com".to_owned()),
            name_match: NameMatch::Subtree,
            client: Some("192.0.2.99".to_owned()),
            ..SearchFilter::default()
        }),
        ["www.example.com"]
    );
    assert_eq!(
        search(SearchFilter {
            since: Some(noon() + Duration::from_secs(120)),
            until: Some(noon() + Duration::from_secs(240)),
            ..SearchFilter::default()
        }),
        ["badexample.com", "a.b.example.com"]
    );
    assert_eq!(
        search(SearchFilter {
            blocked_only: true,
            ..SearchFilter::default()
        }),
        ["example.comx", "a.b.example.com", "example.com"]
    );
    assert_eq!(
        search(SearchFilter {
            name: Some(".".to_owned()),
            name_match: NameMatch::Subtree,
            ..SearchFilter::default()
        })
        .len(),
        7
    );
    // Paging: newest first, no entry twice, all entries once.
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = log
            .search(&SearchFilter {
                limit: 3,
                before_id: cursor,
                ..SearchFilter::default()
            })
            .expect("page");
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        seen.extend(page.iter().map(|entry| entry.id));
    }
    assert_eq!(seen.len(), 7);
    assert!(seen.windows(2).all(|pair| pair[0] > pair[1]));
    // Bad filters are errors naming the field.
    let too_many = log.search(&SearchFilter {
        limit: 1001,
        ..SearchFilter::default()
    });
    assert!(
        matches!(&too_many, Err(QueryLogError::InvalidFilter(text)) if text.starts_with("limit"))
    );
    let bad_client = log.search(&SearchFilter {
        client: Some("'; DROP TABLE queries; --".to_owned()),
        ..SearchFilter::default()
    });
    assert!(
        matches!(&bad_client, Err(QueryLogError::InvalidFilter(text)) if text.starts_with("client"))
    );
    let backwards = log.search(&SearchFilter {
        since: Some(noon()),
        until: Some(noon() - DAY),
        ..SearchFilter::default()
    });
    assert!(matches!(backwards, Err(QueryLogError::InvalidFilter(_))));
    assert!(log.erase_client("not-an-address").is_err());
}

#[test]
fn reopening_keeps_the_data_and_the_database_is_in_wal_mode() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    let path = log.path().to_owned();
    for index in 0..25 {
        log.record(query(noon(), "192.0.2.1", &format!("n{index}.example")));
    }
    // close writes what is queued.
    log.close();
    let connection = rusqlite_connection(&path);
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    drop(connection);
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("reopen");
    let entries = log.search(&everything()).expect("search");
    assert_eq!(entries.len(), 25);
    assert_eq!(entries[0].qname, "n24.example");
    // Ids keep growing after a reopen.
    log.record(query(noon(), "192.0.2.1", "after.example"));
    log.flush(FLUSH).expect("flush");
    let newest = log.search(&everything()).expect("search");
    assert!(newest[0].id > entries[0].id);
    // Dropping the handle also writes and stops.
    log.record(query(noon(), "192.0.2.1", "dropped-handle.example"));
    drop(log);
    assert_eq!(row_count(&path, "SELECT COUNT(*) FROM queries"), 27);
}

#[test]
fn write_errors_are_counted_and_the_writer_goes_on() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    let other = rusqlite_connection(log.path());
    other
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON queries \
             BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END;",
        )
        .expect("trigger");
    for _ in 0..5 {
        log.record(query(noon(), "192.0.2.1", "lost.example"));
    }
    log.flush(FLUSH).expect("flush");
    let statistics = log.statistics();
    assert_eq!(statistics.failed, 5);
    assert!(statistics.write_errors >= 1);
    assert!(
        statistics
            .last_write_error
            .as_deref()
            .is_some_and(|text| text.contains("simulated full disk")),
        "{statistics:?}"
    );
    other
        .execute_batch("DROP TRIGGER refuse")
        .expect("drop trigger");
    log.record(query(noon(), "192.0.2.1", "kept.example"));
    log.flush(FLUSH).expect("flush");
    let statistics = log.statistics();
    assert_eq!(statistics.written, 1);
    let entries = log.search(&everything()).expect("search");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].qname, "kept.example");
    // The counters of the failed batch were rolled back with it.
    assert_eq!(log.aggregates(noon()).expect("aggregates").queries, 1);
}

#[test]
fn a_corrupt_file_is_an_error_naming_it_and_is_left_alone() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let path = directory.path().join("queries.sqlite");
    let garbage: Vec<u8> = (0..8192u32).map(|index| (index * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).expect("write garbage");
    let error = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock))
        .expect_err("a corrupt file must not open");
    assert!(matches!(error, QueryLogError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("queries.sqlite"), "{error}");
    assert_eq!(std::fs::read(&path).expect("still there"), garbage);
}

#[test]
fn unusable_paths_and_settings_are_clear_errors() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.path = directory.path().join("missing-directory").join("q.sqlite");
    let error = QueryLog::open(settings).expect_err("no directory");
    assert!(matches!(error, QueryLogError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("missing-directory"), "{error}");

    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.path = directory.path().to_owned();
    assert!(
        QueryLog::open(settings).is_err(),
        "a directory is no database"
    );

    let changes: [fn(&mut QueryLogConfig); 5] = [
        |settings: &mut QueryLogConfig| settings.retention_days = 0,
        |settings: &mut QueryLogConfig| settings.queue_capacity = 0,
        |settings: &mut QueryLogConfig| settings.batch_size = 0,
        |settings: &mut QueryLogConfig| settings.flush_interval = Duration::ZERO,
        |settings: &mut QueryLogConfig| settings.excluded_names = vec![String::new()],
    ];
    for change in changes {
        let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
        change(&mut settings);
        assert!(matches!(
            QueryLog::open(settings),
            Err(QueryLogError::InvalidConfig(_))
        ));
    }
}

#[test]
fn four_threads_recording_concurrently_add_up() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Pseudonymous, &clock);
    settings.queue_capacity = 64;
    settings.batch_size = 256;
    settings.excluded_names = vec!["excluded.example".to_owned()];
    let log = Arc::new(QueryLog::open(settings).expect("open"));
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 50_000;
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for index in 0..PER_THREAD {
                    let name = if index % 10 == 0 {
                        "host.excluded.example".to_owned()
                    } else {
                        format!("n{}.example", index % 1000)
                    };
                    log.record(query(noon(), &format!("192.0.2.{}", thread + 1), &name));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("recording thread");
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    let log = Arc::into_inner(log).expect("the only handle");
    let path = log.path().to_owned();
    log.flush(FLUSH).expect("flush");
    let statistics = log.statistics();
    log.close();
    assert_eq!(statistics.recorded, THREADS * PER_THREAD);
    assert_eq!(statistics.excluded, THREADS * PER_THREAD / 10);
    assert_eq!(statistics.failed, 0);
    assert_eq!(statistics.queue_depth, 0);
    assert_eq!(
        statistics.recorded,
        statistics.written + statistics.dropped_full + statistics.excluded,
        "{statistics:?}"
    );
    assert!(statistics.written > 0);
    // Identical queries are gathered into one row with a count.
    assert_eq!(
        row_count(&path, "SELECT SUM(count) FROM queries") as u64,
        statistics.written
    );
}

#[test]
fn per_minute_counts_are_capped_to_the_latest_day() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Anonymous, &clock);
    settings.queue_capacity = 4096;
    let log = QueryLog::open(settings).expect("open");
    let first = noon() - DAY;
    for minute in 0..1500u64 {
        log.record(query(
            first + Duration::from_secs(minute * 60),
            "192.0.2.1",
            "m.example",
        ));
    }
    log.flush(FLUSH).expect("flush");
    let aggregates = log.aggregates(first).expect("aggregates");
    assert_eq!(aggregates.queries, 1500);
    assert_eq!(aggregates.per_minute.len(), 1440);
    assert!(
        aggregates
            .per_minute
            .windows(2)
            .all(|pair| pair[0].start < pair[1].start)
    );
    assert_eq!(
        aggregates.per_minute.last().expect("a minute").start,
        first + Duration::from_secs(1499 * 60)
    );
    assert_eq!(aggregates.per_hour.len(), 25);
}

fn by_name(name: &str, name_match: NameMatch) -> SearchFilter {
    SearchFilter {
        name: Some(name.to_owned()),
        name_match,
        limit: 1000,
        ..SearchFilter::default()
    }
}

#[test]
fn searches_use_the_ranges_of_earlier_rows_and_scan_the_tail() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    let path = log.path().to_owned();
    for index in 0..6 {
        log.record(query(noon(), "192.0.2.1", &format!("n{index}.example.com")));
        log.record(query(noon(), "192.0.2.2", "other.example.org"));
    }
    // A name that only looks like it is below example.com.
    log.record(query(noon(), "192.0.2.2", r"a\.example.com"));
    log.close();
    // Opening again puts the rows written so far into the ranges.
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    assert!(row_count(&path, "SELECT COUNT(*) FROM name_ranges") >= 8);
    assert_eq!(row_count(&path, "SELECT COUNT(*) FROM client_ranges"), 2);
    // Newer rows are in the tail.
    log.record(query(noon(), "192.0.2.1", "n0.example.com"));
    log.record(query(noon(), "192.0.2.3", "tail.example.com"));
    log.flush(FLUSH).expect("flush");
    let exact = log
        .search(&by_name("N0.Example.COM.", NameMatch::Exact))
        .expect("exact");
    assert_eq!(exact.len(), 2);
    assert!(exact[0].id > exact[1].id);
    let subtree = log
        .search(&by_name("example.com", NameMatch::Subtree))
        .expect("subtree");
    assert_eq!(subtree.len(), 8, "{subtree:?}");
    assert!(
        subtree
            .iter()
            .all(|entry| entry.qname.ends_with(".example.com"))
    );
    // Paging goes from the tail into the ranges.
    let first = log
        .search(&SearchFilter {
            limit: 3,
            ..by_name("example.com", NameMatch::Subtree)
        })
        .expect("page 1");
    let second = log
        .search(&SearchFilter {
            limit: 10,
            before_id: Some(first[2].id),
            ..by_name("example.com", NameMatch::Subtree)
        })
        .expect("page 2");
    assert_eq!(first.len() + second.len(), 8);
    let client = SearchFilter {
        client: Some("192.0.2.1".to_owned()),
        limit: 1000,
        ..SearchFilter::default()
    };
    assert_eq!(log.search(&client).expect("client").len(), 7);
    // The six identical queries for other.example.org are one entry.
    let exported = log.export_client("192.0.2.2").expect("export");
    assert_eq!(exported.len(), 2);
    assert_eq!(exported.iter().map(|entry| entry.count).sum::<u64>(), 7);
    let both = SearchFilter {
        name: Some("n0.example.com".to_owned()),
        ..client.clone()
    };
    assert_eq!(log.search(&both).expect("client and name").len(), 2);
    // Erasure reaches the ranges and the tail, and leaves no range behind.
    assert_eq!(log.erase_client("192.0.2.1").expect("erase"), 7);
    assert!(log.search(&client).expect("client").is_empty());
    assert_eq!(
        row_count(
            &path,
            "SELECT COUNT(*) FROM client_ranges WHERE client = '192.0.2.1'"
        ),
        0
    );
    log.close();
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    assert_eq!(
        row_count(
            &path,
            "SELECT COUNT(*) FROM client_ranges WHERE client = '192.0.2.1'"
        ),
        0
    );
    let left = log.search(&everything()).expect("all");
    assert_eq!(left.len(), 3);
    assert_eq!(left.iter().map(|entry| entry.count).sum::<u64>(), 8);
}

#[test]
fn a_version_1_database_is_migrated() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let path = directory.path().join("queries.sqlite");
    let old = rusqlite_connection(&path);
    old.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
         INSERT INTO meta VALUES ('schema_version', 1), ('privacy_level', 0);
         CREATE TABLE queries (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,
             client TEXT, transport TEXT NOT NULL, qname TEXT NOT NULL,
             reversed_name TEXT NOT NULL, qtype INTEGER NOT NULL, rcode INTEGER NOT NULL,
             dropped INTEGER NOT NULL, from_cache INTEGER NOT NULL,
             elapsed_micros INTEGER NOT NULL, profile TEXT, blocked INTEGER NOT NULL,
             feed TEXT, action TEXT, rule TEXT);
         CREATE INDEX queries_time ON queries (time);
         CREATE INDEX queries_client ON queries (client);
         CREATE INDEX queries_reversed_name ON queries (reversed_name);",
    )
    .expect("version 1 schema");
    let micros = noon().duration_since(UNIX_EPOCH).expect("time").as_micros() as i64;
    old.execute(
        "INSERT INTO queries (time, client, transport, qname, reversed_name, qtype, rcode, \
         dropped, from_cache, elapsed_micros, blocked) \
         VALUES (?1, '192.0.2.9', 'udp', 'www.example.net', 'net.example.www', 1, 0, 0, 0, 7, 0)",
        [micros],
    )
    .expect("old row");
    drop(old);
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    assert_eq!(
        row_count(&path, "SELECT value FROM meta WHERE key = 'schema_version'"),
        3
    );
    let found = log
        .search(&by_name("example.net", NameMatch::Subtree))
        .expect("subtree");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].elapsed_micros, 7);
    assert_eq!(found[0].count, 1);
    log.record(query(noon(), "192.0.2.9", "www.example.net"));
    log.flush(FLUSH).expect("flush");
    let mine = log.export_client("192.0.2.9").expect("export");
    assert_eq!(mine.len(), 2);
    assert!(mine[0].id > mine[1].id);
}

#[test]
fn many_distinct_names_close_a_bucket_early_and_stay_searchable() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let mut settings = config(directory.path(), PrivacyLevel::Full, &clock);
    settings.queue_capacity = 1 << 20;
    let log = QueryLog::open(settings).expect("open");
    let path = log.path().to_owned();
    // More distinct names than the open bucket keeps (65,536): the bucket
    // is closed early, its ranges written, and later rows go to the next.
    let names = 70_000;
    for index in 0..names {
        log.record(query(noon(), "192.0.2.1", &format!("n{index}.example")));
    }
    log.flush(FLUSH).expect("flush");
    assert_eq!(log.statistics().written, names as u64);
    assert!(row_count(&path, "SELECT COUNT(DISTINCT bucket) FROM name_ranges") >= 1);
    assert!(row_count(&path, "SELECT MAX(id) FROM queries") > 1 << 20);
    for name in ["n5.example", "n69999.example"] {
        let found = log
            .search(&by_name(name, NameMatch::Exact))
            .expect("search");
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(found[0].qname, name);
    }
    let subtree = log
        .search(&SearchFilter {
            limit: 1000,
            ..by_name("example", NameMatch::Subtree)
        })
        .expect("subtree");
    assert_eq!(subtree.len(), 1000);
    assert_eq!(subtree[0].qname, "n69999.example");
}

#[test]
fn a_version_2_database_gets_counts_of_one() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let path = directory.path().join("queries.sqlite");
    let old = rusqlite_connection(&path);
    old.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
         INSERT INTO meta VALUES ('schema_version', 2), ('privacy_level', 0);
         CREATE TABLE queries (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,
             client TEXT, transport TEXT NOT NULL, qname TEXT NOT NULL,
             qtype INTEGER NOT NULL, rcode INTEGER NOT NULL,
             dropped INTEGER NOT NULL, from_cache INTEGER NOT NULL,
             elapsed_micros INTEGER NOT NULL, profile TEXT, blocked INTEGER NOT NULL,
             feed TEXT, action TEXT, rule TEXT);
         CREATE INDEX queries_time ON queries (time);",
    )
    .expect("version 2 schema");
    let micros = noon().duration_since(UNIX_EPOCH).expect("time").as_micros() as i64;
    for name in ["www.example.net", "www.example.net", "mail.example.net"] {
        old.execute(
            "INSERT INTO queries (time, client, transport, qname, qtype, rcode, \
             dropped, from_cache, elapsed_micros, blocked) \
             VALUES (?1, '192.0.2.9', 'udp', ?2, 1, 0, 0, 0, 7, 0)",
            rusqlite::params![micros, name],
        )
        .expect("old row");
    }
    drop(old);
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    assert_eq!(
        row_count(&path, "SELECT value FROM meta WHERE key = 'schema_version'"),
        3
    );
    let found = log
        .search(&by_name("www.example.net", NameMatch::Exact))
        .expect("search");
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|entry| entry.count == 1));
    log.record(query(noon(), "192.0.2.9", "www.example.net"));
    log.record(query(noon(), "192.0.2.9", "www.example.net"));
    log.flush(FLUSH).expect("flush");
    let mine = log.export_client("192.0.2.9").expect("export");
    assert_eq!(mine.len(), 4);
    assert_eq!(mine[0].count, 2);
    assert_eq!(log.erase_client("192.0.2.9").expect("erase"), 5);
}

#[test]
fn identical_queries_of_an_interval_are_one_entry_with_a_count() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(ManualClock::new(noon()));
    let log = QueryLog::open(config(directory.path(), PrivacyLevel::Full, &clock)).expect("open");
    let path = log.path().to_owned();
    for second in 0..5u32 {
        let mut repeated = query(
            noon() + Duration::from_secs(u64::from(second)),
            "192.0.2.1",
            if second % 2 == 0 {
                "www.example.com"
            } else {
                "WWW.Example.COM."
            },
        );
        repeated.elapsed_micros = 1000 + second;
        log.record(repeated);
    }
    log.record(query(noon(), "192.0.2.2", "www.example.com"));
    log.record(query(noon(), "192.0.2.2", "www.example.com"));
    for _ in 0..3 {
        log.record(blocked(query(noon(), "192.0.2.1", "ads.example")));
    }
    log.flush(FLUSH).expect("flush");
    assert_eq!(log.statistics().written, 10);
    assert_eq!(row_count(&path, "SELECT COUNT(*) FROM queries"), 3);
    assert_eq!(row_count(&path, "SELECT SUM(count) FROM queries"), 10);
    let entries = log.search(&everything()).expect("search");
    let counts: Vec<(&str, u64)> = entries
        .iter()
        .map(|entry| (entry.qname.as_str(), entry.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("ads.example", 3),
            ("www.example.com", 2),
            ("www.example.com", 5)
        ]
    );
    // The first query's time, the longest elapsed time.
    assert_eq!(entries[2].time, noon());
    assert_eq!(entries[2].elapsed_micros, 1004);
    assert!(entries[0].blocked);
    assert_eq!(entries[0].feed.as_deref(), Some("ads"));
    let aggregates = log.aggregates(noon()).expect("aggregates");
    assert_eq!(aggregates.queries, 10);
    assert_eq!(aggregates.blocked, 3);
    assert_eq!(aggregates.per_minute.len(), 1);
    assert_eq!(aggregates.per_minute[0].queries, 10);
    assert_eq!(aggregates.per_minute[0].blocked, 3);
    assert_eq!(aggregates.top_clients[0].key, "192.0.2.1");
    assert_eq!(aggregates.top_clients[0].queries, 8);
    assert_eq!(aggregates.top_names[0].key, "www.example.com");
    assert_eq!(aggregates.top_names[0].queries, 7);
    let exported = log.export_client("192.0.2.1").expect("export");
    assert_eq!(
        exported.iter().map(|entry| entry.count).sum::<u64>(),
        8,
        "{exported:?}"
    );
    // Erasure counts queries.
    assert_eq!(log.erase_client("192.0.2.1").expect("erase"), 8);
    let left = log.search(&everything()).expect("search");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].count, 2);
    // A later interval starts a new entry.
    log.record(query(noon(), "192.0.2.2", "www.example.com"));
    log.flush(FLUSH).expect("flush");
    let left = log.search(&everything()).expect("search");
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].count, 1);
}
