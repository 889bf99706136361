//! ELF relocatable objects → LinkGraph. Holds ELF's quirks: COMDAT groups, section symbols,
//! common symbols, `SHN_XINDEX`, and the one translation of raw relocation types per architecture.

use jitlink_arch::{x86_64, Arch};
use object::elf;
use object::read::elf::{FileHeader, Rela, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{
    LittleEndian as LE, Object, ObjectSection, ObjectSymbol, SectionIndex, SymbolIndex, SymbolKind,
};
use rustc_hash::FxHashSet;

use super::ObjectTables;
use crate::error::{malformed, Error, Result};

/// An architecture's ELF relocation table: `relocations! { R_X => what, ... }` defines
/// `table(r_type)`, the relocation's name and what it becomes (or why it is refused), `None`
/// for a type the table does not list. Used by the architecture modules below.
macro_rules! relocations {
    ($($name:ident => $what:expr,)*) => {
        fn table(r_type: u32) -> Option<(&'static str, Result<ElfReloc<EdgeKind>, &'static str>)> {
            Some(match r_type {
                $(elf::$name => (stringify!($name), $what),)*
                _ => return None,
            })
        }
    };
}

mod aarch64;
mod riscv64;
use crate::graph::{
    BlockId, Content, Def, LinkGraph, Linkage, Perm, Scope, SectionRole, Symbol, SymbolId,
};

/// What a raw ELF relocation becomes.
#[derive(Debug, Clone, Copy)]
pub enum ElfReloc<K> {
    /// An edge of this kind to the relocation's symbol.
    Edge(K),
    /// An edge of this kind to the graph's GOT base (`_GLOBAL_OFFSET_TABLE_`), whatever symbol
    /// the relocation names.
    EdgeToGot(K),
    /// Nothing to do.
    Skip,
    /// A relocation that only means something together with others of its
    /// section (RISC-V's PC-relative low halves and ADD/SUB pairs): [`ElfArch::pair`] makes
    /// its edge once the section's relocations are all read.
    Paired,
}

/// One relocation of a section as read, for [`ElfArch::pair`].
#[derive(Debug, Clone, Copy)]
pub struct RawReloc<K> {
    /// Offset in the section.
    pub offset: u64,
    /// Raw type.
    pub r_type: u32,
    /// The graph symbol it names.
    pub target: SymbolId,
    /// Its addend.
    pub addend: i64,
    /// What [`ElfArch::translate`] made of it.
    pub what: ElfReloc<K>,
}

/// An architecture that ELF objects can target.
pub trait ElfArch: Arch {
    /// `e_machine` value.
    const E_MACHINE: u16;
    /// The one exhaustive translation of raw relocation types. `Err` says why a type is rejected.
    fn translate(r_type: u32) -> std::result::Result<ElfReloc<Self::EdgeKind>, &'static str>;
    /// The relocation type's name for messages.
    fn reloc_name(r_type: u32) -> String;
    /// Checks the header's `e_flags` (the ABI an object was compiled for); `Err` says why the
    /// object cannot be linked with the others. Default: any.
    fn check_flags(e_flags: u32) -> std::result::Result<(), &'static str> {
        let _ = e_flags;
        Ok(())
    }
    /// True if the architecture's assemblers leave alignment padding for a relaxing linker to
    /// shrink (RISC-V's `R_RISCV_ALIGN`): the builder then shrinks it (see
    /// [`ElfArch::align_padding`]).
    const SHRINKS_PADDING: bool = false;
    /// For a relocation that marks alignment padding: its length in bytes (from the place)
    /// and the alignment the bytes after it need. `None` for every other relocation.
    fn align_padding(r_type: u32, addend: i64) -> Option<(u64, u64)> {
        let _ = (r_type, addend);
        None
    }
    /// Fills the padding kept in front of an aligned place with no-ops; `Err` if `bytes` has
    /// a length no sequence of no-ops fills.
    fn fill_padding(bytes: &mut [u8]) -> std::result::Result<(), &'static str> {
        let _ = bytes;
        Err("this architecture has no alignment padding")
    }
    /// True if [`ElfArch::translate`] may answer [`ElfReloc::Paired`]: the builder then keeps
    /// every relocation of a section for [`ElfArch::pair`].
    const PAIRED: bool = false;
    /// The edge of the paired relocation `relocs[index]`, given every relocation of its
    /// section sorted by offset, those at one offset in file order (`block` is the section's
    /// block, `null` a symbol at address 0);
    /// `Ok(None)` when the edge of its partner covers it. `Err` says why it has no edge.
    fn pair(
        graph: &LinkGraph<'_, Self>,
        block: BlockId,
        relocs: &[RawReloc<Self::EdgeKind>],
        index: usize,
        null: SymbolId,
    ) -> std::result::Result<Option<crate::graph::Edge<Self::EdgeKind>>, String> {
        let _ = (graph, block, relocs, index, null);
        Err("paired relocations are not used by this architecture".into())
    }
}

impl ElfArch for x86_64::X86_64 {
    const E_MACHINE: u16 = elf::EM_X86_64;

