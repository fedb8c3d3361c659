/*
 * tricolor/inline.h -- the inline fast paths of the public API: allocation,
 * the store barrier and root frames.  Included by tricolor.h; not a header
 * to include on its own.  Everything named tc__* here is private: its layout
 * may change with any release and is shown only so the compiler can inline.
 *
 * Design.
 *   1. Every mutator thread has a context (tc__ctx) in thread-local storage
 *      that points to its allocation cache and its root stack.  Under
 *      tc_run the cache is its processor's (P) and the root stack its
 *      running coroutine's (G), switched with them; outside tc_run both
 *      are the bare mutator's.  The context is what the M runs with.
 *   2. A coroutine may resume on another thread after any safepoint, so the
 *      address of the context must never be cached across a call.  Compilers
 *      treat a TLS address as constant within a function and hoist it;
 *      tc__ctx_get() therefore computes it in a volatile asm that cannot be
 *      hoisted or merged (x86-64 and aarch64; an out-of-line call elsewhere).
 *   3. Allocation bumps a pointer through a run of free slots of one size
 *      class (a maximal range of consecutive free objects in a span) and
 *      records the object's type id in the span's side array.  The slow path
 *      refills the run.  Runs are zeroed before they are handed out, so the
 *      fast path writes nothing into the object.  Types that have a
 *      finalizer, sizes above 1 KiB, and the first allocation of a type all
 *      take the slow path.
 *   4. A store is one relaxed load of the barrier flag and a predictable
 *      branch when no cycle is marking; the flag is set while a barrier is
 *      needed (and always with CMake TRICOLOR_DEBUG >= 2, checkstores=1
 *      or wbcheck=1, so stores are checked).  TC_STORE passes its
 *      __FILE__ and __LINE__ along (tc__store_at) when TC_WBCHECK is
 *      defined or TC_DEBUG >= 2, for wbcheck's reports; otherwise it is
 *      tc_store.
 *   5. Root frames are linked on the C stack; the frame remembers its root
 *      stack so popping does not touch TLS.
 */
#ifndef TRICOLOR_INLINE_H
#define TRICOLOR_INLINE_H

#ifndef TRICOLOR_H
#error "include <tricolor.h>, not tricolor/inline.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TC__LIKELY(x) __builtin_expect(!!(x), 1)
#define TC__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Size classes (the full table with span sizes is in heap/sizeclass.c). */
#define TC__NCLASSES 80          /* 8 B .. 32 KiB */
#define TC__SMALL_INLINE_MAX 1024 /* bytes served by the inline path */

/* class of an inline-path size: tc__small_class[(size + 7) >> 3] */
static const uint8_t tc__small_class[129] = {
     0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23,
    23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27,
    27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31,
    31, 32, 32, 32, 32, 32, 32, 32, 32, 33, 33, 33, 33, 33, 33, 33,
    33, 34, 34, 34, 34, 34, 34, 34, 34, 35, 35, 35, 35, 35, 35, 35,
    35, 36, 36, 36, 36, 36, 36, 36, 36, 37, 37, 37, 37, 37, 37, 37,
    37, 38, 38, 38, 38, 38, 38, 38, 38, 39, 39, 39, 39, 39, 39, 39,
    39,
};
static const uint16_t tc__small_class_size[40] = {
    8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128,
    144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448,
    480, 512, 576, 640, 704, 768, 832, 896, 960, 1024,
};

/* A run of free slots of one class: [ptr, end), types[i] for slot i. */
typedef struct tc__run {
  char *ptr;          /* next free object */
  char *end;          /* one past the last free object of the run */
  uint16_t *types;    /* type-id slot of the object at ptr (scan runs) */
  void *span;         /* span the run lies in (library-private) */
} tc__run;

/* Allocation cache: one current run per class, scan and noscan; and the
 * cursor of its processor's write-barrier buffer: tc_store appends to
 * [wbp, wblim) inline while a hybrid cycle marks (wblim == wbp, or NULL,
 * otherwise: the slow path decides). */
