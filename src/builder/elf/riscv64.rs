//! The one translation of RISC-V ELF relocation types (RV64) into edge kinds, and the pairing
//! of the relocations that only mean something together.
//!
//! RELA addends are used as they are, with two exceptions made here, once, when the graph is
//! built:
//!
//! - A low half (`PCREL_LO12_I/S`, `TLSDESC_LOAD_LO12`, `TLSDESC_ADD_LO12`) names the label of
//!   the `auipc` that holds the high half, not the target. The builder finds the high-half
//!   relocation at that label's offset in the same section and gives the low half its target,
//!   its addend and the distance `back = P_lo - P_auipc` in the kind, so that the fixup
//!   computes the high half's `S + A - P_auipc`. A label with no high half there is an error.
//! - `ADD8/16/32/64`, `SET6/8/16/32` and `SET_ULEB128` followed by a `SUB` of the same width at
//!   the same offset compute a difference of two symbols in place (`.eh_frame` ranges and
//!   `DW_CFA_advance_loc`, `.gcc_except_table` call sites). The pair becomes one edge: when
//!   both symbols lie in one input section their distance is fixed once the section's padding
//!   is shrunk (see below), so the edge is the constant against address 0 ([`EdgeKind::Set`]);
//!   when the subtracted symbol lies in the fixup's own block the edge is PC-relative
//!   ([`EdgeKind::Delta`]). Any other pair, and an `ADD` or `SUB` alone, is an error.
//!
//! Linker relaxation is not done: `R_RISCV_RELAX` only permits it, and every call, address
//! and thread-pointer sequence keeps its full length. `R_RISCV_ALIGN` is honoured as lld
//! honours it: it marks NOP padding that the assembler made as long as the worst case needs
//! (alignment minus the smallest instruction); the ELF builder deletes the bytes the
//! alignment does not need, at the block offsets it will have (the block is aligned to the
//! largest such alignment), and shifts the symbols, relocations and section-relative addends
//! after them ([`ElfArch::SHRINKS_PADDING`]). The distances that ADD/SUB pairs compute are
//! taken after that, so `.eh_frame` and exception tables describe the shrunk code.

use jitlink_arch::riscv64::{EdgeKind, EdgeKind::*, RiscV64, Width};
use object::elf;

use super::{ElfArch, ElfReloc, ElfReloc::Edge, ElfReloc::Paired, RawReloc};
use crate::graph::{BlockId, Def, LinkGraph, SymbolId};

const DYNAMIC: &str = "dynamic relocation in a relocatable object";

