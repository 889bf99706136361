//! Static initializers and finalizers of a linked set, ordered as the system linker orders them.
//!
//! GNU ld's default script builds one `.init_array` from `.init_array.N` and `.ctors.N` sorted by
//! priority (`.ctors.N` has priority 65535 − N), followed by the unnumbered `.init_array` and
//! `.ctors` sections in input order; `.fini_array` likewise from `.fini_array.N`, `.dtors.N`,
//! `.fini_array` and `.dtors`. `.preinit_array` runs before all of them. Initializers run
//! forward, finalizers backward; legacy `.ctors`/`.dtors` sections list their entries in the
//! reverse sense, so their entries are reversed when placed. The builders give sections these
//! roles (Mach-O's `__mod_init_func` and `__mod_term_func` are init and fini arrays, run in
//! input order as ld64 runs them); only the priority numbers are read from ELF section names.
//!
//! Finalizers are registered with `__cxa_atexit` under the set's `__dso_handle` *before* the
//! initializers run, so — as in a natively linked program — handlers registered later by
//! constructors and `main` run first at exit, and `__cxa_finalize(dso)` runs them all when the
//! set is removed.

use std::ffi::{c_char, c_int, c_void};

use jitlink_arch::Arch;

use crate::graph::{Content, LinkGraph, SectionRole};

extern "C" {
    fn __cxa_atexit(f: extern "C" fn(*mut c_void), arg: *mut c_void, dso: *mut c_void) -> c_int;
    fn __cxa_finalize(dso: *mut c_void);
    static environ: *const *const c_char;
}

/// The initializers and finalizers of one linked set, in execution order.
#[derive(Debug, Default, Clone)]
pub struct InitFini {
    /// Functions to call at start, in order.
    pub init: Vec<u64>,
    /// Functions to call at exit or removal, in order.
    pub fini: Vec<u64>,
}

/// Reads the function pointers of the set's init and fini sections (after fixups) with `read`,
/// which returns the pointer-sized value at an address.
pub fn collect_with<A: Arch>(
    g: &LinkGraph<'_, A>,
    read: &mut dyn FnMut(u64) -> Option<u64>,
) -> InitFini {
    let ptr = A::POINTER_SIZE as usize;
    // (priority, block order, pointers)
    let mut pre = Vec::new();
    let mut init: Vec<(u32, usize, Vec<u64>)> = Vec::new();
    let mut fini: Vec<(u32, usize, Vec<u64>)> = Vec::new();
    for sec in &g.sections {
        // The builders give each section its role (Mach-O's `__mod_init_func` is an
        // `InitArray` too); only ELF numbers its sections by priority.
        let list = match sec.role {
            SectionRole::PreinitArray => &mut pre,
            SectionRole::InitArray | SectionRole::Ctors => &mut init,
            SectionRole::FiniArray | SectionRole::Dtors => &mut fini,
            _ => continue,
        };
        let prio = match sec.role {
            SectionRole::PreinitArray => 0,
            _ => crate::builder::elf::init_priority(sec.name).unwrap_or(65536),
        };
        let reversed = matches!(sec.role, SectionRole::Ctors | SectionRole::Dtors);
        for &b in &sec.blocks {
            let blk = &g.blocks[b.index()];
            if matches!(blk.content, Content::Zero(_)) {
                continue;
            }
            let n = blk.content.size() as usize / ptr;
            let mut fns: Vec<u64> = (0..n)
                .filter_map(|i| read(blk.addr + (i * ptr) as u64))
                // Entries of 0 and -1 are placeholders (legacy list terminators).
                .filter(|&f| f != 0 && f != u64::MAX)
                .collect();
            if reversed {
                fns.reverse();
            }
            list.push((prio, b.index(), fns));
        }
    }
    let flatten = |mut v: Vec<(u32, usize, Vec<u64>)>| -> Vec<u64> {
        v.sort_by_key(|&(p, b, _)| (p, b));
        v.into_iter().flat_map(|(_, _, f)| f).collect()
    };
    let mut all_init = flatten(pre);
    all_init.extend(flatten(init));
    let mut all_fini = flatten(fini);
    all_fini.reverse();
    InitFini {
        init: all_init,
        fini: all_fini,
    }
}

extern "C" fn run_finalizers(arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Vec<u64>> leaked by `start`, and glibc calls each registered
    // handler exactly once (at exit or in __cxa_finalize), so ownership returns here once.
    let fini = unsafe { Box::from_raw(arg.cast::<Vec<u64>>()) };
    for &f in fini.iter() {
        // SAFETY: `f` is a finalizer of the linked set, whose code is still mapped: removal
        // calls __cxa_finalize before unmapping.
        let f: extern "C" fn() = unsafe { std::mem::transmute(f as usize) };
        f();
    }
}

/// Registers the finalizers under `dso`, then runs the initializers with `argv`.
pub fn start(list: InitFini, dso: u64, argv: &[*const c_char]) {
    if !list.fini.is_empty() {
        let arg = Box::into_raw(Box::new(list.fini)).cast::<c_void>();
        // SAFETY: registering a handler with glibc; `dso` identifies this linked set.
        unsafe { __cxa_atexit(run_finalizers, arg, dso as *mut c_void) };
    }
    type Init = extern "C" fn(c_int, *const *const c_char, *const *const c_char);
    let argc = argv.len().saturating_sub(1) as c_int;
    for f in list.init {
        // SAFETY: `f` is an initializer of the set; glibc calls them as (argc, argv, envp).
        let f: Init = unsafe { std::mem::transmute(f as usize) };
        // SAFETY: reading the C library's environment pointer.
        f(argc, argv.as_ptr(), unsafe { environ });
    }
}

/// Runs every handler registered under `dso` (finalizers and `__cxa_atexit` registrations of
/// the set's code), as `dlclose` does.
pub fn finish(dso: u64) {
    // SAFETY: `dso` is a linked set's handle; handlers already run are skipped by glibc.
    unsafe { __cxa_finalize(dso as *mut c_void) };
}

/// `atexit` for linked code. glibc exports it only from `libc_nonshared.a`, which a compiler
/// driver links statically; this is the equivalent. Handlers run at process exit.
pub extern "C" fn atexit(f: extern "C" fn()) -> c_int {
    // SAFETY: a handler taking no arguments may be called with one (SysV ABI), exactly as
    // glibc's own atexit registers it.
    unsafe {
        __cxa_atexit(
            std::mem::transmute::<extern "C" fn(), extern "C" fn(*mut c_void)>(f),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// Symbols the runtime provides to linked code, before the host is searched.
pub fn runtime_symbol(name: &[u8]) -> Option<u64> {
    match name {
        b"atexit" => Some(atexit as extern "C" fn(extern "C" fn()) -> c_int as usize as u64),
        _ => None,
    }
}
