//! The counter-driven re-optimizer: tier-0 functions count their calls, and a hot one is
//! replaced by a better definition while the program runs.
//!
//! [`Reoptimizer::link`] links the tier-0 inputs with every global function redirectable (its
//! stub is its address everywhere, inside its own object too), then puts a *counting
//! trampoline* between each stub and its body. Each function has its own counter. By default
//! ([`Counters::PerThread`], `crate::runtime::counters`) each thread counts a function's calls
//! in its own slot with one plain decrement per call, and the runtime adds the threads' counts up
//! when a thread's budget runs out or the thread exits: counts are exact and exactly one call,
//! the one that crosses the threshold, enters the runtime to start the tier-up. Where per-thread
//! counters are not available, the counter is shared and incremented with one locked instruction
//! per call ([`jitlink_arch::Arch::COUNTING_TRAMPOLINE`]), with the same guarantees at a higher
//! cost per call; [`Counters::Plain`] trades exactness for cost. No compiler support is needed.
//!
//! That call asks the callback `reoptimize(symbol, calls)` for a new definition (object bytes),
//! on a background thread by default, while the calling thread continues in the old version. The
//! new definition is linked as its own set, a new version of the tier-0 set
//! ([`Session::replace`]'s rules: it takes the function's name and stub), and bound to the live image
//! (`crate::passes::bind`): globals resolve to the running definitions (functions through their
//! stubs), and file-static data to the statics of the tier-0 object that defined the function, so
//! state is shared, never duplicated. Then the stub is pointed at the new body with one atomic
//! store; from then on calls go stub → new body and counting costs nothing. A definition that
//! cannot be bound safely is refused with an event, and the old version keeps running.
//!
//! Old versions are never unmapped while the session lives: a thread may be inside one (or
//! return into one) at any time, and jitlink does not track thread stacks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use rustc_hash::FxHashMap;

use crate::builder::archive::ArchiveIndex;
use crate::builder::elf::summarize;
use crate::builder::{detect, Bytes, InputKind};
use crate::error::{Error, Result};
use crate::lazy::UnitLinker;
use crate::passes::bind::{BindMode, BindSpec};
use crate::passes::locals::Locals;
use crate::runtime::reentry::Handler;
pub use crate::stubs::Counters;
use crate::stubs::{OwnerKey, RawStub, Trampoline};
use crate::{HostArch, Options, Redirectable, Session};

/// A new definition of a function: an object file (in memory) that defines it.
#[derive(Debug, Clone)]
pub struct NewDefinition {
    /// Name of the object, for messages.
    pub name: String,
    /// The object's bytes.
    pub bytes: Vec<u8>,
}

/// The callback: given a hot function and its call count, a better definition (or `None`).
pub type ReoptimizeFn = Arc<dyn Fn(&str, u64) -> Option<NewDefinition> + Send + Sync>;

/// Options of the re-optimizer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReoptOptions {
    /// Calls after which a function is re-optimized (at least 1).
    pub threshold: u64,
    /// Re-optimize on a background thread (the default); otherwise the call that crosses the
    /// threshold waits and continues in the new version.
    pub background: bool,
    /// Print each event to stderr.
    pub log: bool,
    /// How calls are counted ([`Counters::PerThread`] by default: exact, and exactly one call
    /// enters the runtime). With [`Counters::Plain`], calls racing on several threads may be
    /// counted once (the threshold is then reached a little later); the runtime still
    /// re-optimizes a function once.
    pub counters: Counters,
}

