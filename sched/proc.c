/*
 * sched/proc.c -- the G/M/P scheduler: run queues, the scheduling loop,
 * parking, coroutine creation and exit, system calls, and stopping the
 * world for the collector.
 *
 * Algorithm (Go's proc.go; the code is ours):
 *   1. Each M runs the scheduling loop on its native stack (g0).  It finds
 *      a runnable G, switches into it, and is switched back to when the G
 *      parks, yields, exits or stops for the collector; the G leaves the
 *      action to finish on g0 in m->after (g0 releases the wait-queue lock
 *      of a parking G, queues a yielding G, frees a dead G's stack).  A
 *      G that yields goes to the tail of its P's queue; one that sysmon
 *      preempts goes behind the global queue when Gs wait there (Go's
 *      gopreempt_m always does), else a P whose queue is empty would
 *      take it straight back and starve them.
 *   2. Finding work (find_runnable): stop if the world is stopping; fire
 *      due timers; every 61st tick take one G from the global queue first
 *      (fairness); the local queue (runnext first); the global queue; steal
 *      half of a random victim's queue (only while spinning Ms are at most
 *      half the busy Ps); else give the P back and park the M.
 *   3. Local run queue: a 256-entry ring.  Only the owner writes the tail
 *      (release store); consumers and thieves CAS the head.  runnext holds
 *      a G created or readied by the running G: it runs next and inherits
 *      the time slice (schedtick is not bumped).  A full ring moves half of
 *      itself to the global queue.
 *   4. Spinning: an M looking for work is "spinning".  New work calls
 *      wakep(), which starts one spinning M only if there is an idle P and
 *      no M is spinning already; the last spinner to find work wakes
 *      another.  Together with the re-checks after releasing a P this
 *      means runnable work is never stranded while a P is idle.
 *   5. System calls: tc_syscall_enter marks the G as in a syscall and lets
 *      go of its P: m->p and p->m are cleared, then the P's status becomes
 *      SYSCALL.  A P in SYSCALL belongs to whoever moves it out by CAS:
 *      sysmon retakes one stuck in a syscall (to IDLE) and hands it to
 *      another M, a stopping world takes it (to GCSTOP), and
 *      tc_syscall_exit takes it back (to RUNNING) if it is still in
 *      SYSCALL, else any idle P, else queues the G and parks the M.  No
 *      one ever writes another M's `p`, so an M cannot lose its P to a
 *      late write (an earlier design let sysmon clear the M's p after
 *      its CAS: an M that had meanwhile come back with another P ran
 *      without one), and the exit needs no tick check (a P retaken, run
 *      and back in SYSCALL for another M's syscall is free again).
 *   6. Stop the world: the collecting G marks every P as stopping; idle Ps
 *      and Ps in a syscall are taken at once, running ones stop at their
 *      next safepoint (the M's preempt flag is set).  The collector then
 *      owns every G's root stack.  Each stopped M waits on one generation
 *      word (worldgen); starting the world hands every P with work back to
 *      the M that stopped on it and wakes them all with one system call.
 *      The pause ends just before that call; how long the OS then takes
 *      to run those Ms is recorded apart (restart_lag, restart_lag_max),
 *      and the collector thread waits off the CPU until the last of them
 *      runs (resumenote), so that it does not take a CPU they need.
 *
 *   7. Event trace (collector/trace.c): a G's run slice on its P begins in
 *      execute() and ends in after_switch() (or at syscall entry, and a
 *      new one begins at syscall exit, which may be on another P);
 *      creation, parking and readying are instants.  Each hook is one
 *      relaxed load and a not-taken branch while no trace runs.
 *
 * Invariants: a G is on at most one run queue; a RUNNING G's M holds a P;
 * the P of an M is `m->p`, and `p->m == m` while the P is RUNNING.
 * Memory order: run-queue slots are published by the release store of
 * the tail and read after the acquire load of it; the status CAS of a G
 * (acq_rel) orders everything written before it is handed to another M.
 */
#include "sched/sched.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/proc.h"

tc__sched_t tc__sched;

/* ---------------------------------------------------------------- basics */

static uint32_t fastrand(tc__m *m) {
  uint32_t x = m->rand; /* xorshift32 */
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  m->rand = x;
  return x;
}

static tc__m *getm(void) { return (tc__m *)tc__ctx_get()->owner; }

/* Not inlined: the M is looked up afresh at every call (the caller may
 * have moved to another M at its last safepoint). */
TC_NOINLINE uint32_t tc__fastrand(void) { return fastrand(getm()); }

tc__g *tc__getg(void) {
  tc__m *m = getm();
  return (tc__sched.running && m) ? m->curg : NULL;
}

tc__g *tc__needg(const char *call) {
  tc__g *g = tc__getg();
  if (g == NULL)
    tc__fatal("%s called outside a coroutine (use tc_run)", call);
  return g;
}

const char *tc__g_status_name(uint32_t s) {
  switch (s) {
  case TC__G_IDLE: return "idle";
  case TC__G_RUNNABLE: return "runnable";
  case TC__G_RUNNING: return "running";
  case TC__G_SYSCALL: return "syscall";
  case TC__G_WAITING: return "waiting";
  case TC__G_DEAD: return "dead";
  default: return "?";
  }
}

/* The legal status transitions (sched/sched.h says what holds in each):
 * legal[from] has bit `to` set.  A fresh or reused G starts DEAD and is
 * made RUNNABLE by tc_go (IDLE is the zeroed record, never CASed). */
static const uint8_t legal[TC__G_DEAD + 1] = {
    [TC__G_DEAD] = 1u << TC__G_RUNNABLE,
    [TC__G_RUNNABLE] = 1u << TC__G_RUNNING,
    [TC__G_RUNNING] = 1u << TC__G_RUNNABLE | 1u << TC__G_WAITING |
                      1u << TC__G_SYSCALL | 1u << TC__G_DEAD,
    [TC__G_WAITING] = 1u << TC__G_RUNNABLE,
    [TC__G_SYSCALL] = 1u << TC__G_RUNNING | 1u << TC__G_RUNNABLE,
};

void tc__g_cas(tc__g *g, uint32_t from, uint32_t to) {
  if (from > TC__G_DEAD || to > TC__G_DEAD || !(legal[from] & (1u << to)))
    tc__fatal("coroutine %llu: illegal status change %s -> %s",
              (unsigned long long)g->id, tc__g_status_name(from),
              tc__g_status_name(to));
  uint32_t old = from;
  if (!tc__cas_acq_rel(&g->status, &old, to))
    tc__fatal("coroutine %llu: status is %s, expected %s (going to %s)",
              (unsigned long long)g->id, tc__g_status_name(old),
              tc__g_status_name(from), tc__g_status_name(to));
}

/* ---------------------------------------------------------------- queues */

/* Global run queue: a list under the sched lock. */
static void globrunq_put_batch(tc__g *head, tc__g *tail, uint32_t n) {
  TC__FIFO_APPEND(tc__sched.runq_head, tc__sched.runq_tail, head, tail,
                  schedlink);
  tc__store_relaxed(&tc__sched.runqsize, tc__sched.runqsize + n);
}

static void globrunq_put(tc__g *g) { globrunq_put_batch(g, g, 1); }

/* globrunq_put for a caller without the sched lock. */
static void globrunq_put_lock(tc__g *g) {
  tc__spin_lock(&tc__sched.lock);
  globrunq_put(g);
  tc__spin_unlock(&tc__sched.lock);
}

static tc__g *globrunq_pop(void) {
  tc__g *g;
  TC__FIFO_POP(tc__sched.runq_head, tc__sched.runq_tail, g, schedlink);
  if (g)
    tc__store_relaxed(&tc__sched.runqsize, tc__sched.runqsize - 1);
  return g;
}

