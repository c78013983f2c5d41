//! The writer's table of the distinct queries of one flush interval:
//! identical queries become one entry with a count, written as one row.
//!
//! Two queries are identical when they agree on everything a row stores
//! except the time and the elapsed time: the minute (UTC, so the per-minute
//! and per-hour counts and the day of a pseudonym stay exact), the client (its
//! address: at level 1 the pseudonym, made per UTC day, follows from it and
//! the minute), the transport, the question name (RFC 1035 §3.1 wire form,
//! compared without regard to ASCII case, RFC 4343), the query type, the
//! response code, the dropped, from-cache and blocked flags, and the policy
//! details (profile, feed, action, rule). An entry keeps the time of its
//! first query, the longest elapsed time of its queries and their number.
//!
//! Lookups go through a hash table of entry indexes whose hash (foldhash
//! with a random seed per table, so that clients cannot choose colliding
//! names ahead of time) is computed from the borrowed query: adding a query
//! that is already there allocates nothing; a new one copies its record.
//!
//! Limitations: the table holds at most `capacity` entries (the writer
//! writes them when it is full, so a query stream with more distinct queries
//! per interval is written in several parts and identical queries of two
//! parts give two rows); an entry's time is its first query's, so a search
//! by time range finds a gathered row by that time only.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::time::UNIX_EPOCH;

use hashbrown::HashTable;

use crate::batcher::Record;

/// One distinct query and how many times it came.
pub(crate) struct Gathered {
    /// The first query (its time); `elapsed_micros` is the longest of all.
    pub(crate) record: Record,
    pub(crate) count: u32,
}

/// The distinct queries gathered since the last write.
pub(crate) struct Gatherer {
    /// Indexes into `entries`, by the hash of the entry's identity.
    table: HashTable<u32>,
    entries: Vec<Gathered>,
    hasher: foldhash::fast::RandomState,
    capacity: usize,
    /// Queries gathered (the sum of the counts).
    queries: usize,
}

const SECONDS_PER_MINUTE: u64 = 60;

/// The minute of a query, counted from 1970 (earlier times are minute 0).
fn minute_of(record: &Record) -> u64 {
    record
        .time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / SECONDS_PER_MINUTE)
}

/// Whether two queries go into one entry (everything but the times).
fn same_query(left: &Record, right: &Record) -> bool {
    left.qtype == right.qtype
        && left.rcode == right.rcode
        && left.client == right.client
        && left.dropped == right.dropped
        && left.from_cache == right.from_cache
        && left.blocked == right.blocked
        && left.transport == right.transport
        && left.qname_wire().eq_ignore_ascii_case(right.qname_wire())
        && left.details() == right.details()
        && minute_of(left) == minute_of(right)
}

impl Gatherer {
    /// A table for at most `capacity` distinct queries.
    pub(crate) fn new(capacity: usize) -> Gatherer {
        Gatherer {
            table: HashTable::new(),
            entries: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
            capacity: capacity.max(1),
            queries: 0,
        }
    }

