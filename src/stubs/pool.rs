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

struct Batch {
    first: u32,
    count: u32,
    stubs: u64,
    slots: u64,
    _memory: Finalized,
}

struct Inner {
    batches: Vec<Batch>,
    /// Stubs ever made; indices `fresh..total` have never been handed out.
    total: u32,
    fresh: u32,
    /// Released stubs, reused before fresh ones.
    free: Vec<u32>,
    /// Named stubs, with their handles (so a redirect by name needs no batch search).
    names: FxHashMap<Arc<str>, StubHandle>,
    name_of: FxHashMap<u32, Arc<str>>,
    /// Stubs of each owner, as runs `(first index, count)`.
    by_owner: FxHashMap<Owner, Vec<(u32, u32)>>,
}

impl Inner {
    fn handle(&self, index: u32, size: usize) -> StubHandle {
        let b = &self.batches[self.batches.partition_point(|b| b.first <= index) - 1];
        let i = u64::from(index - b.first);
        StubHandle {
            stub: b.stubs + i * size as u64,
            slot: b.slots + 8 * i,
        }
    }

    fn index_of(&self, h: &StubHandle, size: usize) -> u32 {
        let b = &self.batches[self.batches.partition_point(|b| b.stubs <= h.stub) - 1];
        b.first + ((h.stub - b.stubs) / size as u64) as u32
    }
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
    crate::diag!("jitlink: a redirectable symbol was called before its first destination was set");
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
                batches: Vec::new(),
                total: 0,
                fresh: 0,
                free: Vec::new(),
                names: FxHashMap::default(),
                name_of: FxHashMap::default(),
                by_owner: FxHashMap::default(),
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
        // Fault the batch in with one call instead of one fault per page (Linux 5.14+; a no-op
        // where unsupported).
        const MADV_POPULATE_WRITE: libc::c_int = 23;
        // SAFETY: advice on our own freshly allocated, writable range; it changes no contents.
        unsafe { libc::madvise(base as *mut libc::c_void, len, MADV_POPULATE_WRITE) };
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
            let trap = self.trap.to_le_bytes();
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
            _memory: memory,
        });
        inner.total += n as u32;
        Ok(())
    }

    /// Takes `n` stubs for `owner` (released ones first, then fresh ones, growing the pool by
    /// one batch if needed), each pointing at the matching `initial` destination (or trapping,
    /// if `None`).
    pub fn create(
        &self,
        owner: Owner,
        n: usize,
        initial: impl Fn(usize) -> Option<u64>,
    ) -> Result<Vec<StubHandle>> {
        let size = A::JUMP_STUB.bytes.len();
        let mut guard = lock(&self.inner);
        let available = guard.free.len() + (guard.total - guard.fresh) as usize;
        if available < n {
            self.grow(&mut guard, n - available)?;
        }
        let inner = &mut *guard;
        let mut out = Vec::with_capacity(n);
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut take = |index: u32, h: StubHandle, out: &mut Vec<StubHandle>| {
            h.redirect(initial(out.len()).unwrap_or(self.trap));
            out.push(h);
            match runs.last_mut() {
                Some((first, count)) if *first + *count == index => *count += 1,
                _ => runs.push((index, 1)),
            }
        };
        while out.len() < n {
            let Some(index) = inner.free.pop() else { break };
            take(index, inner.handle(index, size), &mut out);
        }
        // Fresh stubs: walk the batches once instead of looking each one up.
        while out.len() < n && inner.fresh < inner.total {
            let b = &inner.batches[inner.batches.partition_point(|b| b.first <= inner.fresh) - 1];
            let end = (b.first + b.count).min(inner.fresh + (n - out.len()) as u32);
            for index in inner.fresh..end {
                let i = u64::from(index - b.first);
                take(
                    index,
                    StubHandle {
                        stub: b.stubs + i * size as u64,
                        slot: b.slots + 8 * i,
                    },
                    &mut out,
                );
            }
            inner.fresh = end;
        }
        inner.by_owner.entry(owner).or_default().extend(runs);
        Ok(out)
    }

    /// Stubs currently handed out and free.
    pub fn counts(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        let free = inner.free.len() + (inner.total - inner.fresh) as usize;
        (inner.total as usize - free, free)
    }

    /// The handle of a named stub.
    pub fn handle(&self, name: &str) -> Option<StubHandle> {
        let inner = lock(&self.inner);
        inner.names.get(name).copied()
    }

    /// The named stubs of `owner`, in the order they were made.
    pub fn owned(&self, owner: Owner) -> Vec<(Arc<str>, StubHandle)> {
        let inner = lock(&self.inner);
        let size = A::JUMP_STUB.bytes.len();
        let runs = inner.by_owner.get(&owner).cloned().unwrap_or_default();
        runs.into_iter()
            .flat_map(|(first, count)| first..first + count)
            .filter_map(|i| Some((inner.name_of.get(&i)?.clone(), inner.handle(i, size))))
            .collect()
    }

    /// The named stub whose code contains `addr`: its name and handle.
    pub fn stub_at(&self, addr: u64) -> Option<(Arc<str>, StubHandle)> {
        let size = A::JUMP_STUB.bytes.len() as u64;
        let inner = lock(&self.inner);
        let b = inner.batches.iter().find(|b| {
            addr >= b.stubs && addr - b.stubs < u64::from(b.count).saturating_mul(size)
        })?;
        let index = b.first + ((addr - b.stubs) / size) as u32;
        let name = inner.name_of.get(&index)?.clone();
        Some((name, inner.handle(index, size as usize)))
    }

    fn create_named(
        &self,
        owner: Owner,
        names: &[&str],
        initial: impl Fn(usize) -> Option<u64>,
    ) -> Result<Vec<StubHandle>> {
        {
            let inner = lock(&self.inner);
            if let Some(dup) = names.iter().find(|n| inner.names.contains_key(**n)) {
                return Err(Error::DuplicateRedirectable {
                    name: dup.to_string(),
                });
            }
        }
        let handles = self.create(owner, names.len(), initial)?;
        let mut inner = lock(&self.inner);
        inner.names.reserve(names.len());
        inner.name_of.reserve(names.len());
        for (h, name) in handles.iter().zip(names) {
            let name: Arc<str> = Arc::from(*name);
            let index = inner.index_of(h, A::JUMP_STUB.bytes.len());
            inner.name_of.insert(index, name.clone());
            inner.names.insert(name, *h);
        }
        Ok(handles)
    }
}

