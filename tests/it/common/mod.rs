//! Shared harness of the integration tests (every module of `tests/it/` uses it).
//!
//! The tests compile real C and C++ sources with the system compilers (gcc,
//! clang-19, g++, clang++-19, the aarch64 cross compilers) in many
//! configurations, link the objects twice — natively with the compiler driver
//! and in memory with `jitlink` — run both ([`run_both`], [`check_run`]), and
//! demand identical stdout, stderr and exit status. The submodules hold the
//! rest: [`asm`] (llvm-mc-19, the `--check` files, AArch64 instruction fields),
//! [`lld`] (ld.lld-19 as the reference of the differential tests), [`rng`]
//! (seeded generators) and [`formats`] (the Mach-O and COFF programs).
//!
//! * Tools are looked up on `PATH`; a missing tool panics (fails the test).
//! * Objects, archives and native executables are cached under
//!   `target/test-cache/`, keyed by a hash of everything that determines them
//!   (tool identity, flags, source and header contents). Every cache entry is
//!   written to a temporary name and renamed into place, so concurrent tests
//!   (and concurrent test processes) never see half-written files.
//! * Compiler processes are throttled process-wide to the number of CPUs
//!   (`JITLINK_TEST_JOBS=N` overrides).
//! * `JITLINK_TEST_SHOW_NATIVE=1` prints every native run's output to the
//!   test's stderr (shown with `--nocapture`), to inspect test programs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub mod asm;
pub mod formats;
pub mod lld;
pub mod rng;

/// Changing this string invalidates every cache entry (bump it when the
/// meaning of a key changes).
const CACHE_SALT: &str = "jitlink-test-cache-v1";

/// A run that has not finished after this long is killed and reported as
/// hung. This is a guard against a mis-linked program spinning forever, not a
/// performance expectation: every run here takes well under a second.
const HANG_GUARD: Duration = Duration::from_secs(180);

/// Directory of the repository (where `Cargo.toml` is).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `testdata/` of the repository.
pub fn testdata_dir() -> PathBuf {
    repo_dir().join("testdata")
}

/// Cargo's target directory (the parent of `CARGO_TARGET_TMPDIR`).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    match tmp.parent() {
        Some(parent) => parent.to_path_buf(),
        None => repo_dir().join("target"),
    }
}

