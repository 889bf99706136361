//! Types that both the pipeline ([`crate::link`]) and the session API ([`crate::Session`]) use:
//! options, the redirectable-function policy, linked-set ids and stage timings. They sit below
//! both, so that neither imports the other for them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of a session.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// Absolute symbols: name → address.
    pub absolutes: Vec<(String, u64)>,
    /// Directories searched by [`crate::Session::add_library`].
    pub library_dirs: Vec<PathBuf>,
    /// Do not open the compiler driver's default libraries (libc, libm, libgcc_s, libstdc++);
    /// symbols already loaded in the process still resolve.
    pub no_default_libs: bool,
    /// Print each linked graph to stderr.
    pub show_graph: bool,
    /// `argv` passed to static initializers (the program's arguments, `argv[0]` first).
    pub program_args: Vec<String>,
    /// Which functions defined by linked objects are made redirectable.
    pub redirectable: Redirectable,
    /// Register each linked set with gdb's JIT interface.
    pub debugger_support: bool,
    /// Write `/tmp/perf-PID.map` entries for every linked function and stub.
    pub perf_map: bool,
    /// Write a perf jitdump (`jit-PID.dump`) with the code of every linked function and stub.
    pub perf_jitdump: bool,
    /// Keep the time spent in each pipeline stage ([`crate::Session::timings`]).
    pub timings: bool,
    /// Link only: run no static initializer and register no finalizer, so that nothing of the
    /// linked code runs unless the caller calls it (`jitlink --noexec`). No function table is
    /// built for such a set unless a perf file wants one, so crash reports and
    /// [`crate::Session::describe_address`] do not name its functions.
    pub link_only: bool,
    /// Make the global symbols of every linked set visible to shared objects that the linked
    /// code loads with `dlopen` (`jitlink --export-dynamic`, as `ld --export-dynamic` does for
    /// an executable's dynamic symbol table).
    pub export_dynamic: bool,
}

/// Setters, one per field, for building options outside the crate (`Options` is
/// `#[non_exhaustive]`): `Options::default().with_debugger_support(true)`.
impl Options {
    /// Sets absolute symbols ([`Options::absolutes`]).
    pub fn with_absolutes(mut self, absolutes: Vec<(String, u64)>) -> Self {
        self.absolutes = absolutes;
        self
    }

    /// Sets library directories ([`Options::library_dirs`]).
    pub fn with_library_dirs(mut self, library_dirs: Vec<PathBuf>) -> Self {
        self.library_dirs = library_dirs;
        self
    }

    /// Sets whether default libraries are skipped ([`Options::no_default_libs`]).
    pub fn with_no_default_libs(mut self, no_default_libs: bool) -> Self {
        self.no_default_libs = no_default_libs;
        self
    }

    /// Sets whether graphs are printed ([`Options::show_graph`]).
    pub fn with_show_graph(mut self, show_graph: bool) -> Self {
        self.show_graph = show_graph;
        self
    }

    /// Sets the program arguments ([`Options::program_args`]).
    pub fn with_program_args(mut self, program_args: Vec<String>) -> Self {
        self.program_args = program_args;
        self
    }

    /// Sets the redirectable functions ([`Options::redirectable`]).
    pub fn with_redirectable(mut self, redirectable: Redirectable) -> Self {
        self.redirectable = redirectable;
        self
    }

    /// Sets debugger registration ([`Options::debugger_support`]).
    pub fn with_debugger_support(mut self, debugger_support: bool) -> Self {
        self.debugger_support = debugger_support;
        self
    }

    /// Sets perf map output ([`Options::perf_map`]).
    pub fn with_perf_map(mut self, perf_map: bool) -> Self {
        self.perf_map = perf_map;
        self
    }

    /// Sets perf jitdump output ([`Options::perf_jitdump`]).
    pub fn with_perf_jitdump(mut self, perf_jitdump: bool) -> Self {
        self.perf_jitdump = perf_jitdump;
        self
    }

    /// Sets stage timings ([`Options::timings`]).
    pub fn with_timings(mut self, timings: bool) -> Self {
        self.timings = timings;
        self
    }

    /// Sets whether linked symbols are exported to `dlopen`ed objects
    /// ([`Options::export_dynamic`]).
    pub fn with_export_dynamic(mut self, export_dynamic: bool) -> Self {
        self.export_dynamic = export_dynamic;
        self
    }

    /// Sets link-only mode ([`Options::link_only`]).
    pub fn with_link_only(mut self, link_only: bool) -> Self {
        self.link_only = link_only;
        self
    }
}

/// Which linked functions get a stub as their stable address (see [`crate::stubs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redirectable {
    /// None.
    #[default]
    None,
    /// These functions. References from other objects and lookups go through the stub.
    Functions(Vec<String>),
    /// These functions, and references from inside their own object too.
    FunctionsEverywhere(Vec<String>),
    /// Every global function; references from inside their own object too.
    AllFunctions,
}

impl Redirectable {
    /// True if function `name` is chosen.
    pub(crate) fn wants(&self, name: &[u8]) -> bool {
        match self {
            Redirectable::None => false,
            Redirectable::AllFunctions => true,
            Redirectable::Functions(v) | Redirectable::FunctionsEverywhere(v) => {
                v.iter().any(|n| n.as_bytes() == name)
            }
        }
    }

    /// True if references from inside the function's own object go through its stub too.
    pub(crate) fn internal(&self) -> bool {
        matches!(
            self,
            Redirectable::FunctionsEverywhere(_) | Redirectable::AllFunctions
        )
    }
}

/// Identifies a linked set (everything linked by one [`crate::Session::link_pending`]). Made
/// only by the session; ids are never reused within a session, so an id of a removed set names
/// no other set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkedSetId(pub(crate) u32);

impl LinkedSetId {
    /// The set's number in its session (as in messages).
    pub fn index(&self) -> u32 {
        self.0
    }
}

/// Time spent in each pipeline stage, summed over links; kept when [`Options::timings`] is set
/// (reading the clock twice per stage costs about a microsecond a link on this kind of VM).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// `(stage, time)`, in pipeline order.
    pub stages: Vec<(&'static str, Duration)>,
    on: bool,
}

impl Timings {
    /// Timings that are kept if `on`.
    pub(crate) fn new(on: bool) -> Self {
        Timings {
            stages: Vec::new(),
            on,
        }
    }

    /// The start of a stage: the time now, if timings are kept.
    pub(crate) fn start(&self) -> Option<Instant> {
        self.on.then(Instant::now)
    }

    /// Adds the time since `start` (from [`Timings::start`]) to `stage`.
    pub(crate) fn add(&mut self, stage: &'static str, start: Option<Instant>) {
        let Some(start) = start else { return };
        let t = start.elapsed();
        // Stage names are literals: comparing their addresses first avoids comparing bytes.
        let same = |s: &&str| std::ptr::eq(*s, stage) || *s == stage;
        match self.stages.iter_mut().find(|(s, _)| same(s)) {
            Some((_, d)) => *d += t,
            None => self.stages.push((stage, t)),
        }
    }
}
