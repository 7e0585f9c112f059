//! The block cache: decoded data blocks shared by all readers, bounded in bytes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::striped::StripedCounter;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::corruption::ReadGate;
use super::crypto::KeyRing;
use super::table::block::Block;

#[derive(Clone)]
struct BlockWeighter;

impl Weighter<(u64, u64), Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), block: &Arc<Block>) -> u64 {
        block.charge() as u64
    }
}

/// A sharded, byte-bounded cache of decoded blocks keyed by (table number, offset).
pub struct BlockCache {
    cache: Cache<(u64, u64), Arc<Block>, BlockWeighter>,
    hits: StripedCounter,
    misses: StripedCounter,
    /// The bound in bytes: the configured one, lower after self-healing shrank it.
    capacity: AtomicU64,
    /// Tables opened through this cache read their files through memory maps.
    maps_tables: bool,
    /// The database these tables belong to has closed (see [`Self::mark_closed`]).
    closed: AtomicBool,
    /// The database's corruption handling, shared by every table reading through this cache.
    gate: ReadGate,
    /// The data keys of an encrypted database: tables in the sealed format open their
    /// blocks with them (and are read through this cache, never in place from a map).
    /// Replaced by a key rotation with a ring that still holds every older key.
    keys: ArcSwapOption<KeyRing>,
}

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of decoded blocks.
    pub fn new(capacity_bytes: u64) -> Self {
        let capacity = capacity_bytes.max(1);
        let items = (capacity / 4096).clamp(16, 1 << 24) as usize;
        Self {
            cache: Cache::with_weighter(items, capacity, BlockWeighter),
            hits: StripedCounter::default(),
            misses: StripedCounter::default(),
            capacity: AtomicU64::new(capacity),
            maps_tables: false,
            closed: AtomicBool::new(false),
            gate: ReadGate::default(),
            keys: ArcSwapOption::empty(),
        }
    }

    /// Makes tables opened through this cache read their files through memory maps
    /// ([`crate::LightningDbConfig::mmap_reads`]).
    pub fn with_mapped_tables(mut self, map: bool) -> Self {
        self.maps_tables = map;
        self
    }

    /// Records that the database has closed and released its directory. A table that
    /// compaction replaced and that a reader (an iterator, a pinned value) kept alive past
    /// the close then leaves its file for the next open's orphan sweep instead of removing
    /// it: by the time the reader lets go, the directory may hold another database whose
    /// file has the same number.
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// True once [`Self::mark_closed`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// True when tables opened through this cache map their files.
    pub fn maps_tables(&self) -> bool {
        self.maps_tables
    }

    /// Sets the data keys tables opened from now on read sealed blocks with.
    #[allow(
        dead_code,
        reason = "only the sealed-table tests call it until the engine opens encrypted databases"
    )]
    pub fn set_keys(&self, keys: Option<Arc<KeyRing>>) {
        self.keys.store(keys);
    }

    /// The data keys of an encrypted database, `None` for a plain one.
    pub fn keys(&self) -> Option<Arc<KeyRing>> {
        self.keys.load_full()
    }

    /// The corruption handling of the database this cache belongs to.
    pub fn gate(&self) -> &ReadGate {
        &self.gate
    }

    /// The cached block, counting a hit or a miss.
    #[inline]
    pub fn get(&self, table: u64, offset: u64) -> Option<Arc<Block>> {
        let found = self.cache.get(&(table, offset));
        if found.is_some() {
            self.hits.add(1);
        } else {
            self.misses.add(1);
        }
        found
    }

    /// Caches a block.
    pub fn insert(&self, table: u64, offset: u64, block: Arc<Block>) {
        self.cache.insert((table, offset), block);
    }

    /// (hits, misses) since open.
    pub fn hit_miss(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    /// Bytes currently held.
    pub fn usage(&self) -> u64 {
        self.cache.weight()
    }

    /// The bound in bytes: the configured one unless [`Self::shrink_to`] lowered it.
    pub fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Lowers the bound to `bytes` (at least 1), evicting blocks until the cache fits:
    /// how self-healing gives memory back. Never raises it. Returns the bound before.
    pub fn shrink_to(&self, bytes: u64) -> u64 {
        let bytes = bytes.max(1);
        let before = self.capacity.fetch_min(bytes, Ordering::AcqRel);
        if bytes < before {
            self.cache.set_capacity(bytes);
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::table::block::BlockBuilder;

    fn block(i: u32) -> Arc<Block> {
        let mut b = BlockBuilder::default();
        for k in 0..20u32 {
            b.add(format!("{i:04}-{k:04}").as_bytes(), 1, Some(&[7u8; 100]));
        }
        Arc::new(Block::decode(b.finish()).expect("block"))
    }

    #[test]
    fn shrinking_evicts_until_the_cache_fits_and_never_grows_it() {
        let cache = BlockCache::new(1 << 20);
        for i in 0..200 {
            cache.insert(u64::from(i), 0, block(i));
        }
        let full = cache.usage();
        assert!(full > 256 << 10, "{full}");
        assert_eq!(cache.shrink_to(128 << 10), 1 << 20);
        assert_eq!(cache.capacity(), 128 << 10);
        assert!(cache.usage() <= 128 << 10, "{}", cache.usage());
        // A larger bound does not grow it back.
        assert_eq!(cache.shrink_to(1 << 20), 128 << 10);
        assert_eq!(cache.capacity(), 128 << 10);
        cache.insert(9999, 0, block(9999));
        assert!(cache.usage() <= 128 << 10);
    }
}
