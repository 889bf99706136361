//! `jitlink --base ADDR --check FILE` for RISC-V (RV64): the files under
//! `testdata/check/riscv64/` are assembled with llvm-mc-19 for riscv64-linux-gnu, linked at a
//! fixed base and their `jitlink-check:` lines evaluated by decoding the patched instructions
//! (operands numbered as LLVM's MC layer numbers them); the `jitlink-error:` files must fail
//! with messages that name what is wrong.

use crate::common;

use common::asm::{self, assembled_check_files, elf_relocation_types, RISCV64_LINUX};

#[test]
fn every_riscv64_check_file_passes() {
    asm::every_check_file_passes("riscv64", RISCV64_LINUX);
}

/// Every RISC-V relocation type gcc and clang emit for RV64 Linux (the thread-local ones of
/// every model, TLS descriptors included, and the ADD/SET/SUB pairs of unwind and exception
/// tables) appears in some check file.
#[test]
fn riscv64_check_files_cover_every_relocation() {
    use object::elf::*;
    const SUPPORTED: &[u32] = &[
        R_RISCV_32,
        R_RISCV_64,
        R_RISCV_32_PCREL,
        R_RISCV_BRANCH,
        R_RISCV_JAL,
        R_RISCV_CALL,
        R_RISCV_CALL_PLT,
        R_RISCV_RVC_BRANCH,
        R_RISCV_RVC_JUMP,
        R_RISCV_HI20,
        R_RISCV_LO12_I,
        R_RISCV_LO12_S,
        R_RISCV_PCREL_HI20,
        R_RISCV_PCREL_LO12_I,
        R_RISCV_PCREL_LO12_S,
        R_RISCV_GOT_HI20,
        R_RISCV_TLS_GOT_HI20,
        R_RISCV_TLS_GD_HI20,
        R_RISCV_TPREL_HI20,
        R_RISCV_TPREL_LO12_I,
        R_RISCV_TPREL_LO12_S,
        R_RISCV_TPREL_ADD,
        R_RISCV_TLSDESC_HI20,
        R_RISCV_TLSDESC_LOAD_LO12,
        R_RISCV_TLSDESC_ADD_LO12,
        R_RISCV_TLSDESC_CALL,
        R_RISCV_ADD8,
        R_RISCV_ADD16,
        R_RISCV_ADD32,
        R_RISCV_ADD64,
        R_RISCV_SUB6,
        R_RISCV_SUB8,
        R_RISCV_SUB16,
        R_RISCV_SUB32,
        R_RISCV_SUB64,
        R_RISCV_SET6,
        R_RISCV_SET8,
        R_RISCV_SET16,
        R_RISCV_SET32,
        R_RISCV_SET_ULEB128,
        R_RISCV_SUB_ULEB128,
        R_RISCV_ALIGN,
        R_RISCV_RELAX,
    ];
    let seen = elf_relocation_types(&assembled_check_files("riscv64", RISCV64_LINUX));
    let missing: Vec<u32> = SUPPORTED
        .iter()
        .copied()
        .filter(|t| !seen.contains(t))
        .collect();
    assert!(
        missing.is_empty(),
        "no check file uses relocation types {missing:?}"
    );
}
