//! Re-entry into the runtime from linked code: the resolver that every re-entry and counting
//! trampoline jumps to, and the table of handlers it calls.
//!
//! A trampoline pushes its 32-bit identity and jumps to [`resolver_address`]. The resolver saves
//! every register that can carry an argument, calls the handler registered for the identity on
//! the calling thread, restores the registers and tail-jumps to the address the handler returned,
//! with the stack exactly as the caller left it (so arguments on the stack are intact and the
//! callee returns straight to the original caller).
//!
//! Vector arguments travel in xmm0-7, and `__m256`/`__m512` ones in ymm0-7/zmm0-7 and the
//! AVX-512 mask registers; the runtime's own code can change any of them (glibc's AVX `memcpy`
//! ends with `vzeroupper`, which clears the upper halves). Where the OS manages the extended
//! state (CPUID.1:ECX.OSXSAVE), the resolver saves and restores it whole with `xsave64` and
//! `xrstor64`, for the features enabled in XCR0 among SSE, AVX and the three AVX-512 parts
//! (XCR0 bits 1, 2, 5, 6, 7), in an area sized from CPUID leaf 0xD and 64-byte aligned on the
//! stack; this is chosen once, the first time a resolver address is asked for. Without OSXSAVE
//! there is no AVX either, and the resolver saves xmm0-7 with `movaps`.
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
    crate::diag!("jitlink: error: {msg}");
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

/// Vector state components the xsave resolver saves (`XCR0 & XSAVE_FEATURES`).
#[cfg(target_arch = "x86_64")]
const XSAVE_FEATURES: u64 = 1 << 1 | 1 << 2 | 1 << 5 | 1 << 6 | 1 << 7;

/// The xsave resolver's requested-feature mask (low 32 bits; the components it names are below
/// bit 32) and its save area's size in bytes (a multiple of 64). Written once, before the
/// resolver's address is handed out.
#[cfg(target_arch = "x86_64")]
static XSAVE_MASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
#[cfg(target_arch = "x86_64")]
static XSAVE_SIZE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl jitlink_reentry_resolver_xsave",
    ".hidden jitlink_reentry_resolver_xsave",
    ".type jitlink_reentry_resolver_xsave,@function",
    "jitlink_reentry_resolver_xsave:",
    // On entry: [rsp] = identity, [rsp+8] = the caller's return address (see above).
    "push rbp",
    "mov rbp, rsp",
    // The general argument registers, al (vector registers used by a varargs call) and r10
    // (static chain), at rbp-8 .. rbp-64.
    "push rax",
    "push rdi",
    "push rsi",
    "push rdx",
    "push rcx",
    "push r8",
    "push r9",
    "push r10",
    // The save area: XSAVE_SIZE bytes, 64-byte aligned (so the call below is 16-byte aligned).
    "sub rsp, qword ptr [rip + {size}]",
    "and rsp, -64",
    // Standard-form XRSTOR faults unless the header's reserved bytes are zero, and XSAVE writes
    // only the bits it saves of XSTATE_BV: clear the 64-byte header at 512.
    "xor eax, eax",
    "mov [rsp + 512], rax",
    "mov [rsp + 520], rax",
    "mov [rsp + 528], rax",
    "mov [rsp + 536], rax",
    "mov [rsp + 544], rax",
    "mov [rsp + 552], rax",
    "mov [rsp + 560], rax",
    "mov [rsp + 568], rax",
    "mov eax, dword ptr [rip + {mask}]",
    "xor edx, edx",
    "xsave64 [rsp]",
    "mov rdi, [rbp + 8]",
    "call {reenter}",
    "mov r11, rax", // r11: scratch at every call boundary, never an argument
    "mov eax, dword ptr [rip + {mask}]",
    "xor edx, edx",
    "xrstor64 [rsp]",
    "lea rsp, [rbp - 64]",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rcx",
    "pop rdx",
    "pop rsi",
    "pop rdi",
    "pop rax",
    "pop rbp",
    "lea rsp, [rsp + 8]", // drop the identity; the stack is now the caller's
    "jmp r11",
    ".size jitlink_reentry_resolver_xsave, . - jitlink_reentry_resolver_xsave",
    reenter = sym reenter,
    mask = sym XSAVE_MASK,
    size = sym XSAVE_SIZE,
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn jitlink_reentry_resolver();
    fn jitlink_reentry_resolver_xsave();
}

/// The components to save and the size of their standard-form XSAVE area, if the OS manages
/// the extended state (OSXSAVE).
#[cfg(target_arch = "x86_64")]
fn xsave_layout() -> Option<(u32, u64)> {
    use std::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    // CPUID is available on every x86-64 processor (safe to call in this toolchain).
    let leaf1 = __cpuid(1);
    if leaf1.ecx & (1 << 27) == 0 {
        return None;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available and the OS has enabled XCR0.
    let xcr0 = unsafe { _xgetbv(0) };
    let mask = xcr0 & XSAVE_FEATURES;
    if mask & (1 << 1) == 0 {
        return None;
    }
    // The legacy region and the header, then each saved component at its standard offset.
    let mut size = 576u64;
    for i in 2..8 {
        if mask & (1 << i) != 0 {
            // Leaf 0xD exists when OSXSAVE is set; sub-leaf i describes component i (EAX: size,
            // EBX: offset in the standard form).
            let c = __cpuid_count(0xd, i);
            size = size.max(u64::from(c.ebx) + u64::from(c.eax));
        }
    }
    Some((mask as u32, size.next_multiple_of(64)))
}

/// Address of the resolver that trampolines jump to (the xsave one where the OS manages the
/// extended state, chosen on first use).
#[cfg(target_arch = "x86_64")]
pub fn resolver_address() -> u64 {
    use std::sync::atomic::Ordering;
    static CHOSEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| match xsave_layout() {
        Some((mask, size)) => {
            XSAVE_MASK.store(mask, Ordering::Relaxed);
            XSAVE_SIZE.store(size, Ordering::Relaxed);
            jitlink_reentry_resolver_xsave as unsafe extern "C" fn() as usize as u64
        }
        None => jitlink_reentry_resolver as unsafe extern "C" fn() as usize as u64,
    })
}
