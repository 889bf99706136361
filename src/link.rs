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
use std::collections::hash_map::Entry;

use crate::name::Name;

use crate::builder::archive::ArchiveIndex;
use crate::builder::{self, detect, BuildState, Bytes, HostAbi, InputKind, ObjectArch};
use crate::error::{Error, Result, Undefined};
use crate::graph::{
    Content, Def, LinkGraph, Linkage, Perm, Scope, SectionRole, SymbolId, SYNTHETIC,
};
use crate::memory::{ChunkId, Finalized, MemoryManager, Placement};
use crate::passes::bind::{self, BindSpec, LocalData};
use crate::passes::got_stubs::{self, HostInfo, Reachability};
use crate::runtime::host::{HostSymbols, Library};
use crate::runtime::unwind::Registration;
use crate::runtime::{init, tls};
use crate::stubs::{Owner, RedirectableSymbolManager, StubHandle, StubPool, TrampolinePool};
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
    /// Register each linked set with gdb's JIT interface (see [`crate::debug::gdb`]).
    pub debugger_support: bool,
    /// Write `/tmp/perf-PID.map` entries for every linked function and stub.
    pub perf_map: bool,
    /// Write a perf jitdump (`jit-PID.dump`, see [`crate::debug::jitdump`]) with the code of
    /// every linked function and stub.
    pub perf_jitdump: bool,
    /// Keep the time spent in each pipeline stage ([`Session::timings`]).
    pub timings: bool,
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
    /// The defining set (`NO_SET` for functions declared lazily).
    set: u32,
    /// The defining input, as an index in the set's `files`.
    file: u32,
}

/// Sets with at least this many symbols build their function table on a second thread while
/// fixups run (below it, starting a thread costs more than the table).
const PARALLEL_SYMBOLS: usize = 16_384;

/// The `set` of symbols that no linked set defines yet (lazily declared functions).
const NO_SET: u32 = u32::MAX;

/// The session's symbols, by name.
type SymbolTable = FxHashMap<Name, Defined>;

/// The input file that defined `d`, for messages and the re-optimizer.
fn defining_file(sets: &[Option<LinkedSet>], d: &Defined) -> Arc<str> {
    sets.get(d.set as usize)
        .and_then(Option::as_ref)
        .and_then(|s| s.files.get(d.file as usize).cloned())
        .unwrap_or_else(|| {
            Arc::from(if d.set == NO_SET {
                "<lazy>"
            } else {
                "<linker>"
            })
        })
}

pub(crate) struct ArchiveInput {
    pub(crate) bytes: Bytes,
    pub(crate) index: ArchiveIndex,
}

struct LinkedSet {
    memory: Finalized,
    dso: u64,
    unwind: Registration,
    /// The names the set published.
    published: Published,
    /// The set's inputs, by input id.
    files: Vec<Arc<str>>,
    debug: crate::debug::SetDebug,
}

/// Time spent in each pipeline stage, summed over links; kept when [`Options::timings`] is set
/// (reading the clock twice per stage costs about a microsecond a link on this kind of VM).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// `(stage, time)`, in pipeline order.
    pub stages: Vec<(&'static str, Duration)>,
    on: bool,
}

impl Timings {
    /// The start of a stage: the time now, if timings are kept.
    fn start(&self) -> Option<Instant> {
        self.on.then(Instant::now)
    }

    /// Adds the time since `start` (from [`Timings::start`]) to `stage`.
    fn add(&mut self, stage: &'static str, start: Option<Instant>) {
        let Some(start) = start else { return };
        let t = start.elapsed();
        // Stage names are literals: comparing their addresses first avoids comparing bytes.
        let same = |s: &&str| std::ptr::eq(*s, stage) || *s == stage;
        match self.stages.iter_mut().find(|(s, _)| same(s)) {
            Some((_, d)) => *d += t,
            None => self.stages.push((stage, t)),
        }
    }
}

/// The writable statics of one input, by name.
type Locals = FxHashMap<Box<[u8]>, LocalData>;

/// What lazy linking and re-optimization ask of the pipeline (see `src/lazy.rs`, `src/reopt.rs`).
#[derive(Default)]
struct Hooks {
    /// Functions declared before their object is linked: their stubs, which the link binds.
    lazy: FxHashMap<Box<[u8]>, StubHandle>,
    /// Binds the next link to the live image (a new definition of a running function).
    bind: Option<BindSpec>,
    /// What that link bound: the root's address and every block's address.
    bound: Option<Bound>,
    /// Place every linked set in the low 2 GiB (some input needs it, and sets reference each
    /// other's data PC-relatively).
    all_low: bool,
    /// When recorded: the writable statics of every linked input, by file and name.
    locals: Option<FxHashMap<Arc<str>, Locals>>,
}

