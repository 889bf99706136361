//! `jitlink --base ADDR --check FILE`: assembly files under `testdata/check/x86_64/` carry
//! `jitlink-check:` assertions in their comments (the style of LLVM's JITLink tests). Each is
//! assembled with llvm-mc-19, linked at a fixed base and checked. A file with `jitlink-error:`
//! lines must fail to link with every one of those texts in the message. `jitlink-args:` gives
//! the command-line options (base, absolute symbols).

use crate::common;

use common::asm::{
    self, assemble, assembled_check_files, elf_relocation_types, run_check, X86_64_LINUX,
};
use common::scratch_dir;

#[test]
fn every_check_file_passes() {
    asm::every_check_file_passes("x86_64", X86_64_LINUX);
}

/// Every relocation type the ELF builder supports on x86-64 appears in some check file.
#[test]
fn check_files_cover_every_supported_relocation() {
    // The types `src/builder/elf.rs` translates (R_X86_64_GOT32 is rejected there, the dynamic
    // types are not inputs, R_X86_64_NONE does nothing).
    const SUPPORTED: &[&str] = &[
        "R_X86_64_64",
        "R_X86_64_32",
        "R_X86_64_32S",
        "R_X86_64_16",
        "R_X86_64_8",
        "R_X86_64_PC64",
        "R_X86_64_PC32",
        "R_X86_64_PC16",
        "R_X86_64_PC8",
        "R_X86_64_PLT32",
        "R_X86_64_GOTPCREL",
        "R_X86_64_GOTPCRELX",
        "R_X86_64_REX_GOTPCRELX",
        "R_X86_64_GOTPCREL64",
        "R_X86_64_GOT64",
        "R_X86_64_GOTOFF64",
        "R_X86_64_GOTPC32",
        "R_X86_64_GOTPC64",
        "R_X86_64_PLTOFF64",
        "R_X86_64_GOTPLT64",
        "R_X86_64_SIZE32",
        "R_X86_64_SIZE64",
        "R_X86_64_TLSGD",
        "R_X86_64_TLSLD",
        "R_X86_64_DTPOFF32",
        "R_X86_64_DTPOFF64",
        "R_X86_64_DTPMOD64",
        "R_X86_64_GOTTPOFF",
        "R_X86_64_TPOFF32",
        "R_X86_64_TPOFF64",
        "R_X86_64_GOTPC32_TLSDESC",
        "R_X86_64_TLSDESC_CALL",
    ];
    let seen = elf_relocation_types(&assembled_check_files("x86_64", X86_64_LINUX));
    let missing: Vec<&str> = SUPPORTED
        .iter()
        .copied()
        .filter(|name| !seen.iter().any(|&t| reloc_name(t) == *name))
        .collect();
    assert!(missing.is_empty(), "no check file uses {missing:?}");
}

fn reloc_name(t: u32) -> &'static str {
    use object::elf::*;
    match t {
        R_X86_64_64 => "R_X86_64_64",
        R_X86_64_32 => "R_X86_64_32",
        R_X86_64_32S => "R_X86_64_32S",
        R_X86_64_16 => "R_X86_64_16",
        R_X86_64_8 => "R_X86_64_8",
        R_X86_64_PC64 => "R_X86_64_PC64",
        R_X86_64_PC32 => "R_X86_64_PC32",
        R_X86_64_PC16 => "R_X86_64_PC16",
        R_X86_64_PC8 => "R_X86_64_PC8",
        R_X86_64_PLT32 => "R_X86_64_PLT32",
        R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
        R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
        R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
        R_X86_64_GOTPCREL64 => "R_X86_64_GOTPCREL64",
        R_X86_64_GOT64 => "R_X86_64_GOT64",
        R_X86_64_GOTOFF64 => "R_X86_64_GOTOFF64",
        R_X86_64_GOTPC32 => "R_X86_64_GOTPC32",
        R_X86_64_GOTPC64 => "R_X86_64_GOTPC64",
        R_X86_64_PLTOFF64 => "R_X86_64_PLTOFF64",
        R_X86_64_GOTPLT64 => "R_X86_64_GOTPLT64",
        R_X86_64_SIZE32 => "R_X86_64_SIZE32",
        R_X86_64_SIZE64 => "R_X86_64_SIZE64",
        R_X86_64_TLSGD => "R_X86_64_TLSGD",
        R_X86_64_TLSLD => "R_X86_64_TLSLD",
        R_X86_64_DTPOFF32 => "R_X86_64_DTPOFF32",
        R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
        R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
        R_X86_64_GOTTPOFF => "R_X86_64_GOTTPOFF",
        R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
        R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
        R_X86_64_GOTPC32_TLSDESC => "R_X86_64_GOTPC32_TLSDESC",
        R_X86_64_TLSDESC_CALL => "R_X86_64_TLSDESC_CALL",
        _ => "other",
    }
}

/// A check that does not hold fails the run, printing the check and both values.
#[test]
fn failing_check_reports_expression_and_values() {
    let dir = scratch_dir("check-fail");
    let source = dir.join("wrong.s");
    std::fs::write(
        &source,
        "        .data\n        .globl  v\nv:\n        .quad   5\n\
         # jitlink-check: *{8}v = 5\n# jitlink-check: (*{8}v) + 1 = 0x7\n\
         # jitlink-check: nosuch = 1\n# jitlink-check: got_addr(v) = 0\n\
         # jitlink-check: *{8}v + 0x10000 = 0\n",
    )
    .unwrap();
    let obj = assemble(X86_64_LINUX, &source, &dir);
    let (code, output) = run_check(&["--base", "0x40000000", "--check"], &[&source, &obj]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("line 6: check failed: (*{8}v) + 1 = 0x7"),
        "{output}"
    );
    assert!(output.contains("left  = 0x6"), "{output}");
    assert!(output.contains("right = 0x7"), "{output}");
    assert!(!output.contains("line 5"), "{output}");
    assert!(
        output.contains("line 7: nosuch = 1: unknown symbol 'nosuch'"),
        "{output}"
    );
    assert!(
        output.contains("line 8: got_addr(v) = 0: 'v' has no GOT entry"),
        "{output}"
    );
    // A load past the end of the image is an error, not a zero that passes.
    assert!(
        output.contains("line 9: *{8}v + 0x10000 = 0: load of 8 bytes at")
            && output.contains("is outside the image"),
        "{output}"
    );
}
