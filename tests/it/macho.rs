//! Mach-O x86-64 objects: programs compiled by clang for x86_64-apple-macos run in process
//! through `jitlink --entry` and agree with the ELF build of the same sources; hand-written
//! assembly checks SUBTRACTOR pairs and section-relative relocations; thread-local variables
//! are rejected with a clear error.

use crate::common;
use crate::common::formats;

use common::asm::{adrp_page, assemble, branch_target, lo12, ARM64_MACOS, X86_64_MACOS};
use common::*;
use formats::*;

const TARGET: &str = "--target=x86_64-apple-macos11";

#[test]
fn programs_agree_with_the_elf_build() {
    let mut failures = Vec::new();
    for opt in [
        &["-O0"][..],
        &["-O2"],
        &[
            "-O2",
            "-ffunction-sections",
            "-fno-asynchronous-unwind-tables",
        ],
    ] {
        let mut args = vec![TARGET];
        args.extend_from_slice(opt);
        failures.extend(check_program(
            &format!("macho {}", opt.join(" ")),
            "clang-19",
            &args,
            &[],
            &[],
        ));
    }
    // The same objects in a child process (`--executor process`).
    failures.extend(check_program(
        "macho executor",
        "clang-19",
        &[TARGET, "-O2"],
        &[],
        &["--executor", "process"],
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn printf_from_macho_code() {
    // run_hello calls printf, puts, strlen and memset of the host C library.
    let objs = compile_objects("clang-19", &[TARGET, "-O1"], &["hello"]);
    let native = native_program("run_hello", &[]);
    let (out, verdict) = run_both_with_options(
        "macho printf",
        &native,
        &["--entry", "run_hello"],
        &objs,
        &RunSpec::default(),
    );
    verdict.unwrap();
    assert!(
        out.stdout_text().contains("characters"),
        "printf printed nothing: {}",
        out.stdout_text()
    );
}

#[test]
fn subtractor_pairs_and_section_relative_relocations() {
    // The program checks its own relocated values and returns the number of the first failed
    // check (0 when all hold): SUBTRACTOR with the subtrahend in the fixup's block (64 and 32
    // bits), with the minuend there (a negated delta), and SIGNED/UNSIGNED relocations against
    // a section (non-extern) rather than a symbol.
    let dir = scratch_dir("macho-asm");
    let obj = assemble(X86_64_MACOS, &formats_dir().join("macho_reloc.s"), &dir);
    let (code, _, stderr) = jitlink(&["--entry", "run"], &[obj]);
    assert_eq!(
        code,
        Some(0),
        "a relocation check failed (exit code = check number): {stderr}"
    );
}

#[test]
fn thread_local_variables_are_rejected() {
    let obj = compile_text(
        Compiler::Clang,
        &[TARGET, "-O2"],
        "tlv.c",
        "__thread int t = 3;\nint run(void) { return t; }\n",
    );
    let (code, _, stderr) = jitlink(&["--entry", "run"], &[obj]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("tlv.o") && stderr.contains("TLV"),
        "the error should name the file and the TLV runtime: {stderr}"
    );
}

#[test]
fn arm64_programs_run_under_qemu_and_agree_with_the_aarch64_elf_build() {
    // arm64 Mach-O code that does not depend on the OS runs in an aarch64 Linux executor
    // under qemu-user.
    let mut failures = Vec::new();
    for opt in ["-O0", "-O2"] {
        failures.extend(check_program_under_qemu(
            &format!("macho arm64 {opt}"),
            "clang-19",
            &["--target=arm64-apple-macos11", opt],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn arm64_relocations_at_a_fixed_base_decode_to_their_targets() {
    let ext = 0x1234_5678_9abc_u64;
    let base = 0x4000_0000;
    let img = formats::assembled_at_base(ARM64_MACOS, "macho_arm64.s", base, ext);
    let sym = |n: &str| img.symbol(n).unwrap();
    let (f, g, data) = (sym("f"), sym("g"), sym("data"));
    let insn = |k: u64| img.u32_at(f + 4 * k).unwrap();
    let page = |a: u64| a & !0xfff;
    // PAGE21 / PAGEOFF12 (add), with and without ADDEND, and the load sizes.
    assert_eq!(adrp_page(insn(0), f), page(data));
    assert_eq!(lo12(insn(1)), data & 0xfff);
    assert_eq!(adrp_page(insn(2), f + 8), page(data + 40));
    assert_eq!(lo12(insn(3)), (data + 40) & 0xfff);
    assert_eq!(lo12(insn(4)), (data + 48) & 0xfff);
    assert_eq!(lo12(insn(5)), (data + 64) & 0xfff);
    assert_eq!(lo12(insn(6)), (data + 3) & 0xfff);
    // GOT_LOAD_PAGE21 + GOT_LOAD_PAGEOFF12 address a GOT entry holding ext.
    let got_entry = adrp_page(insn(7), f + 28) + lo12(insn(8));
    assert_eq!(img.u64_at(got_entry), Some(ext));
    // BRANCH26, with and without ADDEND.
    let bl = |k: u64| {
        let i = insn(k);
        assert_eq!(i & 0xfc00_0000, 0x9400_0000, "not bl: {i:#010x}");
        branch_target(i, f + 4 * k, 26)
    };
    assert_eq!(bl(9), g);
    assert_eq!(bl(10), g + 8);
    // Data: UNSIGNED, SUBTRACTOR pairs (64 and 32 bits), POINTER_TO_GOT.
    assert_eq!(img.u64_at(sym("ptr")), Some(g + 4));
    assert_eq!(img.u64_at(sym("diff")), Some(g.wrapping_sub(sym("diff"))));
    let d32 = img.u32_at(sym("diff32")).unwrap() as i32 as i64;
    assert_eq!(d32, g as i64 - sym("diff32") as i64 + 12);
    let gotp = sym("gotp");
    let to_got = gotp.wrapping_add(img.u32_at(gotp).unwrap() as i32 as i64 as u64);
    assert_eq!(img.u64_at(to_got), Some(ext));
}

#[test]
fn eh_frame_is_registered_with_the_host_unwinder() {
    // Backtraces from inside Mach-O code count the frames of its functions: __eh_frame was
    // linked with its implicit FDE-to-function edges and registered.
    let native = compile_and_link(
        Compiler::Gcc,
        &["-O1", "-DENTRY=run_unwind"],
        &[
            formats_dir().join("unwind.c"),
            formats_dir().join("entry_main.c"),
        ],
        "native-unwind",
    );
    // -ffreestanding (which compile_objects passes) turns unwind tables off for Darwin targets.
    for opt in ["-O0", "-O2"] {
        let objs = compile_objects("clang-19", &[TARGET, opt, "-funwind-tables"], &["unwind"]);
        let (out, verdict) = run_both_with_options(
            &format!("macho unwind {opt}"),
            &native,
            &["--entry", "run_unwind"],
            &objs,
            &RunSpec::default(),
        );
        verdict.unwrap();
        assert_eq!(
            out.status.code(),
            Some(13),
            "the ELF build counts three frames"
        );
    }
}

/// The `--check` files of `testdata/check/macho_arm64/` (GOT-load relaxation, `section_addr`
/// with a `SEGMENT,SECTION` name) hold at a fixed base.
#[test]
fn arm64_check_files_pass() {
    common::asm::every_check_file_passes("macho_arm64", common::asm::ARM64_MACOS);
}
