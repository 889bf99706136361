//! Debugger and profiler support, checked with the real tools' views of linked code:
//!
//! * gdb (batch mode, through its JIT interface) runs a program compiled with -g that crashes
//!   three objects deep, and its backtrace must name every linked frame with its source file and
//!   line (the lines are found in the sources by markers, not written into the test);
//! * the perf map that `--perf-map` writes must hold every linked function at the address the
//!   linker gave it (read back from `--show-graph`, or from the library's lookups), with its
//!   size from the object's symbol table, and the stubs, whose bytes must jump to their targets;
//! * the crash report names the function, offset and file the program counter is in.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Compiler, Config, Opt, Pic};
use jitlink::{Options, Redirectable, Session};

/// main → dbg_walk (another object) → static dbg_step → dbg_crash (a third object), which
/// writes through a null pointer. Each call's result is used after it, so no call is a tail
/// call, and the functions are `noinline`, so every frame exists at -O2 too. `L:name` markers
/// name the lines gdb must report.
const MAIN_C: &str = r#"#include <stdio.h>
int dbg_walk(int depth);
int main(int argc, char **argv) {
    (void)argv;
    printf("walking\n");
    fflush(stdout);
    int r = dbg_walk(argc + 2); /* L:main */
    printf("not reached %d\n", r);
    return r;
}
"#;

const WALK_C: &str = r#"#include <stdio.h>
int dbg_crash(volatile int *where, int value);
static volatile int *target;
__attribute__((noinline)) static int dbg_step(int n) {
    int r = dbg_crash(target, n) * 3; /* L:step */
    return r + n;
}
__attribute__((noinline)) int dbg_walk(int depth) {
    int r = dbg_step(depth + 1) + 7; /* L:walk */
    puts("not reached either");
    return r;
}
"#;

/// The table makes the object larger than 64 KiB: gdb then reads it from a private mapping of
/// its file (or of the archive holding it) rather than from a copy.
const CRASH_C: &str = r#"const unsigned char dbg_crash_table[96 * 1024] = {1, 2, 3};
__attribute__((noinline)) int dbg_crash(volatile int *where, int value) {
    *where = value + dbg_crash_table[value]; /* L:crash */
    return value * 2;
}
"#;

/// The configurations gdb is driven on: both compilers, both optimization levels, every code
/// model, with and without function sections.
fn gdb_configs() -> Vec<Config> {
    vec![
        Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, true),
        Config::new(Compiler::Gcc, Opt::O2, Pic::NoPic, true, true),
        Config::new(Compiler::Clang, Opt::O0, Pic::Pic, false, true),
        Config::new(Compiler::Clang, Opt::O2, Pic::Pie, true, true),
    ]
}

fn sources() -> [(&'static str, &'static str); 3] {
    [
        ("dbg_main.c", MAIN_C),
        ("dbg_walk.c", WALK_C),
        ("dbg_crash.c", CRASH_C),
    ]
}

/// The 1-based line of `marker` in `text`.
fn line_of(text: &str, marker: &str) -> usize {
    text.lines()
        .position(|l| l.contains(&format!("/* L:{marker} */")))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("marker {marker} not in source"))
}

/// gdb in batch mode with nothing that could make it slow or hang here: no init files, no
/// debuginfod (the network is closed), no auto-loaded scripts, no shell; then `settings`, and
/// `commands` run on `jitlink jitlink_args inputs`.
fn gdb_batch(
    settings: &[&str],
    commands: &[&str],
    jitlink_args: &[&str],
    inputs: &[PathBuf],
) -> Command {
    let gdb = common::tool("gdb");
    let mut cmd = Command::new(&gdb.path);
    cmd.args(["-nx", "-batch"]);
    for setting in [
        "set debuginfod enabled off",
        "set auto-load off",
        "set startup-with-shell off",
    ]
    .iter()
    .chain(settings)
    {
        cmd.args(["-iex", setting]);
    }
    for command in commands {
        cmd.args(["-ex", command]);
    }
    cmd.arg("--args").arg(common::jitlink_path());
    cmd.args(jitlink_args).args(inputs);
    cmd
}

/// gdb runs the program and prints a backtrace; `extra` gdb commands run after `bt`.
fn gdb_command(extra: &[&str], jitlink_args: &[&str], inputs: &[PathBuf]) -> Command {
    let mut commands = vec!["run", "bt"];
    commands.extend(extra);
    gdb_batch(
        &["set pagination off", "set width 0"],
        &commands,
        jitlink_args,
        inputs,
    )
}

