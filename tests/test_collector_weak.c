/*
 * test_collector_weak.c -- weak references and ephemerons
 * (collector/weak.c).
 *
 *   - a weak reference is cleared exactly when its target becomes
 *     unreachable, not before; every weak reference to one target in the
 *     same cycle; before the target's finalizer runs;
 *   - an ephemeron keeps its value while its key is reachable by other
 *     means, and is cleared (key and value) once the key dies; a target
 *     reachable only through such a value is kept; chains resolve in one
 *     cycle, and a value that references its own key keeps neither;
 *   - stats count what was cleared;
 *   - under tc_run, in every barrier mode with gccheckmark, coroutines
 *     churn weak references and ephemerons across many cycles and find
 *     every object they read intact;
 *   - negative control: with the read shade switched off (test hook
 *     noweakshade=1), a coroutine created while marking reads a target only
 *     weak references reach, keeps it, and the verifier reports it lost.
 * Liveness is observed through weak references themselves (a collected
 * object's weak reference reads NULL) and stats, never through time.
 */
#include "tc_sched_test.h"

#include "collector/collector.h" /* white-box: phase */

#include <stdlib.h>
#include <string.h>

typedef struct node {
  struct node *ref;
  long value;
} node;
static const uint32_t node_offsets[] = {offsetof(node, ref)};
static tc_type node_type = {.name = "node", .offsets = node_offsets,
                            .noffsets = 1};

static node *new_node(long value, node *ref) {
  node *n = NULL;
  TC_LOCALS(ref, n);
  n = tc_alloc(&node_type, sizeof *n);
  n->value = value;
  TC_STORE(n, ref, ref);
  return n;
}

/* The bare-mutator fixture of tc_test.h: teardown collects until the heap
 * is empty, so whatever a test left behind (weak references, ephemerons,
 * their targets) must be collectable. */
static void bare_up(void) {
  tc_test_debug_env(NULL);
  assert_int_equal(tc_test_start(NULL), 0);
}

static void bare_down(void) { tc_test_finish(8); }

/* ---------------------------------------------------------------- weak */

static void test_weak_cleared_when_unreachable(void **state) {
  (void)state;
  bare_up();
  {
    node *t = NULL;
    tc_weak *w = NULL;
    TC_LOCALS(t, w);
    t = new_node(7, NULL);
    w = tc_weak_new(t);
    assert_non_null(w);
    assert_ptr_equal(tc_weak_get(w), t);
    for (int i = 0; i < 3; i++) { /* not before: reachable, kept */
      tc_gc();
      assert_ptr_equal(tc_weak_get(w), t);
      assert_int_equal(t->value, 7);
    }
    tc_stats s0, s1;
    tc_read_stats(&s0);
    t = NULL; /* unreachable now */
    tc_gc();
    assert_null(tc_weak_get(w));
    tc_read_stats(&s1);
    assert_int_equal(s1.weak_cleared - s0.weak_cleared, 1);
    assert_int_equal(s1.last_weak_cleared, 1);
    assert_int_equal(s1.last_weak, 1);
    /* a weak reference to NULL stays NULL */
    w = tc_weak_new(NULL);
    assert_null(tc_weak_get(w));
  }
  bare_down();
}

static void test_weak_all_cleared_together(void **state) {
  (void)state;
  bare_up();
  {
    node *dead = NULL, *live = NULL;
    tc_weak *a = NULL, *b = NULL, *c = NULL;
    TC_LOCALS(dead, live, a, b, c);
    dead = new_node(1, NULL);
    live = new_node(2, NULL);
    a = tc_weak_new(dead);
    b = tc_weak_new(dead);
    c = tc_weak_new(live);
    assert_ptr_not_equal(a, b); /* one object per call */
    dead = NULL;
    tc_gc();
    assert_null(tc_weak_get(a));
    assert_null(tc_weak_get(b));
    assert_ptr_equal(tc_weak_get(c), live);
    /* the weak objects themselves die like any object */
    tc_weak *ww = NULL;
    TC_LOCALS(ww);
    ww = tc_weak_new(a);
    a = NULL;
    tc_gc();
    assert_null(tc_weak_get(ww));
  }
  bare_down();
}

static tc_weak **fin_weak; /* a root slot the finalizer looks through */
static int fin_saw_null = -1;

static void fin_check(void *obj) {
  (void)obj;
  fin_saw_null = tc_weak_get(*fin_weak) == NULL;
}