/// Setters for building options outside the crate (`ReoptOptions` is `#[non_exhaustive]`).
impl ReoptOptions {
    /// Sets [`ReoptOptions::threshold`].
    pub fn with_threshold(mut self, threshold: u64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets [`ReoptOptions::background`].
    pub fn with_background(mut self, background: bool) -> Self {
        self.background = background;
        self
    }

    /// Sets [`ReoptOptions::log`].
    pub fn with_log(mut self, log: bool) -> Self {
        self.log = log;
        self
    }

    /// Sets [`ReoptOptions::counters`].
    pub fn with_counters(mut self, counters: Counters) -> Self {
        self.counters = counters;
        self
    }
}

impl Default for ReoptOptions {
    fn default() -> Self {
        ReoptOptions {
            threshold: 1000,
            background: true,
            log: false,
            counters: Counters::default(),
        }
    }
}

/// What happened to a function that crossed its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReoptEvent {
    /// Its stub now points at the new definition.
    Reoptimized {
        /// The function.
        symbol: String,
        /// Its calls when it crossed the threshold.
        calls: u64,
        /// Address of the new body.
        address: u64,
    },
    /// The new definition could not be bound; the old version keeps running.
    Refused {
        /// The function.
        symbol: String,
        /// Its calls when it crossed the threshold.
        calls: u64,
        /// Why.
        reason: String,
    },
    /// The callback had no new definition.
    Declined {
        /// The function.
        symbol: String,
        /// Its calls when it crossed the threshold.
        calls: u64,
    },
}

impl std::fmt::Display for ReoptEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReoptEvent::Reoptimized { symbol, calls, .. } => {
                write!(f, "reoptimized {symbol} after {calls} calls")
            }
            ReoptEvent::Refused {
                symbol,
                calls,
                reason,
            } => write!(
                f,
                "refused to reoptimize {symbol} after {calls} calls: {reason}"
            ),
            ReoptEvent::Declined { symbol, calls } => {
                write!(f, "no new definition of {symbol} after {calls} calls")
            }
        }
    }
}

/// Links `def` with `linker` as a new version of the tier-0 set defining `symbol`, bound to the
/// live image (its file-static data to `locals`, the statics of the tier-0 object that defined
/// the function): the new body takes the function's name and stub, and the link points the stub
/// at it. The event says what happened. In process and in an executor alike.
pub(crate) fn link_version<L: UnitLinker>(
    linker: &mut L,
    def: NewDefinition,
    locals: Locals,
    symbol: &str,
    calls: u64,
) -> ReoptEvent {
    let spec = BindSpec {
        root: symbol.to_string(),
        locals,
        mode: BindMode::NewVersion,
        publish_root: true,
    };
    let bound = linker.link_bound(def.name, Bytes::Owned(def.bytes), spec);
    match bound.and_then(|b| {
        b.root
            .ok_or(Error::Internal("a bound link produced no new body"))
    }) {
        Ok(address) => ReoptEvent::Reoptimized {
            symbol: symbol.to_string(),
            calls,
            address,
        },
        Err(e) => ReoptEvent::Refused {
            symbol: symbol.to_string(),
            calls,
            reason: match e {
                Error::Unbindable { reason, .. } => reason,
                e => e.to_string(),
            },
        },
    }
}

struct Tier0 {
    stub: RawStub,
    counter: Trampoline,
    /// Set by the first call that reaches the threshold (only plain counters can have more).
    entered: Arc<AtomicBool>,
}

struct Shared {
    session: Mutex<Session>,
    opts: ReoptOptions,
    callback: ReoptimizeFn,
    functions: Mutex<FxHashMap<Arc<str>, Tier0>>,
    events: Mutex<Vec<ReoptEvent>>,
    /// Background jobs running.
    jobs: Mutex<usize>,
    idle: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment or push; poison is harmless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Asks for, binds and installs a new definition of `symbol`.
    fn reoptimize(&self, symbol: &str, calls: u64) {
        let event = match (self.callback)(symbol, calls) {
            None => ReoptEvent::Declined {
                symbol: symbol.to_string(),
                calls,
            },
            Some(def) => {
                let mut s = lock(&self.session);
                let locals = s
                    .defining_file(symbol)
                    .map(|f| s.locals_of(&f))
                    .unwrap_or_default();
                let event = link_version(&mut *s, def, locals, symbol, calls);
                if let ReoptEvent::Reoptimized { address, .. } = &event {
                    if let Some(f) = lock(&self.functions).get(symbol) {
                        f.stub.redirect(*address);
                    }
                }
                event
            }
        };
        if self.opts.log {
            crate::diag!("jitlink: {event}");
        }
        lock(&self.events).push(event);
    }

