//! The driver: a [`Session`] holds inputs, the reserved memory and the symbols of everything
//! linked so far. Linking runs the pipeline stages in order:
//! build → resolve (archives, earlier sets, host) → GOT/stubs → layout → allocate → fixups →
//! finalize. The one runtime `match` on the architecture is in [`Session::link_pending`].

use std::ffi::{c_char, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jitlink_arch::{x86_64::X86_64, Arch};
use rustc_hash::FxHashMap;

use crate::builder::archive::ArchiveIndex;
use crate::builder::elf::{self, ElfArch, ElfState, GOT_SYMBOL};
use crate::builder::{detect, Bytes, InputKind};
use crate::error::{Error, Result, Undefined};
use crate::graph::{
    Content, Def, LinkGraph, Linkage, Perm, Scope, SectionRole, SymbolId, SYNTHETIC,
};
use crate::memory::{ChunkId, Finalized, MemoryManager, Placement};
use crate::passes::got_stubs::{self, HostInfo, Reachability};
use crate::runtime::host::{HostSymbols, Library};
use crate::runtime::unwind::Registration;
use crate::runtime::{init, tls};
use crate::stubs::{Owner, RedirectableSymbolManager, StubHandle, StubPool};
use crate::{fixup, layout};
use jitlink_arch::TlsValues;

/// Options of a session.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Absolute symbols: name → address.
    pub absolutes: Vec<(String, u64)>,
    /// Directories searched by [`Session::add_library`].
    pub library_dirs: Vec<PathBuf>,
    /// Do not open the compiler driver's default libraries (libc, libm, libgcc_s, libstdc++);
    /// symbols already loaded in the process still resolve.
    pub no_default_libs: bool,
    /// Print each linked graph to stderr.
    pub show_graph: bool,
    /// `argv` passed to static initializers (the program's arguments, argv[0] first).
    pub program_args: Vec<String>,
    /// Which functions defined by linked objects are made redirectable.
    pub redirectable: Redirectable,
}

/// Which linked functions get a stub as their stable address (see [`crate::stubs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Redirectable {
    /// None.
    #[default]
    None,
    /// These functions. References from other objects and lookups go through the stub.
    Functions(Vec<String>),
    /// These functions, and references from inside their own object too.
    FunctionsEverywhere(Vec<String>),
    /// Every global function; references from inside their own object too.
    AllFunctions,
}

impl Redirectable {
    fn wants(&self, name: &[u8]) -> bool {
        match self {
            Redirectable::None => false,
            Redirectable::AllFunctions => true,
            Redirectable::Functions(v) | Redirectable::FunctionsEverywhere(v) => {
                v.iter().any(|n| n.as_bytes() == name)
            }
        }
    }
    fn internal(&self) -> bool {
        matches!(
            self,
            Redirectable::FunctionsEverywhere(_) | Redirectable::AllFunctions
        )
    }
}

/// Identifies a linked set (everything linked by one [`Session::link_pending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkedSetId(pub u32);

#[derive(Debug, Clone)]
struct Defined {
    addr: u64,
    size: u64,
    callable: bool,
    weak: bool,
    set: u32,
    file: Arc<str>,
}

struct ArchiveInput {
    bytes: Bytes,
    index: ArchiveIndex,
}

struct LinkedSet {
    memory: Finalized,
    dso: u64,
    unwind: Registration,
    names: Vec<Box<[u8]>>,
}

/// Time spent in each pipeline stage, summed over links.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// `(stage, time)`, in pipeline order.
    pub stages: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn add(&mut self, stage: &'static str, t: Duration) {
        match self.stages.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, d)) => *d += t,
            None => self.stages.push((stage, t)),
        }
    }
}

/// A linking session: inputs, reserved memory, and the symbols of every linked set.
pub struct Session {
    opts: Options,
    mem: Arc<Mutex<MemoryManager>>,
    stubs: Arc<StubPool<HostArch>>,
    host: HostSymbols,
    pending: Vec<(String, Bytes)>,
    archives: Vec<(String, ArchiveInput)>,
    loaded: Vec<Vec<bool>>,
    symbols: FxHashMap<Box<[u8]>, Defined>,
    sets: Vec<Option<LinkedSet>>,
    timings: Timings,
    argv: Vec<CString>,
}

