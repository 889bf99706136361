//! Link errors through the command line: inputs are generated and compiled
//! at test time. Every error must end `jitlink` with a non-zero exit code
//! (not a signal, not a Rust panic), an explanation on stderr that names
//! what is wrong, and nothing run (empty stdout).

use crate::common;

use std::path::PathBuf;

use common::rng::{Random, XorShift64Star};
use common::*;

/// Checks that a run is a clean, explained failure mentioning every string
/// in `mentions`.
fn expect_link_error(
    label: &str,
    outcome: &Outcome,
    line: &str,
    mentions: &[&str],
) -> Result<(), String> {
    let stderr = outcome.stderr_text();
    let mut problems = Vec::new();
    match outcome.status.code() {
        None => problems.push(format!("ended by a signal: {}", outcome.describe_status())),
        Some(0) => problems.push("exit code 0".to_string()),
        Some(101) => problems.push("exit code 101 (a Rust panic)".to_string()),
        Some(_) => {}
    }
    if outcome.hung {
        problems.push("hung".to_string());
    }
    if stderr.contains("panicked") {
        problems.push("stderr shows a Rust panic".to_string());
    }
    if stderr.trim().is_empty() {
        problems.push("stderr is empty: the error is not explained".to_string());
    }
    for m in mentions {
        if !stderr.contains(m) {
            problems.push(format!("stderr does not mention `{m}`"));
        }
    }
    if !outcome.stdout.is_empty() {
        problems.push("stdout is not empty: something ran".to_string());
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "[{label}] expected a clean link error\n  command: {line}\n  status:  {}\n  problems: {}\n  stderr:\n{}\n  stdout:\n{}",
        outcome.describe_status(),
        problems.join("; "),
        indent(&stderr),
        indent(&outcome.stdout_text())
    ))
}

/// A few configurations are enough for error paths: both compilers, with
/// GOT-based and absolute code.
fn error_configs() -> Vec<Config> {
    vec![
        Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false),
        Config::new(Compiler::Gcc, Opt::O2, Pic::NoPic, false, false),
        Config::new(Compiler::Clang, Opt::O2, Pic::Pic, false, false),
        Config::new(Compiler::Clang, Opt::O0, Pic::NoPic, true, true),
    ]
}

const HELLO: &str = r#"
#include <stdio.h>
int main(void)
{
    puts("hello from a program that --noexec must not run");
    return 0;
}
"#;

#[test]
fn undefined_symbols_are_named() {
    let main = r#"
int jitlink_test_missing_function(int);
extern int jitlink_test_missing_data;
int main(void)
{
    return jitlink_test_missing_function(2) + jitlink_test_missing_data;
}
"#;
    let mut failures = Failures::new("undefined symbols");
    for config in error_configs() {
        let objs = compile_generated(&config, &[("undefined_main.c", main)]);
        let label = format!("undefined {config}");
        let (out, line) = run_jitlink(&[], &objs, &label);
        failures.record(expect_link_error(
            &label,
            &out,
            &line,
            &["jitlink_test_missing_function", "jitlink_test_missing_data"],
        ));
    }
    failures.finish();
}

#[test]
fn duplicate_definitions_name_symbol_and_both_files() {
    let first = "int jitlink_test_duplicate = 1;\nint first_value(void) { return jitlink_test_duplicate; }\n";
    let second = "int jitlink_test_duplicate = 2;\nint second_value(void) { return jitlink_test_duplicate; }\n";
    let main = r#"
int first_value(void);
int second_value(void);
int main(void) { return first_value() + second_value(); }
"#;
    let dup_fn_a = "int jitlink_test_dup_fn(void) { return 1; }\nint use_a(void) { return jitlink_test_dup_fn(); }\n";
    let dup_fn_b = "int jitlink_test_dup_fn(void) { return 2; }\nint use_b(void) { return jitlink_test_dup_fn(); }\n";
    let main_fn =
        "int use_a(void);\nint use_b(void);\nint main(void) { return use_a() + use_b(); }\n";
    let mut failures = Failures::new("duplicate definitions");
    for config in error_configs() {
        let objs = compile_generated(
            &config,
            &[
                ("dup_main.c", main),
                ("dup_first.c", first),
                ("dup_second.c", second),
            ],
        );
        let label = format!("duplicate data {config}");
        let (out, line) = run_jitlink(&[], &objs, &label);
        failures.record(expect_link_error(
            &label,
            &out,
            &line,
            &["jitlink_test_duplicate", "dup_first.o", "dup_second.o"],
        ));

        let objs = compile_generated(
            &config,
            &[
                ("dupfn_main.c", main_fn),
                ("dupfn_a.c", dup_fn_a),
                ("dupfn_b.c", dup_fn_b),
            ],
        );
        let label = format!("duplicate function {config}");
        let (out, line) = run_jitlink(&[], &objs, &label);
        failures.record(expect_link_error(
            &label,
            &out,
            &line,
            &["jitlink_test_dup_fn", "dupfn_a.o", "dupfn_b.o"],
        ));
    }
    failures.finish();
}

