//! The in-process stub pool.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use jitlink_arch::{Arch, FixupValues};
use rustc_hash::FxHashMap;

use super::{Owner, OwnerKey, RedirectableSymbolManager, RedirectionManager, Target};
use crate::error::{Error, Result};
use crate::graph::Perm;
use crate::memory::{Finalized, MemoryManager, Placement};
use crate::name::Name;
use crate::name_index::{self as names, NameIndex};

/// Smallest batch: one page of x86-64 stubs.
const MIN_BATCH: usize = 512;

/// A stub and its slot, inside the crate: the session keeps the pool (and so the slot's memory)
/// alive as long as it keeps one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawStub {
    /// Address of the stub (the symbol's stable address).
    pub stub: u64,
    /// Address of its 8-byte pointer slot.
    pub slot: u64,
}

impl RawStub {
    /// Points the stub at `target`: one release-ordered atomic store. The crate calls it only
    /// with addresses it vouches for (linked code, trampolines, traps).
    #[inline]
    pub(crate) fn redirect(&self, target: u64) {
        // SAFETY: `slot` is an 8-byte aligned slot in a pool's writable memory; the crate keeps
        // the pool alive while it holds the stub (the session owns it), and all writers use
        // atomic stores.
        unsafe { (*(self.slot as *const AtomicU64)).store(target, Ordering::Release) }
    }

    /// The stub's current destination.
    #[inline]
    pub(crate) fn target(&self) -> u64 {
        // SAFETY: as in `redirect`.
        unsafe { (*(self.slot as *const AtomicU64)).load(Ordering::Acquire) }
    }
}

/// A stub of a [`StubPool`], borrowed from it: made only by the pool, it cannot outlive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubHandle<'p> {
    raw: RawStub,
    _pool: PhantomData<&'p ()>,
}

impl<'p> StubHandle<'p> {
    fn new(raw: RawStub) -> Self {
        StubHandle {
            raw,
            _pool: PhantomData,
        }
    }

    /// The stub's address (the symbol's stable address).
    #[inline]
    pub fn address(&self) -> u64 {
        self.raw.stub
    }

    /// Points the stub at `target`: one release-ordered atomic store.
    #[inline]
    pub fn redirect(&self, target: Target<'_>) {
        self.raw.redirect(target.addr());
    }

    /// Points the stub at the raw address `target`: one release-ordered atomic store.
    ///
    /// # Safety
    ///
    /// `target` must be code that the stub's callers may run with the stub's signature, and must
    /// stay mapped as long as the stub may be called (or until it is redirected away).
    #[inline]
    pub unsafe fn redirect_to_raw(&self, target: u64) {
        self.raw.redirect(target);
    }

    /// The stub's current destination.
    #[inline]
    pub fn target(&self) -> u64 {
        self.raw.target()
    }

    /// This stub as a destination for another stub (it lives as long as the pool).
    #[inline]
    pub fn as_target(&self) -> Target<'p> {
        Target::vouched(self.raw.stub)
    }

    pub(crate) fn raw(&self) -> RawStub {
        self.raw
    }
}

struct Batch {
    first: u32,
    count: u32,
    stubs: u64,
    slots: u64,
    memory: Option<Finalized>,
}

struct Inner {
    /// Sorted by `first` (batches are only ever added at the end of the index space).
    batches: Vec<Batch>,
    /// Stubs ever made; indices `fresh..total` have never been handed out.
    total: u32,
    fresh: u32,
    /// Released stubs, reused before fresh ones.
    free: Vec<u32>,
    /// Named stubs: name → stub index.
    names: NameIndex,
    /// The name of each stub, by index (grown only when named stubs are made).
    name_of: Vec<Option<Name>>,
    /// Stubs of each owner, as runs `(first index, count)`.
    by_owner: FxHashMap<OwnerKey, Vec<(u32, u32)>>,
}

impl Inner {
    #[inline]
    fn raw(&self, index: u32, size: usize) -> Option<RawStub> {
        let b = self.batches.get(
            self.batches
                .partition_point(|b| b.first <= index)
                .checked_sub(1)?,
        )?;
        let i = u64::from(index.checked_sub(b.first)?);
        (i < u64::from(b.count)).then(|| RawStub {
            stub: b.stubs + i * size as u64,
            slot: b.slots + 8 * i,
        })
    }

