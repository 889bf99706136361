//! The in-process stub pool.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use jitlink_arch::{Arch, FixupValues};
use rustc_hash::FxHashMap;

use super::{Owner, RedirectableSymbolManager, RedirectionManager};
use crate::error::{Error, Result};
use crate::graph::Perm;
use crate::memory::{Finalized, MemoryManager, Placement};

/// Smallest batch: one page of x86-64 stubs.
const MIN_BATCH: usize = 512;

/// A stub and its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubHandle {
    /// Address of the stub (the symbol's stable address).
    pub stub: u64,
    /// Address of its 8-byte pointer slot.
    pub slot: u64,
    index: u32,
}

impl StubHandle {
    /// Points the stub at `target`: one release-ordered atomic store.
    #[inline]
    pub fn redirect(&self, target: u64) {
        // SAFETY: `slot` is an 8-byte aligned slot in the pool's writable memory, which is never
        // unmapped while the pool lives; all writers use atomic stores.
        unsafe { (*(self.slot as *const AtomicU64)).store(target, Ordering::Release) }
    }

    /// The stub's current destination.
    pub fn target(&self) -> u64 {
        // SAFETY: as in `redirect`.
        unsafe { (*(self.slot as *const AtomicU64)).load(Ordering::Acquire) }
    }
}

struct Record {
    handle: StubHandle,
    owner: Option<Owner>,
    name: Option<Box<str>>,
}

struct Inner {
    records: Vec<Record>,
    free: Vec<u32>,
    names: FxHashMap<Box<str>, u32>,
    by_owner: FxHashMap<Owner, Vec<u32>>,
    batches: Vec<Finalized>,
}

/// A pool of stubs for architecture `A`, allocated in batches from a session's memory.
pub struct StubPool<A: Arch> {
    mem: Arc<Mutex<MemoryManager>>,
    inner: Mutex<Inner>,
    trap: u64,
    _arch: PhantomData<A>,
}

/// Where a stub that has no destination yet jumps: a clear abort instead of a wild jump.
extern "C" fn unbound_stub_called() {
    eprintln!("jitlink: a redirectable symbol was called before its first destination was set");
    std::process::abort();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the pool consistent (every update is a single
    // assignment or push), so a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<A: Arch> StubPool<A> {
    /// A pool drawing memory from `mem`.
    pub fn new(mem: Arc<Mutex<MemoryManager>>) -> Self {
        StubPool {
            mem,
            inner: Mutex::new(Inner {
                records: Vec::new(),
                free: Vec::new(),
                names: FxHashMap::default(),
                by_owner: FxHashMap::default(),
                batches: Vec::new(),
            }),
            trap: unbound_stub_called as extern "C" fn() as usize as u64,
            _arch: PhantomData,
        }
    }

    /// Stub plus slot bytes of one stub.
    pub const BYTES_PER_STUB: usize = A::JUMP_STUB.bytes.len() + 8;

    /// Makes a batch of at least `n` stubs and puts them on the free list.
    fn grow(&self, inner: &mut Inner, n: usize) -> Result<()> {
        let tpl = A::JUMP_STUB;
        let mut mem = lock(&self.mem);
        let page = mem.page_size();
        let n = n.max(MIN_BATCH);
        let code_len = (n * tpl.bytes.len()).next_multiple_of(page);
        let slot_len = (n * 8).next_multiple_of(page);
        let len = code_len + slot_len;
        let chunk = mem.chunk_for(Placement::Near, len, page)?;
        let segments = vec![(0, code_len, Perm::ReadExec), (code_len, slot_len, Perm::ReadWrite)];
        let mut a = mem.allocate(chunk, len, page, segments)?;
        let base = a.base();
        let slots = base + code_len as u64;
        let first = inner.records.len() as u32;
        {
            let Some(code) = a.bytes_mut(base, len) else {
                mem.abandon(a);
                return Err(Error::InvalidArgument("stub batch outside its allocation".into()));
            };
            let trap = self.trap.to_le_bytes();
            for i in 0..n {
                let at = i * tpl.bytes.len();
                let stub = &mut code[at..at + tpl.bytes.len()];
                stub.copy_from_slice(tpl.bytes);
                let v = FixupValues {
                    p: base + (at + tpl.slot_offset) as u64,
                    s: slots + 8 * i as u64,
                    a: tpl.slot_addend,
                    got: 0,
                };
                if let Err(e) = A::apply_fixup(tpl.slot_kind, stub, tpl.slot_offset, v) {
                    mem.abandon(a);
                    return Err(Error::InvalidArgument(format!("stub batch fixup: {e}")));
                }
                code[code_len + 8 * i..code_len + 8 * i + 8].copy_from_slice(&trap);
            }
        }
        let done = a.finalize::<A>(&mut mem)?;
        inner.batches.push(done);
        inner.records.reserve(n);
        inner.free.reserve(n);
        for i in 0..n {
            let handle = StubHandle {
                stub: base + (i * tpl.bytes.len()) as u64,
                slot: slots + 8 * i as u64,
                index: first + i as u32,
            };
            inner.records.push(Record { handle, owner: None, name: None });
        }
        // Hand out lower addresses first.
        inner.free.extend((first..first + n as u32).rev());
        Ok(())
    }

    /// Takes `n` stubs for `owner` from the free list (growing the pool by one batch if
    /// needed), each pointing at the matching `initial` destination (or trapping, if `None`).
    pub fn create(&self, owner: Owner, n: usize, initial: impl Fn(usize) -> Option<u64>) -> Result<Vec<StubHandle>> {
        let mut inner = lock(&self.inner);
        if inner.free.len() < n {
            let missing = n - inner.free.len();
            self.grow(&mut inner, missing)?;
        }
        let inner = &mut *inner;
        let mut out = Vec::with_capacity(n);
        let owned = inner.by_owner.entry(owner).or_default();
        for i in 0..n {
            let Some(idx) = inner.free.pop() else { break };
            let r = &mut inner.records[idx as usize];
            r.owner = Some(owner);
            r.handle.redirect(initial(i).unwrap_or(self.trap));
            owned.push(idx);
            out.push(r.handle);
        }
        Ok(out)
    }

    /// Stubs currently handed out and free.
    pub fn counts(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.records.len() - inner.free.len(), inner.free.len())
    }

    /// The handle of a named stub.
    pub fn handle(&self, name: &str) -> Option<StubHandle> {
        let inner = lock(&self.inner);
        inner.names.get(name).map(|&i| inner.records[i as usize].handle)
    }

    fn create_named(&self, owner: Owner, names: &[&str], initial: impl Fn(usize) -> Option<u64>) -> Result<Vec<StubHandle>> {
        {
            let inner = lock(&self.inner);
            if let Some(dup) = names.iter().find(|n| inner.names.contains_key(**n)) {
                return Err(Error::InvalidArgument(format!("redirectable symbol {dup} already exists")));
            }
        }
        let handles = self.create(owner, names.len(), initial)?;
        let mut inner = lock(&self.inner);
        inner.names.reserve(names.len());
        for (h, name) in handles.iter().zip(names) {
            let name: Box<str> = (*name).into();
            inner.records[h.index as usize].name = Some(name.clone());
            inner.names.insert(name, h.index);
        }
        Ok(handles)
    }
}

