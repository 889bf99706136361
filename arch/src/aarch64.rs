//! AArch64 (little-endian, LP64): edge kinds, the fixup match and the jump stub.
//!
//! In the formulas, `P` is the address of the field (an instruction for every instruction kind),
//! `S` the target address, `A` the addend, `GOT` the address of the graph's GOT, `TP` the
//! target's offset from the thread pointer minus `S` (the block's offset: AArch64 uses TLS
//! variant 1, so it is positive), `Page(x)` is `x & !0xfff`, `ImageBase` the lowest address of
//! the linked set, and `Section(S)` the start of the section holding `S`.
//!
//! Instruction kinds write only their immediate field (and, for the signed `movz`/`movn`
//! forms, the opcode bit that selects between them); the rest of the instruction is kept.
//! Ranges and alignment are checked as the ELF for the Arm 64-bit Architecture (AAELF64) and
//! ld.lld check them: a value that does not fit is an error, never a truncation. Kinds marked
//! "no check" are the `_NC` relocations, which keep only the bits their field holds by design.

use crate::{check_range, image_relative, section_relative, write_field, write_u32};
use crate::{Arch, EdgeRole, FixupError, FixupValues, Reach};
use crate::{StubTemplate, TlsEntry};

/// The AArch64 architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AArch64;

/// AArch64 edge kinds. Each names the computation it performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// `Fixup <- S + A : uint64` (`ABS64`).
    Pointer64,
    /// `Fixup <- S + A : int32 or uint32` (`ABS32`), error if out of range.
    Pointer32,
    /// `Fixup <- S + A : int16 or uint16` (`ABS16`), error if out of range.
    Pointer16,
    /// `Fixup <- S + A - P : int64` (`PREL64`).
    Delta64,
    /// `Fixup <- S + A - P : int32 or uint32` (`PREL32`), error if out of range.
    Delta32,
    /// `Fixup <- S + A - P : int16 or uint16` (`PREL16`), error if out of range.
    Delta16,
    /// `Fixup <- P - S + A : int64` (a Mach-O `SUBTRACTOR` pair whose minuend lies in the
    /// fixup's block).
    NegDelta64,
    /// `Fixup <- P - S + A : int32`, error if out of range.
    NegDelta32,
    /// `b`/`bl imm26 <- (S + A - P) >> 2`, in ±128 MiB (`CALL26`, `JUMP26`). The GOT/stub
    /// pass sends it through a stub when the target is out of reach.
    Branch26PCRel,
    /// `adrp imm21 <- (Page(S + A) - Page(P)) >> 12`, in ±4 GiB (`ADR_PREL_PG_HI21`).
    Page21,
    /// As [`EdgeKind::Page21`], no check (`ADR_PREL_PG_HI21_NC`).
    Page21NoCheck,
    /// `adr imm21 <- S + A - P`, in ±1 MiB (`ADR_PREL_LO21`).
    AdrLiteral21,
    /// `add`/`ldr`/`str imm12 <- ((S + A) & 0xfff) >> shift`; the low `shift` bits must be zero
    /// (`ADD_ABS_LO12_NC` with shift 0, `LDST8/16/32/64/128_ABS_LO12_NC` with shift 0 to 4).
    PageOffset12 {
        /// log2 of the access size.
        shift: u8,
    },
    /// `ldr (literal) imm19 <- (S + A - P) >> 2`, in ±1 MiB, 4-byte aligned (`LD_PREL_LO19`).
    LoadLiteral19,
    /// `b.cond`/`cbz`/`cbnz imm19 <- (S + A - P) >> 2`, in ±1 MiB (`CONDBR19`).
    CondBranch19,
    /// `tbz`/`tbnz imm14 <- (S + A - P) >> 2`, in ±32 KiB (`TSTBR14`).
    TestBranch14,
    /// `movz`/`movk imm16 <- (S + A) >> (16 * group)`; if `checked`, `S + A` must be below
    /// `2^(16 * (group + 1))` (`MOVW_UABS_G0..G3`, `_NC` unchecked).
    MovWUnsigned {
        /// Which 16-bit group (0 to 3).
        group: u8,
        /// Whether the value must fit the groups up to this one.
        checked: bool,
    },
    /// `movz`/`movn imm16 <- (S + A) >> (16 * group)`, `movn` with the inverted value when it is
    /// negative; if `checked`, it must fit `16 * (group + 1) + 1` signed bits
    /// (`MOVW_SABS_G0..G2`).
    MovWSigned {
        /// Which 16-bit group (0 to 2).
        group: u8,
        /// Whether the value must fit.
        checked: bool,
    },
    /// As [`EdgeKind::MovWSigned`] for `S + A - P` (`MOVW_PREL_G0..G3`, `_NC` unchecked; a
    /// `movk` keeps its opcode).
    MovWPCRel {
        /// Which 16-bit group (0 to 3).
        group: u8,
        /// Whether the value must fit.
        checked: bool,
    },
    /// As [`EdgeKind::MovWSigned`] for `S + A + TP` (`TLSLE_MOVW_TPREL_G0..G2`, `_NC`).
    MovWTPRel {
        /// Which 16-bit group (0 to 2).
        group: u8,
        /// Whether the value must fit.
        checked: bool,
    },
    /// `add imm12 <- (S + A + TP) >> 12`, `S + A + TP` below 2^24 (`TLSLE_ADD_TPREL_HI12`).
    TPRelHi12,
    /// `add`/`ldr`/`str imm12 <- ((S + A + TP) & 0xfff) >> shift`, low bits zero; if `checked`,
    /// `S + A + TP` must be below 2^12 (`TLSLE_ADD_TPREL_LO12(_NC)`,
    /// `TLSLE_LDST8..128_TPREL_LO12(_NC)`).
    TPRelLo12 {
        /// log2 of the access size.
        shift: u8,
        /// Whether the whole value must fit 12 bits.
        checked: bool,
    },
    /// `ldr imm12 <- (S + A - Page(GOT)) >> 3`, 8-byte aligned, below 2^15: the offset of a GOT
    /// entry from the GOT's page.
    GotPageOffset15,
    /// An `adrp` at the place and an `ldr` of 64 bits after it, addressing `S + A` together:
    /// `adrp imm21 <- (Page(S + A) - Page(P)) >> 12`, `ldr imm12 <- ((S + A) & 0xfff) >> 3`.
    /// Used by stubs to load their pointer slot.
    AdrpLdr64Pair,
    /// The `adrp Xd` of a GOT load (`adrp Xd, GOT entry; ldr Xd, [Xd, lo12]`) relaxed to
    /// address the target itself, as lld and ld64 relax it: `adr Xd <- S + A - P` if that is
    /// in ±1 MiB, else `adrp Xd imm21 <- (Page(S + A) - Page(P)) >> 12`, in ±4 GiB (error
    /// otherwise). The `ldr` after it is [`EdgeKind::AddLo12OrNop`].
    Page21OrAdr,
    /// The `ldr Xd, [Xd, #imm]` of a relaxed GOT load whose `adrp` is at `P - 4`: `nop` if
    /// `S + A - (P - 4)` is in ±1 MiB (the `adrp` became `adr`), else
    /// `add Xd, Xd, #((S + A) & 0xfff)`.
    AddLo12OrNop,
    /// `Fixup <- TLSModule : uint64`, the module id of the graph's TLS block.
    TLSModule64,
    /// `Fixup <- S + A : uint64`, where `S` is the target's offset in its TLS block.
    DTPOff64,
    /// `Fixup <- S + A + TP : uint64`: the target's offset from the thread pointer.
    TPOff64,
    /// Request a GOT entry (`ADR_GOT_PAGE`); becomes [`EdgeKind::Page21`] to it.
    RequestGOTAndTransformToPage21,
    /// Request a GOT entry (`LD64_GOT_LO12_NC`); becomes `PageOffset12 { shift: 3 }` to it.
    RequestGOTAndTransformToPageOffset12,
    /// Request a GOT entry (`LD64_GOTPAGE_LO15`); becomes [`EdgeKind::GotPageOffset15`] to it.
    RequestGOTAndTransformToGotPageOffset15,
    /// Request a GOT entry (`GOT_LD_PREL19`); becomes [`EdgeKind::LoadLiteral19`] to it.
    RequestGOTAndTransformToLoadLiteral19,
    /// Request a GOT entry (Mach-O `POINTER_TO_GOT`); becomes [`EdgeKind::Delta32`] to it.
    RequestGOTAndTransformToDelta32,
    /// Request a GOT entry holding the thread-pointer offset (`TLSIE_ADR_GOTTPREL_PAGE21`);
    /// becomes [`EdgeKind::Page21`] to it.
    RequestTPOffAndTransformToPage21,
    /// As above for `TLSIE_LD64_GOTTPREL_LO12_NC`; becomes `PageOffset12 { shift: 3 }`.
    RequestTPOffAndTransformToPageOffset12,
    /// Request a TLS descriptor (`TLSDESC_ADR_PAGE21`); becomes [`EdgeKind::Page21`] to it.
    RequestTLSDescAndTransformToPage21,
    /// As above for `TLSDESC_LD64_LO12`; becomes `PageOffset12 { shift: 3 }`.
    RequestTLSDescAndTransformToPageOffset12,
    /// As above for `TLSDESC_ADD_LO12`; becomes `PageOffset12 { shift: 0 }`.
    RequestTLSDescAndTransformToPageOffset12Add,
    /// Request a `(module, offset)` pair (`TLSGD_ADR_PAGE21`); becomes [`EdgeKind::Page21`].
    RequestTLSGDPairAndTransformToPage21,
    /// As above for `TLSGD_ADD_LO12_NC`; becomes `PageOffset12 { shift: 0 }`.
    RequestTLSGDPairAndTransformToPageOffset12Add,
    /// `Fixup <- S + A - ImageBase : uint32`, error if out of range: the target's offset from
    /// the linked set's lowest address (COFF `ADDR32NB`, an RVA).
    ImageRelative32,
    /// `Fixup <- S + A - Section(S) : uint32`, error if out of range or if the target lies in
    /// no section: the target's offset in its section (COFF `SECREL`).
    SectionRelative32,
}

