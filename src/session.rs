//! The in-process session API: a [`Session`] holds inputs, the reserved memory, the symbols of
//! everything linked so far and the linked sets themselves. Each link runs the one pipeline
//! ([`crate::link::link`]) with the in-process target, then registers the set's unwind
//! information and runs its initializers.

use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use crate::builder::Bytes;
use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::link::{self, Bound, Context, LinkInputs, Linked, Plan, Refs};
use crate::memory::MemoryManager;
use crate::options::{LinkedSetId, Options, Redirectable, Timings};
use crate::passes::bind::BindSpec;
use crate::passes::locals::Locals;
use crate::passes::redirectable::Redirect;
use crate::runtime::host::{HostSymbols, Library};
use crate::runtime::init;
use crate::runtime::unwind::Registration;
use crate::stubs::{OwnerKey, RawStub, StubPool, Target, TrampolinePool};
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
    /// What it references in earlier sets.
    refs: Refs,
}

/// A linking session: inputs, reserved memory, and the symbols of every linked set.
///
/// Adding inputs, linking, looking up (which may link) and removing take `&mut self`; the
/// session is `Send`, so it can be moved to (or shared behind a mutex with) other threads.
/// Calls through linked code and stubs, and redirections through the
/// [`Session::redirection_manager`] (`Send + Sync`, every method `&self`), need no access to
/// the session and are safe from any number of threads at once.
pub struct Session {
    opts: Options,
    mem: Arc<Mutex<MemoryManager>>,
    stubs: Arc<StubPool<HostArch>>,
    trampolines: Arc<TrampolinePool<HostArch>>,
    host: HostSymbols,
    inputs: Inputs,
    symbols: SymbolTable,
    /// The live sets, by id (removed sets leave nothing behind).
    sets: BTreeMap<u32, LinkedSet>,
    /// The id of the next set (ids are never reused).
    next_set: u32,
    timings: Timings,
    argv: Vec<CString>,
    /// Functions declared before their object is linked: their stubs, which the link binds.
    lazy: FxHashMap<Box<[u8]>, RawStub>,
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
            sets: BTreeMap::new(),
            next_set: 0,
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

    /// Links what is pending as a new version of set `old`: the new set may define the names
    /// `old` defines, and takes them over. Later links and lookups see the new definitions; the
    /// stubs of `old`'s redirectable functions that the new set defines again are pointed at
    /// the new bodies (one release-ordered store each, all after the new set is complete) and
    /// belong to the new set from then on, so that removing `old` leaves them working. `old`
    /// stays mapped (code already running in it, and sets that reference it, keep using it)
    /// until it is removed, under the rules of [`Session::remove`].
    ///
    /// A failed replace changes nothing, like a failed [`Session::link_pending`].
    pub fn replace(&mut self, old: LinkedSetId) -> Result<LinkedSetId> {
        if !self.sets.contains_key(&old.0) {
            return Err(Error::NoSuchLinkedSet(old.0));
        }
        if self.inputs.pending.is_empty() {
            return Err(Error::BadValue {
                option: "replace",
                value: format!("linked set {}", old.0),
                expected: "a new version added (with add_file or add_object_bytes) first",
            });
        }
        match self.link_as(None, None, Some(old.0))? {
            Some((id, _)) => Ok(id),
            None => Err(Error::Internal("a replacing link linked nothing")),
        }
    }

    /// Links what is pending (and the archive member defining `wanted`), bound to the live
    /// image by `bind` if given; then runs the set's initializers.
    fn link(
        &mut self,
        wanted: Option<&[u8]>,
        bind: Option<BindSpec>,
    ) -> Result<Option<(LinkedSetId, Option<Bound>)>> {
        self.link_as(wanted, bind, None)
    }