/// `target/test-cache/<sub>`, created if needed.
pub fn cache_dir(sub: &str) -> PathBuf {
    let dir = target_dir().join("test-cache").join(sub);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A fresh, empty scratch directory under `CARGO_TARGET_TMPDIR`.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("runs")
        .join(format!("{safe}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A name next to `dest` that no other thread or process uses.
fn temp_name_for(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = dest
        .file_name()
        .expect("cache path has a file name")
        .to_os_string();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    dest.with_file_name(name)
}

// ---------------------------------------------------------------------------
// Hashing (FNV-1a, 128 bits): cache keys only, not security.

/// A 128-bit FNV-1a hasher over length-prefixed fields.
pub struct KeyHasher(u128);

impl KeyHasher {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    pub fn new() -> Self {
        let mut h = KeyHasher(Self::OFFSET);
        h.field(CACHE_SALT.as_bytes());
        h
    }

    fn raw(&mut self, bytes: &[u8]) {
        let mut state = self.0;
        for &b in bytes {
            state ^= u128::from(b);
            state = state.wrapping_mul(Self::PRIME);
        }
        self.0 = state;
    }

    /// Adds one field; the length prefix keeps ("ab","c") apart from ("a","bc").
    pub fn field(&mut self, bytes: &[u8]) {
        self.raw(&(bytes.len() as u64).to_le_bytes());
        self.raw(bytes);
    }

    pub fn str(&mut self, s: &str) {
        self.field(s.as_bytes());
    }

    pub fn path(&mut self, p: &Path) {
        self.field(p.as_os_str().as_encoded_bytes());
    }

    /// Adds the hash of a file's contents (memoized per process: inputs do
    /// not change while the tests run, and cache entries never change).
    pub fn file(&mut self, p: &Path) {
        let digest = file_digest(p);
        self.path(p);
        self.field(&digest.to_le_bytes());
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

fn file_digest(p: &Path) -> u128 {
    static MEMO: OnceLock<Mutex<HashMap<PathBuf, u128>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(d) = memo.lock().unwrap().get(p) {
        return *d;
    }
    let bytes = fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    let mut h = KeyHasher(KeyHasher::OFFSET);
    h.raw(&bytes);
    memo.lock().unwrap().insert(p.to_path_buf(), h.0);
    h.0
}

// ---------------------------------------------------------------------------
// Tools.

/// An external program the tests depend on.
#[derive(Debug)]
pub struct Tool {
    pub name: String,
    pub path: PathBuf,
    /// Path and `--version` output: part of every cache key built with it.
    pub identity: String,
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path =
        std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| {
                    m.is_file()
                        && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
                .unwrap_or(false)
        })
}

/// Looks up a required tool. A missing tool fails the test: these tests are
/// never skipped silently.
pub fn tool(name: &str) -> &'static Tool {
    static TOOLS: OnceLock<Mutex<HashMap<String, &'static Tool>>> = OnceLock::new();
    let tools = TOOLS.get_or_init(Default::default);
    if let Some(t) = tools.lock().unwrap().get(name) {
        return t;
    }
    let path = find_in_path(name).unwrap_or_else(|| {
        panic!(
            "required tool `{name}` was not found on PATH. The integration tests need gcc, clang-19 \
             and binutils (ar); install them with `bash .ci/run` or \
             `apt-get install gcc clang-19 lld-19 binutils`"
        )
    });
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{} --version`: {e}", path.display()));
    let identity = format!(
        "{}\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let t: &'static Tool = Box::leak(Box::new(Tool {
        name: name.to_string(),
        path,
        identity,
    }));
    tools.lock().unwrap().insert(name.to_string(), t);
    t
}

/// The `jitlink` binary built by cargo for these tests.
pub fn jitlink_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jitlink"))
}

// ---------------------------------------------------------------------------
// Configurations.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compiler {
    Gcc,
    Clang,
    /// aarch64-linux-gnu-gcc: aarch64 Linux objects, run under qemu-user.
    Aarch64Gcc,
    /// clang-19 --target=aarch64-linux-gnu.
    Aarch64Clang,
    /// riscv64-linux-gnu-gcc: riscv64 Linux objects, run under qemu-user.
    Riscv64Gcc,
    /// clang-19 --target=riscv64-linux-gnu.
    Riscv64Clang,
    /// g++ (C++ sources).
    Gxx,
    /// clang++-19 (C++ sources).
    Clangxx,
}

impl Compiler {
    /// The host's compilers.
    pub const ALL: [Compiler; 2] = [Compiler::Gcc, Compiler::Clang];
    /// The compilers for aarch64 Linux.
    pub const AARCH64: [Compiler; 2] = [Compiler::Aarch64Gcc, Compiler::Aarch64Clang];
    /// The compilers for riscv64 Linux.
    pub const RISCV64: [Compiler; 2] = [Compiler::Riscv64Gcc, Compiler::Riscv64Clang];
    /// The host's C++ compilers.
    pub const CXX: [Compiler; 2] = [Compiler::Gxx, Compiler::Clangxx];

    /// The executable name looked up on PATH.
    pub fn program(self) -> &'static str {
        match self {
            Compiler::Gcc => "gcc",
            Compiler::Clang | Compiler::Aarch64Clang | Compiler::Riscv64Clang => "clang-19",
            Compiler::Aarch64Gcc => "aarch64-linux-gnu-gcc",
            Compiler::Riscv64Gcc => "riscv64-linux-gnu-gcc",
            Compiler::Gxx => "g++",
            Compiler::Clangxx => "clang++-19",
        }
    }

    pub fn tool(self) -> &'static Tool {
        tool(self.program())
    }

    /// The driver that links this compiler's objects natively.
    pub fn linker(self) -> &'static Tool {
        match self {
            Compiler::Aarch64Gcc | Compiler::Aarch64Clang => tool("aarch64-linux-gnu-gcc"),
            Compiler::Riscv64Gcc | Compiler::Riscv64Clang => tool("riscv64-linux-gnu-gcc"),
            _ => self.tool(),
        }
    }

    /// True for compilers whose code runs under qemu-user (`jitlink --executor qemu`).
    pub fn is_cross(self) -> bool {
        self.cross_arch().is_some()
    }

    /// The architecture of a cross compiler's code (`aarch64`, `riscv64`); `None` for the
    /// host's compilers.
    pub fn cross_arch(self) -> Option<&'static str> {
        match self {
            Compiler::Aarch64Gcc | Compiler::Aarch64Clang => Some("aarch64"),
            Compiler::Riscv64Gcc | Compiler::Riscv64Clang => Some("riscv64"),
            _ => None,
        }
    }

    fn short(self) -> &'static str {
        match self {
            Compiler::Gcc => "gcc",
            Compiler::Clang => "clang",
            Compiler::Aarch64Gcc => "a64-gcc",
            Compiler::Aarch64Clang => "a64-clang",
            Compiler::Riscv64Gcc => "rv64-gcc",
            Compiler::Riscv64Clang => "rv64-clang",
            Compiler::Gxx => "g++",
            Compiler::Clangxx => "clang++",
        }
    }
}

/// The system root qemu-user loads aarch64 programs' libraries from.
pub const AARCH64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// The command that runs a natively linked executable of `compiler`: directly, or under
/// qemu-user for a cross compiler.
pub fn native_command(compiler: Compiler, exe: &Path) -> Command {
    match compiler.cross_arch() {
        Some(arch) => {
            let mut c = Command::new(&tool(&format!("qemu-{arch}")).path);
            c.arg("-L").arg(format!("/usr/{arch}-linux-gnu")).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opt {
    O0,
    O2,
}

impl Opt {
    pub const ALL: [Opt; 2] = [Opt::O0, Opt::O2];
}

/// How code addresses globals (names as in the compilers' flags).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pic {
    /// Position-independent executable code (`-fPIE`), the compilers' default.
    Pie,
    /// Shared-library style code (`-fPIC`): GOT references for every global.
    Pic,
    /// Position-dependent code (`-fno-pic`): 32-bit absolute relocations,
    /// linked natively with `-no-pie`.
    NoPic,
}

impl Pic {
    pub const ALL: [Pic; 3] = [Pic::Pie, Pic::Pic, Pic::NoPic];
}

/// One way of compiling and natively linking a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub compiler: Compiler,
    pub opt: Opt,
    pub pic: Pic,
    /// `-ffunction-sections -fdata-sections`
    pub function_sections: bool,
    /// `-g`
    pub debug: bool,
    /// `-mno-relax` (RISC-V: no linker-relaxation relocations).
    pub no_relax: bool,
}

impl Config {
    pub const fn new(
        compiler: Compiler,
        opt: Opt,
        pic: Pic,
        function_sections: bool,
        debug: bool,
    ) -> Self {
        Config {
            compiler,
            opt,
            pic,
            function_sections,
            debug,
            no_relax: false,
        }
    }

    /// The same configuration with `-mno-relax`.
    pub const fn no_relax(self) -> Self {
        Config {
            no_relax: true,
            ..self
        }
    }

    /// Code generation flags for every compile in this configuration.
    pub fn cflags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.compiler == Compiler::Aarch64Clang {
            f.push("--target=aarch64-linux-gnu");
        }
        if self.compiler == Compiler::Riscv64Clang {
            f.push("--target=riscv64-linux-gnu");
        }
        f.push(match self.opt {
            Opt::O0 => "-O0",
            Opt::O2 => "-O2",
        });
        f.push(match self.pic {
            Pic::Pie => "-fPIE",
            Pic::Pic => "-fPIC",
            Pic::NoPic => "-fno-pic",
        });
        if self.function_sections {
            f.extend(["-ffunction-sections", "-fdata-sections"]);
        }
        if self.debug {
            f.push("-g");
        }
        if self.no_relax {
            f.push("-mno-relax");
        }
        f.into_iter().map(String::from).collect()
    }

    /// Flags for the native link with the same compiler driver.
    pub fn native_link_flags(&self) -> Vec<String> {
        match self.pic {
            Pic::NoPic => vec!["-no-pie".to_string()],
            Pic::Pie | Pic::Pic => vec!["-pie".to_string()],
        }
    }

    /// A short name such as `gcc-O2-pic-fs-g`.
    pub fn name(&self) -> String {
        let mut s = format!(
            "{}-{}-{}",
            self.compiler.short(),
            match self.opt {
                Opt::O0 => "O0",
                Opt::O2 => "O2",
            },
            match self.pic {
                Pic::Pie => "pie",
                Pic::Pic => "pic",
                Pic::NoPic => "nopic",
            }
        );
        if self.function_sections {
            s.push_str("-fs");
        }
        if self.debug {
            s.push_str("-g");
        }
        if self.no_relax {
            s.push_str("-norelax");
        }
        s
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.cflags().join(" "))
    }
}

/// Every combination: 2 compilers × 2 levels × 3 code models × 2 × 2 = 48.
pub fn all_configs() -> Vec<Config> {
    let mut v = Vec::new();
    for compiler in Compiler::ALL {
        for opt in Opt::ALL {
            for pic in Pic::ALL {
                for function_sections in [false, true] {
                    for debug in [false, true] {
                        v.push(Config::new(compiler, opt, pic, function_sections, debug));
                    }
                }
            }
        }
    }
    v
}

/// Six configurations for expensive workloads: each compiler with each code
/// model, and every value of every other dimension present (O0 and O2 for
/// both compilers, sections on and off, debug info on and off).
pub fn covering_configs() -> Vec<Config> {
    use Compiler::{Clang, Gcc};
    use Opt::{O0, O2};
    vec![
        Config::new(Gcc, O2, Pic::Pie, false, false),
        Config::new(Gcc, O0, Pic::Pic, true, true),
        Config::new(Gcc, O2, Pic::NoPic, true, false),
        Config::new(Clang, O0, Pic::Pie, false, true),
        Config::new(Clang, O2, Pic::Pic, true, false),
        Config::new(Clang, O2, Pic::NoPic, false, true),
    ]
}

// ---------------------------------------------------------------------------
// Throttling of tool processes.

struct Slots {
    total: usize,
    free: Mutex<usize>,
    cv: Condvar,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let n = std::env::var("JITLINK_TEST_JOBS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1);
        Slots {
            total: n,
            free: Mutex::new(n),
            cv: Condvar::new(),
        }
    })
}

/// Runs `f` while holding one of the process-wide tool slots.
fn with_slot<R>(f: impl FnOnce() -> R) -> R {
    let s = slots();
    {
        let mut free = s.free.lock().unwrap();
        while *free == 0 {
            free = s.cv.wait(free).unwrap();
        }
        *free -= 1;
    }
    struct Release(&'static Slots);
    impl Drop for Release {
        fn drop(&mut self) {
            *self.0.free.lock().unwrap() += 1;
            self.0.cv.notify_one();
        }
    }
    let _release = Release(s);
    f()
}

/// Runs a build command (holding a tool slot), panicking with its output if it fails.
pub fn run_tool(mut cmd: Command, what: &str) {
    let out = with_slot(|| cmd.output())
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}\n  {cmd:?}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({})\n  command: {cmd:?}\n{}{}",
            describe_status(out.status),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Produces `dest` with `make(tmp)` unless it exists; `make` writes to the
/// temporary path, which is then renamed over `dest` (atomic on one file
/// system, so readers see either nothing or the whole file).
fn cached(dest: &Path, make: impl FnOnce(&Path)) -> PathBuf {
    if dest.is_file() {
        return dest.to_path_buf();
    }
    let tmp = temp_name_for(dest);
    // Removes a half-made temporary file when `make` fails (panics).
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = fs::remove_file(self.0);
        }
    }
    let cleanup = Cleanup(&tmp);
    make(&tmp);
    std::mem::forget(cleanup);
    fs::rename(&tmp, dest)
        .unwrap_or_else(|e| panic!("cannot rename {} to {}: {e}", tmp.display(), dest.display()));
    dest.to_path_buf()
}

// ---------------------------------------------------------------------------
// Compiling.

/// One C source to compile.
#[derive(Clone, Debug)]
pub struct CompileJob {
    /// The compiler driver (its identity is part of the cache key).
    pub tool: &'static Tool,
    pub source: PathBuf,
    /// Every flag but `-c`, `-o` and `-I` (configuration flags, defines...).
    pub flags: Vec<String>,
    pub include_dirs: Vec<PathBuf>,
}

impl CompileJob {
    /// A job compiling `source` for `config`, with `extra` flags after the
    /// configuration's.
    pub fn new(config: &Config, source: impl Into<PathBuf>, extra: &[String]) -> Self {
        let mut flags = config.cflags();
        flags.extend(extra.iter().cloned());
        CompileJob::with_tool(config.compiler.tool(), source, &flags)
    }

    /// A job compiling `source` with the driver `tool` and exactly `flags` (a foreign target,
    /// a freestanding build: whatever no [`Config`] describes).
    pub fn with_tool(tool: &'static Tool, source: impl Into<PathBuf>, flags: &[String]) -> Self {
        CompileJob {
            tool,
            source: source.into(),
            flags: flags.to_vec(),
            include_dirs: Vec::new(),
        }
    }

    pub fn include(mut self, dir: impl Into<PathBuf>) -> Self {
        self.include_dirs.push(dir.into());
        self
    }

    /// The cache key: compiler identity, flags, include directories, the
    /// source's path and contents, and the contents of every header in the
    /// source's directory and in the include directories.
    fn key(&self) -> String {
        let mut h = KeyHasher::new();
        h.str("compile");
        h.str(&self.tool.identity);
        for f in &self.flags {
            h.str(f);
        }
        for d in &self.include_dirs {
            h.path(d);
        }
        h.file(&self.source);
        let mut header_dirs: Vec<PathBuf> = self
            .source
            .parent()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        header_dirs.extend(self.include_dirs.iter().cloned());
        for dir in header_dirs {
            for header in headers_in(&dir) {
                h.file(&header);
            }
        }
        h.hex()
    }

    fn command(&self, output: &Path) -> Command {
        let mut cmd = Command::new(&self.tool.path);
        cmd.args(&self.flags);
        for d in &self.include_dirs {
            cmd.arg("-I").arg(d);
        }
        cmd.arg("-c").arg(&self.source).arg("-o").arg(output);
        cmd
    }
}

/// The `*.h` files of a directory, sorted (memoized).
fn headers_in(dir: &Path) -> Vec<PathBuf> {
    static MEMO: OnceLock<Mutex<HashMap<PathBuf, Vec<PathBuf>>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(v) = memo.lock().unwrap().get(dir) {
        return v.clone();
    }
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "h") && p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    memo.lock().unwrap().insert(dir.to_path_buf(), v.clone());
    v
}

/// Compiles one source (or takes it from the cache) and returns the object.
pub fn compile(job: &CompileJob) -> PathBuf {
    let stem = job
        .source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("source");
    let dest = cache_dir("obj").join(format!("{}-{stem}.o", job.key()));
    cached(&dest, |tmp| {
        run_tool(
            job.command(tmp),
            &format!("compiling {}", job.source.display()),
        )
    })
}

/// Compiles many sources on parallel threads (throttled by the shared tool
/// slots); returns the objects in the order of `jobs`.
pub fn compile_all(jobs: &[CompileJob]) -> Vec<PathBuf> {
    let threads = slots_count().min(jobs.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<PathBuf, String>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compile(job)))
                    .map_err(|e| panic_text(&*e));
                *results[i].lock().unwrap() = Some(r);
            });
        }
    });
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r.into_inner().unwrap() {
            Some(Ok(p)) => objects.push(p),
            Some(Err(e)) => errors.push(e),
            None => errors.push("compile job did not run".to_string()),
        }
    }
    if !errors.is_empty() {
        panic!(
            "{} of {} compile jobs failed:\n{}",
            errors.len(),
            jobs.len(),
            errors.join("\n\n")
        );
    }
    objects
}

fn slots_count() -> usize {
    slots().total
}

pub fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Per-file flags declared by a test source on a line of the form
/// `/* cflags: -fcommon */`.
pub fn declared_cflags(source: &Path) -> Vec<String> {
    declared_cflags_for(source, Compiler::Gcc)
}

/// The flags a source declares for `compiler`'s target: `/* cflags: ... */` for every target,
/// `/* cflags-x86_64: ... */` and `/* cflags-aarch64: ... */` for one.
pub fn declared_cflags_for(source: &Path, compiler: Compiler) -> Vec<String> {
    let text = fs::read_to_string(source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    let arch = match compiler.cross_arch() {
        Some("aarch64") => "/* cflags-aarch64:",
        Some("riscv64") => "/* cflags-riscv64:",
        _ => "/* cflags-x86_64:",
    };
    let mut flags = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line
            .strip_prefix("/* cflags:")
            .or_else(|| line.strip_prefix(arch))
        {
            let rest = rest.trim_end().trim_end_matches("*/");
            flags.extend(rest.split_whitespace().map(String::from));
        }
    }
    flags
}

/// The `*.c` files of a directory, sorted by name.
pub fn c_sources(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "c")
}

/// The files of a directory whose names end in `.ext`, sorted by name; there must be some.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .{ext} files in {}", dir.display());
    v
}

/// Compiles C (or C++) source text, written by a test, with `compiler` and exactly `flags`;
/// cached like every compile. `name` is the source's file name (`lib.c`).
pub fn compile_text(compiler: Compiler, flags: &[&str], name: &str, text: &str) -> PathBuf {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    compile(&CompileJob::with_tool(
        compiler.tool(),
        generated_source(name, text),
        &flags,
    ))
}

/// Compiles `sources` with `compiler` and exactly `flags` and links them with the same driver
/// (no other flags or libraries) into an executable; cached.
pub fn compile_and_link(
    compiler: Compiler,
    flags: &[&str],
    sources: &[PathBuf],
    name: &str,
) -> PathBuf {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    let jobs: Vec<CompileJob> = sources
        .iter()
        .map(|s| CompileJob::with_tool(compiler.tool(), s, &flags))
        .collect();
    let objects = compile_all(&jobs);
    link_executable(
        compiler.linker(),
        &[],
        &objects,
        &[],
        name,
        &flags.join(" "),
    )
}

/// Compiles groups of jobs in one pool of compiler processes and returns each group's objects
/// (for example one group of sources per configuration).
pub fn compile_groups(groups: &[Vec<CompileJob>]) -> Vec<Vec<PathBuf>> {
    let jobs: Vec<CompileJob> = groups.iter().flatten().cloned().collect();
    let mut objects = compile_all(&jobs).into_iter();
    groups
        .iter()
        .map(|g| objects.by_ref().take(g.len()).collect())
        .collect()
}

// ---------------------------------------------------------------------------
// Archives and native links.

/// Builds (or takes from the cache) a static archive of `members` with `ar`.
pub fn archive(members: &[PathBuf], name: &str) -> PathBuf {
    let ar = tool("ar");
    let mut h = KeyHasher::new();
    h.str("archive");
    h.str(&ar.identity);
    for m in members {
        h.file(m);
    }
    let dest = cache_dir("lib").join(format!("{}-{name}.a", h.hex()));
    cached(&dest, |tmp| {
        let mut cmd = Command::new(&ar.path);
        cmd.arg("rcs").arg(tmp).args(members);
        run_tool(cmd, &format!("archiving {name}"));
    })
}

/// Links `inputs` (objects and archives, in order) into an executable with
/// the configuration's compiler driver, adding `-lm -lpthread`; cached.
pub fn native_link(config: &Config, inputs: &[PathBuf], name: &str) -> PathBuf {
    link_executable(
        config.compiler.linker(),
        &config.native_link_flags(),
        inputs,
        &["-lm", "-lpthread"],
        name,
        &config.name(),
    )
}

/// Links `inputs` into an executable with the compiler driver `cc`: `flags` before the inputs,
/// `libs` after them; cached (the key: driver, flags, inputs' contents, libraries). `what`
/// describes the build in a failure.
pub fn link_executable(
    cc: &Tool,
    flags: &[String],
    inputs: &[PathBuf],
    libs: &[&str],
    name: &str,
    what: &str,
) -> PathBuf {
    let mut h = KeyHasher::new();
    h.str("link");
    h.str(&cc.identity);
    for f in flags {
        h.str(f);
    }
    for i in inputs {
        h.file(i);
    }
    for l in libs {
        h.str(l);
    }
    let dest = cache_dir("exe").join(format!("{}-{name}", h.hex()));
    cached(&dest, |tmp| {
        let mut cmd = Command::new(&cc.path);
        cmd.args(flags).args(inputs).args(libs).arg("-o").arg(tmp);
        run_tool(cmd, &format!("linking {name} natively ({what})"));
    })
}

// ---------------------------------------------------------------------------
// Running.

/// What a program is given when it runs.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    /// argv[1..]
    pub args: Vec<String>,
    /// Standard input; `None` means /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// Variables added to the fixed base environment.
    pub env: Vec<(String, String)>,
    /// Compare stdout as a set of lines (threads that print in any order).
    pub unordered_stdout: bool,
}

impl RunSpec {
    pub fn args<S: AsRef<str>>(args: &[S]) -> Self {
        RunSpec {
            args: args.iter().map(|s| s.as_ref().to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.as_bytes().to_vec());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Stdout is compared as a set of lines: the order in which threads print is free.
    pub fn unordered_stdout(mut self) -> Self {
        self.unordered_stdout = true;
        self
    }
}

/// How a run ended and what it printed.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Killed by the hang guard.
    pub hung: bool,
}

impl Outcome {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn describe_status(&self) -> String {
        if self.hung {
            format!(
                "hung: killed after {}s ({})",
                HANG_GUARD.as_secs(),
                describe_status(self.status)
            )
        } else {
            describe_status(self.status)
        }
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit code {code}")
    } else if let Some(sig) = status.signal() {
        let name = match sig {
            4 => " (SIGILL)",
            6 => " (SIGABRT)",
            7 => " (SIGBUS)",
            8 => " (SIGFPE)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            13 => " (SIGPIPE)",
            _ => "",
        };
        format!(
            "killed by signal {sig}{name}{}",
            if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            }
        )
    } else {
        format!("{status:?}")
    }
}

/// Runs `cmd` in a fresh scratch directory with a fixed environment (plus
/// `spec.env`), feeding `spec.stdin`, and captures everything.
pub fn run(mut cmd: Command, spec: &RunSpec, label: &str) -> Outcome {
    let cwd = scratch_dir(label);
    cmd.current_dir(&cwd).env_clear();
    cmd.env(
        "PATH",
        std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")),
    );
    cmd.env("LC_ALL", "C")
        .env("LANG", "C")
        .env("TZ", "UTC")
        .env("HOME", &cwd);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.stdin(if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));

    let stdin_thread = child.stdin.take().map(|mut pipe| {
        let data = spec.stdin.clone().unwrap_or_default();
        // A program may exit without reading its input: ignore EPIPE.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });

    let start = Instant::now();
    let mut hung = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                if start.elapsed() > HANG_GUARD {
                    hung = true;
                    let _ = child.kill();
                    break child.wait().expect("wait after kill");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    };
    if let Some(t) = stdin_thread {
        let _ = t.join();
    }
    let stdout = out_thread.join().expect("stdout reader");
    let stderr = err_thread.join().expect("stderr reader");
    let _ = fs::remove_dir_all(&cwd);
    Outcome {
        status,
        stdout,
        stderr,
        hung,
    }
}

/// The `jitlink` command for `inputs` followed by `-- args`.
pub fn jitlink_command(options: &[&str], inputs: &[PathBuf], args: &[String]) -> Command {
    let mut cmd = Command::new(jitlink_path());
    cmd.args(options).args(inputs);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    cmd
}

/// Runs `cmd` as [`run`] does with nothing on stdin; returns the outcome and the command line.
pub fn run_command(cmd: Command, label: &str) -> (Outcome, String) {
    let line = shell_line(&cmd);
    (run(cmd, &RunSpec::default(), label), line)
}

/// Runs `jitlink options inputs`; returns the outcome and the command line.
pub fn run_jitlink(options: &[&str], inputs: &[PathBuf], label: &str) -> (Outcome, String) {
    run_command(jitlink_command(options, inputs, &[]), label)
}

/// `text` (its first 4,000 characters) with every line indented as `    | line`, for reports.
pub fn indent(text: &str) -> String {
    let shown: String = text.chars().take(4000).collect();
    shown.lines().map(|l| format!("    | {l}\n")).collect()
}

/// A command line as a copy-pasteable shell string.
pub fn shell_line(cmd: &Command) -> String {
    let mut parts = vec![shell_quote(&cmd.get_program().to_string_lossy())];
    parts.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    parts.join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs the native executable and `jitlink` on the same inputs with the same
/// arguments, input and environment. Returns the native outcome, and `Ok`
/// when both runs agree exactly, otherwise a readable report of the
/// differences.
pub fn run_both(
    label: &str,
    native_exe: &Path,
    jit_inputs: &[PathBuf],
    spec: &RunSpec,
) -> (Outcome, Result<(), String>) {
    run_both_with_options(label, native_exe, &[], jit_inputs, spec)
}

/// [`run_both`] with extra `jitlink` options before the inputs.
pub fn run_both_with_options(
    label: &str,
    native_exe: &Path,
    jit_options: &[&str],
    jit_inputs: &[PathBuf],
    spec: &RunSpec,
) -> (Outcome, Result<(), String>) {
    run_both_command(
        label,
        Command::new(native_exe),
        jit_options,
        jit_inputs,
        spec,
    )
}

/// [`run_both_with_options`] with the native program started by `native_cmd` (for example
/// under qemu-user: see [`native_command`]); the arguments are appended to it.
pub fn run_both_command(
    label: &str,
    mut native_cmd: Command,
    jit_options: &[&str],
    jit_inputs: &[PathBuf],
    spec: &RunSpec,
) -> (Outcome, Result<(), String>) {
    native_cmd.args(&spec.args);
    let native_line = shell_line(&native_cmd);
    let native = run(native_cmd, spec, label);

    let jit_cmd = jitlink_command(jit_options, jit_inputs, &spec.args);
    let jit_line = shell_line(&jit_cmd);
    let jit = run(jit_cmd, spec, label);

    if std::env::var_os("JITLINK_TEST_SHOW_NATIVE").is_some() {
        eprintln!(
            "[{label}] native run: {}\n--- stdout\n{}--- stderr\n{}---",
            native.describe_status(),
            native.stdout_text(),
            native.stderr_text()
        );
    }
    let verdict = compare_outcomes(label, &native, &jit, &native_line, &jit_line, spec);
    (native, verdict)
}

/// One run of a program linked natively (`exe`, built by `compiler`) and by jitlink (`inputs`,
/// with `jit_options`; a cross compiler's programs run under qemu-user and with
/// `--executor qemu`). Records that the native run ended with `exit_code` and that both runs
/// agree; keeps the native outcome in `natives` for [`check_native_agreement`].
#[allow(clippy::too_many_arguments)]
pub fn check_run(
    failures: &mut Failures,
    natives: &mut Vec<(String, Outcome)>,
    label: String,
    compiler: Compiler,
    exe: &Path,
    jit_options: &[&str],
    inputs: &[PathBuf],
    spec: &RunSpec,
    exit_code: i32,
) {
    let mut options = jit_options.to_vec();
    if compiler.is_cross() {
        options.extend(["--executor", "qemu"]);
    }
    let native_cmd = native_command(compiler, exe);
    let (native, verdict) = run_both_command(&label, native_cmd, &options, inputs, spec);
    failures.record(if native.status.code() == Some(exit_code) && !native.hung {
        Ok(())
    } else {
        Err(format!(
            "[{label}] the natively linked program ended with {}, expected exit code {exit_code} \
             (test program or toolchain problem)\n{}",
            native.describe_status(),
            native.stderr_text()
        ))
    });
    failures.record(verdict);
    natives.push((label, native));
}

/// Compares two outcomes; the report names the configuration, both command
/// lines and the first differing lines of each stream.
pub fn compare_outcomes(
    label: &str,
    native: &Outcome,
    jit: &Outcome,
    native_line: &str,
    jit_line: &str,
    spec: &RunSpec,
) -> Result<(), String> {
    let same_status = native.status.code() == jit.status.code()
        && native.status.signal() == jit.status.signal()
        && !native.hung
        && !jit.hung;
    let (native_stdout, jit_stdout) = if spec.unordered_stdout {
        (sorted_lines(&native.stdout), sorted_lines(&jit.stdout))
    } else {
        (native.stdout.clone(), jit.stdout.clone())
    };
    if same_status && native_stdout == jit_stdout && native.stderr == jit.stderr {
        return Ok(());
    }
    let mut r = String::new();
    r.push_str(&format!("[{label}] native and jitlink runs differ\n"));
    r.push_str(&format!("  native:  {native_line}\n"));
    r.push_str(&format!("  jitlink: {jit_line}\n"));
    if let Some(input) = &spec.stdin {
        r.push_str(&format!("  stdin:   {} bytes\n", input.len()));
    }
    if !spec.env.is_empty() {
        let vars: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        r.push_str(&format!("  env:     {}\n", vars.join(" ")));
    }
    if same_status {
        r.push_str(&format!("  status:  both {}\n", native.describe_status()));
    } else {
        r.push_str(&format!(
            "  status:  native {}, jitlink {}\n",
            native.describe_status(),
            jit.describe_status()
        ));
    }
    r.push_str(&diff_stream("stdout", &native_stdout, &jit_stdout));
    r.push_str(&diff_stream("stderr", &native.stderr, &jit.stderr));
    if native.stderr != jit.stderr && !jit.stderr.is_empty() {
        r.push_str("  jitlink stderr (last lines):\n");
        for line in last_lines(&jit.stderr, 12) {
            r.push_str(&format!("    | {line}\n"));
        }
    }
    Err(r)
}

/// The lines of `bytes`, sorted (each with its newline).
fn sorted_lines(bytes: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    lines.sort();
    lines.concat()
}

fn split_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

fn show_line(line: &str) -> String {
    const MAX: usize = 200;
    let (body, newline) = match line.strip_suffix('\n') {
        Some(b) => (b, ""),
        None => (line, "⏎ (no newline)"),
    };
    let mut shown: String = body.chars().take(MAX).collect();
    if body.chars().count() > MAX {
        shown.push('…');
    }
    format!("{}{}", shown.escape_debug(), newline)
}

fn last_lines(bytes: &[u8], n: usize) -> Vec<String> {
    let lines = split_lines(bytes);
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| show_line(l)).collect()
}

/// Describes how one output stream differs: line counts and the first
/// difference with a little context from each side.
pub fn diff_stream(name: &str, native: &[u8], jit: &[u8]) -> String {
    if native == jit {
        return format!("  {name}:  identical ({} bytes)\n", native.len());
    }
    let a = split_lines(native);
    let b = split_lines(jit);
    let first = a
        .iter()
        .zip(b.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let mut r = format!(
        "  {name}:  differs at line {} (native {} bytes/{} lines, jitlink {} bytes/{} lines)\n",
        first + 1,
        native.len(),
        if native.is_empty() { 0 } else { a.len() },
        jit.len(),
        if jit.is_empty() { 0 } else { b.len() }
    );
    for (i, line) in a
        .iter()
        .enumerate()
        .take(first)
        .skip(first.saturating_sub(3))
    {
        r.push_str(&format!("      {:>5} | {}\n", i + 1, show_line(line)));
    }
    for (side, lines) in [("-native ", &a), ("+jitlink", &b)] {
        let end = (first + 4).min(lines.len());
        if first >= lines.len() || (lines.len() == 1 && lines[0].is_empty()) {
            r.push_str(&format!("    {side} (no more output)\n"));
            continue;
        }
        for (i, line) in lines.iter().enumerate().take(end).skip(first) {
            r.push_str(&format!("    {side} {:>5} | {}\n", i + 1, show_line(line)));
        }
        if lines.len() > end {
            r.push_str(&format!(
                "    {side}   ... {} more lines\n",
                lines.len() - end
            ));
        }
    }
    r
}

// ---------------------------------------------------------------------------
// Collecting results over many configurations.

/// Gathers per-configuration failures and fails the test once, at the end,
/// with all of them.
#[derive(Default)]
pub struct Failures {
    what: String,
    total: usize,
    list: Vec<String>,
}

impl Failures {
    pub fn new(what: &str) -> Self {
        Failures {
            what: what.to_string(),
            ..Default::default()
        }
    }

    pub fn record(&mut self, result: Result<(), String>) {
        self.total += 1;
        if let Err(e) = result {
            self.list.push(e);
        }
    }

    /// Panics with a summary when any check failed. The first few reports
    /// are shown in full, the rest by their first line.
    pub fn finish(self) {
        if self.list.is_empty() {
            eprintln!("{}: all {} checks passed", self.what, self.total);
            return;
        }
        const FULL: usize = 4;
        let mut msg = format!(
            "{}: {} of {} checks failed\n\n",
            self.what,
            self.list.len(),
            self.total
        );
        for (i, f) in self.list.iter().enumerate() {
            if i < FULL {
                msg.push_str(f);
                msg.push('\n');
            } else {
                msg.push_str(&format!("(also) {}\n", f.lines().next().unwrap_or("")));
            }
        }
        panic!("{msg}");
    }
}

/// Panics when any of `compared` comparisons disagreed, listing the first 40 `failures`.
pub fn assert_none_disagree(failures: &[String], compared: usize) {
    assert!(
        failures.is_empty(),
        "{} of {compared} disagree:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

/// Checks that every configuration's native run printed the same thing: the
/// test programs are deterministic, so a difference means the test input is
/// broken, not the linker.
pub fn check_native_agreement(what: &str, runs: &[(String, Outcome)]) -> Result<(), String> {
    let Some((first_label, first)) = runs.first() else {
        return Ok(());
    };
    for (label, o) in &runs[1..] {
        if o.stdout != first.stdout
            || o.stderr != first.stderr
            || o.status.code() != first.status.code()
        {
            return Err(format!(
                "[{what}] native runs disagree between {first_label} and {label}: the test program is not \
                 deterministic\n{}{}  status: {} vs {}\n",
                diff_stream("stdout", &first.stdout, &o.stdout),
                diff_stream("stderr", &first.stderr, &o.stderr),
                first.describe_status(),
                o.describe_status()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Sources generated by the tests.

/// Writes a C source generated by a test to a content-addressed path under
/// the cache (so that compiling it is cached too) and returns the path.
pub fn generated_source(name: &str, text: &str) -> PathBuf {
    let mut h = KeyHasher::new();
    h.str("generated source");
    h.str(name);
    h.str(text);
    let dir = cache_dir("gen").join(h.hex());
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let dest = dir.join(name);
    cached(&dest, |tmp| {
        fs::write(tmp, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()))
    })
}

/// Exit code, stdout and stderr of a command run to completion.
pub fn outcome(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("run a test program");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compiles generated sources `(file name, text)` with one configuration.
pub fn compile_generated(config: &Config, files: &[(&str, &str)]) -> Vec<PathBuf> {
    let jobs: Vec<CompileJob> = files
        .iter()
        .map(|(name, text)| CompileJob::new(config, generated_source(name, text), &[]))
        .collect();
    compile_all(&jobs)
}
