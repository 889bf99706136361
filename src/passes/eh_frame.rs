//! The unwind-information check, after fixups: every fixed-up `.eh_frame` block is parsed
//! before the host unwinder (or the executor's) is given it, so a malformed frame is an error
//! naming its input rather than a crash at the first exception.

use jitlink_arch::Arch;

use crate::error::Result;
use crate::graph::{LinkGraph, SectionRole};
use crate::memory::Image;

/// Checks every `.eh_frame` block of `g` as written in `mem`.
pub(crate) fn check<A: Arch>(g: &LinkGraph<'_, A>, mem: &mut dyn Image) -> Result<()> {
    for sec in g.sections.iter().filter(|s| s.role == SectionRole::EhFrame) {
        for &b in &sec.blocks {
            let blk = &g.blocks[b.index()];
            let len = blk.content.size() as usize;
            let bytes = mem.bytes_mut(blk.addr, len).map(|b| &*b).unwrap_or(&[]);
            crate::runtime::unwind::check(bytes, blk.addr)
                .map_err(|what| crate::error::malformed(g.input_name(blk.input), what))?;
        }
    }
    Ok(())
}

/// The address of the set's first `.eh_frame` block (its unwind information, registered as
/// one object), if it has one.
pub(crate) fn first<A: Arch>(g: &LinkGraph<'_, A>) -> Option<u64> {
    g.sections
        .iter()
        .filter(|s| s.role == SectionRole::EhFrame)
        .find_map(|s| s.blocks.first())
        .map(|b| g.blocks[b.index()].addr)
}
