//! Lazy linking: an object is linked when one of its functions is first called.
//!
//! A [`LazySession`] reads every input first and decides which objects are *lazy units*. An
//! object is linked eagerly, at once, if it has static initializers (`.init_array`, `.ctors`,
//! `.preinit_array`), if another object references its global data, if it defines a function
//! another object also defines, or if an object with initializers calls one of its functions,
//! directly or not (so an initializer never waits for a lazy link). Archives keep their usual
//! on-demand members.
//!
//! Every global function of a lazy unit gets a redirectable stub (its address for everyone) that
//! first points at its own re-entry trampoline. The first call enters the resolver
//! (`crate::runtime::reentry`), which links the unit through the ordinary pipeline as one
//! linked set; that link points the stubs of all the unit's functions at their bodies, and the
//! call continues in the body with its arguments intact. Later calls go stub → body.
//!
//! Granularity: a unit is one object, or one function of an object compiled with
//! `-ffunction-sections` (more than one function, no thread-local data, no exception tables). Such
//! an object's data is linked once, with its first function (`BindMode::ObjectData`); each
//! function is linked from the same bytes on its first call, bound to that data
//! (`BindMode::FunctionOf`), without unwind tables.
//!
//! Threads: the first calls of several threads into one unit link it once; the others wait on a
//! condition variable and continue into the body.

use std::cell::Cell;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::builder::elf::{summarize, Summary};
use crate::builder::{detect, Bytes, InputKind};
use crate::error::{Error, Result};
use crate::link::Bound;
use crate::passes::bind::{BindMode, BindSpec};
use crate::runtime::reentry::Handler;
use crate::stubs::{Owner, RedirectableSymbolManager, Target};
use crate::{HostArch, Options, Session};

/// Options of lazy linking.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LazyOptions {
    /// Print each materialization to stderr.
    pub log: bool,
    /// Link objects compiled with `-ffunction-sections` one function at a time (the default).
    pub per_function: bool,
}

/// Setters for building options outside the crate (`LazyOptions` is `#[non_exhaustive]`).
impl LazyOptions {
    /// Sets [`LazyOptions::log`].
    pub fn with_log(mut self, log: bool) -> Self {
        self.log = log;
        self
    }

    /// Sets [`LazyOptions::per_function`].
    pub fn with_per_function(mut self, per_function: bool) -> Self {
        self.per_function = per_function;
        self
    }
}

