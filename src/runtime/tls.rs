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
    /// The relocation that yields the module id (`R_X86_64_DTPMOD64`, `R_AARCH64_TLS_DTPMOD`).
    pub dtpmod: u32,
    /// The relocation that yields the offset from the thread pointer (`R_X86_64_TPOFF64`,
    /// `R_AARCH64_TLS_TPREL`).
    pub tpoff: u32,
}

impl TlsTarget {
    /// The module format for `arch`.
    pub fn for_arch(arch: ArchKind) -> Self {
        use object::elf;
        let machine = arch.elf_machine();
        match arch {
            ArchKind::X86_64 => TlsTarget {
                machine,
                dtpmod: elf::R_X86_64_DTPMOD64,
                tpoff: elf::R_X86_64_TPOFF64,
            },
            ArchKind::AArch64 => TlsTarget {
                machine,
                dtpmod: elf::R_AARCH64_TLS_DTPMOD,
                tpoff: elf::R_AARCH64_TLS_TPREL,
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

/// Builds the shared object for `target`, holding `image` as the block's initialized data and
/// `total` bytes in all; with `static_tls`, the loader is asked for a static block.
pub fn build_module(
    target: TlsTarget,
    image: &[u8],
    total: u64,
    align: u64,
    static_tls: bool,
) -> TlsModule {
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let phnum = 4u64;
    let dyn_off = EHDR + phnum * PHDR;
    let ndyn = 9u64;
    let sym_off = dyn_off + ndyn * 16;
    let str_off = sym_off + 24;
    let rela_off = (str_off + 1).next_multiple_of(8);
    let nrela = if static_tls { 2 } else { 1 };
    let words_off = rela_off + nrela * 24;
    let align = align.max(16);
    let image_off = (words_off + 16).next_multiple_of(align);
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
    push(&mut f, 0u32); // e_flags
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
    phdr(&mut f, 7, 4, image_off, image.len() as u64, total, align); // PT_TLS
                                                                     // PT_GNU_STACK, rw-: without it, glibc assumes the object needs an executable stack and
                                                                     // makes the whole process's stack writable and executable when the module is loaded.
    phdr(&mut f, 0x6474_e551, 6, 0, 0, 0, 16);
    // Dynamic section.
    let dynamic = [
        (6u64, sym_off), // DT_SYMTAB
        (5, str_off),    // DT_STRTAB
        (10, 1),         // DT_STRSZ
        (11, 24),        // DT_SYMENT
        (7, rela_off),   // DT_RELA
        (8, nrela * 24), // DT_RELASZ
        (9, 24),         // DT_RELAENT
        // DT_FLAGS without DF_STATIC_TLS: the TPOFF64 relocation below asks for static TLS
        // through the path that also initializes the block in threads that already exist.
        (30, 0),
        (0, 0), // DT_NULL
    ];
    for (tag, val) in dynamic {
        push(&mut f, tag);
        push(&mut f, val);
    }
    f.extend_from_slice(&[0u8; 24]); // the null symbol
    f.push(0); // the empty string table
    f.resize(rela_off as usize, 0);
    // r_offset, r_info (symbol 0: this object's own block), r_addend.
    push(&mut f, words_off);
    push(&mut f, u64::from(target.dtpmod));
    push(&mut f, 0i64);
    if static_tls {
        push(&mut f, words_off + 8);
        push(&mut f, u64::from(target.tpoff));
        push(&mut f, 0i64);
    }
    f.resize(image_off as usize, 0);
    f.extend_from_slice(image);
    TlsModule {
        bytes: f,
        module_at: words_off,
        tp_offset_at: words_off + 8,
    }
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

    let name = CString::new("jitlink-tls").unwrap_or_default();
    // SAFETY: memfd_create with a valid NUL-terminated name; the fd is closed below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(err(format!(
            "memfd_create: {}",
            std::io::Error::last_os_error()
        )));
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
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            return Err(err(format!(
                "writing the TLS module: {}",
                std::io::Error::last_os_error()
            )));
        }
        written += n as usize;
    }
    let path = CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default();
    // SAFETY: dlopen of the object just written; it has no initializers and no dependencies.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    // The fd stays open for the life of the process, like the module: glibc recognizes loaded
    // objects by name first, and a reused fd number would make the next module's path equal to
    // this one's, so that dlopen would return this module again.
    if handle.is_null() {
        // SAFETY: the load failed; the fd is ours to close.
        unsafe { libc::close(fd) };
        // SAFETY: dlerror returns NULL or a NUL-terminated message.
        let msg = unsafe { libc::dlerror() };
        let msg = if msg.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: non-null, NUL-terminated.
            unsafe { std::ffi::CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        };
        if static_tls && msg.contains("static TLS") {
            return Err(Error::StaticTlsExhausted {
                inputs: String::new(),
                needed: total,
            });
        }
        return Err(err(format!("loading the TLS module: {msg}")));
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
        return Err(err("dlinfo on the TLS module failed".into()));
    }
    // SAFETY: `map` points at the loader's link_map, whose first field is the load bias.
    let base = unsafe { *(map as *const u64) };
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
