/*
 * collector/mark.c -- marking: greying references and scanning grey
 * objects from explicit work lists, one per marking thread (and, with
 * markorder=span, one queue of spans for all: collector/spanq.c).
 *
 * Algorithm (tri-color invariant: collector/collector.h).
 *   1. Greying p: find p's span through the page map (not ours: ignore; a
 *      free span or an interior pointer: a bug, reported in checked builds).
 *      If its mark bit is clear, set it with an atomic OR and push p, with
 *      its size and type id, on this marker's grey stack, unless the span is
 *      noscan, in which case the object is black at once.
 *   2. Draining: pop a grey object and scan it: read each pointer-offset
 *      slot (repeating every `stride` bytes over the object) or call the
 *      trace callback, greying every reference.  It is black afterwards.
 *      A record whose references all lie in its first 64 words is read
 *      through its type's bit mask of words (ptrmask), last word first.
 *   3. Popped objects pass through a FIFO of 8 before they are scanned; each
 *      is prefetched when it enters, so several cache misses overlap (Boehm
 *      and Go do the same; it halved the mark time of binary-trees).  The
 *      scan is inlined into that loop, which keeps its counts in
 *      registers (binary-trees 21, hybrid: mark CPU -7%).
 *   4. A grey stack is an mmap'd array that doubles with mremap; marking
 *      never recurses, so a 10-million-node list or a deep tree needs no C
 *      stack.
 *   5. Several markers run at once (collector/workers.c moves packets of
 *      grey entries between them).  Two markers may race to grey the same
 *      object: the atomic OR makes exactly one of them push it.  Marked
 *      bytes are counted per marker and summed at the end.
 *   6. markorder=span: step 1 sets the object's grey bit in its span and
 *      queues the span instead of pushing the object (small spans that
 *      hold references); a drain whose stack is empty takes spans off the
 *      queue and scans each whole (scan_span; collector/spanq.c has the
 *      protocol and its memory-order argument).
 * Memory order: the world is stopped while marking; the mutator's stores
 * happened before the markers started (the pool's lock hands over).  Slots
 * are read with relaxed atomics to match the mutator's relaxed stores.
 * Rejected: mark bytes (Boehm's choice for parallel marking): 8x the
 * metadata for no measured gain, since an atomic OR on an uncontended
 * cache line cost nothing measurable next to the cache misses.
 */
#define _GNU_SOURCE 1 /* mremap */
#include "collector/collector.h"

#include <string.h>
#include <sys/mman.h>

struct tc_visitor {
  tc__marker *m;  /* who is tracing */
  void *obj;      /* the object being traced, for messages */
};

#define GREY_INITIAL ((size_t)1 << 15) /* entries: 512 KiB of address space */

void tc__marker_init(tc__marker *m) {
  memset(m, 0, sizeof *m);
  m->grey = mmap(NULL, GREY_INITIAL * sizeof *m->grey, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m->grey == MAP_FAILED)
    tc__fatal("cannot map a grey stack");
  m->cap = GREY_INITIAL;
}

void tc__marker_destroy(tc__marker *m) {
  if (m->grey)
    munmap(m->grey, m->cap * sizeof *m->grey);
  memset(m, 0, sizeof *m);
}

void tc__marker_grow(tc__marker *m) {
  size_t cap = m->cap * 2;
  void *n = mremap(m->grey, m->cap * sizeof *m->grey, cap * sizeof *m->grey,
                   MREMAP_MAYMOVE);
  if (n == MAP_FAILED)
    tc__fatal("out of memory growing a grey stack to %zu entries", cap);
  m->grey = n;
  m->cap = cap;
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

/* Returns the span of p if it is in use, else NULL (*freed: p lies in
 * free heap pages).  Consults m's span cache first, direct-mapped by page
 * (the children of an object usually share its span; a barrier's buffer
 * holds references into a few hot spans): valid within a cycle, since no
 * span is freed while marking, and only spans in use are cached. */
static inline __attribute__((always_inline)) tc__span *
span_lookup(tc__marker *m, const void *p, bool *freed) {
  uintptr_t page = (uintptr_t)p >> TC__PAGE_SHIFT;
  __typeof__(m->seen[0]) *e = &m->seen[page & (TC__MARKER_SPANS - 1)];
  if (e->page == page)
    return e->span;
  tc__span *s = tc__span_of(p);
  if (s == NULL)
    return NULL; /* not the heap's */
  /* acquire: pairs with the release that publishes a span a mutator just
   * laid out while marking runs concurrently */
  if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == TC__SPAN_FREE) {
    *freed = true;
    return NULL;
  }
  e->page = page;
  e->span = s;
  return s;
}

