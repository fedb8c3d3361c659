/*
 * sched/run.c -- tc_run (starting and ending the scheduler), the threads
 * (M) it starts, the sanitizer and valgrind annotations of coroutine
 * switches, and the hooks through which the collector stops and scans the
 * mutators.
 *
 * tc_run:
 *   1. tc_init (heap, collector), then P records, then the calling thread
 *      becomes M0 and main(arg) becomes G1 on P0.
 *   2. M0 runs the scheduling loop; other Ms start as work appears
 *      (wakep).  sysmon starts with the scheduler, and the SIGQUIT dump
 *      is installed over a default disposition (sched/traceback.c).
 *   3. When G1 returns, `exiting` is set and every M is woken; each leaves
 *      its loop (M0 returns into tc_run), the SIGQUIT disposition goes
 *      back, sysmon stops, the other threads are joined, a coroutine dump
 *      still reading the Gs is waited for, every G and stack is freed and
 *      tc_shutdown releases the heap.  Coroutines still alive are dropped, as in Go.
 *
 * The world side of sched/world.h (tc__world_*): the world is stopped
 * through the Ps, and every G's root stack, its tc_go argument and the
 * values of its pending channel operations are scanned (gscan.c).  Without
 * the scheduler (tc_init alone) the collector has one bare mutator of its
 * own (collector/world.c).
 *
 * Sanitizers: AddressSanitizer needs __sanitizer_start/finish_switch_fiber
 * around every switch so it knows which stack is live; ThreadSanitizer needs
 * a fiber per coroutine and __tsan_switch_to_fiber; valgrind needs every
 * coroutine stack registered.  All compile to nothing otherwise.
 */
#define _GNU_SOURCE 1 /* pthread_getattr_np */
#include "sched/proc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define TC__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define TC__TSAN 1
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TC__VALGRIND 1
#endif

/* An mcache (not just runs): the collector reads its gc, NULL here. */
static tc__mcache empty;
tc__cache *tc__world_no_cache(void) { return &empty.runs; }

/* ---------------------------------------------------------------- sanitizers */

void tc__sanitizer_g_create(tc__g *g) {
#if defined(TC__TSAN)
  if (g->tsan_fiber == NULL)
    g->tsan_fiber = __tsan_create_fiber(0);
#else
  (void)g;
#endif
}

void tc__sanitizer_g_exit(tc__g *g) {
  /* The TSan fiber is kept with the pooled G and reused. */
  (void)g;
}

#if defined(TC__ASAN) || defined(TC__TSAN)
void tc__sanitizer_switch_begin(void **save_fake, const void *to_lo,
                                size_t to_size, void *to_fiber) {
#if defined(TC__ASAN)
  __sanitizer_start_switch_fiber(save_fake, to_lo, to_size);
#else
  (void)save_fake;
  (void)to_lo;
  (void)to_size;
#endif
#if defined(TC__TSAN)
  __tsan_switch_to_fiber(to_fiber, 0);
#else
  (void)to_fiber;
#endif
}

void tc__sanitizer_switch_end(void *fake) {
#if defined(TC__ASAN)
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
  (void)fake;
#endif
}
#endif

/* Records the bounds of this thread's native stack (g0). */
static void g0_bounds(tc__m *m) {
  pthread_attr_t attr;
  void *addr = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
  }
  m->g0_lo = addr;
  m->g0_hi = (char *)addr + size;
#if defined(TC__TSAN)
  m->g0_tsan_fiber = __tsan_get_current_fiber();
#endif
}

/* ---------------------------------------------------------------- threads */

/* Makes the calling thread M m: its context, signal stack, stack bounds. */
static void m_enter(tc__m *m) {
  tc__ctx *ctx = tc__ctx_current();
  ctx->owner = m;
  ctx->cache = &empty.runs;
  ctx->rs = NULL;
  ctx->preempt = 0;
  tc__store_release(&m->ctx, ctx); /* sysmon and the world stopper look */
  g0_bounds(m);
  tc__stack_thread_init();
}

static void m_leave(tc__m *m) {
  tc__stack_thread_destroy();
  m->ctx->owner = NULL;
  m->ctx->cache = &empty.runs;
  m->ctx->rs = NULL;
}

static void *m_thread(void *arg) {
  tc__m *m = arg;
  tc__thread_name("tricolor-m%u", m->id);
  m_enter(m);
  tc__p *p = m->nextp;
  m->nextp = NULL;
  if (p) {
    tc__store_relaxed(&m->p, p);
    tc__store_relaxed(&p->m, m);
    tc__store_release(&p->status, (uint32_t)TC__P_RUNNING);
    m->ctx->cache = &p->cache.runs;
  }
  tc__proc_schedule(m);
  m_leave(m);
  return NULL;
}

