/*
 * sched/deadlock.c -- detecting that every coroutine is blocked for good,
 * and the report (Go's checkdead, proc.go).
 *
 * Called with the sched lock held whenever an M goes idle.  The program is
 * deadlocked when no M is running (all idle: none runs a G, none is in a
 * system call, none is stopping the world), no timer is pending (a
 * sleeper will wake), the runtime is not exiting, and coroutines exist.
 * Then it prints
 *     tricolor: all coroutines are asleep - deadlock!
 * and an entry per coroutine, and exits with status 2 (as Go does).  The
 * entry (id, wait reason, entry function, where tc_go created it, and a
 * backtrace of where it is parked) is the coroutine dump's
 * (sched/traceback.c): the same function prints both.
 */
#include "sched/proc.h"

#include <unistd.h>

void tc__deadlock_report(void) {
  tc__print("tricolor: all coroutines are asleep - deadlock!");
  tc__print("%s", "");
  tc__dump_stderr();
  tc__heap_abandon(); /* valgrind: the heap's objects are no leaks */
  _exit(2);
}

void tc__sched_checkdead(void) {
  if (!tc__sched.running || tc__load_acquire(&tc__sched.exiting) ||
      tc__sched.foreign_threads)
    return;
  /* Ms neither idle nor detached (foreign Ms waiting for reuse): an
   * attached thread counts as running, as it may always come back */
  uint32_t run = tc__sched.mcount - tc__sched.nmidle - tc__sched.nmfree;
  if (run > 0)
    return;
  if (tc__timers_pending())
    return;
  if (tc__load_relaxed(&tc__sched.runqsize) > 0)
    return; /* cannot happen with every M idle; be safe */
  if (tc__sched.ngoroutines == 0)
    return;
  /* The collector thread stops the world, and Gs waiting in tc_gc wake
   * when its cycle ends: neither is a deadlock. */
  if (tc__load_relaxed(&tc__sched.gcwaiting))
    return;
  if (tc__gc_busy()) /* a cycle asked for or running */
    return;
  tc__deadlock_report();
}
