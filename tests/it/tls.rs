//! Thread-local storage in every model: `__thread` variables shared by two objects, used from
//! four threads, compiled by gcc and clang as PIE, -fPIC, -fno-pic, initial-exec, local-dynamic
//! and with TLS descriptors; output compared with the natively linked program.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use common::tool;

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // Threads finish in any order; compare their lines as a set.
    lines.sort();
    (
        out.status.code().unwrap_or(-1),
        lines.join("\n") + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn every_model_from_four_threads() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls");
    std::fs::create_dir_all(&out).expect("dir");
    let models: &[&[&str]] = &[
        &[],
        &["-fPIC"],
        &["-fno-pic"],
        &["-ftls-model=initial-exec"],
        &["-fPIC", "-ftls-model=local-dynamic"],
        &["-fPIC", "-mtls-dialect=gnu2"],
        &["-fPIC", "-ftls-model=local-dynamic", "-mtls-dialect=gnu2"],
    ];
    let mut failures = Vec::new();
    for cc in [tool("gcc").name.clone(), tool("clang-19").name.clone()] {
        for opt in ["-O0", "-O2"] {
            for flags in models {
                let tag = format!("{cc} {opt} {}", flags.join(" "));
                let dir = out.join(tag.replace([' ', '='], "_"));
                std::fs::create_dir_all(&dir).expect("dir");
                let mut objs: Vec<PathBuf> = Vec::new();
                for f in ["main.c", "shared.c"] {
                    let o = dir.join(f.replace(".c", ".o"));
                    let st = Command::new(&cc)
                        .arg(opt)
                        .args(*flags)
                        .arg("-c")
                        .arg(src.join(f))
                        .arg("-o")
                        .arg(&o)
                        .status()
                        .expect("cc");
                    assert!(st.success(), "{tag}: compiling {f}");
                    objs.push(o);
                }
                let exe = dir.join("native");
                let mut link = Command::new(&cc);
                if flags.contains(&"-fno-pic") {
                    link.arg("-no-pie");
                }
                assert!(link
                    .args(&objs)
                    .arg("-o")
                    .arg(&exe)
                    .arg("-lpthread")
                    .status()
                    .expect("link")
                    .success());
                let native = run(&mut Command::new(&exe));
                let jit = run(Command::new(env!("CARGO_BIN_EXE_jitlink")).args(&objs));
                if native != jit {
                    failures.push(format!("{tag}:\nnative {native:?}\njitlink {jit:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} configurations differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
