/*
 * bench/backend.h -- the memory-management layer every benchmark is written
 * against, so that one benchmark source builds once per backend.
 *
 * Why a layer.  The workloads (GCBench, binary-trees) must do exactly the
 * same work in every build; only the way a node is allocated, how a
 * reference is stored and who frees it may differ.  Each benchmark is one .c
 * file written with the BENCH_* names below; CMake compiles it once per
 * backend with exactly one of these defines:
 *
 *   BACKEND_TRICOLOR  tc_alloc with a tc_type listing the pointer offsets,
 *                     TC_STORE for child pointers, TC_LOCALS for C locals
 *                     that hold heap pointers across an allocation.  The
 *                     workload runs as the main coroutine of tc_run, so
 *                     the collector marks concurrently in the barrier mode
 *                     of TRICOLOR_DEBUG=barrier=hybrid|insertion|deletion|
 *                     stw (default hybrid) with procs = TRICOLOR_PROCS, else
 *                     2.  BENCH_TC_BARE=1 runs it on a bare tc_init instead
 *                     (the mode before tc_run existed: every cycle one
 *                     pause; reported as mode=bare).
 *   BACKEND_BOEHM     GC_MALLOC / GC_MALLOC_ATOMIC (conservative, so no
 *                     roots and no barrier).
 *   BACKEND_GLIBC     malloc / free from the C library.
 *   BACKEND_MIMALLOC  mi_malloc / mi_free.
 *   BACKEND_JEMALLOC  malloc / free served by jemalloc (linked in; checked
 *                     at start-up, see bench_init).
 *
 * The interface, in the order a benchmark uses it:
 *
 *   BENCH_TYPE2(var, T, f1, f2)  defines the type descriptor `var` for a
 *                                struct T whose only references are f1, f2.
 *   bench_start(fn, argc, argv)  runs fn(argc, argv), the benchmark's body,
 *                                on a started runtime and returns its exit
 *                                status: main() is just this call.
 *                                tricolor: fn is the main coroutine of
 *                                tc_run; others: bench_init(), then fn.
 *   bench_now_ns()               CLOCK_MONOTONIC in nanoseconds.
 *   BENCH_NEW(var, T)            a zeroed T (every backend zeroes: the GC
 *                                allocators do so anyway; malloc backends
 *                                store the zeros, as the Game's C programs
 *                                initialise their fields).
 *   BENCH_NEW_NOSCAN(size)       memory holding no references; contents
 *                                unspecified.
 *   BENCH_STORE(obj, f, v)       obj->f = v, through the write barrier.
 *   BENCH_LOCALS(a, b, ...)      registers C locals as roots until the end
 *                                of the scope (tricolor only; initialise
 *                                them first).
 *   BENCH_SAFEPOINT()            tricolor: tc_safepoint(), which a long
 *                                loop that does not allocate must call so
 *                                the collector can stop the world (and a
 *                                running coroutine scan its own stack);
 *                                Go preempts such loops asynchronously,
 *                                tricolor cannot.  Nothing elsewhere.
 *   BENCH_NEEDS_FREE, BENCH_FREE(p)
 *                                1 and free() for malloc backends, where the
 *                                benchmark frees each tree explicitly when
 *                                done (as the malloc versions of GCBench and
 *                                binary-trees do); 0 and nothing for GCs.
 *   bench_parallel(n, fn, args, size)
 *                                calls fn(args + i * size) for i < n and
 *                                returns when all are done: tricolor runs
 *                                them as n coroutines (tc_go, tc_waitgroup)
 *                                that the scheduler spreads over its procs;
 *                                every other backend (and BENCH_TC_BARE)
 *                                calls them one after the other on this
 *                                thread (BENCH_CONCURRENT says which).
 *   bench_set_mutators(k)        records k for the RESULT line (peers
 *                                record 1: they run the work on one thread).
 *   bench_pauses_reset()         tricolor: pauses and cycles before this
 *                                call stay out of the RESULT line (set-up).
 *   bench_phase_end()            tricolor: what follows (checking the
 *                                results) stays out of the RESULT line and
 *                                the pause log; bench_finish calls it if
 *                                the benchmark did not.
 *   bench_set_ops(n, unit)       the work done, for throughput: n units
 *                                ("trees", "requests") in wall_ms.
 *   bench_note(key, value)       appends " key=value" to the RESULT line
 *                                (a workload's own figure, %g).
 *   bench_weak_cycles(&n, &missed, &base, &end)
 *                                tricolor: the weak-reference and
 *                                ephemeron figures (tc_stats.last_weak*)
 *                                of each cycle of the measured window, as
 *                                the pause poller saw them end, and the
 *                                window's first and last stats; between
 *                                bench_phase_end and bench_finish.
 *   bench_finish(name, wall_ns)  prints the RESULT line (bare tricolor:
 *                                bench_start shuts down after fn returns).
 *   bench_init(), bench_gc_off() the runtime on the calling thread, without
 *                                the scheduler, and collection off: for
 *                                bench_alloc_fastpath, which counts
 *                                instructions and needs no coroutine.
 *
 * The RESULT line.  Exactly one line on stdout, last, for bench/run.py:
 *
 *   RESULT bench=B backend=K wall_ms=W rss_kib=R cycles=C max_pause_us=M
 *          p99_pause_us=P mode=D procs=N mutators=U pauses=Q
 *          p50_pause_us=H start_max_us=S term_max_us=T gc_cpu_pct=G
 *          ops=N ops_unit=U [notes: key=value ...]
 *          [tricolor: barrier_slow=.. barrier_shaded=.. assist_ms=..
 *           bg_mark_ms=.. lost_pauses=.. pause_total_ms=..
 *           float_cycles=.. float_bytes=.. alloc_bytes=..
 *           restart_lag_max_us=.. restarts=.. restart_lag_p99_us=..]
 *                                                     (one line)
 *
 *   wall_ms       the whole workload, timed by the benchmark itself.
 *   rss_kib       peak resident set in KiB: VmHWM of /proc/self/status,
 *                 else getrusage ru_maxrss (see bench_peak_rss_kib).
 *   cycles        collections: tc_stats.cycles, GC_get_gc_no() less the
 *                 one GC_INIT may run; "-" for malloc backends.
 *   pauses, max_pause_us, p99_pause_us, p50_pause_us
 *                 number of pauses, the longest, and the 99th and 50th
 *                 percentiles (nearest rank) of every pause.  tricolor:
 *                 every stop-the-world pause (two per concurrent cycle,
 *                 one per stw or bare cycle), exact: a poller thread copies
 *                 new entries of tc_stats.pause_ns every 5 ms, so the
 *                 256-entry ring never wraps between two reads (lost_pauses
 *                 counts any that did; the maximum stays exact).  Boehm:
 *                 from GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD,
 *                 or GC_EVENT_START to GC_EVENT_END if the library never
 *                 reports stopping the world.  "-" for malloc backends.
 *   mode          tricolor: the barrier mode (hybrid, insertion, deletion,
 *                 stw) or bare; "-" for the peers.
 *   procs         tricolor: processors (P); "-" for the peers.
 *   mutators      coroutines running the workload at once (bench_parallel).
 *   start_max_us, term_max_us
 *                 tricolor: the longest mark-start and mark-termination
 *                 pause (a stw cycle's single pause counts as termination).
 *   gc_cpu_pct    tricolor: the collector's CPU time (tc_stats.gc_cpu_ns:
 *                 pauses x procs, assists, background marking) over the
 *                 measured window x procs, in percent.  The window and
 *                 every counter below run from the start (or
 *                 bench_pauses_reset) to bench_phase_end.  Pauses,
 *                 cycles and gc_cpu_ns count whole cycles as they end.
 *   ops, ops_unit the work done (bench_set_ops); ops=0 ops_unit=- if unset.
 *   barrier_slow, barrier_shaded, assist_ms, bg_mark_ms
 *                 tricolor: tc_stats' counters over the window.
 *   float_cycles, float_bytes
 *                 tricolor, over the window: cycles measured for floating
 *                 garbage and the bytes they kept that a fresh
 *                 stop-the-world mark found unreachable; measured only
 *                 with TRICOLOR_DEBUG=gccheckmark=1 (that mark runs inside
 *                 the termination pause, so tricolor-lab measures it in a
 *                 run of its own, not in the timed runs).
 *   alloc_bytes   tricolor: bytes allocated over the window.
 *   restart_lag_max_us
 *                 tricolor: tc_stats.restart_lag_max_ns, since tc_run began
 *                 (a maximum: no window):
 *                 the longest the OS took, after a pause, to run again
 *                 every thread the restart woke (not part of the pause).
 *   restarts, restart_lag_p99_us
 *                 tricolor, over the window: the restarts that woke a
 *                 stopped thread, and the 99th percentile (nearest rank)
 *                 of their lags, copied out of tc_stats.restart_lag_ns by
 *                 the same poller as the pauses; "-" with none, or if a
 *                 lag left the ring before a poll.
 *
 * For tricolor-lab (tricolor backend, environment):
 *   BENCH_PAUSE_LOG=FILE  writes the measured window, from the body's start
 *                         or bench_pauses_reset to bench_phase_end, and
 *                         every pause in it:
 *                           window START_NS END_NS
 *                           pause END_NS DURATION_NS KIND
 *                         (CLOCK_MONOTONIC ns; KIND 0 = mark start,
 *                         1 = mark termination), for MMU curves.
 *   BENCH_TRACE=FILE      an event trace of the run (tc_trace_start) from
 *                         the start of the body to bench_finish.
 *
 * Alternatives rejected.  Function pointers per backend would put an
 * indirect call on every allocation and hide tricolor's inline fast path;
 * one source file per backend would let the workloads drift apart.  Timing
 * pauses with gctrace=1 lines (two significant digits) instead of the
 * poller would lose precision exactly where the targets are (tens of us).
 */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if (defined(BACKEND_TRICOLOR) + defined(BACKEND_BOEHM) +                 \
     defined(BACKEND_GLIBC) + defined(BACKEND_MIMALLOC) +                 \
     defined(BACKEND_JEMALLOC)) != 1
