/*
 * test_roots_foreign.c -- root ranges added and removed by a thread that
 * is not a mutator, and what such a thread may not call.
 *
 * A thread of the embedder's own is never stopped by a pause, so it greys
 * through the door of collector/gcwork.c.  Two races the door closes, each
 * held open on purpose by TRICOLOR_DEBUG=shadedelay=US (the thread holds
 * its grey object that long between reading the phase and pushing it):
 *
 *   - grey entry drained: a coroutine created while marking (black root
 *     stack) loads X from a global range, then a plain thread removes the
 *     range.  Hybrid's deletion half greys X through the orphan marker,
 *     and the thread sleeps there.  Termination must wait for it and scan
 *     X: gccheckmark aborts if X's child was left white.  (Before the
 *     door, termination never drained the orphan buffer, and did not wait
 *     for a thread that had read the phase.)
 *   - stale phase: a plain thread removes a range holding an object that
 *     nothing else reaches while the cycle marks, and sleeps; the cycle
 *     ends.  Once it is over, nothing may be grey: the pool is empty
 *     (before the door, the thread pushed the freed object afterwards).
 *
 * And the rule of the header's "Calling context": every call a thread that
 * is not a mutator may not make aborts naming the call.
 */
#include "tc_sched_test.h"

#include "collector/collector.h" /* white-box: phase, pool, cycles */

#include <stdlib.h>
#include <string.h>

static int phase(void) { return tc__load_acquire(&tc__phase); }

typedef struct node {
  struct node *ref;
  long value;
} node;
static const uint32_t node_offsets[] = {offsetof(node, ref)};
static tc_type node_type = {.name = "node",
                            .offsets = node_offsets,
                            .noffsets = 1};

/* ------------------------------------------------- the plain thread */

typedef struct foreign {
  void **range;          /* the global range it removes */
  atomic_int go;         /* set by a coroutine: remove now */
  atomic_int done;       /* the remove returned */
  int rc;
  int phase_at_remove;   /* the phase just before the call */
} foreign;

static void *remover(void *arg) {
  foreign *f = arg;
  while (!atomic_load(&f->go))
    sched_yield();
  f->phase_at_remove = tc__load_acquire(&tc__phase);
  f->rc = tc_root_remove(f->range);
  atomic_store(&f->done, 1);
  return NULL;
}

/* ------------------------------------------------- grey entry drained */

static void *range_a[1];

typedef struct drained {
  foreign f;
  atomic_int cycle_over;
  long child_value;      /* read through X after the cycle */
  atomic_int holder_done;
  uint64_t cycles_at_start;
} drained;

static void gc_caller(void *arg) {
  drained *d = arg;
  tc_gc();
  atomic_store(&d->cycle_over, 1);
}

/* Starts a cycle on a coroutine of its own (gc_caller: d->cycle_over once
 * tc_gc returns) and yields until it marks; returns the deadline of the
 * waits that follow.  A coroutine. */
static int64_t gc_until_mark(drained *d) {
  EXPECT(tc_go(gc_caller, d) == TC_OK);
  int64_t end = tc_now() + guard_ns();
  while (phase() != TC__PHASE_MARK && tc_now() < end)
    tc_yield();
  EXPECT(phase() == TC__PHASE_MARK);
  return end;
}

/* Created while marking: its root stack is black for this cycle. */
static void holder(void *arg) {
  drained *d = arg;
  node *x = NULL;
  TC_LOCALS(x);
  x = tc_load(&range_a[0]);
  EXPECT(x != NULL);
  atomic_store(&d->f.go, 1); /* X is only on this black stack now */
  int64_t end = tc_now() + guard_ns();
  while (!(atomic_load(&d->cycle_over) && atomic_load(&d->f.done)) &&
         tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&d->cycle_over));
  EXPECT(atomic_load(&d->f.done));
  d->child_value = x && x->ref ? x->ref->value : -1;
  atomic_store(&d->holder_done, 1);
}

static void drained_main(void *arg) {
  drained *d = arg;
  node *x = NULL, *y = NULL;
  TC_LOCALS(x, y);
  x = tc_alloc(&node_type, sizeof *x);
  y = tc_alloc(&node_type, sizeof *y);
  y->value = 4242;
  TC_STORE(x, ref, y);
  EXPECT(tc_root_add(range_a, 1) == TC_OK);
  tc_store(&range_a[0], x);
  x = y = NULL;
  int64_t end = gc_until_mark(d);
  EXPECT(tc_go(holder, d) == TC_OK);
  while (!atomic_load(&d->cycle_over) && tc_now() < end)
    tc_yield();
  while (!atomic_load(&d->holder_done) && tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&d->holder_done));
}

/* Runs fn(arg) on two Ps (hybrid barrier, gccheckmark) beside the plain
 * thread `remover` removing f's range, and asserts that the remove
 * succeeded while the cycle marked.  Test thread. */