    fn translate(r_type: u32) -> std::result::Result<ElfReloc<x86_64::EdgeKind>, &'static str> {
        use x86_64::EdgeKind::*;
        use ElfReloc::{Edge, EdgeToGot};
        // RELA addends are used as they are: every Delta kind computes S + A - P, the ELF formula,
        // so PLT32's and PC32's -4 stays in the addend and needs no normalization.
        Ok(match r_type {
            elf::R_X86_64_NONE => ElfReloc::Skip,
            elf::R_X86_64_64 => Edge(Pointer64),
            elf::R_X86_64_32 => Edge(Pointer32),
            elf::R_X86_64_32S => Edge(Pointer32Signed),
            elf::R_X86_64_16 => Edge(Pointer16),
            elf::R_X86_64_8 => Edge(Pointer8),
            elf::R_X86_64_PC64 => Edge(Delta64),
            elf::R_X86_64_PC32 => Edge(Delta32),
            elf::R_X86_64_PC16 => Edge(Delta16),
            elf::R_X86_64_PC8 => Edge(Delta8),
            elf::R_X86_64_PLT32 => Edge(BranchPCRel32),
            elf::R_X86_64_GOTPCREL => Edge(RequestGOTAndTransformToDelta32),
            elf::R_X86_64_GOTPCRELX => Edge(RequestGOTAndTransformToPCRel32GOTLoadRelaxable),
            elf::R_X86_64_REX_GOTPCRELX => Edge(RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable),
            elf::R_X86_64_GOTPCREL64 => Edge(RequestGOTAndTransformToDelta64),
            elf::R_X86_64_GOT64 => Edge(RequestGOTAndTransformToDelta64FromGOT),
            elf::R_X86_64_GOTOFF64 => Edge(Delta64FromGOT),
            elf::R_X86_64_GOTPC32 => EdgeToGot(Delta32),
            elf::R_X86_64_GOTPC64 => EdgeToGot(Delta64),
            elf::R_X86_64_SIZE32 => Edge(Size32),
            elf::R_X86_64_SIZE64 => Edge(Size64),
            elf::R_X86_64_TLSGD => Edge(RequestTLSGDPairAndTransformToDelta32),
            elf::R_X86_64_TLSLD => Edge(RequestTLSLDPairAndTransformToDelta32),
            elf::R_X86_64_DTPOFF32 => Edge(DTPOff32),
            elf::R_X86_64_DTPOFF64 => Edge(DTPOff64),
            elf::R_X86_64_DTPMOD64 => Edge(TLSModule64),
            elf::R_X86_64_GOTTPOFF => Edge(RequestTPOffAndTransformToDelta32),
            elf::R_X86_64_TPOFF32 => Edge(TPOff32),
            elf::R_X86_64_TPOFF64 => Edge(TPOff64),
            elf::R_X86_64_GOTPC32_TLSDESC => Edge(RequestTLSDescAndTransformToDelta32),
            // Marks the descriptor call for linkers that relax it; the call itself needs no fixup.
            elf::R_X86_64_TLSDESC_CALL => ElfReloc::Skip,
            elf::R_X86_64_TLSDESC => return Err("dynamic relocation in a relocatable object"),
            elf::R_X86_64_COPY
            | elf::R_X86_64_GLOB_DAT
            | elf::R_X86_64_JUMP_SLOT
            | elf::R_X86_64_RELATIVE
            | elf::R_X86_64_IRELATIVE => return Err("dynamic relocation in a relocatable object"),
            // The large code model: a function's address relative to the GOT. jitlink's PLT entry
            // for a function is the function itself (64 bits reach it anywhere).
            elf::R_X86_64_PLTOFF64 => Edge(Delta64FromGOT),
            elf::R_X86_64_GOTPLT64 => Edge(RequestGOTAndTransformToDelta64FromGOT),
            elf::R_X86_64_GOT32 => {
                return Err("32-bit GOT offsets are not used by the x86-64 code models")
            }
            _ => return Err("unknown relocation type"),
        })
    }

    fn reloc_name(r_type: u32) -> String {
        let name = match r_type {
            elf::R_X86_64_NONE => "R_X86_64_NONE",
            elf::R_X86_64_64 => "R_X86_64_64",
            elf::R_X86_64_PC32 => "R_X86_64_PC32",
            elf::R_X86_64_GOT32 => "R_X86_64_GOT32",
            elf::R_X86_64_PLT32 => "R_X86_64_PLT32",
            elf::R_X86_64_COPY => "R_X86_64_COPY",
            elf::R_X86_64_GLOB_DAT => "R_X86_64_GLOB_DAT",
            elf::R_X86_64_JUMP_SLOT => "R_X86_64_JUMP_SLOT",
            elf::R_X86_64_RELATIVE => "R_X86_64_RELATIVE",
            elf::R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
            elf::R_X86_64_32 => "R_X86_64_32",
            elf::R_X86_64_32S => "R_X86_64_32S",
            elf::R_X86_64_16 => "R_X86_64_16",
            elf::R_X86_64_PC16 => "R_X86_64_PC16",
            elf::R_X86_64_8 => "R_X86_64_8",
            elf::R_X86_64_PC8 => "R_X86_64_PC8",
            elf::R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
            elf::R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
            elf::R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
            elf::R_X86_64_TLSGD => "R_X86_64_TLSGD",
            elf::R_X86_64_TLSLD => "R_X86_64_TLSLD",
            elf::R_X86_64_DTPOFF32 => "R_X86_64_DTPOFF32",
            elf::R_X86_64_GOTTPOFF => "R_X86_64_GOTTPOFF",
            elf::R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
            elf::R_X86_64_PC64 => "R_X86_64_PC64",
            elf::R_X86_64_GOTOFF64 => "R_X86_64_GOTOFF64",
            elf::R_X86_64_GOTPC32 => "R_X86_64_GOTPC32",
            elf::R_X86_64_GOT64 => "R_X86_64_GOT64",
            elf::R_X86_64_GOTPCREL64 => "R_X86_64_GOTPCREL64",
            elf::R_X86_64_GOTPC64 => "R_X86_64_GOTPC64",
            elf::R_X86_64_GOTPLT64 => "R_X86_64_GOTPLT64",
            elf::R_X86_64_PLTOFF64 => "R_X86_64_PLTOFF64",
            elf::R_X86_64_SIZE32 => "R_X86_64_SIZE32",
            elf::R_X86_64_SIZE64 => "R_X86_64_SIZE64",
            elf::R_X86_64_GOTPC32_TLSDESC => "R_X86_64_GOTPC32_TLSDESC",
            elf::R_X86_64_TLSDESC_CALL => "R_X86_64_TLSDESC_CALL",
            elf::R_X86_64_TLSDESC => "R_X86_64_TLSDESC",
            elf::R_X86_64_IRELATIVE => "R_X86_64_IRELATIVE",
            elf::R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
            elf::R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
            _ => return format!("type {r_type}"),
        };
        name.to_string()
    }
}

