//! Mach-O inputs as other linkers take them: static archives whose members load on demand
//! (BSD `__.SYMDEF` archives from `llvm-ar --format=darwin`, two members with one file name),
//! universal (fat) objects and archives made by `llvm-lipo`, thin archives (`ar rcsT`, ELF and
//! Mach-O members), static constructors (`__mod_init_func`), `__eh_frame` whose FDE fields are
//! differences of two symbols (`SUBTRACTOR` pairs), and malformed symbol tables. Inputs are
//! compiled and assembled at test time; programs run in process (and in an executor), and
//! links at a fixed base are checked through the linked image.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use common::asm::{assemble_text, branch_target, ARM64_MACOS, X86_64_MACOS};
use common::formats::{formats_dir, jitlink};
use common::*;

const X86: &str = "--target=x86_64-apple-macos11";
const ARM: &str = "--target=arm64-apple-macos11";

const MAIN: &str = "int lib_two(void); int lib_three(void);\n\
                    int run(void) { return lib_two() + lib_three(); }\n";
const TWO: &str = "int lib_two(void) { return 2; }\n";
const THREE: &str = "int lib_three(void) { return 40; }\n";
/// Loading this member fails the link: it references a symbol nothing defines.
const UNUSED: &str = "int missing_symbol(void);\n\
                      int unused(void) { return missing_symbol(); }\n";

/// Runs `tool args` in `dir`; panics with its message on failure.
fn run_in(dir: &Path, tool_name: &str, args: &[&str]) {
    let mut cmd = Command::new(&tool(tool_name).path);
    cmd.current_dir(dir).args(args);
    run_tool(cmd, &format!("{tool_name} {}", args.join(" ")));
}

/// Copies `obj` to `dir/rel` (creating directories).
fn place(obj: &Path, dir: &Path, rel: &str) -> PathBuf {
    let dest = dir.join(rel);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(obj, &dest).unwrap();
    dest
}

/// The objects of the archive programs for `target`: (main.o, [two, three, unused]).
fn program_objects(target: &str) -> (PathBuf, Vec<PathBuf>) {
    let c = |name: &str, text: &str| compile_text(Compiler::Clang, &[target, "-O1"], name, text);
    (
        c("main.c", MAIN),
        vec![c("two.c", TWO), c("three.c", THREE), c("unused.c", UNUSED)],
    )
}

/// A Darwin archive in `dir` of the library objects, each stored as `a.o` (three members with
/// one file name), and main.o.
fn darwin_archive(dir: &Path, target: &str) -> (PathBuf, PathBuf) {
    let (main, lib) = program_objects(target);
    for (k, obj) in lib.iter().enumerate() {
        place(obj, dir, &format!("d{k}/a.o"));
    }
    run_in(
        dir,
        "llvm-ar-22",
        &[
            "rcs",
            "--format=darwin",
            "lib.a",
            "d0/a.o",
            "d1/a.o",
            "d2/a.o",
        ],
    );
    (place(&main, dir, "main.o"), dir.join("lib.a"))
}

fn at_base(inputs: &[&Path], base: u64) -> jitlink::Result<jitlink::image::LinkedImage> {
    let inputs: Vec<(String, Vec<u8>)> = inputs
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    jitlink::image::link_at_base(&inputs, base, &[])
}

/// The targets of the `bl`/`b` instructions of arm64 function `f` (up to its `ret`).
fn arm64_branch_targets(img: &jitlink::image::LinkedImage, f: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for k in 0..64 {
        let p = f + 4 * k;
        let insn = img.u32_at(p).expect("instruction in the image");
        if insn == 0xd65f_03c0 {
            break;
        }
        if matches!(insn & 0xfc00_0000, 0x9400_0000 | 0x1400_0000) {
            out.push(branch_target(insn, p, 26));
        }
    }
    out
}

