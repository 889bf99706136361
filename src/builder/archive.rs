//! Static archives: an index from symbol name to member, so members are loaded on demand as a
//! static linker loads them.
//!
//! - The index is the archive's symbol table (GNU `/`, BSD `__.SYMDEF`), or, without one, the
//!   defined globals of each member. Names are the names the link looks up: a Mach-O member's
//!   `_name` is entered as `name`, as its builder names its symbols (see `macho::c_name`).
//! - Members are told apart by their place in the archive, not their file names: two members
//!   called `a.o` are two members.
//! - Thin archives (`ar rcsT`) hold only the members' paths, relative to the archive's
//!   directory (as lld and GNU ld read them); the member files are mapped when the archive
//!   is indexed, and the index is built from their symbol tables.

use std::path::{Path, PathBuf};

use object::read::archive::ArchiveFile;
use object::read::elf::{FileHeader, Sym};
use object::{elf, LittleEndian as LE};
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

use super::{macho, Bytes};
use crate::error::{malformed, Result};

/// One member of an archive.
#[derive(Debug, Clone)]
pub struct Member {
    /// `archive(member)`, for messages.
    pub name: String,
    /// Byte range of the member's data in the archive (in its own file, for a thin member).
    pub range: (usize, usize),
    /// A thin archive's member: its index in the mapped member files.
    pub external: Option<usize>,
}

/// The symbol index of an archive.
#[derive(Default)]
pub struct ArchiveIndex {
    /// Members, by index.
    pub members: Vec<Member>,
    /// Defined global symbol → member index.
    pub symbols: FxHashMap<Box<[u8]>, usize>,
    /// Aligned copies of misaligned members (`ar` aligns members to 2 bytes only; ELF headers
    /// are read in place and must be 8-byte aligned), made when a member is first read: an
    /// archive's unused members are never copied, and their pages never touched.
    copies: Vec<OnceLock<Box<[u64]>>>,
    /// The member files of a thin archive, mapped.
    external: Vec<Bytes>,
}

impl std::fmt::Debug for ArchiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveIndex")
            .field("members", &self.members)
            .field("symbols", &self.symbols.len())
            .finish()
    }
}

