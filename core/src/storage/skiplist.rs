//! The memtable's ordered index: an insert-only skiplist whose nodes live in an arena.
//!
//! One writer at a time (a mutex inside enforces it; the engine already serialises
//! writers under the log lock) and any number of readers that never wait. Each node is
//! one contiguous arena record — header, tower of next pointers, key bytes — with its
//! value in a second arena, so an insert is two bump allocations and copies, the records
//! a search walks through stay dense, a step of a cursor is one pointer load, and a
//! comparison reads the key's 8-byte prefix from the node before touching key bytes.
//! Nothing is ever removed: memory is returned when the whole list is dropped.
//!
//! A search from the head of a large list is a dozen or more dependent cache misses,
//! one or two per level. Once a list holds [`INDEX_MIN_LEN`] versions, searches ask for
//! a [seek index](SeekIndex): every node in order with its key prefix, four to a cache
//! line, and a summary of each line's first prefix in a static tree of cache-line
//! blocks (about 18 bytes a version), built by a walk of the bottom level off the search
//! path (the owner's waker says when to build; see [`SkipList::set_index_waker`]). A
//! search then reads one block per summary level (the upper ones stay in cache) and one
//! line; while nothing was inserted since the build, the entry it lands on is the
//! answer and no other node is touched. Versions inserted later sit between entries and are
//! walked over; the index asks to be rebuilt once a quarter of the list is newer than it.
//!
//! This is the one measured hot path in the core crate that uses `unsafe`: a node is
//! reached through raw pointers into the arena. The rules that make it sound:
//! - arena chunks are boxed slices that are never freed, moved or shrunk before the list
//!   is dropped, and every cursor holds an `Arc` of the list;
//! - a node's header, key and value are written before the node is linked (a `Release`
//!   store of the pointer to it), and readers load links with `Acquire`, so a reader that
//!   can reach a node sees it fully written; after linking only its tower changes, and
//!   only through atomics;
//! - every pointer into a chunk is derived from the chunk's own base pointer, never from
//!   a reference to a smaller object.
//!
//! Tests: the unit tests race a writer, readers and index builds on real threads;
//! `loom_tests` model-checks the same protocols (insert against searches and cursors,
//! the seek index's build and publication) under loom, every interleaving up to two
//! preemptions, with a shadow cell standing for each node's and each index's plain
//! memory so that a publication not ordered before a read fails the model. It needs
//! `RUSTFLAGS="--cfg loom"`, which swaps the atomics, the writer's mutex and the index
//! slot for loom's (module `sync`); the command is in UNSAFE.md and `scripts/test-all.sh`.
#![expect(
    unsafe_code,
    reason = "an arena skiplist with lock-free readers: raw node pointers into arena chunks, \
              published with release stores (the argument is in the module docs and UNSAFE.md)"
)]

use std::cmp::Ordering;
use std::ptr;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, OnceLock};

use self::sync::{AtomicBool, AtomicPtr, AtomicUsize, IndexSlot, Mutex};
use super::coding::key_prefix;
use super::iter::Current;

/// What the list synchronises through: std's atomics, `parking_lot`'s mutex and an
/// `ArcSwapOption` for the seek index, re-exported unchanged, so the ordinary build is the
/// same code as without this module.
#[cfg(not(all(test, loom)))]
mod sync {
    pub(super) use arc_swap::ArcSwapOption as IndexSlot;
    pub(super) use parking_lot::Mutex;
    pub(super) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};
}

/// The loom build of this module's own tests (`RUSTFLAGS="--cfg loom"`, see `loom_tests`):
/// loom's models of the atomics and the mutex, and a loom-visible stand-in for the
/// `ArcSwapOption`, so the model checker sees every synchronising operation of the list.
#[cfg(all(test, loom))]
mod sync;

/// Tallest tower. With one node in four promoted per level, twelve levels index
/// 4^12 (16 million) entries at full speed, more than any write buffer holds.
const MAX_HEIGHT: usize = 12;
/// The level a backward chunk's search stops at: with towers growing one level in four,
/// the last level-2 node before a version lies about 16 versions back, so a cursor
/// walking backwards searches once per 16 or so steps.
const REVERSE_CHUNK_LEVEL: usize = 2;
/// Versions a backward chunk takes from an exact seek index at once.
const REVERSE_INDEX_CHUNK: usize = 64;
/// Header bytes before the tower: prefix, seq, key length, value length, height, value
/// (40; more in the loom build, whose nodes carry a shadow cell).
const HEADER: usize = std::mem::size_of::<Node>();
/// Bytes of one tower slot (8; loom's atomics differ in size, so it is not hard-coded).
const SLOT: usize = std::mem::size_of::<AtomicPtr<Node>>();
/// Stored as the value length of a tombstone.
const TOMBSTONE: u32 = u32::MAX;
/// Versions from which a list asks for a seek index by default (smaller lists are
/// searched fast enough from the head); `LightningDbConfig::memtable_index_min_versions`.
pub const INDEX_MIN_LEN: usize = 4096;
/// Steps a search walks along the bottom level from an index entry before giving up and
/// searching from the head (reached only when many versions were inserted into one
/// gap after the index was built).
const INDEX_WALK_LIMIT: usize = 24;
/// The first arena chunk; later ones double up to [`MAX_CHUNK_WORDS`].
const FIRST_CHUNK_WORDS: usize = 2 << 10;
const MAX_CHUNK_WORDS: usize = 128 << 10;

/// The fixed part of a node. The tower (`height` next pointers) and the key follow it in
/// the same arena record; the value lives in a separate arena, so the records a search
/// walks through stay small and dense (most fit one cache line).
#[repr(C)]
struct Node {
    prefix: u64,
    seq: u64,
    key_len: u32,
    value_len: u32,
    height: u32,
    _pad: u32,
    /// Start of the value bytes (null for a tombstone).
    value: *const u8,
    /// The loom build's stand-in for the node's plain memory (header, key, value): the
    /// writer marks it written before linking the node, and every read of a field marks
    /// it read, so loom reports a reader that is not ordered after the write.
    #[cfg(all(test, loom))]
    shadow: loom::cell::UnsafeCell<()>,
}

#[cfg(not(all(test, loom)))]
const _: () = assert!(HEADER == 40 && SLOT == 8);
// Tower slots and keys follow the header in 8-aligned arena words.
const _: () = assert!(
    HEADER.is_multiple_of(8)
        && SLOT.is_multiple_of(8)
        && std::mem::align_of::<Node>() <= 8
        && std::mem::align_of::<AtomicPtr<Node>>() <= 8
);

/// Reads node fields. Callers pass pointers to fully written nodes of a live list.
mod node {
    use super::*;

    #[inline]
    pub(super) unsafe fn link(n: *const Node, level: usize) -> *const AtomicPtr<Node> {
        // SAFETY: (the caller promises) `n` is a node whose tower has more than `level` slots; the
        // tower starts right after the header and is 8-aligned like the arena.
        unsafe {
            n.cast::<u8>()
                .add(HEADER + SLOT * level)
                .cast::<AtomicPtr<Node>>()
        }
    }

    /// The loom build: marks node `n`'s plain memory read by this thread (nothing in the
    /// ordinary build).
    #[inline(always)]
    unsafe fn observe(n: *const Node) {
        #[cfg(all(test, loom))]
        // SAFETY: (the caller promises) `n` is a fully written node; the cell is never moved.
        unsafe {
            (*ptr::addr_of!((*n).shadow)).with(|_| ());
        }
        #[cfg(not(all(test, loom)))]
        let _ = n;
    }

    /// The loom build: makes the `height` tower slots of the fresh node `n` loom atomics
    /// holding null (in the ordinary build, zeroed arena memory already is null links).
    #[inline(always)]
    pub(super) unsafe fn init_tower(n: *mut Node, height: usize) {
        #[cfg(all(test, loom))]
        for level in 0..height {
            // SAFETY: (the caller promises) `n` is fresh arena memory with room for a tower of
            // `height` slots, seen by no other thread yet.
            unsafe {
                link(n, level)
                    .cast_mut()
                    .write(AtomicPtr::new(ptr::null_mut()))
            };
        }
        #[cfg(not(all(test, loom)))]
        let _ = (n, height);
    }

    /// The loom build: marks the plain memory of node `n` (header, key, value) written by
    /// this thread, before the node is linked (nothing in the ordinary build).
    #[inline(always)]
    pub(super) unsafe fn written(n: *const Node) {
        #[cfg(all(test, loom))]
        // SAFETY: (the caller promises) `n` is a node being written by this thread.
        unsafe {
            (*ptr::addr_of!((*n).shadow)).with_mut(|_| ());
        }
        #[cfg(not(all(test, loom)))]
        let _ = n;
    }

    #[inline]
    pub(super) unsafe fn next(n: *const Node, level: usize) -> *mut Node {
        // SAFETY: (the caller promises) as for `link`; the slot is only ever accessed atomically.
        unsafe { (*link(n, level)).load(AtomicOrdering::Acquire) }
    }

    #[inline]
    pub(super) unsafe fn prefix(n: *const Node) -> u64 {
        // SAFETY: (the caller promises) `n` is a fully written node; the header never changes.
        unsafe {
            observe(n);
            ptr::addr_of!((*n).prefix).read()
        }
    }