/* proc.c's newm starts threads here. */
void *tc__m_thread(void *arg) { return m_thread(arg); }

/* ---------------------------------------------------------------- tc_run */

static void free_gs(tc__g *list) {
  while (list) {
    tc__g *g = list;
    list = g->schedlink;
    if (g->stack)
      tc__stack_put(g->stack);
#if defined(TC__TSAN)
    if (g->tsan_fiber)
      __tsan_destroy_fiber(g->tsan_fiber);
#endif
    free(g);
  }
}

int tc_run(const tc_config *cfg, tc_fn main_fn, void *arg) {
  if (main_fn == NULL)
    return TC_EINVAL;
  if (tc__sched.running)
    return TC_EBUSY;
  tc_config def = {0};
  if (cfg == NULL)
    cfg = &def;
  int rc = tc_init(cfg);
  if (rc)
    return rc;
  /* tc_init made this thread the bare mutator: hand over to the scheduler */
  tc__ctx *ctx = tc__ctx_current();
  tc__world_bare_close(ctx); /* no turns: threads attach to the Ps */
  memset(&tc__sched, 0, sizeof tc__sched);
  tc__sched.nprocs = tc__gc_procs();
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  tc__sched.ncpu = ncpu > 0 ? (unsigned)ncpu : 1u;
  tc__sched.maxmcount = cfg->max_threads > 0 ? (uint32_t)cfg->max_threads : 10000u;
  tc__sched.stack_size = cfg->stack_size ? cfg->stack_size : 64 * 1024;
  tc__sched.foreign_threads = cfg->foreign_threads;
  tc__sched.start_ns = (int64_t)tc__nanotime();
  rc = tc__stacks_init(tc__sched.stack_size);
  if (rc) {
    tc_shutdown();
    return rc;
  }
  tc__timers_init();
  tc__sched.allp = calloc(tc__sched.nprocs, sizeof(tc__p));
  tc__m *m0 = calloc(1, sizeof(tc__m));
  if (tc__sched.allp == NULL || m0 == NULL) {
    free(tc__sched.allp);
    free(m0);
    tc__timers_destroy();
    tc__stacks_destroy();
    tc_shutdown();
    return TC_ENOMEM;
  }
  for (unsigned i = 0; i < tc__sched.nprocs; i++) {
    tc__sched.allp[i].id = i;
    tc__gc_p_init(&tc__sched.allp[i].cache);
  }
  m0->id = 0;
  m0->rand = 0x9e3779b9u;
  tc__sched.mcount = 1;
  tc__sched.allm = m0;
  tc__sched.m0 = m0;
  /* P0 for M0, the others idle */
  for (unsigned i = tc__sched.nprocs; i-- > 1;) {
    tc__p *p = &tc__sched.allp[i];
    tc__store_relaxed(&p->status, (uint32_t)TC__P_IDLE);
    p->link = tc__sched.pidle;
    tc__sched.pidle = p;
    tc__sched.npidle++;
  }
  tc__ctx *saved = ctx;
  (void)saved;
  m_enter(m0);
  tc__p *p0 = &tc__sched.allp[0];
  tc__store_relaxed(&m0->p, p0);
  tc__store_relaxed(&p0->m, m0);
  tc__store_release(&p0->status, (uint32_t)TC__P_RUNNING);
  ctx->cache = &p0->cache.runs;
  tc__store_release(&tc__sched.running, true);
  tc__gc_sched_begin(); /* the Gs are the mutators now */
  tc__g *g1 = tc__proc_newg(main_fn, arg, "tc_run", 0, "main");
  if (g1 == NULL)
    tc__fatal("out of memory creating the main coroutine");
  tc__sched.maing = g1;
  tc__spin_lock(&tc__sched.lock);
  tc__g *tail = g1;
  g1->schedlink = NULL;
  tc__sched.runq_head = tc__sched.runq_tail = tail;
  tc__sched.runqsize = 1;
  tc__spin_unlock(&tc__sched.lock);
  tc__sysmon_start();
  tc__sigquit_install(); /* Go's SIGQUIT dump, unless the program has one */

  tc__proc_schedule(m0); /* returns when main has returned */

  tc__sigquit_restore();
  tc__gc_sched_stop(); /* abandons a cycle in progress */
  tc__sysmon_stop();
  if (tc__sched.nattached)
    tc__fatal("tc_run: main returned while %u thread(s) were still "
              "attached (call tc_thread_detach before main returns)",
              tc__sched.nattached);
  /* Under the lock, after `exiting` was seen: no M is linked after this
   * read (newm refuses then), so every thread is in the list. */
  tc__spin_lock(&tc__sched.lock);
  tc__m *allm = tc__sched.allm;
  tc__spin_unlock(&tc__sched.lock);
  for (tc__m *m = allm; m; m = m->alllink)
    if (m != m0 && !m->foreign)
      pthread_join(m->thread, NULL);
  m_leave(m0);
  /* seq_cst: pairs with a dump's entry (sched/traceback.c); a dump that
   * saw `running` finishes before the Gs and stacks go */
  __atomic_store_n(&tc__sched.running, false, __ATOMIC_SEQ_CST);
  tc__dump_wait();
  /* Caches go back to the heap before it is torn down (accounting). */
  for (unsigned i = 0; i < tc__sched.nprocs; i++) {
    tc__cache_flush(&tc__sched.allp[i].cache);
    tc__gc_p_destroy(&tc__sched.allp[i].cache);
  }
  /* Drop every G: live ones (abandoned, as in Go) and the free lists. */
  tc__g *all = NULL;
  for (tc__g *g = tc__sched.allg; g;) {
    tc__g *next = g->allnext;
    g->schedlink = all;
    all = g;
    g = next;
  }
  free_gs(all);
  free_gs(tc__sched.gfree);
  for (unsigned i = 0; i < tc__sched.nprocs; i++)
    free_gs(tc__sched.allp[i].gfree);
  for (tc__m *m = tc__sched.allm; m;) {
    tc__m *next = m->alllink;
    free(m);
    m = next;
  }
  free(tc__sched.allp);
  tc__timers_destroy();
  tc__stacks_destroy();
  memset(&tc__sched, 0, sizeof tc__sched);
  tc__gc_sched_end(ctx); /* the bare mutator again */
  tc_shutdown();
  return TC_OK;
}

