//! Static archives: an index from symbol name to member, so members are loaded on demand as a
//! static linker loads them.

use object::read::archive::ArchiveFile;
use object::read::elf::{FileHeader, Sym};
use object::{elf, LittleEndian as LE};
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

use crate::error::{malformed, Error, Result};

/// One member of an archive.
#[derive(Debug, Clone)]
pub struct Member {
    /// `archive(member)`, for messages.
    pub name: String,
    /// Byte range of the member's data in the archive.
    pub range: (usize, usize),
}

/// The symbol index of an archive.
#[derive(Debug, Default)]
pub struct ArchiveIndex {
    /// Members, by index.
    pub members: Vec<Member>,
    /// Defined global symbol → member index.
    pub symbols: FxHashMap<Box<[u8]>, usize>,
    /// Aligned copies of misaligned members (`ar` aligns members to 2 bytes only; ELF headers
    /// are read in place and must be 8-byte aligned), made when a member is first read: an
    /// archive's unused members are never copied, and their pages never touched.
    copies: Vec<OnceLock<Box<[u64]>>>,
}

impl ArchiveIndex {
    /// Reads the archive's members and symbol table. Archives without a symbol table are indexed
    /// by reading each member's ELF symbol table.
    pub fn parse(file: &str, data: &[u8]) -> Result<ArchiveIndex> {
        let bad = |e: object::read::Error| malformed(file, e);
        let ar = ArchiveFile::parse(data).map_err(bad)?;
        if ar.is_thin() {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: "thin archives".to_string(),
            });
        }
        let mut index = ArchiveIndex::default();
        let mut by_start = FxHashMap::default();
        let mut by_offset: FxHashMap<u64, usize> = FxHashMap::default();
        for member in ar.members() {
            let member = member.map_err(bad)?;
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
            });
            index.copies.push(OnceLock::new());
        }
        match ar.symbols().map_err(bad)? {
            Some(symbols) => {
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
                    index.symbols.entry(sym.name().into()).or_insert(m);
                }
            }
            None => {
                let mut symbols = FxHashMap::default();
                for m in 0..index.members.len() {
                    for name in elf_defined_globals(index.member_bytes(data, m)) {
                        symbols.entry(name.into()).or_insert(m);
                    }
                }
                index.symbols = symbols;
            }
        }
        Ok(index)
    }
}

impl ArchiveIndex {
    /// The bytes of member `m` of the archive whose data is `data`, 8-byte aligned.
    pub fn member_bytes<'a>(&'a self, data: &'a [u8], m: usize) -> &'a [u8] {
        let (start, end) = self.members[m].range;
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
