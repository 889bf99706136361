# Mach-O arm64 GOT-load relaxation (ARM64_RELOC_GOT_LOAD_PAGE21 + GOT_LOAD_PAGEOFF12): to a
# target in reach the pair becomes adr + nop (within ±1 MiB) or adrp + add; out of reach it
# keeps its GOT entry. Also section_addr with a Mach-O `SEGMENT,SECTION` name.
# jitlink-args: --base 0x10000000 --abs near_data=0x10000800 --abs mid_data=0x10400010 --abs far_data=0x7fff00002000

        .text
        .globl  _main
        .p2align 2
_main:
# jitlink-check: (*{4}n0)[31:31] = 0
# jitlink-check: decode_operand(n0, 1) = near_data - n0
# jitlink-check: *{4}n1 = 0xd503201f
n0:     adrp    x8, _near_data@GOTPAGE
n1:     ldr     x8, [x8, _near_data@GOTPAGEOFF]
# jitlink-check: (*{4}m0)[31:31] = 1
# jitlink-check: decode_operand(m0, 1) = (mid_data >> 12) - (m0 >> 12)
# jitlink-check: (*{4}m1)[31:10] = (0x91000000 >> 10) | mid_data[11:0]
m0:     adrp    x9, _mid_data@GOTPAGE
m1:     ldr     x9, [x9, _mid_data@GOTPAGEOFF]
# jitlink-check: *{8}(got_addr(far_data)) = far_data
# jitlink-check: decode_operand(f1, 2) = got_addr(far_data)[11:3]
f0:     adrp    x10, _far_data@GOTPAGE
f1:     ldr     x10, [x10, _far_data@GOTPAGEOFF]
        ret
# jitlink-check: section_addr(relax.o, __TEXT,__text) = main
# jitlink-check: *{4}section_addr(relax.o, __TEXT,__text) = *{4}main
