//! C++ programs: static constructors and destructors, exceptions thrown in one object and caught
//! in another, RTTI and dynamic_cast, virtual calls, std::map, std::string, iostreams, std::thread
//! with thread_local; g++ and clang++ at -O0 and -O2, PIE, -fPIC and -fno-pic, with and without
//! -ffunction-sections; compared with the natively linked program. The -fno-pic build writes
//! with stdio instead of std::cout: see `iostreams_in_non_pic_code_are_a_clear_error`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use common::{outcome, tool};

#[test]
fn shapes_in_every_configuration() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cpp");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp");
    let args = ["s2", "c1", "x3", "s1.5", "", "c2.5"];
    let mut failures = Vec::new();
    for cxx in [tool("g++").name.clone(), tool("clang++-19").name.clone()] {
        for opt in ["-O0", "-O2"] {
            for pic in [&[][..], &["-fPIC"][..], &["-fno-pic", "-DNO_IOSTREAM"][..]] {
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
                        let mut link = Command::new(&cxx);
                        if pic.contains(&"-fno-pic") {
                            link.arg("-no-pie");
                        }
                        assert!(link
                            .args(inputs)
                            .arg("-o")
                            .arg(&exe)
                            .status()
                            .expect("link")
                            .success());
                        let native = outcome(Command::new(&exe).args(args));
                        let jit = outcome(
                            Command::new(env!("CARGO_BIN_EXE_jitlink"))
                                .args(inputs)
                                .arg("--")
                                .args(args),
                        );
                        if native != jit {
                            failures.push(format!(
                                "{tag} order {order:?}:\nnative {native:?}\njitlink {jit:?}"
                            ));
                        }
                        // The same in an executor process: exceptions unwind through the frames
                        // registered there, destructors run at its exit.
                        let remote = outcome(
                            Command::new(env!("CARGO_BIN_EXE_jitlink"))
                                .args(["--executor", "process"])
                                .args(inputs)
                                .arg("--")
                                .args(args),
                        );
                        if native != remote {
                            failures.push(format!(
                                "{tag} order {order:?}, --executor process:\nnative {native:?}\njitlink {remote:?}"
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

/// Non-PIC code that takes the 32-bit address of std::cout, a writable libstdc++ object beyond
/// 2 GiB, cannot be linked without sharing a copy with libstdc++: jitlink says so, naming the
/// object, instead of running code that would use a private copy.
#[test]
fn iostreams_in_non_pic_code_are_a_clear_error() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cpp");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp-nopic-iostream");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut objs = Vec::new();
    for f in ["main.cpp", "shapes.cpp"] {
        let o = dir.join(f.replace(".cpp", ".o"));
        let st = Command::new(tool("g++").name.clone())
            .args(["-O2", "-fno-pic", "-c"])
            .arg(src.join(f))
            .arg("-o")
            .arg(&o)
            .status()
            .expect("g++");
        assert!(st.success());
        objs.push(o);
    }
    let (code, stdout, stderr) = outcome(
        Command::new(env!("CARGO_BIN_EXE_jitlink"))
            .args(&objs)
            .arg("--")
            .arg("s1"),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "nothing may run: {stdout}");
    assert!(
        stderr.contains("_ZSt4cout") && stderr.contains("-fPIC"),
        "{stderr}"
    );
}