typedef struct tc__cache {
  tc__run scan[TC__NCLASSES];
  tc__run noscan[TC__NCLASSES];
  void **wbp;         /* next free entry of the barrier buffer */
  void **wblim;       /* appends (one or two entries: room for two) while
                         wbp < wblim (relaxed: set by the collector while
                         the world is stopped) */
  uintptr_t wbmask;   /* ~0 while the running G's root stack may be grey,
                         0 once it is black: an append records the new
                         reference (ANDed with it) only while ~0, else
                         the old one alone (hybrid then needs only that;
                         relaxed, as wblim) */
} tc__cache;

typedef struct tc__frame_site {
  const char *file;
  int line;
  const char *names;  /* the TC_LOCALS arguments as written */
} tc__frame_site;

struct tc__rootstack;

typedef struct tc__frame {
  struct tc__frame *prev;        /* next older frame */
  struct tc__rootstack *rs;      /* the root stack it was pushed on */
  void ***slots;                 /* addresses of the registered locals */
  uint32_t n;                    /* entries in slots */
  const tc__frame_site *site;    /* where TC_LOCALS was written */
} tc__frame;

typedef struct tc__rootstack {
  tc__frame *top;                /* newest frame, NULL when empty */
} tc__rootstack;

typedef struct tc__ctx {
  tc__cache *cache;              /* the allocation cache in use (a P's) */
  tc__rootstack *rs;             /* the root stack in use (a G's) */
  void *owner;                   /* library-private mutator record (the M) */
  uint32_t preempt;              /* non-zero: stop at the next safepoint */
} tc__ctx;
/* A preempt bit that tc_alloc's inline path does not answer (the other
 * bits, sched/sched.h, make it take the slow path): bare mode's turn poke,
 * answered at tc_safepoint and at a refill, so that a contended turn lasts
 * about one allocation run, not one allocation (sched/bare.c). */
#define TC__PREEMPT_TURN 4u

TC_API extern __thread tc__ctx tc__ctx_tls __attribute__((tls_model("initial-exec")));
TC_API extern uint32_t tc__barrier_on;

TC_API tc__ctx *tc__ctx_current(void);
TC_API void *tc__alloc_slow(tc_type *type, size_t size);
TC_API void tc__store_slow(void **slot, void *value);
TC_API void tc__store_slow_at(void **slot, void *value, const char *file,
                              int line);
TC_API void tc__barrier_slow(void *old_ref, void *new_ref);
TC_API void tc__frame_push_fail(tc__frame *f);
TC_API void tc__frame_pop_fail(tc__frame *f);
TC_API void tc__safepoint_slow(void);

/* Returns this thread's context; never hoisted across a call (see 2.). */
static inline tc__ctx *tc__ctx_get(void) {
#if defined(__x86_64__) && !defined(TC_PORTABLE_TLS)
  tc__ctx *c;
  __asm__ volatile("movq tc__ctx_tls@gottpoff(%%rip), %0\n\t"
                   "addq %%fs:0, %0"
                   : "=r"(c));
  return c;
#elif defined(__aarch64__) && !defined(TC_PORTABLE_TLS)
  tc__ctx *c;
  uintptr_t off;
  __asm__ volatile("mrs %0, tpidr_el0\n\t"
                   "adrp %1, :gottprel:tc__ctx_tls\n\t"
                   "ldr %1, [%1, #:gottprel_lo12:tc__ctx_tls]\n\t"
                   "add %0, %0, %1"
                   : "=&r"(c), "=&r"(off));
  return c;
#else
  return tc__ctx_current();
#endif
}

/* The inline allocations below take the slow path, a safepoint, when
 * their context is asked to stop (preempt, but for bare mode's turn
 * poke): a pause then waits for the next allocation, not for the end of
 * the current run (which a run of small objects takes tens of
 * microseconds to use up).  One load, a test and a branch, about 3
 * instructions (bench/fastpath.sh). */
static inline bool tc__alloc_stop_asked(tc__ctx *x) {
  return (__atomic_load_n(&x->preempt, __ATOMIC_RELAXED) &
          ~TC__PREEMPT_TURN) != 0;
}

