//! COFF x86-64 objects: programs compiled by clang for x86_64-pc-windows-msvc and by
//! x86_64-w64-mingw32-gcc run in process through `jitlink --entry` (called with the Windows x64
//! convention) and agree with the ELF build of the same sources; COMDAT selections from
//! hand-written assembly.

use crate::common;
use crate::common::formats;

use common::asm::{self, AARCH64_WINDOWS, X86_64_WINDOWS};
use common::*;
use formats::*;

// COFF code reaches the host only through Windows x64 thunks, which offer no printf: the ELF
// build leaves printf out too.
const NO_PRINTF: &[&str] = &["-DNO_PRINTF"];

#[test]
fn clang_msvc_programs_agree_with_the_elf_build() {
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &["-O2", "-ffunction-sections", "-fdata-sections"],
    ] {
        let mut args = vec!["--target=x86_64-pc-windows-msvc"];
        args.extend_from_slice(opt);
        failures.extend(check_program(
            &format!("msvc {}", opt.join(" ")),
            "clang-19",
            &args,
            NO_PRINTF,
            &[],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn mingw_gcc_programs_agree_with_the_elf_build() {
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &["-O2", "-ffunction-sections", "-fdata-sections"],
    ] {
        failures.extend(check_program(
            &format!("mingw {}", opt.join(" ")),
            "x86_64-w64-mingw32-gcc",
            opt,
            NO_PRINTF,
            &[],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Two objects defining COMDAT `val` with `selection` (4 bytes holding 5, then 8 bytes holding
/// 9 when `sizes_differ`, else 4 bytes holding `second`); `run` in the first returns `val`.
fn comdat_pair(
    label: &str,
    selection: &str,
    sizes_differ: bool,
    second: u32,
) -> Vec<std::path::PathBuf> {
    let dir = scratch_dir(label);
    let first = format!(
        ".text\n.globl run\nrun:\n movl val(%rip), %eax\n ret\n\
         .section .data$val,\"dw\",{selection},val\n.globl val\n.p2align 3\nval:\n .long 5\n"
    );
    let other = if sizes_differ {
        ".quad 9".to_string()
    } else {
        format!(".long {second}")
    };
    let second_src = format!(
        ".text\n.globl other\nother:\n ret\n\
         .section .data$val,\"dw\",{selection},val\n.globl val\n.p2align 3\nval:\n {other}\n"
    );
    [("first", first), ("second", second_src)]
        .iter()
        .map(|(name, text)| assemble(&dir, name, text))
        .collect()
}

#[test]
fn comdat_selections() {
    let run = |label: &str, sel: &str, differ: bool, second: u32| {
        let objs = comdat_pair(label, sel, differ, second);
        jitlink(&["--entry", "run"], &objs)
    };
    // ANY, SAME_SIZE and EXACT_MATCH keep the first copy when the second may be dropped.
    assert_eq!(run("any", "discard", true, 0).0, Some(5));
    assert_eq!(run("same-size", "same_size", false, 7).0, Some(5));
    assert_eq!(run("exact", "same_contents", false, 5).0, Some(5));
    // LARGEST takes the larger copy, even when it comes second.
    assert_eq!(run("largest", "largest", true, 0).0, Some(9));
    assert_eq!(run("largest-first", "largest", false, 3).0, Some(5));
    // Errors: a second NODUPLICATES copy, sizes or contents that differ, NEWEST.
    for (label, sel, differ, second, what) in [
        (
            "nodup",
            "one_only",
            false,
            5,
            "duplicate definition of symbol val",
        ),
        ("same-size-bad", "same_size", true, 0, "SAME_SIZE"),
        ("exact-bad", "same_contents", false, 6, "EXACT_MATCH"),
        ("newest", "newest", false, 5, "NEWEST"),
    ] {
        let (code, _, stderr) = run(label, sel, differ, second);
        assert_eq!(code, Some(1), "[{label}] {stderr}");
        assert!(
            stderr.contains(what) && stderr.contains(".o"),
            "[{label}] expected {what:?} naming the file: {stderr}"
        );
    }
}

#[test]
fn arm64_relocations_at_a_fixed_base_decode_to_their_targets() {
    let ext = 0x1234_5678_9abc_u64;
    let base = 0x4000_0000;
    let img = formats::assembled_at_base(AARCH64_WINDOWS, "coff_arm64.s", base, ext);
    let sym = |n: &str| img.symbol(n).unwrap();
    let (f, g, h, data) = (sym("f"), sym("g"), sym("h"), sym("data"));
    let insn = |k: u64| img.u32_at(f + 4 * k).unwrap();
    let at = |k: u64| f + 4 * k;
    let page = |a: u64| a & !0xfff;
    let adrp_page = |k: u64| asm::adrp_page(insn(k), at(k));
    let lo12 = |k: u64| asm::lo12(insn(k));
    // PAGEBASE_REL21 and PAGEOFFSET_12A/12L, addends taken from the instructions.
    assert_eq!(adrp_page(0), page(data));
    assert_eq!(lo12(1), data & 0xfff);
    assert_eq!(adrp_page(2), page(data + 40));
    assert_eq!(lo12(3), (data + 40) & 0xfff);
    assert_eq!(lo12(4), (data + 48) & 0xfff);
    assert_eq!(lo12(5), (data + 64) & 0xfff);
    assert_eq!(lo12(6), (data + 3) & 0xfff);
    // BRANCH26, REL21, BRANCH19, BRANCH14.
    let branch = |k: u64, bits: u32| asm::branch_target(insn(k), at(k), bits);
    assert_eq!(branch(7, 26), g);
    assert_eq!(branch(8, 26), h);
    assert_eq!(at(9).wrapping_add(asm::adr_imm(insn(9)) as u64), h);
    assert_eq!(branch(10, 19), g);
    assert_eq!(branch(11, 14), g);
    // Data: ADDR64, ADDR32, ADDR32NB (relative to the image base, the set's lowest address),
    // REL32 (relative to the end of the field), SECREL (g starts its section), ADDR64 to an
    // absolute symbol.
    assert_eq!(img.u64_at(sym("ptr")), Some(g + 4));
    assert_eq!(img.u32_at(sym("ptr32")).map(u64::from), Some(g + 8));
    assert_eq!(img.u32_at(sym("rva")).map(u64::from), Some(g - base));
    let rel = sym("rel");
    assert_eq!(
        img.u32_at(rel).map(|v| v as i32 as i64),
        Some(g as i64 - rel as i64)
    );
    assert_eq!(img.u32_at(sym("secrel")), Some(12));
    assert_eq!(img.u64_at(sym("extp")), Some(ext));
}

#[test]
fn arm64_msvc_programs_run_under_qemu_and_agree_with_the_aarch64_elf_build() {
    // Windows arm64 code follows the AArch64 procedure call standard (variadic calls aside),
    // so freestanding code runs in an aarch64 Linux executor under qemu-user.
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &["-O2", "-ffunction-sections", "-fdata-sections"],
    ] {
        let mut args = vec!["--target=aarch64-pc-windows-msvc"];
        args.extend_from_slice(opt);
        failures.extend(check_program_under_qemu(
            &format!("coff arm64 {}", opt.join(" ")),
            "clang-19",
            &args,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn arm64_msvc_program_links_at_a_fixed_base() {
    // The checksum program compiled for aarch64-pc-windows-msvc links completely at a fixed
    // base (every relocation clang emits is translated and fits).
    for opt in ["-O0", "-O2"] {
        let objs = compile_objects(
            "clang-19",
            &["--target=aarch64-pc-windows-msvc", opt],
            PROGRAM,
        );
        let inputs: Vec<(String, Vec<u8>)> = objs
            .iter()
            .map(|o| (o.display().to_string(), std::fs::read(o).unwrap()))
            .collect();
        let absolutes: Vec<(String, u64)> = ["puts", "strlen", "memset"]
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), 0x7000_0000 + 0x100 * i as u64))
            .collect();
        let img = jitlink::image::link_at_base(&inputs, 0x4000_0000, &absolutes)
            .unwrap_or_else(|e| panic!("{opt}: {e}"));
        for entry in ENTRIES {
            assert!(img.symbol(entry).is_ok(), "{opt}: {entry} missing");
        }
    }
}

/// Rewrites the REL32 relocations at `.text` offsets 2, 10 and 18 of the assembled
/// `coff_x86_64.s` into REL32_1, REL32_2 and REL32_4 with zero stored displacements, the form
/// MSVC emits (LLVM and GNU as fold the immediate's size into a plain REL32 instead).
fn with_rel32_n(mut obj: Vec<u8>) -> Vec<u8> {
    use object::pe;
    use object::read::coff::CoffFile;
    let (rel_at, nrel, data_at) = {
        let file = CoffFile::<&[u8]>::parse(&obj[..]).unwrap();
        let text = file
            .coff_section_table()
            .section(object::SectionIndex(1))
            .unwrap();
        (
            text.pointer_to_relocations.get(object::LittleEndian) as usize,
            text.number_of_relocations.get(object::LittleEndian) as usize,
            text.pointer_to_raw_data.get(object::LittleEndian) as usize,
        )
    };
    for r in 0..nrel {
        let e = rel_at + 10 * r;
        let offset = u32::from_le_bytes(obj[e..e + 4].try_into().unwrap()) as usize;
        let typ = match offset {
            2 => pe::IMAGE_REL_AMD64_REL32_1,
            10 => pe::IMAGE_REL_AMD64_REL32_2,
            18 => pe::IMAGE_REL_AMD64_REL32_4,
            _ => continue,
        };
        obj[e + 8..e + 10].copy_from_slice(&typ.to_le_bytes());
        obj[data_at + offset..data_at + offset + 4].copy_from_slice(&[0; 4]);
    }
    obj
}

#[test]
fn x86_64_image_and_section_relative_relocations_at_a_fixed_base() {
    let dir = scratch_dir("coff-x86_64-fixed");
    let obj = asm::assemble(X86_64_WINDOWS, &formats_dir().join("coff_x86_64.s"), &dir);
    let bytes = with_rel32_n(std::fs::read(&obj).unwrap());
    let base = 0x4000_0000;
    let img =
        jitlink::image::link_at_base(&[(obj.display().to_string(), bytes)], base, &[]).unwrap();
    let sym = |n: &str| img.symbol(n).unwrap();
    let (f, g) = (sym("f"), sym("g"));
    // rip-relative operands: the displacement at `field` counts from the instruction's end.
    let target = |field: u64, end: u64| {
        (f + end).wrapping_add(img.u32_at(f + field).unwrap() as i32 as i64 as u64)
    };
    assert_eq!(target(2, 7), g, "REL32_1");
    assert_eq!(target(10, 16), g, "REL32_2");
    assert_eq!(target(18, 26), g, "REL32_4");
    assert_eq!(
        target(29, 33),
        base,
        "REL32 to __ImageBase, the lowest address"
    );
    assert_eq!(
        img.u32_at(sym("rva")).map(u64::from),
        Some(g - base),
        "ADDR32NB"
    );
    assert_eq!(img.u32_at(sym("secrel")), Some(4), "SECREL");
    let secidx = img.bytes(sym("secidx"), 2).unwrap();
    assert_eq!(
        u16::from_le_bytes([secidx[0], secidx[1]]),
        2,
        "SECTION: .data is section 2"
    );
    assert_eq!(img.u64_at(sym("ptr")), Some(g + 16), "ADDR64");
}

/// Assembles `text` for x86_64-pc-windows-msvc into `dir/name.o`.
fn assemble(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    asm::assemble_text(X86_64_WINDOWS, dir, name, text)
}

#[test]
fn associative_sections_follow_their_comdat() {
    // Both objects define `extra` in a section associated with COMDAT `val`: the second copy
    // of `val` is dropped and its associated section with it, or `extra` would be defined twice.
    let dir = scratch_dir("coff-associative");
    let object = |name: &str, val: u32, extra: u32, entry: bool| {
        let run = if entry {
            ".text\n.globl run\nrun:\n movl val(%rip), %eax\n addl extra(%rip), %eax\n ret\n"
        } else {
            ""
        };
        let text = format!(
            "{run}.section .data$val,\"dw\",discard,val\n.globl val\n.p2align 3\nval:\n .long {val}\n\
             .section .data$extra,\"dw\",associative,val\n.globl extra\nextra:\n .long {extra}\n"
        );
        assemble(&dir, name, &text)
    };
    let objs = vec![
        object("first", 5, 100, true),
        object("second", 7, 200, false),
    ];
    let (code, _, stderr) = jitlink(&["--entry", "run"], &objs);
    assert_eq!(code, Some(105), "{stderr}");
}

#[test]
fn drectve_alternate_names_bind_to_their_default() {
    // `/alternatename:alias_fn=real_fn` in .drectve: a call to alias_fn, which nothing defines,
    // reaches real_fn; other directives (/DEFAULTLIB, /EXPORT) are read and ignored.
    let dir = scratch_dir("coff-drectve");
    let text = ".text\n.globl run\nrun:\n jmp alias_fn\n\
                .globl real_fn\nreal_fn:\n movl $42, %eax\n ret\n\
                .section .drectve,\"yn\"\n.ascii \" /DEFAULTLIB:\\\"LIBCMT\\\" /alternatename:alias_fn=real_fn /EXPORT:run\"\n";
    let obj = assemble(&dir, "alt", text);
    let (code, _, stderr) = jitlink(&["--entry", "run"], &[obj]);
    assert_eq!(code, Some(42), "{stderr}");
}

/// The `--check` files of `testdata/check/coff_x86_64/` and `coff_aarch64/` (`.pdata`/`.xdata`
/// of real functions, `.rva`, `.secrel32`, `.secidx`, `__ImageBase`) hold at a fixed base.
#[test]
fn image_and_section_relative_check_files_pass() {
    asm::every_check_file_passes("coff_x86_64", X86_64_WINDOWS);
    asm::every_check_file_passes("coff_aarch64", AARCH64_WINDOWS);
}
