//! Overload shedding: a bound on the resolutions (cache misses) in progress
//! at once in the whole server and per client network, so that more work
//! than the machine can do never queues without bound and one client
//! network cannot take every slot. Cache hits never need a slot: they keep
//! being answered under any load.
//!
//! A query that finds no slot is shed at once, on arrival (the newest work
//! goes first; work under way is never abandoned), with SERVFAIL or no
//! answer per [`OverloadAction`]. The per-network count uses the client
//! networks of the rate limits (`ipv4_prefix`, `ipv6_prefix`); exempt
//! networks have no per-network cap but count toward the total.
//!
//! Counts are atomics: one for the total and a fixed table of [`SLOTS`]
//! counters indexed by a seeded hash of the client network. A
//! [`ResolutionSlot`] travels with the pending query and gives its counts
//! back when dropped, however the resolution ends.
//!
//! # Limitations
//! - Networks whose hashes share a counter share its cap (stricter than
//!   configured for both; rare with fewer than a few hundred networks busy).
//! - Shedding is by arrival: a query that waited long is not cancelled to
//!   make room for a newer one.

use crate::rate_limit::RateLimitSettings;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Counters of the per-network table.
pub const SLOTS: usize = 4096;

/// What a cache miss gets when no resolution slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverloadAction {
    /// SERVFAIL at once, so the client does not wait (the default).
    #[default]
    Servfail,
    /// No answer.
    Drop,
}

/// Why a query found no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The server has its most resolutions in progress.
    Total,
    /// The client's network has its most resolutions in progress.
    Network,
}

/// The counts of resolutions in progress.
pub(crate) struct ResolutionCounts {
    seed: RandomState,
    total: AtomicU32,
    networks: Box<[AtomicU32]>,
}

/// One resolution's place in the counts; given back when dropped.
pub(crate) struct ResolutionSlot {
    counts: Arc<ResolutionCounts>,
    network: Option<usize>,
}

impl std::fmt::Debug for ResolutionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolutionSlot")
            .field("network", &self.network)
            .finish()
    }
}

impl Drop for ResolutionSlot {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(index) = self.network {
            self.counts.networks[index].fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl ResolutionCounts {
    pub(crate) fn new() -> ResolutionCounts {
        ResolutionCounts {
            seed: RandomState::new(),
            total: AtomicU32::new(0),
            networks: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Takes a slot for a resolution for `client`, within `total_cap` for
    /// the server and `network_cap` for the client's network (`0`: no cap).
    pub(crate) fn acquire(
        counts: &Arc<ResolutionCounts>,
        settings: &RateLimitSettings,
        client: IpAddr,
        total_cap: u32,
        network_cap: u32,
    ) -> Result<ResolutionSlot, Full> {
        if !take(&counts.total, total_cap) {
            return Err(Full::Total);
        }
        let mut slot = ResolutionSlot {
            counts: Arc::clone(counts),
            network: None,
        };
        if network_cap != 0 && !settings.exempt.allows(client) {
            let mut hasher = counts.seed.build_hasher();
            crate::rate_limit::hash_network(&mut hasher, settings, client);
            let index = usize::try_from(hasher.finish() % SLOTS as u64).unwrap_or(0);
            if !take(&counts.networks[index], network_cap) {
                // Dropping the slot gives the total back.
                return Err(Full::Network);
            }
            slot.network = Some(index);
        }
        Ok(slot)
    }

    /// Resolutions in progress now.
    #[cfg(test)]
    fn total(&self) -> u32 {
        self.total.load(Ordering::Acquire)
    }
}

/// Adds one to `counter` unless it is at `cap` (`0`: no cap).
fn take(counter: &AtomicU32, cap: u32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (cap == 0 || count < cap).then_some(count.saturating_add(1))
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessList;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_get_their_share_and_the_total_holds() {
        let counts = Arc::new(ResolutionCounts::new());
        let settings = RateLimitSettings::default();
        let take =
            |client: &str| ResolutionCounts::acquire(&counts, &settings, address(client), 5, 3);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(take("192.0.2.1").expect("within the network's cap"));
        }
        // The same /24 is full; the total is not.
        assert_eq!(take("192.0.2.99").err(), Some(Full::Network));
        assert_eq!(counts.total(), 3, "a refused slot gives the total back");
        held.push(take("198.51.100.1").unwrap());
        held.push(take("198.51.100.2").unwrap());
        // Now the server is full for everyone.
        assert_eq!(take("203.0.113.1").err(), Some(Full::Total));
        held.remove(0);
        assert_eq!(counts.total(), 4);
        assert!(take("192.0.2.7").is_ok());
        drop(held);
        assert_eq!(counts.total(), 0);
    }

    #[test]
    fn exempt_networks_have_no_network_cap_and_zero_means_none() {
        let counts = Arc::new(ResolutionCounts::new());
        let settings = RateLimitSettings {
            exempt: AccessList::new(vec![(address("192.0.2.0"), 24)]),
            ..RateLimitSettings::default()
        };
        let held: Vec<_> = (0..50)
            .map(|_| ResolutionCounts::acquire(&counts, &settings, address("192.0.2.1"), 0, 1))
            .collect::<Result<_, _>>()
            .expect("no total cap, exempt from the network cap");
        assert_eq!(held.len(), 50);
        assert!(ResolutionCounts::acquire(&counts, &settings, address("10.0.0.1"), 0, 1).is_ok());
    }
}
