/*
 * sched/bare.c -- bare mode's world: the thread that called tc_init and
 * threads attached with tc_thread_attach (no tc_run) share the runtime by
 * taking turns on its one processor.
 *
 * Bare mode has no Ps, no coroutines and no collector thread: a cycle
 * runs stop-the-world on the thread that starts it (collector/cycle.c).
 * With attached threads the runtime still has one processor -- the turn --
 * and a mutator runs tricolor code only while it has the turn.  So when a
 * thread collects, every other mutator is stopped by construction: waiting
 * for its turn, or outside tricolor between tc_syscall_enter and
 * tc_syscall_exit.  That is GOMAXPROCS=1 without a scheduler.
 *
 *   1. The turn is a ticket lock (mutex, condition variable): a thread
 *      asking for it draws a ticket and waits until it is served, so turns
 *      go in the order they were asked for.  tc_init's thread holds it
 *      from the start.
 *   2. Where the turn passes: tc_thread_attach takes it and
 *      tc_thread_detach gives it back; tc_syscall_enter gives it up and
 *      tc_syscall_exit takes it again; a safepoint (tc_safepoint, an
 *      allocation's refill) hands it over when another thread waits --
 *      the waiter pokes the holder's preempt word, as sysmon pokes a
 *      coroutine that ran too long, but with a bit of its own
 *      (TC__PREEMPT_TURN) that tc_alloc's inline path leaves to the next
 *      refill: a contended turn lasts about one allocation run.
 *   3. Each attached thread has a record here holding its root stack; the
 *      collector scans them all besides tc_init's (tc__world_bare_scan,
 *      called on the turn holder's thread).  The list changes only on the
 *      holder's thread (attach links after taking the turn, detach unlinks
 *      before giving it up), so a cycle sees it whole.
 *   4. The mutators share one allocation cache: the turn holder's context
 *      points at it, and at the empty cache while it has no turn, so that
 *      an allocation there takes the slow path and its checks.
 *   5. The rule is the same as under tc_run: a thread that blocks in its
 *      own code does so between tc_syscall_enter and tc_syscall_exit, or
 *      the others wait for it.  Checked builds (TC_DEBUG >= 1) warn when a
 *      thread has waited 100 ms for its turn, naming the holder and the
 *      call where it took the turn.
 *   6. tc_run's own tc_init closes the bare world (the scheduler takes
 *      over); a thread waiting for a turn then gets TC_ESTATE, as any
 *      attach before tc_run runs does.  tc_shutdown aborts while threads
 *      are attached.
 *
 * Lock order: bare.mu is a leaf (held for a few stores, and across a
 * warning on stderr; never across a call into the collector or the
 * embedder).
 */
#include "sched/proc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define SLOW_TURN_NS 100000000ull /* checked builds report a wait this long
                                     (as a slow stop's, sched/proc.c) */

/* An attached thread's record (ctx->owner while it is attached). */
typedef struct bare_thread {
  tc__rootstack roots;        /* its TC_LOCALS frames */
  struct bare_thread *next;   /* bare.list */
  unsigned id;                /* 1, 2, ... in order of attaching */
} bare_thread;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool live;                  /* tc_init ran, tc_run and tc_shutdown did not */
  uint64_t next, serving;     /* tickets: drawn, and the one holding the turn */
  tc__ctx *holder;            /* the turn holder's context; NULL between turns */
  unsigned holder_id;         /* 0: the tc_init thread */
  const void *holder_pc;      /* where it took the turn (a return address) */
  unsigned waiting;           /* threads waiting for their ticket */
  bare_thread *list;          /* attached threads */
  unsigned nattached, ids;
} bare = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void poke(tc__ctx *c) { tc__preempt_set(c, TC__PREEMPT_TURN); }

static void slow_turn_report(uint64_t waited) {
  char name[128];
  const char *where = bare.holder_pc
                          ? tc__func_name(bare.holder_pc, name, sizeof name)
                          : "tc_init";
  if (bare.holder == NULL)
    return; /* between turns: somebody is being served */
  if (bare.holder_id == 0)
    tc__warn("a thread has waited %llu ms for its turn (bare mode): the "
             "tc_init thread holds it, since %s(), and has not reached a "
             "safepoint (block between tc_syscall_enter and "
             "tc_syscall_exit, or call tc_safepoint)",
             (unsigned long long)(waited / 1000000), where);
  else
    tc__warn("a thread has waited %llu ms for its turn (bare mode): "
             "attached thread %u holds it, since %s(), and has not reached "
             "a safepoint (block between tc_syscall_enter and "
             "tc_syscall_exit, or call tc_safepoint)",
             (unsigned long long)(waited / 1000000), bare.holder_id, where);
}

/* Waits for the turn; false if the bare world closed meanwhile.  Called
 * with bare.mu held, which it keeps. */
