//! Structure-aware mutation: objects of every format (the fuzz seeds of `fuzz/seeds/`, made by
//! `fuzz/make-format-seeds.sh`) with one to three header fields, section or load-command
//! table entries, symbol records or relocation entries set to boundary values, or truncated, are
//! each given to the `jitlink` tool (debug build: overflow checks on): linked at a fixed base
//! (`--base`, every architecture, the seed's undefined symbols given with `--abs` so that links
//! reach layout and fixups) and, for the host's architecture, in process with `--noexec`.
//! Archives are linked with an intact object that references their members. Every mutant must
//! end in a linked result (exit 0) or a clean error (exit 1, `jitlink: error:` naming the file)
//! within 10 s: never a signal, a panic or a hang. Seeded and deterministic; `JITLINK_MUTANTS` sets the
//! mutants per format family (default 1500), `JITLINK_MUTATION_SEED` the seed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::rng::{env_number, Random, SplitMix64};

/// A field of an input: its offset and width in bytes.
#[derive(Clone, Copy, Debug)]
struct Field {
    at: usize,
    width: usize,
}

fn u16_at(d: &[u8], at: usize) -> usize {
    d.get(at..at + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize)
}

fn u32_at(d: &[u8], at: usize) -> usize {
    d.get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn u64_at(d: &[u8], at: usize) -> usize {
    d.get(at..at + 8).map_or(0, |b| {
        u64::from_le_bytes(b.try_into().unwrap_or([0; 8])).min(usize::MAX as u64) as usize
    })
}

/// Fields at `base + i * stride + offset` for `count` records of `(offset, width)` fields.
fn records(
    out: &mut Vec<Field>,
    base: usize,
    stride: usize,
    count: usize,
    fields: &[(usize, usize)],
) {
    for i in 0..count.min(4096) {
        for &(off, width) in fields {
            out.push(Field {
                at: base + i * stride + off,
                width,
            });
        }
    }
}

/// ELF64: the file header, section headers, symbols and RELA entries.
fn elf_fields(d: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    let header = [
        (16, 2),
        (18, 2),
        (20, 4),
        (24, 8),
        (32, 8),
        (40, 8),
        (48, 4),
        (52, 2),
        (54, 2),
        (56, 2),
        (58, 2),
        (60, 2),
        (62, 2),
    ];
    records(&mut out, 0, 0, 1, &header);
    let (shoff, shnum) = (u64_at(d, 40), u16_at(d, 60));
    let section = [
        (0, 4),
        (4, 4),
        (8, 8),
        (16, 8),
        (24, 8),
        (32, 8),
        (40, 4),
        (44, 4),
        (48, 8),
        (56, 8),
    ];
    records(&mut out, shoff, 64, shnum, &section);
    for i in 0..shnum.min(4096) {
        let sh = shoff + i * 64;
        let (ty, off, size) = (u32_at(d, sh + 4), u64_at(d, sh + 24), u64_at(d, sh + 32));
        match ty {
            2 => records(
                &mut out,
                off,
                24,
                size / 24,
                &[(0, 4), (4, 1), (5, 1), (6, 2), (8, 8), (16, 8)],
            ),
            4 => records(
                &mut out,
                off,
                24,
                size / 24,
                &[(0, 8), (8, 4), (12, 4), (16, 8)],
            ),
            17 => records(&mut out, off, 4, size / 4, &[(0, 4)]),
            _ => {}
        }
    }
    out
}

/// Mach-O 64: the header, load commands, segments and their sections, symbols, relocations.
fn macho_fields(d: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    records(&mut out, 0, 4, 8, &[(0, 4)]);
    let ncmds = u32_at(d, 16);
    let mut at = 32;
    for _ in 0..ncmds.min(256) {
        let (cmd, size) = (u32_at(d, at), u32_at(d, at + 4));
        records(&mut out, at, 0, 1, &[(0, 4), (4, 4)]);
        match cmd {
            0x19 => {
                records(
                    &mut out,
                    at,
                    0,
                    1,
                    &[(24, 8), (32, 8), (40, 8), (48, 8), (64, 4)],
                );
                let nsects = u32_at(d, at + 64);
                let sect = [
                    (32, 8),
                    (40, 8),
                    (48, 4),
                    (52, 4),
                    (56, 4),
                    (60, 4),
                    (64, 4),
                ];
                records(&mut out, at + 72, 80, nsects, &sect);
                for s in 0..nsects.min(256) {
                    let h = at + 72 + s * 80;
                    records(
                        &mut out,
                        u32_at(d, h + 56),
                        8,
                        u32_at(d, h + 60),
                        &[(0, 4), (4, 4)],
                    );
                }
            }
            0x2 => {
                records(&mut out, at, 0, 1, &[(8, 4), (12, 4), (16, 4), (20, 4)]);
                let (symoff, nsyms) = (u32_at(d, at + 8), u32_at(d, at + 12));
                records(
                    &mut out,
                    symoff,
                    16,
                    nsyms,
                    &[(0, 4), (4, 1), (5, 1), (6, 2), (8, 8)],
                );
            }
            _ => {}
        }
        if size < 8 {
            break;
        }
        at += size;
    }
    out
}

/// COFF: the file header, section headers, relocations and symbols.
fn coff_fields(d: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    records(
        &mut out,
        0,
        0,
        1,
        &[(0, 2), (2, 2), (8, 4), (12, 4), (16, 2), (18, 2)],
    );
    let (nsec, symptr, nsym, opt) = (u16_at(d, 2), u32_at(d, 8), u32_at(d, 12), u16_at(d, 16));
    let section = [(8, 4), (12, 4), (16, 4), (20, 4), (24, 4), (32, 2), (36, 4)];
    records(&mut out, 20 + opt, 40, nsec, &section);
    for s in 0..nsec.min(4096) {
        let h = 20 + opt + s * 40;
        records(
            &mut out,
            u32_at(d, h + 24),
            10,
            u16_at(d, h + 32),
            &[(0, 4), (4, 4), (8, 2)],
        );
    }
    records(
        &mut out,
        symptr,
        18,
        nsym,
        &[(0, 4), (4, 4), (8, 4), (12, 2), (14, 2), (16, 1), (17, 1)],
    );
    out
}

/// Archives: each member header's name and size (ASCII decimal; set to boundary digits below).
fn archive_fields(d: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 60 <= d.len() && out.len() < 4096 {
        out.push(Field { at, width: 16 });
        out.push(Field {
            at: at + 48,
            width: 10,
        });
        let size: usize = std::str::from_utf8(&d[at + 48..at + 58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        at += 60 + size + (size & 1);
    }
    out
}

/// Sets `f` to a boundary value of its width (or, in an archive header, boundary digits).
fn set_boundary(d: &mut [u8], f: Field, rng: &mut SplitMix64, ascii: bool) {
    let Some(place) = d.get_mut(f.at..f.at + f.width) else {
        return;
    };
    if ascii {
        let choices: [&[u8]; 6] = [b"0", b"1", b"9999999999", b"-1", b"4294967296", b"x"];
        let text = rng.pick(&choices);
        place.fill(b' ');
        let n = text.len().min(place.len());
        place[..n].copy_from_slice(&text[..n]);
        return;
    }
    let max = if f.width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * f.width)) - 1
    };
    let sign = 1u64 << (8 * f.width - 1);
    let old = place.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b));
    let random = rng.next() & max;
    let value = *rng.pick(&[
        0,
        1,
        max,
        max - 1,
        sign,
        sign - 1,
        old.wrapping_add(1) & max,
        old.wrapping_sub(1) & max,
        old.wrapping_mul(2) & max,
        random,
    ]);
    place.copy_from_slice(&value.to_le_bytes()[..f.width]);
}

