/*
 * test_barrier_modes.c -- what each barrier mode shades, from one table.
 *
 * For a store replacing `old` with `new` by a mutator whose root stack is
 * grey (not yet scanned this cycle) or black, each row says which of the
 * two must be shaded.  The table is checked twice:
 *   1. against the pure policy, tc__barrier_policy (barrier/barrier.h);
 *   2. against the shading itself: tc__barrier_shade on two fresh white
 *      objects, into a grey buffer of our own, inside a coroutine (so the
 *      stack has a colour; the test turns it grey by moving the epoch on,
 *      with cycles off), then the mark bits say what was shaded.
 * Negative control: a row with the opposite expectation is caught by the
 * same comparison (a table that cannot fail would pass it).
 *   3. what hybrid's barrier records in its P's buffer during a real
 *      cycle (the collector held before it marks, gcmarkdelay): the new
 *      reference while the storing coroutine's stack is grey (its
 *      allocation began the cycle and it ran the mark-start pause
 *      itself): two entries, old and new; once the stack is black (it
 *      switched out and scanned itself before it ran again), one entry,
 *      the old.  Each half is the other's negative control: a mask stuck
 *      at either value fails one of them.
 *      A mask cleared too early loses objects, which the verifier
 *      catches: with every mask set to 0 at the mark start,
 *      stress_gc_torture failed ("gccheckmark: reachable object ... was
 *      not marked by the hybrid mark").
 */
#include "tc_sched_test.h"

#include "barrier/barrier.h" /* white-box: policy, shading, marker */

typedef struct row {
  int mode;
  bool grey;       /* the storing coroutine's root stack */
  bool old_shaded;
  bool new_shaded;
} row;

static const row table[] = {
    {TC_BARRIER_INSERTION, true, false, true},
    {TC_BARRIER_INSERTION, false, false, true},
    {TC_BARRIER_DELETION, true, true, false},
    {TC_BARRIER_DELETION, false, true, false},
    {TC_BARRIER_HYBRID, true, true, true},
    {TC_BARRIER_HYBRID, false, true, false},
    {TC_BARRIER_STW, true, false, false},
    {TC_BARRIER_STW, false, false, false},
    {TC__BARRIER_NONE, true, false, false},
    {TC__BARRIER_NONE, false, false, false},
};
#define NROWS (sizeof table / sizeof table[0])

static bool policy_matches(const row *r) {
  unsigned what = tc__barrier_policy(r->mode, r->grey);
  return ((what & TC__SHADE_OLD) != 0) == r->old_shaded &&
         ((what & TC__SHADE_NEW) != 0) == r->new_shaded;
}

static void test_barrier_policy_table(void **state) {
  (void)state;
  for (size_t i = 0; i < NROWS; i++) {
    if (!policy_matches(&table[i]))
      fail_msg("row %zu: mode %s, stack %s", i,
               tc_barrier_name((tc_barrier_mode)table[i].mode),
               table[i].grey ? "grey" : "black");
  }
}

static void test_barrier_policy_negative_control(void **state) {
  (void)state;
  for (size_t i = 0; i < NROWS; i++) {
    row wrong = table[i];
    wrong.old_shaded = !wrong.old_shaded;
    assert_false(policy_matches(&wrong));
    wrong = table[i];
    wrong.new_shaded = !wrong.new_shaded;
    assert_false(policy_matches(&wrong));
  }
}

/* ---------------------------------------------------------------- shading */

typedef struct node {
  struct node *ref;
} node;
static const uint32_t node_offsets[] = {0};
static tc_type node_type = {.name = "node", .offsets = node_offsets,
                            .noffsets = 1};

static bool is_marked(void *p) {
  tc__span *s = tc__span_of(p);
  return tc__bit_get(s->mark_bits, tc__span_index(s, p));
}

/* markorder=span: a greyed object waits as a grey bit of its queued span,
 * not as an entry of the grey buffer (collector/spanq.c). */
static bool is_span_grey(void *p) {
  tc__span *s = tc__span_of(p);
  return s->grey_bits && tc__bit_get(s->grey_bits, tc__span_index(s, p));
}

typedef struct shade_case {
  int checked;
} shade_case;

