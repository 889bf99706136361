# A jal whose target lies beyond its ±1 MiB: an error naming the file, the section, the edge
# kind and the target, never a truncated offset.
# jitlink-args: --base 0x10000000 --abs far=0x10100000
# jitlink-error: error_jal.o
# jitlink-error: .text
# jitlink-error: Jal20
# jitlink-error: against far
# jitlink-error: out of range

        .option norelax
        .text
        .globl  main
main:
        .reloc  ., R_RISCV_JAL, far
        .word   0x000000ef              # jal ra, 0
        ret
