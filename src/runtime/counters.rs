//! Per-thread call counters for counting trampolines
//! ([`jitlink_arch::Arch::COUNTING_TRAMPOLINE_PER_THREAD`]): exact counts at the cost of a plain
//! decrement per call.
//!
//! A locked increment of a shared counter costs several nanoseconds per call, and a plain one
//! loses counts when threads race. Here every thread has its own array of counters, one slot per
//! counting trampoline, so each slot has exactly one writer and a plain read-modify-write is
//! exact. The trampoline finds the calling thread's array through [`COUNTERS`], a thread-local
//! pointer with a constant initializer and no destructor: a static-TLS variable whose offset from
//! the thread pointer (`fs:0` on x86-64) is the same in every thread, including threads that the
//! linked program makes with `pthread_create`. That offset is computed once and written into each
//! trampoline (`mov r11, fs:[offset]`).
//!
//! A slot holds the calls the runtime still allows the thread (its *budget*); zero means "no
//! budget". The trampoline decrements it and enters the runtime when the thread has no array yet
//! or the result is zero or less. The runtime ([`enter`], on the calling thread, under one
//! mutex) moves what the thread used (`given - slot`, where `given` is the budget it last handed
//! out) into the function's global count, then either triggers the function (the global count has
//! reached the threshold: exactly one call wins a compare-and-swap) or hands out a new budget: the
//! calls still missing divided by the number of threads with an array, at least 1. The thread
//! that links a set gets a budget of the whole threshold for each new function, so a
//! single-threaded program enters the runtime exactly once, at the threshold. A triggered
//! function hands out unbounded budgets (counting goes on, exactly, until its stub is redirected).
//!
//! A second thread-local (with a destructor) moves a thread's counts into the global counts when
//! the thread exits, unregisters and unmaps its array. If that makes a function reach its
//! threshold, the function's target slot is pointed at its trampoline's entry path, so the next
//! call from any thread enters the runtime and triggers it (then the slot is restored).
//!
//! This needs static TLS: jitlink's code must be in the main executable (checked once with
//! `dl_iterate_phdr`), and the offset is checked again on every entry. Where it does not hold
//! (another architecture or system, jitlink in a shared library, out of slots), counting falls
//! back to the atomic trampolines ([`supported`] says which).

use std::cell::Cell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

/// Counter slots per thread (one per per-thread counting trampoline ever made in the process).
/// The arrays are reserved with `MAP_NORESERVE`: only the pages a thread touches are committed.
pub const CAPACITY: usize = 1 << 20;

/// Budget of a triggered function: counting goes on but never enters the runtime again.
const UNBOUNDED: i64 = i64::MAX / 2;

thread_local! {
    /// The calling thread's counter array (null until its first entry into the runtime). The
    /// trampolines read it at a fixed offset from the thread pointer: constant initializer and
    /// no destructor, so it is a plain static-TLS variable.
    static COUNTERS: Cell<*mut i64> = const { Cell::new(null_mut()) };
    /// Flushes and frees the thread's array when the thread exits.
    static GUARD: Guard = const { Guard };
}

const COUNTING: u8 = 0;
/// Reached its threshold while no call was counting (a thread exited): the next call enters.
const PENDING: u8 = 1;
const TRIGGERED: u8 = 2;

/// One counted function.
struct Function {
    threshold: u64,
    /// Calls moved out of the threads' arrays.
    counted: AtomicU64,
    /// Calls that entered the runtime.
    entries: AtomicU64,
    state: AtomicU8,
    /// Address of the trampoline's target word, and of its entry path.
    target: u64,
    enter: u64,
    /// The target while the target word points at `enter` (state `PENDING`).
    saved: AtomicU64,
}

impl Function {
    fn target_word(&self) -> &AtomicU64 {
        // `target` is the trampoline's target slot.
        crate::stubs::Trampoline::word(self.target)
    }

    /// Where a call that does not trigger continues.
    fn continue_at(&self) -> u64 {
        let t = self.target_word().load(Ordering::Acquire);
        if t == self.enter {
            self.saved.load(Ordering::Acquire)
        } else {
            t
        }
    }
}

/// Functions by counter index (`None` between [`reserve`] and [`set`]).
static FUNCTIONS: RwLock<Vec<Option<Arc<Function>>>> = RwLock::new(Vec::new());

/// The arrays of live threads (base addresses). Entries, flushes and readers hold its lock.
static REGISTRY: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Cleared if a thread ever sees another offset: later sets count atomically.
static ENABLED: AtomicBool = AtomicBool::new(true);

fn registry() -> MutexGuard<'static, Vec<usize>> {
    // Updates are single pushes and removals, done after the counts they concern: a poisoned
    // lock is still consistent.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn function(index: u32) -> Option<Arc<Function>> {
    FUNCTIONS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(index as usize)
        .cloned()
        .flatten()
}

