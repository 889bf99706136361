//! Differential relocation testing for RISC-V (RV64): random objects whose every site is an
//! instruction or data field with an `R_RISCV_*` relocation (random targets in three sections
//! and absolute symbols, random addends), linked by jitlink at a fixed base and by ld.lld-19 at
//! the same addresses (a linker script), then compared byte for byte at every site. Pairs are
//! generated as pairs: an `auipc` with `PCREL_HI20` and the `addi`/`sd` whose `PCREL_LO12_I/S`
//! names its label, a few instructions later; an `ADD`/`SET` with its `SUB` at one offset. The
//! types compared are those whose result does not depend on where a linker puts its GOT or
//! stubs (GOT, TLS and far calls are covered by `tests/it/check_riscv64.rs`); targets stay in
//! range. The objects carry no `R_RISCV_RELAX`/`R_RISCV_ALIGN` (`.option norelax`) and lld runs
//! with `--no-relax`, so neither linker moves a byte.
//! A second run makes the text relaxable (`.option relax`) with random `.p2align` directives
//! between the sites: both linkers then shrink the `R_RISCV_ALIGN` padding (lld relaxes nothing
//! else, as no site is marked `R_RISCV_RELAX`), and every site, label and distance must agree.
//! `JITLINK_DIFF_RELOCS` sets the number of sites (default 2,000), `JITLINK_DIFF_SEED` the seed.

use crate::common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::asm::{assemble_text, RISCV64_LINUX};
use common::rng::{env_number, Random, XorShift64Star as Rng};
use common::{assert_none_disagree, scratch_dir};
use jitlink::image::link_at_base;

const BASE: u64 = 0x1000_0000;
const SITES_PER_OBJECT: usize = 250;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Targets {
    /// The site's own label with a small even addend (compressed branches reach ±256 bytes).
    Own,
    /// Functions in `.text`, a few hundred bytes away.
    Near,
    /// Any symbol of the image (all of it lies below 2 GiB).
    Image,
    /// Image symbols and absolute symbols far away.
    Any,
    /// Small absolute values (below 0x20).
    Small,
    /// A difference: an image symbol minus a `.data` symbol (this block) or minus another
    /// function (one section).
    Difference,
}

