//! Fixed-base linking: the pipeline of [`crate::Session`] (build → resolve → GOT/stubs → layout →
//! rebase → fixups) run at an address the caller chooses, writing into an ordinary buffer
//! instead of reserved process memory. Nothing is mapped, protected or run, and nothing comes
//! from the host process: unresolved symbols resolve only from the given absolute symbols, so
//! the result is a deterministic function of the inputs. `jitlink --noexec --base` and
//! `--check`, the differential tester and the fuzz targets use it.
//!
//! Reachability mirrors the in-process link: a 32-bit PC-relative reference reaches any target
//! within ±2 GiB of every byte of the image; farther targets get GOT entries and stubs.

use std::collections::BTreeMap;

use jitlink_arch::{aarch64::AArch64, x86_64::X86_64, TlsValues};

use crate::builder::{self, BuildState};
use crate::builder::{archive::ArchiveIndex, detect, InputKind};
use crate::error::{Error, Result};
use crate::fixup::{self, Image};
use crate::graph::{BlockId, Content, Def, LinkGraph, SectionRole, SymbolId};
use crate::passes::got_stubs::{self, HostInfo, HostSymbol, Reachability};
use crate::{layout, link};

/// Page size of fixed-base layouts (segments start on 4 KiB boundaries, as on the host).
pub const PAGE: usize = 4096;

/// The largest thread-local block a fixed-base image accepts (as large as glibc's static TLS
/// can be made, by far).
const MAX_TLS: u64 = 1 << 30;

/// A block of the linked image: which input section it came from and where it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedBlock {
    /// The input file (`<linker>` for synthesized blocks such as the GOT and stubs).
    pub file: String,
    /// The section name (`$__GOT`, `$__STUBS` for synthesized tables).
    pub section: String,
    /// Its address (an offset in the thread-local block for thread-local sections).
    pub addr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// True for thread-local blocks.
    pub thread_local: bool,
}

/// The result of [`link_at_base`].
#[derive(Debug, Clone)]
pub struct LinkedImage {
    /// Address of the first byte of [`LinkedImage::bytes`].
    pub base: u64,
    /// The linked bytes from `base` to the end of the last block with content (zero-fill
    /// after it is not stored; [`LinkedImage::read`] returns `None` there).
    pub bytes: Vec<u8>,
    /// Every laid-out block, in graph order.
    pub blocks: Vec<PlacedBlock>,
    /// Addresses of named symbols defined in the image (the first definition of a local name
    /// wins; globals take precedence over locals).
    pub symbols: BTreeMap<String, u64>,
    /// Address of the GOT entry (the first one for thread-local entries) of each target.
    pub got: BTreeMap<String, u64>,
    /// Address of the jump stub of each target.
    pub stubs: BTreeMap<String, u64>,
    /// The thread-pointer offset the image was linked with (static TLS: the block ends at the
    /// thread pointer, as in an executable's variant II layout on x86-64; after the thread
    /// control block, variant I, on AArch64).
    pub tls: TlsValues,
    /// The ELF machine the image is for (`EM_X86_64`, `EM_AARCH64`).
    pub machine: u16,
}

impl LinkedImage {
    /// The bytes at `[addr, addr + len)`, if they lie in the image.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The address of the first block of section `section` from the input whose path or file
    /// name is `file`.
    pub fn section_addr(&self, file: &str, section: &str) -> Option<u64> {
        self.blocks
            .iter()
            .find(|b| b.section == section && same_file(&b.file, file))
            .map(|b| b.addr)
    }
}

/// True if `path` names `file`: equal, or equal after the last `/`.
fn same_file(path: &str, file: &str) -> bool {
    path == file || path.rsplit('/').next() == Some(file)
}

/// A linked image being written: a zeroed buffer at `base`.
pub struct BufferImage {
    base: u64,
    bytes: Vec<u8>,
}

impl Image for BufferImage {
    fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.bytes.get_mut(start..start.checked_add(len)?)
    }
}

/// Sizes of a graph built by [`build_graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GraphCounts {
    /// Sections.
    pub sections: usize,
    /// Blocks.
    pub blocks: usize,
    /// Symbols.
    pub symbols: usize,
    /// Edges.
    pub edges: usize,
}

