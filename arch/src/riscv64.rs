//! RISC-V (RV64, little-endian, LP64 / LP64D): edge kinds, the fixup match and the jump stub.
//!
//! In the formulas, `P` is the address of the field (an instruction for every instruction
//! kind), `S` the target address, `A` the addend, `TP` the target's offset from the thread
//! pointer minus `S` (the block's offset: RISC-V uses TLS variant I with the thread pointer at
//! the first block, so it is positive), and for a value `x`:
//! `hi20(x) = (x + 0x800) >> 12` (the `lui`/`auipc` part, rounded so that the low part is a
//! signed 12-bit value) and `lo12(x) = x - (hi20(x) << 12)`, in `[-0x800, 0x7ff]`.
//!
//! Instruction kinds write only their immediate field; the rest of the instruction is kept.
//! Ranges are checked as the RISC-V ELF psABI and ld.lld check them: a value that does not fit
//! is an error, never a truncation. `lo12` parts need no check (they always fit; the `hi20`
//! half of the pair carries the check).
//!
//! PC-relative pairs: an `auipc` carries `hi20(S + A - P)` and the instruction that completes
//! it (`addi`, a load or a store, possibly far from it) needs `lo12` of the same value, relative
//! to the `auipc`'s address. The ELF builder gives that second edge the first one's target and
//! addend and the distance `back` from the `auipc` to it, so both compute the same value (see
//! [`EdgeKind::PCRelLo12I`]). A pair whose target is address 0 (an undefined weak symbol) is
//! computed as an absolute `lui` pair instead, as GNU ld does, so that it yields 0 from any
//! address.

use crate::{check_range, write_field};
use crate::{Arch, EdgeRole, FixupError, FixupValues, Reach};
use crate::{StubTemplate, TlsEntry};

/// The RISC-V 64-bit architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiscV64;

/// The size of a data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// The low 6 bits of a byte (the top two are kept: a `DW_CFA_advance_loc` opcode).
    Bits6,
    /// One byte.
    Bits8,
    /// Two bytes.
    Bits16,
    /// Four bytes.
    Bits32,
    /// Eight bytes.
    Bits64,
    /// A ULEB128 number of the length already at the place (the assembler pads it); the value
    /// must be non-negative and fit in 7 bits per byte of it.
    Uleb128,
}