relocations! {
    R_RISCV_NONE => Ok(ElfReloc::Skip),
    R_RISCV_32 => Ok(Edge(Pointer32)),
    R_RISCV_64 => Ok(Edge(Pointer64)),
    R_RISCV_32_PCREL => Ok(Edge(Delta { width: Width::Bits32 })),
    R_RISCV_BRANCH => Ok(Edge(Branch12)),
    R_RISCV_JAL => Ok(Edge(Jal20)),
    R_RISCV_CALL => Ok(Edge(Call)),
    R_RISCV_CALL_PLT => Ok(Edge(Call)),
    R_RISCV_RVC_BRANCH => Ok(Edge(RvcBranch)),
    R_RISCV_RVC_JUMP => Ok(Edge(RvcJump)),
    R_RISCV_HI20 => Ok(Edge(Hi20)),
    R_RISCV_LO12_I => Ok(Edge(Lo12I)),
    R_RISCV_LO12_S => Ok(Edge(Lo12S)),
    R_RISCV_PCREL_HI20 => Ok(Edge(PCRelHi20)),
    R_RISCV_PCREL_LO12_I => Ok(Paired),
    R_RISCV_PCREL_LO12_S => Ok(Paired),
    R_RISCV_GOT_HI20 => Ok(Edge(RequestGOTAndTransformToPCRelHi20)),
    R_RISCV_TLS_GOT_HI20 => Ok(Edge(RequestTPOffAndTransformToPCRelHi20)),
    R_RISCV_TLS_GD_HI20 => Ok(Edge(RequestTLSGDPairAndTransformToPCRelHi20)),
    R_RISCV_TPREL_HI20 => Ok(Edge(TPRelHi20)),
    R_RISCV_TPREL_LO12_I => Ok(Edge(TPRelLo12I)),
    R_RISCV_TPREL_LO12_S => Ok(Edge(TPRelLo12S)),
    // Marks the `add` of the thread pointer for linkers that relax it; nothing to fix up.
    R_RISCV_TPREL_ADD => Ok(ElfReloc::Skip),
    R_RISCV_TLSDESC_HI20 => Ok(Edge(RequestTLSDescAndTransformToPCRelHi20)),
    R_RISCV_TLSDESC_LOAD_LO12 => Ok(Paired),
    R_RISCV_TLSDESC_ADD_LO12 => Ok(Paired),
    // Marks the descriptor call for linkers that relax it; the call itself needs no fixup.
    R_RISCV_TLSDESC_CALL => Ok(ElfReloc::Skip),
    R_RISCV_ADD8 => Ok(Paired),
    R_RISCV_ADD16 => Ok(Paired),
    R_RISCV_ADD32 => Ok(Paired),
    R_RISCV_ADD64 => Ok(Paired),
    R_RISCV_SUB6 => Ok(Paired),
    R_RISCV_SUB8 => Ok(Paired),
    R_RISCV_SUB16 => Ok(Paired),
    R_RISCV_SUB32 => Ok(Paired),
    R_RISCV_SUB64 => Ok(Paired),
    R_RISCV_SET6 => Ok(Paired),
    R_RISCV_SET8 => Ok(Paired),
    R_RISCV_SET16 => Ok(Paired),
    R_RISCV_SET32 => Ok(Paired),
    R_RISCV_SET_ULEB128 => Ok(Paired),
    R_RISCV_SUB_ULEB128 => Ok(Paired),
    // jitlink does not relax (see the module comment); the padding that ALIGN marks was
    // shrunk when the section's block was made.
    R_RISCV_RELAX => Ok(ElfReloc::Skip),
    R_RISCV_ALIGN => Ok(ElfReloc::Skip),
    R_RISCV_GOT32_PCREL => Err("32-bit PC-relative GOT references are not emitted by gcc or clang for RV64"),
    R_RISCV_PLT32 => Err("32-bit PC-relative function references are not emitted by gcc or clang for RV64"),
    R_RISCV_RVC_LUI => Err("c.lui of an address (relaxed output only)"),
    R_RISCV_GPREL_I => Err("gp-relative addressing (relaxed output only)"),
    R_RISCV_GPREL_S => Err("gp-relative addressing (relaxed output only)"),
    R_RISCV_TPREL_I => Err("relaxed tp-relative addressing (relaxed output only)"),
    R_RISCV_TPREL_S => Err("relaxed tp-relative addressing (relaxed output only)"),
    R_RISCV_RELATIVE => Err(DYNAMIC),
    R_RISCV_COPY => Err(DYNAMIC),
    R_RISCV_JUMP_SLOT => Err(DYNAMIC),
    R_RISCV_TLS_DTPMOD32 => Err(DYNAMIC),
    R_RISCV_TLS_DTPMOD64 => Err(DYNAMIC),
    R_RISCV_TLS_DTPREL32 => Err(DYNAMIC),
    // Debug information (DW_OP_GNU_push_tls_address): the offset for __tls_get_addr.
    R_RISCV_TLS_DTPREL64 => Ok(Edge(DTPRel64)),
    R_RISCV_TLS_TPREL32 => Err(DYNAMIC),
    R_RISCV_TLS_TPREL64 => Err(DYNAMIC),
    R_RISCV_TLSDESC => Err(DYNAMIC),
    R_RISCV_IRELATIVE => Err(DYNAMIC),
}

/// How a paired relocation takes part in a difference: `(minus, width)`; `None` for a low
/// half.
fn term(r_type: u32) -> Option<(bool, Width)> {
    Some(match r_type {
        elf::R_RISCV_ADD8 | elf::R_RISCV_SET8 => (false, Width::Bits8),
        elf::R_RISCV_ADD16 | elf::R_RISCV_SET16 => (false, Width::Bits16),
        elf::R_RISCV_ADD32 | elf::R_RISCV_SET32 => (false, Width::Bits32),
        elf::R_RISCV_ADD64 => (false, Width::Bits64),
        elf::R_RISCV_SET6 => (false, Width::Bits6),
        elf::R_RISCV_SET_ULEB128 => (false, Width::Uleb128),
        elf::R_RISCV_SUB6 => (true, Width::Bits6),
        elf::R_RISCV_SUB8 => (true, Width::Bits8),
        elf::R_RISCV_SUB16 => (true, Width::Bits16),
        elf::R_RISCV_SUB32 => (true, Width::Bits32),
        elf::R_RISCV_SUB64 => (true, Width::Bits64),
        elf::R_RISCV_SUB_ULEB128 => (true, Width::Uleb128),
        _ => return None,
    })
}

