//! Pipeline stage 1, build: takes object bytes, adds their sections, symbols and edges to the
//! set's `LinkGraph`.
//!
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
use crate::graph::{BlockId, Content, Def, InputId, LinkGraph, Linkage, Perm, Scope, SectionRole};
use crate::graph::{Symbol, SymbolId};
use crate::target::ArchKind;

/// The bytes of an input: a read-only file mapping or an owned buffer.
#[non_exhaustive]
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
        // Reads jump around (an archive's index, then the members it names): no read-ahead and
        // no fault-around, so that only the pages read count in the process's memory.
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Bytes::Mapped(map))
    }

    /// Like [`Bytes::release_pages`] for the pages that lie wholly inside `part`, if `part` is
    /// a part of these bytes; false if it is not.
    pub fn release_within(&self, part: &[u8]) -> bool {
        let (start, end) = (self.as_ptr() as usize, self.as_ptr() as usize + self.len());
        let (p, q) = (part.as_ptr() as usize, part.as_ptr() as usize + part.len());
        if part.is_empty() || p < start || q > end {
            return false;
        }
        match self {
            // SAFETY: `part` lies inside this read-only file mapping.
            Bytes::Mapped(_) => unsafe { release_mapped(part) },
            Bytes::Owned(_) => {}
            Bytes::Shared(b) => {
                b.release_within(part);
            }
        }
        true
    }

    /// Gives the pages of a mapped file back to the kernel: the process keeps the mapping,
    /// which reads the same bytes again from the page cache on its next access. A link calls it
    /// once the graph is built (relocations and symbol tables are never read again) and once
    /// the set is committed (its bytes are in the image), so that neither the link's peak
    /// memory nor the running program carries the inputs. Bytes in memory stay as they are.
    pub fn release_pages(&self) {
        match self {
            Bytes::Mapped(m) => {
                // SAFETY: the mapping is private, read-only and never written, so none of its
                // pages holds anything but the file's bytes: dropping them changes no byte
                // any reference into the mapping sees (the next read faults the same bytes in
                // from the page cache). A concurrent change of the file on disk is the
                // contract of `map_file` either way.
                let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
            }
            Bytes::Owned(_) => {}
            Bytes::Shared(b) => b.release_pages(),
        }
    }
}

/// Gives back the pages that lie wholly inside `part` (see [`Bytes::release_pages`]).
///
/// # Safety
///
/// `part` must lie inside a read-only mapping of a file that nothing writes (a
/// [`Bytes::Mapped`]).
pub(crate) unsafe fn release_mapped(part: &[u8]) {
    let (p, q) = (part.as_ptr() as usize, part.as_ptr() as usize + part.len());
    let page = region::page::size();
    let (from, to) = (p.next_multiple_of(page), q - q % page);
    if from < to {
        // SAFETY: [from, to) lies inside a read-only file mapping that nothing writes (the
        // caller's contract): as for `release_pages`, dropping its pages changes no byte that
        // any reference into the mapping sees.
        let _ = unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
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
    } else if macho::is_fat(data) {
        // A universal file is what its first slice is (the link selects its own slice).
        match macho::fat_slices(file, data)?.first() {
            Some(&(_, slice)) if !macho::is_fat(slice) => detect(file, slice),
            _ => Err(Error::UnknownFormat {
                file: file.to_string(),
            }),
        }
    } else {
        Err(Error::UnknownFormat {
            file: file.to_string(),
        })
    }
}

/// Builder state kept across the objects of one graph, for every format.
#[derive(Default)]
pub struct BuildState<'a> {
    /// The bytes of each input, by input id (an archive member's own bytes).
    pub input_bytes: Vec<&'a [u8]>,
    /// ELF: COMDAT signatures seen, shared symbols.
    pub elf: elf::ElfState<'a>,
    /// Mach-O: nothing beyond the graph yet, but kept for symmetry of the dispatch.
    pub macho: macho::MachOState,
    /// COFF: COMDAT leaders, the count of x86-64 objects.
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
    // The builder registers the object as the graph's next input.
    state.input_bytes.resize(graph.inputs.len(), &[]);
    state.input_bytes.push(data);
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

/// The tables one object fills as it is added, stage by stage, and the context of its
/// messages. Every format's builder reads and writes one of these; [`build`] runs the stages.
pub(crate) struct ObjectTables<'f> {
    /// The object's name, for messages.
    pub file: &'f str,
    /// Its input id.
    pub input: InputId,
    /// Section index → the block made from the section (`None`: not loaded), filled by the
    /// section stage. A Mach-O section split at its symbols continues in the blocks after it.
    pub blocks: Vec<Option<BlockId>>,
    /// Section index → the anonymous symbol at the start of its block (ELF section symbols,
    /// COFF section definitions), made on first use.
    pub section_symbols: Vec<Option<SymbolId>>,
    /// Symbol-table index → graph symbol (`None`: an entry that is no symbol, such as a COFF
    /// auxiliary record), filled by the symbol stage.
    pub symbols: Vec<Option<SymbolId>>,
}

