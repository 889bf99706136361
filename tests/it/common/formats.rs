//! Shared by the `macho` and `coff` tests: compiles the freestanding programs of
//! `testdata/formats/` for a foreign object format and compares each entry point's run through
//! `jitlink --entry` with the ELF build of the same sources linked by gcc.

use std::path::PathBuf;

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

/// Compiles `sources` (names in `testdata/formats`, without `.c`) with `compiler args`,
/// freestanding; returns the objects (cached).
pub fn compile_objects(compiler: &str, args: &[&str], sources: &[&str]) -> Vec<PathBuf> {
    let mut flags: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    flags.extend(["-ffreestanding", "-fno-stack-protector"].map(String::from));
    let jobs: Vec<CompileJob> = sources
        .iter()
        .map(|s| {
            CompileJob::with_tool(tool(compiler), formats_dir().join(format!("{s}.c")), &flags)
        })
        .collect();
    compile_all(&jobs)
}

/// The ELF build of the program whose `main` returns `entry()`, linked by gcc.
pub fn native_program(entry: &str, defines: &[&str]) -> PathBuf {
    native_program_with("gcc", entry, defines)
}

/// [`native_program`] built by the gcc driver `gcc` (a cross compiler for aarch64); cached.
pub fn native_program_with(gcc: &str, entry: &str, defines: &[&str]) -> PathBuf {
    let cc = tool(gcc);
    let mut flags = vec!["-O2".to_string()];
    flags.extend(defines.iter().map(|d| d.to_string()));
    let mut jobs: Vec<CompileJob> = PROGRAM
        .iter()
        .map(|s| CompileJob::with_tool(cc, formats_dir().join(format!("{s}.c")), &flags))
        .collect();
    flags.push(format!("-DENTRY={entry}"));
    jobs.push(CompileJob::with_tool(
        cc,
        formats_dir().join("entry_main.c"),
        &flags,
    ));
    let objects = compile_all(&jobs);
    link_executable(
        cc,
        &[],
        &objects,
        &[],
        &format!("native-{gcc}-{entry}"),
        "the ELF program",
    )
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
    check_entries(
        label,
        compiler,
        args,
        Compiler::Gcc,
        native_defines,
        jit_options,
    )
}

/// Compiles the program with `compiler args` for aarch64, runs every entry through
/// `jitlink --executor qemu` and compares with the aarch64-linux-gnu-gcc build under qemu-user.
/// printf is left out (`-DNO_PRINTF`): Apple's and Windows' arm64 conventions pass variadic
/// arguments differently from glibc's.
pub fn check_program_under_qemu(label: &str, compiler: &str, args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("-DNO_PRINTF");
    check_entries(
        label,
        compiler,
        &args,
        Compiler::Aarch64Gcc,
        &["-DNO_PRINTF"],
        &["--executor", "qemu"],
    )
}

/// Compiles the program with `compiler args` and compares every entry's jitlink run (with
/// `jit_options` and `--entry`) with the ELF build of `native` (a cross compiler's runs under
/// qemu-user). Returns the failures.
fn check_entries(
    label: &str,
    compiler: &str,
    args: &[&str],
    native: Compiler,
    native_defines: &[&str],
    jit_options: &[&str],
) -> Vec<String> {
    let objs = compile_objects(compiler, args, PROGRAM);
    let mut failures = Vec::new();
    for entry in ENTRIES {
        let exe = native_program_with(native.program(), entry, native_defines);
        let mut options = jit_options.to_vec();
        options.extend(["--entry", entry]);
        let (out, verdict) = run_both_command(
            &format!("{label} {entry}"),
            native_command(native, &exe),
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

/// Assembles `testdata/formats/<source>` for `triple` and links it alone at `base` through the
/// one pipeline's fixed-base target, with the absolute symbol `ext` at `ext`.
pub fn assembled_at_base(
    triple: &str,
    source: &str,
    base: u64,
    ext: u64,
) -> jitlink::image::LinkedImage {
    let dir = scratch_dir(&format!("{source}-fixed"));
    let obj = super::asm::assemble(triple, &formats_dir().join(source), &dir);
    let bytes = std::fs::read(&obj).unwrap();
    jitlink::image::link_at_base(
        &[(obj.display().to_string(), bytes)],
        base,
        &[("ext".to_string(), ext)],
    )
    .unwrap_or_else(|e| panic!("{source} at {base:#x}: {e}"))
}
