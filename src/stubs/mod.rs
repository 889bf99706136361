//! Redirectable symbols: a function keeps one stable address, its stub, while what the stub
//! jumps to changes atomically under running threads.
//!
//! A stub is the architecture's jump-through-slot template ([`jitlink_arch::Arch::JUMP_STUB`]);
//! its slot is an 8-byte aligned pointer in writable memory. Redirection writes the slot with one
//! release-ordered atomic store and never touches code. Stubs are made in pooled batches inside
//! the session's reserved memory (so linked code reaches them with 32-bit displacements), belong
//! to an [`Owner`], and go back to a free list when their owner is released; their memory is
//! never unmapped while the pool lives, since a thread may still be inside a stub, and is given
//! back to the session's memory when the pool is dropped.
//!
//! # Soundness
//!
//! Handles cannot be forged: a [`StubHandle`] has private fields, is made only by its
//! [`StubPool`] and borrows it, so it cannot outlive the memory it writes. The safe
//! redirections take a [`Target`], a destination something vouches for: a symbol of a live
//! linked set ([`crate::Session::target`], which borrows the session so that the set cannot be
//! removed meanwhile), another stub ([`StubHandle::as_target`]) or a host function
//! ([`Target::host`]). Redirecting to a raw address is `unsafe`
//! ([`StubHandle::redirect_to_raw`], [`RedirectionManager::redirect_raw`]).
//!
//! Owners, linked sets and stubs have different types: an [`Owner`] is made by
//! [`Owner::new`], unique in the process, and never names a linked set.
//!
//! ```compile_fail,E0560
//! // A handle cannot be built by hand.
//! let h = jitlink::stubs::StubHandle { stub: 0, slot: 8 };
//! ```
//!
//! ```compile_fail,E0603
//! // An owner cannot be made from a number, and so cannot alias a linked set's id.
//! let o = jitlink::stubs::Owner(1);
//! ```
//!
//! ```compile_fail,E0308
//! // An owner is not a linked-set id.
//! let mut s = jitlink::Session::new(jitlink::Options::default());
//! s.remove(jitlink::stubs::Owner::new());
//! ```
//!
//! ```compile_fail,E0603
//! // A linked-set id cannot be made from a number either.
//! let id = jitlink::LinkedSetId(0);
//! ```
//!
//! ```compile_fail,E0308
//! // A safe redirect takes a vouched-for target, not an address.
//! let s = jitlink::Session::new(jitlink::Options::default());
//! let pool = s.redirection_manager();
//! pool.handle("f").unwrap().redirect(0x1000);
//! ```
//!
//! ```compile_fail,E0616
//! // Trampoline fields are private.
//! fn f(t: &jitlink::stubs::Trampoline) -> u64 { t.counter }
//! ```
//!
//! ```compile_fail,E0133
//! // A trampoline jumps to the addresses it is given: making one is `unsafe`.
//! let s = jitlink::Session::new(jitlink::Options::default());
//! let h: jitlink::stubs::Handler = std::sync::Arc::new(|| Ok(8));
//! s.trampolines().counting(vec![(1, 8, h)]);
//! ```

mod pool;
mod trampolines;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::runtime::reentry::Handler;
pub(crate) use pool::{EmitStubs, RawStub};
pub use pool::{StubHandle, StubPool};
pub use trampolines::{Counters, Trampoline, TrampolinePool};

use crate::error::Result;

/// Who owns a set of stubs: a resource tracker of the caller, made by [`Owner::new`] (unique in
/// the process). Linked sets own the stubs of their redirectable functions under owners of
/// their own, which callers cannot name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner(pub(crate) OwnerKey);

/// What an [`Owner`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OwnerKey {
    /// A caller's owner.
    User(u64),
    /// A linked set.
    Set(u32),
    /// The session's lazily declared functions.
    Lazy,
}

impl Owner {
    /// A new owner, different from every other owner of this process.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Owner {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Owner(OwnerKey::User(NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// The owner of lazily declared functions' stubs.
    pub(crate) const LAZY: Owner = Owner(OwnerKey::Lazy);
}

