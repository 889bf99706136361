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

use crate::passes::locals::unnamed;
use jitlink_arch::Arch;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::graph::{BlockId, Content, Def, Edge, LinkGraph, Perm, Scope, SectionRole, SymbolId};

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
    /// [`BindMode::NewVersion`]: keep the root global, for a link that replaces the set defining
    /// it ([`crate::Session::replace`]): the new version takes the root's name and stub.
    pub publish_root: bool,
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

/// A live global definition: its address and its size.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Its address (a function's stub).
    pub addr: u64,
    /// Size in bytes (0 if unknown).
    pub size: u64,
}

/// Rewrites `g` as described in the module docs; returns the root symbol (none for
/// [`BindMode::ObjectData`]).
pub fn run<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    spec: &BindSpec,
    live: &dyn Fn(&[u8]) -> Option<Live>,
) -> Result<Option<SymbolId>> {
    let mut binder = Binder {
        spec,
        live,
        file: g.input_name(0).to_string(),
        object_data: matches!(spec.mode, BindMode::ObjectData),
        same_object: match &spec.mode {
            BindMode::FunctionOf(blocks, _) => Some(blocks),
            _ => None,
        },
        root_syms: FxHashSet::default(),
        named: named_statics(g),
    };
    let (roots, root) = binder.roots(g)?;
    let mut plan = Plan {
        keep: roots.iter().copied().collect(),
        ..Plan::default()
    };
    binder.walk(g, &mut plan, roots)?;
    binder.keep_live_globals(g, &mut plan);
    binder.place_low_if_bound_low(g, &plan);
    apply(g, plan);
    if let (Some(r), BindMode::NewVersion, false) = (root, &spec.mode, spec.publish_root) {
        g.symbols[r.index()].scope = Scope::Local;
    }
    Ok(root)
}

/// What [`run`] decides, applied to the graph at the end by [`apply`].
#[derive(Default)]
struct Plan {
    /// Blocks that stay in the graph.
    keep: FxHashSet<BlockId>,
    /// Symbols that become external, so resolution binds them to the live definitions.
    to_external: FxHashSet<SymbolId>,
    /// Symbols bound to a live address.
    rebind: FxHashMap<SymbolId, u64>,
    /// Writable blocks referenced through an unnamed symbol: their live base address, if
    /// their layout agrees with the live one.
    block_base: FxHashMap<BlockId, Option<u64>>,
    /// Edges (block, index) retargeted to a live address.
    retarget: Vec<(BlockId, usize, u64)>,
}

/// The facts [`run`] decides by: the spec, the live image, the roots and the object's statics.
struct Binder<'s> {
    spec: &'s BindSpec,
    live: &'s dyn Fn(&[u8]) -> Option<Live>,
    file: String,
    /// [`BindMode::ObjectData`].
    object_data: bool,
    /// [`BindMode::FunctionOf`]'s addresses of the object's data, by block index.
    same_object: Option<&'s FxHashMap<u32, u64>>,
    /// The symbols of the functions being linked.
    root_syms: FxHashSet<SymbolId>,
    /// Named statics of each block, for references through section symbols (assemblers refer
    /// to globals by name, to statics through the section).
    named: FxHashMap<BlockId, Vec<SymbolId>>,
}

/// Named local data symbols of each block.
fn named_statics<A: Arch>(g: &LinkGraph<'_, A>) -> FxHashMap<BlockId, Vec<SymbolId>> {
    let mut named: FxHashMap<BlockId, Vec<SymbolId>> = FxHashMap::default();
    for (i, s) in g.symbols.iter().enumerate() {
        if let Def::Block { block, .. } = s.def {
            if !unnamed(s.name) && !s.callable && s.scope == Scope::Local {
                named.entry(block).or_default().push(SymbolId(i as u32));
            }
        }
    }
    named
}

