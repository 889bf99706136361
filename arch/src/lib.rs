//! Per-architecture code for jitlink: edge kinds, fixup application and code templates.
//!
//! Each architecture is a zero-sized type implementing [`Arch`]. Everything about an architecture
//! that the generic linker needs is an associated item, so dispatch is static and the driver holds
//! the one runtime `match` on the architecture. Adding an architecture means adding one file here.
//!
//! This crate knows nothing about object-file formats: raw relocation types are translated into
//! edge kinds by the format builders of the main crate.
//!
//! ```
//! use jitlink_arch::{x86_64::{EdgeKind, X86_64}, Arch, FixupValues};
//!
//! // call rel32 at 0x1000 to 0x2000: the displacement is relative to the next instruction.
//! let mut code = [0xe8, 0, 0, 0, 0];
//! let v = FixupValues {
//!     p: 0x1001, s: 0x2000, a: -4, got: 0, tls: Default::default(), image_base: 0, section: None,
//! };
//! X86_64::apply_fixup(EdgeKind::BranchPCRel32, &mut code, 1, v).unwrap();
//! assert_eq!(code, [0xe8, 0xfb, 0x0f, 0, 0]);
//!
//! // Out of range is an error, never a truncation.
//! let far = FixupValues { s: 0x1_0000_2000, ..v };
//! assert!(X86_64::apply_fixup(EdgeKind::BranchPCRel32, &mut code, 1, far).is_err());
//! ```

#![deny(missing_docs)]
#![no_std]

pub mod aarch64;
pub mod riscv64;
pub mod x86_64;

use core::fmt;

/// Why a fixup could not be applied. Context-free: the linker adds file, section and symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixupError {
    /// The computed value does not fit the field.
    OutOfRange {
        /// The value that was computed.
        value: i128,
        /// Smallest value the field can hold.
        min: i128,
        /// Largest value the field can hold.
        max: i128,
    },
    /// The place lies (partly) outside its block.
    PlaceOutOfBounds,
    /// A relaxation or rewrite found an instruction it does not expect.
    UnexpectedInstruction(&'static str),
    /// The computed value is not a multiple of the alignment the field requires.
    Misaligned {
        /// The value that was computed.
        value: i128,
        /// The alignment it needs.
        align: u32,
    },
    /// A section-relative kind whose target lies in no section of the graph (an absolute or
    /// external symbol).
    NoSection,
}

/// A signed value in hex with its sign (`-0x80`), rather than as two's complement.
struct SignedHex(i128);

impl fmt::Display for SignedHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{:#x}", self.0.unsigned_abs())
    }
}

impl fmt::Display for FixupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixupError::OutOfRange { value, min, max } => {
                let (v, lo, hi) = (SignedHex(*value), SignedHex(*min), SignedHex(*max));
                write!(f, "value {v} out of range [{lo}, {hi}]")
            }
            FixupError::PlaceOutOfBounds => write!(f, "fixup place lies outside its block"),
            FixupError::UnexpectedInstruction(what) => write!(f, "unexpected instruction: {what}"),
            FixupError::Misaligned { value, align } => {
                write!(f, "value {value:#x} is not a multiple of {align}")
            }
            FixupError::NoSection => {
                write!(
                    f,
                    "section-relative reference to a target outside every section"
                )
            }
        }
    }
}

/// The values a fixup is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixupValues {
    /// Address of the place being fixed up (the first byte of the field).
    pub p: u64,
    /// Address of the target symbol, or its size for size kinds (see [`Arch::uses_target_size`]).
    pub s: u64,
    /// The addend.
    pub a: i64,
    /// Address of the graph's global offset table (`_GLOBAL_OFFSET_TABLE_`), 0 if it has none.
    pub got: u64,
    /// The graph's thread-local storage: module id and the offset of its block from the thread
    /// pointer (for static TLS). Zero when the graph has no TLS.
    pub tls: TlsValues,
    /// The lowest address of the linked set (COFF's `__ImageBase`), which image-relative kinds
    /// are relative to.
    pub image_base: u64,
    /// Start address of the section the target lies in (its input section: the block the
    /// target is defined in), which section-relative kinds are relative to; `None` for a target
    /// outside the graph.
    pub section: Option<u64>,
}