/// A thread's array: `CAPACITY` slots (written by the trampolines) then `CAPACITY` budgets
/// handed out (written by the runtime on that thread).
#[derive(Clone, Copy)]
struct Array(usize);

impl Array {
    const BYTES: usize = 2 * CAPACITY * 8;

    fn map() -> Option<Array> {
        // SAFETY: a fresh anonymous private mapping replaces nothing; it is zero-filled.
        let p = unsafe {
            libc::mmap(
                null_mut(),
                Self::BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED).then_some(Array(p as usize))
    }

    fn word(&self, i: usize) -> &AtomicI64 {
        debug_assert!(i < 2 * CAPACITY);
        // SAFETY: `self.0` is a live mapping of `BYTES` bytes (arrays are unmapped only when
        // their thread exits, after they leave the registry, under its lock), `i` is in range,
        // and every access from Rust is atomic (the trampolines' plain decrements are single
        // aligned 8-byte accesses by the owning thread).
        unsafe { &*((self.0 + i * 8) as *const AtomicI64) }
    }

    fn slot(&self, index: u32) -> &AtomicI64 {
        self.word(index as usize)
    }

    fn given(&self, index: u32) -> &AtomicI64 {
        self.word(CAPACITY + index as usize)
    }

    /// Calls made since the last budget (moves them out when `take`).
    fn used(&self, index: u32) -> i64 {
        self.given(index).load(Ordering::Relaxed) - self.slot(index).load(Ordering::Relaxed)
    }

    fn give(&self, index: u32, budget: i64) {
        self.given(index).store(budget, Ordering::Relaxed);
        self.slot(index).store(budget, Ordering::Relaxed);
    }
}

/// The thread pointer (`fs:0` holds it on x86-64 Linux).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86-64 Linux, fs:0 is the thread control block's pointer to itself; reading it
    // has no side effect.
    unsafe {
        std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    tp
}

/// This thread's offset of [`COUNTERS`] from the thread pointer.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn this_offset() -> i64 {
    let var = COUNTERS.with(|c| c.as_ptr() as usize);
    var.wrapping_sub(thread_pointer()) as i64
}

/// True if `addr` is in a loadable segment of the main executable (the first object
/// `dl_iterate_phdr` reports).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn in_main_executable(addr: usize) -> bool {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `info` whose `dlpi_phdr` has `dlpi_phnum` entries;
        // `data` is the `(usize, bool)` that `in_main_executable` passed.
        unsafe {
            let (addr, found) = &mut *(data as *mut (usize, bool));
            let info = &*info;
            let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            *found = phdrs.iter().any(|p| {
                let start = (info.dlpi_addr as usize).wrapping_add(p.p_vaddr as usize);
                p.p_type == libc::PT_LOAD && *addr >= start && *addr - start < p.p_memsz as usize
            });
        }
        1 // stop after the main executable
    }
    let mut data = (addr, false);
    // SAFETY: `first` matches the callback type and only reads what the loader passes.
    unsafe { libc::dl_iterate_phdr(Some(first), &mut data as *mut (usize, bool) as *mut _) };
    data.1
}

/// The offset of the thread-local array pointer from the thread pointer, if per-thread counters
/// work in this process (see the module docs); `None` means: count atomically.
pub fn supported() -> Option<i32> {
    offset().filter(|_| ENABLED.load(Ordering::Relaxed))
}

/// The offset computed on first use (see [`supported`]), whatever happened since.
fn offset() -> Option<i32> {
    static OFFSET: OnceLock<Option<i32>> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            let here = supported as fn() -> Option<i32> as usize;
            if !in_main_executable(here) {
                return None;
            }
            i32::try_from(this_offset()).ok()
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            None
        }
    })
}

/// Reserves `n` consecutive counter indices and returns the first (`None`: out of slots).
pub(crate) fn reserve(n: usize) -> Option<u32> {
    let mut f = FUNCTIONS.write().unwrap_or_else(PoisonError::into_inner);
    let first = f.len();
    if first + n > CAPACITY {
        return None;
    }
    f.resize(first + n, None);
    Some(first as u32)
}

/// Makes `index` count toward `threshold` for the trampoline whose target word is at `target`
/// and whose entry path is at `enter`, and gives the calling thread (the one linking) a budget
/// of the whole threshold.
pub(crate) fn set(index: u32, threshold: u64, target: u64, enter: u64) {
    let f = Arc::new(Function {
        threshold,
        counted: AtomicU64::new(0),
        entries: AtomicU64::new(0),
        state: AtomicU8::new(COUNTING),
        target,
        enter,
        saved: AtomicU64::new(0),
    });
    if let Some(slot) = FUNCTIONS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(index as usize)
    {
        *slot = Some(f);
    }
    if let Some(a) = this_thread_array(&mut registry()) {
        a.give(index, i64::try_from(threshold).unwrap_or(UNBOUNDED));
    }
}