static tc_type fin_type = {.name = "fin_node", .offsets = node_offsets,
                           .noffsets = 1, .finalize = fin_check};

static void test_weak_cleared_before_finalizer(void **state) {
  (void)state;
  bare_up();
  static void *slot[1];
  assert_int_equal(tc_root_add(slot, 1), TC_OK);
  fin_weak = (tc_weak **)&slot[0];
  {
    node *t = NULL;
    TC_LOCALS(t);
    t = tc_alloc(&fin_type, sizeof *t);
    tc_store(&slot[0], tc_weak_new(t));
    t = NULL;
  }
  fin_saw_null = -1;
  tc_gc(); /* clears, queues the finalizer, runs it */
  tc_run_finalizers();
  assert_int_equal(fin_saw_null, 1);
  assert_null(tc_weak_get(*fin_weak));
  /* the finalized object is freed next cycle; the weak stays NULL */
  tc_gc();
  assert_null(tc_weak_get(*fin_weak));
  tc_root_remove(slot);
  bare_down();
}

/* ---------------------------------------------------------------- ephemerons */

static void test_ephemeron_keeps_value_while_key_lives(void **state) {
  (void)state;
  bare_up();
  {
    node *k = NULL, *v = NULL;
    tc_ephemeron *e = NULL;
    tc_weak *wv = NULL, *wk = NULL;
    TC_LOCALS(k, v, e, wv, wk);
    k = new_node(1, NULL);
    v = new_node(2, new_node(3, NULL)); /* v -> child */
    e = tc_ephemeron_new(k, v);
    wv = tc_weak_new(v);
    wk = tc_weak_new(k);
    v = NULL; /* v only through e's value */
    for (int i = 0; i < 3; i++) {
      tc_gc();
      node *got = tc_ephemeron_value(e);
      assert_non_null(got);
      assert_int_equal(got->value, 2);
      assert_int_equal(got->ref->value, 3); /* traced through */
      assert_ptr_equal(tc_ephemeron_key(e), k);
    }
    tc_stats s0, s1;
    tc_read_stats(&s0);
    k = NULL; /* the key dies: key and value go */
    tc_gc();
    assert_null(tc_ephemeron_key(e));
    assert_null(tc_ephemeron_value(e));
    assert_null(tc_weak_get(wk));
    assert_null(tc_weak_get(wv)); /* the value was collected */
    tc_read_stats(&s1);
    assert_int_equal(s1.ephemerons_cleared - s0.ephemerons_cleared, 1);
  }
  bare_down();
}

static void test_ephemeron_chain(void **state) {
  (void)state;
  bare_up();
  {
    /* E1(k1 -> k2), E2(k2 -> k3), E3(k3 -> v): k1 alone keeps them all;
     * the ephemerons are created in reverse so a marker finds them in the
     * worst order */
    enum { N = 6 };
    static void *slots[2 * N + 2];
    assert_int_equal(tc_root_add(slots, 2 * N + 2), TC_OK);
    void **keys = slots;          /* keys[0..N] */
    void **eph = slots + N + 1;   /* eph[0..N-1] */
    for (int i = 0; i <= N; i++)
      tc_store(&keys[i], new_node(100 + i, NULL));
    for (int i = N - 1; i >= 0; i--)
      tc_store(&eph[i], tc_ephemeron_new(keys[i], keys[i + 1]));
    tc_weak *last = NULL;
    TC_LOCALS(last);
    last = tc_weak_new(keys[N]);
    for (int i = 1; i <= N; i++)
      tc_store(&keys[i], NULL); /* only through the chain now */
    tc_gc();
    for (int i = 0; i < N; i++) {
      node *v = tc_ephemeron_value(eph[i]);
      assert_non_null(v);
      assert_int_equal(v->value, 100 + i + 1);
    }
    assert_non_null(tc_weak_get(last));
    tc_stats st;
    tc_read_stats(&st);
    assert_true(st.last_ephemerons_resolved >= 1);
    tc_store(&keys[0], NULL); /* the head dies: the whole chain goes */
    tc_gc();
    for (int i = 0; i < N; i++)
      assert_null(tc_ephemeron_value(eph[i]));
    assert_null(tc_weak_get(last));
    tc_root_remove(slots);
  }
  bare_down();
}