/// The protection block `b` is bound with, its section's role, and whether it is
/// `.data.rel.ro`. `.data.rel.ro` is writable only for the dynamic linker's sake: `const` data
/// holding addresses. It is not state, and a function's own tables (a computed-goto dispatch
/// table holds addresses of labels inside the function) must be the new version's: it is
/// copied, as read-only data is.
fn perm_role<A: Arch>(g: &LinkGraph<'_, A>, b: BlockId) -> (Perm, SectionRole, bool) {
    let sec = &g.sections[g.blocks[b.index()].section.index()];
    let relro = g.input_section_name(b).starts_with(".data.rel.ro");
    (if relro { Perm::Read } else { sec.perm }, sec.role, relro)
}

impl Binder<'_> {
    /// The definition is refused for `reason`.
    fn refuse(&self, reason: String) -> Error {
        Error::Unbindable {
            file: self.file.clone(),
            symbol: if self.object_data {
                "its data".into()
            } else {
                self.spec.root.clone()
            },
            reason,
        }
    }

    /// The blocks the walk starts from and the root symbol: the object's data for
    /// [`BindMode::ObjectData`], else the blocks of the root and the other functions named.
    fn roots<A: Arch>(&mut self, g: &LinkGraph<'_, A>) -> Result<(Vec<BlockId>, Option<SymbolId>)> {
        let mut roots: Vec<BlockId> = Vec::new();
        let mut root = None;
        if self.object_data {
            for sec in &g.sections {
                if sec.perm != Perm::ReadExec && sec.role == SectionRole::Plain {
                    roots.extend(sec.blocks.iter().copied());
                }
            }
            return Ok((roots, root));
        }
        let others = match &self.spec.mode {
            BindMode::FunctionOf(_, others) => &others[..],
            _ => &[],
        };
        for name in std::iter::once(&self.spec.root).chain(others) {
            let r = match g.globals.get(name.as_bytes()) {
                Some(&r) if g.symbols[r.index()].callable => r,
                _ => return Err(self.refuse(format!("it defines no function {name}"))),
            };
            let Def::Block { block, .. } = g.symbols[r.index()].def else {
                return Err(self.refuse(format!("it defines no function {name}")));
            };
            roots.push(block);
            self.root_syms.insert(r);
            root.get_or_insert(r);
        }
        Ok((roots, root))
    }

    /// The live address of named data symbol `s` of the new object, checking its size; `None`
    /// for a global, which resolution binds by name.
    fn counterpart<A: Arch>(&self, g: &LinkGraph<'_, A>, s: SymbolId) -> Result<Option<u64>> {
        let sym = &g.symbols[s.index()];
        let name = String::from_utf8_lossy(sym.name);
        if sym.scope != Scope::Local {
            return match (self.live)(sym.name) {
                Some(l) if l.size != sym.size && l.size != 0 && sym.size != 0 => {
                    Err(self.refuse(format!(
                        "{name} has size {} here and {} in the running version",
                        sym.size, l.size
                    )))
                }
                Some(_) => Ok(None), // bound by name during resolution
                None => Err(self.refuse(format!(
                    "writable data {name} has no counterpart in the running version"
                ))),
            };
        }
        match self.spec.locals.get(sym.name) {
            Some(LocalData {
                addr: Some(a),
                size,
            }) if *size == sym.size || sym.size == 0 => Ok(Some(*a)),
            Some(LocalData {
                addr: Some(_),
                size,
            }) => Err(self.refuse(format!(
                "static {name} has size {} here and {size} in the running version",
                sym.size
            ))),
            Some(LocalData { addr: None, .. }) => Err(self.refuse(format!(
                "the running version has several statics named {name}"
            ))),
            None => Err(self.refuse(format!(
                "writable static {name} has no counterpart in the running version"
            ))),
        }
    }

    /// Follows the edges of the kept blocks from `roots`, deciding for each target whether it
    /// is kept (copied), bound to the live image, or refused.
    fn walk<A: Arch>(
        &self,
        g: &LinkGraph<'_, A>,
        plan: &mut Plan,
        roots: Vec<BlockId>,
    ) -> Result<()> {
        let mut work = roots;
        while let Some(b) = work.pop() {
            for (ei, e) in g.blocks[b.index()].edges.iter().enumerate() {
                if let Some(tb) = self.visit(g, plan, (b, ei), e)? {
                    if plan.keep.insert(tb) {
                        work.push(tb);
                    }
                }
            }
        }
        Ok(())
    }

    /// Decides the target of edge `e` (number `ei` of block `b`): the block to keep for it, if
    /// any, after recording any binding in `plan`.
    fn visit<A: Arch>(
        &self,
        g: &LinkGraph<'_, A>,
        plan: &mut Plan,
        (b, ei): (BlockId, usize),
        e: &Edge<A::EdgeKind>,
    ) -> Result<Option<BlockId>> {
        let t = e.target;
        let s = &g.symbols[t.index()];
        let Def::Block { block: tb, offset } = s.def else {
            return Ok(None);
        };
        let (perm, role, relro) = perm_role(g, tb);
        let name = String::from_utf8_lossy(s.name).into_owned();
        if role == SectionRole::ThreadLocal {
            return Err(self.refuse(format!("it uses thread-local data ({})", g.symbol_name(t))));
        }
        if self.object_data && perm != Perm::ReadExec {
            // The object's own data, linked here.
            return Ok(Some(tb));
        }
        if let (Some(blocks), true) = (self.same_object, perm != Perm::ReadExec && !relro) {
            // Data of this object: already linked, from the same bytes.
            let Some(&a) = blocks.get(&tb.0) else {
                return Err(self.refuse(format!(
                    "{} is not linked with its object's data",
                    g.symbol_name(t)
                )));
            };
            plan.rebind.insert(t, a.wrapping_add(offset));
            return Ok(None);
        }
        if !self.root_syms.contains(&t) && s.scope != Scope::Local && !unnamed(s.name) {
            if let Some(l) = (self.live)(s.name) {
                if !s.callable && l.size != s.size && l.size != 0 && s.size != 0 {
                    return Err(self.refuse(format!(
                        "{name} has size {} here and {} in the running version",
                        s.size, l.size
                    )));
                }
                plan.to_external.insert(t);
                return Ok(None);
            }
            if perm == Perm::ReadWrite {
                return Err(self.refuse(format!(
                    "writable data {name} has no counterpart in the running version"
                )));
            }
        } else if perm == Perm::ReadWrite && !unnamed(s.name) {
            if let Some(a) = self.counterpart(g, t)? {
                plan.rebind.insert(t, a);
            }
            return Ok(None);
        } else if perm == Perm::ReadWrite {
            self.through_section(g, plan, (b, ei), e, (tb, offset))?;
            return Ok(None);
        }
        Ok(Some(tb))
    }

    /// Binds edge `e` (number `ei` of block `b`) to writable block `tb` through a section
    /// symbol at `offset`: the whole block, if its layout agrees with the live one, else the
    /// one static the reference can be to.
    fn through_section<A: Arch>(
        &self,
        g: &LinkGraph<'_, A>,
        plan: &mut Plan,
        (b, ei): (BlockId, usize),
        e: &Edge<A::EdgeKind>,
        (tb, offset): (BlockId, u64),
    ) -> Result<()> {
        let t = e.target;
        let base = match plan.block_base.get(&tb) {
            Some(b) => *b,
            None => {
                let b = self.congruent_base(g, self.named.get(&tb));
                plan.block_base.insert(tb, b);
                b
            }
        };
        if let Some(base) = base {
            plan.rebind.insert(t, base.wrapping_add(offset));
            return Ok(());
        }
        let at = offset as i64 + e.addend;
        let content = g.blocks[b.index()].content.bytes().unwrap_or(&[]);
        let biases = A::reference_biases(e.kind, content, e.offset as usize);
        let mut hit: Option<SymbolId> = None;
        for bias in biases.as_slice() {
            let o = at + bias;
            let found = self
                .named
                .get(&tb)
                .into_iter()
                .flatten()
                .copied()
                .find(|&n| {
                    let ns = &g.symbols[n.index()];
                    let Def::Block { offset: no, .. } = ns.def else {
                        return false;
                    };
                    o >= no as i64 && o < (no + ns.size.max(1)) as i64
                });
            match (hit, found) {
                (None, f) => hit = f,
                (Some(h), Some(f)) if h != f => {
                    return Err(self.refuse(format!(
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
            return Err(self.refuse(format!(
                "a reference into {} names no static",
                g.symbol_name(t)
            )));
        };
        let Def::Block { offset: ho, .. } = g.symbols[h.index()].def else {
            return Ok(());
        };
        let Some(addr) = self.counterpart(g, h)? else {
            return Err(self.refuse(format!(
                "global {} is referenced through its section",
                g.symbol_name(h)
            )));
        };
        plan.retarget
            .push((b, ei, addr.wrapping_sub(ho).wrapping_add(offset)));
        Ok(())
    }

    /// Other globals defined in kept blocks (functions sharing the root's section) stay the
    /// live ones: references to them bind to their stubs, and the copies here are never
    /// published.
    fn keep_live_globals<A: Arch>(&self, g: &LinkGraph<'_, A>, plan: &mut Plan) {
        for (i, s) in g.symbols.iter().enumerate() {
            if let Def::Block { block, .. } = s.def {
                let id = SymbolId(i as u32);
                if !self.root_syms.contains(&id)
                    && s.scope != Scope::Local
                    && plan.keep.contains(&block)
                    && (self.live)(s.name).is_some()
                {
                    plan.to_external.insert(id);
                }
            }
        }
    }

    /// Data bound in the low 2 GiB (tier 0 built with -fno-pic) must be reached from the new
    /// code, which may address it PC-relatively: the graph is placed low too.
    fn place_low_if_bound_low<A: Arch>(&self, g: &mut LinkGraph<'_, A>, plan: &Plan) {
        let low = |a: u64| a < 1 << 31;
        g.needs_low |= plan.rebind.values().any(|&a| low(a))
            || plan.retarget.iter().any(|&(_, _, a)| low(a))
            || plan.to_external.iter().any(|&t| {
                let s = &g.symbols[t.index()];
                !s.callable && (self.live)(s.name).is_some_and(|l| low(l.addr))
            });
    }

    /// The live address of a writable block whose named statics all sit at the same offsets
    /// as their live counterparts; `None` if the layouts differ.
    fn congruent_base<A: Arch>(
        &self,
        g: &LinkGraph<'_, A>,
        named: Option<&Vec<SymbolId>>,
    ) -> Option<u64> {
        let mut base = None;
        for &n in named.into_iter().flatten() {
            let Def::Block { offset, .. } = g.symbols[n.index()].def else {
                continue;
            };
            let Ok(Some(a)) = self.counterpart(g, n) else {
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
}

/// Applies `plan`: retargeted edges, rebound statics, externals, then drops everything not
/// kept.
fn apply<A: Arch>(g: &mut LinkGraph<'_, A>, plan: Plan) {
    for (b, ei, addr) in plan.retarget {
        let input = g.blocks[b.index()].input;
        let abs = g.add_absolute(addr, false, input);
        g.blocks[b.index()].edges[ei].target = abs;
    }
    for (t, a) in plan.rebind {
        g.symbols[t.index()].def = Def::Absolute(a);
    }
    for &t in &plan.to_external {
        let s = &mut g.symbols[t.index()];
        s.def = Def::External;
        s.size = 0;
    }
    let keep = &plan.keep;
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
}