/// RISC-V edge kinds. Each names the computation it performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// `Fixup <- S + A : uint64` (`R_RISCV_64`).
    Pointer64,
    /// `Fixup <- S + A : int32 or uint32` (`R_RISCV_32`), error if out of range.
    Pointer32,
    /// `Fixup <- S + A` in a field of `width`: a lone `SET6/8/16/32`, or a `SET`/`ADD` +
    /// `SUB` pair whose two symbols lie in one input section (the builder folds their fixed
    /// distance into `A` and targets address 0). 6, 8, 16 and 32 bits take a signed or an
    /// unsigned value, error if out of range; see [`Width`] for ULEB128.
    Set {
        /// The field.
        width: Width,
    },
    /// `Fixup <- S + A - P` in a field of `width`, error if out of range as for
    /// [`EdgeKind::Set`]: `R_RISCV_32_PCREL` (32 bits, signed), or a `SET`/`ADD` + `SUB` pair
    /// whose subtracted symbol lies in the fixup's own block (the builder folds the distance
    /// from the place to it into `A`).
    Delta {
        /// The field.
        width: Width,
    },
    /// `lui imm20 <- hi20(S + A)`, `S + A` in `[-2^31 - 0x800, 2^31 - 0x800)` (`HI20`).
    Hi20,
    /// I-type `imm12 <- lo12(S + A)`, no check (`LO12_I`).
    Lo12I,
    /// S-type `imm12 <- lo12(S + A)`, no check (`LO12_S`).
    Lo12S,
    /// `auipc imm20 <- hi20(S + A - P)`, `S + A - P` in `[-2^31 - 0x800, 2^31 - 0x800)`
    /// (`PCREL_HI20`; GOT and TLS `_HI20` requests become it). If `S` is 0 (an undefined weak
    /// symbol), the `auipc` becomes `lui imm20 <- hi20(A)`, checked as [`EdgeKind::Hi20`].
    PCRelHi20,
    /// I-type `imm12 <- lo12(S + A - (P - back))`, no check: the low half of a pair whose
    /// `auipc` lies `back` bytes before the place (`PCREL_LO12_I`, which names the `auipc`'s
    /// label; the builder gives this edge the `auipc`'s target and addend). If `S` is 0,
    /// `imm12 <- lo12(A)` (the `auipc` became `lui`, see [`EdgeKind::PCRelHi20`]).
    PCRelLo12I {
        /// `P - P_auipc`.
        back: i32,
    },
    /// S-type, otherwise as [`EdgeKind::PCRelLo12I`] (`PCREL_LO12_S`).
    PCRelLo12S {
        /// `P - P_auipc`.
        back: i32,
    },
    /// `auipc` at `P` and `jalr` at `P + 4`: `auipc imm20 <- hi20(S + A - P)`,
    /// `jalr imm12 <- lo12(S + A - P)`, in `[-2^31 - 0x800, 2^31 - 0x800)` (`CALL`,
    /// `CALL_PLT`). The GOT/stub pass sends it through a stub when the target is out of reach.
    Call,
    /// `auipc` at `P` and an I-type instruction (`ld`) at `P + 4`, as [`EdgeKind::Call`] but
    /// a data reference: used by stubs to load their pointer slot.
    PCRelPair,
    /// B-type `imm12 <- S + A - P` (bits 12..1), in `[-4096, 4094]`, even (`BRANCH`).
    Branch12,
    /// J-type `imm20 <- S + A - P` (bits 20..1), in `[-2^20, 2^20 - 2]`, even (`JAL`).
    Jal20,
    /// CB-type (`c.beqz`/`c.bnez`) `imm <- S + A - P` (bits 8..1), in `[-256, 254]`, even
    /// (`RVC_BRANCH`).
    RvcBranch,
    /// CJ-type (`c.j`) `imm <- S + A - P` (bits 11..1), in `[-2048, 2046]`, even
    /// (`RVC_JUMP`).
    RvcJump,
    /// `lui imm20 <- hi20(S + A + TP)`, checked as [`EdgeKind::Hi20`] (`TPREL_HI20`).
    TPRelHi20,
    /// I-type `imm12 <- lo12(S + A + TP)`, no check (`TPREL_LO12_I`).
    TPRelLo12I,
    /// S-type `imm12 <- lo12(S + A + TP)`, no check (`TPREL_LO12_S`).
    TPRelLo12S,
    /// `Fixup <- TLSModule : uint64`, the module id of the graph's TLS block.
    TLSModule64,
    /// `Fixup <- S + A - 0x800 : uint64`, where `S` is the target's offset in its TLS block:
    /// RISC-V's `__tls_get_addr` adds 0x800 back (glibc's `TLS_DTV_OFFSET`, `DTPREL64`).
    DTPRel64,
    /// `Fixup <- S + A + TP : uint64`: the target's offset from the thread pointer.
    TPRel64,
    /// Request a GOT entry (`GOT_HI20`); becomes [`EdgeKind::PCRelHi20`] to it.
    RequestGOTAndTransformToPCRelHi20,
    /// The `PCREL_LO12_I` paired with a `GOT_HI20`; becomes [`EdgeKind::PCRelLo12I`] to the
    /// same entry.
    RequestGOTAndTransformToPCRelLo12I {
        /// `P - P_auipc`.
        back: i32,
    },
    /// Request a GOT entry holding the thread-pointer offset (`TLS_GOT_HI20`); becomes
    /// [`EdgeKind::PCRelHi20`] to it.
    RequestTPOffAndTransformToPCRelHi20,
    /// The `PCREL_LO12_I` paired with a `TLS_GOT_HI20`; becomes [`EdgeKind::PCRelLo12I`].
    RequestTPOffAndTransformToPCRelLo12I {
        /// `P - P_auipc`.
        back: i32,
    },
    /// Request a `(module, offset)` pair (`TLS_GD_HI20`); becomes [`EdgeKind::PCRelHi20`].
    RequestTLSGDPairAndTransformToPCRelHi20,
    /// The `PCREL_LO12_I` paired with a `TLS_GD_HI20`; becomes [`EdgeKind::PCRelLo12I`].
    RequestTLSGDPairAndTransformToPCRelLo12I {
        /// `P - P_auipc`.
        back: i32,
    },
    /// Request a TLS descriptor (`TLSDESC_HI20`); becomes [`EdgeKind::PCRelHi20`] to it.
    RequestTLSDescAndTransformToPCRelHi20,
    /// `TLSDESC_LOAD_LO12` and `TLSDESC_ADD_LO12` (both I-type, paired with a
    /// `TLSDESC_HI20` as `PCREL_LO12_I` is); become [`EdgeKind::PCRelLo12I`].
    RequestTLSDescAndTransformToPCRelLo12I {
        /// `P - P_auipc`.
        back: i32,
    },
}

/// `auipc t3, %pcrel_hi(slot); ld t3, %pcrel_lo(slot)(t3); jr t3; nop`: t3 (x28) is one of
/// the registers the psABI lets linker-made code clobber (lld's PLT entries use it).
const JUMP_STUB_BYTES: [u8; 16] = [
    0x17, 0x0e, 0x00, 0x00, // auipc t3, 0           ; PCRelPair at offset 0
    0x03, 0x3e, 0x0e, 0x00, // ld    t3, 0(t3)
    0x67, 0x00, 0x0e, 0x00, // jr    t3
    0x13, 0x00, 0x00, 0x00, // nop                   ; padding, never executed
];

const _: () = assert!(JUMP_STUB_BYTES.len() == 16);

/// Major opcodes of `auipc` and `lui` (bits 6..0).
const AUIPC: u32 = 0x17;
const LUI: u32 = 0x37;
/// U-type immediate (bits 31..12).
const U_IMM: u32 = 0xffff_f000;
/// I-type immediate (bits 31..20).
const I_IMM: u32 = 0xfff0_0000;
/// S-type immediate (bits 31..25 and 11..7).
const S_IMM: u32 = 0xfe00_0f80;
/// B-type immediate (bits 31..25 and 11..7).
const B_IMM: u32 = 0xfe00_0f80;
/// J-type immediate (bits 31..12).
const J_IMM: u32 = 0xffff_f000;
/// CB-type offset (bits 12..10 and 6..2).
const CB_IMM: u16 = 0x1c7c;
/// CJ-type offset (bits 12..2).
const CJ_IMM: u16 = 0x1ffc;

/// The TLS offset bias of `__tls_get_addr` on RISC-V (glibc's `TLS_DTV_OFFSET`).
pub const DTV_OFFSET: i128 = 0x800;

fn delta(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128 - v.p as i128
}

fn absolute(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128
}

/// The value of a PC-relative pair at the low half `back` bytes after its `auipc`: relative
/// to the `auipc`, or absolute for a target at address 0 (see [`EdgeKind::PCRelHi20`]).
fn pair_value(v: FixupValues, back: i32) -> i128 {
    if v.s == 0 {
        absolute(v)
    } else {
        absolute(v) - (v.p as i128 - i128::from(back))
    }
}

