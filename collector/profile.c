/*
 * collector/profile.c -- the heap profile: allocations sampled by site,
 * as Go's MemProfileRate samples them (mprof.go, malloc.go's nextSample),
 * written as folded stacks or as Go's legacy text heap profile.
 *
 * Sampling.  The allocated bytes of each span class form a stream (the
 * runs a P's cache bumps through, one after the other; large objects one
 * more stream); a Poisson process with mean spacing `rate` bytes picks
 * points on it, and the object holding a point is sampled, so an object of
 * s bytes is sampled with probability 1 - exp(-s/rate) whoever allocates
 * it.  Each stream is sampled independently, which keeps the process
 * Poisson over all bytes together.  The inline path (tricolor/inline.h)
 * is not touched:
 *   1. A refill hands the cache a run [ptr, end).  tc__profile_arm
 *      subtracts the run's bytes from the class's countdown (prof_next in
 *      the cache); if the countdown ends inside the run, at the object k,
 *      it cuts the run short (run->end = ptr + k * size; k = 0: the object
 *      being allocated is the sample) and leaves the countdown at 0,
 *      "pending".
 *   2. The inline path serves the k objects before the cut and falls into
 *      the slow path at the cut, which sees a cut run (tc__run_is_cut),
 *      gives the run its end back, serves object k, samples it and arms
 *      the rest of the run with a fresh draw.
 *   3. Large objects take the slow path anyway: their countdown is
 *      decremented by each size, and one that reaches 0 is sampled (Go's).
 *   4. A draw is exponential with mean `rate` (inverse transform of a
 *      53-bit xorshift number, a per-cache state seeded in creation
 *      order, so a single-threaded program samples the same objects every
 *      run); rate 1 draws 1: every object is sampled; rate 0 arms nothing.
 * So with profiling off nothing at all runs; at the default rate (512 KiB)
 * a refill pays a compare and a subtraction, and one object in ~512 KiB a
 * stack walk.  A run given back while cut (a cache flush) loses its
 * pending point, which lay in bytes nobody allocated; the next refill
 * draws anew.
 *
 * Records.  A sample walks the stack with unw_backtrace (a cursor walk
 * under ThreadSanitizer: walk_stack) (at most TC__PROF_DEPTH frames, the
 * library's own three skipped) and counts one
 * allocation of its size in the bucket of (stack, size), as Go keys
 * buckets; the object is remembered in an address table (object ->
 * bucket) and gets a track bit in its span (heap/heap.h), so the sweep
 * that frees it calls tc__heap_on_free, which counts one free in the
 * bucket.  In use = allocated - freed: "live" means not yet freed by a
 * sweep (garbage the last mark found counts until the sweep reaches it;
 * tc_gc() before writing gives the exact live heap).
 *
 * Output (tc_heap_profile_write).  Counts are scaled as pprof scales a
 * Go heap profile (scaleHeapSample in pprof's legacy_profile.go): a
 * bucket of n samples of average size s stands for n / (1 - exp(-s/rate))
 * objects.  TC_HEAP_PROFILE_PPROF writes Go's legacy text format with raw
 * counts and "heap/<2*rate>" in the header, from which pprof scales them
 * itself, then the process's memory map (MAPPED_LIBRARIES:) so that
 * `go tool pprof <binary> <file>` can symbolise the return addresses.
 * The folded formats write "root;...;leaf <value>" per stack, frames
 * named by libunwind (the symbol table: no line numbers), merged by name
 * (flamegraph.pl, inferno, speedscope).
 *
 * Locking: one tc__spin lock (`prof.lock`) over buckets and the address
 * table, a leaf, taken inside the heap lock by the sweep's free hook
 * (HACKING.md).  The stack walk and the writers' symbolising and I/O run
 * outside it: a writer copies the buckets first.
 *
 * TRICOLOR_DEBUG=memprofile=PATH writes the profile to PATH (through
 * PATH.tmp and a rename) at tc_shutdown, so at the end of tc_run, and
 * whenever the process gets SIGUSR2: the handler writes a byte to a pipe
 * and a writer thread (no mutator) writes the file.  A PATH ending in
 * ".folded" gets folded in-use bytes, anything else the pprof format.
 *
 * Rejected: a check in the inline path (Go's `size < c.nextSample` in
 * mallocgc): it would cost every allocation a load and a branch even with
 * profiling off.  Sampling at refills without cutting runs: the sampled
 * object would be the first of a run, biased toward whoever refills.
 * One countdown per P instead of per class: a run cut for a pending point
 * would hold back every other class's stream until its point is reached.
 */
