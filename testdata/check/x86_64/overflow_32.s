# R_X86_64_32 (a zero-extended 32-bit address) to an absolute symbol above 4 GiB: an error.
# jitlink-args: --base 0x10000000 --abs high=0x100000000
# jitlink-error: high
        .text
        .globl  main
main:
        movl    $high, %eax
        retq
