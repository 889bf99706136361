//! Fixups: copy every block's content to its address and apply its edges with the
//! architecture's `apply_fixup`. The architecture returns a context-free error; this stage adds
//! the input, section, offset and target.

use jitlink_arch::{Arch, FixupError, FixupValues};

use crate::error::{Error, FixupFailure, Result};
use crate::graph::{Content, LinkGraph};
use crate::memory::InFlight;

/// Writes all content and fixups into `mem`.
pub fn apply<A: Arch>(g: &LinkGraph<'_, A>, mem: &mut InFlight) -> Result<()> {
    let got = g
        .globals
        .get(crate::builder::elf::GOT_SYMBOL)
        .map_or(0, |&s| g.address(s));
    for blk in &g.blocks {
        let bytes = match &blk.content {
            Content::Zero(_) => continue,
            Content::Borrowed(b) => *b,
            Content::Owned(v) => v.as_slice(),
        };
        let out = mem.bytes_mut(blk.addr, bytes.len()).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "block at {:#x} lies outside its allocation",
                blk.addr
            ))
        })?;
        out.copy_from_slice(bytes);
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
            };
            if let Err(reason) = A::apply_fixup(e.kind, out, e.offset as usize, v) {
                return Err(failure(
                    g,
                    blk.section.index(),
                    blk.input,
                    e.offset,
                    e.kind,
                    e.target,
                    reason,
                ));
            }
        }
    }
    Ok(())
}

fn failure<A: Arch>(
    g: &LinkGraph<'_, A>,
    section: usize,
    input: u32,
    offset: u32,
    kind: A::EdgeKind,
    target: crate::graph::SymbolId,
    reason: FixupError,
) -> Error {
    Error::Fixup(Box::new(FixupFailure {
        file: g.input_name(input).to_string(),
        section: g.sections[section].name.to_string(),
        offset: u64::from(offset),
        kind: format!("{kind:?}"),
        target: g.symbol_name(target),
        reason,
    }))
}
