//! Re-entry and counting trampolines, pooled in batches in the session's reserved memory.
//!
//! A batch is made from one architecture template ([`jitlink_arch::Arch::REENTRY_TRAMPOLINE`] or
//! [`jitlink_arch::Arch::COUNTING_TRAMPOLINE`]) with a range of identities reserved at once: its
//! code is written once and finalized read-execute, so each trampoline's identity is fixed when the
//! batch is made and its purpose (the handler) is set when it is handed out. Layout of a batch:
//! code (r-x) | the resolver's address (r--) | per trampoline a counter and a target (rw-; a
//! cache line each for counting trampolines).
//! Batches are never unmapped while the pool lives: a thread may still be inside a trampoline.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use jitlink_arch::{Arch, FixupValues, TrampolineSlot, TrampolineTemplate};

use crate::error::{Error, Result};
use crate::graph::Perm;
use crate::memory::{Finalized, MemoryManager, Placement};
use crate::runtime::reentry::{self, Handler};

/// Data bytes per trampoline: its counter and its target slot. A counter is written on every
/// call, so counting trampolines get a cache line each: functions counted on different threads
/// do not share one.
fn data_stride(kind: Kind) -> usize {
    match kind {
        Kind::Reentry => 16,
        Kind::Counting | Kind::CountingRelaxed => 64,
    }
}

/// A trampoline handed out by a [`TrampolinePool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trampoline {
    /// Its code address (what a stub points at).
    pub addr: u64,
    /// The identity it passes to the resolver.
    pub id: u32,
    /// Address of its 8-byte counter (counting trampolines count in it).
    pub counter: u64,
    /// Address of its 8-byte target slot (where a counting trampoline goes below the threshold).
    pub target: u64,
}

impl Trampoline {
    fn word(addr: u64) -> &'static AtomicU64 {
        // SAFETY: `addr` is an 8-byte aligned word in a batch's writable data, which is never
        // unmapped while the pool lives; every access is atomic.
        unsafe { &*(addr as *const AtomicU64) }
    }

    /// Calls counted so far (for a counting trampoline made with `threshold`).
    pub fn calls(&self, threshold: u64) -> u64 {
        Self::word(self.counter)
            .load(Ordering::Relaxed)
            .wrapping_add(threshold)
    }

    /// Where a counting trampoline continues below its threshold.
    pub fn target(&self) -> u64 {
        Self::word(self.target).load(Ordering::Acquire)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reentry,
    Counting,
    CountingRelaxed,
}

struct Batch {
    kind: Kind,
    first_id: u32,
    count: usize,
    used: usize,
    code: u64,
    data: u64,
    _memory: Finalized,
}