#error "define exactly one BACKEND_TRICOLOR/BOEHM/GLIBC/MIMALLOC/JEMALLOC"
#endif

/* ---------------------------------------------------------------------- */
/* Helpers shared by every backend                                         */

/* The body of a benchmark: parses argv, runs, calls bench_finish. */
typedef int (*bench_main_fn)(int argc, char **argv);

/* Returns CLOCK_MONOTONIC in nanoseconds. Any thread. */
static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Returns the peak resident set size of the process in KiB.
 *
 * Prefers VmHWM from /proc/self/status: getrusage's ru_maxrss survives
 * exec on Linux (exec folds the replaced address space's high-water mark
 * into it), so a benchmark started by a large process, such as run.py's
 * Python, would report at least its parent's size.  Falls back to ru_maxrss
 * where /proc is missing. */
static inline long bench_peak_rss_kib(void) {
  long kib = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (f != NULL) {
    char line[256];
    while (fgets(line, sizeof line, f) != NULL)
      if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
        break;
    fclose(f);
  }
  if (kib < 0) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
      kib = ru.ru_maxrss; /* KiB on Linux */
  }
  return kib;
}

/* Aborts when an allocator returned NULL; one predictable branch per
 * allocation, the same in every backend. */
static inline void *bench_check(void *p, const char *what) {
  if (__builtin_expect(p == NULL, 0)) {
    fprintf(stderr, "bench: out of memory in %s\n", what);
    abort();
  }
  return p;
}

