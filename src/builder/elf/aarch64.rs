//! The one translation of AArch64 ELF relocation types (LP64) into edge kinds.
//!
//! One table gives, for every type jitlink knows, what it becomes; the names for messages come
//! from the same table. RELA addends are used as they are: every kind computes the AAELF64
//! formula with `A` from the relocation.

use jitlink_arch::aarch64::{AArch64, EdgeKind, EdgeKind::*};
use object::elf;

use super::{ElfArch, ElfReloc, ElfReloc::Edge};

const DYNAMIC: &str = "dynamic relocation in a relocatable object";

/// `PageOffset12` for an access of `1 << shift` bytes.
const fn lo12(shift: u8) -> EdgeKind {
    PageOffset12 { shift }
}

const fn tprel_lo12(shift: u8, checked: bool) -> EdgeKind {
    TPRelLo12 { shift, checked }
}

relocations! {
    R_AARCH64_NONE => Ok(ElfReloc::Skip),
    R_AARCH64_ABS64 => Ok(Edge(Pointer64)),
    R_AARCH64_ABS32 => Ok(Edge(Pointer32)),
    R_AARCH64_ABS16 => Ok(Edge(Pointer16)),
    R_AARCH64_PREL64 => Ok(Edge(Delta64)),
    R_AARCH64_PREL32 => Ok(Edge(Delta32)),
    R_AARCH64_PREL16 => Ok(Edge(Delta16)),
    R_AARCH64_MOVW_UABS_G0 => Ok(Edge(MovWUnsigned { group: 0, checked: true })),
    R_AARCH64_MOVW_UABS_G0_NC => Ok(Edge(MovWUnsigned { group: 0, checked: false })),
    R_AARCH64_MOVW_UABS_G1 => Ok(Edge(MovWUnsigned { group: 1, checked: true })),
    R_AARCH64_MOVW_UABS_G1_NC => Ok(Edge(MovWUnsigned { group: 1, checked: false })),
    R_AARCH64_MOVW_UABS_G2 => Ok(Edge(MovWUnsigned { group: 2, checked: true })),
    R_AARCH64_MOVW_UABS_G2_NC => Ok(Edge(MovWUnsigned { group: 2, checked: false })),
    R_AARCH64_MOVW_UABS_G3 => Ok(Edge(MovWUnsigned { group: 3, checked: true })),
    R_AARCH64_MOVW_SABS_G0 => Ok(Edge(MovWSigned { group: 0, checked: true })),
    R_AARCH64_MOVW_SABS_G1 => Ok(Edge(MovWSigned { group: 1, checked: true })),
    R_AARCH64_MOVW_SABS_G2 => Ok(Edge(MovWSigned { group: 2, checked: true })),
    R_AARCH64_MOVW_PREL_G0 => Ok(Edge(MovWPCRel { group: 0, checked: true })),
    R_AARCH64_MOVW_PREL_G0_NC => Ok(Edge(MovWPCRel { group: 0, checked: false })),
    R_AARCH64_MOVW_PREL_G1 => Ok(Edge(MovWPCRel { group: 1, checked: true })),
    R_AARCH64_MOVW_PREL_G1_NC => Ok(Edge(MovWPCRel { group: 1, checked: false })),
    R_AARCH64_MOVW_PREL_G2 => Ok(Edge(MovWPCRel { group: 2, checked: true })),
    R_AARCH64_MOVW_PREL_G2_NC => Ok(Edge(MovWPCRel { group: 2, checked: false })),
    R_AARCH64_MOVW_PREL_G3 => Ok(Edge(MovWPCRel { group: 3, checked: false })),
    R_AARCH64_LD_PREL_LO19 => Ok(Edge(LoadLiteral19)),
    R_AARCH64_ADR_PREL_LO21 => Ok(Edge(AdrLiteral21)),
    R_AARCH64_ADR_PREL_PG_HI21 => Ok(Edge(Page21)),
    R_AARCH64_ADR_PREL_PG_HI21_NC => Ok(Edge(Page21NoCheck)),
    R_AARCH64_ADD_ABS_LO12_NC => Ok(Edge(lo12(0))),
    R_AARCH64_LDST8_ABS_LO12_NC => Ok(Edge(lo12(0))),
    R_AARCH64_LDST16_ABS_LO12_NC => Ok(Edge(lo12(1))),
    R_AARCH64_LDST32_ABS_LO12_NC => Ok(Edge(lo12(2))),
    R_AARCH64_LDST64_ABS_LO12_NC => Ok(Edge(lo12(3))),
    R_AARCH64_LDST128_ABS_LO12_NC => Ok(Edge(lo12(4))),
    R_AARCH64_TSTBR14 => Ok(Edge(TestBranch14)),
    R_AARCH64_CONDBR19 => Ok(Edge(CondBranch19)),
    R_AARCH64_JUMP26 => Ok(Edge(Branch26PCRel)),
    R_AARCH64_CALL26 => Ok(Edge(Branch26PCRel)),
    R_AARCH64_GOT_LD_PREL19 => Ok(Edge(RequestGOTAndTransformToLoadLiteral19)),
    R_AARCH64_ADR_GOT_PAGE => Ok(Edge(RequestGOTAndTransformToPage21)),
    R_AARCH64_LD64_GOT_LO12_NC => Ok(Edge(RequestGOTAndTransformToPageOffset12)),
    R_AARCH64_LD64_GOTPAGE_LO15 => Ok(Edge(RequestGOTAndTransformToGotPageOffset15)),
    R_AARCH64_TLSGD_ADR_PAGE21 => Ok(Edge(RequestTLSGDPairAndTransformToPage21)),
    R_AARCH64_TLSGD_ADD_LO12_NC => Ok(Edge(RequestTLSGDPairAndTransformToPageOffset12Add)),
    R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21 => Ok(Edge(RequestTPOffAndTransformToPage21)),
    R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC => Ok(Edge(RequestTPOffAndTransformToPageOffset12)),
    R_AARCH64_TLSLE_MOVW_TPREL_G2 => Ok(Edge(MovWTPRel { group: 2, checked: true })),
    R_AARCH64_TLSLE_MOVW_TPREL_G1 => Ok(Edge(MovWTPRel { group: 1, checked: true })),
    R_AARCH64_TLSLE_MOVW_TPREL_G1_NC => Ok(Edge(MovWTPRel { group: 1, checked: false })),
    R_AARCH64_TLSLE_MOVW_TPREL_G0 => Ok(Edge(MovWTPRel { group: 0, checked: true })),
    R_AARCH64_TLSLE_MOVW_TPREL_G0_NC => Ok(Edge(MovWTPRel { group: 0, checked: false })),
    R_AARCH64_TLSLE_ADD_TPREL_HI12 => Ok(Edge(TPRelHi12)),
    R_AARCH64_TLSLE_ADD_TPREL_LO12 => Ok(Edge(tprel_lo12(0, true))),
    R_AARCH64_TLSLE_ADD_TPREL_LO12_NC => Ok(Edge(tprel_lo12(0, false))),
    R_AARCH64_TLSLE_LDST8_TPREL_LO12 => Ok(Edge(tprel_lo12(0, true))),
    R_AARCH64_TLSLE_LDST8_TPREL_LO12_NC => Ok(Edge(tprel_lo12(0, false))),
    R_AARCH64_TLSLE_LDST16_TPREL_LO12 => Ok(Edge(tprel_lo12(1, true))),
    R_AARCH64_TLSLE_LDST16_TPREL_LO12_NC => Ok(Edge(tprel_lo12(1, false))),
    R_AARCH64_TLSLE_LDST32_TPREL_LO12 => Ok(Edge(tprel_lo12(2, true))),
    R_AARCH64_TLSLE_LDST32_TPREL_LO12_NC => Ok(Edge(tprel_lo12(2, false))),
    R_AARCH64_TLSLE_LDST64_TPREL_LO12 => Ok(Edge(tprel_lo12(3, true))),
    R_AARCH64_TLSLE_LDST64_TPREL_LO12_NC => Ok(Edge(tprel_lo12(3, false))),
    R_AARCH64_TLSLE_LDST128_TPREL_LO12 => Ok(Edge(tprel_lo12(4, true))),
    R_AARCH64_TLSLE_LDST128_TPREL_LO12_NC => Ok(Edge(tprel_lo12(4, false))),
    R_AARCH64_TLSDESC_ADR_PAGE21 => Ok(Edge(RequestTLSDescAndTransformToPage21)),
    R_AARCH64_TLSDESC_LD64_LO12 => Ok(Edge(RequestTLSDescAndTransformToPageOffset12)),
    R_AARCH64_TLSDESC_ADD_LO12 => Ok(Edge(RequestTLSDescAndTransformToPageOffset12Add)),
    // Marks the descriptor call for linkers that relax it; the call itself needs no fixup.
    R_AARCH64_TLSDESC_CALL => Ok(ElfReloc::Skip),
    R_AARCH64_TLSLD_ADR_PAGE21 => Err("local-dynamic TLS of the traditional dialect (-mtls-dialect=trad)"),
    R_AARCH64_TLSLD_ADD_LO12_NC => Err("local-dynamic TLS of the traditional dialect (-mtls-dialect=trad)"),
    R_AARCH64_COPY => Err(DYNAMIC),
    R_AARCH64_GLOB_DAT => Err(DYNAMIC),
    R_AARCH64_JUMP_SLOT => Err(DYNAMIC),
    R_AARCH64_RELATIVE => Err(DYNAMIC),
    R_AARCH64_TLS_DTPMOD => Err(DYNAMIC),
    R_AARCH64_TLS_DTPREL => Err(DYNAMIC),
    R_AARCH64_TLS_TPREL => Err(DYNAMIC),
    R_AARCH64_TLSDESC => Err(DYNAMIC),
    R_AARCH64_IRELATIVE => Err(DYNAMIC),
}

