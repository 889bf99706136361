//! Linking for an executor process ([`crate::executor`]), which may be of another architecture.
//!
//! Each link runs the one pipeline ([`crate::link::link`]) with the executor target
//! ([`crate::target::executor`]): memory is reserved in the executor near its C library, the
//! fixed-up bytes are written here and shipped, and symbols the inputs do not define are
//! looked up in the executor's process in one request. Then the executor registers the unwind
//! information and runs the initializers.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;

use jitlink_arch::TlsValues;
use rustc_hash::FxHashMap;

use crate::builder::Bytes;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::image::ImageBuffer;
use crate::inputs::Inputs;
use crate::link::{self, Bound, Context, LinkInputs, Plan};
use crate::memory::Image;
use crate::options::{Redirectable, Timings};
use crate::passes::bind::BindSpec;
use crate::passes::locals::Locals;
use crate::passes::redirectable::Redirect;
use crate::stubs::{EmitStubs, OwnerKey, RawStub};
use crate::symbols::{Defined, SymbolTable, NO_SET};
use crate::target::executor::ExecutorTarget;
use crate::target::{dispatch, ForArch, LinkArch};

/// A linking session whose code runs in an executor process.
pub struct RemoteSession {
    ex: Executor,
    absolutes: Vec<(String, u64)>,
    inputs: Inputs,
    symbols: SymbolTable,
    /// Slots of redirectable symbols, by name.
    slots: FxHashMap<Box<[u8]>, u64>,
    sets: u32,
    timings: Timings,
    /// Export the sets' global symbols to objects the executor loads later.
    export_dynamic: bool,
    /// Functions whose stubs exist before their definitions are linked (lazy units, tier-0
    /// functions), by name: the link that defines one binds references to its stub and points
    /// the stub at the body.
    declared: FxHashMap<Box<[u8]>, RawStub>,
    /// Which functions the declared stubs stand for everywhere (references from their own
    /// object included): `Redirectable::None` for lazy units, the tier-0 functions for the
    /// re-optimizer.
    redirectable: Redirectable,
    /// Writable statics of every input linked, if recorded (for binding new versions).
    locals: Option<FxHashMap<Arc<str>, Locals>>,
    /// Place every set in the low 2 GiB.
    all_low: bool,
}

/// The stub maker of executor links: every redirectable function's stub is declared (made in
/// the executor) before the link, so the pass never asks for new ones.
struct DeclaredOnly;

impl EmitStubs for DeclaredOnly {
    fn emit(&self, _owner: OwnerKey, names: &[&str]) -> Result<Vec<RawStub>> {
        match names.first() {
            None => Ok(Vec::new()),
            Some(n) => Err(Error::Protocol {
                what: format!("{n} has no stub in the executor"),
            }),
        }
    }
}

impl RemoteSession {
    /// A session linking for `ex`, with absolute symbols `absolutes`.
    pub fn new(ex: Executor, absolutes: Vec<(String, u64)>) -> Self {
        RemoteSession {
            ex,
            absolutes,
            inputs: Inputs::default(),
            symbols: SymbolTable::default(),
            slots: FxHashMap::default(),
            sets: 0,
            timings: Timings::default(),
            export_dynamic: false,
            declared: FxHashMap::default(),
            redirectable: Redirectable::None,
            locals: None,
            all_low: false,
        }
    }

    /// Adds an object file or archive held in memory.
    pub(crate) fn add_bytes(&mut self, name: String, bytes: Bytes) -> Result<()> {
        self.inputs.add(name, bytes)
    }

    /// Stubs of declared functions go through everywhere, references from their own object
    /// included (the re-optimizer's tier-0 functions).
    pub(crate) fn redirect_everywhere(&mut self, names: Vec<String>) {
        self.redirectable = Redirectable::FunctionsEverywhere(names);
    }

    /// From now on, records the writable statics of every linked input.
    pub(crate) fn record_locals(&mut self) {
        self.locals.get_or_insert_with(FxHashMap::default);
    }

