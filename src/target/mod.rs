//! Link targets: what differs between linking into this process, into an executor process, and
//! into a buffer at a fixed base. The pipeline ([`crate::link::link`]) is written once, generic
//! over the architecture and over a [`LinkTarget`]; a target only answers the questions whose
//! answers differ: where symbols outside the linked set are, where memory goes and what can
//! reach what, facts about the host, and what becomes of the finished bytes.
//!
//! The one runtime match on the architecture is [`dispatch`]: it turns an [`ArchKind`] into
//! the type parameter of the code below it.

pub(crate) mod executor;
pub(crate) mod fixed;
pub(crate) mod in_process;

use jitlink_arch::aarch64::AArch64;
use jitlink_arch::riscv64::RiscV64;
use jitlink_arch::x86_64::X86_64;
use jitlink_arch::TlsValues;

use crate::builder::elf::LoadedObject;
use crate::builder::{Bytes, HostAbi, ObjectArch};
use crate::debug::FunctionTable;
use crate::error::Result;
use crate::graph::{LinkGraph, SymbolId};
use crate::layout::{Layout, TlsLayout};
use crate::memory::Image;
use crate::passes::got_stubs::{HostInfo, Reachability};
use crate::runtime::tls::HostTls;
use crate::stubs::RawStub;

/// The architectures jitlink links for, whatever the object format says (ELF machine numbers,
/// Mach-O CPU types and COFF machines all map here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArchKind {
    /// x86-64.
    X86_64,
    /// AArch64 (arm64).
    AArch64,
    /// RISC-V 64-bit (RV64GC, LP64D).
    RiscV64,
}

impl ArchKind {
    /// The architecture of this process.
    #[cfg(target_arch = "x86_64")]
    pub const HOST: ArchKind = ArchKind::X86_64;
    /// The architecture of this process.
    #[cfg(target_arch = "aarch64")]
    pub const HOST: ArchKind = ArchKind::AArch64;

    /// Its usual name (`x86_64`, `aarch64`, `riscv64`).
    pub fn name(self) -> &'static str {
        match self {
            ArchKind::X86_64 => "x86_64",
            ArchKind::AArch64 => "aarch64",
            ArchKind::RiscV64 => "riscv64",
        }
    }

    /// The architecture of ELF machine `machine` (`e_machine`), if jitlink knows it.
    pub fn from_elf(machine: u16) -> Option<ArchKind> {
        match machine {
            object::elf::EM_X86_64 => Some(ArchKind::X86_64),
            object::elf::EM_AARCH64 => Some(ArchKind::AArch64),
            object::elf::EM_RISCV => Some(ArchKind::RiscV64),
            _ => None,
        }
    }

    /// Its GNU/Linux target triple (`aarch64-linux-gnu`): the directory of its system root
    /// under `/usr`.
    pub fn linux_triple(self) -> &'static str {
        match self {
            ArchKind::X86_64 => "x86_64-linux-gnu",
            ArchKind::AArch64 => "aarch64-linux-gnu",
            ArchKind::RiscV64 => "riscv64-linux-gnu",
        }
    }

    /// Its ELF machine number (for the executor protocol and TLS modules).
    pub fn elf_machine(self) -> u16 {
        match self {
            ArchKind::X86_64 => object::elf::EM_X86_64,
            ArchKind::AArch64 => object::elf::EM_AARCH64,
            ArchKind::RiscV64 => object::elf::EM_RISCV,
        }
    }
}

impl std::fmt::Display for ArchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An architecture the pipeline links for: one that objects of every format can target, and
/// that knows its [`ArchKind`].
pub(crate) trait LinkArch: ObjectArch {
    /// Which one it is.
    const KIND: ArchKind;
}

impl LinkArch for X86_64 {
    const KIND: ArchKind = ArchKind::X86_64;
}

impl LinkArch for AArch64 {
    const KIND: ArchKind = ArchKind::AArch64;
}

impl LinkArch for RiscV64 {
    const KIND: ArchKind = ArchKind::RiscV64;
}

/// Code generic over the architecture, run by [`dispatch`] (Rust has no generic closures).
pub(crate) trait ForArch {
    /// What it returns.
    type Output;
    /// Runs it for architecture `A`.
    fn run<A: LinkArch>(self) -> Self::Output;
}

/// The one runtime match on the architecture: runs `job` with `arch` as its type parameter.
pub(crate) fn dispatch<F: ForArch>(arch: ArchKind, job: F) -> F::Output {
    match arch {
        ArchKind::X86_64 => job.run::<X86_64>(),
        ArchKind::AArch64 => job.run::<AArch64>(),
        ArchKind::RiscV64 => job.run::<RiscV64>(),
    }
}

/// The architectures a target links for, as a type, so that the pipeline is compiled only for
/// those: every architecture ([`AnyArch`]), or the host's alone ([`HostOnly`]: the in-process
/// target, whose code runs here).
pub(crate) trait Archs {
    /// Runs `job` for `arch` (which the target has accepted).
    fn dispatch<F: ForArch>(arch: ArchKind, job: F) -> F::Output;
}

/// Every architecture: [`dispatch`].
pub(crate) struct AnyArch;

impl Archs for AnyArch {
    fn dispatch<F: ForArch>(arch: ArchKind, job: F) -> F::Output {
        dispatch(arch, job)
    }
}

/// The host's architecture only; no runtime match (the target refused the others).
pub(crate) struct HostOnly;

impl Archs for HostOnly {
    fn dispatch<F: ForArch>(arch: ArchKind, job: F) -> F::Output {
        debug_assert_eq!(arch, ArchKind::HOST);
        job.run::<crate::HostArch>()
    }
}