fn tp_relative(v: FixupValues) -> i128 {
    absolute(v) + v.tls.tp_offset as i128
}

/// `hi20(x)`, checked: `x + 0x800` must be a signed 32-bit value.
fn hi20(x: i128) -> Result<u32, FixupError> {
    check_range(x, -(1i128 << 31) - 0x800, (1i128 << 31) - 0x800 - 1)?;
    Ok((((x + 0x800) >> 12) as u32) & 0xf_ffff)
}

/// `lo12(x)` as the low 12 bits of a two's-complement immediate.
fn lo12(x: i128) -> u32 {
    (x as u32) & 0xfff
}

fn read32(block: &[u8], offset: usize) -> Result<u32, FixupError> {
    let end = offset.checked_add(4).ok_or(FixupError::PlaceOutOfBounds)?;
    let b = block.get(offset..end).ok_or(FixupError::PlaceOutOfBounds)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read16(block: &[u8], offset: usize) -> Result<u16, FixupError> {
    let end = offset.checked_add(2).ok_or(FixupError::PlaceOutOfBounds)?;
    let b = block.get(offset..end).ok_or(FixupError::PlaceOutOfBounds)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

/// Replaces the bits of `mask` in the 32-bit instruction at `offset` with those of `bits`.
fn patch(block: &mut [u8], offset: usize, mask: u32, bits: u32) -> Result<(), FixupError> {
    let ins = read32(block, offset)?;
    write_field(
        block,
        offset,
        &((ins & !mask) | (bits & mask)).to_le_bytes(),
    )
}

/// As [`patch`] for a 16-bit (compressed) instruction.
fn patch16(block: &mut [u8], offset: usize, mask: u16, bits: u16) -> Result<(), FixupError> {
    let ins = read16(block, offset)?;
    write_field(
        block,
        offset,
        &((ins & !mask) | (bits & mask)).to_le_bytes(),
    )
}

fn u_type(block: &mut [u8], offset: usize, x: i128) -> Result<(), FixupError> {
    let hi = hi20(x)?;
    patch(block, offset, U_IMM, hi << 12)
}

fn i_type(block: &mut [u8], offset: usize, x: i128) -> Result<(), FixupError> {
    patch(block, offset, I_IMM, lo12(x) << 20)
}

fn s_type(block: &mut [u8], offset: usize, x: i128) -> Result<(), FixupError> {
    let lo = lo12(x);
    patch(block, offset, S_IMM, ((lo >> 5) << 25) | ((lo & 0x1f) << 7))
}

/// Checks that a PC-relative branch offset is even and a signed `bits`-bit value.
fn branch_offset(x: i128, bits: u32) -> Result<u32, FixupError> {
    if x & 1 != 0 {
        return Err(FixupError::Misaligned { value: x, align: 2 });
    }
    check_range(x, -(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)?;
    Ok(x as u32)
}

/// The bits of `x` from `hi` down to `lo`, placed at bit `at`.
fn bits(x: u32, hi: u32, lo: u32, at: u32) -> u32 {
    ((x >> lo) & ((1 << (hi - lo + 1)) - 1)) << at
}

/// A pair: `auipc` at `offset`, an I-type instruction after it, both from `x`.
fn auipc_i_pair(block: &mut [u8], offset: usize, x: i128) -> Result<(), FixupError> {
    let second = offset.checked_add(4).ok_or(FixupError::PlaceOutOfBounds)?;
    // Check both places before writing either.
    read32(block, second)?;
    u_type(block, offset, x)?;
    i_type(block, second, x)
}

/// A data field of `width` holding `x`.
fn write_data(block: &mut [u8], offset: usize, x: i128, width: Width) -> Result<(), FixupError> {
    let n = match width {
        Width::Bits6 => {
            check_range(x, -(1 << 5), (1 << 6) - 1)?;
            let old = crate::byte_at(block, offset)?;
            return write_field(block, offset, &[(old & 0xc0) | (x as u8 & 0x3f)]);
        }
        Width::Uleb128 => return write_uleb128(block, offset, x),
        Width::Bits8 => 1,
        Width::Bits16 => 2,
        Width::Bits32 => 4,
        Width::Bits64 => return write_field(block, offset, &(x as u64).to_le_bytes()),
    };
    let bits = 8 * n as u32;
    check_range(x, -(1i128 << (bits - 1)), (1i128 << bits) - 1)?;
    write_field(block, offset, &(x as u64).to_le_bytes()[..n])
}

/// A ULEB128 number of the length already at `offset` (its bytes with the continuation bit,
/// then one without), rewritten to hold `x`.
fn write_uleb128(block: &mut [u8], offset: usize, x: i128) -> Result<(), FixupError> {
    let mut len = 1usize;
    let at = |i: usize| offset.checked_add(i).ok_or(FixupError::PlaceOutOfBounds);
    while crate::byte_at(block, at(len - 1)?)? & 0x80 != 0 {
        len += 1;
        if len > 10 {
            return Err(FixupError::UnexpectedInstruction(
                "a ULEB128 number longer than 10 bytes",
            ));
        }
    }
    let max = if 7 * len >= 64 {
        u64::MAX as i128
    } else {
        (1i128 << (7 * len)) - 1
    };
    check_range(x, 0, max)?;
    let mut out = [0u8; 10];
    let mut rest = x as u64;
    for (i, b) in out.iter_mut().enumerate().take(len) {
        *b = (rest & 0x7f) as u8 | if i + 1 < len { 0x80 } else { 0 };
        rest >>= 7;
    }
    write_field(block, offset, &out[..len])
}

impl Arch for RiscV64 {
    type EdgeKind = EdgeKind;
    const NAME: &'static str = "riscv64";
    const POINTER_SIZE: u64 = 8;
    const POINTER_KIND: EdgeKind = EdgeKind::Pointer64;
    const TLS_MODULE_KIND: EdgeKind = EdgeKind::TLSModule64;
    const TLS_OFFSET_KIND: EdgeKind = EdgeKind::DTPRel64;
    const TP_OFFSET_KIND: EdgeKind = EdgeKind::TPRel64;
    const JUMP_STUB: StubTemplate<EdgeKind> = StubTemplate {
        bytes: &JUMP_STUB_BYTES,
        slot_offset: 0,
        slot_kind: EdgeKind::PCRelPair,
        slot_addend: 0,
        align: 4,
    };
    /// `auipc` + `jalr` reach ±2 GiB (less 2 KiB at the top).
    const BRANCH_RANGE: u64 = 1 << 31;

    fn apply_fixup(
        kind: EdgeKind,
        block: &mut [u8],
        offset: usize,
        v: FixupValues,
    ) -> Result<(), FixupError> {
        use EdgeKind::*;
        match kind {
            Pointer64 => write_field(block, offset, &(absolute(v) as u64).to_le_bytes()),
            Pointer32 => write_data(block, offset, absolute(v), Width::Bits32),
            Set { width } => write_data(block, offset, absolute(v), width),
            Delta { width } => write_data(block, offset, delta(v), width),
            Hi20 => u_type(block, offset, absolute(v)),
            Lo12I => i_type(block, offset, absolute(v)),
            Lo12S => s_type(block, offset, absolute(v)),
            PCRelHi20 if v.s == 0 => {
                let ins = read32(block, offset)?;
                if ins & 0x7f != AUIPC {
                    return Err(FixupError::UnexpectedInstruction(
                        "PCREL_HI20 of an undefined weak symbol on an instruction not auipc",
                    ));
                }
                let hi = hi20(absolute(v))?;
                write_field(
                    block,
                    offset,
                    &((ins & 0xfff & !0x7f) | LUI | hi << 12).to_le_bytes(),
                )
            }
            PCRelHi20 => u_type(block, offset, delta(v)),
            PCRelLo12I { back } => i_type(block, offset, pair_value(v, back)),
            PCRelLo12S { back } => s_type(block, offset, pair_value(v, back)),
            Call | PCRelPair => auipc_i_pair(block, offset, delta(v)),
            Branch12 => {
                let x = branch_offset(delta(v), 13)?;
                let imm = bits(x, 12, 12, 31)
                    | bits(x, 10, 5, 25)
                    | bits(x, 4, 1, 8)
                    | bits(x, 11, 11, 7);
                patch(block, offset, B_IMM, imm)
            }
            Jal20 => {
                let x = branch_offset(delta(v), 21)?;
                let imm = bits(x, 20, 20, 31)
                    | bits(x, 10, 1, 21)
                    | bits(x, 11, 11, 20)
                    | bits(x, 19, 12, 12);
                patch(block, offset, J_IMM, imm)
            }
            RvcBranch => {
                let x = branch_offset(delta(v), 9)?;
                let imm = bits(x, 8, 8, 12)
                    | bits(x, 4, 3, 10)
                    | bits(x, 7, 6, 5)
                    | bits(x, 2, 1, 3)
                    | bits(x, 5, 5, 2);
                patch16(block, offset, CB_IMM, imm as u16)
            }
            RvcJump => {
                let x = branch_offset(delta(v), 12)?;
                let imm = bits(x, 11, 11, 12)
                    | bits(x, 4, 4, 11)
                    | bits(x, 9, 8, 9)
                    | bits(x, 10, 10, 8)
                    | bits(x, 6, 6, 7)
                    | bits(x, 7, 7, 6)
                    | bits(x, 3, 1, 3)
                    | bits(x, 5, 5, 2);
                patch16(block, offset, CJ_IMM, imm as u16)
            }
            TPRelHi20 => u_type(block, offset, tp_relative(v)),
            TPRelLo12I => i_type(block, offset, tp_relative(v)),
            TPRelLo12S => s_type(block, offset, tp_relative(v)),
            TLSModule64 => write_field(block, offset, &v.tls.module.to_le_bytes()),
            DTPRel64 => write_field(
                block,
                offset,
                &((absolute(v) - DTV_OFFSET) as u64).to_le_bytes(),
            ),
            TPRel64 => write_field(block, offset, &(tp_relative(v) as u64).to_le_bytes()),
            RequestGOTAndTransformToPCRelHi20
            | RequestGOTAndTransformToPCRelLo12I { .. }
            | RequestTPOffAndTransformToPCRelHi20
            | RequestTPOffAndTransformToPCRelLo12I { .. }
            | RequestTLSGDPairAndTransformToPCRelHi20
            | RequestTLSGDPairAndTransformToPCRelLo12I { .. }
            | RequestTLSDescAndTransformToPCRelHi20
            | RequestTLSDescAndTransformToPCRelLo12I { .. } => Err(
                FixupError::UnexpectedInstruction("GOT request left unresolved by the GOT pass"),
            ),
        }
    }

    fn role(kind: EdgeKind) -> EdgeRole<EdgeKind> {
        use EdgeKind::*;
        let tls = |entry, to_entry| EdgeRole::TlsRequest { entry, to_entry };
        match kind {
            Pointer64 | TLSModule64 | DTPRel64 | TPRel64 => EdgeRole::Data(Reach::Any),
            TPRelHi20 | TPRelLo12I | TPRelLo12S => EdgeRole::Data(Reach::Any),
            // A low part reaches what its `lui` reaches: when the GOT/stub pass sends the
            // `lui`'s target to a copy or a stub, the low part must follow it there.
            Lo12I | Lo12S => EdgeRole::Data(Reach::Abs32),
            // A distance or a small constant (what SET and ADD/SUB pairs write), not an
            // address: nothing to route, and an overflow is the fixup's error.
            Set { .. } => EdgeRole::Data(Reach::Any),
            Pointer32 | Hi20 => EdgeRole::Data(Reach::Abs32),
            Delta {
                width: Width::Bits64,
            } => EdgeRole::Data(Reach::Any),
            Delta { .. } | PCRelHi20 | PCRelLo12I { .. } | PCRelLo12S { .. } | PCRelPair => {
                EdgeRole::Data(Reach::PcRel32)
            }
            Branch12 | Jal20 | RvcBranch | RvcJump => EdgeRole::Data(Reach::PcRel32),
            Call => EdgeRole::Branch,
            RequestGOTAndTransformToPCRelHi20 => EdgeRole::GotRequest {
                to_entry: PCRelHi20,
            },
            RequestGOTAndTransformToPCRelLo12I { back } => EdgeRole::GotRequest {
                to_entry: PCRelLo12I { back },
            },
            RequestTPOffAndTransformToPCRelHi20 => tls(TlsEntry::TpOffset, PCRelHi20),
            RequestTPOffAndTransformToPCRelLo12I { back } => {
                tls(TlsEntry::TpOffset, PCRelLo12I { back })
            }
            RequestTLSGDPairAndTransformToPCRelHi20 => tls(TlsEntry::ModuleAndOffset, PCRelHi20),
            RequestTLSGDPairAndTransformToPCRelLo12I { back } => {
                tls(TlsEntry::ModuleAndOffset, PCRelLo12I { back })
            }
            RequestTLSDescAndTransformToPCRelHi20 => tls(TlsEntry::Descriptor, PCRelHi20),
            RequestTLSDescAndTransformToPCRelLo12I { back } => {
                tls(TlsEntry::Descriptor, PCRelLo12I { back })
            }
        }
    }

    /// GOT loads are not relaxed: the `auipc` and the `ld` are separate edges far apart, and
    /// relaxing one without the other would break the pair.
    fn relax_got_load(_kind: EdgeKind, _content: &[u8], _offset: usize) -> Option<EdgeKind> {
        None
    }

    fn direct_branch(kind: EdgeKind) -> EdgeKind {
        kind
    }

    fn uses_target_size(_kind: EdgeKind) -> bool {
        false
    }

    fn uses_got_base(_kind: EdgeKind) -> bool {
        false
    }

    fn is_tp_relative(kind: EdgeKind) -> bool {
        matches!(
            kind,
            EdgeKind::TPRelHi20 | EdgeKind::TPRelLo12I | EdgeKind::TPRelLo12S | EdgeKind::TPRel64
        )
    }
}

/// Length in bytes of the instruction whose first 16-bit parcel is `parcel`: 2 for a
/// compressed instruction, else 4 (RV64GC has no longer ones).
pub fn instruction_length(parcel: u16) -> usize {
    if parcel & 3 == 3 {
        4
    } else {
        2
    }
}

/// The operands of an instruction that relocations patch, numbered as LLVM's MC layer numbers
/// them (as `jitlink-check`'s `decode_operand` expects): registers count as operands and give
/// their number; `lui`/`auipc` immediates are the 20-bit field (sign-extended), I- and S-type
/// immediates the signed 12-bit field, branch and jump offsets in bytes. `ins` is the
/// instruction (a compressed one in its low 16 bits). `None` for an instruction of another
/// class or an operand it does not have.
pub fn decode_operand(ins: u32, n: usize) -> Option<i64> {
    let sext = |v: u32, bits: u32| -> i64 { ((v as i64) << (64 - bits)) >> (64 - bits) };
    let field = |hi: u32, lo: u32| (ins >> lo) & ((1u32 << (hi - lo + 1)) - 1);
    let rd = i64::from(field(11, 7));
    let rs1 = i64::from(field(19, 15));
    let rs2 = i64::from(field(24, 20));
    let ops: Vec3 = if ins & 3 != 3 {
        // Compressed: c.j (CJ) and c.beqz/c.bnez (CB).
        let c = ins & 0xffff;
        let cf = |hi: u32, lo: u32| (c >> lo) & ((1u32 << (hi - lo + 1)) - 1);
        let quadrant = c & 3;
        let funct3 = c >> 13;
        match (quadrant, funct3) {
            (1, 5) => {
                let imm = (cf(12, 12) << 11)
                    | (cf(11, 11) << 4)
                    | (cf(10, 9) << 8)
                    | (cf(8, 8) << 10)
                    | (cf(7, 7) << 6)
                    | (cf(6, 6) << 7)
                    | (cf(5, 3) << 1)
                    | (cf(2, 2) << 5);
                Vec3::of(&[sext(imm, 12)])
            }
            (1, 6) | (1, 7) => {
                let imm = (cf(12, 12) << 8)
                    | (cf(11, 10) << 3)
                    | (cf(6, 5) << 6)
                    | (cf(4, 3) << 1)
                    | (cf(2, 2) << 5);
                Vec3::of(&[i64::from(8 + cf(9, 7)), sext(imm, 9)])
            }
            _ => return None,
        }
    } else {
        let i_imm = sext(field(31, 20), 12);
        let s_imm = sext((field(31, 25) << 5) | field(11, 7), 12);
        match ins & 0x7f {
            // lui, auipc: rd, imm20
            0x37 | 0x17 => Vec3::of(&[rd, sext(field(31, 12), 20)]),
            // loads (integer and FP), addi/addiw and other OP-IMM, jalr: rd, rs1, imm12
            0x03 | 0x07 | 0x13 | 0x1b | 0x67 => Vec3::of(&[rd, rs1, i_imm]),
            // stores (integer and FP): rs2, rs1, imm12
            0x23 | 0x27 => Vec3::of(&[rs2, rs1, s_imm]),
            // branches: rs1, rs2, offset
            0x63 => {
                let imm = (field(31, 31) << 12)
                    | (field(30, 25) << 5)
                    | (field(11, 8) << 1)
                    | (field(7, 7) << 11);
                Vec3::of(&[rs1, rs2, sext(imm, 13)])
            }
            // jal: rd, offset
            0x6f => {
                let imm = (field(31, 31) << 20)
                    | (field(30, 21) << 1)
                    | (field(20, 20) << 11)
                    | (field(19, 12) << 12);
                Vec3::of(&[rd, sext(imm, 21)])
            }
            _ => return None,
        }
    };
    ops.as_slice().get(n).copied()
}

/// Up to three operands, without allocating.
struct Vec3 {
    v: [i64; 3],
    len: usize,
}

impl Vec3 {
    fn of(ops: &[i64]) -> Vec3 {
        let mut v = [0; 3];
        let len = ops.len().min(3);
        v[..len].copy_from_slice(&ops[..len]);
        Vec3 { v, len }
    }
    fn as_slice(&self) -> &[i64] {
        &self.v[..self.len]
    }
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
            got: 0,
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
        RiscV64::apply_fixup(kind, &mut b, 0, values(p, s, a))?;
        Ok(u32::from_le_bytes(b))
    }

    /// `(kind, instruction with a zero immediate, P, S, A, expected or None for an error)`.
    /// Expected encodings are those `llvm-mc-19 -triple=riscv64 -mattr=+c -show-encoding`
    /// gives for the instruction with the immediate written out.
    type Case = (EdgeKind, u32, u64, u64, i64, Option<u32>);

    fn check(cases: &[Case]) {
        for &(kind, ins, p, s, a, want) in cases {
            let got = apply(kind, ins, p, s, a);
            match want {
                Some(w) => assert_eq!(got, Ok(w), "{kind:?} P={p:#x} S={s:#x} A={a}"),
                None => {
                    assert!(got.is_err(), "{kind:?} P={p:#x} S={s:#x} A={a}: {got:?}");
                    // Nothing is written on an error.
                    let mut b = ins.to_le_bytes();
                    let _ = RiscV64::apply_fixup(kind, &mut b, 0, values(p, s, a));
                    assert_eq!(u32::from_le_bytes(b), ins, "{kind:?}: written on an error");
                }
            }
        }
    }

    #[test]
    fn upper_and_lower_parts() {
        const LUI_A0: u32 = 0x0000_0537; // lui a0, 0
        const AUIPC_A0: u32 = 0x0000_0517; // auipc a0, 0
        const ADDI_A0: u32 = 0x0005_0513; // addi a0, a0, 0
        const SD_A1: u32 = 0x00b5_3023; // sd a1, 0(a0)
        let top = (1u64 << 31) - 0x800 - 1;
        check(&[
            // lui a0, 0x12345 ; with the rounding of a negative low part: 0x12345 + 1
            (Hi20, LUI_A0, 0, 0x1234_5678, 0, Some(0x1234_5537)),
            (Hi20, LUI_A0, 0, 0x1234_5800, 0, Some(0x1234_6537)),
            // the edges of the range: 2^31 - 0x801 fits (lui a0, 0x7ffff), 2^31 - 0x800 not
            (Hi20, LUI_A0, 0, top, 0, Some(0x7fff_f537)),
            (Hi20, LUI_A0, 0, top + 1, 0, None),
            // -2^31 - 0x800 fits (lui a0, 0x80000), one less does not
            (Hi20, LUI_A0, 0, 0, -(1 << 31) - 0x800, Some(0x8000_0537)),
            (Hi20, LUI_A0, 0, 0, -(1 << 31) - 0x801, None),
            // addi a0, a0, 0x678 ; addi a0, a0, -0x800 ; sd a1, -1(a0)
            (Lo12I, ADDI_A0, 0, 0x1234_5678, 0, Some(0x6785_0513)),
            (Lo12I, ADDI_A0, 0, 0x1234_5800, 0, Some(0x8005_0513)),
            (Lo12S, SD_A1, 0, 0xfff, 0, Some(0xfeb5_3fa3)),
            // auipc a0, 0x1 for a target 0x1000 ahead; -1 page behind
            (PCRelHi20, AUIPC_A0, 0x1000, 0x2000, 0, Some(0x0000_1517)),
            (PCRelHi20, AUIPC_A0, 0x2000, 0x1000, 0, Some(0xffff_f517)),
            (PCRelHi20, AUIPC_A0, 0, 1 << 31, 0, None),
            // the low part relative to the auipc 8 bytes back (the builder's addend of 8)
            (
                PCRelLo12I { back: 8 },
                ADDI_A0,
                0x1008,
                0x1010,
                0,
                Some(0x0105_0513),
            ),
            (
                PCRelLo12S { back: 8 },
                SD_A1,
                0x1008,
                0x1010,
                0,
                Some(0x00b5_3823),
            ),
            // A low half before its auipc (back < 0), with an addend.
            (
                PCRelLo12I { back: -4 },
                ADDI_A0,
                0x1000,
                0x1010,
                4,
                Some(0x0105_0513),
            ),
            // An undefined weak target (0): auipc becomes lui a0, hi20(A); lo12(A).
            (
                PCRelHi20,
                AUIPC_A0,
                0x7fff_0000_0000,
                0,
                0,
                Some(0x0000_0537),
            ),
            (
                PCRelHi20,
                AUIPC_A0,
                0x7fff_0000_0000,
                0,
                0x1800,
                Some(0x0000_2537),
            ),
            (
                PCRelLo12I { back: 8 },
                ADDI_A0,
                0x7fff_0000_0008,
                0,
                0x1800,
                Some(0x8005_0513),
            ),
            (PCRelHi20, ADDI_A0, 0x1000, 0, 0, None),
            // tp-relative: S + A + 0x10
            (TPRelHi20, LUI_A0, 0, 0x7f0, 0, Some(0x0000_1537)),
            (TPRelLo12I, ADDI_A0, 0, 0x7f0, 0, Some(0x8005_0513)),
            (TPRelLo12S, SD_A1, 0, 0, 1, Some(0x00b5_38a3)),
        ]);
    }

    #[test]
    fn branches_and_jumps() {
        const BEQ: u32 = 0x00b5_0063; // beq a0, a1, 0
        const JAL_RA: u32 = 0x0000_00ef; // jal ra, 0
        check(&[
            // beq a0, a1, 4094 ; -4096 ; out of range ; odd
            (Branch12, BEQ, 0x1000, 0x1ffe, 0, Some(0x7eb5_0fe3)),
            (Branch12, BEQ, 0x1000, 0, 0, Some(0x80b5_0063)),
            (Branch12, BEQ, 0x1000, 0x2000, 0, None),
            (Branch12, BEQ, 0x1000, 0x1001, 0, None),
            // jal ra, 0xffffe ; -0x100000 ; out of range
            (Jal20, JAL_RA, 0, 0xf_fffe, 0, Some(0x7fff_f0ef)),
            (Jal20, JAL_RA, 0x10_0000, 0, 0, Some(0x8000_00ef)),
            (Jal20, JAL_RA, 0, 0x10_0000, 0, None),
            // jal ra, 0x802 (bits 11 and 1)
            (Jal20, JAL_RA, 0, 0x802, 0, Some(0x0030_00ef)),
        ]);
        // Compressed: c.beqz a0, 254 ; -256 ; out of range ; c.j 2046 ; -2048 ; out of range
        let c = |kind, ins: u16, p, s| -> Result<u16, FixupError> {
            let mut b = ins.to_le_bytes();
            RiscV64::apply_fixup(kind, &mut b, 0, values(p, s, 0))?;
            Ok(u16::from_le_bytes(b))
        };
        assert_eq!(c(RvcBranch, 0xc101, 0x1000, 0x10fe), Ok(0xcd7d));
        assert_eq!(c(RvcBranch, 0xc101, 0x1000, 0x0f00), Ok(0xd101));
        assert!(c(RvcBranch, 0xc101, 0x1000, 0x1100).is_err());
        assert_eq!(c(RvcJump, 0xa001, 0x1000, 0x17fe), Ok(0xaffd));
        assert_eq!(c(RvcJump, 0xa001, 0x1000, 0x0800), Ok(0xb001));
        assert!(c(RvcJump, 0xa001, 0x1000, 0x1800).is_err());
    }

    #[test]
    fn calls_reach_two_gib_and_stubs_load_their_slot() {
        let call = |p: u64, s: u64| -> Result<[u32; 2], FixupError> {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&0x0000_0097u32.to_le_bytes()); // auipc ra, 0
            b[4..].copy_from_slice(&0x0000_80e7u32.to_le_bytes()); // jalr ra, 0(ra)
            RiscV64::apply_fixup(Call, &mut b, 0, values(p, s, 0))?;
            let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            Ok([w(0), w(4)])
        };
        // auipc ra, 0x12345 ; jalr ra, 0x678(ra)
        assert_eq!(call(0, 0x1234_5678), Ok([0x1234_5097, 0x6780_80e7]));
        // auipc ra, 0x1 ; jalr ra, -0x800(ra)
        assert_eq!(call(0, 0x800), Ok([0x0000_1097, 0x8000_80e7]));
        // The exact edges: S - P in [-2^31 - 0x800, 2^31 - 0x800).
        // auipc ra, 0x7ffff ; jalr ra, 0x7ff(ra)
        assert_eq!(call(0, (1 << 31) - 0x801), Ok([0x7fff_f097, 0x7ff0_80e7]));
        assert!(call(0, (1 << 31) - 0x800).is_err());
        // auipc ra, 0x80000 ; jalr ra, -0x800(ra)
        let p = 0x8000_0800;
        assert_eq!(call(p, 0), Ok([0x8000_0097, 0x8000_80e7]));
        assert!(call(p + 1, 0).is_err());
        assert!(call(0x1_0000_0000, 0).is_err());
        // The pair does not fit the block: nothing is written.
        let mut short = [0u8; 6];
        assert_eq!(
            RiscV64::apply_fixup(Call, &mut short, 0, values(0, 0x1000, 0)),
            Err(FixupError::PlaceOutOfBounds)
        );
        assert_eq!(short, [0; 6]);
        let mut stub = JUMP_STUB_BYTES;
        let t = RiscV64::JUMP_STUB;
        RiscV64::apply_fixup(t.slot_kind, &mut stub, 0, values(0x1_0000, 0x2_3458, 0)).unwrap();
        let w = |i: usize| u32::from_le_bytes([stub[i], stub[i + 1], stub[i + 2], stub[i + 3]]);
        // auipc t3, 0x13 ; ld t3, 0x458(t3) ; jr t3
        assert_eq!([w(0), w(4), w(8)], [0x0001_3e17, 0x458e_3e03, 0x000e_0067]);
        assert_eq!(RiscV64::role(Call), EdgeRole::Branch);
    }

    #[test]
    fn data_fields() {
        let mut b = [0u8; 8];
        RiscV64::apply_fixup(Pointer32, &mut b, 0, values(0, 0, -1)).unwrap();
        assert_eq!(b[..4], [0xff; 4]);
        assert!(RiscV64::apply_fixup(Pointer32, &mut b, 0, values(0, 1 << 32, 0)).is_err());
        let d32 = Delta {
            width: Width::Bits32,
        };
        RiscV64::apply_fixup(d32, &mut b, 0, values(0x1000, 0x800, 0)).unwrap();
        assert_eq!(b[..4], (-0x800i32).to_le_bytes());
        // 6 bits keep the top two bits of the byte (DW_CFA_advance_loc).
        let mut cfa = [0x40u8];
        let s6 = Set {
            width: Width::Bits6,
        };
        RiscV64::apply_fixup(s6, &mut cfa, 0, values(0, 0, 63)).unwrap();
        assert_eq!(cfa, [0x7f]);
        assert!(RiscV64::apply_fixup(s6, &mut cfa, 0, values(0, 0, 64)).is_err());
        let s8 = Set {
            width: Width::Bits8,
        };
        assert!(RiscV64::apply_fixup(s8, &mut b, 0, values(0, 0, 255)).is_ok());
        assert!(RiscV64::apply_fixup(s8, &mut b, 0, values(0, 0, 256)).is_err());
        assert!(RiscV64::apply_fixup(s8, &mut b, 0, values(0, 0, -129)).is_err());
        // ULEB128 keeps its length: two bytes hold up to 2^14 - 1.
        let uleb = Set {
            width: Width::Uleb128,
        };
        let mut u = [0x80u8, 0x00, 0xaa];
        RiscV64::apply_fixup(uleb, &mut u, 0, values(0, 0, 300)).unwrap();
        assert_eq!(u, [0xac, 0x02, 0xaa]);
        assert!(RiscV64::apply_fixup(uleb, &mut u, 0, values(0, 0, 1 << 14)).is_err());
        assert!(RiscV64::apply_fixup(uleb, &mut u, 0, values(0, 0, -1)).is_err());
        // TLS words: the offset for __tls_get_addr is biased by -0x800.
        RiscV64::apply_fixup(DTPRel64, &mut b, 0, values(0, 0x10, 0)).unwrap();
        assert_eq!(i64::from_le_bytes(b), 0x10 - 0x800);
        RiscV64::apply_fixup(TPRel64, &mut b, 0, values(0, 0x20, 8)).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x38);
        assert_eq!(
            RiscV64::apply_fixup(Pointer64, &mut b, 4, values(0, 0, 0)),
            Err(FixupError::PlaceOutOfBounds)
        );
    }

    #[test]
    fn roles_route_what_is_an_address_and_only_that() {
        let set32 = Set {
            width: Width::Bits32,
        };
        // Distances from ADD/SUB pairs do not ask for the low 2 GiB; absolute upper parts and
        // the low parts that complete them do, together.
        assert_eq!(RiscV64::role(set32), EdgeRole::Data(Reach::Any));
        assert_eq!(RiscV64::role(Hi20), EdgeRole::Data(Reach::Abs32));
        assert_eq!(RiscV64::role(Lo12I), RiscV64::role(Hi20));
        assert_eq!(
            RiscV64::role(PCRelLo12S { back: 4 }),
            RiscV64::role(PCRelHi20)
        );
        assert_eq!(RiscV64::role(Call), EdgeRole::Branch);
        assert!(matches!(
            RiscV64::role(RequestTLSDescAndTransformToPCRelLo12I { back: 12 }),
            EdgeRole::TlsRequest {
                entry: TlsEntry::Descriptor,
                to_entry: PCRelLo12I { back: 12 }
            }
        ));
        assert!(RiscV64::is_tp_relative(TPRelLo12S));
        assert!(!RiscV64::is_tp_relative(PCRelHi20));
    }

    /// Instructions from `llvm-mc-19 -triple=riscv64 -mattr=+c -show-encoding` and the
    /// operands LLVM's disassembler gives them.
    #[test]
    fn decodes_the_operands_relocations_patch() {
        let cases: &[(u32, usize, i64)] = &[
            (0x1234_5537, 1, 0x12345), // lui a0, 0x12345
            (0xffff_f517, 1, -1),      // auipc a0, 0xfffff
            (0xffff_f517, 0, 10),      // its destination, a0
            (0x8005_0513, 2, -0x800),  // addi a0, a0, -0x800
            (0x458e_3e03, 2, 0x458),   // ld t3, 0x458(t3)
            (0xfeb5_3fa3, 0, 11),      // sd a1, -1(a0): a1
            (0xfeb5_3fa3, 2, -1),
            (0x7eb5_0fe3, 2, 4094),     // beq a0, a1, 4094
            (0x80b5_0063, 2, -4096),    // beq a0, a1, -4096
            (0x7fff_f0ef, 1, 0xf_fffe), // jal ra, 0xffffe
            (0x0030_00ef, 1, 0x802),    // jal ra, 0x802
            (0xcd7d, 1, 254),           // c.beqz a0, 254
            (0xd101, 1, -256),          // c.beqz a0, -256
            (0xaffd, 0, 2046),          // c.j 2046
            (0xb001, 0, -2048),         // c.j -2048
        ];
        for &(ins, n, want) in cases {
            assert_eq!(
                decode_operand(ins, n),
                Some(want),
                "{ins:#010x} operand {n}"
            );
        }
        assert_eq!(
            decode_operand(0x0000_0073, 0),
            None,
            "ecall has no operands"
        );
        assert_eq!(instruction_length(0xcd7d), 2);
        assert_eq!(instruction_length(0x0517), 4);
    }
}
