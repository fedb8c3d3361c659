/*
 * barrier/barrier.c -- the write barrier's slow path.
 *
 * The inline path (tricolor/inline.h) stores directly while the barrier
 * flag is clear.  The flag is set only (a) while a cycle marks
 * concurrently with mutators, which the stop-the-world collector never
 * does, and (b) in debug builds (TC_DEBUG >= 2) or with
 * TRICOLOR_DEBUG=checkstores=1, where every store is validated here: a
 * reference into the heap must be the start of an allocated object, so a
 * stale or interior pointer is reported at the store that wrote it rather
 * than at the cycle that trips over it.
 *
 * The insertion, deletion and hybrid modes (DESIGN section 4) shade here
 * once marking runs concurrently.
 */
#include "collector/collector.h"

static void check_ref(void *ref, const void *slot, const char *call) {
  if (ref && tc__span_of(ref) && !tc_is_object(ref))
    tc__fatal("%s(slot %p, %p): %p is not the start of a live tricolor "
              "object", call, slot, ref, ref);
}

void tc__store_slow(void **slot, void *value) {
  if (TC_DEBUG >= 2 || tc__debug_settings.checkstores)
    check_ref(value, slot, "tc_store");
  tc__store_relaxed(slot, value);
}

void tc__barrier_slow(void *old_ref, void *new_ref) {
  (void)old_ref;
  if (TC_DEBUG >= 2 || tc__debug_settings.checkstores)
    check_ref(new_ref, NULL, "tc_barrier");
}
