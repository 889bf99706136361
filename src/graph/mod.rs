//! The LinkGraph: sections hold blocks of bytes, symbols name places in blocks (or outside the
//! graph), and edges are the fixups a block needs. Everything is stored in `Vec` arenas and
//! referred to by typed `u32` ids, so passes can hold ids across mutation.
//!
//! A graph holds one linked set: all the objects (and archive members) linked together. Names
//! borrow from the inputs, which outlive the graph.

mod dump;

use jitlink_arch::Arch;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::hash_map::Entry;

use crate::error::{Error, Result};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            /// The arena index.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// A section of a [`LinkGraph`].
    SectionId
);
id_type!(
    /// A block of a [`LinkGraph`].
    BlockId
);
id_type!(
    /// A symbol of a [`LinkGraph`].
    SymbolId
);

/// Index of an input in [`LinkGraph::inputs`]; `SYNTHETIC` for linker-made content.
pub type InputId = u32;
/// The input id of content the linker made itself (GOT, stubs, copies).
pub const SYNTHETIC: InputId = u32::MAX;

/// Memory protection class of a section, which decides its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Perm {
    /// Read and execute.
    ReadExec,
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
}

impl Perm {
    /// All classes, in layout order.
    pub const ALL: [Perm; 3] = [Perm::ReadExec, Perm::Read, Perm::ReadWrite];
    /// Short name for dumps.
    pub fn as_str(self) -> &'static str {
        match self {
            Perm::ReadExec => "r-x",
            Perm::Read => "r--",
            Perm::ReadWrite => "rw-",
        }
    }
}

/// What the runtime does with a section's content besides mapping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionRole {
    /// Ordinary code or data.
    Plain,
    /// `.preinit_array`: pointers to functions run first.
    PreinitArray,
    /// `.init_array` (optionally with a priority suffix).
    InitArray,
    /// `.fini_array`.
    FiniArray,
    /// `.ctors`: legacy constructors, run in reverse order.
    Ctors,
    /// `.dtors`: legacy destructors.
    Dtors,
    /// `.eh_frame`: unwind information.
    EhFrame,
    /// `.tdata`/`.tbss`: the initial image of each thread's thread-local block. Laid out apart
    /// from memory: block addresses of these sections are offsets in the block.
    ThreadLocal,
}

/// A named group of blocks with one protection.
#[derive(Debug)]
pub struct Section<'a> {
    /// The section's name.
    pub name: &'a str,
    /// Its protection class.
    pub perm: Perm,
    /// What the runtime does with it.
    pub role: SectionRole,
    /// Its blocks, in input order. Most sections of `-ffunction-sections` objects hold one
    /// block: up to two are stored inline, without an allocation.
    pub blocks: SmallVec<[BlockId; 2]>,
}

/// The bytes of a block.
#[derive(Debug, Clone)]
pub enum Content<'a> {
    /// Bytes borrowed from an input.
    Borrowed(&'a [u8]),
    /// Bytes the linker made.
    Owned(Vec<u8>),
    /// Zero-filled memory of this size.
    Zero(u64),
}

impl Content<'_> {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Content::Borrowed(b) => b.len() as u64,
            Content::Owned(v) => v.len() as u64,
            Content::Zero(n) => *n,
        }
    }
    /// The bytes, or `None` for zero-fill.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Content::Borrowed(b) => Some(b),
            Content::Owned(v) => Some(v),
            Content::Zero(_) => None,
        }
    }
}

/// A fixup: at `offset` of its block, compute `kind` with the target's address and `addend`.
#[derive(Debug, Clone, Copy)]
pub struct Edge<K> {
    /// Architecture edge kind.
    pub kind: K,
    /// Offset of the fixup in the block.
    pub offset: u32,
    /// Target symbol.
    pub target: SymbolId,
    /// Addend.
    pub addend: i64,
}

