	.section __TEXT,__text,regular,pure_instructions
	.globl _run
_run:
	movq _diff(%rip), %rax
	leaq _diff(%rip), %rcx
	addq %rcx, %rax
	leaq _b(%rip), %rcx
	addq $8, %rcx
	cmpq %rcx, %rax
	jne Lfail1
	movslq _ndiff(%rip), %rdx
	leaq _ndiff(%rip), %rsi
	addq %rsi, %rdx
	leaq _a(%rip), %rdi
	cmpq %rdi, %rdx
	jne Lfail2
	movslq _neg(%rip), %rdx
	leaq _b(%rip), %rsi
	addq %rsi, %rdx
	leaq _neg(%rip), %rdi
	cmpq %rdi, %rdx
	jne Lfail3
	movl $0x12345678, L_x+4(%rip)
	movb $0x5a, L_x+1(%rip)
	movw $0x1234, L_x+2(%rip)
	cmpl $0x12345678, _c+4(%rip)
	jne Lfail4
	cmpb $0x5a, _c+1(%rip)
	jne Lfail4
	cmpw $0x1234, _c+2(%rip)
	jne Lfail4
	movl $0x11223344, L_y+4(%rip)
	movb $0x77, L_y+1(%rip)
	movw $0x5566, L_y+2(%rip)
	movq _yptr(%rip), %rax
	cmpl $0x11223344, 4(%rax)
	jne Lfail5
	cmpb $0x77, 1(%rax)
	jne Lfail5
	cmpw $0x5566, 2(%rax)
	jne Lfail5
	xorl %eax, %eax
	retq
Lfail5:	movl $5, %eax
	retq
Lfail1:	movl $1, %eax
	retq
Lfail2:	movl $2, %eax
	retq
Lfail3:	movl $3, %eax
	retq
Lfail4:	movl $4, %eax
	retq

	.section __DATA,__ab
	.p2align 3
	.globl _a
_a:	.quad 1
	.globl _b
_b:	.quad 2

	.section __DATA,__data
	.p2align 3
	.globl _diff
_diff:	.quad _b - _diff + 8
	.globl _ndiff
_ndiff:	.long _a - _ndiff
	.globl _neg
_neg:	.long _neg - _b
	.globl _c
	.p2align 3
_c:
L_x:	.quad 0
	.quad 0
	.globl _yptr
_yptr:	.quad L_y

	.section __DATA,__other
L_y:	.quad 0
	.quad 0
.subsections_via_symbols