/// One mutant of `base`: one to three fields set to boundary values, then sometimes a
/// truncation.
fn mutant(base: &[u8], fields: &[Field], ascii: bool, rng: &mut SplitMix64) -> Vec<u8> {
    let mut d = base.to_vec();
    if !fields.is_empty() {
        for _ in 0..1 + rng.below(3) {
            let f = *rng.pick(fields);
            set_boundary(&mut d, f, rng, ascii);
        }
    }
    if rng.below(8) == 0 {
        d.truncate(rng.below(d.len() as u64 + 1) as usize);
    }
    d
}

/// A format family: its name, its field finder, whether its inputs are archives, and whether
/// it runs in process here.
type Family = (&'static str, fn(&[u8]) -> Vec<Field>, bool, bool);

/// What happened to one mutant.
enum Verdict {
    Linked,
    CleanError,
    Bad(String),
}

fn judge(args: &[String], path: &Path, companion: Option<&Path>) -> Verdict {
    let mut child = match Command::new(common::jitlink_path())
        .args(args)
        .arg(path)
        .args(companion)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Bad(format!("cannot start jitlink: {e}")),
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > Duration::from_secs(10) => {
                let _ = child.kill();
                let _ = child.wait();
                return Verdict::Bad("hung (killed after 10 s)".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Verdict::Bad(format!("wait: {e}")),
        }
    };
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match status.code() {
        Some(0) => Verdict::Linked,
        Some(1) if err.starts_with("jitlink: error:") && err.contains(name) => Verdict::CleanError,
        Some(1) if err.starts_with("jitlink: error: undefined symbols:") => Verdict::CleanError,
        code => Verdict::Bad(format!(
            "exit {code:?} ({status}): {}",
            err.lines().next().unwrap_or("")
        )),
    }
}

/// `NAME=ADDR` for every undefined global of object `data` (intact), at distinct addresses near
/// the fixed base.
fn undefined_as_absolutes(data: &[u8]) -> Vec<String> {
    use object::{Object, ObjectSymbol};
    let Ok(file) = object::File::parse(data) else {
        return Vec::new();
    };
    let mut names: Vec<String> = file
        .symbols()
        .filter(|s| s.is_undefined() && s.is_global())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| !n.is_empty() && n != "_GLOBAL_OFFSET_TABLE_")
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            // Mach-O names are given without their leading underscore.
            let n = if file.format() == object::BinaryFormat::MachO {
                n.strip_prefix('_').map(str::to_string).unwrap_or(n)
            } else {
                n
            };
            format!("{n}={:#x}", 0x5000_0000 + 0x100 * i)
        })
        .collect()
}

