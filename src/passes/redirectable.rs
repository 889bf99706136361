//! The redirectable-function pass: gives the chosen functions stubs, and binds references from
//! other objects (and, if asked, from their own object) to the stub. The pipeline points each
//! stub's slot at its body once the set is committed.

use jitlink_arch::Arch;
use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::graph::{Def, LinkGraph, Scope, SymbolId};
use crate::options::Redirectable;
use crate::stubs::{EmitStubs, OwnerKey, RawStub};

/// What the pass needs: the policy, functions declared before their object was linked (lazy
/// linking: their stubs exist already), and the manager that makes new stubs for `owner`.
pub(crate) struct Redirect<'p> {
    pub which: &'p Redirectable,
    pub declared: &'p FxHashMap<Box<[u8]>, RawStub>,
    pub stubs: &'p dyn EmitStubs,
    pub owner: OwnerKey,
}

/// Runs the pass; returns each redirected function with its stub.
pub(crate) fn run<A: Arch>(
    g: &mut LinkGraph<'_, A>,
    r: &Redirect<'_>,
) -> Result<Vec<(SymbolId, RawStub)>> {
    let (which, declared) = (r.which, r.declared);
    if *which == Redirectable::None && declared.is_empty() {
        return Ok(Vec::new());
    }
    let chosen: Vec<(SymbolId, &str)> = g
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.callable
                && s.scope != Scope::Local
                && matches!(s.def, Def::Block { .. })
                && (which.wants(s.name) || declared.contains_key(s.name))
        })
        .filter_map(|(i, s)| Some((SymbolId(i as u32), std::str::from_utf8(s.name).ok()?)))
        .collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    // Functions declared lazily already have their stubs; the others get new ones.
    let names: Vec<&str> = chosen
        .iter()
        .map(|c| c.1)
        .filter(|n| !declared.contains_key(n.as_bytes()))
        .collect();
    let mut fresh = r.stubs.emit(r.owner, &names)?.into_iter();
    let handles: Vec<RawStub> = chosen
        .iter()
        .filter_map(|c| match declared.get(c.1.as_bytes()) {
            Some(h) => Some(*h),
            None => fresh.next(),
        })
        .collect();
    let mut to_stub: FxHashMap<SymbolId, SymbolId> = FxHashMap::default();
    for (&(body, _), h) in chosen.iter().zip(&handles) {
        let input = g.symbols[body.index()].input;
        let stub = g.add_absolute(h.stub, true, input);
        to_stub.insert(body, stub);
    }
    let internal = which.internal();
    let LinkGraph {
        blocks, symbols, ..
    } = g;
    for blk in blocks.iter_mut() {
        for e in &mut blk.edges {
            if let Some(&stub) = to_stub.get(&e.target) {
                if internal || symbols[e.target.index()].input != blk.input {
                    e.target = stub;
                }
            }
        }
    }
    Ok(chosen.into_iter().map(|c| c.0).zip(handles).collect())
}
