//! Real C code bases linked by `jitlink`: Lua 5.4, zlib and SQLite, with
//! small drivers of our own in `testdata/workloads/<name>/`.
//!
//! The library sources come from crates on crates.io that carry them
//! (`lua-src`, `libz-sys`, `libsqlite3-sys`). `testdata/workloads/Cargo.toml`
//! depends on those crates (versions pinned by its `Cargo.lock`); the tests run
//! `cargo metadata` on it, which downloads the crates without compiling
//! anything, and read each package's directory from the metadata.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

// ---------------------------------------------------------------------------
// Locating the crates' sources.

/// Directory of each package in the workload manifest's dependency graph.
fn package_dirs() -> &'static HashMap<String, PathBuf> {
    static DIRS: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let manifest = testdata_dir().join("workloads").join("Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--manifest-path",
            ])
            .arg(&manifest)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo:?} metadata: {e}"));
        assert!(
            out.status.success(),
            "cargo metadata on {} failed ({}):\n{}",
            manifest.display(),
            describe_status(out.status),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("cargo metadata prints UTF-8");
        let meta = Json::parse(&text)
            .unwrap_or_else(|e| panic!("cannot parse cargo metadata output: {e}"));
        let mut dirs = HashMap::new();
        for package in meta
            .get("packages")
            .and_then(Json::as_array)
            .expect("metadata has packages")
        {
            let name = package
                .get("name")
                .and_then(Json::as_str)
                .expect("package name");
            let manifest_path = package
                .get("manifest_path")
                .and_then(Json::as_str)
                .expect("manifest_path");
            let dir = Path::new(manifest_path)
                .parent()
                .expect("manifest has a directory")
                .to_path_buf();
            dirs.insert(name.to_string(), dir);
        }
        dirs
    })
}

fn package_dir(name: &str) -> PathBuf {
    package_dirs()
        .get(name)
        .unwrap_or_else(|| {
            panic!("package `{name}` is not in testdata/workloads/Cargo.toml's dependencies")
        })
        .clone()
}

/// The same inputs linked lazily (`jitlink --lazy`: per object, or per function with
/// -ffunction-sections), compared with the same native run; a cross compiler's programs run
/// under qemu-user and lazily through `--executor qemu`.
fn check_lazy(
    failures: &mut Failures,
    label: String,
    config: &Config,
    exe: &Path,
    inputs: &[PathBuf],
    spec: &RunSpec,
    exit_code: i32,
) {
    let mut natives = Vec::new();
    let (compiler, options) = (config.compiler, &["--lazy"]);
    check_run(
        failures,
        &mut natives,
        label,
        compiler,
        exe,
        options,
        inputs,
        spec,
        exit_code,
    );
}

// ---------------------------------------------------------------------------
// Lua

/// Lua 5.4: every core and library file but the stand-alone interpreter and
/// compiler, plus an embedding driver running `test.lua`. Each configuration
/// runs twice under jitlink: with the Lua objects, and with them in a static
/// archive (`driver.o liblua.a`), each compared with the matching native link.
#[test]
fn lua() {
    check_lua(&covering_configs());
}

/// Lua built for aarch64 by gcc and clang, run under qemu-user with `--executor qemu`.
#[test]
fn lua_aarch64() {
    check_lua(&aarch64_workload_configs());
}

/// Four aarch64 configurations: each compiler at -O0 and -O2, PIC and non-PIC, with and
/// without -ffunction-sections.
fn aarch64_workload_configs() -> Vec<Config> {
    use Compiler::{Aarch64Clang, Aarch64Gcc};
    vec![
        Config::new(Aarch64Gcc, Opt::O2, Pic::Pie, false, false),
        Config::new(Aarch64Gcc, Opt::O0, Pic::NoPic, true, true),
        Config::new(Aarch64Clang, Opt::O2, Pic::Pic, true, false),
        Config::new(Aarch64Clang, Opt::O0, Pic::Pie, false, true),
    ]
}

/// Lua built for riscv64 by gcc and clang, run under qemu-user with `--executor qemu`.
#[test]
fn lua_riscv64() {
    check_lua(&riscv64_workload_configs());
}