#[test]
fn gdb_backtrace_names_linked_functions_with_source_lines() {
    let mut failures = common::Failures::new("gdb backtraces through linked code");
    let mut cases = Vec::new();
    for (i, config) in gdb_configs().into_iter().enumerate() {
        let objects = common::compile_generated(&config, &sources());
        if i == 0 {
            // Archive members are registered from inside the archive's file.
            let lib = common::archive(&objects[1..], "dbg");
            cases.push((
                format!("{config}, members of an archive"),
                vec![objects[0].clone(), lib],
            ));
        }
        cases.push((config.to_string(), objects));
    }
    for (config, inputs) in cases {
        // Debugger support is on by default when jitlink runs the program.
        let cmd = gdb_command(&[], &[], &inputs);
        let (out, line) = common::run_command(cmd, "gdb-bt");
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        let expected = [
            ("dbg_crash", "dbg_crash.c", line_of(CRASH_C, "crash")),
            ("dbg_step", "dbg_walk.c", line_of(WALK_C, "step")),
            ("dbg_walk", "dbg_walk.c", line_of(WALK_C, "walk")),
            ("main", "dbg_main.c", line_of(MAIN_C, "main")),
        ];
        let frames: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        let mut problems = Vec::new();
        if !text.contains("Program received signal SIGSEGV") {
            problems.push("gdb did not stop on SIGSEGV".to_string());
        }
        let mut last = None;
        for (func, file, line_no) in expected {
            // gcc records the path as given, clang the absolute one.
            let at = format!("at {file}:{line_no}");
            let found = frames.iter().position(|f| {
                let in_func = f.contains(&format!(" {func} ("));
                let place = f.ends_with(&format!("/{file}:{line_no}")) || f.ends_with(&at);
                in_func && place
            });
            match found {
                Some(i) if last.is_none_or(|l| i > l) => last = Some(i),
                Some(i) => problems.push(format!("frame of {func} (#{i}) out of order")),
                None => problems.push(format!("no frame `{func} (...) {at}`")),
            }
        }
        failures.record(if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{config}: {}\n  command: {line}\n  gdb output:\n{text}",
                problems.join("; ")
            ))
        });
    }
    failures.finish();
}

/// An inline C++ function defined in two objects: the second object's COMDAT copy is
/// discarded. gdb must show the kept copy in the backtrace and must not see the discarded
/// one at address 0 (as a second location, or as the name of a null pointer).
const POKE_HPP: &str = r#"inline int dbg_poke(volatile int *p, int v) {
    *p = v; /* L:poke */
    return v;
}
"#;

const COMDAT_A: &str = r#"#include "dbg_poke.h"
int dbg_other(volatile int *p);
static volatile int ok;
int dbg_first(int x) { return dbg_poke(&ok, x); }
int main() {
    dbg_first(1);
    return dbg_other(nullptr); /* L:main */
}
"#;

const COMDAT_B: &str = r#"#include "dbg_poke.h"
int dbg_other(volatile int *p) {
    return dbg_poke(p, 2) + 1; /* L:other */
}
"#;

#[test]
fn gdb_ignores_discarded_comdat_copies() {
    let mut failures = common::Failures::new("gdb and discarded COMDAT groups");
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O0, Pic::Pie, false, true);
        // The header sits next to each source (its contents are part of the compile key).
        let a = common::generated_source("dbg_comdat_a.cpp", COMDAT_A);
        let b = common::generated_source("dbg_comdat_b.cpp", COMDAT_B);
        for src in [&a, &b] {
            std::fs::write(src.parent().unwrap().join("dbg_poke.h"), POKE_HPP).unwrap();
        }
        let objects = common::compile_all(&[
            common::CompileJob::new(&config, a, &[]),
            common::CompileJob::new(&config, b, &[]),
        ]);
        let gdb = gdb_command(&["info line dbg_poke"], &["--debugger-support"], &objects);
        let (out, line) = common::run_command(gdb, "gdb-comdat");
        let text = out.stdout_text();
        let mut problems = Vec::new();
        let frame = |func: &str, file: &str, marker: &str, src: &str| {
            let want = format!("{file}:{}", line_of(src, marker));
            text.lines().any(|l| {
                l.starts_with('#') && l.contains(&format!(" {func} (")) && l.ends_with(&want)
            })
        };
        if !frame("dbg_poke", "dbg_poke.h", "poke", POKE_HPP) {
            problems.push("no dbg_poke frame at its header line");
        }
        if !frame("dbg_other", "dbg_comdat_b.cpp", "other", COMDAT_B) {
            problems.push("no dbg_other frame");
        }
        if !frame("main", "dbg_comdat_a.cpp", "main", COMDAT_A) {
            problems.push("no main frame");
        }
        if text.contains("0x0 <") {
            problems.push("gdb names address 0 after a discarded copy");
        }
        let info: Vec<&str> = text.lines().filter(|l| l.starts_with("Line ")).collect();
        if info.len() != 1 || info[0].contains("address 0x0 ") {
            problems.push("`info line dbg_poke` does not give exactly the kept copy");
        }
        failures.record(if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{config}: {}\n  command: {line}\n{text}",
                problems.join("; ")
            ))
        });
    }
    failures.finish();
}

