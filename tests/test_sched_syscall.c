/*
 * test_sched_syscall.c -- a P in a system call, and the threads that race
 * for it: the M coming back (tc_syscall_exit), sysmon retaking it, and a
 * world stop taking it.
 *
 *   - retake while exiting: sysmon takes the P of a long syscall; the test
 *     hook TRICOLOR_DEBUG=retakedelay=US holds sysmon right after its CAS,
 *     so the syscall ends inside the retake every time.  The M must come
 *     back with a P of its own, and no later call may find it without one
 *     (before the fix: sysmon cleared m->p after the M had taken another
 *     P, and the next tc_syscall_enter crashed on a NULL P).
 *   - the same with procs=3 and a second coroutine in syscalls, so the P
 *     sysmon hands on is entered by another syscall while the first M is
 *     still coming back (the ABA of the old exit fast path).
 *   - stops during syscalls: coroutines enter and leave syscalls in a loop
 *     while another runs cycles back to back; every cycle completes (a
 *     world stop that missed a P entering a syscall would wait for the
 *     whole syscall, or for ever).
 * Assertions are on counts (retakes seen, loops done), never on time.
 */
#include "tc_sched_test.h"

#include <stdlib.h>
#include <string.h>

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------- retake while exiting */

typedef struct {
  long loops;          /* syscalls per coroutine */
  long syscall_ms;     /* each one's length: past sysmon's 10 ms retake */
  long hold_ms;        /* sysmon's hold after a retake (retakedelay) */
  atomic_long done;    /* syscalls completed, all coroutines */
  atomic_int running;  /* coroutines still looping */
  uint64_t retakes;    /* sysmon's retakes in this run */
} retake_state;

/* Whether sysmon retook a P yet in this run. */
static bool retaken(void) { return tc__load_relaxed(&tc__sched.retakes) > 0; }

static void syscaller(void *arg) {
  retake_state *s = arg;
  /* s->loops, and more (up to 4 times as many) until sysmon retook a P:
   * whether it looks inside a syscall's retake window is up to its
   * sleeps, which grow to 10 ms while it finds nothing to do (under ASan
   * one run of 6 syscalls saw no retake) */
  for (long i = 0; i < s->loops || (!retaken() && i < 4 * s->loops); i++) {
    tc_syscall_enter();
    sleep_ms(s->syscall_ms);
    tc_syscall_exit();
    atomic_fetch_add(&s->done, 1);
    /* Run (no safepoint) past the end of sysmon's hold, so that whatever
     * sysmon does after it lands while this G runs, then yield: a
     * run-queue put on this M's P. */
    int64_t until = tc_now() + 2 * s->hold_ms * 1000000;
    while (tc_now() < until)
      ;
    tc_yield();
  }
  atomic_fetch_sub(&s->running, 1);
}

static void retake_main(void *arg) {
  retake_state *s = arg;
  int extra = atomic_load(&s->running) - 1;
  for (int i = 0; i < extra; i++)
    EXPECT(tc_go(syscaller, s) == TC_OK);
  syscaller(s);
  int64_t end = tc_now() + guard_ns();
  while (atomic_load(&s->running) > 0 && tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&s->running) == 0);
  s->retakes = tc__load_relaxed(&tc__sched.retakes); /* reset by tc_run */
}

static void check_retakes(int procs, int coroutines) {
  retake_state s = {.loops = scaled(12, 2), .syscall_ms = 15, .hold_ms = 20};
  atomic_store(&s.running, coroutines);
  /* sysmon sleeps 20 ms after each retake's CAS: a 15 ms syscall that
   * sysmon took after 10 ms or more ends inside that sleep */
  tc_test_debug_env("retakedelay=20000");
  run(procs, retake_main, &s);
  tc_test_debug_env(NULL);
  assert_true(atomic_load(&s.done) >= s.loops * coroutines);
  /* the window was really opened: sysmon retook Ps from these syscalls
   * (valgrind runs one thread at a time, and sysmon may not look at the
   * right moment: there the count is only reported) */
  print_message("procs=%d: %llu retakes\n", procs,
                (unsigned long long)s.retakes);
  if (!tc_test_under_valgrind())
    assert_true(s.retakes > 0);
}

static void test_syscall_retake_while_exiting(void **state) {
  (void)state;
  check_retakes(2, 1);
}

static void test_syscall_retake_handed_on(void **state) {
  (void)state;
  check_retakes(3, 2);
}

/* ------------------------------------------------- stops during syscalls */

typedef struct {
  atomic_int stop;
  atomic_long syscalls;
  atomic_int left;
} stop_state;

static void short_syscaller(void *arg) {
  stop_state *s = arg;
  while (!atomic_load(&s->stop)) {
    tc_syscall_enter();
    atomic_fetch_add(&s->syscalls, 1);
    tc_syscall_exit();
    (void)tc_alloc_noscan(64); /* a safepoint that may stop */
  }
  atomic_fetch_sub(&s->left, 1);
}

static void stop_main(void *arg) {
  stop_state *s = arg;
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(short_syscaller, s) == TC_OK);
  long cycles = scaled(200, 10);
  tc_stats st;
  tc_read_stats(&st);
  uint64_t c0 = st.cycles;
  for (long i = 0; i < cycles; i++)
    tc_gc();
  tc_read_stats(&st);
  EXPECT(st.cycles >= c0 + (uint64_t)cycles);
  atomic_store(&s->stop, 1);
  int64_t end = tc_now() + guard_ns();
  while (atomic_load(&s->left) > 0 && tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&s->left) == 0);
  EXPECT(atomic_load(&s->syscalls) > 0);
}

static void test_syscall_stops_during_syscalls(void **state) {
  (void)state;
  stop_state s;
  memset(&s, 0, sizeof s);
  atomic_store(&s.left, 3);
  run(2, stop_main, &s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_syscall_retake_while_exiting),
      cmocka_unit_test(test_syscall_retake_handed_on),
      cmocka_unit_test(test_syscall_stops_during_syscalls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