/// The calling thread's array, made and registered if it has none (`None` if the thread is
/// exiting or memory is short: its calls are then counted in the global counts, one entry each).
/// The caller holds the registry's lock (`reg`).
fn this_thread_array(reg: &mut Vec<usize>) -> Option<Array> {
    let p = COUNTERS.with(|c| c.get());
    if !p.is_null() {
        return Some(Array(p as usize));
    }
    // Registers the destructor; fails once the thread's destructors run.
    GUARD.try_with(|_| ()).ok()?;
    let a = Array::map()?;
    reg.push(a.0);
    COUNTERS.with(|c| c.set(a.0 as *mut i64));
    Some(a)
}

/// What a call that entered the runtime does next.
pub(crate) enum Entry {
    /// This call crossed the threshold (exactly one per function): it runs the function's
    /// handler.
    Crossed,
    /// Continue at this address.
    Continue(u64),
}

/// A per-thread counting trampoline's call entered the runtime (see the module docs).
pub(crate) fn enter(index: u32) -> Result<Entry, String> {
    let f = function(index).ok_or_else(|| format!("counter {index} has no function"))?;
    f.entries.fetch_add(1, Ordering::Relaxed);
    let mut reg = registry();
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    let same_offset = offset().is_some_and(|off| i64::from(off) == this_offset());
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    let same_offset = false;
    let had_array = !COUNTERS.with(|c| c.get()).is_null();
    let (array, used) = if !same_offset {
        // Cannot happen in the main executable (static TLS); if it does, this thread's slots
        // cannot be trusted: count the call globally and count atomically from now on.
        ENABLED.store(false, Ordering::Relaxed);
        (None, 1)
    } else if had_array {
        let a = Array(COUNTERS.with(|c| c.get()) as usize);
        (Some(a), a.used(index))
    } else {
        // The trampoline did not count this call.
        (this_thread_array(&mut reg), 1)
    };
    let calls = f.counted.fetch_add(used.max(0) as u64, Ordering::AcqRel) + used.max(0) as u64;
    let mut state = f.state.load(Ordering::Acquire);
    let mut crossed = false;
    while state != TRIGGERED && calls >= f.threshold {
        match f
            .state
            .compare_exchange(state, TRIGGERED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if state == PENDING {
                    f.target_word()
                        .store(f.saved.load(Ordering::Acquire), Ordering::Release);
                }
                crossed = true;
                break;
            }
            Err(now) => state = now,
        }
    }
    if let Some(a) = array {
        let budget = if crossed || f.state.load(Ordering::Acquire) == TRIGGERED {
            UNBOUNDED
        } else {
            let missing = f.threshold.saturating_sub(calls);
            let threads = reg.len().max(1) as u64;
            i64::try_from((missing / threads).max(1)).unwrap_or(UNBOUNDED)
        };
        a.give(index, budget);
    }
    drop(reg);
    Ok(if crossed {
        Entry::Crossed
    } else {
        Entry::Continue(f.continue_at())
    })
}

/// Calls of `index` that entered the runtime.
pub(crate) fn entries(index: u32) -> u64 {
    function(index).map_or(0, |f| f.entries.load(Ordering::Relaxed))
}

/// Calls counted for `index`: the global count plus what each live thread used of its budget.
pub(crate) fn calls(index: u32) -> u64 {
    let reg = registry();
    let global = function(index).map_or(0, |f| f.counted.load(Ordering::Acquire));
    reg.iter().fold(global, |n, &a| {
        n.wrapping_add(Array(a).used(index).max(0) as u64)
    })
}

/// Moves the exiting thread's counts into the global counts and frees its array.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let p = COUNTERS.with(|c| c.get());
        if p.is_null() {
            return;
        }
        let a = Array(p as usize);
        let functions = FUNCTIONS
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut reg = registry();
        for (i, f) in functions.iter().enumerate() {
            let Some(f) = f else { continue };
            let used = a.used(i as u32);
            if used <= 0 {
                continue;
            }
            let calls = f.counted.fetch_add(used as u64, Ordering::AcqRel) + used as u64;
            if calls >= f.threshold
                && f.state
                    .compare_exchange(COUNTING, PENDING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                // No call is counting toward the threshold any more: make the next one enter.
                let w = f.target_word();
                f.saved.store(w.load(Ordering::Acquire), Ordering::Release);
                w.store(f.enter, Ordering::Release);
            }
        }
        reg.retain(|&b| b != a.0);
        COUNTERS.with(|c| c.set(null_mut()));
        drop(reg);
        // SAFETY: the array left the registry (no reader can reach it) and this thread's
        // pointer is cleared (its trampolines enter the runtime from now on); it is a whole
        // mapping made by `Array::map`.
        unsafe { libc::munmap(a.0 as *mut libc::c_void, Array::BYTES) };
    }
}