/// Where a graph's thread-local block lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsValues {
    /// The C library's module id for the block (what `__tls_get_addr` takes).
    pub module: u64,
    /// Offset of the block from the thread pointer (negative on x86-64), for static TLS.
    pub tp_offset: i64,
}

/// How far a reference can reach, which decides whether the GOT/stub pass must route it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any 64-bit address.
    Any,
    /// A signed 32-bit displacement from the place.
    PcRel32,
    /// A 32-bit (or smaller) absolute address: the graph must live in the low 2 GiB.
    Abs32,
    /// An unsigned 32-bit offset from the graph's lowest address (its image base): anything in
    /// the graph. An address outside it is reached through something in the graph (a stub for
    /// a function, a copy of read-only data).
    ImageRel32,
}

/// What the GOT/stub pass does with an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRole<K> {
    /// A plain reference; `reach` says how far it reaches.
    Data(Reach),
    /// A branch to the target: if the target is out of reach, it goes through a stub.
    Branch,
    /// A request for a GOT entry. Becomes `to_entry` pointing at the entry, unless the target is in
    /// reach and [`Arch::relax_got_load`] finds a direct form.
    GotRequest {
        /// The kind that references the GOT entry.
        to_entry: K,
    },
    /// A request for thread-local GOT entries of the given shape; becomes `to_entry` to them.
    TlsRequest {
        /// The entries the target needs.
        entry: TlsEntry,
        /// The kind that references them.
        to_entry: K,
    },
}

/// Shapes of thread-local GOT entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsEntry {
    /// `(module, offset of the target in the block)`, for `__tls_get_addr` (general dynamic).
    ModuleAndOffset,
    /// `(module, 0)`, for `__tls_get_addr` of the block's start (local dynamic).
    Module,
    /// The target's offset from the thread pointer (initial exec).
    TpOffset,
    /// A TLS descriptor `(resolver, argument)` returning the target's offset from the thread
    /// pointer.
    Descriptor,
}

/// A code template with one patched reference, such as a jump stub.
#[derive(Debug, Clone, Copy)]
pub struct StubTemplate<K: 'static> {
    /// The bytes, with the patched field zeroed.
    pub bytes: &'static [u8],
    /// Offset of the field that references the stub's pointer slot.
    pub slot_offset: usize,
    /// Edge kind of that field.
    pub slot_kind: K,
    /// Addend of that field.
    pub slot_addend: i64,
    /// Required alignment of the template.
    pub align: u64,
}

/// Which data word a trampoline field refers to (see [`TrampolineTemplate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrampolineSlot {
    /// The pointer to the runtime's re-entry resolver (one per trampoline batch, read-only).
    Resolver,
    /// The trampoline's 8-byte call counter (writable, one per trampoline).
    Counter,
    /// The trampoline's 8-byte destination pointer (writable, one per trampoline).
    Target,
    /// Not a word but a constant: the offset from the thread pointer of the runtime's
    /// thread-local pointer to the calling thread's counter array (the same in every thread).
    ThreadCounters,
    /// Not a word but a constant: the byte offset of the trampoline's counter in every
    /// thread's counter array.
    ThreadCounterSlot,
}

/// One field of a trampoline that references a data word.
#[derive(Debug, Clone, Copy)]
pub struct TrampolineField<K: 'static> {
    /// Offset of the field in the template.
    pub offset: usize,
    /// Edge kind that computes it.
    pub kind: K,
    /// Addend of that edge.
    pub addend: i64,
    /// The data word it references.
    pub slot: TrampolineSlot,
}

/// A trampoline template: code that carries a 32-bit identity and enters the runtime's
/// re-entry resolver (lazy materialization, or a counter crossing its threshold).
#[derive(Debug, Clone, Copy)]
pub struct TrampolineTemplate<K: 'static> {
    /// The bytes, with the identity and the fields zeroed. Its length is the trampoline stride.
    pub bytes: &'static [u8],
    /// Offset of the little-endian 32-bit identity the resolver receives.
    pub id_offset: usize,
    /// Fields referencing data words.
    pub fields: &'static [TrampolineField<K>],
    /// Offset of the path that enters the resolver (pushes the identity and jumps): pointing a
    /// counting trampoline's target slot there makes its next call enter the runtime.
    pub enter_offset: usize,
}