static void shading_main(void *arg) {
  shade_case *sc = arg;
  node *old = NULL, *new = NULL;
  TC_LOCALS(old, new);
  tc__marker w;
  tc__marker_init(&w);
  int saved_mode = tc__barrier_mode();
  for (size_t i = 0; i < NROWS; i++) {
    const row *r = &table[i];
    old = tc_alloc(&node_type, sizeof *old);
    new = tc_alloc(&node_type, sizeof *new);
    EXPECT(!is_marked(old) && !is_marked(new)); /* white: no cycle runs */
    /* the colour: black is 2 * epoch; this G's stack word stays put, so
     * moving the epoch on turns it grey (cycles are off, nobody else
     * looks at the epoch now) */
    uint32_t colour;
    EXPECT(tc__world_current_colour(&colour));
    uint32_t epoch = tc__load_relaxed(&tc__gc.epoch);
    if (r->grey)
      tc__store_relaxed(&tc__gc.epoch, epoch + 1);
    else
      tc__store_relaxed(&tc__gc.epoch, colour / 2);
    EXPECT(tc__barrier_stack_grey() == r->grey);
    tc__barrier_cycle_mode(r->mode);
    tc__barrier_shade(&w, old, new);
    tc__barrier_cycle_mode(saved_mode);
    tc__store_relaxed(&tc__gc.epoch, epoch);
    EXPECT(is_marked(old) == r->old_shaded);
    EXPECT(is_marked(new) == r->new_shaded);
    EXPECT(w.n + is_span_grey(old) + is_span_grey(new) ==
           (size_t)r->old_shaded + (size_t)r->new_shaded);
    w.n = 0; /* grey entries of white-again objects: dropped */
    tc__spanq_discard(); /* and their queued spans */
    sc->checked++;
  }
  tc__marker_destroy(&w);
}

static void test_barrier_shading_table(void **state) {
  (void)state;
  shade_case sc = {0};
  tc_config cfg = {.procs = 1, .gc_percent = TC_GC_OFF};
  atomic_store(&failures.n, 0);
  assert_int_equal(tc_run(&cfg, shading_main, &sc), TC_OK);
  if (atomic_load(&failures.n))
    fail_msg("%d expectation(s) failed, first: %s", atomic_load(&failures.n),
             failures.first);
  assert_int_equal(sc.checked, (int)NROWS);
}

/* ---------------------------------------------------------------- recording */

/* The newest entries of this P's barrier buffer. */
static void *recorded(int back) { return tc__ctx_get()->cache->wbp[-back]; }
/* This P's barrier buffer cursor. */
static void **cursor(void) { return tc__ctx_get()->cache->wbp; }

/* Allocates garbage until a cycle marks; true if this coroutine began it
 * (ran its mark-start pause itself: its stack is still grey). */
static bool allocate_into_a_cycle(void) {
  for (long i = 0; i < 100000000 && !tc__marking(); i++)
    (void)tc_alloc(&node_type, 64);
  return tc__marking() && tc__barrier_stack_grey();
}

static void record_main(void *arg) {
  int *checked = arg;
  node *holder = NULL, *a = NULL, *b = NULL;
  TC_LOCALS(holder, a, b);
  holder = tc_alloc(&node_type, sizeof *holder);
  a = tc_alloc(&node_type, sizeof *a);
  b = tc_alloc(&node_type, sizeof *b);
  /* A cycle the collector thread begins stops us at a safepoint, and we
   * come back through execute, black: try until one begins here (most
   * do: test_collector_concurrent) */
  bool here = false;
  for (int tries = 0; tries < 20 && !here; tries++) {
    while (tc__marking())
      tc_yield(); /* the last cycle ends (gcmarkdelay, then its mark) */
    here = allocate_into_a_cycle();
  }
  EXPECT(here);
  if (!here)
    return;
  void **before = cursor();
  tc_store((void **)&holder->ref, a);
  /* grey: both halves, two entries */
  EXPECT(cursor() == before + 2 && recorded(2) == NULL && recorded(1) == a);
  tc_yield(); /* back in through execute: scans itself first */
  EXPECT(tc__marking()); /* gcmarkdelay holds the collector */
  EXPECT(!tc__barrier_stack_grey());
  before = cursor();
  tc_store((void **)&holder->ref, b);
  /* black: the old half alone, one entry */
  EXPECT(cursor() == before + 1 && recorded(1) == a);
  *checked = 1;
}

static void test_barrier_hybrid_records_new_while_grey(void **state) {
  (void)state;
  int checked = 0;
  tc_config cfg = {.procs = 1, .barrier = TC_BARRIER_HYBRID};
  tc_test_debug_env("gcmarkdelay=50000");
  atomic_store(&failures.n, 0);
  assert_int_equal(tc_run(&cfg, record_main, &checked), TC_OK);
  tc_test_debug_env(NULL);
  if (atomic_load(&failures.n))
    fail_msg("%d expectation(s) failed, first: %s", atomic_load(&failures.n),
             failures.first);
  assert_int_equal(checked, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_barrier_policy_table),
      cmocka_unit_test(test_barrier_policy_negative_control),
      cmocka_unit_test(test_barrier_shading_table),
      cmocka_unit_test(test_barrier_hybrid_records_new_while_grey),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