impl Session {
    /// A new session.
    pub fn new(opts: Options) -> Self {
        let mem = Arc::new(Mutex::new(MemoryManager::new()));
        Session {
            host: HostSymbols::new(!opts.no_default_libs),
            opts: opts.clone(),
            mem: mem.clone(),
            stubs: Arc::new(StubPool::new(mem)),
            pending: Vec::new(),
            archives: Vec::new(),
            loaded: Vec::new(),
            symbols: FxHashMap::default(),
            sets: Vec::new(),
            timings: Timings::default(),
            argv: opts
                .program_args
                .iter()
                .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
                .collect(),
        }
    }

    /// Adds an object file or archive from disk, recognized by its content.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = Bytes::map_file(path)?;
        self.add_bytes(path.to_string_lossy().into_owned(), bytes)
    }

    /// Adds an object file or archive held in memory; `name` is used in messages.
    pub fn add_bytes(&mut self, name: String, bytes: Bytes) -> Result<()> {
        match detect(&name, &bytes)? {
            InputKind::Elf => self.pending.push((name, bytes)),
            InputKind::Archive => {
                let index = ArchiveIndex::parse(&name, &bytes)?;
                self.loaded.push(vec![false; index.members.len()]);
                self.archives.push((name, ArchiveInput { bytes, index }));
            }
        }
        Ok(())
    }

    /// Adds an object file held in memory.
    pub fn add_object_bytes(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> Result<()> {
        self.add_bytes(name.into(), Bytes::Owned(bytes))
    }

    /// Resolves `-l name`: a shared library is loaded into the process, a static archive added.
    pub fn add_library(&mut self, name: &str) -> Result<()> {
        match self.host.add_library(name, &self.opts.library_dirs)? {
            Library::Shared => Ok(()),
            Library::Archive(path) => self.add_file(path),
        }
    }

    /// Time spent per stage so far.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Links every pending object (with the archive members they need) as one linked set.
    /// Returns `None` if nothing was pending.
    pub fn link_pending(&mut self) -> Result<Option<LinkedSetId>> {
        self.link(None)
    }

    fn link(&mut self, wanted: Option<&[u8]>) -> Result<Option<LinkedSetId>> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() && wanted.is_none() {
            return Ok(None);
        }
        let machine = pending
            .first()
            .map(|(name, b)| elf_machine(name, b))
            .transpose()?;
        // The one runtime match on the architecture; everything below is generic.
        match machine {
            None | Some(object::elf::EM_X86_64) if cfg!(target_arch = "x86_64") => {
                self.link_as::<X86_64>(&pending, wanted)
            }
            Some(m) => Err(Error::Unsupported {
                file: pending.first().map(|p| p.0.clone()).unwrap_or_default(),
                what: format!("ELF machine {m} cannot run on this host"),
            }),
            None => Err(Error::Unsupported {
                file: String::new(),
                what: "host architecture".into(),
            }),
        }
    }

    fn link_as<A: ElfArch>(
        &mut self,
        pending: &[(String, Bytes)],
        wanted: Option<&[u8]>,
    ) -> Result<Option<LinkedSetId>> {
        let set_id = self.sets.len() as u32;
        let Session {
            opts,
            mem,
            host,
            archives,
            loaded,
            symbols,
            timings,
            stubs,
            ..
        } = self;

        // Build.
        let t = Instant::now();
        let mut g = LinkGraph::<A>::new(format!("set{set_id}"));
        let mut st = ElfState::default();
        for (name, bytes) in pending {
            elf::add_object(&mut g, &mut st, name, bytes)?;
        }
        timings.add("build", t.elapsed());

        // Archive members, loaded on demand until nothing more is needed.
        let t = Instant::now();
        let mut extra: Vec<&[u8]> = wanted.into_iter().collect();
        loop {
            let mut need: Vec<&[u8]> = std::mem::take(&mut extra);
            need.extend(g.globals.iter().filter_map(|(&name, &id)| {
                let s = &g.symbols[id.index()];
                (s.def == Def::External
                    && !s.weak_ref
                    && name != GOT_SYMBOL
                    && !symbols.contains_key(name))
                .then_some(name)
            }));
            let mut added = false;
            for name in need {
                for (ai, (_, ar)) in archives.iter().enumerate() {
                    let Some(&m) = ar.index.symbols.get(name) else {
                        continue;
                    };
                    if !loaded[ai][m] {
                        loaded[ai][m] = true;
                        let data = ar.index.member_bytes(&ar.bytes, m);
                        elf::add_object(&mut g, &mut st, &ar.index.members[m].name, data)?;
                        added = true;
                    }
                    break;
                }
            }
            if !added {
                break;
            }
        }
        if g.blocks.is_empty() && g.inputs.is_empty() {
            timings.add("resolve", t.elapsed());
            return Ok(None);
        }

        // Resolve what the graph does not define.
        let dso_block = define_linker_symbols(&mut g);
        let mut undefined = Vec::new();
        for i in 0..g.symbols.len() {
            let s = &g.symbols[i];
            if s.def != Def::External || s.name == GOT_SYMBOL {
                continue;
            }
            let name = s.name;
            let resolved = if let Some(d) = symbols.get(name) {
                Some((d.addr, d.size, d.callable))
            } else if let Some((_, a)) = opts.absolutes.iter().find(|(n, _)| n.as_bytes() == name) {
                Some((*a, 0, false))
            } else if let Some(a) = init::runtime_symbol(name) {
                Some((a, 0, true))
            } else if let Some(a) = host.lookup(name) {
                Some((a, 0, false))
            } else if s.weak_ref {
                Some((0, 0, false))
            } else {
                None
            };
            match resolved {
                Some((addr, size, callable)) => {
                    let s = &mut g.symbols[i];
                    s.def = Def::Absolute(addr);
                    s.size = size;
                    s.callable |= callable;
                }
                None => undefined.push(SymbolId(i as u32)),
            }
        }
        if !undefined.is_empty() {
            return Err(undefined_error(&g, &undefined));
        }
        check_duplicates(&g, symbols)?;
        let redirected = make_redirectable(
            &mut g,
            &opts.redirectable,
            &**stubs,
            Owner(u64::from(set_id)),
        )?;
        timings.add("resolve", t.elapsed());
        let mut mem = lock(mem);

        // GOT and stubs, against the chunk the graph will live in.
        let t = Instant::now();
        let placement = if g.needs_low {
            Placement::Low
        } else {
            Placement::Near
        };
        let page = mem.page_size();
        let chunk = mem.chunk_for(placement, estimate_size(&g, page), page)?;
        got_stubs::run(
            &mut g,
            &ChunkReach { mem: &mem, chunk },
            &DlHost,
            tls::tlsdesc_resolver(),
        )?;
        timings.add("passes", t.elapsed());

        // Layout and memory.
        let t = Instant::now();
        let lay = layout::layout(&mut g, mem.page_size())?;
        let tls_layout = layout::layout_tls(&mut g);
        let mut inflight = mem.allocate(chunk, lay.len, lay.align, lay.segments.clone())?;
        layout::rebase(&mut g, inflight.base());
        timings.add("layout", t.elapsed());

        // Fixups.
        let t = Instant::now();
        let tls = match tls_layout {
            None => Ok(TlsValues::default()),
            Some(tl) => fixup::apply_tls(&g, tl.init_len)
                .and_then(|image| tls::load_module(&image, tl.len, tl.align, g.needs_static_tls)),
        };
        if let Err(e) = tls.and_then(|tls| fixup::apply(&g, &mut inflight, tls)) {
            mem.abandon(inflight);
            return Err(e);
        }
        timings.add("fixup", t.elapsed());
        let t = Instant::now();
        if let Err(e) = check_eh_frames(&g, &mut inflight) {
            mem.abandon(inflight);
            return Err(e);
        }
        timings.add("unwind", t.elapsed());

        if opts.show_graph {
            eprint!("{g}");
        }

        let t = Instant::now();
        let memory = inflight.finalize::<A>(&mut mem)?;
        drop(mem);
        for (body, handle) in &redirected {
            handle.redirect(g.address(*body));
        }
        let dso = g.blocks[dso_block.index()].addr;
        let init_fini = init::collect(&g);
        let unwind = Registration::register(
            g.sections
                .iter()
                .filter(|s| s.role == SectionRole::EhFrame)
                .filter_map(|s| s.blocks.first().map(|b| g.blocks[b.index()].addr))
                .collect(),
        );
        timings.add("finalize", t.elapsed());

        // Publish the set's symbols.
        let files: Vec<Arc<str>> = g.inputs.iter().map(|s| Arc::from(s.as_str())).collect();
        let mut names = Vec::new();
        for (i, s) in g.symbols.iter().enumerate() {
            let Def::Block { block, .. } = s.def else {
                continue;
            };
            if s.scope == Scope::Local
                || s.name.is_empty()
                || (tls_layout.is_some() && g.is_tls_block(block))
            {
                continue;
            }
            if symbols.get(s.name).is_some_and(|d| !d.weak) {
                continue;
            }
            let file = files
                .get(s.input as usize)
                .cloned()
                .unwrap_or_else(|| Arc::from("<linker>"));
            let stub = redirected
                .iter()
                .find(|(b, _)| b.index() == i)
                .map(|(_, h)| h.stub);
            let d = Defined {
                addr: stub.unwrap_or_else(|| g.address(SymbolId(i as u32))),
                size: s.size,
                callable: s.callable,
                weak: s.linkage == Linkage::Weak,
                set: set_id,
                file,
            };
            names.push(Box::<[u8]>::from(s.name));
            symbols.insert(s.name.into(), d);
        }
        self.sets.push(Some(LinkedSet {
            memory,
            dso,
            unwind,
            names,
        }));
        // Initializers run last: they may call anything in the set, which is now complete.
        let mut argv: Vec<*const c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        init::start(init_fini, dso, &argv);
        Ok(Some(LinkedSetId(set_id)))
    }

    /// The address of `name`: linked pending inputs first (and archive members that define it),
    /// then falls back to the host process.
    pub fn lookup(&mut self, name: &str) -> Result<u64> {
        let key = name.as_bytes();
        if !self.symbols.contains_key(key) {
            let in_archive = self
                .archives
                .iter()
                .any(|(_, a)| a.index.symbols.contains_key(key));
            if !self.pending.is_empty() || in_archive {
                self.link(Some(key))?;
            }
        }
        if let Some(d) = self.symbols.get(key) {
            return Ok(d.addr);
        }
        if let Some((_, a)) = self.opts.absolutes.iter().find(|(n, _)| n == name) {
            return Ok(*a);
        }
        self.host
            .lookup(key)
            .ok_or_else(|| Error::SymbolNotFound(name.to_string()))
    }

    /// Removes a linked set: its symbols are forgotten and its memory is unmapped. The caller
    /// guarantees that no code of the set is running or will be called.
    pub fn remove(&mut self, id: LinkedSetId) -> Result<()> {
        let set = self
            .sets
            .get_mut(id.0 as usize)
            .and_then(Option::take)
            .ok_or(Error::NoSuchLinkedSet(id.0))?;
        for name in &set.names {
            if self.symbols.get(name).is_some_and(|d| d.set == id.0) {
                self.symbols.remove(name);
            }
        }
        init::finish(set.dso);
        drop(set.unwind);
        self.stubs.release(Owner(u64::from(id.0)));
        lock(&self.mem).release(set.memory);
        Ok(())
    }

    /// The address range of a linked set's memory.
    pub fn linked_range(&self, id: LinkedSetId) -> Option<(u64, u64)> {
        self.sets
            .get(id.0 as usize)?
            .as_ref()
            .map(|s| s.memory.range())
    }
}

