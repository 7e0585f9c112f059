//! A memo of which blocks of a memory-mapped table were lately seen in the page cache.
//!
//! A read that must not wait for the disk (the Node binding's `await db.get(key)`, answered
//! on the JavaScript thread when it can be) asks the kernel with `mincore` whether a block's
//! pages are resident. That system call costs more than the read it guards, so its yes is
//! remembered per block for [`TRUST_MS`]: a page read moments ago sits at the hot end of the
//! kernel's LRU lists and is the last it would evict. A no is never remembered, so a block
//! that left memory is sent to a worker thread until it is read back.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// How long a block seen resident is taken to stay resident, in milliseconds.
pub const TRUST_MS: u32 = 250;

/// Per block, the tick (milliseconds since the process's first look, plus one; zero for
/// never) at which its pages were last seen resident.
#[derive(Debug, Default)]
pub struct ResidencyMemo {
    seen: Box<[AtomicU32]>,
}

impl ResidencyMemo {
    /// A memo for `blocks` blocks, none seen yet.
    pub fn new(blocks: usize) -> Self {
        Self {
            seen: (0..blocks).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Bytes this memo holds.
    pub fn memory(&self) -> usize {
        self.seen.len() * std::mem::size_of::<AtomicU32>()
    }

    /// Whether block `i` is resident: yes when it was seen so within [`TRUST_MS`],
    /// otherwise `look()`'s answer (the `mincore` check), remembered when it is yes. A
    /// block beyond the memo is always looked at.
    pub fn is_resident(&self, i: usize, look: impl FnOnce() -> bool) -> bool {
        let Some(slot) = self.seen.get(i) else {
            return look();
        };
        let now = tick();
        let seen = slot.load(Ordering::Relaxed);
        // Wrapping arithmetic: the tick wraps after 49 days, and a stamp that old is
        // then at worst trusted for one more window.
        if seen != 0 && now.wrapping_sub(seen) < TRUST_MS {
            return true;
        }
        let resident = look();
        if resident {
            slot.store(now, Ordering::Relaxed);
        }
        resident
    }

    /// Forgets every block seen, so the next question about each asks the kernel.
    #[cfg(test)]
    fn forget(&self) {
        for s in self.seen.iter() {
            s.store(0, Ordering::Relaxed);
        }
    }
}

/// Milliseconds since the first call in this process, plus one (never zero, so zero can
/// mean never seen).
fn tick() -> u32 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    // Truncation is the wrap the memo's comparison allows for.
    let ms = base.elapsed().as_millis() as u32;
    ms.wrapping_add(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_yes_is_remembered_and_a_no_is_not() {
        let memo = ResidencyMemo::new(3);
        let looks = Cell::new(0);
        let look = |answer: bool| {
            looks.set(looks.get() + 1);
            answer
        };
        assert!(!memo.is_resident(0, || look(false)));
        assert!(!memo.is_resident(0, || look(false)), "a no is asked again");
        assert_eq!(looks.get(), 2);
        assert!(memo.is_resident(1, || look(true)));
        assert!(
            memo.is_resident(1, || look(false)),
            "a fresh yes is trusted"
        );
        assert_eq!(looks.get(), 3);
        assert!(!memo.is_resident(2, || look(false)), "blocks are apart");
        memo.forget();
        assert!(
            !memo.is_resident(1, || look(false)),
            "forgotten: asked again"
        );
        assert_eq!(looks.get(), 5);
    }

    #[test]
    fn a_yes_expires() {
        let memo = ResidencyMemo::new(1);
        assert!(memo.is_resident(0, || true));
        std::thread::sleep(std::time::Duration::from_millis(u64::from(TRUST_MS) + 20));
        assert!(!memo.is_resident(0, || false), "an old yes is asked again");
    }

    #[test]
    fn blocks_beyond_the_memo_are_always_looked_at() {
        let memo = ResidencyMemo::default();
        assert!(memo.is_resident(7, || true));
        assert!(!memo.is_resident(7, || false));
        assert_eq!(memo.memory(), 0);
    }
}