/// One target architecture.
pub trait Arch: 'static + Sized {
    /// This architecture's edge kinds.
    type EdgeKind: Copy + Eq + fmt::Debug + Send + Sync + 'static;
    /// Name used in messages and graph dumps.
    const NAME: &'static str;
    /// Pointer size in bytes.
    const POINTER_SIZE: u64;
    /// Edge kind of a pointer-sized absolute pointer (a GOT entry's content).
    const POINTER_KIND: Self::EdgeKind;
    /// Pointer-sized `module id` of the graph's TLS block.
    const TLS_MODULE_KIND: Self::EdgeKind;
    /// Pointer-sized offset of the target in its TLS block.
    const TLS_OFFSET_KIND: Self::EdgeKind;
    /// Pointer-sized offset of the target from the thread pointer.
    const TP_OFFSET_KIND: Self::EdgeKind;
    /// Jump stub that transfers control through a pointer slot.
    const JUMP_STUB: StubTemplate<Self::EdgeKind>;
    /// How far a direct branch ([`EdgeRole::Branch`]) reaches either way, in bytes.
    const BRANCH_RANGE: u64 = 1 << 31;
    /// Lazy re-entry trampoline: pushes its identity and jumps to the resolver, which expects
    /// the identity on the stack above the caller's return address. `None` where the runtime
    /// has no resolver for the architecture yet.
    const REENTRY_TRAMPOLINE: Option<TrampolineTemplate<Self::EdgeKind>> = None;
    /// Counting trampoline: atomically increments its counter (which starts at `-threshold`);
    /// the one call that brings it to zero enters the resolver like [`Arch::REENTRY_TRAMPOLINE`],
    /// every other call jumps through its target slot. Clobbers no argument register.
    const COUNTING_TRAMPOLINE: Option<TrampolineTemplate<Self::EdgeKind>> = None;
    /// [`Arch::COUNTING_TRAMPOLINE`] with a plain (not atomic) increment: cheaper, but calls
    /// made at the same moment on several threads may be counted once, and more than one of
    /// them may see the counter reach zero (the runtime keeps only the first).
    const COUNTING_TRAMPOLINE_RELAXED: Option<TrampolineTemplate<Self::EdgeKind>> = None;
    /// Counting trampoline with per-thread counters: loads the calling thread's counter array
    /// from a thread-local pointer ([`TrampolineSlot::ThreadCounters`]) and decrements the
    /// trampoline's slot in it ([`TrampolineSlot::ThreadCounterSlot`]) with a plain, unlocked
    /// instruction (one writer per slot, so the count is exact). A thread with no array yet, or
    /// whose slot falls to zero or below, enters the resolver; every other call jumps through the
    /// target slot. The slot holds the calls the runtime still allows this thread (its budget).
    /// Clobbers no argument register.
    const COUNTING_TRAMPOLINE_PER_THREAD: Option<TrampolineTemplate<Self::EdgeKind>> = None;

    /// Applies `kind` at `offset` of `block` (the block's final bytes in writable memory).
    fn apply_fixup(
        kind: Self::EdgeKind,
        block: &mut [u8],
        offset: usize,
        v: FixupValues,
    ) -> Result<(), FixupError>;

    /// What the GOT/stub pass does with edges of this kind.
    fn role(kind: Self::EdgeKind) -> EdgeRole<Self::EdgeKind>;

    /// For a GOT request whose target is in reach: the direct kind if the instruction at
    /// `offset` of `content` can be rewritten to address the target directly.
    fn relax_got_load(
        kind: Self::EdgeKind,
        content: &[u8],
        offset: usize,
    ) -> Option<Self::EdgeKind>;

    /// For a GOT request that is one half of a two-instruction GOT load (AArch64 `adrp` +
    /// `ldr`): where the other half's edge lies, relative to this one's offset, and its kind.
    /// The GOT pass relaxes a half only when the other half is there, to the same target with
    /// no addend, so that both instructions change together.
    fn got_load_partner(_kind: Self::EdgeKind) -> Option<(i64, Self::EdgeKind)> {
        None
    }

    /// The kind to use for a branch that now targets a stub or a reachable target directly.
    fn direct_branch(kind: Self::EdgeKind) -> Self::EdgeKind;

    /// True for kinds whose `S` is the target's size rather than its address.
    fn uses_target_size(kind: Self::EdgeKind) -> bool;

    /// True for kinds computed from the GOT's address (the graph must define one).
    fn uses_got_base(kind: Self::EdgeKind) -> bool;

    /// True for kinds computed from the thread pointer (they need static TLS).
    fn is_tp_relative(kind: Self::EdgeKind) -> bool;

    /// For an edge at `offset` of `content`: how many bytes past the field's start the place the
    /// instruction addresses lies beyond `S + A` — that is, the offset `o` such that the
    /// instruction refers to `S + A + o`. PC-relative references carry the distance from the
    /// field to the end of their instruction in their addend, which depends on the immediate
    /// that follows the field. Every value returned is possible; the default says "anything from
    /// the architecture's usual set".
    fn reference_biases(kind: Self::EdgeKind, content: &[u8], offset: usize) -> Biases {
        let _ = (kind, content, offset);
        Biases::of(&[0])
    }

    /// Flushes the instruction cache for freshly written code (a no-op where caches are coherent).
    fn flush_icache(_start: *const u8, _len: usize) {}
}

