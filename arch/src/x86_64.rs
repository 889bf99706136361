//! x86-64: edge kinds, the fixup match, GOT-load relaxation and the jump stub.
//!
//! In the formulas, `P` is the address of the field, `S` the target address (the target's size
//! for the size kinds), `A` the addend and `GOT` the address of the graph's GOT.

use crate::{
    byte_at, check_range, write_field, Arch, EdgeRole, FixupError, FixupValues, Reach,
    StubTemplate, TlsEntry,
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

fn put<const N: usize>(block: &mut [u8], offset: usize, bytes: [u8; N]) -> Result<(), FixupError> {
    write_field(block, offset, &bytes)
}

fn delta(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128 - v.p as i128
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
            Pointer64 | Delta64 | Delta64FromGOT | Size64 | Size32 => EdgeRole::Data(Reach::Any),
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
            Delta32 | Delta16 | Delta8 => EdgeRole::Data(Reach::PcRel32),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use EdgeKind::*;

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
            },
        )?;
        Ok(b)
    }

    /// (kind, bytes before, offset, P, S, A, expected bytes or None for range error)
    type Case<'a> = (EdgeKind, &'a [u8], usize, u64, u64, i64, Option<&'a [u8]>);

    #[test]
    fn table() {
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
}
