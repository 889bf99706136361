//! The link pipeline, written once for every target and architecture:
//!
//! build graphs → load archive members → resolve → graph passes (linker content, redirectable
//! functions, GOT/stubs) → layout → allocate → fixups (with the unwind check, while the set's
//! symbols are published) → commit.
//!
//! [`link`] takes the inputs, the session's symbols, a [`LinkTarget`] (this process, an
//! executor, a buffer at a fixed base: see [`crate::target`]) and a [`Plan`] (what to bind,
//! where to place, what to record), and returns a [`Linked`] set: what the target committed,
//! what was published, and what the caller runs next (initializers, unwind registration). It
//! runs nothing itself. The one runtime match on the architecture is [`crate::target::dispatch`],
//! called here; every stage below it is generic.

use std::sync::Arc;

use jitlink_arch::TlsValues;
use rustc_hash::FxHashMap;

use crate::builder::{self, BuildState, Bytes, HostAbi};
use crate::debug::FunctionTable;
use crate::error::{Error, Result, Undefined};
use crate::graph::{BlockId, Content, Def, InputId, LinkGraph, SectionRole, SymbolId};
use crate::inputs::{first_arch, load_archive_members, ArchiveInput, Inputs};
use crate::layout::TlsLayout;
use crate::memory::Image;
use crate::options::Timings;
use crate::passes::bind::{self, BindSpec};
use crate::passes::locals::Locals;
use crate::passes::redirectable::{self, Redirect};
use crate::passes::{boundary, eh_frame, got_stubs, linker_content, locals};
use crate::runtime::init::{self, InitFini};
use crate::stubs::RawStub;
use crate::symbols::{Published, SymbolTable};
use crate::target::{Archs, Finished, ForArch, LinkArch, LinkTarget, Resolved};
use crate::{fixup, layout};

/// Sets with at least this many symbols publish their symbols on a second thread while fixups
/// run (below it, starting a thread costs more than it saves).
const PARALLEL_SYMBOLS: usize = 16_384;

/// The largest thread-local block a set may have (as large as glibc's static TLS can be made,
/// by far): checked before the block's initial image is allocated.
const MAX_TLS: u64 = 1 << 30;

/// The largest size estimate (content, alignment padding, room for GOT entries and stubs) for
/// which memory is reserved: twice the 2 GiB a layout may take.
const MAX_ESTIMATE: u64 = 1 << 32;

/// What a link reads: the objects to link and the session's archives.
pub(crate) struct LinkInputs<'i> {
    /// Objects linked whether referenced or not.
    pub pending: &'i [(String, Bytes)],
    /// Archives, whose members are loaded when they define what is undefined.
    pub archives: &'i [ArchiveInput],
    /// Which archive members earlier links loaded; updated.
    pub loaded: &'i mut [Vec<bool>],
}

impl<'i> LinkInputs<'i> {
    /// The objects `pending` (taken from `inputs`) and the archives of `inputs`.
    pub fn new(pending: &'i [(String, Bytes)], inputs: &'i mut Inputs) -> Self {
        LinkInputs {
            pending,
            archives: &inputs.archives,
            loaded: &mut inputs.loaded,
        }
    }
}

/// The session state a link reads and updates.
pub(crate) struct Context<'c> {
    /// Definitions of earlier sets; the new set's are published here.
    pub symbols: &'c mut SymbolTable,
    /// Absolute symbols, consulted after the session's own.
    pub absolutes: &'c [(String, u64)],
    /// Stage timings.
    pub timings: &'c mut Timings,
    /// Print the linked graph to stderr.
    pub show_graph: bool,
}

/// What the caller asks of one link.
pub(crate) struct Plan<'p> {
    /// The id of the new set (it owns the stubs made for it, and names its symbols).
    pub set: u32,
    /// A name to define from the archives even though nothing references it (a lookup).
    pub wanted: Option<&'p [u8]>,
    /// Bind the link to the live image: a new definition of a running function.
    pub bind: Option<BindSpec>,
    /// Make functions redirectable.
    pub redirect: Option<Redirect<'p>>,
    /// Place the set in the low 2 GiB even if no input needs it.
    pub low: bool,
    /// Record the writable statics of every input ([`SetFacts::locals`]).
    pub record_locals: bool,
    /// The set this one is a new version of: its definitions may be defined again, and the new
    /// ones take their names.
    pub replaces: Option<u32>,
}

