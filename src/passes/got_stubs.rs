//! Pipeline stage 4 (passes, last before layout): takes the resolved graph and what its
//! reservation can reach; adds GOT entries and stubs, relaxes the rest.
//!
//! The GOT and stub pass.
//!
//! Runs after symbol resolution, when the chunk the graph will be placed in is known: every
//! target is either inside the graph (always in reach, since a graph lives in one chunk) or at a
//! known absolute address. So the pass decides once, before layout:
//!
//! - a GOT request whose target is in reach is relaxed to a direct form when the instruction
//!   allows (`mov` → `lea`, `call *` → `call`, `jmp *` → `jmp`); otherwise it gets a GOT entry;
//! - a branch whose target is out of reach goes through a jump stub (which jumps through a GOT
//!   entry); in reach, it stays direct;
//! - a 32-bit data reference that cannot reach a host function (or host code that no symbol
//!   starts at: an IFUNC's selected implementation) goes to the function's stub, and so does
//!   every other reference to it in the graph: the stub is its address inside this graph, as a
//!   static linker's canonical PLT entry is. One that cannot reach host data gets a copy of the
//!   data, as a static linker's copy relocation would (see the README for the limits); what
//!   neither can stand for is an error that suggests `-fPIC`.
//!
//! GOT entries and stubs are ordinary graph content: they go through layout and fixups like the
//! rest.

use jitlink_arch::{Arch, EdgeRole, Reach, TlsEntry};
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::graph::{
    BlockId, Content, Def, Edge, LinkGraph, Perm, SectionRole, SymbolId, SYNTHETIC,
};

/// Facts about a host symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSymbol {
    /// Size in bytes.
    pub size: u64,
    /// True for functions.
    pub function: bool,
    /// True if it lies in writable memory.
    pub writable: bool,
}

/// Facts about host symbols the pass needs for out-of-reach data references.
pub trait HostInfo {
    /// The host symbol at exactly `addr`, if any.
    fn describe(&self, addr: u64) -> Option<HostSymbol>;

    /// The current bytes of the host's memory at `[addr, addr + len)` (for copies of data
    /// objects that [`HostInfo::describe`] reported), if readable.
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
}

/// Whether a reference of reach class `reach` reaches absolute address `addr`.
pub trait Reachability {
    /// True if a 32-bit PC-relative reference from the graph's chunk reaches `addr`.
    fn pc_rel(&self, addr: u64) -> bool;

    /// True if a reference reaching `range` bytes either way from anywhere in the graph's
    /// chunk reaches `addr`. The default knows only the 32-bit case and answers no otherwise.
    fn within(&self, addr: u64, range: u64) -> bool {
        range >= 1 << 31 && self.pc_rel(addr)
    }
}

struct Tables {
    got: Option<BlockId>,
    stubs: Option<BlockId>,
    got_entries: FxHashMap<SymbolId, SymbolId>,
    stub_entries: FxHashMap<SymbolId, SymbolId>,
    copies: FxHashMap<SymbolId, SymbolId>,
    tls_entries: FxHashMap<(TlsEntry, SymbolId), SymbolId>,
}