impl Drop for Session {
    /// Removes every linked set, newest first: finalizers run, unwind information is
    /// deregistered, and the memory is released before the reservation itself.
    fn drop(&mut self) {
        for id in (0..self.sets.len() as u32).rev() {
            if self.sets[id as usize].is_some() {
                let _ = self.remove(LinkedSetId(id));
            }
        }
    }
}

impl Session {
    /// The redirection manager of this session: stubs for the functions chosen by
    /// [`Options::redirectable`], and any the caller creates.
    pub fn redirection_manager(&self) -> Arc<StubPool<HostArch>> {
        self.stubs.clone()
    }
}

/// The architecture of this process.
#[cfg(target_arch = "x86_64")]
pub type HostArch = X86_64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Memory-manager updates are single assignments; a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Gives the chosen functions stubs: references from other objects (and, if asked, from their
/// own object) are bound to the stub; the stub's slot is set to the body after fixups.
fn make_redirectable<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    which: &Redirectable,
    stubs: &dyn RedirectableSymbolManager,
    owner: Owner,
) -> Result<Vec<(SymbolId, StubHandle)>> {
    if *which == Redirectable::None {
        return Ok(Vec::new());
    }
    let chosen: Vec<(SymbolId, &str)> = g
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.callable
                && s.scope != Scope::Local
                && matches!(s.def, Def::Block { .. })
                && which.wants(s.name)
        })
        .filter_map(|(i, s)| Some((SymbolId(i as u32), std::str::from_utf8(s.name).ok()?)))
        .collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = chosen.iter().map(|c| c.1).collect();
    let handles = stubs.emit_redirectable_symbols(owner, &names)?;
    let mut to_stub: FxHashMap<SymbolId, SymbolId> = FxHashMap::default();
    for (&(body, _), h) in chosen.iter().zip(&handles) {
        let input = g.symbols[body.index()].input;
        let stub = g.add_absolute(h.stub, true, input);
        to_stub.insert(body, stub);
    }
    let internal = which.internal();
    let LinkGraph {
        blocks, symbols, ..
    } = g;
    for blk in blocks.iter_mut() {
        for e in &mut blk.edges {
            if let Some(&stub) = to_stub.get(&e.target) {
                if internal || symbols[e.target.index()].input != blk.input {
                    e.target = stub;
                }
            }
        }
    }
    Ok(chosen.into_iter().map(|c| c.0).zip(handles).collect())
}

