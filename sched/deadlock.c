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
 * and one line per coroutine: id, status and wait reason, entry function,
 * and where tc_go created it, and exits with status 2 (as Go does).
 *
 * Creation sites cost nothing at tc_go: the tc_go macro passes __FILE__,
 * __LINE__ and __func__.  The main coroutine has no tc_go site (tc_run is
 * a plain function: its caller's line is not known), so its line says
 * "created by tc_run (the main coroutine)" instead.  The entry function's
 * name is found with libunwind only here, when reporting.
 */
#include "sched/proc.h"

#include <stdlib.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Names the function at address pc, or "?" (libunwind: a local cursor
 * whose IP is moved to pc). */
static const char *func_name(void *pc, char *buf, size_t len);

const char *tc__func_name(const void *pc, char *buf, size_t len) {
  /* func_name takes a function's first byte and looks up pc - 1 + 1 */
  return func_name((void *)((uintptr_t)pc - 1), buf, len);
}

static const char *func_name(void *pc, char *buf, size_t len) {
  unw_context_t uc;
  unw_cursor_t cur;
  unw_word_t off = 0;
  if (unw_getcontext(&uc) != 0 || unw_init_local(&cur, &uc) != 0)
    return "?";
  /* +1: libunwind looks up ip - 1 (it takes IPs for return addresses),
   * and pc is a function's first byte. */
  if (unw_set_reg(&cur, UNW_REG_IP, (unw_word_t)(uintptr_t)pc + 1) != 0)
    return "?";
  if (unw_get_proc_name(&cur, buf, len, &off) == 0)
    return buf;
  return "?";
}

static void report_g(tc__g *g, void *arg) {
  (void)arg;
  uint32_t status = tc__load_relaxed(&g->status);
  if (status == TC__G_DEAD)
    return;
  char name[128];
  const char *what = status == TC__G_WAITING && g->waitreason
                         ? g->waitreason
                         : (status == TC__G_RUNNABLE ? "runnable" : "?");
  if (g == tc__sched.maing) {
    tc__print("coroutine %llu [%s]: %s(), created by tc_run (the main "
              "coroutine)",
              (unsigned long long)g->id, what,
              func_name((void *)(uintptr_t)g->fn, name, sizeof name));
    return;
  }
  tc__print("coroutine %llu [%s]: %s(), created by %s at %s:%d",
            (unsigned long long)g->id, what,
            func_name((void *)(uintptr_t)g->fn, name, sizeof name),
            g->go_func ? g->go_func : "?", g->go_file ? g->go_file : "?",
            g->go_line);
}

void tc__deadlock_report(void) {
  tc__print("tricolor: all coroutines are asleep - deadlock!");
  tc__print("%s", "");
  tc__for_each_g(report_g, NULL);
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
