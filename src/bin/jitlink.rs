//! `jitlink`: link relocatable objects and archives into this process and run them.

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

/// Writes a line to stderr; a stderr that cannot be written (closed, `/dev/full`) loses the
/// line rather than panicking as `eprintln!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
use jitlink::{Error, Options, Session};

/// Large links allocate their arenas on huge pages (see `jitlink::large_alloc`).
#[global_allocator]
static ALLOC: jitlink::large_alloc::LargeAlloc = jitlink::large_alloc::LargeAlloc;

/// Links relocatable objects (ELF, Mach-O, COFF) and static archives in memory and calls their
/// entry point.
#[derive(Parser, Debug)]
#[command(name = "jitlink", version, about)]
struct Cli {
    /// Object files (.o) and static archives (.a) to link.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Arguments passed to the entry point after argv[0] (the first input's path).
    #[arg(last = true)]
    args: Vec<String>,
    /// Entry symbol, called as `int main(int argc, char **argv, char **envp)` (with the Windows
    /// x64 convention when the inputs are COFF objects).
    #[arg(long, default_value = "main")]
    entry: String,
    /// Link everything, run nothing.
    #[arg(long)]
    noexec: bool,
    /// Print the linked graph (sections, blocks, symbols, edges) to stderr.
    #[arg(long)]
    show_graph: bool,
    /// Print the time of each link stage to stderr.
    #[arg(long)]
    timings: bool,
    /// Define an absolute symbol, NAME=ADDR (ADDR in decimal or 0x-hex).
    #[arg(long = "abs", value_name = "NAME=ADDR")]
    absolutes: Vec<String>,
    /// Link with library NAME (a shared library is loaded, a static archive linked).
    #[arg(short = 'l', value_name = "NAME")]
    libs: Vec<String>,
    /// Add DIR to the library search path.
    #[arg(short = 'L', value_name = "DIR")]
    lib_dirs: Vec<PathBuf>,
    /// Do not open libc, libm, libgcc_s and libstdc++ by default.
    #[arg(long)]
    no_default_libs: bool,
    /// Link each object when one of its functions is first called.
    #[arg(long)]
    lazy: bool,
    /// With --lazy: print each materialization to stderr.
    #[arg(long)]
    lazy_log: bool,
    /// Better versions of the inputs' functions (object or archive), linked when they are hot.
    #[arg(long = "reopt", value_name = "FILE")]
    reopt: Vec<PathBuf>,
    /// Calls after which a function is re-optimized.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    reopt_threshold: u64,
    /// Print each re-optimization event to stderr.
    #[arg(long)]
    reopt_log: bool,
    /// How calls are counted: `per-thread` (the default: exact, a plain decrement of the calling
    /// thread's own counter), `atomic` (exact, one locked increment of a shared counter per
    /// call) or `plain` (a plain increment of a shared counter: counts may be lost under threads).
    #[arg(long, value_name = "KIND", value_parser = ["per-thread", "atomic", "plain"],
          default_value = "per-thread")]
    reopt_counters: String,
    /// Same as `--reopt-counters plain` (kept for compatibility).
    #[arg(long, hide = true)]
    reopt_plain_counters: bool,
    /// Run in an executor process instead of this one: `process` (a child of this architecture),
    /// `qemu` (a child of the inputs' architecture under qemu-user) or `tcp:HOST:PORT` (an
    /// executor started there with `jitlink-executor --listen HOST:PORT`).
    #[arg(long, value_name = "KIND")]
    executor: Option<String>,
    /// Register the linked code with gdb's JIT interface (symbols, source lines, backtraces).
    /// On by default unless --noexec.
    #[arg(long, overrides_with = "no_debugger_support")]
    debugger_support: bool,
    /// Do not register the linked code with gdb.
    #[arg(long, overrides_with = "debugger_support")]
    no_debugger_support: bool,
    /// Make the linked program's global symbols visible to the shared objects it dlopens (as
    /// `ld --export-dynamic` / `-rdynamic`).
    #[arg(long, alias = "rdynamic")]
    export_dynamic: bool,
    /// Write /tmp/perf-PID.map entries for every linked function and stub, for perf.
    #[arg(long)]
    perf_map: bool,
    /// Write a perf jitdump ($JITDUMPDIR or /tmp, jit-PID.dump) with every function's code,
    /// for `perf record -k mono` and `perf inject --jit`.
    #[arg(long)]
    perf_jitdump: bool,
    /// Link at this fixed address into a buffer, without running (implies --noexec); undefined
    /// symbols resolve from --abs only.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    base: Option<u64>,
    /// Evaluate the `jitlink-check:` lines of FILE against the image linked at --base.
    #[arg(long, value_name = "FILE", requires = "base")]
    check: Vec<PathBuf>,
}