    /// The handler of `symbol`'s counting trampoline: runs once, at the threshold.
    fn crossed(self: Arc<Self>, symbol: Arc<str>) -> std::result::Result<u64, String> {
        let (old, stub, entered, counter) = {
            let f = lock(&self.functions);
            let t = f
                .get(&symbol)
                .ok_or_else(|| format!("{symbol} is not a tier-0 function"))?;
            (
                t.counter.target(),
                t.stub,
                t.entered.clone(),
                t.counter.clone(),
            )
        };
        if entered.swap(true, Ordering::AcqRel) {
            return Ok(old);
        }
        // Exactly the threshold on one thread; more when other threads counted meanwhile (plain
        // counters may have lost some).
        let calls = counter.calls(self.opts.threshold).max(self.opts.threshold);
        if !self.opts.background {
            self.reoptimize(&symbol, calls);
            return Ok(stub.target());
        }
        *lock(&self.jobs) += 1;
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("reopt {symbol}"))
            .spawn(move || {
                shared.reoptimize(&symbol, calls);
                *lock(&shared.jobs) -= 1;
                shared.idle.notify_all();
            });
        if spawned.is_err() {
            *lock(&self.jobs) -= 1;
        }
        // The caller continues in the old version.
        Ok(old)
    }
}

/// A session whose functions tier up while they run (see the module docs).
pub struct Reoptimizer {
    shared: Arc<Shared>,
}

impl Reoptimizer {
    /// A re-optimizer over a session made with `opts`; `reoptimize` supplies new definitions.
    pub fn new(opts: Options, reopt: ReoptOptions, reoptimize: ReoptimizeFn) -> Self {
        let mut session = Session::new(opts);
        session.set_redirectable(Redirectable::AllFunctions);
        session.record_locals();
        Reoptimizer {
            shared: Arc::new(Shared {
                session: Mutex::new(session),
                opts: reopt,
                callback: reoptimize,
                functions: Mutex::new(FxHashMap::default()),
                events: Mutex::new(Vec::new()),
                jobs: Mutex::new(0),
                idle: Condvar::new(),
            }),
        }
    }

    /// Adds a tier-0 object file or archive from disk.
    pub fn add_file(&self, path: impl AsRef<Path>) -> Result<()> {
        lock(&self.shared.session).add_file(path)
    }

    /// Adds a tier-0 object file or archive held in memory.
    pub fn add_bytes(&self, name: String, bytes: Bytes) -> Result<()> {
        lock(&self.shared.session).add_bytes(name, bytes)
    }

    /// Resolves `-l name` as [`Session::add_library`] does.
    pub fn add_library(&self, name: &str) -> Result<()> {
        lock(&self.shared.session).add_library(name)
    }

    /// Links the pending tier-0 inputs and gives each of their global functions a counter.
    pub fn link(&self) -> Result<()> {
        let shared = &self.shared;
        let mut s = lock(&shared.session);
        let Some(set) = s.link_pending()? else {
            return Ok(());
        };
        let stubs = s.redirection_manager().owned_raw(OwnerKey::Set(set.0));
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let items: Vec<(u64, u64, Handler)> = stubs
            .iter()
            .map(|(name, h)| -> (u64, u64, Handler) {
                let (weak, name) = (weak.clone(), name.clone());
                let handler: Handler = Arc::new(move || {
                    let shared = weak
                        .upgrade()
                        .ok_or_else(|| format!("{name} called after its session was dropped"))?;
                    shared.crossed(name.clone())
                });
                (shared.opts.threshold, h.target(), handler)
            })
            .collect();
        // SAFETY: each target is the tier-0 function its stub pointed at, linked in this
        // session (never removed by the re-optimizer), and each handler returns the address of
        // the function's better version or of the tier-0 one: both take the callers' arguments.
        let counters = unsafe { s.trampolines().counting_with(items, shared.opts.counters)? };
        let mut functions = lock(&shared.functions);
        for ((name, stub), counter) in stubs.into_iter().zip(counters) {
            stub.redirect(counter.addr());
            functions.insert(
                name,
                Tier0 {
                    stub,
                    counter,
                    entered: Arc::new(AtomicBool::new(false)),
                },
            );
        }
        Ok(())
    }