/// A small set of candidate offsets (see [`Arch::reference_biases`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Biases {
    values: [i64; 4],
    len: usize,
}

impl Biases {
    /// The set of `values` (at most four; duplicates removed).
    pub fn of(values: &[i64]) -> Biases {
        let mut b = Biases {
            values: [0; 4],
            len: 0,
        };
        for &v in values {
            if b.len < 4 && !b.as_slice().contains(&v) {
                b.values[b.len] = v;
                b.len += 1;
            }
        }
        b
    }

    /// The values.
    pub fn as_slice(&self) -> &[i64] {
        &self.values[..self.len]
    }
}

/// Checks that `value` lies in `[min, max]`.
#[inline]
pub fn check_range(value: i128, min: i128, max: i128) -> Result<(), FixupError> {
    if value < min || value > max {
        Err(FixupError::OutOfRange { value, min, max })
    } else {
        Ok(())
    }
}

/// `S + A - ImageBase`: the offset of `S + A` from the graph's lowest address.
#[inline]
pub fn image_relative(v: FixupValues) -> i128 {
    v.s as i128 + v.a as i128 - v.image_base as i128
}

/// `S + A - Section(S)`: the offset of `S + A` from the start of the target's section; an error
/// for a target outside every section.
#[inline]
pub fn section_relative(v: FixupValues) -> Result<i128, FixupError> {
    let start = v.section.ok_or(FixupError::NoSection)?;
    Ok(v.s as i128 + v.a as i128 - start as i128)
}

/// Writes `value` as a little-endian `uint32` at `offset` of `block`, failing if it is out of
/// range or the field does not fit inside the block.
#[inline]
pub fn write_u32(block: &mut [u8], offset: usize, value: i128) -> Result<(), FixupError> {
    check_range(value, 0, u32::MAX as i128)?;
    write_field(block, offset, &(value as u32).to_le_bytes())
}

/// Writes `bytes` at `offset` of `block`, failing if the field does not fit inside the block.
#[inline]
pub fn write_field(block: &mut [u8], offset: usize, bytes: &[u8]) -> Result<(), FixupError> {
    let end = offset
        .checked_add(bytes.len())
        .ok_or(FixupError::PlaceOutOfBounds)?;
    let place = block
        .get_mut(offset..end)
        .ok_or(FixupError::PlaceOutOfBounds)?;
    place.copy_from_slice(bytes);
    Ok(())
}

/// Reads the byte at `offset` of `block`.
#[inline]
pub fn byte_at(block: &[u8], offset: usize) -> Result<u8, FixupError> {
    block
        .get(offset)
        .copied()
        .ok_or(FixupError::PlaceOutOfBounds)
}

/// Test tables shared by the architectures.
#[cfg(test)]
pub(crate) mod shared_tests {
    use super::*;

    /// `(kind, P, S, A, ImageBase, Section(S), the field written or the error)`.
    type BaseCase<K> = (K, u64, u64, i64, u64, Option<u64>, Result<u32, FixupError>);

