//! Lazy linking: only what is called is linked (checked through the library API), first calls
//! from several threads at once, argument registers and stack arguments through the resolver,
//! and `jitlink --lazy` against the natively linked programs (gcc and clang-19).

use crate::common;

use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use common::{
    compile_all, native_link, outcome, run_both_with_options, testdata_dir, CompileJob, Compiler,
    Config, Failures, Opt, Pic, RunSpec,
};
use jitlink::lazy::{LazyOptions, LazySession};
use jitlink::Options;

fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    for compiler in Compiler::ALL {
        v.push(Config::new(compiler, Opt::O0, Pic::Pie, false, false));
        v.push(Config::new(compiler, Opt::O2, Pic::Pie, true, false));
        v.push(Config::new(compiler, Opt::O2, Pic::Pic, false, false));
        v.push(Config::new(compiler, Opt::O0, Pic::NoPic, true, false));
    }
    v
}

fn compile(config: &Config, names: &[&str]) -> Vec<PathBuf> {
    let jobs: Vec<CompileJob> = names
        .iter()
        .map(|n| CompileJob::new(config, testdata_dir().join("lazy").join(n), &[]))
        .collect();
    compile_all(&jobs)
}

fn file_name(p: &str) -> String {
    PathBuf::from(p)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

type ManyArgs = extern "C" fn(
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
) -> i64;

#[test]
fn links_only_what_is_called() {
    for config in configs() {
        let objs = compile(&config, &["main.c", "used.c", "args.c", "unused.c"]);
        let lazy = LazySession::new(Options::default(), LazyOptions::default());
        for o in &objs {
            lazy.add_file(o).expect("add");
        }
        let addr = lazy.lookup("many_args").expect("lookup many_args");
        let units: Vec<String> = lazy.lazy_units().iter().map(|u| file_name(u)).collect();
        // used.c defines data that main.c references: it is eager; the others are lazy, one
        // unit per object, or per function with -ffunction-sections.
        let per_function = config.function_sections;
        assert_eq!(
            units.len(),
            if per_function { 7 } else { 3 },
            "{config}: lazy units {units:?}"
        );
        assert!(
            lazy.materialized().is_empty(),
            "{config}: a lookup links nothing"
        );
        // SAFETY: many_args has this C signature.
        let f: ManyArgs = unsafe { std::mem::transmute(addr as usize) };
        let first = f(
            1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5,
        );
        let linked: Vec<String> = lazy.materialized().iter().map(|u| file_name(u)).collect();
        assert_eq!(linked.len(), 1, "{config}: linked {linked:?}");
        let want = if per_function {
            "args.o:many_args"
        } else {
            "args.o"
        };
        assert!(linked[0].ends_with(want), "{config}: linked {linked:?}");
        // The second call goes stub → body: the resolver passed the same arguments.
        let second = f(
            1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5,
        );
        assert_eq!(first, second, "{config}");
        assert_eq!(first, 82098969, "{config}");
        // Calling never_called's stub would link unused.o; nobody does.
        let _ = lazy.lookup("never_called").expect("lookup never_called");
        assert_eq!(lazy.materialized().len(), 1, "{config}");
        // Another function of args.o: per function, it is linked on its own and shares the
        // object's static `calls` with many_args.
        // SAFETY: args_calls has this C signature.
        let calls: extern "C" fn() -> i32 =
            unsafe { std::mem::transmute(lazy.lookup("args_calls").expect("lookup") as usize) };
        assert_eq!(calls(), 2, "{config}");
        assert_eq!(
            lazy.materialized().len(),
            if per_function { 2 } else { 1 },
            "{config}"
        );
    }
}

#[test]
fn concurrent_first_calls_link_once() {
    for config in configs() {
        let objs = compile(&config, &["worker.c"]);
        let lazy = Arc::new(LazySession::new(Options::default(), LazyOptions::default()));
        lazy.add_file(&objs[0]).expect("add");
        let addr = lazy.lookup("worker").expect("lookup");
        type Worker = extern "C" fn(i64, f64, i64, i64, i64, i64, i64, i64, i64) -> i64;
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads as i64)
            .map(|id| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    // SAFETY: worker has this C signature.
                    let f: Worker = unsafe { std::mem::transmute(addr as usize) };
                    barrier.wait();
                    f(id, 0.5, 1, 2, 3, 4, 5, 6, 7)
                })
            })
            .collect();
        for (id, h) in handles.into_iter().enumerate() {
            let r = h.join().expect("thread");
            assert_eq!(r, id as i64 * 500 + 140, "{config}: thread {id}");
        }
        assert_eq!(lazy.materialized().len(), 1, "{config}");
        // Nothing is eager, so worker.o is linked once: whole (one set), or per function (its
        // data, then worker: two sets).
        let sets = lazy.with_session(|s| s.linked_sets().len());
        let want = if config.function_sections { 2 } else { 1 };
        assert_eq!(sets, want, "{config}: {sets} linked sets");
    }
}