/* Tries to put g and half the local queue on the global queue. */
static bool runq_put_slow(tc__p *p, tc__g *g, uint32_t h, uint32_t t) {
  tc__g *batch[TC__RUNQ / 2 + 1];
  uint32_t n = (t - h) / 2;
  for (uint32_t i = 0; i < n; i++)
    batch[i] = tc__load_relaxed(&p->runq[(h + i) % TC__RUNQ]);
  if (!tc__cas_acq_rel(&p->runqhead, &h, h + n))
    return false;
  batch[n] = g;
  for (uint32_t i = 0; i < n; i++)
    batch[i]->schedlink = batch[i + 1];
  tc__spin_lock(&tc__sched.lock);
  globrunq_put_batch(batch[0], batch[n], n + 1);
  tc__spin_unlock(&tc__sched.lock);
  return true;
}

/* Puts g on p's local queue (step 3); owner only. */
static void runq_put(tc__p *p, tc__g *g, bool next) {
  if (next) {
    tc__g *old = __atomic_exchange_n(&p->runnext, g, __ATOMIC_ACQ_REL);
    if (old == NULL)
      return;
    g = old; /* the old runnext goes to the tail */
  }
  for (;;) {
    uint32_t h = tc__load_acquire(&p->runqhead);
    uint32_t t = p->runqtail;
    if (t - h < TC__RUNQ) {
      tc__store_relaxed(&p->runq[t % TC__RUNQ], g);
      tc__store_release(&p->runqtail, t + 1);
      return;
    }
    if (runq_put_slow(p, g, h, t))
      return;
  }
}

/* Takes a G from p's local queue; owner only.  *inherit: it was runnext. */
static tc__g *runq_get(tc__p *p, bool *inherit) {
  tc__g *next = tc__load_relaxed(&p->runnext);
  if (next && tc__cas_acq_rel(&p->runnext, &next, (tc__g *)NULL)) {
    *inherit = true;
    return next;
  }
  *inherit = false;
  for (;;) {
    uint32_t h = tc__load_acquire(&p->runqhead);
    uint32_t t = p->runqtail;
    if (t == h)
      return NULL;
    tc__g *g = tc__load_relaxed(&p->runq[h % TC__RUNQ]);
    if (tc__cas_acq_rel(&p->runqhead, &h, h + 1))
      return g;
  }
}

static uint32_t runq_len(tc__p *p) {
  uint32_t h = tc__load_acquire(&p->runqhead);
  uint32_t t = tc__load_acquire(&p->runqtail);
  return t - h;
}

static bool runq_empty(tc__p *p) {
  return runq_len(p) == 0 && tc__load_relaxed(&p->runnext) == NULL;
}

/* Grabs half of victim's queue into batch; returns how many. */
static uint32_t runq_grab(tc__p *victim, tc__g **batch, bool take_next) {
  for (;;) {
    uint32_t h = tc__load_acquire(&victim->runqhead);
    uint32_t t = tc__load_acquire(&victim->runqtail);
    uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (take_next) {
        tc__g *next = tc__load_relaxed(&victim->runnext);
        if (next) {
          if (tc__load_relaxed(&victim->status) == TC__P_RUNNING)
            usleep(3); /* let the victim run what it just readied */
          if (tc__cas_acq_rel(&victim->runnext, &next, (tc__g *)NULL)) {
            batch[0] = next;
            return 1;
          }
        }
      }
      return 0;
    }
    if (n > TC__RUNQ / 2)
      continue; /* read an inconsistent h/t: retry */
    for (uint32_t i = 0; i < n; i++)
      batch[i] = tc__load_relaxed(&victim->runq[(h + i) % TC__RUNQ]);
    if (tc__cas_acq_rel(&victim->runqhead, &h, h + n))
      return n;
  }
}

/* Steals half of victim's queue into p; returns one G to run. */
static tc__g *runq_steal(tc__p *p, tc__p *victim, bool take_next) {
  tc__g *batch[TC__RUNQ / 2];
  uint32_t n = runq_grab(victim, batch, take_next);
  if (n == 0)
    return NULL;
  tc__g *g = batch[--n];
  uint32_t t = p->runqtail;
  for (uint32_t i = 0; i < n; i++)
    tc__store_relaxed(&p->runq[(t + i) % TC__RUNQ], batch[i]);
  tc__store_release(&p->runqtail, t + n);
  return g;
}

/* Moves up to a fair share of the global queue to p; sched lock held. */
static tc__g *globrunq_get(tc__p *p, uint32_t max) {
  uint32_t size = tc__sched.runqsize;
  if (size == 0)
    return NULL;
  uint32_t n = size / tc__sched.nprocs + 1;
  if (n > size)
    n = size;
  if (max > 0 && n > max)
    n = max;
  if (n > TC__RUNQ / 2)
    n = TC__RUNQ / 2;
  tc__g *g = globrunq_pop();
  for (uint32_t i = 1; i < n; i++)
    runq_put(p, globrunq_pop(), false);
  return g;
}

/* ---------------------------------------------------------------- Ps, Ms */

/* Idle P list; sched lock held. */
static void pidle_put(tc__p *p) {
  tc__store_relaxed(&p->status, (uint32_t)TC__P_IDLE);
  tc__store_relaxed(&p->m, ((tc__m *)NULL));
  p->link = tc__sched.pidle;
  tc__sched.pidle = p;
  tc__store_relaxed(&tc__sched.npidle, tc__sched.npidle + 1);
}

static tc__p *pidle_get(void) {
  tc__p *p = tc__sched.pidle;
  if (p) {
    tc__sched.pidle = p->link;
    tc__store_relaxed(&tc__sched.npidle, tc__sched.npidle - 1);
  }
  return p;
}

/* Binds p to the running M. */
static void acquirep(tc__m *m, tc__p *p) {
  tc__store_relaxed(&m->p, p);
  tc__store_relaxed(&p->m, (m));
  /* release: whoever reads RUNNING (acquire) may follow p->m into the M */
  tc__store_release(&p->status, (uint32_t)TC__P_RUNNING);
  m->ctx->cache = &p->cache.runs;
}

static tc__p *releasep(tc__m *m) {
  tc__p *p = m->p;
  tc__store_relaxed(&m->p, (tc__p *)NULL);
  tc__store_relaxed(&p->m, ((tc__m *)NULL));
  m->ctx->cache = tc__world_no_cache();
  return p;
}


/* Creates an M that will run with p (spinning or not); sched lock held. */
static bool newm(tc__p *p, bool spinning) {
  /* Once main returned no thread starts: tc_run joins the Ms it lists
   * under this lock after it saw `exiting`, so one linked later would
   * outlive it. */
  if (__atomic_load_n(&tc__sched.exiting, __ATOMIC_SEQ_CST))
    return false;
  if (tc__sched.mcount >= tc__sched.maxmcount)
    tc__fatal("thread limit of %u reached (tc_config.max_threads)",
              tc__sched.maxmcount);
  tc__m *m = calloc(1, sizeof *m);
  if (m == NULL)
    return false;
  m->id = tc__sched.mcount++;
  m->nextp = p;
  m->spinning = spinning;
  m->rand = 0x9e3779b9u * (m->id + 1);
  m->alllink = tc__sched.allm;
  tc__sched.allm = m;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(&m->thread, &attr, tc__m_thread, m);
  pthread_attr_destroy(&attr);
  if (rc) {
    tc__sched.allm = m->alllink;
    tc__sched.mcount--;
    free(m);
    return false;
  }
  return true;
}

/* Gets an idle M; sched lock held. */
static tc__m *midle_get(void) {
  tc__m *m = tc__sched.midle;
  if (m) {
    tc__sched.midle = m->schedlink;
    tc__sched.nmidle--;
  }
  return m;
}

/* Starts an M to run p (an idle P if NULL).  spinning: the caller counted
 * it in nmspinning already. */
