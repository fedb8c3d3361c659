/*
 * collector/cycle.c -- one collection cycle, and tc_gc().
 *
 * A cycle (as in Go's mgc.go: gcStart, gcMarkDone, gcMarkTermination):
 *
 *   off --trigger--> [pause 1: mark start] --> concurrent mark
 *       --> [pause 2: mark termination] --> concurrent sweep --> off
 *
 *   0. Outside any pause: finish the last cycle's sweep, return surplus
 *      pages to the OS.
 *   1. Mark start (world stopped): flush the Ps' allocation caches (every
 *      run handed out from now on is black), bump the epoch (every root
 *      stack turns grey), barrier on, phase MARK.  deletion: snapshot all
 *      root stacks, globals and handles here.  All modes: the finalizer
 *      queue and the children of finalizable objects.  Restart the world.
 *      Steps 0 and 1 run on the collector thread, or, for a cycle that an
 *      allocation triggered in hybrid or insertion mode, on the triggering
 *      coroutine, which then hands the cycle to the collector thread
 *      (collector/gcthread.c).
 *   2. Concurrent mark: the collector thread scans globals and handles
 *      (not deletion) and root stacks (sched/gscan.c); mark workers on the
 *      Ps (collector/workers.c) mark grey objects, a fractional 25% of the
 *      procs' time plus idle Ps (markthread=1: the collector thread marks,
 *      throttled to that share); mutators assist (collector/gcwork.c).  When no grey object is left anywhere and no
 *      assist runs (it holds packets it took), a ragged handshake makes
 *      every P flush its grey buffer; if all answered and that brought
 *      nothing, marking is done.
 *   3. Mark termination (world stopped): gather the Ps' grey buffers; if
 *      they or the pool hold grey objects, restart the world and go back
 *      to 2 (at most 4 times; Go's gcMarkDone loops the same way), so a
 *      large subgraph behind one late grey object is never marked inside
 *      a pause.  Then flush caches (unused run tails white again),
 *      allocation white; insertion: rescan every root stack; drain what
 *      is left on all marking threads;
 *      queue unreached finalizable objects; verify (gccheckmark); the next
 *      goal; barrier off; start the sweep (O(classes)).  Restart the world.
 *   stw mode, and every cycle of a bare mutator (tc_init without tc_run):
 *   steps 1-3 in one pause, marking from all roots.
 * Pauses are timed from the stop request to the restart, so the time to
 * reach a safepoint is included; each is recorded with its kind, and with
 * the same start and length in the event trace (collector/trace.c), where
 * the cycle, its concurrent mark and the background marker's slices (cut
 * at its throttle sleeps) go on the GC track.
 */
#include "barrier/barrier.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
  uint64_t goal = tc__load_relaxed(&tc__gc.goal);
  if (goal == UINT64_MAX)
    goal = tc__load_relaxed(&tc__h.inuse);
  tc__lock_acquire(&tc__h.lock);
  goals[tc__h.cycle % SCAVENGE_WINDOW] = goal;
  uint64_t keep = goal;
  if (!now)
    for (int i = 0; i < SCAVENGE_WINDOW; i++)
      if (goals[i] > keep)
        keep = goals[i];
  if (tc__gc.mem_limit && keep > tc__gc.mem_limit / 100 * 95)
    keep = tc__gc.mem_limit / 100 * 95;
  uint64_t held = tc__h.inuse + tc__h.free_dirty;
  if (now || held > keep + keep / 2)
    tc__pages_scavenge(keep + keep / 10);
  tc__lock_release(&tc__h.lock);
}

int tc__phase; /* TC__PHASE_*: set_phase only (sched/world.h) */

/* Moves the cycle to `phase`, writing together what each phase implies
 * (collector/collector.h): the barrier flag and the colour of new
 * allocation.  Legal moves:
 *   OFF -> MARK        concurrent mark starts: barrier on, allocate black
 *   OFF -> MARKTERM    stw mode: the whole mark in this pause
 *   MARK -> MARKTERM   mark termination: allocate white again
 *   MARK -> OFF        a cycle abandoned by the exiting runtime
 *   MARKTERM -> OFF    the sweep starts: barrier off
 * World stopped.  Under orphan_lock, the door of the threads that no
 * world stop stops (collector/gcwork.c): one that saw MARK there has
 * pushed its grey objects to the pool before the phase moves on, and
 * none greys anything after, so nothing it greys escapes termination. */
