//! Mach-O x86-64 objects: programs compiled by clang for x86_64-apple-macos run in process
//! through `jitlink --entry` and agree with the ELF build of the same sources; hand-written
//! assembly checks SUBTRACTOR pairs and section-relative relocations; thread-local variables
//! are rejected with a clear error.

mod common;
#[path = "common/formats.rs"]
mod formats;

use std::process::Command;

use common::*;
use formats::*;

const TARGET: &str = "--target=x86_64-apple-macos11";

#[test]
fn programs_agree_with_the_elf_build() {
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &[
            "-O2",
            "-ffunction-sections",
            "-fno-asynchronous-unwind-tables",
        ],
    ] {
        let mut args = vec![TARGET];
        args.extend_from_slice(opt);
        failures.extend(check_program(
            &format!("macho {}", opt.join(" ")),
            "clang-19",
            &args,
            &[],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn printf_from_macho_code() {
    // run_hello calls printf, puts, strlen and memset of the host C library.
    let dir = scratch_dir("macho-printf");
    let objs = compile_objects(&dir, "clang-19", &[TARGET, "-O1"], &["hello"]);
    let native = native_program(&dir, "run_hello", &[]);
    let (out, verdict) = run_both_with_options(
        "macho printf",
        &native,
        &["--entry", "run_hello"],
        &objs,
        &RunSpec::default(),
    );
    verdict.unwrap();
    assert!(
        out.stdout_text().contains("characters"),
        "printf printed nothing: {}",
        out.stdout_text()
    );
}

#[test]
fn subtractor_pairs_and_section_relative_relocations() {
    // The program checks its own relocated values and returns the number of the first failed
    // check (0 when all hold): SUBTRACTOR with the subtrahend in the fixup's block (64 and 32
    // bits), with the minuend there (a negated delta), and SIGNED/UNSIGNED relocations against
    // a section (non-extern) rather than a symbol.
    let dir = scratch_dir("macho-asm");
    let obj = dir.join("macho_reloc.o");
    let mut cmd = Command::new(&tool("llvm-mc-19").path);
    cmd.args(["-triple=x86_64-apple-macos11", "-filetype=obj"])
        .arg(formats_dir().join("macho_reloc.s"))
        .arg("-o")
        .arg(&obj);
    must(cmd, "assembling macho_reloc.s");
    let (code, _, stderr) = jitlink(&["--entry", "run"], &[obj]);
    assert_eq!(
        code,
        Some(0),
        "a relocation check failed (exit code = check number): {stderr}"
    );
}

#[test]
fn thread_local_variables_are_rejected() {
    let dir = scratch_dir("macho-tlv");
    let src = dir.join("tlv.c");
    std::fs::write(&src, "__thread int t = 3;\nint run(void) { return t; }\n").unwrap();
    let obj = dir.join("tlv.o");
    let mut cmd = Command::new(&tool("clang-19").path);
    cmd.args([TARGET, "-O2", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj);
    must(cmd, "compiling tlv.c");
    let (code, _, stderr) = jitlink(&["--entry", "run"], &[obj]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("tlv.o") && stderr.contains("TLV"),
        "the error should name the file and the TLV runtime: {stderr}"
    );
}
