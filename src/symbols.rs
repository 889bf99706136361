//! The session's symbol table: every global definition of the live linked sets (and lazily
//! declared functions), by name, with the input files of each set for messages. The pipeline
//! publishes a set's definitions into it and takes them back if the link fails later.

use std::sync::Arc;

use jitlink_arch::Arch;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::graph::{Def, LinkGraph, Linkage, Scope, Symbol, SymbolId};
use crate::name::Name;
use crate::name_index::{self as names, NameIndex};
use crate::stubs::RawStub;

/// The `set` of symbols that no linked set defines yet (lazily declared functions).
pub(crate) const NO_SET: u32 = u32::MAX;

/// A global definition.
#[derive(Debug, Clone)]
pub(crate) struct Defined {
    pub addr: u64,
    pub size: u64,
    pub callable: bool,
    pub weak: bool,
    /// The defining set (`NO_SET` for functions declared lazily).
    pub set: u32,
    /// The defining input, as an index in the set's files.
    pub file: u32,
    /// `addr` is the function's stub (a redirectable function), not its body.
    pub stub: bool,
}

/// The session's symbols, by name: the definitions in an arena, found through a
/// [`NameIndex`] (a publish of many names hashes them first and prefetches their slots).
#[derive(Default)]
pub(crate) struct SymbolTable {
    index: NameIndex,
    /// The entries, by index; `None` for a free one (listed in `free`).
    entries: Vec<Option<(Name, Defined)>>,
    free: Vec<u32>,
    /// The input files of each set, by set id.
    files: FxHashMap<u32, Vec<Arc<str>>>,
}

impl SymbolTable {
    /// The entry of `name`, hashed to `hash`.
    #[inline]
    fn find(&self, hash: u32, name: &[u8]) -> Option<u32> {
        let entries = &self.entries;
        self.index.get(hash, |i| {
            entries
                .get(i as usize)
                .and_then(Option::as_ref)
                .is_some_and(|(n, _)| n.as_bytes() == name)
        })
    }

