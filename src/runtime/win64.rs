//! Host functions offered to Windows x64 code (COFF objects).
//!
//! Code compiled for Windows passes arguments in rcx, rdx, r8, r9 with 32 bytes of shadow
//! space, and expects rsi, rdi and xmm6-xmm15 preserved; the host's C library uses the System V
//! convention. So COFF code never binds to host symbols directly: it gets only the functions
//! below, each a thunk with the Windows x64 convention that calls the host's function. Variadic
//! functions (`printf`) are not offered: a thunk cannot know its arguments' types.

#[cfg(target_arch = "x86_64")]
mod thunks {
    use std::ffi::{c_char, c_int, c_void};

    pub extern "win64" fn memcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
        // SAFETY: the caller passes what C's memcpy requires; this forwards it unchanged.
        unsafe { libc::memcpy(d, s, n) }
    }
    pub extern "win64" fn memmove(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
        // SAFETY: as for memcpy: the C contract is the caller's.
        unsafe { libc::memmove(d, s, n) }
    }
    pub extern "win64" fn memset(d: *mut c_void, c: c_int, n: usize) -> *mut c_void {
        // SAFETY: as for memcpy: the C contract is the caller's.
        unsafe { libc::memset(d, c, n) }
    }
    pub extern "win64" fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
        // SAFETY: as for memcpy: the C contract is the caller's.
        unsafe { libc::memcmp(a, b, n) }
    }
    pub extern "win64" fn strlen(s: *const c_char) -> usize {
        // SAFETY: as for memcpy: the C contract is the caller's.
        unsafe { libc::strlen(s) }
    }
    pub extern "win64" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
        // SAFETY: as for memcpy: the C contract is the caller's.
        unsafe { libc::strcmp(a, b) }
    }
    pub extern "win64" fn puts(s: *const c_char) -> c_int {
        // SAFETY: as for memcpy: the C contract is the caller's.
        unsafe { libc::puts(s) }
    }
    pub extern "win64" fn putchar(c: c_int) -> c_int {
        extern "C" {
            fn putchar(c: c_int) -> c_int;
        }
        // SAFETY: putchar takes any int.
        unsafe { putchar(c) }
    }
}

/// The address of the Windows x64 thunk for host function `name`, if there is one.
pub fn thunk(name: &[u8]) -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        use thunks::*;
        let addr = match name {
            b"memcpy" => memcpy as *const () as usize,
            b"memmove" => memmove as *const () as usize,
            b"memset" => memset as *const () as usize,
            b"memcmp" => memcmp as *const () as usize,
            b"strlen" => strlen as *const () as usize,
            b"strcmp" => strcmp as *const () as usize,
            b"puts" => puts as *const () as usize,
            b"putchar" => putchar as *const () as usize,
            _ => return None,
        };
        Some(addr as u64)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        None
    }
}
