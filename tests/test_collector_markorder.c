/*
 * test_collector_markorder.c -- the two mark orders (TRICOLOR_DEBUG=
 * markorder=object|span; collector/spanq.c) give the same mark, in every
 * barrier mode, under tc_run and on a bare mutator, with the verifier on
 * (gccheckmark=1: a reachable object left white aborts the test).
 *
 * The workload (one coroutine, or the bare mutator):
 *   - a list of LIST_N nodes built by prepending, so each node points to
 *     an older one at a lower address of its span: scanning a node greys
 *     a slot of its own span behind the scan (span order must take the
 *     span again);
 *   - a binary tree of depth TREE_DEPTH built depth first;
 *   - two reference arrays, a small one (a span of its own class) and a
 *     large one (the object route in span order), whose targets were
 *     allocated between garbage of the same size, so they lie in many
 *     spans, a few per span;
 *   - ROUNDS rounds of churn: garbage that starts cycles, new objects
 *     stored (tc_store) into array slots while cycles run, so objects of
 *     one span are greyed at different times of a cycle (by the scan of
 *     an array, by the barrier, by a later scan of a new object), and
 *     weak references to some dropped objects.
 * After each round every structure is walked and every node's contents
 * checked (value and a check word derived from it); at the end tc_gc()
 * must have cleared every weak reference to a dropped object and none to
 * a kept one, the verifier must have run (stats.float_cycles), and in
 * span order spans must have gone through the queue (tc__gcc.spans,
 * white-box).  The bare-mutator cases end with tc_test_finish: nothing
 * is left once the roots are gone.
 * Negative control: markorderbug=1 (span order drops the objects its own
 * scan greys behind it, and those greyed while it scanned) must make the
 * verifier abort, in a forked child, on a bare mutator and under tc_run.
 * Every barrier-mode case runs with 2 Ps; nothing measures time.
 */
#include "tc_test.h"

#include "collector/collector.h" /* white-box: tc__gcc.spans */

#include "tc_sched_test.h" /* run_cfg(), EXPECT, scaled() */

#define LIST_N 20000
#define TREE_DEPTH 12
#define SMALL_REFS 1024 /* 8 KiB array: a small object */
#define LARGE_REFS 8192 /* 64 KiB array: a large object */
#define ROUNDS 8
#define NWEAK 64

typedef struct obj {
  struct obj *a;   /* list: next; tree: left */
  struct obj *b;   /* tree: right */
  uint64_t val;
  uint64_t check;  /* ~val * K: the contents survived */
} obj;
static const uint32_t obj_offsets[] = {offsetof(obj, a), offsetof(obj, b)};
static tc_type obj_type = {
    .name = "mo_obj", .offsets = obj_offsets, .noffsets = 2};

static const uint32_t refs_offsets[] = {0};
static tc_type refs_type = {
    .name = "mo_refs", .offsets = refs_offsets, .noffsets = 1, .stride = 8};

static tc_type weak_holder_type = {.name = "mo_weaks",
                                   .offsets = refs_offsets,
                                   .noffsets = 1,
                                   .stride = 8};

#define K 0x9e3779b97f4a7c15ULL

static obj *new_obj(uint64_t val) {
  obj *o = tc_alloc(&obj_type, sizeof *o);
  if (o) {
    o->val = val;
    o->check = ~val * K;
  }
  return o;
}

static bool intact(const obj *o, uint64_t val) {
  return o != NULL && o->val == val && o->check == (~val * K);
}

/* Failures: EXPECT under tc_run; a counter the bare cases assert on. */
static int bare_failures;
static bool bare;
#define CHECK(cond)                                                          \
  do {                                                                       \
    if (bare) {                                                              \
      if (!(cond))                                                           \
        bare_failures++;                                                     \
    } else {                                                                 \
      EXPECT(cond);                                                          \
    }                                                                        \
  } while (0)