#define _GNU_SOURCE 1
#include "collector/collector.h"
#include "collector/addrtab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* unw_backtrace keeps a per-thread cache whose thread-exit destructor
 * crashes under ThreadSanitizer (its mutex interceptor after the thread's
 * state is gone); there the stack is walked with a cursor, ~15x slower. */
#if defined(__SANITIZE_THREAD__)
#define WALK_WITH_CURSOR 1
#else
#define WALK_WITH_CURSOR 0
#endif
#define TC__PROF_DEPTH 32        /* frames kept per sample */
#define PROF_SKIP 3 /* walk_stack, tc__profile_record, tc__alloc_slow */
#define DEFAULT_RATE (512 * 1024) /* bytes per sample, Go's MemProfileRate */

typedef struct bucket {
  uint64_t hash;                 /* of size and stack */
  uint32_t size;                 /* object size (its class) */
  uint32_t depth;                /* frames in pc */
  uint64_t allocs, frees;        /* samples allocated / freed */
  uint64_t alloc_bytes, free_bytes;
  uintptr_t pc[TC__PROF_DEPTH];  /* return addresses, leaf first */
} bucket;

typedef struct objent {
  uintptr_t addr;                /* 0 = empty */
  uint32_t bucket;               /* index into prof.b */
} objent;

static struct {
  uint32_t lock;                 /* tc__spin: everything below */
  bool on;                       /* between tc_init and tc_shutdown */
  bucket **b;                    /* buckets by index */
  size_t nb, capb;
  uint32_t *bix;                 /* hash index: bucket index + 1, 0 = empty */
  size_t bixcap;                 /* power of two, >= 2 * nb */
  objent *o;                     /* sampled objects, linear probing */
  size_t on_, ocap;              /* entries, capacity (power of two) */
  uint64_t lost;                 /* samples dropped: out of memory */
} prof;

/* The setting (process-wide, like Go's MemProfileRate) and its
 * generation, which tells caches to draw anew; relaxed atomics. */
static uint64_t rate = DEFAULT_RATE;
static uint32_t rate_gen = 1;
static uint64_t seeds;           /* caches seeded so far */

/* ------------------------------------------------------------ sampling */

/* Returns ln(u) for u in (0, 1]: exponent plus an atanh series (error
 * below 1e-9), so the library needs no libm. */
