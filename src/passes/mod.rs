//! Graph passes run between building and layout.
//!
//! - [`got_stubs`]: GOT entries and jump stubs for references that cannot reach their target,
//!   GOT-load relaxation for those that can, and copies of far host data.

pub mod got_stubs;
