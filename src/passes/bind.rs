//! Binding a new definition of a running function to the live image (re-optimization).
//!
//! The graph holds one object with a better version of `root` (typically the same source compiled
//! with more optimization), which also defines everything else of that source. This pass keeps
//! only `root`'s block and what it needs, and makes the rest refer to the running program:
//!
//! - global symbols the live image defines (functions, data) become external, so resolution binds
//!   them to the live definitions: calls go through the functions' stubs, data is shared;
//! - file-static writable data is bound to the same-named static of the tier-0 object that defined
//!   `root` (`locals`). Assemblers refer to statics through the section symbol plus an offset, so a
//!   writable block is bound as a whole when the offsets of its named statics agree with the live
//!   ones, and otherwise per reference when the reference identifies one static unambiguously;
//! - code and read-only data that only this object has (static helpers, constants, strings) are
//!   copied, and so is `.data.rel.ro` (`const` data holding addresses, such as a computed-goto
//!   dispatch table of labels inside the function, which must be the new version's).
//!
//! Writable data with no counterpart, a size that differs from the live definition, thread-local
//! data, or an ambiguous reference refuse the definition ([`Error::Unbindable`]): state is never
//! duplicated. Unwind tables and initializers of the object are dropped.

use jitlink_arch::Arch;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::graph::{BlockId, Content, Def, LinkGraph, Perm, Scope, SectionRole, SymbolId};

/// A static (local) data symbol of a tier-0 input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalData {
    /// Its address; `None` if the input has several statics of that name.
    pub addr: Option<u64>,
    /// Its size.
    pub size: u64,
}

/// What the new definition is bound to.
#[derive(Debug, Clone, Default)]
pub struct BindSpec {
    /// The function being replaced (or, for [`BindMode::ObjectData`], none).
    pub root: String,
    /// The writable statics of the tier-0 input that defines it, by name.
    pub locals: FxHashMap<Box<[u8]>, LocalData>,
    /// How the graph is cut.
    pub mode: BindMode,
}

/// How [`run`] cuts the graph.
#[derive(Debug, Clone, Default)]
pub enum BindMode {
    /// A new version of a running function (re-optimization): the root becomes local, so it is
    /// neither published nor a duplicate of the running definition.
    #[default]
    NewVersion,
    /// Lazy linking per function: everything of the object except its code (data, read-only
    /// data, and the code only data refers to). Its functions resolve to their stubs.
    ObjectData,
    /// Lazy linking per function: the code of the root and of these other functions, with every
    /// reference to data of their object bound to that data as linked by
    /// [`BindMode::ObjectData`] from the same bytes (block index → address). The functions stay
    /// global, so the link points their stubs at them.
    FunctionOf(FxHashMap<u32, u64>, Vec<String>),
}

/// A live global definition: its address, its size and whether it is a function.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Its address (a function's stub).
    pub addr: u64,
    /// Size in bytes (0 if unknown).
    pub size: u64,
    /// True for functions.
    pub callable: bool,
}

