//! Thread-local storage: each linked set with `.tdata`/`.tbss` gets a TLS module that the C
//! library itself manages.
//!
//! glibc allocates and initializes TLS blocks only for objects it loads, so jitlink hands it one:
//! a minimal ELF shared object, made in memory, whose only content is a `PT_TLS` segment holding
//! the set's initial image (with its fixups applied) and the zero-fill size, and a `PT_GNU_STACK`
//! header that keeps the process's stack non-executable. It is loaded with
//! `dlopen` from a `memfd`. From then on glibc does everything natively: a block per thread for
//! threads that exist and threads created later, `__tls_get_addr(module, offset)` for the
//! general- and local-dynamic models, and a fixed offset from the thread pointer when asked.
//!
//! Two dynamic relocations in the object tell jitlink what it needs: `R_X86_64_DTPMOD64` yields
//! the module id, and — only when the set uses initial-exec, local-exec or TLS descriptors —
//! `R_X86_64_TPOFF64` makes glibc place the block in static TLS and yields its offset from the
//! thread pointer. Static TLS is limited by glibc's surplus (about 1.6 KiB by default; raise it
//! with `GLIBC_TUNABLES=glibc.rtld.optional_static_tls=N`); dynamic models have no limit.
//!
//! The module stays loaded for the life of the process, and so does its memfd (one file
//! descriptor per linked set with TLS): glibc cannot free static TLS, and threads may still hold
//! pointers into dynamic blocks.

use std::ffi::{c_void, CString};

use jitlink_arch::TlsValues;

use crate::error::{Error, Result};
use crate::target::ArchKind;

std::arch::global_asm!(
    ".text",
    ".globl jitlink_tlsdesc_static",
    ".hidden jitlink_tlsdesc_static",
    ".type jitlink_tlsdesc_static, @function",
    "jitlink_tlsdesc_static:",
    // The TLS descriptor ABI: %rax points at the descriptor; return the offset from the thread
    // pointer in %rax, preserving every other register.
    "    movq 8(%rax), %rax",
    "    ret",
    ".size jitlink_tlsdesc_static, . - jitlink_tlsdesc_static",
    options(att_syntax)
);

extern "C" {
    fn jitlink_tlsdesc_static();
}

/// Address of the resolver used for TLS descriptors of static blocks.
pub fn tlsdesc_resolver() -> u64 {
    jitlink_tlsdesc_static as *const () as usize as u64
}

/// The ELF machine and dynamic relocation types a TLS module is written with.
#[derive(Debug, Clone, Copy)]
pub struct TlsTarget {
    /// `e_machine`.
    pub machine: u16,
    /// `e_flags`: RISC-V's loader accepts only objects of its own floating-point ABI.
    pub flags: u32,
    /// The relocation that yields the module id (`R_X86_64_DTPMOD64`, `R_AARCH64_TLS_DTPMOD`).
    pub dtpmod: u32,
    /// The relocation that yields the offset from the thread pointer (`R_X86_64_TPOFF64`,
    /// `R_AARCH64_TLS_TPREL`).
    pub tpoff: u32,
    /// The relocation that yields a symbol's offset in its module's block
    /// (`R_X86_64_DTPOFF64`, `R_AARCH64_TLS_DTPREL`).
    pub dtpoff: u32,
}

impl TlsTarget {
    /// The module format for `arch`.
    pub fn for_arch(arch: ArchKind) -> Self {
        use object::elf;
        let machine = arch.elf_machine();
        match arch {
            ArchKind::X86_64 => TlsTarget {
                machine,
                flags: 0,
                dtpmod: elf::R_X86_64_DTPMOD64,
                tpoff: elf::R_X86_64_TPOFF64,
                dtpoff: elf::R_X86_64_DTPOFF64,
            },
            ArchKind::AArch64 => TlsTarget {
                machine,
                flags: 0,
                dtpmod: elf::R_AARCH64_TLS_DTPMOD,
                tpoff: elf::R_AARCH64_TLS_TPREL,
                dtpoff: elf::R_AARCH64_TLS_DTPREL,
            },
            ArchKind::RiscV64 => TlsTarget {
                machine,
                // LP64D, the ABI of Debian's riscv64 port (glibc refuses other float ABIs).
                flags: elf::EF_RISCV_FLOAT_ABI_DOUBLE,
                dtpmod: elf::R_RISCV_TLS_DTPMOD64,
                tpoff: elf::R_RISCV_TLS_TPREL64,
                dtpoff: elf::R_RISCV_TLS_DTPREL64,
            },
        }
    }
}

