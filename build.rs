//! Builds the executor (executor/executor.c) for the host and, when their cross compilers are
//! installed, for aarch64 and riscv64 Linux; the binaries are embedded in jitlink (see
//! src/executor/) and copied next to the jitlink binary (`target/<profile>/jitlink-executor`,
//! `jitlink-executor-aarch64`, `jitlink-executor-riscv64`) for
//! `jitlink-executor --listen HOST:PORT` on another machine.

use std::path::Path;
use std::process::Command;

fn build(compiler: &str, out: &Path) -> Result<(), String> {
    let status = Command::new(compiler)
        .args(["-O2", "-Wall", "-Wextra", "-o"])
        .arg(out)
        .arg("executor/executor.c")
        .args(["-ldl", "-lpthread"])
        .status()
        .map_err(|e| format!("{compiler}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{compiler} failed on executor/executor.c: {status}"
        ))
    }
}

/// A cross compiler installed after the first build must be noticed by the next `cargo build`:
/// installing a program changes the modification time of the `PATH` directory it lands in, so
/// every `PATH` directory is a build input (as is `PATH` itself).
fn watch_path_dirs() {
    println!("cargo::rerun-if-env-changed=PATH");
    let Some(path) = std::env::var_os("PATH") else {
        return;
    };
    for dir in std::env::split_paths(&path) {
        if dir.is_absolute() && dir.is_dir() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
}

/// Copies `built` to `name` in the profile directory (`target/<profile>/`, three levels above
/// OUT_DIR), through a rename so that a running executor there is not disturbed.
fn install(built: &Path, name: &str) {
    let Some(dir) = built.ancestors().nth(4) else {
        return;
    };
    let tmp = dir.join(format!(".{name}.tmp"));
    let done = std::fs::copy(built, &tmp).and_then(|_| std::fs::rename(&tmp, dir.join(name)));
    if let Err(e) = done {
        println!(
            "cargo::warning=could not copy {name} to {}: {e}",
            dir.display()
        );
    }
}

fn main() {
    println!("cargo::rerun-if-changed=executor/executor.c");
    println!("cargo::rerun-if-env-changed=CC");
    watch_path_dirs();
    println!("cargo::rustc-check-cfg=cfg(jitlink_executor_aarch64)");
    println!("cargo::rustc-check-cfg=cfg(jitlink_executor_riscv64)");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if let Err(e) = build(&cc, &out.join("jitlink-executor-host")) {
        panic!("building the host executor: {e}");
    }
    install(&out.join("jitlink-executor-host"), "jitlink-executor");
    for (arch, package) in [
        ("aarch64", "gcc-aarch64-linux-gnu"),
        ("riscv64", "gcc-riscv64-linux-gnu"),
    ] {
        let name = format!("jitlink-executor-{arch}");
        match build(&format!("{arch}-linux-gnu-gcc"), &out.join(&name)) {
            Ok(()) => {
                println!("cargo::rustc-cfg=jitlink_executor_{arch}");
                install(&out.join(&name), &name);
            }
            Err(e) => println!(
                "cargo::warning=no {arch} executor ({e}): `--executor qemu` for {arch} needs \
                 {package} when jitlink is built"
            ),
        }
    }
}
