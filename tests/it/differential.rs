//! Differential relocation testing against ld.lld-19.
//!
//! A seeded generator writes assembly whose relocation sites use every x86-64 relocation type
//! jitlink supports outside TLS, with random targets (global and local symbols in three
//! sections, absolute symbols near and far) and random addends. llvm-mc-19 assembles it;
//! jitlink links it at a fixed base ([`jitlink::image::link_at_base`]); ld.lld-19 links it with
//! a linker script that puts every output section where jitlink put it and defines the same
//! absolute symbols. Then every site is compared. What is compared (the rules):
//!
//! - direct kinds (`64 32 32S 16 8 PC64 PC32 PC16 PC8 PLT32 SIZE32 SIZE64`): the field's
//!   bytes, exactly;
//! - GOT-base kinds: the two linkers put `_GLOBAL_OFFSET_TABLE_` in different places, so
//!   `GOTOFF64`/`PLTOFF64` compare `field + GOT` (= S + A) and `GOTPC32`/`GOTPC64` compare
//!   `field - GOT` (= A - P);
//! - GOT-entry kinds (`GOTPCREL GOT64` in data, where no relaxation applies): the entry's
//!   address is derived from the field in each output, and the 8-byte values in the entries
//!   are compared. `GOTPCRELX`/`REX_GOTPCRELX` are generated only on real instructions: in
//!   data they are ill-formed (lld then rewrites the bytes before the field as an instruction);
//! - instructions (`mov`/`call *`/`jmp *` through `@GOTPCREL`, `call`/`jmp` to a symbol): both
//!   are decoded and their effective targets compared (the address a branch goes to; the
//!   address a `lea` computes or the value a `mov` loads), since the linkers may choose
//!   different but equivalent forms (a GOT load or a relaxed `lea`).
//!
//! Out-of-range cases are linked one relocation per object: lld reports an overflow exactly
//! when jitlink reports an error, and when both succeed the bytes agree. Branches to targets
//! beyond ±2 GiB are not generated: lld rejects them in a static link, jitlink routes them
//! through a stub (the `--check` tests cover that). TLS is covered by the `--check` tests
//! (a static executable's TLS relaxations are not jitlink's in-process model), and so are
//! `GOTPCREL64` and `GOTPLT64`, which ld.lld-19 does not implement ("unknown relocation").
//!
//! `JITLINK_DIFF_RELOCS=N` sets how many relocations the main test generates (default 2,000);
//! `JITLINK_DIFF_SEED=S` the seed.

use crate::common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::asm::{assemble_text, X86_64_LINUX};
use common::lld::LldImage;
use common::rng::{env_number as count_from_env, Random, SplitMix64 as Rng};
use common::{assert_none_disagree, scratch_dir};
use iced_x86::{Code, Decoder, DecoderOptions, Mnemonic, OpKind};
use jitlink::image::{link_at_base, LinkedImage};

const BASE: u64 = 0x1000_0000;
/// Relocation sites per generated object.
const SITES_PER_OBJECT: usize = 250;

/// How a site is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    /// `size` bytes, exactly.
    Exact(usize),
    /// `field + GOT` (a signed 8-byte field).
    PlusGot,
    /// `field - GOT` (a signed field of `size` bytes).
    MinusGot(usize),
    /// The value in the GOT entry at `P + field - A` (a signed field of `size` bytes).
    EntryPcRel(usize),
    /// The value in the GOT entry at `GOT + field - A`.
    EntryGotRel,
    /// The instruction's effective target.
    Insn,
}

#[derive(Clone, Debug)]
struct Site {
    label: String,
    reloc: &'static str,
    target: String,
    addend: i64,
    compare: Compare,
}

