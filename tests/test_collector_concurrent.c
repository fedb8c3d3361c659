/*
 * test_collector_concurrent.c -- the concurrent collector under tc_run:
 * what each barrier mode keeps and frees, where its pause work goes, the
 * force period, the pacer's heap goal, the barrier API and the gctrace line
 * (collector/cycle.c, pacer.c, stats.c, gcthread.c, barrier/barrier.c,
 * sched/gscan.c; docs/barriers.md).
 *
 * What is tested:
 *   - floating garbage: an object reachable only from a global root (or
 *     from a heap object a global root holds) and unlinked while the cycle
 *     marks survives that cycle in deletion mode (snapshot at the
 *     beginning: the mark-start pause greys the roots, the barrier shades
 *     the overwritten reference) and is freed by the next; hybrid keeps it
 *     too (shade(old)); insertion frees it in the first cycle (the roots
 *     are read after the unlink and the barrier shades only the new value);
 *   - allocation is black: an object allocated while the phase is MARK and
 *     dropped at once survives that cycle and is freed by the next, while
 *     one dropped before the cycle is freed by it (all three concurrent
 *     modes);
 *   - pause work counted in root slots (stats.last_pause_slots) with N
 *     coroutines parked, each holding K = 10 locals: insertion rescans
 *     every root stack in the termination pause (>= N*K slots, N=1000 more
 *     than 5x N=100), deletion snapshots them all in the mark-start pause
 *     (same), hybrid scans none inside a pause (the same count, near 0, for
 *     both N); the parked coroutines' objects are intact afterwards;
 *   - the force period (tc_config.force_period_ms, TRICOLOR_DEBUG=
 *     gcforceperiod=MS overriding it): an idle program gets time-triggered
 *     cycles (stats.time_cycles), and none with a negative period;
 *   - the pacer: steady-state churn (a fixed live set in rings whose
 *     entries are replaced one by one, plus short-lived garbage) by two
 *     coroutines on 2 Ps in hybrid mode for >= 20 cycles keeps
 *     stats.heap_peak_over_goal_pct (heap at mark termination / goal) at
 *     most 110;
 *   - tc_set_barrier / tc_get_barrier / tc_barrier_name: names, previous
 *     mode returned, TC_EINVAL for modes that do not exist (setting kept),
 *     TC_ESTATE without a runtime, DEFAULT means hybrid, the next cycle
 *     uses the new mode (stats.last_mode, one pause for stw and two for
 *     the others) while a running cycle keeps its own;
 *     tc_config.barrier and TRICOLOR_DEBUG=barrier=MODE (the latter wins);
 *     tc_run refuses a tc_config.barrier that is not a mode; on a bare
 *     mutator (tc_init without tc_run) tc_get_barrier says stw whatever
 *     the setting, as its cycles run (stats.last_mode), tc_set_barrier
 *     still returns the previous setting; without a runtime it says
 *     default;
 *   - gctrace: in a forked child with stderr on a pipe, every "gc N" line
 *     matches Go's format (a strict POSIX regex) plus " mode=M trigger=T
 *     weak=C/N ephemerons=C/N/R";
 *     numbers go up by one, "(forced)" exactly on tc_gc cycles, the mode
 *     and trigger are those the child asked for, and each time-triggered
 *     line follows a "GC forced" line;
 *   - two library races, each in a test of its own at the end (under
 *     ThreadSanitizer a report halts the run, so every other test runs
 *     first): tc_read_stats on one P while another takes pages, and two
 *     coroutines on two Ps allocating a type for the first time at the same
 *     moment (tc_type.fast_id); outside ThreadSanitizer they check only
 *     what must hold anyway.
 *
 * How a cycle is held open: TRICOLOR_DEBUG=gcmarkdelay=US makes the
 * collector sleep after the mark-start pause before it marks anything; a
 * helper coroutine calls tc_gc() (which returns after the sweep) while main
 * waits until tc__phase == TC__PHASE_MARK (white-box) and then acts.
 * Whether an object is still allocated is read with tc_is_object(); the
 * tracked objects have a size class (3328 B) that nothing else in this
 * file or the runtime allocates, and nothing of that class is allocated
 * between the cycles observed, so a freed slot cannot be reused meanwhile.
 *
 * Nothing asserts on time: the figures are counts (cycles, slots, objects,
 * percentages of bytes).  Time appears only as the mark delay (a window,
 * longer on slow builds), sleeps between polls, and hang guards.  Sizes
 * shrink under the sanitizers, valgrind and qemu.  Each test prints the
 * figures it measured (cmocka print_message).  An argument selects tests
 * by name (cmocka filter, e.g. "test_pause*").
 */
#include "tc_test.h"

#include "barrier/barrier.h" /* white-box: tc__phase, tc__barrier_mode() */
#include "collector/collector.h" /* white-box: a P's flush answer */
#include "sched/world.h"         /* white-box: tc__gc_flush_request */

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <time.h>
#include <tricolor.h>

#include "tc_sched_test.h" /* run(), run_cfg(), EXPECT, scaled(), guard_ns() */

/* ------------------------------------------------------------------ */
/* Types                                                               */

/* A tracked object in a size class of its own (3328 B, class 52). */
#define PROBE_SIZE 3328
#define MAGIC 0x5ca1ab1e0ddba11ULL
typedef struct probe {
  struct probe *ref;
  uint64_t magic;
  char pad[PROBE_SIZE - 16];
} probe;
static const uint32_t probe_offsets[] = {offsetof(probe, ref)};
static tc_type probe_type = {
    .name = "probe", .offsets = probe_offsets, .noffsets = 1};

/* A heap object holding one reference. */
typedef struct holder {
  void *x;
  uint64_t magic;
} holder;
static const uint32_t holder_offsets[] = {offsetof(holder, x)};
static tc_type holder_type = {
    .name = "holder", .offsets = holder_offsets, .noffsets = 1};

/* A small list cell (churn, parked locals). */
typedef struct cell {
  struct cell *next;
  uint64_t value;
  uint64_t pad[6]; /* 64 bytes */
} cell;
static const uint32_t cell_offsets[] = {offsetof(cell, next)};
static tc_type cell_type = {
    .name = "cell", .offsets = cell_offsets, .noffsets = 1};

/* An array of references. */
static const uint32_t ptrs_offsets[] = {0};
static tc_type ptrs_type = {
    .name = "ptrs", .offsets = ptrs_offsets, .noffsets = 1, .stride = 8};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* TRICOLOR_DEBUG with a mark delay long enough for main to act in it. */
static void markdelay_env(const char *extra) {
  static char buf[128];
  long us = tc_test_under_valgrind() ? 2000000
            : tc_test_slow_build()     ? 1000000
                                       : 200000;
  snprintf(buf, sizeof buf, "gcmarkdelay=%ld%s%s", us, extra ? "," : "",
           extra ? extra : "");
  tc_test_debug_env(buf);
}

static int phase(void) { return tc__load_acquire(&tc__phase); }

static void run_mode(int procs, tc_barrier_mode mode, tc_fn fn, void *arg) {
  tc_config cfg = {.procs = procs, .barrier = mode};
  run_cfg(&cfg, fn, arg);
}

/* A cycle started by a helper coroutine, held open by the mark delay. */
typedef struct bg_cycle {
  tc_waitgroup done;
} bg_cycle;

static void bg_gc(void *arg) {
  bg_cycle *b = arg;
  tc_gc();
  tc_waitgroup_done(&b->done);
}

/* Starts a cycle without blocking and returns once it marks (false if it
 * did not get there before the hang guard). */
static bool start_cycle(bg_cycle *b) {
  tc_waitgroup_add(&b->done, 1);
  EXPECT(tc_go(bg_gc, b) == TC_OK);
  int64_t end = tc_now() + guard_ns();
  while (phase() != TC__PHASE_MARK && tc_now() < end)
    tc_sleep(20000);
  return phase() == TC__PHASE_MARK;
}

/* Registers this file's types from one coroutine before several allocate
 * them at once: the first allocation of a type from two Ps at the same
 * time races (test_race_type_first_use_from_two_procs shows it), which is not
 * what the other tests are about. */
static void preregister(void) {
  (void)tc_alloc(&cell_type, sizeof(cell));
  (void)tc_alloc(&ptrs_type, 8);
  (void)tc_alloc(&holder_type, sizeof(holder));
}

static probe *new_probe(void) {
  probe *p = tc_alloc(&probe_type, sizeof(probe));
  p->magic = MAGIC;
  return p;
}

