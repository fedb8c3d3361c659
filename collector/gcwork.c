/*
 * collector/gcwork.c -- mark work done by mutators while a cycle marks
 * concurrently: shading from the barrier, the Ps' grey buffers, assists.
 *
 * 1. Shading.  tc__shade(p) greys p into the grey buffer of the caller's
 *    P (a tc__marker hung off the P's allocation cache), so a barrier
 *    costs a span lookup and an atomic OR, no lock.  A buffer that grows
 *    past two packets spills one to the shared pool (collector/workers.c).
 *    Threads without a P buffer (threads that are not mutators, and a G
 *    between tc_syscall_enter and tc_syscall_exit) are never stopped by a
 *    world stop, so a pause cannot wait for them: they pass through a door
 *    instead, orphan_lock.  Inside it they read the phase and, only if it
 *    is MARK, grey into the orphan marker and push to the pool before
 *    leaving.  The collector moves the phase under the same lock
 *    (set_phase, collector/cycle.c), so a grey object from such a thread
 *    is in the pool before mark termination looks (and drains it), and
 *    none arrives after: no stale phase, no grey entry left behind.
 * 2. Assists (Go's gcAssistAlloc, mgcmark.go).  While
 *    marking, every refill charges its bytes to the P's debt.  Once the debt
 *    passes ASSIST_MIN the allocating G pays it in scan work:
 *        work = debt * remaining scan work / remaining heap runway
 *    where remaining scan work = expected - done (expected = last cycle's
 *    marked bytes) and runway = goal - heap.live, each at least 64 KiB.
 *    So the closer the heap gets to the goal with marking unfinished, the
 *    more each allocation pays.  The G drains its own buffer, then packets
 *    from the pool; when it finds none it raises `hungry` so that the
 *    markers share, and ends: what is still unpaid is forgiven.  Past the
 *    goal, the allocation then waits for the cycle to end
 *    (collector/alloc.c; Go parks the G until background credit pays).
 * 3. Each assist is a slice "assist" on its P's track in the event trace
 *    (collector/trace.c), inside the running G's slice.
 * 4. A trace callback may not allocate: assists run trace callbacks on a
 *    mutator, so a thread-local flag makes the allocation slow path abort
 *    inside them.
 */
#include "collector/collector.h"

#include <stdlib.h>

#define ASSIST_MIN ((int64_t)64 << 10)
#define MIN_WORK ((uint64_t)64 << 10)
#define STOP_SLICE ((uint64_t)16 << 10) /* scan bytes between stop checks
                             (~10-25 us here): a pause waits at most this
                             long for an assist or a mark worker */

/* Drains at most `left` scan bytes of w, and at most STOP_SLICE. */
static uint64_t drain_slice(tc__marker *w, uint64_t left) {
  return tc__mark_drain_budget(w, left < STOP_SLICE ? left : STOP_SLICE);
}

tc__gccounters tc__gcc;
__thread int tc__in_mark_work;


tc__marker *tc__gc_p_gcw(tc__mcache *c) { return c->gc ? &c->gc->w : NULL; }

tc__marker *tc__gcw_current(void) {
  return tc__gc_p_gcw((tc__mcache *)tc__ctx_get()->cache);
}

void tc__gcw_flush(tc__marker *w) {
  if (w->n)
    tc__pool_put(w, 0);
}

void tc__shade_into(tc__marker *w, void *p) {
  if (p == NULL)
    return;
  if (w) {
    uint64_t before = w->marked;
    tc__mark_ref(w, p, NULL);
    if (w->marked != before)
      w->wb_shaded++;
    if (TC__UNLIKELY(w->n >= 2 * TC__PACKET))
      tc__pool_put(w, TC__PACKET);
    return;
  }
  tc__door_enter(); /* no P buffer */
  tc__shade_orphan(p);
  tc__door_exit();
}

void tc__door_enter(void) { tc__lock_acquire(&tc__gc.orphan_lock); }
void tc__door_exit(void) { tc__lock_release(&tc__gc.orphan_lock); }

