//! C++ programs: static constructors and destructors, exceptions thrown in one object and caught
//! in another, RTTI and dynamic_cast, virtual calls, std::map, std::string, iostreams, std::thread
//! with thread_local; g++ and clang++ at -O0 and -O2, PIE and -fPIC, with and without
//! -ffunction-sections; compared with the natively linked program.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str) -> String {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{name} is required by the C++ tests (run .ci/test to install the tools)"
    );
    name.to_string()
}

fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shapes_in_every_configuration() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cpp");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp");
    let args = ["s2", "c1", "x3", "s1.5", "", "c2.5"];
    let mut failures = Vec::new();
    for cxx in [tool("g++"), tool("clang++-19")] {
        for opt in ["-O0", "-O2"] {
            for pic in [&[][..], &["-fPIC"][..]] {
                for sections in [&[][..], &["-ffunction-sections", "-fdata-sections"][..]] {
                    let tag = format!("{cxx} {opt} {} {}", pic.join(" "), sections.join(" "));
                    let dir = out.join(tag.replace([' ', '='], "_"));
                    std::fs::create_dir_all(&dir).expect("dir");
                    // Both orders: COMDAT copies are kept from whichever object comes first.
                    let mut objs: Vec<PathBuf> = Vec::new();
                    for f in ["main.cpp", "shapes.cpp"] {
                        let o = dir.join(f.replace(".cpp", ".o"));
                        let st = Command::new(&cxx)
                            .arg(opt)
                            .args(pic)
                            .args(sections)
                            .arg("-c")
                            .arg(src.join(f))
                            .arg("-o")
                            .arg(&o)
                            .status()
                            .expect("c++");
                        assert!(st.success(), "{tag}: compiling {f}");
                        objs.push(o);
                    }
                    for order in [[0, 1], [1, 0]] {
                        // The native link uses the same order: it decides constructor order.
                        let inputs = [&objs[order[0]], &objs[order[1]]];
                        let exe = dir.join(format!("native{}{}", order[0], order[1]));
                        assert!(Command::new(&cxx)
                            .args(inputs)
                            .arg("-o")
                            .arg(&exe)
                            .status()
                            .expect("link")
                            .success());
                        let native = run(Command::new(&exe).args(args));
                        let jit = run(Command::new(env!("CARGO_BIN_EXE_jitlink"))
                            .args(inputs)
                            .arg("--")
                            .args(args));
                        if native != jit {
                            failures.push(format!(
                                "{tag} order {order:?}:\nnative {native:?}\njitlink {jit:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} runs differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
