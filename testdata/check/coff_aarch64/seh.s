# COFF arm64 image- and section-relative references at a fixed base: the `.pdata` of two real
# functions (ADDR32NB begin and unwind-info RVAs), `.rva` in data, `.secrel32` and `.secidx`
# (SECREL, SECTION), and adrp/add of __ImageBase. The base is the lowest address of the set,
# so an RVA is `address - 0x40000000`.
# jitlink-args: --base 0x40000000
        .text
        .globl  f
        .p2align 2
        .seh_proc f
f:
        stp     x29, x30, [sp, #-16]!
        .seh_save_fplr_x 16
        .seh_endprologue
        bl      g
ib:     adrp    x0, __ImageBase
ib_lo:  add     x0, x0, :lo12:__ImageBase
        .seh_startepilogue
        ldp     x29, x30, [sp], #16
        .seh_save_fplr_x 16
        .seh_endepilogue
        ret
        .seh_endproc

        .globl  g
        .p2align 2
        .seh_proc g
g:
        .seh_endprologue
        mov     w0, #1
        ret
        .seh_endproc

        .data
        .p2align 3
        .globl  sr
sr:     .secrel32 g
        .globl  si
si:     .secidx g
sr2:    .secrel32 dat+4
si2:    .secidx dat
rva:    .rva g+8
dat:    .quad 1, 2

# .pdata: (begin, unwind info) per function; the xdata of g is 8 bytes into .xdata.
# jitlink-check: *{4}section_addr(seh.o, .pdata) = f - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 4 = section_addr(seh.o, .xdata) - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 8 = g - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 12 = section_addr(seh.o, .xdata) + 8 - 0x40000000
# The unwind info of f: its function length in words (bits 17:0).
# jitlink-check: (*{4}section_addr(seh.o, .xdata))[17:0] = (g - f) >> 2
# SECREL: offsets in the target's section; SECTION: its 1-based number in its object.
# jitlink-check: *{4}sr = g - section_addr(seh.o, .text)
# jitlink-check: *{2}si = 1
# jitlink-check: *{4}sr2 = dat + 4 - section_addr(seh.o, .data)
# jitlink-check: *{2}si2 = 2
# jitlink-check: *{4}rva = g + 8 - 0x40000000
# __ImageBase is the base.
# jitlink-check: decode_operand(ib, 1) << 12 = 0x40000000 - (ib & 0xfffffffffffff000)
# jitlink-check: decode_operand(ib_lo, 2) = 0
