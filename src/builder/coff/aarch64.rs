//! arm64 COFF relocations. COFF has no explicit addends: instructions keep theirs in their
//! immediate fields (read here, then overwritten by the fixup), data in place.

use jitlink_arch::aarch64::{AArch64, EdgeKind};
use object::pe;

use super::{CoffArch, CoffReloc};
use crate::builder::macho::aarch64::page_offset_shift;

fn sext(v: u32, bits: u32) -> i64 {
    i64::from(((v << (32 - bits)) as i32) >> (32 - bits))
}

/// The 21-bit immediate of `adr`/`adrp` (immhi:immlo), as bytes.
fn adr_imm(insn: u32) -> i64 {
    sext(((insn >> 3) & 0x1f_fffc) | ((insn >> 29) & 3), 21)
}

impl CoffArch for AArch64 {
    const COFF_MACHINE: u16 = pe::IMAGE_FILE_MACHINE_ARM64;

    fn translate_coff(
        typ: u16,
        insn: u32,
    ) -> std::result::Result<CoffReloc<EdgeKind>, &'static str> {
        use EdgeKind::*;
        let data = |kind, width| CoffReloc::Edge {
            kind,
            width,
            bias: 0,
        };
        let insn_edge = |kind, addend| CoffReloc::Insn { kind, addend };
        Ok(match typ {
            pe::IMAGE_REL_ARM64_ABSOLUTE => CoffReloc::Skip,
            pe::IMAGE_REL_ARM64_ADDR32 => data(Pointer32, 4),
            pe::IMAGE_REL_ARM64_ADDR64 => data(Pointer64, 8),
            pe::IMAGE_REL_ARM64_ADDR32NB => data(ImageRelative32, 4),
            // Relative to the end of the field, as on x86-64.
            pe::IMAGE_REL_ARM64_REL32 => CoffReloc::Edge {
                kind: Delta32,
                width: 4,
                bias: -4,
            },
            pe::IMAGE_REL_ARM64_BRANCH26 => {
                insn_edge(Branch26PCRel, sext(insn & 0x03ff_ffff, 26) << 2)
            }
            pe::IMAGE_REL_ARM64_BRANCH19 => {
                insn_edge(CondBranch19, sext((insn >> 5) & 0x7ffff, 19) << 2)
            }
            pe::IMAGE_REL_ARM64_BRANCH14 => {
                insn_edge(TestBranch14, sext((insn >> 5) & 0x3fff, 14) << 2)
            }
            pe::IMAGE_REL_ARM64_PAGEBASE_REL21 => insn_edge(Page21, adr_imm(insn)),
            pe::IMAGE_REL_ARM64_REL21 => insn_edge(AdrLiteral21, adr_imm(insn)),
            pe::IMAGE_REL_ARM64_PAGEOFFSET_12A => {
                if insn & 0x1f00_0000 != 0x1100_0000 {
                    return Err("PAGEOFFSET_12A on an instruction that is not add");
                }
                insn_edge(PageOffset12 { shift: 0 }, i64::from((insn >> 10) & 0xfff))
            }
            pe::IMAGE_REL_ARM64_PAGEOFFSET_12L => {
                let shift = page_offset_shift(insn)
                    .ok_or("PAGEOFFSET_12L on an instruction that is not a load or store")?;
                insn_edge(
                    PageOffset12 { shift },
                    i64::from((insn >> 10) & 0xfff) << shift,
                )
            }
            pe::IMAGE_REL_ARM64_SECREL => data(SectionRelative32, 4),
            pe::IMAGE_REL_ARM64_SECTION => CoffReloc::SectionNumber(Pointer16),
            pe::IMAGE_REL_ARM64_SECREL_LOW12A
            | pe::IMAGE_REL_ARM64_SECREL_HIGH12A
            | pe::IMAGE_REL_ARM64_SECREL_LOW12L => {
                return Err(
                    "section-relative instruction fields (thread-local storage) are not supported",
                )
            }
            pe::IMAGE_REL_ARM64_TOKEN => return Err("CLR tokens are not supported"),
            _ => return Err("unknown relocation type"),
        })
    }

    fn coff_reloc_name(typ: u16) -> String {
        let name = match typ {
            pe::IMAGE_REL_ARM64_ABSOLUTE => "IMAGE_REL_ARM64_ABSOLUTE",
            pe::IMAGE_REL_ARM64_ADDR32 => "IMAGE_REL_ARM64_ADDR32",
            pe::IMAGE_REL_ARM64_ADDR32NB => "IMAGE_REL_ARM64_ADDR32NB",
            pe::IMAGE_REL_ARM64_BRANCH26 => "IMAGE_REL_ARM64_BRANCH26",
            pe::IMAGE_REL_ARM64_PAGEBASE_REL21 => "IMAGE_REL_ARM64_PAGEBASE_REL21",
            pe::IMAGE_REL_ARM64_REL21 => "IMAGE_REL_ARM64_REL21",
            pe::IMAGE_REL_ARM64_PAGEOFFSET_12A => "IMAGE_REL_ARM64_PAGEOFFSET_12A",
            pe::IMAGE_REL_ARM64_PAGEOFFSET_12L => "IMAGE_REL_ARM64_PAGEOFFSET_12L",
            pe::IMAGE_REL_ARM64_SECREL => "IMAGE_REL_ARM64_SECREL",
            pe::IMAGE_REL_ARM64_SECREL_LOW12A => "IMAGE_REL_ARM64_SECREL_LOW12A",
            pe::IMAGE_REL_ARM64_SECREL_HIGH12A => "IMAGE_REL_ARM64_SECREL_HIGH12A",
            pe::IMAGE_REL_ARM64_SECREL_LOW12L => "IMAGE_REL_ARM64_SECREL_LOW12L",
            pe::IMAGE_REL_ARM64_TOKEN => "IMAGE_REL_ARM64_TOKEN",
            pe::IMAGE_REL_ARM64_SECTION => "IMAGE_REL_ARM64_SECTION",
            pe::IMAGE_REL_ARM64_ADDR64 => "IMAGE_REL_ARM64_ADDR64",
            pe::IMAGE_REL_ARM64_BRANCH19 => "IMAGE_REL_ARM64_BRANCH19",
            pe::IMAGE_REL_ARM64_BRANCH14 => "IMAGE_REL_ARM64_BRANCH14",
            pe::IMAGE_REL_ARM64_REL32 => "IMAGE_REL_ARM64_REL32",
            _ => return format!("type {typ:#x}"),
        };
        name.to_string()
    }
}
