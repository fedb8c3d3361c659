/*
 * heap/pageheap.c -- the page heap: free spans, splitting, coalescing and
 * returning memory to the OS.
 *
 * Algorithm.
 *   1. Free spans sit on lists by size, n = 1..127 pages on list n and 128
 *      pages or more on list 0, in two sets: spans whose pages are still
 *      backed (dirty) and spans returned to the OS (released).  Allocation
 *      of n pages takes the first span on the smallest non-empty list >= n,
 *      else the best fit on list 0, from the dirty set, then in the same
 *      way from the released set, else a dirty span joined with its
 *      released neighbours when together they are large enough (counted
 *      dirty whole: accounting errs toward resident), else carves fresh
 *      pages from the arena growth window (mapping new arenas when the
 *      window is too small; its unused tail becomes a free span).  Dirty
 *      pages first: a released page costs a page fault and zeroing by the
 *      kernel when it is used again.
 *   2. A larger free span is split: the request takes its first pages, the
 *      rest keeps the free span's record and goes back on a list.
 *   3. A freed span merges with dirty free neighbours on both sides (found
 *      with the page map), and a span the scavenger releases with released
 *      ones, so the page heap never holds two adjacent free spans of the
 *      same set.  The largest part keeps its record; only the
 *      others are relabelled.  A released neighbour stays apart: a merged
 *      span would be dirty or released, and either is wrong for some of
 *      its pages.  (Counting the whole as dirty, as this heap once did,
 *      overstated the resident pages, so the scavenger released pages
 *      every other cycle that allocation, preferring no set, then faulted
 *      in again: binary-trees 21 in hybrid mode took 0.9 to 1.4 million
 *      page faults, a quarter of its run time, where stw mode took 60
 *      thousand.)  A request that only the two together would serve
 *      joins them then (step 1), rather than growing the heap.
 *   4. Every page of a span, free or in use, maps to that span's record in
 *      the page map; a page never handed out maps to NULL.  So a lookup of
 *      any heap address finds the right record or nothing, never a stale one.
 *   5. Scavenging returns free pages to the OS with madvise(MADV_DONTNEED),
 *      largest dirty spans first, until in-use plus dirty free pages fall
 *      under the caller's target.  Released pages read as zero, so a span
 *      made only of released pages needs no zeroing.
 *   6. Under ASan and valgrind, freed pages are inaccessible and pages
 *      handed out accessible (valgrind: defined when they read as zero);
 *      the caller decides what of them holds objects (heap/poison.h).
 * All functions: heap lock held.
 */
#include "heap/poison.h"

#include <string.h>
#include <sys/mman.h>

static size_t list_index(size_t npages) {
  return npages < TC__FREE_LISTS ? npages : 0;
}

/* The list a free span of f's size and set belongs on (step 1). */
static tc__spanlist *list_of(const tc__span *f) {
  tc__spanlist *set = f->released ? tc__h.free_released : tc__h.free;
  return &set[list_index(f->npages)];
}

static void free_insert(tc__span *f) {
  f->state = TC__SPAN_FREE;
  tc__spanlist_push(list_of(f), f, TC__LIST_FREE);
  if (f->released)
    tc__h.released += f->npages * TC__PAGE_SIZE;
  else
    tc__h.free_dirty += f->npages * TC__PAGE_SIZE;
}

static void free_remove(tc__span *f) {
  tc__spanlist_remove(list_of(f), f);
  if (f->released)
    tc__h.released -= f->npages * TC__PAGE_SIZE;
  else
    tc__h.free_dirty -= f->npages * TC__PAGE_SIZE;
}

static tc__span *free_record(char *base, size_t npages, bool released) {
  tc__span *f = tc__meta_alloc(sizeof(tc__span));
  if (f == NULL)
    return NULL;
  f->base = base;
  f->npages = npages;
  f->released = released;
  f->meta_size = sizeof(tc__span);
  return f;
}

/* Returns a free span of at least npages from one set, or NULL. */
static tc__span *set_find(tc__spanlist *set, size_t npages) {
  for (size_t i = npages; i < TC__FREE_LISTS; i++)
    if (set[i].first)
      return set[i].first;
  tc__span *best = NULL;
  for (tc__span *f = set[0].first; f; f = f->next)
    if (f->npages >= npages && (best == NULL || f->npages < best->npages))
      best = f;
  return best;
}