/* ------------------------------------------------------------------ */
/* 1. Floating garbage                                                 */

static void *float_root; /* a global root slot */

typedef struct float_case {
  tc_barrier_mode mode;
  bool via_heap;           /* X hangs off a holder, not the root itself */
  bool unlinked_in_mark;   /* the unlink happened while marking */
  bool alive1, alive2;     /* X allocated after cycle 1, after cycle 2 */
  bool intact1;            /* X's contents after cycle 1 (if alive) */
  uint64_t cycles1;        /* cycles completed by cycle 1's end */
  uint32_t mode1;          /* stats.last_mode after cycle 1 */
  uint64_t shaded;         /* barrier_shaded during cycle 1 */
  uint64_t float_cycles;   /* tc_stats.float_cycles during cycle 1 */
  uint64_t float_bytes;    /* tc_stats.float_bytes during cycle 1 */
} float_case;

static void floating_main(void *arg) {
  float_case *fc = arg;
  holder *h = NULL;
  probe *x = NULL;
  TC_LOCALS(h, x);
  EXPECT(tc_root_add(&float_root, 1) == TC_OK);
  x = new_probe();
  if (fc->via_heap) {
    h = tc_alloc(&holder_type, sizeof(holder));
    h->magic = MAGIC;
    TC_STORE(h, x, x);
    tc_store(&float_root, h);
  } else {
    tc_store(&float_root, x);
  }
  uintptr_t xa = (uintptr_t)x; /* not a root: the collector never reads it */
  x = NULL;
  h = NULL;
  tc_stats s0, s1;
  tc_read_stats(&s0);

  bg_cycle b = {0};
  EXPECT(start_cycle(&b));
  /* inside the mark delay: nothing marked concurrently yet */
  if (fc->via_heap) {
    holder *hh = tc_load(&float_root); /* no safepoint until the store */
    TC_STORE(hh, x, NULL);
  } else {
    tc_store(&float_root, NULL);
  }
  fc->unlinked_in_mark = phase() == TC__PHASE_MARK;
  tc_waitgroup_wait(&b.done); /* tc_gc returned: cycle 1 swept */

  tc_read_stats(&s1);
  fc->cycles1 = s1.cycles - s0.cycles;
  fc->mode1 = s1.last_mode;
  fc->shaded = s1.barrier_shaded - s0.barrier_shaded;
  fc->float_cycles = s1.float_cycles - s0.float_cycles;
  fc->float_bytes = s1.float_bytes - s0.float_bytes;
  fc->alive1 = tc_is_object((void *)xa);
  fc->intact1 = fc->alive1 && ((probe *)xa)->magic == MAGIC;
  tc_gc();
  fc->alive2 = tc_is_object((void *)xa);
  tc_store(&float_root, NULL);
  EXPECT(tc_root_remove(&float_root) == TC_OK);
}

static float_case floating(tc_barrier_mode mode, bool via_heap) {
  float_case fc = {.mode = mode, .via_heap = via_heap};
  markdelay_env("gccheckmark=1"); /* measures the floating bytes */
  run_mode(2, mode, floating_main, &fc);
  tc_test_debug_env(NULL);
  print_message("floating garbage %-9s via %s: unlinked in mark %d, "
                "alive after cycle 1: %d, after cycle 2: %d, barrier "
                "shaded %llu, floating bytes measured %llu\n",
                tc_barrier_name(mode), via_heap ? "heap object" : "root slot",
                fc.unlinked_in_mark, fc.alive1, fc.alive2,
                (unsigned long long)fc.shaded,
                (unsigned long long)fc.float_bytes);
  assert_true(fc.unlinked_in_mark);
  assert_int_equal(fc.cycles1, 1); /* no other cycle freed it meanwhile */
  assert_int_equal(fc.mode1, mode);
  assert_int_equal(fc.float_cycles, 1);
  /* the stats see the object that floated: kept, yet unreachable */
  if (fc.alive1)
    assert_true(fc.float_bytes >= sizeof(probe));
  return fc;
}

static void test_floating_garbage_deletion(void **state) {
  (void)state;
  for (int via = 0; via <= 1; via++) {
    float_case fc = floating(TC_BARRIER_DELETION, via);
    assert_true(fc.alive1);  /* floats through the cycle it was unlinked in */
    assert_true(fc.intact1);
    assert_false(fc.alive2); /* and the next one frees it */
  }
}

static void test_floating_garbage_insertion_frees_at_once(void **state) {
  (void)state;
  for (int via = 0; via <= 1; via++) {
    float_case fc = floating(TC_BARRIER_INSERTION, via);
    assert_false(fc.alive1);
    assert_false(fc.alive2);
  }
}

static void test_floating_garbage_hybrid(void **state) {
  (void)state;
  for (int via = 0; via <= 1; via++) {
    float_case fc = floating(TC_BARRIER_HYBRID, via);
    assert_true(fc.alive1); /* shade(old) */
    assert_true(fc.intact1);
    assert_true(fc.shaded >= 1);
    assert_false(fc.alive2);
  }
}

/* The measure's other side: a stop-the-world mark keeps exactly what
 * the roots reach, so the floating bytes it reports must be zero, cycle
 * after cycle, while the heap holds both live lists and garbage. */
typedef struct stw_float_case {
  uint64_t cycles, float_cycles, float_bytes;
} stw_float_case;

static void stw_float_main(void *arg) {
  stw_float_case *c = arg;
  cell *keep = NULL, *tmp = NULL;
  TC_LOCALS(keep, tmp);
  tc_stats s0, s1;
  tc_read_stats(&s0);
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 2000; i++) {
      tmp = tc_alloc(&cell_type, sizeof(cell));
      if (i % 3 == 0) { /* a third stays linked, the rest is garbage */
        TC_STORE(tmp, next, keep);
        keep = tmp;
      }
    }
    tc_gc();
  }
  tc_read_stats(&s1);
  c->cycles = s1.cycles - s0.cycles;
  c->float_cycles = s1.float_cycles - s0.float_cycles;
  c->float_bytes = s1.float_bytes - s0.float_bytes;
}

static void test_floating_bytes_stw_is_zero(void **state) {
  (void)state;
  stw_float_case c = {0};
  tc_test_debug_env("gccheckmark=1");
  run_mode(2, TC_BARRIER_STW, stw_float_main, &c);
  tc_test_debug_env(NULL);
  print_message("stw: %llu cycles, %llu measured, floating bytes %llu\n",
                (unsigned long long)c.cycles,
                (unsigned long long)c.float_cycles,
                (unsigned long long)c.float_bytes);
  assert_true(c.cycles >= 4);
  assert_int_equal(c.float_cycles, c.cycles);
  assert_int_equal(c.float_bytes, 0);
}

/* ------------------------------------------------------------------ */
/* 7. Allocation is black                                              */

typedef struct black_case {
  tc_barrier_mode mode;
  bool allocated_in_mark;  /* Y was allocated while the phase was MARK */
  bool y1, y2;             /* Y allocated after cycle 1, after cycle 2 */
  bool y_intact;
  bool z0, z1;             /* Z before cycle 1 started, after it */
  uint64_t cycles1;
} black_case;

static void black_main(void *arg) {
  black_case *bc = arg;
  probe *z = new_probe(); /* dropped before the cycle: white garbage */
  uintptr_t za = (uintptr_t)z;
  z = NULL;
  bc->z0 = tc_is_object((void *)za);
  tc_stats s0, s1;
  tc_read_stats(&s0);

  bg_cycle b = {0};
  EXPECT(start_cycle(&b));
  bool before = phase() == TC__PHASE_MARK;
  probe *y = new_probe(); /* black; dropped at once */
  uintptr_t ya = (uintptr_t)y;
  y = NULL;
  bc->allocated_in_mark = before && phase() == TC__PHASE_MARK;
  tc_waitgroup_wait(&b.done);

  tc_read_stats(&s1);
  bc->cycles1 = s1.cycles - s0.cycles;
  bc->y1 = tc_is_object((void *)ya);
  bc->y_intact = bc->y1 && ((probe *)ya)->magic == MAGIC;
  bc->z1 = tc_is_object((void *)za);
  tc_gc();
  bc->y2 = tc_is_object((void *)ya);
}

