//! Pipeline stage 6, allocate (in process): takes a layout, returns writable memory at its
//! final address ([`InFlight`]), later finalized write-xor-execute.
//!
//! Memory: address space reserved per session in large chunks, carved into per-link allocations,
//! and a write-xor-execute type-state.
//!
//! A chunk is reserved once (`PROT_NONE`, no backing) and never leaves the process until the
//! session ends, so the process does not accumulate mappings and everything linked in one chunk
//! reaches everything else with 32-bit displacements. Chunks come in two placements:
//! *near* (within ±2 GiB of the host C library, so PC-relative references to host data reach) and
//! *low* (below 2 GiB, for code with 32-bit absolute relocations, from `-fno-pic`).
//!
//! An allocation starts writable ([`InFlight`]); [`InFlight::finalize`] switches each segment
//! to its final protection and returns a [`Finalized`] handle. No page is ever writable and
//! executable at once.

use crate::error::{Error, Result};
use crate::graph::Perm;

/// Bytes of address space reserved per chunk (more when one link needs more).
const CHUNK_SIZE: usize = 512 << 20;
/// Bytes reserved for a low chunk: the kernel's `MAP_32BIT` window is only 1 GiB wide.
const LOW_CHUNK_SIZE: usize = 256 << 20;
/// Margin kept below a reference's range, for addends.
const REACH_MARGIN: u64 = 16 << 20;
/// PC-relative references reach ±2 GiB; keep a margin for addends.
const REACH: u64 = (1 << 31) - REACH_MARGIN;

/// Placement of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Near the host's C library.
    Near,
    /// Below 2 GiB.
    Low,
}

/// A free range. `dirty` ranges kept their pages when released (see [`KEEP_PAGES`]): they are
/// readable and writable (never executable) and must be cleared before reuse. Clean ranges are
/// inaccessible and read as zero once made accessible.
#[derive(Debug, Clone, Copy)]
struct Free {
    start: usize,
    len: usize,
    dirty: bool,
}

/// Allocations up to this size keep their pages when released: they become read-write (not
/// executable, so a call into removed code faults) and stay resident, so that linking and
/// removing small sets over and over costs no page faults and no protection change when the
/// range is reused: one `mprotect` at release instead of one at release and one at reuse.
/// Larger ones give their pages back to the system.
const KEEP_PAGES: usize = 64 << 10;

struct Chunk {
    base: usize,
    size: usize,
    placement: Placement,
    /// Free ranges, sorted by start, coalesced.
    free: Vec<Free>,
}

/// Owner of the session's reserved address space.
pub struct MemoryManager {
    chunks: Vec<Chunk>,
    page: usize,
}

/// Index of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkId(usize);

/// A writable allocation whose content is being written.
#[derive(Debug)]
pub struct InFlight {
    chunk: ChunkId,
    base: usize,
    len: usize,
    segments: Vec<(usize, usize, Perm)>,
}

/// An allocation whose segments have their final protections.
#[derive(Debug)]
pub struct Finalized {
    chunk: ChunkId,
    base: usize,
    len: usize,
}

impl Finalized {
    /// The allocated address range.
    pub fn range(&self) -> (u64, u64) {
        (self.base as u64, (self.base + self.len) as u64)
    }
}

fn os_err(what: impl Into<String>) -> Error {
    Error::Memory {
        what: what.into(),
        source: std::io::Error::last_os_error(),
    }
}

fn prot(perm: Perm) -> libc::c_int {
    match perm {
        Perm::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
        Perm::Read => libc::PROT_READ,
        Perm::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
    }
}

/// An address inside the host C library's code, the anchor of near placement: `printf`'s. (The
/// library spans a few MiB, well inside the reach's margin, so no exact base is needed; asking
/// the loader for one, `dladdr`, walks the library's symbol table and cost 3% of a small link.)
fn libc_anchor() -> usize {
    libc::printf as *const libc::c_void as usize
}

