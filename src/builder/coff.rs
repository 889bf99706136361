//! COFF relocatable objects → LinkGraph. Holds COFF's quirks:
//!
//! - Sections are grouped by the part of their name before `$` (`.text$mn` joins `.text`);
//!   each input section is one block.
//! - COMDAT sections are chosen by their leader symbol's name and selection: NODUPLICATES (a
//!   second copy is an error), ANY (the first wins), SAME_SIZE and EXACT_MATCH (the first
//!   wins; a copy of another size, or other bytes, is an error), LARGEST (the largest wins: the
//!   leader's name is rebound to it; a smaller copy added earlier stays in memory, reachable
//!   only from its own object), ASSOCIATIVE (kept exactly when the associated section is:
//!   `.pdata`/`.xdata` follow their function), NEWEST (an error, as in every modern linker).
//! - Weak externals (and `/alternatename:` in `.drectve`) bind the name to its default symbol
//!   unless something else defines it.
//! - A reference to `__imp_NAME` that nothing defines gets a pointer slot holding NAME's
//!   address, as an import table would.
//! - Relocations keep their addend in the place (REL): it is read once here. ADDR32NB and
//!   SECREL become the image-relative and section-relative edge kinds, whose fixups read the
//!   image base and the target's section start from the graph. `__ImageBase` is the graph's
//!   image-base symbol: the lowest address of the linked set.
//! - `.drectve` is parsed: `/alternatename:` and `-aligncomm:` are applied, every other
//!   directive (`/DEFAULTLIB`, `/EXPORT`, `/INCLUDE`, `/FAILIFMISMATCH`, ...) is ignored.
//! - `.pdata`/`.xdata` are linked (read-only, with their relocations) but not registered:
//!   Linux's unwinder reads DWARF CFI only, so Windows unwind data has no consumer in process.
//! - Static initializers (`.CRT$XC*`, mingw's `.ctors`) are linked as plain data and not run:
//!   they are Windows x64 code, and the session's initializer runner calls with the host's
//!   convention. Thread-local sections (`.tls`) are rejected: they need a Windows TEB.

use jitlink_arch::{x86_64, Arch};
use object::pe;
use object::read::coff::{CoffFile, CoffHeader, ImageSymbol, SectionTable};
use object::LittleEndian as LE;
use rustc_hash::FxHashMap;

use super::ObjectTables;
use crate::error::{malformed, Error, Result};
use crate::graph::{BlockId, Content, Def, Edge, LinkGraph, Linkage, Perm, Scope, SectionRole};
use crate::graph::{Symbol, SymbolId};

/// What a raw COFF relocation becomes. The addend is read from the place (`width` bytes,
/// sign-extended unless the field is an unsigned 32-bit address) and `bias` added.
#[derive(Debug, Clone, Copy)]
pub enum CoffReloc<K> {
    /// An edge of this kind.
    Edge {
        /// The edge kind.
        kind: K,
        /// Bytes of the stored addend.
        width: u8,
        /// Added to the stored addend (REL32_N: the distance to the next instruction).
        bias: i64,
    },
    /// An edge of this kind whose addend the instruction's immediate field held (arm64); the
    /// fixup overwrites the field.
    Insn {
        /// The edge kind.
        kind: K,
        /// The addend, decoded from the instruction.
        addend: i64,
    },
    /// The 1-based number of the target's section in its object (SECTION), 16 bits.
    SectionNumber(K),
    /// Nothing to do.
    Skip,
}

/// An architecture that COFF objects can target.
pub trait CoffArch: Arch {
    /// `Machine` value of the COFF header.
    const COFF_MACHINE: u16;
    /// The one exhaustive translation of raw relocation types; `insn` is the 32-bit word at the
    /// place (arm64 keeps addends in instruction fields).
    fn translate_coff(
        typ: u16,
        insn: u32,
    ) -> std::result::Result<CoffReloc<Self::EdgeKind>, &'static str>;
    /// The relocation type's name for messages.
    fn coff_reloc_name(typ: u16) -> String;
}

/// jitlink links no COFF objects for RISC-V: every relocation is refused.
impl CoffArch for jitlink_arch::riscv64::RiscV64 {
    const COFF_MACHINE: u16 = pe::IMAGE_FILE_MACHINE_RISCV64;

    fn translate_coff(
        _typ: u16,
        _insn: u32,
    ) -> std::result::Result<CoffReloc<Self::EdgeKind>, &'static str> {
        Err("RISC-V COFF objects are not supported")
    }

    fn coff_reloc_name(typ: u16) -> String {
        format!("type {typ:#x}")
    }
}

