/*
 * bench/bench_barrier.c -- what the write barrier costs the mutator, in
 * paired runs: tc_store against a plain store while no cycle marks, and
 * tc_store while a cycle marks against tc_store while none does.
 * tricolor only.
 *
 * The loop.  A store-heavy mutator: M objects of two pointer fields
 * (default 4096, 64 KiB: they stay in cache, so the loop is bound by
 * instructions, the worst case for a barrier) reached through a heap array;
 * each iteration picks two of them with a linear congruential generator
 * and rewires them:
 *     a->left = b;  b->right = a->right;       (two stores, one extra load)
 * with a tc_safepoint every 1024 iterations (so the collector can stop the
 * world between chunks).  --work K (default 0) adds K xorshift steps
 * (3 shifts, 3 xors each) per iteration, diluting the stores the way
 * ordinary code does: K = 0 is the worst case for a barrier.  The same body is compiled three times, each as a
 * function of its own that the compiler may not merge (noipa):
 *   chunk_plain  the two stores are relaxed atomic stores (what tc_store
 *                does when the barrier is off, minus the flag test);
 *   chunk_tc     the stores go through tc_store, no cycle marking: the
 *                barrier's fast path (one relaxed load and a branch);
 *   chunk_mark   the stores go through tc_store while a cycle marks: the
 *                slow path of the mode (shade old and/or new).
 *
 * Holding marking open.  Cycles happen only when asked for (collection on
 * heap growth is off).  To run chunk_mark while a cycle marks, a helper
 * coroutine calls tc_gc() and the collector thread sleeps
 * TRICOLOR_DEBUG=gcmarkdelay=US microseconds after the mark-start pause
 * before it marks anything (the program appends gcmarkdelay=200000 to
 * TRICOLOR_DEBUG unless it is set): the barrier is on and nothing else
 * competes with the mutator.  Main waits until the mark-start pause is
 * recorded, runs chunk_mark, and keeps the pair only if no mark
 * termination happened meanwhile.  In hybrid mode main's own root stack is
 * black then: main woke from tc_sleep after the pause and scanned its
 * stack before it ran (sched/gscan.c), so each store records the old
 * reference and NULL for the new one (the P's wbmask), as a coroutine
 * does for most of a mark.
 * stw never marks concurrently: its marking figures are "-".
 *
 * Method (time).  R rounds (default 15); each round measures two pairs of
 * chunks of N iterations (default 4M), swapping the order within a pair
 * every other round so drift cancels:
 *   (a) chunk_plain and chunk_tc, no cycle: slowdown = tc / plain - 1;
 *   (b) chunk_mark during a cycle and chunk_tc after it: slowdown =
 *       mark / tc - 1.
 * Reported: the median of each pair's slowdown, and median ns per store.
 *
 * Method (instructions).  `ir VARIANT` runs warm-up chunks and then one
 * chunk of VARIANT (plain, tc or mark, default 200000 iterations) between
 * two CALLGRIND_TOGGLE_COLLECT requests: under
 *     valgrind --tool=callgrind --collect-atstart=no
 * callgrind counts only that chunk (callees included), a repeatable figure;
 * bench/barrier.py runs the three and prints the differences per store.
 * (Function-based --toggle-collect=chunk_* miscounts here: callgrind's call
 * tracking does not follow the coroutine stack switches.)  Marking is held
 * open for 5 s in this mode (callgrind runs the chunk ~50x slower) and the
 * program exits without waiting for the cycle.
 *
 * Usage: bench_barrier_tricolor [time] [--rounds R] [--iters N]
 *                               [--objects M (power of two)] [--work K]
 *        bench_barrier_tricolor ir plain|tc|mark [--iters N] [--objects M]
 *                               [--work K]
 * Prints a table and one RESULT line:
 *   RESULT bench=barrier backend=tricolor mode=.. procs=.. rounds=..
 *     iters=.. objects=.. work=.. plain_ns=.. tc_ns=.. mark_ns=.. nomark_slowdown_pct=..
 *     mark_slowdown_pct=.. mark_pairs=.. barrier_slow=.. barrier_shaded=..
 * (ns figures per store; "-" where a mode has no concurrent marking).
 */
#include "backend.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND_H 1
#else
#define CALLGRIND_TOGGLE_COLLECT /* --toggle-collect=chunk_VARIANT instead */
#endif