static inline int bench_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Returns the q-quantile (nearest rank) of n values, sorting them. */
static inline uint64_t bench_quantile(uint64_t *v, size_t n, double q) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof v[0], bench_cmp_u64);
  double exact = q * (double)n;
  size_t rank = (size_t)exact;
  if ((double)rank < exact)
    rank++; /* rank = ceil(q * n) */
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return v[rank - 1];
}

/* Parses a mutator count (1..64) from text; returns 0 if it is not one. */
static inline int bench_parse_mutators(const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < 1 || v > 64)
    return 0;
  return (int)v;
}

static int bench_mutators = 1; /* for the RESULT line */
static uint64_t bench_ops;      /* bench_set_ops */
static const char *bench_ops_unit;
static char bench_notes[512];   /* bench_note: " key=value" ... */

static inline void bench_set_ops(uint64_t ops, const char *unit) {
  bench_ops = ops;
  bench_ops_unit = unit;
}

static inline void bench_note(const char *key, double value) {
  size_t len = strlen(bench_notes);
  snprintf(bench_notes + len, sizeof bench_notes - len, " %s=%g", key, value);
}

/* A "--flag N" option of a benchmark: N goes, as a long, to `off` bytes
 * into the benchmark's settings struct, and must lie in [lo, hi]. */
typedef struct bench_opt {
  const char *flag;
  size_t off;
  long lo, hi;
} bench_opt;

/* Parses argv[1..] as "--flag N" pairs of opts[0..n) into the struct at
 * base; false on an unknown flag, a missing, malformed or out-of-range
 * value. */
static inline bool bench_parse_opts(int argc, char **argv,
                                    const bench_opt *opts, size_t n,
                                    void *base) {
  for (int i = 1; i < argc; i++) {
    size_t k = 0;
    while (k < n && strcmp(argv[i], opts[k].flag) != 0)
      k++;
    if (k == n || i + 1 >= argc)
      return false;
    char *end;
    errno = 0;
    long v = strtol(argv[++i], &end, 10);
    if (*argv[i] == '\0' || *end != '\0' || errno != 0 || v < opts[k].lo ||
        v > opts[k].hi)
      return false;
    *(long *)(void *)((char *)base + opts[k].off) = v;
  }
  return true;
}

/* What the collector columns of the RESULT line say. */
typedef struct bench_gcinfo {
  long long cycles;        /* < 0: no collector, every GC field is "-" */
  const char *mode;        /* NULL: "-" */
  int procs;               /* <= 0: "-" */
  int mutators;
  uint64_t pauses;
  uint64_t max_ns, p50_ns, p99_ns;
  int64_t start_max_ns;    /* < 0: "-" */
  int64_t term_max_ns;     /* < 0: "-" */
  double gc_cpu_pct;       /* < 0: "-" */
  const char *extra;       /* appended as is (starts with a space), or NULL */
} bench_gcinfo;

/* Formats ns as microseconds with one decimal, or "-" when ns < 0. */
static inline const char *bench_fmt_us(char *buf, size_t n, int64_t ns) {
  if (ns < 0)
    snprintf(buf, n, "-");
  else
    snprintf(buf, n, "%.1f", (double)ns / 1e3);
  return buf;
}

/* Prints the RESULT line (see the file comment). */
static inline void bench_print_result(const char *bench, const char *backend,
                                      uint64_t wall_ns,
                                      const bench_gcinfo *g) {
  char mx[32], p99[32], p50[32], smax[32], tmax[32], cpu[32], procs[16];
  bool gc = g->cycles >= 0;
  bench_fmt_us(mx, sizeof mx, gc ? (int64_t)g->max_ns : -1);
  bench_fmt_us(p99, sizeof p99, gc ? (int64_t)g->p99_ns : -1);
  bench_fmt_us(p50, sizeof p50, gc ? (int64_t)g->p50_ns : -1);
  bench_fmt_us(smax, sizeof smax, gc ? g->start_max_ns : -1);
  bench_fmt_us(tmax, sizeof tmax, gc ? g->term_max_ns : -1);
  if (g->gc_cpu_pct < 0)
    snprintf(cpu, sizeof cpu, "-");
  else
    snprintf(cpu, sizeof cpu, "%.2f", g->gc_cpu_pct);
  if (g->procs <= 0)
    snprintf(procs, sizeof procs, "-");
  else
    snprintf(procs, sizeof procs, "%d", g->procs);
  char cycles[32], pauses[32];
  if (gc) {
    snprintf(cycles, sizeof cycles, "%lld", g->cycles);
    snprintf(pauses, sizeof pauses, "%llu", (unsigned long long)g->pauses);
  } else {
    snprintf(cycles, sizeof cycles, "-");
    snprintf(pauses, sizeof pauses, "-");
  }
  fflush(stdout);
  printf("RESULT bench=%s backend=%s wall_ms=%.3f rss_kib=%ld cycles=%s "
         "max_pause_us=%s p99_pause_us=%s mode=%s procs=%s mutators=%d "
         "pauses=%s p50_pause_us=%s start_max_us=%s term_max_us=%s "
         "gc_cpu_pct=%s ops=%llu ops_unit=%s%s%s\n",
         bench, backend, (double)wall_ns / 1e6, bench_peak_rss_kib(), cycles,
         mx, p99, g->mode ? g->mode : "-", procs, g->mutators, pauses, p50,
         smax, tmax, cpu, (unsigned long long)bench_ops,
         bench_ops_unit ? bench_ops_unit : "-", bench_notes,
         g->extra ? g->extra : "");
  fflush(stdout);
}