static void set_phase(int phase) {
  int from = tc__load_relaxed(&tc__phase);
  bool legal = (from == TC__PHASE_OFF && phase != TC__PHASE_OFF) ||
               (from == TC__PHASE_MARK && phase != TC__PHASE_MARK) ||
               (from == TC__PHASE_MARKTERM && phase == TC__PHASE_OFF);
  if (!legal)
    tc__fatal("collector phase %d cannot move to %d", from, phase);
  tc__lock_acquire(&tc__gc.orphan_lock);
  if (phase == TC__PHASE_MARK) /* the sweep may have reused its span */
    tc__marker_forget_span(&tc__gc.orphan);
  tc__store_relaxed(&tc__h.alloc_black, (uint32_t)(phase == TC__PHASE_MARK));
  tc__barrier_phase(phase);
  tc__store_relaxed(&tc__phase, phase);
  tc__lock_release(&tc__gc.orphan_lock);
}

/* Finishes the mark on all marking threads, queues finalizers, verifies,
 * sets the next goal and starts the sweep.  World stopped. */
static void finish_mark(tc__marker *m, uint64_t extra_marked,
                        tc__cycle_report *r) {
  while (tc__pool_take(m)) /* queued spans: the markers' drains take them */
    ;
  uint64_t before = m->scanned;
  uint64_t helpers = tc__workers_mark(m);
  /* the ephemeron fixpoint (collector/weak.c): values whose keys got
   * marked, until a settle finds none */
  while (tc__ephemerons_settle(m))
    helpers += tc__workers_mark(m);
  r->pause_objects += m->scanned - before;
  uint64_t black = tc__load_relaxed(&tc__h.black_bytes);
  tc__store_relaxed(&tc__h.black_bytes, (uint64_t)0);
  r->heap1 = tc__load_relaxed(&tc__h.live);
  if (r->mode != TC_BARRIER_STW)
    tc__pacer_feedback(r->heap1, r->goal);
  tc__store_relaxed(&tc__h.marked, m->marked + helpers + extra_marked + black);
  m->marked = 0;
  /* weak references and ephemerons with dead targets: cleared before the
   * finalizers resurrect anything (collector/weak.c) */
  uint64_t tw = TC__TRACING() || tc__debug_settings.gctrace ? tc__nanotime()
                                                             : 0;
  tc__weak_process(&r->weak);
  if (tw)
    r->weak_ns = tc__nanotime() - tw;
  tc__finalizers_collect();
  uint64_t reachable = 0;
  if (tc__debug_settings.gccheckmark)
    reachable = tc__verify_mark();
  r->marked = tc__load_relaxed(&tc__h.marked);
  if (tc__debug_settings.gccheckmark) {
    /* everything marked is kept; the verifier's fresh mark reached only
     * `reachable` of it: the rest floats until the next cycle */
    r->float_measured = true;
    TC_CHECK(reachable <= r->marked); /* what is reached was marked */
    r->float_bytes = r->marked - reachable;
  }
  /* The goal grows from everything this mark kept, what was allocated
   * (black) while it ran included, as Go's heapMarked does.  Those bytes
   * stay in the heap until the next sweep: a goal grown from what tracing
   * found alone left the next cycle a runway short by all of them, and
   * binary-trees and GCBench then ran a cycle as soon as the last one
   * ended, their mutators waiting at the goal in most cycles. */
  tc__gc.goal_basis = r->marked;
  tc__pacer_update(tc__gc.goal_basis);
  set_phase(TC__PHASE_OFF);
  tc__sweep_start();
}

/* ---- event trace (collector/trace.c); called only while tracing ---- */

static TC_COLD void trace_cycle(const tc__cycle_report *r, uint64_t cycle,
                                bool done) {
  char name[64];
  snprintf(name, sizeof name, "GC %llu (%s)%s", (unsigned long long)cycle,
           r->mode == TC__BARRIER_NONE ? "none" : tc_barrier_name(r->mode),
           done ? "" : " abandoned");
  tc__trace_cycle(name, r->t_start, tc__nanotime(), cycle, &r->weak);
}

