//! Layout: block addresses, grouped into one page-aligned segment per protection class
//! (r-x, r--, rw-). Zero-fill blocks go after the content blocks of their segment, so that they
//! occupy pages that are never written.

use jitlink_arch::Arch;

use crate::error::{Error, Result};
use crate::graph::{Content, LinkGraph, Perm};

/// A laid-out graph's segments, as offsets from the allocation base.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `(offset, length, protection)` of each non-empty segment; offsets are page-aligned.
    pub segments: Vec<(usize, usize, Perm)>,
    /// Total length (a multiple of the page size).
    pub len: usize,
    /// Largest block alignment (the base must be aligned to it).
    pub align: usize,
}

/// Assigns every block an address relative to the allocation base.
pub fn layout<A: Arch>(g: &mut LinkGraph<'_, A>, page: usize) -> Result<Layout> {
    let page = page as u64;
    let mut segments = Vec::new();
    let mut cursor: u64 = 0;
    let mut align: u64 = page;
    for perm in Perm::ALL {
        let start = cursor;
        for zero in [false, true] {
            for sec in &g.sections {
                if sec.perm != perm {
                    continue;
                }
                for &b in &sec.blocks {
                    let blk = &mut g.blocks[b.index()];
                    if matches!(blk.content, Content::Zero(_)) != zero {
                        continue;
                    }
                    align = align.max(blk.align);
                    cursor = cursor
                        .checked_next_multiple_of(blk.align)
                        .and_then(|c| c.checked_add(blk.content.size()))
                        .ok_or_else(|| {
                            Error::InvalidArgument("link set too large to lay out".into())
                        })?;
                    blk.addr = cursor - blk.content.size();
                }
            }
        }
        if cursor > start {
            segments.push((start as usize, (cursor - start) as usize, perm));
        }
        cursor = cursor.next_multiple_of(page);
    }
    if cursor > (1u64 << 31) {
        return Err(Error::InvalidArgument(format!(
            "link set of {cursor:#x} bytes is larger than 2 GiB"
        )));
    }
    Ok(Layout {
        segments,
        len: cursor as usize,
        align: align as usize,
    })
}

/// Adds `base` to every block address.
pub fn rebase<A: Arch>(g: &mut LinkGraph<'_, A>, base: u64) {
    for b in &mut g.blocks {
        b.addr = b.addr.wrapping_add(base);
    }
}