impl<'p> Plan<'p> {
    /// A plain link of set `set` (and of the archive member defining `wanted`): nothing bound,
    /// redirected or recorded, placed where the inputs need.
    pub fn plain(set: u32, wanted: Option<&'p [u8]>) -> Self {
        Plan {
            set,
            wanted,
            bind: None,
            redirect: None,
            low: false,
            record_locals: false,
            replaces: None,
        }
    }
}

/// What a bound link linked (see [`Plan::bind`]).
pub(crate) struct Bound {
    /// Address of the bound function.
    pub root: Option<u64>,
    /// Address of every block laid out, by block index.
    pub blocks: FxHashMap<u32, u64>,
}

/// A linked set, committed by the target; nothing of it has run.
pub(crate) struct Linked<C> {
    /// What the target keeps of it.
    pub committed: C,
    /// What the caller needs to know of it, whatever the target.
    pub set: SetFacts,
}

/// What the caller of the pipeline needs to know of a linked set to publish, start and remove
/// it.
pub(crate) struct SetFacts {
    /// What was published in the session's symbols.
    pub published: Published,
    /// The set's input files, by input id.
    pub files: Vec<Arc<str>>,
    /// The address of the set's `__dso_handle`.
    pub dso: u64,
    /// The address of the set's unwind information.
    pub eh_frame: Option<u64>,
    /// Initializers and finalizers, in execution order.
    pub init_fini: InitFini,
    /// With [`Plan::bind`]: what was bound.
    pub bound: Option<Bound>,
    /// With [`Plan::record_locals`]: the writable statics of each input.
    pub locals: FxHashMap<Arc<str>, Locals>,
    /// What the set references in earlier sets.
    pub refs: Refs,
}

/// What a set references in the session's earlier sets: it must not outlive them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Refs {
    /// Sets whose definitions it references directly, sorted, without repeats.
    pub sets: Vec<u32>,
    /// Stubs of redirectable functions it references, by address, sorted, without repeats.
    pub stubs: Vec<u64>,
}

/// Links `inputs` for `target` as set `plan.set`: the pipeline every target runs. `None` if
/// nothing was linked (nothing pending and nothing wanted from the archives).
pub(crate) fn link<T: LinkTarget>(
    inputs: LinkInputs<'_>,
    ctx: Context<'_>,
    target: &mut T,
    plan: Plan<'_>,
) -> Result<Option<Linked<T::Committed>>> {
    let (first, file) = first_arch(inputs.pending, inputs.archives)?;
    let arch = target.arch(first, &file)?;
    T::Archs::dispatch(
        arch,
        Job {
            inputs,
            ctx,
            target,
            plan,
        },
    )
}

struct Job<'j, T> {
    inputs: LinkInputs<'j>,
    ctx: Context<'j>,
    target: &'j mut T,
    plan: Plan<'j>,
}

impl<T: LinkTarget> ForArch for Job<'_, T> {
    type Output = Result<Option<Linked<T::Committed>>>;
    fn run<A: LinkArch>(self) -> Self::Output {
        link_as::<A, T>(self)
    }
}

/// A graph and what its builders know about it.
struct Built<'a, A: LinkArch> {
    g: LinkGraph<'a, A>,
    st: BuildState<'a>,
    /// With a bind plan: the bound root symbol.
    root: Option<Option<SymbolId>>,
}

/// A resolved graph: what the passes made that later stages need.
struct ResolvedSet {
    /// The block of the set's `__dso_handle`.
    dso_block: BlockId,
    /// Functions redirected through stubs: (body, stub).
    redirected: Vec<(SymbolId, RawStub)>,
    /// What it references in earlier sets.
    refs: Refs,
}

/// A fixed-up set whose symbols are published.
struct FixedUp {
    tls: TlsValues,
    published: Published,
    table: Option<FunctionTable>,
}