static void test_ephemeron_value_refers_to_its_key(void **state) {
  (void)state;
  bare_up();
  {
    node *k = NULL, *v = NULL;
    tc_ephemeron *e = NULL;
    tc_weak *wk = NULL, *wv = NULL;
    TC_LOCALS(k, v, e, wk, wv);
    k = new_node(1, NULL);
    v = new_node(2, k); /* v -> k */
    e = tc_ephemeron_new(k, v);
    wk = tc_weak_new(k);
    wv = tc_weak_new(v);
    k = v = NULL;
    tc_gc(); /* k is reachable only through e's own value: not by other
                means, so neither lives */
    assert_null(tc_ephemeron_key(e));
    assert_null(tc_weak_get(wk));
    assert_null(tc_weak_get(wv));
  }
  bare_down();
}

/* ---------------------------------------------------------------- concurrent */

typedef struct churn {
  atomic_int left;
  atomic_int stop;      /* set by main once enough cycles ran */
  atomic_long reads;
  atomic_long cleared;
  tc_stats end;         /* read by main at the end */
} churn;

#define CHURN_CYCLES 6  /* cycles the churn must cross, in every build */

/* A table of weak references and ephemerons keyed by nodes that come and
 * go; every read checks the object's contents. */
static void churner(void *arg) {
  churn *c = arg;
  enum { N = 64 };
  node *tmp = NULL, *k = NULL;
  TC_LOCALS(tmp, k);
  /* each coroutine's table: a global range of its own */
  static atomic_int next;
  static void *ranges[8][3 * N];
  int me = atomic_fetch_add(&next, 1) % 8;
  void **r = ranges[me];
  memset(r, 0, sizeof ranges[me]);
  EXPECT(tc_root_add(r, 3 * N) == TC_OK);
  void **key = r, **weak = r + N, **eph = r + 2 * N;
  unsigned seed = 12345u + (unsigned)me;
  for (long round = 0; !atomic_load(&c->stop); round++) {
    int i = (int)(rand_r(&seed) % N);
    switch (rand_r(&seed) % 4) {
    case 0: /* a new key with a weak reference and an ephemeron */
      k = new_node(1000 + i, NULL);
      tc_store(&key[i], k);
      tc_store(&weak[i], tc_weak_new(k));
      tmp = new_node(2000 + i, new_node(3000 + i, NULL));
      tc_store(&eph[i], tc_ephemeron_new(k, tmp));
      tmp = k = NULL;
      break;
    case 1: /* the key dies */
      tc_store(&key[i], NULL);
      break;
    default: { /* read through both */
      tmp = tc_weak_get(weak[i]);
      if (tmp) {
        EXPECT(tmp->value == 1000 + i);
        atomic_fetch_add(&c->reads, 1);
      } else if (weak[i]) {
        atomic_fetch_add(&c->cleared, 1);
      }
      tmp = tc_ephemeron_value(eph[i]);
      if (tmp) {
        EXPECT(tmp->value == 2000 + i);
        EXPECT(tmp->ref && tmp->ref->value == 3000 + i);
        k = tc_ephemeron_key(eph[i]);
        EXPECT(k && k->value == 1000 + i);
      }
      tmp = k = NULL;
      break;
    }
    }
    if (round % 16 == 0)
      (void)tc_alloc_noscan(2048); /* garbage: keeps cycles coming */
  }
  tc_root_remove(r);
  atomic_fetch_sub(&c->left, 1);
}

static void churn_main(void *arg) {
  churn *c = arg;
  int n = atomic_load(&c->left);
  tc_stats st;
  tc_read_stats(&st);
  uint64_t want = st.cycles + CHURN_CYCLES;
  for (int i = 0; i < n; i++)
    EXPECT(tc_go(churner, c) == TC_OK);
  int64_t end = tc_now() + guard_ns();
  do {
    tc_yield();
    tc_read_stats(&st);
  } while (st.cycles < want && tc_now() < end);
  atomic_store(&c->stop, 1);
  while (atomic_load(&c->left) > 0 && tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&c->left) == 0);
  tc_gc();
  tc_read_stats(&c->end);
}

