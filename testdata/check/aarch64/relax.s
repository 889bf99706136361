# GOT-load and stub relaxation, as lld does it: an `adrp` + `ldr` GOT load of adjacent
# instructions on one register whose target is in reach becomes `adr` + `nop` (target within
# ±1 MiB of the adrp) or `adrp` + `add`; a load on other registers, or of a target out of reach,
# keeps its GOT entry; a call to a target within ±128 MiB is direct, one beyond goes through a
# stub.
# jitlink-args: --base 0x10000000 --abs near_data=0x10000800 --abs mid_data=0x10400010 --abs far_data=0x7fff00002000 --abs near_fn=0x14000000 --abs far_fn=0x7fff00001000

        .text
        .globl  main
        .p2align 2
main:
# In ±1 MiB: adr + nop.
# jitlink-check: (*{4}n0)[31:31] = 0
# jitlink-check: decode_operand(n0, 1) = near_data - n0
# jitlink-check: *{4}n1 = 0xd503201f
n0:     adrp    x2, :got:near_data
n1:     ldr     x2, [x2, :got_lo12:near_data]
# A local function of the image, also near.
# jitlink-check: (*{4}l0)[31:31] = 0
# jitlink-check: decode_operand(l0, 1) = local_fn - l0
# jitlink-check: *{4}l1 = 0xd503201f
l0:     adrp    x3, :got:local_fn
l1:     ldr     x3, [x3, :got_lo12:local_fn]
# Beyond ±1 MiB: adrp + add (add x4, x4, #lo12).
# jitlink-check: (*{4}m0)[31:31] = 1
# jitlink-check: decode_operand(m0, 1) = (mid_data >> 12) - (m0 >> 12)
# jitlink-check: (*{4}m1)[31:10] = (0x91000000 >> 10) | mid_data[11:0]
# jitlink-check: (*{4}m1)[9:0] = (4 << 5) | 4
m0:     adrp    x4, :got:mid_data
m1:     ldr     x4, [x4, :got_lo12:mid_data]
# Out of reach: the GOT entry stays.
# jitlink-check: *{8}(got_addr(relax.o, far_data)) = far_data
# jitlink-check: decode_operand(f0, 1) = (got_addr(relax.o, far_data) >> 12) - (f0 >> 12)
# jitlink-check: decode_operand(f1, 2) = got_addr(relax.o, far_data)[11:3]
f0:     adrp    x5, :got:far_data
f1:     ldr     x5, [x5, :got_lo12:far_data]
# Different registers: the GOT entry stays (x6 might be read again).
# jitlink-check: decode_operand(r0, 1) = (got_addr(relax.o, near_fn) >> 12) - (r0 >> 12)
# jitlink-check: decode_operand(r1, 2) = got_addr(relax.o, near_fn)[11:3]
r0:     adrp    x6, :got:near_fn
r1:     ldr     x7, [x6, :got_lo12:near_fn]
# Not adjacent: the GOT entry stays.
# jitlink-check: decode_operand(a1, 2) = got_addr(relax.o, near_fn)[11:3]
a0:     adrp    x8, :got:near_fn
        nop
a1:     ldr     x8, [x8, :got_lo12:near_fn]
# Calls: within ±128 MiB directly, beyond through a stub.
# jitlink-check: decode_operand(c0, 0) = (near_fn - c0) >> 2
# jitlink-check: decode_operand(c1, 0)[25:0] = (stub_addr(relax.o, far_fn) - c1)[27:2]
c0:     bl      near_fn
c1:     bl      far_fn
        ret

        .section .text.other, "ax", @progbits
        .p2align 2
local_fn:
        ret