/// The stages in order; each stage function cleans up after its own failure (a reservation
/// given back, memory abandoned, published symbols taken back).
fn link_as<A: LinkArch, T: LinkTarget>(job: Job<'_, T>) -> Result<Option<Linked<T::Committed>>> {
    let Job {
        inputs,
        mut ctx,
        target,
        plan,
    } = job;
    let t = ctx.timings.start();
    let mut b = build::<A>(inputs.pending, &plan, ctx.symbols)?;
    ctx.timings.add("build", t);

    let t = ctx.timings.start();
    let resolved = resolve_stage(
        &mut b,
        inputs.archives,
        inputs.loaded,
        &mut ctx,
        target,
        &plan,
    )?;
    ctx.timings.add("resolve", t);
    let release = worth_releasing(
        inputs
            .pending
            .iter()
            .map(|(_, b)| b)
            .chain(inputs.archives.iter().map(|a| &a.bytes)),
    );
    // The archive members the graph needs are built into it: their relocations and symbol
    // tables are not read again.
    for a in inputs.archives.iter().filter(|_| release) {
        a.bytes.release_pages();
    }
    let Some(resolved) = resolved else {
        return Ok(None);
    };

    let (mut mem, tls) =
        place(&mut b, target, &plan, ctx.timings).map_err(|e| name_inputs(e, &b.g))?;
    // Once an input's blocks are in the image, its pages go back to the kernel (what later
    // stages still read of it, names and unwind tables, comes back from the page cache).
    let input_bytes = &b.st.input_bytes;
    // The files by address, to find the one an input lies in without scanning them all.
    let mut by_address: Vec<&Bytes> = inputs
        .pending
        .iter()
        .map(|(_, bytes)| bytes)
        .chain(inputs.archives.iter().map(|a| &a.bytes))
        .filter(|_| release)
        .collect();
    by_address.sort_unstable_by_key(|b| b.as_ptr() as usize);
    let mut copied = |input: InputId| {
        let Some(part) = input_bytes.get(input as usize).filter(|_| release) else {
            return;
        };
        let at = part.as_ptr() as usize;
        let i = by_address.partition_point(|b| b.as_ptr() as usize <= at);
        if let Some(bytes) = i.checked_sub(1).and_then(|i| by_address.get(i)) {
            bytes.release_within(part);
        }
    };
    let fixed = load_tls(&b.g, tls, target)
        .map_err(|e| name_inputs(e, &b.g))
        .and_then(|tls| {
            let out = Output {
                mem: &mut mem,
                tls,
                copied: &mut copied,
            };
            fix_and_publish(&b.g, out, &resolved.redirected, &mut ctx, &*target, &plan)
        });
    let fixed = match fixed {
        Ok(f) => f,
        Err(e) => {
            target.abandon(mem);
            return Err(e);
        }
    };
    if ctx.show_graph {
        crate::diag!("{}", b.g.to_string().trim_end());
    }
    let init_fini = init::collect_with(&b.g, &mut |addr| {
        let bytes = mem.bytes_mut(addr, 8)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    });

    let t = ctx.timings.start();
    let files: Vec<(&str, &Bytes)> = inputs
        .pending
        .iter()
        .map(|(n, b)| (n.as_str(), b))
        .chain(inputs.archives.iter().map(|a| (a.name.as_str(), &a.bytes)))
        .collect();
    // Everything is in the image; what committing reads again of the inputs (symbol and unwind
    // tables for the debugger) comes back from the page cache.
    for (_, bytes) in files.iter().filter(|_| release) {
        bytes.release_pages();
    }
    let set = Finished {
        graph: &b.g,
        objects: &b.st.elf.objects,
        redirected: &resolved.redirected,
        inputs: &files,
        table: fixed.table,
        tls: fixed.tls,
    };
    let committed = match target.commit(mem, set) {
        Ok(c) => c,
        Err(e) => {
            ctx.symbols.unpublish(plan.set, &fixed.published);
            return Err(e);
        }
    };
    for (body, handle) in &resolved.redirected {
        if let Err(e) = target.point_stub(handle, b.g.address(*body)) {
            ctx.symbols.unpublish(plan.set, &fixed.published);
            return Err(e);
        }
    }
    for (_, bytes) in files.iter().filter(|_| release) {
        bytes.release_pages();
    }
    ctx.timings.add("finalize", t);
    Ok(Some(Linked {
        committed,
        set: facts(b, fixed.published, init_fini, resolved, &plan),
    }))
}