/// Five riscv64 configurations: each compiler at -O0 and -O2, PIC, PIE and non-PIC, with and
/// without linker-relaxation relocations (`-mno-relax`), with and without
/// -ffunction-sections and -g. (`-g` with gcc only: the native link's GNU ld 2.40 crashes on
/// clang's riscv64 DWARF 5.)
fn riscv64_workload_configs() -> Vec<Config> {
    use Compiler::{Riscv64Clang, Riscv64Gcc};
    vec![
        Config::new(Riscv64Gcc, Opt::O2, Pic::Pie, false, false),
        Config::new(Riscv64Gcc, Opt::O0, Pic::NoPic, true, true).no_relax(),
        Config::new(Riscv64Clang, Opt::O2, Pic::Pic, true, false).no_relax(),
        Config::new(Riscv64Clang, Opt::O0, Pic::Pie, false, false),
        Config::new(Riscv64Clang, Opt::O2, Pic::NoPic, false, false),
    ]
}

fn check_lua(configs: &[Config]) {
    let lua_dir = lua_dir();
    let lib_sources = lua_library_sources(&lua_dir);
    let workload = testdata_dir().join("workloads").join("lua");
    let driver = workload.join("driver.c");
    let script = workload.join("test.lua");
    let defines = vec!["-DLUA_USE_LINUX".to_string()];

    let library = |config: &Config| -> Vec<CompileJob> {
        let job = |source: &PathBuf| CompileJob::new(config, source, &defines);
        lib_sources.iter().map(job).collect()
    };
    // The driver and the library for each configuration; then tier 1 for the -O0
    // configurations: the library at -O2, for `--reopt`.
    let tier1: Vec<Config> = configs
        .iter()
        .filter(|c| c.opt == Opt::O0)
        .map(|c| Config { opt: Opt::O2, ..*c })
        .collect();
    let mut groups: Vec<Vec<CompileJob>> = configs
        .iter()
        .map(|config| {
            let mut jobs = vec![CompileJob::new(config, &driver, &[]).include(&lua_dir)];
            jobs.extend(library(config));
            jobs
        })
        .collect();
    groups.extend(tier1.iter().map(library));
    let mut objects = compile_groups(&groups);
    let tier1_objects = objects.split_off(configs.len());

    let spec = RunSpec::args(&[script.to_str().expect("UTF-8 path"), "200"]);
    let mut failures = Failures::new("Lua workload");
    let mut natives = Vec::new();
    for (config, objs) in configs.iter().zip(&objects) {
        let exe = native_link(config, objs, "lua-driver");
        check_run(
            &mut failures,
            &mut natives,
            format!("lua objects {config}"),
            config.compiler,
            &exe,
            &[],
            objs,
            &spec,
            5,
        );
        check_lazy(
            &mut failures,
            format!("lua --lazy {config}"),
            config,
            &exe,
            objs,
            &spec,
            5,
        );
        let tier0 = |c: &Config| Config { opt: Opt::O0, ..*c } == *config;
        if let Some(t) = tier1.iter().position(tier0) {
            // Tiered: the -O0 objects re-optimized from the -O2 library while the script runs.
            let lib = archive(&tier1_objects[t], "liblua-O2");
            let lib = lib.to_string_lossy().into_owned();
            // (A cross compiler's program tiers up through `--executor qemu`.)
            let options = ["--reopt", lib.as_str(), "--reopt-threshold", "50"];
            let label = format!("lua tiered {config}");
            let (compiler, mut ignored) = (config.compiler, Vec::new());
            check_run(
                &mut failures,
                &mut ignored,
                label,
                compiler,
                &exe,
                &options,
                objs,
                &spec,
                5,
            );
        }

        let lib = archive(&objs[1..], "liblua");
        let with_lib = vec![objs[0].clone(), lib];
        let exe = native_link(config, &with_lib, "lua-driver-ar");
        check_run(
            &mut failures,
            &mut natives,
            format!("lua archive {config}"),
            config.compiler,
            &exe,
            &[],
            &with_lib,
            &spec,
            5,
        );
    }
    failures.record(check_native_agreement("lua", &natives));
    failures.finish();
}

/// Lua's core and library sources: every file but the stand-alone interpreter and compiler.
fn lua_library_sources(lua_dir: &Path) -> Vec<PathBuf> {
    c_sources(lua_dir)
        .into_iter()
        .filter(|p| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("lua.c" | "luac.c")
            )
        })
        .collect()
}

/// The Lua 5.4 sources of the `lua-src` package.
fn lua_dir() -> PathBuf {
    let root = package_dir("lua-src");
    std::fs::read_dir(&root)
        .expect("list lua-src")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lua-5.4"))
        })
        .unwrap_or_else(|| panic!("no lua-5.4.* directory in {}", root.display()))
}

