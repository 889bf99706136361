//! Pipeline stage 3 (resolve), with the linker's content: section boundary symbols.
//!
//! A reference to a section's start or end by a reserved name, which static linkers answer
//! without any input defining the name: ELF `__start_NAME` / `__stop_NAME` for a section whose
//! name is a C identifier (GNU ld, lld), Mach-O `section$start$SEGMENT$SECTION` /
//! `section$end$SEGMENT$SECTION` (ld64). The names are format quirks, parsed by the format
//! builders ([`crate::builder::elf::boundary_symbol`], [`crate::builder::macho::boundary_symbol`]);
//! this pass defines every such name that the graph references and no input defines.
//!
//! The start is the first block of the graph section of that name, the stop the end of its last
//! block, in layout order ([`crate::layout`] places a section's blocks in order, content before
//! zero-fill). A section of content or of zero-fill only is one range; one that mixes them (rare:
//! inputs disagreeing on a section's type) is laid out as two pieces and the range spans what lies
//! between. A reference to a section that no input has gives an empty range (start == stop, at a
//! zero-size block of its own), as lld does. The symbols are hidden: each linked set has its own.

use jitlink_arch::Arch;

use crate::graph::SYNTHETIC;
use crate::graph::{BlockId, Content, Def, LinkGraph, Perm, Scope, SectionRole, SymbolId};

/// Which end of a section a boundary symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// The address of the section's first byte.
    Start,
    /// The address one past the section's last byte.
    Stop,
}

/// The formats whose boundary names the graph's inputs may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Formats {
    /// ELF objects are in the graph: `__start_NAME` / `__stop_NAME`.
    pub elf: bool,
}

/// Defines every referenced, undefined boundary symbol of `g`.
pub(crate) fn run<A: Arch>(g: &mut LinkGraph<'_, A>, formats: Formats) {
    let mut wanted: Vec<(SymbolId, Boundary, &str)> = g
        .globals
        .values()
        .filter(|&&id| g.symbols[id.index()].def == Def::External)
        .filter_map(|&id| {
            let name = g.symbols[id.index()].name;
            let parsed = crate::builder::macho::boundary_symbol(name).or_else(|| {
                formats
                    .elf
                    .then(|| crate::builder::elf::boundary_symbol(name))
                    .flatten()
            });
            parsed.map(|(end, section)| (id, end, section))
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    wanted.sort_unstable_by_key(|w| w.0);
    let mut empty: Option<BlockId> = None;
    for (id, end, section) in wanted {
        let def = match section_ends(g, section) {
            Some((first, last)) => match end {
                Boundary::Start => Def::Block {
                    block: first,
                    offset: 0,
                },
                Boundary::Stop => Def::Block {
                    block: last,
                    offset: g.blocks[last.index()].content.size(),
                },
            },
            None => {
                let block = *empty.get_or_insert_with(|| {
                    let sec = g.section("$__EMPTY_SECTIONS", Perm::Read, SectionRole::Plain);
                    g.add_block(sec, Content::Zero(0), 1, SYNTHETIC)
                });
                Def::Block { block, offset: 0 }
            }
        };
        let s = &mut g.symbols[id.index()];
        s.def = def;
        s.scope = Scope::Hidden;
        s.size = 0;
        s.callable = false;
    }
}

/// The first and last block of the graph section named `name`, in layout order (content
/// blocks, then zero-fill blocks); `None` if there is no such section or it has no block.
fn section_ends<A: Arch>(g: &LinkGraph<'_, A>, name: &str) -> Option<(BlockId, BlockId)> {
    let sec = g.sections.iter().find(|s| s.name == name)?;
    let is_zero = |b: &BlockId| matches!(g.blocks[b.index()].content, Content::Zero(_));
    let in_order = || {
        let content = sec.blocks.iter().filter(move |b| !is_zero(b));
        content.chain(sec.blocks.iter().filter(move |b| is_zero(b)))
    };
    let first = *in_order().next()?;
    let last = *in_order().last()?;
    Some((first, last))
}

/// True if `name` is a C identifier (ELF boundary symbols exist only for such sections).
pub(crate) fn is_c_identifier(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}
