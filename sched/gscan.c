/*
 * sched/gscan.c -- root stacks while the collector marks concurrently:
 * scanning each coroutine's root stack once per cycle, without stopping the
 * world, and the Ps' grey buffers.
 *
 * Colour of a root stack: g->gcscan == tc__gc_stack_black() (2 * the
 * collector's epoch) means black (scanned in the current cycle); an odd
 * value means someone is scanning
 * it right now; anything else is grey.  Nothing resets the colours at
 * cycle start: bumping the epoch turns every stack grey at once.
 *
 * Who scans (hybrid, insertion and the test-only none mode; deletion
 * snapshots every stack in the mark-start pause instead):
 *   1. The collector thread walks all Gs.  It claims a grey stack by CAS to
 *      the odd value, then reads the G's status: if the G is not running
 *      (runnable, waiting, in a syscall: its root stack is frozen) it scans
 *      and stores black; if it runs, it restores the old value and asks the
 *      G's M, through the GCWORK preempt bit, to have the G scan itself.
 *   2. A G about to run (execute, syscall exit) first waits while its
 *      stack is being scanned, then, if it is still grey, scans it itself
 *      into its P's grey buffer: the M does it before the G runs a line.
 *   3. A running G asked by the collector scans itself at its next
 *      safepoint (tc_safepoint, any allocation slow path).
 *   After 2 and 3 the P's barrier is told its running G's stack is black
 *   (tc__barrier_stack_black): hybrid then records no new references.
 *   4. A G created while marking starts black; tc_go shades its argument.
 * The claim and the status form a Dekker pair: the collector writes gcscan
 * then reads status, the G writes status (RUNNING) then reads gcscan, all
 * four accesses seq_cst (the G's write as a read-modify-write after its
 * status CAS), so at least one sees the other and a stack is never scanned
 * while its owner runs.
 *
 * Grey buffers: each P has one (the collector's, hung off its cache) for
 * barrier shades and assists.  A P flushes it to the shared pool when its
 * G switches out or enters a syscall, and at a safepoint when the
 * collector asks (tc__world_flush_gcws, a ragged handshake before mark
 * termination, so the pause finds little left to drain).  A switch-out
 * answers the handshake as a safepoint does: a G that yields in a loop
 * never polls one.
 *
 * This file is the world side of the stack-scan handshake: it knows the
 * Gs, their status and their Ms; what a scan does, the colours and the
 * grey buffers are the collector's, reached through sched/world.h.
 */
#include "sched/proc.h"

#include <sched.h>
#include <string.h>
#include <time.h>

static inline uint32_t black(void) { return tc__gc_stack_black(); }

static uint64_t scan_roots(tc__marker *m, tc__g *g) {
  return tc__gc_scan_roots(m, &g->rs, &g->arg);
}

/* Scans g's root stack into w unless it is black; g is ours (running on
 * this M, or about to).  Waits out a collector that claimed it meanwhile. */
static void self_scan(tc__g *g, tc__marker *w) {
  uint32_t b = black();
  for (;;) {
    uint32_t v = tc__load_acquire(&g->gcscan);
    if (v == b)
      return;
    if (v & 1) {
      sched_yield(); /* the collector claimed it and will see us running */
      continue;
    }
    if (__atomic_compare_exchange_n(&g->gcscan, &v, b - 1, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      scan_roots(w, g);
      tc__store_release(&g->gcscan, b);
      return;
    }
  }
}

void tc__gscan_wait(tc__g *g) {
  /* Claims happen only while marking, and the phase changes only with the
   * world stopped, which cannot happen while this M holds its P: off the
   * mark, a context switch pays one load here and nothing else. */
  if (!tc__marking())
    return;
  /* status (RUNNING) -> gcscan: a seq_cst read-modify-write of the status
   * orders it before the seq_cst load below (ThreadSanitizer does not
   * model fences, so none are used) */
  __atomic_fetch_add(&g->status, 0u, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&g->gcscan, __ATOMIC_ACQUIRE) & 1)
    sched_yield();
  if (tc__gc_stacks_concurrent()) {
    tc__mcache *c = (tc__mcache *)tc__ctx_get()->cache;
    tc__marker *w = tc__gc_p_gcw(c);
    if (w) {
      self_scan(g, w); /* returns at once if black */
      tc__barrier_stack_black(c); /* g runs on c's P next */
    }
  }
}