    /// The definition of `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Defined> {
        if self.entries.len() == self.free.len() {
            return None;
        }
        let i = self.find(names::hash(name), name)?;
        self.entries[i as usize].as_ref().map(|(_, d)| d)
    }

    /// True if `name` is defined.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    /// Defines `name` (a lazily declared function, a stub), replacing what was there.
    pub fn insert(&mut self, name: &[u8], d: Defined) {
        let hash = names::hash(name);
        match self.find(hash, name) {
            Some(i) => {
                if let Some((_, old)) = self.entries[i as usize].as_mut() {
                    *old = d;
                }
            }
            None => self.enter(hash, Name::from(name), d),
        }
    }

    /// Enters a name that is not in the table.
    fn enter(&mut self, hash: u32, name: Name, d: Defined) {
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some((name, d));
                i
            }
            None => {
                self.entries.push(Some((name, d)));
                (self.entries.len() - 1) as u32
            }
        };
        // The caller has looked the name up: no entry has it.
        let _ = self.index.insert(hash, i, |_| false);
    }

    /// Takes `name` (hashed to `hash`) out of the table, returning its definition.
    fn take(&mut self, hash: u32, name: &[u8]) -> Option<Defined> {
        let i = self.find(hash, name)?;
        self.index.remove(hash, i);
        self.free.push(i);
        self.entries[i as usize].take().map(|(_, d)| d)
    }

    /// The input file that defines `name`, if it is defined.
    pub fn file_defining(&self, name: &[u8]) -> Option<Arc<str>> {
        self.get(name).map(|d| self.defining_file(d))
    }

    /// The set a bound link of `spec` replaces: a new version of a function that keeps its name
    /// replaces the linked set defining it.
    pub fn replaced_by(&self, spec: &crate::passes::bind::BindSpec) -> Option<u32> {
        if !spec.publish_root {
            return None;
        }
        self.get(spec.root.as_bytes())
            .map(|d| d.set)
            .filter(|&set| set != NO_SET)
    }

    /// Records the input files of set `set`.
    pub fn set_files(&mut self, set: u32, files: Vec<Arc<str>>) {
        self.files.insert(set, files);
    }

    /// The input files of set `set`, for messages (the first three).
    pub fn files_of(&self, set: u32) -> String {
        let files = self.files.get(&set).map(Vec::as_slice).unwrap_or_default();
        let mut s: Vec<&str> = files.iter().take(3).map(|f| &**f).collect();
        if files.len() > 3 {
            s.push("...");
        }
        s.join(", ")
    }

    /// The input file that defined `d`, for messages and the re-optimizer.
    pub fn defining_file(&self, d: &Defined) -> Arc<str> {
        self.files
            .get(&d.set)
            .and_then(|f| f.get(d.file as usize).cloned())
            .unwrap_or_else(|| {
                Arc::from(if d.set == NO_SET {
                    "<lazy>"
                } else {
                    "<linker>"
                })
            })
    }

    /// Fails if a strong global definition of `g` is already defined, not weakly, by another
    /// set than `replaces` (the set a new version replaces).
    pub fn check_duplicates<A: Arch>(
        &self,
        g: &LinkGraph<'_, A>,
        replaces: Option<u32>,
    ) -> Result<()> {
        for s in &g.symbols {
            if s.scope == Scope::Local
                || s.linkage != Linkage::Strong
                || !matches!(s.def, Def::Block { .. })
            {
                continue;
            }
            if let Some(d) = self.get(s.name) {
                if !d.weak && Some(d.set) != replaces {
                    return Err(Error::DuplicateDefinition {
                        symbol: String::from_utf8_lossy(s.name).into_owned(),
                        first: self.defining_file(d).to_string(),
                        second: g.input_name(s.input).to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Enters the global definitions of laid-out graph `g` (set `set_id`): their addresses, or
    /// their stubs' for redirected functions. A strong definition of an earlier set stays
    /// ([`SymbolTable::check_duplicates`] has made sure only weak ones can be there); a weak
    /// one is replaced (and so is any definition of `replaces`, the set this one is a new
    /// version of), and kept in the result so that [`SymbolTable::unpublish`] can put it back.
    pub fn publish<A: Arch>(
        &mut self,
        g: &LinkGraph<'_, A>,
        set_id: u32,
        redirected: &[(SymbolId, RawStub)],
        has_tls: bool,
        replaces: Option<u32>,
    ) -> Published {
        let mut p = Published::default();
        let stubs_of: FxHashMap<SymbolId, u64> =
            redirected.iter().map(|(b, h)| (*b, h.stub)).collect();
        // The definitions to publish, in symbol order; then their hashes (for a large set, all
        // of them first, so that each one's slot is fetched some names ahead of its insertion).
        let defs: Vec<(SymbolId, &Symbol<'_>)> = g
            .symbols
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let Def::Block { block, .. } = s.def else {
                    return None;
                };
                let public = s.scope != Scope::Local && !s.name.is_empty();
                (public && !(has_tls && g.is_tls_block(block))).then_some((SymbolId(i as u32), s))
            })
            .collect();
        let hashes = names::hashes(defs.len(), defs.iter().map(|(_, s)| s.name));
        self.index.reserve(defs.len());
        self.entries
            .reserve(defs.len().saturating_sub(self.free.len()));
        for (k, &(id, s)) in defs.iter().enumerate() {
            names::ahead(&self.index, &hashes, k);
            let hash = names::hash_at(&hashes, k, s.name);
            let stub = stubs_of.get(&id).copied();
            let d = Defined {
                stub: stub.is_some(),
                addr: stub.unwrap_or_else(|| g.address(id)),
                size: s.size,
                callable: s.callable,
                weak: s.linkage == Linkage::Weak,
                set: set_id,
                // Linker-made symbols (input SYNTHETIC) name no file.
                file: s.input,
            };
            match self.find(hash, s.name) {
                Some(i) => {
                    let Some((name, old)) = self.entries[i as usize].as_mut() else {
                        continue;
                    };
                    if !old.weak && Some(old.set) != replaces {
                        continue;
                    }
                    let old = std::mem::replace(old, d);
                    p.replaced.push((name.clone(), old));
                }
                None => self.enter(hash, Name::from(s.name), d),
            }
            p.names.extend_from_slice(s.name);
            p.name_ends.push(p.names.len() as u32);
        }
        p
    }

    /// Removes the names set `set_id` published that still name its definitions, and the set's
    /// files.
    pub fn forget(&mut self, set_id: u32, p: &Published) {
        for name in p.names() {
            if self.get(name).is_some_and(|d| d.set == set_id) {
                self.take(names::hash(name), name);
            }
        }
        self.files.remove(&set_id);
    }

    /// Takes back what [`SymbolTable::publish`] entered for set `set_id` (a link that failed
    /// after it).
    pub fn unpublish(&mut self, set_id: u32, p: &Published) {
        self.forget(set_id, p);
        for (name, d) in &p.replaced {
            self.insert(name.as_bytes(), d.clone());
        }
    }
}

impl SymbolTable {
    /// The definitions `p` published that are still current (for exports): name, address,
    /// size, function or not.
    pub fn exports<'p>(&self, p: &'p Published) -> Vec<(&'p [u8], u64, u64, bool)> {
        p.names()
            .filter_map(|n| self.get(n).map(|d| (n, d.addr, d.size, d.callable)))
            .collect()
    }
}

/// What [`SymbolTable::publish`] entered: the names, end to end (`name_ends` marks where each
/// one ends: two allocations however many names), and the weak definitions of earlier sets
/// they replaced.
#[derive(Default)]
pub(crate) struct Published {
    names: Vec<u8>,
    name_ends: Vec<u32>,
    replaced: Vec<(Name, Defined)>,
}

impl Published {
    /// The published names.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.name_ends.iter().map(move |&end| {
            let name = self.names.get(start..end as usize).unwrap_or_default();
            start = end as usize;
            name
        })
    }

    /// The same names, without the replaced definitions (once the link has succeeded, a
    /// removal forgets the names and does not restore what they replaced).
    pub fn committed(self) -> Published {
        Published {
            replaced: Vec::new(),
            ..self
        }
    }
}