/// A TLS module ready to be loaded: the shared object's bytes and the file offsets of the
/// words its dynamic relocations fill in (module id; offset from the thread pointer).
#[derive(Debug, Clone)]
pub struct TlsModule {
    /// The shared object.
    pub bytes: Vec<u8>,
    /// Where the module id is written.
    pub module_at: u64,
    /// Where the offset from the thread pointer is written (static TLS only).
    pub tp_offset_at: u64,
}

fn push<T: Copy>(v: &mut Vec<u8>, x: T) {
    // SAFETY: T is a plain integer type here; its bytes are read as they are.
    let bytes = unsafe {
        std::slice::from_raw_parts((&x as *const T).cast::<u8>(), std::mem::size_of::<T>())
    };
    v.extend_from_slice(bytes);
}

/// A dynamic symbol of a module written by [`write_module`].
pub(crate) struct ModuleSymbol<'n> {
    /// Its name.
    pub name: &'n [u8],
    /// `st_info`: binding and type.
    pub info: u8,
    /// `st_shndx`: 0 (undefined) or `SHN_ABS`.
    pub shndx: u16,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

/// A dynamic relocation of a module written by [`write_module`]: word `word` of the module's
/// word array, of type `kind`, against symbol `sym` (0: the module itself; else 1 + an index
/// into the symbols).
pub(crate) struct ModuleReloc {
    pub word: u64,
    pub kind: u32,
    pub sym: u32,
}

