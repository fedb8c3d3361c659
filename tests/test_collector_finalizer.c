/*
 * test_collector_finalizer.c -- finalizers (collector/finalizer.c).
 *
 * What is tested:
 *   - a finalizer runs exactly once, after the cycle that found its object
 *     unreachable has completed (not inside it: the phase is off, the cycle
 *     is already counted, allocation works), with the object and what it
 *     references intact; the object itself is freed by the next cycle;
 *   - resurrection: a finalizer that stores its object in a global root
 *     keeps it alive, the finalizer never runs again, and once the root is
 *     cleared a later cycle frees it;
 *   - dependency order: when X references Y and both are finalizable, X is
 *     finalized first (Y intact then) and Y in a later cycle; a chain of n
 *     is finalized one link per cycle, head first;
 *   - finalizers that allocate, including enough to start a heap-triggered
 *     cycle and a nested tc_gc() while other objects are still queued;
 *   - tc_run_finalizers returns how many ran; finalizers_run and
 *     finalizers_queued agree; many finalizers (queue growth, queue reuse
 *     while running) each run once;
 *   - finalizers queued by heap-triggered cycles run without an explicit
 *     tc_gc / tc_run_finalizers (finalizer.c rule 4: "before an allocation
 *     that started a cycle"), so a program that never calls tc_gc does not
 *     accumulate queued objects forever;
 *   - tc_shutdown runs queued finalizers and drops live objects unfinalized.
 */
#include "tc_test.h"

#include "collector/collector.h" /* white-box: tc__phase / in_cycle */

#include <tricolor.h>

#define MAGIC 0x0b1ec7L
#define MAX_IDS 20000

typedef struct fobj {
  struct fobj *ref;  /* offset 0: a reference */
  long id;
  long magic;
  uint64_t cycles_at_alloc;
} fobj;

static const uint32_t fobj_offsets[] = {offsetof(fobj, ref)};

/* What the finalizers observed. */
static int fin_count[MAX_IDS];
static long fin_total;
static long fin_errors;       /* bad magic, inside a cycle, ... */
static long fin_order[64];
static int fin_order_n;
static uint64_t fin_seen_cycles; /* tc_stats.cycles during the last call */
static bool fin_ref_intact;      /* the last finalized object's ref */
static void *resurrect_slot;     /* a global root */
static bool resurrect_next;

/* Per-test hook run inside the finalizer. */
static void (*fin_hook)(fobj *f);

static void fobj_finalize(void *obj) {
  fobj *f = obj;
  if (f->magic != MAGIC || f->id < 0 || f->id >= MAX_IDS) {
    fin_errors++;
    return;
  }
  if (tc__phase != TC__PHASE_OFF || tc__gc.in_cycle)
    fin_errors += 1000; /* ran inside the cycle */
  if (!tc_is_object(f))
    fin_errors += 100000;
  fin_count[f->id]++;
  fin_total++;
  if (fin_order_n < 64)
    fin_order[fin_order_n] = f->id;
  fin_order_n++;
  tc_stats s;
  tc_read_stats(&s);
  fin_seen_cycles = s.cycles;
  fin_ref_intact = f->ref == NULL ||
                   (tc_is_object(f->ref) && f->ref->magic == MAGIC);
  if (resurrect_next) {
    resurrect_next = false;
    tc_store(&resurrect_slot, f);
  }
  if (fin_hook)
    fin_hook(f);
}

static tc_type fobj_type = {.name = "fobj",
                            .offsets = fobj_offsets,
                            .noffsets = 1,
                            .finalize = fobj_finalize};

static fobj *new_fobj(long id) {
  fobj *f = tc_alloc(&fobj_type, sizeof(fobj));
  assert_non_null(f);
  f->id = id;
  f->magic = MAGIC;
  return f;
}

static uint64_t cycles_now(void) {
  tc_stats s;
  tc_read_stats(&s);
  return s.cycles;
}

/* Allocates noscan garbage until a heap-triggered cycle has run. */
static void force_heap_cycle(void) {
  uint64_t c0 = cycles_now();
  for (int i = 0; i < 100000 && cycles_now() == c0; i++)
    assert_non_null(tc_alloc_noscan(4096));
  assert_true(cycles_now() > c0);
}

static void reset_observations(void) {
  memset(fin_count, 0, sizeof fin_count);
  fin_total = fin_errors = 0;
  fin_order_n = 0;
  fin_seen_cycles = 0;
  fin_ref_intact = false;
  resurrect_slot = NULL;
  resurrect_next = false;
  fin_hook = NULL;
}