/// Absolute symbols of a generated object.
fn absolutes(rng: &mut Rng) -> Vec<(String, u64)> {
    let mut abs = Vec::new();
    for i in 0..4 {
        // Near: within ±1 GiB of the image, and below 2 GiB (32-bit absolute kinds reach it).
        let near =
            BASE + 0x0100_0000 + rng.below(0x3000_0000) - if i % 2 == 0 { 0x0800_0000 } else { 0 };
        abs.push((format!("abs_near{i}"), near));
        abs.push((format!("abs_far{i}"), 0x7f00_0000_0000 + rng.below(1 << 40)));
        abs.push((format!("abs_small{i}"), rng.below(0x70)));
    }
    abs
}

#[derive(Default)]
struct DataSites {
    asm: String,
    count: usize,
}

impl DataSites {
    fn add(
        &mut self,
        reloc: &'static str,
        target: String,
        addend: i64,
        compare: Compare,
        sites: &mut Vec<Site>,
    ) {
        let label = format!("s{}", self.count);
        self.count += 1;
        let _ = writeln!(
            self.asm,
            "{label}:\n        .reloc {label}, {reloc}, {target}{addend:+}\n        .quad 0"
        );
        sites.push(Site {
            label,
            reloc,
            target,
            addend,
            compare,
        });
    }
}

