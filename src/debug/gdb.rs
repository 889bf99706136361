//! The GDB JIT interface: the process defines `__jit_debug_descriptor` and
//! `__jit_debug_register_code`; gdb reads the descriptor's list of in-memory object files
//! ("symbol files") at startup and sets a breakpoint on the function, which the JIT calls after
//! each change with the changed entry and the action in the descriptor.
//!
//! What jitlink registers: for each input object of a linked set, an image of the object with
//! every loaded section's `sh_addr` set to its final address (the approach of LLVM's RuntimeDyld
//! for ELF). gdb reads such an `ET_REL` file as a relocatable object placed at those addresses:
//! symbol addresses are section address + `st_value`, and it applies the relocations of the
//! debug sections itself, so DWARF line tables and frame information describe the linked code.
//!
//! Sections that are not in memory (discarded COMDAT copies) or not at an address (TLS
//! sections) lose `SHF_ALLOC` in the image, and global symbols defined in discarded sections
//! become undefined: gdb then drops the discarded copies' DWARF functions, whose address is 0, as
//! it does for a static linker's output (it keeps functions at 0 when a loaded section is
//! there), and sees one definition of each function.
//!
//! An image is a copy on the heap, or, for objects of 64 KiB or more mapped
//! from a file (archive members included), a private copy-on-write mapping of the same file
//! range, so that only the patched pages are copied.
//!
//! The list is process-global (gdb reads one descriptor), so every change takes one lock.

use std::ptr::null_mut;
use std::sync::Mutex;

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::LittleEndian as LE;

use crate::builder::elf::LoadedObject;
use crate::graph::LinkGraph;
use jitlink_arch::Arch;

const JIT_NOACTION: u32 = 0;
const JIT_REGISTER_FN: u32 = 1;
const JIT_UNREGISTER_FN: u32 = 2;

/// One entry of gdb's list (`struct jit_code_entry` in gdb's documentation).
#[repr(C)]
struct JitCodeEntry {
    next: *mut JitCodeEntry,
    prev: *mut JitCodeEntry,
    symfile_addr: *const u8,
    symfile_size: u64,
}

/// The descriptor gdb reads (`struct jit_descriptor`).
#[repr(C)]
pub struct JitDescriptor {
    version: u32,
    action_flag: u32,
    relevant_entry: *mut JitCodeEntry,
    first_entry: *mut JitCodeEntry,
}

/// gdb finds the list here, by name.
#[no_mangle]
#[used]
pub static mut __jit_debug_descriptor: JitDescriptor = JitDescriptor {
    version: 1,
    action_flag: JIT_NOACTION,
    relevant_entry: null_mut(),
    first_entry: null_mut(),
};

/// gdb sets a breakpoint here and reads the descriptor when it is hit. It must stay a real,
/// separate function: the empty `asm!` counts as a side effect, so the call is never removed
/// or merged.
#[no_mangle]
#[inline(never)]
pub extern "C" fn __jit_debug_register_code() {
    // SAFETY: an empty assembly block: no instructions, no memory or register effects.
    unsafe { std::arch::asm!("", options(nostack, preserves_flags)) };
}

/// Serializes changes to the descriptor's list.
static LIST_LOCK: Mutex<()> = Mutex::new(());

/// The objects of one linked set registered with gdb; unregistered when dropped.
pub struct GdbRegistration {
    /// Entries (leaked boxes, owned here) and the images they point to.
    entries: Vec<(*mut JitCodeEntry, Image)>,
}

/// An input object mapped from a file: its image can be a private (copy-on-write) mapping of
/// the same file, so that only the pages patched are copied.
#[derive(Debug, Clone, Copy)]
pub struct FileBacked<'a> {
    /// The mapped bytes of the whole file: a [`crate::builder::Bytes::Mapped`] (registration
    /// gives the pages of each object back once its image is made).
    pub bytes: &'a [u8],
    /// The file's path.
    pub path: &'a str,
}

/// The bytes gdb reads for one object.
enum Image {
    /// A copy on the heap.
    Copied(Box<[u8]>),
    /// A private mapping of the input's file, the object at `offset`.
    Mapped {
        map: memmap2::MmapMut,
        offset: usize,
        len: usize,
    },
}

impl Image {
    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Image::Copied(b) => b,
            Image::Mapped { map, offset, len } => &mut map[*offset..*offset + *len],
        }
    }
}