static void startm(tc__p *p, bool spinning) {
  tc__spin_lock(&tc__sched.lock);
  if (p == NULL) {
    p = pidle_get();
    if (p == NULL) {
      tc__spin_unlock(&tc__sched.lock);
      if (spinning)
        __atomic_sub_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL);
      return;
    }
  }
  tc__m *m = midle_get();
  if (m == NULL) {
    if (!newm(p, spinning)) {
      pidle_put(p);
      if (spinning)
        __atomic_sub_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL);
    }
    tc__spin_unlock(&tc__sched.lock);
    return;
  }
  tc__spin_unlock(&tc__sched.lock);
  m->spinning = spinning;
  m->nextp = p;
  tc__note_wake(&m->park);
}

void tc__wakep(void) {
  if (tc__load_relaxed(&tc__sched.npidle) == 0)
    return;
  uint32_t zero = 0;
  if (tc__load_relaxed(&tc__sched.nmspinning) != 0 ||
      !tc__cas_acq_rel(&tc__sched.nmspinning, &zero, 1u))
    return;
  startm(NULL, true);
}

/* Hands p, whose M is going away (syscall, stop), to another M if it has
 * work; else makes it idle (Go's handoffp).  spin: with no M spinning and
 * no P idle, start a spinning M on p first, so that work arriving now
 * finds one (a detach passes false: nothing of its own is pending, and
 * readying work wakes an M for an idle P anyway, tc__wakep). */
static void handoffp(tc__p *p, bool spin) {
  if (!runq_empty(p) || tc__load_relaxed(&tc__sched.runqsize) > 0) {
    startm(p, false);
    return;
  }
  if (spin && tc__load_relaxed(&tc__sched.nmspinning) +
                      tc__load_relaxed(&tc__sched.npidle) == 0) {
    uint32_t zero = 0;
    if (tc__cas_acq_rel(&tc__sched.nmspinning, &zero, 1u)) {
      startm(p, true);
      return;
    }
  }
  tc__spin_lock(&tc__sched.lock);
  if (tc__sched.gcwaiting) {
    tc__store_relaxed(&p->status, (uint32_t)TC__P_GCSTOP);
    if (--tc__sched.stopwait == 0)
      tc__note_wake(&tc__sched.stopnote);
    tc__spin_unlock(&tc__sched.lock);
    return;
  }
  if (tc__sched.runqsize > 0) {
    tc__spin_unlock(&tc__sched.lock);
    startm(p, false);
    return;
  }
  pidle_put(p);
  tc__spin_unlock(&tc__sched.lock);
}

/* Parks the M until startm hands it a P (or the runtime ends). */
static void stopm(tc__m *m) {
  tc__debug_delay(tc__debug_settings.idledelay); /* test hook */
  tc__spin_lock(&tc__sched.lock);
  __atomic_store_n(&m->park.key, 0u, __ATOMIC_SEQ_CST); /* clear */
  m->schedlink = tc__sched.midle;
  tc__sched.midle = m;
  tc__sched.nmidle++;
  tc__sched_checkdead();
  tc__spin_unlock(&tc__sched.lock);
  /* The runtime may have begun exiting before the clear above, in which
   * case its wake-up was lost: look (seq_cst pairs with the exit path). */
  if (!__atomic_load_n(&tc__sched.exiting, __ATOMIC_SEQ_CST))
    tc__note_sleep(&m->park, -1);
  if (tc__load_acquire(&tc__sched.exiting))
    return;
  acquirep(m, m->nextp);
  m->nextp = NULL;
}

/* The P stops for the collector; the M parks (Go's gcstopm). */
static void gcstopm(tc__m *m) {
  if (m->spinning) {
    m->spinning = false;
    __atomic_sub_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL);
  }
  tc__p *p = releasep(m);
  tc__spin_lock(&tc__sched.lock);
  tc__store_relaxed(&p->status, (uint32_t)TC__P_GCSTOP);
  p->stopm = m;
  uint32_t gen = tc__load_acquire(&tc__sched.worldgen);
  if (--tc__sched.stopwait == 0)
    tc__note_wake(&tc__sched.stopnote);
  tc__spin_unlock(&tc__sched.lock);
  /* Wait for the restart with every other stopped M on one word: the
   * restarter hands this P back through nextp and wakes all of us with
   * one system call (tc__start_the_world).  The runtime may have begun
   * exiting before `gen` was read, and then no restart comes: look
   * (seq_cst, paired with the exit path, which sets exiting before it
   * moves worldgen on). */
  if (!__atomic_load_n(&tc__sched.exiting, __ATOMIC_SEQ_CST))
    tc__gen_wait(&tc__sched.worldgen, gen);
  if (tc__load_acquire(&tc__sched.exiting))
    return;
  tc__spin_lock(&tc__sched.lock);
  tc__p *np = m->nextp;
  m->nextp = NULL;
  tc__spin_unlock(&tc__sched.lock);
  TC_CHECK(np != NULL); /* a restart hands every stopped M its P back */
  acquirep(m, np);
  /* The last M of the restart to run records how long the OS took to run
   * them all: not pause time, but time their Gs could not run. */
  uint64_t now = tc__nanotime();
  tc__spin_lock(&tc__sched.lock);
  uint64_t since = tc__sched.restart_ns;
  if (--tc__sched.resume_left == 0) {
    tc__note_wake(&tc__sched.resumenote); /* the restarter goes on */
    uint64_t lag = now > since ? now - since : 0;
    tc__sched.restart_lag[tc__sched.restarts++ % TC_PAUSE_RING] = lag;
    if (lag > tc__sched.restart_lag_max)
      tc__store_relaxed(&tc__sched.restart_lag_max, lag);
  }
  tc__spin_unlock(&tc__sched.lock);
}

static void resetspinning(tc__m *m) {
  m->spinning = false;
  if (__atomic_sub_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL) == 0)
    tc__wakep(); /* the last spinner to find work wakes another */
}

/* Tries every P's queue, in random order, up to 4 passes. */
static tc__g *steal_work(tc__m *m) {
  unsigned n = tc__sched.nprocs;
  for (int pass = 0; pass < 4; pass++) {
    unsigned start = fastrand(m) % n;
    for (unsigned k = 0; k < n; k++) {
      tc__p *victim = &tc__sched.allp[(start + k) % n];
      if (victim == m->p)
        continue;
      tc__g *g = runq_steal(m->p, victim, pass == 3);
      if (g)
        return g;
    }
  }
  return NULL;
}

static bool any_runq_nonempty(void) {
  for (unsigned i = 0; i < tc__sched.nprocs; i++)
    if (!runq_empty(&tc__sched.allp[i]))
      return true;
  return false;
}

/* Finds a G to run; parks the M while there is none (step 2).  Returns
 * NULL only when the runtime is exiting. */