static TC_COLD void trace_pause(const tc__cycle_report *r, uint64_t start,
                                uint64_t ns, int kind) {
  tc__trace_pause(start, ns, kind, tc__load_relaxed(&tc__gc.cycles_done) + 1,
                  r->mode);
}

/* The background marker's current slice began here (0: not tracing). */
static uint64_t mark_slice_t0;

/* Ends the background marker's slice (before a sleep); starts the next. */
static void mark_slice_end(void) {
  if (TC__TRACING() && mark_slice_t0)
    tc__trace_gc("mark", mark_slice_t0, tc__nanotime(),
                 tc__load_relaxed(&tc__gc.cycles_done) + 1);
  mark_slice_t0 = 0;
}
static void mark_slice_begin(void) {
  mark_slice_t0 = TC__TRACING() ? tc__nanotime() : 0;
}

/* The concurrent mark (step 2); false if the runtime began exiting. */
static bool concurrent_mark(tc__cycle_report *r);
#define MAX_RESTARTS 4 /* mark-termination attempts that found work */

/* Throws away a cycle the exiting runtime interrupted. */
static void abandon(tc__marker *m) {
  set_phase(TC__PHASE_OFF);
  tc__pool_set_concurrent(false);
  while (tc__pool_take(m))
    ;
  m->n = 0;
  tc__spanq_discard();
}

/* A cycle in progress: its report, and what it started from. */
typedef struct cycle {
  tc__cycle_report r;
  uint64_t assist0; /* tc__gcc.assist_ns at the start */
  bool begun;       /* handed: cycle_start returned true */
} cycle;

/* Steps 0 and 1 (in stw mode steps 0 to 3): from the sweep's end to the
 * restart after the mark-start pause, on the collector thread or on the
 * coroutine whose allocation triggered the cycle (tc__cycle_start_here).
 * False if the runtime is exiting (nothing begun). */
static bool cycle_start(int reason, int mode, cycle *c) {
  tc__cycle_report *r = &c->r;
  memset(c, 0, sizeof *c);
  r->reason = reason;
  r->mode = mode;
  r->procs = tc__gc.procs;
  r->goal = tc__load_relaxed(&tc__gc.goal);
  tc__sweep_finish();
  scavenge(false);
  r->heap0 = tc__load_relaxed(&tc__h.live);
  c->assist0 = tc__load_relaxed(&tc__gcc.assist_ns);
  tc__marker *m = &tc__gc.marker;
  m->marked = 0;
  r->t_start = tc__nanotime();
  if (!tc__world_stop())
    return false;
  TC_CHECK(tc__spanq_empty());
  tc__gc_flush_caches();
  tc__sweep_finish(); /* nothing left normally: refills sweep first */
  /* Markers cache the spans they looked up; the sweep since the last
   * cycle may have freed them and reused their pages. */
  tc__marker_forget_span(m);
  tc__gc_forget_spans(); /* the orphan's: set_phase */
  tc__barrier_cycle_mode(mode);
  if (mode == TC_BARRIER_STW) {
    set_phase(TC__PHASE_MARKTERM);
    r->pause_slots += tc__gc_scan_stacks(m, false);
    r->pause_slots += tc__roots_scan_globals(m);
    r->pause_slots += tc__handles_scan(m);
    r->pause_slots += tc__world_scan_timers(m);
    tc__finalizers_scan_queue(m); /* every mode, in the pause */
    finish_mark(m, 0, r);
    r->pause2_ns = tc__world_start() - r->t_start;
    if (TC__TRACING()) /* first: a reader of the stats finds it traced */
      trace_pause(r, r->t_start, r->pause2_ns, 1);
    tc__stats_record_pause(r->t_start, r->pause2_ns, 1);
    return true;
  }
  __atomic_add_fetch(&tc__gc.epoch, 1, __ATOMIC_RELAXED);
  tc__store_relaxed(&tc__h.black_bytes, (uint64_t)0);
  tc__store_relaxed(&tc__gc.scan_done, (uint64_t)0);
  tc__store_relaxed(&tc__gc.scan_expected,
                    tc__h.marked ? tc__h.marked : r->heap0 / 2);
  tc__gc.heap_at_trigger = r->heap0;
  tc__pool_set_concurrent(true);
  /* background marking: mark workers on the Ps, unless markthread=1
   * (the collector thread marks, throttled; see concurrent_mark) */
  tc__store_relaxed(&tc__gc.mark_start_ns, tc__nanotime());
  tc__store_relaxed(&tc__gc.worker_ns, (uint64_t)0);
  tc__store_release(&tc__gc.workers_on,
                    (uint32_t)!tc__debug_settings.markthread);
  set_phase(TC__PHASE_MARK);
  if (mode == TC_BARRIER_DELETION) {
    r->pause_slots += tc__gc_scan_stacks(m, false);
    r->pause_slots += tc__roots_scan_globals(m);
    r->pause_slots += tc__handles_scan(m);
    r->pause_slots += tc__world_scan_timers(m);
  }
  tc__finalizers_scan_queue(m); /* every mode, in the pause */
  r->pause1_ns = tc__world_start() - r->t_start;
  if (TC__TRACING())
    trace_pause(r, r->t_start, r->pause1_ns, 0);
  tc__stats_record_pause(r->t_start, r->pause1_ns, 0);
  return true;
}