static bool turn_wait(tc__ctx *ctx, unsigned id, const void *pc) {
  uint64_t t = bare.next++;
  if (t != bare.serving) {
    bare.waiting++;
    if (bare.holder)
      poke(bare.holder);
    uint64_t t0 = tc__nanotime();
    bool reported = false;
    while (t != bare.serving && bare.live) {
      if (TC_DEBUG >= 1 && !reported) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(SLOW_TURN_NS % 1000000000ull);
        ts.tv_sec += (time_t)(SLOW_TURN_NS / 1000000000ull) +
                     ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&bare.cv, &bare.mu, &ts) == ETIMEDOUT &&
            t != bare.serving && tc__nanotime() - t0 >= SLOW_TURN_NS) {
          slow_turn_report(tc__nanotime() - t0);
          reported = true;
        }
      } else {
        pthread_cond_wait(&bare.cv, &bare.mu);
      }
    }
    bare.waiting--;
    if (t != bare.serving)
      return false; /* closed: no more turns */
  }
  bare.holder = ctx;
  bare.holder_id = id;
  bare.holder_pc = pc;
  if (bare.waiting)
    poke(ctx); /* somebody asked meanwhile: hand over at a safepoint */
  ctx->cache = tc__gc_bare_cache();
  return true;
}

/* Gives the turn up.  With bare.mu held. */
static void turn_give(tc__ctx *ctx) {
  ctx->cache = tc__world_no_cache(); /* no allocation without the turn */
  bare.holder = NULL;
  bare.serving++;
  pthread_cond_broadcast(&bare.cv);
}

/* ---------------------------------------------------------------- the seam */

void tc__world_bare_open(tc__ctx *ctx) {
  pthread_mutex_lock(&bare.mu);
  bare.live = true;
  bare.next = 1; /* ticket 0 is tc_init's thread's */
  bare.serving = 0;
  bare.holder = ctx;
  bare.holder_id = 0;
  bare.holder_pc = NULL;
  bare.waiting = 0;
  bare.list = NULL;
  bare.nattached = 0;
  bare.ids = 0;
  pthread_mutex_unlock(&bare.mu);
}

void tc__world_bare_close(tc__ctx *ctx) {
  pthread_mutex_lock(&bare.mu);
  if (bare.nattached)
    tc__fatal("tc_shutdown with %u thread%s still attached (each calls "
              "tc_thread_detach first)",
              bare.nattached, bare.nattached == 1 ? "" : "s");
  if (bare.live && bare.holder != ctx)
    tc__fatal("tc_shutdown between tc_syscall_enter and tc_syscall_exit");
  bare.live = false;
  pthread_cond_broadcast(&bare.cv);
  pthread_mutex_unlock(&bare.mu);
}

uint64_t tc__world_bare_scan(tc__marker *m) {
  /* No lock: the list changes only on the turn holder's thread, which
   * this is (the turn's hand-overs order those changes before us). */
  uint64_t n = 0;
  for (bare_thread *t = bare.list; t; t = t->next)
    n += tc__gc_scan_roots(m, &t->roots, NULL);
  return n;
}

/* ---------------------------------------------------------------- API */

int tc__bare_attach(tc__ctx *ctx, const void *pc) {
  if (ctx->owner != NULL)
    return TC_ESTATE; /* tc_init's thread, or attached already */
  bare_thread *t = calloc(1, sizeof *t);
  if (t == NULL)
    return TC_ENOMEM;
  pthread_mutex_lock(&bare.mu);
  if (!bare.live || !turn_wait(ctx, ++bare.ids, pc)) {
    pthread_mutex_unlock(&bare.mu);
    free(t);
    return TC_ESTATE;
  }
  t->id = bare.holder_id;
  t->next = bare.list;
  bare.list = t;
  bare.nattached++;
  pthread_mutex_unlock(&bare.mu);
  ctx->rs = &t->roots;
  ctx->owner = t;
  return TC_OK;
}

int tc__bare_detach(tc__ctx *ctx) {
  pthread_mutex_lock(&bare.mu);
  bare_thread **link = &bare.list;
  while (*link && *link != ctx->owner)
    link = &(*link)->next;
  bare_thread *t = *link;
  if (t == NULL || !bare.live) {
    pthread_mutex_unlock(&bare.mu);
    return TC_ESTATE; /* not an attached thread */
  }
  tc__detach_check(bare.holder != ctx, &t->roots);
  *link = t->next;
  bare.nattached--;
  turn_give(ctx);
  pthread_mutex_unlock(&bare.mu);
  ctx->owner = NULL;
  ctx->rs = NULL;
  free(t);
  return TC_OK;
}

void tc__bare_syscall_enter(tc__ctx *ctx) {
  pthread_mutex_lock(&bare.mu);
  if (bare.holder != ctx)
    tc__fatal("tc_syscall_enter inside a system call (entered twice "
              "without tc_syscall_exit)");
  turn_give(ctx);
  pthread_mutex_unlock(&bare.mu);
}

void tc__bare_syscall_exit(tc__ctx *ctx, const void *pc) {
  pthread_mutex_lock(&bare.mu);
  if (bare.holder == ctx)
    tc__fatal("tc_syscall_exit without tc_syscall_enter");
  unsigned id = 0; /* the tc_init thread, unless attached */
  for (bare_thread *t = bare.list; t; t = t->next)
    if (t == ctx->owner)
      id = t->id;
  if (!turn_wait(ctx, id, pc))
    tc__fatal("tc_syscall_exit after the runtime shut down");
  pthread_mutex_unlock(&bare.mu);
}

void tc__bare_safepoint(tc__ctx *ctx, const void *pc) {
  pthread_mutex_lock(&bare.mu);
  if (bare.holder == ctx && bare.waiting > 0) {
    unsigned id = bare.holder_id;
    turn_give(ctx);
    if (!turn_wait(ctx, id, pc))
      tc__fatal("the runtime shut down while a thread waited for its turn");
  }
  pthread_mutex_unlock(&bare.mu);
}