impl CoffArch for x86_64::X86_64 {
    const COFF_MACHINE: u16 = pe::IMAGE_FILE_MACHINE_AMD64;

    fn translate_coff(
        typ: u16,
        _insn: u32,
    ) -> std::result::Result<CoffReloc<x86_64::EdgeKind>, &'static str> {
        use x86_64::EdgeKind::*;
        let rel32 = |n: i64| CoffReloc::Edge {
            kind: Delta32,
            width: 4,
            // The displacement is relative to the end of the field plus `n` immediate bytes.
            bias: -4 - n,
        };
        Ok(match typ {
            pe::IMAGE_REL_AMD64_ABSOLUTE => CoffReloc::Skip,
            pe::IMAGE_REL_AMD64_ADDR64 => CoffReloc::Edge {
                kind: Pointer64,
                width: 8,
                bias: 0,
            },
            pe::IMAGE_REL_AMD64_ADDR32 => CoffReloc::Edge {
                kind: Pointer32,
                width: 4,
                bias: 0,
            },
            pe::IMAGE_REL_AMD64_ADDR32NB => CoffReloc::Edge {
                kind: ImageRelative32,
                width: 4,
                bias: 0,
            },
            pe::IMAGE_REL_AMD64_REL32 => rel32(0),
            pe::IMAGE_REL_AMD64_REL32_1 => rel32(1),
            pe::IMAGE_REL_AMD64_REL32_2 => rel32(2),
            pe::IMAGE_REL_AMD64_REL32_3 => rel32(3),
            pe::IMAGE_REL_AMD64_REL32_4 => rel32(4),
            pe::IMAGE_REL_AMD64_REL32_5 => rel32(5),
            pe::IMAGE_REL_AMD64_SECTION => CoffReloc::SectionNumber(Pointer16),
            pe::IMAGE_REL_AMD64_SECREL => CoffReloc::Edge {
                kind: SectionRelative32,
                width: 4,
                bias: 0,
            },
            pe::IMAGE_REL_AMD64_SECREL7 => return Err("7-bit section offsets are not supported"),
            pe::IMAGE_REL_AMD64_TOKEN => return Err("CLR tokens are not supported"),
            pe::IMAGE_REL_AMD64_SREL32 | pe::IMAGE_REL_AMD64_PAIR | pe::IMAGE_REL_AMD64_SSPAN32 => {
                return Err("span-dependent relocations are not supported")
            }
            _ => return Err("unknown relocation type"),
        })
    }

    fn coff_reloc_name(typ: u16) -> String {
        let name = match typ {
            pe::IMAGE_REL_AMD64_ABSOLUTE => "IMAGE_REL_AMD64_ABSOLUTE",
            pe::IMAGE_REL_AMD64_ADDR64 => "IMAGE_REL_AMD64_ADDR64",
            pe::IMAGE_REL_AMD64_ADDR32 => "IMAGE_REL_AMD64_ADDR32",
            pe::IMAGE_REL_AMD64_ADDR32NB => "IMAGE_REL_AMD64_ADDR32NB",
            pe::IMAGE_REL_AMD64_REL32 => "IMAGE_REL_AMD64_REL32",
            pe::IMAGE_REL_AMD64_REL32_1 => "IMAGE_REL_AMD64_REL32_1",
            pe::IMAGE_REL_AMD64_REL32_2 => "IMAGE_REL_AMD64_REL32_2",
            pe::IMAGE_REL_AMD64_REL32_3 => "IMAGE_REL_AMD64_REL32_3",
            pe::IMAGE_REL_AMD64_REL32_4 => "IMAGE_REL_AMD64_REL32_4",
            pe::IMAGE_REL_AMD64_REL32_5 => "IMAGE_REL_AMD64_REL32_5",
            pe::IMAGE_REL_AMD64_SECTION => "IMAGE_REL_AMD64_SECTION",
            pe::IMAGE_REL_AMD64_SECREL => "IMAGE_REL_AMD64_SECREL",
            pe::IMAGE_REL_AMD64_SECREL7 => "IMAGE_REL_AMD64_SECREL7",
            pe::IMAGE_REL_AMD64_TOKEN => "IMAGE_REL_AMD64_TOKEN",
            pe::IMAGE_REL_AMD64_SREL32 => "IMAGE_REL_AMD64_SREL32",
            pe::IMAGE_REL_AMD64_PAIR => "IMAGE_REL_AMD64_PAIR",
            pe::IMAGE_REL_AMD64_SSPAN32 => "IMAGE_REL_AMD64_SSPAN32",
            _ => return format!("type {typ:#x}"),
        };
        name.to_string()
    }
}

mod aarch64;