/// A linking session: inputs, reserved memory, and the symbols of every linked set.
pub struct Session {
    opts: Options,
    mem: Arc<Mutex<MemoryManager>>,
    stubs: Arc<StubPool<HostArch>>,
    trampolines: Arc<TrampolinePool<HostArch>>,
    hooks: Hooks,
    host: HostSymbols,
    pending: Vec<(String, Bytes)>,
    archives: Vec<(String, ArchiveInput)>,
    loaded: Vec<Vec<bool>>,
    symbols: SymbolTable,
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
            stubs: Arc::new(StubPool::new(mem.clone())),
            trampolines: Arc::new(TrampolinePool::new(mem)),
            hooks: Hooks::default(),
            pending: Vec::new(),
            archives: Vec::new(),
            loaded: Vec::new(),
            symbols: FxHashMap::default(),
            sets: Vec::new(),
            timings: Timings {
                stages: Vec::new(),
                on: opts.timings,
            },
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
        add_input(
            name,
            bytes,
            &mut self.pending,
            &mut self.archives,
            &mut self.loaded,
        )
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
            .map(|(name, b)| builder::machine(name, b))
            .transpose()?;
        // The one runtime match on the architecture; everything below is generic.
        match machine {
            None | Some(object::elf::EM_X86_64) if cfg!(target_arch = "x86_64") => {
                self.link_as::<X86_64>(&pending, wanted)
            }
            Some(m) => Err(Error::Unsupported {
                file: pending.first().map(|p| p.0.clone()).unwrap_or_default(),
                what: format!("machine {m} (as an ELF machine number) cannot run on this host"),
            }),
            None => Err(Error::Unsupported {
                file: String::new(),
                what: "host architecture".into(),
            }),
        }
    }

    fn link_as<A: ObjectArch>(
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
            hooks,
            ..
        } = self;

        // Build.
        let t = timings.start();
        let mut g = LinkGraph::<A>::new(format!("set{set_id}"));
        let mut st = BuildState::default();
        let (nsec, nsym) = pending.iter().fold((0, 0), |(a, b), (_, bytes)| {
            let (s, y) = builder::size_hint(bytes);
            (a + s, b + y)
        });
        g.reserve(nsec, nsym);
        for (name, bytes) in pending {
            builder::add_object(&mut g, &mut st, name, bytes)?;
        }
        let bound_root = match hooks.bind.take() {
            Some(spec) => Some(bind::run(&mut g, &spec, &|name| {
                symbols.get(name).map(|d| bind::Live {
                    addr: d.addr,
                    size: d.size,
                    callable: d.callable,
                })
            })?),
            None => None,
        };
        timings.add("build", t);

        // Archive members, loaded on demand until nothing more is needed.
        let t = timings.start();
        load_archive_members(&mut g, &mut st, archives, loaded, wanted, |name| {
            symbols.contains_key(name)
        })?;
        if g.blocks.is_empty() && g.inputs.is_empty() {
            timings.add("resolve", t);
            return Ok(None);
        }

        // Resolve what the graph does not define, after adding what the linker defines itself.
        let dso_block = add_linker_content(&mut g);
        let mut undefined = Vec::new();
        let abi = st.host_abi();
        for i in 0..g.symbols.len() {
            let s = &g.symbols[i];
            if s.def != Def::External || g.is_got_base(SymbolId(i as u32)) {
                continue;
            }
            let name = s.name;
            let resolved = if let Some(d) = symbols.get(name) {
                Some((d.addr, d.size, d.callable))
            } else if let Some((_, a)) = opts.absolutes.iter().find(|(n, _)| n.as_bytes() == name) {
                Some((*a, 0, false))
            } else if abi == HostAbi::Win64 {
                // Windows x64 code reaches the host only through thunks (see `runtime::win64`).
                crate::runtime::win64::thunk(name).map(|a| (a, 0, true))
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
        check_duplicates(&g, symbols, &self.sets)?;
        let redirected = make_redirectable(
            &mut g,
            &opts.redirectable,
            &hooks.lazy,
            &**stubs,
            Owner(u64::from(set_id)),
        )?;
        timings.add("resolve", t);
        let mut mem = lock(mem);

        // GOT and stubs, against the chunk the graph will live in.
        let t = timings.start();
        let placement = if g.needs_low || hooks.all_low {
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
        timings.add("passes", t);

        // Layout and memory.
        let t = timings.start();
        let lay = layout::layout(&mut g, mem.page_size())?;
        let tls_layout = layout::layout_tls(&mut g);
        let mut inflight = mem.allocate(chunk, lay.len, lay.align, lay.segments.clone())?;
        layout::rebase(&mut g, inflight.base());
        timings.add("layout", t);

        // Fixups and the unwind check, while the set's symbols are published (on another core
        // for a large set; both need only the layout). Every failure from here on takes the
        // published symbols back.
        let tls = match tls_layout {
            None => Ok(TlsValues::default()),
            Some(tl) => fixup::apply_tls(&g, tl.init_len)
                .and_then(|image| tls::load_module(&image, tl.len, tl.align, g.needs_static_tls)),
        };
        let big = g.symbols.len() >= PARALLEL_SYMBOLS;
        let publish = |symbols: &mut SymbolTable| {
            publish(&g, symbols, set_id, &redirected, tls_layout.is_some())
        };
        let (fixed, published, table) = std::thread::scope(|scope| {
            let (here, there) = if big {
                (None, Some(&mut *symbols))
            } else {
                (Some(&mut *symbols), None)
            };
            let on_other_core = there.map(|symbols| scope.spawn(move || publish(symbols)));
            let t = timings.start();
            let fixed = tls.and_then(|tls| fixup::apply(&g, &mut inflight, tls));
            timings.add("fixup", t);
            let t = timings.start();
            let fixed = fixed.and_then(|()| check_eh_frames(&g, &mut inflight));
            timings.add("unwind", t);
            let t = timings.start();
            let table = big.then(|| crate::debug::FunctionTable::from_graph(&g, &redirected));
            timings.add("debug", t);
            let t = timings.start();
            // The publishing thread cannot fail short of a bug; if it did, the link fails.
            let published = match (on_other_core.map(|h| h.join()), here) {
                (Some(joined), _) => joined.ok(),
                (None, Some(symbols)) => Some(publish(symbols)),
                (None, None) => None,
            };
            timings.add("publish", t);
            (fixed, published, table)
        });
        let published = match (fixed, published) {
            (Ok(()), Some(p)) => p,
            (fixed, published) => {
                if let Some(p) = &published {
                    unpublish(symbols, set_id, p);
                }
                mem.abandon(inflight);
                return Err(fixed.err().unwrap_or_else(|| {
                    Error::InvalidArgument("publishing the linked set's symbols failed".into())
                }));
            }
        };

        if opts.show_graph {
            eprint!("{g}");
        }

        // Debugger and profiler support, while a failure can still abandon the memory.
        let t = timings.start();
        let inputs = pending.iter().map(|(n, b)| (n, b));
        let files: Vec<crate::debug::gdb::FileBacked> = inputs
            .chain(archives.iter().map(|(n, a)| (n, &a.bytes)))
            .filter(|(_, b)| opts.debugger_support && matches!(b, Bytes::Mapped(_)))
            .map(|(path, b)| crate::debug::gdb::FileBacked { bytes: b, path })
            .collect();
        let debug =
            match crate::debug::register_set(&g, &st.elf.objects, &redirected, &files, opts, table)
            {
                Ok(d) => d,
                Err(e) => {
                    unpublish(symbols, set_id, &published);
                    mem.abandon(inflight);
                    return Err(e);
                }
            };
        timings.add("debug", t);

        let t = timings.start();
        let memory = match inflight.finalize::<A>(&mut mem) {
            Ok(m) => m,
            Err(e) => {
                unpublish(symbols, set_id, &published);
                return Err(e);
            }
        };
        drop(mem);
        for (body, handle) in &redirected {
            handle.redirect(g.address(*body));
        }
        if let Some(root) = bound_root {
            hooks.bound = Some(Bound {
                root: root.map(|r| g.address(r)),
                blocks: g
                    .sections
                    .iter()
                    .filter(|s| s.role != SectionRole::ThreadLocal)
                    .flat_map(|s| s.blocks.iter())
                    .map(|b| (b.0, g.blocks[b.index()].addr))
                    .collect(),
            });
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
        timings.add("finalize", t);
        // Crashes in the set's initializers are reported by name too.
        let tables = self.sets.iter().flatten().map(|s| &s.debug.functions);
        crate::debug::crash::refresh(tables.chain([&debug.functions]));

        let files: Vec<Arc<str>> = g.inputs.iter().map(|s| Arc::from(s.as_str())).collect();
        if let Some(locals) = &mut hooks.locals {
            record_locals(&g, &files, locals);
        }
        self.sets.push(Some(LinkedSet {
            memory,
            dso,
            unwind,
            published: Published {
                replaced: Vec::new(),
                ..published
            },
            files,
            debug,
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
        forget(&mut self.symbols, id.0, &set.published);
        init::finish(set.dso);
        drop(set.debug);
        crate::debug::crash::refresh(self.sets.iter().flatten().map(|s| &s.debug.functions));
        drop(set.unwind);
        self.stubs.release(Owner(u64::from(id.0)));
        lock(&self.mem).release(set.memory);
        Ok(())
    }

    /// What lies at `addr`: the linked function or stub containing it, its input file and the
    /// offset from its start; or a named stub of the session's pool (`name@stub`, file
    /// `<stub pool>`). `None` elsewhere.
    pub fn describe_address(&self, addr: u64) -> Option<crate::debug::AddressInfo> {
        self.sets
            .iter()
            .flatten()
            .find_map(|s| s.debug.functions.describe(addr))
            .or_else(|| crate::debug::describe_pool_stub(&self.stubs, addr))
    }

    /// Every function and stub of the live linked sets, set by set, each sorted by address.
    pub fn functions(&self) -> impl Iterator<Item = crate::debug::FunctionEntry<'_>> {
        self.sets
            .iter()
            .flatten()
            .flat_map(|s| s.debug.functions.entries())
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

/// Hooks for lazy linking and re-optimization (`crate::lazy`, `crate::reopt`).
impl Session {
    /// The session's re-entry and counting trampolines.
    pub fn trampolines(&self) -> Arc<TrampolinePool<HostArch>> {
        self.trampolines.clone()
    }

    /// Which functions linked from now on are made redirectable.
    pub(crate) fn set_redirectable(&mut self, r: Redirectable) {
        self.opts.redirectable = r;
    }

    /// Declares function `name`, to be defined by an object linked later, at the address of the
    /// stub `handle`: references resolve to the stub now; the link that defines the function
    /// points the stub at the body.
    pub(crate) fn declare_lazy(&mut self, name: &str, handle: StubHandle) {
        let key: Box<[u8]> = name.as_bytes().into();
        self.symbols.insert(
            Name::from(&*key),
            Defined {
                addr: handle.stub,
                size: 0,
                callable: true,
                weak: true,
                set: NO_SET,
                file: 0,
            },
        );
        self.hooks.lazy.insert(key, handle);
    }

    /// Places every set linked from now on in the low 2 GiB.
    pub(crate) fn place_low(&mut self) {
        self.hooks.all_low = true;
    }

    /// From now on, records the writable statics of every linked input.
    pub(crate) fn record_locals(&mut self) {
        self.hooks.locals.get_or_insert_with(FxHashMap::default);
    }

    /// The recorded writable statics of input `file`.
    pub(crate) fn locals_of(&self, file: &str) -> Locals {
        self.hooks
            .locals
            .as_ref()
            .and_then(|l| l.get(file))
            .cloned()
            .unwrap_or_default()
    }

    /// The input that defines global `name`, if linked.
    pub(crate) fn defining_file(&self, name: &str) -> Option<Arc<str>> {
        let d = self.symbols.get(name.as_bytes())?;
        Some(defining_file(&self.sets, d))
    }

    /// Links object `bytes` as a new definition of a running function, bound to the live image
    /// by `spec` (see [`crate::passes::bind`]); returns what it linked.
    pub(crate) fn link_bound(
        &mut self,
        name: String,
        bytes: Bytes,
        spec: BindSpec,
    ) -> Result<Bound> {
        self.link_pending()?;
        self.pending.push((name, bytes));
        self.hooks.bind = Some(spec);
        let linked = self.link_pending();
        self.hooks.bind = None;
        self.pending.clear();
        linked?;
        self.hooks
            .bound
            .take()
            .ok_or_else(|| Error::InvalidArgument("bound link produced no function".into()))
    }
}

/// What a bound link linked (see [`Session::link_bound`]).
pub(crate) struct Bound {
    /// Address of the bound function.
    pub root: Option<u64>,
    /// Address of every block laid out, by block index.
    pub blocks: FxHashMap<u32, u64>,
}

/// Records the named statics in writable, non-thread-local blocks of every input of `g`.
fn record_locals<A: Arch>(
    g: &LinkGraph<'_, A>,
    files: &[Arc<str>],
    out: &mut FxHashMap<Arc<str>, Locals>,
) {
    for s in &g.symbols {
        let Def::Block { block, .. } = s.def else {
            continue;
        };
        let sec = &g.sections[g.blocks[block.index()].section.index()];
        if s.scope != Scope::Local
            || s.name.is_empty()
            || s.callable
            || sec.perm != Perm::ReadWrite
            || sec.role == SectionRole::ThreadLocal
        {
            continue;
        }
        let Some(file) = files.get(s.input as usize) else {
            continue;
        };
        let map = out.entry(file.clone()).or_default();
        let Def::Block { block, offset } = s.def else {
            continue;
        };
        let addr = g.blocks[block.index()].addr.wrapping_add(offset);
        map.entry(s.name.into())
            .and_modify(|d| d.addr = None)
            .or_insert(LocalData {
                addr: Some(addr),
                size: s.size,
            });
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
    declared: &FxHashMap<Box<[u8]>, StubHandle>,
    stubs: &dyn RedirectableSymbolManager,
    owner: Owner,
) -> Result<Vec<(SymbolId, StubHandle)>> {
    if *which == Redirectable::None && declared.is_empty() {
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
                && (which.wants(s.name) || declared.contains_key(s.name))
        })
        .filter_map(|(i, s)| Some((SymbolId(i as u32), std::str::from_utf8(s.name).ok()?)))
        .collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    // Functions declared lazily already have their stubs; the others get new ones.
    let names: Vec<&str> = chosen
        .iter()
        .map(|c| c.1)
        .filter(|n| !declared.contains_key(n.as_bytes()))
        .collect();
    let mut fresh = stubs.emit_redirectable_symbols(owner, &names)?.into_iter();
    let handles: Vec<StubHandle> = chosen
        .iter()
        .filter_map(|c| match declared.get(c.1.as_bytes()) {
            Some(h) => Some(*h),
            None => fresh.next(),
        })
        .collect();
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
pub(crate) fn check_eh_frames<A: Arch>(
    g: &LinkGraph<'_, A>,
    mem: &mut dyn crate::memory::Image,
) -> Result<()> {
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

/// What [`publish`] entered in the session's table: the names, end to end (`name_ends` marks
/// where each one ends: two allocations however many names), and the weak definitions of
/// earlier sets they replaced.
#[derive(Default)]
struct Published {
    names: Vec<u8>,
    name_ends: Vec<u32>,
    replaced: Vec<(Name, Defined)>,
}

impl Published {
    /// The published names.
    fn names(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.name_ends.iter().map(move |&end| {
            let name = self.names.get(start..end as usize).unwrap_or_default();
            start = end as usize;
            name
        })
    }
}

/// Enters the global definitions of laid-out graph `g` (set `set_id`) in the session's table:
/// their addresses, or their stubs' for redirected functions. A strong definition of an earlier
/// set stays ([`check_duplicates`] has made sure only weak ones can be there); a weak one is
/// replaced, and kept in the result so that [`unpublish`] can put it back.
fn publish<A: Arch>(
    g: &LinkGraph<'_, A>,
    symbols: &mut SymbolTable,
    set_id: u32,
    redirected: &[(SymbolId, StubHandle)],
    has_tls: bool,
) -> Published {
    let mut p = Published::default();
    let stubs_of: FxHashMap<SymbolId, u64> = redirected.iter().map(|(b, h)| (*b, h.stub)).collect();
    symbols.reserve(g.globals.len());
    for (i, s) in g.symbols.iter().enumerate() {
        let Def::Block { block, .. } = s.def else {
            continue;
        };
        if s.scope == Scope::Local || s.name.is_empty() || (has_tls && g.is_tls_block(block)) {
            continue;
        }
        let id = SymbolId(i as u32);
        let d = Defined {
            addr: stubs_of.get(&id).copied().unwrap_or_else(|| g.address(id)),
            size: s.size,
            callable: s.callable,
            weak: s.linkage == Linkage::Weak,
            set: set_id,
            // Linker-made symbols (input SYNTHETIC) name no file.
            file: s.input,
        };
        match symbols.entry(Name::from(s.name)) {
            Entry::Occupied(o) if !o.get().weak => continue,
            Entry::Occupied(mut o) => {
                let old = o.insert(d);
                p.replaced.push((o.key().clone(), old));
            }
            Entry::Vacant(v) => {
                v.insert(d);
            }
        }
        p.names.extend_from_slice(s.name);
        p.name_ends.push(p.names.len() as u32);
    }
    p
}

/// Removes the names set `set_id` published that still name its definitions.
fn forget(symbols: &mut SymbolTable, set_id: u32, p: &Published) {
    for name in p.names() {
        if symbols.get(name).is_some_and(|d| d.set == set_id) {
            symbols.remove(name);
        }
    }
}

/// Takes back what [`publish`] entered for set `set_id` (a link that failed after it).
fn unpublish(symbols: &mut SymbolTable, set_id: u32, p: &Published) {
    forget(symbols, set_id, p);
    for (name, d) in &p.replaced {
        symbols.insert(name.clone(), d.clone());
    }
}

fn check_duplicates<A: Arch>(
    g: &LinkGraph<'_, A>,
    symbols: &SymbolTable,
    sets: &[Option<LinkedSet>],
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
                    first: defining_file(sets, d).to_string(),
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
    fn within(&self, addr: u64, range: u64) -> bool {
        self.mem.reaches_within(self.chunk, addr, range)
    }
}

struct DlHost;

impl HostInfo for DlHost {
    fn describe(&self, addr: u64) -> Option<got_stubs::HostSymbol> {
        HostSymbols::describe(addr)
    }
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        HostSymbols::describe(addr).filter(|h| h.size >= len as u64)?;
        // SAFETY: `addr` is a data object of at least `len` bytes in the dynamic symbol table
        // of a library loaded in this process (dladdr1 reported it), so the bytes are mapped
        // and readable.
        Some(unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec())
    }
}

/// Adds the archive members that define what the graph references but does not define (and
/// `wanted`), and what those members need in turn, until nothing more is needed. `defined`
/// says whether a name is already defined outside the graph.
pub(crate) fn load_archive_members<'a, A: ObjectArch>(
    g: &mut LinkGraph<'a, A>,
    st: &mut BuildState<'a>,
    archives: &'a [(String, ArchiveInput)],
    loaded: &mut [Vec<bool>],
    wanted: Option<&[u8]>,
    defined: impl Fn(&[u8]) -> bool,
) -> Result<()> {
    let mut extra: Vec<&[u8]> = wanted.into_iter().collect();
    loop {
        let mut need: Vec<&[u8]> = std::mem::take(&mut extra);
        need.extend(g.globals.iter().filter_map(|(&name, &id)| {
            let s = &g.symbols[id.index()];
            (s.def == Def::External && !s.weak_ref && !g.is_got_base(id) && !defined(name))
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
                    builder::add_object(g, st, &ar.index.members[m].name, data)?;
                    added = true;
                }
                break;
            }
        }
        if !added {
            return Ok(());
        }
    }
}

/// Adds what the linker defines itself: the set's `__dso_handle` (which identifies it to
/// `__cxa_atexit`; defined whether or not an input references it), `_TLS_MODULE_BASE_` when
/// referenced, and the terminator of the set's `.eh_frame`. Returns the handle's block.
pub(crate) fn add_linker_content<A: Arch>(g: &mut LinkGraph<'_, A>) -> crate::graph::BlockId {
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

/// Files an input, recognized by its content: an object joins `pending`; an archive is indexed
/// and joins `archives`, with its members marked not loaded in `loaded`.
pub(crate) fn add_input(
    name: String,
    bytes: Bytes,
    pending: &mut Vec<(String, Bytes)>,
    archives: &mut Vec<(String, ArchiveInput)>,
    loaded: &mut Vec<Vec<bool>>,
) -> Result<()> {
    match detect(&name, &bytes)? {
        InputKind::Elf | InputKind::MachO | InputKind::Coff => pending.push((name, bytes)),
        InputKind::Archive => {
            let index = ArchiveIndex::parse(&name, &bytes)?;
            loaded.push(vec![false; index.members.len()]);
            archives.push((name, ArchiveInput { bytes, index }));
        }
    }
    Ok(())
}