static int setup(void **state) {
  (void)state;
  reset_observations();
  if (tc_test_start(NULL) != 0)
    return -1;
  if (tc_root_add(&resurrect_slot, 1) != TC_OK)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tc_store(&resurrect_slot, NULL);
  fin_hook = NULL;
  tc_test_finish(20);
  assert_int_equal(fin_errors, 0);
  return 0;
}

/* ------------------------------------------------------------------ */

static void test_finalizer_runs_once_after_the_cycle(void **state) {
  (void)state;
  void *addr;
  {
    fobj *f = NULL, *child = NULL;
    TC_LOCALS(f, child);
    f = new_fobj(1);
    child = new_fobj(2);
    TC_STORE(f, ref, child);
    addr = f;
    tc_gc();
    assert_int_equal(fin_total, 0); /* reachable: not finalized */
  }
  /* f and child are now unreachable; child is finalizable too, and f
   * references it, so only f is due in this cycle */
  uint64_t c0 = cycles_now();
  assert_int_equal(fin_count[1], 0);
  tc_gc();
  assert_int_equal(fin_count[1], 1);
  assert_int_equal(fin_count[2], 0);
  assert_int_equal(fin_seen_cycles, c0 + 1); /* after the cycle completed */
  assert_int_equal(fin_errors, 0);           /* not inside it (phase off) */
  assert_true(fin_ref_intact);               /* its child was intact */
  /* it survived this cycle for its finalizer; the next frees it */
  assert_true(tc_is_object(addr));
  tc_gc();
  assert_false(tc_is_object(addr));
  assert_int_equal(fin_count[2], 1);
  for (int i = 0; i < 3; i++)
    tc_gc();
  assert_int_equal(fin_count[1], 1); /* exactly once */
  assert_int_equal(fin_count[2], 1);
  assert_int_equal(fin_total, 2);
}

static void test_finalizer_freed_by_next_cycle(void **state) {
  (void)state;
  void *addr = new_fobj(3);
  size_t size = tc_object_size(addr);
  tc_gc();
  assert_int_equal(fin_count[3], 1);
  tc_stats s;
  tc_read_stats(&s);
  assert_int_equal(s.heap_live, size); /* kept for its finalizer */
  assert_int_equal(s.heap_marked, size);
  assert_true(tc_is_object(addr));
  assert_int_equal(((fobj *)addr)->magic, MAGIC);
  tc_gc();
  tc_read_stats(&s);
  assert_int_equal(s.heap_live, 0);
  assert_false(tc_is_object(addr));
}

static void test_finalizer_resurrection(void **state) {
  (void)state;
  {
    fobj *f = NULL;
    TC_LOCALS(f);
    f = new_fobj(4);
    TC_STORE(f, ref, new_fobj(5)); /* finalizable child */
  }
  resurrect_next = true;
  tc_gc();
  assert_int_equal(fin_count[4], 1);
  assert_non_null(resurrect_slot);
  fobj *r = resurrect_slot;
  assert_int_equal(r->id, 4);
  for (int i = 0; i < 3; i++) {
    tc_gc();
    assert_true(tc_is_object(r));
    assert_int_equal(r->magic, MAGIC);
    assert_int_equal(r->ref->id, 5);
  }
  assert_int_equal(fin_count[4], 1); /* not again */
  assert_int_equal(fin_count[5], 0); /* its child is still reachable */
  /* drop the root: freed by a later cycle, without its finalizer */
  tc_store(&resurrect_slot, NULL);
  tc_gc();
  assert_false(tc_is_object(r));
  assert_int_equal(fin_count[4], 1);
  assert_int_equal(fin_count[5], 1);
}

static void test_finalizer_dependency_order(void **state) {
  (void)state;
  {
    fobj *x = NULL, *y = NULL;
    TC_LOCALS(x, y);
    x = new_fobj(10);
    y = new_fobj(11);
    TC_STORE(x, ref, y); /* X references Y */
  }
  tc_gc();
  assert_int_equal(fin_count[10], 1);
  assert_int_equal(fin_count[11], 0);
  assert_true(fin_ref_intact); /* Y intact while X was finalized */
  tc_gc();
  assert_int_equal(fin_count[11], 1);
  assert_int_equal(fin_order_n, 2);
  assert_int_equal(fin_order[0], 10);
  assert_int_equal(fin_order[1], 11);
}

static void test_finalizer_chain_one_link_per_cycle(void **state) {
  (void)state;
  enum { LINKS = 6 };
  {
    fobj *head = NULL, *n = NULL;
    TC_LOCALS(head, n);
    for (long i = LINKS - 1; i >= 0; i--) {
      n = new_fobj(20 + i);
      TC_STORE(n, ref, head);
      head = n;
    }
  }
  for (int c = 1; c <= LINKS; c++) {
    tc_gc();
    assert_int_equal(fin_order_n, c);
    assert_int_equal(fin_order[c - 1], 20 + c - 1);
    assert_true(fin_ref_intact);
  }
  assert_int_equal(fin_total, LINKS);
}

