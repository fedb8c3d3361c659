/*
 * collector/gcthread.c -- the collector thread: under tc_run it drives
 * every cycle but for the mark-start pause of one that an allocation
 * triggered, and it runs the background sweeper.
 *
 * A thread of its own without a P, as sysmon is.  Go runs a cycle from
 * the allocating goroutine and marks in per-P worker goroutines; here the
 * mark workers run on the Ps too (collector/workers.c), and the mark
 * start does run on the coroutine whose allocation passed the trigger
 * (hybrid and insertion modes: no stack is scanned in that pause), which
 * holds a P, so its stop needs no other thread woken.  This thread then
 * watches the marking, stops the world for mark termination and sweeps
 * between cycles without taking a P from the coroutines.  Cycles asked
 * for otherwise (tc_gc, sysmon's force period, out of memory, stw and
 * deletion modes) run here whole.
 *
 * 0. Begun here: tc__gcthread_begin_here claims the cycle under the
 *    request mutex (`starting`; only once this thread's background sweep
 *    of the last cycle is done, `swept`: the sweep must not overlap the
 *    pause, and finishing it is not the mutator's to pay), runs the mark
 *    start on the calling coroutine and hands the cycle over (`handed`).
 *    If the thread quit meanwhile (the runtime is exiting), the caller
 *    abandons the cycle itself.
 * 1. Requests: tc__gcthread_request(reason) records the first reason
 *    asked for since the last cycle started and signals the thread.  The
 *    allocation slow path asks when heap.live passes the trigger and it
 *    cannot begin the cycle itself (step 0); sysmon
 *    asks when no cycle ran for the force period; tc_gc asks and waits.
 * 2. Waiting: a request returns the number of the cycle that will begin
 *    after it (cycles begun + 1, under the request mutex); a coroutine that
 *    must wait for it (tc_gc, out of memory) parks on a list until
 *    cycles_done reaches that number.  When a cycle ends every waiter is
 *    readied and looks again.
 * 3. Between cycles the thread sweeps a few spans at a time (heap lock held
 *    for at most SWEEP_BATCH spans), checking for requests in between.
 * 4. Event trace: each run of background sweeping (from the end of a cycle
 *    until nothing is left to sweep or the next cycle begins) is one
 *    "sweep" slice on the GC track (collector/trace.c).
 * Lock order: the request mutex is a leaf (a cycle is begun, run and
 * abandoned outside it); the waiter list is a tc__spin leaf released by
 * tc__park on g0.
 */
#include "collector/collector.h"

#include <pthread.h>

#define SWEEP_BATCH 16

static struct {
  pthread_t thread;
  bool running;       /* the thread exists */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pending;        /* reason + 1 of the next cycle, 0 = none */
  uint64_t started;   /* cycles begun (taken off `pending`, or here) */
  bool swept;         /* the background sweep ran out of spans since the
                         last cycle was claimed */
  bool starting;      /* a coroutine runs a cycle's mark start */
  bool handed;        /* ... and handed the rest of it to this thread */
  bool quit;
  uint32_t wlock;     /* tc__spin: waiters */
  tc__g *waiters;     /* linked through the Gs (tc__g_push) */
} gct = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void wake_waiters(void) {
  tc__spin_lock(&gct.wlock);
  tc__g *list = gct.waiters;
  gct.waiters = NULL;
  tc__spin_unlock(&gct.wlock);
  tc__ready_global(list);
}

/* Ends the background sweep's trace slice that began at *t0, if any. */
static void trace_sweep_end(uint64_t *t0) {
  if (*t0 && TC__TRACING())
    tc__trace_gc("sweep", *t0, tc__nanotime(),
                 tc__load_relaxed(&tc__gc.cycles_done));
  *t0 = 0;
}

/* A cycle ended (or was abandoned): its waiters go on. */
static void cycle_done(void) {
  tc__store_release(&tc__gc.cycles_done, tc__gc.cycles_done + 1);
  wake_waiters();
  tc__store_release(&tc__gc.in_cycle, 0u);
}

static void *gc_main(void *arg) {
  (void)arg;
  tc__thread_name("tricolor-gc");
  bool sweeping = true; /* what a bare mutator left, if anything */
  uint64_t sweep_t0 = 0; /* trace: this sweep run began, 0 = untraced */
  pthread_mutex_lock(&gct.mu);
  for (;;) {
    while (!gct.handed && (!gct.pending || gct.starting) && !gct.quit) {
      if (sweeping) {
        pthread_mutex_unlock(&gct.mu);
        sweeping = tc__sweep_some(SWEEP_BATCH);
        if (!sweeping)
          trace_sweep_end(&sweep_t0);
        pthread_mutex_lock(&gct.mu);
        gct.swept = !sweeping;
        continue;
      }
      pthread_cond_wait(&gct.cv, &gct.mu);
    }
    trace_sweep_end(&sweep_t0);
    if (gct.quit) {
      bool handed = gct.handed;
      gct.handed = false;
      pthread_mutex_unlock(&gct.mu);
      if (handed) /* the runtime is exiting: the cycle ends here */
        tc__cycle_abandon_handed();
      pthread_mutex_lock(&gct.mu);
      break;
    }
    if (gct.handed) { /* marking is under way: steps 2 and 3 */
      gct.handed = false;
      pthread_mutex_unlock(&gct.mu);
      tc__cycle_finish_handed();
    } else {
      int reason = gct.pending - 1;
      gct.pending = 0;
      gct.started++;
      gct.swept = false;
      /* under the mutex, in_cycle first: the deadlock check never sees
       * neither flag while a cycle is asked for or running */
      tc__store_release(&tc__gc.in_cycle, 1u);
      tc__store_release(&tc__gc.requested, 0u);
      pthread_mutex_unlock(&gct.mu);
      if (reason == TC__REASON_TIME && tc__debug_settings.gctrace)
        tc__print("GC forced");
      tc__cycle_run(reason);
    }
    cycle_done();
    sweeping = true;
    sweep_t0 = TC__TRACING() ? tc__nanotime() : 0;
    pthread_mutex_lock(&gct.mu);
  }
  pthread_mutex_unlock(&gct.mu);
  return NULL;
}

