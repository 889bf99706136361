//! Re-entry and counting trampolines, pooled in batches in the session's reserved memory.
//!
//! A batch is made from one architecture template ([`jitlink_arch::Arch::REENTRY_TRAMPOLINE`] or
//! one of the counting ones) with a range of identities (and, for per-thread counters, of counter
//! indices: `crate::runtime::counters`) reserved at once: its
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
use crate::runtime::counters::{self, Entry};
use crate::runtime::reentry::{self, Handler};

/// How counting trampolines count calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Counters {
    /// Each thread decrements its own slot with a plain instruction: exact, and cheap (the
    /// default; see `crate::runtime::counters`). Falls back to [`Counters::Atomic`] where
    /// per-thread counters are not available.
    #[default]
    PerThread,
    /// One shared counter per function, incremented with a locked instruction: exact, and
    /// exactly one call enters the runtime, but a locked increment costs several nanoseconds.
    Atomic,
    /// One shared counter per function, plain increments: cheap, but calls racing on several
    /// threads may be counted once, and several of them may enter the runtime (the runtime
    /// keeps only the first).
    Plain,
}

/// Data bytes per trampoline: its counter and its target slot. A counter is written on every
/// call, so counting trampolines get a cache line each: functions counted on different threads
/// do not share one.
fn data_stride(kind: Kind) -> usize {
    match kind {
        // Per-thread counting: the shared words are only read (the target).
        Kind::Reentry | Kind::CountingPerThread => 16,
        Kind::Counting | Kind::CountingRelaxed => 64,
    }
}

/// A trampoline handed out by a [`TrampolinePool`]. Its fields are private: it is made only by
/// the pool, and keeps the pool's memory reserved while it exists (its counter and target words
/// are read through it).
#[derive(Clone)]
pub struct Trampoline {
    /// Its code address (what a stub points at).
    addr: u64,
    /// The identity it passes to the resolver.
    id: u32,
    /// Address of its 8-byte counter (counting trampolines count in it).
    counter: u64,
    /// Address of its 8-byte target slot (where a counting trampoline goes below the threshold).
    target: u64,
    /// How it counts (`None`: a re-entry trampoline).
    counters: Option<Counters>,
    /// Per-thread counters: its slot in every thread's counter array.
    counter_index: Option<u32>,
    /// The memory its words live in (never unmapped while the manager lives).
    _mem: Arc<Mutex<MemoryManager>>,
}

impl std::fmt::Debug for Trampoline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trampoline")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("id", &self.id)
            .field("counters", &self.counters)
            .finish()
    }
}

impl Trampoline {
    /// The 8-byte word at `addr`, which must be a trampoline's counter or target slot (in a
    /// batch's writable data, from a [`Trampoline`] of this pool).
    pub(crate) fn word(addr: u64) -> &'static AtomicU64 {
        // SAFETY: `addr` is an 8-byte aligned word in a batch's writable data, which is never
        // unmapped while the pool's memory manager lives (every trampoline keeps it); every
        // access is atomic.
        unsafe { &*(addr as *const AtomicU64) }
    }

    /// Its code address (what a stub points at).
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// The identity it passes to the resolver.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// How it counts (`None`: a re-entry trampoline).
    pub fn counters(&self) -> Option<Counters> {
        self.counters
    }

    /// This trampoline as a destination for a stub (it lives as long as the session's memory).
    pub fn as_target(&self) -> super::Target<'_> {
        super::Target::vouched(self.addr)
    }

    /// Calls counted so far (for a counting trampoline made with `threshold`).
    pub fn calls(&self, threshold: u64) -> u64 {
        if let Some(i) = self.counter_index {
            return counters::calls(i);
        }
        Self::word(self.counter)
            .load(Ordering::Relaxed)
            .wrapping_add(threshold)
    }

    /// Per-thread counters: calls that entered the runtime (budgets handed out, and the call
    /// that crossed the threshold). `None` for other trampolines.
    pub fn runtime_entries(&self) -> Option<u64> {
        self.counter_index.map(counters::entries)
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
    CountingPerThread,
}