/* Steps 2 and 3 of a concurrent cycle, on the collector thread.  False if
 * the runtime is exiting (the cycle abandoned). */
static bool cycle_mark(tc__cycle_report *r) {
  tc__marker *m = &tc__gc.marker;
  int mode = r->mode;
  /* Mark, then stop the world and look at the Ps' grey buffers: if
   * they (or the pool) still hold grey objects, marking was not done;
   * restart the world and mark on concurrently instead of draining
   * what may be a large subgraph inside the pause (Go's gcMarkDone
   * does the same).  After MAX_RESTARTS the pause drains the rest. */
  uint64_t extra = 0, t2;
  for (int restarts = 0;; restarts++) {
    uint64_t t1 = tc__nanotime();
    bool ok = concurrent_mark(r);
    t2 = tc__nanotime();
    r->mark_ns += t2 - t1;
    if (TC__TRACING())
      tc__trace_gc("concurrent mark", t1, t2,
                   tc__load_relaxed(&tc__gc.cycles_done) + 1);
    if (!ok || !tc__world_stop()) {
      abandon(m);
      if (TC__TRACING())
        trace_cycle(r, tc__load_relaxed(&tc__gc.cycles_done) + 1, false);
      return false;
    }
    tc__gc_collect_gcws(m, &extra);
    /* ephemerons whose keys were marked since they were deferred: their
     * values are more marking; the pause walks only the pending list */
    if (m->n == 0 && tc__pool_empty())
      tc__ephemerons_settle(m);
    if ((m->n == 0 && tc__pool_empty()) || restarts == MAX_RESTARTS)
      break;
    uint64_t ns = tc__world_start() - t2;
    if (TC__TRACING())
      trace_pause(r, t2, ns, 1);
    tc__stats_record_pause(t2, ns, 1);
    r->restarts++;
  }
  tc__gc_flush_caches(); /* unused run tails turn white again */
  set_phase(TC__PHASE_MARKTERM);
  /* no thread greys into the orphan any more (set_phase) */
  extra += tc__gc.orphan.marked;
  tc__gc.orphan.marked = 0;
  tc__pool_set_concurrent(false);
  if (mode == TC_BARRIER_INSERTION)
    r->pause_slots += tc__gc_scan_stacks(m, false);
  /* hybrid: concurrent_mark returned only once every root stack was
   * black, and none turns grey again within a cycle (new Gs start
   * black): no stack work here.  Checked builds walk the Gs to be sure. */
  if (TC_DEBUG >= 2 && mode != TC_BARRIER_INSERTION &&
      mode != TC_BARRIER_DELETION)
    TC_CHECK(tc__gc_scan_stacks(m, true) == 0);
  finish_mark(m, extra, r);
  r->pause2_ns = tc__world_start() - t2;
  if (TC__TRACING())
    trace_pause(r, t2, r->pause2_ns, 1);
  tc__stats_record_pause(t2, r->pause2_ns, 1);
  return true;
}