/// Bytes deleted from one section (the excess of alignment padding that a relaxing assembler
/// left, see [`ElfArch::SHRINKS_PADDING`]): the cuts, as ranges of the section's original
/// offsets in ascending order, each with the bytes deleted before it. Every offset the object
/// gives into the section (symbol values and sizes, relocation offsets, section-relative
/// addends) goes through [`Shrink::map`].
struct Shrink {
    /// `(start, length, bytes deleted before start)`.
    cuts: Vec<(u64, u64, u64)>,
}

impl Shrink {
    /// Where original offset `x` lies after the cuts (an offset inside a cut maps to its
    /// start: the bytes after the kept padding).
    fn map(&self, x: u64) -> u64 {
        let i = self.cuts.partition_point(|&(s, l, _)| s + l <= x);
        let deleted = match i.checked_sub(1).and_then(|j| self.cuts.get(j)) {
            Some(&(_, l, before)) => before + l,
            None => 0,
        };
        match self.cuts.get(i) {
            Some(&(s, _, _)) if x > s => s - deleted,
            _ => x - deleted,
        }
    }
}

/// Per-graph state the ELF builder keeps across objects.
#[derive(Default)]
pub struct ElfState<'a> {
    comdats: FxHashSet<&'a [u8]>,
    discarded: Option<SymbolId>,
    null: Option<SymbolId>,
    /// Every object added, in input order, with the block made from each of its sections.
    pub objects: Vec<LoadedObject<'a>>,
}

/// An object added to a graph: its bytes and, by section index, the block made from each
/// section (`None` for sections that are not loaded, or discarded COMDAT members). Debugger
/// registration (`crate::debug::gdb`) uses it to give each section its final address.
pub struct LoadedObject<'a> {
    /// The object file's bytes.
    pub data: &'a [u8],
    /// Block of each section, by section index.
    pub blocks: Vec<Option<BlockId>>,
    /// True for sections of discarded COMDAT groups, by section index.
    pub discarded: Vec<bool>,
}

/// Name of the GOT base symbol. An object that names it, or uses a GOT-relative relocation,
/// makes it the graph's [`LinkGraph::got_base`], which the GOT pass defines.
const GOT_SYMBOL: &[u8] = b"_GLOBAL_OFFSET_TABLE_";

type Header = elf::FileHeader64<LE>;

/// True if `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(&elf::ELFMAG)
}

fn section_perm_role(name: &str, sh_type: u32, flags: u64) -> (Perm, SectionRole) {
    let perm = if flags & u64::from(elf::SHF_EXECINSTR) != 0 {
        Perm::ReadExec
    } else if flags & u64::from(elf::SHF_WRITE) != 0 {
        Perm::ReadWrite
    } else {
        Perm::Read
    };
    let role = match sh_type {
        _ if flags & u64::from(elf::SHF_TLS) != 0 => SectionRole::ThreadLocal,
        elf::SHT_INIT_ARRAY => SectionRole::InitArray,
        elf::SHT_FINI_ARRAY => SectionRole::FiniArray,
        elf::SHT_PREINIT_ARRAY => SectionRole::PreinitArray,
        _ if name == ".ctors" || name.starts_with(".ctors.") => SectionRole::Ctors,
        _ if name == ".dtors" || name.starts_with(".dtors.") => SectionRole::Dtors,
        _ if name == ".eh_frame" => SectionRole::EhFrame,
        _ => SectionRole::Plain,
    };
    (perm, role)
}

/// The priority of an initializer or finalizer section, in the sense of GNU ld's default
/// script (lower runs first): `.init_array.N` and `.fini_array.N` have N, `.ctors.N` and
/// `.dtors.N` have 65535 − N; `None` for an unnumbered section, which runs after every
/// numbered one.
pub(crate) fn init_priority(name: &str) -> Option<u32> {
    let number = |rest: &str| rest.strip_prefix('.')?.parse::<u32>().ok();
    [".init_array", ".fini_array"]
        .iter()
        .find_map(|b| number(name.strip_prefix(b)?))
        .or_else(|| {
            [".ctors", ".dtors"]
                .iter()
                .find_map(|b| number(name.strip_prefix(b)?).map(|n| 65535u32.saturating_sub(n)))
        })
}

/// The graph section an input section joins. Sections that `-ffunction-sections` and
/// `-fdata-sections` give a name of their own (`.text.f`, `.rodata.str1.1`, `.data.rel.ro.x`)
/// join the section of their class, as a static linker's output sections gather them: a large
/// link then has a handful of sections, not one per function. The block keeps its input name
/// ([`LinkGraph::rename_block`]) for messages and checks. A section whose permissions are not
/// those of its class (a writable `.rodata.x`) keeps its own name, and so its own permissions.
fn output_section_name(name: &str, perm: Perm, role: SectionRole) -> &str {
    const CLASSES: [(&str, Perm); 5] = [
        (".text", Perm::ReadExec),
        (".rodata", Perm::Read),
        (".data.rel.ro", Perm::ReadWrite),
        (".data", Perm::ReadWrite),
        (".bss", Perm::ReadWrite),
    ];
    if role != SectionRole::Plain {
        return name;
    }
    for (class, class_perm) in CLASSES {
        if let Some(rest) = name.strip_prefix(class) {
            if rest.starts_with('.') && perm == class_perm {
                return class;
            }
        }
    }
    name
}

/// Sections whose references into discarded COMDAT groups are dropped rather than rejected
/// (as static linkers drop them): unwind and exception tables describe the discarded code.
fn tolerates_discarded(name: &str) -> bool {
    name == ".eh_frame" || name.starts_with(".gcc_except_table")
}

