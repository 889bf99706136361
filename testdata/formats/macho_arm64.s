; Every arm64 Mach-O relocation type jitlink links, checked by decoding in tests/it/macho.rs
; (the offsets of the instructions in _f are fixed: the test reads them by position).
	.section __TEXT,__text,regular,pure_instructions
	.globl _f
	.p2align 2
_f:
	adrp x0, _data@PAGE                ; +0  PAGE21
	add x0, x0, _data@PAGEOFF          ; +4  PAGEOFF12 (add)
	adrp x1, _data+40@PAGE             ; +8  ADDEND + PAGE21
	ldr w1, [x1, _data+40@PAGEOFF]     ; +12 ADDEND + PAGEOFF12 (32-bit load)
	ldr x2, [x1, _data+48@PAGEOFF]     ; +16 64-bit load
	ldr q0, [x1, _data+64@PAGEOFF]     ; +20 128-bit load
	ldrb w3, [x1, _data+3@PAGEOFF]     ; +24 8-bit load
	adrp x4, _ext@GOTPAGE              ; +28 GOT_LOAD_PAGE21
	ldr x4, [x4, _ext@GOTPAGEOFF]      ; +32 GOT_LOAD_PAGEOFF12
	bl _g                              ; +36 BRANCH26
	bl _g+8                            ; +40 ADDEND + BRANCH26
	ret
	.globl _g
	.p2align 2
_g:
	ret
	nop
	nop

	.section __DATA,__data
	.globl _data
	.p2align 4
_data:
	.space 128
	.globl _ptr
_ptr:
	.quad _g + 4                       ; UNSIGNED (64)
	.globl _diff
_diff:
	.quad _g - _diff                   ; SUBTRACTOR + UNSIGNED (64)
	.globl _diff32
_diff32:
	.long _g - _diff32 + 12            ; SUBTRACTOR + UNSIGNED (32)
	.globl _gotp
_gotp:
	.long _ext@GOT - .                 ; POINTER_TO_GOT
.subsections_via_symbols
