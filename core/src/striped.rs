//! Counters that many threads add to at once without sharing a cache line.
//!
//! A relaxed `fetch_add` on one `AtomicU64` is cheap on one thread, but every reader
//! thread adding to the same counter moves its cache line from core to core on every
//! read, and a core that wants the line waits for it. Point reads and block-cache hits
//! happen on every reader thread, so their counts are kept in [`STRIPES`] copies, each on
//! its own cache line; a thread always adds to the stripe it was given on first use, and
//! reading the count adds the stripes up. A leaf: it imports nothing from the crate.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Copies of each striped counter (and of the latency histograms' buckets).
pub(crate) const STRIPES: usize = 4;

thread_local! {
    /// This thread's stripe, handed out round-robin on first use, so the first
    /// `STRIPES` threads that count get one each.
    static STRIPE: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
    };
}

/// The calling thread's stripe, in `0..STRIPES`.
#[inline]
pub(crate) fn stripe() -> usize {
    // A thread being torn down may count one last read; stripe 0 takes it.
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// One stripe: alone on its cache line (128 bytes, as adjacent-line prefetchers pull
/// lines in pairs on x86).
#[derive(Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A monotonic count kept in [`STRIPES`] cache-line-sized stripes.
#[derive(Default)]
pub(crate) struct StripedCounter {
    stripes: [Stripe; STRIPES],
}

impl StripedCounter {
    /// Adds `n` to the calling thread's stripe.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count: every stripe added up. Adds racing with it may or may not be seen, as
    /// with one relaxed counter.
    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.0.load(Ordering::Relaxed)))
    }
}

impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StripedCounter").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn stripes_sit_on_their_own_cache_lines() {
        assert_eq!(std::mem::align_of::<Stripe>(), 128);
        assert_eq!(std::mem::size_of::<StripedCounter>(), 128 * STRIPES);
    }

    #[test]
    fn adds_from_many_threads_all_count() {
        let counter = Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..7u64)
            .map(|t| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.add(1);
                    }
                    counter.add(t);
                    stripe()
                })
            })
            .collect();
        let stripes: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(counter.get(), 70_000 + (0..7).sum::<u64>());
        assert!(stripes.iter().all(|&s| s < STRIPES), "{stripes:?}");
    }

    #[test]
    fn a_thread_keeps_its_stripe() {
        let first = stripe();
        for _ in 0..100 {
            assert_eq!(stripe(), first);
        }
    }
}