static void test_allocation_is_black(void **state) {
  (void)state;
  static const tc_barrier_mode modes[] = {
      TC_BARRIER_HYBRID, TC_BARRIER_INSERTION, TC_BARRIER_DELETION};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    black_case bc = {.mode = modes[i]};
    markdelay_env(NULL);
    run_mode(2, modes[i], black_main, &bc);
    tc_test_debug_env(NULL);
    print_message("allocation black %-9s: allocated in mark %d, survives "
                  "cycle 1: %d, cycle 2: %d; pre-cycle garbage alive "
                  "before %d, after cycle 1: %d\n",
                  tc_barrier_name(modes[i]), bc.allocated_in_mark, bc.y1,
                  bc.y2, bc.z0, bc.z1);
    assert_true(bc.allocated_in_mark);
    assert_int_equal(bc.cycles1, 1);
    assert_true(bc.y1);
    assert_true(bc.y_intact);
    assert_false(bc.y2);
    assert_true(bc.z0);
    assert_false(bc.z1);
  }
}

/* ------------------------------------------------------------------ */
/* 2. Pause work in root slots                                         */

#define PARK_K 10

typedef struct park_state {
  tc_waitgroup ready, release, done;
  atomic_long broken; /* locals found freed or overwritten */
} park_state;

static void parked(void *arg) {
  park_state *s = arg;
  cell *l0 = NULL, *l1 = NULL, *l2 = NULL, *l3 = NULL, *l4 = NULL;
  cell *l5 = NULL, *l6 = NULL, *l7 = NULL, *l8 = NULL, *l9 = NULL;
  TC_LOCALS(l0, l1, l2, l3, l4, l5, l6, l7, l8, l9);
  cell **ls[PARK_K] = {&l0, &l1, &l2, &l3, &l4, &l5, &l6, &l7, &l8, &l9};
  uint64_t id = tc_self();
  for (int i = 0; i < PARK_K; i++) {
    *ls[i] = tc_alloc(&cell_type, sizeof(cell));
    (*ls[i])->value = id * PARK_K + (uint64_t)i;
  }
  tc_waitgroup_done(&s->ready);
  tc_waitgroup_wait(&s->release);
  for (int i = 0; i < PARK_K; i++)
    if (!tc_is_object(*ls[i]) || (*ls[i])->value != id * PARK_K + (uint64_t)i)
      atomic_fetch_add(&s->broken, 1);
  tc_waitgroup_done(&s->done);
}

typedef struct pause_case {
  long n;
  uint64_t slots;       /* last_pause_slots after the second cycle */
  uint64_t slots_first; /* ... after the first */
  uint32_t mode;
  uint64_t pauses;      /* pauses of the two cycles */
  uint64_t kinds[2];    /* of which mark start, mark termination */
  long broken;
} pause_case;

static void pause_main(void *arg) {
  pause_case *pc = arg;
  park_state s = {0};
  tc_waitgroup_add(&s.ready, pc->n);
  tc_waitgroup_add(&s.release, 1);
  tc_waitgroup_add(&s.done, pc->n);
  preregister();
  for (long i = 0; i < pc->n; i++)
    EXPECT(tc_go(parked, &s) == TC_OK);
  tc_waitgroup_wait(&s.ready);
  tc_stats st0, st;
  tc_read_stats(&st0);
  tc_gc();
  tc_read_stats(&st);
  pc->slots_first = st.last_pause_slots;
  tc_gc();
  tc_read_stats(&st);
  pc->slots = st.last_pause_slots;
  pc->mode = st.last_mode;
  pc->pauses = st.pauses - st0.pauses;
  for (uint64_t k = st0.pauses; k < st.pauses && k < st0.pauses + 8; k++)
    pc->kinds[st.pause_kind[k % TC_PAUSE_RING] ? 1 : 0]++;
  tc_waitgroup_done(&s.release);
  tc_waitgroup_wait(&s.done);
  pc->broken = atomic_load(&s.broken);
}

static pause_case pause_run(tc_barrier_mode mode, long n) {
  pause_case pc = {.n = n};
  tc_test_debug_env(NULL);
  run_mode(2, mode, pause_main, &pc);
  print_message("pause slots %-9s N=%4ld K=%d: %llu (first cycle %llu), "
                "%llu pauses (%llu start, %llu termination)\n",
                tc_barrier_name(mode), n, PARK_K,
                (unsigned long long)pc.slots,
                (unsigned long long)pc.slots_first,
                (unsigned long long)pc.pauses,
                (unsigned long long)pc.kinds[0],
                (unsigned long long)pc.kinds[1]);
  assert_int_equal(pc.mode, mode);
  assert_int_equal(pc.broken, 0);
  /* two pauses per concurrent cycle; a termination that finds grey work
   * left restarts marking, which adds a termination pause */
  assert_true(pc.pauses >= 4);
  assert_int_equal(pc.kinds[0], 2);
  assert_true(pc.kinds[1] >= 2);
  return pc;
}

static void test_pause_slots_insertion_grow_with_stacks(void **state) {
  (void)state;
  pause_case a = pause_run(TC_BARRIER_INSERTION, 100);
  pause_case b = pause_run(TC_BARRIER_INSERTION, 1000);
  assert_true(a.slots >= 100 * PARK_K);
  assert_true(b.slots >= 1000 * PARK_K);
  assert_true(b.slots > 5 * a.slots);
}

static void test_pause_slots_deletion_grow_with_stacks(void **state) {
  (void)state;
  pause_case a = pause_run(TC_BARRIER_DELETION, 100);
  pause_case b = pause_run(TC_BARRIER_DELETION, 1000);
  assert_true(a.slots >= 100 * PARK_K);
  assert_true(b.slots >= 1000 * PARK_K);
  assert_true(b.slots > 5 * a.slots);
}

static void test_pause_slots_hybrid_constant(void **state) {
  (void)state;
  pause_case a = pause_run(TC_BARRIER_HYBRID, 100);
  pause_case b = pause_run(TC_BARRIER_HYBRID, 1000);
  assert_int_equal(a.slots, b.slots);
  assert_int_equal(a.slots_first, b.slots_first);
  assert_true(b.slots < 100); /* no root stack is scanned in a pause */
}

/* ------------------------------------------------------------------ */
/* 3. Force period                                                     */

typedef struct force_case {
  uint64_t want;          /* time cycles to wait for (0: just sleep) */
  int64_t sleep_ns;       /* with want == 0: how long to sleep */
  uint64_t time_cycles, cycles, forced;
} force_case;

static void force_main(void *arg) {
  force_case *fc = arg;
  tc_stats s;
  int64_t end = tc_now() + (fc->want ? guard_ns() : fc->sleep_ns);
  do {
    tc_sleep(10 * 1000000);
    tc_read_stats(&s);
  } while ((fc->want == 0 || s.time_cycles < fc->want) && tc_now() < end);
  fc->time_cycles = s.time_cycles;
  fc->cycles = s.cycles;
  fc->forced = s.forced_cycles;
}

static void test_force_period(void **state) {
  (void)state;
  /* the config */
  force_case a = {.want = 2};
  tc_test_debug_env(NULL);
  tc_config cfg = {.procs = 2, .force_period_ms = 50};
  run_cfg(&cfg, force_main, &a);
  /* TRICOLOR_DEBUG=gcforceperiod overrides a config that says never */
  force_case b = {.want = 1};
  tc_test_debug_env("gcforceperiod=50");
  cfg.force_period_ms = -1;
  run_cfg(&cfg, force_main, &b);
  /* never: nothing starts a cycle in an idle program */
  force_case c = {.want = 0, .sleep_ns = 300 * 1000000LL};
  tc_test_debug_env(NULL);
  run_cfg(&cfg, force_main, &c);
  print_message("force period: config 50 ms: %llu time cycles of %llu; env "
                "50 ms over config never: %llu of %llu; never: %llu of %llu "
                "after 300 ms\n",
                (unsigned long long)a.time_cycles,
                (unsigned long long)a.cycles,
                (unsigned long long)b.time_cycles,
                (unsigned long long)b.cycles,
                (unsigned long long)c.time_cycles,
                (unsigned long long)c.cycles);
  assert_true(a.time_cycles >= 2);
  assert_true(a.cycles >= a.time_cycles);
  assert_int_equal(a.forced, 0);
  assert_true(b.time_cycles >= 1);
  assert_true(b.cycles >= 1);
  assert_int_equal(c.time_cycles, 0);
  assert_int_equal(c.cycles, 0);
}

/* ------------------------------------------------------------------ */
/* 4. Heap goal in steady-state churn                                  */