void tc__shade_orphan(void *p) {
  if (p == NULL || tc__load_relaxed(&tc__phase) != TC__PHASE_MARK)
    return;
  tc__debug_delay(tc__debug_settings.shadedelay); /* test hook: the door */
  tc__mark_ref(&tc__gc.orphan, p, NULL);
  tc__gcw_flush(&tc__gc.orphan);
}

void tc__shade(void *p) { tc__shade_into(tc__gcw_current(), p); }

void tc__gc_p_init(tc__mcache *c) {
  tc__pgc *g = calloc(1, sizeof *g);
  if (g == NULL)
    tc__fatal("out of memory creating a grey buffer");
  tc__marker_init(&g->w);
  g->w.shared = true;
  g->runs = &c->runs;
  c->runs.wbp = c->runs.wblim = g->wb; /* no appends until a cycle marks */
  c->gc = g;
}

void tc__gc_p_destroy(tc__mcache *c) {
  if (c->gc == NULL)
    return;
  tc__marker_destroy(&c->gc->w);
  free(c->gc);
  c->gc = NULL;
}

void tc__gc_p_release(tc__mcache *c) {
  tc__pgc *g = c->gc;
  if (g == NULL || !tc__marking())
    return;
  tc__wb_flush(g);
  if (g->w.n)
    tc__gcw_flush(&g->w);
  /* An answer to the flush handshake too: a G that yields in a loop
   * never polls a safepoint, and the switch-in clears the poke meant for
   * it; the next G has nothing buffered from before the request. */
  tc__store_release(&g->ack, tc__load_relaxed(&tc__gc.flush_gen));
}

uint32_t tc__gc_flush_request(void) {
  return __atomic_add_fetch(&tc__gc.flush_gen, 1, __ATOMIC_RELAXED);
}

void tc__gc_p_safepoint(tc__mcache *c) {
  if (c->gc == NULL || !tc__marking())
    return;
  tc__wb_flush(c->gc);
  tc__gcw_flush(&c->gc->w);
  tc__store_release(&c->gc->ack, tc__load_relaxed(&tc__gc.flush_gen));
}

bool tc__gc_p_acked(tc__mcache *c, uint32_t gen) {
  return c->gc == NULL || tc__load_acquire(&c->gc->ack) == gen;
}

/* ---- mark workers on the Ps (Go's fractional and idle workers) ---- */

#define WORKER_SHARE 0.25 /* of each P's time while marking: Go gives its
                             mark workers 25% of GOMAXPROCS */
#define WORKER_SLICE ((uint64_t)64 << 10) /* scan bytes a slice (~50-100
                             us here), drained STOP_SLICE at a time */
#define IDLE_SLICES 4     /* an idle P marks this many slices at a time */

bool tc__gc_p_mark(tc__mcache *c, bool idle) {
  tc__pgc *g = c->gc;
  if (g == NULL || !tc__marking() || !tc__load_acquire(&tc__gc.workers_on))
    return false;
  uint64_t t0 = tc__nanotime();
  if (!idle) {
    /* the share is the procs' together: marking by idle Ps counts, so a
     * P that runs coroutines owes nothing while idle Ps mark enough */
    uint64_t start = tc__load_relaxed(&tc__gc.mark_start_ns);
    if ((double)tc__load_relaxed(&tc__gc.worker_ns) >=
        WORKER_SHARE * (double)tc__gc.procs * (double)(t0 - start))
      return false; /* had their share */
  }
  tc__marker *w = &g->w;
  tc__wb_flush(g);
  if (w->n == 0 && !tc__pool_get(w))
    return false;
  /* counted while it holds packets: the termination check waits */
  __atomic_add_fetch(&tc__gc.workers, 1, __ATOMIC_ACQ_REL);
  tc__in_mark_work = 1;
  /* idle: a few slices, then look for coroutines again; fractional: what
   * the P owes of its share, in slices, at least one */
  uint64_t budget = WORKER_SLICE;
  if (idle)
    budget = IDLE_SLICES * WORKER_SLICE;
  uint64_t did = 0;
  while (did < budget) {
    /* a stop under way: the pause must not wait for a whole slice (the
     * M's preempt bits would not do: on g0 nobody clears them, and a
     * poke left over from an earlier stop would end every slice) */
    if (tc__world_stopping())
      break;
    if (w->n == 0 && !tc__pool_get(w))
      break;
    did += drain_slice(w, budget - did);
  }
  tc__in_mark_work = 0;
  /* the leftovers to the pool: a P without a running G holds no grey
   * entries (the handshake does not wait for it) */
  if (w->n)
    tc__pool_put(w, 0);
  __atomic_sub_fetch(&tc__gc.workers, 1, __ATOMIC_ACQ_REL);
  uint64_t t1 = tc__nanotime();
  tc__add_relaxed(&tc__gc.worker_ns, t1 - t0);
  tc__add_relaxed(&tc__gcc.bg_mark_ns, t1 - t0);
  if (TC__TRACING())
    tc__trace_mark_worker(t0, t1, did, idle);
  return did > 0;
}

