//! Shared by `tests/macho.rs` and `tests/coff.rs`: compiles the freestanding programs of
//! `testdata/formats/` for a foreign object format and compares each entry point's run through
//! `jitlink --entry` with the ELF build of the same sources linked by gcc.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// The checksum program's sources and entry points.
pub const PROGRAM: &[&str] = &[
    "ck_main",
    "ck_tables",
    "ck_funcs",
    "ck_weak",
    "ck_imported",
    "hello",
];
pub const ENTRIES: &[&str] = &[
    "run_checksum",
    "run_switch",
    "run_pointers",
    "run_linkage",
    "run_hello",
];

pub fn formats_dir() -> PathBuf {
    testdata_dir().join("formats")
}

/// Runs `cmd`, panicking with its output if it fails.
pub fn must(mut cmd: Command, what: &str) {
    let line = shell_line(&cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {line}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles `sources` (names in `testdata/formats`, without `.c`) with `compiler args` into
/// `dir`; returns the objects.
pub fn compile_objects(
    dir: &Path,
    compiler: &str,
    args: &[&str],
    sources: &[&str],
) -> Vec<PathBuf> {
    let cc = tool(compiler);
    sources
        .iter()
        .map(|s| {
            let obj = dir.join(format!("{s}.o"));
            let mut cmd = Command::new(&cc.path);
            cmd.args(args)
                .args(["-ffreestanding", "-fno-stack-protector", "-c"])
                .arg(formats_dir().join(format!("{s}.c")))
                .arg("-o")
                .arg(&obj);
            must(
                cmd,
                &format!("compiling {s}.c with {compiler} {}", args.join(" ")),
            );
            obj
        })
        .collect()
}

/// The ELF build of the program whose `main` returns `entry()`, linked by gcc.
pub fn native_program(dir: &Path, entry: &str, defines: &[&str]) -> PathBuf {
    native_program_with(dir, "gcc", entry, defines)
}

/// [`native_program`] built by the gcc driver `gcc` (a cross compiler for aarch64).
pub fn native_program_with(dir: &Path, gcc: &str, entry: &str, defines: &[&str]) -> PathBuf {
    let exe = dir.join(format!("native-{gcc}-{entry}"));
    let mut cmd = Command::new(&tool(gcc).path);
    cmd.args(["-O2", &format!("-DENTRY={entry}")]).args(defines);
    for s in PROGRAM {
        cmd.arg(formats_dir().join(format!("{s}.c")));
    }
    cmd.arg(formats_dir().join("entry_main.c"))
        .arg("-o")
        .arg(&exe);
    must(cmd, "building the ELF program");
    exe
}

/// Compiles the program with `compiler args`, runs every entry through jitlink (with
/// `jit_options` before the inputs) and compares exit status and output with the ELF build.
/// Returns the failures.
pub fn check_program(
    label: &str,
    compiler: &str,
    args: &[&str],
    native_defines: &[&str],
    jit_options: &[&str],
) -> Vec<String> {
    let dir = scratch_dir(label);
    let objs = compile_objects(&dir, compiler, args, PROGRAM);
    let mut failures = Vec::new();
    for entry in ENTRIES {
        let native = native_program(&dir, entry, native_defines);
        let mut options = jit_options.to_vec();
        options.extend(["--entry", entry]);
        let (out, verdict) = run_both_with_options(
            &format!("{label} {entry}"),
            &native,
            &options,
            &objs,
            &RunSpec::default(),
        );
        // The program must have computed something: every entry returns a non-zero value.
        if out.status.code() == Some(0) {
            failures.push(format!("[{label} {entry}] the ELF build returned 0"));
        }
        if let Err(e) = verdict {
            failures.push(e);
        }
    }
    failures
}

/// Runs jitlink with `args`; returns (exit code, stdout, stderr).
pub fn jitlink(args: &[&str], inputs: &[PathBuf]) -> (Option<i32>, String, String) {
    let mut cmd = jitlink_command(args, inputs, &[]);
    outcome(&mut cmd)
}

/// Compiles the program with `compiler args` for aarch64, runs every entry through
/// `jitlink --executor qemu` and compares with the aarch64-linux-gnu-gcc build under qemu-user.
/// printf is left out (`-DNO_PRINTF`): Apple's and Windows' arm64 conventions pass variadic
/// arguments differently from glibc's.
pub fn check_program_under_qemu(label: &str, compiler: &str, args: &[&str]) -> Vec<String> {
    let dir = scratch_dir(label);
    let mut args = args.to_vec();
    args.push("-DNO_PRINTF");
    let objs = compile_objects(&dir, compiler, &args, PROGRAM);
    let mut failures = Vec::new();
    for entry in ENTRIES {
        let native = native_program_with(&dir, "aarch64-linux-gnu-gcc", entry, &["-DNO_PRINTF"]);
        let mut native_cmd = Command::new(&tool("qemu-aarch64").path);
        native_cmd.arg("-L").arg(AARCH64_SYSROOT).arg(&native);
        let (out, verdict) = run_both_command(
            &format!("{label} {entry}"),
            native_cmd,
            &["--executor", "qemu", "--entry", entry],
            &objs,
            &RunSpec::default(),
        );
        if out.status.code() == Some(0) {
            failures.push(format!("[{label} {entry}] the ELF build returned 0"));
        }
        if let Err(e) = verdict {
            failures.push(e);
        }
    }
    failures
}