/// The seeds of one family, by their name in `fuzz/seeds/`.
fn family_seeds(seeds: &[PathBuf], family: &str) -> Vec<PathBuf> {
    let pick = |p: &&PathBuf| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match family {
            "elf-x86_64" => !n.starts_with("fmt-") && n.ends_with(".o"),
            other => {
                n.starts_with(&format!("fmt-{other}"))
                    && n.ends_with(if other.starts_with("archive") {
                        ".a"
                    } else {
                        ".o"
                    })
            }
        }
    };
    seeds.iter().filter(pick).cloned().collect()
}

#[test]
fn mutants_of_every_format_link_or_fail_cleanly() {
    // (family, field finder, archive, runs in process here)
    mutate(&[
        ("elf-x86_64", elf_fields, false, true),
        ("elf-aarch64", elf_fields, false, false),
        ("macho-x86_64", macho_fields, false, true),
        ("macho-arm64", macho_fields, false, false),
        ("coff-x86_64", coff_fields, false, true),
        ("coff-arm64", coff_fields, false, false),
        ("archive-elf-aarch64", archive_fields, true, false),
        ("archive-macho-x86_64", archive_fields, true, true),
    ]);
}

/// RISC-V objects (gcc-built C with relaxation and TLS, and the assembled check files with
/// every relocation type, ALIGN padding and ADD/SUB pairs): the pairing and padding code of
/// the riscv64 builder meets mutated relocation tables.
#[test]
fn riscv64_mutants_link_or_fail_cleanly() {
    mutate(&[("elf-riscv64", elf_fields, false, false)]);
}

fn mutate(families: &[Family]) {
    let n = env_number("JITLINK_MUTANTS", 1500);
    let seed = env_number("JITLINK_MUTATION_SEED", 5) as u64;
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(common::repo_dir().join("fuzz/seeds"))
        .expect("fuzz/seeds")
        .map(|e| e.expect("entry").path())
        .collect();
    seeds.sort();
    let dir = common::scratch_dir("mutation");
    let tally: Mutex<BTreeMap<&str, [usize; 3]>> = Mutex::new(BTreeMap::new());
    let failures = Mutex::new(Vec::new());
    for &(family, fields_of, ascii, host) in families {
        // Archives are linked with the intact main object of the same target, which
        // references their members.
        let companion = family
            .strip_prefix("archive-")
            .map(|target| common::repo_dir().join(format!("fuzz/seeds/fmt-{target}-ck_main.o")));
        let bases: Vec<(String, Vec<u8>)> = family_seeds(&seeds, family)
            .iter()
            .map(|p| (p.display().to_string(), std::fs::read(p).expect("seed")))
            .collect();
        assert!(
            !bases.is_empty(),
            "no seeds for {family} in fuzz/seeds (fuzz/make-format-seeds.sh)"
        );
        let mut rng = SplitMix64(seed ^ family.len() as u64 ^ (family.as_bytes()[0] as u64) << 32);
        let jobs: Vec<(PathBuf, String, Vec<String>)> = (0..n)
            .map(|i| {
                let (name, base) = rng.pick(&bases);
                let abs = match &companion {
                    Some(c) => undefined_as_absolutes(&std::fs::read(c).expect("companion")),
                    None => undefined_as_absolutes(base),
                };
                let fields = fields_of(base);
                assert!(!fields.is_empty(), "{name}: no fields found");
                let m = mutant(base, &fields, ascii, &mut rng);
                let ext = if ascii { "a" } else { "o" };
                let path = dir.join(format!("{family}-{i}.{ext}"));
                std::fs::write(&path, m).expect("write mutant");
                (path, name.clone(), abs)
            })
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((path, from, abs)) = jobs.get(i) else {
                        break;
                    };
                    // Alternate the in-process and the fixed-base link for host families.
                    let args: Vec<String> = if host && i.is_multiple_of(2) {
                        vec!["--noexec".into()]
                    } else {
                        let mut a = vec!["--base".to_string(), "0x40000000".into()];
                        a.extend(abs.iter().flat_map(|x| ["--abs".to_string(), x.clone()]));
                        a
                    };
                    let slot = match judge(&args, path, companion.as_deref()) {
                        Verdict::Linked => 0,
                        Verdict::CleanError => 1,
                        Verdict::Bad(why) => {
                            let mut f = failures.lock().unwrap();
                            f.push(format!("{} (a mutant of {from}): {why}", path.display()));
                            2
                        }
                    };
                    tally.lock().unwrap().entry(family).or_insert([0; 3])[slot] += 1;
                    if slot != 2 {
                        let _ = std::fs::remove_file(path);
                    }
                });
            }
        });
    }
    eprintln!("mutation (seed {seed}, {n} per family): family: [linked, clean errors, failures]");
    for (family, t) in tally.lock().unwrap().iter() {
        eprintln!("  {family}: {t:?}");
    }
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} mutants crashed, panicked or hung (kept for replay):\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