/// What must stay alive while linked code runs.
type KeepAlive = Box<dyn std::any::Any>;

/// Links for --lazy or --reopt: the entry's address and what must stay alive while it runs.
fn link_tiered(cli: &Cli, opts: Options) -> Result<Option<(u64, KeepAlive)>, Error> {
    if !cli.reopt.is_empty() {
        if cli.lazy {
            return Err(Error::Conflict {
                option: "--lazy",
                with: "--reopt",
            });
        }
        let files = jitlink::reopt::DefinitionFiles::open(&cli.reopt)?;
        let r = jitlink::reopt::Reoptimizer::new(
            opts,
            jitlink::reopt::ReoptOptions::default()
                .with_threshold(cli.reopt_threshold)
                .with_log(cli.reopt_log)
                .with_counters(
                    match (cli.reopt_plain_counters, cli.reopt_counters.as_str()) {
                        (true, _) | (_, "plain") => jitlink::reopt::Counters::Plain,
                        (_, "atomic") => jitlink::reopt::Counters::Atomic,
                        _ => jitlink::reopt::Counters::PerThread,
                    },
                ),
            std::sync::Arc::new(move |name: &str, _calls: u64| files.definition(name)),
        );
        for input in &cli.inputs {
            r.add_file(input)?;
        }
        for lib in &cli.libs {
            r.add_library(lib)?;
        }
        r.link()?;
        return Ok(Some((r.lookup(&cli.entry)?, Box::new(r))));
    }
    if cli.lazy {
        let l = jitlink::lazy::LazySession::new(
            opts,
            jitlink::lazy::LazyOptions::default().with_log(cli.lazy_log),
        );
        for input in &cli.inputs {
            l.add_file(input)?;
        }
        for lib in &cli.libs {
            l.add_library(lib)?;
        }
        return Ok(Some((l.lookup(&cli.entry)?, Box::new(l))));
    }
    Ok(None)
}

fn parse_addr(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s}: {e}"))
}

/// `--base` (and `--check`): links at a fixed address into a buffer; nothing runs. Returns the
/// exit status: 1 if a check failed.
fn run_fixed(cli: &Cli, base: u64, absolutes: &[(String, u64)]) -> Result<c_int, Error> {
    if !cli.libs.is_empty() {
        return Err(Error::Conflict {
            option: "-l",
            with: "--base (host libraries are not linked)",
        });
    }
    let mut inputs = Vec::new();
    for path in &cli.inputs {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        inputs.push((path.to_string_lossy().into_owned(), bytes));
    }
    let image = jitlink::image::link_at_base(&inputs, base, absolutes)?;
    let mut status = 0;
    for file in &cli.check {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        let report = jitlink::check::run(&image, absolutes, &text);
        for f in &report.failures {
            say!("jitlink: {}: {f}", file.display());
        }
        if !report.failures.is_empty() || report.passed == 0 {
            if report.passed == 0 && report.failures.is_empty() {
                say!("jitlink: {}: no jitlink-check lines", file.display());
            }
            status = 1;
        }
    }
    Ok(status)
}

fn parse_abs(s: &str) -> Result<(String, u64), Error> {
    let bad = || Error::BadValue {
        option: "--abs",
        value: s.to_string(),
        expected: "NAME=ADDR",
    };
    let (name, addr) = s.split_once('=').ok_or_else(bad)?;
    let addr = parse_addr(addr).map_err(|_| bad())?;
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), addr))
}