    /// Places every set linked from now on in the low 2 GiB.
    pub(crate) fn place_low(&mut self) {
        self.all_low = true;
    }

    /// The recorded writable statics of input `file`.
    pub(crate) fn locals_of(&self, file: &str) -> Locals {
        self.locals
            .as_ref()
            .and_then(|l| l.get(file))
            .cloned()
            .unwrap_or_default()
    }

    /// The input that defines global `name`, if linked.
    pub(crate) fn defining_file(&self, name: &str) -> Option<Arc<str>> {
        self.symbols.file_defining(name.as_bytes())
    }

    /// Makes the global symbols of every set linked from now on visible to the shared objects
    /// the executor's program `dlopen`s ([`crate::Options::export_dynamic`]).
    pub fn set_export_dynamic(&mut self, on: bool) {
        self.export_dynamic = on;
    }

    /// The executor.
    pub fn executor(&mut self) -> &mut Executor {
        &mut self.ex
    }

    /// Adds an object file or archive from disk.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.inputs.add_file(path.as_ref())
    }

    /// The address of a symbol defined by a linked set.
    pub fn lookup(&self, name: &str) -> Option<u64> {
        self.symbols.get(name.as_bytes()).map(|d| d.addr)
    }

    /// Links every pending object (with the archive members they need) as one set in the
    /// executor and runs its initializers.
    pub fn link_pending(&mut self) -> Result<()> {
        self.link(None, None, None).map(drop)
    }

    /// Links object `bytes` alone, bound to the live image by `spec` (see
    /// [`crate::passes::bind`]), as `crate::Session::link_bound` does in process; what was
    /// pending is linked first, as its own set.
    pub(crate) fn link_bound(
        &mut self,
        name: String,
        bytes: Bytes,
        spec: BindSpec,
    ) -> Result<Bound> {
        self.link_pending()?;
        let replaces = self.symbols.replaced_by(&spec);
        self.inputs.pending.push((name, bytes));
        let linked = self.link(None, Some(spec), replaces);
        self.inputs.pending.clear();
        linked?.ok_or(Error::Internal("a bound link linked nothing"))
    }

    /// Links what is pending, and the archive member defining `wanted` if given, with the
    /// pipeline's executor target (bound by `bind`, as a new version of set `replaces`); then
    /// registers the set's unwind information and finalizers in the executor and runs its
    /// initializers there. Returns what a bound link bound.
    fn link(
        &mut self,
        wanted: Option<&[u8]>,
        bind: Option<BindSpec>,
        replaces: Option<u32>,
    ) -> Result<Option<Bound>> {
        let pending = std::mem::take(&mut self.inputs.pending);
        if pending.is_empty() && wanted.is_none() {
            return Ok(None);
        }
        let set = self.sets;
        let plan = Plan {
            set,
            wanted,
            bind,
            redirect: Some(Redirect {
                which: &self.redirectable,
                declared: &self.declared,
                stubs: &DeclaredOnly,
                owner: OwnerKey::Set(set),
            }),
            low: self.all_low,
            record_locals: self.locals.is_some(),
            replaces,
        };
        let linked = link::link(
            LinkInputs::new(&pending, &mut self.inputs),
            Context {
                symbols: &mut self.symbols,
                absolutes: &self.absolutes,
                timings: &mut self.timings,
                show_graph: false,
            },
            &mut ExecutorTarget::new(&mut self.ex)?,
            plan,
        )?;
        let Some(l) = linked.map(|l| l.set) else {
            return Ok(None);
        };
        self.symbols.set_files(set, l.files);
        self.sets += 1;
        if let Some(all) = &mut self.locals {
            all.extend(l.locals);
        }
        let exports = self.symbols.exports(&l.published);
        if self.export_dynamic && !exports.is_empty() {
            let target = crate::runtime::tls::TlsTarget::for_arch(self.ex.info().arch);
            let module = crate::runtime::tls::export_module(target, &exports);
            self.ex.load_global(&module)?;
        }
        if let Some(eh) = l.eh_frame {
            self.ex.register_eh_frame(eh)?;
        }
        self.ex.register_finis(l.dso, &l.init_fini.fini)?;
        self.ex.run_inits(&l.init_fini.init)?;
        Ok(l.bound)
    }

    /// Makes `names` (functions of linked sets) redirectable: each gets a stub in the executor
    /// jumping through a pointer slot there, initially to its definition, and is looked up as
    /// its stub from then on (for sets linked later). Returns the stub addresses.
    pub fn create_redirectable(&mut self, names: &[&str]) -> Result<Vec<u64>> {
        let targets = names
            .iter()
            .map(|n| {
                self.lookup(n)
                    .ok_or_else(|| Error::SymbolNotFound(n.to_string()))
            })
            .collect::<Result<Vec<u64>>>()?;
        let stubs = dispatch(self.ex.info().arch, CreateStubs(self, names, &targets))?;
        for (name, s) in names.iter().zip(&stubs) {
            self.symbols
                .insert(name.as_bytes(), stub_definition(s.stub, false));
            self.slots.insert(name.as_bytes().into(), s.slot);
        }
        Ok(stubs.iter().map(|s| s.stub).collect())
    }

    /// Declares functions `names`, defined by objects linked later, at new stubs in the
    /// executor that first jump to `initial` (one each: re-entry or counting trampolines, or 0
    /// for a stub that the defining link points at the body before anything runs). References
    /// resolve to the stubs from now on; the link that defines a function points its stub at
    /// the body ([`RemoteSession::redirect`] moves it later).
    pub(crate) fn declare(&mut self, names: &[&str], initial: &[u64]) -> Result<Vec<u64>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let stubs = dispatch(self.ex.info().arch, CreateStubs(self, names, initial))?;
        for (name, s) in names.iter().zip(&stubs) {
            self.symbols
                .insert(name.as_bytes(), stub_definition(s.stub, true));
            self.slots.insert(name.as_bytes().into(), s.slot);
            self.declared.insert(name.as_bytes().into(), *s);
        }
        Ok(stubs.iter().map(|s| s.stub).collect())
    }

    /// Stubs in the executor for `names`, their slots holding `targets`.
    fn create_stubs<A: LinkArch>(
        &mut self,
        names: &[&str],
        targets: &[u64],
    ) -> Result<Vec<RawStub>> {
        if names.len() != targets.len() {
            return Err(Error::Internal("stubs and their targets differ in number"));
        }
        let page = self.ex.info().page_size;
        let tpl = A::JUMP_STUB;
        let stride = (tpl.bytes.len() as u64).next_multiple_of(tpl.align.max(8));
        let code_len = (stride * names.len() as u64)
            .next_multiple_of(page)
            .max(page);
        let slots_len = (8 * names.len() as u64).next_multiple_of(page).max(page);
        let base = self.ex.reserve(code_len + slots_len, 0, false)?;
        let slots = base + code_len;
        let mut code = ImageBuffer {
            base,
            bytes: vec![0; code_len as usize],
        };
        let mut stubs = Vec::with_capacity(names.len());
        for i in 0..names.len() as u64 {
            let at = base + i * stride;
            let out = code
                .bytes_mut(at, tpl.bytes.len())
                .ok_or(Error::Internal("stub outside its page"))?;
            out.copy_from_slice(tpl.bytes);
            let v = jitlink_arch::FixupValues {
                p: at + tpl.slot_offset as u64,
                s: slots + 8 * i,
                a: tpl.slot_addend,
                got: 0,
                image_base: 0,
                section: None,
                tls: TlsValues::default(),
            };
            A::apply_fixup(tpl.slot_kind, out, tpl.slot_offset, v).map_err(|reason| {
                Error::Protocol {
                    what: format!(
                        "stub for {} cannot reach its slot: {reason}",
                        names[i as usize]
                    ),
                }
            })?;
            stubs.push(RawStub {
                stub: at,
                slot: slots + 8 * i,
            });
        }
        let slot_bytes: Vec<u8> = targets.iter().flat_map(|t| t.to_le_bytes()).collect();
        self.ex.write(slots, &slot_bytes)?;
        self.ex.write(base, &code.bytes)?;
        self.ex
            .protect(base, code_len, crate::graph::Perm::ReadExec)?;
        Ok(stubs)
    }

    /// Where the stubs of `names` point now (0 for a name without a stub). Slots made by one
    /// call are adjacent: they are read in one request when they lie close together.
    pub(crate) fn stub_targets(&mut self, names: &[&str]) -> Result<Vec<u64>> {
        let slots: Vec<Option<u64>> = names
            .iter()
            .map(|n| self.slots.get(n.as_bytes()).copied())
            .collect();
        let lo = slots.iter().flatten().min().copied().unwrap_or(0);
        let hi = slots.iter().flatten().max().copied().unwrap_or(0);
        let span = hi.saturating_sub(lo).saturating_add(8);
        let bytes = if span <= 16 * (names.len() as u64 + 64) {
            // Slots of several calls may have unmapped memory between them: one by one then.
            self.ex.read(lo, span).unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(names.len());
        for (n, slot) in names.iter().zip(slots) {
            let Some(slot) = slot else {
                out.push(0);
                continue;
            };
            let at = (slot - lo) as usize;
            let word = match bytes.get(at..at + 8) {
                Some(w) => w.to_vec(),
                None => self.ex.read(slot, 8)?,
            };
            out.push(u64::from_le_bytes(word.try_into().map_err(|_| {
                Error::Protocol {
                    what: format!("reading the stub slot of {n}: short reply"),
                }
            })?));
        }
        Ok(out)
    }

    /// Points the stub of redirectable `name` at `target`: one release-ordered store into its
    /// slot in the executor, visible to threads running there.
    pub fn redirect(&mut self, name: &str, target: u64) -> Result<()> {
        let slot = *self
            .slots
            .get(name.as_bytes())
            .ok_or_else(|| Error::SymbolNotFound(format!("{name} (not redirectable)")))?;
        self.ex.write_u64(slot, target)
    }

    /// Links what is pending, then runs `exit(entry(argc, argv, envp))` in the executor with
    /// `args` (`argv[0]` first) and waits for the process to end.
    pub fn run(mut self, entry: &str, args: &[String]) -> Result<ExitStatus> {
        self.start(entry, args)?;
        self.ex.wait()
    }

    /// Links what is pending, then starts `exit(entry(argc, argv, envp))` in the executor with
    /// `args`; the caller serves the program's events ([`Executor::next_event`]) and waits.
    pub(crate) fn start(&mut self, entry: &str, args: &[String]) -> Result<()> {
        self.ex.set_args(args)?;
        self.link_pending()?;
        if self.lookup(entry).is_none() {
            self.link(Some(entry.as_bytes()), None, None)?;
        }
        let addr = self
            .lookup(entry)
            .ok_or_else(|| Error::SymbolNotFound(entry.to_string()))?;
        self.ex.start_main(addr)
    }

    /// Waits for the executor to end (see [`Executor::wait`]).
    pub(crate) fn wait(self) -> Result<ExitStatus> {
        self.ex.wait()
    }
}

/// A stub's definition in the session's symbols: a declared one yields to the definition the
/// linked function publishes (weak), another one stays.
fn stub_definition(addr: u64, declared: bool) -> Defined {
    Defined {
        addr,
        size: 0,
        callable: true,
        weak: declared,
        set: NO_SET,
        file: 0,
        stub: true,
    }
}

struct CreateStubs<'s, 'n>(&'s mut RemoteSession, &'n [&'n str], &'n [u64]);

impl ForArch for CreateStubs<'_, '_> {
    type Output = Result<Vec<RawStub>>;
    fn run<A: LinkArch>(self) -> Result<Vec<RawStub>> {
        self.0.create_stubs::<A>(self.1, self.2)
    }
}