    #[inline]
    pub(super) unsafe fn seq(n: *const Node) -> u64 {
        // SAFETY: (the caller promises) as for `prefix`.
        unsafe {
            observe(n);
            ptr::addr_of!((*n).seq).read()
        }
    }

    #[inline]
    pub(super) unsafe fn key<'a>(n: *const Node) -> &'a [u8] {
        // SAFETY: (the caller promises) as for `prefix`; the key bytes follow the tower, were written
        // before the node was linked and are never written again.
        unsafe {
            observe(n);
            let height = ptr::addr_of!((*n).height).read() as usize;
            let len = ptr::addr_of!((*n).key_len).read() as usize;
            std::slice::from_raw_parts(n.cast::<u8>().add(HEADER + SLOT * height), len)
        }
    }

    #[inline]
    pub(super) unsafe fn value<'a>(n: *const Node) -> Option<&'a [u8]> {
        // SAFETY: (the caller promises) as for `key`; the value bytes sit in the value arena, written
        // before the node was linked and never written again (a non-null, aligned
        // pointer even for an empty value).
        unsafe {
            observe(n);
            let len = ptr::addr_of!((*n).value_len).read();
            if len == TOMBSTONE {
                return None;
            }
            let start = ptr::addr_of!((*n).value).read();
            Some(std::slice::from_raw_parts(start, len as usize))
        }
    }
}

/// A version as the list orders it: user key ascending, then sequence number descending.
#[derive(Clone, Copy)]
struct Target<'a> {
    prefix: u64,
    key: &'a [u8],
    seq: u64,
}

impl<'a> Target<'a> {
    fn new(key: &'a [u8], seq: u64) -> Self {
        Self {
            prefix: key_prefix(key),
            key,
            seq,
        }
    }

    /// The version node `n` holds, as a target to order other nodes against.
    #[inline]
    fn of_node(n: *const Node) -> Target<'static> {
        // SAFETY: callers pass linked nodes of a live list; the borrow does not outlive
        // the comparison it is made for (the list outlives every search).
        unsafe {
            Target {
                prefix: node::prefix(n),
                key: node::key(n),
                seq: node::seq(n),
            }
        }
    }

    /// True when node `n` is ordered before this version (with `inclusive`, or is it).
    #[inline]
    fn has_before(&self, n: *const Node, inclusive: bool) -> bool {
        let ord = self.node_vs(n);
        ord == Ordering::Less || (inclusive && ord == Ordering::Equal)
    }

    /// Orders node `n` against this version.
    #[inline]
    fn node_vs(&self, n: *const Node) -> Ordering {
        // SAFETY: callers only pass nodes reached through the links of a live list.
        let (prefix, seq) = unsafe { (node::prefix(n), node::seq(n)) };
        prefix
            .cmp(&self.prefix)
            // SAFETY: as above.
            .then_with(|| unsafe { node::key(n) }.cmp(self.key))
            .then_with(|| self.seq.cmp(&seq))
    }
}

/// Bump allocator over chunks that live as long as the list. Chunks are `Vec`s, pushed
/// before any pointer into them is taken (moving a `Vec` keeps pointers into its buffer
/// valid, where moving a `Box` would retag it).
struct Arena {
    chunks: Vec<Vec<u64>>,
    /// Next free word of the current chunk, and how many words remain there.
    cursor: *mut u64,
    remaining: usize,
    next_chunk_words: usize,
}

impl Arena {
    fn new() -> Self {
        Self {
            chunks: Vec::new(),
            cursor: ptr::null_mut(),
            remaining: 0,
            next_chunk_words: FIRST_CHUNK_WORDS,
        }
    }

    /// A fresh zeroed chunk of `words` words, kept until the arena drops.
    fn new_chunk(&mut self, words: usize) -> *mut u64 {
        self.chunks.push(vec![0u64; words]);
        self.chunks
            .last_mut()
            .map_or(ptr::null_mut(), Vec::as_mut_ptr)
    }

    /// Zeroed, 8-aligned room for `words` words, valid until the arena drops.
    fn alloc(&mut self, words: usize) -> *mut u64 {
        if words > MAX_CHUNK_WORDS / 4 {
            // A large record gets a chunk of its own, so the current chunk's free room
            // is not thrown away.
            return self.new_chunk(words);
        }
        if words > self.remaining {
            let size = self.next_chunk_words.max(words);
            self.next_chunk_words = (self.next_chunk_words * 2).min(MAX_CHUNK_WORDS);
            self.cursor = self.new_chunk(size);
            self.remaining = size;
        }
        let out = self.cursor;
        // SAFETY: `words <= remaining`, so the new cursor stays within (or one past the
        // end of) the current chunk.
        self.cursor = unsafe { self.cursor.add(words) };
        self.remaining -= words;
        out
    }
}

/// The writer's state: the arena and the tower-height generator.
struct Writer {
    /// Nodes: header, tower, key.
    arena: Arena,
    /// Values.
    values: Arena,
    rng: u64,
}

/// An ordered, insert-only map from (key, sequence) to an optional value.
pub struct SkipList {
    head: *const Node,
    writer: Mutex<Writer>,
    /// Levels in use; readers may see a stale, lower value, which only costs them time.
    height: AtomicUsize,
    len: AtomicUsize,
    /// Arena bytes taken by nodes, for write-buffer accounting.
    bytes: AtomicUsize,
    /// The latest seek index, if one was built.
    index: IndexSlot<SeekIndex>,
    /// Set by a search that found no index, or a stale one; cleared by the build.
    index_wanted: AtomicBool,
    /// Called when `index_wanted` is raised, so the owner schedules a build.
    index_waker: OnceLock<IndexWaker>,
    /// The length `refresh_index_if_quiet` saw last.
    quiet_len: AtomicUsize,
    /// Versions from which searches ask for a seek index.
    index_min_len: usize,
}

/// What a list calls to have its seek index built off the search path.
pub type IndexWaker = Box<dyn Fn() + Send + Sync>;

/// Every node of the list in order with its key prefix, four to a cache line, and the
/// first prefix of every line again in a summary: a search reads the summary, then one
/// line, which holds the node pointer it lands on too. The summary is a static tree of
/// cache-line blocks of eight prefixes (each level holds the first prefix of every block
/// of the level below), so a search reads one block per level, and the upper levels,
/// small, stay in cache. (A binary search over all the prefixes misses the cache at
/// nearly every step in a large list, and one over the summary at half of them.)
///
/// The prefixes are the 8 key bytes after the bytes every indexed key shares (`common`):
/// keys such as `user:0000012345` agree on their first 8 bytes, and prefixes taken there
/// would all be equal, leaving the search to compare whole keys node by node.
struct SeekIndex {
    lines: Box<[IndexLine]>,
    summary: Vec<Box<[SummaryBlock]>>,
    /// The leading bytes every indexed key shares; entry prefixes are taken after them.
    common: Box<[u8]>,
    /// Entries in use (the last line is padded).
    len: usize,
    /// Versions the list held when the walk began (and ended: see `build_index`).
    covers: usize,
    /// The loom build's stand-in for the index's memory, as a node's `shadow` is for the
    /// node's: marked written by the build, read by every search through the index.
    #[cfg(all(test, loom))]
    shadow: loom::cell::UnsafeCell<()>,
}

/// Entries per line.
const LINE_ENTRIES: usize = 4;

/// Prefixes per summary block.
const BLOCK_PREFIXES: usize = 8;

/// One cache line of the summary: eight prefixes in order, padded with `u64::MAX` (never
/// below a target's prefix, so never counted).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct SummaryBlock([u64; BLOCK_PREFIXES]);

const _: () = assert!(std::mem::size_of::<SummaryBlock>() == 64);

impl SummaryBlock {
    /// How many of the block's prefixes are below `p`.
    #[inline]
    fn count_below(&self, p: u64) -> usize {
        self.0.iter().map(|&x| usize::from(x < p)).sum()
    }
}

/// The summary levels over `firsts` (sorted): level 0 holds them in blocks, each level
/// above holds the first prefix of every block of the one below, up to a single block.
fn summary_levels(firsts: impl Iterator<Item = u64>) -> Vec<Box<[SummaryBlock]>> {
    fn blocks(prefixes: impl Iterator<Item = u64>) -> Box<[SummaryBlock]> {
        let mut out: Vec<SummaryBlock> = Vec::new();
        for (i, p) in prefixes.enumerate() {
            if i % BLOCK_PREFIXES == 0 {
                out.push(SummaryBlock([u64::MAX; BLOCK_PREFIXES]));
            }
            if let Some(b) = out.last_mut() {
                b.0[i % BLOCK_PREFIXES] = p;
            }
        }
        out.into_boxed_slice()
    }
    let mut levels = vec![blocks(firsts)];
    while let Some(below) = levels.last().filter(|l| l.len() > 1) {
        let up = blocks(below.iter().map(|b| b.0[0]));
        levels.push(up);
    }
    levels
}

#[derive(Clone, Copy)]
struct IndexEntry {
    prefix: u64,
    node: NodeRef,
}

/// One cache line of entries.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct IndexLine([IndexEntry; LINE_ENTRIES]);

const _: () = assert!(std::mem::size_of::<IndexLine>() == 64);