/// Checks every fixed-up `.eh_frame` block before it is registered with the host unwinder.
fn check_eh_frames<A: Arch>(g: &LinkGraph<'_, A>, mem: &mut crate::memory::InFlight) -> Result<()> {
    for sec in g.sections.iter().filter(|s| s.role == SectionRole::EhFrame) {
        for &b in &sec.blocks {
            let blk = &g.blocks[b.index()];
            let len = blk.content.size() as usize;
            let bytes = mem.bytes_mut(blk.addr, len).map(|b| &*b).unwrap_or(&[]);
            crate::runtime::unwind::check(bytes, blk.addr)
                .map_err(|what| crate::error::malformed(g.input_name(blk.input), what))?;
        }
    }
    Ok(())
}

/// Defines what the linker provides to every set: `__dso_handle` (which identifies the set to
/// `__cxa_atexit`; defined whether or not an input references it, returned here),
/// `_TLS_MODULE_BASE_`, and the `.eh_frame` terminator.
pub(crate) fn define_linker_symbols<A: Arch>(g: &mut LinkGraph<'_, A>) -> crate::graph::BlockId {
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
        if let (Def::External, Some(block)) =
            (g.symbols[base.index()].def, layout::first_tls_block(g))
        {
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
            crate::graph::SectionId(sec as u32),
            Content::Owned(vec![0; 4]),
            4,
            SYNTHETIC,
        );
    }
    dso_block
}