/// `(sections, symbols)` an object will add to a graph, read from its ELF header and symbol
/// table header alone; `(0, 0)` if they cannot be read (the builder reports why later).
pub fn size_hint(data: &[u8]) -> (usize, usize) {
    let Ok(header) = Header::parse(data) else {
        return (0, 0);
    };
    let Ok(endian) = header.endian() else {
        return (0, 0);
    };
    let Ok(sections) = header.section_headers(endian, data) else {
        return (0, 0);
    };
    let symbols = sections
        .iter()
        .find(|sh| sh.sh_type(endian) == elf::SHT_SYMTAB)
        .map_or(0, |sh| {
            let entsize = (sh.sh_entsize(endian) as usize).max(1);
            (sh.sh_size(endian) as usize / entsize).min(data.len() / 16)
        });
    (sections.len(), symbols)
}

/// Adds one ELF relocatable object to `graph`.
pub fn add_object<'a, A: ElfArch>(
    graph: &mut LinkGraph<'a, A>,
    state: &mut ElfState<'a>,
    file: &str,
    data: &'a [u8],
) -> Result<()> {
    let object = ElfObject::parse::<A>(state, file, data)?;
    super::build(graph, file, object)
}

/// One ELF object being added: its tables as `object` reads them, and what the stages learn.
struct ElfObject<'a, 's> {
    state: &'s mut ElfState<'a>,
    data: &'a [u8],
    endian: LE,
    sections: SectionTable<'a, Header>,
    symtab: SymbolTable<'a, Header>,
    /// By section index: members of a COMDAT group that an earlier object already provided.
    discarded: Vec<bool>,
    /// By section index: the input name of each loaded section (for messages).
    input_names: Vec<&'a str>,
    /// By section index: the bytes deleted from it, if any.
    shrinks: Vec<Option<Shrink>>,
    /// By section index: its RELA section, for architectures that shrink padding (else
    /// empty).
    rela_of: Vec<Option<SectionIndex>>,
    /// The section symbols of shrunk sections (whose addends are offsets into them) and their
    /// section indexes, made when the first relocations are read.
    shrunk_symbols: Option<rustc_hash::FxHashMap<SymbolId, usize>>,
}

