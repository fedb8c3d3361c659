/*
 * sched/sysmon.c -- the system monitor thread and schedtrace.
 *
 * sysmon runs without a P (Go's sysmon, proc.go):
 *   1. It sleeps 20 us while it finds work (timers fired, Ps retaken from
 *      system calls, a cycle asked for); after 50 rounds with none it doubles
 *      the sleep, up to 10 ms.  Asking a long-running G to yield is not
 *      work here (as in Go): a CPU-bound program needs that once per 10
 *      ms, and counting it kept sysmon waking every 20 us to 640 us,
 *      ~5000 times a second, on CPUs the mutators needed.  It never
 *      sleeps past the earliest timer, and a new earliest timer wakes it.
 *   2. Each round it fires due timers, then looks at every P:
 *      - RUNNING with the same schedtick for 10 ms or more: the G has run
 *        too long; its M's preempt flag asks it to yield at its next
 *        safepoint;
 *      - SYSCALL with the same syscalltick for a whole round: the P is
 *        retaken and handed to another M if there is work for it, if no M
 *        is spinning or idle to pick up new work, or after 10 ms.
 *   3. If no cycle ran for the force period (2 minutes by default,
 *      tc_config.force_period_ms), it asks the collector thread for one.
 *   4. With TRICOLOR_DEBUG=schedtrace=MS it prints Go's SCHED line every
 *      MS milliseconds (scheddetail=1 adds P, M and G lines).
 *   5. SIGQUIT: the handler freezes the thread it interrupted and leaves
 *      the dump to sysmon, which looks for it first in every round and
 *      then exits the process (sched/traceback.c); a SIGQUIT that lands on
 *      sysmon itself is dumped by its handler.  (Blocking SIGQUIT in
 *      sysmon was rejected: the Ms sysmon starts, and the threads their
 *      coroutines start, would inherit the mask.)
 */
#include "sched/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORCE_PREEMPT_NS 10000000 /* 10 ms: Go's forcePreemptNS */
#define DELAY_MIN_US 20
#define DELAY_MAX_US 10000

static struct {
  pthread_t thread;
  bool started;
  tc__note note;
  uint32_t sleeping;
  int64_t last_trace;
} mon;

bool tc__sysmon_is_current(void) {
  return mon.started && pthread_equal(pthread_self(), mon.thread);
}

void tc__sysmon_wake(void) {
  if (tc__load_relaxed(&mon.sleeping))
    tc__note_wake(&mon.note);
}

/* Looks at every P (step 2); returns true if it retook a P. */
static bool retake(int64_t now) {
  bool did = false;
  for (unsigned i = 0; i < tc__sched.nprocs; i++) {
    tc__p *p = &tc__sched.allp[i];
    uint32_t status = tc__load_acquire(&p->status);
    if (status == TC__P_RUNNING) {
      uint32_t t = tc__load_relaxed(&p->schedtick);
      if (t != p->mon_schedtick) {
        p->mon_schedtick = t;
        p->mon_schedwhen = now;
      } else if (now - p->mon_schedwhen >= FORCE_PREEMPT_NS) {
        tc__m *m = tc__load_relaxed(&p->m);
        tc__ctx *ctx = m ? tc__load_acquire(&m->ctx) : NULL;
        if (ctx)
          tc__preempt_set(ctx, TC__PREEMPT_YIELD);
        p->mon_schedwhen = now; /* ask once per 10 ms */
        /* not `did`: a request every 10 ms would hold the sleep at
         * 20 us, and a busy program would have sysmon preempting its
         * threads 5000 times a second (Go counts only retaken Ps) */
      }
    } else if (status == TC__P_SYSCALL) {
      uint32_t t = tc__load_relaxed(&p->syscalltick);
      if (t != p->mon_syscalltick) {
        p->mon_syscalltick = t;
        p->mon_syscallwhen = now;
        continue;
      }
      bool work = tc__load_relaxed(&p->runqtail) !=
                      tc__load_relaxed(&p->runqhead) ||
                  tc__load_relaxed(&p->runnext) != NULL ||
                  tc__load_relaxed(&tc__sched.runqsize) > 0;
      bool nobody = tc__load_relaxed(&tc__sched.nmspinning) +
                        tc__load_relaxed(&tc__sched.npidle) == 0;
      if (work || nobody || now - p->mon_syscallwhen > FORCE_PREEMPT_NS)
        did |= tc__proc_retake_syscall(p);
    }
  }
  return did;
}

