# R_X86_64_PC8 to a target 256 bytes away: out of the signed 8-bit range, an error.
# jitlink-args: --base 0x10000000
# jitlink-error: far_label
        .data
        .globl  near
near:
        .byte   far_label - .
        .section .rodata,"a"
        .zero   256
        .globl  far_label
far_label:
        .byte   0