/* The cycle's report and trace, once it is complete. */
static void cycle_end(cycle *c) {
  tc__cycle_report *r = &c->r;
  r->assist_ns = tc__load_relaxed(&tc__gcc.assist_ns) - c->assist0;
  tc__store_relaxed(&tc__gc.last_gc_ns, tc__nanotime());
  tc__stats_cycle_done(r);
  if (TC__TRACING())
    trace_cycle(r, tc__load_relaxed(&tc__gc.cycles_done) + 1, true);
}

void tc__cycle_run(int reason) {
  int mode = tc__world_scheduled() ? tc__barrier_next() : TC_BARRIER_STW;
  cycle c;
  if (!cycle_start(reason, mode, &c))
    return;
  if (mode != TC_BARRIER_STW && !cycle_mark(&c.r))
    return;
  cycle_end(&c);
}

/* A cycle whose mark-start pause its triggering coroutine ran: the report
 * it hands the collector thread (under the request mutex, gcthread.c). */
static cycle handed;

int tc__cycle_mode_here(void) {
  int mode = tc__barrier_next();
  if (mode == TC_BARRIER_STW || mode == TC_BARRIER_DELETION ||
      tc__debug_settings.markthread || !tc__world_can_stop_here())
    return -1;
  return mode;
}

void tc__cycle_start_here(int reason, int mode) {
  handed.begun = cycle_start(reason, mode, &handed); /* false: exiting */
}

void tc__cycle_abandon_handed(void) {
  if (handed.begun)
    abandon(&tc__gc.marker);
}

void tc__cycle_finish_handed(void) {
  if (!handed.begun)
    return;
  /* woken by the hand-over just as the restarted Ms are: they run first
   * (with 2 mutators on 2 CPUs its first marking burst, ~0.2 ms, held
   * one of them off its CPU: restart lag p99 ~0.5 ms) */
  tc__world_await_restart();
  if (!cycle_mark(&handed.r))
    return;
  cycle_end(&handed);
}

/* ---------------------------------------------------------------- step 2 */

#define DRAIN_SLICE ((uint64_t)128 << 10) /* bytes scanned between checks */

/* Sleeps off any CPU the collector thread used beyond its share u of one
 * CPU since t0, unless Ps are idle (Go's idle workers), assists wait for
 * work, or the heap used half its runway from the trigger to the goal. */
static void throttle(tc__marker *m, uint64_t t0, uint64_t cpu0, double u) {
  uint64_t live = tc__load_relaxed(&tc__h.live);
  uint64_t goal = tc__load_relaxed(&tc__gc.goal);
  uint64_t start = tc__gc.heap_at_trigger;
  if (u >= 1.0 || tc__world_idle_procs() > 0 || tc__pool_is_hungry() ||
      live >= goal || (goal > start && live - start > (goal - start) / 2))
    return;
  if (m->n >= 2 * TC__PACKET && tc__pool_empty())
    tc__pool_put(m, TC__PACKET); /* work for assists while we sleep */
  uint64_t el = tc__nanotime() - t0;
  uint64_t work = tc__thread_cputime() - cpu0;
  if ((double)work <= u * (double)el)
    return;
  uint64_t ns = (uint64_t)((double)work / u) - el;
  if (ns > 2000000)
    ns = 2000000;
  struct timespec ts = {0, (long)ns};
  mark_slice_end();
  nanosleep(&ts, NULL);
  mark_slice_begin();
}

/* How long the collector thread sleeps between looks while the Ps mark
 * (ns): from WATCH_MIN_NS, doubling up to WATCH_NS while the mark goes
 * on, so a small mark (a small heap, gcstress) is noticed finished within
 * microseconds and a long one costs the thread a wake-up every 200 us,
 * not a share of a CPU. */
#define WATCH_MIN_NS 10000
#define WATCH_NS 200000
/* With no marking progress for this long while work waits in the pool
 * (every P runs a coroutine that never reaches a scheduling point and
 * allocates nothing), the collector thread marks a slice itself. */
