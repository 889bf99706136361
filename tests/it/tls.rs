//! Thread-local storage in every model: `__thread` variables shared by two objects, used from
//! four threads, compiled by gcc and clang as PIE, -fPIC, -fno-pic, initial-exec, local-dynamic
//! and with TLS descriptors; output compared with the natively linked program.

use crate::common;

use common::*;

#[test]
fn every_model_from_four_threads() {
    let src = testdata_dir().join("tls");
    let models: &[(Pic, &[&str])] = &[
        (Pic::Pie, &[]),
        (Pic::Pic, &[]),
        (Pic::NoPic, &[]),
        (Pic::Pie, &["-ftls-model=initial-exec"]),
        (Pic::Pic, &["-ftls-model=local-dynamic"]),
        (Pic::Pic, &["-mtls-dialect=gnu2"]),
        (
            Pic::Pic,
            &["-ftls-model=local-dynamic", "-mtls-dialect=gnu2"],
        ),
    ];
    // Threads finish in any order; their lines are compared as a set.
    let spec = RunSpec::default().unordered_stdout();
    let mut failures = Failures::new("thread-local storage models");
    for compiler in Compiler::ALL {
        for opt in Opt::ALL {
            for (pic, flags) in models {
                let config = Config::new(compiler, opt, *pic, false, false);
                let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                let job = |f: &str| CompileJob::new(&config, src.join(f), &flags);
                let objs = compile_all(&[job("main.c"), job("shared.c")]);
                let exe = native_link(&config, &objs, "tls-threads");
                let label = format!("{config} {}", flags.join(" "));
                failures.record(run_both(&label, &exe, &objs, &spec).1);
            }
        }
    }
    failures.finish();
}