#[test]
fn darwin_archive_members_load_on_demand() {
    let dir = scratch_dir("macho-darwin-ar");
    let (main, lib) = darwin_archive(&dir, X86);
    // In process and in an executor: lib_two + lib_three = 42; the member that defines
    // `unused` would fail the link (missing_symbol), so it must stay out.
    for options in [
        &["--entry", "run"][..],
        &["--executor", "process", "--entry", "run"],
    ] {
        let (code, _, stderr) = jitlink(options, &[main.clone(), lib.clone()]);
        assert_eq!(code, Some(42), "{options:?}: {stderr}");
    }
    // Through the library: a lookup of a name only the archive defines loads its member.
    let mut session = jitlink::Session::new(jitlink::Options::default());
    session.add_file(&lib).expect("add the archive");
    let f = session
        .lookup("lib_three")
        .expect("the member defining lib_three");
    // SAFETY: `int lib_three(void)`, linked into this process.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(f as usize) };
    assert_eq!(f(), 40);
    assert!(session.lookup("lib_two").is_ok());
    // At a fixed base, for arm64: the calls of `run` branch to the two loaded members.
    let dir = scratch_dir("macho-darwin-ar-arm64");
    let (main, lib) = darwin_archive(&dir, ARM);
    let img = at_base(&[&main, &lib], 0x4000_0000).expect("arm64 link at a fixed base");
    let targets = arm64_branch_targets(&img, img.symbol("run").unwrap());
    for callee in ["lib_two", "lib_three"] {
        let at = img.symbol(callee).unwrap();
        assert!(
            targets.contains(&at),
            "run branches to {targets:x?}, not to {callee} at {at:#x}"
        );
    }
    assert!(
        img.symbol("unused").is_err(),
        "the member defining `unused` was loaded although nothing references it"
    );
}

#[test]
fn universal_objects_and_archives_select_the_slice_being_linked() {
    let dir = scratch_dir("macho-fat");
    for (target, arch) in [(X86, "x86_64"), (ARM, "arm64")] {
        let sub = dir.join(arch);
        let (main, _) = darwin_archive(&sub, target);
        std::fs::rename(&main, dir.join(format!("main-{arch}.o"))).unwrap();
        std::fs::rename(sub.join("lib.a"), dir.join(format!("lib-{arch}.a"))).unwrap();
    }
    let lipo = |args: &[&str]| run_in(&dir, "llvm-lipo-22", args);
    lipo(&[
        "-create",
        "main-arm64.o",
        "main-x86_64.o",
        "-output",
        "main-fat.o",
    ]);
    lipo(&[
        "-create",
        "lib-arm64.a",
        "lib-x86_64.a",
        "-output",
        "lib-fat.a",
    ]);
    lipo(&["-create", "lib-arm64.a", "-output", "lib-arm64-only.a"]);
    lipo(&["-create", "main-arm64.o", "-output", "main-arm64-only.o"]);
    let f = |name: &str| dir.join(name);

    // In process (x86-64 host): the x86_64 slices, though arm64 comes first in both files.
    for inputs in [
        [f("main-fat.o"), f("lib-fat.a")],
        [f("main-x86_64.o"), f("lib-fat.a")],
        [f("main-fat.o"), f("lib-x86_64.a")],
    ] {
        let (code, _, stderr) = jitlink(&["--entry", "run"], &inputs);
        assert_eq!(code, Some(42), "{inputs:?}: {stderr}");
    }

    // At a fixed base, an arm64 link takes the arm64 slice of the universal archive.
    let img = at_base(&[&f("main-arm64.o"), &f("lib-fat.a")], 0x4000_0000)
        .expect("arm64 link of a universal archive");
    let targets = arm64_branch_targets(&img, img.symbol("run").unwrap());
    assert!(
        targets.contains(&img.symbol("lib_two").unwrap()),
        "{targets:x?}"
    );
    assert!(
        targets.contains(&img.symbol("lib_three").unwrap()),
        "{targets:x?}"
    );
    // The first object that is not universal decides the architecture (arm64 here), and the
    // universal object before it gives its arm64 slice.
    let two_arm64 = compile_text(Compiler::Clang, &[ARM, "-O1"], "two.c", TWO);
    let img = at_base(
        &[&f("main-fat.o"), &two_arm64, &f("lib-arm64.a")],
        0x4000_0000,
    )
    .expect("arm64 link with a universal object first");
    assert_eq!(img.arch, jitlink::ArchKind::AArch64);
    let targets = arm64_branch_targets(&img, img.symbol("run").unwrap());
    assert!(
        targets.contains(&img.symbol("lib_two").unwrap()),
        "{targets:x?}"
    );
    assert!(
        targets.contains(&img.symbol("lib_three").unwrap()),
        "{targets:x?}"
    );
    // ... and an x86-64 link the x86_64 slices of both.
    let img = at_base(&[&f("main-fat.o"), &f("lib-fat.a")], 0x4000_0000)
        .expect("x86-64 link of universal files");
    assert_eq!(img.arch, jitlink::ArchKind::X86_64);
    assert!(img.symbol("lib_three").is_ok());

    // No slice of the architecture: the error names the file and the slices it has.
    for (inputs, file) in [
        (
            [f("main-x86_64.o"), f("lib-arm64-only.a")],
            "lib-arm64-only.a",
        ),
        (
            [f("main-x86_64.o"), f("main-arm64-only.o")],
            "main-arm64-only.o",
        ),
    ] {
        let (code, _, stderr) = jitlink(&["--entry", "run"], &inputs);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(file) && stderr.contains("no x86_64 slice (it has: arm64)"),
            "the error should name {file} and its slices: {stderr}"
        );
    }
}