/// Rewrites `g` as described in the module docs; returns the root symbol (none for
/// [`BindMode::ObjectData`]).
pub fn run<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    spec: &BindSpec,
    live: &dyn Fn(&[u8]) -> Option<Live>,
) -> Result<Option<SymbolId>> {
    let file = g.input_name(0).to_string();
    let object_data = matches!(spec.mode, BindMode::ObjectData);
    let refuse = |reason: String| Error::Unbindable {
        file: file.clone(),
        symbol: if object_data {
            "its data".into()
        } else {
            spec.root.clone()
        },
        reason,
    };
    let mut roots: Vec<BlockId> = Vec::new();
    let mut root = None;
    let mut root_syms: FxHashSet<SymbolId> = FxHashSet::default();
    if let BindMode::ObjectData = spec.mode {
        for sec in &g.sections {
            if sec.perm != Perm::ReadExec && sec.role == SectionRole::Plain {
                roots.extend(sec.blocks.iter().copied());
            }
        }
    } else {
        let others = match &spec.mode {
            BindMode::FunctionOf(_, others) => &others[..],
            _ => &[],
        };
        for name in std::iter::once(&spec.root).chain(others) {
            let r = match g.globals.get(name.as_bytes()) {
                Some(&r) if g.symbols[r.index()].callable => r,
                _ => return Err(refuse(format!("it defines no function {name}"))),
            };
            let Def::Block { block, .. } = g.symbols[r.index()].def else {
                return Err(refuse(format!("it defines no function {name}")));
            };
            roots.push(block);
            root_syms.insert(r);
            root.get_or_insert(r);
        }
    }
    let same_object = match &spec.mode {
        BindMode::FunctionOf(blocks, _) => Some(blocks),
        _ => None,
    };

    // Named statics of each block, for references through section symbols (assemblers refer to
    // globals by name, to statics through the section).
    let mut named: FxHashMap<BlockId, Vec<SymbolId>> = FxHashMap::default();
    for (i, s) in g.symbols.iter().enumerate() {
        if let Def::Block { block, .. } = s.def {
            if !s.name.is_empty() && !s.callable && s.scope == Scope::Local {
                named.entry(block).or_default().push(SymbolId(i as u32));
            }
        }
    }
    // `.data.rel.ro` is writable only for the dynamic linker's sake: `const` data holding
    // addresses. It is not state, and a function's own tables (a computed-goto dispatch table
    // holds addresses of labels inside the function) must be the new version's: copy it.
    let perm_role = |g: &LinkGraph<'_, A>, b: BlockId| {
        let sec = &g.sections[g.blocks[b.index()].section.index()];
        let relro = g.input_section_name(b).starts_with(".data.rel.ro");
        (if relro { Perm::Read } else { sec.perm }, sec.role, relro)
    };
    // The live address of a named data symbol of the new object, checking its size.
    let counterpart = |g: &LinkGraph<'_, A>, s: SymbolId| -> Result<Option<u64>> {
        let sym = &g.symbols[s.index()];
        let name = String::from_utf8_lossy(sym.name);
        if sym.scope != Scope::Local {
            return match live(sym.name) {
                Some(l) if l.size != sym.size && l.size != 0 && sym.size != 0 => {
                    Err(refuse(format!(
                        "{name} has size {} here and {} in the running version",
                        sym.size, l.size
                    )))
                }
                Some(_) => Ok(None), // bound by name during resolution
                None => Err(refuse(format!(
                    "writable data {name} has no counterpart in the running version"
                ))),
            };
        }
        match spec.locals.get(sym.name) {
            Some(LocalData {
                addr: Some(a),
                size,
            }) if *size == sym.size || sym.size == 0 => Ok(Some(*a)),
            Some(LocalData {
                addr: Some(_),
                size,
            }) => Err(refuse(format!(
                "static {name} has size {} here and {size} in the running version",
                sym.size
            ))),
            Some(LocalData { addr: None, .. }) => Err(refuse(format!(
                "the running version has several statics named {name}"
            ))),
            None => Err(refuse(format!(
                "writable static {name} has no counterpart in the running version"
            ))),
        }
    };

    let mut keep: FxHashSet<BlockId> = roots.iter().copied().collect();
    let mut work: Vec<BlockId> = keep.iter().copied().collect();
    let mut to_external: FxHashSet<SymbolId> = FxHashSet::default();
    let mut rebind: FxHashMap<SymbolId, u64> = FxHashMap::default();
    // Writable blocks referenced through an unnamed symbol: base address if congruent.
    let mut block_base: FxHashMap<BlockId, Option<u64>> = FxHashMap::default();
    let mut retarget: Vec<(BlockId, usize, u64)> = Vec::new();
    while let Some(b) = work.pop() {
        for (ei, e) in g.blocks[b.index()].edges.iter().enumerate() {
            let t = e.target;
            let s = &g.symbols[t.index()];
            let Def::Block { block: tb, offset } = s.def else {
                continue;
            };
            let (perm, role, relro) = perm_role(g, tb);
            let name = String::from_utf8_lossy(s.name).into_owned();
            if role == SectionRole::ThreadLocal {
                return Err(refuse(format!(
                    "it uses thread-local data ({})",
                    g.symbol_name(t)
                )));
            }
            if object_data && perm != Perm::ReadExec {
                // The object's own data, linked here.
                if keep.insert(tb) {
                    work.push(tb);
                }
                continue;
            }
            if let (Some(blocks), true) = (same_object, perm != Perm::ReadExec && !relro) {
                // Data of this object: already linked, from the same bytes.
                match blocks.get(&tb.0) {
                    Some(&a) => {
                        rebind.insert(t, a.wrapping_add(offset));
                    }
                    None => {
                        return Err(refuse(format!(
                            "{} is not linked with its object's data",
                            g.symbol_name(t)
                        )))
                    }
                }
                continue;
            }
            if !root_syms.contains(&t) && s.scope != Scope::Local && !s.name.is_empty() {
                if let Some(l) = live(s.name) {
                    if !s.callable && l.size != s.size && l.size != 0 && s.size != 0 {
                        return Err(refuse(format!(
                            "{name} has size {} here and {} in the running version",
                            s.size, l.size
                        )));
                    }
                    to_external.insert(t);
                    continue;
                }
                if perm == Perm::ReadWrite {
                    return Err(refuse(format!(
                        "writable data {name} has no counterpart in the running version"
                    )));
                }
            } else if perm == Perm::ReadWrite && !s.name.is_empty() {
                if let Some(a) = counterpart(g, t)? {
                    rebind.insert(t, a);
                }
                continue;
            } else if perm == Perm::ReadWrite {
                // Through the section symbol: the whole block, if its layout agrees.
                let base = match block_base.get(&tb) {
                    Some(b) => *b,
                    None => {
                        let b = congruent_base(g, named.get(&tb), &counterpart);
                        block_base.insert(tb, b);
                        b
                    }
                };
                if let Some(base) = base {
                    rebind.insert(t, base.wrapping_add(offset));
                    continue;
                }
                let at = offset as i64 + e.addend;
                let content = g.blocks[b.index()].content.bytes().unwrap_or(&[]);
                let biases = A::reference_biases(e.kind, content, e.offset as usize);
                let mut hit: Option<SymbolId> = None;
                for bias in biases.as_slice() {
                    let o = at + bias;
                    let found = named.get(&tb).into_iter().flatten().copied().find(|&n| {
                        let ns = &g.symbols[n.index()];
                        let Def::Block { offset: no, .. } = ns.def else {
                            return false;
                        };
                        o >= no as i64 && o < (no + ns.size.max(1)) as i64
                    });
                    match (hit, found) {
                        (None, f) => hit = f,
                        (Some(h), Some(f)) if h != f => {
                            return Err(refuse(format!(
                                "a reference into {} may be to {} or {}, and the section's layout \
                                 differs from the running version's",
                                g.symbol_name(t),
                                g.symbol_name(h),
                                g.symbol_name(f)
                            )))
                        }
                        _ => {}
                    }
                }
                let Some(h) = hit else {
                    return Err(refuse(format!(
                        "a reference into {} names no static",
                        g.symbol_name(t)
                    )));
                };
                let Def::Block { offset: ho, .. } = g.symbols[h.index()].def else {
                    continue;
                };
                let addr = match counterpart(g, h)? {
                    Some(a) => a,
                    None => {
                        return Err(refuse(format!(
                            "global {} is referenced through its section",
                            g.symbol_name(h)
                        )))
                    }
                };
                retarget.push((b, ei, addr.wrapping_sub(ho).wrapping_add(offset)));
                continue;
            }
            if keep.insert(tb) {
                work.push(tb);
            }
        }
    }

    // Other globals defined in kept blocks (functions sharing the root's section) stay the live
    // ones: references to them bind to their stubs, and the copies here are never published.
    for (i, s) in g.symbols.iter().enumerate() {
        if let Def::Block { block, .. } = s.def {
            let id = SymbolId(i as u32);
            if !root_syms.contains(&id)
                && s.scope != Scope::Local
                && keep.contains(&block)
                && live(s.name).is_some()
            {
                to_external.insert(id);
            }
        }
    }

    // Data bound in the low 2 GiB (tier 0 built with -fno-pic) must be reached from the new code,
    // which may address it PC-relatively: place the graph low too.
    let low = |a: u64| a < 1 << 31;
    g.needs_low |= rebind.values().any(|&a| low(a))
        || retarget.iter().any(|&(_, _, a)| low(a))
        || to_external.iter().any(|&t| {
            let s = &g.symbols[t.index()];
            !s.callable && live(s.name).is_some_and(|l| low(l.addr))
        });
    // Apply: retargeted edges, rebound statics, externals, then drop everything not kept.
    for (b, ei, addr) in retarget {
        let input = g.blocks[b.index()].input;
        let abs = g.add_absolute(addr, false, input);
        g.blocks[b.index()].edges[ei].target = abs;
    }
    for (t, a) in rebind {
        g.symbols[t.index()].def = Def::Absolute(a);
    }
    for &t in &to_external {
        let s = &mut g.symbols[t.index()];
        s.def = Def::External;
        s.size = 0;
    }
    for sec in &mut g.sections {
        sec.blocks.retain(|b| keep.contains(b));
        if sec.role != SectionRole::Plain && sec.blocks.is_empty() {
            // No unwind tables or initializers of the new object survive.
            sec.role = SectionRole::Plain;
        }
    }
    for (i, blk) in g.blocks.iter_mut().enumerate() {
        if !keep.contains(&BlockId(i as u32)) {
            blk.edges = Vec::new();
            blk.content = Content::Zero(0);
        }
    }
    for s in &mut g.symbols {
        if let Def::Block { block, .. } = s.def {
            if !keep.contains(&block) {
                s.def = Def::Discarded;
            }
        }
    }
    if let (Some(r), BindMode::NewVersion) = (root, &spec.mode) {
        g.symbols[r.index()].scope = Scope::Local;
    }
    Ok(root)
}

/// Finds the live address of a named static (see `run`).
type Counterpart<'f, A> = dyn Fn(&LinkGraph<'_, A>, SymbolId) -> Result<Option<u64>> + 'f;

/// The live address of a writable block whose named statics all sit at the same offsets as
/// their live counterparts; `None` if the layouts differ.
fn congruent_base<A: Arch>(
    g: &LinkGraph<'_, A>,
    named: Option<&Vec<SymbolId>>,
    counterpart: &Counterpart<'_, A>,
) -> Option<u64> {
    let mut base = None;
    for &n in named.into_iter().flatten() {
        let Def::Block { offset, .. } = g.symbols[n.index()].def else {
            continue;
        };
        let Ok(Some(a)) = counterpart(g, n) else {
            return None;
        };
        let b = a.wrapping_sub(offset);
        if base.is_some_and(|x| x != b) {
            return None;
        }
        base = Some(b);
    }
    base
}
