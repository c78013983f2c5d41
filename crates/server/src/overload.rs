//! Overload shedding: a bound on the resolutions (cache misses) in progress
//! at once in the whole server and per client network, so that more work
//! than the machine can do never queues without bound and one client
//! network cannot take every slot. Cache hits never need a slot: they keep
//! being answered under any load. (No RFC prescribes this; the answer to a
//! given-up query carries an Extended DNS Error, RFC 8914.)
//!
//! # The order of shedding
//! When a new cache miss finds no free slot, a resolution in progress is
//! given up to make room for it, oldest first and fairly across networks:
//! - if the new query's own network holds its most resolutions
//!   (`max_resolutions_per_client`), its network's oldest pending
//!   resolution is given up;
//! - otherwise, if the server holds its most (`max_resolutions`), the
//!   oldest pending resolution of the network that holds the most slots is
//!   given up (among networks with as many, the one whose oldest is oldest).
//!
//! The heaviest network pays first, and within it the oldest query, whose
//! client has most likely timed out and asked again already. The query given
//! up is answered at once, SERVFAIL or nothing per [`OverloadAction`], and
//! its resolution future is dropped; its slot goes to the new query.
//! Resolutions of exempt networks (`exempt` of the rate limits) count toward
//! the total but are never given up; when they alone fill the server, the
//! new query is shed itself.
//!
//! The SERVFAIL of a query given up carries Extended DNS Error 0 (Other)
//! with the EXTRA-TEXT of [`GIVEN_UP`], like the resolver's own upstream
//! caps: RFC 8914 has no code for load. 14 (Not Ready) says the server is
//! not yet fully functional (starting up), which would send a client's
//! operator looking for the wrong cause.
//!
//! # Bookkeeping
//! A [`ResolutionTable`] behind one lock, touched only on the miss path:
//! a slab of entries (one per resolution in progress, reused), one queue per
//! client network, oldest first (a doubly linked list through the entries),
//! and a binary max-heap of the networks by (slots held, age of the oldest),
//! so that finding a victim and every update cost O(log networks). A
//! [`ResolutionSlot`] travels with the pending query, holds the signal that
//! gives it up ([`ResolutionSlot::given_up`]), and takes its entry out when
//! dropped, however the resolution ends. With no cap set nothing is tracked
//! and a miss pays nothing.
//!
//! Memory is bounded: the slab holds at most `max_resolutions` entries
//! (without a total cap, `max_resolutions_per_client` times [`NETWORKS`]),
//! the queue and heap tables have a fixed size, and each resolution holds
//! one small shared signal.
//!
//! # Limitations
//! - Client networks (the rate limits' `ipv4_prefix`, `ipv6_prefix`) are
//!   told apart by a seeded hash into [`NETWORKS`] queues; networks that
//!   share a queue share its cap and its fairness share (rare with fewer
//!   than a few hundred networks busy).
//! - A flood that comes faster than resolutions finish keeps giving up its
//!   own network's work: the flooding network gets few answers, the others
//!   theirs.
//! - After a reload lowers a cap below the resolutions in progress, each
//!   new miss gives up one old resolution: the count stays where it is until
//!   resolutions end.

use crate::rate_limit::RateLimitSettings;
use hanse_resolve::ExtendedError;
use parking_lot::Mutex;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Queues of client networks in the table.
pub const NETWORKS: usize = 4096;

/// The queue of exempt networks, after the others; never in the heap.
const EXEMPT: usize = NETWORKS;

/// No entry, no heap position.
const NONE: u32 = u32::MAX;

/// The Extended DNS Error of a query given up or shed for overload.
pub(crate) const GIVEN_UP: ExtendedError = ExtendedError {
    code: 0,
    text: "server overloaded, resolution given up",
};

/// What a cache miss gets when no resolution slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverloadAction {
    /// SERVFAIL at once, so the client does not wait (the default).
    #[default]
    Servfail,
    /// No answer.
    Drop,
}

/// The table's answer to a new cache miss.
#[derive(Debug)]
pub(crate) enum Admission {
    /// No cap applies: the resolution is not tracked.
    Unbounded,
    /// A slot, maybe taken from an older resolution that was given up.
    Admitted(ResolutionSlot),
    /// No slot: only resolutions that are never given up hold them.
    Shed,
}

/// The resolutions in progress, by client network, oldest first.
pub(crate) struct ResolutionTable {
    seed: RandomState,
    state: Mutex<State>,
}