static obj *build_tree(int depth, uint64_t val) {
  obj *o = new_obj(val);
  TC_LOCALS(o);
  if (depth > 0) {
    obj *l = build_tree(depth - 1, 2 * val);
    TC_STORE(o, a, l);
    obj *r = build_tree(depth - 1, 2 * val + 1);
    TC_STORE(o, b, r);
  }
  return o;
}

/* Walks the tree; returns its nodes, or -1 if one is damaged. */
static long walk_tree(obj *o, int depth, uint64_t val) {
  if (!intact(o, val))
    return -1;
  if (depth == 0)
    return (o->a == NULL && o->b == NULL) ? 1 : -1;
  long l = walk_tree(o->a, depth - 1, 2 * val);
  long r = walk_tree(o->b, depth - 1, 2 * val + 1);
  return l < 0 || r < 0 ? -1 : 1 + l + r;
}

static bool walk_list(obj *head, long n) {
  long i = n - 1;
  for (obj *o = head; o; o = o->a, i--)
    if (!intact(o, (uint64_t)i))
      return false;
  return i == -1;
}

/* Fills refs[0, n) with objects val = base + i, each followed by garbage
 * of its size, so the targets spread over twice as many spans. */
static void fill_refs(void **refs_root, size_t n, uint64_t base) {
  obj *o = NULL;
  TC_LOCALS(o);
  for (size_t i = 0; i < n; i++) {
    o = new_obj(base + i);
    tc_store(&((void **)*refs_root)[i], o);
    (void)new_obj(0); /* garbage between them */
    (void)new_obj(0);
  }
}

static bool walk_refs(void **refs, size_t n, uint64_t base) {
  for (size_t i = 0; i < n; i++)
    if (!intact(refs[i], base + i))
      return false;
  return true;
}

static long list_n(void) { return scaled(LIST_N, 4); }

/* Under tc_run: a second coroutine that stores new objects into arrays
 * of its own (main walks them only after waiting for it: a walk during
 * its stores would race) and drops garbage while main's cycles mark.
 * The arrays stay alive in main's roots until then (nothing moves). */
typedef struct churn {
  void **small, **large;
  atomic_int stop;
  tc_waitgroup done;
} churn;

static void churner(void *arg) {
  churn *c = arg;
  obj *o = NULL;
  TC_LOCALS(o);
  for (unsigned k = 0; !atomic_load(&c->stop); k++) {
    o = new_obj(2000000 + k % LARGE_REFS);
    tc_store(&c->large[k % LARGE_REFS], o);
    o = new_obj(1000000 + (k * 5) % SMALL_REFS);
    tc_store(&c->small[(k * 5) % SMALL_REFS], o);
    for (int g = 0; g < 4; g++) {
      obj *old = o;
      o = new_obj(0);
      TC_STORE(o, a, old); /* a short garbage chain */
    }
    if (k % 64 == 0)
      tc_yield();
  }
  tc_waitgroup_done(&c->done);
}

