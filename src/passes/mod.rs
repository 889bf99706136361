//! Graph passes, named for the pipeline stage they serve (see [`crate::link`]).
//!
//! - [`linker_content`]: what the linker defines itself (`__dso_handle`, the `.eh_frame`
//!   terminator), after resolution.
//! - [`boundary`]: section boundary symbols (`__start_NAME`, `section$start$SEG$SECT`), with
//!   the linker's content.
//! - [`bind`]: binds a new definition of a running function to the live image (re-optimization,
//!   lazy linking per function), after building.
//! - [`redirectable`]: stubs for redirectable functions, after resolution.
//! - [`got_stubs`]: GOT entries and jump stubs for references that cannot reach their target,
//!   GOT-load relaxation for those that can, and copies of far host data; before layout.
//! - [`eh_frame`]: the check of fixed-up unwind information, after fixups.
//! - [`locals`]: the writable statics of each input, after layout (re-optimization).

pub mod bind;
pub(crate) mod boundary;
pub(crate) mod eh_frame;
pub mod got_stubs;
pub(crate) mod linker_content;
pub(crate) mod locals;
pub(crate) mod redirectable;