/// A destination a stub may be pointed at without `unsafe`: code that something vouches for.
/// Made by [`crate::Session::target`] (a symbol of a live linked set; the target borrows the
/// session, so the set cannot be removed while the target exists), by
/// [`StubHandle::as_target`] (another stub), or by [`Target::host`] (a function of this
/// program).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    addr: u64,
    _vouched_by: PhantomData<&'a ()>,
}

impl<'a> Target<'a> {
    /// A target that the crate vouches for, alive for `'a`.
    pub(crate) fn vouched(addr: u64) -> Target<'a> {
        Target {
            addr,
            _vouched_by: PhantomData,
        }
    }

    /// The destination's address.
    pub fn addr(&self) -> u64 {
        self.addr
    }
}

impl Target<'static> {
    /// A function of this program: `Target::host(f as extern "C" fn(u64) -> u64)`.
    pub fn host<F: HostFn>(f: F) -> Target<'static> {
        Target::vouched(f.addr())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Function pointers of this program that a stub may jump to (`extern "C"` functions of up to
/// six arguments).
pub trait HostFn: Copy + sealed::Sealed {
    /// The function's address.
    fn addr(self) -> u64;
}

macro_rules! host_fn {
    ($($a:ident),*) => {
        impl<R, $($a),*> sealed::Sealed for extern "C" fn($($a),*) -> R {}
        impl<R, $($a),*> HostFn for extern "C" fn($($a),*) -> R {
            fn addr(self) -> u64 {
                self as usize as u64
            }
        }
        impl<R, $($a),*> sealed::Sealed for unsafe extern "C" fn($($a),*) -> R {}
        impl<R, $($a),*> HostFn for unsafe extern "C" fn($($a),*) -> R {
            fn addr(self) -> u64 {
                self as usize as u64
            }
        }
    };
}
host_fn!();
host_fn!(A1);
host_fn!(A1, A2);
host_fn!(A1, A2, A3);
host_fn!(A1, A2, A3, A4);
host_fn!(A1, A2, A3, A4, A5);
host_fn!(A1, A2, A3, A4, A5, A6);

/// Redirects redirectable symbols to new destinations. Every method takes `&self`: redirects
/// from many threads at once are safe.
pub trait RedirectionManager {
    /// Points every named symbol at its new target. Either all names are redirectable and all
    /// are redirected (under one lock, visible as a whole to later lookups; one release-ordered
    /// store per stub), or none is and the error names the first unknown one.
    fn redirect(&self, targets: &[(&str, Target<'_>)]) -> Result<()>;

    /// Redirects one symbol.
    fn redirect_one(&self, name: &str, target: Target<'_>) -> Result<()> {
        self.redirect(&[(name, target)])
    }

    /// [`RedirectionManager::redirect`] to raw addresses.
    ///
    /// # Safety
    ///
    /// Every address must be code that callers of the stub may run with the stub's signature,
    /// and must stay mapped as long as the stub may be called (or until it is redirected away).
    unsafe fn redirect_raw(&self, targets: &[(&str, u64)]) -> Result<()>;
}

/// Creates redirectable symbols.
pub trait RedirectableSymbolManager: RedirectionManager {
    /// Creates named symbols whose addresses are stubs jumping to `initial` targets; returns
    /// the stub addresses, in order. Fails, creating nothing, if a name is taken (in the pool or
    /// twice in `initial`).
    fn create_redirectable_symbols(
        &self,
        owner: Owner,
        initial: &[(&str, Target<'_>)],
    ) -> Result<Vec<u64>>;

    /// Reserves named stubs whose destinations are not known yet (they trap until redirected)
    /// and returns their handles.
    fn emit_redirectable_symbols(
        &self,
        owner: Owner,
        names: &[&str],
    ) -> Result<Vec<StubHandle<'_>>>;

    /// The stub address of a redirectable symbol.
    fn lookup(&self, name: &str) -> Option<u64>;

    /// Returns every stub of `owner` to the pool; their names stop resolving, and a call
    /// through one of them aborts the process with a message saying it was released.
    fn release(&self, owner: Owner);
}
