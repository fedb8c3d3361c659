/*
 * collector/mark.c -- marking: greying references and scanning grey
 * objects from an explicit work list.
 *
 * Algorithm (tri-color invariant: collector/collector.h).
 *   1. tc__mark_ref(p): find p's span through the page map (not ours, or a
 *      free span: ignore; debug builds abort on pointers into the heap that
 *      are not allocated object starts).  If its mark bit is clear, set it
 *      (grey) and push p on the grey stack, unless the span is noscan, in
 *      which case the object is black at once.
 *   2. tc__mark_drain: pop a grey object, look up its type id in the span's
 *      side array and scan it: read each pointer-offset slot (repeating every
 *      `stride` bytes over the object) or call the trace callback, greying
 *      every reference.  The object is black afterwards.
 *   3. The grey stack is an mmap'd array that doubles with mremap; marking
 *      never recurses, so a 10-million-node list or a deep tree needs no C
 *      stack (one entry per grey object; a list keeps it at one).
 *   4. Pointers into the middle of an object are not references (DESIGN
 *      section 2); in release builds the containing object is marked rather
 *      than letting a bug free a live object.
 * Memory order: the world is stopped while marking, so plain accesses
 * suffice; slots are read with relaxed atomics, matching the mutator's
 * relaxed stores (the concurrent marker of a later stage relies on it).
 */
#define _GNU_SOURCE 1 /* mremap */
#include "collector/collector.h"

#include <string.h>
#include <sys/mman.h>

struct tc_visitor {
  void *obj;     /* the object being traced, for messages */
};

/* A grey object with what scanning it needs, so the drain loop does not
 * look its span up again. */
typedef struct grey_entry {
  char *obj;
  uint32_t size;    /* bytes the object occupies (its size class) */
  uint32_t type;    /* type id */
} grey_entry;

static grey_entry *grey;  /* grey stack */
static size_t ngrey;      /* entries in use */
static size_t grey_cap;   /* capacity in entries */

#define GREY_INITIAL ((size_t)1 << 15) /* 512 KiB of address space */

void tc__mark_init(void) {
  grey = mmap(NULL, GREY_INITIAL * sizeof *grey, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (grey == MAP_FAILED)
    tc__fatal("cannot map the grey stack");
  grey_cap = GREY_INITIAL;
  ngrey = 0;
}

void tc__mark_destroy(void) {
  if (grey)
    munmap(grey, grey_cap * sizeof *grey);
  grey = NULL;
  grey_cap = ngrey = 0;
}

static TC_NOINLINE void grey_grow(void) {
  size_t cap = grey_cap * 2;
  void *n = mremap(grey, grey_cap * sizeof *grey, cap * sizeof *grey,
                   MREMAP_MAYMOVE);
  if (n == MAP_FAILED)
    tc__fatal("out of memory growing the grey stack to %zu entries", cap);
  grey = n;
  grey_cap = cap;
}

static TC_COLD TC_NORETURN void bad_ref(void *p, const void *from,
                                        const char *what) {
  tc__span *fs = from ? tc__span_of(from) : NULL;
  const char *tname = "?";
  if (fs && fs->state != TC__SPAN_FREE && fs->types) {
    tc_type *t = tc__type_get(fs->types[tc__span_index(fs, from)]);
    if (t && t->name)
      tname = t->name;
  }
  if (from)
    tc__fatal("reference %p %s (found in %p%s%s)", p, what, from,
              fs ? ", an object of type " : ", a root slot",
              fs ? tname : "");
  tc__fatal("reference %p %s", p, what);
}

/* Greys p (see the header comment, step 1). */
static inline __attribute__((always_inline)) void mark_one(void *p,
                                                            const void *from) {
  tc__span *s = tc__span_of(p);
  if (s == NULL)
    return;
  uint8_t state = s->state;
  if (state == TC__SPAN_FREE) {
    if (TC_DEBUG >= 1)
      bad_ref(p, from, "points into free heap pages (freed object?)");
    return;
  }
  uint32_t i = tc__span_index(s, p);
  if (TC_DEBUG >= 1 && tc__span_obj(s, i) != (char *)p)
    bad_ref(p, from, "is not the start of an object (interior pointer)");
  if (TC_DEBUG >= 2 && !tc__bit_get(s->alloc_bits, i) && !s->cached)
    bad_ref(p, from, "points to a free slot (freed object?)");
  uint64_t bit = (uint64_t)1 << (i & 63);
  uint64_t *w = &s->mark_bits[i >> 6];
  if (*w & bit)
    return;
  __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
  tc__h.marked += s->elem_size;
  if (s->types == NULL)
    return; /* noscan: black at once */
  if (TC__UNLIKELY(ngrey == grey_cap))
    grey_grow();
  grey_entry *e = &grey[ngrey++];
  e->obj = tc__span_obj(s, i);
  e->size = s->elem_size;
  e->type = s->types[i];
}

void tc__mark_ref(void *p, const void *from) { mark_one(p, from); }

void tc_visit(tc_visitor *v, void *ref) {
  if (ref)
    tc__mark_ref(ref, v ? v->obj : NULL);
}

void tc_visit_slot(tc_visitor *v, void **slot) {
  void *ref = tc__load_relaxed(slot);
  if (ref)
    tc__mark_ref(ref, v ? v->obj : NULL);
}

/* Scans one grey object, greying what it references. */
static void scan_entry(const grey_entry *e) {
  tc_type *t = tc__type_get(e->type);
  char *obj = e->obj;
  if (t == NULL)
    return; /* no type: holds no references */
  if (t->trace) {
    tc_visitor v = {obj};
    t->trace(obj, &v);
    return;
  }
  uint32_t n = t->noffsets;
  if (n == 0)
    return;
  const uint32_t *off = t->offsets;
  size_t size = e->size;
  size_t stride = t->stride;
  size_t base = 0;
  do {
    for (uint32_t k = 0; k < n; k++) {
      size_t o = base + off[k];
      if (o + sizeof(void *) > size)
        return;
      void *ref = tc__load_relaxed((void **)(obj + o));
      if (ref)
        mark_one(ref, obj);
    }
    base += stride;
  } while (stride && base < size);
}

void tc__mark_scan_object(char *obj) {
  tc__span *s = tc__span_of(obj);
  uint32_t i = tc__span_index(s, obj);
  grey_entry e = {obj, s->elem_size, s->types ? s->types[i] : 0};
  scan_entry(&e);
}

/* Objects leave the grey stack through a small FIFO: each is prefetched
 * when it enters and scanned when it leaves, so the cache misses of the
 * next few objects overlap with the scanning of this one (Boehm and Go
 * do the same). */
#define PREFETCH_RING 8

void tc__mark_drain(void) {
  grey_entry ring[PREFETCH_RING];
  unsigned head = 0, count = 0;
  for (;;) {
    while (count < PREFETCH_RING && ngrey) {
      grey_entry *e = &grey[--ngrey];
      __builtin_prefetch(e->obj);
      ring[(head + count) % PREFETCH_RING] = *e;
      count++;
    }
    if (count == 0)
      return;
    grey_entry e = ring[head];
    head = (head + 1) % PREFETCH_RING;
    count--;
    scan_entry(&e);
  }
}
