//! COFF x86-64 objects: programs compiled by clang for x86_64-pc-windows-msvc and by
//! x86_64-w64-mingw32-gcc run in process through `jitlink --entry` (called with the Windows x64
//! convention) and agree with the ELF build of the same sources; COMDAT selections from
//! hand-written assembly.

mod common;
#[path = "common/formats.rs"]
mod formats;

use std::process::Command;

use common::*;
use formats::*;

// COFF code reaches the host only through Windows x64 thunks, which offer no printf: the ELF
// build leaves printf out too.
const NO_PRINTF: &[&str] = &["-DNO_PRINTF"];

#[test]
fn clang_msvc_programs_agree_with_the_elf_build() {
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &["-O2", "-ffunction-sections", "-fdata-sections"],
    ] {
        let mut args = vec!["--target=x86_64-pc-windows-msvc"];
        args.extend_from_slice(opt);
        failures.extend(check_program(
            &format!("msvc {}", opt.join(" ")),
            "clang-19",
            &args,
            NO_PRINTF,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn mingw_gcc_programs_agree_with_the_elf_build() {
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &["-O2", "-ffunction-sections", "-fdata-sections"],
    ] {
        failures.extend(check_program(
            &format!("mingw {}", opt.join(" ")),
            "x86_64-w64-mingw32-gcc",
            opt,
            NO_PRINTF,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Two objects defining COMDAT `val` with `selection` (4 bytes holding 5, then 8 bytes holding
/// 9 when `sizes_differ`, else 4 bytes holding `second`); `run` in the first returns `val`.
fn comdat_pair(
    label: &str,
    selection: &str,
    sizes_differ: bool,
    second: u32,
) -> Vec<std::path::PathBuf> {
    let dir = scratch_dir(label);
    let first = format!(
        ".text\n.globl run\nrun:\n movl val(%rip), %eax\n ret\n\
         .section .data$val,\"dw\",{selection},val\n.globl val\n.p2align 3\nval:\n .long 5\n"
    );
    let other = if sizes_differ {
        ".quad 9".to_string()
    } else {
        format!(".long {second}")
    };
    let second_src = format!(
        ".text\n.globl other\nother:\n ret\n\
         .section .data$val,\"dw\",{selection},val\n.globl val\n.p2align 3\nval:\n {other}\n"
    );
    [("first", first), ("second", second_src)]
        .iter()
        .map(|(name, text)| {
            let src = dir.join(format!("{name}.s"));
            std::fs::write(&src, text).unwrap();
            let obj = dir.join(format!("{name}.o"));
            let mut cmd = Command::new(&tool("llvm-mc-19").path);
            cmd.args(["-triple=x86_64-pc-windows-msvc", "-filetype=obj"])
                .arg(&src)
                .arg("-o")
                .arg(&obj);
            must(cmd, "assembling a COMDAT object");
            obj
        })
        .collect()
}

#[test]
fn comdat_selections() {
    let run = |label: &str, sel: &str, differ: bool, second: u32| {
        let objs = comdat_pair(label, sel, differ, second);
        jitlink(&["--entry", "run"], &objs)
    };
    // ANY, SAME_SIZE and EXACT_MATCH keep the first copy when the second may be dropped.
    assert_eq!(run("any", "discard", true, 0).0, Some(5));
    assert_eq!(run("same-size", "same_size", false, 7).0, Some(5));
    assert_eq!(run("exact", "same_contents", false, 5).0, Some(5));
    // LARGEST takes the larger copy, even when it comes second.
    assert_eq!(run("largest", "largest", true, 0).0, Some(9));
    assert_eq!(run("largest-first", "largest", false, 3).0, Some(5));
    // Errors: a second NODUPLICATES copy, sizes or contents that differ, NEWEST.
    for (label, sel, differ, second, what) in [
        (
            "nodup",
            "one_only",
            false,
            5,
            "duplicate definition of symbol val",
        ),
        ("same-size-bad", "same_size", true, 0, "SAME_SIZE"),
        ("exact-bad", "same_contents", false, 6, "EXACT_MATCH"),
        ("newest", "newest", false, 5, "NEWEST"),
    ] {
        let (code, _, stderr) = run(label, sel, differ, second);
        assert_eq!(code, Some(1), "[{label}] {stderr}");
        assert!(
            stderr.contains(what) && stderr.contains(".o"),
            "[{label}] expected {what:?} naming the file: {stderr}"
        );
    }
}
