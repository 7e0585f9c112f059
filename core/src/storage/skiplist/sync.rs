//! The loom build's synchronisation types for the skiplist: loom's atomics, and stand-ins
//! with the interfaces the list uses of `parking_lot::Mutex` and `arc_swap::ArcSwapOption`
//! (which loom cannot see into), built on loom's primitives. Only this module's loom tests
//! use it (`#[cfg(all(test, loom))]`); every other build uses the originals.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

pub(super) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};

/// `parking_lot::Mutex`'s `lock` over loom's mutex.
pub(super) struct Mutex<T>(loom::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub(super) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(super) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `ArcSwapOption`'s `empty`, `load` and `store`, with the least synchronisation it
/// promises: a store publishes the value (a release, here an acquire-release swap) and a
/// load that returns it is ordered after the store (an acquire). The real one does more
/// (a sequentially consistent read-modify-write in every operation); the list must not
/// need it, so the model leaves it out.
pub(super) struct IndexSlot<T> {
    /// 0 for none, else `i` for `stored[i - 1]`: what readers load.
    current: AtomicUsize,
    /// Every value ever stored, kept until the slot drops, so a load never races a free.
    /// A std mutex: loom does not see it, so it adds no synchronisation to the model (it
    /// is only taken around pushes and clones, never across a loom operation).
    stored: std::sync::Mutex<Vec<Arc<T>>>,
}

impl<T> IndexSlot<T> {
    pub(super) fn empty() -> Self {
        Self {
            current: AtomicUsize::new(0),
            stored: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(super) fn load(&self) -> Option<Arc<T>> {
        let i = self.current.load(Ordering::Acquire).checked_sub(1)?;
        let stored = self.stored.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(&stored[i]))
    }

    pub(super) fn store(&self, value: Option<Arc<T>>) {
        let i = value.map_or(0, |value| {
            let mut stored = self.stored.lock().unwrap_or_else(PoisonError::into_inner);
            stored.push(value);
            stored.len()
        });
        self.current.swap(i, Ordering::AcqRel);
    }
}
