//! x86-64: edge kinds, the fixup match, GOT-load relaxation and the jump stub.
//!
//! In the formulas, `P` is the address of the field, `S` the target address (the target's size
//! for the size kinds), `A` the addend, `GOT` the address of the graph's GOT, `ImageBase` the
//! lowest address of the linked set, and `Section(S)` the start of the section holding `S`.

use crate::{
    byte_at, check_range, image_relative, section_relative, write_field, write_u32, Arch, Biases,
    EdgeRole, FixupError, FixupValues, Reach, StubTemplate, TlsEntry, TrampolineField,
    TrampolineSlot, TrampolineTemplate,
};

/// The x86-64 architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X86_64;

/// x86-64 edge kinds. Each names the computation it performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// `Fixup <- S + A : uint64`.
    Pointer64,
    /// `Fixup <- S + A : uint32`, error if out of range.
    Pointer32,
    /// `Fixup <- S + A : int32`, error if out of range.
    Pointer32Signed,
    /// `Fixup <- S + A : int16 or uint16`, error if out of range.
    Pointer16,
    /// `Fixup <- S + A : int8 or uint8`, error if out of range.
    Pointer8,
    /// `Fixup <- S + A - P : int64`.
    Delta64,
    /// `Fixup <- S + A - P : int32`, error if out of range.
    Delta32,
    /// `Fixup <- S + A - P : int16`, error if out of range.
    Delta16,
    /// `Fixup <- S + A - P : int8`, error if out of range.
    Delta8,
    /// `Fixup <- P - S + A : int64` (the subtrahend of a Mach-O `SUBTRACTOR` pair is the
    /// target, the minuend lies in the fixup's block).
    NegDelta64,
    /// `Fixup <- P - S + A : int32`, error if out of range.
    NegDelta32,
    /// `Fixup <- S + A - GOT : int64`.
    Delta64FromGOT,
    /// `Fixup <- S + A - P : int32` for a call or jump; the GOT/stub pass sends it through a stub
    /// when the target is out of reach. Error if out of range.
    BranchPCRel32,
    /// `Fixup <- Size(S) + A : uint64`.
    Size64,
    /// `Fixup <- Size(S) + A : uint32`, error if out of range.
    Size32,
    /// Request a GOT entry for the target; becomes [`EdgeKind::Delta32`] to the entry.
    RequestGOTAndTransformToDelta32,
    /// Request a GOT entry; becomes [`EdgeKind::Delta64`] to the entry.
    RequestGOTAndTransformToDelta64,
    /// Request a GOT entry; becomes [`EdgeKind::Delta64FromGOT`] to the entry.
    RequestGOTAndTransformToDelta64FromGOT,
    /// Request a GOT entry from a relaxable instruction without REX prefix (`GOTPCRELX`):
    /// becomes `Delta32` to the entry, or a relaxed direct form when the target is in reach.
    RequestGOTAndTransformToPCRel32GOTLoadRelaxable,
    /// As above, for an instruction with a REX prefix (`REX_GOTPCRELX`).
    RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable,
    /// `mov x@GOTPCREL(%rip), %reg` rewritten to `lea x(%rip), %reg`:
    /// opcode `8b` at `P - 2` becomes `8d`, then `Fixup <- S + A - P : int32`.
    GOTLoadRelaxedToLea,
    /// `call *x@GOTPCREL(%rip)` (`ff 15`) rewritten to `addr32 call x` (`67 e8`),
    /// then `Fixup <- S + A - P : int32`.
    GOTCallRelaxedToDirect,
    /// `jmp *x@GOTPCREL(%rip)` (`ff 25`) rewritten to `jmp x; nop` (`e9 rel32 90`):
    /// the field moves to `P - 1`, `Fixup <- S + A - (P - 1) : int32`.
    GOTJmpRelaxedToDirect,
    /// `Fixup <- TLSModule : uint64`, the module id of the graph's TLS block.
    TLSModule64,
    /// `Fixup <- S + A : int64`, where `S` is the target's offset in its TLS block.
    DTPOff64,
    /// `Fixup <- S + A : int32`, `S` as for `DTPOff64`. Error if out of range.
    DTPOff32,
    /// `Fixup <- S + A + TPOffset : int64`: the target's offset from the thread pointer.
    TPOff64,
    /// `Fixup <- S + A + TPOffset : int32`. Error if out of range.
    TPOff32,
    /// Request a `(module, offset)` pair (`TLSGD`); becomes `Delta32` to it.
    RequestTLSGDPairAndTransformToDelta32,
    /// Request a `(module, 0)` pair (`TLSLD`); becomes `Delta32` to it.
    RequestTLSLDPairAndTransformToDelta32,
    /// Request a GOT entry holding the thread-pointer offset (`GOTTPOFF`); becomes `Delta32`.
    RequestTPOffAndTransformToDelta32,
    /// Request a TLS descriptor (`GOTPC32_TLSDESC`); becomes `Delta32` to it.
    RequestTLSDescAndTransformToDelta32,
    /// `Fixup <- S + A - ImageBase : uint32`, error if out of range: the target's offset from
    /// the linked set's lowest address (COFF `ADDR32NB`, an RVA).
    ImageRelative32,
    /// `Fixup <- S + A - Section(S) : uint32`, error if out of range or if the target lies in
    /// no section: the target's offset in its section (COFF `SECREL`).
    SectionRelative32,
}