typedef struct churn_state {
  long ring_len;          /* cells per churner's ring */
  uint64_t target_cycles; /* stop once this many cycles completed */
  int64_t deadline;
  tc_waitgroup ready, go, done;
  atomic_int stop;
  atomic_long allocs;
  atomic_long broken;
  atomic_ulong sampled_pct; /* max heap_live * 100 / heap_goal seen */
  atomic_ulong steady_pct;  /* max last_heap_over_goal_pct of the cycles
                               after the first of the churn */
  uint64_t first_cycle;     /* cycles_done when the churn began */
} churn_state;

/* Samples heap.live against the goal into c->sampled_pct.  White-box
 * relaxed loads of the two atomics: tc_read_stats here would race with the
 * other churner's page allocation (test_race_read_stats_while_heap_grows). */
static void churn_sample(churn_state *c) {
  /* the first cycle of the churn is the switch from no collection to a
   * 100% goal (the live set was built with the trigger off): a transient,
   * left out of the steady state */
  if (tc__load_acquire(&tc__gc.cycles_done) > c->first_cycle + 1) {
    tc_stats st;
    tc_read_stats(&st);
    unsigned long v = (unsigned long)st.last_heap_over_goal_pct;
    unsigned long o = atomic_load(&c->steady_pct);
    while (v > o && !atomic_compare_exchange_weak(&c->steady_pct, &o, v))
      ;
  }
  uint64_t live = tc__load_relaxed(&tc__h.live);
  uint64_t goal = tc__load_relaxed(&tc__gc.goal);
  if (goal == 0 || goal == UINT64_MAX)
    return;
  unsigned long pct = (unsigned long)(live * 100 / goal);
  unsigned long old = atomic_load(&c->sampled_pct);
  while (pct > old && !atomic_compare_exchange_weak(&c->sampled_pct, &old, pct))
    ;
}

static void churner(void *arg) {
  churn_state *c = arg;
  cell **ring = NULL;
  cell *tmp = NULL;
  TC_LOCALS(ring, tmp);
  long n = c->ring_len;
  ring = tc_alloc(&ptrs_type, (size_t)n * sizeof(void *));
  for (long i = 0; i < n; i++) {
    tmp = tc_alloc(&cell_type, sizeof(cell));
    tmp->value = (uint64_t)i;
    tc_store((void **)&ring[i], tmp);
  }
  tmp = NULL;
  tc_waitgroup_done(&c->ready);
  tc_waitgroup_wait(&c->go);
  long i = 0;
  while (!atomic_load(&c->stop)) {
    for (int k = 0; k < 1024; k++, i++) {
      tmp = tc_alloc(&cell_type, sizeof(cell)); /* replaces a live cell */
      tmp->value = (uint64_t)(i % n);
      tc_store((void **)&ring[i % n], tmp);
      tmp = tc_alloc(&cell_type, sizeof(cell)); /* short-lived */
      tmp->value = (uint64_t)i;
    }
    atomic_fetch_add(&c->allocs, 2048);
    churn_sample(c);
    if (tc__load_acquire(&tc__gc.cycles_done) >= c->target_cycles ||
        tc_now() > c->deadline)
      atomic_store(&c->stop, 1);
  }
  tmp = NULL;
  for (long k = 0; k < n; k++)
    if (ring[k] == NULL || ring[k]->value != (uint64_t)k)
      atomic_fetch_add(&c->broken, 1);
  tc_waitgroup_done(&c->done);
}

typedef struct churn_result {
  uint64_t live_bytes;     /* the live set (rings and their cells) */
  uint64_t cycles;         /* cycles during the churn */
  uint64_t peak_pct;       /* stats.heap_peak_over_goal_pct */
  uint64_t steady_pct;     /* the same without the churn's first cycle */
  uint64_t peak_before;    /* the same before the churn (0: not counted) */
  uint64_t sampled_pct;    /* max of heap.live * 100 / goal, sampled by
                              the churners every 2048 allocations (counts
                              unswept garbage after a termination too) */
  uint64_t goal;           /* heap_goal at the start of the churn */
  uint64_t marked;         /* heap_marked at the start of the churn */
  uint64_t allocs;
  uint64_t assist_ms, bg_ms;
  uint32_t mode;
  long broken;
  bool timed_out;
} churn_result;

static churn_result *churn_out;

static void churn_main(void *arg) {
  churn_state *c = arg;
  churn_result *r = churn_out;
  /* build the live set with the trigger off, so the ramp from an empty
   * heap (all allocation live) is not part of the steady state */
  tc_set_gc_percent(TC_GC_OFF);
  preregister();
  tc_waitgroup_add(&c->ready, 2);
  tc_waitgroup_add(&c->go, 1);
  tc_waitgroup_add(&c->done, 2);
  for (int i = 0; i < 2; i++)
    EXPECT(tc_go(churner, c) == TC_OK);
  tc_waitgroup_wait(&c->ready);
  tc_gc(); /* marked = the live set; its goal (none) is not counted */
  tc_set_gc_percent(100);
  tc_stats s;
  tc_read_stats(&s);
  r->peak_before = s.heap_peak_over_goal_pct;
  r->goal = s.heap_goal;
  r->marked = s.heap_marked;
  uint64_t c0 = s.cycles;
  uint64_t a0 = s.assist_ns, b0 = s.bg_mark_ns;
  c->first_cycle = tc__load_acquire(&tc__gc.cycles_done);
  c->target_cycles = c->first_cycle + 21;
  c->deadline = tc_now() + guard_ns();
  tc_waitgroup_done(&c->go);
  tc_waitgroup_wait(&c->done);
  tc_read_stats(&s);
  r->cycles = s.cycles - c0;
  r->peak_pct = s.heap_peak_over_goal_pct;
  r->allocs = (uint64_t)atomic_load(&c->allocs);
  r->assist_ms = (s.assist_ns - a0) / 1000000;
  r->bg_ms = (s.bg_mark_ns - b0) / 1000000;
  r->mode = s.last_mode;
  r->broken = atomic_load(&c->broken);
  r->sampled_pct = atomic_load(&c->sampled_pct);
  r->steady_pct = atomic_load(&c->steady_pct);
  r->timed_out = tc_now() > c->deadline;
}

/* ------------------------------------------------------------------ */
/* The soft memory limit binds with collection on growth turned off: the
 * heap goal shrinks to the limit, cycles run, and the heap stays near it.
 * Without the limit (the contrast) no cycle runs at all. */

typedef struct limit_state {
  uint64_t cycles;
  uint64_t max_live;
  uint64_t goal;
} limit_state;

static void limit_main(void *arg) {
  limit_state *ls = arg;
  preregister();
  cell *keep = NULL, *tmp = NULL;
  TC_LOCALS(keep, tmp);
  long rounds = (long)scaled(1000000, 4); /* 64 MB of cells */
  for (long i = 0; i < rounds; i++) {
    tmp = tc_alloc(&cell_type, sizeof(cell)); /* garbage, 64 B each */
    if (i % 1024 == 0) {
      tc_store((void **)&tmp->next, keep); /* a small live chain */
      keep = tmp;
      if (i % (1024 * 64) == 0)
        keep = NULL;
    }
    uint64_t live = tc__load_relaxed(&tc__h.live);
    if (live > ls->max_live)
      ls->max_live = live;
  }
  tc_stats st;
  tc_read_stats(&st);
  ls->cycles = st.cycles;
  ls->goal = st.heap_goal;
}

static void test_memory_limit(void **state) {
  (void)state;
  tc_test_debug_env(NULL);
  unsetenv("TRICOLOR_MEMLIMIT");
  /* the limit is a quarter of what limit_main allocates (scaled() cuts
   * the rounds on slow builds), at least 2 MiB (the goal never drops
   * below marked + 1 MiB, collector/pacer.c) */
  uint64_t mib = (uint64_t)1 << 20;
  uint64_t limit = (uint64_t)scaled(1000000, 4) * sizeof(cell) / 4 / mib * mib;
  if (limit < 2 * mib)
    limit = 2 * mib;
  limit_state with = {0}, without = {0};
  tc_config cfg = {.procs = 2, .gc_percent = TC_GC_OFF,
                   .mem_limit = (size_t)limit};
  run_cfg(&cfg, limit_main, &with);
  tc_config off = {.procs = 2, .gc_percent = TC_GC_OFF};
  run_cfg(&off, limit_main, &without);
  print_message("memory limit %llu KiB: %llu cycles, max heap.live %llu "
                "KiB, goal %llu KiB; without the limit: %llu cycles, max %llu "
                "KiB\n",
                (unsigned long long)(limit >> 10),
                (unsigned long long)with.cycles,
                (unsigned long long)(with.max_live >> 10),
                (unsigned long long)(with.goal >> 10),
                (unsigned long long)without.cycles,
                (unsigned long long)(without.max_live >> 10));
  assert_true(with.cycles >= 1);
  assert_true(with.goal <= limit);
  assert_true(with.max_live <= limit + limit / 10);
  assert_int_equal(without.cycles, 0);
  assert_true(without.max_live > limit);
}