    fn hash(&self, record: &Record) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        Self::write_identity(record, &mut hasher);
        hasher.finish()
    }

    /// Feeds what `same_query` compares (a part of it) to `hasher`.
    fn write_identity(record: &Record, hasher: &mut impl Hasher) {
        hasher.write_u64(minute_of(record));
        match record.client {
            IpAddr::V4(address) => hasher.write_u32(u32::from(address)),
            IpAddr::V6(address) => hasher.write_u128(u128::from(address)),
        }
        hasher.write_u16(record.qtype);
        hasher.write_u16(record.rcode);
        let mut lowered = [0u8; 255];
        let wire = record.qname_wire();
        for (target, byte) in lowered.iter_mut().zip(wire) {
            *target = byte.to_ascii_lowercase();
        }
        hasher.write(&lowered[..wire.len()]);
        if let Some(text) = record.qname_text() {
            hasher.write(text.as_bytes());
        }
    }

    /// Counts one query: into its entry, or as a new entry.
    pub(crate) fn add(&mut self, record: &Record) {
        self.queries += 1;
        let hash = self.hash(record);
        let entries = &mut self.entries;
        if let Some(&index) = self.table.find(hash, |&index| {
            same_query(&entries[index as usize].record, record)
        }) {
            let entry = &mut entries[index as usize];
            entry.count = entry.count.saturating_add(1);
            entry.record.elapsed_micros = entry.record.elapsed_micros.max(record.elapsed_micros);
            if record.time < entry.record.time {
                entry.record.time = record.time;
            }
            return;
        }
        let index = entries.len() as u32;
        entries.push(Gathered {
            record: record.clone(),
            count: 1,
        });
        let hasher = &self.hasher;
        self.table.insert_unique(hash, index, |&index| {
            // Rehashing on growth: the same function as `hash`.
            let mut state = hasher.build_hasher();
            Self::write_identity(&entries[index as usize].record, &mut state);
            state.finish()
        });
    }

    /// The distinct queries gathered, in the order they first came.
    pub(crate) fn entries(&self) -> &[Gathered] {
        &self.entries
    }

    /// Whether the table has reached its capacity (the writer then writes).
    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queries gathered, identical ones included.
    pub(crate) fn queries(&self) -> usize {
        self.queries
    }

    /// Empties the table, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.entries.clear();
        self.queries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batcher::Details;
    use std::time::{Duration, SystemTime};

    fn query(seconds: u64, client: &str, name: &[u8], qtype: u16, elapsed: u32) -> Record {
        Record::new(
            UNIX_EPOCH + Duration::from_secs(seconds),
            client.parse().expect("address"),
            "udp",
            name,
            qtype,
            0,
            elapsed,
            false,
            true,
            false,
            None,
        )
    }

    #[test]
    fn identical_queries_become_one_entry_with_a_count() {
        let mut gatherer = Gatherer::new(100);
        let start = 7_200_000;
        gatherer.add(&query(
            start + 5,
            "192.0.2.1",
            b"\x03www\x07example\x00",
            1,
            10,
        ));
        // The same name in other case, later and slower: the same entry.
        gatherer.add(&query(
            start + 6,
            "192.0.2.1",
            b"\x03WwW\x07Example\x00",
            1,
            30,
        ));
        // An earlier query of the same minute moves the entry's time.
        gatherer.add(&query(
            start + 1,
            "192.0.2.1",
            b"\x03www\x07example\x00",
            1,
            20,
        ));
        // Each of these differs in one part.
        gatherer.add(&query(
            start + 5,
            "192.0.2.2",
            b"\x03www\x07example\x00",
            1,
            10,
        ));
        gatherer.add(&query(
            start + 5,
            "192.0.2.1",
            b"\x03www\x07example\x00",
            28,
            10,
        ));
        gatherer.add(&query(
            start + 5,
            "192.0.2.1",
            b"\x04www2\x07example\x00",
            1,
            10,
        ));
        gatherer.add(&query(
            start + 60,
            "192.0.2.1",
            b"\x03www\x07example\x00",
            1,
            10,
        ));
        let mut blocked = query(start + 5, "192.0.2.1", b"\x03www\x07example\x00", 1, 10);
        blocked.blocked = true;
        blocked.details = Some(Box::new(Details {
            feed: Some("ads".to_owned()),
            ..Details::default()
        }));
        gatherer.add(&blocked);
        gatherer.add(&blocked.clone());
        assert_eq!(gatherer.queries(), 9);
        let entries = gatherer.entries();
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[0].count, 3);
        assert_eq!(entries[0].record.elapsed_micros, 30);
        assert_eq!(
            entries[0].record.time,
            SystemTime::UNIX_EPOCH + Duration::from_secs(start + 1)
        );
        assert_eq!(entries[0].record.qname_wire(), b"\x03www\x07example\x00");
        assert!(entries[1..5].iter().all(|entry| entry.count == 1));
        assert_eq!(entries[5].count, 2);
        assert!(entries[5].record.blocked);
        gatherer.clear();
        assert!(gatherer.is_empty());
        assert_eq!(gatherer.queries(), 0);
    }

    #[test]
    fn the_table_is_full_at_its_capacity() {
        let mut gatherer = Gatherer::new(3);
        for index in 0..3u8 {
            assert!(!gatherer.is_full());
            gatherer.add(&query(0, "2001:db8::1", &[1, b'a' + index, 0], 1, 1));
            // Repeats never fill it.
            gatherer.add(&query(0, "2001:db8::1", &[1, b'a' + index, 0], 1, 1));
        }
        assert!(gatherer.is_full());
        assert_eq!(gatherer.entries().len(), 3);
        assert_eq!(gatherer.queries(), 6);
    }
}