/// `jmp *slot(%rip)` padded to 8 bytes.
const JUMP_STUB_BYTES: [u8; 8] = [
    0xff, 0x25, 0x00, 0x00, 0x00,
    0x00, // jmp *slot(%rip)      ; slot displacement at offset 2
    0xcc, 0xcc, //                         int3; int3          ; padding, never executed
];
/// Offset of the slot displacement in [`JUMP_STUB_BYTES`].
const JUMP_STUB_SLOT_OFFSET: usize = 2;
const _: () = assert!(JUMP_STUB_BYTES.len() == 8 && JUMP_STUB_SLOT_OFFSET + 4 <= 6);

#[rustfmt::skip]
const REENTRY_BYTES: [u8; 16] = [
    0x68, 0, 0, 0, 0,             // push $id                   ; identity at offset 1
    0xff, 0x25, 0, 0, 0, 0,       // jmp *resolver(%rip)        ; displacement at offset 7
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, // int3 padding, never executed
];
/// Offsets in [`REENTRY_BYTES`]: the identity, the resolver slot's displacement.
const REENTRY_ID: usize = 1;
const REENTRY_RESOLVER: usize = 7;
const _: () = assert!(
    REENTRY_BYTES.len() == 16
        && REENTRY_BYTES[REENTRY_ID - 1] == 0x68
        && REENTRY_BYTES[REENTRY_RESOLVER - 2] == 0xff
);

#[rustfmt::skip]
const COUNTING_BYTES: [u8; 32] = [
    0xf0, 0x48, 0xff, 0x05, 0, 0, 0, 0, // lock incq counter(%rip)  ; displacement at offset 4
    0x74, 0x06,                         // je 16 (the counter reached zero: enter the runtime)
    0xff, 0x25, 0, 0, 0, 0,             // jmp *target(%rip)        ; displacement at offset 12
    0x68, 0, 0, 0, 0,                   // 16: push $id             ; identity at offset 17
    0xff, 0x25, 0, 0, 0, 0,             // jmp *resolver(%rip)      ; displacement at offset 23
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc,       // int3 padding, never executed
];
/// Offsets in [`COUNTING_BYTES`]: the counter's, the target slot's and the resolver slot's
/// displacements, and the identity.
const COUNTING_COUNTER: usize = 4;
const COUNTING_TARGET: usize = 12;
const COUNTING_ID: usize = 17;
const COUNTING_RESOLVER: usize = 23;
const _: () = assert!(
    COUNTING_BYTES.len() == 32
        && COUNTING_BYTES[9] as usize + 10 == COUNTING_ID - 1 // je lands on the push
        && COUNTING_BYTES[COUNTING_COUNTER - 1] == 0x05
        && COUNTING_BYTES[COUNTING_TARGET - 2] == 0xff
        && COUNTING_BYTES[COUNTING_ID - 1] == 0x68
        && COUNTING_BYTES[COUNTING_RESOLVER - 2] == 0xff
);

/// [`COUNTING_BYTES`] without the lock prefix: `nop; incq counter(%rip)`, same layout.
const COUNTING_RELAXED_BYTES: [u8; 32] = {
    let mut b = COUNTING_BYTES;
    b[0] = 0x90; // nop instead of lock
    b
};

/// The per-thread counting trampoline. r11 is free at every call boundary (it carries no
/// argument, and the resolver uses it as scratch too); flags are caller-clobbered.
#[rustfmt::skip]
const COUNTING_PER_THREAD_BYTES: [u8; 48] = [
    0x64, 0x4c, 0x8b, 0x1c, 0x25, 0, 0, 0, 0, // mov r11, fs:[tls]   ; offset from the thread pointer at 5
    0x4d, 0x85, 0xdb,                         // test r11, r11       ; no array on this thread yet:
    0x74, 0x10,                               // jz 30               ;   enter the runtime
    0x49, 0x83, 0xab, 0, 0, 0, 0, 0x01,       // sub qword [r11 + slot], 1 ; slot offset at 17
    0x7e, 0x06,                               // jle 30              ; budget used up: enter the runtime
    0xff, 0x25, 0, 0, 0, 0,                   // jmp *target(%rip)   ; displacement at 26
    0x68, 0, 0, 0, 0,                         // 30: push $id        ; identity at 31
    0xff, 0x25, 0, 0, 0, 0,                   // jmp *resolver(%rip) ; displacement at 37
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, // int3 padding, never executed
];
/// Offsets in [`COUNTING_PER_THREAD_BYTES`].
const PER_THREAD_TLS: usize = 5;
const PER_THREAD_SLOT: usize = 17;
const PER_THREAD_TARGET: usize = 26;
const PER_THREAD_ID: usize = 31;
const PER_THREAD_RESOLVER: usize = 37;
const _: () = assert!(
    COUNTING_PER_THREAD_BYTES.len() == 48
        && COUNTING_PER_THREAD_BYTES[13] as usize + 14 == PER_THREAD_ID - 1 // jz lands on the push
        && COUNTING_PER_THREAD_BYTES[23] as usize + 24 == PER_THREAD_ID - 1 // jle too
        && COUNTING_PER_THREAD_BYTES[PER_THREAD_TLS - 1] == 0x25
        && COUNTING_PER_THREAD_BYTES[PER_THREAD_SLOT - 1] == 0xab
        && COUNTING_PER_THREAD_BYTES[PER_THREAD_TARGET - 2] == 0xff
        && COUNTING_PER_THREAD_BYTES[PER_THREAD_ID - 1] == 0x68
        && COUNTING_PER_THREAD_BYTES[PER_THREAD_RESOLVER - 2] == 0xff
);

