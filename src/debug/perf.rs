//! The perf map: `/tmp/perf-PID.map`, which `perf report` reads to name samples in memory that
//! no file backs. Each line is `START SIZE NAME`, START and SIZE in hexadecimal without `0x`
//! (perf parses both with base 16). perf takes the last entry covering an address, so later
//! entries (new versions) win over older ones at the same place.
//!
//! Sessions with [`crate::Options::perf_map`] write an entry for every linked function and
//! stub; [`append`] adds any other (a re-optimized version as `name@v1`, a stub made outside a
//! link).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use super::symbols::FunctionEntry;

/// The open map of this process, shared by every session.
static MAP: Mutex<Option<File>> = Mutex::new(None);

/// The map's path for this process.
pub fn path() -> PathBuf {
    PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()))
}

fn with_map(f: impl FnOnce(&mut File) -> std::io::Result<()>) -> crate::Result<()> {
    let mut map = MAP.lock().unwrap_or_else(|p| p.into_inner());
    if map.is_none() {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path())
            .map_err(|source| crate::Error::Io {
                path: path(),
                source,
            })?;
        *map = Some(file);
    }
    match map.as_mut() {
        Some(file) => f(file).map_err(|source| crate::Error::Io {
            path: path(),
            source,
        }),
        None => Ok(()),
    }
}

/// Appends one entry to the map (creating it if needed): code at `start`, `size` bytes, named
/// `name`. For a new version of a function, name it `name@vN`.
pub fn append(start: u64, size: u64, name: &str) -> crate::Result<()> {
    with_map(|f| writeln!(f, "{start:x} {size:x} {name}"))
}

/// Appends the entries of a linked set, in one write.
pub(crate) fn append_all<'t>(
    entries: impl Iterator<Item = FunctionEntry<'t>>,
) -> crate::Result<()> {
    let mut text = String::new();
    for e in entries {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{:x} {:x} {}", e.start, e.size, e.name);
    }
    with_map(|f| f.write_all(text.as_bytes()))
}
