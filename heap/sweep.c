/*
 * heap/sweep.c -- reclaiming unmarked objects, span by span.
 *
 * 1. At mark termination (world stopped, caches flushed) tc__sweep_start
 *    advances heap.sweepgen by 2 and moves every in-use span to the
 *    unswept lists: O(classes), the spans themselves are not touched.
 * 2. A span is swept before its slots are reused: lazily by the cache
 *    refill of its class, and by tc__sweep_finish, which sweeps the rest
 *    (before the next cycle starts, or when tc_gc() finishes the cycle).
 *    Sweeping never runs inside a pause.  Under the scheduler the
 *    collector thread also sweeps in the background, a few spans per lock
 *    hold (tc__sweep_some), so refills rarely find unswept spans.
 * 3. Sweeping a small span: survivors are exactly the marked slots, so the
 *    mark bitmap becomes the alloc bitmap (the two pointers are swapped and
 *    the new mark bitmap cleared).  Freed slots are filled with 0xdb
 *    (TC_DEBUG >= 2), then made inaccessible to ASan and valgrind
 *    (tc__poison_object_free, heap/poison.h; the loop over the dead slots
 *    runs only when one of the two is on), and the span is marked needzero
 *    so its runs are zeroed before reuse.  A span left with no objects
 *    returns its pages to the page heap.
 * 4. A large span is either kept (mark cleared) or freed whole, its
 *    object filled and made inaccessible the same way.
 * 5. Freed objects with a track bit (the collector keeps side records for
 *    them: heap-profile samples, wbcheck snapshots) are reported through
 *    tc__heap_on_free before their slot is reused; a span's track bits are
 *    freed with the span.  Spans without track bits pay one NULL test.
 * Objects with finalizers are never freed here unfinalized: mark
 * termination resurrects (marks) them first (collector/finalizer.c).
 */
#include "heap/poison.h"

#include <limits.h>
#include <string.h>

void (*tc__heap_on_free)(void *obj, size_t size);

void tc__heap_poison(void *p, size_t n) {
  if (TC_DEBUG >= 2)
    memset(p, 0xdb, n);
}

/* Reports the tracked objects among the freed ones of bitmap word w
 * (step 5) and untracks them; heap lock held. */
static TC_NOINLINE void free_tracked(tc__span *s, size_t w, uint64_t dead) {
  uint64_t gone = dead & s->track_bits[w];
  s->track_bits[w] &= ~gone;
  for (; gone; gone &= gone - 1) {
    uint32_t i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(gone));
    if (tc__heap_on_free)
      tc__heap_on_free(tc__span_obj(s, i), s->elem_size);
  }
}

/* Frees s's track bits (the span is being freed); heap lock held. */
static void untrack_span(tc__span *s) {
  if (s->track_bits == NULL)
    return;
  tc__meta_free(s->track_bits, tc__bitmap_words(s->nelems) * sizeof(uint64_t));
  s->track_bits = NULL;
}

void tc__sweep_start(void) {
  tc__lock_acquire(&tc__h.lock);
  /* caches are flushed: live is exactly the allocated slots, and marked
   * (set by the collector before this) the ones that survive */
  tc__store_relaxed(&tc__h.sweep_debt,
                    (int64_t)tc__load_relaxed(&tc__h.live) -
                        (int64_t)tc__load_relaxed(&tc__h.marked));
  tc__h.sweepgen += 2;
  tc__h.cycle++;
  for (unsigned sc = 0; sc < TC__NSPANCLASS; sc++) {
    TC_CHECK(tc__h.unswept[sc].first == NULL);
    tc__spanlist_splice(&tc__h.unswept[sc], &tc__h.partial[sc]);
    tc__spanlist_splice(&tc__h.unswept[sc], &tc__h.full[sc]);
  }
  tc__spanlist_splice(&tc__h.large_unswept, &tc__h.large);
  tc__lock_release(&tc__h.lock);
}

