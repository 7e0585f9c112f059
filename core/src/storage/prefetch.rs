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

#[cfg(test)]
mod tests {
    use super::*;

    // Boundary cases of the unsafe prefetch calls: a hint at any address must neither fault
    // nor change what the program sees.

    #[test]
    fn prefetching_odd_slices_changes_nothing() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let before = data.clone();
        prefetch_slice(&data, 0);
        prefetch_slice(&data, 1);
        prefetch_slice(&data, usize::MAX);
        prefetch_slice(&[], 4096);
        prefetch_slice(&data[999..], 64);
        prefetch_slice(&data[1000..], 64);
        // Unaligned starts and lengths that end mid-line.
        for start in [1usize, 63, 64, 65, 500] {
            prefetch_slice(&data[start..], 129);
        }
        assert_eq!(data, before);
    }

    #[test]
    fn prefetching_any_address_never_faults() {
        prefetch_ptr(std::ptr::null::<u8>());
        prefetch_ptr(usize::MAX as *const u8);
        prefetch_ptr(std::ptr::dangling::<u64>());
        let freed = Box::into_raw(Box::new([0u8; 64]));
        // Freed before the prefetch: only its address is used.
        free_box(freed);
        prefetch_ptr(freed);
        let end = [1u8; 8];
        prefetch_ptr(end.as_ptr().wrapping_add(8));
        assert_eq!(end, [1u8; 8]);
    }

    /// Frees a box made with `Box::into_raw`.
    #[expect(
        unsafe_code,
        reason = "the test frees a box to prefetch its stale address"
    )]
    fn free_box(p: *mut [u8; 64]) {
        // SAFETY: `p` came from `Box::into_raw` above and is freed exactly once.
        drop(unsafe { Box::from_raw(p) });
    }
}