/// Loads the archive members the graph needs, adds the linker's own content, resolves every
/// undefined symbol and makes the chosen functions redirectable. `None` if there is nothing to
/// link.
fn resolve_stage<'a, A: LinkArch, T: LinkTarget>(
    b: &mut Built<'a, A>,
    archives: &'a [ArchiveInput],
    loaded: &mut [Vec<bool>],
    ctx: &mut Context<'_>,
    target: &mut T,
    plan: &Plan<'_>,
) -> Result<Option<ResolvedSet>> {
    let symbols = &*ctx.symbols;
    load_archive_members(
        &mut b.g,
        &mut b.st,
        archives,
        loaded,
        plan.wanted,
        &|name| symbols.contains(name),
    )?;
    if b.g.blocks.is_empty() && b.g.inputs.is_empty() {
        return Ok(None);
    }
    let dso_block = linker_content::add(&mut b.g);
    boundary::run(
        &mut b.g,
        boundary::Formats {
            elf: !b.st.elf.objects.is_empty(),
        },
    );
    let refs = resolve(&mut b.g, b.st.host_abi(), symbols, ctx.absolutes, target)?;
    symbols.check_duplicates(&b.g, plan.replaces)?;
    let redirected = match &plan.redirect {
        Some(r) => redirectable::run(&mut b.g, r)?,
        None => Vec::new(),
    };
    Ok(Some(ResolvedSet {
        dso_block,
        redirected,
        refs,
    }))
}

/// Reserves memory, runs the GOT/stub pass against what the reservation can reach, lays the
/// graph out, allocates it and gives every block its address.
fn place<A: LinkArch, T: LinkTarget>(
    b: &mut Built<'_, A>,
    target: &mut T,
    plan: &Plan<'_>,
    timings: &mut Timings,
) -> Result<(T::Memory, Option<TlsLayout>)> {
    let t = timings.start();
    let page = target.page_size();
    // A set's layout may not exceed 2 GiB; an estimate far beyond (absurd sizes or alignments
    // in an input) is refused before anything is reserved.
    let estimate = estimate_size(&b.g, page);
    if estimate as u64 > MAX_ESTIMATE {
        return Err(Error::TooLarge {
            inputs: String::new(),
            what: "linked set (with alignment padding)",
            size: estimate as u64,
            limit: MAX_ESTIMATE,
        });
    }
    let reservation = target.reserve(estimate, b.g.needs_low || plan.low)?;
    let span = target.span(&reservation);
    let resolver = target.tlsdesc_resolver();
    if let Err(e) = got_stubs::run(&mut b.g, &span, &*target, resolver) {
        target.unreserve(reservation);
        return Err(e);
    }
    timings.add("passes", t);

    let t = timings.start();
    let (lay, tls) = match layout::layout(&mut b.g, page) {
        Ok(lay) => (lay, layout::layout_tls(&mut b.g)),
        Err(e) => {
            target.unreserve(reservation);
            return Err(e);
        }
    };
    let mem = target.allocate(reservation, &lay, content_len(&b.g))?;
    layout::rebase(&mut b.g, mem.base());
    timings.add("layout", t);
    Ok((mem, tls))
}

/// Loads the set's thread-local block into the target, with its initial image fixed up.
fn load_tls<A: LinkArch, T: LinkTarget>(
    g: &LinkGraph<'_, A>,
    tls: Option<TlsLayout>,
    target: &mut T,
) -> Result<TlsValues> {
    match tls {
        None => Ok(TlsValues::default()),
        Some(tl) if tl.len > MAX_TLS => Err(Error::TooLarge {
            inputs: String::new(),
            what: "thread-local block",
            size: tl.len,
            limit: MAX_TLS,
        }),
        Some(tl) => {
            let init = fixup::apply_tls(g, tl.init_len)?;
            target.load_tls::<A>(&init, &tl, g.needs_static_tls)
        }
    }
}

/// Builds the graph of the pending objects; with a bind plan, binds it to the live image.
fn build<'a, A: LinkArch>(
    pending: &'a [(String, Bytes)],
    plan: &Plan<'_>,
    symbols: &SymbolTable,
) -> Result<Built<'a, A>> {
    let mut g = LinkGraph::<A>::new(format!("set{}", plan.set));
    let mut st = BuildState::default();
    let (nsec, nsym) = pending.iter().fold((0, 0), |(a, b), (_, bytes)| {
        let (s, y) = builder::size_hint(bytes);
        (a + s, b + y)
    });
    g.reserve(nsec, nsym);
    for (name, bytes) in pending {
        builder::add_object(&mut g, &mut st, name, bytes)?;
    }
    if worth_releasing(pending.iter().map(|(_, b)| b)) {
        for (_, bytes) in pending {
            bytes.release_pages();
        }
    }
    let root = match &plan.bind {
        Some(spec) => Some(bind::run(&mut g, spec, &|name| {
            symbols.get(name).map(|d| bind::Live {
                addr: d.addr,
                size: d.size,
            })
        })?),
        None => None,
    };
    Ok(Built { g, st, root })
}