    /// Takes `n` stubs (released ones first, then fresh ones) as runs `(first, count)` of
    /// consecutive indices; the caller has made sure there are enough.
    fn take(&mut self, n: usize) -> Vec<(u32, u32)> {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut left = n;
        while left > 0 {
            let Some(index) = self.free.pop() else { break };
            push_run(&mut runs, index, 1);
            left -= 1;
        }
        if left > 0 {
            push_run(&mut runs, self.fresh, left as u32);
            self.fresh += left as u32;
        }
        runs
    }

    /// Gives back stubs taken by [`Inner::take`] that were never handed out.
    fn untake(&mut self, runs: &[(u32, u32)]) {
        self.free
            .extend(runs.iter().flat_map(|&(first, count)| first..first + count));
    }

    fn record_owner(&mut self, owner: OwnerKey, runs: &[(u32, u32)]) {
        let list = self.by_owner.entry(owner).or_default();
        for &(first, count) in runs {
            push_run(list, first, count);
        }
    }

    /// The index of the stub named `name`.
    #[inline]
    fn index_named(&self, name: &[u8], hash: u32) -> Option<u32> {
        let name_of = &self.name_of;
        self.names.get(hash, |i| {
            name_of
                .get(i as usize)
                .and_then(Option::as_ref)
                .is_some_and(|n| n.as_bytes() == name)
        })
    }

    /// Points the stubs of `runs` at `initial(k)` (the trap if `None`), `k` counting the stubs
    /// in order, and returns them.
    fn hand_out(
        &self,
        runs: &[(u32, u32)],
        size: usize,
        initial: impl Fn(usize) -> Option<u64>,
    ) -> Vec<RawStub> {
        let mut out = Vec::with_capacity(runs.iter().map(|r| r.1 as usize).sum());
        for &(first, count) in runs {
            let (mut index, end) = (first, first + count);
            while index < end {
                // One batch lookup per stretch of consecutive stubs in one batch.
                let at = self.batches.partition_point(|b| b.first <= index);
                let Some(b) = at.checked_sub(1).and_then(|at| self.batches.get(at)) else {
                    break;
                };
                let stop = end.min(b.first + b.count);
                for i in u64::from(index - b.first)..u64::from(stop - b.first) {
                    let raw = RawStub {
                        stub: b.stubs + i * size as u64,
                        slot: b.slots + 8 * i,
                    };
                    raw.redirect(initial(out.len()).unwrap_or_else(trap));
                    out.push(raw);
                }
                index = stop;
            }
        }
        out
    }
}

/// Appends the run `(first, count)` to `runs`, extending the last run when they touch.
fn push_run(runs: &mut Vec<(u32, u32)>, first: u32, count: u32) {
    match runs.last_mut() {
        Some((f, c)) if *f + *c == first => *c += count,
        _ => runs.push((first, count)),
    }
}

/// A pool of stubs for architecture `A`, allocated in batches from a session's memory.
///
/// Every method takes `&self`, and the pool is `Send + Sync`: creation, lookups, redirects and
/// releases from many threads at once are safe (a mutex orders the bookkeeping; redirects are
/// single atomic stores).
pub struct StubPool<A: Arch> {
    mem: Arc<Mutex<MemoryManager>>,
    inner: Mutex<Inner>,
    _arch: PhantomData<A>,
}

/// Where a stub that has no destination yet jumps: a clear abort instead of a wild jump.
extern "C" fn unbound_stub_called() {
    crate::diag!("jitlink: a redirectable symbol was called before its first destination was set");
    std::process::abort();
}

/// Where a released stub jumps.
extern "C" fn released_stub_called() {
    crate::diag!(
        "jitlink: a released redirectable symbol was called (its owner was released or its \
         linked set removed)"
    );
    std::process::abort();
}

fn trap() -> u64 {
    unbound_stub_called as extern "C" fn() as usize as u64
}