#[test]
fn thin_archives_read_members_next_to_the_archive() {
    // ELF (gcc) and Mach-O (clang) members in a subdirectory of the archive's directory;
    // jitlink runs in another directory, so a member path read against the working directory
    // would not be found.
    let x86_macho =
        |name: &str, text: &str| compile_text(Compiler::Clang, &[X86, "-O1"], name, text);
    let elf = |name: &str, text: &str| compile_text(Compiler::Gcc, &["-O1"], name, text);
    for (label, c) in [
        ("elf", &elf as &dyn Fn(&str, &str) -> PathBuf),
        ("macho", &x86_macho),
    ] {
        let dir = scratch_dir(&format!("thin-{label}"));
        place(&c("two.c", TWO), &dir, "sub/a.o");
        place(&c("three.c", THREE), &dir, "sub/b.o");
        place(&c("unused.c", UNUSED), &dir, "c.o");
        let main = place(&c("main.c", MAIN), &dir, "main.o");
        run_in(
            &dir,
            "ar",
            &["rcsT", "libthin.a", "sub/a.o", "sub/b.o", "c.o"],
        );
        let lib = dir.join("libthin.a");
        assert!(
            std::fs::read(&lib).unwrap().starts_with(b"!<thin>\n"),
            "ar rcsT made no thin archive"
        );
        let elsewhere = scratch_dir("thin-cwd");
        let mut cmd = jitlink_command(&["--entry", "run"], &[main.clone(), lib.clone()], &[]);
        cmd.current_dir(&elsewhere);
        let (code, _, stderr) = outcome(&mut cmd);
        assert_eq!(code, Some(42), "{label}: {stderr}");
        // At a fixed base, through the library.
        let img = at_base(&[&main, &lib], 0x4000_0000).expect("thin archive at a fixed base");
        assert!(img.symbol("lib_two").is_ok() && img.symbol("lib_three").is_ok());
        assert!(img.symbol("unused").is_err(), "{label}: c.o was loaded");
        // A member that is gone is an error naming the archive and the member.
        std::fs::remove_file(dir.join("sub/b.o")).unwrap();
        let (code, _, stderr) = jitlink(&["--entry", "run"], &[main, lib]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("libthin.a") && stderr.contains("sub/b.o"),
            "{stderr}"
        );
    }
}

