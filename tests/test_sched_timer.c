/*
 * test_sched_timer.c -- channel timers (sched/timer.c): one-shot timers,
 * tickers, stop and reset, tc_after as a select timeout, and timers as GC
 * objects.  Every assertion is on order and channel behaviour, never on
 * how long anything took: a timer's deadline is only ever a lower bound.
 *
 *   - one-shot: one value, the firing time, no later than a receive
 *     after it and never before the timer was made; never a second one;
 *   - order: timers made in shuffled order deliver non-decreasing firing
 *     times in deadline order;
 *   - stop: true while pending, false after; a fired-but-unreceived tick
 *     is emptied by stop, so nothing stale is received; reset re-arms;
 *   - ticker: increasing ticks; after stop, none (a select with a later
 *     timeout takes the timeout);
 *   - select timeout: a receive nobody serves loses to tc_after;
 *   - GC: a pending timer nobody references survives cycles (the timer
 *     heap holds it); stopped and dropped, it and its channel are
 *     collected (weak references read NULL); under churn in every barrier
 *     mode with gccheckmark, timers made, reset and stopped while cycles
 *     mark are never lost;
 *   - delivery vs. the deadlock check: a timer taken off the heap but not
 *     yet delivered (to a sleeper or a channel's receiver) still counts as
 *     pending for the last M going idle, which must not report a deadlock
 *     (the test hooks timerdelay and idledelay widen the window).
 */
#include "tc_sched_test.h"

#include <string.h>

#define MS 1000000LL

static int64_t recv_time(tc_chan *c) {
  bool ok;
  void *v = tc_chan_recv(c, &ok);
  EXPECT(ok);
  return (int64_t)(intptr_t)v;
}

/* ---------------------------------------------------------------- one-shot */

static void oneshot_main(void *arg) {
  (void)arg;
  tc_timer *t = NULL;
  tc_chan *late = NULL;
  TC_LOCALS(t, late);
  int64_t made = tc_now();
  t = tc_timer_new(1 * MS);
  int64_t fired = recv_time(tc_timer_chan(t));
  int64_t after = tc_now();
  EXPECT(fired >= made + 1 * MS); /* not before its deadline */
  EXPECT(fired <= after);
  EXPECT(!tc_timer_stop(t)); /* fired: nothing pending */
  /* never a second value: a later timeout wins the select */
  late = tc_after(5 * MS);
  tc_select_case cs[2] = {{tc_timer_chan(t), TC_SELECT_RECV, NULL, false},
                          {late, TC_SELECT_RECV, NULL, false}};
  EXPECT(tc_select(cs, 2, true) == 1);
}

static void test_timer_oneshot(void **state) {
  (void)state;
  run(2, oneshot_main, NULL);
}

/* ---------------------------------------------------------------- order */

static void order_main(void *arg) {
  /* deadlines this far apart: on slow builds (valgrind) making one timer
   * can take longer than a millisecond, which would reorder deadlines
   * 1 ms apart */
  int64_t step = tc_test_slow_build() ? 50 * MS : 1 * MS;
  (void)arg;
  enum { N = 6 };
  static const int ms[N] = {4, 1, 6, 2, 5, 3};
  static void *timers[N];
  tc_root_add(timers, N);
  for (int i = 0; i < N; i++)
    tc_store(&timers[i], tc_timer_new(ms[i] * step));
  /* receive in deadline order: firing times never go backwards */
  int64_t last = 0;
  for (int d = 1; d <= N; d++)
    for (int i = 0; i < N; i++)
      if (ms[i] == d) {
        int64_t at = recv_time(tc_timer_chan(timers[i]));
        EXPECT(at >= last);
        last = at;
      }
  tc_root_remove(timers);
}

static void test_timer_order(void **state) {
  (void)state;
  run(2, order_main, NULL);
}

/* ---------------------------------------------------------------- stop, reset */

