/*
 * sched/context.c -- building the first frame of a coroutine, and the
 * portable (ucontext) fallback of the switch.
 *
 * The assembly switch (sched/arch/) resumes a context by restoring its
 * callee-saved registers and jumping to its saved return address.  A new
 * context therefore only needs: stack pointer = top of its stack (aligned
 * to 16), return address = the trampoline, and two callee-saved registers
 * carrying entry and arg (r12/r13 on x86-64, x19/x20 on aarch64).  The
 * floating-point control state starts as the creator's, so a coroutine
 * inherits the rounding mode of the thread that made it.
 */
#include "base/base.h"
#include "sched/context.h"

#include <string.h>

void tc__context_returned(void) {
  tc__fatal("a coroutine's entry function returned: coroutines must end "
            "through the scheduler, never by returning from the trampoline");
}

#if defined(TC__SWITCH_ASM)

void tc__context_trampoline(void);

void tc__context_init(tc__context *ctx, void *stack_lo, void *stack_hi,
                      tc__context_entry entry, void *arg) {
  (void)stack_lo;
  uintptr_t top = (uintptr_t)stack_hi & ~(uintptr_t)15;
  memset(ctx, 0, sizeof *ctx);
#if defined(__x86_64__)
  ctx->rsp = top;
  ctx->rip = (uint64_t)(uintptr_t)tc__context_trampoline;
  ctx->r12 = (uint64_t)(uintptr_t)entry;
  ctx->r13 = (uint64_t)(uintptr_t)arg;
  __asm__ volatile("stmxcsr %0" : "=m"(ctx->mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(ctx->fpucw));
#elif defined(__aarch64__)
  ctx->sp = top;
  ctx->lr = (uint64_t)(uintptr_t)tc__context_trampoline;
  ctx->x19_x28[0] = (uint64_t)(uintptr_t)entry;
  ctx->x19_x28[1] = (uint64_t)(uintptr_t)arg;
  uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  ctx->fpcr = fpcr;
#endif
}

#else /* portable fallback */

/* makecontext passes int arguments only: split the pointers. */
static void uc_entry(unsigned e_hi, unsigned e_lo, unsigned a_hi,
                     unsigned a_lo) {
  tc__context_entry entry =
      (tc__context_entry)(((uintptr_t)e_hi << 32) | (uintptr_t)e_lo);
  void *arg = (void *)(((uintptr_t)a_hi << 32) | (uintptr_t)a_lo);
  entry(arg);
  tc__context_returned();
}

void tc__context_init(tc__context *ctx, void *stack_lo, void *stack_hi,
                      tc__context_entry entry, void *arg) {
  memset(ctx, 0, sizeof *ctx);
  if (getcontext(&ctx->uc))
    tc__fatal("getcontext failed");
  ctx->uc.uc_stack.ss_sp = stack_lo;
  ctx->uc.uc_stack.ss_size = (size_t)((char *)stack_hi - (char *)stack_lo);
  ctx->uc.uc_link = NULL;
  uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
  makecontext(&ctx->uc, (void (*)(void))uc_entry, 4, (unsigned)(e >> 32),
              (unsigned)e, (unsigned)(a >> 32), (unsigned)a);
}

void tc__switch(tc__context *from, tc__context *to) {
  if (swapcontext(&from->uc, &to->uc))
    tc__fatal("swapcontext failed");
}

#endif