/// Lua compiled as Mach-O x86-64 objects (clang --target=x86_64-apple-macos against this
/// system's glibc headers) runs in process against the host C library and agrees with the
/// native ELF build: Mach-O's underscore-prefixed names bind to glibc's, and the calling
/// convention is the same System V one.
#[test]
fn lua_macho_x86_64() {
    let lua_dir = lua_dir();
    let workload = testdata_dir().join("workloads").join("lua");
    let mut sources = lua_library_sources(&lua_dir);
    sources.push(workload.join("driver.c"));
    let resource = Command::new(&tool("clang-19").path)
        .arg("-print-resource-dir")
        .output()
        .expect("clang-19 -print-resource-dir");
    let resource = String::from_utf8_lossy(&resource.stdout).trim().to_string();
    for opt in ["-O0", "-O2"] {
        // Darwin's clang on glibc's headers: no Darwin SDK, Linux's declarations (glibc
        // spells its non-null attribute with a name that is a keyword on Darwin).
        let macho_flags: Vec<String> = [
            "--target=x86_64-apple-macos11",
            opt,
            "-nostdinc",
            "-isystem",
            &format!("{resource}/include"),
            "-isystem",
            "/usr/include/x86_64-linux-gnu",
            "-isystem",
            "/usr/include",
            "-D__linux__",
            "-U__APPLE__",
            "-fno-stack-protector",
            "-DLUA_USE_LINUX",
            "-D__nonnull(p)=__attribute__((__nonnull__ p))",
        ]
        .map(String::from)
        .to_vec();
        let elf_flags = [opt, "-DLUA_USE_LINUX"].map(String::from);
        let job = |compiler: Compiler, flags: &[String], src: &PathBuf| {
            CompileJob::with_tool(compiler.tool(), src, flags).include(&lua_dir)
        };
        let groups: [Vec<CompileJob>; 2] = [
            sources
                .iter()
                .map(|s| job(Compiler::Clang, &macho_flags, s))
                .collect(),
            sources
                .iter()
                .map(|s| job(Compiler::Gcc, &elf_flags, s))
                .collect(),
        ];
        let [objs, native_objs]: [Vec<PathBuf>; 2] = compile_groups(&groups).try_into().unwrap();
        let gcc = Compiler::Gcc.tool();
        let exe = link_executable(gcc, &[], &native_objs, &["-lm"], "lua-native", opt);
        let spec = RunSpec::args(&[workload.join("test.lua").display().to_string()]);
        let (native, verdict) = run_both(&format!("lua macho {opt}"), &exe, &objs, &spec);
        assert_eq!(
            native.status.code(),
            Some(5),
            "the native Lua run: {}",
            native.stderr_text()
        );
        verdict.unwrap();
    }
}

// ---------------------------------------------------------------------------
// zlib

/// zlib, including the gz* file functions, in all 48 configurations; the
/// configurations with debug info also link the library as an archive.
#[test]
fn zlib() {
    check_zlib(&all_configs());
}

/// zlib built for aarch64, run under qemu-user with `--executor qemu`.
#[test]
fn zlib_aarch64() {
    check_zlib(&aarch64_workload_configs());
}

/// zlib built for riscv64, run under qemu-user with `--executor qemu`.
#[test]
fn zlib_riscv64() {
    check_zlib(&riscv64_workload_configs());
}

