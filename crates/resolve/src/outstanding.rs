//! Caps on the upstream queries outstanding at once, per zone (the
//! delegation being queried) and per server address, so that a flood of
//! questions for one zone (a random-subdomain attack, a dead or slow
//! victim's servers) cannot tie up the resolver: above a cap, a new
//! upstream query is not sent and the resolution fails at once (SERVFAIL
//! with an Extended DNS Error, RFC 8914, code 0 "Other").
//!
//! Counts live in two fixed-size tables of atomic counters indexed by a
//! seeded hash of the zone name (lower case) or of the server address; a
//! query holds a [`Permit`] while it waits, which gives its slots back when
//! dropped (also when the resolution is cancelled). Nothing is allocated.
//!
//! # Limitations
//! - Zones or servers whose hashes share a slot share its count, so the cap
//!   is then stricter than configured for both (a table has [`SLOTS`]
//!   slots; with a few hundred zones busy at once, collisions are rare).
//! - The zone is the delegation the resolver queries: queries for names
//!   below a zone cut not yet known count against the parent zone.

use foldhash::fast::RandomState;
use hanse_wire::Name;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

/// Counters per table.
pub const SLOTS: usize = 4096;

/// The counts of outstanding upstream queries, per zone and per server.
pub(crate) struct Outstanding {
    seed: RandomState,
    zones: Box<[AtomicU32]>,
    servers: Box<[AtomicU32]>,
}

/// Which cap stopped a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The zone has its most outstanding queries.
    Zone,
    /// The server has its most outstanding queries.
    Server,
}

/// The slots a query holds while it waits; given back when dropped.
pub(crate) struct Permit<'o> {
    table: &'o Outstanding,
    zone: Option<usize>,
    server: Option<usize>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.zone {
            self.table.zones[slot].fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(slot) = self.server {
            self.table.servers[slot].fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Outstanding {
    pub(crate) fn new() -> Outstanding {
        Outstanding {
            seed: RandomState::default(),
            zones: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            servers: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Takes a slot for one query to `server` in `zone`, if neither has
    /// its cap (`0`: no cap) of outstanding queries.
    pub(crate) fn acquire(
        &self,
        zone: &Name,
        server: SocketAddr,
        zone_cap: u32,
        server_cap: u32,
    ) -> Result<Permit<'_>, Busy> {
        let mut permit = Permit {
            table: self,
            zone: None,
            server: None,
        };
        if zone_cap != 0 {
            let slot = self.zone_slot(zone);
            if !take(&self.zones[slot], zone_cap) {
                return Err(Busy::Zone);
            }
            permit.zone = Some(slot);
        }
        if server_cap != 0 {
            let mut hasher = self.seed.build_hasher();
            hasher.write_u128(match server.ip() {
                std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)),
                std::net::IpAddr::V6(v6) => u128::from(v6),
            });
            hasher.write_u16(server.port());
            let slot = slot_of(hasher.finish());
            if !take(&self.servers[slot], server_cap) {
                // Dropping the permit gives the zone's slot back.
                return Err(Busy::Server);
            }
            permit.server = Some(slot);
        }
        Ok(permit)
    }

    /// The queries outstanding now for `zone` (and any zone sharing its slot).
    #[cfg(test)]
    fn zone_count(&self, zone: &Name) -> u32 {
        self.zones[self.zone_slot(zone)].load(Ordering::Acquire)
    }

    /// The slot of `zone` (in any case) in the zone table: the seeded hash
    /// of its lower-cased wire form, fed to the hasher 64 octets at a time.
    fn zone_slot(&self, zone: &Name) -> usize {
        let mut hasher = self.seed.build_hasher();
        let mut buffer = [0u8; 64];
        for chunk in zone.as_wire().chunks(buffer.len()) {
            let folded = &mut buffer[..chunk.len()];
            folded.copy_from_slice(chunk);
            folded.make_ascii_lowercase();
            hasher.write(folded);
        }
        slot_of(hasher.finish())
    }
}

fn slot_of(hash: u64) -> usize {
    usize::try_from(hash % SLOTS as u64).unwrap_or(0)
}

/// Adds one to `counter` unless it is at `cap`.
fn take(counter: &AtomicU32, cap: u32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (count < cap).then_some(count + 1)
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn server(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_zone_gets_its_cap_and_slots_come_back_on_drop() {
        let table = Outstanding::new();
        let victim = name("victim.example.");
        let a = server("192.0.2.1:53");
        let mut permits = Vec::new();
        for _ in 0..3 {
            permits.push(table.acquire(&victim, a, 3, 0).expect("under the cap"));
        }
        assert_eq!(table.acquire(&victim, a, 3, 0).err(), Some(Busy::Zone));
        // The same zone in another case is the same zone.
        let upper = name("VICTIM.example.");
        assert_eq!(table.acquire(&upper, a, 3, 0).err(), Some(Busy::Zone));
        // Another zone is not held up.
        assert!(table.acquire(&name("other.example."), a, 3, 0).is_ok());
        permits.pop();
        assert_eq!(table.zone_count(&victim), 2);
        assert!(table.acquire(&victim, a, 3, 0).is_ok());
        drop(permits);
        assert_eq!(table.zone_count(&victim), 0);
    }

    #[test]
    fn a_server_cap_applies_across_zones_and_gives_back_the_zone_slot() {
        let table = Outstanding::new();
        let a = server("192.0.2.1:53");
        let first = table.acquire(&name("one.example."), a, 10, 2).unwrap();
        let second = table.acquire(&name("two.example."), a, 10, 2).unwrap();
        let three = name("three.example.");
        assert_eq!(table.acquire(&three, a, 10, 2).err(), Some(Busy::Server));
        assert_eq!(table.zone_count(&three), 0, "the zone's slot came back");
        assert!(table.acquire(&three, server("192.0.2.2:53"), 10, 2).is_ok());
        drop((first, second));
        assert!(table.acquire(&three, a, 10, 2).is_ok());
    }

    #[test]
    fn zero_means_no_cap() {
        let table = Outstanding::new();
        let zone = name("example.");
        let permits: Vec<_> = (0..10_000)
            .map(|_| table.acquire(&zone, server("192.0.2.1:53"), 0, 0).unwrap())
            .collect();
        assert_eq!(permits.len(), 10_000);
        assert_eq!(table.zone_count(&zone), 0);
    }
}