impl<A: Arch> RedirectionManager for StubPool<A> {
    fn redirect(&self, targets: &[(&str, u64)]) -> Result<()> {
        let inner = lock(&self.inner);
        let mut slots = Vec::with_capacity(targets.len());
        for (name, addr) in targets {
            let Some(&i) = inner.names.get(*name) else {
                return Err(Error::SymbolNotFound(format!("{name} (not a redirectable symbol)")));
            };
            slots.push((inner.records[i as usize].handle, *addr));
        }
        for (h, addr) in slots {
            h.redirect(addr);
        }
        Ok(())
    }

    fn redirect_one(&self, name: &str, target: u64) -> Result<()> {
        let inner = lock(&self.inner);
        match inner.names.get(name) {
            Some(&i) => {
                inner.records[i as usize].handle.redirect(target);
                Ok(())
            }
            None => Err(Error::SymbolNotFound(format!("{name} (not a redirectable symbol)"))),
        }
    }
}

impl<A: Arch> RedirectableSymbolManager for StubPool<A> {
    fn create_redirectable_symbols(&self, owner: Owner, initial: &[(&str, u64)]) -> Result<Vec<u64>> {
        let names: Vec<&str> = initial.iter().map(|(n, _)| *n).collect();
        let handles = self.create_named(owner, &names, |i| Some(initial[i].1))?;
        Ok(handles.into_iter().map(|h| h.stub).collect())
    }

    fn emit_redirectable_symbols(&self, owner: Owner, names: &[&str]) -> Result<Vec<StubHandle>> {
        self.create_named(owner, names, |_| None)
    }

    fn lookup(&self, name: &str) -> Option<u64> {
        self.handle(name).map(|h| h.stub)
    }

    fn release(&self, owner: Owner) {
        let mut inner = lock(&self.inner);
        let Some(list) = inner.by_owner.remove(&owner) else { return };
        for idx in list {
            let r = &mut inner.records[idx as usize];
            // The stub may still be entered by a thread that loaded its address earlier: point
            // it at the trap, never at freed code.
            r.handle.redirect(self.trap);
            r.owner = None;
            if let Some(name) = r.name.take() {
                inner.names.remove(&name);
            }
            inner.free.push(idx);
        }
    }
}