/// A contiguous piece of content with one alignment, laid out as a unit.
#[derive(Debug)]
pub struct Block<'a, K> {
    /// Owning section.
    pub section: SectionId,
    /// Content.
    pub content: Content<'a>,
    /// Alignment (a power of two).
    pub align: u64,
    /// Fixups.
    pub edges: Vec<Edge<K>>,
    /// Address once laid out.
    pub addr: u64,
    /// The input it came from.
    pub input: InputId,
}

/// Where a symbol's address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Def {
    /// At `offset` in `block`.
    Block {
        /// The block.
        block: BlockId,
        /// Offset in the block.
        offset: u64,
    },
    /// Outside the graph, not resolved yet.
    External,
    /// A fixed address outside the graph (absolute symbols, host symbols, earlier linked sets).
    Absolute(u64),
    /// Defined in a discarded section (a duplicate COMDAT group).
    Discarded,
}

/// Symbol visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Visible only inside its object.
    Local,
    /// Visible inside the linked set.
    Hidden,
    /// Visible to everything.
    Default,
}

/// Symbol binding strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// A strong definition.
    Strong,
    /// A weak definition, overridden by a strong one.
    Weak,
    /// A common (tentative) definition: overridden by a strong one; the largest common wins.
    Common,
}

/// A named or anonymous place.
#[derive(Debug, Clone)]
pub struct Symbol<'a> {
    /// Name; empty for anonymous symbols.
    pub name: &'a [u8],
    /// Where its address comes from.
    pub def: Def,
    /// Size in bytes (0 if unknown).
    pub size: u64,
    /// Visibility.
    pub scope: Scope,
    /// Binding.
    pub linkage: Linkage,
    /// True for functions.
    pub callable: bool,
    /// For externals: every reference is weak, so it may stay undefined (address 0).
    pub weak_ref: bool,
    /// The input that defines it (or first references it).
    pub input: InputId,
}

/// A graph of blocks and edges for one architecture.
pub struct LinkGraph<'a, A: Arch> {
    /// Name of the graph (for dumps).
    pub name: String,
    /// Input names, indexed by [`InputId`].
    pub inputs: Vec<String>,
    /// Section arena.
    pub sections: Vec<Section<'a>>,
    /// Block arena.
    pub blocks: Vec<Block<'a, A::EdgeKind>>,
    /// Symbol arena.
    pub symbols: Vec<Symbol<'a>>,
    /// Non-local symbols by name.
    pub globals: FxHashMap<&'a [u8], SymbolId>,
    section_ids: FxHashMap<&'a str, SectionId>,
    /// Blocks whose input section had another name than the graph section they are in (ELF
    /// `-ffunction-sections` sections grouped by name class), with that name, in block order.
    pub renamed: Vec<(BlockId, &'a str)>,
    /// True if some reference needs 32-bit absolute addresses (the graph must be placed low).
    pub needs_low: bool,
    /// True if some reference needs the TLS block at a fixed offset from the thread pointer
    /// (initial-exec, local-exec and descriptor accesses).
    pub needs_static_tls: bool,
    /// The symbol of the graph's GOT base (ELF `_GLOBAL_OFFSET_TABLE_`), set by the builder
    /// when an object refers to it. It is no symbol to resolve: the GOT pass defines it at the
    /// graph's GOT, and GOT-relative kinds take their `GOT` from its address.
    pub got_base: Option<SymbolId>,
    /// The lowest address of the linked set once it is placed, recorded by
    /// [`crate::layout::rebase`]: what image-relative kinds are relative to.
    pub image_base: u64,
    /// A symbol that stands for [`LinkGraph::image_base`] (COFF `__ImageBase`), set by the
    /// builder when an object refers to it. Until layout it is a zero-size block of its own, so
    /// that passes see it defined in the graph; [`crate::layout::rebase`] defines it at the base.
    pub image_base_symbol: Option<SymbolId>,
    /// Thread-local variables of host libraries the graph accesses (resolved by the host's
    /// dynamic loader; their symbols are absolute 0): the GOT pass writes their values into
    /// thread-local GOT entries.
    pub host_tls: FxHashMap<SymbolId, crate::runtime::tls::HostTls>,
}