/// Runs the pass.
///
/// `tlsdesc_resolver` is the address of the runtime's TLS descriptor resolver for static TLS.
pub fn run<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    reach: &dyn Reachability,
    host: &dyn HostInfo,
    tlsdesc_resolver: u64,
) -> Result<()> {
    let mut t = Tables {
        got: None,
        stubs: None,
        got_entries: FxHashMap::default(),
        stub_entries: FxHashMap::default(),
        copies: FxHashMap::default(),
        tls_entries: FxHashMap::default(),
    };
    if let Some(sym) = g.got_base {
        if g.symbols[sym.index()].def == Def::External {
            let got = got_block(g, &mut t);
            g.symbols[sym.index()].def = Def::Block {
                block: got,
                offset: 0,
            };
        }
    }
    let canonical = canonical_stubs(g, reach, host);
    let nblocks = g.blocks.len();
    for b in 0..nblocks {
        for i in 0..g.blocks[b].edges.len() {
            let mut e = g.blocks[b].edges[i];
            // (Not the GOT's own entries: a stub's slot holds the function itself.)
            if canonical.contains(&e.target)
                && t.got != Some(BlockId(b as u32))
                && !matches!(A::role(e.kind), EdgeRole::TlsRequest { .. })
            {
                // Every reference sees the stub as the function's address (as a static
                // linker's canonical PLT entry), so that `&f == &f` holds across the link.
                e.target = stub(g, &mut t, e.target);
                g.blocks[b].edges[i] = e;
            }
            let target = &g.symbols[e.target.index()];
            let abs = match target.def {
                Def::Absolute(a) => Some(a),
                _ => None,
            };
            let pc_reach = abs.is_none_or(|a| reach.pc_rel(a));
            let new = match A::role(e.kind) {
                EdgeRole::Data(Reach::Any) => continue,
                EdgeRole::Data(class) => {
                    let Some(addr) = abs else { continue };
                    if data_reaches(class, addr, reach) || addr == 0 {
                        continue;
                    }
                    let callable = target.callable;
                    match host.describe(addr) {
                        Some(h) if h.function => Edge {
                            target: stub(g, &mut t, e.target),
                            ..e
                        },
                        // Read-only data (vtables, type info, constant tables) is copied
                        // exactly; a pointer-sized variable (stdout) is copied as of now.
                        Some(h) if h.size > 0 && (!h.writable || h.size <= A::POINTER_SIZE) => {
                            match copy(g, &mut t, host, e.target, addr, h.size) {
                                Some(target) => Edge { target, ..e },
                                None => {
                                    return Err(unreachable_host(
                                        g,
                                        (b, e),
                                        addr,
                                        "its bytes could not be read to copy them",
                                    ))
                                }
                            }
                        }
                        Some(h) if h.size > 0 && h.writable => {
                            let blk = &g.blocks[b];
                            return Err(Error::Unsupported {
                                file: g.input_name(blk.input).to_string(),
                                what: format!(
                                    "section {} offset {:#x}: non-PIC reference to host data object {} ({} bytes, writable), \
                                     which lies beyond reach; a copy would not be shared with the library that owns it: \
                                     compile with -fPIC or -fPIE",
                                    g.input_section_name(BlockId(b as u32)),
                                    e.offset,
                                    g.symbol_name(e.target),
                                    h.size
                                ),
                            });
                        }
                        _ if callable => Edge {
                            target: stub(g, &mut t, e.target),
                            ..e
                        },
                        // Nothing the host knows (an `--abs` address at a fixed base): left
                        // as it is, for the fixup (which reports an overflow with full context;
                        // a kind without overflow check keeps its low bits, as lld does).
                        None => continue,
                        _ => {
                            return Err(unreachable_host(
                                g,
                                (b, e),
                                addr,
                                "no symbol of known size starts there and it is not code, so \
                                 neither a stub nor a copy can stand for it",
                            ))
                        }
                    }
                }
                EdgeRole::Branch => {
                    if abs.is_none_or(|a| reach.within(a, A::BRANCH_RANGE)) {
                        continue;
                    }
                    Edge {
                        kind: A::direct_branch(e.kind),
                        target: stub(g, &mut t, e.target),
                        ..e
                    }
                }
                EdgeRole::TlsRequest { entry, to_entry } => {
                    check_tls_target(g, b, e.offset, e.target)?;
                    let target = tls_entry(g, &mut t, entry, e.target, tlsdesc_resolver);
                    Edge {
                        kind: to_entry,
                        target,
                        ..e
                    }
                }
                EdgeRole::GotRequest { to_entry } => {
                    let relaxed = if pc_reach
                        && !matches!(g.symbols[e.target.index()].def, Def::External)
                        && pair_relaxable(g, b, &e)
                    {
                        let content = g.blocks[b].content.bytes().unwrap_or(&[]);
                        A::relax_got_load(e.kind, content, e.offset as usize)
                    } else {
                        None
                    };
                    match relaxed {
                        Some(kind) => Edge { kind, ..e },
                        None => Edge {
                            kind: to_entry,
                            target: got_entry(g, &mut t, e.target),
                            ..e
                        },
                    }
                }
            };
            g.blocks[b].edges[i] = new;
        }
    }
    Ok(())
}

/// A GOT load written as two instructions (AArch64 `adrp` + `ldr`) is relaxed only whole:
/// the other half's edge (see [`Arch::got_load_partner`]) must be at its place, to the same
/// target, both without addend; it may have been relaxed already, by the same rule.
fn pair_relaxable<A: Arch>(g: &LinkGraph<'_, A>, b: usize, e: &Edge<A::EdgeKind>) -> bool {
    let Some((delta, partner)) = A::got_load_partner(e.kind) else {
        return true;
    };
    let Ok(at) = u32::try_from(i64::from(e.offset) + delta) else {
        return false;
    };
    let blk = &g.blocks[b];
    let content = blk.content.bytes().unwrap_or(&[]);
    let partner_relaxed = A::relax_got_load(partner, content, at as usize);
    e.addend == 0
        && blk.edges.iter().any(|o| {
            o.offset == at
                && o.target == e.target
                && o.addend == 0
                && (o.kind == partner || Some(o.kind) == partner_relaxed)
        })
}