/// Writes one object's assembly with `n` sites.
fn generate(rng: &mut Rng, n: usize) -> (String, Vec<Site>, Vec<(String, u64)>) {
    let abs = absolutes(rng);
    let funcs: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
    let datas: Vec<String> = (0..4).map(|i| format!("d{i}")).collect();
    let ros: Vec<String> = (0..4).map(|i| format!("r{i}")).collect();
    let near: Vec<String> = (0..4).map(|i| format!("abs_near{i}")).collect();
    let far: Vec<String> = (0..4).map(|i| format!("abs_far{i}")).collect();
    let small: Vec<String> = (0..4).map(|i| format!("abs_small{i}")).collect();
    let sized: Vec<String> = funcs.iter().chain(&datas).chain(&ros).cloned().collect();
    let image_syms: Vec<String> = sized.clone();
    let mut reach32 = image_syms.clone();
    reach32.extend(near.iter().cloned());
    let mut any = reach32.clone();
    any.extend(far.iter().cloned());
    any.extend(small.iter().cloned());

    let mut text = String::new();
    let mut sites = Vec::new();
    // Data sites are 8-byte slots `s<k>` in .data, so that PC8/PC16 targets can be chosen
    // among nearby slots.
    let mut data = DataSites::default();
    for i in 0..n {
        let kind = rng.below(27);
        let a_small = rng.range(-64, 64);
        match kind {
            0 => data.add(
                "R_X86_64_64",
                rng.pick(&any).clone(),
                rng.range(-1 << 40, 1 << 40),
                Compare::Exact(8),
                &mut sites,
            ),
            1 => data.add(
                "R_X86_64_32",
                rng.pick(&reach32).clone(),
                rng.range(0, 0x10000),
                Compare::Exact(4),
                &mut sites,
            ),
            2 => data.add(
                "R_X86_64_32S",
                rng.pick(&reach32).clone(),
                rng.range(-0x10000, 0x10000),
                Compare::Exact(4),
                &mut sites,
            ),
            3 => data.add(
                "R_X86_64_16",
                rng.pick(&small).clone(),
                rng.range(0, 0x7000),
                Compare::Exact(2),
                &mut sites,
            ),
            4 => data.add(
                "R_X86_64_8",
                rng.pick(&small).clone(),
                rng.range(0, 0x0f),
                Compare::Exact(1),
                &mut sites,
            ),
            5 => data.add(
                "R_X86_64_PC64",
                rng.pick(&any).clone(),
                rng.range(-1 << 40, 1 << 40),
                Compare::Exact(8),
                &mut sites,
            ),
            6 => data.add(
                "R_X86_64_PC32",
                rng.pick(&reach32).clone(),
                rng.range(-0x10000, 0x10000),
                Compare::Exact(4),
                &mut sites,
            ),
            7 | 8 => {
                // PC16 / PC8 to a nearby slot (written before or after this one).
                let (reloc, span, size) = if kind == 7 {
                    ("R_X86_64_PC16", 40, 2)
                } else {
                    ("R_X86_64_PC8", 6, 1)
                };
                let other = data.count.saturating_sub(rng.below(span) as usize);
                data.add(
                    reloc,
                    format!("s{other}"),
                    rng.range(-16, 16),
                    Compare::Exact(size),
                    &mut sites,
                )
            }
            9 => data.add(
                "R_X86_64_PLT32",
                rng.pick(&reach32).clone(),
                rng.range(-0x1000, 0x1000),
                Compare::Exact(4),
                &mut sites,
            ),
            10 => data.add(
                "R_X86_64_SIZE32",
                rng.pick(&sized).clone(),
                rng.range(0, 64),
                Compare::Exact(4),
                &mut sites,
            ),
            11 => data.add(
                "R_X86_64_SIZE64",
                rng.pick(&sized).clone(),
                a_small,
                Compare::Exact(8),
                &mut sites,
            ),
            12 => data.add(
                "R_X86_64_GOTOFF64",
                rng.pick(&any).clone(),
                rng.range(-1 << 20, 1 << 20),
                Compare::PlusGot,
                &mut sites,
            ),
            13 => data.add(
                "R_X86_64_PLTOFF64",
                rng.pick(&image_syms).clone(),
                a_small,
                Compare::PlusGot,
                &mut sites,
            ),
            14 => data.add(
                "R_X86_64_GOTPC32",
                "_GLOBAL_OFFSET_TABLE_".into(),
                rng.range(-0x1000, 0x1000),
                Compare::MinusGot(4),
                &mut sites,
            ),
            15 => data.add(
                "R_X86_64_GOTPC64",
                "_GLOBAL_OFFSET_TABLE_".into(),
                rng.range(-1 << 30, 1 << 30),
                Compare::MinusGot(8),
                &mut sites,
            ),
            16 => data.add(
                "R_X86_64_GOTPCREL",
                rng.pick(&any).clone(),
                a_small,
                Compare::EntryPcRel(4),
                &mut sites,
            ),
            17 => data.add(
                "R_X86_64_GOTPCREL",
                rng.pick(&any).clone(),
                a_small,
                Compare::EntryPcRel(4),
                &mut sites,
            ),
            18 => data.add(
                "R_X86_64_GOTPCREL",
                rng.pick(&any).clone(),
                a_small,
                Compare::EntryPcRel(4),
                &mut sites,
            ),
            19 => data.add(
                "R_X86_64_GOTPCREL",
                rng.pick(&any).clone(),
                a_small,
                Compare::EntryPcRel(4),
                &mut sites,
            ),
            20 => data.add(
                "R_X86_64_GOT64",
                rng.pick(&any).clone(),
                a_small,
                Compare::EntryGotRel,
                &mut sites,
            ),
            21 => data.add(
                "R_X86_64_GOT64",
                rng.pick(&any).clone(),
                a_small,
                Compare::EntryGotRel,
                &mut sites,
            ),
            _ => {
                // Instructions in .text.
                let label = format!("t{i}");
                let (insn, reloc, target) = match kind {
                    22 => {
                        let t = rng.pick(&any).clone();
                        (
                            format!("movq {t}@GOTPCREL(%rip), %rax"),
                            "R_X86_64_REX_GOTPCRELX",
                            t,
                        )
                    }
                    23 => {
                        let t = rng.pick(&any).clone();
                        (
                            format!("callq *{t}@GOTPCREL(%rip)"),
                            "R_X86_64_GOTPCRELX",
                            t,
                        )
                    }
                    24 => {
                        let t = rng.pick(&any).clone();
                        (format!("jmpq *{t}@GOTPCREL(%rip)"), "R_X86_64_GOTPCRELX", t)
                    }
                    25 => {
                        let t = rng.pick(&reach32).clone();
                        (format!("callq {t}"), "R_X86_64_PLT32", t)
                    }
                    _ => {
                        let t = rng.pick(&reach32).clone();
                        let off = rng.range(-8, 8);
                        (format!("leaq {t}{off:+}(%rip), %rcx"), "R_X86_64_PC32", t)
                    }
                };
                let _ = writeln!(text, "{label}:\n        {insn}");
                sites.push(Site {
                    label,
                    reloc,
                    target,
                    addend: 0,
                    compare: Compare::Insn,
                });
            }
        }
    }
    let mut asm = String::from("        .text\n");
    for (i, f) in funcs.iter().enumerate() {
        let _ = writeln!(
            asm,
            "        .globl {f}\n        .type {f}, @function\n{f}:\n        .fill {}, 1, 0x90\n        retq\n        .size {f}, . - {f}",
            i * 3
        );
    }
    asm.push_str(&text);
    asm.push_str("        retq\n        .section .rodata,\"a\"\n");
    for (i, r) in ros.iter().enumerate() {
        let _ = writeln!(
            asm,
            "        .globl {r}\n{r}:\n        .zero {}\n        .size {r}, {}",
            8 + i * 5,
            8 + i * 5
        );
    }
    asm.push_str("        .data\n        .p2align 3\n");
    for (i, d) in datas.iter().enumerate() {
        let _ = writeln!(
            asm,
            "        .globl {d}\n{d}:\n        .zero {}\n        .size {d}, {}",
            16 + i * 8,
            16 + i * 8
        );
    }
    asm.push_str(&data.asm);
    (asm, sites, abs)
}

