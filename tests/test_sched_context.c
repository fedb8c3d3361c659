/*
 * test_sched_context.c -- the coroutine context switch (sched/context.h,
 * the assembly under sched/arch/), white-box: without the scheduler.
 *
 * Checks that tc__switch preserves callee-saved state (a value kept live
 * in locals across many switches, both ways), that the floating-point
 * control state is per context (a coroutine that changes the rounding mode
 * does not change its creator's), that a first frame gets its argument and
 * a 16-byte aligned stack, and that an entry function that returns traps
 * with a message (death test).
 */
#include "tc_test.h"

#include <fenv.h>
#include <stdlib.h>

#include "sched/context.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#else
#define STACK_REGISTER(lo, hi) 0
#endif

static tc__context main_ctx, co_ctx;
static char *stack;
#define STACK_SIZE (256 * 1024)

/* The sanitizers must be told about stack switches (the scheduler does,
 * sched/run.c); these raw switches do not, so they run without them. */
static bool raw_switch_unsupported(void) { return tc_test_under_sanitizer(); }

static char *stack_new(void) {
  char *s = malloc(STACK_SIZE);
  (void)STACK_REGISTER(s, s + STACK_SIZE);
  return s;
}

static long counter;
static void counting(void *arg) {
  long step = (long)(intptr_t)arg;
  for (;;) {
    counter += step;
    tc__switch(&co_ctx, &main_ctx);
  }
}

static void test_context_switch_round_trips(void **state) {
  (void)state;
  if (raw_switch_unsupported())
    skip();
  stack = stack_new();
  counter = 0;
  tc__context_init(&co_ctx, stack, stack + STACK_SIZE, counting,
                   (void *)(intptr_t)3);
  /* values the compiler keeps in callee-saved registers across calls */
  volatile long check = 0;
  long a = 1, b = 2, c = 3, d = 4, e = 5;
  for (long i = 0; i < 100000; i++) {
    tc__switch(&main_ctx, &co_ctx);
    a += b;
    b += c;
    c += d;
    d += e;
    e += 1;
    check += a ^ b ^ c ^ d ^ e;
  }
  assert_int_equal(counter, 300000);
  /* recompute without switching: the same values */
  long a2 = 1, b2 = 2, c2 = 3, d2 = 4, e2 = 5, check2 = 0;
  for (long i = 0; i < 100000; i++) {
    a2 += b2;
    b2 += c2;
    c2 += d2;
    d2 += e2;
    e2 += 1;
    check2 += a2 ^ b2 ^ c2 ^ d2 ^ e2;
  }
  assert_int_equal(check, check2);
  free(stack);
}

static int co_round;
static uintptr_t co_sp_mod;
static void rounding(void *arg) {
  (void)arg;
  volatile char probe;
  co_sp_mod = (uintptr_t)&probe % 8; /* just touch the stack */
  fesetround(FE_UPWARD);
  co_round = fegetround();
  tc__switch(&co_ctx, &main_ctx);
  co_round = fegetround(); /* still ours after the creator ran */
  tc__switch(&co_ctx, &main_ctx);
  abort(); /* never resumed again */
}

static void test_context_fp_control_is_per_context(void **state) {
  (void)state;
  if (raw_switch_unsupported())
    skip();
  stack = stack_new();
  fesetround(FE_TONEAREST);
  tc__context_init(&co_ctx, stack, stack + STACK_SIZE, rounding, NULL);
  tc__switch(&main_ctx, &co_ctx);
  assert_int_equal(co_round, FE_UPWARD);
  assert_int_equal(fegetround(), FE_TONEAREST); /* ours was restored */
  tc__switch(&main_ctx, &co_ctx);
  assert_int_equal(co_round, FE_UPWARD);
  assert_int_equal(fegetround(), FE_TONEAREST);
  free(stack);
}

static void *seen_arg;
static uintptr_t seen_align;
static void aligned(void *arg) {
  seen_arg = arg;
  /* with a frame pointer, the frame address is the stack pointer right
   * after the entry pushed it: 16-byte aligned by the ABI */
  seen_align = (uintptr_t)__builtin_frame_address(0) % 16;
  tc__switch(&co_ctx, &main_ctx);
  abort();
}

static void test_context_first_frame(void **state) {
  (void)state;
  if (raw_switch_unsupported())
    skip();
  stack = stack_new();
  int token;
  /* an odd top address: init must align it down */
  tc__context_init(&co_ctx, stack, stack + STACK_SIZE - 7, aligned, &token);
  tc__switch(&main_ctx, &co_ctx);
  assert_ptr_equal(seen_arg, &token);
  assert_int_equal(seen_align, 0);
  free(stack);
}

static void returns(void *arg) { (void)arg; }

static void run_returning_entry(void *arg) {
  (void)arg;
  char *s = stack_new();
  tc__context_init(&co_ctx, s, s + STACK_SIZE, returns, NULL);
  tc__switch(&main_ctx, &co_ctx);
  fprintf(stderr, "the trampoline returned control\n");
}

static void test_context_entry_return_traps(void **state) {
  (void)state;
  if (raw_switch_unsupported())
    skip();
  tc_expect_death(run_returning_entry, NULL, "entry function returned");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_context_switch_round_trips),
      cmocka_unit_test(test_context_fp_control_is_per_context),
      cmocka_unit_test(test_context_first_frame),
      cmocka_unit_test(test_context_entry_return_traps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