/// `adrp x16, slot; ldr x16, [x16, :lo12:slot]; br x16; brk #0`.
const JUMP_STUB_BYTES: [u8; 16] = [
    0x10, 0x00, 0x00, 0x90, // adrp x16, 0            ; AdrpLdr64Pair at offset 0
    0x10, 0x02, 0x40, 0xf9, // ldr  x16, [x16, #0]
    0x00, 0x02, 0x1f, 0xd6, // br   x16
    0x00, 0x00, 0x20, 0xd4, // brk  #0                ; padding, never executed
];

/// `nop`.
const NOP: u32 = 0xd503_201f;
/// `add Xd, Xn, #imm12` (64-bit, no shift), without its registers and immediate.
const ADD_X_IMM: u32 = 0x9100_0000;
/// `adr` (bit 31 clear) and `adrp` (set) share their encoding otherwise.
const ADRP_BIT: u32 = 1 << 31;

/// True if `x`, an `adr` displacement, fits its ±1 MiB.
fn adr_reaches(x: i128) -> bool {
    (-(1i128 << 20)..1i128 << 20).contains(&x)
}

/// Branch range of `b`/`bl`: ±128 MiB.
const BRANCH26_RANGE: u64 = 128 << 20;

const IMM26: u32 = 0x03ff_ffff;
const IMM19: u32 = 0x7ffff << 5;
const IMM14: u32 = 0x3fff << 5;
const IMM12: u32 = 0xfff << 10;
const IMM16: u32 = 0xffff << 5;
const ADR_IMM: u32 = (3 << 29) | (0x7ffff << 5);
/// `movk` has bit 29 set; `movz` and `movn` differ in bit 30.
const MOVK_BIT: u32 = 1 << 29;
const MOVZ_BIT: u32 = 1 << 30;

fn delta(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128 - v.p as i128
}

fn neg_delta(v: FixupValues) -> i128 {
    v.p as i128 - v.s as i128 + v.a as i128
}

fn absolute(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128
}

fn tp_relative(v: FixupValues) -> i128 {
    absolute(v) + v.tls.tp_offset as i128
}

