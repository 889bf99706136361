//! Mach-O relocatable objects (64-bit, little-endian) → LinkGraph. Holds Mach-O's quirks:
//! subsections via symbols, section-ordinal (non-extern) relocations whose target is an address,
//! implicit addends, `SUBTRACTOR` pairs, `__eh_frame` without relocations for its own pointers,
//! and the leading underscore of C names.
//!
//! - Sections of an object with `MH_SUBSECTIONS_VIA_SYMBOLS` are split into one block per
//!   symbol (alt-entry symbols excepted), so each function and datum is its own block.
//! - `__eh_frame` stays one block per object (its CIE pointers are offsets within it); the
//!   pointers from FDEs to their functions (and LSDAs) carry no relocation in Mach-O, so this
//!   builder adds the edges, read from the encoded values.
//! - `__LD,__compact_unwind` is dropped: the host unwinder (libgcc) reads DWARF CFI only, and
//!   clang emits `__eh_frame` entries for every function next to the compact ones. A function
//!   described only by compact unwind (`-femit-dwarf-unwind=no-compact-unwind`) has no unwind
//!   information once linked.
//! - Thread-local variables (`__thread_vars`, `X86_64_RELOC_TLV`) are rejected: they need the
//!   Darwin TLV runtime (`_tlv_bootstrap`), which the host does not have.
//! - Global names lose their leading underscore (`_printf` → `printf`), which maps them to the
//!   host's C names; names without one (assembler temporaries) stay as they are.

use jitlink_arch::{x86_64, Arch};
use object::macho;
use object::read::macho::{LoadCommandVariant, MachHeader, Nlist, Section};
use object::LittleEndian as LE;
use rustc_hash::FxHashMap;

pub(crate) mod aarch64;

use super::{ObjectTables, RelocSite};
use crate::error::{malformed, Error, Result};
use crate::graph::{BlockId, Content, Def, Edge, LinkGraph, Linkage, Perm, Scope, SectionRole};
use crate::graph::{Symbol, SymbolId};

/// How a relocation's addend is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implicit {
    /// The place holds the addend (extern) or the target's address in the object (non-extern):
    /// pointers.
    Data,
    /// The place holds a 32-bit displacement from `P + end` (x86-64 instructions). Extern:
    /// `S + stored - (P + 4)`, whatever the instruction's length (the assembler folded the
    /// bytes after the field into the stored value). Non-extern: the target is the address
    /// `P + end + stored` in the object.
    PcRel32 {
        /// Distance from the place to the end of the instruction.
        end: i64,
    },
    /// The place holds no addend (arm64 instructions): it comes from a preceding
    /// `ARM64_RELOC_ADDEND`, if any. Only extern targets.
    None,
}

/// What a raw Mach-O relocation becomes.
#[derive(Debug, Clone, Copy)]
pub enum MachOReloc<K> {
    /// An edge of this kind; the addend as `Implicit` says.
    Edge(K, Implicit),
    /// `SUBTRACTOR`: the first of a pair whose second is an `UNSIGNED` at the same place.
    Subtractor,
    /// `ARM64_RELOC_ADDEND`: the addend (in `r_symbolnum`) of the next relocation.
    Addend,
}

/// An architecture that Mach-O objects can target.
pub trait MachOArch: Arch {
    /// `cputype` value.
    const CPU_TYPE: u32;
    /// The one exhaustive translation of raw relocation types (with their `pcrel`, `length`
    /// and `extern` bits); `insn` is the 32-bit word at the place (arm64 page offsets take
    /// their access size from the instruction). `Err` says why a relocation is rejected.
    fn translate_macho(
        r: &macho::RelocationInfo,
        insn: u32,
    ) -> std::result::Result<MachOReloc<Self::EdgeKind>, &'static str>;
    /// The relocation type's name for messages.
    fn macho_reloc_name(r_type: u8) -> String;
    /// The kind of a `SUBTRACTOR` pair of `length` (2 or 3): `S + A - P` if the subtrahend
    /// lies in the fixup's block, `P - S + A` (`negated`) if the minuend does.
    fn subtractor_kind(length: u8, negated: bool) -> Option<Self::EdgeKind>;
}

/// No Mach-O object targets RISC-V: every relocation is refused (the CPU type check refuses
/// the objects first).
impl MachOArch for jitlink_arch::riscv64::RiscV64 {
    const CPU_TYPE: u32 = u32::MAX;

    fn translate_macho(
        _r: &macho::RelocationInfo,
        _insn: u32,
    ) -> std::result::Result<MachOReloc<Self::EdgeKind>, &'static str> {
        Err("Mach-O has no RISC-V relocations")
    }

    fn macho_reloc_name(r_type: u8) -> String {
        format!("type {r_type}")
    }

    fn subtractor_kind(_length: u8, _negated: bool) -> Option<Self::EdgeKind> {
        None
    }
}

impl MachOArch for x86_64::X86_64 {
    const CPU_TYPE: u32 = macho::CPU_TYPE_X86_64;

