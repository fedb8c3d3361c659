/*
 * heap/heap.h -- the heap's internal interface: arenas and the page map,
 * spans, size classes, allocation caches, central lists and sweeping.
 *
 * Shapes.
 *   arena   64 MiB of address space, mmap'd on demand, aligned to 64 MiB.
 *           A directory indexed by address >> 26 finds an arena in O(1);
 *           the arena's page map finds the span of any of its 8 KiB pages.
 *   span    a run of pages: free, holding objects of one size class
 *           (small), or holding one large object (> 32 KiB).  Its side
 *           metadata (bitmaps, type ids) lives outside the heap pages, so
 *           objects have no header.
 *   run     a maximal range of consecutive free slots of a small span,
 *           handed to a cache for bump allocation (tricolor/inline.h).
 *
 * Span states and what holds in each:
 *   TC__SPAN_FREE   on the page heap's free lists; pages may be dirty or
 *                   returned to the OS (released); no objects.
 *   TC__SPAN_SMALL  objects of span->cls; alloc_bits = allocated slots as of
 *                   the last sweep plus runs consumed since; mark_bits are
 *                   this cycle's colours (set = grey or black).
 *   TC__SPAN_LARGE  one object at base; mark_bits[0] bit 0 is its colour.
 *
 * Sweep generations (as in Go): heap.sweepgen grows by 2 at every mark
 * termination.  span->sweepgen == heap.sweepgen - 2: not yet swept this
 * cycle; == heap.sweepgen: swept.  A span is swept before its free slots
 * are reused.
 *
 * Tools: under AddressSanitizer and valgrind, heap memory is accessible
 * exactly while it is handed out (a run's slots, a large object, pages a
 * caller took from the page heap); collected objects, unused run tails,
 * free pages and freed metadata blocks are not, so a use of a collected
 * object is reported at the faulting access.  The annotations and the
 * places the heap itself touches free memory are in heap/poison.h.
 */
#ifndef TC_HEAP_H
#define TC_HEAP_H

#ifndef TC_BUILDING_LIBRARY
#error "heap/heap.h is internal to tricolor"
#endif

#include "base/base.h"

#define TC__PAGE_SHIFT 13
#define TC__PAGE_SIZE ((size_t)1 << TC__PAGE_SHIFT)      /* 8 KiB */
#define TC__ARENA_SHIFT 26
#define TC__ARENA_SIZE ((size_t)1 << TC__ARENA_SHIFT)    /* 64 MiB */
#define TC__ARENA_PAGES (TC__ARENA_SIZE / TC__PAGE_SIZE) /* 8192 */
#define TC__ADDR_BITS 48                                 /* user VA on x86-64/aarch64 */
#define TC__DIR_ENTRIES ((size_t)1 << (TC__ADDR_BITS - TC__ARENA_SHIFT))
#define TC__MAX_SMALL 32768u                              /* largest small object */
#define TC__NSPANCLASS (2 * TC__NCLASSES)                 /* scan + noscan */
#define TC__FREE_LISTS 128 /* free spans of 1..127 pages by size, rest in one */

/* ---- size classes (sizeclass.c) ---- */
typedef struct tc__sizeclass {
  uint32_t size;     /* bytes per object */
  uint32_t pages;    /* pages per span */
  uint32_t objects;  /* objects per span = pages * 8 KiB / size */
} tc__sizeclass;

extern const tc__sizeclass tc__classes[TC__NCLASSES];
/* Returns the class of a small size (1..32 KiB); 0 maps to class 0. */
unsigned tc__size_to_class(size_t size);
/* Returns ceil(2^32 / size): offset * divmul >> 32 == offset / size for
 * every offset inside a span of that class (tested exhaustively). */
uint32_t tc__class_divmul(unsigned cls);

/* ---- spans ---- */
enum { TC__SPAN_FREE = 0, TC__SPAN_SMALL = 1, TC__SPAN_LARGE = 2 };