/// Builds the graph of one input (an ELF object, or every member of an archive) without
/// linking it: the builder stage alone, as the `build_graph` fuzz target exercises it.
pub fn build_graph(name: &str, data: &[u8]) -> Result<GraphCounts> {
    let archive = match detect(name, data)? {
        InputKind::Archive => Some(ArchiveIndex::parse(name, data)?),
        InputKind::Elf | InputKind::MachO | InputKind::Coff => None,
    };
    let mut g = LinkGraph::<X86_64>::new("build");
    let mut st = BuildState::default();
    match &archive {
        None => builder::add_object(&mut g, &mut st, name, data)?,
        Some(ix) => {
            for (m, member) in ix.members.iter().enumerate() {
                builder::add_object(&mut g, &mut st, &member.name, ix.member_bytes(data, m))?;
            }
        }
    }
    Ok(GraphCounts {
        sections: g.sections.len(),
        blocks: g.blocks.len(),
        symbols: g.symbols.len(),
        edges: g.blocks.iter().map(|b| b.edges.len()).sum(),
    })
}

/// Links `inputs` (`(name, bytes)`: ELF relocatable objects, or archives whose members are
/// loaded when they define an undefined symbol) at `base`, resolving undefined symbols from
/// `absolutes` only. `base` must be page-aligned.
pub fn link_at_base(
    inputs: &[(String, Vec<u8>)],
    base: u64,
    absolutes: &[(String, u64)],
) -> Result<LinkedImage> {
    // The one match on the architecture, by the first object (or archive member) given.
    let mut machine = None;
    for (name, bytes) in inputs {
        machine = match detect(name, bytes)? {
            InputKind::Archive => {
                let ix = ArchiveIndex::parse(name, bytes)?;
                (0..ix.members.len())
                    .find_map(|m| builder::machine(name, ix.member_bytes(bytes, m)).ok())
            }
            _ => Some(builder::machine(name, bytes)?),
        };
        if machine.is_some() {
            break;
        }
    }
    match machine {
        None | Some(object::elf::EM_X86_64) => link_as::<X86_64>(inputs, base, absolutes),
        Some(object::elf::EM_AARCH64) => link_as::<AArch64>(inputs, base, absolutes),
        Some(m) => Err(Error::Unsupported {
            file: inputs.first().map(|i| i.0.clone()).unwrap_or_default(),
            what: format!("machine {m}"),
        }),
    }
}