    fn translate_macho(
        r: &macho::RelocationInfo,
        _insn: u32,
    ) -> std::result::Result<MachOReloc<x86_64::EdgeKind>, &'static str> {
        use x86_64::EdgeKind::*;
        use Implicit::{Data, PcRel32};
        use MachOReloc::Edge;
        let pcrel32 = r.r_pcrel && r.r_length == 2;
        Ok(match r.r_type {
            macho::X86_64_RELOC_UNSIGNED if !r.r_pcrel && r.r_length == 3 => Edge(Pointer64, Data),
            macho::X86_64_RELOC_UNSIGNED if !r.r_pcrel && r.r_length == 2 => Edge(Pointer32, Data),
            macho::X86_64_RELOC_UNSIGNED => {
                return Err("UNSIGNED must be 4 or 8 bytes, not pc-relative")
            }
            macho::X86_64_RELOC_SIGNED if pcrel32 => Edge(Delta32, PcRel32 { end: 4 }),
            macho::X86_64_RELOC_SIGNED_1 if pcrel32 => Edge(Delta32, PcRel32 { end: 5 }),
            macho::X86_64_RELOC_SIGNED_2 if pcrel32 => Edge(Delta32, PcRel32 { end: 6 }),
            macho::X86_64_RELOC_SIGNED_4 if pcrel32 => Edge(Delta32, PcRel32 { end: 8 }),
            macho::X86_64_RELOC_BRANCH if pcrel32 => Edge(BranchPCRel32, PcRel32 { end: 4 }),
            // `movq _x@GOTPCREL(%rip), %reg`: always a REX.W mov, relaxable to lea.
            macho::X86_64_RELOC_GOT_LOAD if pcrel32 && r.r_extern => Edge(
                RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable,
                PcRel32 { end: 4 },
            ),
            macho::X86_64_RELOC_GOT if pcrel32 && r.r_extern => {
                Edge(RequestGOTAndTransformToDelta32, PcRel32 { end: 4 })
            }
            macho::X86_64_RELOC_SUBTRACTOR if !r.r_pcrel && r.r_extern => MachOReloc::Subtractor,
            macho::X86_64_RELOC_TLV => {
                return Err("thread-local variables need the Darwin TLV runtime")
            }
            macho::X86_64_RELOC_SIGNED
            | macho::X86_64_RELOC_SIGNED_1
            | macho::X86_64_RELOC_SIGNED_2
            | macho::X86_64_RELOC_SIGNED_4
            | macho::X86_64_RELOC_BRANCH
            | macho::X86_64_RELOC_GOT_LOAD
            | macho::X86_64_RELOC_GOT
            | macho::X86_64_RELOC_SUBTRACTOR => {
                return Err("unexpected pcrel, length or extern bits for this type")
            }
            _ => return Err("unknown relocation type"),
        })
    }

    fn macho_reloc_name(r_type: u8) -> String {
        let name = match r_type {
            macho::X86_64_RELOC_UNSIGNED => "X86_64_RELOC_UNSIGNED",
            macho::X86_64_RELOC_SIGNED => "X86_64_RELOC_SIGNED",
            macho::X86_64_RELOC_BRANCH => "X86_64_RELOC_BRANCH",
            macho::X86_64_RELOC_GOT_LOAD => "X86_64_RELOC_GOT_LOAD",
            macho::X86_64_RELOC_GOT => "X86_64_RELOC_GOT",
            macho::X86_64_RELOC_SUBTRACTOR => "X86_64_RELOC_SUBTRACTOR",
            macho::X86_64_RELOC_SIGNED_1 => "X86_64_RELOC_SIGNED_1",
            macho::X86_64_RELOC_SIGNED_2 => "X86_64_RELOC_SIGNED_2",
            macho::X86_64_RELOC_SIGNED_4 => "X86_64_RELOC_SIGNED_4",
            macho::X86_64_RELOC_TLV => "X86_64_RELOC_TLV",
            _ => return format!("type {r_type}"),
        };
        name.to_string()
    }

    fn subtractor_kind(length: u8, negated: bool) -> Option<x86_64::EdgeKind> {
        use x86_64::EdgeKind::*;
        match (length, negated) {
            (3, false) => Some(Delta64),
            (2, false) => Some(Delta32),
            (3, true) => Some(NegDelta64),
            (2, true) => Some(NegDelta32),
            _ => None,
        }
    }
}

/// Per-graph state of the Mach-O builder (none yet: Mach-O has no COMDAT groups; weak
/// definitions are resolved by the graph's rules).
#[derive(Default)]
pub struct MachOState;

type Header = macho::MachHeader64<LE>;
type Section64 = macho::Section64<LE>;

/// True if `data` starts like a 64-bit little-endian Mach-O file.
pub fn is_macho(data: &[u8]) -> bool {
    data.starts_with(&macho::MH_MAGIC_64.to_le_bytes())
}

/// The object's `cputype`. For a universal file: the host's slice if it has one, else its
/// first slice of an architecture jitlink links, else its first slice (the link then selects
/// the slice of the architecture it links, see [`select_slice`]).
pub fn cpu_type(file: &str, data: &[u8]) -> Result<u32> {
    if is_fat(data) {
        let slices = fat_slices(file, data)?;
        let host = if crate::target::ArchKind::HOST == crate::target::ArchKind::AArch64 {
            macho::CPU_TYPE_ARM64
        } else {
            macho::CPU_TYPE_X86_64
        };
        let known = |c: u32| c == macho::CPU_TYPE_X86_64 || c == macho::CPU_TYPE_ARM64;
        return slices
            .iter()
            .find(|s| s.0 == host)
            .or_else(|| slices.iter().find(|s| known(s.0)))
            .or_else(|| slices.first())
            .map(|s| s.0)
            .ok_or_else(|| malformed(file, "universal file without slices"));
    }
    let header = Header::parse(data, 0).map_err(|e| malformed(file, e))?;
    let endian = header.endian().map_err(|e| malformed(file, e))?;
    Ok(header.cputype(endian))
}

/// True if `data` starts like a Mach-O universal ("fat") file: `FAT_MAGIC` or `FAT_MAGIC_64`,
/// big-endian. Java class files share the first magic; as LLVM's `identify_magic` does, a
/// count of slices of 43 or more (a class file's major version) is not taken for one.
pub fn is_fat(data: &[u8]) -> bool {
    let word = |at: usize| {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    matches!(word(0), Some(macho::FAT_MAGIC | macho::FAT_MAGIC_64))
        && word(4).is_some_and(|n| n < 43)
}

/// The slices of a universal file: `(cputype, bytes)`, in the file's order.
pub fn fat_slices<'d>(file: &str, data: &'d [u8]) -> Result<Vec<(u32, &'d [u8])>> {
    use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};
    fn collect<'d, F: FatArch>(
        file: &str,
        data: &'d [u8],
        arches: &[F],
    ) -> Result<Vec<(u32, &'d [u8])>> {
        arches
            .iter()
            .map(|a| {
                let (off, size): (u64, u64) = (a.offset().into(), a.size().into());
                let bytes = usize::try_from(off)
                    .ok()
                    .zip(usize::try_from(size).ok())
                    .and_then(|(o, n)| data.get(o..o.checked_add(n)?))
                    .ok_or_else(|| {
                        malformed(
                            file,
                            format!(
                                "universal file: the {} slice lies outside the file",
                                cpu_name(a.cputype())
                            ),
                        )
                    })?;
                Ok((a.cputype(), bytes))
            })
            .collect()
    }
    let bad = |e: object::read::Error| malformed(file, e);
    if data.starts_with(&macho::FAT_MAGIC_64.to_be_bytes()) {
        collect(
            file,
            data,
            MachOFatFile64::parse(data).map_err(bad)?.arches(),
        )
    } else {
        collect(
            file,
            data,
            MachOFatFile32::parse(data).map_err(bad)?.arches(),
        )
    }
}