/// One resolution's place in the table; gives it back when dropped.
pub(crate) struct ResolutionSlot {
    table: Arc<ResolutionTable>,
    index: u32,
    sequence: u64,
    signal: Arc<Signal>,
}

/// How a resolution learns that it was given up.
#[derive(Default)]
struct Signal {
    given_up: AtomicBool,
    notify: Notify,
}

impl Signal {
    fn give_up(&self) {
        self.given_up.store(true, Ordering::Release);
        // Stores a permit if the task is not waiting yet.
        self.notify.notify_one();
    }
}

impl std::fmt::Debug for ResolutionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolutionSlot")
            .field("index", &self.index)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl ResolutionSlot {
    /// Completes when this resolution has been given up for a newer one.
    /// Its slot is already gone then.
    pub(crate) async fn given_up(&self) {
        // A give-up after this check leaves a permit in `notify`.
        if !self.is_given_up() {
            self.signal.notify.notified().await;
        }
    }

    /// Whether this resolution has been given up for a newer one.
    pub(crate) fn is_given_up(&self) -> bool {
        self.signal.given_up.load(Ordering::Acquire)
    }
}

impl Drop for ResolutionSlot {
    fn drop(&mut self) {
        let mut state = self.table.state.lock();
        // A resolution given up was taken out already; its entry may hold
        // another resolution now, with another sequence number.
        if state
            .entries
            .get(self.index as usize)
            .is_some_and(|entry| entry.sequence == self.sequence)
        {
            state.remove(self.index);
        }
    }
}

/// The table behind its lock.
struct State {
    /// Entries in use and free ones (linked through `newer`).
    entries: Vec<Entry>,
    /// The first free entry.
    free: u32,
    /// One queue per network, and the exempt queue last.
    queues: Box<[Queue]>,
    /// Networks holding slots (not the exempt queue), a max-heap by
    /// [`State::outranks`].
    heap: Vec<u16>,
    /// Each network's index in `heap`, or `NONE`.
    positions: Box<[u32]>,
    /// Resolutions in progress.
    total: u32,
    /// The sequence number of the next resolution; 0 marks a free entry.
    next_sequence: u64,
}

/// The resolutions of one network, a list from the oldest to the newest.
#[derive(Debug, Clone, Copy)]
struct Queue {
    count: u32,
    oldest: u32,
    newest: u32,
}

/// A resolution in progress (or a free entry, with sequence 0).
struct Entry {
    sequence: u64,
    queue: u16,
    older: u32,
    newer: u32,
    signal: Option<Arc<Signal>>,
}

impl ResolutionTable {
    pub(crate) fn new() -> ResolutionTable {
        ResolutionTable {
            seed: RandomState::new(),
            state: Mutex::new(State {
                entries: Vec::new(),
                free: NONE,
                queues: vec![
                    Queue {
                        count: 0,
                        oldest: NONE,
                        newest: NONE,
                    };
                    NETWORKS + 1
                ]
                .into_boxed_slice(),
                heap: Vec::with_capacity(NETWORKS),
                positions: vec![NONE; NETWORKS].into_boxed_slice(),
                total: 0,
                next_sequence: 1,
            }),
        }
    }

    /// A slot for a new resolution for `client`, within `total_cap` for the
    /// server and `network_cap` for the client's network (`0`: no cap),
    /// giving up an older resolution if need be (see the module's docs).
    pub(crate) fn acquire(
        table: &Arc<ResolutionTable>,
        settings: &RateLimitSettings,
        client: IpAddr,
        total_cap: u32,
        network_cap: u32,
    ) -> Admission {
        let exempt = settings.exempt.allows(client);
        if total_cap == 0 && (network_cap == 0 || exempt) {
            return Admission::Unbounded;
        }
        let queue = if exempt {
            EXEMPT
        } else {
            let mut hasher = table.seed.build_hasher();
            crate::rate_limit::hash_network(&mut hasher, settings, client);
            usize::try_from(hasher.finish() % NETWORKS as u64).unwrap_or(0)
        };
        let signal = Arc::new(Signal::default());
        let mut state = table.state.lock();
        let victim =
            if queue != EXEMPT && network_cap != 0 && state.queues[queue].count >= network_cap {
                Some(state.queues[queue].oldest)
            } else if total_cap != 0 && state.total >= total_cap {
                match state.heap.first() {
                    Some(&heaviest) => Some(state.queues[usize::from(heaviest)].oldest),
                    None => return Admission::Shed,
                }
            } else {
                None
            };
        if state.entries.len() >= NONE as usize - 1 && state.free == NONE && victim.is_none() {
            return Admission::Shed;
        }
        if let Some(victim) = victim
            && let Some(given_up) = state.remove(victim)
        {
            given_up.give_up();
        }
        let (index, sequence) = state.insert(queue, Arc::clone(&signal));
        drop(state);
        Admission::Admitted(ResolutionSlot {
            table: Arc::clone(table),
            index,
            sequence,
            signal,
        })
    }

