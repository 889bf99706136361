# Relocations that only mean something together, in a relaxable object: differences of two
# labels (ADD/SET + SUB at one offset, as .eh_frame, .gcc_except_table and DWARF use them),
# and the R_RISCV_RELAX and R_RISCV_ALIGN markers. jitlink does not relax calls (a call marked
# relaxable keeps its auipc + jalr), but it shrinks ALIGN padding to what the alignment needs,
# as lld does: the label after it is aligned, and every distance across it is the shrunk one.
# jitlink-args: --base 0x10000000

        .option relax
        .option rvc
        .text
        .globl  main
        .p2align 4
main:
        .cfi_startproc
        addi    sp, sp, -16
        .cfi_def_cfa_offset 16
# R_RISCV_CALL_PLT + R_RISCV_RELAX.
# jitlink-check: (decode_operand(relaxable_call, 1) << 12) + decode_operand(relaxable_call + 4, 2) = helper - relaxable_call
relaxable_call:
        call    helper
# R_RISCV_ALIGN: the padding (14 bytes from the assembler) is shrunk so that the next label is
# 16-byte aligned; main starts 16-byte aligned, and 2 + 8 bytes precede the padding, so 6 are
# kept.
# jitlink-check: after_align[3:0] = 0
# jitlink-check: after_align - main = 16
        .p2align 4
# jitlink-check: (decode_operand(after_align, 1) << 12) + decode_operand(after_align + 4, 2) = helper - after_align
after_align:
.Lafter_align:
        call    helper
        addi    sp, sp, 16
        .cfi_def_cfa_offset 0
        ret
        .cfi_endproc
end_main:

        .globl  helper
        .p2align 2
helper:
        ret

        .data
        .p2align 3
# R_RISCV_ADD64/32/16/8 with R_RISCV_SUB64/32/16/8: the length of main.
# jitlink-check: *{8}d64 = end_main - main
d64:
        .quad   end_main - main
# jitlink-check: *{4}d32 = end_main - main
d32:
        .word   end_main - main
# jitlink-check: *{2}d16 = end_main - main
d16:
        .half   end_main - main
# jitlink-check: *{1}d8 = end_main - main
d8:
        .byte   end_main - main
# R_RISCV_SET_ULEB128 with R_RISCV_SUB_ULEB128 (one byte: the length is below 128), and the
# byte after it untouched.
# jitlink-check: *{1}uleb = end_main - main
# jitlink-check: *{1}(uleb + 1) = 0x7f
uleb:
        .uleb128 end_main - main
        .byte   0x7f
# R_RISCV_SET6 + R_RISCV_SUB6 in the low bits of a DW_CFA_advance_loc byte, and SET8/16/32
# with SUB8/16/32.
# jitlink-check: *{1}set6 = 0x40 | (after_align - main)
set6:
        .reloc  ., R_RISCV_SET6, after_align
        .reloc  ., R_RISCV_SUB6, main
        .byte   0x40
# jitlink-check: *{1}set8 = after_align - main
set8:
        .reloc  ., R_RISCV_SET8, after_align
        .reloc  ., R_RISCV_SUB8, main
        .byte   0
# jitlink-check: *{2}set16 = after_align - main
set16:
        .reloc  ., R_RISCV_SET16, after_align
        .reloc  ., R_RISCV_SUB16, main
        .half   0
# jitlink-check: *{4}set32 = after_align - main
set32:
        .reloc  ., R_RISCV_SET32, after_align
        .reloc  ., R_RISCV_SUB32, main
        .word   0
# An absolute reference to a local label after the padding (relaxing assemblers keep such
# labels in the symbol table): the label moves with the bytes.
# jitlink-check: *{8}local_ref = after_align
local_ref:
        .quad   .Lafter_align
# The same through the section symbol: `.text + 0xe` is main as assembled, after the 14 bytes
# of padding at the section's start, which are all deleted (offset 0 is aligned already).
# jitlink-check: *{8}section_ref = main
section_ref:
        .reloc  ., R_RISCV_64, .text + 0xe
        .quad   0
# A difference whose subtracted label is the place itself: PC-relative.
# jitlink-check: *{4}self_rel = (helper - self_rel)[31:0]
self_rel:
        .word   helper - self_rel