    /// [`Session::link`], as a new version of set `replaces` if given. A link that fails
    /// changes nothing: the pending inputs stay pending, the archive members it loaded are
    /// available again, no symbol stays published, no stub made for it stays taken and no
    /// memory stays allocated.
    fn link_as(
        &mut self,
        wanted: Option<&[u8]>,
        bind: Option<BindSpec>,
        replaces: Option<u32>,
    ) -> Result<Option<(LinkedSetId, Option<Bound>)>> {
        if self.inputs.pending.is_empty() && wanted.is_none() {
            return Ok(None);
        }
        let set_id = self.next_set;
        self.next_set = set_id
            .checked_add(1)
            .filter(|&n| n != crate::symbols::NO_SET)
            .ok_or_else(|| Error::Exhausted {
                what: "linked-set ids".into(),
            })?;
        let pending = std::mem::take(&mut self.inputs.pending);
        let loaded = self.inputs.loaded.clone();
        // A new version reuses the stubs of the functions it defines again.
        let taken_over: Vec<(Arc<str>, RawStub)> = match replaces {
            Some(old) => self.stubs.owned_raw(OwnerKey::Set(old)),
            None => Vec::new(),
        };
        let mut declared_with_old;
        let declared = if taken_over.is_empty() {
            &self.lazy
        } else {
            declared_with_old = self.lazy.clone();
            for (name, raw) in &taken_over {
                declared_with_old.insert(name.as_bytes().into(), *raw);
            }
            &declared_with_old
        };
        let redirect = Redirect {
            which: &self.opts.redirectable,
            declared,
            stubs: &*self.stubs,
            owner: OwnerKey::Set(set_id),
        };
        let plan = Plan {
            set: set_id,
            wanted,
            bind,
            redirect: Some(redirect),
            low: self.all_low,
            record_locals: self.locals.is_some(),
            replaces,
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
        );
        let linked = match linked {
            Ok(l) => l,
            Err(e) => {
                // Inputs added meanwhile cannot exist (the link holds `&mut self`).
                self.inputs.pending = pending;
                self.inputs.loaded = loaded;
                self.stubs.release_key(OwnerKey::Set(set_id));
                return Err(e);
            }
        };
        if let (Some(old), Some(_)) = (replaces, &linked) {
            // The stubs the new set defined again are its own now (the pipeline pointed them at
            // the new bodies).
            let names: Vec<&[u8]> = taken_over.iter().map(|(n, _)| n.as_bytes()).collect();
            let defined: Vec<&[u8]> = names
                .into_iter()
                .filter(|n| self.symbols.get(n).is_some_and(|d| d.set == set_id))
                .collect();
            self.stubs
                .transfer(OwnerKey::Set(old), &defined, OwnerKey::Set(set_id));
        }
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
        let tables = self.sets.values().map(|s| &s.set.debug.functions);
        crate::debug::crash::refresh(tables.chain([&set.debug.functions]));
        if let Some(all) = &mut self.locals {
            all.extend(facts.locals);
        }
        self.symbols.set_files(set_id, facts.files);
        self.sets.insert(
            set_id,
            LinkedSet {
                set,
                dso: facts.dso,
                unwind,
                published: facts.published.committed(),
                refs: facts.refs,
            },
        );
        if let (true, Some(s)) = (self.opts.export_dynamic, self.sets.get(&set_id)) {
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

    /// Removes a linked set: its finalizers run, its symbols are forgotten, its stubs are
    /// released and its memory is unmapped.
    ///
    /// The policy is to refuse: while anything the session knows of still points into the set,
    /// the set stays as it is and the error ([`Error::InUse`]) names what does: other live sets
    /// that reference its definitions (or the stubs it owns), and stubs (not its own) whose
    /// destination lies in its memory. Redirect those stubs away, or remove those sets first,
    /// and try again. A stub the set owns is released with it, and a later call through it
    /// aborts with a message saying so; stubs that a new version took over
    /// ([`Session::replace`]) are no longer the set's and keep working.
    ///
    /// What the session cannot see is the caller's: code of the set running on some thread (or
    /// a thread that will return into it), and raw addresses taken from [`Session::lookup`].
    pub fn remove(&mut self, id: LinkedSetId) -> Result<()> {
        let set = self.sets.get(&id.0).ok_or(Error::NoSuchLinkedSet(id.0))?;
        let mut by = Vec::new();
        let mut own: Vec<u64> = self
            .stubs
            .owned_raw(OwnerKey::Set(id.0))
            .iter()
            .map(|(_, r)| r.stub)
            .collect();
        own.sort_unstable();
        for (&other, s) in &self.sets {
            if other == id.0 {
                continue;
            }
            let direct = s.refs.sets.binary_search(&id.0).is_ok();
            let via_stub = s.refs.stubs.iter().any(|a| own.binary_search(a).is_ok());
            if direct || via_stub {
                let files = self.symbols.files_of(other);
                by.push(format!("linked set {other} ({files})"));
            }
        }
        let (lo, hi) = set.set.memory.range();
        by.extend(self.stubs.pointing_into(lo, hi, OwnerKey::Set(id.0)));
        if !by.is_empty() {
            return Err(Error::InUse {
                what: format!("linked set {} ({})", id.0, self.symbols.files_of(id.0)),
                by,
            });
        }
        // SAFETY: nothing the session knows of points into the set (checked above); what the
        // session cannot see is the caller's, as documented.
        unsafe { self.remove_unchecked(id) }
    }

    /// Removes a linked set without checking what points into it (see [`Session::remove`]).
    ///
    /// # Safety
    ///
    /// No code of the set may run after this call (or be running, or be returned into), and
    /// nothing may call into it: no other live set that references it, no stub pointing into
    /// it, no address taken from it.
    pub unsafe fn remove_unchecked(&mut self, id: LinkedSetId) -> Result<()> {
        let set = self
            .sets
            .remove(&id.0)
            .ok_or(Error::NoSuchLinkedSet(id.0))?;
        self.symbols.forget(id.0, &set.published);
        init::finish(set.dso);
        drop(set.set.debug);
        let tables = self.sets.values().map(|s| &s.set.debug.functions);
        crate::debug::crash::refresh(tables);
        drop(set.unwind);
        self.stubs.release_key(OwnerKey::Set(id.0));
        lock(&self.mem).release(set.set.memory);
        Ok(())
    }

    /// The live linked sets, oldest first.
    pub fn linked_sets(&self) -> Vec<LinkedSetId> {
        self.sets.keys().map(|&k| LinkedSetId(k)).collect()
    }

    /// The address of `name`, defined by a live linked set (or declared lazily), as a
    /// destination for a stub: the target borrows the session, so the set cannot be removed
    /// while it exists, and [`Session::remove`] refuses while a stub still points into the set.
    /// Links nothing (see [`Session::lookup`]); host functions are [`Target::host`].
    pub fn target(&self, name: &str) -> Result<Target<'_>> {
        self.symbols
            .get(name.as_bytes())
            .map(|d| Target::vouched(d.addr))
            .ok_or_else(|| Error::SymbolNotFound(name.to_string()))
    }

    /// What lies at `addr`: the linked function or stub containing it, its input file and the
    /// offset from its start; or a named stub of the session's pool (`name@stub`, file
    /// `<stub pool>`). `None` elsewhere.
    pub fn describe_address(&self, addr: u64) -> Option<crate::debug::AddressInfo> {
        self.sets
            .values()
            .find_map(|s| s.set.debug.functions.describe(addr))
            .or_else(|| crate::debug::describe_pool_stub(&self.stubs, addr))
    }

    /// Every function and stub of the live linked sets, set by set, each sorted by address.
    pub fn functions(&self) -> impl Iterator<Item = crate::debug::FunctionEntry<'_>> {
        self.sets
            .values()
            .flat_map(|s| s.set.debug.functions.entries())
    }

