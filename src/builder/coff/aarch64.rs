//! arm64 COFF relocations.

use jitlink_arch::aarch64::{AArch64, EdgeKind};
use object::pe;

use super::{CoffArch, CoffReloc};

impl CoffArch for AArch64 {
    const COFF_MACHINE: u16 = pe::IMAGE_FILE_MACHINE_ARM64;

    fn translate_coff(_typ: u16) -> std::result::Result<CoffReloc<EdgeKind>, &'static str> {
        Err("arm64 COFF relocations are not supported yet")
    }

    fn coff_reloc_name(typ: u16) -> String {
        format!("ARM64 type {typ:#x}")
    }
}
