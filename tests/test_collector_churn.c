/*
 * test_collector_churn.c -- the heap in steady state, the pacer's knobs
 * and the heap limit.
 *
 * What is tested:
 *   - steady-state churn: a live set of ~8 MiB in a rooted table, random
 *     entries replaced by new objects (fixed seed) for ~200 MiB of
 *     allocation; heap_inuse stays within 2 x the live bytes + 4 MiB, the
 *     live heap found by each mark matches the table exactly, many cycles
 *     run; after dropping everything and two tc_gc() calls heap_live and
 *     heap_inuse are 0 and the free pages were returned to the OS
 *     (heap_released > 0, RSS down);
 *   - gc percent: TC_GC_OFF via tc_set_gc_percent stops heap-triggered
 *     cycles (tc_gc still collects) and re-enabling restores them;
 *     TRICOLOR_GC=off and TRICOLOR_GC=N from the environment override the
 *     config; the goal is marked x (1 + N/100), floored by min_heap;
 *   - max_heap: garbage never makes allocation fail (an emergency cycle
 *     frees it); live data past the limit makes tc_alloc return NULL after
 *     one emergency cycle and a call of on_oom with the request size, and
 *     allocation works again once data is dropped.
 * Nothing here measures time.  TC_TEST_SCALE=small (default under
 * valgrind) allocates 72 MiB instead of 200 MiB in the churn loop.
 */
#include "tc_test.h"

#include <tricolor.h>

static bool small_scale(void) {
  const char *s = getenv("TC_TEST_SCALE");
  if (s != NULL && *s != '\0')
    return strcmp(s, "small") == 0;
  return tc_test_under_valgrind();
}

#define MiB ((uint64_t)1 << 20)

static uint64_t rng_state;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

typedef struct item {
  struct item *link; /* another live item, or NULL */
  long payload[];
} item;
static const uint32_t item_offsets[] = {offsetof(item, link)};
static tc_type item_type = {
    .name = "item", .offsets = item_offsets, .noffsets = 1};

static int setup(void **state) {
  (void)state;
  rng_state = 0x243f6a8885a308d3ULL;
  unsetenv("TRICOLOR_GC");
  return tc_test_start(NULL);
}

