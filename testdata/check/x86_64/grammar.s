# The check language as LLVM's jitlink-check accepts it: arithmetic on labels wherever an
# address is expected, bit slices of any simple expression, and loads from zero-fill.
# jitlink-args: --base 0x40000000
        .text
        .globl  main
main:   nop
        leaq    v(%rip), %rax
        movl    $5, %eax
        retq
        .data
        .p2align 3
v:      .quad   0x1122334455667788
        .bss
        .p2align 3
z:      .zero   64

# The lea one byte after main, the mov 8 bytes after it.
# jitlink-check: decode_operand(main + 1, 4) = v - next_pc(main + 1)
# jitlink-check: decode_operand(main + 8, 1) = 5
# jitlink-check: next_pc(main + 8) = main + 13
# jitlink-check: (decode_operand(main + 1, 4) + next_pc(main + 1))[11:0] = v[11:0]
# jitlink-check: (*{8}v)[63:56] = 0x11
# jitlink-check: (*{8}v)[15:8] = *{1}v + 1
# jitlink-check: *{8}z = 0
# jitlink-check: *{8}z + 56 = 0
# jitlink-check: *{8}section_addr(grammar.o, .bss) + 8 = 0