static void *sysmon_main(void *arg) {
  (void)arg;
  tc__thread_name("tricolor-sysmon");
  int64_t delay_us = DELAY_MIN_US;
  int idle = 0;
  int trace_ms = tc__debug_settings.schedtrace;
  while (!tc__load_acquire(&tc__sched.exiting)) {
    int64_t sleep_ns = delay_us * 1000;
    int64_t next = tc__timers_next();
    int64_t now = (int64_t)tc__nanotime();
    if (next >= 0 && next - now < sleep_ns)
      sleep_ns = next - now > 0 ? next - now : 0;
    if (trace_ms > 0) {
      int64_t due = mon.last_trace + (int64_t)trace_ms * 1000000 - now;
      if (due < sleep_ns)
        sleep_ns = due > 0 ? due : 0;
    }
    if (sleep_ns > 0) {
      tc__note_clear(&mon.note);
      tc__store_relaxed(&mon.sleeping, 1u);
      tc__note_sleep(&mon.note, sleep_ns);
      tc__store_relaxed(&mon.sleeping, 0u);
    }
    if (tc__load_acquire(&tc__sched.exiting))
      break;
    tc__sigquit_poll(); /* first: before any lock the frozen thread may hold */
    now = (int64_t)tc__nanotime();
    bool did = false;
    next = tc__timers_next();
    if (next >= 0 && next <= now) {
      tc__timers_run(now);
      did = true;
    }
    did |= retake(now);
    /* the force period: the collector's policy, asked each tick */
    did |= tc__gc_time_trigger(now);
    if (trace_ms > 0 && now - mon.last_trace >= (int64_t)trace_ms * 1000000) {
      mon.last_trace = now;
      tc__schedtrace(tc__debug_settings.scheddetail != 0);
    }
    if (did) {
      idle = 0;
      delay_us = DELAY_MIN_US;
    } else if (++idle > 50 && delay_us < DELAY_MAX_US) {
      delay_us *= 2;
      if (delay_us > DELAY_MAX_US)
        delay_us = DELAY_MAX_US;
    }
  }
  return NULL;
}

void tc__sysmon_start(void) {
  memset(&mon, 0, sizeof mon);
  mon.last_trace = (int64_t)tc__nanotime();
  if (pthread_create(&mon.thread, NULL, sysmon_main, NULL) == 0)
    mon.started = true;
  else
    tc__warn("cannot start sysmon: no preemption, no syscall hand-off");
}

void tc__sysmon_stop(void) {
  if (!mon.started)
    return;
  tc__note_wake(&mon.note);
  pthread_join(mon.thread, NULL);
  mon.started = false;
}

static const char *g_status_code(const tc__g *g, int *code) {
  switch (g->status) {
  case TC__G_RUNNABLE: *code = 1; break;
  case TC__G_RUNNING: *code = 2; break;
  case TC__G_SYSCALL: *code = 3; break;
  case TC__G_WAITING: *code = 4; break;
  case TC__G_DEAD: *code = 6; break;
  default: *code = 0; break;
  }
  const char *why = tc__load_relaxed(&g->waitreason);
  return why ? why : "";
}

static void print_g(tc__g *g, void *arg) {
  (void)arg;
  int code;
  const char *why = g_status_code(g, &code);
  tc__m *m = tc__load_relaxed(&g->m);
  tc__print("  G%llu: status=%d(%s) m=%d lockedm=-1", (unsigned long long)g->id,
            code, why, m ? (int)m->id : -1);
}

void tc__schedtrace(bool detailed) {
  int64_t ms = ((int64_t)tc__nanotime() - tc__sched.start_ns) / 1000000;
  unsigned n = tc__sched.nprocs;
  if (!detailed) {
    char qs[1024];
    size_t len = 0;
    qs[0] = '\0';
    for (unsigned i = 0; i < n && len + 16 < sizeof qs; i++) {
      tc__p *p = &tc__sched.allp[i];
      uint32_t q = tc__load_relaxed(&p->runqtail) - tc__load_relaxed(&p->runqhead);
      len += (size_t)snprintf(qs + len, sizeof qs - len, i ? " %u" : "%u", q);
    }
    tc__print("SCHED %lldms: gomaxprocs=%u idleprocs=%u threads=%u "
              "spinningthreads=%u idlethreads=%u runqueue=%u [%s]",
              (long long)ms, n, tc__load_relaxed(&tc__sched.npidle),
              tc__sched.mcount, tc__load_relaxed(&tc__sched.nmspinning),
              tc__sched.nmidle, tc__load_relaxed(&tc__sched.runqsize), qs);
    return;
  }
  tc__print("SCHED %lldms: gomaxprocs=%u idleprocs=%u threads=%u "
            "spinningthreads=%u idlethreads=%u runqueue=%u gcwaiting=%u "
            "nmidlelocked=0 stopwait=%u sysmonwait=%u",
            (long long)ms, n, tc__load_relaxed(&tc__sched.npidle),
            tc__sched.mcount, tc__load_relaxed(&tc__sched.nmspinning),
            tc__sched.nmidle, tc__load_relaxed(&tc__sched.runqsize),
            tc__load_relaxed(&tc__sched.gcwaiting), tc__sched.stopwait,
            tc__load_relaxed(&mon.sleeping));
  for (unsigned i = 0; i < n; i++) {
    tc__p *p = &tc__sched.allp[i];
    tc__m *m = tc__load_relaxed(&p->m);
    tc__print("  P%u: status=%u schedtick=%u syscalltick=%u m=%d runqsize=%u "
              "gfreecnt=%d timerslen=0",
              i, tc__load_relaxed(&p->status), tc__load_relaxed(&p->schedtick),
              tc__load_relaxed(&p->syscalltick), m ? (int)m->id : -1,
              tc__load_relaxed(&p->runqtail) - tc__load_relaxed(&p->runqhead),
              p->gfreecnt);
  }
  for (tc__m *m = tc__sched.allm; m; m = m->alllink) {
    tc__p *p = tc__load_relaxed(&m->p);
    tc__g *g = tc__load_relaxed(&m->curg);
    tc__print("  M%u: p=%d curg=%lld mallocing=0 throwing=0 preemptoff= "
              "locks=0 dying=0 spinning=%s blocked=%s lockedg=-1",
              m->id, p ? (int)p->id : -1, g ? (long long)g->id : -1LL,
              m->spinning ? "true" : "false", p ? "false" : "true");
  }
  tc__for_each_g(print_g, NULL);
}
