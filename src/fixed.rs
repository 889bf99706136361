//! Linking at a fixed address without running anything: the pipeline's stages (build, resolve
//! against given absolute symbols, GOT/stubs, layout, fixups) for objects of any supported
//! architecture and format, written into a byte image that starts at a chosen address. Tests
//! use it to check every fixed-up field by decoding it, on any host, as `llvm-jitlink -noexec
//! -slab-address` does.

use jitlink_arch::aarch64::AArch64;
use jitlink_arch::x86_64::X86_64;
use jitlink_arch::TlsValues;
use rustc_hash::FxHashMap;

use crate::builder::{self, BuildState, ObjectArch};
use crate::error::{Error, Result};
use crate::graph::{Def, LinkGraph, Scope};
use crate::link::{add_linker_content, undefined_error};
use crate::memory::TargetImage;
use crate::passes::got_stubs::{self, HostInfo, HostSymbol, Reachability};
use crate::{fixup, layout};

/// A linked image at a fixed address.
#[derive(Debug, Clone)]
pub struct FixedImage {
    /// The image: `bytes[0]` is at `base`.
    pub image: TargetImage,
    /// Addresses of the global symbols the inputs define.
    pub symbols: FxHashMap<String, u64>,
}

impl FixedImage {
    /// The bytes at `addr`, `len` long, if inside the image.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(addr.checked_sub(self.image.base)?).ok()?;
        self.image.bytes.get(start..start.checked_add(len)?)
    }

    /// The little-endian 32-bit word at `addr`.
    pub fn u32_at(&self, addr: u64) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(addr, 4)?.try_into().ok()?))
    }

    /// The little-endian 64-bit word at `addr`.
    pub fn u64_at(&self, addr: u64) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(addr, 8)?.try_into().ok()?))
    }

    /// The address of global symbol `name`.
    pub fn symbol(&self, name: &str) -> Result<u64> {
        self.symbols
            .get(name)
            .copied()
            .ok_or_else(|| Error::SymbolNotFound(name.to_string()))
    }
}

/// Links `inputs` (`(name, bytes)`, relocatable objects of one architecture) at `base`;
/// every symbol they do not define must be in `absolutes`. Page size 4 KiB.
pub fn link_at(
    inputs: &[(String, Vec<u8>)],
    base: u64,
    absolutes: &[(String, u64)],
) -> Result<FixedImage> {
    let (name, first) = inputs
        .first()
        .ok_or_else(|| Error::InvalidArgument("nothing to link".into()))?;
    match builder::machine(name, first)? {
        object::elf::EM_X86_64 => link_as::<X86_64>(inputs, base, absolutes),
        object::elf::EM_AARCH64 => link_as::<AArch64>(inputs, base, absolutes),
        m => Err(Error::Unsupported {
            file: name.clone(),
            what: format!("machine {m} (as an ELF machine number)"),
        }),
    }
}

fn link_as<A: ObjectArch>(
    inputs: &[(String, Vec<u8>)],
    base: u64,
    absolutes: &[(String, u64)],
) -> Result<FixedImage> {
    let mut g = LinkGraph::<A>::new("fixed");
    let mut st = BuildState::default();
    for (name, bytes) in inputs {
        builder::add_object(&mut g, &mut st, name, bytes)?;
    }
    add_linker_content(&mut g);
    let mut undefined = Vec::new();
    for i in 0..g.symbols.len() {
        let s = &g.symbols[i];
        if s.def != Def::External || g.is_got_base(crate::graph::SymbolId(i as u32)) {
            continue;
        }
        match absolutes.iter().find(|(n, _)| n.as_bytes() == s.name) {
            Some(&(_, a)) => g.symbols[i].def = Def::Absolute(a),
            None if s.weak_ref => g.symbols[i].def = Def::Absolute(0),
            None => undefined.push(crate::graph::SymbolId(i as u32)),
        }
    }
    if !undefined.is_empty() {
        return Err(undefined_error(&g, &undefined));
    }
    got_stubs::run(&mut g, &Near(base), &NoHost, 0)?;
    let lay = layout::layout(&mut g, 4096)?;
    if layout::layout_tls(&mut g).is_some() {
        return Err(Error::Unsupported {
            file: g.input_name(0).to_string(),
            what: "thread-local storage in a fixed-address link".into(),
        });
    }
    layout::rebase(&mut g, base);
    let mut image = TargetImage {
        base,
        bytes: vec![0; lay.len],
    };
    fixup::apply(&g, &mut image, TlsValues::default())?;
    let symbols = g
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| s.scope != Scope::Local && matches!(s.def, Def::Block { .. }))
        .map(|(i, s)| {
            (
                String::from_utf8_lossy(s.name).into_owned(),
                g.address(crate::graph::SymbolId(i as u32)),
            )
        })
        .collect();
    Ok(FixedImage { image, symbols })
}

/// Everything within 2 GiB of the base is in reach.
struct Near(u64);

impl Reachability for Near {
    fn pc_rel(&self, addr: u64) -> bool {
        addr.abs_diff(self.0) < (1 << 31) - (16 << 20)
    }
}

/// No host: absolute symbols are plain addresses.
struct NoHost;

impl HostInfo for NoHost {
    fn describe(&self, _addr: u64) -> Option<HostSymbol> {
        None
    }
    fn read(&self, _addr: u64, _len: usize) -> Option<Vec<u8>> {
        None
    }
}
