/*
 * test_smoke.c -- the smallest end-to-end check of the library and of the
 * test harness: start the runtime, allocate, collect, shut down; and
 * tc_expect_death (tests/tc_test.h) on children that abort or exit.
 * The module tests (test_<module>_<unit>.c) test the behaviour in depth.
 */
#include "tc_test.h"

#include <tricolor.h>

typedef struct pair {
  struct pair *car;
  struct pair *cdr;
  long value;
} pair;

static const uint32_t pair_offsets[] = {offsetof(pair, car),
                                        offsetof(pair, cdr)};
static tc_type pair_type = {
    .name = "pair", .offsets = pair_offsets, .noffsets = 2};

static void test_smoke_alloc_gc_shutdown(void **state) {
  (void)state;
  assert_int_equal(tc_init(NULL), TC_OK);
  {
    pair *list = NULL, *p = NULL;
    TC_LOCALS(list, p);
    for (long i = 0; i < 100; i++) {
      p = tc_alloc(&pair_type, sizeof(pair));
      assert_non_null(p);
      p->value = i;
      TC_STORE(p, cdr, list);
      list = p;
      assert_non_null(tc_alloc_noscan(32)); /* garbage */
    }
    tc_gc();
    long n = 0, sum = 0;
    for (p = list; p != NULL; p = tc_load((void *const *)&p->cdr)) {
      n++;
      sum += p->value;
    }
    assert_int_equal(n, 100);
    assert_int_equal(sum, 99 * 100 / 2);
    tc_stats s;
    tc_read_stats(&s);
    assert_true(s.cycles >= 1);
  }
  tc_shutdown();
}

static void test_smoke_init_twice_is_busy(void **state) {
  (void)state;
  assert_int_equal(tc_init(NULL), TC_OK);
  assert_int_equal(tc_init(NULL), TC_EBUSY);
  tc_shutdown();
}

/* ---- the harness itself ---- */

static void die_with_message(void *arg) {
  fprintf(stderr, "tricolor: %s\n", (const char *)arg);
  abort();
}

static void exit_nonzero(void *arg) {
  (void)arg;
  fputs("deadlock-like exit\n", stderr);
  exit(2);
}

static void test_harness_death_by_abort(void **state) {
  (void)state;
  tc_expect_death(die_with_message, "smoke message", "tricolor: smoke message");
}

static void test_harness_death_by_exit(void **state) {
  (void)state;
  tc_expect_death(exit_nonzero, NULL, "deadlock-like");
}

static void test_harness_rss(void **state) {
  (void)state;
  long before = tc_test_rss_kib();
  assert_true(before > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_smoke_alloc_gc_shutdown),
      cmocka_unit_test(test_smoke_init_twice_is_busy),
      cmocka_unit_test(test_harness_death_by_abort),
      cmocka_unit_test(test_harness_death_by_exit),
      cmocka_unit_test(test_harness_rss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
