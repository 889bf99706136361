//! `--lazy` and `--reopt` through `--executor process` and `--executor qemu` (aarch64 and
//! riscv64): the trampolines, stubs and counters live in the executor, which reports first calls
//! and hot counters to jitlink. Each program is compared with the same objects linked natively
//! (run under qemu-user for the cross architectures); the logs show that an object never called is never linked and
//! that hot functions are re-optimized.

use std::path::PathBuf;

use crate::common::*;

/// Where each configuration runs: the host's compilers in a child process, the cross ones
/// under qemu-user.
fn executor_of(config: &Config) -> &'static str {
    if config.compiler.is_cross() {
        "qemu"
    } else {
        "process"
    }
}

/// Per object and per function (-ffunction-sections), -O0 and -O2, for both executors.
fn lazy_configs() -> Vec<Config> {
    vec![
        Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false),
        Config::new(Compiler::Clang, Opt::O0, Pic::Pie, true, false),
        Config::new(Compiler::Aarch64Gcc, Opt::O2, Pic::Pie, false, false),
        Config::new(Compiler::Aarch64Clang, Opt::O0, Pic::Pie, true, false),
        Config::new(Compiler::Riscv64Gcc, Opt::O2, Pic::Pie, false, false),
        Config::new(Compiler::Riscv64Clang, Opt::O0, Pic::Pie, true, false),
    ]
}

fn compile_from(config: &Config, dir: &str, names: &[&str], extra: &[String]) -> Vec<PathBuf> {
    let jobs: Vec<CompileJob> = names
        .iter()
        .map(|n| CompileJob::new(config, testdata_dir().join(dir).join(n), extra))
        .collect();
    compile_all(&jobs)
}

/// Runs the natively linked `exe` and jitlink with `options` on `objs`; records a difference.
fn compare(
    failures: &mut Failures,
    label: &str,
    config: &Config,
    exe: &std::path::Path,
    options: &[&str],
    objs: &[PathBuf],
) -> Outcome {
    let (jit, verdict) = run_both_command(
        &format!("{label} {}", config.name()),
        native_command(config.compiler, exe),
        options,
        objs,
        &RunSpec::default(),
    );
    failures.record(verdict);
    jit
}

#[test]
fn lazy_through_executors_matches_native() {
    let mut failures = Failures::new("jitlink --executor --lazy vs native");
    for config in lazy_configs() {
        let kind = executor_of(&config);
        let objs = compile_from(
            &config,
            "lazy",
            &["main.c", "used.c", "args.c", "unused.c"],
            &[],
        );
        let exe = native_link(&config, &objs, "lazy-main");
        compare(
            &mut failures,
            "lazy",
            &config,
            &exe,
            &["--executor", kind, "--lazy"],
            &objs,
        );

        // First calls from several threads at once: each unit is linked once.
        let objs = compile_from(&config, "lazy", &["threads.c", "worker.c"], &[]);
        let exe = native_link(&config, &objs, "lazy-threads");
        let options = ["--executor", kind, "--lazy"];
        compare(
            &mut failures,
            "lazy threads",
            &config,
            &exe,
            &options,
            &objs,
        );
    }
    failures.finish();
}