void tc__gscan_safepoint(tc__g *g, tc__p *p) {
  tc__marker *w = p ? tc__gc_p_gcw(&p->cache) : NULL;
  if (w == NULL || !tc__marking())
    return;
  if (tc__gc_stacks_concurrent()) {
    self_scan(g, w);
    tc__barrier_stack_black(&p->cache);
  }
  tc__gc_p_safepoint(&p->cache);
}

void tc__gscan_newg(tc__g *g) {
  if (!tc__marking()) {
    g->gcscan = 0;
    return;
  }
  tc__store_relaxed(&g->gcscan, black());
  tc__gc_shade_arg(g->arg); /* its new owner's stack is black */
}

bool tc__world_current_colour(uint32_t *colour) {
  tc__g *g = tc__getg();
  if (g == NULL)
    return false;
  *colour = tc__load_relaxed(&g->gcscan);
  return true;
}

/* ---------------------------------------------------------------- collector side */

bool tc__world_scheduled(void) { return tc__load_acquire(&tc__sched.running); }

bool tc__world_scan_stacks_concurrent(tc__marker *m) {
  bool all = true;
  uint32_t b = black();
  tc__spin_lock(&tc__sched.allg_lock);
  for (tc__g *g = tc__sched.allg; g; g = g->allnext) {
    uint32_t v = tc__load_acquire(&g->gcscan);
    if (v == b)
      continue;
    if ((v & 1) || !__atomic_compare_exchange_n(&g->gcscan, &v, b - 1, false,
                                                __ATOMIC_SEQ_CST,
                                                __ATOMIC_RELAXED)) {
      all = false; /* its owner scans it right now */
      continue;
    }
    /* the seq_cst CAS above, then this seq_cst load: see tc__gscan_wait */
    uint32_t st = __atomic_load_n(&g->status, __ATOMIC_SEQ_CST);
    if (st == TC__G_RUNNING) {
      tc__store_release(&g->gcscan, v); /* not ours: ask it */
      tc__m *om = tc__load_acquire(&g->m);
      tc__ctx *c = om ? tc__load_acquire(&om->ctx) : NULL;
      if (c)
        tc__preempt_set(c, TC__PREEMPT_GCWORK);
      all = false;
      continue;
    }
    if (st != TC__G_DEAD)
      scan_roots(m, g);
    tc__store_release(&g->gcscan, b);
  }
  tc__spin_unlock(&tc__sched.allg_lock);
  return all;
}

uint64_t tc__world_scan_stacks(tc__marker *m, bool only_grey) {
  uint64_t n = 0;
  uint32_t b = black();
  tc__spin_lock(&tc__sched.allg_lock);
  for (tc__g *g = tc__sched.allg; g; g = g->allnext) {
    if (only_grey && tc__load_relaxed(&g->gcscan) == b)
      continue;
    /* sysmon may ready a sleeper meanwhile: the G still cannot run */
    if (tc__load_acquire(&g->status) != TC__G_DEAD)
      n += scan_roots(m, g);
    tc__store_relaxed(&g->gcscan, b);
  }
  tc__spin_unlock(&tc__sched.allg_lock);
  return n;
}

void tc__world_scan_stacks_verify(tc__marker *m) {
  tc__spin_lock(&tc__sched.allg_lock);
  for (tc__g *g = tc__sched.allg; g; g = g->allnext)
    if (tc__load_acquire(&g->status) != TC__G_DEAD)
      scan_roots(m, g);
  tc__spin_unlock(&tc__sched.allg_lock);
}

bool tc__world_flush_gcws(uint64_t wait_ns) {
  uint32_t gen = tc__gc_flush_request();
  uint64_t deadline = tc__nanotime() + wait_ns;
  for (int round = 0;; round++) {
    bool all = true;
    for (unsigned i = 0; i < tc__sched.nprocs; i++) {
      tc__p *p = &tc__sched.allp[i];
      if (tc__load_acquire(&p->status) != TC__P_RUNNING)
        continue; /* it flushed when it stopped running a G */
      tc__m *om = tc__load_relaxed(&p->m);
      if (om == NULL || tc__load_relaxed(&om->curg) == NULL)
        continue; /* flushed when its last G switched out */
      if (tc__gc_p_acked(&p->cache, gen))
        continue;
      all = false;
      if (round == 0) {
        tc__ctx *c = tc__load_acquire(&om->ctx);
        if (c)
          tc__preempt_set(c, TC__PREEMPT_GCWORK);
      }
    }
    if (all)
      return true;
    if (tc__nanotime() >= deadline)
      return false;
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
  }
}