static inline void *tc_alloc(tc_type *type, size_t size) {
  /* acquire: pairs with registration's release (the type table entry the
   * collector reads by this id); a plain load on x86-64 */
  uint32_t id = __atomic_load_n(&type->fast_id, __ATOMIC_ACQUIRE);
  if (TC__LIKELY(size <= TC__SMALL_INLINE_MAX && id != 0)) {
    unsigned cls = tc__small_class[(size + 7) >> 3];
    tc__ctx *x = tc__ctx_get();
    tc__run *r = &x->cache->scan[cls];
    char *p = r->ptr;
    if (TC__LIKELY(p != r->end && !tc__alloc_stop_asked(x))) {
      uint16_t *ty = r->types;
      r->ptr = p + tc__small_class_size[cls];
      *ty = (uint16_t)id;
      r->types = ty + 1;
      return p;
    }
  }
  return tc__alloc_slow(type, size);
}

static inline void *tc_alloc_noscan(size_t size) {
  if (TC__LIKELY(size <= TC__SMALL_INLINE_MAX)) {
    unsigned cls = tc__small_class[(size + 7) >> 3];
    tc__ctx *x = tc__ctx_get();
    tc__run *r = &x->cache->noscan[cls];
    char *p = r->ptr;
    if (TC__LIKELY(p != r->end && !tc__alloc_stop_asked(x))) {
      r->ptr = p + tc__small_class_size[cls];
      return p;
    }
  }
  return tc__alloc_slow(NULL, size);
}

/* The barrier's common case while marking: records old, and new while
 * the storing G's stack may be grey (else only old), in the processor's
 * buffer (barrier/barrier.c shades them in bulk); false if the slow path
 * must decide (buffer full, no processor, another mode, store checks). */
static inline bool tc__wb_append(void *old_ref, void *new_ref) {
  tc__cache *c = tc__ctx_get()->cache;
  void **p = c->wbp;
  if (!(p < __atomic_load_n(&c->wblim, __ATOMIC_RELAXED)))
    return false;
  uintptr_t mask = __atomic_load_n(&c->wbmask, __ATOMIC_RELAXED);
  p[0] = old_ref;
  p[1] = (void *)((uintptr_t)new_ref & mask);
  c->wbp = p + 1 + (mask & 1); /* the new half is kept only while needed */
  return true;
}