/// A kept COMDAT: its selection, size and bytes, and the leader's graph symbol.
struct Leader<'a> {
    selection: u8,
    size: u64,
    bytes: &'a [u8],
    file: String,
}

/// Per-graph state of the COFF builder.
#[derive(Default)]
pub struct CoffState<'a> {
    /// x86-64 COFF objects added: the graph's code then uses the Windows x64 convention. (arm64
    /// Windows code follows the standard AArch64 procedure call standard, as Linux code does,
    /// apart from variadic calls and the reserved x18.)
    pub win64_objects: usize,
    comdats: FxHashMap<&'a [u8], Leader<'a>>,
    null: Option<SymbolId>,
    discarded: Option<SymbolId>,
}

/// Name of the symbol at the lowest address of the linked set.
pub const IMAGE_BASE: &[u8] = b"__ImageBase";

/// True if `data` starts like a COFF object of a machine jitlink knows (COFF has no magic).
pub fn is_coff(data: &[u8]) -> bool {
    let Some(m) = data.get(..2) else { return false };
    let machine = u16::from_le_bytes([m[0], m[1]]);
    matches!(
        machine,
        pe::IMAGE_FILE_MACHINE_AMD64 | pe::IMAGE_FILE_MACHINE_ARM64 | pe::IMAGE_FILE_MACHINE_I386
    ) && CoffFile::<&[u8]>::parse(data).is_ok()
}

/// The object's machine.
pub fn machine(file: &str, data: &[u8]) -> Result<u16> {
    let mut offset = 0;
    let header = pe::ImageFileHeader::parse(data, &mut offset).map_err(|e| malformed(file, e))?;
    Ok(header.machine.get(LE))
}

fn group_name(name: &str) -> &str {
    name.split_once('$').map_or(name, |(g, _)| g)
}

fn fallback_name(perm: Perm) -> &'static str {
    match perm {
        Perm::ReadExec => ".text$jitlink",
        Perm::Read => ".rdata$jitlink",
        Perm::ReadWrite => ".data$jitlink",
    }
}

/// Directives of `.drectve` that change linking.
#[derive(Default)]
struct Directives<'a> {
    alternate: Vec<(&'a [u8], &'a [u8])>,
    align_common: FxHashMap<&'a [u8], u64>,
}

fn parse_directives(text: &[u8]) -> Directives<'_> {
    let mut d = Directives::default();
    for word in text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        let word = word
            .strip_prefix(b"/")
            .or_else(|| word.strip_prefix(b"-"))
            .unwrap_or(word);
        let Some(colon) = word.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&word[..colon], &word[colon + 1..]);
        if key.eq_ignore_ascii_case(b"alternatename") {
            if let Some(eq) = value.iter().position(|&b| b == b'=') {
                d.alternate.push((&value[..eq], &value[eq + 1..]));
            }
        } else if key.eq_ignore_ascii_case(b"aligncomm") {
            // `name,log2` (mingw).
            let value = value.strip_prefix(b"\"").unwrap_or(value);
            if let Some(comma) = value.iter().position(|&b| b == b',') {
                let name = value[..comma]
                    .strip_suffix(b"\"")
                    .unwrap_or(&value[..comma]);
                let log = std::str::from_utf8(&value[comma + 1..])
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                    .filter(|&l| l < 32);
                if let Some(log) = log {
                    d.align_common.insert(name, 1 << log);
                }
            }
        }
    }
    d
}

/// Adds one COFF relocatable object to `graph`.
pub fn add_object<'a, A: CoffArch>(
    graph: &mut LinkGraph<'a, A>,
    state: &mut CoffState<'a>,
    file: &str,
    data: &'a [u8],
) -> Result<()> {
    let object = CoffObject::parse::<A>(state, file, data)?;
    super::build(graph, file, object)
}

/// One COFF object being added: its tables as `object` reads them, and what the stages learn.
struct CoffObject<'a, 's> {
    state: &'s mut CoffState<'a>,
    data: &'a [u8],
    coff: CoffFile<'a, &'a [u8]>,
    sections: SectionTable<'a>,
    /// By section index: the section's name.
    names: Vec<&'a str>,
    /// By section index: whether it is loaded (not informational, removed, or a COMDAT copy
    /// that another object provides).
    load: Vec<bool>,
    /// By section index: whether it holds code.
    callable: Vec<bool>,
    /// By section index: for a LARGEST COMDAT that wins over a copy already in the graph, the
    /// leader's graph symbol, which this object's definition replaces.
    replaces: Vec<Option<SymbolId>>,
    directives: Directives<'a>,
    /// Weak externals: `(symbol index, name, index of the default symbol)`.
    weak: Vec<(usize, &'a [u8], usize)>,
    /// Auxiliary records left to skip in the symbol stage.
    aux_left: usize,
}

/// The COMDAT facts of an object's sections, by section index: section symbols carry the
/// selection, the next symbol of the section is the leader whose name identifies the COMDAT.
struct ComdatFacts<'a> {
    selection: Vec<u8>,
    /// The associated section's number (1-based) for ASSOCIATIVE.
    associate: Vec<usize>,
    leader_name: Vec<Option<&'a [u8]>>,
}

