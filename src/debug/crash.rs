//! Readable crash reports: a `SIGSEGV`/`SIGBUS`/`SIGILL`/`SIGFPE` handler that names the linked
//! function the program counter is in, then lets the signal take its course.
//!
//! The handler must be async-signal-safe: it allocates nothing and takes no lock. Sessions
//! publish their sets' function tables (built at link time, sorted, shared, never copied)
//! through an atomic pointer; the handler binary-searches them, formats into a stack buffer
//! and writes with `write(2)`. It then restores the previous action (Rust's stack-overflow handler,
//! or the default) and returns: the faulting instruction runs again and the signal is delivered
//! to that action, so the process still dies with the signal (and a core dump if enabled).

use std::ffi::c_int;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use super::symbols::FunctionTable;

/// The function tables of the live linked sets, shared with the sets (nothing is copied).
type Tables = Vec<Arc<FunctionTable>>;

/// The published tables. A published list is never freed (a handler may be reading it), so a
/// process that installs the reporter keeps one small list per link and removal, and the
/// tables of removed sets.
static TABLE: AtomicPtr<Tables> = AtomicPtr::new(std::ptr::null_mut());

const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The actions that were installed before ours, by position in `SIGNALS`; written before the
/// handler is installed, read only by the handler.
static mut OLD: [std::mem::MaybeUninit<libc::sigaction>; 4] =
    [const { std::mem::MaybeUninit::uninit() }; 4];

/// Installs the crash reporter (once; later calls do nothing). Sessions then keep its tables
/// up to date with their linked sets.
pub fn install() {
    let empty = Box::into_raw(Box::new(Tables::new()));
    if TABLE
        .compare_exchange(
            std::ptr::null_mut(),
            empty,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // SAFETY: `empty` was never published.
        drop(unsafe { Box::from_raw(empty) });
        return;
    }
    for (i, &sig) in SIGNALS.iter().enumerate() {
        // SAFETY: plain sigaction calls with initialized structures; `OLD[i]` is written before
        // our handler can run for `sig` (sigaction stores the previous action first), and the
        // handler only reads it for signals it is installed for.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut act.sa_mask);
            let old = (&raw mut OLD[i]).cast::<libc::sigaction>();
            libc::sigaction(sig, &act, old);
        }
    }
}

/// True once [`install`] has run.
pub(crate) fn is_installed() -> bool {
    !TABLE.load(Ordering::Acquire).is_null()
}

/// If the reporter is installed, publishes `tables` as the ones to search. Sessions call it
/// after each link (before initializers run) and removal.
pub(crate) fn refresh<'a>(tables: impl Iterator<Item = &'a Arc<FunctionTable>>) {
    if is_installed() {
        let list: Box<Tables> = Box::new(tables.cloned().collect());
        TABLE.store(Box::into_raw(list), Ordering::Release);
    }
}

/// A fixed buffer that formats without allocating.
struct Buf {
    bytes: [u8; 512],
    len: usize,
}

impl Buf {
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn hex(&mut self, v: u64) {
        let mut digits = [0u8; 18];
        digits[0] = b'0';
        digits[1] = b'x';
        let mut n = 2;
        let mut started = false;
        for shift in (0..16).rev() {
            let d = ((v >> (shift * 4)) & 0xf) as u8;
            if d != 0 || started || shift == 0 {
                started = true;
                digits[n] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
                n += 1;
            }
        }
        self.push(&digits[..n]);
    }
}

fn signal_name(sig: c_int) -> &'static [u8] {
    match sig {
        libc::SIGSEGV => b"SIGSEGV",
        libc::SIGBUS => b"SIGBUS",
        libc::SIGILL => b"SIGILL",
        libc::SIGFPE => b"SIGFPE",
        _ => b"signal",
    }
}

extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (fault, pc, user_sent) = unsafe {
        let pc = program_counter(ctx);
        ((*info).si_addr() as u64, pc, (*info).si_code <= 0)
    };
    let mut out = Buf {
        bytes: [0; 512],
        len: 0,
    };
    out.push(b"jitlink: crashed (");
    out.push(signal_name(sig));
    out.push(b", fault address ");
    out.hex(fault);
    out.push(b") at ");
    out.hex(pc);
    // SAFETY: the list was published with release ordering and is never freed; it holds the
    // tables alive. `FunctionTable::find` only reads (a binary search, UTF-8 checks).
    let tables = unsafe { TABLE.load(Ordering::Acquire).as_ref() };
    let hit = tables.and_then(|list| list.iter().find_map(|t| t.find(pc)));
    match hit {
        Some(e) => {
            out.push(b" in ");
            out.push(e.name.as_bytes());
            out.push(b"+");
            out.hex(pc - e.start);
            out.push(b" (");
            out.push(e.file.as_bytes());
            out.push(b")");
        }
        None => out.push(b", outside linked code"),
    }
    out.push(b"\n");
    let pos = SIGNALS.iter().position(|&s| s == sig);
    // SAFETY: write(2), sigaction(2) and raise(3) are async-signal-safe; `OLD[i]` was filled by
    // `install` before this handler was installed for `sig`.
    unsafe {
        libc::write(2, out.bytes.as_ptr().cast(), out.len);
        match pos {
            Some(i) => {
                libc::sigaction(sig, (&raw const OLD[i]).cast(), std::ptr::null_mut());
            }
            None => {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        if user_sent {
            // Returning would not repeat a signal sent by kill(2): send it again.
            libc::raise(sig);
        }
    }
}

/// The interrupted program counter.
///
/// # Safety
/// `ctx` must be the `ucontext_t` passed to an `SA_SIGINFO` handler.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe fn program_counter(ctx: *mut libc::c_void) -> u64 {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RIP as usize] as u64 }
}

/// The interrupted program counter (unknown on this target).
///
/// # Safety
/// None needed; kept `unsafe` to match the x86-64 version.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
unsafe fn program_counter(_ctx: *mut libc::c_void) -> u64 {
    0
}
