//! The block cache: decoded data blocks shared by all readers, bounded in bytes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
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
    hits: AtomicU64,
    misses: AtomicU64,
    capacity: u64,
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
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            capacity,
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
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Caches a block.
    pub fn insert(&self, table: u64, offset: u64, block: Arc<Block>) {
        self.cache.insert((table, offset), block);
    }

    /// (hits, misses) since open.
    pub fn hit_miss(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes currently held.
    pub fn usage(&self) -> u64 {
        self.cache.weight()
    }

    /// The configured bound in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}