    /// The table of `image_relative` and `section_relative` cases that every architecture
    /// shares (their formulas do not depend on the instruction set), checked for `A`.
    pub(crate) fn image_and_section_relative_table<A: Arch>(
        image_relative: A::EdgeKind,
        section_relative: A::EdgeKind,
    ) {
        let range = |value: i128| {
            Err(FixupError::OutOfRange {
                value,
                min: 0,
                max: u32::MAX as i128,
            })
        };
        let base = 0x7f00_0000_0000;
        let sec = Some(0x7f00_0000_5000);
        let s0 = 0x7f00_0000_5000;
        let cases: &[BaseCase<A::EdgeKind>] = &[
            // The target's offset from the image base (an RVA); P does not matter.
            (
                image_relative,
                base + 0x100,
                base + 0x10,
                0,
                base,
                None,
                Ok(0x10),
            ),
            (image_relative, 0, base + 0x10, 4, base, sec, Ok(0x14)),
            // The edges of uint32: 0 and 2^32 - 1 fit, one beyond either does not.
            (image_relative, 0, base, 0, base, None, Ok(0)),
            (image_relative, 0, base, -1, base, None, range(-1)),
            (
                image_relative,
                0,
                base + 0xffff_ffff,
                0,
                base,
                None,
                Ok(0xffff_ffff),
            ),
            (
                image_relative,
                0,
                base + 0xffff_fffe,
                2,
                base,
                None,
                range(1 << 32),
            ),
            // A target below the image base (a host address out of the set) is an error.
            (
                image_relative,
                0,
                0x1000,
                0,
                base,
                None,
                range(0x1000 - base as i128),
            ),
            // At a fixed base, the field holds the offset, not the address.
            (
                image_relative,
                0,
                0x4000_0010,
                0,
                0x4000_0000,
                None,
                Ok(0x10),
            ),
            // The target's offset in its section; P and the image base do not matter.
            (section_relative, 0x10, s0 + 0x10, 4, base, sec, Ok(0x14)),
            (section_relative, 0, s0, 0, 0, sec, Ok(0)),
            (section_relative, 0, s0, -1, 0, sec, range(-1)),
            (
                section_relative,
                0,
                s0 + 0xffff_ffff,
                0,
                0,
                sec,
                Ok(0xffff_ffff),
            ),
            (
                section_relative,
                0,
                s0 + 0xffff_ffff,
                1,
                0,
                sec,
                range(1 << 32),
            ),
            // A target outside every section (absolute or external) has no section offset.
            (
                section_relative,
                0,
                s0,
                0,
                0,
                None,
                Err(FixupError::NoSection),
            ),
        ];
        for &(kind, p, s, a, image_base, section, want) in cases {
            let before = [0xaa; 6];
            let mut b = before;
            let v = FixupValues {
                p,
                s,
                a,
                got: 0,
                tls: Default::default(),
                image_base,
                section,
            };
            let got = A::apply_fixup(kind, &mut b, 1, v);
            match want {
                Ok(x) => {
                    assert_eq!(got, Ok(()), "{kind:?} P={p:#x} S={s:#x} A={a} ImageBase={image_base:#x} Section={section:x?}");
                    let mut after = before;
                    after[1..5].copy_from_slice(&x.to_le_bytes());
                    assert_eq!(b, after, "{kind:?} P={p:#x} S={s:#x} A={a} ImageBase={image_base:#x} Section={section:x?}");
                }
                Err(e) => {
                    assert_eq!(got, Err(e), "{kind:?} P={p:#x} S={s:#x} A={a} ImageBase={image_base:#x} Section={section:x?}");
                    assert_eq!(b, before, "{kind:?} P={p:#x} S={s:#x} A={a} ImageBase={image_base:#x} Section={section:x?}: nothing is written on an error");
                }
            }
        }
        // A field that does not fit in its block.
        let v = FixupValues {
            p: 0,
            s: base,
            a: 0,
            got: 0,
            tls: Default::default(),
            image_base: base,
            section: sec,
        };
        for kind in [image_relative, section_relative] {
            let mut b = [0u8; 4];
            let got = A::apply_fixup(kind, &mut b, 1, FixupValues { s: s0, ..v });
            assert_eq!(got, Err(FixupError::PlaceOutOfBounds), "{kind:?}");
        }
        // Image-relative references reach only the graph: the GOT/stub pass routes the rest;
        // section-relative ones are not routed (a stub lies in no section of the target).
        assert_eq!(A::role(image_relative), EdgeRole::Data(Reach::ImageRel32));
        assert_eq!(A::role(section_relative), EdgeRole::Data(Reach::Any));
    }
}