/// The slice of universal file `data` for `cpu`; an error names the slices when none fits.
pub fn select_slice<'d>(file: &str, data: &'d [u8], cpu: u32) -> Result<&'d [u8]> {
    let slices = fat_slices(file, data)?;
    match slices.iter().find(|s| s.0 == cpu) {
        Some(&(_, bytes)) => Ok(bytes),
        None => Err(Error::Unsupported {
            file: file.to_string(),
            what: no_slice(cpu, slices.iter().map(|s| s.0)),
        }),
    }
}

/// "universal file has no x86_64 slice (it has: arm64, i386)".
pub fn no_slice(cpu: u32, have: impl Iterator<Item = u32>) -> String {
    let have: Vec<String> = have.map(cpu_name).collect();
    format!(
        "universal file has no {} slice (it has: {})",
        cpu_name(cpu),
        have.join(", ")
    )
}

/// The name of a Mach-O CPU type, as `lipo` prints it.
pub fn cpu_name(cpu: u32) -> String {
    match cpu {
        macho::CPU_TYPE_X86_64 => "x86_64".into(),
        macho::CPU_TYPE_ARM64 => "arm64".into(),
        macho::CPU_TYPE_X86 => "i386".into(),
        macho::CPU_TYPE_ARM => "arm".into(),
        macho::CPU_TYPE_ARM64_32 => "arm64_32".into(),
        macho::CPU_TYPE_POWERPC => "ppc".into(),
        macho::CPU_TYPE_POWERPC64 => "ppc64".into(),
        other => format!("cputype {other:#x}"),
    }
}

/// One Mach-O section as the builder sees it.
struct Sect<'a> {
    hdr: &'a Section64,
    name: String,
    /// The section's bytes (empty for zero-fill and sections not loaded).
    data: &'a [u8],
    /// Object address and size.
    addr: u64,
    size: u64,
    /// Loaded: the offsets where blocks start (ascending, the first 0) and the blocks.
    starts: Vec<u64>,
    blocks: Vec<BlockId>,
    callable: bool,
    zero: bool,
    eh_frame: bool,
}

impl Sect<'_> {
    fn loaded(&self) -> bool {
        !self.blocks.is_empty()
    }
    /// The block holding section offset `off` (the end of the section belongs to the last
    /// block) and the offset in it.
    fn locate(&self, off: u64) -> Option<(usize, u64)> {
        if off > self.size {
            return None;
        }
        let i = self.starts.partition_point(|&s| s <= off).checked_sub(1)?;
        Some((i, off - self.starts[i]))
    }
}

/// Why a section is not loaded, or how it is.
enum Load {
    Skip,
    As(Perm, SectionRole),
}

fn classify(file: &str, seg: &[u8], name: &[u8], flags: u32) -> Result<Load> {
    let sect_type = flags & macho::SECTION_TYPE;
    if flags & macho::S_ATTR_DEBUG != 0
        || seg == b"__DWARF"
        || (seg == b"__LD" && name == b"__compact_unwind")
        || name == b"__llvm_addrsig"
    {
        return Ok(Load::Skip);
    }
    match sect_type {
        macho::S_THREAD_LOCAL_REGULAR
        | macho::S_THREAD_LOCAL_ZEROFILL
        | macho::S_THREAD_LOCAL_VARIABLES
        | macho::S_THREAD_LOCAL_VARIABLE_POINTERS
        | macho::S_THREAD_LOCAL_INIT_FUNCTION_POINTERS => {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: format!(
                    "thread-local section {}: Mach-O thread-local variables need the Darwin TLV runtime",
                    String::from_utf8_lossy(name)
                ),
            })
        }
        macho::S_INIT_FUNC_OFFSETS | macho::S_SYMBOL_STUBS | macho::S_LAZY_SYMBOL_POINTERS => {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: format!(
                    "section {} of type {sect_type:#x}",
                    String::from_utf8_lossy(name)
                ),
            })
        }
        _ => {}
    }
    let code = flags & (macho::S_ATTR_PURE_INSTRUCTIONS | macho::S_ATTR_SOME_INSTRUCTIONS) != 0;
    let perm = if code {
        Perm::ReadExec
    } else if seg == b"__TEXT" || seg == b"__DATA_CONST" {
        Perm::Read
    } else {
        Perm::ReadWrite
    };
    let role = match sect_type {
        macho::S_MOD_INIT_FUNC_POINTERS => SectionRole::InitArray,
        macho::S_MOD_TERM_FUNC_POINTERS => SectionRole::FiniArray,
        _ if name == b"__eh_frame" => SectionRole::EhFrame,
        _ => SectionRole::Plain,
    };
    Ok(Load::As(perm, role))
}

fn fallback_name(perm: Perm) -> &'static str {
    match perm {
        Perm::ReadExec => "__macho_text",
        Perm::Read => "__macho_const",
        Perm::ReadWrite => "__macho_data",
    }
}

/// The C name of a Mach-O symbol name: without its leading underscore.
pub(crate) fn c_name(name: &[u8]) -> &[u8] {
    match name {
        [b'_', rest @ ..] if !rest.is_empty() => rest,
        _ => name,
    }
}

/// The C names of the external symbols that a Mach-O object defines in a section or as
/// absolute values (not commons, as `ranlib` leaves them out of an archive's table of
/// contents), for indexing an archive member; empty for anything else.
pub(crate) fn defined_globals(data: &[u8]) -> Vec<&[u8]> {
    let Ok(header) = Header::parse(data, 0) else {
        return Vec::new();
    };
    let Ok(endian) = header.endian() else {
        return Vec::new();
    };
    let Ok(mut commands) = header.load_commands(endian, data, 0) else {
        return Vec::new();
    };
    while let Ok(Some(cmd)) = commands.next() {
        let Ok(Some(st)) = cmd.symtab() else {
            continue;
        };
        let Ok(table) = st.symbols::<Header, _>(endian, data) else {
            return Vec::new();
        };
        return table
            .iter()
            .filter(|n| {
                let t = n.n_type() & macho::N_TYPE;
                !n.is_stab()
                    && n.n_type() & macho::N_EXT != 0
                    && (t == macho::N_SECT || t == macho::N_ABS)
            })
            .filter_map(|n| n.name(endian, table.strings()).ok())
            .filter(|name| !name.is_empty())
            .map(c_name)
            .collect();
    }
    Vec::new()
}

