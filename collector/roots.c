/*
 * collector/roots.c -- root stacks (TC_LOCALS frames) and global roots.
 *
 * Root stacks.  TC_LOCALS links a frame on the C stack into the current
 * root stack (tricolor/inline.h); a frame lists the addresses of the
 * locals it registers.  Scanning walks the frames from the top and greys
 * whatever each local holds at that moment.  Only the owner writes its
 * root stack, so stores to locals need no barrier.  Popping checks that the
 * frame is the top one: a frame popped out of order (a longjmp over a
 * scope, a frame copied) would leave dangling frames, so it aborts naming
 * both frames.  tc_roots_unwind() is the sanctioned way back after longjmp.
 *
 * Global roots.  A registry of (slot, n) ranges, guarded by a lock so any
 * thread may add or remove; scanned like heap slots (relaxed loads), and
 * concurrently with the mutators in the hybrid and insertion modes: stores
 * to them go through the barrier, and a range added or removed while
 * marking has its references shaded as stores would (root_change: a
 * thread that no pause stops does it inside the door of gcwork.c).
 */
#include "barrier/barrier.h"

#include <stdlib.h>
#include <string.h>

typedef struct root_range {
  void **slot;
  size_t n;
} root_range;

static tc__lock roots_lock = TC__LOCK_INIT;
static root_range *ranges;
static size_t nranges, ranges_cap;

uint64_t tc__roots_scan_stack(tc__marker *m, const tc__rootstack *rs) {
  uint64_t n = 0;
  for (const tc__frame *f = rs->top; f; f = f->prev) {
    n += f->n;
    for (uint32_t i = 0; i < f->n; i++) {
      /* relaxed: a channel operation may write a parked G's slot */
      void *ref = tc__load_relaxed(f->slots[i]);
      if (ref)
        tc__mark_ref(m, ref, f->slots[i]);
    }
  }
  return n;
}

void tc__frame_push_fail(tc__frame *f) {
  tc__fatal("TC_LOCALS(%s) at %s:%d on a thread that is not a mutator "
            "(call tc_init first)",
            f->site->names, f->site->file, f->site->line);
}

void tc__frame_pop_fail(tc__frame *f) {
  const tc__frame *top = f->rs->top;
  if (top == NULL)
    tc__fatal("root frame TC_LOCALS(%s) at %s:%d popped, but the root "
              "stack is empty (popped twice, or unwound past it?)",
              f->site->names, f->site->file, f->site->line);
  tc__fatal("root frame TC_LOCALS(%s) at %s:%d popped out of order: the "
            "top frame is TC_LOCALS(%s) at %s:%d (longjmp over a scope? "
            "use tc_roots_unwind)",
            f->site->names, f->site->file, f->site->line, top->site->names,
            top->site->file, top->site->line);
}

void tc_roots_unwind(tc_roots_mark mark) {
  tc__rootstack *rs = tc__ctx_get()->rs;
  if (rs == NULL)
    tc__fatal("tc_roots_unwind on a thread that is not a mutator");
  /* The frames above `mark` were abandoned by a longjmp and their stack
   * memory may already be reused, so they are not walked.  The mark must
   * belong to a frame that is still live: one of our callers, at a higher
   * address on the (downward-growing) C stack. */
  if (mark && (const char *)mark < (const char *)__builtin_frame_address(0))
    tc__fatal("tc_roots_unwind(%p): mark is not on the root stack (not "
              "in a live frame of the caller's stack)", mark);
  rs->top = (tc__frame *)mark;
}

/* A range joins or leaves the roots while the collector may have scanned
 * the globals already: its references enter (or leave) as stores would,
 * through w (NULL: the orphan, door held). */
static void shade_range(tc__marker *w, void **slot, size_t n, bool entering) {
  if (tc__load_relaxed(&tc__phase) != TC__PHASE_MARK)
    return;
  for (size_t k = 0; k < n; k++) {
    void *ref = tc__load_relaxed(&slot[k]);
    if (ref)
      tc__barrier_shade(w, entering ? NULL : ref, entering ? ref : NULL);
  }
}

/* Changes the registry and shades the range in one step as seen by the
 * phase: a thread without a P buffer (not a mutator, or inside a system
 * call) is never stopped by a pause, so it does both inside the door
 * (collector/gcwork.c), where the phase cannot move: what it greys is in
 * the pool before termination looks, and after termination it greys
 * nothing (its range read in an old cycle may hold freed objects by
 * then).  A mutator with a P needs no door: phases move only while it is
 * stopped. */
static int root_change(void **slot, size_t n);

int tc_root_add(void **slot, size_t n) {
  if (slot == NULL || n == 0)
    return TC_EINVAL;
  if (!tc__gc.initialized)
    return TC_ESTATE;
  return root_change(slot, n);
}

int tc_root_remove(void **slot) {
  if (!tc__gc.initialized)
    return TC_ESTATE;
  return root_change(slot, 0);
}

/* Registers [slot, slot + n), or unregisters slot's range if n == 0. */
static int registry_change(void **slot, size_t *n);

static int root_change(void **slot, size_t n) {
  bool adding = n > 0;
  tc__marker *w = tc__gcw_current();
  if (w == NULL)
    tc__door_enter();
  int rc = registry_change(slot, &n);
  if (rc == TC_OK)
    shade_range(w, slot, n, adding);
  if (w == NULL)
    tc__door_exit();
  return rc;
}

static int registry_change(void **slot, size_t *np) {
  if (*np == 0) {
    int rc = TC_ENOENT;
    tc__lock_acquire(&roots_lock);
    for (size_t i = 0; i < nranges; i++)
      if (ranges[i].slot == slot) {
        *np = ranges[i].n;
        ranges[i] = ranges[--nranges];
        rc = TC_OK;
        break;
      }
    tc__lock_release(&roots_lock);
    return rc;
  }
  size_t n = *np;
  int rc = TC_OK;
  tc__lock_acquire(&roots_lock);
  for (size_t i = 0; i < nranges; i++)
    if (ranges[i].slot == slot) {
      rc = TC_EEXIST;
      goto out;
    }
  if (nranges == ranges_cap) {
    size_t cap = ranges_cap ? ranges_cap * 2 : 16;
    root_range *r = realloc(ranges, cap * sizeof *r);
    if (r == NULL) {
      rc = TC_ENOMEM;
      goto out;
    }
    ranges = r;
    ranges_cap = cap;
  }
  ranges[nranges].slot = slot;
  ranges[nranges].n = n;
  nranges++;
out:
  tc__lock_release(&roots_lock);
  return rc;
}

uint64_t tc__roots_scan_globals(tc__marker *m) {
  uint64_t n = 0;
  tc__lock_acquire(&roots_lock);
  for (size_t i = 0; i < nranges; i++) {
    n += ranges[i].n;
    for (size_t k = 0; k < ranges[i].n; k++) {
      void *ref = tc__load_relaxed(&ranges[i].slot[k]);
      if (ref)
        tc__mark_ref(m, ref, &ranges[i].slot[k]);
    }
  }
  tc__lock_release(&roots_lock);
  return n;
}

void tc__roots_destroy(void) {
  tc__lock_acquire(&roots_lock);
  free(ranges);
  ranges = NULL;
  nranges = ranges_cap = 0;
  tc__lock_release(&roots_lock);
}