static tc__g *find_runnable(tc__m *m, bool *inherit) {
  for (;;) {
    if (tc__load_acquire(&tc__sched.exiting))
      return NULL;
    if (tc__load_relaxed(&tc__sched.gcwaiting)) {
      gcstopm(m);
      continue;
    }
    tc__p *p = m->p;
    *inherit = false;
    if (TC__UNLIKELY(tc__marking()))
      tc__gc_p_mark(&p->cache, false); /* the P's share of the marking */
    if (tc__timers_any())
      tc__timers_run(tc__nanotime());
    if (p->schedtick % 61 == 0 && tc__load_relaxed(&tc__sched.runqsize) > 0) {
      tc__spin_lock(&tc__sched.lock);
      tc__g *g = globrunq_get(p, 1);
      tc__spin_unlock(&tc__sched.lock);
      if (g)
        return g;
    }
    tc__g *g = runq_get(p, inherit);
    if (g)
      return g;
    if (tc__load_relaxed(&tc__sched.runqsize) > 0) {
      tc__spin_lock(&tc__sched.lock);
      g = globrunq_get(p, 0);
      tc__spin_unlock(&tc__sched.lock);
      if (g)
        return g;
    }
    /* Steal, if spinning Ms are at most half the busy Ps. */
    uint32_t busy = tc__sched.nprocs - tc__load_relaxed(&tc__sched.npidle);
    if (m->spinning ||
        2 * tc__load_relaxed(&tc__sched.nmspinning) < busy) {
      if (!m->spinning) {
        m->spinning = true;
        __atomic_add_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL);
      }
      g = steal_work(m);
      if (g)
        return g;
    }
    /* Nothing to run: an idle P marks while a cycle does (Go's idle
     * mark worker), then looks again. */
    if (TC__UNLIKELY(tc__marking()) && tc__gc_p_mark(&p->cache, true)) {
      /* it found work, as Go's idle worker: no longer spinning, and the
       * last spinner wakes another (resetspinning), so that coroutines
       * readied meanwhile and marking shared with idle Ps get an M.  The
       * spinning state is dropped only here: an M that found nothing
       * keeps it to the re-check before it sleeps (step 4). */
      if (m->spinning)
        resetspinning(m);
      continue;
    }
    /* Nothing: give the P back, then re-check (the submit/unspin
     * protocol of the header comment, step 4). */
    tc__spin_lock(&tc__sched.lock);
    if (tc__sched.gcwaiting || tc__sched.runqsize > 0) {
      tc__spin_unlock(&tc__sched.lock);
      continue;
    }
    releasep(m);
    pidle_put(p);
    tc__spin_unlock(&tc__sched.lock);
    bool was_spinning = m->spinning;
    if (m->spinning) {
      m->spinning = false;
      __atomic_sub_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL);
    }
    /* A timer that is not yet due is sysmon's to fire (it sleeps until the
     * earliest one): going back for it would spin this M until then. */
    int64_t next_timer = tc__timers_next();
    if (was_spinning &&
        (any_runq_nonempty() || tc__load_relaxed(&tc__sched.runqsize) > 0 ||
         (next_timer >= 0 && next_timer <= (int64_t)tc__nanotime()))) {
      tc__spin_lock(&tc__sched.lock);
      tc__p *np = pidle_get();
      tc__spin_unlock(&tc__sched.lock);
      if (np) {
        acquirep(m, np);
        m->spinning = true;
        __atomic_add_fetch(&tc__sched.nmspinning, 1, __ATOMIC_ACQ_REL);
        continue;
      }
    }
    stopm(m);
    if (tc__load_acquire(&tc__sched.exiting))
      return NULL;
  }
}

/* ---------------------------------------------------------------- running */

/* Switches from g0 to g, or (g == NULL) from the running G to g0, telling
 * the sanitizers (run.c). */
static void switch_to(tc__m *m, tc__g *g, bool dying) {
  if (g) {
    tc__sanitizer_switch_begin(&m->g0_fake, g->stack->lo, g->stack->size,
                               g->tsan_fiber);
    tc__switch(&m->g0ctx, &g->ctx);
    tc__sanitizer_switch_end(getm()->g0_fake);
  } else {
    tc__g *cur = m->curg;
    tc__sanitizer_switch_begin(dying ? NULL : &cur->asan_fake_stack, m->g0_lo,
                               (size_t)(m->g0_hi - m->g0_lo), m->g0_tsan_fiber);
    tc__switch(&cur->ctx, &m->g0ctx);
    tc__sanitizer_switch_end(cur->asan_fake_stack);
  }
}

/* Event trace (only while tracing): the running G's slice on this M's P
 * began here; it ends at switch-out or syscall entry. */
static void slice_begin(tc__m *m) {
  tc__p *p = tc__load_relaxed(&m->p);
  m->trace_ns = tc__nanotime();
  m->trace_p = p ? (int)p->id : -1;
}

static void slice_end(tc__m *m, tc__g *g, const char *why) {
  uint64_t start = m->trace_ns;
  m->trace_ns = 0;
  if (start && m->trace_p >= 0)
    tc__trace_slice(m->trace_p, g->id, g->go_func, g->go_file, g->go_line,
                    start, why);
}

/* Switches from g0 into g (status RUNNABLE). */
static void execute(tc__m *m, tc__g *g, bool inherit) {
  tc__g_cas(g, TC__G_RUNNABLE, TC__G_RUNNING);
  tc__gscan_wait(g);
  tc__store_relaxed(&m->curg, g);
  tc__store_release(&g->m, m); /* the collector follows it (gscan.c) */
  if (!inherit)
    tc__store_relaxed(&m->p->schedtick, m->p->schedtick + 1);
  m->ctx->rs = &g->rs;
  /* A request left for the previous G goes; a stop still in progress
   * stays (its stopper pokes again every 100 us anyway).  The exit path
   * pokes once: store, then look (both seq_cst, paired with its exiting
   * store before its pokes), so that either its poke lands after this
   * store or this load sees it exiting. */
  __atomic_store_n(&m->ctx->preempt, tc__load_relaxed(&tc__sched.gcwaiting),
                   __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&tc__sched.exiting, __ATOMIC_SEQ_CST))
    tc__preempt_set(m->ctx, TC__PREEMPT_YIELD);
  if (TC__TRACING())
    slice_begin(m);
  switch_to(m, g, false);
}

static const char *after_name(int what) {
  switch (what) {
  case TC__AFTER_PARK: return "park";
  case TC__AFTER_YIELD: return "yield";
  case TC__AFTER_PREEMPT: return "preempt";
  case TC__AFTER_EXIT: return "exit";
  case TC__AFTER_SYSCALL_BLOCK: return "syscall";
  default: return "?";
  }
}

/* Finishes, on g0, what the G that just switched out asked for. */
static void after_switch(tc__m *m) {
  tc__g *g = m->curg;
  int what = m->after;
  m->after = TC__AFTER_NONE;
  if (TC__TRACING())
    slice_end(m, g, after_name(what));
  tc__store_relaxed(&m->curg, (tc__g *)NULL);
  /* release: a dump that reads NULL reads the complete saved context
   * (sched/traceback.c) */
  tc__store_release(&g->m, (tc__m *)NULL);
  m->ctx->rs = NULL;
  /* A P without a running G holds no grey entries (the handshake of
   * tc__world_flush_gcws need not wait for it). */
  if (m->p)
    tc__gc_p_release(&m->p->cache);
  switch (what) {
  case TC__AFTER_PARK:
    if (m->unlockf)
      m->unlockf(m->unlockarg);
    m->unlockf = NULL;
    break;
  case TC__AFTER_YIELD:
    /* To the tail of this P's queue, not the global one as Go does: no
     * lock on either side of the switch (half the cost of a yield), and
     * still fair: everything queued here runs first, idle Ps steal, and
     * the 1-in-61 global check keeps the global queue moving. */
    tc__g_cas(g, TC__G_RUNNING, TC__G_RUNNABLE);
    runq_put(m->p, g, false);
    break;
  case TC__AFTER_PREEMPT:
    /* Asked to yield while no stop is under way (by sysmon: it ran 10
     * ms; by the exit; or a stop's poke that came after its restart).
     * With Gs waiting on the global queue: behind them, as Go's
     * preempted G.  Back on this P's tail it would run again at once
     * whenever the queue is otherwise empty, and the global queue would
     * move one G per 61 switches: 610 ms each while every P runs a loop
     * that only sysmon interrupts.  With none waiting: this P's tail, as
     * a yield; there is nobody to be fair to, and the global put would
     * let the next P that looks take every preempted G at once
     * (globrunq_get takes size / procs + 1), leaving the other Ps idle.
     * No wakep, unlike Go's: this M looks for work next and, with one G
     * per P, takes it back at once; a wake-up per preemption would start
     * a thread 100 times a second for nothing on a machine of few CPUs. */
    tc__g_cas(g, TC__G_RUNNING, TC__G_RUNNABLE);
    if (tc__load_relaxed(&tc__sched.runqsize) > 0)
      globrunq_put_lock(g);
    else
      runq_put(m->p, g, false);
    break;
  case TC__AFTER_EXIT:
    tc__proc_gfree(m, g);
    break;
  case TC__AFTER_SYSCALL_BLOCK:
    /* exit from a syscall found no P: queue the G, park this M */
    globrunq_put_lock(g);
    if (tc__load_relaxed(&tc__sched.npidle) > 0)
      startm(NULL, false);
    stopm(m);
    break;
  default:
    tc__fatal("coroutine %llu switched to the scheduler with no reason",
              (unsigned long long)g->id);
  }
}