/// How many of the prefixes under `summary` (see [`summary_levels`]) are below `p`:
/// down the levels, one block each.
#[inline]
fn summary_rank(summary: &[Box<[SummaryBlock]>], p: u64) -> usize {
    let mut below: Option<usize> = None;
    for level in summary.iter().rev() {
        // `c` blocks of this level start under `p`: all of this level's prefixes under
        // `p` lie in them, the last one possibly only in part.
        below = Some(match below {
            None => level.first().map_or(0, |b| b.count_below(p)),
            Some(0) => return 0,
            Some(c) => (c - 1) * BLOCK_PREFIXES + level[c - 1].count_below(p),
        });
    }
    below.unwrap_or(0)
}

impl SeekIndex {
    /// An index over `len` entries laid out in `lines` (the last one padded).
    fn new(lines: Vec<IndexLine>, common: Box<[u8]>, len: usize, covers: usize) -> Self {
        let index = Self {
            summary: summary_levels(lines.iter().map(|l| l.0[0].prefix)),
            lines: lines.into_boxed_slice(),
            common,
            len,
            covers,
            #[cfg(all(test, loom))]
            shadow: loom::cell::UnsafeCell::new(()),
        };
        #[cfg(all(test, loom))]
        index.shadow.with_mut(|_| ());
        index
    }

    /// The loom build: marks the index's memory read by this thread (nothing in the
    /// ordinary build).
    #[inline(always)]
    fn observe(&self) {
        #[cfg(all(test, loom))]
        self.shadow.with(|_| ());
    }

    #[inline]
    fn entry(&self, i: usize) -> &IndexEntry {
        &self.lines[i / LINE_ENTRIES].0[i % LINE_ENTRIES]
    }

    /// The node of entry `i`, or null past the last.
    #[inline]
    fn node_at(&self, i: usize) -> *const Node {
        self.observe();
        if i < self.len {
            self.entry(i).node.0
        } else {
            ptr::null()
        }
    }

    /// The first index in `lo..hi` where `pred` turns false (`pred` holds on a prefix).
    fn partition(mut lo: usize, mut hi: usize, pred: impl Fn(usize) -> bool) -> usize {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// How many nodes are ordered before `target` (with `inclusive`, not after it).
    fn rank(&self, target: &Target<'_>, inclusive: bool) -> usize {
        self.observe();
        let p = match self.prefix_of(target) {
            Ok(p) => p,
            Err(rank) => return rank,
        };
        // Line j - 1 holds the first prefix not below the target's: the lines before it
        // hold only smaller ones, and line j starts at or above it.
        let j = summary_rank(&self.summary, p);
        let line = j.saturating_sub(1);
        let below = self
            .lines
            .get(line)
            .map_or(0, |l| l.0.iter().filter(|e| e.prefix < p).count());
        let lo = (line * LINE_ENTRIES + below).min(self.len);
        // Nodes sharing the target's prefix are told apart by their keys (rare for
        // random keys; for keys with a common 8-byte prefix, a search among them).
        if lo == self.len || self.entry(lo).prefix != p {
            return lo;
        }
        let ties_end = self.ties_end(lo, p);
        Self::partition(lo, ties_end, |i| {
            target.has_before(self.entry(i).node.0, inclusive)
        })
    }

    /// The end of the run of entries from `lo` whose prefix is `p` (entry `lo`'s is):
    /// runs are short (the versions of one key), so probe 1, 2, 4, ... ahead first
    /// rather than bisecting the whole rest of the index.
    fn ties_end(&self, lo: usize, p: u64) -> usize {
        let (mut known, mut step) = (lo, 1);
        loop {
            let probe = lo.saturating_add(step);
            if probe >= self.len || self.entry(probe).prefix != p {
                let end = probe.min(self.len);
                return Self::partition(known + 1, end, |i| self.entry(i).prefix == p);
            }
            known = probe;
            step *= 2;
        }
    }

    /// The index prefix of `target`'s key (its 8 bytes after the common ones), or, when
    /// the key does not start with the common bytes, its rank: before every entry or after
    /// them all.
    #[inline]
    fn prefix_of(&self, target: &Target<'_>) -> Result<u64, usize> {
        let skip = self.common.len();
        if skip == 0 {
            // No shared bytes: the target's own prefix is the index prefix.
            return Ok(target.prefix);
        }
        let key = target.key;
        let n = key.len().min(skip);
        match key[..n].cmp(&self.common[..n]) {
            Ordering::Less => Err(0),
            Ordering::Greater => Err(self.len),
            // A key that is a proper prefix of the common bytes sorts before every entry.
            Ordering::Equal if n < skip => Err(0),
            Ordering::Equal => Ok(key_prefix(&key[skip..])),
        }
    }

    /// True when over a quarter of a list of `len` versions is newer than the index.
    fn is_stale_for(&self, len: usize) -> bool {
        self.observe();
        (len - self.covers.min(len)) * 4 > self.covers
    }

    /// True when the index holds exactly the versions of a list of `len` versions.
    fn is_exact_for(&self, len: usize) -> bool {
        self.observe();
        self.covers == len && self.len == len
    }

    fn memory_bytes(&self) -> usize {
        self.observe();
        self.lines.len() * std::mem::size_of::<IndexLine>()
            + self
                .summary
                .iter()
                .map(|l| l.len() * std::mem::size_of::<SummaryBlock>())
                .sum::<usize>()
            + self.common.len()
    }
}

// SAFETY: the raw pointers point into arena chunks owned by the list; nodes are
// immutable once linked except for their atomic links, and the writer state is behind a
// mutex, so sharing the list between threads is sound.
unsafe impl Send for SkipList {}
// SAFETY: as above.
unsafe impl Sync for SkipList {}

impl Default for SkipList {
    fn default() -> Self {
        Self::new()
    }
}

impl SkipList {
    /// An empty list that asks for a seek index from [`INDEX_MIN_LEN`] versions.
    pub fn new() -> Self {
        Self::with_index_min_len(INDEX_MIN_LEN)
    }

