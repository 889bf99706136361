//! `jitlink --base ADDR --check FILE`: assembly files under `testdata/check/<arch>/` carry
//! `jitlink-check:` assertions in their comments (the style of LLVM's JITLink tests). Each is
//! assembled with llvm-mc-19, linked at a fixed base through the one pipeline and checked by
//! decoding the patched instructions (operands numbered as LLVM's MC layer numbers them). A file
//! with `jitlink-error:` lines must fail to link with every one of those texts in the message.
//! `jitlink-args:` gives the command-line options (base, absolute symbols).

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{outcome, scratch_dir, testdata_dir, tool};
use object::{Object, ObjectSection};

/// The check files of one architecture: their directory and the triple they assemble for.
#[derive(Clone, Copy)]
struct CheckArch {
    dir: &'static str,
    triple: &'static str,
}

const X86_64: CheckArch = CheckArch {
    dir: "x86_64",
    triple: "x86_64-unknown-linux-gnu",
};
const AARCH64: CheckArch = CheckArch {
    dir: "aarch64",
    triple: "aarch64-linux-gnu",
};

fn check_files(arch: &CheckArch) -> Vec<PathBuf> {
    let dir = testdata_dir().join("check").join(arch.dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "s"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests in {}", dir.display());
    files
}

/// Assembles `source` for `arch` into `dir/<stem>.o`.
fn assemble(arch: CheckArch, source: &Path, dir: &Path) -> PathBuf {
    let obj = dir.join(source.file_stem().unwrap()).with_extension("o");
    let mut cmd = Command::new(&tool("llvm-mc-19").path);
    cmd.arg("-filetype=obj")
        .arg(format!("-triple={}", arch.triple))
        .arg("-o")
        .arg(&obj)
        .arg(source);
    let (code, _, err) = outcome(&mut cmd);
    assert_eq!(code, Some(0), "llvm-mc-19 {}: {err}", source.display());
    obj
}

/// The values of every `key` line of `text`.
fn directives<'t>(text: &'t str, key: &str) -> Vec<&'t str> {
    text.lines()
        .filter_map(|l| l.split_once(key).map(|(_, v)| v.trim()))
        .collect()
}

fn run_jitlink(args: &[&str], extra: &[&Path]) -> (Option<i32>, String) {
    let mut cmd = Command::new(common::jitlink_path());
    cmd.args(args).args(extra);
    let (code, out, err) = outcome(&mut cmd);
    (code, format!("{out}{err}"))
}

/// Links and checks every check file of `arch`; returns the failures.
fn run_check_files(arch: CheckArch) -> Vec<String> {
    let dir = scratch_dir(&format!("check-{}", arch.dir));
    let mut failures = Vec::new();
    for source in check_files(&arch) {
        let text = std::fs::read_to_string(&source).unwrap();
        let obj = assemble(arch, &source, &dir);
        let args: Vec<&str> = directives(&text, "jitlink-args:")
            .into_iter()
            .flat_map(str::split_whitespace)
            .collect();
        let errors = directives(&text, "jitlink-error:");
        let checks = directives(&text, "jitlink-check:");
        let (code, output) = if errors.is_empty() {
            assert!(!checks.is_empty(), "{}: no checks", source.display());
            run_jitlink(&args, &[Path::new("--check"), &source, &obj])
        } else {
            run_jitlink(&args, &[&obj])
        };
        let ok = if errors.is_empty() {
            code == Some(0) && output.is_empty()
        } else {
            code == Some(1) && errors.iter().all(|e| output.contains(e))
        };
        if !ok {
            failures.push(format!(
                "{} (exit {code:?}, {} checks):\n{output}",
                source.display(),
                checks.len()
            ));
        }
    }
    failures
}

/// The ELF relocation types of `supported` that no check file of `arch` uses.
fn uncovered(arch: CheckArch, supported: &[u32]) -> Vec<u32> {
    let dir = scratch_dir(&format!("check-{}-cover", arch.dir));
    let mut seen = BTreeSet::new();
    for source in check_files(&arch) {
        let data = std::fs::read(assemble(arch, &source, &dir)).unwrap();
        let file = object::File::parse(&*data).unwrap();
        for sec in file.sections() {
            for (_, r) in sec.relocations() {
                if let object::RelocationFlags::Elf { r_type } = r.flags() {
                    seen.insert(r_type);
                }
            }
        }
    }
    supported
        .iter()
        .copied()
        .filter(|t| !seen.contains(t))
        .collect()
}