static void test_heap_goal_steady_state(void **state) {
  (void)state;
  /* 8 MiB of cells (half per churner), less on slow builds */
  uint64_t live = tc_test_under_valgrind() || tc_test_under_emulator()
                      ? (uint64_t)1 << 20
                  : tc_test_under_sanitizer() ? (uint64_t)2 << 20
                                              : (uint64_t)8 << 20;
  churn_state c = {0};
  c.ring_len = (long)(live / 2 / sizeof(cell));
  churn_result r = {0};
  r.live_bytes = live + 2 * (uint64_t)c.ring_len * sizeof(void *);
  churn_out = &r;
  tc_test_debug_env(NULL);
  tc_config cfg = {.procs = 2, .barrier = TC_BARRIER_HYBRID,
                   .min_heap = (size_t)1 << 20};
  run_cfg(&cfg, churn_main, &c);
  print_message("heap goal: live set %llu KiB, marked %llu KiB, goal %llu "
                "KiB; %llu cycles, %llu allocations; peak heap at mark "
                "termination %llu%% of goal (%llu%% after the churn's first "
                "cycle; before the churn %llu%%), sampled heap_live max "
                "%llu%% of goal; assists %llu ms, background mark %llu ms\n",
                (unsigned long long)(r.live_bytes >> 10),
                (unsigned long long)(r.marked >> 10),
                (unsigned long long)(r.goal >> 10),
                (unsigned long long)r.cycles, (unsigned long long)r.allocs,
                (unsigned long long)r.peak_pct,
                (unsigned long long)r.steady_pct,
                (unsigned long long)r.peak_before,
                (unsigned long long)r.sampled_pct,
                (unsigned long long)r.assist_ms,
                (unsigned long long)r.bg_ms);
  assert_false(r.timed_out);
  assert_int_equal(r.broken, 0);
  assert_int_equal(r.mode, TC_BARRIER_HYBRID);
  assert_int_equal(r.peak_before, 0);
  assert_true(r.cycles >= 20);
  assert_true(r.peak_pct > 0);
  assert_true(r.steady_pct > 0);
  assert_true(r.peak_pct <= 110);
  assert_true(r.steady_pct <= 110);
}

/* ------------------------------------------------------------------ */
/* 5. tc_set_barrier / tc_get_barrier / tc_barrier_name                */

typedef struct api_case {
  tc_barrier_mode initial;
} api_case;

/* One tc_gc; checks the mode it ran in and the pauses it recorded. */
static void gc_in_mode(tc_barrier_mode mode) {
  tc_stats s0, s1;
  tc_read_stats(&s0);
  tc_gc();
  tc_read_stats(&s1);
  EXPECT(s1.last_mode == (uint32_t)mode);
  /* tc_gc waits for a cycle that starts after the call: one running at
   * the call (heap-triggered, on a slow build) completes first, and a
   * termination that finds grey work left restarts marking (an extra
   * termination pause): so at least one cycle, and the last one's pauses
   * end with a termination, preceded (not stw) by a mark start. */
  EXPECT(s1.cycles >= s0.cycles + 1);
  uint64_t np = s1.pauses - s0.pauses;
  uint64_t last = s1.pauses - 1;
  if (mode == TC_BARRIER_STW) {
    EXPECT(np >= 1); /* the whole mark in one pause, a termination */
    EXPECT(np >= 1 && s1.pause_kind[last % TC_PAUSE_RING] == 1);
  } else {
    EXPECT(np >= 2);
    EXPECT(np >= 2 && s1.pause_kind[last % TC_PAUSE_RING] == 1);
    bool start = false;
    for (uint64_t k = s0.pauses; k < s1.pauses && np <= TC_PAUSE_RING; k++)
      start |= s1.pause_kind[k % TC_PAUSE_RING] == 0;
    EXPECT(start);
  }
}

static void api_main(void *arg) {
  api_case *ac = arg;
  EXPECT(tc_get_barrier() == TC_BARRIER_HYBRID);
  EXPECT(tc_set_barrier(TC_BARRIER_INSERTION) == TC_BARRIER_HYBRID);
  EXPECT(tc_get_barrier() == TC_BARRIER_INSERTION);
  /* modes that do not exist: refused, the setting kept */
  EXPECT(tc_set_barrier((tc_barrier_mode)99) == TC_EINVAL);
  EXPECT(tc_set_barrier((tc_barrier_mode)(TC_BARRIER_STW + 1)) == TC_EINVAL);
  EXPECT(tc_set_barrier((tc_barrier_mode)-3) == TC_EINVAL);
  EXPECT(tc_set_barrier((tc_barrier_mode)TC__BARRIER_NONE) == TC_EINVAL);
  EXPECT(tc_get_barrier() == TC_BARRIER_INSERTION);
  gc_in_mode(TC_BARRIER_INSERTION);
  EXPECT(tc_set_barrier(TC_BARRIER_STW) == TC_BARRIER_INSERTION);
  gc_in_mode(TC_BARRIER_STW);
  EXPECT(tc_set_barrier(TC_BARRIER_DELETION) == TC_BARRIER_STW);
  gc_in_mode(TC_BARRIER_DELETION);
  /* DEFAULT means hybrid */
  EXPECT(tc_set_barrier(TC_BARRIER_DEFAULT) == TC_BARRIER_DELETION);
  EXPECT(tc_get_barrier() == TC_BARRIER_HYBRID);
  gc_in_mode(TC_BARRIER_HYBRID);
  /* from another coroutine (a thread that is not a mutator aborts:
   * tests/test_roots_foreign.c) */
  EXPECT(tc_set_barrier(TC_BARRIER_INSERTION) == TC_BARRIER_HYBRID);
  EXPECT(tc_get_barrier() == TC_BARRIER_INSERTION);
  gc_in_mode(TC_BARRIER_INSERTION);
  (void)ac;
}

/* A bare mutator collects in one pause: tc_get_barrier reports stw, as
 * the cycles run, whatever tc_config.barrier or tc_set_barrier say. */
static void test_barrier_api_bare_mutator(void **state) {
  (void)state;
  tc_test_debug_env(NULL);
  tc_config cfg = {.procs = 1, .barrier = TC_BARRIER_INSERTION};
  assert_int_equal(tc_init(&cfg), TC_OK);
  assert_int_equal(tc_get_barrier(), TC_BARRIER_STW);
  tc_gc();
  tc_stats s;
  tc_read_stats(&s);
  assert_int_equal(s.last_mode, TC_BARRIER_STW);
  assert_int_equal(s.last_mode, tc_get_barrier());
  /* the setting is kept (and returned) but does not change what runs */
  assert_int_equal(tc_set_barrier(TC_BARRIER_DELETION), TC_BARRIER_INSERTION);
  assert_int_equal(tc_get_barrier(), TC_BARRIER_STW);
  tc_gc();
  tc_read_stats(&s);
  assert_int_equal(s.last_mode, TC_BARRIER_STW);
  tc_shutdown();
  assert_int_equal(tc_get_barrier(), TC_BARRIER_DEFAULT);
}

/* Shuts down a runtime a failed assertion left running (a no-op
 * otherwise), so the tests after it can start theirs. */
static int shutdown_teardown(void **state) {
  (void)state;
  tc_shutdown();
  return 0;
}

typedef struct running_case {
  int mode_during;   /* tc__barrier_mode() after the change, still marking */
  uint32_t mode1;    /* stats.last_mode of the running cycle */
  uint32_t mode2;    /* ... of the next one */
  int prev;          /* tc_set_barrier's return */
  bool in_mark;
} running_case;

static void running_main(void *arg) {
  running_case *rc = arg;
  bg_cycle b = {0};
  EXPECT(start_cycle(&b));
  rc->prev = tc_set_barrier(TC_BARRIER_DELETION);
  rc->mode_during = tc__barrier_mode();
  rc->in_mark = phase() == TC__PHASE_MARK;
  tc_waitgroup_wait(&b.done);
  tc_stats s;
  tc_read_stats(&s);
  rc->mode1 = s.last_mode;
  tc_gc();
  tc_read_stats(&s);
  rc->mode2 = s.last_mode;
}

