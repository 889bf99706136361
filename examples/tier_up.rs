//! Tier-up while a program runs: testdata/reopt/main.c and kernels.c compiled at -O0 are linked
//! with a counter per function; when a kernel has been called `THRESHOLD` times, the same source
//! compiled at -O2 is linked in the background and the kernel's stub is pointed at it. The C
//! program prints the time of each tenth of its run, so the speed-up shows in its output.
//!
//! ```sh
//! cargo run --release --example tier_up            # gcc; CC=clang-19 to use clang
//! cargo run --release --example tier_up -- 40000   # rounds (default 20000)
//! ```

use std::ffi::{c_char, c_int, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use jitlink::reopt::{NewDefinition, ReoptOptions, Reoptimizer};
use jitlink::Options;

const THRESHOLD: u64 = 5000;

fn compile(cc: &str, src: &Path, opt: &str, out: &Path) -> Result<(), String> {
    let status = Command::new(cc)
        .arg(opt)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .map_err(|e| format!("{cc}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cc} {opt} {} failed", src.display()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let rounds = std::env::args().nth(1).unwrap_or_else(|| "20000".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("testdata/reopt");
    let dir = root.join("target/examples-cache/tier_up");
    std::fs::create_dir_all(&dir)?;
    let (main0, k0, k2) = (
        dir.join("main-O0.o"),
        dir.join("kernels-O0.o"),
        dir.join("kernels-O2.o"),
    );
    compile(&cc, &src.join("main.c"), "-O0", &main0)?;
    compile(&cc, &src.join("kernels.c"), "-O0", &k0)?;
    compile(&cc, &src.join("kernels.c"), "-O2", &k2)?;

    // The callback: every function of kernels.c has a better version in kernels-O2.o.
    let better = std::fs::read(&k2)?;
    let reopt = Reoptimizer::new(
        Options::default(),
        // With the log: "jitlink: reoptimized kernel_sum after 5000 calls".
        ReoptOptions::default()
            .with_threshold(THRESHOLD)
            .with_log(true),
        Arc::new(move |name: &str, calls: u64| {
            eprintln!("tier_up: {name} is hot ({calls} calls): linking its -O2 version");
            name.starts_with("kernel_").then(|| NewDefinition {
                name: "kernels-O2.o".into(),
                bytes: better.clone(),
            })
        }),
    );
    reopt.add_file(&main0)?;
    reopt.add_file(&k0)?;
    let main = reopt.lookup("main")?;

    let args: Vec<CString> = ["tier_up", "time", rounds.as_str()]
        .iter()
        .map(|a| CString::new(*a))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    type Main = extern "C" fn(c_int, *const *const c_char) -> c_int;
    // SAFETY: `main` is the C program's main, linked above.
    let main: Main = unsafe { std::mem::transmute(main as usize) };
    let status = main(3, argv.as_ptr());
    reopt.wait_idle();
    for e in reopt.events() {
        println!("event: {e}");
    }
    std::process::exit(status)
}
