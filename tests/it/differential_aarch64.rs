//! Differential relocation testing for AArch64: random objects whose every site is an
//! instruction or data field with an `R_AARCH64_*` relocation (random targets in three sections
//! and absolute symbols, random addends), linked by jitlink at a fixed base and by ld.lld-19 at
//! the same addresses (a linker script), then compared byte for byte at every site. The types
//! compared are those whose result does not depend on where a linker puts its GOT or stubs
//! (GOT-relative types are covered by `tests/it/check_aarch64.rs`); targets stay in range, and
//! lld runs with `--no-relax` so that it keeps `adrp`+`add` pairs as they are.
//! `JITLINK_DIFF_RELOCS` sets the number of sites (default 2,000), `JITLINK_DIFF_SEED` the seed.

use crate::common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::asm::{assemble_text, AARCH64_LINUX};
use common::rng::{env_number, Random, XorShift64Star as Rng};
use common::{assert_none_disagree, scratch_dir};
use jitlink::image::link_at_base;

const BASE: u64 = 0x1000_0000;
const SITES_PER_OBJECT: usize = 250;

/// (relocation, instruction word with a zero immediate or the data directive, size of the field,
/// which targets it may take, addend granularity)
#[derive(Clone, Copy)]
enum Targets {
    /// Functions in `.text`, a few hundred bytes away.
    Near,
    /// Any symbol of the image.
    Image,
    /// Image symbols and absolute symbols far away.
    Any,
    /// Small absolute values (below 0x70).
    Small,
    /// 16-byte aligned data symbols (for scaled loads and stores).
    Aligned,
    /// Data symbols (for 16-bit PC-relative data).
    Data,
}

const KINDS: &[(&str, &str, Targets, i64)] = &[
    ("R_AARCH64_ABS64", ".xword 0", Targets::Any, 1),
    ("R_AARCH64_ABS32", ".word 0", Targets::Image, 1),
    ("R_AARCH64_ABS16", ".hword 0", Targets::Small, 1),
    ("R_AARCH64_PREL64", ".xword 0", Targets::Any, 1),
    ("R_AARCH64_PREL32", ".word 0", Targets::Image, 1),
    ("R_AARCH64_PREL16", ".hword 0", Targets::Data, 1),
    ("R_AARCH64_CALL26", ".inst 0x94000000", Targets::Image, 4),
    ("R_AARCH64_JUMP26", ".inst 0x14000000", Targets::Image, 4),
    (
        "R_AARCH64_ADR_PREL_PG_HI21",
        ".inst 0x90000000",
        Targets::Image,
        1,
    ),
    (
        "R_AARCH64_ADR_PREL_PG_HI21_NC",
        ".inst 0x90000000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_ADR_PREL_LO21",
        ".inst 0x10000000",
        Targets::Near,
        1,
    ),
    (
        "R_AARCH64_ADD_ABS_LO12_NC",
        ".inst 0x91000000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_LDST8_ABS_LO12_NC",
        ".inst 0x39400000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_LDST16_ABS_LO12_NC",
        ".inst 0x79400000",
        Targets::Aligned,
        2,
    ),
    (
        "R_AARCH64_LDST32_ABS_LO12_NC",
        ".inst 0xb9400000",
        Targets::Aligned,
        4,
    ),
    (
        "R_AARCH64_LDST64_ABS_LO12_NC",
        ".inst 0xf9400000",
        Targets::Aligned,
        8,
    ),
    (
        "R_AARCH64_LDST128_ABS_LO12_NC",
        ".inst 0x3dc00000",
        Targets::Aligned,
        16,
    ),
    (
        "R_AARCH64_LD_PREL_LO19",
        ".inst 0x58000000",
        Targets::Near,
        4,
    ),
    ("R_AARCH64_CONDBR19", ".inst 0x54000000", Targets::Near, 4),
    ("R_AARCH64_TSTBR14", ".inst 0x36000000", Targets::Near, 4),
    (
        "R_AARCH64_MOVW_UABS_G0",
        ".inst 0xd2800000",
        Targets::Small,
        1,
    ),
    (
        "R_AARCH64_MOVW_UABS_G0_NC",
        ".inst 0xf2800000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_UABS_G1",
        ".inst 0xd2a00000",
        Targets::Image,
        1,
    ),
    (
        "R_AARCH64_MOVW_UABS_G1_NC",
        ".inst 0xf2a00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_UABS_G2",
        ".inst 0xd2c00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_UABS_G2_NC",
        ".inst 0xf2c00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_UABS_G3",
        ".inst 0xd2e00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_SABS_G0",
        ".inst 0xd2800000",
        Targets::Small,
        1,
    ),
    (
        "R_AARCH64_MOVW_SABS_G1",
        ".inst 0x92a00000",
        Targets::Image,
        1,
    ),
    (
        "R_AARCH64_MOVW_SABS_G2",
        ".inst 0xd2c00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G0",
        ".inst 0xd2800000",
        Targets::Near,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G0_NC",
        ".inst 0xf2800000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G1",
        ".inst 0xd2a00000",
        Targets::Image,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G1_NC",
        ".inst 0xf2a00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G2",
        ".inst 0xd2c00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G2_NC",
        ".inst 0xf2c00000",
        Targets::Any,
        1,
    ),
    (
        "R_AARCH64_MOVW_PREL_G3",
        ".inst 0xf2e00000",
        Targets::Any,
        1,
    ),
];

