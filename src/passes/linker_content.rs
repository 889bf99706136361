//! Pipeline stage 3 (resolve), first pass: takes the graph with every input and member added.
//!
//! What the linker defines itself, added after the inputs and archive members: the set's
//! `__dso_handle`, `_TLS_MODULE_BASE_` when referenced, and the terminator of the set's
//! `.eh_frame`.

use jitlink_arch::Arch;

use crate::graph::{
    BlockId, Content, Def, LinkGraph, Perm, Scope, SectionId, SectionRole, SYNTHETIC,
};

/// Adds the linker's content to `g`; returns the block of `__dso_handle` (which identifies the
/// set to `__cxa_atexit`; defined whether or not an input references it).
pub(crate) fn add<A: Arch>(g: &mut LinkGraph<'_, A>) -> BlockId {
    let dso_block = {
        let sec = g.section("$__DSO", Perm::ReadWrite, SectionRole::Plain);
        let block = g.add_block(sec, Content::Zero(8), 8, SYNTHETIC);
        if let Some(&h) = g.globals.get(&b"__dso_handle"[..]) {
            if g.symbols[h.index()].def == Def::External {
                let s = &mut g.symbols[h.index()];
                s.def = Def::Block { block, offset: 0 };
                s.scope = Scope::Hidden;
            }
        }
        block
    };
    // `_TLS_MODULE_BASE_`: the start of the set's TLS block (TLS descriptors of the
    // local-dynamic model use it).
    if let Some(&base) = g.globals.get(&b"_TLS_MODULE_BASE_"[..]) {
        if let (Def::External, Some(block)) = (
            g.symbols[base.index()].def,
            crate::layout::first_tls_block(g),
        ) {
            let s = &mut g.symbols[base.index()];
            s.def = Def::Block { block, offset: 0 };
            s.scope = Scope::Hidden;
        }
    }
    // One zero-length terminator after all `.eh_frame` blocks: the set registers its
    // unwind information as one object, since libgcc stops searching at the first
    // registered object whose lowest address lies below the PC.
    if let Some(sec) = g
        .sections
        .iter()
        .position(|s| s.role == SectionRole::EhFrame)
    {
        g.add_block(
            SectionId(sec as u32),
            Content::Owned(vec![0; 4]),
            4,
            SYNTHETIC,
        );
    }
    dso_block
}
