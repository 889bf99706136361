//! perf's jitdump format: `jit-PID.dump`, a header and one `JIT_CODE_LOAD` record per function
//! with a copy of its code, so that `perf inject --jit` can turn each function into a small ELF
//! file and `perf report`/`perf annotate` can show its instructions (the perf map gives names
//! only).
//!
//! perf finds the file through the process's memory map: the file is mapped once, executable,
//! and `perf record` logs that mapping. Timestamps use `CLOCK_MONOTONIC`, so record with
//! `perf record -k mono`. The file goes to `$JITDUMPDIR` if set, else `/tmp`; `perf inject`
//! writes its `jitted-PID-N.so` files next to it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use super::symbols::FunctionEntry;

/// "JiTD" as a little-endian u32.
const MAGIC: u32 = 0x4A69_5444;
const VERSION: u32 = 1;
const HEADER_SIZE: u32 = 40;
/// Record type of a code load.
const JIT_CODE_LOAD: u32 = 0;

struct Dump {
    file: File,
    /// The executable mapping of the file's first page that tells perf about it (kept mapped).
    _marker: memmap2::Mmap,
    next_index: u64,
}

static DUMP: Mutex<Option<Dump>> = Mutex::new(None);

/// The dump's path for this process.
pub fn path() -> PathBuf {
    let dir = std::env::var_os("JITDUMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    dir.join(format!("jit-{}.dump", std::process::id()))
}

fn timestamp() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

fn tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

fn open() -> std::io::Result<Dump> {
    let path = path();
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let mut header = Vec::with_capacity(HEADER_SIZE as usize);
    header.extend_from_slice(&MAGIC.to_le_bytes());
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&HEADER_SIZE.to_le_bytes());
    header.extend_from_slice(&u32::from(crate::ArchKind::HOST.elf_machine()).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes()); // pad
    header.extend_from_slice(&std::process::id().to_le_bytes());
    header.extend_from_slice(&timestamp().to_le_bytes());
    header.extend_from_slice(&0u64.to_le_bytes()); // flags
    file.write_all(&header)?;
    // SAFETY: a read-only private mapping of a file this process just created; nothing reads
    // through it (it exists for perf's memory-map record) and the file is only appended to.
    let marker = unsafe {
        memmap2::MmapOptions::new()
            .len(HEADER_SIZE as usize)
            .map_exec(&file)
    }?;
    Ok(Dump {
        file,
        _marker: marker,
        next_index: 0,
    })
}

/// Appends one code-load record per entry, with the code copied from memory.
pub(crate) fn append_all<'t>(
    entries: impl Iterator<Item = FunctionEntry<'t>>,
) -> crate::Result<()> {
    let io = |source| crate::Error::Io {
        path: path(),
        source,
    };
    let mut guard = DUMP.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        *guard = Some(open().map_err(io)?);
    }
    let Some(dump) = guard.as_mut() else {
        return Ok(());
    };
    let (pid, tid) = (std::process::id(), tid());
    let mut out = Vec::new();
    for e in entries {
        // SAFETY: every entry of a function table lies inside a block of the set being linked
        // (sizes are clipped to their blocks), whose memory is mapped at its final address and
        // readable (still read-write before finalize), or in the stub pool's finalized code.
        let code = unsafe { std::slice::from_raw_parts(e.start as *const u8, e.size as usize) };
        let total = 16 + 40 + e.name.len() + 1 + code.len();
        out.extend_from_slice(&JIT_CODE_LOAD.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&timestamp().to_le_bytes());
        out.extend_from_slice(&pid.to_le_bytes());
        out.extend_from_slice(&tid.to_le_bytes());
        out.extend_from_slice(&e.start.to_le_bytes()); // vma
        out.extend_from_slice(&e.start.to_le_bytes()); // code address
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&dump.next_index.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        out.extend_from_slice(code);
        dump.next_index += 1;
    }
    dump.file.write_all(&out).map_err(io)
}