/* g belongs to another (foreign) M: hand it this M's P and wake it, then
 * park until a P comes back (Go's startlockedm). */
static void handoff_locked(tc__m *m, tc__g *g) {
  tc__m *lm = g->lockedm;
  tc__p *p = releasep(m);
  lm->nextp = p;
  tc__note_wake(&lm->park);
  stopm(m);
}

void tc__proc_schedule(tc__m *m) {
  for (;;) {
    bool inherit;
    tc__g *g = find_runnable(m, &inherit);
    if (g == NULL)
      return;
    if (m->spinning)
      resetspinning(m);
    if (g->lockedm) {
      handoff_locked(m, g);
      continue;
    }
    execute(m, g, inherit);
    after_switch(m);
  }
}

/* ---------------------------------------------------------------- foreign Ms
 * An attached thread (sched/attach.c) runs its one G on its own stack: it
 * has no g0 to switch to.  Where a coroutine switches out (yield, park, a
 * syscall exit that finds no P), the foreign M gives its P up and sleeps
 * on its note; its G is readied the ordinary way (run queues), and the M
 * that picks it hands its P over (handoff_locked) and wakes the thread.
 * So an attached thread takes its turn in the run queues like any G, and
 * a stop-the-world never waits for one that is blocked. */

/* Runs m's G (RUNNABLE) with P p, or, if p is NULL, once an M that
 * picked the G from a run queue has handed its P over (handoff_locked). */
static void foreign_resume(tc__m *m, tc__g *g, tc__p *p) {
  if (p == NULL) {
    tc__note_sleep(&m->park, -1);
    if (tc__load_acquire(&tc__sched.exiting))
      tc__fatal("tc_run ended while a thread was attached (call "
                "tc_thread_detach before main returns)");
    p = m->nextp;
    m->nextp = NULL;
  }
  acquirep(m, p);
  tc__g_cas(g, TC__G_RUNNABLE, TC__G_RUNNING);
  tc__gscan_wait(g);
  /* a stop that began while we waited counted this P as running */
  if (__atomic_load_n(&tc__sched.gcwaiting, __ATOMIC_SEQ_CST))
    tc__preempt_set(m->ctx, TC__PREEMPT_YIELD);
  if (TC__TRACING())
    slice_begin(m);
}

void tc__proc_foreign_run(tc__m *m, tc__g *g) {
  tc__spin_lock(&tc__sched.lock);
  tc__p *p = tc__sched.gcwaiting ? NULL : pidle_get();
  if (p == NULL) {
    /* clear first: a hand-off may come before we sleep */
    __atomic_store_n(&m->park.key, 0u, __ATOMIC_SEQ_CST);
    globrunq_put(g);
  }
  tc__spin_unlock(&tc__sched.lock);
  foreign_resume(m, g, p);
}

void tc__proc_foreign_release(tc__m *m) {
  tc__p *p = m->p;
  tc__gc_p_release(&p->cache);
  releasep(m);
  handoffp(p, false); /* detach: an idle P, no M woken for nothing */
}

void tc__proc_foreign_block(tc__m *m, tc__g *g, bool yield,
                            void (*unlock)(void *), void *arg) {
  if (TC__TRACING())
    slice_end(m, g, yield ? "yield" : "park");
  tc__p *p = m->p;
  tc__gc_p_release(&p->cache);
  releasep(m);
  /* clear first: once the G is queued or WAITING, a hand-off may come
   * before we sleep */
  __atomic_store_n(&m->park.key, 0u, __ATOMIC_SEQ_CST);
  if (yield) {
    tc__g_cas(g, TC__G_RUNNING, TC__G_RUNNABLE);
    globrunq_put_lock(g);
  } else {
    tc__g_cas(g, TC__G_RUNNING, TC__G_WAITING);
    if (unlock)
      unlock(arg);
  }
  handoffp(p, true); /* the P runs other work (ours too) or goes idle */
  foreign_resume(m, g, NULL);
}

void tc__proc_m_link(tc__m *m) {
  m->alllink = tc__sched.allm;
  tc__sched.allm = m;
  tc__sched.mcount++;
}

/* Switches from the running G back to g0, leaving `what` for g0. */
static void to_g0(tc__m *m, tc__g *g, int what) {
  (void)g;
  m->after = what;
  switch_to(m, NULL, what == TC__AFTER_EXIT);
  /* resumed by execute(), possibly on another M */
}

void tc__park(const char *reason, void (*unlock)(void *), void *arg) {
  tc__m *m = getm();
  tc__g *g = m->curg;
  tc__store_relaxed(&g->waitreason, reason); /* dumps read it (relaxed) */
  if (TC__TRACING())
    tc__trace_gblock(g->id, reason);
  if (m->foreign) {
    tc__proc_foreign_block(m, g, false, unlock, arg);
    tc__store_relaxed(&g->waitreason, (const char *)NULL);
    return;
  }
  m->unlockf = unlock;
  m->unlockarg = arg;
  tc__g_cas(g, TC__G_RUNNING, TC__G_WAITING);
  to_g0(m, g, TC__AFTER_PARK);
  tc__store_relaxed(&g->waitreason, (const char *)NULL);
}

void tc__ready(tc__g *g) {
  tc__g_cas(g, TC__G_WAITING, TC__G_RUNNABLE);
  if (TC__TRACING())
    tc__trace_gunblock(g->id);
  tc__m *m = getm();
  if (m && m->p && tc__load_relaxed(&m->p->status) == TC__P_RUNNING) {
    runq_put(m->p, g, m->curg != NULL); /* from a G: it runs next */
  } else {
    /* No P here (sysmon firing timers): queue globally and start an M on
     * an idle P outright, as Go's injectglist does; wakep alone may find
     * a spinning M that has already stopped looking. */
    globrunq_put_lock(g);
    if (tc__load_relaxed(&tc__sched.npidle) > 0)
      startm(NULL, false);
    return;
  }
  tc__wakep();
}

void tc__g_push(tc__g **list, tc__g *g) {
  g->schedlink = *list;
  *list = g;
}

void tc__ready_global(tc__g *list) {
  if (list == NULL)
    return;
  uint32_t n = 0;
  tc__g *tail = NULL;
  for (tc__g *g = list; g; g = g->schedlink) {
    tc__g_cas(g, TC__G_WAITING, TC__G_RUNNABLE);
    if (TC__TRACING())
      tc__trace_gunblock(g->id);
    tail = g;
    n++;
  }
  tc__spin_lock(&tc__sched.lock);
  globrunq_put_batch(list, tail, n);
  tc__spin_unlock(&tc__sched.lock);
  /* start an M on an idle P for each (Go's injectglist) */
  while (n-- > 0 && tc__load_relaxed(&tc__sched.npidle) > 0)
    startm(NULL, false);
}

void tc_yield(void) {
  if (!tc__sched.running && tc__ctx_get()->owner != NULL) {
    /* bare mode: a thread waiting for the turn goes first */
    tc__bare_safepoint(tc__ctx_get(), __builtin_return_address(0));
    return;
  }
  tc__m *m = getm();
  tc__g *g = tc__needg("tc_yield");
  if (m->foreign)
    tc__proc_foreign_block(m, g, true, NULL, NULL);
  else
    to_g0(m, g, TC__AFTER_YIELD);
}

