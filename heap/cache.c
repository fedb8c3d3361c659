/*
 * heap/cache.c -- allocation caches: refilling and releasing runs, and
 * large objects.
 *
 * A cache holds one run per span class (scan and noscan for each size
 * class).  The inline path bumps run->ptr; this file runs when a run is
 * empty.
 *   1. Release: the slots consumed from the run, [run_start, ptr), become
 *      allocated in alloc_bits and nalloc; unused slots are given back by
 *      moving freeindex to ptr and subtracting their bytes from heap.live.
 *   2. Refill: take the next run of the same span; else retire the span to
 *      the full list and take a span from the class's partial list (swept
 *      spans with free slots), else sweep unswept spans of the class until
 *      one has a free run, else allocate a fresh span from the page heap.
 *   3. The whole run counts as live when handed out (like Go's mcache), so
 *      heap.live can trigger a cycle before the run is used up.
 *   4. A run whose span may hold old bytes (needzero) is zeroed here, just
 *      before use, so the inline path never writes into the object.  The
 *      run is handed out to ASan and valgrind first (every slot, since the
 *      inline path allocates without calling here), and its unused tail
 *      made inaccessible again on release (heap/poison.h); a large object
 *      likewise.
 *   5. While a cycle marks (heap.alloc_black), a run is handed out with
 *      all its mark bits set, so everything allocated from it is black; on
 *      release the unused tail is unmarked again.  Large objects are
 *      marked when allocated.  Atomic bit updates: markers set other bits
 *      of the same words.
 * The cache is owned by one P (outside tc_run: the bare mutator); the
 * heap lock guards the spans and lists it touches.
 */
#include "heap/poison.h"

#include <string.h>

static tc__run *run_of(tc__mcache *c, unsigned sc) {
  return (sc & 1) ? &c->runs.noscan[sc >> 1] : &c->runs.scan[sc >> 1];
}

/* Gives the run back to its span; heap lock held. */
static void run_release(tc__run *r) {
  tc__span *s = r->span;
  uint32_t used_end = tc__span_index(s, r->ptr); /* exact: ptr is a slot start */
  tc__bits_set_range(s->alloc_bits, s->run_start, used_end);
  s->nalloc += used_end - s->run_start;
  /* the run as handed out: r->end may be cut short (a sample point) */
  char *end = tc__span_obj(s, s->run_end);
  uint64_t unused = (uint64_t)(end - r->ptr);
  tc__poison_objects_free(r->ptr, (uint32_t)(unused / s->elem_size),
                          s->elem_size);
  tc__sub_relaxed(&tc__h.live, (uint64_t)(unused));
  tc__sub_relaxed(&tc__h.total_alloc, (uint64_t)(unused));
  if (s->run_black) {
    /* the unused tail was pre-marked: white again, so the sweep keeps
     * only what was allocated */
    uint32_t end_i = used_end + (uint32_t)(unused / s->elem_size);
    tc__bits_update_range_atomic(s->mark_bits, used_end, end_i, false);
    tc__sub_relaxed(&tc__h.black_bytes, unused);
    s->run_black = 0;
  }
  if (r->ptr != end)
    s->freeindex = used_end;
  r->ptr = r->end = NULL;
  r->types = NULL;
  s->run = NULL;
  s->run_start = s->freeindex;
}

/* Points r at the run [lo, hi) of s. */
static void run_set(tc__run *r, tc__span *s, uint32_t lo, uint32_t hi) {
  size_t bytes = (size_t)(hi - lo) * s->elem_size;
  r->ptr = tc__span_obj(s, lo);
  r->end = r->ptr + bytes;
  r->types = s->types ? &s->types[lo] : NULL;
  r->span = s;
  s->run = r;
  s->run_start = lo;
  tc__poison_objects_out(r->ptr, hi - lo, s->elem_size);
  s->run_end = hi;
  if (s->needzero)
    memset(r->ptr, 0, bytes);
  if (tc__load_relaxed(&tc__h.alloc_black)) {
    /* allocate black while marking: the whole run is marked now, the
     * unused tail unmarked again when the run is released */
    tc__bits_update_range_atomic(s->mark_bits, lo, hi, true);
    tc__add_relaxed(&tc__h.black_bytes, (uint64_t)bytes);
    s->run_black = 1;
  }
  tc__add_relaxed(&tc__h.live, (uint64_t)(bytes));
  tc__add_relaxed(&tc__h.total_alloc, (uint64_t)(bytes));
}