void tc__verify_ref(tc__marker *m, void *p, const void *from);

/* Greys p (step 1) for a marker that is not the verifier's; true if p
 * was white. */
static inline __attribute__((always_inline)) bool
mark_live(tc__marker *m, void *p, const void *from) {
  bool freed = false;
  tc__span *s = span_lookup(m, p, &freed);
  if (s == NULL) {
    if (TC_DEBUG >= 1 && freed)
      bad_ref(p, from, "points into free heap pages (freed object?)");
    return false;
  }
  uint32_t i = tc__span_index(s, p);
  if (TC__UNLIKELY(i >= s->nelems)) {
    /* the span's tail, past its last object: never an object */
    if (TC_DEBUG >= 1)
      bad_ref(p, from, "points past the last object of its span");
    return false;
  }
  if (TC_DEBUG >= 1 && tc__span_obj(s, i) != (char *)p)
    bad_ref(p, from, "is not the start of an object (interior pointer)");
  /* (alloc bits change under the heap lock while marking concurrently) */
  if (TC_DEBUG >= 2 && !tc__marking() && !tc__bit_get(s->alloc_bits, i) &&
      !s->cached)
    bad_ref(p, from, "points to a free slot (freed object?)");
  uint64_t *w = &s->mark_bits[i >> 6];
  uint64_t old = tc__load_relaxed(w);
  if ((old >> (i & 63)) & 1)
    return false; /* black or grey already: the common case */
  uint64_t bit = (uint64_t)1 << (i & 63);
  if (m->shared) {
    if (__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit)
      return false; /* another marker won the race */
  } else {
    tc__store_relaxed(w, old | bit); /* the only marker: no race */
  }
  m->marked += s->elem_size;
  if (s->types == NULL)
    return true; /* noscan: black at once */
  if (s->grey_bits) { /* markorder=span: grey in the span, queue the span */
    __atomic_fetch_or(&s->grey_bits[i >> 6], bit, __ATOMIC_SEQ_CST);
    uint32_t idle = 0;
    if (__atomic_load_n(&s->queued, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_compare_exchange_n(&s->queued, &idle, 1u, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      tc__spanq_push(s);
    return true;
  }
  if (TC__UNLIKELY(m->n == m->cap))
    tc__marker_grow(m);
  tc__grey_entry *e = &m->grey[m->n++];
  e->obj = tc__span_obj(s, i);
  e->size = s->elem_size;
  e->type = s->types[i];
  return true;
}

/* Greys p (step 1); true if p was white. */
static inline __attribute__((always_inline)) bool
mark_one(tc__marker *m, void *p, const void *from) {
  if (TC__UNLIKELY(m->verify)) {
    tc__verify_ref(m, p, from);
    return false;
  }
  return mark_live(m, p, from);
}

void tc__mark_ref(tc__marker *m, void *p, const void *from) {
  mark_one(m, p, from);
}

uint32_t tc__mark_batch(tc__marker *m, void *const *refs, uint32_t n) {
  uint32_t greyed = 0;
  if (TC__UNLIKELY(m->verify)) {
    for (uint32_t i = 0; i < n; i++)
      if (refs[i])
        tc__verify_ref(m, refs[i], NULL);
    return 0;
  }
  /* most references of a barrier's buffer are marked already (NULL old
   * values are skipped): mark_live's early exit is the loop */
  for (uint32_t i = 0; i < n; i++)
    if (refs[i] && TC__UNLIKELY(mark_live(m, refs[i], NULL)))
      greyed++;
  return greyed;
}

tc__marker *tc__visitor_marker(tc_visitor *v) { return v->m; }

void tc__mark_trace(tc__marker *m, char *obj, tc_trace_fn fn) {
  tc_visitor v = {m, obj};
  fn(obj, &v);
}

bool tc__marker_is_marked(tc__marker *m, const void *p) {
  if (m->verify)
    return tc__verify_reached(p);
  tc__span *s = tc__span_of(p);
  if (s == NULL)
    return true; /* not the heap's: never collected */
  uint32_t i = tc__span_index(s, p);
  /* relaxed: other markers and black refills set bits concurrently */
  return (tc__load_relaxed(&s->mark_bits[i >> 6]) >> (i & 63)) & 1;
}

void tc_visit(tc_visitor *v, void *ref) {
  if (ref)
    mark_one(v->m, ref, v->obj);
}

void tc_visit_slot(tc_visitor *v, void **slot) {
  void *ref = tc__load_relaxed(slot);
  if (ref)
    mark_one(v->m, ref, v->obj);
}

/* Scans one grey object (not a barrier's reference), greying what it
 * references (step 2); the caller counts it.  Inlined into drain's loop,
 * where it runs once per object: as a call it saved and restored six
 * registers each time. */
static inline __attribute__((always_inline)) void
scan_object(tc__marker *m, const tc__grey_entry *e) {
  const tc__typeinfo *ti = &tc__typeinfos[e->type];
  char *obj = e->obj;
  uint64_t bits = ti->ptrmask;
  if (TC__LIKELY(bits != 0 && e->size >= ti->extent)) {
    /* a record of references in its first 64 words, the common case:
     * last field first, as below */
    do {
      unsigned k = 63u - (unsigned)__builtin_clzll(bits);
      bits &= ~((uint64_t)1 << k);
      void *ref = tc__load_relaxed((void **)obj + k);
      if (ref)
        mark_one(m, ref, obj);
    } while (bits);
    return;
  }
  if (ti->trace) {
    tc_visitor v = {m, obj};
    ti->trace(obj, &v);
    return;
  }
  uint32_t n = ti->noffsets;
  const uint32_t *off = ti->offsets;
  size_t size = e->size;
  if (ti->stride == 0 && size >= ti->extent) {
    /* Last field first: the first field's target is then popped next,
     * which follows allocation order for lists and trees built depth
     * first, so the scan streams through memory. */
    for (uint32_t k = n; k-- > 0;) {
      void *ref = tc__load_relaxed((void **)(obj + off[k]));
      if (ref)
        mark_one(m, ref, obj);
    }
    return;
  }
  /* Arrays (stride), or an object allocated smaller than its type. */
  size_t stride = ti->stride ? ti->stride : size;
  for (size_t base = 0; base < size; base += stride)
    for (uint32_t k = 0; k < n; k++) {
      size_t o = base + off[k];
      if (o + sizeof(void *) > size)
        break;
      void *ref = tc__load_relaxed((void **)(obj + o));
      if (ref)
        mark_one(m, ref, obj);
    }
}

/* Scans one grey entry: a barrier's reference is shaded, an object
 * scanned and counted.  drain's loop repeats these lines with its counts
 * in locals: one helper taking the counts by pointer cost 3% more mark
 * instructions (callgrind, binary-trees 16). */
static void scan_entry(tc__marker *m, const tc__grey_entry *e) {
  if (TC__UNLIKELY(e->type == TC__GREY_REF)) {
    m->wb_shaded += mark_one(m, e->obj, NULL);
    return;
  }
  m->scanned++;
  m->scan_bytes += e->size;
  scan_object(m, e);
}

void tc__mark_scan_object(tc__marker *m, char *obj) {
  tc__span *s = tc__span_of(obj);
  uint32_t i = tc__span_index(s, obj);
  tc__grey_entry e = {obj, s->elem_size, s->types ? s->types[i] : 0};
  scan_entry(m, &e);
}

/* Scans the grey objects of s, a span taken off the span queue, in
 * address order, until none is left and s is off the queue (steps 2 and
 * 3 of collector/spanq.c). */
static void scan_span(tc__marker *m, tc__span *s) {
  size_t words = tc__bitmap_words(s->nelems);
  bool bug = tc__debug_settings.markorderbug;
  m->spans++;
  for (;;) {
    bool found;
    do { /* passes while queued = 1: nobody else queues s meanwhile */
      found = false;
      for (size_t w = 0; w < words; w++) {
        if (tc__load_relaxed(&s->grey_bits[w]) == 0)
          continue;
        uint64_t g = __atomic_exchange_n(&s->grey_bits[w], 0, __ATOMIC_ACQ_REL);
        found |= g != 0;
        while (g) {
          uint32_t i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(g));
          g &= g - 1;
          tc__grey_entry e = {tc__span_obj(s, i), s->elem_size, s->types[i]};
          scan_entry(m, &e);
        }
      }
    } while (found && !bug);
    __atomic_store_n(&s->queued, 0u, __ATOMIC_SEQ_CST);
    if (bug)
      return; /* markorderbug=1: late grey objects are left behind */
    bool late = false;
    for (size_t w = 0; w < words && !late; w++)
      late = __atomic_load_n(&s->grey_bits[w], __ATOMIC_SEQ_CST) != 0;
    uint32_t idle = 0;
    if (!late || !__atomic_compare_exchange_n(&s->queued, &idle, 1u, false,
                                              __ATOMIC_SEQ_CST,
                                              __ATOMIC_SEQ_CST))
      return; /* nothing late, or its marker queued s itself */
  }
}

#define PREFETCH_RING 8

/* Drains until the stack is empty or `budget` bytes were scanned; entries
 * still in the prefetch ring go back on the stack. */
static inline __attribute__((always_inline)) uint64_t
drain(tc__marker *m, uint64_t budget) {
  tc__marker_forget_span(m); /* spans may have changed since last time */
  uint64_t start = m->scan_bytes, spans0 = m->spans;
  /* the counts live in registers here (a mark-bit store could alias
   * m's fields), back in m for the pool and the budget every 64 */
  uint64_t scanned = m->scanned, bytes = m->scan_bytes;
  bool spans = tc__debug_settings.markorder == TC__MARKORDER_SPAN &&
               !m->verify;
  tc__grey_entry ring[PREFETCH_RING];
  unsigned head = 0, count = 0;
  for (;;) {
    while (count < PREFETCH_RING && m->n) {
      tc__grey_entry *e = &m->grey[--m->n];
      __builtin_prefetch(e->obj);
      ring[(head + count) % PREFETCH_RING] = *e;
      count++;
    }
    if (count == 0) {
      /* span order: the stack holds large objects only; then spans */
      tc__span *s = spans ? tc__spanq_pop() : NULL;
      if (s == NULL)
        break;
      m->scanned = scanned;
      m->scan_bytes = bytes;
      scan_span(m, s);
      tc__workers_share(m); /* wakes helpers; shares large objects */
      scanned = m->scanned;
      bytes = m->scan_bytes;
      if (bytes - start >= budget)
        break;
      continue;
    }
    /* not copied out: the slot is refilled only at the next turn */
    const tc__grey_entry *e = &ring[head];
    head = (head + 1) % PREFETCH_RING;
    count--;
    if (TC__UNLIKELY(e->type == TC__GREY_REF)) { /* a barrier's reference */
      m->wb_shaded += mark_one(m, e->obj, NULL);
      continue;
    }
    scanned++;
    bytes += e->size;
    scan_object(m, e);
    if (TC__UNLIKELY((scanned & 63) == 0)) {
      m->scanned = scanned;
      m->scan_bytes = bytes;
      if (m->n >= 2 && !m->verify)
        tc__workers_share(m);
      if (bytes - start >= budget)
        break;
    }
  }
  m->scanned = scanned;
  m->scan_bytes = bytes;
  /* budget spent: the ring's entries (oldest last) go back on the stack */
  while (count) {
    count--;
    if (m->n == m->cap)
      tc__marker_grow(m);
    m->grey[m->n++] = ring[(head + count) % PREFETCH_RING];
  }
  if (m->spans != spans0)
    tc__add_relaxed(&tc__gcc.spans, m->spans - spans0);
  return m->scan_bytes - start;
}

void tc__mark_drain(tc__marker *m) { drain(m, UINT64_MAX); }

uint64_t tc__mark_drain_budget(tc__marker *m, uint64_t budget) {
  uint64_t done = drain(m, budget);
  tc__add_relaxed(&tc__gc.scan_done, done);
  return done;
}
