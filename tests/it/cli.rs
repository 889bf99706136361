//! Command-line options of `jitlink` other than plain linking: `--entry`,
//! `--abs`, `-L`/`-l`, `--show-graph` and `--timings`.

use crate::common;

use common::*;

fn configs() -> Vec<Config> {
    vec![
        Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false),
        Config::new(Compiler::Clang, Opt::O0, Pic::Pic, false, true),
        Config::new(Compiler::Gcc, Opt::O0, Pic::NoPic, true, false),
    ]
}

fn expect(label: &str, out: &Outcome, line: &str, code: i32, stdout: &str) -> Result<(), String> {
    if out.status.code() == Some(code)
        && out.stdout_text() == stdout
        && !out.stderr_text().contains("panicked")
    {
        return Ok(());
    }
    Err(format!(
        "[{label}]\n  command: {line}\n  status:  {} (expected exit code {code})\n{}  stderr:\n{}",
        out.describe_status(),
        diff_stream("stdout", stdout.as_bytes(), &out.stdout),
        indent(&out.stderr_text())
    ))
}

#[test]
fn entry_option_selects_the_entry_point() {
    let source = r#"
#include <stdio.h>
int main(void) { puts("main must not run"); return 1; }
int alt_entry(int argc, char **argv, char **envp)
{
    int vars = 0;
    while (envp[vars]) vars++;
    printf("alt_entry argc=%d argv[1]=%s argv[2]=%s argv[3]=%s env=%s\n", argc, argv[1], argv[2],
           argv[3] ? argv[3] : "(null)", vars > 0 ? "present" : "missing");
    return 9;
}
"#;
    let mut failures = Failures::new("--entry");
    for config in configs() {
        let objs = compile_generated(&config, &[("entry.c", source)]);
        let cmd = jitlink_command(
            &["--entry", "alt_entry"],
            &objs,
            &["x".to_string(), "y z".to_string()],
        );
        let (out, line) = run_command(cmd, "entry");
        failures.record(expect(
            &format!("--entry {config}"),
            &out,
            &line,
            9,
            "alt_entry argc=3 argv[1]=x argv[2]=y z argv[3]=(null) env=present\n",
        ));
    }
    failures.finish();
}

#[test]
fn abs_defines_absolute_symbols() {
    // Referenced through the GOT (-fPIC): an absolute address is not within
    // reach of a PC-relative reference from JIT memory in general.
    let source = r#"
#include <stdio.h>
extern char jitlink_test_abs_hex[];
extern char jitlink_test_abs_dec[];
int main(void)
{
    printf("%#lx %lu\n", (unsigned long)jitlink_test_abs_hex, (unsigned long)jitlink_test_abs_dec);
    return 0;
}
"#;
    let mut failures = Failures::new("--abs");
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O2, Pic::Pic, false, false);
        let objs = compile_generated(&config, &[("abs.c", source)]);
        let options = [
            "--abs",
            "jitlink_test_abs_hex=0x7f0012345678",
            "--abs",
            "jitlink_test_abs_dec=4096",
        ];
        let (out, line) = run_jitlink(&options, &objs, "abs");
        failures.record(expect(
            &format!("--abs {config}"),
            &out,
            &line,
            0,
            "0x7f0012345678 4096\n",
        ));
    }
    failures.finish();
}

/// `-L DIR -l NAME` finds `DIR/libNAME.a`; compared with the native link
/// using the same options.
#[test]
fn library_search_links_static_archives() {
    let lib_a = "int lib_square(int x) { return x * x; }\nconst char *lib_name(void) { return \"libjltest\"; }\n";
    let lib_b = "int lib_square(int);\nint lib_cube(int x) { return x * lib_square(x); }\n";
    let unused = "int lib_unused(void) { return 12345; }\n";
    let main = r#"
#include <stdio.h>
#include <stdlib.h>
int lib_cube(int);
const char *lib_name(void);
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("%s: cube(%s) = %d\n", lib_name(), argv[i], lib_cube(atoi(argv[i])));
    return 0;
}
"#;
    let mut failures = Failures::new("-L/-l");
    for config in configs() {
        let objs = compile_generated(
            &config,
            &[
                ("lib_main.c", main),
                ("lib_a.c", lib_a),
                ("lib_b.c", lib_b),
                ("lib_unused.c", unused),
            ],
        );
        let dir = scratch_dir("libdir");
        let lib = dir.join("libjltest.a");
        std::fs::copy(archive(&objs[1..], "libjltest"), &lib).expect("copy archive");
        let exe = dir.join("main");
        let status = std::process::Command::new(&config.compiler.tool().path)
            .args(config.native_link_flags())
            .arg(&objs[0])
            .arg("-L")
            .arg(&dir)
            .arg("-ljltest")
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("run the compiler driver");
        assert!(status.success(), "native link with -ljltest failed");
        let dir_text = dir.to_str().expect("UTF-8 path");
        let (_, verdict) = run_both_with_options(
            &format!("-L/-l {config}"),
            &exe,
            &["-L", dir_text, "-l", "jltest"],
            &objs[..1],
            &RunSpec::args(&["2", "-3", "10"]),
        );
        failures.record(verdict);
        let _ = std::fs::remove_dir_all(&dir);
    }
    failures.finish();
}

/// The diagnostic options write to stderr only: the program's stdout and
/// exit status stay those of a plain run.
#[test]
fn show_graph_and_timings_leave_program_output_alone() {
    let source = r#"
#include <stdio.h>
static int counter = 41;
int bump(void) { return ++counter; }
int main(void) { printf("counter %d\n", bump()); return 7; }
"#;
    let mut failures = Failures::new("--show-graph/--timings");
    for config in configs() {
        let objs = compile_generated(&config, &[("diag.c", source)]);
        for option in ["--show-graph", "--timings"] {
            let (out, line) = run_jitlink(&[option], &objs, option);
            let label = format!("{option} {config}");
            failures.record(expect(&label, &out, &line, 7, "counter 42\n"));
            failures.record(if out.stderr.is_empty() {
                Err(format!("[{label}] nothing on stderr\n  command: {line}"))
            } else {
                Ok(())
            });
            if option == "--show-graph" {
                let text = out.stderr_text();
                failures.record(if text.contains("main") && text.contains("bump") {
                    Ok(())
                } else {
                    Err(format!(
                        "[{label}] the graph does not mention `main` and `bump`\n  command: {line}"
                    ))
                });
                // -ffunction-sections: `.text.bump` joins `.text`, and its block names it.
                failures.record(
                    if !config.function_sections
                        || text.contains("section .text r-x") && text.contains("(.text.bump)")
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "[{label}] the graph does not show `.text.bump` in `.text`\n  command: {line}\n{text}"
                        ))
                    },
                );
            }
        }
    }
    failures.finish();
}