/// Links and runs the inputs in an executor process; returns jitlink's exit status: the
/// program's, or 128 + the signal that killed it (reported on stderr).
fn run_in_executor(cli: &Cli, kind: &str) -> Result<c_int, Error> {
    use jitlink::executor::{describe_status, Executor, ExecutorKind};
    if !cli.libs.is_empty() || cli.noexec || cli.show_graph {
        return Err(Error::Conflict {
            option: "--executor",
            with: "-l, --noexec or --show-graph (not yet)",
        });
    }
    if cli.lazy && !cli.reopt.is_empty() {
        return Err(Error::Conflict {
            option: "--lazy",
            with: "--reopt",
        });
    }
    let kind = match kind {
        "process" => ExecutorKind::Process,
        _ if kind.starts_with("tcp:") => ExecutorKind::Tcp {
            addr: kind["tcp:".len()..].to_string(),
        },
        "qemu" => {
            let first = cli.inputs.first().ok_or(Error::NothingToLink)?;
            ExecutorKind::Qemu {
                arch: jitlink::file_arch(first)?,
            }
        }
        _ => {
            return Err(Error::BadValue {
                option: "--executor",
                value: kind.to_string(),
                expected: "process, qemu or tcp:HOST:PORT",
            })
        }
    };
    let absolutes = cli
        .absolutes
        .iter()
        .map(|s| parse_abs(s))
        .collect::<Result<Vec<_>, _>>()?;
    let ex = Executor::spawn(kind)?;
    let args = program_args(cli);
    let status = if cli.lazy {
        let opts = jitlink::lazy::LazyOptions::default().with_log(cli.lazy_log);
        let mut lazy = jitlink::executor::RemoteLazy::new(ex, absolutes, opts);
        lazy.set_export_dynamic(cli.export_dynamic);
        for input in &cli.inputs {
            lazy.add_file(input)?;
        }
        lazy.run(&cli.entry, &args)?
    } else if !cli.reopt.is_empty() {
        if cli.reopt_plain_counters || cli.reopt_counters != "per-thread" {
            say!("jitlink: --reopt-counters applies in process; an executor counts atomically");
        }
        let files = jitlink::reopt::DefinitionFiles::open(&cli.reopt)?;
        let opts = jitlink::reopt::ReoptOptions::default()
            .with_threshold(cli.reopt_threshold)
            .with_log(cli.reopt_log);
        let callback = std::sync::Arc::new(move |name: &str, _calls: u64| files.definition(name));
        let mut r = jitlink::executor::RemoteReoptimizer::new(ex, absolutes, opts, callback);
        r.set_export_dynamic(cli.export_dynamic);
        for input in &cli.inputs {
            r.add_file(input)?;
        }
        r.run(&cli.entry, &args)?
    } else {
        let mut session = jitlink::executor::RemoteSession::new(ex, absolutes);
        session.set_export_dynamic(cli.export_dynamic);
        for input in &cli.inputs {
            session.add_file(input)?;
        }
        session.run(&cli.entry, &args)?
    };
    match describe_status(status) {
        Ok(code) => Ok(code),
        Err(report) => {
            say!("jitlink: linked program {report}");
            Ok(128 + status.signal().unwrap_or(0))
        }
    }
}

