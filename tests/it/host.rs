//! Programs that need the host: addresses of host IFUNCs taken by non-PIC code, in process and
//! in an executor process; output compared with the natively linked program.

use crate::common;

use common::*;

/// `-fno-pic` code stores the addresses of glibc IFUNCs (`floor`, `atan`, `strlen`: `dlsym`
/// returns the selected implementation, which no symbol starts at) in 32-bit absolute fields
/// and in 64-bit data, takes them again in a second object compiled with `-fPIC` (through the
/// GOT), compares them, and calls through them.
const IFUNC_MAIN: &str = r#"
#include <math.h>
#include <stdio.h>
#include <string.h>
typedef double (*math_fn)(double);
typedef size_t (*len_fn)(const char *);
extern math_fn pic_floor(void);
extern len_fn pic_strlen(void);
math_fn table[] = {floor, atan};
len_fn lens = strlen;
int main(void) {
    math_fn f = floor;
    printf("%.3f %.3f %.3f\n", f(2.75), table[0](-1.5), table[1](1.0));
    printf("%zu %zu\n", lens("ifunc"), strlen("jitlink"));
    printf("same floor: %d %d\n", f == table[0], pic_floor() == f);
    printf("same strlen: %d\n", pic_strlen() == lens);
    return 0;
}
"#;

const IFUNC_PIC: &str = r#"
#include <math.h>
#include <string.h>
typedef double (*math_fn)(double);
typedef size_t (*len_fn)(const char *);
math_fn pic_floor(void) { return floor; }
len_fn pic_strlen(void) { return strlen; }
"#;

#[test]
fn ifunc_addresses_from_non_pic_code() {
    let mut failures = Failures::new("IFUNC addresses from -fno-pic code");
    for compiler in [Compiler::Gcc, Compiler::Clang] {
        for opt in ["-O0", "-O2"] {
            // -fno-builtin: the calls and addresses stay references to the library.
            let main = compile_text(
                compiler,
                &[opt, "-fno-pic", "-fno-builtin", "-c"],
                "ifunc-main.c",
                IFUNC_MAIN,
            );
            let pic = compile_text(
                compiler,
                &[opt, "-fPIC", "-fno-builtin", "-c"],
                "ifunc-pic.c",
                IFUNC_PIC,
            );
            let objs = vec![main, pic];
            let exe = link_executable(
                compiler.linker(),
                &["-no-pie".to_string()],
                &objs,
                &["-lm"],
                "ifunc",
                opt,
            );
            for options in [&[][..], &["--executor", "process"]] {
                let label = format!("{compiler:?} {opt} {}", options.join(" "));
                let (jit, verdict) =
                    run_both_with_options(&label, &exe, options, &objs, &RunSpec::default());
                let out = String::from_utf8_lossy(&jit.stdout);
                failures.record(verdict.and_then(|()| {
                    // The native build's answer, checked here too: one address per function.
                    (out.contains("same floor: 1 1") && out.contains("same strlen: 1"))
                        .then_some(())
                        .ok_or(format!("{label}: addresses differ: {out}"))
                }));
            }
        }
    }
    failures.finish();
}

/// A 32-bit absolute reference to host data that nothing can stand for (a writable array of
/// the C library, which a copy would not share) is refused with the reason and `-fPIC`.
#[test]
fn unreachable_host_data_is_an_error_that_suggests_fpic() {
    let src = r#"
#include <stdio.h>
#include <time.h>
int main(void) {
    char **volatile where = tzname;
    return where[0] != 0;
}
"#;
    let obj = compile_text(Compiler::Gcc, &["-O0", "-fno-pic", "-c"], "abs-data.c", src);
    let (code, _out, err) = common::formats::jitlink(&["--noexec"], &[obj]);
    assert_ne!(code, Some(0), "the link must fail: {err}");
    assert!(
        err.contains("tzname") && err.contains("-fPIC"),
        "the error names the symbol and suggests -fPIC: {err}"
    );
}

/// `std::call_once` from four `std::thread`s and on the main thread: libstdc++'s inline code
/// sets its thread-locals `std::__once_callable` and `std::__once_call` (initial-exec from PIE
/// code, general-dynamic from `-fPIC` code), which the host's loader resolves.
const CALL_ONCE: &str = r#"
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>
static std::once_flag flag;
static std::atomic<int> calls{0};
static void init(int who) { calls += 1 + (who >= 0 ? 0 : 100); }
int main() {
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back([i] { std::call_once(flag, init, i); });
    for (auto &t : ts) t.join();
    std::once_flag local;
    int seen = 0;
    std::call_once(local, [&seen] { seen = 42; });
    std::printf("calls %d seen %d\n", calls.load(), seen);
}
"#;

