/*
 * sched/timer.c -- sleeping coroutines and channel timers: one binary
 * min-heap of deadlines, under one lock.
 *
 * 1. tc_sleep(ns) puts the running G on the heap and parks it; the heap
 *    lock is released on g0 after the G has switched out (tc__park's
 *    unlock), so a timer that fires at once still finds a parked G to
 *    ready.
 * 2. Channel timers (tc_timer_new, tc_ticker_new, tc_after; Go's
 *    time.NewTimer, NewTicker, After) are heap objects on the same heap.
 *    Firing sends the time on the timer's channel without blocking
 *    (tc__chan_offer: to a waiting receiver, else into its buffer of one,
 *    else dropped) and re-arms a ticker one period on.  Stop takes a timer
 *    off the heap; Reset puts it back with a new deadline; both empty the
 *    channel, so no stale tick follows them.
 * 3. GC: the heap is the root of the timers on it.  The collector scans it
 *    like the globals (tc__world_scan_timers), and a timer entering or
 *    leaving it is shaded while marking, as a store into a root slot is.
 *    A stopped or fired timer is held by nothing but the program, so a
 *    dropped one is collected with its channel.
 * 4. Due timers are fired by any M looking for work and by sysmon, which
 *    sleeps until the earliest deadline when it has nothing else to do; a
 *    new earliest deadline wakes sysmon.  Pending timers also tell the
 *    deadlock detector that a sleeping program is not stuck.
 * Lock order: the timer lock, then (firing a channel timer) the channel's
 * lock, then the scheduler's (readying its receiver): nothing takes the
 * timer lock while holding either.
 *
 * Rejected: per-P timer heaps (Go's): they need timer stealing and
 * rebalancing to be fair, for no gain at the scale of this library's tests.
 */
#include "sched/proc.h"

#include <stddef.h>
#include <stdlib.h>

/* A heap entry: a sleeping G or a channel timer, with its deadline. */
enum { ENT_G, ENT_TIMER };
typedef struct tent {
  int64_t when;
  void *obj;            /* tc__g * or tc_timer * */
  int kind;             /* ENT_* */
} tent;

/* A channel timer: a heap object (the type traces c).  While it is on the
 * timer heap the heap is its root (scanned like the globals, shaded when
 * it enters or leaves); stopped or fired, nothing holds it but the
 * embedder, so a dropped timer is collected with its channel. */
struct tc_timer {
  tc_chan *c;           /* TC_CHAN_RAW, buffer 1: fire times (ns) */
  int64_t period;       /* ns between ticks; 0: one-shot */
  int64_t when;         /* next deadline while on the heap */
  size_t index;         /* position on the heap, SIZE_MAX when off it */
};
static const uint32_t timer_offsets[] = {offsetof(tc_timer, c)};
static tc_type timer_type = {.name = "tc_timer", .offsets = timer_offsets,
                             .noffsets = 1};

static struct {
  uint32_t lock;      /* tc__spin */
  tent *heap;         /* heap[0] has the earliest deadline */
  size_t n, cap;
  size_t firing;      /* timers taken off the heap whose woken G (a
                         sleeper, a channel timer's receiver) is not yet
                         on a run queue: the deadlock detector must not
                         think them gone */
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

static void set_index(size_t i) {
  tent *e = &tm.heap[i];
  if (e->kind == ENT_G)
    ((tc__g *)e->obj)->timer_index = i;
  else
    ((tc_timer *)e->obj)->index = i;
}

static void swap(size_t i, size_t j) {
  tent t = tm.heap[i];
  tm.heap[i] = tm.heap[j];
  tm.heap[j] = t;
  set_index(i);
  set_index(j);
}

static void sift_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (tm.heap[parent].when <= tm.heap[i].when)
      break;
    swap(i, parent);
    i = parent;
  }
}

static void sift_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, min = i;
    if (l < tm.n && tm.heap[l].when < tm.heap[min].when)
      min = l;
    if (r < tm.n && tm.heap[r].when < tm.heap[min].when)
      min = r;
    if (min == i)
      return;
    swap(i, min);
    i = min;
  }
}

/* Adds an entry; lock held.  Wakes sysmon if it is the earliest. */
static void heap_add(int64_t when, void *obj, int kind) {
  if (tm.n == tm.cap) {
    size_t cap = tm.cap ? tm.cap * 2 : 64;
    tent *h = realloc(tm.heap, cap * sizeof *h);
    if (h == NULL)
      tc__fatal("out of memory for the timer heap");
    tm.heap = h;
    tm.cap = cap;
  }
  tm.heap[tm.n] = (tent){when, obj, kind};
  set_index(tm.n);
  tc__store_relaxed(&tm.n, tm.n + 1);
  sift_up(tm.n - 1);
  if (tm.heap[0].obj == obj)
    tc__sysmon_wake();
}

