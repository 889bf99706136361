//! The differential tests' side of ld.lld-19: assemble text, link it with a linker script that
//! places each section where jitlink placed it, and read the output back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol};

use super::{outcome, tool};

/// Assembles `asm` with llvm-mc-19 for `triple` into `dir/name.o`.
pub fn assemble(dir: &Path, name: &str, triple: &str, asm: &str) -> PathBuf {
    let src = dir.join(format!("{name}.s"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, asm).unwrap();
    let mut cmd = Command::new(&tool("llvm-mc-19").path);
    cmd.arg("-filetype=obj")
        .arg(format!("-triple={triple}"))
        .arg("-o")
        .arg(&obj)
        .arg(&src);
    let (code, _, err) = outcome(&mut cmd);
    assert_eq!(code, Some(0), "llvm-mc-19 {}: {err}", src.display());
    obj
}

/// An lld output: its loaded bytes by address, and its symbols.
pub struct LldImage {
    pub sections: Vec<(u64, Vec<u8>)>,
    pub symbols: BTreeMap<String, u64>,
}

impl LldImage {
    /// The bytes at `[addr, addr + len)`, if one section holds them.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.sections.iter().find_map(|(a, b)| {
            let start = usize::try_from(addr.checked_sub(*a)?).ok()?;
            b.get(start..start.checked_add(len)?)
        })
    }
}

/// Links `obj` with ld.lld-19 (`-static --no-pie -e 0`, and `args`) by the linker script
/// `script`, written to `dir/name.ld`. `Err` holds lld's message.
pub fn link(
    dir: &Path,
    name: &str,
    obj: &Path,
    script: &str,
    args: &[&str],
) -> Result<LldImage, String> {
    let script_path = dir.join(format!("{name}.ld"));
    std::fs::write(&script_path, script).unwrap();
    let out = dir.join(format!("{name}.elf"));
    let mut cmd = Command::new(&tool("ld.lld-19").path);
    cmd.args(["-static", "--no-pie", "-e", "0"])
        .args(args)
        .arg("-T")
        .arg(&script_path)
        .arg(obj)
        .arg("-o")
        .arg(&out);
    let (code, _, err) = outcome(&mut cmd);
    if code != Some(0) {
        return Err(err);
    }
    let data = std::fs::read(&out).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let sections = file
        .sections()
        .filter(|s| s.address() != 0)
        .map(|s| {
            let bytes = s.uncompressed_data().map(|d| d.into_owned());
            (s.address(), bytes.unwrap_or_default())
        })
        .collect();
    let symbols = file
        .symbols()
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
        .collect();
    Ok(LldImage { sections, symbols })
}