fn assemble(dir: &Path, name: &str, asm: &str) -> PathBuf {
    assemble_text(X86_64_LINUX, dir, name, asm)
}

/// Links `obj` with ld.lld-19, each section where `image` has it (else at its `placement`
/// address), the GOT at a fixed address. `Err` holds lld's message.
fn lld_link(
    dir: &Path,
    name: &str,
    obj: &Path,
    image: Option<&LinkedImage>,
    placement: &[(&str, u64)],
    abs: &[(String, u64)],
) -> Result<LldImage, String> {
    let placed: Vec<(&str, u64)> = placement
        .iter()
        .map(|&(sec, addr)| {
            let at = image.and_then(|im| im.section_addr(&format!("{name}.o"), sec));
            (sec, at.unwrap_or(addr))
        })
        .collect();
    let got = format!(
        "  .got {:#x} : {{ *(.got) }}\n  .got.plt : {{ *(.got.plt) }}\n",
        BASE + 0x40_0000
    );
    common::lld::lld_link(dir, name, obj, &placed, &got, &[], abs)
}

/// A view of one linker's output for comparisons.
trait View {
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
    fn got(&self) -> Option<u64>;
}

impl View for LinkedImage {
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.read(addr, len).map(<[u8]>::to_vec)
    }
    fn got(&self) -> Option<u64> {
        self.symbols.get("_GLOBAL_OFFSET_TABLE_").copied()
    }
}

impl View for LldImage {
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.read(addr, len).map(<[u8]>::to_vec)
    }
    fn got(&self) -> Option<u64> {
        self.symbols.get("_GLOBAL_OFFSET_TABLE_").copied()
    }
}

fn signed(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b[..bytes.len()].copy_from_slice(bytes);
    let shift = 64 - 8 * bytes.len() as u32;
    (i64::from_le_bytes(b) << shift) >> shift
}

fn load8(v: &dyn View, addr: u64) -> Result<u64, String> {
    v.bytes(addr, 8)
        .map(|b| signed(&b) as u64)
        .ok_or(format!("GOT entry {addr:#x} outside the output"))
}

