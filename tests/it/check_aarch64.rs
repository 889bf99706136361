//! `jitlink --base ADDR --check FILE` for AArch64: the files under `testdata/check/aarch64/` are
//! assembled with llvm-mc-19 for aarch64-linux-gnu, linked at a fixed base and their
//! `jitlink-check:` lines evaluated by decoding the patched instructions (operands numbered as
//! LLVM's MC layer numbers them).

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{outcome, scratch_dir, testdata_dir, tool};
use object::{Object, ObjectSection};

fn check_files() -> Vec<PathBuf> {
    let dir = testdata_dir().join("check/aarch64");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "s"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests in {}", dir.display());
    files
}

fn assemble(source: &Path, dir: &Path) -> PathBuf {
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("check");
    let obj = dir.join(format!("{stem}.o"));
    let mut cmd = Command::new(&tool("llvm-mc-19").path);
    cmd.args(["-filetype=obj", "-triple=aarch64-linux-gnu", "-o"])
        .arg(&obj)
        .arg(source);
    let (code, _, err) = outcome(&mut cmd);
    assert_eq!(code, Some(0), "llvm-mc-19 {}: {err}", source.display());
    obj
}

#[test]
fn every_aarch64_check_file_passes() {
    let dir = scratch_dir("check-aarch64");
    let mut failures = Vec::new();
    for source in check_files() {
        let text = std::fs::read_to_string(&source).expect("read check file");
        let obj = assemble(&source, &dir);
        let args: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once("jitlink-args:").map(|(_, v)| v))
            .flat_map(str::split_whitespace)
            .collect();
        let checks = text.matches("jitlink-check:").count();
        assert!(checks > 0, "{}: no checks", source.display());
        let mut cmd = Command::new(common::jitlink_path());
        cmd.args(&args).arg("--check").arg(&source).arg(&obj);
        let (code, out, err) = outcome(&mut cmd);
        if code != Some(0) || !out.is_empty() || !err.is_empty() {
            failures.push(format!(
                "{} (exit {code:?}, {checks} checks):\n{out}{err}",
                source.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
    let dir = scratch_dir("check-aarch64-cover");
    let mut seen = BTreeSet::new();
    for source in check_files() {
        let data = std::fs::read(assemble(&source, &dir)).expect("read object");
        let file = object::File::parse(&*data).expect("parse object");
        for sec in file.sections() {
            for (_, r) in sec.relocations() {
                if let object::RelocationFlags::Elf { r_type } = r.flags() {
                    seen.insert(r_type);
                }
            }
        }
    }
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
