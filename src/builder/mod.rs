//! Object files → LinkGraph. Format-independent input handling lives here; each format's quirks
//! live in its own file (`elf.rs`, `macho.rs`, `coff.rs`), and static archives in `archive.rs`.
//!
//! The driver matches once on the architecture; the format is a second, inner dimension that
//! [`add_object`] dispatches on, so a graph of one architecture may hold objects of any format.

pub mod archive;
pub mod coff;
pub mod elf;
pub mod macho;

use std::ops::Deref;

use jitlink_arch::Arch;
use std::path::Path;

use crate::error::{malformed, Error, Result};
use crate::graph::{Content, Def, LinkGraph, Linkage, Perm, Scope, SectionRole, Symbol, SymbolId};
use crate::target::ArchKind;

/// The bytes of an input: a read-only file mapping or an owned buffer.
pub enum Bytes {
    /// A mapped file.
    Mapped(memmap2::Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
    /// Bytes shared by several links (lazy linking builds one object's graph more than once).
    Shared(std::sync::Arc<Bytes>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
            Bytes::Shared(b) => b,
        }
    }
}

impl Bytes {
    /// Maps `path` read-only (empty files are read, since they cannot be mapped).
    pub fn map_file(path: &Path) -> Result<Bytes> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        // SAFETY: the mapping is private and read-only. jitlink never writes it; if another
        // process truncates the file while it is mapped, reads may fault, which is the documented
        // contract of linking from files (the same holds for every mmap-based linker).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Bytes::Mapped(map))
    }
}

/// What kind of input a byte string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// An ELF relocatable object.
    Elf,
    /// A Mach-O relocatable object (64-bit, little-endian).
    MachO,
    /// A COFF relocatable object.
    Coff,
    /// A static archive.
    Archive,
}

/// Recognizes an input by its magic bytes.
pub fn detect(file: &str, data: &[u8]) -> Result<InputKind> {
    if elf::is_elf(data) {
        Ok(InputKind::Elf)
    } else if macho::is_macho(data) {
        Ok(InputKind::MachO)
    } else if coff::is_coff(data) {
        Ok(InputKind::Coff)
    } else if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
        Ok(InputKind::Archive)
    } else {
        Err(Error::UnknownFormat {
            file: file.to_string(),
        })
    }
}

/// Builder state kept across the objects of one graph, for every format.
#[derive(Default)]
pub struct BuildState<'a> {
    /// ELF: COMDAT signatures seen, shared symbols.
    pub elf: elf::ElfState<'a>,
    /// Mach-O: nothing beyond the graph yet, but kept for symmetry of the dispatch.
    pub macho: macho::MachOState,
    /// COFF: COMDAT leaders, edges lowered after layout, `__ImageBase`.
    pub coff: coff::CoffState<'a>,
}

/// The calling convention of the code in a graph, which decides what host functions it may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAbi {
    /// The host's own convention (ELF and Mach-O on x86-64 Linux: System V).
    Native,
    /// Windows x64 (COFF objects): host functions are offered only through win64 thunks.
    Win64,
}

impl<'a> BuildState<'a> {
    /// The convention of the graph's code: Windows x64 as soon as it holds an x86-64 COFF
    /// object.
    pub fn host_abi(&self) -> HostAbi {
        if self.coff.win64_objects > 0 {
            HostAbi::Win64
        } else {
            HostAbi::Native
        }
    }

    /// Format-specific work once every block has its address (`base` is the lowest address of
    /// the graph's allocation): COFF image-relative and section-relative edges.
    pub fn after_layout<A: Arch>(&self, g: &mut LinkGraph<'a, A>, base: u64) -> Result<()> {
        coff::lower(&self.coff, g, base)
    }
}

/// An architecture that objects of every supported format can target.
pub trait ObjectArch: elf::ElfArch + macho::MachOArch + coff::CoffArch {}
impl<A: elf::ElfArch + macho::MachOArch + coff::CoffArch> ObjectArch for A {}

/// Adds one relocatable object of any supported format to `graph`.
pub fn add_object<'a, A: ObjectArch>(
    graph: &mut LinkGraph<'a, A>,
    state: &mut BuildState<'a>,
    file: &str,
    data: &'a [u8],
) -> Result<()> {
    match detect(file, data)? {
        InputKind::Elf => elf::add_object(graph, &mut state.elf, file, data),
        InputKind::MachO => macho::add_object(graph, &mut state.macho, file, data),
        InputKind::Coff => coff::add_object(graph, &mut state.coff, file, data),
        InputKind::Archive => Err(Error::Unsupported {
            file: file.to_string(),
            what: "an archive inside an archive".into(),
        }),
    }
}

/// `(sections, symbols)` an object will add to a graph (see [`elf::size_hint`]); `(0, 0)` for
/// formats without a cheap estimate.
pub fn size_hint(data: &[u8]) -> (usize, usize) {
    if elf::is_elf(data) {
        elf::size_hint(data)
    } else {
        (0, 0)
    }
}

