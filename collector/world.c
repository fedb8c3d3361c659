/*
 * collector/world.c -- the collector's side of the seam with the
 * scheduler (sched/world.h), and the collector's view of "every mutator".
 *
 * 1. What the scheduler calls: tc_run's start and end (the Gs become the
 *    mutators, the collector thread runs, then the bare mutator is back),
 *    the root-stack colours and scans of gscan.c, the time trigger sysmon
 *    asks about every tick, and the deadlock check's "is a cycle pending".
 *    The policy stays here: sysmon only asks (Go's forcegcperiod lives in
 *    its proc.go sysmon; ours is the collector's, so a change to the
 *    trigger is made in one place).
 * 2. What the collector calls for every mutator: without the scheduler the
 *    bare thread (tc__gc.main) and the threads attached to it, which share
 *    its cache (sched/bare.c), with it the world's Ps and Gs.  Each wrapper picks one, so cycle.c and verify.c need not.
 */
#include "barrier/barrier.h"

#include <string.h>

/* ---------------------------------------------------------------- scheduler's calls */

unsigned tc__gc_procs(void) { return tc__gc.procs; }

void tc__gc_sched_begin(void) {
  tc__gc.main = NULL; /* mutators are the Gs from now on */
  tc__pacer_update(tc__gc.goal_basis); /* concurrent cycles trigger earlier */
  tc__gcthread_start();
}

void tc__gc_sched_stop(void) { tc__gcthread_stop(); }

void tc__gc_sched_end(tc__ctx *ctx) {
  /* back to a bare mutator so tc_shutdown's checks hold */
  ctx->owner = tc__gc.bare;
  ctx->cache = &tc__gc.bare->cache.runs;
  tc__gc.main = tc__gc.bare;
  tc__pacer_update(tc__gc.goal_basis);
}

uint32_t tc__gc_stack_black(void) {
  return 2 * tc__load_relaxed(&tc__gc.epoch);
}

bool tc__gc_stacks_concurrent(void) {
  int mode = tc__barrier_mode();
  return mode == TC_BARRIER_HYBRID || mode == TC_BARRIER_INSERTION ||
         mode == TC__BARRIER_NONE;
}

uint64_t tc__gc_scan_roots(tc__marker *m, const tc__rootstack *rs,
                           void **argslot) {
  uint64_t n = rs ? tc__roots_scan_stack(m, rs) : 0;
  if (argslot && *argslot) {
    tc__mark_ref(m, *argslot, argslot);
    n++;
  }
  return n;
}

void tc__gc_shade_arg(void *arg) {
  if (arg && tc__marking())
    tc__shade(arg);
}

bool tc__gc_time_trigger(int64_t now) {
  /* `now` was read before this: a cycle that ended since then has a later
   * last_gc_ns, and the unsigned difference would wrap (a bogus
   * time-triggered cycle right after a cycle) */
  uint64_t period = tc__gc.force_period_ns;
  uint64_t last = tc__load_relaxed(&tc__gc.last_gc_ns);
  if (period == 0 || tc__load_relaxed(&tc__gc.in_cycle) ||
      tc__load_relaxed(&tc__gc.requested) || (uint64_t)now <= last ||
      (uint64_t)now - last < period)
    return false;
  tc__gcthread_request(TC__REASON_TIME);
  return true;
}

bool tc__gc_busy(void) {
  /* requested first (acquire): the collector thread sets in_cycle before
   * it clears requested (release), so one of the two is seen set while a
   * cycle is asked for or running (collector/gcthread.c) */
  return tc__load_acquire(&tc__gc.requested) ||
         tc__load_acquire(&tc__gc.in_cycle);
}

/* ---------------------------------------------------------------- every mutator */

void tc__gc_for_each_cache(void (*fn)(tc__mcache *c, void *arg), void *arg) {
  if (tc__world_scheduled())
    tc__world_for_each_cache(fn, arg);
  else
    fn(&tc__gc.main->cache, arg);
}

static void flush_one(tc__mcache *c, void *arg) {
  (void)arg;
  tc__cache_flush(c);
}

void tc__gc_flush_caches(void) { tc__gc_for_each_cache(flush_one, NULL); }

uint64_t tc__gc_scan_stacks(tc__marker *m, bool only_grey) {
  if (!tc__world_scheduled()) /* tc_init's thread, then attached threads */
    return tc__roots_scan_stack(m, tc__gc.main->rs) + tc__world_bare_scan(m);
  return tc__world_scan_stacks(m, only_grey);
}

void tc__gc_scan_stacks_verify(tc__marker *m) {
  if (!tc__world_scheduled()) {
    tc__roots_scan_stack(m, tc__gc.main->rs);
    tc__world_bare_scan(m);
  } else {
    tc__world_scan_stacks_verify(m);
  }
}

tc__cache *tc__gc_bare_cache(void) { return &tc__gc.bare->cache.runs; }

static void forget_one(tc__mcache *c, void *arg) {
  (void)arg;
  if (c->gc == NULL)
    return;
  tc__marker_forget_span(&c->gc->w);
  c->runs.wbp = c->gc->wb; /* an abandoned cycle's: objects may be gone */
}

void tc__gc_forget_spans(void) { tc__gc_for_each_cache(forget_one, NULL); }

typedef struct collect_arg {
  tc__marker *m;
  uint64_t *marked;
} collect_arg;

static void collect_one(tc__mcache *c, void *arg) {
  collect_arg *a = arg;
  if (c->gc == NULL)
    return;
  tc__wb_flush(c->gc); /* the barrier's last records, then the greys */
  tc__marker *w = &c->gc->w;
  tc__marker *m = a->m;
  while (m->cap - m->n < w->n)
    tc__marker_grow(m);
  memcpy(m->grey + m->n, w->grey, w->n * sizeof w->grey[0]);
  m->n += w->n;
  w->n = 0;
  *a->marked += w->marked;
  w->marked = 0;
  tc__add_relaxed(&tc__gcc.barrier_slow, w->wb_slow);
  tc__add_relaxed(&tc__gcc.barrier_shaded, w->wb_shaded);
  w->wb_slow = w->wb_shaded = 0;
}

void tc__gc_collect_gcws(tc__marker *m, uint64_t *marked) {
  collect_arg a = {m, marked};
  tc__gc_for_each_cache(collect_one, &a);
}