/// How a site is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One field with one relocation: the directive that writes it.
    One(&'static str),
    /// `auipc a0` with `PCREL_HI20`, two `nop`s (written as words: never compressed), then
    /// this instruction with the low half.
    PcRelPair(&'static str),
    /// A data field with this relocation and then `SUB` of the same width at one offset.
    Sub(&'static str, &'static str),
}

/// (relocation, shape, targets, addend granularity)
const KINDS: &[(&str, Shape, Targets, i64)] = &[
    ("R_RISCV_64", Shape::One(".quad 0"), Targets::Any, 1),
    ("R_RISCV_32", Shape::One(".word 0"), Targets::Image, 1),
    ("R_RISCV_32_PCREL", Shape::One(".word 0"), Targets::Image, 1),
    // lui a0, 0 ; addi a0, a0, 0 ; sd a1, 0(a0)
    (
        "R_RISCV_HI20",
        Shape::One(".word 0x00000537"),
        Targets::Image,
        1,
    ),
    (
        "R_RISCV_LO12_I",
        Shape::One(".word 0x00050513"),
        Targets::Any,
        1,
    ),
    (
        "R_RISCV_LO12_S",
        Shape::One(".word 0x00b53023"),
        Targets::Any,
        1,
    ),
    // auipc a0, 0
    (
        "R_RISCV_PCREL_HI20",
        Shape::One(".word 0x00000517"),
        Targets::Image,
        1,
    ),
    // auipc ra, 0 ; jalr ra, 0(ra)
    (
        "R_RISCV_CALL",
        Shape::One(".word 0x00000097, 0x000080e7"),
        Targets::Image,
        2,
    ),
    (
        "R_RISCV_CALL_PLT",
        Shape::One(".word 0x00000097, 0x000080e7"),
        Targets::Image,
        2,
    ),
    // beq a0, a1, 0 ; jal ra, 0 ; c.beqz a0, 0 ; c.j 0
    (
        "R_RISCV_BRANCH",
        Shape::One(".word 0x00b50063"),
        Targets::Near,
        2,
    ),
    (
        "R_RISCV_JAL",
        Shape::One(".word 0x000000ef"),
        Targets::Image,
        2,
    ),
    (
        "R_RISCV_RVC_BRANCH",
        Shape::One(".half 0xc101"),
        Targets::Own,
        2,
    ),
    (
        "R_RISCV_RVC_JUMP",
        Shape::One(".half 0xa001"),
        Targets::Own,
        2,
    ),
    (
        "R_RISCV_PCREL_LO12_I",
        Shape::PcRelPair(".word 0x00050513"),
        Targets::Image,
        1,
    ),
    (
        "R_RISCV_PCREL_LO12_S",
        Shape::PcRelPair(".word 0x00b53023"),
        Targets::Image,
        1,
    ),
    ("R_RISCV_SET6", Shape::One(".byte 0x40"), Targets::Small, 1),
    ("R_RISCV_SET8", Shape::One(".byte 0"), Targets::Small, 1),
    ("R_RISCV_SET16", Shape::One(".half 0"), Targets::Small, 1),
    ("R_RISCV_SET32", Shape::One(".word 0"), Targets::Image, 1),
    (
        "R_RISCV_ADD64",
        Shape::Sub(".quad 0", "R_RISCV_SUB64"),
        Targets::Difference,
        1,
    ),
    (
        "R_RISCV_ADD32",
        Shape::Sub(".word 0", "R_RISCV_SUB32"),
        Targets::Difference,
        1,
    ),
    (
        "R_RISCV_ADD16",
        Shape::Sub(".half 0", "R_RISCV_SUB16"),
        Targets::Difference,
        1,
    ),
    (
        "R_RISCV_SET32+SUB32",
        Shape::Sub(".word 0", "R_RISCV_SUB32"),
        Targets::Difference,
        1,
    ),
];

struct Site {
    label: String,
    reloc: &'static str,
    target: String,
    addend: i64,
    /// Where the compared bytes start, relative to the label, and how many.
    at: u64,
    size: usize,
}

fn width(directive: &str) -> usize {
    match directive.split_whitespace().next() {
        Some(".quad") => 8,
        Some(".half") => 2,
        Some(".byte") => 1,
        _ if directive.contains(',') => 8,
        _ => 4,
    }
}

/// One object's assembly, its sites and its absolute symbols.
fn generate(rng: &mut Rng, n: usize, aligns: bool) -> (String, Vec<Site>, Vec<(String, u64)>) {
    let abs: Vec<(String, u64)> = (0..4)
        .flat_map(|i| {
            [
                (
                    format!("far{i}"),
                    0x7f00_0000_0000 + (rng.below(1 << 40) & !0xf),
                ),
                (format!("small{i}"), rng.below(0x20)),
            ]
        })
        .collect();
    let funcs: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
    let datas: Vec<String> = (0..4).map(|i| format!("d{i}")).collect();
    let ros: Vec<String> = (0..4).map(|i| format!("r{i}")).collect();
    let image: Vec<String> = funcs.iter().chain(&datas).chain(&ros).cloned().collect();
    let mut text = String::from(if aligns {
        "        .option relax\n        .option rvc\n        .text\n        .p2align 4\n"
    } else {
        "        .option norelax\n        .option norvc\n        .text\n        .p2align 4\n"
    });
    for f in &funcs {
        let _ = writeln!(
            text,
            "        .globl {f}\n{f}:\n        ret\n        nop\n        nop"
        );
    }
    let mut data = String::from("        .data\n        .p2align 4\n");
    for d in &datas {
        let _ = writeln!(
            data,
            "        .globl {d}\n        .p2align 4\n{d}:\n        .zero 64"
        );
    }
    let mut rodata = String::from("        .section .rodata, \"a\", @progbits\n");
    for r in &ros {
        let _ = writeln!(rodata, "        .globl {r}\n{r}:\n        .zero 32");
    }
    let mut sites = Vec::new();
    for i in 0..n {
        let (reloc, shape, targets, unit) = KINDS[rng.below(KINDS.len() as u64) as usize];
        let label = format!("s{i}");
        let pick = |rng: &mut Rng, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
        let (target, addend) = match targets {
            Targets::Own => (label.clone(), (rng.below(128) as i64 - 64) * unit),
            Targets::Near => (pick(rng, &funcs), (rng.below(16) as i64 - 8) * unit),
            Targets::Image | Targets::Difference => {
                (pick(rng, &image), (rng.below(256) as i64 - 128) * unit)
            }
            Targets::Any => {
                if rng.below(3) == 0 {
                    (
                        format!("far{}", rng.below(4)),
                        (rng.below(256) as i64 - 128) * unit,
                    )
                } else {
                    (pick(rng, &image), (rng.below(256) as i64 - 128) * unit)
                }
            }
            Targets::Small => (format!("small{}", rng.below(4)), rng.below(16) as i64),
        };
        let (directive, at) = match shape {
            Shape::One(d) | Shape::Sub(d, _) => (d, 0),
            Shape::PcRelPair(d) => (d, 12),
        };
        let is_code = directive.starts_with(".word 0x") || directive.starts_with(".half 0x");
        if is_code && aligns && rng.below(3) == 0 {
            let _ = writeln!(text, "        .p2align {}", 2 + rng.below(4));
        }
        let out = if is_code { &mut text } else { &mut data };
        let _ = writeln!(out, "        .globl {label}\n{label}:");
        match shape {
            Shape::One(d) => {
                let _ = writeln!(
                    out,
                    "        .reloc {label}, {reloc}, {target}{addend:+}\n        {d}"
                );
            }
            Shape::PcRelPair(d) => {
                let _ = writeln!(
                    out,
                    "        .reloc {label}, R_RISCV_PCREL_HI20, {target}{addend:+}\n        \
                     .word 0x00000517\n        .word 0x00000013, 0x00000013\n        \
                     .reloc ., {reloc}, {label}\n        {d}"
                );
            }
            Shape::Sub(d, sub) => {
                // The subtracted symbol: a .data symbol (the site's own block) for most, another
                // function when the target is a function (one section: a constant).
                let minus = if funcs.contains(&target) && rng.below(2) == 0 {
                    pick(rng, &funcs)
                } else {
                    pick(rng, &datas)
                };
                let first = reloc.split('+').next().unwrap_or(reloc);
                let sub_addend = rng.below(64) as i64 - 32;
                let _ = writeln!(
                    out,
                    "        .reloc {label}, {first}, {target}{addend:+}\n        \
                     .reloc {label}, {sub}, {minus}{sub_addend:+}\n        {d}"
                );
            }
        }
        sites.push(Site {
            label,
            reloc,
            target,
            addend,
            at,
            size: width(directive),
        });
    }
    (format!("{text}{data}{rodata}"), sites, abs)
}

fn assemble(dir: &Path, name: &str, asm: &str) -> PathBuf {
    assemble_text(RISCV64_LINUX, dir, name, asm)
}

/// Loaded bytes by address, and symbols.
type Output = (Vec<(u64, Vec<u8>)>, BTreeMap<String, u64>);

/// ld.lld-19's output with each section where jitlink put it (`--no-relax` unless `relax`):
/// bytes by address, symbols.
fn lld_link(
    dir: &Path,
    name: &str,
    obj: &Path,
    sections: &[(&str, u64)],
    abs: &[(String, u64)],
    relax: bool,
) -> Output {
    let options: &[&str] = if relax { &[] } else { &["--no-relax"] };
    let lld = common::lld::lld_link(dir, name, obj, sections, "", options, abs)
        .unwrap_or_else(|e| panic!("ld.lld-19 on {}: {e}", obj.display()));
    (lld.sections, lld.symbols)
}

#[test]
fn jitlink_agrees_with_lld_on_random_riscv64_relocations() {
    differential(false);
}

/// The same sites in relaxable text with alignment padding between them, which both linkers
/// shrink.
#[test]
fn jitlink_agrees_with_lld_on_riscv64_alignment_padding() {
    differential(true);
}

fn differential(aligns: bool) {
    let total = env_number("JITLINK_DIFF_RELOCS", 2000);
    let seed = env_number("JITLINK_DIFF_SEED", 7) as u64;
    let dir = scratch_dir(if aligns {
        "differential-riscv64-align"
    } else {
        "differential-riscv64"
    });
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut compared, mut objects) = (0usize, 0usize);
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    while compared < total {
        let n = SITES_PER_OBJECT.min(total - compared);
        let (asm, sites, abs) = generate(&mut rng, n, aligns);
        let name = format!("gen{objects}");
        objects += 1;
        let obj = assemble(&dir, &name, &asm);
        let bytes = std::fs::read(&obj).expect("read object");
        let image = link_at_base(&[(format!("{name}.o"), bytes)], BASE, &abs)
            .unwrap_or_else(|e| panic!("jitlink failed on {}: {e}", obj.display()));
        let placed: Vec<(&str, u64)> = [".text", ".rodata", ".data"]
            .iter()
            .filter_map(|s| Some((*s, image.section_addr(&format!("{name}.o"), s)?)))
            .collect();
        let (lld, lld_symbols) = lld_link(&dir, &name, &obj, &placed, &abs, aligns);
        let read = |addr: u64, len: usize| {
            lld.iter().find_map(|(a, b)| {
                let start = usize::try_from(addr.checked_sub(*a)?).ok()?;
                b.get(start..start + len).map(<[u8]>::to_vec)
            })
        };
        for site in &sites {
            let label = image.symbols[&site.label];
            assert_eq!(
                lld_symbols.get(&site.label),
                Some(&label),
                "{name}: {} moved",
                site.label
            );
            let p = label + site.at;
            let j = image.read(p, site.size).map(<[u8]>::to_vec);
            let l = read(p, site.size);
            // A pair also compares its auipc.
            let (j0, l0) = if site.at > 0 {
                (image.read(label, 4).map(<[u8]>::to_vec), read(label, 4))
            } else {
                (None, None)
            };
            if j.is_none() || j != l || j0 != l0 {
                failures.push(format!(
                    "{name}.s {} ({} -> {}{:+}) at {p:#x}: jitlink {j:02x?} {j0:02x?}, lld {l:02x?} {l0:02x?}",
                    site.label, site.reloc, site.target, site.addend
                ));
            }
            compared += 1;
            *by_type.entry(site.reloc).or_default() += 1;
        }
    }
    eprintln!(
        "riscv64 differential (alignment padding: {aligns}): {compared} relocations in {objects} objects compared with \
         ld.lld-19 (seed {seed}), {} types: {by_type:?}",
        by_type.len()
    );
    assert_eq!(
        by_type.len(),
        KINDS.len(),
        "every relocation type was generated"
    );
    assert_none_disagree(&failures, compared);
}
