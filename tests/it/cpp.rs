//! C++ programs: static constructors and destructors, exceptions thrown in one object and caught
//! in another, RTTI and dynamic_cast, virtual calls, std::map, std::string, iostreams, std::thread
//! with thread_local; g++ and clang++ at -O0 and -O2, PIE, -fPIC and -fno-pic, with and without
//! -ffunction-sections; compared with the natively linked program. The -fno-pic build writes
//! with stdio instead of std::cout: see `iostreams_in_non_pic_code_are_a_clear_error`.

use crate::common;

use common::*;

/// Compiles `main.cpp` and `shapes.cpp` of `testdata/cpp` in `config` with `extra` flags.
fn shapes(config: &Config, extra: &[String]) -> Vec<std::path::PathBuf> {
    let src = testdata_dir().join("cpp");
    let job = |f: &str| CompileJob::new(config, src.join(f), extra);
    compile_all(&[job("main.cpp"), job("shapes.cpp")])
}

#[test]
fn shapes_in_every_configuration() {
    let args = RunSpec::args(&["s2", "c1", "x3", "s1.5", "", "c2.5"]);
    let mut failures = Failures::new("C++ programs");
    for compiler in Compiler::CXX {
        for opt in Opt::ALL {
            for pic in Pic::ALL {
                for sections in [false, true] {
                    let config = Config::new(compiler, opt, pic, sections, false);
                    let extra = match pic {
                        Pic::NoPic => vec!["-DNO_IOSTREAM".to_string()],
                        _ => vec![],
                    };
                    let objs = shapes(&config, &extra);
                    // Both orders: COMDAT copies are kept from whichever object comes first.
                    for order in [[0, 1], [1, 0]] {
                        // The native link uses the same order: it decides constructor order.
                        let inputs = [objs[order[0]].clone(), objs[order[1]].clone()];
                        let name = format!("shapes{}{}", order[0], order[1]);
                        let exe = native_link(&config, &inputs, &name);
                        // And in an executor process: exceptions unwind through the frames
                        // registered there, destructors run at its exit.
                        for options in [&[][..], &["--executor", "process"]] {
                            let label = format!("{config} order {order:?} {}", options.join(" "));
                            let (_, verdict) =
                                run_both_with_options(&label, &exe, options, &inputs, &args);
                            failures.record(verdict);
                        }
                    }
                }
            }
        }
    }
    failures.finish();
}

/// Non-PIC code that takes the 32-bit address of std::cout, a writable libstdc++ object beyond
/// 2 GiB, cannot be linked without sharing a copy with libstdc++: jitlink says so, naming the
/// object, instead of running code that would use a private copy.
#[test]
fn iostreams_in_non_pic_code_are_a_clear_error() {
    let config = Config::new(Compiler::Gxx, Opt::O2, Pic::NoPic, false, false);
    let objs = shapes(&config, &[]);
    let (code, stdout, stderr) = outcome(&mut jitlink_command(&[], &objs, &["s1".to_string()]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "nothing may run: {stdout}");
    assert!(
        stderr.contains("_ZSt4cout") && stderr.contains("-fPIC"),
        "{stderr}"
    );
}
