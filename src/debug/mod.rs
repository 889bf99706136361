//! Debugger and profiler support, a stage after finalize: each linked set gets a function table
//! (`symbols`: address → function, file, offset; the source of the other three), optionally a
//! registration with gdb's JIT interface (`gdb`) and perf map entries ([`perf`]). [`crash`]
//! turns the tables into readable crash reports.

pub mod crash;
pub(crate) mod gdb;
pub mod jitdump;
pub mod perf;
pub(crate) mod symbols;

use jitlink_arch::Arch;

use crate::builder::elf::LoadedObject;
use crate::error::Result;
use crate::graph::{LinkGraph, SymbolId};
use crate::stubs::RawStub;

pub use gdb::registered_images;
pub(crate) use symbols::FunctionTable;
pub use symbols::{AddressInfo, FunctionEntry};

/// The debugging state of one linked set; dropping it unregisters the set from gdb.
#[derive(Default)]
pub(crate) struct SetDebug {
    /// The set's functions and stubs (shared with the crash reporter).
    pub functions: std::sync::Arc<FunctionTable>,
    /// The gdb registration, if debugger support is on: held for its `Drop`, which
    /// unregisters the set.
    #[allow(dead_code)]
    pub gdb: Option<gdb::GdbRegistration>,
}

/// Runs after fixups, before the set is finalized (its memory is readable at its final
/// addresses) and before its initializers run: builds the function table,
/// registers the inputs with gdb (`debugger_support`; inputs mapped from `files` are mapped
/// again rather than copied), writes the perf map (`perf_map`) and jitdump (`perf_jitdump`).
pub(crate) fn register_set<A: Arch>(
    g: &LinkGraph<'_, A>,
    objects: &[LoadedObject<'_>],
    redirected: &[(SymbolId, RawStub)],
    files: &[gdb::FileBacked<'_>],
    opts: &crate::Options,
    table: Option<FunctionTable>,
) -> Result<SetDebug> {
    let table = match table {
        Some(t) => t,
        None if table_wanted(opts) => FunctionTable::from_graph(g, redirected),
        None => FunctionTable::default(),
    };
    let functions = std::sync::Arc::new(table);
    if opts.perf_map {
        perf::append_all(functions.entries())?;
    }
    if opts.perf_jitdump {
        jitdump::append_all(functions.entries())?;
    }
    let gdb = opts
        .debugger_support
        .then(|| gdb::GdbRegistration::register(g, objects, files));
    Ok(SetDebug { functions, gdb })
}

/// Whether a set's function table is worth building: it names the functions of crash reports,
/// `Session::describe_address` and the perf files. Under `link_only` nothing of the set runs, so
/// only the perf files need it.
pub(crate) fn table_wanted(opts: &crate::Options) -> bool {
    !opts.link_only || opts.perf_map || opts.perf_jitdump
}

/// A named stub of a session's pool containing `addr`, described as `name@stub`.
pub(crate) fn describe_pool_stub<A: Arch>(
    pool: &crate::stubs::StubPool<A>,
    addr: u64,
) -> Option<AddressInfo> {
    let (name, h) = pool.stub_at(addr)?;
    Some(AddressInfo {
        function: format!("{name}@stub"),
        file: "<stub pool>".to_string(),
        offset: addr - h.address(),
        start: h.address(),
        size: A::JUMP_STUB.bytes.len() as u64,
    })
}