static double ln_unit(double u) {
  uint64_t b;
  memcpy(&b, &u, sizeof b);
  int e = (int)((b >> 52) & 0x7ff) - 1023;
  b = (b & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52);
  double m;
  memcpy(&m, &b, sizeof m); /* u = m * 2^e, m in [1, 2) */
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double t = (m - 1) / (m + 1), t2 = t * t; /* |t| <= 0.172 */
  double lnm =
      2 * t * (1 + t2 * (1. / 3 + t2 * (1. / 5 + t2 * (1. / 7 + t2 / 9))));
  return e * 0.6931471805599453 + lnm;
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Returns the bytes to the next sample point: exponential, mean r. */
static uint64_t draw(tc__mcache *c, uint64_t r) {
  if (r <= 1)
    return 1;
  double u = (double)((rng_next(&c->prof_rng) >> 11) + 1) * 0x1p-53;
  double x = -ln_unit(u) * (double)r;
  if (x < 1)
    return 1;
  if (x > 0x1p50)
    return UINT64_C(1) << 50;
  return (uint64_t)x;
}

/* Brings c's countdowns to the current rate generation; returns the
 * rate (0: off). */
static uint64_t sampler_sync(tc__mcache *c) {
  uint32_t g = tc__load_relaxed(&rate_gen);
  if (TC__UNLIKELY(c->prof_gen != g)) {
    memset(c->prof_next, 0, sizeof c->prof_next);
    if (c->prof_rng == 0) {
      /* splitmix64 of the creation order: never 0 */
      uint64_t z = tc__add_relaxed(&seeds, 1) * UINT64_C(0x9e3779b97f4a7c15);
      z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
      z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
      c->prof_rng = (z ^ (z >> 31)) | 1;
    }
    c->prof_gen = g;
  }
  return tc__load_relaxed(&rate);
}

bool tc__profile_arm(tc__mcache *c, unsigned sc, tc__run *r) {
  uint64_t rt = sampler_sync(c);
  if (rt == 0)
    return false;
  uint64_t *next = &c->prof_next[sc];
  if (*next == 0)
    *next = draw(c, rt);
  uint64_t bytes = (uint64_t)(r->end - r->ptr);
  if (*next > bytes) {
    *next -= bytes;
    return false;
  }
  uint64_t k = (*next - 1) / tc__classes[sc >> 1].size; /* holds the point */
  *next = 0; /* pending: drawn anew once the sample is taken */
  if (k == 0)
    return true; /* the caller's object */
  r->end = r->ptr + k * tc__classes[sc >> 1].size;
  return false;
}

bool tc__profile_large(tc__mcache *c, size_t size) {
  uint64_t rt = sampler_sync(c);
  if (rt == 0)
    return false;
  uint64_t *next = &c->prof_next[TC__NSPANCLASS];
  if (*next == 0)
    *next = draw(c, rt);
  if (*next > size) {
    *next -= size;
    return false;
  }
  *next = 0;
  return true;
}

size_t tc_set_mem_profile_rate(size_t bytes) {
  if (tc__debug_settings.wbcheck && tc__gc.initialized)
    return (size_t)tc__load_relaxed(&rate); /* wbcheck pins it at 1 */
  uint64_t old = __atomic_exchange_n(&rate, (uint64_t)bytes, __ATOMIC_RELAXED);
  tc__add_relaxed(&rate_gen, 1u);
  /* the caller's own cache applies it from its next allocation on: its
   * runs (some cut for the old rate) go back; other Ps' caches draw
   * anew at their next refill */
  if (tc__gc.initialized && tc__ctx_get()->owner != NULL)
    tc__cache_flush((tc__mcache *)tc__ctx_get()->cache);
  return (size_t)old;
}

size_t tc_get_mem_profile_rate(void) {
  return (size_t)tc__load_relaxed(&rate);
}

/* ------------------------------------------------------------ records */

/* Doubles the address table; prof.lock held.  False when out of memory. */
static bool obj_grow(void) {
  objent *o =
      tc__addrtab_grow(prof.o, &prof.ocap, &prof.on_, sizeof *o, 1024);
  if (o == NULL)
    return false;
  prof.o = o;
  return true;
}

static bool obj_insert(uintptr_t a, uint32_t bucket) {
  if (2 * (prof.on_ + 1) > prof.ocap && !obj_grow())
    return false;
  size_t i = tc__addrtab_slot(prof.o, sizeof *prof.o, prof.ocap, a);
  if (prof.o[i].addr == 0)
    prof.on_++;
  prof.o[i].addr = a;
  prof.o[i].bucket = bucket;
  return true;
}

/* Returns the slot of a in the address table, or SIZE_MAX. */
static size_t obj_find(uintptr_t a) {
  return tc__addrtab_find(prof.o, sizeof *prof.o, prof.ocap, a);
}

/* Removes slot i (collector/addrtab.h: no tombstones). */
static void obj_remove(size_t i) {
  tc__addrtab_remove(prof.o, sizeof *prof.o, prof.ocap, i);
  prof.on_--;
}

static uint64_t hash_stack(const uintptr_t *pc, uint32_t n, uint32_t size) {
  uint64_t h = UINT64_C(0xcbf29ce484222325) ^ size;
  for (uint32_t k = 0; k < n; k++) {
    h ^= pc[k];
    h *= UINT64_C(0x100000001b3);
    h ^= h >> 32;
  }
  return h;
}

/* Returns the index of the bucket of (pc[0..n), size), made if needed;
 * UINT32_MAX when out of memory.  prof.lock held. */
static uint32_t bucket_get(const uintptr_t *pc, uint32_t n, uint32_t size) {
  uint64_t h = hash_stack(pc, n, size);
  if (2 * (prof.nb + 1) > prof.bixcap) {
    size_t cap = prof.bixcap ? prof.bixcap * 2 : 256;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (ix == NULL)
      return UINT32_MAX;
    for (size_t k = 0; k < prof.nb; k++) {
      size_t i = prof.b[k]->hash & (cap - 1);
      while (ix[i])
        i = (i + 1) & (cap - 1);
      ix[i] = (uint32_t)k + 1;
    }
    free(prof.bix);
    prof.bix = ix;
    prof.bixcap = cap;
  }
  size_t mask = prof.bixcap - 1;
  size_t i = h & mask;
  for (; prof.bix[i]; i = (i + 1) & mask) {
    bucket *b = prof.b[prof.bix[i] - 1];
    if (b->hash == h && b->size == size && b->depth == n &&
        !memcmp(b->pc, pc, n * sizeof *pc))
      return prof.bix[i] - 1;
  }
  if (prof.nb == prof.capb) {
    size_t cap = prof.capb ? prof.capb * 2 : 64;
    bucket **nbv = realloc(prof.b, cap * sizeof *nbv);
    if (nbv == NULL)
      return UINT32_MAX;
    prof.b = nbv;
    prof.capb = cap;
  }
  bucket *b = calloc(1, sizeof *b);
  if (b == NULL)
    return UINT32_MAX;
  b->hash = h;
  b->size = size;
  b->depth = n;
  memcpy(b->pc, pc, n * sizeof *pc);
  prof.b[prof.nb] = b;
  prof.bix[i] = (uint32_t)prof.nb + 1;
  return (uint32_t)prof.nb++;
}

/* Fills raw with up to max instruction pointers of the stack, this
 * function's own first (then tc__profile_record's, tc__alloc_slow's: the
 * PROF_SKIP frames).  Never inlined, never a tail call, so the count of
 * library frames is the same on both paths. */
static TC_NOINLINE int walk_stack(void **raw, int max) {
  int n = 0;
#if WALK_WITH_CURSOR
  /* One walk at a time: libunwind's cursor reads a global signal mask
   * that its lazy initialisation writes under a lock of its own, which
   * ThreadSanitizer reports as a race (stress_roots_foreign in CI).  The
   * lock orders them; only TSan builds walk this way. */
  static pthread_mutex_t walk_mu = PTHREAD_MUTEX_INITIALIZER;
  unw_context_t uc;
  unw_cursor_t cur;
  pthread_mutex_lock(&walk_mu);
  if (unw_getcontext(&uc) == 0 && unw_init_local(&cur, &uc) == 0) {
    do {
      unw_word_t ip;
      if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
        break;
      raw[n++] = (void *)(uintptr_t)ip;
    } while (n < max && unw_step(&cur) > 0);
  }
  pthread_mutex_unlock(&walk_mu);
#else
  n = unw_backtrace(raw, max);
#endif
  __asm__ volatile("" ::: "memory"); /* not a tail call: keep this frame */
  return n;
}

TC_NOINLINE void tc__profile_record(void *p, size_t size) {
  void *raw[TC__PROF_DEPTH + PROF_SKIP];
  int n = walk_stack(raw, TC__PROF_DEPTH + PROF_SKIP);
  uintptr_t pc[TC__PROF_DEPTH];
  uint32_t depth = 0;
  for (int k = PROF_SKIP; k < n; k++)
    pc[depth++] = (uintptr_t)raw[k];
  tc__span *s = tc__span_of(p);
  tc__spin_lock(&prof.lock);
  uint32_t bi = bucket_get(pc, depth, (uint32_t)size);
  bool ok = bi != UINT32_MAX && obj_insert((uintptr_t)p, bi);
  if (ok) {
    prof.b[bi]->allocs++;
    prof.b[bi]->alloc_bytes += size;
  } else {
    prof.lost++;
  }
  tc__spin_unlock(&prof.lock);
  /* after the insertion: the sweep finds the entry when it sees the bit */
  if (ok && !tc__span_track(s, tc__span_index(s, p))) {
    tc__spin_lock(&prof.lock);
    size_t i = obj_find((uintptr_t)p);
    if (i != SIZE_MAX)
      obj_remove(i);
    prof.b[bi]->allocs--;
    prof.b[bi]->alloc_bytes -= size;
    prof.lost++;
    tc__spin_unlock(&prof.lock);
  }
}

/* The sweep's free hook (tc__heap_on_free); heap lock held. */
static void on_free(void *obj, size_t size) {
  tc__spin_lock(&prof.lock);
  size_t i = obj_find((uintptr_t)obj);
  if (i != SIZE_MAX) {
    bucket *b = prof.b[prof.o[i].bucket];
    b->frees++;
    b->free_bytes += size;
    obj_remove(i);
  }
  tc__spin_unlock(&prof.lock);
  if (tc__debug_settings.wbcheck)
    tc__wbcheck_forget(obj);
}

/* ------------------------------------------------------------ names */

/* Names the function holding return address pc: "name" or, with
 * `offset`, "name+0xOFF"; "0xPC" if libunwind finds no symbol. */
static const char *pc_name(uintptr_t pc, char *buf, size_t len, bool offset) {
  unw_context_t uc;
  unw_cursor_t cur;
  unw_word_t off = 0;
  /* libunwind looks up ip - 1 (it takes IPs for return addresses, which
   * pc is) */
  if (unw_getcontext(&uc) == 0 && unw_init_local(&cur, &uc) == 0 &&
      unw_set_reg(&cur, UNW_REG_IP, (unw_word_t)pc) == 0 &&
      unw_get_proc_name(&cur, buf, len, &off) == 0) {
    if (offset) {
      size_t k = strlen(buf);
      snprintf(buf + k, len - k, "+0x%lx", (unsigned long)off);
    }
    return buf;
  }
  snprintf(buf, len, "0x%lx", (unsigned long)pc);
  return buf;
}

bool tc__profile_site(const void *obj, char *buf, size_t len, int frames) {
  uintptr_t pc[TC__PROF_DEPTH];
  uint32_t depth = 0;
  tc__spin_lock(&prof.lock);
  size_t i = prof.on ? obj_find((uintptr_t)obj) : SIZE_MAX;
  if (i != SIZE_MAX) {
    bucket *b = prof.b[prof.o[i].bucket];
    depth = b->depth;
    memcpy(pc, b->pc, depth * sizeof *pc);
  }
  tc__spin_unlock(&prof.lock);
  if (i == SIZE_MAX || len == 0)
    return false;
  size_t k = 0;
  buf[0] = '\0';
  for (uint32_t f = 0; f < depth && (int)f < frames && k + 1 < len; f++) {
    char name[128];
    pc_name(pc[f], name, sizeof name, true);
    int w = snprintf(buf + k, len - k, "%s%s", f ? " <- " : "", name);
    if (w < 0)
      break;
    k += (size_t)w;
  }
  if (depth == 0)
    snprintf(buf, len, "(no stack)");
  return true;
}

/* ------------------------------------------------------------ writers */

/* Returns a copy of every bucket (*n of them, malloc'd), or NULL. */
static bucket *snapshot(size_t *n) {
  tc__spin_lock(&prof.lock);
  size_t nb = prof.nb;
  bucket *copy = malloc((nb ? nb : 1) * sizeof *copy);
  if (copy)
    for (size_t k = 0; k < nb; k++)
      copy[k] = *prof.b[k];
  tc__spin_unlock(&prof.lock);
  *n = nb;
  return copy;
}

/* Scales n samples of `bytes` bytes in all to what they stand for (Go's
 * scaleHeapSample, pprof legacy_profile.go). */
static void scale(uint64_t rt, uint64_t n, uint64_t bytes, uint64_t *sn,
                  uint64_t *sbytes) {
  if (n == 0 || bytes == 0 || rt <= 1) {
    *sn = n;
    *sbytes = bytes;
    return;
  }
  double avg = (double)bytes / (double)n;
  /* 1 - exp(-x) = -expm1(-x); exp from ln_unit's inverse is not at hand:
   * a series for small x, else the product form */
  double x = avg / (double)rt, p;
  if (x < 1e-3) {
    p = x * (1 - x / 2 * (1 - x / 3));
  } else {
    /* exp(-x) by squaring: exp(-x) = (exp(-x / 2^k))^(2^k) */
    int k = 0;
    double y = x;
    while (y > 1e-3) {
      y /= 2;
      k++;
    }
    double e = 1 - y * (1 - y / 2 * (1 - y / 3 * (1 - y / 4)));
    while (k-- > 0)
      e *= e;
    p = 1 - e;
  }
  *sn = (uint64_t)((double)n / p);
  *sbytes = (uint64_t)((double)bytes / p);
}

static int write_pprof(FILE *f, const bucket *b, size_t nb, uint64_t rt) {
  uint64_t in_n = 0, in_b = 0, al_n = 0, al_b = 0;
  for (size_t k = 0; k < nb; k++) {
    in_n += b[k].allocs - b[k].frees;
    in_b += b[k].alloc_bytes - b[k].free_bytes;
    al_n += b[k].allocs;
    al_b += b[k].alloc_bytes;
  }
  fprintf(f, "heap profile: %llu: %llu [%llu: %llu] @ heap/%llu\n",
          (unsigned long long)in_n, (unsigned long long)in_b,
          (unsigned long long)al_n, (unsigned long long)al_b,
          (unsigned long long)(2 * rt));
  for (size_t k = 0; k < nb; k++) {
    fprintf(f, "%llu: %llu [%llu: %llu] @",
            (unsigned long long)(b[k].allocs - b[k].frees),
            (unsigned long long)(b[k].alloc_bytes - b[k].free_bytes),
            (unsigned long long)b[k].allocs,
            (unsigned long long)b[k].alloc_bytes);
    for (uint32_t d = 0; d < b[k].depth; d++)
      fprintf(f, " %#lx", (unsigned long)b[k].pc[d]);
    fputc('\n', f);
  }
  fputs("\nMAPPED_LIBRARIES:\n", f);
  FILE *maps = fopen("/proc/self/maps", "r");
  if (maps == NULL)
    return TC_EINVAL;
  char line[4096];
  size_t got;
  while ((got = fread(line, 1, sizeof line, maps)) > 0)
    fwrite(line, 1, got, f);
  fclose(maps);
  return TC_OK;
}

typedef struct folded {
  char *stack;    /* "root;...;leaf", malloc'd */
  uint64_t value;
} folded;

static int folded_cmp(const void *a, const void *b) {
  return strcmp(((const folded *)a)->stack, ((const folded *)b)->stack);
}

/* Appends s to the growing string *buf (len *n, capacity *cap). */
static bool append(char **buf, size_t *n, size_t *cap, const char *s) {
  size_t l = strlen(s);
  if (*n + l + 1 > *cap) {
    size_t c = (*n + l + 1) * 2;
    char *g = realloc(*buf, c);
    if (g == NULL)
      return false;
    *buf = g;
    *cap = c;
  }
  memcpy(*buf + *n, s, l + 1);
  *n += l;
  return true;
}

static int write_folded(FILE *f, const bucket *b, size_t nb, uint64_t rt,
                        int format) {
  folded *lines = calloc(nb ? nb : 1, sizeof *lines);
  if (lines == NULL)
    return TC_ENOMEM;
  size_t nl = 0;
  int rc = TC_OK;
  for (size_t k = 0; k < nb && rc == TC_OK; k++) {
    bool inuse = format == TC_HEAP_PROFILE_INUSE_BYTES ||
                 format == TC_HEAP_PROFILE_INUSE_OBJECTS;
    uint64_t n = inuse ? b[k].allocs - b[k].frees : b[k].allocs;
    uint64_t bytes = inuse ? b[k].alloc_bytes - b[k].free_bytes
                           : b[k].alloc_bytes;
    uint64_t sn, sbytes;
    scale(rt, n, bytes, &sn, &sbytes);
    uint64_t v = (format == TC_HEAP_PROFILE_INUSE_BYTES ||
                  format == TC_HEAP_PROFILE_ALLOC_BYTES)
                     ? sbytes
                     : sn;
    if (v == 0)
      continue;
    char *s = NULL;
    size_t len = 0, cap = 0;
    for (uint32_t d = b[k].depth; d-- > 0;) {
      char name[256];
      pc_name(b[k].pc[d], name, sizeof name, false);
      if ((len && !append(&s, &len, &cap, ";")) ||
          !append(&s, &len, &cap, name)) {
        rc = TC_ENOMEM;
        break;
      }
    }
    if (rc == TC_OK && s == NULL && !append(&s, &len, &cap, "(no stack)"))
      rc = TC_ENOMEM;
    if (rc != TC_OK) {
      free(s);
      break;
    }
    lines[nl].stack = s;
    lines[nl].value = v;
    nl++;
  }
  if (rc == TC_OK) {
    qsort(lines, nl, sizeof *lines, folded_cmp);
    for (size_t k = 0; k < nl;) {
      uint64_t v = lines[k].value;
      size_t j = k + 1;
      while (j < nl && !strcmp(lines[j].stack, lines[k].stack))
        v += lines[j++].value;
      fprintf(f, "%s %llu\n", lines[k].stack, (unsigned long long)v);
      k = j;
    }
  }
  for (size_t k = 0; k < nl; k++)
    free(lines[k].stack);
  free(lines);
  return rc;
}

int tc_heap_profile_write(FILE *f, int format) {
  if (f == NULL || format < TC_HEAP_PROFILE_PPROF ||
      format > TC_HEAP_PROFILE_ALLOC_OBJECTS)
    return TC_EINVAL;
  if (!tc__load_relaxed(&prof.on))
    return TC_ESTATE;
  size_t nb;
  bucket *b = snapshot(&nb);
  if (b == NULL)
    return TC_ENOMEM;
  uint64_t rt = tc__load_relaxed(&rate);
  int rc = format == TC_HEAP_PROFILE_PPROF ? write_pprof(f, b, nb, rt)
                                           : write_folded(f, b, nb, rt, format);
  free(b);
  if (fflush(f) != 0 || ferror(f))
    rc = rc ? rc : TC_EINVAL;
  return rc;
}

/* ------------------------------------------------------------ memprofile= */

static struct {
  int pipe[2];                   /* SIGUSR2 handler -> writer thread */
  pthread_t thread;
  bool running;
  struct sigaction old;          /* SIGUSR2's disposition before ours */
} sigw = {.pipe = {-1, -1}};

/* Writes the profile to TRICOLOR_DEBUG's memprofile path, through
 * PATH.tmp and a rename so a reader never sees half a file. */
static void write_path(void) {
  const char *path = tc__debug_settings.memprofile;
  size_t l = strlen(path);
  int format = l >= 7 && !strcmp(path + l - 7, ".folded")
                   ? TC_HEAP_PROFILE_INUSE_BYTES
                   : TC_HEAP_PROFILE_PPROF;
  char tmp[sizeof tc__debug_settings.memprofile + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    tc__warn("memprofile: cannot create %s: %s", tmp, strerror(errno));
    return;
  }
  int rc = tc_heap_profile_write(f, format);
  if (fclose(f) != 0 && rc == TC_OK)
    rc = TC_EINVAL;
  if (rc != TC_OK || rename(tmp, path) != 0) {
    tc__warn("memprofile: writing %s failed (%s)", path,
             rc ? tc_strerror(rc) : strerror(errno));
    unlink(tmp);
  }
}

static void on_sigusr2(int sig) {
  (void)sig;
  int saved = errno;
  char c = 'w';
  ssize_t w = write(sigw.pipe[1], &c, 1); /* async-signal-safe */
  (void)w;
  errno = saved;
}

static void *writer_main(void *arg) {
  (void)arg;
  tc__thread_name("tricolor-prof");
  for (;;) {
    char c;
    ssize_t n = read(sigw.pipe[0], &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || c == 'q')
      return NULL;
    write_path();
  }
}

static void writer_start(void) {
  if (pipe2(sigw.pipe, O_CLOEXEC) != 0) {
    tc__warn("memprofile: no pipe (%s): no profile on SIGUSR2",
             strerror(errno));
    return;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread blocks them all */
  int rc = pthread_create(&sigw.thread, NULL, writer_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    close(sigw.pipe[0]);
    close(sigw.pipe[1]);
    sigw.pipe[0] = sigw.pipe[1] = -1;
    tc__warn("memprofile: no writer thread: no profile on SIGUSR2");
    return;
  }
  sigw.running = true;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr2;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, &sigw.old);
}

static void writer_stop(void) {
  if (!sigw.running)
    return;
  sigaction(SIGUSR2, &sigw.old, NULL);
  char q = 'q';
  ssize_t w = write(sigw.pipe[1], &q, 1);
  (void)w;
  pthread_join(sigw.thread, NULL);
  close(sigw.pipe[0]);
  close(sigw.pipe[1]);
  sigw.pipe[0] = sigw.pipe[1] = -1;
  sigw.running = false;
}

/* ------------------------------------------------------------ lifecycle */

void tc__profile_init(void) {
  if (tc__debug_settings.wbcheck)
    tc__store_relaxed(&rate, UINT64_C(1)); /* every object has a site */
  else if (tc__debug_settings.has_memprofilerate)
    tc__store_relaxed(&rate, (uint64_t)tc__debug_settings.memprofilerate);
  tc__add_relaxed(&rate_gen, 1u);
  tc__heap_on_free = on_free;
  tc__store_relaxed(&prof.on, true);
  if (tc__debug_settings.memprofile[0])
    writer_start();
}

void tc__profile_shutdown(void) {
  if (tc__debug_settings.memprofile[0])
    write_path();
  writer_stop();
  tc__spin_lock(&prof.lock);
  tc__store_relaxed(&prof.on, false);
  for (size_t k = 0; k < prof.nb; k++)
    free(prof.b[k]);
  free(prof.b);
  free(prof.bix);
  free(prof.o);
  prof.b = NULL;
  prof.bix = NULL;
  prof.o = NULL;
  prof.nb = prof.capb = prof.bixcap = prof.on_ = prof.ocap = 0;
  prof.lost = 0;
  tc__spin_unlock(&prof.lock);
  tc__heap_on_free = NULL;
}