/// A breakpoint set by source line before the program runs (pending) is resolved when the set
/// is registered, stops there with the arguments readable, and the program continues.
#[test]
fn gdb_breakpoint_by_line_in_linked_code() {
    let mut failures = common::Failures::new("gdb breakpoints in linked code");
    for compiler in Compiler::ALL {
        let config = Config::new(compiler, Opt::O0, Pic::Pie, false, true);
        let objects = common::compile_generated(&config, &sources());
        let step = line_of(WALK_C, "step");
        let brk = format!("break dbg_walk.c:{step}");
        let cmd = gdb_batch(
            &["set breakpoint pending on"],
            &[&brk, "run", "info args", "continue"],
            &[],
            &objects,
        );
        let (out, line) = common::run_command(cmd, "gdb-break");
        let text = out.stdout_text();
        let stopped = text.lines().any(|l| {
            l.starts_with("Breakpoint 1, dbg_step (n=4) at ")
                && l.ends_with(&format!("dbg_walk.c:{step}"))
        });
        let args = text.lines().any(|l| l == "n = 4");
        let continued = text.contains("Program received signal SIGSEGV");
        failures.record(if stopped && args && continued {
            Ok(())
        } else {
            Err(format!(
                "{config}: stopped {stopped}, args {args}, continued {continued}\n  command: {line}\n{text}"
            ))
        });
    }
    failures.finish();
}

/// With --no-debugger-support gdb has nothing to name the frames with: the registration is
/// what makes the difference (and the test above is not passing for another reason).
#[test]
fn gdb_sees_nothing_without_debugger_support() {
    let config = Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, true);
    let objects = common::compile_generated(&config, &sources());
    let cmd = gdb_command(&[], &["--no-debugger-support"], &objects);
    let (out, _) = common::run_command(cmd, "gdb-bt-off");
    let text = out.stdout_text();
    assert!(
        text.contains("Program received signal SIGSEGV"),
        "gdb did not stop on SIGSEGV:\n{text}{}",
        out.stderr_text()
    );
    assert!(
        !text.contains("dbg_crash.c:"),
        "gdb found linked code's lines without registration:\n{text}"
    );
}

