//! Pipeline stage 2, archive members: takes the graph and the session's archives, adds the
//! members that define what the graph references, until nothing more is needed.
//!
//! A session's inputs: objects waiting to be linked, and static archives whose members are
//! loaded on demand, each at most once per session.

use std::path::Path;

use crate::builder::archive::ArchiveIndex;
use crate::builder::{self, detect, macho, BuildState, Bytes, InputKind, ObjectArch};
use crate::error::{Error, Result};
use crate::graph::{Def, LinkGraph};
use crate::target::ArchKind;

/// An indexed static archive.
pub(crate) struct ArchiveInput {
    pub name: String,
    pub bytes: Bytes,
    pub index: ArchiveIndex,
    /// A slice of a universal (fat) archive: used only by links of its architecture.
    pub fat: Option<FatSlice>,
}

/// Which slice of which universal archive an [`ArchiveInput`] is.
pub(crate) struct FatSlice {
    /// The slice's `cputype`.
    pub cpu: u32,
    /// The `cputype` of every slice of the file, in the file's order.
    pub all: Vec<u32>,
    /// Tells the universal archives of a session apart.
    pub file: usize,
}

/// Objects waiting to be linked, and the session's archives.
#[derive(Default)]
pub(crate) struct Inputs {
    pub pending: Vec<(String, Bytes)>,
    pub archives: Vec<ArchiveInput>,
    /// Which members of each archive a link of the session has loaded.
    pub loaded: Vec<Vec<bool>>,
}

impl Inputs {
    /// Files an input, recognized by its content: an object joins the pending ones; an archive
    /// is indexed, with no member loaded.
    pub fn add(&mut self, name: String, bytes: Bytes) -> Result<()> {
        match detect(&name, &bytes)? {
            InputKind::Elf | InputKind::MachO | InputKind::Coff => self.pending.push((name, bytes)),
            InputKind::Archive if macho::is_fat(&bytes) => self.add_fat_archive(name, &bytes)?,
            InputKind::Archive => {
                let index = ArchiveIndex::parse(&name, &bytes)?;
                // Indexing read every member's header (and the page cache maps large files in
                // large folios): only the members a link loads need to be resident.
                if bytes.len() >= crate::link::RELEASE_FROM {
                    bytes.release_pages();
                }
                self.loaded.push(vec![false; index.members.len()]);
                self.archives.push(ArchiveInput {
                    name,
                    bytes,
                    index,
                    fat: None,
                });
            }
        }
        Ok(())
    }

    /// Files each slice of a universal archive as an archive of its own, which only links of
    /// its architecture read; the slice a link on this host would pick comes first (see
    /// [`first_arch`]). Each slice is copied: its members are read in place and must be
    /// aligned as an archive of their own would be.
    fn add_fat_archive(&mut self, name: String, bytes: &[u8]) -> Result<()> {
        let mut slices = macho::fat_slices(&name, bytes)?;
        let all: Vec<u32> = slices.iter().map(|s| s.0).collect();
        let first = macho::cpu_type(&name, bytes)?;
        slices.sort_by_key(|s| s.0 != first);
        let file = self.archives.iter().filter(|a| a.fat.is_some()).count();
        for (cpu, slice) in slices {
            if !matches!(detect(&name, slice), Ok(InputKind::Archive)) {
                return Err(crate::error::malformed(
                    &name,
                    format!(
                        "universal archive: the {} slice is not an archive",
                        macho::cpu_name(cpu)
                    ),
                ));
            }
            let bytes = Bytes::Owned(slice.to_vec());
            let index = ArchiveIndex::parse(&name, &bytes)?;
            self.loaded.push(vec![false; index.members.len()]);
            self.archives.push(ArchiveInput {
                name: name.clone(),
                bytes,
                index,
                fat: Some(FatSlice {
                    cpu,
                    all: all.clone(),
                    file,
                }),
            });
        }
        Ok(())
    }

    /// Adds an object file or archive from disk.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let bytes = Bytes::map_file(path)?;
        self.add(path.to_string_lossy().into_owned(), bytes)
    }

    /// True if an archive member defines `name`.
    pub fn in_archive(&self, name: &[u8]) -> bool {
        self.archives
            .iter()
            .any(|a| a.index.symbols.contains_key(name))
    }

    /// The architecture of the first pending object, else of the first object member of an
    /// archive (see [`first_arch`]).
    pub fn first_arch(&self) -> Result<(Option<ArchKind>, String)> {
        first_arch(&self.pending, &self.archives)
    }
}