/// Adds one Mach-O relocatable object to `graph`.
pub fn add_object<'a, A: MachOArch>(
    graph: &mut LinkGraph<'a, A>,
    _state: &mut MachOState,
    file: &str,
    data: &'a [u8],
) -> Result<()> {
    // A universal file: the slice of the architecture being linked.
    let data = if is_fat(data) {
        select_slice(file, data, A::CPU_TYPE)?
    } else {
        data
    };
    let object = MachOObject::parse::<A>(file, data)?;
    super::build(graph, file, object)
}

/// One Mach-O object being added: its sections and symbol table, and what the stages learn.
struct MachOObject<'a> {
    data: &'a [u8],
    endian: LE,
    /// `MH_SUBSECTIONS_VIA_SYMBOLS`: sections are split at their symbols.
    subsections: bool,
    /// Sections in ordinal order.
    sects: Vec<Sect<'a>>,
    nlists: &'a [macho::Nlist64<LE>],
    strings: Option<object::read::StringTable<'a>>,
    null: Option<SymbolId>,
    /// The anonymous symbol at the start of each block that address-based references target.
    starts_of: FxHashMap<BlockId, SymbolId>,
}

impl<'a> MachOObject<'a> {
    /// Reads the header, the sections (in ordinal order) and the symbol table of `data`.
    fn parse<A: MachOArch>(file: &str, data: &'a [u8]) -> Result<Self> {
        let bad = |e: object::read::Error| malformed(file, e);
        let header = Header::parse(data, 0).map_err(bad)?;
        let endian = header.endian().map_err(bad)?;
        if header.filetype(endian) != macho::MH_OBJECT {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: "not a Mach-O relocatable object (MH_OBJECT)".into(),
            });
        }
        if header.cputype(endian) != A::CPU_TYPE {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: format!(
                    "Mach-O CPU type {:#x} is not {}",
                    header.cputype(endian),
                    A::NAME
                ),
            });
        }
        let mut sects: Vec<Sect<'a>> = Vec::new();
        let mut symtab = None;
        let mut commands = header.load_commands(endian, data, 0).map_err(bad)?;
        while let Some(cmd) = commands.next().map_err(bad)? {
            match cmd.variant().map_err(bad)? {
                LoadCommandVariant::Segment64(seg, section_data) => {
                    use object::read::macho::Segment;
                    for hdr in seg.sections(endian, section_data).map_err(bad)? {
                        sects.push(Sect {
                            hdr,
                            name: String::from_utf8_lossy(hdr.name()).into_owned(),
                            data: &[],
                            addr: hdr.addr(endian),
                            size: hdr.size(endian),
                            starts: Vec::new(),
                            blocks: Vec::new(),
                            callable: false,
                            zero: false,
                            eh_frame: false,
                        });
                    }
                }
                LoadCommandVariant::Symtab(st) => {
                    symtab = Some(st.symbols::<Header, _>(endian, data).map_err(bad)?);
                }
                _ => {}
            }
        }
        Ok(MachOObject {
            data,
            endian,
            subsections: header.flags(endian) & macho::MH_SUBSECTIONS_VIA_SYMBOLS != 0,
            sects,
            nlists: symtab.as_ref().map_or(&[], |t| t.iter().as_slice()),
            strings: symtab.as_ref().map(|t| t.strings()),
            null: None,
            starts_of: FxHashMap::default(),
        })
    }

    /// Where the blocks of section `i` start: every symbol of the section splits it, unless it
    /// is an alt entry (and `__eh_frame`, or an object without subsections, is one block).
    fn block_starts(&self, i: usize) -> Vec<u64> {
        let (s, endian) = (&self.sects[i], self.endian);
        let mut starts = vec![0];
        if !self.subsections || s.eh_frame {
            return starts;
        }
        let in_section = |n: &macho::Nlist64<LE>| -> Option<usize> {
            (!n.is_stab() && n.n_type() & macho::N_TYPE == macho::N_SECT)
                .then(|| usize::from(n.n_sect()).checked_sub(1))
                .flatten()
        };
        for n in self.nlists {
            if in_section(n) == Some(i) && n.n_desc(endian) & macho::N_ALT_ENTRY == 0 {
                let off = n.n_value(endian).wrapping_sub(s.addr);
                if off < s.size {
                    starts.push(off);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    /// Adds the blocks of section `i`, loaded with `perm` and `role`.
    fn section_blocks<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        i: usize,
        (perm, role): (Perm, SectionRole),
    ) -> Result<()> {
        let endian = self.endian;
        let s = &mut self.sects[i];
        let sect_type = s.hdr.flags(endian) & macho::SECTION_TYPE;
        s.zero = matches!(sect_type, macho::S_ZEROFILL | macho::S_GB_ZEROFILL);
        s.callable = perm == Perm::ReadExec;
        s.eh_frame = role == SectionRole::EhFrame;
        let starts = self.block_starts(i);
        let s = &mut self.sects[i];
        let bytes: &'a [u8] = if s.zero {
            &[]
        } else {
            s.hdr
                .data(endian, self.data)
                .map_err(|()| obj.malformed(format!("section {} lies outside the file", s.name)))?
        };
        if !s.zero && bytes.len() as u64 != s.size {
            return Err(obj.malformed(format!("section {} is truncated", s.name)));
        }
        if s.size > u64::from(u32::MAX) {
            return Err(obj.malformed(format!("section {} is larger than 4 GiB", s.name)));
        }
        let align_log = s.hdr.align(endian);
        if align_log > 32 {
            return Err(obj.malformed(format!("section {}: alignment 2^{align_log}", s.name)));
        }
        let align = 1u64 << align_log;
        let name: &'a str = std::str::from_utf8(s.hdr.name())
            .map_err(|_| obj.malformed(format!("section {i} name is not UTF-8")))?;
        // `__eh_frame` joins the graph's `.eh_frame`, where ELF objects' frames go too: the
        // set's unwind information is registered as one object, ending in one terminator,
        // so frames of both formats must lie in one section. Its blocks keep their name.
        let graph_name = if s.eh_frame { ".eh_frame" } else { name };
        let sec = super::section_for(graph, graph_name, perm, role, fallback_name);
        for (k, &start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(s.size);
            let content = if s.zero {
                Content::Zero(end - start)
            } else {
                Content::Borrowed(&bytes[start as usize..end as usize])
            };
            // A block starting inside the section keeps the alignment its offset has.
            let block_align = if start == 0 {
                align
            } else {
                align.min(1 << start.trailing_zeros())
            };
            let block_align = if s.eh_frame {
                block_align.min(4)
            } else {
                block_align
            };
            let block = graph.add_block(sec, content, block_align, obj.input);
            if graph_name != name {
                graph.rename_block(block, name);
            }
            s.blocks.push(block);
        }
        s.starts = starts;
        s.data = bytes;
        Ok(())
    }

    /// Rejects a symbol-table entry that ld64 rejects: an external symbol without a name
    /// (string index 0), and a symbol defined in a section the object does not have.
    fn check_symbol(&self, obj: &ObjectTables<'_>, index: usize, raw: &[u8]) -> Result<()> {
        let n = &self.nlists[index];
        if n.is_stab() {
            return Ok(());
        }
        if n.n_type() & macho::N_EXT != 0 && n.n_strx(self.endian) == 0 {
            return Err(obj.malformed(format!(
                "symbol {index} is external but has no name (string index 0)"
            )));
        }
        let sect = usize::from(n.n_sect());
        if n.n_type() & macho::N_TYPE == macho::N_SECT && (sect == 0 || sect > self.sects.len()) {
            return Err(obj.malformed(format!(
                "symbol {index} ({}) is defined in section {sect}, but the object has {} sections",
                String::from_utf8_lossy(raw),
                self.sects.len()
            )));
        }
        Ok(())
    }

    /// The graph symbol of symbol-table entry `index`, named `raw` in the object.
    fn symbol_of<A: MachOArch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        index: usize,
        raw: &'a [u8],
    ) -> Result<SymbolId> {
        let (endian, n) = (self.endian, &self.nlists[index]);
        let n_type = n.n_type();
        if n.is_stab() {
            return Ok(super::cached_symbol(
                graph,
                &mut self.null,
                Def::Absolute(0),
            ));
        }
        let name = c_name(raw);
        let global = n_type & macho::N_EXT != 0;
        let desc = n.n_desc(endian);
        let value = n.n_value(endian);
        let scope = if !global {
            Scope::Local
        } else if n_type & macho::N_PEXT != 0 {
            Scope::Hidden
        } else {
            Scope::Default
        };
        let mut new = Symbol {
            name,
            def: Def::Absolute(value),
            size: 0,
            scope,
            linkage: if desc & macho::N_WEAK_DEF != 0 {
                Linkage::Weak
            } else {
                Linkage::Strong
            },
            callable: false,
            weak_ref: false,
            input: obj.input,
        };
        match n_type & macho::N_TYPE {
            macho::N_UNDF if !global => Ok(super::cached_symbol(
                graph,
                &mut self.null,
                Def::Absolute(0),
            )),
            macho::N_UNDF if value != 0 => {
                // A common symbol: n_value is its size, bits 8..12 of n_desc its alignment.
                new.size = value;
                let align = 1u64 << ((desc >> 8) & 0xf);
                super::define_common(graph, obj.file, new, align)
            }
            macho::N_UNDF => Ok(graph.reference(name, desc & macho::N_WEAK_REF != 0, obj.input)),
            macho::N_ABS if global => graph.define(new),
            macho::N_ABS => Ok(graph.add_symbol(new)),
            macho::N_SECT => self.section_symbol(graph, obj, index, raw, new),
            macho::N_INDR => {
                Err(obj.unsupported(format!("indirect symbol {}", String::from_utf8_lossy(raw))))
            }
            other => Err(obj.malformed(format!(
                "symbol {} has type {other:#x}",
                String::from_utf8_lossy(raw)
            ))),
        }
    }

    /// The graph symbol of entry `index` (named `raw`), defined in a section as `new` says.
    fn section_symbol<A: MachOArch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        index: usize,
        raw: &'a [u8],
        mut new: Symbol<'a>,
    ) -> Result<SymbolId> {
        let n = &self.nlists[index];
        let si = usize::from(n.n_sect()).wrapping_sub(1);
        let Some(s) = self.sects.get(si) else {
            return Err(obj.malformed(format!(
                "symbol {index} names section {}, past the section table",
                n.n_sect()
            )));
        };
        if !s.loaded() {
            // A symbol in a section that is not loaded (debug information).
            return Ok(super::cached_symbol(
                graph,
                &mut self.null,
                Def::Absolute(0),
            ));
        }
        let value = n.n_value(self.endian);
        let Some((bi, offset)) = s.locate(value.wrapping_sub(s.addr)) else {
            return Err(obj.malformed(format!(
                "symbol {} lies outside its section {}",
                String::from_utf8_lossy(raw),
                s.name
            )));
        };
        let block = s.blocks[bi];
        new.def = Def::Block { block, offset };
        new.size = graph.blocks[block.index()].content.size() - offset;
        new.callable = s.callable;
        if new.scope != Scope::Local {
            graph.define(new)
        } else {
            Ok(graph.add_symbol(new))
        }
    }
}

