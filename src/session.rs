//! The in-process session API: a [`Session`] holds inputs, the reserved memory, the symbols of
//! everything linked so far and the linked sets themselves. Each link runs the one pipeline
//! ([`crate::link::link`]) with the in-process target, then registers the set's unwind
//! information and runs its initializers.

use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use crate::builder::Bytes;
use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::link::{self, Bound, Context, LinkInputs, Linked, Plan};
use crate::memory::MemoryManager;
use crate::options::{LinkedSetId, Options, Redirectable, Timings};
use crate::passes::bind::BindSpec;
use crate::passes::locals::Locals;
use crate::passes::redirectable::Redirect;
use crate::runtime::host::{HostSymbols, Library};
use crate::runtime::init;
use crate::runtime::unwind::Registration;
use crate::stubs::{Owner, RedirectableSymbolManager, StubHandle, StubPool, TrampolinePool};
use crate::symbols::{Defined, Published, SymbolTable, NO_SET};
use crate::target::in_process::{lock, InProcess, InProcessSet};

/// The architecture of this process.
#[cfg(target_arch = "x86_64")]
pub type HostArch = jitlink_arch::x86_64::X86_64;
/// The architecture of this process.
#[cfg(target_arch = "aarch64")]
pub type HostArch = jitlink_arch::aarch64::AArch64;

/// A linked set that lives in this process.
struct LinkedSet {
    set: InProcessSet,
    dso: u64,
    unwind: Registration,
    /// The names the set published.
    published: Published,
}

/// A linking session: inputs, reserved memory, and the symbols of every linked set.
pub struct Session {
    opts: Options,
    mem: Arc<Mutex<MemoryManager>>,
    stubs: Arc<StubPool<HostArch>>,
    trampolines: Arc<TrampolinePool<HostArch>>,
    host: HostSymbols,
    inputs: Inputs,
    symbols: SymbolTable,
    sets: Vec<Option<LinkedSet>>,
    timings: Timings,
    argv: Vec<CString>,
    /// Functions declared before their object is linked: their stubs, which the link binds.
    lazy: FxHashMap<Box<[u8]>, StubHandle>,
    /// Place every linked set in the low 2 GiB (some input needs it, and sets reference each
    /// other's data PC-relatively).
    all_low: bool,
    /// When recorded: the writable statics of every linked input, by file and name.
    locals: Option<FxHashMap<Arc<str>, Locals>>,
}

impl Session {
    /// A new session.
    pub fn new(opts: Options) -> Self {
        let mem = Arc::new(Mutex::new(MemoryManager::new()));
        Session {
            host: HostSymbols::new(!opts.no_default_libs),
            mem: mem.clone(),
            stubs: Arc::new(StubPool::new(mem.clone())),
            trampolines: Arc::new(TrampolinePool::new(mem)),
            inputs: Inputs::default(),
            symbols: SymbolTable::default(),
            sets: Vec::new(),
            timings: Timings::new(opts.timings),
            argv: opts
                .program_args
                .iter()
                .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
                .collect(),
            lazy: FxHashMap::default(),
            all_low: false,
            locals: None,
            opts,
        }
    }