#[test]
fn cli_lazy_matches_native() {
    let mut failures = Failures::new("jitlink --lazy vs native");
    for config in configs() {
        let objs = compile(&config, &["main.c", "used.c", "args.c", "unused.c"]);
        let exe = native_link(&config, &objs, "lazy-main");
        let (_, verdict) = run_both_with_options(
            &format!("lazy {}", config.name()),
            &exe,
            &["--lazy"],
            &objs,
            &RunSpec::default(),
        );
        failures.record(verdict);

        let objs = compile(&config, &["threads.c", "worker.c"]);
        let exe = native_link(&config, &objs, "lazy-threads");
        let (_, verdict) = run_both_with_options(
            &format!("lazy threads {}", config.name()),
            &exe,
            &["--lazy"],
            &objs,
            &RunSpec::default(),
        );
        failures.record(verdict);
    }
    failures.finish();
}

/// `jitlink --lazy --lazy-log` on the lazy program in `config`: its stderr, and the lines that
/// report a materialization.
fn lazy_log(config: &Config) -> (String, Vec<String>) {
    let objs = compile(config, &["main.c", "used.c", "args.c", "unused.c"]);
    let (code, _, stderr) = outcome(&mut common::jitlink_command(
        &["--lazy", "--lazy-log"],
        &objs,
        &[],
    ));
    assert_eq!(code, Some(0), "{stderr}");
    let lines = stderr
        .lines()
        .filter(|l| l.contains("lazy: linked"))
        .map(String::from)
        .collect();
    (stderr, lines)
}

#[test]
fn cli_lazy_log_names_each_materialization() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let (stderr, lines) = lazy_log(&config);
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].contains("main.o for main"), "{stderr}");
    assert!(lines[1].contains("args.o for many_args"), "{stderr}");
    assert!(!stderr.contains("unused"), "{stderr}");

    // Per function with -ffunction-sections: one line per function called.
    let config = Config::new(Compiler::Clang, Opt::O2, Pic::Pie, true, false);
    let (stderr, lines) = lazy_log(&config);
    // main.o has one function: it is linked whole.
    assert_eq!(lines.len(), 6, "{stderr}");
    assert!(lines[0].contains("main.o for main"), "{stderr}");
    for f in [
        "many_args",
        "stack_args",
        "sum_varargs",
        "sum_doubles",
        "args_calls",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("args.o:{f} for {f}"))),
            "{f}: {stderr}"
        );
    }
}

/// An object with many functions, per function: after eight one-function links, the next call
/// links every function of the object not linked yet, in one link; the static they share stays
/// one.
#[test]
fn per_function_units_batch_after_eight() {
    let mut src = String::from("static int calls;\n");
    for i in 0..20 {
        src.push_str(&format!(
            "int g{i}(int x) {{ calls++; return x * {i} + calls; }}\n"
        ));
    }
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O2, Pic::Pie, true, false);
        let objs = common::compile_generated(&config, &[("many.c", &src)]);
        let lazy = LazySession::new(Options::default(), LazyOptions::default());
        lazy.add_file(&objs[0]).expect("add");
        let mut total = 0;
        for i in 0..10 {
            let addr = lazy.lookup(&format!("g{i}")).expect("lookup");
            // SAFETY: g<i> has this C signature.
            let g: extern "C" fn(i32) -> i32 = unsafe { std::mem::transmute(addr as usize) };
            total += 1;
            assert_eq!(g(100), 100 * i + total, "{config}: g{i}");
            let want = if i < 8 { i as usize + 1 } else { 20 };
            assert_eq!(lazy.materialized().len(), want, "{config}: after g{i}");
        }
    }
}

