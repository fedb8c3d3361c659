/*
 * barrier/barrier.c -- the write barrier's flag, policy and slow path.
 *
 * The inline path (tricolor/inline.h) stores directly while the barrier
 * flag is clear.  The flag is set (a) while a cycle marks concurrently with
 * the coroutines (phase MARK) and (b) in debug builds (TC_DEBUG >= 2) or
 * with TRICOLOR_DEBUG=checkstores=1, where every store is also validated: a
 * reference into the heap must be the start of an allocated object, so a
 * stale or interior pointer is reported at the store that wrote it.
 *
 * While marking, `*slot = new` (or tc_barrier(old, new)) shades, per the
 * cycle's mode (shade(p) = if p is white, make it grey; the table of
 * tc__barrier_policy in barrier/barrier.h):
 *   insertion  shade(new)            keeps the strong invariant for heap
 *                                    slots; stacks have no barrier, so the
 *                                    termination pause rescans them all.
 *   deletion   shade(old)            snapshot at the beginning: nothing
 *                                    reachable at mark start is lost; an
 *                                    object unlinked while marking floats
 *                                    until the next cycle.
 *   hybrid     shade(old), and shade(new) while the storing coroutine's
 *              root stack is grey (not yet scanned this cycle): Go's.
 *   none       nothing (test-only: the verifier must catch it).
 * Shaded objects go to the grey buffer of the storing P (collector/
 * gcwork.c), which spills packets to the shared pool; a thread without
 * one (a G inside a system call) shades through the door of gcwork.c.
 * The mode is read relaxed: it changes only while the world is stopped.
 *
 * "Is my stack grey": a root stack is black once scanned in this cycle
 * (its colour equals the collector's black for the cycle, sched/gscan.c);
 * the world tells the colour of the calling coroutine's stack.
 *
 * The missing-barrier finder (TRICOLOR_DEBUG=wbcheck=1, collector/
 * wbcheck.c) keeps the flag set as the debug builds do and hears of every
 * store before it happens (note_store).
 */
#include "barrier/barrier.h"

uint32_t tc__barrier_on; /* read by every tc_store (tricolor/inline.h) */

void tc__barrier_phase(int phase) {
  uint32_t idle = (uint32_t)(TC_DEBUG >= 2 || tc__debug_settings.checkstores ||
                             tc__debug_settings.wbcheck);
  if (phase == TC__PHASE_MARK)
    tc__store_relaxed(&tc__barrier_on, 1u);
  else if (phase == TC__PHASE_OFF)
    tc__store_relaxed(&tc__barrier_on, idle);
}

unsigned tc__barrier_policy(int mode, bool stack_grey) {
  switch (mode) {
  case TC_BARRIER_INSERTION: return TC__SHADE_NEW;
  case TC_BARRIER_DELETION: return TC__SHADE_OLD;
  case TC_BARRIER_HYBRID:
    return TC__SHADE_OLD | (stack_grey ? TC__SHADE_NEW : 0u);
  default: return 0; /* TC__BARRIER_NONE; stw never marks concurrently */
  }
}

bool tc__barrier_stack_grey(void) {
  uint32_t colour;
  return tc__world_current_colour(&colour) && colour != tc__gc_stack_black();
}

static void check_ref(void *ref, const void *slot, const char *call) {
  if (ref && tc__span_of(ref) && !tc_is_object(ref))
    tc__fatal("%s(slot %p, %p): %p is not the start of a live tricolor "
              "object", call, slot, ref, ref);
}

static void shade(tc__marker *w, void *p) {
  if (w)
    tc__shade_into(w, p);
  else
    tc__shade_orphan(p); /* door held */
}

void tc__barrier_shade(tc__marker *w, void *old_ref, void *new_ref) {
  if (w)
    w->wb_slow++;
  int mode = tc__barrier_mode();
  /* the colour only matters to hybrid's new half: ask only then */
  bool grey = mode == TC_BARRIER_HYBRID && new_ref && tc__barrier_stack_grey();
  unsigned what = tc__barrier_policy(mode, grey);
  if (what & TC__SHADE_OLD)
    shade(w, old_ref);
  if (what & TC__SHADE_NEW)
    shade(w, new_ref);
}

/* Shades for a store from the calling thread: through its P's grey
 * buffer, or through the door (a G inside a system call has none). */
static void shade_pair(void *old_ref, void *new_ref) {
  tc__marker *w = tc__gcw_current();
  if (w) {
    tc__barrier_shade(w, old_ref, new_ref);
    return;
  }
  tc__door_enter();
  tc__barrier_shade(NULL, old_ref, new_ref);
  tc__door_exit();
}

static void require_mutator(const char *call) {
  if (TC__UNLIKELY(tc__ctx_get()->owner == NULL))
    tc__fatal("%s called from a thread that is not a mutator", call);
}

/* wbcheck: records the store (slot NULL: a tc_barrier) before it is
 * made, so a scan that sees the new value sees the record too. */
static inline void note_store(void **slot, void *old_ref, void *new_ref) {
  if (TC__UNLIKELY(tc__debug_settings.wbcheck))
    tc__wbcheck_note(slot, old_ref, new_ref);
}

void tc__store_slow(void **slot, void *value) {
  require_mutator("tc_store");
  note_store(slot, NULL, value);
  if (TC_DEBUG >= 2 || tc__debug_settings.checkstores)
    check_ref(value, slot, "tc_store");
  if (tc__marking())
    shade_pair(tc__load_relaxed(slot), value);
  tc__store_relaxed(slot, value);
}

void tc__barrier_slow(void *old_ref, void *new_ref) {
  require_mutator("tc_barrier");
  note_store(NULL, old_ref, new_ref);
  if (TC_DEBUG >= 2 || tc__debug_settings.checkstores)
    check_ref(new_ref, NULL, "tc_barrier");
  if (tc__marking())
    shade_pair(old_ref, new_ref);
}
