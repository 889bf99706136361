//! Assembly inputs: llvm-mc-19 for every target the tests use, the `--check` files of
//! `testdata/check/<arch>/`, the relocation types an object carries, and decoding of the AArch64
//! instructions whose fields relocations patch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection};

use super::*;

pub const X86_64_LINUX: &str = "x86_64-unknown-linux-gnu";
pub const AARCH64_LINUX: &str = "aarch64-linux-gnu";
pub const RISCV64_LINUX: &str = "riscv64-linux-gnu";
pub const X86_64_MACOS: &str = "x86_64-apple-macos11";
pub const ARM64_MACOS: &str = "arm64-apple-macos11";
pub const X86_64_WINDOWS: &str = "x86_64-pc-windows-msvc";
pub const AARCH64_WINDOWS: &str = "aarch64-pc-windows-msvc";

/// Assembles `source` for `triple` into `obj` with llvm-mc-19; panics with its message.
pub fn assemble_to(triple: &str, source: &Path, obj: &Path) -> PathBuf {
    let mut cmd = Command::new(&tool("llvm-mc-19").path);
    cmd.args(["-filetype=obj", &format!("-triple={triple}")]);
    if triple.starts_with("riscv64") {
        // The ABI of riscv64 Linux (jitlink refuses the soft-float default of llvm-mc).
        cmd.args(["-mattr=+d", "-target-abi=lp64d"]);
    }
    cmd.arg("-o").arg(obj).arg(source);
    let (code, _, err) = outcome(&mut cmd);
    assert_eq!(code, Some(0), "llvm-mc-19 {}: {err}", source.display());
    obj.to_path_buf()
}

/// Assembles `source` for `triple` into `dir/<stem>.o`.
pub fn assemble(triple: &str, source: &Path, dir: &Path) -> PathBuf {
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("source");
    assemble_to(triple, source, &dir.join(format!("{stem}.o")))
}

/// Writes `text` to `dir/<name>.s` and assembles it for `triple` into `dir/<name>.o`.
pub fn assemble_text(triple: &str, dir: &Path, name: &str, text: &str) -> PathBuf {
    let src = dir.join(format!("{name}.s"));
    fs::write(&src, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", src.display()));
    assemble_to(triple, &src, &dir.join(format!("{name}.o")))
}

/// The relocation types (`r_type`) of every ELF object in `objects`.
pub fn elf_relocation_types(objects: &[PathBuf]) -> BTreeSet<u32> {
    let mut seen = BTreeSet::new();
    for obj in objects {
        let data = fs::read(obj).unwrap_or_else(|e| panic!("cannot read {}: {e}", obj.display()));
        let file = object::File::parse(&*data).expect("parse object");
        for sec in file.sections() {
            for (_, r) in sec.relocations() {
                if let object::RelocationFlags::Elf { r_type } = r.flags() {
                    seen.insert(r_type);
                }
            }
        }
    }
    seen
}

// ---------------------------------------------------------------------------
// `jitlink --check` files.

/// The check files of `testdata/check/<arch>/`, sorted.
pub fn check_files(arch: &str) -> Vec<PathBuf> {
    files_with_extension(&testdata_dir().join("check").join(arch), "s")
}

/// Every check file of `arch`, assembled for `triple` into a scratch directory.
pub fn assembled_check_files(arch: &str, triple: &str) -> Vec<PathBuf> {
    let dir = scratch_dir(&format!("check-{arch}-objects"));
    check_files(arch)
        .iter()
        .map(|source| assemble(triple, source, &dir))
        .collect()
}

/// The values of every `key` line of `text`.
pub fn directives<'t>(text: &'t str, key: &str) -> Vec<&'t str> {
    text.lines()
        .filter_map(|l| l.split_once(key).map(|(_, v)| v.trim()))
        .collect()
}

/// Runs `jitlink args inputs`; returns the exit code and stdout and stderr together.
pub fn run_check(args: &[&str], inputs: &[&Path]) -> (Option<i32>, String) {
    let mut cmd = Command::new(jitlink_path());
    cmd.args(args).args(inputs);
    let (code, out, err) = outcome(&mut cmd);
    (code, format!("{out}{err}"))
}

/// Assembles every check file of `arch` for `triple` and links it at a fixed base with its
/// `jitlink-args:`: one with `jitlink-check:` lines must pass them all (exit 0, no output), one
/// with `jitlink-error:` lines must fail to link with each of those texts in the message.
pub fn every_check_file_passes(arch: &str, triple: &str) {
    let dir = scratch_dir(&format!("check-{arch}"));
    let mut failures = Vec::new();
    for source in check_files(arch) {
        let text = fs::read_to_string(&source).expect("read check file");
        let obj = assemble(triple, &source, &dir);
        let args: Vec<&str> = directives(&text, "jitlink-args:")
            .into_iter()
            .flat_map(str::split_whitespace)
            .collect();
        let errors = directives(&text, "jitlink-error:");
        let checks = directives(&text, "jitlink-check:");
        let (code, output) = if errors.is_empty() {
            assert!(!checks.is_empty(), "{}: no checks", source.display());
            run_check(&args, &[Path::new("--check"), &source, &obj])
        } else {
            run_check(&args, &[&obj])
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

// ---------------------------------------------------------------------------
// AArch64 instruction fields.

/// `v`'s low `bits` bits, sign-extended.
pub fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// The signed 21-bit immediate of an `adr` or `adrp` (immlo, immhi).
pub fn adr_imm(insn: u32) -> i64 {
    sext(
        u64::from((insn >> 29) & 3) | (u64::from((insn >> 5) & 0x7ffff) << 2),
        21,
    )
}

/// The page an `adrp` at `p` addresses.
pub fn adrp_page(insn: u32, p: u64) -> u64 {
    assert_eq!(insn & 0x9f00_0000, 0x9000_0000, "not adrp: {insn:#010x}");
    (p & !0xfff).wrapping_add((adr_imm(insn) << 12) as u64)
}

/// The byte offset an `add` or load/store (unsigned offset) adds, scaled by its access size.
pub fn lo12(insn: u32) -> u64 {
    let imm = u64::from((insn >> 10) & 0xfff);
    if insn & 0x1f00_0000 == 0x1100_0000 {
        return imm;
    }
    assert_eq!(insn & 0x3b00_0000, 0x3900_0000, "not add/ldr: {insn:#010x}");
    let mut size = insn >> 30;
    if size == 0 && insn & 0x0480_0000 == 0x0480_0000 {
        size = 4;
    }
    imm << size
}

/// Where a branch at `p` goes: `b`/`bl` (26 bits), `b.cond`/`cbz` (19 bits at bit 5) or
/// `tbz` (14 bits at bit 5).
pub fn branch_target(insn: u32, p: u64, bits: u32) -> u64 {
    let field = if bits == 26 { insn } else { insn >> 5 };
    p.wrapping_add((sext(u64::from(field) & ((1 << bits) - 1), bits) << 2) as u64)
}
