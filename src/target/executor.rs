//! The executor target: the set's memory is reserved in an executor process (which may be of
//! another architecture, under qemu-user) below its C library, symbols outside the set are
//! looked up there in one request, and committing ships the fixed-up segments and applies
//! their protections there. A set's thread-local storage becomes a module of the executor's
//! dynamic loader, as in process.

use std::cell::RefCell;

use jitlink_arch::TlsValues;

use crate::builder::HostAbi;
use crate::error::{Error, Result};
use crate::executor::{Executor, TargetInfo};
use crate::graph::Perm;
use crate::image::ImageBuffer;
use crate::layout::{Layout, TlsLayout};
use crate::memory::Image;
use crate::passes::got_stubs::{HostInfo, HostSymbol};
use crate::runtime::tls::{
    build_module, host_tls_answers, host_tls_error, host_tls_module, HostTls, TlsTarget,
};
use crate::target::{AnyArch, ArchKind, Finished, LinkArch, LinkTarget, Resolved, Span};

/// How far below the target's C library the linker asks for memory.
const BELOW_LIBC: u64 = 256 << 20;

/// Links into an executor process.
pub(crate) struct ExecutorTarget<'e> {
    ex: RefCell<&'e mut Executor>,
    info: TargetInfo,
    arch: ArchKind,
}

/// Memory reserved in the executor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote {
    /// Its address there.
    pub base: u64,
    /// Its size.
    pub size: u64,
}

/// A set being written here for the executor.
pub(crate) struct RemoteMemory {
    buf: ImageBuffer,
    at: Remote,
    segments: Vec<(usize, usize, Perm)>,
}

impl Image for RemoteMemory {
    fn base(&self) -> u64 {
        self.buf.base
    }
    fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        self.buf.bytes_mut(addr, len)
    }
}

impl<'e> ExecutorTarget<'e> {
    /// A target linking into `ex`.
    pub fn new(ex: &'e mut Executor) -> Result<Self> {
        let info = ex.info();
        let arch = info.arch;
        if !info.page_size.is_power_of_two() || usize::try_from(info.page_size).is_err() {
            return Err(Error::Protocol {
                what: format!("executor page size {:#x}", info.page_size),
            });
        }
        Ok(ExecutorTarget {
            ex: RefCell::new(ex),
            info,
            arch,
        })
    }

    fn ex(&mut self) -> &mut Executor {
        self.ex.get_mut()
    }
}

/// The executor's symbols, described and read through the executor (for stubs and copies of
/// out-of-reach host data, as in process).
impl HostInfo for ExecutorTarget<'_> {
    fn describe(&self, addr: u64) -> Option<HostSymbol> {
        self.ex.borrow_mut().describe(addr).ok().flatten()
    }
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let bytes = self.ex.borrow_mut().read(addr, len as u64).ok()?;
        (bytes.len() == len).then_some(bytes)
    }
}

impl LinkTarget for ExecutorTarget<'_> {
    type Archs = AnyArch;
    type Reservation = Remote;
    type Memory = RemoteMemory;
    type Committed = Remote;

    fn arch(&self, first: Option<ArchKind>, file: &str) -> Result<ArchKind> {
        match first {
            Some(a) if a != self.arch => Err(Error::Unsupported {
                file: file.to_string(),
                what: format!("{a} code for an executor that runs {} code", self.arch),
            }),
            _ => Ok(self.arch),
        }
    }

    fn page_size(&self) -> usize {
        self.info.page_size as usize
    }

    fn tlsdesc_resolver(&self) -> u64 {
        self.info.tlsdesc_resolver
    }

    fn resolve(
        &mut self,
        names: &[&[u8]],
        abi: HostAbi,
        file: &str,
    ) -> Result<Vec<Option<Resolved>>> {
        if abi != HostAbi::Native {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: "COFF (Windows x64) objects in an executor process".into(),
            });
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.ex().lookup(names)?;
        Ok(found
            .into_iter()
            .map(|addr| {
                (addr != 0).then_some(Resolved {
                    addr,
                    size: 0,
                    callable: false,
                })
            })
            .collect())
    }

    fn resolve_thread_locals(&mut self, names: &[(&[u8], bool)]) -> Result<Vec<Option<HostTls>>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let (bytes, words_at) = host_tls_module(TlsTarget::for_arch(self.arch), names);
        let words = self
            .ex()
            .load_module_words(&bytes, words_at, 3 * names.len())
            .map_err(|e| match e {
                Error::Executor { source, .. } => host_tls_error(names, &source.to_string()),
                e => e,
            })?;
        let mut answers = host_tls_answers(names, &words);
        if self.arch == ArchKind::RiscV64 {
            // RISC-V's loader writes DTPREL64 biased by -0x800 (what `__tls_get_addr` takes);
            // the answer is the plain offset in the block.
            for a in answers.iter_mut().flatten() {
                a.offset = a.offset.wrapping_add(0x800);
            }
        }
        Ok(answers)
    }

    fn reserve(&mut self, size: usize, low: bool) -> Result<Remote> {
        let page = self.info.page_size;
        let size = (size as u64).next_multiple_of(page);
        let hint = self
            .info
            .libc_anchor
            .saturating_sub(size.saturating_add(BELOW_LIBC))
            & !(page - 1);
        let base = self.ex().reserve(size, hint, low)?;
        Ok(Remote { base, size })
    }

    fn span(&self, r: &Remote) -> Span {
        Span {
            lo: r.base,
            hi: r.base.saturating_add(r.size),
        }
    }

    fn unreserve(&mut self, r: Remote) {
        // The link has failed already; a failure to release is the lesser error.
        let _ = self.ex().release(r.base, r.size);
    }

    fn allocate(&mut self, r: Remote, lay: &Layout, _content_len: usize) -> Result<RemoteMemory> {
        if lay.len as u64 > r.size || !r.base.is_multiple_of(lay.align as u64) {
            self.unreserve(r);
            return Err(Error::Protocol {
                what: format!(
                    "linked set needs {:#x} bytes aligned to {:#x}; the executor gave {:#x} at {:#x}",
                    lay.len, lay.align, r.size, r.base
                ),
            });
        }
        Ok(RemoteMemory {
            buf: ImageBuffer {
                base: r.base,
                bytes: vec![0; lay.len],
            },
            at: r,
            segments: lay.segments.clone(),
        })
    }

    fn load_tls<A: LinkArch>(
        &mut self,
        init: &[u8],
        tl: &TlsLayout,
        static_tls: bool,
    ) -> Result<TlsValues> {
        let target = TlsTarget::for_arch(A::KIND);
        let module = build_module(target, init, tl.len, tl.align, static_tls);
        self.ex().load_tls(&module, static_tls, tl.len)
    }

    fn commit<A: LinkArch>(
        &mut self,
        mem: RemoteMemory,
        _set: Finished<'_, '_, A>,
    ) -> Result<Remote> {
        let base = mem.at.base;
        let ex = self.ex();
        let shipped = mem.segments.iter().try_for_each(|&(off, len, perm)| {
            let bytes = mem.buf.bytes.get(off..off + len).unwrap_or_default();
            ex.write(base + off as u64, bytes)?;
            ex.protect(base + off as u64, len as u64, perm)
        });
        match shipped {
            Ok(()) => Ok(mem.at),
            Err(e) => {
                self.abandon(mem);
                Err(e)
            }
        }
    }

    fn abandon(&mut self, mem: RemoteMemory) {
        self.unreserve(mem.at);
    }

    fn point_stub(&mut self, stub: &crate::stubs::RawStub, body: u64) -> Result<()> {
        self.ex().write_u64(stub.slot, body)
    }
}