impl MachOObject<'_> {
    /// The object address of symbol-table entry `index`, if it is defined in a section.
    fn section_address(&self, index: u32) -> Option<u64> {
        let n = self.nlists.get(index as usize)?;
        (!n.is_stab() && n.n_type() & macho::N_TYPE == macho::N_SECT)
            .then(|| n.n_value(self.endian))
    }

    /// The values of the fields of section `si` that hold a difference of two addresses of
    /// this object (a `SUBTRACTOR` pair: the place holds only the addend), by section offset.
    /// An `__eh_frame` written by hand, or by an assembler from `.cfi` directives, gives an
    /// FDE's CIE pointer this way, which must be read as the whole difference.
    fn differences<A: MachOArch>(
        &self,
        si: usize,
        relocs: &[macho::Relocation<LE>],
    ) -> FxHashMap<usize, i64> {
        let s = &self.sects[si];
        let mut known = FxHashMap::default();
        for pair in relocs.windows(2) {
            let (r, next) = (pair[0].info(self.endian), pair[1].info(self.endian));
            if !matches!(A::translate_macho(&r, 0), Ok(MachOReloc::Subtractor))
                || next.r_address != r.r_address
            {
                continue;
            }
            let off = r.r_address as usize;
            let Some(stored) = read_place(s.data, off, 1 << r.r_length) else {
                continue;
            };
            let Some(sub) = self.section_address(r.r_symbolnum) else {
                continue;
            };
            // The minuend: a symbol (the place holds the addend) or a section address (the
            // place holds the address plus the addend).
            let min = if next.r_extern {
                match self.section_address(next.r_symbolnum) {
                    Some(a) => a as i64,
                    None => continue,
                }
            } else {
                0
            };
            known.insert(off, min.wrapping_add(stored).wrapping_sub(sub as i64));
        }
        known
    }
}