const CTORS: &str = "int printf(const char *, ...);\n\
    static int v = 1;\n\
    __attribute__((constructor)) static void first(void) { v = v * 10 + 2; printf(\"first %d\\n\", v); }\n\
    __attribute__((constructor)) static void second(void) { v = v * 10 + 3; printf(\"second %d\\n\", v); }\n\
    __attribute__((destructor)) static void last(void) { printf(\"destructor %d\\n\", v); }\n\
    int run(void) { printf(\"run %d\\n\", v); return v; }\n";

#[test]
fn static_constructors_run() {
    // C constructors and a destructor: the same output and status as the ELF build.
    let src = generated_source("macho_ctors.c", CTORS);
    let native = compile_and_link(
        Compiler::Gcc,
        &["-O0", "-DENTRY=run"],
        &[src, formats_dir().join("entry_main.c")],
        "native-macho-ctors",
    );
    for opt in ["-O0", "-O2"] {
        let obj = compile_text(Compiler::Clang, &[X86, opt], "macho_ctors.c", CTORS);
        for options in [
            &["--entry", "run"][..],
            &["--executor", "process", "--entry", "run"],
        ] {
            let (out, verdict) = run_both_with_options(
                &format!("macho ctors {opt} {options:?}"),
                &native,
                options,
                std::slice::from_ref(&obj),
                &RunSpec::default(),
            );
            verdict.unwrap();
            assert_eq!(out.status.code(), Some(123));
        }
    }
    // A C++ global with a constructor and a destructor (`__mod_init_func`, and the destructor
    // registered with __cxa_atexit under the set's __dso_handle).
    let obj = compile_text(
        Compiler::Clangxx,
        &[X86, "-O0"],
        "macho_global.cpp",
        "extern \"C\" int printf(const char *, ...);\n\
         int g;\n\
         struct S { S() { g = 7; } ~S() { printf(\"~S %d\\n\", g); } };\n\
         S s;\n\
         extern \"C\" int run() { return g; }\n",
    );
    let (code, stdout, stderr) = jitlink(&["--entry", "run"], &[obj]);
    assert_eq!(code, Some(7), "the constructor did not run: {stderr}");
    assert_eq!(stdout, "~S 7\n", "the destructor did not run at exit");
}

/// A function `mid` that calls `leaf`, with a hand-written `__eh_frame` whose FDE's CIE
/// pointer and pc_begin are differences of two symbols, as assemblers write them: the
/// assembler emits SUBTRACTOR pairs for both.
fn eh_frame_asm(arm64: bool) -> String {
    let (body, cie_insns, fde_insns) = if arm64 {
        (
            "stp x29, x30, [sp, #-16]!\n\tbl _leaf\n\tldp x29, x30, [sp], #16\n\tret",
            // DW_CFA_def_cfa sp(31), 0
            ".byte 0x0c, 31, 0",
            // advance 1 (4 bytes); def_cfa_offset 16; x30 at cfa-8, x29 at cfa-16
            ".byte 0x41, 0x0e, 16, 0x9e, 1, 0x9d, 2",
        )
    } else {
        (
            "pushq %rbp\n\tcallq _leaf\n\tpopq %rbp\n\tretq",
            // DW_CFA_def_cfa rsp(7), 8; DW_CFA_offset rip(16), cfa-8
            ".byte 0x0c, 7, 8, 0x90, 1",
            // advance 1; def_cfa_offset 16; rbp(6) at cfa-16
            ".byte 0x41, 0x0e, 16, 0x86, 2",
        )
    };
    let (code_align, data_align, ra) = if arm64 { (4, 0x78, 30) } else { (1, 0x78, 16) };
    format!(
        "\t.section __TEXT,__text,regular,pure_instructions
	.globl _mid
	.p2align 2
_mid:
	{body}
Lmid_end:
	.section __TEXT,__eh_frame,coalesced,no_toc+strip_static_syms+live_support
EH_frame0:
	.long Lcie_end - Lcie_start
Lcie_start:
	.long 0
	.byte 1
	.asciz \"zR\"
	.byte {code_align}, {data_align}, {ra}
	.byte 1
	.byte 0x10
	{cie_insns}
	.p2align 3
Lcie_end:
_mid.eh:
	.long Lfde_end - Lfde_start
Lfde_start:
	.long Lfde_start - EH_frame0
	.quad _mid - .
	.quad Lmid_end - _mid
	.byte 0
	{fde_insns}
	.p2align 3
Lfde_end:
.subsections_via_symbols
"
    )
}