struct Site {
    label: String,
    reloc: &'static str,
    target: String,
    addend: i64,
    size: usize,
}

/// One object's assembly, its sites and its absolute symbols.
fn generate(rng: &mut Rng, n: usize) -> (String, Vec<Site>, Vec<(String, u64)>) {
    let abs: Vec<(String, u64)> = (0..4)
        .flat_map(|i| {
            [
                (
                    format!("far{i}"),
                    0x7f00_0000_0000 + (rng.below(1 << 40) & !0xf),
                ),
                (format!("small{i}"), rng.below(0x70)),
            ]
        })
        .collect();
    let funcs: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
    let datas: Vec<String> = (0..4).map(|i| format!("d{i}")).collect();
    let ros: Vec<String> = (0..4).map(|i| format!("r{i}")).collect();
    let image: Vec<String> = funcs.iter().chain(&datas).chain(&ros).cloned().collect();
    let mut text = String::from("        .text\n        .p2align 4\n");
    for f in &funcs {
        let _ = writeln!(text, "        .globl {f}\n{f}:\n        ret");
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
        let (reloc, insn, targets, unit) = KINDS[rng.below(KINDS.len() as u64) as usize];
        let pick = |rng: &mut Rng, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
        let (target, addend) = match targets {
            Targets::Near => (pick(rng, &funcs), (rng.below(16) as i64 - 8) * unit),
            Targets::Image => (pick(rng, &image), (rng.below(256) as i64 - 128) * unit),
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
            Targets::Aligned => (pick(rng, &datas), rng.below(4) as i64 * 16),
            Targets::Data => (pick(rng, &datas), rng.below(64) as i64),
        };
        let label = format!("s{i}");
        let size = match insn {
            ".xword 0" => 8,
            ".hword 0" => 2,
            _ => 4,
        };
        // Data fields live in .data, instructions in .text (near the functions).
        let out = if insn.starts_with(".inst") {
            &mut text
        } else {
            &mut data
        };
        let _ = writeln!(
            out,
            "        .globl {label}\n{label}:\n        .reloc {label}, {reloc}, {target}{addend:+}\n        {insn}"
        );
        sites.push(Site {
            label,
            reloc,
            target,
            addend,
            size,
        });
    }
    (format!("{text}{data}{rodata}"), sites, abs)
}

fn assemble(dir: &Path, name: &str, asm: &str) -> PathBuf {
    assemble_text(AARCH64_LINUX, dir, name, asm)
}

/// Loaded bytes by address, and symbols.
type Output = (Vec<(u64, Vec<u8>)>, BTreeMap<String, u64>);

/// ld.lld-19's output with each section where jitlink put it (`--no-relax`: `adrp`+`add` pairs
/// stay as they are): bytes by address, symbols.
fn lld_link(
    dir: &Path,
    name: &str,
    obj: &Path,
    sections: &[(&str, u64)],
    abs: &[(String, u64)],
) -> Output {
    let lld = common::lld::lld_link(dir, name, obj, sections, "", &["--no-relax"], abs)
        .unwrap_or_else(|e| panic!("ld.lld-19 on {}: {e}", obj.display()));
    (lld.sections, lld.symbols)
}

#[test]
fn jitlink_agrees_with_lld_on_random_aarch64_relocations() {
    let total = env_number("JITLINK_DIFF_RELOCS", 2000);
    let seed = env_number("JITLINK_DIFF_SEED", 7) as u64;
    let dir = scratch_dir("differential-aarch64");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut compared, mut objects) = (0usize, 0usize);
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    while compared < total {
        let n = SITES_PER_OBJECT.min(total - compared);
        let (asm, sites, abs) = generate(&mut rng, n);
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
        let (lld, lld_symbols) = lld_link(&dir, &name, &obj, &placed, &abs);
        let read = |addr: u64, len: usize| {
            lld.iter().find_map(|(a, b)| {
                let start = usize::try_from(addr.checked_sub(*a)?).ok()?;
                b.get(start..start + len).map(<[u8]>::to_vec)
            })
        };
        for site in &sites {
            let p = image.symbols[&site.label];
            assert_eq!(
                lld_symbols.get(&site.label),
                Some(&p),
                "{name}: {} moved",
                site.label
            );
            let j = image.read(p, site.size).map(<[u8]>::to_vec);
            let l = read(p, site.size);
            if j.is_none() || j != l {
                failures.push(format!(
                    "{name}.s {} ({} -> {}{:+}) at {p:#x}: jitlink {j:02x?}, lld {l:02x?}",
                    site.label, site.reloc, site.target, site.addend
                ));
            }
            compared += 1;
            *by_type.entry(site.reloc).or_default() += 1;
        }
    }
    eprintln!(
        "aarch64 differential: {compared} relocations in {objects} objects compared with ld.lld-19 \
         (seed {seed}), {} types: {by_type:?}",
        by_type.len()
    );
    assert_eq!(
        by_type.len(),
        KINDS.len(),
        "every relocation type was generated"
    );
    assert_none_disagree(&failures, compared);
}
