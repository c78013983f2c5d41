//! Estimates of the memory an entry holds, and construction of the bounded
//! concurrent maps both caches are built on.
//!
//! Both maps are keyed by a 64-bit keyed hash of the entry's identity (see
//! [`crate::key`]); the value is one heap block holding everything else, so
//! an entry costs one slot of quick_cache's table plus one allocation.
//!
//! The estimates count:
//! - heap blocks rounded as a typical 64-bit `malloc` does (8 bytes of
//!   header, 16-byte granules, at least 32 bytes per block);
//! - the slot of the entry in quick_cache's slab (key, value, eviction state
//!   and two list links), its bucket in the hash index (5 bytes at a load of
//!   at most 7/8, with on average half a doubling of slack), and the share of
//!   the slots kept for evicted "ghost" keys ([`GHOST_FRACTION`] of the
//!   expected number of entries).
//!
//! # Limitations
//! - The sizes of quick_cache's slot and index are derived from its 0.7
//!   source, not read from the crate; a new version may differ.
//! - Allocator rounding is modelled on glibc's `malloc`; jemalloc and other
//!   allocators round differently (usually to less), so the estimate errs on
//!   the heavy side there.
//! - Ghost slots are counted as a share of each entry; while the cache is
//!   filling, before anything is evicted, there are none yet.

use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, OptionsBuilder, Weighter};
use std::hash::{BuildHasher, Hash, Hasher};

/// The bytes of header `malloc` keeps in front of each block.
const ALLOCATION_HEADER: usize = 8;
/// The granule `malloc` rounds blocks to.
const ALLOCATION_GRANULE: usize = 16;
/// The smallest block `malloc` hands out, header included.
const SMALLEST_ALLOCATION: usize = 32;
/// The strong and weak counters in front of the data of an `Arc`.
pub(crate) const ARC_HEADER: usize = 2 * size_of::<usize>();
/// The most shards a cache is split into.
const MAX_SHARDS: usize = 256;
/// Evicted keys quick_cache remembers, as a fraction of the expected number
/// of entries. Each takes a full slot; quick_cache's default is 0.5.
pub(crate) const GHOST_FRACTION: f64 = 0.25;
/// Bytes of quick_cache's slot besides key and value: the eviction state and
/// reference counter of a resident entry, and the two links of its list.
const SLOT_BOOKKEEPING: usize = 3 + 2 * size_of::<u32>();
/// Bytes of the hash index per entry: a 4-byte slot number and a control
/// byte per bucket, at most 7/8 of the buckets used, and the table is on
/// average half a doubling larger than needed (5 × 8/7 × 1.5, rounded up).
const INDEX_BYTES: usize = 9;

/// The bytes a heap block of `length` bytes costs; an empty block costs nothing.
pub(crate) fn heap_block(length: usize) -> usize {
    if length == 0 {
        return 0;
    }
    let rounded = length.saturating_add(ALLOCATION_HEADER + ALLOCATION_GRANULE - 1)
        / ALLOCATION_GRANULE
        * ALLOCATION_GRANULE;
    rounded.max(SMALLEST_ALLOCATION)
}

/// The bytes one entry costs in the map, its share of ghost slots included.
pub(crate) fn table_slot<K, V>() -> usize {
    let slot = (size_of::<K>() + size_of::<V>() + SLOT_BOOKKEEPING).next_multiple_of(8);
    let per_entry = slot + INDEX_BYTES;
    // Ghost slots, rounded up: a quarter of a slot per entry.
    per_entry + (per_entry as f64 * GHOST_FRACTION).ceil() as usize
}

/// Converts a byte count to a weight, saturating, and never zero (quick_cache
/// never evicts entries of weight zero).
pub(crate) fn weight_of(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX).max(1)
}

/// Hands a key that already is a well-mixed 64-bit hash to the map unchanged,
/// sparing a second round of hashing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PrehashedKeys;

impl BuildHasher for PrehashedKeys {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

/// The hasher of [`PrehashedKeys`]: keeps the last `u64` written. Other
/// writes (never made by the `u64` keys of this crate) are folded in so that
/// nothing is lost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// The number of shards: four per CPU, a power of two, at most [`MAX_SHARDS`].
fn shard_count() -> usize {
    let processors = std::thread::available_parallelism().map_or(1, usize::from);
    processors
        .saturating_mul(4)
        .clamp(1, MAX_SHARDS)
        .next_power_of_two()
}

/// Builds a concurrent map keyed by prehashed `u64` keys whose total weight
/// stays at or below `max_bytes`.
///
/// quick_cache gives each shard `ceil(capacity / shards)`; the capacity is
/// rounded down to a multiple of the shard count (a power of two, and quick_cache
/// only ever halves it) so that the shard budgets add up to at most `max_bytes`.
/// The table grows with use; `typical_entry_bytes` only sizes the number of
/// ghost keys kept. `lifecycle` hears of every eviction.
pub(crate) fn bounded_map<K, V, W, L>(
    max_bytes: usize,
    typical_entry_bytes: usize,
    weighter: W,
    lifecycle: L,
) -> Cache<K, V, W, PrehashedKeys, L>
where
    K: Eq + Hash,
    V: Clone,
    W: Weighter<K, V> + Clone,
    L: Lifecycle<K, V> + Clone,
{
    let shards = shard_count();
    let capacity = max_bytes / shards * shards;
    let capacity = u64::try_from(capacity).unwrap_or(u64::MAX);
    let items = (max_bytes / typical_entry_bytes.max(1)).max(1);
    let options = OptionsBuilder::new()
        .shards(shards)
        .estimated_items_capacity(items)
        .weight_capacity(capacity)
        .ghost_allocation(GHOST_FRACTION)
        .build();
    match options {
        Ok(options) => Cache::with_options(options, weighter, PrehashedKeys, lifecycle),
        // Unreachable: both required options are set. Fall back to defaults.
        Err(_) => Cache::with(items, capacity, weighter, PrehashedKeys, lifecycle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_blocks_round_like_malloc() {
        assert_eq!(heap_block(0), 0);
        assert_eq!(heap_block(1), 32);
        assert_eq!(heap_block(24), 32);
        assert_eq!(heap_block(25), 48);
        assert_eq!(heap_block(40), 48);
        assert_eq!(heap_block(41), 64);
        assert_eq!(heap_block(usize::MAX), usize::MAX / 16 * 16);
    }

    #[test]
    fn prehashed_keys_pass_through() {
        assert_eq!(
            PrehashedKeys.hash_one(0x1234_5678_9abc_def0u64),
            0x1234_5678_9abc_def0
        );
    }
}
