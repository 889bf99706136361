//! Pipeline stage 7, fixups: takes the laid-out graph and its memory, writes every block and
//! applies every edge.
//!
//! Fixups: copy every block's content to its address and apply its edges with the
//! architecture's `apply_fixup`. The architecture returns a context-free error; this stage adds
//! the input, section, offset and target.

use jitlink_arch::{Arch, FixupError, FixupValues, TlsValues};

use crate::error::{Error, FixupFailure, Result};
use crate::graph::{BlockId, Content, Def, InputId, LinkGraph, SectionRole};
pub use crate::memory::Image;

/// Writes all content and fixups into `mem`; thread-local blocks are left to [`apply_tls`].
///
/// Blocks are written in the order they were built, one input after the other, and `copied` is
/// told of each input as soon as the last of its blocks is written: from then on this stage
/// reads nothing of it, so the caller can give its pages back while the others are copied.
pub fn apply<A: Arch>(
    g: &LinkGraph<'_, A>,
    mem: &mut dyn Image,
    tls: TlsValues,
    copied: &mut dyn FnMut(InputId),
) -> Result<()> {
    let got = got_address(g);
    // The blocks laid out in the image (passes may have taken blocks out of their sections),
    // and the last of them of each input.
    let mut placed = vec![false; g.blocks.len()];
    for s in g
        .sections
        .iter()
        .filter(|s| s.role != SectionRole::ThreadLocal)
    {
        for &b in &s.blocks {
            placed[b.index()] = true;
        }
    }
    let mut last = vec![usize::MAX; g.inputs.len()];
    for (i, blk) in g.blocks.iter().enumerate() {
        if let Some(l) = last.get_mut(blk.input as usize).filter(|_| placed[i]) {
            *l = i;
        }
    }
    for (i, blk) in g.blocks.iter().enumerate() {
        if !placed[i] {
            continue;
        }
        if !matches!(blk.content, Content::Zero(_)) {
            let len = blk.content.size() as usize;
            let out = mem
                .bytes_mut(blk.addr, len)
                .ok_or(Error::Internal("a block lies outside its allocation"))?;
            apply_block(g, BlockId(i as u32), out, got, tls)?;
        }
        if last.get(blk.input as usize) == Some(&i) {
            copied(blk.input);
        }
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
            return Err(Error::Internal(
                "a thread-local block lies outside its image",
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
            // The target's address and the start of its section (its block), as
            // `LinkGraph::address` computes the address.
            let (addr, section) = match sym.def {
                Def::Block { block, offset } => {
                    let start = g.blocks[block.index()].addr;
                    (start.wrapping_add(offset), Some(start))
                }
                Def::Absolute(a) => (a, None),
                Def::External | Def::Discarded => (0, None),
            };
            let s = if A::uses_target_size(e.kind) {
                sym.size
            } else {
                addr
            };
            let v = FixupValues {
                p: blk.addr.wrapping_add(u64::from(e.offset)),
                s,
                a: e.addend,
                got,
                tls,
                image_base: g.image_base,
                section,
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

#[cfg(test)]
mod tests {
    use jitlink_arch::x86_64::{EdgeKind, X86_64};

    use super::*;
    use crate::graph::{Edge, Perm, Scope, SYNTHETIC};
    use crate::image::ImageBuffer;

    /// A `.text` block with `f` at 0x10, a `.pdata`-like block of three words referring to it
    /// (ADDR32NB begin and end, SECREL), and an image-base symbol; laid out and fixed up at
    /// `base`. Returns the words.
    fn pdata_at(base: u64) -> [u32; 3] {
        let mut g = LinkGraph::<X86_64>::new("t");
        let input = g.add_input("t.o");
        let text = g.section(".text", Perm::ReadExec, SectionRole::Plain);
        let code = g.add_block(text, Content::Owned(vec![0xc3; 0x20]), 16, input);
        let f = g.add_anonymous(code, 0x10, 0x10, true);
        let pdata = g.section(".pdata", Perm::Read, SectionRole::Plain);
        let words = g.add_block(pdata, Content::Owned(vec![0; 12]), 4, input);
        let edge = |kind, offset, addend| Edge {
            kind,
            offset,
            target: f,
            addend,
        };
        g.blocks[words.index()].edges = vec![
            edge(EdgeKind::ImageRelative32, 0, 0),
            edge(EdgeKind::ImageRelative32, 4, 0x10),
            edge(EdgeKind::SectionRelative32, 8, 4),
        ];
        let lay = crate::layout::layout(&mut g, 4096).unwrap();
        crate::layout::rebase(&mut g, base);
        assert_eq!(g.image_base, base);
        let mut image = ImageBuffer {
            base,
            bytes: vec![0; lay.len],
        };
        apply(&g, &mut image, TlsValues::default(), &mut |_| {}).unwrap();
        let at = (g.blocks[words.index()].addr - base) as usize;
        let word = |i: usize| {
            let b = &image.bytes[at + 4 * i..at + 4 * i + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        };
        [word(0), word(1), word(2)]
    }

    #[test]
    fn image_relative_words_hold_offsets_from_the_base_at_any_base() {
        // `f` is 0x10 into the first block of the set, wherever the set is placed: the words
        // hold RVAs (0x10, 0x20), not addresses, and SECREL its offset in its section plus 4.
        for base in [0x4000_0000, 0x7f12_3456_0000, 0x1_0000] {
            assert_eq!(pdata_at(base), [0x10, 0x20, 0x14], "base {base:#x}");
        }
    }

    #[test]
    fn the_image_base_symbol_is_the_base_and_secrel_needs_a_section() {
        let mut g = LinkGraph::<X86_64>::new("t");
        let input = g.add_input("t.o");
        let data = g.section(".data", Perm::ReadWrite, SectionRole::Plain);
        let block = g.add_block(data, Content::Owned(vec![0; 8]), 8, input);
        let sec = g.section(
            ".text$jitlink_image_base",
            Perm::ReadExec,
            SectionRole::Plain,
        );
        let placeholder = g.add_block(sec, Content::Zero(0), 1, SYNTHETIC);
        let image_base = g.add_anonymous(placeholder, 0, 0, false);
        g.symbols[image_base.index()].scope = Scope::Hidden;
        g.image_base_symbol = Some(image_base);
        let absolute = g.add_absolute(0x1234, false, input);
        g.blocks[block.index()].edges = vec![Edge {
            kind: EdgeKind::Pointer64,
            offset: 0,
            target: image_base,
            addend: 0,
        }];
        let lay = crate::layout::layout(&mut g, 4096).unwrap();
        let base = 0x5555_0000_0000;
        crate::layout::rebase(&mut g, base);
        assert_eq!(g.address(image_base), base);
        let mut image = ImageBuffer {
            base,
            bytes: vec![0; lay.len],
        };
        apply(&g, &mut image, TlsValues::default(), &mut |_| {}).unwrap();
        let at = (g.blocks[block.index()].addr - base) as usize;
        assert_eq!(image.bytes[at..at + 8], base.to_le_bytes());

        // SECREL to a symbol outside the graph: an error naming the place and the target.
        g.blocks[block.index()].edges = vec![Edge {
            kind: EdgeKind::SectionRelative32,
            offset: 0,
            target: absolute,
            addend: 0,
        }];
        let err = apply(&g, &mut image, TlsValues::default(), &mut |_| {}).unwrap_err();
        let Error::Fixup(failure) = &err else {
            panic!("{err}");
        };
        assert_eq!(failure.reason, FixupError::NoSection, "{err}");
        assert_eq!(
            (failure.file.as_str(), failure.section.as_str()),
            ("t.o", ".data")
        );
    }
}
