# GOT relocations and GOT-load relaxation.
# jitlink-args: --base 0x10000000 --abs near_abs=0x10400000 --abs far_abs=0x7fff00001000
#
# A GOT load whose target is in reach is relaxed as a static linker would (mov → lea,
# call * → addr32 call, jmp * → jmp; nop); one whose target is out of reach, or whose
# instruction cannot be relaxed, loads from a GOT entry holding the target's address.

        .text
        .globl  main
        .p2align 4
main:
        retq
        .globl  local_fn
local_fn:
        retq

# R_X86_64_REX_GOTPCRELX on movq, target in the image: relaxed to leaq (48 8d 05).
# jitlink-check: *{1}(mov_rex_relaxed + 1) = 0x8d
# jitlink-check: decode_operand(mov_rex_relaxed, 4) = local_data - next_pc(mov_rex_relaxed)
mov_rex_relaxed:
        movq    local_data@GOTPCREL(%rip), %rax

# R_X86_64_GOTPCRELX on movl (no REX), absolute target in reach: relaxed to leal (8d 05).
# jitlink-check: *{1}mov_relaxed = 0x8d
# jitlink-check: decode_operand(mov_relaxed, 4) = near_abs - next_pc(mov_relaxed)
mov_relaxed:
        movl    near_abs@GOTPCREL(%rip), %eax

# R_X86_64_GOTPCRELX on call *: relaxed to addr32 call (67 e8).
# jitlink-check: *{2}call_relaxed = 0xe867
# jitlink-check: decode_operand(call_relaxed, 0) = local_fn - next_pc(call_relaxed)
call_relaxed:
        callq   *local_fn@GOTPCREL(%rip)

# R_X86_64_GOTPCRELX on jmp *: relaxed to jmp rel32; nop (e9 .. 90).
# jitlink-check: *{1}jmp_relaxed = 0xe9
# jitlink-check: *{1}(jmp_relaxed + 5) = 0x90
# jitlink-check: decode_operand(jmp_relaxed, 0) = local_fn - next_pc(jmp_relaxed)
jmp_relaxed:
        jmpq    *local_fn@GOTPCREL(%rip)

# Out of reach: the load stays a load, from a GOT entry holding the target.
# jitlink-check: *{1}(mov_far + 1) = 0x8b
# jitlink-check: decode_operand(mov_far, 4) = got_addr(got.o, far_abs) - next_pc(mov_far)
# jitlink-check: *{8}(got_addr(got.o, far_abs)) = far_abs
mov_far:
        movq    far_abs@GOTPCREL(%rip), %rcx

# call * and jmp * out of reach: indirect through the same GOT entry.
# jitlink-check: *{2}call_far = 0x15ff
# jitlink-check: decode_operand(call_far, 3) = got_addr(far_abs) - next_pc(call_far)
# jitlink-check: decode_operand(jmp_far, 3) = got_addr(far_abs) - next_pc(jmp_far)
call_far:
        callq   *far_abs@GOTPCREL(%rip)
jmp_far:
        jmpq    *far_abs@GOTPCREL(%rip)

# R_X86_64_REX_GOTPCRELX on an instruction that is not a mov (addq): never relaxed, so even an
# in-image target gets a GOT entry. MCInst: addq's destination is tied (operands 0 and 1),
# so the memory displacement is operand 5.
# jitlink-check: decode_operand(add_got, 5) = got_addr(local_data) - next_pc(add_got)
# jitlink-check: *{8}(got_addr(local_data)) = local_data
add_got:
        addq    local_data@GOTPCREL(%rip), %rax

# R_X86_64_GOT64 and R_X86_64_GOTPLT64: the GOT entry's offset from the GOT base.
# jitlink-check: decode_operand(got64, 1) = got_addr(local_data) - _GLOBAL_OFFSET_TABLE_
got64:
        movabsq $local_data@GOT, %rax

# R_X86_64_GOTOFF64 and R_X86_64_PLTOFF64: the target's offset from the GOT base.
# jitlink-check: decode_operand(gotoff64, 1) = local_data + 8 - _GLOBAL_OFFSET_TABLE_
# jitlink-check: decode_operand(pltoff64, 1) = local_fn - _GLOBAL_OFFSET_TABLE_
gotoff64:
        movabsq $local_data@GOTOFF+8, %rax
pltoff64:
        movabsq $local_fn@PLTOFF, %rax

# R_X86_64_GOTPC64 (large code model GOT base) and R_X86_64_GOTPC32.
# jitlink-check: decode_operand(gotpc64, 1) = _GLOBAL_OFFSET_TABLE_ - gotpc64_base
gotpc64_base:
        leaq    gotpc64_base(%rip), %rbx
gotpc64:
        movabsq $_GLOBAL_OFFSET_TABLE_-gotpc64_base, %r11
# jitlink-check: decode_operand(gotpc32, 4) = _GLOBAL_OFFSET_TABLE_ - next_pc(gotpc32)
gotpc32:
        leaq    _GLOBAL_OFFSET_TABLE_(%rip), %r15

        .data
        .p2align 3
        .globl  local_data
local_data:
        .quad   7

# R_X86_64_GOTPCREL in data and R_X86_64_GOTPCREL64: GOT entry - place.
# jitlink-check: *{4}gotpcrel_data = (got_addr(local_data) - gotpcrel_data)[31:0]
# jitlink-check: *{8}gotpcrel64 = got_addr(local_data) + 4 - gotpcrel64
gotpcrel_data:
        .long   local_data@GOTPCREL
        .p2align 3
gotpcrel64:
        .reloc  ., R_X86_64_GOTPCREL64, local_data + 4
        .quad   0
# R_X86_64_GOTPLT64 (no assembler syntax: written with .reloc): like GOT64.
# jitlink-check: *{8}gotplt64 = got_addr(local_fn) - _GLOBAL_OFFSET_TABLE_
# jitlink-check: *{8}(got_addr(local_fn)) = local_fn
gotplt64:
        .reloc  ., R_X86_64_GOTPLT64, local_fn
        .quad   0
# R_X86_64_GOTPC32 in data: the GOT base - place.
# jitlink-check: *{4}gotpc32_data = (_GLOBAL_OFFSET_TABLE_ - gotpc32_data)[31:0]
gotpc32_data:
        .long   _GLOBAL_OFFSET_TABLE_ - .