/// Registration and removal, seen through the descriptor gdb reads: one image per input
/// object while the set lives, none after `remove`.
#[test]
fn gdb_descriptor_lists_each_input_until_removed() {
    let config = Config::new(Compiler::Clang, Opt::O2, Pic::Pie, true, true);
    let objects = common::compile_generated(&config, &sources());
    // dbg_crash.o is above the size from which files are mapped rather than copied.
    let big = &objects[2];
    assert!(std::fs::metadata(big).unwrap().len() > 64 << 10);
    let before = jitlink::debug::registered_images();
    let mut session = Session::new(Options::default().with_debugger_support(true));
    // Large files are mapped again privately for gdb; small ones and bytes in memory are
    // copied: do all three.
    session
        .add_object_bytes("in-memory.o", std::fs::read(&objects[0]).unwrap())
        .unwrap();
    for o in &objects[1..] {
        session.add_file(o).unwrap();
    }
    let id = session.link_pending().unwrap().unwrap();
    let images = jitlink::debug::registered_images();
    // Other tests in this process may register sets concurrently; ours are three more.
    assert!(
        images.len() >= before.len() + objects.len(),
        "registered {images:?} (before: {before:?})"
    );
    let ours: Vec<_> = images.iter().filter(|i| !before.contains(i)).collect();
    let range = session.linked_range(id).unwrap();
    // Each image is an ELF relocatable object whose .text lies in the set's memory.
    let mut texts = 0;
    for &&(addr, size) in &ours {
        // SAFETY: the image is owned by the live registration and `size` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size as usize) };
        let file = object::read::elf::ElfFile64::<object::LittleEndian>::parse(bytes).unwrap();
        use object::{Object, ObjectSection};
        for s in file.sections() {
            if s.name().unwrap_or("").starts_with(".text") && s.size() > 0 {
                assert!(
                    s.address() >= range.0 && s.address() + s.size() <= range.1,
                    "{} at {:#x} outside the set {range:x?}",
                    s.name().unwrap_or(""),
                    s.address()
                );
                texts += 1;
            }
        }
    }
    assert!(texts >= objects.len(), "only {texts} .text sections placed");
    // The image of the large file is a private mapping of that file (not a copy); the others
    // are not in any file mapping.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let file_of = |addr: u64| {
        maps.lines().find_map(|l| {
            let (range, rest) = l.split_once(' ')?;
            let (lo, hi) = range.split_once('-')?;
            let (lo, hi) = (
                u64::from_str_radix(lo, 16).ok()?,
                u64::from_str_radix(hi, 16).ok()?,
            );
            // Only file mappings count: a copy may lie in `[heap]` or an anonymous mapping.
            let path = rest
                .split_whitespace()
                .nth(4)
                .filter(|p| p.starts_with('/'))?;
            (addr >= lo && addr < hi).then(|| PathBuf::from(path))
        })
    };
    let mapped: Vec<Option<PathBuf>> = ours.iter().map(|&&(addr, _)| file_of(addr)).collect();
    assert!(
        mapped.iter().any(|m| m.as_deref() == Some(big.as_path())),
        "no image mapped from {}: {mapped:?}",
        big.display()
    );
    assert_eq!(
        mapped.iter().filter(|m| m.is_none()).count(),
        objects.len() - 1,
        "small objects are not copied: {mapped:?}"
    );
    // A copied image holds what gdb reads (symbols, DWARF, .eh_frame), not the code and data
    // that gdb reads from the process.
    for (&&(addr, size), m) in ours.iter().zip(&mapped) {
        if m.is_some() {
            continue;
        }
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size as usize) };
        let file = object::read::elf::ElfFile64::<object::LittleEndian>::parse(bytes).unwrap();
        use object::{Object, ObjectSection};
        let with_contents = |prefix: &str| {
            file.sections()
                .filter(|s| s.name().unwrap_or("").starts_with(prefix) && s.size() > 0)
                .map(|s| s.file_range().is_some())
                .collect::<Vec<_>>()
        };
        assert!(!with_contents(".text").is_empty());
        assert!(
            !with_contents(".text").contains(&true),
            "code copied for gdb"
        );
        assert!(
            !with_contents(".debug_info").contains(&false),
            "DWARF left out"
        );
        assert!(
            !with_contents(".debug_info").is_empty(),
            "no DWARF in the image"
        );
        assert!(
            !with_contents(".eh_frame").contains(&false),
            ".eh_frame left out"
        );
    }
    session.remove(id).unwrap();
    let after = jitlink::debug::registered_images();
    assert!(
        ours.iter().all(|i| !after.contains(i)),
        "images still registered after remove"
    );
}

/// `START SIZE NAME` lines of a perf map, hex without 0x.
fn parse_perf_map(path: &Path) -> Vec<(u64, u64, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            let start = u64::from_str_radix(it.next().unwrap(), 16)
                .unwrap_or_else(|_| panic!("bad start in {l:?}"));
            let size = u64::from_str_radix(it.next().unwrap_or(""), 16)
                .unwrap_or_else(|_| panic!("bad size in {l:?}"));
            (start, size, it.next().unwrap_or("").to_string())
        })
        .collect()
}

/// Function symbols `(name, size)` of an object's symbol table.
fn elf_functions(path: &Path) -> Vec<(String, u64)> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    file.symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition())
        .map(|s| (s.name().unwrap().to_string(), s.size()))
        .collect()
}

