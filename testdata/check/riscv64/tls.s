# The RISC-V thread-local relocations at a fixed base: local exec (the offset from the thread
# pointer in lui/addi/loads/stores), initial exec (a GOT entry holding that offset), general
# dynamic (a (module, offset - 0x800) pair: RISC-V's __tls_get_addr adds 0x800 back) and TLS
# descriptors (a two-word GOT entry). The image places the block as an executable's: at the
# thread pointer (variant I, the thread pointer just past the TCB). Local exec must agree with
# the initial-exec entry of the same variable.
# jitlink-args: --base 0x10000000

        .option norelax
        .option norvc
        .text
        .globl  main
        .p2align 2
main:
        ret

# R_RISCV_TPREL_HI20, R_RISCV_TPREL_ADD, R_RISCV_TPREL_LO12_I and _S.
# jitlink-check: (decode_operand(le_hi, 1) << 12) + decode_operand(le_lo_i, 2) = *{8}(got_addr(tls.o, tv2))
# jitlink-check: (decode_operand(le_hi, 1) << 12) + decode_operand(le_lo_s, 2) = *{8}(got_addr(tls.o, tv2))
# jitlink-check: *{8}(got_addr(tls.o, tv2)) = 0x10
le_hi:
        lui     a0, %tprel_hi(tv2)
        add     a0, a0, tp, %tprel_add(tv2)
le_lo_i:
        lw      a1, %tprel_lo(tv2)(a0)
le_lo_s:
        sw      a1, %tprel_lo(tv2)(a0)
# A variable past 2 KiB into the block: the low part is negative and the high part rounds up.
# jitlink-check: decode_operand(le_big_hi, 1) = 1
# jitlink-check: decode_operand(le_big_lo, 2) = 0xfffffffffffff810
le_big_hi:
        lui     a0, %tprel_hi(tv3)
le_big_lo:
        addi    a0, a0, %tprel_lo(tv3)

# R_RISCV_TLS_GOT_HI20 with its R_RISCV_PCREL_LO12_I: initial exec.
# jitlink-check: (decode_operand(ie_hi, 1) << 12) + decode_operand(ie_lo, 2) = got_addr(tls.o, tv2) - ie_hi
ie_hi:
        auipc   a0, %tls_ie_pcrel_hi(tv2)
ie_lo:
        ld      a0, %pcrel_lo(ie_hi)(a0)

# R_RISCV_TLS_GD_HI20 with its R_RISCV_PCREL_LO12_I: a (module, offset - 0x800) pair.
# jitlink-check: (decode_operand(gd_hi, 1) << 12) + decode_operand(gd_lo, 2) = got_addr(tls.o, tv3) - gd_hi
# jitlink-check: *{8}(got_addr(tls.o, tv3)) = 1
# jitlink-check: *{8}(got_addr(tls.o, tv3) + 8) = 0x810 - 0x800
gd_hi:
        auipc   a0, %tls_gd_pcrel_hi(tv3)
gd_lo:
        addi    a0, a0, %pcrel_lo(gd_hi)

# R_RISCV_TLSDESC_HI20, _LOAD_LO12, _ADD_LO12 and _CALL: a descriptor in the GOT whose
# argument word is the offset from the thread pointer.
# jitlink-check: (decode_operand(desc_hi, 1) << 12) + decode_operand(desc_load, 2) = got_addr(tls.o, tv1) - desc_hi
# jitlink-check: (decode_operand(desc_hi, 1) << 12) + decode_operand(desc_add, 2) = got_addr(tls.o, tv1) - desc_hi
# jitlink-check: *{8}(got_addr(tls.o, tv1) + 8) = 0
desc_hi:
        auipc   a0, %tlsdesc_hi(tv1)
desc_load:
        ld      a1, %tlsdesc_load_lo(desc_hi)(a0)
desc_add:
        addi    a0, a0, %tlsdesc_add_lo(desc_hi)
        jalr    t0, 0(a1), %tlsdesc_call(desc_hi)

        .section .tbss, "awT", @nobits
        .p2align 4
        .globl  tv1
tv1:
        .zero   16
        .globl  tv2
tv2:
        .zero   0x800
        .globl  tv3
tv3:
        .zero   8
