//! Lazy linking and re-optimization with the program in an executor process.
//!
//! The same units, links and new versions as in process (`crate::lazy`, `crate::reopt`), with
//! the trampolines, stubs and call counters in the executor's memory: [`RemoteLazy`] declares
//! every function of a lazy unit at a stub there that first points at a re-entry trampoline
//! there; [`RemoteReoptimizer`] links the tier-0 inputs with every global function behind a
//! stub there, and puts a counting trampoline (an atomic counter in the executor) between each
//! stub and its body. While the program runs, a call into a re-entry trampoline, or the call
//! that brings a counter to the threshold, waits in the executor, which sends jitlink an event
//! ([`crate::executor::Event`]). jitlink, serving events on the thread that started the
//! program, links the unit or the better version through the ordinary pipeline into the
//! executor (the link points the function's stub at the new body with one release-ordered
//! store there), then answers the event and the waiting calls continue in the body.
//!
//! A better version is linked while the call that crossed the threshold waits, so that the
//! program cannot end before the version it asked for is installed (in process the default is to
//! continue in the old version meanwhile).

use std::path::Path;
use std::process::ExitStatus;

use rustc_hash::FxHashMap;

use crate::builder::elf::summarize;
use crate::builder::{detect, Bytes, InputKind};
use crate::error::{Error, Result};
use crate::executor::{Event, EventKind, Executor, TrampolineKind};
use crate::lazy::{plan_units, LazyOptions, RemoteUnits, UnitPlan};
use crate::remote::RemoteSession;
use crate::reopt::{link_version, ReoptEvent, ReoptOptions, ReoptimizeFn};
use crate::target::{dispatch, ForArch, LinkArch};

/// Object inputs held until the run sorts them, and archives given to the session.
fn add_input(s: &mut RemoteSession, held: &mut Vec<(String, Bytes)>, path: &Path) -> Result<()> {
    let name = path.to_string_lossy().into_owned();
    let bytes = Bytes::map_file(path)?;
    match detect(&name, &bytes)? {
        InputKind::Archive => s.add_bytes(name, bytes),
        InputKind::Elf => {
            held.push((name, bytes));
            Ok(())
        }
        InputKind::MachO | InputKind::Coff => Err(Error::Unsupported {
            file: name,
            what: "lazy linking and re-optimization read ELF objects only".into(),
        }),
    }
}

/// Serves the program's events with `answer` until it ends, then waits for the executor.
fn serve(
    mut s: RemoteSession,
    mut answer: impl FnMut(&mut RemoteSession, Event) -> Result<std::result::Result<u64, String>>,
) -> Result<ExitStatus> {
    while let Some(event) = s.executor().next_event()? {
        let answered = answer(&mut s, event).and_then(|to| {
            s.executor().resume(
                event.record,
                to.as_ref().map(|a| *a).map_err(|m| m.as_str()),
            )
        });
        match answered {
            Ok(()) => {}
            // The program ended (another thread called exit) while jitlink linked for it.
            Err(Error::Executor { source, .. }) if ended(&source) => break,
            Err(e) => return Err(e),
        }
    }
    s.wait()
}

/// True if a channel error means the executor closed its end.
fn ended(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe)
}

/// A session that links objects into an executor lazily, on the first call of one of their
/// functions there (see the module docs and `crate::lazy` for what is lazy).
pub struct RemoteLazy {
    session: RemoteSession,
    opts: LazyOptions,
    inputs: Vec<(String, Bytes)>,
}

impl RemoteLazy {
    /// A lazy session linking into `ex`, with absolute symbols `absolutes`.
    pub fn new(ex: Executor, absolutes: Vec<(String, u64)>, opts: LazyOptions) -> Self {
        RemoteLazy {
            session: RemoteSession::new(ex, absolutes),
            opts,
            inputs: Vec::new(),
        }
    }

    /// Makes the global symbols of every set visible to the shared objects the program
    /// `dlopen`s (as [`RemoteSession::set_export_dynamic`]).
    pub fn set_export_dynamic(&mut self, on: bool) {
        self.session.set_export_dynamic(on);
    }

    /// Adds an object file or archive from disk (archives keep their on-demand members).
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        add_input(&mut self.session, &mut self.inputs, path.as_ref())
    }

    /// Links the eager inputs, declares the lazy functions, runs `exit(entry(argc, argv,
    /// envp))` in the executor with `args` (`argv[0]` first), links units as the program calls
    /// them, and returns how the program ended.
    pub fn run(self, entry: &str, args: &[String]) -> Result<ExitStatus> {
        let RemoteLazy {
            mut session,
            opts,
            inputs,
        } = self;
        let arch = session.executor().info().arch;
        let plan = dispatch(arch, Plan(inputs, opts.per_function))?;
        if plan.needs_low {
            // -fno-pic objects reference each other's data with 32-bit displacements.
            session.place_low();
        }
        let names: Vec<String> = plan.function_names().map(str::to_string).collect();
        let ex = session.executor();
        let trampolines = ex.trampolines(TrampolineKind::Reentry, &vec![0; names.len()])?;
        let records: FxHashMap<u64, usize> = trampolines
            .iter()
            .enumerate()
            .map(|(i, t)| (t.record, i))
            .collect();
        let initial: Vec<u64> = trampolines.iter().map(|t| t.addr).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        session.declare(&refs, &initial)?;
        let mut plan = plan;
        for (name, bytes) in std::mem::take(&mut plan.eager) {
            session.add_bytes(name, bytes)?;
        }
        let mut units = RemoteUnits::new(plan, opts.log);
        session.start(entry, args)?;
        serve(session, |s, event| {
            let f = match (event.kind, records.get(&event.record)) {
                (EventKind::FirstCall, Some(&f)) => f,
                _ => {
                    return Err(Error::Protocol {
                        what: format!(
                            "the executor reported a call into {:#x}, not a lazy function's \
                             trampoline",
                            event.record
                        ),
                    })
                }
            };
            Ok(match units.materialize(f, s) {
                Ok(name) => s
                    .lookup(name)
                    .ok_or_else(|| format!("lazy function {name} has no stub")),
                Err(e) => Err(e),
            })
        })
    }
}