    /// Resolutions in progress now.
    #[cfg(test)]
    fn total(&self) -> u32 {
        self.state.lock().total
    }
}

impl State {
    /// Adds a resolution as the newest of `queue`; its entry and sequence.
    fn insert(&mut self, queue: usize, signal: Arc<Signal>) -> (u32, u64) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let newest = self.queues[queue].newest;
        let entry = Entry {
            sequence,
            queue: queue as u16,
            older: newest,
            newer: NONE,
            signal: Some(signal),
        };
        let index = if self.free == NONE {
            self.entries.push(entry);
            (self.entries.len() - 1) as u32
        } else {
            let index = self.free;
            self.free = self.entries[index as usize].newer;
            self.entries[index as usize] = entry;
            index
        };
        if newest == NONE {
            self.queues[queue].oldest = index;
        } else {
            self.entries[newest as usize].newer = index;
        }
        self.queues[queue].newest = index;
        self.queues[queue].count += 1;
        self.total += 1;
        if queue != EXEMPT {
            if self.positions[queue] == NONE {
                self.positions[queue] = self.heap.len() as u32;
                self.heap.push(queue as u16);
            }
            self.sift_up(self.positions[queue] as usize);
        }
        (index, sequence)
    }

    /// Takes the resolution in entry `index` out; its signal, if the entry
    /// was in use.
    fn remove(&mut self, index: u32) -> Option<Arc<Signal>> {
        let entry = self.entries.get_mut(index as usize)?;
        if entry.sequence == 0 {
            return None;
        }
        let (queue, older, newer) = (usize::from(entry.queue), entry.older, entry.newer);
        let signal = entry.signal.take();
        entry.sequence = 0;
        entry.older = NONE;
        entry.newer = self.free;
        self.free = index;
        if older == NONE {
            self.queues[queue].oldest = newer;
        } else {
            self.entries[older as usize].newer = newer;
        }
        if newer == NONE {
            self.queues[queue].newest = older;
        } else {
            self.entries[newer as usize].older = older;
        }
        self.queues[queue].count -= 1;
        self.total -= 1;
        if queue != EXEMPT {
            let position = self.positions[queue] as usize;
            if self.queues[queue].count == 0 {
                self.remove_from_heap(position);
            } else {
                // Fewer slots, or a younger oldest: it can only sink.
                self.sift_down(position);
            }
        }
        signal
    }

    /// Whether network `a` is given up before network `b`: more slots, or
    /// as many and an older oldest resolution.
    fn outranks(&self, a: u16, b: u16) -> bool {
        let (a, b) = (&self.queues[usize::from(a)], &self.queues[usize::from(b)]);
        a.count > b.count
            || (a.count == b.count
                && self.entries[a.oldest as usize].sequence
                    < self.entries[b.oldest as usize].sequence)
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.positions[usize::from(self.heap[i])] = i as u32;
        self.positions[usize::from(self.heap[j])] = j as u32;
    }

    fn sift_up(&mut self, mut position: usize) {
        while position > 0 {
            let parent = (position - 1) / 2;
            if !self.outranks(self.heap[position], self.heap[parent]) {
                break;
            }
            self.swap(position, parent);
            position = parent;
        }
    }

    fn sift_down(&mut self, mut position: usize) {
        loop {
            let mut top = position;
            for child in [2 * position + 1, 2 * position + 2] {
                if child < self.heap.len() && self.outranks(self.heap[child], self.heap[top]) {
                    top = child;
                }
            }
            if top == position {
                break;
            }
            self.swap(position, top);
            position = top;
        }
    }

    fn remove_from_heap(&mut self, position: usize) {
        let last = self.heap.len() - 1;
        self.swap(position, last);
        let network = self.heap.pop().expect("the heap holds the network");
        self.positions[usize::from(network)] = NONE;
        if position < self.heap.len() {
            self.sift_down(position);
            self.sift_up(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessList;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn slot(admission: Admission) -> ResolutionSlot {
        match admission {
            Admission::Admitted(slot) => slot,
            other => panic!("expected a slot, got {other:?}"),
        }
    }

    /// Whether the slot's resolution has been given up, and its task would
    /// wake.
    fn is_given_up(slot: &ResolutionSlot) -> bool {
        use std::future::Future;
        use std::task::{Context, Waker};
        let given_up = slot.is_given_up();
        let future = std::pin::pin!(slot.given_up());
        let ready = future
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready();
        assert_eq!(ready, given_up);
        given_up
    }

    /// Checks the links, counts and heap of the table.
    fn check(table: &ResolutionTable) {
        let state = table.state.lock();
        let mut total = 0;
        for (number, queue) in state.queues.iter().enumerate() {
            let mut count = 0;
            let mut previous = NONE;
            let mut index = queue.oldest;
            let mut sequence = 0;
            while index != NONE {
                let entry = &state.entries[index as usize];
                assert_eq!(usize::from(entry.queue), number);
                assert_eq!(entry.older, previous);
                assert!(entry.sequence > sequence, "oldest first");
                sequence = entry.sequence;
                previous = index;
                index = entry.newer;
                count += 1;
            }
            assert_eq!(queue.newest, previous);
            assert_eq!(queue.count, count);
            total += count;
            if number != EXEMPT {
                assert_eq!(state.positions[number] == NONE, count == 0);
            }
        }
        assert_eq!(state.total, total);
        for position in 1..state.heap.len() {
            let parent = (position - 1) / 2;
            assert!(!state.outranks(state.heap[position], state.heap[parent]));
            assert_eq!(
                state.positions[usize::from(state.heap[position])],
                position as u32
            );
        }
    }

    #[test]
    fn a_full_network_gives_up_its_own_oldest_resolution() {
        let table = Arc::new(ResolutionTable::new());
        let settings = RateLimitSettings::default();
        let take = |client: &str| {
            slot(ResolutionTable::acquire(
                &table,
                &settings,
                address(client),
                10,
                3,
            ))
        };
        let first: Vec<_> = (1..=3).map(|_| take("192.0.2.1")).collect();
        let other = take("198.51.100.1");
        assert!(first.iter().all(|slot| !is_given_up(slot)));
        // The same /24 is at its cap: its oldest goes, not the new query.
        let fourth = take("192.0.2.99");
        assert!(is_given_up(&first[0]));
        assert!(!is_given_up(&first[1]) && !is_given_up(&first[2]));
        assert!(!is_given_up(&other) && !is_given_up(&fourth));
        assert_eq!(table.total(), 4);
        let _fifth = take("192.0.2.7");
        assert!(is_given_up(&first[1]) && !is_given_up(&first[2]));
        check(&table);
        // Dropping a slot that was given up frees nothing twice.
        drop(first);
        assert_eq!(table.total(), 3);
        check(&table);
    }

    #[test]
    fn a_full_server_gives_up_the_oldest_of_the_heaviest_network() {
        let table = Arc::new(ResolutionTable::new());
        let settings = RateLimitSettings::default();
        let take = |client: &str| {
            slot(ResolutionTable::acquire(
                &table,
                &settings,
                address(client),
                6,
                0,
            ))
        };
        let b_old = take("198.51.100.1");
        let a: Vec<_> = (0..4).map(|_| take("192.0.2.1")).collect();
        let b_new = take("198.51.100.2");
        // Full: A holds 4, B 2. C's query takes A's oldest slot.
        let c1 = take("203.0.113.1");
        assert!(is_given_up(&a[0]));
        assert!(a[1..].iter().all(|slot| !is_given_up(slot)));
        // A 3, B 2, C 1: A again.
        let c2 = take("203.0.113.2");
        assert!(is_given_up(&a[1]) && !is_given_up(&a[2]));
        // A 2, B 2, C 2: a tie; B's oldest is older than A's.
        let c3 = take("203.0.113.3");
        assert!(is_given_up(&b_old) && !is_given_up(&b_new));
        assert!(!is_given_up(&a[2]));
        // A 2, B 1, C 3: C itself is now the heaviest.
        let c4 = take("203.0.113.4");
        assert!(is_given_up(&c1));
        assert!(![&c2, &c3, &c4, &b_new].iter().any(|slot| is_given_up(slot)));
        assert_eq!(table.total(), 6);
        check(&table);
        drop((a, c1, c2, c3, c4, b_old, b_new));
        assert_eq!(table.total(), 0);
        check(&table);
    }

    #[test]
    fn exempt_networks_are_never_given_up() {
        let table = Arc::new(ResolutionTable::new());
        let settings = RateLimitSettings {
            exempt: AccessList::new(vec![(address("192.0.2.0"), 24)]),
            ..RateLimitSettings::default()
        };
        let take =
            |client: &str| ResolutionTable::acquire(&table, &settings, address(client), 3, 1);
        // No per-network cap for the exempt network.
        let exempt: Vec<_> = (0..2).map(|_| slot(take("192.0.2.1"))).collect();
        let other = slot(take("10.0.0.1"));
        // Full: the only network that can give up a slot is 10.0.0.0/24.
        let newer = slot(take("10.1.0.1"));
        assert!(is_given_up(&other));
        assert!(exempt.iter().all(|slot| !is_given_up(slot)));
        drop(newer);
        // Full of exempt resolutions: the new query is shed itself.
        let _third = slot(take("192.0.2.3"));
        assert!(matches!(take("10.2.0.1"), Admission::Shed));
        assert!(matches!(take("192.0.2.4"), Admission::Shed));
        check(&table);
        // Without a total cap an exempt client is not tracked at all.
        assert!(matches!(
            ResolutionTable::acquire(&table, &settings, address("192.0.2.1"), 0, 1),
            Admission::Unbounded
        ));
    }

    #[test]
    fn no_caps_track_nothing() {
        let table = Arc::new(ResolutionTable::new());
        let settings = RateLimitSettings::default();
        for _ in 0..100 {
            assert!(matches!(
                ResolutionTable::acquire(&table, &settings, address("192.0.2.1"), 0, 0),
                Admission::Unbounded
            ));
        }
        assert_eq!(table.total(), 0);
    }

    /// A model of the table: resolutions per network in arrival order.
    #[test]
    fn victims_follow_the_model_and_memory_stays_bounded() {
        const TOTAL: u32 = 24;
        const PER_NETWORK: u32 = 9;
        let table = Arc::new(ResolutionTable::new());
        let settings = RateLimitSettings::default();
        // (network, arrival number, slot) of the resolutions held.
        let mut held: Vec<(usize, u64, ResolutionSlot)> = Vec::new();
        // Resolutions given up because their network, or the server, was full.
        let (mut network_full, mut server_full) = (0, 0);
        let mut random = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random
        };
        for arrival in 0..20_000u64 {
            let choice = next();
            if choice % 3 == 0 && !held.is_empty() {
                // A resolution ends.
                let at = usize::try_from(next() % held.len() as u64).unwrap();
                held.swap_remove(at);
            } else {
                // Network 0 asks most, networks 1 to 5 less.
                let network = if choice % 2 == 0 {
                    0
                } else {
                    usize::try_from(next() % 6).unwrap()
                };
                let count = |network: usize, held: &[(usize, u64, ResolutionSlot)]| {
                    held.iter().filter(|(n, ..)| *n == network).count() as u32
                };
                let oldest = |network: usize, held: &[(usize, u64, ResolutionSlot)]| {
                    held.iter()
                        .filter(|(n, ..)| *n == network)
                        .map(|(_, arrived, _)| *arrived)
                        .min()
                };
                // The expected victim.
                let expected = if count(network, &held) >= PER_NETWORK {
                    network_full += 1;
                    oldest(network, &held)
                } else if held.len() as u32 >= TOTAL {
                    server_full += 1;
                    (0..6)
                        .filter(|&n| count(n, &held) > 0)
                        .max_by_key(|&n| (count(n, &held), std::cmp::Reverse(oldest(n, &held))))
                        .and_then(|n| oldest(n, &held))
                } else {
                    None
                };
                let client = address(&format!("10.0.{network}.1"));
                let new = slot(ResolutionTable::acquire(
                    &table,
                    &settings,
                    client,
                    TOTAL,
                    PER_NETWORK,
                ));
                let given_up: Vec<u64> = held
                    .iter()
                    .filter(|(.., slot)| is_given_up(slot))
                    .map(|(_, arrived, _)| *arrived)
                    .collect();
                assert_eq!(given_up, expected.into_iter().collect::<Vec<_>>());
                held.retain(|(.., slot)| !is_given_up(slot));
                held.push((network, arrival, new));
            }
            assert_eq!(table.total() as usize, held.len());
        }
        check(&table);
        assert!(
            network_full > 1000 && server_full > 1000,
            "{network_full} {server_full}"
        );
        assert!(table.state.lock().entries.len() <= TOTAL as usize);
    }
}