static void workload(void) {
  obj *list = NULL, *tree = NULL, *o = NULL;
  void **small = NULL, **large = NULL, **weaks = NULL;
  void **csmall = NULL, **clarge = NULL; /* the churner's */
  TC_LOCALS(list, tree, o, small, large, weaks, csmall, clarge);
  uint64_t spans0 = tc__load_relaxed(&tc__gcc.spans);
  long n = list_n();
  for (long i = 0; i < n; i++) {
    o = new_obj((uint64_t)i);
    TC_STORE(o, a, list);
    list = o;
  }
  tree = build_tree(TREE_DEPTH, 1);
  small = tc_alloc(&refs_type, SMALL_REFS * sizeof(void *));
  fill_refs((void **)&small, SMALL_REFS, 1000000);
  large = tc_alloc(&refs_type, LARGE_REFS * sizeof(void *));
  fill_refs((void **)&large, LARGE_REFS, 2000000);
  weaks = tc_alloc(&weak_holder_type, 2 * NWEAK * sizeof(void *));
  static churn c;
  if (!bare) {
    csmall = tc_alloc(&refs_type, SMALL_REFS * sizeof(void *));
    fill_refs((void **)&csmall, SMALL_REFS, 1000000);
    clarge = tc_alloc(&refs_type, LARGE_REFS * sizeof(void *));
    fill_refs((void **)&clarge, LARGE_REFS, 2000000);
    c.small = csmall;
    c.large = clarge;
    atomic_store(&c.stop, 0);
    tc_waitgroup_add(&c.done, 1);
    CHECK(tc_go(churner, &c) == TC_OK);
  }
  uint64_t fresh = 3000000;
  for (int r = 0; r < ROUNDS; r++) {
    /* garbage: a few cycles per round (the tc_gc below, and the trigger) */
    for (long g = 0; g < n; g++)
      (void)new_obj(0);
    /* new objects into old ones: replace some tree leaves' children,
     * some array slots; the old targets become garbage */
    for (int k = 0; k < SMALL_REFS; k += 7) {
      o = new_obj(1000000 + (uint64_t)k);
      tc_store(&small[k], o);
    }
    for (int k = r; k < LARGE_REFS; k += 13) {
      o = new_obj(2000000 + (uint64_t)k);
      tc_store(&large[k], o);
      tc_safepoint();
    }
    /* weak references: half to dropped objects, half to list nodes */
    if (r == ROUNDS - 1) {
      obj *kept = list;
      for (int k = 0; k < NWEAK; k++, kept = kept->a) {
        o = new_obj(fresh++);
        tc_weak *w = tc_weak_new(o);
        tc_store(&weaks[2 * k], w);
        o = kept;
        w = tc_weak_new(o);
        tc_store(&weaks[2 * k + 1], w);
        kept = o;
      }
      o = NULL;
    }
    tc_gc();
    CHECK(walk_list(list, n));
    CHECK(walk_tree(tree, TREE_DEPTH, 1) == (2L << TREE_DEPTH) - 1);
    CHECK(walk_refs(small, SMALL_REFS, 1000000));
    CHECK(walk_refs(large, LARGE_REFS, 2000000));
  }
  if (!bare) {
    atomic_store(&c.stop, 1);
    tc_waitgroup_wait(&c.done);
    CHECK(walk_refs(csmall, SMALL_REFS, 1000000));
    CHECK(walk_refs(clarge, LARGE_REFS, 2000000));
  }
  tc_gc();
  int cleared = 0, kept = 0;
  o = list;
  for (int k = 0; k < NWEAK; k++, o = o->a) {
    cleared += tc_weak_get(weaks[2 * k]) == NULL;
    kept += tc_weak_get(weaks[2 * k + 1]) == o;
  }
  CHECK(cleared == NWEAK);
  CHECK(kept == NWEAK);
  tc_stats st;
  tc_read_stats(&st);
  CHECK(st.float_cycles > 0); /* gccheckmark ran */
  if (tc__debug_settings.markorder == TC__MARKORDER_SPAN)
    CHECK(tc__load_relaxed(&tc__gcc.spans) > spans0);
}

static void workload_main(void *arg) {
  (void)arg;
  workload();
}

static void env(const char *order, const char *extra) {
  char buf[128];
  snprintf(buf, sizeof buf, "gccheckmark=1,markorder=%s%s%s", order,
           extra ? "," : "", extra ? extra : "");
  tc_test_debug_env(buf);
}

static void run_sched(const char *order, tc_barrier_mode mode) {
  env(order, NULL);
  bare = false;
  /* a low goal: heap-triggered cycles while both coroutines run */
  tc_config cfg = {.procs = 2, .barrier = mode, .gc_percent = 50,
                   .min_heap = 1 << 20};
  run_cfg(&cfg, workload_main, NULL);
  tc_test_debug_env(NULL);
}

