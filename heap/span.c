/*
 * heap/span.c -- span records: list operations, the layout of a new span's
 * side metadata, and finding runs of free slots.
 *
 * A small span's record is one metadata block:
 *     [tc__span][mark bits][alloc bits][type ids (scan spans only)]
 * with nelems bits per bitmap and a uint16_t type id per slot.  For the
 * densest class (8 B, 1024 slots) that is 2.4 KiB per 8 KiB page; for the
 * common 16-48 B classes 0.2-1.1 KiB.  Finalizer bits are allocated
 * separately, only for spans that hold a finalizable object, and so are
 * track bits, for spans holding an object the collector keeps side
 * records for (a heap-profile sample, collector/profile.c).
 *
 * Runs.  Allocation hands a cache the next maximal range of free slots
 * [lo, hi) at or after freeindex, found by scanning alloc_bits a word at a
 * time (count trailing zeros/ones), and moves freeindex to hi.  Slots below
 * freeindex are allocated or lie in the run the cache holds.  A new small
 * span's pages are inaccessible to ASan and valgrind until runs hand its
 * slots out; the tail past the last object stays so (heap/poison.h).
 */
#include "heap/poison.h"

#include <string.h>

void tc__spanlist_push(tc__spanlist *l, tc__span *s, uint8_t which) {
  s->prev = NULL;
  s->next = l->first;
  if (l->first)
    l->first->prev = s;
  else
    l->last = s;
  l->first = s;
  l->count++;
  s->list = which;
}

void tc__spanlist_remove(tc__spanlist *l, tc__span *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    l->first = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    l->last = s->prev;
  s->next = s->prev = NULL;
  s->list = TC__LIST_NONE;
  l->count--;
}

tc__span *tc__spanlist_pop(tc__spanlist *l) {
  tc__span *s = l->first;
  if (s)
    tc__spanlist_remove(l, s);
  return s;
}

void tc__spanlist_splice(tc__spanlist *dst, tc__spanlist *src) {
  if (src->first == NULL)
    return;
  src->last->next = dst->first;
  if (dst->first)
    dst->first->prev = src->last;
  else
    dst->last = src->last;
  dst->first = src->first;
  dst->count += src->count;
  src->first = src->last = NULL;
  src->count = 0;
}

/* Bitmaps of a span of n slots: mark and alloc bits, and grey bits for
 * the span mark order (markorder=span: small spans that hold references
 * queue as a whole, collector/spanq.c). */
static size_t nbitmaps(uint32_t n, bool scan) {
  return 2 + (scan && n > 1 &&
              tc__debug_settings.markorder == TC__MARKORDER_SPAN);
}

/* Bytes of metadata for a span of n slots. */
static size_t meta_bytes(uint32_t n, bool scan) {
  return sizeof(tc__span) +
         nbitmaps(n, scan) * tc__bitmap_words(n) * sizeof(uint64_t) +
         (scan ? n * sizeof(uint16_t) : 0);
}

static void layout(tc__span *s, uint32_t n, bool scan) {
  uint64_t *bits = (uint64_t *)(s + 1);
  size_t words = tc__bitmap_words(n);
  size_t nb = nbitmaps(n, scan);
  memset(bits, 0, nb * words * sizeof(uint64_t));
  s->mark_bits = bits;
  s->alloc_bits = bits + words;
  s->grey_bits = nb == 3 ? bits + 2 * words : NULL;
  s->queued = 0;
  s->qnext = NULL;
  s->types = scan ? (uint16_t *)(bits + nb * words) : NULL;
  if (scan)
    memset(s->types, 0, n * sizeof(uint16_t));
  s->nelems = n;
  s->noscan = !scan;
  s->fin_bits = NULL;
  s->track_bits = NULL;
  s->has_fin = 0;
  s->fin_next = NULL;
  s->nalloc = 0;
  s->freeindex = 0;
  s->run_start = 0;
  s->run_end = 0;
  s->cached = 0;
  s->sweepgen = tc__h.sweepgen;
}

tc__span *tc__span_new_small(unsigned spanclass) {
  unsigned cls = spanclass >> 1;
  bool scan = !(spanclass & 1);
  const tc__sizeclass *c = &tc__classes[cls];
  tc__span *s = tc__pages_alloc(c->pages, meta_bytes(c->objects, scan));
  if (s == NULL)
    return NULL;
  /* no object yet: runs hand out the slots */
  tc__poison_pages(s->base, s->npages * TC__PAGE_SIZE);
  layout(s, c->objects, scan);
  s->cls = (uint8_t)cls;
  s->elem_size = c->size;
  s->divmul = tc__class_divmul(cls);
  tc__store_release(&s->state, TC__SPAN_SMALL);
  return s;
}

tc__span *tc__span_new_large(size_t size, bool scan) {
  size_t npages = (size + TC__PAGE_SIZE - 1) / TC__PAGE_SIZE;
  if (npages * TC__PAGE_SIZE > UINT32_MAX)
    return NULL; /* objects of 4 GiB and more are not supported */
  tc__span *s = tc__pages_alloc(npages, meta_bytes(1, scan));
  if (s == NULL)
    return NULL;
  layout(s, 1, scan);
  s->cls = 0;
  s->elem_size = (uint32_t)(npages * TC__PAGE_SIZE);
  s->divmul = 0; /* every offset maps to slot 0 */
  return s;      /* the caller publishes state LARGE */
}

bool tc__span_next_run(tc__span *s, uint32_t *lo, uint32_t *hi) {
  uint32_t n = s->nelems;
  uint32_t i = s->freeindex;
  /* find the first free slot (clear alloc bit) at or after i */
  while (i < n) {
    uint64_t w = ~s->alloc_bits[i >> 6] >> (i & 63);
    if (w) {
      i += (uint32_t)__builtin_ctzll(w);
      break;
    }
    i = (i | 63) + 1;
  }
  if (i >= n) {
    s->freeindex = n;
    return false;
  }
  /* find the first allocated slot after it */
  uint32_t j = i;
  while (j < n) {
    uint64_t w = s->alloc_bits[j >> 6] >> (j & 63);
    if (w) {
      j += (uint32_t)__builtin_ctzll(w);
      break;
    }
    j = (j | 63) + 1;
  }
  if (j > n)
    j = n;
  *lo = i;
  *hi = j;
  s->freeindex = j;
  return true;
}

bool tc__span_track(tc__span *s, uint32_t i) {
  size_t bytes = tc__bitmap_words(s->nelems) * sizeof(uint64_t);
  tc__lock_acquire(&tc__h.lock);
  if (s->track_bits == NULL)
    s->track_bits = tc__meta_alloc(bytes);
  bool ok = s->track_bits != NULL;
  if (ok)
    tc__bit_set(s->track_bits, i);
  tc__lock_release(&tc__h.lock);
  return ok;
}
