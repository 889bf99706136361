//! A Rust static library (`rustc --crate-type=staticlib`, standard library included) at
//! opt-level 0 and 3, called from C: HashMap, threads with thread_local!, println!, a panic
//! caught by catch_unwind. Linked by jitlink and by gcc; outputs must be identical.

use std::path::Path;
use std::process::Command;

use crate::common;

use common::{outcome, tool};

#[test]
fn staticlib_called_from_c() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rust");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-staticlib");
    std::fs::create_dir_all(&dir).expect("dir");
    let main_o = dir.join("main.o");
    let st = Command::new(&tool("gcc").path)
        .args(["-O2", "-c"])
        .arg(src.join("main.c"))
        .arg("-o")
        .arg(&main_o)
        .status()
        .expect("gcc");
    assert!(st.success(), "compiling main.c");
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
        let exe = dir.join(format!("native{opt}"));
        let st = Command::new(&tool("gcc").path)
            .arg(&main_o)
            .arg(&lib)
            .arg("-o")
            .arg(&exe)
            .args(["-lgcc_s", "-lpthread", "-lm", "-ldl"])
            .status()
            .expect("gcc");
        assert!(st.success(), "native link at opt-level {opt}");
        let native = outcome(&mut Command::new(&exe));
        let jit = outcome(
            Command::new(env!("CARGO_BIN_EXE_jitlink"))
                .arg(&main_o)
                .arg(&lib),
        );
        assert_eq!(
            native.0,
            Some(0),
            "native run at opt-level {opt}: {native:?}"
        );
        assert!(
            native.1.contains("caught panic: true"),
            "the program exercises a caught panic: {native:?}"
        );
        assert_eq!(
            jit, native,
            "opt-level {opt}: jitlink differs from the native link"
        );
    }
}
