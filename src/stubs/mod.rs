//! Redirectable symbols: a function keeps one stable address, its stub, while what the stub
//! jumps to changes atomically under running threads.
//!
//! A stub is the architecture's jump-through-slot template ([`jitlink_arch::Arch::JUMP_STUB`]);
//! its slot is an 8-byte aligned pointer in writable memory. Redirection writes the slot with one
//! release-ordered atomic store and never touches code. Stubs are made in pooled batches inside
//! the session's reserved memory (so linked code reaches them with 32-bit displacements), belong
//! to an [`Owner`], and go back to a free list when their owner is released; their memory is never
//! unmapped while the pool lives, since a thread may still be inside a stub.

mod pool;
mod trampolines;

pub use pool::{StubHandle, StubPool};
pub use trampolines::{Counters, Trampoline, TrampolinePool};

use crate::error::Result;

/// Who owns a set of stubs: a linked set, or any resource tracker the caller numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner(pub u64);

/// Redirects redirectable symbols to new destinations.
pub trait RedirectionManager {
    /// Points every named symbol at its new address. Either all names are redirectable and all
    /// are redirected (under one lock, visible as a whole to later lookups), or none is and the
    /// error names the first unknown one.
    fn redirect(&self, targets: &[(&str, u64)]) -> Result<()>;

    /// Redirects one symbol.
    fn redirect_one(&self, name: &str, target: u64) -> Result<()> {
        self.redirect(&[(name, target)])
    }
}

/// Creates redirectable symbols.
pub trait RedirectableSymbolManager: RedirectionManager {
    /// Creates named symbols whose addresses are stubs jumping to `initial` destinations;
    /// returns the stub addresses, in order.
    fn create_redirectable_symbols(
        &self,
        owner: Owner,
        initial: &[(&str, u64)],
    ) -> Result<Vec<u64>>;

    /// The lower-level emission used while another graph is being linked: reserves named stubs
    /// whose destinations are not known yet (they trap until redirected) and returns their
    /// handles, so the linker can bind references to the stub addresses before layout.
    fn emit_redirectable_symbols(&self, owner: Owner, names: &[&str]) -> Result<Vec<StubHandle>>;

    /// The stub address of a redirectable symbol.
    fn lookup(&self, name: &str) -> Option<u64>;

    /// Returns every stub of `owner` to the pool; their names stop resolving.
    fn release(&self, owner: Owner);
}