static void initial_main(void *arg) {
  api_case *ac = arg;
  ac->initial = tc_get_barrier();
  gc_in_mode(ac->initial);
}

static void noop_main(void *arg) { (void)arg; }

static void test_barrier_api(void **state) {
  (void)state;
  assert_string_equal(tc_barrier_name(TC_BARRIER_HYBRID), "hybrid");
  assert_string_equal(tc_barrier_name(TC_BARRIER_INSERTION), "insertion");
  assert_string_equal(tc_barrier_name(TC_BARRIER_DELETION), "deletion");
  assert_string_equal(tc_barrier_name(TC_BARRIER_STW), "stw");
  const char *bad = tc_barrier_name((tc_barrier_mode)42);
  assert_non_null(bad);
  assert_string_not_equal(bad, "hybrid");
  assert_string_not_equal(bad, "stw");
  /* no runtime */
  assert_int_equal(tc_set_barrier(TC_BARRIER_INSERTION), TC_ESTATE);

  api_case ac = {0};
  tc_test_debug_env(NULL);
  run_mode(2, TC_BARRIER_DEFAULT, api_main, &ac);

  /* tc_config.barrier picks the first mode; TRICOLOR_DEBUG overrides it */
  static const tc_barrier_mode modes[] = {
      TC_BARRIER_HYBRID, TC_BARRIER_INSERTION, TC_BARRIER_DELETION,
      TC_BARRIER_STW};
  for (size_t i = 0; i < 4; i++) {
    ac.initial = TC_BARRIER_DEFAULT;
    run_mode(2, modes[i], initial_main, &ac);
    assert_int_equal(ac.initial, modes[i]);
  }
  tc_test_debug_env("barrier=insertion");
  ac.initial = TC_BARRIER_DEFAULT;
  run_mode(2, TC_BARRIER_DELETION, initial_main, &ac);
  assert_int_equal(ac.initial, TC_BARRIER_INSERTION);
  tc_test_debug_env(NULL);

  /* a running cycle keeps its mode; the next one takes the new one */
  running_case rc = {0};
  markdelay_env(NULL);
  run_mode(2, TC_BARRIER_HYBRID, running_main, &rc);
  tc_test_debug_env(NULL);
  print_message("barrier changed while marking: returned %d, running cycle "
                "mode %s (still marking %d), next cycle %s\n",
                rc.prev, tc_barrier_name((tc_barrier_mode)rc.mode1),
                rc.in_mark, tc_barrier_name((tc_barrier_mode)rc.mode2));
  assert_true(rc.in_mark);
  assert_int_equal(rc.prev, TC_BARRIER_HYBRID);
  assert_int_equal(rc.mode_during, TC_BARRIER_HYBRID);
  assert_int_equal(rc.mode1, TC_BARRIER_HYBRID);
  assert_int_equal(rc.mode2, TC_BARRIER_DELETION);

  /* a config mode that does not exist is refused like a bad gc_percent */
  tc_config cfg = {.procs = 2, .barrier = (tc_barrier_mode)42};
  assert_int_equal(tc_run(&cfg, noop_main, NULL), TC_EINVAL);
}

/* ------------------------------------------------------------------ */
/* 6. gctrace                                                          */

/* What the child does under TRICOLOR_DEBUG=gctrace=1. */
enum { TRACE_SEQUENCE, TRACE_TIME };

static int child_failed;

static void trace_sequence_main(void *arg) {
  (void)arg;
  tc_gc();
  tc_gc();
  if (tc_set_barrier(TC_BARRIER_INSERTION) != TC_BARRIER_HYBRID)
    child_failed = 1;
  tc_gc();
  tc_set_barrier(TC_BARRIER_DELETION);
  tc_gc();
  tc_set_barrier(TC_BARRIER_STW);
  tc_gc();
  tc_set_barrier(TC_BARRIER_HYBRID);
  /* heap-triggered cycles: garbage until two more cycles completed */
  int64_t end = tc_now() + guard_ns();
  while (tc__load_acquire(&tc__gc.cycles_done) < 7 && tc_now() < end)
    for (int i = 0; i < 256; i++)
      (void)tc_alloc_noscan(1024);
  if (tc__load_acquire(&tc__gc.cycles_done) < 7)
    child_failed = 2;
}

static void trace_time_main(void *arg) {
  (void)arg;
  int64_t end = tc_now() + guard_ns();
  tc_stats s;
  do {
    tc_sleep(10 * 1000000);
    tc_read_stats(&s);
  } while (s.time_cycles < 2 && tc_now() < end);
  if (s.time_cycles < 2)
    child_failed = 3;
}

/* Runs one scenario in a forked child with stderr on a pipe; returns what
 * it wrote (malloc'd) and its exit status in *status. */
static char *trace_child(int which, int *status) {
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      signal(sigs[i], SIG_DFL); /* not cmocka's: it would longjmp */
    signal(SIGABRT, SIG_DFL);
    alarm(tc_test_under_valgrind() ? 600 : 120);
    close(fds[0]);
    if (dup2(fds[1], STDERR_FILENO) < 0)
      _exit(120);
    close(fds[1]);
    setenv("TRICOLOR_DEBUG",
           which == TRACE_TIME ? "gctrace=1,gcforceperiod=50" : "gctrace=1",
           1);
    tc_config cfg = {.procs = 2};
    child_failed = 0;
    int rc = tc_run(&cfg, which == TRACE_TIME ? trace_time_main
                                              : trace_sequence_main,
                    NULL);
    _exit(rc != TC_OK ? 100 : child_failed ? 100 + child_failed : 0);
  }
  close(fds[1]);
  size_t len = 0, cap = 1 << 16;
  char *buf = malloc(cap + 1);
  assert_non_null(buf);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      assert_non_null(buf);
    }
    ssize_t n = read(fds[0], buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  close(fds[0]);
  pid_t w;
  do
    w = waitpid(pid, status, 0);
  while (w < 0 && errno == EINTR);
  assert_int_equal(w, pid);
  return buf;
}

#define GCTRACE_RE                                                          \
  "^gc ([0-9]+) @([0-9]+\\.[0-9]{3})s ([0-9]+)%: "                          \
  "([0-9.]+)\\+([0-9.]+)\\+([0-9.]+) ms clock, "                            \
  "([0-9.]+)\\+([0-9.]+)/([0-9.]+)/([0-9.]+)\\+([0-9.]+) ms cpu, "          \
  "([0-9]+)->([0-9]+)->([0-9]+) MB, ([0-9]+) MB goal, ([0-9]+) MB stacks, " \
  "([0-9]+) MB globals, ([0-9]+) P( \\(forced\\))? "                        \
  "mode=(hybrid|insertion|deletion|stw) "                                   \
  "trigger=(heap|explicit|time|oom|stress) "                                \
  "weak=([0-9]+)/([0-9]+) ephemerons=([0-9]+)/([0-9]+)/([0-9]+)$"
#define GCTRACE_GROUPS 27

typedef struct trace_line {
  unsigned long n;
  double at;
  bool forced;
  char mode[16];
  char trigger[16];
  unsigned long procs;
  bool after_forced_msg; /* the previous line was "GC forced" */
} trace_line;

/* Go's ms figures: digits, or digits '.' up to three digits. */
static bool ms_ok(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  if (i == 0)
    return false;
  if (i == n)
    return true;
  if (s[i] != '.' || n - i - 1 < 1 || n - i - 1 > 3)
    return false;
  for (i++; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

static void group(const char *line, const regmatch_t *m, char *out,
                  size_t cap) {
  size_t n = m->rm_so < 0 ? 0 : (size_t)(m->rm_eo - m->rm_so);
  if (n >= cap)
    n = cap - 1;
  memcpy(out, line + (m->rm_so < 0 ? 0 : m->rm_so), n);
  out[n] = '\0';
}

/* Parses every "gc " line of out; fails on one that does not match. */
static size_t parse_trace(char *out, trace_line *lines, size_t max) {
  regex_t re;
  int rc = regcomp(&re, GCTRACE_RE, REG_EXTENDED);
  if (rc != 0) {
    char msg[256];
    regerror(rc, &re, msg, sizeof msg);
    print_error("regcomp: %s\n", msg);
    fail();
  }
  size_t n = 0;
  bool prev_forced_msg = false;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "gc ", 3) != 0) {
      prev_forced_msg = strcmp(line, "GC forced") == 0;
      continue;
    }
    regmatch_t m[GCTRACE_GROUPS];
    if (regexec(&re, line, GCTRACE_GROUPS, m, 0) != 0) {
      print_error("gctrace line does not match Go's format:\n%s\n", line);
      regfree(&re);
      fail();
    }
    for (int g = 4; g <= 11; g++)
      if (!ms_ok(line + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so))) {
        print_error("gctrace: field %d is not a Go ms figure:\n%s\n", g,
                    line);
        regfree(&re);
        fail();
      }
    assert_true(n < max);
    trace_line *t = &lines[n++];
    char buf[64];
    group(line, &m[1], buf, sizeof buf);
    t->n = strtoul(buf, NULL, 10);
    group(line, &m[2], buf, sizeof buf);
    t->at = strtod(buf, NULL);
    group(line, &m[18], buf, sizeof buf);
    t->procs = strtoul(buf, NULL, 10);
    t->forced = m[19].rm_so >= 0;
    group(line, &m[20], t->mode, sizeof t->mode);
    group(line, &m[21], t->trigger, sizeof t->trigger);
    t->after_forced_msg = prev_forced_msg;
    prev_forced_msg = false;
  }
  regfree(&re);
  return n;
}