fn elf_machine(name: &str, data: &[u8]) -> Result<u16> {
    use object::read::elf::FileHeader;
    let h = object::elf::FileHeader64::<object::LittleEndian>::parse(data)
        .map_err(|e| crate::error::malformed(name, e))?;
    let endian = h.endian().map_err(|e| crate::error::malformed(name, e))?;
    Ok(h.e_machine(endian))
}

pub(crate) fn estimate_size<A: Arch>(g: &LinkGraph<'_, A>, page: usize) -> usize {
    // Saturating: a malformed input's zero-fill sizes may add up past 2^64.
    let content: u64 = g.blocks.iter().fold(0u64, |acc, b| {
        acc.saturating_add(b.content.size().saturating_add(b.align))
    });
    let edges: usize = g.blocks.iter().map(|b| b.edges.len()).sum();
    (content as usize)
        .saturating_add(edges.saturating_mul(24))
        .saturating_add(4 * page)
}

pub(crate) fn undefined_error<A: Arch>(g: &LinkGraph<'_, A>, undefined: &[SymbolId]) -> Error {
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

fn check_duplicates<A: Arch>(
    g: &LinkGraph<'_, A>,
    symbols: &FxHashMap<Box<[u8]>, Defined>,
) -> Result<()> {
    for s in &g.symbols {
        if s.scope == Scope::Local
            || s.linkage != Linkage::Strong
            || !matches!(s.def, Def::Block { .. })
        {
            continue;
        }
        if let Some(d) = symbols.get(s.name) {
            if !d.weak {
                return Err(Error::DuplicateDefinition {
                    symbol: String::from_utf8_lossy(s.name).into_owned(),
                    first: d.file.to_string(),
                    second: g.input_name(s.input).to_string(),
                });
            }
        }
    }
    Ok(())
}

struct ChunkReach<'m> {
    mem: &'m MemoryManager,
    chunk: ChunkId,
}

impl Reachability for ChunkReach<'_> {
    fn pc_rel(&self, addr: u64) -> bool {
        self.mem.reaches(self.chunk, addr)
    }
}

struct DlHost;

impl HostInfo for DlHost {
    fn describe(&self, addr: u64) -> Option<got_stubs::HostSymbol> {
        HostSymbols::describe(addr)
    }
}
