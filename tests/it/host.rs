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