impl<'a, A: MachOArch> super::ObjectStages<'a, A> for MachOObject<'a> {
    fn sections(&mut self, graph: &mut LinkGraph<'a, A>, obj: &mut ObjectTables<'_>) -> Result<()> {
        obj.blocks = vec![None; self.sects.len()];
        for i in 0..self.sects.len() {
            let hdr = self.sects[i].hdr;
            let flags = hdr.flags(self.endian);
            if let Load::As(perm, role) = classify(obj.file, hdr.segment_name(), hdr.name(), flags)?
            {
                self.section_blocks(graph, obj, i, (perm, role))?;
                obj.blocks[i] = self.sects[i].blocks.first().copied();
            }
        }
        Ok(())
    }

    fn symbol_count(&self) -> usize {
        self.nlists.len()
    }

    fn symbol(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &mut ObjectTables<'_>,
        index: usize,
    ) -> Result<Option<SymbolId>> {
        let n = &self.nlists[index];
        let strx = n.n_strx(self.endian);
        let raw = match &self.strings {
            Some(st) => n.name(self.endian, *st).map_err(|_| {
                obj.malformed(format!(
                    "symbol {index}: name offset {strx} lies past the string table"
                ))
            })?,
            None => b"",
        };
        self.check_symbol(obj, index, raw)?;
        self.symbol_of(graph, obj, index, raw).map(Some)
    }

    fn section_count(&self) -> usize {
        self.sects.len()
    }

    fn edges(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        si: usize,
    ) -> Result<()> {
        let s = &self.sects[si];
        if !s.loaded() || s.zero {
            if s.zero && s.hdr.nreloc(self.endian) != 0 {
                return Err(obj.malformed(format!("zero-fill section {} has relocations", s.name)));
            }
            return Ok(());
        }
        let relocs = match s.hdr.nreloc(self.endian) {
            0 => &[],
            _ => s
                .hdr
                .relocations(self.endian, self.data)
                .map_err(|e| obj.malformed(e))?,
        };
        add_relocations(graph, obj, self, si, relocs)?;
        if self.sects[si].eh_frame {
            let known = self.differences::<A>(si, relocs);
            add_eh_frame_edges(
                graph,
                obj.file,
                &self.sects,
                si,
                &known,
                &mut self.starts_of,
            )?;
        }
        Ok(())
    }

    fn finish(self, _graph: &mut LinkGraph<'a, A>, _obj: ObjectTables<'_>) -> Result<()> {
        Ok(())
    }
}

/// The anonymous symbol at the start of a block (the target of address-based references).
fn block_start<A: Arch>(
    graph: &mut LinkGraph<'_, A>,
    starts_of: &mut FxHashMap<BlockId, SymbolId>,
    block: BlockId,
) -> SymbolId {
    *starts_of
        .entry(block)
        .or_insert_with(|| graph.add_anonymous(block, 0, 0, false))
}

/// The block holding object address `addr`, searching section `only` or every loaded one:
/// `(its start symbol, its object address)`.
fn by_address<A: Arch>(
    graph: &mut LinkGraph<'_, A>,
    sects: &[Sect<'_>],
    only: Option<usize>,
    addr: u64,
    starts_of: &mut FxHashMap<BlockId, SymbolId>,
) -> Option<(SymbolId, u64)> {
    let found = sects.iter().enumerate().find_map(|(i, s)| {
        if only.is_some_and(|o| o != i) || !s.loaded() || addr < s.addr {
            return None;
        }
        let (bi, _) = s.locate(addr - s.addr)?;
        Some((s.blocks[bi], s.addr.checked_add(s.starts[bi])?))
    })?;
    Some((block_start(graph, starts_of, found.0), found.1))
}

fn read_place(bytes: &[u8], off: usize, width: usize) -> Option<i64> {
    let b = bytes.get(off..off.checked_add(width)?)?;
    Some(match width {
        1 => i64::from(b[0] as i8),
        2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        8 => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => return None,
    })
}

/// The block-local position of a symbol defined in this object: `(block, offset)`.
fn position<A: Arch>(graph: &LinkGraph<'_, A>, s: SymbolId) -> Option<(BlockId, u64)> {
    match graph.symbols[s.index()].def {
        Def::Block { block, offset } => Some((block, offset)),
        _ => None,
    }
}

/// A relocation's place: the block holding it and the offset there, the value stored there
/// (sign-extended), its object address, and its width in bytes.
struct Place {
    block: BlockId,
    offset: u64,
    stored: i64,
    vm: u64,
    width: usize,
}

/// What address-based targets are found in: the object's sections, and the symbols at the
/// starts of blocks made so far.
struct Lookup<'x, 'a> {
    sects: &'x [Sect<'a>],
    starts_of: &'x mut FxHashMap<BlockId, SymbolId>,
}

impl Lookup<'_, '_> {
    /// [`by_address`] over these sections.
    fn by_address<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'_, A>,
        only: Option<usize>,
        addr: u64,
    ) -> Option<(SymbolId, u64)> {
        by_address(graph, self.sects, only, addr, self.starts_of)
    }
}