/* Returns a swept span of class sc with a free run, uncached; heap locked. */
static tc__span *span_for_class(unsigned sc) {
  tc__span *s = tc__spanlist_pop(&tc__h.partial[sc]);
  if (s)
    return s;
  while ((s = tc__spanlist_pop(&tc__h.unswept[sc])) != NULL) {
    if (!tc__sweep_span(s))
      continue; /* emptied: its pages went back to the page heap */
    if (s->nalloc < s->nelems)
      return s;
    tc__spanlist_push(&tc__h.full[sc], s, TC__LIST_INUSE);
  }
  return tc__span_new_small(sc);
}

bool tc__cache_refill(tc__mcache *c, unsigned sc) {
  tc__run *r = run_of(c, sc);
  uint32_t lo, hi;
  tc__lock_acquire(&tc__h.lock);
  tc__span *s = r->span;
  if (s) {
    run_release(r);
    if (tc__span_next_run(s, &lo, &hi))
      goto found;
    s->cached = 0;
    r->span = NULL;
    tc__spanlist_push(&tc__h.full[sc], s, TC__LIST_INUSE);
  }
  for (;;) {
    s = span_for_class(sc);
    if (s == NULL) {
      tc__lock_release(&tc__h.lock);
      return false;
    }
    if (tc__span_next_run(s, &lo, &hi))
      break;
    tc__spanlist_push(&tc__h.full[sc], s, TC__LIST_INUSE);
  }
  s->cached = 1;
found:
  run_set(r, s, lo, hi);
  tc__lock_release(&tc__h.lock);
  return true;
}

/* Gives back the run of class sc and uncaches its span; heap locked. */
static void cache_drop(tc__mcache *c, unsigned sc) {
  tc__run *r = run_of(c, sc);
  tc__span *s = r->span;
  if (s == NULL)
    return;
  run_release(r);
  r->span = NULL;
  s->cached = 0;
  /* May have free slots after freeindex; refill will find out. */
  tc__spanlist_push(&tc__h.partial[sc], s, TC__LIST_INUSE);
}

void tc__cache_flush(tc__mcache *c) {
  tc__lock_acquire(&tc__h.lock);
  for (unsigned sc = 0; sc < TC__NSPANCLASS; sc++)
    cache_drop(c, sc);
  tc__lock_release(&tc__h.lock);
}

void tc__cache_drop(tc__mcache *c, unsigned sc) {
  tc__lock_acquire(&tc__h.lock);
  cache_drop(c, sc);
  tc__lock_release(&tc__h.lock);
}

void *tc__large_alloc(size_t size, uint16_t type_id, bool scan) {
  tc__lock_acquire(&tc__h.lock);
  tc__span *s = tc__span_new_large(size, scan);
  if (s == NULL) {
    tc__lock_release(&tc__h.lock);
    return NULL;
  }
  tc__poison_objects_out(s->base, 1, s->elem_size);
  if (s->needzero)
    memset(s->base, 0, s->elem_size);
  if (scan)
    s->types[0] = type_id;
  tc__bit_set(s->alloc_bits, 0);
  if (tc__load_relaxed(&tc__h.alloc_black)) {
    tc__bits_update_range_atomic(s->mark_bits, 0, 1, true);
    tc__add_relaxed(&tc__h.black_bytes, (uint64_t)s->elem_size);
  }
  s->nalloc = 1;
  tc__spanlist_push(&tc__h.large, s, TC__LIST_INUSE);
  tc__add_relaxed(&tc__h.live, (uint64_t)(s->elem_size));
  tc__add_relaxed(&tc__h.total_alloc, (uint64_t)(s->elem_size));
  tc__store_release(&s->state, TC__SPAN_LARGE);
  tc__lock_release(&tc__h.lock);
  return s->base;
}