impl ArchiveIndex {
    /// Reads the archive's members and symbol table. Archives without a symbol table, and
    /// thin archives, are indexed by reading each member's symbol table. `file` is the
    /// archive's path: a thin archive's members are found next to it.
    pub fn parse(file: &str, data: &[u8]) -> Result<ArchiveIndex> {
        let bad = |e: object::read::Error| malformed(file, e);
        let ar = ArchiveFile::parse(data).map_err(bad)?;
        let thin = ar.is_thin();
        let mut index = ArchiveIndex::default();
        let mut by_start = FxHashMap::default();
        let mut by_offset: FxHashMap<u64, usize> = FxHashMap::default();
        for member in ar.members() {
            let member = member.map_err(bad)?;
            if thin {
                index.add_thin_member(file, member.name())?;
                continue;
            }
            let (start, size) = member.file_range();
            let (start, size) = (start as usize, size as usize);
            let end = start
                .checked_add(size)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| {
                    malformed(file, "archive member extends past the end of the file")
                })?;
            let name = String::from_utf8_lossy(member.name()).into_owned();
            by_start.insert(start, index.members.len());
            index.members.push(Member {
                name: format!("{file}({name})"),
                range: (start, end),
                external: None,
            });
        }
        index.copies.resize_with(index.members.len(), OnceLock::new);
        // Mach-O members name their symbols `_name`; the link looks up `name`.
        // (Read in place: the magic number needs no aligned copy.)
        let is_macho: Vec<bool> = (0..index.members.len())
            .map(|m| macho::is_macho(index.raw_member_bytes(data, m)))
            .collect();
        match ar.symbols().map_err(bad)? {
            Some(symbols) if !thin => {
                for sym in symbols {
                    let sym = sym.map_err(bad)?;
                    let offset = sym.offset();
                    let m = match by_offset.get(&offset.0) {
                        Some(&m) => m,
                        None => {
                            let start = ar.member(offset).map_err(bad)?.file_range().0 as usize;
                            let Some(&m) = by_start.get(&start) else {
                                return Err(malformed(
                                    file,
                                    "archive symbol table points at no member",
                                ));
                            };
                            by_offset.insert(offset.0, m);
                            m
                        }
                    };
                    let name = if is_macho[m] {
                        macho::c_name(sym.name())
                    } else {
                        sym.name()
                    };
                    index.symbols.entry(name.into()).or_insert(m);
                }
            }
            _ => {
                let mut symbols = FxHashMap::default();
                for (m, &mach) in is_macho.iter().enumerate() {
                    let bytes = index.member_bytes(data, m);
                    let names = if mach {
                        macho::defined_globals(bytes)
                    } else {
                        elf_defined_globals(bytes)
                    };
                    for name in names {
                        symbols.entry(name.into()).or_insert(m);
                    }
                }
                index.symbols = symbols;
            }
        }
        Ok(index)
    }

    /// Maps the member of a thin archive named `name` (a path relative to the directory of
    /// the archive `file`, or absolute).
    fn add_thin_member(&mut self, file: &str, name: &[u8]) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let rel = Path::new(std::ffi::OsStr::from_bytes(name));
        let path: PathBuf = match Path::new(file).parent() {
            Some(dir) if rel.is_relative() => dir.join(rel),
            _ => rel.to_path_buf(),
        };
        let bytes = Bytes::map_file(&path).map_err(|e| {
            malformed(
                file,
                format!("thin archive member {}: {e}", String::from_utf8_lossy(name)),
            )
        })?;
        let len = bytes.len();
        self.members.push(Member {
            name: format!("{file}({})", path.display()),
            range: (0, len),
            external: Some(self.external.len()),
        });
        self.external.push(bytes);
        Ok(())
    }
}

impl ArchiveIndex {
    /// The bytes of member `m` where they lie, perhaps not aligned.
    fn raw_member_bytes<'a>(&'a self, data: &'a [u8], m: usize) -> &'a [u8] {
        let member = &self.members[m];
        match member.external {
            Some(f) => &self.external[f],
            None => &data[member.range.0..member.range.1],
        }
    }

    /// The bytes of member `m` of the archive whose data is `data`, 8-byte aligned.
    pub fn member_bytes<'a>(&'a self, data: &'a [u8], m: usize) -> &'a [u8] {
        let member = &self.members[m];
        if let Some(f) = member.external {
            return &self.external[f];
        }
        let (start, end) = member.range;
        let bytes = &data[start..end];
        if (bytes.as_ptr() as usize).is_multiple_of(8) {
            return bytes;
        }
        let copy = self.copies[m].get_or_init(|| {
            let mut words = vec![0u64; bytes.len().div_ceil(8)].into_boxed_slice();
            aligned_bytes_mut(&mut words)[..bytes.len()].copy_from_slice(bytes);
            words
        });
        &aligned_bytes(copy)[..bytes.len()]
    }
}

fn aligned_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding or invalid bit patterns; the byte view covers the same memory.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) }
}

fn aligned_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above, and the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) }
}

/// Names of the defined global symbols of an ELF object (empty for anything else).
fn elf_defined_globals(data: &[u8]) -> Vec<&[u8]> {
    let Ok(header) = elf::FileHeader64::<LE>::parse(data) else {
        return Vec::new();
    };
    let Ok(endian) = header.endian() else {
        return Vec::new();
    };
    let Ok(sections) = header.sections(endian, data) else {
        return Vec::new();
    };
    let Ok(symtab) = sections.symbols(endian, data, elf::SHT_SYMTAB) else {
        return Vec::new();
    };
    symtab
        .iter()
        .filter(|s| s.st_bind() != elf::STB_LOCAL && s.st_shndx(endian) != elf::SHN_UNDEF)
        .filter_map(|s| symtab.symbol_name(endian, s).ok())
        .collect()
}