    /// Links what is pending, then returns the address of `name` (a tier-0 function's stub).
    pub fn lookup(&self, name: &str) -> Result<u64> {
        self.link()?;
        lock(&self.shared.session).lookup(name)
    }

    /// Calls of tier-0 function `name` counted so far (counting stops once it is redirected).
    pub fn calls(&self, name: &str) -> Option<u64> {
        let f = lock(&self.shared.functions);
        f.get(name)
            .map(|t| t.counter.calls(self.shared.opts.threshold))
    }

    /// How `name`'s calls are counted (per-thread counters fall back to atomic ones where they
    /// are not available).
    pub fn counters(&self, name: &str) -> Option<Counters> {
        let f = lock(&self.shared.functions);
        f.get(name).and_then(|t| t.counter.counters())
    }

    /// Calls of `name` that entered the runtime (per-thread counters only: a thread's first call,
    /// one per budget it used up, and the call that crossed the threshold).
    pub fn runtime_entries(&self, name: &str) -> Option<u64> {
        let f = lock(&self.shared.functions);
        f.get(name).and_then(|t| t.counter.runtime_entries())
    }

    /// True if `name`'s stub points at a re-optimized definition.
    pub fn is_reoptimized(&self, name: &str) -> bool {
        let f = lock(&self.shared.functions);
        f.get(name).is_some_and(|t| {
            let now = t.stub.target();
            now != t.counter.addr() && now != t.counter.target()
        })
    }

    /// The events so far.
    pub fn events(&self) -> Vec<ReoptEvent> {
        lock(&self.shared.events).clone()
    }

    /// Waits until no background re-optimization is running.
    pub fn wait_idle(&self) {
        let mut jobs = lock(&self.shared.jobs);
        while *jobs > 0 {
            jobs = self
                .shared
                .idle
                .wait(jobs)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// New definitions from object files and archives on disk: each global function they define,
/// by name (the first file that defines it wins). This is what `jitlink --reopt FILE` uses.
pub struct DefinitionFiles {
    files: Vec<(String, Bytes, Option<ArchiveIndex>)>,
    by_name: FxHashMap<String, (usize, Option<usize>)>,
}

impl DefinitionFiles {
    /// Indexes the global functions of `paths`.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut d = DefinitionFiles {
            files: Vec::new(),
            by_name: FxHashMap::default(),
        };
        for p in paths {
            let name = p.to_string_lossy().into_owned();
            let bytes = Bytes::map_file(p)?;
            let fi = d.files.len();
            match detect(&name, &bytes)? {
                InputKind::Elf => {
                    for f in summarize::<HostArch>(&name, &bytes)?.functions {
                        d.by_name.entry(f).or_insert((fi, None));
                    }
                    d.files.push((name, bytes, None));
                }
                InputKind::Archive => {
                    let index = ArchiveIndex::parse(&name, &bytes)?;
                    for (m, member) in index.members.iter().enumerate() {
                        let data = index.member_bytes(&bytes, m);
                        for f in summarize::<HostArch>(&member.name, data)?.functions {
                            d.by_name.entry(f).or_insert((fi, Some(m)));
                        }
                    }
                    d.files.push((name, bytes, Some(index)));
                }
                InputKind::MachO | InputKind::Coff => {
                    return Err(Error::Unsupported {
                        file: name,
                        what: "better versions are read from ELF objects only".into(),
                    })
                }
            }
        }
        Ok(d)
    }

    /// The object that defines function `name`.
    pub fn definition(&self, name: &str) -> Option<NewDefinition> {
        let &(fi, member) = self.by_name.get(name)?;
        let (file, bytes, index) = self.files.get(fi)?;
        match (member, index) {
            (Some(m), Some(index)) => Some(NewDefinition {
                name: index.members.get(m)?.name.clone(),
                bytes: index.member_bytes(bytes, m).to_vec(),
            }),
            _ => Some(NewDefinition {
                name: file.clone(),
                bytes: bytes.to_vec(),
            }),
        }
    }
}