typedef struct tc__span tc__span;
struct tc__span {
  char *base;            /* first byte of the first page */
  size_t npages;         /* pages in the span */
  tc__span *next;        /* links of the list the span is on */
  tc__span *prev;
  uint8_t state;         /* TC__SPAN_* */
  uint8_t cls;           /* size class (small) */
  uint8_t noscan;        /* objects hold no references */
  uint8_t needzero;      /* free slots may hold old bytes */
  uint8_t released;      /* (free) pages returned to the OS, reads as zero */
  uint8_t cached;        /* (small) a cache allocates from it */
  uint8_t list;          /* which list it is on, TC__LIST_* */
  uint8_t has_fin;       /* on the finalizer span list */
  uint8_t run_black;     /* the cached run was handed out pre-marked */
  uint32_t elem_size;    /* bytes per object (large: npages * page) */
  uint32_t nelems;       /* objects = pages * page / elem_size (large: 1) */
  uint32_t divmul;       /* see tc__class_divmul */
  uint32_t nalloc;       /* allocated objects (runs count when released) */
  uint32_t freeindex;    /* slots below it are allocated or in the run */
  uint32_t run_start;    /* first slot of the run a cache holds */
  uint32_t run_end;      /* one past its last slot: the run's end even
                            while the collector holds run->end short of
                            it (a heap-profile sample point) */
  uint32_t sweepgen;     /* see the header comment */
  uint64_t *mark_bits;   /* nelems bits */
  uint64_t *alloc_bits;  /* nelems bits */
  uint64_t *grey_bits;   /* nelems bits or NULL (markorder=span, small
                            spans holding references): marked, not yet
                            scanned; atomic (collector/spanq.c) */
  uint32_t queued;       /* (grey_bits) on the span queue or being
                            scanned from it; CAS 0 -> 1 to queue */
  tc__span *qnext;       /* (queued) next span on the span queue */
  uint64_t *fin_bits;    /* nelems bits or NULL: objects with a finalizer */
  uint64_t *track_bits;  /* nelems bits or NULL: objects the collector keeps
                            side records for (heap-profile samples,
                            wbcheck snapshots); the sweep reports their
                            deaths through tc__heap_on_free */
  uint16_t *types;       /* nelems type ids (scan spans), NULL for noscan */
  tc__span *fin_next;    /* finalizer span list */
  tc__run *run;          /* (cached) the run bumping through this span */
  size_t meta_size;      /* bytes of the metadata block (this struct + arrays) */
};

/* Which kind of list a span is on: the page heap's free lists, or one of
 * the in-use lists (partial, full, unswept, large), between which sweep
 * start moves whole lists without touching the spans. */
enum { TC__LIST_NONE, TC__LIST_FREE, TC__LIST_INUSE };

typedef struct tc__spanlist {
  tc__span *first;
  tc__span *last;
  size_t count;
} tc__spanlist;

void tc__spanlist_push(tc__spanlist *l, tc__span *s, uint8_t which);
void tc__spanlist_remove(tc__spanlist *l, tc__span *s);
tc__span *tc__spanlist_pop(tc__spanlist *l);
/* Moves every span of src to the front of dst in O(1): both are in-use
 * lists, so the spans' tag stays. */
void tc__spanlist_splice(tc__spanlist *dst, tc__spanlist *src);

typedef struct tc__arena {
  char *base;                         /* TC__ARENA_SIZE aligned */
  tc__span *pages[TC__ARENA_PAGES];   /* span of each page, NULL if unused */
} tc__arena;

/* ---- the heap: one per runtime ---- */
typedef struct tc__heap {
  tc__lock lock;                 /* page heap, central lists, metadata */
  tc__arena **dir;               /* TC__DIR_ENTRIES, lazily committed */
  tc__arena **arenas;            /* every arena, for shutdown */
  size_t narenas, arenas_cap;
  char *grow_next, *grow_end;    /* unused pages of the newest arena(s) */
  /* free spans by pages (index 0: larger), still backed and released */
  tc__spanlist free[TC__FREE_LISTS];
  tc__spanlist free_released[TC__FREE_LISTS];
  tc__spanlist partial[TC__NSPANCLASS]; /* swept, free slots, not cached */
  tc__spanlist full[TC__NSPANCLASS];    /* swept, no free slots */
  tc__spanlist unswept[TC__NSPANCLASS]; /* awaiting this cycle's sweep */
  tc__spanlist large;            /* swept large spans */
  tc__spanlist large_unswept;    /* large spans awaiting sweep */
  tc__span *fin_spans;           /* spans holding finalizable objects */
  uint32_t sweepgen;             /* += 2 per mark termination */
  uint32_t cycle;                /* completed cycles (scavenger window) */
  size_t max_heap;               /* 0 = no limit */
  /* accounting, bytes; written under lock, read relaxed */
  uint64_t live;                 /* objects allocated - freed (runs count whole) */
  uint64_t inuse;                /* pages in small/large spans */
  uint64_t free_dirty;           /* pages in free spans, still backed */
  uint64_t released;             /* pages in free spans, returned to the OS */
  uint64_t mapped;               /* arena address space mapped */
  uint64_t total_alloc;
  uint64_t total_freed;
  uint64_t marked;               /* bytes marked this cycle */
  uint32_t alloc_black;          /* marking: runs and large objects are
                                    handed out marked (relaxed; set and
                                    cleared with the world stopped) */
  uint64_t black_bytes;          /* bytes handed out marked this cycle */
  int64_t sweep_debt;            /* bytes in live that the sweep still has
                                    to free (the last mark left them
                                    white); the trigger looks past them */
  bool valgrind;                 /* running under valgrind: the heap is
                                    described to memcheck (heap/poison.h) */
} tc__heap;