/// The architecture of the first object of `pending`, else of the first object member of an
/// archive; `None` with neither. The second value names the file, for messages. A universal
/// file fits more than one architecture: the first object that is not one decides, and only
/// universal objects pending, the first one's preferred slice (the host's, see
/// [`macho::cpu_type`]).
pub(crate) fn first_arch(
    pending: &[(String, Bytes)],
    archives: &[ArchiveInput],
) -> Result<(Option<ArchKind>, String)> {
    let thin = pending.iter().find(|(_, bytes)| !macho::is_fat(bytes));
    if let Some((name, bytes)) = thin.or(pending.first()) {
        return Ok((Some(builder::arch(name, bytes)?), name.clone()));
    }
    for a in archives {
        let first = (0..a.index.members.len())
            .map(|m| a.index.member_bytes(&a.bytes, m))
            .find(|b| matches!(detect(&a.name, b), Ok(k) if k != InputKind::Archive));
        if let Some(bytes) = first {
            return Ok((Some(builder::arch(&a.name, bytes)?), a.name.clone()));
        }
    }
    Ok((None, String::new()))
}

/// The architecture of an object file or of the first object member of an archive, on disk.
pub fn file_arch(path: &Path) -> Result<ArchKind> {
    let mut inputs = Inputs::default();
    inputs.add_file(path)?;
    match inputs.first_arch()? {
        (Some(arch), _) => Ok(arch),
        (None, _) => Err(Error::Unsupported {
            file: path.to_string_lossy().into_owned(),
            what: "archive without object members".into(),
        }),
    }
}

/// True if the first object among `paths` (archives skipped) is x86-64 COFF: a program's entry
/// is then called with the Windows x64 convention.
pub fn entry_is_win64(paths: &[std::path::PathBuf]) -> Result<bool> {
    for path in paths {
        let name = path.to_string_lossy();
        let bytes = Bytes::map_file(path)?;
        match detect(&name, &bytes)? {
            InputKind::Archive => continue,
            InputKind::Coff => return Ok(builder::arch(&name, &bytes)? == ArchKind::X86_64),
            InputKind::Elf | InputKind::MachO => return Ok(false),
        }
    }
    Ok(false)
}

/// Adds the archive members that define what the graph references but does not define (and
/// `wanted`), and what those members need in turn, until nothing more is needed. Weak
/// references load nothing, as with ld. `defined` says whether a name is already defined
/// outside the graph.
pub(crate) fn load_archive_members<'a, A: ObjectArch>(
    g: &mut LinkGraph<'a, A>,
    st: &mut BuildState<'a>,
    archives: &'a [ArchiveInput],
    loaded: &mut [Vec<bool>],
    wanted: Option<&[u8]>,
    defined: &dyn Fn(&[u8]) -> bool,
) -> Result<()> {
    // A universal archive without a slice of this architecture is an error, as with ld64.
    for ar in archives {
        if let Some(f) = ar.fat.as_ref().filter(|f| f.cpu != A::CPU_TYPE) {
            let fits = archives.iter().any(|b| {
                b.fat
                    .as_ref()
                    .is_some_and(|g| g.file == f.file && g.cpu == A::CPU_TYPE)
            });
            if !fits {
                return Err(Error::Unsupported {
                    file: ar.name.clone(),
                    what: macho::no_slice(A::CPU_TYPE, f.all.iter().copied()),
                });
            }
        }
    }
    let mut extra: Vec<&[u8]> = wanted.into_iter().collect();
    loop {
        let mut need: Vec<&[u8]> = std::mem::take(&mut extra);
        need.extend(g.globals.iter().filter_map(|(&name, &id)| {
            let s = &g.symbols[id.index()];
            (s.def == Def::External && !s.weak_ref && !g.is_got_base(id) && !defined(name))
                .then_some(name)
        }));
        let mut added = false;
        for name in need {
            for (ai, ar) in archives.iter().enumerate() {
                if ar.fat.as_ref().is_some_and(|f| f.cpu != A::CPU_TYPE) {
                    continue;
                }
                let Some(&m) = ar.index.symbols.get(name) else {
                    continue;
                };
                let Some(flag) = loaded.get_mut(ai).and_then(|l| l.get_mut(m)) else {
                    continue;
                };
                if !*flag {
                    *flag = true;
                    let data = ar.index.member_bytes(&ar.bytes, m);
                    builder::add_object(g, st, &ar.index.members[m].name, data)?;
                    added = true;
                }
                break;
            }
        }
        if !added {
            return Ok(());
        }
    }
}