#define STALL_NS 2000000
/* What the collector thread marks itself before it hands the rest to the
 * Ps (scan bytes): a small mark (a small heap, gcstress's cycle at every
 * allocation) ends here with no thread woken; a large one costs the
 * thread ~0.2 ms of CPU before the Ps take over. */
#define BURST ((uint64_t)256 << 10)

static bool concurrent_mark_workers(tc__cycle_report *r);

/* The roots other than stacks, concurrently (deletion snapshotted them in
 * the mark-start pause): globals, handles, the timers. */
static void scan_other_roots(tc__marker *m, tc__cycle_report *r) {
  if (r->mode == TC_BARRIER_DELETION)
    return;
  r->global_bytes = 8 * tc__roots_scan_globals(m);
  tc__handles_scan(m);
  tc__world_scan_timers(m);
}

/* Sleeps TRICOLOR_DEBUG=gcmarkdelay microseconds, a test hook that gives
 * the mutators time to act before any marking.  Collector thread, before
 * the first mark slice. */
static void mark_delay(void) {
  tc__debug_delay(tc__debug_settings.gcmarkdelay);
}

/* Begins a round of a concurrent mark loop.  Returns false, the mark slice
 * ended, when the world is exiting (the cycle is abandoned); otherwise
 * scans root stacks concurrently until all are black (*stacks) and
 * returns true.  Collector thread, inside a mark slice. */
static bool mark_round(tc__marker *m, bool *stacks) {
  if (tc__world_exiting()) {
    mark_slice_end();
    return false;
  }
  if (!*stacks)
    *stacks = tc__world_scan_stacks_concurrent(m);
  return true;
}

static bool concurrent_mark(tc__cycle_report *r) {
  if (tc__load_acquire(&tc__gc.workers_on))
    return concurrent_mark_workers(r);
  tc__marker *m = &tc__gc.marker;
  m->shared = true;
  double u = 0.25 * (double)tc__gc.procs;
  mark_delay();
  uint64_t t0 = tc__nanotime(), cpu0 = tc__thread_cputime();
  mark_slice_begin();
  int mode = r->mode;
  scan_other_roots(m, r);
  bool stacks = mode == TC_BARRIER_DELETION;
  for (;;) {
    if (!mark_round(m, &stacks))
      return false;
    for (int i = 0; i < 16; i++) {
      if (m->n == 0 && !tc__pool_get(m))
        break;
      tc__mark_drain_budget(m, DRAIN_SLICE);
      throttle(m, t0, cpu0, u);
    }
    if (m->n || !tc__pool_empty())
      continue;
    if (!stacks) {
      struct timespec ts = {0, 20000}; /* running Gs scan themselves */
      mark_slice_end();
      nanosleep(&ts, NULL);
      mark_slice_begin();
      continue;
    }
    mark_slice_end(); /* the handshake waits for the Ps */
    bool all = tc__world_flush_gcws(1000000);
    mark_slice_begin();
    /* an assist holds the packets it took from the pool until it ends */
    if (all && m->n == 0 && tc__pool_empty() &&
        tc__load_acquire(&tc__gc.assists) == 0 && tc__pool_empty()) {
      /* deferred ephemerons whose keys are marked by now: more to mark */
      if (tc__ephemerons_settle(m))
        continue;
      mark_slice_end();
      r->bg_ns = tc__thread_cputime() - cpu0;
      tc__add_relaxed(&tc__gcc.bg_mark_ns, r->bg_ns);
      return true;
    }
  }
}

/* Step 2 with mark workers on the Ps (Go's design): the collector thread
 * scans the globals and the root stacks, hands the work to the pool and
 * then only watches: Ps mark in their scheduling loops (a fractional share
 * of each P's time, and all of an idle P's), mutators assist.  It marks
 * itself only when marking stalls (STALL_NS).  Done: as in the other
 * loop, every stack black, the pool empty, nobody holding packets, the
 * Ps' grey buffers flushed by the handshake, no ephemeron to resolve. */