static void stop_main(void *arg) {
  (void)arg;
  tc_timer *t = NULL;
  TC_LOCALS(t);
  t = tc_timer_new(60000 * MS);
  EXPECT(tc_timer_stop(t));  /* pending: stopped */
  EXPECT(!tc_timer_stop(t)); /* not any more */
  EXPECT(!tc_timer_reset(t, 1 * MS)); /* re-armed from stopped */
  recv_time(tc_timer_chan(t));        /* and it fires */
  EXPECT(!tc_timer_reset(t, 60000 * MS)); /* fired: not pending */
  EXPECT(tc_timer_reset(t, 0));           /* pending: re-armed, now */
  /* fired and not received: stop empties the channel */
  int64_t end = tc_now() + guard_ns();
  while (tc_chan_len(tc_timer_chan(t)) == 0 && tc_now() < end)
    tc_yield();
  EXPECT(tc_chan_len(tc_timer_chan(t)) == 1);
  EXPECT(!tc_timer_stop(t));
  EXPECT(tc_chan_len(tc_timer_chan(t)) == 0); /* nothing stale */
}

static void test_timer_stop_reset(void **state) {
  (void)state;
  run(2, stop_main, NULL);
}

/* ---------------------------------------------------------------- ticker */

static void ticker_main(void *arg) {
  (void)arg;
  tc_timer *t = NULL;
  tc_chan *late = NULL;
  TC_LOCALS(t, late);
  int64_t made = tc_now();
  t = tc_ticker_new(1 * MS);
  int64_t last = made;
  for (int i = 0; i < 5; i++) {
    int64_t at = recv_time(tc_timer_chan(t));
    EXPECT(at > last); /* strictly later each time */
    last = at;
  }
  EXPECT(tc_timer_stop(t));
  late = tc_after(5 * MS);
  tc_select_case cs[2] = {{tc_timer_chan(t), TC_SELECT_RECV, NULL, false},
                          {late, TC_SELECT_RECV, NULL, false}};
  EXPECT(tc_select(cs, 2, true) == 1); /* no tick after stop */
}

static void test_timer_ticker(void **state) {
  (void)state;
  run(2, ticker_main, NULL);
}

/* ---------------------------------------------------------------- select timeout */

static void timeout_main(void *arg) {
  (void)arg;
  tc_chan *never = NULL, *timeout = NULL;
  TC_LOCALS(never, timeout);
  never = tc_chan_new(0, 0);
  timeout = tc_after(1 * MS);
  tc_select_case cs[2] = {{never, TC_SELECT_RECV, NULL, false},
                          {timeout, TC_SELECT_RECV, NULL, false}};
  EXPECT(tc_select(cs, 2, true) == 1);
  EXPECT(cs[1].ok);
}

static void test_timer_select_timeout(void **state) {
  (void)state;
  run(1, timeout_main, NULL);
}

/* ---------------------------------------------------------------- GC */

static void gc_main(void *arg) {
  (void)arg;
  tc_weak *wt = NULL, *wc = NULL;
  tc_timer *t = NULL;
  TC_LOCALS(wt, wc, t);
  /* pending and dropped: the timer heap keeps it */
  t = tc_timer_new(60000 * MS);
  wt = tc_weak_new(t);
  wc = tc_weak_new(tc_timer_chan(t));
  t = NULL;
  tc_gc();
  tc_gc();
  t = tc_weak_get(wt);
  EXPECT(t != NULL);
  EXPECT(tc_weak_get(wc) != NULL);
  /* stopped and dropped: collected with its channel */
  EXPECT(tc_timer_stop(t));
  t = NULL;
  tc_gc();
  EXPECT(tc_weak_get(wt) == NULL);
  EXPECT(tc_weak_get(wc) == NULL);
  /* fired and dropped: collected too */
  t = tc_timer_new(0);
  recv_time(tc_timer_chan(t));
  wt = tc_weak_new(t);
  t = NULL;
  tc_gc();
  EXPECT(tc_weak_get(wt) == NULL);
}

static void test_timer_gc(void **state) {
  (void)state;
  run(2, gc_main, NULL);
}

typedef struct churn {
  atomic_int left;
  atomic_int stop;
  atomic_long fired;
} churn;

