/*
 * sched/arch/switch_aarch64_aapcs_elf.S -- coroutine switch, AArch64 AAPCS64.
 *
 *   void tc__switch(tc__context *from (x0), tc__context *to (x1));
 *   void tc__context_trampoline(void);   (first frame of a new context)
 *
 * ABI: Procedure Call Standard for the Arm 64-bit Architecture (AAPCS64),
 * section 6.1: x19-x28, x29 (frame pointer), sp and the low 64 bits of
 * v8-v15 (d8-d15) are callee-saved; x30 (lr) holds the return address.
 * FPCR holds rounding and trap modes that a switch must not leak.
 *
 * Offsets into tc__context (mirrored in sched/context.h, static-asserted):
 *   0x00 x19 0x08 x20 0x10 x21 0x18 x22 0x20 x23 0x28 x24 0x30 x25
 *   0x38 x26 0x40 x27 0x48 x28 0x50 x29 (fp) 0x58 x30 (lr) 0x60 sp
 *   0x68 d8 0x70 d9 0x78 d10 0x80 d11 0x88 d12 0x90 d13 0x98 d14 0xa0 d15
 *   0xa8 fpcr
 *
 * A new context (tc__context_init) has lr = trampoline, sp = top of stack
 * (16-byte aligned), x19 = entry, x20 = arg.  The trampoline calls
 * entry(arg); if entry returns it calls tc__context_returned (aborts).
 */
        .text
        .globl  tc__switch
        .hidden tc__switch
        .type   tc__switch, %function
        .p2align 4
tc__switch:
        .cfi_startproc
        mov     x9, sp
        stp     x19, x20, [x0, #0x00]
        stp     x21, x22, [x0, #0x10]
        stp     x23, x24, [x0, #0x20]
        stp     x25, x26, [x0, #0x30]
        stp     x27, x28, [x0, #0x40]
        stp     x29, x30, [x0, #0x50]
        str     x9,       [x0, #0x60]
        stp     d8,  d9,  [x0, #0x68]
        stp     d10, d11, [x0, #0x78]
        stp     d12, d13, [x0, #0x88]
        stp     d14, d15, [x0, #0x98]
        mrs     x10, fpcr
        str     x10,      [x0, #0xa8]

        ldp     x19, x20, [x1, #0x00]
        ldp     x21, x22, [x1, #0x10]
        ldp     x23, x24, [x1, #0x20]
        ldp     x25, x26, [x1, #0x30]
        ldp     x27, x28, [x1, #0x40]
        ldp     x29, x30, [x1, #0x50]
        ldr     x9,       [x1, #0x60]
        ldp     d8,  d9,  [x1, #0x68]
        ldp     d10, d11, [x1, #0x78]
        ldp     d12, d13, [x1, #0x88]
        ldp     d14, d15, [x1, #0x98]
        ldr     x10,      [x1, #0xa8]
        msr     fpcr, x10
        mov     sp, x9
        ret
        .cfi_endproc
        .size   tc__switch, .-tc__switch

        .globl  tc__context_trampoline
        .hidden tc__context_trampoline
        .type   tc__context_trampoline, %function
        .p2align 4
tc__context_trampoline:
        .cfi_startproc
        .cfi_undefined x30              /* outermost frame for unwinders */
        mov     x0, x20
        blr     x19
        bl      tc__context_returned
        brk     #0
        .cfi_endproc
        .size   tc__context_trampoline, .-tc__context_trampoline

        .section .note.GNU-stack,"",@progbits