void tc__gcthread_start(void) {
  gct.pending = 0;
  gct.started = tc__load_relaxed(&tc__gc.cycles_done);
  gct.quit = false;
  gct.starting = gct.handed = gct.swept = false;
  gct.waiters = NULL;
  /* the size of an M's stack, so glibc's cache of thread stacks serves
   * both (marking never recurses; trace callbacks run here as on Ms) */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(&gct.thread, &attr, gc_main, NULL);
  pthread_attr_destroy(&attr);
  if (rc)
    tc__fatal("cannot start the collector thread");
  gct.running = true;
}

void tc__gcthread_stop(void) {
  if (!gct.running)
    return;
  pthread_mutex_lock(&gct.mu);
  gct.quit = true;
  pthread_cond_signal(&gct.cv);
  pthread_mutex_unlock(&gct.mu);
  pthread_join(gct.thread, NULL);
  gct.running = false;
  tc__store_relaxed(&tc__gc.in_cycle, 0u);
  tc__store_relaxed(&tc__gc.requested, 0u);
}

uint64_t tc__gcthread_request(int reason) {
  pthread_mutex_lock(&gct.mu);
  /* the next cycle to begin starts after this call, whether or not one
   * is running now; cycles end in the order they begin */
  uint64_t target = gct.started + 1;
  tc__store_relaxed(&tc__gc.requested, 1u);
  if (!gct.pending)
    gct.pending = reason + 1;
  else if (reason == TC__REASON_EXPLICIT)
    gct.pending = reason + 1; /* report it as forced */
  pthread_cond_signal(&gct.cv);
  pthread_mutex_unlock(&gct.mu);
  return target;
}

bool tc__gcthread_begin_here(int reason) {
  int mode = tc__cycle_mode_here();
  if (mode < 0)
    return false;
  pthread_mutex_lock(&gct.mu);
  /* Only once the background sweep is done: the sweep that must end
   * before a mark starts then costs this coroutine nothing, and the
   * sweeper, idle, cannot run inside the pause.  A cycle asked for or
   * running goes on as it is. */
  if (gct.starting || tc__load_relaxed(&tc__gc.in_cycle)) {
    pthread_mutex_unlock(&gct.mu);
    return true; /* begun already: nothing to ask for */
  }
  if (gct.quit || gct.pending || !gct.swept) {
    pthread_mutex_unlock(&gct.mu);
    return false;
  }
  gct.starting = true;
  gct.swept = false;
  gct.started++;
  tc__add_relaxed(&tc__gcc.begun_here, 1);
  tc__store_release(&tc__gc.in_cycle, 1u); /* as gc_main: under the mutex */
  pthread_mutex_unlock(&gct.mu);
  tc__cycle_start_here(reason, mode);
  pthread_mutex_lock(&gct.mu);
  gct.starting = false;
  bool quit = gct.quit;
  gct.handed = !quit;
  pthread_cond_signal(&gct.cv);
  pthread_mutex_unlock(&gct.mu);
  if (quit) /* the runtime is exiting and the thread gone */
    tc__cycle_abandon_handed();
  return true;
}

uint64_t tc__gcthread_current(void) {
  pthread_mutex_lock(&gct.mu);
  /* a begun cycle is unfinished iff cycles_done < started (in_cycle lags
   * behind cycles_done at the end of a cycle) */
  bool running = tc__load_acquire(&tc__gc.cycles_done) < gct.started;
  uint64_t n = gct.started + (running ? 0 : 1);
  if (!running && !gct.pending) {
    gct.pending = TC__REASON_HEAP + 1; /* the waiter needs one to come */
    tc__store_relaxed(&tc__gc.requested, 1u);
  }
  pthread_cond_signal(&gct.cv);
  pthread_mutex_unlock(&gct.mu);
  return n;
}

static void unlock_waiters(void *arg) { tc__spin_unlock(arg); }

void tc__gcthread_wait(uint64_t n) {
  tc__g *g = tc__needg("tc_gc");
  for (;;) {
    tc__spin_lock(&gct.wlock);
    if (tc__load_acquire(&tc__gc.cycles_done) >= n) {
      tc__spin_unlock(&gct.wlock);
      return;
    }
    tc__g_push(&gct.waiters, g);
    tc__park("wait for GC cycle", unlock_waiters, &gct.wlock);
  }
}
