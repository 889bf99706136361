//! A Rust static library (`rustc --crate-type=staticlib`, standard library included) at
//! opt-level 0 and 3, called from C: HashMap, threads with thread_local!, println!, a panic
//! caught by catch_unwind. Linked by jitlink and by gcc; outputs must be identical.

use std::process::Command;

use crate::common;

use common::*;

#[test]
fn staticlib_called_from_c() {
    let src = testdata_dir().join("rust");
    let dir = scratch_dir("rust-staticlib");
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let main_o = compile(&CompileJob::new(&config, src.join("main.c"), &[]));
    for opt in ["0", "3"] {
        let lib = dir.join(format!("librustwork{opt}.a"));
        let st = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args(["--edition", "2021", "--crate-type=staticlib", "-C"])
            .arg(format!("opt-level={opt}"))
            .arg(src.join("lib.rs"))
            .arg("-o")
            .arg(&lib)
            .status()
            .expect("rustc must be installed");
        assert!(st.success(), "rustc at opt-level {opt}");
        let inputs = [main_o.clone(), lib];
        let exe = link_executable(
            config.compiler.linker(),
            &config.native_link_flags(),
            &inputs,
            &["-lgcc_s", "-lpthread", "-lm", "-ldl"],
            &format!("rust-staticlib{opt}"),
            &config.name(),
        );
        let (native, verdict) = run_both(
            &format!("opt-level {opt}"),
            &exe,
            &inputs,
            &RunSpec::default(),
        );
        assert_eq!(
            native.status.code(),
            Some(0),
            "native run at opt-level {opt}: {}",
            native.stderr_text()
        );
        assert!(
            native.stdout_text().contains("caught panic: true"),
            "the program exercises a caught panic: {}",
            native.stdout_text()
        );
        verdict.unwrap_or_else(|e| panic!("{e}"));
    }
}