impl ElfArch for AArch64 {
    const E_MACHINE: u16 = elf::EM_AARCH64;

    fn translate(r_type: u32) -> Result<ElfReloc<EdgeKind>, &'static str> {
        // R_AARCH64_NONE has two numbers: 0 (the generic one) and 256.
        if r_type == 0 {
            return Ok(ElfReloc::Skip);
        }
        table(r_type).map_or(Err("unknown relocation type"), |(_, what)| what)
    }

    fn reloc_name(r_type: u32) -> String {
        table(r_type).map_or_else(|| format!("type {r_type}"), |(name, _)| name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_has_its_name_and_unknown_ones_are_errors() {
        assert_eq!(
            AArch64::reloc_name(elf::R_AARCH64_CALL26),
            "R_AARCH64_CALL26"
        );
        assert!(matches!(
            AArch64::translate(elf::R_AARCH64_CALL26),
            Ok(Edge(Branch26PCRel))
        ));
        assert!(matches!(
            AArch64::translate(elf::R_AARCH64_LDST128_ABS_LO12_NC),
            Ok(Edge(PageOffset12 { shift: 4 }))
        ));
        assert!(AArch64::translate(elf::R_AARCH64_GLOB_DAT).is_err());
        assert!(AArch64::translate(9999).is_err());
        assert_eq!(AArch64::reloc_name(9999), "type 9999");
        assert!(matches!(AArch64::translate(0), Ok(ElfReloc::Skip)));
    }
}