fn link_as<A: builder::ObjectArch>(
    inputs: &[(String, Vec<u8>)],
    base: u64,
    absolutes: &[(String, u64)],
) -> Result<LinkedImage> {
    if !base.is_multiple_of(PAGE as u64) {
        return Err(Error::InvalidArgument(format!(
            "base {base:#x} is not a multiple of the page size ({PAGE:#x})"
        )));
    }
    let mut archives = Vec::new();
    for (name, bytes) in inputs {
        if detect(name, bytes)? == InputKind::Archive {
            archives.push((ArchiveIndex::parse(name, bytes)?, bytes));
        }
    }
    let mut g = LinkGraph::<A>::new("image");
    let mut st = BuildState::default();
    for (name, bytes) in inputs {
        if detect(name, bytes)? != InputKind::Archive {
            builder::add_object(&mut g, &mut st, name, bytes)?;
        }
    }
    // Archive members, on demand, until no undefined symbol is defined by an unloaded member.
    let mut loaded: Vec<Vec<bool>> = archives
        .iter()
        .map(|(ix, _)| vec![false; ix.members.len()])
        .collect();
    loop {
        let need: Vec<&[u8]> = g
            .globals
            .iter()
            .filter(|(_, &id)| g.symbols[id.index()].def == Def::External && !g.is_got_base(id))
            .map(|(&n, _)| n)
            .collect();
        let mut added = false;
        for name in need {
            for (ai, (ix, bytes)) in archives.iter().enumerate() {
                let Some(&m) = ix.symbols.get(name) else {
                    continue;
                };
                if !loaded[ai][m] {
                    loaded[ai][m] = true;
                    let data = ix.member_bytes(bytes, m);
                    builder::add_object(&mut g, &mut st, &ix.members[m].name, data)?;
                    added = true;
                }
                break;
            }
        }
        if !added {
            break;
        }
    }

    link::add_linker_content(&mut g);
    let mut undefined = Vec::new();
    for i in 0..g.symbols.len() {
        let s = &g.symbols[i];
        if s.def != Def::External || g.is_got_base(SymbolId(i as u32)) {
            continue;
        }
        let found = absolutes.iter().find(|(n, _)| n.as_bytes() == s.name);
        match (found, s.weak_ref) {
            (Some(&(_, a)), _) => g.symbols[i].def = Def::Absolute(a),
            (None, true) => g.symbols[i].def = Def::Absolute(0),
            (None, false) => undefined.push(SymbolId(i as u32)),
        }
    }
    if !undefined.is_empty() {
        return Err(link::undefined_error(&g, &undefined));
    }

    let estimate = link::estimate_size(&g, PAGE) as u64;
    let reach = FixedReach {
        lo: base,
        hi: base.saturating_add(estimate),
    };
    // No host: the TLS descriptor resolver is the address 0 (the image is never run).
    got_stubs::run(&mut g, &reach, &NoHost, 0)?;

    let lay = layout::layout(&mut g, PAGE)?;
    let tls_layout = layout::layout_tls(&mut g);
    if !base.is_multiple_of(lay.align as u64) || base.checked_add(lay.len as u64).is_none() {
        return Err(Error::InvalidArgument(format!(
            "base {base:#x} cannot hold the image ({:#x} bytes, alignment {:#x})",
            lay.len, lay.align
        )));
    }
    layout::rebase(&mut g, base);

    let tls = match tls_layout {
        Some(tl) => {
            if tl.len > MAX_TLS {
                return Err(Error::InvalidArgument(format!(
                    "thread-local block of {:#x} bytes is larger than {MAX_TLS:#x}",
                    tl.len
                )));
            }
            fixup::apply_tls(&g, tl.init_len)?;
            // Where an executable's block lies: below the thread pointer on x86-64 (variant
            // II), after the 16-byte thread control block, aligned, on AArch64 (variant I).
            let tp_offset = if A::E_MACHINE == object::elf::EM_AARCH64 {
                16u64.next_multiple_of(tl.align.max(1)) as i64
            } else {
                let end = tl.len.checked_next_multiple_of(tl.align.max(1));
                end.map_or(0, |e| (e as i64).wrapping_neg())
            };
            TlsValues {
                module: 1,
                tp_offset,
            }
        }
        None => TlsValues::default(),
    };
    // The buffer ends with the last block that has content: zero-fill after it (a `.bss` may
    // claim up to the 2 GiB the layout allows) is not materialized.
    let content_end = g
        .blocks
        .iter()
        .filter(|b| {
            !matches!(b.content, Content::Zero(_))
                && g.sections[b.section.index()].role != SectionRole::ThreadLocal
        })
        .map(|b| b.addr.saturating_sub(base).saturating_add(b.content.size()))
        .max()
        .unwrap_or(0);
    let mut image = BufferImage {
        base,
        bytes: vec![0; content_end.min(lay.len as u64) as usize],
    };
    fixup::apply(&g, &mut image, tls)?;
    Ok(describe(&g, image, tls))
}

/// Collects what [`LinkedImage`] reports about the linked graph.
fn describe<A: builder::ObjectArch>(
    g: &LinkGraph<'_, A>,
    image: BufferImage,
    tls: TlsValues,
) -> LinkedImage {
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
        machine: A::E_MACHINE,
    }
}

/// A 32-bit PC-relative reference reaches `addr` from every byte of `[lo, hi)`.
struct FixedReach {
    lo: u64,
    hi: u64,
}

impl Reachability for FixedReach {
    fn pc_rel(&self, addr: u64) -> bool {
        let far = |a: u64, b: u64| a.abs_diff(b) >= (1 << 31);
        !far(addr, self.lo) && !far(addr, self.hi)
    }
}

/// No host process: no symbol is a host symbol.
struct NoHost;

impl HostInfo for NoHost {
    fn describe(&self, _addr: u64) -> Option<HostSymbol> {
        None
    }
    fn read(&self, _addr: u64, _len: usize) -> Option<Vec<u8>> {
        None
    }
}