impl<'a, 's> CoffObject<'a, 's> {
    /// Reads the header, the section table and the symbol table of `data`.
    fn parse<A: CoffArch>(
        state: &'s mut CoffState<'a>,
        file: &str,
        data: &'a [u8],
    ) -> Result<Self> {
        let coff = CoffFile::<&'a [u8]>::parse(data).map_err(|e| malformed(file, e))?;
        let machine = coff.coff_header().machine.get(LE);
        if machine != A::COFF_MACHINE {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: format!("COFF machine {machine:#x} is not {}", A::NAME),
            });
        }
        if machine == pe::IMAGE_FILE_MACHINE_AMD64 {
            state.win64_objects += 1;
        }
        Ok(CoffObject {
            state,
            data,
            sections: coff.coff_section_table(),
            coff,
            names: Vec::new(),
            load: Vec::new(),
            callable: Vec::new(),
            replaces: Vec::new(),
            directives: Directives::default(),
            weak: Vec::new(),
            aux_left: 0,
        })
    }

    /// The header of section `i` (0-based).
    fn header(&self, obj: &ObjectTables<'_>, i: usize) -> Result<&'a pe::ImageSectionHeader> {
        self.sections
            .section(object::SectionIndex(i + 1))
            .map_err(|e| obj.malformed(e))
    }

    /// The bytes of section `i` (none for uninitialized data).
    fn section_bytes(&self, obj: &ObjectTables<'_>, i: usize) -> Result<&'a [u8]> {
        let hdr = self.header(obj, i)?;
        if hdr.characteristics.get(LE) & pe::IMAGE_SCN_CNT_UNINITIALIZED_DATA != 0 {
            return Ok(&[]);
        }
        hdr.coff_data(self.data)
            .map_err(|()| obj.malformed(format!("section {} lies outside the file", self.names[i])))
    }

    /// Section names, `.drectve`, and which sections are loaded at all.
    fn read_section_names(&mut self, obj: &ObjectTables<'_>) -> Result<()> {
        let strings = self.coff.coff_symbol_table().strings();
        let nsec = self.sections.len();
        self.names = Vec::with_capacity(nsec);
        self.load = vec![false; nsec];
        for (i, hdr) in self.sections.iter().enumerate() {
            let name = hdr.name(strings).map_err(|e| obj.malformed(e))?;
            let name = std::str::from_utf8(name)
                .map_err(|_| obj.malformed(format!("section {} name is not UTF-8", i + 1)))?;
            self.names.push(name);
            let ch = hdr.characteristics.get(LE);
            if ch & pe::IMAGE_SCN_LNK_INFO != 0 {
                if name == ".drectve" {
                    let text = hdr
                        .coff_data(self.data)
                        .map_err(|()| obj.malformed(".drectve lies outside the file"))?;
                    self.directives = parse_directives(text);
                }
                continue;
            }
            if group_name(name) == ".tls" {
                return Err(obj.unsupported(format!(
                    "thread-local section {name}: COFF thread-local storage needs a Windows TEB"
                )));
            }
            self.load[i] = ch & (pe::IMAGE_SCN_LNK_REMOVE | pe::IMAGE_SCN_MEM_DISCARDABLE) == 0;
        }
        Ok(())
    }

    /// The selection, associated section and leader of each COMDAT section.
    fn comdat_facts(&self, obj: &ObjectTables<'_>) -> Result<ComdatFacts<'a>> {
        let symtab = self.coff.coff_symbol_table();
        let strings = symtab.strings();
        let nsec = self.sections.len();
        let mut facts = ComdatFacts {
            selection: vec![0u8; nsec],
            associate: vec![0usize; nsec],
            leader_name: vec![None; nsec],
        };
        for (index, sym) in symtab.iter() {
            let Some(sec) = sym.section() else { continue };
            let s = sec.0 - 1;
            if s >= nsec {
                return Err(obj.malformed(format!(
                    "symbol {} names section {}, past the section table",
                    index.0, sec.0
                )));
            }
            let comdat = self.header(obj, s)?.characteristics.get(LE) & pe::IMAGE_SCN_LNK_COMDAT;
            if comdat == 0 {
                continue;
            }
            if sym.has_aux_section() && facts.selection[s] == 0 {
                let aux = symtab.aux_section(index).map_err(|e| obj.malformed(e))?;
                facts.selection[s] = aux.selection;
                facts.associate[s] = aux.number.get(LE) as usize;
            } else if facts.leader_name[s].is_none() && facts.selection[s] != 0 {
                facts.leader_name[s] = Some(sym.name(strings).map_err(|e| obj.malformed(e))?);
            }
        }
        Ok(facts)
    }

    /// Decides whether COMDAT section `s` with selection `sel` and leader `leader` is loaded:
    /// the first copy of a COMDAT is, later ones as the first copy's selection says.
    fn select_comdat<A: Arch>(
        &mut self,
        graph: &LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        s: usize,
        sel: u8,
        leader: &'a [u8],
    ) -> Result<()> {
        let size = u64::from(self.header(obj, s)?.size_of_raw_data.get(LE));
        let bytes = self.section_bytes(obj, s)?;
        let dup = |why: &str| {
            obj.unsupported(format!("COMDAT {}: {why}", String::from_utf8_lossy(leader)))
        };
        if sel == pe::IMAGE_COMDAT_SELECT_NEWEST {
            return Err(dup(
                "selection NEWEST is not supported (no linker implements it)",
            ));
        }
        let file = obj.file;
        let Some(old) = self.state.comdats.get_mut(leader) else {
            if !(1..=6).contains(&sel) {
                return Err(obj.malformed(format!(
                    "COMDAT section {} has selection {sel}",
                    self.names[s]
                )));
            }
            let first = Leader {
                selection: sel,
                size,
                bytes,
                file: file.to_string(),
            };
            self.state.comdats.insert(leader, first);
            return Ok(());
        };
        self.load[s] = match old.selection {
            pe::IMAGE_COMDAT_SELECT_NODUPLICATES => {
                return Err(Error::DuplicateDefinition {
                    symbol: String::from_utf8_lossy(leader).into_owned(),
                    first: old.file.clone(),
                    second: file.to_string(),
                })
            }
            pe::IMAGE_COMDAT_SELECT_ANY => false,
            pe::IMAGE_COMDAT_SELECT_SAME_SIZE if old.size == size => false,
            pe::IMAGE_COMDAT_SELECT_SAME_SIZE => {
                return Err(dup(&format!(
                    "SAME_SIZE copies differ in size ({} in {}, {size} here)",
                    old.size, old.file
                )))
            }
            pe::IMAGE_COMDAT_SELECT_EXACT_MATCH if old.bytes == bytes && old.size == size => false,
            pe::IMAGE_COMDAT_SELECT_EXACT_MATCH => {
                return Err(dup(&format!(
                    "EXACT_MATCH copies differ (first in {})",
                    old.file
                )))
            }
            pe::IMAGE_COMDAT_SELECT_LARGEST if size > old.size => {
                *old = Leader {
                    selection: old.selection,
                    size,
                    bytes,
                    file: file.to_string(),
                };
                self.replaces[s] = graph.globals.get(leader).copied();
                true
            }
            _ => false,
        };
        Ok(())
    }

    /// COMDAT selection over the loaded sections, then associative sections follow their
    /// section (chains resolve in a few rounds).
    fn select_comdats<A: Arch>(
        &mut self,
        graph: &LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
    ) -> Result<()> {
        let facts = self.comdat_facts(obj)?;
        let nsec = self.sections.len();
        self.replaces = vec![None; nsec];
        for s in 0..nsec {
            let sel = facts.selection[s];
            if !self.load[s] || sel == 0 || sel == pe::IMAGE_COMDAT_SELECT_ASSOCIATIVE {
                continue;
            }
            let Some(leader) = facts.leader_name[s] else {
                return Err(obj.malformed(format!(
                    "COMDAT section {} has no leader symbol",
                    self.names[s]
                )));
            };
            self.select_comdat(graph, obj, s, sel, leader)?;
        }
        for _ in 0..nsec.min(8) {
            for s in 0..nsec {
                if facts.selection[s] == pe::IMAGE_COMDAT_SELECT_ASSOCIATIVE && self.load[s] {
                    let parent = facts.associate[s].wrapping_sub(1);
                    if parent >= nsec || !self.load[parent] {
                        self.load[s] = false;
                    }
                }
            }
        }
        Ok(())
    }

    /// The block of loaded section `i`.
    fn section_block<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        i: usize,
    ) -> Result<BlockId> {
        let hdr = self.header(obj, i)?;
        let ch = hdr.characteristics.get(LE);
        let perm = if ch & (pe::IMAGE_SCN_CNT_CODE | pe::IMAGE_SCN_MEM_EXECUTE) != 0 {
            Perm::ReadExec
        } else if ch & pe::IMAGE_SCN_MEM_WRITE != 0 {
            Perm::ReadWrite
        } else {
            Perm::Read
        };
        self.callable[i] = perm == Perm::ReadExec;
        let size = u64::from(hdr.size_of_raw_data.get(LE));
        let content = if ch & pe::IMAGE_SCN_CNT_UNINITIALIZED_DATA != 0 {
            Content::Zero(size)
        } else {
            Content::Borrowed(self.section_bytes(obj, i)?)
        };
        let sec = super::section_for(
            graph,
            group_name(self.names[i]),
            perm,
            SectionRole::Plain,
            fallback_name,
        );
        Ok(graph.add_block(sec, content, hdr.coff_alignment(), obj.input))
    }

    /// The graph symbol of an undefined symbol-table entry: a reference, a common symbol
    /// (a value is its size), or the null symbol for a local.
    fn undefined_symbol<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        name: &'a [u8],
        sym: &'a pe::ImageSymbol,
    ) -> Result<SymbolId> {
        if sym.storage_class() != pe::IMAGE_SYM_CLASS_EXTERNAL {
            return Ok(super::cached_symbol(
                graph,
                &mut self.state.null,
                Def::Absolute(0),
            ));
        }
        if sym.value() == 0 {
            return Ok(graph.reference(name, false, obj.input));
        }
        let size = u64::from(sym.value());
        let align = self
            .directives
            .align_common
            .get(name)
            .copied()
            .unwrap_or_else(|| size.next_power_of_two().min(16));
        let new = coff_symbol(name, Def::Absolute(0), size, true, false, obj.input);
        super::define_common(graph, obj.file, new, align)
    }

    /// The graph symbol of a symbol-table entry defined in section `s` (0-based).
    fn section_symbol<A: Arch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &mut ObjectTables<'_>,
        name: &'a [u8],
        sym: &'a pe::ImageSymbol,
        s: usize,
    ) -> Result<SymbolId> {
        let global = sym.storage_class() == pe::IMAGE_SYM_CLASS_EXTERNAL;
        let block = match obj.blocks.get(s).copied().flatten() {
            None if global => return Ok(graph.reference(name, false, obj.input)),
            None => {
                return Ok(super::cached_symbol(
                    graph,
                    &mut self.state.discarded,
                    Def::Discarded,
                ))
            }
            Some(block) if sym.has_aux_section() => return Ok(obj.section_symbol(graph, s, block)),
            Some(block) => block,
        };
        let offset = u64::from(sym.value());
        let bsize = graph.blocks[block.index()].content.size();
        if offset > bsize {
            return Err(obj.malformed(format!(
                "symbol {} lies outside its section",
                String::from_utf8_lossy(name)
            )));
        }
        let is_fn = sym.derived_type() == pe::IMAGE_SYM_DTYPE_FUNCTION || self.callable[s];
        let def = Def::Block { block, offset };
        let new = coff_symbol(name, def, bsize - offset, global, is_fn, obj.input);
        match self.replaces[s] {
            // LARGEST: this copy wins over one already in the graph.
            Some(old) if global && graph.symbols[old.index()].name == name => {
                graph.symbols[old.index()] = new;
                Ok(old)
            }
            _ if global => graph.define(new),
            _ => Ok(graph.add_symbol(new)),
        }
    }

    /// The edge of relocation `r` in section `i` (whose bytes are `content`), if it makes one.
    fn relocation_edge<A: CoffArch>(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        (i, content): (usize, &'a [u8]),
        r: &pe::ImageRelocation,
    ) -> Result<Option<Edge<A::EdgeKind>>> {
        let typ = r.typ.get(LE);
        let offset = u64::from(r.virtual_address.get(LE));
        let section = self.names[i];
        let site = obj.site(section, offset, u32::from(typ), |t| {
            A::coff_reloc_name(t as u16)
        });
        let insn = read_addend(content, offset as usize, 4).unwrap_or(0) as u32;
        let reloc = A::translate_coff(typ, insn).map_err(|why| site.unsupported(why))?;
        let (kind, width, bias) = match reloc {
            CoffReloc::Skip => return Ok(None),
            CoffReloc::Edge { kind, width, bias } => (kind, width, bias),
            // The instruction is 4 bytes; its field's addend replaces the stored value.
            CoffReloc::Insn { kind, addend } => (kind, 4, addend),
            CoffReloc::SectionNumber(k) => (k, 2, 0),
        };
        let stored = read_addend(content, offset as usize, width)
            .ok_or_else(|| site.unsupported("place lies outside its section"))?;
        let stored = if matches!(reloc, CoffReloc::Insn { .. }) {
            0
        } else {
            stored
        };
        let sym_index = r.symbol().0;
        let mut target = obj.target(section, sym_index)?;
        if graph.symbols[target.index()].def == Def::Discarded {
            return Err(site.discarded());
        }
        if let CoffReloc::SectionNumber(_) = reloc {
            let sec = self
                .coff
                .coff_symbol_table()
                .symbol(object::SymbolIndex(sym_index))
                .map_err(|e| obj.malformed(e))?
                .section_number();
            if sec <= 0 {
                return Err(site.unsupported("SECTION of a symbol defined in another object"));
            }
            target = graph.add_absolute(sec as u64, false, obj.input);
        }
        if graph.symbols[target.index()].name == IMAGE_BASE {
            image_base(graph, target);
        }
        super::note_requirements(graph, kind);
        Ok(Some(Edge {
            kind,
            offset: offset as u32,
            target,
            addend: stored.wrapping_add(bias),
        }))
    }
}