#[test]
fn every_check_file_passes() {
    let failures = run_check_files(X86_64);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_aarch64_check_file_passes() {
    let failures = run_check_files(AARCH64);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every relocation type the ELF builder supports on x86-64 appears in some check file
/// (R_X86_64_GOT32 is rejected there, the dynamic types are not inputs, R_X86_64_NONE does
/// nothing).
#[test]
fn check_files_cover_every_supported_relocation() {
    use object::elf::*;
    const SUPPORTED: &[u32] = &[
        R_X86_64_64,
        R_X86_64_32,
        R_X86_64_32S,
        R_X86_64_16,
        R_X86_64_8,
        R_X86_64_PC64,
        R_X86_64_PC32,
        R_X86_64_PC16,
        R_X86_64_PC8,
        R_X86_64_PLT32,
        R_X86_64_GOTPCREL,
        R_X86_64_GOTPCRELX,
        R_X86_64_REX_GOTPCRELX,
        R_X86_64_GOTPCREL64,
        R_X86_64_GOT64,
        R_X86_64_GOTOFF64,
        R_X86_64_GOTPC32,
        R_X86_64_GOTPC64,
        R_X86_64_PLTOFF64,
        R_X86_64_GOTPLT64,
        R_X86_64_SIZE32,
        R_X86_64_SIZE64,
        R_X86_64_TLSGD,
        R_X86_64_TLSLD,
        R_X86_64_DTPOFF32,
        R_X86_64_DTPOFF64,
        R_X86_64_DTPMOD64,
        R_X86_64_GOTTPOFF,
        R_X86_64_TPOFF32,
        R_X86_64_TPOFF64,
        R_X86_64_GOTPC32_TLSDESC,
        R_X86_64_TLSDESC_CALL,
    ];
    let missing = uncovered(X86_64, SUPPORTED);
    assert!(
        missing.is_empty(),
        "no check file uses relocation types {missing:?}"
    );
}

/// Every AArch64 relocation type gcc and clang emit (the thread-local ones of the descriptor,
/// initial-exec and local-exec models included) appears in some check file.
#[test]
fn aarch64_check_files_cover_every_relocation() {
    use object::elf::*;
    const SUPPORTED: &[u32] = &[
        R_AARCH64_ABS64,
        R_AARCH64_ABS32,
        R_AARCH64_ABS16,
        R_AARCH64_PREL64,
        R_AARCH64_PREL32,
        R_AARCH64_PREL16,
        R_AARCH64_MOVW_UABS_G0,
        R_AARCH64_MOVW_UABS_G0_NC,
        R_AARCH64_MOVW_UABS_G1,
        R_AARCH64_MOVW_UABS_G1_NC,
        R_AARCH64_MOVW_UABS_G2,
        R_AARCH64_MOVW_UABS_G2_NC,
        R_AARCH64_MOVW_UABS_G3,
        R_AARCH64_MOVW_SABS_G0,
        R_AARCH64_MOVW_SABS_G1,
        R_AARCH64_MOVW_SABS_G2,
        R_AARCH64_MOVW_PREL_G0,
        R_AARCH64_MOVW_PREL_G0_NC,
        R_AARCH64_MOVW_PREL_G1,
        R_AARCH64_MOVW_PREL_G1_NC,
        R_AARCH64_MOVW_PREL_G2,
        R_AARCH64_MOVW_PREL_G2_NC,
        R_AARCH64_MOVW_PREL_G3,
        R_AARCH64_LD_PREL_LO19,
        R_AARCH64_ADR_PREL_LO21,
        R_AARCH64_ADR_PREL_PG_HI21,
        R_AARCH64_ADR_PREL_PG_HI21_NC,
        R_AARCH64_ADD_ABS_LO12_NC,
        R_AARCH64_LDST8_ABS_LO12_NC,
        R_AARCH64_LDST16_ABS_LO12_NC,
        R_AARCH64_LDST32_ABS_LO12_NC,
        R_AARCH64_LDST64_ABS_LO12_NC,
        R_AARCH64_LDST128_ABS_LO12_NC,
        R_AARCH64_TSTBR14,
        R_AARCH64_CONDBR19,
        R_AARCH64_JUMP26,
        R_AARCH64_CALL26,
        R_AARCH64_GOT_LD_PREL19,
        R_AARCH64_ADR_GOT_PAGE,
        R_AARCH64_LD64_GOT_LO12_NC,
        R_AARCH64_LD64_GOTPAGE_LO15,
        R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21,
        R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC,
        R_AARCH64_TLSLE_ADD_TPREL_HI12,
        R_AARCH64_TLSLE_ADD_TPREL_LO12,
        R_AARCH64_TLSLE_ADD_TPREL_LO12_NC,
        R_AARCH64_TLSLE_LDST8_TPREL_LO12_NC,
        R_AARCH64_TLSLE_LDST32_TPREL_LO12,
        R_AARCH64_TLSLE_LDST64_TPREL_LO12_NC,
        R_AARCH64_TLSLE_MOVW_TPREL_G0,
        R_AARCH64_TLSLE_MOVW_TPREL_G0_NC,
        R_AARCH64_TLSLE_MOVW_TPREL_G1,
        R_AARCH64_TLSDESC_ADR_PAGE21,
        R_AARCH64_TLSDESC_LD64_LO12,
        R_AARCH64_TLSDESC_ADD_LO12,
        R_AARCH64_TLSDESC_CALL,
    ];
    let missing = uncovered(AARCH64, SUPPORTED);
    assert!(
        missing.is_empty(),
        "no check file uses relocation types {missing:?}"
    );
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
         # jitlink-check: nosuch = 1\n# jitlink-check: got_addr(v) = 0\n",
    )
    .unwrap();
    let obj = assemble(X86_64, &source, &dir);
    let (code, output) = run_jitlink(&["--base", "0x40000000", "--check"], &[&source, &obj]);
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
}