impl<'a, 's> ElfObject<'a, 's> {
    /// Reads the header, the section table and the symbol table of `data`.
    fn parse<A: ElfArch>(state: &'s mut ElfState<'a>, file: &str, data: &'a [u8]) -> Result<Self> {
        let bad = |e: object::read::Error| malformed(file, e);
        let header = Header::parse(data).map_err(bad)?;
        let endian = header.endian().map_err(bad)?;
        if header.e_type(endian) != elf::ET_REL {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: "not a relocatable object (ET_REL); executables and shared libraries are \
                       not inputs"
                    .to_string(),
            });
        }
        if header.e_machine(endian) != A::E_MACHINE {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: format!(
                    "ELF machine {} is not {}",
                    header.e_machine(endian),
                    A::NAME
                ),
            });
        }
        A::check_flags(header.e_flags(endian)).map_err(|why| Error::Unsupported {
            file: file.to_string(),
            what: why.to_string(),
        })?;
        let sections = header.sections(endian, data).map_err(bad)?;
        // The symbol table is found from the end, where assemblers put it: a -ffunction-sections
        // object has thousands of section headers before it.
        let symtab = match sections
            .iter()
            .rposition(|sh| sh.sh_type(endian) == elf::SHT_SYMTAB)
        {
            Some(i) => sections
                .symbol_table_by_index(endian, data, SectionIndex(i))
                .map_err(bad)?,
            None => SymbolTable::default(),
        };
        Ok(ElfObject {
            state,
            data,
            endian,
            sections,
            symtab,
            discarded: Vec::new(),
            input_names: Vec::new(),
            shrinks: Vec::new(),
            rela_of: Vec::new(),
            shrunk_symbols: None,
        })
    }

    /// COMDAT groups: the first group with a signature wins; the members of later ones are
    /// marked discarded.
    fn comdat_groups(&mut self, obj: &ObjectTables<'_>) -> Result<()> {
        let (endian, data, symtab) = (self.endian, self.data, &self.symtab);
        let bad = |e: object::read::Error| obj.malformed(e);
        let nsec = self.sections.len();
        for (_, sh) in self.sections.enumerate() {
            if sh.sh_type(endian) != elf::SHT_GROUP {
                continue;
            }
            let Some((flag, members)) = sh.group(endian, data).map_err(bad)? else {
                continue;
            };
            if flag & elf::GRP_COMDAT == 0 {
                continue;
            }
            let sig_index = SymbolIndex(sh.sh_info(endian) as usize);
            let sig_sym = symtab.symbol(sig_index).map_err(bad)?;
            let sig = symtab.symbol_name(endian, sig_sym).map_err(bad)?;
            let sig = if sig.is_empty() && sig_sym.st_type() == elf::STT_SECTION {
                // A group signed by a section symbol: use the section's name.
                match symtab
                    .symbol_section(endian, sig_sym, sig_index)
                    .map_err(bad)?
                {
                    Some(i) => {
                        let section = self.sections.section(i).map_err(bad)?;
                        self.sections.section_name(endian, section).map_err(bad)?
                    }
                    None => sig,
                }
            } else {
                sig
            };
            if !self.state.comdats.insert(sig) {
                for m in members {
                    let i = m.get(endian) as usize;
                    if i >= nsec {
                        return Err(obj.malformed(format!("group member {i} out of range")));
                    }
                    self.discarded[i] = true;
                }
            }
        }
        Ok(())
    }

    /// The block of section `index`, if it is loaded: allocatable, not a note or group, and
    /// not a member of a discarded COMDAT group.
    fn section_block<A: ElfArch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        index: SectionIndex,
        sh: &'a elf::SectionHeader64<LE>,
    ) -> Result<Option<BlockId>> {
        let (endian, data) = (self.endian, self.data);
        let bad = |e: object::read::Error| obj.malformed(e);
        let flags = sh.sh_flags(endian);
        let sh_type = sh.sh_type(endian);
        if self.discarded[index.0]
            || flags & u64::from(elf::SHF_ALLOC) == 0
            || matches!(sh_type, elf::SHT_NOTE | elf::SHT_GROUP | elf::SHT_NULL)
        {
            return Ok(None);
        }
        let name_bytes = self.sections.section_name(endian, sh).map_err(bad)?;
        let name = std::str::from_utf8(name_bytes)
            .map_err(|_| obj.malformed(format!("section {index} name is not UTF-8")))?;
        let align = sh.sh_addralign(endian).max(1);
        if !align.is_power_of_two() {
            return Err(obj.malformed(format!(
                "section {name}: alignment {align} is not a power of two"
            )));
        }
        let (perm, role) = section_perm_role(name, sh_type, flags);
        let mut align = align;
        let content = if sh_type == elf::SHT_NOBITS {
            Content::Zero(sh.sh_size(endian))
        } else if A::SHRINKS_PADDING && flags & u64::from(elf::SHF_EXECINSTR) != 0 {
            let bytes = sh.data(endian, data).map_err(bad)?;
            match self.shrink_padding::<A>(obj, index, name, bytes, &mut align)? {
                Some((owned, shrink)) => {
                    self.shrinks[index.0] = Some(shrink);
                    Content::Owned(owned)
                }
                None => Content::Borrowed(bytes),
            }
        } else if role == SectionRole::EhFrame {
            // The set's `.eh_frame` blocks are laid out back to back and registered as one
            // object (see `runtime::unwind`): entries are 4-byte aligned and a block must hold
            // whole entries, or the padding after it would read as a terminator.
            let bytes = sh.data(endian, data).map_err(bad)?;
            if bytes.len() % 4 != 0 {
                return Err(obj.malformed(format!(
                    "section {name}: size {} is not a multiple of 4",
                    bytes.len()
                )));
            }
            Content::Borrowed(bytes)
        } else {
            Content::Borrowed(sh.data(endian, data).map_err(bad)?)
        };
        if content.size() > u32::MAX as u64 {
            return Err(obj.malformed(format!("section {name} is larger than 4 GiB")));
        }
        let class = output_section_name(name, perm, role);
        let sec = match graph.section(class, perm, role) {
            id if class == name || graph.sections[id.index()].perm == perm => id,
            // The class's section came with other permissions (a writable `.rodata` of another
            // object): this one keeps its own name.
            _ => graph.section(name, perm, role),
        };
        let align = if role == SectionRole::EhFrame {
            align.min(4)
        } else {
            align
        };
        let block = graph.add_block(sec, content, align, obj.input);
        if graph.sections[sec.index()].name != name {
            graph.rename_block(block, name);
        }
        self.input_names[index.0] = name;
        Ok(Some(block))
    }

    /// The alignment padding of section `index` (`bytes`) shrunk to what its alignment
    /// needs, as a relaxing static linker shrinks it, and the cuts made; `None` if it has no
    /// padding relocations. `align` (the block's alignment) is raised to the largest alignment
    /// the padding asks for, so that offsets in the block decide alignment.
    fn shrink_padding<A: ElfArch>(
        &self,
        obj: &ObjectTables<'_>,
        index: SectionIndex,
        name: &str,
        bytes: &[u8],
        align: &mut u64,
    ) -> Result<Option<(Vec<u8>, Shrink)>> {
        let endian = self.endian;
        let mut pads = Vec::new();
        let rela = self.rela_of.get(index.0).copied().flatten();
        if let Some(sh) = rela.and_then(|r| self.sections.section(r).ok()) {
            let relas = sh
                .data_as_array::<elf::Rela64<LE>, _>(endian, self.data)
                .map_err(|e| obj.malformed(e))?;
            for rela in relas {
                let (r_type, offset) = (rela.r_type(endian, false), rela.r_offset(endian));
                if let Some((len, to)) = A::align_padding(r_type, rela.r_addend(endian)) {
                    pads.push((offset, len, to));
                }
            }
        }
        if pads.is_empty() {
            return Ok(None);
        }
        pads.sort_unstable();
        let mut cuts = Vec::with_capacity(pads.len());
        let mut kept = Vec::with_capacity(pads.len());
        let mut deleted = 0u64;
        let mut end_of_last = 0u64;
        for &(offset, len, to) in &pads {
            let end = offset.checked_add(len).filter(|&e| e <= bytes.len() as u64);
            if offset < end_of_last || end.is_none() || !to.is_power_of_two() {
                return Err(obj.malformed(format!(
                    "section {name}: alignment padding at offset {offset:#x} ({len} bytes) \
                     overlaps another or lies outside the section"
                )));
            }
            *align = (*align).max(to);
            let at = offset - deleted;
            let needed = (to - at % to) % to;
            if needed > len {
                return Err(obj.malformed(format!(
                    "section {name}: alignment padding at offset {offset:#x} has {len} bytes, \
                     {needed} are needed to align to {to}"
                )));
            }
            kept.push((at, needed));
            if needed < len {
                cuts.push((offset + needed, len - needed, deleted));
                deleted += len - needed;
            }
            end_of_last = offset + len;
        }
        let mut out = Vec::with_capacity(bytes.len() - deleted as usize);
        let mut from = 0usize;
        for &(start, len, _) in &cuts {
            out.extend_from_slice(&bytes[from..start as usize]);
            from = (start + len) as usize;
        }
        out.extend_from_slice(&bytes[from..]);
        for (at, needed) in kept {
            let pad = &mut out[at as usize..(at + needed) as usize];
            A::fill_padding(pad).map_err(|why| {
                obj.malformed(format!(
                    "section {name}: alignment padding at offset {at:#x}: {why}"
                ))
            })?;
        }
        Ok(Some((out, Shrink { cuts })))
    }

    /// Original offset `x` of section `index`, after the section's shrinking (if any).
    fn map_offset(&self, index: usize, x: u64) -> u64 {
        match self.shrinks.get(index) {
            Some(Some(shrink)) => shrink.map(x),
            _ => x,
        }
    }

    /// The edges of the RELA section `sh`, added to the block of the section it applies to.
    fn rela_edges<A: ElfArch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        sh: &'a elf::SectionHeader64<LE>,
    ) -> Result<()> {
        let endian = self.endian;
        let target = sh.info_link(endian);
        let target_index = target.0;
        let Some(block) = obj.blocks.get(target.0).copied().flatten() else {
            return Ok(());
        };
        let section_name = self.input_names[target.0];
        let size = graph.blocks[block.index()].content.size();
        let relas = sh
            .data_as_array::<elf::Rela64<LE>, _>(endian, self.data)
            .map_err(|e| obj.malformed(e))?;
        let mut edges = Vec::with_capacity(relas.len());
        if self.shrunk_symbols.is_none() {
            let map = self
                .shrinks
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_some())
                .filter_map(|(i, _)| Some((obj.section_symbols.get(i).copied().flatten()?, i)))
                .collect();
            self.shrunk_symbols = Some(map);
        }
        let shrunk_symbols = self.shrunk_symbols.as_ref();
        let addend_of = |target: SymbolId, addend: i64| -> i64 {
            match shrunk_symbols.and_then(|m| m.get(&target)) {
                Some(&i) if addend >= 0 => self.map_offset(i, addend as u64) as i64,
                _ => addend,
            }
        };
        // Every relocation, for architectures whose relocations pair up.
        let mut raw = Vec::new();
        let mut any_paired = false;
        for rela in relas {
            let r_type = rela.r_type(endian, false);
            let original = rela.r_offset(endian);
            let site = obj.site(section_name, original, r_type, A::reloc_name);
            let what = A::translate(r_type).map_err(|why| site.unsupported(why))?;
            let offset = self.map_offset(target_index, original);
            let (kind, to_got) = match what {
                ElfReloc::Skip => continue,
                ElfReloc::Edge(k) => (k, false),
                ElfReloc::EdgeToGot(k) => (k, true),
                ElfReloc::Paired => {
                    if offset >= size {
                        return Err(obj.malformed(format!(
                            "relocation at offset {offset:#x} lies outside section {section_name}"
                        )));
                    }
                    let target = obj.target(section_name, rela.r_sym(endian, false) as usize)?;
                    any_paired = true;
                    raw.push(RawReloc {
                        offset,
                        r_type,
                        target,
                        addend: addend_of(target, rela.r_addend(endian)),
                        what,
                    });
                    continue;
                }
            };
            if offset >= size {
                return Err(obj.malformed(format!(
                    "relocation at offset {offset:#x} lies outside section {section_name}"
                )));
            }
            let mut target = obj.target(section_name, rela.r_sym(endian, false) as usize)?;
            if to_got {
                target = got_base(graph);
            } else if A::uses_got_base(kind) {
                // The fixup needs the GOT's address: make sure the graph has one.
                got_base(graph);
            }
            if graph.symbols[target.index()].def == Def::Discarded {
                if tolerates_discarded(section_name) {
                    continue;
                }
                return Err(site.discarded());
            }
            super::note_requirements(graph, kind);
            let addend = addend_of(target, rela.r_addend(endian));
            edges.push(crate::graph::Edge {
                kind,
                offset: offset as u32,
                target,
                addend,
            });
            if A::PAIRED {
                raw.push(RawReloc {
                    offset,
                    r_type,
                    target,
                    addend,
                    what,
                });
            }
        }
        if any_paired {
            // By offset, for the partners' lookups (a stable sort: relocations at one offset
            // keep their file order, which ADD/SUB pairs rely on).
            raw.sort_by_key(|r| r.offset);
            let null = null_symbol(graph, self.state);
            for (i, r) in raw.iter().enumerate() {
                if !matches!(r.what, ElfReloc::Paired) {
                    continue;
                }
                let site = obj.site(section_name, r.offset, r.r_type, A::reloc_name);
                match A::pair(graph, block, &raw, i, null) {
                    Ok(Some(e)) => {
                        super::note_requirements(graph, e.kind);
                        edges.push(e);
                    }
                    Ok(None) => {}
                    Err(why) => return Err(site.unpaired(&graph.symbol_name(r.target), why)),
                }
            }
        }
        super::push_edges(graph, block, edges);
        Ok(())
    }

    /// The graph symbol of a defined symbol-table entry (not undefined, not a file symbol).
    fn defined_symbol<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &mut ObjectTables<'_>,
        index: SymbolIndex,
        sym: &'a elf::Sym64<LE>,
        mut new: Symbol<'a>,
    ) -> Result<SymbolId> {
        let endian = self.endian;
        let name = new.name;
        let global = new.scope != Scope::Local;
        let shndx = sym.st_shndx(endian);
        let value = sym.st_value(endian);
        if shndx == elf::SHN_COMMON {
            // A tentative definition: st_value is the alignment.
            return super::define_common(graph, obj.file, new, value);
        }
        if shndx == elf::SHN_ABS {
            return if global {
                graph.define(new)
            } else {
                Ok(graph.add_symbol(new))
            };
        }
        let sec_index = self
            .symtab
            .symbol_section(endian, sym, index)
            .map_err(|e| obj.malformed(e))?;
        let Some(sec_index) = sec_index else {
            return Err(obj.malformed(format!(
                "symbol {} has a reserved section index {shndx}",
                String::from_utf8_lossy(name)
            )));
        };
        if sec_index.0 >= obj.blocks.len() {
            return Err(obj.malformed(format!(
                "symbol {} names section {}, past the section table",
                String::from_utf8_lossy(name),
                sec_index.0
            )));
        }
        let Some(block) = obj.blocks[sec_index.0] else {
            // Discarded COMDAT member or a section that is not loaded.
            if global && self.discarded[sec_index.0] {
                return Ok(graph.reference(name, new.linkage == Linkage::Weak, obj.input));
            }
            return Ok(discarded_symbol(graph, self.state));
        };
        if sym.st_type() == elf::STT_SECTION {
            return Ok(obj.section_symbol(graph, sec_index.0, block));
        }
        // In a shrunk section, the symbol moves with the bytes; its size spans what is left.
        let value = if self.shrinks.get(sec_index.0).is_some_and(Option::is_some) {
            let end = self.map_offset(sec_index.0, value.saturating_add(new.size));
            let start = self.map_offset(sec_index.0, value);
            new.size = end.saturating_sub(start);
            start
        } else {
            value
        };
        let block_size = graph.blocks[block.index()].content.size();
        if value > block_size {
            return Err(obj.malformed(format!(
                "symbol {} lies outside its section",
                String::from_utf8_lossy(name)
            )));
        }
        new.def = Def::Block {
            block,
            offset: value,
        };
        if global {
            graph.define(new)
        } else {
            Ok(graph.add_symbol(new))
        }
    }
}