/// Whether a data reference of reach `class` can hold host address `addr` as it is.
fn data_reaches(class: Reach, addr: u64, reach: &dyn Reachability) -> bool {
    match class {
        Reach::Any => true,
        Reach::Abs32 => addr < (1 << 31),
        // Only the graph is within 32 bits above its base.
        Reach::ImageRel32 => false,
        Reach::PcRel32 => reach.pc_rel(addr),
    }
}

/// Host functions that some data reference (a 32-bit absolute or PC-relative address of the
/// function, as `-fno-pic` code takes it) cannot reach: each gets a stub in reach that stands
/// for it in every reference of the graph. A host address counts as a function when the host
/// says so, when the symbol is known callable, or when it lies in code (an IFUNC's selected
/// implementation has no symbol of its own).
fn canonical_stubs<A: Arch>(
    g: &LinkGraph<'_, A>,
    reach: &dyn Reachability,
    host: &dyn HostInfo,
) -> rustc_hash::FxHashSet<SymbolId> {
    let mut decided: FxHashMap<SymbolId, bool> = FxHashMap::default();
    for blk in &g.blocks {
        for e in &blk.edges {
            let EdgeRole::Data(class) = A::role(e.kind) else {
                continue;
            };
            let s = &g.symbols[e.target.index()];
            let Def::Absolute(addr) = s.def else { continue };
            if data_reaches(class, addr, reach) || addr == 0 || decided.contains_key(&e.target) {
                continue;
            }
            let function = match host.describe(addr) {
                Some(h) => h.function,
                None => s.callable,
            };
            decided.insert(e.target, function);
        }
    }
    decided
        .into_iter()
        .filter_map(|(s, f)| f.then_some(s))
        .collect()
}

/// The error for data reference `e` of block `b` to host address `addr`, which it cannot
/// reach and which nothing in the graph can stand for, for `why`.
fn unreachable_host<A: Arch>(
    g: &LinkGraph<'_, A>,
    (b, e): (usize, Edge<A::EdgeKind>),
    addr: u64,
    why: &str,
) -> Error {
    Error::Unsupported {
        file: g.input_name(g.blocks[b].input).to_string(),
        what: format!(
            "section {} offset {:#x}: {:?} reference to {} at {addr:#x} (outside the linked \
             set) is out of range, and {why}; compile with -fPIC or -fPIE",
            g.input_section_name(BlockId(b as u32)),
            e.offset,
            e.kind,
            g.symbol_name(e.target),
        ),
    }
}

fn got_block<A: Arch>(g: &mut LinkGraph<'_, A>, t: &mut Tables) -> BlockId {
    *t.got.get_or_insert_with(|| {
        let sec = g.section("$__GOT", Perm::Read, SectionRole::Plain);
        g.add_block(sec, Content::Owned(Vec::new()), A::POINTER_SIZE, SYNTHETIC)
    })
}

fn append<A: Arch>(g: &mut LinkGraph<'_, A>, block: BlockId, bytes: &[u8]) -> u64 {
    let blk = &mut g.blocks[block.index()];
    match &mut blk.content {
        Content::Owned(v) => {
            let at = v.len() as u64;
            v.extend_from_slice(bytes);
            at
        }
        // Synthetic blocks are always owned; nothing else is appended to.
        _ => 0,
    }
}

fn check_tls_target<A: Arch>(
    g: &LinkGraph<'_, A>,
    block: usize,
    offset: u32,
    target: SymbolId,
) -> Result<()> {
    if let Def::Block { block: tb, .. } = g.symbols[target.index()].def {
        if g.is_tls_block(tb) {
            return Ok(());
        }
    }
    if g.host_tls.contains_key(&target) {
        return Ok(());
    }
    let blk = &g.blocks[block];
    Err(Error::Unsupported {
        file: g.input_name(blk.input).to_string(),
        what: format!(
            "section {} offset {offset:#x}: thread-local access to {}, which is not a thread-local variable defined in the linked set",
            g.input_section_name(BlockId(block as u32)),
            g.symbol_name(target)
        ),
    })
}

