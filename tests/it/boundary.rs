//! Section boundary symbols: `__start_NAME` / `__stop_NAME` of ELF sections named like C
//! identifiers (x86-64 in process, aarch64 under `--executor qemu`), compared with the same
//! program linked by gcc/clang; and at a fixed base with `--check`, ELF and Mach-O
//! (`section$start$SEGMENT$SECTION`), including the empty range of a missing section.

use crate::common;

use common::asm::{self, ARM64_MACOS};
use common::*;

/// Two translation units put entries in section `myset` and counters in the writable section
/// `mycount`; `main` walks both arrays through their boundary symbols, and measures a section
/// that nothing defines through weak references (0 and 0 natively, an empty range here).
const MAIN: &str = r#"#include <stdio.h>
struct entry { const char *name; int value; };
#define ENTRY(n, v) static const struct entry entry_##n \
    __attribute__((used, section("myset"), aligned(16))) = { #n, v }
ENTRY(one, 1);
ENTRY(two, 2);
int count_a __attribute__((section("mycount"))) = 10;
extern const struct entry __start_myset[], __stop_myset[];
extern int __start_mycount[], __stop_mycount[];
extern const char __start_nosuch[] __attribute__((weak));
extern const char __stop_nosuch[] __attribute__((weak));
int main(void) {
    int n = 0, sum = 0;
    for (const struct entry *e = __start_myset; e < __stop_myset; e++) {
        printf("%s = %d\n", e->name, e->value);
        n++;
        sum += e->value;
    }
    for (int *c = __start_mycount; c < __stop_mycount; c++) {
        *c += 1;
        printf("counter %d\n", *c);
    }
    printf("%d entries, sum %d, %d counters, missing section: %d bytes\n", n, sum,
           (int)(__stop_mycount - __start_mycount), (int)(__stop_nosuch - __start_nosuch));
    return n;
}
"#;

const MORE: &str = r#"struct entry { const char *name; int value; };
#define ENTRY(n, v) static const struct entry entry_##n \
    __attribute__((used, section("myset"), aligned(16))) = { #n, v }
ENTRY(three, 3);
ENTRY(four, 4);
ENTRY(five, 5);
int count_b[2] __attribute__((section("mycount"))) = { 20, 30 };
"#;

#[test]
fn start_stop_arrays_agree_with_the_native_build() {
    let sources = [
        generated_source("boundary_main.c", MAIN),
        generated_source("boundary_more.c", MORE),
    ];
    let mut failures = Failures::new("boundary-symbol programs");
    let mut natives = Vec::new();
    for compiler in [
        Compiler::Gcc,
        Compiler::Clang,
        Compiler::Aarch64Gcc,
        Compiler::Riscv64Gcc,
    ] {
        for flags in [
            &["-O0"][..],
            &["-O2"],
            &["-O2", "-fPIC"],
            &["-O1", "-fno-pic"],
        ] {
            let label = format!("{compiler:?} {}", flags.join(" "));
            let cflags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
            let jobs: Vec<CompileJob> = sources
                .iter()
                .map(|s| CompileJob::with_tool(compiler.tool(), s, &cflags))
                .collect();
            let objects = compile_all(&jobs);
            let link_flags = if flags.contains(&"-fno-pic") {
                vec!["-no-pie".to_string()]
            } else {
                Vec::new()
            };
            let exe = link_executable(
                compiler.linker(),
                &link_flags,
                &objects,
                &[],
                &format!("boundary-{label}"),
                &label,
            );
            check_run(
                &mut failures,
                &mut natives,
                label,
                compiler,
                &exe,
                &[],
                &objects,
                &RunSpec::default(),
                5,
            );
        }
    }
    failures.finish();
}

/// At a fixed base: the start and stop of a section gathered from two objects, of a
/// zero-fill section, and the empty range of a section no input has, x86-64 and aarch64 ELF.
#[test]
fn start_stop_at_a_fixed_base() {
    let dir = scratch_dir("boundary-fixed");
    for (triple, text) in [
        (asm::X86_64_LINUX, X86_64_ELF),
        (asm::AARCH64_LINUX, AARCH64_ELF),
    ] {
        let name = format!("start_stop_{}", triple.split('-').next().unwrap_or(triple));
        let main = asm::assemble_text(triple, &dir, &name, text);
        let other = asm::assemble_text(triple, &dir, &format!("{name}_b"), ELF_OTHER);
        let check = dir.join(format!("{name}.s"));
        let (code, output) = asm::run_check(
            &["--base", "0x40000000", "--check"],
            &[&check, &main, &other],
        );
        assert!(code == Some(0) && output.is_empty(), "{triple}: {output}");
    }
}

/// The second object of the ELF fixed-base tests: 24 more bytes of `myset`.
const ELF_OTHER: &str = "        .section myset,\"aw\"\n        .globl b0\nb0:     .quad 4, 5, 6\n";

const X86_64_ELF: &str = r#"
        .text
        .globl  main
main:   leaq    __start_myset(%rip), %rax
s1:     leaq    __stop_myset(%rip), %rcx
s2:     leaq    __start_zset(%rip), %rdx
s3:     leaq    __start_nosuch(%rip), %rsi
s4:     leaq    __stop_nosuch(%rip), %rdi
        retq
        .section myset,"aw"
        .globl  a0
a0:     .quad   1, 2, 3
        .section zset,"aw",@nobits
        .globl  z0
z0:     .zero   32
        .data
ptrs:   .quad   __start_myset, __stop_myset, __stop_zset
# Both objects' `myset` lie between start and stop, in input order.
# jitlink-check: decode_operand(main, 4) + next_pc(main) = a0
# jitlink-check: decode_operand(s1, 4) + next_pc(s1) = b0 + 24
# jitlink-check: *{8}ptrs = a0
# jitlink-check: *{8}(ptrs + 8) = b0 + 24
# A zero-fill section.
# jitlink-check: decode_operand(s2, 4) + next_pc(s2) = z0
# jitlink-check: *{8}(ptrs + 16) = z0 + 32
# A section no input has: an empty range.
# jitlink-check: decode_operand(s3, 4) + next_pc(s3) = decode_operand(s4, 4) + next_pc(s4)
"#;

const AARCH64_ELF: &str = r#"
        .text
        .globl  main
main:   adrp    x0, __start_myset
s1:     add     x0, x0, :lo12:__start_myset
s2:     adrp    x1, __stop_myset
s3:     add     x1, x1, :lo12:__stop_myset
s4:     adr     x2, __start_nosuch
s5:     adr     x3, __stop_nosuch
        ret
        .section myset,"aw"
        .globl  a0
a0:     .quad   1, 2, 3
        .section zset,"aw",@nobits
        .globl  z0
z0:     .zero   32
        .data
ptrs:   .quad   __start_myset, __stop_myset, __start_zset, __stop_zset
# jitlink-check: (decode_operand(main, 1) << 12) + (main & 0xfffffffffffff000) = a0 & 0xfffffffffffff000
# jitlink-check: decode_operand(s1, 2) = a0[11:0]
# jitlink-check: (decode_operand(s2, 1) << 12) + (s2 & 0xfffffffffffff000) = (b0 + 24) & 0xfffffffffffff000
# jitlink-check: decode_operand(s3, 2) = (b0 + 24)[11:0]
# jitlink-check: *{8}ptrs = a0
# jitlink-check: *{8}(ptrs + 8) = b0 + 24
# jitlink-check: *{8}(ptrs + 16) = z0
# jitlink-check: *{8}(ptrs + 24) = z0 + 32
# jitlink-check: decode_operand(s4, 1) + s4 = decode_operand(s5, 1) + s5
"#;

/// Mach-O arm64 at a fixed base: `section$start$__DATA$__myset` and `section$end$...` around
/// a section from two objects, and the empty range of a missing section.
#[test]
fn macho_section_start_end_at_a_fixed_base() {
    let dir = scratch_dir("boundary-macho");
    let main = asm::assemble_text(ARM64_MACOS, &dir, "macho_bounds", MACHO_MAIN);
    let other = asm::assemble_text(ARM64_MACOS, &dir, "macho_bounds_b", MACHO_OTHER);
    let check = dir.join("macho_bounds.s");
    let (code, output) = asm::run_check(
        &["--base", "0x40000000", "--check"],
        &[&check, &main, &other],
    );
    assert!(code == Some(0) && output.is_empty(), "{output}");
}

const MACHO_OTHER: &str =
    "        .section __DATA,__myset\n        .globl _b0\n_b0:    .quad 4, 5\n";

const MACHO_MAIN: &str = r#"
        .text
        .globl  _main
_main:  adrp    x0, section$start$__DATA$__myset@PAGE
s1:     add     x0, x0, section$start$__DATA$__myset@PAGEOFF
s2:     adrp    x1, section$end$__DATA$__myset@PAGE
s3:     add     x1, x1, section$end$__DATA$__myset@PAGEOFF
        ret
        .section __DATA,__myset
        .globl  _a0
_a0:    .quad   1, 2, 3
        .data
ptrs:   .quad   section$start$__DATA$__myset, section$end$__DATA$__myset
        .quad   section$start$__DATA$__nosuch, section$end$__DATA$__nosuch
# jitlink-check: (decode_operand(main, 1) << 12) + (main & 0xfffffffffffff000) = a0 & 0xfffffffffffff000
# jitlink-check: decode_operand(s1, 2) = a0[11:0]
# jitlink-check: (decode_operand(s2, 1) << 12) + (s2 & 0xfffffffffffff000) = (b0 + 16) & 0xfffffffffffff000
# jitlink-check: decode_operand(s3, 2) = (b0 + 16)[11:0]
# jitlink-check: *{8}ptrs = a0
# jitlink-check: *{8}(ptrs + 8) = b0 + 16
# jitlink-check: *{8}(ptrs + 8) = section_addr(macho_bounds_b.o, __DATA,__myset) + 16
# jitlink-check: *{8}(ptrs + 16) = *{8}(ptrs + 24)
"#;
