//! Write-xor-execute for the whole process: a C++ program that uses thread-local storage and
//! exceptions scans its own `/proc/self/maps` and fails if any mapping, the stack included, is
//! writable and executable. It runs under jitlink in process, in an executor process, lazily
//! linked and under the re-optimizer (in process and in an executor).

use std::path::PathBuf;
use std::process::Command;

use crate::common;

use common::{outcome, scratch_dir, tool};

const PROGRAM: &str = r#"
#include <cstdio>
#include <cstring>
#include <stdexcept>

static thread_local int counter = 41;

// Counts the mappings of this process that are writable and executable at once.
extern "C" int wx_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[512];
    int bad = 0;
    while (fgets(line, sizeof line, f)) {
        char perms[5] = {0};
        if (sscanf(line, "%*s %4s", perms) == 1 && perms[1] == 'w' && perms[2] == 'x') {
            fputs(line, stderr);
            bad++;
        }
    }
    fclose(f);
    return bad;
}

int thrower(int x) {
    if (x > 0) throw std::runtime_error("boom");
    return x;
}

int main() {
    int caught = 0;
    for (int i = 0; i < 3; i++) {
        try {
            thrower(i + 1);
        } catch (const std::exception &e) {
            caught += std::strcmp(e.what(), "boom") == 0;
        }
        counter++;
    }
    int bad = wx_mappings();
    std::printf("counter %d, caught %d, %d writable and executable mappings\n", counter, caught, bad);
    return bad != 0;
}
"#;

fn program_object() -> PathBuf {
    let dir = scratch_dir("wx");
    let src = dir.join("wx.cpp");
    std::fs::write(&src, PROGRAM).unwrap();
    let obj = dir.join("wx.o");
    let mut cmd = Command::new(&tool("g++").path);
    cmd.args(["-O1", "-c"]).arg(&src).arg("-o").arg(&obj);
    let (code, _, err) = outcome(&mut cmd);
    assert_eq!(code, Some(0), "g++ wx.cpp: {err}");
    obj
}

#[test]
fn no_mapping_is_writable_and_executable_in_any_mode() {
    let obj = program_object();
    let o = obj.to_string_lossy().into_owned();
    let modes: &[&[&str]] = &[
        &[],
        &["--executor", "process"],
        &["--lazy"],
        &["--reopt", &o, "--reopt-threshold", "1"],
        &["--executor", "process", "--lazy"],
        &[
            "--executor",
            "process",
            "--reopt",
            &o,
            "--reopt-threshold",
            "1",
        ],
    ];
    let mut failures = Vec::new();
    for mode in modes {
        let mut cmd = Command::new(common::jitlink_path());
        cmd.args(*mode).arg(&obj);
        let (code, out, err) = outcome(&mut cmd);
        let want = "counter 44, caught 3, 0 writable and executable mappings\n";
        if code != Some(0) || out != want {
            failures.push(format!(
                "jitlink {} {o}: exit {code:?}\n  stdout: {out}  stderr: {err}",
                mode.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