static tc__span *join_find(size_t npages);

/* Finds a free span of at least npages, dirty ones first, then released
 * ones, then a dirty one joined with released neighbours (step 1),
 * removed from its list. */
static tc__span *free_find(size_t npages) {
  tc__span *f = set_find(tc__h.free, npages);
  if (f == NULL)
    f = set_find(tc__h.free_released, npages);
  if (f)
    free_remove(f);
  else
    f = join_find(npages); /* off the lists already */
  return f;
}

static tc__span *coalesce(tc__span *f);

/* Takes npages fresh pages from the growth window, mapping more if needed. */
static tc__span *fresh_pages(size_t npages) {
  size_t bytes = npages * TC__PAGE_SIZE;
  size_t left = (size_t)(tc__h.grow_end - tc__h.grow_next);
  if (left < bytes) {
    if (left > 0) {
      /* Salvage the window's tail: never touched, so already "released". */
      tc__span *tail = free_record(tc__h.grow_next, left / TC__PAGE_SIZE, true);
      if (tail == NULL)
        return NULL;
      tc__h.grow_next = tc__h.grow_end;
      tc__pagemap_set(tail);
      free_insert(coalesce(tail));
    }
    if (!tc__arena_map(bytes))
      return NULL;
  }
  tc__span *f = free_record(tc__h.grow_next, npages, true);
  if (f == NULL)
    return NULL;
  tc__h.grow_next += bytes;
  tc__h.released += bytes; /* counted as free until the caller takes it */
  return f;
}

tc__span *tc__pages_alloc(size_t npages, size_t meta_size) {
  if (tc__h.max_heap && tc__h.inuse + npages * TC__PAGE_SIZE > tc__h.max_heap)
    return NULL;
  tc__span *s = tc__meta_alloc(meta_size);
  if (s == NULL)
    return NULL;
  tc__span *f = free_find(npages);
  if (f == NULL) {
    f = fresh_pages(npages);
    if (f == NULL) {
      tc__meta_free(s, meta_size);
      return NULL;
    }
    tc__h.released -= npages * TC__PAGE_SIZE;
  } else if (f->released) {
    tc__h.released += f->npages * TC__PAGE_SIZE; /* undo free_remove */
    tc__h.released -= npages * TC__PAGE_SIZE;
  } else {
    tc__h.free_dirty += f->npages * TC__PAGE_SIZE;
    tc__h.free_dirty -= npages * TC__PAGE_SIZE;
  }
  s->base = f->base;
  s->npages = npages;
  s->needzero = !f->released;
  s->meta_size = meta_size;
  tc__poison_pages_out(s->base, npages * TC__PAGE_SIZE, f->released);
  if (f->npages > npages) {
    /* Split: the remainder keeps f's record; its pages already map to f. */
    f->base += npages * TC__PAGE_SIZE;
    f->npages -= npages;
    tc__spanlist_push(list_of(f), f, TC__LIST_FREE);
  } else {
    tc__meta_free(f, f->meta_size);
  }
  tc__pagemap_set(s);
  tc__h.inuse += npages * TC__PAGE_SIZE;
  return s;
}

/* Relabels every page of `from` as belonging to `to` in the page map. */
static void relabel(tc__span *from, tc__span *to) {
  for (size_t i = 0; i < from->npages; i++) {
    char *page = from->base + i * TC__PAGE_SIZE;
    tc__arena *ar = tc__h.dir[(uintptr_t)page >> TC__ARENA_SHIFT];
    tc__store_relaxed(&ar->pages[((uintptr_t)page >> TC__PAGE_SHIFT) &
                                 (TC__ARENA_PAGES - 1)], to);
  }
}

/* Merges two adjacent free spans, lo just below hi, of which the one on
 * a free list is taken off it; the merged span keeps the larger one's
 * set (callers merge within a set, but for join_find).  The larger keeps its record,
 * so only the smaller one's pages are relabelled: freeing a page next to
 * a huge free span costs O(1 page), not O(huge).  Returns the merged
 * span. */
static tc__span *merge(tc__span *lo, tc__span *hi) {
  free_remove(lo->list == TC__LIST_FREE ? lo : hi);
  tc__span *keep = lo->npages >= hi->npages ? lo : hi;
  tc__span *gone = keep == lo ? hi : lo;
  relabel(gone, keep);
  keep->npages = lo->npages + hi->npages;
  keep->base = lo->base;
  tc__meta_free(gone, gone->meta_size);
  return keep;
}