    /// An empty list that asks for a seek index once it holds `index_min_len` versions
    /// (at least 1).
    pub fn with_index_min_len(index_min_len: usize) -> Self {
        let mut arena = Arena::new();
        let head_words = (HEADER + SLOT * MAX_HEIGHT) / 8;
        let head = arena.alloc(head_words).cast::<Node>();
        // SAFETY: `head` is fresh, zeroed, aligned arena memory large enough for a header
        // and a full tower; zero bytes are null links and an empty key.
        unsafe {
            ptr::addr_of_mut!((*head).height).write(MAX_HEIGHT as u32);
            #[cfg(all(test, loom))]
            ptr::addr_of_mut!((*head).shadow).write(loom::cell::UnsafeCell::new(()));
            node::init_tower(head, MAX_HEIGHT);
        }
        Self {
            head,
            writer: Mutex::new(Writer {
                arena,
                values: Arena::new(),
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
            height: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            index: IndexSlot::empty(),
            index_wanted: AtomicBool::new(false),
            index_waker: OnceLock::new(),
            quiet_len: AtomicUsize::new(0),
            index_min_len: index_min_len.max(1),
        }
    }

    /// Sets what the list calls when a search wants a seek index built (once per list;
    /// later calls are ignored). The waker must not block: it should only schedule
    /// [`build_index_if_wanted`](Self::build_index_if_wanted) on another thread.
    pub fn set_index_waker(&self, waker: IndexWaker) {
        let _ = self.index_waker.set(waker);
    }

    /// Builds a new seek index if a search asked for one and the list still needs it.
    /// Returns whether it built. The walk is one pass over the bottom level; inserts may
    /// go on meanwhile (nodes linked during the walk may or may not be indexed, which
    /// only affects how far a search walks). `give_way` is asked every few thousand
    /// nodes; when it says so the build is dropped, and the next search asks again.
    pub fn build_index_if_wanted(&self, give_way: &dyn Fn() -> bool) -> bool {
        if !self.index_wanted.swap(false, AtomicOrdering::AcqRel) || !self.index_is_stale() {
            return false;
        }
        self.build_index(give_way)
    }

    /// Rebuilds the index when it is not exact (inserts raced its build, or came after)
    /// and the list has not grown since the previous call: inserts have paused, so a
    /// build now is exact and searches need no walk. The owner calls this now and then
    /// (the engine: every idle tick of its flush thread).
    pub fn refresh_index_if_quiet(&self, give_way: &dyn Fn() -> bool) -> bool {
        let len = self.len();
        let seen = self.quiet_len.swap(len, AtomicOrdering::Relaxed);
        let inexact = self
            .index
            .load()
            .as_ref()
            .is_some_and(|x| !x.is_exact_for(len));
        inexact && seen == len && self.build_index(give_way)
    }

    /// Builds a new seek index now (unless `give_way` says to stop); returns whether it
    /// did. When no insert landed during the walk (the length is the same before and
    /// after, and matches the nodes walked) the index is exact: while the list stays that
    /// long, a search needs no node but the one it returns.
    pub fn build_index(&self, give_way: &dyn Fn() -> bool) -> bool {
        let before = self.len();
        // Padding: never below a target's prefix, so never counted or reached.
        let pad = IndexEntry {
            prefix: u64::MAX,
            node: NodeRef(ptr::null()),
        };
        let mut lines: Vec<IndexLine> = Vec::with_capacity(before.div_ceil(LINE_ENTRIES) + 1);
        let mut len = 0usize;
        let mut at = self.first();
        while let Some(n) = at {
            if len % 4096 == 4095 && give_way() {
                return false;
            }
            if len.is_multiple_of(LINE_ENTRIES) {
                lines.push(IndexLine([pad; LINE_ENTRIES]));
            }
            if let Some(line) = lines.last_mut() {
                line.0[len % LINE_ENTRIES] = IndexEntry {
                    prefix: n.prefix(),
                    node: n,
                };
            }
            len += 1;
            // SAFETY: `n` is a linked node of this list.
            at = self.non_head(unsafe { node::next(n.0, 0) });
        }
        // Nodes linked during the walk may be in the index or not; either way it covers
        // at least `before` versions, and is exact only when nothing moved.
        let common = Self::share_common_prefix(&mut lines, len);
        let covers = if self.len() == before && len == before {
            before
        } else {
            before.min(len).saturating_sub(1)
        };
        // (The loom build's index holds a loom cell, which is not `Sync`: loom's threads
        // share it by design.)
        #[cfg_attr(all(test, loom), allow(clippy::arc_with_non_send_sync))]
        self.index
            .store(Some(Arc::new(SeekIndex::new(lines, common, len, covers))));
        true
    }

    /// The bytes every key of the `len` entries in `lines` starts with; when there are
    /// some, retakes each entry's prefix after them. The entries are in key order, so the
    /// first and last keys share what all of them share.
    fn share_common_prefix(lines: &mut [IndexLine], len: usize) -> Box<[u8]> {
        let entry = |i: usize| lines[i / LINE_ENTRIES].0[i % LINE_ENTRIES];
        if len < 2 {
            return Box::default();
        }
        let (first, last) = (entry(0).node, entry(len - 1).node);
        let (a, b) = (first.key(), last.key());
        let skip = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        if skip == 0 {
            return Box::default();
        }
        for e in lines.iter_mut().flat_map(|l| l.0.iter_mut()).take(len) {
            e.prefix = key_prefix(&e.node.key()[skip..]);
        }
        a[..skip].into()
    }

    /// Bytes the seek index takes (outside the arenas).
    pub fn index_memory_bytes(&self) -> usize {
        self.index.load().as_ref().map_or(0, |x| x.memory_bytes())
    }

    /// True when the list is large enough to want an index and has none, or one that a
    /// quarter of the list is newer than.
    fn index_is_stale(&self) -> bool {
        let len = self.len();
        len >= self.index_min_len
            && self
                .index
                .load()
                .as_ref()
                .is_none_or(|x| x.is_stale_for(len))
    }

    /// Raises the request for an index (once until the next build takes it).
    fn want_index(&self) {
        if !self.index_wanted.load(AtomicOrdering::Relaxed)
            && !self.index_wanted.swap(true, AtomicOrdering::AcqRel)
        {
            if let Some(wake) = self.index_waker.get() {
                wake();
            }
        }
    }

    /// Number of versions held.
    pub fn len(&self) -> usize {
        self.len.load(AtomicOrdering::Acquire)
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Arena bytes taken by nodes (the arena reserves at most one chunk more).
    pub fn memory_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// Inserts one version. Versions are expected to be unique by (key, sequence).
    pub fn insert(&self, key: &[u8], seq: u64, value: Option<&[u8]>) {
        let mut w = self.writer.lock();
        let mut splice = [self.head; MAX_HEIGHT];
        self.insert_at(&mut w, &mut splice, key, seq, value);
    }

    /// Inserts versions given in list order (key ascending, then sequence descending).
    /// Each search starts where the previous insert ended instead of at the head, so a
    /// large sorted batch costs a few steps per version and writes its nodes next to
    /// each other in the arena.
    pub fn insert_sorted<'a>(&self, versions: impl IntoIterator<Item = super::VersionRef<'a>>) {
        let mut w = self.writer.lock();
        let mut splice = [self.head; MAX_HEIGHT];
        for (key, seq, value) in versions {
            self.insert_at(&mut w, &mut splice, key, seq, value);
        }
    }

    /// Inserts one version. `splice` holds, per level, a node ordered before the new
    /// version (or the head); the search at each level starts there, and on return it
    /// holds the new node's predecessors, or the new node itself where it was linked.
    fn insert_at(
        &self,
        w: &mut Writer,
        splice: &mut [*const Node; MAX_HEIGHT],
        key: &[u8],
        seq: u64,
        value: Option<&[u8]>,
    ) {
        let target = Target::new(key, seq);
        // Keys and values are bounded far below 4 GiB by the configuration limits.
        let stored_value = value.map_or(0, |v| v.len().min(TOMBSTONE as usize - 1));
        let value_len = if value.is_some() {
            stored_value as u32
        } else {
            TOMBSTONE
        };
        let key_len = key.len().min(u32::MAX as usize);
        let height = w.random_height();
        let mut above = self.head;
        // Levels above both the list's height and the new node's hold only the head.
        let top = self.height.load(AtomicOrdering::Relaxed).max(height);
        for (level, start) in splice.iter_mut().enumerate().take(top).rev() {
            // Start from the previous insert's predecessor when it still sorts before
            // this version and lies beyond where the level above ended; else from there
            // (as a plain search does).
            let mut x = above;
            if *start != self.head
                && *start != above
                && target.node_vs(*start) == Ordering::Less
                && (above == self.head
                    || Target::of_node(above).node_vs(*start) == Ordering::Greater)
            {
                x = *start;
            }
            loop {
                // SAFETY: `x` is the head or a linked node that was reached at this
                // level, so its tower has a slot for it.
                let n = unsafe { node::next(x, level) };
                if level > 0 {
                    // As in `search`: the node one level down, in case `n` is past.
                    // SAFETY: `x` is tall enough for `level`, so for `level - 1` too.
                    super::prefetch::prefetch_ptr(unsafe { node::next(x, level - 1) });
                }
                if !n.is_null() && target.node_vs(n) == Ordering::Less {
                    x = n;
                } else {
                    break;
                }
            }
            *start = x;
            above = x;
        }
        let words = (HEADER + SLOT * height + key_len).div_ceil(8);
        let value_words = stored_value.div_ceil(8).max(1);
        let value_at: *const u8 = match value {
            Some(v) => {
                let at = w.values.alloc(value_words).cast::<u8>();
                // SAFETY: `at` is fresh arena memory of at least `stored_value` bytes,
                // seen by nobody until the node pointing to it is linked.
                unsafe { ptr::copy_nonoverlapping(v.as_ptr(), at, stored_value) };
                at
            }
            None => ptr::null(),
        };
        let n = w.arena.alloc(words).cast::<Node>();
        // SAFETY: `n` is fresh, zeroed, aligned arena memory of `words` words: room for
        // the header, a tower of `height` links and the key. Nobody else can see it until
        // it is linked below.
        unsafe {
            n.write(Node {
                prefix: target.prefix,
                seq,
                key_len: key_len as u32,
                value_len,
                height: height as u32,
                _pad: 0,
                value: value_at,
                #[cfg(all(test, loom))]
                shadow: loom::cell::UnsafeCell::new(()),
            });
            node::init_tower(n, height);
            let data = n.cast::<u8>().add(HEADER + SLOT * height);
            ptr::copy_nonoverlapping(key.as_ptr(), data, key_len);
            for (level, p) in splice.iter().enumerate().take(height) {
                (*node::link(n, level)).store(node::next(*p, level), AtomicOrdering::Relaxed);
            }
            node::written(n);
            // Publish bottom-up: once linked at level 0 the node is fully visible.
            for (level, p) in splice.iter().enumerate().take(height) {
                (*node::link(*p, level)).store(n, AtomicOrdering::Release);
            }
        }
        for p in splice.iter_mut().take(height) {
            *p = n;
        }
        if height > self.height.load(AtomicOrdering::Relaxed) {
            self.height.store(height, AtomicOrdering::Release);
        }
        let value_bytes = if value.is_some() { value_words * 8 } else { 0 };
        self.bytes
            .fetch_add(words * 8 + value_bytes, AtomicOrdering::Relaxed);
        self.len.fetch_add(1, AtomicOrdering::Release);
    }

    /// The last node ordered before `target` (`head` when none is), or with `inclusive`
    /// the last node not after it; and the successor at level 0 that the search saw
    /// there. The successor must be taken from the search itself: loading the link
    /// again could return a node a writer linked in between, which lies before `target`.
    fn search(&self, target: &Target<'_>, inclusive: bool) -> (*const Node, *const Node) {
        if self.len.load(AtomicOrdering::Relaxed) >= self.index_min_len {
            if let Some(found) = self.search_indexed(target, inclusive) {
                return found;
            }
        }
        self.search_from_head(target, inclusive)
    }

    /// [`search`](Self::search) through the seek index: `None` when there is no index, or
    /// when versions inserted since its build make the walk from its entry too long.
    fn search_indexed(
        &self,
        target: &Target<'_>,
        inclusive: bool,
    ) -> Option<(*const Node, *const Node)> {
        let guard = self.index.load();
        let Some(index) = guard.as_ref() else {
            self.want_index();
            return None;
        };
        // A reader whose snapshot includes a version inserted after the build loaded that
        // snapshot after the insert returned, so it sees the longer length here.
        let len = self.len.load(AtomicOrdering::Acquire);
        let rank = index.rank(target, inclusive);
        let mut x = rank.checked_sub(1).map_or(self.head, |i| index.node_at(i));
        if index.is_exact_for(len) {
            let after = index.node_at(rank);
            // The caller reads the node it asked for next, usually after seeking other
            // sources: start loading it now.
            super::prefetch::prefetch_ptr(if inclusive { x } else { after });
            return Some((x, after));
        }
        if index.is_stale_for(len) {
            self.want_index();
        }
        // Versions inserted since the build lie between entries: walk over them.
        for _ in 0..INDEX_WALK_LIMIT {
            // SAFETY: `x` is the head or a linked node; every node has level 0.
            let n = unsafe { node::next(x, 0) };
            if n.is_null() {
                return Some((x, n));
            }
            if !target.has_before(n, inclusive) {
                return Some((x, n));
            }
            x = n;
        }
        // Many versions landed in one gap (keys written in order do): a new index
        // spreads them out.
        self.want_index();
        None
    }

    /// [`search`](Self::search) down the towers from the head.
    fn search_from_head(&self, target: &Target<'_>, inclusive: bool) -> (*const Node, *const Node) {
        let mut x = self.head;
        let mut after: *const Node = ptr::null();
        let top = self
            .height
            .load(AtomicOrdering::Acquire)
            .clamp(1, MAX_HEIGHT);
        for level in (0..top).rev() {
            loop {
                // SAFETY: `x` is the head or a linked node tall enough for `level`.
                let n = unsafe { node::next(x, level) };
                if n.is_null() {
                    after = n;
                    break;
                }
                if level > 0 {
                    // Should `n` be past the target, the search goes on from `x` one level
                    // down: load that node while `n` is compared.
                    // SAFETY: `x` is tall enough for `level`, so for `level - 1` too.
                    super::prefetch::prefetch_ptr(unsafe { node::next(x, level - 1) });
                }
                if target.has_before(n, inclusive) {
                    x = n;
                } else {
                    after = n;
                    break;
                }
            }
        }
        (x, after)
    }

    /// Fills `out` with the versions just before `target`, in order (a few dozen at most on
    /// average): a run of an exact seek index's entries, or else a search down the towers
    /// that stops at level [`REVERSE_CHUNK_LEVEL`], then a walk along level 0 up to the
    /// target. A cursor walking backwards pays one
    /// such partial search per chunk instead of a full search per step. Versions inserted
    /// after the fill are not in it: they are newer than any snapshot the cursor serves.
    fn fill_before(&self, target: &Target<'_>, out: &mut Vec<NodeRef>) {
        out.clear();
        // A seek index holding every version is the list in order: the chunk is a run of
        // its entries.
        if self.len.load(AtomicOrdering::Relaxed) >= self.index_min_len {
            let guard = self.index.load();
            if let Some(index) = guard.as_ref() {
                if index.is_exact_for(self.len.load(AtomicOrdering::Acquire)) {
                    let rank = index.rank(target, false);
                    let from = rank.saturating_sub(REVERSE_INDEX_CHUNK);
                    out.extend((from..rank).map(|i| NodeRef(index.node_at(i))));
                    return;
                }
            }
        }
        let mut x = self.head;
        let top = self
            .height
            .load(AtomicOrdering::Acquire)
            .clamp(1, MAX_HEIGHT);
        for level in (REVERSE_CHUNK_LEVEL.min(top)..top).rev() {
            loop {
                // SAFETY: `x` is the head or a linked node tall enough for `level`.
                let n = unsafe { node::next(x, level) };
                if n.is_null() || !target.has_before(n, false) {
                    break;
                }
                x = n;
            }
        }
        if x != self.head {
            out.push(NodeRef(x));
        }
        loop {
            // SAFETY: `x` is the head or a linked node; every node has level 0.
            let n = unsafe { node::next(x, 0) };
            if n.is_null() || !target.has_before(n, false) {
                break;
            }
            out.push(NodeRef(n));
            x = n;
        }
    }

    fn non_head(&self, n: *const Node) -> Option<NodeRef> {
        (!n.is_null() && n != self.head).then_some(NodeRef(n))
    }

    /// The first version at or after `(key, seq)`.
    fn seek(&self, key: &[u8], seq: u64) -> Option<NodeRef> {
        self.non_head(self.search(&Target::new(key, seq), false).1)
    }

    /// The last version at or before `(key, seq)`.
    fn seek_for_prev(&self, key: &[u8], seq: u64) -> Option<NodeRef> {
        self.non_head(self.search(&Target::new(key, seq), true).0)
    }

    fn first(&self) -> Option<NodeRef> {
        // SAFETY: the head's tower is full height.
        self.non_head(unsafe { node::next(self.head, 0) })
    }

    fn last(&self) -> Option<NodeRef> {
        let mut x = self.head;
        for level in (0..MAX_HEIGHT).rev() {
            loop {
                // SAFETY: `x` is the head or a linked node tall enough for `level`.
                let n = unsafe { node::next(x, level) };
                if n.is_null() {
                    break;
                }
                x = n;
            }
        }
        self.non_head(x)
    }

    /// Node `n`'s key, seq and value, borrowed for as long as the list.
    fn parts(&self, n: NodeRef) -> super::VersionRef<'_> {
        // SAFETY: `n` was made by this list (only this module makes `NodeRef`s, from the
        // list whose methods it then passes them to), and the list outlives the borrow.
        unsafe { (node::key(n.0), node::seq(n.0), node::value(n.0)) }
    }

    /// The newest version of `key` at or below `snapshot`: `(seq, value)`.
    pub fn get(&self, key: &[u8], snapshot: u64) -> Option<(u64, Option<&[u8]>)> {
        let (found, seq, value) = self.parts(self.seek(key, snapshot)?);
        (found == key).then_some((seq, value))
    }

    /// Every version in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64, Option<&[u8]>)> + '_ {
        let mut at = self.first();
        std::iter::from_fn(move || {
            let n = at?;
            // SAFETY: `n` is a linked node of this list, which `self` keeps alive.
            at = self.non_head(unsafe { node::next(n.0, 0) });
            Some(self.parts(n))
        })
    }
}

impl Writer {
    fn random_height(&mut self) -> usize {
        // xorshift64*: cheap, and quality is ample for tower heights.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let mut r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let mut height = 1;
        while height < MAX_HEIGHT && r & 3 == 0 {
            height += 1;
            r >>= 2;
        }
        height
    }
}

/// A pointer to a linked node. Only made by the list, for nodes it has linked; only
/// dereferenced while the list that owns the node is alive (the holder keeps it alive).
#[derive(Clone, Copy, PartialEq, Eq)]
struct NodeRef(*const Node);

// SAFETY: a linked node is immutable apart from its atomic links.
unsafe impl Send for NodeRef {}
// SAFETY: as above.
unsafe impl Sync for NodeRef {}

impl NodeRef {
    fn key(&self) -> &[u8] {
        // SAFETY: see the type's contract.
        unsafe { node::key(self.0) }
    }
    fn seq(&self) -> u64 {
        // SAFETY: see the type's contract.
        unsafe { node::seq(self.0) }
    }
    fn prefix(&self) -> u64 {
        // SAFETY: see the type's contract.
        unsafe { node::prefix(self.0) }
    }
    fn value(&self) -> Option<&[u8]> {
        // SAFETY: see the type's contract.
        unsafe { node::value(self.0) }
    }
}

/// A two-way cursor over a shared list. It keeps the list alive, so its position (a
/// pointer to a node) stays valid for as long as the cursor exists.
pub struct SkipCursor {
    list: Arc<SkipList>,
    at: Option<NodeRef>,
    /// While walking backwards: the versions before `at`, in order (the next `prev` pops
    /// the last). Emptied by every other move.
    behind: Vec<NodeRef>,
}

impl SkipCursor {
    /// A cursor over `list`, not yet positioned.
    pub fn new(list: Arc<SkipList>) -> Self {
        Self {
            list,
            at: None,
            behind: Vec::new(),
        }
    }