impl<A: Arch> RedirectionManager for StubPool<A> {
    fn redirect(&self, targets: &[(&str, u64)]) -> Result<()> {
        let inner = lock(&self.inner);
        let mut slots = Vec::with_capacity(targets.len());
        for (name, addr) in targets {
            let Some(&h) = inner.names.get(*name) else {
                return Err(Error::SymbolNotFound(format!(
                    "{name} (not a redirectable symbol)"
                )));
            };
            slots.push((h, *addr));
        }
        for (h, addr) in slots {
            h.redirect(addr);
        }
        Ok(())
    }

    fn redirect_one(&self, name: &str, target: u64) -> Result<()> {
        let inner = lock(&self.inner);
        match inner.names.get(name) {
            Some(h) => {
                h.redirect(target);
                Ok(())
            }
            None => Err(Error::SymbolNotFound(format!(
                "{name} (not a redirectable symbol)"
            ))),
        }
    }
}

impl<A: Arch> RedirectableSymbolManager for StubPool<A> {
    fn create_redirectable_symbols(
        &self,
        owner: Owner,
        initial: &[(&str, u64)],
    ) -> Result<Vec<u64>> {
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
        let Some(list) = inner.by_owner.remove(&owner) else {
            return;
        };
        for (first, count) in list {
            for idx in first..first + count {
                // The stub may still be entered by a thread that loaded its address earlier:
                // point it at the trap, never at freed code.
                inner
                    .handle(idx, A::JUMP_STUB.bytes.len())
                    .redirect(self.trap);
                if let Some(name) = inner.name_of.remove(&idx) {
                    inner.names.remove(&name);
                }
                inner.free.push(idx);
            }
        }
    }
}