static int teardown(void **state) {
  (void)state;
  unsetenv("TRICOLOR_GC");
  tc_set_gc_percent(100);
  tc_test_finish(2);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Steady-state churn                                                  */

static void **slots;
static size_t nslots;
#define NANCHORS 64
static void *anchors[NANCHORS]; /* never replaced: links point here */

static void *new_item(void) {
  uint64_t r = rng();
  size_t size = 16 + (size_t)(r % 497); /* 16 .. 512 bytes */
  if ((r >> 32) % 3 == 0)
    return tc_alloc_noscan(size);
  item *it = tc_alloc(&item_type, size);
  if (it) {
    it->payload[0] = (long)size;
    /* link to a permanent item: marking has a graph to walk, and a
     * replaced table entry is garbage at once */
    void *other = anchors[(r >> 40) % NANCHORS];
    if (other)
      TC_STORE(it, link, other);
  }
  return it;
}

static void test_churn_steady_state_bounded(void **state) {
  (void)state;
  const uint64_t live_target = 8 * MiB;
  const uint64_t to_allocate = (small_scale() ? 72 : 200) * MiB;
  nslots = 32000; /* x ~280 B average: ~8.5 MiB */
  slots = calloc(nslots, sizeof(void *));
  assert_non_null(slots);
  assert_int_equal(tc_root_add(slots, nslots), TC_OK);

  uint64_t live = 0; /* bytes of the objects in the table, exact */
  memset(anchors, 0, sizeof anchors);
  assert_int_equal(tc_root_add(anchors, NANCHORS), TC_OK);
  for (size_t i = 0; i < NANCHORS; i++) {
    item *a = tc_alloc(&item_type, 64);
    assert_non_null(a);
    tc_store(&anchors[i], a);
    live += tc_object_size(a);
  }
  for (size_t i = 0; i < nslots; i++) {
    void *p = new_item();
    assert_non_null(p);
    tc_store(&slots[i], p);
    live += tc_object_size(p);
  }
  assert_true(live >= live_target && live <= 2 * live_target);

  tc_stats s0, s;
  tc_gc();
  tc_read_stats(&s0);
  assert_int_equal(s0.heap_marked, live); /* exact live bytes */
  uint64_t max_inuse = 0, max_over = 0, last_cycles = s0.cycles;
  uint64_t checked_cycles = 0;
  long rss_peak = 0;
  while (true) {
    tc_read_stats(&s);
    if (s.total_alloc - s0.total_alloc >= to_allocate)
      break;
    for (int k = 0; k < 256; k++) {
      size_t idx = (size_t)(rng() % nslots);
      uint64_t old = tc_object_size(slots[idx]);
      void *p = new_item();
      assert_non_null(p);
      tc_store(&slots[idx], p);
      live = live - old + tc_object_size(p);
    }
    tc_read_stats(&s);
    /* accounting: what is live is what was allocated and not freed */
    assert_int_equal(s.heap_live, s.total_alloc - s.total_freed);
    if (s.heap_inuse > max_inuse)
      max_inuse = s.heap_inuse;
    /* bound: twice the live heap plus 4 MiB of slack */
    if (s.heap_inuse > 2 * live + 4 * MiB && s.heap_inuse - 2 * live > max_over)
      max_over = s.heap_inuse - 2 * live;
    if (s.cycles != last_cycles) {
      /* a cycle ended since the last look: what it marked was live then;
       * the table changed by at most 256 entries of <= 512 B since */
      if (s.heap_marked > live + 256 * 512 ||
          s.heap_marked + 256 * 512 < live)
        fail_msg("cycle %llu marked %llu bytes, the table holds %llu",
                 (unsigned long long)s.cycles,
                 (unsigned long long)s.heap_marked,
                 (unsigned long long)live);
      /* the pacer: next goal = 2 x marked, at least 4 MiB */
      uint64_t goal = 2 * s.heap_marked < 4 * MiB ? 4 * MiB : 2 * s.heap_marked;
      if (s.heap_goal != goal)
        fail_msg("cycle %llu: goal %llu for %llu marked",
                 (unsigned long long)s.cycles, (unsigned long long)s.heap_goal,
                 (unsigned long long)s.heap_marked);
      checked_cycles++;
      last_cycles = s.cycles;
    }
    long rss = tc_test_rss_kib();
    if (rss > rss_peak)
      rss_peak = rss;
  }
  tc_read_stats(&s);
  if (max_over)
    fail_msg("heap_inuse exceeded 2 x live (%llu) + 4 MiB by %llu bytes",
             (unsigned long long)live,
             (unsigned long long)(max_over - 4 * MiB));
  assert_true(s.cycles - s0.cycles > 5);
  assert_true(checked_cycles > 5);
  assert_int_equal(s.forced_cycles, s0.forced_cycles); /* all paced */
  assert_true(max_inuse >= live); /* sanity: the bound had something to bound */

  /* the live set is exact after a full collection */
  tc_gc();
  tc_read_stats(&s);
  assert_int_equal(s.heap_marked, live);
  assert_int_equal(s.heap_live, live);

  /* drop everything: the memory goes back */
  memset(slots, 0, nslots * sizeof(void *));
  assert_int_equal(tc_root_remove(slots), TC_OK);
  assert_int_equal(tc_root_remove(anchors), TC_OK);
  memset(anchors, 0, sizeof anchors);
  free(slots);
  slots = NULL;
  tc_gc();
  tc_gc();
  tc_read_stats(&s);
  assert_int_equal(s.heap_live, 0);
  assert_int_equal(s.heap_marked, 0);
  assert_int_equal(s.heap_inuse, 0);
  assert_true(s.heap_released > 0);
  /* at most the 4 MiB goal + 10% stays backed */
  assert_true(s.heap_free <= 4 * MiB + 4 * MiB / 10 + 64 * 1024);
  assert_true(s.heap_released + s.heap_free >= max_inuse);
  long rss_after = tc_test_rss_kib();
  if (!tc_test_under_valgrind() && rss_peak > 0 && rss_after > 0)
    assert_true(rss_after + 4 * 1024 < rss_peak);
}

/* ------------------------------------------------------------------ */
/* gc percent                                                          */

static uint64_t goal_for(uint64_t marked, uint64_t pct, uint64_t floor) {
  uint64_t g = marked + marked / 100 * pct + marked % 100 * pct / 100;
  return g < floor ? floor : g;
}

static void alloc_garbage(uint64_t bytes) {
  for (uint64_t done = 0; done < bytes; done += 1000)
    assert_non_null(tc_alloc_noscan(1000));
}

static void test_churn_gc_off_stops_heap_cycles(void **state) {
  (void)state;
  assert_int_equal(tc_set_gc_percent(TC_GC_OFF), 100);
  tc_stats s0, s;
  tc_read_stats(&s0);
  alloc_garbage(64 * MiB);
  tc_read_stats(&s);
  assert_int_equal(s.cycles, s0.cycles);
  assert_true(s.heap_inuse >= 64 * MiB); /* nothing was reclaimed */
  assert_int_equal(s.heap_goal, UINT64_MAX);
  /* an explicit tc_gc still collects */
  tc_gc();
  tc_read_stats(&s);
  assert_int_equal(s.cycles, s0.cycles + 1);
  assert_int_equal(s.heap_live, 0);
  assert_true(s.heap_inuse < 1 * MiB);
  /* still off afterwards */
  alloc_garbage(16 * MiB);
  tc_read_stats(&s);
  assert_int_equal(s.cycles, s0.cycles + 1);
  /* re-enabled: heap-triggered cycles are back */
  assert_int_equal(tc_set_gc_percent(100), TC_GC_OFF);
  alloc_garbage(32 * MiB);
  tc_read_stats(&s);
  assert_true(s.cycles >= s0.cycles + 3);
  assert_int_equal(s.forced_cycles, s0.forced_cycles + 1);
  assert_true(s.heap_inuse < 16 * MiB);
}

static void test_churn_env_gc_off(void **state) {
  (void)state;
  setenv("TRICOLOR_GC", "off", 1);
  tc_config cfg = {.gc_percent = 100};
  tc_test_restart(&cfg);
  unsetenv("TRICOLOR_GC");
  tc_stats s0, s;
  tc_read_stats(&s0);
  alloc_garbage(48 * MiB);
  tc_read_stats(&s);
  assert_int_equal(s.cycles, s0.cycles);
  assert_int_equal(tc_set_gc_percent(100), TC_GC_OFF);
}

/* Roots ~n bytes in a table and returns the table (caller removes it). */
static void **keep_bytes(uint64_t n, size_t *count) {
  size_t k = (size_t)(n / 1024);
  void **t = calloc(k, sizeof(void *));
  assert_non_null(t);
  assert_int_equal(tc_root_add(t, k), TC_OK);
  for (size_t i = 0; i < k; i++)
    tc_store(&t[i], tc_alloc_noscan(1024));
  *count = k;
  return t;
}

static void drop_table(void **t) {
  assert_int_equal(tc_root_remove(t), TC_OK);
  free(t);
}

static void check_goal(const char *env, int cfg_percent, uint64_t expect_pct) {
  if (env)
    setenv("TRICOLOR_GC", env, 1);
  else
    unsetenv("TRICOLOR_GC");
  tc_config cfg = {.gc_percent = cfg_percent, .min_heap = 1};
  tc_test_restart(&cfg);
  unsetenv("TRICOLOR_GC");
  size_t k;
  void **t = keep_bytes(10 * MiB, &k);
  tc_gc();
  tc_stats s;
  tc_read_stats(&s);
  assert_int_equal(s.heap_marked, (uint64_t)k * 1024);
  if (s.heap_goal != goal_for(s.heap_marked, expect_pct, 1))
    fail_msg("TRICOLOR_GC=%s, config %d: goal %llu for %llu marked, "
             "expected %llu%%", env ? env : "(unset)", cfg_percent,
             (unsigned long long)s.heap_goal,
             (unsigned long long)s.heap_marked,
             (unsigned long long)expect_pct);
  /* the pacer acts on it: growing by the percent starts a cycle */
  uint64_t c0 = s.cycles;
  alloc_garbage(s.heap_goal - s.heap_live + 2 * MiB);
  tc_read_stats(&s);
  assert_true(s.cycles > c0);
  drop_table(t);
}

static void test_churn_gc_percent_goal(void **state) {
  (void)state;
  check_goal(NULL, 0, 100);     /* 0 in the config means 100 */
  check_goal(NULL, 50, 50);
  check_goal("300", 50, 300);   /* the environment overrides the config */
  check_goal("25", 0, 25);
  check_goal("bogus", 50, 50);  /* an invalid value falls back (warns) */
  check_goal("-5", 200, 200);
}

static void test_churn_min_heap_floor(void **state) {
  (void)state;
  tc_config cfg = {.min_heap = 64 * MiB};
  tc_test_restart(&cfg);
  size_t k;
  void **t = keep_bytes(2 * MiB, &k);
  tc_gc();
  tc_stats s;
  tc_read_stats(&s);
  assert_int_equal(s.heap_goal, 64 * MiB);
  uint64_t c0 = s.cycles;
  alloc_garbage(40 * MiB); /* below the floor: no cycle */
  tc_read_stats(&s);
  assert_int_equal(s.cycles, c0);
  alloc_garbage(40 * MiB); /* past it: a cycle */
  tc_read_stats(&s);
  assert_true(s.cycles > c0);
  drop_table(t);
}

static void test_churn_set_gc_percent_changes_goal(void **state) {
  (void)state;
  tc_config cfg = {.min_heap = 1};
  tc_test_restart(&cfg);
  size_t k;
  void **t = keep_bytes(8 * MiB, &k);
  tc_gc();
  tc_stats s;
  tc_read_stats(&s);
  uint64_t marked = s.heap_marked;
  assert_int_equal(s.heap_goal, goal_for(marked, 100, 1));
  assert_int_equal(tc_set_gc_percent(400), 100);
  tc_read_stats(&s);
  assert_int_equal(s.heap_goal, goal_for(marked, 400, 1));
  assert_int_equal(tc_set_gc_percent(0), 400);
  tc_read_stats(&s);
  assert_int_equal(s.heap_goal, marked);
  assert_int_equal(tc_set_gc_percent(-7), 0); /* below -1: off */
  tc_read_stats(&s);
  assert_int_equal(s.heap_goal, UINT64_MAX);
  assert_int_equal(tc_set_gc_percent(100), TC_GC_OFF);
  drop_table(t);
}

/* ------------------------------------------------------------------ */
/* max_heap                                                            */

static int oom_calls;
static size_t oom_request;
static void on_oom(size_t request) {
  oom_calls++;
  oom_request = request;
}

static void test_churn_max_heap_oom(void **state) {
  (void)state;
  const uint64_t limit = 16 * MiB;
  oom_calls = 0;
  oom_request = 0;
  tc_config cfg = {.gc_percent = TC_GC_OFF, .max_heap = limit,
                   .on_oom = on_oom};
  tc_test_restart(&cfg);
  tc_stats s0, s;
  tc_read_stats(&s0);

  /* 1. garbage only: never NULL, emergency cycles reclaim it */
  uint64_t max_inuse = 0;
  for (uint64_t done = 0; done < 96 * MiB;) {
    size_t size = (done / 4096) % 5 == 0 ? 48 * 1024 : 700;
    void *p = tc_alloc(&item_type, size);
    assert_non_null(p);
    done += size;
    tc_read_stats(&s);
    /* accounting: what is live is what was allocated and not freed */
    assert_int_equal(s.heap_live, s.total_alloc - s.total_freed);
    if (s.heap_inuse > max_inuse)
      max_inuse = s.heap_inuse;
  }
  tc_read_stats(&s);
  assert_int_equal(oom_calls, 0);
  assert_true(s.cycles > s0.cycles); /* only emergency ones: gc is off */
  assert_int_equal(s.forced_cycles, s0.forced_cycles);
  assert_true(max_inuse <= limit);

  /* 2. live data past the limit: NULL after an emergency cycle + on_oom */
  enum { K = 1024 };
  static void *keep[K];
  memset(keep, 0, sizeof keep);
  assert_int_equal(tc_root_add(keep, K), TC_OK);
  size_t n = 0;
  void *p = NULL;
  uint64_t cycles_before_fail = 0;
  for (n = 0; n < K; n++) {
    tc_read_stats(&s);
    cycles_before_fail = s.cycles;
    p = tc_alloc_noscan(24 * 1024);
    if (p == NULL)
      break;
    tc_store(&keep[n], p);
  }
  assert_null(p);
  assert_true(n > 0 && n < K);
  assert_true((uint64_t)n * 24 * 1024 <= limit);
  assert_int_equal(oom_calls, 1);
  assert_int_equal(oom_request, 24 * 1024);
  tc_read_stats(&s);
  assert_int_equal(s.cycles, cycles_before_fail + 1); /* one emergency cycle */
  assert_true(s.heap_inuse <= limit);
  /* the data is intact and still rooted */
  for (size_t i = 0; i < n; i++)
    assert_true(tc_is_object(keep[i]));

  /* a single request over the limit fails the same way */
  assert_null(tc_alloc_noscan((size_t)limit * 2));
  assert_int_equal(oom_calls, 2);
  assert_int_equal(oom_request, (size_t)limit * 2);

  /* 3. after dropping half, allocation works again */
  for (size_t i = 0; i < n; i += 2)
    tc_store(&keep[i], NULL);
  for (size_t i = 0; i < n / 2 - 1; i++) {
    p = tc_alloc_noscan(24 * 1024);
    assert_non_null(p);
  }
  assert_int_equal(oom_calls, 2);
  assert_int_equal(tc_root_remove(keep), TC_OK);
  memset(keep, 0, sizeof keep);
  tc_gc();
  assert_non_null(tc_alloc_noscan((size_t)limit / 2));
}

int main(void) {
  /* the assertions on pacing assume the default growth percent */
  unsetenv("TRICOLOR_GC");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_churn_steady_state_bounded),
      T(test_churn_gc_off_stops_heap_cycles),
      T(test_churn_env_gc_off),
      T(test_churn_gc_percent_goal),
      T(test_churn_min_heap_floor),
      T(test_churn_set_gc_percent_changes_goal),
      T(test_churn_max_heap_oom),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
