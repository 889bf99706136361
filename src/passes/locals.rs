//! Records the writable statics of each input of a laid-out set, by file and name: the
//! re-optimizer binds a new version of a function to its tier-0 input's statics.

use std::sync::Arc;

use jitlink_arch::Arch;
use rustc_hash::FxHashMap;

use crate::graph::{Def, LinkGraph, Perm, Scope, SectionRole};
use crate::passes::bind::LocalData;

/// The writable statics of one input, by name.
pub(crate) type Locals = FxHashMap<Box<[u8]>, LocalData>;

/// True for a symbol that names no static: no name, or an ELF mapping symbol (`$d`, `$x`, and
/// `$d.N`...: aarch64 and RISC-V mark data and code in sections with them, many per object).
pub(crate) fn unnamed(name: &[u8]) -> bool {
    match name {
        [] => true,
        [b'$', kind, rest @ ..] => {
            matches!(kind, b'a' | b'd' | b't' | b'x') && (rest.is_empty() || rest[0] == b'.')
        }
        _ => false,
    }
}

/// The named statics in writable, non-thread-local blocks of every input of `g` (whose input
/// names are `files`), by file.
pub(crate) fn record<A: Arch>(
    g: &LinkGraph<'_, A>,
    files: &[Arc<str>],
) -> FxHashMap<Arc<str>, Locals> {
    let mut out: FxHashMap<Arc<str>, Locals> = FxHashMap::default();
    for s in &g.symbols {
        let Def::Block { block, offset } = s.def else {
            continue;
        };
        let sec = &g.sections[g.blocks[block.index()].section.index()];
        if s.scope != Scope::Local
            || unnamed(s.name)
            || s.callable
            || sec.perm != Perm::ReadWrite
            || sec.role == SectionRole::ThreadLocal
        {
            continue;
        }
        let Some(file) = files.get(s.input as usize) else {
            continue;
        };
        let addr = g.blocks[block.index()].addr.wrapping_add(offset);
        out.entry(file.clone())
            .or_default()
            .entry(s.name.into())
            .and_modify(|d| d.addr = None)
            .or_insert(LocalData {
                addr: Some(addr),
                size: s.size,
            });
    }
    out
}
