/*
 * barrier/mode.c -- the barrier modes and their public API: which mode the
 * next cycle uses (tc_set_barrier), what a caller is told (tc_get_barrier),
 * names.
 *
 * Two words: `next`, the setting, read by the collector at each mark start
 * and by the pacer (stw cycles trigger at the goal); and `mode`, the
 * running (or last) cycle's, fixed at mark start with the world stopped,
 * read by the slow path, the stack scans and the reports.  A cycle never
 * changes mode: tc_set_barrier while marking affects the next one.  A
 * bare mutator (tc_init without tc_run) runs every cycle stw whatever the
 * setting, and tc_get_barrier says so.
 */
#include "barrier/barrier.h"

static int next;  /* TC_BARRIER_* or TC__BARRIER_NONE; relaxed atomics */
int tc__barrier_cur; /* the running or last cycle's; world stopped */

void tc__barrier_init(int configured) {
  int m = tc__debug_settings.barrier ? tc__debug_settings.barrier
          : configured               ? configured
                                     : TC_BARRIER_HYBRID;
  if (m == TC__BARRIER_NONE)
    tc__warn("TRICOLOR_DEBUG=barrier=none: the write barrier is off while "
             "marking (a test of the verifier; objects will be lost)");
  tc__store_relaxed(&next, m);
  tc__store_relaxed(&tc__barrier_cur, m);
}

int tc__barrier_next(void) { return tc__load_relaxed(&next); }
void tc__barrier_cycle_mode(int m) { tc__store_relaxed(&tc__barrier_cur, m); }

const char *tc_barrier_name(tc_barrier_mode m) {
  switch ((int)m) {
  case TC_BARRIER_HYBRID: return "hybrid";
  case TC_BARRIER_INSERTION: return "insertion";
  case TC_BARRIER_DELETION: return "deletion";
  case TC_BARRIER_STW: return "stw";
  case TC__BARRIER_NONE: return "none";
  case TC_BARRIER_DEFAULT: return "default";
  default: return "?";
  }
}

int tc_set_barrier(tc_barrier_mode m) {
  if (!tc__gc.initialized)
    return TC_ESTATE;
  if (m == TC_BARRIER_DEFAULT)
    m = TC_BARRIER_HYBRID;
  if (m < TC_BARRIER_HYBRID || m > TC_BARRIER_STW)
    return TC_EINVAL;
  tc__require_mutator("tc_set_barrier"); /* the pacer is the mutators' */
  int old = __atomic_exchange_n(&next, (int)m, __ATOMIC_RELAXED);
  tc__pacer_update(tc__gc.goal_basis); /* stw triggers at the goal */
  return old;
}

/* Reports what the next cycle will run, not only the setting: a bare
 * mutator collects in one pause whatever the setting says
 * (tc__cycle_run). */
tc_barrier_mode tc_get_barrier(void) {
  if (!tc__gc.initialized)
    return TC_BARRIER_DEFAULT;
  if (!tc__world_scheduled())
    return TC_BARRIER_STW;
  return (tc_barrier_mode)tc__barrier_next();
}