/// The edges of section `si`'s relocations `relocs`.
fn add_relocations<'a, A: MachOArch>(
    graph: &mut LinkGraph<'a, A>,
    obj: &ObjectTables<'_>,
    m: &mut MachOObject<'a>,
    si: usize,
    relocs: &[macho::Relocation<LE>],
) -> Result<()> {
    let endian = m.endian;
    let mut lookup = Lookup {
        sects: &m.sects,
        starts_of: &mut m.starts_of,
    };
    let s = &lookup.sects[si];
    let mut addend: Option<i64> = None;
    let mut i = 0;
    while i < relocs.len() {
        let r = relocs[i].info(endian);
        let scattered = relocs[i].r_scattered(endian, A::CPU_TYPE);
        i += 1;
        let off = u64::from(r.r_address);
        let site = obj.site(&s.name, off, u32::from(r.r_type), |t| {
            A::macho_reloc_name(t as u8)
        });
        if scattered {
            return Err(site.unsupported("scattered relocations are not used by 64-bit objects"));
        }
        let width = 1usize << r.r_length;
        let outside = || site.unsupported("place lies outside its section");
        let (bi, boff) = s
            .locate(off)
            .filter(|_| {
                off.checked_add(width as u64)
                    .is_some_and(|end| end <= s.size)
            })
            .ok_or_else(outside)?;
        let place = Place {
            block: s.blocks[bi],
            offset: boff,
            stored: read_place(s.data, off as usize, width).ok_or_else(outside)?,
            vm: s.addr.wrapping_add(off),
            width,
        };
        let insn = read_place(s.data, off as usize, 4).unwrap_or(0) as u32;
        let (kind, target, a) =
            match A::translate_macho(&r, insn).map_err(|w| site.unsupported(w))? {
                MachOReloc::Addend => {
                    // A signed 24-bit addend in r_symbolnum.
                    addend = Some(i64::from(((r.r_symbolnum << 8) as i32) >> 8));
                    continue;
                }
                MachOReloc::Subtractor => {
                    let Some(next) = relocs.get(i).map(|n| n.info(endian)) else {
                        return Err(site.unsupported("SUBTRACTOR without its UNSIGNED"));
                    };
                    i += 1;
                    if next.r_address != r.r_address || next.r_length != r.r_length {
                        return Err(
                            site.unsupported("SUBTRACTOR and UNSIGNED differ in place or length")
                        );
                    }
                    if !matches!(
                        A::translate_macho(&next, insn),
                        Ok(MachOReloc::Edge(_, Implicit::Data))
                    ) {
                        return Err(site.unsupported("SUBTRACTOR not followed by UNSIGNED"));
                    }
                    subtractor(graph, obj, &site, &mut lookup, &place, (&r, &next))?
                }
                MachOReloc::Edge(kind, implicit) => {
                    let how = (&r, implicit);
                    let (target, a) =
                        edge_target(graph, obj, &site, &mut lookup, &place, how, &mut addend)?;
                    (kind, target, a)
                }
            };
        if addend.is_some() {
            return Err(site.unsupported("ADDEND not followed by a relocation that takes it"));
        }
        super::note_requirements(graph, kind);
        graph.blocks[place.block.index()].edges.push(Edge {
            kind,
            offset: boff as u32,
            target,
            addend: a,
        });
    }
    Ok(())
}

/// `(target, addend)` of a relocation `r` that is not part of a pair, whose addend is found as
/// `implicit` says (an instruction relocation takes the `ARM64_RELOC_ADDEND` before it, if any,
/// from `addend`).
fn edge_target<A: MachOArch>(
    graph: &mut LinkGraph<'_, A>,
    obj: &ObjectTables<'_>,
    site: &RelocSite<'_>,
    lookup: &mut Lookup<'_, '_>,
    place: &Place,
    (r, implicit): (&macho::RelocationInfo, Implicit),
    addend: &mut Option<i64>,
) -> Result<(SymbolId, i64)> {
    let stored = place.stored;
    let only = (r.r_symbolnum as usize).checked_sub(1);
    let outside = || site.unsupported("target address outside its section");
    Ok(match (implicit, r.r_extern) {
        (Implicit::Data, true) => {
            let a = if place.width == 4 {
                stored as u32 as i64
            } else {
                stored
            };
            (obj.target(site.section(), r.r_symbolnum as usize)?, a)
        }
        (Implicit::Data, false) => {
            let t = if place.width == 4 {
                stored as u32 as u64
            } else {
                stored as u64
            };
            let (target, t_vm) = lookup.by_address(graph, only, t).ok_or_else(outside)?;
            (target, t.wrapping_sub(t_vm) as i64)
        }
        (Implicit::PcRel32 { .. }, true) => (
            obj.target(site.section(), r.r_symbolnum as usize)?,
            stored.wrapping_sub(4),
        ),
        (Implicit::PcRel32 { end }, false) => {
            let t = (place.vm as i64).wrapping_add(end).wrapping_add(stored) as u64;
            let (target, t_vm) = lookup.by_address(graph, only, t).ok_or_else(outside)?;
            (target, (t.wrapping_sub(t_vm) as i64).wrapping_sub(end))
        }
        (Implicit::None, true) => (
            obj.target(site.section(), r.r_symbolnum as usize)?,
            addend.take().unwrap_or(0),
        ),
        (Implicit::None, false) => {
            return Err(site.unsupported("section-relative form of an instruction relocation"))
        }
    })
}

/// `(kind, target, addend)` of a `SUBTRACTOR` `r` and the `UNSIGNED` `next` after it: `S + A - P`
/// if the subtrahend lies in the fixup's block, `P - S + A` if the minuend does.
fn subtractor<A: MachOArch>(
    graph: &mut LinkGraph<'_, A>,
    obj: &ObjectTables<'_>,
    site: &RelocSite<'_>,
    lookup: &mut Lookup<'_, '_>,
    place: &Place,
    (r, next): (&macho::RelocationInfo, &macho::RelocationInfo),
) -> Result<(A::EdgeKind, SymbolId, i64)> {
    let stored = place.stored;
    let from = obj.target(site.section(), r.r_symbolnum as usize)?;
    // The minuend: a symbol (the place holds the addend) or an address in a section (the
    // place holds the address plus the addend).
    let (to, value) = if next.r_extern {
        (
            obj.target(site.section(), next.r_symbolnum as usize)?,
            stored,
        )
    } else {
        let only = (next.r_symbolnum as usize).checked_sub(1);
        let (t, t_vm) = lookup
            .by_address(graph, only, stored as u64)
            .ok_or_else(|| site.unsupported("SUBTRACTOR minuend outside its section"))?;
        (t, stored.wrapping_sub(t_vm as i64))
    };
    let here = |x: SymbolId| position(graph, x).filter(|(b, _)| *b == place.block);
    let width = || site.unsupported("SUBTRACTOR must be 4 or 8 bytes");
    let boff = place.offset as i64;
    if let Some((_, from_off)) = here(from) {
        let k = A::subtractor_kind(r.r_length, false).ok_or_else(width)?;
        Ok((
            k,
            to,
            value.wrapping_add(boff.wrapping_sub(from_off as i64)),
        ))
    } else if let Some((_, to_off)) = here(to) {
        let k = A::subtractor_kind(r.r_length, true).ok_or_else(width)?;
        Ok((
            k,
            from,
            value.wrapping_sub(boff.wrapping_sub(to_off as i64)),
        ))
    } else {
        Err(site.unsupported("SUBTRACTOR must fix up a place in the block of one of its symbols"))
    }
}