void tc__safepoint_slow(void) {
  tc__m *m = getm();
  tc__ctx *ctx = tc__ctx_get();
  uint32_t why = __atomic_exchange_n(&ctx->preempt, 0u, __ATOMIC_RELAXED);
  if (!tc__sched.running) { /* bare mode: a thread waits for the turn */
    if (m != NULL && (why & (TC__PREEMPT_YIELD | TC__PREEMPT_TURN)))
      tc__bare_safepoint(ctx, __builtin_return_address(0));
    return;
  }
  if (m == NULL || m->curg == NULL)
    return;
  if (why & TC__PREEMPT_GCWORK)
    tc__gscan_safepoint(m->curg, m->p);
  bool stopping = tc__load_relaxed(&tc__sched.gcwaiting) != 0;
  if (!(why & TC__PREEMPT_YIELD) && !stopping)
    return;
  /* Stopping for the collector: the G stays at the tail of this P's
   * queue, so each P resumes its own G after the pause (find_runnable
   * stops the P first).  Asked to yield by sysmon, or the program is
   * over: TC__AFTER_PREEMPT decides where the G waits.  find_runnable
   * leaves the loop if the runtime is exiting. */
  if (stopping || m->foreign)
    tc_yield();
  else
    to_g0(m, m->curg, TC__AFTER_PREEMPT);
}

/* ---------------------------------------------------------------- G lifecycle */

static void g_main(void *arg);

/* Returns a G from m's P cache or the global free list, or a new one. */
static tc__g *galloc(tc__m *m) {
  tc__p *p = m ? m->p : NULL;
  tc__g *g = NULL;
  if (p && p->gfree) {
    g = p->gfree;
    p->gfree = g->schedlink;
    p->gfreecnt--;
  } else {
    tc__spin_lock(&tc__sched.lock);
    g = tc__sched.gfree;
    if (g)
      tc__sched.gfree = g->schedlink;
    tc__spin_unlock(&tc__sched.lock);
  }
  if (g == NULL) {
    g = calloc(1, sizeof *g);
    if (g == NULL)
      return NULL;
    g->status = TC__G_DEAD;
  }
  if (g->stack == NULL) {
    g->stack = tc__stack_get();
    if (g->stack == NULL) {
      free(g);
      return NULL;
    }
  }
  return g;
}

void tc__proc_allg_add(tc__g *g) {
  tc__spin_lock(&tc__sched.allg_lock); /* appended: dumps list by age */
  g->allnext = NULL;
  g->allprev = tc__sched.allg_tail;
  if (tc__sched.allg_tail)
    tc__sched.allg_tail->allnext = g;
  else
    tc__sched.allg = g;
  tc__sched.allg_tail = g;
  tc__sched.ngoroutines++;
  tc__spin_unlock(&tc__sched.allg_lock);
}

void tc__proc_allg_remove(tc__g *g) {
  tc__spin_lock(&tc__sched.allg_lock);
  if (g->allprev)
    g->allprev->allnext = g->allnext;
  else
    tc__sched.allg = g->allnext;
  if (g->allnext)
    g->allnext->allprev = g->allprev;
  else
    tc__sched.allg_tail = g->allprev;
  tc__sched.ngoroutines--;
  tc__spin_unlock(&tc__sched.allg_lock);
}

void tc__proc_gfree(tc__m *m, tc__g *g) {
  tc__g_cas(g, TC__G_RUNNING, TC__G_DEAD);
  tc__sanitizer_g_exit(g);
  tc__proc_allg_remove(g);
  g->fn = NULL;
  g->arg = NULL;
  g->rs.top = NULL;
  tc__p *p = m->p;
  if (p && p->gfreecnt < 64) {
    g->schedlink = p->gfree;
    p->gfree = g;
    p->gfreecnt++;
  } else {
    tc__spin_lock(&tc__sched.lock);
    g->schedlink = tc__sched.gfree;
    tc__sched.gfree = g;
    tc__spin_unlock(&tc__sched.lock);
  }
  if (g == tc__sched.maing) {
    /* main returned: the program is over (step: tc_run returns) */
    __atomic_store_n(&tc__sched.exiting, 1u, __ATOMIC_SEQ_CST);
    /* under the lock: an attaching thread may link a new M */
    tc__spin_lock(&tc__sched.lock);
    for (tc__m *o = tc__sched.allm; o; o = o->alllink) {
      tc__ctx *c = tc__load_acquire(&o->ctx);
      if (c) /* running coroutines leave at their next safepoint;
                seq_cst: after the exiting store (see execute) */
        __atomic_fetch_or(&c->preempt, TC__PREEMPT_YIELD, __ATOMIC_SEQ_CST);
      tc__note_wake(&o->park);
    }
    tc__spin_unlock(&tc__sched.lock);
    /* Ms stopped for a collection: they look at exiting (seq_cst) after
     * reading the generation, so they either see it or see this move. */
    tc__gen_advance(&tc__sched.worldgen);
    tc__gen_wake(&tc__sched.worldgen);
    tc__sysmon_wake();
  }
}

/* Creates a G running fn(arg), RUNNABLE, not yet queued. */
tc__g *tc__proc_newg(tc_fn fn, void *arg, const char *file, int line,
                     const char *func) {
  tc__m *m = getm();
  tc__g *g = galloc(m);
  if (g == NULL)
    return NULL;
  g->fn = fn;
  g->arg = arg;
  g->go_file = file;
  g->go_line = line;
  g->go_func = func;
  g->rs.top = NULL;
  g->param = NULL;
  g->waitreason = NULL;
  g->selectdone = 0;
  g->timer_when = 0;
  g->id = __atomic_add_fetch(&tc__sched.goidgen, 1, __ATOMIC_RELAXED);
  tc__context_init(&g->ctx, g->stack->lo, g->stack->hi, g_main, g);
  tc__sanitizer_g_create(g);
  tc__gscan_newg(g);
  tc__proc_allg_add(g);
  tc__g_cas(g, TC__G_DEAD, TC__G_RUNNABLE);
  if (TC__TRACING())
    tc__trace_gcreate(g->id, g->go_func);
  return g;
}

int tc__go(tc_fn fn, void *arg, const char *file, int line,
           const char *func) {
  tc__g *self = tc__needg("tc_go");
  (void)self;
  if (fn == NULL)
    return TC_EINVAL;
  tc__g *g = tc__proc_newg(fn, arg, file, line, func);
  if (g == NULL)
    return TC_ENOMEM;
  tc__m *m = getm();
  runq_put(m->p, g, true);
  tc__wakep();
  return TC_OK;
}

static void g_main(void *arg) {
  tc__g *g = arg;
  tc__sanitizer_switch_end(NULL);
  g->fn(g->arg);
  /* The root stack must be empty: every TC_LOCALS frame was popped. */
  if (g->rs.top)
    tc__fatal("coroutine %llu returned with root frame TC_LOCALS(%s) at "
              "%s:%d still pushed",
              (unsigned long long)g->id, g->rs.top->site->names,
              g->rs.top->site->file, g->rs.top->site->line);
  tc__m *m = getm();
  to_g0(m, g, TC__AFTER_EXIT);
  tc__fatal("a dead coroutine was resumed");
}

uint64_t tc_self(void) { return tc__needg("tc_self")->id; }

/* ---------------------------------------------------------------- syscalls */