static bool concurrent_mark_workers(tc__cycle_report *r) {
  tc__marker *m = &tc__gc.marker;
  m->shared = true;
  mark_delay();
  uint64_t cpu0 = tc__thread_cputime();
  uint64_t bg0 = tc__load_relaxed(&tc__gcc.bg_mark_ns);
  mark_slice_begin();
  scan_other_roots(m, r);
  bool stacks = r->mode == TC_BARRIER_DELETION;
  uint64_t progress = tc__load_relaxed(&tc__gc.scan_done);
  uint64_t progress_at = tc__nanotime();
  long watch = WATCH_MIN_NS;
  uint64_t burst = 0; /* scan bytes the thread marked itself (BURST) */
  for (;;) {
    if (!mark_round(m, &stacks))
      return false;
    if (burst < BURST && (m->n || tc__pool_get(m)))
      burst += tc__mark_drain_budget(m, BURST - burst);
    if (m->n)
      tc__pool_put(m, 0); /* to the Ps */
    if (!tc__pool_empty() && tc__world_idle_procs() > 0)
      tc__world_wake_idle(); /* an idle P marks (Go's idle worker) */
    bool busy = tc__load_acquire(&tc__gc.workers) ||
                tc__load_acquire(&tc__gc.assists);
    if (!stacks || busy || !tc__pool_empty()) {
      uint64_t now = tc__nanotime(), done = tc__load_relaxed(&tc__gc.scan_done);
      if (done != progress) {
        progress = done;
        progress_at = now;
      } else if (now - progress_at > STALL_NS && !tc__pool_empty() &&
                 tc__pool_get(m)) {
        tc__mark_drain_budget(m, DRAIN_SLICE); /* nobody else marks */
        progress_at = tc__nanotime();
        continue;
      }
      mark_slice_end();
      struct timespec ts = {0, watch};
      nanosleep(&ts, NULL);
      if (watch < WATCH_NS)
        watch *= 2;
      mark_slice_begin();
      continue;
    }
    mark_slice_end(); /* the handshake waits for the Ps */
    bool all = tc__world_flush_gcws(1000000);
    mark_slice_begin();
    watch = WATCH_MIN_NS;
    if (all && m->n == 0 && tc__pool_empty() &&
        tc__load_acquire(&tc__gc.workers) == 0 &&
        tc__load_acquire(&tc__gc.assists) == 0 && tc__pool_empty()) {
      if (tc__ephemerons_settle(m))
        continue; /* more to mark: to the pool at the top of the loop */
      mark_slice_end();
      uint64_t own = tc__thread_cputime() - cpu0;
      tc__add_relaxed(&tc__gcc.bg_mark_ns, own);
      r->bg_ns = tc__load_relaxed(&tc__gcc.bg_mark_ns) - bg0;
      return true;
    }
  }
}

/* ---------------------------------------------------------------- entry points */

bool tc__collect(int reason) {
  if (tc__world_scheduled()) {
    if (reason == TC__REASON_OOM)
      tc__gcthread_wait(tc__gcthread_request(reason));
    else if (reason != TC__REASON_HEAP || !tc__gcthread_begin_here(reason))
      tc__gcthread_request(reason);
    return true;
  }
  uint32_t idle = 0;
  if (!tc__cas_acq_rel(&tc__gc.in_cycle, &idle, 1u))
    return false;
  tc__cycle_run(reason);
  tc__store_release(&tc__gc.cycles_done, tc__gc.cycles_done + 1);
  tc__store_release(&tc__gc.in_cycle, 0u);
  return true;
}

void tc_gc(void) {
  tc__require_mutator("tc_gc");
  /* Returns after a whole cycle that started after this call (Go's
   * runtime.GC): if one is running now, the one after it. */
  if (tc__world_scheduled()) {
    tc__gcthread_wait(tc__gcthread_request(TC__REASON_EXPLICIT));
  } else {
    uint64_t need = tc__load_acquire(&tc__gc.cycles_done) +
                    (tc__load_acquire(&tc__gc.in_cycle) ? 2 : 1);
    while (tc__load_acquire(&tc__gc.cycles_done) < need)
      tc__collect(TC__REASON_EXPLICIT);
  }
  tc__sweep_finish();
  scavenge(true);
  tc_run_finalizers();
}

void tc__scavenge(bool now) { scavenge(now); }