/// Where a name outside the linked set was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Its address.
    pub addr: u64,
    /// Its size (0 if unknown).
    pub size: u64,
    /// True if it is known to be a function.
    pub callable: bool,
}

/// Margin kept below a reference's range, for addends.
pub(crate) const REACH_MARGIN: u64 = 16 << 20;

/// The address range a linked set will occupy: a reference reaches a target when it does from
/// every byte of the range, with [`REACH_MARGIN`] kept for addends. Every target uses this one
/// predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Lowest address.
    pub lo: u64,
    /// One past the highest address.
    pub hi: u64,
}

impl Reachability for Span {
    fn pc_rel(&self, addr: u64) -> bool {
        self.within(addr, 1 << 31)
    }
    fn within(&self, addr: u64, range: u64) -> bool {
        let range = range.saturating_sub(REACH_MARGIN);
        addr.abs_diff(self.lo) < range && addr.abs_diff(self.hi) < range
    }
}

/// A fixed-up set, handed to [`LinkTarget::commit`].
pub(crate) struct Finished<'g, 'a, A: LinkArch> {
    /// The laid-out, fixed-up graph.
    pub graph: &'g LinkGraph<'a, A>,
    /// The ELF objects the graph was built from (for the debugger).
    pub objects: &'g [LoadedObject<'a>],
    /// Functions redirected through stubs: (body, stub).
    pub redirected: &'g [(SymbolId, RawStub)],
    /// Every input of the link with its bytes (pending objects, then archives).
    pub inputs: &'g [(&'g str, &'g Bytes)],
    /// The function table, if the target asked for it early ([`LinkTarget::function_table`]).
    pub table: Option<FunctionTable>,
    /// The thread-local values the set was fixed up with.
    pub tls: TlsValues,
}

/// What differs between linking into this process, into an executor, and into a buffer at a
/// fixed base. The pipeline calls these in order: [`LinkTarget::arch`], [`LinkTarget::resolve`],
/// [`LinkTarget::reserve`] (then the GOT/stub pass asks [`HostInfo`] and the reservation's
/// [`Span`]), [`LinkTarget::allocate`], [`LinkTarget::load_tls`], fixups into the memory,
/// [`LinkTarget::commit`] or [`LinkTarget::abandon`].
pub(crate) trait LinkTarget: HostInfo {
    /// The architectures it links for.
    type Archs: Archs;
    /// Memory reserved for a set before its layout is known.
    type Reservation;
    /// The set's bytes while fixups are written.
    type Memory: Image;
    /// What a committed set leaves behind.
    type Committed;

    /// The architecture to link for, given that of the first input (`None`: no object input,
    /// only archives). Refuses what the target cannot run or hold; `file` names the input.
    fn arch(&self, first: Option<ArchKind>, file: &str) -> Result<ArchKind>;
    /// The page size of the target.
    fn page_size(&self) -> usize;
    /// The address of the resolver for static TLS descriptors.
    fn tlsdesc_resolver(&self) -> u64;
    /// Where `names` are, which the linked set and the session do not define: one request for
    /// all of them (`None`: not found). `abi` is the calling convention of the graph's code.
    fn resolve(
        &mut self,
        names: &[&[u8]],
        abi: HostAbi,
        file: &str,
    ) -> Result<Vec<Option<Resolved>>>;
    /// Where the thread-local variables `names` of the target's libraries are (each with
    /// whether its offset from the thread pointer is needed), as the target's dynamic loader
    /// resolves them; `None` for a name it does not define. A target with no host answers
    /// `None` for all.
    fn resolve_thread_locals(&mut self, names: &[(&[u8], bool)]) -> Result<Vec<Option<HostTls>>> {
        Ok(vec![None; names.len()])
    }
    /// Reserves about `size` bytes (below 2 GiB when `low`).
    fn reserve(&mut self, size: usize, low: bool) -> Result<Self::Reservation>;
    /// The range a set in `r` will occupy, for reachability.
    fn span(&self, r: &Self::Reservation) -> Span;
    /// Gives back a reservation that no allocation took (the link failed before layout).
    fn unreserve(&mut self, r: Self::Reservation);
    /// Allocates the laid-out set in `r`; only the first `content_len` bytes hold content
    /// (zero-fill follows).
    fn allocate(
        &mut self,
        r: Self::Reservation,
        layout: &Layout,
        content_len: usize,
    ) -> Result<Self::Memory>;
    /// Loads the set's thread-local block (`init`: its initialized part, fixed up) and returns
    /// the values TLS fixups need.
    fn load_tls<A: LinkArch>(
        &mut self,
        init: &[u8],
        tls: &TlsLayout,
        static_tls: bool,
    ) -> Result<TlsValues>;
    /// Whether to build the set's function table next to fixups (a large in-process set).
    fn function_table<A: LinkArch>(
        &self,
        _g: &LinkGraph<'_, A>,
        _redirected: &[(SymbolId, RawStub)],
    ) -> Option<FunctionTable> {
        None
    }
    /// Hands the fixed-up memory over: protect it in this process, ship it to the executor,
    /// or keep it as an image. On failure the memory is released.
    fn commit<A: LinkArch>(
        &mut self,
        mem: Self::Memory,
        set: Finished<'_, '_, A>,
    ) -> Result<Self::Committed>;
    /// Releases memory of a link that failed.
    fn abandon(&mut self, mem: Self::Memory);
    /// Points the stub of a redirected function at its body, once the set is committed: one
    /// release-ordered store into its slot, where the stub lives.
    fn point_stub(&mut self, stub: &RawStub, body: u64) -> Result<()>;
}
