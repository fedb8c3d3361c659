/*
 * collector/pacer.c -- the heap goal and the trigger (Go's mgcpacer.go,
 * simplified).
 *
 * Two pure functions hold the policy: they read only their argument and
 * touch no global, so tests/test_collector_pacer.c checks them from tables
 * (Go tests mgcpacer.go the same way, in mgcpacer_test.go).  The wrappers
 * tc__pacer_update and tc__pacer_feedback read the counters, call them and
 * store the results.
 *
 * tc__pacer_plan, after each mark and when a knob changes:
 *   1. goal = basis * (1 + gc_percent/100), rounded down, at least min_heap
 *      (bytes, tc_config; 4 MiB by default); basis is what the last mark
 *      kept, black allocation during that mark included (Go's
 *      heapMarked; collector/cycle.c).  gc_percent = TC_GC_OFF: no goal
 *      (UINT64_MAX), growth never triggers.  The product is taken as basis/100 * percent
 *      + basis%100 * percent/100, so basis * percent is never formed; the
 *      goal itself must fit in 64 bits (it wraps past 2^64 bytes).
 *   2. with a soft memory limit (bytes), goal = min(goal, limit - overhead),
 *      overhead = metadata + free pages still backed, but never below
 *      basis + LIMIT_RUNWAY: the limit binds even with TC_GC_OFF.
 *   3. trigger = basis + ratio * (goal - basis) for concurrent cycles, so
 *      marking runs while the heap grows the rest of the way; the goal
 *      itself for stop-the-world cycles (stw mode, or a bare mutator: nothing
 *      grows while they mark), with no goal, or with no runway (goal <=
 *      basis).
 * tc__pacer_adjust, at the mark termination of each concurrent cycle:
 *   4. err = (heap at termination - goal) / (goal - basis), the overshoot
 *      as a fraction of the runway; the ratio becomes ratio - GAIN_OVER *
 *      err when the cycle ended at or over its goal (trigger earlier),
 *      ratio - GAIN_UNDER * err when it ended under it (creep later), then
 *      is clamped to [RATIO_MIN, RATIO_MAX] = [0.45, 0.90].  No goal or no
 *      runway: the ratio stays.
 * The ratio starts at RATIO_INIT = 7/8.  Go clamps its trigger to
 * [45/64 (~0.70), 61/64 (~0.95)] of the runway and computes the runway from
 * the measured cons/mark ratio with a PI controller; this proportional
 * controller measures only where the heap ended, and its clamp is wider
 * below (0.45) and tighter above (0.90).
 */
#include "barrier/barrier.h"

#define RATIO_INIT 0.875 /* fraction of the runway, before any feedback:
                            where Go's pacer started before its cons/mark
                            redesign */
#define RATIO_MIN 0.45   /* fraction of the runway: a ratio driven to 0
                            would start each cycle as the last one ends */
#define RATIO_MAX 0.90   /* fraction of the runway: at least a tenth of it
                            is left to mark in (0.95, Go's upper clamp,
                            until the heavy-churn fix that keeps the heap
                            within its goal) */
#define GAIN_OVER 0.5    /* ratio per runway of overshoot: a late cycle
                            moves the trigger earlier fast */
#define GAIN_UNDER 0.1   /* ratio per runway left unused: an early cycle
                            moves the trigger later slowly */
#define LIMIT_RUNWAY ((uint64_t)1 << 20) /* bytes: the least growth a
                            memory-limit goal allows past the basis; a limit
                            under the live heap would otherwise put the goal
                            below it and run cycles back to back */

tc__pacer_plan_out tc__pacer_plan(tc__pacer_plan_in in) {
  tc__pacer_plan_out out;
  out.trigger_ratio = in.trigger_ratio == 0 ? RATIO_INIT : in.trigger_ratio;
  uint64_t goal = UINT64_MAX;
  if (in.gc_percent != TC_GC_OFF) {
    uint64_t p = (uint64_t)in.gc_percent;
    goal = in.basis + in.basis / 100 * p + in.basis % 100 * p / 100;
    if (goal < in.min_heap)
      goal = in.min_heap;
  }
  if (in.mem_limit) {
    uint64_t cap = in.mem_limit > in.overhead ? in.mem_limit - in.overhead : 0;
    if (cap < in.basis + LIMIT_RUNWAY)
      cap = in.basis + LIMIT_RUNWAY;
    if (cap < goal)
      goal = cap;
  }
  uint64_t trigger = goal;
  if (goal != UINT64_MAX && !in.stw && goal > in.basis)
    trigger =
        in.basis + (uint64_t)((double)(goal - in.basis) * out.trigger_ratio);
  out.goal = goal;
  out.trigger = trigger;
  return out;
}

tc__pacer_adjust_out tc__pacer_adjust(tc__pacer_adjust_in in) {
  tc__pacer_adjust_out out = {.trigger_ratio = in.trigger_ratio};
  if (in.goal == UINT64_MAX || in.goal <= in.basis)
    return out;
  double runway = (double)(in.goal - in.basis);
  double err = ((double)in.heap_at_term - (double)in.goal) / runway;
  double r = in.trigger_ratio - (err < 0 ? GAIN_UNDER : GAIN_OVER) * err;
  out.trigger_ratio = r < RATIO_MIN ? RATIO_MIN : r > RATIO_MAX ? RATIO_MAX : r;
  out.changed = true;
  return out;
}

void tc__pacer_update(uint64_t marked) {
  tc__pacer_plan_in in = {
      .basis = marked,
      .gc_percent = tc__gc.gc_percent,
      .min_heap = tc__gc.min_heap,
      .mem_limit = tc__gc.mem_limit,
      .trigger_ratio = tc__gc.trigger_ratio,
      .stw = !tc__world_scheduled() || tc__barrier_next() == TC_BARRIER_STW,
  };
  if (in.mem_limit) {
    tc__lock_acquire(&tc__h.lock);
    in.overhead = tc__meta_mapped() + tc__h.free_dirty;
    tc__lock_release(&tc__h.lock);
  }
  tc__pacer_plan_out out = tc__pacer_plan(in);
  tc__gc.trigger_ratio = out.trigger_ratio;
  tc__store_relaxed(&tc__gc.goal, out.goal);
  tc__store_relaxed(&tc__gc.trigger, out.trigger);
}

void tc__pacer_feedback(uint64_t heap_at_term, uint64_t goal) {
  tc__pacer_adjust_in in = {.basis = tc__gc.goal_basis,
                            .goal = goal,
                            .heap_at_term = heap_at_term,
                            .trigger_ratio = tc__gc.trigger_ratio};
  tc__gc.trigger_ratio = tc__pacer_adjust(in).trigger_ratio;
}