#if !defined(BACKEND_TRICOLOR)
#error "bench_barrier is tricolor only"
#endif

typedef struct node {
  struct node *left;
  struct node *right;
} node;

static const uint32_t node_refs[] = {offsetof(node, left),
                                     offsetof(node, right)};
static tc_type node_type = {.name = "node", .offsets = node_refs,
                            .noffsets = 2};
static const uint32_t array_refs[] = {0};
static tc_type array_type = {.name = "nodes", .offsets = array_refs,
                             .noffsets = 1, .stride = sizeof(void *)};

#if defined(__has_attribute)
#if __has_attribute(noipa)
#define BENCH_OPAQUE __attribute__((noipa))
#endif
#endif
#ifndef BENCH_OPAQUE
#define BENCH_OPAQUE __attribute__((noinline))
#endif

#define STORE_PLAIN(slot, v) \
  __atomic_store_n((void **)(slot), (void *)(v), __ATOMIC_RELAXED)
#define STORE_TC(slot, v) tc_store((void **)(slot), (void *)(v))

/* The loop, for one store macro; returns the generator state so the work
 * cannot be dropped. */
#define CHUNK_BODY(STORE)                                               \
  for (long i = 0; i < iters; i++) {                                    \
    for (long k = 0; k < work; k++) /* --work: dilutes the stores */    \
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;                          \
    x = x * 1664525u + 1013904223u;                                     \
    node *a = nodes[(x >> 20) & mask];                                  \
    node *b = nodes[(x >> 8) & mask];                                   \
    STORE(&a->left, b);                                                 \
    STORE(&b->right, a->right);                                         \
    if ((i & 1023) == 0)                                                \
      tc_safepoint();                                                   \
  }                                                                     \
  return x

BENCH_OPAQUE static uint32_t chunk_plain(node **nodes, uint32_t mask,
                                         long iters, long work, uint32_t x) {
  CHUNK_BODY(STORE_PLAIN);
}

BENCH_OPAQUE static uint32_t chunk_tc(node **nodes, uint32_t mask,
                                      long iters, long work, uint32_t x) {
  CHUNK_BODY(STORE_TC);
}

BENCH_OPAQUE static uint32_t chunk_mark(node **nodes, uint32_t mask,
                                        long iters, long work, uint32_t x) {
  CHUNK_BODY(STORE_TC);
}

typedef uint32_t (*chunk_fn)(node **, uint32_t, long, long, uint32_t);

typedef struct settings {
  bool ir;           /* one chunk for callgrind */
  const char *variant;
  long rounds, iters, objects, work;
} settings;

static volatile uint32_t sink;

/* Returns the ns one chunk took. */
static uint64_t timed(chunk_fn f, node **nodes, const settings *c) {
  uint64_t t0 = bench_now_ns();
  sink = f(nodes, (uint32_t)(c->objects - 1), c->iters, c->work, sink);
  return bench_now_ns() - t0;
}

/* Runs one chunk with callgrind collecting (ir mode). */
static void counted(chunk_fn f, node **nodes, const settings *c) {
  CALLGRIND_TOGGLE_COLLECT;
  sink = f(nodes, (uint32_t)(c->objects - 1), c->iters, c->work, sink);
  CALLGRIND_TOGGLE_COLLECT;
}

/* ---- cycles on demand ---- */

static tc_waitgroup gc_done;

static void gc_helper(void *arg) {
  (void)arg;
  tc_gc(); /* parks until the whole cycle is over */
  tc_waitgroup_done(&gc_done);
}

static uint64_t pauses_now(void) {
  static tc_stats s; /* main coroutine only */
  tc_read_stats(&s);
  return s.pauses;
}

/* Starts a cycle and returns once its mark-start pause is over (the
 * barrier is on); *p0 gets the pause count before it.  false if the cycle
 * ended without a concurrent phase (stw). */
static bool start_marking(uint64_t *p0) {
  *p0 = pauses_now();
  tc_waitgroup_add(&gc_done, 1);
  if (tc_go(gc_helper, NULL) != TC_OK) {
    fprintf(stderr, "bench_barrier: tc_go failed\n");
    exit(1);
  }
  while (pauses_now() == *p0)
    tc_sleep(20000);
  return tc_get_barrier() != TC_BARRIER_STW;
}

/* Waits for the cycle started by start_marking to end. */
static void finish_marking(void) { tc_waitgroup_wait(&gc_done); }

