# A conditional branch whose target lies beyond its ±4 KiB: an error naming the file, the
# section, the edge kind and the target, never a truncated offset.
# jitlink-args: --base 0x10000000 --abs far=0x10100000
# jitlink-error: error_branch.o
# jitlink-error: .text
# jitlink-error: Branch12
# jitlink-error: far
# jitlink-error: out of range

        .option norelax
        .text
        .globl  main
main:
        .reloc  ., R_RISCV_BRANCH, far
        .word   0x00b50063              # beq a0, a1, 0
        ret
