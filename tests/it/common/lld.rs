//! The reference linker of the differential tests: ld.lld-19 links one object with a linker
//! script that puts each output section where jitlink put it, and the output is read back as
//! loaded bytes by address and symbols.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol};

use super::*;

/// An lld output: its loaded bytes by address, and its symbols.
pub struct LldImage {
    pub sections: Vec<(u64, Vec<u8>)>,
    pub symbols: BTreeMap<String, u64>,
}

impl LldImage {
    /// `len` bytes at `addr`, if one section holds them all.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.sections.iter().find_map(|(a, b)| {
            let start = usize::try_from(addr.checked_sub(*a)?).ok()?;
            b.get(start..start + len)
        })
    }
}

/// Links `obj` statically with ld.lld-19 (`-static --no-pie -e 0`, then `options`) into
/// `dir/<name>.elf`: each section of `placement` at its address, `more_sections` (script lines)
/// after them, and the absolute symbols `abs`. `Err` holds lld's message.
pub fn lld_link(
    dir: &Path,
    name: &str,
    obj: &Path,
    placement: &[(&str, u64)],
    more_sections: &str,
    options: &[&str],
    abs: &[(String, u64)],
) -> Result<LldImage, String> {
    let mut script = String::from("SECTIONS {\n");
    for (sec, addr) in placement {
        let _ = writeln!(script, "  {sec} {addr:#x} : {{ *({sec}) }}");
    }
    script.push_str(more_sections);
    script.push_str("}\n");
    for (n, a) in abs {
        let _ = writeln!(script, "{n} = {a:#x};");
    }
    let script_path = dir.join(format!("{name}.ld"));
    fs::write(&script_path, script).expect("write the linker script");
    let out = dir.join(format!("{name}.elf"));
    let mut cmd = Command::new(&tool("ld.lld-19").path);
    cmd.args(["-static", "--no-pie"])
        .args(options)
        .args(["-e", "0", "-T"])
        .arg(&script_path)
        .arg(obj)
        .arg("-o")
        .arg(&out);
    let (code, _, err) = outcome(&mut cmd);
    if code != Some(0) {
        return Err(err);
    }
    let data = fs::read(&out).expect("read lld output");
    let file = object::File::parse(&*data).expect("parse lld output");
    let sections = file
        .sections()
        .filter(|s| s.address() != 0)
        .map(|s| {
            (
                s.address(),
                s.uncompressed_data()
                    .map(|d| d.into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let symbols = file
        .symbols()
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
        .collect();
    Ok(LldImage { sections, symbols })
}
