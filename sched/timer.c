/*
 * sched/timer.c -- sleeping coroutines: a binary min-heap of Gs ordered by
 * deadline, under one lock.
 *
 * tc_sleep(ns) puts the running G on the heap and parks it; the heap lock
 * is released on g0 after the G has switched out (tc__park's unlock), so a
 * timer that fires at once still finds a parked G to ready.  Due timers
 * are fired by any M looking for work and by sysmon, which sleeps until the
 * earliest deadline when it has nothing else to do; a new earliest
 * deadline wakes sysmon.  Pending timers also tell the deadlock detector
 * that a sleeping program is not stuck.
 *
 * Rejected: per-P timer heaps (Go's): they need timer stealing and
 * rebalancing to be fair, for no gain at the scale of this library's tests.
 */
#include "sched/proc.h"

#include <stdlib.h>

static struct {
  uint32_t lock;      /* tc__spin */
  tc__g **heap;       /* heap[0] has the earliest deadline */
  size_t n, cap;
  size_t firing;      /* taken off the heap, not yet on a run queue: the
                         deadlock detector must not think them gone */
  uint32_t fire;      /* tc__spin: one thread fires timers at a time */
} tm;

void tc__timers_init(void) {
  tm.heap = NULL;
  tm.n = tm.cap = 0;
  tm.lock = 0;
  tm.fire = 0;
  tm.firing = 0;
}

void tc__timers_destroy(void) {
  free(tm.heap);
  tm.heap = NULL;
  tm.n = tm.cap = 0;
}

static void swap(size_t i, size_t j) {
  tc__g *t = tm.heap[i];
  tm.heap[i] = tm.heap[j];
  tm.heap[j] = t;
  tm.heap[i]->timer_index = i;
  tm.heap[j]->timer_index = j;
}

static void sift_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (tm.heap[parent]->timer_when <= tm.heap[i]->timer_when)
      break;
    swap(i, parent);
    i = parent;
  }
}

static void sift_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, min = i;
    if (l < tm.n && tm.heap[l]->timer_when < tm.heap[min]->timer_when)
      min = l;
    if (r < tm.n && tm.heap[r]->timer_when < tm.heap[min]->timer_when)
      min = r;
    if (min == i)
      return;
    swap(i, min);
    i = min;
  }
}

static void unlock_timers(void *arg) { tc__spin_unlock(arg); }

void tc_sleep(int64_t ns) {
  tc__g *g = tc__needg("tc_sleep");
  if (ns <= 0) {
    tc_yield();
    return;
  }
  int64_t when = (int64_t)tc__nanotime() + ns;
  tc__spin_lock(&tm.lock);
  if (tm.n == tm.cap) {
    size_t cap = tm.cap ? tm.cap * 2 : 64;
    tc__g **h = realloc(tm.heap, cap * sizeof *h);
    if (h == NULL)
      tc__fatal("out of memory for the timer heap");
    tm.heap = h;
    tm.cap = cap;
  }
  g->timer_when = when;
  g->timer_index = tm.n;
  tm.heap[tm.n] = g;
  tc__store_relaxed(&tm.n, tm.n + 1);
  sift_up(tm.n - 1);
  bool earliest = tm.heap[0] == g;
  if (earliest)
    tc__sysmon_wake();
  tc__park("sleep", unlock_timers, &tm.lock);
}

int64_t tc__timers_run(int64_t now) {
  tc__g *ready = NULL, **tail = &ready; /* in deadline order */
  int64_t next = -1;
  /* One firer at a time, from taking the timers off the heap until they
   * are queued: two threads firing at once would queue later deadlines
   * before earlier ones. */
  if (!tc__spin_trylock(&tm.fire))
    return tc__timers_next();
  tc__spin_lock(&tm.lock);
  while (tm.n > 0 && tm.heap[0]->timer_when <= now) {
    tc__g *g = tm.heap[0];
    /* firing goes up before n goes down (seq_cst, and pending() reads n
     * first): the deadlock detector never sees the timer vanish. */
    __atomic_add_fetch(&tm.firing, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&tm.n, tm.n - 1, __ATOMIC_SEQ_CST);
    if (tm.n > 0) {
      tm.heap[0] = tm.heap[tm.n];
      tm.heap[0]->timer_index = 0;
      sift_down(0);
    }
    g->timer_when = 0;
    g->schedlink = NULL;
    *tail = g;
    tail = &g->schedlink;
  }
  if (tm.n > 0)
    next = tm.heap[0]->timer_when;
  tc__spin_unlock(&tm.lock);
  size_t fired = 0;
  for (tc__g *g = ready; g; g = g->schedlink)
    fired++;
  /* The global queue keeps the deadline order whoever fires. */
  tc__ready_global(ready);
  __atomic_sub_fetch(&tm.firing, fired, __ATOMIC_SEQ_CST);
  tc__spin_unlock(&tm.fire);
  return next;
}

int64_t tc__timers_next(void) {
  tc__spin_lock(&tm.lock);
  int64_t next = tm.n ? tm.heap[0]->timer_when : -1;
  tc__spin_unlock(&tm.lock);
  return next;
}

bool tc__timers_pending(void) {
  size_t n = __atomic_load_n(&tm.n, __ATOMIC_SEQ_CST); /* n, then firing */
  return n + __atomic_load_n(&tm.firing, __ATOMIC_SEQ_CST) != 0;
}