/// A `SET` writes the value by itself; an `ADD` needs its `SUB`.
fn is_set(r_type: u32) -> bool {
    matches!(
        r_type,
        elf::R_RISCV_SET6
            | elf::R_RISCV_SET8
            | elf::R_RISCV_SET16
            | elf::R_RISCV_SET32
            | elf::R_RISCV_SET_ULEB128
    )
}

/// The low-half kind for a high half of kind `hi` `back` bytes before it, for an I-type
/// (`store` false) or S-type instruction; `tlsdesc` for the `TLSDESC_*_LO12` relocations,
/// which pair only with `TLSDESC_HI20`.
fn low_half(hi: EdgeKind, back: i32, store: bool, tlsdesc: bool) -> Result<EdgeKind, &'static str> {
    match (hi, store, tlsdesc) {
        (PCRelHi20, false, false) => Ok(PCRelLo12I { back }),
        (PCRelHi20, true, false) => Ok(PCRelLo12S { back }),
        (RequestGOTAndTransformToPCRelHi20, false, false) => {
            Ok(RequestGOTAndTransformToPCRelLo12I { back })
        }
        (RequestTPOffAndTransformToPCRelHi20, false, false) => {
            Ok(RequestTPOffAndTransformToPCRelLo12I { back })
        }
        (RequestTLSGDPairAndTransformToPCRelHi20, false, false) => {
            Ok(RequestTLSGDPairAndTransformToPCRelLo12I { back })
        }
        (RequestTLSDescAndTransformToPCRelHi20, false, true) => {
            Ok(RequestTLSDescAndTransformToPCRelLo12I { back })
        }
        (_, true, false) => Err("a store can only complete a PCREL_HI20"),
        (_, _, true) => Err("a TLSDESC low half must point at a TLSDESC_HI20"),
        _ => Err("the high half at its label is not one it pairs with"),
    }
}

/// Where symbol `id` lies: its block and offset, if it is defined in a block.
fn place(graph: &LinkGraph<'_, RiscV64>, id: SymbolId) -> Option<(BlockId, u64)> {
    match graph.symbols.get(id.index())?.def {
        Def::Block { block, offset } => Some((block, offset)),
        _ => None,
    }
}

fn edge(kind: EdgeKind, r: &RawReloc<EdgeKind>, target: SymbolId, addend: i64) -> GraphEdge {
    crate::graph::Edge {
        kind,
        offset: r.offset as u32,
        target,
        addend,
    }
}

type GraphEdge = crate::graph::Edge<EdgeKind>;

impl ElfArch for RiscV64 {
    const E_MACHINE: u16 = elf::EM_RISCV;
    const PAIRED: bool = true;

    const SHRINKS_PADDING: bool = true;