fn released_trap() -> u64 {
    released_stub_called as extern "C" fn() as usize as u64
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the pool consistent (every update is a single
    // assignment or push), so a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_redirectable(name: &str) -> Error {
    Error::SymbolNotFound(format!("{name} (not a redirectable symbol)"))
}

impl<A: Arch> StubPool<A> {
    /// A pool drawing memory from `mem`.
    pub(crate) fn new(mem: Arc<Mutex<MemoryManager>>) -> Self {
        StubPool {
            mem,
            inner: Mutex::new(Inner {
                batches: Vec::new(),
                total: 0,
                fresh: 0,
                free: Vec::new(),
                names: NameIndex::new(),
                name_of: Vec::new(),
                by_owner: FxHashMap::default(),
            }),
            _arch: PhantomData,
        }
    }

    /// Stub plus slot bytes of one stub.
    pub const BYTES_PER_STUB: usize = A::JUMP_STUB.bytes.len() + 8;

    const SIZE: usize = A::JUMP_STUB.bytes.len();

    /// Makes sure at least `n` stubs are free, growing the pool by one batch if needed.
    fn reserve(&self, inner: &mut Inner, n: usize) -> Result<()> {
        let available = inner.free.len() + (inner.total - inner.fresh) as usize;
        if available >= n {
            return Ok(());
        }
        let want = n - available;
        if u32::try_from(want)
            .ok()
            .and_then(|w| inner.total.checked_add(w.max(MIN_BATCH as u32) * 2))
            .is_none()
        {
            return Err(Error::Exhausted {
                what: "stub indices".into(),
            });
        }
        self.grow(inner, want)
    }

    /// Makes a batch of at least `n` stubs, all pointing at the trap.
    fn grow(&self, inner: &mut Inner, n: usize) -> Result<()> {
        let tpl = A::JUMP_STUB;
        let size = tpl.bytes.len();
        let mut mem = lock(&self.mem);
        let page = mem.page_size();
        let n = n.max(MIN_BATCH);
        let code_len = (n * size).next_multiple_of(page);
        let slot_len = (n * 8).next_multiple_of(page);
        let len = code_len + slot_len;
        let chunk = mem.chunk_for(Placement::Near, len, page)?;
        let segments = vec![
            (0, code_len, Perm::ReadExec),
            (code_len, slot_len, Perm::ReadWrite),
        ];
        let mut a = mem.allocate(chunk, len, page, segments)?;
        let base = a.base();
        let slots = base + code_len as u64;
        let first = inner.total;
        // Fault the batch in with one call instead of one fault per page.
        a.populate(len);
        let filled = a
            .bytes_mut(base, len)
            .ok_or(Error::Internal("stub batch outside its allocation"));
        let written = filled.and_then(|code| {
            let fix = |stub: &mut [u8], i: usize| {
                stub.copy_from_slice(tpl.bytes);
                let v = FixupValues {
                    p: base + (i * size + tpl.slot_offset) as u64,
                    s: slots + 8 * i as u64,
                    a: tpl.slot_addend,
                    got: 0,
                    tls: Default::default(),
                    image_base: 0,
                    section: None,
                };
                A::apply_fixup(tpl.slot_kind, stub, tpl.slot_offset, v).map_err(|reason| {
                    Error::StubOutOfRange {
                        what: "stub batch".into(),
                        reason,
                    }
                })
            };
            let (stubs, slot_bytes) = code.split_at_mut(code_len);
            let mut chunks = stubs[..n * size].chunks_exact_mut(size);
            let mut first_stub = [0u8; 64];
            let pattern = &mut first_stub[..size];
            fix(pattern, 0)?;
            // Where stubs and slots have the same stride, every stub's displacement is the
            // same and the batch is one repeated pattern; otherwise fix each stub up.
            let uniform = size == 8 && {
                let mut second = [0u8; 64];
                fix(&mut second[..size], 1)?;
                second[..size] == *pattern
            };
            for (i, stub) in chunks.by_ref().enumerate() {
                if uniform {
                    stub.copy_from_slice(pattern);
                } else {
                    fix(stub, i)?;
                }
            }
            let trap = trap().to_le_bytes();
            for slot in slot_bytes[..n * 8].chunks_exact_mut(8) {
                slot.copy_from_slice(&trap);
            }
            Ok(())
        });
        if let Err(e) = written {
            mem.abandon(a);
            return Err(e);
        }
        let memory = a.finalize::<A>(&mut mem)?;
        inner.batches.push(Batch {
            first,
            count: n as u32,
            stubs: base,
            slots,
            memory: Some(memory),
        });
        inner.total += n as u32;
        Ok(())
    }

    /// Takes `n` unnamed stubs for `owner` (released ones first, then fresh ones, growing the
    /// pool by one batch if needed), each pointing at the matching `initial` target (or
    /// trapping, if `None`).
    pub fn create<'t>(
        &self,
        owner: Owner,
        n: usize,
        initial: impl Fn(usize) -> Option<Target<'t>>,
    ) -> Result<Vec<StubHandle<'_>>> {
        let raw = self.create_raw(owner.0, n, |i| initial(i).map(|t| t.addr()))?;
        Ok(raw.into_iter().map(StubHandle::new).collect())
    }

    fn create_raw(
        &self,
        owner: OwnerKey,
        n: usize,
        initial: impl Fn(usize) -> Option<u64>,
    ) -> Result<Vec<RawStub>> {
        let mut inner = lock(&self.inner);
        self.reserve(&mut inner, n)?;
        let runs = inner.take(n);
        let out = inner.hand_out(&runs, Self::SIZE, initial);
        inner.record_owner(owner, &runs);
        Ok(out)
    }

    /// Stubs currently handed out and free.
    pub fn counts(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        let free = inner.free.len() + (inner.total - inner.fresh) as usize;
        (inner.total as usize - free, free)
    }

    /// Batches of stub memory the pool holds.
    pub fn batches(&self) -> usize {
        lock(&self.inner).batches.len()
    }

    /// The handle of a named stub.
    pub fn handle(&self, name: &str) -> Option<StubHandle<'_>> {
        self.raw_handle(name).map(StubHandle::new)
    }

    pub(crate) fn raw_handle(&self, name: &str) -> Option<RawStub> {
        let inner = lock(&self.inner);
        let name = name.as_bytes();
        let index = inner.index_named(name, names::hash(name))?;
        inner.raw(index, Self::SIZE)
    }

    /// The named stubs of `owner`, in the order they were made.
    pub fn owned(&self, owner: Owner) -> Vec<(Arc<str>, StubHandle<'_>)> {
        self.owned_raw(owner.0)
            .into_iter()
            .map(|(n, r)| (n, StubHandle::new(r)))
            .collect()
    }

    pub(crate) fn owned_raw(&self, owner: OwnerKey) -> Vec<(Arc<str>, RawStub)> {
        let inner = lock(&self.inner);
        let runs = inner.by_owner.get(&owner).cloned().unwrap_or_default();
        runs.into_iter()
            .flat_map(|(first, count)| first..first + count)
            .filter_map(|i| {
                let name = inner.name_of.get(i as usize)?.as_ref()?;
                let name = Arc::from(std::str::from_utf8(name.as_bytes()).ok()?);
                Some((name, inner.raw(i, Self::SIZE)?))
            })
            .collect()
    }

    /// The named stub whose code contains `addr`: its name and handle.
    pub fn stub_at(&self, addr: u64) -> Option<(Arc<str>, StubHandle<'_>)> {
        let size = Self::SIZE as u64;
        let inner = lock(&self.inner);
        let b = inner.batches.iter().find(|b| {
            addr >= b.stubs && addr - b.stubs < u64::from(b.count).saturating_mul(size)
        })?;
        let index = b.first + ((addr - b.stubs) / size) as u32;
        let name = inner.name_of.get(index as usize)?.as_ref()?;
        let name = Arc::from(std::str::from_utf8(name.as_bytes()).ok()?);
        Some((name, StubHandle::new(inner.raw(index, size as usize)?)))
    }

    /// Creates named stubs: the names are checked and entered under the same lock as the stubs
    /// are taken, so two threads creating one name cannot both succeed; a name taken (or
    /// repeated in `names`) fails the call and creates nothing.
    fn create_named(
        &self,
        owner: OwnerKey,
        names: &[&str],
        initial: impl Fn(usize) -> Option<u64>,
    ) -> Result<Vec<RawStub>> {
        // Hash outside the lock: reading the caller's names is most of the work that needs none.
        let hashes = names::hashes(names.len(), names.iter().map(|n| n.as_bytes()));
        let mut guard = lock(&self.inner);
        self.reserve(&mut guard, names.len())?;
        let inner = &mut *guard;
        let runs = inner.take(names.len());
        let indices = runs.iter().flat_map(|&(first, count)| first..first + count);
        if let Some(max) = runs.iter().map(|&(f, c)| f + c).max() {
            if inner.name_of.len() < max as usize {
                inner.name_of.resize(max as usize, None);
            }
        }
        inner.names.reserve(names.len());
        let mut entered = 0;
        let mut taken = None;
        for (k, (name, index)) in names.iter().zip(indices.clone()).enumerate() {
            names::ahead(&inner.names, &hashes, k);
            let name = name.as_bytes();
            let hash = names::hash_at(&hashes, k, name);
            // Entered first, so that a later name of this call that repeats it is found.
            inner.name_of[index as usize] = Some(Name::from(name));
            let name_of = &inner.name_of;
            let new = inner.names.insert(hash, index, |i| {
                i != index
                    && name_of
                        .get(i as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|n| n.as_bytes() == name)
            });
            if new.is_err() {
                taken = Some(k);
                break;
            }
            entered += 1;
        }
        if let Some(k) = taken {
            // Take back what this call entered; the stubs were never handed out.
            for (j, index) in indices.take(k + 1).enumerate() {
                if j < entered {
                    let hash = names::hash_at(&hashes, j, names[j].as_bytes());
                    inner.names.remove(hash, index);
                }
                inner.name_of[index as usize] = None;
            }
            inner.untake(&runs);
            return Err(Error::DuplicateRedirectable {
                name: names[k].to_string(),
            });
        }
        let out = inner.hand_out(&runs, Self::SIZE, initial);
        inner.record_owner(owner, &runs);
        Ok(out)
    }

    /// Moves the named stubs `names` of `from` to `to` (a new version of a linked set takes
    /// over its stubs); returns their handles, in order, `None` for names `from` does not own.
    pub(crate) fn transfer(
        &self,
        from: OwnerKey,
        names: &[&[u8]],
        to: OwnerKey,
    ) -> Vec<Option<RawStub>> {
        let mut inner = lock(&self.inner);
        let Some(runs) = inner.by_owner.remove(&from) else {
            return vec![None; names.len()];
        };
        let mut owned: Vec<u32> = runs
            .into_iter()
            .flat_map(|(first, count)| first..first + count)
            .collect();
        let mut moved = Vec::new();
        let out = names
            .iter()
            .map(|name| {
                let index = inner.index_named(name, names::hash(name))?;
                let at = owned.iter().position(|&i| i == index)?;
                owned.swap_remove(at);
                moved.push(index);
                inner.raw(index, Self::SIZE)
            })
            .collect();
        owned.sort_unstable();
        moved.sort_unstable();
        let as_runs = |v: &[u32]| {
            let mut runs = Vec::new();
            for &i in v {
                push_run(&mut runs, i, 1);
            }
            runs
        };
        if !owned.is_empty() {
            inner.record_owner(from, &as_runs(&owned));
        }
        inner.record_owner(to, &as_runs(&moved));
        out
    }

    /// The named stubs (not owned by `except`) whose destination lies in `[lo, hi)`.
    pub(crate) fn pointing_into(&self, lo: u64, hi: u64, except: OwnerKey) -> Vec<String> {
        let inner = lock(&self.inner);
        let mut out = Vec::new();
        for (owner, runs) in &inner.by_owner {
            if *owner == except {
                continue;
            }
            for index in runs.iter().flat_map(|&(f, c)| f..f + c) {
                let Some(raw) = inner.raw(index, Self::SIZE) else {
                    continue;
                };
                let t = raw.target();
                if t >= lo && t < hi {
                    let name = inner.name_of.get(index as usize).and_then(Option::as_ref);
                    out.push(match name {
                        Some(n) => format!("stub {}", String::from_utf8_lossy(n.as_bytes())),
                        None => format!("unnamed stub at {:#x}", raw.stub),
                    });
                }
            }
        }
        out.sort();
        out
    }

    /// Releases the stubs of `owner` (see [`RedirectableSymbolManager::release`]).
    pub(crate) fn release_key(&self, owner: OwnerKey) {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let Some(list) = inner.by_owner.remove(&owner) else {
            return;
        };
        let released = released_trap();
        for (first, count) in list {
            for idx in first..first + count {
                // The stub may still be entered by a thread that loaded its address earlier:
                // point it at the trap, never at freed code.
                if let Some(raw) = inner.raw(idx, Self::SIZE) {
                    raw.redirect(released);
                }
                if let Some(name) = inner.name_of.get_mut(idx as usize).and_then(Option::take) {
                    inner.names.remove(names::hash(name.as_bytes()), idx);
                }
                inner.free.push(idx);
            }
        }
    }
}