/// Inputs smaller than this together keep their pages through the link: giving them back and
/// faulting in again what later stages read (content, names) costs more time than the memory
/// is worth (SQLite and Lua linked up to 7% slower that way; the 32 MiB of the 100k-function
/// workload peak 21 MiB lower).
pub(crate) const RELEASE_FROM: usize = 8 << 20;

/// True if inputs of these sizes give their pages back as the link goes (see [`RELEASE_FROM`]).
fn worth_releasing<'b>(inputs: impl Iterator<Item = &'b Bytes>) -> bool {
    inputs.map(|b| b.len()).sum::<usize>() >= RELEASE_FROM
}

/// Resolves every symbol the graph references but does not define: the session's earlier
/// sets, then the absolute symbols, then the target (one request for all the rest, and one
/// for the thread-local variables, which the target's dynamic loader resolves); weak
/// references to what is found nowhere become 0. Returns what it found in earlier sets.
fn resolve<A: LinkArch, T: LinkTarget>(
    g: &mut LinkGraph<'_, A>,
    abi: HostAbi,
    symbols: &SymbolTable,
    absolutes: &[(String, u64)],
    target: &mut T,
) -> Result<Refs> {
    let mut refs = Refs::default();
    let thread_locals = host_thread_locals(g);
    let mut tls_ask: Vec<(SymbolId, (&[u8], bool))> = Vec::new();
    let mut found: Vec<(usize, Option<Resolved>)> = Vec::new();
    let mut ask: Vec<&[u8]> = Vec::new();
    for (i, s) in g.symbols.iter().enumerate() {
        if s.def != Def::External || g.is_got_base(SymbolId(i as u32)) {
            continue;
        }
        if let Some(&tp) = thread_locals.get(&SymbolId(i as u32)) {
            // Never looked up with dlsym: for a thread-local, that would make its library's
            // block dynamic for good, and initial-exec access impossible.
            tls_ask.push((SymbolId(i as u32), (s.name, tp)));
            continue;
        }
        let earlier = symbols.get(s.name).map(|d| {
            if d.stub {
                refs.stubs.push(d.addr);
            } else if d.set != crate::symbols::NO_SET {
                refs.sets.push(d.set);
            }
            Resolved {
                addr: d.addr,
                size: d.size,
                callable: d.callable,
            }
        });
        let known = earlier.or_else(|| {
            let abs = absolutes.iter().find(|(n, _)| n.as_bytes() == s.name);
            abs.map(|&(_, addr)| Resolved {
                addr,
                size: 0,
                callable: false,
            })
        });
        if known.is_none() {
            ask.push(s.name);
        }
        found.push((i, known));
    }
    // Always asked, even for no names: the target may refuse the graph's convention.
    let file = g.inputs.first().cloned().unwrap_or_default();
    let mut answers = target.resolve(&ask, abi, &file)?.into_iter();
    let mut undefined = Vec::new();
    let names: Vec<(&[u8], bool)> = tls_ask.iter().map(|&(_, n)| n).collect();
    let tls_found = target.resolve_thread_locals(&names)?;
    let tls_ids: Vec<SymbolId> = tls_ask.iter().map(|&(id, _)| id).collect();
    for (id, host) in tls_ids.into_iter().zip(tls_found) {
        let s = &mut g.symbols[id.index()];
        match host {
            Some(h) => {
                s.def = Def::Absolute(0);
                g.host_tls.insert(id, h);
            }
            // As any weak reference: the GOT pass then names it as no thread-local.
            None if s.weak_ref => s.def = Def::Absolute(0),
            None => undefined.push(id),
        }
    }
    for (i, known) in found {
        let resolved = known.or_else(|| answers.next().flatten());
        let s = &mut g.symbols[i];
        match resolved {
            Some(r) => {
                s.def = Def::Absolute(r.addr);
                s.size = r.size;
                s.callable |= r.callable;
            }
            None if s.weak_ref => s.def = Def::Absolute(0),
            None => undefined.push(SymbolId(i as u32)),
        }
    }
    if undefined.is_empty() {
        refs.sets.sort_unstable();
        refs.sets.dedup();
        refs.stubs.sort_unstable();
        refs.stubs.dedup();
        Ok(refs)
    } else {
        Err(undefined_error(g, &undefined))
    }
}