/// The value a site stands for in one output (see the module comment).
fn meaning(v: &dyn View, site: &Site, p: u64) -> Result<u64, String> {
    let field = |n| {
        v.bytes(p, n)
            .ok_or(format!("site {p:#x} outside the output"))
    };
    let got = || v.got().ok_or("no _GLOBAL_OFFSET_TABLE_".to_string());
    Ok(match site.compare {
        Compare::Exact(n) => signed(&field(n)?) as u64,
        Compare::PlusGot => (signed(&field(8)?) as u64).wrapping_add(got()?),
        Compare::MinusGot(n) => (signed(&field(n)?) as u64).wrapping_sub(got()?),
        Compare::EntryPcRel(n) => {
            let entry = p
                .wrapping_add(signed(&field(n)?) as u64)
                .wrapping_sub(site.addend as u64);
            load8(v, entry)?
        }
        Compare::EntryGotRel => {
            let entry = got()?
                .wrapping_add(signed(&field(8)?) as u64)
                .wrapping_sub(site.addend as u64);
            load8(v, entry)?
        }
        Compare::Insn => {
            let bytes = (1..=15)
                .rev()
                .find_map(|n| v.bytes(p, n))
                .ok_or(format!("site {p:#x} outside the output"))?;
            let mut d = Decoder::with_ip(64, &bytes, p, DecoderOptions::NONE);
            let ins = d.decode();
            match (ins.mnemonic(), ins.op_kind(0), ins.op_count()) {
                (Mnemonic::Call | Mnemonic::Jmp, OpKind::NearBranch64, _) => {
                    ins.near_branch_target()
                }
                (Mnemonic::Call | Mnemonic::Jmp, OpKind::Memory, _)
                    if ins.is_ip_rel_memory_operand() =>
                {
                    load8(v, ins.ip_rel_memory_address())?
                }
                (Mnemonic::Lea, _, 2) if ins.is_ip_rel_memory_operand() => {
                    ins.ip_rel_memory_address()
                }
                (Mnemonic::Mov, _, 2) if ins.is_ip_rel_memory_operand() => {
                    load8(v, ins.ip_rel_memory_address())?
                }
                // `mov $imm32, %reg` (a static linker's non-PIC GOT relaxation).
                _ if ins.code() == Code::Mov_rm64_imm32 => ins.immediate(1),
                _ => return Err(format!("unexpected instruction {:?} at {p:#x}", ins.code())),
            }
        }
    })
}

const PLACEMENT: [(&str, u64); 3] = [
    (".text", BASE),
    (".rodata", BASE + 0x10_0000),
    (".data", BASE + 0x20_0000),
];

#[test]
fn jitlink_agrees_with_lld_on_random_relocations() {
    let total = count_from_env("JITLINK_DIFF_RELOCS", 2000);
    let seed = count_from_env("JITLINK_DIFF_SEED", 7) as u64;
    let dir = scratch_dir("differential");
    let mut rng = Rng(seed);
    let mut compared = 0usize;
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut obj_index = 0;
    while compared < total {
        let n = SITES_PER_OBJECT.min(total - compared);
        let (asm, sites, abs) = generate(&mut rng, n);
        let name = format!("gen{obj_index}");
        obj_index += 1;
        let obj = assemble(&dir, &name, &asm);
        let bytes = std::fs::read(&obj).unwrap();
        let image = link_at_base(&[(format!("{name}.o"), bytes)], BASE, &abs)
            .unwrap_or_else(|e| panic!("jitlink failed on {}: {e}", obj.display()));
        let lld = lld_link(&dir, &name, &obj, Some(&image), &PLACEMENT, &abs)
            .unwrap_or_else(|e| panic!("ld.lld-19 failed on {}: {e}", obj.display()));
        for site in &sites {
            let p = image.symbols[&site.label];
            assert_eq!(
                lld.symbols.get(&site.label),
                Some(&p),
                "{name}: {} placed differently",
                site.label
            );
            let j = meaning(&image, site, p);
            let l = meaning(&lld, site, p);
            if j != l || j.is_err() {
                failures.push(format!(
                    "{name}.s {} ({} -> {}{:+}, {:?}): jitlink {j:x?}, lld {l:x?}",
                    site.label, site.reloc, site.target, site.addend, site.compare
                ));
            }
            compared += 1;
            *by_type.entry(site.reloc).or_default() += 1;
        }
    }
    eprintln!(
        "differential: {compared} relocations compared with ld.lld-19 (seed {seed}): {by_type:?}"
    );
    assert_none_disagree(&failures, compared);
}