/// gcc calls functions of the same file whose stack needs it knows with an 8-byte aligned stack
/// (zlib's crc32.c at -O0 does): the resolver must not assume 16-byte alignment.
#[test]
fn resolver_accepts_a_misaligned_stack() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let objs = compile(&config, &["worker.c"]);
    let lazy = LazySession::new(Options::default(), LazyOptions::default());
    lazy.add_file(&objs[0]).expect("add");
    let f = lazy.lookup("worker_twice").expect("lookup");
    let r: i64;
    // SAFETY: worker_twice(long) -> long; the call is made with rsp = 8 (mod 16) and the stack
    // pointer is restored from r12 (callee-saved, declared clobbered) afterwards.
    unsafe {
        std::arch::asm!(
            "mov r12, rsp",
            "and rsp, -16",
            "sub rsp, 8",
            "call r10",
            "mov rsp, r12",
            in("r10") f,
            inout("rdi") 21i64 => _,
            out("rax") r,
            out("r12") _,
            clobber_abi("C"),
        );
    }
    assert_eq!(r, 42);
    assert_eq!(lazy.materialized().len(), 1);
}

/// A lazy unit that cannot be linked: the first call cannot return an error to C code, so jitlink
/// prints the error, naming the function, the object and the undefined symbol, and aborts.
#[test]
fn failed_materialization_names_the_cause_and_aborts() {
    let config = Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false);
    let objs = common::compile_generated(
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
    let mut cmd = common::jitlink_command(&["--lazy"], &objs, &[]);
    let out = cmd.output().expect("run jitlink");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(6), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.o for broken") && stderr.contains("missing_function"),
        "{stderr}"
    );
}

/// True if this CPU (and kernel) runs AVX-512F code.
fn has_avx512f() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "avx512f"))
    })
}

/// 256- and 512-bit vector arguments (ymm0-7, zmm0-7) through the resolver: the runtime's own
/// code (memcpy with AVX and vzeroupper, for one) may change their upper halves, so the resolver
/// saves the whole vector state. Each function is called for the first time from C code under
/// `jitlink --lazy`; the output is compared with the natively linked program.
#[test]
fn resolver_preserves_wide_vector_arguments() {
    let mut flags = vec![vec!["-mavx".to_string()]];
    if has_avx512f() {
        flags.push(vec!["-mavx512f".to_string()]);
    }
    let mut failures = Failures::new("wide vector arguments through the resolver");
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O2, Pic::Pie, false, false);
        for extra in &flags {
            let mut names = vec!["vec_main.c", "vec256.c"];
            if extra[0] == "-mavx512f" {
                names.push("vec512.c");
            }
            let jobs: Vec<CompileJob> = names
                .iter()
                .map(|n| CompileJob::new(&config, testdata_dir().join("lazy").join(n), extra))
                .collect();
            let objs = compile_all(&jobs);
            let exe = native_link(&config, &objs, &format!("lazy-vec{}", extra[0]));
            let (native, verdict) = run_both_with_options(
                &format!("lazy vectors {} {}", config.name(), extra[0]),
                &exe,
                &["--lazy"],
                &objs,
                &RunSpec::default(),
            );
            let lines = native.stdout_text().lines().count();
            failures.record(verdict.and_then(|()| {
                let want = if names.len() == 3 { 12 } else { 4 };
                (lines == want)
                    .then_some(())
                    .ok_or_else(|| format!("{config} {}: {lines} lines of output", extra[0]))
            }));
        }
    }
    failures.finish();
}