    /// The address range of a linked set's memory.
    pub fn linked_range(&self, id: LinkedSetId) -> Option<(u64, u64)> {
        self.sets.get(&id.0).map(|s| s.set.memory.range())
    }

    /// The redirection manager of this session: stubs for the functions chosen by
    /// [`Options::redirectable`], and any the caller creates.
    pub fn redirection_manager(&self) -> Arc<StubPool<HostArch>> {
        self.stubs.clone()
    }

    /// A new, empty stub pool of its own on the session's reserved memory (the session's own
    /// pool is [`Session::redirection_manager`]). Dropping it gives its memory back to the
    /// session; its stubs must not be called afterwards.
    pub fn new_stub_pool(&self) -> StubPool<HostArch> {
        StubPool::new(self.mem.clone())
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
        let ids: Vec<u32> = self.sets.keys().rev().copied().collect();
        for id in ids {
            // SAFETY: the session ends: its sets go with it (calling their code afterwards, or
            // through a stub into them, was never allowed by the contract of calling it).
            let _ = unsafe { self.remove_unchecked(LinkedSetId(id)) };
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
    pub(crate) fn declare_lazy(&mut self, name: &str, handle: RawStub) {
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
                stub: true,
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
        self.symbols.file_defining(name.as_bytes())
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
        let replaces = self.symbols.replaced_by(&spec);
        self.inputs.pending.push((name, bytes));
        let linked = self.link_as(None, Some(spec), replaces);
        self.inputs.pending.clear();
        match linked? {
            Some((_, Some(bound))) => Ok(bound),
            _ => Err(Error::Internal("a bound link linked nothing")),
        }
    }
}
