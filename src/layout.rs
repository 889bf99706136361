//! Pipeline stage 5, layout: takes the graph after its passes, gives every block an offset and
//! returns the segments ([`Layout`]); `rebase` then moves them to the allocation's address.
//!
//! Layout: block addresses, grouped into one page-aligned segment per protection class
//! (r-x, r--, rw-). Zero-fill blocks go after the content blocks of their segment, so that they
//! occupy pages that are never written.

use jitlink_arch::Arch;

use crate::error::{Error, Result};
use crate::graph::{Content, Def, LinkGraph, Perm, SectionRole};

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
///
/// Read-only data that fits in the unused end of the code segment's last page is placed there
/// and mapped with the code (read-execute, as a linker's `-z noseparate-code` layout): the set
/// takes one page and one protection change fewer, which is most of the cost of linking a small
/// object. Nothing is ever writable and executable; read-only data that does not fit gets its
/// own read-only segment.
pub fn layout<A: Arch>(g: &mut LinkGraph<'_, A>, page: usize) -> Result<Layout> {
    let page = page as u64;
    let mut segments: Vec<(usize, usize, Perm)> = Vec::new();
    let mut cursor: u64 = 0;
    let mut align: u64 = page;
    let too_large = || Error::TooLarge {
        inputs: String::new(),
        what: "linked set",
        size: u64::MAX,
        limit: 1 << 31,
    };
    for perm in Perm::ALL {
        let start = cursor;
        // Read-only data joins the code segment when it ends before the code's last page does.
        let joins_code = perm == Perm::Read
            && segments.last().is_some_and(|s| s.2 == Perm::ReadExec)
            && place(g, perm, start, &mut 1, false)
                .is_some_and(|end| end <= start.next_multiple_of(page) && end > start);
        let start = if joins_code {
            cursor
        } else {
            // Saturating: an input's sizes or alignments may be absurd; the check below
            // rejects it.
            cursor.checked_next_multiple_of(page).unwrap_or(u64::MAX)
        };
        cursor = place(g, perm, start, &mut align, true).ok_or_else(too_large)?;
        if cursor > start {
            match segments.last_mut() {
                Some(last) if joins_code => last.1 = (cursor as usize) - last.0,
                _ => segments.push((start as usize, (cursor - start) as usize, perm)),
            }
        }
    }
    let cursor = cursor.checked_next_multiple_of(page).unwrap_or(u64::MAX);
    if cursor > (1u64 << 31) {
        return Err(Error::TooLarge {
            inputs: String::new(),
            what: "linked set",
            size: cursor,
            limit: 1 << 31,
        });
    }
    Ok(Layout {
        segments,
        len: cursor as usize,
        align: align as usize,
    })
}

/// Places the blocks of protection class `perm` from `start` (content first, zero-fill after)
/// and returns where they end; with `assign` false only measures. `None` on overflow.
fn place<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    perm: Perm,
    start: u64,
    align: &mut u64,
    assign: bool,
) -> Option<u64> {
    let mut cursor = start;
    for zero in [false, true] {
        for sec in &g.sections {
            if sec.perm != perm || sec.role == SectionRole::ThreadLocal {
                continue;
            }
            for &b in &sec.blocks {
                let blk = &mut g.blocks[b.index()];
                if matches!(blk.content, Content::Zero(_)) != zero {
                    continue;
                }
                *align = (*align).max(blk.align);
                cursor = cursor
                    .checked_next_multiple_of(blk.align)?
                    .checked_add(blk.content.size())?;
                if assign {
                    blk.addr = cursor - blk.content.size();
                }
            }
        }
    }
    Some(cursor)
}

/// Places the graph at `base`: adds it to every block address (thread-local blocks keep their
/// offsets), records it as the graph's image base, and defines the image-base symbol there.
pub fn rebase<A: Arch>(g: &mut LinkGraph<'_, A>, base: u64) {
    let LinkGraph {
        blocks, sections, ..
    } = g;
    for b in blocks.iter_mut() {
        if sections[b.section.index()].role != SectionRole::ThreadLocal {
            b.addr = b.addr.wrapping_add(base);
        }
    }
    g.image_base = base;
    if let Some(sym) = g.image_base_symbol {
        g.symbols[sym.index()].def = Def::Absolute(base);
    }
}

/// The layout of a graph's thread-local block: initialized data first, zero-fill after.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsLayout {
    /// Bytes with initial values (the start of the block).
    pub init_len: u64,
    /// Total size of the block.
    pub len: u64,
    /// Alignment of the block.
    pub align: u64,
}

/// Assigns thread-local blocks their offsets in the block; `None` if the graph has none.
pub fn layout_tls<A: Arch>(g: &mut LinkGraph<'_, A>) -> Option<TlsLayout> {
    let mut cursor = 0u64;
    let mut align = 1u64;
    let mut init_len = 0u64;
    let mut any = false;
    for zero in [false, true] {
        for sec in &g.sections {
            if sec.role != SectionRole::ThreadLocal {
                continue;
            }
            for &b in &sec.blocks {
                let blk = &mut g.blocks[b.index()];
                if matches!(blk.content, Content::Zero(_)) != zero {
                    continue;
                }
                any = true;
                align = align.max(blk.align);
                // Saturating: a malformed input's sizes may overflow; the caller rejects a
                // block this large.
                cursor = cursor
                    .checked_next_multiple_of(blk.align)
                    .unwrap_or(u64::MAX);
                blk.addr = cursor;
                cursor = cursor.saturating_add(blk.content.size());
            }
        }
        if !zero {
            init_len = cursor;
        }
    }
    any.then_some(TlsLayout {
        init_len,
        len: cursor,
        align,
    })
}

/// The block that [`layout_tls`] places at offset 0 (where `_TLS_MODULE_BASE_` points).
pub fn first_tls_block<A: Arch>(g: &LinkGraph<'_, A>) -> Option<crate::graph::BlockId> {
    let tls = || {
        g.sections
            .iter()
            .filter(|s| s.role == SectionRole::ThreadLocal)
            .flat_map(|s| s.blocks.iter().copied())
    };
    let zero = |b: &crate::graph::BlockId| matches!(g.blocks[b.index()].content, Content::Zero(_));
    tls().find(|b| !zero(b)).or_else(|| tls().next())
}
