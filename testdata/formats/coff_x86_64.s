# x86-64 COFF relocations whose results the programs cannot show, checked by decoding in
# tests/it/coff.rs (instruction offsets in f are fixed: the test reads them by position).
	.text
	.globl f
f:
	movb $1, g(%rip)            # +0  REL32_1 (c6 05 disp32 imm8)
	movw $2, g(%rip)            # +7  REL32_2 (66 c7 05 disp32 imm16)
	movl $3, g(%rip)            # +16 REL32_4 (c7 05 disp32 imm32)
	leaq __ImageBase(%rip), %rax  # +26 REL32 to __ImageBase (48 8d 05 disp32)
	ret

	.data
	.globl g
	.p2align 3
g:
	.quad 0
	.globl rva
rva:
	.rva g                      # ADDR32NB
	.globl secrel
secrel:
	.secrel32 g+4               # SECREL (g starts its section)
	.globl secidx
secidx:
	.secidx g                   # SECTION
	.globl ptr
ptr:
	.quad g+16                  # ADDR64