void tc_syscall_enter(void) {
  if (!tc__sched.running && tc__ctx_get()->owner != NULL) {
    tc__bare_syscall_enter(tc__ctx_get()); /* bare mode: give up the turn */
    return;
  }
  tc__m *m = getm();
  tc__g *g = tc__needg("tc_syscall_enter");
  tc__p *p = m->p;
  if (p == NULL) /* the G let go of its P at the first enter */
    tc__fatal("tc_syscall_enter inside a system call (entered twice "
              "without tc_syscall_exit)");
  tc__gc_p_release(&p->cache); /* the P may go to another M */
  if (TC__TRACING())
    slice_end(m, g, "syscall");
  tc__g_cas(g, TC__G_RUNNING, TC__G_SYSCALL);
  /* Let go of the P (step 5): from the status store on, whoever moves it
   * out of SYSCALL by CAS owns it -- this M coming back, sysmon, or the
   * world stopper.  m->oldp only remembers where to try first. */
  m->oldp = p;
  m->ctx->cache = tc__world_no_cache(); /* no allocation inside */
  tc__store_relaxed(&m->p, (tc__p *)NULL);
  tc__store_relaxed(&p->m, ((tc__m *)NULL));
  tc__store_relaxed(&p->syscalltick, p->syscalltick + 1);
  /* seq_cst store, then seq_cst load: a Dekker pair with the world
   * stopper (gcwaiting store, then the status CAS), so either it takes
   * the P or we see the stop and hand the P over here. */
  __atomic_store_n(&p->status, (uint32_t)TC__P_SYSCALL, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&tc__sched.gcwaiting, __ATOMIC_SEQ_CST)) {
    uint32_t s = TC__P_SYSCALL;
    if (__atomic_compare_exchange_n(&p->status, &s, (uint32_t)TC__P_GCSTOP,
                                    false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
      tc__spin_lock(&tc__sched.lock);
      if (--tc__sched.stopwait == 0)
        tc__note_wake(&tc__sched.stopnote);
      tc__spin_unlock(&tc__sched.lock);
    }
  }
}