/* Removes entry i; lock held. */
static void heap_remove(size_t i) {
  __atomic_store_n(&tm.n, tm.n - 1, __ATOMIC_SEQ_CST);
  if (i == tm.n)
    return;
  tm.heap[i] = tm.heap[tm.n];
  set_index(i);
  sift_down(i);
  sift_up(i);
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
  g->timer_when = when;
  heap_add(when, g, ENT_G);
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
  while (tm.n > 0 && tm.heap[0].when <= now) {
    tent e = tm.heap[0];
    if (e.kind == ENT_TIMER && ((tc_timer *)e.obj)->period > 0) {
      /* a ticker: send the time (dropped if the last one was not
       * received, as Go's buffer of one does) and move its deadline on
       * in place, so it never leaves the heap: the deadlock detector
       * sees it pending throughout */
      tc_timer *t = e.obj;
      tc__chan_offer(t->c, (void *)(intptr_t)now);
      int64_t when = t->when + t->period;
      t->when = when > now ? when : now + t->period;
      tm.heap[0].when = t->when;
      sift_down(0);
      continue;
    }
    /* firing goes up before n goes down, and down only once the woken G
     * is on a run queue (seq_cst, and pending() reads n first): the
     * deadlock detector never sees a timer vanish before its G appears.
     * Sysmon fires without a P, so it is no running M to the detector. */
    __atomic_add_fetch(&tm.firing, 1, __ATOMIC_SEQ_CST);
    heap_remove(0);
    tc__debug_delay(tc__debug_settings.timerdelay); /* test hook */
    if (e.kind == ENT_TIMER) {
      /* a one-shot channel timer: send the time; the receiver it wakes
       * is queued when the offer returns */
      tc_timer *t = e.obj;
      tc__chan_offer(t->c, (void *)(intptr_t)now);
      t->index = SIZE_MAX;
      __atomic_sub_fetch(&tm.firing, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    tc__g *g = e.obj;
    g->timer_when = 0;
    g->schedlink = NULL;
    *tail = g;
    tail = &g->schedlink;
  }
  if (tm.n > 0)
    next = tm.heap[0].when;
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
  int64_t next = tm.n ? tm.heap[0].when : -1;
  tc__spin_unlock(&tm.lock);
  return next;
}

/* ---------------------------------------------------------------- channel timers */

static tc_timer *timer_make(int64_t ns, int64_t period, const char *call) {
  tc__needg(call);
  tc_timer *t = NULL;
  tc_chan *c = NULL;
  TC_LOCALS(t, c);
  c = tc_chan_new(1, TC_CHAN_RAW);
  if (c == NULL)
    return NULL;
  t = tc_alloc(&timer_type, sizeof *t);
  if (t == NULL)
    return NULL;
  TC_STORE(t, c, c);
  t->period = period;
  t->index = SIZE_MAX;
  tc_timer_reset(t, ns);
  return t;
}

tc_timer *tc_timer_new(int64_t ns) { return timer_make(ns, 0, "tc_timer_new"); }

tc_timer *tc_ticker_new(int64_t period) {
  if (period <= 0)
    tc__fatal("tc_ticker_new(%lld): the period must be positive",
              (long long)period);
  return timer_make(period, period, "tc_ticker_new");
}

tc_chan *tc_timer_chan(const tc_timer *t) { return t->c; }

tc_chan *tc_after(int64_t ns) {
  tc_timer *t = tc_timer_new(ns);
  return t ? t->c : NULL;
}

/* The heap is t's root while t is on it: entering or leaving it is a
 * store into a root slot, shaded while marking (sched/world.h). */
bool tc_timer_stop(tc_timer *t) {
  tc__needg("tc_timer_stop");
  tc__spin_lock(&tm.lock);
  bool was = t->index != SIZE_MAX;
  if (was) {
    heap_remove(t->index);
    t->index = SIZE_MAX;
  }
  /* under the timer lock, so no tick comes between: nothing stale is
   * received after Stop (Go 1.23) */
  tc__chan_drain(t->c);
  tc__spin_unlock(&tm.lock);
  tc__gc_shade_arg(t);
  return was;
}

bool tc_timer_reset(tc_timer *t, int64_t ns) {
  tc__needg("tc_timer_reset");
  tc__gc_shade_arg(t);
  int64_t when = (int64_t)tc__nanotime() + (ns > 0 ? ns : 0);
  tc__spin_lock(&tm.lock);
  bool was = t->index != SIZE_MAX;
  if (was)
    heap_remove(t->index);
  tc__chan_drain(t->c); /* the old tick, before the new one can come */
  t->when = when;
  heap_add(when, t, ENT_TIMER);
  tc__spin_unlock(&tm.lock);
  return was;
}

uint64_t tc__world_scan_timers(tc__marker *m) {
  if (!tc__world_scheduled())
    return 0;
  uint64_t n = 0;
  tc__spin_lock(&tm.lock);
  for (size_t i = 0; i < tm.n; i++)
    if (tm.heap[i].kind == ENT_TIMER) {
      tc__gc_scan_roots(m, NULL, &tm.heap[i].obj);
      n++;
    }
  tc__spin_unlock(&tm.lock);
  return n;
}

bool tc__timers_any(void) { return tc__load_relaxed(&tm.n) != 0; }

bool tc__timers_pending(void) {
  size_t n = __atomic_load_n(&tm.n, __ATOMIC_SEQ_CST); /* n, then firing */
  if (n == 0)
    tc__debug_delay(tc__debug_settings.checkdelay); /* test hook */
  return n + __atomic_load_n(&tm.firing, __ATOMIC_SEQ_CST) != 0;
}