/// The `jitlink` tool: every callable symbol of `--show-graph` is in the perf map at its
/// address with the object's size, and the -fno-pic objects' calls to the C library go
/// through stubs, which are in the map too.
#[test]
fn perf_map_matches_the_linked_graph() {
    let mut failures = common::Failures::new("perf map against --show-graph");
    for config in [
        Config::new(Compiler::Gcc, Opt::O2, Pic::NoPic, false, false),
        Config::new(Compiler::Clang, Opt::O0, Pic::NoPic, true, true),
    ] {
        let objects = common::compile_generated(&config, &sources());
        let child =
            common::jitlink_command(&["--perf-map", "--show-graph", "--noexec"], &objects, &[])
                .output()
                .unwrap();
        assert!(child.status.success(), "{config}: jitlink failed");
        // The map is named after the process that wrote it; find it by the graph's addresses.
        let graph = String::from_utf8_lossy(&child.stderr).into_owned();
        let mut symbols: HashMap<String, u64> = HashMap::new();
        let mut stub_block = None;
        let mut section = "";
        for l in graph.lines() {
            let words: Vec<&str> = l.split_whitespace().collect();
            if words.first() == Some(&"section") {
                section = if words.get(1) == Some(&"$__STUBS") {
                    "stubs"
                } else {
                    ""
                };
            }
            if words.first() == Some(&"block") && section == "stubs" {
                let start = u64::from_str_radix(words[1].trim_start_matches("0x"), 16).unwrap();
                let size = u64::from_str_radix(words[3].trim_start_matches("0x"), 16).unwrap();
                stub_block = Some((start, start + size));
            }
            if words.first() == Some(&"symbol") && l.ends_with("callable") && words.len() > 4 {
                let addr = u64::from_str_radix(words[1].trim_start_matches("0x"), 16).unwrap();
                symbols.insert(words[3].to_string(), addr);
            }
        }
        let map_path = PathBuf::from(format!("/tmp/perf-{}.map", child_pid_from_map(&symbols)));
        let map = parse_perf_map(&map_path);
        let _ = std::fs::remove_file(&map_path);
        let mut problems = Vec::new();
        for o in &objects {
            for (name, size) in elf_functions(o) {
                match (symbols.get(&name), map.iter().find(|e| e.2 == name)) {
                    (Some(&addr), Some(e)) if e.0 == addr && e.1 == size => {}
                    (graph_addr, entry) => problems.push(format!(
                        "{name}: graph {graph_addr:x?}, size {size:#x}; map {entry:x?}"
                    )),
                }
            }
        }
        let (lo, hi) = stub_block.unwrap_or_else(|| panic!("{config}: no stubs in\n{graph}"));
        for host in ["puts", "printf", "fflush"] {
            let name = format!("{host}@stub");
            if !map
                .iter()
                .any(|e| e.2 == name && e.0 >= lo && e.0 + e.1 <= hi)
            {
                problems.push(format!("no {name} inside the stub block {lo:#x}..{hi:#x}"));
            }
        }
        failures.record(if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{config}: {}", problems.join("\n  ")))
        });
    }
    failures.finish();
}

