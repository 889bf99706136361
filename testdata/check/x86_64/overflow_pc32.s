# A 32-bit PC-relative data reference to an absolute symbol 128 TiB away cannot be fixed up
# (no stub helps data): the link fails, naming the file, section, offset and target.
# jitlink-args: --base 0x10000000 --abs far_data=0x7fff00001000
# jitlink-error: overflow_pc32.o
# jitlink-error: section .text offset 0x3
# jitlink-error: far_data
        .text
        .globl  main
main:
        leaq    far_data(%rip), %rax
        retq