static void test_gctrace_format(void **state) {
  (void)state;
  trace_line lines[256];
  /* 1. explicit cycles in each mode, then heap-triggered ones */
  int status = 0;
  char *out = trace_child(TRACE_SEQUENCE, &status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    print_error("child status 0x%x, stderr:\n%s\n", status, out);
    free(out);
    fail();
  }
  size_t n = parse_trace(out, lines, 256);
  free(out);
  print_message("gctrace: %zu lines from the sequence child\n", n);
  assert_true(n >= 7);
  static const char *const modes[5] = {"hybrid", "hybrid", "insertion",
                                       "deletion", "stw"};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(lines[i].n, i + 1);
    assert_int_equal(lines[i].procs, 2);
    if (i > 0)
      assert_true(lines[i].at >= lines[i - 1].at);
    if (i < 5) {
      assert_string_equal(lines[i].mode, modes[i]);
      assert_string_equal(lines[i].trigger, "explicit");
      assert_true(lines[i].forced);
    } else {
      assert_string_equal(lines[i].mode, "hybrid");
      assert_string_equal(lines[i].trigger, "heap");
      assert_false(lines[i].forced);
    }
  }
  /* 2. time-triggered cycles: "GC forced" first, not "(forced)" */
  out = trace_child(TRACE_TIME, &status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    print_error("child status 0x%x, stderr:\n%s\n", status, out);
    free(out);
    fail();
  }
  n = parse_trace(out, lines, 256);
  free(out);
  print_message("gctrace: %zu lines from the force-period child\n", n);
  assert_true(n >= 2);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(lines[i].n, i + 1);
    assert_string_equal(lines[i].mode, "hybrid");
    assert_string_equal(lines[i].trigger, "time");
    assert_false(lines[i].forced);
    assert_true(lines[i].after_forced_msg);
  }
}

/* ------------------------------------------------------------------ */
/* The first allocation of a type from two Ps at once                 */

/* Fresh types, each allocated for the first time by two coroutines on two
 * Ps that start together.  tc__type_register publishes type->fast_id with
 * a release store under the types lock (collector/types.c); the inline
 * path reads it with a plain load (include/tricolor/inline.h, tc_alloc),
 * so the two allocations race, which ThreadSanitizer reports.  Outside
 * ThreadSanitizer the test checks that both objects got their type. */
#define FRESH_TYPES 8
static const uint32_t fresh_offsets[] = {0};
static tc_type fresh_types[FRESH_TYPES];

typedef struct fresh_state {
  atomic_int arrived[FRESH_TYPES];
  atomic_long wrong;
  tc_waitgroup done;
} fresh_state;

static void fresh_allocator(void *arg) {
  fresh_state *s = arg;
  for (int t = 0; t < FRESH_TYPES; t++) {
    atomic_fetch_add(&s->arrived[t], 1);
    /* Both on their own P, then both allocate.  If the other coroutine
     * waits on this P instead (under valgrind, whose threads take turns,
     * the second P may not run it for a long time), spinning would burn
     * the whole hang guard on every type: after 1 ms, yield to it. */
    int64_t start = tc_now(), end = start + guard_ns();
    while (atomic_load(&s->arrived[t]) < 2 && tc_now() < end) {
      if (tc_now() - start < 1000000)
        tc_safepoint();
      else
        tc_yield();
    }
    void *o = tc_alloc(&fresh_types[t], 16);
    if (tc_object_type(o) != &fresh_types[t])
      atomic_fetch_add(&s->wrong, 1);
  }
  tc_waitgroup_done(&s->done);
}

static void fresh_main(void *arg) {
  fresh_state *s = arg;
  tc_waitgroup_add(&s->done, 2);
  EXPECT(tc_go(fresh_allocator, s) == TC_OK);
  EXPECT(tc_go(fresh_allocator, s) == TC_OK);
  tc_waitgroup_wait(&s->done);
}

static void test_race_type_first_use_from_two_procs(void **state) {
  (void)state;
  for (int t = 0; t < FRESH_TYPES; t++)
    fresh_types[t] = (tc_type){.name = "fresh", .offsets = fresh_offsets,
                               .noffsets = 1};
  fresh_state s = {0};
  tc_test_debug_env(NULL);
  run(2, fresh_main, &s);
  assert_int_equal(atomic_load(&s.wrong), 0);
}

/* A coroutine that only yields while a cycle marks.  Mark termination
 * waits for every P running a G to flush its grey buffers (the handshake
 * of tc__world_flush_gcws); a G that never reaches a safepoint poll
 * answers when it switches out.  One P: the collector's request lands on
 * the yielder, the only G that runs until the cycle ends. */
typedef struct yield_loop {
  atomic_int cycle_over;
  long yields;
} yield_loop;

static void yield_loop_gc(void *arg) {
  yield_loop *y = arg;
  tc_gc();
  atomic_store(&y->cycle_over, 1);
}

static void yield_loop_main(void *arg) {
  yield_loop *y = arg;
  EXPECT(tc_go(yield_loop_gc, y) == TC_OK);
  int64_t end = tc_now() + guard_ns();
  while (!atomic_load(&y->cycle_over) && tc_now() < end) {
    tc_yield();
    y->yields++;
  }
  EXPECT(atomic_load(&y->cycle_over));
}

static void test_yielding_coroutine_lets_marking_end(void **state) {
  (void)state;
  static const tc_barrier_mode modes[] = {
      TC_BARRIER_INSERTION, TC_BARRIER_DELETION, TC_BARRIER_HYBRID};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    yield_loop y = {0};
    tc_test_debug_env(NULL);
    run_mode(1, modes[i], yield_loop_main, &y);
    assert_int_equal(atomic_load(&y.cycle_over), 1);
  }
}

/* The handshake's promise, checked directly: a P whose G switched out
 * while marking has answered every flush request made before (the switch
 * flushed its buffers).  A G that yields in a loop never reaches a
 * safepoint poll, so the switch is its only answer; without it, the
 * handshake could only catch the P between two Gs, by luck (under
 * valgrind, which runs one thread at a time, it rarely did, and mark
 * termination waited for the loop to end). */
typedef struct flush_ack {
  bg_cycle b;
  bool marking;
  int32_t behind; /* generations the P's answer lags the request */
} flush_ack;

static void flush_ack_main(void *arg) {
  flush_ack *f = arg;
  f->marking = start_cycle(&f->b); /* held open in mark by the delay */
  if (f->marking) {
    uint32_t gen = tc__gc_flush_request();
    tc_yield(); /* one P, nothing else runnable: back on the same P */
    tc__mcache *c = (tc__mcache *)tc__ctx_get()->cache; /* runs first */
    f->behind = (int32_t)(gen - tc__load_acquire(&c->gc->ack));
  }
  tc_waitgroup_wait(&f->b.done);
}

static void test_switch_answers_flush_request(void **state) {
  (void)state;
  flush_ack f = {0};
  markdelay_env(NULL);
  run_mode(1, TC_BARRIER_HYBRID, flush_ack_main, &f);
  tc_test_debug_env(NULL);
  assert_true(f.marking);
  assert_true(f.behind <= 0);
}

/* ------------------------------------------------------------------ */
/* restart lags: one per restart that woke a stopped thread            */