/// The perf map of a finished `jitlink` process: the `/tmp/perf-*.map` file whose `main`
/// entry is at the address the graph gave `main` (addresses of two live processes never
/// coincide with the same layout, and the writer has exited).
fn child_pid_from_map(symbols: &HashMap<String, u64>) -> u32 {
    let main = symbols["main"];
    let want = format!("{main:x} ");
    for entry in std::fs::read_dir("/tmp").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("perf-")
            .and_then(|n| n.strip_suffix(".map"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if std::fs::read_to_string(entry.path()).is_ok_and(|t| {
            t.lines()
                .any(|l| l.starts_with(&want) && l.ends_with(" main"))
        }) {
            return pid;
        }
    }
    panic!("no /tmp/perf-*.map with main at {main:#x}");
}

const PERF_LIB_C: &str = r#"#include <stdio.h>
static int pm_counter;
__attribute__((noinline)) static int pm_local(int x) { return x * 3 + pm_counter++; }
int pm_twice(int x) { return pm_local(x) + pm_local(x + 1); }
int pm_hello(void) { puts("hello from pm_hello"); return pm_twice(2); }
"#;

/// The library: a session with `perf_map` writes this process's map; each function's entry is
/// where `lookup` (or, for a redirectable function, its stub's target) says, and
/// `describe_address` agrees on every byte boundary. Stubs' bytes jump where they claim.
#[test]
fn perf_map_and_describe_address_in_process() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::NoPic, false, false);
    let objects = common::compile_generated(&config, &[("perf_lib.c", PERF_LIB_C)]);
    let mut session = Session::new(
        Options::default()
            .with_perf_map(true)
            .with_redirectable(Redirectable::Functions(vec!["pm_twice".to_string()])),
    );
    session.add_file(&objects[0]).unwrap();
    let id = session.link_pending().unwrap().unwrap();
    let (lo, hi) = session.linked_range(id).unwrap();
    let map = parse_perf_map(&jitlink::debug::perf::path());
    let entry = |name: &str| {
        map.iter()
            .rev()
            .find(|e| e.2 == name && (e.0 >= lo && e.0 < hi || name.ends_with("@stub")))
            .unwrap_or_else(|| panic!("{name} not in the perf map"))
            .clone()
    };
    let file = objects[0].to_string_lossy().into_owned();
    let sizes: HashMap<String, u64> = elf_functions(&objects[0]).into_iter().collect();

    // Global functions: at their lookup address, with the object's size.
    let hello = entry("pm_hello");
    assert_eq!(hello.0, session.lookup("pm_hello").unwrap());
    assert_eq!(hello.1, sizes["pm_hello"]);
    // A redirectable function: lookup gives the stub; the body is where the stub points.
    let stub = entry("pm_twice@stub");
    assert_eq!(stub.0, session.lookup("pm_twice").unwrap());
    let pm_pool = session.redirection_manager();
    let handle = pm_pool.handle("pm_twice").unwrap();
    let body = entry("pm_twice");
    assert_eq!(body.0, handle.target());
    assert_eq!(body.1, sizes["pm_twice"]);
    // A static function is there too.
    let local = entry("pm_local");
    assert_eq!(local.1, sizes["pm_local"]);

    // The GOT/stub pass's stub for puts (-fno-pic code placed low cannot reach the C
    // library): `jmp *slot(%rip)` whose slot holds puts' address.
    let puts_stub = entry("puts@stub");
    // SAFETY: the stub lies in the set's finalized, readable code.
    let code = unsafe { std::slice::from_raw_parts(puts_stub.0 as *const u8, 6) };
    assert_eq!(&code[..2], &[0xff, 0x25], "not jmp *disp32(%rip)");
    let disp = i32::from_le_bytes(code[2..6].try_into().unwrap());
    let slot = (puts_stub.0 as i64 + 6 + i64::from(disp)) as u64;
    // SAFETY: the slot is a GOT entry of the set, in its finalized, readable memory.
    let slot_value = unsafe { *(slot as *const u64) };
    // SAFETY: dlsym with a NUL-terminated name.
    let puts = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"puts".as_ptr()) } as u64;
    assert_eq!(slot_value, puts);

    // describe_address agrees with the map at the first and last byte of every entry.
    for e in [&hello, &stub, &body, &local, &puts_stub] {
        for addr in [e.0, e.0 + e.1 - 1] {
            let info = session
                .describe_address(addr)
                .unwrap_or_else(|| panic!("{addr:#x} ({}) not described", e.2));
            assert_eq!(info.function, e.2, "at {addr:#x}");
            assert_eq!(info.offset, addr - e.0);
            assert_eq!(info.start, e.0);
        }
    }
    assert_eq!(session.describe_address(hello.0).unwrap().file, file);
    assert_eq!(
        session.describe_address(puts_stub.0).unwrap().file,
        "<linker>"
    );
    // Calling through the map's addresses runs the code they name.
    // SAFETY: pm_hello is `int pm_hello(void)` in finalized code.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(hello.0 as usize) };
    assert_eq!(f(), 2 * 3 + 3 * 3 + 1);

    // A stub made through the pool's API, outside any link, is described from the pool.
    use jitlink::stubs::{Owner, RedirectableSymbolManager};
    let owner = Owner::new();
    let pool = session.redirection_manager();
    let user = pool
        .create_redirectable_symbols(owner, &[("pm_user", session.target("pm_hello").unwrap())])
        .unwrap()[0];
    let info = session.describe_address(user + 3).unwrap();
    assert_eq!(
        (
            info.function.as_str(),
            info.file.as_str(),
            info.offset,
            info.start
        ),
        ("pm_user@stub", "<stub pool>", 3, user)
    );

    // A later version, appended by whoever made it, is the last entry for its address range.
    jitlink::debug::perf::append(body.0, body.1, "pm_twice@v1").unwrap();
    let again = parse_perf_map(&jitlink::debug::perf::path());
    assert!(again.iter().any(|e| e.0 == body.0 && e.2 == "pm_twice@v1"));

    // The user's stub points into the set: removal is refused until it is released.
    let refused = session.remove(id).unwrap_err().to_string();
    assert!(refused.contains("stub pm_user"), "{refused}");
    pool.release(owner);
    session.remove(id).unwrap();
    assert_eq!(session.describe_address(hello.0), None);
    let _ = std::fs::remove_file(jitlink::debug::perf::path());
}