static void run_beside_remover(foreign *f, tc_fn fn, void *arg) {
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, remover, f), 0);
  char env[128];
  /* the collector waits before marking; the remover holds the door
   * longer than that, across the whole concurrent mark */
  long us = tc_test_slow_build() ? 1000000 : 200000;
  snprintf(env, sizeof env, "barrier=hybrid,gccheckmark=1,gcmarkdelay=%ld,"
           "shadedelay=%ld", us, 3 * us);
  tc_test_debug_env(env);
  run(2, fn, arg);
  tc_test_debug_env(NULL);
  pthread_join(t, NULL);
  assert_int_equal(f->rc, TC_OK);
  assert_int_equal(f->phase_at_remove, TC__PHASE_MARK); /* the window */
}

static void test_foreign_remove_grey_drained(void **state) {
  (void)state;
  drained d;
  memset(&d, 0, sizeof d);
  d.f.range = range_a;
  run_beside_remover(&d.f, drained_main, &d);
  assert_int_equal(d.child_value, 4242);
}

/* ------------------------------------------------- stale phase */

static void *range_b[4];

typedef struct stale {
  foreign f;
  bool pool_empty_after;
  int phase_after;
} stale;

static void stale_main(void *arg) {
  stale *s = arg;
  node *x = NULL;
  TC_LOCALS(x);
  EXPECT(tc_root_add(range_b, 4) == TC_OK);
  for (int i = 0; i < 4; i++) {
    x = tc_alloc(&node_type, sizeof *x);
    tc_store(&range_b[i], x);
  }
  x = NULL;
  drained d; /* only its gc_caller fields */
  memset(&d, 0, sizeof d);
  int64_t end = gc_until_mark(&d);
  atomic_store(&s->f.go, 1); /* remove while marking, then sleep */
  while (!atomic_load(&d.cycle_over) && tc_now() < end)
    tc_yield();
  while (!atomic_load(&s->f.done) && tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&s->f.done));
  /* the cycle is over and nothing else marks: nothing may be grey */
  s->phase_after = phase();
  s->pool_empty_after = tc__pool_empty();
  /* the next cycle must not trip over anything the remover left */
  tc_gc();
}

static void test_foreign_remove_stale_phase(void **state) {
  (void)state;
  stale s;
  memset(&s, 0, sizeof s);
  s.f.range = range_b;
  run_beside_remover(&s.f, stale_main, &s);
  assert_int_equal(s.phase_after, TC__PHASE_OFF);
  assert_true(s.pool_empty_after);
}

/* ------------------------------------------------- the calling rule */

static void *range_c[1];

/* Runs `call` on a plain thread beside a bare mutator. */
static void *plain_call(void *arg) {
  void (*call)(void) = (void (*)(void))arg;
  call();
  return NULL;
}

static void beside_runtime(void (*call)(void)) {
  if (tc_init(NULL) != TC_OK)
    abort();
  pthread_t t;
  pthread_create(&t, NULL, plain_call, (void *)call);
  pthread_join(t, NULL);
  tc_shutdown();
}

static void call_alloc(void) { (void)tc_alloc(&node_type, sizeof(node)); }
static void call_gc(void) { tc_gc(); }
static void call_set_barrier(void) { tc_set_barrier(TC_BARRIER_STW); }
static void call_object_size(void) { (void)tc_object_size(range_c); }
static void call_handle_new(void) { (void)tc_handle_new(NULL); }
static void call_store(void) { tc_store(&range_c[0], NULL); }
static atomic_int allowed_ok;
static void call_allowed(void) {
  tc_stats st;
  tc_read_stats(&st);
  (void)tc_get_barrier();
  (void)tc_strerror(TC_EINVAL);
  (void)tc_now();
  if (tc_root_add(range_c, 1) == TC_OK && tc_root_remove(range_c) == TC_OK)
    atomic_store(&allowed_ok, 1);
}

static void die_alloc(void *a) { (void)a; beside_runtime(call_alloc); }
static void die_gc(void *a) { (void)a; beside_runtime(call_gc); }
static void die_set_barrier(void *a) { (void)a; beside_runtime(call_set_barrier); }
static void die_object_size(void *a) { (void)a; beside_runtime(call_object_size); }
static void die_handle_new(void *a) { (void)a; beside_runtime(call_handle_new); }
static void die_store(void *a) {
  (void)a;
  tc_test_debug_env("checkstores=1"); /* the slow path, where the check is */
  beside_runtime(call_store);
}

static void test_foreign_calls_abort(void **state) {
  (void)state;
  const char *msg = "called from a thread that is not a mutator";
  char want[160];
#define DIES(fn, name)                                                      \
  do {                                                                      \
    snprintf(want, sizeof want, "tricolor: %s %s", name, msg);              \
    tc_expect_death(fn, NULL, want);                                        \
  } while (0)
  DIES(die_alloc, "tc_alloc");
  DIES(die_gc, "tc_gc");
  DIES(die_set_barrier, "tc_set_barrier");
  DIES(die_object_size, "tc_object_size");
  DIES(die_handle_new, "tc_handle_new");
  DIES(die_store, "tc_store");
#undef DIES
  /* the allowed calls do not abort (in this process) */
  beside_runtime(call_allowed);
  assert_int_equal(atomic_load(&allowed_ok), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_foreign_remove_grey_drained),
      cmocka_unit_test(test_foreign_remove_stale_phase),
      cmocka_unit_test(test_foreign_calls_abort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
