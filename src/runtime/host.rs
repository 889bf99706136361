//! Symbols of the host process: what is already loaded, libraries named with `-l`, and the
//! libraries a compiler driver links by default (opened only when a symbol is still missing).

use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::passes::got_stubs::HostSymbol;

/// Libraries a C or C++ compiler driver links by default, opened lazily in this order.
const DEFAULT_LIBS: &[&str] = &["libc.so.6", "libm.so.6", "libgcc_s.so.1", "libstdc++.so.6"];

/// Directories searched for `-l` after the `-L` ones.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib",
    "/lib",
];

/// What `-l NAME` found.
#[derive(Debug)]
pub enum Library {
    /// A shared library, now loaded.
    Shared,
    /// A static archive to add as an input.
    Archive(PathBuf),
}

/// Host symbol resolution.
pub struct HostSymbols {
    handles: Vec<*mut c_void>,
    defaults_left: std::slice::Iter<'static, &'static str>,
    buf: Vec<u8>,
}

// SAFETY: the handles come from `dlopen` and are only passed to `dlsym`, both of which the C
// library makes thread-safe; nothing is tied to the thread that opened them. (Lazy linking and
// re-optimization link from whichever thread calls in, one at a time under a mutex.)
unsafe impl Send for HostSymbols {}

fn dlopen(path: &str) -> Option<*mut c_void> {
    let c = CString::new(path).ok()?;
    // SAFETY: `c` is NUL-terminated; dlopen runs the library's initializers, which is what
    // linking against it means.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    (!h.is_null()).then_some(h)
}

fn last_dlerror() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by the loader.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        return "unknown error".into();
    }
    // SAFETY: non-null, NUL-terminated, valid until the next dl* call on this thread.
    unsafe { std::ffi::CStr::from_ptr(e) }
        .to_string_lossy()
        .into_owned()
}

impl HostSymbols {
    /// A resolver over the symbols already loaded; `default_libs` adds the compiler defaults.
    pub fn new(default_libs: bool) -> Self {
        let defaults: &'static [&'static str] = if default_libs { DEFAULT_LIBS } else { &[] };
        HostSymbols {
            handles: Vec::new(),
            defaults_left: defaults.iter(),
            buf: Vec::new(),
        }
    }

    /// Resolves `-l name` against `dirs` then the system directories: a shared library is loaded
    /// now; a static archive is returned for the caller to add.
    pub fn add_library(&mut self, name: &str, dirs: &[PathBuf]) -> Result<Library> {
        let mut errors = Vec::new();
        let all = dirs
            .iter()
            .map(PathBuf::as_path)
            .chain(SYSTEM_DIRS.iter().map(Path::new));
        for dir in all {
            let so = dir.join(format!("lib{name}.so"));
            if so.exists() {
                match dlopen(&so.to_string_lossy()) {
                    Some(h) => {
                        self.handles.push(h);
                        return Ok(Library::Shared);
                    }
                    // Often a linker script (libc.so): keep looking.
                    None => errors.push(last_dlerror()),
                }
            }
            let a = dir.join(format!("lib{name}.a"));
            if a.exists() {
                return Ok(Library::Archive(a));
            }
        }
        for soname in [
            format!("lib{name}.so"),
            format!("lib{name}.so.6"),
            format!("lib{name}.so.1"),
        ] {
            if let Some(h) = dlopen(&soname) {
                self.handles.push(h);
                return Ok(Library::Shared);
            }
        }
        Err(Error::LibraryNotFound {
            name: name.to_string(),
            tried: errors,
        })
    }

    /// Opens the default libraries not opened yet (for the dynamic loader's own lookups).
    pub fn open_defaults(&mut self) {
        for lib in self.defaults_left.by_ref() {
            if let Some(h) = dlopen(lib) {
                self.handles.push(h);
            }
        }
    }

    /// The address of `name` in the host process, if any.
    pub fn lookup(&mut self, name: &[u8]) -> Option<u64> {
        if name.contains(&0) {
            return None;
        }
        self.buf.clear();
        self.buf.extend_from_slice(name);
        self.buf.push(0);
        let cname = self.buf.as_ptr().cast::<libc::c_char>();
        // SAFETY: `cname` is NUL-terminated; RTLD_DEFAULT searches the global scope.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, cname) };
        if !p.is_null() {
            return Some(p as u64);
        }
        for &h in &self.handles {
            // SAFETY: `h` is a handle returned by dlopen and never closed.
            let p = unsafe { libc::dlsym(h, cname) };
            if !p.is_null() {
                return Some(p as u64);
            }
        }
        for lib in self.defaults_left.by_ref() {
            if let Some(h) = dlopen(lib) {
                self.handles.push(h);
                // SAFETY: as above.
                let p = unsafe { libc::dlsym(h, cname) };
                if !p.is_null() {
                    return Some(p as u64);
                }
            }
        }
        None
    }

    /// Size, function-ness and writability of the host symbol at exactly `addr`.
    pub fn describe(addr: u64) -> Option<HostSymbol> {
        let mut info = libc::Dl_info {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        };
        let mut sym: *mut c_void = std::ptr::null_mut();
        const RTLD_DL_SYMENT: libc::c_int = 1;
        // SAFETY: dladdr1 only reads loader tables; both out-pointers are valid.
        let ok =
            unsafe { libc::dladdr1(addr as *const c_void, &mut info, &mut sym, RTLD_DL_SYMENT) };
        if ok == 0 || sym.is_null() || info.dli_saddr as u64 != addr {
            // No symbol starts here: an IFUNC's selected implementation (`dlsym("floor")`
            // returns `__floor_sse41`, which has no dynamic symbol). Code is still code: it
            // gets a stub, as a function would.
            return executable(addr).then_some(HostSymbol {
                size: 0,
                function: true,
                writable: false,
            });
        }
        // SAFETY: with RTLD_DL_SYMENT, `sym` points at the symbol's Elf64_Sym in a loaded object.
        let s = unsafe { &*(sym as *const libc::Elf64_Sym) };
        let st_type = s.st_info & 0xf;
        Some(HostSymbol {
            size: s.st_size,
            function: st_type == 2 || st_type == 10,
            writable: writable(addr),
        })
    }
}

/// True if `addr` lies in a writable mapping of this process (read from /proc/self/maps; only
/// asked for the rare host data references that cannot reach).
fn writable(addr: u64) -> bool {
    mapping_allows(addr, 1, b'w').unwrap_or(true)
}

/// True if `addr` lies in an executable mapping of this process.
fn executable(addr: u64) -> bool {
    mapping_allows(addr, 2, b'x').unwrap_or(false)
}

/// Whether the mapping holding `addr` has permission letter `letter` at position `at` of its
/// `rwxp` field; `None` if no mapping holds it or the maps cannot be read.
fn mapping_allows(addr: u64, at: usize, letter: u8) -> Option<bool> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let (lo, hi) = parts.next()?.split_once('-')?;
        let (lo, hi) = (
            u64::from_str_radix(lo, 16).ok()?,
            u64::from_str_radix(hi, 16).ok()?,
        );
        (lo <= addr && addr < hi).then(|| {
            parts
                .next()
                .is_some_and(|p| p.as_bytes().get(at) == Some(&letter))
        })
    })
}