/// Sorts the held objects into eager ones and lazy units, for the executor's architecture.
struct Plan(Vec<(String, Bytes)>, bool);

impl ForArch for Plan {
    type Output = Result<UnitPlan>;
    fn run<A: LinkArch>(self) -> Result<UnitPlan> {
        plan_units::<A>(self.0, self.1, 0, 0)
    }
}

/// The global functions of objects, for the executor's architecture.
struct Functions<'i>(&'i [(String, Bytes)]);

impl ForArch for Functions<'_> {
    type Output = Result<Vec<String>>;
    fn run<A: LinkArch>(self) -> Result<Vec<String>> {
        let mut all = Vec::new();
        for (name, bytes) in self.0 {
            all.extend(summarize::<A>(name, bytes)?.functions);
        }
        Ok(all)
    }
}

/// A session whose functions tier up while they run in an executor (see the module docs and
/// `crate::reopt`).
pub struct RemoteReoptimizer {
    session: RemoteSession,
    opts: ReoptOptions,
    callback: ReoptimizeFn,
    inputs: Vec<(String, Bytes)>,
}

impl RemoteReoptimizer {
    /// A re-optimizer linking into `ex`; `reoptimize` supplies new definitions. Calls are
    /// counted with one shared counter per function, incremented atomically (exact; the
    /// counter kind of [`ReoptOptions::counters`] is not used), and the call that crosses the
    /// threshold waits for the new version ([`ReoptOptions::background`] is not used either).
    pub fn new(
        ex: Executor,
        absolutes: Vec<(String, u64)>,
        opts: ReoptOptions,
        reoptimize: ReoptimizeFn,
    ) -> Self {
        RemoteReoptimizer {
            session: RemoteSession::new(ex, absolutes),
            opts,
            callback: reoptimize,
            inputs: Vec::new(),
        }
    }

    /// Makes the global symbols of every set visible to the shared objects the program
    /// `dlopen`s (as [`RemoteSession::set_export_dynamic`]).
    pub fn set_export_dynamic(&mut self, on: bool) {
        self.session.set_export_dynamic(on);
    }

    /// Adds a tier-0 object file or archive from disk (archive members are not counted).
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        add_input(&mut self.session, &mut self.inputs, path.as_ref())
    }

    /// Links the tier-0 inputs with a counter on each of their global functions, runs
    /// `exit(entry(argc, argv, envp))` in the executor with `args` (`argv[0]` first), replaces
    /// hot functions as the program runs, and returns how the program ended.
    pub fn run(self, entry: &str, args: &[String]) -> Result<ExitStatus> {
        let RemoteReoptimizer {
            mut session,
            opts,
            callback,
            inputs,
        } = self;
        if opts.threshold == 0 || opts.threshold > i64::MAX as u64 {
            return Err(Error::BadValue {
                option: "counting threshold",
                value: opts.threshold.to_string(),
                expected: "a number of calls from 1 to 2^63 - 1",
            });
        }
        let arch = session.executor().info().arch;
        let mut names = dispatch(arch, Functions(&inputs))?;
        names.sort();
        names.dedup();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        // Every tier-0 function is called through its stub, from its own object too; the
        // tier-0 link points each stub at its body.
        session.redirect_everywhere(names.clone());
        session.record_locals();
        session.declare(&refs, &vec![0; names.len()])?;
        for (name, bytes) in inputs {
            session.add_bytes(name, bytes)?;
        }
        session.link_pending()?;
        let bodies = session.stub_targets(&refs)?;
        let counted: Vec<usize> = (0..names.len()).filter(|&i| bodies[i] != 0).collect();
        let targets: Vec<u64> = counted.iter().map(|&i| bodies[i]).collect();
        let ex = session.executor();
        let kind = TrampolineKind::Counting {
            threshold: opts.threshold,
        };
        let counters = ex.trampolines(kind, &targets)?;
        // Function `names[i]`, its tier-0 body, by counter record.
        let mut by_record: FxHashMap<u64, (usize, u64)> = FxHashMap::default();
        for (&i, c) in counted.iter().zip(&counters) {
            by_record.insert(c.record, (i, bodies[i]));
            session.redirect(&names[i], c.addr)?;
        }
        session.start(entry, args)?;
        serve(session, |s, event| {
            let Some(&(i, old)) = by_record
                .get(&event.record)
                .filter(|_| event.kind == EventKind::Hot)
            else {
                return Err(Error::Protocol {
                    what: format!(
                        "the executor reported a hot counter at {:#x}, not a tier-0 function's",
                        event.record
                    ),
                });
            };
            let symbol = &names[i];
            // Counters are exact: the call that reached the threshold sent the event.
            let calls = opts.threshold;
            let event = match callback(symbol, calls) {
                None => ReoptEvent::Declined {
                    symbol: symbol.clone(),
                    calls,
                },
                Some(def) => {
                    let locals = s
                        .defining_file(symbol)
                        .map(|f| s.locals_of(&f))
                        .unwrap_or_default();
                    link_version(s, def, locals, symbol, calls)
                }
            };
            if opts.log {
                crate::diag!("jitlink: {event}");
            }
            Ok(Ok(match event {
                ReoptEvent::Reoptimized { address, .. } => address,
                _ => old,
            }))
        })
    }
}