/* ---------------------------------------------------------------- collector hooks */

bool tc__world_stop(void) {
  if (tc__sched.running)
    return tc__stop_the_world("GC");
  return true;
}

bool tc__world_can_stop_here(void) {
  if (!tc__sched.running)
    return false;
  tc__m *m = tc__ctx_get()->owner;
  return m && !m->foreign && m->curg && m->p &&
         tc__load_relaxed(&m->p->status) == TC__P_RUNNING;
}

uint64_t tc__world_start(void) {
  if (tc__sched.running)
    return tc__start_the_world();
  return tc__nanotime();
}

void tc__world_await_restart(void) {
  if (tc__sched.running)
    tc__await_restart();
}

bool tc__world_exiting(void) {
  return tc__sched.running && tc__load_acquire(&tc__sched.exiting);
}

uint64_t tc__world_restart_lags(uint64_t lag[TC_PAUSE_RING]) {
  if (!tc__sched.running)
    return 0;
  tc__spin_lock(&tc__sched.lock);
  uint64_t n = tc__sched.restarts;
  memcpy(lag, tc__sched.restart_lag, sizeof tc__sched.restart_lag);
  tc__spin_unlock(&tc__sched.lock);
  return n;
}

uint64_t tc__world_restart_lag_max(void) {
  return tc__sched.running ? tc__load_relaxed(&tc__sched.restart_lag_max) : 0;
}

bool tc__world_stopping(void) {
  return tc__sched.running && tc__load_relaxed(&tc__sched.gcwaiting) != 0;
}

void tc__world_wake_idle(void) {
  if (tc__sched.running)
    tc__wakep();
}

unsigned tc__world_idle_procs(void) {
  return tc__sched.running ? tc__load_relaxed(&tc__sched.npidle) : 0;
}

void tc__world_for_each_cache(void (*fn)(tc__mcache *c, void *arg),
                              void *arg) {
  for (unsigned i = 0; i < tc__sched.nprocs; i++)
    fn(&tc__sched.allp[i].cache, arg);
}

int tc__world_current_p(void) {
  if (!tc__load_relaxed(&tc__sched.running))
    return -1;
  tc__m *m = tc__ctx_get()->owner; /* an M while the scheduler runs */
  if (m == NULL)
    return -1; /* a thread that is not a mutator, the collector thread */
  tc__p *p = tc__load_relaxed(&m->p);
  return p ? (int)p->id : -1;
}

int64_t tc_now(void) { return (int64_t)tc__nanotime(); }

void tc__yield_if_scheduled(void) {
  if (tc__sched.running && tc__getg())
    tc_yield();
}
