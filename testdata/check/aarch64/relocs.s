# Every AArch64 ELF relocation jitlink handles outside thread-local storage, checked by decoding
# the patched instructions (and reading data) at a fixed base.
# jitlink-args: --base 0x10000000 --abs far_func=0x7fff00001000 --abs small_abs=0x1234 --abs neg_abs=0xffffffffffff1234 --abs ext_data=0x10900008
#
# The image is linked at 0x10000000; far_func lies beyond ±128 MiB, so calls to it go through a
# stub that loads its GOT slot; ext_data is reached through GOT entries.

        .text
        .globl  main
        .p2align 2
main:
        ret

# R_AARCH64_CALL26 and R_AARCH64_JUMP26 to a local function.
# jitlink-check: decode_operand(call26, 0)[25:0] = (main - call26)[27:2]
call26:
        bl      main
# jitlink-check: decode_operand(jump26, 0)[25:0] = (main - jump26)[27:2]
jump26:
        b       main

# R_AARCH64_CALL26 beyond ±128 MiB: through a stub, whose GOT slot holds the target.
# jitlink-check: decode_operand(call_far, 0)[25:0] = (stub_addr(relocs.o, far_func) - call_far)[27:2]
# jitlink-check: *{8}(got_addr(relocs.o, far_func)) = far_func
call_far:
        bl      far_func

# R_AARCH64_ADR_PREL_PG_HI21 (and _NC) and R_AARCH64_ADD_ABS_LO12_NC.
# jitlink-check: decode_operand(adrp, 1) = (value >> 12) - (adrp >> 12)
adrp:
        adrp    x0, value
# jitlink-check: decode_operand(adrp_nc, 1) = (value >> 12) - (adrp_nc >> 12)
adrp_nc:
        adrp    x0, :pg_hi21_nc:value
# jitlink-check: decode_operand(add_lo12, 2) = value[11:0]
add_lo12:
        add     x0, x0, :lo12:value

# R_AARCH64_LDST8/16/32/64/128_ABS_LO12_NC: the offset in units of the access size.
# jitlink-check: decode_operand(ldst8, 2) = value[11:0]
ldst8:
        ldrb    w0, [x0, :lo12:value]
# jitlink-check: decode_operand(ldst16, 2) = value[11:1]
ldst16:
        ldrh    w0, [x0, :lo12:value]
# jitlink-check: decode_operand(ldst32, 2) = value[11:2]
ldst32:
        ldr     w0, [x0, :lo12:value]
# jitlink-check: decode_operand(ldst64, 2) = value[11:3]
ldst64:
        ldr     x0, [x0, :lo12:value]
# jitlink-check: decode_operand(ldst128, 2) = value[11:4]
ldst128:
        ldr     q0, [x0, :lo12:value]

# R_AARCH64_ADR_PREL_LO21, R_AARCH64_LD_PREL_LO19, R_AARCH64_CONDBR19, R_AARCH64_TSTBR14 to
# nearby places.
# jitlink-check: decode_operand(adr, 1) = near - adr
adr:
        adr     x0, near
# jitlink-check: decode_operand(ldr_lit, 1) = (near - ldr_lit) >> 2
ldr_lit:
        ldr     x0, near
# jitlink-check: decode_operand(condbr, 1) = (near - condbr) >> 2
condbr:
        b.eq    near
# jitlink-check: decode_operand(cbz, 1) = (near - cbz) >> 2
cbz:
        cbz     x0, near
# jitlink-check: decode_operand(tbz, 2) = (near - tbz) >> 2
tbz:
        tbz     x0, #3, near

# R_AARCH64_MOVW_UABS_G0..G3 (and _NC): the 16-bit groups of an absolute address.
# jitlink-check: decode_operand(uabs_g0, 1) = small_abs
uabs_g0:
        movz    x0, #:abs_g0:small_abs
# jitlink-check: decode_operand(uabs_g3, 1) = far_func[63:48]
uabs_g3:
        movz    x0, #:abs_g3:far_func
# jitlink-check: decode_operand(uabs_g2_nc, 2) = far_func[47:32]
uabs_g2_nc:
        movk    x0, #:abs_g2_nc:far_func
# jitlink-check: decode_operand(uabs_g1_nc, 2) = far_func[31:16]
uabs_g1_nc:
        movk    x0, #:abs_g1_nc:far_func
# jitlink-check: decode_operand(uabs_g0_nc, 2) = far_func[15:0]
uabs_g0_nc:
        movk    x0, #:abs_g0_nc:far_func
# jitlink-check: decode_operand(uabs_g1, 1) = value[31:16]
uabs_g1:
        movz    x0, #:abs_g1:value
# jitlink-check: decode_operand(uabs_g2, 1) = value[47:32]
uabs_g2:
        movz    x0, #:abs_g2:value

