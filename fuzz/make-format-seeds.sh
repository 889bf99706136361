#!/usr/bin/env bash
# Writes fuzz seeds for every object format and architecture jitlink reads, beside the ELF
# x86-64 seeds in fuzz/seeds/: Mach-O x86-64 and arm64, COFF x86-64 and arm64 (clang-19 and
# llvm-mc-19), ELF aarch64 (aarch64-linux-gnu-gcc), ELF riscv64 (riscv64-linux-gnu-gcc and
# llvm-mc-19), and static archives of ELF and Mach-O
# objects. The sources are the freestanding programs of testdata/formats/. Needs the tools that
# .ci/tools.sh installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=fuzz/seeds
src=testdata/formats
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cc() { # TARGET NAME FLAGS... : compiles ck_*.c and hello.c for TARGET as fmt-NAME-*.o
    local target=$1 name=$2
    shift 2
    for f in ck_main ck_tables ck_funcs hello; do
        clang-19 --target="$target" -O1 -ffreestanding -fno-stack-protector "$@" -c \
            "$src/$f.c" -o "$out/fmt-$name-$f.o"
    done
}
cc x86_64-apple-macos11 macho-x86_64
cc arm64-apple-macos11 macho-arm64
cc x86_64-pc-windows-msvc coff-x86_64
cc aarch64-pc-windows-msvc coff-arm64
cc aarch64-linux-gnu elf-aarch64 -fPIC

llvm-mc-19 -triple=arm64-apple-macos11 -filetype=obj "$src/macho_arm64.s" -o "$out/fmt-macho-arm64-relocs.o"
llvm-mc-19 -triple=x86_64-apple-macos11 -filetype=obj "$src/macho_reloc.s" -o "$out/fmt-macho-x86_64-relocs.o"
llvm-mc-19 -triple=aarch64-pc-windows-msvc -filetype=obj "$src/coff_arm64.s" -o "$out/fmt-coff-arm64-relocs.o"
llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj "$src/coff_x86_64.s" -o "$out/fmt-coff-x86_64-relocs.o"
aarch64-linux-gnu-gcc -O2 -c "$src/unwind.c" -o "$out/fmt-elf-aarch64-unwind.o"
# riscv64: gcc-built C (relaxable, with ALIGN padding and ADD/SUB pairs in .eh_frame) and the
# check files, which carry every relocation type jitlink reads.
for f in ck_main ck_tables ck_funcs hello unwind; do
    riscv64-linux-gnu-gcc -O2 -fPIC -c "$src/$f.c" -o "$out/fmt-elf-riscv64-$f.o"
done
for f in relocs tls pairs; do
    llvm-mc-19 -triple=riscv64-linux-gnu -mattr=+d -target-abi=lp64d -filetype=obj \
        "testdata/check/riscv64/$f.s" \
        -o "$out/fmt-elf-riscv64-check-$f.o"
done

# Archives: two members each (the fuzz targets load members on demand).
ar rcs "$tmp/elf.a" "$out/fmt-elf-aarch64-ck_funcs.o" "$out/fmt-elf-aarch64-ck_tables.o"
ar rcs "$tmp/macho.a" "$out/fmt-macho-x86_64-ck_funcs.o" "$out/fmt-macho-x86_64-ck_tables.o"
cp "$tmp/elf.a" "$out/fmt-archive-elf-aarch64.a"
cp "$tmp/macho.a" "$out/fmt-archive-macho-x86_64.a"
ls "$out"/fmt-* | wc -l
