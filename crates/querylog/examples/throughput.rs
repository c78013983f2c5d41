//! Pushes queries through a `QueryLog` at privacy level 1 and reports the
//! process's CPU time per query (query path and writer thread together), the
//! local measure of the query log's cost (BENCHMARKS.md, "Query log cost").
//!
//! Usage: `cargo run --release -p hanse-querylog --example throughput [QUERIES] [NAMES]`
//! (default 2,000,000 queries over 10,000 distinct names from one client,
//! like the resolver bench's cache-hit run). Reads the CPU time from
//! `/proc/self/stat`, so it runs on Linux only.

use std::time::{Duration, Instant, SystemTime};

use hanse_querylog::{PrivacyLevel, QueryLog, QueryLogConfig, QueryRecord};

/// CPU time (user + system) of this process, all threads.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name (which is in parentheses).
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports in clock ticks of 1/100 s on every common configuration.
    Duration::from_millis(ticks * 10)
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let queries: usize = arguments
        .next()
        .map_or(2_000_000, |text| text.parse().expect("QUERIES"));
    let distinct: usize = arguments
        .next()
        .map_or(10_000, |text| text.parse().expect("NAMES"));
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut config = QueryLogConfig::new(directory.path().join("querylog.sqlite"));
    config.privacy_level = PrivacyLevel::Pseudonymous;
    if let Ok(size) = std::env::var("BATCH_SIZE") {
        config.batch_size = size.parse().expect("BATCH_SIZE");
    }
    let log = QueryLog::open(config).expect("open the query log");
    let names: Vec<Vec<u8>> = (0..distinct)
        .map(|index| {
            let label = format!("name{index}");
            let mut wire = vec![label.len() as u8];
            wire.extend_from_slice(label.as_bytes());
            wire.extend_from_slice(b"\x04zone\x042345\x05bench\x00");
            wire
        })
        .collect();
    let client = "127.0.0.1".parse().expect("address");
    let cpu_start = process_cpu();
    let wall_start = Instant::now();
    for index in 0..queries {
        log.record_query(&QueryRecord {
            time: SystemTime::now(),
            client,
            transport: "udp",
            qname_wire: &names[index % distinct],
            qtype: 1,
            rcode: 0,
            dropped: false,
            from_cache: true,
            elapsed_micros: 5,
            profile: None,
            blocked: false,
            feed: None,
            action: None,
            rule: None,
        });
        // About 100,000 queries per second, like the bench, so that the
        // writer's batches have their real size.
        if index % 1_000 == 999 {
            let due = wall_start + Duration::from_micros(index as u64 * 10);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    log.flush(Duration::from_secs(60)).expect("flush");
    let cpu = process_cpu() - cpu_start;
    let statistics = log.statistics();
    log.close();
    println!(
        "{queries} queries, {distinct} names: {:.3} CPU µs per query ({:?} CPU, {:?} wall); written {}, dropped {}, transactions {}",
        cpu.as_secs_f64() * 1e6 / queries as f64,
        cpu,
        wall_start.elapsed(),
        statistics.written,
        statistics.dropped_full,
        statistics.transactions,
    );
}
