/*
 * test_collector_wbcheck.c -- the missing-barrier finder
 * (collector/wbcheck.c, TRICOLOR_DEBUG=wbcheck=1).
 *
 * What is tested:
 *   - a plain store (h->ref = n, no TC_STORE) into a heap object is
 *     reported at the next cycle, with the object's type, the field's
 *     offset, where the object was allocated (make_holder, captured by the
 *     heap profile, which wbcheck pins at rate 1) and the file:line of the
 *     last barriered store into it (this file is built with TC_WBCHECK, so
 *     TC_STORE passes its line); each in a forked child that must abort;
 *   - the same program with TC_STORE reports nothing (in this process:
 *     a report would abort the test);
 *   - a tagged slot updated through tc_barrier and a plain store (the
 *     API's way for packed slots) reports nothing;
 *   - coroutines under tc_run storing with TC_STORE into shared objects
 *     while cycles mark concurrently (hybrid, two processors) report
 *     nothing: the race between a scan and a store in flight is excused;
 *     the same program with one plain store in 64 is reported;
 *   - wbcheck=2 reports and goes on (a child that reports, then aborts on
 *     its own after the cycles).
 */
#define TC_WBCHECK 1 /* TC_STORE passes __FILE__ and __LINE__ */
#include "tc_test.h"

#include "tc_sched_test.h"

typedef struct holder {
  uint64_t magic;     /* offset 0: no reference */
  void *first;        /* offset 8 */
  void *ref;          /* offset 16: the field the bad store writes */
} holder;
static const uint32_t holder_offsets[] = {offsetof(holder, first),
                                          offsetof(holder, ref)};
static tc_type holder_type = {
    .name = "wb_holder", .offsets = holder_offsets, .noffsets = 2};

typedef tc_test_node node;

/* Allocates the holder: the report must name this function. */
__attribute__((noinline, noclone)) static holder *make_holder(void) {
  holder *h = tc_alloc(&holder_type, sizeof(holder));
  h->magic = 0x77bc;
  return h;
}

__attribute__((noinline, noclone)) static node *make_node(uint64_t v) {
  node *n = tc_alloc(&tc_test_node_type, sizeof(node));
  n->value = v;
  return n;
}

/* The barriered store the report names as the last one into h: its
 * line is FIRST_STORE_LINE. */
enum { FIRST_STORE_LINE = __LINE__ + 2 };
__attribute__((noinline)) static void first_store(holder *h, node *a) {
  TC_STORE(h, first, a);
}

/* The program: a holder, one barriered store into it, then the store
 * under test, then cycles.  plain: the second store bypasses the
 * barrier. */
static void holder_program(bool plain) {
  holder *h = NULL;
  node *a = NULL, *b = NULL;
  TC_LOCALS(h, a, b);
  h = make_holder();
  a = make_node(1);
  b = make_node(2);
  first_store(h, a);
  tc_gc(); /* snapshot: first = a, ref = NULL */
  if (plain)
    h->ref = b; /* the missing barrier */
  else
    TC_STORE(h, ref, b);
  tc_gc(); /* the scan compares */
  tc_gc();
}

/* Death-test child: the plain store under wbcheck=1 on a bare mutator. */
static void plain_store_child(void *arg) {
  (void)arg;
  tc_test_debug_env("wbcheck=1");
  if (tc_init(NULL) != TC_OK)
    return;
  holder_program(true);
  fprintf(stderr, "test_collector_wbcheck: the plain store was not "
                  "reported\n");
}

static void test_wbcheck_plain_store_names_type_and_offset(void **state) {
  (void)state;
  tc_expect_death(plain_store_child, NULL,
                  "(type wb_holder, 24 bytes) offset 16 changed from (nil) "
                  "to 0x");
}

static void test_wbcheck_plain_store_names_allocation_site(void **state) {
  (void)state;
  tc_expect_death(plain_store_child, NULL, "was allocated at make_holder+0x");
}

static void test_wbcheck_plain_store_names_last_store(void **state) {
  (void)state;
  char expect[160];
  snprintf(expect, sizeof expect,
           "test_collector_wbcheck.c:%d (offset 8)", FIRST_STORE_LINE);
  tc_expect_death(plain_store_child, NULL, expect);
}

/* wbcheck=2: the child reports, goes on, and says so before dying. */
static void report_and_go_on_child(void *arg) {
  (void)arg;
  tc_test_debug_env("wbcheck=2");
  if (tc_init(NULL) != TC_OK)
    return;
  holder_program(true);
  fprintf(stderr, "test_collector_wbcheck: went on after the report\n");
  abort();
}

static void test_wbcheck_2_reports_and_goes_on(void **state) {
  (void)state;
  tc_expect_death(report_and_go_on_child, NULL,
                  "(type wb_holder, 24 bytes) offset 16 changed");
  tc_expect_death(report_and_go_on_child, NULL,
                  "test_collector_wbcheck: went on after the report");
}

static void test_wbcheck_aborts_with_the_setting(void **state) {
  (void)state;
  tc_expect_death(plain_store_child, NULL,
                  "wbcheck: missing write barrier (wbcheck=2 reports and "
                  "goes on)");
}

/* The same program with TC_STORE: nothing is reported. */
static void test_wbcheck_barriered_store_silent(void **state) {
  (void)state;
  tc_test_debug_env("wbcheck=1");
  assert_int_equal(tc_test_start(NULL), 0);
  tc_test_debug_env(NULL);
  holder_program(false);
  tc_test_finish(8);
}

/* A packed slot: tc_barrier, then a plain store, as the API says. */
typedef struct tagged {
  uintptr_t word; /* a node pointer | 1 */
} tagged;

