//! Estimates of the memory an entry holds, and construction of the bounded
//! concurrent maps both caches are built on.
//!
//! The estimates count heap bytes, one allocator header per allocation, the
//! headers of reference-counted allocations and the slots of quick_cache's
//! table (its documentation gives `size_of::<K>() + size_of::<V>() + 21`
//! bytes per slot, with room for half as many evicted "ghost" keys again,
//! rounded up to a power of two).
//!
//! # Limitations
//! - Allocator overhead is a fixed guess (16 bytes per allocation); the real
//!   figure depends on the allocator and the size class.

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};
use std::hash::Hash;

/// Bookkeeping bytes the allocator spends on each allocation (a guess).
pub(crate) const ALLOCATION_OVERHEAD: usize = 16;
/// The strong and weak counters in front of the data of an `Arc`.
pub(crate) const ARC_HEADER: usize = 2 * size_of::<usize>();
/// The most shards a cache is split into.
const MAX_SHARDS: usize = 256;

/// The bytes a heap block of `length` bytes costs; an empty block costs nothing.
pub(crate) fn heap_block(length: usize) -> usize {
    if length == 0 {
        0
    } else {
        length + ALLOCATION_OVERHEAD
    }
}

/// The bytes one entry costs in the table of the map, ghost slots included.
pub(crate) fn table_slot<K, V>() -> usize {
    // 21 bytes of bookkeeping per slot, slots for 1.5 entries per entry, and
    // on average a third of the table unused after rounding to a power of two.
    (size_of::<K>() + size_of::<V>() + 21) * 2
}

/// Converts a byte count to a weight, saturating, and never zero (quick_cache
/// never evicts entries of weight zero).
pub(crate) fn weight_of(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX).max(1)
}

/// The number of shards: four per CPU, a power of two, at most [`MAX_SHARDS`].
fn shard_count() -> usize {
    let processors = std::thread::available_parallelism().map_or(1, usize::from);
    processors
        .saturating_mul(4)
        .clamp(1, MAX_SHARDS)
        .next_power_of_two()
}

/// Builds a concurrent map whose total weight stays at or below `max_bytes`.
///
/// quick_cache gives each shard `ceil(capacity / shards)`; the capacity is
/// rounded down to a multiple of the shard count (a power of two, and quick_cache
/// only ever halves it) so that the shard budgets add up to at most `max_bytes`.
pub(crate) fn bounded_map<K, V, W>(
    max_bytes: usize,
    typical_entry_bytes: usize,
    weighter: W,
) -> Cache<K, V, W, DefaultHashBuilder, DefaultLifecycle<K, V>>
where
    K: Eq + Hash,
    V: Clone,
    W: Weighter<K, V> + Clone,
{
    let shards = shard_count();
    let capacity = max_bytes / shards * shards;
    let capacity = u64::try_from(capacity).unwrap_or(u64::MAX);
    let items = (max_bytes / typical_entry_bytes.max(1)).max(1);
    let options = OptionsBuilder::new()
        .shards(shards)
        .estimated_items_capacity(items)
        .weight_capacity(capacity)
        .build();
    match options {
        Ok(options) => Cache::with_options(
            options,
            weighter,
            DefaultHashBuilder::default(),
            DefaultLifecycle::default(),
        ),
        // Unreachable: both required options are set. Fall back to defaults.
        Err(_) => Cache::with(
            items,
            capacity,
            weighter,
            DefaultHashBuilder::default(),
            DefaultLifecycle::default(),
        ),
    }
}