/// The re-entry trampoline (see [`Arch::REENTRY_TRAMPOLINE`]).
const REENTRY: TrampolineTemplate<EdgeKind> = TrampolineTemplate {
    bytes: &REENTRY_BYTES,
    id_offset: REENTRY_ID,
    enter_offset: 0,
    fields: &[TrampolineField {
        offset: REENTRY_RESOLVER,
        kind: EdgeKind::Delta32,
        addend: -4,
        slot: TrampolineSlot::Resolver,
    }],
};
/// The counting trampoline (see [`Arch::COUNTING_TRAMPOLINE`]).
const COUNTING: TrampolineTemplate<EdgeKind> = TrampolineTemplate {
    bytes: &COUNTING_BYTES,
    id_offset: COUNTING_ID,
    enter_offset: COUNTING_ID - 1,
    fields: &[
        TrampolineField {
            offset: COUNTING_COUNTER,
            kind: EdgeKind::Delta32,
            addend: -4,
            slot: TrampolineSlot::Counter,
        },
        TrampolineField {
            offset: COUNTING_TARGET,
            kind: EdgeKind::Delta32,
            addend: -4,
            slot: TrampolineSlot::Target,
        },
        TrampolineField {
            offset: COUNTING_RESOLVER,
            kind: EdgeKind::Delta32,
            addend: -4,
            slot: TrampolineSlot::Resolver,
        },
    ],
};

/// The counting trampoline with a plain increment.
const COUNTING_RELAXED: TrampolineTemplate<EdgeKind> = TrampolineTemplate {
    bytes: &COUNTING_RELAXED_BYTES,
    ..COUNTING
};

/// The counting trampoline with per-thread counters (see
/// [`Arch::COUNTING_TRAMPOLINE_PER_THREAD`]).
const COUNTING_PER_THREAD: TrampolineTemplate<EdgeKind> = TrampolineTemplate {
    bytes: &COUNTING_PER_THREAD_BYTES,
    id_offset: PER_THREAD_ID,
    enter_offset: PER_THREAD_ID - 1,
    fields: &[
        TrampolineField {
            offset: PER_THREAD_TLS,
            kind: EdgeKind::Pointer32Signed,
            addend: 0,
            slot: TrampolineSlot::ThreadCounters,
        },
        TrampolineField {
            offset: PER_THREAD_SLOT,
            kind: EdgeKind::Pointer32Signed,
            addend: 0,
            slot: TrampolineSlot::ThreadCounterSlot,
        },
        TrampolineField {
            offset: PER_THREAD_TARGET,
            kind: EdgeKind::Delta32,
            addend: -4,
            slot: TrampolineSlot::Target,
        },
        TrampolineField {
            offset: PER_THREAD_RESOLVER,
            kind: EdgeKind::Delta32,
            addend: -4,
            slot: TrampolineSlot::Resolver,
        },
    ],
};

fn put<const N: usize>(block: &mut [u8], offset: usize, bytes: [u8; N]) -> Result<(), FixupError> {
    write_field(block, offset, &bytes)
}

fn delta(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128 - v.p as i128
}

fn neg_delta(v: FixupValues) -> i128 {
    v.p as i128 - v.s as i128 + v.a as i128
}

fn absolute(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128
}

fn write_i32(block: &mut [u8], offset: usize, value: i128) -> Result<(), FixupError> {
    check_range(value, i32::MIN as i128, i32::MAX as i128)?;
    put(block, offset, (value as i32).to_le_bytes())
}

fn expect_byte(
    block: &[u8],
    offset: Option<usize>,
    want: u8,
    what: &'static str,
) -> Result<usize, FixupError> {
    let at = offset.ok_or(FixupError::UnexpectedInstruction(what))?;
    if byte_at(block, at)? != want {
        return Err(FixupError::UnexpectedInstruction(what));
    }
    Ok(at)
}

impl Arch for X86_64 {
    type EdgeKind = EdgeKind;
    const NAME: &'static str = "x86-64";
    const POINTER_SIZE: u64 = 8;
    const POINTER_KIND: EdgeKind = EdgeKind::Pointer64;
    const TLS_MODULE_KIND: EdgeKind = EdgeKind::TLSModule64;
    const TLS_OFFSET_KIND: EdgeKind = EdgeKind::DTPOff64;
    const TP_OFFSET_KIND: EdgeKind = EdgeKind::TPOff64;
    const JUMP_STUB: StubTemplate<EdgeKind> = StubTemplate {
        bytes: &JUMP_STUB_BYTES,
        slot_offset: JUMP_STUB_SLOT_OFFSET,
        slot_kind: EdgeKind::Delta32,
        slot_addend: -4,
        align: 8,
    };

    const REENTRY_TRAMPOLINE: Option<TrampolineTemplate<EdgeKind>> = Some(REENTRY);
    const COUNTING_TRAMPOLINE: Option<TrampolineTemplate<EdgeKind>> = Some(COUNTING);
    const COUNTING_TRAMPOLINE_RELAXED: Option<TrampolineTemplate<EdgeKind>> =
        Some(COUNTING_RELAXED);
    const COUNTING_TRAMPOLINE_PER_THREAD: Option<TrampolineTemplate<EdgeKind>> =
        Some(COUNTING_PER_THREAD);

