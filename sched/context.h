/*
 * sched/context.h -- saved machine context of a coroutine and the switch
 * between two of them.
 *
 * tc__switch(from, to) saves the callee-saved registers, the stack pointer,
 * the return address and the floating-point control state of the caller in
 * *from and resumes *to.  Only callee-saved state is kept: tc__switch is an
 * ordinary call, so the caller already assumes every other register is
 * clobbered.  The layouts below are mirrored by the offset tables at the top
 * of the assembly files; the static asserts keep both in step.
 *
 * A new context is built in C (tc__context_init): its stack pointer is the
 * top of the coroutine's stack and its return address a trampoline (in the
 * .S file) that calls entry(arg) and, should entry ever return, calls
 * tc__context_returned(), which aborts: a coroutine must finish by
 * switching away for good.
 *
 * Targets: x86-64 SysV and aarch64 AAPCS64 in hand-written assembly; any
 * other target uses ucontext (swapcontext), roughly 40x slower.
 */
#ifndef TC_SCHED_CONTEXT_H
#define TC_SCHED_CONTEXT_H

#ifndef TC_BUILDING_LIBRARY
#error "sched/context.h is internal to tricolor"
#endif

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && !defined(TC_PORTABLE_SWITCH)
#define TC__SWITCH_ASM 1
typedef struct tc__context {
  uint64_t rsp;      /* 0x00 */
  uint64_t rip;      /* 0x08 return address */
  uint64_t rbx;      /* 0x10 */
  uint64_t rbp;      /* 0x18 */
  uint64_t r12;      /* 0x20 */
  uint64_t r13;      /* 0x28 */
  uint64_t r14;      /* 0x30 */
  uint64_t r15;      /* 0x38 */
  uint32_t mxcsr;    /* 0x40 SSE control and status */
  uint16_t fpucw;    /* 0x44 x87 control word */
  uint16_t pad;
} tc__context;
_Static_assert(offsetof(tc__context, rsp) == 0x00, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, rip) == 0x08, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, rbx) == 0x10, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, rbp) == 0x18, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, r12) == 0x20, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, r13) == 0x28, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, r14) == 0x30, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, r15) == 0x38, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, mxcsr) == 0x40, "switch_x86_64_sysv_elf.S");
_Static_assert(offsetof(tc__context, fpucw) == 0x44, "switch_x86_64_sysv_elf.S");

#elif defined(__aarch64__) && !defined(TC_PORTABLE_SWITCH)
#define TC__SWITCH_ASM 1
typedef struct tc__context {
  uint64_t x19_x28[10]; /* 0x00 .. 0x48 */
  uint64_t fp;          /* 0x50 x29 */
  uint64_t lr;          /* 0x58 x30: return address */
  uint64_t sp;          /* 0x60 */
  uint64_t d8_d15[8];   /* 0x68 .. 0xa0: low halves of v8..v15 */
  uint64_t fpcr;        /* 0xa8 floating-point control register */
} tc__context;
_Static_assert(offsetof(tc__context, x19_x28) == 0x00, "switch_aarch64_aapcs_elf.S");
_Static_assert(offsetof(tc__context, fp) == 0x50, "switch_aarch64_aapcs_elf.S");
_Static_assert(offsetof(tc__context, lr) == 0x58, "switch_aarch64_aapcs_elf.S");
_Static_assert(offsetof(tc__context, sp) == 0x60, "switch_aarch64_aapcs_elf.S");
_Static_assert(offsetof(tc__context, d8_d15) == 0x68, "switch_aarch64_aapcs_elf.S");
_Static_assert(offsetof(tc__context, fpcr) == 0xa8, "switch_aarch64_aapcs_elf.S");

#else
#include <ucontext.h>
typedef struct tc__context {
  ucontext_t uc;
} tc__context;
#endif

typedef void (*tc__context_entry)(void *arg);

/* Prepares ctx to run entry(arg) on the stack [stack_lo, stack_hi). */
void tc__context_init(tc__context *ctx, void *stack_lo, void *stack_hi,
                      tc__context_entry entry, void *arg);
/* Saves the caller into *from and resumes *to. */
void tc__switch(tc__context *from, tc__context *to);
/* Called by the trampoline if an entry function returns: aborts. */
__attribute__((noreturn)) void tc__context_returned(void);

#endif /* TC_SCHED_CONTEXT_H */
