//! Hints to the CPU to start loading memory a read is about to walk.

/// Asks the CPU to start loading the cache lines of `bytes` (at most the first `max`
/// bytes), so a scan about to read them sequentially waits for one miss, not one per line.
/// A hint only: it never faults, and on other architectures it does nothing.
#[inline]
pub fn prefetch_slice(bytes: &[u8], max: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let len = bytes.len().min(max);
        let mut at = 0;
        while at < len {
            // SAFETY: a prefetch never faults and never reads into Rust-visible state; the
            // address is inside `bytes` anyway.
            #[expect(unsafe_code, reason = "the prefetch intrinsic is unsafe to call")]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(at).cast::<i8>());
            }
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, max);
}

/// Asks the CPU to start loading the cache line at `at`. Any address is allowed: a
/// prefetch never faults and reads nothing into Rust-visible state.
#[inline]
pub fn prefetch_ptr<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: as above; `_mm_prefetch` does not dereference its argument.
        #[expect(unsafe_code, reason = "the prefetch intrinsic is unsafe to call")]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(at.cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