// SAFETY: the entries are only read or written under `LIST_LOCK` (or by gdb while the process is
// stopped); the registration owns them and their images exclusively.
unsafe impl Send for GdbRegistration {}
// SAFETY: `&GdbRegistration` gives no access to the entries.
unsafe impl Sync for GdbRegistration {}

impl GdbRegistration {
    /// Registers one image per input object of the linked graph `g`.
    /// Objects that lie in `files` are mapped privately from their file rather than copied.
    pub fn register<A: Arch>(
        g: &LinkGraph<'_, A>,
        objects: &[LoadedObject<'_>],
        files: &[FileBacked<'_>],
    ) -> Self {
        let images: Vec<Image> = objects
            .iter()
            .filter_map(|o| {
                let image = debug_image(g, o, files);
                // The image is made: what it read of the input file need not stay resident.
                if files.iter().any(|f| contains(f.bytes, o.data)) {
                    // SAFETY: `files` are the read-only file mappings of the link's inputs
                    // (`Bytes::Mapped`), and the object lies inside one of them.
                    unsafe { crate::builder::release_mapped(o.data) };
                }
                image
            })
            .collect();
        let mut entries = Vec::with_capacity(images.len());
        let _guard = LIST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        for mut image in images {
            let bytes = image.bytes_mut();
            let entry = Box::into_raw(Box::new(JitCodeEntry {
                next: null_mut(),
                prev: null_mut(),
                symfile_addr: bytes.as_ptr(),
                symfile_size: bytes.len() as u64,
            }));
            // SAFETY: `entry` is a fresh allocation; the descriptor and the list it heads are
            // only changed under `LIST_LOCK`, which is held; the image stays alive (owned by the
            // registration) until the entry is unlinked.
            unsafe {
                let d = &raw mut __jit_debug_descriptor;
                let first = (*d).first_entry;
                (*entry).next = first;
                if !first.is_null() {
                    (*first).prev = entry;
                }
                (*d).first_entry = entry;
                (*d).relevant_entry = entry;
                (*d).action_flag = JIT_REGISTER_FN;
            }
            __jit_debug_register_code();
            entries.push((entry, image));
        }
        GdbRegistration { entries }
    }
}

impl Drop for GdbRegistration {
    fn drop(&mut self) {
        let _guard = LIST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        for (entry, _image) in self.entries.drain(..).rev() {
            // SAFETY: `entry` was linked into the list by `register` and not unlinked since;
            // the list is only changed under `LIST_LOCK`, which is held. gdb reads the entry
            // during the call, so it is freed after it.
            unsafe {
                let d = &raw mut __jit_debug_descriptor;
                let (prev, next) = ((*entry).prev, (*entry).next);
                if prev.is_null() {
                    (*d).first_entry = next;
                } else {
                    (*prev).next = next;
                }
                if !next.is_null() {
                    (*next).prev = prev;
                }
                (*d).relevant_entry = entry;
                (*d).action_flag = JIT_UNREGISTER_FN;
                __jit_debug_register_code();
                (*d).relevant_entry = null_mut();
                (*d).action_flag = JIT_NOACTION;
                drop(Box::from_raw(entry));
            }
        }
    }
}

/// The images in gdb's list, as `(address, size)`, newest first.
pub fn registered_images() -> Vec<(u64, u64)> {
    let _guard = LIST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::new();
    // SAFETY: the list is only changed under `LIST_LOCK`, which is held; every entry in it is a
    // live allocation owned by a registration.
    unsafe {
        let d = &raw const __jit_debug_descriptor;
        let mut e = (*d).first_entry;
        while !e.is_null() {
            out.push(((*e).symfile_addr as u64, (*e).symfile_size));
            e = (*e).next;
        }
    }
    out
}

/// Objects at least this large are mapped from their file rather than copied.
const MAP_THRESHOLD: usize = 64 << 10;

/// Size of an `Elf64_Shdr` and the offsets of its `sh_flags` and `sh_addr`.
const SHDR_SIZE: usize = 64;
const SH_TYPE: usize = 4;
const SH_FLAGS: usize = 8;
const SH_ADDR: usize = 16;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
/// Offset of `e_shoff` in the ELF header.
const E_SHOFF: usize = 40;
/// Size of an `Elf64_Sym`, and the offsets of `st_info`, `st_shndx` and `st_value`.
const SYM_SIZE: usize = 24;
const ST_INFO: usize = 4;
const ST_SHNDX: usize = 6;
const ST_VALUE: usize = 8;

/// The image of one object (see the module documentation). `None` if the object cannot be
/// patched (it was read once already, so this only guards against surprises): it is then not
/// registered.
fn debug_image<A: Arch>(
    g: &LinkGraph<'_, A>,
    o: &LoadedObject<'_>,
    files: &[FileBacked<'_>],
) -> Option<Image> {
    let header = elf::FileHeader64::<LE>::parse(o.data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, o.data).ok()?;
    let shoff = usize::try_from(header.e_shoff(endian)).ok()?;
    if usize::from(header.e_shentsize(endian)) != SHDR_SIZE {
        return None;
    }
    let table = shoff..shoff.checked_add(sections.len().checked_mul(SHDR_SIZE)?)?;
    // Small objects are copied: that costs about what a mapping does (both touch fresh
    // pages), and keeps the number of mappings in the process down.
    let mapped = (o.data.len() >= MAP_THRESHOLD)
        .then(|| map_privately(o.data, files, table))
        .flatten();
    let (mut owner, shoff) = match mapped {
        Some(m) => (m, shoff),
        None => compact_copy(o.data, endian, &sections)?,
    };
    let image = owner.bytes_mut();
    for (i, (sh, block)) in sections.iter().zip(&o.blocks).enumerate() {
        let header = shoff.checked_add(i.checked_mul(SHDR_SIZE)?)?;
        let flags = sh.sh_flags(endian);
        let placed = match *block {
            Some(b) if !g.is_tls_block(b) => Some(g.blocks[b.index()].addr),
            _ => None,
        };
        match placed {
            Some(addr) => {
                let at = header.checked_add(SH_ADDR)?;
                image
                    .get_mut(at..at.checked_add(8)?)?
                    .copy_from_slice(&addr.to_le_bytes());
            }
            None if flags & u64::from(elf::SHF_ALLOC) != 0 => {
                // Not in memory (a discarded COMDAT member) or at an offset in the TLS block:
                // not loaded as far as gdb is concerned. An allocated section at address 0
                // would make gdb keep the DWARF functions of discarded copies at address 0
                // (it drops functions at 0 only when no section is loaded there).
                let at = header.checked_add(SH_FLAGS)?;
                let cleared = flags & !u64::from(elf::SHF_ALLOC);
                image
                    .get_mut(at..at.checked_add(8)?)?
                    .copy_from_slice(&cleared.to_le_bytes());
            }
            None => {}
        }
    }
    if o.discarded.iter().any(|&d| d) {
        for (i, sh) in sections.iter().enumerate() {
            if sh.sh_type(endian) != elf::SHT_SYMTAB {
                continue;
            }
            // The symbol table's offset in the image (a compact copy moves it).
            let header = shoff.checked_add(i.checked_mul(SHDR_SIZE)?)?;
            let at = image.get(header + SH_OFFSET..header + SH_OFFSET + 8)?;
            let start = u64::from_le_bytes(at.try_into().ok()?);
            let size = sh.sh_size(endian);
            let start = usize::try_from(start).ok()?;
            let size = usize::try_from(size).ok()?;
            let table = image.get_mut(start..start.checked_add(size)?)?;
            for sym in table.chunks_exact_mut(SYM_SIZE) {
                let info = sym[ST_INFO];
                let shndx = usize::from(u16::from_le_bytes([sym[ST_SHNDX], sym[ST_SHNDX + 1]]));
                let global = info >> 4 != elf::STB_LOCAL;
                if global && o.discarded.get(shndx).copied().unwrap_or(false) {
                    sym[ST_SHNDX..ST_SHNDX + 2].copy_from_slice(&0u16.to_le_bytes());
                    sym[ST_VALUE..ST_VALUE + 8].copy_from_slice(&0u64.to_le_bytes());
                }
            }
        }
    }
    Some(owner)
}

/// A copy of the object with what gdb reads from it: the ELF header, the symbol and string
/// tables, the sections not loaded into memory (DWARF and its relocations) and `.eh_frame`
/// (gdb unwinds with it when there is no `.debug_frame`), and the section header table, placed
/// after them. The contents of loaded code and data sections, and their relocations, are left
/// out (`SHT_NOBITS`, and empty relocation sections): gdb reads code and data from the
/// process. Returns the image and the offset of its section header table; `None` if the
/// object's layout is not as it was when the link read it.
fn compact_copy(
    data: &[u8],
    endian: LE,
    sections: &object::read::elf::SectionTable<'_, elf::FileHeader64<LE>>,
) -> Option<(Image, usize)> {
    // gdb unwinds with `.eh_frame` when there is no `.debug_frame`: it stays, with its
    // relocations, although it is loaded.
    let is_eh_frame = |sh: &elf::SectionHeader64<LE>| {
        sh.sh_type(endian) == elf::SHT_X86_64_UNWIND
            || sections
                .section_name(endian, sh)
                .is_ok_and(|n| n == b".eh_frame")
    };
    let dropped = |sh: &elf::SectionHeader64<LE>| {
        sh.sh_flags(endian) & u64::from(elf::SHF_ALLOC) != 0 && !is_eh_frame(sh)
    };
    let mut out = data.get(..64)?.to_vec();
    let mut headers: Vec<u8> = Vec::with_capacity(sections.len() * SHDR_SIZE);
    for sh in sections.iter() {
        let mut h = object::bytes_of(sh).to_vec();
        let ty = sh.sh_type(endian);
        let relocates_dropped = matches!(ty, elf::SHT_RELA | elf::SHT_REL)
            && sections
                .section(object::SectionIndex(sh.sh_info(endian) as usize))
                .is_ok_and(dropped);
        if relocates_dropped {
            h[SH_OFFSET..SH_OFFSET + 8].copy_from_slice(&0u64.to_le_bytes());
            h[SH_SIZE..SH_SIZE + 8].copy_from_slice(&0u64.to_le_bytes());
        } else if dropped(sh) {
            if ty != elf::SHT_NOBITS {
                h[SH_TYPE..SH_TYPE + 4].copy_from_slice(&elf::SHT_NOBITS.to_le_bytes());
            }
            h[SH_OFFSET..SH_OFFSET + 8].copy_from_slice(&0u64.to_le_bytes());
        } else if ty != elf::SHT_NULL && ty != elf::SHT_NOBITS {
            let (start, size) = sh.file_range(endian)?;
            let start = usize::try_from(start).ok()?;
            let bytes = data.get(start..start.checked_add(usize::try_from(size).ok()?)?)?;
            let align = usize::try_from(sh.sh_addralign(endian))
                .ok()?
                .clamp(1, 4096);
            out.resize(out.len().next_multiple_of(align), 0);
            h[SH_OFFSET..SH_OFFSET + 8].copy_from_slice(&(out.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        headers.extend_from_slice(&h);
    }
    out.resize(out.len().next_multiple_of(8), 0);
    let shoff = out.len();
    out.extend_from_slice(&headers);
    out.get_mut(E_SHOFF..E_SHOFF + 8)?
        .copy_from_slice(&(shoff as u64).to_le_bytes());
    Some((Image::Copied(out.into_boxed_slice()), shoff))
}

/// A private mapping of the file that `data` was mapped from, if it is one of `files` and still
/// holds the same ELF header and section header table (`table`) as the bytes the link used.
/// `None` means: copy instead.
/// True if `part` lies inside `whole`.
fn contains(whole: &[u8], part: &[u8]) -> bool {
    let (base, start) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    start >= base && start + part.len() <= base + whole.len()
}

fn map_privately(
    data: &[u8],
    files: &[FileBacked<'_>],
    table: std::ops::Range<usize>,
) -> Option<Image> {
    let start = data.as_ptr() as usize;
    let file = files.iter().find(|f| contains(f.bytes, data))?;
    let in_file = start - file.bytes.as_ptr() as usize;
    let page = region::page::size();
    let aligned = in_file - in_file % page;
    let offset = in_file - aligned;
    let handle = std::fs::File::open(file.path).ok()?;
    if handle.metadata().ok()?.len() != file.bytes.len() as u64 {
        return None;
    }
    // SAFETY: a private (copy-on-write) mapping: writes go to this process's pages, never to the
    // file. If another process changes the file, unpatched pages may show the change, as the
    // input's own mapping would; the headers are compared below.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(aligned as u64)
            .len(offset + data.len())
            .map_copy(&handle)
    }
    .ok()?;
    let copy = &map[offset..];
    let same =
        |r: std::ops::Range<usize>| copy.get(r.clone()).is_some_and(|c| Some(c) == data.get(r));
    if !same(0..64) || !same(table) {
        return None;
    }
    Some(Image::Mapped {
        map,
        offset,
        len: data.len(),
    })
}