impl<'a, A: ElfArch> super::ObjectStages<'a, A> for ElfObject<'a, '_> {
    fn sections(&mut self, graph: &mut LinkGraph<'a, A>, obj: &mut ObjectTables<'_>) -> Result<()> {
        // Grow the arenas once per object rather than by doubling as it goes (the driver reserves
        // for all its inputs at once with [`size_hint`]; then this does nothing).
        let nsec = self.sections.len();
        graph.blocks.reserve(nsec);
        graph.symbols.reserve(self.symtab.len());
        self.discarded = vec![false; nsec];
        self.input_names = vec![""; nsec];
        self.shrinks = (0..nsec).map(|_| None).collect();
        if A::SHRINKS_PADDING {
            self.rela_of = vec![None; nsec];
            for (i, sh) in self.sections.enumerate() {
                if sh.sh_type(self.endian) == elf::SHT_RELA {
                    let target = sh.info_link(self.endian).0;
                    if let Some(slot) = self.rela_of.get_mut(target) {
                        *slot = Some(i);
                    }
                }
            }
        }
        obj.blocks = vec![None; nsec];
        self.comdat_groups(obj)?;
        let sections = self.sections;
        for (index, sh) in sections.enumerate() {
            obj.blocks[index.0] = self.section_block(graph, obj, index, sh)?;
        }
        Ok(())
    }