    fn apply_fixup(
        kind: EdgeKind,
        block: &mut [u8],
        offset: usize,
        v: FixupValues,
    ) -> Result<(), FixupError> {
        use EdgeKind::*;
        match kind {
            Pointer64 => put(block, offset, (absolute(v) as u64).to_le_bytes()),
            Pointer32 => {
                let x = absolute(v);
                check_range(x, 0, u32::MAX as i128)?;
                put(block, offset, (x as u32).to_le_bytes())
            }
            Pointer32Signed => write_i32(block, offset, absolute(v)),
            Pointer16 => {
                let x = absolute(v);
                check_range(x, i16::MIN as i128, u16::MAX as i128)?;
                put(block, offset, (x as u16).to_le_bytes())
            }
            Pointer8 => {
                let x = absolute(v);
                check_range(x, i8::MIN as i128, u8::MAX as i128)?;
                put(block, offset, [x as u8])
            }
            Delta64 => put(block, offset, (delta(v) as u64).to_le_bytes()),
            Delta32 | BranchPCRel32 => write_i32(block, offset, delta(v)),
            Delta16 => {
                let x = delta(v);
                check_range(x, i16::MIN as i128, i16::MAX as i128)?;
                put(block, offset, (x as i16).to_le_bytes())
            }
            Delta8 => {
                let x = delta(v);
                check_range(x, i8::MIN as i128, i8::MAX as i128)?;
                put(block, offset, [x as i8 as u8])
            }
            NegDelta64 => put(block, offset, (neg_delta(v) as u64).to_le_bytes()),
            NegDelta32 => write_i32(block, offset, neg_delta(v)),
            Delta64FromGOT => {
                let x = absolute(v) - v.got as i128;
                put(block, offset, (x as u64).to_le_bytes())
            }
            Size64 => put(block, offset, (absolute(v) as u64).to_le_bytes()),
            Size32 => {
                let x = absolute(v);
                check_range(x, 0, u32::MAX as i128)?;
                put(block, offset, (x as u32).to_le_bytes())
            }
            GOTLoadRelaxedToLea => {
                let op = expect_byte(block, offset.checked_sub(2), 0x8b, "mov for GOT load")?;
                write_i32(block, offset, delta(v))?;
                put(block, op, [0x8d]) // lea
            }
            GOTCallRelaxedToDirect => {
                let op = expect_byte(block, offset.checked_sub(1), 0x15, "call *GOT")?;
                let op = expect_byte(block, op.checked_sub(1), 0xff, "call *GOT")?;
                write_i32(block, offset, delta(v))?;
                put(block, op, [0x67, 0xe8]) // addr32 call rel32
            }
            GOTJmpRelaxedToDirect => {
                let op = expect_byte(block, offset.checked_sub(1), 0x25, "jmp *GOT")?;
                let op = expect_byte(block, op.checked_sub(1), 0xff, "jmp *GOT")?;
                // The rel32 of `e9` starts one byte earlier than the memory operand did.
                let x = delta(v) + 1;
                check_range(x, i32::MIN as i128, i32::MAX as i128)?;
                write_field(block, offset + 3, &[0x90])?; // nop
                put(block, op, [0xe9])?; // jmp rel32
                put(block, op + 1, (x as i32).to_le_bytes())
            }
            TLSModule64 => put(block, offset, v.tls.module.to_le_bytes()),
            DTPOff64 => put(block, offset, (absolute(v) as u64).to_le_bytes()),
            DTPOff32 => write_i32(block, offset, absolute(v)),
            TPOff64 => put(
                block,
                offset,
                ((absolute(v) + v.tls.tp_offset as i128) as u64).to_le_bytes(),
            ),
            TPOff32 => write_i32(block, offset, absolute(v) + v.tls.tp_offset as i128),
            ImageRelative32 => write_u32(block, offset, image_relative(v)),
            SectionRelative32 => write_u32(block, offset, section_relative(v)?),
            RequestGOTAndTransformToDelta32
            | RequestGOTAndTransformToDelta64
            | RequestGOTAndTransformToDelta64FromGOT
            | RequestGOTAndTransformToPCRel32GOTLoadRelaxable
            | RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable
            | RequestTLSGDPairAndTransformToDelta32
            | RequestTLSLDPairAndTransformToDelta32
            | RequestTPOffAndTransformToDelta32
            | RequestTLSDescAndTransformToDelta32 => Err(FixupError::UnexpectedInstruction(
                "GOT request left unresolved by the GOT pass",
            )),
        }
    }

    fn role(kind: EdgeKind) -> EdgeRole<EdgeKind> {
        use EdgeKind::*;
        match kind {
            Pointer64 | Delta64 | NegDelta64 | Delta64FromGOT | Size64 | Size32 => {
                EdgeRole::Data(Reach::Any)
            }
            ImageRelative32 => EdgeRole::Data(Reach::ImageRel32),
            // Relative to the target's own section: a target outside the graph has none, and
            // no stub or copy would change that.
            SectionRelative32 => EdgeRole::Data(Reach::Any),
            TLSModule64 | DTPOff64 | DTPOff32 | TPOff64 | TPOff32 => EdgeRole::Data(Reach::Any),
            RequestTLSGDPairAndTransformToDelta32 => EdgeRole::TlsRequest {
                entry: TlsEntry::ModuleAndOffset,
                to_entry: Delta32,
            },
            RequestTLSLDPairAndTransformToDelta32 => EdgeRole::TlsRequest {
                entry: TlsEntry::Module,
                to_entry: Delta32,
            },
            RequestTPOffAndTransformToDelta32 => EdgeRole::TlsRequest {
                entry: TlsEntry::TpOffset,
                to_entry: Delta32,
            },
            RequestTLSDescAndTransformToDelta32 => EdgeRole::TlsRequest {
                entry: TlsEntry::Descriptor,
                to_entry: Delta32,
            },
            Pointer32 | Pointer32Signed | Pointer16 | Pointer8 => EdgeRole::Data(Reach::Abs32),
            Delta32 | NegDelta32 | Delta16 | Delta8 => EdgeRole::Data(Reach::PcRel32),
            GOTLoadRelaxedToLea | GOTCallRelaxedToDirect | GOTJmpRelaxedToDirect => {
                EdgeRole::Data(Reach::PcRel32)
            }
            BranchPCRel32 => EdgeRole::Branch,
            RequestGOTAndTransformToDelta32
            | RequestGOTAndTransformToPCRel32GOTLoadRelaxable
            | RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable => {
                EdgeRole::GotRequest { to_entry: Delta32 }
            }
            RequestGOTAndTransformToDelta64 => EdgeRole::GotRequest { to_entry: Delta64 },
            RequestGOTAndTransformToDelta64FromGOT => EdgeRole::GotRequest {
                to_entry: Delta64FromGOT,
            },
        }
    }

