//! Fixups: copy every block's content to its address and apply its edges with the
//! architecture's `apply_fixup`. The architecture returns a context-free error; this stage adds
//! the input, section, offset and target.

use jitlink_arch::{Arch, FixupError, FixupValues, TlsValues};

use crate::error::{Error, FixupFailure, Result};
use crate::graph::{BlockId, Content, LinkGraph, SectionRole};
pub use crate::memory::Image;

/// Writes all content and fixups into `mem`; thread-local blocks are left to [`apply_tls`].
pub fn apply<A: Arch>(g: &LinkGraph<'_, A>, mem: &mut dyn Image, tls: TlsValues) -> Result<()> {
    let got = got_address(g);
    let blocks = g
        .sections
        .iter()
        .filter(|s| s.role != SectionRole::ThreadLocal)
        .flat_map(|s| &s.blocks);
    for &b in blocks {
        let blk = &g.blocks[b.index()];
        if matches!(blk.content, Content::Zero(_)) {
            continue;
        }
        let len = blk.content.size() as usize;
        let out = mem.bytes_mut(blk.addr, len).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "block at {:#x} lies outside its allocation",
                blk.addr
            ))
        })?;
        apply_block(g, b, out, got, tls)?;
    }
    Ok(())
}

/// The initial image of the graph's thread-local block (laid out by
/// [`crate::layout::layout_tls`]), with its fixups applied.
pub fn apply_tls<A: Arch>(g: &LinkGraph<'_, A>, init_len: u64) -> Result<Vec<u8>> {
    let mut image = vec![0u8; init_len as usize];
    let got = got_address(g);
    let blocks = g
        .sections
        .iter()
        .filter(|s| s.role == SectionRole::ThreadLocal)
        .flat_map(|s| &s.blocks);
    for &b in blocks {
        let blk = &g.blocks[b.index()];
        if matches!(blk.content, Content::Zero(_)) {
            continue;
        }
        let start = blk.addr as usize;
        let Some(out) = image.get_mut(start..start + blk.content.size() as usize) else {
            return Err(Error::InvalidArgument(
                "thread-local block outside its image".into(),
            ));
        };
        apply_block(g, b, out, got, TlsValues::default())?;
    }
    Ok(image)
}

fn got_address<A: Arch>(g: &LinkGraph<'_, A>) -> u64 {
    g.got_base.map_or(0, |s| g.address(s))
}

/// Copies one block's content to `out` and applies its edges there.
fn apply_block<A: Arch>(
    g: &LinkGraph<'_, A>,
    b: BlockId,
    out: &mut [u8],
    got: u64,
    tls: TlsValues,
) -> Result<()> {
    let blk = &g.blocks[b.index()];
    if let Some(bytes) = blk.content.bytes() {
        out.copy_from_slice(bytes);
    }
    {
        for e in &blk.edges {
            let sym = &g.symbols[e.target.index()];
            let s = if A::uses_target_size(e.kind) {
                sym.size
            } else {
                g.address(e.target)
            };
            let v = FixupValues {
                p: blk.addr.wrapping_add(u64::from(e.offset)),
                s,
                a: e.addend,
                got,
                tls,
            };
            if let Err(reason) = A::apply_fixup(e.kind, out, e.offset as usize, v) {
                return Err(failure(g, b, e.offset, e.kind, e.target, reason));
            }
        }
    }
    Ok(())
}

fn failure<A: Arch>(
    g: &LinkGraph<'_, A>,
    b: BlockId,
    offset: u32,
    kind: A::EdgeKind,
    target: crate::graph::SymbolId,
    reason: FixupError,
) -> Error {
    Error::Fixup(Box::new(FixupFailure {
        file: g.input_name(g.blocks[b.index()].input).to_string(),
        section: g.input_section_name(b).to_string(),
        offset: u64::from(offset),
        kind: format!("{kind:?}"),
        target: g.symbol_name(target),
        reason,
    }))
}
