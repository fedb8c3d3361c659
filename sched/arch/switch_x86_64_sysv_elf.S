/*
 * sched/arch/switch_x86_64_sysv_elf.S -- coroutine switch, x86-64 System V.
 *
 *   void tc__switch(tc__context *from  (%rdi), tc__context *to (%rsi));
 *   void tc__context_trampoline(void);   (first frame of a new context)
 *
 * ABI: System V AMD64 psABI 1.0, section 3.2: rbx, rbp, r12-r15 and rsp are
 * callee-saved, as are the control bits of MXCSR and the x87 control word
 * (section 3.2.1); everything else may be clobbered by a call.
 *
 * Offsets into tc__context (mirrored in sched/context.h, static-asserted):
 *   0x00 rsp   0x08 rip   0x10 rbx   0x18 rbp   0x20 r12
 *   0x28 r13   0x30 r14   0x38 r15   0x40 mxcsr (4 bytes)   0x44 fpucw (2)
 *
 * tc__switch saves the caller's stack pointer as it will be after `ret`
 * (rsp + 8) and its return address, then loads the target and jumps to the
 * target's saved return address: the pair behaves like a `ret` into the
 * other context.
 *
 * A new context (built by tc__context_init) has rip = trampoline,
 * rsp = top of stack (16-byte aligned), r12 = entry, r13 = arg.  The
 * trampoline calls entry(arg), which therefore starts with the ABI's
 * alignment (rsp + 8 a multiple of 16); if entry returns, it calls
 * tc__context_returned, which aborts.
 */
        .text
        .globl  tc__switch
        .hidden tc__switch
        .type   tc__switch, @function
        .p2align 4
tc__switch:
        .cfi_startproc
        movq    (%rsp), %rax            /* return address */
        leaq    8(%rsp), %rcx           /* stack pointer after return */
        movq    %rcx, 0x00(%rdi)
        movq    %rax, 0x08(%rdi)
        movq    %rbx, 0x10(%rdi)
        movq    %rbp, 0x18(%rdi)
        movq    %r12, 0x20(%rdi)
        movq    %r13, 0x28(%rdi)
        movq    %r14, 0x30(%rdi)
        movq    %r15, 0x38(%rdi)
        stmxcsr 0x40(%rdi)
        fnstcw  0x44(%rdi)

        movq    0x10(%rsi), %rbx
        movq    0x18(%rsi), %rbp
        movq    0x20(%rsi), %r12
        movq    0x28(%rsi), %r13
        movq    0x30(%rsi), %r14
        movq    0x38(%rsi), %r15
        /* Loading MXCSR and the x87 control word stalls the pipeline; they
         * almost never differ between coroutines, so load only on change. */
        movl    0x40(%rsi), %eax
        cmpl    0x40(%rdi), %eax
        je      1f
        ldmxcsr 0x40(%rsi)
1:      movw    0x44(%rsi), %ax
        cmpw    0x44(%rdi), %ax
        je      2f
        fldcw   0x44(%rsi)
2:      movq    0x00(%rsi), %rsp
        jmpq    *0x08(%rsi)
        .cfi_endproc
        .size   tc__switch, .-tc__switch

        .globl  tc__context_trampoline
        .hidden tc__context_trampoline
        .type   tc__context_trampoline, @function
        .p2align 4
tc__context_trampoline:
        .cfi_startproc
        .cfi_undefined rip              /* outermost frame for unwinders */
        movq    %r13, %rdi
        callq   *%r12
        callq   tc__context_returned
        ud2
        .cfi_endproc
        .size   tc__context_trampoline, .-tc__context_trampoline

        .section .note.GNU-stack,"",@progbits