    fn relax_got_load(kind: EdgeKind, content: &[u8], offset: usize) -> Option<EdgeKind> {
        use EdgeKind::*;
        let relaxable = matches!(
            kind,
            RequestGOTAndTransformToPCRel32GOTLoadRelaxable
                | RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable
        );
        if !relaxable || offset < 2 {
            return None;
        }
        let op = *content.get(offset - 2)?;
        let modrm = *content.get(offset - 1)?;
        match (op, modrm) {
            (0x8b, m) if m & 0xc7 == 0x05 => Some(GOTLoadRelaxedToLea),
            (0xff, 0x15) if kind == RequestGOTAndTransformToPCRel32GOTLoadRelaxable => {
                Some(GOTCallRelaxedToDirect)
            }
            (0xff, 0x25) if kind == RequestGOTAndTransformToPCRel32GOTLoadRelaxable => {
                Some(GOTJmpRelaxedToDirect)
            }
            _ => None,
        }
    }

    fn direct_branch(kind: EdgeKind) -> EdgeKind {
        match kind {
            EdgeKind::BranchPCRel32 => EdgeKind::BranchPCRel32,
            _ => EdgeKind::Delta32,
        }
    }

    fn uses_got_base(kind: EdgeKind) -> bool {
        matches!(
            kind,
            EdgeKind::Delta64FromGOT | EdgeKind::RequestGOTAndTransformToDelta64FromGOT
        )
    }

    fn is_tp_relative(kind: EdgeKind) -> bool {
        matches!(kind, EdgeKind::TPOff32 | EdgeKind::TPOff64)
    }

    fn uses_target_size(kind: EdgeKind) -> bool {
        matches!(kind, EdgeKind::Size32 | EdgeKind::Size64)
    }

    fn reference_biases(kind: EdgeKind, content: &[u8], offset: usize) -> Biases {
        match kind {
            EdgeKind::Delta32 => rip_relative_biases(content, offset),
            _ => Biases::of(&[0]),
        }
    }
}

/// The sizes an immediate after a RIP-relative `disp32` at `f` may have, as a bit set (bit 0: no
/// immediate, 1: one byte, 2: two bytes, 3: four bytes), from every plausible reading of the
/// bytes before the ModRM byte: a one-byte opcode, `0F xx`, `0F 38 xx`, `0F 3A xx`, or VEX. A
/// reading is plausible if its opcode takes a memory ModRM operand; each plausible reading has a
/// definite immediate. Bytes that do not end in a RIP-relative ModRM give every size.
fn rip_immediate_sizes(code: &[u8], f: usize) -> u8 {
    const NONE: u8 = 1;
    const IMM8: u8 = 2;
    const IMM16: u8 = 4;
    const IMM32: u8 = 8;
    const ANY: u8 = NONE | IMM8 | IMM16 | IMM32;
    let at = |back: usize| f.checked_sub(back).and_then(|i| code.get(i).copied());
    let (Some(modrm), Some(op)) = (at(1), at(2)) else {
        return ANY;
    };
    if modrm & 0xc7 != 0x05 {
        return ANY;
    }
    let reg = (modrm >> 3) & 7;
    // A 0x66 prefix (before an optional REX) makes a 32-bit immediate 16-bit.
    let prefix = match at(3) {
        Some(0x40..=0x4f) => at(4),
        p => p,
    };
    let imm32 = if prefix == Some(0x66) {
        IMM16 | IMM32
    } else {
        IMM32
    };
    // One-byte opcodes with a ModRM operand, and their immediates.
    let one_byte = |op: u8| -> Option<u8> {
        Some(match (op, reg) {
            (0x6b | 0x80 | 0x82 | 0x83 | 0xc0 | 0xc1, _) | (0xc6, 0) | (0xf6, 0 | 1) => IMM8,
            (0x69 | 0x81, _) | (0xc7, 0) | (0xf7, 0 | 1) => imm32,
            (0xc6 | 0xc7, _) => return None,
            (op, _) if op & 0xc4 == 0 => NONE, // add, or, adc, sbb, and, sub, xor, cmp
            (0x63 | 0x84..=0x8f | 0xd0..=0xd3 | 0xd8..=0xdf | 0xf6 | 0xf7 | 0xfe | 0xff, _) => NONE,
            _ => return None,
        })
    };
    // Two-byte (0F map) opcodes that take a memory operand, and their immediates.
    let two_byte = |op: u8| -> Option<u8> {
        Some(match (op, reg) {
            (0x70 | 0xa4 | 0xac | 0xc2 | 0xc4 | 0xc6, _) | (0xba, 4..=7) => IMM8,
            (0x10..=0x18 | 0x1f | 0x28..=0x2f | 0x40..=0x6f | 0x74..=0x7f | 0x90..=0x9f, _)
            | (0xa3 | 0xa5 | 0xab | 0xad | 0xaf | 0xb0 | 0xb1 | 0xb3 | 0xb6..=0xb7, _)
            | (0xbb..=0xc1 | 0xc3 | 0xd1..=0xfe, _)
            | (0xc7, 1) => NONE,
            _ => return None,
        })
    };
    let mut readings = [None; 5];
    readings[0] = one_byte(op);
    if at(3) == Some(0x0f) {
        readings[1] = two_byte(op);
    }
    if at(4) == Some(0x0f) {
        readings[2] = match at(3) {
            Some(0x38) => Some(NONE),
            Some(0x3a) => Some(IMM8),
            _ => None,
        };
    }
    if at(4) == Some(0xc5) {
        readings[3] = two_byte(op); // two-byte VEX: the 0F map
    }
    if at(5) == Some(0xc4) {
        readings[4] = match at(4).map(|b| b & 0x1f) {
            Some(1) => two_byte(op),
            Some(2) => Some(NONE),
            Some(3) => Some(IMM8),
            _ => None,
        };
    }
    match readings.iter().flatten().fold(0, |m, r| m | r) {
        0 => ANY,
        m => m,
    }
}