impl Default for LazyOptions {
    fn default() -> Self {
        LazyOptions {
            log: false,
            per_function: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Pending,
    Linking,
    Linked,
    Failed(String),
}

enum Content {
    /// A whole object.
    Object(Option<Bytes>),
    /// One function of a split object (an index into [`Shared::split`]).
    Function(usize, String),
}

struct Unit {
    name: String,
    content: Content,
    state: State,
}

/// An object linked one function at a time: its data is linked with the first of them.
struct Split {
    name: String,
    bytes: Arc<Bytes>,
    /// Addresses of its data blocks, once linked.
    data: Option<FxHashMap<u32, u64>>,
}

impl Split {
    /// Links `functions` (and, the first time, the object's data).
    fn link<L: UnitLinker>(&mut self, s: &mut L, functions: &[String]) -> Result<()> {
        let Some((function, others)) = functions.split_first() else {
            return Ok(());
        };
        let data = match &self.data {
            Some(d) => d.clone(),
            None => {
                let spec = BindSpec {
                    mode: BindMode::ObjectData,
                    ..BindSpec::default()
                };
                let b = s.link_bound(self.name.clone(), Bytes::Shared(self.bytes.clone()), spec)?;
                self.data = Some(b.blocks.clone());
                b.blocks
            }
        };
        let spec = BindSpec {
            root: function.clone(),
            mode: BindMode::FunctionOf(data, others.to_vec()),
            ..BindSpec::default()
        };
        s.link_bound(self.name.clone(), Bytes::Shared(self.bytes.clone()), spec)?;
        Ok(())
    }
}

/// Where lazy units are linked: this process's [`Session`], or an executor's
/// ([`crate::remote::RemoteSession`], for `crate::tiered`). Both run the one pipeline.
pub(crate) trait UnitLinker {
    /// Links object `bytes` as a set of its own.
    fn link_object(&mut self, name: String, bytes: Bytes) -> Result<()>;
    /// Links object `bytes` bound to the live image by `spec`.
    fn link_bound(&mut self, name: String, bytes: Bytes, spec: BindSpec) -> Result<Bound>;
}

impl UnitLinker for Session {
    fn link_object(&mut self, name: String, bytes: Bytes) -> Result<()> {
        self.add_bytes(name, bytes)?;
        self.link_pending().map(drop)
    }
    fn link_bound(&mut self, name: String, bytes: Bytes, spec: BindSpec) -> Result<Bound> {
        Session::link_bound(self, name, bytes, spec)
    }
}

impl UnitLinker for crate::remote::RemoteSession {
    fn link_object(&mut self, name: String, bytes: Bytes) -> Result<()> {
        self.add_bytes(name, bytes)?;
        self.link_pending()
    }
    fn link_bound(&mut self, name: String, bytes: Bytes, spec: BindSpec) -> Result<Bound> {
        crate::remote::RemoteSession::link_bound(self, name, bytes, spec)
    }
}

/// A materialization under way: the units it links (`u` first), what it links, and the
/// functions of a split object among them.
pub(crate) struct Job {
    batch: Vec<usize>,
    name: String,
    what: std::result::Result<usize, Option<Bytes>>,
    functions: Vec<String>,
}

/// Starts materializing pending unit `u`: marks it (and the units batched with it) linking.
fn begin(units: &mut [Unit], u: usize) -> Job {
    let batch = batch(units, u);
    for &i in &batch {
        units[i].state = State::Linking;
    }
    let name = units[u].name.clone();
    // What to link: the object's bytes, or functions of split object `o`.
    let what = match &mut units[u].content {
        Content::Object(b) => Err(b.take()),
        Content::Function(o, _) => Ok(*o),
    };
    let functions = batch
        .iter()
        .filter_map(|&i| match &units[i].content {
            Content::Function(_, f) => Some(f.clone()),
            Content::Object(_) => None,
        })
        .collect();
    Job {
        batch,
        name,
        what,
        functions,
    }
}

/// Links what `job` links with `linker`, logging it if asked; `function` is the one called.
fn link_job<L: UnitLinker>(
    job: &mut Job,
    linker: &mut L,
    split: &mut [Split],
    function: &str,
    log: bool,
) -> Result<()> {
    let start = Instant::now();
    let linked = match &mut job.what {
        Err(b) => match b.take() {
            None => Err(Error::Internal("a lazy unit has no content")),
            Some(b) => linker.link_object(job.name.clone(), b),
        },
        Ok(o) => match split.get_mut(*o) {
            Some(split) => split.link(linker, &job.functions),
            None => Err(Error::Internal("a lazy unit's object is missing")),
        },
    };
    if log {
        let (name, ms) = (&job.name, start.elapsed().as_secs_f64() * 1e3);
        match &linked {
            Ok(_) if job.functions.len() > 1 => crate::diag!(
                "jitlink: lazy: linked {name} and the {} other functions of its object not \
                 linked yet, for {function} in {ms:.3} ms",
                job.functions.len() - 1,
            ),
            Ok(_) => crate::diag!("jitlink: lazy: linked {name} for {function} in {ms:.3} ms"),
            Err(e) => crate::diag!("jitlink: lazy: linking {name} failed: {e}"),
        }
    }
    linked
}

/// Ends `job`: its units are linked, or failed with the reason.
fn finish(units: &mut [Unit], job: &Job, function: &str, linked: Result<()>) {
    let state = match linked {
        Ok(()) => State::Linked,
        Err(e) => State::Failed(format!("linking {} for {function}: {e}", job.name)),
    };
    for &i in &job.batch {
        units[i].state = state.clone();
    }
}

/// Lazy units of the inputs, and the inputs linked at once (see the module docs).
pub(crate) struct UnitPlan {
    units: Vec<Unit>,
    split: Vec<Split>,
    /// Every function of a lazy unit, with its unit's index.
    functions: Vec<(usize, String)>,
    /// The inputs linked at once, as one set.
    pub eager: Vec<(String, Bytes)>,
    /// Some input needs the low 2 GiB: every set goes there.
    pub needs_low: bool,
}

impl UnitPlan {
    /// The functions of lazy units (each declared at a stub).
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.iter().map(|(_, f)| f.as_str())
    }
}

/// Sorts `inputs` (ELF objects for architecture `A`) into eager ones and lazy units; the units'
/// indices start at `first_unit`, the split objects' at `first_split`.
pub(crate) fn plan_units<A: crate::builder::elf::ElfArch>(
    inputs: Vec<(String, Bytes)>,
    per_function: bool,
    first_unit: usize,
    first_split: usize,
) -> Result<UnitPlan> {
    let scans: Vec<Summary> = inputs
        .iter()
        .map(|(n, b)| summarize::<A>(n, b))
        .collect::<Result<_>>()?;
    let mut definer: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    let mut data_of: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, s) in scans.iter().enumerate() {
        for f in &s.functions {
            definer.entry(f).or_default().push(i);
        }
        for d in &s.data {
            data_of.insert(d, i);
        }
    }
    let mut eager: Vec<bool> = scans.iter().map(|s| s.initializers).collect();
    for (i, s) in scans.iter().enumerate() {
        for r in &s.references {
            if let Some(&j) = data_of.get(r.as_str()) {
                if j != i {
                    eager[j] = true;
                }
            }
        }
        for f in &s.functions {
            if definer.get(f.as_str()).is_some_and(|d| d.len() > 1) {
                eager[i] = true;
            }
        }
    }
    // Whatever an object with initializers calls (transitively) is eager too, since the
    // initializers run inside the link and must not wait for a lazy one.
    let mut work: Vec<usize> = (0..scans.len())
        .filter(|&i| scans[i].initializers)
        .collect();
    while let Some(i) = work.pop() {
        for r in &scans[i].references {
            for &j in definer.get(r.as_str()).into_iter().flatten() {
                if !eager[j] {
                    eager[j] = true;
                    work.push(j);
                }
            }
        }
    }
    let mut plan = UnitPlan {
        units: Vec::new(),
        split: Vec::new(),
        functions: Vec::new(),
        eager: Vec::new(),
        needs_low: scans.iter().any(|s| s.needs_low),
    };
    drop(definer);
    drop(data_of);
    for ((name, bytes), (scan, eager)) in inputs.into_iter().zip(scans.into_iter().zip(eager)) {
        if eager {
            plan.eager.push((name, bytes));
            continue;
        }
        if per_function
            && scan.functions.len() > 1
            && scan.function_sections
            && !scan.tls
            && !scan.exception_tables
        {
            let o = first_split + plan.split.len();
            for f in scan.functions {
                plan.functions
                    .push((first_unit + plan.units.len(), f.clone()));
                plan.units.push(Unit {
                    name: format!("{name}:{f}"),
                    content: Content::Function(o, f),
                    state: State::Pending,
                });
            }
            plan.split.push(Split {
                name,
                bytes: Arc::new(bytes),
                data: None,
            });
            continue;
        }
        let u = first_unit + plan.units.len();
        plan.units.push(Unit {
            name,
            content: Content::Object(Some(bytes)),
            state: State::Pending,
        });
        plan.functions
            .extend(scan.functions.into_iter().map(|f| (u, f)));
    }
    Ok(plan)
}