/// An object whose data section carries one relocation of type `reloc`
/// (written with the assembler's `.reloc` directive) against a symbol of
/// the same object.
fn object_with_relocation(config: &Config, reloc: &str) -> PathBuf {
    let source = format!(
        r#"
int reloc_target = 5;
__asm__(".pushsection .data.reloc_test,\"aw\",@progbits\n"
        ".globl reloc_slot\n"
        "reloc_slot:\n"
        ".reloc reloc_slot, {reloc}, reloc_target\n"
        ".quad 0\n"
        ".popsection\n");
int main(void) {{ return reloc_target; }}
"#
    );
    compile_generated(config, &[(&format!("reloc_{reloc}.c"), &source)]).remove(0)
}

/// Dynamic relocation types never belong in a relocatable object: the error
/// names the type.
#[test]
fn dynamic_relocations_are_rejected_by_name() {
    let mut failures = Failures::new("dynamic relocations in an object");
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O0, Pic::Pie, false, false);
        for reloc in ["R_X86_64_COPY", "R_X86_64_RELATIVE", "R_X86_64_GLOB_DAT"] {
            let obj = object_with_relocation(&config, reloc);
            let label = format!("{reloc} {config}");
            let (out, line) = run_jitlink(&[], &[obj], &label);
            failures.record(expect_link_error(&label, &out, &line, &[reloc]));
        }
    }
    failures.finish();
}

/// A fixup that overflows names the input section it is in, even where the linker gathers
/// `.data.*` sections into one (`-fdata-sections` names), with the offset, kind and target.
#[test]
fn fixup_overflow_names_the_input_section() {
    let mut failures = Failures::new("fixup overflow");
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O0, Pic::Pie, false, false);
        // An 8-bit absolute relocation against a data symbol: its address does not fit.
        let obj = object_with_relocation(&config, "R_X86_64_8");
        let label = format!("R_X86_64_8 {config}");
        let (out, line) = run_jitlink(&[], &[obj], &label);
        failures.record(expect_link_error(
            &label,
            &out,
            &line,
            &["section .data.reloc_test", "reloc_target", "out of range"],
        ));
    }
    failures.finish();
}

/// Rewrites the type of every relocation of type `from` in an ELF64
/// little-endian object's SHT_RELA sections to `to`; returns how many.
fn retype_relocations(bytes: &mut [u8], from: u32, to: u32) -> usize {
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let shoff = u64_at(bytes, 0x28);
    let shentsize = u16_at(bytes, 0x3a);
    let shnum = u16_at(bytes, 0x3c);
    let mut changed = 0;
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        let sh_type = u32::from_le_bytes(bytes[sh + 4..sh + 8].try_into().unwrap());
        if sh_type != 4 {
            continue; // not SHT_RELA
        }
        let (offset, size) = (u64_at(bytes, sh + 0x18), u64_at(bytes, sh + 0x20));
        for entry in (offset..offset + size).step_by(24) {
            let info = entry + 8;
            if u32::from_le_bytes(bytes[info..info + 4].try_into().unwrap()) == from {
                bytes[info..info + 4].copy_from_slice(&to.to_le_bytes());
                changed += 1;
            }
        }
    }
    changed
}

/// A relocation type number that x86-64 does not define: the error gives
/// the number and the file.
#[test]
fn unknown_relocation_type_is_rejected() {
    const R_X86_64_COPY: u32 = 5;
    let config = Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false);
    let mut bytes =
        std::fs::read(object_with_relocation(&config, "R_X86_64_COPY")).expect("read object");
    assert_eq!(
        retype_relocations(&mut bytes, R_X86_64_COPY, 250),
        1,
        "the test object has one COPY relocation"
    );
    let dir = scratch_dir("unknown-reloc");
    let input = write_input(&dir, "unknown-reloc-250.o", &bytes);
    let (out, line) = run_jitlink(&[], &[input], "unknown relocation");
    let verdict = expect_link_error(
        "unknown relocation",
        &out,
        &line,
        &["unknown-reloc-250.o", "250"],
    );
    let _ = std::fs::remove_dir_all(&dir);
    verdict.unwrap_or_else(|e| panic!("{e}"));
}

