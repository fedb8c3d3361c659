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
 *                     that hold heap pointers across an allocation.
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
 *   bench_init()                 starts the runtime (outside the timing).
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
 *   BENCH_NEEDS_FREE, BENCH_FREE(p)
 *                                1 and free() for malloc backends, where the
 *                                benchmark frees each tree explicitly when
 *                                done (as the malloc versions of GCBench and
 *                                binary-trees do); 0 and nothing for GCs.
 *   bench_finish(name, wall_ns)  prints the RESULT line and shuts down.
 *
 * The RESULT line.  Exactly one line on stdout, last, for bench/run.py:
 *
 *   RESULT bench=B backend=K wall_ms=W rss_kib=R cycles=C max_pause_us=M
 *          p99_pause_us=P                                    (one line)
 *
 *   wall_ms       the whole workload, timed by the benchmark itself.
 *   rss_kib       peak resident set in KiB: VmHWM of /proc/self/status,
 *                 else getrusage ru_maxrss (see bench_peak_rss_kib).
 *   cycles        collections: tc_stats.cycles, GC_get_gc_no() less the
 *                 one GC_INIT may run; "-" for malloc backends.
 *   max_pause_us  longest pause; p99_pause_us its 99th percentile
 *                 (nearest rank).  tricolor: every stop-the-world pause
 *                 (two per cycle) from tc_read_stats().  Boehm: from
 *                 GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD,
 *                 or GC_EVENT_START to GC_EVENT_END if the library never
 *                 reports stopping the world.  "-" for malloc backends.
 *
 * Alternatives rejected.  Function pointers per backend would put an
 * indirect call on every allocation and hide tricolor's inline fast path;
 * one source file per backend would let the workloads drift apart.
 */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

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

/* Prints the RESULT line; cycles < 0 prints "-" for the GC columns. */
static inline void bench_print_result(const char *bench, const char *backend,
                                      uint64_t wall_ns, long long cycles,
                                      uint64_t max_pause_ns,
                                      uint64_t p99_pause_ns) {
  fflush(stdout);
  if (cycles < 0)
    printf("RESULT bench=%s backend=%s wall_ms=%.3f rss_kib=%ld cycles=- "
           "max_pause_us=- p99_pause_us=-\n",
           bench, backend, (double)wall_ns / 1e6, bench_peak_rss_kib());
  else
    printf("RESULT bench=%s backend=%s wall_ms=%.3f rss_kib=%ld cycles=%lld "
           "max_pause_us=%.1f p99_pause_us=%.1f\n",
           bench, backend, (double)wall_ns / 1e6, bench_peak_rss_kib(),
           cycles, (double)max_pause_ns / 1e3, (double)p99_pause_ns / 1e3);
  fflush(stdout);
}

/* ---------------------------------------------------------------------- */
#if defined(BACKEND_TRICOLOR)

#include <tricolor.h>

#define BENCH_BACKEND_NAME "tricolor"
#define BENCH_NEEDS_FREE 0

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
#define BENCH_FREE(p) ((void)(p))

static inline void bench_init(void) {
  int rc = tc_init(NULL);
  if (rc != TC_OK) {
    fprintf(stderr, "bench: tc_init: %s\n", tc_strerror(rc));
    exit(1);
  }
}

/* Turns off collection on heap growth (the fast-path counter). */
static inline void bench_gc_off(void) { tc_set_gc_percent(TC_GC_OFF); }

static inline void bench_finish(const char *bench, uint64_t wall_ns) {
  tc_stats s;
  tc_read_stats(&s);
  bench_print_result(bench, BENCH_BACKEND_NAME, wall_ns, (long long)s.cycles,
                     s.pause_max_ns, tc_stats_pause_quantile(&s, 0.99));
  tc_shutdown();
}

/* ---------------------------------------------------------------------- */
#elif defined(BACKEND_BOEHM)

#include <gc.h>

#define BENCH_BACKEND_NAME "boehm"
#define BENCH_NEEDS_FREE 0

/* Boehm scans conservatively: the descriptor is only a name. */
#define BENCH_TYPE2(var, T, f1, f2) \
  static const char var[] = #T " (" #f1 ", " #f2 ")"

#define BENCH_NEW(var, T) \
  ((void)(var), (T *)bench_check(GC_MALLOC(sizeof(T)), "GC_MALLOC"))
#define BENCH_NEW_NOSCAN(size) \
  bench_check(GC_MALLOC_ATOMIC(size), "GC_MALLOC_ATOMIC")
#define BENCH_STORE(obj, field, value) ((obj)->field = (value))
#define BENCH_LOCALS(...) ((void)0)
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
  bench_print_result(bench, BENCH_BACKEND_NAME, wall_ns,
                     (long long)(GC_get_gc_no() - bench_boehm_gc_no0), l->max_ns,
                     bench_quantile(l->ns, kept, 0.99));
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
  bench_print_result(bench, BENCH_BACKEND_NAME, wall_ns, -1, 0, 0);
}

#endif /* backends */

#endif /* BENCH_BACKEND_H */
