//! Multi-object C programs from `testdata/c/<program>/`, each compiled in
//! all 48 configurations (gcc/clang × O0/O2 × PIE/PIC/non-PIC ×
//! function-sections × debug info), linked natively and by `jitlink`, run
//! both ways and compared byte for byte (stdout, stderr, exit status).

use crate::common;

use std::path::PathBuf;

use common::*;

/// One execution of a program: its input and the exit status it must have.
struct Run {
    spec: RunSpec,
    exit_code: i32,
}

fn check_program(name: &str, runs: &[Run]) {
    check_program_with(name, runs, &all_configs(), &[]);
}

/// As `check_program`, in `configs` with `extra` compiler flags.
fn check_program_with(name: &str, runs: &[Run], configs: &[Config], extra: &[&str]) {
    check_program_in(name, runs, configs, extra, &[]);
}

/// As `check_program_with`, with `jit_options` for jitlink (an executor). Configurations of a
/// cross compiler run natively under qemu-user and with `jitlink --executor qemu`.
fn check_program_in(
    name: &str,
    runs: &[Run],
    configs: &[Config],
    extra: &[&str],
    jit_options: &[&str],
) {
    let dir = testdata_dir().join("c").join(name);
    let sources = c_sources(&dir);
    let jobs: Vec<Vec<CompileJob>> = configs
        .iter()
        .map(|config| {
            let job = |source: &PathBuf| {
                let mut flags = declared_cflags_for(source, config.compiler);
                flags.extend(extra.iter().map(|f| f.to_string()));
                CompileJob::new(config, source, &flags)
            };
            sources.iter().map(job).collect()
        })
        .collect();
    let objects = compile_groups(&jobs);

    let mut failures = Failures::new(&format!("C program `{name}`"));
    let mut natives: Vec<Vec<(String, Outcome)>> = runs.iter().map(|_| Vec::new()).collect();
    for (config, objs) in configs.iter().zip(&objects) {
        let exe = native_link(config, objs, name);
        for (ri, run) in runs.iter().enumerate() {
            check_run(
                &mut failures,
                &mut natives[ri],
                format!("{name} run#{ri} {config} {}", extra.join(" ")),
                config.compiler,
                &exe,
                jit_options,
                objs,
                &run.spec,
                run.exit_code,
            );
        }
    }
    for (ri, runs) in natives.iter().enumerate() {
        failures.record(check_native_agreement(&format!("{name} run#{ri}"), runs));
    }
    failures.finish();
}

/// The medium and large code models (GOTOFF64, GOTPC64, GOT64, PLTOFF64, 64-bit absolute
/// and PC-relative addresses) in the covering configurations.
#[test]
fn code_models() {
    for model in ["-mcmodel=medium", "-mcmodel=large"] {
        check_program_with(
            "crossref",
            &[Run {
                spec: RunSpec::args(&["delta", "alpha", "charlie"]),
                exit_code: 43,
            }],
            &covering_configs(),
            &[model],
        );
    }
}

/// Cross-object calls, pointers to other objects' data in initialized data,
/// qsort/bsearch callbacks, jump tables, .rodata, shared string literals,
/// static locals and a non-zero exit code from main.
#[test]
fn crossref() {
    check_program("crossref", &crossref_runs());
}

fn crossref_runs() -> Vec<Run> {
    vec![
        Run {
            spec: RunSpec::args(&["delta", "alpha", "charlie", "bravo", "kilo", "echo", "zulu"]),
            exit_code: 43,
        },
        Run {
            spec: RunSpec::args::<&str>(&[]),
            exit_code: 43,
        },
    ]
}

/// Common symbols (with different sizes), weak definitions overridden and
/// not, weak undefined references, over-aligned data and large .bss.
#[test]
fn linkage() {
    check_program("linkage", &linkage_runs());
}

fn linkage_runs() -> Vec<Run> {
    vec![
        Run {
            spec: RunSpec::args(&["3"]),
            exit_code: 0,
        },
        Run {
            spec: RunSpec::args(&["1"]),
            exit_code: 0,
        },
    ]
}

