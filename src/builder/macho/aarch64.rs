//! arm64 Mach-O relocations.

use jitlink_arch::aarch64::{AArch64, EdgeKind};
use object::macho;

use super::{MachOArch, MachOReloc};

impl MachOArch for AArch64 {
    const CPU_TYPE: u32 = macho::CPU_TYPE_ARM64;

    fn translate_macho(
        _r: &macho::RelocationInfo,
    ) -> std::result::Result<MachOReloc<EdgeKind>, &'static str> {
        Err("arm64 Mach-O relocations are not supported yet")
    }

    fn macho_reloc_name(r_type: u8) -> String {
        format!("ARM64 type {r_type}")
    }

    fn subtractor_kind(length: u8, negated: bool) -> Option<EdgeKind> {
        match (length, negated) {
            (3, false) => Some(EdgeKind::Delta64),
            (2, false) => Some(EdgeKind::Delta32),
            _ => None,
        }
    }
}
