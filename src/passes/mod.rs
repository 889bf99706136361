//! Graph passes run between building and layout.
//!
//! - [`got_stubs`]: GOT entries and jump stubs for references that cannot reach their target,
//!   GOT-load relaxation for those that can, and copies of far host data.
//! - [`bind`]: binds a new definition of a running function to the live image (re-optimization).

pub mod bind;
pub mod got_stubs;
