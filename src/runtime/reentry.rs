//! Re-entry into the runtime from linked code: the resolver that every re-entry and counting
//! trampoline jumps to, and the table of handlers it calls.
//!
//! A trampoline pushes its 32-bit identity and jumps to [`resolver_address`]. The resolver saves
//! every register that can carry an argument, calls the handler registered for the identity on
//! the calling thread, restores the registers and tail-jumps to the address the handler returned,
//! with the stack exactly as the caller left it (so arguments on the stack are intact and the
//! callee returns straight to the original caller).
//!
//! Handlers run on whatever thread made the call. A handler that fails cannot return an error
//! to code that called a plain C function: the process prints the error and aborts, and a panic
//! in a handler aborts the same way instead of unwinding through assembly.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, PoisonError, RwLock};

/// What a trampoline's identity resolves to: returns the address to continue at, or an error
/// message (the process then aborts with it).
pub type Handler = Arc<dyn Fn() -> std::result::Result<u64, String> + Send + Sync>;

/// Handlers by identity. Identities are handed out in ranges when trampoline batches are made
/// and set when a trampoline is given a purpose; they are never reused.
static HANDLERS: RwLock<Vec<Option<Handler>>> = RwLock::new(Vec::new());

/// Reserves `n` consecutive identities (with no handler yet) and returns the first.
pub(crate) fn reserve_ids(n: usize) -> std::result::Result<u32, String> {
    let mut table = HANDLERS.write().unwrap_or_else(PoisonError::into_inner);
    let first = table.len();
    // The identity is pushed as a sign-extended 32-bit immediate: stay below 2^31.
    if first + n > i32::MAX as usize {
        return Err("out of re-entry trampoline identities".into());
    }
    table.resize(first + n, None);
    Ok(first as u32)
}

/// Sets the handler of identity `id` (before its trampoline is reachable).
pub(crate) fn set_handler(id: u32, h: Handler) {
    let mut table = HANDLERS.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = table.get_mut(id as usize) {
        *slot = Some(h);
    }
}

/// Called by the resolver with the identity the trampoline pushed; returns where to continue.
extern "C" fn reenter(id: u64) -> u64 {
    let run = || {
        let handler = HANDLERS
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id as usize)
            .cloned()
            .flatten();
        match handler {
            Some(h) => h(),
            None => Err(format!("re-entry trampoline {id} has no handler")),
        }
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(addr)) if addr != 0 => addr,
        Ok(Ok(_)) => fail("re-entry handler returned a null address"),
        Ok(Err(msg)) => fail(&msg),
        Err(_) => fail("re-entry handler panicked"),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("jitlink: error: {msg}");
    std::process::abort()
}

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl jitlink_reentry_resolver",
    ".hidden jitlink_reentry_resolver",
    ".type jitlink_reentry_resolver,@function",
    "jitlink_reentry_resolver:",
    // On entry: [rsp] = identity, [rsp+8] = the caller's return address. The stack is usually
    // 16-byte aligned here, but not always: gcc calls functions of the same translation unit
    // whose (small) stack needs it knows with an 8-byte aligned stack. Align it.
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    // 8 general registers + 8 xmm registers.
    "sub rsp, 192",
    "movaps [rsp + 0], xmm0",
    "movaps [rsp + 16], xmm1",
    "movaps [rsp + 32], xmm2",
    "movaps [rsp + 48], xmm3",
    "movaps [rsp + 64], xmm4",
    "movaps [rsp + 80], xmm5",
    "movaps [rsp + 96], xmm6",
    "movaps [rsp + 112], xmm7",
    "mov [rsp + 128], rax", // al: vector registers used by a varargs call
    "mov [rsp + 136], rdi",
    "mov [rsp + 144], rsi",
    "mov [rsp + 152], rdx",
    "mov [rsp + 160], rcx",
    "mov [rsp + 168], r8",
    "mov [rsp + 176], r9",
    "mov [rsp + 184], r10", // static chain
    "mov rdi, [rbp + 8]",
    "call {reenter}",
    "mov r11, rax", // r11: scratch at every call boundary, never an argument
    "movaps xmm0, [rsp + 0]",
    "movaps xmm1, [rsp + 16]",
    "movaps xmm2, [rsp + 32]",
    "movaps xmm3, [rsp + 48]",
    "movaps xmm4, [rsp + 64]",
    "movaps xmm5, [rsp + 80]",
    "movaps xmm6, [rsp + 96]",
    "movaps xmm7, [rsp + 112]",
    "mov rax, [rsp + 128]",
    "mov rdi, [rsp + 136]",
    "mov rsi, [rsp + 144]",
    "mov rdx, [rsp + 152]",
    "mov rcx, [rsp + 160]",
    "mov r8, [rsp + 168]",
    "mov r9, [rsp + 176]",
    "mov r10, [rsp + 184]",
    "mov rsp, rbp",
    "pop rbp",
    "lea rsp, [rsp + 8]", // drop the identity; the stack is now the caller's
    "jmp r11",
    ".size jitlink_reentry_resolver, . - jitlink_reentry_resolver",
    reenter = sym reenter,
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn jitlink_reentry_resolver();
}

/// Address of the resolver that trampolines jump to.
pub fn resolver_address() -> u64 {
    jitlink_reentry_resolver as unsafe extern "C" fn() as usize as u64
}