/// The architecture an object targets, whatever its format (ELF machines, Mach-O CPU types and
/// COFF machines map to [`ArchKind`]).
pub fn arch(file: &str, data: &[u8]) -> Result<ArchKind> {
    let unknown = |what: String| Error::Unsupported {
        file: file.to_string(),
        what,
    };
    match detect(file, data)? {
        InputKind::Elf => {
            use object::read::elf::FileHeader;
            let h = object::elf::FileHeader64::<object::LittleEndian>::parse(data)
                .map_err(|e| malformed(file, e))?;
            let endian = h.endian().map_err(|e| malformed(file, e))?;
            let m = h.e_machine(endian);
            ArchKind::from_elf(m).ok_or_else(|| unknown(format!("ELF machine {m}")))
        }
        InputKind::MachO => match macho::cpu_type(file, data)? {
            object::macho::CPU_TYPE_X86_64 => Ok(ArchKind::X86_64),
            object::macho::CPU_TYPE_ARM64 => Ok(ArchKind::AArch64),
            other => Err(unknown(format!("Mach-O CPU type {other:#x}"))),
        },
        InputKind::Coff => match coff::machine(file, data)? {
            object::pe::IMAGE_FILE_MACHINE_AMD64 => Ok(ArchKind::X86_64),
            object::pe::IMAGE_FILE_MACHINE_ARM64 => Ok(ArchKind::AArch64),
            other => Err(unknown(format!("COFF machine {other:#x}"))),
        },
        InputKind::Archive => Err(unknown("an archive has no machine of its own".into())),
    }
}

/// The symbol a builder keeps in `slot` (created with `def` on first use): the null symbol,
/// the symbol of discarded content.
pub(crate) fn cached_symbol<'a, A: Arch>(
    graph: &mut LinkGraph<'a, A>,
    slot: &mut Option<SymbolId>,
    def: Def,
) -> SymbolId {
    *slot.get_or_insert_with(|| graph.add_symbol(anonymous(def)))
}

/// A local anonymous symbol made by the linker.
pub(crate) fn anonymous<'a>(def: Def) -> Symbol<'a> {
    Symbol {
        name: b"",
        def,
        size: 0,
        scope: Scope::Local,
        linkage: Linkage::Strong,
        callable: false,
        weak_ref: false,
        input: crate::graph::SYNTHETIC,
    }
}

/// Enters a tentative (common) definition of `name`: `size` zero bytes aligned to `align`,
/// unless a definition that wins over it exists (a strong or weak one, or a larger common).
pub(crate) fn define_common<'a, A: Arch>(
    graph: &mut LinkGraph<'a, A>,
    file: &str,
    mut new: Symbol<'a>,
    align: u64,
) -> Result<SymbolId> {
    let align = align.max(1);
    if !align.is_power_of_two() {
        return Err(malformed(
            file,
            format!(
                "common symbol {} has alignment {align}",
                String::from_utf8_lossy(new.name)
            ),
        ));
    }
    if let Some(&existing) = graph.globals.get(new.name) {
        let old = &graph.symbols[existing.index()];
        let keep = match (old.def, old.linkage) {
            (Def::External, _) => false,
            (_, Linkage::Common) => old.size >= new.size,
            (_, Linkage::Weak) => false,
            _ => true,
        };
        if keep {
            return Ok(existing);
        }
    }
    let sec = graph.section("COMMON", Perm::ReadWrite, SectionRole::Plain);
    let block = graph.add_block(sec, Content::Zero(new.size), align, new.input);
    new.def = Def::Block { block, offset: 0 };
    new.linkage = Linkage::Common;
    graph.define(new)
}

/// The section `name` with `perm` and `role`; if a section of that name exists with another
/// protection or role (Mach-O's `__TEXT,__const` and `__DATA,__const`), `fallback(perm)`.
pub(crate) fn section_for<'a, A: Arch>(
    graph: &mut LinkGraph<'a, A>,
    name: &'a str,
    perm: Perm,
    role: SectionRole,
    fallback: fn(Perm) -> &'static str,
) -> crate::graph::SectionId {
    let id = graph.section(name, perm, role);
    let sec = &graph.sections[id.index()];
    if sec.perm == perm && sec.role == role {
        return id;
    }
    graph.section(fallback(perm), perm, role)
}

/// Records what an edge of `kind` asks of the whole graph: placement in the low 2 GiB for
/// 32-bit absolute references, static TLS for thread-pointer-relative ones.
pub(crate) fn note_requirements<A: Arch>(graph: &mut LinkGraph<'_, A>, kind: A::EdgeKind) {
    use jitlink_arch::{EdgeRole, Reach, TlsEntry};
    match A::role(kind) {
        EdgeRole::Data(Reach::Abs32) => graph.needs_low = true,
        EdgeRole::TlsRequest {
            entry: TlsEntry::TpOffset | TlsEntry::Descriptor,
            ..
        } => graph.needs_static_tls = true,
        _ if A::is_tp_relative(kind) => graph.needs_static_tls = true,
        _ => {}
    }
}
