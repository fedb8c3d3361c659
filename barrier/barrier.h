/*
 * barrier/barrier.h -- the write barrier, whole: the flag the inline fast
 * path reads (tc__barrier_on, tricolor/inline.h), the modes and their API
 * (barrier/mode.c), what each mode shades (the policy, a pure function),
 * shading (barrier/barrier.c) and the "is my stack grey" question it asks
 * of the world (sched/world.h).
 *
 * The collector decides when the barrier is on: its one phase setter
 * (set_phase, collector/cycle.c) calls tc__barrier_phase with every move,
 * world stopped; the mode of a cycle is fixed at its mark start
 * (tc__barrier_cycle_mode).  The tri-color invariant each mode keeps is
 * stated in collector/collector.h; docs/barriers.md compares them.
 */
#ifndef TC_BARRIER_H
#define TC_BARRIER_H

#ifndef TC_BUILDING_LIBRARY
#error "barrier/barrier.h is internal to tricolor"
#endif

#include "collector/collector.h"

/* TC__BARRIER_NONE, the test-only mode (TRICOLOR_DEBUG=barrier=none),
 * is defined with the debug settings in base/base.h. */

/* ---- the flag (barrier.c) ---- */
/* Sets tc__barrier_on for the collector's phase: on while marking (MARK),
 * else on only to validate stores (TC_DEBUG >= 2, checkstores=1); left as
 * it is in MARKTERM (the world is stopped).  Collector, world stopped. */
void tc__barrier_phase(int phase);

/* ---- the modes (mode.c) ---- */
/* tc_init: the first setting, from TRICOLOR_DEBUG=barrier= or the config
 * (0: hybrid). */
void tc__barrier_init(int configured);
/* The setting: the mode the next cycle under tc_run will use. */
int tc__barrier_next(void);
/* The mode of the running (or last) cycle: TC_BARRIER_* or
 * TC__BARRIER_NONE.  Read relaxed; written only world-stopped. */
extern int tc__barrier_cur; /* mode.c; read relaxed (world-stopped writes) */
static inline int tc__barrier_mode(void) {
  return tc__load_relaxed(&tc__barrier_cur);
}
/* Mark start: the cycle runs in `mode`.  Collector, world stopped. */
void tc__barrier_cycle_mode(int mode);

/* ---- what each mode shades (barrier.c) ----
 * For a store that replaces old with new, by a mutator whose root stack
 * is grey (not yet scanned this cycle) or black:
 *     mode        stack grey    stack black
 *     insertion   new           new
 *     deletion    old           old
 *     hybrid      old + new     old
 *     none, stw   nothing       nothing
 * tests/test_barrier_modes.c checks this table and the shading. */
enum { TC__SHADE_OLD = 1u, TC__SHADE_NEW = 2u };
unsigned tc__barrier_policy(int mode, bool stack_grey);
/* The calling mutator's root stack is grey this cycle (a thread with no
 * coroutine has none: black). */
bool tc__barrier_stack_grey(void);
/* Shades per the running cycle's mode for old -> new, into w (NULL: the
 * orphan; the door of collector/gcwork.c held).  Marking only. */
void tc__barrier_shade(tc__marker *w, void *old_ref, void *new_ref);

#endif /* TC_BARRIER_H */