/* Sweeps a small span; true if objects remain. */
static bool sweep_small(tc__span *s) {
  size_t words = tc__bitmap_words(s->nelems);
  uint32_t live = 0;
  for (size_t w = 0; w < words; w++) {
    uint64_t dead = s->alloc_bits[w] & ~s->mark_bits[w];
    live += (uint32_t)__builtin_popcountll(s->mark_bits[w]);
    if (TC__UNLIKELY(s->track_bits != NULL) && (dead & s->track_bits[w]))
      free_tracked(s, w, dead);
    if (TC_DEBUG >= 2 || tc__poison_on()) {
      while (dead) {
        uint32_t i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(dead));
        tc__heap_poison(tc__span_obj(s, i), s->elem_size);
        tc__poison_object_free(tc__span_obj(s, i), s->elem_size);
        dead &= dead - 1;
      }
    }
  }
  TC_CHECK(live <= s->nalloc);
  if (s->grey_bits) { /* markorder=span: the mark left nothing grey */
    TC_CHECK(tc__load_relaxed(&s->queued) == 0);
    for (size_t w = 0; w < words; w++) {
      TC_CHECK(tc__debug_settings.markorderbug || s->grey_bits[w] == 0);
      s->grey_bits[w] = 0; /* markorderbug=1 leaves some set */
    }
  }
  uint32_t freed = s->nalloc - live;
  uint64_t *old_alloc = s->alloc_bits;
  s->alloc_bits = s->mark_bits;
  s->mark_bits = old_alloc;
  memset(s->mark_bits, 0, words * sizeof(uint64_t));
  s->nalloc = live;
  s->freeindex = 0;
  if (freed) {
    s->needzero = 1;
    tc__sub_relaxed(&tc__h.live, (uint64_t)((uint64_t)freed * s->elem_size));
    tc__sub_relaxed(&tc__h.sweep_debt, (int64_t)freed * s->elem_size);
    tc__add_relaxed(&tc__h.total_freed, (uint64_t)((uint64_t)freed * s->elem_size));
  }
  s->sweepgen = tc__h.sweepgen;
  return live != 0;
}

bool tc__sweep_span(tc__span *s) {
  TC_CHECK(s->sweepgen == tc__h.sweepgen - 2);
  bool keep;
  if (s->state == TC__SPAN_LARGE) {
    keep = tc__bit_get(s->mark_bits, 0);
    s->mark_bits[0] = 0;
    s->sweepgen = tc__h.sweepgen;
    if (!keep) {
      if (s->track_bits && (s->track_bits[0] & 1))
        free_tracked(s, 0, 1);
      tc__heap_poison(s->base, s->elem_size);
      tc__poison_object_free(s->base, s->elem_size);
      tc__sub_relaxed(&tc__h.live, (uint64_t)(s->elem_size));
      tc__sub_relaxed(&tc__h.sweep_debt, (int64_t)s->elem_size);
      tc__add_relaxed(&tc__h.total_freed, (uint64_t)(s->elem_size));
    }
  } else {
    keep = sweep_small(s);
  }
  if (!keep) {
    TC_CHECK(!s->has_fin);
    untrack_span(s);
    tc__pages_free(s);
  }
  return keep;
}

/* Sweeps up to n unswept spans; heap lock held.  Returns true if some
 * are left. */
static bool sweep_locked(unsigned n) {
  for (unsigned sc = 0; sc < TC__NSPANCLASS && n > 0; sc++) {
    tc__span *s;
    while (n > 0 && (s = tc__spanlist_pop(&tc__h.unswept[sc])) != NULL) {
      n--;
      if (!tc__sweep_span(s))
        continue;
      if (s->nalloc < s->nelems)
        tc__spanlist_push(&tc__h.partial[sc], s, TC__LIST_INUSE);
      else
        tc__spanlist_push(&tc__h.full[sc], s, TC__LIST_INUSE);
    }
  }
  tc__span *s;
  while (n > 0 && (s = tc__spanlist_pop(&tc__h.large_unswept)) != NULL) {
    n--;
    if (tc__sweep_span(s))
      tc__spanlist_push(&tc__h.large, s, TC__LIST_INUSE);
  }
  if (n > 0)
    return false;
  for (unsigned sc = 0; sc < TC__NSPANCLASS; sc++)
    if (tc__h.unswept[sc].first)
      return true;
  return tc__h.large_unswept.first != NULL;
}

bool tc__sweep_some(unsigned n) {
  tc__lock_acquire(&tc__h.lock);
  bool more = sweep_locked(n);
  tc__lock_release(&tc__h.lock);
  return more;
}

void tc__sweep_finish(void) {
  tc__lock_acquire(&tc__h.lock);
  sweep_locked(UINT_MAX);
  tc__lock_release(&tc__h.lock);
}