/// The undefined symbols that thread-local accesses of `g` reference, each with whether one of
/// them needs its offset from the thread pointer (initial-exec, TLS descriptors).
fn host_thread_locals<A: LinkArch>(g: &LinkGraph<'_, A>) -> FxHashMap<SymbolId, bool> {
    use jitlink_arch::{EdgeRole, TlsEntry};
    let mut m: FxHashMap<SymbolId, bool> = FxHashMap::default();
    for b in &g.blocks {
        for e in &b.edges {
            if let EdgeRole::TlsRequest { entry, .. } = A::role(e.kind) {
                if g.symbols[e.target.index()].def == Def::External {
                    let tp = matches!(entry, TlsEntry::TpOffset | TlsEntry::Descriptor);
                    *m.entry(e.target).or_default() |= tp;
                }
            }
        }
    }
    m
}

/// Where the fixup stage writes: the set's memory, the thread-local values, and who is told
/// when an input is wholly copied (see [`fixup::apply`]).
struct Output<'o, M> {
    mem: &'o mut M,
    tls: TlsValues,
    copied: &'o mut dyn FnMut(InputId),
}

/// Applies every fixup into the memory and checks the unwind information, while the set's
/// symbols are published (on another core for a large set: both need only the layout). Returns
/// what was published, and the function table if the target asked for it.
fn fix_and_publish<A: LinkArch, T: LinkTarget>(
    g: &LinkGraph<'_, A>,
    out: Output<'_, T::Memory>,
    redirected: &[(SymbolId, RawStub)],
    ctx: &mut Context<'_>,
    target: &T,
    plan: &Plan<'_>,
) -> Result<FixedUp> {
    let Output { mem, tls, copied } = out;
    let (set, replaces) = (plan.set, plan.replaces);
    let big = g.symbols.len() >= PARALLEL_SYMBOLS;
    let has_tls = layout::first_tls_block(g).is_some();
    let symbols = &mut *ctx.symbols;
    let mut publish = || symbols.publish(g, set, redirected, has_tls, replaces);
    let mut fixed = Ok(());
    let mut table = None;
    let mut work = |timings: &mut Timings| {
        let t = timings.start();
        fixed = fixup::apply(g, mem, tls, copied);
        timings.add("fixup", t);
        let t = timings.start();
        fixed = std::mem::replace(&mut fixed, Ok(())).and_then(|()| eh_frame::check(g, mem));
        timings.add("unwind", t);
        let t = timings.start();
        table = if big {
            target.function_table(g, redirected)
        } else {
            None
        };
        timings.add("debug", t);
    };
    let published = beside(big, &mut publish, &mut work, ctx.timings);
    let symbols = &mut *ctx.symbols;
    match (fixed, published) {
        (Ok(()), Some(published)) => Ok(FixedUp {
            tls,
            published,
            table,
        }),
        (fixed, published) => {
            if let Some(p) = &published {
                symbols.unpublish(set, p);
            }
            Err(fixed.err().unwrap_or(Error::Internal(
                "publishing the linked set's symbols failed",
            )))
        }
    }
}

/// Runs `work` here while `publish` runs on another core (`parallel`), or `publish` here after
/// `work`. Not generic, so that the thread machinery exists once in the binary. `None` if the
/// publishing thread panicked (a bug).
fn beside(
    parallel: bool,
    publish: &mut (dyn FnMut() -> Published + Send),
    work: &mut dyn FnMut(&mut Timings),
    timings: &mut Timings,
) -> Option<Published> {
    std::thread::scope(|scope| {
        let (here, there) = if parallel {
            (None, Some(publish))
        } else {
            (Some(publish), None)
        };
        let on_other_core = there.map(|p| scope.spawn(p));
        work(timings);
        let t = timings.start();
        let published = match (on_other_core, here) {
            (Some(h), _) => h.join().ok(),
            (None, Some(p)) => Some(p()),
            (None, None) => None,
        };
        timings.add("publish", t);
        published
    })
}