/// Lazy units being linked into an executor, one event at a time (`crate::tiered`): the same
/// units, batches and links as [`LazySession`]'s, without its locks (one thread serves the
/// events).
pub(crate) struct RemoteUnits {
    units: Vec<Unit>,
    split: Vec<Split>,
    functions: Vec<(usize, String)>,
    log: bool,
}

impl RemoteUnits {
    /// The units of `plan`.
    pub fn new(plan: UnitPlan, log: bool) -> Self {
        RemoteUnits {
            units: plan.units,
            split: plan.split,
            functions: plan.functions,
            log,
        }
    }

    /// Materializes lazy function `f` (the `f`-th of [`UnitPlan::function_names`]) with
    /// `linker`, once; returns its name.
    pub fn materialize<L: UnitLinker>(
        &mut self,
        f: usize,
        linker: &mut L,
    ) -> std::result::Result<&str, String> {
        let (u, function) = self
            .functions
            .get(f)
            .ok_or_else(|| format!("lazy function {f} does not exist"))?;
        let u = *u;
        match &self.units[u].state {
            State::Linked => return Ok(function),
            State::Failed(m) => return Err(m.clone()),
            State::Linking => return Err(format!("{function} called while its unit links")),
            State::Pending => {}
        }
        let mut job = begin(&mut self.units, u);
        let linked = link_job(&mut job, linker, &mut self.split, function, self.log);
        finish(&mut self.units, &job, function, linked);
        match &self.units[u].state {
            State::Failed(m) => Err(m.clone()),
            _ => Ok(function),
        }
    }
}