/* ------------------------------------------------------------------ */
/* Finalizers that allocate                                            */

static void *alloc_slots[8];

static void allocating_hook(fobj *f) {
  /* small and large garbage: several MiB, enough for a heap cycle */
  for (int i = 0; i < 160; i++)
    if (tc_alloc_noscan(i % 16 == 0 ? 100000 : 40000) == NULL)
      fin_errors++;
  /* and a new finalizable object kept in a root */
  fobj *n = tc_alloc(&fobj_type, sizeof(fobj));
  if (n == NULL) {
    fin_errors++;
    return;
  }
  n->id = 1000 + f->id;
  n->magic = MAGIC;
  tc_store(&alloc_slots[f->id % 8], n);
}

static void test_finalizer_that_allocates(void **state) {
  (void)state;
  memset(alloc_slots, 0, sizeof alloc_slots);
  assert_int_equal(tc_root_add(alloc_slots, 8), TC_OK);
  /* the hook is set first: finalizers may run at any later allocation
   * (a heap-triggered cycle, TRICOLOR_DEBUG=gcstress=1), not only in
   * tc_gc */
  fin_hook = allocating_hook;
  uint64_t c0 = cycles_now();
  for (long i = 0; i < 8; i++)
    new_fobj(30 + i); /* garbage at once */
  tc_gc();
  fin_hook = NULL;
  assert_int_equal(fin_total, 8);
  /* the allocation started further cycles while objects were queued */
  assert_true(cycles_now() >= c0 + 2);
  for (long i = 0; i < 8; i++) {
    assert_int_equal(fin_count[30 + i], 1);
    fobj *n = alloc_slots[(30 + i) % 8];
    assert_non_null(n);
    assert_true(tc_is_object(n));
    assert_int_equal(n->id, 1030 + i);
  }
  tc_gc();
  assert_int_equal(fin_total, 8); /* the new ones are rooted */
  assert_int_equal(tc_root_remove(alloc_slots), TC_OK);
  tc_gc();
  assert_int_equal(fin_total, 16);
  for (long i = 0; i < 8; i++)
    assert_int_equal(fin_count[1030 + i], 1);
}

/* A nested tc_gc inside a finalizer while many objects are queued, and a
 * second batch queued by it: every object is finalized once, intact. */
static void *batch_b[100];
static void nested_gc_hook(fobj *f) {
  if (f->id == 100 + 50) {
    memset(batch_b, 0, sizeof batch_b); /* drop batch B */
    tc_gc();                             /* queues it behind us */
    if (tc_run_finalizers() != 0)        /* nested call: the outer runs them */
      fin_errors++;
  }
}

static void test_finalizer_nested_gc_and_queue_growth(void **state) {
  (void)state;
  assert_int_equal(tc_root_add(batch_b, 100), TC_OK);
  for (long i = 0; i < 100; i++)
    tc_store(&batch_b[i], new_fobj(300 + i));
  fin_hook = nested_gc_hook; /* before: see test_finalizer_that_allocates */
  for (long i = 0; i < 100; i++)
    new_fobj(100 + i); /* batch A: garbage */
  tc_gc();
  fin_hook = NULL;
  for (long i = 0; i < 100; i++) {
    assert_int_equal(fin_count[100 + i], 1);
    assert_int_equal(fin_count[300 + i], 1);
  }
  assert_int_equal(fin_total, 200);
  assert_int_equal(tc_root_remove(batch_b), TC_OK);
}

static void test_finalizer_many_each_once(void **state) {
  (void)state;
  const long n = 15000;
  for (long i = 0; i < n; i++)
    new_fobj(i);
  tc_gc();
  assert_int_equal(fin_total, n);
  for (long i = 0; i < n; i++)
    if (fin_count[i] != 1)
      fail_msg("object %ld finalized %d times", i, fin_count[i]);
  tc_gc();
  assert_int_equal(fin_total, n);
  tc_stats s;
  tc_read_stats(&s);
  assert_int_equal(s.finalizers_run, n);
  assert_int_equal(s.heap_live, 0);
}

static void test_finalizer_large_object(void **state) {
  (void)state;
  fobj *f = tc_alloc(&fobj_type, 100000);
  assert_non_null(f);
  f->id = 7;
  f->magic = MAGIC;
  tc_gc();
  assert_int_equal(fin_count[7], 1);
  assert_true(tc_is_object(f));
  tc_gc();
  assert_false(tc_is_object(f));
}

