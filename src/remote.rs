//! Linking for an executor process ([`crate::executor`]): the stages of [`crate::link`] with
//! the target's memory and symbols in another process, which may be of another architecture.
//!
//! Each link reserves memory in the executor near its C library, lays the graph out at that
//! address, writes the fixed-up bytes into a [`TargetImage`] here and ships its segments;
//! the executor applies the protections, registers the unwind information and runs the
//! initializers. Symbols the inputs do not define are looked up in the executor's process in
//! one request. A set's thread-local storage becomes a module of the executor's dynamic loader,
//! as in process ([`crate::runtime::tls`]).

use std::path::Path;
use std::process::ExitStatus;

use jitlink_arch::aarch64::AArch64;
use jitlink_arch::x86_64::X86_64;
use jitlink_arch::TlsValues;
use rustc_hash::FxHashMap;

use crate::builder::archive::ArchiveIndex;
use crate::builder::{self, detect, BuildState, Bytes, InputKind, ObjectArch};
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::graph::{Def, LinkGraph, Scope, SectionRole, SymbolId};
use crate::link::{
    add_input, add_linker_content, check_eh_frames, estimate_size, load_archive_members,
    undefined_error, ArchiveInput,
};
use crate::memory::{Image, TargetImage};
use crate::passes::got_stubs::{self, HostInfo, HostSymbol, Reachability};
use crate::runtime::init;
use crate::runtime::tls::{build_module, TlsTarget};
use crate::{fixup, layout};

/// Margin kept below a reference's range, for addends.
const REACH_MARGIN: u64 = 16 << 20;
/// How far below the target's C library the linker asks for memory.
const BELOW_LIBC: u64 = 256 << 20;

/// A linking session whose code runs in an executor process.
pub struct RemoteSession {
    ex: Executor,
    absolutes: Vec<(String, u64)>,
    pending: Vec<(String, Bytes)>,
    archives: Vec<(String, ArchiveInput)>,
    loaded: Vec<Vec<bool>>,
    symbols: FxHashMap<Box<[u8]>, u64>,
    /// Slots of redirectable symbols, by name.
    slots: FxHashMap<Box<[u8]>, u64>,
    sets: usize,
}

impl RemoteSession {
    /// A session linking for `ex`, with absolute symbols `absolutes`.
    pub fn new(ex: Executor, absolutes: Vec<(String, u64)>) -> Self {
        RemoteSession {
            ex,
            absolutes,
            pending: Vec::new(),
            archives: Vec::new(),
            loaded: Vec::new(),
            symbols: FxHashMap::default(),
            slots: FxHashMap::default(),
            sets: 0,
        }
    }

    /// The executor.
    pub fn executor(&mut self) -> &mut Executor {
        &mut self.ex
    }