static void tagged_trace(void *obj, tc_visitor *v) {
  tagged *t = obj;
  uintptr_t w = tc__load_relaxed(&t->word);
  if (w)
    tc_visit(v, (void *)(w & ~(uintptr_t)1));
}
static tc_type tagged_type = {.name = "wb_tagged", .trace = tagged_trace};

static void test_wbcheck_tc_barrier_silent(void **state) {
  (void)state;
  tc_test_debug_env("wbcheck=1");
  assert_int_equal(tc_test_start(NULL), 0);
  tc_test_debug_env(NULL);
  {
    tagged *t = NULL;
    node *a = NULL, *b = NULL;
    TC_LOCALS(t, a, b);
    t = tc_alloc(&tagged_type, sizeof(tagged));
    a = make_node(1);
    b = make_node(2);
    tc_barrier(NULL, a);
    tc__store_relaxed(&t->word, (uintptr_t)a | 1);
    tc_gc();
    tc_barrier(a, b);
    tc__store_relaxed(&t->word, (uintptr_t)b | 1);
    tc_gc();
    tc_gc();
  }
  tc_test_finish(8);
}

/* ---- concurrent stores under tc_run ---- */

#define SHARED 64  /* holders the workers store into */
#define WORKERS 4

typedef struct churn {
  holder **shared;     /* SHARED holders, a root range */
  uint64_t cycles_min; /* the workers store until this many cycles ran */
  bool stop;           /* set by main when they did (atomic) */
  uint64_t stores;     /* out */
  uint64_t cycles;     /* out: cycles that ran meanwhile */
  bool plain;          /* one store in 64 bypasses the barrier */
  tc_waitgroup wg;
} churn;

static void churn_worker(void *arg) {
  churn *c = arg;
  node *n = NULL;
  TC_LOCALS(n);
  uint64_t x = 88172645463325252ull ^ tc_self();
  for (int r = 0; !__atomic_load_n(&c->stop, __ATOMIC_RELAXED); r++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    n = make_node(x);
    holder *h = c->shared[x % SHARED];
    if (c->plain && (x >> 8) % 64 == 0)
      tc__store_relaxed(&h->ref, (void *)n); /* no barrier (atomic: TSan) */
    else if (x & 1)
      TC_STORE(h, ref, n);
    else
      TC_STORE(h, first, (x & 2) ? (void *)n : NULL);
    __atomic_add_fetch(&c->stores, 1, __ATOMIC_RELAXED);
    if ((r & 255) == 0)
      tc_yield();
  }
  tc_waitgroup_done(&c->wg);
}

static void churn_main(void *arg) {
  churn *c = arg;
  EXPECT(tc_root_add((void **)c->shared, SHARED) == TC_OK);
  for (int i = 0; i < SHARED; i++) {
    holder *h = make_holder();
    tc_store((void **)&c->shared[i], h);
  }
  for (int w = 0; w < WORKERS; w++) {
    tc_waitgroup_add(&c->wg, 1);
    EXPECT(tc_go(churn_worker, c) == TC_OK);
  }
  tc_stats s;
  int64_t deadline = tc_now() + guard_ns();
  do {
    tc_sleep(1000000);
    tc_read_stats(&s);
  } while (s.cycles < c->cycles_min && tc_now() < deadline);
  __atomic_store_n(&c->stop, true, __ATOMIC_RELAXED);
  tc_waitgroup_wait(&c->wg);
  tc_read_stats(&s);
  c->cycles = s.cycles;
  EXPECT(tc_root_remove((void **)c->shared) == TC_OK);
}

/* Runs the churn under tc_run: two processors, hybrid, wbcheck=1, a small
 * heap so that cycles come often, a mark delay so stores land while the
 * mark runs. */
static void run_churn(churn *c) {
  tc_test_debug_env("wbcheck=1,gcmarkdelay=200");
  tc_config cfg = {.procs = 2, .barrier = TC_BARRIER_HYBRID,
                   .min_heap = 256 * 1024};
  run_cfg(&cfg, churn_main, c);
  tc_test_debug_env(NULL);
}

static void plain_churn_child(void *arg) {
  (void)arg;
  static holder *shared[SHARED];
  churn c = {.shared = shared, .cycles_min = 20, .plain = true};
  run_churn(&c);
  fprintf(stderr, "test_collector_wbcheck: no report under tc_run\n");
}

static void test_wbcheck_concurrent_plain_store_reported(void **state) {
  (void)state;
  tc_expect_death(plain_churn_child, NULL,
                  "(type wb_holder, 24 bytes) offset 16 changed from ");
}

static void test_wbcheck_concurrent_barriered_stores_silent(void **state) {
  (void)state;
  static holder *shared[SHARED];
  churn c = {.shared = shared, .cycles_min = 20};
  run_churn(&c);
  print_message("%llu barriered stores, %llu cycles, no report\n",
                (unsigned long long)c.stores, (unsigned long long)c.cycles);
  assert_true(c.cycles >= c.cycles_min); /* each holder scanned as often */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wbcheck_plain_store_names_type_and_offset),
      cmocka_unit_test(test_wbcheck_plain_store_names_allocation_site),
      cmocka_unit_test(test_wbcheck_plain_store_names_last_store),
      cmocka_unit_test(test_wbcheck_aborts_with_the_setting),
      cmocka_unit_test(test_wbcheck_2_reports_and_goes_on),
      cmocka_unit_test(test_wbcheck_concurrent_plain_store_reported),
      cmocka_unit_test(test_wbcheck_barriered_store_silent),
      cmocka_unit_test(test_wbcheck_tc_barrier_silent),
      cmocka_unit_test(test_wbcheck_concurrent_barriered_stores_silent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