/// What the caller needs to know of the committed graph: what was published, the set's files,
/// `__dso_handle`, unwind information and initializers, and, as the plan asked, what was bound
/// and the inputs' writable statics.
fn facts<A: LinkArch>(
    b: Built<'_, A>,
    published: Published,
    init_fini: InitFini,
    resolved: ResolvedSet,
    plan: &Plan<'_>,
) -> SetFacts {
    let dso_block = resolved.dso_block;
    let g = &b.g;
    let files: Vec<Arc<str>> = g.inputs.iter().map(|s| Arc::from(s.as_str())).collect();
    let bound = b.root.map(|root| Bound {
        root: root.map(|r| g.address(r)),
        blocks: g
            .sections
            .iter()
            .filter(|s| s.role != SectionRole::ThreadLocal)
            .flat_map(|s| s.blocks.iter())
            .map(|b| (b.0, g.blocks[b.index()].addr))
            .collect(),
    });
    let locals = if plan.record_locals {
        locals::record(g, &files)
    } else {
        FxHashMap::default()
    };
    SetFacts {
        published,
        dso: g.blocks[dso_block.index()].addr,
        eh_frame: eh_frame::first(g),
        init_fini,
        bound,
        locals,
        files,
        refs: resolved.refs,
    }
}

/// Names the link's inputs in a size or memory error that could not name them itself.
fn name_inputs<A: LinkArch>(e: Error, g: &LinkGraph<'_, A>) -> Error {
    let names = || {
        let mut s: Vec<&str> = g.inputs.iter().take(3).map(String::as_str).collect();
        if g.inputs.len() > 3 {
            s.push("...");
        }
        s.join(", ")
    };
    match e {
        Error::TooLarge {
            inputs,
            what,
            size,
            limit,
        } if inputs.is_empty() => Error::TooLarge {
            inputs: names(),
            what,
            size,
            limit,
        },
        // Reserving memory for the set failed: say which inputs asked for it.
        Error::Memory { what, source } => Error::Memory {
            what: format!("{}: {what}", names()),
            source,
        },
        Error::StaticTlsExhausted { inputs, needed } if inputs.is_empty() => {
            Error::StaticTlsExhausted {
                inputs: names(),
                needed,
            }
        }
        e => e,
    }
}

/// An upper bound of the memory a graph needs before its GOT and stubs exist, to reserve it.
fn estimate_size<A: LinkArch>(g: &LinkGraph<'_, A>, page: usize) -> usize {
    // Saturating: a malformed input's zero-fill sizes may add up past 2^64.
    let content: u64 = g.blocks.iter().fold(0u64, |acc, b| {
        acc.saturating_add(b.content.size().saturating_add(b.align))
    });
    let edges: usize = g.blocks.iter().map(|b| b.edges.len()).sum();
    (content as usize)
        .saturating_add(edges.saturating_mul(24))
        .saturating_add(4 * page)
}

/// The offset, from the set's base, of the end of the last non-thread-local block with
/// content: zero-fill after it need not be written (a target may leave it unmaterialized).
fn content_len<A: LinkArch>(g: &LinkGraph<'_, A>) -> usize {
    // Before rebasing, block addresses are offsets from the set's base.
    g.blocks
        .iter()
        .filter(|b| {
            !matches!(b.content, Content::Zero(_))
                && g.sections[b.section.index()].role != SectionRole::ThreadLocal
        })
        .map(|b| b.addr.saturating_add(b.content.size()))
        .max()
        .unwrap_or(0) as usize
}

/// The error for symbols found nowhere, with the inputs that reference each.
fn undefined_error<A: LinkArch>(g: &LinkGraph<'_, A>, undefined: &[SymbolId]) -> Error {
    let mut refs: FxHashMap<SymbolId, Vec<String>> =
        undefined.iter().map(|&u| (u, Vec::new())).collect();
    for b in &g.blocks {
        for e in &b.edges {
            if let Some(list) = refs.get_mut(&e.target) {
                let who = g.input_name(b.input);
                if !list.iter().any(|x| x == who) {
                    list.push(who.to_string());
                }
            }
        }
    }
    let mut list: Vec<Undefined> = undefined
        .iter()
        .map(|&u| Undefined {
            name: g.symbol_name(u),
            referenced_by: refs
                .remove(&u)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| vec![g.input_name(g.symbols[u.index()].input).to_string()]),
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Error::UndefinedSymbols(list)
}
