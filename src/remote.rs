//! Linking for an executor process ([`crate::executor`]), which may be of another architecture.
//!
//! Each link runs the one pipeline ([`crate::link::link`]) with the executor target
//! ([`crate::target::executor`]): memory is reserved in the executor near its C library, the
//! fixed-up bytes are written here and shipped, and symbols the inputs do not define are
//! looked up in the executor's process in one request. Then the executor registers the unwind
//! information and runs the initializers.

use std::path::Path;
use std::process::ExitStatus;

use jitlink_arch::TlsValues;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::image::ImageBuffer;
use crate::inputs::Inputs;
use crate::link::{self, Context, LinkInputs, Plan};
use crate::memory::Image;
use crate::options::Timings;
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
        }
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
        self.link(None)
    }

    /// Links what is pending, and the archive member defining `wanted` if given, with the
    /// pipeline's executor target; then registers the set's unwind information and
    /// finalizers in the executor and runs its initializers there.
    fn link(&mut self, wanted: Option<&[u8]>) -> Result<()> {
        let pending = std::mem::take(&mut self.inputs.pending);
        if pending.is_empty() && wanted.is_none() {
            return Ok(());
        }
        let set = self.sets;
        let linked = link::link(
            LinkInputs::new(&pending, &mut self.inputs),
            Context {
                symbols: &mut self.symbols,
                absolutes: &self.absolutes,
                timings: &mut self.timings,
                show_graph: false,
            },
            &mut ExecutorTarget::new(&mut self.ex)?,
            Plan::plain(set, wanted),
        )?;
        let Some(l) = linked.map(|l| l.set) else {
            return Ok(());
        };
        self.symbols.set_files(set, l.files);
        self.sets += 1;
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
        self.ex.run_inits(&l.init_fini.init)
    }

    /// Makes `names` (functions of linked sets) redirectable: each gets a stub in the executor
    /// jumping through a pointer slot there, initially to its definition, and is looked up as
    /// its stub from then on (for sets linked later). Returns the stub addresses.
    pub fn create_redirectable(&mut self, names: &[&str]) -> Result<Vec<u64>> {
        dispatch(self.ex.info().arch, CreateStubs(self, names))
    }

    fn create_stubs<A: LinkArch>(&mut self, names: &[&str]) -> Result<Vec<u64>> {
        let targets = names
            .iter()
            .map(|n| {
                self.lookup(n)
                    .ok_or_else(|| Error::SymbolNotFound(n.to_string()))
            })
            .collect::<Result<Vec<u64>>>()?;
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
            stubs.push(at);
        }
        let slot_bytes: Vec<u8> = targets.iter().flat_map(|t| t.to_le_bytes()).collect();
        self.ex.write(slots, &slot_bytes)?;
        self.ex.write(base, &code.bytes)?;
        self.ex
            .protect(base, code_len, crate::graph::Perm::ReadExec)?;
        for (i, (name, &stub)) in names.iter().zip(&stubs).enumerate() {
            let stub_def = Defined {
                addr: stub,
                size: 0,
                callable: true,
                weak: false,
                set: NO_SET,
                file: 0,
                stub: true,
            };
            self.symbols.insert(name.as_bytes(), stub_def);
            self.slots
                .insert(name.as_bytes().into(), slots + 8 * i as u64);
        }
        Ok(stubs)
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
        self.ex.set_args(args)?;
        self.link_pending()?;
        if self.lookup(entry).is_none() {
            self.link(Some(entry.as_bytes()))?;
        }
        let addr = self
            .lookup(entry)
            .ok_or_else(|| Error::SymbolNotFound(entry.to_string()))?;
        self.ex.start_main(addr)?;
        self.ex.wait()
    }
}

struct CreateStubs<'s, 'n>(&'s mut RemoteSession, &'n [&'n str]);

impl ForArch for CreateStubs<'_, '_> {
    type Output = Result<Vec<u64>>;
    fn run<A: LinkArch>(self) -> Result<Vec<u64>> {
        self.0.create_stubs::<A>(self.1)
    }
}