const CTOR_C: &str = r#"#include <stdio.h>
static volatile int *nowhere;
__attribute__((constructor)) static void dbg_ctor_crash(void) { *nowhere = 1; }
int main(void) {
    puts("not reached");
    return 0;
}
"#;

/// A crash in linked code, in `main`'s call chain or in a static constructor, is reported
/// with the function, offset and input file, and the process still dies of the signal, as the
/// native program does. The reported address is checked against the perf map of the same run.
#[test]
fn crash_report_names_function_and_file() {
    let mut failures = common::Failures::new("crash reports");
    let ctor: [(&str, &str); 1] = [("dbg_ctor.c", CTOR_C)];
    for (config, files, function, object) in [
        (
            Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false),
            &sources()[..],
            "dbg_crash",
            2,
        ),
        (
            Config::new(Compiler::Clang, Opt::O0, Pic::NoPic, true, false),
            &sources()[..],
            "dbg_crash",
            2,
        ),
        (
            Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false),
            &ctor[..],
            "dbg_ctor_crash",
            0,
        ),
    ] {
        let objects = common::compile_generated(&config, files);
        let native = common::native_link(&config, &objects, "crash");
        let native_out = common::run(Command::new(&native), &common::RunSpec::default(), "crash");
        let jit = common::run(
            common::jitlink_command(&["--perf-map"], &objects, &[]),
            &common::RunSpec::default(),
            "crash",
        );
        let err = jit.stderr_text();
        let crash_obj = objects[object].to_string_lossy();
        let mut problems = Vec::new();
        if jit.describe_status() != native_out.describe_status() {
            problems.push(format!(
                "status {} (native: {})",
                jit.describe_status(),
                native_out.describe_status()
            ));
        }
        if jit.stdout != native_out.stdout {
            problems.push("stdout differs from the native run".to_string());
        }
        // jitlink: crashed (SIGSEGV, fault address 0x0) at 0xADDR in FUNCTION+0xOFF (FILE)
        let report = err
            .lines()
            .find(|l| l.starts_with("jitlink: crashed"))
            .and_then(|l| {
                let rest = l.strip_prefix("jitlink: crashed (SIGSEGV, fault address 0x0) at 0x")?;
                let (addr, rest) = rest.split_once(" in ")?;
                let (func, rest) = rest.split_once("+0x")?;
                let (off, file) = rest.split_once(' ')?;
                let addr = u64::from_str_radix(addr, 16).ok()?;
                let off = u64::from_str_radix(off, 16).ok()?;
                (func == function && file == format!("({crash_obj})")).then_some((addr, off))
            });
        match report {
            Some((addr, off)) => {
                // The perf map of that run has the function at addr - off, longer than off.
                let want = format!("{:x} ", addr - off);
                let found = std::fs::read_dir("/tmp").unwrap().flatten().find_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !(name.starts_with("perf-") && name.ends_with(".map")) {
                        return None;
                    }
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    let line = text
                        .lines()
                        .find(|l| l.starts_with(&want) && l.ends_with(&format!(" {function}")))?;
                    let size = u64::from_str_radix(line.split(' ').nth(1)?, 16).ok()?;
                    let _ = std::fs::remove_file(e.path());
                    Some(size)
                });
                match found {
                    Some(size) if off < size => {}
                    other => problems.push(format!(
                        "no perf map entry of {function} at {:#x} covering +{off:#x}: {other:?}",
                        addr - off
                    )),
                }
            }
            None => problems.push(format!("unexpected report: {err}")),
        }
        failures.record(if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{config}: {}", problems.join("; ")))
        });
    }
    failures.finish();
}