static void churn_mode(const char *mode) {
  char env[128];
  snprintf(env, sizeof env, "barrier=%s,gccheckmark=1", mode);
  tc_test_debug_env(env);
  churn c;
  memset(&c, 0, sizeof c);
  atomic_store(&c.left, 3);
  tc_config cfg = {.procs = 2, .min_heap = 1 << 20};
  tc_stats st;
  memset(&st, 0, sizeof st);
  atomic_store(&failures.n, 0);
  assert_int_equal(tc_run(&cfg, churn_main, &c), TC_OK);
  tc_test_debug_env(NULL);
  if (atomic_load(&failures.n))
    fail_msg("%s: %d expectation(s) failed, first: %s", mode,
             atomic_load(&failures.n), failures.first);
  print_message("%-9s: %llu cycles, %ld reads, %ld cleared seen, weak "
                "cleared %llu, ephemerons cleared %llu, resolved %llu\n",
                mode, (unsigned long long)c.end.cycles, atomic_load(&c.reads),
                atomic_load(&c.cleared),
                (unsigned long long)c.end.weak_cleared,
                (unsigned long long)c.end.ephemerons_cleared,
                (unsigned long long)c.end.ephemerons_resolved);
  assert_true(atomic_load(&c.reads) > 0);
  assert_true(c.end.cycles >= CHURN_CYCLES); /* crossed many cycles */
  assert_true(c.end.weak_cleared > 0);
  assert_true(c.end.ephemerons_cleared > 0);
}

static void test_weak_concurrent_modes(void **state) {
  (void)state;
  churn_mode("hybrid");
  churn_mode("insertion");
  churn_mode("deletion");
  churn_mode("stw");
}

/* ---------------------------------------------------------------- negative control */

typedef struct lost {
  tc_weak *w;           /* in a root: the only way to the target */
  atomic_int cycle_over;
} lost;

static void *lost_root[1];

static void lost_gc(void *arg) {
  lost *l = arg;
  tc_gc();
  atomic_store(&l->cycle_over, 1);
}

/* Created while marking: a black root stack. */
static void lost_reader(void *arg) {
  lost *l = arg;
  node *t = NULL;
  TC_LOCALS(t);
  t = tc_weak_get(lost_root[0]);
  int64_t end = tc_now() + guard_ns();
  while (!atomic_load(&l->cycle_over) && tc_now() < end)
    tc_yield();
  EXPECT(t != NULL && t->value == 99);
}

static void lost_main(void *arg) {
  lost *l = arg;
  tc_root_add(lost_root, 1);
  {
    node *t = NULL;
    TC_LOCALS(t);
    t = new_node(99, NULL);
    tc_store(&lost_root[0], tc_weak_new(t));
  }
  tc_go(lost_gc, l);
  int64_t end = tc_now() + guard_ns();
  while (tc__load_acquire(&tc__phase) != TC__PHASE_MARK && tc_now() < end)
    tc_yield();
  tc_go(lost_reader, l);
  while (!atomic_load(&l->cycle_over) && tc_now() < end)
    tc_yield();
  tc_yield();
  tc_root_remove(lost_root);
}

static void run_lost(const char *extra) {
  char env[160];
  long us = tc_test_under_valgrind() ? 2000000
            : tc_test_slow_build()   ? 1000000
                                     : 200000;
  snprintf(env, sizeof env, "barrier=hybrid,gccheckmark=1,gcmarkdelay=%ld%s",
           us, extra);
  tc_test_debug_env(env);
  lost l;
  memset(&l, 0, sizeof l);
  tc_config cfg = {.procs = 2, .gc_percent = TC_GC_OFF};
  atomic_store(&failures.n, 0);
  tc_run(&cfg, lost_main, &l);
  tc_test_debug_env(NULL);
}

static void lost_child(void *arg) {
  (void)arg;
  run_lost(",noweakshade=1");
}

static void test_weak_read_shade_negative_control(void **state) {
  (void)state;
  /* with the shade: the target read while marking survives */
  run_lost("");
  if (atomic_load(&failures.n))
    fail_msg("%s", failures.first);
  /* without it: the verifier catches the lost object */
  tc_expect_death(lost_child, NULL,
                  "was not marked by the hybrid mark; referenced from root "
                  "slot");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_weak_cleared_when_unreachable),
      cmocka_unit_test(test_weak_all_cleared_together),
      cmocka_unit_test(test_weak_cleared_before_finalizer),
      cmocka_unit_test(test_ephemeron_keeps_value_while_key_lives),
      cmocka_unit_test(test_ephemeron_chain),
      cmocka_unit_test(test_ephemeron_value_refers_to_its_key),
      cmocka_unit_test(test_weak_concurrent_modes),
      cmocka_unit_test(test_weak_read_shade_negative_control),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