/* ---------------------------------------------------------------------- */
#if defined(BACKEND_TRICOLOR)

#include <pthread.h>
#include <tricolor.h>

#define BENCH_BACKEND_NAME "tricolor"
#define BENCH_NEEDS_FREE 0
#define BENCH_CONCURRENT 1
#define BENCH_DEFAULT_PROCS 2

/* Not const: tricolor caches the type id in the descriptor. */
#define BENCH_TYPE2(var, T, f1, f2)                                        \
  static const uint32_t var##_offsets[2] = {(uint32_t)offsetof(T, f1),     \
                                            (uint32_t)offsetof(T, f2)};    \
  static tc_type var = {.name = #T, .offsets = var##_offsets, .noffsets = 2}

#define BENCH_NEW(var, T) \
  ((T *)bench_check(tc_alloc(&(var), sizeof(T)), "tc_alloc"))
#define BENCH_NEW_NOSCAN(size) \
  bench_check(tc_alloc_noscan(size), "tc_alloc_noscan")
#define BENCH_STORE(obj, field, value) TC_STORE(obj, field, value)
#define BENCH_LOCALS(...) TC_LOCALS(__VA_ARGS__)
#define BENCH_SAFEPOINT() tc_safepoint()
#define BENCH_FREE(p) ((void)(p))

static bool bench_tc_sched; /* running under tc_run */

/* ---- the pause log: every pause, copied out of the stats ring ---- */

#define BENCH_POLL_NS 5000000L /* 5 ms: far below 256 pauses' worth */

/* The weak-reference figures of one cycle (tc_stats.last_weak*). */
typedef struct bench_weakcycle {
  uint64_t weak_ns;         /* the clearing pass inside the termination
                               pause; 0 unless gctrace or a trace ran */
  uint64_t weak, weak_cleared;
  uint64_t ephemerons, ephemerons_cleared, ephemerons_resolved;
} bench_weakcycle;

typedef struct bench_pauselog {
  pthread_t thread;
  bool running;
  int stop;               /* atomic: the poller exits */
  uint64_t seen;          /* tc_stats.pauses already copied */
  uint64_t lost;          /* pauses that left the ring before a poll */
  uint64_t *ns;           /* copied pauses, since the last reset */
  uint64_t *end;          /* their tc_stats.pause_end_ns */
  uint8_t *kind;          /* their tc_stats.pause_kind */
  size_t n, cap;
  tc_stats base;          /* the stats at the start or the last reset */
  uint64_t t_reset;       /* bench_now_ns() then */
  uint64_t t_end;         /* bench_now_ns() at bench_phase_end, else 0 */
  uint64_t lock;          /* spin flag: a poll and a reset exclude each other */
  tc_stats snap;          /* the last poll's snapshot */
  uint64_t cycles_seen;   /* tc_stats.cycles at the last poll */
  uint64_t weak_missed;   /* cycles whose last_weak* figures the next cycle
                             overwrote before a poll */
  bench_weakcycle *wc;    /* one per cycle a poll saw end, since the reset */
  size_t nwc, capwc;
  uint64_t lag_seen;      /* tc_stats.restarts already copied */
  uint64_t lag_lost;      /* restart lags that left the ring before a poll */
  uint64_t *lag;          /* copied restart lags, since the last reset */
  size_t nlag, caplag;
} bench_pauselog;

static bench_pauselog bench_plog;

/* The first of the entries seen..to (0-based counts) of a TC_PAUSE_RING
 * ring still in it; those already overwritten are added to *lost. */
static inline uint64_t bench_ring_from(uint64_t seen, uint64_t to,
                                       uint64_t *lost) {
  if (to - seen <= TC_PAUSE_RING)
    return seen;
  *lost += to - seen - TC_PAUSE_RING;
  return to - TC_PAUSE_RING;
}

/* Copies the pauses recorded since the last poll. */
static inline void bench_plog_poll(void) {
  bench_pauselog *l = &bench_plog;
  while (__atomic_exchange_n(&l->lock, 1, __ATOMIC_ACQUIRE))
    ;
  tc_read_stats(&l->snap);
  uint64_t to = l->snap.pauses;
  for (uint64_t k = bench_ring_from(l->seen, to, &l->lost); k < to; k++) {
    if (l->n == l->cap) {
      l->cap = l->cap ? 2 * l->cap : 1024;
      l->ns = bench_check(realloc(l->ns, l->cap * sizeof l->ns[0]), "realloc");
      l->end =
          bench_check(realloc(l->end, l->cap * sizeof l->end[0]), "realloc");
      l->kind = bench_check(realloc(l->kind, l->cap), "realloc");
    }
    l->ns[l->n] = l->snap.pause_ns[k % TC_PAUSE_RING];
    l->end[l->n] = l->snap.pause_end_ns[k % TC_PAUSE_RING];
    l->kind[l->n] = l->snap.pause_kind[k % TC_PAUSE_RING];
    l->n++;
  }
  l->seen = to;
  to = l->snap.restarts;
  for (uint64_t k = bench_ring_from(l->lag_seen, to, &l->lag_lost); k < to;
       k++) {
    if (l->nlag == l->caplag) {
      l->caplag = l->caplag ? 2 * l->caplag : 1024;
      l->lag = bench_check(realloc(l->lag, l->caplag * sizeof l->lag[0]),
                           "realloc");
    }
    l->lag[l->nlag++] = l->snap.restart_lag_ns[k % TC_PAUSE_RING];
  }
  l->lag_seen = to;
  if (l->snap.cycles != l->cycles_seen) { /* the last cycle's figures */
    l->weak_missed += l->snap.cycles - l->cycles_seen - 1;
    l->cycles_seen = l->snap.cycles;
    if (l->nwc == l->capwc) {
      l->capwc = l->capwc ? 2 * l->capwc : 64;
      l->wc = bench_check(realloc(l->wc, l->capwc * sizeof l->wc[0]),
                          "realloc");
    }
    const tc_stats *s = &l->snap;
    l->wc[l->nwc++] = (bench_weakcycle){
        s->last_weak_ns, s->last_weak, s->last_weak_cleared,
        s->last_ephemerons, s->last_ephemerons_cleared,
        s->last_ephemerons_resolved};
  }
  __atomic_store_n(&l->lock, 0, __ATOMIC_RELEASE);
}

/* Forgets the pauses and cycles so far: bench_finish reports only those
 * after this call (a benchmark's set-up stays out of its figures). */
static inline void bench_pauses_reset(void) {
  bench_pauselog *l = &bench_plog;
  bench_plog_poll();
  while (__atomic_exchange_n(&l->lock, 1, __ATOMIC_ACQUIRE))
    ;
  l->n = 0;
  l->lost = 0;
  l->nlag = 0;
  l->lag_lost = 0;
  l->nwc = 0;
  l->weak_missed = 0;
  l->base = l->snap;
  l->t_reset = bench_now_ns();
  __atomic_store_n(&l->lock, 0, __ATOMIC_RELEASE);
}

static inline void *bench_plog_main(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&bench_plog.stop, __ATOMIC_ACQUIRE)) {
    struct timespec ts = {0, BENCH_POLL_NS};
    nanosleep(&ts, NULL);
    bench_plog_poll();
  }
  return NULL;
}

