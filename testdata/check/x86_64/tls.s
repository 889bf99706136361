# Thread-local relocations. At a fixed base the image is linked as an executable's static TLS:
# the TLS block (here 32 bytes: .tdata 16, .tbss 16, alignment 8) ends at the thread pointer,
# so a variable's offset from the thread pointer is its offset in the block minus 32, and the
# module id is 1. The descriptor resolver is not part of a fixed-base image (address 0).
# jitlink-args: --base 0x20000000 --abs __tls_get_addr=0x20400000

        .text
        .globl  main
        .p2align 4
main:
        retq

# Local exec, R_X86_64_TPOFF32: the offset from the thread pointer.
# jitlink-check: decode_operand(le, 4) = le_var - 32
        movq    %fs:0, %rax
le:
        leaq    le_var@TPOFF+0(%rax), %rax

# Initial exec, R_X86_64_GOTTPOFF: a GOT entry holding the offset from the thread pointer.
# jitlink-check: decode_operand(ie, 4) = got_addr(tls.o, ie_var) - next_pc(ie)
# jitlink-check: *{8}(got_addr(ie_var)) = ie_var - 32
ie:
        movq    ie_var@GOTTPOFF(%rip), %rax

# General dynamic, R_X86_64_TLSGD: a (module, offset) pair in the GOT; the call to
# __tls_get_addr is an ordinary PLT32 branch.
# jitlink-check: decode_operand(gd, 4) = got_addr(gd_var) - next_pc(gd)
# jitlink-check: *{8}(got_addr(gd_var)) = 1
# jitlink-check: *{8}(got_addr(gd_var) + 8) = gd_var
# jitlink-check: decode_operand(gd_call, 0) = __tls_get_addr - next_pc(gd_call)
gd:
        leaq    gd_var@tlsgd(%rip), %rdi
gd_call:
        callq   __tls_get_addr@PLT

# Local dynamic, R_X86_64_TLSLD (the module's pair, offset 0) and R_X86_64_DTPOFF32.
# jitlink-check: decode_operand(ld, 4) = got_addr(ld_var) - next_pc(ld)
# jitlink-check: *{8}(got_addr(ld_var)) = 1
# jitlink-check: *{8}(got_addr(ld_var) + 8) = 0
# jitlink-check: decode_operand(ld_off, 4) = ld_var + 4
ld:
        leaq    ld_var@tlsld(%rip), %rdi
        callq   __tls_get_addr@PLT
ld_off:
        leaq    ld_var@dtpoff+4(%rax), %rcx

# TLS descriptors, R_X86_64_GOTPC32_TLSDESC and R_X86_64_TLSDESC_CALL (a marker: the call
# through the descriptor stays as it is). Word 0: the resolver; word 1: the offset from the
# thread pointer (static TLS).
# jitlink-check: decode_operand(desc, 4) = got_addr(desc_var) - next_pc(desc)
# jitlink-check: *{8}(got_addr(desc_var) + 8) = desc_var - 32
# jitlink-check: *{2}desc_call = 0x10ff
desc:
        leaq    desc_var@tlsdesc(%rip), %rax
desc_call:
        callq   *desc_var@tlscall(%rax)

        .data
        .p2align 3
# R_X86_64_TPOFF64, R_X86_64_DTPOFF64 and R_X86_64_DTPMOD64 in data.
# jitlink-check: *{8}tpoff64 = le_var - 32 + 2
# jitlink-check: *{8}dtpoff64 = gd_var
# jitlink-check: *{8}dtpmod64 = 1
tpoff64:
        .quad   le_var@TPOFF + 2
dtpoff64:
        .quad   gd_var@DTPOFF
dtpmod64:
        .reloc  ., R_X86_64_DTPMOD64, gd_var
        .quad   0

        .section .tdata,"awT",@progbits
        .p2align 3
        .globl  le_var, ie_var
le_var:
        .quad   1
ie_var:
        .quad   2
        .section .tbss,"awT",@nobits
        .p2align 3
        .globl  gd_var, ld_var, desc_var
gd_var:
        .zero   4
ld_var:
        .zero   4
desc_var:
        .zero   8

# The block's layout, as the comment at the top says.
# jitlink-check: le_var = 0
# jitlink-check: ie_var = 8
# jitlink-check: gd_var = 16
# jitlink-check: ld_var = 20
# jitlink-check: desc_var = 24