fn page(x: i128) -> i128 {
    x & !0xfff
}

fn page_delta(v: FixupValues) -> i128 {
    page(absolute(v)) - page(v.p as i128)
}

fn read32(block: &[u8], offset: usize) -> Result<u32, FixupError> {
    let end = offset.checked_add(4).ok_or(FixupError::PlaceOutOfBounds)?;
    let b = block.get(offset..end).ok_or(FixupError::PlaceOutOfBounds)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Replaces the bits of `mask` in the instruction at `offset` with those of `bits`.
fn patch(block: &mut [u8], offset: usize, mask: u32, bits: u32) -> Result<(), FixupError> {
    let ins = read32(block, offset)?;
    write_field(
        block,
        offset,
        &((ins & !mask) | (bits & mask)).to_le_bytes(),
    )
}

/// A `bytes`-wide data field holding `x` as a signed or an unsigned value (the ABS and PREL
/// relocations narrower than 64 bits accept both ranges).
fn write_data(block: &mut [u8], offset: usize, x: i128, bytes: usize) -> Result<(), FixupError> {
    let bits = 8 * bytes as u32;
    check_range(x, -(1i128 << (bits - 1)), (1i128 << bits) - 1)?;
    write_field(block, offset, &(x as u64).to_le_bytes()[..bytes])
}

fn check_aligned(x: i128, shift: u8) -> Result<(), FixupError> {
    if x & ((1i128 << shift) - 1) != 0 {
        return Err(FixupError::Misaligned {
            value: x,
            align: 1 << shift,
        });
    }
    Ok(())
}

/// `adr`/`adrp` immediate: low two bits in 29..30, the rest in 5..23.
fn write_adr_imm(block: &mut [u8], offset: usize, imm: i128) -> Result<(), FixupError> {
    let imm = imm as u32;
    patch(
        block,
        offset,
        ADR_IMM,
        ((imm & 3) << 29) | (((imm >> 2) & 0x7ffff) << 5),
    )
}

fn write_page21(block: &mut [u8], offset: usize, x: i128, checked: bool) -> Result<(), FixupError> {
    if checked {
        check_range(x, -(1i128 << 32), (1i128 << 32) - 1)?;
    }
    write_adr_imm(block, offset, x >> 12)
}

fn write_lo12(block: &mut [u8], offset: usize, x: i128, shift: u8) -> Result<(), FixupError> {
    let lo = x & 0xfff;
    check_aligned(lo, shift)?;
    patch(block, offset, IMM12, ((lo >> shift) as u32) << 10)
}

/// A PC-relative instruction immediate of `bits` bits counting 4-byte units at bit `at`.
fn write_pc_imm(
    block: &mut [u8],
    offset: usize,
    x: i128,
    bits: u32,
    mask: u32,
    at: u32,
) -> Result<(), FixupError> {
    check_aligned(x, 2)?;
    check_range(x, -(1i128 << (bits + 1)), (1i128 << (bits + 1)) - 1)?;
    patch(block, offset, mask, (((x >> 2) as u32) << at) & mask)
}

/// `movz`/`movk imm16` from group `group` of an unsigned value.
fn write_movw_unsigned(
    block: &mut [u8],
    offset: usize,
    x: i128,
    group: u8,
    checked: bool,
) -> Result<(), FixupError> {
    if checked && group < 3 {
        check_range(x, 0, (1i128 << (16 * (u32::from(group) + 1))) - 1)?;
    }
    let imm = ((x as u64) >> (16 * u32::from(group))) as u32 & 0xffff;
    patch(block, offset, IMM16, imm << 5)
}

/// `movz`/`movn`/`movk imm16` from group `group` of a signed value: a `movz` or `movn` becomes
/// `movn` of the inverted group when the value is negative and `movz` otherwise.
fn write_movw_signed(
    block: &mut [u8],
    offset: usize,
    x: i128,
    group: u8,
    checked: bool,
) -> Result<(), FixupError> {
    let bits = 16 * (u32::from(group) + 1);
    if checked && group < 3 {
        check_range(x, -(1i128 << bits), (1i128 << bits) - 1)?;
    }
    let shifted = (x >> (16 * u32::from(group))) as u32;
    let mut ins = read32(block, offset)?;
    let mut imm = shifted & 0xffff;
    if ins & MOVK_BIT == 0 {
        if x < 0 {
            imm = !shifted & 0xffff;
            ins &= !MOVZ_BIT;
        } else {
            ins |= MOVZ_BIT;
        }
    }
    write_field(block, offset, &((ins & !IMM16) | (imm << 5)).to_le_bytes())
}

impl Arch for AArch64 {
    type EdgeKind = EdgeKind;
    const NAME: &'static str = "aarch64";
    const POINTER_SIZE: u64 = 8;
    const POINTER_KIND: EdgeKind = EdgeKind::Pointer64;
    const TLS_MODULE_KIND: EdgeKind = EdgeKind::TLSModule64;
    const TLS_OFFSET_KIND: EdgeKind = EdgeKind::DTPOff64;
    const TP_OFFSET_KIND: EdgeKind = EdgeKind::TPOff64;
    const JUMP_STUB: StubTemplate<EdgeKind> = StubTemplate {
        bytes: &JUMP_STUB_BYTES,
        slot_offset: 0,
        slot_kind: EdgeKind::AdrpLdr64Pair,
        slot_addend: 0,
        align: 4,
    };
    const BRANCH_RANGE: u64 = BRANCH26_RANGE;

    fn apply_fixup(
        kind: EdgeKind,
        block: &mut [u8],
        offset: usize,
        v: FixupValues,
    ) -> Result<(), FixupError> {
        use EdgeKind::*;
        match kind {
            Pointer64 => write_field(block, offset, &(absolute(v) as u64).to_le_bytes()),
            Pointer32 => write_data(block, offset, absolute(v), 4),
            Pointer16 => write_data(block, offset, absolute(v), 2),
            Delta64 => write_field(block, offset, &(delta(v) as u64).to_le_bytes()),
            NegDelta64 => write_field(block, offset, &(neg_delta(v) as u64).to_le_bytes()),
            NegDelta32 => {
                let x = neg_delta(v);
                check_range(x, -(1i128 << 31), (1i128 << 31) - 1)?;
                write_field(block, offset, &(x as i32).to_le_bytes())
            }
            Delta32 => write_data(block, offset, delta(v), 4),
            Delta16 => write_data(block, offset, delta(v), 2),
            Branch26PCRel => write_pc_imm(block, offset, delta(v), 26, IMM26, 0),
            Page21 => write_page21(block, offset, page_delta(v), true),
            Page21NoCheck => write_page21(block, offset, page_delta(v), false),
            AdrLiteral21 => {
                let x = delta(v);
                check_range(x, -(1i128 << 20), (1i128 << 20) - 1)?;
                write_adr_imm(block, offset, x)
            }
            PageOffset12 { shift } => write_lo12(block, offset, absolute(v), shift),
            LoadLiteral19 | CondBranch19 => write_pc_imm(block, offset, delta(v), 19, IMM19, 5),
            TestBranch14 => write_pc_imm(block, offset, delta(v), 14, IMM14, 5),
            MovWUnsigned { group, checked } => {
                write_movw_unsigned(block, offset, absolute(v), group, checked)
            }
            // Signed groups read `S + A` as a 64-bit two's-complement value, as the ABI (and
            // ld.lld) do: an absolute symbol at 0xffff_ffff_ffff_1234 is -0xedcc.
            MovWSigned { group, checked } => {
                write_movw_signed(block, offset, absolute(v) as i64 as i128, group, checked)
            }
            MovWPCRel { group, checked } => {
                write_movw_signed(block, offset, delta(v), group, checked)
            }
            MovWTPRel { group, checked } => {
                write_movw_signed(block, offset, tp_relative(v), group, checked)
            }
            TPRelHi12 => {
                let x = tp_relative(v);
                check_range(x, 0, (1i128 << 24) - 1)?;
                patch(block, offset, IMM12, (((x >> 12) & 0xfff) as u32) << 10)
            }
            TPRelLo12 { shift, checked } => {
                let x = tp_relative(v);
                if checked {
                    check_range(x, 0, (1i128 << 12) - 1)?;
                }
                write_lo12(block, offset, x, shift)
            }
            GotPageOffset15 => {
                let x = absolute(v) - page(v.got as i128);
                check_aligned(x, 3)?;
                check_range(x, 0, (1i128 << 15) - 1)?;
                patch(block, offset, IMM12, ((x >> 3) as u32) << 10)
            }
            AdrpLdr64Pair => {
                write_page21(block, offset, page_delta(v), true)?;
                let ldr = offset.checked_add(4).ok_or(FixupError::PlaceOutOfBounds)?;
                write_lo12(block, ldr, absolute(v), 3)
            }
            Page21OrAdr => {
                let near = adr_reaches(delta(v));
                let ins = read32(block, offset)?;
                let ins = if near {
                    ins & !ADRP_BIT
                } else {
                    ins | ADRP_BIT
                };
                write_field(block, offset, &ins.to_le_bytes())?;
                if near {
                    write_adr_imm(block, offset, delta(v))
                } else {
                    write_page21(block, offset, page_delta(v), true)
                }
            }
            AddLo12OrNop => {
                if adr_reaches(delta(v) + 4) {
                    return write_field(block, offset, &NOP.to_le_bytes());
                }
                let ldr = read32(block, offset)?;
                let regs = ldr & 0x3ff; // Rn and Rt, at the same bits in `add` (Rn, Rd)
                let lo = (absolute(v) & 0xfff) as u32;
                write_field(block, offset, &(ADD_X_IMM | lo << 10 | regs).to_le_bytes())
            }
            TLSModule64 => write_field(block, offset, &v.tls.module.to_le_bytes()),
            DTPOff64 => write_field(block, offset, &(absolute(v) as u64).to_le_bytes()),
            TPOff64 => write_field(block, offset, &(tp_relative(v) as u64).to_le_bytes()),
            ImageRelative32 => write_u32(block, offset, image_relative(v)),
            SectionRelative32 => write_u32(block, offset, section_relative(v)?),
            RequestGOTAndTransformToPage21
            | RequestGOTAndTransformToPageOffset12
            | RequestGOTAndTransformToGotPageOffset15
            | RequestGOTAndTransformToLoadLiteral19
            | RequestGOTAndTransformToDelta32
            | RequestTPOffAndTransformToPage21
            | RequestTPOffAndTransformToPageOffset12
            | RequestTLSDescAndTransformToPage21
            | RequestTLSDescAndTransformToPageOffset12
            | RequestTLSDescAndTransformToPageOffset12Add
            | RequestTLSGDPairAndTransformToPage21
            | RequestTLSGDPairAndTransformToPageOffset12Add => Err(
                FixupError::UnexpectedInstruction("GOT request left unresolved by the GOT pass"),
            ),
        }
    }

    fn role(kind: EdgeKind) -> EdgeRole<EdgeKind> {
        use EdgeKind::*;
        const LDR64: EdgeKind = PageOffset12 { shift: 3 };
        const ADD: EdgeKind = PageOffset12 { shift: 0 };
        let tls = |entry, to_entry| EdgeRole::TlsRequest { entry, to_entry };
        match kind {
            Pointer64 | Delta64 | NegDelta64 | PageOffset12 { .. } | AdrpLdr64Pair => {
                EdgeRole::Data(Reach::Any)
            }
            MovWUnsigned { .. } | MovWSigned { .. } | MovWPCRel { .. } => {
                EdgeRole::Data(Reach::Any)
            }
            MovWTPRel { .. } | TPRelHi12 | TPRelLo12 { .. } | GotPageOffset15 => {
                EdgeRole::Data(Reach::Any)
            }
            TLSModule64 | DTPOff64 | TPOff64 => EdgeRole::Data(Reach::Any),
            ImageRelative32 => EdgeRole::Data(Reach::ImageRel32),
            // Relative to the target's own section: a target outside the graph has none, and
            // no stub or copy would change that.
            SectionRelative32 => EdgeRole::Data(Reach::Any),
            Pointer32 | Pointer16 => EdgeRole::Data(Reach::Abs32),
            Delta32 | NegDelta32 | Delta16 | Page21 | Page21NoCheck | AdrLiteral21 => {
                EdgeRole::Data(Reach::PcRel32)
            }
            Page21OrAdr | AddLo12OrNop => EdgeRole::Data(Reach::PcRel32),
            LoadLiteral19 | CondBranch19 | TestBranch14 => EdgeRole::Data(Reach::PcRel32),
            Branch26PCRel => EdgeRole::Branch,
            RequestGOTAndTransformToPage21 => EdgeRole::GotRequest { to_entry: Page21 },
            RequestGOTAndTransformToPageOffset12 => EdgeRole::GotRequest { to_entry: LDR64 },
            RequestGOTAndTransformToGotPageOffset15 => EdgeRole::GotRequest {
                to_entry: GotPageOffset15,
            },
            RequestGOTAndTransformToLoadLiteral19 => EdgeRole::GotRequest {
                to_entry: LoadLiteral19,
            },
            RequestGOTAndTransformToDelta32 => EdgeRole::GotRequest { to_entry: Delta32 },
            RequestTPOffAndTransformToPage21 => tls(TlsEntry::TpOffset, Page21),
            RequestTPOffAndTransformToPageOffset12 => tls(TlsEntry::TpOffset, LDR64),
            RequestTLSDescAndTransformToPage21 => tls(TlsEntry::Descriptor, Page21),
            RequestTLSDescAndTransformToPageOffset12 => tls(TlsEntry::Descriptor, LDR64),
            RequestTLSDescAndTransformToPageOffset12Add => tls(TlsEntry::Descriptor, ADD),
            RequestTLSGDPairAndTransformToPage21 => tls(TlsEntry::ModuleAndOffset, Page21),
            RequestTLSGDPairAndTransformToPageOffset12Add => tls(TlsEntry::ModuleAndOffset, ADD),
        }
    }

    /// A GOT load `adrp Xd, :got:S; ldr Xd, [Xd, :got_lo12:S]` (ELF `ADR_GOT_PAGE` +
    /// `LD64_GOT_LO12_NC`, Mach-O `GOT_LOAD_PAGE21` + `GOT_LOAD_PAGEOFF12`) of adjacent
    /// instructions on one register becomes `adrp` + `add` or `adr` + `nop`
    /// ([`EdgeKind::Page21OrAdr`], [`EdgeKind::AddLo12OrNop`]). The two halves are separate
    /// edges: [`Arch::got_load_partner`] names the other half, which the GOT pass requires
    /// before relaxing either. Loads on other registers, or not adjacent, keep their GOT entry
    /// (the `adrp`'s register might be read again), as in lld.
    fn relax_got_load(kind: EdgeKind, content: &[u8], offset: usize) -> Option<EdgeKind> {
        let (adrp_at, relaxed) = match kind {
            EdgeKind::RequestGOTAndTransformToPage21 => (offset, EdgeKind::Page21OrAdr),
            EdgeKind::RequestGOTAndTransformToPageOffset12 => {
                (offset.checked_sub(4)?, EdgeKind::AddLo12OrNop)
            }
            _ => return None,
        };
        let adrp = read32(content, adrp_at).ok()?;
        let ldr = read32(content, adrp_at.checked_add(4)?).ok()?;
        let rd = adrp & 0x1f;
        let is_adrp = adrp & 0x9f00_0000 == 0x9000_0000;
        // ldr Xt, [Xn, #imm12 * 8]
        let is_ldr64 = ldr & 0xffc0_0000 == 0xf940_0000;
        (is_adrp && is_ldr64 && ldr & 0x1f == rd && (ldr >> 5) & 0x1f == rd).then_some(relaxed)
    }

    fn got_load_partner(kind: EdgeKind) -> Option<(i64, EdgeKind)> {
        match kind {
            EdgeKind::RequestGOTAndTransformToPage21 => {
                Some((4, EdgeKind::RequestGOTAndTransformToPageOffset12))
            }
            EdgeKind::RequestGOTAndTransformToPageOffset12 => {
                Some((-4, EdgeKind::RequestGOTAndTransformToPage21))
            }
            _ => None,
        }
    }

    fn direct_branch(kind: EdgeKind) -> EdgeKind {
        kind
    }

    fn uses_target_size(_kind: EdgeKind) -> bool {
        false
    }

    fn uses_got_base(kind: EdgeKind) -> bool {
        matches!(
            kind,
            EdgeKind::GotPageOffset15 | EdgeKind::RequestGOTAndTransformToGotPageOffset15
        )
    }

    fn is_tp_relative(kind: EdgeKind) -> bool {
        matches!(
            kind,
            EdgeKind::MovWTPRel { .. }
                | EdgeKind::TPRelHi12
                | EdgeKind::TPRelLo12 { .. }
                | EdgeKind::TPOff64
        )
    }

    fn flush_icache(start: *const u8, len: usize) {
        #[cfg(target_arch = "aarch64")]
        flush_icache_range(start as usize, len);
        #[cfg(not(target_arch = "aarch64"))]
        let _ = (start, len);
    }
}

/// Cleans the data cache to the point of unification and invalidates the instruction cache for
/// `[start, start + len)`, as required after writing code on AArch64.
#[cfg(target_arch = "aarch64")]
fn flush_icache_range(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 is allowed at EL0 on Linux and has no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    let end = start.saturating_add(len);
    let mut a = start & !(dline - 1);
    while a < end {
        // SAFETY: `a` lies in (or on the cache line of) the caller's freshly written, mapped
        // code; cache maintenance by address does not change memory contents.
        unsafe { core::arch::asm!("dc cvau, {0}", in(reg) a, options(nostack)) };
        a += dline;
    }
    // SAFETY: barriers only order the maintenance above.
    unsafe { core::arch::asm!("dsb ish", options(nostack)) };
    let mut a = start & !(iline - 1);
    while a < end {
        // SAFETY: as above, for instruction-cache invalidation.
        unsafe { core::arch::asm!("ic ivau, {0}", in(reg) a, options(nostack)) };
        a += iline;
    }
    // SAFETY: barriers only; `isb` makes this thread fetch the new instructions.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
}

/// The operands of an instruction that relocations patch, numbered as LLVM's MC layer numbers
/// them (as `jitlink-check`'s `decode_operand` expects): registers count as operands and give
/// their number; branch and literal offsets are in instructions (4 bytes), `adrp`'s in pages,
/// `adr`'s in bytes; `ldr`/`str` offsets in units of the access size. `None` for an instruction
/// of another class or an operand it does not have.
pub fn decode_operand(ins: u32, n: usize) -> Option<i64> {
    let sext = |v: u32, bits: u32| -> i64 { ((v as i64) << (64 - bits)) >> (64 - bits) };
    let rd = i64::from(ins & 0x1f);
    let rn = i64::from((ins >> 5) & 0x1f);
    let imm12 = i64::from((ins >> 10) & 0xfff);
    let imm19 = sext((ins >> 5) & 0x7ffff, 19);
    let adr_imm = sext(((ins >> 5) & 0x7ffff) << 2 | ((ins >> 29) & 3), 21);
    let ops: &[i64] = match ins {
        // b, bl
        _ if ins & 0x7c00_0000 == 0x1400_0000 => &[sext(ins & 0x03ff_ffff, 26)],
        // adr, adrp
        _ if ins & 0x1f00_0000 == 0x1000_0000 => &[rd, adr_imm],
        // b.cond: condition, offset
        _ if ins & 0xff00_0010 == 0x5400_0000 => &[i64::from(ins & 0xf), imm19],
        // cbz, cbnz
        _ if ins & 0x7e00_0000 == 0x3400_0000 => &[rd, imm19],
        // tbz, tbnz: register, bit number, offset
        _ if ins & 0x7e00_0000 == 0x3600_0000 => &[
            rd,
            i64::from(((ins >> 31) << 5) | ((ins >> 19) & 0x1f)),
            sext((ins >> 5) & 0x3fff, 14),
        ],
        // ldr (literal), general and SIMD registers
        _ if ins & 0x3b00_0000 == 0x1800_0000 => &[rd, imm19],
        // add/sub (immediate): Rd, Rn, imm12, shift
        _ if ins & 0x1f80_0000 == 0x1100_0000 => &[rd, rn, imm12, i64::from((ins >> 22) & 1) * 12],
        // movk: Rd, Rd (tied), imm16, shift
        _ if ins & 0x7f80_0000 == 0x7280_0000 => &[
            rd,
            rd,
            i64::from((ins >> 5) & 0xffff),
            i64::from((ins >> 21) & 3) * 16,
        ],
        // movn, movz: Rd, imm16, shift
        _ if ins & 0x1f80_0000 == 0x1280_0000 => &[
            rd,
            i64::from((ins >> 5) & 0xffff),
            i64::from((ins >> 21) & 3) * 16,
        ],
        // ldr/str (unsigned offset), general and SIMD registers: Rt, Rn, imm12
        _ if ins & 0x3b00_0000 == 0x3900_0000 => &[rd, rn, imm12],
        _ => return None,
    };
    ops.get(n).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use EdgeKind::*;

    fn values(p: u64, s: u64, a: i64) -> FixupValues {
        FixupValues {
            p,
            s,
            a,
            got: 0x40_1000,
            tls: crate::TlsValues {
                module: 1,
                tp_offset: 0x10,
            },
            image_base: 0,
            section: None,
        }
    }

    fn apply(kind: EdgeKind, ins: u32, p: u64, s: u64, a: i64) -> Result<u32, FixupError> {
        let mut b = ins.to_le_bytes();
        AArch64::apply_fixup(kind, &mut b, 0, values(p, s, a))?;
        Ok(u32::from_le_bytes(b))
    }

    /// Expected encodings are those llvm-mc gives for the same instruction with the immediate
    /// written out (`llvm-mc-19 -triple=aarch64 -show-encoding`), except the unchecked `adrp`
    /// beyond ±4 GiB, which llvm-mc refuses to encode.
    /// `(kind, instruction with a zero immediate, P, S, A, expected or None for an error)`.
    type Case = (EdgeKind, u32, u64, u64, i64, Option<u32>);

    /// A relaxed GOT load at `P` = 0x20_0000 (`adrp x2` there, `ldr x2, [x2]` at `P + 4`):
    /// `adr` + `nop` at the exact edges of ±1 MiB, `adrp` + `add` just beyond, an error beyond
    /// ±4 GiB.
    #[test]
    fn relaxed_got_loads_at_the_edges_of_adr() {
        const ADRP_X2: u32 = 0x9000_0002;
        const LDR_X2: u32 = 0xf940_0042;
        const P: u64 = 0x20_0000;
        let cases: &[(u64, Option<u32>, u32)] = &[
            // adr x2, #1048575 ; nop
            (P + 0xf_ffff, Some(0x707f_ffe2), NOP),
            // adr x2, #-1048576 ; nop
            (P - 0x10_0000, Some(0x1080_0002), NOP),
            // adrp x2, #0x100000 ; add x2, x2, #0x123
            (P + 0x10_0123, Some(0x9000_0802), 0x9104_8c42),
            // adrp x2, #-0x101000 ; add x2, x2, #0xfff
            (P - 0x10_0001, Some(0xf0ff_f7e2), 0x913f_fc42),
            // beyond ±4 GiB: an error (the add is written; the link fails on the adrp)
            (P + (1 << 32), None, 0x9100_0042),
        ];
        for &(s, adrp, second) in cases {
            assert_eq!(
                apply(Page21OrAdr, ADRP_X2, P, s, 0).ok(),
                adrp,
                "Page21OrAdr S={s:#x}"
            );
            assert_eq!(
                apply(AddLo12OrNop, LDR_X2, P + 4, s, 0),
                Ok(second),
                "AddLo12OrNop S={s:#x}"
            );
        }
    }

    #[test]
    fn got_loads_relax_only_as_adjacent_pairs_on_one_register() {
        let code = |a: u32, b: u32| {
            let mut c = [0u8; 8];
            c[..4].copy_from_slice(&a.to_le_bytes());
            c[4..].copy_from_slice(&b.to_le_bytes());
            c
        };
        let pair = code(0x9000_0002, 0xf940_0042); // adrp x2 ; ldr x2, [x2]
        let page = RequestGOTAndTransformToPage21;
        let lo12 = RequestGOTAndTransformToPageOffset12;
        assert_eq!(AArch64::relax_got_load(page, &pair, 0), Some(Page21OrAdr));
        assert_eq!(AArch64::relax_got_load(lo12, &pair, 4), Some(AddLo12OrNop));
        // ldr x3, [x2]: another destination; ldr x2, [x3]: another base; not adjacent.
        for other in [0xf940_0043, 0xf940_0062, 0xd503_201f] {
            let c = code(0x9000_0002, other);
            assert_eq!(AArch64::relax_got_load(page, &c, 0), None, "{other:#x}");
            assert_eq!(AArch64::relax_got_load(lo12, &c, 4), None, "{other:#x}");
        }
        assert_eq!(AArch64::relax_got_load(lo12, &pair, 0), None);
        assert_eq!(AArch64::got_load_partner(page), Some((4, lo12)));
        assert_eq!(AArch64::got_load_partner(lo12), Some((-4, page)));
    }

    #[test]
    fn instructions_branches_pages_and_offsets() {
        let cases: &[Case] = &[
            // bl .+0x1000 ; bl .-4 ; b .+0x7fffffc ; out of range ; misaligned
            (
                Branch26PCRel,
                0x9400_0000,
                0x1000,
                0x2000,
                0,
                Some(0x9400_0400),
            ),
            (
                Branch26PCRel,
                0x9400_0000,
                0x1000,
                0xffc,
                0,
                Some(0x97ff_ffff),
            ),
            (
                Branch26PCRel,
                0x1400_0000,
                0,
                0x7ff_fffc,
                0,
                Some(0x15ff_ffff),
            ),
            (Branch26PCRel, 0x1400_0000, 0, 0x800_0000, 0, None),
            (Branch26PCRel, 0x9400_0000, 0x1000, 0x2002, 0, None),
            // adrp x1, +0x3000 pages ; adrp x0, -1 page ; out of ±4 GiB
            (Page21, 0x9000_0001, 0x1000, 0x4123, 0, Some(0xf000_0001)),
            (Page21, 0x9000_0000, 0x2000, 0x1fff, 0, Some(0xf0ff_ffe0)),
            (Page21, 0x9000_0000, 0, 1 << 32, 0, None),
            (
                Page21NoCheck,
                0x9000_0000,
                0,
                (1 << 32) + 0x1000,
                0,
                Some(0xb080_0000),
            ),
            // adr x1, .+4 ; adr out of ±1 MiB
            (AdrLiteral21, 0x1000_0001, 0, 4, 0, Some(0x1000_0021)),
            (AdrLiteral21, 0x1000_0000, 0, 1 << 20, 0, None),
            // add x0, x0, #0x13f ; ldr x28, [x27, #0x148] ; misaligned ldr ; ldr q0 #0x10
            (
                PageOffset12 { shift: 0 },
                0x9100_0000,
                0,
                0x21_013b,
                4,
                Some(0x9104_fc00),
            ),
            (
                PageOffset12 { shift: 3 },
                0xf940_037c,
                0,
                0x21_0144,
                4,
                Some(0xf940_a77c),
            ),
            (PageOffset12 { shift: 3 }, 0xf940_0000, 0, 0x1004, 0, None),
            (
                PageOffset12 { shift: 4 },
                0x3dc0_0000,
                0,
                0x5010,
                0,
                Some(0x3dc0_0400),
            ),
            // ldr x0, .+8 ; b.eq .-4 ; cbz out of range ; tbz w0, #0, .+0x7ffc ; out of range
            (
                LoadLiteral19,
                0x5800_0000,
                0x100,
                0x108,
                0,
                Some(0x5800_0040),
            ),
            (CondBranch19, 0x5400_0000, 0x100, 0xfc, 0, Some(0x54ff_ffe0)),
            (CondBranch19, 0xb400_0000, 0, 1 << 20, 0, None),
            (TestBranch14, 0x3600_0000, 0, 0x7ffc, 0, Some(0x3603_ffe0)),
            (TestBranch14, 0x3600_0000, 0, 0x8000, 0, None),
        ];
        check_instructions(cases);
    }

    #[test]
    fn instructions_moves_tls_and_got_offsets() {
        let cases: &[Case] = &[
            // movz x0, #0xbeef ; movk x0, #0xdead, lsl 16 ; G0 checked overflow ; G3
            (
                MovWUnsigned {
                    group: 0,
                    checked: true,
                },
                0xd280_0000,
                0,
                0xbeef,
                0,
                Some(0xd297_dde0),
            ),
            (
                MovWUnsigned {
                    group: 1,
                    checked: false,
                },
                0xf2a0_0000,
                0,
                0x1_dead_0000,
                0,
                Some(0xf2bb_d5a0),
            ),
            (
                MovWUnsigned {
                    group: 0,
                    checked: true,
                },
                0xd280_0000,
                0,
                0x1_0000,
                0,
                None,
            ),
            (
                MovWUnsigned {
                    group: 3,
                    checked: true,
                },
                0xf2e0_0000,
                0,
                0x1234_0000_0000_0000,
                0,
                Some(0xf2e2_4680),
            ),
            // movz x0, #:abs_g0_s:-2 becomes movn x0, #1 ; positive stays movz
            (
                MovWSigned {
                    group: 0,
                    checked: true,
                },
                0xd280_0000,
                0,
                0,
                -2,
                Some(0x9280_0020),
            ),
            (
                MovWSigned {
                    group: 0,
                    checked: true,
                },
                0x9280_0000,
                0,
                5,
                0,
                Some(0xd280_00a0),
            ),
            (
                MovWSigned {
                    group: 0,
                    checked: true,
                },
                0xd280_0000,
                0,
                0x1_0000,
                0,
                None,
            ),
            // movk keeps its opcode for a negative PC-relative value
            (
                MovWPCRel {
                    group: 0,
                    checked: false,
                },
                0xf280_0000,
                0x10,
                0,
                0,
                Some(0xf29f_fe00),
            ),
            // add x0, x0, #1, lsl 12 (TP-relative high part) ; lo12 of 0x1010
            (TPRelHi12, 0x9140_0000, 0, 0x1000, 0, Some(0x9140_0400)),
            (
                TPRelLo12 {
                    shift: 0,
                    checked: false,
                },
                0x9100_0000,
                0,
                0x1000,
                0,
                Some(0x9100_4000),
            ),
            (
                TPRelLo12 {
                    shift: 0,
                    checked: true,
                },
                0x9100_0000,
                0,
                0x1000,
                0,
                None,
            ),
            // ldr x0, [x0, #0x18] from the GOT page
            (
                GotPageOffset15,
                0xf940_0000,
                0,
                0x40_1018,
                0,
                Some(0xf940_0c00),
            ),
            (GotPageOffset15, 0xf940_0000, 0, 0x40_9000, 0, None),
        ];
        check_instructions(cases);
    }

    fn check_instructions(cases: &[Case]) {
        for &(kind, ins, p, s, a, want) in cases {
            let got = apply(kind, ins, p, s, a);
            match want {
                Some(w) => assert_eq!(got, Ok(w), "{kind:?} P={p:#x} S={s:#x} A={a}"),
                None => assert!(got.is_err(), "{kind:?} P={p:#x} S={s:#x} A={a}: {got:?}"),
            }
        }
    }

    /// Instructions from `llvm-mc-19 -triple=aarch64 -show-encoding` and the operands LLVM's
    /// disassembler gives them.
    #[test]
    fn decodes_the_operands_relocations_patch() {
        let cases: &[(u32, usize, i64)] = &[
            (0x9400_0400, 0, 0x400),      // bl #0x1000
            (0x97ff_ffff, 0, -1),         // bl #-4
            (0xf000_0001, 1, 3),          // adrp x1, #0x3000 (pages)
            (0xf0ff_ffe0, 1, -1),         // adrp x0, #-0x1000
            (0x1000_0021, 1, 4),          // adr x1, #4
            (0x9104_fc00, 2, 0x13f),      // add x0, x0, #0x13f
            (0x9140_0400, 3, 12),         // add x0, x0, #1, lsl #12
            (0xf940_a77c, 2, 0x148 / 8),  // ldr x28, [x27, #0x148]
            (0xf940_a77c, 1, 27),         // its base register
            (0x3dc0_0400, 2, 1),          // ldr q0, [x0, #0x10]
            (0x5800_0040, 1, 2),          // ldr x0, #8
            (0x54ff_ffe0, 1, -1),         // b.eq #-4
            (0x3603_ffe0, 2, 0x7ffc / 4), // tbz w0, #0, #0x7ffc
            (0xd297_dde0, 1, 0xbeef),     // movz x0, #0xbeef
            (0xf2bb_d5a0, 2, 0xdead),     // movk x0, #0xdead, lsl #16
            (0xf2bb_d5a0, 3, 16),
            (0x9280_0020, 1, 1), // movn x0, #1
        ];
        for &(ins, n, want) in cases {
            assert_eq!(
                decode_operand(ins, n),
                Some(want),
                "{ins:#010x} operand {n}"
            );
        }
        assert_eq!(
            decode_operand(0xd503_201f, 0),
            None,
            "nop has no such operand"
        );
    }

    #[test]
    fn data() {
        let mut b = [0u8; 8];
        AArch64::apply_fixup(Pointer32, &mut b, 0, values(0, 0, -1)).unwrap();
        assert_eq!(b[..4], [0xff; 4]);
        assert!(AArch64::apply_fixup(Pointer32, &mut b, 0, values(0, 1 << 32, 0)).is_err());
        assert!(AArch64::apply_fixup(Delta16, &mut b, 0, values(0x8000, 0, 0)).is_ok());
        assert!(AArch64::apply_fixup(Delta16, &mut b, 0, values(0x8001, 0, 0)).is_err());
        AArch64::apply_fixup(TPOff64, &mut b, 0, values(0, 0x20, 8)).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x38);
        // P - S + A, at the exact edges of the 32-bit range.
        AArch64::apply_fixup(NegDelta64, &mut b, 0, values(0x1000, 0x800, 8)).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x808);
        let top = 0x1000 + 0x7fff_ffff;
        AArch64::apply_fixup(NegDelta32, &mut b, 0, values(top, 0x1000, 0)).unwrap();
        assert_eq!(b[..4], [0xff, 0xff, 0xff, 0x7f]);
        assert!(AArch64::apply_fixup(NegDelta32, &mut b, 0, values(top + 1, 0x1000, 0)).is_err());
        AArch64::apply_fixup(NegDelta32, &mut b, 0, values(0x1000, 0x8000_1000, 0)).unwrap();
        assert_eq!(b[..4], [0, 0, 0, 0x80]);
        assert!(
            AArch64::apply_fixup(NegDelta32, &mut b, 0, values(0x1000, 0x8000_1001, 0)).is_err()
        );
        assert_eq!(
            AArch64::apply_fixup(Pointer64, &mut b, 4, values(0, 0, 0)),
            Err(FixupError::PlaceOutOfBounds)
        );
    }

    #[test]
    fn stub_loads_its_slot() {
        let mut stub = JUMP_STUB_BYTES;
        let t = AArch64::JUMP_STUB;
        AArch64::apply_fixup(
            t.slot_kind,
            &mut stub,
            t.slot_offset,
            values(0x1_0000, 0x2_3458, 0),
        )
        .unwrap();
        let word = |i: usize| u32::from_le_bytes([stub[i], stub[i + 1], stub[i + 2], stub[i + 3]]);
        // adrp x16, 0x23000 (0x13 pages ahead) ; ldr x16, [x16, #0x458]
        assert_eq!(word(0), 0xf000_0090);
        assert_eq!(word(4), 0xf942_2e10);
        assert_eq!(word(8), 0xd61f_0200);
    }

    #[test]
    fn image_and_section_relative_table() {
        crate::shared_tests::image_and_section_relative_table::<AArch64>(
            ImageRelative32,
            SectionRelative32,
        );
    }
}