/* Starts the poller; the runtime is up.  Pauses so far are kept too. */
static inline void bench_plog_start(void) {
  tc_read_stats(&bench_plog.base);
  bench_plog.cycles_seen = bench_plog.base.cycles;
  bench_plog.lag_seen = bench_plog.base.restarts;
  bench_plog.t_reset = bench_now_ns();
  bench_plog.running =
      pthread_create(&bench_plog.thread, NULL, bench_plog_main, NULL) == 0;
  if (!bench_plog.running)
    fprintf(stderr, "bench: no pause poller thread: pauses beyond the last "
                    "%d are estimated\n", TC_PAUSE_RING);
}

/* Stops the poller and copies the last pauses. */
static inline void bench_plog_stop(void) {
  if (bench_plog.running) {
    __atomic_store_n(&bench_plog.stop, 1, __ATOMIC_RELEASE);
    pthread_join(bench_plog.thread, NULL);
    bench_plog.running = false;
  }
  bench_plog_poll();
}

/* ---- starting the runtime ---- */

/* Returns the procs tc_run will use: TRICOLOR_PROCS as tc_init reads it,
 * else BENCH_DEFAULT_PROCS. */
static inline int bench_tc_procs(void) {
  const char *env = getenv("TRICOLOR_PROCS");
  if (env && *env) {
    char *end;
    long v = strtol(env, &end, 10);
    if (*end == '\0' && v >= 1)
      return v > 256 ? 256 : (int)v;
  }
  return BENCH_DEFAULT_PROCS;
}

static inline void bench_init(void) {
  int rc = tc_init(NULL);
  if (rc != TC_OK) {
    fprintf(stderr, "bench: tc_init: %s\n", tc_strerror(rc));
    exit(1);
  }
}

/* Turns off collection on heap growth (the fast-path counter). */
static inline void bench_gc_off(void) { tc_set_gc_percent(TC_GC_OFF); }

typedef struct bench_tc_call {
  bench_main_fn fn;
  int argc;
  char **argv;
  int rc;
} bench_tc_call;

static bool bench_tracing; /* BENCH_TRACE: a trace runs until bench_finish */

/* Starts the event trace BENCH_TRACE names, if any. */
static inline void bench_trace_start(void) {
  const char *path = getenv("BENCH_TRACE");
  if (path == NULL || *path == '\0')
    return;
  int rc = tc_trace_start(path);
  if (rc != TC_OK) {
    fprintf(stderr, "bench: tc_trace_start(%s): %s\n", path, tc_strerror(rc));
    exit(1);
  }
  bench_tracing = true;
}

static inline void bench_trace_stop(void) {
  if (!bench_tracing)
    return;
  bench_tracing = false;
  int rc = tc_trace_stop();
  if (rc != TC_OK)
    fprintf(stderr, "bench: tc_trace_stop: %s\n", tc_strerror(rc));
}

