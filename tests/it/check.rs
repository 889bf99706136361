//! `jitlink --base ADDR --check FILE`: assembly files under `testdata/check/x86_64/` carry
//! `jitlink-check:` assertions in their comments (the style of LLVM's JITLink tests). Each is
//! assembled with llvm-mc-19, linked at a fixed base and checked. A file with `jitlink-error:`
//! lines must fail to link with every one of those texts in the message. `jitlink-args:` gives
//! the command-line options (base, absolute symbols).

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{outcome, scratch_dir, testdata_dir, tool};
use object::{Object, ObjectSection};

fn check_files() -> Vec<PathBuf> {
    let dir = testdata_dir().join("check/x86_64");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "s"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests in {}", dir.display());
    files
}

/// Assembles `source` into `dir/<stem>.o`.
fn assemble(source: &Path, dir: &Path) -> PathBuf {
    let obj = dir.join(source.file_stem().unwrap()).with_extension("o");
    let mut cmd = Command::new(&tool("llvm-mc-19").path);
    cmd.args(["-filetype=obj", "-triple=x86_64-unknown-linux-gnu", "-o"])
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

#[test]
fn every_check_file_passes() {
    let dir = scratch_dir("check");
    let mut failures = Vec::new();
    for source in check_files() {
        let text = std::fs::read_to_string(&source).unwrap();
        let obj = assemble(&source, &dir);
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
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
    let dir = scratch_dir("check-cover");
    let mut seen = BTreeSet::new();
    for source in check_files() {
        let data = std::fs::read(assemble(&source, &dir)).unwrap();
        let file = object::File::parse(&*data).unwrap();
        for sec in file.sections() {
            for (_, r) in sec.relocations() {
                if let object::RelocationFlags::Elf { r_type } = r.flags() {
                    seen.insert(r_type);
                }
            }
        }
    }
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
         # jitlink-check: nosuch = 1\n# jitlink-check: got_addr(v) = 0\n",
    )
    .unwrap();
    let obj = assemble(&source, &dir);
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
