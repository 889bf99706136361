# The AArch64 thread-local relocations at a fixed base: initial exec (a GOT entry with the offset
# from the thread pointer), local exec (the offset in the instructions), TLS descriptors (a
# two-word GOT entry). The image places the block as an executable's: after the 16-byte thread
# control block. Local exec must agree with the initial-exec entry of the same variable.
# jitlink-args: --base 0x10000000

        .text
        .globl  main
        .p2align 2
main:
        ret

# R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21 and R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC.
# jitlink-check: decode_operand(ie_page, 1) = (got_addr(tls.o, tv2) >> 12) - (ie_page >> 12)
ie_page:
        adrp    x0, :gottprel:tv2
# jitlink-check: decode_operand(ie_lo12, 2) = got_addr(tls.o, tv2)[11:3]
ie_lo12:
        ldr     x0, [x0, :gottprel_lo12:tv2]

# R_AARCH64_TLSLE_ADD_TPREL_HI12 and _LO12_NC: the same offset the initial-exec entry holds.
# jitlink-check: decode_operand(le_hi12, 2) = (*{8}(got_addr(tls.o, tv2)))[23:12]
le_hi12:
        add     x0, x0, :tprel_hi12:tv2
# jitlink-check: decode_operand(le_lo12_nc, 2) = (*{8}(got_addr(tls.o, tv2)))[11:0]
le_lo12_nc:
        add     x0, x0, :tprel_lo12_nc:tv2
# R_AARCH64_TLSLE_ADD_TPREL_LO12 (checked) and the loads and stores through the thread pointer.
# jitlink-check: decode_operand(le_lo12, 2) = (*{8}(got_addr(tls.o, tv2)))[11:0]
le_lo12:
        add     x0, x0, :tprel_lo12:tv2
# jitlink-check: decode_operand(le_ldst64, 2) = (*{8}(got_addr(tls.o, tv2)))[11:3]
le_ldst64:
        ldr     x1, [x0, :tprel_lo12_nc:tv2]
# jitlink-check: decode_operand(le_ldst32, 2) = (*{8}(got_addr(tls.o, tv2)))[11:2]
le_ldst32:
        ldr     w1, [x0, :tprel_lo12:tv2]
# jitlink-check: decode_operand(le_ldst8, 2) = (*{8}(got_addr(tls.o, tv2)))[11:0]
le_ldst8:
        ldrb    w1, [x0, :tprel_lo12_nc:tv2]
# R_AARCH64_TLSLE_MOVW_TPREL_G0/G1(_NC): the offset's 16-bit groups.
# jitlink-check: decode_operand(le_g1, 1) = (*{8}(got_addr(tls.o, tv2)))[31:16]
le_g1:
        movz    x0, #:tprel_g1:tv2
# jitlink-check: decode_operand(le_g0_nc, 2) = (*{8}(got_addr(tls.o, tv2)))[15:0]
le_g0_nc:
        movk    x0, #:tprel_g0_nc:tv2
# jitlink-check: decode_operand(le_g0, 1) = (*{8}(got_addr(tls.o, tv2)))[15:0]
le_g0:
        movz    x0, #:tprel_g0:tv2

# R_AARCH64_TLSDESC_ADR_PAGE21, _LD64_LO12, _ADD_LO12, _CALL: a descriptor in the GOT.
# jitlink-check: decode_operand(desc_page, 1) = (got_addr(tls.o, tv1) >> 12) - (desc_page >> 12)
desc_page:
        adrp    x0, :tlsdesc:tv1
# jitlink-check: decode_operand(desc_ld, 2) = got_addr(tls.o, tv1)[11:3]
desc_ld:
        ldr     x1, [x0, :tlsdesc_lo12:tv1]
# jitlink-check: decode_operand(desc_add, 2) = got_addr(tls.o, tv1)[11:0]
desc_add:
        add     x0, x0, :tlsdesc_lo12:tv1
        .tlsdesccall tv1
        blr     x1

        .section .tbss, "awT", @nobits
        .p2align 4
        .globl  tv1
tv1:
        .zero   16
        .globl  tv2
tv2:
        .zero   8
