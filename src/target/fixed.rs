//! The fixed-base target: the set is laid out at an address the caller chooses and written into
//! a buffer; nothing is mapped or run, and nothing comes from a host (symbols resolve from the
//! given absolute symbols only). Committing describes the image ([`LinkedImage`]): its blocks,
//! symbols, GOT entries and stubs, for `--check` expressions and differential tests.

use std::collections::BTreeMap;

use jitlink_arch::TlsValues;

use crate::builder::HostAbi;
use crate::error::{Error, Result};
use crate::graph::{BlockId, Def, LinkGraph, SectionRole, SymbolId};
use crate::image::{ImageBuffer, LinkedImage, PlacedBlock, PAGE};
use crate::layout::{Layout, TlsLayout};
use crate::passes::got_stubs::{HostInfo, HostSymbol};
use crate::target::{AnyArch, ArchKind, Finished, LinkArch, LinkTarget, Resolved, Span};

/// Links at a fixed base into a buffer.
pub(crate) struct FixedBase {
    base: u64,
}

impl FixedBase {
    /// A target placing the set at `base` (page-aligned).
    pub fn new(base: u64) -> Self {
        FixedBase { base }
    }
}

/// No host process: no symbol is a host symbol.
impl HostInfo for FixedBase {
    fn describe(&self, _addr: u64) -> Option<HostSymbol> {
        None
    }
    fn read(&self, _addr: u64, _len: usize) -> Option<Vec<u8>> {
        None
    }
}

impl LinkTarget for FixedBase {
    type Archs = AnyArch;
    type Reservation = Span;
    type Memory = ImageBuffer;
    type Committed = LinkedImage;

    fn arch(&self, first: Option<ArchKind>, _file: &str) -> Result<ArchKind> {
        Ok(first.unwrap_or(ArchKind::X86_64))
    }

    fn page_size(&self) -> usize {
        PAGE
    }

    fn tlsdesc_resolver(&self) -> u64 {
        // No host: the image is never run.
        0
    }

    fn resolve(
        &mut self,
        names: &[&[u8]],
        _abi: HostAbi,
        _file: &str,
    ) -> Result<Vec<Option<Resolved>>> {
        Ok(vec![None; names.len()])
    }

    fn reserve(&mut self, size: usize, _low: bool) -> Result<Span> {
        Ok(Span {
            lo: self.base,
            hi: self.base.saturating_add(size as u64),
        })
    }

    fn span(&self, r: &Span) -> Span {
        *r
    }

    fn unreserve(&mut self, _r: Span) {}

    fn allocate(&mut self, _r: Span, lay: &Layout, content_len: usize) -> Result<ImageBuffer> {
        let base = self.base;
        if !base.is_multiple_of(lay.align as u64) || base.checked_add(lay.len as u64).is_none() {
            return Err(Error::BadBase {
                base,
                why: format!(
                    "cannot hold the image ({:#x} bytes, alignment {:#x})",
                    lay.len, lay.align
                ),
            });
        }
        // The buffer ends with the last block that has content: zero-fill after it (a `.bss`
        // may claim up to the 2 GiB the layout allows) is not materialized.
        Ok(ImageBuffer {
            base,
            bytes: vec![0; content_len.min(lay.len)],
        })
    }

    fn load_tls<A: LinkArch>(
        &mut self,
        _init: &[u8],
        tl: &TlsLayout,
        _static_tls: bool,
    ) -> Result<TlsValues> {
        // Where an executable's block lies: below the thread pointer on x86-64 (variant II),
        // after the 16-byte thread control block, aligned, on AArch64 (variant I); at the
        // thread pointer itself on RISC-V (variant I with the thread pointer past the TCB, as
        // glibc's TLS_TCB_OFFSET of 0 and ld.lld place it).
        let tp_offset = match A::KIND {
            ArchKind::RiscV64 => 0,
            ArchKind::AArch64 => 16u64
                .checked_next_multiple_of(tl.align.max(1))
                .map_or(0, |o| o as i64),
            ArchKind::X86_64 => {
                let end = tl.len.checked_next_multiple_of(tl.align.max(1));
                end.map_or(0, |e| (e as i64).wrapping_neg())
            }
        };
        Ok(TlsValues {
            module: 1,
            tp_offset,
        })
    }