/// General-dynamic TLS access (what -fPIC emits for a preemptible
/// `__thread` variable: R_X86_64_TLSGD and a call to __tls_get_addr) either
/// works exactly like the native link, or, while TLS is not supported, is
/// rejected with an error naming R_X86_64_TLSGD. Never a crash.
#[test]
fn tls_general_dynamic_works_or_is_rejected_by_name() {
    let tls = r#"
__thread int jitlink_test_tls_counter = 40;
int bump_tls(void) { return ++jitlink_test_tls_counter; }
"#;
    let main = "#include <stdio.h>\nint bump_tls(void);\nint main(void) { int a = bump_tls(); printf(\"%d %d\\n\", a, bump_tls()); return 0; }\n";
    let mut failures = Failures::new("TLSGD");
    for compiler in Compiler::ALL {
        for opt in Opt::ALL {
            let config = Config::new(compiler, opt, Pic::Pic, false, false);
            let objs = compile_generated(&config, &[("tls_main.c", main), ("tls_counter.c", tls)]);
            let label = format!("TLSGD {config}");
            let exe = native_link(&config, &objs, "tls-gd");
            let (_, verdict) = run_both(&label, &exe, &objs, &RunSpec::default());
            failures.record(verdict.or_else(|mismatch| {
                let (out, line) = run_jitlink(&[], &objs, &label);
                expect_link_error(&label, &out, &line, &["R_X86_64_TLSGD"])
                    .map_err(|e| format!("{mismatch}\nand not a clean rejection either:\n{e}"))
            }));
        }
    }
    failures.finish();
}

/// A valid object whose bytes the malformed-input tests cut or replace.
fn hello_object() -> PathBuf {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, true);
    compile_generated(&config, &[("hello.c", HELLO)]).remove(0)
}

fn write_input(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    p
}

#[test]
fn truncated_objects_are_rejected() {
    let object = hello_object();
    let bytes = std::fs::read(&object).expect("read hello object");
    let dir = scratch_dir("truncated-inputs");
    let mut failures = Failures::new("truncated objects");
    let len = bytes.len();
    for cut in [
        1,
        4,
        16,
        52,
        63,
        64,
        65,
        200,
        len / 4,
        len / 2,
        len - 64,
        len - 1,
    ] {
        let name = format!("truncated-{cut}.o");
        let input = write_input(&dir, &name, &bytes[..cut]);
        let label = format!("{name} (of {len} bytes)");
        let (out, line) = run_jitlink(&[], &[input], &label);
        failures.record(expect_link_error(&label, &out, &line, &[&name]));
    }
    let _ = std::fs::remove_dir_all(&dir);
    failures.finish();
}

/// `len` deterministic garbage bytes (xorshift64*).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift64Star(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    (0..len).map(|_| (rng.next() >> 56) as u8).collect()
}

#[test]
fn garbage_and_empty_files_are_rejected() {
    let dir = scratch_dir("garbage-inputs");
    let mut inputs: Vec<(String, Vec<u8>)> = vec![("empty.o".to_string(), Vec::new())];
    for (seed, len) in [(1u64, 4096usize), (2, 17), (3, 100_000)] {
        inputs.push((format!("garbage-{seed}.o"), garbage(seed, len)));
    }
    // Random bytes behind a valid ELF identification (64-bit, little endian).
    for seed in [10u64, 11, 12, 13] {
        let mut bytes = garbage(seed, 2048);
        bytes[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
        inputs.push((format!("elf-magic-garbage-{seed}.o"), bytes));
    }
    // Random bytes behind an archive signature.
    let mut bytes = b"!<arch>\n".to_vec();
    bytes.extend(garbage(20, 1000));
    inputs.push(("garbage-archive.a".to_string(), bytes));

    let mut failures = Failures::new("garbage inputs");
    for (name, bytes) in &inputs {
        let input = write_input(&dir, name, bytes);
        let (out, line) = run_jitlink(&[], &[input], name);
        failures.record(expect_link_error(name, &out, &line, &[name.as_str()]));
    }
    let missing = dir.join("no-such-input.o");
    let (out, line) = run_jitlink(&[], &[missing], "missing input");
    failures.record(expect_link_error(
        "missing input",
        &out,
        &line,
        &["no-such-input.o"],
    ));
    let _ = std::fs::remove_dir_all(&dir);
    failures.finish();
}

#[test]
fn noexec_links_without_running() {
    let object = hello_object();
    let mut failures = Failures::new("--noexec");

    // Without --noexec the program runs (so the check below means something).
    let (out, line) = run_jitlink(&[], std::slice::from_ref(&object), "hello");
    failures.record(if out.status.code() == Some(0) && out.stdout_text().contains("must not run") {
        Ok(())
    } else {
        Err(format!(
            "[hello] expected the program to run and print its line\n  command: {line}\n  status: {}\n  stdout:\n{}  stderr:\n{}",
            out.describe_status(),
            indent(&out.stdout_text()),
            indent(&out.stderr_text())
        ))
    });

    let (out, line) = run_jitlink(&["--noexec"], &[object], "hello --noexec");
    failures.record(if out.status.code() == Some(0) && out.stdout.is_empty() && !out.stderr_text().contains("panicked") {
        Ok(())
    } else {
        Err(format!(
            "[hello --noexec] expected exit code 0 and no output from the program\n  command: {line}\n  status: {}\n  stdout:\n{}  stderr:\n{}",
            out.describe_status(),
            indent(&out.stdout_text()),
            indent(&out.stderr_text())
        ))
    });
    failures.finish();
}