impl<'a, A: Arch> LinkGraph<'a, A> {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Self {
        LinkGraph {
            name: name.into(),
            inputs: Vec::new(),
            sections: Vec::new(),
            blocks: Vec::new(),
            symbols: Vec::new(),
            globals: FxHashMap::default(),
            section_ids: FxHashMap::default(),
            renamed: Vec::new(),
            needs_low: false,
            needs_static_tls: false,
            got_base: None,
            image_base: 0,
            image_base_symbol: None,
            host_tls: FxHashMap::default(),
        }
    }

    /// Makes room for `sections` more input sections and `symbols` more symbol table entries in
    /// the arenas, so that building a large link grows nothing by doubling: no copies, no page
    /// faults on memory thrown away. The global table is sized for a quarter of the entries
    /// (every object lists the names it references, which other objects define, besides its
    /// locals and section symbols): a table sized for more spreads its probes over more cache
    /// lines, and one sized for fewer is rehashed once or twice. Graph sections are few (the
    /// builders group input sections by name class) and grow as they come.
    pub fn reserve(&mut self, sections: usize, symbols: usize) {
        self.blocks.reserve_exact(sections);
        self.symbols.reserve_exact(symbols);
        self.globals.reserve(symbols / 4);
    }

    /// Registers an input and returns its id.
    pub fn add_input(&mut self, name: &str) -> InputId {
        self.inputs.push(name.to_string());
        (self.inputs.len() - 1) as InputId
    }

    /// The name of an input (or `<linker>` for synthesized content).
    pub fn input_name(&self, id: InputId) -> &str {
        self.inputs
            .get(id as usize)
            .map_or("<linker>", String::as_str)
    }

    /// The section named `name`, created with `perm` and `role` if missing.
    pub fn section(&mut self, name: &'a str, perm: Perm, role: SectionRole) -> SectionId {
        if let Some(&id) = self.section_ids.get(name) {
            return id;
        }
        let id = SectionId(self.sections.len() as u32);
        self.sections.push(Section {
            name,
            perm,
            role,
            blocks: SmallVec::new(),
        });
        self.section_ids.insert(name, id);
        id
    }

    /// Adds a block to `section`.
    pub fn add_block(
        &mut self,
        section: SectionId,
        content: Content<'a>,
        align: u64,
        input: InputId,
    ) -> BlockId {
        let id = BlockId(self.blocks.len() as u32);
        self.blocks.push(Block {
            section,
            content,
            align: align.max(1),
            edges: Vec::new(),
            addr: 0,
            input,
        });
        self.sections[section.index()].blocks.push(id);
        id
    }

    /// Records that block `b` came from an input section named `name`, which is not the name of
    /// the graph section it was added to (see [`LinkGraph::input_section_name`]).
    pub fn rename_block(&mut self, b: BlockId, name: &'a str) {
        debug_assert!(self.renamed.last().is_none_or(|&(last, _)| last < b));
        self.renamed.push((b, name));
    }

