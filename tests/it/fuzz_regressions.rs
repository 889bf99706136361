//! Regression inputs of the fuzz targets (`fuzz/`): the seed objects, the minimized corpus each
//! campaign kept, and every input that ever crashed a target, fed through the same entry points
//! as the targets. Every input must end in `Ok` or `Err`: a panic fails the test.
//!
//! - `fuzz/seeds/`: real objects and archives (the campaigns' starting points);
//! - `testdata/fuzz/<target>/corpus/`: the minimized corpus of a campaign;
//! - `testdata/fuzz/<target>/crashes/`: inputs that crashed a target before its fix.

use crate::common;

use std::path::{Path, PathBuf};

use common::repo_dir;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Every regression input of every target: each target also gets the others' inputs.
fn inputs() -> Vec<PathBuf> {
    let root = repo_dir();
    let mut v = files(&root.join("fuzz/seeds"));
    for target in ["build_graph", "link_fixed"] {
        for sub in ["corpus", "crashes"] {
            v.extend(files(&root.join("testdata/fuzz").join(target).join(sub)));
        }
    }
    v
}

/// Runs `f` on every input, collecting the ones that panic.
fn each(target: &str, f: impl Fn(&[u8])) {
    let list = inputs();
    assert!(
        list.len() > 10,
        "{target}: only {} regression inputs",
        list.len()
    );
    let mut panicked = Vec::new();
    for path in &list {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&data))).is_err() {
            panicked.push(path.display().to_string());
        }
    }
    assert!(panicked.is_empty(), "{target}: panics on {panicked:#?}");
}

#[test]
fn build_graph_inputs_end_in_ok_or_err() {
    // The seeds are real objects (a few of them deliberately malformed, from the error
    // tests): most must build, or the campaigns would start from nothing useful.
    let seeds = files(&repo_dir().join("fuzz/seeds"));
    let built = seeds
        .iter()
        .filter(|s| {
            let data = std::fs::read(s).unwrap();
            jitlink::image::build_graph("seed.o", &data).is_ok()
        })
        .count();
    assert!(
        built * 4 >= seeds.len() * 3,
        "only {built} of {} seeds build",
        seeds.len()
    );
    each("build_graph", |data| {
        let _ = jitlink::image::build_graph("fuzz.o", data);
    });
}

#[test]
fn link_fixed_inputs_end_in_ok_or_err() {
    each("link_fixed", |data| {
        let inputs = [("fuzz.o".to_string(), data.to_vec())];
        let abs = [("abs_sym".to_string(), 0x1234_5678u64)];
        let _ = jitlink::image::link_at_base(&inputs, 0x40_0000, &abs);
    });
}

/// The in-process driver (`jitlink --noexec`) on the crash inputs that the fixed-base link
/// rejects: an error, exit status 1, not a panic. (Inputs that link are not run in process:
/// their initializers would run.)
#[test]
fn in_process_link_rejects_crash_inputs_with_an_error() {
    let root = repo_dir();
    let mut checked = 0;
    for target in ["build_graph", "link_fixed"] {
        for path in files(&root.join("testdata/fuzz").join(target).join("crashes")) {
            let data = std::fs::read(&path).unwrap();
            let inputs = [("fuzz.o".to_string(), data)];
            if jitlink::image::link_at_base(&inputs, 0x40_0000, &[]).is_ok() {
                continue;
            }
            let mut cmd = std::process::Command::new(common::jitlink_path());
            cmd.args(["--noexec", "--no-default-libs"]).arg(&path);
            let (code, _, err) = common::outcome(&mut cmd);
            assert_eq!(code, Some(1), "{}: {err}", path.display());
            assert!(err.contains("jitlink: error:"), "{}: {err}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0);
}