impl<'a, A: CoffArch> super::ObjectStages<'a, A> for CoffObject<'a, '_> {
    fn sections(&mut self, graph: &mut LinkGraph<'a, A>, obj: &mut ObjectTables<'_>) -> Result<()> {
        self.read_section_names(obj)?;
        self.select_comdats(graph, obj)?;
        let nsec = self.sections.len();
        obj.blocks = vec![None; nsec];
        self.callable = vec![false; nsec];
        for i in 0..nsec {
            if self.load[i] {
                obj.blocks[i] = Some(self.section_block(graph, obj, i)?);
            }
        }
        Ok(())
    }

    fn symbol_count(&self) -> usize {
        self.coff.coff_symbol_table().len()
    }

    fn symbol(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &mut ObjectTables<'_>,
        index: usize,
    ) -> Result<Option<SymbolId>> {
        if self.aux_left > 0 {
            self.aux_left -= 1;
            return Ok(None);
        }
        let symtab = self.coff.coff_symbol_table();
        let sym = symtab
            .symbol(object::SymbolIndex(index))
            .map_err(|e| obj.malformed(e))?;
        self.aux_left = usize::from(sym.number_of_aux_symbols());
        let name = sym.name(symtab.strings()).map_err(|e| obj.malformed(e))?;
        let class = sym.storage_class();
        let global = class == pe::IMAGE_SYM_CLASS_EXTERNAL;
        let null = |graph: &mut LinkGraph<'a, A>, state: &mut CoffState<'a>| {
            super::cached_symbol(graph, &mut state.null, Def::Absolute(0))
        };
        let id = if class == pe::IMAGE_SYM_CLASS_WEAK_EXTERNAL {
            let aux = symtab
                .aux_weak_external(object::SymbolIndex(index))
                .map_err(|e| obj.malformed(e))?;
            self.weak.push((index, name, aux.default_symbol().0));
            null(graph, self.state)
        } else if class == pe::IMAGE_SYM_CLASS_FILE || sym.section_number() == pe::IMAGE_SYM_DEBUG {
            null(graph, self.state)
        } else if sym.section_number() == pe::IMAGE_SYM_UNDEFINED {
            self.undefined_symbol(graph, obj, name, sym)?
        } else if sym.section_number() == pe::IMAGE_SYM_ABSOLUTE {
            let value = Def::Absolute(u64::from(sym.value()));
            let s = coff_symbol(name, value, 0, global, false, obj.input);
            if global {
                graph.define(s)?
            } else {
                graph.add_symbol(s)
            }
        } else {
            let s = sym.section_number() as usize - 1;
            self.section_symbol(graph, obj, name, sym, s)?
        };
        Ok(Some(id))
    }

