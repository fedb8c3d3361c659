/*
 * tc_sched_test.h -- the harness shared by the scheduler tests: run a
 * coroutine program under tc_run with a watchdog, record expectations
 * inside coroutines (cmocka's failure jump must not cross a coroutine
 * switch) and check them after tc_run returns, and scale workloads on
 * slow builds.  Include after tc_test.h.
 *
 *   run(procs, fn, arg)   tc_run on `procs` Ps, fail on any EXPECT;
 *                         a watchdog aborts with the scheduler's state
 *                         if it hangs
 *   run_cfg(cfg, fn, arg) the same with a whole tc_config
 *   EXPECT(cond)          record a failure from inside a coroutine
 *   scaled(n, div)        n, divided on valgrind and the sanitizers
 *   scaled_gs(n, div)     the same for coroutines alive at once (at most
 *                         4000 under ThreadSanitizer)
 *   guard_ns()            how long a wait may last before it is a hang
 */
#ifndef TC_SCHED_TEST_H
#define TC_SCHED_TEST_H

#include "tc_test.h"

#include "sched/proc.h" /* white-box: tc__schedtrace for the watchdog */

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <tricolor.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif

/* Divides a workload size on slow builds (valgrind, sanitizers). */
static TC_TEST_UNUSED long scaled(long n, long slow_div) {
  if (tc_test_under_valgrind())
    return n / (slow_div * 4) > 0 ? n / (slow_div * 4) : 1;
  if (tc_test_under_asan() || UNDER_TSAN)
    return n / slow_div > 0 ? n / slow_div : 1;
  return n;
}

/* Like scaled() for a number of coroutines alive at once: ThreadSanitizer
 * gives each one a fiber, and dies beyond 8128 threads and fibers. */
static TC_TEST_UNUSED long scaled_gs(long n, long slow_div) {
  long k = scaled(n, slow_div);
  return UNDER_TSAN && k > 4000 ? 4000 : k;
}

/* Hang guard: nanoseconds a wait may last before it counts as a failure. */
static TC_TEST_UNUSED int64_t guard_ns(void) {
  return (tc_test_under_valgrind() ? 120 : 20) * (int64_t)1000000000;
}

static struct {
  atomic_int n;
  char first[512];
} failures;

static void expect_fail(const char *file, int line, const char *what) {
  if (atomic_fetch_add(&failures.n, 1) == 0)
    snprintf(failures.first, sizeof failures.first, "%s:%d: %s", file, line,
             what);
}

/* Records a failed expectation; checked after tc_run by run(). */
#define EXPECT(cond)                                                       \
  do {                                                                     \
    if (!(cond))                                                           \
      expect_fail(__FILE__, __LINE__, #cond);                              \
  } while (0)

/* Watchdog: a hang (a lost wake-up, say) becomes a failure that shows
 * the scheduler's state instead of a silent ctest timeout. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
} wd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};

static void *watchdog(void *arg) {
  int limit = (int)(intptr_t)arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += limit;
  pthread_mutex_lock(&wd.mu);
  int rc = 0;
  while (!wd.done && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&wd.cv, &wd.mu, &until);
  bool hung = !wd.done;
  pthread_mutex_unlock(&wd.mu);
  if (hung) {
    fprintf(stderr, "watchdog: tc_run still running after %d s; scheduler "
                    "state:\n", limit);
    tc__schedtrace(true); /* white-box, racy reads: diagnostics only */
    abort();
  }
  return NULL;
}

/* Runs fn(arg) as main under tc_run(cfg) and fails the test on any
 * EXPECT.  Test thread. */
static TC_TEST_UNUSED void run_cfg(const tc_config *cfg, tc_fn fn,
                                   void *arg) {
  atomic_store(&failures.n, 0);
  failures.first[0] = '\0';
  int limit = tc_test_under_valgrind() ? 900
              : (tc_test_under_asan() || UNDER_TSAN) ? 300 : 60;
  pthread_t t;
  wd.done = false;
  assert_int_equal(pthread_create(&t, NULL, watchdog, (void *)(intptr_t)limit),
                   0);
  int rc = tc_run(cfg, fn, arg);
  pthread_mutex_lock(&wd.mu);
  wd.done = true;
  pthread_cond_signal(&wd.cv);
  pthread_mutex_unlock(&wd.mu);
  pthread_join(t, NULL);
  assert_int_equal(rc, TC_OK);
  if (atomic_load(&failures.n)) {
    print_error("procs=%d barrier=%d: %d expectation(s) failed, first: %s\n",
                cfg->procs, (int)cfg->barrier, atomic_load(&failures.n),
                failures.first);
    fail();
  }
}

/* Runs fn(arg) as main on `procs` Ps and fails the test on any EXPECT. */
static TC_TEST_UNUSED void run(int procs, tc_fn fn, void *arg) {
  tc_config cfg = {.procs = procs};
  run_cfg(&cfg, fn, arg);
}

#endif /* TC_SCHED_TEST_H */
