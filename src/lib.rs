//! jitlink links relocatable object files and static archives into the running process, into
//! an executor process, or into a buffer at a fixed address.
//!
//! **The public API.** A [`Session`] (with [`Options`]) links into this process: add objects
//! and archives, look symbols up (which links what is pending), remove linked sets. [`stubs`]
//! gives functions stable addresses whose implementation changes with one atomic store
//! ([`stubs::RedirectableSymbolManager`], [`stubs::RedirectionManager`]); [`lazy::LazySession`]
//! links an object (or one function) on its first call; [`reopt::Reoptimizer`] counts calls and
//! links a better version of a hot function. [`executor::RemoteSession`] links for code that
//! runs in another process ([`executor::Executor`]), of this or another architecture;
//! [`executor::RemoteLazy`] and [`executor::RemoteReoptimizer`] do lazy linking and
//! re-optimization there, with the trampolines and counters in the executor.
//! [`image::link_at_base`] links at a chosen address into a [`image::LinkedImage`] without
//! running anything, which [`check::run`] checks against `jitlink-check:` expressions.
//!
//! **One pipeline.** All of these run the same stages, in the crate-private module `link`:
//! build graphs (`builder`: ELF, Mach-O and COFF objects into a `LinkGraph` of sections,
//! blocks, symbols and edges whose kinds belong to the architecture, from the `jitlink-arch`
//! crate re-exported as [`arch`]) → load archive members (`inputs`) → resolve (`symbols`, then
//! the target) → graph passes (`passes`: linker content, redirectable functions, GOT entries and
//! stubs only where a reference cannot reach its target) → layout by protection (`layout`) →
//! allocate → fixups (`fixup`) with the unwind check → commit. What differs between this
//! process, an executor and a fixed base is a link target (`target`); the one runtime match on
//! the architecture ([`ArchKind`]) is `target::dispatch`, and everything below it is generic.
//!
//! **Run time.** The caller of the pipeline runs what it linked: initializers and finalizers,
//! unwind registration, thread-local storage (`runtime`); [`debug`] keeps each set's function
//! table for crash reports, registers sets with gdb and writes perf maps on request.
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

/// Writes a diagnostic line to stderr; a stderr that cannot be written (closed, `/dev/full`)
/// loses the line rather than panicking as `eprintln!` would.
macro_rules! diag {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use diag;

pub(crate) mod builder;
pub mod check;
pub mod debug;
pub mod error;
pub mod executor;
pub(crate) mod fixup;
pub(crate) mod graph;
pub mod image;
pub(crate) mod inputs;
pub mod large_alloc;
pub(crate) mod layout;
pub mod lazy;
pub(crate) mod link;
pub(crate) mod memory;
pub(crate) mod name;
pub(crate) mod name_index;
pub(crate) mod options;
pub(crate) mod passes;
pub(crate) mod remote;
pub mod reopt;
pub(crate) mod runtime;
pub(crate) mod session;
pub mod stubs;
pub(crate) mod symbols;
pub(crate) mod target;
mod tiered;

pub use builder::Bytes;
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
