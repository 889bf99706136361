# Every RISC-V ELF relocation jitlink handles outside thread-local storage and outside ADD/SUB
# pairs, checked by decoding the patched instructions (and reading data) at a fixed base.
# Assembled without relaxation, so every reference to a global symbol keeps its relocation.
# jitlink-args: --base 0x10000000 --abs far_func=0x7fff00001000 --abs ext_data=0x10900008 --abs small_abs=0x1234
#
# An auipc's immediate is hi20 and the instruction completing it holds lo12: the two decoded
# operands give back the whole value as (hi << 12) + lo. far_func lies beyond ±2 GiB, so calls
# to it go through a stub that loads its GOT slot; ext_data is reached through a GOT entry.

        .option norelax
        .option norvc
        .text
        .globl  main
        .p2align 2
main:
        ret

# R_RISCV_CALL_PLT and R_RISCV_CALL: auipc + jalr to a global function.
# jitlink-check: (decode_operand(call_plt, 1) << 12) + decode_operand(call_plt + 4, 2) = target - call_plt
call_plt:
        call    target
# jitlink-check: (decode_operand(call_plain, 1) << 12) + decode_operand(call_plain + 4, 2) = target - call_plain
call_plain:
        .reloc  ., R_RISCV_CALL, target
        auipc   ra, 0
        jalr    ra, 0(ra)

# A call beyond ±2 GiB: through a stub, whose GOT slot holds the target; the stub's own
# auipc + ld address the slot.
# jitlink-check: (decode_operand(call_far, 1) << 12) + decode_operand(call_far + 4, 2) = stub_addr(relocs.o, far_func) - call_far
# jitlink-check: *{8}(got_addr(relocs.o, far_func)) = far_func
# jitlink-check: (decode_operand(stub_addr(relocs.o, far_func), 1) << 12) + decode_operand(stub_addr(relocs.o, far_func) + 4, 2) = got_addr(relocs.o, far_func) - stub_addr(relocs.o, far_func)
call_far:
        call    far_func

# R_RISCV_PCREL_HI20 with R_RISCV_PCREL_LO12_I and _S, which name the auipc's label; one low
# half follows other instructions, and the high half has an addend.
# jitlink-check: (decode_operand(pcrel_hi, 1) << 12) + decode_operand(pcrel_lo_i, 2) = value - pcrel_hi
# jitlink-check: (decode_operand(pcrel_hi, 1) << 12) + decode_operand(pcrel_lo_s, 2) = value - pcrel_hi
pcrel_hi:
        auipc   a0, %pcrel_hi(value)
pcrel_lo_i:
        addi    a1, a0, %pcrel_lo(pcrel_hi)
        addi    a2, a2, 1
        addi    a3, a3, 1
pcrel_lo_s:
        sd      a1, %pcrel_lo(pcrel_hi)(a0)
# jitlink-check: (decode_operand(pcrel_hi_a, 1) << 12) + decode_operand(pcrel_lo_a, 2) = value + 0x7f4 - pcrel_hi_a
pcrel_hi_a:
        auipc   a0, %pcrel_hi(value + 0x7f4)
pcrel_lo_a:
        lw      a1, %pcrel_lo(pcrel_hi_a)(a0)

# The PC-relative address of an undefined weak symbol (0, out of reach of the image): the auipc
# becomes lui (as GNU ld makes it), and the pair yields 0 wherever it runs.
        .weak   missing
# jitlink-check: *{4}weak_hi = 0x00000537
# jitlink-check: decode_operand(weak_lo, 2) = 0
weak_hi:
        auipc   a0, %pcrel_hi(missing)
weak_lo:
        addi    a0, a0, %pcrel_lo(weak_hi)

# R_RISCV_HI20, R_RISCV_LO12_I and R_RISCV_LO12_S: absolute addresses (the image is below 2 GiB).
# jitlink-check: (decode_operand(abs_hi, 1) << 12) + decode_operand(abs_lo_i, 2) = value + 0x900
# jitlink-check: (decode_operand(abs_hi, 1) << 12) + decode_operand(abs_lo_s, 2) = value + 0x900
abs_hi:
        lui     a0, %hi(value + 0x900)
abs_lo_i:
        addi    a0, a0, %lo(value + 0x900)
abs_lo_s:
        sw      a1, %lo(value + 0x900)(a0)

# R_RISCV_GOT_HI20 with its R_RISCV_PCREL_LO12_I: a GOT entry holding the address.
# jitlink-check: (decode_operand(got_hi, 1) << 12) + decode_operand(got_lo, 2) = got_addr(relocs.o, ext_data) - got_hi
# jitlink-check: *{8}(got_addr(relocs.o, ext_data)) = ext_data
got_hi:
        auipc   a0, %got_pcrel_hi(ext_data)
got_lo:
        ld      a0, %pcrel_lo(got_hi)(a0)

# R_RISCV_BRANCH, R_RISCV_JAL, R_RISCV_RVC_BRANCH, R_RISCV_RVC_JUMP to a global label nearby.
# llvm-mc turns a branch to a symbol it cannot resolve into a branch around a jump, so these
# instructions are written as their encodings with a zero offset, each with its relocation.
# jitlink-check: decode_operand(branch, 2) = near - branch
branch:
        .reloc  ., R_RISCV_BRANCH, near
        .word   0x00b50063              # beq a0, a1, 0
# jitlink-check: decode_operand(jal_, 1) = near - jal_
jal_:
        .reloc  ., R_RISCV_JAL, near
        .word   0x000000ef              # jal ra, 0
# jitlink-check: decode_operand(c_beqz, 1) = near - c_beqz
c_beqz:
        .reloc  ., R_RISCV_RVC_BRANCH, near
        .half   0xc101                  # c.beqz a0, 0
# jitlink-check: decode_operand(c_j, 0) = near - c_j
c_j:
        .reloc  ., R_RISCV_RVC_JUMP, near
        .half   0xa001                  # c.j 0
# Backwards too, to a label in another section.
# jitlink-check: decode_operand(back, 2) = target - back
back:
        .reloc  ., R_RISCV_BRANCH, target
        .word   0x00b51063              # bne a0, a1, 0
# jitlink-check: next_pc(c_j) = c_j + 2
# jitlink-check: next_pc(back) = back + 4

        .globl  near
        .p2align 2
near:
        ret

        .section .text.target, "ax", @progbits
        .globl  target
        .p2align 2
target:
        ret

        .data
        .globl  value
        .p2align 3
value:
        .quad   0
# R_RISCV_64 and R_RISCV_32 (absolute), R_RISCV_32_PCREL.
# jitlink-check: *{8}d64 = value + 8
d64:
        .quad   value + 8
# jitlink-check: *{4}d32 = small_abs
d32:
        .word   small_abs
# jitlink-check: *{4}pcrel32 = (target - pcrel32)[31:0]
pcrel32:
        .reloc  ., R_RISCV_32_PCREL, target
        .word   0