/// [`Arch::reference_biases`] of a RIP-relative `disp32` at `f`: 4 plus each possible immediate.
fn rip_relative_biases(code: &[u8], f: usize) -> Biases {
    let sizes = rip_immediate_sizes(code, f);
    let mut v = [0i64; 4];
    let mut n = 0;
    for (bit, imm) in [(1u8, 0i64), (2, 1), (4, 2), (8, 4)] {
        if sizes & bit != 0 {
            v[n] = 4 + imm;
            n += 1;
        }
    }
    Biases::of(&v[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use EdgeKind::*;

    /// Fills a trampoline template at `at` with data words at fixed addresses.
    fn trampoline(t: TrampolineTemplate<EdgeKind>, at: u64, id: u32) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[..t.bytes.len()].copy_from_slice(t.bytes);
        b[t.id_offset..t.id_offset + 4].copy_from_slice(&id.to_le_bytes());
        for f in t.fields {
            // Constants go in the addend (they may be negative).
            let (s, a) = match f.slot {
                TrampolineSlot::Resolver => (0x9000, 0),
                TrampolineSlot::Counter => (0xa000, 0),
                TrampolineSlot::Target => (0xa008, 0),
                TrampolineSlot::ThreadCounters => (0, -0x40),
                TrampolineSlot::ThreadCounterSlot => (0, 7 * 8),
            };
            let v = FixupValues {
                p: at + f.offset as u64,
                s,
                a: f.addend + a,
                got: 0,
                tls: crate::TlsValues::default(),
                image_base: 0,
                section: None,
            };
            X86_64::apply_fixup(f.kind, &mut b, f.offset, v).unwrap_or_else(|e| panic!("{e}"));
        }
        b
    }

    /// RIP-relative displacement at `field` of an instruction ending at `end`, as an address.
    fn rip_target(b: &[u8], at: u64, field: usize, end: usize) -> u64 {
        let d = i32::from_le_bytes([b[field], b[field + 1], b[field + 2], b[field + 3]]);
        (at + end as u64).wrapping_add(d as i64 as u64)
    }

    #[test]
    fn rip_relative_biases_follow_the_immediate() {
        let b = |code: &[u8], f: usize| {
            let v = X86_64::reference_biases(Delta32, code, f);
            v.as_slice().to_vec()
        };
        // addl $1, x(%rip): 83 05 disp32 ib
        assert_eq!(b(&[0x83, 0x05, 0, 0, 0, 0, 1], 2), [5]);
        // movl $7, x(%rip): c7 05 disp32 id
        assert_eq!(b(&[0xc7, 0x05, 0, 0, 0, 0, 7, 0, 0, 0], 2), [8]);
        // movw $7, x(%rip): 66 c7 05 disp32 iw
        assert_eq!(b(&[0x66, 0xc7, 0x05, 0, 0, 0, 0, 7, 0], 3), [6, 8]);
        // mov x(%rip), %rax: 48 8b 05 disp32
        assert_eq!(b(&[0x48, 0x8b, 0x05, 0, 0, 0, 0], 3), [4]);
        // movzbl x(%rip), %eax: 0f b6 05 disp32
        assert_eq!(b(&[0x0f, 0xb6, 0x05, 0, 0, 0, 0], 3), [4]);
        // pshufd $0, x(%rip), %xmm0: 66 0f 70 05 disp32 ib (a one-byte 70 has no ModRM)
        assert_eq!(b(&[0x66, 0x0f, 0x70, 0x05, 0, 0, 0, 0, 0], 4), [5]);
        // adc %eax, x(%rip) after a 0f byte: 11 as one byte, or 0f 11 (movups): no immediate
        assert_eq!(b(&[0x0f, 0x11, 0x05, 0, 0, 0, 0], 3), [4]);
        // jne +15 then movl $0, x(%rip): "0f c7 05" is no instruction (0F C7 /0 is undefined).
        assert_eq!(b(&[0x75, 0x0f, 0xc7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0], 4), [8]);
        // Not a RIP-relative ModRM: anything.
        assert_eq!(b(&[0x8b, 0x04, 0, 0, 0, 0], 2), [4, 5, 6, 8]);
        // Other kinds: the addend is exact.
        assert_eq!(
            X86_64::reference_biases(Pointer64, &[0; 8], 0).as_slice(),
            [0]
        );
    }

    #[test]
    fn trampolines_reference_their_words() {
        let at = 0x8000;
        let r = trampoline(REENTRY, at, 0x1234);
        assert_eq!(&r[..5], &[0x68, 0x34, 0x12, 0, 0]); // push $0x1234
        assert_eq!(rip_target(&r, at, 7, 11), 0x9000); // jmp *resolver(%rip)

        for (t, first) in [(COUNTING, 0xf0), (COUNTING_RELAXED, 0x90)] {
            let c = trampoline(t, at, 7);
            assert_eq!(c[0], first); // lock / nop
            assert_eq!(rip_target(&c, at, 4, 8), 0xa000); // incq counter(%rip)
            assert_eq!(&c[8..10], &[0x74, 0x06]); // je +6: to the push at 16
            assert_eq!(rip_target(&c, at, 12, 16), 0xa008); // jmp *target(%rip)
            assert_eq!(&c[16..21], &[0x68, 7, 0, 0, 0]); // push $7
            assert_eq!(rip_target(&c, at, 23, 27), 0x9000); // jmp *resolver(%rip)
            assert_eq!(c[t.enter_offset], 0x68);
        }

        // Encodings checked with llvm-mc-19 --show-encoding.
        let p = trampoline(COUNTING_PER_THREAD, at, 7);
        #[rustfmt::skip]
        let want: [u8; 30] = [
            0x64, 0x4c, 0x8b, 0x1c, 0x25, 0xc0, 0xff, 0xff, 0xff, // mov r11, fs:[-0x40]
            0x4d, 0x85, 0xdb,                                     // test r11, r11
            0x74, 0x10,                                           // jz 30
            0x49, 0x83, 0xab, 56, 0, 0, 0, 0x01,                  // sub qword [r11 + 56], 1
            0x7e, 0x06,                                           // jle 30
            0xff, 0x25, 0, 0, 0, 0,                               // jmp *target(%rip)
        ];
        assert_eq!(&p[..26], &want[..26]);
        assert_eq!(rip_target(&p, at, 26, 30), 0xa008);
        assert_eq!(&p[30..35], &[0x68, 7, 0, 0, 0]); // push $7
        assert_eq!(rip_target(&p, at, 37, 41), 0x9000); // jmp *resolver(%rip)
        assert_eq!(COUNTING_PER_THREAD.enter_offset, 30);
    }

    fn run(
        kind: EdgeKind,
        before: &[u8],
        offset: usize,
        p: u64,
        s: u64,
        a: i64,
    ) -> Result<[u8; 12], FixupError> {
        let mut b = [0u8; 12];
        b[..before.len()].copy_from_slice(before);
        X86_64::apply_fixup(
            kind,
            &mut b,
            offset,
            FixupValues {
                p,
                s,
                a,
                got: 0x5000,
                tls: crate::TlsValues {
                    module: 3,
                    tp_offset: -0x100,
                },
                image_base: 0,
                section: None,
            },
        )?;
        Ok(b)
    }

    /// `(kind, bytes before, offset, P, S, A, expected bytes or None for a range error)`.
    type Case<'a> = (EdgeKind, &'a [u8], usize, u64, u64, i64, Option<&'a [u8]>);

    #[test]
    fn table_pointers() {
        let cases: &[Case] = &[
            (
                Pointer64,
                &[],
                0,
                0,
                0x1122334455667788,
                0,
                Some(&[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]),
            ),
            (Pointer64, &[], 0, 0, 0x10, -0x11, Some(&[0xff; 8])),
            (
                Pointer32,
                &[],
                0,
                0,
                0xffff_fffe,
                1,
                Some(&[0xff, 0xff, 0xff, 0xff]),
            ),
            (Pointer32, &[], 0, 0, 0xffff_ffff, 1, None),
            (Pointer32, &[], 0, 0, 0, -1, None),
            (
                Pointer32Signed,
                &[],
                0,
                0,
                0x7fff_ffff,
                0,
                Some(&[0xff, 0xff, 0xff, 0x7f]),
            ),
            (Pointer32Signed, &[], 0, 0, 0x8000_0000, 0, None),
            (
                Pointer32Signed,
                &[],
                0,
                0,
                0,
                -0x8000_0000,
                Some(&[0, 0, 0, 0x80]),
            ),
            (Pointer32Signed, &[], 0, 0, 0, -0x8000_0001, None),
            (Pointer16, &[], 0, 0, 0xffff, 0, Some(&[0xff, 0xff])),
            (Pointer16, &[], 0, 0, 0x10000, 0, None),
            (Pointer8, &[], 0, 0, 0xff, 0, Some(&[0xff])),
            (Pointer8, &[], 0, 0, 0x100, 0, None),
        ];
        check_table(cases);
    }

    #[test]
    fn table_deltas_sizes_tls_and_relaxations() {
        let cases: &[Case] = &[
            (
                Delta64,
                &[],
                0,
                0x1000,
                0x800,
                0,
                Some(&(-0x800i64).to_le_bytes()),
            ),
            (
                Delta32,
                &[],
                0,
                0x1000,
                0x1000 + 0x7fff_ffff + 4,
                -4,
                Some(&[0xff, 0xff, 0xff, 0x7f]),
            ),
            (Delta32, &[], 0, 0x1000, 0x1000 + 0x8000_0000 + 4, -4, None),
            (
                NegDelta64,
                &[],
                0,
                0x1000,
                0x800,
                8,
                Some(&0x808i64.to_le_bytes()),
            ),
            (
                NegDelta32,
                &[],
                0,
                0x1000 + 0x7fff_ffff,
                0x1000,
                0,
                Some(&[0xff, 0xff, 0xff, 0x7f]),
            ),
            (NegDelta32, &[], 0, 0x1000 + 0x8000_0000, 0x1000, 0, None),
            (
                NegDelta32,
                &[],
                0,
                0x1000,
                0x1000 + 0x8000_0000,
                0,
                Some(&[0, 0, 0, 0x80]),
            ),
            (
                Delta32,
                &[],
                0,
                0x8000_1000,
                0x1000 + 4,
                -4,
                Some(&[0, 0, 0, 0x80]),
            ),
            (Delta32, &[], 0, 0x8000_1001, 0x1000 + 4, -4, None),
            (
                BranchPCRel32,
                &[],
                0,
                0x2000,
                0x1000,
                -4,
                Some(&(-0x1004i32).to_le_bytes()),
            ),
            (
                Delta16,
                &[],
                0,
                0x100,
                0x100 + 0x7fff,
                0,
                Some(&[0xff, 0x7f]),
            ),
            (Delta16, &[], 0, 0x100, 0x100 + 0x8000, 0, None),
            (Delta8, &[], 0, 0x100, 0x100 - 0x80, 0, Some(&[0x80])),
            (Delta8, &[], 0, 0x100, 0x100 - 0x81, 0, None),
            (
                Delta64FromGOT,
                &[],
                0,
                0,
                0x5010,
                8,
                Some(&0x18u64.to_le_bytes()),
            ),
            (Size64, &[], 0, 0, 40, 2, Some(&42u64.to_le_bytes())),
            (Size32, &[], 0, 0, 40, -41, None),
            (TLSModule64, &[], 0, 0, 0x40, 0, Some(&3u64.to_le_bytes())),
            (DTPOff64, &[], 0, 0, 0x40, 8, Some(&0x48u64.to_le_bytes())),
            (
                DTPOff32,
                &[],
                0,
                0,
                0x40,
                -0x41,
                Some(&(-1i32).to_le_bytes()),
            ),
            (TPOff64, &[], 0, 0, 0x40, 8, Some(&(-0xb8i64).to_le_bytes())),
            (TPOff32, &[], 0, 0, 0x40, 0, Some(&(-0xc0i32).to_le_bytes())),
            (TPOff32, &[], 0, 0, 0x7fff_ffff, 0x101, None),
            // 48 8b 05 disp32: mov x@GOTPCREL(%rip), %rax -> 48 8d 05: lea x(%rip), %rax
            (
                GOTLoadRelaxedToLea,
                &[0x48, 0x8b, 0x05],
                3,
                0x1003,
                0x2000,
                -4,
                Some(&[0x48, 0x8d, 0x05, 0xf9, 0x0f, 0, 0]),
            ),
            // ff 15 disp32: call *x@GOTPCREL(%rip) -> 67 e8 rel32
            (
                GOTCallRelaxedToDirect,
                &[0xff, 0x15],
                2,
                0x1002,
                0x2000,
                -4,
                Some(&[0x67, 0xe8, 0xfa, 0x0f, 0, 0]),
            ),
            // ff 25 disp32: jmp *x@GOTPCREL(%rip) -> e9 rel32 90 (rel32 relative to 0x1005)
            (
                GOTJmpRelaxedToDirect,
                &[0xff, 0x25],
                2,
                0x1002,
                0x2000,
                -4,
                Some(&[0xe9, 0xfb, 0x0f, 0, 0, 0x90]),
            ),
        ];
        check_table(cases);
    }

    fn check_table(cases: &[Case]) {
        for &(kind, before, offset, p, s, a, want) in cases {
            let got = run(kind, before, offset, p, s, a);
            match want {
                Some(bytes) => assert_eq!(
                    got.as_ref().map(|g| &g[..bytes.len()]),
                    Ok(bytes),
                    "{kind:?} P={p:#x} S={s:#x} A={a}"
                ),
                None => assert!(
                    matches!(got, Err(FixupError::OutOfRange { .. })),
                    "{kind:?} P={p:#x} S={s:#x} A={a}: expected range error, got {got:?}"
                ),
            }
        }
    }

    #[test]
    fn relaxation_requires_the_right_instruction() {
        let mut b = [0x48, 0x03, 0x05, 0, 0, 0, 0];
        let v = FixupValues {
            p: 3,
            s: 0,
            a: -4,
            got: 0,
            tls: Default::default(),
            image_base: 0,
            section: None,
        };
        assert!(X86_64::apply_fixup(GOTLoadRelaxedToLea, &mut b, 3, v).is_err());
        let load = RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable;
        assert_eq!(
            X86_64::relax_got_load(load, &[0x48, 0x8b, 0x05, 0, 0, 0, 0], 3),
            Some(GOTLoadRelaxedToLea)
        );
        assert_eq!(
            X86_64::relax_got_load(load, &[0x48, 0x03, 0x05, 0, 0, 0, 0], 3),
            None
        );
        assert_eq!(
            X86_64::relax_got_load(
                RequestGOTAndTransformToDelta32,
                &[0x48, 0x8b, 0x05, 0, 0, 0, 0],
                3
            ),
            None
        );
        let plain = RequestGOTAndTransformToPCRel32GOTLoadRelaxable;
        assert_eq!(
            X86_64::relax_got_load(plain, &[0xff, 0x15, 0, 0, 0, 0], 2),
            Some(GOTCallRelaxedToDirect)
        );
        assert_eq!(
            X86_64::relax_got_load(plain, &[0xff, 0x25, 0, 0, 0, 0], 2),
            Some(GOTJmpRelaxedToDirect)
        );
        assert_eq!(
            X86_64::relax_got_load(plain, &[0xff, 0x35, 0, 0, 0, 0], 2),
            None
        );
    }

    #[test]
    fn place_outside_block_is_an_error() {
        let mut b = [0u8; 4];
        let v = FixupValues {
            p: 0,
            s: 1,
            a: 0,
            got: 0,
            tls: Default::default(),
            image_base: 0,
            section: None,
        };
        assert_eq!(
            X86_64::apply_fixup(Pointer64, &mut b, 0, v),
            Err(FixupError::PlaceOutOfBounds)
        );
        assert_eq!(
            X86_64::apply_fixup(Pointer32, &mut b, 1, v),
            Err(FixupError::PlaceOutOfBounds)
        );
    }

    #[test]
    fn image_and_section_relative_table() {
        crate::shared_tests::image_and_section_relative_table::<X86_64>(
            ImageRelative32,
            SectionRelative32,
        );
    }
}