static inline void tc_store(void **slot, void *value) {
  if (TC__UNLIKELY(__atomic_load_n(&tc__barrier_on, __ATOMIC_RELAXED)) &&
      !tc__wb_append(__atomic_load_n(slot, __ATOMIC_RELAXED), value)) {
    tc__store_slow(slot, value);
    return;
  }
  __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

/* tc_store that tells the slow path where it was written (TC_STORE in
 * TC_WBCHECK and TC_DEBUG >= 2 builds). */
static inline void tc__store_at(void **slot, void *value, const char *file,
                                int line) {
  if (TC__UNLIKELY(__atomic_load_n(&tc__barrier_on, __ATOMIC_RELAXED)))
    tc__store_slow_at(slot, value, file, line);
  else
    __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

static inline void *tc_load(void *const *slot) {
  return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

static inline void tc_barrier(void *old_ref, void *new_ref) {
  if (TC__UNLIKELY(__atomic_load_n(&tc__barrier_on, __ATOMIC_RELAXED)) &&
      !tc__wb_append(old_ref, new_ref))
    tc__barrier_slow(old_ref, new_ref);
}

static inline void tc_safepoint(void) {
  if (TC__UNLIKELY(__atomic_load_n(&tc__ctx_get()->preempt, __ATOMIC_RELAXED)))
    tc__safepoint_slow();
}

static inline void tc__frame_push(tc__frame *f) {
  tc__rootstack *rs = tc__ctx_get()->rs;
  if (TC__UNLIKELY(rs == NULL))
    tc__frame_push_fail(f);
  f->rs = rs;
  f->prev = rs->top;
  rs->top = f;
}

static inline void tc__frame_pop(tc__frame *f) {
  tc__rootstack *rs = f->rs;
  if (TC__UNLIKELY(rs->top != f))
    tc__frame_pop_fail(f);
  rs->top = f->prev;
}

/* No named local: GCC warns that one "might be clobbered" when the caller
 * also calls setjmp, the very pattern this function is for. */
static inline __attribute__((always_inline)) tc_roots_mark tc_roots_save(void) {
  tc__rootstack *const *rsp = &tc__ctx_get()->rs;
  return *rsp ? (tc_roots_mark)(*rsp)->top : NULL;
}

/* TC_LOCALS machinery: map a macro over up to 16 arguments. */
#define TC__CAT_(a, b) a##b
#define TC__CAT(a, b) TC__CAT_(a, b)
#define TC__NARG(...) TC__NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, \
                                8, 7, 6, 5, 4, 3, 2, 1, 0)
#define TC__NARG_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, \
                  a14, a15, a16, n, ...) n
#define TC__MAP(f, ...) TC__CAT(TC__MAP_, TC__NARG(__VA_ARGS__))(f, __VA_ARGS__)
#define TC__MAP_1(f, x) f(x)
#define TC__MAP_2(f, x, ...) f(x), TC__MAP_1(f, __VA_ARGS__)
#define TC__MAP_3(f, x, ...) f(x), TC__MAP_2(f, __VA_ARGS__)
#define TC__MAP_4(f, x, ...) f(x), TC__MAP_3(f, __VA_ARGS__)
#define TC__MAP_5(f, x, ...) f(x), TC__MAP_4(f, __VA_ARGS__)
#define TC__MAP_6(f, x, ...) f(x), TC__MAP_5(f, __VA_ARGS__)
#define TC__MAP_7(f, x, ...) f(x), TC__MAP_6(f, __VA_ARGS__)
#define TC__MAP_8(f, x, ...) f(x), TC__MAP_7(f, __VA_ARGS__)
#define TC__MAP_9(f, x, ...) f(x), TC__MAP_8(f, __VA_ARGS__)
#define TC__MAP_10(f, x, ...) f(x), TC__MAP_9(f, __VA_ARGS__)
#define TC__MAP_11(f, x, ...) f(x), TC__MAP_10(f, __VA_ARGS__)
#define TC__MAP_12(f, x, ...) f(x), TC__MAP_11(f, __VA_ARGS__)
#define TC__MAP_13(f, x, ...) f(x), TC__MAP_12(f, __VA_ARGS__)
#define TC__MAP_14(f, x, ...) f(x), TC__MAP_13(f, __VA_ARGS__)
#define TC__MAP_15(f, x, ...) f(x), TC__MAP_14(f, __VA_ARGS__)
#define TC__MAP_16(f, x, ...) f(x), TC__MAP_15(f, __VA_ARGS__)

/* The address of a pointer-sized local; refuses to compile otherwise. */
#define TC__SLOT_ADDR(x)                                              \
  ((void)sizeof(char[1 - 2 * (sizeof(x) != sizeof(void *))]),         \
   (void **)(void *)&(x))

#define TC__LOCALS(id, ...) TC__LOCALS_(id, __VA_ARGS__)
#define TC__LOCALS_(id, ...)                                                \
  void **tc__slots_##id[] = {TC__MAP(TC__SLOT_ADDR, __VA_ARGS__)};          \
  static const tc__frame_site tc__site_##id = {__FILE__, __LINE__,          \
                                               #__VA_ARGS__};               \
  tc__frame tc__frame_##id __attribute__((cleanup(tc__frame_pop))) = {      \
      NULL, NULL, tc__slots_##id,                                           \
      (uint32_t)(sizeof(tc__slots_##id) / sizeof(tc__slots_##id[0])),       \
      &tc__site_##id};                                                      \
  tc__frame_push(&tc__frame_##id)

#ifdef __cplusplus
}
#endif

#endif /* TRICOLOR_INLINE_H */