fn run(cli: Cli) -> Result<c_int, Error> {
    if let Some(kind) = cli.executor.clone() {
        return run_in_executor(&cli, &kind);
    }
    let start = Instant::now();
    let absolutes = cli
        .absolutes
        .iter()
        .map(|s| parse_abs(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(base) = cli.base {
        return run_fixed(&cli, base, &absolutes);
    }
    let mut opts = Options::default();
    opts.absolutes = absolutes;
    opts.library_dirs = cli.lib_dirs.clone();
    opts.no_default_libs = cli.no_default_libs;
    opts.show_graph = cli.show_graph;
    // As llvm-jitlink does: on when something runs (registration maps each input file again,
    // privately; see the README for its cost), off for link-only runs.
    opts.debugger_support = cli.debugger_support || (!cli.noexec && !cli.no_debugger_support);
    opts.perf_map = cli.perf_map;
    opts.perf_jitdump = cli.perf_jitdump;
    opts.timings = cli.timings;
    // Link everything, run nothing: no initializer, no finalizer at exit.
    opts.link_only = cli.noexec;
    opts.export_dynamic = cli.export_dynamic;
    opts.program_args = program_args(&cli);
    // Crashes in linked code (initializers included) name the function:
    // `jitlink: crashed (...) at ADDR in FUNC+OFF (file)`; the session keeps the table current.
    jitlink::debug::crash::install();
    if !cli.noexec {
        if let Some((entry, keep)) = link_tiered(&cli, opts.clone())? {
            let ret = call_entry(&cli, entry)?;
            // Re-optimizations under way when main returns finish (and log) before the exit.
            if let Some(r) = keep.downcast_ref::<jitlink::reopt::Reoptimizer>() {
                r.wait_idle();
            }
            // Linked code stays mapped: atexit handlers registered by it run in `exit`.
            std::mem::forget(keep);
            return Ok(ret);
        }
    }
    let mut session = Session::new(opts);
    for input in &cli.inputs {
        session.add_file(input)?;
    }
    for lib in &cli.libs {
        session.add_library(lib)?;
    }
    let entry = if cli.noexec {
        session.link_pending()?;
        None
    } else {
        Some(session.lookup(&cli.entry)?)
    };
    if cli.timings {
        for (stage, t) in &session.timings().stages {
            say!("jitlink: {stage:>10}: {:8.3} ms", t.as_secs_f64() * 1e3);
        }
        say!(
            "jitlink: {:>10}: {:8.3} ms",
            "total",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    let Some(entry) = entry else {
        // The process exits next: unmapping and deregistering everything would be wasted work.
        std::mem::forget(session);
        return Ok(0);
    };

    let ret = call_entry(&cli, entry)?;
    // The session stays alive: atexit handlers registered by linked code run in `exit`.
    std::mem::forget(session);
    Ok(ret)
}

/// Calls the entry point as `main(argc, argv, envp)`.
fn call_entry(cli: &Cli, entry: u64) -> Result<c_int, Error> {
    let mut argv_store = Vec::with_capacity(cli.args.len() + 1);
    let first = cli
        .inputs
        .first()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_default();
    for a in std::iter::once(first).chain(cli.args.iter().map(|a| a.as_bytes().to_vec())) {
        argv_store.push(CString::new(a).map_err(|e| Error::BadValue {
            option: "program argument",
            value: String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0"),
            expected: "no NUL byte",
        })?);
    }
    let mut argv: Vec<*const c_char> = argv_store.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: reading the C library's `environ` pointer.
    let envp = unsafe { environ };
    let argc = argv.len() as c_int - 1;
    let ret = if jitlink::entry_is_win64(&cli.inputs)? {
        // COFF code was compiled for Windows: call it with the Windows x64 convention.
        type Main = extern "win64" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
        // SAFETY: as below, with the convention the object was compiled for.
        let main: Main = unsafe { std::mem::transmute::<usize, Main>(entry as usize) };
        main(argc, argv.as_ptr(), envp)
    } else {
        type Main = extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
        // SAFETY: the entry symbol is a function the user asked to call with main's signature;
        // `entry` is its address in finalized executable memory.
        let main: Main = unsafe { std::mem::transmute::<usize, Main>(entry as usize) };
        main(argc, argv.as_ptr(), envp)
    };
    Ok(ret)
}

/// The program's `argv`: the first input's path, then the arguments after `--`.
fn program_args(cli: &Cli) -> Vec<String> {
    let argv0 = cli.inputs.first().map(|p| p.to_string_lossy().into_owned());
    std::iter::once(argv0.unwrap_or_default())
        .chain(cli.args.iter().cloned())
        .collect()
}

/// The largest thread-local block for which jitlink restarts itself with more static TLS: glibc
/// reserves the surplus in every thread, and much more than this makes its loader fail at
/// start, before jitlink could say why.
const MAX_STATIC_TLS_RETRY: u64 = 16 << 20;

/// Set in the environment of the restart that gives glibc more static TLS, so it happens once.
const RETRY_MARK: &str = "JITLINK_STATIC_TLS_RESTARTED";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => {
            // SAFETY: `exit` runs atexit handlers and flushes stdio, as the natively linked
            // program would when main returns.
            unsafe { libc::exit(status) }
        }
        Err(Error::StaticTlsExhausted { needed, .. })
            if std::env::var_os(RETRY_MARK).is_none() && needed <= MAX_STATIC_TLS_RETRY =>
        {
            // glibc sizes static TLS at process start: start again with room for this block.
            // Nothing has run yet (the link failed before any initializer), so this is invisible.
            let surplus = (needed * 2 + 4096).max(64 << 10);
            let tunables = match std::env::var("GLIBC_TUNABLES") {
                Ok(t) if !t.is_empty() => format!("{t}:glibc.rtld.optional_static_tls={surplus}"),
                _ => format!("glibc.rtld.optional_static_tls={surplus}"),
            };
            let err = std::process::Command::new("/proc/self/exe")
                .args(std::env::args_os().skip(1))
                .env("GLIBC_TUNABLES", tunables)
                .env(RETRY_MARK, "1")
                .exec();
            say!("jitlink: error: restarting with more static TLS: {err}");
            ExitCode::from(1)
        }
        Err(e) => {
            say!("jitlink: error: {e}");
            ExitCode::from(1)
        }
    }
}