    /// The name of the input section block `b` came from, for messages and for checks that name
    /// input sections: its section's name unless the block was renamed.
    pub fn input_section_name(&self, b: BlockId) -> &'a str {
        match self.renamed.binary_search_by_key(&b, |&(id, _)| id) {
            Ok(i) => self.renamed[i].1,
            Err(_) => self.sections[self.blocks[b.index()].section.index()].name,
        }
    }

    /// Adds a symbol that is not entered in the global table.
    pub fn add_symbol(&mut self, sym: Symbol<'a>) -> SymbolId {
        let id = SymbolId(self.symbols.len() as u32);
        self.symbols.push(sym);
        id
    }

    /// An anonymous local symbol at `offset` of `block`.
    pub fn add_anonymous(
        &mut self,
        block: BlockId,
        offset: u64,
        size: u64,
        callable: bool,
    ) -> SymbolId {
        let input = self.blocks[block.index()].input;
        self.add_symbol(Symbol {
            name: b"",
            def: Def::Block { block, offset },
            size,
            scope: Scope::Local,
            linkage: Linkage::Strong,
            callable,
            weak_ref: false,
            input,
        })
    }

    /// An anonymous local symbol at a fixed address outside the graph.
    pub fn add_absolute(&mut self, addr: u64, callable: bool, input: InputId) -> SymbolId {
        self.add_symbol(Symbol {
            name: b"",
            def: Def::Absolute(addr),
            size: 0,
            scope: Scope::Local,
            linkage: Linkage::Strong,
            callable,
            weak_ref: false,
            input,
        })
    }

    /// The global symbol `name` as referenced by `input`: existing, or a new external.
    pub fn reference(&mut self, name: &'a [u8], weak: bool, input: InputId) -> SymbolId {
        // One probe of the table, whether the name is there or not.
        let next = SymbolId(self.symbols.len() as u32);
        match self.globals.entry(name) {
            Entry::Occupied(o) => {
                let id = *o.get();
                let s = &mut self.symbols[id.index()];
                if s.def == Def::External {
                    s.weak_ref &= weak;
                }
                id
            }
            Entry::Vacant(v) => {
                v.insert(next);
                self.symbols.push(Symbol {
                    name,
                    def: Def::External,
                    size: 0,
                    scope: Scope::Default,
                    linkage: Linkage::Strong,
                    callable: false,
                    weak_ref: weak,
                    input,
                });
                next
            }
        }
    }

    /// Enters a definition of a global symbol, applying strong/weak/common rules.
    pub fn define(&mut self, sym: Symbol<'a>) -> Result<SymbolId> {
        let next = SymbolId(self.symbols.len() as u32);
        let id = match self.globals.entry(sym.name) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => {
                v.insert(next);
                self.symbols.push(sym);
                return Ok(next);
            }
        };
        let old = &self.symbols[id.index()];
        let replace = match (old.def, old.linkage, sym.linkage) {
            (Def::External, _, _) => true,
            (_, Linkage::Strong, Linkage::Strong) => {
                return Err(Error::DuplicateDefinition {
                    symbol: String::from_utf8_lossy(sym.name).into_owned(),
                    first: self.input_name(old.input).to_string(),
                    second: self.input_name(sym.input).to_string(),
                })
            }
            (_, Linkage::Weak, Linkage::Strong | Linkage::Common) => true,
            (_, Linkage::Common, Linkage::Strong) => true,
            (_, Linkage::Common, Linkage::Common) => sym.size > old.size,
            _ => false,
        };
        if replace {
            self.symbols[id.index()] = sym;
        }
        Ok(id)
    }

    /// True if `id` is the graph's GOT base symbol (see [`LinkGraph::got_base`]), which the
    /// linker defines itself.
    pub fn is_got_base(&self, id: SymbolId) -> bool {
        self.got_base == Some(id)
    }

    /// True if the block belongs to a thread-local section.
    pub fn is_tls_block(&self, b: BlockId) -> bool {
        self.sections[self.blocks[b.index()].section.index()].role == SectionRole::ThreadLocal
    }

    /// Address of a symbol (valid after layout for block symbols).
    pub fn address(&self, id: SymbolId) -> u64 {
        match self.symbols[id.index()].def {
            Def::Block { block, offset } => self.blocks[block.index()].addr.wrapping_add(offset),
            Def::Absolute(a) => a,
            Def::External | Def::Discarded => 0,
        }
    }

    /// A printable name for a symbol.
    pub fn symbol_name(&self, id: SymbolId) -> String {
        let s = &self.symbols[id.index()];
        if !s.name.is_empty() {
            return String::from_utf8_lossy(s.name).into_owned();
        }
        match s.def {
            Def::Block { block, offset } => {
                format!("{}+{offset:#x}", self.input_section_name(block))
            }
            _ => "<anonymous>".to_string(),
        }
    }
}