extern tc__heap tc__h;

/* Returns the span holding address p, or NULL if p is not in the heap.
 * O(1): two loads.  Any thread while the heap exists. */
static inline tc__span *tc__span_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  if (a >> TC__ADDR_BITS)
    return NULL;
  tc__arena **dir = tc__h.dir;
  if (TC__UNLIKELY(dir == NULL))
    return NULL;
  /* relaxed: markers look up spans while mutators create them */
  tc__arena *ar = __atomic_load_n(&dir[a >> TC__ARENA_SHIFT], __ATOMIC_ACQUIRE);
  if (ar == NULL)
    return NULL;
  return __atomic_load_n(&ar->pages[(a >> TC__PAGE_SHIFT) & (TC__ARENA_PAGES - 1)],
                         __ATOMIC_RELAXED);
}

/* Returns the slot index of p in a small or large span. */
static inline uint32_t tc__span_index(const tc__span *s, const void *p) {
  uint64_t off = (uint64_t)((const char *)p - s->base);
  return (uint32_t)((off * s->divmul) >> 32);
}
static inline char *tc__span_obj(const tc__span *s, uint32_t i) {
  return s->base + (size_t)i * s->elem_size;
}
static inline bool tc__bit_get(const uint64_t *bits, uint32_t i) {
  return (bits[i >> 6] >> (i & 63)) & 1;
}
static inline void tc__bit_set(uint64_t *bits, uint32_t i) {
  bits[i >> 6] |= (uint64_t)1 << (i & 63);
}
static inline void tc__bit_clear(uint64_t *bits, uint32_t i) {
  bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}
static inline size_t tc__bitmap_words(uint32_t n) { return (n + 63) / 64; }
/* Sets / clears bits [lo, hi) with atomic OR / AND: markers set other bits
 * of the same words concurrently. */
static inline void tc__bits_update_range_atomic(uint64_t *bits, uint32_t lo,
                                               uint32_t hi, bool set) {
  while (lo < hi) {
    uint32_t w = lo >> 6, b = lo & 63;
    uint32_t n = hi - lo < 64 - b ? hi - lo : 64 - b;
    uint64_t mask = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << b;
    if (set)
      __atomic_fetch_or(&bits[w], mask, __ATOMIC_RELAXED);
    else
      __atomic_fetch_and(&bits[w], ~mask, __ATOMIC_RELAXED);
    lo += n;
  }
}
/* Sets bits [lo, hi), a word at a time. */
static inline void tc__bits_set_range(uint64_t *bits, uint32_t lo, uint32_t hi) {
  while (lo < hi) {
    uint32_t w = lo >> 6, b = lo & 63;
    uint32_t n = hi - lo < 64 - b ? hi - lo : 64 - b;
    uint64_t mask = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << b;
    bits[w] |= mask;
    lo += n;
  }
}

/* ---- lifecycle (arena.c) ---- */
int tc__heap_init(size_t max_heap);   /* any thread, once per runtime */
void tc__heap_destroy(void);          /* unmaps everything */
/* The process ends without tc_shutdown (a deadlock report, the SIGQUIT
 * dump): the objects still on the heap are no leaks, so the tools that
 * track them (valgrind's pool) forget them.  Any thread. */
void tc__heap_abandon(void);

/* ---- pages (pageheap.c); heap lock held ---- */
/* Returns a span record of meta_size bytes (zeroed past the base fields)
 * for npages pages, mapped in the page map, state still FREE; NULL if the
 * heap limit or the OS says no. */