/// The System V hash of a symbol name (`DT_HASH`).
fn sysv_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// Writes a minimal ELF shared object for `target`: one read-write `PT_LOAD` holding a
/// dynamic section, `symbols` (with a `DT_HASH` table, so that the loader finds the defined
/// ones), `relocs` into an array of `words` zeroed words, and, with `tls = Some((image,
/// total, align))`, a `PT_TLS` segment. Returns the bytes and the file offset of the word
/// array (the loader writes relocated words at load bias plus that offset).
pub(crate) fn write_module(
    target: TlsTarget,
    tls: Option<(&[u8], u64, u64)>,
    symbols: &[ModuleSymbol<'_>],
    relocs: &[ModuleReloc],
    words: u64,
) -> (Vec<u8>, u64) {
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let phnum = if tls.is_some() { 4u64 } else { 3 };
    let dyn_off = EHDR + phnum * PHDR;
    let ndyn = 10u64;
    let sym_off = dyn_off + ndyn * 16;
    let nsyms = symbols.len() as u64 + 1;
    let str_off = sym_off + nsyms * 24;
    let mut strtab = vec![0u8];
    let mut names = Vec::with_capacity(symbols.len());
    for sym in symbols {
        names.push(strtab.len() as u32);
        strtab.extend_from_slice(sym.name);
        strtab.push(0);
    }
    // DT_HASH: nbucket, nchain, buckets, chains (one bucket per few symbols).
    let nbucket = (symbols.len() as u32 / 4).max(1);
    let mut buckets = vec![0u32; nbucket as usize];
    let mut chains = vec![0u32; nsyms as usize];
    for (i, sym) in symbols.iter().enumerate() {
        let idx = i as u32 + 1;
        let b = (sysv_hash(sym.name) % nbucket) as usize;
        chains[idx as usize] = buckets[b];
        buckets[b] = idx;
    }
    let hash_off = (str_off + strtab.len() as u64).next_multiple_of(8);
    let hash_len = 4 * (2 + u64::from(nbucket) + nsyms);
    let rela_off = (hash_off + hash_len).next_multiple_of(8);
    let nrela = relocs.len() as u64;
    let words_off = rela_off + nrela * 24;
    let (image, total, align) = tls.unwrap_or((&[], 0, 1));
    let align = align.max(16);
    let image_off = (words_off + 8 * words.max(2)).next_multiple_of(align);
    let file_len = image_off + image.len() as u64;

    let mut f = Vec::with_capacity(file_len as usize);
    // ELF header.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    push(&mut f, 3u16); // ET_DYN
    push(&mut f, target.machine);
    push(&mut f, 1u32); // EV_CURRENT
    push(&mut f, 0u64); // e_entry
    push(&mut f, EHDR); // e_phoff
    push(&mut f, 0u64); // e_shoff
    push(&mut f, target.flags); // e_flags
    push(&mut f, EHDR as u16);
    push(&mut f, PHDR as u16);
    push(&mut f, phnum as u16);
    push(&mut f, 64u16); // e_shentsize
    push(&mut f, 0u16); // e_shnum
    push(&mut f, 0u16); // e_shstrndx
                        // Program headers: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
    let phdr =
        |f: &mut Vec<u8>, ty: u32, flags: u32, off: u64, filesz: u64, memsz: u64, al: u64| {
            push(f, ty);
            push(f, flags);
            push(f, off);
            push(f, off);
            push(f, off);
            push(f, filesz);
            push(f, memsz);
            push(f, al);
        };
    phdr(&mut f, 1, 6, 0, file_len, file_len, 0x1000); // PT_LOAD, rw-
    phdr(&mut f, 2, 6, dyn_off, ndyn * 16, ndyn * 16, 8); // PT_DYNAMIC
    if tls.is_some() {
        phdr(&mut f, 7, 4, image_off, image.len() as u64, total, align); // PT_TLS
    }
    // PT_GNU_STACK, rw-: without it, glibc assumes the object needs an executable stack and
    // makes the whole process's stack writable and executable when the module is loaded.
    phdr(&mut f, 0x6474_e551, 6, 0, 0, 0, 16);
    // Dynamic section.
    let dynamic = [
        (6u64, sym_off),           // DT_SYMTAB
        (5, str_off),              // DT_STRTAB
        (10, strtab.len() as u64), // DT_STRSZ
        (11, 24),                  // DT_SYMENT
        (4, hash_off),             // DT_HASH
        (7, rela_off),             // DT_RELA
        (8, nrela * 24),           // DT_RELASZ
        (9, 24),                   // DT_RELAENT
        // DT_FLAGS without DF_STATIC_TLS: a TPOFF64 relocation asks for static TLS through
        // the path that also initializes the block in threads that already exist.
        (30, 0),
        (0, 0), // DT_NULL
    ];
    for (tag, val) in dynamic {
        push(&mut f, tag);
        push(&mut f, val);
    }
    f.extend_from_slice(&[0u8; 24]); // the null symbol
    for (sym, name) in symbols.iter().zip(names) {
        push(&mut f, name);
        push(&mut f, sym.info);
        push(&mut f, 0u8); // st_other: default visibility
        push(&mut f, sym.shndx);
        push(&mut f, sym.value);
        push(&mut f, sym.size);
    }
    f.extend_from_slice(&strtab);
    f.resize(hash_off as usize, 0);
    push(&mut f, nbucket);
    push(&mut f, nsyms as u32);
    for w in buckets.into_iter().chain(chains) {
        push(&mut f, w);
    }
    f.resize(rela_off as usize, 0);
    // r_offset, r_info (symbol, type), r_addend.
    for r in relocs {
        push(&mut f, words_off + 8 * r.word);
        push(&mut f, (u64::from(r.sym) << 32) | u64::from(r.kind));
        push(&mut f, 0i64);
    }
    f.resize(image_off as usize, 0);
    f.extend_from_slice(image);
    (f, words_off)
}

/// Builds the shared object for `target`, holding `image` as the block's initialized data and
/// `total` bytes in all; with `static_tls`, the loader is asked for a static block.
pub fn build_module(
    target: TlsTarget,
    image: &[u8],
    total: u64,
    align: u64,
    static_tls: bool,
) -> TlsModule {
    // Symbol 0: this object's own block.
    let mut relocs = vec![ModuleReloc {
        word: 0,
        kind: target.dtpmod,
        sym: 0,
    }];
    if static_tls {
        relocs.push(ModuleReloc {
            word: 1,
            kind: target.tpoff,
            sym: 0,
        });
    }
    let (bytes, words_off) = write_module(target, Some((image, total, align)), &[], &relocs, 2);
    TlsModule {
        bytes,
        module_at: words_off,
        tp_offset_at: words_off + 8,
    }
}

/// A module whose dynamic symbol table defines `symbols` (name, address, size, function or
/// not) as absolute symbols (`SHN_ABS`), for the loader to bind other objects' references to:
/// glibc (since 2.28) takes an absolute symbol's value as it is, without the module's load
/// bias, in `dlsym` and in relocations alike. Loaded with `RTLD_GLOBAL`, it exports a linked
/// set's symbols to the objects the set's code `dlopen`s.
pub(crate) fn export_module(target: TlsTarget, symbols: &[(&[u8], u64, u64, bool)]) -> Vec<u8> {
    const SHN_ABS: u16 = 0xfff1;
    let syms: Vec<ModuleSymbol<'_>> = symbols
        .iter()
        .map(|&(name, value, size, function)| ModuleSymbol {
            name,
            // STB_GLOBAL, STT_FUNC or STT_OBJECT.
            info: (1 << 4) | if function { 2 } else { 1 },
            shndx: SHN_ABS,
            value,
            size,
        })
        .collect();
    write_module(target, None, &syms, &[], 0).0
}

/// Loads [`export_module`] of `symbols` into this process, globally, for good.
pub fn export_here(symbols: &[(&[u8], u64, u64, bool)]) -> Result<()> {
    if symbols.is_empty() {
        return Ok(());
    }
    let bytes = export_module(TlsTarget::for_arch(ArchKind::HOST), symbols);
    // The module and its fd stay for the life of the process (see `load_module`).
    load_bytes(&bytes, libc::RTLD_NOW | libc::RTLD_GLOBAL)
        .map(drop)
        .map_err(|msg| Error::Unsupported {
            file: "<exported symbols>".into(),
            what: format!("loading the module of exported symbols: {msg}"),
        })
}

/// Where a thread-local variable of a host library lives, as the host's dynamic loader says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTls {
    /// The module id of its library (what `__tls_get_addr` takes).
    pub module: u64,
    /// Its offset in the library's block.
    pub offset: u64,
    /// Its offset from the thread pointer, when asked for (the library's block is then in
    /// static TLS, the same in every thread).
    pub tp_offset: Option<i64>,
}