/* Takes p out of SYSCALL for m, if nobody else did (step 5). */
static bool syscall_reacquire(tc__m *m, tc__p *p) {
  uint32_t s = TC__P_SYSCALL;
  if (p == NULL ||
      !__atomic_compare_exchange_n(&p->status, &s, (uint32_t)TC__P_RUNNING,
                                   false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    return false;
  tc__store_relaxed(&m->p, p);
  tc__store_relaxed(&p->m, m);
  m->ctx->cache = &p->cache.runs;
  /* A stop that began before our CAS counted this P as running: make
   * sure we stop at the next safepoint (seq_cst: pairs with the stopper's
   * gcwaiting store and status CAS). */
  if (__atomic_load_n(&tc__sched.gcwaiting, __ATOMIC_SEQ_CST))
    tc__preempt_set(m->ctx, TC__PREEMPT_YIELD);
  return true;
}

void tc_syscall_exit(void) {
  if (!tc__sched.running && tc__ctx_get()->owner != NULL) {
    tc__bare_syscall_exit(tc__ctx_get(), __builtin_return_address(0));
    return;
  }
  tc__m *m = getm();
  tc__g *g = m ? m->curg : NULL;
  if (g == NULL || g->status != TC__G_SYSCALL)
    tc__fatal("tc_syscall_exit without tc_syscall_enter");
  tc__p *p = m->oldp;
  m->oldp = NULL;
  if (m->foreign) /* read by a slow stop's report */
    tc__store_relaxed(&m->entered,
                      (const void *)__builtin_return_address(0));
  /* fast path: the old P is still in SYSCALL, so nobody took it.  (It may
   * have been retaken, run by another M and be back in SYSCALL for that
   * M's G: it is free then too, and that M looks elsewhere when it
   * returns -- no tick check is needed, unlike an ownership flag.) */
  if (syscall_reacquire(m, p)) {
    tc__g_cas(g, TC__G_SYSCALL, TC__G_RUNNING);
    tc__gscan_wait(g);
    if (TC__TRACING())
      slice_begin(m);
    return;
  }
  /* any idle P */
  tc__spin_lock(&tc__sched.lock);
  tc__p *np = tc__sched.gcwaiting ? NULL : pidle_get();
  tc__spin_unlock(&tc__sched.lock);
  if (np) {
    acquirep(m, np);
    tc__g_cas(g, TC__G_SYSCALL, TC__G_RUNNING);
    tc__gscan_wait(g);
    if (TC__TRACING())
      slice_begin(m);
    return;
  }
  /* none: queue the G and park this M (on g0); an attached thread waits
   * for a P on its own stack */
  tc__g_cas(g, TC__G_SYSCALL, TC__G_RUNNABLE);
  if (m->foreign) {
    tc__proc_foreign_run(m, g);
    return;
  }
  to_g0(m, g, TC__AFTER_SYSCALL_BLOCK);
}

/* Retakes a P from an M in a syscall (sysmon). */
bool tc__proc_retake_syscall(tc__p *p) {
  uint32_t s = TC__P_SYSCALL;
  if (!tc__cas_acq_rel(&p->status, &s, (uint32_t)TC__P_IDLE))
    return false;
  tc__debug_delay(tc__debug_settings.retakedelay); /* test hook */
  tc__add_relaxed(&tc__sched.retakes, 1);
  tc__store_relaxed(&p->syscalltick, p->syscalltick + 1);
  handoffp(p, true); /* no M to detach: the syscall's M let go at entry */
  return true;
}

/* ---------------------------------------------------------------- the world */

#define RESUME_WAIT_NS 2000000 /* the collector thread waits at most this
                                  long for the restarted Ms to run (ns) */
#define SLOW_STOP_NS 100000000 /* checked builds name the threads a stop
                                  still waits for after 100 ms: far past
                                  any time-to-safepoint of code that
                                  follows the rules, even under the
                                  sanitizers, and soon enough to catch one
                                  that blocks outside a syscall bracket */
#define SLOW_STOP_MAX 8       /* Ms named in one report */
#define STOP_SPIN_NS 10000    /* a stopper with a P of its own polls this
                                 long (ns): many stops end within it
                                 (binary-trees, 2 Ps); 50 us doubled the
                                 server lab's mark start, whose other
                                 threads need the CPU the spin holds */
#define STOP_YIELD_NS 100000  /* then (or at once, without a P of its
                                 own) polls this long yielding its CPU
                                 between looks, and re-pokes, before it
                                 sleeps: the stops that take 10-100 us
                                 end without the futex wake-up (13-40 us
                                 measured on binary-trees 20, 2
                                 mutators) */

/* Names the Ms still running with a P during a stop that has waited
 * long: an attached thread with where it last entered tricolor, a
 * coroutine with its creation site.  Collected under the sched lock,
 * printed after it (libunwind may take locks of its own). */
static void report_slow_stop(uint64_t waited) {
  struct {
    uint32_t id;
    bool foreign;
    const void *pc;
    uint64_t gid;
    const char *func, *file;
    int line;
  } who[SLOW_STOP_MAX];
  int n = 0;
  tc__spin_lock(&tc__sched.lock);
  for (tc__m *o = tc__sched.allm; o && n < SLOW_STOP_MAX; o = o->alllink) {
    tc__p *p = tc__load_relaxed(&o->p);
    if (p == NULL || tc__load_relaxed(&p->status) != TC__P_RUNNING)
      continue;
    tc__g *g = tc__load_relaxed(&o->curg);
    who[n].id = o->id;
    who[n].foreign = o->foreign;
    who[n].pc = tc__load_relaxed(&o->entered);
    who[n].gid = g ? g->id : 0;
    who[n].func = g ? g->go_func : NULL;
    who[n].file = g ? g->go_file : NULL;
    who[n].line = g ? g->go_line : 0;
    n++;
  }
  tc__spin_unlock(&tc__sched.lock);
  for (int i = 0; i < n; i++) {
    char name[128];
    if (who[i].foreign)
      tc__warn("a stop-the-world has waited %llu ms for M%u, an attached "
               "thread that last entered tricolor in %s() and has not "
               "reached a safepoint (block between tc_syscall_enter and "
               "tc_syscall_exit, or call tc_safepoint)",
               (unsigned long long)(waited / 1000000), who[i].id,
               who[i].pc ? tc__func_name(who[i].pc, name, sizeof name)
                         : "?");
    else
      tc__warn("a stop-the-world has waited %llu ms for M%u running "
               "coroutine %llu (%s, created at %s:%d), which has not "
               "reached a safepoint",
               (unsigned long long)(waited / 1000000), who[i].id,
               (unsigned long long)who[i].gid,
               who[i].func ? who[i].func : "?",
               who[i].file ? who[i].file : "?", who[i].line);
  }
}

bool tc__stop_the_world(const char *why) {
  (void)why;
  tc__m *m = getm();
  tc__p *own = m ? m->p : NULL; /* NULL: the collector thread */
  tc__spin_lock(&tc__sched.lock);
  if (tc__load_acquire(&tc__sched.exiting)) {
    tc__spin_unlock(&tc__sched.lock);
    return false;
  }
  tc__sched.stopwait = tc__sched.nprocs;
  __atomic_store_n(&tc__sched.gcwaiting, 1u, __ATOMIC_SEQ_CST);
  if (own)
    tc__sched.stopwait--; /* our own P */
  for (unsigned i = 0; i < tc__sched.nprocs; i++) {
    tc__p *p = &tc__sched.allp[i];
    if (p == own)
      continue;
    uint32_t s = TC__P_SYSCALL; /* seq_cst: see tc_syscall_enter */
    if (__atomic_compare_exchange_n(&p->status, &s, (uint32_t)TC__P_GCSTOP,
                                    false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
      tc__store_relaxed(&p->syscalltick, p->syscalltick + 1);
      tc__sched.stopwait--;
    }
  }
  tc__p *p;
  while ((p = pidle_get()) != NULL) {
    tc__store_relaxed(&p->status, (uint32_t)TC__P_GCSTOP);
    tc__sched.stopwait--;
  }
  for (tc__m *o = tc__sched.allm; o; o = o->alllink) {
    tc__ctx *c = tc__load_acquire(&o->ctx);
    if (o != m && c && tc__load_relaxed(&o->p)) /* not the stopper */
      tc__preempt_set(c, TC__PREEMPT_YIELD);
  }
  bool wait = tc__sched.stopwait > 0;
  if (wait)
    tc__note_clear(&tc__sched.stopnote);
  tc__spin_unlock(&tc__sched.lock);
  /* A stopper that holds a P (a coroutine beginning a cycle) first spins
   * for the stop when every P can have a CPU: its own P runs nothing
   * meanwhile, so the spin takes no CPU that an M needs to reach its
   * safepoint, and the stopper's futex wake-up (about 20 us on this
   * project's test machine) leaves the pause.  Then every stopper (the
   * collector thread, a thread beyond the Ps, and any stopper when there
   * are more Ps than CPUs, at once) polls for STOP_YIELD_NS yielding its
   * CPU between looks: a thread that needs the CPU gets it, and a stop
   * that ends meanwhile costs no futex wake-up.  Only then it sleeps. */
  if (wait && own && tc__sched.nprocs <= tc__sched.ncpu)
    tc__note_spin(&tc__sched.stopnote, STOP_SPIN_NS);
  uint64_t t0 = TC_DEBUG >= 2 ? tc__nanotime() : 0;
  bool reported = false, polled = false;
  while (wait) {
    if (TC_DEBUG >= 2 && !reported && tc__nanotime() - t0 > SLOW_STOP_NS) {
      report_slow_stop(tc__nanotime() - t0);
      reported = true;
    }
    /* first the yielding poll, then sleeps; each 100 us, then re-poke */
    if (!polled)
      tc__note_yield(&tc__sched.stopnote, STOP_YIELD_NS);
    else
      tc__note_sleep(&tc__sched.stopnote, 100000);
    polled = true;
    tc__spin_lock(&tc__sched.lock);
    wait = tc__sched.stopwait > 0;
    if (wait && tc__load_acquire(&tc__sched.exiting)) {
      /* main returned meanwhile: its Ms leave instead of stopping */
      tc__store_relaxed(&tc__sched.gcwaiting, 0u);
      tc__spin_unlock(&tc__sched.lock);
      return false;
    }
    if (wait) {
      for (tc__m *o = tc__sched.allm; o; o = o->alllink) {
        tc__ctx *c = tc__load_acquire(&o->ctx);
        if (o != m && c && tc__load_relaxed(&o->p))
          tc__preempt_set(c, TC__PREEMPT_YIELD);
      }
    }
    tc__spin_unlock(&tc__sched.lock);
  }
  return true;
}

uint64_t tc__start_the_world(void) {
  tc__m *m = getm();
  tc__p *own = m ? m->p : NULL;
  tc__spin_lock(&tc__sched.lock);
  tc__store_relaxed(&tc__sched.gcwaiting, 0u);
  tc__p *needm = NULL;
  bool stopped_ms = false;
  for (unsigned i = 0; i < tc__sched.nprocs; i++) {
    tc__p *p = &tc__sched.allp[i];
    if (p == own || tc__load_relaxed(&p->status) != TC__P_GCSTOP)
      continue;
    tc__m *sm = p->stopm;
    p->stopm = NULL;
    if (sm) {
      /* Back to the M that stopped on it, work or not: one with nothing
       * to run goes idle through the scheduler as it would have, and no
       * P is left for an extra wakep to start a new thread for. */
      sm->nextp = p;
      tc__sched.resume_left++;
      stopped_ms = true;
    } else if (runq_empty(p)) {
      pidle_put(p);
    } else { /* taken from a syscall or idle, and it has work */
      tc__store_relaxed(&p->status, (uint32_t)TC__P_IDLE);
      p->link = needm;
      needm = p;
    }
  }
  tc__spin_unlock(&tc__sched.lock);
  while (needm) {
    tc__p *p = needm;
    needm = p->link;
    startm(p, false);
  }
  /* The pause ends here: the stamp is taken just before the system call
   * that wakes the stopped Ms, which the kernel wakes inside it.  (Go
   * stamps after its wake-ups; we leave the call out because the kernel
   * may preempt the caller on its way out, when a woken M takes its CPU,
   * and return milliseconds later with the world long running: on a
   * machine with as many CPUs as Ps the collector thread is one thread
   * too many.)  How long the OS then takes to run the woken Ms is
   * recorded apart (restart_lag_max, gcstopm).  One stopper at a time
   * (the collector thread, or the coroutine that claimed a cycle's mark
   * start: collector/gcthread.c), so no other stop comes between the two
   * critical sections; the generation moves on under the lock anyway, so that an
   * M of a later stop waits for the next one. */
  uint64_t now = tc__nanotime();
  tc__spin_lock(&tc__sched.lock);
  tc__sched.restart_ns = now;
  if (stopped_ms) {
    tc__note_clear(&tc__sched.resumenote);
    tc__gen_advance(&tc__sched.worldgen);
  }
  tc__spin_unlock(&tc__sched.lock);
  if (stopped_ms)
    tc__gen_wake(&tc__sched.worldgen);
  tc__wakep(); /* after the stamp, as in Go: not pause time */
  /* The collector thread is a thread beyond the Ps: were it to go on at
   * once, the woken Ms would wait for a CPU behind it (milliseconds of
   * restart lag on a machine with as many CPUs as Ps).  It waits off the
   * CPU until the last of them runs (bounded: an M the OS does not run
   * for long does not hold the collector). */
  if (stopped_ms && own == NULL)
    tc__note_sleep(&tc__sched.resumenote, RESUME_WAIT_NS);
  return now;
}

void tc__await_restart(void) {
  /* the note is cleared by a restart that woke stopped Ms and set by the
   * last of them to run; it starts clear, so look at the count first (a
   * last M that runs between the look and the sleep sets the note, and
   * the sleep returns at once) */
  tc__spin_lock(&tc__sched.lock);
  bool pending = tc__sched.resume_left > 0;
  tc__spin_unlock(&tc__sched.lock);
  if (pending)
    tc__note_sleep(&tc__sched.resumenote, RESUME_WAIT_NS);
}

void tc__for_each_g(void (*fn)(tc__g *g, void *arg), void *arg) {
  tc__spin_lock(&tc__sched.allg_lock);
  for (tc__g *g = tc__sched.allg; g; g = g->allnext)
    fn(g, arg);
  tc__spin_unlock(&tc__sched.allg_lock);
}