    fn symbol_count(&self) -> usize {
        self.symtab.len()
    }

    fn symbol(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &mut ObjectTables<'_>,
        index: usize,
    ) -> Result<Option<SymbolId>> {
        let endian = self.endian;
        if index == 0 {
            return Ok(Some(null_symbol(graph, self.state)));
        }
        let index = SymbolIndex(index);
        let sym = self.symtab.symbol(index).map_err(|e| obj.malformed(e))?;
        let name = self
            .symtab
            .symbol_name(endian, sym)
            .map_err(|e| obj.malformed(e))?;
        let bind = sym.st_bind();
        let global = bind != elf::STB_LOCAL;
        let weak = bind == elf::STB_WEAK;
        let st_type = sym.st_type();
        if st_type == elf::STT_FILE || (sym.st_shndx(endian) == elf::SHN_UNDEF && !global) {
            return Ok(Some(null_symbol(graph, self.state)));
        }
        if sym.st_shndx(endian) == elf::SHN_UNDEF {
            let id = graph.reference(name, weak, obj.input);
            if name == GOT_SYMBOL {
                graph.got_base = Some(id);
            }
            return Ok(Some(id));
        }
        if st_type == elf::STT_GNU_IFUNC {
            return Err(obj.unsupported(format!("IFUNC symbol {}", String::from_utf8_lossy(name))));
        }
        let scope = if !global {
            Scope::Local
        } else if matches!(sym.st_visibility(), elf::STV_HIDDEN | elf::STV_INTERNAL) {
            Scope::Hidden
        } else {
            Scope::Default
        };
        let new = Symbol {
            name,
            def: Def::Absolute(sym.st_value(endian)),
            size: sym.st_size(endian),
            scope,
            linkage: if weak { Linkage::Weak } else { Linkage::Strong },
            callable: st_type == elf::STT_FUNC,
            weak_ref: false,
            input: obj.input,
        };
        self.defined_symbol(graph, obj, index, sym, new).map(Some)
    }

    fn section_count(&self) -> usize {
        self.sections.len()
    }