tc__span *tc__pages_alloc(size_t npages, size_t meta_size);
/* Returns a span's pages to the free lists, coalescing with neighbours. */
void tc__pages_free(tc__span *s);
/* Returns free pages to the OS until inuse + free_dirty <= keep_bytes. */
void tc__pages_scavenge(uint64_t keep_bytes);
/* Maps at least `bytes` of fresh arenas as the new growth window
 * [grow_next, grow_end); heap lock held.  The caller salvages the old one. */
bool tc__arena_map(size_t bytes);
void tc__pagemap_set(tc__span *s);

/* ---- metadata (meta.c); heap lock held ---- */
void *tc__meta_alloc(size_t size);        /* zeroed */
void tc__meta_free(void *p, size_t size);
void tc__meta_destroy(void);
uint64_t tc__meta_mapped(void);

/* ---- spans (span.c) ---- */
/* Lays out the metadata of a fresh small or large span; heap lock held. */
tc__span *tc__span_new_small(unsigned spanclass);
tc__span *tc__span_new_large(size_t size, bool scan);
/* Finds the next run of free slots at or after s->freeindex: [*lo, *hi). */
bool tc__span_next_run(tc__span *s, uint32_t *lo, uint32_t *hi);

/* ---- caches (cache.c) ---- */
struct tc__pgc;
typedef struct tc__mcache {
  tc__cache runs;        /* public layout, read by the inline path */
  struct tc__pgc *gc;    /* the owner's (a P's) share of the collector,
                            opaque here (collector/gcwork.c); NULL in bare
                            mode and for threads without a P */
  /* the heap profile's sampler (collector/profile.c), owner only: */
  uint64_t prof_next[TC__NSPANCLASS + 1]; /* bytes of each span class's
                            run stream ([TC__NSPANCLASS]: large objects)
                            to the next sample point; 0 = draw anew */
  uint64_t prof_rng;     /* xorshift state of the draws */
  uint32_t prof_gen;     /* the rate generation prof_next was drawn for */
} tc__mcache;

/* The end of r's run as the heap handed it out (r->end may be held short
 * of it by the collector: collector/profile.c).  r holds a run. */
static inline char *tc__run_limit(const tc__run *r) {
  const tc__span *s = (const tc__span *)r->span;
  return tc__span_obj(s, s->run_end);
}
/* True if r holds a run whose end the collector has moved in. */
static inline bool tc__run_is_cut(const tc__run *r) {
  return r->span != NULL && r->end != tc__run_limit(r);
}

/* Refills the run of spanclass sc; false when out of memory.  Mutator. */
bool tc__cache_refill(tc__mcache *c, unsigned sc);
/* Gives every run back to its span (records what was allocated). */
void tc__cache_flush(tc__mcache *c);
/* Gives back one class's run, so the next allocation takes the slow path. */
void tc__cache_drop(tc__mcache *c, unsigned sc);
/* Allocates a large object; NULL when out of memory.  Mutator. */
void *tc__large_alloc(size_t size, uint16_t type_id, bool scan);

/* ---- sweeping (sweep.c) ---- */
/* Moves every in-use span to the unswept lists; world stopped. */
void tc__sweep_start(void);
/* Sweeps one span; heap lock held.  Returns true if it still has objects. */
bool tc__sweep_span(tc__span *s);
/* Sweeps everything not yet swept this cycle.  Mutator, outside pauses. */
void tc__sweep_finish(void);
/* Sweeps up to n unswept spans under one lock hold; returns false when
 * nothing is left to sweep (the background sweeper's step). */
bool tc__sweep_some(unsigned n);

/* Called by the sweeper for each object it frees (poisoning in debug). */
void tc__heap_poison(void *p, size_t n);

/* Marks slot i of s as tracked (track_bits; the bitmap is allocated on
 * first use); false when out of metadata.  Takes the heap lock.  Mutator,
 * on an object it just allocated. */
bool tc__span_track(tc__span *s, uint32_t i);
/* The sweep's free hook: called for each tracked object it frees, heap
 * lock held, after which the slot is untracked.  Set by the collector
 * (tc_init); it must take no lock but its own leaf (HACKING.md). */
extern void (*tc__heap_on_free)(void *obj, size_t size);

#endif /* TC_HEAP_H */
