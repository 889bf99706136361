# COFF x86-64 image- and section-relative references at a fixed base: the `.pdata` of two
# real functions (ADDR32NB begin, end and unwind-info RVAs), `.rva` in data, `.secrel32` and
# `.secidx` (SECREL, SECTION), and a rip-relative reference to __ImageBase. The base is the
# lowest address of the set, so an RVA is `address - 0x40000000`.
# jitlink-args: --base 0x40000000
        .text
        .globl  f
        .def    f; .scl 2; .type 32; .endef
        .seh_proc f
f:
        pushq   %rbp
        .seh_pushreg %rbp
        subq    $32, %rsp
        .seh_stackalloc 32
        .seh_endprologue
        callq   g
ib:     leaq    __ImageBase(%rip), %rax
        addq    $32, %rsp
        popq    %rbp
        retq
        .seh_endproc

        .globl  g
        .seh_proc g
g:
        .seh_endprologue
        retq
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

# .pdata: one entry (begin, end, unwind info) per function.
# jitlink-check: *{4}section_addr(seh.o, .pdata) = f - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 4 = g - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 8 = section_addr(seh.o, .xdata) - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 12 = g - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 16 = g + 1 - 0x40000000
# jitlink-check: *{4}section_addr(seh.o, .pdata) + 20 = section_addr(seh.o, .xdata) + 8 - 0x40000000
# The unwind info of f: version 1, prologue of 5 bytes, 2 unwind codes.
# jitlink-check: *{4}section_addr(seh.o, .xdata) = 0x00020501
# SECREL: offsets in the target's section; SECTION: its 1-based number in its object.
# jitlink-check: *{4}sr = g - section_addr(seh.o, .text)
# jitlink-check: *{2}si = 1
# jitlink-check: *{4}sr2 = dat + 4 - section_addr(seh.o, .data)
# jitlink-check: *{2}si2 = 2
# jitlink-check: *{4}rva = g + 8 - 0x40000000
# __ImageBase is the base.
# jitlink-check: decode_operand(ib, 4) + next_pc(ib) = 0x40000000