/* ---- main ---- */

static double median(double *v, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 1; i < n; i++) /* insertion sort: n is small */
    for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [time] [--rounds R] [--iters N] [--objects M] "
          "[--work K]\n"
          "       %s ir plain|tc|mark [--iters N] [--objects M] [--work K]\n",
          prog, prog);
  return 2;
}

static bool parse(int argc, char **argv, settings *c) {
  int i = 1;
  if (i < argc && strcmp(argv[i], "time") == 0)
    i++;
  else if (i < argc && strcmp(argv[i], "ir") == 0) {
    if (i + 1 >= argc)
      return false;
    c->ir = true;
    c->variant = argv[i + 1];
    if (strcmp(c->variant, "plain") && strcmp(c->variant, "tc") &&
        strcmp(c->variant, "mark"))
      return false;
    i += 2;
  }
  for (; i < argc; i += 2) {
    if (i + 1 >= argc)
      return false;
    char *end;
    long v = strtol(argv[i + 1], &end, 10);
    if (*argv[i + 1] == '\0' || *end != '\0' || v < 0)
      return false;
    if (strcmp(argv[i], "--rounds") == 0 && v >= 1 && v <= 1000)
      c->rounds = v;
    else if (strcmp(argv[i], "--iters") == 0 && v >= 1)
      c->iters = v;
    else if (strcmp(argv[i], "--work") == 0 && v <= 1000)
      c->work = v;
    else if (strcmp(argv[i], "--objects") == 0 && (v & (v - 1)) == 0 &&
             v >= 2 && v <= (1L << 24))
      c->objects = v;
    else
      return false;
  }
  return true;
}

#define MAX_ROUNDS 1000