struct Batch {
    kind: Kind,
    first_id: u32,
    /// First counter index ([`Kind::CountingPerThread`]).
    first_index: u32,
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
            Kind::CountingPerThread => A::COUNTING_TRAMPOLINE_PER_THREAD,
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
        let (tls, first_index) = match kind {
            Kind::CountingPerThread => (
                counters::supported().ok_or(Error::Unavailable {
                    what: "per-thread counters",
                })?,
                counters::reserve(n).ok_or_else(|| Error::Exhausted {
                    what: "per-thread counter slots".into(),
                })?,
            ),
            _ => (0, 0),
        };
        let first_id = reentry::reserve_ids(n).map_err(|what| Error::Exhausted { what })?;
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
            None => Err(Error::Internal("trampoline batch outside its allocation")),
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
                            // Constants (possibly negative) go in the addend.
                            let (s, a) = match f.slot {
                                TrampolineSlot::Resolver => (resolver, 0),
                                TrampolineSlot::Counter => (words, 0),
                                TrampolineSlot::Target => (words + 8, 0),
                                TrampolineSlot::ThreadCounters => (0, i64::from(tls)),
                                TrampolineSlot::ThreadCounterSlot => {
                                    (0, (i64::from(first_index) + i as i64) * 8)
                                }
                            };
                            let v = FixupValues {
                                p: here + f.offset as u64,
                                s,
                                a: f.addend + a,
                                got: 0,
                                tls: Default::default(),
                                image_base: 0,
                                section: None,
                            };
                            A::apply_fixup(f.kind, t, f.offset, v).map_err(|reason| {
                                Error::StubOutOfRange {
                                    what: "trampoline batch".into(),
                                    reason,
                                }
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
            first_index,
            count: n,
            used: 0,
            code: base,
            data,
            _memory: memory,
        })
    }

    /// Hands out one trampoline per `(threshold, initial target, handler)` (the threshold is
    /// ignored for re-entry trampolines), growing the pool by one batch if the current one has
    /// too few left.
    fn take(&self, kind: Kind, items: Vec<(u64, u64, Handler)>) -> Result<Vec<Trampoline>> {
        let tpl = Self::template(kind)?;
        let size = tpl.bytes.len() as u64;
        let mut batches = lock(&self.batches);
        let fits = |b: &Batch| b.kind == kind && b.count - b.used >= items.len();
        if !batches.iter().any(fits) {
            let b = self.grow(kind, items.len())?;
            batches.push(b);
        }
        let Some(b) = batches.iter_mut().rev().find(|b| fits(b)) else {
            return Err(Error::Internal("a new trampoline batch has no room"));
        };
        let mut out = Vec::with_capacity(items.len());
        for (threshold, target, handler) in items {
            let i = b.used;
            b.used += 1;
            let t = Trampoline {
                addr: b.code + i as u64 * size,
                id: b.first_id + i as u32,
                counter: b.data + (i * data_stride(kind)) as u64,
                target: b.data + (i * data_stride(kind)) as u64 + 8,
                counters: match kind {
                    Kind::Reentry => None,
                    Kind::Counting => Some(Counters::Atomic),
                    Kind::CountingRelaxed => Some(Counters::Plain),
                    Kind::CountingPerThread => Some(Counters::PerThread),
                },
                counter_index: (kind == Kind::CountingPerThread)
                    .then_some(b.first_index + i as u32),
                _mem: self.mem.clone(),
            };
            // Shared counters start at -threshold: the call that brings them to zero enters.
            let counter = match kind {
                Kind::Counting | Kind::CountingRelaxed => threshold.wrapping_neg(),
                Kind::Reentry | Kind::CountingPerThread => 0,
            };
            Trampoline::word(t.counter).store(counter, Ordering::Relaxed);
            Trampoline::word(t.target).store(target, Ordering::Release);
            let handler = match t.counter_index {
                Some(index) => {
                    counters::set(index, threshold, t.target, t.addr + tpl.enter_offset as u64);
                    Arc::new(move || match counters::enter(index)? {
                        Entry::Crossed => handler(),
                        Entry::Continue(at) => Ok(at),
                    })
                }
                None => handler,
            };
            reentry::set_handler(t.id, handler);
            out.push(t);
        }
        Ok(out)
    }

    /// Re-entry trampolines: each enters the runtime, which calls its handler and continues at
    /// the address the handler returns.
    ///
    /// # Safety
    ///
    /// Every address a handler returns must be the entry of a function that takes the
    /// trampoline's callers' arguments and follows their calling convention, and stay so while
    /// the trampoline can be called: the trampoline jumps there.
    pub unsafe fn reentry(&self, handlers: Vec<Handler>) -> Result<Vec<Trampoline>> {
        self.take(
            Kind::Reentry,
            handlers.into_iter().map(|h| (0, 0, h)).collect(),
        )
    }

    /// Counting trampolines, from `(threshold, target, handler)`: calls go to `target`, except
    /// the one that crosses the threshold, which runs the handler in the runtime (and continues
    /// where the handler says). Counts are exact and exactly one call runs the handler
    /// ([`Counters::PerThread`], or [`Counters::Atomic`] where that is not available).
    ///
    /// # Safety
    ///
    /// As for [`TrampolinePool::reentry`], for each `target` as well as for what each handler
    /// returns: calls jump there.
    pub unsafe fn counting(&self, items: Vec<(u64, u64, Handler)>) -> Result<Vec<Trampoline>> {
        // SAFETY: the caller's contract is this function's.
        unsafe { self.counting_with(items, Counters::default()) }
    }

    /// [`TrampolinePool::counting`] with the given kind of counters. [`Counters::PerThread`]
    /// falls back to [`Counters::Atomic`] where per-thread counters are not available (another
    /// architecture, jitlink not in the main executable, out of counter slots); the trampolines
    /// say which they use.
    ///
    /// # Safety
    ///
    /// As for [`TrampolinePool::counting`].
    pub unsafe fn counting_with(
        &self,
        items: Vec<(u64, u64, Handler)>,
        counters: Counters,
    ) -> Result<Vec<Trampoline>> {
        if items.iter().any(|i| i.0 == 0 || i.0 > i64::MAX as u64) {
            return Err(Error::BadValue {
                option: "counting threshold",
                value: items
                    .iter()
                    .map(|i| i.0)
                    .find(|&t| t == 0 || t > i64::MAX as u64)
                    .unwrap_or(0)
                    .to_string(),
                expected: "a number of calls from 1 to 2^63 - 1",
            });
        }
        let per_thread =
            A::COUNTING_TRAMPOLINE_PER_THREAD.is_some() && counters::supported().is_some();
        match counters {
            Counters::PerThread if per_thread => self
                .take(Kind::CountingPerThread, items.clone())
                .or_else(|_| self.take(Kind::Counting, items)),
            Counters::PerThread | Counters::Atomic => self.take(Kind::Counting, items),
            Counters::Plain => self.take(Kind::CountingRelaxed, items),
        }
    }
}
