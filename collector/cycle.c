/*
 * collector/cycle.c -- one collection cycle, the pacer and tc_gc().
 *
 * The stop-the-world cycle:
 *   1. Finish sweeping the previous cycle and return surplus free pages to
 *      the OS (outside the pause).
 *   2. Stop the world and start the pause clock.  (One mutator for now; the
 *      scheduler will bring every P to a safepoint here.)
 *   3. Flush allocation caches so the span bitmaps are exact.
 *   4. Mark: root stacks, global roots, handles, the finalizer queue and
 *      the children of finalizable objects; then drain the grey objects
 *      on all marking threads (collector/workers.c).
 *   5. Queue unreached finalizable objects (collector/finalizer.c).
 *   6. Set the next trigger from the marked bytes (the pacer).
 *   7. Start the sweep (O(classes): spans move to the unswept lists), stop
 *      the pause clock and restart the world.  Sweeping is lazy.
 *
 * Pacer (GOGC rule): goal = marked * (1 + gc_percent/100), at least
 * min_heap (4 MiB by default); the stop-the-world collector triggers at the
 * goal itself.  gc_percent = TC_GC_OFF never triggers on growth.
 */
#include "collector/collector.h"

void tc__pacer_update(uint64_t marked) {
  if (tc__gc.gc_percent == TC_GC_OFF) {
    tc__gc.goal = UINT64_MAX;
    tc__store_relaxed(&tc__gc.trigger, UINT64_MAX);
    return;
  }
  uint64_t goal = marked + marked / 100 * (uint64_t)tc__gc.gc_percent +
                  marked % 100 * (uint64_t)tc__gc.gc_percent / 100;
  if (goal < tc__gc.min_heap)
    goal = tc__gc.min_heap;
  tc__gc.goal = goal;
  tc__store_relaxed(&tc__gc.trigger, goal);
}

/* Returns free pages to the OS, with hysteresis so that a heap that
 * oscillates (grows to the goal, drops to the live set after each cycle)
 * keeps its pages instead of faulting them in again every cycle:
 *   keep = the largest goal of the last SCAVENGE_WINDOW cycles;
 *   only when in-use plus still-backed free pages exceed keep * 1.5 are
 *   pages released, down to keep * 1.1.
 * `now` (tc_gc) uses the current goal and no hysteresis, so an explicit
 * collection after the heap shrank gives the memory back at once. */
#define SCAVENGE_WINDOW 8

static void scavenge(bool now) {
  static uint64_t goals[SCAVENGE_WINDOW];
  uint64_t goal = tc__gc.goal == UINT64_MAX ? tc__h.inuse : tc__gc.goal;
  goals[tc__h.cycle % SCAVENGE_WINDOW] = goal;
  uint64_t keep = goal;
  if (!now)
    for (int i = 0; i < SCAVENGE_WINDOW; i++)
      if (goals[i] > keep)
        keep = goals[i];
  tc__lock_acquire(&tc__h.lock);
  uint64_t held = tc__h.inuse + tc__h.free_dirty;
  if (now || held > keep + keep / 2)
    tc__pages_scavenge(keep + keep / 10);
  tc__lock_release(&tc__h.lock);
}

bool tc__collect(int reason) {
  uint32_t idle = 0;
  if (!tc__cas_acq_rel(&tc__gc.in_cycle, &idle, 1u))
    return false; /* another coroutine collects: it stops us at a safepoint */
  tc__sweep_finish();
  scavenge(false);

  uint64_t heap0 = tc__load_relaxed(&tc__h.live);
  uint64_t t0 = tc__nanotime();
  uint64_t cpu0 = tc__thread_cputime();
  tc__world_stop();
  tc__world_flush_caches();
  tc__gc.phase = TC__PHASE_MARK;
  tc__marker *m = &tc__gc.marker;
  m->marked = 0;
  tc__world_scan_stacks(m);
  tc__roots_scan_globals(m);
  tc__handles_scan(m);
  tc__finalizers_scan_queue(m);
  uint64_t helpers = tc__workers_mark(m);
  tc__h.marked = m->marked + helpers;
  tc__finalizers_collect();
  uint64_t marked = tc__h.marked;
  uint64_t heap1 = tc__load_relaxed(&tc__h.live);
  tc__pacer_update(marked);
  tc__sweep_start();
  tc__gc.phase = TC__PHASE_OFF;
  tc__world_start();
  uint64_t t1 = tc__nanotime();
  uint64_t cpu1 = tc__thread_cputime();
  tc__stats_cycle_done(reason, t1 - t0, cpu1 - cpu0, heap0, heap1, marked);
  tc__store_release(&tc__gc.cycles_done, tc__gc.cycles_done + 1);
  tc__store_release(&tc__gc.in_cycle, 0u);
  return true;
}

void tc_gc(void) {
  tc__require_mutator("tc_gc");
  /* Returns after a whole cycle that started after this call (Go's
   * runtime.GC): if one is running now, the one after it.  Whoever runs
   * that cycle, us or another coroutine, so a coroutine that collects in
   * a loop cannot starve this one. */
  uint64_t need = tc__load_acquire(&tc__gc.cycles_done) +
                  (tc__load_acquire(&tc__gc.in_cycle) ? 2 : 1);
  while (tc__load_acquire(&tc__gc.cycles_done) < need)
    if (!tc__collect(TC__REASON_EXPLICIT))
      tc__yield_if_scheduled();
  tc__sweep_finish();
  scavenge(true);
  tc_run_finalizers();
}
