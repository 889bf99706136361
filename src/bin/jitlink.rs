//! `jitlink`: link relocatable objects and archives into this process and run them.

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use jitlink::{Error, Options, Session};

/// Links ELF relocatable objects and static archives in memory and calls their entry point.
#[derive(Parser, Debug)]
#[command(name = "jitlink", version, about)]
struct Cli {
    /// Object files (.o) and static archives (.a) to link.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Arguments passed to the entry point after argv[0] (the first input's path).
    #[arg(last = true)]
    args: Vec<String>,
    /// Entry symbol, called as `int main(int argc, char **argv, char **envp)`.
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
    /// Link at this fixed address into a buffer, without running (implies --noexec); undefined
    /// symbols resolve from --abs only.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    base: Option<u64>,
    /// Evaluate the `jitlink-check:` lines of FILE against the image linked at --base.
    #[arg(long, value_name = "FILE", requires = "base")]
    check: Vec<PathBuf>,
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
        return Err(Error::InvalidArgument(
            "-l cannot be used with --base (host libraries are not linked)".into(),
        ));
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
            eprintln!("jitlink: {}: {f}", file.display());
        }
        if !report.failures.is_empty() || report.passed == 0 {
            if report.passed == 0 && report.failures.is_empty() {
                eprintln!("jitlink: {}: no jitlink-check lines", file.display());
            }
            status = 1;
        }
    }
    Ok(status)
}

fn parse_abs(s: &str) -> Result<(String, u64), Error> {
    let bad = || Error::InvalidArgument(format!("--abs {s}: expected NAME=ADDR"));
    let (name, addr) = s.split_once('=').ok_or_else(bad)?;
    let addr = parse_addr(addr).map_err(|_| bad())?;
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), addr))
}

fn run(cli: Cli) -> Result<c_int, Error> {
    let start = Instant::now();
    let absolutes = cli
        .absolutes
        .iter()
        .map(|s| parse_abs(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(base) = cli.base {
        return run_fixed(&cli, base, &absolutes);
    }
    let mut session = Session::new(Options {
        absolutes,
        library_dirs: cli.lib_dirs.clone(),
        no_default_libs: cli.no_default_libs,
        show_graph: cli.show_graph,
        program_args: std::iter::once(
            cli.inputs
                .first()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
        .chain(cli.args.iter().cloned())
        .collect(),
        ..Options::default()
    });
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
            eprintln!("jitlink: {stage:>10}: {:8.3} ms", t.as_secs_f64() * 1e3);
        }
        eprintln!(
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

    let mut argv_store = Vec::with_capacity(cli.args.len() + 1);
    let first = cli
        .inputs
        .first()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_default();
    for a in std::iter::once(first).chain(cli.args.iter().map(|a| a.as_bytes().to_vec())) {
        argv_store.push(
            CString::new(a).map_err(|_| Error::InvalidArgument("argument contains NUL".into()))?,
        );
    }
    let mut argv: Vec<*const c_char> = argv_store.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    extern "C" {
        static environ: *const *const c_char;
    }
    type Main = extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
    // SAFETY: the entry symbol is a function the user asked to call with main's signature;
    // `entry` is its address in finalized executable memory.
    let main: Main = unsafe { std::mem::transmute::<usize, Main>(entry as usize) };
    // SAFETY: reading the C library's `environ` pointer.
    let envp = unsafe { environ };
    let ret = main(argv.len() as c_int - 1, argv.as_ptr(), envp);
    // The session stays alive: atexit handlers registered by linked code run in `exit`.
    std::mem::forget(session);
    Ok(ret)
}

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
        Err(Error::StaticTlsExhausted { needed }) if std::env::var_os(RETRY_MARK).is_none() => {
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
            eprintln!("jitlink: error: restarting with more static TLS: {err}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("jitlink: error: {e}");
            ExitCode::from(1)
        }
    }
}