#[test]
fn eh_frame_subtractor_pairs_are_applied() {
    let dir = scratch_dir("macho-eh-sub");
    let x86 = assemble_text(X86_64_MACOS, &dir, "mid_x86", &eh_frame_asm(false));
    let arm = assemble_text(ARM64_MACOS, &dir, "mid_arm64", &eh_frame_asm(true));
    // The assembler wrote both FDE fields as SUBTRACTOR pairs.
    for obj in [&x86, &arm] {
        let mut cmd = Command::new(&tool("llvm-objdump-22").path);
        cmd.args(["-r", "--section=__eh_frame"]).arg(obj);
        let (_, out, _) = outcome(&mut cmd);
        let pairs = out.matches("RELOC_SUBTRACTOR").count();
        assert_eq!(
            pairs,
            2,
            "{}: SUBTRACTOR pairs in __eh_frame:\n{out}",
            obj.display()
        );
    }

    // In process: the host unwinder walks through `mid` (its FDE registered, and read
    // through the CIE pointer): a backtrace from `leaf` called through `mid` has one frame
    // more than from `leaf` called directly.
    const LEAF: &str = "typedef int (*trace_fn)(void *ctx, void *arg);\n\
         int _Unwind_Backtrace(trace_fn fn, void *arg);\n\
         static int count(void *c, void *a) { (void)c; ++*(int *)a; return 0; }\n\
         __attribute__((noinline)) int leaf(void) { int n = 0; _Unwind_Backtrace(count, &n); return n; }\n\
         int mid(void);\n\
         int run(void) { int direct = leaf(); int via = mid(); return 10 + via - direct; }\n";
    let macho_c = compile_text(
        Compiler::Clang,
        &[X86, "-O0", "-funwind-tables"],
        "eh_leaf.c",
        LEAF,
    );
    // The same C as ELF (gcc): `mid`'s frame lies in the Mach-O object's `__eh_frame`, the
    // others in the ELF object's `.eh_frame`; both are registered as one object.
    let elf_c = compile_text(Compiler::Gcc, &["-O0"], "eh_leaf.c", LEAF);
    for (label, c) in [("macho", macho_c), ("elf", elf_c)] {
        for inputs in [[c.clone(), x86.clone()], [x86.clone(), c.clone()]] {
            let (code, _, stderr) = jitlink(&["--entry", "run"], &inputs);
            assert_eq!(
                code,
                Some(11),
                "{label} {inputs:?}: frames through mid - direct frames + 10: {stderr}"
            );
        }
    }
    // arm64 under qemu-user, with the C by aarch64-linux-gnu-gcc (clang emits no DWARF unwind
    // information for arm64 Darwin, only compact unwind).
    let a64_c = compile_text(Compiler::Aarch64Gcc, &["-O0"], "eh_leaf.c", LEAF);
    let (code, _, stderr) = jitlink(
        &["--executor", "qemu", "--entry", "run"],
        &[a64_c, arm.clone()],
    );
    assert_eq!(code, Some(11), "arm64 under qemu: {stderr}");

    // At a fixed base, both architectures: the FDE's CIE pointer leads back to the CIE and
    // its pc_begin to `mid`.
    for obj in [&x86, &arm] {
        let bytes = std::fs::read(obj).unwrap();
        let img = jitlink::image::link_at_base(
            &[(obj.display().to_string(), bytes)],
            0x10_0000,
            &[("leaf".to_string(), 0x20_0000)],
        )
        .unwrap_or_else(|e| panic!("{}: {e}", obj.display()));
        let cie = img.symbol("EH_frame0").unwrap();
        let fde = img.symbol("mid.eh").unwrap();
        let cie_pointer = u64::from(img.u32_at(fde + 4).unwrap());
        assert_eq!(fde + 4 - cie_pointer, cie, "{}: CIE pointer", obj.display());
        let pc_begin = img.u64_at(fde + 8).unwrap();
        assert_eq!(
            (fde + 8).wrapping_add(pc_begin),
            img.symbol("mid").unwrap(),
            "{}: pc_begin",
            obj.display()
        );
    }
}

