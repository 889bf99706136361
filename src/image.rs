//! Fixed-base linking: the pipeline of [`crate::Session`] (`crate::link`) run with the
//! fixed-base target, at an address the caller chooses, into an ordinary buffer instead of
//! reserved process memory. Nothing is mapped, protected or run, and nothing comes from the host
//! process: unresolved symbols resolve only from the given absolute symbols, so the result is a
//! deterministic function of the inputs. `jitlink --base` and `--check`, the differential tests
//! and the fuzz targets use it.

use std::collections::BTreeMap;

use jitlink_arch::TlsValues;

use crate::builder::{self, BuildState, Bytes};
use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::link::{self, Context, LinkInputs, Plan};
use crate::options::Timings;
use crate::symbols::SymbolTable;
use crate::target::fixed::FixedBase;
use crate::target::ArchKind;

/// Page size of fixed-base layouts (segments start on 4 KiB boundaries, as on the host).
pub const PAGE: usize = 4096;

/// A block of the linked image: which input section it came from and where it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedBlock {
    /// The input file (`<linker>` for synthesized blocks such as the GOT and stubs).
    pub file: String,
    /// The section name (`$__GOT`, `$__STUBS` for synthesized tables).
    pub section: String,
    /// Its address (an offset in the thread-local block for thread-local sections).
    pub addr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// True for thread-local blocks.
    pub thread_local: bool,
}

/// The result of [`link_at_base`].
#[derive(Debug, Clone)]
pub struct LinkedImage {
    /// Address of the first byte of [`LinkedImage::bytes`].
    pub base: u64,
    /// The linked bytes from `base` to the end of the last block with content (zero-fill
    /// after it is not stored; [`LinkedImage::read`] returns `None` there).
    pub bytes: Vec<u8>,
    /// Every laid-out block, in graph order.
    pub blocks: Vec<PlacedBlock>,
    /// Addresses of named symbols defined in the image (the first definition of a local name
    /// wins; globals take precedence over locals).
    pub symbols: BTreeMap<String, u64>,
    /// Address of the GOT entry (the first one for thread-local entries) of each target.
    pub got: BTreeMap<String, u64>,
    /// Address of the jump stub of each target.
    pub stubs: BTreeMap<String, u64>,
    /// The thread-pointer offset the image was linked with (static TLS: the block ends at the
    /// thread pointer, as in an executable's variant II layout on x86-64; after the thread
    /// control block, variant I, on AArch64).
    pub tls: TlsValues,
    /// The architecture the image is for.
    pub arch: ArchKind,
}

impl LinkedImage {
    /// The bytes at `[addr, addr + len)`, if they lie in the image.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The bytes at `[addr, addr + len)` (as [`LinkedImage::read`]).
    pub fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.read(addr, len)
    }

    /// The little-endian 32-bit word at `addr`.
    pub fn u32_at(&self, addr: u64) -> Option<u32> {
        Some(u32::from_le_bytes(self.read(addr, 4)?.try_into().ok()?))
    }

    /// The little-endian 64-bit word at `addr`.
    pub fn u64_at(&self, addr: u64) -> Option<u64> {
        Some(u64::from_le_bytes(self.read(addr, 8)?.try_into().ok()?))
    }

    /// The address of symbol `name` defined in the image.
    pub fn symbol(&self, name: &str) -> Result<u64> {
        self.symbols
            .get(name)
            .copied()
            .ok_or_else(|| Error::SymbolNotFound(name.to_string()))
    }

    /// The address of the first block of section `section` from the input whose path or file
    /// name is `file`.
    pub fn section_addr(&self, file: &str, section: &str) -> Option<u64> {
        self.blocks
            .iter()
            .find(|b| b.section == section && same_file(&b.file, file))
            .map(|b| b.addr)
    }
}

/// True if `path` names `file`: equal, or equal after the last `/`.
fn same_file(path: &str, file: &str) -> bool {
    path == file || path.rsplit('/').next() == Some(file)
}

/// The bytes of a set being linked for another address space (an executor's, or a fixed
/// base): a zeroed buffer whose first byte is at `base`, written here.
#[derive(Debug, Clone)]
pub(crate) struct ImageBuffer {
    /// Address of the first byte in the target.
    pub base: u64,
    /// The content.
    pub bytes: Vec<u8>,
}

impl crate::memory::Image for ImageBuffer {
    fn base(&self) -> u64 {
        self.base
    }
    fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.bytes.get_mut(start..start.checked_add(len)?)
    }
}

/// Sizes of a graph built by [`build_graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GraphCounts {
    /// Sections.
    pub sections: usize,
    /// Blocks.
    pub blocks: usize,
    /// Symbols.
    pub symbols: usize,
    /// Edges.
    pub edges: usize,
}

/// Builds the graph of one input (an object, or every member of an archive) without linking
/// it: the pipeline's build stage alone, as the `build_graph` fuzz target exercises it.
pub fn build_graph(name: &str, data: &[u8]) -> Result<GraphCounts> {
    let mut inputs = Inputs::default();
    inputs.add(name.to_string(), Bytes::Owned(data.to_vec()))?;
    let (arch, _) = inputs.first_arch()?;
    crate::target::dispatch(arch.unwrap_or(ArchKind::X86_64), Build(&inputs))
}

struct Build<'i>(&'i Inputs);

impl crate::target::ForArch for Build<'_> {
    type Output = Result<GraphCounts>;
    fn run<A: crate::target::LinkArch>(self) -> Result<GraphCounts> {
        let mut g = crate::graph::LinkGraph::<A>::new("build");
        let mut st = BuildState::default();
        for (name, bytes) in &self.0.pending {
            builder::add_object(&mut g, &mut st, name, bytes)?;
        }
        for a in &self.0.archives {
            for (m, member) in a.index.members.iter().enumerate() {
                let data = a.index.member_bytes(&a.bytes, m);
                builder::add_object(&mut g, &mut st, &member.name, data)?;
            }
        }
        Ok(GraphCounts {
            sections: g.sections.len(),
            blocks: g.blocks.len(),
            symbols: g.symbols.len(),
            edges: g.blocks.iter().map(|b| b.edges.len()).sum(),
        })
    }
}

/// Links `inputs` (`(name, bytes)`: relocatable objects of any supported format, or archives
/// whose members are loaded when they define an undefined symbol) at `base`, resolving
/// undefined symbols from `absolutes` only. `base` must be page-aligned. This is the pipeline
/// that runs programs in process (`crate::link`), with the fixed-base target.
pub fn link_at_base(
    inputs: &[(String, Vec<u8>)],
    base: u64,
    absolutes: &[(String, u64)],
) -> Result<LinkedImage> {
    if !base.is_multiple_of(PAGE as u64) {
        return Err(Error::BadBase {
            base,
            why: format!("not a multiple of the page size ({PAGE:#x})"),
        });
    }
    let mut all = Inputs::default();
    for (name, bytes) in inputs {
        all.add(name.clone(), Bytes::Owned(bytes.clone()))?;
    }
    let mut symbols = SymbolTable::default();
    let mut timings = Timings::default();
    let linked = link::link(
        LinkInputs {
            pending: &all.pending,
            archives: &all.archives,
            loaded: &mut all.loaded,
        },
        Context {
            symbols: &mut symbols,
            absolutes,
            timings: &mut timings,
            show_graph: false,
        },
        &mut FixedBase::new(base),
        Plan::plain(0, None),
    )?;
    linked.map(|l| l.committed).ok_or(Error::NothingToLink)
}