static void run_bare(const char *order) {
  env(order, NULL);
  bare = true;
  bare_failures = 0;
  assert_int_equal(tc_test_start(NULL), 0);
  tc_test_debug_env(NULL);
  workload();
  assert_int_equal(bare_failures, 0);
  tc_test_finish(4);
}

#define MODE_TESTS(order)                                                    \
  static void test_markorder_##order##_stw(void **state) {                   \
    (void)state;                                                             \
    run_sched(#order, TC_BARRIER_STW);                                       \
  }                                                                          \
  static void test_markorder_##order##_insertion(void **state) {             \
    (void)state;                                                             \
    run_sched(#order, TC_BARRIER_INSERTION);                                 \
  }                                                                          \
  static void test_markorder_##order##_deletion(void **state) {              \
    (void)state;                                                             \
    run_sched(#order, TC_BARRIER_DELETION);                                  \
  }                                                                          \
  static void test_markorder_##order##_hybrid(void **state) {                \
    (void)state;                                                             \
    run_sched(#order, TC_BARRIER_HYBRID);                                    \
  }                                                                          \
  static void test_markorder_##order##_bare(void **state) {                  \
    (void)state;                                                             \
    run_bare(#order);                                                        \
  }

MODE_TESTS(object)
MODE_TESTS(span)

/* ---------------------------------------------------------------- control */

/* A list built by prepending, in one span class, then a cycle: with
 * markorderbug=1 the scan of each node greys the next one behind it and
 * never comes back, so the verifier finds the rest of the list white. */
static void broken_list(void) {
  obj *list = NULL, *o = NULL;
  TC_LOCALS(list, o);
  for (int i = 0; i < 4096; i++) {
    o = new_obj((uint64_t)i);
    TC_STORE(o, a, list);
    list = o;
  }
  tc_gc();
  tc_gc();
  /* not reached with the bug: the verifier aborted */
  fprintf(stderr, "list intact: %d\n", walk_list(list, 4096));
}

static void broken_bare_child(void *arg) {
  (void)arg;
  env("span", "markorderbug=1");
  if (tc_init(NULL) != TC_OK)
    exit(2);
  broken_list();
  tc_shutdown();
}

static void broken_sched_main(void *arg) {
  (void)arg;
  broken_list();
}

static void broken_sched_child(void *arg) {
  (void)arg;
  env("span", "markorderbug=1");
  tc_config cfg = {.procs = 2, .barrier = TC_BARRIER_HYBRID};
  tc_run(&cfg, broken_sched_main, NULL);
}

static void test_markorder_bug_caught_bare(void **state) {
  (void)state;
  tc_expect_death(broken_bare_child, NULL, "gccheckmark: reachable object");
}

static void test_markorder_bug_caught_sched(void **state) {
  (void)state;
  tc_expect_death(broken_sched_child, NULL, "gccheckmark: reachable object");
}

/* The control's program is correct: without the bug it passes. */
static void fixed_bare_child(void *arg) {
  (void)arg;
  env("span", NULL);
  if (tc_init(NULL) != TC_OK)
    exit(2);
  broken_list();
  tc_shutdown();
  exit(0);
}

static void test_markorder_control_passes_without_bug(void **state) {
  (void)state;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    fixed_bare_child(NULL);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_markorder_object_stw),
      cmocka_unit_test(test_markorder_object_insertion),
      cmocka_unit_test(test_markorder_object_deletion),
      cmocka_unit_test(test_markorder_object_hybrid),
      cmocka_unit_test(test_markorder_object_bare),
      cmocka_unit_test(test_markorder_span_stw),
      cmocka_unit_test(test_markorder_span_insertion),
      cmocka_unit_test(test_markorder_span_deletion),
      cmocka_unit_test(test_markorder_span_hybrid),
      cmocka_unit_test(test_markorder_span_bare),
      cmocka_unit_test(test_markorder_control_passes_without_bug),
      cmocka_unit_test(test_markorder_bug_caught_bare),
      cmocka_unit_test(test_markorder_bug_caught_sched),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