#[test]
fn call_once_uses_host_thread_locals() {
    let mut failures = Failures::new("std::call_once (host thread-locals)");
    for compiler in [Compiler::Gxx, Compiler::Clangxx] {
        for opt in ["-O0", "-O2"] {
            for pic in ["-fPIE", "-fPIC"] {
                let obj = compile_text(compiler, &[opt, pic, "-c"], "call-once.cpp", CALL_ONCE);
                let objs = vec![obj];
                let exe = link_executable(
                    compiler.linker(),
                    &[],
                    &objs,
                    &["-lpthread"],
                    "call-once",
                    &format!("{opt} {pic}"),
                );
                for options in [&[][..], &["--executor", "process"]] {
                    let label = format!("{compiler:?} {opt} {pic} {}", options.join(" "));
                    let spec = RunSpec::default();
                    failures.record(run_both_with_options(&label, &exe, options, &objs, &spec).1);
                }
            }
        }
    }
    failures.finish();
}

/// A `thread_local` defined by a shared library (built here with `gcc -shared`, loaded with
/// `-l`), read and written by linked code from four threads in every access model the
/// compiler picks for an extern thread-local (initial-exec in PIE and non-PIC code,
/// general-dynamic in PIC code, TLS descriptors), and by the library's own code.
#[test]
fn a_host_library_thread_local_from_threads() {
    let lib_src = r#"
__thread int counter = 5;
int bump(void) { return ++counter; }
"#;
    let main_src = r#"
#include <pthread.h>
#include <stdio.h>
extern __thread int counter;
int bump(void);
static void *work(void *arg) {
    long id = (long)arg;
    counter += (int)id * 10;
    int b = bump();
    printf("thread %ld: %d %d\n", id, counter, b);
    return 0;
}
int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, work, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
    printf("main: %d\n", counter);
    return 0;
}
"#;
    let lib_obj = compile_text(
        Compiler::Gcc,
        &["-O2", "-fPIC", "-c"],
        "htls-lib.c",
        lib_src,
    );
    let dir = scratch_dir("host-tls-lib");
    let so = dir.join("libhosttls.so");
    let mut cmd = std::process::Command::new("gcc");
    cmd.arg("-shared").arg(&lib_obj).arg("-o").arg(&so);
    run_tool(cmd, "building libhosttls.so");
    let dir_s = dir.to_string_lossy().to_string();
    let spec = RunSpec::default()
        .unordered_stdout()
        .env("LD_LIBRARY_PATH", &dir_s);
    let mut failures = Failures::new("a host library's thread-local");
    let models: &[&[&str]] = &[
        &["-fPIE"],
        &["-fno-pic"],
        &["-fPIC"],
        &["-fPIC", "-mtls-dialect=gnu2"],
    ];
    for compiler in [Compiler::Gcc, Compiler::Clang] {
        for opt in ["-O0", "-O2"] {
            for model in models {
                let mut flags = vec![opt, "-c"];
                flags.extend_from_slice(model);
                let obj = compile_text(compiler, &flags, "htls-main.c", main_src);
                let objs = vec![obj];
                let link_flags = if model.contains(&"-fno-pic") {
                    vec!["-no-pie".to_string()]
                } else {
                    vec![]
                };
                let libdir = format!("-L{dir_s}");
                let exe = link_executable(
                    compiler.linker(),
                    &link_flags,
                    &objs,
                    &[&libdir, "-lhosttls", "-lpthread"],
                    "htls",
                    &format!("{opt} {}", model.join(" ")),
                );
                let label = format!("{compiler:?} {opt} {}", model.join(" "));
                let options = ["-L", &dir_s, "-l", "hosttls"];
                failures.record(run_both_with_options(&label, &exe, &options, &objs, &spec).1);
            }
        }
    }
    failures.finish();
}

/// `--export-dynamic`: a program linked by jitlink `dlopen`s a shared object (built here with
/// `gcc -shared`) that calls back into a function of the program and reads and writes a global
/// of the program, as Python's extension modules take `PyFloat_Type` from the executable.
/// Compared with the native build linked with `-rdynamic`; without the option the `dlopen`
/// fails, as it does natively without `-rdynamic`.
#[test]
fn export_dynamic_to_dlopened_objects() {
    let prog_src = r#"
#include <dlfcn.h>
#include <stdio.h>
int program_counter = 40;
const char program_name[] = "jitlinked";
int program_add(int a, int b) { return a + b + program_counter; }
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { printf("dlopen failed\n"); return 3; }
    int (*entry)(int) = (int (*)(int))dlsym(h, "ext_entry");
    printf("ext: %d\n", entry(2));
    printf("counter now %d, own address seen: %d\n", program_counter,
           dlsym(RTLD_DEFAULT, "program_add") == (void *)program_add);
    return 0;
}
"#;
    let ext_src = r#"