    /// True while positioned on a version.
    #[inline]
    pub fn valid(&self) -> bool {
        self.at.is_some()
    }

    /// The current version.
    #[inline]
    pub fn current(&self) -> Option<Current<'_>> {
        let n = self.at.as_ref()?;
        Some(Current {
            key: n.key(),
            seq: n.seq(),
            value: n.value(),
            prefix: n.prefix(),
        })
    }

    /// Positions at the first version at or after `(key, seq)`.
    pub fn seek(&mut self, key: &[u8], seq: u64) {
        self.behind.clear();
        self.at = self.list.seek(key, seq);
    }

    /// Positions at the last version at or before `(key, seq)`.
    pub fn seek_for_prev(&mut self, key: &[u8], seq: u64) {
        self.behind.clear();
        self.at = self.list.seek_for_prev(key, seq);
    }

    /// Positions at the first version.
    pub fn seek_to_first(&mut self) {
        self.behind.clear();
        self.at = self.list.first();
    }

    /// Positions at the last version.
    pub fn seek_to_last(&mut self) {
        self.behind.clear();
        self.at = self.list.last();
    }

    /// Moves to the following version.
    #[inline]
    pub fn next(&mut self) {
        self.behind.clear();
        if let Some(n) = self.at {
            // SAFETY: `n` is a linked node of `self.list`, which the cursor keeps alive.
            self.at = self.list.non_head(unsafe { node::next(n.0, 0) });
        }
    }