    fn edges(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        section: usize,
    ) -> Result<()> {
        let Some(sh) = self.sections.iter().as_slice().get(section) else {
            return Ok(());
        };
        match sh.sh_type(self.endian) {
            elf::SHT_RELA => self.rela_edges(graph, obj, sh),
            elf::SHT_REL => {
                let target = sh.info_link(self.endian);
                if obj.blocks.get(target.0).is_some_and(Option::is_some) {
                    return Err(
                        obj.unsupported("REL relocations (without addends) on this architecture")
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn finish(self, _graph: &mut LinkGraph<'a, A>, obj: ObjectTables<'_>) -> Result<()> {
        self.state.objects.push(LoadedObject {
            data: self.data,
            blocks: obj.blocks,
            discarded: self.discarded,
        });
        Ok(())
    }
}

fn null_symbol<'a, A: Arch>(graph: &mut LinkGraph<'a, A>, state: &mut ElfState<'a>) -> SymbolId {
    super::cached_symbol(graph, &mut state.null, Def::Absolute(0))
}

fn discarded_symbol<'a, A: Arch>(
    graph: &mut LinkGraph<'a, A>,
    state: &mut ElfState<'a>,
) -> SymbolId {
    super::cached_symbol(graph, &mut state.discarded, Def::Discarded)
}

/// The graph's GOT base symbol, referenced (and recorded as [`LinkGraph::got_base`]) on first
/// use.
fn got_base<A: Arch>(graph: &mut LinkGraph<'_, A>) -> SymbolId {
    if let Some(id) = graph.got_base {
        return id;
    }
    let id = graph.reference(GOT_SYMBOL, false, crate::graph::SYNTHETIC);
    graph.got_base = Some(id);
    id
}

/// What an object defines and references (its global symbols), read without building a graph.
pub struct Summary {
    /// Global functions it defines.
    pub functions: Vec<String>,
    /// Global data it defines (common symbols included).
    pub data: Vec<String>,
    /// Global symbols it references.
    pub references: Vec<String>,
    /// True if it has static initializers (`.init_array`, `.ctors`, `.preinit_array`).
    pub initializers: bool,
    /// True if every global function has a section of its own (`-ffunction-sections`).
    pub function_sections: bool,
    /// True if it has thread-local data.
    pub tls: bool,
    /// True if it has exception tables (`.gcc_except_table`).
    pub exception_tables: bool,
    /// True if it has 32-bit absolute references (it must be placed in the low 2 GiB).
    pub needs_low: bool,
}

/// Summarizes the global symbols of ELF object `data`.
pub fn summarize<A: ElfArch>(name: &str, data: &[u8]) -> Result<Summary> {
    let obj = object::read::elf::ElfFile64::<LE>::parse(data).map_err(|e| malformed(name, e))?;
    let mut s = Summary {
        functions: Vec::new(),
        data: Vec::new(),
        references: Vec::new(),
        initializers: false,
        function_sections: true,
        tls: false,
        exception_tables: false,
        needs_low: false,
    };
    for sec in obj.sections() {
        // 32-bit absolute references (-fno-pic): the object must be placed in the low 2 GiB.
        // Only loaded sections count (debug information is not linked and has them always).
        let loaded = matches!(sec.flags(), object::SectionFlags::Elf { sh_flags }
            if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0);
        s.needs_low |= loaded
            && sec.relocations().any(|(_, r)| match r.flags() {
                object::RelocationFlags::Elf { r_type } => matches!(
                    A::translate(r_type).map(|t| match t {
                        ElfReloc::Edge(k) | ElfReloc::EdgeToGot(k) => A::role(k),
                        ElfReloc::Skip | ElfReloc::Paired => {
                            jitlink_arch::EdgeRole::Data(jitlink_arch::Reach::Any)
                        }
                    }),
                    Ok(jitlink_arch::EdgeRole::Data(jitlink_arch::Reach::Abs32))
                ),
                _ => false,
            });
        let n = sec.name().unwrap_or("");
        if [".init_array", ".ctors", ".preinit_array"]
            .iter()
            .any(|p| n == *p || n.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
        {
            s.initializers = true;
        }
        s.tls |= matches!(
            sec.kind(),
            object::SectionKind::Tls | object::SectionKind::UninitializedTls
        );
        s.exception_tables |= n.starts_with(".gcc_except_table");
    }
    let mut function_sections = FxHashSet::default();
    for sym in obj.symbols() {
        if !sym.is_global() {
            continue;
        }
        let Ok(n) = sym.name() else { continue };
        let n = n.to_string();
        if sym.is_undefined() {
            s.references.push(n);
        } else if sym.kind() == SymbolKind::Text && !sym.is_common() {
            let own = sym.section_index().is_some_and(|i| {
                function_sections.insert(i)
                    && obj
                        .section_by_index(i)
                        .is_ok_and(|sec| sec.name().is_ok_and(|n| n.starts_with(".text.")))
            });
            s.function_sections &= own;
            s.functions.push(n);
        } else {
            s.data.push(n);
        }
    }
    Ok(s)
}

/// An ELF section boundary symbol: `__start_NAME` or `__stop_NAME` where `NAME` is a C
/// identifier (GNU ld and lld define them for such sections only); the boundary and `NAME`.
pub(crate) fn boundary_symbol(name: &[u8]) -> Option<(crate::passes::boundary::Boundary, &str)> {
    use crate::passes::boundary::{is_c_identifier, Boundary};
    let (end, section) = if let Some(s) = name.strip_prefix(b"__start_") {
        (Boundary::Start, s)
    } else {
        (Boundary::Stop, name.strip_prefix(b"__stop_")?)
    };
    if !is_c_identifier(section) {
        return None;
    }
    Some((end, std::str::from_utf8(section).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrunk_offsets_move_back_by_the_bytes_cut_before_them() {
        // Cuts [4, 10) and [20, 22): 6 bytes, then 2 more.
        let s = Shrink {
            cuts: vec![(4, 6, 0), (20, 2, 6)],
        };
        let cases = [
            (0, 0),
            (4, 4),
            // Inside a cut: its start (the bytes after the kept padding).
            (5, 4),
            (9, 4),
            (10, 4),
            (19, 13),
            (20, 14),
            (21, 14),
            (22, 14),
            (30, 22),
        ];
        for (x, want) in cases {
            assert_eq!(s.map(x), want, "{x}");
        }
    }

    #[test]
    fn initializer_priorities_follow_gnu_ld() {
        let cases = [
            (".init_array.00100", Some(100)),
            (".fini_array.7", Some(7)),
            (".ctors.65535", Some(0)),
            (".dtors.00100", Some(65435)),
            (".init_array", None),
            (".ctors", None),
            (".init_array.x", None),
            ("__mod_init_func", None),
        ];
        for (name, want) in cases {
            assert_eq!(init_priority(name), want, "{name}");
        }
    }

    #[test]
    fn sections_join_their_class_only_with_its_permissions() {
        let plain = SectionRole::Plain;
        let cases = [
            (".text.f", Perm::ReadExec, plain, ".text"),
            (".text", Perm::ReadExec, plain, ".text"),
            (".rodata.str1.1", Perm::Read, plain, ".rodata"),
            (
                ".data.rel.ro.local.x",
                Perm::ReadWrite,
                plain,
                ".data.rel.ro",
            ),
            (".data.rel.local.x", Perm::ReadWrite, plain, ".data"),
            (".bss.counter", Perm::ReadWrite, plain, ".bss"),
            // Other permissions, other roles, other names: kept.
            (".rodata.x", Perm::ReadWrite, plain, ".rodata.x"),
            (".textual", Perm::ReadExec, plain, ".textual"),
            (
                ".tdata.x",
                Perm::ReadWrite,
                SectionRole::ThreadLocal,
                ".tdata.x",
            ),
            (
                ".init_array.00100",
                Perm::ReadWrite,
                SectionRole::InitArray,
                ".init_array.00100",
            ),
            (
                ".gcc_except_table.f",
                Perm::Read,
                plain,
                ".gcc_except_table.f",
            ),
        ];
        for (name, perm, role, want) in cases {
            assert_eq!(output_section_name(name, perm, role), want, "{name}");
        }
    }
}
