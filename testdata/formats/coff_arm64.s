// Every arm64 COFF relocation type jitlink links, checked by decoding in tests/it/coff.rs (the
// offsets of the instructions in f are fixed: the test reads them by position).
	.text
	.globl f
	.p2align 2
f:
	adrp x0, data                     // +0  PAGEBASE_REL21
	add x0, x0, :lo12:data            // +4  PAGEOFFSET_12A
	adrp x1, data+40                  // +8  PAGEBASE_REL21, addend in the instruction
	ldr w1, [x1, :lo12:data+40]       // +12 PAGEOFFSET_12L (32-bit load)
	ldr x2, [x1, :lo12:data+48]       // +16 64-bit load
	ldr q0, [x1, :lo12:data+64]       // +20 128-bit load
	ldrb w3, [x1, :lo12:data+3]       // +24 8-bit load
	bl g                              // +28 BRANCH26
	bl h                              // +32 BRANCH26 (to the second function of that section)
	adr x5, h                         // +36 REL21
	b.eq g                            // +40 BRANCH19
	tbz x0, #3, g                     // +44 BRANCH14
	ret

	// g lives in another section, so that branches to it need relocations.
	.section .text$g,"xr"
	.globl g
	.p2align 2
g:
	ret
	nop
	.globl h
h:
	nop
	ret

	.data
	.globl data
	.p2align 4
data:
	.space 128
	.globl ptr
ptr:
	.xword g+4                        // ADDR64
	.globl ptr32
ptr32:
	.word g+8                         // ADDR32
	.globl rva
rva:
	.rva g                            // ADDR32NB
	.globl rel
rel:
	.word g - rel                     // REL32 (if the assembler emits one)
	.globl secrel
secrel:
	.secrel32 g+12                    // SECREL
	.globl extp
extp:
	.xword ext                        // ADDR64 to an absolute symbol
