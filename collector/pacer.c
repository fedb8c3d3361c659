/*
 * collector/pacer.c -- the heap goal and the trigger (GO_REFERENCE.md
 * section 2, simplified).
 *
 *   goal    = marked * (1 + gc_percent/100), at least min_heap (4 MiB),
 *             where marked is what the last mark found by tracing (black
 *             allocation during that mark excluded, collector/cycle.c);
 *             with a soft memory limit, at most limit - (metadata + free
 *             pages still backed), but never below marked + 1 MiB;
 *   trigger = marked + ratio * (goal - marked) for concurrent cycles, so
 *             marking runs while the heap grows the rest of the way; the
 *             goal itself for stop-the-world cycles (nothing grows while
 *             they mark).
 * The ratio starts at 7/8 and is a proportional controller: after each
 * concurrent cycle it moves by half the relative error of where the heap
 * stood at mark termination against the goal, clamped to [0.45, 0.95]
 * (Go clamps its trigger to [0.7, 0.95] of the runway and computes the
 * runway from the measured cons/mark ratio with a PI controller).
 * gc_percent = TC_GC_OFF never triggers on growth; the memory limit then
 * still does.
 */
#include "barrier/barrier.h"

#define RATIO_MIN 0.45
#define RATIO_MAX 0.90

void tc__pacer_update(uint64_t marked) {
  if (tc__gc.trigger_ratio == 0)
    tc__gc.trigger_ratio = 0.875;
  uint64_t goal = UINT64_MAX;
  if (tc__gc.gc_percent != TC_GC_OFF) {
    goal = marked + marked / 100 * (uint64_t)tc__gc.gc_percent +
           marked % 100 * (uint64_t)tc__gc.gc_percent / 100;
    if (goal < tc__gc.min_heap)
      goal = tc__gc.min_heap;
  }
  if (tc__gc.mem_limit) {
    tc__lock_acquire(&tc__h.lock);
    uint64_t overhead = tc__meta_mapped() + tc__h.free_dirty;
    tc__lock_release(&tc__h.lock);
    uint64_t cap = tc__gc.mem_limit > overhead ? tc__gc.mem_limit - overhead : 0;
    if (cap < marked + ((uint64_t)1 << 20))
      cap = marked + ((uint64_t)1 << 20);
    if (cap < goal)
      goal = cap;
  }
  uint64_t trigger = goal;
  if (goal != UINT64_MAX && tc__world_scheduled() &&
      tc__barrier_next() != TC_BARRIER_STW && goal > marked)
    trigger = marked + (uint64_t)((double)(goal - marked) * tc__gc.trigger_ratio);
  tc__store_relaxed(&tc__gc.goal, goal);
  tc__store_relaxed(&tc__gc.trigger, trigger);
}

void tc__pacer_feedback(uint64_t heap_at_term, uint64_t goal) {
  if (goal == UINT64_MAX || goal <= tc__gc.goal_basis)
    return;
  double runway = (double)(goal - tc__gc.goal_basis);
  double err = ((double)heap_at_term - (double)goal) / runway;
  double r = tc__gc.trigger_ratio - 0.5 * err;
  if (err < 0) /* finished early: creep up slowly */
    r = tc__gc.trigger_ratio - 0.1 * err;
  tc__gc.trigger_ratio = r < RATIO_MIN ? RATIO_MIN : r > RATIO_MAX ? RATIO_MAX : r;
}