void tc__assist_charge(tc__mcache *c, uint64_t bytes) {
  if (c->gc == NULL)
    return;
  c->gc->assist_debt += (int64_t)bytes;
  tc__assist(c->gc);
  /* Coroutines switch only at safepoints, so a P busy with one that
   * never parks would reach its scheduling loop (and its fractional
   * share) only when sysmon asks it to yield, every 10 ms.  Its
   * allocations are frequent scheduling points of their own: the share
   * is paid here too (Go preempts its mutators for its workers
   * instead). */
  tc__gc_p_mark(c, false);
}

void tc__assist(tc__pgc *g) {
  tc__marker *w = &g->w;
  if (g->assist_debt < ASSIST_MIN || tc__in_mark_work)
    return;
  uint64_t live = tc__load_relaxed(&tc__h.live);
  uint64_t goal = tc__load_relaxed(&tc__gc.goal);
  uint64_t expected = tc__load_relaxed(&tc__gc.scan_expected);
  uint64_t done = tc__load_relaxed(&tc__gc.scan_done);
  uint64_t remaining = expected > done + MIN_WORK ? expected - done : MIN_WORK;
  uint64_t runway = goal > live + MIN_WORK ? goal - live : MIN_WORK;
  uint64_t debt = (uint64_t)g->assist_debt;
  g->assist_debt = 0;
  uint64_t work = (uint64_t)((double)debt * (double)remaining / (double)runway);
  if (work < MIN_WORK)
    work = MIN_WORK;
  uint64_t t0 = tc__nanotime();
  tc__in_mark_work = 1;
  __atomic_add_fetch(&tc__gc.assists, 1, __ATOMIC_ACQ_REL);
  uint64_t did = 0;
  while (did < work && tc__marking()) {
    /* a stop request (a pause, sysmon) ends the assist: the pause must
     * not wait for it, its time-to-safepoint counts as pause time */
    if (tc__load_relaxed(&tc__ctx_get()->preempt))
      break;
    if (w->n == 0 && !tc__pool_get(w)) {
      /* nothing to take: another marker holds the rest and shares it
       * when it sees `hungry`.  The assist ends; past the goal, the
       * allocation then parks until the cycle ends (collector/alloc.c),
       * which frees the P to mark as an idle one.  (Sleeping here held
       * the P and, counted in `assists`, kept the mark from ending.) */
      tc__pool_hungry();
      break;
    }
    did += drain_slice(w, work - did);
  }
  tc__in_mark_work = 0;
  if (w->n)
    tc__pool_put(w, 0); /* leftovers to the pool: the collector (and the
                           termination check) find them there */
  __atomic_sub_fetch(&tc__gc.assists, 1, __ATOMIC_ACQ_REL);
  uint64_t t1 = tc__nanotime();
  tc__add_relaxed(&tc__gcc.assist_ns, t1 - t0);
  if (TC__TRACING())
    tc__trace_assist(t0, t1, did);
}