    /// Weak externals and alternate names: the default, unless the name is defined.
    fn aliases(&mut self, graph: &mut LinkGraph<'a, A>, obj: &mut ObjectTables<'_>) -> Result<()> {
        for (index, name, default) in std::mem::take(&mut self.weak) {
            let def_id = obj.symbols.get(default).copied().flatten().ok_or_else(|| {
                obj.malformed(format!(
                    "weak external {} names symbol {default}",
                    String::from_utf8_lossy(name)
                ))
            })?;
            obj.symbols[index] = Some(alias(graph, obj.input, name, def_id)?);
        }
        for (name, target) in std::mem::take(&mut self.directives.alternate) {
            if let Some(&t) = graph.globals.get(target) {
                alias(graph, obj.input, name, t)?;
            }
        }
        Ok(())
    }

    fn section_count(&self) -> usize {
        self.sections.len()
    }

    fn edges(
        &mut self,
        graph: &mut LinkGraph<'a, A>,
        obj: &ObjectTables<'_>,
        i: usize,
    ) -> Result<()> {
        let Some(block) = obj.blocks[i] else {
            return Ok(());
        };
        let relocs = self
            .header(obj, i)?
            .coff_relocations(self.data)
            .map_err(|e| obj.malformed(e))?;
        let content: &'a [u8] = match graph.blocks[block.index()].content {
            Content::Borrowed(b) => b,
            _ => &[],
        };
        if content.is_empty() && !relocs.is_empty() {
            return Err(obj.malformed(format!(
                "section {} has relocations but no bytes",
                self.names[i]
            )));
        }
        let mut edges = Vec::with_capacity(relocs.len());
        for r in relocs {
            if let Some(e) = self.relocation_edge(graph, obj, (i, content), r)? {
                edges.push(e);
            }
        }
        super::push_edges(graph, block, edges);
        Ok(())
    }

    /// Import slots for `__imp_NAME` references nothing defines.
    fn finish(self, graph: &mut LinkGraph<'a, A>, obj: ObjectTables<'_>) -> Result<()> {
        for &id in obj.symbols.iter().flatten() {
            let s = &graph.symbols[id.index()];
            let Some(target) = s.name.strip_prefix(b"__imp_") else {
                continue;
            };
            if s.def != Def::External || target.is_empty() {
                continue;
            }
            let name = s.name;
            let sec = graph.section(".idata$jitlink", Perm::Read, SectionRole::Plain);
            let slot = graph.add_block(sec, Content::Owned(vec![0; 8]), 8, obj.input);
            let to = graph.reference(target, false, obj.input);
            graph.blocks[slot.index()].edges.push(Edge {
                kind: A::POINTER_KIND,
                offset: 0,
                target: to,
                addend: 0,
            });
            let def = Def::Block {
                block: slot,
                offset: 0,
            };
            let mut sym = coff_symbol(name, def, 8, true, false, obj.input);
            sym.linkage = Linkage::Weak;
            graph.define(sym)?;
        }
        Ok(())
    }
}

