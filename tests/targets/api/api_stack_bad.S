/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* st_bad(fake, fn, x): calls fn(x) with rbp = fake, a frame-pointer chain that ends badly. */
	.text
	.globl	st_bad
	.type	st_bad, @function
st_bad:
	push	%rbp
	mov	%rdi, %rbp
	mov	%rsi, %rax
	mov	%edx, %edi
	call	*%rax
	pop	%rbp
	ret
	.size	st_bad, .-st_bad
	.section .note.GNU-stack, "", @progbits
