//! CPU helpers for the packet path: the time-stamp counter, cache prefetch and huge-page advice.

use std::os::raw::c_void;

use dpdk_ffi as ffi;

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rte_rdtsc executes the rdtsc instruction; no preconditions.
    unsafe { ffi::osp_rdtsc() }
}

/// Hints the CPU to bring the cache line holding `*v` into all cache levels; a no-op on
/// architectures without the instruction. Used to overlap the memory latency of a burst's flow
/// lookups (hash every key first, prefetch, then process).
#[inline(always)]
pub fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint that never faults, even on an invalid address, and `v` is a
    // valid reference besides; it reads and writes nothing architecturally visible.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (v as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Asks the kernel to back the whole 2 MiB pages inside `mem` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`), for big tables read at random (the flow slab and index): one TLB
/// entry then covers 2 MiB instead of 4 KiB, so a lookup into a cold part of a 256 MB table
/// no longer pays a page walk on top of its cache misses. Call it before the memory is first
/// written (pages are chosen when they fault). Returns the bytes advised; 0 when the range
/// holds no whole huge page, or the kernel refused (THP disabled, not Linux): a hint only,
/// the memory works the same either way.
pub fn advise_hugepages<T>(mem: &mut [T]) -> usize {
    const HUGE: usize = 2 << 20;
    let start = mem.as_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let lo = start.next_multiple_of(HUGE);
    let hi = end / HUGE * HUGE;
    if hi <= lo {
        return 0;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: [lo, hi) lies inside `mem`, which we borrow mutably, and is page-aligned;
        // MADV_HUGEPAGE changes how the kernel backs the pages, never their contents or
        // mappings, so no reference into `mem` is affected.
        let rc = unsafe { libc::madvise(lo as *mut c_void, hi - lo, libc::MADV_HUGEPAGE) };
        if rc == 0 {
            hi - lo
        } else {
            0
        }
    }
    #[cfg(not(target_os = "linux"))]
    0
}