/* Writes BENCH_PAUSE_LOG, if set: the measured window, from the start
 * (or the last reset) to the phase end, and the pauses copied in it. */
static inline void bench_write_pause_log(void) {
  const char *path = getenv("BENCH_PAUSE_LOG");
  if (path == NULL || *path == '\0')
    return;
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    perror(path);
    exit(1);
  }
  bench_pauselog *l = &bench_plog;
  fprintf(f, "window %llu %llu\n", (unsigned long long)l->t_reset,
          (unsigned long long)l->t_end);
  for (size_t i = 0; i < l->n; i++)
    fprintf(f, "pause %llu %llu %u\n", (unsigned long long)l->end[i],
            (unsigned long long)l->ns[i], (unsigned)l->kind[i]);
  if (fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static inline void bench_tc_main(void *arg) {
  bench_tc_call *c = arg; /* not a heap object: on tc_run's caller's stack */
  bench_trace_start();
  bench_plog_start();
  c->rc = c->fn(c->argc, c->argv);
  if (bench_plog.running)
    bench_plog_stop(); /* the body returned without bench_finish */
  bench_trace_stop();
}

static inline int bench_start(bench_main_fn fn, int argc, char **argv) {
  bench_tc_call call = {fn, argc, argv, 0};
  const char *bare = getenv("BENCH_TC_BARE");
  if (bare && *bare && strcmp(bare, "0") != 0) {
    bench_init();
    bench_tc_main(&call);
    tc_shutdown();
    return call.rc;
  }
  tc_config cfg = {0};
  cfg.procs = bench_tc_procs();
  /* cfg.barrier stays 0: TRICOLOR_DEBUG=barrier=MODE, else hybrid */
  bench_tc_sched = true;
  int rc = tc_run(&cfg, bench_tc_main, &call);
  if (rc != TC_OK) {
    fprintf(stderr, "bench: tc_run: %s\n", tc_strerror(rc));
    return 1;
  }
  return call.rc;
}

/* ---- parallel mutators ---- */

#define BENCH_MAX_TASKS 64

typedef struct bench_task {
  void (*fn)(void *);
  void *arg;
  tc_waitgroup *wg;
} bench_task;

static inline void bench_task_main(void *arg) {
  bench_task *t = arg;
  t->fn(t->arg);
  tc_waitgroup_done(t->wg);
}

static inline void bench_parallel(int n, void (*fn)(void *), void *args,
                                  size_t size) {
  if (n < 1 || n > BENCH_MAX_TASKS) {
    fprintf(stderr, "bench: bench_parallel(%d): 1..%d tasks\n", n,
            BENCH_MAX_TASKS);
    abort();
  }
  if (!bench_tc_sched || n == 1) {
    for (int i = 0; i < n; i++)
      fn((char *)args + (size_t)i * size);
    return;
  }
  tc_waitgroup wg = {0};
  bench_task tasks[BENCH_MAX_TASKS];
  tc_waitgroup_add(&wg, n);
  for (int i = 0; i < n; i++) {
    tasks[i] = (bench_task){fn, (char *)args + (size_t)i * size, &wg};
    if (tc_go(bench_task_main, &tasks[i]) != TC_OK) {
      fprintf(stderr, "bench: tc_go failed\n");
      abort();
    }
  }
  tc_waitgroup_wait(&wg);
}

static inline void bench_set_mutators(int k) {
  bench_mutators = bench_tc_sched ? k : 1;
}

/* Ends the measured phase: what happens after it (a benchmark checking
 * its results) stays out of the RESULT line and the pause log.  Called
 * by bench_finish if the benchmark did not. */
static inline void bench_phase_end(void) {
  bench_pauselog *l = &bench_plog;
  if (l->t_end != 0)
    return;
  l->t_end = bench_now_ns();
  bench_plog_stop(); /* the last poll: snap is the end of the phase */
}

/* Returns the weak-reference figures of the cycles that ended in the
 * measured window, *n of them: one per cycle a poll saw end, so a cycle
 * that ended less than a poll (5 ms) before the next one is counted in
 * *missed instead.  *base and *end (if not NULL) get the stats at the
 * start (or reset) and the end of the window.  After bench_phase_end;
 * valid until bench_finish. */
static inline const bench_weakcycle *
bench_weak_cycles(size_t *n, uint64_t *missed, const tc_stats **base,
                  const tc_stats **end) {
  bench_pauselog *l = &bench_plog;
  *n = l->nwc;
  *missed = l->weak_missed;
  if (base)
    *base = &l->base;
  if (end)
    *end = &l->snap;
  return l->wc;
}

static inline void bench_finish(const char *bench, uint64_t wall_ns) {
  bench_phase_end();
  bench_trace_stop();
  bench_write_pause_log();
  bench_pauselog *l = &bench_plog;
  const tc_stats *s = &l->snap, *b = &l->base;
  bench_gcinfo g = {0};
  g.cycles = (long long)(s->cycles - b->cycles);
  g.mode = bench_tc_sched ? tc_barrier_name((tc_barrier_mode)
                                                (s->cycles ? s->last_mode
                                                           : tc_get_barrier()))
                          : "bare";
  g.procs = bench_tc_sched ? bench_tc_procs() : 1;
  g.mutators = bench_mutators;
  g.pauses = l->n + l->lost;
  g.start_max_ns = g.term_max_ns = -1; /* "-": no pause of that kind */
  for (size_t i = 0; i < l->n; i++) {
    int64_t *mx = l->kind[i] == 0 ? &g.start_max_ns : &g.term_max_ns;
    if ((int64_t)l->ns[i] > *mx)
      *mx = (int64_t)l->ns[i];
    if (l->ns[i] > g.max_ns)
      g.max_ns = l->ns[i];
  }
  if (l->lost == 0) {
    g.p50_ns = bench_quantile(l->ns, l->n, 0.50);
    g.p99_ns = bench_quantile(l->ns, l->n, 0.99);
  } else { /* the library's figures, over every pause since tc_init */
    g.p50_ns = tc_stats_pause_quantile(s, 0.50);
    g.p99_ns = tc_stats_pause_quantile(s, 0.99);
    g.max_ns = s->pause_max_ns;
    g.start_max_ns = (int64_t)s->pause_start_max_ns;
    g.term_max_ns = (int64_t)s->pause_term_max_ns;
  }
  uint64_t window = l->t_end > l->t_reset ? l->t_end - l->t_reset : 1;
  g.gc_cpu_pct = 100.0 * (double)(s->gc_cpu_ns - b->gc_cpu_ns) /
                 ((double)window * (double)g.procs);
  uint64_t total_ns = 0;
  for (size_t i = 0; i < l->n; i++)
    total_ns += l->ns[i];
  char lag_p99[32] = "-";
  if (l->nlag && l->lag_lost == 0)
    snprintf(lag_p99, sizeof lag_p99, "%.1f",
             (double)bench_quantile(l->lag, l->nlag, 0.99) / 1e3);
  char extra[640];
  snprintf(extra, sizeof extra,
           " barrier_slow=%llu barrier_shaded=%llu assist_ms=%.1f "
           "bg_mark_ms=%.1f lost_pauses=%llu pause_total_ms=%.3f "
           "float_cycles=%llu float_bytes=%llu alloc_bytes=%llu "
           "restart_lag_max_us=%.1f restarts=%zu restart_lag_p99_us=%s",
           (unsigned long long)(s->barrier_slow - b->barrier_slow),
           (unsigned long long)(s->barrier_shaded - b->barrier_shaded),
           (double)(s->assist_ns - b->assist_ns) / 1e6,
           (double)(s->bg_mark_ns - b->bg_mark_ns) / 1e6,
           (unsigned long long)l->lost, (double)total_ns / 1e6,
           (unsigned long long)(s->float_cycles - b->float_cycles),
           (unsigned long long)(s->float_bytes - b->float_bytes),
           (unsigned long long)(s->total_alloc - b->total_alloc),
           (double)s->restart_lag_max_ns / 1e3, l->nlag, lag_p99);
  g.extra = extra;
  bench_print_result(bench, BENCH_BACKEND_NAME, wall_ns, &g);
  free(l->ns);
  free(l->end);
  free(l->kind);
  free(l->wc);
  free(l->lag);
  l->lag = NULL;
  l->nlag = l->caplag = 0;
  l->ns = l->end = NULL;
  l->kind = NULL;
  l->wc = NULL;
  l->n = l->cap = l->nwc = l->capwc = 0;
}

/* ---------------------------------------------------------------------- */
#elif defined(BACKEND_BOEHM)

#include <gc.h>

#define BENCH_BACKEND_NAME "boehm"
#define BENCH_NEEDS_FREE 0
#define BENCH_CONCURRENT 0

/* Boehm scans conservatively: the descriptor is only a name. */
#define BENCH_TYPE2(var, T, f1, f2) \
  static const char var[] = #T " (" #f1 ", " #f2 ")"

#define BENCH_NEW(var, T) \
  ((void)(var), (T *)bench_check(GC_MALLOC(sizeof(T)), "GC_MALLOC"))
#define BENCH_NEW_NOSCAN(size) \
  bench_check(GC_MALLOC_ATOMIC(size), "GC_MALLOC_ATOMIC")
#define BENCH_STORE(obj, field, value) ((obj)->field = (value))
#define BENCH_LOCALS(...) ((void)0)
#define BENCH_SAFEPOINT() ((void)0)
#define BENCH_FREE(p) ((void)(p))

/* Pause log, filled by the collection-event callback (which must not
 * allocate).  2^16 pauses cover every workload here many times over; past
 * that the maximum stays exact and the percentile uses the first 2^16. */
#define BENCH_BOEHM_MAX_PAUSES (1u << 16)
typedef struct bench_pause_log {
  uint64_t begin_ns;                          /* open interval start, 0 = none */
  uint64_t max_ns;                            /* longest interval seen */
  size_t n;                                   /* intervals seen */
  uint64_t ns[BENCH_BOEHM_MAX_PAUSES];        /* first min(n, MAX) of them */
} bench_pause_log;

static bench_pause_log bench_boehm_stw;   /* PRE_STOP_WORLD..POST_START_WORLD */
static bench_pause_log bench_boehm_whole; /* START..END */

static inline void bench_pause_begin(bench_pause_log *l) {
  l->begin_ns = bench_now_ns();
}

static inline void bench_pause_end(bench_pause_log *l) {
  if (l->begin_ns == 0)
    return;
  uint64_t d = bench_now_ns() - l->begin_ns;
  l->begin_ns = 0;
  if (l->n < BENCH_BOEHM_MAX_PAUSES)
    l->ns[l->n] = d;
  l->n++;
  if (d > l->max_ns)
    l->max_ns = d;
}

/* Called by the collector, with its lock held: timestamps only. */
static void GC_CALLBACK bench_boehm_event(GC_EventType e) {
  switch (e) {
  case GC_EVENT_START: bench_pause_begin(&bench_boehm_whole); break;
  case GC_EVENT_END: bench_pause_end(&bench_boehm_whole); break;
  case GC_EVENT_PRE_STOP_WORLD: bench_pause_begin(&bench_boehm_stw); break;
  case GC_EVENT_POST_START_WORLD: bench_pause_end(&bench_boehm_stw); break;
  default: break;
  }
}

static GC_word bench_boehm_gc_no0; /* collections done by GC_INIT itself */

static inline void bench_init(void) {
  GC_INIT();
  bench_boehm_gc_no0 = GC_get_gc_no();
  GC_set_on_collection_event(bench_boehm_event);
}

static inline void bench_gc_off(void) { GC_disable(); }

static inline void bench_finish(const char *bench, uint64_t wall_ns) {
  GC_set_on_collection_event(0);
  bench_pause_log *l = bench_boehm_stw.n > 0 ? &bench_boehm_stw
                                             : &bench_boehm_whole;
  size_t kept = l->n < BENCH_BOEHM_MAX_PAUSES ? l->n : BENCH_BOEHM_MAX_PAUSES;
  bench_gcinfo g = {0};
  g.cycles = (long long)(GC_get_gc_no() - bench_boehm_gc_no0);
  g.mutators = bench_mutators;
  g.pauses = l->n;
  g.max_ns = l->max_ns;
  g.p99_ns = bench_quantile(l->ns, kept, 0.99);
  g.p50_ns = bench_quantile(l->ns, kept, 0.50);
  g.start_max_ns = g.term_max_ns = -1;
  g.gc_cpu_pct = -1;
  bench_print_result(bench, BENCH_BACKEND_NAME, wall_ns, &g);
}

/* ---------------------------------------------------------------------- */
#else /* the malloc backends */

#if defined(BACKEND_MIMALLOC)
#include <mimalloc.h>
#define BENCH_BACKEND_NAME "mimalloc"
#define bench_malloc mi_malloc
#define bench_free mi_free
#elif defined(BACKEND_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define BENCH_BACKEND_NAME "jemalloc"
#define bench_malloc malloc
#define bench_free free
#else
#define BENCH_BACKEND_NAME "glibc"
#define bench_malloc malloc
#define bench_free free
#endif

#define BENCH_NEEDS_FREE 1
#define BENCH_CONCURRENT 0
#define BENCH_TYPE2(var, T, f1, f2) \
  static const char var[] = #T " (" #f1 ", " #f2 ")"

/* Returns n zeroed bytes from the backend's malloc. */
static inline void *bench_malloc_zero(size_t n) {
  void *p = bench_check(bench_malloc(n), "malloc");
  /* Hide p from the optimiser: GCC turns malloc + memset(0) into calloc,
   * which is another allocator path (glibc's skips its tcache). */
  __asm__("" : "+r"(p));
  memset(p, 0, n); /* n is a constant: a few inline stores */
  return p;
}

#define BENCH_NEW(var, T) ((void)(var), (T *)bench_malloc_zero(sizeof(T)))
#define BENCH_NEW_NOSCAN(size) bench_check(bench_malloc(size), "malloc")
#define BENCH_STORE(obj, field, value) ((obj)->field = (value))
#define BENCH_LOCALS(...) ((void)0)
#define BENCH_SAFEPOINT() ((void)0)
#define BENCH_FREE(p) bench_free(p)

static inline void bench_init(void) {
#if defined(BACKEND_JEMALLOC)
  /* malloc must resolve to jemalloc's, not the C library's: jemalloc's
   * per-thread byte counter has to move when we call malloc. */
  uint64_t before = 0, after = 0;
  size_t sz = sizeof before;
  if (mallctl("thread.allocated", &before, &sz, NULL, 0) != 0) {
    fprintf(stderr, "bench: jemalloc mallctl(thread.allocated) failed\n");
    exit(1);
  }
  void *volatile p = malloc(4096);
  sz = sizeof after;
  mallctl("thread.allocated", &after, &sz, NULL, 0);
  free(p);
  if (after <= before) {
    fprintf(stderr, "bench: malloc is not served by jemalloc\n");
    exit(1);
  }
#endif
}

static inline void bench_gc_off(void) {}

static inline void bench_finish(const char *bench, uint64_t wall_ns) {
  bench_gcinfo g = {0};
  g.cycles = -1;
  g.mutators = bench_mutators;
  g.start_max_ns = g.term_max_ns = -1;
  g.gc_cpu_pct = -1;
  bench_print_result(bench, BENCH_BACKEND_NAME, wall_ns, &g);
}

#endif /* backends */

#if !defined(BACKEND_TRICOLOR)
/* The peers measure their whole run: nothing to end. */
static inline void bench_phase_end(void) {}

/* Runs the body on this thread after bench_init (no scheduler). */
static inline int bench_start(bench_main_fn fn, int argc, char **argv) {
  bench_init();
  return fn(argc, argv);
}

/* One thread: the tasks run one after the other. */
static inline void bench_parallel(int n, void (*fn)(void *), void *args,
                                  size_t size) {
  for (int i = 0; i < n; i++)
    fn((char *)args + (size_t)i * size);
}

static inline void bench_set_mutators(int k) {
  (void)k;
  bench_mutators = 1;
}
#endif

#endif /* BENCH_BACKEND_H */