/// Varargs (own formatter and vsnprintf), setjmp/longjmp across objects,
/// errno, both output streams, stdin, environment, unflushed stdout and
/// exit(3) from a nested call.
#[test]
fn runtime() {
    check_program("runtime", &runtime_runs());
}

fn runtime_runs() -> Vec<Run> {
    vec![
        Run {
            spec: RunSpec::args(&[
                "12",
                "-7",
                "99999999999999999999",
                "-99999999999999999999",
                "0x1f",
                "3x",
            ])
            .stdin("first line\nsecond\n\nlast line without newline")
            .env("JITLINK_TEST_GREETING", "hello from the harness"),
            exit_code: 3,
        },
        Run {
            spec: RunSpec::args::<&str>(&[]),
            exit_code: 3,
        },
    ]
}

/// Constructors and destructors with priorities across objects, atexit
/// handlers, and their order relative to main.
#[test]
fn initfini() {
    check_program("initfini", &initfini_runs());
}

fn initfini_runs() -> Vec<Run> {
    vec![Run {
        spec: RunSpec::args(&["12", "9", "3", "100"]),
        exit_code: 0,
    }]
}

/// The harness itself: a mismatch report points at the first differing line
/// of each stream and shows both sides.
#[test]
fn mismatch_report_shows_first_difference() {
    let native = b"one\ntwo\nthree\nfour\n";
    let jit = b"one\ntwo\nTHREE\nfour\nfive";
    let report = diff_stream("stdout", native, jit);
    assert!(report.contains("differs at line 3"), "{report}");
    assert!(report.contains("-native      3 | three"), "{report}");
    assert!(report.contains("+jitlink     3 | THREE"), "{report}");
    assert!(report.contains("five⏎ (no newline)"), "{report}");
    assert!(report.contains("    2 | two"), "{report}");
    let empty = diff_stream("stderr", b"", b"jitlink: error: something\n");
    assert!(empty.contains("-native  (no more output)"), "{empty}");
    assert!(empty.contains("jitlink: error: something"), "{empty}");
    assert!(diff_stream("stdout", native, native).contains("identical"));
}

/// Thread-local storage: initialized and zero-initialized, over-aligned and
/// static thread-locals defined in one object and used from others and from
/// several threads, through every access model the configurations produce
/// (general/local dynamic with -fPIC, initial/local exec otherwise) and TLS
/// descriptors (one file is compiled with -mtls-dialect=gnu2).
#[test]
fn tls() {
    check_program("tls", &tls_runs());
}

fn tls_runs() -> Vec<Run> {
    vec![
        Run {
            spec: RunSpec::args(&["4"]),
            exit_code: 0,
        },
        Run {
            spec: RunSpec::args::<&str>(&[]),
            exit_code: 0,
        },
    ]
}

/// The x86-64 programs in an executor process (`jitlink --executor process`), in the covering
/// configurations: the same output and exit status as the natively linked programs.
#[test]
fn executor_process() {
    let configs = covering_configs();
    for (name, runs) in programs() {
        check_program_in(name, &runs, &configs, &[], &["--executor", "process"]);
    }
}

/// aarch64 configurations: aarch64-linux-gnu-gcc and clang-19 --target=aarch64-linux-gnu, -O0
/// and -O2, PIE, PIC and non-PIC, with and without -ffunction-sections and -g.
fn aarch64_configs() -> Vec<Config> {
    let mut v = Vec::new();
    for compiler in Compiler::AARCH64 {
        v.extend([
            Config::new(compiler, Opt::O0, Pic::Pie, false, false),
            Config::new(compiler, Opt::O2, Pic::Pic, true, false),
            Config::new(compiler, Opt::O2, Pic::NoPic, false, true),
            Config::new(compiler, Opt::O0, Pic::Pic, true, true),
            Config::new(compiler, Opt::O2, Pic::Pie, true, false),
        ]);
    }
    v
}

/// The aarch64 builds of the programs under qemu-user, linked natively by the aarch64 system
/// linker and by `jitlink --executor qemu`.
#[test]
fn aarch64_under_qemu() {
    for (name, runs) in programs() {
        check_program_in(name, &runs, &aarch64_configs(), &[], &[]);
    }
}