fn coff_symbol(
    name: &[u8],
    def: Def,
    size: u64,
    global: bool,
    callable: bool,
    input: u32,
) -> Symbol<'_> {
    Symbol {
        name,
        def,
        size,
        scope: if global { Scope::Default } else { Scope::Local },
        linkage: Linkage::Strong,
        callable,
        weak_ref: false,
        input,
    }
}

/// Binds `name` to `default` unless something defines it: a weak definition at the default's
/// place, or (if the default is itself undefined) the default symbol in its stead.
fn alias<'a, A: Arch>(
    graph: &mut LinkGraph<'a, A>,
    input: u32,
    name: &'a [u8],
    default: SymbolId,
) -> Result<SymbolId> {
    let d = graph.symbols[default.index()].clone();
    match d.def {
        Def::Block { .. } | Def::Absolute(_) => {
            let mut s = coff_symbol(name, d.def, d.size, true, d.callable, input);
            s.linkage = Linkage::Weak;
            graph.define(s)
        }
        Def::External | Def::Discarded => Ok(match graph.globals.get(name) {
            Some(&id) if graph.symbols[id.index()].def != Def::External => id,
            _ => default,
        }),
    }
}

/// `__ImageBase` is referenced: unless something defines it, it becomes the graph's image-base
/// symbol, which [`crate::layout::rebase`] defines at the set's lowest address. Until then it
/// is a zero-size block of its own, so that the passes before layout see it defined in the
/// graph (and route nothing to it through a stub).
fn image_base<A: Arch>(graph: &mut LinkGraph<'_, A>, sym: SymbolId) {
    if graph.symbols[sym.index()].def != Def::External {
        return;
    }
    let sec = graph.section(
        ".text$jitlink_image_base",
        Perm::ReadExec,
        SectionRole::Plain,
    );
    let block = graph.add_block(sec, Content::Zero(0), 1, crate::graph::SYNTHETIC);
    let s = &mut graph.symbols[sym.index()];
    s.def = Def::Block { block, offset: 0 };
    s.scope = Scope::Hidden;
    graph.image_base_symbol = Some(sym);
}

/// Reads a stored addend, sign-extended.
fn read_addend(content: &[u8], off: usize, width: u8) -> Option<i64> {
    let b = content.get(off..off.checked_add(usize::from(width))?)?;
    Some(match width {
        2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        8 => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => return None,
    })
}