#[test]
fn lazy_log_through_executors_never_links_the_unused_object() {
    for config in lazy_configs() {
        let kind = executor_of(&config);
        let objs = compile_from(
            &config,
            "lazy",
            &["main.c", "used.c", "args.c", "unused.c"],
            &[],
        );
        let mut cmd = jitlink_command(&["--executor", kind, "--lazy", "--lazy-log"], &objs, &[]);
        let (code, _, stderr) = outcome(&mut cmd);
        let what = format!("{} ({kind})", config.name());
        assert_eq!(code, Some(0), "{what}: {stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("lazy: linked"))
            .collect();
        assert!(
            lines.first().is_some_and(|l| l.contains("main.o for main")),
            "{what}: {stderr}"
        );
        let many = if config.function_sections {
            "args.o:many_args for many_args"
        } else {
            "args.o for many_args"
        };
        assert!(lines.iter().any(|l| l.contains(many)), "{what}: {stderr}");
        // used.c's data is referenced by main.c: it is linked eagerly, never lazily.
        assert!(!stderr.contains("used.o"), "{what}: {stderr}");
        assert!(
            !stderr.contains("unused"),
            "{what}: the unused object was linked: {stderr}"
        );
        let want = if config.function_sections { 6 } else { 2 };
        assert_eq!(lines.len(), want, "{what}: {stderr}");
    }
}

/// Runs jitlink with `options` on `objs` and the natively linked `exe`: jitlink's stdout and
/// stderr if it exited with 0 and printed what the native program printed, else the difference.
fn tiered(
    config: &Config,
    exe: &std::path::Path,
    options: &[&str],
    objs: &[PathBuf],
) -> Result<(String, String), String> {
    let native = run(
        native_command(config.compiler, exe),
        &RunSpec::default(),
        "native",
    );
    let (code, stdout, stderr) = outcome(&mut jitlink_command(options, objs, &[]));
    let what = format!("{} ({})", config.name(), options.join(" "));
    if code != native.status.code() {
        return Err(format!(
            "{what}: status {code:?}, native {:?}\n{stderr}",
            native.status
        ));
    }
    if stdout != native.stdout_text() {
        return Err(format!(
            "{what}: output differs\n native: {}\n jitlink: {stdout}",
            native.stdout_text()
        ));
    }
    Ok((stdout, stderr))
}

#[test]
fn reopt_through_executors_matches_native_and_tiers_up() {
    let mut failures = Failures::new("jitlink --executor --reopt vs native tier 0");
    // (Not riscv64-linux-gnu-gcc: its -O2 code reaches writable statics through a section
    // anchor, `.LANCHOR0` + offset, which a new version cannot be bound by; the re-optimizer
    // refuses such a version, which `unbindable_versions_are_refused_through_executors` covers.)
    for compiler in [
        Compiler::Gcc,
        Compiler::Aarch64Gcc,
        Compiler::Aarch64Clang,
        Compiler::Riscv64Clang,
    ] {
        let t0 = Config::new(compiler, Opt::O0, Pic::Pie, false, false);
        let t1 = Config::new(compiler, Opt::O2, Pic::Pie, false, false);
        let kind = executor_of(&t0);
        let objs = compile_from(&t0, "reopt", &["main.c", "kernels.c"], &[]);
        let better = compile_from(&t1, "reopt", &["kernels.c"], &[]);
        let exe = native_link(&t0, &objs, "reopt-tier0");
        let better = better[0].to_string_lossy().into_owned();
        let options = [
            "--executor",
            kind,
            "--reopt",
            &better,
            "--reopt-threshold",
            "50",
            "--reopt-log",
        ];
        let r = tiered(&t0, &exe, &options, &objs).and_then(|(_, stderr)| {
            for f in ["kernel_sum", "kernel_poly"] {
                let event = format!("jitlink: reoptimized {f} after 50 calls");
                if !stderr.contains(&event) {
                    return Err(format!(
                        "{} ({kind}): no \"{event}\" in\n{stderr}",
                        t0.name()
                    ));
                }
            }
            Ok(())
        });
        failures.record(r);
    }
    failures.finish();
}

/// A better version that cannot be bound (a static tier 0 lacks) is refused with an event, and
/// the program runs on in tier 0, in the executor as in process.
#[test]
fn unbindable_versions_are_refused_through_executors() {
    for compiler in [Compiler::Gcc, Compiler::Aarch64Gcc] {
        let t0 = Config::new(compiler, Opt::O0, Pic::Pie, false, false);
        let kind = executor_of(&t0);
        let objs = compile_from(&t0, "reopt", &["main.c", "kernels.c"], &[]);
        let extra = compile_from(&t0, "reopt", &["kernels.c"], &["-DEXTRA_STATE".to_string()]);
        let exe = native_link(&t0, &objs, "reopt-tier0");
        let extra = extra[0].to_string_lossy().into_owned();
        let options = [
            "--executor",
            kind,
            "--reopt",
            &extra,
            "--reopt-threshold",
            "10",
            "--reopt-log",
        ];
        let (_, stderr) = tiered(&t0, &exe, &options, &objs).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stderr.contains("refused to reoptimize kernel_sum after 10 calls")
                && stderr.contains("extra_state"),
            "{kind}: {stderr}"
        );
    }
}