/// Crate-internal stub creation for the redirectable-function pass.
pub(crate) trait EmitStubs {
    /// Named stubs for `owner`, trapping until redirected.
    fn emit(&self, owner: OwnerKey, names: &[&str]) -> Result<Vec<RawStub>>;
}

impl<A: Arch> EmitStubs for StubPool<A> {
    fn emit(&self, owner: OwnerKey, names: &[&str]) -> Result<Vec<RawStub>> {
        self.create_named(owner, names, |_| None)
    }
}

impl<A: Arch> StubPool<A> {
    /// Looks every name up under one lock, then stores: all or nothing.
    fn redirect_addrs<'n>(&self, n: usize, target: impl Fn(usize) -> (&'n str, u64)) -> Result<()> {
        let hashes = names::hashes(n, (0..n).map(|k| target(k).0.as_bytes()));
        let inner = lock(&self.inner);
        // Every name is checked before anything is stored: all or nothing.
        let mut indices = Vec::with_capacity(n);
        for k in 0..n {
            names::ahead(&inner.names, &hashes, k);
            let name = target(k).0;
            let hash = names::hash_at(&hashes, k, name.as_bytes());
            match inner.index_named(name.as_bytes(), hash) {
                Some(index) => indices.push(index),
                None => return Err(not_redirectable(name)),
            }
        }
        for (k, index) in indices.into_iter().enumerate() {
            if let Some(raw) = inner.raw(index, Self::SIZE) {
                raw.redirect(target(k).1);
            }
        }
        Ok(())
    }
}