/// The index of the symbol-table entry named `name` in Mach-O object `data`, and the file
/// offset of that entry (an `nlist_64`: n_strx u32, n_type u8, n_sect u8, n_desc u16,
/// n_value u64).
fn nlist_of(data: &[u8], name: &[u8]) -> (usize, usize) {
    use object::macho::{MachHeader64, SymtabCommand};
    use object::read::macho::MachHeader;
    use object::LittleEndian as LE;
    let header = MachHeader64::<LE>::parse(data, 0).unwrap();
    let mut commands = header.load_commands(LE, data, 0).unwrap();
    while let Some(cmd) = commands.next().unwrap() {
        if let Some(st) = cmd.symtab().unwrap() {
            let st: &SymtabCommand<LE> = st;
            let (symoff, nsyms, stroff) = (
                st.symoff.get(LE) as usize,
                st.nsyms.get(LE) as usize,
                st.stroff.get(LE) as usize,
            );
            for i in 0..nsyms {
                let at = symoff + 16 * i;
                let strx = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                let s = &data[stroff + strx..];
                if s.starts_with(name) && s.get(name.len()) == Some(&0) {
                    return (i, at);
                }
            }
        }
    }
    panic!("no symbol {}", String::from_utf8_lossy(name));
}

#[test]
fn malformed_symbol_tables_are_rejected() {
    let dir = scratch_dir("macho-bad-symtab");
    let obj = assemble_text(
        X86_64_MACOS,
        &dir,
        "syms",
        "\t.text\n\t.globl _f\n_f:\n\tcallq _g\n\tretq\n\t.globl _g\n_g:\n\tretq\n",
    );
    let data = std::fs::read(&obj).unwrap();
    let (index, at) = nlist_of(&data, b"_g");
    let cases: [(&str, usize, &[u8], String); 2] = [
        (
            "noname",
            at,
            &[0, 0, 0, 0],
            format!("symbol {index} is external but has no name (string index 0)"),
        ),
        (
            "badsect",
            at + 5,
            &[9],
            format!("symbol {index} (_g) is defined in section 9, but the object has 1 sections"),
        ),
    ];
    for (label, offset, patch, message) in cases {
        let mut bad = data.clone();
        bad[offset..offset + patch.len()].copy_from_slice(patch);
        let path = dir.join(format!("{label}.o"));
        std::fs::write(&path, &bad).unwrap();
        let (code, _, stderr) = jitlink(&["--entry", "f"], std::slice::from_ref(&path));
        assert_eq!(code, Some(1), "{label}: {stderr}");
        assert!(
            stderr.contains(&format!("{label}.o")) && stderr.contains(&message),
            "{label}: the error should name the file and say `{message}`: {stderr}"
        );
        let err = jitlink::image::link_at_base(&[(label.to_string(), bad)], 0x10_0000, &[])
            .expect_err("a malformed symbol table links at a fixed base");
        assert!(err.to_string().contains(&message), "{label}: {err}");
    }
    // The unpatched object links.
    let (code, _, stderr) = jitlink(&["--noexec"], &[obj]);
    assert_eq!(code, Some(0), "{stderr}");
}