    fn commit<A: LinkArch>(
        &mut self,
        mem: ImageBuffer,
        set: Finished<'_, '_, A>,
    ) -> Result<LinkedImage> {
        Ok(describe(set.graph, mem, set.tls))
    }

    fn abandon(&mut self, _mem: ImageBuffer) {}

    fn point_stub(&mut self, _stub: &crate::stubs::RawStub, _body: u64) -> Result<()> {
        Err(Error::Internal(
            "a link at a fixed base has no redirectable functions",
        ))
    }
}

/// Collects what [`LinkedImage`] reports about the linked graph.
fn describe<A: LinkArch>(g: &LinkGraph<'_, A>, image: ImageBuffer, tls: TlsValues) -> LinkedImage {
    let name = |id: SymbolId| String::from_utf8_lossy(g.symbols[id.index()].name).into_owned();
    let in_section = |want: &'static str| {
        g.blocks
            .iter()
            .filter(move |b| g.sections[b.section.index()].name == want)
            .flat_map(|b| {
                b.edges
                    .iter()
                    .map(move |e| (b.addr.wrapping_add(u64::from(e.offset)), e))
            })
    };
    let blocks = g
        .blocks
        .iter()
        .enumerate()
        .map(|(i, blk)| {
            let sec = &g.sections[blk.section.index()];
            PlacedBlock {
                file: g.input_name(blk.input).to_string(),
                section: g.input_section_name(BlockId(i as u32)).to_string(),
                addr: blk.addr,
                size: blk.content.size(),
                thread_local: sec.role == SectionRole::ThreadLocal,
            }
        })
        .collect();
    // GOT entries: every entry is an anonymous symbol in the GOT block; an entry belongs to the
    // named target of the edges inside it (a TLS descriptor's first word targets the resolver).
    let starts: std::collections::BTreeSet<u64> = g
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| match s.def {
            Def::Block { block, .. } => {
                g.sections[g.blocks[block.index()].section.index()].name == "$__GOT"
            }
            _ => false,
        })
        .map(|(i, _)| g.address(SymbolId(i as u32)))
        .collect();
    let mut got = BTreeMap::new();
    let mut slots = BTreeMap::new();
    for (at, e) in in_section("$__GOT") {
        let target = name(e.target);
        if target.is_empty() {
            continue;
        }
        let entry = starts.range(..=at).next_back().copied().unwrap_or(at);
        slots.insert(entry, target.clone());
        got.entry(target).or_insert(entry);
    }
    // Stubs: each stub's slot edge targets the GOT entry of the stub's target.
    let mut stubs = BTreeMap::new();
    for (at, e) in in_section("$__STUBS") {
        if let Some(t) = slots.get(&g.address(e.target)) {
            stubs.insert(t.clone(), at.wrapping_sub(A::JUMP_STUB.slot_offset as u64));
        }
    }
    let mut symbols = BTreeMap::new();
    for global in [false, true] {
        for (i, s) in g.symbols.iter().enumerate() {
            if s.name.is_empty()
                || !matches!(s.def, Def::Block { .. })
                || (s.scope != crate::graph::Scope::Local) != global
            {
                continue;
            }
            let name = String::from_utf8_lossy(s.name).into_owned();
            let addr = g.address(SymbolId(i as u32));
            if global {
                symbols.insert(name, addr);
            } else {
                symbols.entry(name).or_insert(addr);
            }
        }
    }
    LinkedImage {
        base: image.base,
        bytes: image.bytes,
        blocks,
        symbols,
        got,
        stubs,
        tls,
        arch: A::KIND,
    }
}