struct Shared {
    session: Mutex<Session>,
    units: Mutex<Vec<Unit>>,
    /// Split objects; locked only while holding the session.
    split: Mutex<Vec<Split>>,
    changed: Condvar,
    log: bool,
}

thread_local! {
    /// Set while this thread holds the session to link: a lazy call from that link's own
    /// initializers cannot link again.
    static LINKING: Cell<bool> = const { Cell::new(false) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment; a poisoned lock is consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on the locked session, marking this thread as linking.
fn with_session<T>(shared: &Shared, f: impl FnOnce(&mut Session) -> T) -> T {
    let mut s = lock(&shared.session);
    LINKING.with(|l| l.set(true));
    let r = f(&mut s);
    LINKING.with(|l| l.set(false));
    r
}

impl Shared {
    /// Links unit `u` once; concurrent callers wait for the one that links it.
    fn materialize(&self, u: usize, function: &str) -> std::result::Result<(), String> {
        let mut units = lock(&self.units);
        loop {
            match &units[u].state {
                State::Linked => return Ok(()),
                State::Failed(m) => return Err(m.clone()),
                State::Linking => {
                    units = self.changed.wait(units).unwrap_or_else(|p| p.into_inner());
                }
                State::Pending => {
                    if LINKING.with(Cell::get) {
                        return Err(format!(
                            "lazy function {function} called while linking (from a static \
                             initializer?); link its object eagerly"
                        ));
                    }
                    let mut job = begin(&mut units, u);
                    drop(units);
                    let linked = with_session(self, |s| {
                        link_job(&mut job, s, &mut lock(&self.split), function, self.log)
                    });
                    units = lock(&self.units);
                    finish(&mut units, &job, function, linked);
                    self.changed.notify_all();
                }
            }
        }
    }
}

/// After this many functions of one object were linked one by one, the next materialization
/// links all the others of that object at once: each one-function link builds the object's whole
/// graph again, which for objects with thousands of functions costs more than linking them.
const BATCH_AFTER: usize = 8;

/// The units linked together with unit `u`: `u` alone, or for a function of a split object of
/// which `BATCH_AFTER` functions are linked, every function of it not linked yet (`u` first).
fn batch(units: &[Unit], u: usize) -> Vec<usize> {
    let Content::Function(o, _) = units[u].content else {
        return vec![u];
    };
    let of_o = |x: &Unit| matches!(x.content, Content::Function(p, _) if p == o);
    let linked = units
        .iter()
        .filter(|x| of_o(x) && x.state == State::Linked)
        .count();
    if linked < BATCH_AFTER {
        return vec![u];
    }
    let rest =
        (0..units.len()).filter(|&i| i != u && of_o(&units[i]) && units[i].state == State::Pending);
    std::iter::once(u).chain(rest).collect()
}

/// A session that links objects lazily, on the first call of one of their functions.
///
/// ```no_run
/// # fn main() -> Result<(), jitlink::Error> {
/// let lazy = jitlink::lazy::LazySession::new(Default::default(), Default::default());
/// lazy.add_file("main.o")?;
/// lazy.add_file("rarely_used.o")?;
/// let main = lazy.lookup("main")?;           // a stub: nothing linked yet
/// assert!(lazy.materialized().is_empty());
/// # Ok(()) }
/// ```
pub struct LazySession {
    shared: Arc<Shared>,
    per_function: bool,
    inputs: Mutex<Vec<(String, Bytes)>>,
}

impl LazySession {
    /// A lazy session over a session made with `opts`.
    pub fn new(opts: Options, lazy: LazyOptions) -> Self {
        LazySession {
            shared: Arc::new(Shared {
                session: Mutex::new(Session::new(opts)),
                units: Mutex::new(Vec::new()),
                split: Mutex::new(Vec::new()),
                changed: Condvar::new(),
                log: lazy.log,
            }),
            per_function: lazy.per_function,
            inputs: Mutex::new(Vec::new()),
        }
    }

    /// Adds an object file or archive from disk.
    pub fn add_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.add_bytes(path.to_string_lossy().into_owned(), Bytes::map_file(path)?)
    }

    /// Adds an object file or archive held in memory; `name` is used in messages.
    pub fn add_bytes(&self, name: String, bytes: Bytes) -> Result<()> {
        match detect(&name, &bytes)? {
            InputKind::Archive => with_session(&self.shared, |s| s.add_bytes(name, bytes)),
            InputKind::Elf => {
                lock(&self.inputs).push((name, bytes));
                Ok(())
            }
            InputKind::MachO | InputKind::Coff => Err(Error::Unsupported {
                file: name,
                what: "lazy linking reads ELF objects only".into(),
            }),
        }
    }

    /// Resolves `-l name` as [`Session::add_library`] does.
    pub fn add_library(&self, name: &str) -> Result<()> {
        with_session(&self.shared, |s| s.add_library(name))
    }

    /// Sorts the inputs added so far into eager objects (linked now, as one set) and lazy units
    /// (declared behind stubs). Called by [`LazySession::lookup`]; idempotent.
    pub fn link_eager(&self) -> Result<()> {
        let inputs = std::mem::take(&mut *lock(&self.inputs));
        if inputs.is_empty() {
            return Ok(());
        }
        let shared = &self.shared;
        let (first_unit, first_split) = (lock(&shared.units).len(), lock(&shared.split).len());
        let plan = plan_units::<HostArch>(inputs, self.per_function, first_unit, first_split)?;
        if plan.needs_low {
            // Split into sets, -fno-pic objects still reference each other's data with 32-bit
            // PC-relative displacements: keep every set low, as one eager link would.
            with_session(shared, Session::place_low);
        }
        lock(&shared.units).extend(plan.units);
        lock(&shared.split).extend(plan.split);
        let (lazy_functions, eager_inputs) = (plan.functions, plan.eager);
        with_session(shared, |s| -> Result<()> {
            let weak: Weak<Shared> = Arc::downgrade(shared);
            let pool = s.redirection_manager();
            let handlers: Vec<Handler> = lazy_functions
                .iter()
                .map(|(u, f)| -> Handler {
                    let (u, f, weak, pool) = (*u, f.clone(), weak.clone(), pool.clone());
                    Arc::new(move || {
                        let shared = weak
                            .upgrade()
                            .ok_or_else(|| format!("{f} called after its session was dropped"))?;
                        shared.materialize(u, &f)?;
                        pool.handle(&f)
                            .map(|h| h.target())
                            .ok_or_else(|| format!("lazy function {f} has no stub"))
                    })
                })
                .collect();
            // SAFETY: each handler returns its function's stub target after materializing it:
            // the linked function itself, which has the signature its callers call it with, and
            // stays mapped while the session (which owns the trampolines) lives.
            let trampolines = unsafe { s.trampolines().reentry(handlers)? };
            let initial: Vec<(&str, Target<'_>)> = lazy_functions
                .iter()
                .zip(&trampolines)
                .map(|((_, f), t)| (f.as_str(), t.as_target()))
                .collect();
            pool.create_redirectable_symbols(Owner::LAZY, &initial)?;
            for (f, _) in &initial {
                if let Some(h) = pool.handle(f) {
                    s.declare_lazy(f, h.raw());
                }
            }
            for (name, bytes) in eager_inputs {
                s.add_bytes(name, bytes)?;
            }
            s.link_pending()?;
            Ok(())
        })
    }

    /// The address of `name`: a lazy function's stub (nothing is linked until it is called),
    /// or the address an ordinary [`Session::lookup`] gives.
    pub fn lookup(&self, name: &str) -> Result<u64> {
        self.link_eager()?;
        with_session(&self.shared, |s| s.lookup(name))
    }

    /// Names of the lazy units linked so far, in the order they were added.
    pub fn materialized(&self) -> Vec<String> {
        lock(&self.shared.units)
            .iter()
            .filter(|u| u.state == State::Linked)
            .map(|u| u.name.clone())
            .collect()
    }

    /// Names of all lazy units (linked or not).
    pub fn lazy_units(&self) -> Vec<String> {
        lock(&self.shared.units)
            .iter()
            .map(|u| u.name.clone())
            .collect()
    }

    /// Runs `f` on the underlying session (for example to read its timings).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        with_session(&self.shared, f)
    }
}
