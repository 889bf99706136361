# An ADD32/SUB32 pair whose two labels lie in two other sections, neither the one the field is
# in: the distance between them is not known when the graph is built, and it is an error
# naming the file, the section, the relocation and both symbols.
# jitlink-args: --base 0x10000000
# jitlink-error: error_difference.o
# jitlink-error: section .data
# jitlink-error: R_RISCV_ADD32 against one
# jitlink-error: one minus two

        .option relax
        .text
        .globl  one
one:
        ret
        .section .text.two, "ax", @progbits
        .globl  two
two:
        ret

        .data
        .reloc  ., R_RISCV_ADD32, one
        .reloc  ., R_RISCV_SUB32, two
        .word   0