impl ObjectTables<'_> {
    /// The object is malformed: `what` says how.
    pub fn malformed(&self, what: impl std::fmt::Display) -> Error {
        malformed(self.file, what)
    }

    /// The object needs something jitlink does not do.
    pub fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            file: self.file.to_string(),
            what: what.into(),
        }
    }

    /// The anonymous symbol at the start of `block`, the block made from section `section`
    /// (made on first use).
    pub fn section_symbol<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'_, A>,
        section: usize,
        block: BlockId,
    ) -> SymbolId {
        match self.section_symbols.get_mut(section) {
            Some(slot) => *slot.get_or_insert_with(|| graph.add_anonymous(block, 0, 0, false)),
            None => graph.add_anonymous(block, 0, 0, false),
        }
    }

    /// The graph symbol a relocation in `section` names by symbol-table `index`.
    pub fn target(&self, section: &str, index: usize) -> Result<SymbolId> {
        match self.symbols.get(index) {
            Some(Some(id)) => Ok(*id),
            Some(None) => Err(self.malformed(format!(
                "relocation in {section} names symbol {index}, an auxiliary record"
            ))),
            None => Err(self.malformed(format!(
                "relocation in {section} names symbol {index}, past the symbol table"
            ))),
        }
    }

    /// The place of a relocation of raw type `typ` (named by `name` in messages) at `offset`
    /// of `section`.
    pub fn site<'x>(
        &'x self,
        section: &'x str,
        offset: u64,
        typ: u32,
        name: fn(u32) -> String,
    ) -> RelocSite<'x> {
        RelocSite {
            file: self.file,
            section,
            offset,
            typ,
            name,
        }
    }
}

/// Where a relocation is, for its messages: file, section, offset and type. The type's name
/// is made only for a message.
pub(crate) struct RelocSite<'x> {
    file: &'x str,
    section: &'x str,
    offset: u64,
    typ: u32,
    name: fn(u32) -> String,
}

impl RelocSite<'_> {
    /// The name of the relocation's section.
    pub fn section(&self) -> &str {
        self.section
    }

    /// The relocation is rejected for `why`.
    pub fn unsupported(&self, why: &'static str) -> Error {
        Error::UnsupportedRelocation {
            file: self.file.to_string(),
            section: self.section.to_string(),
            offset: self.offset,
            kind: (self.name)(self.typ),
            why,
        }
    }

    /// The relocation (against `symbol`) has no partner it needs, or one it cannot be
    /// combined with, for `why`.
    pub fn unpaired(&self, symbol: &str, why: String) -> Error {
        Error::UnpairedRelocation(Box::new(crate::error::UnpairedRelocation {
            file: self.file.to_string(),
            section: self.section.to_string(),
            offset: self.offset,
            kind: (self.name)(self.typ),
            symbol: symbol.to_string(),
            why,
        }))
    }

    /// The relocation refers to content of a discarded COMDAT.
    pub fn discarded(&self) -> Error {
        Error::DiscardedReference {
            file: self.file.to_string(),
            section: self.section.to_string(),
            offset: self.offset,
        }
    }
}

/// The stages of adding one object of a format to a graph. [`build`] runs them in the order
/// they are declared here; each fills the [`ObjectTables`] that the next one reads.
pub(crate) trait ObjectStages<'a, A: Arch> {
    /// Sections → blocks: decides which sections are loaded (COMDAT selection included),
    /// adds their blocks and fills `obj.blocks`.
    fn sections(&mut self, graph: &mut LinkGraph<'a, A>, obj: &mut ObjectTables<'_>) -> Result<()>;

    /// Entries of the symbol table.
    fn symbol_count(&self) -> usize;

    /// The graph symbol of symbol-table entry `index` (defined, referenced, or a placeholder
    /// for entries nothing may refer to); `None` for an entry that is no symbol. Called for
    /// every index in ascending order.
    fn symbol(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &mut ObjectTables<'_>,
        index: usize,
    ) -> Result<Option<SymbolId>>;

    /// Once every entry is mapped: symbols that stand for others (COFF weak externals).
    fn aliases(&mut self, graph: &mut LinkGraph<'a, A>, obj: &mut ObjectTables<'_>) -> Result<()> {
        let _ = (graph, obj);
        Ok(())
    }

    /// Sections (by index) that [`ObjectStages::edges`] is called for.
    fn section_count(&self) -> usize;

    /// Relocations → edges: those that section `section` holds (an ELF relocation section) or
    /// has (Mach-O, COFF).
    fn edges(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        section: usize,
    ) -> Result<()>;

    /// Last, once every edge is in: what the format adds of its own (COFF import slots, ELF's
    /// record of the loaded object).
    fn finish(self, graph: &mut LinkGraph<'a, A>, obj: ObjectTables<'_>) -> Result<()>;
}

/// Adds the object that `stages` parsed to `graph`: registers it as an input, then runs the
/// stages in order (sections → blocks, symbols, aliases, relocations → edges, finish).
pub(crate) fn build<'a, A: Arch, S: ObjectStages<'a, A>>(
    graph: &mut LinkGraph<'a, A>,
    file: &str,
    mut stages: S,
) -> Result<()> {
    let mut obj = ObjectTables {
        file,
        input: graph.add_input(file),
        blocks: Vec::new(),
        section_symbols: Vec::new(),
        symbols: Vec::new(),
    };
    stages.sections(graph, &mut obj)?;
    obj.section_symbols = vec![None; obj.blocks.len()];
    let count = stages.symbol_count();
    obj.symbols.reserve_exact(count);
    for index in 0..count {
        let id = stages.symbol(graph, &mut obj, index)?;
        obj.symbols.push(id);
    }
    stages.aliases(graph, &mut obj)?;
    for section in 0..stages.section_count() {
        stages.edges(graph, &obj, section)?;
    }
    stages.finish(graph, obj)
}

/// Appends `edges` to block `block`'s edges (taking the vector when the block has none yet).
pub(crate) fn push_edges<A: Arch>(
    graph: &mut LinkGraph<'_, A>,
    block: BlockId,
    edges: Vec<crate::graph::Edge<A::EdgeKind>>,
) {
    let slot = &mut graph.blocks[block.index()].edges;
    if slot.is_empty() {
        *slot = edges;
    } else {
        slot.extend(edges);
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