/* A coroutine spins through safepoints on the second P while main runs
 * cycles: every pause stops its thread and every restart wakes it, so
 * each cycle records at least one restart lag (tc_stats.restarts,
 * restart_lag_ns), and the ring agrees with restart_lag_max_ns. */
/* A coroutine that only passes safepoints until spinner_stop: it keeps
 * a second P busy, so that a world stop has a thread to wait for. */
typedef struct spinner {
  atomic_int stop;
  tc_waitgroup done;
} spinner;

static void spinner_main(void *arg) {
  spinner *sp = arg;
  while (!atomic_load(&sp->stop))
    tc_safepoint();
  tc_waitgroup_done(&sp->done);
}

static void spinner_start(spinner *sp) {
  tc_waitgroup_add(&sp->done, 1);
  EXPECT(tc_go(spinner_main, sp) == TC_OK);
}

static void spinner_stop(spinner *sp) {
  atomic_store(&sp->stop, 1);
  tc_waitgroup_wait(&sp->done);
}

typedef struct lag_run {
  spinner sp;
  tc_stats before, after;
} lag_run;

static void lag_main(void *arg) {
  lag_run *l = arg;
  spinner_start(&l->sp);
  tc_yield(); /* the spinner runs, on the other P or after us */
  tc_read_stats(&l->before);
  for (int i = 0; i < 5; i++)
    tc_gc();
  tc_read_stats(&l->after);
  spinner_stop(&l->sp);
}

static void test_restart_lags_recorded(void **state) {
  (void)state;
  lag_run l = {0};
  tc_test_debug_env(NULL);
  run(2, lag_main, &l);
  uint64_t cycles = l.after.cycles - l.before.cycles;
  uint64_t n = l.after.restarts - l.before.restarts;
  assert_true(cycles >= 5);
  assert_true(n >= cycles); /* a restart at least per cycle woke the spinner */
  assert_true(l.after.restarts <= TC_PAUSE_RING); /* the whole run's are kept */
  uint64_t max = 0;
  for (uint64_t k = 0; k < l.after.restarts; k++)
    if (l.after.restart_lag_ns[k] > max)
      max = l.after.restart_lag_ns[k];
  assert_int_equal(max, l.after.restart_lag_max_ns);
  assert_true(max > 0); /* a woken thread takes some time to run */
}

/* ------------------------------------------------------------------ */
/* The mark start on the triggering coroutine                          */

/* A cycle an allocation triggers in hybrid or insertion mode begins on
 * the allocating coroutine (collector/gcthread.c, step 0): its mark-start
 * pause wakes no collector thread.  In stw and deletion modes (stacks to
 * scan in the pause) every cycle runs on the collector thread.  Main
 * allocates garbage until ten cycles ended (hybrid and insertion: and one
 * began on it); a spinner keeps the other P busy, so the stop has an M
 * to wait for. */
typedef struct here_run {
  bool expect;  /* hybrid, insertion: run until one cycle begins here
                   (or 200 ended: a slow build's sweep may lag) */
  spinner sp;
  uint64_t cycles, begun_here;
} here_run;

static void here_main(void *arg) {
  here_run *h = arg;
  spinner_start(&h->sp);
  tc_stats st;
  tc_read_stats(&st);
  uint64_t c0 = st.cycles, b0 = tc__load_relaxed(&tc__gcc.begun_here);
  do {
    for (int i = 0; i < 1000; i++)
      (void)tc_alloc_noscan(256);
    tc_read_stats(&st);
  } while (st.cycles - c0 < 10 ||
           (h->expect && tc__load_relaxed(&tc__gcc.begun_here) == b0 &&
            st.cycles - c0 < 200));
  h->cycles = st.cycles - c0;
  h->begun_here = tc__load_relaxed(&tc__gcc.begun_here) - b0;
  spinner_stop(&h->sp);
}

static void test_mark_start_on_triggering_coroutine(void **state) {
  (void)state;
  tc_test_debug_env(NULL);
  static const tc_barrier_mode modes[] = {TC_BARRIER_HYBRID,
                                          TC_BARRIER_INSERTION,
                                          TC_BARRIER_DELETION, TC_BARRIER_STW};
  for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
    bool here = modes[i] == TC_BARRIER_HYBRID ||
                modes[i] == TC_BARRIER_INSERTION;
    here_run h = {.expect = here};
    tc_config cfg = {.procs = 2, .barrier = modes[i]};
    run_cfg(&cfg, here_main, &h);
    print_message("%s: %llu of %llu cycles begun on the coroutine\n",
                  tc_barrier_name(modes[i]), (unsigned long long)h.begun_here,
                  (unsigned long long)h.cycles);
    assert_true(h.begun_here <= h.cycles + 1); /* one may still run */
    if (here)
      assert_true(h.begun_here >= 1);
    else
      assert_int_equal(h.begun_here, 0);
  }
}

/* ------------------------------------------------------------------ */
/* tc_read_stats while another P grows the heap                        */

/* tc_read_stats is "any thread after tc_init" and reads heap.inuse, free,
 * released and mapped with relaxed loads outside the heap lock
 * (collector/stats.c); the page heap updates them with plain += under the
 * lock (heap/pageheap.c, heap/arena.c), so a reader on one P races with an
 * allocation that takes pages on another, which ThreadSanitizer reports.
 * Outside ThreadSanitizer the test checks what cannot go wrong: the cycle
 * count a reader sees never goes down. */
typedef struct stats_race {
  atomic_int stop;
  atomic_long backwards;
  tc_waitgroup done;
} stats_race;

static void stats_grower(void *arg) {
  stats_race *s = arg;
  long rounds = scaled(400, 4);
  for (long i = 0; i < rounds; i++)
    (void)tc_alloc_noscan(64 << 10); /* a large span: fresh or reused pages */
  atomic_store(&s->stop, 1);
  tc_waitgroup_done(&s->done);
}

static void stats_reader(void *arg) {
  stats_race *s = arg;
  uint64_t last = 0;
  while (!atomic_load(&s->stop)) {
    tc_stats st;
    tc_read_stats(&st);
    if (st.cycles < last)
      atomic_fetch_add(&s->backwards, 1);
    last = st.cycles;
    tc_safepoint();
  }
  tc_waitgroup_done(&s->done);
}

static void stats_race_main(void *arg) {
  stats_race *s = arg;
  tc_waitgroup_add(&s->done, 2);
  EXPECT(tc_go(stats_reader, s) == TC_OK);
  EXPECT(tc_go(stats_grower, s) == TC_OK);
  tc_waitgroup_wait(&s->done);
}

static void test_race_read_stats_while_heap_grows(void **state) {
  (void)state;
  stats_race s = {0};
  tc_test_debug_env(NULL);
  run(2, stats_race_main, &s);
  assert_int_equal(atomic_load(&s.backwards), 0);
}

int main(int argc, char **argv) {
  if (argc > 1)
    cmocka_set_test_filter(argv[1]); /* e.g. "test_pause*" */
  unsetenv("TRICOLOR_PROCS"); /* the tests fix procs themselves */
  unsetenv("TRICOLOR_GC");
  tc_test_debug_keep_markorder(); /* the test_*_span runs keep theirs */
  unsetenv("TRICOLOR_MEMLIMIT");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_floating_garbage_deletion),
      cmocka_unit_test(test_floating_garbage_insertion_frees_at_once),
      cmocka_unit_test(test_floating_garbage_hybrid),
      cmocka_unit_test(test_floating_bytes_stw_is_zero),
      cmocka_unit_test(test_allocation_is_black),
      cmocka_unit_test(test_pause_slots_insertion_grow_with_stacks),
      cmocka_unit_test(test_pause_slots_deletion_grow_with_stacks),
      cmocka_unit_test(test_pause_slots_hybrid_constant),
      cmocka_unit_test(test_force_period),
      cmocka_unit_test(test_heap_goal_steady_state),
      cmocka_unit_test(test_memory_limit),
      cmocka_unit_test(test_barrier_api),
      cmocka_unit_test_teardown(test_barrier_api_bare_mutator,
                                shutdown_teardown),
      cmocka_unit_test(test_gctrace_format),
      /* last: under ThreadSanitizer each reports a race, halting the run */
      cmocka_unit_test(test_race_read_stats_while_heap_grows),
      cmocka_unit_test(test_restart_lags_recorded),
      cmocka_unit_test(test_mark_start_on_triggering_coroutine),
      cmocka_unit_test(test_race_type_first_use_from_two_procs),
      cmocka_unit_test(test_yielding_coroutine_lets_marking_end),
      cmocka_unit_test(test_switch_answers_flush_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