const SPIN_C: &str = r#"#include <stdio.h>
__attribute__((noinline)) static long spin_inner(long n) {
    long s = 0;
    for (long i = 0; i < n; i++)
        s += i * i % 7;
    return s;
}
__attribute__((noinline)) long spin_outer(long n) {
    long s = 0;
    for (int k = 0; k < 20; k++)
        s += spin_inner(n + k);
    return s;
}
int main(int argc, char **argv) {
    (void)argv;
    printf("%ld\n", spin_outer(argc * 4000000L));
    return 0;
}
"#;

/// `perf record` + `perf report` on a program that spends its time in a static function of a
/// linked object: with `--perf-map` perf names it, without it perf has only an address.
#[test]
fn perf_report_names_linked_functions() {
    let perf = common::tool("perf");
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let objects = common::compile_generated(&config, &[("spin.c", SPIN_C)]);
    let dir = common::scratch_dir("perf-report");
    let report = |options: &[&str]| -> String {
        let data = dir.join(format!("perf{}.data", options.len()));
        let mut record = Command::new(&perf.path);
        record
            .args(["record", "-q", "-e", "cpu-clock", "-o"])
            .arg(&data)
            .arg("--")
            .arg(common::jitlink_path())
            .args(options)
            .args(&objects);
        let out = record.output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            common::shell_line(&record),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut rep = Command::new(&perf.path);
        rep.args(["report", "--stdio", "--sort", "pid,sym", "-i"])
            .arg(&data);
        let text = String::from_utf8_lossy(&rep.output().unwrap().stdout).into_owned();
        // The map is named after the recorded process; remove it.
        for pid in text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.split(':').next())
        {
            let _ = std::fs::remove_file(format!("/tmp/perf-{pid}.map"));
        }
        text
    };
    let with_map = report(&["--perf-map"]);
    let hottest = with_map
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or("");
    assert!(
        hottest.ends_with("[.] spin_inner"),
        "perf does not name the hottest function:\n{with_map}"
    );
    let without = report(&[]);
    assert!(
        !without.contains("spin_inner"),
        "perf named linked code without a map:\n{without}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// jitdump: `perf record -k mono` + `perf inject --jit` turn the dump into one ELF file per
/// function; the report attributes the samples to the file holding spin_inner, and that file's
/// code is spin_inner's code from the object (it has no relocations to differ by).
#[test]
fn perf_jitdump_gives_perf_the_code() {
    use object::{Object, ObjectSection, ObjectSymbol};
    let perf = common::tool("perf");
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let objects = common::compile_generated(&config, &[("spin.c", SPIN_C)]);
    let dir = common::scratch_dir("perf-jitdump");
    let data = dir.join("perf.data");
    let injected = dir.join("perf.jit.data");
    let mut record = Command::new(&perf.path);
    record
        .args(["record", "-q", "-k", "mono", "-e", "cpu-clock", "-o"])
        .arg(&data)
        .arg("--")
        .arg(common::jitlink_path())
        .arg("--perf-jitdump")
        .args(&objects)
        .env("JITDUMPDIR", &dir);
    let out = record.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut inject = Command::new(&perf.path);
    inject
        .args(["inject", "--jit", "-i"])
        .arg(&data)
        .arg("-o")
        .arg(&injected);
    let out = inject.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut report = Command::new(&perf.path);
    report
        .args(["report", "--stdio", "--sort", "dso,sym", "-i"])
        .arg(&injected);
    let text = String::from_utf8_lossy(&report.output().unwrap().stdout).into_owned();
    let hottest = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or("");
    let dso = hottest.split_whitespace().nth(1).unwrap_or("");
    assert!(
        dso.starts_with("jitted-") && hottest.ends_with("[.] spin_inner"),
        "perf does not attribute the hottest function to its jitted file:\n{text}"
    );
    // The code perf got is the function's code.
    let so = std::fs::read(dir.join(dso)).unwrap();
    let so = object::File::parse(&*so).unwrap();
    let jitted = so
        .section_by_name(".text")
        .unwrap()
        .data()
        .unwrap()
        .to_vec();
    let obj = std::fs::read(&objects[0]).unwrap();
    let obj = object::File::parse(&*obj).unwrap();
    let sym = obj
        .symbols()
        .find(|s| s.name() == Ok("spin_inner"))
        .unwrap();
    let section = obj.section_by_index(sym.section_index().unwrap()).unwrap();
    let start = sym.address() - section.address();
    let code = &section.data().unwrap()[start as usize..(start + sym.size()) as usize];
    assert!(
        jitted.starts_with(code),
        "jitted code differs from the object's spin_inner"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