/// GOT entries for a thread-local access: see [`TlsEntry`].
fn tls_entry<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    t: &mut Tables,
    entry: TlsEntry,
    target: SymbolId,
    resolver: u64,
) -> SymbolId {
    // Every local-dynamic access shares one (module, 0) pair.
    let key_target = if entry == TlsEntry::Module {
        SymbolId(u32::MAX)
    } else {
        target
    };
    if let Some(&e) = t.tls_entries.get(&(entry, key_target)) {
        return e;
    }
    let ptr = A::POINTER_SIZE;
    let words: u64 = if entry == TlsEntry::TpOffset { 1 } else { 2 };
    let block = got_block(g, t);
    if let Some(&h) = g.host_tls.get(&target) {
        // A host library's variable: the loader's answers, written as they are.
        let tp = h.tp_offset.unwrap_or(0) as u64;
        let values: Vec<u64> = match entry {
            TlsEntry::ModuleAndOffset => vec![h.module, h.offset],
            TlsEntry::Module => vec![h.module, 0],
            TlsEntry::TpOffset => vec![tp],
            TlsEntry::Descriptor => vec![resolver, tp],
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let offset = append(g, block, &bytes);
        let sym = g.add_anonymous(block, offset, words * ptr, false);
        t.tls_entries.insert((entry, key_target), sym);
        return sym;
    }
    let offset = append(g, block, &vec![0u8; (words * ptr) as usize]);
    let mut edges = Vec::new();
    match entry {
        TlsEntry::ModuleAndOffset => {
            edges.push((A::TLS_MODULE_KIND, 0, target));
            edges.push((A::TLS_OFFSET_KIND, ptr, target));
        }
        TlsEntry::Module => edges.push((A::TLS_MODULE_KIND, 0, target)),
        TlsEntry::TpOffset => edges.push((A::TP_OFFSET_KIND, 0, target)),
        TlsEntry::Descriptor => {
            let r = g.add_absolute(resolver, true, SYNTHETIC);
            edges.push((A::POINTER_KIND, 0, r));
            edges.push((A::TP_OFFSET_KIND, ptr, target));
        }
    }
    for (kind, at, tgt) in edges {
        g.blocks[block.index()].edges.push(Edge {
            kind,
            offset: (offset + at) as u32,
            target: tgt,
            addend: 0,
        });
    }
    let sym = g.add_anonymous(block, offset, words * ptr, false);
    t.tls_entries.insert((entry, key_target), sym);
    sym
}

fn got_entry<A: Arch>(g: &mut LinkGraph<'_, A>, t: &mut Tables, target: SymbolId) -> SymbolId {
    if let Some(&e) = t.got_entries.get(&target) {
        return e;
    }
    let block = got_block(g, t);
    let offset = append(g, block, &[0u8; 8][..A::POINTER_SIZE as usize]);
    g.blocks[block.index()].edges.push(Edge {
        kind: A::POINTER_KIND,
        offset: offset as u32,
        target,
        addend: 0,
    });
    let entry = g.add_anonymous(block, offset, A::POINTER_SIZE, false);
    t.got_entries.insert(target, entry);
    entry
}

fn stub<A: Arch>(g: &mut LinkGraph<'_, A>, t: &mut Tables, target: SymbolId) -> SymbolId {
    if let Some(&s) = t.stub_entries.get(&target) {
        return s;
    }
    let slot = got_entry(g, t, target);
    let block = *t.stubs.get_or_insert_with(|| {
        let sec = g.section("$__STUBS", Perm::ReadExec, SectionRole::Plain);
        g.add_block(
            sec,
            Content::Owned(Vec::new()),
            A::JUMP_STUB.align,
            SYNTHETIC,
        )
    });
    let tpl = A::JUMP_STUB;
    let offset = append(g, block, tpl.bytes);
    g.blocks[block.index()].edges.push(Edge {
        kind: tpl.slot_kind,
        offset: (offset + tpl.slot_offset as u64) as u32,
        target: slot,
        addend: tpl.slot_addend,
    });
    let s = g.add_anonymous(block, offset, tpl.bytes.len() as u64, true);
    t.stub_entries.insert(target, s);
    s
}

fn copy<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    t: &mut Tables,
    host: &dyn HostInfo,
    target: SymbolId,
    addr: u64,
    size: u64,
) -> Option<SymbolId> {
    if let Some(&c) = t.copies.get(&target) {
        return Some(c);
    }
    let bytes = host.read(addr, usize::try_from(size).ok()?)?;
    let sec = g.section("$__COPIES", Perm::ReadWrite, SectionRole::Plain);
    let block = g.add_block(sec, Content::Owned(bytes), 16, SYNTHETIC);
    let c = g.add_anonymous(block, 0, size, false);
    t.copies.insert(target, c);
    Some(c)
}