static void timer_churner(void *arg) {
  churn *c = arg;
  tc_timer *keep = NULL, *t = NULL;
  TC_LOCALS(keep, t);
  keep = tc_ticker_new(1 * MS);
  unsigned seed = 7;
  while (!atomic_load(&c->stop)) {
    t = tc_timer_new((int64_t)(rand_r(&seed) % 3) * MS / 2);
    switch (rand_r(&seed) % 3) {
    case 0:
      tc_timer_stop(t);
      break;
    case 1:
      tc_timer_reset(t, 0);
      /* fall through */
    default:
      recv_time(tc_timer_chan(t));
      atomic_fetch_add(&c->fired, 1);
    }
    t = NULL;
    (void)tc_alloc_noscan(4096); /* garbage: cycles keep coming */
    tc_select_case cs[1] = {{tc_timer_chan(keep), TC_SELECT_RECV, NULL,
                             false}};
    tc_select(cs, 1, false); /* take a tick if there is one */
  }
  tc_timer_stop(keep);
  atomic_fetch_sub(&c->left, 1);
}

static void churn_main(void *arg) {
  churn *c = arg;
  tc_stats st;
  tc_read_stats(&st);
  uint64_t want = st.cycles + 5;
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(timer_churner, c) == TC_OK);
  int64_t end = tc_now() + guard_ns();
  do {
    tc_sleep(1 * MS);
    tc_read_stats(&st);
  } while (st.cycles < want && tc_now() < end);
  EXPECT(st.cycles >= want);
  atomic_store(&c->stop, 1);
  while (atomic_load(&c->left) > 0 && tc_now() < end)
    tc_sleep(1 * MS);
  EXPECT(atomic_load(&c->left) == 0);
}

static void test_timer_churn_modes(void **state) {
  (void)state;
  static const char *modes[] = {"hybrid", "insertion", "deletion", "stw"};
  for (int i = 0; i < 4; i++) {
    char env[64];
    snprintf(env, sizeof env, "barrier=%s,gccheckmark=1", modes[i]);
    tc_test_debug_env(env);
    churn c;
    memset(&c, 0, sizeof c);
    atomic_store(&c.left, 3);
    tc_config cfg = {.procs = 2, .min_heap = 1 << 20};
    run_cfg(&cfg, churn_main, &c);
    tc_test_debug_env(NULL);
    print_message("%-9s: %ld timers fired under churn\n", modes[i],
                  atomic_load(&c.fired));
    assert_true(atomic_load(&c.fired) > 0);
  }
}

/* ---------------------------------------------------------------- firing vs. deadlock */

/* The last M going idle checks for a deadlock (sched/deadlock.c); a timer
 * sysmon has taken off the heap but not yet delivered must still count as
 * pending there.  On one P: main blocks on a 1 ms timer; the M, holding
 * no other work, waits 5 ms after its last look for work (idledelay), and
 * sysmon waits 50 ms between taking the timer off the heap and delivering
 * it (timerdelay), so the M's check falls inside the delivery.  Without
 * the timer counted, the process reports a deadlock and exits with
 * status 2. */
static void fire_chan_main(void *arg) {
  (void)arg;
  tc_chan *c = NULL;
  TC_LOCALS(c);
  int64_t made = tc_now();
  c = tc_after(1 * MS);
  EXPECT(recv_time(c) >= made + 1 * MS);
}

static void fire_sleep_main(void *arg) {
  (void)arg;
  int64_t made = tc_now();
  tc_sleep(1 * MS);
  EXPECT(tc_now() >= made + 1 * MS);
}

static void test_timer_delivery_vs_deadlock_check(void **state) {
  (void)state;
  tc_test_debug_env("timerdelay=50000,idledelay=5000");
  run(1, fire_chan_main, NULL);
  run(1, fire_sleep_main, NULL);
  tc_test_debug_env(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timer_oneshot),
      cmocka_unit_test(test_timer_order),
      cmocka_unit_test(test_timer_stop_reset),
      cmocka_unit_test(test_timer_ticker),
      cmocka_unit_test(test_timer_select_timeout),
      cmocka_unit_test(test_timer_gc),
      cmocka_unit_test(test_timer_churn_modes),
      cmocka_unit_test(test_timer_delivery_vs_deadlock_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