/// Trampolines for architecture `A`, made in batches from a session's memory.
pub struct TrampolinePool<A: Arch> {
    mem: Arc<Mutex<MemoryManager>>,
    batches: Mutex<Vec<Batch>>,
    _arch: PhantomData<A>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Updates are single pushes or counter bumps: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<A: Arch> TrampolinePool<A> {
    /// A pool drawing memory from `mem`.
    pub fn new(mem: Arc<Mutex<MemoryManager>>) -> Self {
        TrampolinePool {
            mem,
            batches: Mutex::new(Vec::new()),
            _arch: PhantomData,
        }
    }

    fn template(kind: Kind) -> Result<TrampolineTemplate<A::EdgeKind>> {
        let t = match kind {
            Kind::Reentry => A::REENTRY_TRAMPOLINE,
            Kind::Counting => A::COUNTING_TRAMPOLINE,
            Kind::CountingRelaxed => A::COUNTING_TRAMPOLINE_RELAXED,
        };
        t.ok_or_else(|| Error::Unsupported {
            file: String::new(),
            what: format!("re-entry trampolines on {}", A::NAME),
        })
    }

    /// Makes a batch of at least `n` trampolines of `kind` (a page of code at least).
    fn grow(&self, kind: Kind, n: usize) -> Result<Batch> {
        let tpl = Self::template(kind)?;
        let size = tpl.bytes.len();
        let mut mem = lock(&self.mem);
        let page = mem.page_size();
        let n = n.max(page / size);
        let code_len = (n * size).next_multiple_of(page);
        let stride = data_stride(kind);
        let data_len = (n * stride).next_multiple_of(page);
        let len = code_len + page + data_len;
        let first_id = reentry::reserve_ids(n).map_err(Error::InvalidArgument)?;
        let chunk = mem.chunk_for(Placement::Near, len, page)?;
        let segments = vec![
            (0, code_len, Perm::ReadExec),
            (code_len, page, Perm::Read),
            (code_len + page, data_len, Perm::ReadWrite),
        ];
        let mut a = mem.allocate(chunk, len, page, segments)?;
        let base = a.base();
        let resolver = base + code_len as u64;
        let data = resolver + page as u64;
        let written = match a.bytes_mut(base, len) {
            None => Err(Error::InvalidArgument(
                "trampoline batch outside its allocation".into(),
            )),
            Some(bytes) => {
                let (code, rest) = bytes.split_at_mut(code_len);
                rest[..8].copy_from_slice(&reentry::resolver_address().to_le_bytes());
                code[..n * size]
                    .chunks_exact_mut(size)
                    .enumerate()
                    .try_for_each(|(i, t)| {
                        t.copy_from_slice(tpl.bytes);
                        let id = first_id + i as u32;
                        t[tpl.id_offset..tpl.id_offset + 4].copy_from_slice(&id.to_le_bytes());
                        let here = base + (i * size) as u64;
                        let words = data + (i * stride) as u64;
                        for f in tpl.fields {
                            let s = match f.slot {
                                TrampolineSlot::Resolver => resolver,
                                TrampolineSlot::Counter => words,
                                TrampolineSlot::Target => words + 8,
                            };
                            let v = FixupValues {
                                p: here + f.offset as u64,
                                s,
                                a: f.addend,
                                got: 0,
                                tls: Default::default(),
                            };
                            A::apply_fixup(f.kind, t, f.offset, v).map_err(|e| {
                                Error::InvalidArgument(format!("trampoline batch fixup: {e}"))
                            })?;
                        }
                        Ok(())
                    })
            }
        };
        if let Err(e) = written {
            mem.abandon(a);
            return Err(e);
        }
        let memory = a.finalize::<A>(&mut mem)?;
        Ok(Batch {
            kind,
            first_id,
            count: n,
            used: 0,
            code: base,
            data,
            _memory: memory,
        })
    }

    /// Hands out one trampoline per `(initial counter, initial target, handler)`, growing the
    /// pool by one batch if the current one has too few left.
    fn take(&self, kind: Kind, items: Vec<(u64, u64, Handler)>) -> Result<Vec<Trampoline>> {
        let size = Self::template(kind)?.bytes.len() as u64;
        let mut batches = lock(&self.batches);
        let fits = |b: &Batch| b.kind == kind && b.count - b.used >= items.len();
        if !batches.iter().any(fits) {
            let b = self.grow(kind, items.len())?;
            batches.push(b);
        }
        let Some(b) = batches.iter_mut().rev().find(|b| fits(b)) else {
            return Err(Error::InvalidArgument("trampoline pool: no room".into()));
        };
        let mut out = Vec::with_capacity(items.len());
        for (counter, target, handler) in items {
            let i = b.used;
            b.used += 1;
            let t = Trampoline {
                addr: b.code + i as u64 * size,
                id: b.first_id + i as u32,
                counter: b.data + (i * data_stride(kind)) as u64,
                target: b.data + (i * data_stride(kind)) as u64 + 8,
            };
            Trampoline::word(t.counter).store(counter, Ordering::Relaxed);
            Trampoline::word(t.target).store(target, Ordering::Release);
            reentry::set_handler(t.id, handler);
            out.push(t);
        }
        Ok(out)
    }

    /// Re-entry trampolines: each enters the runtime, which calls its handler and continues at
    /// the address the handler returns.
    pub fn reentry(&self, handlers: Vec<Handler>) -> Result<Vec<Trampoline>> {
        self.take(
            Kind::Reentry,
            handlers.into_iter().map(|h| (0, 0, h)).collect(),
        )
    }

    /// Counting trampolines, from `(threshold, target, handler)`: calls go to `target`, except
    /// the `threshold`-th, which enters the runtime (and continues where the handler says).
    /// Counters are incremented atomically, so exactly one call enters the runtime.
    pub fn counting(&self, items: Vec<(u64, u64, Handler)>) -> Result<Vec<Trampoline>> {
        self.counting_with(items, true)
    }

    /// [`TrampolinePool::counting`], with atomic or plain (`atomic == false`: cheaper, counts
    /// may be lost under contention and several racing calls may enter the runtime) increments.
    pub fn counting_with(
        &self,
        items: Vec<(u64, u64, Handler)>,
        atomic: bool,
    ) -> Result<Vec<Trampoline>> {
        if items.iter().any(|i| i.0 == 0 || i.0 > i64::MAX as u64) {
            return Err(Error::InvalidArgument(
                "a counting threshold must be at least 1".into(),
            ));
        }
        self.take(
            if atomic {
                Kind::Counting
            } else {
                Kind::CountingRelaxed
            },
            items
                .into_iter()
                .map(|(threshold, target, h)| (threshold.wrapping_neg(), target, h))
                .collect(),
        )
    }
}
