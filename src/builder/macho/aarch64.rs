//! arm64 Mach-O relocations. Instructions hold no addend (an `ARM64_RELOC_ADDEND` before the
//! relocation carries it); pointers hold theirs in place.

use jitlink_arch::aarch64::{AArch64, EdgeKind};
use object::macho;

use super::{Implicit, MachOArch, MachOReloc};

/// log2 of the access size of the `add` or load/store (unsigned offset) instruction `insn`:
/// the scale of its 12-bit offset. `None` for other instructions.
pub(crate) fn page_offset_shift(insn: u32) -> Option<u8> {
    if insn & 0x1f00_0000 == 0x1100_0000 {
        return Some(0); // add (immediate)
    }
    if insn & 0x3b00_0000 == 0x3900_0000 {
        let size = (insn >> 30) as u8;
        // A 128-bit vector access: size 0, V set, opc bit 1 set.
        if size == 0 && insn & 0x0480_0000 == 0x0480_0000 {
            return Some(4);
        }
        return Some(size);
    }
    None
}

impl MachOArch for AArch64 {
    const CPU_TYPE: u32 = macho::CPU_TYPE_ARM64;

    fn translate_macho(
        r: &macho::RelocationInfo,
        insn: u32,
    ) -> std::result::Result<MachOReloc<EdgeKind>, &'static str> {
        use EdgeKind::*;
        use Implicit::{Data, None};
        use MachOReloc::Edge;
        let (pcrel, len, ext) = (r.r_pcrel, r.r_length, r.r_extern);
        let lo12 = || {
            page_offset_shift(insn)
                .ok_or("page offset on an instruction that is not add, ldr or str")
        };
        Ok(match r.r_type {
            macho::ARM64_RELOC_UNSIGNED if !pcrel && len == 3 => Edge(Pointer64, Data),
            macho::ARM64_RELOC_UNSIGNED if !pcrel && len == 2 => Edge(Pointer32, Data),
            macho::ARM64_RELOC_SUBTRACTOR if !pcrel && ext && (len == 2 || len == 3) => {
                MachOReloc::Subtractor
            }
            macho::ARM64_RELOC_BRANCH26 if pcrel && len == 2 && ext => Edge(Branch26PCRel, None),
            macho::ARM64_RELOC_PAGE21 if pcrel && len == 2 && ext => Edge(Page21, None),
            macho::ARM64_RELOC_PAGEOFF12 if !pcrel && len == 2 && ext => {
                Edge(PageOffset12 { shift: lo12()? }, None)
            }
            macho::ARM64_RELOC_GOT_LOAD_PAGE21 if pcrel && len == 2 && ext => {
                Edge(RequestGOTAndTransformToPage21, None)
            }
            macho::ARM64_RELOC_GOT_LOAD_PAGEOFF12 if !pcrel && len == 2 && ext => {
                if page_offset_shift(insn) != Some(3) {
                    return Err("GOT page offset on an instruction that is not a 64-bit ldr");
                }
                Edge(RequestGOTAndTransformToPageOffset12, None)
            }
            macho::ARM64_RELOC_POINTER_TO_GOT if pcrel && len == 2 && ext => {
                Edge(RequestGOTAndTransformToDelta32, None)
            }
            macho::ARM64_RELOC_POINTER_TO_GOT if !pcrel => {
                return Err("absolute pointers to GOT entries are not supported")
            }
            macho::ARM64_RELOC_ADDEND if !ext => MachOReloc::Addend,
            macho::ARM64_RELOC_TLVP_LOAD_PAGE21 | macho::ARM64_RELOC_TLVP_LOAD_PAGEOFF12 => {
                return Err("thread-local variables need the Darwin TLV runtime")
            }
            macho::ARM64_RELOC_AUTHENTICATED_POINTER => {
                return Err("pointer authentication (arm64e) is not supported")
            }
            0..=10 => return Err("unexpected pcrel, length or extern bits for this type"),
            _ => return Err("unknown relocation type"),
        })
    }

    fn macho_reloc_name(r_type: u8) -> String {
        let name = match r_type {
            macho::ARM64_RELOC_UNSIGNED => "ARM64_RELOC_UNSIGNED",
            macho::ARM64_RELOC_SUBTRACTOR => "ARM64_RELOC_SUBTRACTOR",
            macho::ARM64_RELOC_BRANCH26 => "ARM64_RELOC_BRANCH26",
            macho::ARM64_RELOC_PAGE21 => "ARM64_RELOC_PAGE21",
            macho::ARM64_RELOC_PAGEOFF12 => "ARM64_RELOC_PAGEOFF12",
            macho::ARM64_RELOC_GOT_LOAD_PAGE21 => "ARM64_RELOC_GOT_LOAD_PAGE21",
            macho::ARM64_RELOC_GOT_LOAD_PAGEOFF12 => "ARM64_RELOC_GOT_LOAD_PAGEOFF12",
            macho::ARM64_RELOC_POINTER_TO_GOT => "ARM64_RELOC_POINTER_TO_GOT",
            macho::ARM64_RELOC_TLVP_LOAD_PAGE21 => "ARM64_RELOC_TLVP_LOAD_PAGE21",
            macho::ARM64_RELOC_TLVP_LOAD_PAGEOFF12 => "ARM64_RELOC_TLVP_LOAD_PAGEOFF12",
            macho::ARM64_RELOC_ADDEND => "ARM64_RELOC_ADDEND",
            macho::ARM64_RELOC_AUTHENTICATED_POINTER => "ARM64_RELOC_AUTHENTICATED_POINTER",
            _ => return format!("type {r_type}"),
        };
        name.to_string()
    }

    fn subtractor_kind(length: u8, negated: bool) -> Option<EdgeKind> {
        match (length, negated) {
            (3, false) => Some(EdgeKind::Delta64),
            (2, false) => Some(EdgeKind::Delta32),
            (3, true) => Some(EdgeKind::NegDelta64),
            (2, true) => Some(EdgeKind::NegDelta32),
            _ => None,
        }
    }
}