# R_AARCH64_MOVW_SABS_G0..G2: a negative value turns movz into movn of the inverted group.
# jitlink-check: decode_operand(sabs_g0, 1) = 0xffff - neg_abs[15:0]
# jitlink-check: (*{4}sabs_g0)[30:29] = 0
sabs_g0:
        movz    x0, #:abs_g0_s:neg_abs
# jitlink-check: decode_operand(sabs_g1, 1) = 0xffff - neg_abs[31:16]
sabs_g1:
        movz    x0, #:abs_g1_s:neg_abs
# jitlink-check: decode_operand(sabs_g2, 1) = 0xffff - neg_abs[47:32]
sabs_g2:
        movz    x0, #:abs_g2_s:neg_abs
# A positive value keeps (or makes) a movz.
# jitlink-check: decode_operand(sabs_pos, 1) = small_abs
# jitlink-check: (*{4}sabs_pos)[30:29] = 2
sabs_pos:
        movn    x0, #:abs_g0_s:small_abs

# R_AARCH64_MOVW_PREL_G0..G3 (and _NC): groups of a PC-relative offset (positive here).
# jitlink-check: decode_operand(prel_g1, 1) = (value - prel_g1)[31:16]
prel_g1:
        movz    x0, #:prel_g1:value
# jitlink-check: decode_operand(prel_g0_nc, 2) = (value - prel_g0_nc)[15:0]
prel_g0_nc:
        movk    x0, #:prel_g0_nc:value
# jitlink-check: decode_operand(prel_g0, 1) = (near - prel_g0)[15:0]
prel_g0:
        movz    x0, #:prel_g0:near
# jitlink-check: decode_operand(prel_g1_nc, 2) = (value - prel_g1_nc)[31:16]
prel_g1_nc:
        movk    x0, #:prel_g1_nc:value
# jitlink-check: decode_operand(prel_g2, 1) = (value - prel_g2)[47:32]
prel_g2:
        movz    x0, #:prel_g2:value
# jitlink-check: decode_operand(prel_g2_nc, 2) = (value - prel_g2_nc)[47:32]
prel_g2_nc:
        movk    x0, #:prel_g2_nc:value
# jitlink-check: decode_operand(prel_g3, 2) = (value - prel_g3)[63:48]
prel_g3:
        movk    x0, #:prel_g3:value

# GOT: R_AARCH64_ADR_GOT_PAGE + R_AARCH64_LD64_GOT_LO12_NC, R_AARCH64_LD64_GOTPAGE_LO15,
# R_AARCH64_GOT_LD_PREL19; the entry holds the target. The pair loads into another register
# than its adrp's, so it is not relaxed (relax.s covers relaxation).
# jitlink-check: *{8}(got_addr(relocs.o, ext_data)) = ext_data
# jitlink-check: decode_operand(got_page, 1) = (got_addr(relocs.o, ext_data) >> 12) - (got_page >> 12)
got_page:
        adrp    x0, :got:ext_data
# jitlink-check: decode_operand(got_lo12, 2) = got_addr(relocs.o, ext_data)[11:3]
got_lo12:
        ldr     x1, [x0, :got_lo12:ext_data]
# jitlink-check: decode_operand(gotpage_lo15, 2) = (got_addr(relocs.o, ext_data) - (_GLOBAL_OFFSET_TABLE_ >> 12 << 12)) >> 3
gotpage_lo15:
        ldr     x0, [x0, #:gotpage_lo15:ext_data]
# jitlink-check: decode_operand(got_prel19, 1) = (got_addr(relocs.o, ext_data) - got_prel19) >> 2
got_prel19:
        ldr     x0, :got:ext_data

# Targets in another section, so that the assembler leaves relocations for the references above.
        .section .text.near, "ax", @progbits
        .p2align 2
near:
        ret

        .data
        .p2align 4
        .globl  value
value:
        .xword  0x1122334455667788
        .xword  0

# R_AARCH64_ABS64, ABS32, ABS16, PREL64, PREL32, PREL16.
# jitlink-check: *{8}abs64 = value + 8
abs64:
        .xword  value + 8
# jitlink-check: *{4}abs32 = value
abs32:
        .word   value
# jitlink-check: *{2}abs16 = small_abs
abs16:
        .hword  small_abs
        .p2align 3
# jitlink-check: *{8}prel64 = near - prel64
prel64:
        .xword  near - .
# jitlink-check: *{4}prel32 = (near - prel32)[31:0]
prel32:
        .word   near - .
# jitlink-check: *{2}prel16 = (rodata_near - prel16)[15:0]
prel16:
        .hword  rodata_near - .

        .section .rodata, "a", @progbits
rodata_near:
        .xword  1
