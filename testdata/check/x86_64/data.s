# Absolute and PC-relative data and branch relocations, in range and out of range.
# jitlink-args: --base 0x10000000 --abs near_abs=0x10400000 --abs far_abs=0x7fff00001000 --abs small_abs=0x1234
#
# The image is linked at 0x10000000: targets within 2 GiB are reached directly, far_abs only
# through a stub (branches) or a 64-bit field.

        .text
        .globl  main
        .p2align 4
main:
        retq

# R_X86_64_PLT32 to a local function: a direct call.
# jitlink-check: decode_operand(call_local, 0) = main - next_pc(call_local)
call_local:
        callq   main

# R_X86_64_PLT32 to an absolute symbol in reach: still direct (no stub).
# jitlink-check: decode_operand(call_near, 0) = near_abs - next_pc(call_near)
call_near:
        callq   near_abs@PLT

# R_X86_64_PLT32 out of reach: through a stub, whose GOT slot holds the target.
# jitlink-check: decode_operand(call_far, 0) = stub_addr(data.o, far_abs) - next_pc(call_far)
# jitlink-check: *{8}(got_addr(far_abs)) = far_abs
# jitlink-check: *{4}(stub_addr(far_abs) + 2) = (got_addr(far_abs) - (stub_addr(far_abs) + 6))[31:0]
call_far:
        callq   far_abs@PLT

# A jmp (PLT32, tail call) out of reach goes through the same stub.
# jitlink-check: decode_operand(jmp_far, 0) = stub_addr(far_abs) - next_pc(jmp_far)
jmp_far:
        jmp     far_abs@PLT

# R_X86_64_PC32 data reference with an addend.
# jitlink-check: decode_operand(lea_pc32, 4) = (value + 4) - next_pc(lea_pc32)
lea_pc32:
        leaq    value+4(%rip), %rax

# R_X86_64_32S immediate and R_X86_64_32 immediate (the image lies in the low 2 GiB).
# jitlink-check: decode_operand(mov_32s, 1) = value
# jitlink-check: decode_operand(mov_32, 1) = value + 8
mov_32s:
        movq    $value, %rax
mov_32:
        movl    $value+8, %eax

# An absolute symbol as a 32-bit immediate.
# jitlink-check: decode_operand(mov_small, 1) = small_abs
mov_small:
        movl    $small_abs, %ecx

# A tied operand: addq's destination is also its first source (MCInst operands 0 and 1).
# jitlink-check: decode_operand(add_imm, 2) = small_abs
add_imm:
        addq    $small_abs, %rdx

        .data
        .p2align 3
        .globl  value
value:
        .quad   0x1122334455667788
        .size   value, 8

# R_X86_64_64 with an addend, to data and to a far absolute.
# jitlink-check: *{8}ptr64 = value + 16
# jitlink-check: *{8}(ptr64 + 8) = far_abs
ptr64:
        .quad   value + 16
        .quad   far_abs

# R_X86_64_PC64, R_X86_64_PC32, R_X86_64_PC16, R_X86_64_PC8 (all signed), to another section
# (a difference within one section is resolved by the assembler).
# jitlink-check: *{8}pc64 = far_abs - pc64
# jitlink-check: *{4}pc32 = (ro_target - pc32)[31:0]
# jitlink-check: *{2}pc16 = (ro_target + 2 - pc16)[15:0]
# jitlink-check: *{1}pc8 = (bss_target - pc8)[7:0]
pc64:
        .quad   far_abs - .
pc32:
        .long   ro_target - .
pc16:
        .short  ro_target + 2 - .
pc8:
        .byte   bss_target - .

# R_X86_64_32, R_X86_64_16, R_X86_64_8 (unsigned).
# jitlink-check: *{4}abs32 = value
# jitlink-check: *{2}abs16 = small_abs
# jitlink-check: *{1}abs8 = small_abs[7:0] + 1
abs32:
        .long   value
abs16:
        .short  small_abs
abs8:
        .byte   small_abs - 0x1200 + 1

# R_X86_64_SIZE32 and R_X86_64_SIZE64: the size of the symbol, plus the addend.
# jitlink-check: *{4}size32 = 8
# jitlink-check: *{8}size64 = 8 + 3
size32:
        .long   value@SIZE
size64:
        .quad   value@SIZE + 3

        .section .rodata,"a"
        .globl  ro_target
ro_target:
        .quad   42

# jitlink-check: section_addr(data.o, .rodata) = ro_target

        .bss
        .globl  bss_target
bss_target:
        .zero   8

# The section's address from section_addr, and a bit slice of a loaded value.
# jitlink-check: section_addr(data.o, .data) = value
# jitlink-check: (*{8}value)[63:56] = 0x11
# jitlink-check: ((*{8}value) >> 8) & 0xff = 0x77
# jitlink-check: (*{8}value)[15:0] | 0xf = 0x778f
# A load extends to the end of its expression, and a check may continue on the next line.
# jitlink-check: *{1}value+1 = \
# jitlink-check:     0x77
# jitlink-check: 1 << 4 = 16