impl<A: Arch> RedirectionManager for StubPool<A> {
    fn redirect(&self, targets: &[(&str, Target<'_>)]) -> Result<()> {
        self.redirect_addrs(targets.len(), |k| (targets[k].0, targets[k].1.addr()))
    }

    fn redirect_one(&self, name: &str, target: Target<'_>) -> Result<()> {
        match self.raw_handle(name) {
            Some(h) => {
                h.redirect(target.addr());
                Ok(())
            }
            None => Err(not_redirectable(name)),
        }
    }

    unsafe fn redirect_raw(&self, targets: &[(&str, u64)]) -> Result<()> {
        self.redirect_addrs(targets.len(), |k| targets[k])
    }
}

impl<A: Arch> RedirectableSymbolManager for StubPool<A> {
    fn create_redirectable_symbols(
        &self,
        owner: Owner,
        initial: &[(&str, Target<'_>)],
    ) -> Result<Vec<u64>> {
        let names: Vec<&str> = initial.iter().map(|(n, _)| *n).collect();
        let handles = self.create_named(owner.0, &names, |i| Some(initial[i].1.addr()))?;
        Ok(handles.into_iter().map(|h| h.stub).collect())
    }

    fn emit_redirectable_symbols(
        &self,
        owner: Owner,
        names: &[&str],
    ) -> Result<Vec<StubHandle<'_>>> {
        let raw = self.create_named(owner.0, names, |_| None)?;
        Ok(raw.into_iter().map(StubHandle::new).collect())
    }

    fn lookup(&self, name: &str) -> Option<u64> {
        self.raw_handle(name).map(|h| h.stub)
    }

    fn release(&self, owner: Owner) {
        self.release_key(owner.0)
    }
}

impl<A: Arch> Drop for StubPool<A> {
    /// Gives the pool's batches back to the memory manager. No handle outlives the pool (they
    /// borrow it); the crate drops the pool only after the code that calls its stubs.
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut mem = lock(&self.mem);
        for b in &mut inner.batches {
            if let Some(m) = b.memory.take() {
                mem.release(m);
            }
        }
    }
}