/// A module that imports thread-local variables `names` (each with whether its offset from
/// the thread pointer is needed): its relocations make the loader write, per name, the module
/// id and offset of the variable (`DTPMOD64`, `DTPOFF64`), and, where asked, its offset from
/// the thread pointer (`TPOFF64`, which places the library's block in static TLS if it is not
/// there yet, or fails). The imports are weak: a name found nowhere reads as module 0. Returns
/// the module and the file offset of the word array: three words per name.
pub(crate) fn host_tls_module(target: TlsTarget, names: &[(&[u8], bool)]) -> (Vec<u8>, u64) {
    const STB_WEAK_STT_TLS: u8 = (2 << 4) | 6;
    let symbols: Vec<ModuleSymbol<'_>> = names
        .iter()
        .map(|&(name, _)| ModuleSymbol {
            name,
            info: STB_WEAK_STT_TLS,
            shndx: 0,
            value: 0,
            size: 0,
        })
        .collect();
    let mut relocs = Vec::new();
    for (i, &(_, tp)) in names.iter().enumerate() {
        let (word, sym) = (3 * i as u64, i as u32 + 1);
        relocs.push(ModuleReloc {
            word,
            kind: target.dtpmod,
            sym,
        });
        relocs.push(ModuleReloc {
            word: word + 1,
            kind: target.dtpoff,
            sym,
        });
        if tp {
            relocs.push(ModuleReloc {
                word: word + 2,
                kind: target.tpoff,
                sym,
            });
        }
    }
    write_module(target, None, &symbols, &relocs, 3 * names.len() as u64)
}

/// Reads the answers of [`host_tls_module`] from its word array `words`.
pub(crate) fn host_tls_answers(names: &[(&[u8], bool)], words: &[u64]) -> Vec<Option<HostTls>> {
    names
        .iter()
        .enumerate()
        .map(|(i, &(_, tp))| {
            let w = |k: usize| words.get(3 * i + k).copied().unwrap_or(0);
            (w(0) != 0).then(|| HostTls {
                module: w(0),
                offset: w(1),
                tp_offset: tp.then_some(w(2) as i64),
            })
        })
        .collect()
}