/// Adds the edges of `__eh_frame` that Mach-O leaves implicit: each FDE's `pc_begin` (and
/// its LSDA pointer) is a pc-relative value computed against the object's addresses. Fields
/// that relocations already cover keep their edges; `known` gives the values of fields
/// written as differences of two symbols (see [`MachOObject::differences`]).
fn add_eh_frame_edges<'a, A: MachOArch>(
    graph: &mut LinkGraph<'a, A>,
    file: &str,
    sects: &[Sect<'a>],
    si: usize,
    known: &FxHashMap<usize, i64>,
    starts_of: &mut FxHashMap<BlockId, SymbolId>,
) -> Result<()> {
    let s = &sects[si];
    let block = s.blocks[0];
    let bytes = s.data;
    let bad = |what: &str| malformed(file, format!("__eh_frame: {what}"));
    let mut cies: FxHashMap<usize, (u8, u8)> = FxHashMap::default();
    let mut pos = 0usize;
    let mut new_edges = Vec::new();
    while pos + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().map_err(|_| bad("short"))?);
        if len == 0 {
            break;
        }
        if len == u32::MAX {
            return Err(bad("64-bit records are not supported"));
        }
        let end = pos + 4 + len as usize;
        let rec = bytes
            .get(pos + 4..end)
            .ok_or_else(|| bad("record past the section end"))?;
        let id = u32::from_le_bytes(
            rec.get(..4)
                .ok_or_else(|| bad("short record"))?
                .try_into()
                .map_err(|_| bad("short"))?,
        );
        // A CIE pointer written as a difference of two symbols holds only its addend.
        let id = known.get(&(pos + 4)).map_or(id, |&v| v as u32);
        if id == 0 {
            cies.insert(pos, parse_cie(rec).ok_or_else(|| bad("unreadable CIE"))?);
        } else {
            let cie_pos = (pos + 4)
                .checked_sub(id as usize)
                .ok_or_else(|| bad("CIE pointer out of range"))?;
            let &(fde_enc, lsda_enc) = cies
                .get(&cie_pos)
                .ok_or_else(|| bad("FDE before its CIE"))?;
            let mut field = pos + 8;
            let width =
                encoded_width(fde_enc).ok_or_else(|| bad("unsupported pointer encoding"))?;
            new_edges.push((field, fde_enc));
            field += 2 * width; // pc_begin, pc_range
            if lsda_enc != 0xff {
                // Augmentation data length, then the LSDA pointer.
                let (aug_len, n) = uleb(bytes.get(field..end).unwrap_or(&[]))
                    .ok_or_else(|| bad("augmentation"))?;
                if aug_len > 0 {
                    new_edges.push((field + n, lsda_enc));
                }
            }
        }
        pos = end;
    }
    for (field, enc) in new_edges {
        let exists = graph.blocks[block.index()]
            .edges
            .iter()
            .any(|e| e.offset as usize == field);
        let width = encoded_width(enc).unwrap_or(8);
        if exists || enc & 0x70 != 0x10 {
            // Already relocated, or not pc-relative (an absolute pointer would carry a relocation).
            continue;
        }
        let value = read_place(bytes, field, width).ok_or_else(|| bad("pointer past the end"))?;
        if value == 0 && width == 4 {
            continue;
        }
        let t = s
            .addr
            .checked_add(field as u64)
            .ok_or_else(|| bad("section address overflows"))?
            .wrapping_add(value as u64);
        let (target, t_vm) = by_address(graph, sects, None, t, starts_of)
            .ok_or_else(|| bad("FDE points outside every loaded section"))?;
        let kind = A::subtractor_kind(if width == 8 { 3 } else { 2 }, false)
            .ok_or_else(|| bad("pointer width"))?;
        graph.blocks[block.index()].edges.push(Edge {
            kind,
            offset: field as u32,
            target,
            addend: t.wrapping_sub(t_vm) as i64,
        });
    }
    Ok(())
}

/// Width in bytes of a DWARF pointer encoding's value.
fn encoded_width(enc: u8) -> Option<usize> {
    match enc & 0x0f {
        0x00 | 0x04 | 0x0c => Some(8),
        0x03 | 0x0b => Some(4),
        0x02 | 0x0a => Some(2),
        _ => None,
    }
}

fn uleb(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// `(FDE pointer encoding, LSDA encoding or 0xff)` of a CIE's body (after its length).
fn parse_cie(rec: &[u8]) -> Option<(u8, u8)> {
    let version = *rec.get(4)?;
    let aug_end = 5 + rec.get(5..)?.iter().position(|&b| b == 0)?;
    let aug = rec.get(5..aug_end)?;
    let mut p = aug_end + 1;
    p += uleb(rec.get(p..)?)?.1; // code alignment
    p += uleb(rec.get(p..)?)?.1; // data alignment (sleb, same length rules)
    p += if version == 1 {
        1
    } else {
        uleb(rec.get(p..)?)?.1
    }; // return register
    let (mut fde, mut lsda) = (0u8, 0xffu8);
    if aug.first() != Some(&b'z') {
        return Some((fde, lsda));
    }
    p += uleb(rec.get(p..)?)?.1;
    for &c in &aug[1..] {
        match c {
            b'R' => {
                fde = *rec.get(p)?;
                p += 1;
            }
            b'L' => {
                lsda = *rec.get(p)?;
                p += 1;
            }
            b'P' => {
                let enc = *rec.get(p)?;
                p += 1 + encoded_width(enc)?;
            }
            b'S' | b'B' => {}
            _ => return None,
        }
    }
    Some((fde, lsda))
}

/// A Mach-O section boundary symbol (ld64's `section$start$SEGMENT$SECTION` and
/// `section$end$SEGMENT$SECTION`, no leading underscore): the boundary and the section name.
/// The graph knows sections by their section name, so the segment only has to be present.
pub(crate) fn boundary_symbol(name: &[u8]) -> Option<(crate::passes::boundary::Boundary, &str)> {
    use crate::passes::boundary::Boundary;
    let (end, rest) = if let Some(r) = name.strip_prefix(b"section$start$") {
        (Boundary::Start, r)
    } else {
        (Boundary::Stop, name.strip_prefix(b"section$end$")?)
    };
    let (segment, section) = std::str::from_utf8(rest).ok()?.split_once('$')?;
    if segment.is_empty() || section.is_empty() || section.contains('$') {
        return None;
    }
    Some((end, section))
}