#include <stdio.h>
extern int program_counter;
extern const char program_name[];
int program_add(int, int);
int ext_entry(int x) {
    program_counter += 1;
    printf("extension in %s sees %d\n", program_name, program_counter);
    return program_add(x, 100) * 2;
}
"#;
    let ext_obj = compile_text(Compiler::Gcc, &["-O2", "-fPIC", "-c"], "ext.c", ext_src);
    let dir = scratch_dir("export-dynamic");
    let so = dir.join("libext.so");
    let mut cmd = std::process::Command::new("gcc");
    cmd.arg("-shared").arg(&ext_obj).arg("-o").arg(&so);
    run_tool(cmd, "building libext.so");
    let spec = RunSpec::args(&[so.to_string_lossy().to_string()]);
    let mut failures = Failures::new("--export-dynamic");
    for compiler in [Compiler::Gcc, Compiler::Clang] {
        for opt in ["-O0", "-O2"] {
            let obj = compile_text(compiler, &[opt, "-c"], "export-prog.c", prog_src);
            let objs = vec![obj];
            let exe = link_executable(
                compiler.linker(),
                &["-rdynamic".to_string()],
                &objs,
                &["-ldl"],
                "export-dynamic",
                opt,
            );
            for options in [
                &["--export-dynamic"][..],
                &["--export-dynamic", "--executor", "process"],
            ] {
                let label = format!("{compiler:?} {opt} {}", options.join(" "));
                failures.record(run_both_with_options(&label, &exe, options, &objs, &spec).1);
            }
            // Without the option, nothing is exported: the extension cannot be loaded.
            for options in [&[][..], &["--executor", "process"]] {
                let mut cmd = jitlink_command(options, &objs, &spec.args);
                let out = cmd.output().expect("run jitlink");
                let stdout = String::from_utf8_lossy(&out.stdout);
                failures.record(if stdout.contains("dlopen failed") {
                    Ok(())
                } else {
                    Err(format!(
                        "{compiler:?} {opt} {options:?} without --export-dynamic: {stdout}"
                    ))
                });
            }
        }
    }
    failures.finish();
}

/// Initial-exec access to a host library's thread-local whose block the loader already
/// allocates dynamically (a library loaded after start-up, whose variable general-dynamic code
/// has used) is refused, with the variable named and `-fPIC` suggested; general-dynamic
/// access keeps working. Through the library API, in this process.
#[test]
fn initial_exec_to_a_dynamic_host_block_is_refused_clearly() {
    use jitlink::{Options, Session};
    let lib_obj = compile_text(
        Compiler::Gcc,
        &["-O2", "-fPIC", "-c"],
        "late-tls-lib.c",
        "__thread int late_counter = 7;\n",
    );
    let dir = scratch_dir("late-tls-lib");
    let mut cmd = std::process::Command::new("gcc");
    cmd.arg("-shared")
        .arg(&lib_obj)
        .arg("-o")
        .arg(dir.join("liblatetls.so"));
    run_tool(cmd, "building liblatetls.so");
    let src = "extern __thread int late_counter;\nint FN(void) { return ++late_counter; }\n";
    let gd = compile_text(
        Compiler::Gcc,
        &["-O2", "-fPIC", "-c"],
        "late-gd.c",
        &src.replace("FN", "late_gd"),
    );
    let ie = compile_text(
        Compiler::Gcc,
        &["-O2", "-fPIE", "-c"],
        "late-ie.c",
        &src.replace("FN", "late_ie"),
    );
    let mut s = Session::new(Options::default().with_library_dirs(vec![dir]));
    s.add_library("latetls").expect("load liblatetls.so");
    s.add_file(&gd).expect("add the general-dynamic object");
    let f = s.lookup("late_gd").expect("general-dynamic access links");
    // SAFETY: `int late_gd(void)`, compiled above.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(f as usize) };
    assert_eq!(
        (f(), f()),
        (8, 9),
        "general-dynamic access reads the library's variable"
    );
    s.add_file(&ie).expect("add the initial-exec object");
    let err = s
        .link_pending()
        .expect_err("initial-exec access to a dynamic block must be refused")
        .to_string();
    assert!(
        err.contains("late_counter") && err.contains("static TLS") && err.contains("-fPIC"),
        "the error names the variable, the reason and the remedy: {err}"
    );
}