/* ------------------------------------------------------------------ */
/* tc_run_finalizers and the queue                                     */

static void test_finalizer_run_finalizers_counts(void **state) {
  (void)state;
  const long k = 37;
  for (long i = 0; i < k; i++)
    new_fobj(200 + i);
  force_heap_cycle(); /* no tc_gc: a cycle the heap started */
  tc_stats s;
  tc_read_stats(&s);
  uint64_t queued = s.finalizers_queued, ran = s.finalizers_run;
  assert_int_equal(queued + ran, k);
  assert_int_equal(fin_total, (long)ran);
  size_t n = tc_run_finalizers();
  assert_int_equal(n, queued);
  assert_int_equal(fin_total, k);
  assert_int_equal(tc_run_finalizers(), 0);
  tc_read_stats(&s);
  assert_int_equal(s.finalizers_queued, 0);
  assert_int_equal(s.finalizers_run, k);
  for (long i = 0; i < k; i++)
    assert_int_equal(fin_count[200 + i], 1);
}

/* collector/finalizer.c, rule 4: queued finalizers run "after tc_gc()
 * finishes its sweep, before an allocation that started a cycle, or from
 * tc_run_finalizers()".  A program that only allocates must therefore see
 * its finalizers run, and the queue (a root that keeps every queued object
 * and all it references) must not grow without bound. */
static void test_finalizer_heap_cycles_run_finalizers(void **state) {
  (void)state;
  const long n = 400000; /* 400k finalizable objects of 32 B, 12.8 MB */
  tc_stats s0, s;
  tc_read_stats(&s0);
  uint64_t max_queued = 0, max_inuse = 0;
  for (long i = 0; i < n; i++) {
    fobj *f = tc_alloc(&fobj_type, sizeof(fobj));
    assert_non_null(f);
    f->id = i % MAX_IDS;
    f->magic = MAGIC;
    if (i % 1000 == 0) {
      tc_read_stats(&s);
      if (s.finalizers_queued > max_queued)
        max_queued = s.finalizers_queued;
      if (s.heap_inuse > max_inuse)
        max_inuse = s.heap_inuse;
    }
  }
  tc_read_stats(&s);
  assert_true(s.cycles - s0.cycles >= 2);
  assert_int_equal(s.forced_cycles, s0.forced_cycles);
  if (s.finalizers_run == s0.finalizers_run)
    fail_msg("%llu heap-triggered cycles ran, %llu finalizers are queued "
             "(max %llu), none ran; heap_inuse reached %llu bytes",
             (unsigned long long)(s.cycles - s0.cycles),
             (unsigned long long)s.finalizers_queued,
             (unsigned long long)max_queued, (unsigned long long)max_inuse);
  /* all garbage: the heap stays near the 4 MiB minimum goal */
  assert_true(max_inuse <= ((uint64_t)10 << 20));
}

/* tc_shutdown runs queued finalizers; live objects are dropped without. */
static void *shutdown_root;

static void test_finalizer_shutdown_runs_queued(void **state) {
  (void)state;
  assert_int_equal(tc_root_add(&shutdown_root, 1), TC_OK);
  tc_store(&shutdown_root, new_fobj(50)); /* alive at shutdown */
  for (long i = 0; i < 5; i++)
    new_fobj(60 + i);
  force_heap_cycle();
  tc_shutdown();
  for (long i = 0; i < 5; i++)
    assert_int_equal(fin_count[60 + i], 1);
  assert_int_equal(fin_count[50], 0);
  assert_int_equal(fin_total, 5);
  shutdown_root = NULL;
  resurrect_slot = NULL;
  assert_int_equal(tc_init(NULL), TC_OK);
  assert_int_equal(tc_root_add(&resurrect_slot, 1), TC_OK);
  tc_test_base_mark = tc_roots_save();
}

int main(void) {
  /* the assertions on pacing assume the default growth percent */
  unsetenv("TRICOLOR_GC");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_finalizer_runs_once_after_the_cycle),
      T(test_finalizer_freed_by_next_cycle),
      T(test_finalizer_resurrection),
      T(test_finalizer_dependency_order),
      T(test_finalizer_chain_one_link_per_cycle),
      T(test_finalizer_that_allocates),
      T(test_finalizer_nested_gc_and_queue_growth),
      T(test_finalizer_many_each_once),
      T(test_finalizer_large_object),
      T(test_finalizer_run_finalizers_counts),
      T(test_finalizer_heap_cycles_run_finalizers),
      T(test_finalizer_shutdown_runs_queued),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