    /// Adds an object file or archive from disk, recognized by its content.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.inputs.add_file(path.as_ref())
    }

    /// Adds an object file or archive held in memory; `name` is used in messages.
    pub fn add_bytes(&mut self, name: String, bytes: Bytes) -> Result<()> {
        self.inputs.add(name, bytes)
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
        Ok(self.link(None, None)?.map(|(id, _)| id))
    }

    /// Links what is pending (and the archive member defining `wanted`), bound to the live
    /// image by `bind` if given; then runs the set's initializers.
    fn link(
        &mut self,
        wanted: Option<&[u8]>,
        bind: Option<BindSpec>,
    ) -> Result<Option<(LinkedSetId, Option<Bound>)>> {
        let pending = std::mem::take(&mut self.inputs.pending);
        if pending.is_empty() && wanted.is_none() {
            return Ok(None);
        }
        let set_id = self.sets.len() as u32;
        let redirect = Redirect {
            which: &self.opts.redirectable,
            declared: &self.lazy,
            stubs: &*self.stubs,
            owner: Owner(u64::from(set_id)),
        };
        let plan = Plan {
            set: set_id,
            wanted,
            bind,
            redirect: Some(redirect),
            low: self.all_low,
            record_locals: self.locals.is_some(),
        };
        let linked = link::link(
            LinkInputs::new(&pending, &mut self.inputs),
            Context {
                symbols: &mut self.symbols,
                absolutes: &self.opts.absolutes,
                timings: &mut self.timings,
                show_graph: self.opts.show_graph,
            },
            &mut InProcess::new(&self.mem, &mut self.host, &self.opts),
            plan,
        )?;
        linked.map(|l| self.start(set_id, l)).transpose()
    }

    /// Registers a linked set's unwind information, keeps it, and runs its initializers (last:
    /// they may call anything in the set, which is now complete).
    fn start(
        &mut self,
        set_id: u32,
        l: Linked<InProcessSet>,
    ) -> Result<(LinkedSetId, Option<Bound>)> {
        let (set, facts) = (l.committed, l.set);
        let unwind = Registration::register(facts.eh_frame.into_iter().collect());
        // Crashes in the set's initializers are reported by name too.
        let tables = self.sets.iter().flatten().map(|s| &s.set.debug.functions);
        crate::debug::crash::refresh(tables.chain([&set.debug.functions]));
        if let Some(all) = &mut self.locals {
            all.extend(facts.locals);
        }
        self.symbols.set_files(set_id, facts.files);
        self.sets.push(Some(LinkedSet {
            set,
            dso: facts.dso,
            unwind,
            published: facts.published.committed(),
        }));
        if let (true, Some(Some(s))) = (self.opts.export_dynamic, self.sets.last()) {
            // Before anything of the set runs: its initializers may dlopen already. (The set
            // is kept: a failure leaves it linked, unstarted.)
            let exports = self.symbols.exports(&s.published);
            crate::runtime::tls::export_here(&exports)?;
        }
        if !self.opts.link_only {
            let mut argv: Vec<*const c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            init::start(facts.init_fini, facts.dso, &argv);
        }
        Ok((LinkedSetId(set_id), facts.bound))
    }

    /// The address of `name`: linked pending inputs first (and archive members that define it),
    /// then falls back to the host process.
    pub fn lookup(&mut self, name: &str) -> Result<u64> {
        let key = name.as_bytes();
        if !self.symbols.contains(key)
            && (!self.inputs.pending.is_empty() || self.inputs.in_archive(key))
        {
            self.link(Some(key), None)?;
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
        self.symbols.forget(id.0, &set.published);
        init::finish(set.dso);
        drop(set.set.debug);
        let tables = self.sets.iter().flatten().map(|s| &s.set.debug.functions);
        crate::debug::crash::refresh(tables);
        drop(set.unwind);
        self.stubs.release(Owner(u64::from(id.0)));
        lock(&self.mem).release(set.set.memory);
        Ok(())
    }

    /// What lies at `addr`: the linked function or stub containing it, its input file and the
    /// offset from its start; or a named stub of the session's pool (`name@stub`, file
    /// `<stub pool>`). `None` elsewhere.
    pub fn describe_address(&self, addr: u64) -> Option<crate::debug::AddressInfo> {
        self.sets
            .iter()
            .flatten()
            .find_map(|s| s.set.debug.functions.describe(addr))
            .or_else(|| crate::debug::describe_pool_stub(&self.stubs, addr))
    }

    /// Every function and stub of the live linked sets, set by set, each sorted by address.
    pub fn functions(&self) -> impl Iterator<Item = crate::debug::FunctionEntry<'_>> {
        self.sets
            .iter()
            .flatten()
            .flat_map(|s| s.set.debug.functions.entries())
    }

    /// The address range of a linked set's memory.
    pub fn linked_range(&self, id: LinkedSetId) -> Option<(u64, u64)> {
        self.sets
            .get(id.0 as usize)?
            .as_ref()
            .map(|s| s.set.memory.range())
    }

    /// The redirection manager of this session: stubs for the functions chosen by
    /// [`Options::redirectable`], and any the caller creates.
    pub fn redirection_manager(&self) -> Arc<StubPool<HostArch>> {
        self.stubs.clone()
    }

    /// The session's re-entry and counting trampolines.
    pub fn trampolines(&self) -> Arc<TrampolinePool<HostArch>> {
        self.trampolines.clone()
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

/// Session settings for lazy linking and re-optimization (`crate::lazy`, `crate::reopt`): each
/// applies to every link from then on, and each link passes them to the pipeline in its plan.
impl Session {
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
            &key,
            Defined {
                addr: handle.stub,
                size: 0,
                callable: true,
                weak: true,
                set: NO_SET,
                file: 0,
            },
        );
        self.lazy.insert(key, handle);
    }

    /// Places every set linked from now on in the low 2 GiB.
    pub(crate) fn place_low(&mut self) {
        self.all_low = true;
    }

    /// From now on, records the writable statics of every linked input.
    pub(crate) fn record_locals(&mut self) {
        self.locals.get_or_insert_with(FxHashMap::default);
    }

    /// The recorded writable statics of input `file`.
    pub(crate) fn locals_of(&self, file: &str) -> Locals {
        self.locals
            .as_ref()
            .and_then(|l| l.get(file))
            .cloned()
            .unwrap_or_default()
    }

    /// The input that defines global `name`, if linked.
    pub(crate) fn defining_file(&self, name: &str) -> Option<Arc<str>> {
        let d = self.symbols.get(name.as_bytes())?;
        Some(self.symbols.defining_file(d))
    }

    /// Links object `bytes` alone as a new definition of a running function, bound to the live
    /// image by `spec` (see [`crate::passes::bind`]); returns what it linked. What was pending
    /// is linked first, as its own set.
    pub(crate) fn link_bound(
        &mut self,
        name: String,
        bytes: Bytes,
        spec: BindSpec,
    ) -> Result<Bound> {
        self.link_pending()?;
        self.inputs.pending.push((name, bytes));
        let linked = self.link(None, Some(spec));
        self.inputs.pending.clear();
        match linked? {
            Some((_, Some(bound))) => Ok(bound),
            _ => Err(Error::Internal("a bound link linked nothing")),
        }
    }
}
