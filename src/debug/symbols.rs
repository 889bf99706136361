//! The function table of a linked set: every function and stub, sorted by address. It answers
//! "what is at this address" ([`crate::Session::describe_address`]), feeds the perf map, and is
//! copied into the crash reporter's table.

use jitlink_arch::Arch;

use crate::graph::{Def, LinkGraph, SymbolId};
use crate::stubs::RawStub;

/// What lies at an address of linked code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    /// The function (or stub, named `function@stub`) containing the address.
    pub function: String,
    /// The input that defined it (`<linker>` for stubs the linker made).
    pub file: String,
    /// Offset of the address from the function's start.
    pub offset: u64,
    /// The function's start address.
    pub start: u64,
    /// The function's size in bytes.
    pub size: u64,
}

/// One function or stub, as stored: its name is a range of the table's name arena.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u64,
    size: u64,
    name: (u32, u32),
    file: u32,
}

/// One function or stub of a `FunctionTable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionEntry<'t> {
    /// Start address.
    pub start: u64,
    /// Size in bytes (not 0).
    pub size: u64,
    /// Symbol name; stubs are `name@stub`.
    pub name: &'t str,
    /// The input that defined it (`<linker>` for linker-made stubs).
    pub file: &'t str,
}

impl FunctionEntry<'_> {
    /// True if `addr` lies inside.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr - self.start < self.size
    }
}

/// The functions and stubs of one linked set, sorted by start address. Names live in one
/// string, so building a table costs a few allocations, not one per function.
#[derive(Debug, Default, Clone)]
pub struct FunctionTable {
    entries: Vec<Entry>,
    /// Names as bytes (ELF names need not be UTF-8; they are checked when read).
    names: Vec<u8>,
    files: Vec<String>,
}

impl FunctionTable {
    /// Collects the functions of a laid-out graph: every named function symbol defined in a
    /// block (local ones too), the stubs made by the GOT/stub pass (named after their target),
    /// and the redirectable stubs of `redirected` functions.
    pub fn from_graph<A: Arch>(g: &LinkGraph<'_, A>, redirected: &[(SymbolId, RawStub)]) -> Self {
        let mut t = FunctionTable {
            entries: Vec::new(),
            names: Vec::new(),
            files: g.inputs.clone(),
        };
        let linker = t.files.len() as u32;
        t.files.push("<linker>".to_string());
        let file_of = |input: u32| {
            if (input as usize) < g.inputs.len() {
                input
            } else {
                linker
            }
        };
        for s in &g.symbols {
            let Def::Block { block, offset } = s.def else {
                continue;
            };
            if !s.callable || s.name.is_empty() || g.is_tls_block(block) {
                continue;
            }
            let blk = &g.blocks[block.index()];
            // A function without a size extends to the end of its block (clipped below by the
            // next function).
            // A size past the block's end (a malformed object) is clipped to it: the table
            // never covers memory the set does not own.
            let rest = blk.content.size().saturating_sub(offset);
            let size = if s.size > 0 { s.size.min(rest) } else { rest };
            let name = t.name(&[s.name]);
            t.entries.push(Entry {
                start: blk.addr.wrapping_add(offset),
                size,
                name,
                file: file_of(s.input),
            });
        }
        add_pass_stubs(g, &mut t, linker);
        let stub_size = A::JUMP_STUB.bytes.len() as u64;
        for (body, h) in redirected {
            let s = &g.symbols[body.index()];
            let name = t.name(&[s.name, b"@stub"]);
            t.entries.push(Entry {
                start: h.stub,
                size: stub_size,
                name,
                file: file_of(s.input),
            });
        }
        let entries = &mut t.entries;
        // Symbol tables list symbols mostly in address order (locals, then globals): the
        // stable sort finds those runs and merges them. Aliases keep table order; `find`
        // looks at each of them.
        entries.sort_by_key(|e| e.start);
        // Sizeless functions stop where the next one starts.
        for i in 1..entries.len() {
            let next = entries[i].start;
            let e = &mut entries[i - 1];
            if e.start < next && e.start.saturating_add(e.size) > next {
                e.size = next - e.start;
            }
        }
        // Empty functions (a label at the end of a section) cover nothing.
        entries.retain(|e| e.size > 0);
        t
    }

    /// Appends `parts` to the name arena.
    fn name(&mut self, parts: &[&[u8]]) -> (u32, u32) {
        let at = self.names.len() as u32;
        for p in parts {
            self.names.extend_from_slice(p);
        }
        (at, self.names.len() as u32)
    }

    fn view(&self, e: &Entry) -> FunctionEntry<'_> {
        FunctionEntry {
            start: e.start,
            size: e.size,
            name: self
                .names
                .get(e.name.0 as usize..e.name.1 as usize)
                .and_then(|n| std::str::from_utf8(n).ok())
                .unwrap_or("<name not UTF-8>"),
            file: self.files.get(e.file as usize).map_or("", String::as_str),
        }
    }

    /// The entries, sorted by start address.
    pub fn entries(&self) -> impl Iterator<Item = FunctionEntry<'_>> + '_ {
        self.entries.iter().map(|e| self.view(e))
    }

    /// The function containing `addr`.
    pub fn find(&self, addr: u64) -> Option<FunctionEntry<'_>> {
        let i = self.entries.partition_point(|e| e.start <= addr);
        // Several entries may start at or before `addr` (aliases, nested sizes): take the
        // nearest one that contains it.
        self.entries[..i]
            .iter()
            .rev()
            .take(4)
            .find(|e| addr - e.start < e.size)
            .map(|e| self.view(e))
    }

    /// Describes `addr`, if it lies in one of the table's functions.
    pub fn describe(&self, addr: u64) -> Option<AddressInfo> {
        self.find(addr).map(|e| AddressInfo {
            function: e.name.to_string(),
            file: e.file.to_string(),
            offset: addr - e.start,
            start: e.start,
            size: e.size,
        })
    }
}

/// The GOT/stub pass's stubs (anonymous callable symbols in `$__STUBS`), named after the target
/// of the GOT entry each one jumps through.
fn add_pass_stubs<A: Arch>(g: &LinkGraph<'_, A>, t: &mut FunctionTable, linker: u32) {
    let tpl = A::JUMP_STUB;
    for sec in g.sections.iter().filter(|s| s.name == "$__STUBS") {
        for &b in &sec.blocks {
            let blk = &g.blocks[b.index()];
            for e in &blk.edges {
                let Some(start) = u64::from(e.offset).checked_sub(tpl.slot_offset as u64) else {
                    continue;
                };
                let Def::Block {
                    block: got,
                    offset: slot,
                } = g.symbols[e.target.index()].def
                else {
                    continue;
                };
                let Some(target) = g.blocks[got.index()]
                    .edges
                    .iter()
                    .find(|ge| u64::from(ge.offset) == slot)
                    .map(|ge| ge.target)
                else {
                    continue;
                };
                let name = t.name(&[g.symbol_name(target).as_bytes(), b"@stub"]);
                t.entries.push(Entry {
                    start: blk.addr + start,
                    size: tpl.bytes.len() as u64,
                    name,
                    file: linker,
                });
            }
        }
    }
}