/// A unit that cannot be linked (an undefined function) aborts the program in the executor
/// with jitlink's message naming the unit and the cause; jitlink reports the signal.
#[test]
fn failed_materialization_through_executors_names_the_cause() {
    for compiler in [Compiler::Gcc, Compiler::Aarch64Gcc] {
        let config = Config::new(compiler, Opt::O0, Pic::Pie, false, false);
        let kind = executor_of(&config);
        let objs = compile_generated(
            &config,
            &[
                (
                    "lazy_main.c",
                    "int broken(int);\nint main(void) { return broken(1); }\n",
                ),
                (
                    "broken.c",
                    "int missing_function(int);\nint broken(int x) { return missing_function(x); }\n",
                ),
            ],
        );
        let (code, _, stderr) = outcome(&mut jitlink_command(
            &["--executor", kind, "--lazy"],
            &objs,
            &[],
        ));
        assert_eq!(code, Some(128 + 6), "{kind}: {stderr}");
        assert!(
            stderr.contains("broken.o for broken") && stderr.contains("missing_function"),
            "{kind}: {stderr}"
        );
    }
}

/// A program that leaves a process running behind it (started with `system`, or forked: the
/// fork holds the executor's channel) does not keep jitlink serving events after the program
/// has ended.
#[test]
fn a_process_left_behind_does_not_keep_jitlink_waiting() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let exec = "return system(\"sleep 30 >/dev/null 2>&1 </dev/null &\");";
    let fork = "if (fork() == 0) { sleep(30); _exit(0); } return 0;";
    for (what, tail) in [("system", exec), ("fork", fork)] {
        let main = format!(
            "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\nint helper(int x);\n\
             int main(void) {{ printf(\"%d\\n\", helper(2)); fflush(stdout); {tail} }}\n"
        );
        let objs = compile_generated(
            &config,
            &[
                (&format!("left_{what}.c"), main.as_str()),
                ("helper.c", "int helper(int x) { return x * 21; }\n"),
            ],
        );
        let mut child = jitlink_command(&["--executor", "process", "--lazy"], &objs, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start jitlink");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break Some(s);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let status = status.unwrap_or_else(|| panic!("{what}: jitlink still waits"));
        assert_eq!(status.code(), Some(0), "{what}");
    }
}

/// The program ends (main calls `exit`) while another of its threads waits for a lazy link:
/// however the two interleave, jitlink reports the program's status, never an error.
#[test]
fn exit_while_a_link_is_under_way_is_the_programs_end() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let main = "#include <pthread.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
                int late(int);\nstatic void *run(void *p) { (void)p; late(1); return 0; }\n\
                int main(void) { pthread_t t; pthread_create(&t, 0, run, 0);\n\
                usleep(300); exit(7); }\n";
    let objs = compile_generated(
        &config,
        &[
            ("exit_main.c", main),
            ("late.c", "int late(int x) { return x + 1; }\n"),
        ],
    );
    for i in 0..8 {
        let (code, _, stderr) = outcome(&mut jitlink_command(
            &["--executor", "process", "--lazy"],
            &objs,
            &[],
        ));
        assert_eq!(code, Some(7), "run {i}: {stderr}");
        assert!(!stderr.contains("error"), "run {i}: {stderr}");
    }
}

/// `__m256d` (and, where the CPU has AVX-512F, `__m512d`) arguments pass through the
/// executor's re-entry code intact: it saves the whole vector state with xsave.
#[test]
fn wide_vector_arguments_through_the_executor() {
    let avx512 = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains(" avx512f"));
    let mut failures = Failures::new("wide vector arguments through the executor");
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let (flag, names): (&str, &[&str]) = if avx512 {
        ("-mavx512f", &["vec_main.c", "vec256.c", "vec512.c"])
    } else {
        ("-mavx", &["vec_main.c", "vec256.c"])
    };
    let objs = compile_from(&config, "lazy", names, &[flag.to_string()]);
    let exe = native_link(&config, &objs, &format!("lazy-vec{flag}"));
    let options = ["--executor", "process", "--lazy"];
    compare(
        &mut failures,
        "lazy vectors",
        &config,
        &exe,
        &options,
        &objs,
    );
    failures.finish();
}