    /// Moves to the preceding version. Nodes have no back links: the versions before the
    /// current one are found a chunk at a time (see [`SkipList::fill_before`]) and handed
    /// out from the chunk until it runs dry.
    pub fn prev(&mut self) {
        let Some(n) = self.at else {
            return;
        };
        if self.behind.is_empty() {
            let target = Target::new(n.key(), n.seq());
            self.list.fill_before(&target, &mut self.behind);
        }
        self.at = self.behind.pop();
    }
}

#[cfg(all(test, loom))]
mod loom_tests;

// The ordinary tests run real threads; the loom build (`loom_tests`) would need each of
// them inside a model.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn model_key(k: &[u8], seq: u64) -> (Vec<u8>, std::cmp::Reverse<u64>) {
        (k.to_vec(), std::cmp::Reverse(seq))
    }

    /// Keys that often share their 8-byte prefix (so the index must tell ties apart by key),
    /// with several versions each.
    fn tie_heavy_key(i: u64) -> Vec<u8> {
        let group = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 700;
        let mut k = format!("prefix{:02}", group % 7).into_bytes();
        k.extend_from_slice(&(group / 7).to_be_bytes()[5..]);
        k
    }

    type Model = BTreeMap<(Vec<u8>, std::cmp::Reverse<u64>), Option<Vec<u8>>>;

    /// Every way a search is used agrees with the model, for targets that fall on, between,
    /// before and after the stored versions.
    fn check_searches(list: &Arc<SkipList>, model: &Model, rounds: u64) {
        for i in 0..rounds {
            let mut key = tie_heavy_key(i * 7 + 3);
            if i % 3 == 1 {
                key.push(0); // between stored keys
            }
            if i % 11 == 0 {
                key = vec![0xff; (i % 4) as usize + 1]; // past the end, or a short key
            }
            let seq = [0, 1, 50, u64::MAX][(i % 4) as usize];
            let t = model_key(&key, seq);
            let want = model.range(t.clone()..).next().map(|(k, _)| k.clone());
            let got = list.seek(&key, seq).map(|n| model_key(n.key(), n.seq()));
            assert_eq!(got, want, "seek {key:?} {seq}");
            let want = model.range(..=t).next_back().map(|(k, _)| k.clone());
            let got = list
                .seek_for_prev(&key, seq)
                .map(|n| model_key(n.key(), n.seq()));
            assert_eq!(got, want, "seek_for_prev {key:?} {seq}");
        }
        // A cursor steps back through searches too.
        let mut c = SkipCursor::new(Arc::clone(list));
        c.seek_to_last();
        let mut back = Vec::new();
        while let Some(n) = c.current() {
            back.push(model_key(n.key, n.seq));
            c.prev();
        }
        back.reverse();
        assert_eq!(back, model.keys().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn a_cursor_turning_back_and_forth_agrees_with_the_model_while_writes_go_on() {
        let list = Arc::new(SkipList::new());
        let mut model = Model::new();
        for i in 0..(INDEX_MIN_LEN as u64 + 3_000) {
            let key = tie_heavy_key(i);
            list.insert(&key, i + 1, Some(&key));
            model.insert(model_key(&key, i + 1), Some(key));
        }
        // Exact at first (chunks come from the index), stale once the newer versions
        // below arrive (chunks come from the towers).
        list.want_index();
        assert!(list.build_index_if_wanted(&|| false));
        let keys: Vec<_> = model.keys().cloned().collect();
        let mut c = SkipCursor::new(Arc::clone(&list));
        let mut pos: Option<usize> = Some(keys.len() - 1);
        c.seek_to_last();
        let mut rng = 0x1234_5678_9abc_def0u64;
        for step in 0..20_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Mostly backwards (runs through whole chunks), sometimes a turn or a seek.
            // A reader skips the versions newer than its snapshot (seq 1,000,000 and up).
            let newer = |c: &SkipCursor| c.current().is_some_and(|n| n.seq >= 1_000_000);
            match rng % 16 {
                0 => {
                    c.next();
                    while newer(&c) {
                        c.next();
                    }
                    pos = pos.and_then(|p| (p + 1 < keys.len()).then_some(p + 1));
                }
                1 => {
                    let p = (rng >> 8) as usize % keys.len();
                    c.seek(&keys[p].0, keys[p].1 .0);
                    pos = Some(p);
                }
                _ => {
                    c.prev();
                    while newer(&c) {
                        c.prev();
                    }
                    pos = pos.and_then(|p| p.checked_sub(1));
                }
            }
            if pos.is_none() {
                assert!(c.current().is_none(), "step {step}");
                c.seek_to_last();
                pos = Some(keys.len() - 1);
            }
            let got = c.current().map(|n| model_key(n.key, n.seq));
            assert_eq!(got.as_ref(), pos.map(|p| &keys[p]), "step {step}");
            // Newer versions land between the ones the walk hands out: a chunk filled
            // before them goes on without them, one filled after has them (skipped).
            if step % 7 == 0 {
                let key = tie_heavy_key(step);
                list.insert(&key, 1_000_000 + step, Some(b"newer"));
            }
        }
    }

    #[test]
    fn the_seek_index_answers_as_the_towers_do_fresh_stale_and_rebuilt() {
        let list = Arc::new(SkipList::new());
        let mut model = Model::new();
        fn insert(list: &SkipList, model: &mut Model, i: u64, seq: u64) {
            let key = tie_heavy_key(i);
            let value = (!i.is_multiple_of(5)).then(|| key.clone());
            list.insert(&key, seq, value.as_deref());
            model.insert(model_key(&key, seq), value);
        }
        let mut seq = 1;
        while list.len() < INDEX_MIN_LEN + 500 {
            insert(&list, &mut model, seq % 2000, seq);
            seq += 1;
        }
        // No index yet: searches ask for one, and answer from the towers meanwhile.
        assert!(list.index_is_stale());
        check_searches(&list, &model, 400);
        assert!(list.index_wanted.load(AtomicOrdering::Relaxed));
        assert!(list.build_index_if_wanted(&|| false));
        assert!(
            !list.build_index_if_wanted(&|| false),
            "the request was taken"
        );
        assert!(list.index_memory_bytes() >= list.len() * 16);
        let index = list.index.load_full().expect("index");
        assert_eq!(index.covers, list.len(), "nothing moved: exact");
        // Exact: the answer comes from the index alone.
        check_searches(&list, &model, 3000);
        // Stale: versions between entries are walked over, including a run of 100 into
        // one gap (longer than the walk limit: the search falls back to the towers).
        for j in 0..100u64 {
            let mut key = tie_heavy_key(5);
            key.extend_from_slice(&j.to_be_bytes());
            list.insert(&key, seq, Some(b"gap"));
            model.insert(model_key(&key, seq), Some(b"gap".to_vec()));
            seq += 1;
        }
        for _ in 0..300 {
            insert(&list, &mut model, seq % 3000, seq);
            seq += 1;
        }
        check_searches(&list, &model, 3000);
        assert!(!list.index_is_stale(), "under a quarter is new");
        while list.len() < index.covers * 5 / 4 + 10 {
            insert(&list, &mut model, seq % 5000, seq);
            seq += 1;
        }
        assert!(list.index_is_stale());
        check_searches(&list, &model, 500);
        assert!(
            list.build_index_if_wanted(&|| false),
            "a stale index is rebuilt on request"
        );
        check_searches(&list, &model, 3000);
    }

    #[test]
    fn the_summary_tree_ranks_as_a_binary_search_does() {
        let mut rng = 7u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for len in [
            0usize, 1, 2, 7, 8, 9, 63, 64, 65, 511, 512, 513, 4097, 20_000,
        ] {
            // Few distinct values, so runs of equal prefixes cross block edges; and the
            // ends of the range, including the padding value itself.
            let spread = if len % 2 == 0 { 50 } else { u64::MAX };
            let mut firsts: Vec<u64> = (0..len).map(|_| next() % spread).collect();
            if len > 3 {
                firsts[0] = 0;
                firsts[len - 1] = u64::MAX;
            }
            firsts.sort_unstable();
            let levels = summary_levels(firsts.iter().copied());
            assert_eq!(levels.last().map(|l| l.len()), Some(usize::from(len > 0)));
            let mut targets: Vec<u64> = firsts
                .iter()
                .flat_map(|&x| [x, x.wrapping_add(1)])
                .collect();
            targets.extend([0, 1, u64::MAX, u64::MAX - 1, 25, 49, 50]);
            targets.extend((0..200).map(|_| next()));
            for p in targets {
                let want = firsts.partition_point(|&x| x < p);
                assert_eq!(summary_rank(&levels, p), want, "len {len} p {p}");
            }
        }
    }

    #[test]
    fn keys_sharing_long_leading_bytes_are_indexed_after_them() {
        // Keys like `key0000001234`: their first 9 bytes are the same, so the index takes
        // its prefixes after those, and targets outside them rank before or after all.
        let list = Arc::new(SkipList::new());
        let mut model = Model::new();
        let key = |i: u64| format!("key{i:010}").into_bytes();
        for seq in 1..=(INDEX_MIN_LEN as u64 + 1000) {
            let k = key((seq * 7919) % 3000);
            list.insert(&k, seq, Some(&k));
            model.insert(model_key(&k, seq), Some(k.clone()));
        }
        assert!(list.build_index(&|| false));
        let index = list.index.load_full().expect("index");
        assert_eq!(&*index.common, b"key000000");
        let distinct: std::collections::BTreeSet<u64> =
            (0..index.len).map(|i| index.entry(i).prefix).collect();
        assert_eq!(distinct.len(), 3000, "one prefix per key");
        let mut targets: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            b"key".to_vec(),
            b"key000000".to_vec(),
            b"key0000000".to_vec(),
            b"key00000009".to_vec(),
            b"key0000003".to_vec(),
            b"key1".to_vec(),
            b"kez".to_vec(),
            vec![0xff; 20],
        ];
        for i in (0..3100).step_by(37) {
            targets.push(key(i));
            let mut between = key(i);
            between.push(0);
            targets.push(between);
        }
        for t in &targets {
            for seq in [0, 1, 2000, u64::MAX] {
                let m = model_key(t, seq);
                let want = model.range(m.clone()..).next().map(|(k, _)| k.clone());
                let got = list.seek(t, seq).map(|n| model_key(n.key(), n.seq()));
                assert_eq!(got, want, "seek {t:?} {seq}");
                let want = model.range(..=m).next_back().map(|(k, _)| k.clone());
                let got = list
                    .seek_for_prev(t, seq)
                    .map(|n| model_key(n.key(), n.seq()));
                assert_eq!(got, want, "seek_for_prev {t:?} {seq}");
            }
        }
        // Keys outside the common bytes inserted after the build are walked over or
        // found by a rebuild whose common bytes shrink.
        for (j, k) in [b"a".to_vec(), b"kez".to_vec(), b"key1".to_vec()]
            .iter()
            .enumerate()
        {
            let seq = 100_000 + j as u64;
            list.insert(k, seq, Some(k));
            model.insert(model_key(k, seq), Some(k.clone()));
        }
        check_searches(&list, &model, 50);
        assert!(list.build_index(&|| false));
        assert!(list.index.load_full().expect("index").common.is_empty());
        for t in &targets {
            let m = model_key(t, u64::MAX);
            let want = model.range(m..).next().map(|(k, _)| k.clone());
            let got = list.seek(t, u64::MAX).map(|n| model_key(n.key(), n.seq()));
            assert_eq!(got, want, "seek {t:?} after the rebuild");
        }
    }

    #[test]
    fn small_lists_never_ask_for_an_index_and_the_waker_is_called_once_per_request() {
        let calls = Arc::new(AtomicUsize::new(0));
        let list = SkipList::new();
        let c = Arc::clone(&calls);
        list.set_index_waker(Box::new(move || {
            c.fetch_add(1, AtomicOrdering::Relaxed);
        }));
        for i in 0..(INDEX_MIN_LEN as u64 - 1) {
            list.insert(&i.to_be_bytes(), i + 1, Some(b"v"));
        }
        for i in 0..100u64 {
            assert!(list.get(&i.to_be_bytes(), u64::MAX).is_some());
        }
        assert_eq!(calls.load(AtomicOrdering::Relaxed), 0);
        assert!(!list.build_index_if_wanted(&|| false));
        list.insert(b"one more", 1 << 40, None);
        for i in 0..100u64 {
            assert!(list.get(&i.to_be_bytes(), u64::MAX).is_some());
        }
        assert_eq!(
            calls.load(AtomicOrdering::Relaxed),
            1,
            "one wake per request"
        );
        assert!(list.build_index_if_wanted(&|| false));
        for i in 0..100u64 {
            assert!(list.get(&i.to_be_bytes(), u64::MAX).is_some());
        }
        assert_eq!(
            calls.load(AtomicOrdering::Relaxed),
            1,
            "a fresh index asks nothing"
        );
        // 1024 lines of 64 bytes; the summary of their 1024 first prefixes in blocks of 8
        // (128, then 16, 2 and 1 blocks of 64 bytes); no shared leading bytes ("one more"
        // starts with 'o').
        assert_eq!(
            list.index_memory_bytes(),
            1024 * 64 + (128 + 16 + 2 + 1) * 64
        );
    }

    #[test]
    fn an_index_that_missed_inserts_is_rebuilt_once_they_pause_and_a_build_gives_way() {
        let list = SkipList::new();
        for i in 0..5000u64 {
            list.insert(&i.to_be_bytes(), i + 1, Some(b"v"));
        }
        assert!(!list.build_index(&|| true), "gave way");
        assert_eq!(list.index_memory_bytes(), 0);
        assert!(list.build_index(&|| false));
        let exact = |l: &SkipList| {
            l.index
                .load()
                .as_ref()
                .is_some_and(|x| x.is_exact_for(l.len()))
        };
        assert!(exact(&list));
        assert!(
            !list.refresh_index_if_quiet(&|| false),
            "exact: nothing to do"
        );
        list.insert(b"late", 1 << 20, Some(b"v"));
        assert!(!exact(&list));
        assert!(
            !list.refresh_index_if_quiet(&|| false),
            "first look: still moving?"
        );
        list.insert(b"later", 1 << 21, Some(b"v"));
        assert!(
            !list.refresh_index_if_quiet(&|| false),
            "it grew since the last look"
        );
        assert!(list.refresh_index_if_quiet(&|| false), "quiet now");
        assert!(exact(&list));
        // Many versions in one gap exhaust the walk: the search asks for a new index.
        for j in 0..100u64 {
            let mut key = 7u64.to_be_bytes().to_vec();
            key.extend_from_slice(&j.to_be_bytes());
            list.insert(&key, (1 << 22) + j, Some(b"gap"));
        }
        assert!(!list.index_wanted.load(AtomicOrdering::Relaxed));
        let mut target = 7u64.to_be_bytes().to_vec();
        target.extend_from_slice(&99u64.to_be_bytes());
        assert_eq!(
            list.seek(&target, u64::MAX).map(|n| n.key().to_vec()),
            Some(target)
        );
        assert!(list.index_wanted.load(AtomicOrdering::Relaxed));
    }

    #[test]
    fn a_version_inserted_right_after_an_exact_build_is_seen_by_readers_that_know_of_it() {
        // The writer builds an exact index, then adds a newer version of one key and
        // publishes its sequence number; readers that saw the number must find the
        // version, whichever index they loaded.
        let list = Arc::new(SkipList::new());
        for i in 0..INDEX_MIN_LEN as u64 {
            list.insert(&i.to_be_bytes(), 1, Some(b"old"));
        }
        let published = std::sync::atomic::AtomicU64::new(1);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(AtomicOrdering::Acquire) {
                        let seq = published.load(AtomicOrdering::Acquire);
                        if seq < 2 {
                            continue;
                        }
                        let key = (seq % 64).to_be_bytes();
                        // (key, seq) was inserted before `seq` was published.
                        let newest = list.get(&key, u64::MAX).expect("found").0;
                        assert!(newest >= seq, "{newest} < {seq}");
                        let at = list.seek(&key, seq).expect("found");
                        assert_eq!((at.key(), at.seq()), (&key[..], seq));
                        let at = list.seek_for_prev(&key, seq).expect("found");
                        assert_eq!((at.key(), at.seq()), (&key[..], seq));
                    }
                });
            }
            for seq in 2..3000u64 {
                assert!(list.build_index(&|| false));
                let key = (seq % 64).to_be_bytes();
                list.insert(&key, seq, Some(b"new"));
                published.store(seq, AtomicOrdering::Release);
            }
            done.store(true, AtomicOrdering::Release);
        });
    }

    #[test]
    fn searches_through_a_rebuilding_index_see_every_version_their_snapshot_holds() {
        // A writer inserts, a builder rebuilds the index as fast as it can, and readers
        // check that every version published before their search is found by it.
        let list = Arc::new(SkipList::new());
        for i in 0..INDEX_MIN_LEN as u64 {
            let key = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
            list.insert(&key, i + 1, Some(&key));
        }
        list.build_index(&|| false);
        let published = Arc::new(std::sync::atomic::AtomicU64::new(INDEX_MIN_LEN as u64));
        let done = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(AtomicOrdering::Acquire) {
                    list.build_index(&|| false);
                }
            });
            for r in 0..2u64 {
                let (list, published, done) = (&list, &published, &done);
                s.spawn(move || {
                    let mut i = r;
                    while !done.load(AtomicOrdering::Acquire) {
                        let upto = published.load(AtomicOrdering::Acquire);
                        let n = i % upto;
                        let key = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
                        let got = list.seek(&key, u64::MAX).expect("found");
                        assert_eq!((got.key(), got.seq()), (&key[..], n + 1));
                        let prev = list.seek_for_prev(&key, 0).expect("found");
                        assert_eq!((prev.key(), prev.seq()), (&key[..], n + 1));
                        i += 7919;
                    }
                });
            }
            for i in INDEX_MIN_LEN as u64..40_000 {
                let key = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
                list.insert(&key, i + 1, Some(&key));
                // As the engine does: the version is readable once its sequence number is
                // published, after the insert returned.
                published.store(i + 1, AtomicOrdering::Release);
            }
            done.store(true, AtomicOrdering::Release);
        });
        assert_eq!(list.iter().count(), 40_000);
    }

    #[test]
    fn matches_a_sorted_model_in_both_directions() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let list = Arc::new(SkipList::new());
        let mut model = BTreeMap::new();
        for seq in 1..=5_000u64 {
            let len = rng.gen_range(0..12);
            let key: Vec<u8> = (0..len).map(|_| rng.gen_range(0..4u8)).collect();
            let value: Option<Vec<u8>> = rng
                .gen_bool(0.8)
                .then(|| (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect());
            list.insert(&key, seq, value.as_deref());
            model.insert(model_key(&key, seq), value);
        }
        assert_eq!(list.len(), model.len());
        let walked: Vec<_> = list
            .iter()
            .map(|(k, s, v)| (model_key(k, s), v.map(<[u8]>::to_vec)))
            .collect();
        let expected: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(walked, expected);

        // Backwards from the end.
        let mut c = SkipCursor::new(Arc::clone(&list));
        c.seek_to_last();
        let mut back = Vec::new();
        while let Some(Current {
            key: k,
            seq: s,
            prefix: p,
            ..
        }) = c.current()
        {
            assert_eq!(p, key_prefix(k));
            back.push(model_key(k, s));
            c.prev();
        }
        back.reverse();
        assert_eq!(back, model.keys().cloned().collect::<Vec<_>>());

        // Seeks land where the model says.
        for _ in 0..2_000 {
            let len = rng.gen_range(0..12);
            let key: Vec<u8> = (0..len).map(|_| rng.gen_range(0..4u8)).collect();
            let seq = rng.gen_range(0..6_000u64);
            let probe = model_key(&key, seq);
            c.seek(&key, seq);
            let want = model.range(probe.clone()..).next().map(|(k, _)| k.clone());
            assert_eq!(c.current().map(|c| model_key(c.key, c.seq)), want);
            c.seek_for_prev(&key, seq);
            let want = model.range(..=probe).next_back().map(|(k, _)| k.clone());
            assert_eq!(c.current().map(|c| model_key(c.key, c.seq)), want);
            if let Some((k, s, v)) = model
                .range(model_key(&key, seq)..)
                .next()
                .filter(|((k, _), _)| *k == key)
                .map(|((k, s), v)| (k.clone(), s.0, v.clone()))
            {
                assert_eq!(list.get(&k, seq), Some((s, v.as_deref())));
            } else {
                assert_eq!(list.get(&key, seq), None);
            }
        }
    }

    #[test]
    fn records_of_every_size_class_round_trip() {
        let list = SkipList::new();
        // Below a chunk, above the first chunk, at the own-chunk threshold, and beyond it.
        let sizes = [
            0usize, 1, 7, 8, 9, 4_000, 16_383, 16_384, 20_000, 262_143, 262_144, 262_152, 700_000,
        ];
        for (i, &n) in sizes.iter().enumerate() {
            let value: Vec<u8> = (0..n).map(|j| (j % 251) as u8 ^ i as u8).collect();
            list.insert(format!("k{i:02}").as_bytes(), i as u64 + 1, Some(&value));
            list.insert(
                format!("small{i:02}").as_bytes(),
                100 + i as u64,
                Some(b"v"),
            );
        }
        for (i, &n) in sizes.iter().enumerate() {
            let want: Vec<u8> = (0..n).map(|j| (j % 251) as u8 ^ i as u8).collect();
            let got = list.get(format!("k{i:02}").as_bytes(), u64::MAX);
            assert_eq!(got, Some((i as u64 + 1, Some(want.as_slice()))), "size {n}");
            let small = list.get(format!("small{i:02}").as_bytes(), u64::MAX);
            assert_eq!(small, Some((100 + i as u64, Some(&b"v"[..]))));
        }
    }

    #[test]
    fn empty_list_and_edge_values() {
        let list = Arc::new(SkipList::new());
        let mut c = SkipCursor::new(Arc::clone(&list));
        c.seek_to_first();
        assert!(!c.valid());
        c.seek_to_last();
        assert!(!c.valid());
        c.seek(b"x", 0);
        assert!(!c.valid());
        assert!(list.is_empty());
        list.insert(b"", 1, Some(b""));
        list.insert(b"k", 2, None);
        let big = vec![7u8; 3 << 20];
        list.insert(b"big", 3, Some(&big));
        assert_eq!(list.get(b"", 9), Some((1, Some(&b""[..]))));
        assert_eq!(list.get(b"k", 9), Some((2, None)));
        assert_eq!(list.get(b"big", 9).and_then(|(_, v)| v), Some(&big[..]));
        assert_eq!(list.get(b"k", 1), None);
        assert!(list.memory_bytes() >= big.len());
    }

    #[test]
    fn readers_see_consistent_order_while_a_writer_inserts() {
        let list = Arc::new(SkipList::new());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let list = Arc::clone(&list);
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    let mut rounds = 0u64;
                    while !done.load(AtomicOrdering::Acquire) || rounds < 3 {
                        let mut c = SkipCursor::new(Arc::clone(&list));
                        c.seek_to_first();
                        let mut prev: Option<(Vec<u8>, u64)> = None;
                        let mut n = 0usize;
                        while let Some(Current {
                            key: k,
                            seq: s,
                            value: v,
                            ..
                        }) = c.current()
                        {
                            // Every visible node is complete: its value encodes its key.
                            assert_eq!(v, Some(k));
                            if let Some((pk, ps)) = &prev {
                                assert!(
                                    (pk.as_slice(), std::cmp::Reverse(*ps))
                                        < (k, std::cmp::Reverse(s))
                                );
                            }
                            prev = Some((k.to_vec(), s));
                            n += 1;
                            c.next();
                        }
                        assert!(n <= list.len() + 1_000);
                        rounds += 1;
                    }
                })
            })
            .collect();
        for i in 0..20_000u64 {
            let key = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
            list.insert(&key, i + 1, Some(&key));
        }
        done.store(true, AtomicOrdering::Release);
        for r in readers {
            r.join().expect("reader");
        }
        assert_eq!(list.iter().count(), 20_000);
    }

    #[test]
    fn sorted_batches_land_where_single_inserts_would() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let list = SkipList::new();
        let mut model = BTreeMap::new();
        let mut seq = 0u64;
        for round in 0..40 {
            let mut batch: Vec<(Vec<u8>, u64, Option<Vec<u8>>)> = (0..rng.gen_range(1..300))
                .map(|_| {
                    seq += 1;
                    let key: Vec<u8> = (0..rng.gen_range(0..10))
                        .map(|_| rng.gen_range(0..5u8))
                        .collect();
                    (key, seq, rng.gen_bool(0.7).then(|| vec![round as u8; 3]))
                })
                .collect();
            for (k, s, v) in &batch {
                model.insert(model_key(k, *s), v.clone());
            }
            if round % 2 == 0 {
                batch.sort_by_key(|a| model_key(&a.0, a.1));
            }
            // Unsorted batches still come out right (each insert falls back to a search).
            list.insert_sorted(
                batch
                    .iter()
                    .map(|(k, s, v)| (k.as_slice(), *s, v.as_deref())),
            );
        }
        let walked: Vec<_> = list
            .iter()
            .map(|(k, s, v)| (model_key(k, s), v.map(<[u8]>::to_vec)))
            .collect();
        let expected: Vec<_> = model.into_iter().collect();
        assert_eq!(walked, expected);
    }

    /// A reader must never be handed a version newer than its snapshot, nor miss the
    /// newest one it may see, while the writer links new versions of the same keys
    /// (found by this test: a search that loaded the successor link a second time).
    #[test]
    fn reads_see_exactly_their_snapshot_while_versions_are_added() {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        let list = Arc::new(SkipList::new());
        let published = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (list, published, stop) =
                    (Arc::clone(&list), Arc::clone(&published), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(AtomicOrdering::Acquire) {
                        let snap = published.load(AtomicOrdering::Acquire);
                        for k in 0..8u64 {
                            let key = format!("hot{k}");
                            let found = list.get(key.as_bytes(), snap).map(|(s, _)| s);
                            // Versions of key k were written at every seq = k (mod 8).
                            let newest = (snap >= k.max(1)).then(|| snap - (snap + 8 - k) % 8);
                            assert_eq!(found, newest.filter(|&s| s >= 1), "{key} at {snap}");
                        }
                    }
                })
            })
            .collect();
        for seq in 1..=100_000u64 {
            let key = format!("hot{}", seq % 8);
            list.insert(key.as_bytes(), seq, Some(&seq.to_be_bytes()));
            if seq % 4 == 0 {
                // Other keys, invisible to every snapshot, interleave in the list.
                let fill = format!("fill{}", seq % 1000);
                list.insert(fill.as_bytes(), u64::MAX - seq, Some(&[1u8; 100]));
            }
            published.store(seq, AtomicOrdering::Release);
        }
        stop.store(true, AtomicOrdering::Release);
        for r in readers {
            r.join().expect("reader");
        }
    }
}