    /// Only the LP64D ABI (double-precision floating point in registers) of Debian's and the
    /// other Linux distributions' riscv64 C libraries, and not RV64E.
    fn check_flags(e_flags: u32) -> Result<(), &'static str> {
        if e_flags & elf::EF_RISCV_RVE != 0 {
            return Err("an RV64E object (16 registers): jitlink links for RV64G Linux");
        }
        match e_flags & elf::EF_RISCV_FLOAT_ABI {
            elf::EF_RISCV_FLOAT_ABI_DOUBLE => Ok(()),
            _ => Err(
                "a riscv64 object not compiled for the LP64D ABI (-mabi=lp64d): the C \
                      library's calls pass floating-point values in registers",
            ),
        }
    }

    /// `R_RISCV_ALIGN`: `A` bytes of NOPs at the place, for the next power of two at or above
    /// `A + 2` (the padding is the alignment minus a compressed instruction's two bytes).
    fn align_padding(r_type: u32, addend: i64) -> Option<(u64, u64)> {
        if r_type != elf::R_RISCV_ALIGN {
            return None;
        }
        let len = u64::try_from(addend).ok()?;
        Some((len, len.checked_add(2)?.checked_next_power_of_two()?))
    }

    /// `nop` (`addi x0, x0, 0`) for every four bytes, and `c.nop` for two left over (padding
    /// of two bytes comes only from assemblers that emit compressed code).
    fn fill_padding(bytes: &mut [u8]) -> Result<(), &'static str> {
        const NOP: [u8; 4] = 0x0000_0013u32.to_le_bytes();
        const C_NOP: [u8; 2] = 0x0001u16.to_le_bytes();
        let mut chunks = bytes.chunks_exact_mut(4);
        for c in &mut chunks {
            c.copy_from_slice(&NOP);
        }
        match chunks.into_remainder() {
            [] => Ok(()),
            rest if rest.len() == 2 => {
                rest.copy_from_slice(&C_NOP);
                Ok(())
            }
            _ => Err("an odd number of bytes cannot be filled with instructions"),
        }
    }

    fn translate(r_type: u32) -> Result<ElfReloc<EdgeKind>, &'static str> {
        table(r_type).map_or(Err("unknown relocation type"), |(_, what)| what)
    }

    fn reloc_name(r_type: u32) -> String {
        table(r_type).map_or_else(|| format!("type {r_type}"), |(name, _)| name.to_string())
    }

    fn pair(
        graph: &LinkGraph<'_, Self>,
        block: BlockId,
        relocs: &[RawReloc<EdgeKind>],
        index: usize,
        null: SymbolId,
    ) -> Result<Option<GraphEdge>, String> {
        let Some(r) = relocs.get(index) else {
            return Ok(None);
        };
        if let Some((minus, width)) = term(r.r_type) {
            if minus {
                // Consumed with the term before it at the same offset, if there is one.
                let paired = relocs[..index]
                    .iter()
                    .rev()
                    .take_while(|o| o.offset == r.offset)
                    .any(|o| matches!(term(o.r_type), Some((false, w)) if w == width));
                return if paired {
                    Ok(None)
                } else {
                    Err("a SUB with no ADD or SET before it at its offset".into())
                };
            }
            let sub = relocs[index + 1..]
                .iter()
                .take_while(|o| o.offset == r.offset)
                .find(|o| matches!(term(o.r_type), Some((true, w)) if w == width));
            let Some(sub) = sub else {
                if is_set(r.r_type) {
                    return Ok(Some(edge(Set { width }, r, r.target, r.addend)));
                }
                return Err("an ADD with no SUB of its width at its offset".into());
            };
            let (plus_at, minus_at) = (place(graph, r.target), place(graph, sub.target));
            return match (plus_at, minus_at) {
                // One input section: the distance is fixed.
                (Some((b1, o1)), Some((b2, o2))) if b1 == b2 => {
                    let c =
                        (o1 as i128 + i128::from(r.addend)) - (o2 as i128 + i128::from(sub.addend));
                    let c = i64::try_from(c).map_err(|_| "the difference overflows".to_string())?;
                    Ok(Some(edge(Set { width }, r, null, c)))
                }
                // The subtracted symbol is in this block: S2 = P + (o2 - offset).
                (_, Some((b2, o2))) if b2 == block => {
                    let back = o2 as i128 - i128::from(r.offset as i64);
                    let a = i128::from(r.addend) - i128::from(sub.addend) - back;
                    let a = i64::try_from(a).map_err(|_| "the difference overflows".to_string())?;
                    Ok(Some(edge(Delta { width }, r, r.target, a)))
                }
                _ => Err(format!(
                    "a difference of two symbols in different sections ({} minus {}), neither \
                     in this one",
                    graph.symbol_name(r.target),
                    graph.symbol_name(sub.target)
                )),
            };
        }
        // A low half: its symbol labels the auipc.
        let tlsdesc = matches!(
            r.r_type,
            elf::R_RISCV_TLSDESC_LOAD_LO12 | elf::R_RISCV_TLSDESC_ADD_LO12
        );
        let store = r.r_type == elf::R_RISCV_PCREL_LO12_S;
        let Some((b, label)) = place(graph, r.target) else {
            return Err("its symbol is not a label in a section".into());
        };
        if b != block {
            return Err("its label is in another section than the instruction".into());
        }
        let hi_at = label as i128 + i128::from(r.addend);
        let first = relocs.partition_point(|o| i128::from(o.offset) < hi_at);
        let mut at_label = relocs[first..]
            .iter()
            .take_while(|o| i128::from(o.offset) == hi_at);
        let hi = at_label.find(|o| {
            matches!(
                o.what,
                ElfReloc::Edge(
                    PCRelHi20
                        | RequestGOTAndTransformToPCRelHi20
                        | RequestTPOffAndTransformToPCRelHi20
                        | RequestTLSGDPairAndTransformToPCRelHi20
                        | RequestTLSDescAndTransformToPCRelHi20
                )
            )
        });
        let Some(hi) = hi else {
            return Err(format!(
                "no PCREL_HI20, GOT_HI20, TLS_GOT_HI20, TLS_GD_HI20 or TLSDESC_HI20 relocation \
                 at its label (offset {hi_at:#x}): unpaired low half"
            ));
        };
        let ElfReloc::Edge(hi_kind) = hi.what else {
            return Err("internal: high half without an edge".into());
        };
        let back = i32::try_from(i128::from(r.offset) - i128::from(hi.offset))
            .map_err(|_| "its auipc lies more than 2 GiB away".to_string())?;
        let kind = low_half(hi_kind, back, store, tlsdesc).map_err(String::from)?;
        Ok(Some(edge(kind, r, hi.target, hi.addend)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_has_its_name_and_unknown_ones_are_errors() {
        assert_eq!(
            RiscV64::reloc_name(elf::R_RISCV_CALL_PLT),
            "R_RISCV_CALL_PLT"
        );
        assert!(matches!(
            RiscV64::translate(elf::R_RISCV_CALL_PLT),
            Ok(Edge(Call))
        ));
        assert!(matches!(
            RiscV64::translate(elf::R_RISCV_PCREL_LO12_S),
            Ok(Paired)
        ));
        assert!(RiscV64::translate(elf::R_RISCV_JUMP_SLOT).is_err());
        assert!(RiscV64::translate(9999).is_err());
        assert_eq!(RiscV64::reloc_name(9999), "type 9999");
        assert!(matches!(RiscV64::translate(0), Ok(ElfReloc::Skip)));
        // Every paired type is either a term of a difference or a low half.
        for t in 0..=70 {
            if let Ok(Paired) = RiscV64::translate(t) {
                let low = matches!(
                    t,
                    elf::R_RISCV_PCREL_LO12_I
                        | elf::R_RISCV_PCREL_LO12_S
                        | elf::R_RISCV_TLSDESC_LOAD_LO12
                        | elf::R_RISCV_TLSDESC_ADD_LO12
                );
                assert_eq!(term(t).is_some(), !low, "{}", RiscV64::reloc_name(t));
            }
        }
    }

    #[test]
    fn align_padding_is_the_alignment_less_two_bytes_and_refills_with_nops() {
        assert_eq!(
            RiscV64::align_padding(elf::R_RISCV_ALIGN, 14),
            Some((14, 16))
        );
        assert_eq!(RiscV64::align_padding(elf::R_RISCV_ALIGN, 2), Some((2, 4)));
        // Without compressed code the assembler pads by 4 bytes less: still aligned to 8.
        assert_eq!(RiscV64::align_padding(elf::R_RISCV_ALIGN, 4), Some((4, 8)));
        assert_eq!(RiscV64::align_padding(elf::R_RISCV_ALIGN, -1), None);
        assert_eq!(RiscV64::align_padding(elf::R_RISCV_RELAX, 4), None);
        let mut b = [0xffu8; 6];
        RiscV64::fill_padding(&mut b).unwrap();
        assert_eq!(b, [0x13, 0, 0, 0, 0x01, 0]);
        assert!(RiscV64::fill_padding(&mut [0u8; 3]).is_err());
    }

    #[test]
    fn only_lp64d_objects_are_linked() {
        assert!(RiscV64::check_flags(elf::EF_RISCV_FLOAT_ABI_DOUBLE | elf::EF_RISCV_RVC).is_ok());
        assert!(RiscV64::check_flags(elf::EF_RISCV_FLOAT_ABI_SOFT).is_err());
        assert!(RiscV64::check_flags(elf::EF_RISCV_FLOAT_ABI_SINGLE).is_err());
        assert!(RiscV64::check_flags(elf::EF_RISCV_FLOAT_ABI_DOUBLE | elf::EF_RISCV_RVE).is_err());
    }

    #[test]
    fn low_halves_pair_only_with_their_high_halves() {
        assert_eq!(
            low_half(PCRelHi20, 8, true, false),
            Ok(PCRelLo12S { back: 8 })
        );
        assert!(low_half(RequestGOTAndTransformToPCRelHi20, 4, true, false).is_err());
        assert!(low_half(PCRelHi20, 4, false, true).is_err());
        assert!(low_half(RequestTLSDescAndTransformToPCRelHi20, 4, false, false).is_err());
        assert!(low_half(Hi20, 4, false, false).is_err());
    }
}
