//! Load-time and memory measurement: generates a policy zone with 1,000,000
//! QNAME triggers (half exact, half `*.` wildcards, as block lists convert),
//! compiles it, applies an IXFR-sized change set of 1,000 records and times
//! lookups. Prints seconds and resident bytes per entry (Linux
//! `/proc/self/statm`).
//!
//! `cargo run --release -p hanse-policy --example load_rpz [entries]`

use hanse_policy::{Feed, PreparedName};
use hanse_wire::Name;
use std::time::Instant;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A deterministic pseudo-random domain for entry `index`.
fn domain(index: usize) -> String {
    const TLDS: [&str; 6] = ["com", "net", "org", "xyz", "info", "de"];
    let mut state = (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    let mut label = String::new();
    let length = 6 + (state % 10) as usize;
    for _ in 0..length {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        label.push((b'a' + ((state >> 33) % 26) as u8) as char);
    }
    format!("{label}{index:x}.{}", TLDS[index % TLDS.len()])
}

fn main() {
    let entries: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let mut text = String::with_capacity(entries * 40);
    text.push_str("$TTL 300\n@ SOA ns.rpz.test. hostmaster.rpz.test. 1 3600 600 86400 60\n@ NS ns.rpz.test.\n");
    for index in 0..entries / 2 {
        let name = domain(index);
        text.push_str(&format!("{name} CNAME .\n*.{name} CNAME .\n"));
    }
    let origin = Name::from_ascii("rpz.test.").expect("origin");

    let started = Instant::now();
    let records = hanse_zone::parse_zone(&text, &origin, 300).expect("generated zone parses");
    let parse_seconds = started.elapsed().as_secs_f64();
    drop(text);

    let before = resident_bytes();
    let started = Instant::now();
    let (feed, problems) = Feed::from_rpz("generated", &origin, &records);
    let load_seconds = started.elapsed().as_secs_f64();
    let after = resident_bytes();
    assert!(problems.is_empty(), "{} problems", problems.len());
    let count = feed.counts().qname;

    println!("entries:            {count}");
    println!("parse_zone:         {parse_seconds:.3} s (text to records, not part of the target)");
    println!("Feed::from_rpz:     {load_seconds:.3} s");
    println!(
        "resident added:     {} bytes, {:.1} bytes per entry",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / count as f64
    );
    println!(
        "name tables (heap): {:.1} bytes per entry",
        feed.name_table_bytes() as f64 / count as f64
    );

    // An IXFR: 500 removed, 500 added.
    let removed: Vec<_> = records[3..503].to_vec();
    let mut added_text = String::new();
    for index in 0..500 {
        added_text.push_str(&format!("new{index}.example CNAME .\n"));
    }
    let added = hanse_zone::parse_zone(&added_text, &origin, 300).expect("changes parse");
    let started = Instant::now();
    let (next, problems) = feed.apply_changes(&removed, &added).expect("changes apply");
    let ixfr_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(problems.is_empty());
    println!(
        "apply_changes 1000: {ixfr_ms:.2} ms (version {})",
        next.version()
    );

    // Lookups: half hits below listed names, half misses.
    let queries: Vec<Name> = (0..200_000)
        .map(|index| {
            let text = if index % 2 == 0 {
                format!("www.{}", domain(index % (entries / 2)))
            } else {
                format!("www.miss{index}.example")
            };
            Name::from_ascii(&text).expect("query name")
        })
        .collect();
    let started = Instant::now();
    let mut hits = 0usize;
    for query in &queries {
        if let Some(name) = PreparedName::new(query.as_wire())
            && next.match_qname(&name).is_some()
        {
            hits += 1;
        }
    }
    let per_lookup = started.elapsed().as_secs_f64() * 1e9 / queries.len() as f64;
    println!(
        "lookup:             {per_lookup:.0} ns per query ({hits} hits of {})",
        queries.len()
    );
}
