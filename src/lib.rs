//! jitlink links relocatable object files and static archives into the running process.
//!
//! **Graph.** Every linked set is one [`graph::LinkGraph`]: sections of blocks (bytes with an
//! alignment), symbols naming places, and edges (fixups) whose kinds belong to the architecture
//! (the `jitlink-arch` crate).
//!
//! **Builders.** [`builder`] turns ELF, Mach-O and COFF objects into graph content, resolving
//! COMDAT groups and selections, common and weak symbols, and translating each raw relocation
//! type to an edge kind once per (format, architecture). Archives are indexed and their members
//! loaded on demand.
//!
//! **Passes and layout.** [`passes`] synthesizes GOT entries and stubs only for references that
//! cannot reach their target, and relaxes the rest; [`layout`] groups blocks by protection.
//!
//! **Memory and fixups.** [`memory`] reserves address space once per session and hands out
//! write-xor-execute allocations; [`fixup`] copies content and applies every edge, reporting
//! overflows with file, section and symbol.
//!
//! **Debugging.** [`debug`] keeps each linked set's function table (address → function, file,
//! offset), registers sets with gdb's JIT interface and writes perf maps on request.
//!
//! **Driver.** [`Session`] ties the stages together and resolves symbols across inputs,
//! earlier linked sets, absolute definitions and the host process (for Windows x64 code, only
//! through the thunks of [`runtime::win64`]). [`fixed::link_at`] runs the same stages at a
//! chosen address into a byte image, for any architecture, without running anything.
//!
//! **Stubs, lazy linking, re-optimization.** [`stubs`] gives functions stable addresses whose
//! targets change with one atomic store, and makes re-entry and counting trampolines that enter
//! the runtime through [`runtime::reentry`]. On top of them, [`lazy::LazySession`] links an
//! object (or one function) on its first call, and [`reopt::Reoptimizer`] counts calls per function
//! and links a better version of a hot one, bound to the running program's state by
//! [`passes::bind`].
//!
//! ```no_run
//! # fn main() -> Result<(), jitlink::Error> {
//! let mut session = jitlink::Session::new(jitlink::Options::default());
//! session.add_file("add.o")?;              // int add(int a, int b) { return a + b; }
//! let addr = session.lookup("add")?;        // links what is pending, returns the address
//! // SAFETY: `add` was compiled from C with this signature.
//! let add: extern "C" fn(i32, i32) -> i32 = unsafe { std::mem::transmute(addr as usize) };
//! assert_eq!(add(2, 3), 5);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod builder;
pub mod check;
pub mod debug;
pub mod error;
pub mod executor;
pub mod fixup;
pub mod graph;
pub mod image;
pub(crate) mod inputs;
pub mod large_alloc;
pub mod layout;
pub mod lazy;
pub(crate) mod link;
pub mod memory;
pub mod name;
pub(crate) mod options;
pub mod passes;
pub mod remote;
pub mod reopt;
pub mod runtime;
pub(crate) mod session;
pub mod stubs;
pub(crate) mod symbols;
pub mod target;

pub use error::{Error, Result};
pub use inputs::{entry_is_win64, file_arch};
pub use jitlink_arch as arch;
pub use options::{LinkedSetId, Options, Redirectable, Timings};
pub use session::{HostArch, Session};
pub use target::ArchKind;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