/// The error for a module of host thread-locals that the loader refused: `msg` is its
/// message.
pub(crate) fn host_tls_error(names: &[(&[u8], bool)], msg: &str) -> Error {
    let list = |static_only: bool| {
        names
            .iter()
            .filter(|(_, tp)| *tp || !static_only)
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let what = if msg.contains("static TLS") {
        format!(
            "initial-exec (or TLS descriptor) access to host thread-local {}: the dynamic \
             loader cannot place its library's block in static TLS ({msg}); the library was \
             loaded after start-up and its block is already in dynamic use, or the static TLS \
             surplus is exhausted: compile with -fPIC (general-dynamic access) or raise \
             GLIBC_TUNABLES=glibc.rtld.optional_static_tls",
            list(true)
        )
    } else {
        format!(
            "resolving host thread-local {} with the dynamic loader: {msg}",
            list(false)
        )
    };
    Error::Unsupported {
        file: "<host thread-locals>".into(),
        what,
    }
}

/// A module loaded from memory by [`load_bytes`].
pub(crate) struct Loaded {
    /// Its `dlopen` handle.
    pub handle: *mut c_void,
    /// Its load bias.
    pub base: u64,
    /// Its memfd.
    pub fd: i32,
}

/// Writes `bytes` (a shared object) to a memfd and loads it with `dlopen(flags)`; the error is
/// the loader's message.
pub(crate) fn load_bytes(bytes: &[u8], flags: libc::c_int) -> std::result::Result<Loaded, String> {
    let name = CString::new("jitlink-module").unwrap_or_default();
    // SAFETY: memfd_create with a valid NUL-terminated name; the fd is closed on failure.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    let mut written = 0usize;
    while written < bytes.len() {
        // SAFETY: writing our own buffer to our own fd.
        let n = unsafe {
            libc::write(
                fd,
                bytes[written..].as_ptr().cast::<c_void>(),
                bytes.len() - written,
            )
        };
        if n <= 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            return Err(format!("writing the module: {e}"));
        }
        written += n as usize;
    }
    let path = CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default();
    // SAFETY: dlopen of the object just written; it has no initializers and no dependencies.
    let handle = unsafe { libc::dlopen(path.as_ptr(), flags) };
    if handle.is_null() {
        // SAFETY: the load failed; the fd is ours to close.
        unsafe { libc::close(fd) };
        // SAFETY: dlerror returns NULL or a NUL-terminated message.
        let msg = unsafe { libc::dlerror() };
        return Err(if msg.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: non-null, NUL-terminated.
            unsafe { std::ffi::CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        });
    }
    // The load address: the first member of glibc's `struct link_map` is `l_addr`.
    let mut map: *mut c_void = std::ptr::null_mut();
    const RTLD_DI_LINKMAP: libc::c_int = 2;
    // SAFETY: `handle` is a live dlopen handle and `map` a valid out-pointer.
    if unsafe {
        libc::dlinfo(
            handle,
            RTLD_DI_LINKMAP,
            (&mut map as *mut *mut c_void).cast(),
        )
    } != 0
        || map.is_null()
    {
        return Err("dlinfo on the module failed".into());
    }
    // SAFETY: `map` points at the loader's link_map, whose first field is the load bias.
    let base = unsafe { *(map as *const u64) };
    Ok(Loaded { handle, base, fd })
}

/// Where the host's thread-local variables `names` are (each with whether its offset from the
/// thread pointer is needed), as the host's dynamic loader resolves them: see
/// [`host_tls_module`]. `None` for a name no loaded library defines.
pub fn resolve_host(names: &[(&[u8], bool)]) -> Result<Vec<Option<HostTls>>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let (bytes, words_at) = host_tls_module(TlsTarget::for_arch(ArchKind::HOST), names);
    let m = load_bytes(&bytes, libc::RTLD_NOW | libc::RTLD_LOCAL)
        .map_err(|msg| host_tls_error(names, &msg))?;
    let words: Vec<u64> = (0..3 * names.len() as u64)
        // SAFETY: the word array lies in the module's writable PT_LOAD segment, relocated by
        // the loader.
        .map(|i| unsafe { std::ptr::read_volatile((m.base + words_at + 8 * i) as *const u64) })
        .collect();
    // The module has served: what it made the loader do (a library's block placed in static
    // TLS) stays.
    // SAFETY: the handle is live and nothing refers into the module; then its fd is ours.
    unsafe {
        libc::dlclose(m.handle);
        libc::close(m.fd);
    }
    Ok(host_tls_answers(names, &words))
}

/// Loads a TLS module with `image` as initialized data and `total` bytes in all.
pub fn load_module(image: &[u8], total: u64, align: u64, static_tls: bool) -> Result<TlsValues> {
    let err = |what: String| Error::Unsupported {
        file: "<thread-local storage>".into(),
        what,
    };
    let target = TlsTarget::for_arch(ArchKind::HOST);
    let TlsModule {
        bytes,
        module_at: modid_at,
        tp_offset_at: tpoff_at,
    } = build_module(target, image, total, align, static_tls);
    // The fd stays open for the life of the process, like the module: glibc recognizes loaded
    // objects by name first, and a reused fd number would make the next module's path equal to
    // this one's, so that dlopen would return this module again.
    let m = match load_bytes(&bytes, libc::RTLD_NOW | libc::RTLD_LOCAL) {
        Ok(m) => m,
        Err(msg) if static_tls && msg.contains("static TLS") => {
            return Err(Error::StaticTlsExhausted {
                inputs: String::new(),
                needed: total,
            })
        }
        Err(msg) => return Err(err(format!("loading the TLS module: {msg}"))),
    };
    let base = m.base;
    // SAFETY: both words lie in the object's writable PT_LOAD segment, relocated by the loader.
    let module = unsafe { std::ptr::read_volatile((base + modid_at) as *const u64) };
    let tp_offset = if static_tls {
        // SAFETY: as above.
        unsafe { std::ptr::read_volatile((base + tpoff_at) as *const i64) }
    } else {
        0
    };
    Ok(TlsValues { module, tp_offset })
}