/// Out-of-range values, one relocation per object: lld overflows exactly when jitlink fails.
#[test]
fn jitlink_reports_an_error_where_lld_overflows() {
    let total = count_from_env("JITLINK_DIFF_OVERFLOWS", 120);
    let seed = count_from_env("JITLINK_DIFF_SEED", 7) as u64 ^ 0x55;
    let dir = scratch_dir("differential-overflow");
    let mut rng = Rng(seed);
    // (type, field bits, signed) for PC-relative and absolute kinds that can overflow.
    let kinds: [(&str, u32, bool, bool); 7] = [
        ("R_X86_64_32", 32, false, false),
        ("R_X86_64_32S", 32, true, false),
        ("R_X86_64_16", 16, false, false),
        ("R_X86_64_8", 8, false, false),
        ("R_X86_64_PC32", 32, true, true),
        ("R_X86_64_PC16", 16, true, true),
        ("R_X86_64_PC8", 8, true, true),
    ];
    let mut failures = Vec::new();
    let (mut errors, mut oks) = (0, 0);
    for i in 0..total {
        let &(reloc, bits, is_signed, pcrel) = rng.pick(&kinds);
        // The site is the first byte of .data, which both linkers place at P.
        let p = PLACEMENT[2].1;
        let (lo, hi): (i128, i128) = if is_signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            // lld accepts unsigned fields of 8/16 bits as signed too; stay near the top edge.
            (0, (1i128 << bits) - 1)
        };
        let edge = if rng.below(2) == 0 { lo } else { hi };
        let value = edge + rng.range(-3, 3) as i128;
        let addend = rng.range(-100, 100) as i128;
        // value = S + A (- P): solve for S.
        let s = value - addend + if pcrel { p as i128 } else { 0 };
        if s < 0 {
            continue;
        }
        let abs = vec![("target".to_string(), s as u64)];
        let asm = format!(
            "        .data\n        .globl site\nsite:\n        .reloc site, {reloc}, target{addend:+}\n        .quad 0\n"
        );
        let name = format!("ovf{i}");
        let obj = assemble(&dir, &name, &asm);
        let bytes = std::fs::read(&obj).unwrap();
        let image = link_at_base(&[(format!("{name}.o"), bytes)], p, &abs);
        let lld = lld_link(&dir, &name, &obj, None, &[(".data", p)], &abs);
        let desc = format!("{name}: {reloc} S={s:#x} A={addend} value={value:#x}");
        match (&image, &lld) {
            (Ok(im), Ok(l)) => {
                oks += 1;
                let size = (bits / 8) as usize;
                if im.read(p, size).map(<[u8]>::to_vec) != l.read(p, size).map(<[u8]>::to_vec) {
                    failures.push(format!("{desc}: bytes differ"));
                }
            }
            (Err(_), Err(e)) => {
                errors += 1;
                if !e.contains("out of range") {
                    failures.push(format!("{desc}: lld failed for another reason: {e}"));
                }
            }
            (Ok(_), Err(e)) => failures.push(format!("{desc}: lld: {e}, jitlink succeeded")),
            (Err(e), Ok(_)) => failures.push(format!("{desc}: jitlink: {e}, lld succeeded")),
        }
    }
    eprintln!("differential overflow cases: {errors} errors in both, {oks} in range in both");
    assert!(
        errors > 0 && oks > 0,
        "the generator must produce both kinds"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
