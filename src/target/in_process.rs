//! The in-process target: the set's memory is carved from the session's reservation near the
//! host's code (or below 2 GiB), symbols outside the set come from the host process (its
//! loaded libraries and jitlink's runtime functions; Windows x64 code only through thunks), and
//! committing registers the set with the debugger and profilers, then applies the final
//! protections.

use std::sync::{Mutex, MutexGuard};

use jitlink_arch::TlsValues;

use crate::builder::{Bytes, HostAbi};
use crate::debug::{gdb::FileBacked, FunctionTable, SetDebug};
use crate::error::Result;
use crate::graph::{LinkGraph, SymbolId};
use crate::layout::{Layout, TlsLayout};
use crate::memory::{ChunkId, Finalized, InFlight, MemoryManager, Placement};
use crate::options::Options;
use crate::passes::got_stubs::{HostInfo, HostSymbol};
use crate::runtime::host::HostSymbols;
use crate::runtime::tls::HostTls;
use crate::runtime::{init, tls, win64};
use crate::stubs::RawStub;
use crate::target::{ArchKind, Finished, HostOnly, LinkArch, LinkTarget, Resolved, Span};

/// Links into this process.
pub(crate) struct InProcess<'s> {
    /// The session's memory, locked from [`LinkTarget::reserve`] until the set is committed or
    /// abandoned (other users, such as stub pools, wait meanwhile).
    mem: &'s Mutex<MemoryManager>,
    locked: Option<MutexGuard<'s, MemoryManager>>,
    host: &'s mut HostSymbols,
    opts: &'s Options,
}

/// A set committed in process.
pub(crate) struct InProcessSet {
    /// Its memory, with final protections.
    pub memory: Finalized,
    /// Its function table and debugger registration.
    pub debug: SetDebug,
}

/// Locks `m`; memory-manager updates are single assignments, so a poisoned lock is still
/// consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'s> InProcess<'s> {
    /// A target linking into this process with the session's memory, host symbols and options.
    pub fn new(
        mem: &'s Mutex<MemoryManager>,
        host: &'s mut HostSymbols,
        opts: &'s Options,
    ) -> Self {
        InProcess {
            mem,
            locked: None,
            host,
            opts,
        }
    }

    fn mem(&mut self) -> &mut MemoryManager {
        self.locked.get_or_insert_with(|| lock(self.mem))
    }

    fn unlock(&mut self) {
        self.locked = None;
    }
}

impl HostInfo for InProcess<'_> {
    fn describe(&self, addr: u64) -> Option<HostSymbol> {
        HostSymbols::describe(addr)
    }
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        HostSymbols::describe(addr).filter(|h| h.size >= len as u64)?;
        // SAFETY: `addr` is a data object of at least `len` bytes in the dynamic symbol table
        // of a library loaded in this process (dladdr1 reported it), so the bytes are mapped
        // and readable.
        Some(unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec())
    }
}

impl LinkTarget for InProcess<'_> {
    type Archs = HostOnly;
    type Reservation = ChunkId;
    type Memory = InFlight;
    type Committed = InProcessSet;

    fn arch(&self, first: Option<ArchKind>, file: &str) -> Result<ArchKind> {
        match first {
            None => Ok(ArchKind::HOST),
            Some(a) if a == ArchKind::HOST => Ok(a),
            Some(a) => Err(crate::Error::Unsupported {
                file: file.to_string(),
                what: format!("{a} code cannot run on this {} host", ArchKind::HOST),
            }),
        }
    }

    fn page_size(&self) -> usize {
        region::page::size()
    }

    fn tlsdesc_resolver(&self) -> u64 {
        tls::tlsdesc_resolver()
    }

    fn resolve(
        &mut self,
        names: &[&[u8]],
        abi: HostAbi,
        _file: &str,
    ) -> Result<Vec<Option<Resolved>>> {
        let found = |addr, callable| Resolved {
            addr,
            size: 0,
            callable,
        };
        Ok(names
            .iter()
            .map(|&name| {
                if abi == HostAbi::Win64 {
                    // Windows x64 code reaches the host only through thunks.
                    win64::thunk(name).map(|a| found(a, true))
                } else if let Some(a) = init::runtime_symbol(name) {
                    Some(found(a, true))
                } else {
                    self.host.lookup(name).map(|a| found(a, false))
                }
            })
            .collect())
    }

    fn resolve_thread_locals(&mut self, names: &[(&[u8], bool)]) -> Result<Vec<Option<HostTls>>> {
        // The loader looks the names up in the global scope: open the libraries a compiler
        // driver links first (libstdc++ defines `std::__once_callable`).
        if !names.is_empty() {
            self.host.open_defaults();
        }
        tls::resolve_host(names)
    }

    fn reserve(&mut self, size: usize, low: bool) -> Result<ChunkId> {
        let placement = if low { Placement::Low } else { Placement::Near };
        let mem = self.mem();
        let page = mem.page_size();
        mem.chunk_for(placement, size, page)
    }

    fn span(&self, r: &ChunkId) -> Span {
        let (lo, hi) = match &self.locked {
            Some(m) => m.bounds(*r),
            None => lock(self.mem).bounds(*r),
        };
        Span { lo, hi }
    }

    fn unreserve(&mut self, _r: ChunkId) {
        // Chunks belong to the session; nothing was taken from this one.
        self.unlock();
    }

    fn allocate(&mut self, r: ChunkId, lay: &Layout, content_len: usize) -> Result<InFlight> {
        let allocated = self
            .mem()
            .allocate(r, lay.len, lay.align, lay.segments.clone());
        match allocated {
            // The fixups write every byte up to the end of the last block with content; zero
            // fill after it stays unfaulted until the program touches it.
            Ok(mut m) => {
                m.populate(content_len);
                Ok(m)
            }
            Err(e) => {
                self.unlock();
                Err(e)
            }
        }
    }

    fn load_tls<A: LinkArch>(
        &mut self,
        init: &[u8],
        tls: &TlsLayout,
        static_tls: bool,
    ) -> Result<TlsValues> {
        tls::load_module(init, tls.len, tls.align, static_tls)
    }

    fn function_table<A: LinkArch>(
        &self,
        g: &LinkGraph<'_, A>,
        redirected: &[(SymbolId, RawStub)],
    ) -> Option<FunctionTable> {
        crate::debug::table_wanted(self.opts).then(|| FunctionTable::from_graph(g, redirected))
    }

    fn commit<A: LinkArch>(
        &mut self,
        mem: InFlight,
        set: Finished<'_, '_, A>,
    ) -> Result<InProcessSet> {
        // Debugger and profiler support first, while a failure can still abandon the memory.
        let files: Vec<FileBacked> = set
            .inputs
            .iter()
            .filter(|(_, b)| self.opts.debugger_support && matches!(b, Bytes::Mapped(_)))
            .map(|&(path, b)| FileBacked { bytes: b, path })
            .collect();
        let debug = crate::debug::register_set(
            set.graph,
            set.objects,
            set.redirected,
            &files,
            self.opts,
            set.table,
        );
        let debug = match debug {
            Ok(d) => d,
            Err(e) => {
                self.abandon(mem);
                return Err(e);
            }
        };
        let memory = mem.finalize::<A>(self.mem());
        self.unlock();
        Ok(InProcessSet {
            memory: memory?,
            debug,
        })
    }

    fn abandon(&mut self, mem: InFlight) {
        self.mem().abandon(mem);
        self.unlock();
    }

    fn point_stub(&mut self, stub: &RawStub, body: u64) -> Result<()> {
        stub.redirect(body);
        Ok(())
    }
}