/* A free neighbour of the same set, which a free span merges with
 * (step 3). */
static bool mergeable(const tc__span *n, uint8_t released) {
  return n && n->state == TC__SPAN_FREE && n->list == TC__LIST_FREE &&
         n->released == released;
}

/* Merges free span f, on no list, with its free neighbours of the same
 * set (step 3); returns the merged span, on no list. */
static tc__span *coalesce(tc__span *f) {
  tc__span *before = tc__span_of(f->base - 1);
  if (mergeable(before, f->released))
    f = merge(before, f);
  tc__span *after = tc__span_of(f->base + f->npages * TC__PAGE_SIZE);
  if (mergeable(after, f->released))
    f = merge(f, after);
  return f;
}

void tc__pages_free(tc__span *s) {
  char *base = s->base;
  size_t npages = s->npages;
  tc__poison_pages(base, npages * TC__PAGE_SIZE);
  tc__h.inuse -= npages * TC__PAGE_SIZE;
  tc__meta_free(s, s->meta_size);
  tc__span *f = free_record(base, npages, false);
  if (f == NULL)
    tc__fatal("out of memory for heap metadata while freeing %zu pages", npages);
  tc__pagemap_set(f);
  free_insert(coalesce(f));
}

/* Step 1's last resort before the heap grows: a dirty free span and its
 * released neighbours that hold npages together, merged into one span
 * off the lists and counted dirty (the caller hands it out as a dirty
 * span: zeroed, its remainder filed dirty).  NULL if there is none.
 * Walks every dirty free span: only when nothing else fits. */
static tc__span *join_find(size_t npages) {
  for (size_t i = 0; i < TC__FREE_LISTS; i++)
    for (tc__span *d = tc__h.free[i].first; d; d = d->next) {
      tc__span *lo = tc__span_of(d->base - 1);
      tc__span *hi = tc__span_of(d->base + d->npages * TC__PAGE_SIZE);
      if (!mergeable(lo, 1))
        lo = NULL;
      if (!mergeable(hi, 1))
        hi = NULL;
      if (d->npages + (lo ? lo->npages : 0) + (hi ? hi->npages : 0) < npages)
        continue;
      free_remove(d);
      if (lo)
        d = merge(lo, d);
      if (hi)
        d = merge(d, hi);
      d->released = 0; /* the record kept may be a released one (the
                          join test's needzero check fails without this) */
      return d;
    }
  return NULL;
}

/* Returns one dirty free span's pages to the OS; it moves to the released
 * set, merged with released neighbours (the dirty lists, which the
 * scavenger walks, are left as they were but for f). */
static void release_span(tc__span *f) {
  free_remove(f);
  madvise(f->base, f->npages * TC__PAGE_SIZE, MADV_DONTNEED);
  f->released = 1;
  free_insert(coalesce(f));
}

/* Splits the last `npages` pages off the dirty free span f, releases them
 * and files them as a free span of their own.  False if out of metadata. */
static bool release_tail(tc__span *f, size_t npages) {
  tc__span *t = free_record(f->base + (f->npages - npages) * TC__PAGE_SIZE,
                            npages, false);
  if (t == NULL)
    return false;
  free_remove(f);
  f->npages -= npages;
  free_insert(f);
  relabel(t, t);
  free_insert(t);
  release_span(t);
  return true;
}

void tc__pages_scavenge(uint64_t keep_bytes) {
  for (size_t k = 0; k < TC__FREE_LISTS; k++) {
    size_t i = k == 0 ? 0 : TC__FREE_LISTS - k; /* free[0] (largest) first */
    tc__span *next;
    for (tc__span *f = tc__h.free[i].first; f; f = next) {
      next = f->next;
      uint64_t held = tc__h.inuse + tc__h.free_dirty;
      if (held <= keep_bytes)
        return;
      size_t excess = (size_t)((held - keep_bytes + TC__PAGE_SIZE - 1) /
                               TC__PAGE_SIZE);
      /* Release only what the target asks for: a whole span would be
       * faulted in again as soon as the heap grows back. */
      if (excess < f->npages) {
        release_tail(f, excess);
        return;
      }
      release_span(f);
    }
  }
}
