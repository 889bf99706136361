//! Object files → LinkGraph. Format-independent input handling lives here; each format's quirks
//! live in its own file (`elf.rs`), and static archives in `archive.rs`.

pub mod archive;
pub mod elf;

use std::ops::Deref;
use std::path::Path;

use crate::error::{Error, Result};

/// The bytes of an input: a read-only file mapping or an owned buffer.
pub enum Bytes {
    /// A mapped file.
    Mapped(memmap2::Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
    /// Bytes shared by several links (lazy linking builds one object's graph more than once).
    Shared(std::sync::Arc<Bytes>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
            Bytes::Shared(b) => b,
        }
    }
}

impl Bytes {
    /// Maps `path` read-only (empty files are read, since they cannot be mapped).
    pub fn map_file(path: &Path) -> Result<Bytes> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        // SAFETY: the mapping is private and read-only. jitlink never writes it; if another
        // process truncates the file while it is mapped, reads may fault, which is the documented
        // contract of linking from files (the same holds for every mmap-based linker).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Bytes::Mapped(map))
    }
}

/// What kind of input a byte string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// An ELF relocatable object.
    Elf,
    /// A static archive.
    Archive,
}

/// Recognizes an input by its magic bytes.
pub fn detect(file: &str, data: &[u8]) -> Result<InputKind> {
    if elf::is_elf(data) {
        Ok(InputKind::Elf)
    } else if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
        Ok(InputKind::Archive)
    } else {
        Err(Error::UnknownFormat {
            file: file.to_string(),
        })
    }
}