/// riscv64 configurations: riscv64-linux-gnu-gcc and clang-19 --target=riscv64-linux-gnu, -O0
/// and -O2, PIE, PIC and non-PIC, with and without -ffunction-sections, -g and -mno-relax.
/// (`-g` with gcc only: the native link's GNU ld 2.40 crashes on clang's riscv64 DWARF 5.)
fn riscv64_configs() -> Vec<Config> {
    let mut v = Vec::new();
    for compiler in Compiler::RISCV64 {
        let gcc = compiler == Compiler::Riscv64Gcc;
        v.extend([
            Config::new(compiler, Opt::O0, Pic::Pie, false, false),
            Config::new(compiler, Opt::O2, Pic::Pic, true, false).no_relax(),
            Config::new(compiler, Opt::O2, Pic::NoPic, false, gcc),
            Config::new(compiler, Opt::O0, Pic::Pic, true, gcc).no_relax(),
            Config::new(compiler, Opt::O2, Pic::Pie, true, false),
        ]);
    }
    v
}

/// The riscv64 builds of the programs under qemu-user, linked natively by the riscv64 system
/// linker and by `jitlink --executor qemu`.
#[test]
fn riscv64_under_qemu() {
    for (name, runs) in programs() {
        check_program_in(name, &runs, &riscv64_configs(), &[], &[]);
    }
}

/// The medany code model on riscv64 (`-mcmodel=medany`: non-PIC code addresses everything
/// with `auipc`, so nothing needs the low 2 GiB), gcc and clang, with and without relaxation.
#[test]
fn riscv64_medany_under_qemu() {
    let configs = [
        Config::new(Compiler::Riscv64Gcc, Opt::O2, Pic::NoPic, false, false),
        Config::new(Compiler::Riscv64Clang, Opt::O0, Pic::NoPic, true, false).no_relax(),
    ];
    for (name, runs) in programs() {
        check_program_in(name, &runs, &configs, &["-mcmodel=medany"], &[]);
    }
}

/// TLS descriptors on riscv64 (clang-19 -mtls-dialect=desc: `TLSDESC_HI20`, `_LOAD_LO12`,
/// `_ADD_LO12`, `_CALL`) under qemu-user. GNU ld 2.40 cannot link them, so the jitlink run of
/// the descriptor build is compared with the natively linked build of the same sources in the
/// traditional dialect: the same output and exit status.
#[test]
fn riscv64_tls_descriptors_under_qemu() {
    let sources = c_sources(&testdata_dir().join("c").join("tls"));
    let mut failures = Failures::new("riscv64 TLS descriptors");
    let mut natives = Vec::new();
    for config in [
        Config::new(Compiler::Riscv64Clang, Opt::O2, Pic::Pic, false, false),
        Config::new(Compiler::Riscv64Clang, Opt::O0, Pic::Pic, true, false).no_relax(),
    ] {
        let jobs = |extra: &[&str]| -> Vec<CompileJob> {
            let job = |source: &PathBuf| {
                let mut flags = declared_cflags_for(source, config.compiler);
                flags.extend(extra.iter().map(|f| f.to_string()));
                CompileJob::new(&config, source, &flags)
            };
            sources.iter().map(job).collect()
        };
        let objects = compile_groups(&[jobs(&[]), jobs(&["-mtls-dialect=desc"])]);
        let seen = asm::elf_relocation_types(&objects[1]);
        assert!(
            seen.contains(&object::elf::R_RISCV_TLSDESC_HI20),
            "{config}: no TLS descriptors in the -mtls-dialect=desc build"
        );
        let exe = native_link(&config, &objects[0], "tls");
        for (ri, run) in tls_runs().iter().enumerate() {
            check_run(
                &mut failures,
                &mut natives,
                format!("tls run#{ri} {config} -mtls-dialect=desc"),
                config.compiler,
                &exe,
                &[],
                &objects[1],
                &run.spec,
                run.exit_code,
            );
        }
    }
    failures.finish();
}

/// Every program with its runs.
fn programs() -> [(&'static str, Vec<Run>); 5] {
    [
        ("crossref", crossref_runs()),
        ("linkage", linkage_runs()),
        ("runtime", runtime_runs()),
        ("initfini", initfini_runs()),
        ("tls", tls_runs()),
    ]
}