fn check_zlib(configs: &[Config]) {
    let zlib_dir = package_dir("libz-sys").join("src").join("zlib");
    let lib_sources = c_sources(&zlib_dir);
    for required in [
        "adler32.c",
        "deflate.c",
        "inflate.c",
        "gzlib.c",
        "gzwrite.c",
    ] {
        assert!(
            lib_sources.iter().any(|p| p.ends_with(required)),
            "{required} missing in {}",
            zlib_dir.display()
        );
    }
    let driver = testdata_dir()
        .join("workloads")
        .join("zlib")
        .join("driver.c");
    let defines: Vec<String> = [
        "-D_LARGEFILE64_SOURCE",
        "-DHAVE_UNISTD_H",
        "-DHAVE_STDARG_H",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let groups: Vec<Vec<CompileJob>> = configs
        .iter()
        .map(|config| {
            let mut jobs = vec![CompileJob::new(config, &driver, &[]).include(&zlib_dir)];
            jobs.extend(
                lib_sources
                    .iter()
                    .map(|s| CompileJob::new(config, s, &defines)),
            );
            jobs
        })
        .collect();
    let objects = compile_groups(&groups);

    let spec = RunSpec::args(&["1"]);
    let mut failures = Failures::new("zlib workload");
    let mut natives = Vec::new();
    for (config, objs) in configs.iter().zip(&objects) {
        let exe = native_link(config, objs, "zlib-driver");
        check_run(
            &mut failures,
            &mut natives,
            format!("zlib objects {config}"),
            config.compiler,
            &exe,
            &[],
            objs,
            &spec,
            0,
        );
        if config.function_sections {
            check_lazy(
                &mut failures,
                format!("zlib --lazy {config}"),
                config,
                &exe,
                objs,
                &spec,
                0,
            );
        }
        if config.debug {
            let lib = archive(&objs[1..], "libz");
            let with_lib = vec![objs[0].clone(), lib];
            let exe = native_link(config, &with_lib, "zlib-driver-ar");
            check_run(
                &mut failures,
                &mut natives,
                format!("zlib archive {config}"),
                config.compiler,
                &exe,
                &[],
                &with_lib,
                &spec,
                0,
            );
        }
    }
    failures.record(check_native_agreement("zlib", &natives));
    failures.finish();
}

// ---------------------------------------------------------------------------
// SQLite

/// The SQLite amalgamation (one ~9 MB source) with a driver running SQL on an
/// in-memory database, in the six covering configurations.
#[test]
fn sqlite() {
    let sqlite_dir = package_dir("libsqlite3-sys").join("sqlite3");
    let amalgamation = sqlite_dir.join("sqlite3.c");
    assert!(
        amalgamation.is_file(),
        "{} is missing",
        amalgamation.display()
    );
    let driver = testdata_dir()
        .join("workloads")
        .join("sqlite")
        .join("driver.c");
    let defines: Vec<String> = ["-DSQLITE_THREADSAFE=0", "-DSQLITE_OMIT_LOAD_EXTENSION"]
        .iter()
        .map(|s| s.to_string())
        .collect();

    let configs = covering_configs();
    let groups: Vec<Vec<CompileJob>> = configs
        .iter()
        .map(|config| {
            // The big file first, so that the two slots stay busy.
            vec![
                CompileJob::new(config, &amalgamation, &defines),
                CompileJob::new(config, &driver, &[]).include(&sqlite_dir),
            ]
        })
        .collect();
    let objects = compile_groups(&groups);

    let spec = RunSpec::args(&["3000"]);
    let mut failures = Failures::new("SQLite workload");
    let mut natives = Vec::new();
    for (config, objects) in configs.iter().zip(&objects) {
        // Driver first on the command line, as a user would write it.
        let objs = vec![objects[1].clone(), objects[0].clone()];
        let exe = native_link(config, &objs, "sqlite-driver");
        check_run(
            &mut failures,
            &mut natives,
            format!("sqlite {config}"),
            config.compiler,
            &exe,
            &[],
            &objs,
            &spec,
            0,
        );
        check_lazy(
            &mut failures,
            format!("sqlite --lazy {config}"),
            config,
            &exe,
            &objs,
            &spec,
            0,
        );
    }
    failures.record(check_native_agreement("sqlite", &natives));
    failures.finish();
}

// ---------------------------------------------------------------------------
// A minimal JSON reader for `cargo metadata` output (the tests have no
// dependencies of their own).

#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(v) => Some(v),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("bad literal")
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return self.err("expected , or ]"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a key");
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected :");
                    }
                    self.i += 1;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return self.err("expected , or }"),
                    }
                }
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                text.parse()
                    .map(Json::Num)
                    .map_err(|e| format!("bad number {text}: {e}"))
            }
            Some(_) => self.err("unexpected character"),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        self.i += 4;
        u32::from_str_radix(text, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut code = self.hex4()?;
                            if (0xD800..0xDC00).contains(&code)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let low = self.hex4()?;
                                code = 0x10000
                                    + ((code - 0xD800) << 10)
                                    + (low.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

#[test]
fn json_reader_handles_metadata_shapes() {
    let v = Json::parse(r#" {"packages":[{"name":"a\"b\u00e9\ud83d\ude00","n":-1.5e3,"ok":true,"x":null,"e":[]}],"o":{}} "#)
        .expect("valid JSON");
    let p = &v.get("packages").and_then(Json::as_array).expect("array")[0];
    assert_eq!(p.get("name").and_then(Json::as_str), Some("a\"bé😀"));
    assert!(matches!(p.get("n"), Some(Json::Num(n)) if *n == -1500.0));
    assert!(matches!(p.get("ok"), Some(Json::Bool(true))));
    assert!(matches!(p.get("x"), Some(Json::Null)));
    assert!(Json::parse("[1,").is_err());
    assert!(Json::parse("{\"a\" 1}").is_err());
}