static int bench_main(int argc, char **argv) {
  settings cfg = {.rounds = 15, .iters = 0, .objects = 4096, .work = 0};
  if (!parse(argc, argv, &cfg))
    return usage(argv[0]);
  if (cfg.iters == 0)
    cfg.iters = cfg.ir ? 200000 : 4000000;
  tc_set_gc_percent(TC_GC_OFF); /* cycles only when we ask */

  node **nodes = NULL;
  TC_LOCALS(nodes);
  nodes = bench_check(tc_alloc(&array_type,
                               (size_t)cfg.objects * sizeof(node *)),
                      "tc_alloc");
  for (long i = 0; i < cfg.objects; i++) {
    node *n = bench_check(tc_alloc(&node_type, sizeof(node)), "tc_alloc");
    tc_store((void **)&nodes[i], n);
  }
  sink = 12345;
  timed(chunk_tc, nodes, &cfg); /* warm-up: caches, branch predictors */
  timed(chunk_plain, nodes, &cfg);
  (void)counted;
  const char *mode = tc_barrier_name(tc_get_barrier());

  if (cfg.ir) {
    uint64_t p0;
    if (strcmp(cfg.variant, "plain") == 0)
      counted(chunk_plain, nodes, &cfg);
    else if (strcmp(cfg.variant, "tc") == 0)
      counted(chunk_tc, nodes, &cfg);
    else {
      bool conc = start_marking(&p0);
      timed(chunk_mark, nodes, &cfg); /* warm-up: first shades */
      counted(chunk_mark, nodes, &cfg);
      bool held = pauses_now() == p0 + 1;
      /* no finish_marking: tc_run abandons the cycle when main returns */
      if (!conc || !held)
        fprintf(stderr, "bench_barrier: the chunk did not run while "
                        "marking (%s)\n", conc ? "cycle ended first" : "stw");
    }
    printf("barrier ir variant=%s mode=%s iters=%ld\n", cfg.variant, mode,
           cfg.iters);
    return 0;
  }

  static double plain_ns[MAX_ROUNDS], tc_ns[MAX_ROUNDS], mark_ns[MAX_ROUNDS],
      nomark_ns[MAX_ROUNDS], slow_a[MAX_ROUNDS], slow_b[MAX_ROUNDS];
  size_t na = 0, nb = 0;
  double stores = 2.0 * (double)cfg.iters;
  bool conc = tc_get_barrier() != TC_BARRIER_STW;
  bench_pauses_reset();
  uint64_t start = bench_now_ns();
  for (long r = 0; r < cfg.rounds; r++) {
    bool swap = r % 2;
    /* (a) plain vs tc, no cycle */
    uint64_t tp, tt;
    if (!swap) {
      tp = timed(chunk_plain, nodes, &cfg);
      tt = timed(chunk_tc, nodes, &cfg);
    } else {
      tt = timed(chunk_tc, nodes, &cfg);
      tp = timed(chunk_plain, nodes, &cfg);
    }
    plain_ns[na] = (double)tp / stores;
    tc_ns[na] = (double)tt / stores;
    slow_a[na] = 100.0 * ((double)tt / (double)tp - 1.0);
    na++;
    if (!conc)
      continue;
    /* (b) tc while marking vs tc while not */
    uint64_t tm, tn = 0, p0;
    if (swap)
      tn = timed(chunk_tc, nodes, &cfg);
    start_marking(&p0);
    tm = timed(chunk_mark, nodes, &cfg);
    bool held = pauses_now() == p0 + 1;
    finish_marking();
    if (!swap)
      tn = timed(chunk_tc, nodes, &cfg);
    if (!held) {
      fprintf(stderr, "bench_barrier: round %ld: marking ended before the "
                      "chunk did; pair dropped (raise gcmarkdelay or lower "
                      "--iters)\n", r + 1);
      continue;
    }
    mark_ns[nb] = (double)tm / stores;
    nomark_ns[nb] = (double)tn / stores;
    slow_b[nb] = 100.0 * ((double)tm / (double)tn - 1.0);
    nb++;
  }
  uint64_t wall = bench_now_ns() - start;

  double mp = median(plain_ns, na), mt = median(tc_ns, na);
  double sa = median(slow_a, na);
  double mm = median(mark_ns, nb), mn = median(nomark_ns, nb);
  double sb = median(slow_b, nb);
  printf("barrier mode=%s: %ld objects, %ld rounds of %ld iterations "
         "(2 stores, %ld xorshift steps each), medians per store:\n",
         mode, cfg.objects, cfg.rounds, cfg.iters, cfg.work);
  printf("  (a) not marking: plain %.3f ns, tc_store %.3f ns: "
         "slowdown %+.2f%% (median of %zu pairs)\n", mp, mt, sa, na);
  if (nb)
    printf("  (b) tc_store marking %.3f ns, not marking %.3f ns: "
           "slowdown %+.2f%% (median of %zu pairs)\n", mm, mn, sb, nb);
  else
    printf("  (b) no concurrent marking in mode %s\n", mode);

  tc_stats s;
  tc_read_stats(&s);
  char b1[32], b2[32], b3[32];
  if (nb) {
    snprintf(b1, sizeof b1, "%.3f", mm);
    snprintf(b2, sizeof b2, "%.2f", sb);
  } else {
    snprintf(b1, sizeof b1, "-");
    snprintf(b2, sizeof b2, "-");
  }
  snprintf(b3, sizeof b3, "%zu", nb);
  fflush(stdout);
  printf("RESULT bench=barrier backend=tricolor wall_ms=%.3f mode=%s "
         "procs=%d rounds=%ld iters=%ld objects=%ld work=%ld plain_ns=%.3f "
         "tc_ns=%.3f "
         "mark_ns=%s nomark_slowdown_pct=%.2f mark_slowdown_pct=%s "
         "mark_pairs=%s barrier_slow=%llu barrier_shaded=%llu\n",
         (double)wall / 1e6, mode, bench_tc_procs(), cfg.rounds, cfg.iters,
         cfg.objects, cfg.work, mp, mt, b1, sa, b2, b3,
         (unsigned long long)s.barrier_slow,
         (unsigned long long)s.barrier_shaded);
  fflush(stdout);
  return 0;
}

/* Appends gcmarkdelay=US to TRICOLOR_DEBUG unless it is set. */
static void hold_marking_open(long us) {
  const char *d = getenv("TRICOLOR_DEBUG");
  if (d && strstr(d, "gcmarkdelay="))
    return;
  char buf[512];
  snprintf(buf, sizeof buf, "%s%sgcmarkdelay=%ld", d ? d : "",
           d && *d ? "," : "", us);
  setenv("TRICOLOR_DEBUG", buf, 1);
}

int main(int argc, char **argv) {
  bool ir = argc > 1 && strcmp(argv[1], "ir") == 0;
  hold_marking_open(ir ? 5000000 : 200000);
  return bench_start(bench_main, argc, argv);
}