    /// Adds an object file or archive from disk.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = Bytes::map_file(path)?;
        let name = path.to_string_lossy().into_owned();
        add_input(
            name,
            bytes,
            &mut self.pending,
            &mut self.archives,
            &mut self.loaded,
        )
    }

    /// The address of a symbol defined by a linked set.
    pub fn lookup(&self, name: &str) -> Option<u64> {
        self.symbols.get(name.as_bytes()).copied()
    }

    /// Links every pending object (with the archive members they need) as one set in the
    /// executor and runs its initializers.
    pub fn link_pending(&mut self) -> Result<()> {
        self.link(None)
    }

    /// Links what is pending, and the archive member defining `wanted` if given.
    fn link(&mut self, wanted: Option<&[u8]>) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() && wanted.is_none() {
            return Ok(());
        }
        // Inputs of another machine are rejected by the builder, naming the file.
        match self.ex.info().machine {
            object::elf::EM_X86_64 => self.link_as::<X86_64>(&pending, wanted),
            object::elf::EM_AARCH64 => self.link_as::<AArch64>(&pending, wanted),
            m => Err(Error::Unsupported {
                file: pending.first().map(|p| p.0.clone()).unwrap_or_default(),
                what: format!("executor of ELF machine {m}"),
            }),
        }
    }

    fn link_as<A: ObjectArch>(
        &mut self,
        pending: &[(String, Bytes)],
        wanted: Option<&[u8]>,
    ) -> Result<()> {
        let set = self.sets;
        let RemoteSession {
            ex,
            absolutes,
            archives,
            loaded,
            symbols,
            ..
        } = self;
        let mut g = LinkGraph::<A>::new(format!("remote set {set}"));
        let mut st = BuildState::default();
        for (name, bytes) in pending {
            builder::add_object(&mut g, &mut st, name, bytes)?;
        }
        load_archive_members(&mut g, &mut st, archives, loaded, wanted, |name| {
            symbols.contains_key(name)
        })?;
        if st.host_abi() != builder::HostAbi::Native {
            return Err(Error::Unsupported {
                file: pending.first().map(|p| p.0.clone()).unwrap_or_default(),
                what: "COFF (Windows x64) objects in an executor process".into(),
            });
        }
        if g.blocks.is_empty() && g.inputs.is_empty() {
            return Ok(());
        }
        let dso_block = add_linker_content(&mut g);

        // Resolve: earlier sets, absolutes, then the executor's process in one request.
        let mut ask: Vec<(usize, &[u8])> = Vec::new();
        for (i, s) in g.symbols.iter().enumerate() {
            if s.def == Def::External && !g.is_got_base(SymbolId(i as u32)) {
                ask.push((i, s.name));
            }
        }
        let mut remote_names = Vec::new();
        let mut resolved: Vec<(usize, Option<u64>)> = Vec::with_capacity(ask.len());
        for &(i, name) in &ask {
            let known = symbols.get(name).copied().or_else(|| {
                absolutes
                    .iter()
                    .find(|(n, _)| n.as_bytes() == name)
                    .map(|a| a.1)
            });
            if known.is_none() {
                remote_names.push(name);
            }
            resolved.push((i, known));
        }
        let mut remote = ex.lookup(&remote_names)?.into_iter();
        let mut undefined = Vec::new();
        for (i, known) in resolved {
            let addr = match known {
                Some(a) => Some(a),
                None => remote.next().filter(|&a| a != 0),
            };
            let s = &mut g.symbols[i];
            match addr {
                Some(a) => s.def = Def::Absolute(a),
                None if s.weak_ref => s.def = Def::Absolute(0),
                None => undefined.push(SymbolId(i as u32)),
            }
        }
        if !undefined.is_empty() {
            return Err(undefined_error(&g, &undefined));
        }

        // Memory in the executor, below its C library so that references to it reach.
        let info = ex.info();
        let page = usize::try_from(info.page_size)
            .ok()
            .filter(|p| p.is_power_of_two())
            .ok_or_else(|| Error::InvalidArgument("executor page size".into()))?;
        let size = estimate_size(&g, page).next_multiple_of(page) as u64;
        let hint = info.libc_anchor.saturating_sub(size + BELOW_LIBC) & !(info.page_size - 1);
        let base = ex.reserve(size, hint, g.needs_low)?;
        let reach = TargetReach {
            lo: base,
            hi: base + size,
        };
        got_stubs::run(
            &mut g,
            &reach,
            &ExecutorHost(std::cell::RefCell::new(&mut *ex)),
            info.tlsdesc_resolver,
        )?;
        let lay = layout::layout(&mut g, page)?;
        let tls = match layout::layout_tls(&mut g) {
            None => TlsValues::default(),
            Some(tl) => {
                let target = TlsTarget::for_machine(info.machine).ok_or_else(|| {
                    Error::InvalidArgument("thread-local storage for this machine".into())
                })?;
                let image = fixup::apply_tls(&g, tl.init_len)?;
                let module = build_module(target, &image, tl.len, tl.align, g.needs_static_tls);
                ex.load_tls(&module, g.needs_static_tls, tl.len)?
            }
        };
        if lay.len as u64 > size || base % lay.align as u64 != 0 {
            ex.release(base, size)?;
            return Err(Error::InvalidArgument(format!(
                "linked set needs {:#x} bytes aligned to {:#x}; the executor gave {size:#x} at {base:#x}",
                lay.len, lay.align
            )));
        }
        layout::rebase(&mut g, base);
        let mut image = TargetImage {
            base,
            bytes: vec![0; lay.len],
        };
        let shipped = fixup::apply(&g, &mut image, tls)
            .and_then(|()| check_eh_frames(&g, &mut image))
            .and_then(|()| {
                for &(off, len, perm) in &lay.segments {
                    let bytes = image.bytes.get(off..off + len).unwrap_or_default();
                    ex.write(base + off as u64, bytes)?;
                    ex.protect(base + off as u64, len as u64, perm)?;
                }
                Ok(())
            });
        if let Err(e) = shipped {
            let _ = ex.release(base, size);
            return Err(e);
        }

        // Unwind information, finalizers, initializers.
        if let Some(eh) = g
            .sections
            .iter()
            .filter(|s| s.role == SectionRole::EhFrame)
            .find_map(|s| s.blocks.first())
        {
            ex.register_eh_frame(g.blocks[eh.index()].addr)?;
        }
        let read = |addr: u64| {
            let b = image_bytes(&image, addr, 8)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let list = init::collect_with(&g, read);
        let dso = g.blocks[dso_block.index()].addr;
        ex.register_finis(dso, &list.fini)?;

        for s in &g.symbols {
            if s.scope == Scope::Local || s.name.is_empty() {
                continue;
            }
            if let Def::Block { block, offset } = s.def {
                if g.is_tls_block(block) {
                    continue;
                }
                let addr = g.blocks[block.index()].addr + offset;
                symbols.entry(s.name.into()).or_insert(addr);
            }
        }
        self.sets += 1;
        self.ex.run_inits(&list.init)
    }

    /// Makes `names` (functions of linked sets) redirectable: each gets a stub in the executor
    /// jumping through a pointer slot there, initially to its definition, and is looked up as
    /// its stub from then on (for sets linked later). Returns the stub addresses.
    pub fn create_redirectable(&mut self, names: &[&str]) -> Result<Vec<u64>> {
        match self.ex.info().machine {
            object::elf::EM_X86_64 => self.create_stubs::<X86_64>(names),
            object::elf::EM_AARCH64 => self.create_stubs::<AArch64>(names),
            m => Err(Error::Unsupported {
                file: String::new(),
                what: format!("stubs for ELF machine {m}"),
            }),
        }
    }

    fn create_stubs<A: jitlink_arch::Arch>(&mut self, names: &[&str]) -> Result<Vec<u64>> {
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
        let mut code = TargetImage {
            base,
            bytes: vec![0; code_len as usize],
        };
        let mut stubs = Vec::with_capacity(names.len());
        for i in 0..names.len() as u64 {
            let at = base + i * stride;
            let out = code
                .bytes_mut(at, tpl.bytes.len())
                .ok_or_else(|| Error::InvalidArgument("stub outside its page".into()))?;
            out.copy_from_slice(tpl.bytes);
            let v = jitlink_arch::FixupValues {
                p: at + tpl.slot_offset as u64,
                s: slots + 8 * i,
                a: tpl.slot_addend,
                got: 0,
                tls: TlsValues::default(),
                image_base: 0,
                section: None,
            };
            A::apply_fixup(tpl.slot_kind, out, tpl.slot_offset, v).map_err(|reason| {
                Error::InvalidArgument(format!("stub for {}: {reason}", names[i as usize]))
            })?;
            stubs.push(at);
        }
        let slot_bytes: Vec<u8> = targets.iter().flat_map(|t| t.to_le_bytes()).collect();
        self.ex.write(slots, &slot_bytes)?;
        self.ex.write(base, &code.bytes)?;
        self.ex
            .protect(base, code_len, crate::graph::Perm::ReadExec)?;
        for (i, (name, &stub)) in names.iter().zip(&stubs).enumerate() {
            self.symbols.insert(name.as_bytes().into(), stub);
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
    /// `args` (argv[0] first) and waits for the process to end.
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

/// The ELF machine of an object file or of the first object member of an archive.
pub fn file_machine(path: &Path) -> Result<u16> {
    let name = path.to_string_lossy().into_owned();
    let bytes = Bytes::map_file(path)?;
    match detect(&name, &bytes)? {
        InputKind::Elf | InputKind::MachO | InputKind::Coff => builder::machine(&name, &bytes),
        InputKind::Archive => {
            let index = ArchiveIndex::parse(&name, &bytes)?;
            let first = (0..index.members.len())
                .map(|m| index.member_bytes(&bytes, m))
                .find(|b| !matches!(detect(&name, b), Err(_) | Ok(InputKind::Archive)))
                .ok_or_else(|| Error::Unsupported {
                    file: name.clone(),
                    what: "archive without object members".into(),
                })?;
            builder::machine(&name, first)
        }
    }
}

fn image_bytes(image: &TargetImage, addr: u64, len: usize) -> Option<&[u8]> {
    let start = usize::try_from(addr.checked_sub(image.base)?).ok()?;
    image.bytes.get(start..start.checked_add(len)?)
}

/// What a reference from `[lo, hi)` in the executor reaches.
struct TargetReach {
    lo: u64,
    hi: u64,
}

impl Reachability for TargetReach {
    fn pc_rel(&self, addr: u64) -> bool {
        self.within(addr, 1 << 31)
    }
    fn within(&self, addr: u64, range: u64) -> bool {
        let range = range.saturating_sub(REACH_MARGIN);
        addr.abs_diff(self.lo) < range && addr.abs_diff(self.hi) < range
    }
}

/// The executor's symbols, described and read through the executor (for stubs and copies of
/// out-of-reach host data, as in process).
struct ExecutorHost<'e>(std::cell::RefCell<&'e mut Executor>);

impl HostInfo for ExecutorHost<'_> {
    fn describe(&self, addr: u64) -> Option<HostSymbol> {
        self.0.borrow_mut().describe(addr).ok().flatten()
    }
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let bytes = self.0.borrow_mut().read(addr, len as u64).ok()?;
        (bytes.len() == len).then_some(bytes)
    }
}
