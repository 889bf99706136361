# A PCREL_LO12_I whose label has no PCREL_HI20 at it: an error naming the file, the section,
# the relocation and its symbol.
# jitlink-args: --base 0x10000000
# jitlink-error: error_unpaired.o
# jitlink-error: section .text
# jitlink-error: R_RISCV_PCREL_LO12_I
# jitlink-error: not_an_auipc
# jitlink-error: unpaired low half

        .option norelax
        .text
        .globl  main
main:
not_an_auipc:
        addi    a0, a0, 1
        .reloc  ., R_RISCV_PCREL_LO12_I, not_an_auipc
        addi    a0, a0, 0
        ret