fn reserve_at(hint: usize, size: usize, extra: libc::c_int) -> Option<usize> {
    // SAFETY: an anonymous PROT_NONE mapping without MAP_FIXED never replaces existing mappings;
    // the kernel picks the address (using `hint` only as a hint).
    let p = unsafe {
        libc::mmap(
            hint as *mut libc::c_void,
            size,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | extra,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

fn unreserve(base: usize, size: usize) {
    // SAFETY: (base, size) is a whole reservation this manager made and no longer uses.
    unsafe { libc::munmap(base as *mut libc::c_void, size) };
}

impl MemoryManager {
    /// A manager with nothing reserved yet.
    pub fn new() -> Self {
        MemoryManager {
            chunks: Vec::new(),
            page: region::page::size(),
        }
    }

    /// The page size.
    pub fn page_size(&self) -> usize {
        self.page
    }

    fn reserve(&mut self, placement: Placement, min: usize) -> Result<ChunkId> {
        let base_size = match placement {
            Placement::Near => CHUNK_SIZE,
            Placement::Low => LOW_CHUNK_SIZE,
        };
        let size = min
            .max(base_size)
            .checked_next_multiple_of(self.page)
            .ok_or(Error::TooLarge {
                inputs: String::new(),
                what: "reservation",
                size: min as u64,
                limit: usize::MAX as u64,
            })?;
        let base = match placement {
            Placement::Low => {
                let base = reserve_at(0, size, libc::MAP_32BIT)
                    .ok_or_else(|| os_err(format!("reserving {size:#x} bytes below 2 GiB")))?;
                if base + size > 1 << 31 {
                    unreserve(base, size);
                    return Err(Error::Memory {
                        what: "reserving memory below 2 GiB".into(),
                        source: std::io::Error::other("MAP_32BIT returned a high address"),
                    });
                }
                base
            }
            Placement::Near => {
                let anchor = libc_anchor();
                let near = |b: usize| {
                    let far = (b as u64)
                        .abs_diff(anchor as u64)
                        .max(((b + size) as u64).abs_diff(anchor as u64));
                    far < REACH
                };
                let mut found = None;
                for step in 1..8usize {
                    let hint = anchor.saturating_sub(size + step * (64 << 20)) & !(self.page - 1);
                    if let Some(b) = reserve_at(hint, size, 0) {
                        if near(b) {
                            found = Some(b);
                            break;
                        }
                        unreserve(b, size);
                    }
                }
                match found {
                    Some(b) => b,
                    // Anywhere will do: references that cannot reach go through stubs and GOT.
                    None => reserve_at(0, size, 0)
                        .ok_or_else(|| os_err(format!("reserving {size:#x} bytes")))?,
                }
            }
        };
        self.chunks.push(Chunk {
            base,
            size,
            placement,
            free: vec![Free {
                start: base,
                len: size,
                dirty: false,
            }],
        });
        Ok(ChunkId(self.chunks.len() - 1))
    }

    /// A chunk with the given placement and at least `len` free bytes at alignment `align`.
    pub fn chunk_for(&mut self, placement: Placement, len: usize, align: usize) -> Result<ChunkId> {
        for (i, c) in self.chunks.iter().enumerate() {
            if c.placement == placement && find_fit(&c.free, len, align).is_some() {
                return Ok(ChunkId(i));
            }
        }
        self.reserve(placement, len.saturating_add(align))
    }

    /// The address range of a chunk.
    pub fn bounds(&self, id: ChunkId) -> (u64, u64) {
        let c = &self.chunks[id.0];
        (c.base as u64, (c.base + c.size) as u64)
    }

    /// True if a 32-bit PC-relative reference from anywhere in `id` reaches `addr`.
    pub fn reaches(&self, id: ChunkId, addr: u64) -> bool {
        self.reaches_within(id, addr, 1 << 31)
    }

    /// True if a reference reaching `range` bytes either way from anywhere in `id` reaches
    /// `addr` (with a margin for addends).
    pub fn reaches_within(&self, id: ChunkId, addr: u64, range: u64) -> bool {
        let (lo, hi) = self.bounds(id);
        let range = range.saturating_sub(REACH_MARGIN);
        addr.abs_diff(lo) < range && addr.abs_diff(hi) < range
    }

    /// Allocates `segments` (offset from base, length, protection; page-aligned) in `chunk` and
    /// makes the whole range writable.
    pub fn allocate(
        &mut self,
        chunk: ChunkId,
        len: usize,
        align: usize,
        segments: Vec<(usize, usize, Perm)>,
    ) -> Result<InFlight> {
        let page = self.page;
        let align = align.max(page);
        let len = len.max(1).next_multiple_of(page);
        let c = &mut self.chunks[chunk.0];
        let (slot, base) = find_fit(&c.free, len, align).ok_or_else(|| Error::Memory {
            what: format!("allocating {len:#x} bytes"),
            source: std::io::Error::other("reserved chunk is full"),
        })?;
        let Free {
            start,
            len: flen,
            dirty,
        } = c.free[slot];
        c.free.remove(slot);
        if base > start {
            c.free.insert(
                slot,
                Free {
                    start,
                    len: base - start,
                    dirty,
                },
            );
        }
        let end = base + len;
        if end < start + flen {
            let at = c.free.partition_point(|r| r.start < end);
            c.free.insert(
                at,
                Free {
                    start: end,
                    len: start + flen - end,
                    dirty,
                },
            );
        }
        // SAFETY: [base, base+len) lies inside a chunk this manager reserved and just took off
        // the free list, so no other allocation uses it. Dirty ranges are read-write already.
        if !dirty
            && unsafe { libc::mprotect(base as *mut libc::c_void, len, prot(Perm::ReadWrite)) } != 0
        {
            let e = os_err("making new memory writable");
            self.free_range(chunk, base, len);
            return Err(e);
        }
        if !dirty && len >= HUGE_FROM {
            // A large image is written whole by the fixups: with huge pages, one fault maps
            // 2 MiB of it instead of 4 KiB (about a third of the fixups' time for 100,000
            // functions). Final protections split them again; the advice only changes how
            // pages are backed, and a kernel without transparent huge pages ignores it.
            // SAFETY: the range is this allocation's own, mapped read-write just above.
            unsafe { libc::madvise(base as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
        }
        if dirty {
            // Clear what the segments occupy (zero-fill blocks and the padding between blocks
            // included). The tails of the last pages of data segments keep bytes of an earlier
            // set of this session, which nothing reads; code segments are cleared to the end of
            // their pages, so that no stale byte becomes executable again.
            for &(o, l, perm) in &segments {
                let l = if perm == Perm::ReadExec {
                    l.next_multiple_of(page)
                } else {
                    l
                };
                if o.checked_add(l).is_some_and(|end| end <= len) {
                    // SAFETY: the segment lies inside this allocation, which is read-write and
                    // belongs to it alone.
                    unsafe { std::ptr::write_bytes((base + o) as *mut u8, 0, l) };
                }
            }
        }
        let segments = segments
            .into_iter()
            .map(|(o, l, p)| (base + o, l, p))
            .collect();
        Ok(InFlight {
            chunk,
            base,
            len,
            segments,
        })
    }

    /// Returns a range to its chunk. Small ranges keep their pages, read-write and not
    /// executable (and are cleared on reuse); larger ones drop them and become inaccessible.
    fn free_range(&mut self, chunk: ChunkId, base: usize, len: usize) {
        let keep = len <= KEEP_PAGES
            // SAFETY: the range lies inside our own reservation and is no longer used; making it
            // read-write removes execute permission in the same step.
            && unsafe { libc::mprotect(base as *mut libc::c_void, len, prot(Perm::ReadWrite)) }
                == 0;
        if !keep {
            // SAFETY: the range lies inside our own reservation; MAP_FIXED replaces only our
            // pages, dropping their contents and leaving them reserved but inaccessible.
            unsafe {
                libc::mmap(
                    base as *mut libc::c_void,
                    len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
        }
        let c = &mut self.chunks[chunk.0];
        let at = c.free.partition_point(|r| r.start < base);
        c.free.insert(
            at,
            Free {
                start: base,
                len,
                dirty: keep,
            },
        );
        // Coalesce with neighbours of the same kind, so that clearing a dirty range never
        // touches pages that were clean.
        let joins = |a: &Free, b: &Free| a.start + a.len == b.start && a.dirty == b.dirty;
        if at + 1 < c.free.len() && joins(&c.free[at], &c.free[at + 1]) {
            c.free[at].len += c.free[at + 1].len;
            c.free.remove(at + 1);
        }
        if at > 0 && joins(&c.free[at - 1], &c.free[at]) {
            c.free[at - 1].len += c.free[at].len;
            c.free.remove(at);
        }
    }

    /// Gives up an allocation that failed before finalization.
    pub fn abandon(&mut self, a: InFlight) {
        self.free_range(a.chunk, a.base, a.len);
    }

    /// Releases a finalized allocation. The caller guarantees that no code runs from it.
    pub fn release(&mut self, a: Finalized) {
        self.free_range(a.chunk, a.base, a.len);
    }
}

impl Default for MemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        for c in &self.chunks {
            unreserve(c.base, c.size);
        }
    }
}

/// Fresh allocations of at least this many bytes are backed by huge pages where the kernel
/// can (see [`MemoryManager::allocate`]).
const HUGE_FROM: usize = 4 << 20;

fn find_fit(free: &[Free], len: usize, align: usize) -> Option<(usize, usize)> {
    free.iter().enumerate().find_map(|(i, f)| {
        let base = f.start.checked_next_multiple_of(align)?;
        (base.checked_add(len)? <= f.start + f.len).then_some((i, base))
    })
}

/// Memory that a laid-out graph is written to, addressed by the graph's final addresses: this
/// process's memory ([`InFlight`]) or a buffer standing for another address space
/// (`crate::image::ImageBuffer`, for an executor or a fixed base).
pub trait Image {
    /// The address of the first byte.
    fn base(&self) -> u64;
    /// The writable bytes at `[addr, addr + len)`, `None` unless they lie inside the image.
    fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]>;
}

impl Image for InFlight {
    fn base(&self) -> u64 {
        self.base as u64
    }
    fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        InFlight::bytes_mut(self, addr, len)
    }
}

impl InFlight {
    /// The base address.
    pub fn base(&self) -> u64 {
        self.base as u64
    }

    /// Faults in the first `len` bytes (at most the allocation) with one call, for memory about
    /// to be written whole: one page fault per page costs several times more (a small link's
    /// fixups took 3.5x as long). Linux 5.14 and later; elsewhere a no-op.
    pub fn populate(&mut self, len: usize) {
        const MADV_POPULATE_WRITE: libc::c_int = 23;
        let len = len.min(self.len);
        if len > 0 {
            // SAFETY: advice on this allocation's own range, mapped read-write while in flight;
            // it changes no byte (new pages read as zero either way).
            unsafe { libc::madvise(self.base as *mut libc::c_void, len, MADV_POPULATE_WRITE) };
        }
    }

    /// The writable bytes at `[addr, addr + len)`, which must lie inside this allocation.
    pub fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let start = (addr as usize).checked_sub(self.base)?;
        if start.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: the range lies inside this allocation, which is mapped read-write while in
        // flight and is owned exclusively by `self` (borrowed mutably here).
        Some(unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len) })
    }

    /// Applies the final protection of every segment, flushing the instruction cache of code.
    pub fn finalize<A: jitlink_arch::Arch>(self, mem: &mut MemoryManager) -> Result<Finalized> {
        for &(start, len, perm) in &self.segments {
            if len == 0 || perm == Perm::ReadWrite {
                continue;
            }
            if perm == Perm::ReadExec {
                A::flush_icache(start as *const u8, len);
            }
            // SAFETY: the segment lies inside this allocation; switching it from read-write to
            // read-only or read-execute never makes a page writable and executable.
            if unsafe { libc::mprotect(start as *mut libc::c_void, len, prot(perm)) } != 0 {
                let e = os_err(format!(
                    "protecting segment at {start:#x} as {}",
                    perm.as_str()
                ));
                mem.abandon(self);
                return Err(e);
            }
        }
        Ok(Finalized {
            chunk: self.chunk,
            base: self.base,
            len: self.len,
        })
    }
}
